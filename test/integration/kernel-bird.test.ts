/**
 * KernelSource with a real BIRD 2 in a namespace: static routes exported by BIRD's kernel protocol
 * arrive as protocol 12, follow a BIRD restart (deletes on exit, adds on start) and `birdc configure`,
 * and rtreflect always ends equal to the kernel's own view. Needs root, bird2 and the native addon.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createNetns, type Netns } from '../helpers/netns.js';
import { startBird, type TestBird } from '../helpers/bird.js';
import { eventually, heldRoutes, kernelRoutes, viewDiff } from '../helpers/kernel-view.js';
import { KernelSource } from '../../src/kernel/kernel-source.js';
import type { RouteEvent } from '../../src/kernel/route.js';
import { silentLogger } from '../../src/util/logger.js';

function birdConfig(opts: { without?: string[]; extra4?: string[] } = {}): string {
  const v4 = ['route 10.20.0.0/24 via 192.0.2.10;', 'route 10.20.1.0/24 via 192.0.2.10 weight 3 via 192.0.2.11;', 'route 10.20.2.0/24 blackhole;']
    .filter((l) => !(opts.without ?? []).some((p) => l.includes(p)))
    .concat(opts.extra4 ?? []);
  return `router id 192.0.2.1;
protocol device { }
protocol static s4 {
  ipv4;
  ${v4.join('\n  ')}
}
protocol static s6 {
  ipv6;
  route 2001:db8:20::/48 via 2001:db8:ffff::10;
  route 2001:db8:21::/48 via 2001:db8:ffff::10 via 2001:db8:ffff::11 weight 2;
}
ipv4 table t1000;
protocol static s1000 {
  ipv4 { table t1000; };
  route 10.21.0.0/24 via 192.0.2.12;
}
protocol kernel k4 { ipv4 { export all; }; merge paths on; }
protocol kernel k6 { ipv6 { export all; }; merge paths on; }
protocol kernel k1000 { ipv4 { table t1000; export all; }; kernel table 1000; }
`;
}

/** Prefixes BIRD exports with birdConfig() and no options. */
const EXPORTED = ['10.20.0.0/24', '10.20.1.0/24', '10.20.2.0/24', '10.21.0.0/24', '2001:db8:20::/48', '2001:db8:21::/48'];

