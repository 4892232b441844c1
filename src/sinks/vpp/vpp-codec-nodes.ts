import { RtreflectError } from '../../util/errors.js';

/**
 * The building blocks of VppCodec: one node per wire type (integers, strings, arrays, structs,
 * unions, enums), each encoding and decoding its part of a message. VppCodec composes them from
 * the definitions once per type and message.
 */

export class Writer {
  buf = Buffer.allocUnsafe(4096);
  off = 0;
  ensure(n: number): void {
    if (this.off + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.off + n) size *= 2;
    const nb = Buffer.allocUnsafe(size);
    this.buf.copy(nb, 0, 0, this.off);
    this.buf = nb;
  }
  zero(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.off, this.off + n);
    this.off += n;
  }
}

export class Cursor {
  off = 0;
  constructor(
    readonly buf: Buffer,
    readonly end: number,
    readonly msg: string,
  ) {}
  need(n: number, path: string): void {
    if (this.off + n > this.end) {
      throw new RtreflectError(
        'ERR_VPP_DECODE',
        `VPP message ${this.msg} is truncated: field ${path} needs ${n} byte(s) at offset ${this.off}, the message has ${this.end}`,
      );
    }
  }
}

export interface Node {
  /** Byte size when it does not depend on the value. */
  fixed: number | undefined;
  /** Smallest possible encoded size (to bound counts read from the wire). */
  min: number;
  enc(w: Writer, v: unknown, path: string, msg: string): void;
  dec(c: Cursor, path: string, parent: Record<string, unknown>): unknown;
  /** Encoding `undefined` gives `fixed` zero bytes (lets absent arrays such as label_stack be zero-filled at once). */
  zero?: boolean;
}

function encErr(msg: string, path: string, what: string): RtreflectError {
  return new RtreflectError('ERR_VPP_ENCODE', `cannot encode VPP message ${msg}: field ${path} ${what}`, { userFacing: false });
}

function intNode(bytes: 1 | 2 | 4, signed: boolean): Node {
  const lo = signed ? -(2 ** (bytes * 8 - 1)) : 0;
  const hi = signed ? 2 ** (bytes * 8 - 1) - 1 : 2 ** (bytes * 8) - 1;
  return {
    fixed: bytes,
    min: bytes,
    zero: true,
    enc(w, v, path, msg) {
      const n = v === undefined ? 0 : typeof v === 'boolean' ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < lo || n > hi) throw encErr(msg, path, `must be an integer in ${lo}..${hi}, got ${String(v)}`);
      w.ensure(bytes);
      if (bytes === 1) signed ? w.buf.writeInt8(n, w.off) : w.buf.writeUInt8(n, w.off);
      else if (bytes === 2) signed ? w.buf.writeInt16BE(n, w.off) : w.buf.writeUInt16BE(n, w.off);
      else signed ? w.buf.writeInt32BE(n, w.off) : w.buf.writeUInt32BE(n, w.off);
      w.off += bytes;
    },
    dec(c, path) {
      c.need(bytes, path);
      const o = c.off;
      c.off += bytes;
      if (bytes === 1) return signed ? c.buf.readInt8(o) : c.buf[o]!;
      if (bytes === 2) return signed ? c.buf.readInt16BE(o) : c.buf.readUInt16BE(o);
      return signed ? c.buf.readInt32BE(o) : c.buf.readUInt32BE(o);
    },
  };
}

function int64Node(signed: boolean): Node {
  return {
    fixed: 8,
    min: 8,
    enc(w, v, path, msg) {
      let n: bigint;
      try {
        n = BigInt((v ?? 0) as bigint | number);
      } catch {
        throw encErr(msg, path, `must be an integer, got ${String(v)}`);
      }
      w.ensure(8);
      try {
        signed ? w.buf.writeBigInt64BE(n, w.off) : w.buf.writeBigUInt64BE(n, w.off);
      } catch {
        throw encErr(msg, path, `is out of range for ${signed ? 'i64' : 'u64'}: ${n}`);
      }
      w.off += 8;
    },
    dec(c, path) {
      c.need(8, path);
      const o = c.off;
      c.off += 8;
      return signed ? c.buf.readBigInt64BE(o) : c.buf.readBigUInt64BE(o);
    },
  };
}

const f64Node: Node = {
  fixed: 8,
  min: 8,
  enc(w, v, path, msg) {
    const n = v ?? 0;
    if (typeof n !== 'number') throw encErr(msg, path, `must be a number, got ${String(v)}`);
    w.ensure(8);
    w.buf.writeDoubleBE(n, w.off);
    w.off += 8;
  },
  dec(c, path) {
    c.need(8, path);
    c.off += 8;
    return c.buf.readDoubleBE(c.off - 8);
  },
};

