import { test, before, after } from 'node:test';
import { packageRoot } from '../../src/util/package-info.js';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HandlerChain, type HandlerSpec } from '../../src/handlers/handler-chain.js';
import { loadConfig, parseConfig } from '../../src/config/load-config.js';
import { silentLogger } from '../../src/util/logger.js';
import type { ReflectedRoute } from '../../src/handlers/api.js';

let dir: string;
const events: string[] = [];
// Test modules record what the chain calls on them in globalThis.__chainEvents.
(globalThis as Record<string, unknown>).__chainEvents = events;

const MODULE = (body: string, apiVersion = '1') => `export const apiVersion = ${apiVersion};
const ev = globalThis.__chainEvents;
export function create(options, ctx) {
  ${body}
}`;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rtr-chain-'));
  await mkdir(join(dir, 'handlers'));
  const files: Record<string, string> = {
    // Appends its tag to route.vrf, so the order of handlers shows in the output.
    'tagger.mjs': MODULE(`return {
      name: 'tagger',
      start() { ev.push('start ' + options.tag); if (options.failStart) throw new Error('port busy'); },
      process(r) { if (options.dropPrefix === r.prefix) return null; if (options.throwOn === r.prefix) throw new Error('boom'); if (options.undefinedOn === r.prefix) return undefined;
        if (options.fanOut) return [{ ...r, vrf: (r.vrf ?? '') + options.tag + 'a' }, { ...r, vrf: (r.vrf ?? '') + options.tag + 'b' }];
        return { ...r, vrf: (r.vrf ?? '') + options.tag }; },
      originate() { return options.originate ? [{ family: 4, prefix: options.originate, table: 254, protocol: 0, type: 'unicast', metric: 0, tos: 0, nexthops: [] }] : []; },
      close() { ev.push('close ' + options.tag); if (options.failClose) throw new Error('stuck'); },
    };`),
    'old-api.mjs': MODULE('return { name: "x", process: (r) => r };', '0'),
    'no-version.mjs': 'export function create() { return { name: "x", process: (r) => r }; }',
    'throws-in-create.mjs': MODULE('throw new Error("options.url is required");'),
    'syntax-error.mjs': 'export const apiVersion = 1;\nexport function create( {',
    'default-export.mjs': 'export default { apiVersion: 1, create: () => ({ name: "d", process: (r) => ({ ...r, vrf: "d" }) }) };',
    'handlers/relative.mjs': MODULE('return { name: "rel", process: (r) => ({ ...r, vrf: "rel" }) };'),
    // Options checked by a schema of its own making (anything with safeParse will do) and by zod from 'rtreflect'; neither names its handler.
    'hand-schema.mjs': `export const apiVersion = 1;
export const optionsSchema = { safeParse(o) {
  return typeof o.vrf === 'string' ? { success: true, data: { vrf: o.vrf.toUpperCase() } }
    : { success: false, error: { issues: [{ path: ['vrf'], message: 'required: the VRF name, e.g. vrf: blue' }] } };
} };
export function create(o) { return { process: (r) => ({ ...r, vrf: o.vrf }) }; }`,
    'zod-schema.mjs': `import { z, optionsObject, prefixSchema } from 'rtreflect';
export const apiVersion = 1;
export const optionsSchema = optionsObject({ prefixes: z.array(prefixSchema()).min(1), table: z.number().int().default(254) });
export function create(o) { return { process: (r) => (o.prefixes.includes(r.prefix) && r.table === o.table ? r : null) }; }`,
    'bad-schema.mjs': `export const apiVersion = 1;
export const optionsSchema = { parse() {} };
export function create() { return { process: (r) => r }; }`,
  };
  for (const [f, body] of Object.entries(files)) await writeFile(join(dir, f), body);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function route(prefix = '10.0.0.0/8'): ReflectedRoute {
  return { family: 4, prefix, table: 254, protocol: 12, type: 'unicast', metric: 0, tos: 0, nexthops: [] };
}
const tagger = (tag: string, more: Record<string, unknown> = {}): HandlerSpec => ({
  name: tag,
  type: 'module',
  module: './tagger.mjs',
  options: { tag, ...more },
});
const build = (specs: HandlerSpec[], extra: Partial<Parameters<typeof HandlerChain.build>[1]> = {}) =>
  HandlerChain.build(specs, { logger: silentLogger(), reevaluate: () => {}, baseDir: dir, ...extra });

test('routes pass through handlers in order', async () => {
  const c = await build([tagger('A'), tagger('B'), tagger('C')]);
  assert.deepEqual(
    c.process(route()).map((r) => r.vrf),
    ['ABC'],
  );
});

