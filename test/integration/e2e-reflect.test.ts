/**
 * End to end: BIRD → kernel (proto bird) → `rtreflect run` → gobgpd A (rtreflect's
 * sidecar) → eBGP with add-paths → gobgpd B. Everything is asserted in what B
 * (or, for VRFs, gobgpd A) holds.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { E2eTopology, waitFor, type RibPath } from '../helpers/e2e-topology.js';

const nhs = (ps: RibPath[]): string[] => ps.map((p) => p.nextHop).sort();

const USER_HANDLER = `// Test handler: tags one prefix with a community, drops another.
export const apiVersion = 1;
export function create(options) {
  if (typeof options.tag !== 'string') throw new Error('options.tag: expected a prefix');
  return {
    name: 'tagger',
    process(route) {
      if (route.prefix === options.drop) return null;
      if (route.prefix !== options.tag) return route;
      const out = Object.assign({}, route);
      out.bgp = Object.assign({}, route.bgp, { communities: [...(route.bgp?.communities ?? []), options.community] });
      return out;
    },
  };
}
`;

describe('rtreflect run: BIRD → kernel → GoBGP (sidecar) → BGP peer', { timeout: 300_000 }, () => {
  let t: E2eTopology;

  before(async () => {
    t = await E2eTopology.create({ tag: 'e2er', sidecar: true });
    mkdirSync(join(t.dir, 'handlers'));
    writeFileSync(join(t.dir, 'handlers', 'tagger.mjs'), USER_HANDLER);
    await t.startBird({
      v4: [
        'route 198.51.100.0/24 via 192.0.2.10;',
        'route 198.51.101.0/24 via 192.0.2.10 via 192.0.2.11;',
        'route 198.18.5.0/24 via 192.0.2.10;',
        'route 198.51.104.0/24 via 192.0.2.10;',
        'route 198.51.105.0/24 via 192.0.2.10;',
      ],
      v6: ['route 2001:db8:1::/48 via 2001:db8:ffff::10;'],
      table100: ['route 198.51.102.0/24 via 192.0.2.10;'],
    });
    t.writeConfig(`source: { protocols: [bird], tables: [main, 100], families: [4, 6] }
engine: { holdDown: { enabled: false } }
handlers:
  - type: prefix-list
    name: no-benchmarking
    default: permit
    entries: [{ action: deny, prefix: 198.18.0.0/15, le: 32 }]
  - type: vrf-map
    tables: { "100": blue }
  - type: next-hop
    name: nh-v6
    address: "2001:db8:ffff::99"
    families: [6]
  - type: bgp-attributes
    name: tag-203
    medFromMetric: true
    communities: ["65001:300"]
    match: { prefixes: [{ prefix: 203.0.113.0/24, le: 32 }] }
  - module: ./handlers/tagger.mjs
    options: { tag: 198.51.104.0/24, community: "65001:777", drop: 198.51.105.0/24 }
${t.sinkYaml(`
    vrfs: { blue: { rd: "65001:100", rt: ["65001:100"] } }
    createVrfs: true`)}`);
    await t.startRtreflect();
    await t.waitEstablished();
  });

  after(async () => {
    await t?.destroy();
  });

  it('reflects BIRD routes, IPv4 and IPv6, with their next hops', async () => {
    const v4 = await t.waitPathsB('198.51.100.0/24', 'one path via 192.0.2.10', (ps) => ps.length === 1);
    assert.deepEqual(nhs(v4), ['192.0.2.10']);
    assert.equal(v4[0]!.neighbor, '10.255.0.1');
    // The ownership mark travels with every path rtreflect injects.
    assert.deepEqual(v4[0]!.largeCommunities, ['4294967294:0:1']);
    // IPv6: the next-hop handler (families: [6]) rewrote the BGP next hop.
    const v6 = await t.waitPathsB('2001:db8:1::/48', 'one path', (ps) => ps.length === 1);
    assert.deepEqual(nhs(v6), ['2001:db8:ffff::99']);
  });

  it('announces an ECMP route as one add-path per next hop', async () => {
    const ps = await t.waitPathsB('198.51.101.0/24', 'two paths', (p) => p.length === 2);
    assert.deepEqual(nhs(ps), ['192.0.2.10', '192.0.2.11']);
  });

  it('reflects a route added with ip route ... proto bird, and not one with proto static', async () => {
    // The static one goes first: had it been reflected, it would be in B before the bird one.
    await t.a.execBatch(['route add 198.51.106.0/24 via 192.0.2.10 proto static']);
    await t.a.execBatch(['route add 198.51.107.0/24 via 192.0.2.10 proto bird']);
    await t.waitPathsB('198.51.107.0/24', 'reflected', (p) => p.length === 1);
    // A later write flushes anything still in flight before we look for the static route.
    await t.a.execBatch(['route add 198.51.110.0/24 via 192.0.2.10 proto bird']);
    await t.waitPathsB('198.51.110.0/24', 'reflected', (p) => p.length === 1);
    assert.deepEqual(await t.pathsB('198.51.106.0/24'), []);
  });

  it('withdraws a deleted route', async () => {
    await t.a.execBatch(['route add 198.51.111.0/24 via 192.0.2.10 proto bird']);
    await t.waitPathsB('198.51.111.0/24', 'reflected', (p) => p.length === 1);
    await t.a.execBatch(['route del 198.51.111.0/24 proto bird']);
    await t.waitPathsB('198.51.111.0/24', 'withdrawn', (p) => p.length === 0);
    const st = await t.status();
    assert.ok(st.sinks[0]!.deletes >= 1, 'the sink counted the delete');
  });

  it('replaces the next hop: B ends with only the new one', async () => {
    await t.a.execBatch(['route add 198.51.108.0/24 via 192.0.2.10 proto bird']);
    await t.waitPathsB('198.51.108.0/24', 'via .10', (p) => p.length === 1 && p[0]!.nextHop === '192.0.2.10');
    await t.a.execBatch(['route replace 198.51.108.0/24 via 192.0.2.12 proto bird']);
    const ps = await t.waitPathsB('198.51.108.0/24', 'only via .12', (p) => p.length === 1 && p[0]!.nextHop === '192.0.2.12');
    assert.deepEqual(nhs(ps), ['192.0.2.12']);
  });

  it('shrinks an ECMP route: the next hop that left is withdrawn from B', async () => {
    await t.a.execBatch(['route add 198.51.109.0/24 proto bird nexthop via 192.0.2.10 nexthop via 192.0.2.11']);
    await t.waitPathsB('198.51.109.0/24', 'two paths', (p) => p.length === 2);
    await t.a.execBatch(['route replace 198.51.109.0/24 via 192.0.2.11 proto bird']);
    const ps = await t.waitPathsB('198.51.109.0/24', 'only .11', (p) => p.length === 1);
    assert.deepEqual(nhs(ps), ['192.0.2.11']);
  });

  it('puts kernel table 100 into VRF blue (created in gobgpd A), not the global table', async () => {
    let inVrf: RibPath[] = [];
    await waitFor('198.51.102.0/24 in VRF blue of gobgpd A', async () => {
      inVrf = (await t.ribA(4, 'blue').catch(() => [])).filter((p) => p.prefix === '198.51.102.0/24');
      return inVrf.length > 0 ? true : undefined;
    }).catch((err: Error) => {
      throw new Error(`${err.message}; VRF blue in A: ${JSON.stringify(inVrf)}`);
    });
    assert.equal(inVrf.length, 1, `VRF blue in A: ${JSON.stringify(inVrf)}`);
    assert.equal(inVrf[0]!.nextHop, '192.0.2.10');
    const global = (await t.ribA(4)).filter((p) => p.prefix === '198.51.102.0/24');
    assert.deepEqual(global, []);
    assert.deepEqual(await t.pathsB('198.51.102.0/24'), []);
  });

  it('filters and rewrites: prefix-list deny, MED from metric and community on matching routes only', async () => {
    // 198.51.100.0/24 is in B (first test), so the chain has run over all of BIRD's routes.
    await t.waitPathsB('198.51.100.0/24', 'present', (p) => p.length === 1);
    assert.deepEqual(await t.pathsB('198.18.5.0/24'), [], 'denied by the prefix list');
    await t.a.execBatch(['route add 203.0.113.0/25 via 192.0.2.10 proto bird metric 77']);
    const tagged = await t.waitPathsB('203.0.113.0/25', 'present', (p) => p.length === 1);
    assert.equal(tagged[0]!.med, 77);
    assert.deepEqual(tagged[0]!.communities, ['65001:300']);
    // The same prefix with a lower metric wins, as in the kernel; when it goes, the other is back.
    await t.a.execBatch(['route add 203.0.113.0/25 via 192.0.2.11 proto bird metric 50']);
    await t.waitPathsB('203.0.113.0/25', 'MED 50 via .11 only', (p) => p.length === 1 && p[0]!.med === 50 && p[0]!.nextHop === '192.0.2.11');
    await t.a.execBatch(['route del 203.0.113.0/25 via 192.0.2.11 proto bird metric 50']);
    await t.waitPathsB('203.0.113.0/25', 'MED 77 via .10 again', (p) => p.length === 1 && p[0]!.med === 77 && p[0]!.nextHop === '192.0.2.10');
    const plain = await t.pathsB('198.51.100.0/24');
    assert.equal(plain[0]!.med, undefined, 'no match, no MED');
    assert.deepEqual(plain[0]!.communities, []);
  });

  it('runs a user handler loaded from a file named by relative path', async () => {
    const ps = await t.waitPathsB('198.51.104.0/24', 'present', (p) => p.length === 1);
    assert.deepEqual(ps[0]!.communities, ['65001:777']);
    assert.deepEqual(await t.pathsB('198.51.105.0/24'), [], 'dropped by the user handler');
    const st = (await t.status()) as unknown as { handlers: { name: string }[] };
    assert.ok(
      st.handlers.some((h) => h.name === 'tagger'),
      JSON.stringify(st.handlers),
    );
  });
});
