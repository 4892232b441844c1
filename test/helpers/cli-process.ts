/** Running the rtreflect CLI from tests, and waiting for what it does. */
import { join } from 'node:path';
import { packageRoot } from '../../src/util/package-info.js';
import { WAIT_MS, waitFor as waitUntil } from './wait-for.js';

/** Node arguments for the CLI as the running test was built: dist/ when compiled, src/ through tsx otherwise. */
export function cliArgs(): string[] {
  const root = packageRoot();
  return import.meta.url.includes('/dist/') ? [join(root, 'dist', 'src', 'cli', 'main.js')] : ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts')];
}

/**
 * Polls `fn` until it returns something truthy, failing the test after `ms` (default WAIT_MS) with
 * what was awaited and what was last seen. With `retryErrors`, a throw counts as "not yet".
 */
export function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  ms = WAIT_MS,
  opts: { retryErrors?: boolean; intervalMs?: number; seen?: () => unknown } = {},
): Promise<T> {
  return waitUntil(fn, { describe: what, timeoutMs: ms, ...opts });
}
