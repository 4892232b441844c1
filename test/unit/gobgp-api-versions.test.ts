import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type protobuf from 'protobufjs';
import { GobgpClient, listPathRequest, loadGobgpApi, vrfMessage, type LoadedApi } from '../../src/sinks/gobgp/gobgp-api.js';
import { AddPathRequests } from '../../src/sinks/gobgp/add-path-requests.js';
import { PathPlanner, type PlannedRoute } from '../../src/sinks/gobgp/path-planner.js';
import { encodePlan, fingerprintFromRead, fingerprintOf, parseOwnershipMark, pathIdFor, planRoute, type PathPlan } from '../../src/sinks/gobgp/gobgp-paths.js';
import { decodeListPathResponse, type BinaryDestination } from '../../src/sinks/gobgp/list-path-decoder.js';
import { decodeAttrs } from '../../src/sinks/gobgp/bgp-wire.js';
import type { ReflectedRoute } from '../../src/engine/reflected-route.js';
import { addPathStream, listPathsBinary } from '../helpers/gobgp-client-extras.js';
import { GOBGP_3_10, GOBGP_3_37, GOBGP_4_8, fakeGobgpd, referenceRoot, type GobgpApiVersion } from '../helpers/gobgp-protos.js';

/**
 * What rtreflect does with each GoBGP API it claims: loads it with its own loader, then
 * every message it writes is decoded field by field by protobufjs loading the same
 * files (and re-encoded to the same bytes), and the ListPath replies protobufjs encodes
 * with them are read back by rtreflect's hand decoder.
 */
interface Expect {
  /** The gRPC path prefix of every call. */
  service: string;
  goPackage: string;
  pkg: string;
  /** TableType as protobufjs names it. */
  global: string;
  vrf: string;
  /** GLOBAL is 0 in 3.x: rtreflect's encoder leaves it out of the wire there, as proto3 writers do. */
  globalOnWire: boolean;
  exact: string;
  /** What gobgpd writes as a local path's neighbor_ip (3.x: "<nil>"; 4.x: nothing). */
  localNeighbor: string | undefined;
}

const V3: Expect = {
  service: '/apipb.GobgpApi/',
  goPackage: 'github.com/osrg/gobgp/v3/api',
  pkg: 'apipb',
  global: 'GLOBAL',
  globalOnWire: false,
  vrf: 'VRF',
  exact: 'EXACT',
  localNeighbor: '<nil>',
};
const V4: Expect = {
  service: '/api.GoBgpService/',
  goPackage: 'github.com/osrg/gobgp/v4/api',
  pkg: 'api',
  global: 'TABLE_TYPE_GLOBAL',
  globalOnWire: true,
  vrf: 'TABLE_TYPE_VRF',
  exact: 'TYPE_EXACT',
  localNeighbor: undefined,
};

const mark = parseOwnershipMark({ largeCommunity: '4294967294:0:1' });

function route(prefix: string, gateways: string[], extra: Partial<ReflectedRoute> = {}): ReflectedRoute {
  const nexthops = gateways.map((gateway) => Object.freeze({ gateway, weight: 1 }));
  return {
    family: prefix.includes(':') ? 6 : 4,
    prefix,
    table: 254,
    protocol: 12,
    type: 'unicast',
    metric: 0,
    tos: 0,
    nexthops: Object.freeze(nexthops) as typeof nexthops,
    ...extra,
  };
}

const cases: [string, ReflectedRoute][] = [
  ['IPv4', route('10.1.0.0/24', ['192.0.2.1'])],
  ['IPv4 ECMP (one add-path id per next hop)', route('10.2.0.0/24', ['192.0.2.22', '192.0.2.21', '192.0.2.23'])],
  ['IPv6 (MP_REACH_NLRI)', route('2001:db8::/32', ['2001:db8::1'])],
  ['IPv6 ECMP', route('2001:db8:1::/48', ['2001:db8::2', '2001:db8::1'])],
  ['IPv4 via IPv6 (MP_REACH_NLRI)', route('10.4.0.0/24', ['2001:db8::4'])],
  ['BGP attributes', route('10.6.0.0/24', ['192.0.2.1'], { bgp: { med: 5, localPref: 100, communities: ['65000:1'], largeCommunities: ['1:2:3'] } })],
  ['VRF', route('10.5.0.0/24', ['192.0.2.5'], { vrf: 'red' })],
  ['IPv6 in a VRF', route('2001:db8:5::/48', ['2001:db8::5'], { vrf: 'blue' })],
];

