import { RtreflectError } from '../util/errors.js';
import {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  RTA_TABLE,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_GETNEXTHOP,
  RTM_GETROUTE,
  RT_TABLE_UNSPEC,
} from './netlink-constants.js';
import { forEachMessage, type NlMsg } from './netlink-frame.js';
import { errnoName, type NetlinkSocket, type OverrunInfo } from './netlink-socket.js';

/*
 * Dumps over a request socket (NetlinkSocket.open({ strictCheck: true }), no groups, no protocol filter:
 * a dump datagram holds many messages and the filter would judge it by the first).
 */

/** NLMSG_ERROR flags (linux/netlink.h) and extended-ACK attribute types. */
const NLM_F_CAPPED = 0x100;
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;
const ENOENT = 2;

export interface DumpOptions {
  /** Attempts when the kernel flags the dump inconsistent (NLM_F_DUMP_INTR). Default 10. */
  maxAttempts?: number;
  /**
   * Streaming mode: messages are handed over batch by batch as they arrive and netlinkDump resolves
   * with nothing. If the dump turns out inconsistent, batches were already delivered, so it rejects with
   * ERR_DUMP_INTERRUPTED_STREAM instead of retrying: the caller restarts its own mark-and-sweep.
   */
  onMessages?: (msgs: NlMsg[]) => void;
}

const queues = new WeakMap<NetlinkSocket, Promise<unknown>>();
const seqs = new WeakMap<NetlinkSocket, number>();

function nextSeq(socket: NetlinkSocket): number {
  const cur = seqs.get(socket) ?? Math.floor(Math.random() * 0x7fffffff) + 1;
  const next = cur >= 0xfffffff0 ? 1 : cur + 1;
  seqs.set(socket, next);
  return next;
}

/** Message text of an extended ACK (the kernel's reason, e.g. "Invalid values in header for FIB dump request"). */
export function extAckMessage(flags: number, payload: Buffer, offset: number): string | undefined {
  if (!(flags & NLM_F_ACK_TLVS)) return undefined;
  let off = offset;
  while (off + 4 <= payload.length) {
    const len = payload.readUInt16LE(off);
    const type = payload.readUInt16LE(off + 2) & 0x3fff;
    if (len < 4 || off + len > payload.length) return undefined;
    if (type === NLMSGERR_ATTR_MSG) {
      const s = payload.subarray(off + 4, off + len);
      const nul = s.indexOf(0);
      return (nul >= 0 ? s.subarray(0, nul) : s).toString('utf8');
    }
    off += (len + 3) & ~3;
  }
  return undefined;
}

/** Decodes the negative errno (and ext-ack text) in an NLMSG_ERROR or NLMSG_DONE payload; 0 for success. */
export function decodeNetlinkError(msg: NlMsg): { errno: number; text?: string } {
  if (msg.payload.length < 4) return { errno: 0 };
  const errno = -msg.payload.readInt32LE(0);
  if (errno === 0) return { errno };
  let tlvOffset: number;
  if (msg.type === NLMSG_ERROR) {
    // int error; struct nlmsghdr (capped: header only, else the whole request); then TLVs.
    if (msg.payload.length < 4 + NLMSG_HDRLEN) return { errno };
    const origLen = msg.payload.readUInt32LE(4);
    tlvOffset = 4 + (msg.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : (origLen + 3) & ~3);
  } else {
    tlvOffset = 4;
  }
  return { errno, text: extAckMessage(msg.flags, msg.payload, tlvOffset) };
}

export type DumpState = 'collecting' | 'done';

/**
 * The reply side of one dump attempt, fed with raw batches. Pure (no socket), so the
 * interrupted/error paths can be exercised with crafted buffers.
 */
export class DumpCollector {
  readonly messages: NlMsg[] = [];
  interrupted = false;
  state: DumpState = 'collecting';
  error: RtreflectError | undefined;
  /** errno of a failed dump (from NLMSG_ERROR or the DONE payload); 0 when it succeeded. */
  errno = 0;

  constructor(
    readonly seq: number,
    readonly portId: number,
    readonly what: string,
    private readonly onMessages?: (msgs: NlMsg[]) => void,
  ) {}

