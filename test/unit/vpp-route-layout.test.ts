import assert from 'node:assert/strict';
import type { ApiDefsData } from '../../src/sinks/vpp/vpp-api-defs.js';
import { VppCodec, type VppMessage } from '../../src/sinks/vpp/vpp-codec.js';
import { FieldLocator } from '../../src/sinks/vpp/vpp-field-locator.js';
import { RouteDetailsReader } from '../../src/sinks/vpp/vpp-route-details.js';
import { RouteLayout, writeAddress } from '../../src/sinks/vpp/vpp-route-layout.js';
import { FrameBatch, FrameReader } from '../../src/sinks/vpp/vpp-transport.js';
import { RtreflectError } from '../../src/util/errors.js';
import { addrToBytes } from '../../src/util/ip.js';
import { fixtureDefs, vppTest, vppDefsSkip } from '../helpers/vpp.js';

const codec = vppDefsSkip ? (undefined as unknown as VppCodec) : new VppCodec(fixtureDefs());
const NO_IF = 0xffffffff;

interface P {
  sw: number;
  weight: number;
  preference: number;
  type: number;
  nh?: string;
}
interface R {
  isAdd: boolean;
  table: number;
  prefix: string;
  src: number;
  paths: P[];
}

const famOf = (a: string): 4 | 6 => (a.includes(':') ? 6 : 4);

/** The message as the sink builds it for the generic encoder. */
function generic(name: string, r: R, v2: boolean): Buffer {
  const [addr, len] = r.prefix.split('/') as [string, string];
  const fam = famOf(addr);
  const un = (f: 4 | 6, b: Uint8Array) => (f === 4 ? { ip4: b } : { ip6: b });
  const route: VppMessage = {
    table_id: r.table,
    stats_index: 0,
    prefix: { address: { af: fam === 4 ? 0 : 1, un: un(fam, addrToBytes(addr)) }, len: Number(len) },
    paths: r.paths.map((p) => {
      const nf = p.nh ? famOf(p.nh) : fam;
      return {
        sw_if_index: p.sw,
        table_id: r.table,
        rpf_id: 0,
        weight: p.weight,
        preference: p.preference,
        type: p.type,
        flags: 0,
        proto: nf === 4 ? 0 : 1,
        nh: { address: un(nf, p.nh ? addrToBytes(p.nh) : new Uint8Array(nf === 4 ? 4 : 16)), via_label: 0, obj_id: 0, classify_table_index: NO_IF },
        n_labels: 0,
      };
    }),
  };
  if (v2) route.src = r.src;
  return codec.encode(name, { is_add: r.isAdd, is_multipath: false, route });
}

function compiled(layout: RouteLayout, r: R): Buffer {
  const buf = Buffer.alloc(layout.size(r.paths.length) + 8, 0xaa).subarray(4); // dirty surroundings: every byte must be written
  const [addr, len] = r.prefix.split('/') as [string, string];
  let off = layout.writeRoute(buf, 0, r.isAdd, r.table, famOf(addr), addr, Number(len), r.src, r.paths.length);
  for (const p of r.paths) {
    const nf = p.nh ? famOf(p.nh) : famOf(addr);
    layout.writePath(buf, off, r.table, p.sw, p.weight, p.preference, p.type, nf === 4 ? 0 : 1, p.nh ? addrToBytes(p.nh) : undefined);
    off += layout.pathSize;
  }
  assert.equal(off, layout.size(r.paths.length));
  return buf.subarray(0, off);
}

const via = (nh: string | undefined, over: Partial<P> = {}): P => ({ sw: NO_IF, weight: 1, preference: 0, type: 0, ...(nh ? { nh } : {}), ...over });
const CASES: [string, R][] = [
  ['IPv4, one path', { isAdd: true, table: 0, prefix: '20.0.1.0/24', src: 17, paths: [via('10.99.0.10')] }],
  ['IPv6, one path', { isAdd: true, table: 0, prefix: '2a00:0:1::/48', src: 17, paths: [via('2001:db8:99::10', { sw: 1 })] }],
  [
    'IPv4, ECMP with weights',
    {
      isAdd: true,
      table: 7,
      prefix: '192.0.2.0/24',
      src: 3,
      paths: [via('10.99.0.1', { weight: 3, sw: 2 }), via('10.99.0.3', { weight: 255 }), via('10.99.0.4', { weight: 1, preference: 2 })],
    },
  ],
  [
    'IPv6 via an IPv4 next hop, and an interface-only path',
    { isAdd: true, table: 0, prefix: '2001:db8::/32', src: 17, paths: [via('10.0.0.1'), via(undefined, { sw: 4 })] },
  ],
  ['drop', { isAdd: true, table: 0, prefix: '198.51.100.0/24', src: 17, paths: [via(undefined, { type: 2 })] }],
  ['unreachable', { isAdd: true, table: 100, prefix: '2001:db8:1::/64', src: 17, paths: [via(undefined, { type: 5 })] }],
  ['prohibit', { isAdd: true, table: 0, prefix: '0.0.0.0/0', src: 17, paths: [via(undefined, { type: 6 })] }],
  ['delete IPv4', { isAdd: false, table: 0, prefix: '20.0.1.0/24', src: 17, paths: [] }],
  ['delete IPv6 in a table', { isAdd: false, table: 4000000000, prefix: '2a00:ffff:1::/48', src: 255, paths: [] }],
];

