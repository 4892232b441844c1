import type { Logger } from '../util/logger.js';
import type { Route, RouteEvent } from '../kernel/route.js';
import { routeKey } from '../kernel/route.js';
import type { ProcessReason } from '../handlers/api.js';
import type { ReflectedRoute } from './reflected-route.js';
import type { Sink } from './sink.js';
import { HoldDown, type HoldDownOptions } from './hold-down.js';
import { SinkWorker, type ResyncProgress, type ResyncRecord, type SinkDiff } from './sink-worker.js';

/** The handler chain as the engine sees it. */
export interface RouteChain {
  /** The routes the chain makes of one: a single one as itself, none or several as an array. */
  derive(route: ReflectedRoute, reason: ProcessReason): ReflectedRoute | ReflectedRoute[];
  originate(): ReflectedRoute[];
}

export interface ReflectorOptions {
  chain: RouteChain;
  sinks: Sink[];
  holdDown: HoldDownOptions;
  batchDelayMs: number;
  /** Least time between two resyncs of one sink (default 0). */
  resyncMinIntervalMs?: number;
  /** Keys walked per slice at the end of a sink read (default 8192; tests make it small). */
  resyncEndSlice?: number;
  logger: Logger;
  /** The kernel routes as they are now (the kernel source holds them; the engine keeps no copy). */
  kernelRoutes: () => Iterable<Route>;
  observer?: Partial<ReflectorObserver>;
}

/** Hooks for metrics; every one optional. */
export interface ReflectorObserver {
  kernelEvent(op: 'add' | 'del'): void;
  filtered(): void;
  latency(sink: string, seconds: number): void;
  resync(sink: string, rec: ResyncRecord): void;
  holdDown(state: 'engaged' | 'released', count: number): void;
}

export interface SinkStatus {
  name: string;
  kind: string;
  state: string;
  desired: number;
  applied: number;
  pending: number;
  writes: number;
  deletes: number;
  errors: number;
  skipped: number;
  lastError?: string;
  lastResync?: ResyncRecord;
  /** The resync under way: the sink is read while writes go on, then what the read decided is written. */
  resync?: ResyncProgress;
  extra?: Record<string, unknown>;
}

/** Derived routes of one kernel route, bare when single (the common case). */
type Derived = ReflectedRoute | ReflectedRoute[];

const ORIGIN_PREFIX = 'origin|';

/**
 * The level-triggered core. It feeds each sink worker, per kernel route key, what
 * the handler chain made of the route. Workers drain dirty keys against what they
 * applied, so the engine never replays an event queue: it converges on state.
 *
 * A route the chain passes through unchanged (the bulk of a table) is handed to
 * the workers as it is, and the engine keeps no copy: the workers find it again
 * by its kernel key. Only what handlers made (changed or extra routes, originated
 * ones) is kept here, to be taken back by identity.
 */
export class Reflector {
  readonly workers: SinkWorker[];
  /** Kernel key → the chain's output, when that is not the kernel route itself. */
  private readonly derived = new Map<string, Derived>();
  /** Pass-through routes whose kernel delete hold-down is holding back: taken back on release. */
  private readonly heldRoutes = new Map<string, ReflectedRoute>();
  private readonly kernelRoutes: () => Iterable<Route>;
  private readonly holdDown: HoldDown;
  private readonly logger: Logger;
  private readonly observer: Partial<ReflectorObserver>;
  private chain: RouteChain;
  private reevaluatePending: string | undefined;
  private idleWaiters: (() => void)[] = [];
  private filteredCount = 0;

