/**
 * Full-table benchmark: a full Internet-sized table (default 1,000,000 IPv4 + 200,000 IPv6
 * routes, proto bird) in the kernel of a throwaway namespace, reflected into gobgpd.
 *
 *   node dist/bench/run.js --only full [--v4 N] [--v6 N] [--changes 1000] [--rounds 3]
 *   node --import tsx bench/full-table-bench.ts [--v4 N] [--v6 N]
 *
 * Measures, with targets:
 *  1. T_raw: a minimal raw AddPathStream injector (paths pre-built) into a fresh gobgpd; for context,
 *     the same messages over two parallel streams (rtreflect's default) too.
 *  2. T_rt: `rtreflect run` started cold until gobgpd's RIB holds every route; T_rt / T_raw ≤ 1.2,
 *     the median over --rounds (default 3) pairs of runs, each into a fresh gobgpd.
 *  3. rtreflect's RSS at that size minus its RSS with an empty kernel, per route ≤ 200 bytes.
 *  4. Restart with the kernel unchanged, 0 writes: READY (kernel loaded, sinks taking writes) against
 *     its floor, the start-up with an empty kernel (process, config, connect) plus the bare kernel dump,
 *     target ≤ 1.5× the dump; the comparison against its floor, that start-up plus gobgpd serving the
 *     same RIB over a bare ListPath (nothing decoded), target ≤ 1.2×.
 *  5. Single-change latency kernel → gobgpd RIB (best-path watch), p99 ≤ 2 ms; and, with rtreflect
 *     stopped, the same for a minimal raw reflector on the same kernel and gobgpd: the floor.
 *  6. Live changes while the restart's and a resync's comparison runs (only those made before it
 *     ended count), p99 ≤ 2× the at-rest p99; and the raw reflector's while another process
 *     reads gobgpd's RIB (bench/list-path-loop.ts): what gobgpd serving its table costs a write.
 *
 * RTR_BENCH_RTREFLECT_ROOT measures another checkout's daemon with these same steps
 * (bench/compare.ts); RTR_BENCH_JSON=1 prints the figures as one JSON line for it.
 *
 * rtreflect and gobgpd run in the host namespace on loopback (free port) and rtreflect
 * watches the bench namespace's kernel through `source.netns`: that keeps gobgpd's API
 * reachable from this process (for the watch) without any interface outside the namespace.
 * Needs root. Namespace, processes and temp files are removed on every exit path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createNetns, type Netns } from '../test/helpers/netns.js';
import { RawReflector } from './raw-reflector.js';
import { freePort, startGobgpd, type TestGobgpd } from '../test/helpers/gobgpd.js';
import { controlRequest } from '../src/control/control-client.js';
import { NetlinkSocket } from '../src/kernel/netlink-socket.js';
import { buildRouteDumpRequest, netlinkDump } from '../src/kernel/netlink-dump.js';
import { parseRouteMessage, type RouteMessage } from '../src/kernel/netlink-messages.js';
import { encodePlan, parseOwnershipMark, planRoute, type PathPlan } from '../src/sinks/gobgp/gobgp-paths.js';
import type { ApiPathIn } from '../src/sinks/gobgp/gobgp-api.js';
import type { AddPathEncoder } from '../src/sinks/gobgp/add-path-encoder.js';
import type { ReflectedRoute } from '../src/engine/reflected-route.js';
import {
  GobgpProbe,
  cpuMsOf,
  fmtInt,
  fmtMs,
  intArg,
  median,
  percentile,
  printTable,
  rssOf,
  rtreflectCommand,
  runningCompiled,
  sleep,
  verdict,
  type Row,
} from './bench-util.js';

export interface FullTableOptions {
  v4: number;
  v6: number;
  /** Single changes for the latency measurement. */
  changes: number;
  /** Rounds of raw injector + rtreflect cold start; the ratio reported is their median. */
  rounds: number;
}

export function fullTableOptions(argv: string[]): FullTableOptions {
  const routes = intArg(argv, 'routes', -1);
  // --routes N: N IPv4 routes and N/5 IPv6 (the shape of a full table).
  const v4 = intArg(argv, 'v4', routes >= 0 ? routes : 1_000_000);
  const v6 = intArg(argv, 'v6', routes >= 0 ? Math.floor(routes / 5) : 200_000);
  const rounds = intArg(argv, 'rounds', 3);
  if (rounds < 1) throw new Error('--rounds needs at least 1');
  return { v4, v6, changes: intArg(argv, 'changes', 1000), rounds };
}

