/**
 * The health gate with its real timers against real services on loopback:
 * services going down and coming back change the chain's output routes, with
 * no restart. (The end-to-end BGP assertion through the engine is separate.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load-config.js';
import { HandlerChain } from '../../src/handlers/handler-chain.js';
import type { ReflectedRoute } from '../../src/handlers/api.js';
import { silentLogger } from '../../src/util/logger.js';
import { httpService, tcpService } from '../helpers/loopback-servers.js';
import { WAIT_MS, deadlineMs } from '../helpers/wait-for.js';

const WEB = '192.0.2.80/32',
  DNS = '192.0.2.53/32',
  MAINT = '192.0.2.99/32';

function kernelRoute(prefix: string): ReflectedRoute {
  return { family: 4, prefix, table: 254, protocol: 12, type: 'unicast', metric: 0, tos: 0, nexthops: [{ gateway: '192.0.2.254', weight: 1 }] };
}

test('health-gated routes follow real services down and up', async () => {
  const web = await httpService();
  const dns = await tcpService();
  const dir = await mkdtemp(join(tmpdir(), 'rtr-hg-int-'));
  const flag = join(dir, 'in-service');
  await writeFile(flag, '');
  const cfg = parseConfig(
    `
handlers:
  - type: health-gate
    name: gate
    services:
      - prefix: ${WEB}            # gates BIRD's kernel route
        checks: [{ type: http, url: "http://127.0.0.1:${web.port}/healthz" }]
        intervalMs: 100
        timeoutMs: 5000
        rise: 2
        fall: 2
      - prefix: ${DNS}            # rtreflect originates it
        originate: { nextHop: self }
        checks: [{ type: tcp, host: 127.0.0.1, port: ${dns.port} }]
        intervalMs: 100
        timeoutMs: 5000
        rise: 2
        fall: 2
      - prefix: ${MAINT}          # drained by removing a file
        checks: [{ type: exec, command: [/bin/sh, -c, 'test -e "$0"', "${flag}"] }]
        intervalMs: 100
        timeoutMs: 10000
        rise: 1
        fall: 1
  - type: bgp-attributes
    communities: ["65000:7"]
`,
    join(dir, 'rt.yaml'),
  );

  // What the chain would send to the sinks now: gated kernel routes plus originated ones.
  const announced = () => {
    const out = [WEB, MAINT].flatMap((p) => chain.process(kernelRoute(p), 'reevaluate')).concat(chain.originate());
    return out.map((r) => r.prefix).sort();
  };
  let waiters: (() => void)[] = [];
  const chain = await HandlerChain.build(cfg.handlers, {
    logger: silentLogger(),
    baseDir: dir,
    reevaluate: () => {
      const w = waiters;
      waiters = [];
      w.forEach((f) => f());
    },
  });
  /** Waits (re-checking on each reevaluate) until the announced set is `want`. */
  const until = async (want: string[], what: string) => {
    const deadline = Date.now() + deadlineMs(WAIT_MS);
    while (JSON.stringify(announced()) !== JSON.stringify([...want].sort())) {
      if (Date.now() > deadline) assert.fail(`${what}: announced ${JSON.stringify(announced())}, wanted ${JSON.stringify(want)}`);
      await new Promise<void>((res) => {
        waiters.push(res);
        setTimeout(res, 500).unref();
      });
    }
  };

  try {
    assert.deepEqual(announced(), [], 'nothing is announced before the checks have risen');
    await chain.start();
    await until([WEB, DNS, MAINT], 'all services healthy');
    assert.deepEqual(chain.originate()[0]!.bgp, { nextHop: 'self', communities: ['65000:7'] }, 'originated routes go through the handlers after the gate');

    await web.down();
    await until([DNS, MAINT], 'web server stopped');
    await dns.down();
    await until([MAINT], 'dns listener stopped');
    await unlink(flag);
    await until([], 'maintenance flag removed');

    await web.up();
    await dns.up();
    await writeFile(flag, '');
    await until([WEB, DNS, MAINT], 'everything back');

    web.status = 500;
    await until([DNS, MAINT], 'web answers 500');
    const st = chain.status()[0] as { services: { name: string; healthy: boolean; changes: number; checks: { last?: { detail: string } }[] }[] };
    assert.equal(st.services[0]!.healthy, false);
    assert.equal(st.services[0]!.checks[0]!.last!.detail, 'HTTP 500, expected 200');
    assert.ok(st.services[0]!.changes >= 4);
  } finally {
    await chain.close();
    await web.down();
    await dns.down();
    await rm(dir, { recursive: true, force: true });
  }
  // After close no probe runs: a restarted server sees no more requests.
  const before = web.requests;
  await web.up();
  await new Promise((r) => setTimeout(r, 300));
  await web.down();
  assert.equal(web.requests, before, 'no probes after close()');
});
