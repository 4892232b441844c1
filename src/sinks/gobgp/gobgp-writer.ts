/**
 * The GoBGP sink's write path: changes become AddPathStream messages with binary NLRI and
 * attributes (PATHS_PER_MESSAGE paths each); withdrawals are `is_withdraw` paths in the
 * same stream. Writes are serialized among themselves (one apply or stream flush at a time,
 * so a key's writes keep their order).
 *
 * Normally batches go into AddPathStreams kept open across batches. After gobgpd refused a
 * path in one, the writer is careful for a while: one stream per batch, and key by key when
 * gobgpd refuses a batch, to find the path at fault.
 */
import { RtreflectError } from '../../util/errors.js';
import { fnv1a } from '../../util/hash.js';
import type { Prefix } from '../../util/ip.js';
import type { ReflectedRoute } from '../../engine/reflected-route.js';
import type { ApplyReport, SinkChange } from '../../engine/sink.js';
import type { GobgpClient } from './gobgp-api.js';
import type { AddPathEncoder } from './add-path-encoder.js';
import { AddPathRequests } from './add-path-requests.js';
import { PathPlanner, type PlannedRoute } from './path-planner.js';
import { PATHS_PER_MESSAGE } from './gobgp-options.js';
import { idsOfFingerprint, parseGobgpKey } from './gobgp-paths.js';
import { errText, isConnectionError, type GobgpConnection } from './gobgp-connection.js';
import type { GobgpVrfs } from './gobgp-vrfs.js';

/**
 * What one change writes, all into one VRF or the global RIB: the planned route's paths
 * (then withdrawals of `withdrawIds`, paths it no longer has), or for a delete the
 * withdrawals of `withdrawIds` at `prefix`. Encoded when the batch is written.
 */
type KeyOps =
  | { key: string; vrf?: string; deleted: false; planned: PlannedRoute; withdrawIds: readonly number[] }
  | { key: string; vrf?: string; deleted: true; prefix: Prefix; withdrawIds: readonly number[] };

type BulkStream = ReturnType<GobgpClient['openAddPathStream']>;

/** How long the writer stays careful after gobgpd refused a path in an open stream. */
const CAREFUL_MS = 300_000;

export class GobgpWriter {
  /** Write queue: one apply (or stream flush) at a time, so a key's writes keep their order. */
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * The AddPathStreams batches are written into, open until a resync, a read or stop ends them
   * (one stream for many changes). gobgpd applies a stream's messages one after the other, decoding
   * each before it applies it: several streams overlap the two (see bench/full-table-bench.ts, the raw
   * injector over one and two streams). A key always goes to the same stream (streamOf), so its
   * changes stay in order.
   */
  private readonly bulks: (BulkStream | undefined)[];
  /** After gobgpd refused a path in the open stream: one stream per batch, key by key on refusal, until then. */
  private carefulUntil = 0;

  constructor(
    private readonly name: string,
    streams: number,
    private readonly connection: GobgpConnection,
    private readonly vrfs: GobgpVrfs,
    private readonly planner: () => PathPlanner,
  ) {
    this.bulks = new Array<BulkStream | undefined>(streams).fill(undefined);
  }

  async apply(changes: SinkChange[]): Promise<ApplyReport> {
    this.connection.requireUp();
    return this.serial(() => this.applyNow(changes));
  }

  /**
   * Everything apply() wrote is in gobgpd's RIB when this resolves (or it rejects, and a resync repairs).
   * When the engine merely goes idle the streams stay open: opening a stream per change costs
   * more than a change, and gobgpd ends a stream it refuses by itself (bulkFailed).
   */
  async flush(when?: 'idle' | 'resync'): Promise<void> {
    if (when === 'idle' || !this.bulks.some((b) => b !== undefined)) return;
    return this.serial(() => this.endBulk());
  }

  /**
   * For a read of the RIB: waits, in the write queue, until the streams open now are flushed, so
   * what was written before the read is in gobgpd's RIB before it begins. The read itself then
   * runs beside later writes, outside the queue. A failed stream is reported by bulkFailed.
   */
  settleBeforeRead(): Promise<void> {
    return this.serial(() => this.endBulk().catch(() => undefined));
  }

  /** The open streams went with the connection; the resync on reconnect repairs what they carried. */
  forgetStreams(): void {
    this.bulks.fill(undefined);
  }

