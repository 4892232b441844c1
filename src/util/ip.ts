import { isIPv4, isIPv6 } from 'node:net';
import { RtreflectError } from './errors.js';

export type Family = 4 | 6;

/** Hex digit value of a char code, or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/**
 * t[0, end) as a dotted quad without leading zeros, parsed by hand and written at
 * out[off, off + 4); false for anything else (then the general parser decides, and
 * explains; out may hold part of it).
 */
export function writeDottedQuad(t: string, out: Uint8Array, off = 0, end = t.length): boolean {
  let octet = 0,
    v = 0,
    digits = 0;
  for (let i = 0; i < end; i++) {
    const c = t.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && v === 0) return false;
      v = v * 10 + (c - 48);
      if (++digits > 3 || v > 255) return false;
    } else if (c === 46 && digits > 0 && octet < 3) {
      out[off + octet++] = v;
      v = 0;
      digits = 0;
    } else return false;
  }
  if (octet !== 3 || digits === 0) return false;
  out[off + 3] = v;
  return true;
}

/** t as a dotted quad (see writeDottedQuad), or undefined. */
function parseDottedQuad(t: string): Uint8Array | undefined {
  const out = new Uint8Array(4);
  return writeDottedQuad(t, out) ? out : undefined;
}

const groupScratch = new Uint16Array(8);

/**
 * IPv6 text of hex groups with at most one "::" (no dotted tail, no zone), parsed by
 * hand and written at out[off, off + 16); false for anything else (then the general
 * parser decides, and explains).
 */
export function writeHexGroups(t: string, out: Uint8Array, off = 0): boolean {
  const n = t.length;
  let i = 0,
    count = 0,
    gap = -1;
  if (n >= 2 && t.charCodeAt(0) === 58 && t.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
  }
  while (i < n) {
    let v = 0,
      digits = 0;
    for (; i < n && digits <= 4; i++) {
      const d = hexDigit(t.charCodeAt(i));
      if (d < 0) break;
      v = (v << 4) | d;
      digits++;
    }
    if (digits === 0 || digits > 4 || count === 8) return false;
    groupScratch[count++] = v;
    if (i === n) break;
    if (t.charCodeAt(i++) !== 58) return false;
    if (i < n && t.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = count;
      i++;
    } else if (i === n) return false; // a single trailing colon
  }
  if (gap < 0 ? count !== 8 : count > 7) return false;
  // The groups after "::" go to the end; the ones it stands for are zero.
  const zeros = gap < 0 ? 0 : 8 - count;
  for (let k = 0; k < 8; k++) {
    const w = gap < 0 || k < gap ? groupScratch[k]! : k < gap + zeros ? 0 : groupScratch[k - zeros]!;
    out[off + 2 * k] = w >> 8;
    out[off + 2 * k + 1] = w & 0xff;
  }
  return true;
}

/**
 * The common address forms parsed by hand (a full table is mostly these): no regular
 * expressions or string splitting. undefined leaves the text to the general parser.
 */
function fastAddrBytes(t: string): Uint8Array | undefined {
  if (!t.includes(':')) return parseDottedQuad(t);
  const out = new Uint8Array(16);
  return writeHexGroups(t, out) ? out : undefined;
}

