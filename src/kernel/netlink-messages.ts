/**
 * Parsers for the rtnetlink messages rtreflect consumes (routes, nexthop objects,
 * links, addresses) and builders that craft the same bytes for tests.
 * (Longer than most modules: each parser sits beside the builder that writes its bytes.)
 *
 * Parsers take the payload of one netlink message (NlMsg.payload). Netlink
 * integers are host order (little-endian on the machines we support),
 * addresses network order. Anything truncated or inconsistent throws
 * ERR_NETLINK_MALFORMED naming the field and byte offset: a bad message is
 * reported, never half-parsed.
 */
import { RtreflectError } from '../util/errors.js';
import { addrToBytes, bytesToAddr, bytesToPrefix, parsePrefix } from '../util/ip.js';
import { fnv1aBytes } from '../util/hash.js';
import {
  AF_INET,
  AF_INET6,
  IFA_ADDRESS,
  IFA_LOCAL,
  IFLA_IFNAME,
  NHA_BLACKHOLE,
  NHA_FDB,
  NHA_GATEWAY,
  NHA_GROUP,
  NHA_GROUP_TYPE,
  NHA_ID,
  NHA_OIF,
  NLMSG_HDRLEN,
  RTA_DST,
  RTA_GATEWAY,
  RTA_MULTIPATH,
  RTA_NH_ID,
  RTA_OIF,
  RTA_PRIORITY,
  RTA_TABLE,
  RTA_VIA,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWNEXTHOP,
  RTM_NEWROUTE,
  RTN_UNICAST,
  RT_TABLE_COMPAT,
  RT_TABLE_MAIN,
} from './netlink-constants.js';
import { align4 } from './netlink-frame.js';

const RTMSG_LEN = 12;
const NHMSG_LEN = 8;
const IFINFOMSG_LEN = 16;
const IFADDRMSG_LEN = 8;
const RTNH_LEN = 8;
const NLA_TYPE_MASK = 0x3fff;
const NLA_F_NESTED = 0x8000;

function malformed(what: string): never {
  throw new RtreflectError('ERR_NETLINK_MALFORMED', `malformed netlink message: ${what}`, { userFacing: false });
}

/** Checks one attribute header at `off` (payload-relative) and returns its length. */
function attrLen(buf: Buffer, off: number, end: number, ctx: string): number {
  if (off + 4 > end) malformed(`${ctx}: ${end - off} stray bytes at offset ${off}, too short for an attribute header`);
  const len = buf.readUInt16LE(off);
  if (len < 4 || off + len > end) {
    malformed(`${ctx}: attribute type ${buf.readUInt16LE(off + 2) & NLA_TYPE_MASK} at offset ${off} claims length ${len} but ${end - off} bytes remain`);
  }
  return len;
}

function readU32(buf: Buffer, off: number, len: number, ctx: string): number {
  if (len !== 8) malformed(`${ctx} at offset ${off} has ${len - 4} bytes, expected 4`);
  return buf.readUInt32LE(off + 4);
}

function addrLenOf(family: number): number {
  return family === AF_INET ? 4 : family === AF_INET6 ? 16 : 0;
}

function readAddr(buf: Buffer, off: number, len: number, family: number, ctx: string): string {
  const want = addrLenOf(family);
  if (want === 0) malformed(`${ctx} at offset ${off} is an address of family ${family}, neither IPv4 nor IPv6`);
  if (len - 4 !== want) malformed(`${ctx} at offset ${off} has ${len - 4} bytes, expected ${want} for address family ${family}`);
  return addrText(buf, off + 4, want);
}

// Address texts by their bytes, direct-mapped: a table has a handful of next hops, and
// without this each of its routes would make (and drop) its own copy of one of them.
const CACHE_SLOTS = 256;
const cachedBytes = new Uint8Array(CACHE_SLOTS * 16);
const cachedLen = new Uint8Array(CACHE_SLOTS);
const cachedText: string[] = new Array<string>(CACHE_SLOTS).fill('');

/** The text of the address at buf[at, at + len) (4 or 16 bytes), the same string for the same bytes while cached. */
function addrText(buf: Buffer, at: number, len: number): string {
  const h = fnv1aBytes(buf, at, at + len);
  const slot = (h >>> 24) ^ (h & 0xff);
  const base = slot * 16;
  if (cachedLen[slot] === len) {
    let same = true;
    for (let i = 0; i < len; i++)
      if (cachedBytes[base + i] !== buf[at + i]) {
        same = false;
        break;
      }
    if (same) return cachedText[slot]!;
  }
  const text = bytesToAddr(buf, at, len);
  for (let i = 0; i < len; i++) cachedBytes[base + i] = buf[at + i]!;
  cachedLen[slot] = len;
  cachedText[slot] = text;
  return text;
}

