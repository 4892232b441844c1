/**
 * The engine's own logic, without a dataplane: coalescing, winner selection,
 * resync as a diff, hold-down, retries. The sink here is an in-memory
 * dataplane (RecordingSink) so every write can be counted; the same behaviours
 * are exercised against real gobgpd in test/integration/e2e-*.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reflector, type RouteChain } from '../../src/engine/reflector.js';
import type { ApplyReport, Sink, SinkCapabilities, SinkChange, SinkHooks, SinkProjection } from '../../src/engine/sink.js';
import type { ReflectedRoute } from '../../src/engine/reflected-route.js';
import type { Route } from '../../src/kernel/route.js';
import { silentLogger } from '../../src/util/logger.js';
import { waitFor } from '../helpers/wait-for.js';
import { RecordingSink as BaseRecordingSink } from '../helpers/recording-sink.js';

/**
 * Every test below runs twice: against a sink without, and with, a stable projection
 * (where the engine keeps each key in sync as its bare route, not as a record).
 */
let stableMode = false;
function bothModes(name: string, fn: () => Promise<void>): void {
  for (const stable of [false, true]) {
    test(`${name}${stable ? ' [stable projection]' : ''}`, async () => {
      stableMode = stable; // top-level tests of a file run one at a time
      await fn();
    });
  }
}

/** The engine tests' in-memory dataplane, with the projection mode of the test that runs. */
class RecordingSink extends BaseRecordingSink {
  constructor(name = 'mem') {
    super({ name, capabilities: { stableProjection: stableMode } });
  }
}

const passThrough: RouteChain = { derive: (r) => r, originate: () => [] };

function route(prefix: string, gw: string, metric = 0): Route {
  return { family: 4, prefix, table: 254, protocol: 12, type: 'unicast', metric, tos: 0, nexthops: [{ gateway: gw, weight: 1 }] };
}

function setup(
  opts: {
    chain?: RouteChain;
    holdDown?: Partial<{ enabled: boolean; threshold: number; windowMs: number; delayMs: number }>;
    resyncMinIntervalMs?: number;
    kernelRoutes?: () => Iterable<Route>;
  } = {},
) {
  const sink = new RecordingSink();
  const r = new Reflector({
    chain: opts.chain ?? passThrough,
    sinks: [sink],
    holdDown: { enabled: false, threshold: 3, windowMs: 30, delayMs: 200, ...opts.holdDown },
    batchDelayMs: 0,
    resyncMinIntervalMs: opts.resyncMinIntervalMs ?? 0,
    logger: silentLogger(),
    kernelRoutes: opts.kernelRoutes ?? (() => []),
  });
  r.workers[0]!.setConnection('up');
  return { sink, r };
}

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

bothModes('a key that changes 1,000 times before the sink is written costs one write', async () => {
  const { sink, r } = setup();
  for (let i = 0; i < 1000; i++) r.onKernelEvent({ op: 'add', route: route('10.0.0.0/24', `192.0.2.${i % 250}`) });
  r.onKernelEvent({ op: 'add', route: route('10.0.0.0/24', '192.0.2.7') });
  await r.whenIdle();
  assert.equal(sink.writes.length, 1);
  assert.equal(sink.held.get('10.0.0.0/24'), '0|192.0.2.7');
});

bothModes('the lowest metric wins the dataplane entry, and the next one takes over when it goes', async () => {
  const { sink, r } = setup();
  r.onKernelEvent({ op: 'add', route: route('10.1.0.0/24', '192.0.2.2', 20) });
  r.onKernelEvent({ op: 'add', route: route('10.1.0.0/24', '192.0.2.1', 10) });
  await r.whenIdle();
  assert.equal(sink.held.get('10.1.0.0/24'), '10|192.0.2.1');
  // The metric-10 route changes next hop: it replaces its old self, it does not join as a third candidate.
  r.onKernelEvent({ op: 'add', route: route('10.1.0.0/24', '192.0.2.3', 10) });
  await r.whenIdle();
  assert.equal(sink.held.get('10.1.0.0/24'), '10|192.0.2.3');
  // Deletes name equal objects, not the ones the engine was given: found by kernel key.
  r.onKernelEvent({ op: 'del', route: route('10.1.0.0/24', '192.0.2.3', 10) });
  await r.whenIdle();
  assert.equal(sink.held.get('10.1.0.0/24'), '20|192.0.2.2');
  r.onKernelEvent({ op: 'del', route: route('10.1.0.0/24', '192.0.2.2', 20) });
  await r.whenIdle();
  assert.equal(sink.held.has('10.1.0.0/24'), false);
  assert.equal(r.sinkStatus()[0]!.desired, 0);
});