  constructor(opts: ReflectorOptions) {
    this.chain = opts.chain;
    this.kernelRoutes = opts.kernelRoutes;
    this.logger = opts.logger;
    this.observer = opts.observer ?? {};
    this.workers = opts.sinks.map(
      (s) =>
        new SinkWorker(
          s,
          opts.logger,
          {
            latency: (sink, sec) => this.observer.latency?.(sink, sec),
            resyncDone: (sink, rec) => this.observer.resync?.(sink, rec),
            idle: () => this.checkIdle(),
          },
          opts.batchDelayMs,
          opts.resyncMinIntervalMs ?? 0,
          opts.resyncEndSlice,
        ),
    );
    this.holdDown = new HoldDown(opts.holdDown, {
      release: (keys) => {
        for (const k of keys) {
          const held = this.heldRoutes.get(k);
          this.heldRoutes.delete(k);
          this.transition(k, held, undefined);
        }
      },
      engaged: (n) => {
        this.logger.warn({ held: n }, 'hold-down engaged: mass withdrawal held back');
        this.observer.holdDown?.('engaged', n);
      },
      released: (n, why) => {
        this.logger.info({ released: n, why }, 'hold-down released');
        this.observer.holdDown?.('released', n);
      },
    });
  }

  get filtered(): number {
    return this.filteredCount;
  }

  get holdDownEngaged(): boolean {
    return this.holdDown.isEngaged;
  }

  get heldDeletes(): number {
    return this.holdDown.heldCount;
  }

  /** A normalized kernel event. */
  onKernelEvent(ev: RouteEvent): void {
    this.observer.kernelEvent?.(ev.op);
    const key = ev.key ?? routeKey(ev.route);
    if (ev.op === 'add') {
      this.holdDown.readded(key);
      // Back before its delete was released: the workers still have the old one (found by kernel key).
      this.heldRoutes.delete(key);
      this.transition(key, ev.route, this.runChain(ev.route, 'event'));
      return;
    }
    // Nothing derived (the chain dropped it, or no sink has a place for it): nothing to take back.
    const passed = !this.derived.has(key);
    if (passed && !this.workers.some((w) => w.holdsKernelRoute(ev.route))) return;
    if (this.holdDown.deleted(key)) {
      if (passed) this.heldRoutes.set(key, ev.route);
      return;
    }
    this.transition(key, ev.route, undefined);
  }

  /** Run every route through the chain again (a handler's verdicts changed). Coalesced. */
  reevaluate(reason: string): void {
    if (this.reevaluatePending !== undefined) return;
    this.reevaluatePending = reason;
    setImmediate(() => {
      const why = this.reevaluatePending!;
      this.reevaluatePending = undefined;
      this.logger.debug({ reason: why }, 're-evaluating routes through the chain');
      for (const route of this.kernelRoutes()) this.transition(routeKey(route), route, this.runChain(route, 'reevaluate'));
      this.refreshOriginated();
    });
  }

  /** Swap the chain (config reload) and re-run every route through the new one. */
  replaceChain(chain: RouteChain): void {
    this.chain = chain;
    for (const route of this.kernelRoutes()) this.transition(routeKey(route), route, this.runChain(route, 'resync'));
    this.refreshOriginated();
  }

  refreshOriginated(): void {
    const seen = new Set<string>();
    for (const r of this.chain.originate()) {
      const key = ORIGIN_PREFIX + routeKey(r);
      seen.add(key);
      // The chain already ran an originated route through the handlers after the one that made it.
      this.transition(key, undefined, r);
    }
    for (const key of [...this.derived.keys()]) {
      if (key.startsWith(ORIGIN_PREFIX) && !seen.has(key)) this.transition(key, undefined, undefined);
    }
  }

  /**
   * Start-up, as one step: every sink is read for what it already holds (after a restart, all
   * of it) while `loadKernel` loads the kernel snapshot. A key is written once the read of its
   * sink decided it, or at once when it changes after the snapshot is in; deletes wait for the
   * snapshot. Resolves when the snapshot is loaded and every sink is connected and taking writes
   * (READY); `compared` resolves when every sink's first comparison is written.
   */
  async startUp(loadKernel: () => Promise<void>): Promise<{ compared: Promise<void> }> {
    for (const w of this.workers) w.beginStartUp();
    const compared = this.resyncSinks('start-up');
    compared.catch(() => undefined); // the caller awaits it; stop() rejects it
    await loadKernel();
    this.refreshOriginated();
    for (const w of this.workers) w.snapshotLoaded();
    await Promise.all(this.workers.map((w) => w.whenLive()));
    return { compared };
  }

