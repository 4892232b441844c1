import { EventEmitter } from 'node:events';
import type { Logger } from '../util/logger.js';
import { RtreflectError } from '../util/errors.js';
import { loopTurn } from '../util/loop-turn.js';
import { forEachMessage, type NlMsg } from './netlink-frame.js';
import { RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV6_ROUTE, RTNLGRP_LINK, RTNLGRP_NEXTHOP } from './netlink-constants.js';
import { NetlinkSocket } from './netlink-socket.js';
import { netlinkDump, buildLinkDumpRequest, buildNexthopDumpRequest, buildRouteDumpRequest } from './netlink-dump.js';
import type { KernelFilter } from './kernel-route-reader.js';
import { KernelState } from './kernel-state.js';
import type { Family, Route, RouteEvent } from './route.js';

export interface KernelSourceOptions {
  /** Protocol numbers to keep; null keeps every protocol. */
  protocols: number[] | null;
  /** Table ids to keep; null keeps every table. */
  tables: number[] | null;
  families: Family[];
  receiveBufferBytes: number;
  /** Drop other protocols' route messages in the kernel (classic BPF). */
  bpfFilter: boolean;
  /** Least time between two resyncs caused by overruns or implicit deletes. */
  resyncMinIntervalMs: number;
  netns?: string;
  logger: Logger;
}

export interface KernelResyncInfo {
  reason: string;
  families: Family[];
  durationMs: number;
  /** Events the resync emitted: the difference between what we held and what the kernel holds. */
  adds: number;
  dels: number;
  routes: number;
}

export interface KernelSourceStats {
  events: { add: number; del: number };
  messages: number;
  overruns: number;
  resyncs: number;
  lastResync?: KernelResyncInfo & { at: string };
  lastOverrun?: string;
  receiveBufferBytes: number;
  receiveBufferForced: boolean;
}

/**
 * Events: 'event' (RouteEvent), 'overrun' ({ at }), 'resync' (KernelResyncInfo),
 * 'recheck' ({ families }) when the kernel may have dropped routes silently.
 *
 * Order as in VPP's linux-nl: subscribe first, then dump; messages arriving while
 * a dump runs are queued and replayed on top of its result, so nothing falls
 * between dump and stream. Beside a re-dump they are also applied at once. An overrun means lost messages: a re-dump (mark and
 * sweep) recovers them, rate-limited so a storm cannot loop it.
 */
export class KernelSource extends EventEmitter {
  private events: NetlinkSocket | undefined;
  private dumper: NetlinkSocket | undefined;
  private readonly state: KernelState;
  private syncing = false;
  private queued: Buffer[] = [];
  private seq = 1;
  private resyncRunning: Promise<void> | undefined;
  private resyncWanted: { reason: string; families: Set<Family> } | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private lastResyncEnd = 0;
  private closed = false;
  readonly stats: KernelSourceStats = {
    events: { add: 0, del: 0 },
    messages: 0,
    overruns: 0,
    resyncs: 0,
    receiveBufferBytes: 0,
    receiveBufferForced: false,
  };

  constructor(private readonly opts: KernelSourceOptions) {
    super();
    const filter: KernelFilter = {
      protocols: opts.protocols ? new Set(opts.protocols) : null,
      tables: opts.tables ? new Set(opts.tables) : null,
      families: new Set(opts.families),
    };
    this.state = new KernelState(filter);
  }

  /** A re-dump is under way (start-up, overrun, an operator's resync); events that arrive meanwhile still go out at once. */
  get resyncing(): boolean {
    return this.syncing;
  }

  get size(): number {
    return this.state.size;
  }

  routes(): IterableIterator<Route> {
    return this.state.routes();
  }

  ifname(ifindex: number): string | undefined {
    return this.state.ifname(ifindex);
  }

  /** Subscribe, dump, replay. Resolves once the initial snapshot has been emitted as `add` events. */
  async start(): Promise<void> {
    this.openEvents();
    if (!this.stats.receiveBufferForced && this.stats.receiveBufferBytes < this.opts.receiveBufferBytes) {
      this.opts.logger.warn(
        { wanted: this.opts.receiveBufferBytes, got: this.stats.receiveBufferBytes },
        'receive buffer smaller than asked (no CAP_NET_ADMIN for SO_RCVBUFFORCE; net.core.rmem_max caps it): overruns are more likely',
      );
    }
    this.dumper = NetlinkSocket.open({
      strictCheck: true,
      receiveBufferBytes: 8 * 1024 * 1024,
      // Two datagrams (a few hundred routes) per batch: a batch is taken in one go, and live events
      // wait behind it (the full-table bench's "live change during a resync's comparison").
      maxBatchMessages: 2,
      ...(this.opts.netns ? { netns: this.opts.netns } : {}),
    });
    this.dumper.unref();
    await this.runResync('start-up', new Set(this.opts.families));
  }

