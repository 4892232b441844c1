/**
 * The engine's drain: kernel events into the Reflector, through a pass-through chain, until
 * its sink worker has written every key and the engine is idle, per route. The sink is in
 * memory and only counts what it is given, so the figure is the engine's own cost (plus
 * one project() per key, which here makes no string).
 *
 *   node dist/bench/micro/sink-drain.js [--routes N]
 *
 * Each run starts from an engine past its start-up (the sink read, empty), then:
 * - add: N new routes arrive at once (a burst, as a daemon's start fills the kernel) → idle;
 * - change: every one of N routes the sink holds changes next hop → idle.
 * Both with a sink of stable projection (GoBGP: a key in sync is kept as its bare route) and
 * without (VPP: a record per key).
 */
import { Reflector, type RouteChain } from '../../src/engine/reflector.js';
import type { ApplyReport, Sink, SinkCapabilities, SinkChange, SinkHooks, SinkProjection } from '../../src/engine/sink.js';
import type { ReflectedRoute } from '../../src/engine/reflected-route.js';
import type { NextHop, RouteEvent } from '../../src/kernel/route.js';
import { bytesToPrefix } from '../../src/util/ip.js';
import { silentLogger } from '../../src/util/logger.js';
import { intArg } from '../bench-util.js';
import { measureAll, microOptions, runIfMain, type MicroBench, type MicroCase } from './micro-harness.js';

/** A dataplane in memory that holds nothing: it counts the writes it is given. */
class CountingSink implements Sink {
  readonly name = 'memory';
  readonly kind = 'memory';
  readonly shutdownPolicy = { withdraw: false, graceMs: 0 };
  /** The GoBGP sink's default batch. */
  readonly batchSize = 1000;
  readonly capabilities: SinkCapabilities;
  upserts = 0;
  deletes = 0;
  constructor(stableProjection: boolean) {
    this.capabilities = { stableProjection };
  }
  async start(_hooks: SinkHooks): Promise<void> {}
  async stop(): Promise<void> {}
  state(): 'up' {
    return 'up';
  }
  keyOf(r: ReflectedRoute): string | null {
    return r.prefix;
  }
  project(r: ReflectedRoute): SinkProjection {
    return { key: r.prefix, fingerprint: r.nexthops[0]!.gateway! };
  }
  async readOwned(): Promise<Map<string, string>> {
    return new Map();
  }
  async apply(changes: SinkChange[]): Promise<ApplyReport> {
    const applied: string[] = [];
    for (const c of changes) {
      if (c.op === 'upsert') this.upserts++;
      else this.deletes++;
      applied.push(c.key);
    }
    return { applied, failed: [] };
  }
}

const passThrough: RouteChain = { derive: (r) => r, originate: () => [] };

/** An engine past its start-up (its sink read: empty), with nothing left to write. */
async function startedEngine(stableProjection: boolean): Promise<{ engine: Reflector; sink: CountingSink }> {
  const sink = new CountingSink(stableProjection);
  const engine = new Reflector({
    chain: passThrough,
    sinks: [sink],
    holdDown: { enabled: false, threshold: 1000, windowMs: 1000, delayMs: 1000 },
    batchDelayMs: 0,
    logger: silentLogger(),
    kernelRoutes: () => [],
  });
  engine.workers[0]!.setConnection('up');
  const { compared } = await engine.startUp(async () => {});
  await compared;
  await engine.whenIdle();
  return { engine, sink };
}

/** Add events of n routes over the kernel state's shared next-hop arrays, keyed as the kernel state keys them. */
function addEvents(n: number, gateways: string[]): RouteEvent[] {
  const sets = gateways.map((gateway) => Object.freeze([Object.freeze({ gateway, ifindex: 2, weight: 1 })]) as NextHop[]);
  const addr = new Uint8Array(4);
  return Array.from({ length: n }, (_, i) => {
    addr[0] = 1 + (i >> 16);
    addr[1] = (i >> 8) & 255;
    addr[2] = i & 255;
    const prefix = bytesToPrefix(addr, 0, 4, 24);
    return {
      op: 'add',
      key: prefix,
      route: { family: 4, prefix, table: 254, protocol: 12, type: 'unicast', metric: 0, tos: 0, nexthops: sets[i % sets.length]! },
    };
  });
}

/** Hands the events over, then waits until the engine is idle; returns the writes the sink was given. */
async function drain(s: { engine: Reflector; sink: CountingSink }, events: RouteEvent[]): Promise<number> {
  const before = s.sink.upserts + s.sink.deletes;
  for (const ev of events) s.engine.onKernelEvent(ev);
  await s.engine.whenIdle();
  return s.sink.upserts + s.sink.deletes - before;
}

export const sinkDrain: MicroBench = {
  name: 'sink-drain',
  usage: '[--routes N (default 50000)]',
  async run(argv) {
    const n = intArg(argv, 'routes', 50_000);
    const first = addEvents(n, ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
    const changed = addEvents(n, ['10.0.0.5', '10.0.0.6', '10.0.0.7', '10.0.0.8']);
    type State = { engine: Reflector; sink: CountingSink };
    const cases: MicroCase<State>[] = [];
    for (const stable of [true, false]) {
      const mode = stable ? 'stable projection' : 'records';
      const finish = (s: State): void => s.engine.stop();
      cases.push(
        { name: `add → idle, ${mode}`, ops: n, prepare: () => startedEngine(stable), run: (s) => drain(s, first), expect: n, finish },
        {
          name: `change → idle, ${mode}`,
          ops: n,
          prepare: async () => {
            const s = await startedEngine(stable);
            await drain(s, first);
            return s;
          },
          run: (s) => drain(s, changed),
          expect: n,
          finish,
        },
      );
    }
    return measureAll('sink-drain', cases, microOptions(argv));
  },
};

runIfMain(import.meta.url, sinkDrain);
