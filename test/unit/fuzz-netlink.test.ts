/**
 * Property tests of the rtnetlink parsers: whatever bytes arrive, a parser returns a
 * value or refuses them with ERR_NETLINK_MALFORMED (never a TypeError, a RangeError or a
 * hang); a message the kernel could send parses back to what was encoded; a batch cut
 * short is refused naming the byte where its broken message starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { forEachMessage, splitMessages } from '../../src/kernel/netlink-frame.js';
import {
  encodeAddrMessage,
  encodeLinkMessage,
  encodeNexthopMessage,
  encodeRouteMessage,
  parseAddrMessage,
  parseLinkMessage,
  parseNexthopMessage,
  parseRouteMessage,
  type NextHopSpec,
  type ParsedNextHop,
  type RouteSpec,
} from '../../src/kernel/netlink-messages.js';
import { RTM_NEWROUTE, RT_TABLE_COMPAT } from '../../src/kernel/netlink-constants.js';
import { bytesToAddr, maskBytes } from '../../src/util/ip.js';
import { bytes, checkProperty, corrupted, fuzzTimeoutMs, parsesOrRefuses, truncated } from '../helpers/fuzz.js';

const MALFORMED = 'ERR_NETLINK_MALFORMED';
const CI_RUNS = 1000;
const opts = { timeout: fuzzTimeoutMs };

const addr4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((a) => bytesToAddr(a));
const addr6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => bytesToAddr(a));
const prefixOf = (family: 4 | 6) =>
  fc
    .tuple(fc.uint8Array({ minLength: family === 4 ? 4 : 16, maxLength: family === 4 ? 4 : 16 }), fc.integer({ min: 0, max: family === 4 ? 32 : 128 }))
    .map(([a, len]) => `${bytesToAddr(maskBytes(a, len))}/${len}`);
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const ifindex = fc.integer({ min: 1, max: 0x7fffffff });

function nextHopSpec(family: 4 | 6): fc.Arbitrary<NextHopSpec> {
  const own = family === 4 ? addr4 : addr6;
  const other = family === 4 ? addr6 : addr4;
  return fc
    .record({
      gw: fc.oneof(
        fc.constant(undefined),
        own.map((gateway) => ({ gateway })),
        other.map((via) => ({ via })),
        own.map((via) => ({ via })),
      ),
      ifindex: fc.option(ifindex, { nil: undefined }),
      weight: fc.option(fc.integer({ min: 1, max: 256 }), { nil: undefined }),
      flags: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    })
    .map(({ gw, ...rest }) => {
      const nh: NextHopSpec = { ...gw };
      for (const [k, v] of Object.entries(rest)) if (v !== undefined) (nh as Record<string, unknown>)[k] = v;
      return nh;
    });
}

/** Any route the kernel could report: either family, any table, single path, multipath or nexthop id. */
const routeSpec: fc.Arbitrary<RouteSpec> = fc.constantFrom<4 | 6>(4, 6).chain((family) =>
  fc
    .record({
      prefix: fc.option(prefixOf(family), { nil: undefined }),
      table: fc.option(u32, { nil: undefined }),
      noTableAttr: fc.boolean(),
      protocol: fc.integer({ min: 0, max: 255 }),
      scope: fc.integer({ min: 0, max: 255 }),
      type: fc.integer({ min: 0, max: 255 }),
      tos: fc.integer({ min: 0, max: 255 }),
      rtmFlags: u32,
      metric: fc.option(u32, { nil: undefined }),
      nhid: fc.option(fc.integer({ min: 1, max: 0xffffffff }), { nil: undefined }),
      paths: fc.oneof(
        fc.constant({}),
        fc.record({ gateway: family === 4 ? addr4 : addr6, oif: fc.option(ifindex, { nil: undefined }) }),
        fc.record({ via: family === 4 ? addr6 : addr4, oif: fc.option(ifindex, { nil: undefined }) }),
        fc.record({ oif: ifindex }),
        fc.record({ multipath: fc.array(nextHopSpec(family), { minLength: 0, maxLength: 8 }) }),
      ),
    })
    .map(({ paths, ...r }) => {
      const s: RouteSpec = { family, ...paths };
      for (const [k, v] of Object.entries(r)) if (v !== undefined) (s as Record<string, unknown>)[k] = v;
      if ((s as { oif?: number }).oif === undefined) delete (s as { oif?: number }).oif;
      return s;
    }),
);

/** What parseRouteMessage must give back for a spec. */
function expectedNextHops(s: RouteSpec): ParsedNextHop[] {
  if (s.multipath) {
    return s.multipath.map((nh) => {
      const gw = nh.gateway ?? nh.via;
      return { ...(gw !== undefined ? { gateway: gw } : {}), ifindex: nh.ifindex ?? 0, weight: nh.weight ?? 1, flags: nh.flags ?? 0 };
    });
  }
  const gw = s.gateway ?? s.via;
  if (gw !== undefined) return [{ gateway: gw, ifindex: s.oif ?? 0, weight: 1, flags: (s.rtmFlags ?? 0) & 0xff }];
  return s.oif ? [{ ifindex: s.oif, weight: 1, flags: (s.rtmFlags ?? 0) & 0xff }] : [];
}

