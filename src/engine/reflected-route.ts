import type { Route } from '../kernel/route.js';

/** BGP attributes the chain may set; GoBGP uses them, VPP ignores them. */
export interface BgpAttributes {
  med?: number;
  localPref?: number;
  /** "65000:100" form, or well-known names ("no-export"...), already resolved to "asn:value" text by the handler. */
  communities?: string[];
  /** "global:local1:local2". */
  largeCommunities?: string[];
  /** Next hop to announce: an address, or "self" (the BGP speaker's own address). Unset: the route's gateway. */
  nextHop?: string;
}

/**
 * A route on its way through the handler chain to the sinks. The kernel route's
 * fields may be rewritten by handlers (next hops, table); `vrf` and `bgp` are
 * added by them.
 */
export interface ReflectedRoute extends Route {
  /** VRF name for sinks that have VRFs (GoBGP: vrf name; VPP: mapped to a table by the sink's config). */
  vrf?: string;
  bgp?: BgpAttributes;
}

/**
 * Identity of a route in a dataplane: one entry per (VRF or table, prefix).
 * Several kernel routes that differ only in metric compete for it; the lowest metric wins.
 */
export function dataplaneKey(r: Pick<ReflectedRoute, 'vrf' | 'table' | 'prefix'>): string {
  return r.vrf !== undefined ? `vrf:${r.vrf}|${r.prefix}` : `${r.table}|${r.prefix}`;
}
