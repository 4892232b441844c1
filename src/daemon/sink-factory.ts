import type { Logger } from '../util/logger.js';
import type { Sink } from '../engine/sink.js';
import type { RtreflectConfig } from '../config/load-config.js';
import type { Sidecar } from '../sinks/sink-type.js';
import { sinkType } from '../sinks/sink-types.js';
import { RtreflectError } from '../util/errors.js';

export interface SinkBundle {
  sinks: Sink[];
  /** Sidecar processes (e.g. gobgpd): started before their sinks connect, stopped after they withdrew. */
  startSupervisors(): Promise<void>;
  stopSupervisors(): Promise<void>;
}

/**
 * Constructs the configured sinks (no side effects) and their sidecars, each
 * by its registered type. `runtimeDir` holds sidecar files (beside the control
 * socket, so two daemons never share it).
 */
export function createSinks(config: RtreflectConfig, logger: Logger, runtimeDir: string): SinkBundle {
  const sinks: Sink[] = [];
  const sidecars: Sidecar[] = [];
  for (const options of config.sinks) {
    const type = sinkType(options.type);
    if (!type) throw new RtreflectError('ERR_CONFIG', `sink "${options.name}" has unknown type "${options.type}"`);
    sinks.push(type.create(options, { logger: logger.child({ sink: options.name }), runtimeDir }));
    const sidecar = type.sidecar?.(options, { logger: logger.child({ sidecar: options.name }), runtimeDir });
    if (sidecar) sidecars.push(sidecar);
  }
  return {
    sinks,
    async startSupervisors() {
      for (const s of sidecars) await s.start();
    },
    async stopSupervisors() {
      await Promise.all(sidecars.map((s) => s.stop()));
    },
  };
}