/** struct rtvia: u16 family, then the address. */
function readVia(buf: Buffer, off: number, len: number, ctx: string): string {
  if (len < 6) malformed(`${ctx} RTA_VIA at offset ${off} is too short (${len - 4} bytes)`);
  const fam = buf.readUInt16LE(off + 4);
  const want = addrLenOf(fam);
  if (want === 0) malformed(`${ctx} RTA_VIA at offset ${off} has unsupported address family ${fam}`);
  if (len - 6 !== want) malformed(`${ctx} RTA_VIA at offset ${off} has ${len - 6} address bytes, expected ${want}`);
  return addrText(buf, off + 6, want);
}

// ---------------------------------------------------------------- routes

/** One path as the kernel reported it (dead/linkdown paths included: `flags` says). */
export interface ParsedNextHop {
  gateway?: string;
  /** 0 when the kernel gave none. */
  ifindex: number;
  /** 1..256 (rtnh_hops + 1); 1 for a single path. */
  weight: number;
  /** RTNH_F_* flags of this path (for a single path: rtm_flags). */
  flags: number;
}

export interface RouteMessage {
  /** AF_INET or AF_INET6 (other families are parsed for the header only). */
  family: number;
  dstLen: number;
  srcLen: number;
  tos: number;
  /** Full table id: RTA_TABLE when present, else the 8-bit header field. */
  table: number;
  protocol: number;
  scope: number;
  /** RTN_* */
  type: number;
  /** rtm_flags (RTM_F_CLONED, RTNH_F_* of a single path). */
  flags: number;
  /** Canonical prefix text; the default route when RTA_DST is absent. */
  prefix: string;
  /** RTA_PRIORITY, 0 when absent. */
  metric: number;
  /** RTA_NH_ID, 0 when absent. */
  nhid: number;
  /** The paths: RTA_MULTIPATH entries, or the single RTA_GATEWAY/RTA_VIA/RTA_OIF path; empty when none given. */
  nexthops: ParsedNextHop[];
  /** True when the paths came from RTA_MULTIPATH. */
  multipath: boolean;
}

function parseMultipath(buf: Buffer, start: number, end: number, family: number, out: ParsedNextHop[]): void {
  let off = start;
  while (off < end) {
    if (off + RTNH_LEN > end) malformed(`RTA_MULTIPATH: ${end - off} stray bytes at offset ${off}, too short for a struct rtnexthop`);
    const len = buf.readUInt16LE(off);
    if (len < RTNH_LEN || off + len > end) {
      malformed(`RTA_MULTIPATH: rtnexthop at offset ${off} claims length ${len} but ${end - off} bytes remain`);
    }
    const nh: ParsedNextHop = { ifindex: buf.readInt32LE(off + 4), weight: buf[off + 3]! + 1, flags: buf[off + 2]! };
    const aend = off + len;
    let a = off + RTNH_LEN;
    while (a < aend) {
      const alen = attrLen(buf, a, aend, 'RTA_MULTIPATH nexthop');
      const type = buf.readUInt16LE(a + 2) & NLA_TYPE_MASK;
      if (type === RTA_GATEWAY) nh.gateway = readAddr(buf, a, alen, family, 'RTA_MULTIPATH RTA_GATEWAY');
      else if (type === RTA_VIA) nh.gateway = readVia(buf, a, alen, 'RTA_MULTIPATH');
      a += align4(alen);
    }
    out.push(nh);
    off += align4(len);
  }
}

/**
 * Parses an RTM_NEWROUTE/RTM_DELROUTE payload (struct rtmsg + attributes): all of `buf`, or
 * buf[start, end) read in place (a message of a batch). Offsets in errors count from the
 * payload's start either way.
 */
export function parseRouteMessage(buf: Buffer, start = 0, end = buf.length): RouteMessage {
  if (start === 0 && end === buf.length) return parseRoute(buf, 0, end);
  try {
    return parseRoute(buf, start, end);
  } catch {
    // Parsed again on its own, the payload gives the same error with offsets from its start.
    return parseRoute(buf.subarray(start, end), 0, end - start);
  }
}

