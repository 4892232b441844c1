import type { Logger } from '../util/logger.js';
import type { ReflectedRoute } from './reflected-route.js';
import type { Sink, SinkChange, SinkConnectionState } from './sink.js';
import { pickWinner, type Candidates } from './candidates.js';
import { FamilyMap } from './family-map.js';
import { TimedQueue } from './timed-queue.js';

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
 * One key of a sink: what the engine wants there, what the sink holds, and
 * whether the two still have to be compared. Keeping all three in one record
 * makes a route change one map lookup and a write none.
 */
class SinkEntry {
  constructor(
    readonly key: string,
    /** The routes wanting this key (usually one); undefined when none does. */
    public cands: Candidates | undefined,
    /** Fingerprint of what the sink holds; undefined when it holds nothing of ours. */
    public applied: string | undefined,
    /** DIRTY, IN_FLIGHT, PASS, SYNCED (and during a resync's read SEEN, MATCH) bits: a small integer, no boxed number per key. */
    public state: number,
  ) {}
}

/**
 * What the worker keeps per key: a record, or the route alone. A key in sync with its one
 * pass-through kernel route, on a sink whose projection depends on the route alone
 * (Sink.stableProjection), is kept as that route: what the sink holds is what the route
 * projects to, worked out again when the key changes. That is nearly every key of a full
 * table at rest, and it then costs no record. A bare route is never queued nor in flight.
 */
type Slot = SinkEntry | ReflectedRoute;

/** Queued for comparison (in the dirty queue, or parked behind its change in flight). */
const DIRTY = 1;
/** Part of a batch apply() has not answered yet. */
const IN_FLIGHT = 2;
/**
 * The single candidate is a kernel route the chain passed through unchanged. The reflector
 * keeps no copy of those: they are found again by their kernel key (sameKernelKey), not by
 * identity, because the kernel state may have swapped the object for an equal one since.
 */
const PASS = 4;
/** During a resync's read: the sink holds this key (SEEN), and already as the kernel wants it (MATCH). */
const SEEN = 8;
const MATCH = 16;
/**
 * What the sink holds is what the single pass-through candidate projects to: the record may
 * be folded into that route (see Slot). Cleared by any change of the candidates (they all mark
 * the key dirty) or of what is applied.
 */
const SYNCED = 32;
/** Records folded per turn of the event loop by the sweep. */
const SWEEP_CHUNK = 20_000;

/** Same kernel route key (routeKey): family, table, prefix, metric, TOS. */
function sameKernelKey(a: ReflectedRoute, b: ReflectedRoute): boolean {
  return a.prefix === b.prefix && a.table === b.table && a.metric === b.metric && a.tos === b.tos && a.family === b.family;
}

/**
 * One sink's side of the level-triggered engine: per key of the sink, the
 * desired candidates, what has been applied (as a fingerprint), and a queue of
 * the keys whose two differ or may differ (dirty). A single loop drains dirty
 * keys in batches, so a key that changes many times before the loop reaches it
 * costs one write, and memory is bounded by the number of keys, not of events.
 */
