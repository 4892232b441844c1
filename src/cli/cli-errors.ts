import { CommanderError } from 'commander';
import { ExitCode, exitCodeOf, isRtreflectError, RtreflectError } from '../util/errors.js';

/** Errors a user can fix get one line and an exit code; anything else is a bug and keeps its stack. */
export function reportAndExit(err: unknown): never {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : ExitCode.USAGE);
  if (isRtreflectError(err) && err.userFacing) {
    process.stderr.write(`rtreflect: ${err.message}\n`);
    process.exit(exitCodeOf(err.code));
  }
  process.stderr.write(`rtreflect: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(ExitCode.SOFTWARE);
}

export function usageError(message: string): RtreflectError {
  return new RtreflectError('ERR_USAGE', message);
}
