import type { Logger } from '../../util/logger.js';
import type { VppSinkOptions } from './vpp-options.js';
import { ShadowedKeys } from './vpp-shadowed-keys.js';

/** The VPP sink's counters, shown in its status. */
export interface VppSinkCounters {
  nextHopOnlyFallbacks: number;
  skippedUnmappedInterface: number;
  skippedLinkLocalNoInterface: number;
  skippedUnmappedVrf: number;
  reconnects: number;
  writes: number;
  writeFailures: number;
}

/**
 * What the parts of one VPP sink (projection, writer, reader) share for its lifetime. The
 * connection's facts live here, not in a snapshot per call, because the client reconnects in
 * place: a write that waited across a reconnect uses what the new connection learned.
 */
export interface VppSinkContext {
  readonly opts: VppSinkOptions;
  readonly counters: VppSinkCounters;
  /** The caller's logger until start(), then the sink's own child logger. */
  logger: Logger;
  /**
   * How this VPP takes our routes, learned on each connect: 'v2', the _v2 route messages under
   * our own FIB source `srcId`; 'v1', ip_route_add_del under the shared API source.
   */
  mode: 'v2' | 'v1' | undefined;
  srcId: number;
  /** v1 fallback: the keys rtreflect wrote (no FIB source of its own to tell them apart). */
  readonly recorded: Map<string, string>;
  /** v2: keys of ours another FIB source wins (VPP shows that source's paths there, not ours). */
  readonly shadowed: ShadowedKeys;
}

export function newVppSinkContext(opts: VppSinkOptions, logger: Logger): VppSinkContext {
  return {
    opts,
    counters: {
      nextHopOnlyFallbacks: 0,
      skippedUnmappedInterface: 0,
      skippedLinkLocalNoInterface: 0,
      skippedUnmappedVrf: 0,
      reconnects: 0,
      writes: 0,
      writeFailures: 0,
    },
    logger,
    mode: undefined,
    srcId: 0,
    recorded: new Map(),
    shadowed: new ShadowedKeys(),
  };
}

/**
 * What `make` compiles for a message, once per name; null, said once, when the definitions do
 * not fit it (the caller then falls back to the generic codec).
 */
export function compiledOnce<T>(ctx: VppSinkContext, cache: Map<string, T | null>, name: string, make: () => T, fallback: string): T | null {
  let c = cache.get(name);
  if (c === undefined) {
    try {
      c = make();
    } catch (err) {
      ctx.logger.warn({ err: (err as Error).message }, fallback);
      c = null;
    }
    cache.set(name, c);
  }
  return c;
}
