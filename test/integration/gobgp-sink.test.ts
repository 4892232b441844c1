import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startGobgpd, type TestGobgpd } from '../helpers/gobgpd.js';
import { waitFor } from '../helpers/wait-for.js';
import { listPaths, listPathsBinary } from '../helpers/gobgp-client-extras.js';
import { GobgpdSupervisor } from '../../src/sinks/gobgp/gobgpd-supervisor.js';
import { GobgpClient } from '../../src/sinks/gobgp/gobgp-api.js';
import { createGobgpSink } from '../../src/sinks/gobgp/gobgp-sink.js';
import { gobgpSinkType } from '../../src/sinks/gobgp/index.js';
import { sinkOptions } from '../../src/sinks/sink-type.js';
import { decodeAttrs, decodePrefixNlri, formatCommunity, formatLargeCommunity } from '../../src/sinks/gobgp/bgp-wire.js';
import { formatPrefix } from '../../src/util/ip.js';
import { silentLogger } from '../../src/util/logger.js';
import type { ReflectedRoute } from '../../src/engine/reflected-route.js';
import type { Sink, SinkChange, SinkConnectionState } from '../../src/engine/sink.js';
import { route } from '../helpers/route-fixture.js';

/** apply() and then flush(), as the engine does before it calls a sink idle: after this the paths are in gobgpd's RIB. */
async function applied(sink: Sink, changes: SinkChange[]): ReturnType<Sink['apply']> {
  const rep = await sink.apply(changes);
  await sink.flush?.();
  return rep;
}

function upserts(sink: Sink, routes: ReflectedRoute[]): SinkChange[] {
  return routes.map((r) => {
    const p = sink.project(r);
    assert.ok('key' in p, `project skipped ${r.prefix}: ${'skip' in p ? p.skip : ''}`);
    return { op: 'upsert', key: p.key, fingerprint: p.fingerprint, route: r };
  });
}

interface Seen {
  prefix: string;
  nh: string;
  id: number;
  communities: string[];
  large: string[];
  med?: number;
  lp?: number;
  local: boolean;
}
async function rib(g: TestGobgpd, family: 4 | 6, vrf?: string): Promise<Seen[]> {
  const out: Seen[] = [];
  for (const d of await listPaths(g.client, family, vrf ? { vrf } : {})) {
    for (const p of d.paths) {
      const a = decodeAttrs(p.pattrs_binary ?? []);
      out.push({
        prefix: formatPrefix(decodePrefixNlri(p.nlri_binary!, family).prefix),
        nh: a.nextHop ?? a.mpReach?.nextHops[0] ?? '',
        id: p.identifier ?? 0,
        communities: (a.communities ?? []).map(formatCommunity),
        large: (a.largeCommunities ?? []).map(formatLargeCommunity),
        ...(a.med !== undefined ? { med: a.med } : {}),
        ...(a.localPref !== undefined ? { lp: a.localPref } : {}),
        local: !p.neighbor_ip || p.neighbor_ip === '<nil>',
      });
    }
  }
  return out.sort((x, y) => (x.prefix + x.nh < y.prefix + y.nh ? -1 : 1));
}

async function until(what: string, cond: () => boolean | Promise<boolean>, seen?: () => unknown): Promise<void> {
  await waitFor(cond, { describe: what, intervalMs: 50, ...(seen ? { seen } : {}) });
}

const MARK = '4294967294:0:1';

