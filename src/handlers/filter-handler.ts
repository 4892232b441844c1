/** `filter`: permit only routes of the listed protocols, tables, families and route types; drop the rest. */
import { z } from 'zod';
import { families, obj, protocolRef, tableRef } from '../config/schema-helpers.js';
import type { NameResolver } from '../config/name-resolver.js';
import type { BuiltinHandler } from './builtin-handler.js';
import type { ReflectedRoute, RouteHandler, RouteType } from './api.js';
import type { Family } from '../util/ip.js';

export interface FilterOptions {
  protocols?: number[];
  tables?: number[];
  families?: Family[];
  types?: RouteType[];
}

export const filterHandler: BuiltinHandler<FilterOptions> = {
  type: 'filter',
  optionsSchema: (names: NameResolver) =>
    obj({
      protocols: z.array(protocolRef(names)).min(1).optional(),
      tables: z.array(tableRef(names)).min(1).optional(),
      families: families().optional(),
      types: z
        .array(z.enum(['unicast', 'blackhole', 'unreachable', 'prohibit']))
        .min(1)
        .optional(),
    }),
  create(options, _ctx, name): RouteHandler {
    const protocols = options.protocols && new Set(options.protocols);
    const tables = options.tables && new Set(options.tables);
    const fams = options.families && new Set(options.families);
    const types = options.types && new Set(options.types);
    let passed = 0,
      dropped = 0;
    return {
      name,
      process(route: ReflectedRoute) {
        if (
          (protocols && !protocols.has(route.protocol)) ||
          (tables && !tables.has(route.table)) ||
          (fams && !fams.has(route.family)) ||
          (types && !types.has(route.type))
        ) {
          dropped++;
          return null;
        }
        passed++;
        return route;
      },
      status: () => ({ ...options, passed, dropped }),
    };
  },
};
