/**
 * Network namespaces for integration tests and benches: unique names (rtr-<purpose>-<hex>),
 * commands run inside them, and deletion that always happens (destroy(), withNetns's finally,
 * and a last-resort synchronous sweep at process exit).
 */
import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export interface Netns {
  /** Namespace name as in `ip netns list` (usable with `ip -n NAME` and NetlinkSocket's netns option). */
  readonly name: string;
  /** Runs `ip netns exec NAME cmd ...args`; rejects with stderr when it exits non-zero. */
  exec(cmd: string, args?: string[]): Promise<ExecResult>;
  /** Runs `ip -n NAME -batch -` with the lines on stdin (e.g. "route add blackhole 10.0.0.0/24 proto bird"). */
  execBatch(lines: string[]): Promise<void>;
  /**
   * Like execBatch but synchronous: it blocks this process's event loop until `ip` is done, so the
   * kernel's notifications queue up unread meanwhile (tests of batching and overruns rely on that).
   */
  execBatchSync(lines: string[]): void;
  /**
   * A running `ip -n NAME -batch -` whose stdin stays open: a line written later is applied at
   * once, without a process start (changes timed against something else under way). destroy()
   * kills it if still open.
   */
  openBatch(): BatchPipe;
  /** Starts a long-running process inside the namespace; destroy() kills it (by PID) if still running. */
  spawn(cmd: string, args?: string[], opts?: SpawnOptions): ChildProcess;
  /** Kills processes started with spawn(), then deletes the namespace. Idempotent. */
  destroy(): Promise<void>;
}

export interface BatchPipe {
  write(lines: string[]): void;
  /** Ends the input; resolves once `ip` has applied what it got and exited. */
  close(): Promise<void>;
}

const live = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const name of live) {
      try {
        execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
      } catch {
        // Already gone; nothing else to do at exit.
      }
    }
  });
}

function run(cmd: string, args: string[], input?: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const e = new Error(`${cmd} ${args.slice(0, 6).join(' ')}${args.length > 6 ? ' ...' : ''} failed: ${stderr.trim() || err.message}`);
        (e as Error & { stderr?: string }).stderr = stderr;
        reject(e);
      } else {
        resolve({ stdout, stderr });
      }
    });
    if (input !== undefined) {
      child.stdin?.on('error', () => {
        /* the child exited early; its exit status reports why */
      });
      child.stdin?.end(input);
    }
  });
}

/** Creates `rtr-<purpose>-<8 hex>` with loopback up. purpose: short, [a-z0-9-]. */
export async function createNetns(purpose: string): Promise<Netns> {
  if (!/^[a-z0-9-]{1,20}$/.test(purpose)) throw new Error(`netns purpose "${purpose}" must be 1-20 chars of [a-z0-9-]`);
  const name = `rtr-${purpose}-${randomBytes(4).toString('hex')}`;
  installExitHook();
  await run('ip', ['netns', 'add', name]);
  live.add(name);
  const children = new Set<ChildProcess>();
  const track = (child: ChildProcess): ChildProcess => {
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };
  let destroyed = false;
  const ns: Netns = {
    name,
    exec: (cmd, args = []) => run('ip', ['netns', 'exec', name, cmd, ...args]),
    execBatch: async (lines) => {
      if (lines.length === 0) return;
      await run('ip', ['-n', name, '-batch', '-'], lines.join('\n') + '\n');
    },
    execBatchSync: (lines) => {
      if (lines.length === 0) return;
      execFileSync('ip', ['-n', name, '-batch', '-'], { input: lines.join('\n') + '\n', stdio: ['pipe', 'ignore', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
    },
    spawn: (cmd, args = [], opts = {}) => track(spawn('ip', ['netns', 'exec', name, cmd, ...args], opts)),
    openBatch: () => {
      const child = track(spawn('ip', ['-n', name, '-batch', '-'], { stdio: ['pipe', 'ignore', 'inherit'] }));
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      return {
        write: (lines) => void child.stdin!.write(lines.join('\n') + '\n'),
        close: async () => {
          child.stdin!.end();
          await exited;
        },
      };
    },
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      for (const child of children) {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          const exited = new Promise<void>((r) => child.once('exit', () => r()));
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
          await exited;
          clearTimeout(timer);
        }
      }
      try {
        await run('ip', ['netns', 'del', name]);
      } finally {
        live.delete(name);
      }
    },
  };
  try {
    await ns.execBatch(['link set lo up']);
  } catch (err) {
    await ns.destroy();
    throw err;
  }
  return ns;
}

/** Runs fn with a fresh namespace and deletes it afterwards, whatever happens. */
export async function withNetns<T>(purpose: string, fn: (ns: Netns) => Promise<T>): Promise<T> {
  const ns = await createNetns(purpose);
  try {
    return await fn(ns);
  } finally {
    await ns.destroy();
  }
}
