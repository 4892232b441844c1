import { Backoff } from '../../util/backoff.js';
import type { VppClient } from './vpp-client.js';

/**
 * Spread of each reconnect delay around its step (Backoff's jitter rule): sinks that lost VPP
 * together, when it restarted, do not all come back in the same instant.
 */
export const RECONNECT_JITTER = 0.25;

/**
 * Keeps a client connected: after a loss it retries with backoff, runs `setup`
 * on each new connection and then `onUp`. `setup` failures count as failed attempts.
 */
export class ReconnectLoop {
  private timer: NodeJS.Timeout | undefined;
  private readonly backoff: Backoff;
  private stopped = false;
  private running = false;

  constructor(
    private readonly client: VppClient,
    backoff: { initialMs: number; maxMs: number },
    private readonly setup: () => Promise<void>,
    private readonly onUp: () => void,
    /** `retryInMs`: the delay before the next attempt, as it is scheduled. */
    private readonly onAttemptFailed: (err: Error, retryInMs: number) => void,
  ) {
    this.backoff = new Backoff({ ...backoff, jitter: RECONNECT_JITTER });
  }

  /** Tries again after the next backoff delay, unless stopped or an attempt is already due or under way. */
  schedule(): void {
    if (this.stopped || this.timer || this.running) return;
    this.scheduleIn(this.nextDelay());
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private nextDelay(): number {
    return Math.round(this.backoff.delay());
  }

  private scheduleIn(delay: number): void {
    if (this.stopped || this.timer || this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tryOnce();
    }, delay);
    this.timer.unref?.();
  }

  private async tryOnce(): Promise<void> {
    if (this.stopped) return;
    this.running = true;
    try {
      await this.client.connect();
      await this.setup();
      this.running = false;
      if (this.stopped) return;
      this.backoff.reset();
      this.onUp();
    } catch (err) {
      this.running = false;
      if (this.stopped) return;
      if (this.client.connected) await this.client.close().catch(() => undefined);
      const delay = this.nextDelay();
      this.onAttemptFailed(err as Error, delay);
      this.scheduleIn(delay);
    }
  }
}
