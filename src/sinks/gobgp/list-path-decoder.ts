import { RtreflectError } from '../../util/errors.js';
import type { ProtoShape } from './gobgp-protos.js';

/**
 * A ListPathResponse as rtreflect reads it back: only the fields a resync
 * needs, decoded straight from the protobuf bytes. Reading a full table back
 * through protobufjs (decode, then toObject) costs more than everything else
 * in a restart; this reads views into the message, copying nothing.
 *
 * ListPathResponse { Destination destination = 1 }
 * Destination { string prefix = 1; repeated Path paths = 2 }
 * Path { string neighbor_ip = 15; uint32 identifier = 18; bytes nlri_binary = 20; repeated bytes pattrs_binary = 21 }
 *
 * These numbers are the same in every GoBGP from 3.10 to 4.8; checkListPathSchema
 * refuses, at start-up, protos that number them otherwise.
 */
const DESTINATION = 1;
const PREFIX = 1;
const PATHS = 2;
const NEIGHBOR_IP = 15;
const IDENTIFIER = 18;
const NLRI_BINARY = 20;
const PATTRS_BINARY = 21;

/** Checks that the loaded API numbers the fields this decoder reads as it reads them. */
export function checkListPathSchema(s: ProtoShape): void {
  const expect = (owner: string, name: string, want: number, type: string, label = 'LABEL_OPTIONAL', typeName?: string): void => {
    const no = s.field(owner, name, type, label, typeName);
    if (no !== want) s.fail(`${owner}.${name} is field ${no}, rtreflect reads it as field ${want}`);
  };
  expect('ListPathResponse', 'destination', DESTINATION, 'TYPE_MESSAGE', 'LABEL_OPTIONAL', `${s.pkg}.Destination`);
  expect('Destination', 'prefix', PREFIX, 'TYPE_STRING');
  expect('Destination', 'paths', PATHS, 'TYPE_MESSAGE', 'LABEL_REPEATED', `${s.pkg}.Path`);
  expect('Path', 'neighbor_ip', NEIGHBOR_IP, 'TYPE_STRING');
  expect('Path', 'identifier', IDENTIFIER, 'TYPE_UINT32');
  expect('Path', 'nlri_binary', NLRI_BINARY, 'TYPE_BYTES');
  expect('Path', 'pattrs_binary', PATTRS_BINARY, 'TYPE_BYTES', 'LABEL_REPEATED');
}
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

// A protobuf cursor over one reply, kept in module state: a full table read back makes
// no reader object or [start, end) pair per field. Not re-entrant; the visitor saves it
// around its callback.
let pos = 0;
let spanStart = 0;

function varint(buf: Buffer, end: number): number {
  let result = 0,
    shift = 0;
  for (;;) {
    if (pos >= end) malformed('truncated varint', pos);
    const b = buf[pos++]!;
    if (shift < 28) result |= (b & 0x7f) << shift;
    else result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return result;
    shift += 7;
    if (shift > 63) malformed('varint longer than 10 bytes', pos);
  }
}

/** Steps over a length-delimited field: its content is buf[spanStart, returned end). */
function span(buf: Buffer, end: number): number {
  const len = varint(buf, end);
  spanStart = pos;
  const e = pos + len;
  if (e > end) malformed(`field of ${len} bytes past the end`, pos);
  pos = e;
  return e;
}

function skip(buf: Buffer, end: number, wireType: number): void {
  switch (wireType) {
    case 0:
      varint(buf, end);
      return;
    case 1:
      pos += 8;
      break;
    case 2:
      span(buf, end);
      return;
    case 5:
      pos += 4;
      break;
    default:
      malformed(`unsupported wire type ${wireType}`, pos);
  }
  if (pos > end) malformed('truncated fixed-size field', pos);
}

const NIL = Buffer.from('<nil>');

/** Whether buf[s, e) is "<nil>" (what gobgpd writes for a local path's peer), without a native call per path. */
function isNil(buf: Buffer, s: number, e: number): boolean {
  if (e - s !== NIL.length) return false;
  for (let i = 0; i < NIL.length; i++) if (buf[s + i] !== NIL[i]) return false;
  return true;
}

