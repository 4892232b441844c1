/**
 * Property tests of how rtreflect reads gobgpd's RIB back: the ListPath reply decoder
 * (list-path-decoder.ts) and the BGP wire decoding of what it hands over (bgp-wire.ts).
 * Replies are encoded with protobufjs from GoBGP's own .proto files, so the decoder is
 * checked against the schema gobgpd speaks, not against the test's idea of it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { DEFAULT_PROTO_DIR } from '../../src/sinks/gobgp/gobgp-api.js';
import { decodeListPathResponse, visitListPathResponse, type BinaryDestination } from '../../src/sinks/gobgp/list-path-decoder.js';
import {
  decodeAttrs,
  decodePrefixNlri,
  encodeCommunities,
  encodeEmptyAsPath,
  encodeLargeCommunities,
  encodeLocalPref,
  encodeMed,
  encodeMpReach,
  encodeNextHop,
  encodeOrigin,
  encodePrefixNlri,
  AFI_IP6,
  SAFI_UNICAST,
  type LargeCommunity,
} from '../../src/sinks/gobgp/bgp-wire.js';
import { bytesToAddr, maskBytes, type Prefix } from '../../src/util/ip.js';
import { bytes, checkProperty, corrupted, fuzzTimeoutMs, parsesOrRefuses, truncated } from '../helpers/fuzz.js';

const DECODE = 'ERR_GOBGP_DECODE';
const WIRE = 'ERR_BGP_WIRE';
const CI_RUNS = 600;

const protoDir = process.env.RTREFLECT_GOBGP_PROTO_DIR ?? DEFAULT_PROTO_DIR;
const protoSkip: string | false = existsSync(join(protoDir, 'gobgp.proto'))
  ? false
  : `GoBGP's .proto files not found in ${protoDir} (Debian: golang-github-osrg-gobgp-dev); ListPath encoding tests skipped`;
const opts = { timeout: fuzzTimeoutMs };

/** ListPathResponse from GoBGP's protos (google/protobuf/* come with protobufjs). */
function loadListPathResponse(): protobuf.Type {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : join(protoDir, target));
  root.loadSync(['gobgp.proto', 'attribute.proto', 'capability.proto'], { keepCase: true });
  return root.lookupType('apipb.ListPathResponse');
}
const ListPathResponse = protoSkip ? undefined : loadListPathResponse();

