import { dirname, resolve as resolvePath } from 'node:path';
import type { Logger } from '../util/logger.js';
import { RtreflectError } from '../util/errors.js';
import { resyncText } from '../engine/sink-resync.js';
import { KernelSource, type KernelResyncInfo } from '../kernel/kernel-source.js';
import type { RouteEvent } from '../kernel/route.js';
import { Reflector } from '../engine/reflector.js';
import type { Sink } from '../engine/sink.js';
import { HandlerChain } from '../handlers/handler-chain.js';
import { loadConfig, type RtreflectConfig } from '../config/load-config.js';
import { ControlServer } from '../control/control-server.js';
import { Metrics } from '../metrics/metrics.js';
import { SystemdNotifier } from '../systemd/systemd-notifier.js';
import { sdNotify } from '../systemd/sd-notify.js';
import { createSinks, type SinkBundle } from './sink-factory.js';
import { resolverFor } from './names.js';
import { HeapCompactor } from './heap-compactor.js';

export interface DaemonOptions {
  configPath: string;
  logger: Logger;
  /** Override the config's control socket (tests, several daemons on one host). */
  controlSocket?: string;
}

/**
 * `rtreflect run`: wires the kernel source, the handler chain, the engine and
 * the sinks; owns signals, the control socket, metrics and systemd
 * notifications. Nothing touches a dataplane before the whole config has been
 * validated and every handler built.
 */
export class Daemon {
  private config!: RtreflectConfig;
  private chain!: HandlerChain;
  private reflector!: Reflector;
  private source!: KernelSource;
  private sinks!: SinkBundle;
  private control: ControlServer | undefined;
  private metrics: Metrics | undefined;
  private compactor: HeapCompactor | undefined;
  private readonly notifier: SystemdNotifier;
  private readonly started = Date.now();
  private ready = false;
  private stopping: Promise<void> | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private lastFullResync: { at: string; reason: string; durationMs: number } | undefined;
  private fullResyncRunning: Promise<void> | undefined;
  private fullResyncAgain: string | undefined;

  constructor(private readonly opts: DaemonOptions) {
    this.notifier = new SystemdNotifier(sdNotify, opts.logger);
  }

  get log(): Logger {
    return this.opts.logger;
  }

