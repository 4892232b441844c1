/**
 * The kernel's routes as rtreflect sees them: a model of the FIB for the
 * watched protocols/tables, fed with rtnetlink messages in stream order, that
 * turns them into normalized events (`add` = "this key now holds exactly this
 * value", `del` = "gone"), emitting nothing when nothing changed.
 *
 * Kernel behaviour modelled here (checked on Linux 6.x); how the kernel files
 * several routes under one key is in kernel-aliases.ts:
 * - Routes using a nexthop object follow it: replacing the object changes
 *   them, deleting it removes them (IPv4: without RTM_DELROUTE).
 * - Taking a link down kills routes through it silently (single path) or marks
 *   the path dead (multipath); the caller is asked to re-dump (`recheck`).
 *
 * Storage is lean: a key maps to its one Route (the common case) or to its
 * alias list (kernel-slots.ts); next-hop arrays are interned and shared between
 * routes (nexthop-intern.ts). A message becomes a Route in kernel-route-reader.ts,
 * its paths in kernel-paths.ts (which knows the links); nexthop objects live in
 * nexthop-objects.ts, a dump under way in kernel-snapshot.ts.
 */
import { RtreflectError } from '../util/errors.js';
import { AF_INET, RTM_DELADDR, RTM_DELLINK, RTM_DELNEXTHOP, RTM_DELROUTE, RTM_NEWLINK, RTM_NEWNEXTHOP, RTM_NEWROUTE } from './netlink-constants.js';
import type { NlMsg } from './netlink-frame.js';
import { parseAddrMessage, parseLinkMessage, parseNexthopMessage, type RouteMessage } from './netlink-messages.js';
import { routeEqual, routeKey, type NextHop, type Route, type RouteEvent, type RouteType } from './route.js';
import { applyToAliases, soleAlias, type AliasContext } from './kernel-aliases.js';
import { KernelPaths } from './kernel-paths.js';
import { famOf, routeMessageOf, RouteReader, type KernelFilter } from './kernel-route-reader.js';
import { diff, effectiveOf, forEachAlias, hasOwn, type Fam, type Slot } from './kernel-slots.js';
import { KernelSnapshot, type SnapshotTarget } from './kernel-snapshot.js';
import { EMPTY, NextHopInterner } from './nexthop-intern.js';
import { NexthopObjects, type NhObject } from './nexthop-objects.js';

export interface IngestResult {
  events: RouteEvent[];
  /** Families whose routes may have changed without a notification: re-dump them (beginSnapshot...). */
  recheck: (4 | 6)[];
}

export interface KernelStateOptions {
  /** Things an operator should know about (a route waiting for an unknown nexthop object, ...). */
  onWarning?: (message: string, details: Record<string, unknown>) => void;
}

/** Keys per slice of endSnapshotInSlices: a few milliseconds of work. */
const END_SLICE = 8192;

export class KernelState {
  private readonly filter: KernelFilter;
  private readonly warn: (message: string, details: Record<string, unknown>) => void;
  private readonly slots: Record<Fam, Map<string, Slot>> = { 4: new Map(), 6: new Map() };
  private count = 0;
  /** Routes tagged foreign: see AliasContext. */
  private readonly foreign = new WeakSet<Route>();
  private readonly interner: NextHopInterner;
  private readonly paths: KernelPaths;
  private readonly nhObjects: NexthopObjects;
  private readonly reader: RouteReader;
  private readonly aliases: AliasContext;
  /** The dump under way. */
  private snap: KernelSnapshot | null = null;

  constructor(filter: KernelFilter, opts: KernelStateOptions = {}) {
    this.filter = filter;
    this.warn = opts.onWarning ?? (() => {});
    this.interner = new NextHopInterner((keep) => {
      for (const fam of [4, 6] as const) for (const slot of this.slots[fam].values()) forEachAlias(slot, (r) => keep(r.nexthops));
    });
    this.paths = new KernelPaths(this.interner);
    this.nhObjects = new NexthopObjects(this.paths);
    this.reader = new RouteReader(filter, this.paths, this.nhObjects, this.foreign);
    this.aliases = { foreign: this.foreign, intern: (nhs: NextHop[]): NextHop[] => this.interner.intern(nhs) };
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
    return this.paths.ifname(ifindex);
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
    if (fam !== snap.fam || !this.reader.accepts(m)) return;
    const r = this.reader.toRoute(m, fam);
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
    const events = this.snapshotOf(family).end(this.snapshotTarget(family));
    this.snap = null;
    return events;
  }

