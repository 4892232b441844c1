import type { Logger } from '../util/logger.js';
import type { ReflectedRoute } from './reflected-route.js';

/**
 * What a sink makes of a desired route: its key in the dataplane and a
 * fingerprint of everything the sink would write for it. Two routes with the
 * same fingerprint need no write. The sink must be able to compute the same
 * fingerprint from what it reads back (readOwned), so that a restart with an
 * unchanged kernel writes nothing.
 */
export type SinkProjection = { key: string; fingerprint: string } | { skip: string };

/**
 * `was`: the fingerprint applied before, when there was one (what the sink may have to take away).
 * `mayHold`: other fingerprints the sink may still hold parts of: a resync read the key while a
 * write of it was under way, and reported something else (rare). A sink whose upsert replaces
 * the whole key ignores both; one that adds and withdraws parts (GoBGP's add-path identifiers)
 * takes away what any of them has and the new value has not.
 */
export type SinkChange =
  | { op: 'upsert'; key: string; fingerprint: string; route: ReflectedRoute; was?: string; mayHold?: string[] }
  | { op: 'delete'; key: string; fingerprint: string; mayHold?: string[] };

export interface ApplyReport {
  /** Keys whose change is now in the dataplane. */
  applied: string[];
  /** Keys whose change failed, with why. The engine retries them later. */
  failed: { key: string; error: string }[];
}

export type SinkConnectionState = 'connecting' | 'up' | 'down' | 'stopped';

export interface SinkHooks {
  logger: Logger;
  /**
   * The sink lost or may have lost what it holds (reconnected, or the dataplane
   * restarted and is empty again). The engine then resyncs this sink.
   */
  onResyncNeeded(reason: string): void;
  /** Connection state changed (for status and metrics). */
  onState(state: SinkConnectionState, detail?: string): void;
}

export interface SinkStatusExtra {
  [k: string]: unknown;
}

/**
 * What a sink can do beyond the contract, in one place; every switch is optional and off by default.
 */
export interface SinkCapabilities {
  /**
   * Batches apply() may have outstanding at once (default 1). A sink whose apply()
   * waits for the dataplane's answers (VPP) keeps it busy while the next batch is
   * prepared; the engine never has one key in two batches at a time.
   */
  readonly maxBatchesInFlight?: number;
  /**
   * project() depends on the route alone (and the sink's fixed options), not on dataplane state
   * such as interface indexes: the same route object projects the same way for as long as the
   * sink runs. The engine may then forget the fingerprint of a key in sync with its route and
   * work it out again when the key changes, which saves a record per route of a full table.
   */
  readonly stableProjection?: boolean;
}

/**
 * The connection side of a sink. Lifecycle: construct (no side effects) → start → stop. A sink
 * reconnects by itself and tells the engine through its hooks.
 */
export interface SinkDriver {
  readonly name: string;
  readonly kind: string;
  /** Whether to withdraw everything on shutdown, and how long to wait afterwards. */
  readonly shutdownPolicy: { withdraw: boolean; graceMs: number };
  start(hooks: SinkHooks): Promise<void>;
  stop(opts: { withdraw: boolean }): Promise<void>;
  state(): SinkConnectionState;
  statusExtra?(): SinkStatusExtra;
}

/**
 * The data side of a sink: where a route goes (keyOf, project), what the sink holds of ours
 * (readOwned), and writing (apply, flush). apply and readOwned reject while the sink is down;
 * a read may run while writes go on (the engine treats what it reports of a key written
 * meanwhile as possibly older).
 */
export interface SinkData {
  /** Largest number of changes the engine should hand to apply() at once. */
  readonly batchSize: number;
  readonly capabilities: SinkCapabilities;
  /**
   * The key project() would give, or null when the route has no place in this
   * sink at all. Cheap: the engine calls it for every route as it arrives and
   * leaves the full projection to the moment it writes.
   */
  keyOf(route: ReflectedRoute): string | null;
  project(route: ReflectedRoute): SinkProjection;
  /** key → fingerprint of every entry this sink owns in the dataplane (its own only). */
  readOwned(): Promise<Map<string, string>>;
  /**
   * The same read, each entry handed over as it arrives (no map of the whole table):
   * a resync compares while the dataplane is still sending. Optional.
   */
  readOwnedEach?(each: (key: string, fingerprint: string) => void): Promise<void>;
  apply(changes: SinkChange[]): Promise<ApplyReport>;
  /**
   * For sinks that pipeline writes: resolves when everything apply() accepted is
   * in the dataplane. The engine calls it when it has nothing left to write:
   * 'resync' before it reports a resync done (must confirm), 'idle' before it
   * calls the sink idle (a sink whose open stream reports its own failures, by
   * onResyncNeeded or by going down, may keep that stream open and return at once).
   */
  flush?(when?: 'idle' | 'resync'): Promise<void>;
}

/** A dataplane: its connection and its data side. */
export interface Sink extends SinkDriver, SinkData {}