  async start(): Promise<void> {
    const log = this.log;
    this.config = await loadConfig(this.opts.configPath, resolverFor());
    if (this.config.log?.level) log.level = this.config.log.level;
    this.chain = await this.buildChain(this.config);
    // Where a sidecar gobgpd keeps its files: systemd's RuntimeDirectory=, else beside the control socket.
    const runtimeDir = process.env.RUNTIME_DIRECTORY?.split(':')[0] || dirname(resolvePath(this.opts.controlSocket ?? this.config.control.socket));
    this.sinks = createSinks(this.config, log, runtimeDir);
    const sinkList: Sink[] = this.sinks.sinks;
    const metrics = new Metrics(
      () => this.reflector.sinkStatus(),
      () => this.source?.size ?? 0,
    );
    this.metrics = metrics;
    const compactor = new HeapCompactor(log, () => this.reflector.workers.some((w) => w.busy));
    this.compactor = compactor;
    const observer = metrics.observer();
    this.reflector = new Reflector({
      chain: this.chain,
      sinks: sinkList,
      holdDown: this.config.engine.holdDown,
      batchDelayMs: this.config.engine.batchDelayMs,
      resyncMinIntervalMs: this.config.engine.resyncMinIntervalMs,
      logger: log,
      kernelRoutes: () => this.source.routes(),
      observer: {
        ...observer,
        resync: (sink, rec) => {
          observer.resync?.(sink, rec);
          compactor.note(rec.upserts + rec.deletes);
        },
      },
    });
    const src = this.config.source;
    this.source = new KernelSource({
      protocols: src.protocols,
      tables: src.tables,
      families: src.families,
      receiveBufferBytes: src.receiveBufferBytes,
      bpfFilter: src.bpfFilter,
      resyncMinIntervalMs: src.overrunResyncMinIntervalMs,
      logger: log,
      ...(src.netns ? { netns: src.netns } : {}),
    });
    this.source.on('event', (ev: RouteEvent) => this.reflector.onKernelEvent(ev));
    this.source.on('overrun', () => metrics.overruns.inc());
    this.source.on('resync', (info: KernelResyncInfo) => {
      metrics.kernelResync(info);
      compactor.note(info.adds + info.dels);
    });

    this.control = new ControlServer({
      path: this.opts.controlSocket ?? this.config.control.socket,
      ...(this.config.control.group ? { group: this.config.control.group } : {}),
      logger: log,
      handlers: {
        status: async () => this.status(),
        resync: async (_a, progress) => {
          progress({ phase: 'resync started' });
          await this.fullResync('control');
          return { done: true, sinks: this.reflector.sinkStatus().map((s) => ({ name: s.name, lastResync: s.lastResync })) };
        },
        diff: async (_a, progress) => {
          progress({ phase: 'reading sinks' });
          return this.reflector.diff();
        },
        'log-level': async (a) => this.setLogLevel(String(a.level ?? '')),
        reload: async () => this.reload(),
      },
    });
    await this.control.start();
    if (this.config.metrics.listen) await metrics.listen(this.config.metrics.listen, log);

    // STATUS= from the start, not only after READY=1: while `systemctl start` waits,
    // `systemctl status` tells what it waits for (e.g. a sink still connecting).
    this.statusTimer = setInterval(() => this.pushStatus(), 5000);
    this.statusTimer.unref();
    await this.sinks.startSupervisors();
    await this.chain.start();
    for (const w of this.reflector.workers) {
      await w.sink.start({
        logger: log.child({ sink: w.name }),
        onResyncNeeded: (reason) => {
          void w.sinkStateLost(reason).catch(() => undefined);
        },
        onState: (state, detail) => {
          log.info({ sink: w.name, state, detail }, 'sink connection state');
          w.setConnection(state, detail);
          this.pushStatus();
        },
      });
    }
    // READY: the kernel snapshot is loaded and every sink is connected and taking writes. What
    // each sink already holds is compared in the background (status: resync, STATUS=: verifying).
    const { compared } = await this.reflector.startUp(() => this.source.start());
    this.ready = true;
    this.notifier.ready(this.statusLine());
    log.info({ routes: this.source.size }, 'ready: kernel snapshot loaded and every sink taking writes; comparing with what each holds');
    compared.then(
      () => {
        log.info(
          { routes: this.source.size, sinks: this.reflector.sinkStatus().map((s) => `${s.name}:${s.applied}`) },
          'ready: first resync applied to every sink',
        );
        this.pushStatus();
      },
      () => undefined, // only when stopping
    );
  }

  /** Kernel re-dump, then every sink compared with what it holds. Concurrent requests fold into one follow-up. */
  fullResync(reason: string): Promise<void> {
    if (this.fullResyncRunning) {
      this.fullResyncAgain = this.fullResyncAgain ?? reason;
      return this.fullResyncRunning;
    }
    const run = async (): Promise<void> => {
      const t0 = performance.now();
      this.log.info({ reason }, 'full resync started');
      await this.source.requestResync(reason);
      await this.reflector.resyncSinks(reason);
      this.lastFullResync = { at: new Date().toISOString(), reason, durationMs: Math.round(performance.now() - t0) };
      this.log.info(this.lastFullResync, 'full resync finished');
    };
    this.fullResyncRunning = run().finally(() => {
      this.fullResyncRunning = undefined;
      const again = this.fullResyncAgain;
      this.fullResyncAgain = undefined;
      if (again) void this.fullResync(again).catch((err) => this.log.error({ err: (err as Error).message }, 'resync failed'));
    });
    return this.fullResyncRunning;
  }

