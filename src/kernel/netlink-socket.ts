import { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';
import { RtreflectError } from '../util/errors.js';
import { fromNativeError, loadNative, NATIVE_KIND_DATA, NATIVE_KIND_OVERRUN, type NativeRtnl } from './native.js';

export interface NetlinkSocketOptions {
  /** RTNLGRP_* numbers joined with NETLINK_ADD_MEMBERSHIP. None for a dump/request socket. */
  groups?: number[];
  /** Default 64 MiB. SO_RCVBUFFORCE (needs CAP_NET_ADMIN), else SO_RCVBUF (capped at net.core.rmem_max). */
  receiveBufferBytes?: number;
  /** NETLINK_GET_STRICT_CHK: the kernel validates dump requests and filters on their fields. */
  strictCheck?: boolean;
  /**
   * Kernel-side filter: route add/delete notifications whose rtm_protocol is not listed are dropped
   * (RTM_NEWROUTE with NLM_F_REPLACE always passes). Only for event sockets: it judges a datagram by its
   * first message, so on a dump socket it would drop whole batches.
   */
  protocolFilter?: number[] | null;
  /** Open the socket inside this network namespace: a name under /run/netns or a path. */
  netns?: string;
  /** Datagrams read per JS callback at most (default 256), so a burst cannot starve the event loop. */
  maxBatchMessages?: number;
}

export interface OverrunInfo {
  /** The errno number (ENOBUFS) the kernel reported. */
  errno: number;
  at: Date;
}

export const DEFAULT_RECEIVE_BUFFER_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_BATCH_MESSAGES = 256;

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

/** "ENOBUFS" for 105; "errno 999" when unknown. */
export function errnoName(n: number): string {
  return errnoNames.get(Math.abs(n)) ?? `errno ${n}`;
}

/**
 * An rtnetlink socket read through the native addon.
 *
 * Events:
 * - 'data' (batch: Buffer): concatenated netlink messages from one or more datagrams (split with splitMessages);
 * - 'overrun' (OverrunInfo): the kernel dropped messages (ENOBUFS); the socket keeps working,
 *   but the reader's view is stale and must be resynchronised (a dump);
 * - 'error' (RtreflectError): any other socket error;
 * - 'close' (): after close().
 */
export class NetlinkSocket extends EventEmitter {
  readonly receiveBufferBytes: number;
  readonly forced: boolean;
  readonly portId: number;
  readonly netns: string | undefined;
  private readonly native: NativeRtnl;
  private handle: object | null;

  private constructor(native: NativeRtnl, handle: object, portId: number, rcvbuf: number, forced: boolean, netns?: string) {
    super();
    this.native = native;
    this.handle = handle;
    this.portId = portId;
    this.receiveBufferBytes = rcvbuf;
    this.forced = forced;
    this.netns = netns;
  }

  static open(opts: NetlinkSocketOptions = {}): NetlinkSocket {
    const native = loadNative();
    const groups = opts.groups ?? [];
    for (const g of groups) {
      if (!Number.isInteger(g) || g <= 0 || g > 1024) {
        throw new RtreflectError('ERR_NETLINK_SOCKET', `netlink group ${g} is not an RTNLGRP_* number (a positive integer)`);
      }
    }
    const rcvbuf = opts.receiveBufferBytes ?? DEFAULT_RECEIVE_BUFFER_BYTES;
    if (!Number.isInteger(rcvbuf) || rcvbuf < 0 || rcvbuf > 1024 * 1024 * 1024) {
      throw new RtreflectError('ERR_NETLINK_SOCKET', `receiveBufferBytes ${rcvbuf} must be an integer between 0 and 1 GiB`);
    }
    const maxBatch = opts.maxBatchMessages ?? DEFAULT_MAX_BATCH_MESSAGES;
    if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > 65536) {
      throw new RtreflectError('ERR_NETLINK_SOCKET', `maxBatchMessages ${maxBatch} must be an integer between 1 and 65536`);
    }
    // The callback is created before the instance exists; it forwards through this slot.
    let self: NetlinkSocket | undefined;
    const onNative = (kind: number, arg: Buffer | number, text: string | undefined): void => {
      self?.dispatch(kind, arg, text);
    };
    let opened: ReturnType<NativeRtnl['open']>;
    try {
      opened = native.open(opts.netns ?? null, groups, rcvbuf, opts.strictCheck ?? false, maxBatch, onNative);
    } catch (err) {
      throw fromNativeError(err);
    }
    const [handle, portId, effective, forced] = opened;
    self = new NetlinkSocket(native, handle, portId, effective, forced, opts.netns);
    if (opts.protocolFilter) {
      try {
        self.setProtocolFilter(opts.protocolFilter);
      } catch (err) {
        self.close();
        throw err;
      }
    }
    return self;
  }

  get closed(): boolean {
    return this.handle === null;
  }

  /** Sends one request (or several concatenated) to the kernel (port 0). */
  send(msg: Buffer): void {
    try {
      this.native.send(this.open_(), msg);
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** Attaches (or with null removes) the kernel-side route-protocol filter; see NetlinkSocketOptions.protocolFilter. */
  setProtocolFilter(protocols: number[] | null): void {
    try {
      this.native.setFilter(this.open_(), protocols);
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  /** Idempotent. Stops reading and releases the fd, so the socket no longer keeps the process alive. */
  close(): void {
    if (!this.handle) return;
    const h = this.handle;
    this.handle = null;
    this.native.close(h);
    this.emit('close');
  }

  ref(): this {
    if (this.handle) this.native.ref(this.handle);
    return this;
  }

  unref(): this {
    if (this.handle) this.native.unref(this.handle);
    return this;
  }

  private open_(): object {
    if (!this.handle) throw new RtreflectError('ERR_NETLINK_CLOSED', 'the netlink socket is closed', { userFacing: false });
    return this.handle;
  }

  private dispatch(kind: number, arg: Buffer | number, text: string | undefined): void {
    if (kind === NATIVE_KIND_DATA) {
      this.emit('data', arg as Buffer);
    } else if (kind === NATIVE_KIND_OVERRUN) {
      this.emit('overrun', { errno: arg as number, at: new Date() } satisfies OverrunInfo);
    } else {
      const n = arg as number;
      const where = this.netns ? ` in network namespace "${this.netns}"` : '';
      this.emit(
        'error',
        new RtreflectError('ERR_NETLINK_RECV', `netlink socket error${where} (${text ?? 'recv'}): ${errnoName(n)}`, { details: { errno: errnoName(n) } }),
      );
    }
  }
}
