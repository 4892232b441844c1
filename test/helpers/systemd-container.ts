/**
 * A real systemd as PID 1, for tests of the shipped unit: `systemd-nspawn --boot`
 * on a throw-away root whose /usr is the host's (read-only), with a private
 * network namespace (only `lo`). Commands run inside through nsenter into the
 * container's namespaces and root; the container is halted by its nspawn PID
 * (SIGTERM = poweroff) and, if that hangs, its PID 1 is killed, which ends the
 * whole PID namespace. Its root is deleted afterwards in every case.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ContainerExec {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface SystemdContainer {
  /** Machine name (hostname inside), unique per container. */
  readonly name: string;
  /** Host PID of the container's PID 1 (systemd). */
  readonly leaderPid: number;
  /** Host directory that is the container's root (its /etc is writable from here). */
  readonly root: string;
  /** Runs argv inside (mount, pid, net, ipc, uts, cgroup namespaces and root); never rejects on exit codes. */
  exec(argv: string[], opts?: { input?: string; timeoutMs?: number }): Promise<ContainerExec>;
  /** Like exec, but rejects with the command's output when it exits non-zero. */
  run(argv: string[], opts?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** nspawn's console output so far (boot and shutdown messages). */
  console(): string;
  /** Halts the container and deletes its root. Idempotent. */
  stop(): Promise<void>;
}

export interface ContainerOptions {
  /** Purpose, for the machine name rtr-<purpose>-<hex>. */
  purpose: string;
  /** Extra read-only binds host → container path (applied after /usr, so /usr/local may be overridden). */
  bindsReadOnly?: { host: string; container: string }[];
  /** How long boot may take until `systemctl is-system-running --wait` returns. */
  bootTimeoutMs?: number;
}

/** Why no container can be booted here, or undefined when the tools are present. */
export function systemdContainerUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'booting a systemd container needs root';
  if (spawnSync('systemd-nspawn', ['--version']).status !== 0) return 'systemd-nspawn not installed (Debian package systemd-container)';
  if (spawnSync('nsenter', ['--version']).status !== 0) return 'nsenter not installed (util-linux)';
  if (!existsSync('/lib/systemd/systemd')) return '/lib/systemd/systemd missing (Debian package systemd)';
  return undefined;
}

/** A container whose systemd never came up: the test skips with this (and nspawn's own words). */
export class ContainerBootError extends Error {}

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Units a container of a bare /usr cannot or need not run: dbus and logind need
 * CAP_SYS_RESOURCE for their fd limits (withheld on some CI machines) and
 * nothing here uses them (systemctl speaks to PID 1 over its private socket);
 * a console getty would wait for a login forever.
 */
const MASKED = [
  'dbus.service',
  'dbus.socket',
  'systemd-logind.service',
  'console-getty.service',
  'getty.target',
  'systemd-networkd.service',
  'systemd-resolved.service',
  'systemd-timesyncd.service',
];

