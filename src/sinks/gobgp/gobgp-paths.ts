/**
 * From a reflected route to the GoBGP paths rtreflect writes (one per next hop,
 * add-path identifiers derived from the next hop), their canonical fingerprint,
 * and back from paths read out of gobgpd to the same fingerprint.
 */
import { RtreflectError } from '../../util/errors.js';
import { canonicalAddr, familyOf, formatPrefix, parsePrefix, writeDottedQuad, type Prefix } from '../../util/ip.js';
import { fnv1a } from '../../util/hash.js';
import type { ReflectedRoute } from '../../engine/reflected-route.js';
import * as w from './bgp-wire.js';
import { apiFamily, type ApiPathIn } from './gobgp-api.js';

export type OwnershipMark = { community: number } | { largeCommunity: w.LargeCommunity };

export function parseOwnershipMark(o: { community?: string; largeCommunity?: string }): OwnershipMark {
  if ((o.community === undefined) === (o.largeCommunity === undefined)) {
    throw new RtreflectError('ERR_GOBGP_CONFIG', 'gobgp sink ownership: set exactly one of "community" or "largeCommunity"');
  }
  if (o.community !== undefined) {
    const c = w.parseCommunity(o.community);
    if (c >>> 16 === 0xffff || c >>> 16 === 0) {
      throw new RtreflectError(
        'ERR_GOBGP_CONFIG',
        `gobgp sink ownership community "${o.community}" is in a reserved range (0:x or 65535:x, e.g. 65535:65281 is NO_EXPORT); use a private ASN such as 65534:x`,
      );
    }
    return { community: c };
  }
  return { largeCommunity: w.parseLargeCommunity(o.largeCommunity!) };
}

/** Everything written for one route: the value behind its fingerprint. */
export interface PathPlan {
  key: string;
  vrf?: string;
  prefix: Prefix;
  /** Sorted by next hop text; ids unique within the route. */
  hops: { nh: string; id: number }[];
  med?: number;
  localPref?: number;
  /** Sorted, unique, the ownership mark included when it is a community. */
  communities: number[];
  largeCommunities: w.LargeCommunity[];
}

/**
 * A route's key in this sink: the prefix itself in the global RIB (GoBGP's global
 * RIB has no kernel tables, so all routes without a VRF share one key space; the
 * route's own string is the key, so a full table of keys costs no extra strings),
 * `vrf:NAME|prefix` in a VRF.
 */
export function gobgpKey(vrf: string | undefined, prefix: string): string {
  return vrf !== undefined ? `vrf:${vrf}|${prefix}` : prefix;
}

export function parseGobgpKey(key: string): { vrf?: string; prefix: Prefix } {
  const bar = key.lastIndexOf('|');
  if (bar < 0) return { prefix: parsePrefix(key) };
  const head = key.slice(0, bar),
    pfx = key.slice(bar + 1);
  if (!head.startsWith('vrf:')) throw new RtreflectError('ERR_GOBGP_KEY', `"${key}" is not a gobgp sink key`, { userFacing: false });
  return { vrf: head.slice(4), prefix: parsePrefix(pfx) };
}

const ID_MASK = 0x3fffffff; // 30 bits: small integers stay unboxed in V8 maps

/** Stable add-path identifier for a next hop: FNV-1a of its text, never 0 (0 is what other injectors use). */
export function pathIdFor(nh: string): number {
  return fnv1a(nh) & ID_MASK || 1;
}

function assignIds(nhs: string[]): { nh: string; id: number }[] {
  const used = new Set<number>();
  return nhs.map((nh) => {
    let id = pathIdFor(nh);
    while (used.has(id)) id = (id % ID_MASK) + 1; // deterministic probe on collision
    used.add(id);
    return { nh, id };
  });
}

function isLinkLocal(a: string): boolean {
  return (a.charCodeAt(0) | 0x20) === 0x66 /* f */ && /^fe[89ab][0-9a-f]?:/i.test(a);
}

const QUAD = new Uint8Array(4);

