import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HandlerChain, type HandlerSpec } from '../../src/handlers/handler-chain.js';
import { parseConfig } from '../../src/config/load-config.js';
import { silentLogger } from '../../src/util/logger.js';
import type { ReflectedRoute } from '../../src/handlers/api.js';

function route(prefix: string, extra: Partial<ReflectedRoute> = {}): ReflectedRoute {
  const family = prefix.includes(':') ? 6 : 4;
  return {
    family,
    prefix,
    table: 254,
    protocol: 12,
    type: 'unicast',
    metric: 0,
    tos: 0,
    nexthops: [{ gateway: family === 4 ? '192.0.2.254' : 'fe80::1', ifindex: 2, weight: 1 }],
    ...extra,
  };
}

/** A chain from config YAML handlers (validated as the daemon would). */
async function chainFrom(handlersYaml: string): Promise<HandlerChain> {
  const cfg = parseConfig(`handlers:\n${handlersYaml}`, '/tmp/rt.yaml');
  return HandlerChain.build(cfg.handlers, { logger: silentLogger(), reevaluate: () => {}, baseDir: cfg.baseDir });
}

const passes = (c: HandlerChain, r: ReflectedRoute) => c.process(r).length === 1;

test('filter permits only the listed protocols, tables, families and types', async () => {
  const c = await chainFrom('  - { type: filter, protocols: [bird, static], tables: [main, "100"], families: [4], types: [unicast] }\n');
  assert.ok(passes(c, route('10.0.0.0/8')));
  assert.ok(passes(c, route('10.0.0.0/8', { protocol: 4, table: 100 })));
  assert.ok(!passes(c, route('10.0.0.0/8', { protocol: 2 })), 'kernel protocol dropped');
  assert.ok(!passes(c, route('10.0.0.0/8', { table: 255 })), 'local table dropped');
  assert.ok(!passes(c, route('2001:db8::/32')), 'IPv6 dropped');
  assert.ok(!passes(c, route('10.0.0.0/8', { type: 'blackhole', nexthops: [] })), 'blackhole dropped');
  assert.equal((c.status()[0] as { dropped: number }).dropped, 4);
});

test('prefix-list: exact match without ge/le, ranges with them, first match wins, default for the rest', async () => {
  const c = await chainFrom(
    [
      '  - type: prefix-list',
      '    default: deny',
      '    entries:',
      '      - { action: deny, prefix: 10.1.0.0/16, le: 32 }',
      '      - { action: permit, prefix: 10.0.0.0/8, ge: 16, le: 24 }',
      '      - { action: permit, prefix: 192.0.2.0/24 }',
      '      - { action: permit, prefix: 198.51.100.0/24, ge: 28 }',
      '      - { action: permit, prefix: "2001:db8::/32", le: 48 }',
      '      - { action: deny, prefix: "::/0", le: 128 }',
    ].join('\n'),
  );
  const cases: [string, boolean][] = [
    ['10.1.2.0/24', false], // first entry denies
    ['10.1.0.0/16', false],
    ['10.2.0.0/16', true],
    ['10.2.3.0/24', true],
    ['10.2.3.0/25', false], // longer than le 24 → default
    ['10.0.0.0/8', false], // shorter than ge 16
    ['192.0.2.0/24', true], // exact
    ['192.0.2.0/25', false], // not exact
    ['198.51.100.16/28', true],
    ['198.51.100.1/32', true], // ge without le: up to /32
    ['198.51.100.0/24', false],
    ['11.0.0.0/8', false], // no match → default deny
    ['2001:db8::/32', true],
    ['2001:db8:ff::/48', true],
    ['2001:db8:ff::/64', false], // caught by the ::/0 le 128 deny
    ['2001:db9::/32', false],
  ];
  for (const [p, want] of cases) assert.equal(passes(c, route(p)), want, p);
  const permitAll = await chainFrom('  - { type: prefix-list, default: permit, entries: [{ action: deny, prefix: 0.0.0.0/0 }] }\n');
  assert.ok(!passes(permitAll, route('0.0.0.0/0')));
  assert.ok(passes(permitAll, route('1.0.0.0/8')));
  assert.ok(passes(permitAll, route('::/0')), 'an IPv4 entry never matches IPv6');
});

