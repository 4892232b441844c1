/**
 * The full-table bench, side by side against an earlier commit, in one run: the commit is
 * checked out into a temporary git worktree and built there, then the bench runs against its
 * daemon and against this checkout's, in alternation (--pairs times), with the same
 * measurements (this checkout's bench drives both). Prints each run's table, then both columns.
 *
 *   node dist/bench/compare.js --against REF [--pairs 1] [full-table bench options: --v4 N --v6 N --rounds N ...]
 *
 * Needs what the full-table bench needs, and git. The worktree is removed on every exit path.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmtMs, intArg, median, printTable, runningCompiled, strArg, type Row } from './bench-util.js';
import { packageRoot } from '../src/util/package-info.js';

type Figures = Record<string, number>;

/** One full-table bench in a child process; its figures from the BENCH-RESULT line, its output passed through. */
function runBench(args: string[], daemonRoot: string | undefined): Promise<Figures> {
  const here = fileURLToPath(import.meta.url);
  const file = join(here, '..', runningCompiled() ? 'full-table-bench.js' : 'full-table-bench.ts');
  const env: NodeJS.ProcessEnv = { ...process.env, RTR_BENCH_JSON: '1' };
  if (daemonRoot) env.RTR_BENCH_RTREFLECT_ROOT = daemonRoot;
  else delete env.RTR_BENCH_RTREFLECT_ROOT;
  const child = spawn(process.execPath, [...(runningCompiled() ? [] : ['--import', 'tsx']), file, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let figures: Figures | undefined;
  let rest = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('BENCH-RESULT ')) figures = JSON.parse(line.slice('BENCH-RESULT '.length)) as Figures;
      else console.log(line);
    }
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, sig) => {
      if (code === 0 && figures) resolve(figures);
      else reject(new Error(`full-table bench${daemonRoot ? ` (daemon of ${daemonRoot})` : ''} exited with ${code ?? sig}${figures ? '' : ', no figures'}`));
    });
  });
}

/** The figures the comparison prints: how each reads, and whether lower is better. */
const SHOWN: { key: string; label: string; fmt: (x: number) => string }[] = [
  { key: 'rtMs', label: 'cold start → RIB complete (median of rounds)', fmt: fmtMs },
  { key: 'ratio', label: 'cold start / raw injector', fmt: (x) => x.toFixed(2) },
  { key: 'bytesPerRoute', label: 'memory per route', fmt: (x) => `${x.toFixed(0)} B` },
  { key: 'restartReadyMs', label: 'restart → READY', fmt: fmtMs },
  { key: 'restartMs', label: 'restart → comparison written', fmt: fmtMs },
  { key: 'restartWrites', label: 'restart writes', fmt: (x) => String(x) },
  { key: 'latP50', label: 'single change latency p50', fmt: fmtMs },
  { key: 'latP99', label: 'single change latency p99', fmt: fmtMs },
  { key: 'live_restart_p99', label: "live change during a restart's comparison p99", fmt: fmtMs },
  { key: 'live_resync_p99', label: "live change during a resync's comparison p99", fmt: fmtMs },
  { key: 'floorP99', label: 'floor: raw reflector p99 (same run)', fmt: fmtMs },
];

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const against = strArg(argv, 'against');
  if (!against) throw new Error('--against REF is required: the commit to measure beside this checkout (e.g. a tag or a hash)');
  const pairs = intArg(argv, 'pairs', 1);
  const benchArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--against' || argv[i] === '--pairs') i++;
    else benchArgs.push(argv[i]!);
  }
  const root = packageRoot();
  const git = (...a: string[]): string => execFileSync('git', ['-C', root, ...a], { encoding: 'utf8' }).trim();
  const sha = git('rev-parse', '--verify', `${against}^{commit}`);
  const head = git('rev-parse', '--short', 'HEAD');
  const dir = mkdtempSync(join(tmpdir(), 'rtr-compare-'));
  const tree = join(dir, 'tree');
  try {
    git('worktree', 'add', '--detach', tree, sha);
    // Same dependencies for both: the earlier commit builds with this checkout's node_modules.
    symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'));
    console.log(`building ${sha.slice(0, 9)} in a temporary worktree`);
    try {
      execFileSync('npm', ['run', 'build'], { cwd: tree, stdio: 'pipe', encoding: 'utf8' });
    } catch (e) {
      const out = e as { stdout?: string; stderr?: string };
      throw new Error(`the build of ${against} failed:\n${(out.stdout ?? '') + (out.stderr ?? '')}`);
    }
    if (!existsSync(join(tree, 'dist/src/cli/main.js'))) throw new Error(`the build of ${against} made no dist/src/cli/main.js`);

    const before: Figures[] = [];
    const after: Figures[] = [];
    for (let p = 0; p < pairs; p++) {
      console.log(`\n######## pair ${p + 1} of ${pairs}: ${against} (${sha.slice(0, 9)})`);
      before.push(await runBench(benchArgs, tree));
      console.log(`\n######## pair ${p + 1} of ${pairs}: this checkout (${head})`);
      after.push(await runBench(benchArgs, undefined));
    }
    const rows: Row[] = [{ metric: '', value: `${against}  →  ${head}`, target: 'ratio' }];
    for (const s of SHOWN) {
      const b = median(before.map((f) => f[s.key] ?? NaN));
      const a = median(after.map((f) => f[s.key] ?? NaN));
      if (Number.isNaN(a) && Number.isNaN(b)) continue;
      rows.push({
        metric: s.label,
        value: `${Number.isNaN(b) ? '—' : s.fmt(b)}  →  ${Number.isNaN(a) ? '—' : s.fmt(a)}`,
        target: b > 0 && a >= 0 ? (a / b).toFixed(2) : '',
      });
    }
    printTable(`side by side, median of ${pairs} pair(s), runs alternating`, rows);
  } finally {
    try {
      git('worktree', 'remove', '--force', tree);
    } catch {
      /* not created */
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exitCode = 1;
});
