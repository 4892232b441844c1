/**
 * VPP bench, end to end: proto bird routes in the kernel of VPP's namespace →
 * `rtreflect run` (VPP sink) → a real VPP's FIB, timed until VPP holds them all
 * (VPP's own `show ip[6] fib summary` counts, polled).
 *
 *   node dist/bench/vpp-bench.js [--v4 100000] [--v6 20000] [--full] [--routes N] [--no-linux-nl]
 *   (or: import { main } from './vpp-bench.js'; await main(['--v4', '100000']))
 *
 * --full is 1,000,000 + 200,000; --routes N means N IPv4 + N/5 IPv6.
 * RTR_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles rtreflect.
 *
 * Phases:
 *  1. cold: the table is in the kernel first, then rtreflect starts: routes/s into VPP's FIB
 *     and the time until VPP holds all (anchor: ~175,000 routes/s published for VPP's linux-cp family).
 *  2. restart: rtreflect stopped and started with the kernel unchanged: writes (expected 0) and time.
 *  3. streaming, same table, same run: rtreflect running, the table added to the kernel
 *     (ip -batch); then VPP's own linux_nl plugin in a second VPP, the same table added
 *     to its namespace's kernel. Time until each VPP holds all; ratio rtreflect/linux_nl.
 *     linux_nl in this VPP build never dumps the kernel at start-up (it opens its netlink
 *     socket when the first linux-cp pair appears and only re-syncs after a socket error),
 *     so a cold-start comparison is impossible: the comparison is on route *arrival*.
 */
import { writeFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { controlRequest } from '../src/control/control-client.js';
import { findVppBinary, NO_VPP_MESSAGE, startLiveVpp, type LiveVpp } from '../test/helpers/vpp.js';
import { NsProcess } from '../test/helpers/e2e-topology.js';
import { fmtInt, fmtMs, intArg, printTable, rssOf, rtreflectCommand, sleep, type Row } from './bench-util.js';

/** Published figure for VPP's linux-cp family programming the FIB (routes/s). */
const LINUX_CP_ANCHOR = 175_000;

interface SinkView {
  state: string;
  writes: number;
  deletes: number;
  lastResync?: { upserts: number; deletes: number; durationMs: number; ok: boolean };
}

function v4Prefix(i: number): string {
  // /24s from 20.0.0.0: 1.2M of them end below 39.0.0.0, clear of 10/8 and 127/8.
  const a = 0x14000000 + i * 256;
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.0/24`;
}

function v6Prefix(i: number): string {
  return `2a00:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::/48`;
}

/** The table as an `ip -batch` file: v4 /24s via 10.99.0.10-13, v6 /48s via 2001:db8:99::10. */
function writeTable(path: string, v4: number, v6: number): void {
  const lines: string[] = [];
  for (let i = 0; i < v4; i++) lines.push(`route add ${v4Prefix(i)} via 10.99.0.${10 + (i & 3)} proto bird`);
  for (let i = 0; i < v6; i++) lines.push(`route add ${v6Prefix(i)} via 2001:db8:99::10 proto bird`);
  writeFileSync(path, lines.join('\n') + '\n');
}

function loadTable(ns: string, file: string): number {
  const t = performance.now();
  execFileSync('ip', ['-n', ns, '-batch', file], { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 });
  return performance.now() - t;
}

/** `show ip fib summary` → count of entries with this prefix length (table 0). */
function fibCount(vpp: LiveVpp, ip6: boolean, len: number): number {
  const out = vpp.cli(ip6 ? 'show ip6 fib summary' : 'show ip fib summary');
  let inT0 = false;
  for (const line of out.split('\n')) {
    if (/VRF:/.test(line)) {
      inT0 = /VRF:0,/.test(line);
      continue;
    }
    const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(line);
    if (inT0 && m && Number(m[1]) === len) return Number(m[2]);
  }
  return 0;
}

function readVppLog(vpp: LiveVpp): string {
  try {
    return readFileSync(join(vpp.dir, 'vpp.log'), 'utf8')
      .split('\n')
      .filter((l) => !/show ip6? fib summary|quit|^\s*$/.test(l))
      .slice(-15)
      .join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls VPP until it holds v4 /24s and v6 /48s (beyond the base counts); returns ms since t0. */
async function waitHolds(vpp: LiveVpp, t0: number, want4: number, want6: number, base4: number, timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const gone = vpp.exitReason();
    if (gone) throw new Error(`${gone}\nVPP log: ${readVppLog(vpp)}`);
    const c4 = fibCount(vpp, false, 24) - base4;
    const c6 = want6 ? fibCount(vpp, true, 48) : 0;
    if (c4 >= want4 && c6 >= want6) return performance.now() - t0;
    if (Date.now() > end) throw new Error(`VPP holds ${c4}/${want4} IPv4 and ${c6}/${want6} IPv6 routes after ${timeoutMs} ms`);
    await sleep(c4 + c6 > 0.9 * (want4 + want6) ? 50 : 200);
  }
}

class Rtreflect {
  readonly proc: NsProcess;
  readonly control: string;
  constructor(
    private readonly vpp: LiveVpp,
    readonly dir: string,
  ) {
    this.control = join(dir, 'control.sock');
    const config = join(dir, 'rtreflect.yaml');
    writeFileSync(
      config,
      `source: { protocols: [bird], tables: [main], families: [4, 6] }
engine: { holdDown: { enabled: false } }
sinks:
  - type: vpp
    name: vpp
    socket: "${vpp.apiSock}"
    apiDir: "${vpp.apiDir}"
    interfaces: { host0: host-vpp0 }
control: { socket: "${this.control}" }
log: { level: warn, format: json }
`,
    );
    this.proc = new NsProcess(vpp.ns, rtreflectCommand(['run', '--config', config, '--control', this.control]), join(dir, 'rtreflect.log'));
  }

  async status(): Promise<{ daemon: { ready: boolean }; sinks: SinkView[] } | undefined> {
    try {
      return (await controlRequest(this.control, 'status', {}, { timeoutMs: 10_000 })) as { daemon: { ready: boolean }; sinks: SinkView[] };
    } catch {
      return undefined;
    }
  }

  /** Starts it; resolves when the sink's first resync is done (ms since start). */
  async start(timeoutMs: number): Promise<number> {
    const t0 = performance.now();
    this.proc.start();
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (!this.proc.running) throw new Error(`rtreflect exited: ${this.proc.log().slice(-3000)}`);
      const gone = this.vpp.exitReason();
      if (gone) throw new Error(`${gone}\nVPP log: ${readVppLog(this.vpp)}`);
      const st = await this.status();
      if (st?.daemon.ready && st.sinks[0]?.lastResync) return performance.now() - t0;
      if (Date.now() > end) throw new Error(`rtreflect not ready after ${timeoutMs} ms: ${this.proc.log().slice(-3000)}`);
      await sleep(100);
    }
  }
}

export interface VppBenchResult {
  v4: number;
  v6: number;
  coldMs?: number;
  restartWrites?: number;
  streamRtreflectMs?: number;
  streamLinuxNlMs?: number;
  linuxNlSkipped?: string;
}

/** Runs the bench; args as on the command line. Resolves with the figures (also printed). */
export async function main(args: string[] = process.argv.slice(2)): Promise<VppBenchResult | undefined> {
  const bin = findVppBinary();
  if (!bin) {
    console.log(NO_VPP_MESSAGE);
    return undefined;
  }
  const full = args.includes('--full');
  const routes = intArg(args, 'routes', 0);
  const v4 = intArg(args, 'v4', full ? 1_000_000 : routes || 100_000);
  const v6 = intArg(args, 'v6', full ? 200_000 : routes ? Math.floor(routes / 5) : 20_000);
  const total = v4 + v6;
  const heap = total > 300_000 ? '6G' : '2G';
  // Route counters live in the stats segment: about 400 bytes a route, with room.
  const statseg = `${Math.max(64, Math.ceil((total * 400) / 2 ** 20 / 64) * 64)}M`;
  const timeoutMs = 120_000 + total * 2;
  const dir = mkdtempSync(join(tmpdir(), 'rtr-vpp-bench-'));
  const table = join(dir, 'table.batch');
  writeTable(table, v4, v6);
  const res: VppBenchResult = { v4, v6 };
  const rows: Row[] = [];
  let vpp: LiveVpp | undefined;
  let rtr: Rtreflect | undefined;
  // Interrupted: tear down what this run made (namespace, VPP, rtreflect) before leaving.
  const onSignal = (): void => {
    void (async () => {
      try {
        await rtr?.proc.stop(10_000);
      } catch {
        /* keep tearing down */
      }
      try {
        await vpp?.stop();
      } catch {
        /* keep tearing down */
      }
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    })();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // ---- 1. cold start with the table already in the kernel ----
    vpp = await startLiveVpp(bin, 'bench', { mainHeap: heap, statsegSize: statseg });
    const base4 = fibCount(vpp, false, 24);
    const loadMs = loadTable(vpp.ns, table);
    rows.push({ metric: 'kernel: ip -batch of the table', value: fmtMs(loadMs) });
    rtr = new Rtreflect(vpp, dir);
    const t0 = performance.now();
    await rtr.start(timeoutMs);
    const coldMs = await waitHolds(vpp, t0, v4, v6, base4, timeoutMs);
    res.coldMs = coldMs;
    const rate = total / (coldMs / 1000);
    rows.push({ metric: 'cold: start → VPP holds all', value: fmtMs(coldMs) });
    rows.push({
      metric: 'cold: routes/s into VPP FIB',
      value: fmtInt(rate),
      target: `anchor ${fmtInt(LINUX_CP_ANCHOR)}`,
      verdict: `ratio ${(rate / LINUX_CP_ANCHOR).toFixed(2)}`,
    });
    rows.push({ metric: 'rtreflect RSS after cold load', value: `${fmtInt(rssOf(rtr.proc.pid!) / 1048576)} MiB` });

    // ---- 2. restart with the kernel unchanged ----
    await rtr.proc.stop(30_000);
    const readyMs = await rtr.start(timeoutMs);
    const st = (await rtr.status())!.sinks[0]!;
    res.restartWrites = st.writes + st.deletes;
    rows.push({
      metric: 'restart: writes (upserts+deletes)',
      value: `${st.lastResync?.upserts ?? '?'}+${st.lastResync?.deletes ?? '?'}`,
      target: '0',
      verdict: st.writes + st.deletes === 0 ? 'ok' : 'MISSED',
    });
    rows.push({ metric: 'restart: start → resynced', value: fmtMs(readyMs) });
    rows.push({ metric: 'restart: sink resync (read+compare)', value: fmtMs(st.lastResync?.durationMs ?? NaN) });

    // ---- 3a. streaming into rtreflect: empty kernel, rtreflect up, table added ----
    await rtr.proc.stop(30_000);
    await vpp.stop();
    vpp = undefined;
    vpp = await startLiveVpp(bin, 'bench', { mainHeap: heap, statsegSize: statseg });
    const b4 = fibCount(vpp, false, 24);
    rtr = new Rtreflect(vpp, dir);
    await rtr.start(timeoutMs);
    let t1 = performance.now();
    loadTable(vpp.ns, table);
    const streamR = await waitHolds(vpp, t1, v4, v6, b4, timeoutMs);
    res.streamRtreflectMs = streamR;
    rows.push({ metric: 'stream: rtreflect, ip -batch → VPP holds all', value: fmtMs(streamR), verdict: `${fmtInt(total / (streamR / 1000))} routes/s` });
    await rtr.proc.stop(30_000);
    rtr = undefined;
    await vpp.stop();
    vpp = undefined;

    // ---- 3b. the same with VPP's linux_nl ----
    if (args.includes('--no-linux-nl')) {
      res.linuxNlSkipped = '--no-linux-nl';
    } else {
      const nl = await startLinuxNlVpp(bin, heap, statseg);
      if (typeof nl === 'string') {
        res.linuxNlSkipped = nl;
      } else {
        vpp = nl;
        const nb4 = fibCount(vpp, false, 24);
        t1 = performance.now();
        loadTable(vpp.ns, table);
        const streamN = await waitHolds(vpp, t1, v4, v6, nb4, timeoutMs);
        res.streamLinuxNlMs = streamN;
        rows.push({ metric: 'stream: linux_nl, ip -batch → VPP holds all', value: fmtMs(streamN), verdict: `${fmtInt(total / (streamN / 1000))} routes/s` });
        const ratio = streamR / streamN;
        rows.push({ metric: 'stream: time ratio rtreflect/linux_nl', value: ratio.toFixed(2), target: '<= 1.0', verdict: ratio <= 1 ? 'ok' : 'MISSED' });
      }
    }
    if (res.linuxNlSkipped) rows.push({ metric: 'linux_nl comparison', value: 'skipped', target: res.linuxNlSkipped });
    printTable(`VPP: ${fmtInt(v4)} IPv4 + ${fmtInt(v6)} IPv6 proto bird routes, kernel → rtreflect → VPP (${bin})`, rows);
    return res;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    try {
      await rtr?.proc.stop(10_000);
    } catch {
      /* keep tearing down */
    }
    try {
      await vpp?.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/**
 * A VPP with linux_cp + linux_nl. linux_nl ignores every netlink message while there is no
 * linux-cp pair, and real pairs need a tap (vhost-net, absent here); linux_cp_unittest's
 * `test lcp add` makes a pair without one: each call maps the next kernel ifindex (1, 2, …)
 * to a VPP interface. Pairs for ifindex 1..4 cover host0 (where the next hops are) whatever
 * its index, all to host-vpp0-less loopbacks: the routes' paths go via a loopback, which
 * VPP accepts as attached next hops. Returns why not, when this VPP cannot do that.
 */
async function startLinuxNlVpp(bin: string, heap: string, statseg: string): Promise<LiveVpp | string> {
  let vpp: LiveVpp;
  try {
    vpp = await startLiveVpp(bin, 'benchnl', { mainHeap: heap, statsegSize: statseg, plugins: ['linux_nl_plugin.so', 'linux_cp_unittest_plugin.so'] });
  } catch (err) {
    return `VPP with linux_nl did not start: ${(err as Error).message.slice(0, 300)}`;
  }
  try {
    for (let i = 0; i < 8; i++) vpp.cli('create loopback interface');
    for (let i = 0; i < 4; i++) {
      vpp.cli(`set interface state loop${2 * i} up`);
      vpp.cli(`test lcp add phy loop${2 * i} host loop${2 * i + 1}`);
    }
  } catch (err) {
    await vpp.stop();
    return `cannot make linux-cp pairs with linux_cp_unittest: ${(err as Error).message.slice(0, 300)}`;
  }
  const pairs = vpp
    .cli('show lcp')
    .split('\n')
    .filter((l) => l.startsWith('itf-pair')).length;
  if (pairs < 4) {
    await vpp.stop();
    return `linux_cp_unittest could not make linux-cp pairs (${pairs}); linux_nl programs nothing without one`;
  }
  return vpp;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    (r) => {
      if (r && (r.restartWrites ?? 0) !== 0) process.exitCode = 1;
    },
    (err: Error) => {
      console.error(`vpp-bench failed: ${err.stack ?? err.message}`);
      process.exitCode = 1;
    },
  );
}
