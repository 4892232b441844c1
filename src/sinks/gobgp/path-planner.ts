/**
 * Routes → GoBGP paths, fast for the bulk of a full table. Everything a path
 * carries except its prefix (next hops and their add-path ids, the communities,
 * the fingerprint, the encoded attributes) depends only on the route's next-hop
 * set when no handler set BGP attributes or a VRF. The kernel state shares one
 * frozen array per distinct next-hop set (a full table has a handful), so that
 * part is worked out once per set and reused for every route holding it: an IPv4
 * route then plans to one small object, and its paths are written from templates
 * with only the prefix encoded. Anything else takes the general planRoute path,
 * with the same result.
 */
import type { NextHop } from '../../kernel/route.js';
import type { ReflectedRoute } from '../../engine/reflected-route.js';
import { addrToBytes, bytesToPrefix, parsePrefix, type Prefix } from '../../util/ip.js';
import * as w from './bgp-wire.js';
import type { AddPathEncoder, PathTemplate } from './add-path-encoder.js';
import type { AddPathRequests } from './add-path-requests.js';
import { attributesOf, fingerprintOf, planRoute, writeCanonicalV4Nlri, type OwnershipMark, type PathPlan } from './gobgp-paths.js';

/**
 * The prefix-independent part of the routes of one next-hop set. Its paths are either
 * `templates` (IPv4 with IPv4 next hops: the attributes do not depend on the prefix) or
 * `common` attributes followed by an MP_REACH_NLRI per next hop (which carries the prefix).
 */
export class SharedPlan {
  constructor(
    readonly family: 4 | 6,
    readonly fingerprint: string,
    readonly ids: readonly number[],
    readonly templates: readonly PathTemplate[] | undefined,
    readonly mpReach: { common: Uint8Array[]; nextHops: Uint8Array[] } | undefined,
  ) {}
}

/** A route of a next-hop set written with MP_REACH_NLRI: the set's plan and the prefix. */
class PrefixedPlan {
  constructor(
    readonly shared: SharedPlan,
    readonly prefix: Prefix,
  ) {}
}

/**
 * What a route becomes in gobgpd: its key, its fingerprint, and how to write it. `work` is
 * a SharedPlan when the key is canonical IPv4 prefix text (the prefix is read from it at
 * write time), a PrefixedPlan, or the general PathPlan. The shape of a SinkProjection,
 * so project() hands it over as it is.
 */
export interface PlannedRoute {
  key: string;
  fingerprint: string;
  work: SharedPlan | PrefixedPlan | PathPlan;
}

export class PathPlanner {
  /** Per family: frozen next-hop array → shared plan. Weak: a set no route holds any more goes with it. */
  private readonly shared: Record<4 | 6, WeakMap<readonly NextHop[], SharedPlan | { skip: string }>> = { 4: new WeakMap(), 6: new WeakMap() };

  constructor(
    private readonly mark: OwnershipMark,
    private readonly encoder: AddPathEncoder,
  ) {}

  plan(r: ReflectedRoute): PlannedRoute | { skip: string } {
    // Only arrays the kernel state interned (frozen) are shared: a handler's fresh copy per route would fill the cache.
    if (r.bgp === undefined && r.vrf === undefined && Object.isFrozen(r.nexthops)) {
      if (r.family === 4 && writeCanonicalV4Nlri(r.prefix, NLRI_SCRATCH) > 0) {
        const s = this.sharedFor(r);
        if ('skip' in s) return s;
        return { key: r.prefix, fingerprint: s.fingerprint, work: s.templates ? s : new PrefixedPlan(s, prefixOfNlri(4, NLRI_SCRATCH)) };
      }
      const p6 = r.family === 6 ? canonicalV6(r.prefix) : undefined;
      if (p6 !== undefined) {
        const s = this.sharedFor(r);
        if ('skip' in s) return s;
        return { key: r.prefix, fingerprint: s.fingerprint, work: new PrefixedPlan(s, p6) };
      }
    }
    const plan = planRoute(r, this.mark);
    if ('skip' in plan) return plan;
    return { key: plan.key, fingerprint: fingerprintOf(plan), work: plan };
  }

  /** The VRF a planned route goes to; undefined for the global RIB. */
  static vrfOf(p: PlannedRoute): string | undefined {
    return p.work instanceof SharedPlan || p.work instanceof PrefixedPlan ? undefined : p.work.vrf;
  }

