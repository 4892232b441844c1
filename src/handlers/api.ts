/**
 * The handler API, version 1. A handler module (built in, or an operator's own
 * file or package named in the config) exports `apiVersion = 1` and
 * `create(options, context)`, and may export `optionsSchema`. create() must not
 * have side effects (no sockets, no timers): those belong in start(). The
 * engine calls, in order: create → validate → start → process (many times) →
 * close. close() is called in reverse chain order, also when start() failed.
 */
import type { Logger } from '../util/logger.js';
import type { ReflectedRoute } from '../engine/reflected-route.js';

export type { ReflectedRoute };
export type { BgpAttributes } from '../engine/reflected-route.js';
export type { Route, NextHop, RouteType } from '../kernel/route.js';

export const HANDLER_API_VERSION = 1;

export interface HandlerContext {
  readonly apiVersion: typeof HANDLER_API_VERSION;
  /** Child logger named after the handler. */
  readonly logger: Logger;
  /**
   * Ask the engine to run every route through the chain again (a handler whose
   * verdicts depend on something outside the route, such as health, calls this
   * when that changes). Cheap to call often: calls are coalesced.
   */
  reevaluate(reason: string): void;
}

/** Why process() is being called: a kernel change, or a resync walking every route. */
export type ProcessReason = 'event' | 'resync' | 'reevaluate';

export interface RouteHandler {
  /** Optional and informative only: logs, status and metrics use the name the config gives the handler. */
  readonly name?: string;
  /** Check options; throw an Error whose message names the option and the fix. */
  validate?(): void;
  start?(): Promise<void> | void;
  /**
   * Pass the route on (return it, changed or not), drop it (return null), or
   * fan it out (return several). Must be synchronous and fast: it runs for every
   * route of a full table on each resync. Do not mutate the input; return a copy.
   */
  process(route: ReflectedRoute, reason: ProcessReason): ReflectedRoute | ReflectedRoute[] | null;
  /** Routes this handler adds of its own (e.g. a service address from the config). Asked at each evaluation. */
  originate?(): ReflectedRoute[];
  /** Handler-specific status for `rtreflect status`. */
  status?(): Record<string, unknown>;
  close?(): Promise<void> | void;
}

/** One problem with a module's options: where in `options` (path of keys and indexes) and what. */
export interface OptionsIssue {
  path: readonly (string | number)[];
  message: string;
}

/**
 * Checks a module's options and fills in defaults; a zod schema is one. Its
 * issues reach the operator with their config path
 * (`handlers[2].options.community: ...`), as those of built-in handlers do.
 */
export interface OptionsSchema<Options = Record<string, unknown>> {
  safeParse(input: unknown): { success: true; data: Options } | { success: false; error: { issues: readonly OptionsIssue[] } };
}

export interface HandlerModule<Options = Record<string, unknown>> {
  apiVersion: number;
  /** When given, create() gets the options it returns, and is not called when they are invalid. */
  optionsSchema?: OptionsSchema<Options>;
  create(options: Options, context: HandlerContext): RouteHandler;
}
