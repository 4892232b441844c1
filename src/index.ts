/**
 * rtreflect's package API: what an operator's own handler module may import
 * (types and the API version). The daemon itself is the `rtreflect` command.
 */
export * from './handlers/api.js';
export type { SinkProjection, SinkChange, ApplyReport, Sink } from './engine/sink.js';
export { RtreflectError } from './util/errors.js';
