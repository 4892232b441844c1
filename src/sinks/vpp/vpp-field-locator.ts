import { RtreflectError } from '../../util/errors.js';
import type { FieldDef } from './vpp-api-defs.js';
import type { VppCodec } from './vpp-codec.js';

/**
 * Where a field sits in a message, worked out from the definitions read at run
 * time (never from offsets written into rtreflect), with the generic codec's
 * own sizes, so that code writing or reading bytes in place agrees with it.
 */

export type FieldKind =
  /** u8..u32 / i8..i32, bools and enums: written and read as big-endian integers of `size` bytes. */
  | 'int'
  /** A fixed u8 array (an address). */
  | 'bytes'
  | 'struct'
  | 'union'
  /** A variable array: it ends the message; `elemSize` is its elements' size. */
  | 'vararray'
  | 'other';

export interface FieldLocation {
  offset: number;
  /** Undefined for a variable array. */
  size: number | undefined;
  kind: FieldKind;
  field: FieldDef;
  /** Element type of an array, or the (alias-resolved) type of the field. */
  type: string;
  signed: boolean;
  elemSize?: number;
  /** The variable array's count field. */
  lengthFrom?: string;
  /** The field is the last one of its container. */
  last: boolean;
}

const INT_SIZES: Record<string, [number, boolean]> = {
  u8: [1, false],
  u16: [2, false],
  u32: [4, false],
  i8: [1, true],
  i16: [2, true],
  i32: [4, true],
  bool: [1, false],
};

function layoutErr(what: string): RtreflectError {
  return new RtreflectError('ERR_VPP_API_DEFS', `VPP API definitions: ${what}`);
}

export class FieldLocator {
  constructor(private readonly codec: VppCodec) {}

  /** Fields of a message, struct type or union type (aliases followed). */
  private members(type: string): { fields: FieldDef[]; union: boolean } | undefined {
    const d = this.codec.defs;
    const alias = d.aliases.get(type);
    if (alias && alias.length === undefined) return this.members(alias.type);
    const st = d.types.get(type);
    if (st) return { fields: st.fields, union: false };
    const un = d.unions.get(type);
    if (un) return { fields: un.members, union: true };
    return undefined;
  }

  /**
   * Locates `path` (e.g. ['route', 'prefix', 'len']) in message `msg`; through
   * an array, in its first element. Every field before it must have a fixed size; throws ERR_VPP_API_DEFS naming what
   * does not fit.
   */
  locate(msg: string, path: string[]): FieldLocation {
    const m = this.codec.defs.messages.get(msg);
    if (!m) throw layoutErr(`message ${msg} is not defined`);
    let fields = m.fields;
    let union = false;
    let owner = `message ${msg}`;
    let offset = 0;
    for (let depth = 0; depth < path.length; depth++) {
      const name = path[depth]!;
      const idx = fields.findIndex((x) => x.name === name);
      if (idx < 0) throw layoutErr(`${owner} has no field ${name} (looking for ${path.join('.')} in ${msg})`);
      const f = fields[idx]!;
      for (let i = 0; i < idx && !union; i++) {
        const sz = this.codec.fieldSize(fields[i]!, owner);
        if (sz === undefined) throw layoutErr(`${owner}: field ${fields[i]!.name} before ${name} has a variable size`);
        offset += sz;
      }
      const last = union || idx === fields.length - 1;
      const where = `${msg}.${path.slice(0, depth + 1).join('.')}`;
      if (depth === path.length - 1) return this.describe(f, offset, last, owner, where);
      // Through an array: the field in its first element (callers add the element size for the others).
      if (f.type === 'string') throw layoutErr(`${where} is a string; ${path.join('.')} cannot be reached through it`);
      const inner = this.members(f.type);
      if (!inner) throw layoutErr(`${where} (type ${f.type}) is not a struct or union`);
      fields = inner.fields;
      union = inner.union;
      owner = `type ${f.type}`;
    }
    throw layoutErr(`empty field path in ${msg}`);
  }

  private describe(f: FieldDef, offset: number, last: boolean, owner: string, where: string): FieldLocation {
    const size = this.codec.fieldSize(f, owner);
    const base = { offset, size, field: f, last, signed: false };
    if (f.length !== undefined) {
      if (size !== undefined) return { ...base, kind: f.type === 'u8' ? 'bytes' : 'other', type: f.type };
      if (f.type === 'string' || f.type === 'u8') return { ...base, kind: 'other', type: f.type };
      const elemSize = this.codec.fieldSize({ type: f.type, name: f.name }, owner);
      if (elemSize === undefined) throw layoutErr(`${where}: elements of type ${f.type} have a variable size`);
      return { ...base, kind: 'vararray', type: f.type, elemSize, lengthFrom: f.lengthFrom };
    }
    let type = f.type;
    const d = this.codec.defs;
    for (let a = d.aliases.get(type); a; a = d.aliases.get(type)) {
      if (a.length !== undefined) return { ...base, kind: a.type === 'u8' ? 'bytes' : 'other', type: a.type };
      type = a.type;
    }
    const int = INT_SIZES[type];
    if (int) return { ...base, kind: 'int', type, signed: int[1] };
    const en = d.enums.get(type);
    if (en && INT_SIZES[en.base]) return { ...base, kind: 'int', type, signed: INT_SIZES[en.base]![1] };
    if (d.types.has(type)) return { ...base, kind: 'struct', type };
    if (d.unions.has(type)) return { ...base, kind: 'union', type };
    return { ...base, kind: 'other', type };
  }

