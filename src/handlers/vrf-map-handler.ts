/** `vrf-map`: puts routes of a kernel table into a named VRF (sinks map VRF names to their own tables/VRFs). */
import { z } from 'zod';
import { identifier, obj, tableKeyedRecord } from '../config/schema-helpers.js';
import type { NameResolver } from '../config/name-resolver.js';
import type { BuiltinHandler } from './builtin-handler.js';
import type { ReflectedRoute, RouteHandler } from './api.js';

export interface VrfMapOptions {
  /** Kernel table number → VRF name. */
  tables: Record<number, string>;
  /** Drop routes of tables not listed (default: pass them on without a VRF). */
  dropUnmapped: boolean;
}

export const vrfMapHandler: BuiltinHandler<VrfMapOptions> = {
  type: 'vrf-map',
  optionsSchema: (names: NameResolver) =>
    obj({
      tables: tableKeyedRecord(names, identifier()).refine((r) => Object.keys(r).length > 0, 'must map at least one table to a VRF'),
      dropUnmapped: z.boolean().default(false),
    }),
  create(options, _ctx, name): RouteHandler {
    const map = new Map<number, string>(Object.entries(options.tables).map(([t, v]) => [Number(t), v]));
    return {
      name,
      process(route: ReflectedRoute) {
        const vrf = map.get(route.table);
        if (vrf === undefined) return options.dropUnmapped ? null : route;
        if (route.vrf === vrf) return route;
        const out = Object.assign({}, route); // not { ...route, vrf }: see route-copy.ts
        out.vrf = vrf;
        return out;
      },
      status: () => ({ tables: options.tables, dropUnmapped: options.dropUnmapped }),
    };
  },
};
