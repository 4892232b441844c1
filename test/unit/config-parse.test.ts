import { test } from 'node:test';
import { packageRoot } from '../../src/util/package-info.js';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, loadConfig, DEFAULT_CONFIG_PATH, ConfigError } from '../../src/config/load-config.js';
import type { NameResolver } from '../../src/config/name-resolver.js';
import { RtreflectError } from '../../src/util/errors.js';

/** The lines of the ERR_CONFIG message parseConfig throws for `text`. */
function issues(text: string, names?: NameResolver): string[] {
  try {
    parseConfig(text, 'rt.yaml', names);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.code, 'ERR_CONFIG');
    assert.ok(e instanceof RtreflectError && e.userFacing);
    assert.equal(e.message.split('\n').length, e.issues.length, 'one line per issue');
    return e.message.split('\n');
  }
  assert.fail('config was accepted');
}

function hasIssue(lines: string[], re: RegExp): void {
  assert.ok(
    lines.some((l) => re.test(l)),
    `no issue matching ${re} in:\n${lines.join('\n')}`,
  );
}

test('an empty file gives the fully defaulted config', () => {
  const c = parseConfig('', '/etc/rtreflect/rtreflect.yaml');
  assert.equal(DEFAULT_CONFIG_PATH, '/etc/rtreflect/rtreflect.yaml');
  assert.deepEqual(c.source, {
    protocols: [12],
    tables: [254],
    families: [4, 6],
    receiveBufferBytes: 64 * 1024 * 1024,
    bpfFilter: true,
    overrunResyncMinIntervalMs: 1000,
  });
  assert.deepEqual(c.engine, { holdDown: { enabled: true, delayMs: 5000, threshold: 50, windowMs: 200 }, batchDelayMs: 0, resyncMinIntervalMs: 1000 });
  assert.deepEqual(c.handlers, []);
  assert.deepEqual(c.sinks, []);
  assert.deepEqual(c.control, { socket: '/run/rtreflect/control.sock', mode: 0o660 });
  assert.deepEqual(c.metrics, { listen: null });
  assert.deepEqual(c.log, { level: 'info' });
  assert.equal(c.baseDir, '/etc/rtreflect');
  assert.match(c.warnings.join('\n'), /no sinks configured/);
});

test('sinks get every default, named after their type', () => {
  const c = parseConfig('sinks:\n  - type: gobgp\n  - type: vpp\n    tables: { main: 0, "100": 7 }\n', 'rt.yaml');
  const [g, v] = c.sinks;
  assert.ok(g && g.type === 'gobgp' && v && v.type === 'vpp');
  assert.equal(g.name, 'gobgp');
  assert.equal(g.address, '127.0.0.1:50051');
  assert.equal(g.protoDir, '/usr/share/gocode/src/github.com/osrg/gobgp/api');
  assert.equal(g.batchSize, 1000);
  assert.deepEqual(g.ownership, { largeCommunity: '4294967294:0:1' });
  assert.deepEqual(g.shutdown, { withdraw: true, graceMs: 5000 });
  assert.equal(g.sidecar.enabled, false);
  assert.equal(v.name, 'vpp');
  assert.equal(v.socket, '/run/vpp/api.sock');
  assert.deepEqual(v.fibSource, { name: 'rtreflect', priority: 130 });
  assert.deepEqual(v.tables, { 254: 0, 100: 7 }, 'table names resolved to numbers');
  assert.deepEqual(v.shutdown, { withdraw: false, graceMs: 0 });
});

test('names resolve through the given resolver; an unknown name is an issue at its key', () => {
  const names: NameResolver = {
    protocol: (t) => {
      if (t === 'myproto') return 77;
      if (/^\d+$/.test(t)) return Number(t);
      throw new Error(`unknown protocol "${t}"`);
    },
    table: (t) => {
      if (t === 'main') return 254;
      if (t === 'blue') return 1000;
      if (/^\d+$/.test(t)) return Number(t);
      throw new Error(`unknown table "${t}"`);
    },
  };
  const c = parseConfig('source:\n  protocols: [myproto, 12]\n  tables: [blue]\n', 'rt.yaml', names);
  assert.deepEqual(c.source.protocols, [77, 12]);
  assert.deepEqual(c.source.tables, [1000]);
  const lines = issues('source:\n  protocols: [bird]\n', names);
  assert.deepEqual(lines, ['rt.yaml:2:15: source.protocols[0]: unknown protocol "bird"']);
});

