/**
 * The config file's schema: every section, its defaults, and the cross-checks
 * that reject combinations that cannot work. Each sink type brings its own
 * options schema (src/sinks/sink-types.ts), as each built-in handler does.
 */
import { z } from 'zod';
import { basename, extname } from 'node:path';
import {
  describeValue,
  didYouMean,
  families,
  hostPortProblem,
  identifier,
  int,
  isPlainObject,
  ms,
  nonEmpty,
  obj,
  protocolRef,
  subParse,
  tableRef,
  tagged,
} from './schema-helpers.js';
import type { NameResolver } from './name-resolver.js';
import { builtinHandler, HANDLER_TYPES, MODULE_HANDLER_TYPE } from '../handlers/builtin-handlers.js';
import type { HandlerSpec } from '../handlers/handler-chain.js';
import type { VrfMapOptions } from '../handlers/vrf-map-handler.js';
import { SINK_TYPES, sinkType, type SinkConfig } from '../sinks/sink-types.js';

const MiB = 1024 * 1024;

const hostPort = () =>
  z.string().superRefine((v, ctx) => {
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

const sourceSchema = (names: NameResolver) =>
  obj({
    /** Kernel route protocols to reflect; "all" for every protocol. */
    protocols: listOrAll(protocolRef(names)).default(['bird']),
    tables: listOrAll(tableRef(names)).default(['main']),
    families: families().default([4, 6]),
    receiveBufferBytes: int(256 * 1024, 2 ** 31 - 1).default(64 * MiB),
    bpfFilter: z.boolean().default(true),
    overrunResyncMinIntervalMs: ms().default(1000),
    netns: z
      .string()
      .regex(/^(\/.+|[A-Za-z0-9_.-]+)$/, 'must be a namespace name (as in `ip netns list`) or an absolute path like /proc/1234/ns/net')
      .optional(),
  }).default({});

// ---- engine -----------------------------------------------------------------

const engineSchema = () =>
  obj({
    holdDown: obj({
      enabled: z.boolean().default(true),
      delayMs: ms().default(5000),
      threshold: int(1, 10_000_000).default(50),
      windowMs: ms().min(1).default(200),
    })
      .superRefine((h, ctx) => {
        if (h.enabled && h.delayMs === 0) {
          ctx.addIssue({
            code: 'custom',
            path: ['delayMs'],
            message: 'hold-down with delayMs 0 holds nothing; give a delay (e.g. 5000) or set enabled: false',
          });
        }
      })
      .default({}),
    batchDelayMs: ms().default(0),
    resyncMinIntervalMs: ms().default(1000),
  }).default({});

// ---- handlers ---------------------------------------------------------------

const moduleItemSchema = () =>
  obj({
    type: z.literal(MODULE_HANDLER_TYPE).optional(),
    name: identifier().optional(),
    module: nonEmpty(),
    options: z.record(z.unknown()).default({}),
  });

/** `{ type: <built-in>, name?, ...options }` or `{ module: "./file.mjs" | "package", name?, options? }`. */
const handlerItemSchema = (names: NameResolver) =>
  z.unknown().transform((v, ctx): HandlerSpec => {
    if (!isPlainObject(v)) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a handler: { type: ${HANDLER_TYPES.join('|')}, ... } or { module: ./file.mjs, options: {...} }; got ${describeValue(v)}`,
      });
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
        code: 'custom',
        path: ['type'],
        message:
          type === undefined
            ? `required: the handler type, one of ${HANDLER_TYPES.join(', ')} (or module: <path> for your own)`
            : `unknown handler type ${describeValue(type)}; expected one of ${HANDLER_TYPES.join(', ')}${typeof type === 'string' ? didYouMean(type, HANDLER_TYPES) : ''}`,
      });
      return z.NEVER;
    }
    const nameOk = name === undefined || identifier().safeParse(name).success;
    if (!nameOk)
      ctx.addIssue({
        code: 'custom',
        path: ['name'],
        message: `expected 1-63 letters, digits, "_", "." or "-", starting with a letter or digit; got ${describeValue(name)}`,
      });
    const n = name === undefined ? (type as string) : (name as string);
    const parsed = subParse(b.optionsSchema(names), options, ctx);
    return { name: n, type: b.type, options: parsed as Record<string, unknown> };
  });

// ---- control, metrics, log -----------------------------------------------------

const controlSchema = () =>
  obj({
    socket: nonEmpty()
      .refine((p) => p.startsWith('/'), 'must be an absolute path')
      .default('/run/rtreflect/control.sock'),
    /** Group allowed to use the socket besides root. */
    group: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_.-]*\$?$/, 'must be a group name')
      .optional(),
    /** Socket file mode: octal text ("0660") or a number. */
    mode: z
      .unknown()
      .transform((v, ctx) => {
        const n = typeof v === 'string' && /^0?[0-7]{3}$/.test(v) ? parseInt(v, 8) : typeof v === 'number' && Number.isInteger(v) ? v : NaN;
        if (!(n >= 0 && n <= 0o777)) {
          ctx.addIssue({ code: 'custom', message: `expected an octal file mode like "0660", got ${describeValue(v)}` });
          return z.NEVER;
        }
        return n;
      })
      .default('0660'),
  }).default({});

const metricsSchema = () =>
  obj({
    /** "127.0.0.1:9469" to serve Prometheus metrics; off (null) by default. */
    listen: hostPort().nullable().default(null),
  }).default({});

const logSchema = () =>
  obj({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    /** Unset: pretty on a terminal, JSON lines otherwise. */
    format: z.enum(['json', 'pretty']).optional(),
  }).default({});

// ---- the whole file ---------------------------------------------------------------

export function buildConfigSchema(names: NameResolver) {
  const sinkSchema = tagged('type', Object.fromEntries(SINK_TYPES.map((t) => [t.type, t.optionsSchema(names)])), 'sink');
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
    const sinks = c.sinks.map((s) => ({ ...s, name: s.name ?? s.type }) as SinkConfig);
    const seenSinks = new Map<string, number>();
    sinks.forEach((s, i) => {
      const prev = seenSinks.get(s.name);
      if (prev !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['sinks', i, 'name'],
          message: `sink name "${s.name}" is already used by sinks[${prev}]; give each sink a distinct name`,
        });
      else seenSinks.set(s.name, i);
    });
    const seenHandlers = new Map<string, number>();
    c.handlers.forEach((h, i) => {
      const prev = seenHandlers.get(h.name);
      if (prev !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['handlers', i, 'name'],
          message: `handler name "${h.name}" is already used by handlers[${prev}]; give each handler a distinct name`,
        });
      else seenHandlers.set(h.name, i);
    });
    return { ...c, sinks };
  });
}

type Parsed = z.output<ReturnType<typeof buildConfigSchema>>;
export type { SinkConfig };

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
  c.sinks.forEach((s, i) => {
    for (const [path, message] of sinkType(s.type)?.configWarnings?.(s, { vrfs, hasModuleHandlers: hasModules }) ?? [])
      out.push([`sinks[${i}].${path}`, message]);
  });
  return out;
}
