/**
 * How the kernel state stores a key: its one Route (the common case) or its alias list, in
 * kernel order. Aliases tagged foreign (other protocols' routes, other route types,
 * placeholders) are kept only to know what shadows or follows ours.
 */
import { EMPTY } from './nexthop-intern.js';
import { routeEqual, type Route, type RouteEvent } from './route.js';

export type Fam = 4 | 6;
/** A key's aliases: one Route, or several in kernel order. */
export type Slot = Route | Route[];

/** An alias the kernel has that we never saw, inferred from notification flags: tagged foreign, protocol -1. */
export function makePlaceholder(r: Route, foreign: WeakSet<Route>): Route {
  const p: Route = { ...r, protocol: -1, type: 'unicast', nexthops: EMPTY };
  delete p.nhid;
  foreign.add(p);
  return p;
}

export const isPlaceholder = (r: Route): boolean => r.protocol === -1;
/** Usable = the kernel would forward with it. A placeholder is assumed usable. */
export const isUsable = (r: Route): boolean => r.type !== 'unicast' || r.nexthops.length > 0 || isPlaceholder(r);

/**
 * The route rtreflect reports for a key: the first usable alias of a selected
 * protocol, as `ip route show proto P` lists it — also when another protocol's
 * alias is listed before it (the operator asked for P's routes, and kernel
 * dumps filtered by protocol, which keep a full table's resync cheap, see only those).
 */
export function effectiveOf(slot: Slot | undefined, foreign: WeakSet<Route>): Route | undefined {
  if (slot === undefined) return undefined;
  if (!Array.isArray(slot)) return isUsable(slot) && !foreign.has(slot) ? slot : undefined;
  for (const r of slot) if (isUsable(r) && !foreign.has(r)) return r;
  return undefined;
}

/** Whether the slot holds an alias of ours. */
export function hasOwn(slot: Slot, foreign: WeakSet<Route>): boolean {
  return Array.isArray(slot) ? slot.some((r) => !foreign.has(r)) : !foreign.has(slot);
}

export function forEachAlias(slot: Slot | undefined, fn: (r: Route) => void): void {
  if (slot === undefined) return;
  if (Array.isArray(slot)) for (const r of slot) fn(r);
  else fn(slot);
}

/** The event a key's change means; it carries the key (the state's own string, so consumers need not build another). */
export function diff(before: Route | undefined, after: Route | undefined, events: RouteEvent[], key: string): void {
  if (after) {
    if (!before || !routeEqual(before, after)) events.push({ op: 'add', route: after, key });
  } else if (before) {
    events.push({ op: 'del', route: before, key });
  }
}