bothModes('resync applies exactly the difference between desired and what the sink holds', async () => {
  const { sink, r } = setup();
  sink.held.set('10.0.1.0/24', '0|192.0.2.1'); // already right
  sink.held.set('10.0.2.0/24', '0|192.0.2.9'); // stale next hop
  sink.held.set('10.0.3.0/24', '0|192.0.2.1'); // no longer in the kernel
  r.onKernelEvent({ op: 'add', route: route('10.0.1.0/24', '192.0.2.1') });
  r.onKernelEvent({ op: 'add', route: route('10.0.2.0/24', '192.0.2.1') });
  r.onKernelEvent({ op: 'add', route: route('10.0.4.0/24', '192.0.2.1') });
  await r.resyncSinks('test');
  await r.whenIdle();
  const summary = sink.writes.map((w) => `${w.op} ${w.key}`).sort();
  assert.deepEqual(summary, ['delete 10.0.3.0/24', 'upsert 10.0.2.0/24', 'upsert 10.0.4.0/24']);
  assert.deepEqual(r.sinkStatus()[0]!.lastResync && { u: r.sinkStatus()[0]!.lastResync!.upserts, d: r.sinkStatus()[0]!.lastResync!.deletes }, { u: 2, d: 1 });
});

bothModes('a restart with the kernel unchanged writes nothing', async () => {
  const first = setup();
  for (let i = 0; i < 50; i++) first.r.onKernelEvent({ op: 'add', route: route(`10.2.${i}.0/24`, '192.0.2.1', i) });
  await first.r.resyncSinks('start-up');
  await first.r.whenIdle();
  // A new engine (the restarted daemon) against the same dataplane contents.
  const { sink, r } = setup();
  for (const [k, v] of first.sink.held) sink.held.set(k, v);
  for (let i = 0; i < 50; i++) r.onKernelEvent({ op: 'add', route: route(`10.2.${i}.0/24`, '192.0.2.1', i) });
  await r.resyncSinks('start-up');
  await r.whenIdle();
  assert.equal(sink.writes.length, 0);
  assert.equal(r.sinkStatus()[0]!.applied, 50);
});

bothModes('routes the chain drops or the sink cannot carry are not written, and are counted', async () => {
  const chain: RouteChain = { derive: (rt) => (rt.prefix.startsWith('10.9.') ? [] : [rt]), originate: () => [] };
  const { sink, r } = setup({ chain });
  r.onKernelEvent({ op: 'add', route: route('10.9.0.0/24', '192.0.2.1') });
  r.onKernelEvent({ op: 'add', route: { ...route('10.8.0.0/24', '192.0.2.1'), type: 'prohibit', nexthops: [] } });
  r.onKernelEvent({ op: 'add', route: route('10.7.0.0/24', '192.0.2.1') });
  await r.whenIdle();
  assert.deepEqual([...sink.held.keys()], ['10.7.0.0/24']);
  assert.equal(r.filtered, 1);
  assert.equal(r.sinkStatus()[0]!.skipped, 1);
});

bothModes('a lone delete goes out after the short window; a mass withdrawal is held and cancelled by re-adds', async () => {
  const { sink, r } = setup({ holdDown: { enabled: true, threshold: 3, windowMs: 30, delayMs: 300 } });
  for (let i = 0; i < 5; i++) r.onKernelEvent({ op: 'add', route: route(`10.3.${i}.0/24`, '192.0.2.1') });
  await r.whenIdle();
  r.onKernelEvent({ op: 'del', route: route('10.3.0.0/24', '192.0.2.1') });
  await sleep(80);
  await r.whenIdle();
  assert.equal(sink.held.has('10.3.0.0/24'), false, 'a single delete is applied after the window');
  assert.equal(r.holdDownEngaged, false);

  sink.writes.length = 0;
  for (let i = 1; i < 5; i++) r.onKernelEvent({ op: 'del', route: route(`10.3.${i}.0/24`, '192.0.2.1') });
  assert.equal(r.holdDownEngaged, true);
  await sleep(80);
  assert.equal(sink.writes.length, 0, 'nothing withdrawn while held');
  for (let i = 1; i < 4; i++) r.onKernelEvent({ op: 'add', route: route(`10.3.${i}.0/24`, '192.0.2.1') });
  await sleep(350);
  await r.whenIdle();
  assert.deepEqual(
    sink.writes.map((w) => `${w.op} ${w.key}`),
    ['delete 10.3.4.0/24'],
    'only the route that did not come back is withdrawn',
  );
  assert.equal(r.holdDownEngaged, false);
  r.stop();
});

