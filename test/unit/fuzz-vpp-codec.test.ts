/**
 * Property tests of how rtreflect reads VPP's binary API: the codec (every message of
 * the definitions, not only the ones rtreflect sends), the socket framing, and the
 * in-place reader of route dump details. Values are generated from the definitions
 * themselves, so the tests follow the VPP version whose API files are found.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { ApiDefsData, FieldDef } from '../../src/sinks/vpp/vpp-api-defs.js';
import { VppCodec, type VppMessage } from '../../src/sinks/vpp/vpp-codec.js';
import { RouteDetailsReader, type DetailPath, type DetailRoute } from '../../src/sinks/vpp/vpp-route-details.js';
import { FrameReader, frame, MAX_PAYLOAD } from '../../src/sinks/vpp/vpp-transport.js';
import { RtreflectError } from '../../src/util/errors.js';
import { bytes, checkProperty, corrupted, fuzzTimeoutMs, parsesOrRefuses } from '../helpers/fuzz.js';
import { fixtureDefs, vppDefsSkip } from '../helpers/vpp.js';

const DECODE = 'ERR_VPP_DECODE';
const CI_RUNS = 1000;
const opts = { timeout: fuzzTimeoutMs, skip: vppDefsSkip };

const defs: ApiDefsData | undefined = vppDefsSkip ? undefined : fixtureDefs();
const codec = defs ? new VppCodec(defs) : (undefined as unknown as VppCodec);

/** Every message of the definitions the codec can build (all of them, in VPP's own files). */
const messageNames: string[] = defs
  ? [...defs.messages.keys()]
      .filter((n) => {
        try {
          codec.encode(n, {});
          return true;
        } catch (e) {
          if (e instanceof RtreflectError) return false;
          throw e;
        }
      })
      .sort()
  : [];

// ---- values from the definitions

const INT_RANGE: Record<string, [number, number]> = {
  u8: [0, 0xff],
  u16: [0, 0xffff],
  u32: [0, 0xffffffff],
  i8: [-0x80, 0x7f],
  i16: [-0x8000, 0x7fff],
  i32: [-0x80000000, 0x7fffffff],
};
const text = (max: number) => fc.string({ maxLength: max }).filter((s) => Buffer.byteLength(s) <= max);

const typeArbs = new Map<string, fc.Arbitrary<unknown>>();

/** A value the encoder takes for a type: unions with one member set, lengths left to the encoder. */
function typeArb(type: string): fc.Arbitrary<unknown> {
  const range = INT_RANGE[type];
  if (range) return fc.integer({ min: range[0], max: range[1] });
  if (type === 'u64') return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
  if (type === 'i64') return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
  if (type === 'f64') return fc.double({ noNaN: true });
  if (type === 'bool') return fc.boolean();
  const cached = typeArbs.get(type);
  if (cached) return cached;
  const d = defs!;
  let arb: fc.Arbitrary<unknown>;
  const alias = d.aliases.get(type),
    st = d.types.get(type),
    un = d.unions.get(type),
    en = d.enums.get(type);
  if (alias) arb = alias.length !== undefined ? fieldArb({ type: alias.type, name: type, length: alias.length }) : typeArb(alias.type);
  else if (st) arb = structArb(st.fields);
  else if (un) arb = fc.oneof(...un.members.map((m) => fieldArb(m).map((v) => ({ [m.name]: v }))));
  else if (en) arb = fc.oneof(typeArb(en.base), fc.constantFrom(...en.values.keys()));
  else throw new Error(`type ${type} is not in the definitions`);
  typeArbs.set(type, arb);
  return arb;
}

function fieldArb(f: FieldDef): fc.Arbitrary<unknown> {
  if (f.type === 'string') return f.length ? text(f.length - 1) : text(40);
  if (f.length === undefined) return typeArb(f.type);
  if (f.length > 0 && f.lengthFrom === undefined) {
    return f.type === 'u8' ? fc.uint8Array({ maxLength: f.length }) : fc.array(typeArb(f.type), { maxLength: f.length });
  }
  return f.type === 'u8' ? fc.uint8Array({ maxLength: 24 }) : fc.array(typeArb(f.type), { maxLength: 3 });
}

function structArb(fields: FieldDef[]): fc.Arbitrary<unknown> {
  const counts = new Set(fields.map((f) => f.lengthFrom).filter((n) => n !== undefined));
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of fields) if (!counts.has(f.name)) model[f.name] = fieldArb(f); // counts follow their arrays
  return fc.record(model, { noNullPrototype: true });
}

/** A message name and a value for it. */
const anyMessage: fc.Arbitrary<[string, VppMessage]> = defs
  ? fc.constantFrom(...messageNames).chain((n) => structArb(defs.messages.get(n)!.fields).map((v): [string, VppMessage] => [n, v as VppMessage]))
  : fc.constant(['', {}]);
