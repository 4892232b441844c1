/**
 * End-to-end topology for `rtreflect run`, with real daemons:
 *
 *   namespace A ("router"): BIRD (static routes → kernel, proto bird), gobgpd A
 *     (AS 65001; started here, or by rtreflect as its sidecar), rtreflect run
 *   namespace B ("peer"):   gobgpd B (AS 65002), eBGP to A over a veth, add-paths
 *
 * Every process is started with `ip netns exec` (which execs, so the PID we hold
 * is the daemon's own), stopped by that PID; destroy() always removes processes,
 * namespaces and the temp dir.
 */
import type { SinkStatus } from '../../src/engine/reflector.js';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { createNetns, type Netns } from './netns.js';
import { packageRoot } from '../../src/util/package-info.js';
import { controlRequest } from '../../src/control/control-client.js';
import { WAIT_MS, waitFor as waitUntil } from './wait-for.js';

export const A_V4 = '10.255.0.1';
export const B_V4 = '10.255.0.2';
export const A_V6 = 'fd00:255::1';
export const B_V6 = 'fd00:255::2';
/** gRPC ports, each inside its own namespace (so fixed numbers cannot collide). */
export const A_GRPC_PORT = 50051;
export const B_GRPC_PORT = 50052;
export const A_AS = 65001;
export const B_AS = 65002;
/** rtreflect's default ownership mark (large community). */
export const OWNERSHIP_MARK = '4294967294:0:1';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How to run the CLI: the compiled one when this file is compiled, else through tsx. */
export function cliCommand(): string[] {
  const root = packageRoot();
  const compiled = fileURLToPath(import.meta.url).endsWith('.js');
  return compiled
    ? [process.execPath, join(root, 'dist', 'src', 'cli', 'main.js')]
    : [process.execPath, '--import', 'tsx', join(root, 'src', 'cli', 'main.ts')];
}

