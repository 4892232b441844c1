/**
 * Keys of ours that another FIB source wins in VPP. For such a prefix VPP keeps our paths under
 * our source but forwards with, and shows, only the winner's: a dump filtered by our source
 * leaves the entry out, an unfiltered one gives the winner's source and paths. What we hold
 * there cannot be read back, so what we wrote there on this connection is remembered and
 * reported as held: a resync leaves the key be instead of rewriting it every time (a rewrite
 * changes nothing in VPP). Only keys a read found won elsewhere are remembered, so a table our
 * source wins costs nothing here; one written before this connection (rtreflect or VPP
 * restarted) is not known to be ours, and is written once more, then remembered.
 */
export class ShadowedKeys {
  /** Keys the last complete read found won by another source. */
  private wonElsewhere = new Set<string>();
  /** The read begun last, while it runs (writes meanwhile check it too). */
  private current: ShadowedRead | undefined;
  /** What we wrote, on this connection, under keys won elsewhere. */
  private readonly written = new Map<string, string>();
  /** Keys of ours the last complete read found won elsewhere. */
  count = 0;

  /** A new connection: VPP may have restarted, and our source's entries with it. */
  clear(): void {
    this.wonElsewhere = new Set();
    this.current = undefined;
    this.written.clear();
    this.count = 0;
  }

  beginRead(): ShadowedRead {
    return (this.current = new ShadowedRead(this.written));
  }

  /** The read is complete: returns how many keys of ours it found won elsewhere. */
  endRead(read: ShadowedRead): number {
    if (this.current === read) this.current = undefined;
    this.wonElsewhere = read.wonElsewhere;
    // Won by us again, or gone (with every source's paths, ours included): nothing to remember.
    for (const key of this.written.keys()) if (!read.wonElsewhere.has(key)) this.written.delete(key);
    this.count = read.ours;
    return read.ours;
  }

  /** VPP took our upsert of `key`. */
  wrote(key: string, fingerprint: string): void {
    if (this.wonElsewhere.has(key) || this.current?.wonElsewhere.has(key) === true) this.written.set(key, fingerprint);
  }

  /** VPP took our delete of `key`. */
  deleted(key: string): void {
    this.written.delete(key);
  }
}

/** One read: the keys it found won by another source, and how many of those are ours. */
export class ShadowedRead {
  readonly wonElsewhere = new Set<string>();
  ours = 0;

  constructor(private readonly written: Map<string, string>) {}

  /** The entry of `key` is won by another source: what we wrote under it, if we know. */
  wonBySomeoneElse(key: string): string | undefined {
    this.wonElsewhere.add(key);
    const fp = this.written.get(key);
    if (fp !== undefined) this.ours++;
    return fp;
  }
}