const boolNode: Node = {
  fixed: 1,
  min: 1,
  zero: true,
  enc(w, v, path, msg) {
    if (v !== undefined && typeof v !== 'boolean' && v !== 0 && v !== 1) throw encErr(msg, path, `must be a boolean, got ${String(v)}`);
    w.ensure(1);
    w.buf[w.off++] = v ? 1 : 0;
  },
  dec(c, path) {
    c.need(1, path);
    return c.buf[c.off++] !== 0;
  },
};

export function fixedStringNode(len: number): Node {
  return {
    fixed: len,
    min: len,
    enc(w, v, path, msg) {
      const s = v ?? '';
      if (typeof s !== 'string') throw encErr(msg, path, `must be a string`);
      const b = Buffer.from(s, 'utf8');
      // Keep room for the NUL: VPP reads these as C strings.
      if (b.length >= len) throw encErr(msg, path, `is ${b.length} bytes long; at most ${len - 1} fit`);
      w.ensure(len);
      b.copy(w.buf, w.off);
      w.buf.fill(0, w.off + b.length, w.off + len);
      w.off += len;
    },
    dec(c, path) {
      c.need(len, path);
      let e = c.buf.indexOf(0, c.off);
      if (e < 0 || e > c.off + len) e = c.off + len;
      const s = c.buf.toString('utf8', c.off, e);
      c.off += len;
      return s;
    },
  };
}

export const varStringNode: Node = {
  fixed: undefined,
  min: 4,
  enc(w, v, path, msg) {
    const s = v ?? '';
    if (typeof s !== 'string') throw encErr(msg, path, `must be a string`);
    const b = Buffer.from(s, 'utf8');
    w.ensure(4 + b.length);
    w.buf.writeUInt32BE(b.length, w.off);
    b.copy(w.buf, w.off + 4);
    w.off += 4 + b.length;
  },
  dec(c, path) {
    c.need(4, path);
    const n = c.buf.readUInt32BE(c.off);
    c.off += 4;
    c.need(n, path);
    const s = c.buf.toString('utf8', c.off, c.off + n);
    c.off += n;
    return s;
  },
};

export function fixedBytesNode(len: number): Node {
  return {
    fixed: len,
    min: len,
    enc(w, v, path, msg) {
      const b = v ?? new Uint8Array(0);
      if (!(b instanceof Uint8Array)) throw encErr(msg, path, `must be a Uint8Array of ${len} bytes`);
      if (b.length > len) throw encErr(msg, path, `is ${b.length} bytes; at most ${len}`);
      w.ensure(len);
      w.buf.set(b, w.off);
      w.buf.fill(0, w.off + b.length, w.off + len);
      w.off += len;
    },
    dec(c, path) {
      c.need(len, path);
      const out = new Uint8Array(len);
      out.set(c.buf.subarray(c.off, c.off + len));
      c.off += len;
      return out;
    },
  };
}

export function fixedArrayNode(elem: Node, len: number): Node {
  return {
    fixed: elem.fixed === undefined ? undefined : elem.fixed * len,
    min: elem.min * len,
    zero: elem.zero === true && elem.fixed !== undefined,
    enc(w, v, path, msg) {
      // Absent (e.g. a route path's 16-entry label_stack): zeros, without walking every element.
      if (v === undefined && elem.zero && elem.fixed !== undefined) {
        const n = elem.fixed * len;
        w.ensure(n);
        w.buf.fill(0, w.off, w.off + n);
        w.off += n;
        return;
      }
      const a = (v ?? []) as unknown[];
      if (!Array.isArray(a)) throw encErr(msg, path, `must be an array of ${len}`);
      if (a.length > len) throw encErr(msg, path, `has ${a.length} elements; at most ${len}`);
      for (let i = 0; i < len; i++) elem.enc(w, a[i], `${path}[${i}]`, msg);
    },
    dec(c, path, parent) {
      const out: unknown[] = new Array(len);
      for (let i = 0; i < len; i++) out[i] = elem.dec(c, `${path}[${i}]`, parent);
      return out;
    },
  };
}