for (const [name, v2] of [
  ['ip_route_add_del_v2', true],
  ['ip_route_add_del', false],
] as const) {
  vppTest(`${name}: the compiled layout writes the generic encoder's bytes`, () => {
    const layout = new RouteLayout(codec, name);
    assert.equal(layout.hasSrc, v2);
    for (const [what, r] of CASES) {
      assert.equal(compiled(layout, r).toString('hex'), generic(name, r, v2).toString('hex'), `${name}: ${what}`);
    }
  });
}

vppTest('offsets come from the definitions: header fields and the route add reply', () => {
  const L = new FieldLocator(codec);
  assert.deepEqual(L.int('ip_route_add_del_v2', ['context']), { offset: 6, size: 4, signed: false });
  assert.deepEqual(L.int('ip_route_add_del_v2_reply', ['retval']), { offset: 6, size: 4, signed: true });
  // Through the variable array: fields of its first element.
  const fixed = L.locate('ip_route_add_del_v2', ['route', 'paths']);
  assert.equal(fixed.kind, 'vararray');
  assert.equal(L.int('ip_route_add_del_v2', ['route', 'paths', 'sw_if_index']).offset, fixed.offset);
  assert.throws(() => L.int('ip_route_add_del_v2', ['route', 'prefix']), /not an integer/);
  assert.throws(() => L.locate('ip_route_add_del_v2', ['route', 'nope']), /has no field nope/);
});

/** The fixture definitions with the route type changed by `edit` (a VPP whose messages differ). */
function editedDefs(edit: (fields: { type: string; name: string; length?: number; lengthFrom?: string }[]) => void): ApiDefsData {
  const d = fixtureDefs();
  const types = new Map(d.types);
  const rt = d.types.get('ip_route_v2')!;
  const fields = rt.fields.map((f) => ({ ...f }));
  edit(fields);
  types.set('ip_route_v2', { name: 'ip_route_v2', fields });
  return { ...d, types };
}

vppTest('definitions of another shape are refused with a clear error, never misencoded', () => {
  const noLen = new VppCodec(
    editedDefs((f) => {
      f.splice(
        f.findIndex((x) => x.name === 'n_paths'),
        1,
      );
      f[f.length - 1]!.lengthFrom = undefined;
    }),
  );
  assert.throws(
    () => new RouteLayout(noLen, 'ip_route_add_del_v2'),
    (e: unknown) =>
      e instanceof RtreflectError && e.code === 'ERR_VPP_API_DEFS' && /ip_route_add_del_v2 does not have the shape.*counted by n_paths/.test(e.message),
  );
  const tail = new VppCodec(
    editedDefs((f) => {
      f.push({ type: 'u32', name: 'extra' });
    }),
  );
  assert.throws(() => new RouteLayout(tail, 'ip_route_add_del_v2'), /variable size|ends the message/);
  const wide = new VppCodec(
    editedDefs((f) => {
      f.find((x) => x.name === 'table_id')!.type = 'u64';
    }),
  );
  assert.throws(() => new RouteLayout(wide, 'ip_route_add_del_v2'), /route\.table_id is not an integer of 1, 2 or 4 bytes/);
  // A new field the layout does not know is written with its default, as the generic encoder does.
  const more = new VppCodec(
    editedDefs((f) => {
      f.splice(2, 0, { type: 'u16', name: 'future' });
    }),
  );
  const l = new RouteLayout(more, 'ip_route_add_del_v2');
  const buf = Buffer.alloc(l.size(0));
  l.writeRoute(buf, 0, false, 5, 4, '10.0.0.0', 8, 1, 0);
  const back = more.decode('ip_route_add_del_v2', buf).route as VppMessage;
  assert.equal(back.table_id, 5);
  assert.equal(back.future, 0);
  assert.equal(back.src, 1);
});

