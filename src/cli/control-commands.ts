import { controlRequest } from '../control/control-client.js';
import { progressReporter } from './progress.js';

interface ControlOpts { control: string; json?: boolean }

export async function statusCommand(o: ControlOpts): Promise<void> {
  const st = await controlRequest(o.control, 'status') as StatusReply;
  if (o.json) {
    process.stdout.write(JSON.stringify(st, null, 2) + '\n');
    return;
  }
  process.stdout.write(renderStatus(st));
}

export async function resyncCommand(o: ControlOpts): Promise<void> {
  const p = progressReporter();
  const res = await controlRequest(o.control, 'resync', {}, { onProgress: (x) => p.update(String(x.phase ?? '')) }) as { sinks: { name: string; lastResync?: { upserts: number; deletes: number; durationMs: number } }[] };
  p.done();
  for (const s of res.sinks) {
    const r = s.lastResync;
    process.stdout.write(`${s.name}: ${r ? `${r.upserts} written, ${r.deletes} deleted in ${r.durationMs} ms` : 'not resynced (sink down?)'}\n`);
  }
}

export async function diffCommand(o: ControlOpts): Promise<void> {
  const p = progressReporter();
  const res = await controlRequest(o.control, 'diff', {}, { onProgress: (x) => p.update(String(x.phase ?? '')) }) as { sink: string; upserts: { key: string; fingerprint: string; was?: string }[]; deletes: { key: string; fingerprint: string }[] }[];
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
  const res = await controlRequest(o.control, 'log-level', { level }) as { level: string };
  process.stdout.write(`log level is now ${res.level}\n`);
}

interface StatusReply {
  daemon: { pid: number; uptimeSeconds: number; ready: boolean; logLevel: string; lastFullResync?: { at: string; reason: string; durationMs: number } };
  source: { routes: number; overruns: number; resyncs: number; events: { add: number; del: number }; lastResync?: { at: string; reason: string; durationMs: number; adds: number; dels: number }; receiveBufferBytes: number };
  engine: { holdDownEngaged: boolean; heldDeletes: number; filtered: number };
  sinks: { name: string; kind: string; state: string; desired: number; applied: number; pending: number; writes: number; deletes: number; errors: number; skipped: number; lastError?: string; lastResync?: { at: string; reason: string; durationMs: number; upserts: number; deletes: number; ok: boolean } }[];
}

export function renderStatus(st: StatusReply): string {
  const lines: string[] = [];
  const d = st.daemon;
  lines.push(`rtreflect pid ${d.pid}, up ${d.uptimeSeconds}s, ${d.ready ? 'ready' : 'starting'}, log level ${d.logLevel}`);
  const s = st.source;
  const lr = s.lastResync;
  lines.push(`kernel: ${s.routes} routes, ${s.events.add} adds / ${s.events.del} deletes seen, ${s.overruns} overruns, ${s.resyncs} resyncs` +
    (lr ? `; last resync ${lr.at} (${lr.reason}, ${lr.durationMs} ms, +${lr.adds} -${lr.dels})` : ''));
  lines.push(`engine: ${st.engine.filtered} filtered by the chain${st.engine.holdDownEngaged ? `, HOLD-DOWN ENGAGED (${st.engine.heldDeletes} deletes held)` : ''}`);
  const rows = [['SINK', 'KIND', 'STATE', 'DESIRED', 'APPLIED', 'PENDING', 'WRITES', 'DELETES', 'ERRORS', 'SKIPPED', 'LAST RESYNC']];
  for (const k of st.sinks) {
    const r = k.lastResync;
    rows.push([k.name, k.kind, k.state, String(k.desired), String(k.applied), String(k.pending), String(k.writes), String(k.deletes), String(k.errors), String(k.skipped),
      r ? `${r.at} ${r.reason} ${r.durationMs}ms +${r.upserts} -${r.deletes}${r.ok ? '' : ' FAILED'}` : '-']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) lines.push(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  for (const k of st.sinks) if (k.lastError) lines.push(`${k.name}: last error: ${k.lastError}`);
  return lines.join('\n') + '\n';
}
