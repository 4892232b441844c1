// An example rtreflect handler (handler API version 1). Copy it, change it,
// and name the file in the config; plain JavaScript (.mjs), so it runs as is,
// without a build step:
//
//   handlers:
//     - module: ./handlers/tag-by-prefix.mjs   # relative to the config file's directory
//       name: tag-customers                    # default: the file name (tag-by-prefix)
//       options:
//         table: 100                   # kernel table number
//         community: "65000:100"       # added to every route of that table
//         dropHostRoutesIn: [10.0.0.0/8, "2001:db8::/32"]  # /32 and /128 routes inside these are dropped
//
// `from 'rtreflect'` is the rtreflect that loads this file: nothing to install.
// The JSDoc types give editors the same checks as TypeScript.

import { z, optionsObject, communitySchema, prefixSchema, PrefixMatcher, copyBgp, withBgp } from 'rtreflect';

/** The API version this module was written against; rtreflect refuses a mismatch. */
export const apiVersion = 1;

/**
 * Checked (and defaults filled in) before create(); an error reaches the
 * operator with its config path, e.g. `handlers[3].options.community: ...`.
 */
export const optionsSchema = optionsObject({
  table: z.number().int().min(0).max(0xffffffff).default(254),
  community: communitySchema(),
  dropHostRoutesIn: z.array(prefixSchema()).default([]),
});

/**
 * Called once per (re)load of the config. No side effects here (no timers,
 * sockets, files): start() is where those go.
 *
 * @param {{ table: number, community: string, dropHostRoutesIn: string[] }} options
 * @param {import('rtreflect').HandlerContext} context
 * @returns {import('rtreflect').RouteHandler}
 */
export function create(options, context) {
  const { table, community } = options;
  // Host routes inside a range: prefix-list entries whose ge and le are the host length.
  const hostRoutes = new PrefixMatcher(
    options.dropHostRoutesIn.map((prefix) => {
      const host = prefix.includes(':') ? 128 : 32;
      return { action: 'permit', prefix, ge: host, le: host };
    }),
  );

  let tagged = 0,
    dropped = 0;
  return {
    /**
     * Runs for every route, synchronously: keep it fast. Return the route
     * (a copy when changed: never modify the input), null to drop it, or an
     * array to fan it out.
     * @param {import('rtreflect').ReflectedRoute} route
     */
    process(route) {
      if (hostRoutes.match(route.prefix, route.family) === 'permit') {
        dropped++;
        return null;
      }
      if (route.table !== table) return route;
      const bgp = copyBgp(route);
      if (bgp.communities?.includes(community)) return route;
      bgp.communities = [...(bgp.communities ?? []), community];
      tagged++;
      return withBgp(route, bgp);
    },

    /** Shown by `rtreflect status`. */
    status: () => ({ table, community, tagged, dropped }),

    close() {
      context.logger.debug({ tagged, dropped }, 'tag-by-prefix closing');
    },
  };
}
