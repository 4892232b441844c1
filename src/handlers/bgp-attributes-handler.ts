/**
 * `bgp-attributes`: sets MED, local preference and adds communities, for all
 * routes or only those matching `match`. Communities are added to those a
 * previous handler set (deduplicated); MED/local-pref replace.
 */
import { z } from 'zod';
import { families, obj, tableRef, u32 } from '../config/schema-helpers.js';
import { communitySchema, largeCommunitySchema } from '../config/bgp-formats.js';
import { PrefixMatcher, prefixListEntrySchema, type PrefixListEntry } from './prefix-matcher.js';
import type { NameResolver } from '../config/name-resolver.js';
import type { BuiltinHandler } from './builtin-handler.js';
import { copyBgp, withBgp } from './route-copy.js';
import type { BgpAttributes, ReflectedRoute, RouteHandler } from './api.js';
import type { Family } from '../util/ip.js';

export interface BgpAttributesOptions {
  medFromMetric: boolean;
  med?: number;
  localPref?: number;
  communities: string[];
  largeCommunities: string[];
  /** Only routes matching all the given criteria get the attributes; others pass unchanged. */
  match?: { prefixes?: PrefixListEntry[]; tables?: number[]; families?: Family[] };
}

export const bgpAttributesHandler: BuiltinHandler<BgpAttributesOptions> = {
  type: 'bgp-attributes',
  optionsSchema: (names: NameResolver) =>
    obj({
      medFromMetric: z.boolean().default(false),
      med: u32().optional(),
      localPref: u32().optional(),
      communities: z.array(communitySchema()).default([]),
      largeCommunities: z.array(largeCommunitySchema()).default([]),
      match: obj({
        prefixes: z.array(prefixListEntrySchema('permit')).min(1).optional(),
        tables: z.array(tableRef(names)).min(1).optional(),
        families: families().optional(),
      }).optional(),
    }).superRefine((o, ctx) => {
      if (o.medFromMetric && o.med !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['med'], message: 'med and medFromMetric: true both set the MED; keep one' });
      }
      if (!o.medFromMetric && o.med === undefined && o.localPref === undefined && !o.communities.length && !o.largeCommunities.length) {
        ctx.addIssue({ code: 'custom', message: 'sets nothing: give at least one of medFromMetric, med, localPref, communities, largeCommunities' });
      }
    }),
  create(options, _ctx, name): RouteHandler {
    const m = options.match;
    const prefixes = m?.prefixes && new PrefixMatcher(m.prefixes);
    const tables = m?.tables && new Set(m.tables);
    const fams = m?.families && new Set(m.families);
    let changed = 0;
    return {
      name,
      process(route: ReflectedRoute) {
        if ((tables && !tables.has(route.table)) || (fams && !fams.has(route.family)) || (prefixes && prefixes.match(route.prefix, route.family) !== 'permit'))
          return route;
        const bgp: BgpAttributes = copyBgp(route);
        if (options.medFromMetric) bgp.med = route.metric;
        if (options.med !== undefined) bgp.med = options.med;
        if (options.localPref !== undefined) bgp.localPref = options.localPref;
        if (options.communities.length) bgp.communities = merge(bgp.communities, options.communities);
        if (options.largeCommunities.length) bgp.largeCommunities = merge(bgp.largeCommunities, options.largeCommunities);
        changed++;
        return withBgp(route, bgp);
      },
      status: () => ({ changed }),
    };
  },
};

function merge(have: string[] | undefined, add: string[]): string[] {
  if (!have?.length) return add.slice();
  const out = have.slice();
  for (const c of add) if (!out.includes(c)) out.push(c);
  return out;
}
