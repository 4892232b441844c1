import type { Logger } from '../util/logger.js';
import type { ReflectedRoute } from './reflected-route.js';
import type { Sink, SinkChange, SinkConnectionState } from './sink.js';
import { pickWinner, type Candidates } from './candidates.js';

export interface ResyncRecord {
  at: string;
  reason: string;
  durationMs: number;
  upserts: number;
  deletes: number;
  ok: boolean;
  error?: string;
}

export interface SinkWorkerStats {
  writes: number;
  deletes: number;
  errors: number;
  skipped: number;
  resyncs: number;
}

export interface SinkWorkerHooks {
  /** Time from a key turning dirty to its change being applied, per applied change. */
  latency(sink: string, seconds: number): void;
  resyncDone(sink: string, rec: ResyncRecord): void;
  /** The worker has nothing left to write (used for READY and for tests). */
  idle(sink: string): void;
}

/** What one resync pass would write: computed without writing (rtreflect diff). */
export interface SinkDiff {
  sink: string;
  upserts: { key: string; fingerprint: string; was?: string }[];
  deletes: { key: string; fingerprint: string }[];
}

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 30_000;

/**
 * One sink's side of the level-triggered engine: the desired entries (by the
 * sink's own key), what has been applied (key → fingerprint), and the dirty
 * keys between them. A single loop drains dirty keys in batches, so a key that
 * changes many times before the loop reaches it costs one write, and memory is
 * bounded by the number of keys, not of events.
 */
export class SinkWorker {
  readonly desired = new Map<string, Candidates>();
  private applied = new Map<string, string>();
  /** Dirty key → when it first turned dirty (ms, for latency). */
  private dirty = new Map<string, number>();
  private readonly fingerprints = new Map<string, string>();
  private running = false;
  private stopped = false;
  private resyncReason: string | undefined;
  private wake: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private retryDelay = RETRY_MIN_MS;
  private resyncWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  /** False while writes wait for a resync to read what the sink already holds (deferWritesUntilResync). */
  private baselineKnown = true;
  private drainGate: Promise<void> | undefined;
  private lastResyncEnd = 0;
  private resyncTimer: NodeJS.Timeout | undefined;
  /** Where draining goes on from: one pass over the dirty keys, not a fresh walk (and its skipped holes) per batch. */
  private dirtyWalk: IterableIterator<string> | undefined;
  private readonly skipReasons = new Set<string>();
  lastResync: ResyncRecord | undefined;
  lastError: string | undefined;
  connection: SinkConnectionState = 'connecting';
  readonly stats: SinkWorkerStats = { writes: 0, deletes: 0, errors: 0, skipped: 0, resyncs: 0 };

  constructor(
    readonly sink: Sink,
    private readonly logger: Logger,
    private readonly hooks: SinkWorkerHooks,
    private readonly batchDelayMs: number,
    /** Least time from the end of one resync to the start of the next; triggers in between fold into one. */
    private readonly resyncMinIntervalMs = 0,
  ) {}

  get name(): string {
    return this.sink.name;
  }

  get appliedCount(): number {
    return this.applied.size;
  }

  get pendingCount(): number {
    return this.dirty.size;
  }

  /**
   * A route now derives to this sink (or no longer does). Only its key is worked
   * out here; the full projection waits until the key is written, so a route
   * that changes many times in between is projected once.
   */
  addCandidate(route: ReflectedRoute): void {
    const key = this.sink.keyOf(route);
    if (key === null) {
      this.noteSkipped(route, 'no place for it in this sink');
      return;
    }
    const cur = this.desired.get(key);
    if (cur === undefined) this.desired.set(key, route);
    else if (Array.isArray(cur)) cur.push(route);
    else this.desired.set(key, [cur, route]);
    this.markDirty(key);
  }

  removeCandidate(route: ReflectedRoute): void {
    const key = this.sink.keyOf(route);
    if (key === null) return;
    const cur = this.desired.get(key);
    if (cur === undefined) return;
    if (cur === route) this.desired.delete(key);
    else if (Array.isArray(cur)) {
      const i = cur.indexOf(route);
      if (i < 0) return;
      cur.splice(i, 1);
      if (cur.length === 1) this.desired.set(key, cur[0]!);
      else if (cur.length === 0) this.desired.delete(key);
    } else return;
    this.markDirty(key);
  }

  /** A route the sink cannot carry: counted, and logged once per reason (a full table must not flood the log). */
  private noteSkipped(route: ReflectedRoute, reason: string): void {
    this.stats.skipped++;
    if (this.skipReasons.has(reason)) {
      this.logger.debug({ sink: this.name, prefix: route.prefix, table: route.table, reason }, 'route not reflected');
      return;
    }
    if (this.skipReasons.size < 100) this.skipReasons.add(reason);
    this.logger.warn({ sink: this.name, prefix: route.prefix, table: route.table, reason }, 'route not reflected (further routes for this reason are logged at debug level)');
  }

