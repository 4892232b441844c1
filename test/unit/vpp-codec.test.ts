import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadApiDefs, nameCrc } from '../../src/sinks/vpp/vpp-api-defs.js';
import { VppCodec, type VppMessage } from '../../src/sinks/vpp/vpp-codec.js';
import { RtreflectError } from '../../src/util/errors.js';
import { fixtureDefs, vppTest, vppDefsSkip } from '../helpers/vpp.js';

const codec = vppDefsSkip ? (undefined as unknown as VppCodec) : new VppCodec(fixtureDefs());
const ip4 = (s: string) => Uint8Array.from(s.split('.').map(Number));
const ip6 = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));
const U = (n: number) => new Uint8Array(n);

/** A fib_path as decode returns it (unions come back with every member). */
function path(over: VppMessage, nh4?: Uint8Array): VppMessage {
  const raw16 = U(16);
  if (nh4) raw16.set(nh4);
  return {
    sw_if_index: 0xffffffff,
    table_id: 0,
    rpf_id: 0,
    weight: 1,
    preference: 0,
    type: 0,
    flags: 0,
    proto: 0,
    nh: { address: { ip4: raw16.slice(0, 4), ip6: raw16 }, via_label: 0, obj_id: 0, classify_table_index: 0xffffffff },
    n_labels: 0,
    label_stack: Array.from({ length: 16 }, () => ({ is_uniform: 0, label: 0, ttl: 0, exp: 0 })),
    ...over,
  };
}

function roundTrip(name: string, value: VppMessage): VppMessage {
  const out = codec.decode(name, codec.encode(name, value));
  assert.deepEqual(out, value, `${name} round trip`);
  return out;
}

vppTest('every message rtreflect uses round-trips', () => {
  const v4addr = { af: 0, un: { ip4: ip4('10.1.0.0'), ip6: Uint8Array.from([10, 1, 0, 0, ...U(12)]) } };
  const v6raw = ip6('20010db8000000000000000000000000');
  const v6addr = { af: 1, un: { ip4: v6raw.slice(0, 4), ip6: v6raw } };
  const table = { table_id: 100, is_ip6: false, name: 'rtreflect' };
  const cases: [string, VppMessage][] = [
    ['sockclnt_create', { _vl_msg_id: 15, context: 0, name: 'rtreflect-vpp' }],
    [
      'sockclnt_create_reply',
      {
        _vl_msg_id: 16,
        client_index: 0,
        context: 0,
        response: 0,
        index: 3,
        count: 2,
        message_table: [
          { index: 1, name: 'control_ping_51077d14' },
          { index: 2, name: 'ip_route_add_del_v2_521ef330' },
        ],
      },
    ],
    ['sockclnt_delete', { _vl_msg_id: 20, client_index: 3, context: 9, index: 3 }],
    ['control_ping', { _vl_msg_id: 20, client_index: 3, context: 9 }],
    ['control_ping_reply', { _vl_msg_id: 21, context: 9, retval: 0, client_index: 3, vpe_pid: 4242 }],
    ['fib_source_add', { _vl_msg_id: 22, client_index: 3, context: 1, src: { priority: 130, id: 0, name: 'rtreflect' } }],
    ['fib_source_add_reply', { _vl_msg_id: 23, context: 1, retval: 0, id: 17 }],
    ['fib_source_dump', { _vl_msg_id: 24, client_index: 3, context: 1 }],
    ['fib_source_details', { _vl_msg_id: 25, context: 1, src: { priority: 130, id: 17, name: 'rtreflect' } }],
    ['ip_table_add_del', { _vl_msg_id: 26, client_index: 3, context: 2, is_add: true, table }],
    ['ip_table_add_del_reply', { _vl_msg_id: 27, context: 2, retval: 0 }],
    ['ip_table_dump', { _vl_msg_id: 28, client_index: 3, context: 2 }],
    ['ip_table_details', { _vl_msg_id: 29, context: 2, table }],
    [
      'ip_route_add_del_v2',
      {
        _vl_msg_id: 30,
        client_index: 3,
        context: 5,
        is_add: true,
        is_multipath: false,
        route: {
          table_id: 0,
          stats_index: 0,
          prefix: { address: v4addr, len: 16 },
          n_paths: 2,
          src: 17,
          paths: [path({ weight: 3, sw_if_index: 1 }, ip4('10.99.0.1')), path({ weight: 1, preference: 2 }, ip4('10.99.0.3'))],
        },
      },
    ],
    ['ip_route_add_del_v2_reply', { _vl_msg_id: 31, context: 5, retval: -3, stats_index: 0xffffffff }],
    ['ip_route_v2_dump', { _vl_msg_id: 32, client_index: 3, context: 6, src: 17, table: { table_id: 0, is_ip6: true, name: '' } }],
    [
      'ip_route_v2_details',
      {
        _vl_msg_id: 33,
        context: 6,
        route: { table_id: 0, stats_index: 12, prefix: { address: v6addr, len: 32 }, n_paths: 1, src: 17, paths: [path({ type: 2, proto: 1 })] },
      },
    ],
    [
      'ip_route_add_del',
      {
        _vl_msg_id: 34,
        client_index: 3,
        context: 7,
        is_add: false,
        is_multipath: false,
        route: { table_id: 5, stats_index: 0, prefix: { address: v4addr, len: 24 }, n_paths: 0, paths: [] },
      },
    ],
    ['ip_route_dump', { _vl_msg_id: 35, client_index: 3, context: 7, table }],
    [
      'ip_route_details',
      { _vl_msg_id: 36, context: 7, route: { table_id: 5, stats_index: 1, prefix: { address: v4addr, len: 24 }, n_paths: 1, paths: [path({})] } },
    ],
    ['sw_interface_dump', { _vl_msg_id: 37, client_index: 3, context: 8, sw_if_index: 0xffffffff, name_filter_valid: true, name_filter: 'host-' }],
    ['lcp_itf_pair_get', { _vl_msg_id: 38, client_index: 3, context: 9, cursor: 0 }],
    ['lcp_itf_pair_get_reply', { _vl_msg_id: 39, context: 9, retval: -165, cursor: 4 }],
    [
      'lcp_itf_pair_details',
      { _vl_msg_id: 40, context: 9, phy_sw_if_index: 1, host_sw_if_index: 2, vif_index: 12, host_if_name: 'eth1', host_if_type: 0, netns: 'dataplane' },
    ],
  ];
  for (const [name, v] of cases) roundTrip(name, v);
});

