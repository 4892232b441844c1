/**
 * `health-gate`: announce a service prefix only while its backends are healthy.
 *
 * Each service has checks (tcp / http / exec) probed every `intervalMs`. A
 * check turns up after `rise` consecutive successes and down after `fall`
 * consecutive failures; everything starts down, so a service is announced only
 * once `rise` probes have passed (no announcement on a guess at startup). The
 * service is healthy while at least `minHealthy` checks are up (default: all).
 *
 * Without `originate`, the gate passes or drops the kernel route with exactly
 * that prefix (in `table`, if given). With `originate`, rtreflect announces the
 * prefix itself while healthy (the route then goes through the rest of the
 * chain). Each change of health asks the engine to re-evaluate, which is what
 * withdraws or re-announces the route: no restart needed.
 */
import { z } from 'zod';
import { addressOrSelf, familyOf, identifier, int, ms, obj, prefix, protocolRef, tableRef, u32 } from '../config/schema-helpers.js';
import { checkLabel, checkSchema, runCheck, type CheckResult, type CheckSpec } from './health-check.js';
import type { NameResolver } from '../config/name-resolver.js';
import type { BuiltinHandler } from './builtin-handler.js';
import type { HandlerContext, ReflectedRoute, RouteHandler } from './api.js';
import type { Family } from '../util/ip.js';

export interface HealthServiceOptions {
  name?: string;
  prefix: string;
  /** Gate only the kernel route in this table (default: any table). Not with `originate`. */
  table?: number;
  originate?: { nextHop: string; table: number; protocol: number; metric: number };
  checks: CheckSpec[];
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  /** Checks that must be up for the service to be healthy; default: all of them. */
  minHealthy: number;
}

export interface HealthGateOptions {
  services: HealthServiceOptions[];
}

const serviceSchema = (names: NameResolver) =>
  obj({
    name: identifier().optional(),
    prefix: prefix(),
    table: tableRef(names).optional(),
    originate: obj({
      nextHop: addressOrSelf().default('self'),
      table: tableRef(names).default('main'),
      protocol: protocolRef(names).default(0),
      metric: u32().default(0),
    }).optional(),
    checks: z.array(checkSchema()).min(1),
    intervalMs: ms().min(100).default(2000),
    timeoutMs: ms().min(10).default(1000),
    rise: int(1, 1000).default(2),
    fall: int(1, 1000).default(3),
    minHealthy: int(1, 1000).optional(),
  }).transform((s, ctx): HealthServiceOptions => {
    if (s.minHealthy !== undefined && s.minHealthy > s.checks.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['minHealthy'],
        message: `${s.minHealthy} healthy checks can never be reached with ${s.checks.length} check${s.checks.length === 1 ? '' : 's'}; use 1..${s.checks.length}`,
      });
    }
    if (s.table !== undefined && s.originate) {
      ctx.addIssue({
        code: 'custom',
        path: ['table'],
        message: 'table selects the kernel route to gate; an originated route has no kernel route. Use originate.table instead',
      });
    }
    const nh = s.originate?.nextHop;
    if (nh && nh !== 'self' && familyOf(nh) !== familyOf(s.prefix.slice(0, s.prefix.indexOf('/')))) {
      ctx.addIssue({
        code: 'custom',
        path: ['originate', 'nextHop'],
        message: `next hop ${nh} is not of the family of ${s.prefix}; give an IPv${familyOf(nh) === 4 ? 6 : 4} address or "self"`,
      });
    }
    return { ...s, minHealthy: s.minHealthy ?? s.checks.length };
  });

type CheckState = {
  spec: CheckSpec;
  label: string;
  up: boolean;
  consecutiveOk: number;
  consecutiveFail: number;
  probes: number;
  last?: CheckResult & { at: string };
  timer?: NodeJS.Timeout;
  inflight?: Promise<void>;
  abort?: AbortController;
};

type ServiceState = {
  opts: HealthServiceOptions;
  label: string;
  family: Family;
  healthy: boolean;
  changes: number;
  lastChange?: string;
  checks: CheckState[];
  route?: ReflectedRoute;
};

export interface HealthGateHandler extends RouteHandler {
  /** Probe every check once now and wait for the results (tests, `rtreflect check`). */
  checkNow(): Promise<void>;
}

export const healthGateHandler: BuiltinHandler<HealthGateOptions> = {
  type: 'health-gate',
  optionsSchema: (names: NameResolver) =>
    obj({
      services: z.array(serviceSchema(names)).min(1),
    }).superRefine((o, ctx) => {
      const seen = new Map<string, number>();
      o.services.forEach((s, i) => {
        const key = `${s.originate ? `o${s.originate.table}` : `g${s.table ?? '*'}`}|${s.prefix}`;
        const prev = seen.get(key);
        if (prev !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['services', i, 'prefix'],
            message: `${s.prefix} is already gated by services[${prev}]; merge their checks into one service (use minHealthy for "N of M")`,
          });
        else seen.set(key, i);
      });
    }),
  create: (options, ctx, name) => createHealthGate(options, ctx, name),
};

