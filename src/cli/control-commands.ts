import { controlRequest } from '../control/control-client.js';
import { progressReporter } from './progress.js';
import { resyncText } from '../engine/sink-resync.js';
import type { SinkStatus } from '../engine/reflector.js';

interface ControlOpts {
  control: string;
  json?: boolean;
}

export async function statusCommand(o: ControlOpts): Promise<void> {
  const st = (await controlRequest(o.control, 'status')) as StatusReply;
  if (o.json) {
    process.stdout.write(JSON.stringify(st, null, 2) + '\n');
    return;
  }
  process.stdout.write(renderStatus(st));
}

export async function resyncCommand(o: ControlOpts): Promise<void> {
  const p = progressReporter();
  const res = (await controlRequest(o.control, 'resync', {}, { onProgress: (x) => p.update(String(x.phase ?? '')) })) as {
    sinks: { name: string; lastResync?: { upserts: number; deletes: number; durationMs: number } }[];
  };
  p.done();
  for (const s of res.sinks) {
    const r = s.lastResync;
    process.stdout.write(`${s.name}: ${r ? `${r.upserts} written, ${r.deletes} deleted in ${r.durationMs} ms` : 'not resynced (sink down?)'}\n`);
  }
}

export async function diffCommand(o: ControlOpts): Promise<void> {
  const p = progressReporter();
  const res = (await controlRequest(o.control, 'diff', {}, { onProgress: (x) => p.update(String(x.phase ?? '')) })) as {
    sink: string;
    upserts: { key: string; fingerprint: string; was?: string }[];
    deletes: { key: string; fingerprint: string }[];
  }[];
  p.done();
  if (o.json) {
    process.stdout.write(JSON.stringify(res, null, 2) + '\n');
    return;
  }
  for (const d of res) {
    process.stdout.write(`# ${d.sink}: ${d.upserts.length} to write, ${d.deletes.length} to delete\n`);
    for (const u of d.upserts) process.stdout.write(`${u.was === undefined ? '+' : '~'} ${u.key}  ${u.fingerprint}\n`);
    for (const x of d.deletes) process.stdout.write(`- ${x.key}  ${x.fingerprint}\n`);
  }
}

export async function logLevelCommand(level: string, o: ControlOpts): Promise<void> {
  const res = (await controlRequest(o.control, 'log-level', { level })) as { level: string };
  process.stdout.write(`log level is now ${res.level}\n`);
}

export interface StatusReply {
  daemon: { pid: number; uptimeSeconds: number; ready: boolean; logLevel: string; lastFullResync?: { at: string; reason: string; durationMs: number } };
  source: {
    routes: number;
    /** A kernel dump is under way (start-up, overrun, resync); changes still go out meanwhile. */
    resyncing?: boolean;
    overruns: number;
    resyncs: number;
    events: { add: number; del: number };
    lastResync?: { at: string; reason: string; durationMs: number; adds: number; dels: number };
    receiveBufferBytes: number;
  };
  engine: { holdDownEngaged: boolean; heldDeletes: number; filtered: number };
  sinks: SinkStatus[];
  handlers?: {
    name: string;
    type: string;
    errors: number;
    lastError?: string;
    services?: { name: string; healthy: boolean; upChecks: number; minHealthy: number; checks: unknown[] }[];
  }[];
}

/** 3661 → "1h01m01s": what a person reads at a glance. */
export function formatDuration(seconds: number): string {
  const d = Math.floor(seconds / 86400),
    h = Math.floor(seconds / 3600) % 24,
    m = Math.floor(seconds / 60) % 60,
    s = Math.floor(seconds % 60);
  const two = (n: number): string => String(n).padStart(2, '0');
  if (d > 0) return `${d}d${two(h)}h${two(m)}m`;
  if (h > 0) return `${h}h${two(m)}m${two(s)}s`;
  if (m > 0) return `${m}m${two(s)}s`;
  return `${s}s`;
}

/** The human `rtreflect status`: one line per source and engine, a table of sinks, then problems. */
export function renderStatus(st: StatusReply): string {
  const lines: string[] = [];
  const d = st.daemon;
  const fr = d.lastFullResync;
  lines.push(
    `rtreflect pid ${d.pid}, up ${formatDuration(d.uptimeSeconds)}, ${d.ready ? 'ready' : 'starting (kernel snapshot not loaded or a sink not connected yet)'}, log level ${d.logLevel}` +
      (fr ? `; last full resync ${fr.at} (${fr.reason}, ${fr.durationMs} ms)` : ''),
  );
  const s = st.source;
  const lr = s.lastResync;
  lines.push(
    `kernel: ${s.routes} routes, ${s.events.add} adds / ${s.events.del} deletes seen, ${s.overruns} overruns, ${s.resyncs} resyncs` +
      (s.resyncing ? '; re-dumping now' : '') +
      (lr ? `; last resync ${lr.at} (${lr.reason}, ${lr.durationMs} ms, +${lr.adds} -${lr.dels})` : ''),
  );
  const e = st.engine;
  lines.push(
    `engine: ${e.filtered} filtered by the chain${
      e.holdDownEngaged
        ? `, HOLD-DOWN ENGAGED (${e.heldDeletes} deletes held)`
        : e.heldDeletes > 0
          ? `, ${e.heldDeletes} deletes waiting out the hold-down window`
          : ''
    }`,
  );
  const rows = [['SINK', 'KIND', 'STATE', 'DESIRED', 'APPLIED', 'PENDING', 'WRITES', 'DELETES', 'ERRORS', 'SKIPPED', 'LAST RESYNC']];
  for (const k of st.sinks) {
    const r = k.lastResync;
    rows.push([
      k.name,
      k.kind,
      k.state,
      String(k.desired),
      String(k.applied),
      String(k.pending),
      String(k.writes),
      String(k.deletes),
      String(k.errors),
      String(k.skipped),
      r ? `${r.at} ${r.reason} ${r.durationMs}ms +${r.upserts} -${r.deletes}${r.ok ? '' : ' FAILED'}` : '-',
    ]);
  }
  const numeric = (i: number): boolean => i >= 3 && i <= 9;
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    lines.push(
      r
        .map((c, i) => (numeric(i) && r !== rows[0] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    );
  for (const k of st.sinks)
    if (k.resync) lines.push(`${k.name}: ${resyncText(k.resync)}, ${k.resync.reason} resync, ${formatDuration(k.resync.sinceMs / 1000)} so far`);
  for (const k of st.sinks) if (k.lastError) lines.push(`${k.name}: last error: ${k.lastError}`);
  for (const h of st.handlers ?? []) {
    const svcs = (h.services ?? []).map(
      (v) => `${v.name} ${v.healthy ? 'healthy' : 'UNHEALTHY'} (${v.upChecks}/${v.checks.length} checks up, ${v.minHealthy} needed)`,
    );
    if (svcs.length > 0) lines.push(`handler ${h.name}: ${svcs.join(', ')}`);
    if (h.errors > 0) lines.push(`handler ${h.name}: ${h.errors} errors${h.lastError ? `, last: ${h.lastError}` : ''}`);
  }
  return lines.join('\n') + '\n';
}