/** Bytes of an address, network order. Throws on text that is not an address. */
export function addrToBytes(text: string): Uint8Array {
  const fast = fastAddrBytes(text);
  if (fast !== undefined) return fast;
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  if (!isIPv6(text)) throw new RtreflectError('ERR_BAD_ADDRESS', `"${text}" is not an IPv4 or IPv6 address`);
  let s = text;
  const out = new Uint8Array(16);
  // An embedded dotted quad (::ffff:1.2.3.4) becomes two hex groups.
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const b = tail.split('.').map(Number);
    s = s.slice(0, lastColon + 1) + ((b[0]! << 8) | b[1]!).toString(16) + ':' + ((b[2]! << 8) | b[3]!).toString(16);
  }
  const [head, rest] = s.includes('::') ? (s.split('::') as [string, string]) : [s, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = rest !== undefined && rest !== '' ? rest.split(':') : [];
  const groups = rest === undefined ? headGroups : [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  for (let i = 0; i < 8; i++) {
    const v = parseInt(groups[i]!, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  }
  return out;
}

/** Scratch space for formatting: text is written as bytes and read out as one flat string. */
const scratch = Buffer.allocUnsafe(64);
const HEX = [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102];

function putDecimal(v: number, at: number): number {
  if (v >= 100) scratch[at++] = 48 + ((v / 100) | 0);
  if (v >= 10) scratch[at++] = 48 + (((v / 10) | 0) % 10);
  scratch[at++] = 48 + (v % 10);
  return at;
}

function putHex16(v: number, at: number): number {
  let started = false;
  for (let shift = 12; shift >= 0; shift -= 4) {
    const d = (v >> shift) & 15;
    if (d !== 0 || started || shift === 0) {
      scratch[at++] = HEX[d]!;
      started = true;
    }
  }
  return at;
}

/** Writes the canonical text of the address (RFC 5952 for IPv6) into scratch; returns its end. */
function putAddr(buf: Uint8Array, off: number, len: number): number {
  let at = 0;
  if (len === 4) {
    for (let i = 0; i < 4; i++) {
      if (i > 0) scratch[at++] = 46;
      at = putDecimal(buf[off + i]!, at);
    }
    return at;
  }
  if (len !== 16) throw new RtreflectError('ERR_BAD_ADDRESS', `an address is 4 or 16 bytes long, not ${len}`);
  // Compress the longest run (>= 2) of zero groups, the first one on a tie.
  let bestStart = -1,
    bestLen = 0;
  for (let i = 0; i < 8;) {
    if (buf[off + i * 2] !== 0 || buf[off + i * 2 + 1] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && buf[off + j * 2] === 0 && buf[off + j * 2 + 1] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      scratch[at++] = 58;
      scratch[at++] = 58;
      i += bestLen - 1;
      continue;
    }
    if (i > 0 && i !== bestStart + bestLen) scratch[at++] = 58;
    at = putHex16((buf[off + i * 2]! << 8) | buf[off + i * 2 + 1]!, at);
  }
  return at;
}

/**
 * Canonical text of an address held in `len` bytes (4 or 16) at `off`. Built
 * as bytes, so the result is one flat string: a million route keys made by
 * concatenation would each carry a rope node and its parts.
 */
export function bytesToAddr(buf: Uint8Array, off = 0, len = buf.length - off): string {
  return scratch.toString('latin1', 0, putAddr(buf, off, len));
}

/** "addr/len" from an address's bytes, as one flat string (see bytesToAddr). */
export function bytesToPrefix(buf: Uint8Array, off: number, addrLen: number, prefixLen: number): string {
  let at = putAddr(buf, off, addrLen);
  scratch[at++] = 47;
  at = putDecimal(prefixLen, at);
  return scratch.toString('latin1', 0, at);
}

export function familyOf(addr: string): Family {
  const fast = fastAddrBytes(addr);
  if (fast !== undefined) return fast.length === 4 ? 4 : 6;
  if (isIPv4(addr)) return 4;
  if (isIPv6(addr)) return 6;
  throw new RtreflectError('ERR_BAD_ADDRESS', `"${addr}" is not an IPv4 or IPv6 address`);
}

export function canonicalAddr(addr: string): string {
  return bytesToAddr(addrToBytes(addr));
}

export interface Prefix {
  family: Family;
  addr: Uint8Array;
  len: number;
}

/** Parses "a.b.c.d/n" or "x::/n" (a bare address is a host prefix); host bits must be zero unless `mask` is set. */
export function parsePrefix(text: string, opts: { mask?: boolean } = {}): Prefix {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const fast = fastAddrBytes(addrText);
  const family = fast !== undefined ? (fast.length === 4 ? 4 : 6) : familyOf(addrText);
  const max = family === 4 ? 32 : 128;
  const lenText = slash < 0 ? String(max) : text.slice(slash + 1);
  const len = /^\d{1,3}$/.test(lenText) ? Number(lenText) : NaN;
  if (!(len >= 0 && len <= max)) {
    throw new RtreflectError('ERR_BAD_PREFIX', `"${text}": prefix length must be 0..${max}`);
  }
  const addr = fast ?? addrToBytes(addrText);
  const masked = maskBytes(addr, len);
  if (!opts.mask && !bytesEqual(addr, masked)) {
    throw new RtreflectError('ERR_BAD_PREFIX', `"${text}" has host bits set; did you mean ${bytesToAddr(masked)}/${len}?`);
  }
  return { family, addr: masked, len };
}

export function formatPrefix(p: Prefix): string {
  return `${bytesToAddr(p.addr)}/${p.len}`;
}

export function maskBytes(addr: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(addr.length);
  for (let i = 0; i < addr.length; i++) {
    const bits = Math.max(0, Math.min(8, len - i * 8));
    out[i] = bits === 0 ? 0 : addr[i]! & (0xff << (8 - bits));
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when prefix `inner` lies within `outer` (same family, inner.len >= outer.len). */
export function prefixContains(outer: Prefix, inner: Prefix): boolean {
  if (outer.family !== inner.family || inner.len < outer.len) return false;
  return bytesEqual(maskBytes(inner.addr, outer.len), outer.addr);
}
