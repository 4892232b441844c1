/**
 * Ordered prefix-list matching with Cisco/FRR semantics: an entry without ge/le
 * matches its prefix exactly; with them, any more-specific (or equal) prefix
 * whose length lies in [ge or len, le or max]. First matching entry wins.
 * Entries are compiled to 32-bit words once; a route's prefix is parsed once
 * per match (IPv4 without allocating) and compared word by word.
 */
import { z } from 'zod';
import { parsePrefix } from '../util/ip.js';
import { int, obj, prefix } from '../config/schema-helpers.js';
import type { Family } from '../util/ip.js';

export type PrefixAction = 'permit' | 'deny';

export interface PrefixListEntry {
  action: PrefixAction;
  prefix: string;
  ge?: number;
  le?: number;
}

/** Schema of one entry; `action` may be left out where a default makes sense (matches in other handlers). */
export function prefixListEntrySchema(defaultAction?: PrefixAction) {
  const action = z.enum(['permit', 'deny']);
  return obj({
    action: defaultAction ? action.default(defaultAction) : action,
    prefix: prefix(),
    ge: int(0, 128).optional(),
    le: int(0, 128).optional(),
  }).superRefine((e, ctx) => {
    const slash = e.prefix.indexOf('/');
    const len = Number(e.prefix.slice(slash + 1));
    const max = e.prefix.includes(':') ? 128 : 32;
    if (e.ge !== undefined && e.ge < len)
      ctx.addIssue({
        code: 'custom',
        path: ['ge'],
        message: `ge ${e.ge} is shorter than the prefix length ${len} of ${e.prefix}; use ge ${len}..${max} (or leave it out)`,
      });
    if (e.ge !== undefined && e.ge > max)
      ctx.addIssue({ code: 'custom', path: ['ge'], message: `ge ${e.ge} is longer than an IPv${max === 32 ? 4 : 6} prefix can be (${max})` });
    if (e.le !== undefined && e.le > max)
      ctx.addIssue({ code: 'custom', path: ['le'], message: `le ${e.le} is longer than an IPv${max === 32 ? 4 : 6} prefix can be (${max})` });
    if (e.le !== undefined && e.le < len)
      ctx.addIssue({ code: 'custom', path: ['le'], message: `le ${e.le} is shorter than the prefix length ${len} of ${e.prefix}; use le ${len}..${max}` });
    if (e.le !== undefined && e.ge !== undefined && e.le < e.ge)
      ctx.addIssue({ code: 'custom', path: ['le'], message: `le ${e.le} is smaller than ge ${e.ge}; le must be >= ge` });
  });
}

const ACTION_PERMIT = 1,
  ACTION_DENY = 2;

function maskWord(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

/** Parses "a.b.c.d/n" without allocating; returns false when the text is not that. */
function parseV4(text: string, out: { addr: number; len: number }): boolean {
  let addr = 0,
    octet = 0,
    digits = 0,
    dots = 0,
    i = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return false;
    } else if (c === 46 /* . */) {
      if (!digits || ++dots > 3) return false;
      addr = addr * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c === 47 /* / */) break;
    else return false;
  }
  if (dots !== 3 || !digits) return false;
  addr = addr * 256 + octet;
  let len = 32;
  if (i < text.length) {
    len = 0;
    if (i + 1 >= text.length) return false;
    for (i++; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) return false;
      len = len * 10 + (c - 48);
    }
    if (len > 32) return false;
  }
  out.addr = addr >>> 0;
  out.len = len;
  return true;
}

export class PrefixMatcher {
  readonly size: number;
  // IPv4: one word per entry.
  private readonly v4Net: Uint32Array;
  private readonly v4Mask: Uint32Array;
  private readonly v4Min: Uint8Array;
  private readonly v4Max: Uint8Array;
  private readonly v4Act: Uint8Array;
  // IPv6: four words per entry.
  private readonly v6Net: Uint32Array;
  private readonly v6Mask: Uint32Array;
  private readonly v6Min: Uint8Array;
  private readonly v6Max: Uint8Array;
  private readonly v6Act: Uint8Array;
  private readonly scratch = { addr: 0, len: 0 };
  private readonly words6 = new Uint32Array(4);