  /** Consumes one batch; returns true once the dump is complete (check interrupted / error). */
  feed(batch: Buffer): boolean {
    if (this.state === 'done') return true;
    const out: NlMsg[] = [];
    forEachMessage(batch, (m) => {
      if (m.seq !== this.seq || m.pid !== this.portId) return false; // a notification or a stale reply
      if (m.flags & NLM_F_DUMP_INTR) this.interrupted = true;
      if (m.type === NLMSG_DONE || m.type === NLMSG_ERROR) {
        const { errno, text } = decodeNetlinkError(m);
        if (errno !== 0) {
          this.errno = errno;
          this.error = new RtreflectError(
            'ERR_NETLINK_DUMP',
            `kernel rejected the ${this.what} dump: ${errnoName(errno)}${text ? ` (${text})` : ''}` +
              (errno === 22 ? '; with strict checking EINVAL means the request is malformed' : ''),
            { details: { errno: errnoName(errno), text } },
          );
        }
        this.state = 'done';
        return true;
      }
      out.push(m);
      return false;
    });
    if (out.length > 0 && !(this.onMessages && this.interrupted)) {
      if (this.onMessages) this.onMessages(out);
      else for (const m of out) this.messages.push(m);
    }
    return this.done;
  }

  /** Read through a getter: feed() sets the state inside its callback, where the compiler does not look. */
  private get done(): boolean {
    return this.state === 'done';
  }

  /** Overrun during the dump: messages were lost, so the result cannot be trusted. */
  markLost(): void {
    this.interrupted = true;
  }
}

function describe(request: Buffer): string {
  const type = request.length >= 6 ? request.readUInt16LE(4) : -1;
  switch (type) {
    case RTM_GETROUTE:
      return 'route';
    case RTM_GETLINK:
      return 'link';
    case RTM_GETADDR:
      return 'address';
    case RTM_GETNEXTHOP:
      return 'nexthop';
    default:
      return `type-${type}`;
  }
}

function runAttempt(socket: NetlinkSocket, request: Buffer, collector: DumpCollector): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('overrun', onOverrun);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onData = (batch: Buffer): void => {
      let finished: boolean;
      try {
        finished = collector.feed(batch);
      } catch (err) {
        // A malformed batch or a throwing onMessages: the dump cannot continue.
        // Later replies carry this seq and are ignored by the next dump.
        cleanup();
        reject(err);
        return;
      }
      if (finished) {
        cleanup();
        resolve();
      }
    };
    const onOverrun = (_info: OverrunInfo): void => collector.markLost();
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new RtreflectError('ERR_NETLINK_CLOSED', `netlink socket closed during a ${collector.what} dump`, { userFacing: false }));
    };
    socket.on('data', onData);
    socket.on('overrun', onOverrun);
    socket.on('error', onError);
    socket.on('close', onClose);
    try {
      socket.send(request);
    } catch (err) {
      cleanup();
      reject(err);
    }
  });
}

async function dumpOnce(socket: NetlinkSocket, request: Buffer, opts: DumpOptions): Promise<NlMsg[] | void> {
  if (request.length < NLMSG_HDRLEN || request.readUInt32LE(0) !== request.length) {
    throw new RtreflectError('ERR_NETLINK_DUMP', `dump request is malformed: nlmsg_len does not match its ${request.length} bytes`, { userFacing: false });
  }
  const what = describe(request);
  const maxAttempts = opts.maxAttempts ?? 10;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const seq = nextSeq(socket);
    const req = Buffer.from(request);
    req.writeUInt16LE(req.readUInt16LE(6) | NLM_F_REQUEST | NLM_F_DUMP, 6);
    req.writeUInt32LE(seq, 8);
    req.writeUInt32LE(0, 12);
    const collector = new DumpCollector(seq, socket.portId, what, opts.onMessages);
    await runAttempt(socket, req, collector);
    if (collector.error) {
      // A table that does not exist yet (ENOENT with a table filter) holds no routes.
      if (what === 'route' && collector.errno === ENOENT) return opts.onMessages ? undefined : [];
      throw collector.error;
    }
    if (!collector.interrupted) return opts.onMessages ? undefined : collector.messages;
    if (opts.onMessages) {
      throw new RtreflectError(
        'ERR_DUMP_INTERRUPTED_STREAM',
        `the ${what} dump was interrupted by concurrent changes (NLM_F_DUMP_INTR) after batches were delivered: restart the resynchronisation`,
        { userFacing: false },
      );
    }
  }
  throw new RtreflectError(
    'ERR_DUMP_INTERRUPTED',
    `the ${what} dump was interrupted by concurrent changes ${maxAttempts} times in a row (NLM_F_DUMP_INTR); the kernel tables are changing too fast to read consistently`,
  );
}

