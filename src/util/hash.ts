/**
 * 32-bit FNV-1a: cheap, well spread for short keys (addresses, prefixes, next
 * hop texts), and stable across runs, which add-path identifiers need.
 */
const FNV_PRIME = 0x01000193;
export const FNV1A_OFFSET = 0x811c9dc5;

/**
 * The hash of buf[start, end), continued from `h` (to hash several pieces as
 * one). Signed 32 bits: `>>> 0` once at the end for the unsigned value.
 */
export function fnv1aBytes(buf: Uint8Array, start: number, end: number, h = FNV1A_OFFSET): number {
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, FNV_PRIME);
  return h;
}

/** One more byte into a running hash. */
export function fnv1aByte(h: number, byte: number): number {
  return Math.imul(h ^ byte, FNV_PRIME);
}

/** The hash of a text's char codes, unsigned. */
export function fnv1a(text: string): number {
  let h = FNV1A_OFFSET;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h >>> 0;
}
