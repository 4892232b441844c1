/**
 * Names of routing protocols and tables, as iproute2 knows them (rt_protos,
 * rt_tables and their .d/*.conf drop-ins), so operators can write "bird" or
 * "main" where the kernel wants numbers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RtreflectError } from '../util/errors.js';

export interface RtNames {
  protocols: Map<string, number>;
  tables: Map<string, number>;
  /** The name, or the number as text when it has none. */
  protocolName(n: number): string;
  tableName(n: number): string;
}

/** iproute2's places, most important first: /etc/iproute2 overrides the distribution's files (Debian 12+: /usr/share/iproute2). */
export const DEFAULT_RT_NAME_DIRS = ['/etc/iproute2', '/usr/lib/iproute2', '/usr/share/iproute2'];

const BUILTIN_PROTOCOLS: [number, string][] = [
  [0, 'unspec'],
  [1, 'redirect'],
  [2, 'kernel'],
  [3, 'boot'],
  [4, 'static'],
  [8, 'gated'],
  [9, 'ra'],
  [10, 'mrt'],
  [11, 'zebra'],
  [12, 'bird'],
  [13, 'dnrouted'],
  [14, 'xorp'],
  [15, 'ntk'],
  [16, 'dhcp'],
  [18, 'keepalived'],
  [42, 'babel'],
  [99, 'openr'],
  [186, 'bgp'],
  [187, 'isis'],
  [188, 'ospf'],
  [189, 'rip'],
  [192, 'eigrp'],
];
const BUILTIN_TABLES: [number, string][] = [
  [0, 'unspec'],
  [253, 'default'],
  [254, 'main'],
  [255, 'local'],
];

/**
 * Name → number and number → name, kept apart: a drop-in that gives a name a new number (FRR's
 * frr.conf: 196 static) moves the name, but the old number keeps its name for display, as in iproute2.
 */
interface NameTable {
  byName: Map<string, number>;
  byNumber: Map<number, string>;
}

/** Parses "NUMBER NAME" lines ('#' comments, decimal or 0x hex); bad lines are skipped like iproute2 does. */
function parseNameFile(text: string, max: number, into: NameTable): void {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const m = /^(0x[0-9a-fA-F]+|\d+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const n = Number(m[1]);
    if (!Number.isSafeInteger(n) || n < 0 || n > max) continue;
    into.byName.set(m[2]!, n);
    into.byNumber.set(n, m[2]!);
  }
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function loadInto(dirs: string[], base: string, max: number, into: NameTable): void {
  // Earlier directories override later ones; within one, the drop-ins (in name order) override the main file.
  for (const dir of [...dirs].reverse()) {
    const main = readIfExists(join(dir, base));
    if (main !== undefined) parseNameFile(main, max, into);
    let entries: string[] = [];
    try {
      entries = readdirSync(join(dir, `${base}.d`))
        .filter((f) => f.endsWith('.conf'))
        .sort();
    } catch {
      continue;
    }
    for (const f of entries) {
      const text = readIfExists(join(dir, `${base}.d`, f));
      if (text !== undefined) parseNameFile(text, max, into);
    }
  }
}

function builtin(entries: [number, string][]): NameTable {
  return { byName: new Map(entries.map(([n, name]) => [name, n])), byNumber: new Map(entries) };
}

export function loadRtNames(opts: { dirs?: string[] } = {}): RtNames {
  const protocols = builtin(BUILTIN_PROTOCOLS);
  const tables = builtin(BUILTIN_TABLES);
  const dirs = opts.dirs ?? DEFAULT_RT_NAME_DIRS;
  // A name redefined to another number resolves to its latest definition; a number is shown by its latest name.
  loadInto(dirs, 'rt_protos', 255, protocols);
  loadInto(dirs, 'rt_tables', 0xffffffff, tables);
  return {
    protocols: protocols.byName,
    tables: tables.byName,
    protocolName: (n) => protocols.byNumber.get(n) ?? String(n),
    tableName: (n) => tables.byNumber.get(n) ?? String(n),
  };
}

function known(m: Map<string, number>, skipUnspec: boolean): string {
  return [...m]
    .filter(([name]) => !(skipUnspec && name === 'unspec'))
    .sort((a, b) => a[1] - b[1])
    .map(([name, n]) => `${name} (${n})`)
    .join(', ');
}

function parseNumber(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  if (/^0x[0-9a-f]+$/i.test(text)) return Number(text);
  return undefined;
}

/** "bird" or "12" → 12. */
export function resolveProtocol(names: RtNames, text: string): number {
  const t = text.trim();
  const n = parseNumber(t);
  if (n !== undefined) {
    if (n > 255) throw new RtreflectError('ERR_UNKNOWN_PROTOCOL', `routing protocol number ${t} is out of range: protocols are 0..255`);
    return n;
  }
  const v = names.protocols.get(t);
  if (v === undefined) {
    throw new RtreflectError(
      'ERR_UNKNOWN_PROTOCOL',
      `unknown routing protocol "${t}"; known: ${known(names.protocols, true)} (or give a number 0..255; names come from rt_protos)`,
    );
  }
  return v;
}

/** "main", "254" or "1000" → the table id (1..2^32-1). */
export function resolveTable(names: RtNames, text: string): number {
  const t = text.trim();
  const n = parseNumber(t);
  if (n !== undefined) {
    if (n < 1 || n > 0xffffffff) throw new RtreflectError('ERR_UNKNOWN_TABLE', `routing table number ${t} is out of range: tables are 1..4294967295`);
    return n;
  }
  const v = names.tables.get(t);
  if (v === undefined || v === 0) {
    throw new RtreflectError(
      'ERR_UNKNOWN_TABLE',
      `unknown routing table "${t}"; known: ${known(names.tables, true)} (or give a number 1..4294967295; names come from rt_tables)`,
    );
  }
  return v;
}

/** "bird,static" or "12, 4" → [12, 4] (duplicates removed, order kept). */
export function parseProtocolList(names: RtNames, csv: string): number[] {
  const items = csv
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0)
    throw new RtreflectError('ERR_UNKNOWN_PROTOCOL', `empty routing protocol list "${csv}"; give names or numbers separated by commas, e.g. "bird,static"`);
  return [...new Set(items.map((s) => resolveProtocol(names, s)))];
}
