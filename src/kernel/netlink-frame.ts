import { RtreflectError } from '../util/errors.js';
import { NLMSG_HDRLEN } from './netlink-constants.js';

/** One netlink message: the header's fields and its payload (a view into the batch, not a copy). */
export interface NlMsg {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Buffer;
}

/**
 * A message as splitMessages finds it: where its payload lies in the batch. The payload view
 * is made only when asked for; the route parser reads the batch in place (a full table's
 * dump would otherwise make a million Buffer objects only to throw them away).
 */
export class FramedMsg implements NlMsg {
  private view: Buffer | undefined;

  constructor(
    readonly type: number,
    readonly flags: number,
    readonly seq: number,
    readonly pid: number,
    /** The batch, and the payload's bounds in it. */
    readonly batch: Buffer,
    readonly start: number,
    readonly end: number,
  ) {}

  get payload(): Buffer {
    return (this.view ??= this.batch.subarray(this.start, this.end));
  }
}

export const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Calls `each` with every message of a buffer of concatenated netlink messages (what
 * one or many recv()s returned), in order, until it returns true. A truncated or
 * inconsistent header, or bytes after the last message, throw ERR_NETLINK_MALFORMED naming
 * the offset, after the messages before it were handed over: a bad batch is reported, not misparsed.
 */
export function forEachMessage(buf: Buffer, each: (m: FramedMsg) => boolean | void): void {
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) {
      throw new RtreflectError(
        'ERR_NETLINK_MALFORMED',
        `netlink message at byte ${off} claims length ${len} but ${buf.length - off} bytes remain (truncated or corrupt batch)`,
      );
    }
    const m = new FramedMsg(
      buf.readUInt16LE(off + 4),
      buf.readUInt16LE(off + 6),
      buf.readUInt32LE(off + 8),
      buf.readUInt32LE(off + 12),
      buf,
      off + NLMSG_HDRLEN,
      off + len,
    );
    if (each(m) === true) return;
    off += align4(len);
  }
  if (off < buf.length) {
    // Fewer bytes than a header: a message cut short. (The reader pads each datagram to 4
    // bytes, which align4 above steps over; nothing else follows the last message.)
    throw new RtreflectError(
      'ERR_NETLINK_MALFORMED',
      `netlink message at byte ${off} is truncated: ${buf.length - off} bytes remain, fewer than its ${NLMSG_HDRLEN}-byte header`,
    );
  }
}

/** The messages of a batch (see forEachMessage); throws, returning none, if any is malformed. */
export function splitMessages(buf: Buffer): FramedMsg[] {
  const out: FramedMsg[] = [];
  forEachMessage(buf, (m) => {
    out.push(m);
  });
  return out;
}