/**
 * One path of a ListPath reply as bounds in its bytes. visitListPathResponse hands the same
 * object over for every path, so it is valid only during the call.
 */
export class PathView {
  buf: Buffer = NIL;
  /** See BinaryPath.local; the peer's text is buf[neighborStart, neighborEnd) when not local. */
  local = true;
  neighborStart = 0;
  neighborEnd = 0;
  identifier: number | undefined;
  /** buf[nlriStart, nlriEnd); both -1 when absent. */
  nlriStart = -1;
  nlriEnd = -1;
  /** The attributes: buf[attrStart[i], attrEnd[i]) for i < attrCount. */
  attrCount = 0;
  readonly attrStart: number[] = [];
  readonly attrEnd: number[] = [];
}

const VIEW = new PathView();
/** Where the destination's prefix text is (visitListPathResponse's answer, valid until its next call). */
const PREFIX_AT = { start: 0, end: 0 };

function readPath(buf: Buffer, end: number): PathView {
  const v = VIEW;
  v.buf = buf;
  v.local = true;
  v.identifier = undefined;
  v.nlriStart = v.nlriEnd = -1;
  v.attrCount = 0;
  while (pos < end) {
    const tag = varint(buf, end);
    const field = tag >>> 3,
      wt = tag & 7;
    if (field === NEIGHBOR_IP && wt === 2) {
      const e = span(buf, end);
      if (e > spanStart && !isNil(buf, spanStart, e)) {
        v.local = false;
        v.neighborStart = spanStart;
        v.neighborEnd = e;
      }
    } else if (field === IDENTIFIER && wt === 0) v.identifier = varint(buf, end);
    else if (field === NLRI_BINARY && wt === 2) {
      v.nlriEnd = span(buf, end);
      v.nlriStart = spanStart;
    } else if (field === PATTRS_BINARY && wt === 2) {
      const e = span(buf, end);
      v.attrStart[v.attrCount] = spanStart;
      v.attrEnd[v.attrCount++] = e;
    } else skip(buf, end, wt);
  }
  return v;
}

/**
 * Walks one ListPathResponse, handing `each` every path of its destination (as the shared
 * PathView). Returns the bounds of the destination's prefix text, or undefined when the
 * reply carries no destination.
 */
export function visitListPathResponse(buf: Buffer, each: (p: PathView) => void): { readonly start: number; readonly end: number } | undefined {
  pos = 0;
  let prefix: typeof PREFIX_AT | undefined;
  const end = buf.length;
  while (pos < end) {
    const tag = varint(buf, end);
    if (tag >>> 3 !== DESTINATION || (tag & 7) !== 2) {
      skip(buf, end, tag & 7);
      continue;
    }
    const de = span(buf, end);
    pos = spanStart;
    prefix = PREFIX_AT;
    prefix.start = prefix.end = 0;
    while (pos < de) {
      const t = varint(buf, de);
      const field = t >>> 3,
        wt = t & 7;
      if (field === PREFIX && wt === 2) {
        prefix.end = span(buf, de);
        prefix.start = spanStart;
      } else if (field === PATHS && wt === 2) {
        const pe = span(buf, de);
        pos = spanStart;
        const v = readPath(buf, pe);
        each(v);
        pos = pe;
      } else skip(buf, de, wt);
    }
  }
  return prefix;
}

/** One ListPathResponse message decoded to objects (views into it); undefined when it carries no destination. */
export function decodeListPathResponse(buf: Buffer): BinaryDestination | undefined {
  const paths: BinaryPath[] = [];
  const at = visitListPathResponse(buf, (v) => {
    const p: BinaryPath = { local: v.local };
    if (!v.local) p.neighbor_ip = buf.toString('utf8', v.neighborStart, v.neighborEnd);
    if (v.identifier !== undefined) p.identifier = v.identifier;
    if (v.nlriStart >= 0) p.nlri_binary = buf.subarray(v.nlriStart, v.nlriEnd);
    if (v.attrCount > 0) p.pattrs_binary = v.attrStart.slice(0, v.attrCount).map((s, i) => buf.subarray(s, v.attrEnd[i]));
    paths.push(p);
  });
  return at === undefined ? undefined : { prefix: buf.toString('utf8', at.start, at.end), paths };
}
