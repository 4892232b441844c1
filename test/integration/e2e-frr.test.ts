/**
 * End to end with FRR as the routing daemon: FRR's zebra, staticd and bgpd (learning routes from an
 * upstream gobgpd) in namespace A install routes with FRR's own protocol numbers (bgp 186, static 196)
 * as nexthop objects → kernel → `rtreflect run` (protocols by name) → gobgpd A (sidecar) → eBGP →
 * gobgpd B. After every change, B's paths must equal what `ip route show proto 186/196` lists:
 * add, ECMP (a nexthop group), next-hop change, a nexthop object or group replaced in place (routes
 * untouched), a nexthop object deleted, FRR restarted gracefully and not, link down.
 *
 * Zebra answers a change made to its nexthop objects behind its back by putting them back. To see the
 * kernel's in-place change alone, zebra is paused (SIGSTOP) while it is made, and resumed after.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { E2eTopology, execOutcome } from '../helpers/e2e-topology.js';
import { eventually } from '../helpers/kernel-view.js';
import { cliArgs } from '../helpers/cli-process.js';
import { Frr, Upstream, frrBgpConfig, frrMissing, frrSecondSession, UPSTREAM_V4, UPSTREAM_V4_2 } from '../helpers/frr.js';
import { packageRoot } from '../../src/util/package-info.js';

const PROTO_BGP = 186;
const PROTO_STATIC = 196;

interface IpHop {
  gateway?: string;
  dev?: string;
  flags?: string[];
}
interface IpRoute extends IpHop {
  dst: string;
  nhid?: number;
  protocol?: string;
  nexthops?: IpHop[];
  metric?: number;
}
interface IpNexthop {
  id: number;
  gateway?: string;
  dev?: string;
  group?: { id: number }[];
}

async function ipJson<T>(ns: string, args: string[]): Promise<T[]> {
  const r = await execOutcome('ip', ['-j', '-n', ns, ...args]);
  if (r.code !== 0) throw new Error(`ip -j -n ${ns} ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout.trim() ? (JSON.parse(r.stdout) as T[]) : [];
}

/** `ip -j route show proto P` for both families, as the kernel lists it (protocol: P's name, which ip leaves out when filtering). */
async function ipRoutes(ns: string, protocols: number[]): Promise<IpRoute[]> {
  const out: IpRoute[] = [];
  for (const p of protocols) {
    for (const fam of ['-4', '-6']) {
      const rows = await ipJson<IpRoute>(ns, [fam, 'route', 'show', 'proto', String(p)]);
      out.push(...rows.map((r) => ({ ...r, protocol: p === PROTO_BGP ? 'bgp' : p === PROTO_STATIC ? 'static' : String(p) })));
    }
  }
  return out;
}

const prefixOf = (dst: string): string => (dst.includes('/') ? dst : `${dst}/${dst.includes(':') ? 128 : 32}`);

/** prefix → sorted gateways of the usable next hops, as a BGP peer should see them. */
function expectedFrom(routes: IpRoute[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of routes) {
    const hops = (r.nexthops ?? [r]).filter((h) => !(h.flags ?? []).some((f) => f === 'dead' || f === 'linkdown'));
    if (hops.length > 0) out.set(prefixOf(r.dst), hops.map((h) => h.gateway ?? '').sort());
  }
  return out;
}

function mapDiff(expected: Map<string, string[]>, seen: Map<string, string[]>): string {
  const lines: string[] = [];
  for (const [k, v] of expected)
    if (seen.get(k)?.join(',') !== v.join(',')) lines.push(`${k}: kernel ${v.join(',')}, B ${seen.get(k)?.join(',') ?? 'nothing'}`);
  for (const [k, v] of seen) if (!expected.has(k)) lines.push(`${k}: kernel nothing, B ${v.join(',')}`);
  return lines.length === 0 ? '' : `${lines.length} differences:\n  ${lines.join('\n  ')}`;
}

