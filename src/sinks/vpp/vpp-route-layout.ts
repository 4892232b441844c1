import { RtreflectError } from '../../util/errors.js';
import { addrToBytes } from '../../util/ip.js';
import type { VppCodec } from './vpp-codec.js';
import { locateRouteFields, putUint, type IntSlot as Slot } from './vpp-field-locator.js';

/**
 * A compiled layout of the route add/del messages (ip_route_add_del_v2, or
 * ip_route_add_del for VPPs without the _v2 ones), worked out at start-up from
 * the definitions read at run time: a route is written straight into a Buffer,
 * without building message objects or walking the definition tree, with the
 * same bytes as the generic encoder (fields rtreflect does not set come from a
 * template the generic encoder made with their defaults).
 *
 * Header fields _vl_msg_id / client_index / context are left to the client,
 * which fills them in per connection and request.
 */


function shapeErr(msg: string, what: string): RtreflectError {
  return new RtreflectError('ERR_VPP_API_DEFS', `VPP API message ${msg} does not have the shape rtreflect's route writer expects: ${what}`);
}


export class RouteLayout {
  /** Bytes before the paths. */
  readonly fixedSize: number;
  readonly pathSize: number;
  /** Whether the route carries a FIB source (the _v2 messages). */
  readonly hasSrc: boolean;

  private readonly head: Buffer;
  private readonly pathTemplate: Buffer;
  private readonly isAdd: Slot;
  private readonly isMultipath: Slot;
  private readonly tableId: Slot;
  private readonly statsIndex: Slot;
  private readonly af: Slot;
  private readonly addr: number;
  private readonly len: Slot;
  private readonly src: Slot | undefined;
  private readonly nPaths: Slot;
  /** fib_path fields, relative to the path's start. */
  private readonly p: Record<'sw' | 'table' | 'rpf' | 'weight' | 'preference' | 'type' | 'flags' | 'proto' | 'viaLabel' | 'objId' | 'classify' | 'nLabels', Slot>;
  private readonly pAddr: number;

  /** Throws ERR_VPP_API_DEFS, saying what differs, when `msg` is not a route add/del message of the known shape. */
  constructor(codec: VppCodec, readonly msg: string) {
    const f = locateRouteFields(codec, msg, (what) => shapeErr(msg, what));
    this.isAdd = f.int(['is_add']);
    this.isMultipath = f.int(['is_multipath']);
    this.tableId = f.tableId;
    this.statsIndex = f.int(['route', 'stats_index']);
    this.af = f.af;
    this.addr = f.addr;
    this.len = f.len;
    this.hasSrc = f.hasSrc;
    this.src = f.src;
    this.nPaths = f.nPaths;
    this.fixedSize = f.pathsAt;
    this.pathSize = f.pathSize;
    const pp = f.pathInt;
    this.p = {
      sw: pp(['sw_if_index']), table: pp(['table_id']), rpf: pp(['rpf_id']), weight: pp(['weight']), preference: pp(['preference']),
      type: pp(['type']), flags: pp(['flags']), proto: pp(['proto']), viaLabel: pp(['nh', 'via_label']), objId: pp(['nh', 'obj_id']),
      classify: pp(['nh', 'classify_table_index']), nLabels: pp(['n_labels']),
    };
    this.pAddr = f.pAddr;

    // Templates with every default the generic encoder would put in fields rtreflect leaves alone.
    const head = codec.encode(msg, { route: { paths: [] } });
    const one = codec.encode(msg, { route: { paths: [{}] } });
    if (head.length !== this.fixedSize || one.length !== this.fixedSize + this.pathSize) {
      throw shapeErr(msg, `encoded sizes (${head.length}, ${one.length}) disagree with the layout (${this.fixedSize} + ${this.pathSize} per path)`);
    }
    // Fields rtreflect always writes with the same value go into the templates once.
    const path = Buffer.from(one.subarray(this.fixedSize));
    putUint(head, this.isMultipath.offset, this.isMultipath.size, 0);
    putUint(head, this.statsIndex.offset, this.statsIndex.size, 0);
    const s = this.p;
    for (const [slot, v] of [[s.rpf, 0], [s.flags, 0], [s.viaLabel, 0], [s.objId, 0], [s.classify, 0xffffffff], [s.nLabels, 0]] as const) putUint(path, slot.offset, slot.size, v);
    this.head = head;
    this.pathTemplate = path;
  }

  /** Bytes of a message with `nPaths` paths. */
  size(nPaths: number): number {
    return this.fixedSize + nPaths * this.pathSize;
  }