bothModes('a change the sink refuses is retried until it is applied', async () => {
  const { sink, r } = setup();
  sink.refuse.add('10.4.0.0/24');
  r.onKernelEvent({ op: 'add', route: route('10.4.0.0/24', '192.0.2.1') });
  r.onKernelEvent({ op: 'add', route: route('10.4.1.0/24', '192.0.2.1') });
  await sleep(50);
  assert.equal(sink.held.has('10.4.1.0/24'), true, 'the other change is not held back');
  assert.equal(sink.held.has('10.4.0.0/24'), false);
  assert.ok(r.sinkStatus()[0]!.errors >= 1);
  sink.refuse.clear();
  await sleep(400);
  await r.whenIdle();
  assert.equal(sink.held.get('10.4.0.0/24'), '0|192.0.2.1');
  r.stop();
});

bothModes('diff reports what a resync would change without writing', async () => {
  const { sink, r } = setup();
  sink.held.set('10.5.1.0/24', '0|192.0.2.9');
  sink.held.set('10.5.2.0/24', '0|192.0.2.1');
  r.workers[0]!.setConnection('down');
  r.onKernelEvent({ op: 'add', route: route('10.5.1.0/24', '192.0.2.1') });
  r.onKernelEvent({ op: 'add', route: route('10.5.3.0/24', '192.0.2.1') });
  const [d] = await r.diff();
  assert.deepEqual(d!.upserts.map((u) => [u.key, u.was ?? null]).sort(), [
    ['10.5.1.0/24', '0|192.0.2.9'],
    ['10.5.3.0/24', null],
  ]);
  assert.deepEqual(
    d!.deletes.map((x) => x.key),
    ['10.5.2.0/24'],
  );
  assert.equal(sink.writes.length, 0);
  r.stop();
});

bothModes('resyncs of a sink are rate-limited, and triggers during the wait fold into one', async () => {
  const { sink, r } = setup({ resyncMinIntervalMs: 300 });
  let reads = 0;
  const read = sink.readOwned.bind(sink);
  sink.readOwned = async () => {
    reads++;
    return read();
  };
  await r.resyncSinks('first');
  const t0 = Date.now();
  await Promise.all([r.resyncSinks('second'), r.resyncSinks('third'), r.resyncSinks('fourth')]);
  assert.ok(Date.now() - t0 >= 250, 'the second resync waited for the interval');
  assert.equal(reads, 2, 'three triggers in the interval cost one more read of the sink');
  r.stop();
});

/** A sink that answers apply() only when told to, and lets two batches be outstanding. */
class GatedSink extends RecordingSink {
  override readonly batchSize = 2;
  override readonly capabilities: SinkCapabilities = { stableProjection: stableMode, maxBatchesInFlight: 2 };
  readonly pending: { changes: SinkChange[]; answer: (fail?: boolean) => void }[] = [];
  outstanding = 0;
  maxOutstanding = 0;
  override apply(changes: SinkChange[]): Promise<ApplyReport> {
    this.outstanding++;
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
    return new Promise((resolve, reject) => {
      this.pending.push({
        changes,
        answer: (fail) => {
          this.outstanding--;
          if (fail) reject(new Error('connection lost'));
          else resolve(super.apply(changes));
        },
      });
    });
  }
}

