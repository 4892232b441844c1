import type { Route, RouteEvent } from '../kernel/route.js';
import { RT_TABLE_MAIN } from '../kernel/netlink-constants.js';

export interface NameLookup {
  protocolName(n: number): string;
  tableName(n: number): string;
}

/** One line, modelled on `ip monitor route` (multipath on the same line, so one event is one line). */
export function formatRoute(r: Route, names: NameLookup): string {
  const parts: string[] = [];
  if (r.type !== 'unicast') parts.push(r.type);
  parts.push(r.prefix);
  if (r.nhid !== undefined) parts.push(`nhid ${r.nhid}`);
  if (r.nexthops.length === 1) parts.push(...hop(r.nexthops[0]!, r.family, false));
  if (r.table !== RT_TABLE_MAIN) parts.push('table', names.tableName(r.table));
  parts.push('proto', names.protocolName(r.protocol));
  if (r.tos) parts.push('tos', `0x${r.tos.toString(16)}`);
  if (r.metric) parts.push('metric', String(r.metric));
  if (r.nexthops.length > 1) for (const nh of r.nexthops) parts.push('nexthop', ...hop(nh, r.family, true));
  return parts.join(' ');
}

function hop(nh: Route['nexthops'][number], family: number, multipath: boolean): string[] {
  const out: string[] = [];
  if (nh.gateway) {
    const nhFamily = nh.gateway.includes(':') ? 6 : 4;
    out.push('via', ...(nhFamily !== family ? ['inet6'] : []), nh.gateway);
  }
  if (nh.ifname || nh.ifindex) out.push('dev', nh.ifname ?? `if${nh.ifindex}`);
  if (multipath) out.push('weight', String(nh.weight));
  if (nh.onlink) out.push('onlink');
  return out;
}

export function formatEvent(ev: RouteEvent, names: NameLookup): string {
  return (ev.op === 'del' ? 'Deleted ' : '') + formatRoute(ev.route, names);
}

/** The same event for machines: one JSON object per line. */
export function eventJson(ev: RouteEvent | { op: 'snapshot-end' | 'overrun' | 'resync'; [k: string]: unknown }): string {
  return JSON.stringify({ time: new Date().toISOString(), ...ev });
}
