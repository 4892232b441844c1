/**
 * The few pieces every micro-benchmark shares: a case is run a few times untimed
 * (warm-up, so the JIT has compiled what it will), then several times timed; the
 * figure is the median run. Each run gets fresh state from prepare() (untimed) and
 * returns a number derived from its results, which must equal the case's `expect`:
 * a run that skipped its work fails, and the optimizer cannot drop work whose result
 * is used.
 *
 * Figures are per operation (a route, a message), as ns/op and ops/s. On a busy
 * machine compare the spread (slowest run against the fastest) before believing a
 * difference smaller than it. `node --expose-gc` collects before each run, which
 * keeps one run's garbage out of the next one's time.
 */
import { pathToFileURL } from 'node:url';
import { intArg } from '../bench-util.js';

export interface MicroCase<S> {
  name: string;
  /** Operations one run performs (routes planned, messages ingested, ...). */
  ops: number;
  /** Fresh state for one run, not timed. */
  prepare: () => S | Promise<S>;
  /** One timed run. Returns a number made from its results (a count, a sum of lengths). */
  run: (state: S) => number | Promise<number>;
  /** What run() must return. */
  expect: number;
  /** Releases a run's state (timers, handles), not timed. */
  finish?: (state: S) => void;
}

export interface MicroResult {
  bench: string;
  case: string;
  ops: number;
  runs: number;
  /** Median run, per operation. */
  nsPerOp: number;
  /** Slowest run against the fastest, in percent. */
  spreadPct: number;
}

export interface MicroOptions {
  runs: number;
  warmup: number;
}

/** --runs (timed runs, default 5) and --warmup (untimed runs, default 2). */
export function microOptions(argv: string[]): MicroOptions {
  const runs = intArg(argv, 'runs', 5);
  if (runs < 1) throw new Error('--runs needs at least 1');
  return { runs, warmup: intArg(argv, 'warmup', 2) };
}

const collect = (globalThis as { gc?: () => void }).gc;

export async function measure<S>(bench: string, c: MicroCase<S>, o: MicroOptions): Promise<MicroResult> {
  const times: number[] = [];
  for (let i = 0; i < o.warmup + o.runs; i++) {
    const state = await c.prepare();
    collect?.();
    const t0 = process.hrtime.bigint();
    const got = await c.run(state);
    const ns = Number(process.hrtime.bigint() - t0);
    c.finish?.(state);
    if (got !== c.expect) throw new Error(`${bench} / ${c.name}: a run returned ${got}, expected ${c.expect}: it did not do the work it times`);
    if (i >= o.warmup) times.push(ns);
  }
  times.sort((a, b) => a - b);
  const median = times.length % 2 ? times[times.length >> 1]! : (times[times.length / 2 - 1]! + times[times.length / 2]!) / 2;
  return {
    bench,
    case: c.name,
    ops: c.ops,
    runs: o.runs,
    nsPerOp: median / c.ops,
    spreadPct: (times[times.length - 1]! / times[0]! - 1) * 100,
  };
}

/** Runs the cases one after the other. */
export async function measureAll(bench: string, cases: MicroCase<any>[], o: MicroOptions): Promise<MicroResult[]> {
  const out: MicroResult[] = [];
  for (const c of cases) out.push(await measure(bench, c, o));
  return out;
}

const fmtNs = (ns: number): string => (ns < 100 ? ns.toFixed(1) : Math.round(ns).toLocaleString('en'));
const fmtOps = (nsPerOp: number): string => Math.round(1e9 / nsPerOp).toLocaleString('en');

/** One aligned table of results. */
export function printResults(results: MicroResult[]): void {
  const rows = [
    ['bench', 'case', 'ops/run', 'ns/op', 'ops/s', 'spread'],
    ...results.map((r) => [r.bench, r.case, r.ops.toLocaleString('en'), fmtNs(r.nsPerOp), fmtOps(r.nsPerOp), `${r.spreadPct.toFixed(0)}%`]),
  ];
  const width = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const right = [false, false, true, true, true, true];
  for (const r of rows)
    console.log(
      r
        .map((v, i) => (right[i] ? v.padStart(width[i]!) : v.padEnd(width[i]!)))
        .join('  ')
        .trimEnd(),
    );
  console.log(`(median of ${results[0]?.runs ?? 0} timed runs after warm-up; spread: slowest run against the fastest)`);
}

/** A micro-benchmark: its name, its options' help, and what it measures for an argv. */
export interface MicroBench {
  name: string;
  usage: string;
  run(argv: string[]): Promise<MicroResult[]>;
}

/** When `moduleUrl` is the script node was started with: runs the bench and prints its table. */
export function runIfMain(moduleUrl: string, bench: MicroBench): void {
  if (process.argv[1] === undefined || pathToFileURL(process.argv[1]).href !== moduleUrl) return;
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(`usage: ${bench.name}.js ${bench.usage} [--runs N] [--warmup N]`);
    return;
  }
  bench.run(argv).then(printResults, (e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
