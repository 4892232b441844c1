/**
 * Kernel-side benchmark of the native rtnetlink socket, in a throwaway network namespace.
 *
 *   node dist/bench/run.js --only kernel [--routes 1000000] [--bird 1000] [--burst 200000] [--repeat 5]
 *   node --import tsx bench/kernel-bench.ts [same options]
 *
 * Measures: a strict-check dump filtered to proto bird among many static routes (ours vs
 * `ip -n NS route show proto bird`), a full streaming dump, and the CPU our process spends
 * draining a burst of other-protocol route notifications with and without the BPF filter.
 * Needs root and build/Release/rtnl.node.
 */
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createNetns, type Netns } from '../test/helpers/netns.js';
import { NetlinkSocket } from '../src/kernel/netlink-socket.js';
import { buildRouteDumpRequest, netlinkDump } from '../src/kernel/netlink-dump.js';
import { splitMessages } from '../src/kernel/netlink-frame.js';
import { RTM_NEWROUTE, RTNLGRP_IPV4_ROUTE, RT_TABLE_MAIN } from '../src/kernel/netlink-constants.js';
import { intArg } from './bench-util.js';

const PROTO_BIRD = 12;

export interface KernelBenchOptions {
  routes: number;
  bird: number;
  burst: number;
  repeat: number;
}

export function kernelBenchOptions(argv: string[]): KernelBenchOptions {
  const routes = intArg(argv, 'routes', 1_000_000);
  return {
    routes,
    bird: intArg(argv, 'bird', 1_000),
    burst: intArg(argv, 'burst', Math.min(200_000, Math.max(1000, Math.floor(routes / 5)))),
    repeat: Math.max(1, intArg(argv, 'repeat', 5)),
  };
}

// Set by runKernelBench (module-level so the helpers below stay as they were).
let ROUTES = 0,
  BIRD = 0,
  BURST = 0,
  REPEAT = 1;

