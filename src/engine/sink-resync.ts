import type { Sink } from './sink.js';
import { pickWinner } from './candidates.js';
import type { KeyRecord, KeyTable } from './key-table.js';

export interface ResyncRecord {
  at: string;
  reason: string;
  durationMs: number;
  upserts: number;
  deletes: number;
  ok: boolean;
  error?: string;
  /** Entries the sink reported holding (ours only). */
  read?: number;
  /** How long the read of the sink took. */
  readMs?: number;
}

/** What one resync pass would write: computed without writing (rtreflect diff). */
export interface SinkDiff {
  sink: string;
  upserts: { key: string; fingerprint: string; was?: string }[];
  deletes: { key: string; fingerprint: string }[];
}

/** Where a resync pass stands, for status: the sink is read while writes go on, then what the read decided is written. */
export interface ResyncProgress {
  reason: string;
  phase: 'reading' | 'writing';
  /** Entries read so far. */
  read: number;
  /** Keys some route wants: about what a sink in sync holds. */
  expected: number;
  sinceMs: number;
}

export interface ResyncWaiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

/** The side of the sink worker a resync pass needs. */
export interface ResyncHost {
  readonly table: KeyTable;
  readonly sink: Sink;
  /** Queue the key for comparison and writing. */
  requeue(e: KeyRecord): void;
  /** The sink may still hold parts of `fp` under the key, beside what was applied: the next write takes them away. */
  mayHold(e: KeyRecord, fp: string): void;
  /** What the key holds was presumed (see SinkWorker.presume) and no write has confirmed it since. */
  presumedOnly(e: KeyRecord): boolean;
}

/** Keys walked per slice at the end of a read. */
const END_SLICE = 8192;

/**
 * One resync of a sink: its own entries are read while writes keep flowing, and each key the
 * read reports is decided at once (same → nothing, different → written, not wanted → deleted).
 * A key written since the read began is written as the kernel wants it already; what the read
 * says of it may predate that write, so a report that differs only leads to one more write that
 * also takes away what was reported (anything the first write could not know of).
 * When the read ends, keys it did not report and nobody wrote meanwhile are ones the sink does
 * not hold: they are written.
 */
export class ResyncPass {
  readonly started = performance.now();
  phase: 'reading' | 'writing' = 'reading';
  /** The read has ended; its end is walking the table (phase still 'reading') or has walked it. */
  readDone = false;
  read = 0;
  readMs = 0;
  /** Reports of keys whose write was in flight when read: looked at once the write is answered. */
  private readonly lateReports = new Map<KeyRecord, string>();
  /** What writes answered since the read began took away, per key (their `was`, or what they deleted). */
  private readonly takenAway = new Map<KeyRecord, string[]>();

  constructor(
    private readonly host: ResyncHost,
    readonly reason: string,
    /** The requests this pass answers. */
    readonly waiters: ResyncWaiter[],
    /** The worker's write counts when the pass began. */
    readonly before: { writes: number; deletes: number },
  ) {}

  /** The sink holds `reported` under `key`. */
  onReported(key: string, reported: string): void {
    const table = this.host.table;
    this.read++;
    if (table.reportedBare(key, reported)) return; // in sync, and stays without a record
    const fp = table.intern(reported);
    const e = table.recordAsRead(key, fp);
    if (table.isChanged(e) || table.isInFlight(e)) {
      table.markSeen(e);
      if (table.isInFlight(e)) this.lateReports.set(e, fp);
      else if (!this.accountedFor(e, fp)) this.host.mayHold(e, fp);
      return;
    }
    table.setApplied(e, fp);
    table.markSeen(e);
    if (e.cands !== undefined && !table.isQueued(e)) {
      const p = this.host.sink.project(pickWinner(e.cands));
      if (!('skip' in p) && p.fingerprint === fp) {
        table.synced(e, false);
        return;
      }
    }
    // Different, not wanted (a delete: held back while the kernel snapshot is still loading), or queued anyway.
    this.host.requeue(e);
  }

  /**
   * A write of this key was answered (`took`: what it took away; none when it failed): when the
   * read reported the key while the write was in flight, and reported something neither applied
   * now nor taken away by a write, write it again taking that away too.
   */
  afterWrite(e: KeyRecord, took: readonly string[]): void {
    if (took.length > 0) {
      const list = this.takenAway.get(e);
      if (list === undefined) this.takenAway.set(e, [...took]);
      else list.push(...took);
    }
    const late = this.lateReports.get(e);
    if (late === undefined) return;
    this.lateReports.delete(e);
    if (!this.accountedFor(e, late)) this.host.mayHold(e, late);
  }

  /** Whether what the sink reported is what is applied, or was taken away by a write since the read began. */
  private accountedFor(e: KeyRecord, reported: string): boolean {
    return reported === e.applied || this.takenAway.get(e)?.includes(reported) === true;
  }

  /**
   * The read is complete: what it did not decide, the sink does not hold. The table is walked in
   * slices of `per` keys with `between()` awaited in between (at a full table the walk takes tens of
   * ms, which live changes must not wait for); they are written meanwhile and count as decided.
   * False when `current()` says the pass was dropped (the worker stopped) during the walk.
   */
  async endOfRead(between: () => Promise<void>, current: () => boolean, per = END_SLICE): Promise<boolean> {
    const table = this.host.table;
    this.readMs = performance.now() - this.started;
    this.readDone = true;
    const steps = table.endReadSteps((e, seen, changed) => {
      // Decided: reported, or written since the read began (a presumption nothing wrote is not).
      if (seen || (changed && (table.isInFlight(e) || !this.host.presumedOnly(e)))) return;
      table.setApplied(e, undefined);
      if (e.cands !== undefined) this.host.requeue(e);
      else table.dropIfEmpty(e);
    }, per);
    while (!steps.next().done) {
      await between();
      if (!current()) {
        steps.return();
        return false;
      }
    }
    this.phase = 'writing';
    return true;
  }

  progress(): ResyncProgress {
    return {
      reason: this.reason,
      phase: this.phase,
      read: this.read,
      expected: this.host.table.desiredCount,
      sinceMs: Math.round(performance.now() - this.started),
    };
  }
}

/** What a resync would change now, applying nothing. */
export async function diffSink(name: string, sink: Sink, table: KeyTable): Promise<SinkDiff> {
  const owned = await sink.readOwned();
  const out: SinkDiff = { sink: name, upserts: [], deletes: [] };
  table.forEachDesired((key, cands) => {
    const p = sink.project(pickWinner(cands));
    if ('skip' in p) return;
    const was = owned.get(key);
    if (was !== p.fingerprint) out.upserts.push(was === undefined ? { key, fingerprint: p.fingerprint } : { key, fingerprint: p.fingerprint, was });
  });
  for (const [key, fp] of owned) if (!table.isDesired(key)) out.deletes.push({ key, fingerprint: fp });
  return out;
}

/** A resync under way, as status lines say it: "verifying (n of N read)". */
export function resyncText(p: Pick<ResyncProgress, 'phase' | 'read' | 'expected'>): string {
  return p.phase === 'reading' ? `verifying (${p.read} of ${p.expected} read)` : `verifying (${p.read} read; writing the difference)`;
}
