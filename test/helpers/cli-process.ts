/** Running the rtreflect CLI from tests, and waiting for what it does. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { packageRoot } from '../../src/util/package-info.js';
import { WAIT_MS, deadlineMs, waitFor as waitUntil } from './wait-for.js';

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

/** One line of rtreflect's log: pino's JSON object, or `{ msg }` for a line that is not one. */
export type LogLine = Record<string, unknown>;

export interface RtreflectOptions {
  /** The test's cleanup list: stopping the process goes on it at once, so a failing test still ends it. */
  cleanups: { push(cleanup: () => Promise<void>): unknown };
  /** Run inside this network namespace (`ip netns exec` execs the command: the pid stays rtreflect's). */
  netns?: string;
  /** Command words before node, such as setpriv and its options; each must exec the next, for the same reason. */
  wrapper?: string[];
  /** Added to the environment. The log is JSON unless RTREFLECT_LOG_FORMAT says otherwise. */
  env?: NodeJS.ProcessEnv;
}

/** Lines written after the exit by a process the child left behind are not waited for longer than this. */
const PIPES_AFTER_EXIT_MS = 5_000;
/** A test that failed asserts nothing about the exit: its cleanup need not wait as long for it. */
const CLEANUP_GRACE_MS = 10_000;

/**
 * An rtreflect process started by a test, owned by its pid: its output collected, its log parsed line
 * by line, and its end awaited with every line read.
 */
export class RtreflectProcess {
  /** The log so far, in order. */
  readonly logs: LogLine[] = [];
  readonly pid: number;
  /** Its exit code (null after a signal), once it has exited and its output has been read. */
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  private out = '';
  private err = '';
  private drained = false;

  constructor(args: string[], opts: RtreflectOptions) {
    const argv = [...(opts.netns ? ['ip', 'netns', 'exec', opts.netns] : []), ...(opts.wrapper ?? []), process.execPath, ...cliArgs(), ...args];
    this.child = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RTREFLECT_LOG_FORMAT: 'json', ...opts.env },
    });
    if (this.child.pid === undefined) throw new Error(`could not start ${argv.join(' ')}`);
    this.pid = this.child.pid;
    const pipesClosed = Promise.all([this.child.stdout!, this.child.stderr!].map((s) => new Promise((r) => s.once('close', r))));
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.out += d;
    });
    createInterface({ input: this.child.stderr! }).on('line', (l) => {
      this.err += `${l}\n`;
      this.logs.push(parseLogLine(l));
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        void Promise.race([pipesClosed, delay(PIPES_AFTER_EXIT_MS, undefined, { ref: false })]).then(() => {
          this.drained = true;
          resolve(code);
        });
      }),
    );
    opts.cleanups.push(async () => {
      await this.stop(CLEANUP_GRACE_MS);
    });
  }

  /** Not yet exited: its pid is still its own. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get exitCode(): number | null {
    return this.child.exitCode;
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  /** The last n log lines as JSON, for failure messages. */
  tail(n = 5): string {
    return JSON.stringify(this.logs.slice(-n));
  }

  /** Sends a signal while it runs; does nothing once it has exited. */
  signal(sig: NodeJS.Signals): void {
    if (this.running) process.kill(this.pid, sig);
  }

  /**
   * The first log line that matches (already written or still to come). Fails at once if the
   * process ends without writing one, and after the deadline otherwise.
   */
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs = WAIT_MS): Promise<LogLine> {
    return waitUntil(
      () => {
        const hit = this.logs.find(match);
        if (hit) return hit;
        if (this.drained) throw new Error(`rtreflect exited (${this.child.exitCode ?? this.child.signalCode}) before logging ${what}: ${this.tail()}`);
        return undefined;
      },
      { describe: `rtreflect to log ${what}`, timeoutMs, intervalMs: 50, seen: () => `rtreflect log: ${this.tail()}` },
    );
  }

  /** SIGTERM, then SIGKILL if it has not exited after graceMs; resolves with its exit code. */
  async stop(graceMs = WAIT_MS): Promise<number | null> {
    if (this.running) {
      this.signal('SIGTERM');
      const deadline = delay(deadlineMs(graceMs), 'late' as const, { ref: false });
      if ((await Promise.race([this.exited, deadline])) === 'late') this.signal('SIGKILL');
    }
    return this.exited;
  }
}

/** Starts `rtreflect ARGS`; see RtreflectOptions. */
export function startRtreflect(args: string[], opts: RtreflectOptions): RtreflectProcess {
  return new RtreflectProcess(args, opts);
}

function parseLogLine(line: string): LogLine {
  try {
    const v: unknown = JSON.parse(line);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as LogLine;
  } catch {
    /* not JSON: a plain message */
  }
  return { msg: line };
}
