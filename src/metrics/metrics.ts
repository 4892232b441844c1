import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../util/logger.js';
import { RtreflectError } from '../util/errors.js';
import type { ReflectorObserver, SinkStatus } from '../engine/reflector.js';
import type { ResyncRecord } from '../engine/sink-worker.js';
import { BulkHistogram } from './bulk-histogram.js';

/**
 * Resync reasons are free text for logs and status ("gobgpd connection lost (...)");
 * a Prometheus label needs a small fixed set, or every new message is a new series.
 */
export function resyncTrigger(reason: string): string {
  if (['start-up', 'control', 'reload', 'overrun', 'implicit-delete'].includes(reason)) return reason;
  if (/^gobgpd conn|^VPP API connection|connect|restart/i.test(reason)) return 'sink-reconnect';
  return 'other';
}

/** The daemon's Prometheus metrics. Gauges are read from live state at scrape time. */
export class Metrics {
  readonly registry = new Registry();
  /**
   * Kernel events since the last scrape, counted here and handed to the counter when it is read:
   * one per route while a full table loads, and prom-client hashes the labels on every inc().
   */
  private readonly eventCounts = { add: 0, del: 0 };
  readonly kernelEvents = new Counter({
    name: 'rtreflect_kernel_events_total',
    help: 'Normalized kernel route events',
    labelNames: ['type'],
    registers: [this.registry],
    collect: () => {
      for (const type of ['add', 'del'] as const) {
        if (this.eventCounts[type] > 0) this.kernelEvents.inc({ type }, this.eventCounts[type]);
        this.eventCounts[type] = 0;
      }
    },
  });
  readonly filtered = new Counter({ name: 'rtreflect_routes_filtered_total', help: 'Routes dropped by the handler chain', registers: [this.registry] });
  readonly overruns = new Counter({
    name: 'rtreflect_kernel_overruns_total',
    help: 'Netlink receive buffer overruns (events lost)',
    registers: [this.registry],
  });
  readonly resyncs = new Counter({
    name: 'rtreflect_resyncs_total',
    help: 'Finished resyncs: scope kernel (re-dump) or sink (sink compared and repaired), by trigger',
    labelNames: ['scope', 'trigger'],
    registers: [this.registry],
  });
  readonly sinkWrites = new Counter({
    name: 'rtreflect_sink_writes_total',
    help: 'Routes written to a sink',
    labelNames: ['sink', 'op'],
    registers: [this.registry],
  });
  readonly sinkErrors = new Counter({ name: 'rtreflect_sink_errors_total', help: 'Sink write errors', labelNames: ['sink'], registers: [this.registry] });
  readonly holdDowns = new Counter({ name: 'rtreflect_hold_down_engaged_total', help: 'Times hold-down engaged', registers: [this.registry] });
  /** One observation per route written: a full table's load makes a million of them. */
  readonly latency = new BulkHistogram(
    'rtreflect_kernel_to_sink_seconds',
    'Time from a kernel change to its write into a sink',
    'sink',
    [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    this.registry,
  );
  readonly resyncDuration = new Histogram({
    name: 'rtreflect_resync_duration_seconds',
    help: 'Resync duration',
    labelNames: ['scope'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  private server: Server | undefined;
  private lastWrites = new Map<string, { w: number; d: number; e: number }>();

  constructor(sinkStatus: () => SinkStatus[], kernelRoutes: () => number) {
    const self = this;
    // Gauges read live state once per scrape.
    new Gauge({
      name: 'rtreflect_kernel_routes',
      help: 'Kernel routes of the selected protocols',
      registers: [this.registry],
      collect() {
        this.set(kernelRoutes());
      },
    });
    new Gauge({
      name: 'rtreflect_sink_up',
      help: 'Sink connection state (1 up, 0 not)',
      labelNames: ['sink'],
      registers: [this.registry],
      collect() {
        for (const s of sinkStatus()) this.set({ sink: s.name }, s.state === 'up' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'rtreflect_sink_routes',
      help: 'Routes per sink: desired, applied, pending',
      labelNames: ['sink', 'state'],
      registers: [this.registry],
      collect() {
        for (const s of sinkStatus()) {
          this.set({ sink: s.name, state: 'desired' }, s.desired);
          this.set({ sink: s.name, state: 'applied' }, s.applied);
          this.set({ sink: s.name, state: 'pending' }, s.pending);
          self.syncCounters(s);
        }
      },
    });
    new Gauge({
      name: 'rtreflect_sink_verifying',
      help: 'A resync is comparing what the sink holds with the kernel (writes go on meanwhile): 1, else 0',
      labelNames: ['sink'],
      registers: [this.registry],
      collect() {
        for (const s of sinkStatus()) this.set({ sink: s.name }, s.resync ? 1 : 0);
      },
    });
    new Gauge({
      name: 'rtreflect_sink_verify_read_entries',
      help: 'Entries the resync under way has read from the sink so far (0 when none runs)',
      labelNames: ['sink'],
      registers: [this.registry],
      collect() {
        for (const s of sinkStatus()) this.set({ sink: s.name }, s.resync?.read ?? 0);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'rtreflect_' });
  }

  observer(): Partial<ReflectorObserver> {
    return {
      kernelEvent: (op) => {
        this.eventCounts[op]++;
      },
      filtered: () => this.filtered.inc(),
      // child() keeps one observe function per sink: one map lookup per route written.
      latency: (sink, s) => this.latency.child(sink)(s),
      resync: (_sink, rec: ResyncRecord) => {
        this.resyncs.inc({ scope: 'sink', trigger: resyncTrigger(rec.reason) });
        this.resyncDuration.observe({ scope: 'sink' }, rec.durationMs / 1000);
      },
      holdDown: (state) => {
        if (state === 'engaged') this.holdDowns.inc();
      },
    };
  }

  /** A kernel re-dump finished (start-up, overrun, full resync). */
  kernelResync(info: { reason: string; durationMs: number }): void {
    this.resyncs.inc({ scope: 'kernel', trigger: resyncTrigger(info.reason) });
    this.resyncDuration.observe({ scope: 'kernel' }, info.durationMs / 1000);
  }

  async listen(address: string, logger: Logger): Promise<void> {
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
    if (!m) throw new RtreflectError('ERR_CONFIG', `metrics.listen: "${address}" is not host:port (e.g. 127.0.0.1:9469 or [::1]:9469)`);
    const host = m[1] ?? m[2]!;
    const port = Number(m[3]);
    this.server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('see /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': this.registry.contentType }).end(body);
        },
        (err: Error) => res.writeHead(500).end(err.message),
      );
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (err: NodeJS.ErrnoException) =>
        reject(new RtreflectError('ERR_METRICS_LISTEN', `metrics.listen ${address}: ${err.code ?? err.message}`)),
      );
      this.server!.listen(port, host, () => resolve());
    });
    logger.info({ address }, 'metrics listening');
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Sink write counters come from the workers' own totals (one source of truth). */
  private syncCounters(s: SinkStatus): void {
    const prev = this.lastWrites.get(s.name) ?? { w: 0, d: 0, e: 0 };
    if (s.writes > prev.w) this.sinkWrites.inc({ sink: s.name, op: 'upsert' }, s.writes - prev.w);
    if (s.deletes > prev.d) this.sinkWrites.inc({ sink: s.name, op: 'delete' }, s.deletes - prev.d);
    if (s.errors > prev.e) this.sinkErrors.inc({ sink: s.name }, s.errors - prev.e);
    this.lastWrites.set(s.name, { w: s.writes, d: s.deletes, e: s.errors });
  }
}
