import type { Logger } from '../util/logger.js';
import { Backoff } from '../util/backoff.js';
import { loopTurn } from '../util/loop-turn.js';
import type { ReflectedRoute } from './reflected-route.js';
import type { Sink, SinkChange, SinkConnectionState } from './sink.js';
import { pickWinner } from './candidates.js';
import { KeyTable, type KeyRecord } from './key-table.js';
import { TimedQueue } from './timed-queue.js';
import { ResyncPass, diffSink, type ResyncProgress, type ResyncRecord, type ResyncWaiter, type SinkDiff } from './sink-resync.js';

export type { ResyncRecord, SinkDiff, ResyncProgress } from './sink-resync.js';

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
  /** The worker has nothing left to write and no resync under way (used for READY and for tests). */
  idle(sink: string): void;
}

/** Retries of failed writes and reads. */
const RETRY = { initialMs: 200, maxMs: 30_000, jitter: 0.25 };

/*
 * The sink worker is the drain loop and the orchestration of start-up and resyncs: both act on
 * the same queues, batches in flight and resync under way, so they stay in one class (~600
 * lines). How keys are stored lives in key-table.ts, what a resync's read decides in
 * sink-resync.ts; neither needs the loop.
 */

/**
 * One sink's side of the level-triggered engine: per key of the sink, the desired candidates
 * and what has been applied (KeyTable), a queue of the keys whose two differ or may differ
 * (dirty), and one loop draining it in batches, so a key that changes many times before the
 * loop reaches it costs one write, and memory is bounded by the number of keys, not of events.
 *
 * A resync (ResyncPass) reads the sink beside that loop: writes never wait for a read.
 */
