/** The sink types rtreflect knows, by their config `type`: one line each. */
import type { SinkType } from './sink-type.js';
import { gobgpSinkType } from './gobgp/index.js';
import { vppSinkType } from './vpp/index.js';

export const SINK_TYPES = [gobgpSinkType, vppSinkType] as const;

/** A configured sink's options: one of the types' options, told apart by `type`. */
export type SinkConfig = (typeof SINK_TYPES)[number] extends infer T ? (T extends SinkType<infer O> ? O : never) : never;

export function sinkType(type: string): SinkType<SinkConfig> | undefined {
  return SINK_TYPES.find((t) => t.type === type) as SinkType<SinkConfig> | undefined;
}
