/**
 * FRR bench: N IPv4 routes learned by FRR's bgpd and installed by zebra (proto bgp, over nexthop
 * objects) while rtreflect runs; the time until gobgpd holds them all, beside zebra's own time to
 * install them, from the same start.
 *
 *   node dist/bench/run.js --only frr [--routes N]
 *   node --import tsx bench/frr-bench.ts [--routes N]
 *
 * Debian 12's FRR has no sharpd, so the routes come the way operators get them: BIRD in an upstream
 * namespace holds N static routes and exports them over eBGP to FRR's bgpd (zebra, bgpd) in the router
 * namespace. rtreflect (`protocols: [bgp]`, `source.netns`) and gobgpd run in this namespace on
 * loopback, as in the full-table bench. The clock starts when bgpd starts (rtreflect already READY,
 * BIRD loaded); zebra is done when its dataplane has processed N route updates (`show zebra dplane`,
 * polled through vtysh: nothing is asked of the kernel meanwhile); gobgpd is done when rtreflect's sink
 * has applied (written) N routes and gobgpd's RIB counts N (counted only then: a count walks gobgpd's table).
 * Needs root and FRR (scripts/setup installs it). Namespaces, processes and files are removed on every exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNetns, type Netns } from '../test/helpers/netns.js';
import { startGobgpd, type TestGobgpd } from '../test/helpers/gobgpd.js';
import { Frr, frrMissing, frrVersion, FRR_AS, ROUTER_UP_V4, UPSTREAM_AS, UPSTREAM_V4 } from '../test/helpers/frr.js';
import { NsProcess } from '../test/helpers/e2e-topology.js';
import { controlRequest } from '../src/control/control-client.js';
import { GobgpProbe, cpuMsOf, fmtInt, fmtMs, intArg, printTable, rtreflectCommand, sleep } from './bench-util.js';

export interface FrrBenchOptions {
  routes: number;
}

export function frrBenchOptions(argv: string[]): FrrBenchOptions {
  const routes = intArg(argv, 'routes', 200_000);
  if (routes < 1 || routes > 4_000_000) throw new Error('--routes: give 1..4000000');
  return { routes };
}

/** IPv4 /24 number i (65536 per first octet, from 16.0.0.0), as in the full-table bench. */
const v4Prefix = (i: number): string => `${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`;

function birdConfig(n: number): string {
  const routes: string[] = [];
  for (let i = 0; i < n; i++) routes.push(`  route ${v4Prefix(i)} blackhole;`);
  return `router id ${UPSTREAM_V4};
protocol device {}
protocol static upstream_routes { ipv4;
${routes.join('\n')}
}
protocol bgp frr {
  local ${UPSTREAM_V4} as ${UPSTREAM_AS};
  neighbor ${ROUTER_UP_V4} as ${FRR_AS};
  hold time 90;
  ipv4 { import none; export all; };
}
`;
}

function configText(ns: string, gobgp: string, dir: string): string {
  return `version: 1
source: { protocols: [bgp], tables: [main], families: [4], netns: ${ns} }
engine: { holdDown: { enabled: false }, batchDelayMs: 0 }
sinks:
  - type: gobgp
    name: gobgp
    address: "${gobgp}"
    shutdown: { withdraw: false, graceMs: 0 }
control: { socket: "${join(dir, 'control.sock')}" }
log: { level: warn }
`;
}

interface Status {
  daemon: { ready: boolean };
  sinks: { applied: number; pending?: number }[];
}

