/**
 * Next hops as routes carry them, built from what a message (or a nexthop object) names and what
 * the state knows of the links: their names, and whether they are up. A path the kernel does not
 * forward with (flagged dead, or through a link that is down) is left out; the families that lost
 * paths that way are remembered, since the kernel revives such paths silently when the link comes
 * back. The only module that reads path and link flags.
 */
import { IFF_LOWER_UP, IFF_UP, RTNH_F_DEAD, RTNH_F_LINKDOWN, RTNH_F_ONLINK } from './netlink-constants.js';
import type { ParsedNextHop } from './netlink-messages.js';
import { EMPTY, type NextHopInterner } from './nexthop-intern.js';
import type { PathMaker } from './nexthop-objects.js';
import type { Fam } from './kernel-slots.js';
import type { NextHop } from './route.js';

/** A path the kernel does not forward with. */
const UNUSABLE = RTNH_F_DEAD | RTNH_F_LINKDOWN;

const linkUp = (flags: number): boolean => (flags & IFF_UP) !== 0 && (flags & IFF_LOWER_UP) !== 0;

/** What a link message changed: 'down' (carrier lost), 'admin-down', 'up' (back), or 'same'. */
export type LinkChange = 'down' | 'admin-down' | 'up' | 'same';

export class KernelPaths implements PathMaker {
  private readonly links = new Map<number, { name: string; flags: number }>();
  /** Links whose paths we dropped as dead, and the families of those paths. */
  private readonly strippedLinks = new Map<number, Set<Fam>>();

  constructor(private readonly interner: NextHopInterner) {}

  intern(nhs: NextHop[]): NextHop[] {
    return this.interner.intern(nhs);
  }

  ifname(ifindex: number): string | undefined {
    return this.links.get(ifindex)?.name;
  }

  /** Whether the kernel forwards with no path of these flags through this link (0: none named). */
  pathDead(ifindex: number, flags: number): boolean {
    if (flags & UNUSABLE) return true;
    if (ifindex === 0) return false;
    const l = this.links.get(ifindex);
    return l !== undefined && !linkUp(l.flags);
  }

  makeNextHop(gateway: string | undefined, ifindex: number, weight: number, flags: number): NextHop {
    const nh: NextHop = { weight };
    if (gateway !== undefined) nh.gateway = gateway;
    if (ifindex) {
      nh.ifindex = ifindex;
      const name = this.links.get(ifindex)?.name;
      if (name !== undefined) nh.ifname = name;
    }
    if (flags & RTNH_F_ONLINK) nh.onlink = true;
    return nh;
  }

  /** A message's usable paths, sorted and interned. */
  fromParsed(nhs: ParsedNextHop[]): NextHop[] {
    if (nhs.length === 0) return EMPTY;
    if (nhs.length === 1) {
      // The bulk of a table: one gateway path, seen before. Found without building its text key.
      const p = nhs[0]!;
      if ((p.flags & (UNUSABLE | RTNH_F_ONLINK)) === 0 && !(p.ifindex && this.pathDead(p.ifindex, p.flags))) {
        const hit = this.interner.singlePath(p.gateway, p.ifindex);
        if (hit !== undefined && hit[0]!.ifname === (p.ifindex ? this.links.get(p.ifindex)?.name : undefined)) return hit;
      }
    }
    const out: NextHop[] = [];
    for (const p of nhs) {
      if (this.pathDead(p.ifindex, p.flags)) continue;
      out.push(this.makeNextHop(p.gateway, p.ifindex, p.weight, p.flags));
    }
    return this.interner.intern(out);
  }

  /** Remembers the paths of our route (of family `fam`) the kernel holds as dead. */
  noteDeadPaths(nhs: ParsedNextHop[], fam: Fam): void {
    for (const nh of nhs) if (nh.ifindex && this.pathDead(nh.ifindex, nh.flags)) this.noteStripped(nh.ifindex, fam);
  }

  noteStripped(ifindex: number, fam: Fam): void {
    let s = this.strippedLinks.get(ifindex);
    if (!s) this.strippedLinks.set(ifindex, (s = new Set()));
    s.add(fam);
  }

  /** Families with paths through the link dropped as dead. */
  strippedFamilies(ifindex: number): Iterable<Fam> {
    return this.strippedLinks.get(ifindex) ?? [];
  }

  /** RTM_NEWLINK: stores the link, tells what changed. */
  setLink(ifindex: number, name: string | undefined, flags: number): LinkChange {
    const prev = this.links.get(ifindex);
    this.links.set(ifindex, { name: name ?? prev?.name ?? '', flags });
    const wasUp = prev === undefined || linkUp(prev.flags);
    const isUp = linkUp(flags);
    if (wasUp && !isUp) return (flags & IFF_UP) === 0 ? 'admin-down' : 'down';
    if (!wasUp && isUp) return 'up';
    return 'same';
  }

  /** RTM_DELLINK, once the routes through the link are dealt with. */
  forgetLink(ifindex: number): void {
    this.links.delete(ifindex);
    this.strippedLinks.delete(ifindex);
  }

  /** After 'up': the link's paths are alive again. */
  forgetStripped(ifindex: number): void {
    this.strippedLinks.delete(ifindex);
  }
}
