/**
 * Interning of next-hop arrays: routes with equal paths share one frozen array (most routes of a
 * table use a handful of path sets). Frozen means interned: sinks cache work per array on that
 * (the GoBGP path planner checks `Object.isFrozen`).
 */
import type { NextHop } from './route.js';

/** The empty path set (blackholes, routes whose paths all died, nexthop objects not seen yet). */
export const EMPTY: NextHop[] = Object.freeze([]) as unknown as NextHop[];

function nextHopOrder(a: NextHop, b: NextHop): number {
  const ga = a.gateway ?? '',
    gb = b.gateway ?? '';
  if (ga !== gb) return ga < gb ? -1 : 1;
  return (a.ifindex ?? 0) - (b.ifindex ?? 0);
}

const nhText = (n: NextHop): string => `${n.gateway ?? ''}%${n.ifindex ?? 0}%${n.weight}%${n.onlink ? 1 : 0}%${n.ifname ?? ''}`;

export class NextHopInterner {
  private readonly interned = new Map<string, NextHop[]>();
  /** Interned single-path arrays (weight 1, not onlink) by gateway, then ifindex: the common case's shortcut. */
  private readonly singlePaths = new Map<string, Map<number, NextHop[]>>();
  private limit = 4096;

  /** `forEachLive` hands every path set a route still holds to `keep` (compaction drops the others). */
  constructor(private readonly forEachLive: (keep: (nhs: NextHop[]) => void) => void) {}

  /** Shares equal next-hop arrays between routes; sorts them into canonical order first. */
  intern(nhs: NextHop[]): NextHop[] {
    if (nhs.length === 0) return EMPTY;
    if (nhs.length === 1) {
      if (nhs[0]!.weight !== 1) nhs = [{ ...nhs[0]!, weight: 1 }]; // a single path has no ECMP weight
    } else {
      if (Object.isFrozen(nhs)) nhs = [...nhs];
      nhs.sort(nextHopOrder);
    }
    let k = nhText(nhs[0]!);
    for (let i = 1; i < nhs.length; i++) k += ',' + nhText(nhs[i]!);
    const hit = this.interned.get(k);
    if (hit) return hit;
    for (const nh of nhs) Object.freeze(nh);
    Object.freeze(nhs);
    this.interned.set(k, nhs);
    this.indexSinglePath(nhs);
    if (this.interned.size > this.limit) this.compact();
    return nhs;
  }

  /**
   * The interned single path (weight 1, not onlink) through `gateway` and `ifindex`, found without
   * building its text key (the bulk of a table). The caller checks the interface name still matches.
   */
  singlePath(gateway: string | undefined, ifindex: number): NextHop[] | undefined {
    return this.singlePaths.get(gateway ?? '')?.get(ifindex);
  }

  /** The interned path sets with a path through the link (every path set a route holds is interned). */
  setsThrough(ifindex: number): Set<NextHop[]> {
    const through = new Set<NextHop[]>();
    for (const nhs of this.interned.values()) if (nhs.some((n) => n.ifindex === ifindex)) through.add(nhs);
    return through;
  }

  /** Files an interned single-path array (not onlink) under its gateway and ifindex, for singlePath(). */
  private indexSinglePath(nhs: NextHop[]): void {
    if (nhs.length !== 1 || nhs[0]!.onlink) return;
    const nh = nhs[0]!;
    let byIf = this.singlePaths.get(nh.gateway ?? '');
    if (!byIf) this.singlePaths.set(nh.gateway ?? '', (byIf = new Map()));
    byIf.set(nh.ifindex ?? 0, nhs);
  }

  /** Drops interned arrays no route uses any more (amortized: runs when the table doubled). */
  private compact(): void {
    const live = new Set<NextHop[]>();
    this.forEachLive((nhs) => live.add(nhs));
    for (const [k, v] of this.interned) if (!live.has(v)) this.interned.delete(k);
    this.singlePaths.clear();
    for (const v of this.interned.values()) this.indexSinglePath(v);
    this.limit = Math.max(4096, this.interned.size * 2);
  }
}