const anyRoute = routeSpec.map((s) => encodeRouteMessage(s));
const anyNexthop = fc
  .oneof(
    fc.record({ id: fc.integer({ min: 1, max: 0xffffffff }), gateway: fc.oneof(addr4, addr6), oif: fc.option(ifindex, { nil: undefined }) }),
    fc.record({ id: fc.integer({ min: 1, max: 0xffffffff }), blackhole: fc.constant(true) }),
    fc.record({
      id: fc.integer({ min: 1, max: 0xffffffff }),
      group: fc.array(fc.record({ id: fc.integer({ min: 1, max: 0xffffffff }), weight: fc.integer({ min: 1, max: 256 }) }), { minLength: 1, maxLength: 8 }),
    }),
  )
  .map((s) => {
    if ('oif' in s && s.oif === undefined) delete s.oif;
    return s;
  });
const ifname = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-_@'.split('')), minLength: 1, maxLength: 15 });
const anyLink = fc.record({ ifindex, ifname: fc.option(ifname, { nil: undefined }), flags: u32, change: u32 }).map((s) => {
  if (s.ifname === undefined) delete s.ifname;
  return s;
});
const anyAddr = fc
  .oneof(
    fc.record({ ifindex, address: addr4, local: fc.option(addr4, { nil: undefined }), prefixlen: fc.integer({ min: 0, max: 32 }) }),
    fc.record({ ifindex, address: addr6, local: fc.option(addr6, { nil: undefined }), prefixlen: fc.integer({ min: 0, max: 128 }) }),
  )
  .map((s) => {
    if (s.local === undefined) delete s.local;
    return s;
  });

/** Any valid message of the four kinds, framed. */
const anyMessage = fc.oneof(anyRoute, anyNexthop.map(encodeNexthopMessage), anyLink.map(encodeLinkMessage), anyAddr.map(encodeAddrMessage));

/** Refusals that concern the fixed header or a required attribute: they name the field, not an offset. */
const NO_OFFSET = /shorter than struct|but no RTA_DST|without NHA_ID|rtm_dst_len \d+, more than/;

/** Every parser on one payload: each returns or refuses saying where, none crashes. */
function parseEveryWay(payload: Buffer): void {
  for (const parse of [parseRouteMessage, parseNexthopMessage, parseLinkMessage, parseAddrMessage]) {
    const r = parsesOrRefuses(MALFORMED, () => parse(payload));
    if ('error' in r && !NO_OFFSET.test(r.error.message)) assert.match(r.error.message, /offset \d+/);
  }
}

/** A batch as the native reader hands it over, each message also parsed in place. */
function readBatch(batch: Buffer): void {
  parsesOrRefuses(MALFORMED, () =>
    forEachMessage(batch, (m) => {
      parsesOrRefuses(MALFORMED, () => parseRouteMessage(m.batch, m.start, m.end));
      parseEveryWay(m.payload);
    }),
  );
}

