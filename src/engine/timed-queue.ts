/**
 * A FIFO of items, each with a time (for the engine: when a key turned dirty,
 * for the write-latency metric). The times live in a parallel array of plain
 * doubles, so a full table of queued keys costs no boxed number per key, and
 * taking from the head is O(1) (the consumed prefix is dropped in bulk).
 */
export class TimedQueue<T> {
  private items: T[] = [];
  private times: number[] = [];
  private head = 0;
  /** The time of the item take() returned last. */
  takenAt = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T, at: number): void {
    this.items.push(item);
    this.times.push(at);
  }

  /** The oldest item (its time in `takenAt`), or undefined when empty. */
  take(): T | undefined {
    const h = this.head;
    if (h >= this.items.length) return undefined;
    const item = this.items[h]!;
    this.takenAt = this.times[h]!;
    this.items[h] = undefined as unknown as T; // no longer referenced from here
    this.head = h + 1;
    if (this.head === this.items.length) {
      this.items = [];
      this.times = [];
      this.head = 0;
    } else if (this.head >= 65_536 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Moves the items `ready` accepts (all by default) to the end of `to`, in order, with their times; keeps the rest. */
  moveTo(to: TimedQueue<T>, ready: (item: T) => boolean = () => true): void {
    if (this.length === 0) return;
    const keep = new TimedQueue<T>();
    for (let item = this.take(); item !== undefined; item = this.take()) {
      if (ready(item)) to.push(item, this.takenAt);
      else keep.push(item, this.takenAt);
    }
    this.items = keep.items;
    this.times = keep.times;
    this.head = 0;
  }
}