describe('gobgp sink against a real gobgpd', () => {
  let g: TestGobgpd;
  let sink: Sink;
  const resyncs: string[] = [];
  const states: SinkConnectionState[] = [];

  before(async () => {
    g = await startGobgpd();
    sink = createGobgpSink(
      sinkOptions(gobgpSinkType, {
        name: 'gobgp-test',
        address: g.grpcAddress,
        createVrfs: true,
        vrfs: { red: { rd: '65000:100', rt: ['65000:100'] } },
        shutdown: { withdraw: true, graceMs: 0 },
        healthIntervalMs: 300,
        backoff: { initialMs: 50, maxMs: 500, jitter: 0.2 },
      }),
      { logger: silentLogger() },
    );
    await sink.start({ logger: silentLogger(), onResyncNeeded: (r) => resyncs.push(r), onState: (s) => states.push(s) });
  });
  after(async () => {
    try {
      if (sink.state() !== 'stopped') await sink.stop({ withdraw: false });
    } finally {
      await g.stop();
    }
  });

  const v4 = route('10.1.0.0/24', ['192.0.2.10'], { bgp: { med: 20, localPref: 150, communities: ['65000:7', '65000:1'], largeCommunities: ['65000:1:2'] } });
  const v6 = route('2001:db8:1::/48', ['2001:db8::1']);
  const ecmp = route('10.2.0.0/24', ['192.0.2.21', '192.0.2.22']);
  const hole = route('10.3.0.0/16', [], { type: 'blackhole' });
  const v4via6 = route('10.4.0.0/24', ['2001:db8::4']);
  const all = [v4, v6, ecmp, hole, v4via6];

  it('connects', async () => {
    // start() waits for the first attempt only so long (connectTimeoutMs); on a busy machine the
    // connection may come a little later, from the attempts that follow.
    await until(
      'the sink to be up',
      () => sink.state() === 'up',
      () => ({ state: sink.state(), states }),
    );
    assert.equal(sink.state(), 'up');
    assert.deepEqual(states, ['connecting', 'up']);
  });

  it('writes IPv4, IPv6, ECMP, blackhole and IPv4-via-IPv6 routes exactly as intended', async () => {
    const rep = await applied(sink, upserts(sink, all));
    assert.deepEqual(rep.failed, []);
    assert.equal(rep.applied.length, all.length);
    const r4 = await rib(g, 4),
      r6 = await rib(g, 6);
    assert.deepEqual(
      r4.map(({ id, ...x }) => x),
      [
        { prefix: '10.1.0.0/24', nh: '192.0.2.10', communities: ['65000:1', '65000:7'], large: ['65000:1:2', MARK], med: 20, lp: 150, local: true },
        { prefix: '10.2.0.0/24', nh: '192.0.2.21', communities: [], large: [MARK], local: true },
        { prefix: '10.2.0.0/24', nh: '192.0.2.22', communities: [], large: [MARK], local: true },
        { prefix: '10.3.0.0/16', nh: '0.0.0.0', communities: [], large: [MARK], local: true },
        { prefix: '10.4.0.0/24', nh: '2001:db8::4', communities: [], large: [MARK], local: true },
      ],
    );
    const ecmpIds = r4.filter((p) => p.prefix === '10.2.0.0/24').map((p) => p.id);
    assert.equal(new Set(ecmpIds).size, 2, 'ECMP paths need distinct add-path ids');
    assert.ok(ecmpIds.every((id) => id > 0));
    assert.deepEqual(
      r6.map(({ id, ...x }) => x),
      [{ prefix: '2001:db8:1::/48', nh: '2001:db8::1', communities: [], large: [MARK], local: true }],
    );
  });

  it('reads back byte-identical fingerprints, so an unchanged resync writes nothing', async () => {
    const owned = await sink.readOwned();
    const want = new Map(
      all.map((r) => {
        const p = sink.project(r);
        assert.ok('key' in p);
        return [p.key, p.fingerprint];
      }),
    );
    assert.deepEqual(owned, want);
  });

  it('skips routes it cannot carry, with a reason', () => {
    const p = sink.project(route('2001:db8:9::/48', ['fe80::1']));
    assert.ok('skip' in p && /link-local/.test(p.skip));
    const q = sink.project(route('10.9.9.0/24', ['192.0.2.1'], { bgp: { communities: ['65000'] } }));
    assert.ok('skip' in q && /65000/.test(q.skip));
  });

  it('ignores paths of other injectors and leaves them alone', async () => {
    execFileSync('gobgp', [...g.cliArgs, 'global', 'rib', 'add', '10.99.0.0/24', 'nexthop', '192.0.2.99', '-a', 'ipv4']);
    execFileSync('gobgp', [...g.cliArgs, 'global', 'rib', 'add', '10.1.0.0/24', 'nexthop', '192.0.2.98', '-a', 'ipv4']);
    const owned = await sink.readOwned();
    assert.equal(owned.size, all.length);
    assert.ok(![...owned.keys()].some((k) => k.includes('10.99.0.0')));
    const fp = owned.get('10.1.0.0/24');
    assert.ok(fp && !fp.includes('192.0.2.98'));
  });

  it('replacing a route with fewer/different next hops leaves no old path', async () => {
    const changed = route('10.2.0.0/24', ['192.0.2.23']);
    // As the engine does: the change carries the fingerprint it replaces (read back from gobgpd here).
    const was = (await sink.readOwned()).get('10.2.0.0/24');
    assert.ok(was, 'the ECMP route is there before the replace');
    const rep = await applied(
      sink,
      upserts(sink, [changed]).map((c) => ({ ...c, was })),
    );
    assert.deepEqual(rep.failed, []);
    const paths = (await rib(g, 4)).filter((p) => p.prefix === '10.2.0.0/24');
    assert.deepEqual(
      paths.map((p) => p.nh),
      ['192.0.2.23'],
    );
  });

  it('writes over its parallel streams: adds, replaces and withdrawals of 3,000 keys with no flush between land as the last of each', async () => {
    const n = 3000;
    const pfx = (i: number): string => `10.${100 + (i >> 8)}.${i & 255}.0/24`;
    const first = Array.from({ length: n }, (_, i) => route(pfx(i), ['192.0.2.31']));
    const second = Array.from({ length: n }, (_, i) => route(pfx(i), ['192.0.2.32']));
    const a = upserts(sink, first);
    assert.deepEqual((await sink.apply(a)).failed, []);
    // Replaces name what they replace (as the engine does), then every other key goes; one flush at the end.
    assert.deepEqual((await sink.apply(upserts(sink, second).map((c, i) => ({ ...c, was: (a[i] as { fingerprint: string }).fingerprint })))).failed, []);
    const b = upserts(sink, second);
    const deletes: SinkChange[] = b
      .filter((_, i) => i % 2 === 0)
      .map((c) => ({ op: 'delete', key: c.key, fingerprint: (c as { fingerprint: string }).fingerprint }));
    assert.deepEqual((await applied(sink, deletes)).failed, []);
    const got = (await rib(g, 4)).filter((p) => p.prefix.startsWith('10.1') && Number(p.prefix.split('.')[1]) >= 100);
    assert.equal(got.length, n / 2);
    assert.ok(
      got.every((p) => p.nh === '192.0.2.32'),
      'only the replacing paths are left',
    );
    assert.deepEqual(
      got.map((p) => p.prefix).sort(),
      Array.from({ length: n }, (_, i) => pfx(i))
        .filter((_, i) => i % 2 === 1)
        .sort(),
    );
    // Clean up for the tests after this one.
    assert.deepEqual(
      (
        await applied(
          sink,
          b.filter((_, i) => i % 2 === 1).map((c) => ({ op: 'delete' as const, key: c.key, fingerprint: (c as { fingerprint: string }).fingerprint })),
        )
      ).failed,
      [],
    );
  });

  it('writes into a VRF it creates, and reads it back', async () => {
    const r = route('10.50.0.0/24', ['192.0.2.50'], { vrf: 'red' });
    const r6 = route('2001:db8:50::/48', ['2001:db8::50'], { vrf: 'red' });
    const rep = await applied(sink, upserts(sink, [r, r6]));
    assert.deepEqual(rep.failed, []);
    assert.deepEqual(
      (await rib(g, 4, 'red')).map((p) => [p.prefix, p.nh, p.large]),
      [['10.50.0.0/24', '192.0.2.50', [MARK]]],
    );
    assert.deepEqual(
      (await rib(g, 6, 'red')).map((p) => [p.prefix, p.nh]),
      [['2001:db8:50::/48', '2001:db8::50']],
    );
    const owned = await sink.readOwned();
    const p = sink.project(r);
    assert.ok('key' in p);
    assert.equal(p.key, 'vrf:red|10.50.0.0/24');
    assert.equal(owned.get(p.key), p.fingerprint);
    const missing = await applied(sink, upserts(sink, [route('10.51.0.0/24', ['192.0.2.51'], { vrf: 'blue' })]));
    assert.equal(missing.applied.length, 0);
    assert.match(missing.failed[0]!.error, /VRF "blue" does not exist/);
  });

  it('keeps its stream open when idle, and asks for a resync as soon as gobgpd refuses a path in it', async () => {
    const before = resyncs.length;
    const r = route('10.52.0.0/24', ['192.0.2.52'], { vrf: 'red' });
    // Somebody deletes the VRF behind the sink's back: gobgpd now refuses writes into it.
    execFileSync('gobgp', [...g.cliArgs, 'vrf', 'del', 'red']);
    const rep = await sink.apply(upserts(sink, [r]));
    assert.equal(rep.failed.length, 0, 'handed to the open stream; gobgpd answers later');
    // Nobody flushes: the refusal must still come through.
    await until(
      'a resync request',
      () => resyncs.length > before,
      () => resyncs,
    );
    assert.match(resyncs[resyncs.length - 1]!, /refused a bulk write/);
    // The resync the engine runs then repairs it: the read learns the VRF is gone, the write re-creates it.
    await sink.readOwned();
    assert.deepEqual((await applied(sink, upserts(sink, [r]))).failed, []);
    assert.deepEqual(
      (await rib(g, 4, 'red')).map((p) => p.prefix),
      ['10.52.0.0/24'],
    );
  });

  it('deletes only its own paths', async () => {
    const owned = await sink.readOwned();
    const rep = await applied(
      sink,
      [...owned].map(([key, fingerprint]) => ({ op: 'delete' as const, key, fingerprint })),
    );
    assert.deepEqual(rep.failed, []);
    assert.equal((await sink.readOwned()).size, 0);
    const left = (await rib(g, 4)).map((p) => `${p.prefix} ${p.nh}`);
    assert.deepEqual(left, ['10.1.0.0/24 192.0.2.98', '10.99.0.0/24 192.0.2.99']);
  });

  it('notices gobgpd restarting (kill -9) and asks for a resync that restores the routes', async () => {
    await applied(sink, upserts(sink, all));
    const before = resyncs.length;
    await g.kill9();
    await until(
      'sink down',
      () => sink.state() !== 'up',
      () => sink.state(),
    );
    await assert.rejects(sink.apply(upserts(sink, [v4])), /not connected/);
    await g.restart();
    // This restart's own request: earlier tests asked for resyncs of their own.
    const lost = (): boolean => resyncs.slice(before).some((r) => /^gobgpd connection lost/.test(r));
    await until(
      'the sink up again with a resync request saying the connection was lost',
      () => lost() && sink.state() === 'up',
      () => ({ state: sink.state(), resyncs: resyncs.slice(before) }),
    );
    const owned = await sink.readOwned();
    assert.equal(owned.size, 0, 'a restarted gobgpd has forgotten our paths');
    const rep = await applied(sink, upserts(sink, all));
    assert.deepEqual(rep.failed, []);
    assert.equal((await sink.readOwned()).size, all.length);
  });

  it('withdraws everything it owns on stop', async () => {
    execFileSync('gobgp', [...g.cliArgs, 'global', 'rib', 'add', '10.99.0.0/24', 'nexthop', '192.0.2.99', '-a', 'ipv4']);
    await sink.stop({ withdraw: true });
    assert.equal(sink.state(), 'stopped');
    assert.deepEqual(
      (await rib(g, 4)).map((p) => p.prefix),
      ['10.99.0.0/24'],
    );
    assert.deepEqual(await rib(g, 6), []);
  });
});