test('"all" protocols or tables means no filtering (null)', () => {
  const c = parseConfig('source: { protocols: all, tables: all }', 'rt.yaml');
  assert.equal(c.source.protocols, null);
  assert.equal(c.source.tables, null);
});

test('an unknown key names the path and suggests the close valid key', () => {
  const lines = issues('sinks:\n  - type: gobgp\n    adress: 127.0.0.1:1\n');
  assert.deepEqual(lines, ['rt.yaml:3:5: sinks[0].adress: unknown key; did you mean "address"?']);
});

test('an unknown key with no close match lists the valid keys', () => {
  hasIssue(issues('log:\n  verbosity: 3\n'), /^rt\.yaml:2:3: log\.verbosity: unknown key; valid keys here: level, format$/);
});

test('wrong values give the path, what is valid and what was given; all issues are listed', () => {
  const lines = issues(['source:', '  families: [4, 5]', '  bpfFilter: "yes"', 'log:', '  level: verbose', 'sinks:', '  - type: gobgpd'].join('\n'));
  assert.deepEqual(lines, [
    'rt.yaml:2:17: source.families[1]: expected 4 or 6, got 5',
    'rt.yaml:3:3: source.bpfFilter: expected true or false, got "yes"',
    'rt.yaml:5:3: log.level: expected one of "trace", "debug", "info", "warn", "error", "fatal", "silent", got "verbose"',
    'rt.yaml:7:5: sinks[0].type: unknown sink type "gobgpd"; expected one of gobgp, vpp; did you mean "gobgp"?',
  ]);
});

test('YAML syntax errors give line and column', () => {
  const lines = issues('source:\n  families: [4, 6\nlog: {}\n');
  assert.match(lines[0]!, /^rt\.yaml:\d+:\d+: YAML syntax: /);
  const dup = issues('log: {}\nlog: {}\n');
  assert.deepEqual(dup, ['rt.yaml:2:1: YAML syntax: Map keys must be unique']);
});

test('impossible combinations are rejected at the key that causes them', () => {
  hasIssue(issues('sinks:\n  - type: gobgp\n  - type: gobgp\n'), /sinks\[1\]\.name: sink name "gobgp" is already used by sinks\[0\]/);
  hasIssue(
    issues('sinks:\n  - type: gobgp\n    address: unix:/run/gobgp.sock\n    sidecar: { enabled: true, global: { as: 65000, routerId: 192.0.2.1 } }\n'),
    /sinks\[0\]\.address: the gobgpd sidecar serves its API on TCP only/,
  );
  hasIssue(issues('sinks:\n  - type: gobgp\n    sidecar: { enabled: true }\n'), /sinks\[0\]\.sidecar\.global: required when the sidecar is enabled/);
  hasIssue(issues('engine:\n  holdDown: { enabled: true, delayMs: 0 }\n'), /engine\.holdDown\.delayMs: hold-down with delayMs 0 holds nothing/);
  assert.doesNotThrow(() => parseConfig('engine:\n  holdDown: { enabled: false, delayMs: 0 }\n', 'rt.yaml'));
  hasIssue(
    issues('handlers:\n  - type: prefix-list\n    entries: [{ action: permit, prefix: 10.0.0.0/8, ge: 4 }]\n'),
    /handlers\[0\]\.entries\[0\]\.ge: ge 4 is shorter than the prefix length 8 of 10\.0\.0\.0\/8; use ge 8\.\.32/,
  );
  hasIssue(
    issues('handlers:\n  - type: prefix-list\n    entries: [{ action: permit, prefix: 10.0.0.0/8, ge: 24, le: 16 }]\n'),
    /handlers\[0\]\.entries\[0\]\.le: le 16 is smaller than ge 24/,
  );
  hasIssue(issues('handlers:\n  - type: next-hop\n    address: 192.0.2.1\n    families: [6]\n'), /handlers\[0\]\.families: address 192\.0\.2\.1 is IPv4/);
  hasIssue(issues('handlers:\n  - type: filter\n  - type: filter\n'), /handlers\[1\]\.name: handler name "filter" is already used by handlers\[0\]/);
  hasIssue(issues('handlers:\n  - type: bgp-attributes\n    med: 5\n    medFromMetric: true\n'), /handlers\[0\]\.med: med and medFromMetric/);
});

