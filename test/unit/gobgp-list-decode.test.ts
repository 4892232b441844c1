import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeListPathResponse, visitListPathResponse } from '../../src/sinks/gobgp/list-path-decoder.js';
import { RtreflectError } from '../../src/util/errors.js';

// Protobuf by hand: the wire format gobgpd sends (tags from GoBGP's gobgp.proto).
const varint = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
};
const field = (no: number, wt: number): number[] => varint(no * 8 + wt);
const bytes = (no: number, b: number[] | Buffer): number[] => [...field(no, 2), ...varint(b.length), ...b];
const str = (no: number, s: string): number[] => bytes(no, Buffer.from(s));

function path(o: { neighbor?: string; id?: number; nlri?: number[]; attrs?: number[][]; best?: boolean }): number[] {
  return [
    ...(o.best ? [...field(4, 0), 1] : []), // a field the decoder skips
    ...(o.neighbor !== undefined ? str(15, o.neighbor) : []),
    ...(o.id !== undefined ? [...field(18, 0), ...varint(o.id)] : []),
    ...(o.nlri ? bytes(20, o.nlri) : []),
    ...(o.attrs ?? []).flatMap((a) => bytes(21, a)),
  ];
}

function response(prefix: string, paths: number[][]): Buffer {
  const dest = [...str(1, prefix), ...paths.flatMap((p) => bytes(2, p))];
  return Buffer.from(bytes(1, dest));
}

test('a ListPath reply decodes to the fields a resync reads, other fields skipped', () => {
  const nlri = [24, 10, 1, 2];
  const origin = [0x40, 1, 1, 0];
  const buf = response('10.1.2.0/24', [
    path({ best: true, neighbor: '<nil>', id: 0xfffffffe, nlri, attrs: [origin, [0x40, 3, 4, 192, 0, 2, 1]] }),
    path({ neighbor: '192.0.2.9', id: 7, nlri }),
  ]);
  const d = decodeListPathResponse(buf)!;
  assert.equal(d.prefix, '10.1.2.0/24');
  assert.equal(d.paths.length, 2);
  assert.equal(d.paths[0]!.local, true);
  assert.equal(d.paths[0]!.neighbor_ip, undefined, 'a local path has no peer');
  assert.equal(d.paths[0]!.identifier, 0xfffffffe, 'a uint32 above 2^31 stays unsigned');
  assert.deepEqual([...d.paths[0]!.nlri_binary!], nlri);
  assert.deepEqual(
    d.paths[0]!.pattrs_binary!.map((b) => [...b]),
    [origin, [0x40, 3, 4, 192, 0, 2, 1]],
  );
  assert.equal(d.paths[1]!.neighbor_ip, '192.0.2.9');
  assert.equal(d.paths[1]!.local, false);
  assert.equal(d.paths[1]!.pattrs_binary, undefined);
});

test('a reply without a destination is nothing; a truncated one is a clear error at every cut', () => {
  assert.equal(decodeListPathResponse(Buffer.alloc(0)), undefined);
  const buf = response('2001:db8::/32', [path({ neighbor: '<nil>', id: 5, nlri: [32, 0x20, 1, 0xd, 0xb8], attrs: [[0x40, 1, 1, 0]] })]);
  for (let cut = 1; cut < buf.length; cut++) {
    assert.throws(
      () => decodeListPathResponse(buf.subarray(0, cut)),
      (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_GOBGP_DECODE',
      `cut at ${cut}`,
    );
  }
});

test('the path view handed to each path starts over: nothing of the path before it shows through', () => {
  const buf = response('10.1.2.0/24', [path({ neighbor: '192.0.2.9', id: 7, nlri: [24, 10, 1, 2], attrs: [[0x40, 1, 1, 0]] }), path({ nlri: [24, 10, 1, 2] })]);
  const seen: { local: boolean; id?: number; attrs: number; nlri: number[] }[] = [];
  const at = visitListPathResponse(buf, (v) => {
    seen.push({
      local: v.local,
      ...(v.identifier !== undefined ? { id: v.identifier } : {}),
      attrs: v.attrCount,
      nlri: [...v.buf.subarray(v.nlriStart, v.nlriEnd)],
    });
  });
  assert.equal(buf.toString('utf8', at!.start, at!.end), '10.1.2.0/24');
  assert.deepEqual(seen, [
    { local: false, id: 7, attrs: 1, nlri: [24, 10, 1, 2] },
    { local: true, attrs: 0, nlri: [24, 10, 1, 2] },
  ]);
  assert.equal(
    visitListPathResponse(Buffer.alloc(0), () => assert.fail('no paths')),
    undefined,
  );
});
