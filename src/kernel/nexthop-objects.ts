/**
 * The kernel's nexthop objects (RTM_NEWNEXTHOP): single next hops and groups of them, and the
 * keys of the routes using each (routes that carry only RTA_NH_ID take their paths from here),
 * so an object's change costs O(affected routes). The routes themselves live in KernelState.
 */
import type { NexthopGroupMember } from './netlink-messages.js';
import { EMPTY } from './nexthop-intern.js';
import type { NextHop } from './route.js';

export interface NhObject {
  id: number;
  family: number;
  blackhole: boolean;
  oif: number;
  gateway?: string;
  flags: number;
  group?: NexthopGroupMember[];
}

/** What resolving an object needs from the state: interning, and the links (names, up or down). `flags` are the object's. */
export interface PathMaker {
  intern(nhs: NextHop[]): NextHop[];
  makeNextHop(gateway: string | undefined, ifindex: number, weight: number, flags: number): NextHop;
  /** Whether the kernel forwards with no path of these flags through this link (0: none named). */
  pathDead(ifindex: number, flags: number): boolean;
}

export class NexthopObjects {
  private readonly objects = new Map<number, NhObject>();
  /** member id -> ids of the groups holding it */
  private readonly groupsOf = new Map<number, Set<number>>();
  /**
   * Keys of the routes using each object. Links need no such index: a link going down is rare
   * and answered by a re-dump anyway, and an index of every gateway route by interface would
   * cost a set entry per route of a full table.
   */
  private readonly users = new Map<number, Set<string>>();

  constructor(private readonly paths: PathMaker) {}

  has(id: number): boolean {
    return this.objects.has(id);
  }

  /** The paths of object `id` as a route using it gets them; undefined while the object is unknown. */
  resolve(id: number): { nexthops: NextHop[]; blackhole: boolean } | undefined {
    const o = this.objects.get(id);
    if (!o) return undefined;
    const p = this.paths;
    if (o.blackhole) return { nexthops: EMPTY, blackhole: true };
    if (!o.group) {
      return { nexthops: p.pathDead(o.oif, o.flags) ? EMPTY : p.intern([p.makeNextHop(o.gateway, o.oif, 1, o.flags)]), blackhole: false };
    }
    const out: NextHop[] = [];
    for (const m of o.group) {
      const mo = this.objects.get(m.id);
      if (!mo) continue;
      if (mo.blackhole) return { nexthops: EMPTY, blackhole: true };
      if (p.pathDead(mo.oif, mo.flags)) continue;
      out.push(p.makeNextHop(mo.gateway, mo.oif, m.weight, mo.flags));
    }
    return { nexthops: p.intern(out), blackhole: false };
  }

  /** Stores (or replaces) an object. Returns the ids whose users must be re-resolved: its own, then the groups holding it. */
  set(o: NhObject): number[] {
    const old = this.objects.get(o.id);
    if (old?.group) for (const m of old.group) this.groupsOf.get(m.id)?.delete(o.id);
    if (o.group) {
      for (const m of o.group) {
        let s = this.groupsOf.get(m.id);
        if (!s) this.groupsOf.set(m.id, (s = new Set()));
        s.add(o.id);
      }
    }
    this.objects.set(o.id, o);
    return [o.id, ...(this.groupsOf.get(o.id) ?? [])];
  }

  /** Forgets the object and its memberships. Returns the groups that held it (the caller drops it from them). */
  remove(id: number): Iterable<number> {
    const o = this.objects.get(id);
    this.objects.delete(id);
    if (o?.group) for (const m of o.group) this.groupsOf.get(m.id)?.delete(id);
    const groups = this.groupsOf.get(id);
    this.groupsOf.delete(id);
    return groups ?? [];
  }

  /**
   * Takes member `id` out of group `g`: 'emptied' (the kernel deletes the group), 'changed', or
   * 'none' (no such group).
   */
  dropMember(g: number, id: number): 'emptied' | 'changed' | 'none' {
    const go = this.objects.get(g);
    if (!go?.group) return 'none';
    const rest = go.group.filter((m) => m.id !== id);
    if (rest.length === 0) return 'emptied';
    this.objects.set(g, { ...go, group: rest });
    return 'changed';
  }

  /** Ids of the single (not group) objects on the device. */
  onDevice(ifindex: number): number[] {
    const out: number[] = [];
    for (const o of this.objects.values()) if (!o.group && o.oif === ifindex) out.push(o.id);
    return out;
  }

  /** Keys of the routes using object `id` directly (a copy: the caller may change them). */
  usersOf(id: number): string[] {
    const keys = this.users.get(id);
    return keys ? [...keys] : [];
  }

  addUser(id: number, key: string): void {
    let s = this.users.get(id);
    if (!s) this.users.set(id, (s = new Set()));
    s.add(key);
  }

  removeUser(id: number, key: string): void {
    const s = this.users.get(id);
    if (s && s.delete(key) && s.size === 0) this.users.delete(id);
  }
}
