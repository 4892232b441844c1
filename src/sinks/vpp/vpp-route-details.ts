import { RtreflectError } from '../../util/errors.js';
import type { VppCodec } from './vpp-codec.js';
import { locateRouteFields, type IntSlot as Slot, type RouteFields } from './vpp-field-locator.js';

/**
 * Reads the fields rtreflect compares out of a route dump's detail messages
 * (ip_route_v2_details, or ip_route_details) in place, at offsets worked out
 * from the definitions read at run time: a restart reads a full table without
 * building a message object per route and per path.
 */

function read(buf: Buffer, base: number, s: Slot): number {
  return s.size === 4 ? buf.readUInt32BE(base + s.offset) : s.size === 1 ? buf[base + s.offset]! : buf.readUInt16BE(base + s.offset);
}

/** A detail's route fields (a reused holder). */
export interface DetailRoute {
  table: number;
  af: number;
  /** Where the prefix's address union starts in the payload. */
  addrOffset: number;
  len: number;
  /** FIB source; 0 for messages without one. */
  src: number;
  nPaths: number;
}

/** One path of a detail (a reused holder). */
export interface DetailPath {
  type: number;
  proto: number;
  sw: number;
  weight: number;
  preference: number;
  /** Where the next hop's address union starts in the payload. */
  nhOffset: number;
}

export class RouteDetailsReader {
  readonly hasSrc: boolean;
  /** The route's fields, where they sit. */
  private readonly r: RouteFields;
  private readonly p: Record<'type' | 'proto' | 'sw' | 'weight' | 'preference', Slot>;

  /** Throws ERR_VPP_API_DEFS, saying what differs, when `msg` does not have the expected shape. */
  constructor(
    codec: VppCodec,
    readonly msg: string,
  ) {
    const f = locateRouteFields(
      codec,
      msg,
      (what) => new RtreflectError('ERR_VPP_API_DEFS', `VPP API message ${msg} does not have the shape rtreflect's route reader expects: ${what}`),
    );
    this.r = f;
    this.hasSrc = f.hasSrc;
    this.p = {
      type: f.pathInt(['type']),
      proto: f.pathInt(['proto']),
      sw: f.pathInt(['sw_if_index']),
      weight: f.pathInt(['weight']),
      preference: f.pathInt(['preference']),
    };
  }

  /** Reads a detail's route fields into `out`; throws ERR_VPP_DECODE when the message is shorter than its path count says. */
  route(buf: Buffer, out: DetailRoute): void {
    if (buf.length < this.r.pathsAt) throw this.truncated(buf, this.r.pathsAt);
    const n = read(buf, 0, this.r.nPaths);
    const end = this.r.pathsAt + n * this.r.pathSize;
    if (buf.length < end) throw this.truncated(buf, end);
    out.table = read(buf, 0, this.r.tableId);
    out.af = read(buf, 0, this.r.af);
    out.addrOffset = this.r.addr;
    out.len = read(buf, 0, this.r.len);
    out.src = this.r.src ? read(buf, 0, this.r.src) : 0;
    out.nPaths = n;
  }

  /** Reads path `i` (below the nPaths route() gave) into `out`. */
  path(buf: Buffer, i: number, out: DetailPath): void {
    const s = this.p;
    const at = this.r.pathsAt + i * this.r.pathSize;
    out.type = read(buf, at, s.type);
    out.proto = read(buf, at, s.proto);
    out.sw = read(buf, at, s.sw);
    out.weight = read(buf, at, s.weight);
    out.preference = read(buf, at, s.preference);
    out.nhOffset = at + this.r.pAddr;
  }

  private truncated(buf: Buffer, need: number): RtreflectError {
    return new RtreflectError('ERR_VPP_DECODE', `VPP message ${this.msg} is truncated at offset ${buf.length}: its paths need ${need} byte(s)`);
  }
}
