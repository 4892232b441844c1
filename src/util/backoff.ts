/**
 * Capped exponential backoff with one jitter rule for every retry in rtreflect (sink writes,
 * sink reconnects): each delay doubles up to `maxMs`, then is scaled by a random factor in
 * [1 - jitter, 1 + jitter], so peers that failed together do not retry together.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** 0..1. */
  jitter: number;
}

export class Backoff {
  private next: number;

  constructor(private readonly opts: BackoffOptions) {
    this.next = opts.initialMs;
  }

  /** The delay before the next attempt; each call doubles the one after it, up to the cap. */
  delay(): number {
    const base = this.next;
    this.next = Math.min(this.opts.maxMs, base * 2);
    return base * (1 - this.opts.jitter + Math.random() * 2 * this.opts.jitter);
  }

  /** An attempt succeeded: the next failure starts from the initial delay again. */
  reset(): void {
    this.next = this.opts.initialMs;
  }
}
