import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load-config.js';
import { HandlerChain } from '../../src/handlers/handler-chain.js';
import type { HealthGateHandler } from '../../src/handlers/health-gate-handler.js';
import type { ReflectedRoute } from '../../src/handlers/api.js';
import { silentLogger } from '../../src/util/logger.js';
import { httpService, tcpService } from '../helpers/loopback-servers.js';

function route(prefix: string, table = 254): ReflectedRoute {
  return { family: 4, prefix, table, protocol: 12, type: 'unicast', metric: 0, tos: 0, nexthops: [{ gateway: '192.0.2.254', weight: 1 }] };
}

/** A chain holding one health gate, from config YAML; probes are driven by checkNow() (start() is not called, so no timers). */
async function gate(servicesYaml: string) {
  const reasons: string[] = [];
  const cfg = parseConfig(`handlers:\n  - type: health-gate\n    name: hg\n    services:\n${servicesYaml}`, '/tmp/rt.yaml');
  const chain = await HandlerChain.build(cfg.handlers, { logger: silentLogger(), reevaluate: (r) => reasons.push(r), baseDir: '/tmp' });
  const h = chain.get('hg') as HealthGateHandler;
  type Svc = {
    healthy: boolean;
    upChecks: number;
    checks: { state: string; consecutiveOk: number; consecutiveFail: number; last?: { ok: boolean; detail: string } }[];
  };
  const svc = (i = 0) => (h.status!() as { services: Svc[] }).services[i]!;
  return { chain, h, reasons, svc, close: () => chain.close() };
}

test('tcp: down until `rise` successes, up until `fall` failures, and back without restart', async () => {
  const srv = await tcpService();
  const g = await gate(
    `      - prefix: 192.0.2.10/32\n        rise: 2\n        fall: 2\n        checks: [{ type: tcp, host: 127.0.0.1, port: ${srv.port} }]\n`,
  );
  try {
    const r = route('192.0.2.10/32');
    assert.deepEqual(g.chain.process(r), [], 'down before any probe');
    assert.equal(g.chain.process(route('192.0.2.11/32')).length, 1, 'other prefixes are not gated');
    await g.h.checkNow();
    assert.equal(g.svc().checks[0]!.consecutiveOk, 1);
    assert.deepEqual(g.chain.process(r), [], 'one success < rise 2');
    await g.h.checkNow();
    assert.equal(g.svc().healthy, true);
    assert.deepEqual(g.chain.process(r), [r], 'announced once rise is reached');
    assert.deepEqual(g.reasons, ['hg: 192.0.2.10/32 healthy']);

    await srv.down();
    await g.h.checkNow();
    assert.equal(g.svc().checks[0]!.last!.ok, false);
    assert.match(g.svc().checks[0]!.last!.detail, /ECONNREFUSED/);
    assert.deepEqual(g.chain.process(r), [r], 'one failure < fall 2: still announced');
    await g.h.checkNow();
    assert.deepEqual(g.chain.process(r), [], 'withdrawn after fall failures');
    assert.deepEqual(g.reasons, ['hg: 192.0.2.10/32 healthy', 'hg: 192.0.2.10/32 unhealthy']);

    await srv.up();
    await g.h.checkNow();
    await g.h.checkNow();
    assert.deepEqual(g.chain.process(r), [r], 'announced again when the service is back');
    assert.equal(g.reasons.length, 3);
  } finally {
    await g.close();
    await srv.down();
  }
});

test('http: only the expected statuses count as healthy; a hanging server times out', async () => {
  const srv = await httpService();
  const g = await gate(
    `      - prefix: 192.0.2.20/32\n        rise: 1\n        fall: 1\n        timeoutMs: 300\n        checks: [{ type: http, url: "http://127.0.0.1:${srv.port}/health", expectStatus: [200, 204] }]\n`,
  );
  try {
    await g.h.checkNow();
    assert.equal(g.svc().healthy, true);
    assert.equal(g.svc().checks[0]!.last!.detail, 'HTTP 200');
    srv.status = 503;
    await g.h.checkNow();
    assert.equal(g.svc().healthy, false);
    assert.equal(g.svc().checks[0]!.last!.detail, 'HTTP 503, expected 200 or 204');
    srv.status = 204;
    await g.h.checkNow();
    assert.equal(g.svc().healthy, true);
    srv.hang = true;
    await g.h.checkNow();
    assert.equal(g.svc().healthy, false);
    assert.equal(g.svc().checks[0]!.last!.detail, 'timed out after 300 ms');
    assert.ok(srv.requests >= 4);
  } finally {
    await g.close();
    await srv.down();
  }
});

test('minHealthy: healthy while at least N backends are up', async () => {
  const a = await tcpService(),
    b = await tcpService(),
    c = await tcpService();
  const checks = [a, b, c].map((s) => `{ type: tcp, host: 127.0.0.1, port: ${s.port} }`).join(', ');
  const g = await gate(`      - prefix: 192.0.2.30/32\n        rise: 1\n        fall: 1\n        minHealthy: 2\n        checks: [${checks}]\n`);
  try {
    await g.h.checkNow();
    assert.equal(g.svc().upChecks, 3);
    assert.equal(g.svc().healthy, true);
    await a.down();
    await g.h.checkNow();
    assert.equal(g.svc().upChecks, 2);
    assert.equal(g.svc().healthy, true, '2 of 3 is enough');
    await b.down();
    await g.h.checkNow();
    assert.equal(g.svc().healthy, false, '1 of 3 is not');
    await a.up();
    await g.h.checkNow();
    assert.equal(g.svc().healthy, true);
    assert.equal(g.reasons.length, 3);
  } finally {
    await g.close();
    await Promise.all([a.down(), b.down(), c.down()]);
  }
});

