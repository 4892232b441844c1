import { KernelSource } from '../kernel/kernel-source.js';
import { loadRtNames, parseProtocolList, resolveTable } from '../kernel/rt-names.js';
import type { Family, RouteEvent } from '../kernel/route.js';
import { createLogger } from '../util/logger.js';
import { eventJson, formatEvent, formatRoute } from './format-route.js';
import { usageError } from './cli-errors.js';

export interface WatchOptions {
  protocol: string;
  table?: string;
  family?: string;
  json?: boolean;
  netns?: string;
  receiveBuffer?: string;
  bpf: boolean;
}

export function parseFamilies(text: string | undefined): Family[] {
  if (text === undefined) return [4, 6];
  const out: Family[] = [];
  for (const part of text.split(',')) {
    const t = part.trim().replace(/^inet6?$|^ipv[46]$/, (m) => (m.endsWith('6') ? '6' : '4'));
    if (t !== '4' && t !== '6') throw usageError(`--family: "${part}" is not a family; use 4, 6 or 4,6`);
    out.push(Number(t) as Family);
  }
  return [...new Set(out)];
}

export function parseByteSize(text: string, what: string): number {
  const m = /^(\d+)\s*([kKmMgG]?)(i?[bB])?$/.exec(text.trim());
  if (!m) throw usageError(`${what}: "${text}" is not a size; use bytes or a suffix, e.g. 64M`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}

/** `rtreflect watch`: the snapshot, then live events, one per line, until interrupted. */
export async function watchCommand(o: WatchOptions): Promise<void> {
  const names = loadRtNames();
  const protocols = o.protocol === 'all' ? null : parseProtocolList(names, o.protocol);
  const tables = o.table === undefined || o.table === 'all' ? null : o.table.split(',').map((t) => resolveTable(names, t.trim()));
  const families = parseFamilies(o.family);
  const receiveBufferBytes = o.receiveBuffer ? parseByteSize(o.receiveBuffer, '--receive-buffer') : 64 * 1024 * 1024;
  const logger = createLogger({ level: 'warn' });
  const out = (line: string): void => {
    process.stdout.write(line + '\n');
  };
  const src = new KernelSource({
    protocols,
    tables,
    families,
    receiveBufferBytes,
    bpfFilter: o.bpf,
    resyncMinIntervalMs: 1000,
    logger,
    ...(o.netns ? { netns: o.netns } : {}),
  });
  let live = false;
  src.on('event', (ev: RouteEvent) => {
    if (o.json) out(eventJson({ event: live ? ev.op : 'snapshot', route: ev.route } as never));
    else out(live ? formatEvent(ev, names) : formatRoute(ev.route, names));
  });
  src.on('overrun', (e: { at: string }) => {
    out(o.json ? eventJson({ event: 'overrun', at: e.at } as never) : `# overrun at ${e.at}: events were lost; resyncing`);
  });
  src.on('resync', (info: { reason: string; durationMs: number; adds: number; dels: number; routes: number }) => {
    if (!live) return;
    out(
      o.json
        ? eventJson({ event: 'resync', ...info } as never)
        : `# resync (${info.reason}): ${info.adds} added/changed, ${info.dels} deleted, ${info.routes} routes, ${info.durationMs} ms`,
    );
  });
  await src.start();
  live = true;
  out(o.json ? eventJson({ event: 'snapshot-end', routes: src.size } as never) : `# ${src.size} routes; watching for changes`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      src.close();
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
