/**
 * BGP wire encoding (RFC 4271, 4760, 1997, 8092, 7911) of the few NLRI and path
 * attributes rtreflect writes into GoBGP through the binary fields of its API
 * (`nlri_binary`, `pattrs_binary`), and their decoding for read-back.
 */
import { RtreflectError } from '../../util/errors.js';
import { addrToBytes, bytesToAddr, type Prefix } from '../../util/ip.js';

export const ATTR_ORIGIN = 1;
export const ATTR_AS_PATH = 2;
export const ATTR_NEXT_HOP = 3;
export const ATTR_MED = 4;
export const ATTR_LOCAL_PREF = 5;
export const ATTR_COMMUNITIES = 8;
export const ATTR_MP_REACH_NLRI = 14;
export const ATTR_LARGE_COMMUNITY = 32;

const FLAG_OPTIONAL = 0x80;
const FLAG_TRANSITIVE = 0x40;
const FLAG_EXTENDED_LENGTH = 0x10;

export const AFI_IP = 1;
export const AFI_IP6 = 2;
export const SAFI_UNICAST = 1;

function wireError(what: string): RtreflectError {
  return new RtreflectError('ERR_BGP_WIRE', what);
}

const NLRI_SCRATCH = new Uint8Array(17);

/** NLRI of one prefix: [path id (4, RFC 7911) when given] length, significant bytes. */
export function encodePrefixNlri(p: Prefix, pathId?: number): Uint8Array {
  const n = writePrefixNlri(p, NLRI_SCRATCH); // checks the prefix before anything is sized by it
  const head = pathId === undefined ? 0 : 4;
  const out = new Uint8Array(head + n);
  if (pathId !== undefined) {
    checkU32(pathId, 'add-path identifier');
    new DataView(out.buffer).setUint32(0, pathId);
  }
  out.set(NLRI_SCRATCH.subarray(0, n), head);
  return out;
}

/**
 * A prefix's NLRI (length, then its significant bytes; no path id) written into
 * `out` at `at` (1 + 16 bytes of room always suffice); returns its size. For
 * writers that reuse one buffer instead of allocating per prefix.
 */
export function writePrefixNlri(p: Prefix, out: Uint8Array, at = 0): number {
  const max = p.family === 4 ? 32 : 128;
  if (!Number.isInteger(p.len) || p.len < 0 || p.len > max) throw wireError(`prefix length ${p.len} is out of range 0..${max}`);
  if (p.addr.length !== (p.family === 4 ? 4 : 16)) throw wireError(`an IPv${p.family} prefix needs a ${p.family === 4 ? 4 : 16}-byte address`);
  const nbytes = (p.len + 7) >> 3;
  out[at] = p.len;
  for (let i = 0; i < nbytes; i++) out[at + 1 + i] = p.addr[i]!;
  return 1 + nbytes;
}

/** Decodes one prefix NLRI; `addPath` when it carries a path identifier. Returns the prefix and the bytes used. */
export function decodePrefixNlri(buf: Uint8Array, family: 4 | 6, addPath = false, off = 0): { prefix: Prefix; pathId?: number; size: number } {
  let pos = off;
  let pathId: number | undefined;
  if (addPath) {
    if (buf.length < pos + 4) throw wireError('NLRI is too short for its add-path identifier');
    pathId = new DataView(buf.buffer, buf.byteOffset).getUint32(pos);
    pos += 4;
  }
  if (buf.length < pos + 1) throw wireError('NLRI is empty');
  const len = buf[pos++]!;
  const alen = family === 4 ? 4 : 16;
  if (len > alen * 8) throw wireError(`NLRI prefix length ${len} is too long for IPv${family}`);
  const nbytes = (len + 7) >> 3;
  if (buf.length < pos + nbytes) throw wireError('NLRI is truncated');
  const addr = new Uint8Array(alen);
  addr.set(buf.subarray(pos, pos + nbytes));
  pos += nbytes;
  return { prefix: { family, addr, len }, ...(pathId !== undefined ? { pathId } : {}), size: pos - off };
}

function checkU32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw wireError(`${what} ${v} is not an integer in 0..4294967295`);
}

/** One path attribute: flags, type, length (extended when over 255), value. */
export function encodeAttr(flags: number, type: number, value: Uint8Array): Uint8Array {
  const ext = value.length > 255;
  if (value.length > 0xffff) throw wireError(`path attribute ${type} is too long (${value.length} bytes)`);
  const out = new Uint8Array((ext ? 4 : 3) + value.length);
  out[0] = ext ? flags | FLAG_EXTENDED_LENGTH : flags & ~FLAG_EXTENDED_LENGTH;
  out[1] = type;
  if (ext) {
    out[2] = value.length >> 8;
    out[3] = value.length & 0xff;
    out.set(value, 4);
  } else {
    out[2] = value.length;
    out.set(value, 3);
  }
  return out;
}

