import { pino, destination, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * JSON lines by default (what journald and log shippers want); pretty output
 * when asked for, or when stderr is a terminal and no format was forced.
 */
export function createLogger(opts: { level?: LevelWithSilent; pretty?: boolean; name?: string } = {}): Logger {
  const envPretty = process.env.RTREFLECT_LOG_FORMAT;
  const pretty = opts.pretty ?? (envPretty ? envPretty === 'pretty' : process.stderr.isTTY === true);
  const level = opts.level ?? (process.env.RTREFLECT_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info';
  if (pretty) {
    return pino({
      name: opts.name ?? 'rtreflect',
      level,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino({ name: opts.name ?? 'rtreflect', level, base: { pid: process.pid } }, destination({ fd: 2, sync: true }));
}

/** A logger that drops everything: for unit tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
