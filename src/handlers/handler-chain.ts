/**
 * The ordered handlers every route passes through between the kernel and the sinks.
 *
 * Error policy: process() never throws. A handler that throws on a route (or
 * returns something that is not a route) drops that route: passing it on
 * unchanged could announce what a filter was meant to stop, so failing closed
 * is the safer default. Each failure counts in status() (`errors`), and is
 * logged with the handler's name, at most once per 10 s per handler (with the
 * number suppressed meanwhile).
 */
import type { z } from 'zod';
import { builtinNames, type NameResolver } from '../config/name-resolver.js';
import { ConfigError, type ConfigIssue } from '../config/config-errors.js';
import { describeIssue, valueAt } from '../config/schema-helpers.js';
import { RtreflectError } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { HANDLER_API_VERSION, type HandlerContext, type ProcessReason, type ReflectedRoute, type RouteHandler } from './api.js';
import { builtinHandler, HANDLER_TYPES, MODULE_HANDLER_TYPE } from './builtin-handlers.js';
import { loadHandlerModule, parseModuleOptions } from './module-handler.js';

/** One handler of the chain, as the config describes it. */
export interface HandlerSpec {
  /** Unique in the chain (the config schema checks that, naming the line); used in logs, status and metrics. */
  name: string;
  /** A built-in handler type, or "module". */
  type: string;
  /** For type "module": file path (relative to the config's directory) or package name. */
  module?: string;
  options: Record<string, unknown>;
}

export interface HandlerChainDeps {
  logger: Logger;
  /** Called (coalescing is the engine's job) when a handler's verdicts changed. */
  reevaluate(reason: string): void;
  /** Directory relative module paths are resolved against: the config file's. */
  baseDir: string;
  /** For built-in handler options given by name; default: standard iproute2 names. */
  names?: NameResolver;
  /** Shown in build errors; default "handlers". */
  origin?: string;
  /** Called each time a handler fails on a route (for a metrics counter). */
  onError?(handler: string): void;
}

const ERROR_LOG_INTERVAL_MS = 10_000;

interface Slot {
  spec: HandlerSpec;
  handler: RouteHandler;
  /** User code: its output is checked before it goes further. */
  untrusted: boolean;
  resolved?: string;
  startAttempted: boolean;
  closed: boolean;
  errors: number;
  lastError?: string;
  lastLogAt: number;
  suppressed: number;
}

