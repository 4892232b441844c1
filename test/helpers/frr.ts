/**
 * FRR's daemons (zebra, staticd, bgpd) for tests and benches, run directly inside a namespace the
 * caller created: foreground processes owned by PID, every path (config, pid file, zebra's socket,
 * vty sockets) in one private directory, so several instances never meet each other or a system FRR.
 * The daemons drop privileges to the `frr` user, so that directory belongs to it.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { execOutcome, NsProcess, waitFor } from './e2e-topology.js';
import { createNetns, type Netns } from './netns.js';

export const FRR_DIR = '/usr/lib/frr';

export type FrrDaemon = 'zebra' | 'staticd' | 'bgpd';

/** Why FRR cannot run here, or undefined when it can (tests skip with this message). */
export function frrMissing(): string | undefined {
  for (const d of ['zebra', 'staticd', 'bgpd']) {
    if (!existsSync(join(FRR_DIR, d))) return `FRR is not installed (no ${join(FRR_DIR, d)}); scripts/setup installs the Debian package frr`;
  }
  try {
    execFileSync('vtysh', ['--help'], { stdio: 'ignore' });
  } catch {
    return 'FRR is not installed (no vtysh on the PATH); scripts/setup installs the Debian package frr';
  }
  if (userInfo().uid !== 0) return 'FRR tests need root (network namespaces)';
  return undefined;
}

/** FRR's version as its zebra reports it ("8.4.4"). */
export function frrVersion(): string {
  const out = execFileSync(join(FRR_DIR, 'zebra'), ['--version'], { encoding: 'utf8' });
  return /version\s+(\S+)/.exec(out)?.[1] ?? out.split('\n')[0]!;
}

function frrIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'frr'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'frr'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export class Frr {
  readonly dir: string;
  private readonly procs = new Map<FrrDaemon, NsProcess>();
  private readonly ids = frrIds();

  /** ns: the namespace's name; tag: a short word for the directory's name. */
  constructor(
    readonly ns: string,
    tag: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `rtr-frr-${tag}-`));
    chmodSync(this.dir, 0o755);
    chownSync(this.dir, this.ids.uid, this.ids.gid);
  }

  get zservSocket(): string {
    return join(this.dir, 'zserv.api');
  }

  private configPath(d: FrrDaemon): string {
    return join(this.dir, `${d}.conf`);
  }

  /**
   * Starts one daemon in the foreground with its own config text (FRR's own syntax). zebraArgs
   * adds to zebra's command line (e.g. ['-r'] to retain routes at exit, ['-K', '60'] for a
   * graceful restart); bgpd never listens (-p 0): it connects out, so it cannot collide with a
   * gobgpd on port 179 in the same namespace.
   */
  async start(d: FrrDaemon, config = '', extraArgs: string[] = []): Promise<NsProcess> {
    writeFileSync(this.configPath(d), `hostname ${d}\n${config}\n`);
    chownSync(this.configPath(d), this.ids.uid, this.ids.gid);
    const argv = [
      join(FRR_DIR, d),
      '-u',
      'frr',
      '-g',
      'frr',
      '-P',
      '0',
      '-f',
      this.configPath(d),
      '-i',
      join(this.dir, `${d}.pid`),
      '-z',
      this.zservSocket,
      '--vty_socket',
      this.dir,
      '--log',
      'stdout',
      ...(d === 'bgpd' ? ['-p', '0'] : []),
      ...extraArgs,
    ];
    const p = new NsProcess(this.ns, argv, join(this.dir, `${d}.out`));
    this.procs.set(d, p);
    p.start();
    await waitFor(
      `${d} to answer on its vty socket`,
      async () => {
        if (!p.running) throw new Error(`${d} exited (${p.exitCode ?? p.exitSignal}): ${p.log().slice(-2000)}`);
        if (d === 'zebra' && !existsSync(this.zservSocket)) return undefined;
        const r = await this.vtyshOutcome(['-d', d, '-c', 'show version']);
        return r.code === 0 ? true : undefined;
      },
      20_000,
      100,
    );
    return p;
  }

  process(d: FrrDaemon): NsProcess | undefined {
    return this.procs.get(d);
  }

  private vtyshOutcome(args: string[]): ReturnType<typeof execOutcome> {
    return execOutcome('ip', ['netns', 'exec', this.ns, 'vtysh', '--vty_socket', this.dir, ...args]);
  }

  /** Runs vtysh commands (each one `-c`) against the running daemons; rejects with vtysh's words when one fails. */
  async vtysh(commands: string[]): Promise<string> {
    const r = await this.vtyshOutcome(commands.flatMap((c) => ['-c', c]));
    if (r.code !== 0 || /% (Unknown|Invalid|Ambiguous|Command incomplete)/.test(r.stdout)) {
      throw new Error(`vtysh ${commands.join(' / ')} failed (${r.code}): ${(r.stdout + r.stderr).trim()}`);
    }
    return r.stdout;
  }

  /** Configuration commands, entered after `configure terminal`. */
  configure(lines: string[]): Promise<string> {
    return this.vtysh(['configure terminal', ...lines]);
  }

  /** SIGSTOP / SIGCONT: zebra paused does not react to kernel changes, so a test can see them alone. */
  pause(d: FrrDaemon): void {
    this.procs.get(d)?.signal('SIGSTOP');
  }

  resume(d: FrrDaemon): void {
    this.procs.get(d)?.signal('SIGCONT');
  }

  /** SIGTERM and wait: zebra then removes its routes from the kernel, unless it was started with -r. */
  async stop(d: FrrDaemon): Promise<void> {
    const p = this.procs.get(d);
    if (!p) return;
    p.signal('SIGCONT');
    await p.stop(15_000);
  }

  /** Stops every daemon (clients before zebra) and removes the directory. */
  async destroy(): Promise<void> {
    for (const d of ['bgpd', 'staticd', 'zebra'] as FrrDaemon[]) {
      try {
        await this.stop(d);
      } catch {
        /* keep tearing down */
      }
    }
    if (process.env.RTREFLECT_E2E_KEEP) process.stderr.write(`frr: kept ${this.dir}\n`);
    else rmSync(this.dir, { recursive: true, force: true });
  }

  /** The daemons' own logs, for failure messages. */
  logs(): string {
    return [...this.procs].map(([d, p]) => `--- ${d}\n${p.log().slice(-1500)}`).join('\n');
  }
}

/** The link between the router (FRR's bgpd) and its upstream BGP speaker. */
export const ROUTER_UP_V4 = '10.254.0.1';
export const UPSTREAM_V4 = '10.254.0.2';
/** A second session over the same link (second addresses on both ends), for BGP multipath. */
export const ROUTER_UP_V4_2 = '10.254.0.5';
export const UPSTREAM_V4_2 = '10.254.0.4';
export const FRR_AS = 65100;
export const UPSTREAM_AS = 65010;
const UPSTREAM_GRPC_PORT = 50060;

/** FRR's bgpd config for one eBGP session to the upstream speaker (short timers, no policy needed). */
export function frrBgpConfig(): string {
  return `router bgp ${FRR_AS}
 bgp router-id ${ROUTER_UP_V4}
 no bgp ebgp-requires-policy
 no bgp network import-check
 timers bgp 3 9
 neighbor ${UPSTREAM_V4} remote-as ${UPSTREAM_AS}
 neighbor ${UPSTREAM_V4} timers connect 1
 address-family ipv4 unicast
  maximum-paths 4
 exit-address-family
`;
}

/** vtysh configuration lines that open (or, with `no`, close) bgpd's second session to the upstream. */
export function frrSecondSession(open: boolean): string[] {
  return open
    ? [
        'router bgp ' + FRR_AS,
        `neighbor ${UPSTREAM_V4_2} remote-as ${UPSTREAM_AS}`,
        `neighbor ${UPSTREAM_V4_2} update-source ${ROUTER_UP_V4_2}`,
        `neighbor ${UPSTREAM_V4_2} timers connect 1`,
      ]
    : ['router bgp ' + FRR_AS, `no neighbor ${UPSTREAM_V4_2}`];
}

