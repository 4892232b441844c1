/**
 * Property tests of the config loader: whatever the file holds (text that is barely
 * YAML, YAML of random shape with the schema's own keys, the example config with parts
 * replaced), parseConfig returns a config or throws a ConfigError that lists its issues
 * — never another exception, never a hang; and the result does not depend on how the
 * YAML is laid out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse as parseYaml, stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/load-config.js';
import { packageRoot } from '../../src/util/package-info.js';
import { checkProperty, fuzzTimeoutMs } from '../helpers/fuzz.js';

const CI_RUNS = 100;
const opts = { timeout: fuzzTimeoutMs };
const ORIGIN = '/etc/rtreflect/rtreflect.yaml';

/** parseConfig's answer: the config, or the ConfigError's issues (each checked to say where and what). */
function load(text: string): { config: ReturnType<typeof parseConfig> } | { issues: string[] } {
  try {
    return { config: parseConfig(text, ORIGIN) };
  } catch (e) {
    if (!(e instanceof ConfigError)) {
      assert.fail(
        `expected a config or a ConfigError, got ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}\nfor:\n${text.slice(0, 2000)}`,
      );
    }
    assert.equal(e.code, 'ERR_CONFIG');
    assert.ok(e.issues.length > 0, 'a refusal names at least one issue');
    for (const i of e.issues) assert.ok(i.message.length > 0, 'every issue says what is wrong');
    const lines = e.message.split('\n');
    for (const l of lines) assert.ok(l.startsWith(ORIGIN), `every issue names the file: ${l}`);
    return { issues: lines };
  }
}

// Keys and values of the schema, so that random shapes reach past the top-level checks.
const KEYS = [
  'version',
  'source',
  'engine',
  'handlers',
  'sinks',
  'control',
  'metrics',
  'log',
  'protocols',
  'tables',
  'families',
  'receiveBufferBytes',
  'bpfFilter',
  'netns',
  'holdDown',
  'enabled',
  'threshold',
  'windowMs',
  'delayMs',
  'batchDelayMs',
  'type',
  'name',
  'module',
  'options',
  'entries',
  'action',
  'prefix',
  'ge',
  'le',
  'default',
  'address',
  'families',
  'communities',
  'largeCommunities',
  'med',
  'medFromMetric',
  'localPref',
  'match',
  'prefixes',
  'services',
  'checks',
  'host',
  'port',
  'url',
  'command',
  'originate',
  'nextHop',
  'vrfs',
  'vrf',
  'rd',
  'rt',
  'sidecar',
  'global',
  'neighbors',
  'asn',
  'routerId',
  'socket',
  'apiDir',
  'interfaces',
  'shutdown',
  'withdraw',
  'graceMs',
  'listen',
  'level',
  'group',
  'mode',
  'streams',
  'batchSize',
  'mark',
  'community',
  'largeCommunity',
  'protoDir',
  'createVrfs',
  'rise',
  'fall',
  'minHealthy',
];
const SCALARS: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    'bird',
    'all',
    'main',
    'gobgp',
    'vpp',
    'filter',
    'prefix-list',
    'next-hop',
    'vrf-map',
    'bgp-attributes',
    'health-gate',
    'module',
    'permit',
    'deny',
    'self',
    'tcp',
    'http',
    'exec',
    'info',
    'debug',
    '10.0.0.0/8',
    '2001:db8::/32',
    '192.0.2.1',
    '127.0.0.1:50051',
    '65000:100',
    '65000:1:2',
    'no-export',
    '/run/x.sock',
    './x.mjs',
    '0660',
    '',
    'unix:/run/gobgp.sock',
    '1.2.3.4:0',
    '[::1]:179',
  ),
  fc.integer({ min: -2, max: 70_000 }),
  fc.constantFrom(0, 1, 4, 6, 12, 254, 255, 4294967295, 4294967296, -1, 1.5, 1e300),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 12 }),
);
const { shape } = fc.letrec<{ shape: unknown }>((tie) => ({
  shape: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    SCALARS,
    fc.array(tie('shape'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 6 })), tie('shape'), { maxKeys: 5 }),
  ),
}));
/** Handler and sink items of any shape, with their discriminating key most of the time. */
const item = fc
  .tuple(fc.constantFrom('type', 'module', 'name', 'options'), fc.dictionary(fc.constantFrom(...KEYS), shape, { maxKeys: 4 }), shape)
  .map(([k, rest, v]) => ({ ...rest, [k]: k === 'type' ? (typeof v === 'string' ? v : 'filter') : v }));
const topLevel = fc
  .record(
    {
      handlers: fc.array(fc.oneof(item, shape), { maxLength: 3 }),
      sinks: fc.array(fc.oneof(item, shape), { maxLength: 3 }),
      rest: fc.dictionary(fc.constantFrom(...KEYS.slice(0, 8)), shape, { maxKeys: 4 }),
    },
    { requiredKeys: [] },
  )
  .map(({ rest, ...lists }) => ({ ...rest, ...lists }));