  /**
   * endSnapshot(), `per` keys at a time with `between()` awaited in between: at a full table the
   * end of a re-dump walks a million keys, which live messages must not wait for. They may be
   * applied meanwhile (ingest()), as during the dump itself.
   */
  async endSnapshotInSlices(family: Fam, between: () => Promise<void>, per = END_SLICE): Promise<RouteEvent[]> {
    const steps = this.snapshotOf(family).endSteps(this.snapshotTarget(family), per);
    for (;;) {
      const step = steps.next();
      if (step.done) {
        this.snap = null;
        return step.value;
      }
      await between();
    }
  }

  /** The dump of `family` under way; ending one that is not is a bug. */
  private snapshotOf(family: Fam): KernelSnapshot {
    const snap = this.snap;
    if (!snap || snap.fam !== family)
      throw new RtreflectError('ERR_INTERNAL', `endSnapshot(${family}) without beginSnapshot(${family})`, { userFacing: false });
    return snap;
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

  private onRoute(m: RouteMessage, nlFlags: number, isDel: boolean, res: IngestResult): void {
    const fam = famOf(m);
    if (fam === 0 || !this.filter.families.has(fam) || !this.reader.accepts(m)) return;
    const r = this.reader.toRoute(m, fam);
    const key = routeKey(r);
    const cur = this.slots[fam].get(key);
    const foreign = this.foreign;
    if (cur === undefined && foreign.has(r)) return; // not ours, and shadows nothing of ours
    // Fast path (nearly every message of a full table): our route as the only alias of its key.
    if (!isDel && !foreign.has(r) && soleAlias(cur, r, nlFlags, fam)) {
      this.putKnown(fam, key, cur !== undefined && routeEqual(cur as Route, r) ? cur : r, res.events, cur);
      if (r.nhid !== undefined && r.nexthops.length === 0 && !this.nhObjects.has(r.nhid)) {
        this.warn('route refers to a nexthop object not seen yet; it is held until the object arrives', { route: key, nhid: r.nhid });
      }
      return;
    }
    const next = applyToAliases(cur, r, m, nlFlags, isDel, fam, this.aliases, (f) => addRecheck(res, f));
    if (next === undefined) return;
    this.putKnown(fam, key, next.length === 0 ? undefined : next.length === 1 ? next[0]! : next, res.events, cur);
    if (r.nhid !== undefined && r.nexthops.length === 0 && !isDel && !foreign.has(r) && !this.nhObjects.has(r.nhid)) {
      this.warn('route refers to a nexthop object not seen yet; it is held until the object arrives', { route: key, nhid: r.nhid });
    }
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
      // A live message beside the dump (the dump's own puts pass a fresh dump's `pending`, a re-dump's null).
      if (prev === undefined && next !== undefined && events !== (snap.fresh ? snap.pending : null)) snap.createdBeside(key);
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
    if (msg.type === RTM_DELLINK) {
      this.linkDown(m.ifindex, true, res);
      this.paths.forgetLink(m.ifindex);
      return;
    }
    const change = this.paths.setLink(m.ifindex, m.ifname, m.flags);
    if (change === 'down' || change === 'admin-down') this.linkDown(m.ifindex, change === 'admin-down', res);
    else if (change === 'up') {
      // The kernel revives dead paths on this link without telling anyone.
      for (const fam of this.paths.strippedFamilies(m.ifindex)) addRecheck(res, fam);
      this.paths.forgetStripped(m.ifindex);
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
    for (const fam of this.paths.strippedFamilies(ifindex)) addRecheck(res, fam);
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
      this.paths.noteStripped(ifindex, fam);
      addRecheck(res, fam);
    }
  }
}

function addRecheck(res: IngestResult, fam: Fam): void {
  if (!res.recheck.includes(fam)) res.recheck.push(fam);
}