/**
 * Writes the NLRI of canonical IPv4 prefix text ("a.b.c.d/n", no leading zeros, host bits
 * zero) at out[0..]: the length, then the prefix's significant bytes; returns the bytes
 * written, or -1 for anything else (the caller falls back to parsePrefix, which also
 * produces its error messages). By hand and allocating nothing: the bulk of a full table.
 */
export function writeCanonicalV4Nlri(t: string, out: Uint8Array): number {
  const slash = t.indexOf('/');
  if (slash < 0 || !writeDottedQuad(t, QUAD, 0, slash)) return -1;
  const n = t.length;
  let len = 0,
    digits = 0;
  for (let i = slash + 1; i < n; i++) {
    const c = t.charCodeAt(i);
    if (c < 48 || c > 57 || (digits === 1 && len === 0)) return -1;
    len = len * 10 + (c - 48);
    if (++digits > 2) return -1;
  }
  if (digits === 0 || len > 32) return -1;
  const ip = ((QUAD[0]! << 24) | (QUAD[1]! << 16) | (QUAD[2]! << 8) | QUAD[3]!) >>> 0;
  if (len < 32 && (ip & (0xffffffff >>> len)) !== 0) return -1; // host bits: let parsePrefix explain
  const nbytes = (len + 7) >> 3;
  out[0] = len;
  for (let i = 0; i < nbytes; i++) out[1 + i] = QUAD[i]!;
  return 1 + nbytes;
}

const NLRI4 = new Uint8Array(5);

/** Canonical IPv4 prefix text parsed (see writeCanonicalV4Nlri), or undefined. */
export function parseCanonicalV4Prefix(t: string): Prefix | undefined {
  const n = writeCanonicalV4Nlri(t, NLRI4);
  if (n < 0) return undefined;
  const addr = new Uint8Array(4);
  for (let i = 1; i < n; i++) addr[i - 1] = NLRI4[i]!;
  return { family: 4, addr, len: NLRI4[0]! };
}

/** Plans a route, or says why GoBGP cannot carry it. */
export function planRoute(r: ReflectedRoute, mark: OwnershipMark): PathPlan | { skip: string } {
  const fast = parseCanonicalV4Prefix(r.prefix);
  const prefix = fast ?? parsePrefix(r.prefix);
  const self = prefix.family === 4 ? '0.0.0.0' : '::';
  let nhs: string[];
  const want = r.bgp?.nextHop;
  if (want !== undefined) {
    if (want === 'self') nhs = [self];
    else {
      let c: string;
      try {
        c = canonicalAddr(want);
      } catch {
        return { skip: `bgp next hop "${want}" is not an address or "self"` };
      }
      nhs = [c];
    }
  } else {
    // Route gateways are canonical text by contract (kernel/route.ts); bgp.nextHop from handlers is canonicalized above.
    const gws: string[] = [];
    for (const h of r.nexthops) if (h.gateway !== undefined && !gws.includes(h.gateway)) gws.push(h.gateway);
    // No gateway: blackhole/unreachable/prohibit (often an aggregate originated here) or a device route:
    // announce with next hop "self"; gobgpd puts its own address towards each peer.
    nhs = gws.length ? gws.sort() : [self];
  }
  for (const nh of nhs) {
    if (isLinkLocal(nh)) return { skip: `next hop ${nh} is IPv6 link-local and cannot be announced in BGP; set bgp.nextHop (e.g. "self") in a handler` };
    if (prefix.family === 6 && familyOf(nh) === 4) return { skip: `IPv6 route with IPv4 next hop ${nh} cannot be announced` };
  }
  const communities = new Set<number>();
  for (const c of r.bgp?.communities ?? []) {
    try {
      communities.add(w.parseCommunity(c));
    } catch (e) {
      return { skip: (e as Error).message };
    }
  }
  const large = new Map<string, w.LargeCommunity>();
  for (const c of r.bgp?.largeCommunities ?? []) {
    try {
      const lc = w.parseLargeCommunity(c);
      large.set(w.formatLargeCommunity(lc), lc);
    } catch (e) {
      return { skip: (e as Error).message };
    }
  }
  if ('community' in mark) communities.add(mark.community);
  else large.set(w.formatLargeCommunity(mark.largeCommunity), mark.largeCommunity);
  for (const [what, v] of [
    ['MED', r.bgp?.med],
    ['local preference', r.bgp?.localPref],
  ] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) return { skip: `${what} ${v} is not an integer in 0..4294967295` };
  }
  if (r.vrf !== undefined && (r.vrf === '' || /[|\s]/.test(r.vrf))) return { skip: `VRF name "${r.vrf}" is empty or contains "|" or whitespace` };
  return {
    key: gobgpKey(r.vrf, fast ? r.prefix : formatPrefix(prefix)),
    ...(r.vrf !== undefined ? { vrf: r.vrf } : {}),
    prefix,
    hops: assignIds(nhs),
    ...(r.bgp?.med !== undefined ? { med: r.bgp.med } : {}),
    ...(r.bgp?.localPref !== undefined ? { localPref: r.bgp.localPref } : {}),
    communities: [...communities].sort((a, b) => a - b),
    largeCommunities: [...large.values()].sort(w.compareLargeCommunity),
  };
}