/**
 * Runs one dump on a request socket and collects the replies with its seq until NLMSG_DONE.
 * Dumps on one socket are queued, never interleaved. The request's flags get NLM_F_REQUEST|NLM_F_DUMP
 * and a fresh seq (per attempt). Errors: ERR_NETLINK_DUMP (with the errno name, e.g. EINVAL for a
 * request strict checking rejects), ERR_DUMP_INTERRUPTED after maxAttempts inconsistent dumps,
 * ERR_DUMP_INTERRUPTED_STREAM in streaming mode (see DumpOptions.onMessages). A route dump of a table
 * that does not exist returns no routes.
 */
export function netlinkDump(socket: NetlinkSocket, request: Buffer, opts?: { maxAttempts?: number }): Promise<NlMsg[]>;
export function netlinkDump(socket: NetlinkSocket, request: Buffer, opts: DumpOptions & { onMessages: (msgs: NlMsg[]) => void }): Promise<void>;
export function netlinkDump(socket: NetlinkSocket, request: Buffer, opts?: DumpOptions): Promise<NlMsg[] | void>;
export function netlinkDump(socket: NetlinkSocket, request: Buffer, opts: DumpOptions = {}): Promise<NlMsg[] | void> {
  const prev = queues.get(socket) ?? Promise.resolve();
  const run = prev.then(
    () => dumpOnce(socket, request, opts),
    () => dumpOnce(socket, request, opts),
  );
  queues.set(
    socket,
    run.catch(() => undefined),
  );
  return run;
}

/* ---------- request builders ---------- */

function header(len: number, type: number, seq: number): Buffer {
  const b = Buffer.alloc(len);
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  b.writeUInt32LE(seq >>> 0, 8);
  return b;
}

function familyOf(family: number, what: string): number {
  if (family === 4) return AF_INET;
  if (family === 6) return AF_INET6;
  if (family === 0) return AF_UNSPEC;
  throw new RtreflectError('ERR_NETLINK_DUMP', `${what} dump family must be 4 or 6, not ${family}`, { userFacing: false });
}

/**
 * RTM_GETROUTE dump, filtered in the kernel when the socket has strict checking: rtm_protocol,
 * and the table as an RTA_TABLE attribute (the 8-bit rtm_table cannot name tables >= 256), exactly
 * as `ip route show proto P table T` sends it. protocol 0 / no table: no filter.
 */
export function buildRouteDumpRequest(opts: { family: 4 | 6; protocol?: number; table?: number; seq: number }): Buffer {
  const { protocol = 0, table } = opts;
  if (!Number.isInteger(protocol) || protocol < 0 || protocol > 255) {
    throw new RtreflectError('ERR_NETLINK_DUMP', `route protocol ${protocol} must be 0..255`, { userFacing: false });
  }
  if (table !== undefined && (!Number.isInteger(table) || table < 0 || table > 0xffffffff)) {
    throw new RtreflectError('ERR_NETLINK_DUMP', `route table ${table} must be 0..4294967295`, { userFacing: false });
  }
  const withTable = table !== undefined && table !== RT_TABLE_UNSPEC;
  const b = header(NLMSG_HDRLEN + 12 + (withTable ? 8 : 0), RTM_GETROUTE, opts.seq);
  // struct rtmsg { family, dst_len, src_len, tos, table, protocol, scope, type; u32 flags }
  b.writeUInt8(familyOf(opts.family, 'route'), 16);
  b.writeUInt8(RT_TABLE_UNSPEC, 20);
  b.writeUInt8(protocol, 21);
  if (withTable) {
    b.writeUInt16LE(8, 28);
    b.writeUInt16LE(RTA_TABLE, 30);
    b.writeUInt32LE(table, 32);
  }
  return b;
}

/** RTM_GETNEXTHOP dump of all nexthop objects (struct nhmsg, all zero). */
export function buildNexthopDumpRequest(seq: number): Buffer {
  return header(NLMSG_HDRLEN + 8, RTM_GETNEXTHOP, seq);
}

/** RTM_GETLINK dump of all interfaces (struct ifinfomsg, all zero). */
export function buildLinkDumpRequest(seq: number): Buffer {
  return header(NLMSG_HDRLEN + 16, RTM_GETLINK, seq);
}

/** RTM_GETADDR dump of one family's addresses (struct ifaddrmsg); family 0 dumps both. */
export function buildAddrDumpRequest(family: 4 | 6 | 0, seq: number): Buffer {
  const b = header(NLMSG_HDRLEN + 8, RTM_GETADDR, seq);
  b.writeUInt8(familyOf(family, 'address'), 16);
  return b;
}
