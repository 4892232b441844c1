import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodePlan, fingerprintOf, parseOwnershipMark, planRoute, type PathPlan } from '../../src/sinks/gobgp/gobgp-paths.js';
import { loadGobgpApi } from '../../src/sinks/gobgp/gobgp-api.js';
import type { AddPathStreamRequest } from '../helpers/gobgp-client-extras.js';
import { addPathWireSchema } from '../../src/sinks/gobgp/add-path-encoder.js';
import { ProtoShape, protoShapeError } from '../../src/sinks/gobgp/gobgp-protos.js';
import { PathPlanner, type PlannedRoute } from '../../src/sinks/gobgp/path-planner.js';
import { AddPathRequests } from '../../src/sinks/gobgp/add-path-requests.js';
import type { ReflectedRoute } from '../../src/engine/reflected-route.js';
import type { PackageDefinition } from '@grpc/proto-loader';

const mark = parseOwnershipMark({ largeCommunity: '4294967294:0:1' });
// GoBGP's own .proto files, as installed (the test suite's setup installs them).
const api = loadGobgpApi();
const serialize = (api.ctor as unknown as { service: { AddPathStream: { requestSerialize: (r: AddPathStreamRequest) => Buffer } } }).service.AddPathStream
  .requestSerialize;

function route(prefix: string, gateways: string[], extra: Partial<ReflectedRoute> = {}, frozen = true): ReflectedRoute {
  const nexthops = gateways.map((gateway) => Object.freeze({ gateway, weight: 1 }));
  return {
    family: prefix.includes(':') ? 6 : 4,
    prefix,
    table: 254,
    protocol: 12,
    type: 'unicast',
    metric: 0,
    tos: 0,
    nexthops: frozen ? (Object.freeze(nexthops) as typeof nexthops) : nexthops,
    ...extra,
  };
}

const cases: [string, ReflectedRoute][] = [
  ['IPv4', route('10.1.0.0/24', ['192.0.2.1'])],
  ['IPv4, copied next hops', route('10.1.1.0/24', ['192.0.2.1'], {}, false)],
  ['IPv4 ECMP', route('10.2.0.0/24', ['192.0.2.22', '192.0.2.21', '192.0.2.23'])],
  ['IPv6', route('2001:db8::/32', ['2001:db8::1'])],
  ['IPv6 ECMP', route('2001:db8:1::/48', ['2001:db8::2', '2001:db8::1'])],
  ['IPv4 blackhole (next hop self)', route('10.3.0.0/16', [], { type: 'blackhole' })],
  ['IPv6 unreachable (next hop self)', route('2001:db8:2::/48', [], { type: 'unreachable' })],
  ['IPv4 via IPv6', route('10.4.0.0/24', ['2001:db8::4'])],
  ['IPv4 host route', route('192.0.2.77/32', ['192.0.2.1'])],
  ['default route', route('0.0.0.0/0', ['192.0.2.1'])],
  ['BGP attributes', route('10.6.0.0/24', ['192.0.2.1'], { bgp: { med: 5, localPref: 100, communities: ['65000:1'], largeCommunities: ['1:2:3'] } })],
  ['VRF', route('10.5.0.0/24', ['192.0.2.5'], { vrf: 'red' })],
];

