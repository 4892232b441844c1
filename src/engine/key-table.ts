import type { ReflectedRoute } from './reflected-route.js';
import type { Sink } from './sink.js';
import { type Candidates } from './candidates.js';
import { FamilyMap } from './family-map.js';
import { afterLoopTurn } from '../util/loop-turn.js';

/**
 * One key of a sink: the routes that want it, what the sink holds there (as a fingerprint),
 * and a few marks. Keeping them in one record makes a route change one map lookup.
 */
export class KeyRecord {
  constructor(
    readonly key: string,
    /** The routes wanting this key (usually one); undefined when none does. */
    public cands: Candidates | undefined,
    /** Fingerprint of what the sink holds; undefined when it holds nothing of ours. */
    public applied: string | undefined,
    /** Marks (see below), as one small integer: no boxed value per key. Read only through KeyTable. */
    public marks: number,
  ) {}
}

/**
 * What the table keeps per key: a record, or the route alone. A key in sync with its one
 * pass-through kernel route, on a sink whose projection depends on the route alone
 * (Sink.capabilities.stableProjection), is kept as that route: what the sink holds is what the
 * route projects to, worked out again when the key changes. That is nearly every key of a full
 * table at rest, and it then costs no record. A bare route is never queued nor in flight. The
 * kernel snapshot that loads ahead of the first read goes in bare too (putBare): presumed in sync
 * until that read reports the key, or ends without it.
 */
type Entry = KeyRecord | ReflectedRoute;

// The marks. Nothing outside this file reads or writes them: the methods below name what they mean.
/** Queued for comparison (in the dirty queue, or parked or held behind something). */
const QUEUED = 1;
/** Part of a batch apply() has not answered yet. */
const IN_FLIGHT = 2;
/**
 * The single candidate is a kernel route the chain passed through unchanged. The reflector keeps
 * no copy of those: they are found again by their kernel key (sameKernelKey), not by identity,
 * because the kernel state may have swapped the object for an equal one since.
 */
const PASS = 4;
/** What the sink holds is what the single pass-through candidate projects to: the record may be folded. */
const SYNCED = 8;
/** During a resync's read: the read has reported this key. */
const SEEN = 16;
/**
 * During a resync's read: written since the read began, so what the read reports of it may predate
 * our write (or, at start-up, what the sink holds was presumed, see presumeHeld).
 */
const CHANGED = 32;
const READ_MARKS = SEEN | CHANGED;

/** Records folded per turn of the event loop by the sweep. */
const SWEEP_CHUNK = 20_000;

/** Same kernel route key (routeKey): family, table, prefix, metric, TOS. */
function sameKernelKey(a: ReflectedRoute, b: ReflectedRoute): boolean {
  return a.prefix === b.prefix && a.table === b.table && a.metric === b.metric && a.tos === b.tos && a.family === b.family;
}

/**
 * A sink's keys: the only code that knows how a key is stored (bare route or record, one
 * candidate or a list, which candidates are pass-through kernel routes) and what its marks are.
 * Counts what is desired and applied as records change.
 */
export class KeyTable {
  private readonly entries = new FamilyMap<Entry>();
  /** Pass-through kernel routes (see PASS) while they share their key with other candidates (rare). */
  private readonly passInLists = new WeakSet<ReflectedRoute>();
  private readonly fingerprints = new Map<string, string>();
  private desired = 0;
  private applied = 0;
  /** Records synced while folding had to wait, not folded yet; and the sweep folding them. */
  private foldLater = 0;
  private sweep: object | undefined;
  /** During a read: bare routes it reported held exactly as they project (see reportedBare). */
  private seenBare = new WeakSet<ReflectedRoute>();
  /**
   * Bare keys put ahead of the first read (putBare), still bare, and of those the ones the read has
   * reported so far. While there are any, every bare key is one of them (nothing folds meanwhile):
   * they count as applied only once reported.
   */
  private presumed = 0;
  private presumedSeen = 0;

  /** While a read's end walks the table: records given read marks meanwhile (they go when it ends). */
  private walking: KeyRecord[] | undefined;

  constructor(
    private readonly sink: Pick<Sink, 'project' | 'keyOf'>,
    /** Keys in sync may be kept as their bare route (see Entry). */
    private readonly bareInSync: boolean,
  ) {}

  get desiredCount(): number {
    return this.desired;
  }