  constructor(entries: readonly PrefixListEntry[]) {
    this.size = entries.length;
    const parsed = entries.map((e) => ({ e, p: parsePrefix(e.prefix) }));
    const v4 = parsed.filter((x) => x.p.family === 4),
      v6 = parsed.filter((x) => x.p.family === 6);
    this.v4Net = new Uint32Array(v4.length);
    this.v4Mask = new Uint32Array(v4.length);
    this.v4Min = new Uint8Array(v4.length);
    this.v4Max = new Uint8Array(v4.length);
    this.v4Act = new Uint8Array(v4.length);
    v4.forEach(({ e, p }, i) => {
      this.v4Net[i] = ((p.addr[0]! << 24) | (p.addr[1]! << 16) | (p.addr[2]! << 8) | p.addr[3]!) >>> 0;
      this.v4Mask[i] = maskWord(p.len);
      [this.v4Min[i], this.v4Max[i]] = range(e, p.len, 32);
      this.v4Act[i] = e.action === 'permit' ? ACTION_PERMIT : ACTION_DENY;
    });
    this.v6Net = new Uint32Array(v6.length * 4);
    this.v6Mask = new Uint32Array(v6.length * 4);
    this.v6Min = new Uint8Array(v6.length);
    this.v6Max = new Uint8Array(v6.length);
    this.v6Act = new Uint8Array(v6.length);
    v6.forEach(({ e, p }, i) => {
      for (let w = 0; w < 4; w++) {
        const o = w * 4;
        this.v6Net[i * 4 + w] = ((p.addr[o]! << 24) | (p.addr[o + 1]! << 16) | (p.addr[o + 2]! << 8) | p.addr[o + 3]!) >>> 0;
        this.v6Mask[i * 4 + w] = maskWord(p.len - w * 32);
      }
      [this.v6Min[i], this.v6Max[i]] = range(e, p.len, 128);
      this.v6Act[i] = e.action === 'permit' ? ACTION_PERMIT : ACTION_DENY;
    });
  }

  /** The action of the first entry matching the canonical prefix text, or undefined when none matches. */
  match(prefixText: string, family: Family): PrefixAction | undefined {
    if (family === 4) {
      const n = this.v4Act.length;
      if (n === 0 || !parseV4(prefixText, this.scratch)) return undefined;
      const { addr, len } = this.scratch;
      for (let i = 0; i < n; i++) {
        if (len >= this.v4Min[i]! && len <= this.v4Max[i]! && (addr & this.v4Mask[i]!) >>> 0 === this.v4Net[i]) {
          return this.v4Act[i] === ACTION_PERMIT ? 'permit' : 'deny';
        }
      }
      return undefined;
    }
    const n = this.v6Act.length;
    if (n === 0) return undefined;
    let p;
    try {
      p = parsePrefix(prefixText, { mask: true });
    } catch {
      return undefined;
    }
    if (p.family !== 6) return undefined;
    const w = this.words6,
      a = p.addr,
      len = p.len;
    for (let k = 0; k < 4; k++) w[k] = ((a[k * 4]! << 24) | (a[k * 4 + 1]! << 16) | (a[k * 4 + 2]! << 8) | a[k * 4 + 3]!) >>> 0;
    for (let i = 0; i < n; i++) {
      if (len < this.v6Min[i]! || len > this.v6Max[i]!) continue;
      const b = i * 4;
      if (
        (w[0]! & this.v6Mask[b]!) >>> 0 === this.v6Net[b] &&
        (w[1]! & this.v6Mask[b + 1]!) >>> 0 === this.v6Net[b + 1] &&
        (w[2]! & this.v6Mask[b + 2]!) >>> 0 === this.v6Net[b + 2] &&
        (w[3]! & this.v6Mask[b + 3]!) >>> 0 === this.v6Net[b + 3]
      ) {
        return this.v6Act[i] === ACTION_PERMIT ? 'permit' : 'deny';
      }
    }
    return undefined;
  }
}

function range(e: PrefixListEntry, len: number, max: number): [number, number] {
  if (e.ge === undefined && e.le === undefined) return [len, len];
  return [e.ge ?? len, e.le ?? max];
}
