import type { Family } from '../util/ip.js';

export type { Family };

/** Kernel route types rtreflect reflects (RTN_UNICAST, RTN_BLACKHOLE, RTN_UNREACHABLE, RTN_PROHIBIT). */
export type RouteType = 'unicast' | 'blackhole' | 'unreachable' | 'prohibit';

export interface NextHop {
  /** Gateway address, canonical text. Its family may differ from the route's (IPv4 via IPv6, RTA_VIA). */
  gateway?: string;
  /** Outgoing interface index and name (the name as known when the event arrived). */
  ifindex?: number;
  ifname?: string;
  /** ECMP weight, 1..256 (the kernel's rtnh_hops + 1). */
  weight: number;
  onlink?: boolean;
}

/**
 * A kernel route, normalized. Identity (see routeKey) is family, table, canonical
 * prefix, metric and, for IPv4, TOS; the rest is the route's value.
 */
export interface Route {
  family: Family;
  /** Canonical prefix text: "10.0.0.0/24", "2001:db8::/32". */
  prefix: string;
  /** Full table id, from RTA_TABLE (the header's 8-bit rtm_table saturates at 252). */
  table: number;
  /** rtm_protocol, e.g. 12 for bird. */
  protocol: number;
  type: RouteType;
  /** RTA_PRIORITY; 0 when absent. */
  metric: number;
  /** IPv4 TOS (part of the key); 0 for IPv6. */
  tos: number;
  /** Next hops in canonical order (by gateway, then ifindex: KernelState sorts them); empty for blackhole/unreachable/prohibit. */
  nexthops: NextHop[];
  /** The nexthop object id, when the kernel route refers to one (RTA_NH_ID); nexthops are then resolved from it. */
  nhid?: number;
}

export type RouteEventOp = 'add' | 'del';

/** `add` means: the route under this key is now exactly `route` (an add or a replace). */
export interface RouteEvent {
  op: RouteEventOp;
  route: Route;
  /** routeKey(route), when the producer has it already (saves a string per route). */
  key?: string;
}

/**
 * Identity of a kernel route. The common case (table main, the family's
 * default metric — 0 for IPv4, 1024 for IPv6 — no TOS) is the prefix string
 * itself, so a full table's keys cost no strings of their own; a prefix never
 * contains "|", so the forms cannot collide.
 */
export function routeKey(r: Pick<Route, 'family' | 'table' | 'prefix' | 'metric' | 'tos'>): string {
  if (r.tos) return `${r.table}|${r.prefix}|${r.metric}|${r.tos}`;
  return r.table === 254 && r.metric === (r.family === 6 ? 1024 : 0) ? r.prefix : `${r.table}|${r.prefix}|${r.metric}`;
}

export function nextHopEqual(a: NextHop, b: NextHop): boolean {
  return a.gateway === b.gateway && a.ifindex === b.ifindex && a.weight === b.weight && !!a.onlink === !!b.onlink;
}

/** Same value under the same key (the interface name is presentation, not value). */
export function routeEqual(a: Route, b: Route): boolean {
  if (a.type !== b.type || a.protocol !== b.protocol || a.nexthops.length !== b.nexthops.length || a.nhid !== b.nhid) return false;
  for (let i = 0; i < a.nexthops.length; i++) if (!nextHopEqual(a.nexthops[i]!, b.nexthops[i]!)) return false;
  return true;
}