export class SinkWorker {
  private readonly table: KeyTable;
  /** Dirty keys in the order they turned dirty, with when they did (ms, for latency). */
  private readonly dirty = new TimedQueue<KeyRecord>();
  /** Dirty keys met while their previous change was in flight: queued again when it is answered. */
  private readonly parked = new TimedQueue<KeyRecord>();
  /** Deletes met while the kernel snapshot is still loading (a key the sink holds may still come). */
  private readonly held = new TimedQueue<KeyRecord>();
  private holdDeletes = false;
  /** Batches handed to apply() and not yet answered (more than one only with maxBatchesInFlight). */
  private readonly inFlight = new Set<Promise<void>>();
  private pipelineError: Error | undefined;
  private running = false;
  private stopped = false;
  private wake: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private readonly retry = new Backoff(RETRY);
  /**
   * Whether what the sink holds has ever been read. Until then a key's applied state is unknown:
   * while a read is due, a key is written only once the read decided it, or once it changed
   * after the kernel snapshot was loaded (see presume()).
   */
  private everRead = false;
  /** Routes put now are the kernel snapshot being loaded (start-up), not changes. */
  private loading = true;
  private explicitStartUp = false;
  /** The resync under way, and the reason for the next one (with who waits for it). */
  private pass: ResyncPass | undefined;
  private resyncReason: string | undefined;
  private resyncWaiters: ResyncWaiter[] = [];
  private lastResyncEnd = 0;
  private resyncNotBefore = 0;
  private resyncTimer: NodeJS.Timeout | undefined;
  private liveWaiters: (() => void)[] = [];
  private readonly skipReasons = new Set<string>();
  /** Keys whose applied state was presumed during the first read and not written since (see presume()). */
  private readonly presumed = new Set<KeyRecord>();
  /** Keys the sink may hold more of than what was applied (see SinkChange.mayHold); rare, and only after a resync. */
  private readonly extraHeld = new Map<KeyRecord, string[]>();
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
    /** Keys walked per slice at the end of a read (tests make it small, to change keys amid the walk). */
    private readonly resyncEndSlice?: number,
  ) {
    this.table = new KeyTable(sink, sink.capabilities.stableProjection === true);
  }

  get name(): string {
    return this.sink.name;
  }

  /** Keys some route wants in this sink. */
  get desiredCount(): number {
    return this.table.desiredCount;
  }

  get appliedCount(): number {
    return this.table.appliedCount;
  }

  /** Keys kept as a full record, the others being bare routes in sync. For tests. */
  get recordCount(): number {
    return this.table.recordCount;
  }

  /** Writing, resyncing or with keys left to compare: bulk work is still going on. */
  get busy(): boolean {
    return this.running || this.pendingCount > 0 || this.pass !== undefined || this.table.sweeping;
  }

  get pendingCount(): number {
    return this.dirty.length + this.parked.length + this.held.length;
  }

  /** The resync under way, for status; undefined when none is. */
  get resyncProgress(): ResyncProgress | undefined {
    return this.pass?.progress();
  }

  // ------------------------------------------------------------ changes from the engine

  /**
   * A route the chain made (a handler's output, or an originated route) now derives to this
   * sink; removeCandidate takes it back by identity. Only its key is worked out here; the full
   * projection waits until the key is written, so a route that changes many times in between
   * is projected once.
   */
  addCandidate(route: ReflectedRoute): void {
    const key = this.keyFor(route);
    if (key === undefined) return;
    const e = this.table.record(key);
    this.presume(e);
    this.table.attach(e, route, false);
    this.markDirty(e);
  }

  removeCandidate(route: ReflectedRoute): void {
    const key = this.sink.keyOf(route);
    // A bare route is a pass-through one: never taken back by identity.
    const e = key === null ? undefined : this.table.existing(key);
    if (e === undefined || e.cands === undefined) return;
    this.presume(e);
    if (this.table.removeDerived(e, route)) this.markDirty(e);
  }

  /**
   * A kernel route the chain passed through unchanged: takes the place of the one this
   * worker had under the same kernel key, if any (the reflector keeps no copy of it).
   */
  putKernelRoute(route: ReflectedRoute): void {
    const key = this.keyFor(route);
    if (key === undefined || this.table.isBare(key, route)) return;
    // The snapshot loading ahead of the first read: a new key goes in as if in sync, with no record
    // and no queue entry. The read decides it as any other: reported the same, it stays; reported
    // otherwise, or not at all, it is written. A restart then makes no record per key to load a table.
    if (this.loading && this.readWillDecide() && this.table.putBare(key, route)) return;
    const e = this.table.record(key);
    this.presume(e);
    if (this.table.putKernelRoute(e, route)) this.markDirty(e);
  }

  /** The kernel route under this route's kernel key is gone (or the chain now drops or changes it). */
  removeKernelRoute(route: ReflectedRoute): void {
    const key = this.sink.keyOf(route);
    if (key === null || !this.table.holdsKernelRoute(key, route)) return;
    const e = this.table.record(key);
    this.presume(e);
    if (this.table.removeKernelRoute(e, route)) this.markDirty(e);
  }

  /** Whether a pass-through kernel route with this route's kernel key is a candidate here. */
  holdsKernelRoute(route: ReflectedRoute): boolean {
    const key = this.sink.keyOf(route);
    return key !== null && this.table.holdsKernelRoute(key, route);
  }

  /** A read that has not ended yet, or is due, is the first: it will report or pass over every key. */
  private readWillDecide(): boolean {
    return !this.everRead && (this.pass === undefined ? this.resyncReason !== undefined : !this.pass.readDone);
  }

  /** The key of a route; undefined (counted as skipped) when the sink has no place for it. */
  private keyFor(route: ReflectedRoute): string | undefined {
    const key = this.sink.keyOf(route);
    if (key !== null) return key;
    this.noteSkipped(route, 'no place for it in this sink');
    return undefined;
  }

  /**
   * A key changes after the kernel snapshot was loaded, before the sink was ever read: written at
   * once, against what the sink most likely holds, the key as the kernel had it (a restart with an
   * unchanged kernel) — so a delete goes out now, not when the read reaches the key. The read's
   * report of the key, when it comes, corrects that guess if it was wrong (ResyncPass.onReported).
   */
  private presume(e: KeyRecord): void {
    if (this.everRead || this.loading || this.pass?.readDone || !this.table.undecided(e)) return;
    this.table.markChanged(e);
    this.presumed.add(e);
    if (e.cands === undefined || e.applied !== undefined) return;
    const p = this.sink.project(pickWinner(e.cands));
    if (!('skip' in p)) this.table.setApplied(e, this.table.intern(p.fingerprint));
  }

  /** The key's candidates or what it holds changed: compared (and written) as soon as the loop reaches it. */
  private markDirty(e: KeyRecord, since = performance.now()): void {
    if (this.table.queue(e)) this.dirty.push(e, since);
    this.schedule();
  }

  // ------------------------------------------------------------ start-up and resyncs

  /**
   * Start-up: what the sink holds is unknown until it is read. The kernel snapshot is loaded
   * while the sink is read; keys are written as the read decides them, deletes wait until
   * snapshotLoaded() (a key the sink holds may still be listed), and keys that change after
   * that are written at once. The caller also asks for the start-up resync.
   */
  beginStartUp(): void {
    this.explicitStartUp = true;
    this.loading = true;
    this.holdDeletes = true;
  }

  /** The kernel snapshot is complete: held deletes go out, and what changes from now on is written at once. */
  snapshotLoaded(): void {
    this.loading = false;
    this.holdDeletes = false;
    this.held.moveTo(this.dirty);
    this.schedule(0);
  }

  /** Resolves once the sink is connected and taking writes (its start-up read has begun, if one is due). */
  whenLive(): Promise<void> {
    return new Promise((resolve) => {
      this.liveWaiters.push(resolve);
      this.checkLive();
    });
  }

  private checkLive(): void {
    if (this.liveWaiters.length === 0 || this.connection !== 'up') return;
    if (!this.everRead && this.pass === undefined && this.resyncReason !== undefined) return;
    for (const f of this.liveWaiters.splice(0)) f();
  }

  /**
   * The sink lost or may have lost what it held (it reconnected after a restart, or refused
   * writes): a resync as at start-up, where a key waits for the read unless it changes meanwhile.
   */
  sinkStateLost(reason: string): Promise<void> {
    this.everRead = false;
    return this.requestResync(reason);
  }

  /** Read the sink's own entries and compare every key against them. Resolves when that pass is applied. */
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
    this.checkLive();
  }

  /** What a resync would change now, applying nothing. */
  diff(): Promise<SinkDiff> {
    return diffSink(this.name, this.sink, this.table);
  }

  stop(): void {
    this.stopped = true;
    this.table.stopSweep();
    this.clearWake();
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    const waiters = [...this.resyncWaiters.splice(0), ...(this.pass?.waiters.splice(0) ?? [])];
    for (const w of waiters) w.reject(new Error(`sink ${this.name} stopped`));
  }

  private resyncDueIn(): number {
    return Math.max(this.lastResyncEnd + this.resyncMinIntervalMs, this.resyncNotBefore) - Date.now();
  }

  /** Begins a resync: the read runs beside the drain loop, which goes on writing. */
  private startPass(): void {
    const pass = new ResyncPass(
      {
        table: this.table,
        sink: this.sink,
        requeue: (e) => this.markDirty(e),
        mayHold: (e, fp) => this.noteMayHold(e, fp),
        presumedOnly: (e) => this.presumed.has(e),
      },
      this.resyncReason!,
      this.resyncWaiters.splice(0),
      { writes: this.stats.writes, deletes: this.stats.deletes },
    );
    this.resyncReason = undefined;
    this.pass = pass;
    if (!this.explicitStartUp) this.loading = false;
    this.table.forgetFingerprints();
    this.logger.info({ sink: this.name, reason: pass.reason }, 'sink resync started');
    const visit = (key: string, fp: string): void => pass.onReported(key, fp);
    const read = this.sink.readOwnedEach
      ? this.sink.readOwnedEach(visit)
      : this.sink.readOwned().then((owned) => {
          for (const [key, fp] of owned) visit(key, fp);
        });
    this.checkLive();
    const current = (): boolean => this.pass === pass && !this.stopped;
    read.then(
      async () => {
        if (!current() || !(await pass.endOfRead(loopTurn, current, this.resyncEndSlice))) return;
        this.everRead = true;
        this.presumed.clear();
        this.logger.info({ sink: this.name, reason: pass.reason, owned: pass.read, readMs: Math.round(pass.readMs) }, 'sink read; writing the difference');
        if (!this.wake) this.schedule(0);
      },
      (err: Error) => {
        if (this.pass !== pass || this.stopped) return;
        this.failPass(pass, err);
      },
    );
  }

  /** The read failed (the sink went away, or answered badly): the resync runs again after a back-off. */
  private failPass(pass: ResyncPass, err: Error): void {
    this.pass = undefined;
    this.table.clearReadMarks();
    this.resyncReason ??= pass.reason;
    this.resyncWaiters.unshift(...pass.waiters);
    this.stats.errors++;
    this.lastError = err.message;
    const retryMs = this.retry.delay();
    this.resyncNotBefore = Date.now() + retryMs;
    this.recordPass(pass, err);
    this.logger.warn({ sink: this.name, reason: pass.reason, err: err.message, retryMs: Math.round(retryMs) }, 'sink read failed; will resync again');
    this.armResyncTimer();
  }

  /** The pass's read is in and everything it decided is written and confirmed. */
  private finishPass(pass: ResyncPass): void {
    this.pass = undefined;
    this.lastResyncEnd = Date.now();
    this.recordPass(pass);
    for (const w of pass.waiters) w.resolve();
  }

  private recordPass(pass: ResyncPass, error?: Error): void {
    const rec: ResyncRecord = {
      at: new Date().toISOString(),
      reason: pass.reason,
      durationMs: Math.round(performance.now() - pass.started),
      upserts: this.stats.writes - pass.before.writes,
      deletes: this.stats.deletes - pass.before.deletes,
      ok: !error,
      ...(error ? { error: error.message } : { read: pass.read, readMs: Math.round(pass.readMs) }),
    };
    this.stats.resyncs++;
    this.lastResync = rec;
    this.hooks.resyncDone(this.name, rec);
    this.logger.info({ sink: this.name, ...rec }, 'sink resync finished');
  }

  private armResyncTimer(): void {
    if (this.stopped || this.resyncReason === undefined || this.resyncTimer) return;
    this.resyncTimer = setTimeout(
      () => {
        this.resyncTimer = undefined;
        this.schedule(0);
      },
      Math.max(0, this.resyncDueIn()),
    );
  }

  // ------------------------------------------------------------ the drain loop

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

  private async loop(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      while (!this.stopped && this.connection === 'up') {
        if (this.pass === undefined && this.resyncReason !== undefined && this.resyncDueIn() <= 0) {
          // Writes handed over before the read begins are answered first: what it reports postdates them.
          await this.settle();
          this.startPass();
          continue;
        }
        // Keys held back until the kernel snapshot is in wait for snapshotLoaded(), which wakes the loop.
        if (this.dirty.length + this.parked.length === 0) {
          if (this.inFlight.size > 0) {
            await this.settle();
            continue;
          }
          const pass = this.pass;
          if (pass?.phase !== 'writing' || this.held.length > 0) break;
          await this.sink.flush?.('resync');
          if (this.pendingCount === 0 && this.pass === pass) this.finishPass(pass);
          continue;
        }
        await this.drainBatch();
        // Nothing left to write: make what was written land before calling the sink idle.
        if (this.pendingCount === 0 && this.pass === undefined) {
          await this.settle();
          if (this.pendingCount === 0) await this.sink.flush?.('idle');
        }
      }
    } catch (err) {
      this.stats.errors++;
      this.lastError = (err as Error).message;
      const retryMs = this.retry.delay();
      this.logger.warn({ sink: this.name, err: this.lastError, retryMs: Math.round(retryMs) }, 'sink write failed; will retry');
      this.clearWake();
      this.wake = setTimeout(() => {
        this.wake = undefined;
        void this.loop();
      }, retryMs);
      return;
    } finally {
      this.running = false;
    }
    this.armResyncTimer();
    if (!this.stopped && this.connection === 'up' && this.pendingCount === 0 && this.resyncReason === undefined && this.pass === undefined) {
      this.retry.reset();
      this.hooks.idle(this.name);
      this.table.startSweep(() => this.stopped);
    }
  }

  /** Waits for every batch in flight; throws the first failure among them. */
  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    this.throwPipelineError();
  }

  private throwPipelineError(): void {
    const err = this.pipelineError;
    this.pipelineError = undefined;
    if (err) throw err;
  }

  private noteMayHold(e: KeyRecord, fp: string): void {
    const list = this.extraHeld.get(e);
    if (list === undefined) this.extraHeld.set(e, [fp]);
    else if (!list.includes(fp)) list.push(fp);
    this.markDirty(e);
  }

  /** The change a key needs now, or undefined when it is in sync (or must wait). */
  private changeFor(e: KeyRecord): SinkChange | undefined {
    const cur = e.applied;
    const extra = this.extraHeld.get(e);
    const withExtra = extra !== undefined ? { mayHold: extra } : {};
    const removal = (): SinkChange | undefined => {
      const fp = cur ?? extra?.[0];
      return fp === undefined ? undefined : { op: 'delete', key: e.key, fingerprint: fp, ...withExtra };
    };
    if (e.cands === undefined) return removal();
    const route = pickWinner(e.cands);
    const p = this.sink.project(route);
    if ('skip' in p) {
      this.noteSkipped(route, p.skip);
      return removal();
    }
    if (p.fingerprint === cur && extra === undefined) return undefined;
    return { op: 'upsert', key: e.key, fingerprint: p.fingerprint, route, ...(cur !== undefined ? { was: cur } : {}), ...withExtra };
  }

  private async drainBatch(): Promise<void> {
    const changes: SinkChange[] = [];
    const batch: KeyRecord[] = [];
    const since: number[] = [];
    const max = this.sink.batchSize;
    const table = this.table;
    const reading = this.pass?.phase === 'reading';
    // Before the first read, a key the read has not decided waits for it (its report, or the read's end).
    // Once the read is done (its end may still be walking the table), nothing waits: the walk counts what
    // is written meanwhile as decided.
    const undecidedWaits = this.readWillDecide();
    // Bounded work per call, so an unchanged full table (a resync after a restart) yields to the event loop
    // every batch's worth of keys: a live change waits behind no more (the full-table bench's "live change
    // during a restart's comparison").
    let budget = max;
    while (changes.length < max && budget-- > 0) {
      const e = this.dirty.take();
      if (e === undefined) break;
      const t = this.dirty.takenAt;
      if (table.isInFlight(e)) {
        // Compared against what the sink holds once its change in flight is answered.
        this.parked.push(e, t);
        continue;
      }
      table.dequeue(e);
      if (undecidedWaits && table.undecided(e)) continue;
      const change = this.changeFor(e);
      if (change === undefined) {
        if (e.cands !== undefined && e.applied !== undefined) table.synced(e, this.dirty.length === 0 && !reading);
        else table.dropIfEmpty(e);
        continue;
      }
      if (change.op === 'delete' && this.holdDeletes) {
        table.queue(e);
        this.held.push(e, t);
        continue;
      }
      // Written while the read goes on: its report of this key may predate the write.
      if (reading && !table.isSeen(e)) table.markChanged(e);
      table.setInFlight(e, true);
      changes.push(change);
      batch.push(e);
      since.push(t);
    }
    if (changes.length === 0) {
      // Nothing to send now: wait for an answer (parked keys may follow it), or let the event loop run.
      if (this.inFlight.size > 0) await Promise.race(this.inFlight);
      else await new Promise<void>((resolve) => setImmediate(resolve));
      this.throwPipelineError();
      return;
    }
    const run = this.applyBatch(changes, batch, since);
    const maxInFlight = this.sink.capabilities.maxBatchesInFlight ?? 1;
    if (maxInFlight <= 1) {
      await run;
      return;
    }
    const tracked: Promise<void> = run
      .catch((err: Error) => {
        this.pipelineError ??= err;
      })
      .finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
    if (this.inFlight.size >= maxInFlight) await Promise.race(this.inFlight);
    this.throwPipelineError();
  }

  /** Hands one batch to the sink and records what its answer says. */
  private async applyBatch(changes: SinkChange[], batch: KeyRecord[], since: number[]): Promise<void> {
    let report;
    try {
      report = await this.sink.apply(changes);
    } catch (err) {
      // Nothing is known to be applied: every key is dirty again.
      this.landed(batch);
      for (let i = 0; i < batch.length; i++) this.markDirty(batch[i]!, since[i]!);
      throw err;
    }
    this.landed(batch);
    // Sinks mostly report keys in the order of the changes: look a key up only when it is elsewhere.
    let byKey: Map<string, number> | undefined;
    const indexOf = (j: number, key: string): number | undefined => {
      if (changes[j]?.key === key) return j;
      byKey ??= new Map(changes.map((c, i) => [c.key, i]));
      return byKey.get(key);
    };
    const now = performance.now();
    const table = this.table;
    const foldNow = this.pass === undefined;
    for (let j = 0; j < report.applied.length; j++) {
      const i = indexOf(j, report.applied[j]!);
      if (i === undefined) continue;
      const c = changes[i]!,
        e = batch[i]!;
      if (c.mayHold !== undefined && this.extraHeld.get(e) === c.mayHold) this.extraHeld.delete(e);
      this.presumed.delete(e);
      const took = c.op === 'upsert' ? (c.was !== undefined ? [c.was] : []) : [c.fingerprint];
      if (c.mayHold !== undefined) took.push(...c.mayHold);
      if (c.op === 'upsert') {
        table.setApplied(e, table.intern(c.fingerprint));
        this.stats.writes++;
        this.pass?.afterWrite(e, took);
        if (e.cands === c.route) table.synced(e, foldNow && this.dirty.length === 0);
      } else {
        table.setApplied(e, undefined);
        this.stats.deletes++;
        this.pass?.afterWrite(e, took);
        table.dropIfEmpty(e);
      }
      this.hooks.latency(this.name, (now - since[i]!) / 1000);
    }
    if (report.failed.length > 0) {
      this.stats.errors += report.failed.length;
      this.lastError = `${report.failed[0]!.key}: ${report.failed[0]!.error}`;
      this.logger.warn({ sink: this.name, failed: report.failed.length, first: report.failed[0] }, 'sink refused some changes; will retry them');
      for (const f of report.failed) {
        const i = indexOf(-1, f.key);
        if (i !== undefined) this.markDirty(batch[i]!, since[i]!);
      }
      throw new Error(`${report.failed.length} change(s) refused by ${this.name}`);
    }
    this.retry.reset();
  }

  /** A batch was answered: its keys are no longer in flight, and keys parked behind them are queued again. */
  private landed(batch: KeyRecord[]): void {
    for (const e of batch) this.table.setInFlight(e, false);
    this.parked.moveTo(this.dirty, (e) => !this.table.isInFlight(e));
  }

  /** A route the sink cannot carry: counted, and logged once per reason (a full table must not flood the log). */
  private noteSkipped(route: ReflectedRoute, reason: string): void {
    this.stats.skipped++;
    if (this.skipReasons.has(reason)) {
      this.logger.debug({ sink: this.name, prefix: route.prefix, table: route.table, reason }, 'route not reflected');
      return;
    }
    if (this.skipReasons.size < 100) this.skipReasons.add(reason);
    this.logger.warn(
      { sink: this.name, prefix: route.prefix, table: route.table, reason },
      'route not reflected (further routes for this reason are logged at debug level)',
    );
  }
}
