/**
 * One error type for the whole project. `code` is stable and machine-readable;
 * `message` names the thing that is wrong and, where there is one, the fix.
 * The CLI prints `message` alone (no stack) for errors with `userFacing` set.
 */
export class RtreflectError extends Error {
  readonly code: string;
  readonly userFacing: boolean;
  readonly details?: unknown;

  constructor(code: string, message: string, opts: { userFacing?: boolean; cause?: unknown; details?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RtreflectError';
    this.code = code;
    this.userFacing = opts.userFacing ?? true;
    this.details = opts.details;
  }
}

/** Exit codes from sysexits.h that operators and systemd units know. */
export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  USAGE: 64,
  DATAERR: 65,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  CONFIG: 78,
} as const;

export function isRtreflectError(err: unknown): err is RtreflectError {
  return err instanceof RtreflectError;
}