function u32(v: number, what: string): Uint8Array {
  checkU32(v, what);
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v);
  return b;
}

export const ORIGIN_IGP = 0;
export function encodeOrigin(origin = ORIGIN_IGP): Uint8Array {
  return encodeAttr(FLAG_TRANSITIVE, ATTR_ORIGIN, Uint8Array.of(origin));
}
/** An empty AS_PATH: the route is originated here. */
export function encodeEmptyAsPath(): Uint8Array {
  return encodeAttr(FLAG_TRANSITIVE, ATTR_AS_PATH, new Uint8Array(0));
}

export function encodeNextHop(addr: string): Uint8Array {
  const b = addrToBytes(addr);
  if (b.length !== 4) throw wireError(`NEXT_HOP "${addr}" must be an IPv4 address (use MP_REACH_NLRI for IPv6)`);
  return encodeAttr(FLAG_TRANSITIVE, ATTR_NEXT_HOP, b);
}

export function encodeMed(v: number): Uint8Array {
  return encodeAttr(FLAG_OPTIONAL, ATTR_MED, u32(v, 'MED'));
}
export function encodeLocalPref(v: number): Uint8Array {
  return encodeAttr(FLAG_TRANSITIVE, ATTR_LOCAL_PREF, u32(v, 'LOCAL_PREF'));
}

/** MP_REACH_NLRI: AFI, SAFI, next hop, reserved byte, NLRI (RFC 4760). GoBGP needs the NLRI in it, not only the next hop. */
export function encodeMpReach(afi: number, safi: number, nextHop: string | Uint8Array, nlri: Uint8Array): Uint8Array {
  const nh = typeof nextHop === 'string' ? addrToBytes(nextHop) : nextHop;
  const v = new Uint8Array(2 + 1 + 1 + nh.length + 1 + nlri.length);
  v[0] = afi >> 8;
  v[1] = afi & 0xff;
  v[2] = safi;
  v[3] = nh.length;
  v.set(nh, 4);
  v[4 + nh.length] = 0;
  v.set(nlri, 5 + nh.length);
  return encodeAttr(FLAG_OPTIONAL, ATTR_MP_REACH_NLRI, v);
}

/** "65000:100" → 32-bit value. */
export function parseCommunity(text: string): number {
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(text);
  const hi = m ? Number(m[1]) : NaN,
    lo = m ? Number(m[2]) : NaN;
  if (!(hi <= 0xffff && lo <= 0xffff)) throw wireError(`community "${text}" is not "asn:value" with both parts in 0..65535`);
  return ((hi << 16) | lo) >>> 0;
}
export function formatCommunity(v: number): string {
  return `${v >>> 16}:${v & 0xffff}`;
}

export function encodeCommunities(values: number[]): Uint8Array {
  const v = new Uint8Array(values.length * 4);
  const dv = new DataView(v.buffer);
  values.forEach((c, i) => dv.setUint32(i * 4, c));
  return encodeAttr(FLAG_OPTIONAL | FLAG_TRANSITIVE, ATTR_COMMUNITIES, v);
}

export type LargeCommunity = [number, number, number];
/** "global:local1:local2" → three 32-bit values. */
export function parseLargeCommunity(text: string): LargeCommunity {
  const m = /^(\d{1,10}):(\d{1,10}):(\d{1,10})$/.exec(text);
  const parts = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [];
  if (parts.length !== 3 || parts.some((p) => p > 0xffffffff)) {
    throw wireError(`large community "${text}" is not "global:local1:local2" with each part in 0..4294967295`);
  }
  return parts as LargeCommunity;
}
export function formatLargeCommunity(c: LargeCommunity): string {
  return `${c[0]}:${c[1]}:${c[2]}`;
}
export function compareLargeCommunity(a: LargeCommunity, b: LargeCommunity): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

export function encodeLargeCommunities(values: LargeCommunity[]): Uint8Array {
  const v = new Uint8Array(values.length * 12);
  const dv = new DataView(v.buffer);
  values.forEach((c, i) => {
    dv.setUint32(i * 12, c[0]);
    dv.setUint32(i * 12 + 4, c[1]);
    dv.setUint32(i * 12 + 8, c[2]);
  });
  return encodeAttr(FLAG_OPTIONAL | FLAG_TRANSITIVE, ATTR_LARGE_COMMUNITY, v);
}