function parseRoute(buf: Buffer, base: number, end: number): RouteMessage {
  if (end - base < RTMSG_LEN) malformed(`route message payload is ${end - base} bytes, shorter than struct rtmsg (${RTMSG_LEN})`);
  const family = buf[base]!;
  const dstLen = buf[base + 1]!;
  const alen = addrLenOf(family);
  if (alen && dstLen > alen * 8) malformed(`route message has rtm_dst_len ${dstLen}, more than ${alen * 8}`);
  let table = buf[base + 4]!;
  const flags = buf.readUInt32LE(base + 8);
  let dstAt = -1;
  let metric = 0,
    nhid = 0,
    oif = 0;
  let gateway: string | undefined;
  let nexthops: ParsedNextHop[] | undefined;
  let off = base + RTMSG_LEN;
  while (off < end) {
    const len = attrLen(buf, off, end, 'route message');
    switch (buf.readUInt16LE(off + 2) & NLA_TYPE_MASK) {
      case RTA_DST:
        if (alen === 0) break; // not an IP route: its destination is not an address (the caller skips it)
        if (len - 4 !== alen) malformed(`RTA_DST at offset ${off} has ${len - 4} bytes, expected ${alen} for address family ${family}`);
        dstAt = off + 4;
        break;
      case RTA_TABLE:
        table = readU32(buf, off, len, 'RTA_TABLE');
        break;
      case RTA_PRIORITY:
        metric = readU32(buf, off, len, 'RTA_PRIORITY');
        break;
      case RTA_OIF:
        oif = readU32(buf, off, len, 'RTA_OIF');
        break;
      case RTA_NH_ID:
        nhid = readU32(buf, off, len, 'RTA_NH_ID');
        break;
      case RTA_GATEWAY:
        gateway = readAddr(buf, off, len, family, 'RTA_GATEWAY');
        break;
      case RTA_VIA:
        gateway = readVia(buf, off, len, 'route message');
        break;
      case RTA_MULTIPATH:
        nexthops = [];
        parseMultipath(buf, off + 4, off + len, family, nexthops);
        break;
      default:
        break;
    }
    off += align4(len);
  }
  let prefix: string;
  if (alen === 0) {
    prefix = '';
  } else if (dstAt < 0) {
    if (dstLen !== 0) malformed(`route message has rtm_dst_len ${dstLen} but no RTA_DST`);
    prefix = family === AF_INET6 ? '::/0' : '0.0.0.0/0';
  } else {
    prefix = bytesToPrefix(buf, dstAt, alen, dstLen);
  }
  const multipath = nexthops !== undefined;
  if (!nexthops) {
    if (gateway !== undefined) nexthops = [{ gateway, ifindex: oif, weight: 1, flags: flags & 0xff }];
    else nexthops = oif !== 0 ? [{ ifindex: oif, weight: 1, flags: flags & 0xff }] : [];
  }
  return {
    family,
    dstLen,
    srcLen: buf[base + 2]!,
    tos: buf[base + 3]!,
    table,
    protocol: buf[base + 5]!,
    scope: buf[base + 6]!,
    type: buf[base + 7]!,
    flags,
    prefix,
    metric,
    nhid,
    nexthops,
    multipath,
  };
}

// ---------------------------------------------------------------- nexthop objects

export interface NexthopGroupMember {
  id: number;
  /** 1..65536: weight + 1, with weight_high. */ weight: number;
}

export interface NexthopMessage {
  family: number;
  scope: number;
  protocol: number;
  /** RTNH_F_* (dead, onlink, linkdown). */
  flags: number;
  id: number;
  blackhole: boolean;
  /** 0 when absent. */
  oif: number;
  gateway?: string;
  group?: NexthopGroupMember[];
  groupType?: number;
  fdb: boolean;
}