const GW4 = ['10.254.0.2', '10.254.0.3', '10.254.0.4', '10.254.0.5'];
const GW6 = ['fd00:254::2', 'fd00:254::3', 'fd00:254::4', 'fd00:254::5'];
const CHANGE_GW4 = '10.254.0.9';

/** IPv4 /24 number i (65536 per first octet, from 16.0.0.0). */
const v4Prefix = (i: number): string => `${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`;
/** IPv6 /48 number i under 2a00::/12-ish space (valid text; not necessarily RFC 5952 canonical). */
const v6Prefix = (i: number): string => `2a00:${(1 + (i >> 16)).toString(16)}:${(i & 0xffff).toString(16)}::/48`;

function kernelLines(o: FullTableOptions): Generator<string[]> {
  return (function* () {
    const chunk = 100_000;
    for (let s = 0; s < o.v4; s += chunk) {
      const lines: string[] = [];
      for (let i = s; i < Math.min(o.v4, s + chunk); i++) lines.push(`route add ${v4Prefix(i)} via ${GW4[i & 3]} proto bird`);
      yield lines;
    }
    for (let s = 0; s < o.v6; s += chunk) {
      const lines: string[] = [];
      for (let i = s; i < Math.min(o.v6, s + chunk); i++) lines.push(`route add ${v6Prefix(i)} via ${GW6[i & 3]} proto bird`);
      yield lines;
    }
  })();
}

/** The routes as rtreflect will reflect them (no handlers): the raw injector sends the same paths. */
function reflectedRoutes(o: FullTableOptions): ReflectedRoute[] {
  const out: ReflectedRoute[] = [];
  const base = { table: 254, protocol: 12, type: 'unicast' as const, metric: 0, tos: 0 };
  for (let i = 0; i < o.v4; i++) out.push({ ...base, family: 4, prefix: v4Prefix(i), nexthops: [{ gateway: GW4[i & 3]!, weight: 1 }] });
  for (let i = 0; i < o.v6; i++) out.push({ ...base, family: 6, prefix: v6Prefix(i), metric: 1024, nexthops: [{ gateway: GW6[i & 3]!, weight: 1 }] });
  return out;
}

/** The raw injector's requests, encoded before the clock starts: 1,000 paths each, as rtreflect sends them. */
function rawRequests(encoder: AddPathEncoder, paths: ApiPathIn[]): Buffer[] {
  const bytes = paths.map((p) => encoder.path(p.family.afi === 'AFI_IP' ? 4 : 6, p.nlri_binary, p.pattrs_binary, p.identifier));
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 1000) out.push(encoder.request(undefined, bytes, i, Math.min(bytes.length, i + 1000)));
  return out;
}

interface Daemon {
  child: ChildProcess;
  pid: number;
  socket: string;
  exited: Promise<void>;
}

/** rtreflect's kernel → sink latency histogram for the gobgp sink: writes observed, and how many within 2 ms. */
async function engineLatency(port: number): Promise<{ count: number; le2ms: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  // A series appears with its first observation: none yet counts as 0.
  const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);
  return {
    count: value(/^rtreflect_kernel_to_sink_seconds_count\{sink="gobgp"\} (\S+)$/m),
    le2ms: value(/^rtreflect_kernel_to_sink_seconds_bucket\{le="0\.002",sink="gobgp"\} (\S+)$/m),
  };
}