const alive = (f: () => Promise<boolean>) => f().catch(() => false);

describe("reading gobgpd's RIB over bare HTTP/2", () => {
  it("gives gobgpd's own error status and text, and UNAVAILABLE when nothing listens", async () => {
    const g = await startGobgpd();
    try {
      const client = new GobgpClient(g.grpcAddress);
      // A VRF gobgpd does not have: gobgpd answers with an error status, not a broken stream.
      await assert.rejects(
        listPathsBinary(client, 4, { vrf: 'no-such-vrf' }, () => undefined),
        (e: { code?: number; details?: string }) => {
          assert.notEqual(e.code, 0);
          assert.notEqual(e.code, 14);
          assert.match(e.details ?? '', /vrf|not found/i);
          return true;
        },
      );
      client.close();
    } finally {
      await g.stop();
    }
    const nobody = new GobgpClient(`127.0.0.1:${await freePort()}`);
    await assert.rejects(
      listPathsBinary(nobody, 4, {}, () => undefined),
      { code: 14 },
    );
    nobody.close();
  });
});

describe('gobgpd supervisor (sidecar)', () => {
  it('runs gobgpd from its generated config, restarts it when killed, stops it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtr-gobgpd-sup-'));
    const port = await freePort();
    const sup = new GobgpdSupervisor({
      configDir: dir,
      grpcAddress: `127.0.0.1:${port}`,
      logger: silentLogger(),
      global: { as: 65010, routerId: '192.0.2.10', listenPort: -1 },
      neighbors: [{ address: '192.0.2.200', peerAs: 65020, addPaths: true }],
      backoff: { initialMs: 100 },
    });
    const client = new GobgpClient(`127.0.0.1:${port}`);
    try {
      await sup.start();
      await until('gobgpd up', async () => await alive(async () => (await client.getBgp()).global?.asn === 65010));
      const peers = await client.listPeers();
      assert.equal(peers[0]?.conf?.neighbor_address, '192.0.2.200');
      assert.equal(peers[0]?.conf?.peer_asn, 65020);
      const first = sup.pid!;
      process.kill(first, 'SIGKILL');
      await until(
        'gobgpd restarted',
        async () => sup.pid !== undefined && sup.pid !== first && (await alive(async () => (await client.getBgp()).global?.asn === 65010)),
      );
      const last = sup.pid!;
      await sup.stop();
      assert.throws(() => process.kill(last, 0), /ESRCH/);
    } finally {
      await sup.stop();
      client.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
