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

export const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Splits a buffer of concatenated netlink messages (what one or many recv()s
 * returned). A truncated or inconsistent header throws ERR_NETLINK_MALFORMED
 * naming the offset, so a bad batch is reported, not misparsed.
 */
export function* splitMessages(buf: Buffer): Generator<NlMsg> {
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) {
      throw new RtreflectError('ERR_NETLINK_MALFORMED',
        `netlink message at byte ${off} claims length ${len} but ${buf.length - off} bytes remain (truncated or corrupt batch)`);
    }
    yield {
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      pid: buf.readUInt32LE(off + 12),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    };
    off += align4(len);
  }
  if (off < buf.length && buf.length - off < NLMSG_HDRLEN && off !== buf.length) {
    // Trailing bytes shorter than a header: only padding is legal here.
    for (let i = off; i < buf.length; i++) {
      if (buf[i] !== 0) throw new RtreflectError('ERR_NETLINK_MALFORMED', `netlink batch has ${buf.length - off} stray bytes at its end`);
    }
  }
}
