import type { SinkProjection } from '../../engine/sink.js';
import type { ReflectedRoute } from '../../engine/reflected-route.js';
import type { NextHop } from '../../kernel/route.js';
import { addrToBytes, familyOf, type Family } from '../../util/ip.js';
import type { InterfaceMap } from './vpp-interface-map.js';
import type { VppSinkContext } from './vpp-sink-context.js';
import { NO_IF, pathsFingerprint, vppKey, type WirePath } from './vpp-wire-route.js';

/**
 * The paths written for a next-hop set, with their part of the fingerprint
 * (sorted path texts), or why the set cannot be written. Computed once per
 * (interned, shared) next-hop array.
 */
export interface PathSet {
  paths: WirePath[];
  text: string;
  /** Next hops that fell back to next-hop-only (counted per route projected). */
  fallbacks: number;
}
export interface PathSkip {
  skip: string;
  counter?: 'skippedUnmappedInterface' | 'skippedLinkLocalNoInterface';
}

function pathSet(paths: WirePath[], fallbacks = 0): PathSet {
  return { paths, text: pathsFingerprint(paths), fallbacks };
}

const SPECIAL_PATHS: Record<string, PathSet> = {
  blackhole: pathSet([{ kind: 'drop', sw: NO_IF, weight: 1, preference: 0 }]),
  unreachable: pathSet([{ kind: 'unreach', sw: NO_IF, weight: 1, preference: 0 }]),
  prohibit: pathSet([{ kind: 'prohibit', sw: NO_IF, weight: 1, preference: 0 }]),
};
const NO_NEXTHOPS: PathSkip = { skip: 'unicast route without next hops' };

function isLinkLocal6(a: string): boolean {
  return /^fe[89ab]/i.test(a);
}

/**
 * Where a kernel route goes in VPP: its table (from the sink's table and VRF maps) and its paths
 * (kernel interfaces mapped to VPP's), hence its key and fingerprint.
 */
export class VppRouteProjection {
  private ifByIndex = new Map<number, number>();
  private ifByName = new Map<string, number>();
  private mappingConfigured = false;
  private readonly unmappedInterfaces = new Set<string>();
  /**
   * Next-hop set → paths. Next-hop arrays are interned by the kernel state and
   * shared between routes, and never changed in place, so the result is kept
   * per array until the interface map changes.
   */
  private pathCache = new WeakMap<readonly NextHop[], PathSet | PathSkip>();
  /** Next hops are few and repeat on every route: parse each once (bounded, so a churn of next hops cannot grow it for ever). */
  private nhCache = new Map<string, { family: Family; bytes: Uint8Array }>();

  constructor(private readonly ctx: VppSinkContext) {}

  /** A fresh interface map: paths are worked out again with it. */
  useInterfaces(map: InterfaceMap): void {
    this.ifByIndex = map.byIndex;
    this.ifByName = map.byName;
    this.pathCache = new WeakMap();
    this.mappingConfigured = map.configured;
  }

  /** Kernel interfaces met without a VPP counterpart (for status). */
  unmapped(): string[] {
    return [...this.unmappedInterfaces];
  }

  keyOf(route: ReflectedRoute): string | null {
    const table = this.vppTable(route);
    return typeof table === 'string' ? null : vppKey(table, route.prefix);
  }

  project(route: ReflectedRoute): SinkProjection {
    const table = this.vppTable(route);
    if (typeof table === 'string') {
      this.ctx.counters.skippedUnmappedVrf++;
      return { skip: table };
    }
    const ps = this.pathsOf(route, true);
    if ('skip' in ps) return { skip: ps.skip };
    return { key: vppKey(table, route.prefix), fingerprint: ps.text };
  }

  /** The route's VPP table id, or why it has none. */
  vppTable(route: ReflectedRoute): number | string {
    const opts = this.ctx.opts;
    if (route.vrf !== undefined) {
      const t = opts.vrfTables[route.vrf];
      return t === undefined ? `VRF "${route.vrf}" has no VPP table; add it to the VPP sink's vrfTables` : t;
    }
    const o = opts.tables[route.table];
    if (o !== undefined) return o;
    return route.table === 254 || route.table === 255 ? 0 : route.table;
  }