export function createHealthGate(options: HealthGateOptions, ctx: HandlerContext, name: string): HealthGateHandler {
  const services: ServiceState[] = options.services.map((opts) => {
    const family = familyOf(opts.prefix.slice(0, opts.prefix.indexOf('/')));
    const o = opts.originate;
    return {
      opts,
      label: opts.name ?? opts.prefix,
      family,
      healthy: false,
      changes: 0,
      checks: opts.checks.map((spec) => ({ spec, label: checkLabel(spec), up: false, consecutiveOk: 0, consecutiveFail: 0, probes: 0 })),
      route: o && {
        family,
        prefix: opts.prefix,
        table: o.table,
        protocol: o.protocol,
        type: 'unicast',
        metric: o.metric,
        tos: 0,
        nexthops: o.nextHop === 'self' ? [] : [{ gateway: o.nextHop, weight: 1 }],
        bgp: { nextHop: o.nextHop },
      },
    };
  });
  // Kernel routes to gate, by canonical prefix.
  const gated = new Map<string, ServiceState[]>();
  for (const s of services) {
    if (s.route) continue;
    const list = gated.get(s.opts.prefix) ?? [];
    list.push(s);
    gated.set(s.opts.prefix, list);
  }
  let running = false;
  let gatedDrops = 0;

  function record(svc: ServiceState, c: CheckState, r: CheckResult): void {
    c.probes++;
    c.last = { ...r, at: new Date().toISOString() };
    if (r.ok) {
      c.consecutiveOk++;
      c.consecutiveFail = 0;
    } else {
      c.consecutiveFail++;
      c.consecutiveOk = 0;
    }
    const wasUp = c.up;
    if (!c.up && c.consecutiveOk >= svc.opts.rise) c.up = true;
    else if (c.up && c.consecutiveFail >= svc.opts.fall) c.up = false;
    if (c.up !== wasUp) ctx.logger.info({ service: svc.label, check: c.label, detail: r.detail }, `health check ${c.up ? 'up' : 'down'}`);
    else if (!r.ok) ctx.logger.debug({ service: svc.label, check: c.label, detail: r.detail }, 'health check failed');
    const up = svc.checks.reduce((n, x) => n + (x.up ? 1 : 0), 0);
    const healthy = up >= svc.opts.minHealthy;
    if (healthy !== svc.healthy) {
      svc.healthy = healthy;
      svc.changes++;
      svc.lastChange = new Date().toISOString();
      ctx.logger.info(
        { service: svc.label, prefix: svc.opts.prefix, upChecks: up, minHealthy: svc.opts.minHealthy },
        healthy ? 'service healthy: announcing' : 'service unhealthy: withdrawing',
      );
      ctx.reevaluate(`${svc.label} ${healthy ? 'healthy' : 'unhealthy'}`);
    }
  }

  function probe(svc: ServiceState, c: CheckState): Promise<void> {
    if (c.inflight) return c.inflight;
    const abort = new AbortController();
    c.abort = abort;
    c.inflight = runCheck(c.spec, svc.opts.timeoutMs, abort.signal)
      .then((r) => {
        if (!abort.signal.aborted) record(svc, c, r);
      })
      .finally(() => {
        c.inflight = undefined;
        c.abort = undefined;
      });
    return c.inflight;
  }

  // The next probe is scheduled when the previous one ends: probes of one check never overlap.
  function loop(svc: ServiceState, c: CheckState): void {
    c.timer = undefined;
    if (!running) return;
    void probe(svc, c).then(() => {
      if (running) c.timer = setTimeout(() => loop(svc, c), svc.opts.intervalMs);
    });
  }

  return {
    name,
    start() {
      running = true;
      for (const s of services) for (const c of s.checks) loop(s, c);
    },
    process(route: ReflectedRoute) {
      if (gated.size === 0) return route;
      const list = gated.get(route.prefix);
      if (!list) return route;
      for (const s of list) {
        if ((s.opts.table === undefined || s.opts.table === route.table) && !s.healthy) {
          gatedDrops++;
          return null;
        }
      }
      return route;
    },
    originate() {
      const out: ReflectedRoute[] = [];
      for (const s of services) if (s.route && s.healthy) out.push({ ...s.route, nexthops: s.route.nexthops.map((n) => ({ ...n })), bgp: { ...s.route.bgp } });
      return out;
    },
    async checkNow() {
      await Promise.all(services.flatMap((s) => s.checks.map((c) => probe(s, c))));
    },
    status() {
      return {
        gatedDrops,
        services: services.map((s) => ({
          name: s.label,
          prefix: s.opts.prefix,
          mode: s.route ? 'originate' : 'gate',
          healthy: s.healthy,
          upChecks: s.checks.filter((c) => c.up).length,
          minHealthy: s.opts.minHealthy,
          changes: s.changes,
          lastChange: s.lastChange,
          checks: s.checks.map((c) => ({
            name: c.label,
            state: c.up ? 'up' : 'down',
            probes: c.probes,
            consecutiveOk: c.consecutiveOk,
            consecutiveFail: c.consecutiveFail,
            last: c.last,
          })),
        })),
      };
    },
    async close() {
      running = false;
      const pending: Promise<void>[] = [];
      for (const s of services) {
        for (const c of s.checks) {
          clearTimeout(c.timer);
          c.abort?.abort();
          if (c.inflight) pending.push(c.inflight);
        }
      }
      await Promise.all(pending);
    },
  };
}