  markDirty(key: string): void {
    if (!this.dirty.has(key)) this.dirty.set(key, performance.now());
    this.schedule();
  }

  /**
   * Write nothing until the next resync has read what the sink already holds. At start-up this
   * keeps a restarted daemon from re-writing every route the dataplane still has (each one would
   * be re-announced to peers); the resync then writes only the difference.
   */
  deferWritesUntilResync(): void {
    this.baselineKnown = false;
  }

  /**
   * Let the next resync read the sink now but compare only once `gate` resolves
   * (at start-up: once the kernel snapshot is loaded). Reading the dataplane and
   * dumping the kernel then overlap instead of following each other.
   */
  holdDrainUntil(gate: Promise<void>): void {
    this.drainGate = gate;
  }

  /** Read the sink's own entries and re-drain everything against them. Resolves when that pass is applied. */
  requestResync(reason: string): Promise<void> {
    this.resyncReason = this.resyncReason ? this.resyncReason : reason;
    const p = new Promise<void>((resolve, reject) => this.resyncWaiters.push({ resolve, reject }));
    this.schedule(0);
    return p;
  }

  setConnection(state: SinkConnectionState, detail?: string): void {
    const was = this.connection;
    this.connection = state;
    if (state === 'up' && was !== 'up') this.schedule(0);
    if (detail && state === 'down') this.lastError = detail;
  }

  /** What a resync would change now, applying nothing. */
  async diff(): Promise<SinkDiff> {
    const owned = await this.sink.readOwned();
    const out: SinkDiff = { sink: this.name, upserts: [], deletes: [] };
    for (const [key, cands] of this.desired) {
      const p = this.sink.project(pickWinner(cands));
      if ('skip' in p) continue;
      const was = owned.get(key);
      if (was !== p.fingerprint) out.upserts.push(was === undefined ? { key, fingerprint: p.fingerprint } : { key, fingerprint: p.fingerprint, was });
    }
    for (const [key, fp] of owned) if (!this.desired.has(key)) out.deletes.push({ key, fingerprint: fp });
    return out;
  }

  stop(): void {
    this.stopped = true;
    this.clearWake();
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    for (const w of this.resyncWaiters.splice(0)) w.reject(new Error(`sink ${this.name} stopped`));
  }

  private schedule(delay = this.batchDelayMs): void {
    if (this.stopped || this.running) return;
    if (this.wake) {
      if (delay > 0) return;
      this.clearWake();
    }
    const run = (): void => {
      this.wake = undefined;
      void this.loop();
    };
    this.wake = delay > 0 ? setTimeout(run, delay) : setImmediate(run);
  }

  private clearWake(): void {
    if (!this.wake) return;
    clearTimeout(this.wake as NodeJS.Timeout);
    clearImmediate(this.wake as NodeJS.Immediate);
    this.wake = undefined;
  }

  private intern(fp: string): string {
    const have = this.fingerprints.get(fp);
    if (have !== undefined) return have;
    this.fingerprints.set(fp, fp);
    return fp;
  }