bothModes('pipelined sink: two batches outstanding, never one key in both; a key changed in flight is written after the answer, against it', async () => {
  const sink = new GatedSink();
  const r = new Reflector({
    chain: passThrough,
    sinks: [sink],
    holdDown: { enabled: false, threshold: 3, windowMs: 30, delayMs: 200 },
    batchDelayMs: 0,
    resyncMinIntervalMs: 0,
    logger: silentLogger(),
    kernelRoutes: () => [],
  });
  r.workers[0]!.setConnection('up');
  for (const p of ['10.9.1.0/24', '10.9.2.0/24', '10.9.3.0/24', '10.9.4.0/24', '10.9.5.0/24']) r.onKernelEvent({ op: 'add', route: route(p, '192.0.2.1') });
  const idle = r.whenIdle();
  // Nothing is answered meanwhile: the worker must get the second batch out on its own, however slow the machine.
  await waitFor(() => sink.pending.length >= 2, {
    describe: 'two batches outstanding',
    timeoutMs: 10_000,
    intervalMs: 1,
    seen: () => `${sink.pending.length} outstanding`,
  });
  assert.equal(sink.pending.length, 2, 'a second batch goes out before the first is answered');
  // 10.9.1.0/24 is in flight: its change waits for the answer instead of going into a third batch.
  r.onKernelEvent({ op: 'add', route: route('10.9.1.0/24', '192.0.2.9') });
  sink.pending.shift()!.answer(true); // the first batch is lost: its keys are dirty again (retried after a back-off)
  const settled = (): boolean => sink.held.size === 5 && sink.pending.length === 0;
  for (let i = 0; i < 100 && !settled(); i++) {
    sink.pending.shift()?.answer();
    await sleep(20);
  }
  await idle;
  assert.ok(sink.maxOutstanding <= 2);
  assert.equal(sink.held.get('10.9.1.0/24'), '0|192.0.2.9');
  assert.equal(sink.held.size, 5);
  const keysPerBatchOverlap = sink.writes.filter((w) => w.key === '10.9.1.0/24').length;
  assert.equal(keysPerBatchOverlap, 1, 'the lost batch left nothing; the key was written once, with its newest value');
  r.stop();
});

bothModes('start-up behind the kernel gate: routes are written as they arrive, deletes wait until the kernel is fully read', async () => {
  const { sink, r } = setup();
  sink.held.set('10.7.1.0/24', '0|192.0.2.1'); // still in the kernel, listed late in the dump
  sink.held.set('10.7.2.0/24', '0|192.0.2.1'); // gone from the kernel
  let open!: () => void;
  const started = r.startUp(
    () =>
      new Promise<void>((res) => {
        open = res;
      }),
  );
  r.onKernelEvent({ op: 'add', route: route('10.7.3.0/24', '192.0.2.1') });
  for (let i = 0; i < 5000 && sink.writes.length === 0; i++) await sleep(2);
  assert.deepEqual(
    sink.writes.map((c) => `${c.op} ${c.key}`),
    ['upsert 10.7.3.0/24'],
    'written before the gate opens',
  );
  r.onKernelEvent({ op: 'add', route: route('10.7.1.0/24', '192.0.2.1') });
  await sleep(30);
  assert.equal(sink.writes.length, 1, 'nothing deleted, and the unchanged route not rewritten');
  open();
  await (
    await started
  ).compared;
  await r.whenIdle();
  assert.deepEqual(
    sink.writes.map((c) => `${c.op} ${c.key}`),
    ['upsert 10.7.3.0/24', 'delete 10.7.2.0/24'],
  );
  assert.deepEqual([...sink.held.keys()].sort(), ['10.7.1.0/24', '10.7.3.0/24']);
  r.stop();
});