test('next-hop sets the BGP next hop for its family, and the gateway when asked', async () => {
  const c = await chainFrom(
    ['  - { type: next-hop, name: v4, address: 192.0.2.1, rewriteGateway: true }', '  - { type: next-hop, name: v6, address: self, families: [6] }'].join('\n'),
  );
  const input = route('10.0.0.0/8', { nhid: 7 });
  const [v4] = c.process(input);
  assert.equal(v4!.bgp!.nextHop, '192.0.2.1');
  assert.deepEqual(v4!.nexthops, [{ gateway: '192.0.2.1', weight: 1 }]);
  assert.equal(v4!.nhid, undefined);
  assert.equal(input.bgp, undefined, 'input not mutated');
  assert.equal(input.nexthops[0]!.gateway, '192.0.2.254');
  const [v6] = c.process(route('2001:db8::/32'));
  assert.equal(v6!.bgp!.nextHop, 'self');
  assert.equal(v6!.nexthops[0]!.gateway, 'fe80::1', 'self never rewrites the gateway');
  const [bh] = c.process(route('10.9.0.0/16', { type: 'blackhole', nexthops: [] }));
  assert.equal(bh!.bgp!.nextHop, '192.0.2.1');
  assert.deepEqual(bh!.nexthops, [], 'no gateway added to a blackhole route');
});

test('vrf-map puts routes of a table in a VRF; others pass or are dropped', async () => {
  const c = await chainFrom('  - { type: vrf-map, tables: { "100": blue, main: red } }\n');
  assert.equal(c.process(route('10.0.0.0/8', { table: 100 }))[0]!.vrf, 'blue');
  assert.equal(c.process(route('10.0.0.0/8'))[0]!.vrf, 'red');
  assert.equal(c.process(route('10.0.0.0/8', { table: 5 }))[0]!.vrf, undefined);
  const strict = await chainFrom('  - { type: vrf-map, tables: { "100": blue }, dropUnmapped: true }\n');
  assert.equal(strict.process(route('10.0.0.0/8', { table: 5 })).length, 0);
});

test('bgp-attributes sets MED/local-pref and adds communities, only on matching routes', async () => {
  const c = await chainFrom(
    [
      '  - type: bgp-attributes',
      '    name: first',
      '    communities: ["65000:1"]',
      '  - type: bgp-attributes',
      '    name: second',
      '    medFromMetric: true',
      '    localPref: 150',
      '    communities: ["65000:1", no-export, graceful-shutdown]',
      '    largeCommunities: ["4200000000:1:2"]',
      '    match: { prefixes: [{ prefix: 10.0.0.0/8, le: 24 }], families: [4] }',
    ].join('\n'),
  );
  const [m] = c.process(route('10.1.0.0/16', { metric: 42 }));
  assert.deepEqual(m!.bgp, { communities: ['65000:1', '65535:65281', '65535:0'], med: 42, localPref: 150, largeCommunities: ['4200000000:1:2'] });
  const [n] = c.process(route('10.1.1.0/25', { metric: 42 }));
  assert.deepEqual(n!.bgp, { communities: ['65000:1'] }, 'outside the match: only the first handler applied');
});

test('built-in options passed directly (not from the config) are validated too', async () => {
  const spec: HandlerSpec = { name: 'pl', type: 'prefix-list', options: { entries: [{ action: 'allow', prefix: '10.0.0.0/8' }] } };
  await assert.rejects(
    HandlerChain.build([spec], { logger: silentLogger(), reevaluate: () => {}, baseDir: '/' }),
    (e: Error & { code?: string }) =>
      e.code === 'ERR_CONFIG' && /handlers\[0\]\.entries\[0\]\.action: expected one of "permit", "deny", got "allow"/.test(e.message),
  );
});