export class SinkWorker {
  private readonly entries = new FamilyMap<Slot>();
  /** Pass-through kernel routes (see PASS) while they share their key with other candidates (rare). */
  private readonly passInLists = new WeakSet<ReflectedRoute>();
  /** Dirty entries in the order they turned dirty, with when they did (ms, for latency). */
  private readonly dirty = new TimedQueue<SinkEntry>();
  /** Dirty entries met while their previous change was in flight: queued again when it is answered. */
  private readonly parked = new TimedQueue<SinkEntry>();
  /** While a resync waits for its gate: deletes met, held back until it opens. */
  private holdDeletes = false;
  private readonly held = new TimedQueue<SinkEntry>();
  /** Wakes a drain waiting (behind its gate) for more work. */
  private wakeDrain: (() => void) | undefined;
  /** Batches handed to apply() and not yet answered (more than one only with maxBatchesInFlight). */
  private readonly inFlight = new Set<Promise<void>>();
  private pipelineError: Error | undefined;
  private desiredKeys = 0;
  private appliedKeys = 0;
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
  private readonly skipReasons = new Set<string>();
  /** Keys in sync may be kept as their bare route (see Slot). */
  private readonly bareInSync: boolean;
  /** Records synced during bulk work, not folded yet; and the sweep folding them. */
  private foldLater = 0;
  private sweep: NodeJS.Immediate | undefined;
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
  ) {
    this.bareInSync = sink.stableProjection === true;
  }

  get name(): string {
    return this.sink.name;
  }

  /** Keys some route wants in this sink. */
  get desiredCount(): number {
    return this.desiredKeys;
  }

  get appliedCount(): number {
    return this.appliedKeys;
  }

  /** Keys kept as a full record, the others being bare routes in sync (see Slot). For tests. */
  get recordCount(): number {
    let n = 0;
    for (const slot of this.entries.values()) if (slot instanceof SinkEntry) n++;
    return n;
  }

  /** Writing, resyncing or with keys left to compare: bulk work is still going on. */
  get busy(): boolean {
    return this.running || this.pendingCount > 0 || this.sweep !== undefined;
  }

  get pendingCount(): number {
    return this.dirty.length + this.parked.length + this.held.length;
  }

  /**
   * A route the chain made (a handler's output, or an originated route) now derives to this
   * sink; removeCandidate takes it back by identity. Only its key is worked out here; the full
   * projection waits until the key is written, so a route that changes many times in between
   * is projected once.
   */
  addCandidate(route: ReflectedRoute): void {
    const key = this.keyFor(route);
    if (key === undefined) return;
    const e = this.recordAt(key);
    this.attach(e, route, false);
    this.markDirty(e);
  }

  removeCandidate(route: ReflectedRoute): void {
    const key = this.sink.keyOf(route);
    const e = key === null ? undefined : this.entries.get(key);
    // A bare route is a pass-through one: never taken back by identity.
    if (!(e instanceof SinkEntry) || e.cands === undefined) return;
    const cur = e.cands;
    if (cur === route && (e.state & PASS) === 0) this.detach(e, -1);
    else if (Array.isArray(cur)) {
      const i = cur.indexOf(route);
      if (i < 0 || this.passInLists.has(route)) return;
      this.detach(e, i);
    } else return;
    this.markDirty(e);
  }

  /**
   * A kernel route the chain passed through unchanged: takes the place of the one this
   * worker had under the same kernel key, if any (the reflector keeps no copy of it).
   */
  putKernelRoute(route: ReflectedRoute): void {
    const key = this.keyFor(route);
    if (key === undefined) return;
    const slot = this.entries.get(key);
    if (slot === route) return;
    const e = this.recordAt(key, slot);
    const i = this.findKernelRoute(e, route);
    if (i === undefined) this.attach(e, route, true);
    else if (i < 0) {
      if (e.cands === route) return;
      e.cands = route;
    } else {
      const list = e.cands as ReflectedRoute[];
      if (list[i] === route) return;
      this.passInLists.delete(list[i]!);
      this.passInLists.add(route);
      list[i] = route;
    }
    this.markDirty(e);
  }

  /** The kernel route under this route's kernel key is gone (or the chain now drops or changes it). */
  removeKernelRoute(route: ReflectedRoute): void {
    const key = this.sink.keyOf(route);
    const slot = key === null ? undefined : this.entries.get(key);
    // A bare route is unfolded only when it is the one going; a record is searched once, below.
    if (slot === undefined || (!(slot instanceof SinkEntry) && !this.holdsIn(slot, route))) return;
    const e = this.recordAt(key!, slot);
    const i = this.findKernelRoute(e, route);
    if (i === undefined) return;
    this.detach(e, i);
    this.markDirty(e);
  }

  /** Whether a pass-through kernel route with this route's kernel key is a candidate here. */
  holdsKernelRoute(route: ReflectedRoute): boolean {
    const key = this.sink.keyOf(route);
    const slot = key === null ? undefined : this.entries.get(key);
    return slot !== undefined && this.holdsIn(slot, route);
  }

  private holdsIn(slot: Slot, route: ReflectedRoute): boolean {
    if (slot instanceof SinkEntry) return this.findKernelRoute(slot, route) !== undefined;
    return slot === route || sameKernelKey(slot, route);
  }

  /** The key of a route; undefined (counted as skipped) when the sink has no place for it. */
  private keyFor(route: ReflectedRoute): string | undefined {
    const key = this.sink.keyOf(route);
    if (key !== null) return key;
    this.noteSkipped(route, 'no place for it in this sink');
    return undefined;
  }

  /** The record of a key: made when missing, unfolded from a bare route in sync. */
  private recordAt(key: string, slot = this.entries.get(key)): SinkEntry {
    if (slot instanceof SinkEntry) return slot;
    if (slot !== undefined) {
      // The sink holds what the route projects to (a stable projection gives what it gave when written).
      const p = this.sink.project(slot);
      return this.unfold(key, slot, 'skip' in p ? undefined : this.intern(p.fingerprint));
    }
    const e = new SinkEntry(key, undefined, undefined, 0);
    this.entries.set(key, e);
    return e;
  }

  /** Replaces a bare route by its record, with what the sink holds. */
  private unfold(key: string, route: ReflectedRoute, applied: string | undefined): SinkEntry {
    const e = new SinkEntry(key, route, applied, PASS);
    if (applied === undefined) this.appliedKeys--;
    this.entries.set(key, e);
    return e;
  }

  /**
   * The sink now holds what the record's one pass-through candidate projects to: the key may be
   * kept as that route alone. Folded at once when nothing else waits; during bulk work (a table
   * loading, a resync) left to the sweep that follows it, as one more map write per route would
   * slow the load.
   */
  private synced(e: SinkEntry): void {
    if (!this.bareInSync || e.state !== PASS || Array.isArray(e.cands) || e.cands === undefined) return;
    e.state = PASS | SYNCED;
    if (this.dirty.length === 0 && this.sweep === undefined) this.entries.set(e.key, e.cands);
    else this.foldLater++;
  }

  /** Folds the records left synced by bulk work, a slice per turn of the event loop. */
  private startSweep(): void {
    if (this.sweep !== undefined || this.foldLater === 0) return;
    this.foldLater = 0;
    const its = this.entries.valueIterators();
    let k = 0;
    const step = (): void => {
      if (this.stopped) {
        this.sweep = undefined;
        return;
      }
      for (let n = 0; n < SWEEP_CHUNK; n++) {
        const next = its[k]!.next();
        if (next.done) {
          if (++k < its.length) continue;
          this.sweep = undefined;
          this.startSweep(); // bulk work that came meanwhile
          return;
        }
        const slot = next.value;
        if (slot instanceof SinkEntry && slot.state === (PASS | SYNCED)) this.entries.set(slot.key, slot.cands as ReflectedRoute);
      }
      this.sweep = setImmediate(step);
    };
    this.sweep = setImmediate(step);
  }

  /** Where the pass-through candidate of route's kernel key is: -1 the single one, an index in the list, or undefined. */
  private findKernelRoute(e: SinkEntry, route: ReflectedRoute): number | undefined {
    const cur = e.cands;
    if (cur === undefined) return undefined;
    if (!Array.isArray(cur)) return (e.state & PASS) !== 0 && (cur === route || sameKernelKey(cur, route)) ? -1 : undefined;
    for (let i = 0; i < cur.length; i++) {
      const c = cur[i]!;
      if (this.passInLists.has(c) && (c === route || sameKernelKey(c, route))) return i;
    }
    return undefined;
  }

  private attach(e: SinkEntry, route: ReflectedRoute, pass: boolean): void {
    const cur = e.cands;
    if (cur === undefined) {
      e.cands = route;
      if (pass) e.state |= PASS;
      this.desiredKeys++;
      return;
    }
    if (!Array.isArray(cur)) {
      // A second candidate: the first one's PASS moves into the list's set.
      if ((e.state & PASS) !== 0) {
        this.passInLists.add(cur);
        e.state &= ~PASS;
      }
      e.cands = [cur, route];
    } else cur.push(route);
    if (pass) this.passInLists.add(route);
  }

  /** Removes the single candidate (-1) or list element i; a list left with one becomes bare again. */
  private detach(e: SinkEntry, i: number): void {
    const cur = e.cands!;
    if (i < 0 || !Array.isArray(cur)) {
      e.cands = undefined;
      e.state &= ~PASS;
      this.desiredKeys--;
      return;
    }
    this.passInLists.delete(cur[i]!);
    cur.splice(i, 1);
    if (cur.length === 1) {
      const only = cur[0]!;
      e.cands = only;
      if (this.passInLists.delete(only)) e.state |= PASS;
    }
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

  private markDirty(e: SinkEntry, since = performance.now()): void {
    e.state &= ~SYNCED;
    if ((e.state & DIRTY) === 0) {
      e.state |= DIRTY;
      this.dirty.push(e, since);
      this.wakeDrain?.();
    }
    this.schedule();
  }

  /** Forgets an entry nothing wants, the sink does not hold and no queue has; true when it did. */
  private dropIfEmpty(e: SinkEntry): boolean {
    return e.cands === undefined && e.applied === undefined && e.state === 0 && this.entries.delete(e.key);
  }

  private setApplied(e: SinkEntry, fp: string | undefined): void {
    if (e.applied === undefined && fp !== undefined) this.appliedKeys++;
    else if (e.applied !== undefined && fp === undefined) this.appliedKeys--;
    e.applied = fp;
    e.state &= ~SYNCED;
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
   * Until `gate` resolves (at start-up: the kernel snapshot is loaded) the next
   * resync holds back deletes: a key the sink holds and the kernel has not listed
   * yet may still come. It reads the sink at once and writes the routes as they
   * arrive, so reading the dataplane, dumping the kernel and writing overlap.
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
    for (const [key, slot] of this.entries) {
      const cands = slot instanceof SinkEntry ? slot.cands : slot;
      if (cands === undefined) continue;
      const p = this.sink.project(pickWinner(cands));
      if ('skip' in p) continue;
      const was = owned.get(key);
      if (was !== p.fingerprint) out.upserts.push(was === undefined ? { key, fingerprint: p.fingerprint } : { key, fingerprint: p.fingerprint, was });
    }
    for (const [key, fp] of owned) {
      const slot = this.entries.get(key);
      if (slot === undefined || (slot instanceof SinkEntry && slot.cands === undefined)) out.deletes.push({ key, fingerprint: fp });
    }
    return out;
  }

  stop(): void {
    this.stopped = true;
    if (this.sweep) clearImmediate(this.sweep);
    this.sweep = undefined;
    this.wakeDrain?.();
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
          await this.settle();
          await this.resync();
          continue;
        }
        if (this.pendingCount === 0 || !this.baselineKnown) {
          if (this.inFlight.size === 0) break;
          await this.settle();
          continue;
        }
        await this.drainBatch();
        // Nothing left to write: make what was written land before calling the sink idle.
        if (this.pendingCount === 0) {
          await this.settle();
          if (this.pendingCount === 0) await this.sink.flush?.('idle');
        }
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
    if (!this.stopped && this.connection === 'up' && this.pendingCount === 0 && this.resyncReason === undefined) {
      this.retryDelay = RETRY_MIN_MS;
      this.hooks.idle(this.name);
      this.startSweep();
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
    // What the sink holds replaces what was applied, key by key as it is read; a key that already
    // matches what the kernel wants needs no comparison afterwards. If the read fails, the reason
    // stays set: the resync runs again when the sink is back.
    this.fingerprints.clear();
    let owned = 0;
    const visit = (key: string, fp: string): void => {
      owned++;
      const slot = this.entries.get(key);
      const e = slot === undefined || slot instanceof SinkEntry ? this.recordAt(key, slot) : this.unfold(key, slot, this.intern(fp));
      this.setApplied(e, this.intern(fp));
      e.state |= SEEN;
      if (e.cands !== undefined) {
        const p = this.sink.project(pickWinner(e.cands));
        if (!('skip' in p) && p.fingerprint === fp) e.state |= MATCH;
      }
    };
    try {
      if (this.sink.readOwnedEach) await this.sink.readOwnedEach(visit);
      else for (const [key, fp] of await this.sink.readOwned()) visit(key, fp);
    } catch (err) {
      this.entries.forEach((slot) => { if (slot instanceof SinkEntry) slot.state &= ~(SEEN | MATCH); });
      throw err;
    }
    this.logger.info({ sink: this.name, reason, owned, readMs: Math.round(performance.now() - started) }, 'sink read; comparing');
    const gate = this.drainGate;
    this.drainGate = undefined;
    this.resyncReason = undefined;
    // Every key the read did not confirm is compared again (a key changed since its MATCH is dirty already).
    // The read unfolded every bare route it listed: one still bare is a key the sink lost.
    const now = performance.now();
    this.entries.forEach((slot, key) => {
      if (!(slot instanceof SinkEntry)) {
        this.markDirty(this.unfold(key, slot, undefined), now);
        return;
      }
      const e = slot, st = e.state;
      e.state &= ~(SEEN | MATCH);
      if ((st & SEEN) === 0) this.setApplied(e, undefined);
      else if ((st & MATCH) !== 0) {
        this.synced(e);
        return;
      }
      if (!this.dropIfEmpty(e)) this.markDirty(e, now);
    });
    this.baselineKnown = true;
    const before = { w: this.stats.writes, d: this.stats.deletes };
    const waiters = this.resyncWaiters.splice(0);
    let error: Error | undefined;
    try {
      if (gate) await this.drainBehind(gate);
      while (this.pendingCount > 0 && !this.stopped && this.resyncReason === undefined) {
        await this.drainBatch();
        if (this.pendingCount === 0) await this.settle();
      }
      await this.settle();
      await this.sink.flush?.('resync');
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

  /** Drains what turns dirty until `gate` opens, holding deletes back; then lets them go. */
  private async drainBehind(gate: Promise<void>): Promise<void> {
    let open = false;
    void gate.then(() => {
      open = true;
      this.wakeDrain?.();
    });
    this.holdDeletes = true;
    try {
      while (!open && !this.stopped) {
        if (this.dirty.length > 0) {
          await this.drainBatch();
          continue;
        }
        await new Promise<void>((resolve) => { this.wakeDrain = resolve; });
        this.wakeDrain = undefined;
      }
    } finally {
      this.holdDeletes = false;
      this.wakeDrain = undefined;
      this.held.moveTo(this.dirty);
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

  private async drainBatch(): Promise<void> {
    const changes: SinkChange[] = [];
    const batch: SinkEntry[] = [];
    const since: number[] = [];
    const max = this.sink.batchSize;
    // Bounded work per call, so an unchanged full table (a resync after a restart) yields to the event loop.
    let budget = max * 8;
    while (changes.length < max && budget-- > 0) {
      // Taken entries stay marked DIRTY until they are compared (or parked, or held).
      const e = this.dirty.take();
      if (e === undefined) break;
      const t = this.dirty.takenAt;
      if (e.state & IN_FLIGHT) {
        // Compared against what the sink holds once its change in flight is answered.
        this.parked.push(e, t);
        continue;
      }
      e.state &= PASS;
      const cur = e.applied;
      let change: SinkChange | undefined;
      if (e.cands === undefined) {
        if (cur !== undefined) change = { op: 'delete', key: e.key, fingerprint: cur };
      } else {
        const route = pickWinner(e.cands);
        const p = this.sink.project(route);
        if ('skip' in p) {
          this.noteSkipped(route, p.skip);
          if (cur !== undefined) change = { op: 'delete', key: e.key, fingerprint: cur };
        } else if (p.fingerprint !== cur) {
          change = { op: 'upsert', key: e.key, fingerprint: p.fingerprint, route, was: cur, work: p.work };
        } else {
          this.synced(e);
          continue;
        }
      }
      if (change === undefined) {
        this.dropIfEmpty(e);
        continue;
      }
      if (change.op === 'delete' && this.holdDeletes) {
        e.state = (e.state & PASS) | DIRTY;
        this.held.push(e, t);
        continue;
      }
      e.state = (e.state & PASS) | IN_FLIGHT;
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
    if ((this.sink.maxBatchesInFlight ?? 1) <= 1) {
      await run;
      return;
    }
    const tracked: Promise<void> = run.catch((err: Error) => { this.pipelineError ??= err; }).finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
    if (this.inFlight.size >= (this.sink.maxBatchesInFlight ?? 1)) await Promise.race(this.inFlight);
    this.throwPipelineError();
  }

  /** Hands one batch to the sink and records what its answer says. */
  private async applyBatch(changes: SinkChange[], batch: SinkEntry[], since: number[]): Promise<void> {
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
    for (let j = 0; j < report.applied.length; j++) {
      const i = indexOf(j, report.applied[j]!);
      if (i === undefined) continue;
      const c = changes[i]!, e = batch[i]!;
      if (c.op === 'upsert') {
        this.setApplied(e, this.intern(c.fingerprint));
        this.stats.writes++;
        if (e.cands === c.route) this.synced(e);
      } else {
        this.setApplied(e, undefined);
        this.stats.deletes++;
        this.dropIfEmpty(e);
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
    this.retryDelay = RETRY_MIN_MS;
  }

  /** A batch was answered: its entries are no longer in flight, and keys parked behind them are queued again. */
  private landed(batch: SinkEntry[]): void {
    for (const e of batch) e.state &= ~IN_FLIGHT;
    this.parked.moveTo(this.dirty, (e) => (e.state & IN_FLIGHT) === 0);
  }
}