test('a dropped route goes no further; a fanned-out route continues as several', async () => {
  const c = await build([tagger('A', { dropPrefix: '10.9.0.0/16' }), tagger('B', { fanOut: true }), tagger('C')]);
  assert.deepEqual(c.process(route('10.9.0.0/16')), []);
  assert.deepEqual(
    c.process(route()).map((r) => r.vrf),
    ['ABaC', 'ABbC'],
  );
});

test('a handler that throws drops that route, counts the error, and the chain goes on', async () => {
  const errors: string[] = [];
  const c = await build([tagger('A', { throwOn: '10.1.0.0/16', undefinedOn: '10.2.0.0/16' }), tagger('B')], { onError: (h) => errors.push(h) });
  assert.deepEqual(c.process(route('10.1.0.0/16')), []);
  assert.deepEqual(c.process(route('10.2.0.0/16')), [], 'returning undefined is an error, not a pass');
  assert.deepEqual(
    c.process(route()).map((r) => r.vrf),
    ['AB'],
  );
  const st = c.status();
  assert.equal(st[0]!.errors, 2);
  assert.match(String(st[0]!.lastError), /process\(\) returned undefined/);
  assert.equal(st[1]!.errors, 0);
  assert.deepEqual(errors, ['A', 'A']);
});

test('originated routes pass through the handlers after the originating one only', async () => {
  const c = await build([tagger('A'), tagger('B', { originate: '192.0.2.10/32' }), tagger('C')]);
  assert.deepEqual(
    c.originate().map((r) => [r.prefix, r.vrf]),
    [['192.0.2.10/32', 'C']],
  );
});

test('start runs in order; close runs in reverse and closes all even when one fails', async () => {
  events.length = 0;
  const c = await build([tagger('A'), tagger('B', { failClose: true }), tagger('C')]);
  await c.start();
  await c.close();
  assert.deepEqual(events, ['start A', 'start B', 'start C', 'close C', 'close B', 'close A']);
  await c.close();
  assert.equal(events.length, 6, 'close is idempotent');
});

test('a failed start closes the started handlers (and the failed one) in reverse; later ones never start', async () => {
  events.length = 0;
  const c = await build([tagger('A'), tagger('B', { failStart: true }), tagger('C')]);
  await assert.rejects(c.start(), (e: Error & { code?: string }) => e.code === 'ERR_HANDLER_START' && /handler "B" failed to start: port busy/.test(e.message));
  assert.deepEqual(events, ['start A', 'start B', 'close B', 'close A']);
});

test("a module's optionsSchema: create() gets the parsed options, and each bad option is reported at its config path", async () => {
  const ok = await build([
    { name: 'upper', type: 'module', module: './hand-schema.mjs', options: { vrf: 'blue' } },
    { name: 'only', type: 'module', module: './zod-schema.mjs', options: { prefixes: ['10.0.0.0/8'] } },
  ]);
  assert.deepEqual(
    ok.process(route('10.0.0.0/8')).map((r) => r.vrf),
    ['BLUE'],
    'options as the schema returned them, defaults included',
  );
  assert.deepEqual(ok.process(route('10.1.0.0/16')), []);
  assert.deepEqual(
    ok.status().map((s) => s.name),
    ['upper', 'only'],
    "a handler without a name of its own goes by the config's",
  );

  await assert.rejects(
    build(
      [
        { name: 'upper', type: 'module', module: './hand-schema.mjs', options: {} },
        { name: 'only', type: 'module', module: './zod-schema.mjs', options: { prefixes: ['10.0.0.1/8'], tabel: 5 } },
        { name: 'bad', type: 'module', module: './bad-schema.mjs', options: {} },
      ],
      { origin: 'rt.yaml' },
    ),
    (e: Error) => {
      assert.deepEqual(e.message.split('\n'), [
        'rt.yaml: handlers[0].options.vrf: required: the VRF name, e.g. vrf: blue',
        'rt.yaml: handlers[1].options.tabel: unknown key; did you mean "table"?',
        'rt.yaml: handlers[1].options.prefixes[0]: "10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?',
        `rt.yaml: handlers[2]: (bad) module "./bad-schema.mjs" (${join(dir, 'bad-schema.mjs')}) exports optionsSchema without a safeParse(options) function; export a zod schema (or anything with safeParse), or leave it out`,
      ]);
      return true;
    },
  );
});

