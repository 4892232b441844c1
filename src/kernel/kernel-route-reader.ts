/**
 * A route message as the kernel state takes it: whether the filter wants it at all, and the
 * normalized Route it stands for (usable paths only, from the message or its nexthop object,
 * sorted and interned). Routes of protocols or types we do not reflect are tagged foreign: they
 * are kept only where they shadow or follow ours.
 */
import { AF_INET, AF_INET6, RTM_F_CLONED, RTN_BLACKHOLE, RTN_PROHIBIT, RTN_UNICAST, RTN_UNREACHABLE } from './netlink-constants.js';
import { FramedMsg, type NlMsg } from './netlink-frame.js';
import { parseRouteMessage, type RouteMessage } from './netlink-messages.js';
import type { KernelPaths } from './kernel-paths.js';
import type { Fam } from './kernel-slots.js';
import { EMPTY } from './nexthop-intern.js';
import type { NexthopObjects } from './nexthop-objects.js';
import type { Route, RouteType } from './route.js';

export interface KernelFilter {
  /** null = all protocols. */
  protocols: Set<number> | null;
  /** null = all tables. */
  tables: Set<number> | null;
  families: Set<4 | 6>;
}

/** A route message parsed where it lies in its batch when it came from one (no payload view made). */
export function routeMessageOf(msg: NlMsg): RouteMessage {
  return msg instanceof FramedMsg ? parseRouteMessage(msg.batch, msg.start, msg.end) : parseRouteMessage(msg.payload);
}

export function famOf(m: RouteMessage): Fam | 0 {
  return m.family === AF_INET ? 4 : m.family === AF_INET6 ? 6 : 0;
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

export class RouteReader {
  constructor(
    private readonly filter: KernelFilter,
    private readonly paths: KernelPaths,
    private readonly nhObjects: NexthopObjects,
    private readonly foreign: WeakSet<Route>,
  ) {}

  /** Whether the message's table is watched and it is a FIB entry we model (any protocol, any family). */
  accepts(m: RouteMessage): boolean {
    const t = this.filter.tables;
    // Cache clones are not FIB entries; source-specific IPv6 routes are not modelled.
    return (m.flags & RTM_F_CLONED) === 0 && m.srcLen === 0 && (t === null || t.has(m.table));
  }

  /** The Route the message stands for, tagged foreign unless it is ours. */
  toRoute(m: RouteMessage, fam: Fam): Route {
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
        r.nexthops = this.paths.fromParsed(m.nexthops);
      }
    } else if (type === 'unicast') {
      r.nexthops = this.paths.fromParsed(m.nexthops);
    }
    const p = this.filter.protocols;
    if (type === undefined || (p !== null && !p.has(m.protocol))) this.foreign.add(r);
    else this.paths.noteDeadPaths(m.nexthops, fam);
    return r;
  }
}