/** Canonical text of a plan. Field order and formatting are fixed: read-back must reproduce it byte for byte. */
export function fingerprintOf(p: Omit<PathPlan, 'key' | 'prefix'>): string {
  let s = 'nh=' + p.hops.map((h) => `${h.nh}#${h.id}`).join(',');
  if (p.med !== undefined) s += `;med=${p.med}`;
  if (p.localPref !== undefined) s += `;lp=${p.localPref}`;
  if (p.communities.length) s += ';c=' + p.communities.map(w.formatCommunity).join(',');
  if (p.largeCommunities.length) s += ';lc=' + p.largeCommunities.map(w.formatLargeCommunity).join(',');
  if (p.vrf !== undefined) s += `;vrf=${p.vrf}`;
  return s;
}

/** The add-path identifiers a fingerprint names (for withdrawing what it describes). */
export function idsOfFingerprint(fp: string): number[] {
  const m = /^nh=([^;]*)/.exec(fp);
  if (!m || !m[1]) return [];
  return m[1]
    .split(',')
    .map((x) => Number(x.slice(x.lastIndexOf('#') + 1)))
    .filter((n) => Number.isInteger(n) && n > 0);
}

// Constant attributes, encoded once (read-only; gRPC only reads them).
const ORIGIN_IGP_ATTR = w.encodeOrigin();
const EMPTY_AS_PATH_ATTR = w.encodeEmptyAsPath();

/**
 * Encoded attributes shared by many routes (a table has few distinct next hops and
 * community sets): cached by their text, bounded. The arrays are read-only.
 */
const attrCache = new Map<string, Uint8Array>();
function cachedAttr(key: string, make: () => Uint8Array): Uint8Array {
  let a = attrCache.get(key);
  if (a === undefined) {
    if (attrCache.size >= 8192) attrCache.clear();
    attrCache.set(key, (a = make()));
  }
  return a;
}

/** Per next hop of a plan: its path attributes in wire form (shared arrays are read-only). */
export function attributesOf(p: PathPlan, nlri: Uint8Array): Uint8Array[][] {
  const common: Uint8Array[] = [ORIGIN_IGP_ATTR, EMPTY_AS_PATH_ATTR];
  if (p.med !== undefined) common.push(w.encodeMed(p.med));
  if (p.localPref !== undefined) common.push(w.encodeLocalPref(p.localPref));
  if (p.communities.length) {
    const c = p.communities;
    common.push(c.length === 1 ? cachedAttr(`c${c[0]}`, () => w.encodeCommunities(c)) : w.encodeCommunities(c));
  }
  if (p.largeCommunities.length) {
    const lc = p.largeCommunities;
    common.push(lc.length === 1 ? cachedAttr(`l${lc[0]![0]}:${lc[0]![1]}:${lc[0]![2]}`, () => w.encodeLargeCommunities(lc)) : w.encodeLargeCommunities(lc));
  }
  return p.hops.map((h) => {
    // Next hops are canonical addresses here (planRoute): a colon means IPv6.
    const nhAttr =
      p.prefix.family === 4 && !h.nh.includes(':')
        ? cachedAttr(h.nh, () => w.encodeNextHop(h.nh))
        : w.encodeMpReach(p.prefix.family === 4 ? w.AFI_IP : w.AFI_IP6, w.SAFI_UNICAST, h.nh, nlri);
    return [...common, nhAttr];
  });
}

