/**
 * Starts a real gobgpd for tests: temp dir, generated JSON config, gRPC on a free
 * loopback port (or inside a network namespace), BGP listening disabled unless
 * asked. Stopped by PID only. Reusable by any test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GobgpClient } from '../../src/sinks/gobgp/gobgp-api.js';

export interface TestGobgpdOptions {
  asn?: number;
  routerId?: string;
  /** BGP listen port; -1 (default) disables listening. */
  bgpPort?: number;
  listenAddresses?: string[];
  /** Run inside this network namespace (gRPC then listens on the namespace's 127.0.0.1). */
  netns?: string;
  /** Extra top-level config (e.g. neighbors, vrfs) in gobgpd's JSON config form. */
  extraConfig?: Record<string, unknown>;
  grpcPort?: number;
}

export interface TestGobgpd {
  pid: number;
  grpcAddress: string;
  dir: string;
  client: GobgpClient;
  /** gobgp CLI arguments that reach this daemon (`-p port`). */
  cliArgs: string[];
  /** SIGKILL and wait for exit. */
  kill9(): Promise<void>;
  /** Start again with the same config and port (after kill9). */
  restart(): Promise<void>;
  /** Stop (SIGTERM, then SIGKILL) and remove the temp dir. */
  stop(): Promise<void>;
  log(): string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => { clearTimeout(t); resolve(true); });
  });
}

export async function startGobgpd(opts: TestGobgpdOptions = {}): Promise<TestGobgpd> {
  const dir = mkdtempSync(join(tmpdir(), 'rtr-gobgpd-'));
  const grpcPort = opts.grpcPort ?? await freePort();
  const grpcAddress = `127.0.0.1:${grpcPort}`;
  const config = {
    global: {
      config: {
        as: opts.asn ?? 65000,
        'router-id': opts.routerId ?? '192.0.2.1',
        port: opts.bgpPort ?? -1,
        ...(opts.listenAddresses ? { 'local-address-list': opts.listenAddresses } : {}),
      },
    },
    ...opts.extraConfig,
  };
  const configPath = join(dir, 'gobgpd.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const logPath = join(dir, 'gobgpd.log');
  let child!: ChildProcess;
  let client = new GobgpClient(grpcAddress);

  const launch = async (): Promise<void> => {
    const args = ['-f', configPath, '-t', 'json', '--api-hosts', grpcAddress, '--pprof-disable', '-p'];
    const [cmd, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, 'gobgpd', ...args]] : ['gobgpd', args];
    const { openSync, closeSync } = await import('node:fs');
    const fd = openSync(logPath, 'a');
    child = spawn(cmd, argv as string[], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`gobgpd exited with ${child.exitCode}: ${readLog()}`);
      try {
        await client.waitForReady(500);
        const r = await client.getBgp();
        if (r.global?.asn) return;
      } catch { /* not yet */ }
      if (Date.now() > deadline) throw new Error(`gobgpd did not come up on ${grpcAddress}: ${readLog()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const readLog = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8').slice(-4000) : '');

  try { await launch(); } catch (e) { await killChild(); rmSync(dir, { recursive: true, force: true }); throw e; }

  async function killChild(): Promise<void> {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    if (!(await waitExit(child, 3000))) { child.kill('SIGKILL'); await waitExit(child, 3000); }
  }

  return {
    get pid() { return child.pid!; },
    grpcAddress,
    dir,
    get client() { return client; },
    cliArgs: ['-p', String(grpcPort), '-u', '127.0.0.1'],
    async kill9() { child.kill('SIGKILL'); await waitExit(child, 5000); },
    async restart() { client.close(); client = new GobgpClient(grpcAddress); await launch(); },
    async stop() {
      try { await killChild(); } finally { try { client.close(); } catch { /* already closed */ } rmSync(dir, { recursive: true, force: true }); }
    },
    log: readLog,
  } as TestGobgpd;
}
