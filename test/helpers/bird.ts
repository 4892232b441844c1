/**
 * A real BIRD 2 for tests: runs inside a network namespace with a generated config in a temp
 * dir, its control socket there too. Stopped by PID only (SIGTERM, so BIRD withdraws its kernel
 * routes as on a normal shutdown; SIGKILL if it does not exit). Reusable by any test.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait-for.js';

export interface TestBirdOptions {
  /** Network namespace name (as in `ip netns list`). */
  netns: string;
  /** bird.conf text. */
  config: string;
}

export interface TestBird {
  /** PID of the running bird (changes on start()). */
  readonly pid: number | undefined;
  readonly dir: string;
  readonly configPath: string;
  readonly socketPath: string;
  /** Runs `birdc -s SOCK ...args` inside the namespace and returns its output. */
  birdc(args: string[]): Promise<string>;
  /** Rewrites bird.conf (then `configure()` to apply it). */
  writeConfig(text: string): void;
  /** `birdc configure`; rejects unless BIRD reports the reconfiguration done. */
  configure(): Promise<string>;
  /** Starts BIRD (again) and waits until its control socket answers. */
  start(): Promise<void>;
  /** SIGTERM by PID and wait for exit (SIGKILL after 30 s). The temp dir stays. */
  stop(): Promise<void>;
  /** stop() and remove the temp dir. Idempotent. */
  destroy(): Promise<void>;
  log(): string;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${(stderr || stdout).trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

export async function startBird(opts: TestBirdOptions): Promise<TestBird> {
  const dir = mkdtempSync(join(tmpdir(), 'rtr-bird-'));
  const configPath = join(dir, 'bird.conf');
  const socketPath = join(dir, 'bird.ctl');
  const logPath = join(dir, 'bird.log');
  writeFileSync(configPath, opts.config);
  let child: ChildProcess | undefined;
  let destroyed = false;

  const readLog = (): string => (existsSync(logPath) ? readFileSync(logPath, 'utf8').slice(-4000) : '');
  const birdc = (args: string[]): Promise<string> => run('ip', ['netns', 'exec', opts.netns, 'birdc', '-s', socketPath, ...args]);

  const stop = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGTERM');
    // Generous: BIRD removes its kernel routes on the way out, and tests check that it did.
    if (!(await waitExit(c, 30_000))) {
      c.kill('SIGKILL');
      await waitExit(c, 10_000);
    }
  };

  const start = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) throw new Error(`bird is already running (pid ${child.pid})`);
    const fd = openSync(logPath, 'a');
    // `ip netns exec` execs bird, so the child's PID is bird's.
    const c = spawn('ip', ['netns', 'exec', opts.netns, 'bird', '-f', '-c', configPath, '-s', socketPath, '-P', join(dir, 'bird.pid')], {
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    child = c;
    let last = '';
    await waitFor(
      async () => {
        if (c.exitCode !== null || c.signalCode !== null) throw new Error(`bird exited (${c.exitCode ?? c.signalCode}): ${readLog()}`);
        try {
          last = await birdc(['show', 'status']);
        } catch (err) {
          last = (err as Error).message; // socket not there yet
        }
        return last.includes('Daemon is up and running');
      },
      { describe: `bird to come up in namespace ${opts.netns}`, seen: () => `birdc: ${last.trim()}; log: ${readLog()}` },
    ).catch(async (err: unknown) => {
      await stop();
      throw err;
    });
  };

  const bird: TestBird = {
    get pid() {
      return child?.pid;
    },
    dir,
    configPath,
    socketPath,
    birdc,
    writeConfig: (text) => writeFileSync(configPath, text),
    configure: async () => {
      const out = await birdc(['configure']);
      if (!/Reconfigured|Reconfiguration in progress/.test(out)) throw new Error(`birdc configure: ${out.trim()}`);
      return out;
    },
    start,
    stop,
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      try {
        await stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    log: readLog,
  };
  try {
    await start();
  } catch (err) {
    await bird.destroy();
    throw err;
  }
  return bird;
}
