/**
 * The kernel's own view of a namespace's routes (`ip -j route show ... table all`) and rtreflect's
 * (KernelSource.routes()), both reduced to the same canonical text, so tests compare them exactly:
 * key "table|prefix|metric" → "type paths" (paths sorted, "gateway@dev*weight").
 */
import { execFile } from 'node:child_process';
import type { Route } from '../../src/kernel/route.js';
import { WAIT_MS, waitFor } from './wait-for.js';

export type RouteView = Map<string, string>;

interface IpJsonHop {
  gateway?: string;
  via?: { family: string; host: string };
  dev?: string;
  weight?: number;
  flags?: string[];
}
interface IpJsonRoute extends IpJsonHop {
  type?: string;
  dst: string;
  table?: string;
  metric?: number;
  protocol?: string;
  nhid?: number;
  nexthops?: IpJsonHop[];
}

const TABLE_NAMES: Record<string, number> = { main: 254, local: 255, default: 253 };

function ipJson(args: string[]): Promise<IpJsonRoute[]> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['-j', ...args], { maxBuffer: 1024 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip -j ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout.trim() ? (JSON.parse(stdout) as IpJsonRoute[]) : []);
    });
  });
}

function prefixOf(dst: string, family: 4 | 6): string {
  if (dst === 'default') return family === 4 ? '0.0.0.0/0' : '::/0';
  return dst.includes('/') ? dst : `${dst}/${family === 4 ? 32 : 128}`;
}

const hopText = (gw: string | undefined, dev: string | undefined, weight: number): string => `${gw ?? ''}@${dev ?? ''}*${weight}`;

function valueText(type: string, hops: string[]): string {
  return type === 'unicast' ? `unicast ${[...hops].sort().join(',')}` : type;
}

/**
 * The routes of protocol PROTO (default bird) as `ip -n NS -j route show table all` lists them,
 * both families: per key (table, prefix, metric) the first alias that is PROTO's (IPv4 may hold
 * several; another protocol's alias listed before it does not hide it), as rtreflect reflects it.
 * Dead paths are left out (rtreflect reflects usable paths only).
 */
export async function kernelRoutes(netns: string, opts: { protocol?: string; families?: (4 | 6)[] } = {}): Promise<RouteView> {
  const out: RouteView = new Map();
  const protocol = opts.protocol ?? 'bird';
  const ours = new Set(['unicast', 'blackhole', 'unreachable', 'prohibit']);
  for (const family of opts.families ?? [4, 6]) {
    const rows = await ipJson(['-n', netns, `-${family}`, 'route', 'show', 'table', 'all']);
    const seen = new Set<string>();
    for (const r of rows) {
      const type = r.type ?? 'unicast';
      const table = r.table === undefined ? 254 : (TABLE_NAMES[r.table] ?? Number(r.table));
      const key = `${table}|${prefixOf(r.dst, family)}|${r.metric ?? 0}`;
      if (seen.has(key) || r.protocol !== protocol || !ours.has(type)) continue;
      seen.add(key);
      const hops = (r.nexthops ?? [r])
        .filter((h) => !(h.flags ?? []).some((f) => f === 'dead' || f === 'linkdown'))
        .map((h) => hopText(h.gateway ?? h.via?.host, h.dev, r.nexthops ? (h.weight ?? 1) : 1));
      out.set(key, valueText(type, hops));
    }
  }
  return out;
}

/** The same view of what a KernelSource holds; `ifname` resolves interface indexes the route does not name. */
export function heldRoutes(routes: Iterable<Route>, ifname: (ifindex: number) => string | undefined): RouteView {
  const out: RouteView = new Map();
  for (const r of routes) {
    const hops = r.nexthops.map((n) => hopText(n.gateway, n.ifindex ? (ifname(n.ifindex) ?? n.ifname) : undefined, n.weight));
    out.set(`${r.table}|${r.prefix}|${r.metric}`, valueText(r.type, hops));
  }
  return out;
}

/** A short, readable difference ("" when equal): what only one side holds or holds differently. */
export function viewDiff(kernel: RouteView, held: RouteView, max = 10): string {
  const lines: string[] = [];
  for (const [k, v] of kernel) {
    const h = held.get(k);
    if (h !== v) lines.push(`  ${k}: kernel "${v}", rtreflect ${h === undefined ? 'nothing' : `"${h}"`}`);
  }
  for (const [k, v] of held) if (!kernel.has(k)) lines.push(`  ${k}: kernel nothing, rtreflect "${v}"`);
  if (lines.length === 0) return '';
  return `${lines.length} differences (kernel ${kernel.size} routes, rtreflect ${held.size}):\n${lines.slice(0, max).join('\n')}${lines.length > max ? '\n  ...' : ''}`;
}

/**
 * Resolves once check() returns "" (equal); after limitMs (default WAIT_MS, a hang guard) rejects
 * with what was awaited and the last difference seen.
 */
export async function eventually(check: () => Promise<string> | string, what: string, limitMs = WAIT_MS, stepMs = 100): Promise<void> {
  let last = '';
  await waitFor(
    async () => {
      last = await check();
      return last === '';
    },
    { describe: what, timeoutMs: limitMs, intervalMs: stepMs, seen: () => last },
  );
}
