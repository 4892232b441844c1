/**
 * Starts a real gobgpd for tests: temp dir, generated JSON config, gRPC on a free
 * loopback port (or inside a network namespace), BGP listening disabled unless
 * asked. Stopped by PID only. Reusable by any test.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GobgpClient } from '../../src/sinks/gobgp/gobgp-api.js';
import { waitFor } from './wait-for.js';

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
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Does the process `pid` (in namespace `netns`, if given) hold the TCP listener on 127.0.0.1:port? */
async function listensOn(pid: number, port: number, netns?: string): Promise<boolean> {
  const ss = ['ss', '-Hltnp', `sport = :${port}`];
  const [cmd, args] = netns ? ['ip', ['netns', 'exec', netns, ...ss]] : [ss[0]!, ss.slice(1)];
  return new Promise((resolve) => {
    execFile(cmd, args as string[], { encoding: 'utf8', timeout: 30_000 }, (err, stdout) => resolve(!err && stdout.includes(`pid=${pid},`)));
  });
}

/** How often a gobgpd whose free port was taken in the meantime is started again on another one. */
const PORT_ATTEMPTS = 5;

export async function startGobgpd(opts: TestGobgpdOptions = {}): Promise<TestGobgpd> {
  const dir = mkdtempSync(join(tmpdir(), 'rtr-gobgpd-'));
  let grpcPort = opts.grpcPort ?? (await freePort());
  let grpcAddress = `127.0.0.1:${grpcPort}`;
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
  let client: GobgpClient;
  try {
    client = new GobgpClient(grpcAddress); // throws when GoBGP's .proto files are missing
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const readLog = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8').slice(-4000) : '');

  /**
   * Starts gobgpd and waits until it answers on its gRPC port, and until that port is its own: a
   * port found free a moment ago may have been taken by another process since, whose daemon would
   * otherwise answer in its place.
   */
  const launch = async (): Promise<void> => {
    const args = ['-f', configPath, '-t', 'json', '--api-hosts', grpcAddress, '--pprof-disable', '-p'];
    const [cmd, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, 'gobgpd', ...args]] : ['gobgpd', args];
    const fd = openSync(logPath, 'a');
    // `ip netns exec` execs gobgpd, so the child's PID is gobgpd's.
    child = spawn(cmd, argv as string[], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const c = child;
    await waitFor(
      async () => {
        if (c.exitCode !== null || c.signalCode !== null) throw new GobgpdExited(`gobgpd exited with ${c.exitCode ?? c.signalCode}: ${readLog()}`);
        try {
          await client.waitForReady(500);
          if (!(await client.getBgp()).global?.asn) return false;
        } catch {
          return false;
        }
        return await listensOn(c.pid!, grpcPort, opts.netns);
      },
      { describe: `gobgpd to answer on ${grpcAddress}`, retryErrors: false, seen: () => `not answering, or not as pid ${c.pid}; log: ${readLog()}` },
    ).catch(async (err: unknown) => {
      await killChild();
      throw err;
    });
  };

  async function killChild(): Promise<void> {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    if (!(await waitExit(child, 10_000))) {
      child.kill('SIGKILL');
      await waitExit(child, 10_000);
    }
  }

  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await launch();
        break;
      } catch (err) {
        const taken = err instanceof GobgpdExited && /address already in use/.test(err.message);
        if (!taken || opts.grpcPort !== undefined || attempt >= PORT_ATTEMPTS) throw err;
        // Someone took the port between freePort() and gobgpd's bind: another one.
        client.close();
        grpcPort = await freePort();
        grpcAddress = `127.0.0.1:${grpcPort}`;
        client = new GobgpClient(grpcAddress);
      }
    }
  } catch (e) {
    await killChild();
    client.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  return {
    get pid() {
      return child.pid!;
    },
    grpcAddress,
    dir,
    get client() {
      return client;
    },
    cliArgs: ['-p', String(grpcPort), '-u', '127.0.0.1'],
    async kill9() {
      child.kill('SIGKILL');
      await waitExit(child, 10_000);
    },
    async restart() {
      client.close();
      client = new GobgpClient(grpcAddress);
      await launch();
    },
    async stop() {
      try {
        await killChild();
      } finally {
        try {
          client.close();
        } catch {
          /* already closed */
        }
        rmSync(dir, { recursive: true, force: true });
      }
    },
    log: readLog,
  } as TestGobgpd;
}

class GobgpdExited extends Error {}