/** Parses an RTM_NEWNEXTHOP/RTM_DELNEXTHOP payload (struct nhmsg + NHA_*). */
export function parseNexthopMessage(buf: Buffer): NexthopMessage {
  if (buf.length < NHMSG_LEN) malformed(`nexthop message payload is ${buf.length} bytes, shorter than struct nhmsg (${NHMSG_LEN})`);
  const m: NexthopMessage = {
    family: buf[0]!,
    scope: buf[1]!,
    protocol: buf[2]!,
    flags: buf.readUInt32LE(4),
    id: 0,
    blackhole: false,
    oif: 0,
    fdb: false,
  };
  const end = buf.length;
  let off = NHMSG_LEN;
  while (off < end) {
    const len = attrLen(buf, off, end, 'nexthop message');
    switch (buf.readUInt16LE(off + 2) & NLA_TYPE_MASK) {
      case NHA_ID:
        m.id = readU32(buf, off, len, 'NHA_ID');
        break;
      case NHA_OIF:
        m.oif = readU32(buf, off, len, 'NHA_OIF');
        break;
      case NHA_BLACKHOLE:
        m.blackhole = true;
        break;
      case NHA_FDB:
        m.fdb = true;
        break;
      case NHA_GATEWAY:
        m.gateway = readAddr(buf, off, len, m.family, 'NHA_GATEWAY');
        break;
      case NHA_GROUP_TYPE:
        if (len !== 6 && len !== 8) malformed(`NHA_GROUP_TYPE at offset ${off} has ${len - 4} bytes, expected 2`);
        m.groupType = buf.readUInt16LE(off + 4);
        break;
      case NHA_GROUP: {
        const n = len - 4;
        if (n === 0 || n % 8 !== 0) malformed(`NHA_GROUP at offset ${off} has ${n} bytes, not a non-empty multiple of 8 (struct nexthop_grp)`);
        const group: NexthopGroupMember[] = [];
        for (let p = off + 4; p < off + len; p += 8) {
          group.push({ id: buf.readUInt32LE(p), weight: (buf[p + 4]! | (buf[p + 5]! << 8)) + 1 });
        }
        m.group = group;
        break;
      }
      default:
        break;
    }
    off += align4(len);
  }
  if (m.id === 0) malformed('nexthop message without NHA_ID');
  return m;
}

// ---------------------------------------------------------------- links and addresses

export interface LinkMessage {
  family: number;
  type: number;
  ifindex: number;
  flags: number;
  change: number;
  ifname?: string;
}

/** Parses an RTM_NEWLINK/RTM_DELLINK payload (struct ifinfomsg + IFLA_IFNAME). */
export function parseLinkMessage(buf: Buffer): LinkMessage {
  if (buf.length < IFINFOMSG_LEN) malformed(`link message payload is ${buf.length} bytes, shorter than struct ifinfomsg (${IFINFOMSG_LEN})`);
  const m: LinkMessage = {
    family: buf[0]!,
    type: buf.readUInt16LE(2),
    ifindex: buf.readInt32LE(4),
    flags: buf.readUInt32LE(8),
    change: buf.readUInt32LE(12),
  };
  const end = buf.length;
  let off = IFINFOMSG_LEN;
  while (off < end) {
    const len = attrLen(buf, off, end, 'link message');
    if ((buf.readUInt16LE(off + 2) & NLA_TYPE_MASK) === IFLA_IFNAME) {
      let e = off + len;
      while (e > off + 4 && buf[e - 1] === 0) e--; // NUL terminator
      m.ifname = buf.toString('utf8', off + 4, e);
    }
    off += align4(len);
  }
  return m;
}

export interface AddrMessage {
  family: number;
  prefixlen: number;
  flags: number;
  scope: number;
  ifindex: number;
  address?: string;
  local?: string;
}

/** Parses an RTM_NEWADDR/RTM_DELADDR payload (struct ifaddrmsg + IFA_ADDRESS/IFA_LOCAL). */
export function parseAddrMessage(buf: Buffer): AddrMessage {
  if (buf.length < IFADDRMSG_LEN) malformed(`address message payload is ${buf.length} bytes, shorter than struct ifaddrmsg (${IFADDRMSG_LEN})`);
  const m: AddrMessage = { family: buf[0]!, prefixlen: buf[1]!, flags: buf[2]!, scope: buf[3]!, ifindex: buf.readUInt32LE(4) };
  const end = buf.length;
  let off = IFADDRMSG_LEN;
  while (off < end) {
    const len = attrLen(buf, off, end, 'address message');
    const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    if (type === IFA_ADDRESS) m.address = readAddr(buf, off, len, m.family, 'IFA_ADDRESS');
    else if (type === IFA_LOCAL) m.local = readAddr(buf, off, len, m.family, 'IFA_LOCAL');
    off += align4(len);
  }
  return m;
}

// ---------------------------------------------------------------- builders (tests, benchmarks)

/** Header options of a crafted message. */
export interface NlHeaderSpec {
  nlFlags?: number;
  seq?: number;
  pid?: number;
}