  /** Opens (subscribes) the event socket; a replaced socket's late callbacks are ignored. */
  private openEvents(): void {
    const groups = [RTNLGRP_LINK, RTNLGRP_NEXTHOP];
    if (this.opts.families.includes(4)) groups.push(RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV4_IFADDR);
    if (this.opts.families.includes(6)) groups.push(RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV6_IFADDR);
    const sock = NetlinkSocket.open({
      groups,
      receiveBufferBytes: this.opts.receiveBufferBytes,
      protocolFilter: this.opts.bpfFilter && this.opts.protocols ? this.opts.protocols : null,
      ...(this.opts.netns ? { netns: this.opts.netns } : {}),
    });
    this.stats.receiveBufferBytes = sock.receiveBufferBytes;
    this.stats.receiveBufferForced = sock.forced;
    sock.on('data', (batch: Buffer) => {
      if (this.events === sock) this.onBatch(batch);
    });
    sock.on('overrun', () => {
      if (this.events === sock) this.onOverrun();
    });
    sock.on('error', (err: Error) => this.opts.logger.error({ err: err.message }, 'netlink event socket error'));
    this.events = sock;
  }

  /**
   * Re-dump and emit the difference. Coalesced: a resync already running absorbs
   * new requests into one follow-up run.
   */
  requestResync(reason: string, families: Family[] = this.opts.families, opts: { rateLimited?: boolean } = {}): Promise<void> {
    if (!this.resyncWanted) this.resyncWanted = { reason, families: new Set() };
    for (const f of families) if (this.opts.families.includes(f)) this.resyncWanted.families.add(f);
    return this.pumpResync(opts.rateLimited ?? false);
  }

  close(): void {
    this.closed = true;
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.events?.close();
    this.dumper?.close();
  }

  private pumpResync(rateLimited: boolean): Promise<void> {
    if (this.resyncRunning) return this.resyncRunning.then(() => (this.resyncWanted ? this.pumpResync(rateLimited) : undefined));
    const wait = rateLimited ? this.lastResyncEnd + this.opts.resyncMinIntervalMs - Date.now() : 0;
    if (wait > 0) {
      if (!this.resyncTimer) {
        this.resyncTimer = setTimeout(() => {
          this.resyncTimer = undefined;
          void this.pumpResync(false).catch((err) => this.opts.logger.error({ err: (err as Error).message }, 'kernel resync failed'));
        }, wait);
      }
      return Promise.resolve();
    }
    const want = this.resyncWanted;
    if (!want || this.closed) return Promise.resolve();
    this.resyncWanted = undefined;
    this.resyncRunning = this.runResync(want.reason, want.families).finally(() => {
      this.resyncRunning = undefined;
      this.lastResyncEnd = Date.now();
    });
    return this.resyncRunning.then(() => (this.resyncWanted ? this.pumpResync(true) : undefined));
  }

  private async runResync(reason: string, families: Set<Family>): Promise<void> {
    const started = performance.now();
    this.syncing = true;
    let adds = 0,
      dels = 0;
    const emitAll = (evs: RouteEvent[]): void => {
      for (const ev of evs) {
        if (ev.op === 'add') adds++;
        else dels++;
        this.emitEvent(ev);
      }
    };
    try {
      // Links and nexthop objects first: routes refer to them.
      await this.dumpInto(buildLinkDumpRequest(this.seq++), (m) => emitAll(this.state.ingest(m).events));
      await this.dumpInto(buildNexthopDumpRequest(this.seq++), (m) => emitAll(this.state.ingest(m).events), { optional: true });
      for (const family of families) {
        for (let attempt = 1; ; attempt++) {
          this.state.beginSnapshot(family);
          try {
            let n = 0;
            for (const req of this.routeRequests(family)) {
              await this.dumpInto(req, (m) => {
                this.state.ingestSnapshot(m);
                // A first dump's routes go out as they come, so the sinks are written while the rest is read.
                if ((++n & 1023) === 0) emitAll(this.state.takeSnapshotEvents());
              });
            }
          } catch (err) {
            emitAll(this.state.abortSnapshot(family));
            if ((err as RtreflectError).code === 'ERR_DUMP_INTERRUPTED_STREAM' && attempt < 10) continue;
            throw err;
          }
          // In slices: at a full table the end of a re-dump walks a million keys, and live events must not wait for it.
          emitAll(await this.state.endSnapshotInSlices(family, loopTurn));
          break;
        }
      }
    } finally {
      // Replay what arrived meanwhile, on top of the snapshot.
      this.syncing = false;
      const q = this.queued;
      this.queued = [];
      for (const b of q) this.onBatch(b);
    }
    const info: KernelResyncInfo = {
      reason,
      families: [...families],
      durationMs: Math.round(performance.now() - started),
      adds,
      dels,
      routes: this.state.size,
    };
    this.stats.resyncs++;
    this.stats.lastResync = { ...info, at: new Date().toISOString() };
    this.opts.logger.info(info, 'kernel resync done');
    this.emit('resync', info);
  }

