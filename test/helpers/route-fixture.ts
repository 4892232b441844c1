import type { ReflectedRoute } from '../../src/engine/reflected-route.js';

/** A bird route in the main table with one path per gateway (weight 1); `extra` overrides any field. */
export function route(prefix: string, gateways: string[], extra: Partial<ReflectedRoute> = {}): ReflectedRoute {
  return {
    family: prefix.includes(':') ? 6 : 4,
    prefix,
    table: 254,
    protocol: 12,
    type: 'unicast',
    metric: 0,
    tos: 0,
    nexthops: gateways.map((gateway) => ({ gateway, weight: 1 })),
    ...extra,
  };
}