/** Polls until `probe` returns a number (a timestamp); fails after limitMs with `what`. */
async function until(what: string, limitMs: number, everyMs: number, probe: () => Promise<number | undefined>): Promise<number> {
  const deadline = performance.now() + limitMs;
  for (;;) {
    const at = await probe();
    if (at !== undefined) return at;
    if (performance.now() > deadline) throw new Error(`gave up after ${limitMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export async function runFrrBench(o: FrrBenchOptions): Promise<Record<string, number>> {
  const missing = frrMissing();
  if (missing) {
    console.log(`frr bench skipped: ${missing}`);
    return {};
  }
  console.log(`frr bench: ${fmtInt(o.routes)} IPv4 routes, BIRD → eBGP → FRR ${frrVersion()} (bgpd, zebra) → kernel (proto bgp) → rtreflect → gobgpd`);
  const dir = mkdtempSync(join(tmpdir(), 'rtr-frrbench-'));
  let router: Netns | undefined, up: Netns | undefined, frr: Frr | undefined, bird: NsProcess | undefined;
  let g: TestGobgpd | undefined, probe: GobgpProbe | undefined, rt: ChildProcess | undefined;
  const cleanup = async (): Promise<void> => {
    if (rt && rt.exitCode === null && rt.signalCode === null) {
      const exited = new Promise((r) => rt!.once('exit', r));
      rt.kill('SIGTERM');
      const t = setTimeout(() => rt!.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    }
    probe?.close();
    await g?.stop();
    await frr?.destroy();
    await bird?.stop();
    await up?.destroy();
    await router?.destroy();
    if (process.env.RTR_BENCH_KEEP) console.log(`  kept ${dir} (RTR_BENCH_KEEP)`);
    else rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (): void => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const r: Record<string, number> = {};
  try {
    router = await createNetns('frrbench-r');
    up = await createNetns('frrbench-up');
    await router.execBatch([`link add up0 type veth peer name eth0 netns ${up.name}`, `addr add ${ROUTER_UP_V4}/24 dev up0`, 'link set up0 up']);
    await up.execBatch([`addr add ${UPSTREAM_V4}/24 dev eth0`, 'link set eth0 up']);

    // BIRD upstream, its table loaded before anything is timed.
    writeFileSync(join(dir, 'bird.conf'), birdConfig(o.routes));
    bird = new NsProcess(
      up.name,
      ['bird', '-f', '-c', join(dir, 'bird.conf'), '-s', join(dir, 'bird.ctl'), '-P', join(dir, 'bird.pid')],
      join(dir, 'bird.log'),
    ).start();
    await until('BIRD to load its routes', 300_000, 500, async () => {
      if (!bird!.running) throw new Error(`bird exited: ${bird!.log().slice(-2000)}`);
      const out = await up!.exec('birdc', ['-s', join(dir, 'bird.ctl'), 'show', 'route', 'count']).catch(() => ({ stdout: '' }));
      const m = /(\d+) of (\d+) routes/.exec(out.stdout);
      return m && Number(m[2]) >= o.routes ? performance.now() : undefined;
    });

    // zebra (no routes yet), gobgpd and rtreflect READY with an empty table.
    frr = new Frr(router.name, 'bench');
    await frr.start('zebra', '', ['-s', String(64 * 1024 * 1024)]);
    g = await startGobgpd();
    probe = new GobgpProbe(g.grpcAddress);
    const config = join(dir, 'rtreflect.yaml');
    writeFileSync(config, configText(router.name, g.grpcAddress, dir));
    const fd = openSync(join(dir, 'rtreflect.log'), 'a');
    const [cmd, ...args] = rtreflectCommand(['run', '--config', config]);
    rt = spawn(cmd!, args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const status = async (): Promise<Status> => {
      if (rt!.exitCode !== null || rt!.signalCode !== null) {
        const log = join(dir, 'rtreflect.log');
        throw new Error(`rtreflect exited: ${existsSync(log) ? readFileSync(log, 'utf8').slice(-3000) : ''}`);
      }
      return (await controlRequest(join(dir, 'control.sock'), 'status', {}, { timeoutMs: 10_000 })) as Status;
    };
    await until('rtreflect to be READY', 60_000, 100, async () =>
      (
        await status().catch((e: Error) => {
          if (/exited/.test(e.message)) throw e;
          return undefined;
        })
      )?.daemon.ready
        ? performance.now()
        : undefined,
    );

    // The clock: bgpd starts, learns N routes from BIRD, zebra installs them.
    const pids = (): Record<string, number> => ({
      zebra: frr!.process('zebra')!.pid!,
      bgpd: frr!.process('bgpd')?.pid ?? 0,
      BIRD: bird!.pid!,
      rtreflect: rt!.pid!,
      gobgpd: g!.pid,
    });
    const cpu0 = Object.fromEntries(Object.entries(pids()).map(([k, pid]) => [k, pid ? cpuMsOf(pid) : 0]));
    const t0 = performance.now();
    await frr.start(
      'bgpd',
      `router bgp ${FRR_AS}
 bgp router-id ${ROUTER_UP_V4}
 no bgp ebgp-requires-policy
 neighbor ${UPSTREAM_V4} remote-as ${UPSTREAM_AS}
 neighbor ${UPSTREAM_V4} timers connect 1
`,
    );
    let zebraAt: number | undefined, writtenAt: number | undefined, sinkAt: number | undefined;
    await until('zebra to install every route and gobgpd to hold them all', 1_800_000, 250, async () => {
      if (zebraAt === undefined) {
        const out = await frr!.vtysh(['show zebra dplane']);
        const m = /Route updates:\s+(\d+)/.exec(out);
        if (!m) throw new Error(`show zebra dplane: no "Route updates" in ${out}`);
        if (Number(m[1]) >= o.routes) zebraAt = performance.now();
      }
      if (sinkAt === undefined) {
        if (writtenAt === undefined && (await status()).sinks[0]!.applied >= o.routes) writtenAt = performance.now();
        if (writtenAt !== undefined && (await probe!.paths(4)) >= o.routes) sinkAt = performance.now();
      }
      return zebraAt !== undefined && sinkAt !== undefined ? Math.max(zebraAt, sinkAt) : undefined;
    });
    const cpu = Object.entries(pids())
      .map(([k, pid]) => `${k} ${((cpuMsOf(pid) - cpu0[k]!) / 1000).toFixed(1)} s`)
      .join(', ');
    r.zebraMs = zebraAt! - t0;
    r.rtreflectMs = sinkAt! - t0;
    r.writtenMs = writtenAt! - t0;
    const kernel = (await router.exec('ip', ['-4', 'route', 'show', 'proto', 'bgp'])).stdout.split('\n').filter(Boolean);
    if (kernel.length !== o.routes) throw new Error(`the kernel holds ${kernel.length} proto bgp routes, expected ${o.routes}`);
    if (!kernel.every((l) => / nhid \d+ /.test(l))) throw new Error('zebra installed routes without nexthop objects');
    await probe.expectPaths(o.routes, 'after FRR installed everything');

    printTable(`FRR ${frrVersion()}: ${fmtInt(o.routes)} routes learned over BGP and installed by zebra while rtreflect runs`, [
      { metric: 'bgpd start → zebra has installed all (its dataplane counters)', value: fmtMs(r.zebraMs) },
      { metric: 'bgpd start → rtreflect has written all to gobgpd', value: fmtMs(r.writtenMs) },
      { metric: 'bgpd start → gobgpd holds all, via rtreflect', value: fmtMs(r.rtreflectMs) },
      { metric: 'gobgpd complete after zebra', value: fmtMs(r.rtreflectMs - r.zebraMs) },
      { metric: 'ratio rtreflect / zebra', value: `${(r.rtreflectMs / r.zebraMs).toFixed(2)}×` },
    ]);
    console.log(`  CPU from bgpd's start until both were done (2 cores shared): ${cpu}`);
    return r;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

if (fileURLToPath(import.meta.url) === process.argv[1]) {
  runFrrBench(frrBenchOptions(process.argv.slice(2))).catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