vppTest('sw_interface_details round-trips (fixed u8 arrays, u32 arrays, fixed strings)', () => {
  const d = codec.decode(
    'sw_interface_details',
    codec.encode('sw_interface_details', {
      interface_name: 'host-vpp0',
      l2_address: Uint8Array.from([2, 0, 0, 0, 0, 1]),
      mtu: [1500, 1500, 0, 0],
      sw_if_index: 1,
    }),
  );
  assert.equal(d.interface_name, 'host-vpp0');
  assert.deepEqual(d.l2_address, Uint8Array.from([2, 0, 0, 0, 0, 1]));
  assert.deepEqual(d.mtu, [1500, 1500, 0, 0]);
  assert.equal(d.sw_if_index, 1);
});

vppTest('wire layout: big-endian, packed, as VPP expects', () => {
  const b = codec.encode('control_ping', { _vl_msg_id: 0x1234, client_index: 7, context: 0x01020304 });
  assert.deepEqual([...b], [0x12, 0x34, 0, 0, 0, 7, 1, 2, 3, 4]);
  // sockclnt_create: u16 15, u32 context, char name[64]
  const s = codec.encode('sockclnt_create', { _vl_msg_id: 15, context: 1, name: 'ab' });
  assert.equal(s.length, 2 + 4 + 64);
  assert.deepEqual([...s.subarray(0, 9)], [0, 15, 0, 0, 0, 1, 0x61, 0x62, 0]);
  // Variable string: u32 length + bytes.
  const d = codec.encode('sw_interface_dump', { _vl_msg_id: 1, name_filter: 'xyz' });
  assert.deepEqual([...d.subarray(d.length - 7)], [0, 0, 0, 3, 0x78, 0x79, 0x7a]);
  // Defaults from the definitions: sw_if_index defaults to ~0, is_add to true.
  assert.equal(codec.decode('sw_interface_dump', d).sw_if_index, 0xffffffff);
  assert.equal(codec.decode('ip_table_add_del', codec.encode('ip_table_add_del', {})).is_add, true);
});

vppTest('a variable array fills in its length field, and a wrong one is refused', () => {
  const m = codec.decode('ip_route_add_del_v2', codec.encode('ip_route_add_del_v2', { route: { paths: [{}, {}, {}] } }));
  assert.equal((m.route as VppMessage).n_paths, 3);
  assert.equal(((m.route as VppMessage).paths as unknown[]).length, 3);
  assert.throws(() => codec.encode('ip_route_add_del_v2', { route: { n_paths: 1, paths: [{}, {}] } }), /n_paths is 1 but paths has 2/);
});

vppTest('unions take the size of their largest member and accept one member', () => {
  const a = codec.encode('ip_route_add_del_v2', { route: { prefix: { address: { af: 0, un: { ip4: ip4('192.0.2.0') } }, len: 24 } } });
  const b = codec.encode('ip_route_add_del_v2', { route: { prefix: { address: { af: 1, un: { ip6: ip6('20010db8000000000000000000000001') } }, len: 128 } } });
  assert.equal(a.length, b.length);
  const un = ((codec.decode('ip_route_add_del_v2', a).route as VppMessage).prefix as { address: { un: { ip4: Uint8Array; ip6: Uint8Array } } }).address.un;
  assert.deepEqual(un.ip4, ip4('192.0.2.0'));
  assert.deepEqual(un.ip6.subarray(4), U(12));
});

