/**
 * At most `size` requests in flight at once. Slots go to the waiters in order: a batch waiting
 * for many is not overtaken by single requests.
 */
export class RequestWindow {
  private inflight = 0;
  private waitQ: { n: number; go: () => void }[] = [];
  private waitHead = 0;

  constructor(private readonly size: number) {}

  /** Takes `n` (<= size) slots, waiting in line when they are not free. */
  acquire(n = 1): Promise<void> {
    if (this.waitHead === this.waitQ.length && this.inflight + n <= this.size) {
      this.inflight += n;
      return Promise.resolve();
    }
    return new Promise((go) => this.waitQ.push({ n, go }));
  }

  release(n = 1): void {
    this.inflight -= n;
    while (this.waitHead < this.waitQ.length) {
      const next = this.waitQ[this.waitHead]!;
      if (this.inflight + next.n > this.size) break;
      this.inflight += next.n;
      this.waitQ[this.waitHead++] = undefined as unknown as { n: number; go: () => void };
      next.go();
    }
    if (this.waitHead > 1024 && this.waitHead * 2 > this.waitQ.length) {
      this.waitQ = this.waitQ.slice(this.waitHead);
      this.waitHead = 0;
    }
  }

  /** The connection is gone: every waiter gets its slots and goes on, to find it down and fail. */
  wakeAll(): void {
    this.inflight = 0;
    const waiters = this.waitQ.slice(this.waitHead);
    this.waitQ = [];
    this.waitHead = 0;
    for (const w of waiters) {
      this.inflight += w.n;
      w.go();
    }
  }
}