describe('AddPathStream requests encoded by hand', () => {
  const planner = new PathPlanner(mark, api.encoder);
  /** The one request the planner writes for a route (and withdrawals of `gone`). */
  const requestOf = (p: PlannedRoute, gone: number[] = []): Buffer => {
    const out = new AddPathRequests(api.encoder, 1000);
    out.begin(PathPlanner.vrfOf(p));
    planner.write(out, p, gone);
    const reqs = out.take();
    assert.equal(reqs.length, 1);
    return reqs[0]!;
  };

  for (const [name, r] of cases) {
    it(`${name}: the same bytes and fingerprint as protobufjs and planRoute`, () => {
      const general = planRoute(r, mark) as PathPlan;
      const planned = planner.plan(r) as PlannedRoute;
      assert.ok(!('skip' in planned));
      assert.equal(planned.fingerprint, fingerprintOf(general));
      assert.equal(planned.key, general.key);
      assert.equal(PathPlanner.vrfOf(planned), r.vrf);
      const mine = requestOf(planned);
      // Proto3 leaves fields at their default out; protobufjs writes what the object sets, so set only the others.
      const theirs = serialize(
        r.vrf ? { table_type: 'VRF', vrf_id: r.vrf, paths: encodePlan(general) } : ({ paths: encodePlan(general) } as AddPathStreamRequest),
      );
      assert.deepEqual(mine, theirs);
    });
  }

  it('withdrawals and paths left behind by a changed route encode as protobufjs does', () => {
    const general = planRoute(cases[2]![1], mark) as PathPlan;
    const planned = planner.plan(cases[2]![1]) as PlannedRoute;
    const mine = requestOf(planned, [77]);
    const withdraw = { ...encodePlan(general)[0]!, pattrs_binary: [encodePlan(general)[0]!.pattrs_binary[0]!], identifier: 77, is_withdraw: true };
    assert.deepEqual(mine, serialize({ paths: [...encodePlan(general), withdraw] } as AddPathStreamRequest));
  });

  it('requests are cut once they hold 1,000 paths (never inside a route) and at each change of VRF, each as protobufjs encodes it', () => {
    const routes: ReflectedRoute[] = [];
    // Route 874 has two paths and comes when the first request holds 999.
    const ecmp = (i: number): boolean => i % 7 === 0 || i === 874;
    for (let i = 0; i < 2400; i++) routes.push(route(`10.${i >> 8}.${i & 255}.0/24`, ecmp(i) ? ['192.0.2.1', '192.0.2.2'] : ['192.0.2.1']));
    routes.push(route('10.99.0.0/24', ['192.0.2.5'], { vrf: 'red' }), route('10.99.1.0/24', ['192.0.2.5'], { vrf: 'red' }));
    for (let i = 0; i < 3; i++) routes.push(route(`2001:db8:${i}::/48`, ['2001:db8::1']));
    const out = new AddPathRequests(api.encoder, 1000);
    // What protobufjs makes of the same paths, grouped the same way.
    const want: { vrf?: string; paths: ReturnType<typeof encodePlan> }[] = [];
    for (const r of routes) {
      out.begin(r.vrf);
      planner.write(out, planner.plan(r) as PlannedRoute);
      const paths = encodePlan(planRoute(r, mark) as PathPlan);
      const last = want[want.length - 1];
      if (last && last.vrf === r.vrf && last.paths.length < 1000) last.paths.push(...paths);
      else want.push({ ...(r.vrf ? { vrf: r.vrf } : {}), paths });
    }
    const got = out.take();
    assert.deepEqual(
      want.map((g) => g.paths.length),
      [1001, 1000, 743, 2, 3],
      'route 874 is not split: its request holds 1,001 paths',
    );
    assert.equal(got.length, 5);
    assert.deepEqual(
      got,
      want.map((g) => serialize(g.vrf ? { table_type: 'VRF', vrf_id: g.vrf, paths: g.paths } : ({ paths: g.paths } as AddPathStreamRequest))),
    );
    assert.deepEqual(out.take(), [], 'the builder starts over empty');
  });

  it('a route taken back with abort() leaves nothing of it in the requests', () => {
    const a = route('10.7.0.0/24', ['192.0.2.1']),
      b = route('10.7.1.0/24', ['192.0.2.1', '192.0.2.2']),
      c = route('10.7.2.0/24', ['192.0.2.3']);
    const out = new AddPathRequests(api.encoder, 1000);
    for (const r of [a, b, c]) {
      out.begin(undefined);
      planner.write(out, planner.plan(r) as PlannedRoute);
      if (r === b) out.abort();
    }
    assert.deepEqual(out.take(), [
      serialize({ paths: [...encodePlan(planRoute(a, mark) as PathPlan), ...encodePlan(planRoute(c, mark) as PathPlan)] } as AddPathStreamRequest),
    ]);
  });

  it('routes that GoBGP cannot carry are refused the same way on the fast path', () => {
    const ll = route('2001:db8:9::/48', ['fe80::1']);
    assert.match((planner.plan(ll) as { skip: string }).skip, /link-local/);
    assert.match((planner.plan(route('2001:db8:a::/48', ['192.0.2.1'])) as { skip: string }).skip, /IPv4 next hop/);
  });

  it('a .proto of another shape is refused at start-up, naming the field', () => {
    const bad = {
      'apipb.AddPathStreamRequest': { type: { field: [{ name: 'table_type', number: 1, type: 'TYPE_ENUM', label: 'LABEL_OPTIONAL' }] } },
    } as unknown as PackageDefinition;
    const shape = new ProtoShape(bad, 'apipb', (what) => {
      throw protoShapeError('/x/api', 'github.com/osrg/gobgp/v3/api, service apipb.GobgpApi', what);
    });
    assert.throws(() => addPathWireSchema(shape), {
      code: 'ERR_GOBGP_PROTO',
      message:
        /^GoBGP API in \/x\/api \(github\.com\/osrg\/gobgp\/v3\/api, service apipb\.GobgpApi\) cannot carry what rtreflect writes: AddPathStreamRequest\.vrf_id is missing; set the gobgp sink's protoDir/,
    });
  });
});
