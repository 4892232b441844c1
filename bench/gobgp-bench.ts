/**
 * GoBGP sink throughput vs. a minimal raw AddPathStream injector with pre-built
 * binary paths, each against a fresh gobgpd on loopback.
 *   node dist/bench/run.js --only gobgp [--routes 100000] [--unary 2000] [--batch 1000]
 *   node --import tsx bench/gobgp-bench.ts [--routes 100000] [--unary 2000] [--batch 1000]
 */
import { fileURLToPath } from 'node:url';
import { startGobgpd } from '../test/helpers/gobgpd.js';
import { createGobgpSink } from '../src/sinks/gobgp/gobgp-sink.js';
import { gobgpSinkType } from '../src/sinks/gobgp/index.js';
import { sinkOptions } from '../src/sinks/sink-type.js';
import { encodePlan, encodeWithdraw, parseOwnershipMark, planRoute, type PathPlan } from '../src/sinks/gobgp/gobgp-paths.js';
import type { ApiPathIn } from '../src/sinks/gobgp/gobgp-api.js';
import { addPathStream, type AddPathStreamRequest } from '../test/helpers/gobgp-client-extras.js';
import { silentLogger } from '../src/util/logger.js';
import type { ReflectedRoute } from '../src/engine/reflected-route.js';
import type { SinkChange } from '../src/engine/sink.js';

import { intArg } from './bench-util.js';

export interface GobgpBenchOptions {
  routes: number;
  unary: number;
  batch: number;
}

export function gobgpBenchOptions(argv: string[]): GobgpBenchOptions {
  return { routes: intArg(argv, 'routes', 100_000), unary: intArg(argv, 'unary', 2000), batch: intArg(argv, 'batch', 1000) || 1000 };
}

function routes(n: number): ReflectedRoute[] {
  const out: ReflectedRoute[] = [];
  for (let i = 0; i < n; i++) {
    const a = 11 + Math.floor(i / 65536),
      b = (i >> 8) & 255,
      c = i & 255;
    out.push({
      family: 4,
      prefix: `${a}.${b}.${c}.0/24`,
      table: 254,
      protocol: 12,
      type: 'unicast',
      metric: 0,
      tos: 0,
      nexthops: [{ gateway: `192.0.2.${1 + (i % 4)}`, weight: 1 }],
      bgp: { communities: ['65000:1'] },
    });
  }
  return out;
}

function* messages(paths: ApiPathIn[]): Generator<AddPathStreamRequest> {
  for (let i = 0; i < paths.length; i += 1000) yield { table_type: 'GLOBAL', paths: paths.slice(i, i + 1000) };
}

const rate = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString('en')} routes/s`;

export async function runGobgpBench(o: GobgpBenchOptions): Promise<Record<string, number>> {
  const N = o.routes,
    UNARY = Math.min(o.unary, o.routes);
  const rs = routes(N);
  const out: Record<string, number> = {};
  console.log(`gobgp bench: ${N.toLocaleString('en')} IPv4 routes`);

  // Raw: paths built before the clock starts.
  {
    const g = await startGobgpd();
    try {
      const mark = parseOwnershipMark({ largeCommunity: '4294967294:0:1' });
      const plans = rs.map((r) => planRoute(r, mark) as PathPlan);
      const paths = plans.flatMap(encodePlan);
      let t = performance.now();
      await addPathStream(g.client, messages(paths));
      const rawMs = performance.now() - t;
      console.log(`raw AddPathStream add:       ${rawMs.toFixed(0)} ms  ${rate(N, rawMs)}`);
      out.rawMs = rawMs;
      const withdraws = plans.map((p) => encodeWithdraw(p.prefix, p.hops[0]!.id));
      t = performance.now();
      await addPathStream(g.client, messages(withdraws));
      const wMs = performance.now() - t;
      console.log(`raw stream is_withdraw:      ${wMs.toFixed(0)} ms  ${rate(N, wMs)}`);
      // Unary DeletePath, on a sample (it is far slower).
      const sample = paths.slice(0, UNARY);
      await addPathStream(g.client, messages(sample));
      t = performance.now();
      for (const p of sample) await g.client.deletePath({ table_type: 'GLOBAL', family: p.family, path: p });
      const dMs = performance.now() - t;
      console.log(`unary DeletePath (${UNARY}):    ${dMs.toFixed(0)} ms  ${rate(UNARY, dMs)}`);
    } finally {
      await g.stop();
    }
  }

  // The sink: project + apply in batches, as the engine drives it.
  {
    const g = await startGobgpd();
    const sink = createGobgpSink(
      sinkOptions(gobgpSinkType, { name: 'bench', address: g.grpcAddress, batchSize: o.batch, shutdown: { withdraw: false, graceMs: 0 } }),
      { logger: silentLogger() },
    );
    try {
      await sink.start({ logger: silentLogger(), onResyncNeeded: () => {}, onState: () => {} });
      let t = performance.now();
      let failed = 0;
      for (let i = 0; i < rs.length; i += sink.batchSize) {
        const changes: SinkChange[] = rs.slice(i, i + sink.batchSize).map((r) => {
          const p = sink.project(r) as { key: string; fingerprint: string };
          return { op: 'upsert', key: p.key, fingerprint: p.fingerprint, route: r };
        });
        failed += (await sink.apply(changes)).failed.length;
      }
      const sinkMs = performance.now() - t;
      const rawMs = out.rawMs!;
      out.sinkMs = sinkMs;
      console.log(`sink project+apply add:      ${sinkMs.toFixed(0)} ms  ${rate(N, sinkMs)}  (failed ${failed}; ${(sinkMs / rawMs).toFixed(2)}x raw)`);
      t = performance.now();
      const owned = await sink.readOwned();
      const rMs = performance.now() - t;
      console.log(`sink readOwned:              ${rMs.toFixed(0)} ms  ${rate(owned.size, rMs)}  (${owned.size} keys)`);
      t = performance.now();
      const dels = [...owned].map(([key, fingerprint]) => ({ op: 'delete' as const, key, fingerprint }));
      for (let i = 0; i < dels.length; i += sink.batchSize) failed += (await sink.apply(dels.slice(i, i + sink.batchSize))).failed.length;
      const delMs = performance.now() - t;
      console.log(`sink delete:                 ${delMs.toFixed(0)} ms  ${rate(dels.length, delMs)}  (failed ${failed})`);
    } finally {
      await sink.stop({ withdraw: false });
      await g.stop();
    }
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runGobgpBench(gobgpBenchOptions(process.argv.slice(2))).catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
