/**
 * The config file's schema: every section, its defaults, and the cross-checks
 * that reject combinations that cannot work. Sink options live here too (one
 * place), mirroring the sinks' own option types (src/sinks/*\/…-options.ts).
 */
import { z } from 'zod';
import { basename, extname } from 'node:path';
import { isIP } from 'node:net';
import {
  address, describeValue, didYouMean, families, identifier, int, isPlainObject, ms, nonEmpty, obj, port,
  protocolRef, subParse, tableKeyedRecord, tableRef, tagged, u32,
} from './schema-helpers.js';
import { communitySchema, largeCommunitySchema, routeDistinguisherSchema, routeTargetSchema } from './bgp-formats.js';
import type { NameResolver } from './name-resolver.js';
import { builtinHandler, HANDLER_TYPES, MODULE_HANDLER_TYPE } from '../handlers/builtin-handlers.js';
import type { HandlerSpec } from '../handlers/handler-chain.js';
import type { VrfMapOptions } from '../handlers/vrf-map-handler.js';

const MiB = 1024 * 1024;

/** "host:port", "[v6addr]:port"; returns the problem or undefined. */
function hostPortProblem(v: string): string | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(v);
  if (!m) return `expected "host:port" or "[ipv6]:port", got ${JSON.stringify(v)}`;
  const host = m[1] ?? m[2]!;
  if (m[1] !== undefined && isIP(host) !== 6) return `"${host}" in brackets must be an IPv6 address`;
  if (host && m[1] === undefined && !isIP(host) && !/^[A-Za-z0-9.-]+$/.test(host)) return `"${host}" is not a host name or address`;
  const p = Number(m[3]);
  if (p < 1 || p > 65535) return `port ${p} is out of range 1..65535`;
  return undefined;
}