  private async loop(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      while (!this.stopped && this.connection === 'up') {
        if (this.resyncReason !== undefined && this.resyncDueIn() <= 0) {
          await this.resync();
          continue;
        }
        if (this.dirty.size === 0 || !this.baselineKnown) break;
        await this.drainBatch();
        // Nothing left to write: make what was written land before calling the sink idle.
        if (this.dirty.size === 0) await this.sink.flush?.();
      }
    } catch (err) {
      this.stats.errors++;
      this.lastError = (err as Error).message;
      this.logger.warn({ sink: this.name, err: this.lastError, retryMs: this.retryDelay }, 'sink write failed; will retry');
      this.retryLater();
      return;
    } finally {
      this.running = false;
    }
    if (!this.stopped && this.resyncReason !== undefined && !this.resyncTimer) {
      this.resyncTimer = setTimeout(() => {
        this.resyncTimer = undefined;
        this.schedule(0);
      }, Math.max(0, this.resyncDueIn()));
    }
    if (!this.stopped && this.connection === 'up' && this.dirty.size === 0 && this.resyncReason === undefined) {
      this.retryDelay = RETRY_MIN_MS;
      this.hooks.idle(this.name);
    }
  }

  private resyncDueIn(): number {
    return this.lastResyncEnd + this.resyncMinIntervalMs - Date.now();
  }

  private retryLater(): void {
    const d = this.retryDelay;
    this.retryDelay = Math.min(RETRY_MAX_MS, this.retryDelay * 2);
    this.clearWake();
    this.wake = setTimeout(() => {
      this.wake = undefined;
      void this.loop();
    }, d * (0.75 + Math.random() * 0.5));
  }

  private async resync(): Promise<void> {
    const reason = this.resyncReason!;
    const started = performance.now();
    this.logger.info({ sink: this.name, reason }, 'sink resync started');
    // If this read fails, the reason stays set: the resync runs again when the sink is back.
    const owned = await this.sink.readOwned();
    if (this.drainGate) {
      await this.drainGate;
      this.drainGate = undefined;
    }
    this.resyncReason = undefined;
    this.fingerprints.clear();
    const applied = new Map<string, string>();
    for (const [k, fp] of owned) applied.set(k, this.intern(fp));
    this.applied = applied;
    this.baselineKnown = true;
    const now = performance.now();
    for (const k of this.desired.keys()) if (!this.dirty.has(k)) this.dirty.set(k, now);
    for (const k of applied.keys()) if (!this.dirty.has(k)) this.dirty.set(k, now);
    const before = { w: this.stats.writes, d: this.stats.deletes };
    const waiters = this.resyncWaiters.splice(0);
    let error: Error | undefined;
    try {
      while (this.dirty.size > 0 && !this.stopped && this.resyncReason === undefined) await this.drainBatch();
      await this.sink.flush?.();
    } catch (err) {
      error = err as Error;
    }
    const rec: ResyncRecord = {
      at: new Date().toISOString(),
      reason,
      durationMs: Math.round(performance.now() - started),
      upserts: this.stats.writes - before.w,
      deletes: this.stats.deletes - before.d,
      ok: !error,
      ...(error ? { error: error.message } : {}),
    };
    this.stats.resyncs++;
    this.lastResyncEnd = Date.now();
    this.lastResync = rec;
    this.hooks.resyncDone(this.name, rec);
    this.logger.info({ sink: this.name, ...rec }, 'sink resync finished');
    if (error) {
      this.resyncWaiters.push(...waiters);
      throw error;
    }
    for (const w of waiters) w.resolve();
  }

  private async drainBatch(): Promise<void> {
    const changes: SinkChange[] = [];
    const since: number[] = [];
    const max = this.sink.batchSize;
    // Bounded work per call, so an unchanged full table (a resync after a restart) yields to the event loop.
    let budget = max * 8;
    while (changes.length < max && budget-- > 0) {
      let step = this.dirtyWalk?.next();
      if (step === undefined || step.done) {
        // A finished walk sees no later additions: start another over what is dirty now.
        if (this.dirty.size === 0) {
          this.dirtyWalk = undefined;
          break;
        }
        this.dirtyWalk = this.dirty.keys();
        step = this.dirtyWalk.next();
        if (step.done) break;
      }
      const key = step.value;
      const t = this.dirty.get(key)!;
      this.dirty.delete(key);
      const cands = this.desired.get(key);
      const cur = this.applied.get(key);
      if (cands === undefined) {
        if (cur !== undefined) {
          changes.push({ op: 'delete', key, fingerprint: cur });
          since.push(t);
        }
        continue;
      }
      const route = pickWinner(cands);
      const p = this.sink.project(route);
      if ('skip' in p) {
        this.noteSkipped(route, p.skip);
        if (cur !== undefined) {
          changes.push({ op: 'delete', key, fingerprint: cur });
          since.push(t);
        }
        continue;
      }
      if (p.fingerprint === cur) continue;
      changes.push({ op: 'upsert', key, fingerprint: p.fingerprint, route, was: cur, work: p.work });
      since.push(t);
    }
    if (changes.length === 0) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return;
    }
    let report;
    try {
      report = await this.sink.apply(changes);
    } catch (err) {
      // Nothing is known to be applied: every key is dirty again.
      for (let i = 0; i < changes.length; i++) if (!this.dirty.has(changes[i]!.key)) this.dirty.set(changes[i]!.key, since[i]!);
      throw err;
    }
    // Sinks mostly report keys in the order of the changes: look a key up only when it is elsewhere.
    let byKey: Map<string, number> | undefined;
    const indexOf = (j: number, key: string): number | undefined => {
      if (changes[j]?.key === key) return j;
      byKey ??= new Map(changes.map((c, i) => [c.key, i]));
      return byKey.get(key);
    };
    const now = performance.now();
    for (let j = 0; j < report.applied.length; j++) {
      const key = report.applied[j]!;
      const i = indexOf(j, key);
      if (i === undefined) continue;
      const c = changes[i]!;
      if (c.op === 'upsert') {
        this.applied.set(key, this.intern(c.fingerprint));
        this.stats.writes++;
      } else {
        this.applied.delete(key);
        this.stats.deletes++;
      }
      this.hooks.latency(this.name, (now - since[i]!) / 1000);
    }
    if (report.failed.length > 0) {
      this.stats.errors += report.failed.length;
      this.lastError = `${report.failed[0]!.key}: ${report.failed[0]!.error}`;
      this.logger.warn({ sink: this.name, failed: report.failed.length, first: report.failed[0] }, 'sink refused some changes; will retry them');
      for (const f of report.failed) {
        const i = indexOf(-1, f.key);
        if (i !== undefined && !this.dirty.has(f.key)) this.dirty.set(f.key, since[i]!);
      }
      throw new Error(`${report.failed.length} change(s) refused by ${this.name}`);
    }
    this.retryDelay = RETRY_MIN_MS;
  }
}