/** What rtreflect reads back from a path's attributes. Unknown attributes are kept by type only. */
export interface DecodedAttrs {
  origin?: number;
  asPathLength?: number;
  nextHop?: string;
  mpReach?: { afi: number; safi: number; nextHops: string[]; nlri: Uint8Array };
  med?: number;
  localPref?: number;
  communities?: number[];
  largeCommunities?: LargeCommunity[];
  other: number[];
}

/** Decodes attributes, each a complete TLV (as GoBGP hands them out in `pattrs_binary`), or one concatenated run. */
export function decodeAttrs(attrs: Uint8Array[]): DecodedAttrs {
  const out: DecodedAttrs = { other: [] };
  for (const buf of attrs) {
    let pos = 0;
    while (pos < buf.length) {
      if (buf.length < pos + 3) throw wireError('path attribute header is truncated');
      const flags = buf[pos]!,
        type = buf[pos + 1]!;
      let len: number, hdr: number;
      if (flags & FLAG_EXTENDED_LENGTH) {
        if (buf.length < pos + 4) throw wireError('path attribute header is truncated');
        len = (buf[pos + 2]! << 8) | buf[pos + 3]!;
        hdr = 4;
      } else {
        len = buf[pos + 2]!;
        hdr = 3;
      }
      const start = pos + hdr,
        end = start + len;
      if (end > buf.length) throw wireError(`path attribute ${type} is truncated (${len} bytes announced, ${buf.length - start} present)`);
      decodeOne(out, type, buf.subarray(start, end));
      pos = end;
    }
  }
  return out;
}

function decodeOne(out: DecodedAttrs, type: number, v: Uint8Array): void {
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const need = (n: number, what: string) => {
    if (v.length !== n) throw wireError(`${what} attribute has ${v.length} bytes, expected ${n}`);
  };
  switch (type) {
    case ATTR_ORIGIN:
      need(1, 'ORIGIN');
      out.origin = v[0];
      break;
    case ATTR_AS_PATH:
      out.asPathLength = v.length;
      break;
    case ATTR_NEXT_HOP:
      need(4, 'NEXT_HOP');
      out.nextHop = bytesToAddr(v);
      break;
    case ATTR_MED:
      need(4, 'MED');
      out.med = dv.getUint32(0);
      break;
    case ATTR_LOCAL_PREF:
      need(4, 'LOCAL_PREF');
      out.localPref = dv.getUint32(0);
      break;
    case ATTR_COMMUNITIES: {
      if (v.length % 4) throw wireError(`COMMUNITIES attribute length ${v.length} is not a multiple of 4`);
      out.communities = [];
      for (let i = 0; i < v.length; i += 4) out.communities.push(dv.getUint32(i));
      break;
    }
    case ATTR_LARGE_COMMUNITY: {
      if (v.length % 12) throw wireError(`LARGE_COMMUNITY attribute length ${v.length} is not a multiple of 12`);
      out.largeCommunities = [];
      for (let i = 0; i < v.length; i += 12) out.largeCommunities.push([dv.getUint32(i), dv.getUint32(i + 4), dv.getUint32(i + 8)]);
      break;
    }
    case ATTR_MP_REACH_NLRI: {
      if (v.length < 5) throw wireError('MP_REACH_NLRI attribute is truncated');
      const afi = dv.getUint16(0),
        safi = v[2]!,
        nhLen = v[3]!;
      if (v.length < 4 + nhLen + 1) throw wireError('MP_REACH_NLRI next hop is truncated');
      const nh = v.subarray(4, 4 + nhLen);
      const nextHops: string[] = [];
      // 16: global; 32: global + link-local; 4: IPv4; 12/24: VPN forms with an 8-byte RD of zeros.
      if (nhLen === 4 || nhLen === 16) nextHops.push(bytesToAddr(nh));
      else if (nhLen === 32) nextHops.push(bytesToAddr(nh, 0, 16), bytesToAddr(nh, 16, 16));
      else if (nhLen === 12 || nhLen === 24) nextHops.push(bytesToAddr(nh, 8, nhLen - 8));
      else if (nhLen === 48) nextHops.push(bytesToAddr(nh, 8, 16), bytesToAddr(nh, 32, 16));
      else throw wireError(`MP_REACH_NLRI next hop length ${nhLen} is not supported`);
      out.mpReach = { afi, safi, nextHops, nlri: v.subarray(4 + nhLen + 1) };
      break;
    }
    default:
      out.other.push(type);
  }
}
