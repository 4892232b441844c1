import { loadNative } from '../kernel/native.js';
import type { Logger } from '../util/logger.js';

/**
 * Gives memory back after a bulk load. Loading a full table (the start-up dump,
 * a re-dump after an overrun, a resync that rewrote a sink) leaves hundreds of
 * megabytes of garbage, a young generation grown to its largest, and freed C-heap
 * pages that neither V8 nor glibc returns on an idle process: the daemon would sit
 * at its peak for good. Once the work has settled, V8's low-memory collections and
 * a malloc_trim bring the resident size back to what the routes need. Small changes
 * never trigger it, so steady-state latency does not see the pause (the full-table
 * bench times its single changes after it).
 */
export class HeapCompactor {
  private pending = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly logger: Logger,
    /** True while the bulk work is still going on (sinks draining, flushing or resyncing): compaction waits for it. */
    private readonly busy: () => boolean,
    /** Changes (routes loaded, written, removed) that make a compaction worth its pause. */
    private readonly threshold = 20_000,
    /** Quiet time after the last bulk work before compacting. */
    private readonly settleMs = 1000,
  ) {}

  /** `n` routes were loaded or written in bulk; compacts once things are quiet if enough piled up. */
  note(n: number): void {
    if (this.stopped || n <= 0) return;
    this.pending += n;
    if (this.pending < this.threshold) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.compact(), this.settleMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private compact(): void {
    this.timer = undefined;
    if (this.busy()) {
      this.timer = setTimeout(() => this.compact(), this.settleMs);
      this.timer.unref();
      return;
    }
    const routes = this.pending;
    this.pending = 0;
    const before = process.memoryUsage.rss();
    const t0 = performance.now();
    try {
      const native = loadNative();
      native.lowMemoryNotification();
      native.mallocTrim();
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'heap compaction unavailable');
      return;
    }
    const after = process.memoryUsage.rss();
    this.logger.debug(
      { afterRoutes: routes, pauseMs: Math.round(performance.now() - t0), rssBeforeMiB: mib(before), rssAfterMiB: mib(after) },
      'memory compacted after bulk work',
    );
  }
}

const mib = (b: number): number => Math.round(b / 2 ** 20);