  /** Resync every sink (or the named ones): read what each holds, re-drain everything against it. */
  async resyncSinks(reason: string, names?: string[]): Promise<void> {
    const ws = names ? this.workers.filter((w) => names.includes(w.name)) : this.workers;
    await Promise.all(ws.map((w) => w.requestResync(reason)));
  }

  async diff(): Promise<SinkDiff[]> {
    return Promise.all(this.workers.map((w) => w.diff()));
  }

  /** Resolves when no sink has anything left to write. */
  whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.checkIdle();
    });
  }

  sinkStatus(): SinkStatus[] {
    return this.workers.map((w) => ({
      name: w.name,
      kind: w.sink.kind,
      state: w.connection,
      desired: w.desiredCount,
      applied: w.appliedCount,
      pending: w.pendingCount,
      ...w.stats,
      ...(w.lastError ? { lastError: w.lastError } : {}),
      ...(w.lastResync ? { lastResync: w.lastResync } : {}),
      ...(w.resyncProgress ? { resync: w.resyncProgress } : {}),
      ...(w.sink.statusExtra ? { extra: w.sink.statusExtra() } : {}),
    }));
  }

  stop(): void {
    this.holdDown.stop();
    for (const w of this.workers) w.stop();
  }

  private runChain(route: ReflectedRoute, reason: ProcessReason): Derived | undefined {
    const out = this.chain.derive(route, reason);
    if (!Array.isArray(out)) return out;
    if (out.length === 0) {
      this.filteredCount++;
      this.observer.filtered?.();
      return undefined;
    }
    return out.length === 1 ? out[0]! : out;
  }

  /**
   * Moves a key from what the workers have for it to `next`, the chain's output for
   * `current` (the kernel route; undefined for originated routes and releases of
   * changed ones). Unchanged handler output keeps its old objects and writes nothing.
   */
  private transition(key: string, current: ReflectedRoute | undefined, next: Derived | undefined): void {
    const stored = this.derived.get(key);
    if (stored !== undefined) {
      if (next !== undefined && next !== current && (stored === next || sameDerived(stored, next))) return;
      for (const r of each(stored)) for (const w of this.workers) w.removeCandidate(r);
      this.derived.delete(key);
    } else if (current !== undefined && next !== current) {
      // It was passed through before (or dropped: then the workers have nothing to remove).
      for (const w of this.workers) w.removeKernelRoute(current);
    }
    if (next === undefined) return;
    if (next === current) {
      for (const w of this.workers) w.putKernelRoute(current);
      return;
    }
    this.derived.set(key, next);
    for (const r of each(next)) for (const w of this.workers) w.addCandidate(r);
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0) return;
    if (this.workers.some((w) => w.pendingCount > 0 || w.resyncProgress !== undefined || w.connection !== 'up')) return;
    for (const f of this.idleWaiters.splice(0)) f();
  }
}

function each(d: Derived): ReflectedRoute[] {
  return Array.isArray(d) ? d : [d];
}

function sameDerived(a: Derived, b: Derived): boolean {
  const x = each(a),
    y = each(b);
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (!sameRoute(x[i]!, y[i]!)) return false;
  return true;
}

/** Structural equality of two reflected routes (handlers return fresh objects). */
export function sameRoute(a: ReflectedRoute, b: ReflectedRoute): boolean {
  if (a === b) return true;
  if (
    a.prefix !== b.prefix ||
    a.table !== b.table ||
    a.metric !== b.metric ||
    a.type !== b.type ||
    a.protocol !== b.protocol ||
    a.vrf !== b.vrf ||
    a.family !== b.family ||
    a.nhid !== b.nhid
  )
    return false;
  if (a.nexthops.length !== b.nexthops.length) return false;
  for (let i = 0; i < a.nexthops.length; i++) {
    const p = a.nexthops[i]!,
      q = b.nexthops[i]!;
    if (p.gateway !== q.gateway || p.ifindex !== q.ifindex || p.weight !== q.weight || p.ifname !== q.ifname || !!p.onlink !== !!q.onlink) return false;
  }
  return JSON.stringify(a.bgp ?? null) === JSON.stringify(b.bgp ?? null);
}
