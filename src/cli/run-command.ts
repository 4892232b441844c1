import { Daemon } from '../daemon/daemon.js';
import { createLogger } from '../util/logger.js';
import { reportAndExit } from './cli-errors.js';

/** `rtreflect run`: foreground daemon. SIGHUP reloads, SIGTERM/SIGINT stop cleanly. */
export async function runCommand(o: { config: string; control?: string }): Promise<void> {
  const logger = createLogger();
  const daemon = new Daemon({ configPath: o.config, logger, ...(o.control ? { controlSocket: o.control } : {}) });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    daemon.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err: (err as Error).message }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    logger.info('SIGHUP: reloading config');
    daemon.reload().catch(() => undefined);
  });
  try {
    await daemon.start();
  } catch (err) {
    // Release what was started (sockets, sidecar) before reporting.
    await daemon.stop().catch(() => undefined);
    logger.flush?.();
    reportAndExit(err);
  }
}
