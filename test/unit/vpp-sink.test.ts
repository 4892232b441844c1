import { test } from 'node:test';
import { pino } from 'pino';
import assert from 'node:assert/strict';
import type { ReflectedRoute } from '../../src/engine/reflected-route.js';
import type { SinkConnectionState, SinkHooks } from '../../src/engine/sink.js';
import type { VppMessage } from '../../src/sinks/vpp/vpp-codec.js';
import { createVppSink as createVppSinkFrom, type VppSinkDeps } from '../../src/sinks/vpp/vpp-sink.js';
import { vppSinkType, type VppSinkOptions } from '../../src/sinks/vpp/index.js';
import { sinkOptions, type OptionsInput } from '../../src/sinks/sink-type.js';
import { RtreflectError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/logger.js';
import { FakeVpp, fixtureDefs, type FakeVppOptions, vppTest, vppDefsSkip } from '../helpers/vpp.js';
import { FakeVppFib } from '../helpers/fake-vpp-fib.js';

function route(over: Partial<ReflectedRoute>): ReflectedRoute {
  return {
    family: 4,
    prefix: '192.0.2.0/24',
    table: 254,
    protocol: 12,
    type: 'unicast',
    metric: 0,
    tos: 0,
    nexthops: [{ gateway: '10.99.0.1', ifindex: 3, ifname: 'eth1', weight: 1 }],
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

/** A VPP sink from options given in part, the rest from the schema's defaults. */
function createVppSink(o: OptionsInput<VppSinkOptions> = {}, deps?: VppSinkDeps) {
  return createVppSinkFrom(sinkOptions(vppSinkType, o), deps);
}

vppTest('options: defaults, and errors that name the field', () => {
  const o = sinkOptions(vppSinkType, { tables: { 100: 5 }, fibSource: { priority: 20 } });
  assert.equal(o.name, 'vpp');
  assert.equal(o.socket, '/run/vpp/api.sock');
  assert.equal(o.apiDir, '/usr/share/vpp/api');
  assert.deepEqual(o.fibSource, { name: 'rtreflect', priority: 20 });
  assert.equal(o.shutdown.withdraw, false, 'VPP keeps forwarding when the agent stops');
  assert.equal(o.batchSize, 512);
  const bad = (input: Record<string, unknown>, re: RegExp) =>
    assert.throws(
      () => sinkOptions(vppSinkType, input),
      (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_CONFIG' && re.test(e.message),
    );
  bad({ tables: { nosuch: 5 } }, /^invalid vpp sink options: tables\.nosuch: unknown table "nosuch"/);
  bad({ fibSource: { priority: 300 } }, /fibSource\.priority: must be at most 255, got 300/);
  bad({ sockett: 'x' }, /sockett: unknown key; did you mean "socket"\?/);
  bad({ backoff: { initialMs: 100, maxMs: 10 } }, /backoff\.maxMs: maxMs 10 is below initialMs 100/);
});

vppTest('table mapping: main/local → 0, others 1:1, overrides, VRFs', () => {
  const s = createVppSink({ tables: { 100: 5 }, vrfTables: { blue: 20 } });
  const key = (r: Partial<ReflectedRoute>) => {
    const p = s.project(route(r));
    return 'key' in p ? p.key : p.skip;
  };
  assert.equal(key({ table: 254 }), '192.0.2.0/24');
  assert.equal(key({ table: 255 }), '192.0.2.0/24');
  assert.equal(key({ table: 42 }), '42|192.0.2.0/24');
  assert.equal(key({ table: 100 }), '5|192.0.2.0/24');
  assert.equal(key({ vrf: 'blue' }), '20|192.0.2.0/24');
  assert.match(key({ vrf: 'red' }), /VRF "red" has no VPP table; add it to the VPP sink's vrfTables/);
});

vppTest('fingerprints: order-independent, sensitive to what is written', () => {
  const s = createVppSink({});
  const fp = (r: Partial<ReflectedRoute>) => {
    const p = s.project(route(r));
    assert.ok('fingerprint' in p, JSON.stringify(p));
    return p.fingerprint;
  };
  const a = { gateway: '10.99.0.1', ifindex: 3, weight: 1 },
    b = { gateway: '10.99.0.3', ifindex: 3, weight: 2 };
  assert.equal(fp({ nexthops: [a, b] }), fp({ nexthops: [b, a] }));
  assert.notEqual(fp({ nexthops: [a, b] }), fp({ nexthops: [a, { ...b, weight: 3 }] }));
  assert.notEqual(fp({ nexthops: [a] }), fp({ nexthops: [a, b] }));
  // Metric and protocol are not written to VPP.
  assert.equal(fp({ metric: 10, protocol: 186 }), fp({}));
  const kinds = ['blackhole', 'unreachable', 'prohibit'] as const;
  const fps = kinds.map((type) => fp({ type, nexthops: [] }));
  assert.equal(new Set([...fps, fp({})]).size, 4);
  assert.equal(fp({ family: 6, prefix: '2001:db8::/32', nexthops: [{ gateway: '2001:db8:99::1', weight: 1 }] }), 'via:2001:db8:99::1@*1/0');
});

vppTest('next hops without a VPP interface: gateway → next-hop-only, interface-only or link-local → skipped with the reason', () => {
  const s = createVppSink({});
  const p1 = s.project(route({ nexthops: [{ gateway: '10.99.0.1', ifindex: 3, ifname: 'eth1', weight: 1 }] }));
  assert.ok('fingerprint' in p1 && p1.fingerprint.endsWith('via:10.99.0.1@*1/0'), JSON.stringify(p1));
  const p2 = s.project(route({ nexthops: [{ ifindex: 3, ifname: 'eth1', weight: 1 }] }));
  assert.ok('skip' in p2 && /interface eth1 only, which has no VPP interface/.test(p2.skip));
  const p3 = s.project(route({ family: 6, prefix: '2001:db8::/32', nexthops: [{ gateway: 'fe80::1', ifindex: 3, ifname: 'eth1', weight: 1 }] }));
  assert.ok('skip' in p3 && /link-local gateway fe80::1 needs its interface \(eth1\) mapped/.test(p3.skip));
  const extra = s.statusExtra!();
  assert.equal(extra.skippedUnmappedInterface, 1);
  assert.equal(extra.skippedLinkLocalNoInterface, 1);
  // Weights above VPP's u8 are capped.
  const p4 = s.project(route({ nexthops: [{ gateway: '10.99.0.1', weight: 256 }] }));
  assert.ok('fingerprint' in p4 && p4.fingerprint.endsWith('*255/0'));
});

async function withFake(opts: FakeVppOptions, fn: (f: FakeVpp) => Promise<void>): Promise<void> {
  const f = new FakeVpp({
    ...opts,
    handle: (name, req, peer) => {
      if (name === 'fib_source_add') peer.reply('fib_source_add_reply', { context: req.context, retval: 0, id: 21 });
      if (name === 'lcp_itf_pair_get') peer.reply('lcp_itf_pair_get_reply', { context: req.context, retval: 0, cursor: 0 });
      opts.handle?.(name, req, peer);
    },
  });
  await f.listen();
  try {
    await fn(f);
  } finally {
    await f.close();
  }
}

vppTest('start refuses a VPP whose route messages differ from the definitions, naming both CRCs', async () => {
  await withFake({ crcOverride: { ip_route_v2_dump: '0x01020304' } }, async (f) => {
    const s = createVppSink({ socket: f.path }, { defs: fixtureDefs() });
    await assert.rejects(
      s.start(hooks()),
      (e: unknown) =>
        e instanceof RtreflectError &&
        e.code === 'ERR_VPP_API_MISMATCH' &&
        /ip_route_v2_dump: definitions have CRC 0xd16f72e6, running VPP has 0x01020304/.test(e.message),
    );
    assert.equal(s.state(), 'down');
  });
});

vppTest('without the _v2 messages the sink falls back to ip_route_add_del and says so', async () => {
  await withFake({ omit: ['ip_route_add_del_v2', 'ip_route_v2_dump'] }, async (f) => {
    const s = createVppSink({ socket: f.path }, { defs: fixtureDefs() });
    await s.start(hooks());
    try {
      assert.equal(s.statusExtra!().mode, 'v1');
    } finally {
      await s.stop({ withdraw: false });
    }
  });
});

vppTest('allocates its FIB source once, and a lost connection leads to reconnect and a resync request', async () => {
  await withFake({}, async (f) => {
    const h = hooks();
    const s = createVppSink({ socket: f.path, backoff: { initialMs: 20, maxMs: 50 } }, { defs: fixtureDefs() });
    await s.start(h);
    try {
      assert.equal(s.state(), 'up');
      assert.equal(s.statusExtra!().fibSourceId, 21);
      assert.equal(f.received.filter((m) => m.name === 'fib_source_add').length, 1);
      const src = f.received.find((m) => m.name === 'fib_source_add')!.msg.src as { name: string; priority: number };
      assert.deepEqual([src.name, src.priority], ['rtreflect', 130]);
      f.dropAll();
      for (let i = 0; i < 100 && h.resyncs.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(h.resyncs.length, 1);
      assert.equal(s.state(), 'up');
      assert.ok(h.states.includes('down'));
      assert.equal(f.connections, 2);
    } finally {
      await s.stop({ withdraw: false });
    }
    assert.equal(s.state(), 'stopped');
  });
});

vppTest('a sink that is down rejects apply and readOwned', async () => {
  const s = createVppSink({});
  await assert.rejects(s.readOwned(), (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_VPP_DISCONNECTED');
  await assert.rejects(s.apply([]), (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_VPP_DISCONNECTED');
});

vppTest('apply sends a batch and reports per change: errors name the prefix and table, a missing table is fine for deletes', async () => {
  type Rt = {
    table_id: number;
    src: number;
    prefix: { address: { af: number; un: { ip4: Uint8Array; ip6: Uint8Array } }; len: number };
    paths: { weight: number; proto: number; table_id: number; nh: { address: { ip4: Uint8Array } } }[];
  };
  await withFake(
    {
      handle: (name, req, peer) => {
        if (name === 'ip_table_add_del')
          peer.reply('ip_table_add_del_reply', { context: req.context, retval: (req.table as { table_id: number }).table_id === 66 ? -7 : 0 });
        if (name !== 'ip_route_add_del_v2') return;
        const r = req.route as Rt;
        const b = r.prefix.address.un.ip4;
        const rv = b[2] === 99 ? -6 : r.table_id === 5 && !req.is_add ? -3 : 0;
        peer.reply('ip_route_add_del_v2_reply', { context: req.context, retval: rv });
      },
    },
    async (f) => {
      const s = createVppSink({ socket: f.path, tables: { 100: 5 } }, { defs: fixtureDefs() });
      await s.start(hooks());
      try {
        const up = (r: ReflectedRoute) => {
          const p = s.project(r);
          return { op: 'upsert' as const, key: 'key' in p ? p.key : `skip:${r.prefix}`, fingerprint: 'key' in p ? p.fingerprint : '', route: r };
        };
        const rep = await s.apply([
          up(
            route({
              nexthops: [
                { gateway: '10.99.0.1', weight: 3 },
                { gateway: '10.99.0.3', weight: 1 },
              ],
            }),
          ),
          up(route({ prefix: '192.0.99.0/24' })),
          up(route({ prefix: '198.51.100.0/24', table: 66 })),
          up(route({ prefix: '203.0.113.0/24', vrf: 'red' })),
          { op: 'delete', key: '5|10.0.0.0/8', fingerprint: 'x' },
          { op: 'delete', key: '198.51.99.0/24', fingerprint: 'x' },
          up(route({ family: 6, prefix: '2001:db8::/32', nexthops: [{ gateway: '2001:db8:99::1', weight: 1 }] })),
        ]);
        assert.deepEqual(rep.applied, ['192.0.2.0/24', '5|10.0.0.0/8', '2001:db8::/32']);
        assert.deepEqual(rep.failed, [
          { key: '192.0.99.0/24', error: 'VPP refused 192.0.99.0/24 in table 0: retval -6 (NO_SUCH_ENTRY)' },
          { key: '66|198.51.100.0/24', error: 'VPP refused ip_table_add_del: retval -7 (INVALID_VALUE)' },
          { key: 'skip:203.0.113.0/24', error: 'VRF "red" has no VPP table; add it to the VPP sink\'s vrfTables' },
          { key: '198.51.99.0/24', error: 'VPP refused to delete 198.51.99.0/24 in table 0: retval -6 (NO_SUCH_ENTRY)' },
        ]);
        const sent = f.received.filter((m) => m.name === 'ip_route_add_del_v2');
        assert.equal(sent.length, 5);
        const first = sent[0]!.msg.route as Rt;
        assert.equal(first.src, 21);
        assert.deepEqual(
          first.paths.map((p) => [p.weight, [...p.nh.address.ip4].join('.')]),
          [
            [3, '10.99.0.1'],
            [1, '10.99.0.3'],
          ],
        );
        const v6 = sent[4]!.msg.route as Rt;
        assert.deepEqual([v6.prefix.address.af, v6.prefix.len, v6.paths[0]!.proto], [1, 32, 1]);
        assert.equal(f.received.filter((m) => m.name === 'ip_table_add_del').length, 1, 'the failed table was asked for once');
        const extra = s.statusExtra!();
        assert.deepEqual([extra.writes, extra.writeFailures], [3, 4]);
      } finally {
        await s.stop({ withdraw: false });
      }
    },
  );
});

vppTest('readOwned reads route details in place, with the fingerprints project() gives', async () => {
  const ip4 = (s: string) => Uint8Array.from(s.split('.').map(Number));
  const v6 = Uint8Array.from(Buffer.from('20010db8000000000000000000000000', 'hex'));
  const nh6 = Uint8Array.from(Buffer.from('20010db8009900000000000000000001', 'hex'));
  const pfx4 = (a: string, len: number) => ({ address: { af: 0, un: { ip4: ip4(a) } }, len });
  const via4 = (a: string, weight: number, sw = 0xffffffff) => ({ sw_if_index: sw, weight, type: 0, proto: 0, nh: { address: { ip4: ip4(a) } } });
  await withFake(
    {
      handle: (name, req, peer) => {
        if (name === 'ip_table_dump') {
          for (const is_ip6 of [false, true]) peer.reply('ip_table_details', { context: req.context, table: { table_id: 0, is_ip6, name: '' } });
        }
        if (name !== 'ip_route_v2_dump') return;
        assert.equal(req.src, 0, "every source's entries are dumped: filtered by ours, VPP leaves out those another source wins");
        const d = (route: VppMessage) => peer.reply('ip_route_v2_details', { context: req.context, route: { src: 21, ...route } });
        if ((req.table as { is_ip6: boolean }).is_ip6) {
          d({
            prefix: { address: { af: 1, un: { ip6: v6 } }, len: 32 },
            paths: [{ weight: 1, type: 0, proto: 1, sw_if_index: 0xffffffff, nh: { address: { ip6: nh6 } } }],
          });
          return;
        }
        d({ prefix: pfx4('192.0.2.0', 24), paths: [via4('10.99.0.3', 1), via4('10.99.0.1', 3)] });
        d({ prefix: pfx4('198.51.100.0', 24), paths: [{ type: 2, sw_if_index: 0xffffffff, weight: 1 }] });
        d({ prefix: pfx4('203.0.113.0', 24), src: 9, paths: [via4('10.99.0.1', 1)] });
        d({ prefix: pfx4('203.0.114.0', 24), paths: [{ type: 9 }] });
        d({ prefix: pfx4('203.0.115.0', 24), paths: [{ type: 0, sw_if_index: 4, weight: 1 }] });
      },
    },
    async (f) => {
      const s = createVppSink({ socket: f.path }, { defs: fixtureDefs() });
      await s.start(hooks());
      try {
        const owned = await s.readOwned();
        const fp = (r: ReflectedRoute) => {
          const p = s.project(r);
          assert.ok('fingerprint' in p);
          return p.fingerprint;
        };
        assert.deepEqual(Object.fromEntries(owned), {
          '192.0.2.0/24': fp(
            route({
              nexthops: [
                { gateway: '10.99.0.1', weight: 3 },
                { gateway: '10.99.0.3', weight: 1 },
              ],
            }),
          ),
          '198.51.100.0/24': fp(route({ prefix: '198.51.100.0/24', type: 'blackhole', nexthops: [] })),
          // 203.0.113.0/24: another source's entry, and nothing we wrote under it on this connection.
          '203.0.114.0/24': 'unsupported-path-type-9',
          '203.0.115.0/24': 'via:@4*1/0',
          '2001:db8::/32': fp(route({ family: 6, prefix: '2001:db8::/32', nexthops: [{ gateway: '2001:db8:99::1', weight: 1 }] })),
        });
      } finally {
        await s.stop({ withdraw: false });
      }
    },
  );
});

vppTest('a key another FIB source wins: read as written once we rewrote it, counted as shadowed, never rewritten again', async () => {
  const fib = new FakeVppFib();
  const f = new FakeVpp({ handle: fib.handle });
  await f.listen();
  const logged: { msg: string; shadowed?: number }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line) as { msg: string; shadowed?: number }) });
  const s = createVppSink({ socket: f.path }, { defs: fixtureDefs(), logger });
  const ip4 = (a: string) => Uint8Array.from(a.split('.').map(Number));
  const pfx = { address: { af: 0, un: { ip4: ip4('192.0.2.0') } }, len: 24 };
  const ours = route({}),
    other = route({ prefix: '198.51.100.0/24' });
  const p = (r: ReflectedRoute) => {
    const x = s.project(r);
    assert.ok('key' in x);
    return x;
  };
  const upsert = (r: ReflectedRoute) => ({ op: 'upsert' as const, key: p(r).key, fingerprint: p(r).fingerprint, route: r });
  /** A resync as the engine runs it: read, then write what differs from what is wanted; returns the writes. */
  const resync = async (want: ReflectedRoute[]): Promise<number> => {
    const owned = await s.readOwned();
    const changes = want.filter((r) => owned.get(p(r).key) !== p(r).fingerprint).map(upsert);
    if (changes.length) assert.deepEqual((await s.apply(changes)).failed, []);
    return changes.length;
  };
  const warned = () => logged.filter((l) => l.shadowed !== undefined).map((l) => l.shadowed);
  await s.start(hooks());
  try {
    assert.deepEqual((await s.apply([upsert(ours), upsert(other)])).failed, []);
    // Another injector's entry for our prefix, ahead of ours (priority 100 against 130).
    fib.addForeign(9, 100, {
      table_id: 0,
      prefix: pfx,
      paths: [{ sw_if_index: 0xffffffff, weight: 1, type: 0, proto: 0, nh: { address: { ip4: ip4('10.99.0.9') } } }],
    });
    assert.equal(await resync([ours, other]), 1, 'the first read cannot tell our entry under the other: one rewrite');
    assert.equal(await resync([ours, other]), 0, 'then it is read as written');
    assert.equal(await resync([ours, other]), 0);
    assert.equal((await s.readOwned()).get(p(ours).key), p(ours).fingerprint);
    assert.equal(s.statusExtra!().shadowed, 1);
    assert.deepEqual(warned(), [1, 1, 1], 'one line per read that finds keys shadowed, with the count');
    assert.ok(fib.entries.get(`0|0|c0000200/24`)!.bySource.has(21), 'our paths stay under our source');

    // The other source withdraws: ours is read exactly again, and no longer counted.
    fib.removeForeign(9, 0, pfx);
    assert.equal(await resync([ours, other]), 0);
    assert.equal(s.statusExtra!().shadowed, 0);
    assert.deepEqual(warned(), [1, 1, 1]);

    // Shadowed again, then deleted: gone from what is read, and from our source in VPP.
    fib.addForeign(9, 100, {
      table_id: 0,
      prefix: pfx,
      paths: [{ sw_if_index: 0xffffffff, weight: 1, type: 0, proto: 0, nh: { address: { ip4: ip4('10.99.0.9') } } }],
    });
    assert.equal(await resync([ours, other]), 1);
    assert.equal(await resync([ours, other]), 0);
    assert.deepEqual((await s.apply([{ op: 'delete', key: p(ours).key, fingerprint: p(ours).fingerprint }])).failed, []);
    assert.equal((await s.readOwned()).has(p(ours).key), false);
    assert.equal(fib.entries.get(`0|0|c0000200/24`)!.bySource.has(21), false);
  } finally {
    await s.stop({ withdraw: false });
    await f.close();
  }
});
