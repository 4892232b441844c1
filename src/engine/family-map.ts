/**
 * A string-keyed Map kept as two, one per address family, for tables of a full
 * routing table's size. A Map's hash table doubles as it grows, so it costs one
 * to two slots per key; the IPv4 and IPv6 tables grow apart, and one Map for both
 * sizes its table for their sum (1.2M keys: 2^21 slots) where two size theirs
 * each (2^20 + 2^18). Keys end with their prefix (after any "|"), an IPv6 one
 * holding a ':' there. Any split is correct as long as a key always goes to the
 * same map; this one follows the families.
 */
export class FamilyMap<V> {
  private readonly v4 = new Map<string, V>();
  private readonly v6 = new Map<string, V>();

  private of(key: string): Map<string, V> {
    return key.indexOf(':', key.lastIndexOf('|') + 1) >= 0 ? this.v6 : this.v4;
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

  *[Symbol.iterator](): IterableIterator<[string, V]> {
    yield* this.v4;
    yield* this.v6;
  }

  *values(): IterableIterator<V> {
    yield* this.v4.values();
    yield* this.v6.values();
  }
}