test('the default minHealthy is every check', async () => {
  const a = await tcpService(),
    b = await tcpService();
  const g = await gate(
    `      - prefix: 192.0.2.31/32\n        rise: 1\n        fall: 1\n        checks: [{ type: tcp, host: 127.0.0.1, port: ${a.port} }, { type: tcp, host: 127.0.0.1, port: ${b.port} }]\n`,
  );
  try {
    await g.h.checkNow();
    assert.equal(g.svc().healthy, true);
    await b.down();
    await g.h.checkNow();
    assert.equal(g.svc().healthy, false);
  } finally {
    await g.close();
    await Promise.all([a.down(), b.down()]);
  }
});

test('exec: exit status decides; originate announces the prefix itself while healthy', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rtr-hg-'));
  const flag = join(dir, 'healthy');
  const g = await gate(
    `      - prefix: 198.51.100.1/32\n        rise: 1\n        fall: 1\n        originate: { nextHop: 192.0.2.1 }\n        checks: [{ type: exec, command: [/bin/sh, -c, 'test -e "$0" || { echo "no flag" >&2; exit 3; }', ${JSON.stringify(flag)}] }]\n`,
  );
  try {
    assert.deepEqual(g.chain.originate(), []);
    await g.h.checkNow();
    assert.equal(g.svc().checks[0]!.last!.detail, 'exit 3: no flag');
    assert.deepEqual(g.chain.originate(), []);
    assert.equal(g.chain.process(route('198.51.100.1/32')).length, 1, 'an originating service does not gate the kernel route');
    await writeFile(flag, '');
    await g.h.checkNow();
    assert.deepEqual(g.chain.originate(), [
      {
        family: 4,
        prefix: '198.51.100.1/32',
        table: 254,
        protocol: 0,
        type: 'unicast',
        metric: 0,
        tos: 0,
        nexthops: [{ gateway: '192.0.2.1', weight: 1 }],
        bgp: { nextHop: '192.0.2.1' },
      },
    ]);
    await unlink(flag);
    await g.h.checkNow();
    assert.deepEqual(g.chain.originate(), []);
  } finally {
    await g.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a gate with a table only gates the route in that table', async () => {
  const g = await gate('      - prefix: 192.0.2.40/32\n        table: "100"\n        checks: [{ type: tcp, host: 127.0.0.1, port: 1 }]\n');
  assert.deepEqual(g.chain.process(route('192.0.2.40/32', 100)), []);
  assert.equal(g.chain.process(route('192.0.2.40/32', 254)).length, 1);
  await g.close();
});

test('impossible health-gate settings are config errors', () => {
  assert.throws(
    () =>
      parseConfig(
        'handlers:\n  - type: health-gate\n    services:\n      - prefix: 192.0.2.1/32\n        minHealthy: 2\n        checks: [{ type: tcp, host: 127.0.0.1, port: 1 }]\n',
        'rt.yaml',
      ),
    /rt\.yaml:5:9: handlers\[0\]\.services\[0\]\.minHealthy: 2 healthy checks can never be reached with 1 check; use 1\.\.1/,
  );
  assert.throws(
    () =>
      parseConfig(
        'handlers:\n  - type: health-gate\n    services:\n      - prefix: "2001:db8::1/128"\n        originate: { nextHop: 192.0.2.1 }\n        checks: [{ type: exec, command: [/bin/true] }]\n',
        'rt.yaml',
      ),
    /services\[0\]\.originate\.nextHop: next hop 192\.0\.2\.1 is not of the family of 2001:db8::1\/128/,
  );
  assert.throws(
    () =>
      parseConfig(
        'handlers:\n  - type: health-gate\n    services:\n      - prefix: 192.0.2.1/32\n        checks: [{ type: http, url: "ftp://x/" }]\n      - prefix: 192.0.2.1/32\n        checks: [{ type: exec, command: [] }]\n',
        'rt.yaml',
      ),
    (e: Error) =>
      /services\[0\]\.checks\[0\]\.url: must be an http:\/\/ or https:\/\/ URL/.test(e.message) &&
      /services\[1\]\.checks\[0\]\.command: must have at least 1 item/.test(e.message),
  );
  assert.throws(
    () =>
      parseConfig(
        'handlers:\n  - type: health-gate\n    services:\n      - prefix: 192.0.2.1/32\n        checks: [{ type: exec, command: [/bin/true] }]\n      - prefix: 192.0.2.1\n        checks: [{ type: exec, command: [/bin/true] }]\n',
        'rt.yaml',
      ),
    /services\[1\]\.prefix: 192\.0\.2\.1\/32 is already gated by services\[0\]; merge their checks into one service/,
  );
});
