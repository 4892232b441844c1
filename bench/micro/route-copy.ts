/**
 * How a handler copies a route to set its BGP attributes (src/handlers/route-copy.ts):
 * withBgp (Object.assign into a fresh object, then the key added) against the spread
 * `{ ...route, bgp }` that withBgp avoids, and copyBgp. Per route, over routes shaped as
 * the kernel state makes them; the copies are kept (the engine keeps a handler's output).
 *
 *   node dist/bench/micro/route-copy.js [--routes N]
 */
import { copyBgp, withBgp } from '../../src/handlers/route-copy.js';
import type { BgpAttributes, ReflectedRoute } from '../../src/engine/reflected-route.js';
import type { NextHop, Route } from '../../src/kernel/route.js';
import { bytesToPrefix } from '../../src/util/ip.js';
import { intArg } from '../bench-util.js';
import { measureAll, microOptions, runIfMain, type MicroBench, type MicroCase } from './micro-harness.js';

/** Routes with the fields, in the order, the kernel state gives them (KernelState.toRoute). */
function kernelRoutes(n: number): Route[] {
  const nexthops = Object.freeze([Object.freeze({ gateway: '10.0.0.1', ifindex: 2, weight: 1 })]) as NextHop[];
  const addr = new Uint8Array(4);
  return Array.from({ length: n }, (_, i) => {
    addr[0] = 1 + (i >> 16);
    addr[1] = (i >> 8) & 255;
    addr[2] = i & 255;
    const r: Route = { family: 4, prefix: bytesToPrefix(addr, 0, 4, 24), table: 254, protocol: 12, type: 'unicast', metric: 0, tos: 0, nexthops };
    return r;
  });
}

export const routeCopy: MicroBench = {
  name: 'route-copy',
  usage: '[--routes N (default 200000)]',
  async run(argv) {
    const n = intArg(argv, 'routes', 200_000);
    const routes = kernelRoutes(n);
    const bgp: BgpAttributes = { localPref: 200, communities: ['65000:100'] };
    const withAttrs = routes.map((r) => withBgp(r, bgp));
    // Each copy is kept and read once: it is used, and the check costs every case the same.
    const kept: unknown[] = new Array(n);
    const cases: MicroCase<null>[] = [
      {
        name: 'withBgp (Object.assign)',
        ops: n,
        prepare: () => null,
        expect: n,
        run: () => {
          let ok = 0;
          for (let i = 0; i < n; i++) {
            const c = withBgp(routes[i]!, bgp);
            kept[i] = c;
            if (c.bgp === bgp) ok++;
          }
          return ok;
        },
      },
      {
        name: '{ ...route, bgp } (spread)',
        ops: n,
        prepare: () => null,
        expect: n,
        run: () => {
          let ok = 0;
          for (let i = 0; i < n; i++) {
            const c: ReflectedRoute = { ...routes[i]!, bgp };
            kept[i] = c;
            if (c.bgp === bgp) ok++;
          }
          return ok;
        },
      },
      {
        name: 'copyBgp',
        ops: n,
        prepare: () => null,
        expect: n,
        run: () => {
          let ok = 0;
          for (let i = 0; i < n; i++) {
            const c = copyBgp(withAttrs[i]!);
            kept[i] = c;
            if (c.localPref === 200) ok++;
          }
          return ok;
        },
      },
    ];
    return measureAll('route-copy', cases, microOptions(argv));
  },
};

runIfMain(import.meta.url, routeCopy);
