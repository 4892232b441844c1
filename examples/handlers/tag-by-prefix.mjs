// An example rtreflect handler (handler API version 1). Copy it, change it,
// and name the file in the config; plain JavaScript (.mjs), so it runs as is,
// without a build step:
//
//   handlers:
//     - module: ./handlers/tag-by-prefix.mjs   # relative to the config file's directory
//       name: tag-customers
//       options:
//         table: 100                   # kernel table number
//         community: "65000:100"       # added to every route of that table
//         dropHostRoutesIn: [10.0.0.0/8, "2001:db8::/32"]  # /32 and /128 routes inside these are dropped
//
// TypeScript authors get the types from the package:
//   import type { HandlerModule, RouteHandler, ReflectedRoute } from 'rtreflect';
// (and the JSDoc annotations below give editors the same checks for this file).

import { BlockList, isIP } from 'node:net';

/** The API version this module was written against; rtreflect refuses a mismatch. */
export const apiVersion = 1;

/**
 * Called once per (re)load of the config. No side effects here (no timers,
 * sockets, files): start() is where those go. Throw on bad options; the
 * message reaches the operator with this handler's name and config path.
 *
 * @param {{ table?: unknown, community?: unknown, dropHostRoutesIn?: unknown }} options
 * @param {import('rtreflect').HandlerContext} context
 * @returns {import('rtreflect').RouteHandler}
 */
export function create(options, context) {
  const table = options.table ?? 254;
  if (!Number.isInteger(table) || table < 0 || table > 0xffffffff) {
    throw new Error(`options.table: expected a kernel table number (e.g. 254 for main), got ${JSON.stringify(table)}`);
  }
  const community = options.community;
  if (typeof community !== 'string' || !/^\d{1,5}:\d{1,5}$/.test(community) || community.split(':').some((p) => Number(p) > 65535)) {
    throw new Error(`options.community: expected "asn:value" with each part 0..65535, got ${JSON.stringify(community)}`);
  }
  const ranges = options.dropHostRoutesIn ?? [];
  if (!Array.isArray(ranges)) throw new Error('options.dropHostRoutesIn: expected a list of prefixes');
  const drop = new BlockList();
  for (const [i, r] of ranges.entries()) {
    const [addr, len] = String(r).split('/');
    const fam = isIP(addr ?? '');
    const bits = Number(len);
    if (!fam || !Number.isInteger(bits) || bits < 0 || bits > (fam === 4 ? 32 : 128)) {
      throw new Error(`options.dropHostRoutesIn[${i}]: "${r}" is not a prefix like 10.0.0.0/8`);
    }
    drop.addSubnet(addr, bits, fam === 4 ? 'ipv4' : 'ipv6');
  }

  let tagged = 0, dropped = 0;
  return {
    name: 'tag-by-prefix',

    /**
     * Runs for every route, synchronously: keep it fast. Return the route
     * (a copy when changed: never modify the input), null to drop it, or an
     * array to fan it out.
     * @param {import('rtreflect').ReflectedRoute} route
     */
    process(route) {
      const slash = route.prefix.indexOf('/');
      const len = Number(route.prefix.slice(slash + 1));
      if (len === (route.family === 4 ? 32 : 128) && drop.check(route.prefix.slice(0, slash), route.family === 4 ? 'ipv4' : 'ipv6')) {
        dropped++;
        return null;
      }
      if (route.table !== table) return route;
      const have = route.bgp?.communities ?? [];
      if (have.includes(community)) return route;
      tagged++;
      // Copy, never modify the input. (Object.assign rather than { ...route, bgp }:
      // V8 is several times faster at it, which counts on a full table.)
      const out = Object.assign({}, route);
      out.bgp = Object.assign({}, route.bgp, { communities: [...have, community] });
      return out;
    },

    /** Shown by `rtreflect status`. */
    status() {
      return { table, community, tagged, dropped };
    },

    close() {
      context.logger.debug({ tagged, dropped }, 'tag-by-prefix closing');
    },
  };
}
