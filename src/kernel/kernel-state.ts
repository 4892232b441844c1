/**
 * The kernel's routes as rtreflect sees them: a model of the FIB for the
 * watched protocols/tables, fed with rtnetlink messages in stream order, that
 * turns them into normalized events (`add` = "this key now holds exactly this
 * value", `del` = "gone"), emitting nothing when nothing changed.
 *
 * Kernel behaviour modelled here (checked on Linux 6.x):
 * - IPv4 keeps several *aliases* per key (table, prefix, tos, metric); lookups
 *   use the first usable one. Notification flags say where an alias went:
 *   EXCL|CREATE = first of its key, CREATE = prepended, CREATE|APPEND =
 *   appended, REPLACE = replaced the first. RTM_DELROUTE names the alias removed.
 * - IPv6 keeps gateway routes of one key as siblings of one multipath route;
 *   notifications carry the full sibling set, a sibling's RTM_DELROUTE only
 *   that path. Routes without a gateway (and nexthop-object routes) are
 *   separate entries, appended after the existing ones.
 * - Routes using a nexthop object follow it: replacing the object changes
 *   them, deleting it removes them (IPv4: without RTM_DELROUTE).
 * - Taking a link down kills routes through it silently (single path) or marks
 *   the path dead (multipath); the caller is asked to re-dump (`recheck`).
 *
 * Storage is lean: a key maps to its one Route (the common case) or to its
 * alias list (kernel-slots.ts); next-hop arrays are interned and shared between
 * routes (nexthop-intern.ts). Nexthop objects live in nexthop-objects.ts, a dump
 * under way in kernel-snapshot.ts.
 *
 * Longer than the other modules: the class that applies messages and the pure
 * functions that mirror the kernel's alias handling (newV4, delV4, newV6, delV6)
 * are read together.
 */
import { RtreflectError } from '../util/errors.js';
import {
  AF_INET,
  AF_INET6,
  IFF_LOWER_UP,
  IFF_UP,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELNEXTHOP,
  RTM_DELROUTE,
  RTM_F_CLONED,
  RTM_NEWLINK,
  RTM_NEWNEXTHOP,
  RTM_NEWROUTE,
  RTNH_F_ONLINK,
  RTN_BLACKHOLE,
  RTN_PROHIBIT,
  RTN_UNICAST,
  RTN_UNREACHABLE,
} from './netlink-constants.js';
import { FramedMsg, type NlMsg } from './netlink-frame.js';
import { parseAddrMessage, parseLinkMessage, parseNexthopMessage, parseRouteMessage, type ParsedNextHop, type RouteMessage } from './netlink-messages.js';
import { routeEqual, routeKey, type NextHop, type Route, type RouteEvent, type RouteType } from './route.js';
import { diff, effectiveOf, forEachAlias, hasOwn, isPlaceholder, makePlaceholder, type Fam, type Slot } from './kernel-slots.js';
import { KernelSnapshot, type SnapshotTarget } from './kernel-snapshot.js';
import { EMPTY, NextHopInterner } from './nexthop-intern.js';
import { NexthopObjects, UNUSABLE, type NhObject } from './nexthop-objects.js';

export interface KernelFilter {
  /** null = all protocols. */
  protocols: Set<number> | null;
  /** null = all tables. */
  tables: Set<number> | null;
  families: Set<4 | 6>;
}

export interface IngestResult {
  events: RouteEvent[];
  /** Families whose routes may have changed without a notification: re-dump them (beginSnapshot...). */
  recheck: (4 | 6)[];
}

export interface KernelStateOptions {
  /** Things an operator should know about (a route waiting for an unknown nexthop object, ...). */
  onWarning?: (message: string, details: Record<string, unknown>) => void;
}

/**
 * What the alias functions need beside the list: which routes are foreign (aliases we keep
 * only to know what shadows or follows ours: other protocols' routes, other route types, and
 * placeholders), and the interner for the path sets they build.
 */
interface AliasContext {
  readonly foreign: WeakSet<Route>;
  intern(nhs: NextHop[]): NextHop[];
}