/** Bytes as hex, so objects from either side compare whatever their byte type. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [k, plain(x)]),
    );
  return v;
}

const toObject = (t: protobuf.Type, buf: Uint8Array): Record<string, unknown> => t.toObject(t.decode(buf), { enums: String, longs: Number, defaults: false });

/** An AddPathStreamRequest as protobufjs should read it: the paths planRoute and encodePlan make for the route. */
function expectedRequest(e: Expect, r: ReflectedRoute, withdrawIds: number[] = []): Record<string, unknown> {
  const plan = planRoute(r, mark) as PathPlan;
  const paths: Record<string, unknown>[] = encodePlan(plan).map((p) => ({ ...p, family: { ...p.family } }));
  for (const id of withdrawIds) paths.push({ ...paths[0], pattrs_binary: [Uint8Array.of(0x40, 1, 1, 0)], identifier: id, is_withdraw: true });
  const table = r.vrf !== undefined ? e.vrf : e.globalOnWire ? e.global : undefined;
  return { ...(table !== undefined ? { table_type: table } : {}), ...(r.vrf !== undefined ? { vrf_id: r.vrf } : {}), paths };
}

function versionSuite(v: GobgpApiVersion, e: Expect): void {
  describe(`GoBGP ${v.version} API`, { skip: v.skip }, () => {
    // Loaded on first use: a suite that is skipped reads nothing.
    let loaded: { api: LoadedApi; ref: protobuf.Root; planner: PathPlanner } | undefined;
    const get = () => {
      if (!loaded) {
        const a = loadGobgpApi(v.dir!);
        loaded = { api: a, ref: referenceRoot(v.dir!), planner: new PathPlanner(mark, a.encoder) };
      }
      return loaded;
    };
    const type = (name: string): protobuf.Type => get().ref.lookupType(`${e.pkg}.${name}`);
    type Method = { path: string; requestSerialize: (x: unknown) => Buffer };
    const service = (): Record<string, Method> => (get().api.ctor as unknown as { service: Record<string, Method> }).service;

    it('loads: the service, its package and the calls the sink makes are read from the files', () => {
      const { api, ref } = get();
      assert.equal(api.pkg, e.pkg);
      assert.match(api.label, new RegExp(`^${e.goPackage.replace(/\./g, '\\.')}, service `));
      for (const m of ['AddPathStream', 'ListPath', 'GetBgp', 'ListVrf', 'AddVrf']) {
        assert.equal(service()[m]!.path, `${e.service}${m}`);
        assert.ok(ref.lookupService(e.service.slice(1, -1)).methods[m], `${m} in protobufjs's view`);
      }
    });

    for (const [name, r] of cases) {
      it(`AddPathStream, ${name}: every field as protobufjs reads it, and its bytes`, () => {
        const { api, planner } = get();
        const planned = planner.plan(r) as PlannedRoute;
        const out = new AddPathRequests(api.encoder, 1000);
        out.begin(PathPlanner.vrfOf(planned));
        planner.write(out, planned);
        const [mine, ...more] = out.take();
        assert.equal(more.length, 0);
        const want = expectedRequest(e, r);
        const got = toObject(type('AddPathStreamRequest'), mine!);
        assert.deepEqual(plain(got), plain(want));
        const T = type('AddPathStreamRequest');
        assert.deepEqual(Buffer.from(T.encode(T.fromObject(want)).finish()), mine);
        // What gobgpd needs of each path: distinct add-path ids, and for IPv6 (or an IPv6 next hop) an MP_REACH_NLRI carrying the NLRI.
        const paths = got.paths as { identifier?: number; nlri_binary: Uint8Array; pattrs_binary: Uint8Array[] }[];
        assert.deepEqual(new Set(paths.map((p) => p.identifier)), new Set(r.nexthops.map((h) => pathIdFor(h.gateway!))));
        assert.equal(paths.length, r.nexthops.length);
        for (const p of paths) {
          const a = decodeAttrs(p.pattrs_binary);
          assert.ok(
            a.largeCommunities?.some((c) => c.join(':') === '4294967294:0:1'),
            'the ownership mark',
          );
          if (r.family === 6 || r.nexthops[0]!.gateway!.includes(':')) assert.deepEqual(Buffer.from(a.mpReach!.nlri), Buffer.from(p.nlri_binary));
        }
      });
    }

    it('AddPathStream withdrawals of paths a route no longer has, as protobufjs reads them', () => {
      const { api, planner } = get();
      const r = cases[1]![1];
      const out = new AddPathRequests(api.encoder, 1000);
      out.begin(undefined);
      planner.write(out, planner.plan(r) as PlannedRoute, [77, 78]);
      const [mine] = out.take();
      assert.deepEqual(plain(toObject(type('AddPathStreamRequest'), mine!)), plain(expectedRequest(e, r, [77, 78])));
    });

    // These go through protobufjs's writer, which writes every field set, defaults too.
    it('ListPath requests: the table, VRF, family and binary-only flag as protobufjs reads them', () => {
      const { api } = get();
      const req = (x: Record<string, unknown>) => plain(toObject(type('ListPathRequest'), service().ListPath!.requestSerialize(x)));
      const fam6 = { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' };
      assert.deepEqual(req(listPathRequest(api.dialect, 6)), { table_type: e.global, name: '', family: fam6, enable_only_binary: true });
      assert.deepEqual(req(listPathRequest(api.dialect, 4, { vrf: 'red' })), {
        table_type: e.vrf,
        name: 'red',
        family: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' },
        enable_only_binary: true,
      });
      assert.deepEqual((req(listPathRequest(api.dialect, 6, { prefixes: ['2001:db8::/32'] })) as { prefixes: unknown }).prefixes, [
        { prefix: '2001:db8::/32', type: e.exact },
      ]);
    });

    it("ListPath replies protobufjs encodes are read back: the paths rtreflect wrote, with their ids, and a peer's path as not ours", () => {
      const r = cases[1]![1];
      const plan = planRoute(r, mark) as PathPlan;
      const written = encodePlan(plan);
      const nlri =
        e.pkg === 'api'
          ? { prefix: { prefix_len: 24, prefix: '10.2.0.0' } }
          : { type_url: 'type.googleapis.com/apipb.IPAddressPrefix', value: type('IPAddressPrefix').encode({ prefix_len: 24, prefix: '10.2.0.0' }).finish() };
      const learned = {
        neighbor_ip: '192.0.2.9',
        source_asn: 65009,
        identifier: 7,
        nlri_binary: written[0]!.nlri_binary,
        pattrs_binary: [Uint8Array.of(0x40, 1, 1, 0), Uint8Array.of(0x40, 3, 4, 192, 0, 2, 9)],
      };
      const reply = {
        destination: {
          prefix: '10.2.0.0/24',
          paths: [
            // Fields rtreflect does not read come first and between, so the decoder must step over them.
            ...written.map((p, i) => ({
              nlri,
              best: i === 0,
              age: { seconds: 1_800_000_000 },
              family: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' },
              ...(e.localNeighbor !== undefined ? { neighbor_ip: e.localNeighbor } : {}),
              uuid: Buffer.alloc(16, i + 1),
              identifier: p.identifier,
              local_identifier: i + 1,
              nlri_binary: p.nlri_binary,
              pattrs_binary: p.pattrs_binary,
            })),
            learned,
          ],
        },
      };
      const T = type('ListPathResponse');
      const buf = Buffer.from(T.encode(T.fromObject(reply)).finish());
      const d = decodeListPathResponse(buf)!;
      assert.equal(d.prefix, '10.2.0.0/24');
      assert.deepEqual(
        plain(d.paths),
        plain([
          ...written.map((p) => ({ local: true, identifier: p.identifier, nlri_binary: p.nlri_binary, pattrs_binary: p.pattrs_binary })),
          { local: false, neighbor_ip: '192.0.2.9', identifier: 7, nlri_binary: learned.nlri_binary, pattrs_binary: learned.pattrs_binary },
        ]),
      );
      const ours = d.paths.filter((p) => p.local).map((p) => ({ id: p.identifier!, attrs: decodeAttrs(p.pattrs_binary!) }));
      assert.equal(fingerprintFromRead(undefined, ours), fingerprintOf(plan), 'read back, the route is in sync: a restart writes nothing');
    });

    it('AddVrf: route distinguisher and targets in the form this API takes, as protobufjs reads them', () => {
      const { api, ref } = get();
      const msg = vrfMessage(api, { name: 'red', rd: '65000:7', importRt: ['65000:1', '192.0.2.1:5'], exportRt: ['4200000000:9'], id: 3 });
      const got = toObject(type('AddVrfRequest'), service().AddVrf!.requestSerialize({ vrf: msg })).vrf as Record<string, unknown>;
      const rd = { admin: 65000, assigned: 7 };
      const rts = [
        ['TwoOctetAsSpecificExtended', 'two_octet_as_specific', { is_transitive: true, sub_type: 2, asn: 65000, local_admin: 1 }],
        ['IPv4AddressSpecificExtended', 'ipv4_address_specific', { is_transitive: true, sub_type: 2, address: '192.0.2.1', local_admin: 5 }],
        ['FourOctetAsSpecificExtended', 'four_octet_as_specific', { is_transitive: true, sub_type: 2, asn: 4200000000, local_admin: 9 }],
      ] as const;
      assert.equal(got.name, 'red');
      assert.equal(got.id, 3);
      if (e.pkg === 'api') {
        assert.deepEqual(got.rd, { two_octet_asn: rd });
        assert.deepEqual(
          [...(got.import_rt as unknown[]), ...(got.export_rt as unknown[])],
          rts.map(([, f, x]) => ({ [f]: x })),
        );
      } else {
        const unpack = (a: { type_url: string; value: Uint8Array }) => {
          const t = a.type_url.replace('type.googleapis.com/', '');
          return [t, toObject(ref.lookupType(t), a.value)];
        };
        assert.deepEqual(unpack(got.rd as never), ['apipb.RouteDistinguisherTwoOctetASN', rd]);
        assert.deepEqual(
          [...(got.import_rt as never[]), ...(got.export_rt as never[])].map(unpack),
          rts.map(([t, , x]) => [`apipb.${t}`, x]),
        );
      }
    });

    it("over gRPC, every call the client makes reaches this API's service path and reads as protobufjs reads it", async () => {
      const { api, ref, planner } = get();
      const r = cases[0]![1];
      const written = encodePlan(planRoute(r, mark) as PathPlan);
      const listed = written.map((p) => ({ ...p, ...(e.localNeighbor !== undefined ? { neighbor_ip: e.localNeighbor } : {}) }));
      const fake = await fakeGobgpd(ref, e.service.slice(1, -1), { vrfs: ['red'], listPath: [{ prefix: r.prefix, paths: listed }] });
      const client = new GobgpClient(fake.address, { protoDir: v.dir! });
      const read: BinaryDestination[] = [];
      try {
        assert.equal((await client.getBgp()).global?.asn, 65000);
        assert.deepEqual(
          (await client.listVrfs()).map((x) => x.name),
          ['red'],
        );
        await client.addVrf({ name: 'blue', rd: '65000:2', importRt: ['65000:2'], exportRt: [], id: 0 });
        // The sink's way: requests encoded by hand, over a stream kept open.
        const stream = client.openAddPathStream();
        const out = new AddPathRequests(api.encoder, 1000);
        out.begin(undefined);
        planner.write(out, planner.plan(r) as PlannedRoute);
        for (const req of out.take()) await stream.write(req);
        await stream.end();
        // The object form (benches) and DeletePath name the table the same way.
        await addPathStream(client, [{ table_type: 'VRF', vrf_id: 'blue', paths: written }]);
        await client.deletePath({ family: written[0]!.family, path: written[0]! });
        // The resync's read: a bare HTTP/2 stream to the service's ListPath, replies decoded by hand.
        await listPathsBinary(client, 4, {}, (d) => read.push(d));
      } finally {
        client.close();
        await fake.close();
      }
      const global = { table_type: e.global, name: '', family: { afi: 'AFI_IP', safi: 'SAFI_UNICAST' }, enable_only_binary: true };
      const paths = written.map((p) => ({ ...p, family: { ...p.family } }));
      assert.deepEqual(
        fake.calls.map((c) => c.method),
        ['GetBgp', 'ListVrf', 'AddVrf', 'AddPathStream', 'AddPathStream', 'DeletePath', 'ListPath'],
      );
      assert.deepEqual(
        plain(fake.calls.map((c) => c.request)),
        plain([
          {},
          {},
          {
            vrf: toObject(
              type('Vrf'),
              type('Vrf')
                .encode(type('Vrf').fromObject(vrfMessage(api, { name: 'blue', rd: '65000:2', importRt: ['65000:2'], exportRt: [], id: 0 })))
                .finish(),
            ),
          },
          expectedRequest(e, r),
          { table_type: e.vrf, vrf_id: 'blue', paths },
          { table_type: e.global, family: paths[0]!.family, path: paths[0] },
          global,
        ]),
      );
      assert.deepEqual(
        plain(read),
        plain([
          {
            prefix: r.prefix,
            paths: written.map((p) => ({ local: true, identifier: p.identifier, nlri_binary: p.nlri_binary, pattrs_binary: p.pattrs_binary })),
          },
        ]),
      );
    });

    it('loads as well from a copy laid out as GoBGP\'s source is (4.x: proto/api/, siblings imported as "api/x.proto")', () => {
      const dir = mkdtempSync(join(tmpdir(), 'rtreflect-gobgp-api-'));
      try {
        cpSync(v.dir!, join(dir, 'proto', 'api'), { recursive: true });
        const there = loadGobgpApi(join(dir, 'proto', 'api'));
        assert.deepEqual([there.pkg, there.dialect], [get().api.pkg, get().api.dialect]);
        assert.deepEqual(there.encoder.schema, get().api.encoder.schema);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    describe('a copy of these files changed where rtreflect depends on them is refused at start, naming the directory, the API and what differs', () => {
      const refused = (edit: [RegExp, string], what: RegExp): void => {
        const dir = mkdtempSync(join(tmpdir(), 'rtreflect-gobgp-api-'));
        try {
          cpSync(v.dir!, dir, { recursive: true });
          const file = join(dir, 'gobgp.proto');
          const text = readFileSync(file, 'utf8');
          assert.match(text, edit[0], 'the edit applies to these files');
          writeFileSync(file, text.replace(edit[0], edit[1]));
          assert.throws(
            () => loadGobgpApi(dir),
            (err: Error & { code?: string }) => {
              assert.equal(err.code, 'ERR_GOBGP_PROTO');
              assert.ok(err.message.startsWith(`GoBGP API in ${dir} (${e.goPackage}, service `), err.message);
              assert.match(err.message, what);
              assert.match(err.message, /; set the gobgp sink's protoDir to the api directory of the gobgpd you run/);
              return true;
            },
          );
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      };
      it('without the binary NLRI field', () =>
        refused([/bytes nlri_binary = 20;/, 'bytes nlri_raw = 20;'], /cannot carry what rtreflect writes: Path\.nlri_binary is missing;/));
      it('with the add-path identifier renumbered', () =>
        refused([/uint32 identifier = 18;/, 'uint32 identifier = 30;'], /Path\.identifier is field 30, rtreflect reads it as field 18;/));
      it('with the binary attributes no longer repeated', () =>
        refused(
          [/repeated bytes pattrs_binary = 21;/, 'bytes pattrs_binary = 21;'],
          /Path\.pattrs_binary is LABEL_OPTIONAL TYPE_BYTES, expected LABEL_REPEATED TYPE_BYTES/,
        ));
      it('without AddPathStream', () => refused([/\n\s*rpc AddPathStream\([^\n]*/, ''], /no service with an AddPathStream method/));
      it('without the VRF table type', () => refused([/\b(TABLE_TYPE_)?VRF = \d+;/, ''], /enum value TableType\.VRF or TABLE_TYPE_VRF is missing/));
    });
  });
}

versionSuite(GOBGP_3_10, V3);
versionSuite(GOBGP_3_37, V3);
versionSuite(GOBGP_4_8, V4);

it("a directory without GoBGP's API files is refused, naming the file and the fix", () => {
  const dir = mkdtempSync(join(tmpdir(), 'rtreflect-gobgp-api-'));
  try {
    assert.throws(() => loadGobgpApi(dir), {
      code: 'ERR_GOBGP_PROTO',
      message: `GoBGP API file ${join(dir, 'gobgp.proto')} not found; install GoBGP's protos (Debian: golang-github-osrg-gobgp-dev) or set the gobgp sink's protoDir`,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
