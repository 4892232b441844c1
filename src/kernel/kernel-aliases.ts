/**
 * The kernel's handling of several routes under one key (table, prefix, tos, metric), mirrored on
 * a key's alias list: the only module that reads a notification's placement flags.
 *
 * Kernel behaviour modelled here (checked on Linux 6.x):
 * - IPv4 keeps several *aliases* per key; lookups use the first usable one. Notification flags
 *   say where an alias went: EXCL|CREATE = first of its key, CREATE = prepended, CREATE|APPEND =
 *   appended, REPLACE = replaced the first. RTM_DELROUTE names the alias removed.
 * - IPv6 keeps gateway routes of one key as siblings of one multipath route; notifications carry
 *   the full sibling set, a sibling's RTM_DELROUTE only that path. Routes without a gateway (and
 *   nexthop-object routes) are separate entries, appended after the existing ones.
 */
import { NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE } from './netlink-constants.js';
import type { RouteMessage } from './netlink-messages.js';
import { routeEqual, type NextHop, type Route } from './route.js';
import { hasOwn, isPlaceholder, makePlaceholder, type Fam, type Slot } from './kernel-slots.js';

/**
 * What the alias functions need beside the list: which routes are foreign (aliases we keep
 * only to know what shadows or follows ours: other protocols' routes, other route types, and
 * placeholders), and the interner for the path sets they build.
 */
export interface AliasContext {
  readonly foreign: WeakSet<Route>;
  intern(nhs: NextHop[]): NextHop[];
}

/**
 * Whether the message makes our route `r` the key's one alias, replacing `cur` (the key's slot)
 * without any list work: a new key (EXCL|CREATE, or a dump's bare listing), or an IPv4 key with
 * one alias that the message replaces or announces again. Nearly every message of a full table.
 */
export function soleAlias(cur: Slot | undefined, r: Route, nlFlags: number, fam: Fam): boolean {
  if (cur === undefined) {
    return (nlFlags & (NLM_F_APPEND | NLM_F_REPLACE | NLM_F_EXCL)) === NLM_F_EXCL || (nlFlags & (NLM_F_APPEND | NLM_F_CREATE | NLM_F_REPLACE)) === 0;
  }
  return (
    fam === 4 &&
    !Array.isArray(cur) &&
    ((nlFlags & NLM_F_REPLACE) !== 0 || ((nlFlags & (NLM_F_APPEND | NLM_F_CREATE | NLM_F_EXCL)) === 0 && sameAlias(cur as Route, r)))
  );
}

/**
 * Applies a route message (parsed `m`, normalized `r`) to the key's aliases `cur`. Returns the
 * new list (empty: nothing of ours left), or undefined when the list stays as it is. Calls
 * `recheck` for a family whose aliases the flags leave uncertain (only a dump tells).
 */
export function applyToAliases(
  cur: Slot | undefined,
  r: Route,
  m: RouteMessage,
  nlFlags: number,
  isDel: boolean,
  fam: Fam,
  cx: AliasContext,
  recheck: (fam: Fam) => void,
): Route[] | undefined {
  const list = cur === undefined ? [] : Array.isArray(cur) ? cur.slice() : [cur];
  if (!isDel && nlFlags & NLM_F_REPLACE && nexthopReannouncement(list, r, fam)) {
    // Leave the aliases as they are (RTM_NEWNEXTHOP, which follows, refreshes their paths) and re-dump to be sure.
    recheck(fam);
    return undefined;
  }
  if (fam === 4 && isDel && list.length > 0 && !list.some((a) => sameAlias(a, r))) {
    // No alias of ours is the route deleted: a guess follows (below), and guesses can be wrong, e.g.
    // when this notification is replayed after a re-dump that already left the route out. Confirm by dumping.
    recheck(4);
  }
  if (fam === 4) return isDel ? delV4(list, r, cx) : newV4(list, r, nlFlags, cx);
  return isDel ? delV6(list, r, rawPaths(m), cx) : newV6(list, r, nlFlags, m.multipath, recheck, cx);
}

