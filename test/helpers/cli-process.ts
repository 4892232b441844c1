/** Running the rtreflect CLI from tests, and waiting for what it does. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/package-info.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Node arguments for the CLI as the running test was built: dist/ when compiled, src/ through tsx otherwise. */
export function cliArgs(): string[] {
  const root = packageRoot();
  return import.meta.url.includes('/dist/')
    ? [join(root, 'dist', 'src', 'cli', 'main.js')]
    : ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts')];
}

/**
 * Polls `fn` until it returns something truthy, failing the test after `ms`.
 * With `retryErrors`, a throw counts as "not yet" (and is quoted if time runs out).
 */
export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 20_000, opts: { retryErrors?: boolean; intervalMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      if (!opts.retryErrors) throw err;
      last = err;
    }
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}${last ? ` (${(last as Error).message})` : ''}`);
    await sleep(opts.intervalMs ?? 100);
  }
}
