import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAttrs, decodePrefixNlri } from '../../src/sinks/gobgp/bgp-wire.js';
import {
  encodePlan,
  fingerprintFromRead,
  fingerprintOf,
  idsOfFingerprint,
  parseCanonicalV4Prefix,
  parseGobgpKey,
  parseOwnershipMark,
  pathIdFor,
  planRoute,
  type PathPlan,
} from '../../src/sinks/gobgp/gobgp-paths.js';
import { assertDeleteNamesPath } from '../../src/sinks/gobgp/gobgp-api.js';
import { createGobgpSink } from '../../src/sinks/gobgp/gobgp-sink.js';
import { streamOf } from '../../src/sinks/gobgp/gobgp-writer.js';
import { gobgpSinkType } from '../../src/sinks/gobgp/index.js';
import { sinkOptions } from '../../src/sinks/sink-type.js';
import { silentLogger } from '../../src/util/logger.js';
import { formatPrefix, parsePrefix } from '../../src/util/ip.js';
import type { ReflectedRoute } from '../../src/engine/reflected-route.js';
import { route } from '../helpers/route-fixture.js';

const mark = parseOwnershipMark({ largeCommunity: '4294967294:0:1' });

/** What readOwned would rebuild from the bytes we send. */
function roundTrip(plan: PathPlan): string {
  const paths = encodePlan(plan).map((p) => ({
    prefix: decodePrefixNlri(p.nlri_binary, plan.prefix.family).prefix,
    id: p.identifier,
    attrs: decodeAttrs(p.pattrs_binary),
  }));
  return fingerprintFromRead(plan.vrf, paths.reverse());
}

describe('gobgp path planning', () => {
  const cases: [string, ReflectedRoute][] = [
    [
      'IPv4 with attributes',
      route('10.1.0.0/24', ['192.0.2.1'], { bgp: { med: 0, localPref: 100, communities: ['65000:2', '65000:1', '65000:2'], largeCommunities: ['1:2:3'] } }),
    ],
    ['IPv6', route('2001:db8::/32', ['2001:db8::1'])],
    ['ECMP', route('10.2.0.0/24', ['192.0.2.22', '192.0.2.21', '192.0.2.23'])],
    ['blackhole', route('10.3.0.0/16', [], { type: 'blackhole' })],
    ['IPv4 via IPv6', route('10.4.0.0/24', ['2001:db8::4'])],
    ['VRF', route('10.5.0.0/24', ['192.0.2.5'], { vrf: 'red' })],
    ['next hop self', route('2001:db8:6::/48', ['2001:db8::6'], { bgp: { nextHop: 'self' } })],
  ];
  for (const [name, r] of cases) {
    it(`fingerprint survives encode → decode: ${name}`, () => {
      const plan = planRoute(r, mark);
      assert.ok(!('skip' in plan));
      assert.equal(roundTrip(plan), fingerprintOf(plan));
    });
  }

  it('fingerprints name everything written', () => {
    const plan = planRoute(cases[0]![1], mark);
    assert.ok(!('skip' in plan));
    assert.equal(fingerprintOf(plan), `nh=192.0.2.1#${pathIdFor('192.0.2.1')};med=0;lp=100;c=65000:1,65000:2;lc=1:2:3,4294967294:0:1`);
    assert.equal(plan.key, '10.1.0.0/24');
    assert.deepEqual(parseGobgpKey('vrf:red|10.5.0.0/24').vrf, 'red');
  });

  it('gives ECMP paths distinct, stable, non-zero ids, and finds them in the fingerprint', () => {
    const a = planRoute(route('10.2.0.0/24', ['192.0.2.22', '192.0.2.21']), mark);
    const b = planRoute(route('10.2.0.0/24', ['192.0.2.21', '192.0.2.22']), mark);
    assert.ok(!('skip' in a) && !('skip' in b));
    assert.deepEqual(a.hops, b.hops);
    assert.equal(new Set(a.hops.map((h) => h.id)).size, 2);
    assert.ok(a.hops.every((h) => h.id > 0));
    assert.deepEqual(
      idsOfFingerprint(fingerprintOf(a)),
      a.hops.map((h) => h.id),
    );
  });

  it('announces routes without a gateway with next hop self', () => {
    const p = planRoute(route('2001:db8:7::/48', [], { type: 'unreachable' }), mark);
    assert.ok(!('skip' in p));
    assert.deepEqual(
      p.hops.map((h) => h.nh),
      ['::'],
    );
  });

  it('marks paths that disagree with each other as inconsistent', () => {
    const plan = planRoute(route('10.2.0.0/24', ['192.0.2.21', '192.0.2.22'], { bgp: { med: 1 } }), mark);
    assert.ok(!('skip' in plan));
    const paths = encodePlan(plan).map((p) => ({ prefix: plan.prefix, id: p.identifier, attrs: decodeAttrs(p.pattrs_binary) }));
    paths[1]!.attrs.med = 2;
    assert.notEqual(fingerprintFromRead(undefined, paths), fingerprintOf(plan));
  });

  it('skips what it cannot carry, saying why', () => {
    const skip = (r: ReflectedRoute) => {
      const p = planRoute(r, mark);
      return 'skip' in p ? p.skip : 'not skipped';
    };
    assert.match(skip(route('2001:db8::/32', ['fe80::1'])), /link-local/);
    assert.match(skip(route('2001:db8::/32', ['192.0.2.1'])), /IPv4 next hop/);
    assert.match(skip(route('10.0.0.0/8', ['192.0.2.1'], { bgp: { communities: ['x'] } })), /community "x"/);
    assert.match(skip(route('10.0.0.0/8', ['192.0.2.1'], { bgp: { med: 1.5 } })), /MED 1.5/);
    assert.match(skip(route('10.0.0.0/8', ['192.0.2.1'], { bgp: { nextHop: 'router' } })), /"router" is not an address/);
    assert.match(skip(route('10.0.0.0/8', ['192.0.2.1'], { vrf: 'a|b' })), /VRF name/);
  });

  it('refuses ownership marks that would be unsafe or ambiguous', () => {
    assert.throws(() => parseOwnershipMark({ community: '65535:65281' }), /NO_EXPORT/);
    assert.throws(() => parseOwnershipMark({}), /exactly one/);
    assert.throws(() => parseOwnershipMark({ community: '65534:1', largeCommunity: '1:2:3' }), /exactly one/);
    assert.deepEqual(parseOwnershipMark({ community: '65534:1' }), { community: 65534 * 65536 + 1 });
  });
});

