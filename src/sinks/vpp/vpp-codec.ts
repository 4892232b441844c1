import { RtreflectError } from '../../util/errors.js';
import type { ApiDefsData, FieldDef, MessageDef } from './vpp-api-defs.js';
import {
  BASE,
  Cursor,
  enumNode,
  fixedArrayNode,
  fixedBytesNode,
  fixedStringNode,
  skipNode,
  structNode,
  unionNode,
  varArrayNode,
  varStringNode,
  Writer,
  type CompiledField,
  type Node,
} from './vpp-codec-nodes.js';

/**
 * Encoder/decoder for VPP binary-API messages, driven by the definitions.
 * Wire format: packed, big-endian. Values in JS:
 *  - u8..u32, i8..i32, f64, enums: number (enums also accept their value names on encode)
 *  - u64, i64: bigint (numbers accepted on encode)
 *  - bool: boolean
 *  - string (fixed `[64]` or variable `u32 length + bytes`): string
 *  - u8 arrays (fixed or variable): Uint8Array
 *  - other arrays: arrays; structs: objects
 *  - unions: an object with one member set on encode; on decode every member,
 *    read from the same bytes (the discriminator lives elsewhere)
 * Missing fields encode as the definition's default, else zero. A variable
 * array's length field is filled in from the array.
 */

export type VppMessage = Record<string, unknown>;

export class VppCodec {
  private readonly nodes = new Map<string, Node>();
  private readonly msgNodes = new Map<string, Node>();
  private readonly w = new Writer();

  private readonly skip: Set<string>;

  /**
   * `skipOnDecode`: field names (at any depth) whose bytes decoding steps over
   * instead of building values, e.g. fib_path's 16-entry `label_stack` when
   * reading a million routes. They still encode normally.
   */
  constructor(
    readonly defs: ApiDefsData,
    opts: { skipOnDecode?: string[] } = {},
  ) {
    this.skip = new Set(opts.skipOnDecode ?? []);
  }

  message(name: string): MessageDef {
    const m = this.defs.messages.get(name);
    if (!m)
      throw new RtreflectError(
        'ERR_VPP_API_DEFS',
        `VPP API message ${name} is not in the definitions read from ${this.defs.files.length} file(s); is apiDir the installed VPP's share/vpp/api directory?`,
      );
    return m;
  }

  /** Encodes a message to a fresh Buffer (the payload, without the socket header). */
  encode(name: string, value: VppMessage): Buffer {
    const node = this.msgNode(name);
    const w = this.w;
    w.off = 0;
    node.enc(w, value, '', name);
    return Buffer.from(w.buf.subarray(0, w.off));
  }

  /** Decodes a payload; throws ERR_VPP_DECODE on truncated or inconsistent input. Trailing bytes are ignored. */
  decode(name: string, buf: Buffer): VppMessage {
    const node = this.msgNode(name);
    const c = new Cursor(buf, buf.length, name);
    return node.dec(c, '', {}) as VppMessage;
  }

  /**
   * Encoded size of a field when it does not depend on the value (undefined for
   * variable strings and arrays): lets compiled layouts place fields exactly
   * where this encoder puts them.
   */
  fieldSize(f: FieldDef, owner: string): number | undefined {
    return this.fieldNode(f, owner).fixed;
  }

  private msgNode(name: string): Node {
    let n = this.msgNodes.get(name);
    if (!n) {
      const m = this.message(name);
      n = this.struct(m.fields, `message ${name}`);
      this.msgNodes.set(name, n);
    }
    return n;
  }

  private struct(fields: FieldDef[], owner: string): Node {
    const lengthFor = new Map<string, string>();
    for (const f of fields) if (f.lengthFrom !== undefined) lengthFor.set(f.lengthFrom, f.name);
    const compiled: CompiledField[] = fields.map((f) => ({
      name: f.name,
      node: this.skip.has(f.name) ? skipNode(this.fieldNode(f, owner)) : this.fieldNode(f, owner),
      default: f.default,
      lengthFor: lengthFor.get(f.name),
    }));
    return structNode(compiled);
  }

  private fieldNode(f: FieldDef, owner: string): Node {
    if (f.type === 'string') {
      return f.length !== undefined && f.length > 0 ? fixedStringNode(f.length) : varStringNode;
    }
    if (f.length === undefined) return this.typeNode(f.type, owner);
    const isBytes = f.type === 'u8';
    if (f.length > 0 && f.lengthFrom === undefined) {
      return isBytes ? fixedBytesNode(f.length) : fixedArrayNode(this.typeNode(f.type, owner), f.length);
    }
    return varArrayNode(this.typeNode(f.type, owner), f.lengthFrom, isBytes);
  }

  private typeNode(type: string, owner: string): Node {
    const base = BASE[type];
    if (base) return base;
    const cached = this.nodes.get(type);
    if (cached) return cached;
    const d = this.defs;
    let node: Node;
    const alias = d.aliases.get(type);
    const st = d.types.get(type);
    const un = d.unions.get(type);
    const en = d.enums.get(type);
    if (alias) {
      node = alias.length !== undefined ? this.fieldNode({ type: alias.type, name: type, length: alias.length }, owner) : this.typeNode(alias.type, owner);
    } else if (st) {
      node = this.struct(st.fields, `type ${type}`);
    } else if (un) {
      node = unionNode(
        un.members.map((m) => ({ name: m.name, node: this.fieldNode(m, `union ${type}`) })),
        type,
      );
    } else if (en) {
      const b = BASE[en.base];
      if (!b) throw new RtreflectError('ERR_VPP_API_DEFS', `enum ${type} has unsupported base type ${en.base}`);
      node = enumNode(b, en.values, type);
    } else {
      throw new RtreflectError('ERR_VPP_API_DEFS', `VPP API type ${type} (used by ${owner}) is not defined in the API files read; are they complete?`);
    }
    this.nodes.set(type, node);
    return node;
  }
}
