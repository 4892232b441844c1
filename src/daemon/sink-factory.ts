import { join } from 'node:path';
import type { Logger } from '../util/logger.js';
import type { Sink } from '../engine/sink.js';
import type { RtreflectConfig } from '../config/load-config.js';
import { createGobgpSink } from '../sinks/gobgp/gobgp-sink.js';
import { GobgpdSupervisor } from '../sinks/gobgp/gobgpd-supervisor.js';
import { createVppSink } from '../sinks/vpp/vpp-sink.js';

export interface SinkBundle {
  sinks: Sink[];
  /** Sidecar gobgpd processes: started before their sinks connect, stopped after they withdrew. */
  startSupervisors(): Promise<void>;
  stopSupervisors(): Promise<void>;
}

/** Constructs the configured sinks (no side effects) and any sidecar gobgpd. */
/** `runtimeDir` holds sidecar files (beside the control socket, so two daemons never share it). */
export function createSinks(config: RtreflectConfig, logger: Logger, runtimeDir: string): SinkBundle {
  const sinks: Sink[] = [];
  const supervisors: GobgpdSupervisor[] = [];
  for (const spec of config.sinks) {
    if (spec.type === 'gobgp') {
      const { type: _t, sidecar, ...opts } = spec;
      sinks.push(createGobgpSink(opts, { logger: logger.child({ sink: spec.name }) }));
      if (sidecar?.enabled) {
        supervisors.push(new GobgpdSupervisor({
          binary: sidecar.binary,
          configDir: join(runtimeDir, `gobgpd-${spec.name}`),
          global: sidecar.global,
          neighbors: sidecar.neighbors,
          grpcAddress: spec.address,
          logger: logger.child({ sidecar: spec.name }),
        }));
      }
    } else {
      const { type: _t, ...opts } = spec;
      sinks.push(createVppSink(opts, { logger: logger.child({ sink: spec.name }) }));
    }
  }
  return {
    sinks,
    async startSupervisors() {
      for (const s of supervisors) await s.start();
    },
    async stopSupervisors() {
      await Promise.all(supervisors.map((s) => s.stop()));
    },
  };
}
