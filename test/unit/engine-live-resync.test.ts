/**
 * Writes never wait for a sink read: a key that changes while a resync reads the sink is
 * written at once, the read decides only the keys that did not change, and the sink always
 * ends equal to the kernel. The sink here is an in-memory dataplane that stores a key as a
 * set of paths, as GoBGP's add-path does: an upsert adds the new paths and withdraws only
 * those of `was` (and `mayHold`) it no longer has, so a write against a wrong `was` leaves
 * paths behind, which these tests would see. Its read is gated: entries come out only when the test says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reflector, type RouteChain } from '../../src/engine/reflector.js';
import type { ApplyReport, Sink, SinkCapabilities, SinkChange, SinkHooks, SinkProjection } from '../../src/engine/sink.js';
import type { ReflectedRoute } from '../../src/engine/reflected-route.js';
import type { Route } from '../../src/kernel/route.js';
import { silentLogger } from '../../src/util/logger.js';

const pathsOf = (fp: string): string[] => (fp === '' ? [] : fp.split(','));
const fpOf = (paths: Iterable<string>): string => [...paths].sort().join(',');

class PathSetSink implements Sink {
  readonly kind = 'memory';
  readonly shutdownPolicy = { withdraw: false, graceMs: 0 };
  readonly batchSize = 4;
  readonly held = new Map<string, Set<string>>();
  readonly writes: SinkChange[] = [];
  /** The read under way: entries still to report, and how to let some out. */
  private reading: { queue: [string, () => string][]; each: (k: string, fp: string) => void; done: () => void } | undefined;
  readStarted = 0;
  readonly capabilities: SinkCapabilities;
  constructor(
    stableProjection: boolean,
    readonly name = 'mem',
  ) {
    this.capabilities = { stableProjection };
  }
  async start(_hooks: SinkHooks): Promise<void> {}
  keyOf(r: ReflectedRoute): string | null {
    return r.prefix;
  }
  project(r: ReflectedRoute): SinkProjection {
    return { key: r.prefix, fingerprint: fpOf(r.nexthops.map((n) => n.gateway!)) };
  }
  heldFp(key: string): string | undefined {
    const s = this.held.get(key);
    return s === undefined || s.size === 0 ? undefined : fpOf(s);
  }
  async readOwned(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const k of this.held.keys()) {
      const fp = this.heldFp(k);
      if (fp !== undefined) out.set(k, fp);
    }
    return out;
  }
  /**
   * Reports each key either as it was when the read began (`stale`) or as it is when reported:
   * a real sink walks its table while writes land, so either can happen.
   */
  readOwnedEach(each: (key: string, fp: string) => void, stale: (key: string) => boolean = () => false): Promise<void> {
    this.readStarted++;
    return new Promise((done) => {
      const queue: [string, () => string][] = [];
      for (const k of this.held.keys()) {
        const then = this.heldFp(k);
        if (then === undefined) continue;
        queue.push([k, () => (stale(k) ? then : (this.heldFp(k) ?? ''))]);
      }
      this.reading = { queue, each, done };
    });
  }
  get readOpen(): boolean {
    return this.reading !== undefined;
  }
  /** Lets n entries of the read out (all when n is omitted); ends the read when none are left. */
  release(n = Infinity): void {
    const r = this.reading;
    if (!r) return;
    while (n-- > 0 && r.queue.length > 0) {
      const [k, value] = r.queue.shift()!;
      const fp = value();
      if (fp !== '') r.each(k, fp);
    }
    if (r.queue.length === 0) {
      this.reading = undefined;
      r.done();
    }
  }
  async apply(changes: SinkChange[]): Promise<ApplyReport> {
    await new Promise((res) => setImmediate(res));
    for (const c of changes) {
      this.writes.push(c);
      const set = this.held.get(c.key) ?? new Set<string>();
      const before = [c.op === 'upsert' ? (c.was ?? '') : c.fingerprint, ...(c.mayHold ?? [])].flatMap(pathsOf);
      const next = c.op === 'upsert' ? pathsOf(c.fingerprint) : [];
      for (const p of before) if (!next.includes(p)) set.delete(p);
      for (const p of next) set.add(p);
      if (set.size === 0) this.held.delete(c.key);
      else this.held.set(c.key, set);
    }
    return { applied: changes.map((c) => c.key), failed: [] };
  }
  async stop(): Promise<void> {}
  state(): 'up' {
    return 'up';
  }
}

