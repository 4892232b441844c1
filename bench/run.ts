/**
 * `npm run bench`: the benchmarks in sequence with shared options.
 *
 *   node dist/bench/run.js [--only kernel|gobgp|full|frr|vpp[,...]] [--routes N] [--v4 N --v6 N] [--changes N]
 *
 * --routes N sizes every bench (full table: N IPv4 + N/5 IPv6). Defaults are small enough
 * for a 2-core machine in a few minutes; `--routes 1000000` is the full Internet table.
 * Each bench removes its namespaces and processes, also on failure; the exit status is
 * non-zero when any bench failed. Figures are printed, not stored.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { intArg, strArg } from './bench-util.js';
import { kernelBenchOptions, runKernelBench } from './kernel-bench.js';
import { gobgpBenchOptions, runGobgpBench } from './gobgp-bench.js';
import { fullTableOptions, runFullTableBench } from './full-table-bench.js';
import { frrBenchOptions, runFrrBench } from './frr-bench.js';

const BENCHES = ['kernel', 'gobgp', 'full', 'frr', 'vpp'] as const;
type BenchName = (typeof BENCHES)[number];

/** Default sizes for `npm run bench` without --routes (minutes, not tens of minutes, on 2 cores). */
const DEFAULT_ROUTES: Record<BenchName, number> = { kernel: 200_000, gobgp: 100_000, full: 200_000, frr: 200_000, vpp: 100_000 };

function withRoutes(argv: string[], n: number): string[] {
  return argv.includes('--routes') ? argv : [...argv, '--routes', String(n)];
}

/** vpp-bench belongs to the VPP sink and parses its own argv: run it as a child process. */
function runVppBench(argv: string[]): Promise<void> {
  const here = fileURLToPath(import.meta.url);
  const compiled = here.endsWith('.js');
  const file = join(here, '..', compiled ? 'vpp-bench.js' : 'vpp-bench.ts');
  const args = [...(compiled ? [] : ['--import', 'tsx']), file, '--routes', String(intArg(argv, 'routes', DEFAULT_ROUTES.vpp))];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, sig) => (code === 0 ? resolve() : reject(new Error(`vpp-bench exited with ${code ?? sig}`))));
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(
      'usage: run.js [--only kernel,gobgp,full,frr,vpp] [--routes N] [--v4 N --v6 N] [--changes N] [--rounds N] [--repeat N] [--unary N] [--batch N]',
    );
    return;
  }
  const only = strArg(argv, 'only');
  const chosen = only ? only.split(',').map((s) => s.trim()) : [...BENCHES];
  for (const c of chosen) {
    if (!(BENCHES as readonly string[]).includes(c)) throw new Error(`--only: unknown bench "${c}"; choose from ${BENCHES.join(', ')}`);
  }
  const failures: string[] = [];
  for (const name of chosen as BenchName[]) {
    const t = performance.now();
    console.log(`\n######## ${name}`);
    try {
      if (name === 'kernel') await runKernelBench(kernelBenchOptions(withRoutes(argv, DEFAULT_ROUTES.kernel)));
      else if (name === 'gobgp') await runGobgpBench(gobgpBenchOptions(withRoutes(argv, DEFAULT_ROUTES.gobgp)));
      else if (name === 'full') {
        const a = argv.includes('--v4') || argv.includes('--v6') ? argv : withRoutes(argv, DEFAULT_ROUTES.full);
        await runFullTableBench(fullTableOptions(a));
      } else if (name === 'frr') await runFrrBench(frrBenchOptions(withRoutes(argv, DEFAULT_ROUTES.frr)));
      else await runVppBench(argv);
    } catch (e) {
      failures.push(name);
      console.error(`${name} bench failed:`, e);
    }
    console.log(`######## ${name}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  if (failures.length) {
    console.error(`failed: ${failures.join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
