/**
 * The GoBGP sink: injects reflected routes into gobgpd's RIB over its gRPC API.
 *
 * - Writes go through AddPathStream with binary NLRI/attributes (~1000 paths per
 *   message); withdrawals are `is_withdraw` paths in the same stream.
 * - Every path carries the ownership mark; readOwned lists only local paths with it.
 * - Writes are serialized among themselves. A read of the RIB (ListPath) runs beside them:
 *   gobgpd copies the table it lists inside its main loop, which also applies writes, and
 *   the engine treats what a read reports of a key written meanwhile as possibly older.
 * - gobgpd forgets injected paths when it restarts: any loss of the channel is
 *   reported as onResyncNeeded once it is back.
 */
import * as grpc from '@grpc/grpc-js';
import { RtreflectError } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import { bytesToPrefix, formatPrefix, type Prefix } from '../../util/ip.js';
import type { ReflectedRoute } from '../../engine/reflected-route.js';
import type { ApplyReport, Sink, SinkCapabilities, SinkChange, SinkConnectionState, SinkHooks, SinkProjection, SinkStatusExtra } from '../../engine/sink.js';
import { ATTR_MP_REACH_NLRI, decodeAttrs, decodePrefixNlri, type DecodedAttrs } from './bgp-wire.js';
import { GobgpClient, loadGobgpApi } from './gobgp-api.js';
import type { AddPathEncoder } from './add-path-encoder.js';
import { PathPlanner, type PlannedRoute } from './path-planner.js';
import { visitListPathResponse, type PathView } from './list-path-decoder.js';
import { AddPathRequests } from './add-path-requests.js';
import { PATHS_PER_MESSAGE, type GobgpSinkOptions } from './gobgp-options.js';
import { fnv1a } from '../../util/hash.js';
import {
  fingerprintFromRead, gobgpKey, hasMark, idsOfFingerprint, parseGobgpKey, parseOwnershipMark, type OwnershipMark, type ReadPath,
} from './gobgp-paths.js';

export type { GobgpSinkOptions } from './gobgp-options.js';

/**
 * What one change writes, all into one VRF or the global RIB: the planned route's paths
 * (then withdrawals of `withdrawIds`, paths it no longer has), or for a delete the
 * withdrawals of `withdrawIds` at `prefix`. Encoded when the batch is written.
 */
type KeyOps =
  | { key: string; vrf?: string; deleted: false; planned: PlannedRoute; withdrawIds: readonly number[] }
  | { key: string; vrf?: string; deleted: true; prefix: Prefix; withdrawIds: readonly number[] };

const CONNECTION_CODES = new Set([grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.DEADLINE_EXCEEDED, grpc.status.INTERNAL]);

function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: number })?.code;
  return typeof code === 'number' && CONNECTION_CODES.has(code);
}
function errText(e: unknown): string { return (e as { details?: string })?.details || (e as Error)?.message || String(e); }

export function createGobgpSink(options: GobgpSinkOptions, deps: { logger: Logger }): Sink & { readonly client: GobgpClient | undefined } {
  return new GobgpSink(options, deps.logger);
}

class GobgpSink implements Sink {
  readonly kind = 'gobgp';
  readonly name: string;
  readonly shutdownPolicy: { withdraw: boolean; graceMs: number };
  readonly batchSize: number;
  /** A path is planned from the route, the ownership mark and the loaded protos: nothing gobgpd says changes it. */
  readonly capabilities: SinkCapabilities = { stableProjection: true };
  client: GobgpClient | undefined;

  private readonly opts: GobgpSinkOptions;
  private readonly mark;
  private log: Logger;
  private hooks: SinkHooks | undefined;
  private st: SinkConnectionState = 'stopped';
  private stopped = false;
  private everUp = false;
  private resyncReason: string | undefined;
  private connecting: Promise<void> | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private backoffTimer: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  /** Write queue: one apply (or stream flush) at a time, so a key's writes keep their order. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Plans routes into paths; keeps per-next-hop-set templates (a WeakMap), made on first use. */
  private planner: PathPlanner | undefined;
  /**
   * The AddPathStreams batches are written into, open until a resync, a read or stop ends them
   * (one stream for many changes). gobgpd applies a stream's messages one after the other, decoding
   * each before it applies it: several streams overlap the two (5–25% faster at a full table here).
   * A key always goes to the same stream (streamOf), so its changes stay in order.
   */
  private readonly bulks: (BulkStream | undefined)[];
  /** After gobgpd refused a path in the open stream: one stream per batch, key by key on refusal, until then. */
  private carefulUntil = 0;
  private knownVrfs = new Set<string>();
  private lastError: string | undefined;
  private generation = 0;

