import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeapCompactor } from '../../src/daemon/heap-compactor.js';
import type { Logger } from '../../src/util/logger.js';

/** A logger that records the messages the compactor writes. */
function recordingLogger(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  const logger = { debug: (_o: unknown, msg: string) => messages.push(msg) } as unknown as Logger;
  return { logger, messages };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('heap compaction: only after enough bulk work, once the work has settled, and never while sinks are busy', async () => {
  const { logger, messages } = recordingLogger();
  let busy = true;
  const c = new HeapCompactor(logger, () => busy, 1000, 20);
  c.note(999);
  await sleep(60);
  assert.deepEqual(messages, [], 'below the threshold nothing happens');
  c.note(1);
  await sleep(60);
  assert.deepEqual(messages, [], 'busy sinks postpone it');
  busy = false;
  await sleep(60);
  assert.deepEqual(messages, ['memory compacted after bulk work']);
  c.note(5000);
  c.stop();
  await sleep(60);
  assert.equal(messages.length, 1, 'stopped: no more compactions');
});
