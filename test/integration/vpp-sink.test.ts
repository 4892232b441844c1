import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReflectedRoute } from '../../src/engine/reflected-route.js';
import type { Sink, SinkChange, SinkConnectionState, SinkHooks } from '../../src/engine/sink.js';
import { loadApiDefs, type ApiDefsData } from '../../src/sinks/vpp/vpp-api-defs.js';
import { VppClient } from '../../src/sinks/vpp/vpp-client.js';
import { VppCodec } from '../../src/sinks/vpp/vpp-codec.js';
import { createVppSink } from '../../src/sinks/vpp/vpp-sink.js';
import { vppSinkType } from '../../src/sinks/vpp/index.js';
import { sinkOptions } from '../../src/sinks/sink-type.js';
import { silentLogger } from '../../src/util/logger.js';
import { findVppBinary, NO_VPP_MESSAGE, startLiveVpp, type LiveVpp, vppFib, type FibRoute } from '../helpers/vpp.js';
import { WAIT_MS, waitFor } from '../helpers/wait-for.js';

const bin = findVppBinary();

function route(over: Partial<ReflectedRoute>): ReflectedRoute {
  return {
    family: 4,
    prefix: '192.0.2.0/24',
    table: 254,
    protocol: 12,
    type: 'unicast',
    metric: 0,
    tos: 0,
    nexthops: [{ gateway: '10.99.0.1', weight: 1 }],
    ...over,
  };
}

function hooks(): SinkHooks & { resyncs: string[]; states: SinkConnectionState[] } {
  const h = {
    logger: silentLogger(),
    resyncs: [] as string[],
    states: [] as SinkConnectionState[],
    onResyncNeeded(reason: string) {
      h.resyncs.push(reason);
    },
    onState(s: SinkConnectionState) {
      h.states.push(s);
    },
  };
  return h;
}

function upserts(sink: Sink, routes: ReflectedRoute[]): SinkChange[] {
  return routes.map((r) => {
    const p = sink.project(r);
    assert.ok('key' in p, `projected: ${JSON.stringify(p)}`);
    return { op: 'upsert', key: p.key, fingerprint: p.fingerprint, route: r };
  });
}

async function applyOk(sink: Sink, changes: SinkChange[]): Promise<void> {
  const rep = await sink.apply(changes);
  assert.deepEqual(rep.failed, []);
  assert.equal(rep.applied.length, changes.length);
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  await waitFor(cond, { describe: what, timeoutMs: ms, intervalMs: 50 });
}