  /**
   * Writes the message up to its paths at `off` (header ids left zero for the
   * client); the paths follow with writePath(). Returns where they start.
   */
  writeRoute(buf: Buffer, off: number, isAdd: boolean, table: number, family: 4 | 6, addrText: string, len: number, src: number, nPaths: number): number {
    this.head.copy(buf, off);
    putUint(buf, off + this.isAdd.offset, this.isAdd.size, isAdd ? 1 : 0);
    putUint(buf, off + this.tableId.offset, this.tableId.size, table);
    putUint(buf, off + this.af.offset, this.af.size, family === 4 ? 0 : 1);
    writeAddress(buf, off + this.addr, family, addrText);
    putUint(buf, off + this.len.offset, this.len.size, len);
    if (this.src) putUint(buf, off + this.src.offset, this.src.size, src);
    putUint(buf, off + this.nPaths.offset, this.nPaths.size, nPaths);
    return off + this.fixedSize;
  }

  /**
   * Writes one fib_path at `off` (from writeRoute, then + pathSize per path).
   * `nh`: the next hop's 4 or 16 bytes; undefined leaves them zero.
   */
  writePath(buf: Buffer, off: number, table: number, sw: number, weight: number, preference: number, type: number, proto: number, nh: Uint8Array | undefined): void {
    const s = this.p;
    this.pathTemplate.copy(buf, off);
    putUint(buf, off + s.sw.offset, s.sw.size, sw);
    putUint(buf, off + s.table.offset, s.table.size, table);
    putUint(buf, off + s.weight.offset, s.weight.size, weight);
    putUint(buf, off + s.preference.offset, s.preference.size, preference);
    putUint(buf, off + s.type.offset, s.type.size, type);
    putUint(buf, off + s.proto.offset, s.proto.size, proto);
    if (nh) buf.set(nh, off + this.pAddr);
  }
}

/**
 * Writes an address given as text into `buf` (4 or 16 bytes), parsed in place
 * (no arrays or strings per route); the rare forms this does not handle
 * (an embedded dotted quad) and bad text go through the shared parser, which
 * rejects what is not an address.
 */
export function writeAddress(buf: Buffer, off: number, family: 4 | 6, text: string): void {
  if (family === 4 ? parseDottedQuad(buf, off, text) : parseIPv6(buf, off, text)) return;
  const b = addrToBytes(text);
  if (b.length !== (family === 4 ? 4 : 16)) throw new RtreflectError('ERR_BAD_ADDRESS', `"${text}" is not an IPv${family} address`);
  buf.set(b, off);
}

/** Plain dotted quad (no leading zeros) into buf; false for anything else. */
function parseDottedQuad(buf: Buffer, off: number, text: string): boolean {
  let v = 0, n = 0, digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i === text.length ? 46 : text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || v > 255 || n >= 4) return false;
      buf[off + n++] = v;
      v = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3 && !(digits === 1 && v === 0)) {
      v = v * 10 + (c - 48);
      digits++;
    } else {
      return false;
    }
  }
  return n === 4;
}

const words = new Uint16Array(8);

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** IPv6 text of hex groups with at most one `::` into buf; false for anything else. */
function parseIPv6(buf: Buffer, off: number, text: string): boolean {
  const len = text.length;
  let n = 0, gap = -1, v = 0, digits = 0, i = 0;
  if (len >= 2 && text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
  }
  for (; i < len; i++) {
    const c = text.charCodeAt(i);
    const h = hexValue(c);
    if (h >= 0) {
      if (++digits > 4) return false;
      v = (v << 4) | h;
      continue;
    }
    if (c !== 58 || digits === 0 || n >= 8) return false;
    words[n++] = v;
    v = 0;
    digits = 0;
    if (i + 1 < len && text.charCodeAt(i + 1) === 58) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    }
  }
  if (digits > 0) {
    if (n >= 8) return false;
    words[n++] = v;
  } else if (!(gap === n && len >= 2 && text.charCodeAt(len - 1) === 58 && text.charCodeAt(len - 2) === 58)) {
    return false;
  }
  if (gap < 0 ? n !== 8 : n > 7) return false;
  const zeros = gap < 0 ? 0 : 8 - n;
  for (let k = 0; k < 8; k++) {
    const w = gap < 0 || k < gap ? words[k]! : k < gap + zeros ? 0 : words[k - zeros]!;
    buf[off + 2 * k] = w >> 8;
    buf[off + 2 * k + 1] = w & 0xff;
  }
  return true;
}
