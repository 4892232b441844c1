import type { ReplyOffsets } from './vpp-message-offsets.js';

/**
 * A chunk of requests of one kind (requestMany) sent at once: contexts
 * start..start+count-1, one timer, replies read in place (retval only).
 */
export interface Batch {
  name: string;
  start: number;
  count: number;
  replyId: number;
  reply: ReplyOffsets;
  retvals: Int32Array;
  /** Index into retvals of this batch's first request. */
  base: number;
  seen: Uint8Array;
  answered: number;
  /** The requestMany call this chunk belongs to: marked failed when the chunk fails. */
  call: { failed: boolean };
  resolve(): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** Batches waiting for replies (few: at most window / batch size, so a list is enough). */
export class OpenBatches {
  private list: Batch[] = [];

  get empty(): boolean {
    return this.list.length === 0;
  }

  add(b: Batch): void {
    this.list.push(b);
  }

  /** Takes `b` out; false when it was no longer open (answered, timed out or torn down). */
  remove(b: Batch): boolean {
    const i = this.list.indexOf(b);
    if (i < 0) return false;
    this.list.splice(i, 1);
    return true;
  }

  /** The batch a context belongs to. */
  of(ctx: number): Batch | undefined {
    for (const b of this.list) if ((ctx - b.start) >>> 0 < b.count) return b;
    return undefined;
  }

  /** The first batch whose replies carry this message id. */
  withReplyId(id: number): Batch | undefined {
    for (const b of this.list) if (b.replyId === id) return b;
    return undefined;
  }

  /** Whether a batch uses any of the contexts start..start+n-1. */
  overlaps(start: number, n: number): boolean {
    for (const b of this.list) if ((b.start - start) >>> 0 < n || (start - b.start) >>> 0 < b.count) return true;
    return false;
  }

  /** Every open batch, leaving none. */
  takeAll(): Batch[] {
    const all = this.list;
    this.list = [];
    return all;
  }
}