/** IPv6: gateway routes (not via nexthop objects) merge into one multipath route. */
const qualifiesForEcmp = (r: Route): boolean => r.type === 'unicast' && r.nhid === undefined && r.nexthops.length > 0 && r.nexthops[0]!.gateway !== undefined;

const samePath = (a: NextHop, b: NextHop): boolean => a.gateway === b.gateway && (a.ifindex ?? 0) === (b.ifindex ?? 0);

function sameNexthops(a: NextHop[], b: NextHop[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!samePath(a[i]!, b[i]!)) return false;
  return true;
}

function sameAlias(a: Route, r: Route): boolean {
  return a.protocol === r.protocol && a.type === r.type && a.nhid === r.nhid && sameNexthops(a.nexthops, r.nexthops);
}

const sameNhUser = (a: Route, r: Route): boolean => a.nhid === r.nhid && a.protocol === r.protocol && a.type === r.type;

/** Drops lists holding nothing of ours: we track other aliases only where they shadow ours. */
function keepIfOwn(list: Route[], cx: AliasContext): Route[] {
  return hasOwn(list, cx.foreign) ? list : [];
}

/** IPv4 RTM_NEWROUTE: flags say where the kernel put the alias (fib_table_insert). */
function newV4(list: Route[], r: Route, nlFlags: number, cx: AliasContext): Route[] | undefined {
  if (nlFlags & NLM_F_REPLACE) {
    if (list.length === 0) return keepIfOwn([r], cx);
    list[0] = r;
  } else if (nlFlags & NLM_F_APPEND) {
    // APPEND is only reported when aliases existed: one we never saw comes first.
    if (list.length === 0) list.push(makePlaceholder(r, cx.foreign));
    list.push(r);
  } else if (nlFlags & NLM_F_EXCL) {
    return keepIfOwn([r], cx);
  } else if (nlFlags & NLM_F_CREATE) {
    // prepend: before the existing aliases (if we knew none, one follows that we never saw).
    if (list.length === 0) list.push(makePlaceholder(r, cx.foreign));
    list.unshift(r);
  } else {
    // No placement flags (a re-announcement): the same alias again, or a new first one.
    if (list.some((a) => sameAlias(a, r) && routeEqual(a, r))) return undefined;
    const i = list.findIndex((a) => sameAlias(a, r));
    if (i >= 0) list[i] = r;
    else if (list.length === 0) list.push(r);
    else list[0] = r;
  }
  return keepIfOwn(list, cx);
}

/**
 * Replacing a nexthop object makes the kernel re-announce every route using it with NLM_F_REPLACE,
 * wherever that route sits among its key's aliases, while a real replace hits the first alias (IPv6:
 * the first of the same kind). So when the alias a replace would hit is not this route but another
 * alias already is, the message is (most likely) such a re-announcement, not a replace.
 */
function nexthopReannouncement(list: Route[], r: Route, fam: Fam): boolean {
  if (r.nhid === undefined || list.length < 2) return false;
  const target = fam === 4 ? 0 : list.findIndex((a) => !isPlaceholder(a) && qualifiesForEcmp(a) === qualifiesForEcmp(r));
  if (target >= 0 && sameNhUser(list[target]!, r)) return false;
  return list.some((a, i) => i !== target && sameNhUser(a, r));
}

/** IPv4 RTM_DELROUTE: the message describes the alias removed. */
function delV4(list: Route[], r: Route, cx: AliasContext): Route[] | undefined {
  let i = list.findIndex((a) => sameAlias(a, r));
  if (i < 0) i = list.findIndex((a) => a.protocol === r.protocol && a.type === r.type);
  if (i < 0) i = list.findIndex((a) => a.protocol === r.protocol);
  if (i < 0) i = list.findIndex(isPlaceholder);
  if (i < 0) return undefined;
  list.splice(i, 1);
  return keepIfOwn(list, cx);
}