describe('DeletePath guard', () => {
  it('refuses a DeletePath that names neither a path nor a uuid', () => {
    assert.throws(() => assertDeleteNamesPath({}), /delete every locally injected path/);
    assert.throws(() => assertDeleteNamesPath({ uuid: new Uint8Array(0) }), /ERR_GOBGP_DELETE_ALL|neither/);
    assert.doesNotThrow(() => assertDeleteNamesPath({ uuid: new Uint8Array(16) }));
  });
});

describe('gobgp sink without a connection', () => {
  it('rejects apply and readOwned while not connected', async () => {
    const sink = createGobgpSink(sinkOptions(gobgpSinkType, { name: 't' }), { logger: silentLogger() });
    await assert.rejects(sink.apply([]), /not connected/);
    await assert.rejects(sink.readOwned(), /not connected/);
    assert.equal(sink.shutdownPolicy.withdraw, true);
    assert.equal(sink.batchSize, 1000);
  });
});

it('keys spread evenly over the parallel streams, each key always to the same one', () => {
  const counts = [0, 0, 0];
  for (let i = 0; i < 30_000; i++) {
    const key = `${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`;
    const s = streamOf(key, 3);
    assert.equal(streamOf(key, 3), s);
    counts[s]!++;
  }
  for (const c of counts) assert.ok(c > 9000 && c < 11000, `balanced: ${counts.join(' / ')}`);
  assert.equal(streamOf('anything', 1), 0);
});

it('the hand-parsed IPv4 prefix is what parsePrefix gives for canonical text, and declines anything else', () => {
  let seed = 5;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  let fast = 0;
  for (let n = 0; n < 20_000; n++) {
    let t = `${[0, 1, 2, 3].map(() => pick(['0', '00', '01', '9', '10', '192', '255', '256', String(Math.floor(rnd() * 256))])).join('.')}/${pick(['0', '8', '24', '32', '33', '024', ''])}`;
    if (rnd() < 0.2) t = t.replace(pick(['.', '/', '1']), pick(['', '..', ':', 'x']));
    const got = parseCanonicalV4Prefix(t);
    let want: string | undefined;
    try {
      want = formatPrefix(parsePrefix(t));
    } catch {
      want = undefined;
    }
    if (got === undefined) {
      assert.notEqual(want, t, `${t} is canonical: the fast path must take it`);
      continue;
    }
    fast++;
    assert.equal(formatPrefix(got), want, t);
    assert.equal(formatPrefix(got), t, `${t} is canonical`);
  }
  assert.ok(fast > 100, `enough taken by the fast path (${fast})`);
});
