import type { BgpAttributes, ReflectedRoute } from './api.js';

/**
 * A copy of `route` with `bgp` replaced. Object.assign, not `{ ...route, bgp }`:
 * adding a key to a spread clone sends V8 down a slow path, which matters on a
 * full table (bench/micro/route-copy.ts measures both).
 */
export function withBgp(route: ReflectedRoute, bgp: BgpAttributes): ReflectedRoute {
  const out = Object.assign({}, route);
  out.bgp = bgp;
  return out;
}

/** A copy of the BGP attributes (an empty object when there are none). */
export function copyBgp(route: ReflectedRoute): BgpAttributes {
  return route.bgp === undefined ? {} : Object.assign({}, route.bgp);
}