  private *routeRequests(family: Family): Generator<Buffer> {
    const table = this.opts.tables && this.opts.tables.length === 1 ? this.opts.tables[0] : undefined;
    // Filtered in the kernel (NETLINK_GET_STRICT_CHK), as `ip route show proto P` asks: a resync of a
    // few thousand routes among a million of another daemon's costs milliseconds, not seconds.
    for (const protocol of this.opts.protocols ?? [undefined]) {
      yield buildRouteDumpRequest({ family, seq: this.seq++, ...(protocol !== undefined ? { protocol } : {}), ...(table !== undefined ? { table } : {}) });
    }
  }

  private async dumpInto(req: Buffer, each: (m: NlMsg) => void, opts: { optional?: boolean } = {}): Promise<void> {
    try {
      await netlinkDump(this.dumper!, req, {
        onMessages: (msgs) => {
          for (const m of msgs) each(m);
        },
      });
    } catch (err) {
      // Kernels built without nexthop objects refuse that dump; nothing to track then.
      if (opts.optional && (err as RtreflectError).code !== 'ERR_DUMP_INTERRUPTED_STREAM') return;
      throw err;
    }
  }

  private onBatch(batch: Buffer): void {
    // Beside a dump the change goes out now (a dump of a full table takes seconds, and the sinks
    // must not wait for it), and is replayed on top of the dump's result, so the dump cannot undo
    // a change it listed too early.
    if (this.syncing) this.queued.push(Buffer.from(batch));
    let recheck: Family[] | undefined;
    try {
      forEachMessage(batch, (m) => {
        this.stats.messages++;
        let res;
        try {
          res = this.state.ingest(m);
        } catch (err) {
          // One bad message must not take the others with it; a resync repairs what it would have said.
          this.opts.logger.error({ err: (err as Error).message, type: m.type }, 'malformed netlink message skipped');
          recheck = [...this.opts.families];
          return;
        }
        for (const ev of res.events) this.emitEvent(ev);
        if (res.recheck.length) recheck = [...new Set([...(recheck ?? []), ...res.recheck])];
      });
    } catch (err) {
      this.opts.logger.error({ err: (err as Error).message }, 'malformed netlink batch; resyncing');
      recheck = [...this.opts.families];
    }
    if (recheck) {
      this.emit('recheck', { families: recheck });
      void this.requestResync('implicit-delete', recheck, { rateLimited: true }).catch((err) =>
        this.opts.logger.error({ err: (err as Error).message }, 'kernel resync failed'),
      );
    }
  }

  private onOverrun(): void {
    if (this.closed) return;
    this.stats.overruns++;
    this.stats.lastOverrun = new Date().toISOString();
    this.opts.logger.warn({ overruns: this.stats.overruns }, 'netlink receive buffer overrun: events lost, resyncing');
    // What is still queued in this socket predates the loss: replayed over the coming dump it would
    // bring back state that lost messages had changed (a deleted route re-added). A fresh subscription
    // made before the dump makes "dump + what follows" whole again, as at start-up.
    try {
      const old = this.events;
      this.openEvents();
      old?.close();
      if (this.syncing) this.queued = [];
    } catch (err) {
      this.opts.logger.error({ err: (err as Error).message }, 'cannot reopen the netlink event socket after an overrun; keeping the old one');
    }
    this.emit('overrun', { at: this.stats.lastOverrun });
    void this.requestResync('overrun', this.opts.families, { rateLimited: true }).catch((err) =>
      this.opts.logger.error({ err: (err as Error).message }, 'kernel resync after overrun failed'),
    );
  }

  private emitEvent(ev: RouteEvent): void {
    this.stats.events[ev.op]++;
    this.emit('event', ev);
  }
}
