/**
 * `next-hop`: sets the next hop BGP sinks announce (route.bgp.nextHop), for
 * routes of `families`; with `rewriteGateway` also replaces the route's own
 * next hops by that address (what VPP installs), for unicast routes.
 */
import { z } from 'zod';
import { addressOrSelf, families, familyOf, obj } from '../config/schema-helpers.js';
import type { BuiltinHandler } from './builtin-handler.js';
import { copyBgp, withBgp } from './route-copy.js';
import type { ReflectedRoute, RouteHandler } from './api.js';
import type { Family } from '../util/ip.js';

export interface NextHopOptions {
  /** An address, or "self": the BGP speaker's own address. */
  address: string;
  /** Route families this applies to; defaults to the address's family ([4, 6] for "self"). */
  families: Family[];
  rewriteGateway: boolean;
}

export const nextHopHandler: BuiltinHandler<NextHopOptions> = {
  type: 'next-hop',
  optionsSchema: () =>
    obj({
      address: addressOrSelf(),
      families: families().optional(),
      rewriteGateway: z.boolean().default(false),
    }).transform((o, ctx): NextHopOptions => {
      const own = o.address === 'self' ? undefined : familyOf(o.address);
      if (own !== undefined && o.families && o.families.some((f) => f !== own)) {
        ctx.addIssue({
          code: 'custom',
          path: ['families'],
          message: `address ${o.address} is IPv${own}, so it can only be the next hop of IPv${own} routes; set families: [${own}] and add a second next-hop handler with an IPv${own === 4 ? 6 : 4} address for the other family`,
        });
      }
      if (o.address === 'self' && o.rewriteGateway) {
        ctx.addIssue({
          code: 'custom',
          path: ['rewriteGateway'],
          message: 'rewriteGateway needs a real gateway address; "self" only means something to BGP. Give an address, or set rewriteGateway: false',
        });
      }
      return { address: o.address, families: o.families ?? (own ? [own] : [4, 6]), rewriteGateway: o.rewriteGateway };
    }),
  create(options, _ctx, name): RouteHandler {
    const fams = new Set(options.families);
    const { address, rewriteGateway } = options;
    const gateway = [{ gateway: address, weight: 1 }];
    let rewritten = 0;
    return {
      name,
      process(route: ReflectedRoute) {
        if (!fams.has(route.family)) return route;
        rewritten++;
        const bgp = copyBgp(route);
        bgp.nextHop = address;
        const out = withBgp(route, bgp);
        if (rewriteGateway && route.type === 'unicast') {
          out.nexthops = gateway.map((n) => ({ ...n }));
          delete out.nhid; // the kernel nexthop object no longer describes this route
        }
        return out;
      },
      status: () => ({ ...options, rewritten }),
    };
  },
};