const hostPort = () => z.string().superRefine((v, ctx) => {
  const p = hostPortProblem(v);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

// ---- source -----------------------------------------------------------------

/** A list of names/numbers, or "all" (→ null: no filtering). */
function listOrAll(ref: z.ZodTypeAny) {
  return z.unknown().transform((v, ctx): number[] | null => {
    if (v === 'all' || (Array.isArray(v) && v.includes('all'))) return null;
    return subParse(z.array(ref).min(1), v, ctx) as number[];
  });
}

const sourceSchema = (names: NameResolver) => obj({
  /** Kernel route protocols to reflect; "all" for every protocol. */
  protocols: listOrAll(protocolRef(names)).default(['bird']),
  tables: listOrAll(tableRef(names)).default(['main']),
  families: families().default([4, 6]),
  receiveBufferBytes: int(256 * 1024, 2 ** 31 - 1).default(64 * MiB),
  bpfFilter: z.boolean().default(true),
  overrunResyncMinIntervalMs: ms().default(1000),
  netns: z.string().regex(/^(\/.+|[A-Za-z0-9_.-]+)$/, 'must be a namespace name (as in `ip netns list`) or an absolute path like /proc/1234/ns/net').optional(),
}).default({});

// ---- engine -----------------------------------------------------------------

const engineSchema = () => obj({
  holdDown: obj({
    enabled: z.boolean().default(true),
    delayMs: ms().default(5000),
    threshold: int(1, 10_000_000).default(50),
    windowMs: ms().min(1).default(200),
  }).superRefine((h, ctx) => {
    if (h.enabled && h.delayMs === 0) {
      ctx.addIssue({ code: 'custom', path: ['delayMs'], message: 'hold-down with delayMs 0 holds nothing; give a delay (e.g. 5000) or set enabled: false' });
    }
  }).default({}),
  batchDelayMs: ms().default(0),
  resyncMinIntervalMs: ms().default(1000),
}).default({});

// ---- sinks ------------------------------------------------------------------

const backoffSchema = (initialMs: number, maxMs: number) => obj({
  initialMs: ms().min(1).default(initialMs),
  maxMs: ms().min(1).default(maxMs),
}).superRefine((b, ctx) => {
  if (b.maxMs < b.initialMs) ctx.addIssue({ code: 'custom', path: ['maxMs'], message: `maxMs ${b.maxMs} is below initialMs ${b.initialMs}` });
});

interface SidecarCommon {
  binary: string;
  neighbors: {
    address: string; peerAs: number; addPaths: boolean; families?: ('ipv4-unicast' | 'ipv6-unicast')[];
    localAddress?: string; description?: string; authPassword?: string; ebgpMultihop?: number; extendedNexthop?: boolean;
  }[];
  global?: { as: number; routerId: string; listenPort: number; listenAddresses?: string[] };
}
/** With `enabled: true`, `global` is always there. */
export type SidecarConfig =
  | (SidecarCommon & { enabled: false })
  | (SidecarCommon & { enabled: true; global: NonNullable<SidecarCommon['global']> });

const gobgpSinkSchema = () => obj({
  type: z.literal('gobgp'),
  name: identifier().optional(),
  /** gobgpd's gRPC API: "host:port", "[v6]:port" or "unix:/path". */
  address: z.string().superRefine((v, ctx) => {
    if (v.startsWith('unix:')) { if (v.length <= 5) ctx.addIssue({ code: 'custom', message: '"unix:" needs a socket path, e.g. unix:/run/gobgpd.sock' }); return; }
    const p = hostPortProblem(v);
    if (p) ctx.addIssue({ code: 'custom', message: `${p}; or "unix:/path/to/socket"` });
  }).default('127.0.0.1:50051'),
  protoDir: nonEmpty().default('/usr/share/gocode/src/github.com/osrg/gobgp/api'),
  batchSize: int(1, 1_000_000).default(1000),
  /** AddPathStreams written in parallel; a key always goes to the same one. */
  streams: int(1, 16).default(2),
  ownership: obj({
    community: communitySchema().optional(),
    largeCommunity: largeCommunitySchema().optional(),
  }).superRefine((o, ctx) => {
    if (o.community && o.largeCommunity) ctx.addIssue({ code: 'custom', message: 'give community or largeCommunity, not both: one mark identifies rtreflect\'s paths' });
  }).transform((o) => (o.community || o.largeCommunity ? o : { largeCommunity: '4294967294:0:1' })).default({}),
  vrfs: z.record(identifier(), obj({
    rd: routeDistinguisherSchema(),
    rt: z.array(routeTargetSchema()).optional(),
    importRt: z.array(routeTargetSchema()).optional(),
    exportRt: z.array(routeTargetSchema()).optional(),
    id: u32().optional(),
  })).default({}),
  createVrfs: z.boolean().default(false),
  shutdown: obj({ withdraw: z.boolean().default(true), graceMs: ms().default(5000) }).default({}),
  connectTimeoutMs: ms().min(1).default(5000),
  callTimeoutMs: ms().min(1).default(120_000),
  healthIntervalMs: ms().min(1).default(2000),
  backoff: obj({
    initialMs: ms().min(1).default(200),
    maxMs: ms().min(1).default(10_000),
    jitter: z.number().min(0).max(1).default(0.2),
  }).superRefine((b, ctx) => {
    if (b.maxMs < b.initialMs) ctx.addIssue({ code: 'custom', path: ['maxMs'], message: `maxMs ${b.maxMs} is below initialMs ${b.initialMs}` });
  }).default({}),
  /** rtreflect runs gobgpd itself, with this BGP setup. */
  sidecar: obj({
    enabled: z.boolean().default(false),
    binary: nonEmpty().default('gobgpd'),
    global: obj({
      as: int(1, 0xffffffff),
      routerId: z.string().refine((v) => isIP(v) === 4, 'must be an IPv4 address (BGP router id)'),
      listenPort: int(-1, 65535).default(179),
      /** Addresses gobgpd listens on for BGP (default: all). */
      listenAddresses: z.array(address()).min(1).optional(),
    }).optional(),
    neighbors: z.array(obj({
      address: address(),
      peerAs: int(1, 0xffffffff),
      addPaths: z.boolean().default(false),
      families: z.array(z.enum(['ipv4-unicast', 'ipv6-unicast'])).min(1).optional(),
      localAddress: address().optional(),
      description: z.string().optional(),
      authPassword: z.string().optional(),
      ebgpMultihop: int(1, 255).optional(),
      extendedNexthop: z.boolean().optional(),
    })).default([]),
  }).transform((s, ctx): SidecarConfig => {
    if (s.enabled && !s.global) {
      ctx.addIssue({ code: 'custom', path: ['global'], message: 'required when the sidecar is enabled: { as: <local AS>, routerId: <IPv4> }' });
      return z.NEVER;
    }
    return s as SidecarConfig;
  }).default({}),
}).superRefine((s, ctx) => {
  if (s.sidecar.enabled && s.address.startsWith('unix:')) {
    ctx.addIssue({ code: 'custom', path: ['address'], message: 'the gobgpd sidecar serves its API on TCP only; use "127.0.0.1:<port>", or disable the sidecar to use a gobgpd you run on a unix socket' });
  }
});

const vppSinkSchema = (names: NameResolver) => obj({
  type: z.literal('vpp'),
  name: identifier().optional(),
  socket: nonEmpty().default('/run/vpp/api.sock'),
  apiDir: nonEmpty().default('/usr/share/vpp/api'),
  fibSource: obj({ name: z.string().min(1).max(63).default('rtreflect'), priority: int(0, 255).default(130) }).default({}),
  /** Kernel table (name or number) → VPP table id. */
  tables: tableKeyedRecord(names, int(0, 0xfffffffe)).default({}),
  vrfTables: z.record(identifier(), int(0, 0xfffffffe)).default({}),
  interfaces: z.record(z.string().min(1).max(15), z.string().min(1).max(63)).default({}),
  useLinuxCp: z.boolean().default(true),
  createTables: z.boolean().default(true),
  batchSize: int(1, 100_000).default(512),
  window: int(1, 65_536).default(512),
  requestTimeoutMs: ms().min(10).default(10_000),
  connectTimeoutMs: ms().min(10).default(5000),
  backoff: backoffSchema(500, 30_000).default({}),
  shutdown: obj({ withdraw: z.boolean().default(false), graceMs: ms().default(0) }).default({}),
});

// ---- handlers ---------------------------------------------------------------

const moduleItemSchema = () => obj({
  type: z.literal(MODULE_HANDLER_TYPE).optional(),
  name: identifier().optional(),
  module: nonEmpty(),
  options: z.record(z.unknown()).default({}),
});

/** `{ type: <built-in>, name?, ...options }` or `{ module: "./file.mjs" | "package", name?, options? }`. */
const handlerItemSchema = (names: NameResolver) => z.unknown().transform((v, ctx): HandlerSpec => {
  if (!isPlainObject(v)) {
    ctx.addIssue({ code: 'custom', message: `expected a handler: { type: ${HANDLER_TYPES.join('|')}, ... } or { module: ./file.mjs, options: {...} }; got ${describeValue(v)}` });
    return z.NEVER;
  }
  if ('module' in v || v.type === MODULE_HANDLER_TYPE) {
    const m = subParse(moduleItemSchema(), v, ctx);
    if ((m as unknown) === z.NEVER) return z.NEVER; // refused: subParse reported why (z.NEVER is an object, not a falsy value)
    return { name: m.name ?? basename(m.module, extname(m.module)), type: MODULE_HANDLER_TYPE, module: m.module, options: m.options };
  }
  const { type, name, ...options } = v;
  const b = typeof type === 'string' ? builtinHandler(type) : undefined;
  if (!b) {
    ctx.addIssue({
      code: 'custom', path: ['type'],
      message: type === undefined
        ? `required: the handler type, one of ${HANDLER_TYPES.join(', ')} (or module: <path> for your own)`
        : `unknown handler type ${describeValue(type)}; expected one of ${HANDLER_TYPES.join(', ')}${typeof type === 'string' ? didYouMean(type, HANDLER_TYPES) : ''}`,
    });
    return z.NEVER;
  }
  const nameOk = name === undefined || identifier().safeParse(name).success;
  if (!nameOk) ctx.addIssue({ code: 'custom', path: ['name'], message: `expected 1-63 letters, digits, "_", "." or "-", starting with a letter or digit; got ${describeValue(name)}` });
  const n = name === undefined ? type as string : name as string;
  const parsed = subParse(b.optionsSchema(names), options, ctx);
  return { name: n, type: b.type, options: parsed as Record<string, unknown> };
});

// ---- control, metrics, log -----------------------------------------------------

const controlSchema = () => obj({
  socket: nonEmpty().refine((p) => p.startsWith('/'), 'must be an absolute path').default('/run/rtreflect/control.sock'),
  /** Group allowed to use the socket besides root. */
  group: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*\$?$/, 'must be a group name').optional(),
  /** Socket file mode: octal text ("0660") or a number. */
  mode: z.unknown().transform((v, ctx) => {
    const n = typeof v === 'string' && /^0?[0-7]{3}$/.test(v) ? parseInt(v, 8) : typeof v === 'number' && Number.isInteger(v) ? v : NaN;
    if (!(n >= 0 && n <= 0o777)) { ctx.addIssue({ code: 'custom', message: `expected an octal file mode like "0660", got ${describeValue(v)}` }); return z.NEVER; }
    return n;
  }).default('0660'),
}).default({});

const metricsSchema = () => obj({
  /** "127.0.0.1:9469" to serve Prometheus metrics; off (null) by default. */
  listen: hostPort().nullable().default(null),
}).default({});

const logSchema = () => obj({
  level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** Unset: pretty on a terminal, JSON lines otherwise. */
  format: z.enum(['json', 'pretty']).optional(),
}).default({});

// ---- the whole file ---------------------------------------------------------------

export function buildConfigSchema(names: NameResolver) {
  const sinkSchema = tagged('type', { gobgp: gobgpSinkSchema(), vpp: vppSinkSchema(names) }, 'sink');
  return obj({
    version: z.literal(1).default(1),
    source: sourceSchema(names),
    engine: engineSchema(),
    handlers: z.array(handlerItemSchema(names)).default([]),
    sinks: z.array(sinkSchema).default([]),
    control: controlSchema(),
    metrics: metricsSchema(),
    log: logSchema(),
  }).transform((c, ctx) => {
    // Names: defaulted to the type, so two unnamed sinks of one type collide here.
    const sinks = c.sinks.map((s) => ({ ...s, name: s.name ?? s.type }));
    const seenSinks = new Map<string, number>();
    sinks.forEach((s, i) => {
      const prev = seenSinks.get(s.name);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['sinks', i, 'name'], message: `sink name "${s.name}" is already used by sinks[${prev}]; give each sink a distinct name` });
      else seenSinks.set(s.name, i);
    });
    const seenHandlers = new Map<string, number>();
    c.handlers.forEach((h, i) => {
      const prev = seenHandlers.get(h.name);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['handlers', i, 'name'], message: `handler name "${h.name}" is already used by handlers[${prev}]; give each handler a distinct name` });
      else seenHandlers.set(h.name, i);
    });
    return { ...c, sinks };
  });
}