/** Binary paths for a plan as API objects: one per next hop, each with its add-path identifier. */
export function encodePlan(p: PathPlan): ApiPathIn[] {
  const nlri = w.encodePrefixNlri(p.prefix);
  const family = apiFamily(p.prefix.family);
  return attributesOf(p, nlri).map((attrs, i) => ({ family, nlri_binary: nlri, pattrs_binary: attrs, identifier: p.hops[i]!.id }));
}

/** A withdrawal of one path (gobgpd matches prefix + identifier). */
export function encodeWithdraw(prefix: Prefix, id: number): ApiPathIn {
  const nlri = w.encodePrefixNlri(prefix);
  return { family: apiFamily(prefix.family), nlri_binary: nlri, pattrs_binary: [ORIGIN_IGP_ATTR], identifier: id, is_withdraw: true };
}

/** A path as read back: its add-path id and attributes (a fingerprint does not depend on the prefix, the key has it). */
export interface ReadPath {
  id: number;
  attrs: w.DecodedAttrs;
}

/** Whether decoded attributes carry the ownership mark. */
export function hasMark(a: w.DecodedAttrs, mark: OwnershipMark): boolean {
  if ('community' in mark) return !!a.communities?.includes(mark.community);
  const m = mark.largeCommunity;
  return !!a.largeCommunities?.some((c) => c[0] === m[0] && c[1] === m[1] && c[2] === m[2]);
}

/** Rebuilds the fingerprint of one route from its paths as read from gobgpd. */
export function fingerprintFromRead(vrf: string | undefined, paths: ReadPath[]): string {
  if (paths.length === 1) return fingerprintOfOne(vrf, paths[0]!);
  const sig = (a: w.DecodedAttrs) => {
    const communities = [...new Set(a.communities ?? [])].sort((x, y) => x - y);
    const large = [...new Map((a.largeCommunities ?? []).map((c) => [w.formatLargeCommunity(c), c])).values()].sort(w.compareLargeCommunity);
    return { med: a.med, localPref: a.localPref, communities, largeCommunities: large };
  };
  const hops = paths
    .map((p) => ({ nh: p.attrs.nextHop ?? p.attrs.mpReach?.nextHops[0] ?? '?', id: p.id }))
    .sort((a, b) => (a.nh < b.nh ? -1 : a.nh > b.nh ? 1 : a.id - b.id));
  const sigs = paths.map((p) => sig(p.attrs));
  const first = sigs[0]!;
  const fp = fingerprintOf({
    ...(vrf !== undefined ? { vrf } : {}),
    hops,
    ...(first.med !== undefined ? { med: first.med } : {}),
    ...(first.localPref !== undefined ? { localPref: first.localPref } : {}),
    communities: first.communities,
    largeCommunities: first.largeCommunities,
  });
  // Paths of one route disagreeing (a half-applied change) must not look in sync.
  const firstText = JSON.stringify(first);
  return sigs.every((s) => JSON.stringify(s) === firstText) ? fp : fp + ';inconsistent';
}

/** The common single-path case of fingerprintFromRead: nothing to compare, fewer copies. */
function fingerprintOfOne(vrf: string | undefined, p: ReadPath): string {
  const a = p.attrs;
  let communities = a.communities ?? [];
  if (communities.length > 1) communities = [...new Set(communities)].sort((x, y) => x - y);
  let large = a.largeCommunities ?? [];
  if (large.length > 1) large = [...new Map(large.map((c) => [w.formatLargeCommunity(c), c])).values()].sort(w.compareLargeCommunity);
  return fingerprintOf({
    ...(vrf !== undefined ? { vrf } : {}),
    hops: [{ nh: a.nextHop ?? a.mpReach?.nextHops[0] ?? '?', id: p.id }],
    ...(a.med !== undefined ? { med: a.med } : {}),
    ...(a.localPref !== undefined ? { localPref: a.localPref } : {}),
    communities,
    largeCommunities: large,
  });
}
