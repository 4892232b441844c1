/** `prefix-list`: ordered permit/deny entries (Cisco/FRR semantics); routes no entry matches get `default`. */
import { z } from 'zod';
import { obj } from '../config/schema-helpers.js';
import { PrefixMatcher, prefixListEntrySchema, type PrefixAction, type PrefixListEntry } from './prefix-matcher.js';
import type { BuiltinHandler } from './builtin-handler.js';
import type { ReflectedRoute, RouteHandler } from './api.js';

export interface PrefixListOptions {
  entries: PrefixListEntry[];
  default: PrefixAction;
}

export const prefixListHandler: BuiltinHandler<PrefixListOptions> = {
  type: 'prefix-list',
  optionsSchema: () =>
    obj({
      entries: z.array(prefixListEntrySchema()).min(1),
      default: z.enum(['permit', 'deny']).default('deny'),
    }),
  create(options, _ctx, name): RouteHandler {
    const matcher = new PrefixMatcher(options.entries);
    const deflt = options.default;
    let permitted = 0,
      denied = 0;
    return {
      name,
      process(route: ReflectedRoute) {
        if ((matcher.match(route.prefix, route.family) ?? deflt) === 'permit') {
          permitted++;
          return route;
        }
        denied++;
        return null;
      },
      status: () => ({ entries: options.entries.length, default: deflt, permitted, denied }),
    };
  },
};