  /** Resolves once every write queued so far has finished. */
  async idle(): Promise<void> {
    await this.queue.catch(() => undefined);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Inside the queue: close the open streams and learn whether gobgpd took all of them. */
  private async endBulk(): Promise<void> {
    const open = this.bulks.filter((b): b is BulkStream => b !== undefined);
    this.bulks.fill(undefined);
    const failures = (await Promise.allSettled(open.map((b) => b.end()))).filter((r) => r.status === 'rejected');
    if (failures.length === 0) return;
    const e = (failures[0] as PromiseRejectedResult).reason as unknown;
    this.bulkFailed(e);
    throw new RtreflectError('ERR_GOBGP_WRITE', `gobgp sink "${this.name}": a bulk write to gobgpd failed: ${errText(e)}`, { cause: e });
  }

  /** Stream i, opened on first use; a failure while nobody waits on it is handled when it happens. */
  private openBulk(client: GobgpClient, i: number): BulkStream {
    const have = this.bulks[i];
    if (have) return have;
    const bulk = client.openAddPathStream();
    this.bulks[i] = bulk;
    bulk.done.catch((e: unknown) => {
      if (this.bulks[i] !== bulk) return; // endBulk (or a lost connection) took it and reports it
      this.bulks[i] = undefined;
      this.bulkFailed(e);
    });
    return bulk;
  }

  private bulkFailed(e: unknown): void {
    if (isConnectionError(e)) {
      this.connection.goDown(`AddPathStream failed: ${errText(e)}`);
      return;
    }
    // Some batches written since the stream opened may be missing: compare and repair, carefully.
    this.carefulUntil = Date.now() + CAREFUL_MS;
    this.connection.log.warn({ err: errText(e) }, 'gobgpd refused a path in a bulk write; resyncing with one stream per batch');
    try {
      this.connection.hooks?.onResyncNeeded(`gobgpd refused a bulk write (${errText(e)})`);
    } catch {
      /* logged by the engine */
    }
  }

  private async applyNow(changes: SinkChange[]): Promise<ApplyReport> {
    const client = this.connection.requireUp();
    const failed: ApplyReport['failed'] = [];
    const ops: KeyOps[] = [];
    const vrfFailures = new Map<string, string>();
    for (const ch of changes) {
      try {
        const op = ch.op === 'upsert' ? this.upsertOps(ch.key, ch.route, ch.was, ch.mayHold) : this.deleteOps(ch.key, ch.fingerprint, ch.mayHold);
        if (typeof op === 'string') {
          failed.push({ key: ch.key, error: op });
          continue;
        }
        if (op.vrf !== undefined && !op.deleted) {
          const err = vrfFailures.get(op.vrf) ?? (await this.vrfs.ensure(client, op.vrf, this.connection.log));
          if (err) {
            vrfFailures.set(op.vrf, err);
            failed.push({ key: ch.key, error: err });
            continue;
          }
        }
        ops.push(op);
      } catch (e) {
        failed.push({ key: ch.key, error: errText(e) });
      }
    }
    const applied: string[] = [];
    if (ops.length === 0) return { applied, failed };
    // Encoded once, a set of requests per stream (a key always goes to the same one); a key that
    // cannot be encoded fails alone.
    const careful = Date.now() < this.carefulUntil;
    const { requests, encoded } = this.encode(client.encoder, ops, careful ? 1 : this.bulks.length, failed);
    if (encoded.length === 0) return { applied, failed };
    if (!careful) {
      // Fast path: into the open stream; gobgpd's verdict comes with flush(), or by itself if it refuses.
      try {
        await Promise.all(
          requests.map(async (part, i) => {
            if (part.length === 0) return;
            const bulk = this.openBulk(client, i);
            for (const m of part) await bulk.write(m);
          }),
        );
        for (const op of encoded) applied.push(op.key);
        return { applied, failed };
      } catch {
        // The stream had already failed: learn why, then send this batch the careful way below.
        await this.endBulk().catch(() => undefined);
        if (this.connection.state() !== 'up') {
          for (const op of encoded) failed.push({ key: op.key, error: 'gobgpd unreachable' });
          return { applied, failed };
        }
      }
    }
    try {
      await client.addPathStreamBytes(requests.flat());
      for (const op of encoded) applied.push(op.key);
    } catch (e) {
      if (isConnectionError(e)) {
        this.connection.goDown(`AddPathStream failed: ${errText(e)}`);
        for (const op of encoded) failed.push({ key: op.key, error: `gobgpd unreachable: ${errText(e)}` });
      } else {
        // One bad path rejects its whole message: find it by sending each key alone.
        this.connection.log.warn({ err: errText(e) }, 'gobgpd rejected a batch; retrying key by key');
        for (const op of encoded) {
          try {
            await client.addPathStreamBytes(this.encode(client.encoder, [op], 1, failed).requests[0]!);
            applied.push(op.key);
          } catch (e2) {
            if (isConnectionError(e2)) this.connection.goDown(`AddPathStream failed: ${errText(e2)}`);
            failed.push({ key: op.key, error: `gobgpd refused the path: ${errText(e2)}` });
          }
        }
      }
    }
    return { applied, failed };
  }

  /**
   * `was` (the fingerprint applied before) and `mayHold` (others gobgpd may still hold paths of):
   * their add-path ids tell which old paths to withdraw.
   */
  private upsertOps(key: string, route: ReflectedRoute, was: string | undefined, mayHold: string[] | undefined): KeyOps | string {
    const p = this.planner().plan(route);
    if ('skip' in p) return `cannot be carried by GoBGP: ${p.skip}`;
    if (p.key !== key) return `key mismatch: change names ${key}, route projects to ${p.key}`;
    // Paths the previous version had and this one has not: withdrawn after the new ones are added.
    let gone: readonly number[] = NONE;
    const before = mayHold === undefined ? (was !== undefined && was !== p.fingerprint ? [was] : []) : was !== undefined ? [was, ...mayHold] : mayHold;
    if (before.length > 0) {
      const now = idsOfFingerprint(p.fingerprint);
      gone = [...new Set(before.flatMap(idsOfFingerprint))].filter((old) => !now.includes(old));
    }
    const vrf = PathPlanner.vrfOf(p);
    return vrf !== undefined ? { key, vrf, deleted: false, planned: p, withdrawIds: gone } : { key, deleted: false, planned: p, withdrawIds: gone };
  }

  private deleteOps(key: string, fingerprint: string, mayHold: string[] | undefined): KeyOps | string {
    const { vrf, prefix } = parseGobgpKey(key);
    const ids = [...new Set([fingerprint, ...(mayHold ?? [])].flatMap(idsOfFingerprint))];
    if (ids.length === 0) return `nothing to withdraw: no add-path identifier known for ${key}`;
    return vrf !== undefined ? { key, vrf, deleted: true, prefix, withdrawIds: ids } : { key, deleted: true, prefix, withdrawIds: ids };
  }

  /**
   * AddPathStream messages for these ops, PATHS_PER_MESSAGE paths each (a key's paths never
   * split), one VRF per message; `streams` sets of them, a key always in the one streamOf
   * names. A key that cannot be encoded is taken back and reported in `failed`.
   */
  private encode(encoder: AddPathEncoder, ops: KeyOps[], streams: number, failed: ApplyReport['failed']): { requests: Buffer[][]; encoded: KeyOps[] } {
    const planner = this.planner();
    const outs = Array.from({ length: streams }, () => new AddPathRequests(encoder, PATHS_PER_MESSAGE));
    const encoded: KeyOps[] = [];
    // The global RIB's keys first, then each VRF's together: fewer, fuller messages.
    const order = ops.some((op) => op.vrf !== undefined) ? [...ops].sort(byVrf) : ops;
    for (const op of order) {
      const out = outs[streams === 1 ? 0 : streamOf(op.key, streams)]!;
      out.begin(op.vrf);
      try {
        if (op.deleted) for (const id of op.withdrawIds) planner.withdraw(out, op.prefix, id);
        else planner.write(out, op.planned, op.withdrawIds);
        encoded.push(op);
      } catch (e) {
        out.abort();
        failed.push({ key: op.key, error: `could not be encoded for gobgpd: ${errText(e)}` });
      }
    }
    return { requests: outs.map((o) => o.take()), encoded };
  }
}

/** The stream a key always goes to: FNV-1a of the key, modulo the number of streams. */
export function streamOf(key: string, streams: number): number {
  return fnv1a(key) % streams;
}

/** Global RIB first, then by VRF name (Array.prototype.sort is stable: a key's order within its VRF stays). */
function byVrf(a: KeyOps, b: KeyOps): number {
  if (a.vrf === b.vrf) return 0;
  if (a.vrf === undefined) return -1;
  if (b.vrf === undefined) return 1;
  return a.vrf < b.vrf ? -1 : 1;
}

const NONE: readonly number[] = [];
