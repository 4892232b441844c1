import { RtreflectError } from '../../util/errors.js';
import { addrToBytes, writeDottedQuad, writeHexGroups } from '../../util/ip.js';
import type { VppCodec } from './vpp-codec.js';
import { locateRouteFields, putUint, type IntSlot as Slot, type RouteFields } from './vpp-field-locator.js';

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
  private readonly statsIndex: Slot;
  /** The route's fields, where they sit. */
  private readonly r: RouteFields;
  /** fib_path fields, relative to the path's start. */
  private readonly p: Record<
    'sw' | 'table' | 'rpf' | 'weight' | 'preference' | 'type' | 'flags' | 'proto' | 'viaLabel' | 'objId' | 'classify' | 'nLabels',
    Slot
  >;

  /** Throws ERR_VPP_API_DEFS, saying what differs, when `msg` is not a route add/del message of the known shape. */
  constructor(
    codec: VppCodec,
    readonly msg: string,
  ) {
    const f = locateRouteFields(codec, msg, (what) => shapeErr(msg, what));
    this.isAdd = f.int(['is_add']);
    this.isMultipath = f.int(['is_multipath']);
    this.statsIndex = f.int(['route', 'stats_index']);
    this.r = f;
    this.hasSrc = f.hasSrc;
    this.fixedSize = f.pathsAt;
    this.pathSize = f.pathSize;
    const pp = f.pathInt;
    this.p = {
      sw: pp(['sw_if_index']),
      table: pp(['table_id']),
      rpf: pp(['rpf_id']),
      weight: pp(['weight']),
      preference: pp(['preference']),
      type: pp(['type']),
      flags: pp(['flags']),
      proto: pp(['proto']),
      viaLabel: pp(['nh', 'via_label']),
      objId: pp(['nh', 'obj_id']),
      classify: pp(['nh', 'classify_table_index']),
      nLabels: pp(['n_labels']),
    };

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
    for (const [slot, v] of [
      [s.rpf, 0],
      [s.flags, 0],
      [s.viaLabel, 0],
      [s.objId, 0],
      [s.classify, 0xffffffff],
      [s.nLabels, 0],
    ] as const)
      putUint(path, slot.offset, slot.size, v);
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
    putUint(buf, off + this.r.tableId.offset, this.r.tableId.size, table);
    putUint(buf, off + this.r.af.offset, this.r.af.size, family === 4 ? 0 : 1);
    writeAddress(buf, off + this.r.addr, family, addrText);
    putUint(buf, off + this.r.len.offset, this.r.len.size, len);
    if (this.r.src) putUint(buf, off + this.r.src.offset, this.r.src.size, src);
    putUint(buf, off + this.r.nPaths.offset, this.r.nPaths.size, nPaths);
    return off + this.fixedSize;
  }

  /**
   * Writes one fib_path at `off` (from writeRoute, then + pathSize per path).
   * `nh`: the next hop's 4 or 16 bytes; undefined leaves them zero.
   */
  writePath(
    buf: Buffer,
    off: number,
    table: number,
    sw: number,
    weight: number,
    preference: number,
    type: number,
    proto: number,
    nh: Uint8Array | undefined,
  ): void {
    const s = this.p;
    this.pathTemplate.copy(buf, off);
    putUint(buf, off + s.sw.offset, s.sw.size, sw);
    putUint(buf, off + s.table.offset, s.table.size, table);
    putUint(buf, off + s.weight.offset, s.weight.size, weight);
    putUint(buf, off + s.preference.offset, s.preference.size, preference);
    putUint(buf, off + s.type.offset, s.type.size, type);
    putUint(buf, off + s.proto.offset, s.proto.size, proto);
    if (nh) buf.set(nh, off + this.r.pAddr);
  }
}

/**
 * Writes an address given as text into `buf` (4 or 16 bytes), parsed in place
 * (no arrays or strings per route); the rare forms this does not handle
 * (an embedded dotted quad) and bad text go through the shared parser, which
 * rejects what is not an address.
 */
export function writeAddress(buf: Buffer, off: number, family: 4 | 6, text: string): void {
  if (family === 4 ? writeDottedQuad(text, buf, off) : writeHexGroups(text, buf, off)) return;
  const b = addrToBytes(text);
  if (b.length !== (family === 4 ? 4 : 16)) throw new RtreflectError('ERR_BAD_ADDRESS', `"${text}" is not an IPv${family} address`);
  buf.set(b, off);
}
