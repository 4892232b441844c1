/**
 * A string-keyed Map kept as two, one per address family, for tables of a full
 * routing table's size. A Map's hash table doubles as it grows, so it costs one
 * to two slots per key; the IPv4 and IPv6 tables grow apart, and one Map for both
 * sizes its table for their sum (1.2M keys: 2^21 slots) where two size theirs
 * each (2^20 + 2^18). Any split is correct as long as a key always goes to the
 * same map; this one follows the prefix each key ends with (see isV6Key).
 */
export class FamilyMap<V> {
  private readonly v4 = new Map<string, V>();
  private readonly v6 = new Map<string, V>();

  private of(key: string): Map<string, V> {
    return isV6Key(key) ? this.v6 : this.v4;
  }

  get size(): number {
    return this.v4.size + this.v6.size;
  }

  get(key: string): V | undefined {
    return this.of(key).get(key);
  }

  set(key: string, value: V): this {
    this.of(key).set(key, value);
    return this;
  }

  delete(key: string): boolean {
    return this.of(key).delete(key);
  }

  /** Every entry, IPv4 first; makes no entry array per key (a full table's walk). */
  forEach(fn: (value: V, key: string) => void): void {
    this.v4.forEach(fn);
    this.v6.forEach(fn);
  }

  /** The values, one native iterator per family: cheaper to step through than a generator over both. */
  valueIterators(): IterableIterator<V>[] {
    return [this.v4.values(), this.v6.values()];
  }

  *[Symbol.iterator](): IterableIterator<[string, V]> {
    yield* this.v4;
    yield* this.v6;
  }

  *values(): IterableIterator<V> {
    yield* this.v4.values();
    yield* this.v6.values();
  }
}

/**
 * Keys end with a prefix ("2001:db8::/32", "vrf:blue|10.0.0.0/24"). Read backwards past the
 * length, an IPv6 address shows a ':' within five characters, an IPv4 one a '.' within four:
 * a few character reads, where a search from the front would cross any VRF name. (An IPv6
 * address written with a dotted quad at its end counts as IPv4 here, which is harmless.)
 */
export function isV6Key(key: string): boolean {
  for (let i = key.length - 1; i >= 0; i--) {
    const c = key.charCodeAt(i);
    if (c === 0x3a) return true; // ':'
    if (c === 0x2e || c === 0x7c) return false; // '.', '|'
  }
  return false;
}
