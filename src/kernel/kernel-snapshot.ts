/**
 * A dump of one family under way (KernelState.beginSnapshot … endSnapshot). `seen` and `undo`
 * (the slots before the dump) make its end an exact diff; a `fresh` dump (the family held nothing
 * before) keeps neither: a key already in the map was put there by this dump, and everything it
 * holds is new, except the keys live messages created beside it (`createdBeside`): the dump's
 * first listing of one replaces what the live message put. A fresh dump's events are known as it
 * goes (`pending`), so its caller may pass them on before the dump ends.
 */
import { diff, effectiveOf, hasOwn, type Fam, type Slot } from './kernel-slots.js';
import { routeEqual, type Route, type RouteEvent } from './route.js';

/** What ending or undoing a dump needs from the state: its family's slots and a way to replace one. */
export interface SnapshotTarget {
  readonly slots: Map<string, Slot>;
  readonly foreign: WeakSet<Route>;
  /** Replaces a key's slot; appends the change's event to `events` unless null. */
  put(key: string, next: Slot | undefined, events: RouteEvent[] | null): void;
  /** put() when the caller has the slot now (`prev`). */
  putKnown(key: string, next: Slot | undefined, events: RouteEvent[] | null, prev: Slot | undefined): void;
}

export class KernelSnapshot {
  private readonly seen = new Set<string>();
  private readonly undo = new Map<string, Slot | undefined>();
  /** Events of the other messages (nexthops, links) applied during the dump. */
  readonly extra: RouteEvent[] = [];
  /** A fresh dump's events not taken yet. */
  pending: RouteEvent[] = [];
  /** Whether takeEvents() gave any (an abort must take them back). */
  private emitted = false;
  /**
   * Keys live messages created beside the dump (a few, not a table's worth). A fresh dump's first
   * listing of one replaces what the live message put; a re-dump's end keeps one it did not list.
   */
  private readonly liveCreated = new Set<string>();

  constructor(
    readonly fam: Fam,
    readonly fresh: boolean,
  ) {}

  /** The slot of `key` once the dump's next alias `r` is in (`cur`: the slot now). The dump lists a key's aliases in kernel order: the first resets the key. */
  listed(key: string, cur: Slot | undefined, r: Route): Slot {
    if (this.fresh ? cur === undefined || this.liveCreated.delete(key) : !this.seen.has(key)) {
      if (this.fresh) return r;
      this.seen.add(key);
      // Unchanged, a re-dump's common case: the slot stays, so nothing is replaced, logged or compared at the
      // end (bench/micro kernel-ingest, "re-dump, unchanged").
      return cur !== undefined && !Array.isArray(cur) && routeEqual(cur, r) ? cur : r;
    }
    return cur === undefined ? r : Array.isArray(cur) ? [...cur, r] : [cur, r];
  }

  /** A live message applied beside the dump created `key` (the dump's own puts are not this). */
  createdBeside(key: string): void {
    this.liveCreated.add(key);
  }

  /** Records a key's slot from before the dump, the first time anything changes it (a re-dump only). */
  keepBefore(key: string, prev: Slot | undefined): void {
    if (!this.undo.has(key)) this.undo.set(key, prev);
  }

  /** A fresh dump's events so far, with those of the other messages; empty for a re-dump. */
  takeEvents(): RouteEvent[] {
    if (!this.fresh || (this.pending.length === 0 && this.extra.length === 0)) return [];
    const out = this.pending;
    for (const e of this.extra.splice(0)) out.push(e);
    this.pending = [];
    this.emitted = true;
    return out;
  }

  /** Drops what the dump did not list (and keys left with no alias of ours); returns the difference to the state before. */
  end(t: SnapshotTarget): RouteEvent[] {
    const steps = this.endSteps(t, Infinity);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
    }
  }

  /**
   * end() in steps of `per` keys: the end of a re-dump walks the whole table, and a caller can let
   * other work run between the steps. Messages applied meanwhile are taken into account: a key
   * they change is compared at the end, and one they create is kept.
   */
  *endSteps(t: SnapshotTarget, per: number): Generator<void, RouteEvent[]> {
    const map = t.slots,
      foreign = t.foreign;
    const events: RouteEvent[] = [];
    // Map iterators are live: a key deleted meanwhile is skipped, one added is visited.
    if (this.fresh) {
      // Keys listing only other protocols' aliases were never ours: dropped without an event.
      yield* inSteps(map, per, ([key, slot]) => {
        if (!hasOwn(slot, foreign)) t.putKnown(key, undefined, null, slot);
      });
      for (const e of this.pending) events.push(e); // not push(...): a dump nobody took events from holds a table's worth
    } else {
      yield* inSteps(map, per, ([key, slot]) => {
        if ((!this.seen.has(key) && !this.liveCreated.has(key)) || !hasOwn(slot, foreign)) t.putKnown(key, undefined, null, slot);
      });
      yield* inSteps(this.undo, per, ([key, before]) => diff(effectiveOf(before, foreign), effectiveOf(map.get(key), foreign), events, key));
    }
    for (const e of this.extra) events.push(e);
    return events;
  }

  /** Puts the slots from before the dump back (the snapshot is over already). Returns the deletes that take back what takeEvents gave. */
  abort(t: SnapshotTarget): RouteEvent[] {
    const events: RouteEvent[] = [];
    // A key a live message created was told at once: its removal is told too.
    if (this.fresh) for (const key of [...t.slots.keys()]) t.put(key, undefined, this.emitted || this.liveCreated.has(key) ? events : null);
    else for (const [key, before] of this.undo) t.put(key, before, null);
    return events;
  }
}

/** `each` over `items`, pausing (a yield) after every `per` of them. */
function* inSteps<T>(items: Iterable<T>, per: number, each: (item: T) => void): Generator<void> {
  let n = 0;
  for (const item of items) {
    each(item);
    if (++n === per) {
      n = 0;
      yield;
    }
  }
}
