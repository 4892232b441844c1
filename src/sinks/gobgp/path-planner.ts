/**
 * Routes → encoded GoBGP paths, fast for the bulk of a full table. Everything a
 * path carries except its prefix (next hops and their add-path ids, the
 * communities, the fingerprint, the encoded attributes) depends only on the
 * route's next-hop set when no handler set BGP attributes or a VRF. The kernel
 * state shares one frozen array per distinct next-hop set (a full table has a
 * handful), so that part is worked out once per set and reused for every route
 * holding it; only the prefix is parsed and encoded per route. Anything else
 * takes the general planRoute path, with the same result.
 */
import type { NextHop } from '../../kernel/route.js';
import type { ReflectedRoute } from '../../engine/reflected-route.js';
import { addrToBytes, bytesToPrefix, parsePrefix, type Prefix } from '../../util/ip.js';
import * as w from './bgp-wire.js';
import type { AddPathEncoder } from './add-path-encoder.js';
import {
  attributesOf, fingerprintOf, parseCanonicalV4Prefix, planRoute, type OwnershipMark, type PathPlan,
} from './gobgp-paths.js';

/** A planned route: what it becomes in gobgpd, its fingerprint, and how to encode it. */
export interface PlannedRoute {
  plan: PathPlan;
  fingerprint: string;
  /** Per hop: its complete attribute list, when it does not depend on the prefix (IPv4 NEXT_HOP). */
  attrs?: Uint8Array[][];
  /** Per hop: the attributes before the prefix-dependent MP_REACH_NLRI, and the next hop's bytes. */
  mpReach?: { common: Uint8Array[]; nextHops: Uint8Array[] };
}

/** The prefix-independent part of a plan, shared by all routes with one next-hop set. */
type Shared = Omit<PlannedRoute, 'plan'> & { base: Omit<PathPlan, 'key' | 'prefix'> } | { skip: string };

export class PathPlanner {
  /** Per family: frozen next-hop array → shared plan. Weak: a set no route holds any more goes with it. */
  private readonly shared: Record<4 | 6, WeakMap<readonly NextHop[], Shared>> = { 4: new WeakMap(), 6: new WeakMap() };

  constructor(private readonly mark: OwnershipMark, private readonly encoder: AddPathEncoder) {}

  plan(r: ReflectedRoute): PlannedRoute | { skip: string } {
    // Only arrays the kernel state interned (frozen) are shared: a handler's fresh copy per route would fill the cache.
    if (r.bgp === undefined && r.vrf === undefined && Object.isFrozen(r.nexthops)) {
      const prefix = r.family === 4 ? parseCanonicalV4Prefix(r.prefix) : canonicalV6(r.prefix);
      if (prefix !== undefined) {
        const s = this.sharedFor(r, prefix);
        if ('skip' in s) return s;
        // Fast-path plans carry no MED, local preference or VRF (the route set none).
        const plan: PathPlan = { key: r.prefix, prefix, hops: s.base.hops, communities: s.base.communities, largeCommunities: s.base.largeCommunities };
        return s.attrs ? { plan, fingerprint: s.fingerprint, attrs: s.attrs } : { plan, fingerprint: s.fingerprint, mpReach: s.mpReach! };
      }
    }
    const plan = planRoute(r, this.mark);
    if ('skip' in plan) return plan;
    return { plan, fingerprint: fingerprintOf(plan) };
  }

  /** The encoded Path messages of a planned route, then withdrawals of `withdrawIds` (paths it no longer has). */
  paths(p: PlannedRoute, withdrawIds: readonly number[] = []): Buffer[] {
    const { plan } = p;
    const fam = plan.prefix.family;
    const out: Buffer[] = [];
    if (p.attrs) {
      // The bulk of a table: the NLRI goes through a scratch buffer, the attributes are shared.
      const n = w.writePrefixNlri(plan.prefix, NLRI_SCRATCH);
      for (let i = 0; i < plan.hops.length; i++) out.push(this.encoder.path(fam, NLRI_SCRATCH, p.attrs[i]!, plan.hops[i]!.id, false, n));
      for (const id of withdrawIds) out.push(this.encoder.path(fam, NLRI_SCRATCH, WITHDRAW_ATTRS, id, true, n));
      return out;
    }
    const nlri = w.encodePrefixNlri(plan.prefix);
    const perHop = p.mpReach ? undefined : attributesOf(plan, nlri);
    for (let i = 0; i < plan.hops.length; i++) {
      const attrs = p.mpReach
        ? [...p.mpReach.common, w.encodeMpReach(fam === 4 ? w.AFI_IP : w.AFI_IP6, w.SAFI_UNICAST, p.mpReach.nextHops[i]!, nlri)]
        : perHop![i]!;
      out.push(this.encoder.path(fam, nlri, attrs, plan.hops[i]!.id));
    }
    for (const id of withdrawIds) out.push(this.withdrawal(plan.prefix, id, nlri));
    return out;
  }

  /** A withdrawal of one path: gobgpd matches the prefix and the add-path identifier. */
  withdrawal(prefix: Prefix, id: number, nlri = w.encodePrefixNlri(prefix)): Buffer {
    return this.encoder.path(prefix.family, nlri, WITHDRAW_ATTRS, id, true);
  }

  private sharedFor(r: ReflectedRoute, prefix: Prefix): Shared {
    const cache = this.shared[prefix.family];
    let s = cache.get(r.nexthops);
    if (s === undefined) {
      s = this.makeShared(r, prefix);
      cache.set(r.nexthops, s);
    }
    return s;
  }

  private makeShared(r: ReflectedRoute, prefix: Prefix): Shared {
    // planRoute on this route gives the prefix-independent part every route of this next-hop set shares.
    const plan = planRoute(r, this.mark);
    if ('skip' in plan) return plan;
    const { key: _key, prefix: _prefix, ...base } = plan;
    const fingerprint = fingerprintOf(plan);
    const nextHopAttrs = prefix.family === 4 && plan.hops.every((h) => !h.nh.includes(':'));
    if (nextHopAttrs) return { base, fingerprint, attrs: attributesOf(plan, w.encodePrefixNlri(prefix)) };
    const all = attributesOf(plan, w.encodePrefixNlri(prefix));
    // The last attribute of each hop is its MP_REACH_NLRI; the ones before it are the same for every hop.
    return { base, fingerprint, mpReach: { common: all[0]!.slice(0, -1), nextHops: plan.hops.map((h) => addrToBytes(h.nh)) } };
  }
}

const WITHDRAW_ATTRS = [w.encodeOrigin()];
const NLRI_SCRATCH = new Uint8Array(17);

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
