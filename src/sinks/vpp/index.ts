/** The `vpp` sink type: routes into VPP's FIB under a FIB source of rtreflect's own. */
import type { SinkType } from '../sink-type.js';
import { vppOptionsSchema, type VppSinkOptions } from './vpp-options.js';
import { createVppSink } from './vpp-sink.js';

export type { VppSinkOptions } from './vpp-options.js';

export const vppSinkType: SinkType<VppSinkOptions> = {
  type: 'vpp',
  optionsSchema: vppOptionsSchema,
  create: (options, deps) => createVppSink(options, { logger: deps.logger }),

  configWarnings(options, { vrfs, hasModuleHandlers }) {
    const out: [string, string][] = [];
    // A module handler may set any VRF, so an entry no built-in handler uses may still be needed.
    if (!hasModuleHandlers) {
      for (const v of Object.keys(options.vrfTables)) {
        if (!vrfs.has(v)) out.push([`vrfTables.${v}`, `no handler puts routes in VRF "${v}" (no vrf-map maps a table to it); this entry is unused`]);
      }
    }
    for (const v of vrfs)
      if (!Object.hasOwn(options.vrfTables, v)) out.push(['vrfTables', `VRF "${v}" (from a vrf-map handler) has no VPP table; the sink skips its routes`]);
    return out;
  },
};
