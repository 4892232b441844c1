/**
 * `npm run bench:micro`: the micro-benchmarks of the hot functions, one table.
 *
 *   node dist/bench/micro/run.js [--only planner,kernel-ingest,sink-drain,route-copy] [--routes N] [--runs N] [--warmup N]
 *
 * Each bench also runs alone (node dist/bench/micro/planner.js ...). --routes sizes every
 * bench (each has its own default, a few seconds on 2 busy cores). No kernel, no daemon:
 * pure functions on data made here.
 */
import { strArg } from '../bench-util.js';
import { printResults, type MicroBench, type MicroResult } from './micro-harness.js';
import { planner } from './planner.js';
import { kernelIngest } from './kernel-ingest.js';
import { sinkDrain } from './sink-drain.js';
import { routeCopy } from './route-copy.js';

const BENCHES: MicroBench[] = [planner, kernelIngest, sinkDrain, routeCopy];

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(`usage: run.js [--only ${BENCHES.map((b) => b.name).join(',')}] [--routes N] [--runs N] [--warmup N]`);
    for (const b of BENCHES) console.log(`  ${b.name}: ${b.usage}`);
    return;
  }
  const only = strArg(argv, 'only');
  const names = only ? only.split(',').map((s) => s.trim()) : BENCHES.map((b) => b.name);
  const chosen = names.map((name) => {
    const b = BENCHES.find((x) => x.name === name);
    if (!b) throw new Error(`--only: unknown bench "${name}"; choose from ${BENCHES.map((x) => x.name).join(', ')}`);
    return b;
  });
  const results: MicroResult[] = [];
  for (const b of chosen) {
    const t = performance.now();
    results.push(...(await b.run(argv)));
    console.error(`${b.name}: ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  printResults(results);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