/** Wraps a payload in a netlink header (padding the payload to 4 bytes). */
export function encodeNetlinkMessage(type: number, payload: Buffer, h: NlHeaderSpec = {}): Buffer {
  const len = NLMSG_HDRLEN + payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt32LE(len, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(h.nlFlags ?? 0, 6);
  out.writeUInt32LE(h.seq ?? 0, 8);
  out.writeUInt32LE(h.pid ?? 0, 12);
  payload.copy(out, NLMSG_HDRLEN);
  return out;
}

/** One attribute, padded. */
export function encodeAttr(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(align4(4 + value.length));
  out.writeUInt16LE(4 + value.length, 0);
  out.writeUInt16LE(type, 2);
  value.copy(out, 4);
  return out;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
}

function via(addr: string): Buffer {
  const a = addrToBytes(addr);
  const b = Buffer.alloc(2 + a.length);
  b.writeUInt16LE(a.length === 4 ? AF_INET : AF_INET6, 0);
  b.set(a, 2);
  return b;
}

export interface NextHopSpec {
  gateway?: string;
  /** A gateway of the other family, encoded as RTA_VIA. */
  via?: string;
  ifindex?: number;
  /** 1..256 */
  weight?: number;
  flags?: number;
}

export interface RouteSpec extends NlHeaderSpec {
  /** RTM_NEWROUTE (default) or RTM_DELROUTE. */
  msgType?: number;
  /** "10.0.0.0/24", "2001:db8::/32"; omit for the default route of `family`. */
  prefix?: string;
  family?: 4 | 6;
  /** Full table id (default 254); written to RTA_TABLE, and to the header when it fits (else 252). */
  table?: number;
  /** Override the 8-bit rtm_table header field. */
  headerTable?: number;
  /** Omit RTA_TABLE (old kernels). */
  noTableAttr?: boolean;
  protocol?: number;
  scope?: number;
  /** RTN_* (default unicast). */
  type?: number;
  tos?: number;
  rtmFlags?: number;
  metric?: number;
  oif?: number;
  gateway?: string;
  via?: string;
  nhid?: number;
  multipath?: NextHopSpec[];
}

/** Builds a full RTM_NEWROUTE/RTM_DELROUTE netlink message, as the kernel would send it. */
export function encodeRouteMessage(s: RouteSpec): Buffer {
  const family = s.prefix ? parsePrefix(s.prefix).family : (s.family ?? 4);
  const p = s.prefix ? parsePrefix(s.prefix) : { addr: new Uint8Array(0), len: 0 };
  const table = s.table ?? RT_TABLE_MAIN;
  const hdr = Buffer.alloc(RTMSG_LEN);
  hdr[0] = family === 4 ? AF_INET : AF_INET6;
  hdr[1] = p.len;
  hdr[3] = s.tos ?? 0;
  hdr[4] = s.headerTable ?? (table < 256 ? table : RT_TABLE_COMPAT);
  hdr[5] = s.protocol ?? 12;
  hdr[6] = s.scope ?? 0;
  hdr[7] = s.type ?? RTN_UNICAST;
  hdr.writeUInt32LE(s.rtmFlags ?? 0, 8);
  const attrs: Buffer[] = [hdr];
  if (!s.noTableAttr) attrs.push(encodeAttr(RTA_TABLE, u32(table)));
  if (s.prefix && p.len > 0) attrs.push(encodeAttr(RTA_DST, Buffer.from(p.addr)));
  if (s.metric !== undefined) attrs.push(encodeAttr(RTA_PRIORITY, u32(s.metric)));
  if (s.nhid !== undefined) attrs.push(encodeAttr(RTA_NH_ID, u32(s.nhid)));
  if (s.gateway !== undefined) attrs.push(encodeAttr(RTA_GATEWAY, Buffer.from(addrToBytes(s.gateway))));
  if (s.via !== undefined) attrs.push(encodeAttr(RTA_VIA, via(s.via)));
  if (s.oif !== undefined) attrs.push(encodeAttr(RTA_OIF, u32(s.oif)));
  if (s.multipath) {
    const parts: Buffer[] = [];
    for (const nh of s.multipath) {
      const inner: Buffer[] = [];
      if (nh.gateway !== undefined) inner.push(encodeAttr(RTA_GATEWAY, Buffer.from(addrToBytes(nh.gateway))));
      if (nh.via !== undefined) inner.push(encodeAttr(RTA_VIA, via(nh.via)));
      const body = Buffer.concat(inner);
      const rtnh = Buffer.alloc(RTNH_LEN);
      rtnh.writeUInt16LE(RTNH_LEN + body.length, 0);
      rtnh[2] = nh.flags ?? 0;
      rtnh[3] = (nh.weight ?? 1) - 1;
      rtnh.writeInt32LE(nh.ifindex ?? 0, 4);
      parts.push(rtnh, body);
    }
    attrs.push(encodeAttr(RTA_MULTIPATH | NLA_F_NESTED, Buffer.concat(parts)));
  }
  return encodeNetlinkMessage(s.msgType ?? RTM_NEWROUTE, Buffer.concat(attrs), s);
}

export interface NexthopSpec extends NlHeaderSpec {
  /** RTM_NEWNEXTHOP (default) or RTM_DELNEXTHOP. */
  msgType?: number;
  id: number;
  /** Family of the gateway; derived from `gateway` when omitted (AF_UNSPEC for groups and blackholes). */
  family?: 4 | 6;
  protocol?: number;
  flags?: number;
  gateway?: string;
  oif?: number;
  blackhole?: boolean;
  /** Members and weights 1..256. */
  group?: { id: number; weight?: number }[];
}

export function encodeNexthopMessage(s: NexthopSpec): Buffer {
  const fam = s.family ?? (s.gateway ? (addrToBytes(s.gateway).length === 4 ? 4 : 6) : undefined);
  const hdr = Buffer.alloc(NHMSG_LEN);
  hdr[0] = fam === 4 ? AF_INET : fam === 6 ? AF_INET6 : 0;
  hdr[2] = s.protocol ?? 0;
  hdr.writeUInt32LE(s.flags ?? 0, 4);
  const attrs: Buffer[] = [hdr, encodeAttr(NHA_ID, u32(s.id))];
  if (s.group) {
    const g = Buffer.alloc(8 * s.group.length);
    s.group.forEach((m, i) => {
      g.writeUInt32LE(m.id, i * 8);
      g[i * 8 + 4] = (m.weight ?? 1) - 1;
    });
    attrs.push(encodeAttr(NHA_GROUP, g), encodeAttr(NHA_GROUP_TYPE, Buffer.from([0, 0])));
  }
  if (s.blackhole) attrs.push(encodeAttr(NHA_BLACKHOLE, Buffer.alloc(0)));
  if (s.oif !== undefined) attrs.push(encodeAttr(NHA_OIF, u32(s.oif)));
  if (s.gateway !== undefined) attrs.push(encodeAttr(NHA_GATEWAY, Buffer.from(addrToBytes(s.gateway))));
  return encodeNetlinkMessage(s.msgType ?? RTM_NEWNEXTHOP, Buffer.concat(attrs), s);
}

export interface LinkSpec extends NlHeaderSpec {
  msgType?: number;
  ifindex: number;
  ifname?: string;
  flags: number;
  change?: number;
}

export function encodeLinkMessage(s: LinkSpec): Buffer {
  const hdr = Buffer.alloc(IFINFOMSG_LEN);
  hdr.writeInt32LE(s.ifindex, 4);
  hdr.writeUInt32LE(s.flags >>> 0, 8);
  hdr.writeUInt32LE((s.change ?? 0) >>> 0, 12);
  const attrs: Buffer[] = [hdr];
  if (s.ifname !== undefined) attrs.push(encodeAttr(IFLA_IFNAME, Buffer.from(s.ifname + '\0')));
  return encodeNetlinkMessage(s.msgType ?? RTM_NEWLINK, Buffer.concat(attrs), s);
}

export interface AddrSpec extends NlHeaderSpec {
  msgType?: number;
  ifindex: number;
  address: string;
  prefixlen: number;
  local?: string;
}

export function encodeAddrMessage(s: AddrSpec): Buffer {
  const a = addrToBytes(s.address);
  const hdr = Buffer.alloc(IFADDRMSG_LEN);
  hdr[0] = a.length === 4 ? AF_INET : AF_INET6;
  hdr[1] = s.prefixlen;
  hdr.writeUInt32LE(s.ifindex, 4);
  const attrs: Buffer[] = [hdr, encodeAttr(IFA_ADDRESS, Buffer.from(a))];
  if (s.local !== undefined) attrs.push(encodeAttr(IFA_LOCAL, Buffer.from(addrToBytes(s.local))));
  return encodeNetlinkMessage(s.msgType ?? RTM_NEWADDR, Buffer.concat(attrs), s);
}
