/**
 * Waiting in tests: poll a condition until it holds, with a deadline generous enough for a busy
 * machine (other tests, daemons and namespaces beside this one; a CPU hog). The deadline is a hang
 * guard, never a timing assertion. When it expires, the error says what was awaited and what was
 * last seen, so a failure on a loaded CI box can be understood without running it again.
 *
 * RTREFLECT_TEST_TIME_SCALE (a number, default 1) multiplies every deadline, for slower machines.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { inspect } from 'node:util';

/** The default deadline of a wait. */
export const WAIT_MS = 60_000;

/** A deadline in ms, scaled by RTREFLECT_TEST_TIME_SCALE. */
export function deadlineMs(ms: number): number {
  const scale = Number(process.env.RTREFLECT_TEST_TIME_SCALE ?? 1);
  return Number.isFinite(scale) && scale > 0 ? Math.round(ms * scale) : ms;
}

export interface WaitOptions {
  /** What is awaited, for the failure message: "B to hold all of BIRD's routes". */
  describe: string;
  /** Deadline (default WAIT_MS; scaled by RTREFLECT_TEST_TIME_SCALE). */
  timeoutMs?: number;
  /** Pause between two polls (default 100 ms). */
  intervalMs?: number;
  /** A throw counts as "not yet" (and is quoted when time runs out) instead of failing at once. */
  retryErrors?: boolean;
  /** What there is instead, for the failure message; by default the condition's last result or error. */
  seen?: () => unknown;
}

/** The wait ran out of time: `expected` is what was awaited, `seen` what was there at the end. */
export class WaitTimeoutError extends Error {
  constructor(
    readonly expected: string,
    readonly seen: string,
    readonly timeoutMs: number,
  ) {
    super(`timed out after ${timeoutMs} ms waiting for ${expected}; last seen: ${seen}`);
    this.name = 'WaitTimeoutError';
  }
}

const show = (v: unknown): string =>
  v instanceof Error ? v.message : typeof v === 'string' ? v : inspect(v, { depth: 6, breakLength: Infinity, maxStringLength: 4000 });

/**
 * Resolves with the condition's first truthy result; undefined, null and false mean "not yet".
 * Rejects with a WaitTimeoutError after the deadline.
 */
export async function waitFor<T>(condition: () => T | undefined | null | false | Promise<T | undefined | null | false>, opts: WaitOptions): Promise<T> {
  const timeoutMs = deadlineMs(opts.timeoutMs ?? WAIT_MS);
  const deadline = Date.now() + timeoutMs;
  let last: unknown = '(not polled yet)';
  for (;;) {
    try {
      const v = await condition();
      if (v !== undefined && v !== null && v !== false) return v;
      last = v;
    } catch (err) {
      if (!opts.retryErrors) throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      let seen: string;
      try {
        seen = opts.seen ? show(await opts.seen()) : show(last);
      } catch (err) {
        seen = `(could not tell: ${show(err)})`;
      }
      throw new WaitTimeoutError(opts.describe, seen, timeoutMs);
    }
    await delay(opts.intervalMs ?? 100);
  }
}