const anyEncoded = anyMessage.map(([n, v]) => ({ name: n, buf: codec.encode(n, v) }));

/** Whether a type's size is the same for every value (then any cut of its message is short). */
function fixedSize(fields: FieldDef[]): boolean {
  return fields.every((f) => {
    if (f.type === 'string') return !!f.length;
    if (f.length !== undefined && (f.length === 0 || f.lengthFrom !== undefined)) return false;
    const t = f.type,
      d = defs!;
    const alias = d.aliases.get(t),
      st = d.types.get(t),
      un = d.unions.get(t);
    if (alias) return alias.length !== undefined ? alias.length > 0 : fixedSize([{ type: alias.type, name: '' }]);
    if (st) return fixedSize(st.fields);
    if (un) return fixedSize(un.members);
    return true;
  });
}

// ---- the codec

test('any bytes as any message: the codec returns or refuses with ERR_VPP_DECODE', opts, (t) => {
  checkProperty(
    fc.property(fc.constantFrom(...messageNames), bytes(400), (name, b) => {
      parsesOrRefuses(DECODE, () => codec.decode(name, b));
    }),
    CI_RUNS * 2,
    (m) => t.diagnostic(m),
  );
});

test('a corrupted message of any kind: decoded or refused, never a crash', opts, (t) => {
  const damaged = anyEncoded.chain(({ name, buf }) => corrupted(fc.constant(buf)).map((b) => ({ name, b })));
  checkProperty(
    fc.property(damaged, ({ name, b }) => {
      parsesOrRefuses(DECODE, () => codec.decode(name, b));
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

test('every message round-trips: decode gives back what encode was given, and re-encodes to the same bytes', opts, (t) => {
  t.diagnostic(`${messageNames.length} messages in the definitions`);
  checkProperty(
    fc.property(anyMessage, ([name, v]) => {
      const enc = codec.encode(name, v);
      const dec = codec.decode(name, enc);
      assert.deepEqual(codec.encode(name, largestMembers(name, dec)), enc, `${name} re-encoded`);
      assert.deepEqual(codec.decode(name, enc), dec, `${name} decodes the same twice`);
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

test('a message cut short is refused, naming an offset within what arrived', opts, (t) => {
  const cutShort = anyEncoded.filter(({ buf }) => buf.length > 0).chain(({ name, buf }) => fc.nat({ max: buf.length - 1 }).map((cut) => ({ name, buf, cut })));
  checkProperty(
    fc.property(cutShort, ({ name, buf, cut }) => {
      const part = buf.subarray(0, cut);
      const r = parsesOrRefuses(DECODE, () => codec.decode(name, part));
      if ('value' in r) {
        assert.ok(!fixedSize(defs!.messages.get(name)!.fields), `${name} of ${buf.length} bytes cut at ${cut} was accepted`);
        return;
      }
      const at = /at offset (\d+)/.exec(r.error.message);
      assert.ok(at, `the error names no offset: ${r.error.message}`);
      assert.ok(Number(at[1]) <= cut, `the error names offset ${at[1]}, past the ${cut} bytes that arrived: ${r.error.message}`);
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

/** A decoded value as the encoder takes it back: of a union's members (all decoded from the same bytes), the largest. */
function largestMembers(name: string, v: VppMessage): VppMessage {
  const d = defs!;
  const walkFields = (fields: FieldDef[], o: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const f of fields) out[f.name] = walkField(f, o[f.name]);
    return out;
  };
  const walkType = (type: string, x: unknown): unknown => {
    const alias = d.aliases.get(type),
      st = d.types.get(type),
      un = d.unions.get(type);
    if (alias) return alias.length !== undefined ? walkField({ type: alias.type, name: type, length: alias.length }, x) : walkType(alias.type, x);
    if (st) return walkFields(st.fields, x as Record<string, unknown>);
    if (un) {
      const sizes = un.members.map((m) => codec.fieldSize(m, type) ?? 0);
      const m = un.members[sizes.indexOf(Math.max(...sizes))]!;
      return { [m.name]: walkField(m, (x as Record<string, unknown>)[m.name]) };
    }
    return x;
  };
  const walkField = (f: FieldDef, x: unknown): unknown => {
    if (f.type === 'string' || f.type === 'u8' || x === undefined) return x;
    if (f.length !== undefined) return (x as unknown[]).map((e) => walkType(f.type, e));
    return walkType(f.type, x);
  };
  return walkFields(d.messages.get(name)!.fields, v) as VppMessage;
}

// ---- framing

test('frames split at any read boundaries come out whole, in order', { timeout: fuzzTimeoutMs }, (t) => {
  const stream = fc.array(bytes(300), { maxLength: 6 }).chain((payloads) => {
    const all = Buffer.concat(payloads.map(frame));
    return fc.array(fc.nat({ max: all.length }), { maxLength: 8 }).map((cuts) => ({ payloads, all, cuts: [...new Set(cuts)].sort((a, b) => a - b) }));
  });
  checkProperty(
    fc.property(stream, ({ payloads, all, cuts }) => {
      const r = new FrameReader();
      const got: Buffer[] = [];
      let from = 0;
      for (const c of [...cuts, all.length]) {
        got.push(...r.push(all.subarray(from, c)));
        from = c;
      }
      assert.deepEqual(
        got.map((b) => b.toString('hex')),
        payloads.map((b) => b.toString('hex')),
      );
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

test('any byte stream: the frame reader gives payloads or refuses with ERR_VPP_PROTOCOL', { timeout: fuzzTimeoutMs }, (t) => {
  checkProperty(
    fc.property(fc.array(bytes(64), { maxLength: 6 }), (chunks) => {
      const r = new FrameReader();
      for (const c of chunks) {
        const res = parsesOrRefuses('ERR_VPP_PROTOCOL', () => r.push(c));
        if ('error' in res) return;
        for (const p of res.value) assert.ok(p.length <= MAX_PAYLOAD);
      }
    }),
    CI_RUNS,
    (m) => t.diagnostic(m),
  );
});

// ---- route dump details, read in place

const detailNames = defs ? ['ip_route_v2_details', 'ip_route_details'].filter((n) => defs.messages.has(n)) : [];
const readers = new Map(detailNames.map((n) => [n, new RouteDetailsReader(codec, n)]));
const anyDetail =
  defs && detailNames.length
    ? fc.constantFrom(...detailNames).chain((n) => structArb(defs.messages.get(n)!.fields).map((v) => ({ name: n, buf: codec.encode(n, v as VppMessage) })))
    : fc.constant({ name: '', buf: Buffer.alloc(0) });

/** What the sink reads of a detail: the route's fields, then each path's. */
function readDetail(name: string, b: Buffer): { route: DetailRoute; paths: DetailPath[] } {
  const reader = readers.get(name)!;
  const route = {} as DetailRoute;
  reader.route(b, route);
  const paths: DetailPath[] = [];
  for (let i = 0; i < route.nPaths; i++) {
    const p = {} as DetailPath;
    reader.path(b, i, p);
    paths.push(p);
  }
  return { route, paths };
}

test(
  'a route detail read in place gives the fields the codec decodes',
  { ...opts, skip: vppDefsSkip || (detailNames.length === 0 && 'no route details in the definitions') },
  (t) => {
    checkProperty(
      fc.property(anyDetail, ({ name, buf }) => {
        const { route, paths } = readDetail(name, buf);
        const r = codec.decode(name, buf).route as {
          table_id: number;
          n_paths: number;
          src?: number;
          prefix: { address: { af: number }; len: number };
          paths: Record<string, number>[];
        };
        assert.deepEqual(
          { table: route.table, af: route.af, len: route.len, src: route.src, nPaths: route.nPaths },
          { table: r.table_id, af: r.prefix.address.af, len: r.prefix.len, src: r.src ?? 0, nPaths: r.n_paths },
        );
        assert.deepEqual(
          paths.map((p) => [p.type, p.proto, p.sw, p.weight, p.preference]),
          r.paths.map((p) => [p.type, p.proto, p.sw_if_index, p.weight, p.preference]),
        );
      }),
      CI_RUNS,
      (m) => t.diagnostic(m),
    );
  },
);

test(
  'any or corrupted bytes as a route detail: read in place or refused with ERR_VPP_DECODE',
  { ...opts, skip: vppDefsSkip || (detailNames.length === 0 && 'no route details in the definitions') },
  (t) => {
    const input = fc.oneof(
      fc.tuple(fc.constantFrom(...(detailNames.length ? detailNames : [''])), bytes(600)).map(([name, b]) => ({ name, b })),
      anyDetail.chain(({ name, buf }) => corrupted(fc.constant(buf)).map((b) => ({ name, b }))),
    );
    checkProperty(
      fc.property(input, ({ name, b }) => {
        const r = parsesOrRefuses(DECODE, () => readDetail(name, b));
        if ('value' in r) for (const p of r.value.paths) assert.ok(p.nhOffset + 16 <= b.length, "a path's next hop lies within the message");
        else assert.match(r.error.message, new RegExp(`truncated at offset ${b.length}:`));
      }),
      CI_RUNS,
      (m) => t.diagnostic(m),
    );
  },
);
