/**
 * Hold-down for mass withdrawals. A routing daemon restart (BIRD without
 * `persist`) deletes all of its kernel routes and adds them back seconds later;
 * passing that on would withdraw the whole table from the dataplane and peers.
 *
 * Deletes are collected for a short window. If fewer than `threshold` arrive in
 * it, they are released together when it ends (a lone delete waits at most
 * `windowMs`). If `threshold` or more arrive, hold-down engages: deletes are
 * held until `delayMs` after it engaged; routes that come back meanwhile cancel
 * their delete, so an unchanged route costs the dataplane nothing.
 */
export interface HoldDownOptions {
  enabled: boolean;
  /** Deletes within one window that count as a mass withdrawal. */
  threshold: number;
  windowMs: number;
  /** How long a mass withdrawal is held before the still-missing routes go. */
  delayMs: number;
}

export interface HoldDownHooks {
  /** Deletes that are now due: remove them from the desired state. */
  release(keys: string[]): void;
  engaged(count: number): void;
  released(count: number, reason: 'window' | 'timer'): void;
}

export class HoldDown {
  private readonly pending = new Set<string>();
  private windowTimer: NodeJS.Timeout | undefined;
  private holdTimer: NodeJS.Timeout | undefined;
  private engagedAt: number | undefined;

  constructor(
    private readonly opts: HoldDownOptions,
    private readonly hooks: HoldDownHooks,
  ) {}

  get isEngaged(): boolean {
    return this.engagedAt !== undefined;
  }

  get heldCount(): number {
    return this.pending.size;
  }

  /** A kernel delete for `key`. Returns true when it is deferred (do not remove it now). */
  deleted(key: string): boolean {
    if (!this.opts.enabled) return false;
    this.pending.add(key);
    if (this.engagedAt !== undefined) return true;
    if (this.pending.size >= this.opts.threshold) {
      this.engage();
    } else if (!this.windowTimer) {
      this.windowTimer = setTimeout(() => this.windowEnded(), this.opts.windowMs);
    }
    return true;
  }

  /** The route under `key` is back (or changed): its delete no longer applies. */
  readded(key: string): void {
    this.pending.delete(key);
  }

  isPending(key: string): boolean {
    return this.pending.has(key);
  }

  stop(): void {
    this.clearTimers();
  }

  private engage(): void {
    if (this.windowTimer) clearTimeout(this.windowTimer);
    this.windowTimer = undefined;
    this.engagedAt = Date.now();
    this.hooks.engaged(this.pending.size);
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      this.engagedAt = undefined;
      const n = this.pending.size;
      this.releaseAll();
      this.hooks.released(n, 'timer');
    }, this.opts.delayMs);
  }

  private windowEnded(): void {
    this.windowTimer = undefined;
    if (this.engagedAt !== undefined) return;
    this.releaseAll();
  }

  private releaseAll(): void {
    if (this.pending.size === 0) return;
    const keys = [...this.pending];
    this.pending.clear();
    this.hooks.release(keys);
  }

  private clearTimers(): void {
    if (this.windowTimer) clearTimeout(this.windowTimer);
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.windowTimer = this.holdTimer = undefined;
  }
}