/** Variable array: its count is in a preceding field (`lengthFrom`), or it runs to the end of the message. */
export function varArrayNode(elem: Node, lengthFrom: string | undefined, isBytes: boolean): Node {
  return {
    fixed: undefined,
    min: 0,
    enc(w, v, path, msg) {
      const a = v ?? (isBytes ? new Uint8Array(0) : []);
      if (isBytes) {
        if (!(a instanceof Uint8Array)) throw encErr(msg, path, `must be a Uint8Array`);
        w.ensure(a.length);
        w.buf.set(a, w.off);
        w.off += a.length;
        return;
      }
      if (!Array.isArray(a)) throw encErr(msg, path, `must be an array`);
      for (let i = 0; i < a.length; i++) elem.enc(w, a[i], `${path}[${i}]`, msg);
    },
    dec(c, path, parent) {
      let n: number;
      if (lengthFrom !== undefined) {
        const raw = parent[lengthFrom];
        n = typeof raw === 'bigint' ? Number(raw) : (raw as number);
      } else {
        n = elem.min > 0 ? Math.floor((c.end - c.off) / elem.min) : 0;
      }
      // Bound the count by the bytes left, so a corrupt count cannot make us allocate gigabytes.
      if (elem.min > 0 && n * elem.min > c.end - c.off) {
        throw new RtreflectError(
          'ERR_VPP_DECODE',
          `VPP message ${c.msg} is truncated or corrupt: ${path} at offset ${c.off} claims ${n} element(s) of ${elem.min}+ bytes, ${c.end - c.off} byte(s) left`,
        );
      }
      if (isBytes) {
        const out = new Uint8Array(n);
        out.set(c.buf.subarray(c.off, c.off + n));
        c.off += n;
        return out;
      }
      const out: unknown[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = elem.dec(c, `${path}[${i}]`, parent);
      return out;
    },
  };
}

export interface CompiledField {
  name: string;
  node: Node;
  default?: unknown;
  lengthFor?: string;
}

export function structNode(fields: CompiledField[]): Node {
  let fixed: number | undefined = 0,
    min = 0;
  let zero = true;
  for (const f of fields) {
    fixed = fixed === undefined || f.node.fixed === undefined ? undefined : fixed + f.node.fixed;
    min += f.node.min;
    if (!f.node.zero || f.lengthFor !== undefined || (f.default !== undefined && f.default !== 0 && f.default !== false)) zero = false;
  }
  return {
    fixed,
    min,
    zero: zero && fixed !== undefined,
    enc(w, v, path, msg) {
      const o = (v ?? {}) as Record<string, unknown>;
      if (typeof o !== 'object') throw encErr(msg, path, `must be an object`);
      for (const f of fields) {
        let fv = o[f.name];
        if (f.lengthFor !== undefined) {
          const arr = o[f.lengthFor] as { length?: number } | undefined;
          const n = arr?.length ?? 0;
          if (fv === undefined) fv = n;
          else if (Number(fv) !== n) throw encErr(msg, path === '' ? f.name : `${path}.${f.name}`, `is ${String(fv)} but ${f.lengthFor} has ${n} element(s)`);
        } else if (fv === undefined) fv = f.default;
        f.node.enc(w, fv, path === '' ? f.name : `${path}.${f.name}`, msg);
      }
    },
    dec(c, path) {
      const o: Record<string, unknown> = {};
      for (const f of fields) o[f.name] = f.node.dec(c, path === '' ? f.name : `${path}.${f.name}`, o);
      return o;
    },
  };
}

export function unionNode(members: { name: string; node: Node }[], unionName: string): Node {
  let size = 0;
  for (const m of members) {
    if (m.node.fixed === undefined) throw new RtreflectError('ERR_VPP_API_DEFS', `union ${unionName} has a variable-size member ${m.name}`);
    size = Math.max(size, m.node.fixed);
  }
  return {
    fixed: size,
    min: size,
    enc(w, v, path, msg) {
      const start = w.off;
      if (v !== undefined) {
        const o = v as Record<string, unknown>;
        const m = members.find((mm) => o[mm.name] !== undefined);
        if (!m) throw encErr(msg, path, `must set one of ${members.map((mm) => mm.name).join(', ')}`);
        m.node.enc(w, o[m.name], `${path}.${m.name}`, msg);
      }
      const used = w.off - start;
      w.zero(size - used);
    },
    dec(c, path, parent) {
      c.need(size, path);
      const start = c.off;
      const o: Record<string, unknown> = {};
      for (const m of members) {
        c.off = start;
        o[m.name] = m.node.dec(c, `${path}.${m.name}`, parent);
      }
      c.off = start + size;
      return o;
    },
  };
}

export function enumNode(base: Node, values: Map<string, number>, name: string): Node {
  return {
    fixed: base.fixed,
    min: base.min,
    enc(w, v, path, msg) {
      let n = v ?? 0;
      if (typeof n === 'string') {
        const x = values.get(n);
        if (x === undefined) throw encErr(msg, path, `has no value named ${n} in enum ${name}`);
        n = x;
      }
      // Numbers are not checked against the names: several flag sets are declared as plain enums.
      base.enc(w, n, path, msg);
    },
    dec: base.dec,
  };
}

export function skipNode(inner: Node): Node {
  const size = inner.fixed;
  if (size === undefined) return inner;
  return {
    fixed: size,
    min: size,
    enc: inner.enc,
    dec(c, path) {
      c.need(size, path);
      c.off += size;
      return undefined;
    },
  };
}

export const BASE: Record<string, Node> = {
  u8: intNode(1, false),
  u16: intNode(2, false),
  u32: intNode(4, false),
  i8: intNode(1, true),
  i16: intNode(2, true),
  i32: intNode(4, true),
  u64: int64Node(false),
  i64: int64Node(true),
  f64: f64Node,
  bool: boolNode,
};