describe('KernelSource with a real BIRD', () => {
  let ns: Netns;
  let bird: TestBird | undefined;
  let src: KernelSource | undefined;
  const events: RouteEvent[] = [];

  const mismatch = async (): Promise<string> =>
    viewDiff(
      await kernelRoutes(ns.name),
      heldRoutes(src!.routes(), (i) => src!.ifname(i)),
    );
  const held = (): string[] => [...src!.routes()].map((r) => r.prefix).sort();

  before(async () => {
    ns = await createNetns('kbird');
    await ns.execBatch([
      'link add v0 type veth peer name v1',
      'link set v0 up',
      'link set v1 up',
      'addr add 192.0.2.1/24 dev v0',
      'addr add 2001:db8:ffff::1/64 dev v0 nodad',
    ]);
    src = new KernelSource({
      protocols: [12],
      tables: null,
      families: [4, 6],
      receiveBufferBytes: 8 * 1024 * 1024,
      bpfFilter: true,
      resyncMinIntervalMs: 100,
      netns: ns.name,
      logger: silentLogger(),
    });
    src.on('event', (ev: RouteEvent) => events.push(ev));
    await src.start();
  });
  after(async () => {
    src?.close();
    try {
      await bird?.destroy();
    } finally {
      await ns?.destroy();
    }
  });

  it("BIRD's static routes reach rtreflect as protocol 12, multipath with weights, table 1000, IPv6", async () => {
    bird = await startBird({ netns: ns.name, config: birdConfig() });
    await eventually(
      async () => (held().join() === [...EXPORTED].sort().join() ? mismatch() : `rtreflect holds ${held().join(', ')}`),
      "BIRD's routes in the kernel and in rtreflect",
    );
    const routes = [...src!.routes()];
    assert.ok(
      routes.every((r) => r.protocol === 12),
      'BIRD installs routes as protocol 12 (bird)',
    );
    const byPrefix = new Map(routes.map((r) => [r.prefix, r]));
    assert.deepEqual(
      byPrefix.get('10.20.1.0/24')?.nexthops.map((n) => `${n.gateway}*${n.weight}`),
      ['192.0.2.10*3', '192.0.2.11*1'],
    );
    assert.equal(byPrefix.get('10.20.2.0/24')?.type, 'blackhole');
    assert.equal(byPrefix.get('10.21.0.0/24')?.table, 1000);
    assert.deepEqual(
      byPrefix.get('2001:db8:21::/48')?.nexthops.map((n) => `${n.gateway}*${n.weight}`),
      ['2001:db8:ffff::10*1', '2001:db8:ffff::11*2'],
    );
    assert.ok(events.every((e) => e.op === 'add'));
  });

  it("a BIRD restart: the deletes when it exits, the adds when it is back, and the kernel's set at the end", async () => {
    assert.ok(bird, 'BIRD runs (previous test)');
    const before = held();
    const mark = events.length;
    await bird.stop();
    await eventually(
      async () => (src!.size === 0 ? mismatch() : `rtreflect still holds ${held().join(', ')}`),
      "BIRD's routes to go (no persist: BIRD removes them on exit)",
    );
    const gone = events.slice(mark);
    assert.ok(
      gone.every((e) => e.op === 'del'),
      gone.map((e) => `${e.op} ${e.route.prefix}`).join('; '),
    );
    assert.deepEqual(gone.map((e) => e.route.prefix).sort(), before);
    const mark2 = events.length;
    await bird.start();
    await eventually(async () => (held().join() === before.join() ? mismatch() : `rtreflect holds ${held().join(', ')}`), "BIRD's routes back");
    const back = events.slice(mark2);
    assert.ok(
      back.every((e) => e.op === 'add'),
      back.map((e) => `${e.op} ${e.route.prefix}`).join('; '),
    );
    assert.deepEqual(back.map((e) => e.route.prefix).sort(), before);
  });

  it('birdc configure after editing the config: a route added, one removed, one changed', async () => {
    assert.ok(bird, 'BIRD runs (previous tests)');
    const mark = events.length;
    bird.writeConfig(
      birdConfig({ without: ['10.20.0.0/24', '10.20.1.0/24'], extra4: ['route 10.20.3.0/24 via 192.0.2.12;', 'route 10.20.1.0/24 via 192.0.2.13;'] }),
    );
    await bird.configure();
    // The whole reconfiguration, not its first step: BIRD's kernel protocol applies the three changes one by one.
    const want = ['10.20.1.0/24', '10.20.2.0/24', '10.20.3.0/24', '10.21.0.0/24', '2001:db8:20::/48', '2001:db8:21::/48'];
    const via = (prefix: string): string =>
      [...src!.routes()]
        .find((r) => r.prefix === prefix)
        ?.nexthops.map((n) => n.gateway)
        .join(',') ?? 'nothing';
    await eventually(
      async () =>
        held().join() === want.join() && via('10.20.1.0/24') === '192.0.2.13'
          ? mismatch()
          : `rtreflect holds ${held().join(', ')}; 10.20.1.0/24 via ${via('10.20.1.0/24')}`,
      'the reconfigured routes',
    );
    // Settle: the set must stay equal (no late, stale event).
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await mismatch(), '');
    const seen = events.slice(mark).map((e) => `${e.op} ${e.route.prefix} ${e.route.nexthops.map((n) => n.gateway).join(',')}`.trimEnd());
    assert.deepEqual([...seen].sort(), ['add 10.20.1.0/24 192.0.2.13', 'add 10.20.3.0/24 192.0.2.12', 'del 10.20.0.0/24 192.0.2.10']);
  });
});
