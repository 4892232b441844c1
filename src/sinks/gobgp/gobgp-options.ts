/**
 * The GoBGP sink's options: the schema the config embeds, the only place their
 * defaults are written. Sinks built without the config get them through
 * `sinkOptions(gobgpSinkType, {...})`.
 */
import { z } from 'zod';
import { isIP } from 'node:net';
import { address, hostPortProblem, identifier, int, ms, nonEmpty, obj, u32 } from '../../config/schema-helpers.js';
import { communitySchema, largeCommunitySchema, routeDistinguisherSchema, routeTargetSchema } from '../../config/bgp-formats.js';
import { sinkOptionsSchema } from '../sink-type.js';
import { DEFAULT_PROTO_DIR } from './gobgp-api.js';

interface SidecarCommon {
  binary: string;
  neighbors: {
    address: string;
    peerAs: number;
    addPaths: boolean;
    families?: ('ipv4-unicast' | 'ipv6-unicast')[];
    localAddress?: string;
    description?: string;
    authPassword?: string;
    ebgpMultihop?: number;
    extendedNexthop?: boolean;
  }[];
  global?: { as: number; routerId: string; listenPort: number; listenAddresses?: string[] };
}
/** With `enabled: true`, `global` is always there. */
export type SidecarConfig = (SidecarCommon & { enabled: false }) | (SidecarCommon & { enabled: true; global: NonNullable<SidecarCommon['global']> });

export const gobgpOptionsSchema = () =>
  sinkOptionsSchema('gobgp', {
    /** gobgpd's gRPC API: "host:port", "[v6]:port" or "unix:/path". */
    address: z
      .string()
      .superRefine((v, ctx) => {
        if (v.startsWith('unix:')) {
          if (v.length <= 5) ctx.addIssue({ code: 'custom', message: '"unix:" needs a socket path, e.g. unix:/run/gobgpd.sock' });
          return;
        }
        const p = hostPortProblem(v);
        if (p) ctx.addIssue({ code: 'custom', message: `${p}; or "unix:/path/to/socket"` });
      })
      .default('127.0.0.1:50051'),
    /** Directory with GoBGP's gobgp.proto, attribute.proto, capability.proto. */
    protoDir: nonEmpty().default(DEFAULT_PROTO_DIR),
    /** Routes per apply() call; paths are streamed PATHS_PER_MESSAGE per AddPathStream message. */
    batchSize: int(1, 1_000_000).default(1000),
    /** AddPathStreams written in parallel (each key always in the same one): gobgpd decodes one while it applies another. */
    streams: int(1, 16).default(2),
    /**
     * The mark rtreflect puts on every path it injects; readOwned lists only local
     * paths that carry it. Exactly one of the two. Default: large community
     * 4294967294:0:1, in the private-use ASN range (RFC 6996), so it cannot clash
     * with a public AS's community scheme. NOT 65535:65281: that is NO_EXPORT.
     * The mark is transitive: strip it in gobgpd's export policy if peers must not see it.
     */
    ownership: obj({
      community: communitySchema().optional(),
      largeCommunity: largeCommunitySchema().optional(),
    })
      .superRefine((o, ctx) => {
        if (o.community && o.largeCommunity)
          ctx.addIssue({ code: 'custom', message: "give community or largeCommunity, not both: one mark identifies rtreflect's paths" });
      })
      .transform((o) => (o.community || o.largeCommunity ? o : { largeCommunity: '4294967294:0:1' }))
      .default({}),
    /** VRFs the sink may create (createVrfs) or expects to exist. */
    vrfs: z
      .record(
        identifier(),
        obj({
          /** Route distinguisher: "65000:1", "4200000000:1" or "192.0.2.1:1". */
          rd: routeDistinguisherSchema(),
          /** Route targets (import and export unless given separately). */
          rt: z.array(routeTargetSchema()).optional(),
          importRt: z.array(routeTargetSchema()).optional(),
          exportRt: z.array(routeTargetSchema()).optional(),
          /** GoBGP's VRF id (also used as the zebra table); 0 lets gobgpd choose. */
          id: u32().optional(),
        }),
      )
      .default({}),
    /** Create missing VRFs listed in `vrfs` with AddVrf; otherwise a route for a missing VRF fails naming it. */
    createVrfs: z.boolean().default(false),
    shutdown: obj({ withdraw: z.boolean().default(true), graceMs: ms().default(5000) }).default({}),
    connectTimeoutMs: ms().min(1).default(5000),
    /** Deadline for each unary call and for each ListPath/AddPathStream. */
    callTimeoutMs: ms().min(1).default(120_000),
    /** How often to check that gobgpd still answers while up. */
    healthIntervalMs: ms().min(1).default(2000),
    backoff: obj({
      initialMs: ms().min(1).default(200),
      maxMs: ms().min(1).default(10_000),
      /** 0..1: each delay is scaled by a random factor in [1-jitter, 1+jitter]. */
      jitter: z.number().min(0).max(1).default(0.2),
    })
      .superRefine((b, ctx) => {
        if (b.maxMs < b.initialMs) ctx.addIssue({ code: 'custom', path: ['maxMs'], message: `maxMs ${b.maxMs} is below initialMs ${b.initialMs}` });
      })
      .default({}),
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
      neighbors: z
        .array(
          obj({
            address: address(),
            peerAs: int(1, 0xffffffff),
            addPaths: z.boolean().default(false),
            families: z
              .array(z.enum(['ipv4-unicast', 'ipv6-unicast']))
              .min(1)
              .optional(),
            localAddress: address().optional(),
            description: z.string().optional(),
            authPassword: z.string().optional(),
            ebgpMultihop: int(1, 255).optional(),
            extendedNexthop: z.boolean().optional(),
          }),
        )
        .default([]),
    })
      .transform((s, ctx): SidecarConfig => {
        if (s.enabled && !s.global) {
          ctx.addIssue({ code: 'custom', path: ['global'], message: 'required when the sidecar is enabled: { as: <local AS>, routerId: <IPv4> }' });
          return z.NEVER;
        }
        return s as SidecarConfig;
      })
      .default({}),
  }).superRefine((s, ctx) => {
    if (s.sidecar.enabled && s.address.startsWith('unix:')) {
      ctx.addIssue({
        code: 'custom',
        path: ['address'],
        message: 'the gobgpd sidecar serves its API on TCP only; use "127.0.0.1:<port>", or disable the sidecar to use a gobgpd you run on a unix socket',
      });
    }
  });

/** The GoBGP sink's options, every default filled in. */
export type GobgpSinkOptions = z.output<ReturnType<typeof gobgpOptionsSchema>> & { name: string };

/** Paths per AddPathStream message (`bench/gobgp-bench.ts --batch N` compares sizes). */
export const PATHS_PER_MESSAGE = 1000;