test('any bytes: every netlink parser returns or refuses with ERR_NETLINK_MALFORMED', opts, (t) => {
  checkProperty(
    fc.property(bytes(300), (b) => {
      parseEveryWay(b);
      readBatch(b);
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

test('a corrupted valid message: refused or parsed, never a crash', opts, (t) => {
  checkProperty(
    fc.property(corrupted(anyMessage), (b) => {
      readBatch(b);
      if (b.length > 16) parseEveryWay(b.subarray(16));
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

test('a route the kernel could send parses back to what was encoded, alone and in place in a batch', opts, (t) => {
  checkProperty(
    fc.property(routeSpec, fc.integer({ min: 0, max: 3 }), (s, before) => {
      const msg = encodeRouteMessage(s);
      // The same route after a few others: read in place at its offset in the batch.
      const batch = Buffer.concat([...Array.from({ length: before }, () => encodeRouteMessage({ prefix: '10.0.0.0/8', oif: 1 })), msg]);
      const framed = splitMessages(batch);
      assert.equal(framed.length, before + 1);
      const m = framed[before]!;
      assert.equal(m.type, RTM_NEWROUTE);
      const r = parseRouteMessage(m.payload);
      assert.deepEqual(parseRouteMessage(m.batch, m.start, m.end), r);
      const family = s.family ?? 4;
      const table = s.table ?? 254;
      assert.equal(r.family, family === 4 ? 2 : 10);
      assert.equal(r.prefix, s.prefix ?? (family === 4 ? '0.0.0.0/0' : '::/0'));
      assert.equal(r.table, s.noTableAttr ? (table < 256 ? table : RT_TABLE_COMPAT) : table);
      assert.equal(r.protocol, s.protocol);
      assert.equal(r.scope, s.scope);
      assert.equal(r.type, s.type);
      assert.equal(r.tos, s.tos);
      assert.equal(r.flags, s.rtmFlags);
      assert.equal(r.metric, s.metric ?? 0);
      assert.equal(r.nhid, s.nhid ?? 0);
      assert.equal(r.multipath, s.multipath !== undefined);
      assert.deepEqual(r.nexthops, expectedNextHops(s));
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

test('nexthop objects, links and addresses parse back to what was encoded', opts, (t) => {
  checkProperty(
    fc.property(anyNexthop, anyLink, anyAddr, (nh, link, addr) => {
      const n = parseNexthopMessage(splitMessages(encodeNexthopMessage(nh))[0]!.payload);
      assert.equal(n.id, nh.id);
      assert.equal(n.gateway, 'gateway' in nh ? nh.gateway : undefined);
      assert.equal(n.oif, ('oif' in nh ? nh.oif : undefined) ?? 0);
      assert.equal(n.blackhole, 'blackhole' in nh);
      assert.deepEqual(n.group, 'group' in nh ? nh.group.map((m) => ({ ...m })) : undefined);
      const l = parseLinkMessage(splitMessages(encodeLinkMessage(link))[0]!.payload);
      assert.deepEqual(l, {
        family: 0,
        type: 0,
        ifindex: link.ifindex,
        flags: link.flags,
        change: link.change,
        ...(link.ifname !== undefined ? { ifname: link.ifname } : {}),
      });
      const a = parseAddrMessage(splitMessages(encodeAddrMessage(addr))[0]!.payload);
      assert.deepEqual(a, {
        family: addr.address.includes(':') ? 10 : 2,
        prefixlen: addr.prefixlen,
        flags: 0,
        scope: 0,
        ifindex: addr.ifindex,
        address: addr.address,
        ...(addr.local !== undefined ? { local: addr.local } : {}),
      });
    }),
    CI_RUNS / 2,
    (m) => t.diagnostic(m),
  );
});

test('a batch cut short is refused, naming the byte where the cut message starts', opts, (t) => {
  const batch = fc.array(anyMessage, { minLength: 1, maxLength: 4 }).map((ms) => Buffer.concat(ms));
  checkProperty(
    fc.property(truncated(batch), ({ full, cut }) => {
      const starts: number[] = [];
      const ends: number[] = [];
      forEachMessage(full, (m) => {
        starts.push(m.start - 16);
        ends.push(m.end);
      });
      const part = full.subarray(0, cut);
      const whole = ends.filter((e) => e <= cut).length;
      if (starts.includes(cut) || ends.some((e, i) => e <= cut && cut < (starts[i + 1] ?? full.length))) {
        // A cut between messages (or in a message's padding) leaves whole messages: nothing to notice.
        assert.equal(splitMessages(part).length, whole);
        return;
      }
      const broken = starts[whole]!;
      const got: number[] = [];
      const r = parsesOrRefuses(MALFORMED, () =>
        forEachMessage(part, (m) => {
          got.push(m.start - 16);
        }),
      );
      assert.ok('error' in r, `a batch cut at byte ${cut} of ${full.length} was accepted`);
      assert.match(r.error.message, new RegExp(`at byte ${broken}\\b`));
      assert.deepEqual(got, starts.slice(0, whole), 'the whole messages before the cut are handed over');
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

test('a payload cut short is refused naming an offset within what arrived, or, cut between attributes, parses', opts, (t) => {
  // Attributes are a run of TLVs: a cut between two leaves a shorter valid message, which only
  // the netlink header's length (checked by forEachMessage) can tell. Other refusals concern
  // the fixed header or a required attribute, which name no offset.
  const payloads = fc
    .oneof(anyRoute, anyNexthop.map(encodeNexthopMessage), anyLink.map(encodeLinkMessage), anyAddr.map(encodeAddrMessage))
    .map((b) => splitMessages(b)[0]!.payload);
  checkProperty(
    fc.property(truncated(payloads), ({ full, cut }) => {
      for (const parse of [parseRouteMessage, parseNexthopMessage, parseLinkMessage, parseAddrMessage]) {
        const r = parsesOrRefuses(MALFORMED, () => parse(full.subarray(0, cut)));
        if ('value' in r || NO_OFFSET.test(r.error.message)) continue;
        const at = [...r.error.message.matchAll(/offset (\d+)/g)].map((m) => Number(m[1]));
        assert.ok(at.length > 0, `the refusal names no offset: ${r.error.message}`);
        assert.ok(
          at.every((n) => n <= cut),
          `the refusal names an offset past the ${cut} bytes that arrived: ${r.error.message}`,
        );
      }
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});