const EXAMPLE = readFileSync(join(packageRoot(), 'examples', 'rtreflect.yaml'), 'utf8');
const exampleData = parseYaml(EXAMPLE) as Record<string, unknown>;

/** Values nested `depth` levels deep, in lists or mappings (deeper, the test's own stringify runs out of stack). */
const nested = fc.tuple(fc.integer({ min: 1, max: 300 }), fc.boolean(), SCALARS).map(([depth, lists, leaf]) => {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = lists ? [v] : { a: v };
  return v;
});

/** The example config with a few of its values replaced or removed, at any depth. */
const mutatedExample = fc
  .array(fc.tuple(fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), fc.oneof(shape, nested, fc.constant(undefined))), { minLength: 1, maxLength: 3 })
  .map((edits) => {
    const data = structuredClone(exampleData) as unknown;
    for (const [steps, value] of edits) {
      // Walk down by index into the keys or items met, then replace (or delete) there.
      let parent = data as Record<string, unknown> | unknown[];
      for (let i = 0; ; i++) {
        const keys = Array.isArray(parent) ? parent.map((_, j) => j) : Object.keys(parent);
        if (keys.length === 0) break;
        const k = keys[steps[i]! % keys.length]!;
        const child = (parent as Record<string | number, unknown>)[k];
        if (i + 1 < steps.length && typeof child === 'object' && child !== null) {
          parent = child as Record<string, unknown>;
          continue;
        }
        if (value === undefined && !Array.isArray(parent)) delete parent[k as string];
        else (parent as Record<string | number, unknown>)[k] = value ?? null;
        break;
      }
    }
    return data;
  });

const YAML_CHARS = 'ab1:-[]{},&*!|>\'"#%@`?. \n\n\t'.split('');

test('text that is barely YAML: a config or a ConfigError, naming the file', opts, (t) => {
  const text = fc.oneof(
    fc.string({ unit: fc.constantFrom(...YAML_CHARS), maxLength: 120 }),
    fc.string({ unit: 'binary', maxLength: 60 }),
    fc.tuple(fc.constantFrom(...YAML_CHARS), fc.integer({ min: 1, max: 1500 })).map(([c, n]) => c.repeat(n)),
    // Nesting deeper than the YAML library's stack: in blocks, in flow, and in compact lists.
    fc
      .tuple(fc.constantFrom('a:', '- ', 'a: ['), fc.integer({ min: 1, max: 1500 }))
      .map(([c, n]) => Array.from({ length: n }, (_, i) => ' '.repeat(i) + c).join('\n')),
    fc.tuple(fc.constantFrom('[', '{a: ', '- '), fc.integer({ min: 500, max: 5000 })).map(([c, n]) => `sinks: ${c.repeat(n)}`),
  );
  checkProperty(
    fc.property(text, (s) => {
      load(s);
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

test("YAML of random shape with the schema's keys: a config or a ConfigError", opts, (t) => {
  checkProperty(
    fc.property(fc.oneof(topLevel, shape, nested), (data) => {
      load(stringify(data));
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

test('the example config with values replaced or removed: a config or a ConfigError', opts, (t) => {
  checkProperty(
    fc.property(mutatedExample, (data) => {
      load(stringify(data));
    }),
    CI_RUNS / 2,
    (m) => t.diagnostic(m),
  );
});

test('a config reads the same whatever its YAML layout: block or flow, quoted or plain, any indent', opts, (t) => {
  const layout = fc.record({ indent: fc.integer({ min: 1, max: 8 }), flow: fc.boolean(), quote: fc.boolean() });
  checkProperty(
    fc.property(fc.oneof(fc.constant(exampleData), mutatedExample), layout, (data, l) => {
      const a = load(stringify(data));
      // lineWidth 0: yaml 2.9's stringify corrupts long double-quoted strings it folds at deep indents.
      const text = stringify(data, {
        lineWidth: 0,
        indent: l.indent,
        collectionStyle: l.flow ? 'flow' : 'block',
        defaultStringType: l.quote ? 'QUOTE_DOUBLE' : 'PLAIN',
        defaultKeyType: 'PLAIN',
      });
      const b = load(text);
      if ('config' in a) {
        assert.ok('config' in b, `refused once laid out differently:\n${'issues' in b ? b.issues.join('\n') : ''}\n${text}`);
        assert.deepEqual({ ...b.config, warnings: b.config.warnings.length }, { ...a.config, warnings: a.config.warnings.length });
      } else {
        assert.ok('issues' in b, 'accepted once laid out differently');
        assert.equal(b.issues.length, a.issues.length, 'the same number of issues');
      }
    }),
    CI_RUNS / 4,
    (m) => t.diagnostic(m),
  );
});