test('handler types and options are checked with their paths', () => {
  hasIssue(issues('handlers:\n  - type: prefixlist\n'), /handlers\[0\]\.type: unknown handler type "prefixlist".*did you mean "prefix-list"\?/);
  hasIssue(issues('handlers:\n  - type: filter\n    protocol: [bird]\n'), /handlers\[0\]\.protocol: unknown key; did you mean "protocols"\?/);
  hasIssue(
    issues('handlers:\n  - type: bgp-attributes\n    communities: ["65536:1", "no-exprt"]\n'),
    /handlers\[0\]\.communities\[0\]: "65536:1" is not a community/,
  );
  hasIssue(
    issues('handlers:\n  - type: bgp-attributes\n    largeCommunities: ["1:2"]\n'),
    /handlers\[0\]\.largeCommunities\[0\]: "1:2" is not a large community/,
  );
  hasIssue(
    issues(
      'handlers:\n  - type: health-gate\n    services:\n      - prefix: 10.0.0.1/24\n        checks: [{ type: tcp, host: 127.0.0.1, port: 70000 }]\n        minHealthy: 2\n',
    ),
    /handlers\[0\]\.services\[0\]\.prefix: "10\.0\.0\.1\/24" has host bits set; did you mean 10\.0\.0\.0\/24\?/,
  );
  const lines = issues(
    'handlers:\n  - type: health-gate\n    services:\n      - prefix: 10.0.0.1/32\n        checks: [{ type: tcp, host: 127.0.0.1, port: 70000 }, { type: htp, url: x }]\n        minHealthy: 3\n',
  );
  hasIssue(lines, /services\[0\]\.checks\[0\]\.port: must be at most 65535, got 70000/);
  hasIssue(lines, /services\[0\]\.checks\[1\]\.type: unknown check type "htp".*did you mean "http"\?/);
});

test('well-known communities map to their numbers; module handlers are named after their file', () => {
  const c = parseConfig(
    'handlers:\n  - type: bgp-attributes\n    communities: [no-export, blackhole, "65000:1"]\n  - module: ./x/tag-it.mjs\n    options: { a: 1 }\n',
    '/etc/rt/rt.yaml',
  );
  assert.deepEqual(c.handlers[0]!.options.communities, ['65535:65281', '65535:666', '65000:1']);
  assert.deepEqual(c.handlers[1], { name: 'tag-it', type: 'module', module: './x/tag-it.mjs', options: { a: 1 } });
});