  /**
   * Offset of the union holding an address at `path` (fixed size, its ip4[4] and ip6[16]
   * members at its start). `shapeErr` makes the error, saying whose expectation failed.
   */
  addressUnion(msg: string, path: string[], shapeErr: (what: string) => Error): number {
    const u = this.locate(msg, path);
    if (u.kind !== 'union' || u.size === undefined) throw shapeErr(`${path.join('.')} is not a fixed-size union`);
    const v4 = this.locate(msg, [...path, 'ip4']);
    const v6 = this.locate(msg, [...path, 'ip6']);
    if (v4.kind !== 'bytes' || v4.size !== 4 || v6.kind !== 'bytes' || v6.size !== 16 || u.size < 16) {
      throw shapeErr(`${path.join('.')} is not an address union of ip4[4] and ip6[16]`);
    }
    return u.offset;
  }

  /**
   * A route message's `route` (a struct ending the message) and `route.paths` (a
   * variable array counted by n_paths, ending it), as in-place route writers and
   * readers need them. `shapeErr` makes the error.
   */
  routeWithPaths(msg: string, shapeErr: (what: string) => Error): { route: FieldLocation; paths: FieldLocation & { elemSize: number } } {
    const route = this.locate(msg, ['route']);
    if (route.kind !== 'struct' || !route.last) throw shapeErr('route is not a struct ending the message');
    const paths = this.locate(msg, ['route', 'paths']);
    if (paths.kind !== 'vararray' || !paths.last || paths.lengthFrom !== 'n_paths' || paths.elemSize === undefined) {
      throw shapeErr('route.paths is not a variable array counted by n_paths that ends the message');
    }
    return { route, paths: paths as FieldLocation & { elemSize: number } };
  }

  /** Locates an integer field of 1, 2 or 4 bytes (what in-place writers and readers handle). */
  int(msg: string, path: string[]): { offset: number; size: 1 | 2 | 4; signed: boolean } {
    const l = this.locate(msg, path);
    if (l.kind !== 'int' || (l.size !== 1 && l.size !== 2 && l.size !== 4)) {
      throw layoutErr(`${msg}.${path.join('.')} is not an integer of 1, 2 or 4 bytes (type ${l.type})`);
    }
    return { offset: l.offset, size: l.size, signed: l.signed };
  }
}

/** Where an integer field of 1, 2 or 4 bytes sits (in a message, or relative to a path's start). */
export type IntSlot = { offset: number; size: 1 | 2 | 4 };

/** The fields of a route message that both the in-place route writer and reader use. */
export interface RouteFields {
  tableId: IntSlot;
  af: IntSlot;
  /** Offset of the prefix's address union. */
  addr: number;
  len: IntSlot;
  /** Whether the route carries a FIB source (the _v2 messages). */
  hasSrc: boolean;
  src: IntSlot | undefined;
  nPaths: IntSlot;
  /** Bytes before the paths, and the size of one. */
  pathsAt: number;
  pathSize: number;
  /** Offset of a path's next-hop address union, relative to the path's start. */
  pAddr: number;
  /** Another integer field of the message. */
  int(path: string[]): IntSlot;
  /** An integer field of route.paths[] (e.g. ['weight']), relative to the path's start. */
  pathInt(path: string[]): IntSlot;
}

/**
 * Locates a route message's route fields and its paths (see routeWithPaths), throwing
 * ERR_VPP_API_DEFS when the shape differs; `shapeErr` makes the error, saying whose
 * expectation failed.
 */
export function locateRouteFields(codec: VppCodec, msg: string, shapeErr: (what: string) => Error): RouteFields {
  const loc = new FieldLocator(codec);
  const int = (path: string[]): IntSlot => {
    const l = loc.int(msg, path);
    return { offset: l.offset, size: l.size };
  };
  const { route, paths } = loc.routeWithPaths(msg, shapeErr);
  const hasSrc = codec.defs.types.get(route.type)?.fields.some((f) => f.name === 'src') ?? false;
  return {
    tableId: int(['route', 'table_id']),
    af: int(['route', 'prefix', 'address', 'af']),
    addr: loc.addressUnion(msg, ['route', 'prefix', 'address', 'un'], shapeErr),
    len: int(['route', 'prefix', 'len']),
    hasSrc,
    src: hasSrc ? int(['route', 'src']) : undefined,
    nPaths: int(['route', 'n_paths']),
    pathsAt: paths.offset,
    pathSize: paths.elemSize,
    // fib_path fields: located in the message through a one-path route, then made relative.
    pAddr: loc.addressUnion(msg, ['route', 'paths', 'nh', 'address'], shapeErr) - paths.offset,
    int,
    pathInt(path) {
      const s = int(['route', 'paths', ...path]);
      return { offset: s.offset - paths.offset, size: s.size };
    },
  };
}

/** Writes an unsigned integer of 1, 2 or 4 bytes, big-endian (VPP's byte order). */
export function putUint(buf: Buffer, off: number, size: 1 | 2 | 4, v: number): void {
  if (size === 4) buf.writeUInt32BE(v >>> 0, off);
  else if (size === 1) buf[off] = v;
  else buf.writeUInt16BE(v, off);
}
