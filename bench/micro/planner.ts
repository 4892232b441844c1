/**
 * The GoBGP sink's per-route work: PathPlanner.plan (what project() gives the engine)
 * and PathPlanner.write into AddPathRequests (what apply() encodes), for a table of
 * routes sharing a few next-hop sets, as the kernel state hands them over (one frozen
 * array per set). Written as the sink does: a fresh AddPathRequests per batch of 1,000
 * routes, 1,000 paths per request.
 *
 *   node dist/bench/micro/planner.js [--routes N]
 *
 * Cases: IPv4 one path and 4-way ECMP (the shared-template path), IPv6 one path (a shared
 * plan, MP_REACH_NLRI encoded per path), and IPv4 with BGP attributes set by a handler,
 * which takes the general planRoute path: what the shared plan saves.
 */
import { loadGobgpApi } from '../../src/sinks/gobgp/gobgp-api.js';
import { parseOwnershipMark } from '../../src/sinks/gobgp/gobgp-paths.js';
import { PathPlanner, SharedPlan, type PlannedRoute } from '../../src/sinks/gobgp/path-planner.js';
import { AddPathRequests } from '../../src/sinks/gobgp/add-path-requests.js';
import { PATHS_PER_MESSAGE } from '../../src/sinks/gobgp/gobgp-options.js';
import type { ReflectedRoute } from '../../src/engine/reflected-route.js';
import type { NextHop } from '../../src/kernel/route.js';
import { bytesToPrefix } from '../../src/util/ip.js';
import { intArg } from '../bench-util.js';
import { measureAll, microOptions, runIfMain, type MicroBench, type MicroCase } from './micro-harness.js';

/** Routes per apply() batch: the sink's default batchSize. */
const BATCH = 1000;

/** Next-hop sets as the kernel state interns them: frozen, shared by every route holding them. */
function hopSets(gateways: string[][]): readonly NextHop[][] {
  return gateways.map((gws) => Object.freeze(gws.map((gateway) => Object.freeze({ gateway, ifindex: 2, weight: 1 }))) as NextHop[]);
}

function v4Routes(n: number, sets: readonly NextHop[][], extra: Partial<ReflectedRoute> = {}): ReflectedRoute[] {
  const addr = new Uint8Array(4);
  return Array.from({ length: n }, (_, i) => {
    addr[0] = 1 + (i >> 16);
    addr[1] = (i >> 8) & 255;
    addr[2] = i & 255;
    return {
      family: 4,
      prefix: bytesToPrefix(addr, 0, 4, 24),
      table: 254,
      protocol: 12,
      type: 'unicast',
      metric: 0,
      tos: 0,
      nexthops: sets[i % sets.length]!,
      ...extra,
    };
  });
}

function v6Routes(n: number, sets: readonly NextHop[][]): ReflectedRoute[] {
  const addr = new Uint8Array(16);
  addr[0] = 0x20;
  addr[1] = 0x01;
  addr[2] = 0x0d;
  addr[3] = 0xb8;
  return Array.from({ length: n }, (_, i) => {
    addr[4] = (i >> 16) & 255;
    addr[5] = (i >> 8) & 255;
    addr[6] = i & 255;
    return {
      family: 6,
      prefix: bytesToPrefix(addr, 0, 16, 56),
      table: 254,
      protocol: 12,
      type: 'unicast',
      metric: 1024,
      tos: 0,
      nexthops: sets[i % sets.length]!,
    };
  });
}

export const planner: MicroBench = {
  name: 'planner',
  usage: '[--routes N (default 50000)]',
  async run(argv) {
    const n = intArg(argv, 'routes', 50_000);
    const api = loadGobgpApi();
    const pathPlanner = new PathPlanner(parseOwnershipMark({ largeCommunity: '4294967294:0:1' }), api.encoder);

    /** Plans and writes every route, batch by batch; returns the bytes of all requests. */
    const planAndWrite = (routes: ReflectedRoute[]): number => {
      let bytes = 0;
      for (let b = 0; b < routes.length; b += BATCH) {
        const out = new AddPathRequests(api.encoder, PATHS_PER_MESSAGE);
        const end = Math.min(routes.length, b + BATCH);
        for (let i = b; i < end; i++) {
          const p = pathPlanner.plan(routes[i]!) as PlannedRoute;
          out.begin(PathPlanner.vrfOf(p));
          pathPlanner.write(out, p);
        }
        for (const req of out.take()) bytes += req.length;
      }
      return bytes;
    };

    const one4 = hopSets([['192.0.2.1'], ['192.0.2.2'], ['192.0.2.3'], ['192.0.2.4']]);
    const ecmp4 = hopSets([
      ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4'],
      ['192.0.2.5', '192.0.2.6', '192.0.2.7', '192.0.2.8'],
    ]);
    const one6 = hopSets([['2001:db8:ffff::1'], ['2001:db8:ffff::2']]);
    const attributed = { bgp: { localPref: 200, communities: ['65000:100'] } };
    const sets: [string, ReflectedRoute[], boolean][] = [
      ['IPv4, 1 path', v4Routes(n, one4), true],
      ['IPv4, 4-way ECMP', v4Routes(n, ecmp4), true],
      ['IPv6, 1 path', v6Routes(n, one6), true],
      ['IPv4, 1 path, BGP attributes', v4Routes(n, one4, attributed), false],
    ];
    const cases: MicroCase<ReflectedRoute[]>[] = sets.map(([name, routes, shared]) => {
      // The case measures the path it names: the shared plan, or the general one.
      const work = (pathPlanner.plan(routes[0]!) as PlannedRoute).work;
      if ((work instanceof SharedPlan || 'shared' in work) !== shared)
        throw new Error(`planner / ${name}: the planner did not take the ${shared ? 'shared' : 'general'} plan`);
      return { name, ops: n, prepare: () => routes, run: planAndWrite, expect: planAndWrite(routes) };
    });
    return measureAll('planner', cases, microOptions(argv));
  },
};

runIfMain(import.meta.url, planner);