function typeName(t: number): RouteType | undefined {
  switch (t) {
    case RTN_UNICAST:
      return 'unicast';
    case RTN_BLACKHOLE:
      return 'blackhole';
    case RTN_UNREACHABLE:
      return 'unreachable';
    case RTN_PROHIBIT:
      return 'prohibit';
    default:
      return undefined;
  }
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

export class KernelState {
  private readonly filter: KernelFilter;
  private readonly warn: (message: string, details: Record<string, unknown>) => void;
  private readonly slots: Record<Fam, Map<string, Slot>> = { 4: new Map(), 6: new Map() };
  private count = 0;
  /** Routes tagged foreign: see AliasContext. */
  private readonly foreign = new WeakSet<Route>();
  private readonly links = new Map<number, { name: string; flags: number }>();
  /** Links whose paths we dropped as dead; when they come back the kernel revives paths silently. */
  private readonly strippedLinks = new Map<number, Set<Fam>>();
  private readonly interner: NextHopInterner;
  private readonly nhObjects: NexthopObjects;
  private readonly aliases: AliasContext;
  /** The dump under way. */
  private snap: KernelSnapshot | null = null;

  constructor(filter: KernelFilter, opts: KernelStateOptions = {}) {
    this.filter = filter;
    this.warn = opts.onWarning ?? (() => {});
    this.interner = new NextHopInterner((keep) => {
      for (const fam of [4, 6] as const) for (const slot of this.slots[fam].values()) forEachAlias(slot, (r) => keep(r.nexthops));
    });
    const intern = (nhs: NextHop[]): NextHop[] => this.interner.intern(nhs);
    this.nhObjects = new NexthopObjects({
      intern,
      makeNextHop: (gateway, ifindex, weight, onlink) => this.makeNextHop(gateway, ifindex, weight, onlink),
      linkDead: (ifindex, flags) => this.linkDead(ifindex, flags),
    });
    this.aliases = { foreign: this.foreign, intern };
  }

  get size(): number {
    return this.count;
  }

  get(key: string): Route | undefined {
    return effectiveOf(this.slots[key.includes(':') ? 6 : 4].get(key), this.foreign);
  }

  *routes(): IterableIterator<Route> {
    for (const fam of [4, 6] as const) {
      for (const slot of this.slots[fam].values()) {
        const r = effectiveOf(slot, this.foreign);
        if (r) yield r;
      }
    }
  }

  ifname(ifindex: number): string | undefined {
    return this.links.get(ifindex)?.name;
  }

  /** Any rtnetlink message, in stream order. Malformed messages throw ERR_NETLINK_MALFORMED (state unchanged). */
  ingest(msg: NlMsg): IngestResult {
    const res: IngestResult = { events: [], recheck: [] };
    switch (msg.type) {
      case RTM_NEWROUTE:
      case RTM_DELROUTE:
        this.onRoute(routeMessageOf(msg), msg.flags, msg.type === RTM_DELROUTE, res);
        break;
      case RTM_NEWNEXTHOP: {
        const m = parseNexthopMessage(msg.payload);
        this.setNexthop({ id: m.id, family: m.family, blackhole: m.blackhole, oif: m.oif, gateway: m.gateway, flags: m.flags, group: m.group }, res.events);
        break;
      }
      case RTM_DELNEXTHOP:
        this.deleteNexthop(parseNexthopMessage(msg.payload).id, res.events);
        break;
      case RTM_NEWLINK:
      case RTM_DELLINK:
        this.onLink(msg, res);
        break;
      case RTM_DELADDR: {
        const m = parseAddrMessage(msg.payload);
        // Routes using the address as prefsrc, or a gateway only reachable through it, are flushed silently.
        if (m.family === AF_INET && this.filter.families.has(4) && this.slots[4].size > 0) addRecheck(res, 4);
        break;
      }
      default:
        break;
    }
    return res;
  }

  // ------------------------------------------------------------ snapshots

  beginSnapshot(family: Fam): void {
    if (this.snap) throw new RtreflectError('ERR_INTERNAL', `a snapshot of IPv${this.snap.fam} routes is already under way`, { userFacing: false });
    // The first dump of a family (the start-up load of a full table) needs neither log: every key is new.
    this.snap = new KernelSnapshot(family, this.slots[family].size === 0);
  }

  /** A message of the dump (routes of the snapshot's family; nexthop or link messages are applied as they come). */
  ingestSnapshot(msg: NlMsg): void {
    const snap = this.snap;
    if (!snap) throw new RtreflectError('ERR_INTERNAL', 'ingestSnapshot() without beginSnapshot()', { userFacing: false });
    if (msg.type !== RTM_NEWROUTE) {
      const r = this.ingest(msg);
      snap.extra.push(...r.events);
      return;
    }
    const m = routeMessageOf(msg);
    const fam = famOf(m);
    if (fam !== snap.fam || !this.accepts(m)) return;
    const r = this.toRoute(m, fam);
    const key = routeKey(r);
    const cur = this.slots[fam].get(key);
    this.putKnown(fam, key, snap.listed(key, cur, r), snap.fresh ? snap.pending : null, cur);
  }

  /**
   * The events of the dump so far, when they are already certain: during a fresh
   * dump (the first of a family), every route it lists is an add. Empty otherwise
   * (a re-dump's difference is only known at its end).
   */
  takeSnapshotEvents(): RouteEvent[] {
    return this.snap?.takeEvents() ?? [];
  }

  /** Ends the dump: returns exactly the difference between the state before and the dump (less what takeSnapshotEvents gave). */
  endSnapshot(family: Fam): RouteEvent[] {
    const snap = this.snap;
    if (!snap || snap.fam !== family)
      throw new RtreflectError('ERR_INTERNAL', `endSnapshot(${family}) without beginSnapshot(${family})`, { userFacing: false });
    const events = snap.end(this.snapshotTarget(family));
    this.snap = null;
    return events;
  }

  /**
   * The dump failed: forget it, the state is as before beginSnapshot (routes; nexthop/link
   * updates stay). Returns the deletes that take back what takeSnapshotEvents already gave.
   */
  abortSnapshot(family: Fam): RouteEvent[] {
    const snap = this.snap;
    if (!snap || snap.fam !== family) return [];
    this.snap = null;
    return snap.abort(this.snapshotTarget(family));
  }

  private snapshotTarget(fam: Fam): SnapshotTarget {
    return {
      slots: this.slots[fam],
      foreign: this.foreign,
      put: (key, next, events) => this.put(fam, key, next, events),
      putKnown: (key, next, events, prev) => this.putKnown(fam, key, next, events, prev),
    };
  }

  // ------------------------------------------------------------ routes

  private accepts(m: RouteMessage): boolean {
    const t = this.filter.tables;
    // Cache clones are not FIB entries; source-specific IPv6 routes are not modelled.
    return (m.flags & RTM_F_CLONED) === 0 && m.srcLen === 0 && (t === null || t.has(m.table));
  }

  private isOwn(m: RouteMessage): boolean {
    const p = this.filter.protocols;
    return typeName(m.type) !== undefined && (p === null || p.has(m.protocol));
  }

  private onRoute(m: RouteMessage, nlFlags: number, isDel: boolean, res: IngestResult): void {
    const fam = famOf(m);
    if (fam === 0 || !this.filter.families.has(fam) || !this.accepts(m)) return;
    const r = this.toRoute(m, fam);
    const key = routeKey(r);
    const cur = this.slots[fam].get(key);
    const foreign = this.foreign;
    if (cur === undefined && foreign.has(r)) return; // not ours, and shadows nothing of ours
    // Fast path (nearly every message of a full table): our route as the only alias of its key.
    if (
      !isDel &&
      !foreign.has(r) &&
      (cur === undefined
        ? (nlFlags & (NLM_F_APPEND | NLM_F_REPLACE | NLM_F_EXCL)) === NLM_F_EXCL || (nlFlags & (NLM_F_APPEND | NLM_F_CREATE | NLM_F_REPLACE)) === 0
        : fam === 4 &&
          !Array.isArray(cur) &&
          ((nlFlags & NLM_F_REPLACE) !== 0 || ((nlFlags & (NLM_F_APPEND | NLM_F_CREATE | NLM_F_EXCL)) === 0 && sameAlias(cur as Route, r))))
    ) {
      this.putKnown(fam, key, cur !== undefined && routeEqual(cur as Route, r) ? cur : r, res.events, cur);
      if (r.nhid !== undefined && r.nexthops.length === 0 && !this.nhObjects.has(r.nhid)) {
        this.warn('route refers to a nexthop object not seen yet; it is held until the object arrives', { route: key, nhid: r.nhid });
      }
      return;
    }
    const list = cur === undefined ? [] : Array.isArray(cur) ? cur.slice() : [cur];
    if (!isDel && nlFlags & NLM_F_REPLACE && nexthopReannouncement(list, r, fam)) {
      // Leave the aliases as they are (RTM_NEWNEXTHOP, which follows, refreshes their paths) and re-dump to be sure.
      addRecheck(res, fam);
      return;
    }
    let next: Route[] | undefined;
    const cx = this.aliases;
    if (fam === 4 && isDel && list.length > 0 && !list.some((a) => sameAlias(a, r))) {
      // No alias of ours is the route deleted: a guess follows (below), and guesses can be wrong, e.g.
      // when this notification is replayed after a re-dump that already left the route out. Confirm by dumping.
      addRecheck(res, 4);
    }
    if (fam === 4) next = isDel ? delV4(list, r, cx) : newV4(list, r, nlFlags, cx);
    else next = isDel ? delV6(list, r, rawPaths(m), cx) : newV6(list, r, nlFlags, m.multipath, res, cx);
    if (next === undefined) return;
    this.putKnown(fam, key, next.length === 0 ? undefined : next.length === 1 ? next[0]! : next, res.events, cur);
    if (r.nhid !== undefined && r.nexthops.length === 0 && !isDel && !foreign.has(r) && !this.nhObjects.has(r.nhid)) {
      this.warn('route refers to a nexthop object not seen yet; it is held until the object arrives', { route: key, nhid: r.nhid });
    }
  }

  /** Normalizes a parsed message into a Route (usable paths only, sorted, interned). */
  private toRoute(m: RouteMessage, fam: Fam): Route {
    const type = typeName(m.type);
    const r: Route = {
      // Other route types (local, multicast...) are kept only as foreign aliases that shadow ours.
      family: fam,
      prefix: m.prefix,
      table: m.table,
      protocol: m.protocol,
      type: type ?? 'blackhole',
      metric: m.metric,
      tos: m.tos,
      nexthops: EMPTY,
    };
    if (m.nhid !== 0) {
      r.nhid = m.nhid;
      const resolved = this.nhObjects.resolve(m.nhid);
      if (resolved) {
        r.nexthops = resolved.nexthops;
        if (resolved.blackhole && type === 'unicast') r.type = 'blackhole';
      } else if (type === 'unicast') {
        r.nexthops = this.fromParsed(m.nexthops);
      }
    } else if (type === 'unicast') {
      r.nexthops = this.fromParsed(m.nexthops);
    }
    if (!this.isOwn(m)) this.foreign.add(r);
    else for (const nh of m.nexthops) if (nh.ifindex && this.linkDead(nh.ifindex, nh.flags)) this.noteStripped(nh.ifindex, fam);
    return r;
  }

  private linkDead(ifindex: number, flags: number): boolean {
    if (flags & UNUSABLE) return true;
    const l = this.links.get(ifindex);
    return l !== undefined && !linkUp(l.flags);
  }

  private noteStripped(ifindex: number, fam: Fam): void {
    let s = this.strippedLinks.get(ifindex);
    if (!s) this.strippedLinks.set(ifindex, (s = new Set()));
    s.add(fam);
  }

  private fromParsed(nhs: ParsedNextHop[]): NextHop[] {
    if (nhs.length === 0) return EMPTY;
    if (nhs.length === 1) {
      // The bulk of a table: one gateway path, seen before. Found without building its text key.
      const p = nhs[0]!;
      if ((p.flags & (UNUSABLE | RTNH_F_ONLINK)) === 0 && !(p.ifindex && this.linkDead(p.ifindex, p.flags))) {
        const hit = this.interner.singlePath(p.gateway, p.ifindex);
        if (hit !== undefined && hit[0]!.ifname === (p.ifindex ? this.links.get(p.ifindex)?.name : undefined)) return hit;
      }
    }
    const out: NextHop[] = [];
    for (const p of nhs) {
      if (p.ifindex && this.linkDead(p.ifindex, p.flags)) continue;
      if (p.flags & UNUSABLE) continue;
      out.push(this.makeNextHop(p.gateway, p.ifindex, p.weight, (p.flags & RTNH_F_ONLINK) !== 0));
    }
    return this.interner.intern(out);
  }

  private makeNextHop(gateway: string | undefined, ifindex: number, weight: number, onlink: boolean): NextHop {
    const nh: NextHop = { weight };
    if (gateway !== undefined) nh.gateway = gateway;
    if (ifindex) {
      nh.ifindex = ifindex;
      const name = this.links.get(ifindex)?.name;
      if (name !== undefined) nh.ifname = name;
    }
    if (onlink) nh.onlink = true;
    return nh;
  }

  /**
   * Replaces a key's slot, keeps the indexes and the count, and appends the event the change
   * means to `events` (a re-dump's own puts pass none: its end works the difference out).
   */
  private put(fam: Fam, key: string, next: Slot | undefined, events: RouteEvent[] | null): void {
    this.putKnown(fam, key, next, events, this.slots[fam].get(key));
  }

  /** put() when the caller has the key's slot now, `prev` (a lookup in a full table's map is a cache miss or two). */
  private putKnown(fam: Fam, key: string, next: Slot | undefined, events: RouteEvent[] | null, prev: Slot | undefined): void {
    if (prev === next) return;
    const snap = this.snap;
    if (snap !== null && snap.fam === fam) {
      if (!snap.fresh) snap.keepBefore(key, prev);
      // A live message beside a fresh dump (the dump's own puts pass its `pending`).
      else if (prev === undefined && next !== undefined && events !== snap.pending) snap.createdBeside(key);
    }
    const map = this.slots[fam];
    if (next === undefined) map.delete(key);
    else map.set(key, next);
    this.reindex(key, prev, next);
    const before = effectiveOf(prev, this.foreign),
      after = effectiveOf(next, this.foreign);
    if (before && !after) this.count--;
    else if (!before && after) this.count++;
    // A message applied beside a re-dump tells its change now (the dump's end tells the rest).
    if (events) diff(before, after, events, key);
  }

  private reindex(key: string, prev: Slot | undefined, next: Slot | undefined): void {
    // Single routes (or none) with the same nexthop object id, none included: nothing to move.
    if (!Array.isArray(prev) && !Array.isArray(next) && prev?.nhid === next?.nhid) return;
    forEachAlias(prev, (r) => {
      if (r.nhid !== undefined) this.nhObjects.removeUser(r.nhid, key);
    });
    forEachAlias(next, (r) => {
      if (r.nhid !== undefined) this.nhObjects.addUser(r.nhid, key);
    });
  }

  /** Keys (with their family) of the routes with a path through the link. */
  private keysThrough(ifindex: number): [Fam, string][] {
    // Every path set a route holds is interned: find the sets through the link, then the routes holding them.
    const through = this.interner.setsThrough(ifindex);
    const out: [Fam, string][] = [];
    if (through.size === 0) return out;
    for (const fam of [4, 6] as const) {
      for (const [key, slot] of this.slots[fam]) {
        if (Array.isArray(slot) ? slot.some((r) => through.has(r.nexthops)) : through.has(slot.nexthops)) out.push([fam, key]);
      }
    }
    return out;
  }

  // ------------------------------------------------------------ nexthop objects

  private setNexthop(o: NhObject, events: RouteEvent[]): void {
    for (const id of this.nhObjects.set(o)) this.refreshUsers(id, events);
  }

  /** Re-resolves the routes using nexthop object `id` directly. */
  private refreshUsers(id: number, events: RouteEvent[]): void {
    for (const key of this.nhObjects.usersOf(id)) {
      const fam: Fam = key.includes(':') ? 6 : 4;
      const slot = this.slots[fam].get(key);
      if (slot === undefined) continue;
      const list = Array.isArray(slot) ? slot : [slot];
      let changed = false;
      const next = list.map((r) => {
        if (r.nhid !== id) return r;
        const res = this.nhObjects.resolve(id);
        const nexthops = res ? res.nexthops : EMPTY;
        const type: RouteType = res?.blackhole && r.type === 'unicast' ? 'blackhole' : r.type === 'blackhole' && res && !res.blackhole ? 'unicast' : r.type;
        if (nexthops === r.nexthops && type === r.type) return r;
        changed = true;
        const nr: Route = { ...r, nexthops, type };
        if (this.foreign.has(r)) this.foreign.add(nr);
        return nr;
      });
      if (changed) this.put(fam, key, next.length === 1 ? next[0]! : next, events);
    }
  }

  /** The kernel deletes the object, empties it from groups (deleting emptied groups) and removes the routes using it. */
  private deleteNexthop(id: number, events: RouteEvent[]): void {
    for (const g of this.nhObjects.remove(id)) {
      const left = this.nhObjects.dropMember(g, id);
      if (left === 'emptied') this.deleteNexthop(g, events);
      else if (left === 'changed') this.refreshUsers(g, events);
    }
    for (const key of this.nhObjects.usersOf(id)) {
      const fam: Fam = key.includes(':') ? 6 : 4;
      const slot = this.slots[fam].get(key);
      if (slot === undefined) continue;
      const rest = (Array.isArray(slot) ? slot : [slot]).filter((r) => r.nhid !== id);
      this.put(fam, key, rest.length === 0 || !hasOwn(rest, this.foreign) ? undefined : rest.length === 1 ? rest[0]! : rest, events);
    }
  }

  // ------------------------------------------------------------ links

  private onLink(msg: NlMsg, res: IngestResult): void {
    const m = parseLinkMessage(msg.payload);
    const prev = this.links.get(m.ifindex);
    if (msg.type === RTM_DELLINK) {
      this.linkDown(m.ifindex, true, res);
      this.links.delete(m.ifindex);
      this.strippedLinks.delete(m.ifindex);
      return;
    }
    this.links.set(m.ifindex, { name: m.ifname ?? prev?.name ?? '', flags: m.flags });
    const wasUp = prev === undefined || linkUp(prev.flags);
    const isUp = linkUp(m.flags);
    if (wasUp && !isUp) this.linkDown(m.ifindex, (m.flags & IFF_UP) === 0, res);
    else if (!wasUp && isUp) {
      // The kernel revives dead paths on this link without telling anyone.
      for (const fam of this.strippedLinks.get(m.ifindex) ?? []) addRecheck(res, fam);
      this.strippedLinks.delete(m.ifindex);
    }
  }

  /**
   * The link is down (admin down, carrier lost) or gone: the kernel drops or
   * kills the paths through it without a notification. Drop them here (emitting
   * `del`s for routes left without paths) and ask for a re-dump to confirm.
   */
  private linkDown(ifindex: number, adminDown: boolean, res: IngestResult): void {
    if (adminDown) {
      // nexthop objects on the device are removed silently (nexthop_flush_dev).
      for (const id of this.nhObjects.onDevice(ifindex)) this.deleteNexthop(id, res.events);
    }
    // Paths dropped earlier as dead may now be gone for good (the kernel flushes them on unregister).
    for (const fam of this.strippedLinks.get(ifindex) ?? []) addRecheck(res, fam);
    for (const [fam, key] of this.keysThrough(ifindex)) {
      const slot = this.slots[fam].get(key);
      if (slot === undefined) continue;
      const next = (Array.isArray(slot) ? slot : [slot]).map((r) => {
        if (!r.nexthops.some((n) => n.ifindex === ifindex)) return r;
        const nr: Route = { ...r, nexthops: this.interner.intern(r.nexthops.filter((n) => n.ifindex !== ifindex)) };
        if (this.foreign.has(r)) this.foreign.add(nr);
        return nr;
      });
      this.put(fam, key, next.length === 1 ? next[0]! : next, res.events);
      this.noteStripped(ifindex, fam);
      addRecheck(res, fam);
    }
  }
}

// ---------------------------------------------------------------- alias-list updates (pure)

/** A route message parsed where it lies in its batch when it came from one (no payload view made). */
function routeMessageOf(msg: NlMsg): RouteMessage {
  return msg instanceof FramedMsg ? parseRouteMessage(msg.batch, msg.start, msg.end) : parseRouteMessage(msg.payload);
}

function famOf(m: RouteMessage): Fam | 0 {
  return m.family === AF_INET ? 4 : m.family === AF_INET6 ? 6 : 0;
}

function linkUp(flags: number): boolean {
  return (flags & IFF_UP) !== 0 && (flags & IFF_LOWER_UP) !== 0;
}

function addRecheck(res: IngestResult, fam: Fam): void {
  if (!res.recheck.includes(fam)) res.recheck.push(fam);
}

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

function sameAlias(a: Route, r: Route): boolean {
  return a.protocol === r.protocol && a.type === r.type && a.nhid === r.nhid && sameNexthops(a.nexthops, r.nexthops);
}

const sameNhUser = (a: Route, r: Route): boolean => a.nhid === r.nhid && a.protocol === r.protocol && a.type === r.type;

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
function newV6(list: Route[], r: Route, nlFlags: number, multipath: boolean, res: IngestResult, cx: AliasContext): Route[] | undefined {
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
      addRecheck(res, 6);
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
    {
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
  }
  return delV4(list, r, cx);
}
