/**
 * For authors of handler modules: run a module the way the chain does (options
 * through its optionsSchema, create, validate, start, process with the chain's
 * checks on what comes out, close), without a daemon, a kernel or a config.
 *
 *   const handler = await loadModule('./tag-by-prefix.mjs');
 *   const [out] = await runHandler(handler, { community: '65000:1' }, testRoute('10.0.0.0/24'));
 */
import { familyOf } from '../util/ip.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { HANDLER_API_VERSION, type HandlerContext, type HandlerModule, type ProcessReason, type ReflectedRoute, type RouteHandler } from './api.js';
import { checkRoute } from './handler-chain.js';
import { loadHandlerModule, parseModuleOptions } from './module-handler.js';

export interface TestContext extends HandlerContext {
  /** The reasons given to reevaluate(), in order. */
  readonly reevaluations: string[];
}

export function createTestContext(logger: Logger = silentLogger()): TestContext {
  const reevaluations: string[] = [];
  return {
    apiVersion: HANDLER_API_VERSION,
    logger,
    reevaluations,
    reevaluate: (reason) => {
      reevaluations.push(reason);
    },
  };
}

/** A handler module loaded as the daemon loads it (a file path, relative to `baseDir`, or a package name), with the same checks. */
export async function loadModule(spec: string, baseDir: string = process.cwd()): Promise<HandlerModule> {
  return (await loadHandlerModule(spec, baseDir)).module;
}

/** A unicast route of table main, as BIRD would install it, with one next hop; `over` changes any field. */
export function testRoute(prefix: string, over: Partial<ReflectedRoute> = {}): ReflectedRoute {
  const family = familyOf(prefix.slice(0, prefix.indexOf('/')));
  return {
    family,
    prefix,
    table: 254,
    protocol: 12,
    type: 'unicast',
    metric: 0,
    tos: 0,
    nexthops: [{ gateway: family === 4 ? '192.0.2.1' : '2001:db8::1', ifindex: 2, ifname: 'eth0', weight: 1 }],
    ...over,
  };
}

/**
 * The handler a module makes from these options, validated. Invalid options
 * throw one Error naming each (`options.community: ...`), as the config check would.
 */
export function createHandler<O>(module: HandlerModule<O>, options: Record<string, unknown> = {}, context: HandlerContext = createTestContext()): RouteHandler {
  const parsed = parseModuleOptions(module as unknown as HandlerModule, options);
  if (!parsed.ok) {
    throw new Error(parsed.issues.map((i) => `options${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('')}: ${i.message}`).join('\n'));
  }
  const handler = module.create(parsed.options as O, context);
  if (!handler || typeof handler.process !== 'function') throw new TypeError('create() did not return a handler with a process(route) function');
  handler.validate?.();
  return handler;
}

/**
 * One route through a fresh handler (started, then closed): the routes that
 * come out, none when it drops the route. Output the chain would refuse throws.
 */
export async function runHandler<O>(
  module: HandlerModule<O>,
  options: Record<string, unknown>,
  route: ReflectedRoute,
  reason: ProcessReason = 'event',
): Promise<ReflectedRoute[]> {
  const handler = createHandler(module, options);
  await handler.start?.();
  try {
    const r = handler.process(route, reason);
    if (typeof r !== 'object')
      throw new TypeError(`process() returned ${r === undefined ? 'undefined' : typeof r}; return the route, null to drop it, or an array of routes`);
    const out = r === null ? [] : Array.isArray(r) ? r : [r];
    for (const x of out) {
      const bad = checkRoute(x);
      if (bad) throw new TypeError(`process() ${bad}`);
    }
    return out;
  } finally {
    await handler.close?.();
  }
}