  /** Writes the paths of a planned route, then withdrawals of `withdrawIds` (paths it no longer has), into the group begun for it (AddPathRequests.begin with vrfOf). */
  write(out: AddPathRequests, p: PlannedRoute, withdrawIds: readonly number[] = []): void {
    const work = p.work;
    if (work instanceof SharedPlan) {
      // The bulk of a table: the NLRI from the key's text, the rest from the templates.
      const n = writeCanonicalV4Nlri(p.key, NLRI_SCRATCH);
      if (n < 0) throw new Error(`planned IPv4 key ${p.key} is not a canonical prefix`);
      for (const t of work.templates!) out.fromTemplate(t, NLRI_SCRATCH, n);
      for (const id of withdrawIds) out.path(4, NLRI_SCRATCH, n, WITHDRAW_ATTRS, id, true);
      return;
    }
    if (work instanceof PrefixedPlan) {
      const { shared, prefix } = work;
      const fam = prefix.family;
      const nlri = w.encodePrefixNlri(prefix);
      const { common, nextHops } = shared.mpReach!;
      const attrs = [...common, EMPTY];
      for (let i = 0; i < shared.ids.length; i++) {
        attrs[common.length] = w.encodeMpReach(fam === 4 ? w.AFI_IP : w.AFI_IP6, w.SAFI_UNICAST, nextHops[i]!, nlri);
        out.path(fam, nlri, nlri.length, attrs, shared.ids[i]!);
      }
      for (const id of withdrawIds) out.path(fam, nlri, nlri.length, WITHDRAW_ATTRS, id, true);
      return;
    }
    const plan = work;
    const nlri = w.encodePrefixNlri(plan.prefix);
    const perHop = attributesOf(plan, nlri);
    for (let i = 0; i < plan.hops.length; i++) out.path(plan.prefix.family, nlri, nlri.length, perHop[i]!, plan.hops[i]!.id);
    for (const id of withdrawIds) this.withdraw(out, plan.prefix, id, nlri);
  }

  /** A withdrawal of one path: gobgpd matches the prefix and the add-path identifier. */
  withdraw(out: AddPathRequests, prefix: Prefix, id: number, nlri = w.encodePrefixNlri(prefix)): void {
    out.path(prefix.family, nlri, nlri.length, WITHDRAW_ATTRS, id, true);
  }

  private sharedFor(r: ReflectedRoute): SharedPlan | { skip: string } {
    const cache = this.shared[r.family];
    let s = cache.get(r.nexthops);
    if (s === undefined) {
      s = this.makeShared(r);
      cache.set(r.nexthops, s);
    }
    return s;
  }

  private makeShared(r: ReflectedRoute): SharedPlan | { skip: string } {
    // planRoute on this route gives the prefix-independent part every route of this next-hop set shares.
    const plan = planRoute(r, this.mark);
    if ('skip' in plan) return plan;
    const fam = plan.prefix.family;
    const fingerprint = fingerprintOf(plan);
    const ids = plan.hops.map((h) => h.id);
    const all = attributesOf(plan, w.encodePrefixNlri(plan.prefix));
    if (fam === 4 && plan.hops.every((h) => !h.nh.includes(':'))) {
      return new SharedPlan(
        fam,
        fingerprint,
        ids,
        all.map((attrs, i) => this.encoder.template(4, attrs, ids[i]!)),
        undefined,
      );
    }
    // The last attribute of each hop is its MP_REACH_NLRI; the ones before it are the same for every hop.
    return new SharedPlan(fam, fingerprint, ids, undefined, { common: all[0]!.slice(0, -1), nextHops: plan.hops.map((h) => addrToBytes(h.nh)) });
  }
}

const WITHDRAW_ATTRS = [w.encodeOrigin()];
const EMPTY = new Uint8Array(0);
const NLRI_SCRATCH = new Uint8Array(17);

function prefixOfNlri(family: 4 | 6, nlri: Uint8Array): Prefix {
  const addr = new Uint8Array(family === 4 ? 4 : 16);
  const n = (nlri[0]! + 7) >> 3;
  for (let i = 0; i < n; i++) addr[i] = nlri[1 + i]!;
  return { family, addr, len: nlri[0]! };
}

/** IPv6 prefix text as the kernel state writes it (RFC 5952, host bits zero), or undefined for anything else. */
function canonicalV6(text: string): Prefix | undefined {
  let p: Prefix;
  try {
    p = parsePrefix(text);
  } catch {
    return undefined;
  }
  return p.family === 6 && bytesToPrefix(p.addr, 0, 16, p.len) === text ? p : undefined;
}