test('loadConfig names a missing or unreadable file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rtr-config-'));
  try {
    await assert.rejects(
      loadConfig(join(dir, 'nope.yaml')),
      (e: RtreflectError) => e.code === 'ERR_CONFIG' && e.message.includes(join(dir, 'nope.yaml')) && /does not exist/.test(e.message),
    );
    await assert.rejects(loadConfig(dir), /is a directory/);
    const f = join(dir, 'rt.yaml');
    await writeFile(f, 'log: { level: debug }\n');
    assert.equal((await loadConfig(f)).log.level, 'debug');
    if (process.getuid?.() !== 0) {
      await chmod(f, 0o000);
      await assert.rejects(loadConfig(f), /is not readable/);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('examples/rtreflect.yaml is valid and warning-free', async () => {
  const c = await loadConfig(join(packageRoot(), 'examples/rtreflect.yaml'));
  assert.deepEqual(c.warnings, []);
  assert.deepEqual(
    c.handlers.map((h) => h.type),
    ['filter', 'prefix-list', 'vrf-map', 'health-gate', 'next-hop', 'bgp-attributes', 'module'],
  );
  assert.deepEqual(
    c.sinks.map((s) => s.name),
    ['gobgp', 'vpp'],
  );
});

test('suspicious but possible combinations are warnings, not errors', () => {
  const c = parseConfig('handlers:\n  - type: vrf-map\n    tables: { "100": blue }\nsinks:\n  - type: vpp\n    vrfTables: { red: 5 }\n', 'rt.yaml');
  const w = c.warnings.join('\n');
  assert.match(w, /handlers\[0\]\.tables: table 100 is not in source\.tables/);
  assert.match(w, /sinks\[0\]\.vrfTables\.red: no handler puts routes in VRF "red"/);
  assert.match(w, /sinks\[0\]\.vrfTables: VRF "blue" \(from a vrf-map handler\) has no VPP table/);
});

test('sidecar, control and metrics settings are parsed and checked', () => {
  const c = parseConfig(
    [
      'sinks:',
      '  - type: gobgp',
      '    sidecar:',
      '      enabled: true',
      '      global: { as: 65000, routerId: 192.0.2.1 }',
      '      neighbors: [{ address: "2001:DB8::2", peerAs: 65001 }]',
      'control: { group: rtreflect, mode: "0640" }',
      'metrics: { listen: "[::1]:9469" }',
    ].join('\n'),
    'rt.yaml',
  );
  const g = c.sinks[0]!;
  assert.ok(g.type === 'gobgp' && g.sidecar.enabled);
  assert.deepEqual(g.sidecar.global, { as: 65000, routerId: '192.0.2.1', listenPort: 179 });
  assert.deepEqual(g.sidecar.neighbors, [{ address: '2001:db8::2', peerAs: 65001, addPaths: false }]);
  assert.equal(c.control.mode, 0o640);
  assert.equal(c.control.group, 'rtreflect');
  assert.equal(c.metrics.listen, '[::1]:9469');
  const lines = issues(
    'sinks:\n  - type: gobgp\n    sidecar: { enabled: true, global: { as: 65000, routerId: "2001:db8::1" } }\ncontrol: { mode: "rw" }\nmetrics: { listen: "9469" }\n',
  );
  hasIssue(lines, /sinks\[0\]\.sidecar\.global\.routerId: must be an IPv4 address \(BGP router id\)$/m);
  hasIssue(lines, /control\.mode: expected an octal file mode like "0660", got "rw"/);
  hasIssue(lines, /metrics\.listen: expected "host:port" or "\[ipv6\]:port", got "9469"/);
});

test('a module handler whose options are not a mapping is a config error, not a crash', () => {
  // Found by the property tests: this threw a TypeError from path.extname (the refusal was taken for the parsed item).
  for (const options of ['[1]', '5', 'x']) {
    hasIssue(issues(`handlers:\n  - module: ./x.mjs\n    options: ${options}\n`), /rt\.yaml:3:5: handlers\[0\]\.options: expected a mapping/);
  }
});

test('YAML nested deeper than any config is refused where it gets too deep, every time', () => {
  // Found by the property tests: the YAML library's stack overflow on deep nesting came back as a syntax
  // error, but the next deep file then aborted the whole process (V8 running out of memory compiling a regexp).
  const deep = ['['.repeat(2000), '['.repeat(2000) + ']'.repeat(2000), Array.from({ length: 100 }, (_, i) => `${' '.repeat(i)}a:`).join('\n')];
  for (const text of [...deep, ...deep]) hasIssue(issues(text), /rt\.yaml:(1:65|65:65): YAML nested deeper than 64 levels/);
  const ok = `handlers:\n  - module: ./x.mjs\n    options: { a: ${'['.repeat(55)}${']'.repeat(55)} }\n`;
  assert.equal(parseConfig(ok, 'rt.yaml').handlers.length, 1, 'options nested 60 levels deep are fine');
});