vppTest('addresses are written in place, and bad text is refused', () => {
  const b = Buffer.alloc(16);
  writeAddress(b, 0, 4, '192.0.2.255');
  assert.deepEqual([...b.subarray(0, 4)], [192, 0, 2, 255]);
  writeAddress(b, 0, 6, '2001:db8::1');
  assert.equal(b.toString('hex'), '20010db8000000000000000000000001');
  for (const bad of ['1.2.3', '1.2.3.4.5', '256.0.0.1', '1..2.3', 'a.b.c.d', '']) {
    assert.throws(
      () => writeAddress(Buffer.alloc(4), 0, 4, bad),
      (e: unknown) => e instanceof RtreflectError,
      bad,
    );
  }
  assert.throws(() => writeAddress(Buffer.alloc(16), 0, 6, '10.0.0.1'), /not an IPv6 address/);
  for (const a of [
    '::',
    '::1',
    '1::',
    'fe80::1:2',
    '2a00:0:1::',
    '2001:DB8:0:0:0:0:0:1',
    '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6::8',
    '1::3:4:5:6:7:8',
    '::ffff:10.1.2.3',
    'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
  ]) {
    const got = Buffer.alloc(16, 0xaa);
    writeAddress(got, 0, 6, a);
    assert.equal(got.toString('hex'), Buffer.from(addrToBytes(a)).toString('hex'), a);
  }
  for (const bad of [':', ':1', '1:', '1:2', '1:::2', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', 'g::1', '']) {
    assert.throws(
      () => writeAddress(Buffer.alloc(16), 0, 6, bad),
      (e: unknown) => e instanceof RtreflectError,
      bad,
    );
  }
});

vppTest('a frame batch lays frames out for one write, and drops a frame left half written', () => {
  const b = new FrameBatch(16);
  b.addPayload(Buffer.from([1, 2, 3]));
  const at = b.add(2);
  b.buf[at] = 9;
  b.buf[at + 1] = 8;
  b.add(5); // a route that failed half way through
  b.truncate(2);
  b.addPayload(Buffer.alloc(300, 7)); // grows the buffer
  assert.equal(b.count, 3);
  const got = new FrameReader().push(b.buf.subarray(0, b.frameStart(b.count)));
  assert.deepEqual(
    got.map((p) => p.toString('hex')),
    ['010203', '0908', '07'.repeat(300)],
  );
});

vppTest('route details are read in place as the generic decoder reads them, and a short one is refused', () => {
  for (const name of ['ip_route_v2_details', 'ip_route_details']) {
    const r = new RouteDetailsReader(codec, name);
    const b = codec.encode(name, {
      route: {
        table_id: 7,
        src: 3,
        prefix: { address: { af: 1, un: { ip6: addrToBytes('2001:db8::') } }, len: 48 },
        paths: [
          { sw_if_index: 2, weight: 4, preference: 1, type: 0, proto: 1, nh: { address: { ip6: addrToBytes('2001:db8::9') } } },
          { type: 2, weight: 1 },
        ],
      },
    });
    const d = { table: 0, af: 0, addrOffset: 0, len: 0, src: 0, nPaths: 0 };
    r.route(b, d);
    assert.deepEqual([d.table, d.af, d.len, d.src, d.nPaths], [7, 1, 48, name === 'ip_route_v2_details' ? 3 : 0, 2]);
    assert.equal(b.subarray(d.addrOffset, d.addrOffset + 16).toString('hex'), '20010db8000000000000000000000000');
    const p = { type: 0, proto: 0, sw: 0, weight: 0, preference: 0, nhOffset: 0 };
    r.path(b, 0, p);
    assert.deepEqual([p.type, p.proto, p.sw, p.weight, p.preference], [0, 1, 2, 4, 1]);
    assert.equal(b.subarray(p.nhOffset, p.nhOffset + 16).toString('hex'), '20010db8000000000000000000000009');
    r.path(b, 1, p);
    assert.deepEqual([p.type, p.weight], [2, 1]);
    for (const cut of [10, b.length - 1]) {
      assert.throws(
        () => r.route(b.subarray(0, cut), d),
        (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_VPP_DECODE' && e.message.includes(`is truncated at offset ${cut}:`),
      );
    }
  }
});