  get appliedCount(): number {
    return this.applied - (this.presumed - this.presumedSeen);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Keys kept as a full record, the others being bare routes in sync. */
  get recordCount(): number {
    let n = 0;
    for (const entry of this.entries.values()) if (entry instanceof KeyRecord) n++;
    return n;
  }

  get sweeping(): boolean {
    return this.sweep !== undefined;
  }

  /** One copy of each fingerprint text: a table of routes with the same attributes shares them. */
  intern(fp: string): string {
    const have = this.fingerprints.get(fp);
    if (have !== undefined) return have;
    this.fingerprints.set(fp, fp);
    return fp;
  }

  forgetFingerprints(): void {
    this.fingerprints.clear();
  }

  /** The record of a key, when it has one (a bare route in sync has none). */
  existing(key: string): KeyRecord | undefined {
    const entry = this.entries.get(key);
    return entry instanceof KeyRecord ? entry : undefined;
  }

  /** The record of a key: made when missing, unfolded from a bare route in sync. */
  record(key: string): KeyRecord {
    const entry = this.entries.get(key);
    if (entry instanceof KeyRecord) return entry;
    if (entry !== undefined) {
      // The sink holds what the route projects to (a stable projection gives what it gave when written).
      const p = this.sink.project(entry);
      return this.unfold(key, entry, 'skip' in p ? undefined : this.intern(p.fingerprint));
    }
    const e = new KeyRecord(key, undefined, undefined, 0);
    this.entries.set(key, e);
    return e;
  }

  /**
   * A key new to the table, ahead of the first read: kept as its bare route as if in sync (counted
   * as desired, and as applied once the read reports it) until that read decides it. False when the
   * table keeps no bare routes or has the key already.
   */
  putBare(key: string, route: ReflectedRoute): boolean {
    if (!this.bareInSync || this.entries.get(key) !== undefined) return false;
    this.entries.set(key, route);
    this.desired++;
    this.applied++;
    this.presumed++;
    return true;
  }

  /**
   * The read reports `fp` under `key`: when the key is a bare route that projects to exactly that,
   * it stays bare and counts as reported (its record, made if it changes during the read, starts
   * as seen). A restart's read of an unchanged full table then makes no record per key, and leaves
   * the young generation nothing to copy. False when the report must be taken as a record.
   */
  reportedBare(key: string, fp: string): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined || entry instanceof KeyRecord) return false;
    const p = this.sink.project(entry);
    if ('skip' in p || p.fingerprint !== fp) return false;
    this.seenBare.add(entry);
    if (this.presumed > 0) this.presumedSeen++;
    return true;
  }

  /**
   * The record of a key the sink reported holding `fp`: a bare route is unfolded with that
   * (not with what it projects to: the report is what the sink holds).
   */
  recordAsRead(key: string, fp: string): KeyRecord {
    const entry = this.entries.get(key);
    if (entry === undefined || entry instanceof KeyRecord) return this.record(key);
    return this.unfold(key, entry, fp);
  }

  private unfold(key: string, route: ReflectedRoute, applied: string | undefined): KeyRecord {
    const seen = this.seenBare.has(route);
    if (this.presumed > 0) {
      this.presumed--;
      if (seen) this.presumedSeen--;
    }
    const e = new KeyRecord(key, route, applied, seen ? PASS | SEEN : PASS);
    if (seen) this.walking?.push(e);
    if (applied === undefined) this.applied--;
    this.entries.set(key, e);
    return e;
  }

  // ------------------------------------------------------------ candidates

  /** Whether a pass-through kernel route with this route's kernel key is a candidate of the key. */
  holdsKernelRoute(key: string, route: ReflectedRoute): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    if (entry instanceof KeyRecord) return this.findKernelRoute(entry, route) !== undefined;
    return entry === route || sameKernelKey(entry, route);
  }

  /** Whether the key is kept as exactly this bare route (nothing to do when it comes again). */
  isBare(key: string, route: ReflectedRoute): boolean {
    return this.entries.get(key) === route;
  }

  /** Adds a candidate; `pass` for a kernel route the chain passed through unchanged. */
  attach(e: KeyRecord, route: ReflectedRoute, pass: boolean): void {
    const cur = e.cands;
    if (cur === undefined) {
      e.cands = route;
      if (pass) e.marks |= PASS;
      this.desired++;
      return;
    }
    if (!Array.isArray(cur)) {
      // A second candidate: the first one's PASS moves into the list's set.
      if ((e.marks & PASS) !== 0) {
        this.passInLists.add(cur);
        e.marks &= ~PASS;
      }
      e.cands = [cur, route];
    } else cur.push(route);
    if (pass) this.passInLists.add(route);
  }

  /**
   * Puts a pass-through kernel route in place of the one with its kernel key (or adds it).
   * False when that very route was there already (nothing changed).
   */
  putKernelRoute(e: KeyRecord, route: ReflectedRoute): boolean {
    const i = this.findKernelRoute(e, route);
    if (i === undefined) {
      this.attach(e, route, true);
      return true;
    }
    if (i < 0) {
      if (e.cands === route) return false;
      e.cands = route;
      return true;
    }
    const list = e.cands as ReflectedRoute[];
    if (list[i] === route) return false;
    this.passInLists.delete(list[i]!);
    this.passInLists.add(route);
    list[i] = route;
    return true;
  }

  /** Takes back the pass-through candidate with this route's kernel key; false when there is none. */
  removeKernelRoute(e: KeyRecord, route: ReflectedRoute): boolean {
    const i = this.findKernelRoute(e, route);
    if (i === undefined) return false;
    this.detach(e, i);
    return true;
  }

  /** Takes back a candidate the chain made, by identity; false when it is not one (pass-through ones never are). */
  removeDerived(e: KeyRecord, route: ReflectedRoute): boolean {
    const cur = e.cands;
    if (cur === undefined) return false;
    if (cur === route) {
      if ((e.marks & PASS) !== 0) return false;
      this.detach(e, -1);
      return true;
    }
    if (!Array.isArray(cur)) return false;
    const i = cur.indexOf(route);
    if (i < 0 || this.passInLists.has(route)) return false;
    this.detach(e, i);
    return true;
  }

  /** Where the pass-through candidate of route's kernel key is: -1 the single one, an index in the list, or undefined. */
  private findKernelRoute(e: KeyRecord, route: ReflectedRoute): number | undefined {
    const cur = e.cands;
    if (cur === undefined) return undefined;
    if (!Array.isArray(cur)) return (e.marks & PASS) !== 0 && (cur === route || sameKernelKey(cur, route)) ? -1 : undefined;
    for (let i = 0; i < cur.length; i++) {
      const c = cur[i]!;
      if (this.passInLists.has(c) && (c === route || sameKernelKey(c, route))) return i;
    }
    return undefined;
  }

  /** Removes the single candidate (-1) or list element i; a list left with one becomes single again. */
  private detach(e: KeyRecord, i: number): void {
    const cur = e.cands!;
    if (i < 0 || !Array.isArray(cur)) {
      e.cands = undefined;
      e.marks &= ~PASS;
      this.desired--;
      return;
    }
    this.passInLists.delete(cur[i]!);
    cur.splice(i, 1);
    if (cur.length === 1) {
      const only = cur[0]!;
      e.cands = only;
      if (this.passInLists.delete(only)) e.marks |= PASS;
    }
  }

  // ------------------------------------------------------------ what the sink holds

  setApplied(e: KeyRecord, fp: string | undefined): void {
    if (e.applied === undefined && fp !== undefined) this.applied++;
    else if (e.applied !== undefined && fp === undefined) this.applied--;
    e.applied = fp;
    e.marks &= ~SYNCED;
  }

  /**
   * The sink now holds what the record's one pass-through candidate projects to: the key may be
   * kept as that route alone. Folded at once when `now`; otherwise (during bulk work, or while a
   * resync still reads the sink) left to the sweep that follows, as a map write per route would
   * slow a load and a folded key loses its read marks.
   */
  synced(e: KeyRecord, now: boolean): void {
    if (!this.bareInSync || (e.marks & ~READ_MARKS) !== PASS || Array.isArray(e.cands) || e.cands === undefined) return;
    e.marks |= SYNCED;
    if (now && (e.marks & READ_MARKS) === 0 && this.sweep === undefined && this.presumed === 0) this.entries.set(e.key, e.cands);
    else this.foldLater++;
  }

  /** Forgets a record nothing wants, the sink does not hold and nothing marks; true when it did. */
  dropIfEmpty(e: KeyRecord): boolean {
    return e.cands === undefined && e.applied === undefined && e.marks === 0 && this.entries.delete(e.key);
  }

  // ------------------------------------------------------------ queue marks

  isQueued(e: KeyRecord): boolean {
    return (e.marks & QUEUED) !== 0;
  }

  /** Marks the record queued (its candidates or what it holds changed); false when it already was. */
  queue(e: KeyRecord): boolean {
    e.marks &= ~SYNCED;
    if ((e.marks & QUEUED) !== 0) return false;
    e.marks |= QUEUED;
    return true;
  }

  /** Taken off the queue to be compared. */
  dequeue(e: KeyRecord): void {
    e.marks &= ~(QUEUED | SYNCED);
  }

  isInFlight(e: KeyRecord): boolean {
    return (e.marks & IN_FLIGHT) !== 0;
  }

  setInFlight(e: KeyRecord, on: boolean): void {
    if (on) e.marks |= IN_FLIGHT;
    else e.marks &= ~IN_FLIGHT;
  }

  // ------------------------------------------------------------ read marks (a resync's read)

  isSeen(e: KeyRecord): boolean {
    return (e.marks & SEEN) !== 0;
  }

  markSeen(e: KeyRecord): void {
    e.marks |= SEEN;
  }

  isChanged(e: KeyRecord): boolean {
    return (e.marks & CHANGED) !== 0;
  }

  markChanged(e: KeyRecord): void {
    e.marks |= CHANGED;
    this.walking?.push(e);
  }

  /** Neither reported by the read nor written since it began: the read has not decided it yet. */
  undecided(e: KeyRecord): boolean {
    return (e.marks & READ_MARKS) === 0;
  }

  /**
   * Ends a read: `each` sees every key with whether the read reported it (`seen`) and whether it
   * was written since the read began (`changed`). A bare route the read reported in sync is left
   * as it is; one it did not report is handed over as a record, as neither. Read marks are cleared
   * before `each` runs. Yields after every `per` keys: keys may change in between (a change marks
   * its key changed, and a key already walked loses that mark when the walk ends).
   */
  *endReadSteps(each: (e: KeyRecord, seen: boolean, changed: boolean) => void, per: number): Generator<void, void> {
    this.walking = [];
    try {
      let n = 0;
      for (const values of this.entries.valueIterators()) {
        for (let next = values.next(); !next.done; next = values.next()) {
          const entry = next.value;
          if (!(entry instanceof KeyRecord)) {
            if (!this.seenBare.has(entry)) each(this.unfold(this.sink.keyOf(entry)!, entry, undefined), false, false);
          } else {
            const marks = entry.marks;
            entry.marks &= ~READ_MARKS;
            each(entry, (marks & SEEN) !== 0, (marks & CHANGED) !== 0);
          }
          if (++n % per === 0) yield;
        }
      }
    } finally {
      for (const e of this.walking) e.marks &= ~READ_MARKS;
      this.walking = undefined;
      this.seenBare = new WeakSet();
      this.presumed = this.presumedSeen = 0; // what is still bare was reported: it is what it seems
    }
  }

  /** A read that failed: its marks go, what it taught about each key stays. */
  clearReadMarks(): void {
    this.entries.forEach((entry) => {
      if (entry instanceof KeyRecord) entry.marks &= ~READ_MARKS;
    });
    this.seenBare = new WeakSet();
    this.presumedSeen = 0;
  }

  // ------------------------------------------------------------ walks

  /** Every key with the route(s) wanting it (bare routes as themselves). */
  forEachDesired(fn: (key: string, cands: Candidates) => void): void {
    this.entries.forEach((entry, key) => {
      const cands = entry instanceof KeyRecord ? entry.cands : entry;
      if (cands !== undefined) fn(key, cands);
    });
  }

  /** Whether some route wants the key. */
  isDesired(key: string): boolean {
    const entry = this.entries.get(key);
    return entry !== undefined && (!(entry instanceof KeyRecord) || entry.cands !== undefined);
  }

  /** Folds the records left synced, a slice per turn of the event loop; `stopped` ends it early. */
  startSweep(stopped: () => boolean): void {
    if (this.sweep !== undefined || this.foldLater === 0 || this.presumed > 0) return;
    this.foldLater = 0;
    const its = this.entries.valueIterators();
    let k = 0;
    const sweep = {};
    const step = (): void => {
      if (this.sweep !== sweep) return; // stopped by stopSweep()
      if (stopped()) {
        this.sweep = undefined;
        return;
      }
      for (let n = 0; n < SWEEP_CHUNK; n++) {
        const next = its[k]!.next();
        if (next.done) {
          if (++k < its.length) continue;
          this.sweep = undefined;
          this.startSweep(stopped); // records synced meanwhile
          return;
        }
        const entry = next.value;
        if (entry instanceof KeyRecord && entry.marks === (PASS | SYNCED)) this.entries.set(entry.key, entry.cands as ReflectedRoute);
      }
      afterLoopTurn(step);
    };
    this.sweep = sweep;
    afterLoopTurn(step);
  }

  stopSweep(): void {
    this.sweep = undefined;
  }
}