/** Prefix number i of a /24 space starting at first octet `base` (65536 per octet). */
const p24 = (base: number, i: number): string => `${base + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number): string => `${x.toFixed(1)} ms`;
const mib = (x: number): string => `${(x / 1048576).toFixed(1)} MiB`;

function ipBatch(ns: Netns, lines: string[]): Promise<void> {
  return ns.execBatch(lines);
}

function runIp(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { maxBuffer: 1024 * 1024 * 1024 }, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

async function install(ns: Netns): Promise<number> {
  const t0 = performance.now();
  const chunk = 200_000;
  for (let start = 0; start < ROUTES; start += chunk) {
    const lines: string[] = [];
    for (let i = start; i < Math.min(ROUTES, start + chunk); i++) lines.push(`route add blackhole ${p24(16, i)} proto static`);
    await ipBatch(ns, lines);
  }
  const bird: string[] = [];
  for (let i = 0; i < BIRD; i++) bird.push(`route add blackhole ${p24(100, i)} proto bird`);
  await ipBatch(ns, bird);
  return performance.now() - t0;
}

async function benchDump(ns: Netns): Promise<Record<string, number>> {
  const sock = NetlinkSocket.open({ netns: ns.name, strictCheck: true });
  try {
    const times: number[] = [];
    const heap: number[] = [];
    let count = 0;
    for (let r = 0; r < REPEAT; r++) {
      globalThis.gc?.();
      const h0 = process.memoryUsage().heapUsed;
      const t0 = performance.now();
      const msgs = await netlinkDump(sock, buildRouteDumpRequest({ family: 4, protocol: PROTO_BIRD, table: RT_TABLE_MAIN, seq: 1 }));
      times.push(performance.now() - t0);
      heap.push(process.memoryUsage().heapUsed - h0);
      count = msgs.length;
    }
    if (count !== BIRD) throw new Error(`filtered dump returned ${count} routes, expected ${BIRD}`);

    const ipTimes: number[] = [];
    let ipCount = 0;
    for (let r = 0; r < REPEAT; r++) {
      const t0 = performance.now();
      const out = await runIp(['-n', ns.name, 'route', 'show', 'proto', 'bird']);
      ipTimes.push(performance.now() - t0);
      ipCount = out.split('\n').filter(Boolean).length;
    }
    if (ipCount !== BIRD) throw new Error(`ip route show proto bird listed ${ipCount} routes, expected ${BIRD}`);

    // Whole table, streamed: what a resync of a full Internet table costs at the socket level.
    let streamed = 0;
    const rss0 = process.memoryUsage().rss;
    let rssPeak = rss0;
    const t0 = performance.now();
    await netlinkDump(sock, buildRouteDumpRequest({ family: 4, table: RT_TABLE_MAIN, seq: 1 }), {
      onMessages: (msgs) => {
        streamed += msgs.length;
        if ((streamed & 0x3fff) < msgs.length) rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      },
    });
    const streamMs = performance.now() - t0;
    return {
      oursMs: median(times),
      oursHeap: median(heap),
      ipMs: median(ipTimes),
      streamed,
      streamMs,
      streamRssGrowth: rssPeak - rss0,
    };
  } finally {
    sock.close();
  }
}

/** Adds BURST static routes (then one bird sentinel) while a subscribed socket drains; returns our CPU time. */
async function benchBurst(ns: Netns, base: number, filter: boolean): Promise<Record<string, number>> {
  const sock = NetlinkSocket.open({ netns: ns.name, groups: [RTNLGRP_IPV4_ROUTE], protocolFilter: filter ? [PROTO_BIRD] : null });
  const sentinel = p24(200, base);
  const lines: string[] = [];
  for (let i = 0; i < BURST; i++) lines.push(`route add blackhole ${p24(base, i)} proto static`);
  lines.push(`route add blackhole ${sentinel} proto bird`);
  let messages = 0;
  let callbacks = 0;
  let overruns = 0;
  try {
    const done = new Promise<void>((resolve) => {
      sock.on('overrun', () => {
        overruns++;
      });
      sock.on('data', (batch: Buffer) => {
        callbacks++;
        for (const m of splitMessages(batch)) {
          messages++;
          // What a consumer does first with each message: look at type and protocol.
          if (m.type === RTM_NEWROUTE && m.payload[5] === PROTO_BIRD && m.payload[4] === RT_TABLE_MAIN) resolve();
        }
      });
    });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all([ipBatch(ns, lines), done]);
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { cpuMs: (cpu.user + cpu.system) / 1000, wallMs: wall, messages, callbacks, overruns };
  } finally {
    sock.close();
  }
}

export async function runKernelBench(o: KernelBenchOptions): Promise<void> {
  ({ routes: ROUTES, bird: BIRD, burst: BURST, repeat: REPEAT } = o);
  console.log(`kernel-bench: ${ROUTES} static + ${BIRD} bird routes, burst ${BURST}, repeat ${REPEAT}`);
  const ns = await createNetns('bench');
  const stop = (): void => {
    void ns.destroy().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const offSignals = (): void => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  };
  try {
    const installMs = await install(ns);
    console.log(`install (ip -batch):            ${ms(installMs)}  (${Math.round((ROUTES + BIRD) / (installMs / 1000))} routes/s)`);

    const d = await benchDump(ns);
    console.log(`filtered dump, ours (proto bird, strict check): ${ms(d.oursMs!)}  heap +${mib(d.oursHeap!)}  (${BIRD} routes)`);
    console.log(`filtered dump, ip route show proto bird:        ${ms(d.ipMs!)}`);
    console.log(`  ratio ours/ip:                                ${(d.oursMs! / d.ipMs!).toFixed(2)}`);
    console.log(
      `full table, streaming dump:     ${ms(d.streamMs!)}  ${d.streamed} routes  ${Math.round(d.streamed! / (d.streamMs! / 1000))} routes/s  rss +${mib(d.streamRssGrowth!)}`,
    );

    const nofilter = await benchBurst(ns, 120, false);
    const withfilter = await benchBurst(ns, 140, true);
    const line = (name: string, r: Record<string, number>): string =>
      `${name} cpu ${ms(r.cpuMs!)}  wall ${ms(r.wallMs!)}  messages ${r.messages}  callbacks ${r.callbacks}  overruns ${r.overruns}`;
    console.log(`event burst of ${BURST} static route adds (our process's CPU):`);
    console.log(line('  without BPF filter:', nofilter));
    console.log(line('  with BPF filter:   ', withfilter));
    console.log(
      `  CPU ratio filtered/unfiltered: ${(withfilter.cpuMs! / nofilter.cpuMs!).toFixed(3)}  ` +
        `(unfiltered drain ${Math.round(nofilter.messages! / (nofilter.cpuMs! / 1000))} msgs per CPU-second)`,
    );
    console.log(JSON.stringify({ routes: ROUTES, bird: BIRD, burst: BURST, installMs, dump: d, burstNoFilter: nofilter, burstFilter: withfilter }));
  } finally {
    offSignals();
    await ns.destroy();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runKernelBench(kernelBenchOptions(process.argv.slice(2))).catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