function makeRoot(name: string): string {
  const root = mkdtempSync(join(tmpdir(), 'rtr-nspawn-'));
  chmodSync(root, 0o755); // mkdtemp's 0700 would lock unprivileged services (DynamicUser=) out of /
  mkdirSync(join(root, 'usr'));
  for (const d of ['bin', 'lib', 'lib64', 'sbin']) symlinkSync(`usr/${d}`, join(root, d));
  const etc = join(root, 'etc');
  mkdirSync(join(etc, 'systemd', 'system'), { recursive: true });
  writeFileSync(join(etc, 'os-release'), readFileSync('/usr/lib/os-release'));
  // A machine id makes this no "first boot": systemd-firstboot would prompt on the console.
  writeFileSync(join(etc, 'machine-id'), randomBytes(16).toString('hex') + '\n');
  writeFileSync(join(etc, 'hostname'), name + '\n');
  writeFileSync(join(etc, 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
  writeFileSync(join(etc, 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  for (const u of MASKED) symlinkSync('/dev/null', join(etc, 'systemd', 'system', u));
  symlinkSync('/lib/systemd/system/multi-user.target', join(etc, 'systemd', 'system', 'default.target'));
  return root;
}

/** Host PID of the PID 1 of the PID namespace that nspawn (host PID `nspawnPid`) created, if it exists yet. */
function findLeader(nspawnPid: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${entry}/status`, 'utf8');
    } catch {
      continue;
    }
    const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/);
    const ppid = Number(/^PPid:\s+(\d+)$/m.exec(status)?.[1]);
    if (nspid && nspid.length === 2 && nspid[1] === '1' && ppid === nspawnPid) return Number(entry);
  }
  return undefined;
}

/** Last resort when the test process exits without stop(): PID 1 of each container is killed (and with it the container). */
const leaders = new Set<number>();
process.on('exit', () => {
  for (const pid of leaders) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function bootSystemdContainer(opts: ContainerOptions): Promise<SystemdContainer> {
  const name = `rtr-${opts.purpose}-${randomBytes(3).toString('hex')}`;
  const root = makeRoot(name);
  let out = '';
  const args = [
    `--directory=${root}`,
    `--machine=${name}`,
    '--boot',
    '--private-network',
    // No machined and no host systemd to register with or to ask for a scope.
    '--register=no',
    '--keep-unit',
    '--console=read-only',
    '--bind-ro=/usr',
    ...(opts.bindsReadOnly ?? []).map((b) => `--bind-ro=${b.host}:${b.container}`),
  ];
  // The host may mount cgroup v1 and v2 side by side; the container gets cgroup v2 alone, as a current distribution boots.
  const nspawn: ChildProcess = spawn('systemd-nspawn', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1', SYSTEMD_COLORS: '0' },
  });
  nspawn.stdout!.on('data', (b: Buffer) => {
    out += b.toString();
  });
  nspawn.stderr!.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const nspawnExited = new Promise<void>((r) => nspawn.once('exit', () => r()));
  const running = (): boolean => nspawn.exitCode === null && nspawn.signalCode === null;
  const inner = new Set<ChildProcess>();
  let leaderPid = 0;
  let stopped = false;

  const exec = (argv: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<ContainerExec> =>
    new Promise((resolve, reject) => {
      const child = spawn(
        'nsenter',
        [
          `--target=${leaderPid}`,
          '--mount',
          '--uts',
          '--ipc',
          '--net',
          '--pid',
          '--cgroup',
          '--root',
          '--wd',
          '--',
          '/usr/bin/env',
          '-i',
          `PATH=${PATH}`,
          'LANG=C.UTF-8',
          'SYSTEMD_PAGER=',
          'SYSTEMD_COLORS=0',
          'HOME=/root',
          ...argv,
        ],
        // Its own session: a stray `kill 0` or signal to a process group inside cannot reach the test.
        { stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], detached: true },
      );
      inner.add(child);
      let stdout = '',
        stderr = '';
      child.stdout!.on('data', (b: Buffer) => {
        stdout += b.toString();
      });
      child.stderr!.on('data', (b: Buffer) => {
        stderr += b.toString();
      });
      if (child.stdin) {
        child.stdin.on('error', () => undefined); // EPIPE: the command ended without reading all of it; its exit code tells
        child.stdin.end(o.input);
      }
      // A command that hangs inside would hold up the container's shutdown: it is killed by PID.
      const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
      child.once('error', (err) => {
        clearTimeout(timer);
        inner.delete(child);
        reject(err);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        inner.delete(child);
        resolve({ code: signal ? null : code, stdout, stderr: signal ? `${stderr}(killed by ${signal} after ${o.timeoutMs ?? 60_000} ms)` : stderr });
      });
    });

  const run = async (argv: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<string> => {
    const r = await exec(argv, o);
    if (r.code !== 0) throw new Error(`in container ${name}: \`${argv.join(' ')}\` exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const c of inner) c.kill('SIGKILL');
    if (running()) {
      nspawn.kill('SIGTERM'); // nspawn turns this into a poweroff of the container
      const halted = await Promise.race([nspawnExited.then(() => true), sleep(30_000).then(() => false)]);
      if (!halted) {
        // PID 1 of a PID namespace takes every process in it along.
        if (leaderPid) {
          try {
            process.kill(leaderPid, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
        await Promise.race([nspawnExited, sleep(10_000)]);
        if (running()) nspawn.kill('SIGKILL');
      }
    }
    // The binds live in the container's mount namespace only; refuse to delete through one that leaked.
    leaders.delete(leaderPid);
    if (!readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${root}`)) rmSync(root, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + (opts.bootTimeoutMs ?? 120_000);
    while (!leaderPid) {
      if (!running())
        throw new ContainerBootError(`systemd-nspawn ${args.join(' ')} exited ${nspawn.exitCode ?? nspawn.signalCode} before systemd started: ${out.trim()}`);
      if (Date.now() > deadline)
        throw new ContainerBootError(`systemd-nspawn ${args.join(' ')}: no PID 1 after ${opts.bootTimeoutMs ?? 120_000} ms: ${out.trim()}`);
      leaderPid = findLeader(nspawn.pid!) ?? 0;
      if (leaderPid) leaders.add(leaderPid);
      if (!leaderPid) await sleep(50);
    }
    // "running" or "degraded" once boot is over. Polled: `is-system-running --wait` gives up
    // ("offline") when PID 1's socket is not there yet.
    let state = '';
    for (;;) {
      const r = await exec(['systemctl', 'is-system-running'], { timeoutMs: 30_000 });
      state = r.stdout.trim() || r.stderr.trim();
      if (state === 'running' || state === 'degraded') break;
      if (!running() || Date.now() > deadline) {
        throw new ContainerBootError(`systemd in ${name} did not finish booting (is-system-running: ${state}); console: ${out.slice(-3000)}`);
      }
      await sleep(200);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { name, leaderPid, root, exec, run, console: () => out, stop };
}