  /** The paths VPP will hold for the route, or why it is not reflected (table mapping aside). */
  pathsOf(route: ReflectedRoute, count = false): PathSet | PathSkip {
    const special = route.type === 'unicast' ? undefined : SPECIAL_PATHS[route.type];
    if (special) return special;
    let e = this.pathCache.get(route.nexthops);
    if (!e) {
      e = this.computePaths(route.nexthops);
      this.pathCache.set(route.nexthops, e);
    }
    if (count) {
      const counters = this.ctx.counters;
      if ('skip' in e) {
        if (e.counter) counters[e.counter]++;
      } else counters.nextHopOnlyFallbacks += e.fallbacks;
    }
    return e;
  }

  nextHop(nh: string): { family: Family; bytes: Uint8Array } {
    let e = this.nhCache.get(nh);
    if (!e) {
      if (this.nhCache.size >= 4096) this.nhCache.clear();
      e = { family: familyOf(nh), bytes: addrToBytes(nh) };
      this.nhCache.set(nh, e);
    }
    return e;
  }

  private mapInterface(ifindex: number | undefined, ifname: string | undefined): number | undefined {
    if (ifname !== undefined) {
      const s = this.ifByName.get(ifname);
      if (s !== undefined) return s;
    }
    if (ifindex !== undefined) return this.ifByIndex.get(ifindex);
    return undefined;
  }

  private noteUnmapped(ifname: string | undefined, ifindex: number | undefined): void {
    const label = ifname ?? `ifindex ${ifindex}`;
    if (!this.unmappedInterfaces.has(label) && this.unmappedInterfaces.size < 1000) {
      this.unmappedInterfaces.add(label);
      this.ctx.logger.warn({ interface: label }, 'kernel interface has no VPP counterpart (no linux-cp pair, not in the interfaces map)');
    }
  }

  private computePaths(nexthops: readonly NextHop[]): PathSet | PathSkip {
    if (nexthops.length === 0) return NO_NEXTHOPS;
    const paths: WirePath[] = [];
    let fallbacks = 0;
    for (const nh of nexthops) {
      const hasIf = nh.ifindex !== undefined || nh.ifname !== undefined;
      let sw = hasIf ? this.mapInterface(nh.ifindex, nh.ifname) : undefined;
      // VPP's weight is a u8; the kernel's goes to 256.
      const weight = Math.min(255, Math.max(1, nh.weight));
      if (nh.gateway === undefined) {
        if (sw === undefined) {
          if (hasIf) this.noteUnmapped(nh.ifname, nh.ifindex);
          return {
            skip: `next hop is interface ${nh.ifname ?? nh.ifindex ?? '?'} only, which has no VPP interface (add a linux-cp pair or an interfaces entry)`,
            counter: 'skippedUnmappedInterface',
          };
        }
        paths.push({ kind: 'via', sw, weight, preference: 0 });
        continue;
      }
      const parsed = this.nextHop(nh.gateway);
      if (sw === undefined) {
        if (parsed.family === 6 && isLinkLocal6(nh.gateway)) {
          if (hasIf) this.noteUnmapped(nh.ifname, nh.ifindex);
          return {
            skip: `link-local gateway ${nh.gateway} needs its interface (${nh.ifname ?? nh.ifindex ?? '?'}) mapped to VPP`,
            counter: 'skippedLinkLocalNoInterface',
          };
        }
        if (hasIf && this.mappingConfigured) {
          fallbacks++;
          this.noteUnmapped(nh.ifname, nh.ifindex);
        }
        sw = NO_IF; // VPP resolves the gateway recursively
      }
      paths.push({ kind: 'via', nh: nh.gateway, sw, weight, preference: 0, nhFamily: parsed.family, nhBytes: parsed.bytes });
    }
    return pathSet(paths, fallbacks);
  }
}
