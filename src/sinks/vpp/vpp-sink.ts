import type { ApplyReport, Sink, SinkCapabilities, SinkChange, SinkConnectionState, SinkHooks, SinkProjection, SinkStatusExtra } from '../../engine/sink.js';
import type { ReflectedRoute } from '../../engine/reflected-route.js';
import { RtreflectError } from '../../util/errors.js';
import { silentLogger, type Logger } from '../../util/logger.js';
import { loadApiDefs, type ApiDefsData } from './vpp-api-defs.js';
import { VppClient } from './vpp-client.js';
import { VppCodec } from './vpp-codec.js';
import { readInterfaceMap } from './vpp-interface-map.js';
import type { VppSinkOptions } from './vpp-options.js';
import { ReconnectLoop } from './vpp-reconnect-loop.js';
import { VppRouteProjection } from './vpp-route-projection.js';
import { VppRouteReader } from './vpp-route-reader.js';
import { VppRouteWriter } from './vpp-route-writer.js';
import { newVppSinkContext, type VppSinkContext } from './vpp-sink-context.js';

/**
 * The VPP dataplane: routes go into VPP's FIB under a FIB source of
 * rtreflect's own (fib_source_add), with the _v2 route messages, so that they
 * are distinguishable from every other client's and can be read back and
 * deleted without touching anybody else's.
 *
 * This class is the connection (start, setup on every connect, stop) and the
 * engine's Sink; where routes go is VppRouteProjection's, writing them
 * VppRouteWriter's and reading them back VppRouteReader's.
 */

export interface VppSinkDeps {
  logger?: Logger;
  /** Definitions already loaded (tests); otherwise read from options.apiDir at start(). */
  defs?: ApiDefsData;
}

class VppSink implements Sink {
  readonly kind = 'vpp';
  readonly name: string;
  readonly shutdownPolicy: { withdraw: boolean; graceMs: number };
  readonly batchSize: number;
  /**
   * apply() waits for VPP's answers: a second batch keeps VPP busy while the engine prepares the next.
   * No stableProjection: a path's interface is VPP's sw_if_index for the kernel's, a mapping that changes while the sink runs.
   */
  readonly capabilities: SinkCapabilities = { maxBatchesInFlight: 2 };

  private readonly opts: VppSinkOptions;
  private readonly ctx: VppSinkContext;
  private readonly projection: VppRouteProjection;
  private readonly writer: VppRouteWriter;
  private readonly reader: VppRouteReader;
  private hooks: SinkHooks | undefined;
  private client: VppClient | undefined;
  private codec: VppCodec | undefined;
  private loop: ReconnectLoop | undefined;
  private st: SinkConnectionState = 'down';
  private lastError: string | undefined;

  constructor(
    opts: VppSinkOptions,
    private readonly deps: VppSinkDeps,
  ) {
    this.opts = opts;
    this.name = opts.name;
    this.shutdownPolicy = { ...opts.shutdown };
    this.batchSize = opts.batchSize;
    this.ctx = newVppSinkContext(opts, deps.logger ?? silentLogger());
    this.projection = new VppRouteProjection(this.ctx);
    this.writer = new VppRouteWriter(this.ctx, this.projection);
    this.reader = new VppRouteReader(this.ctx);
  }

  private get logger(): Logger {
    return this.ctx.logger;
  }

  state(): SinkConnectionState {
    return this.st;
  }

  private setState(s: SinkConnectionState, detail?: string): void {
    this.st = s;
    this.hooks?.onState(s, detail);
  }

  async start(hooks: SinkHooks): Promise<void> {
    this.hooks = hooks;
    this.ctx.logger = (this.deps.logger ?? hooks.logger).child({ sink: this.name });
    this.setState('connecting');
    const defs = this.deps.defs ?? loadApiDefs(this.opts.apiDir);
    const codec = new VppCodec(defs, { skipOnDecode: ['label_stack'] });
    this.codec = codec;
    const client = new VppClient(codec, {
      socket: this.opts.socket,
      clientName: `rtreflect-${this.name}`,
      window: this.opts.window,
      requestTimeoutMs: this.opts.requestTimeoutMs,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      logger: this.logger,
      onClose: (err) => {
        this.lastError = err.message;
        this.logger.warn({ err: err.message }, 'VPP API connection lost; reconnecting');
        this.setState('down', err.message);
        this.loop?.schedule();
      },
    });
    this.client = client;
    this.loop = new ReconnectLoop(
      client,
      this.opts.backoff,
      () => this.setup(),
      () => {
        this.ctx.counters.reconnects++;
        this.logger.info({ mode: this.ctx.mode, fibSource: this.ctx.srcId }, 'VPP API connection re-established; resync needed');
        this.setState('up');
        hooks.onResyncNeeded('VPP API connection re-established (VPP may have restarted)');
      },
      (err, retryInMs) => {
        this.lastError = err.message;
        this.logger.warn({ err: err.message, retryInMs }, 'VPP API connection attempt failed');
        this.setState('down', err.message);
      },
    );
    try {
      await client.connect();
      await this.setup();
    } catch (err) {
      const e = err as RtreflectError;
      // VPP not (yet) there: keep trying in the background. A version mismatch or bad definitions: fail now.
      if (e.code === 'ERR_VPP_CONNECT' || e.code === 'ERR_VPP_DISCONNECTED' || e.code === 'ERR_VPP_TIMEOUT') {
        this.lastError = e.message;
        this.logger.warn({ err: e.message }, 'VPP is not reachable yet; retrying in the background');
        if (client.connected) await client.close();
        this.setState('down', e.message);
        this.loop.schedule();
        return;
      }
      await client.close().catch(() => undefined);
      this.setState('down', e.message);
      throw err;
    }
    this.setState('up');
  }