  constructor(opts: GobgpSinkOptions, logger: Logger) {
    this.opts = opts;
    this.name = opts.name;
    this.batchSize = opts.batchSize;
    if (!(Number.isInteger(opts.streams) && opts.streams >= 1 && opts.streams <= 16)) throw new RtreflectError('ERR_GOBGP_CONFIG', `gobgp sink "${opts.name}": streams must be an integer 1..16`);
    this.bulks = new Array<BulkStream | undefined>(opts.streams).fill(undefined);
    this.shutdownPolicy = { ...opts.shutdown };
    this.mark = parseOwnershipMark(opts.ownership);
    this.log = logger.child({ sink: opts.name });
    if (!(Number.isInteger(opts.batchSize) && opts.batchSize > 0)) throw new RtreflectError('ERR_GOBGP_CONFIG', `gobgp sink "${opts.name}": batchSize must be a positive integer`);
  }

  state(): SinkConnectionState { return this.st; }

  statusExtra(): SinkStatusExtra {
    return { address: this.opts.address, vrfs: [...this.knownVrfs], ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  private setState(s: SinkConnectionState, detail?: string): void {
    if (this.st === s) return;
    this.st = s;
    try { this.hooks?.onState(s, detail); } catch (e) { this.log.error({ err: e }, 'onState hook threw'); }
  }

  async start(hooks: SinkHooks): Promise<void> {
    this.hooks = hooks;
    this.log = hooks.logger.child({ sink: this.name });
    this.stopped = false;
    this.client = new GobgpClient(this.opts.address, { protoDir: this.opts.protoDir, callTimeoutMs: this.opts.callTimeoutMs });
    this.setState('connecting');
    this.kickConnect();
    // Wait for the first attempt only; later attempts continue in the background.
    const first = this.connecting!;
    await Promise.race([first, new Promise((r) => setTimeout(r, this.opts.connectTimeoutMs + 200).unref())]);
    if (this.st !== 'up') {
      this.startedWithoutConnection = true;
      this.log.warn({ address: this.opts.address }, 'gobgpd not reachable yet; will keep trying');
    }
  }

  project(route: ReflectedRoute): SinkProjection {
    // apply() plans the route again from the change: planning is deterministic, and keeping plans between the two would hold one per dirty key.
    return this.pathPlanner().plan(route);
  }

  /** Its encoder speaks the schema of the protos the client loads. */
  private pathPlanner(): PathPlanner {
    return (this.planner ??= new PathPlanner(this.mark, loadGobgpApi(this.opts.protoDir).encoder));
  }

  keyOf(route: ReflectedRoute): string {
    return gobgpKey(route.vrf, route.prefix);
  }

  // ---- connection ----

  private kickConnect(): void {
    if (this.connecting || this.stopped) return;
    this.connecting = this.connectLoop().catch((e) => { this.log.error({ err: e }, 'gobgp connect loop failed'); }).finally(() => { this.connecting = undefined; });
  }

  private async connectLoop(): Promise<void> {
    let delay = this.opts.backoff.initialMs;
    while (!this.stopped) {
      const client = this.client!;
      try {
        await client.waitForReady(this.opts.connectTimeoutMs);
        const bgp = await client.getBgp();
        if (!bgp.global?.asn) throw new Error('gobgpd has no global configuration yet (BGP not started)');
        await this.refreshVrfs();
        this.onUp();
        return;
      } catch (e) {
        this.lastError = `connect to ${this.opts.address}: ${errText(e)}`;
        this.log.debug({ err: errText(e), delayMs: delay }, 'gobgpd not reachable');
        if (this.st === 'up') this.goDown(this.lastError);
      }
      const j = this.opts.backoff.jitter;
      await this.sleep(delay * (1 - j + 2 * j * Math.random()));
      delay = Math.min(delay * 2, this.opts.backoff.maxMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => { clearTimeout(timer); this.backoffTimer = undefined; resolve(); };
      const timer = setTimeout(wake, ms);
      this.backoffTimer = { timer, wake };
    });
  }

  private onUp(): void {
    if (this.stopped) return;
    this.generation++;
    this.setState('up');
    this.log.info({ address: this.opts.address }, 'connected to gobgpd');
    this.watchChannel();
    this.startHealth();
    const reason = this.resyncReason ?? (this.everUp ? 'gobgpd reconnected' : undefined);
    this.everUp = true;
    this.resyncReason = undefined;
    // The first connection during start() needs no resync (the engine syncs after start); any later one does.
    if (reason !== undefined || this.startedWithoutConnection) {
      this.startedWithoutConnection = false;
      try { this.hooks?.onResyncNeeded(reason ?? 'gobgpd connected'); } catch (e) { this.log.error({ err: e }, 'onResyncNeeded hook threw'); }
    }
  }
  private startedWithoutConnection = false;

  /** Leaving READY means the TCP connection went away: gobgpd may have restarted and lost our paths. */
  private watchChannel(): void {
    const gen = this.generation;
    const ch = this.client!.channel;
    const watch = (from: grpc.connectivityState): void => {
      if (this.stopped || gen !== this.generation) return;
      try { ch.watchConnectivityState(from, Date.now() + 86_400_000, () => {
        if (this.stopped || gen !== this.generation || this.st !== 'up') return;
        const now = ch.getConnectivityState(false);
        if (now === grpc.connectivityState.READY) { watch(now); return; }
        this.goDown(`gRPC channel to gobgpd left READY (${grpc.connectivityState[now]})`);
      }); } catch { /* channel closed */ }
    };
    watch(ch.getConnectivityState(false));
  }

  private startHealth(): void {
    clearInterval(this.healthTimer);
    const gen = this.generation;
    this.healthTimer = setInterval(() => {
      if (this.stopped || gen !== this.generation || this.st !== 'up') return;
      this.client!.getBgp().then(
        (r) => { if (!r.global?.asn && gen === this.generation) this.goDown('gobgpd lost its global configuration'); },
        (e) => { if (gen === this.generation) this.goDown(`gobgpd health check failed: ${errText(e)}`); },
      );
    }, this.opts.healthIntervalMs);
    this.healthTimer.unref();
  }

  private goDown(reason: string): void {
    if (this.stopped || this.st !== 'up') return;
    this.generation++;
    clearInterval(this.healthTimer);
    this.lastError = reason;
    this.bulks.fill(undefined); // they went with the connection; the resync on reconnect repairs what they carried
    this.resyncReason = `gobgpd connection lost (${reason}); it may have restarted and forgotten injected paths`;
    this.log.warn({ reason }, 'gobgpd connection down');
    this.setState('down', reason);
    this.kickConnect();
  }

  private requireUp(): GobgpClient {
    if (this.st !== 'up' || !this.client) {
      throw new RtreflectError('ERR_GOBGP_DOWN', `gobgp sink "${this.name}": not connected to gobgpd at ${this.opts.address}${this.lastError ? ` (${this.lastError})` : ''}`);
    }
    return this.client;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async refreshVrfs(): Promise<void> {
    this.knownVrfs = new Set((await this.client!.listVrfs()).map((v) => v.name));
  }

  // ---- reading ----

  async readOwned(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    await this.readOwnedEach((key, fp) => out.set(key, fp));
    return out;
  }

  async readOwnedEach(each: (key: string, fingerprint: string) => void): Promise<void> {
    this.requireUp();
    // What was written before the read is in gobgpd's RIB before the read begins.
    await this.serial(() => this.endBulk().catch(() => undefined));
    const client = this.requireUp();
    try {
      const attrSets = new AttributeSets(this.mark);
      // Same attribute set and identifier → same fingerprint (single-path keys, the common case).
      const fps = new Map<DecodedAttrs, Map<number, string>>();
      await this.refreshVrfs();
      const tables: (string | undefined)[] = [undefined, ...this.knownVrfs];
      for (const vrf of tables) {
        for (const fam of [4, 6] as const) {
          // A destination carries every path of its prefix: ours are grouped there, not across messages.
          // Per reply: the key, and our paths (the first one kept apart: most keys have one).
          let key: string | undefined;
          let first: ReadPath | undefined;
          let more: ReadPath[] | undefined;
          const onPath = (v: PathView): void => {
            // Local paths only: learned ones came from a peer.
            if (!v.local || v.nlriEnd <= v.nlriStart || !v.identifier) return;
            const set = attrSets.ofView(v);
            if (!set.marked) return;
            key ??= gobgpKey(vrf, nlriPrefixText(v.buf, v.nlriStart, v.nlriEnd, fam));
            const p = { id: v.identifier, attrs: set.attrs };
            if (first === undefined) first = p;
            else (more ??= [first]).push(p);
          };
          await client.listPathMessages(fam, vrf !== undefined ? { vrf } : {}, (msg) => {
            key = first = more = undefined;
            visitListPathResponse(msg, onPath);
            if (key === undefined || first === undefined) return;
            if (more !== undefined || vrf !== undefined) {
              each(key, fingerprintFromRead(vrf, more ?? [first]));
              return;
            }
            const { attrs, id } = first;
            let byId = fps.get(attrs);
            if (byId === undefined) fps.set(attrs, (byId = new Map()));
            let fp = byId.get(id);
            if (fp === undefined) byId.set(id, (fp = fingerprintFromRead(undefined, [first])));
            each(key, fp);
          });
        }
      }
    } catch (e) {
      if (isConnectionError(e)) this.goDown(`ListPath failed: ${errText(e)}`);
      throw new RtreflectError('ERR_GOBGP_READ', `gobgp sink "${this.name}": reading gobgpd's RIB failed: ${errText(e)}`, { cause: e });
    }
  }

  // ---- writing ----

  async apply(changes: SinkChange[]): Promise<ApplyReport> {
    this.requireUp();
    return this.serial(() => this.applyNow(changes));
  }

  /**
   * Everything apply() wrote is in gobgpd's RIB when this resolves (or it rejects, and a resync repairs).
   * When the engine merely goes idle the streams stay open: a new stream per change cost
   * about 0.6 ms at the median, and gobgpd ends a stream it refuses by itself (bulkFailed).
   */
  async flush(when?: 'idle' | 'resync'): Promise<void> {
    if (when === 'idle' || !this.bulks.some((b) => b !== undefined)) return;
    return this.serial(() => this.endBulk());
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
      this.goDown(`AddPathStream failed: ${errText(e)}`);
      return;
    }
    // Some batches written since the stream opened may be missing: compare and repair, carefully.
    this.carefulUntil = Date.now() + 300_000;
    this.log.warn({ err: errText(e) }, 'gobgpd refused a path in a bulk write; resyncing with one stream per batch');
    try { this.hooks?.onResyncNeeded(`gobgpd refused a bulk write (${errText(e)})`); } catch { /* logged by the engine */ }
  }

  private async applyNow(changes: SinkChange[]): Promise<ApplyReport> {
    const client = this.requireUp();
    const failed: ApplyReport['failed'] = [];
    const ops: KeyOps[] = [];
    const vrfFailures = new Map<string, string>();
    for (const ch of changes) {
      try {
        const op = ch.op === 'upsert' ? this.upsertOps(ch.key, ch.route, ch.was, ch.mayHold) : this.deleteOps(ch.key, ch.fingerprint, ch.mayHold);
        if (typeof op === 'string') { failed.push({ key: ch.key, error: op }); continue; }
        if (op.vrf !== undefined && !op.deleted) {
          const err = vrfFailures.get(op.vrf) ?? await this.ensureVrf(op.vrf);
          if (err) { vrfFailures.set(op.vrf, err); failed.push({ key: ch.key, error: err }); continue; }
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
        await Promise.all(requests.map(async (part, i) => {
          if (part.length === 0) return;
          const bulk = this.openBulk(client, i);
          for (const m of part) await bulk.write(m);
        }));
        for (const op of encoded) applied.push(op.key);
        return { applied, failed };
      } catch {
        // The stream had already failed: learn why, then send this batch the careful way below.
        await this.endBulk().catch(() => undefined);
        if (this.st !== 'up') {
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
        this.goDown(`AddPathStream failed: ${errText(e)}`);
        for (const op of encoded) failed.push({ key: op.key, error: `gobgpd unreachable: ${errText(e)}` });
      } else {
        // One bad path rejects its whole message: find it by sending each key alone.
        this.log.warn({ err: errText(e) }, 'gobgpd rejected a batch; retrying key by key');
        for (const op of encoded) {
          try {
            await client.addPathStreamBytes(this.encode(client.encoder, [op], 1, failed).requests[0]!);
            applied.push(op.key);
          } catch (e2) {
            if (isConnectionError(e2)) this.goDown(`AddPathStream failed: ${errText(e2)}`);
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
    const p = this.pathPlanner().plan(route);
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
    const planner = this.pathPlanner();
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

  /** undefined when the VRF exists (or was created), else why not. */
  private async ensureVrf(name: string): Promise<string | undefined> {
    if (this.knownVrfs.has(name)) return undefined;
    await this.refreshVrfs();
    if (this.knownVrfs.has(name)) return undefined;
    const conf = this.opts.vrfs[name];
    if (!this.opts.createVrfs || !conf) {
      return `VRF "${name}" does not exist in gobgpd; define it in gobgpd's config, or list it under the gobgp sink's vrfs (rd, rt) with createVrfs: true`;
    }
    try {
      const imp = conf.importRt ?? conf.rt ?? [], exp = conf.exportRt ?? conf.rt ?? [];
      await this.client!.addVrf({ name, rd: conf.rd, importRt: imp, exportRt: exp, id: conf.id ?? 0 });
      this.knownVrfs.add(name);
      this.log.info({ vrf: name, rd: conf.rd }, 'created VRF in gobgpd');
      return undefined;
    } catch (e) {
      return `creating VRF "${name}" in gobgpd failed: ${errText(e)}`;
    }
  }

  // ---- stop ----

  async stop(opts: { withdraw: boolean }): Promise<void> {
    if (this.stopped) return;
    try {
      if (opts.withdraw && this.st === 'up') {
        try {
          const owned = await this.readOwned();
          const changes: SinkChange[] = [...owned].map(([key, fingerprint]) => ({ op: 'delete', key, fingerprint }));
          let failed = 0;
          for (let i = 0; i < changes.length; i += this.batchSize) {
            failed += (await this.apply(changes.slice(i, i + this.batchSize))).failed.length;
          }
          this.log.info({ withdrawn: changes.length - failed, failed }, 'withdrew owned paths from gobgpd');
          if (changes.length && this.shutdownPolicy.graceMs > 0) await new Promise((r) => setTimeout(r, this.shutdownPolicy.graceMs));
        } catch (e) {
          this.log.warn({ err: errText(e) }, 'withdrawing paths on stop failed');
        }
      }
    } finally {
      if (this.st === 'up') await this.flush().catch(() => undefined);
      this.stopped = true;
      this.generation++;
      clearInterval(this.healthTimer);
      this.backoffTimer?.wake();
      await this.queue.catch(() => undefined);
      this.client?.close();
      this.setState('stopped');
    }
  }
}

type BulkStream = ReturnType<GobgpClient['openAddPathStream']>;

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

/** Work a change carries back from project(): a planned route of this sink's planner. */

/**
 * The attribute sets of a RIB read back, decoded once each: a table's paths
 * share a handful. Looked up by a hash of the bytes where they lie in the reply
 * (then compared there), so a path costs no strings, copies or views.
 */
class AttributeSets {
  private readonly byHash = new Map<number, { sig: Buffer[]; attrs: DecodedAttrs; marked: boolean }[]>();
  private count = 0;

  constructor(private readonly mark: OwnershipMark) {}

  /**
   * The decoded set of a path; its MP_REACH_NLRI's NLRI (the prefix itself, different on
   * every IPv6 path) is left out of the comparison: a fingerprint reads only its next hop.
   */
  ofView(v: PathView): { attrs: DecodedAttrs; marked: boolean } {
    const buf = v.buf;
    let h = 0x811c9dc5;
    for (let a = 0; a < v.attrCount; a++) {
      const s = v.attrStart[a]!, e = v.attrEnd[a]!;
      const cut = mpReachCut(buf, s, e);
      if (cut < 0) {
        for (let i = s; i < e; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
      } else {
        h = Math.imul(h ^ (buf[s]! & ~EXTENDED_LENGTH), 0x01000193);
        h = Math.imul(h ^ buf[s + 1]!, 0x01000193);
        for (let i = s + headLen(buf, s); i < cut; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
      }
      h = Math.imul(h ^ 0xff, 0x01000193);
    }
    h >>>= 0;
    const list = this.byHash.get(h);
    if (list) for (const e of list) if (sameSignificant(e.sig, v)) return e;
    const raw: Buffer[] = [];
    for (let a = 0; a < v.attrCount; a++) raw.push(buf.subarray(v.attrStart[a], v.attrEnd[a]));
    const attrs = decodeAttrs(raw);
    const entry = { sig: raw.map((b) => Buffer.from(significant(b))), attrs, marked: hasMark(attrs, this.mark) };
    if (++this.count > 65_536) {
      this.byHash.clear();
      this.count = 1;
    }
    if (list && this.byHash.has(h)) list.push(entry);
    else this.byHash.set(h, [entry]);
    return entry;
  }
}

const EXTENDED_LENGTH = 0x10;

/** Bytes of an attribute's header at buf[s]: flags, type, and a length of one or two bytes. */
const headLen = (buf: Buffer, s: number): number => (buf[s]! & EXTENDED_LENGTH ? 4 : 3);

/**
 * For an MP_REACH_NLRI attribute at buf[s, e): where its next hop ends (what follows is
 * the NLRI); -1 for any other attribute, or one too short to tell (it then counts whole,
 * and decodeAttrs reports it).
 */
function mpReachCut(buf: Buffer, s: number, e: number): number {
  if (e - s < 3 || buf[s + 1] !== ATTR_MP_REACH_NLRI) return -1;
  const head = s + headLen(buf, s);
  if (e < head + 4) return -1;
  const nhEnd = head + 4 + buf[head + 3]!;
  return nhEnd > e ? -1 : nhEnd;
}

/** Stored significant parts (see significant) against a path's attributes as they lie in the reply. */
function sameSignificant(sig: Buffer[], v: PathView): boolean {
  if (sig.length !== v.attrCount) return false;
  const buf = v.buf;
  for (let a = 0; a < sig.length; a++) {
    const want = sig[a]!, s = v.attrStart[a]!, e = v.attrEnd[a]!;
    const cut = mpReachCut(buf, s, e);
    if (cut < 0) {
      if (want.length !== e - s || !sameBytes(want, 0, buf, s, e)) return false;
      continue;
    }
    const from = s + headLen(buf, s);
    if (want.length !== 2 + cut - from || want[0] !== (buf[s]! & ~EXTENDED_LENGTH) || want[1] !== buf[s + 1]) return false;
    if (!sameBytes(want, 2, buf, from, cut)) return false;
  }
  return true;
}

/** a[at..] against b[s, e), byte by byte: attributes are a few bytes long, shorter than a native call's overhead. */
function sameBytes(a: Buffer, at: number, b: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (a[at++] !== b[i]) return false;
  return true;
}

const SIGNIFICANT = Buffer.alloc(2 + 4 + 255);

/**
 * The bytes of a path attribute that a fingerprint depends on: all of them, but
 * for MP_REACH_NLRI only flags, type, AFI/SAFI and the next hop (its length field
 * and its NLRI differ per prefix). The MP_REACH_NLRI view is only valid until the
 * next call. A malformed attribute counts whole; decodeAttrs reports it.
 */
function significant(b: Buffer): Buffer {
  const cut = mpReachCut(b, 0, b.length);
  if (cut < 0) return b;
  const head = headLen(b, 0);
  SIGNIFICANT[0] = b[0]! & ~EXTENDED_LENGTH; // extended length or not: the same attribute
  SIGNIFICANT[1] = b[1]!;
  b.copy(SIGNIFICANT, 2, head, cut);
  return SIGNIFICANT.subarray(0, 2 + cut - head);
}

const NLRI_ADDR = new Uint8Array(16);

/** "addr/len" of the prefix NLRI at buf[s, e) (no add-path id), checked like decodePrefixNlri, without intermediate objects. */
function nlriPrefixText(buf: Buffer, s: number, e: number, fam: 4 | 6): string {
  const alen = fam === 4 ? 4 : 16;
  const len = buf[s]!;
  const nbytes = (len + 7) >> 3;
  if (len > alen * 8 || e - s < 1 + nbytes) return formatPrefix(decodePrefixNlri(buf.subarray(s, e), fam).prefix); // throws the precise error
  NLRI_ADDR.fill(0);
  for (let i = 0; i < nbytes; i++) NLRI_ADDR[i] = buf[s + 1 + i]!;
  return bytesToPrefix(NLRI_ADDR, 0, alen, len);
}
