import { DEFAULT_PROTO_DIR } from './gobgp-api.js';

export interface GobgpVrfOptions {
  /** Route distinguisher: "65000:1", "4200000000:1" or "192.0.2.1:1". */
  rd: string;
  /** Route targets (import and export unless given separately). */
  rt?: string[];
  importRt?: string[];
  exportRt?: string[];
  /** GoBGP's VRF id (also used as the zebra table); 0 lets gobgpd choose. */
  id?: number;
}

export interface GobgpSinkOptions {
  name: string;
  /** gobgpd's gRPC API: "host:port", "[v6]:port", or "unix:/path". */
  address: string;
  /** Directory with GoBGP's gobgp.proto, attribute.proto, capability.proto. */
  protoDir: string;
  /** Routes per apply() call; paths are streamed ~1000 per AddPathStream message. */
  batchSize: number;
  /** AddPathStreams written in parallel (each key always in the same one): gobgpd decodes one while it applies another. */
  streams: number;
  /**
   * The mark rtreflect puts on every path it injects; readOwned lists only local
   * paths that carry it. Exactly one of the two. Default: large community
   * 4294967294:0:1, in the private-use ASN range (RFC 6996), so it cannot clash
   * with a public AS's community scheme. NOT 65535:65281: that is NO_EXPORT.
   * The mark is transitive: strip it in gobgpd's export policy if peers must not see it.
   */
  ownership: { community?: string; largeCommunity?: string };
  /** VRFs the sink may create (createVrfs) or expects to exist. */
  vrfs: Record<string, GobgpVrfOptions>;
  /** Create missing VRFs listed in `vrfs` with AddVrf; otherwise a route for a missing VRF fails naming it. */
  createVrfs: boolean;
  shutdown: { withdraw: boolean; graceMs: number };
  connectTimeoutMs: number;
  /** Deadline for each unary call and for each ListPath/AddPathStream. */
  callTimeoutMs: number;
  /** How often to check that gobgpd still answers while up. */
  healthIntervalMs: number;
  backoff: { initialMs: number; maxMs: number; /** 0..1: each delay is scaled by a random factor in [1-jitter, 1+jitter]. */ jitter: number };
}

export const GOBGP_SINK_DEFAULTS: Omit<GobgpSinkOptions, 'name'> = {
  address: '127.0.0.1:50051',
  protoDir: DEFAULT_PROTO_DIR,
  batchSize: 1000,
  streams: 2,
  ownership: { largeCommunity: '4294967294:0:1' },
  vrfs: {},
  createVrfs: false,
  shutdown: { withdraw: true, graceMs: 5000 },
  connectTimeoutMs: 5000,
  callTimeoutMs: 120_000,
  healthIntervalMs: 2000,
  backoff: { initialMs: 200, maxMs: 10_000, jitter: 0.2 },
};

/** Paths per AddPathStream message (measured best around 1000). */
export const PATHS_PER_MESSAGE = 1000;

export function withGobgpDefaults(o: Partial<GobgpSinkOptions> & { name: string }): GobgpSinkOptions {
  const d = GOBGP_SINK_DEFAULTS;
  return {
    ...d,
    ...o,
    ownership: o.ownership ?? d.ownership,
    vrfs: o.vrfs ?? d.vrfs,
    shutdown: { ...d.shutdown, ...o.shutdown },
    backoff: { ...d.backoff, ...o.backoff },
  };
}
