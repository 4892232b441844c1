/** The `gobgp` sink type: routes into gobgpd's RIB, optionally with a gobgpd rtreflect runs itself (the sidecar). */
import { join } from 'node:path';
import type { SinkType } from '../sink-type.js';
import { gobgpOptionsSchema, type GobgpSinkOptions } from './gobgp-options.js';
import { createGobgpSink } from './gobgp-sink.js';
import { GobgpdSupervisor } from './gobgpd-supervisor.js';

export type { GobgpSinkOptions } from './gobgp-options.js';

export const gobgpSinkType: SinkType<GobgpSinkOptions> = {
  type: 'gobgp',
  optionsSchema: gobgpOptionsSchema,
  create: (options, deps) => createGobgpSink(options, deps),

  /** The sidecar's files go in `gobgpd-<sink name>` under the runtime directory, so two sinks or daemons never share them. */
  sidecar(options, deps) {
    const s = options.sidecar;
    if (!s.enabled) return undefined;
    return new GobgpdSupervisor({
      binary: s.binary,
      configDir: join(deps.runtimeDir, `gobgpd-${options.name}`),
      global: s.global,
      neighbors: s.neighbors,
      grpcAddress: options.address,
      logger: deps.logger,
    });
  },

  configWarnings(options, { vrfs }) {
    const out: [string, string][] = [];
    if (!options.createVrfs) return out;
    for (const v of vrfs)
      if (!Object.hasOwn(options.vrfs, v))
        out.push(['vrfs', `VRF "${v}" (from a vrf-map handler) is not listed; routes for it fail unless gobgpd already has that VRF`]);
    return out;
  },
};
