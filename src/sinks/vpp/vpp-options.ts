/**
 * The VPP sink's options: the schema the config embeds, the only place their
 * defaults are written. Sinks built without the config get them through
 * `sinkOptions(vppSinkType, {...})`.
 */
import { z } from 'zod';
import { backoffSchema, identifier, int, ms, nonEmpty, obj, tableKeyedRecord } from '../../config/schema-helpers.js';
import type { NameResolver } from '../../config/name-resolver.js';
import { sinkOptionsSchema } from '../sink-type.js';

export const vppOptionsSchema = (names: NameResolver) =>
  sinkOptionsSchema('vpp', {
    /** VPP's API socket (`socksvr { socket-name … }`). */
    socket: nonEmpty().default('/run/vpp/api.sock'),
    /** Directory with the running VPP's *.api.json (searched recursively: core/, plugins/). */
    apiDir: nonEmpty().default('/usr/share/vpp/api'),
    /**
     * FIB source rtreflect allocates (fib_source_add) so its routes are its own.
     * Priority: lower wins; VPP's API source is 128 (0x80) and CLI 129, so the
     * default 130 lets routes an operator adds by hand override ours.
     */
    fibSource: obj({ name: z.string().min(1).max(63).default('rtreflect'), priority: int(0, 255).default(130) }).default({}),
    /** Kernel table (name or number) → VPP table id. Unlisted: 254 (main) and 255 (local) → 0, others 1:1. */
    tables: tableKeyedRecord(names, int(0, 0xfffffffe)).default({}),
    /** VRF name (set by handlers) → VPP table id. Routes with an unmapped VRF are skipped. */
    vrfTables: z.record(identifier(), int(0, 0xfffffffe)).default({}),
    /** Kernel interface name → VPP interface name (e.g. "eth1": "host-eth1"), used when linux-cp has no pair for it. */
    interfaces: z.record(z.string().min(1).max(15), z.string().min(1).max(63)).default({}),
    /** Use linux-cp interface pairs (when the lcp plugin is loaded) to map kernel interfaces. */
    useLinuxCp: z.boolean().default(true),
    /** Create VPP tables (ip_table_add_del) a route needs that do not exist. */
    createTables: z.boolean().default(true),
    /** Largest apply() batch the engine should hand over. */
    batchSize: int(1, 100_000).default(512),
    /** Requests in flight at once. */
    window: int(1, 65_536).default(512),
    requestTimeoutMs: ms().min(10).default(10_000),
    connectTimeoutMs: ms().min(10).default(5000),
    backoff: backoffSchema(500, 30_000).default({}),
    /** Default: keep our routes when rtreflect stops, so the FIB keeps forwarding across agent restarts. */
    shutdown: obj({ withdraw: z.boolean().default(false), graceMs: ms().default(0) }).default({}),
  });

/** The VPP sink's options, every default filled in. */
export type VppSinkOptions = z.output<ReturnType<typeof vppOptionsSchema>> & { name: string };