/** IPv6 RTM_NEWROUTE (fib6_add_rt2node). */
function newV6(list: Route[], r: Route, nlFlags: number, multipath: boolean, recheck: (fam: Fam) => void, cx: AliasContext): Route[] | undefined {
  const ecmp = qualifiesForEcmp(r);
  if (nlFlags & NLM_F_REPLACE) {
    // Replaces the first entry of the same kind (the sibling group, or a non-gateway route).
    const i = list.findIndex((a) => !isPlaceholder(a) && qualifiesForEcmp(a) === ecmp);
    if (i >= 0) list[i] = r;
    else list.unshift(r);
    return keepIfOwn(list, cx);
  }
  const g = ecmp ? list.findIndex((a) => qualifiesForEcmp(a)) : -1;
  if (g >= 0) {
    // The notification carries the whole sibling set; the group keeps its first route's protocol (as a dump shows it).
    const head = list[g]!;
    const nexthops = multipath ? r.nexthops : mergePaths(head.nexthops, r.nexthops, cx);
    if (nexthops === head.nexthops) return undefined;
    const nr: Route = { ...head, nexthops };
    if (cx.foreign.has(head)) cx.foreign.add(nr);
    list[g] = nr;
    return keepIfOwn(list, cx);
  }
  if (list.length === 0) {
    if (multipath && nlFlags & NLM_F_APPEND && !cx.foreign.has(r)) {
      // Siblings joined a group we do not hold (headed by another protocol's route): only a dump tells.
      recheck(6);
      return undefined;
    }
    // A single path reported without EXCL means an entry of the same metric existed.
    if (!multipath && nlFlags & NLM_F_CREATE && !(nlFlags & NLM_F_EXCL)) list.push(makePlaceholder(r, cx.foreign));
    list.push(r);
    return keepIfOwn(list, cx);
  }
  if (list.some((a) => sameAlias(a, r))) return undefined;
  list.push(r); // new entries go after those of the same metric
  return keepIfOwn(list, cx);
}

function mergePaths(a: NextHop[], b: NextHop[], cx: AliasContext): NextHop[] {
  const add = b.filter((n) => !a.some((x) => samePath(x, n)));
  if (add.length === 0) return a;
  return cx.intern([...a, ...add]);
}

/** Every path the message names, dead ones included (deletes name paths we may have dropped as dead). */
function rawPaths(m: RouteMessage): NextHop[] {
  return m.nexthops.map((p) => (p.gateway === undefined ? { weight: 1, ifindex: p.ifindex } : { weight: 1, gateway: p.gateway, ifindex: p.ifindex }));
}

/** IPv6 RTM_DELROUTE: one sibling (remove that path) or the whole route (all its paths). */
function delV6(list: Route[], r: Route, raw: NextHop[], cx: AliasContext): Route[] | undefined {
  if (raw.length > 0 && r.nhid === undefined && r.type === 'unicast') {
    const i = list.findIndex((a) => a.nhid === undefined && a.nexthops.some((n) => raw.some((x) => samePath(n, x))));
    if (i < 0) {
      // Paths we already dropped as dead: only a route left with no path at all is the one deleted.
      const j = list.findIndex((a) => a.type === 'unicast' && a.nexthops.length === 0 && !isPlaceholder(a) && a.protocol === r.protocol);
      if (j < 0) return undefined;
      list.splice(j, 1);
      return keepIfOwn(list, cx);
    }
    const a = list[i]!;
    const rest = a.nexthops.filter((n) => !raw.some((x) => samePath(n, x)));
    if (rest.length === 0) list.splice(i, 1);
    else {
      const nr: Route = { ...a, nexthops: cx.intern(rest) };
      if (cx.foreign.has(a)) cx.foreign.add(nr);
      list[i] = nr;
    }
    return keepIfOwn(list, cx);
  }
  return delV4(list, r, cx);
}