const passThrough: RouteChain = { derive: (r) => r, originate: () => [] };

function route(prefix: string, gws: string[]): Route {
  return { family: 4, prefix, table: 254, protocol: 12, type: 'unicast', metric: 0, tos: 0, nexthops: gws.map((gateway) => ({ gateway, weight: 1 })) };
}

/** Keys walked per turn at the end of a read: a few, so that changes land amid the walk. */
const END_SLICE = 2;

function engine(sink: PathSetSink): Reflector {
  const r = new Reflector({
    chain: passThrough,
    sinks: [sink],
    holdDown: { enabled: false, threshold: 3, windowMs: 30, delayMs: 200 },
    batchDelayMs: 0,
    resyncMinIntervalMs: 0,
    resyncEndSlice: END_SLICE,
    logger: silentLogger(),
    kernelRoutes: () => [],
  });
  r.workers[0]!.setConnection('up');
  return r;
}

const tick = (): Promise<void> => new Promise((res) => setTimeout(res, 2));
/** Runs `fn` after `turns` turns of the event loop: amid the slices of a read's end, each one turn apart. */
const afterTurns = (turns: number, fn: () => void): void => {
  if (turns === 0) fn();
  else setImmediate(() => setImmediate(() => afterTurns(turns - 1, fn)));
};
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await tick();
  assert.ok(cond(), `timed out waiting for: ${what}`);
}
/** A resync whose read reports everything at once, with nothing changing meanwhile; resolves when all is written. */
async function plainResync(r: Reflector, sink: PathSetSink): Promise<void> {
  const done = r.resyncSinks('test');
  await until(() => sink.readOpen, 'the read began');
  sink.release();
  await done;
  await r.whenIdle();
}

