import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRtNames, parseProtocolList, resolveProtocol, resolveTable } from '../../src/kernel/rt-names.js';

test('built-in defaults when no files exist', () => {
  const n = loadRtNames({ dirs: ['/nonexistent-rtreflect'] });
  assert.equal(resolveProtocol(n, 'bird'), 12);
  assert.equal(resolveProtocol(n, 'zebra'), 11);
  assert.equal(resolveProtocol(n, 'keepalived'), 18);
  assert.equal(resolveProtocol(n, '186'), 186);
  assert.equal(n.protocolName(12), 'bird');
  assert.equal(n.protocolName(77), '77');
  assert.equal(resolveTable(n, 'main'), 254);
  assert.equal(resolveTable(n, '1000'), 1000);
  assert.equal(n.tableName(255), 'local');
});

test('files, drop-ins, hex numbers, comments; the first directory overrides the later ones', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rtreflect-rtnames-'));
  try {
    const etc = join(dir, 'etc'),
      usr = join(dir, 'usr');
    mkdirSync(join(etc, 'rt_tables.d'), { recursive: true });
    mkdirSync(join(usr, 'rt_protos.d'), { recursive: true });
    writeFileSync(join(usr, 'rt_protos'), '# protocols\n12\tbird\n0x63 openr # trailing\n200 vendor\n');
    writeFileSync(join(usr, 'rt_protos.d', 'x.conf'), '201 extra\n');
    writeFileSync(join(usr, 'rt_protos.d', 'ignored.txt'), '202 ignored\n');
    writeFileSync(join(etc, 'rt_protos'), '210 vendor\n');
    writeFileSync(join(etc, 'rt_tables'), '254 main\n');
    writeFileSync(join(etc, 'rt_tables.d', 'vrf.conf'), '1000 customers\n0x10000 big\nbad line\n');
    const n = loadRtNames({ dirs: [etc, usr] });
    assert.equal(resolveProtocol(n, 'extra'), 201);
    assert.equal(resolveProtocol(n, 'openr'), 99);
    assert.equal(resolveProtocol(n, 'vendor'), 210, '/etc overrides');
    assert.throws(() => resolveProtocol(n, 'ignored'), { code: 'ERR_UNKNOWN_PROTOCOL' });
    assert.equal(resolveTable(n, 'customers'), 1000);
    assert.equal(resolveTable(n, 'big'), 65536);
    assert.equal(n.tableName(1000), 'customers');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('clear errors for unknown names and out-of-range numbers', () => {
  const n = loadRtNames({ dirs: [] });
  assert.throws(
    () => resolveProtocol(n, 'xyz'),
    (e: any) => e.code === 'ERR_UNKNOWN_PROTOCOL' && /unknown routing protocol "xyz"; known: .*bird \(12\)/.test(e.message) && /zebra \(11\)/.test(e.message),
  );
  assert.throws(
    () => resolveProtocol(n, '256'),
    (e: any) => e.code === 'ERR_UNKNOWN_PROTOCOL' && /0\.\.255/.test(e.message),
  );
  assert.throws(() => resolveTable(n, '0'), { code: 'ERR_UNKNOWN_TABLE' });
  assert.throws(() => resolveTable(n, '4294967296'), { code: 'ERR_UNKNOWN_TABLE' });
  assert.throws(() => resolveTable(n, 'unspec'), { code: 'ERR_UNKNOWN_TABLE' });
  assert.throws(
    () => resolveTable(n, 'nope'),
    (e: any) => /unknown routing table "nope"; known: .*main \(254\)/.test(e.message),
  );
});

test('protocol lists', () => {
  const n = loadRtNames({ dirs: [] });
  assert.deepEqual(parseProtocolList(n, 'bird, static,12'), [12, 4]);
  assert.throws(() => parseProtocolList(n, ' , '), { code: 'ERR_UNKNOWN_PROTOCOL' });
  assert.throws(() => parseProtocolList(n, 'bird,foo'), /"foo"/);
});

test('FRR\'s drop-in (rt_protos.d/frr.conf): its names resolve to its numbers, "static" included, as ip route prints them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rtreflect-rtnames-'));
  try {
    mkdirSync(join(dir, 'rt_protos.d'));
    writeFileSync(join(dir, 'rt_protos'), '4\tstatic\n12\tbird\n');
    writeFileSync(join(dir, 'rt_protos.d', 'frr.conf'), '# frr\n\n186  bgp\n188  ospf\n194  sharp\n196  static\n');
    const n = loadRtNames({ dirs: [dir] });
    assert.deepEqual(parseProtocolList(n, 'bgp,static,ospf,sharp,bird'), [186, 196, 188, 194, 12]);
    assert.equal(n.protocolName(196), 'static');
    assert.equal(n.protocolName(4), 'static');
    assert.equal(resolveProtocol(n, '4'), 4, "the kernel's own static stays reachable by number");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