/** A running rtreflect: spawned, its log in dir. */
function startRtreflect(dir: string, config: string, tag: string): Daemon {
  const fd = openSync(join(dir, `rtreflect-${tag}.log`), 'a');
  const [cmd, ...args] = rtreflectCommand(['run', '--config', config]);
  const child = spawn(cmd!, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return { child, pid: child.pid!, socket: join(dir, 'control.sock'), exited };
}

async function stopRtreflect(d: Daemon | undefined): Promise<void> {
  if (!d || d.child.exitCode !== null || d.child.signalCode !== null) return;
  d.child.kill('SIGTERM');
  const t = setTimeout(() => d.child.kill('SIGKILL'), 15_000);
  await d.exited;
  clearTimeout(t);
}

interface DaemonStatus {
  daemon: { ready: boolean };
  sinks: { applied: number; lastResync?: { at: string; upserts: number; deletes: number; durationMs: number }; resync?: unknown }[];
}

/**
 * Until READY (the kernel snapshot loaded, every sink taking writes) or, with `compared`, until
 * every sink's first comparison is written as well: the moment its dataplane holds the kernel's table.
 */
async function waitReady(d: Daemon, dir: string, tag: string, timeoutMs: number, everyMs = 50, compared = true): Promise<{ at: number; status: DaemonStatus }> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (d.child.exitCode !== null || d.child.signalCode !== null) {
      const log = join(dir, `rtreflect-${tag}.log`);
      throw new Error(`rtreflect exited (${d.child.exitCode ?? d.child.signalCode}): ${existsSync(log) ? readFileSync(log, 'utf8').slice(-3000) : ''}`);
    }
    try {
      const s = (await controlRequest(d.socket, 'status', {}, { timeoutMs: 10_000 })) as DaemonStatus;
      if (s.daemon.ready && (!compared || s.sinks.every((k) => k.lastResync !== undefined && k.resync === undefined)))
        return { at: performance.now(), status: s };
    } catch {
      /* socket not there yet */
    }
    if (performance.now() > deadline) throw new Error(`rtreflect not READY after ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

function configText(ns: string, gobgp: string, dir: string, metricsPort: number): string {
  return `version: 1
source:
  protocols: [bird]
  tables: [main]
  families: [4, 6]
  netns: ${ns}
engine:
  holdDown: { enabled: false }
  batchDelayMs: 0
sinks:
  - type: gobgp
    name: gobgp
    address: "${gobgp}"
    shutdown: { withdraw: false, graceMs: 0 }
control:
  socket: "${join(dir, 'control.sock')}"
metrics:
  listen: "127.0.0.1:${metricsPort}"
log:
  level: ${process.env.RTR_BENCH_LOG_LEVEL ?? 'warn'}
`;
}

/**
 * Replaces routes v4Prefix(from..to-1) one at a time (next hop CHANGE_GW4) and times each from the
 * write into `ip -batch` to gobgpd's best-path event for the prefix. The next starts when one is seen. `first` runs
 * once the watch is open, right before the first change.
 */
async function singleChangeLatency(ip: ChildProcess, probe: GobgpProbe, from: number, to: number, first?: () => Promise<void>): Promise<Latencies> {
  const waiting = new Map<string, () => void>();
  const cancel = probe.watchBest((prefix) => {
    const w = waiting.get(prefix);
    if (w) {
      waiting.delete(prefix);
      w();
    }
  });
  try {
    await sleep(500); // the watch stream is open
    await first?.();
    const lat: number[] = [];
    const madeAt: number[] = [];
    let missed = 0;
    for (let i = from; i < to; i++) {
      const prefix = v4Prefix(i);
      const seen = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(prefix);
          resolve(false);
        }, 5000);
        waiting.set(prefix, () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      const t0 = performance.now();
      const at = Date.now();
      ip.stdin!.write(`route replace ${prefix} via ${CHANGE_GW4} proto bird\n`);
      if (await seen) {
        lat.push(performance.now() - t0);
        madeAt.push(at);
      } else missed++;
    }
    return { lat, missed, madeAt };
  } finally {
    cancel();
  }
}

interface Latencies {
  lat: number[];
  missed: number;
  /** Date.now() as each change was made, for madeBefore. */
  madeAt: number[];
}

/** Only the changes made before `end` (epoch ms): the ones made while a comparison still ran. */
function madeBefore(d: Latencies, end: number): Latencies {
  const keep = d.madeAt.map((at, i) => (at < end ? i : -1)).filter((i) => i >= 0 && i < d.lat.length);
  return { lat: keep.map((i) => d.lat[i]!), missed: d.missed, madeAt: keep.map((i) => d.madeAt[i]!) };
}

/** Runs `work` from the moment another process starts reading gobgpd's IPv4 RIB, over and over (bench/list-path-loop.ts). */
async function whileListing<T>(address: string, work: (startReading: () => Promise<void>) => Promise<T>): Promise<T> {
  const here = fileURLToPath(import.meta.url);
  const file = join(here, '..', runningCompiled() ? 'list-path-loop.js' : 'list-path-loop.ts');
  const child = spawn(process.execPath, [...(runningCompiled() ? [] : ['--import', 'tsx']), file, address, '4'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    const lines = createInterface({ input: child.stdout! });
    const line = (want: string): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        const onLine = (l: string): void => {
          if (l !== want) return;
          lines.off('line', onLine);
          resolve();
        };
        lines.on('line', onLine);
        child.once('exit', (code) => reject(new Error(`list-path-loop exited with ${code} before "${want}"`)));
      });
    await line('ready');
    // Its first ListPath goes out when `work` says, as a resync's read starts.
    return await work(async () => {
      const sent = line('listing');
      child.stdin!.write('go\n');
      await sent;
    });
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * One dump of the bench's routes (both families) through a fresh socket: its time. `bare` reads the
 * bytes; `parsed` parses every message; `kept` also keeps each in a table by its prefix, the least any
 * agent does to hold a snapshot that live changes can be applied to.
 */
async function timedKernelDump(netns: string, total: number, mode: 'bare' | 'parsed' | 'kept'): Promise<number> {
  const sock = NetlinkSocket.open({ netns, strictCheck: true });
  try {
    const t = performance.now();
    let dumped = 0;
    const kept = new Map<string, RouteMessage>();
    for (const family of [4, 6] as const) {
      await netlinkDump(sock, buildRouteDumpRequest({ family, protocol: 12, seq: family }), {
        onMessages: (msgs) => {
          dumped += msgs.length;
          if (mode === 'bare') return;
          for (const m of msgs) {
            const r = parseRouteMessage(m.payload);
            if (mode === 'kept') kept.set(`${r.table}|${r.prefix}`, r);
          }
        },
      });
    }
    const ms = performance.now() - t;
    if (dumped !== total) throw new Error(`the kernel dump listed ${dumped} routes, expected ${total}`);
    if (mode === 'kept' && kept.size !== total) throw new Error(`the kernel dump kept ${kept.size} routes, expected ${total}`);
    return ms;
  } finally {
    sock.close();
  }
}

export async function runFullTableBench(o: FullTableOptions): Promise<Record<string, number>> {
  const total = o.v4 + o.v6;
  console.log(`full-table bench: ${fmtInt(o.v4)} IPv4 + ${fmtInt(o.v6)} IPv6 routes (proto bird), ${o.changes} single changes`);
  const dir = mkdtempSync(join(tmpdir(), 'rtr-ftbench-'));
  let ns: Netns | undefined;
  let g: TestGobgpd | undefined;
  /** The rounds' own gobgpds while they run: stopped on every exit path, a signal's too. */
  const roundGobgpds = new Set<TestGobgpd>();
  let rt: Daemon | undefined;
  let probe: GobgpProbe | undefined;
  let ipChild: ChildProcess | undefined;
  const r: Record<string, number> = {};
  const cleanup = async (): Promise<void> => {
    try {
      ipChild?.stdin?.end();
    } catch {
      /* gone */
    }
    if (ipChild?.exitCode === null) ipChild.kill('SIGTERM');
    await stopRtreflect(rt);
    probe?.close();
    await g?.stop();
    for (const other of roundGobgpds) await other.stop();
    await ns?.destroy();
    if (process.env.RTR_BENCH_KEEP) console.log(`  kept ${dir} (RTR_BENCH_KEEP)`);
    else rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (): void => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    ns = await createNetns('ftbench');
    await ns.execBatch([
      'link add veth0 type veth peer name veth1',
      'link set veth0 up',
      'link set veth1 up',
      'addr add 10.254.0.1/24 dev veth0',
      'addr add fd00:254::1/64 dev veth0 nodad',
    ]);
    g = await startGobgpd();
    probe = new GobgpProbe(g.grpcAddress);
    const config = join(dir, 'rtreflect.yaml');
    const metricsPort = await freePort();
    writeFileSync(config, configText(ns.name, g.grpcAddress, dir, metricsPort));
    let t: number;

    // Idle RSS, and the floor under any start-up: the daemon with an empty kernel, spawn → comparison
    // written (process, modules, config, connect). Started twice: the second one, as the restart below,
    // finds its files in the page cache.
    for (const tag of ['idle', 'idle-2']) {
      t = performance.now();
      rt = startRtreflect(dir, config, tag);
      r.connectMs = (await waitReady(rt, dir, tag, 60_000, 10)).at - t;
      await sleep(1000);
      r.idleRss = rssOf(rt.pid);
      await stopRtreflect(rt);
      rt = undefined;
    }

    // The table in the kernel.
    t = performance.now();
    for (const lines of kernelLines(o)) await ns.execBatch(lines);
    r.installMs = performance.now() - t;
    console.log(`  kernel install (ip -batch): ${fmtMs(r.installMs)}`);

    // 1 + 2, in rounds (--rounds, default 3): on a small machine one pair of runs is not a verdict.
    //  1. Raw baseline into a fresh gobgpd: one stream, as the target defines it; in the first round also
    //     the same messages over two streams (as rtreflect writes by default), for context.
    //  2. rtreflect started cold into a fresh, empty gobgpd; the last round's gobgpd (g) stays for the rest.
    const mark = parseOwnershipMark({ largeCommunity: '4294967294:0:1' });
    let requests: Buffer[] | undefined;
    const rawRuns: number[] = [],
      rtRuns: number[] = [];
    for (let round = 0; round < o.rounds; round++) {
      for (const streams of round === 0 ? [1, 2] : [1]) {
        const raw = await startGobgpd();
        roundGobgpds.add(raw);
        const rawProbe = new GobgpProbe(raw.grpcAddress);
        try {
          requests ??= rawRequests(
            raw.client.encoder,
            reflectedRoutes(o).flatMap((x) => encodePlan(planRoute(x, mark) as PathPlan)),
          );
          const parts = Array.from({ length: streams }, (_, k) => requests!.filter((_, i) => i % streams === k));
          const cpu0 = cpuMsOf(raw.pid);
          t = performance.now();
          await Promise.all(parts.map((p) => raw.client.addPathStreamBytes(p)));
          // gobgpd answers a stream once it has processed every message in it (each one is applied to the RIB
          // before the next is read): the answer is the moment its RIB holds them all.
          const ms = performance.now() - t;
          if (streams === 1) {
            rawRuns.push(ms);
            r.rawGobgpdCpuMs = cpuMsOf(raw.pid) - cpu0;
          } else r.raw2Ms = ms;
          await rawProbe.expectPaths(total, `raw injector (${streams} stream(s))`);
          console.log(`  round ${round + 1}: raw injector, ${streams} stream(s): answered, RIB complete ${fmtMs(ms)}`);
        } finally {
          rawProbe.close();
          await raw.stop();
          roundGobgpds.delete(raw);
        }
      }

      const last = round === o.rounds - 1;
      const into = last ? g : await startGobgpd();
      if (!last) roundGobgpds.add(into);
      const intoProbe = last ? probe : new GobgpProbe(into.grpcAddress);
      try {
        writeFileSync(config, configText(ns.name, into.grpcAddress, dir, metricsPort));
        const gCpu0 = cpuMsOf(into.pid);
        t = performance.now();
        rt = startRtreflect(dir, config, `cold-${round + 1}`);
        // READY comes after rtreflect's own stream was answered (the same moment as the raw injector's),
        // and is checked against gobgpd's count. Counting in a loop instead would stall what it measures:
        // gobgpd walks the whole table for a count, in its main loop (~0.5 s at a full table).
        const cold = await waitReady(rt, dir, `cold-${round + 1}`, 600_000);
        rtRuns.push(cold.at - t);
        r.rtCpuMs = cpuMsOf(rt.pid);
        r.rtGobgpdCpuMs = cpuMsOf(into.pid) - gCpu0;
        await intoProbe.expectPaths(total, 'rtreflect at READY');
        console.log(`  round ${round + 1}: rtreflect cold: READY, RIB complete ${fmtMs(cold.at - t)}  (ratio ${((cold.at - t) / rawRuns[round]!).toFixed(2)})`);
        if (!last) {
          await stopRtreflect(rt);
          rt = undefined;
        }
      } finally {
        if (!last) {
          intoProbe.close();
          await into.stop();
          roundGobgpds.delete(into);
        }
      }
    }
    requests = undefined;
    const ratios = rtRuns.map((x, i) => x / rawRuns[i]!);
    r.ratio = median(ratios);
    r.rawMs = median(rawRuns);
    r.rtMs = median(rtRuns);
    if (!rt) throw new Error('rtreflect is not running after the cold rounds');

    // 3. Memory per route: steady state, after V8's memory reducer had time to collect the load's garbage.
    await sleep(2000);
    r.peakRss = rssOf(rt.pid);
    await sleep(10_000);
    r.fullRss = rssOf(rt.pid);
    r.bytesPerRoute = (r.fullRss - r.idleRss) / total;

    // 4. Restart with the kernel unchanged.
    await stopRtreflect(rt);
    rt = undefined;
    t = performance.now();
    rt = startRtreflect(dir, config, 'restart');
    r.restartReadyMs = (await waitReady(rt, dir, 'restart', 600_000, 20, false)).at - t;
    const warm = await waitReady(rt, dir, 'restart', 600_000);
    r.restartMs = warm.at - t;
    const lr = warm.status.sinks[0]?.lastResync;
    r.restartWrites = lr ? lr.upserts + lr.deletes : NaN;
    r.restartResyncMs = lr?.durationMs ?? NaN;
    console.log(
      `  restart: READY ${fmtMs(r.restartReadyMs)}, compared ${fmtMs(r.restartMs)} (sink resync ${fmtMs(r.restartResyncMs)}), writes ${r.restartWrites}`,
    );

    // The floor under READY: the kernel dump itself (bytes read, nothing parsed) of the same routes;
    // and, for where the rest goes, the same dump with every message parsed, then also kept by prefix.
    r.kernelDumpMs = await timedKernelDump(ns.name, total, 'bare');
    r.kernelParsedMs = await timedKernelDump(ns.name, total, 'parsed');
    r.kernelKeptMs = await timedKernelDump(ns.name, total, 'kept');
    r.readyOverFloor = (r.restartReadyMs - r.connectMs) / r.kernelDumpMs;
    console.log(
      `  kernel dump alone: ${fmtMs(r.kernelDumpMs)} (parsed: ${fmtMs(r.kernelParsedMs)}, kept: ${fmtMs(r.kernelKeptMs)}); empty start-up ${fmtMs(r.connectMs)}; (READY − start-up) / dump: ${r.readyOverFloor.toFixed(2)}`,
    );

    // 4b. Live changes while a sink is compared: right after READY of a restart, and during an operator's
    //     resync, 100 changes each (prefixes no other phase uses), timed as at rest below.
    const n = Math.min(o.changes, Math.floor(o.v4 / 2));
    const live = 100;
    const base = 2 * n;
    ipChild = spawn('ip', ['-n', ns.name, '-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'inherit'] });
    let duringRestart: Latencies | undefined, duringResync: Latencies | undefined;
    /** The raw reflector during another process's ListPath, per comparison (phase 6). */
    const floorsWhileListing: Partial<Record<'restart' | 'resync', { intoMs: number; p50: number; p99: number; missed: number }>> = {};
    const comparing = async (): Promise<boolean> => {
      const s = (await controlRequest(rt!.socket, 'status', {}, { timeoutMs: 10_000 })) as DaemonStatus;
      return s.sinks.some((k) => k.resync !== undefined);
    };
    /** When the sink's comparison ended, from the status after it: the changes made before count as during it. */
    const comparedAt = (s: DaemonStatus): number => Date.parse(s.sinks[0]?.lastResync?.at ?? '') || Infinity;
    if (o.v4 >= base + 4 * live) {
      await stopRtreflect(rt);
      rt = startRtreflect(dir, config, 'restart-live');
      await waitReady(rt, dir, 'restart-live', 600_000, 20, false);
      const restartLive = await singleChangeLatency(ipChild, probe, base, base + live);
      duringRestart = madeBefore(restartLive, comparedAt((await waitReady(rt, dir, 'restart-live', 600_000)).status));
      const resyncDone = controlRequest(rt.socket, 'resync', {}, { timeoutMs: 600_000 });
      // A daemon that does not report its comparison in status (an older one, under compare.ts) gets 2 s.
      for (const until = performance.now() + 2000; !(await comparing()) && performance.now() < until;) await sleep(20);
      const resyncLive = await singleChangeLatency(ipChild, probe, base + live, base + 2 * live);
      await resyncDone;
      duringResync = madeBefore(resyncLive, comparedAt((await waitReady(rt, dir, 'restart-live', 600_000)).status));
      const show = (d: Latencies): string =>
        `p50 ${fmtMs(percentile(d.lat, 50))}, p99 ${fmtMs(percentile(d.lat, 99))} (${d.lat.length} of ${live} made before it ended, missed ${d.missed})`;
      console.log(`  live changes during the restart's comparison: ${show(duringRestart)}; during a resync's: ${show(duringResync)}`);
    }

    // 5. Single-change latency: kernel route replace → best-path event in gobgpd, in steady state: after
    //    bulk work the daemon compacts its heap once (HeapCompactor, ~1 s after it settles, a pause of a
    //    few hundred ms at a full table), so the changes start after that.
    await sleep(3000);
    const engineBefore = await engineLatency(metricsPort);
    const rtLat = await singleChangeLatency(ipChild, probe, 0, n);
    // The engine's own share (kernel event in rtreflect → written into the AddPathStream), from its histogram.
    const engineAfter = await engineLatency(metricsPort);
    const engineWrites = engineAfter.count - engineBefore.count;
    r.engineWithin2ms = engineWrites > 0 ? (engineAfter.le2ms - engineBefore.le2ms) / engineWrites : NaN;
    r.latP50 = percentile(rtLat.lat, 50);
    r.latP99 = percentile(rtLat.lat, 99);
    r.latMax = Math.max(...rtLat.lat);
    r.latMissed = rtLat.missed;

    // 6. The floor, same kernel, same gobgpd and RIB: a minimal reflector (bench/raw-reflector.ts) in rtreflect's place.
    await stopRtreflect(rt);
    rt = undefined;
    const raw = new RawReflector(ns.name, g.client, parseOwnershipMark({ largeCommunity: '4294967294:0:1' }));
    try {
      for (let i = n; i < 2 * n; i++) raw.holds(v4Prefix(i), GW4[i & 3]!);
      await sleep(200); // subscribed
      const floor = await singleChangeLatency(ipChild, probe, n, 2 * n);
      r.floorP50 = percentile(floor.lat, 50);
      r.floorP99 = percentile(floor.lat, 99);
      r.floorMissed = floor.missed;
      // The floor of a live change while a sink is read: the same while another process reads gobgpd's
      // RIB, the changes starting as far into the read as rtreflect's did: half a second into a resync's
      // (its watch is opened first), and a restart's READY later into a restart's, which began at connect.
      // gobgpd costs a write more deep into serving its table than in its first milliseconds.
      if (duringRestart) {
        const phases = [
          ['resync', 500],
          ['restart', r.restartReadyMs - r.connectMs + 500],
        ] as const;
        for (const [k, [what, intoMs]] of phases.entries()) {
          const from = base + (2 + k) * live;
          for (let i = from; i < from + live; i++) raw.holds(v4Prefix(i), GW4[i & 3]!);
          const reading = await whileListing(g.grpcAddress, (startReading) =>
            singleChangeLatency(ipChild!, probe!, from, from + live, async () => {
              await startReading();
              await sleep(intoMs);
            }),
          );
          floorsWhileListing[what] = { intoMs, p50: percentile(reading.lat, 50), p99: percentile(reading.lat, 99), missed: reading.missed };
        }
      }
    } finally {
      await raw.close();
    }

    // 7. The floor of any restart that reads the sink: gobgpd serving the same RIB, nothing decoded.
    //    Last, so the garbage it leaves gobgpd's collector does not land in a latency phase.
    t = performance.now();
    const served = (await probe.bareListPath(4)) + (o.v6 > 0 ? await probe.bareListPath(6) : 0);
    r.readFloorMs = performance.now() - t;
    if (served !== total) throw new Error(`bare ListPath served ${served} destinations, expected ${total}`);
    console.log(`  gobgpd serving its RIB (bare ListPath, nothing decoded): ${fmtMs(r.readFloorMs)}`);

    const rows: Row[] = [
      { metric: 'routes (IPv4 + IPv6)', value: fmtInt(total) },
      { metric: `T_raw (raw AddPathStream, RIB complete), median of ${o.rounds}`, value: fmtMs(r.rawMs) },
      { metric: `T_rt (rtreflect cold start → RIB complete), median of ${o.rounds}`, value: fmtMs(r.rtMs) },
      {
        metric: `T_rt / T_raw, median of ${o.rounds} rounds (each: ${ratios.map((x) => x.toFixed(2)).join(', ')})`,
        value: r.ratio.toFixed(2),
        target: '≤ 1.2',
        verdict: verdict(r.ratio <= 1.2),
      },
      { metric: 'context: raw over 2 streams (round 1); median T_rt against it', value: `${fmtMs(r.raw2Ms)}; ${(r.rtMs / r.raw2Ms).toFixed(2)}` },
      {
        metric: 'CPU, last round: gobgpd (raw) / gobgpd (rtreflect) / rtreflect',
        value: `${fmtMs(r.rawGobgpdCpuMs)} / ${fmtMs(r.rtGobgpdCpuMs)} / ${fmtMs(r.rtCpuMs)}`,
      },
      {
        metric: 'rtreflect RSS idle / at READY+2s / +12s',
        value: `${(r.idleRss / 2 ** 20).toFixed(0)} / ${(r.peakRss / 2 ** 20).toFixed(0)} / ${(r.fullRss / 2 ** 20).toFixed(0)} MiB`,
      },
      { metric: 'memory per route (RSS delta at +12s)', value: `${r.bytesPerRoute.toFixed(0)} B`, target: '≤ 200 B', verdict: verdict(r.bytesPerRoute <= 200) },
      { metric: 'rtreflect start-up with an empty kernel (process, config, connect)', value: fmtMs(r.connectMs) },
      { metric: 'restart → READY (kernel loaded, sinks taking writes)', value: fmtMs(r.restartReadyMs) },
      { metric: 'restart → comparison written', value: fmtMs(r.restartMs), target: '≤ 5000 ms', verdict: verdict(r.restartMs <= 5000) },
      { metric: 'restart writes (upserts + deletes)', value: String(r.restartWrites), target: '0', verdict: verdict(r.restartWrites === 0) },
      { metric: 'floor: gobgpd serving its RIB (bare ListPath)', value: fmtMs(r.readFloorMs) },
      { metric: 'restart / floor', value: (r.restartMs / r.readFloorMs).toFixed(2) },
      { metric: `single change latency p50 (${n} changes)`, value: fmtMs(r.latP50) },
      { metric: 'single change latency p99', value: fmtMs(r.latP99), target: '≤ 2 ms', verdict: verdict(r.latP99 <= 2) },
      { metric: 'single change latency max / missed', value: `${fmtMs(r.latMax)} / ${r.latMissed}` },
      { metric: 'of which in rtreflect (event → stream): writes within 2 ms', value: `${(r.engineWithin2ms * 100).toFixed(1)} %` },
      { metric: `floor: minimal raw reflector p50 / p99 (missed ${r.floorMissed})`, value: `${fmtMs(r.floorP50)} / ${fmtMs(r.floorP99)}` },
      { metric: 'rtreflect / floor, p50 / p99', value: `${(r.latP50 / r.floorP50).toFixed(2)} / ${(r.latP99 / r.floorP99).toFixed(2)}` },
    ];
    for (const [what, d] of [
      ['restart', duringRestart],
      ['resync', duringResync],
    ] as const) {
      if (!d) continue;
      const p99 = percentile(d.lat, 99);
      r[`live_${what}_p50`] = percentile(d.lat, 50);
      r[`live_${what}_p99`] = p99;
      rows.push({
        metric: `live change during a ${what}'s comparison p50 / p99 (${d.lat.length} made during it, missed ${d.missed})`,
        value: `${fmtMs(percentile(d.lat, 50))} / ${fmtMs(p99)}`,
      });
      rows.push({ metric: `  its p99 / p99 at rest`, value: (p99 / r.latP99).toFixed(2), target: '≤ 2', verdict: verdict(p99 / r.latP99 <= 2) });
      const f = floorsWhileListing[what];
      if (f) {
        r[`floor_${what}_p99`] = f.p99;
        rows.push({
          metric: `  floor: raw reflector ${(f.intoMs / 1000).toFixed(1)} s into another process's ListPath, p50 / p99 (missed ${f.missed})`,
          value: `${fmtMs(f.p50)} / ${fmtMs(f.p99)}`,
        });
        rows.push({ metric: `  its p99 / that floor's p99`, value: (p99 / f.p99).toFixed(2) });
      }
    }
    rows.push({ metric: 'floor: kernel dump alone (nothing parsed)', value: fmtMs(r.kernelDumpMs) });
    rows.push({ metric: '  the same dump, every message parsed (no state)', value: fmtMs(r.kernelParsedMs) });
    rows.push({ metric: '  the same dump, every route parsed and kept in a table by prefix', value: fmtMs(r.kernelKeptMs) });
    rows.push({
      metric: 'restart (READY − empty start-up) / kernel dump',
      value: r.readyOverFloor.toFixed(2),
      target: '≤ 1.5',
      verdict: verdict(r.readyOverFloor <= 1.5),
    });
    rows.push({ metric: '  (READY − empty start-up) / the dump kept in a table', value: ((r.restartReadyMs - r.connectMs) / r.kernelKeptMs).toFixed(2) });
    r.comparedOverFloor = r.restartMs / (r.connectMs + r.readFloorMs);
    rows.push({
      metric: 'restart comparison / (empty start-up + bare ListPath)',
      value: r.comparedOverFloor.toFixed(2),
      target: '≤ 1.2',
      verdict: verdict(r.comparedOverFloor <= 1.2),
    });
    printTable(
      `full table: kernel → rtreflect → gobgpd${process.env.RTR_BENCH_RTREFLECT_ROOT ? ` (daemon of ${process.env.RTR_BENCH_RTREFLECT_ROOT})` : ''}`,
      rows,
    );
    if (process.env.RTR_BENCH_JSON) console.log(`BENCH-RESULT ${JSON.stringify(r)}`);
    return r;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runFullTableBench(fullTableOptions(process.argv.slice(2))).catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