  /** Runs on every new connection: checks versions, finds our FIB source, learns tables and interfaces. */
  private async setup(): Promise<void> {
    const c = this.client!;
    const v2 = ['fib_source_add', 'fib_source_dump', 'ip_route_add_del_v2', 'ip_route_v2_dump'];
    const st = v2.map((n) => ({ n, s: c.status(n) }));
    // A message VPP has in another version means our definitions are wrong: never misencode, refuse.
    const crcBad = st.filter((x) => !x.s.ok && x.s.reason === 'crc').map((x) => x.n);
    if (crcBad.length) c.require(crcBad);
    const mode = st.every((x) => x.s.ok) ? 'v2' : 'v1';
    if (mode === 'v1' && this.ctx.mode !== 'v1') {
      this.logger.warn(
        { missing: st.filter((x) => !x.s.ok).map((x) => x.n) },
        'this VPP lacks the _v2 route messages or fib_source_add: falling back to ip_route_add_del under the shared API source; rtreflect tracks the routes it wrote in memory only, so after an rtreflect restart stale routes are not removed',
      );
    }
    this.ctx.mode = mode;
    c.require(['control_ping', 'ip_table_add_del', 'ip_table_dump', 'sw_interface_dump', ...(mode === 'v2' ? v2 : ['ip_route_add_del', 'ip_route_dump'])]);
    if (mode === 'v2') this.ctx.srcId = await this.findOrAddSource();
    this.ctx.shadowed.clear();
    await this.writer.learnTables(c);
    await this.refreshInterfaces();
  }

  private async findOrAddSource(): Promise<number> {
    const c = this.client!;
    const { name, priority } = this.opts.fibSource;
    for (const d of await c.dump('fib_source_dump')) {
      const s = d.src as { name: string; id: number; priority: number };
      if (s.name === name) {
        if (s.priority !== priority) {
          this.logger.warn(
            { source: name, vppPriority: s.priority, configured: priority },
            'FIB source exists in VPP with another priority; VPP cannot change it until it restarts',
          );
        }
        return s.id;
      }
    }
    const r = await c.call('fib_source_add', { src: { name, priority, id: 0 } });
    return r.id as number;
  }

  private async refreshInterfaces(): Promise<void> {
    const map = await readInterfaceMap(this.client!, this.opts, this.logger);
    this.projection.useInterfaces(map);
    this.logger.debug({ lcpPairs: map.lcpPairs, mapped: map.byName.size }, 'VPP interface map refreshed');
  }

  keyOf(route: ReflectedRoute): string | null {
    return this.projection.keyOf(route);
  }

  project(route: ReflectedRoute): SinkProjection {
    return this.projection.project(route);
  }

  private requireUp(what: string): VppClient {
    const c = this.client;
    if (!c || !c.connected || this.st !== 'up') throw new RtreflectError('ERR_VPP_DISCONNECTED', `VPP sink ${this.name} is ${this.st}; cannot ${what}`);
    return c;
  }

  async apply(changes: SinkChange[]): Promise<ApplyReport> {
    const c = this.requireUp('apply changes');
    return this.writer.apply(c, this.codec!, changes);
  }

  async readOwned(): Promise<Map<string, string>> {
    const c = this.requireUp('read its routes');
    // Interfaces may have changed while we were away; projections after a resync use the fresh map.
    await this.refreshInterfaces();
    return this.reader.readOwned(c, this.codec!);
  }

  async stop(opts: { withdraw: boolean }): Promise<void> {
    this.loop?.stop();
    const c = this.client;
    try {
      if (opts.withdraw && c?.connected && this.st === 'up') {
        const owned = await this.readOwned();
        const dels: SinkChange[] = [...owned].map(([key, fingerprint]) => ({ op: 'delete', key, fingerprint }));
        for (let i = 0; i < dels.length; i += this.batchSize) {
          const rep = await this.apply(dels.slice(i, i + this.batchSize));
          if (rep.failed.length) this.logger.warn({ failed: rep.failed.length, first: rep.failed[0] }, 'some routes could not be withdrawn from VPP');
        }
        this.logger.info({ withdrawn: dels.length }, 'withdrew rtreflect routes from VPP');
      }
    } finally {
      await c?.close();
      this.setState('stopped');
    }
  }

  statusExtra(): SinkStatusExtra {
    return {
      socket: this.opts.socket,
      mode: this.ctx.mode ?? 'unknown',
      fibSourceId: this.ctx.mode === 'v2' ? this.ctx.srcId : undefined,
      shadowed: this.ctx.mode === 'v2' ? this.ctx.shadowed.count : undefined,
      ...this.ctx.counters,
      unmappedInterfaces: this.projection.unmapped(),
      lastError: this.lastError,
    };
  }
}

/** A VPP sink (options as vppSinkType's schema gives them); construction has no side effects. */
export function createVppSink(options: VppSinkOptions, deps: VppSinkDeps = {}): Sink {
  return new VppSink(options, deps);
}