for (const stable of [false, true]) {
  const mode = stable ? ' [stable projection]' : '';

  test(`start-up: while the read of the sink is still going, an add, a replace and a delete go out at once; an unchanged kernel writes nothing${mode}`, async () => {
    const sink = new PathSetSink(stable);
    for (let i = 0; i < 20; i++) sink.held.set(`10.0.${i}.0/24`, new Set(['192.0.2.1']));
    const r = engine(sink);
    const { compared } = await r.startUp(async () => {
      for (let i = 0; i < 20; i++) r.onKernelEvent({ op: 'add', route: route(`10.0.${i}.0/24`, ['192.0.2.1']) });
    });
    assert.ok(sink.readOpen, 'READY came while the sink is still being read');
    assert.equal(r.sinkStatus()[0]!.resync?.phase, 'reading');
    // Where keys in sync can be kept bare, the snapshot goes in that way: the read decides them.
    if (stable) assert.equal(r.workers[0]!.recordCount, 0, 'the snapshot loaded ahead of the read made no record per key');
    assert.equal(r.sinkStatus()[0]!.applied, 0, 'nothing counts as applied before the read reports it');
    sink.release(3);
    assert.equal(r.sinkStatus()[0]!.applied, 3, 'what the read reported in sync counts as applied');
    r.onKernelEvent({ op: 'add', route: route('10.1.0.0/24', ['192.0.2.7']) });
    r.onKernelEvent({ op: 'add', route: route('10.0.15.0/24', ['192.0.2.2']) });
    r.onKernelEvent({ op: 'del', route: route('10.0.16.0/24', ['192.0.2.1']) });
    await until(() => sink.writes.length === 3, 'the three live changes written');
    assert.ok(sink.readOpen, 'written before the read ended');
    assert.deepEqual(sink.writes.map((c) => `${c.op} ${c.key} ${c.fingerprint} was=${c.op === 'upsert' ? (c.was ?? '-') : '-'}`).sort(), [
      'delete 10.0.16.0/24 192.0.2.1 was=-',
      'upsert 10.0.15.0/24 192.0.2.2 was=192.0.2.1',
      'upsert 10.1.0.0/24 192.0.2.7 was=-',
    ]);
    sink.release();
    await compared;
    await r.whenIdle();
    assert.equal(sink.writes.length, 3, 'nothing but the changes written');
    assert.equal(sink.heldFp('10.0.15.0/24'), '192.0.2.2');
    assert.equal(sink.held.has('10.0.16.0/24'), false);
    assert.equal(r.sinkStatus()[0]!.resync, undefined);
    assert.equal(r.sinkStatus()[0]!.applied, 20);
    assert.equal(r.sinkStatus()[0]!.lastResync?.read, 19, 'what the sink held, less the key deleted before the read reached it');
    r.stop();
  });

  test(`start-up: a key the sink lacks, changed and changed back before it was written, is still written once the read shows it missing${mode}`, async () => {
    const sink = new PathSetSink(stable);
    const r = engine(sink);
    const { compared } = await r.startUp(async () => {
      r.onKernelEvent({ op: 'add', route: route('10.3.0.0/24', ['192.0.2.1']) });
    });
    // After the snapshot: presumed to be in the sink as loaded, so the change back needs no write...
    r.onKernelEvent({ op: 'add', route: route('10.3.0.0/24', ['192.0.2.2']) });
    r.onKernelEvent({ op: 'add', route: route('10.3.0.0/24', ['192.0.2.1']) });
    await until(() => sink.readOpen, 'the read began');
    // ...until the read ends without it: then it is known missing, and written.
    sink.release();
    await compared;
    await r.whenIdle();
    assert.equal(sink.heldFp('10.3.0.0/24'), '192.0.2.1');
    r.stop();
  });

  test(`a key changed while the read goes on, whose old value the read reports afterwards, ends with the new value and no path left behind${mode}`, async () => {
    const sink = new PathSetSink(stable);
    const r = engine(sink);
    r.onKernelEvent({ op: 'add', route: route('10.2.0.0/24', ['192.0.2.1', '192.0.2.2']) });
    r.onKernelEvent({ op: 'add', route: route('10.2.1.0/24', ['192.0.2.1']) });
    await r.whenIdle();
    // The read begins, and takes its view of 10.2.0.0/24 before the change below lands.
    let stale = true;
    const each = sink.readOwnedEach.bind(sink);
    sink.readOwnedEach = (fn) => each(fn, (k) => stale && k === '10.2.0.0/24');
    const resynced = r.resyncSinks('test');
    await until(() => sink.readOpen, 'the read began');
    sink.writes.length = 0;
    r.onKernelEvent({ op: 'add', route: route('10.2.0.0/24', ['192.0.2.3']) });
    await until(() => sink.writes.length === 1, 'the change written during the read');
    assert.equal(sink.heldFp('10.2.0.0/24'), '192.0.2.3');
    sink.release(); // reports 10.2.0.0/24 as it was: 192.0.2.1,192.0.2.2
    stale = false;
    await resynced;
    await r.whenIdle();
    assert.equal(sink.heldFp('10.2.0.0/24'), '192.0.2.3', 'the late report did not bring the old paths back');
    assert.equal(sink.heldFp('10.2.1.0/24'), '192.0.2.1');

    // The sink changed behind the engine's back; the key changes during the next read, which then
    // reports what the sink held before that write: the path the engine never knew of goes too.
    sink.held.set('10.2.1.0/24', new Set(['192.0.2.1', '192.0.2.7']));
    stale = true;
    sink.readOwnedEach = (fn) => each(fn, (k) => stale && k === '10.2.1.0/24');
    const again = r.resyncSinks('test');
    await until(() => sink.readOpen, 'the second read began');
    r.onKernelEvent({ op: 'add', route: route('10.2.1.0/24', ['192.0.2.3']) });
    await until(() => sink.heldFp('10.2.1.0/24') === '192.0.2.3,192.0.2.7', 'the change written against what the engine knew');
    sink.release();
    await again;
    await r.whenIdle();
    assert.equal(sink.heldFp('10.2.1.0/24'), '192.0.2.3', 'what the read reported is taken away as well');
    r.stop();
  });

  test(`changes while the end of a read walks the table are written at once, and leave no mark for the next read${mode}`, async () => {
    const sink = new PathSetSink(stable);
    const keys = Array.from({ length: 20 }, (_, i) => `10.4.${i}.0/24`);
    const r = engine(sink);
    for (const k of keys) r.onKernelEvent({ op: 'add', route: route(k, ['192.0.2.1']) });
    await r.whenIdle();
    // Behind the engine's back the sink loses every other key; a resync reads it.
    for (let i = 1; i < 20; i += 2) sink.held.delete(keys[i]!);
    const resynced = r.resyncSinks('test');
    await until(() => sink.readOpen, 'the read began');
    sink.writes.length = 0;
    // Amid the walk (two keys per turn): a key it has passed, and a missing one it has not reached.
    afterTurns(2, () => r.onKernelEvent({ op: 'add', route: route(keys[0]!, ['192.0.2.5']) }));
    afterTurns(2, () => r.onKernelEvent({ op: 'add', route: route(keys[19]!, ['192.0.2.6']) }));
    sink.release();
    await resynced;
    await r.whenIdle();
    assert.equal(sink.heldFp(keys[0]!), '192.0.2.5');
    assert.equal(sink.heldFp(keys[19]!), '192.0.2.6');
    for (let i = 1; i < 19; i++) assert.equal(sink.heldFp(keys[i]!), '192.0.2.1', keys[i]);
    assert.equal(sink.writes.length, 11, 'the nine missing keys, and the two changes once each');
    // Had the change of the key already walked left its mark, the next read would take the key as
    // written during it and never restore it.
    sink.held.delete(keys[0]!);
    await plainResync(r, sink);
    assert.equal(sink.heldFp(keys[0]!), '192.0.2.5', 'the next resync restored the key');
    r.stop();
  });

  if (stable)
    test('a read of keys in sync keeps them without a record, and one that changes meanwhile is written once and ends in sync', async () => {
      const sink = new PathSetSink(true);
      const r = engine(sink);
      const w = r.workers[0]!;
      for (let i = 0; i < 40; i++) r.onKernelEvent({ op: 'add', route: route(`10.3.${i}.0/24`, ['192.0.2.1']) });
      await r.whenIdle();
      while (w.busy) await tick();
      assert.equal(w.recordCount, 0, 'a table in sync is kept as bare routes');
      sink.writes.length = 0;
      const resynced = r.resyncSinks('test');
      await until(() => sink.readOpen, 'the read began');
      sink.release(20);
      assert.equal(w.recordCount, 0, 'the keys the read reported in sync made no record');
      // A key the read has reported changes: it is written at once, and not again when the read ends.
      r.onKernelEvent({ op: 'add', route: route('10.3.0.0/24', ['192.0.2.9']) });
      await until(() => sink.writes.length === 1, 'the change written during the read');
      sink.release();
      await resynced;
      await r.whenIdle();
      while (w.busy) await tick();
      assert.deepEqual(
        sink.writes.map((c) => `${c.op} ${c.key} ${c.fingerprint}`),
        ['upsert 10.3.0.0/24 192.0.2.9'],
      );
      assert.equal(sink.heldFp('10.3.0.0/24'), '192.0.2.9');
      assert.equal(w.recordCount, 0, 'folded back once in sync');
      r.stop();
    });

  test(`randomized: kernel changes interleaved with a slow read of a sink in any state always end with the sink equal to the kernel${mode}`, async () => {
    let seed = 0x2545f491;
    const rnd = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const gwSet = (): string[] => {
      const out = new Set<string>();
      for (let i = 0, n = 1 + rnd(3); i < n; i++) out.add(`192.0.2.${1 + rnd(5)}`);
      return [...out];
    };
    for (let round = 0; round < Number(process.env.RTREFLECT_ENGINE_ROUNDS ?? 60); round++) {
      const sink = new PathSetSink(stable);
      const keys = Array.from({ length: 12 }, (_, i) => `10.9.${i}.0/24`);
      const kernel = new Map<string, string[]>();
      for (const k of keys) {
        if (rnd(4) > 0) kernel.set(k, gwSet());
        // The sink: the kernel's value, another one, one with extra paths, or nothing.
        const kv = kernel.get(k);
        const pick = rnd(4);
        if (pick === 0 && kv) sink.held.set(k, new Set(kv));
        else if (pick === 1) sink.held.set(k, new Set(gwSet()));
        else if (pick === 2 && kv) sink.held.set(k, new Set([...kv, '192.0.2.9']));
      }
      const r = engine(sink);
      const change = (): void => {
        const k = keys[rnd(keys.length)]!;
        if (kernel.has(k) && rnd(3) === 0) {
          r.onKernelEvent({ op: 'del', route: route(k, kernel.get(k)!) });
          kernel.delete(k);
        } else {
          const gws = gwSet();
          kernel.set(k, gws);
          r.onKernelEvent({ op: 'add', route: route(k, gws) });
        }
      };
      // Changes a few turns of the event loop from now: amid the end of a read, which walks the table a few keys per turn.
      let scheduled = 0;
      const changeSoon = (): void => {
        scheduled++;
        afterTurns(rnd(6), () => {
          scheduled--;
          change();
        });
      };
      const staleKeys = new Set(keys.filter(() => rnd(2) === 0));
      const each = sink.readOwnedEach.bind(sink);
      sink.readOwnedEach = (fn) => each(fn, (k) => staleKeys.has(k));
      const startUp = round % 2 === 0;
      let compared: Promise<void>;
      if (startUp) {
        ({ compared } = await r.startUp(async () => {
          for (const [k, gws] of [...kernel]) {
            r.onKernelEvent({ op: 'add', route: route(k, gws) });
            if (rnd(3) === 0) sink.release(1);
            if (rnd(4) === 0) await tick();
          }
        }));
      } else {
        for (const [k, gws] of kernel) r.onKernelEvent({ op: 'add', route: route(k, gws) });
        await r.whenIdle();
        // Behind the engine's back, the sink changes; then a resync reads it while the kernel changes.
        for (const k of keys) if (rnd(3) === 0) sink.held.set(k, new Set(gwSet()));
        compared = r.resyncSinks('test');
      }
      for (let step = 0; step < 30; step++) {
        const what = rnd(4);
        if (what === 0) change();
        else if (what === 1) {
          if (rnd(2) === 0) changeSoon();
          sink.release(1 + rnd(3));
        } else await tick();
        assert.ok(r.sinkStatus()[0]!.applied >= 0, `round ${round}: a negative applied count`);
      }
      for (let i = rnd(3); i > 0; i--) changeSoon();
      sink.release();
      await compared;
      await until(() => scheduled === 0, 'the scheduled changes made');
      for (let i = 0; i < 3; i++) change();
      await until(() => !sink.readOpen, 'no read left open');
      sink.release();
      await r.whenIdle();
      const want = [...kernel].map(([k, gws]) => `${k} ${fpOf(gws)}`).sort();
      const got = [...sink.held.keys()].map((k) => `${k} ${sink.heldFp(k)}`).sort();
      assert.deepEqual(got, want, `round ${round} (${startUp ? 'start-up' : 'resync'})`);
      const st = r.sinkStatus()[0]!;
      assert.deepEqual([st.applied, st.desired], [kernel.size, kernel.size], `round ${round}: applied and desired counts`);
      // Nothing the pass left behind (a read mark, say) keeps the next one from repairing what the sink lost.
      for (const k of keys) if (rnd(3) === 0) sink.held.delete(k);
      await plainResync(r, sink);
      const repaired = [...sink.held.keys()].map((k) => `${k} ${sink.heldFp(k)}`).sort();
      assert.deepEqual(repaired, want, `round ${round} (${startUp ? 'start-up' : 'resync'}): the next resync`);
      r.stop();
    }
  });
}
