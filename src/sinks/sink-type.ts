/**
 * A kind of sink, the way a built-in handler is a kind of handler: its config
 * `type`, its options schema (the one place its defaults live) and how to make
 * one. A new sink is a folder under src/sinks/ exporting one of these, plus one
 * line in sink-types.ts; the config schema and the daemon learn it from there.
 */
import { z, type ZodTypeDef } from 'zod';
import { describeIssue, identifier, obj, valueAt } from '../config/schema-helpers.js';
import { builtinNames, type NameResolver } from '../config/name-resolver.js';
import { formatPath } from '../config/config-errors.js';
import { RtreflectError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { Sink } from '../engine/sink.js';

/** What every sink's options have: its type and its name (logs, status, metrics). */
export interface SinkOptions {
  type: string;
  name: string;
}

export interface SinkDeps {
  /** Already named after the sink. */
  logger: Logger;
  /** This daemon's runtime directory (for files a sidecar process needs). */
  runtimeDir: string;
}

/** A process the sink's type runs beside the sink (e.g. gobgpd): started before the sink connects, stopped after it withdrew. */
export interface Sidecar {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Facts about the rest of the config that a sink type may warn about. */
export interface SinkConfigContext {
  /** VRF names handlers put routes in (from vrf-map handlers). */
  vrfs: ReadonlySet<string>;
  /** A module handler is configured, so routes may carry VRFs no built-in handler names. */
  hasModuleHandlers: boolean;
}

export interface SinkType<O extends SinkOptions = SinkOptions> {
  readonly type: O['type'];
  /** Options as the config gives them (`name` optional) → every default filled in. */
  optionsSchema(names: NameResolver): z.ZodType<Omit<O, 'name'> & { name?: string }, ZodTypeDef, unknown>;
  /** No side effects: connecting is the sink's start(). */
  create(options: O, deps: SinkDeps): Sink;
  /** A process to run beside this sink, if its options ask for one. */
  sidecar?(options: O, deps: SinkDeps): Sidecar | undefined;
  /** Allowed but suspicious settings, as [path inside this sink's options, message]. */
  configWarnings?(options: O, context: SinkConfigContext): [string, string][];
}

/**
 * The common head of every sink's options schema: `type` (filled in when
 * options are built without the config) and an optional `name`.
 */
export function sinkOptionsSchema<T extends string, S extends z.ZodRawShape>(type: T, shape: S) {
  return obj({ type: z.literal(type).default(type), name: identifier().optional(), ...shape });
}

/** Options as a caller gives them: any part of them, at any depth. */
export type OptionsInput<O> = { [K in keyof O]?: O[K] extends readonly unknown[] ? O[K] : O[K] extends object ? OptionsInput<O[K]> : O[K] };

/**
 * Options of a sink built without the config (tests, benches, the lab):
 * `input` parsed through the type's schema, so defaults come from the one place
 * they are defined; `name` defaults to the type. Bad input throws an ERR_CONFIG
 * naming each field.
 */
export function sinkOptions<O extends SinkOptions>(sinkType: SinkType<O>, input: OptionsInput<O> = {}, names: NameResolver = builtinNames): O {
  const r = sinkType.optionsSchema(names).safeParse(input);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${formatPath(i.path) || '(root)'}: ${describeIssue(i, valueAt(input, i.path))}`).join('; ');
    throw new RtreflectError('ERR_CONFIG', `invalid ${sinkType.type} sink options: ${msg}`);
  }
  return { ...r.data, name: r.data.name ?? sinkType.type } as O;
}
