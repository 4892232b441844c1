/**
 * An in-memory dataplane for engine tests: it holds key → fingerprint, records every write,
 * and keeps the sink contract (test/helpers/sink-contract.ts), so what the engine tests
 * learn from it holds for real sinks too.
 */
import type { ApplyReport, Sink, SinkCapabilities, SinkChange, SinkConnectionState, SinkHooks, SinkProjection } from '../../src/engine/sink.js';
import type { ReflectedRoute } from '../../src/engine/reflected-route.js';

export interface RecordingSinkOptions {
  name?: string;
  capabilities?: SinkCapabilities;
  /** State before start() (default 'up': engine tests drive the sink without starting it). */
  initially?: SinkConnectionState;
  /** Offer readOwnedEach (the engine then compares while reading); off by default, as the engine tests expect. */
  readEach?: boolean;
}

export class RecordingSink implements Sink {
  readonly kind = 'memory';
  readonly name: string;
  readonly shutdownPolicy = { withdraw: false, graceMs: 0 };
  readonly batchSize: number = 100;
  readonly capabilities: SinkCapabilities;
  readonly held = new Map<string, string>();
  readonly writes: SinkChange[] = [];
  /** Keys whose changes fail (the dataplane refuses them). */
  refuse = new Set<string>();
  private connection: SinkConnectionState;

  constructor(opts: RecordingSinkOptions = {}) {
    this.name = opts.name ?? 'mem';
    this.capabilities = opts.capabilities ?? {};
    this.connection = opts.initially ?? 'up';
    if (opts.readEach) {
      this.readOwnedEach = async (each) => {
        for (const [k, fp] of await this.readOwned()) each(k, fp);
      };
    }
  }

  async start(_hooks: SinkHooks): Promise<void> {
    this.connection = 'up';
  }

  async stop(): Promise<void> {
    this.connection = 'stopped';
  }

  state(): SinkConnectionState {
    return this.connection;
  }

  keyOf(r: ReflectedRoute): string | null {
    return r.prefix;
  }

  project(r: ReflectedRoute): SinkProjection {
    if (r.type === 'prohibit') return { skip: 'prohibit routes are not carried' };
    return { key: r.prefix, fingerprint: `${r.metric}|${r.nexthops.map((n) => n.gateway).join(',')}` };
  }

  async readOwned(): Promise<Map<string, string>> {
    this.requireUp('read');
    return new Map(this.held);
  }

  readOwnedEach?: (each: (key: string, fingerprint: string) => void) => Promise<void>;

  async apply(changes: SinkChange[]): Promise<ApplyReport> {
    this.requireUp('apply');
    const report: ApplyReport = { applied: [], failed: [] };
    for (const c of changes) {
      if (this.refuse.has(c.key)) {
        report.failed.push({ key: c.key, error: 'refused' });
        continue;
      }
      this.writes.push(c);
      // A key is replaced whole: `was` and `mayHold` leave nothing behind.
      if (c.op === 'upsert') this.held.set(c.key, c.fingerprint);
      else this.held.delete(c.key);
      report.applied.push(c.key);
    }
    return report;
  }

  private requireUp(what: string): void {
    if (this.connection !== 'up') throw new Error(`memory sink ${this.name} is ${this.connection}; cannot ${what}`);
  }
}
