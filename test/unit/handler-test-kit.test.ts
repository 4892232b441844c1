import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/package-info.js';
import { createHandler, createTestContext, loadModule, runHandler, testRoute } from '../../src/handlers/test-kit.js';
import type { HandlerModule } from '../../src/handlers/api.js';

const example = () => loadModule(join(packageRoot(), 'examples/handlers/tag-by-prefix.mjs'));

test('runHandler: the example handler, one route at a time, as the chain would run it', async () => {
  const m = await example();
  const options = { community: 'no-export', dropHostRoutesIn: ['10.0.0.0/8', '2001:db8::/32'] };
  const [tagged] = await runHandler(m, options, testRoute('203.0.113.0/24'));
  assert.deepEqual(tagged!.bgp, { communities: ['65535:65281'] }, 'table main (the default) gets the community, by its well-known name');
  assert.deepEqual(await runHandler(m, options, testRoute('10.1.2.3/32')), [], 'a host route in a range is dropped');
  assert.deepEqual(await runHandler(m, options, testRoute('2001:db8::1/128')), []);
  assert.equal((await runHandler(m, options, testRoute('10.1.2.0/24')))[0]!.bgp?.communities?.length, 1, 'a shorter prefix stays');
  const other = testRoute('203.0.113.0/24', { table: 100 });
  assert.deepEqual(await runHandler(m, options, other), [other], 'another table passes unchanged');
});

test('createHandler: invalid options throw, each named by its path under options', async () => {
  const m = await example();
  assert.throws(
    () => createHandler(m, { community: '65000:70000', dropHostRoutesIn: ['10.0.0.1/8'] }),
    (e: Error) => {
      assert.match(e.message, /^options\.community: "65000:70000" is not a community/m);
      assert.match(e.message, /^options\.dropHostRoutesIn\[0\]: "10\.0\.0\.1\/8" has host bits set/m);
      return true;
    },
  );
});

test('runHandler refuses output the chain would refuse, and always closes the handler', async () => {
  const closed: string[] = [];
  const broken: HandlerModule = {
    apiVersion: 1,
    create: (o) => ({
      process: (r) => (o.half ? [{ ...r, prefix: 'nowhere' }] : (undefined as never)),
      close: () => {
        closed.push(String(o.half));
      },
    }),
  };
  await assert.rejects(runHandler(broken, { half: true }, testRoute('10.0.0.0/8')), /process\(\) returned a route without a prefix like "10\.0\.0\.0\/8"/);
  await assert.rejects(runHandler(broken, { half: false }, testRoute('10.0.0.0/8')), /process\(\) returned undefined; return the route, null to drop it/);
  assert.deepEqual(closed, ['true', 'false']);
});

test('createTestContext records reevaluate() calls; testRoute makes valid routes of either family', () => {
  const ctx = createTestContext();
  const h = createHandler(
    {
      apiVersion: 1,
      create: (_o, c) => ({
        process: (r) => {
          c.reevaluate(`saw ${r.prefix}`);
          return r;
        },
      }),
    },
    {},
    ctx,
  );
  h.process(testRoute('2001:db8::/48'), 'event');
  assert.deepEqual(ctx.reevaluations, ['saw 2001:db8::/48']);
  const r6 = testRoute('2001:db8::/48');
  assert.equal(r6.family, 6);
  assert.equal(r6.nexthops[0]!.gateway, '2001:db8::1');
  assert.equal(testRoute('192.0.2.0/24', { metric: 5 }).metric, 5);
});