describe('FRR (zebra, staticd, bgpd) → kernel → rtreflect run → GoBGP → BGP peer', { timeout: 600_000, skip: frrMissing() }, () => {
  let t: E2eTopology;
  let up: Upstream;
  let frr: Frr;

  const route = async (prefix: string): Promise<IpRoute | undefined> =>
    (await ipRoutes(t.a.name, [PROTO_BGP, PROTO_STATIC])).find((r) => prefixOf(r.dst) === prefix);
  const nexthops = (): Promise<IpNexthop[]> => ipJson<IpNexthop>(t.a.name, ['nexthop', 'show']);

  /** Waits until the kernel satisfies `ok` (a change FRR makes asynchronously has landed). */
  async function kernelReaches(what: string, ok: (routes: IpRoute[]) => boolean, limitMs = 60_000): Promise<IpRoute[]> {
    let last: IpRoute[] = [];
    await eventually(
      async () => {
        last = await ipRoutes(t.a.name, [PROTO_BGP, PROTO_STATIC]);
        return ok(last) ? '' : `kernel has ${JSON.stringify(last)}`;
      },
      `the kernel: ${what}`,
      limitMs,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${frr.logs()}`);
    });
    return last;
  }

  /** B's paths from rtreflect equal what `ip route show proto 186/196` lists, at one moment. */
  async function ribEqualsKernel(what: string, limitMs = 60_000): Promise<void> {
    await eventually(
      async () => {
        const expected = expectedFrom(await ipRoutes(t.a.name, [PROTO_BGP, PROTO_STATIC]));
        return mapDiff(expected, await t.ownedInB());
      },
      `B's RIB to equal ip route show proto bgp/static (${what})`,
      limitMs,
      200,
    );
  }

  async function startFrr(zebraArgs: string[]): Promise<void> {
    await frr.start('zebra', '', zebraArgs);
    await frr.start(
      'staticd',
      [
        'ip route 198.51.100.0/24 192.0.2.10',
        'ip route 198.51.101.0/24 192.0.2.10',
        'ip route 198.51.101.0/24 192.0.2.11',
        'ip route 198.51.103.0/24 192.0.2.14',
        'ipv6 route 2001:db8:1::/48 2001:db8:ffff::10',
      ].join('\n'),
    );
    await frr.start('bgpd', frrBgpConfig());
  }

  /**
   * Clients first: each takes its routes out of zebra as it goes. With `zebraFirst`, zebra goes first
   * (with -r it leaves every route in the kernel) and the clients, cut off from it, remove nothing.
   */
  async function stopFrr(zebraFirst = false): Promise<void> {
    for (const d of zebraFirst ? (['zebra', 'bgpd', 'staticd'] as const) : (['bgpd', 'staticd', 'zebra'] as const)) await frr.stop(d);
  }

  before(async () => {
    t = await E2eTopology.create({ tag: 'frr', sidecar: true });
    frr = new Frr(t.a.name, 'e2e');
    up = await Upstream.create(t.a, 'frr', t.dir);
    await up.gobgp(['global', 'rib', 'add', '203.0.113.0/24', '-a', 'ipv4']);
    await up.gobgp(['global', 'rib', 'add', '203.0.114.0/24', '-a', 'ipv4']);
    // -r: zebra leaves its routes in the kernel when it stops (the graceful restart needs that).
    await startFrr(['-r']);
    t.writeConfig(`source: { protocols: [bgp, static], tables: [main], families: [4, 6] }
engine: { holdDown: { enabled: false } }
${t.sinkYaml()}`);
    await t.startRtreflect();
    await t.waitEstablished();
    await up.waitEstablished();
  });

  after(async () => {
    await frr?.destroy();
    await up?.destroy();
    await t?.destroy();
  });

  it("reflects FRR's static and BGP routes, installed as nexthop objects, by protocol name", async () => {
    const routes = await kernelReaches(
      '3 static IPv4 + 1 IPv6 + 2 BGP routes',
      (rs) => rs.filter((r) => r.protocol === 'static').length === 4 && rs.filter((r) => r.protocol === 'bgp').length === 2,
    );
    assert.ok(
      routes.every((r) => typeof r.nhid === 'number'),
      `zebra installs every route over a nexthop object: ${JSON.stringify(routes)}`,
    );
    await ribEqualsKernel('after FRR installed its routes');
    const b = await t.ownedInB();
    assert.deepEqual(b.get('203.0.113.0/24'), [UPSTREAM_V4]);
    assert.deepEqual(b.get('2001:db8:1::/48'), ['2001:db8:ffff::10']);
  });

  it('follows BGP: a route the upstream withdraws leaves the kernel and B, and comes back with it', async () => {
    await up.gobgp(['global', 'rib', 'del', '203.0.114.0/24', '-a', 'ipv4']);
    await kernelReaches('203.0.114.0/24 withdrawn by bgpd', (rs) => !rs.some((r) => r.dst === '203.0.114.0/24'));
    await ribEqualsKernel('BGP withdrawal');
    assert.equal((await t.ownedInB()).get('203.0.114.0/24'), undefined);
    await up.gobgp(['global', 'rib', 'add', '203.0.114.0/24', '-a', 'ipv4']);
    await kernelReaches('203.0.114.0/24 back', (rs) => rs.some((r) => r.dst === '203.0.114.0/24'));
    await ribEqualsKernel('BGP route back');
    assert.deepEqual((await t.ownedInB()).get('203.0.114.0/24'), [UPSTREAM_V4]);
  });

  it('announces a static ECMP route (a nexthop group) as one path per next hop', async () => {
    const r = await route('198.51.101.0/24');
    const group = (await nexthops()).find((n) => n.id === r?.nhid);
    assert.equal(group?.group?.length, 2, `198.51.101.0/24 uses a group of two: ${JSON.stringify(group)}`);
    await ribEqualsKernel('ECMP');
    assert.deepEqual((await t.ownedInB()).get('198.51.101.0/24'), ['192.0.2.10', '192.0.2.11']);
  });

  it('announces BGP multipath (two sessions, a nexthop group) as one path per next hop, and one again when a session goes', async () => {
    await frr.configure(frrSecondSession(true));
    await up.waitEstablished(2);
    const routes = await kernelReaches('203.0.113.0/24 over both upstream addresses', (rs) =>
      rs.some((r) => r.dst === '203.0.113.0/24' && r.nexthops?.length === 2),
    );
    const group = (await nexthops()).find((n) => n.id === routes.find((r) => r.dst === '203.0.113.0/24')!.nhid);
    assert.equal(group?.group?.length, 2, `bgpd's multipath is a group of two: ${JSON.stringify(group)}`);
    await ribEqualsKernel('BGP multipath');
    assert.deepEqual((await t.ownedInB()).get('203.0.113.0/24'), [UPSTREAM_V4, UPSTREAM_V4_2]);
    await frr.configure(frrSecondSession(false));
    await kernelReaches('203.0.113.0/24 over one address again', (rs) =>
      rs.some((r) => r.dst === '203.0.113.0/24' && !r.nexthops && r.gateway === UPSTREAM_V4),
    );
    await ribEqualsKernel('one session left');
    assert.deepEqual((await t.ownedInB()).get('203.0.113.0/24'), [UPSTREAM_V4]);
  });

  it('follows a next-hop change made in FRR (the route moves to another nexthop object)', async () => {
    const before = await route('198.51.100.0/24');
    await frr.configure(['ip route 198.51.100.0/24 192.0.2.12', 'no ip route 198.51.100.0/24 192.0.2.10']);
    const after = (await kernelReaches('198.51.100.0/24 via .12 only', (rs) => rs.some((r) => r.dst === '198.51.100.0/24' && r.gateway === '192.0.2.12'))).find(
      (r) => r.dst === '198.51.100.0/24',
    )!;
    assert.notEqual(after.nhid, before?.nhid, 'zebra moved the route to another nexthop object');
    await ribEqualsKernel('next-hop change');
    assert.deepEqual((await t.ownedInB()).get('198.51.100.0/24'), ['192.0.2.12']);
  });

  it('follows a nexthop object and a group replaced in place (routes untouched), and zebra putting them back', async () => {
    const single = (await route('198.51.103.0/24'))!;
    const ecmp = (await route('198.51.101.0/24'))!;
    const members = (await nexthops()).find((n) => n.id === ecmp.nhid)!.group!.map((g) => g.id);
    frr.pause('zebra');
    try {
      await t.a.execBatch([`nexthop replace id ${single.nhid} via 192.0.2.13 dev nh0`, `nexthop replace id ${ecmp.nhid} group ${members[0]}`]);
      await kernelReaches(
        'the replaced objects, same nhids',
        (rs) =>
          rs.some((r) => r.dst === '198.51.103.0/24' && r.nhid === single.nhid && r.gateway === '192.0.2.13') &&
          rs.some((r) => r.dst === '198.51.101.0/24' && r.nhid === ecmp.nhid && !r.nexthops),
      );
      await ribEqualsKernel('objects replaced in place');
      assert.deepEqual((await t.ownedInB()).get('198.51.103.0/24'), ['192.0.2.13']);
      assert.equal((await t.ownedInB()).get('198.51.101.0/24')?.length, 1);
    } finally {
      frr.resume('zebra');
    }
    // Zebra sees its objects changed and sends them back down: in place again, by FRR itself.
    await kernelReaches(
      'zebra restored both objects',
      (rs) =>
        rs.some((r) => r.dst === '198.51.103.0/24' && r.gateway === '192.0.2.14') && rs.some((r) => r.dst === '198.51.101.0/24' && r.nexthops?.length === 2),
    );
    await ribEqualsKernel('objects restored by zebra');
    assert.deepEqual((await t.ownedInB()).get('198.51.103.0/24'), ['192.0.2.14']);
    assert.deepEqual((await t.ownedInB()).get('198.51.101.0/24'), ['192.0.2.10', '192.0.2.11']);
  });

  it("drops the routes of a deleted nexthop object (the kernel says nothing of them), and follows zebra's repair", async () => {
    const single = (await route('198.51.103.0/24'))!;
    frr.pause('zebra');
    try {
      await t.a.execBatch([`nexthop del id ${single.nhid}`]);
      await kernelReaches('198.51.103.0/24 gone with its object', (rs) => !rs.some((r) => r.dst === '198.51.103.0/24'));
      await ribEqualsKernel('nexthop object deleted');
      assert.equal((await t.ownedInB()).get('198.51.103.0/24'), undefined);
    } finally {
      frr.resume('zebra');
    }
    await eventually(
      async () => ((await nexthops()).some((n) => n.id === single.nhid) ? '' : 'not yet'),
      `zebra to send nexthop ${single.nhid} back down`,
      60_000,
      200,
    );
    await ribEqualsKernel('after zebra re-created the object');
  });

  it('keeps every path while FRR is down after a graceful stop (zebra -r), and follows its restart (-K)', async () => {
    const expected = expectedFrom(await ipRoutes(t.a.name, [PROTO_BGP, PROTO_STATIC]));
    const oldIds = new Set((await ipRoutes(t.a.name, [PROTO_BGP, PROTO_STATIC])).map((r) => r.nhid));
    const before = await t.countersB();
    await stopFrr(true);
    // -r: the routes stay in the kernel after zebra is gone, and so they stay in B.
    assert.equal(mapDiff(expected, expectedFrom(await ipRoutes(t.a.name, [PROTO_BGP, PROTO_STATIC]))), '', 'zebra -r retained its routes');
    await ribEqualsKernel('FRR stopped, routes retained');
    assert.equal((await t.countersB()).withdrawPrefixIn, before.withdrawPrefixIn, 'B was sent no withdrawal');
    // -K: zebra keeps what it finds in the kernel while its clients re-learn it, then moves each route to its new objects.
    await startFrr(['-r', '-K', '60']);
    await up.waitEstablished();
    await kernelReaches('FRR re-installed its IPv4 routes over new nexthop objects', (rs) => {
      const v4 = rs.filter((r) => !r.dst.includes(':'));
      return v4.length === 5 && v4.every((r) => !oldIds.has(r.nhid));
    });
    await ribEqualsKernel('after the graceful restart');
  });

  it('withdraws and re-announces through an FRR restart without -r', async () => {
    await stopFrr();
    await startFrr([]);
    await stopFrr();
    await kernelReaches('zebra removed its routes at exit', (rs) => rs.length === 0);
    await ribEqualsKernel('FRR stopped');
    assert.equal((await t.ownedInB()).size, 0);
    await startFrr([]);
    await up.waitEstablished();
    await kernelReaches('FRR re-installed its routes', (rs) => rs.length === 6);
    await ribEqualsKernel('FRR started again');
  });

  it('drops the routes over a link that goes down, and has them back when it comes up', async () => {
    // As on a router whose addresses are configured statically: IPv6 keeps its address over a link flap.
    await t.a.exec('sysctl', ['-qw', 'net.ipv6.conf.nh0.keep_addr_on_down=1']);
    await t.a.execBatch(['link set nh0 down']);
    await kernelReaches('no route over nh0', (rs) => rs.every((r) => r.protocol === 'bgp'));
    await ribEqualsKernel('link down');
    assert.deepEqual([...(await t.ownedInB()).keys()].sort(), ['203.0.113.0/24', '203.0.114.0/24']);
    await t.a.execBatch(['link set nh0 up']);
    await kernelReaches('the static routes back', (rs) => rs.filter((r) => r.protocol === 'static').length === 4);
    await ribEqualsKernel('link up');
  });

  it('rtreflect watch -p bgp / 186 / static prints what ip -j route show proto bgp / 196 lists', async () => {
    for (const [arg, proto] of [
      ['bgp', PROTO_BGP],
      ['186', PROTO_BGP],
      ['static', PROTO_STATIC],
      ['196', PROTO_STATIC],
    ] as const) {
      const kernel = (await ipRoutes(t.a.name, [proto]))
        .map(
          (r) =>
            `${prefixOf(r.dst)} nhid ${r.nhid} ${(r.nexthops ?? [r])
              .map((h) => `${h.gateway}@${h.dev}`)
              .sort()
              .join(',')}`,
        )
        .sort();
      assert.ok(kernel.length > 0, `the kernel has proto ${proto} routes`);
      const watched = await watchSnapshot(t.a.name, arg);
      assert.deepEqual(watched, kernel, `rtreflect watch -p ${arg} against ip -j route show proto ${proto}`);
    }
  });
});

/** The routes `rtreflect watch --json -p P --netns NS` prints before "snapshot-end", as "prefix nhid N gw@dev,...". */
async function watchSnapshot(ns: string, protocol: string): Promise<string[]> {
  const child = spawn(process.execPath, [...cliArgs(), 'watch', '--json', '--netns', ns, '-p', protocol], {
    cwd: packageRoot(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '',
    err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  try {
    await eventually(
      () => {
        if (child.exitCode !== null) throw new Error(`rtreflect watch exited ${child.exitCode}: ${err}`);
        return out.includes('"snapshot-end"') ? '' : 'no snapshot-end yet';
      },
      `rtreflect watch -p ${protocol} to print its snapshot`,
      30_000,
      50,
    );
  } finally {
    child.kill('SIGTERM');
  }
  interface Line {
    event: string;
    route?: { prefix: string; nhid?: number; nexthops: { gateway?: string; ifname?: string }[] };
  }
  return out
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line)
    .filter((l) => l.event === 'snapshot')
    .map(
      (l) =>
        `${l.route!.prefix} nhid ${l.route!.nhid} ${l
          .route!.nexthops.map((h) => `${h.gateway}@${h.ifname}`)
          .sort()
          .join(',')}`,
    )
    .sort();
}