type Parsed = z.output<ReturnType<typeof buildConfigSchema>>;
export type GobgpSinkConfig = Extract<Parsed['sinks'][number], { type: 'gobgp' }> & { name: string };
export type VppSinkConfig = Extract<Parsed['sinks'][number], { type: 'vpp' }> & { name: string };
export type SinkConfig = GobgpSinkConfig | VppSinkConfig;

/** The config, every default filled in. */
export interface RtreflectConfig {
  version: 1;
  source: Parsed['source'];
  engine: Parsed['engine'];
  handlers: HandlerSpec[];
  sinks: SinkConfig[];
  control: Parsed['control'];
  metrics: Parsed['metrics'];
  log: Parsed['log'];
  /** Where it came from: the file path (or label) and its directory (relative handler modules resolve from there). */
  origin: string;
  baseDir: string;
  /** Things that are allowed but probably not meant ("origin: path: text"). */
  warnings: string[];
}

/** Allowed but suspicious combinations, as [path, message]. */
export function configWarnings(c: Omit<RtreflectConfig, 'origin' | 'baseDir' | 'warnings'>): [string, string][] {
  const out: [string, string][] = [];
  if (c.sinks.length === 0) out.push(['sinks', 'no sinks configured: routes are watched but go nowhere']);
  const hasModules = c.handlers.some((h) => h.type === MODULE_HANDLER_TYPE);
  const watched = c.source.tables;
  c.handlers.forEach((h, i) => {
    if (h.type !== 'vrf-map' || watched === null) return;
    for (const t of Object.keys((h.options as unknown as VrfMapOptions).tables)) {
      if (!watched.includes(Number(t))) out.push([`handlers[${i}].tables`, `table ${t} is not in source.tables, so no route from it reaches this handler`]);
    }
  });
  const vrfs = new Set(c.handlers.filter((h) => h.type === 'vrf-map').flatMap((h) => Object.values((h.options as unknown as VrfMapOptions).tables)));
  if (!hasModules) {
    c.sinks.forEach((s, i) => {
      if (s.type !== 'vpp') return;
      for (const v of Object.keys(s.vrfTables)) {
        if (!vrfs.has(v)) out.push([`sinks[${i}].vrfTables.${v}`, `no handler puts routes in VRF "${v}" (no vrf-map maps a table to it); this entry is unused`]);
      }
    });
  }
  c.sinks.forEach((s, i) => {
    if (s.type === 'gobgp' && s.createVrfs) {
      for (const v of vrfs) if (!Object.hasOwn(s.vrfs, v)) out.push([`sinks[${i}].vrfs`, `VRF "${v}" (from a vrf-map handler) is not listed; routes for it fail unless gobgpd already has that VRF`]);
    }
    if (s.type === 'vpp') {
      for (const v of vrfs) if (!Object.hasOwn(s.vrfTables, v)) out.push([`sinks[${i}].vrfTables`, `VRF "${v}" (from a vrf-map handler) has no VPP table; the sink skips its routes`]);
    }
  });
  return out;
}