/**
 * A namespace "upstream" holding a gobgpd (AS 65010) that FRR's bgpd in the router namespace learns
 * routes from: veth up0 (router, 10.254.0.1/24) ↔ eth0 (upstream, 10.254.0.2/24). gobgpd waits
 * passively for bgpd to connect; routes are added with its CLI (gobgp()). It also waits for a second
 * session, 10.254.0.5 → 10.254.0.4, which bgpd opens only when configured to (frrSecondSession()).
 */
export class Upstream {
  gobgpd: NsProcess | undefined;
  readonly grpcPort = UPSTREAM_GRPC_PORT;

  private constructor(
    readonly ns: Netns,
    readonly dir: string,
  ) {}

  static async create(router: Netns, tag: string, dir: string): Promise<Upstream> {
    const ns = await createNetns(`${tag}-up`);
    const u = new Upstream(ns, dir);
    try {
      await router.execBatch([
        `link add up0 type veth peer name eth0 netns ${ns.name}`,
        `addr add ${ROUTER_UP_V4}/24 dev up0`,
        `addr add ${ROUTER_UP_V4_2}/24 dev up0`,
        'link set up0 up',
      ]);
      await ns.execBatch([`addr add ${UPSTREAM_V4}/24 dev eth0`, `addr add ${UPSTREAM_V4_2}/24 dev eth0`, 'link set eth0 up']);
      const conf = join(dir, 'gobgpd-up.json');
      writeFileSync(
        conf,
        JSON.stringify(
          {
            global: { config: { as: UPSTREAM_AS, 'router-id': UPSTREAM_V4, port: 179 } },
            neighbors: [ROUTER_UP_V4, ROUTER_UP_V4_2].map((address) => ({
              config: { 'neighbor-address': address, 'peer-as': FRR_AS },
              transport: { config: { 'passive-mode': true } },
              timers: { config: { 'hold-time': 9, 'keepalive-interval': 3 } },
              'afi-safis': [{ config: { 'afi-safi-name': 'ipv4-unicast' } }],
            })),
          },
          null,
          2,
        ),
      );
      u.gobgpd = new NsProcess(
        ns.name,
        ['gobgpd', '-f', conf, '-t', 'json', '--api-hosts', `127.0.0.1:${UPSTREAM_GRPC_PORT}`, '--pprof-disable'],
        join(dir, 'gobgpd-up.log'),
      ).start();
      await waitFor(
        'the upstream gobgpd to answer',
        async () => {
          if (!u.gobgpd!.running) throw new Error(`gobgpd exited: ${u.gobgpd!.log().slice(-2000)}`);
          const r = await execOutcome('ip', ['netns', 'exec', ns.name, 'gobgp', '-p', String(UPSTREAM_GRPC_PORT), 'global']);
          return r.code === 0 ? true : undefined;
        },
        15_000,
        100,
      );
    } catch (err) {
      await u.destroy();
      throw err;
    }
    return u;
  }

  async gobgp(args: string[]): Promise<string> {
    const r = await execOutcome('ip', ['netns', 'exec', this.ns.name, 'gobgp', '-p', String(UPSTREAM_GRPC_PORT), ...args]);
    if (r.code !== 0) throw new Error(`gobgp ${args.join(' ')} in the upstream namespace failed: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  /** Waits for `sessions` sessions with FRR's bgpd to be established. */
  async waitEstablished(sessions = 1, timeoutMs = 40_000): Promise<void> {
    await waitFor(
      `${sessions} BGP session(s) FRR → upstream gobgpd to be established`,
      async () => {
        const out = await this.gobgp(['neighbor']);
        return out.split('\n').filter((l) => /Establ/.test(l)).length === sessions ? true : undefined;
      },
      timeoutMs,
      200,
    );
  }

  async destroy(): Promise<void> {
    try {
      await this.gobgpd?.stop(3000);
    } catch {
      /* keep tearing down */
    }
    await this.ns.destroy();
  }
}
