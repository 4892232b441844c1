/**
 * One error type for the whole project. `code` is stable and machine-readable;
 * `message` names the thing that is wrong and, where there is one, the fix.
 * The CLI prints `message` alone (no stack) for errors with `userFacing` set.
 */

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

const { FAILURE, USAGE, UNAVAILABLE, CONFIG } = ExitCode;

/** Every error code, with the exit code of the CLI that fails with it. */
const EXIT_CODES = {
  // What the operator asked for or wrote.
  ERR_CONFIG: CONFIG,
  ERR_USAGE: USAGE,
  ERR_BAD_ARGUMENT: USAGE,
  ERR_UNKNOWN_PROTOCOL: USAGE,
  ERR_UNKNOWN_TABLE: USAGE,
  ERR_BAD_ADDRESS: FAILURE,
  ERR_BAD_PREFIX: FAILURE,
  ERR_HANDLER_START: FAILURE,
  // The control socket and the metrics listener.
  ERR_CONTROL_UNAVAILABLE: UNAVAILABLE,
  ERR_CONTROL_LISTEN: FAILURE,
  ERR_CONTROL_PROTOCOL: FAILURE,
  ERR_CONTROL_REFUSED: FAILURE,
  ERR_CONTROL_TIMEOUT: FAILURE,
  ERR_METRICS_LISTEN: FAILURE,
  // The kernel side: the native addon and rtnetlink (some raised in native/rtnl.c).
  ERR_NATIVE: FAILURE,
  ERR_NATIVE_MISSING: FAILURE,
  ERR_NETNS: FAILURE,
  ERR_NETLINK_SOCKET: FAILURE,
  ERR_NETLINK_FILTER: FAILURE,
  ERR_NETLINK_SEND: FAILURE,
  ERR_NETLINK_RECV: FAILURE,
  ERR_NETLINK_CLOSED: FAILURE,
  ERR_NETLINK_DUMP: FAILURE,
  ERR_NETLINK_MALFORMED: FAILURE,
  ERR_DUMP_INTERRUPTED: FAILURE,
  /** A dump interrupted by changes (NLM_F_DUMP_INTR) while streaming; retried. */
  ERR_DUMP_INTERRUPTED_STREAM: FAILURE,
  ERR_SD_NOTIFY: FAILURE,
  // The GoBGP sink and its gobgpd sidecar.
  ERR_GOBGP_ADDRESS: FAILURE,
  ERR_GOBGP_CONFIG: FAILURE,
  ERR_GOBGP_PROTO: FAILURE,
  ERR_GOBGP_DOWN: FAILURE,
  ERR_GOBGP_READ: FAILURE,
  ERR_GOBGP_WRITE: FAILURE,
  ERR_GOBGP_DECODE: FAILURE,
  ERR_GOBGP_DELETE_ALL: FAILURE,
  ERR_GOBGP_KEY: FAILURE,
  ERR_GOBGP_VRF: FAILURE,
  ERR_GOBGPD_CONFIG: FAILURE,
  ERR_GOBGPD_SPAWN: FAILURE,
  ERR_BGP_WIRE: FAILURE,
  // The VPP sink.
  ERR_VPP_API_DEFS: FAILURE,
  ERR_VPP_API_MISMATCH: FAILURE,
  ERR_VPP_CONNECT: FAILURE,
  ERR_VPP_DISCONNECTED: FAILURE,
  ERR_VPP_TIMEOUT: FAILURE,
  ERR_VPP_PROTOCOL: FAILURE,
  ERR_VPP_DECODE: FAILURE,
  ERR_VPP_ENCODE: FAILURE,
  ERR_VPP_RETVAL: FAILURE,
  ERR_VPP_KEY: FAILURE,
  // Everything else.
  ERR_LAB: FAILURE,
  /** A broken invariant: a bug, not something the operator can fix. */
  ERR_INTERNAL: FAILURE,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof EXIT_CODES;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(EXIT_CODES, code);
}

/** The CLI's exit status for an error with this code. */
export function exitCodeOf(code: ErrorCode): number {
  return EXIT_CODES[code];
}

export class RtreflectError extends Error {
  readonly code: ErrorCode;
  readonly userFacing: boolean;
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, opts: { userFacing?: boolean; cause?: unknown; details?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RtreflectError';
    this.code = code;
    this.userFacing = opts.userFacing ?? true;
    this.details = opts.details;
  }
}

export function isRtreflectError(err: unknown): err is RtreflectError {
  return err instanceof RtreflectError;
}
