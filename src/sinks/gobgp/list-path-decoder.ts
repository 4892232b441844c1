import { RtreflectError } from '../../util/errors.js';

/**
 * A ListPathResponse as rtreflect reads it back: only the fields a resync
 * needs, decoded straight from the protobuf bytes. Reading a full table back
 * through protobufjs (decode, then toObject) costs more than everything else
 * in a restart; this reads views into the message, copying nothing.
 *
 * ListPathResponse { Destination destination = 1 }
 * Destination { string prefix = 1; repeated Path paths = 2 }
 * Path { string neighbor_ip = 15; uint32 identifier = 18; bytes nlri_binary = 20; repeated bytes pattrs_binary = 21 }
 */
export interface BinaryPath {
  /** Injected into this gobgpd (no peer: neighbor_ip absent, empty or "<nil>"); learned paths are not. */
  local: boolean;
  /** The peer a learned path came from; not decoded for local paths (a full table of "<nil>" strings). */
  neighbor_ip?: string;
  identifier?: number;
  nlri_binary?: Buffer;
  pattrs_binary?: Buffer[];
}

export interface BinaryDestination {
  prefix: string;
  paths: BinaryPath[];
}

function malformed(what: string, at: number): never {
  throw new RtreflectError('ERR_GOBGP_DECODE', `gobgpd's ListPath reply is malformed: ${what} at byte ${at}`);
}

/** A protobuf reader over buf[start, end). */
class Reader {
  pos: number;
  constructor(readonly buf: Buffer, start: number, readonly end: number) {
    this.pos = start;
  }

  varint(): number {
    let result = 0, shift = 0;
    for (;;) {
      if (this.pos >= this.end) malformed('truncated varint', this.pos);
      const b = this.buf[this.pos++]!;
      if (shift < 28) result |= (b & 0x7f) << shift;
      else result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) malformed('varint longer than 10 bytes', this.pos);
    }
  }

  /** [start, end) of a length-delimited field's content. */
  span(): [number, number] {
    const len = this.varint();
    const start = this.pos, end = start + len;
    if (end > this.end) malformed(`field of ${len} bytes past the end`, start);
    this.pos = end;
    return [start, end];
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0: this.varint(); return;
      case 1: this.pos += 8; break;
      case 2: this.span(); return;
      case 5: this.pos += 4; break;
      default: malformed(`unsupported wire type ${wireType}`, this.pos);
    }
    if (this.pos > this.end) malformed('truncated fixed-size field', this.pos);
  }
}

const NIL = Buffer.from('<nil>');
const isNil = (buf: Buffer, s: number, e: number): boolean => e - s === NIL.length && buf.compare(NIL, 0, NIL.length, s, e) === 0;

function decodePath(buf: Buffer, start: number, end: number): BinaryPath {
  const r = new Reader(buf, start, end);
  const p: BinaryPath = { local: true };
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = tag >>> 3, wt = tag & 7;
    if (field === 15 && wt === 2) {
      const [s, e] = r.span();
      if (e > s && !isNil(buf, s, e)) {
        p.local = false;
        p.neighbor_ip = buf.toString('utf8', s, e);
      }
    }
    else if (field === 18 && wt === 0) p.identifier = r.varint();
    else if (field === 20 && wt === 2) { const [s, e] = r.span(); p.nlri_binary = buf.subarray(s, e); }
    else if (field === 21 && wt === 2) { const [s, e] = r.span(); (p.pattrs_binary ??= []).push(buf.subarray(s, e)); }
    else r.skip(wt);
  }
  return p;
}

/** One ListPathResponse message; undefined when it carries no destination. */
export function decodeListPathResponse(buf: Buffer): BinaryDestination | undefined {
  const top = new Reader(buf, 0, buf.length);
  let dest: BinaryDestination | undefined;
  while (top.pos < top.end) {
    const tag = top.varint();
    if (tag >>> 3 !== 1 || (tag & 7) !== 2) { top.skip(tag & 7); continue; }
    const [ds, de] = top.span();
    dest = { prefix: '', paths: [] };
    const r = new Reader(buf, ds, de);
    while (r.pos < r.end) {
      const t = r.varint();
      const field = t >>> 3, wt = t & 7;
      if (field === 1 && wt === 2) { const [s, e] = r.span(); dest.prefix = buf.toString('utf8', s, e); }
      else if (field === 2 && wt === 2) { const [s, e] = r.span(); dest.paths.push(decodePath(buf, s, e)); }
      else r.skip(wt);
    }
  }
  return dest;
}