bothModes("a route moves between passed through, changed and dropped as a handler's verdict changes, and its delete finds it in each", async () => {
  let mode: 'pass' | 'change' | 'drop' = 'pass';
  const kernel: Route[] = [];
  const chain: RouteChain = {
    derive: (rt) => (mode === 'pass' ? [rt] : mode === 'drop' ? [] : [{ ...rt, nexthops: [{ gateway: '192.0.2.99', weight: 1 }] }]),
    originate: () => [],
  };
  const { sink, r } = setup({ chain, kernelRoutes: () => kernel });
  const settle = async (): Promise<void> => {
    await sleep(5);
    await r.whenIdle();
  };
  const a = route('10.5.0.0/24', '192.0.2.1');
  kernel.push(a);
  r.onKernelEvent({ op: 'add', route: a });
  await settle();
  assert.equal(sink.held.get('10.5.0.0/24'), '0|192.0.2.1');
  for (const [next, want] of [
    ['change', '0|192.0.2.99'],
    ['drop', undefined],
    ['pass', '0|192.0.2.1'],
    ['drop', undefined],
    ['change', '0|192.0.2.99'],
    ['pass', '0|192.0.2.1'],
  ] as const) {
    mode = next;
    r.reevaluate(`now ${next}`);
    await settle();
    assert.equal(sink.held.get('10.5.0.0/24'), want, `after ${next}`);
    assert.equal(r.sinkStatus()[0]!.desired, want === undefined ? 0 : 1, `one candidate after ${next}`);
  }
  for (const m of ['pass', 'change', 'drop'] as const) {
    mode = m;
    const b = route('10.6.0.0/24', '192.0.2.1');
    r.onKernelEvent({ op: 'add', route: b });
    await settle();
    r.onKernelEvent({ op: 'del', route: route('10.6.0.0/24', '192.0.2.1') });
    await settle();
    assert.equal(sink.held.has('10.6.0.0/24'), false, `deleted while ${m}`);
    assert.equal(r.sinkStatus()[0]!.desired, 1, `only 10.5.0.0/24 left after the ${m} delete`);
  }
});

test('keys in sync are kept as their bare routes on a stable sink, and changes, deletes and keys the sink lost still go out exactly', async () => {
  for (const stable of [false, true]) {
    stableMode = stable;
    const { sink, r } = setup();
    const w = r.workers[0]!;
    // More routes than a batch: the first batches land while others wait, and are folded by the sweep after.
    const table = Array.from({ length: 250 }, (_, i) => route(`10.60.${i}.0/24`, '192.0.2.1'));
    for (const rt of table) r.onKernelEvent({ op: 'add', route: rt });
    await r.whenIdle();
    while (w.busy) await sleep(1);
    assert.equal(sink.held.size, 250);
    assert.equal(w.recordCount, stable ? 0 : 250, 'records kept for a table in sync');
    assert.equal(w.appliedCount, 250);
    sink.writes.length = 0;

    // A next-hop change: the write names what the sink held before, worked out again from the bare route.
    r.onKernelEvent({ op: 'add', route: route('10.60.1.0/24', '192.0.2.2') });
    // An equal route object in place of the one held: compared, nothing written.
    r.onKernelEvent({ op: 'add', route: route('10.60.2.0/24', '192.0.2.1') });
    r.onKernelEvent({ op: 'del', route: route('10.60.3.0/24', '192.0.2.1') });
    await r.whenIdle();
    assert.deepEqual(
      sink.writes.map((c) => [c.op, c.key, c.op === 'upsert' ? c.was : c.fingerprint]),
      [
        ['upsert', '10.60.1.0/24', '0|192.0.2.1'],
        ['delete', '10.60.3.0/24', '0|192.0.2.1'],
      ],
    );
    while (w.busy) await sleep(1);
    assert.equal(w.recordCount, stable ? 0 : 249);

    // The sink loses one key and changes another behind the engine's back: a resync puts back exactly those.
    sink.held.delete('10.60.4.0/24');
    sink.held.set('10.60.5.0/24', '0|192.0.2.66');
    sink.writes.length = 0;
    const [d] = await r.diff();
    assert.deepEqual(d!.upserts.map((u) => [u.key, u.was ?? null]).sort(), [
      ['10.60.4.0/24', null],
      ['10.60.5.0/24', '0|192.0.2.66'],
    ]);
    assert.deepEqual(d!.deletes, []);
    await r.resyncSinks('test');
    await r.whenIdle();
    assert.deepEqual(sink.writes.map((c) => [c.op, c.key, c.op === 'upsert' ? (c.was ?? null) : null]).sort(), [
      ['upsert', '10.60.4.0/24', null],
      ['upsert', '10.60.5.0/24', '0|192.0.2.66'],
    ]);
    while (w.busy) await sleep(1);
    assert.equal(sink.held.size, 249);
    assert.equal(w.recordCount, stable ? 0 : 249, 'the resync leaves keys in sync bare again');
    assert.equal(w.appliedCount, 249);
    assert.equal(w.desiredCount, 249);
    r.stop();
  }
});
