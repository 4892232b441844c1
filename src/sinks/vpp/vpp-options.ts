import { z } from 'zod';
import { RtreflectError } from '../../util/errors.js';

/** Options of the VPP sink. Every field has a default (see VPP_SINK_DEFAULTS). */
export interface VppSinkOptions {
  /** Sink name in logs, status and metrics. */
  name: string;
  /** VPP's API socket (`socksvr { socket-name … }`). */
  socket: string;
  /** Directory with the running VPP's *.api.json (searched recursively: core/, plugins/). */
  apiDir: string;
  /**
   * FIB source rtreflect allocates (fib_source_add) so its routes are its own.
   * Priority: lower wins; VPP's API source is 128 (0x80) and CLI 129, so the
   * default 130 lets routes an operator adds by hand override ours.
   */
  fibSource: { name: string; priority: number };
  /** Kernel table id → VPP table id. Defaults: 254 (main) and 255 (local) → 0, others 1:1. */
  tables: Record<string, number>;
  /** VRF name (set by handlers) → VPP table id. Routes with an unmapped VRF are skipped. */
  vrfTables: Record<string, number>;
  /** Kernel interface name → VPP interface name (e.g. "eth1": "host-eth1"), used when linux-cp has no pair for it. */
  interfaces: Record<string, string>;
  /** Use linux-cp interface pairs (when the lcp plugin is loaded) to map kernel interfaces. */
  useLinuxCp: boolean;
  /** Create VPP tables (ip_table_add_del) a route needs that do not exist. */
  createTables: boolean;
  /** Largest apply() batch the engine should hand over. */
  batchSize: number;
  /** Requests in flight at once. */
  window: number;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  backoff: { initialMs: number; maxMs: number };
  /** VPP default: keep our routes when rtreflect stops, so the FIB keeps forwarding across agent restarts. */
  shutdown: { withdraw: boolean; graceMs: number };
}

export const VPP_SINK_DEFAULTS: VppSinkOptions = {
  name: 'vpp',
  socket: '/run/vpp/api.sock',
  apiDir: '/usr/share/vpp/api',
  fibSource: { name: 'rtreflect', priority: 130 },
  tables: {},
  vrfTables: {},
  interfaces: {},
  useLinuxCp: true,
  createTables: true,
  batchSize: 512,
  window: 512,
  requestTimeoutMs: 10_000,
  connectTimeoutMs: 5_000,
  backoff: { initialMs: 500, maxMs: 30_000 },
  shutdown: { withdraw: false, graceMs: 0 },
};

const tableId = z.number().int().min(0).max(0xfffffffe);

/** Schema of the user-facing options (all optional); config loaders can embed it. */
export const vppSinkOptionsSchema = z.object({
  name: z.string().min(1).optional(),
  socket: z.string().min(1).optional(),
  apiDir: z.string().min(1).optional(),
  fibSource: z.object({
    name: z.string().min(1).max(63).optional(),
    priority: z.number().int().min(0).max(255).optional(),
  }).strict().optional(),
  tables: z.record(z.string().regex(/^\d+$/, 'kernel table ids are numbers'), tableId).optional(),
  vrfTables: z.record(z.string().min(1), tableId).optional(),
  interfaces: z.record(z.string().min(1).max(15), z.string().min(1).max(63)).optional(),
  useLinuxCp: z.boolean().optional(),
  createTables: z.boolean().optional(),
  batchSize: z.number().int().min(1).max(100_000).optional(),
  window: z.number().int().min(1).max(65_536).optional(),
  requestTimeoutMs: z.number().int().min(10).optional(),
  connectTimeoutMs: z.number().int().min(10).optional(),
  backoff: z.object({ initialMs: z.number().int().min(1).optional(), maxMs: z.number().int().min(1).optional() }).strict().optional(),
  shutdown: z.object({ withdraw: z.boolean().optional(), graceMs: z.number().int().min(0).optional() }).strict().optional(),
}).strict();

export type VppSinkOptionsInput = z.input<typeof vppSinkOptionsSchema>;

/** Validates user options and fills in defaults; bad input gets an ERR_CONFIG naming the field. */
export function resolveVppSinkOptions(input: unknown = {}): VppSinkOptions {
  const r = vppSinkOptionsSchema.safeParse(input ?? {});
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
    throw new RtreflectError('ERR_CONFIG', `invalid VPP sink options: ${msg}`);
  }
  const o = r.data;
  const d = VPP_SINK_DEFAULTS;
  const out: VppSinkOptions = {
    name: o.name ?? d.name,
    socket: o.socket ?? d.socket,
    apiDir: o.apiDir ?? d.apiDir,
    fibSource: { name: o.fibSource?.name ?? d.fibSource.name, priority: o.fibSource?.priority ?? d.fibSource.priority },
    tables: { ...(o.tables ?? {}) },
    vrfTables: { ...(o.vrfTables ?? {}) },
    interfaces: { ...(o.interfaces ?? {}) },
    useLinuxCp: o.useLinuxCp ?? d.useLinuxCp,
    createTables: o.createTables ?? d.createTables,
    batchSize: o.batchSize ?? d.batchSize,
    window: o.window ?? d.window,
    requestTimeoutMs: o.requestTimeoutMs ?? d.requestTimeoutMs,
    connectTimeoutMs: o.connectTimeoutMs ?? d.connectTimeoutMs,
    backoff: { initialMs: o.backoff?.initialMs ?? d.backoff.initialMs, maxMs: o.backoff?.maxMs ?? d.backoff.maxMs },
    shutdown: { withdraw: o.shutdown?.withdraw ?? d.shutdown.withdraw, graceMs: o.shutdown?.graceMs ?? d.shutdown.graceMs },
  };
  if (out.backoff.maxMs < out.backoff.initialMs) {
    throw new RtreflectError('ERR_CONFIG', `invalid VPP sink options: backoff.maxMs (${out.backoff.maxMs}) is below backoff.initialMs (${out.backoff.initialMs})`);
  }
  return out;
}
