import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RtreflectError } from '../../util/errors.js';

/**
 * VPP's API definitions as its build installs them (`*.api.json`), read at run
 * time so that rtreflect speaks the installed VPP's version, like VPP's own
 * Python client does.
 */

/** A field as written in the JSON: [type, name, (length | 0, lengthField)?, {options}?]. */
export interface FieldDef {
  type: string;
  name: string;
  /** Fixed array/string length; 0 means variable length. Undefined: scalar. */
  length?: number;
  /** Name of the preceding field that holds a variable array's element count. */
  lengthFrom?: string;
  default?: unknown;
}

export interface StructDef {
  name: string;
  fields: FieldDef[];
}
export interface MessageDef extends StructDef {
  /** "0x1992deab" form, as in the JSON. */
  crc: string;
}
export interface UnionDef {
  name: string;
  members: FieldDef[];
}
export interface EnumDef {
  name: string;
  base: string;
  values: Map<string, number>;
  flags: boolean;
}
export interface AliasDef {
  name: string;
  type: string;
  length?: number;
}

export interface ApiDefsData {
  messages: Map<string, MessageDef>;
  types: Map<string, StructDef>;
  unions: Map<string, UnionDef>;
  enums: Map<string, EnumDef>;
  aliases: Map<string, AliasDef>;
  /** Request name → reply (and stream) names, from the files' "services". */
  services: Map<string, { reply: string; stream?: boolean; streamMsg?: string }>;
  /** Files read, for messages. */
  files: string[];
}

/** `ip_route_add_del` + `0xb8ecfe0d` → `ip_route_add_del_b8ecfe0d`, the key VPP's message table uses. */
export function nameCrc(name: string, crc: string): string {
  return `${name}_${crc.replace(/^0x/i, '').toLowerCase()}`;
}

/** `vl_api_fib_path_t` → `fib_path`; base types pass through. */
export function stripTypeName(t: string): string {
  return t.startsWith('vl_api_') && t.endsWith('_t') ? t.slice(7, -2) : t;
}

function bad(file: string, what: string): RtreflectError {
  return new RtreflectError('ERR_VPP_API_DEFS', `VPP API definition file ${file}: ${what}; is it a VPP *.api.json file?`);
}

function parseField(raw: unknown, file: string, owner: string): FieldDef {
  if (!Array.isArray(raw) || typeof raw[0] !== 'string' || typeof raw[1] !== 'string') {
    throw bad(file, `malformed field in ${owner}: ${JSON.stringify(raw)}`);
  }
  const f: FieldDef = { type: stripTypeName(raw[0]), name: raw[1] };
  for (const extra of raw.slice(2)) {
    if (typeof extra === 'number') f.length = extra;
    else if (typeof extra === 'string') f.lengthFrom = extra;
    else if (extra && typeof extra === 'object' && 'default' in extra) {
      // vppapigen writes boolean defaults as "true"/"false".
      const d = (extra as { default: unknown }).default;
      f.default = d === 'true' ? true : d === 'false' ? false : d;
    }
  }
  return f;
}

/** Splits [name, ...fields, {options}] rows into name, fields and trailing object. */
function splitRow(row: unknown, file: string, kind: string): { name: string; items: unknown[]; meta: Record<string, unknown> } {
  if (!Array.isArray(row) || typeof row[0] !== 'string') throw bad(file, `malformed ${kind} entry ${JSON.stringify(row).slice(0, 80)}`);
  const last = row[row.length - 1];
  const hasMeta = row.length > 1 && last !== null && typeof last === 'object' && !Array.isArray(last);
  return { name: row[0], items: row.slice(1, hasMeta ? -1 : undefined), meta: hasMeta ? (last as Record<string, unknown>) : {} };
}

export function emptyDefs(): ApiDefsData {
  return { messages: new Map(), types: new Map(), unions: new Map(), enums: new Map(), aliases: new Map(), services: new Map(), files: [] };
}

