/** The handlers shipped with rtreflect, by their config `type`. `module` (an operator's own code) is handled by the chain. */
import type { BuiltinHandler } from './builtin-handler.js';
import { filterHandler } from './filter-handler.js';
import { prefixListHandler } from './prefix-list-handler.js';
import { nextHopHandler } from './next-hop-handler.js';
import { vrfMapHandler } from './vrf-map-handler.js';
import { bgpAttributesHandler } from './bgp-attributes-handler.js';
import { healthGateHandler } from './health-gate-handler.js';

export const BUILTIN_HANDLERS: Readonly<Record<string, BuiltinHandler>> = Object.freeze({
  [filterHandler.type]: filterHandler,
  [prefixListHandler.type]: prefixListHandler,
  [nextHopHandler.type]: nextHopHandler,
  [vrfMapHandler.type]: vrfMapHandler,
  [bgpAttributesHandler.type]: bgpAttributesHandler,
  [healthGateHandler.type]: healthGateHandler,
});

export const MODULE_HANDLER_TYPE = 'module';

/** Every valid `type` of a handler entry. */
export const HANDLER_TYPES: readonly string[] = [...Object.keys(BUILTIN_HANDLERS), MODULE_HANDLER_TYPE];

export function builtinHandler(type: string): BuiltinHandler | undefined {
  return Object.hasOwn(BUILTIN_HANDLERS, type) ? BUILTIN_HANDLERS[type] : undefined;
}