test('module loading: relative to the config dir, default exports, and clear errors for bad modules', async () => {
  const ok = await build([
    { name: 'rel', type: 'module', module: './handlers/relative.mjs', options: {} },
    { name: 'def', type: 'module', module: join(dir, 'default-export.mjs'), options: {} },
  ]);
  assert.deepEqual(
    ok.process(route()).map((r) => r.vrf),
    ['d'],
  );
  assert.equal(ok.status()[0]!.module, join(dir, 'handlers/relative.mjs'));

  // All problems are reported together, each naming the handler and what to do.
  await assert.rejects(
    build(
      [
        { name: 'missing', type: 'module', module: './nope.mjs', options: {} },
        { name: 'old', type: 'module', module: './old-api.mjs', options: {} },
        { name: 'nover', type: 'module', module: './no-version.mjs', options: {} },
        { name: 'thrower', type: 'module', module: './throws-in-create.mjs', options: {} },
        { name: 'syntax', type: 'module', module: './syntax-error.mjs', options: {} },
        { name: 'nopkg', type: 'module', module: 'rtreflect-no-such-handler-pkg', options: {} },
        { name: 'bogus', type: 'bogus', options: {} },
      ],
      { origin: 'rt.yaml' },
    ),
    (e: Error & { code?: string; issues?: unknown[] }) => {
      const lines = e.message.split('\n');
      assert.equal(e.code, 'ERR_CONFIG');
      assert.equal(lines.length, 7, e.message);
      assert.match(
        lines[0]!,
        new RegExp(
          `^rt\\.yaml: handlers\\[0\\]: \\(missing\\) cannot load module "\\./nope\\.mjs": ${join(dir, 'nope.mjs').replace(/[.]/g, '\\.')} does not exist \\(relative paths are relative to the config file's directory`,
        ),
      );
      assert.match(
        lines[1]!,
        /handlers\[1\]: \(old\) module "\.\/old-api\.mjs" .* was written for handler API version 0, but this rtreflect provides version 1/,
      );
      assert.match(lines[2]!, /handlers\[2\]: \(nover\) .*does not export apiVersion; add `export const apiVersion = 1;`/);
      assert.match(lines[3]!, /handlers\[3\]: \(thrower\) create\(\) of .*throws-in-create\.mjs threw: options\.url is required/);
      assert.match(lines[4]!, /handlers\[4\]: \(syntax\) cannot load module "\.\/syntax-error\.mjs"/);
      assert.match(lines[5]!, /handlers\[5\]: \(nopkg\) cannot load module "rtreflect-no-such-handler-pkg": no such package/);
      assert.match(lines[6]!, /handlers\[6\]\.type: \(bogus\) unknown handler type "bogus"/);
      return true;
    },
  );
});

test('the example user handler loads from the path in the example config, without a build', async () => {
  const cfgPath = join(packageRoot(), 'examples/rtreflect.yaml');
  const cfg = await loadConfig(cfgPath);
  const spec = cfg.handlers.find((h) => h.type === 'module')!;
  assert.equal(spec.module, './handlers/tag-by-prefix.mjs');
  const c = await HandlerChain.build([spec], { logger: silentLogger(), reevaluate: () => {}, baseDir: cfg.baseDir });
  const [tagged] = c.process(route('203.0.113.0/24'));
  assert.deepEqual(tagged!.bgp!.communities, ['65000:200'], 'a route of the configured table gets the community');
  assert.deepEqual(c.process(route('10.20.30.40/32')), [], 'a /32 inside 10.0.0.0/8 is dropped');
  assert.equal(c.process(route('10.20.30.0/24')).length, 1, 'a shorter prefix in the range stays');
  assert.deepEqual(c.process({ ...route('203.0.113.0/24'), table: 100 })[0]!.bgp, undefined, 'other tables untouched');
  assert.deepEqual(c.status()[0], {
    table: 254,
    community: '65000:200',
    tagged: 2,
    dropped: 1,
    name: 'tag-customers',
    type: 'module',
    module: join(cfg.baseDir, 'handlers/tag-by-prefix.mjs'),
    errors: 0,
  });

  // Its optionsSchema's checks reach the operator with the option's config path.
  const bad = parseConfig('handlers:\n  - module: ./handlers/tag-by-prefix.mjs\n    options: { community: "70000:1", tabel: 5 }\n', cfgPath);
  await assert.rejects(HandlerChain.build(bad.handlers, { logger: silentLogger(), reevaluate: () => {}, baseDir: bad.baseDir }), (e: Error) => {
    assert.match(e.message, /handlers\[0\]\.options\.community: "70000:1" is not a community: expected "asn:value"/);
    assert.match(e.message, /handlers\[0\]\.options\.tabel: unknown key; did you mean "table"\?/);
    return true;
  });
});