interface PathIn {
  neighbor_ip?: string;
  identifier?: number;
  nlri_binary?: Uint8Array;
  pattrs_binary?: Uint8Array[];
  // Fields the decoder must step over.
  best?: boolean;
  age?: { seconds: number; nanos: number };
  family?: { afi: number; safi: number };
  source_asn?: number;
  source_id?: string;
  uuid?: Uint8Array;
  local_identifier?: number;
  nlri?: { type_url: string; value: Uint8Array };
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const smallBytes = (max: number) => fc.uint8Array({ maxLength: max });
const pathIn: fc.Arbitrary<PathIn> = fc.record(
  {
    neighbor_ip: fc.oneof(fc.constant('<nil>'), fc.constant(''), fc.constantFrom('192.0.2.9', '2001:db8::9'), fc.string({ maxLength: 40 })),
    identifier: u32,
    nlri_binary: smallBytes(20),
    pattrs_binary: fc.array(smallBytes(40), { maxLength: 6 }),
    best: fc.boolean(),
    age: fc.record({ seconds: fc.integer({ min: 0, max: 2 ** 40 }), nanos: fc.integer({ min: 0, max: 999_999_999 }) }),
    family: fc.record({ afi: fc.constantFrom(1, 2), safi: fc.constantFrom(1, 128) }),
    source_asn: u32,
    source_id: fc.string({ maxLength: 16 }),
    uuid: smallBytes(16),
    local_identifier: u32,
    nlri: fc.record({ type_url: fc.constant('type.googleapis.com/apipb.IPAddressPrefix'), value: smallBytes(24) }),
  },
  { requiredKeys: [] },
);

const destination = fc.record({ prefix: fc.string({ maxLength: 50 }), paths: fc.array(pathIn, { maxLength: 6 }) }, { requiredKeys: [] });

function encodeReply(d: { prefix?: string; paths?: PathIn[] } | undefined): Buffer {
  const t = ListPathResponse!;
  return Buffer.from(t.encode(t.fromObject(d === undefined ? {} : { destination: d })).finish());
}

/** What the decoder must give (protobufjs writes every field set, zero or empty ones too; gobgpd leaves those out). */
function expected(d: { prefix?: string; paths?: PathIn[] }): BinaryDestination {
  return {
    prefix: d.prefix ?? '',
    paths: (d.paths ?? []).map((p) => {
      const n = p.neighbor_ip ?? '';
      const local = n === '' || n === '<nil>';
      return {
        local,
        ...(local ? {} : { neighbor_ip: n }),
        ...(p.identifier !== undefined ? { identifier: p.identifier } : {}),
        ...(p.nlri_binary !== undefined ? { nlri_binary: Buffer.from(p.nlri_binary) } : {}),
        ...(p.pattrs_binary?.length ? { pattrs_binary: p.pattrs_binary.map((a) => Buffer.from(a)) } : {}),
      };
    }),
  };
}

const validReply = destination.map((d) => encodeReply(d));

test('any bytes: the ListPath decoder returns or refuses with ERR_GOBGP_DECODE naming a byte', opts, (t) => {
  checkProperty(
    fc.property(bytes(300), (b) => {
      const r = parsesOrRefuses(DECODE, () => decodeListPathResponse(b));
      if ('error' in r) assert.match(r.error.message, /at byte \d+$/);
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

test("a ListPath reply encoded from GoBGP's protos decodes to its fields, others stepped over", { ...opts, skip: protoSkip }, (t) => {
  checkProperty(
    fc.property(destination, (d) => {
      assert.deepEqual(decodeListPathResponse(encodeReply(d)), expected(d));
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
  assert.equal(decodeListPathResponse(encodeReply(undefined)), undefined, 'a reply without a destination is nothing');
});

test('a ListPath reply cut short is refused, naming a byte within what arrived', { ...opts, skip: protoSkip }, (t) => {
  checkProperty(
    fc.property(truncated(validReply), ({ full, cut }) => {
      const part = full.subarray(0, cut);
      if (cut === 0) return assert.equal(decodeListPathResponse(part), undefined);
      // The reply is one length-delimited destination: any cut leaves it short.
      const r = parsesOrRefuses(DECODE, () => decodeListPathResponse(part));
      assert.ok('error' in r, `a reply cut at byte ${cut} of ${full.length} was accepted`);
      const at = Number(/at byte (\d+)$/.exec(r.error.message)?.[1]);
      assert.ok(at <= cut, `the error names byte ${at}, past the ${cut} that arrived: ${r.error.message}`);
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

test('a corrupted ListPath reply is refused or decoded; the visitor sees each path whole', { ...opts, skip: protoSkip }, (t) => {
  checkProperty(
    fc.property(corrupted(validReply), (b) => {
      const r = parsesOrRefuses(DECODE, () => {
        const seen: number[] = [];
        visitListPathResponse(b, (v) => {
          assert.ok(v.nlriStart <= v.nlriEnd && v.nlriEnd <= b.length);
          for (let i = 0; i < v.attrCount; i++) assert.ok(v.attrStart[i]! <= v.attrEnd[i]! && v.attrEnd[i]! <= b.length);
          seen.push(v.attrCount);
        });
        return seen;
      });
      if ('value' in r) assert.deepEqual(r.value, decodeListPathResponse(b)?.paths.map((p) => p.pattrs_binary?.length ?? 0) ?? []);
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

// ---- what the sink does with a path's bytes: its NLRI and its attributes

const v4prefix: fc.Arbitrary<Prefix> = fc
  .tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 }))
  .map(([a, len]) => ({ family: 4, addr: maskBytes(a, len), len }));
const v6prefix: fc.Arbitrary<Prefix> = fc
  .tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 }))
  .map(([a, len]) => ({ family: 6, addr: maskBytes(a, len), len }));
const largeCommunity: fc.Arbitrary<LargeCommunity> = fc.tuple(u32, u32, u32);

/** The attributes rtreflect writes for a route, and what decodeAttrs must read back from them. */
const attributeSet = fc
  .record({
    prefix: fc.oneof(v4prefix, v6prefix),
    nextHop4: fc.uint8Array({ minLength: 4, maxLength: 4 }).map((a) => bytesToAddr(a)),
    nextHop6: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => bytesToAddr(a)),
    med: fc.option(u32, { nil: undefined }),
    localPref: fc.option(u32, { nil: undefined }),
    communities: fc.array(u32, { maxLength: 70 }),
    large: fc.array(largeCommunity, { maxLength: 25 }),
  })
  .map((s) => {
    const nlri = encodePrefixNlri(s.prefix);
    const attrs = [encodeOrigin(), encodeEmptyAsPath()];
    if (s.prefix.family === 4) attrs.push(encodeNextHop(s.nextHop4));
    else attrs.push(encodeMpReach(AFI_IP6, SAFI_UNICAST, s.nextHop6, nlri));
    if (s.med !== undefined) attrs.push(encodeMed(s.med));
    if (s.localPref !== undefined) attrs.push(encodeLocalPref(s.localPref));
    if (s.communities.length) attrs.push(encodeCommunities(s.communities));
    if (s.large.length) attrs.push(encodeLargeCommunities(s.large));
    return { s, nlri, attrs };
  });

test('the NLRI and attributes rtreflect writes decode back to the route', opts, (t) => {
  checkProperty(
    fc.property(attributeSet, ({ s, nlri, attrs }) => {
      const p = decodePrefixNlri(nlri, s.prefix.family);
      assert.deepEqual({ ...p.prefix, addr: [...p.prefix.addr] }, { ...s.prefix, addr: [...s.prefix.addr] });
      assert.equal(p.size, nlri.length);
      const a = decodeAttrs(attrs);
      assert.equal(a.origin, 0);
      assert.equal(a.asPathLength, 0);
      if (s.prefix.family === 4) assert.equal(a.nextHop, s.nextHop4);
      else assert.deepEqual({ nh: a.mpReach?.nextHops, nlri: [...a.mpReach!.nlri] }, { nh: [s.nextHop6], nlri: [...nlri] });
      assert.equal(a.med, s.med);
      assert.equal(a.localPref, s.localPref);
      assert.deepEqual(a.communities, s.communities.length ? s.communities : undefined);
      assert.deepEqual(a.largeCommunities, s.large.length ? s.large : undefined);
      const plain = (d: typeof a) => ({ ...d, ...(d.mpReach ? { mpReach: { ...d.mpReach, nlri: [...d.mpReach.nlri] } } : {}) });
      assert.deepEqual(plain(decodeAttrs([Buffer.concat(attrs)])), plain(a), 'one concatenated run decodes the same');
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

test('any bytes, or attributes corrupted: NLRI and attribute decoding return or refuse with ERR_BGP_WIRE', opts, (t) => {
  const attrRun = attributeSet.map(({ attrs }) => Buffer.concat(attrs));
  checkProperty(
    fc.property(fc.oneof(bytes(200), corrupted(attrRun)), fc.boolean(), (b, addPath) => {
      parsesOrRefuses(WIRE, () => decodeAttrs([b]));
      parsesOrRefuses(WIRE, () => decodeAttrs([b.subarray(0, b.length >> 1), b.subarray(b.length >> 1)]));
      parsesOrRefuses(WIRE, () => decodePrefixNlri(b, 4, addPath));
      parsesOrRefuses(WIRE, () => decodePrefixNlri(b, 6, addPath));
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

test('attributes cut short are refused', opts, (t) => {
  checkProperty(
    fc.property(
      attributeSet.chain(({ attrs }) => fc.tuple(fc.constant(attrs), fc.nat({ max: attrs.length - 1 }))),
      ([attrs, i]) => {
        const a = attrs[i]!;
        for (const cut of [1, a.length >> 1, a.length - 1]) {
          if (cut <= 0 || cut >= a.length) continue;
          const r = parsesOrRefuses(WIRE, () => decodeAttrs([...attrs.slice(0, i), a.subarray(0, cut), ...attrs.slice(i + 1)]));
          assert.ok('error' in r, `attribute ${i} cut at ${cut} of ${a.length} was accepted`);
        }
      },
    ),
    CI_RUNS / 4,
    (m) => t.diagnostic(m),
  );
});
