/**
 * The GoBGP sink: injects reflected routes into gobgpd's RIB over its gRPC API. This is the
 * engine's Sink put together from its parts:
 *
 * - gobgp-connection.ts: connecting, health, going down and up (then a resync: gobgpd forgets
 *   injected paths when it restarts);
 * - gobgp-writer.ts: apply and flush, over AddPathStreams; writes are serialized among themselves;
 * - gobgp-rib-reader.ts: readOwned, which runs beside writes;
 * - path-planner.ts: a route → its paths, each carrying the ownership mark readOwned looks for.
 */
import { RtreflectError } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import type { ReflectedRoute } from '../../engine/reflected-route.js';
import type { ApplyReport, Sink, SinkCapabilities, SinkChange, SinkConnectionState, SinkHooks, SinkProjection, SinkStatusExtra } from '../../engine/sink.js';
import { loadGobgpApi, type GobgpClient } from './gobgp-api.js';
import { PathPlanner } from './path-planner.js';
import type { GobgpSinkOptions } from './gobgp-options.js';
import { gobgpKey, parseOwnershipMark, type OwnershipMark } from './gobgp-paths.js';
import { GobgpConnection, errText } from './gobgp-connection.js';
import { GobgpVrfs } from './gobgp-vrfs.js';
import { GobgpWriter } from './gobgp-writer.js';
import { GobgpRibReader } from './gobgp-rib-reader.js';

export type { GobgpSinkOptions } from './gobgp-options.js';

export function createGobgpSink(options: GobgpSinkOptions, deps: { logger: Logger }): Sink & { readonly client: GobgpClient | undefined } {
  return new GobgpSink(options, deps.logger);
}

class GobgpSink implements Sink {
  readonly kind = 'gobgp';
  readonly name: string;
  readonly shutdownPolicy: { withdraw: boolean; graceMs: number };
  readonly batchSize: number;
  /** A path is planned from the route, the ownership mark and the loaded protos: nothing gobgpd says changes it. */
  readonly capabilities: SinkCapabilities = { stableProjection: true };

  private readonly opts: GobgpSinkOptions;
  private readonly mark: OwnershipMark;
  private readonly vrfs: GobgpVrfs;
  private readonly connection: GobgpConnection;
  private readonly writer: GobgpWriter;
  private readonly reader: GobgpRibReader;
  /** Plans routes into paths; keeps per-next-hop-set templates (a WeakMap), made on first use. */
  private planner: PathPlanner | undefined;

  constructor(opts: GobgpSinkOptions, logger: Logger) {
    this.opts = opts;
    this.name = opts.name;
    this.batchSize = opts.batchSize;
    if (!(Number.isInteger(opts.streams) && opts.streams >= 1 && opts.streams <= 16))
      throw new RtreflectError('ERR_GOBGP_CONFIG', `gobgp sink "${opts.name}": streams must be an integer 1..16`);
    this.shutdownPolicy = { ...opts.shutdown };
    this.mark = parseOwnershipMark(opts.ownership);
    if (!(Number.isInteger(opts.batchSize) && opts.batchSize > 0))
      throw new RtreflectError('ERR_GOBGP_CONFIG', `gobgp sink "${opts.name}": batchSize must be a positive integer`);
    this.vrfs = new GobgpVrfs(opts);
    this.connection = new GobgpConnection(opts, this.vrfs, logger, () => this.writer.forgetStreams());
    this.writer = new GobgpWriter(opts.name, opts.streams, this.connection, this.vrfs, () => this.pathPlanner());
    this.reader = new GobgpRibReader(opts.name, this.mark, this.connection, this.vrfs, this.writer);
  }

  get client(): GobgpClient | undefined {
    return this.connection.client;
  }

  state(): SinkConnectionState {
    return this.connection.state();
  }

  statusExtra(): SinkStatusExtra {
    const lastError = this.connection.lastError;
    return { address: this.opts.address, vrfs: this.vrfs.names(), ...(lastError ? { lastError } : {}) };
  }

  start(hooks: SinkHooks): Promise<void> {
    return this.connection.start(hooks);
  }

  project(route: ReflectedRoute): SinkProjection {
    // apply() plans the route again from the change: planning is deterministic, and keeping plans between the two would hold one per dirty key.
    return this.pathPlanner().plan(route);
  }

  /** Its encoder speaks the schema of the protos the client loads. */
  private pathPlanner(): PathPlanner {
    return (this.planner ??= new PathPlanner(this.mark, loadGobgpApi(this.opts.protoDir).encoder));
  }

  keyOf(route: ReflectedRoute): string {
    return gobgpKey(route.vrf, route.prefix);
  }

  async readOwned(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    await this.readOwnedEach((key, fp) => out.set(key, fp));
    return out;
  }

  readOwnedEach(each: (key: string, fingerprint: string) => void): Promise<void> {
    return this.reader.readOwnedEach(each);
  }

  apply(changes: SinkChange[]): Promise<ApplyReport> {
    return this.writer.apply(changes);
  }

  flush(when?: 'idle' | 'resync'): Promise<void> {
    return this.writer.flush(when);
  }

  async stop(opts: { withdraw: boolean }): Promise<void> {
    if (this.connection.isStopped) return;
    try {
      if (opts.withdraw && this.state() === 'up') await this.withdrawOwned();
    } finally {
      if (this.state() === 'up') await this.flush().catch(() => undefined);
      this.connection.halt();
      await this.writer.idle();
      this.connection.close();
    }
  }

  /** On stop with withdraw: delete every path we own, batch by batch, then give peers the grace time. */
  private async withdrawOwned(): Promise<void> {
    const log = this.connection.log;
    try {
      const owned = await this.readOwned();
      const changes: SinkChange[] = [...owned].map(([key, fingerprint]) => ({ op: 'delete', key, fingerprint }));
      let failed = 0;
      for (let i = 0; i < changes.length; i += this.batchSize) {
        failed += (await this.apply(changes.slice(i, i + this.batchSize))).failed.length;
      }
      log.info({ withdrawn: changes.length - failed, failed }, 'withdrew owned paths from gobgpd');
      if (changes.length && this.shutdownPolicy.graceMs > 0) await new Promise((r) => setTimeout(r, this.shutdownPolicy.graceMs));
    } catch (e) {
      log.warn({ err: errText(e) }, 'withdrawing paths on stop failed');
    }
  }
}