export interface ExecOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never rejects (the caller asserts on code/stderr). */
export function execOutcome(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecOutcome> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, cwd: packageRoot(), timeout: opts.timeoutMs ?? 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (((err as { code?: unknown }).code as number | undefined) ?? null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/**
 * Polls `probe` until it returns a value other than undefined (a throw counts as "not yet"); after
 * `timeoutMs` (default WAIT_MS) fails with `what` and the last probe result or error.
 */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = WAIT_MS, everyMs = 100): Promise<T> {
  const got = await waitUntil(
    async () => {
      const v = await probe();
      return v === undefined ? undefined : { v };
    },
    { describe: what, timeoutMs, intervalMs: everyMs, retryErrors: true },
  );
  return got.v;
}

/** A daemon inside a namespace, owned by PID. */
export class NsProcess {
  private child: ChildProcess | undefined;
  private exitWaiters: (() => void)[] = [];
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;

  constructor(
    readonly ns: string,
    readonly argv: string[],
    readonly logPath: string,
    private readonly cwd = packageRoot(),
  ) {}

  start(): this {
    if (this.running) throw new Error(`${this.argv[0]} already running (pid ${this.pid})`);
    const fd = openSync(this.logPath, 'a');
    const child = spawn('ip', ['netns', 'exec', this.ns, ...this.argv], { stdio: ['ignore', fd, fd], cwd: this.cwd });
    closeSync(fd);
    this.exitCode = null;
    this.exitSignal = null;
    this.child = child;
    child.once('exit', (code, signal) => {
      this.exitCode = code;
      this.exitSignal = signal;
      for (const w of this.exitWaiters.splice(0)) w();
    });
    return this;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child!.kill(sig);
  }

  /** Resolves true when the process has exited (within ms). */
  waitExit(ms: number): Promise<boolean> {
    if (!this.running) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      this.exitWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  async kill9(): Promise<void> {
    this.signal('SIGKILL');
    await this.waitExit(5000);
  }

  /** SIGTERM, then SIGKILL after graceMs (generous: BIRD flushes its kernel routes on the way out, even when the machine is busy). */
  async stop(graceMs = 30_000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGTERM');
    if (!(await this.waitExit(graceMs))) await this.kill9();
  }

  log(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
  }
}

/** One path of B's RIB, flattened from `gobgp global rib -j`. */
export interface RibPath {
  prefix: string;
  nextHop: string;
  med?: number;
  communities: string[];
  largeCommunities: string[];
  /** Add-path identifier as received. */
  id: number;
  /** When B received it (unix seconds). */
  age: number;
  neighbor: string;
}

interface RawPath {
  nlri?: { prefix?: string };
  age?: number;
  attrs?: { type: number; nexthop?: string; metric?: number; communities?: number[]; value?: { ASN: number; LocalData1: number; LocalData2: number }[] }[];
  'neighbor-ip'?: string;
  id?: number;
  'remote-id'?: number;
}

function communityText(c: number): string {
  return `${c >>> 16}:${c & 0xffff}`;
}

/** Flattens gobgp CLI's JSON RIB ({prefix: [path...]}) into paths. */
export function parseRib(json: string): RibPath[] {
  const text = json.trim();
  if (!text || text === 'null') return [];
  const raw = JSON.parse(text) as Record<string, RawPath[]>;
  const out: RibPath[] = [];
  for (const [prefix, paths] of Object.entries(raw)) {
    for (const p of paths ?? []) {
      const attrs = p.attrs ?? [];
      const nh = attrs.find((a) => a.type === 3 || a.type === 14)?.nexthop ?? '';
      const med = attrs.find((a) => a.type === 4)?.metric;
      const comms = attrs.find((a) => a.type === 8)?.communities ?? [];
      const large = attrs.find((a) => a.type === 32)?.value ?? [];
      out.push({
        prefix: p.nlri?.prefix ?? prefix,
        nextHop: nh,
        ...(med !== undefined ? { med } : {}),
        communities: comms.map(communityText),
        largeCommunities: large.map((l) => `${l.ASN}:${l.LocalData1}:${l.LocalData2}`),
        id: p['remote-id'] ?? p.id ?? 0,
        age: p.age ?? 0,
        neighbor: p['neighbor-ip'] ?? '',
      });
    }
  }
  return out;
}

export interface NeighborCounters {
  updateIn: number;
  withdrawUpdateIn: number;
  withdrawPrefixIn: number;
  state: string;
}

export interface TopologyOptions {
  /** Short [a-z0-9] tag for namespace names. */
  tag: string;
  /** rtreflect starts gobgpd A itself (sidecar) instead of the test starting it. */
  sidecar?: boolean;
}

/** gobgpd neighbor config with short timers, so sessions come back within a second or two. */
function neighborConf(address: string, peerAs: number, family: string): Record<string, unknown> {
  return {
    config: { 'neighbor-address': address, 'peer-as': peerAs },
    timers: { config: { 'connect-retry': 1, 'idle-hold-time-after-reset': 1, 'hold-time': 9, 'keepalive-interval': 3 } },
    'afi-safis': [{ config: { 'afi-safi-name': family }, 'add-paths': { config: { receive: true, 'send-max': 16 } } }],
  };
}

export class E2eTopology {
  readonly dir: string;
  readonly controlSocket: string;
  readonly configPath: string;
  /** A unique sink name: the sidecar's generated config lands in /run/rtreflect/gobgpd-<name>. */
  readonly sinkName: string;
  bird: NsProcess | undefined;
  gobgpdA: NsProcess | undefined;
  gobgpdB: NsProcess | undefined;
  rtreflect: NsProcess | undefined;

  private constructor(
    readonly a: Netns,
    readonly b: Netns,
    readonly opts: TopologyOptions,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `rtr-e2e-${opts.tag}-`));
    this.controlSocket = join(this.dir, 'control.sock');
    this.configPath = join(this.dir, 'rtreflect.yaml');
    this.sinkName = `gobgp-${opts.tag}-${randomBytes(3).toString('hex')}`;
  }

  /** Namespaces, veth, addresses, the next-hop subnet and gobgpd B (no BIRD, no rtreflect yet). */
  static async create(opts: TopologyOptions): Promise<E2eTopology> {
    const a = await createNetns(`${opts.tag}-a`);
    let b: Netns | undefined;
    try {
      b = await createNetns(`${opts.tag}-b`);
    } catch (err) {
      await a.destroy();
      throw err;
    }
    const t = new E2eTopology(a, b, opts);
    try {
      for (const ns of [a, b]) await ns.exec('sysctl', ['-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
      await a.execBatch([`link add eth0 type veth peer name eth0 netns ${b.name}`]);
      await a.execBatch([
        `addr add ${A_V4}/30 dev eth0`,
        `addr add ${A_V6}/64 dev eth0 nodad`,
        'link set eth0 up',
        // The routes' next hops live on this subnet (no dummy links on this kernel).
        'link add nh0 type veth peer name nh1',
        'addr add 192.0.2.1/24 dev nh0',
        'addr add 2001:db8:ffff::1/64 dev nh0 nodad',
        'link set nh0 up',
        'link set nh1 up',
      ]);
      await b.execBatch([`addr add ${B_V4}/30 dev eth0`, `addr add ${B_V6}/64 dev eth0 nodad`, 'link set eth0 up']);
      await t.startGobgpdB();
    } catch (err) {
      await t.destroy();
      throw err;
    }
    return t;
  }

  // ---- daemons ----

  private gobgpdArgs(name: string, port: number): string[] {
    return ['gobgpd', '-f', join(this.dir, `${name}.json`), '-t', 'json', '--api-hosts', `127.0.0.1:${port}`, '--pprof-disable'];
  }

  private async startGobgpdB(): Promise<void> {
    writeFileSync(
      join(this.dir, 'gobgpd-b.json'),
      JSON.stringify(
        {
          global: { config: { as: B_AS, 'router-id': B_V4, port: 179 } },
          neighbors: [neighborConf(A_V4, A_AS, 'ipv4-unicast'), neighborConf(A_V6, A_AS, 'ipv6-unicast')],
        },
        null,
        2,
      ),
    );
    this.gobgpdB = new NsProcess(this.b.name, this.gobgpdArgs('gobgpd-b', B_GRPC_PORT), join(this.dir, 'gobgpd-b.log')).start();
    await this.waitGobgpd(this.b.name, B_GRPC_PORT, this.gobgpdB);
  }

  /** gobgpd A as an independent daemon (not rtreflect's sidecar). */
  async startGobgpdA(): Promise<void> {
    if (!this.gobgpdA) {
      writeFileSync(
        join(this.dir, 'gobgpd-a.json'),
        JSON.stringify(
          {
            global: { config: { as: A_AS, 'router-id': A_V4, port: 179 } },
            neighbors: [neighborConf(B_V4, B_AS, 'ipv4-unicast'), neighborConf(B_V6, B_AS, 'ipv6-unicast')],
          },
          null,
          2,
        ),
      );
      this.gobgpdA = new NsProcess(this.a.name, this.gobgpdArgs('gobgpd-a', A_GRPC_PORT), join(this.dir, 'gobgpd-a.log'));
    }
    this.gobgpdA.start();
    await this.waitGobgpd(this.a.name, A_GRPC_PORT, this.gobgpdA);
  }

  private async waitGobgpd(ns: string, port: number, p: NsProcess): Promise<void> {
    await waitFor(`gobgpd in ${ns} to answer on port ${port}`, async () => {
      if (!p.running) throw new Error(`gobgpd exited: ${p.log().slice(-2000)}`);
      const r = await execOutcome('ip', ['netns', 'exec', ns, 'gobgp', '-p', String(port), 'global']);
      return r.code === 0 && /AS:\s+\d+/.test(r.stdout) ? true : undefined;
    });
  }

  /** BIRD in A with these static routes (lines of `route ...;` per family); exported to the kernel as proto bird. */
  async startBird(routes: { v4?: string[]; v6?: string[]; table100?: string[] }): Promise<void> {
    const conf = `router id ${A_V4};
protocol device {}
ipv4 table t100;
protocol static static4 { ipv4; ${(routes.v4 ?? []).join('\n  ')} }
protocol static static6 { ipv6; ${(routes.v6 ?? []).join('\n  ')} }
protocol static static100 { ipv4 { table t100; }; ${(routes.table100 ?? []).join('\n  ')} }
# Long scan times: a scan deletes proto-bird routes BIRD did not make (tests add some with ip route).
protocol kernel kernel4 { ipv4 { export all; }; merge paths on; scan time 3600; }
protocol kernel kernel6 { ipv6 { export all; }; merge paths on; scan time 3600; }
protocol kernel kernel100 { ipv4 { table t100; export all; }; kernel table 100; scan time 3600; }
`;
    writeFileSync(join(this.dir, 'bird.conf'), conf);
    if (!this.bird) {
      this.bird = new NsProcess(
        this.a.name,
        ['bird', '-f', '-c', join(this.dir, 'bird.conf'), '-s', join(this.dir, 'bird.ctl'), '-P', join(this.dir, 'bird.pid')],
        join(this.dir, 'bird.log'),
      );
    }
    const bird = this.bird.start();
    // Up means its control socket answers; the routes then follow (tests wait for those themselves).
    await waitFor(`BIRD in ${this.a.name} to answer on its control socket`, async () => {
      if (!bird.running) throw new Error(`bird exited: ${bird.log().slice(-2000)}`);
      const r = await execOutcome('ip', ['netns', 'exec', this.a.name, 'birdc', '-s', join(this.dir, 'bird.ctl'), 'show', 'status']);
      return /Daemon is up and running/.test(r.stdout) ? true : undefined;
    });
  }

  writeConfig(yaml: string): void {
    writeFileSync(this.configPath, yaml);
  }

  /** The `sinks:` entry every test config uses (sidecar or external gobgpd A). */
  sinkYaml(extra = ''): string {
    const side = this.opts.sidecar
      ? `
    sidecar:
      enabled: true
      global: { as: ${A_AS}, routerId: "${A_V4}", listenPort: 179 }
      neighbors:
        - { address: "${B_V4}", peerAs: ${B_AS}, addPaths: true, families: [ipv4-unicast] }
        - { address: "${B_V6}", peerAs: ${B_AS}, addPaths: true, families: [ipv6-unicast] }`
      : '';
    return `sinks:
  - type: gobgp
    name: ${this.sinkName}
    address: "127.0.0.1:${A_GRPC_PORT}"
    # gobgpd A runs before rtreflect starts: its first connection must not time out on a busy
    # machine, or a second resync ("gobgpd connected") follows the start-up one.
    connectTimeoutMs: 30000
    healthIntervalMs: 500
    backoff: { initialMs: 100, maxMs: 1000, jitter: 0.1 }${extra}${side}
control:
  socket: "${this.controlSocket}"
log:
  level: info
  format: json
`;
  }

  /** Starts `rtreflect run` in A and waits until it reports ready. */
  async startRtreflect(): Promise<NsProcess> {
    if (!this.rtreflect) {
      this.rtreflect = new NsProcess(
        this.a.name,
        [...cliCommand(), 'run', '--config', this.configPath, '--control', this.controlSocket],
        join(this.dir, 'rtreflect.log'),
      );
    }
    const p = this.rtreflect.start();
    await waitFor(
      'rtreflect to become ready',
      async () => {
        if (!p.running) throw new Error(`rtreflect exited (${p.exitCode ?? p.exitSignal}): ${p.log().slice(-3000)}`);
        const st = await this.status();
        return (st.daemon as { ready: boolean }).ready ? true : undefined;
      },
      WAIT_MS,
      200,
    );
    return p;
  }

  // ---- observation ----

  /** rtreflect's status over the control socket. */
  async status(): Promise<Record<string, unknown> & { sinks: SinkStatusView[] }> {
    return (await controlRequest(this.controlSocket, 'status', {}, { timeoutMs: 10_000 })) as Record<string, unknown> & { sinks: SinkStatusView[] };
  }

  control(cmd: string, args: Record<string, unknown> = {}): Promise<unknown> {
    return controlRequest(this.controlSocket, cmd, args, { timeoutMs: 60_000 });
  }

  /** The rtreflect CLI (in A's namespace), to completion. */
  cli(args: string[]): Promise<ExecOutcome> {
    const [cmd, ...rest] = cliCommand();
    return execOutcome('ip', ['netns', 'exec', this.a.name, cmd!, ...rest, ...args]);
  }

  /** gobgp CLI against gobgpd A or B. */
  async gobgp(side: 'a' | 'b', args: string[]): Promise<string> {
    const r = await execOutcome('ip', [
      'netns',
      'exec',
      side === 'a' ? this.a.name : this.b.name,
      'gobgp',
      '-p',
      String(side === 'a' ? A_GRPC_PORT : B_GRPC_PORT),
      ...args,
    ]);
    if (r.code !== 0) throw new Error(`gobgp ${args.join(' ')} in ${side} failed: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  /** Paths in B's RIB for a family. */
  async ribB(family: 4 | 6): Promise<RibPath[]> {
    return parseRib(await this.gobgp('b', ['global', 'rib', '-a', family === 4 ? 'ipv4' : 'ipv6', '-j']));
  }

  async ribA(family: 4 | 6, vrf?: string): Promise<RibPath[]> {
    const args = vrf ? ['vrf', vrf, 'rib', '-a', family === 4 ? 'ipv4' : 'ipv6', '-j'] : ['global', 'rib', '-a', family === 4 ? 'ipv4' : 'ipv6', '-j'];
    return parseRib(await this.gobgp('a', args));
  }

  /** Paths for one prefix in B. */
  async pathsB(prefix: string): Promise<RibPath[]> {
    return (await this.ribB(prefix.includes(':') ? 6 : 4)).filter((p) => p.prefix === prefix);
  }

  /** Waits until B's paths for `prefix` satisfy `ok`; returns them. */
  waitPathsB(prefix: string, what: string, ok: (paths: RibPath[]) => boolean, timeoutMs = WAIT_MS): Promise<RibPath[]> {
    let last: RibPath[] = [];
    return waitFor(
      `${prefix} in B: ${what}`,
      async () => {
        last = await this.pathsB(prefix);
        return ok(last) ? last : undefined;
      },
      timeoutMs,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; B has ${JSON.stringify(last)}`);
    });
  }

  /** B's counters of what it received from A over the IPv4 session. */
  async countersB(neighbor = A_V4): Promise<NeighborCounters> {
    const j = JSON.parse(await this.gobgp('b', ['neighbor', neighbor, '-j'])) as {
      state?: { session_state?: number | string; messages?: { received?: { update?: number; withdraw_update?: number; withdraw_prefix?: number } } };
    };
    const r = j.state?.messages?.received ?? {};
    return {
      updateIn: r.update ?? 0,
      withdrawUpdateIn: r.withdraw_update ?? 0,
      withdrawPrefixIn: r.withdraw_prefix ?? 0,
      state: String(j.state?.session_state ?? ''),
    };
  }

  /** Paths in B (both families) that carry rtreflect's ownership mark, by prefix → sorted next hops. */
  async ownedInB(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const p of [...(await this.ribB(4)), ...(await this.ribB(6))]) {
      if (!p.largeCommunities.includes(OWNERSHIP_MARK)) continue;
      out.set(p.prefix, [...(out.get(p.prefix) ?? []), p.nextHop].sort());
    }
    return out;
  }

  /**
   * Watches B every `everyMs` until stop(): records every sample in which one of `expected`
   * (prefix → sorted next hops) was missing or different. A withdrawal lasting longer than
   * one poll shows up here; the message counters (countersB) catch shorter ones.
   */
  watchB(expected: Map<string, string[]>, everyMs = 100): { samples(): number; stop(): Promise<{ samples: number; bad: string[] }> } {
    let running = true;
    let samples = 0;
    const bad: string[] = [];
    const loop = (async () => {
      while (running) {
        try {
          const now = await this.ownedInB();
          samples++;
          for (const [prefix, hops] of expected) {
            const got = now.get(prefix);
            if (!got || got.join(',') !== hops.join(',')) bad.push(`sample ${samples}: ${prefix} ${got ? got.join(',') : 'missing'}`);
          }
        } catch (err) {
          bad.push(`sample failed: ${(err as Error).message}`);
        }
        await sleep(everyMs);
      }
    })();
    return {
      samples: () => samples,
      async stop() {
        running = false;
        await loop;
        return { samples, bad };
      },
    };
  }

  /** Waits for both sessions of B to be established. */
  async waitEstablished(timeoutMs = WAIT_MS): Promise<void> {
    await waitFor(
      'BGP sessions A–B to be established',
      async () => {
        const out = await this.gobgp('b', ['neighbor']);
        const lines = out.split('\n').filter((l) => l.includes(A_V4) || l.includes(A_V6));
        return lines.length === 2 && lines.every((l) => /Establ/.test(l)) ? true : undefined;
      },
      timeoutMs,
      200,
    );
  }

  // ---- teardown ----

  async destroy(): Promise<void> {
    for (const p of [this.rtreflect, this.bird, this.gobgpdA, this.gobgpdB]) {
      try {
        await p?.stop(3000);
      } catch {
        /* keep tearing down */
      }
    }
    for (const ns of [this.a, this.b]) {
      // Whatever still runs in our namespaces is ours (a sidecar gobgpd left by a killed rtreflect).
      const r = await execOutcome('ip', ['netns', 'pids', ns.name]);
      for (const pid of r.stdout.split(/\s+/).filter(Boolean).map(Number)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      try {
        await ns.destroy();
      } catch {
        /* already gone */
      }
    }
    rmSync(join('/run/rtreflect', `gobgpd-${this.sinkName}`), { recursive: true, force: true });
    if (process.env.RTREFLECT_E2E_KEEP) process.stderr.write(`e2e: kept ${this.dir}\n`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A sink's line in `rtreflect status --json`: the daemon's own type. */
export type SinkStatusView = SinkStatus;