/** Adds one parsed *.api.json document to `defs` (types repeated across files are identical; the first wins). */
export function addApiJson(defs: ApiDefsData, doc: unknown, file: string): void {
  if (!doc || typeof doc !== 'object') throw bad(file, 'not a JSON object');
  const d = doc as Record<string, unknown>;
  if (!Array.isArray(d.messages)) throw bad(file, 'no "messages" list');
  defs.files.push(file);
  for (const row of d.messages) {
    const { name, items, meta } = splitRow(row, file, 'message');
    if (typeof meta.crc !== 'string') throw bad(file, `message ${name} has no crc`);
    if (!defs.messages.has(name)) defs.messages.set(name, { name, crc: meta.crc, fields: items.map((f) => parseField(f, file, name)) });
  }
  for (const row of (d.types as unknown[] | undefined) ?? []) {
    const { name, items } = splitRow(row, file, 'type');
    if (!defs.types.has(name)) defs.types.set(name, { name, fields: items.map((f) => parseField(f, file, name)) });
  }
  for (const row of (d.unions as unknown[] | undefined) ?? []) {
    const { name, items } = splitRow(row, file, 'union');
    if (!defs.unions.has(name)) defs.unions.set(name, { name, members: items.map((f) => parseField(f, file, name)) });
  }
  for (const [key, flags] of [
    ['enums', false],
    ['enumflags', true],
  ] as const) {
    for (const row of (d[key] as unknown[] | undefined) ?? []) {
      const { name, items, meta } = splitRow(row, file, key);
      const values = new Map<string, number>();
      for (const it of items) {
        if (!Array.isArray(it) || typeof it[0] !== 'string' || typeof it[1] !== 'number') throw bad(file, `malformed value in enum ${name}`);
        values.set(it[0], it[1]);
      }
      const base = typeof meta.enumtype === 'string' ? meta.enumtype : 'u32';
      if (!defs.enums.has(name)) defs.enums.set(name, { name, base, values, flags });
    }
  }
  const aliases = d.aliases;
  if (aliases && typeof aliases === 'object') {
    const entries: [string, unknown][] = Array.isArray(aliases) ? aliases.map((a) => [a[0], a[1]]) : Object.entries(aliases);
    for (const [name, a] of entries) {
      const ad = a as { type?: unknown; length?: unknown };
      if (typeof ad?.type !== 'string') throw bad(file, `malformed alias ${name}`);
      if (!defs.aliases.has(name)) {
        defs.aliases.set(name, { name, type: stripTypeName(ad.type), length: typeof ad.length === 'number' ? ad.length : undefined });
      }
    }
  }
  const services = d.services;
  if (services && typeof services === 'object') {
    for (const [req, s] of Object.entries(services as Record<string, { reply?: unknown; stream?: unknown; stream_msg?: unknown }>)) {
      if (typeof s?.reply === 'string' && !defs.services.has(req)) {
        defs.services.set(req, { reply: s.reply, stream: s.stream === true, streamMsg: typeof s.stream_msg === 'string' ? s.stream_msg : undefined });
      }
    }
  }
}

function listApiFiles(dir: string, out: string[]): void {
  for (const ent of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) listApiFiles(p, out);
    else if (ent.name.endsWith('.api.json')) out.push(p);
  }
}

/** Reads every *.api.json under `dir` (recursively: core/, plugins/). */
export function loadApiDefs(dir: string): ApiDefsData {
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    throw new RtreflectError(
      'ERR_VPP_API_DEFS',
      `VPP API definitions directory ${dir} cannot be read (${(err as Error).message}); set the VPP sink's apiDir to the installed VPP's share/vpp/api directory`,
      { cause: err },
    );
  }
  if (!st.isDirectory())
    throw new RtreflectError('ERR_VPP_API_DEFS', `VPP API definitions path ${dir} is not a directory; set apiDir to VPP's share/vpp/api directory`);
  const files: string[] = [];
  listApiFiles(dir, files);
  if (files.length === 0)
    throw new RtreflectError('ERR_VPP_API_DEFS', `no *.api.json files under ${dir}; set apiDir to the installed VPP's share/vpp/api directory`);
  const defs = emptyDefs();
  for (const f of files) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(f, 'utf8'));
    } catch (err) {
      throw bad(f, `not valid JSON (${(err as Error).message})`);
    }
    addApiJson(defs, doc, f);
  }
  return defs;
}
