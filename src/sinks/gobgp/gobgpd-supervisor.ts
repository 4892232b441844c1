/**
 * Sidecar mode: rtreflect runs gobgpd itself, from a config it generates
 * (gobgpd's JSON config form, `-t json`), restarts it with backoff when it
 * dies, and stops it by PID (SIGTERM, then SIGKILL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RtreflectError } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';

export interface GobgpdNeighbor {
  address: string;
  peerAs: number;
  /** "ipv4-unicast", "ipv6-unicast" (default: both). */
  families?: string[];
  /** Send up to `addPathsSendMax` paths per prefix (ECMP) and accept add-path from the peer. */
  addPaths?: boolean;
  addPathsSendMax?: number;
  localAddress?: string;
  description?: string;
  authPassword?: string;
  ebgpMultihop?: number;
  /** Extended next hop (RFC 8950): IPv4 routes with IPv6 next hops. */
  extendedNexthop?: boolean;
}

export interface GobgpdSupervisorOptions {
  binary?: string;
  /** Directory for the generated config (created if missing). */
  configDir: string;
  global: { as: number; routerId: string; listenPort?: number; listenAddresses?: string[] };
  neighbors: GobgpdNeighbor[];
  /** Where gobgpd serves its API: "127.0.0.1:50051" or "unix:///run/rtreflect/gobgpd.sock". */
  grpcAddress: string;
  logger: Logger;
  /** Extra gobgpd arguments (e.g. ["--log-level", "debug"]). */
  extraArgs?: string[];
  stopTimeoutMs?: number;
  backoff?: { initialMs?: number; maxMs?: number };
}

/** gobgpd's config (the same tree as its TOML form) for these options. */
export function gobgpdConfig(o: Pick<GobgpdSupervisorOptions, 'global' | 'neighbors'>): Record<string, unknown> {
  if (!(Number.isInteger(o.global.as) && o.global.as > 0 && o.global.as <= 0xffffffff)) {
    throw new RtreflectError('ERR_GOBGPD_CONFIG', `gobgpd global.as ${o.global.as} must be an ASN in 1..4294967295`);
  }
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(o.global.routerId))
    throw new RtreflectError('ERR_GOBGPD_CONFIG', `gobgpd global.routerId "${o.global.routerId}" must be an IPv4 address`);
  return {
    global: {
      config: {
        as: o.global.as,
        'router-id': o.global.routerId,
        port: o.global.listenPort ?? 179,
        ...(o.global.listenAddresses ? { 'local-address-list': o.global.listenAddresses } : {}),
      },
    },
    neighbors: o.neighbors.map((n) => ({
      config: {
        'neighbor-address': n.address,
        'peer-as': n.peerAs,
        ...(n.description ? { description: n.description } : {}),
        ...(n.authPassword ? { 'auth-password': n.authPassword } : {}),
      },
      ...(n.localAddress ? { transport: { config: { 'local-address': n.localAddress } } } : {}),
      ...(n.ebgpMultihop ? { 'ebgp-multihop': { config: { enabled: true, 'multihop-ttl': n.ebgpMultihop } } } : {}),
      'afi-safis': (n.families ?? ['ipv4-unicast', 'ipv6-unicast']).map((f) => ({
        config: { 'afi-safi-name': f },
        ...(n.addPaths ? { 'add-paths': { config: { receive: true, 'send-max': n.addPathsSendMax ?? 16 } } } : {}),
      })),
      ...(n.extendedNexthop ? { 'extended-nexthop': true } : {}),
    })),
  };
}

export class GobgpdSupervisor {
  private readonly o: GobgpdSupervisorOptions;
  private child: ChildProcess | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private delay: number;
  readonly configPath: string;

  constructor(o: GobgpdSupervisorOptions) {
    this.o = o;
    this.delay = o.backoff?.initialMs ?? 500;
    this.configPath = join(o.configDir, 'gobgpd.json');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private get pidPath(): string {
    return join(this.o.configDir, 'gobgpd.pid');
  }

  async start(): Promise<void> {
    this.stopping = false;
    mkdirSync(this.o.configDir, { recursive: true });
    await this.stopStale();
    writeFileSync(this.configPath, JSON.stringify(gobgpdConfig(this.o), null, 2), { mode: 0o600 });
    await this.spawnOnce();
  }

  /**
   * A gobgpd left running by an rtreflect that was killed (SIGKILL gives it no
   * chance to stop its sidecar) still holds the ports: stop it first. Only a
   * process whose command line names our own config file is touched.
   */
  private async stopStale(): Promise<void> {
    let pid: number;
    try {
      pid = Number(readFileSync(this.pidPath, 'utf8').trim());
    } catch {
      return;
    }
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      /* gone */
    }
    if (pid > 1 && cmdline.includes('gobgpd') && cmdline.includes(this.configPath)) {
      this.o.logger.warn({ pid }, 'stopping a gobgpd left over from an earlier run');
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      const until = Date.now() + (this.o.stopTimeoutMs ?? 5000);
      while (Date.now() < until && existsSync(`/proc/${pid}`)) await new Promise((r) => setTimeout(r, 50));
      if (existsSync(`/proc/${pid}`))
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
    }
    rmSync(this.pidPath, { force: true });
  }

  private spawnOnce(): Promise<void> {
    const api =
      this.o.grpcAddress.startsWith('unix:') && !this.o.grpcAddress.startsWith('unix://') ? 'unix://' + this.o.grpcAddress.slice(5) : this.o.grpcAddress;
    const args = ['-f', this.configPath, '-t', 'json', '--api-hosts', api, '--pprof-disable', ...(this.o.extraArgs ?? [])];
    const log = this.o.logger.child({ component: 'gobgpd' });
    return new Promise((resolve, reject) => {
      const child = spawn(this.o.binary ?? 'gobgpd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      this.child = child;
      const startedAt = Date.now();
      const forward = (buf: Buffer) => {
        for (const line of buf.toString().split('\n')) if (line.trim()) log.info({ gobgpd: line.slice(0, 2000) }, 'gobgpd');
      };
      child.stdout!.on('data', forward);
      child.stderr!.on('data', forward);
      child.once('spawn', () => {
        writeFileSync(this.pidPath, String(child.pid));
        log.info({ pid: child.pid, args }, 'gobgpd started');
        resolve();
      });
      child.once('error', (e) => {
        reject(
          new RtreflectError('ERR_GOBGPD_SPAWN', `cannot start ${this.o.binary ?? 'gobgpd'}: ${e.message}; install GoBGP or set the sidecar binary path`, {
            cause: e,
          }),
        );
      });
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        if (this.stopping) return;
        // A run that lasted a minute resets the backoff.
        if (Date.now() - startedAt > 60_000) this.delay = this.o.backoff?.initialMs ?? 500;
        log.error({ code, signal, restartInMs: this.delay }, 'gobgpd exited; restarting');
        this.restartTimer = setTimeout(() => {
          this.spawnOnce().catch((e) => log.error({ err: e }, 'gobgpd restart failed'));
        }, this.delay);
        this.delay = Math.min(this.delay * 2, this.o.backoff?.maxMs ?? 30_000);
      });
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, this.o.stopTimeoutMs ?? 5000);
    await exited;
    clearTimeout(t);
    rmSync(this.pidPath, { force: true });
  }
}