vppTest('enums accept their value names and refuse unknown ones', () => {
  const p = (t: unknown) => codec.encode('ip_route_add_del_v2', { route: { paths: [{ type: t }] } });
  const dec = (b: Buffer) => ((codec.decode('ip_route_add_del_v2', b).route as VppMessage).paths as VppMessage[])[0]!.type;
  assert.equal(dec(p('FIB_API_PATH_TYPE_DROP')), 2);
  assert.equal(dec(p(6)), 6);
  assert.throws(
    () => p('FIB_API_PATH_TYPE_NOPE'),
    (e: unknown) => e instanceof RtreflectError && /no value named FIB_API_PATH_TYPE_NOPE/.test(e.message),
  );
});

vppTest('bad values are refused with the field named', () => {
  assert.throws(() => codec.encode('fib_source_add', { src: { name: 'x'.repeat(64) } }), /src\.name is 64 bytes long; at most 63 fit/);
  assert.throws(() => codec.encode('control_ping', { context: -1 }), /field context must be an integer in 0\.\.4294967295/);
  assert.throws(
    () => codec.encode('ip_route_add_del_v2', { route: { prefix: { address: { un: { ip4: U(5) } } } } }),
    /route\.prefix\.address\.un\.ip4 is 5 bytes; at most 4/,
  );
  assert.throws(
    () => codec.encode('no_such_message', {}),
    (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_VPP_API_DEFS',
  );
});

vppTest('truncated replies give ERR_VPP_DECODE at every cut, never a crash', () => {
  const full = codec.encode('ip_route_v2_details', { context: 1, route: { n_paths: 2, paths: [{}, {}] } });
  for (let cut = 0; cut < full.length; cut++) {
    assert.throws(
      () => codec.decode('ip_route_v2_details', full.subarray(0, cut)),
      (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_VPP_DECODE' && /ip_route_v2_details is truncated/.test(e.message),
      `cut at ${cut}`,
    );
  }
});

vppTest('a count larger than the bytes present is refused before allocating', () => {
  const b = codec.encode('sockclnt_create_reply', { count: 1, message_table: [{ index: 1, name: 'x' }] });
  b.writeUInt16BE(60000, 18); // count
  assert.throws(() => codec.decode('sockclnt_create_reply', b), /message_table at offset 20 claims 60000 element\(s\)/);
  const s = codec.encode('sw_interface_dump', { name_filter: 'abc' });
  s.writeUInt32BE(0x7fffffff, s.length - 7);
  assert.throws(
    () => codec.decode('sw_interface_dump', s),
    (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_VPP_DECODE',
  );
});

vppTest('random bytes decode or fail with RtreflectError only', () => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (const name of ['ip_route_v2_details', 'sockclnt_create_reply', 'lcp_itf_pair_details', 'sw_interface_details']) {
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(Array.from({ length: Math.floor(rnd() * 400) }, () => Math.floor(rnd() * 256)));
      try {
        codec.decode(name, b);
      } catch (e) {
        assert.ok(e instanceof RtreflectError && e.code === 'ERR_VPP_DECODE', `${name}: ${String(e)}`);
      }
    }
  }
});

vppTest('decode can step over fields it does not need', () => {
  const c = new VppCodec(fixtureDefs(), { skipOnDecode: ['label_stack'] });
  const b = c.encode('ip_route_v2_details', { route: { n_paths: 1, paths: [{ weight: 7 }] } });
  const p = ((c.decode('ip_route_v2_details', b).route as VppMessage).paths as VppMessage[])[0]!;
  assert.equal(p.weight, 7);
  assert.equal(p.label_stack, undefined);
});

vppTest('definitions: name_crc keys, and clear errors for a bad apiDir', () => {
  const defs = fixtureDefs();
  assert.equal(nameCrc('ip_route_add_del', defs.messages.get('ip_route_add_del')!.crc), 'ip_route_add_del_b8ecfe0d');
  assert.throws(() => loadApiDefs('/nonexistent/vpp/api'), /VPP API definitions directory \/nonexistent\/vpp\/api cannot be read.*apiDir/);
  const dir = mkdtempSync(join(tmpdir(), 'rtr-vppdefs-'));
  try {
    assert.throws(() => loadApiDefs(dir), /no \*\.api\.json files under/);
    mkdirSync(join(dir, 'core'));
    writeFileSync(join(dir, 'core', 'x.api.json'), '{"messages": [["m", ["u16", "_vl_msg_id"]]]}');
    assert.throws(() => loadApiDefs(dir), /x\.api\.json: message m has no crc/);
    writeFileSync(join(dir, 'core', 'x.api.json'), '{not json');
    assert.throws(() => loadApiDefs(dir), /x\.api\.json: not valid JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

vppTest('a reply cut inside a counted array names the offset where the array starts', () => {
  // Found by the property tests: a truncated sockclnt_create_reply named no offset, unlike every other cut.
  const full = codec.encode('sockclnt_create_reply', { count: 1, message_table: [{ index: 1, name: 'x' }] });
  assert.throws(
    () => codec.decode('sockclnt_create_reply', full.subarray(0, 20)),
    (e: unknown) =>
      e instanceof RtreflectError &&
      e.code === 'ERR_VPP_DECODE' &&
      /message_table at offset 20 claims 1 element\(s\) of 66\+ bytes, 0 byte\(s\) left/.test(e.message),
  );
});