  /** SIGHUP: re-read the config; a bad one changes nothing. */
  async reload(): Promise<{ reloaded: boolean; note?: string }> {
    const log = this.log;
    let next: RtreflectConfig;
    try {
      next = await loadConfig(this.opts.configPath, resolverFor());
    } catch (err) {
      log.error({ err: (err as Error).message }, 'config reload refused; still running the previous config');
      throw err;
    }
    this.notifier.reloading();
    try {
      const chain = await this.buildChain(next);
      await chain.start();
      const old = this.chain;
      this.chain = chain;
      this.reflector.replaceChain(chain);
      await old.close();
      if (next.log?.level) log.level = next.log.level;
      // Only the handler chain and the log level change on reload; the engine (hold-down,
      // batching) is built once too, so a change there also waits for a restart: say so.
      const restartNeeded = (['source', 'engine', 'sinks'] as const).filter((k) => JSON.stringify(next[k]) !== JSON.stringify(this.config[k]));
      // Keep what actually runs, so status tells the truth and a later reload warns again.
      this.config = { ...next, source: this.config.source, engine: this.config.engine, sinks: this.config.sinks };
      const note = restartNeeded.length ? `${restartNeeded.join(', ')} settings changed; they take effect on restart` : undefined;
      if (note) log.warn({ restartNeeded }, `config reloaded: ${note}`);
      else log.info({ restartNeeded: false }, 'config reloaded');
      await this.fullResync('reload');
      return note ? { reloaded: true, note } : { reloaded: true };
    } finally {
      this.notifier.ready(this.statusLine());
    }
  }

  setLogLevel(level: string): { level: string } {
    const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
    if (!levels.includes(level)) throw new RtreflectError('ERR_BAD_ARGUMENT', `log level "${level}" is not one of ${levels.join(', ')}`);
    this.log.level = level;
    this.log.info({ logLevel: level }, 'log level changed'); // not "level": pino's own key
    return { level };
  }

  status(): Record<string, unknown> {
    const s = this.source;
    return {
      daemon: {
        pid: process.pid,
        uptimeSeconds: Math.round((Date.now() - this.started) / 1000),
        ready: this.ready,
        config: this.opts.configPath,
        logLevel: this.log.level,
        lastFullResync: this.lastFullResync,
      },
      source: {
        routes: s.size,
        resyncing: s.resyncing,
        protocols: this.config.source.protocols,
        tables: this.config.source.tables,
        families: this.config.source.families,
        ...s.stats,
      },
      engine: { holdDownEngaged: this.reflector.holdDownEngaged, heldDeletes: this.reflector.heldDeletes, filtered: this.reflector.filtered },
      sinks: this.reflector.sinkStatus(),
      handlers: this.chain.status(),
    };
  }

  /** SIGTERM: withdraw what each sink's policy says, then close everything. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      const log = this.log;
      this.notifier.stopping();
      if (this.statusTimer) clearInterval(this.statusTimer);
      this.source?.close();
      this.reflector?.stop();
      this.compactor?.stop();
      await Promise.all(
        (this.reflector?.workers ?? []).map(async (w) => {
          const policy = w.sink.shutdownPolicy;
          try {
            if (policy.withdraw) log.info({ sink: w.name, graceMs: policy.graceMs }, 'withdrawing routes before exit');
            await w.sink.stop({ withdraw: policy.withdraw });
          } catch (err) {
            log.error({ sink: w.name, err: (err as Error).message }, 'sink stop failed');
          }
        }),
      );
      await this.sinks?.stopSupervisors();
      await this.chain?.close();
      await this.control?.close();
      await this.metrics?.close();
      this.notifier.close();
      log.info('stopped');
    })();
    return this.stopping;
  }

  private async buildChain(cfg: RtreflectConfig): Promise<HandlerChain> {
    return HandlerChain.build(cfg.handlers, {
      logger: this.log,
      reevaluate: (reason: string) => this.reflector?.reevaluate(reason),
      baseDir: dirname(resolvePath(this.opts.configPath)),
    });
  }

  private statusLine(): string {
    const sinks = this.reflector
      .sinkStatus()
      .map((s) => `${s.name} ${s.state} ${s.applied}/${s.desired}${s.resync ? ` ${resyncText(s.resync)}` : ''}`)
      .join(', ');
    return `${this.source.size} kernel routes; ${sinks}${this.reflector.holdDownEngaged ? '; hold-down engaged' : ''}`;
  }

  private pushStatus(): void {
    this.notifier.status(this.ready ? this.statusLine() : `starting: ${this.statusLine()}`);
  }
}