describe('VPP sink against a real VPP', { skip: bin ? false : NO_VPP_MESSAGE }, () => {
  let vpp: LiveVpp;
  let defs: ApiDefsData;
  /** An independent API client: what VPP itself reports, whoever wrote it. */
  let probe: VppClient;
  const sinks: Sink[] = [];

  const fib = (table: number, ip6: boolean): Promise<Map<string, FibRoute>> => vppFib(probe, table, ip6);

  function newSink(over: Record<string, unknown> = {}): Sink {
    const s = createVppSink(
      sinkOptions(vppSinkType, { socket: vpp.apiSock, apiDir: vpp.apiDir, backoff: { initialMs: 100, maxMs: 500 }, tables: { 100: 100 }, ...over }),
      { defs },
    );
    sinks.push(s);
    return s;
  }

  async function connectProbe(): Promise<void> {
    probe = new VppClient(new VppCodec(defs), {
      socket: vpp.apiSock,
      clientName: 'probe',
      window: 64,
      requestTimeoutMs: 10_000,
      connectTimeoutMs: 5_000,
      logger: silentLogger(),
    });
    await probe.connect();
  }

  before(async () => {
    vpp = await startLiveVpp(bin!, 'sink');
    defs = loadApiDefs(vpp.apiDir);
    await connectProbe();
  });

  after(async () => {
    for (const s of sinks) await s.stop({ withdraw: false }).catch(() => undefined);
    await probe?.close().catch(() => undefined);
    await vpp?.stop();
  });

  test('add, ECMP, replace, IPv6, blackhole/unreachable/prohibit, table 100; read back with identical fingerprints', async () => {
    const sink = newSink();
    const h = hooks();
    await sink.start(h);
    assert.equal(sink.state(), 'up');
    assert.equal(sink.statusExtra!().mode, 'v2');
    const srcId = sink.statusExtra!().fibSourceId as number;

    const routes = [
      route({}),
      route({
        prefix: '198.51.100.0/24',
        nexthops: [
          { gateway: '10.99.0.1', weight: 1 },
          { gateway: '10.99.0.3', weight: 3 },
        ],
      }),
      route({ family: 6, prefix: '2001:db8:1::/48', nexthops: [{ gateway: '2001:db8:99::1', weight: 1 }] }),
      route({ prefix: '203.0.113.0/25', type: 'blackhole', nexthops: [] }),
      route({ prefix: '203.0.113.128/26', type: 'unreachable', nexthops: [] }),
      route({ prefix: '203.0.113.192/26', type: 'prohibit', nexthops: [] }),
      route({ prefix: '100.65.0.0/16', table: 100 }),
      route({ family: 6, prefix: '2001:db8:2::/48', table: 100, type: 'blackhole', nexthops: [] }),
    ];
    const changes = upserts(sink, routes);
    await applyOk(sink, changes);

    const t0 = await fib(0, false);
    assert.deepEqual(t0.get('192.0.2.0/24'), { src: srcId, paths: [{ nh: '10.99.0.1', sw: 0xffffffff, weight: 1, type: 0 }] });
    assert.deepEqual(
      t0.get('198.51.100.0/24')?.paths.map((p) => [p.nh, p.weight]),
      [
        ['10.99.0.1', 1],
        ['10.99.0.3', 3],
      ],
    );
    assert.equal(t0.get('203.0.113.0/25')?.paths[0]?.type, 2, 'drop path');
    assert.equal(t0.get('203.0.113.128/26')?.paths[0]?.type, 5, 'icmp-unreachable path');
    assert.equal(t0.get('203.0.113.192/26')?.paths[0]?.type, 6, 'icmp-prohibit path');
    assert.equal((await fib(0, true)).get('2001:db8:1::/48')?.paths[0]?.nh, '2001:db8:99::1');
    assert.equal((await fib(100, false)).get('100.65.0.0/16')?.src, srcId, 'table 100 was created and holds the route');
    assert.equal((await fib(100, true)).get('2001:db8:2::/48')?.paths[0]?.type, 2);

    const owned = await sink.readOwned();
    assert.deepEqual(new Map([...owned].sort()), new Map(changes.map((c) => [c.key, c.fingerprint] as [string, string]).sort()));

    // Replace: the path set is replaced, not merged.
    await applyOk(sink, upserts(sink, [route({ nexthops: [{ gateway: '10.99.0.3', weight: 1 }] })]));
    assert.deepEqual(
      (await fib(0, false)).get('192.0.2.0/24')?.paths.map((p) => p.nh),
      ['10.99.0.3'],
    );

    // Delete.
    await applyOk(sink, [{ op: 'delete', key: '198.51.100.0/24', fingerprint: '' }]);
    assert.equal((await fib(0, false)).has('198.51.100.0/24'), false);
  });

  test('a kernel interface mapped by name gives the path its VPP interface', async () => {
    const sink = newSink({ interfaces: { vpp0: 'host-vpp0' } });
    await sink.start(hooks());
    const sw = (await probe.dump('sw_interface_dump', { name_filter_valid: true, name_filter: 'host-vpp0' }))[0]!.sw_if_index as number;
    await applyOk(sink, upserts(sink, [route({ prefix: '192.0.2.128/25', nexthops: [{ gateway: '10.99.0.1', ifname: 'vpp0', ifindex: 99, weight: 1 }] })]));
    assert.deepEqual(
      (await fib(0, false)).get('192.0.2.128/25')?.paths.map((p) => [p.nh, p.sw]),
      [['10.99.0.1', sw]],
    );
    const owned = await sink.readOwned();
    const p = sink.project(route({ prefix: '192.0.2.128/25', nexthops: [{ gateway: '10.99.0.1', ifname: 'vpp0', ifindex: 99, weight: 1 }] }));
    assert.ok('key' in p);
    assert.equal(owned.get(p.key), p.fingerprint);
    await sink.stop({ withdraw: false });
  });

  test("other clients' routes survive our deletes and withdraw", async () => {
    vpp.cli('ip route add 100.64.0.0/24 via 10.99.0.7');
    vpp.cli('ip route add 192.0.2.0/24 via 10.99.0.8'); // same prefix as ours, another source
    const sink = newSink();
    await sink.start(hooks());
    const owned = await sink.readOwned();
    assert.equal(owned.has('100.64.0.0/24'), false, 'not ours');
    await applyOk(sink, [{ op: 'delete', key: '192.0.2.0/24', fingerprint: '' }]);
    const t = await fib(0, false);
    assert.deepEqual(
      t.get('192.0.2.0/24')?.paths.map((p) => p.nh),
      ['10.99.0.8'],
      'the CLI route remains',
    );
    await sink.stop({ withdraw: true });
    const t2 = await fib(0, false);
    assert.ok(t2.has('100.64.0.0/24'));
    assert.ok(t2.has('192.0.2.0/24'));
    assert.equal(t2.has('203.0.113.0/25'), false, 'ours were withdrawn');
    assert.equal((await fib(100, false)).has('100.65.0.0/16'), false);
  });

  test('a new sink reads back what an earlier one wrote: 0 changes needed', async () => {
    const first = newSink();
    await first.start(hooks());
    const routes = Array.from({ length: 200 }, (_, i) =>
      route({
        prefix: `10.${100 + (i >> 8)}.${i & 255}.0/24`,
        nexthops: [
          { gateway: '10.99.0.1', weight: 1 },
          { gateway: '10.99.0.3', weight: 1 + (i % 3) },
        ],
      }),
    );
    routes.push(
      route({ family: 6, prefix: '2001:db8:5::/48', nexthops: [{ gateway: '2001:db8:99::1', weight: 1 }] }),
      route({ prefix: '10.200.0.0/16', table: 100, type: 'unreachable', nexthops: [] }),
    );
    await applyOk(first, upserts(first, routes));
    await first.stop({ withdraw: false });

    const second = newSink();
    await second.start(hooks());
    const owned = await second.readOwned();
    let changes = 0;
    for (const r of routes) {
      const p = second.project(r);
      assert.ok('key' in p);
      if (owned.get(p.key) !== p.fingerprint) changes++;
    }
    assert.equal(changes, 0);
    await second.stop({ withdraw: true });
  });

  test('VPP restart: reconnect, resync requested, re-push converges', async () => {
    const sink = newSink();
    const h = hooks();
    await sink.start(h);
    const routes = [route({ prefix: '192.0.2.0/26' }), route({ prefix: '100.66.0.0/16', table: 100 })];
    const changes = upserts(sink, routes);
    await applyOk(sink, changes);

    await probe.close();
    await vpp.restart();
    await connectProbe();
    await until(() => h.resyncs.length > 0 && sink.state() === 'up', WAIT_MS, 'reconnect and resync request');
    assert.ok(h.states.includes('down'));
    // The restarted VPP is empty: the engine's resync reads nothing and pushes everything again.
    assert.equal((await sink.readOwned()).size, 0);
    await applyOk(sink, changes);
    const owned = await sink.readOwned();
    for (const c of changes) assert.equal(owned.get(c.key), c.fingerprint);
    assert.equal((await fib(100, false)).get('100.66.0.0/16')?.paths[0]?.nh, '10.99.0.1');
    await sink.stop({ withdraw: false });
  });
});