/** ".tables[0].prefix" from ['tables', 0, 'prefix']. */
function pathSuffix(path: readonly (string | number)[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** What is wrong with a route user code returned, or undefined when it is a route. */
export function checkRoute(r: unknown): string | undefined {
  if (typeof r !== 'object' || r === null) return `returned ${r === null ? 'null' : typeof r} inside an array; return route objects`;
  const x = r as Partial<ReflectedRoute>;
  if (x.family !== 4 && x.family !== 6) return 'returned a route without family 4 or 6';
  if (typeof x.prefix !== 'string' || !x.prefix.includes('/')) return 'returned a route without a prefix like "10.0.0.0/8"';
  if (typeof x.table !== 'number' || !Array.isArray(x.nexthops)) return 'returned a route without a table number or nexthops array';
  return undefined;
}

export class HandlerChain {
  private readonly slots: Slot[];
  private readonly logger: Logger;
  private readonly onError?: (handler: string) => void;

  private constructor(slots: Slot[], deps: HandlerChainDeps) {
    this.slots = slots;
    this.logger = deps.logger;
    this.onError = deps.onError;
  }

  /**
   * Creates every handler (no side effects) and validates it. Problems of all
   * handlers are reported together, as a ConfigError (code ERR_CONFIG), and
   * nothing is started.
   */
  static async build(specs: readonly HandlerSpec[], deps: HandlerChainDeps): Promise<HandlerChain> {
    const issues: ConfigIssue[] = [];
    const slots: Slot[] = [];
    const names = deps.names ?? builtinNames;
    for (const [i, spec] of specs.entries()) {
      const path = `handlers[${i}]`;
      const fail = (message: string, sub = '') => issues.push({ path: path + sub, message: `(${spec.name}) ${message}` });
      const ctx: HandlerContext = {
        apiVersion: HANDLER_API_VERSION,
        logger: deps.logger.child({ handler: spec.name }),
        reevaluate: (reason: string) => deps.reevaluate(`${spec.name}: ${reason}`),
      };
      let handler: RouteHandler;
      let resolved: string | undefined;
      try {
        if (spec.type === MODULE_HANDLER_TYPE) {
          if (!spec.module) {
            fail('type "module" needs `module: <file path or package name>`', '.module');
            continue;
          }
          const loaded = await loadHandlerModule(spec.module, deps.baseDir);
          resolved = loaded.resolved;
          const options = parseModuleOptions(loaded.module, spec.options ?? {});
          if (!options.ok) {
            for (const is of options.issues)
              issues.push({ path: `${path}.options${pathSuffix(is.path)}`, message: describeIssue(is as z.ZodIssue, valueAt(spec.options, is.path)) });
            continue;
          }
          try {
            handler = loaded.module.create(options.options, ctx);
          } catch (e) {
            fail(`create() of ${resolved} threw: ${errMessage(e)}`);
            continue;
          }
          if (!handler || typeof handler.process !== 'function') {
            fail(`create() of ${resolved} did not return a handler with a process(route) function`);
            continue;
          }
        } else {
          const b = builtinHandler(spec.type);
          if (!b) {
            fail(`unknown handler type "${spec.type}"; expected one of ${HANDLER_TYPES.join(', ')}`, '.type');
            continue;
          }
          const parsed = b.optionsSchema(names).safeParse(spec.options ?? {});
          if (!parsed.success) {
            for (const is of parsed.error.issues) {
              issues.push({ path: `${path}${pathSuffix(is.path)}`, message: describeIssue(is, valueAt(spec.options, is.path)) });
            }
            continue;
          }
          handler = b.create(parsed.data, ctx, spec.name);
        }
      } catch (e) {
        fail(errMessage(e));
        continue;
      }
      slots.push({
        spec,
        handler,
        untrusted: spec.type === MODULE_HANDLER_TYPE,
        resolved,
        startAttempted: false,
        closed: false,
        errors: 0,
        lastLogAt: -Infinity,
        suppressed: 0,
      });
    }
    for (const slot of slots) {
      try {
        slot.handler.validate?.();
      } catch (e) {
        issues.push({ path: `handlers[${specs.indexOf(slot.spec)}]`, message: `(${slot.spec.name}) ${errMessage(e)}` });
      }
    }
    if (issues.length) throw new ConfigError(deps.origin ?? 'handlers', issues);
    return new HandlerChain(slots, deps);
  }

  get names(): string[] {
    return this.slots.map((s) => s.spec.name);
  }

  /** The handler instance of that name (e.g. to call a health gate's checkNow()). */
  get(name: string): RouteHandler | undefined {
    return this.slots.find((s) => s.spec.name === name)?.handler;
  }

  /** Starts handlers in order. If one fails, those started (and the failed one) are closed in reverse, and the error is thrown. */
  async start(): Promise<void> {
    for (const slot of this.slots) {
      slot.startAttempted = true;
      try {
        await slot.handler.start?.();
      } catch (e) {
        await this.close();
        throw new RtreflectError('ERR_HANDLER_START', `handler "${slot.spec.name}" failed to start: ${errMessage(e)}`, { cause: e });
      }
    }
  }

  /** Runs one route through the chain: 0 (dropped), 1 or more (fanned out) routes come out. Never throws. */
  process(route: ReflectedRoute, reason: ProcessReason = 'event'): ReflectedRoute[] {
    const out = this.runFrom(0, route, reason);
    return Array.isArray(out) ? out : [out];
  }

  /** process(), with the usual single route out returned as itself (no array per route). */
  derive(route: ReflectedRoute, reason: ProcessReason = 'event'): ReflectedRoute | ReflectedRoute[] {
    return this.runFrom(0, route, reason);
  }

  /** Routes the handlers originate, each passed through the handlers after the one that originated it. */
  originate(reason: ProcessReason = 'reevaluate'): ReflectedRoute[] {
    const out: ReflectedRoute[] = [];
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[i]!;
      if (!slot.handler.originate) continue;
      let routes: ReflectedRoute[];
      try {
        routes = slot.handler.originate();
        if (!Array.isArray(routes)) throw new TypeError('originate() must return an array of routes');
      } catch (e) {
        this.fail(slot, undefined, e);
        continue;
      }
      for (const r of routes) {
        if (slot.untrusted) {
          const bad = checkRoute(r);
          if (bad) {
            this.fail(slot, undefined, new TypeError(`originate() ${bad}`));
            continue;
          }
        }
        const derived = this.runFrom(i + 1, r, reason);
        if (Array.isArray(derived)) for (const x of derived) out.push(x);
        else out.push(derived);
      }
    }
    return out;
  }

  /** Closes, in reverse order, every handler whose start was attempted. Errors are logged; all are closed. Idempotent. */
  async close(): Promise<void> {
    for (let i = this.slots.length - 1; i >= 0; i--) {
      const slot = this.slots[i]!;
      if (!slot.startAttempted || slot.closed) continue;
      slot.closed = true;
      try {
        await slot.handler.close?.();
      } catch (e) {
        this.logger.error({ handler: slot.spec.name, err: errMessage(e) }, 'handler failed to close');
      }
    }
  }

  status(): Record<string, unknown>[] {
    return this.slots.map((s) => {
      let own: Record<string, unknown> = {};
      try {
        own = s.handler.status?.() ?? {};
      } catch (e) {
        own = { statusError: errMessage(e) };
      }
      return {
        ...own,
        name: s.spec.name,
        type: s.spec.type,
        ...(s.resolved ? { module: s.resolved } : {}),
        errors: s.errors,
        ...(s.lastError ? { lastError: s.lastError } : {}),
      };
    });
  }

  /** The routes out of slots[start..]: one as itself, none or several as an array. */
  private runFrom(start: number, route: ReflectedRoute, reason: ProcessReason): ReflectedRoute | ReflectedRoute[] {
    const slots = this.slots;
    // Fast path: one route in, one out, no arrays allocated.
    let one: ReflectedRoute = route;
    let many: ReflectedRoute[] | undefined;
    for (let i = start; i < slots.length; i++) {
      const slot = slots[i]!;
      if (many === undefined) {
        const r = this.call(slot, one, reason);
        if (r === null) return [];
        if (Array.isArray(r)) {
          if (r.length === 0) return [];
          if (r.length === 1) one = r[0]!;
          else many = r.slice();
        } else {
          one = r;
        }
      } else {
        const next: ReflectedRoute[] = [];
        for (const x of many) {
          const r = this.call(slot, x, reason);
          if (r === null) continue;
          if (Array.isArray(r)) {
            for (const y of r) next.push(y);
          } else next.push(r);
        }
        if (next.length === 0) return [];
        many = next;
      }
    }
    return many ?? one;
  }

  private call(slot: Slot, route: ReflectedRoute, reason: ProcessReason): ReflectedRoute | ReflectedRoute[] | null {
    try {
      const r = slot.handler.process(route, reason);
      if (r === null) return null;
      if (typeof r !== 'object')
        throw new TypeError(`process() returned ${r === undefined ? 'undefined' : typeof r}; return the route, null to drop it, or an array of routes`);
      if (slot.untrusted) {
        for (const x of Array.isArray(r) ? r : [r]) {
          const bad = checkRoute(x);
          if (bad) throw new TypeError(`process() ${bad}`);
        }
      }
      return r;
    } catch (e) {
      this.fail(slot, route, e);
      return null;
    }
  }

  private fail(slot: Slot, route: ReflectedRoute | undefined, e: unknown): void {
    slot.errors++;
    slot.lastError = errMessage(e);
    this.onError?.(slot.spec.name);
    const now = Date.now();
    if (now - slot.lastLogAt < ERROR_LOG_INTERVAL_MS) {
      slot.suppressed++;
      return;
    }
    this.logger.error(
      { handler: slot.spec.name, prefix: route?.prefix, table: route?.table, err: slot.lastError, suppressedSinceLastLog: slot.suppressed },
      route ? 'handler failed on a route; the route is dropped' : 'handler failed to originate routes',
    );
    slot.lastLogAt = now;
    slot.suppressed = 0;
  }
}
