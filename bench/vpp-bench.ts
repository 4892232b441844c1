/**
 * VPP sink throughput against a real VPP (in a namespace of its own).
 *   node --import tsx bench/vpp-bench.ts [--routes 100000] [--parallel 1] [--paths 1] [--batch 512]
 * Prints: cold apply rate, time until VPP holds every route, readOwned time,
 * and the number of writes a restarted sink would need with unchanged state (expected 0).
 */
import { parseArgs } from 'node:util';
import type { ReflectedRoute } from '../src/engine/reflected-route.js';
import type { Sink, SinkChange } from '../src/engine/sink.js';
import { loadApiDefs } from '../src/sinks/vpp/vpp-api-defs.js';
import { createVppSink } from '../src/sinks/vpp/vpp-sink.js';
import { silentLogger } from '../src/util/logger.js';
import { findVppBinary, NO_VPP_MESSAGE, startLiveVpp } from '../test/helpers/vpp.js';

const { values } = parseArgs({
  options: {
    routes: { type: 'string', default: '100000' },
    parallel: { type: 'string', default: '1' },
    paths: { type: 'string', default: '1' },
    batch: { type: 'string' },
  },
});
const N = Math.min(1_200_000, Number(values.routes));
const PARALLEL = Math.max(1, Number(values.parallel));
const PATHS = Math.max(1, Math.min(4, Number(values.paths)));

function routeAt(i: number): ReflectedRoute {
  // /24s from 1.0.0.0 upwards: 16M of them, more than any table.
  const a = 0x01000000 + i * 256;
  const prefix = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.0/24`;
  const nexthops = Array.from({ length: PATHS }, (_, k) => ({ gateway: `10.99.0.${k + 1}`, weight: 1 }));
  return { family: 4, prefix, table: 254, protocol: 12, type: 'unicast', metric: 0, tos: 0, nexthops };
}

const hooks = { logger: silentLogger(), onResyncNeeded() {}, onState() {} };

async function pushAll(sink: Sink, changes: SinkChange[]): Promise<number> {
  let failed = 0, next = 0;
  const worker = async () => {
    while (next < changes.length) {
      const batch = changes.slice(next, next + sink.batchSize);
      next += batch.length;
      failed += (await sink.apply(batch)).failed.length;
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  return failed;
}

async function main(): Promise<void> {
  const bin = findVppBinary();
  if (!bin) {
    console.log(NO_VPP_MESSAGE);
    return;
  }
  const vpp = await startLiveVpp(bin, 'bench', { mainHeap: N > 300_000 ? '4G' : '1G' });
  try {
    const defs = loadApiDefs(vpp.apiDir);
    const opts = { socket: vpp.apiSock, apiDir: vpp.apiDir, ...(values.batch ? { batchSize: Number(values.batch) } : {}) };
    const sink = createVppSink(opts, { defs });
    await sink.start(hooks);

    let t = performance.now();
    const routes = Array.from({ length: N }, (_, i) => routeAt(i));
    const changes: SinkChange[] = routes.map((r) => {
      const p = sink.project(r);
      if (!('key' in p)) throw new Error(p.skip);
      return { op: 'upsert', key: p.key, fingerprint: p.fingerprint, route: r };
    });
    const projectMs = performance.now() - t;

    t = performance.now();
    const failed = await pushAll(sink, changes);
    const applyMs = performance.now() - t;
    // Every apply resolved after VPP's reply: VPP holds them now. Count them to be sure.
    t = performance.now();
    const owned = await sink.readOwned();
    const readMs = performance.now() - t;
    await sink.stop({ withdraw: false });

    const again = createVppSink(opts, { defs });
    await again.start(hooks);
    t = performance.now();
    const owned2 = await again.readOwned();
    let writes = 0;
    for (const r of routes) {
      const p = again.project(r);
      if ('key' in p && owned2.get(p.key) !== p.fingerprint) writes++;
    }
    const resyncMs = performance.now() - t;
    await again.stop({ withdraw: false });

    const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
    console.log(`VPP sink bench: ${fmt(N)} IPv4 routes, ${PATHS} path(s) each, ${PARALLEL} apply call(s) in parallel, batch ${sink.batchSize}, window 512`);
    console.log(`  project():               ${fmt(projectMs)} ms (${fmt(N / (projectMs / 1000))} routes/s)`);
    console.log(`  cold apply:              ${fmt(applyMs)} ms (${fmt(N / (applyMs / 1000))} routes/s), ${failed} failed`);
    console.log(`  VPP holds (readOwned):   ${fmt(owned.size)} routes, dump took ${fmt(readMs)} ms`);
    console.log(`  restart, unchanged:      ${writes} writes needed; readOwned + compare took ${fmt(resyncMs)} ms`);
    console.log(`  RSS: ${fmt(process.memoryUsage().rss / 1048576)} MiB`);
    if (owned.size !== N || writes !== 0 || failed !== 0) process.exitCode = 1;
  } finally {
    await vpp.stop();
  }
}

await main();
