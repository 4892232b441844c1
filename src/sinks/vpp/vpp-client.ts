import { RtreflectError } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import type { VppCodec, VppMessage } from './vpp-codec.js';
import { putUint } from './vpp-field-locator.js';
import { MessageOffsets, type BatchOffsets } from './vpp-message-offsets.js';
import { MessageTable, type MessageStatus } from './vpp-message-table.js';
import { OpenBatches, type Batch } from './vpp-open-batches.js';
import { RequestWindow } from './vpp-request-window.js';
import { VPP_EAGAIN, vppErrorName } from './vpp-retvals.js';
import { HEADER_LEN, VppTransport, type FrameBatch } from './vpp-transport.js';

/**
 * VPP binary-API client over the socket transport: handshake, message ids by
 * name+CRC, many requests in flight within a window, replies matched by
 * context, old-style dumps closed by control_ping, per-request timeouts, and
 * batches of pre-encoded requests (requestMany) with one timer per batch.
 * Reconnection is driven by the owner through `onClose` and `connect()`
 * (see `ReconnectLoop` in vpp-reconnect-loop.ts). Its parts: MessageTable
 * (ids and versions), RequestWindow (slots in flight), OpenBatches and
 * MessageOffsets (batched requests read and patched in place).
 * (About 500 lines: request, dump and batch paths share the one window and reply matcher.)
 */

/** sockclnt_create and its reply have fixed ids: they are needed before the message table is known. */
const SOCKCLNT_CREATE_ID = 15;
const SOCKCLNT_CREATE_REPLY_ID = 16;

export interface VppClientOptions {
  socket: string;
  /** Shown by VPP in `show api clients`. */
  clientName: string;
  window: number;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  logger: Logger;
  /** The connection was lost (VPP closed it, it failed, or a reply was malformed). Not called for close(). */
  onClose?: (err: Error) => void;
}

interface Pending {
  name: string;
  /** Message that ends the request: its reply, or control_ping_reply for a dump. */
  endName: string;
  detailName?: string;
  details?: VppMessage[];
  /** Takes each detail's payload undecoded (dumpRaw). */
  raw?: (payload: Buffer) => void;
  resolve(v: VppMessage | VppMessage[]): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class VppClient {
  private transport: VppTransport | undefined;
  private clientIndex = 0;
  private context = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly messages: MessageTable;
  private handshake: { resolve(p: Buffer): void } | undefined;
  private readonly window: RequestWindow;
  private readonly batches = new OpenBatches();
  private readonly offsets: MessageOffsets;
  /** dumpRaw calls under way: while there are any, details are looked at before decoding. */
  private rawDumps = 0;
  private consecutiveTimeouts = 0;
  private generation = 0;
  private closing = false;

  constructor(
    private readonly codec: VppCodec,
    private readonly opts: VppClientOptions,
  ) {
    this.offsets = new MessageOffsets(codec);
    this.messages = new MessageTable(codec.defs);
    this.window = new RequestWindow(opts.window);
  }

  get connected(): boolean {
    return this.transport !== undefined && !this.transport.isClosed && this.messages.resolved;
  }

  /** One connection attempt: socket + sockclnt_create. Resolves ids of every message in our definitions that VPP knows with the same CRC. */
  async connect(): Promise<void> {
    this.teardown(undefined);
    this.closing = false;
    const gen = ++this.generation;
    const t = await VppTransport.connect(
      this.opts.socket,
      {
        onMessage: (p) => this.onMessage(p, gen),
        onClose: (err) => this.onTransportClose(err, gen),
      },
      this.opts.connectTimeoutMs,
    );
    this.transport = t;
    const replyP = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.handshake = undefined;
        reject(new RtreflectError('ERR_VPP_CONNECT', `VPP did not answer sockclnt_create on ${this.opts.socket} within ${this.opts.connectTimeoutMs} ms`));
      }, this.opts.connectTimeoutMs);
      this.handshake = {
        resolve: (p) => {
          clearTimeout(timer);
          resolve(p);
        },
      };
      this.handshakeReject = (e) => {
        clearTimeout(timer);
        reject(e);
      };
    });
    try {
      t.send(this.codec.encode('sockclnt_create', { _vl_msg_id: SOCKCLNT_CREATE_ID, context: 0, name: this.opts.clientName.slice(0, 63) }));
      const payload = await replyP;
      const reply = this.codec.decode('sockclnt_create_reply', payload);
      if (reply.response !== 0)
        throw new RtreflectError('ERR_VPP_CONNECT', `VPP refused the API client registration (sockclnt_create response ${String(reply.response)})`);
      this.clientIndex = reply.index as number;
      this.messages.learn(reply.message_table as { index: number; name: string }[]);
      if (!this.messages.has('control_ping')) throw this.messages.mismatch(['control_ping']);
    } catch (err) {
      this.teardown(undefined);
      throw err instanceof RtreflectError
        ? err
        : new RtreflectError('ERR_VPP_CONNECT', `VPP API handshake on ${this.opts.socket} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      this.handshake = undefined;
      this.handshakeReject = undefined;
    }
  }

  private handshakeReject: ((e: Error) => void) | undefined;

  status(name: string): MessageStatus {
    return this.messages.status(name);
  }

  has(name: string): boolean {
    return this.messages.has(name);
  }

  /** Throws one error naming every listed message the running VPP lacks or has in another version. */
  require(names: string[]): void {
    this.messages.require(names);
  }

  /** Sends a request and resolves with its reply (whatever its retval). */
  request(name: string, fields: VppMessage = {}, replyName?: string): Promise<VppMessage> {
    const svc = this.codec.defs.services.get(name);
    const end = replyName ?? svc?.reply ?? `${name}_reply`;
    return this.send(name, fields, end) as Promise<VppMessage>;
  }

  /** Sends a request, and throws ERR_VPP_RETVAL when its reply's retval is not 0. */
  async call(name: string, fields: VppMessage = {}): Promise<VppMessage> {
    const r = await this.request(name, fields);
    const rv = r.retval as number | undefined;
    if (rv !== undefined && rv !== 0) {
      throw new RtreflectError('ERR_VPP_RETVAL', `VPP refused ${name}: retval ${rv} (${vppErrorName(rv)})`, { details: { retval: rv } });
    }
    return r;
  }

  /** Old-style dump: the request, then control_ping with the same context; details end at control_ping_reply. */
  dump(name: string, fields: VppMessage = {}, detailName?: string): Promise<VppMessage[]> {
    const dn = detailName ?? this.codec.defs.services.get(name)?.reply ?? name.replace(/_dump$/, '_details');
    return this.send(name, fields, 'control_ping_reply', dn, true) as Promise<VppMessage[]>;
  }

  /**
   * Old-style dump whose details are handed to `onDetail` as payloads, not
   * decoded (the caller reads them in place; `onDetail` throwing means the
   * message is malformed: the connection is reset, as for any bad reply).
   */
  async dumpRaw(name: string, fields: VppMessage, onDetail: (payload: Buffer) => void, detailName?: string): Promise<void> {
    const dn = detailName ?? this.codec.defs.services.get(name)?.reply ?? name.replace(/_dump$/, '_details');
    this.offsets.context(dn); // fails here, not on the first detail, when the definitions have no context
    this.rawDumps++;
    try {
      await this.send(name, fields, 'control_ping_reply', dn, true, onDetail);
    } finally {
      this.rawDumps--;
    }
  }

  /**
   * New-style cursor stream (`*_get`): details, then the reply carrying a cursor;
   * retval EAGAIN means "ask again from this cursor".
   */
  async getAll(name: string, fields: VppMessage = {}): Promise<VppMessage[]> {
    const svc = this.codec.defs.services.get(name);
    if (!svc?.streamMsg) throw new RtreflectError('ERR_VPP_API_DEFS', `${name} is not a cursor stream in the API definitions`);
    const out: VppMessage[] = [];
    let cursor = 0;
    for (let round = 0; round < 100_000; round++) {
      const res = (await this.send(name, { ...fields, cursor }, svc.reply, svc.streamMsg)) as VppMessage[];
      const reply = res.pop()!;
      out.push(...res);
      const rv = reply.retval as number;
      if (rv === VPP_EAGAIN) {
        cursor = reply.cursor as number;
        continue;
      }
      if (rv !== 0) throw new RtreflectError('ERR_VPP_RETVAL', `VPP refused ${name}: retval ${rv} (${vppErrorName(rv)})`);
      return out;
    }
    throw new RtreflectError('ERR_VPP_PROTOCOL', `VPP kept asking to continue ${name}; giving up`);
  }

  /**
   * Sends pre-encoded requests of one kind, framed in `batch` (their
   * _vl_msg_id, client_index and context are filled in here), and resolves
   * with every reply's retval, in order. Goes out in chunks of at most
   * `window` requests, each chunk in one write under one timer (restarted by
   * every reply). A lost connection or a chunk VPP stops answering rejects the
   * whole call. The batch's bytes must not change until it settles.
   */
  async requestMany(name: string, batch: FrameBatch): Promise<Int32Array> {
    const n = batch.count;
    const retvals = new Int32Array(n);
    if (n === 0) return retvals;
    const offs = this.offsets.batch(name);
    const chunk = this.opts.window;
    const parts: Promise<void>[] = [];
    // Once a chunk failed the call fails: later chunks still waiting for the window are not sent.
    const call = { failed: false };
    for (let i = 0; i < n; i += chunk) parts.push(this.sendChunk(name, offs, batch, i, Math.min(n, i + chunk), retvals, call));
    // The first chunk to fail (in order) says why; the later ones only were not sent.
    for (const r of await Promise.allSettled(parts)) if (r.status === 'rejected') throw r.reason;
    return retvals;
  }

  private async sendChunk(
    name: string,
    offs: BatchOffsets,
    batch: FrameBatch,
    from: number,
    to: number,
    retvals: Int32Array,
    call: { failed: boolean },
  ): Promise<void> {
    const id = this.messages.id(name);
    const replyId = this.messages.id(offs.reply.name);
    if (id === undefined || replyId === undefined) {
      if (!this.transport || this.transport.isClosed) throw new RtreflectError('ERR_VPP_DISCONNECTED', `VPP API connection is down; ${name} not sent`);
      throw this.messages.mismatch(id === undefined ? [name] : [offs.reply.name]);
    }
    const n = to - from;
    await this.window.acquire(n);
    const t = this.transport;
    if (!t || t.isClosed || this.messages.id(name) !== id) {
      this.window.release(n);
      throw new RtreflectError('ERR_VPP_DISCONNECTED', `VPP API connection is down; ${name} not sent`);
    }
    if (call.failed) {
      this.window.release(n);
      throw new RtreflectError('ERR_VPP_TIMEOUT', `${name} not sent: an earlier part of the batch failed`);
    }
    const start = this.contextRange(n);
    const buf = batch.buf;
    for (let i = 0; i < n; i++) {
      const p = batch.starts[from + i]! + HEADER_LEN;
      putUint(buf, p + offs.msgId.offset, offs.msgId.size, id);
      putUint(buf, p + offs.clientIndex.offset, offs.clientIndex.size, this.clientIndex);
      putUint(buf, p + offs.context.offset, offs.context.size, (start + i) >>> 0);
    }
    return new Promise<void>((resolve, reject) => {
      const b: Batch = {
        name,
        start,
        count: n,
        replyId,
        reply: offs.reply,
        retvals,
        base: from,
        seen: new Uint8Array(n),
        answered: 0,
        call,
        resolve,
        reject,
        timer: setTimeout(() => this.batchTimedOut(b, t), this.opts.requestTimeoutMs),
      };
      this.batches.add(b);
      t.writeFrames(buf.subarray(batch.frameStart(from), batch.frameStart(to)));
    });
  }

  private batchTimedOut(b: Batch, t: VppTransport): void {
    if (!this.batches.remove(b)) return;
    b.call.failed = true;
    const missing = b.count - b.answered;
    this.window.release(missing);
    b.reject(new RtreflectError('ERR_VPP_TIMEOUT', `VPP did not answer ${missing} of ${b.count} ${b.name} request(s) within ${this.opts.requestTimeoutMs} ms`));
    // Each unanswered request counts, as when they were sent one by one.
    this.consecutiveTimeouts += missing;
    if (this.consecutiveTimeouts >= 3 && this.transport === t) {
      t.destroy(new RtreflectError('ERR_VPP_TIMEOUT', `VPP stopped answering on ${this.opts.socket}; reconnecting`));
    }
  }

  /** A reply to a batched request, read in place; false when it is not one (then it is decoded as usual). */
  private batchReply(id: number, payload: Buffer): boolean {
    let b = this.batches.withReplyId(id);
    if (!b) return false;
    const r = b.reply;
    if (payload.length < r.context + 4 || payload.length < r.retval + 4) {
      this.fail(new RtreflectError('ERR_VPP_DECODE', `VPP message ${r.name} is truncated: ${payload.length} byte(s), retval ends at ${r.retval + 4}`));
      return true;
    }
    const ctx = payload.readUInt32BE(r.context);
    b = this.batches.of(ctx);
    if (!b || b.replyId !== id) return false;
    const i = (ctx - b.start) >>> 0;
    if (b.seen[i]) return true;
    b.seen[i] = 1;
    b.retvals[b.base + i] = payload.readInt32BE(r.retval);
    this.consecutiveTimeouts = 0;
    this.window.release(1);
    if (++b.answered === b.count) {
      clearTimeout(b.timer);
      this.batches.remove(b);
      b.resolve();
    } else b.timer.refresh();
    return true;
  }

  private async send(
    name: string,
    fields: VppMessage,
    endName: string,
    detailName?: string,
    ping = false,
    raw?: (payload: Buffer) => void,
  ): Promise<VppMessage | VppMessage[]> {
    const id = this.messages.id(name);
    if (id === undefined) {
      if (!this.transport || this.transport.isClosed) throw new RtreflectError('ERR_VPP_DISCONNECTED', `VPP API connection is down; ${name} not sent`);
      throw this.messages.mismatch([name]);
    }
    await this.window.acquire();
    const t = this.transport;
    if (!t || t.isClosed) {
      this.window.release();
      throw new RtreflectError('ERR_VPP_DISCONNECTED', `VPP API connection is down; ${name} not sent`);
    }
    const ctx = this.nextContext();
    let payload: Buffer, ping_: Buffer | undefined;
    try {
      payload = this.codec.encode(name, { ...fields, _vl_msg_id: id, client_index: this.clientIndex, context: ctx });
      if (ping) ping_ = this.codec.encode('control_ping', { _vl_msg_id: this.messages.id('control_ping')!, client_index: this.clientIndex, context: ctx });
    } catch (err) {
      this.window.release();
      throw err;
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.get(ctx)?.timer !== timer) return;
        this.pending.delete(ctx);
        this.window.release();
        reject(new RtreflectError('ERR_VPP_TIMEOUT', `VPP did not answer ${name} within ${this.opts.requestTimeoutMs} ms`));
        // Many timeouts in a row: the connection is wedged; start over.
        if (++this.consecutiveTimeouts >= 3 && this.transport === t) {
          t.destroy(new RtreflectError('ERR_VPP_TIMEOUT', `VPP stopped answering on ${this.opts.socket}; reconnecting`));
        }
      }, this.opts.requestTimeoutMs);
      this.pending.set(ctx, { name, endName, detailName, details: detailName ? [] : undefined, raw, resolve, reject, timer });
      t.send(payload);
      if (ping_) t.send(ping_);
    });
  }

  private nextContext(): number {
    // Skip 0 (the handshake's) and contexts still in use after a wrap.
    do {
      this.context = (this.context + 1) >>> 0;
    } while (this.context === 0 || this.pending.has(this.context) || (!this.batches.empty && this.batches.of(this.context) !== undefined));
    return this.context;
  }

  /** `n` consecutive free contexts (a batch's), never 0 nor across the wrap. */
  private contextRange(n: number): number {
    for (;;) {
      let start = (this.context + 1) >>> 0;
      if (start === 0 || start + n - 1 > 0xffffffff) start = 1;
      this.context = start + n - 1;
      let busy = this.batches.overlaps(start, n);
      if (!busy)
        for (const ctx of this.pending.keys())
          if ((ctx - start) >>> 0 < n) {
            busy = true;
            break;
          }
      if (!busy) return start;
    }
  }

  private onMessage(payload: Buffer, gen: number): void {
    if (gen !== this.generation) return;
    if (payload.length < 2) return this.fail(new RtreflectError('ERR_VPP_DECODE', `VPP sent a ${payload.length}-byte message, too short for a message id`));
    const id = payload.readUInt16BE(0);
    if (this.handshake) {
      if (id === SOCKCLNT_CREATE_REPLY_ID) this.handshake.resolve(payload);
      return;
    }
    if (!this.batches.empty && this.batchReply(id, payload)) return;
    const name = this.messages.name(id);
    if (name === undefined) {
      this.opts.logger.debug({ id }, 'VPP sent a message rtreflect has no definition for; ignored');
      return;
    }
    if (this.rawDumps > 0 && this.rawDetail(name, payload)) return;
    let msg: VppMessage;
    try {
      msg = this.codec.decode(name, payload);
    } catch (err) {
      return this.fail(err as Error);
    }
    if (name === 'memclnt_keepalive') {
      const rid = this.messages.id('memclnt_keepalive_reply');
      if (rid !== undefined) this.transport?.send(this.codec.encode('memclnt_keepalive_reply', { _vl_msg_id: rid, context: msg.context, retval: 0 }));
      return;
    }
    const ctx = msg.context as number;
    const p = this.pending.get(ctx);
    if (!p) return; // a late reply to a request that timed out
    this.consecutiveTimeouts = 0;
    if (name === p.detailName && p.details) {
      p.details.push(msg);
      // A detail is progress: restart the request's timer so long dumps do not time out.
      p.timer.refresh();
      return;
    }
    if (name !== p.endName) {
      this.opts.logger.warn({ request: p.name, got: name }, 'VPP answered with an unexpected message; ignored');
      return;
    }
    clearTimeout(p.timer);
    this.pending.delete(ctx);
    this.window.release();
    if (p.details) {
      if (p.endName !== 'control_ping_reply') p.details.push(msg);
      p.resolve(p.details);
    } else p.resolve(msg);
  }

  /** A detail of a dumpRaw, handed over undecoded; false when it is not one. */
  private rawDetail(name: string, payload: Buffer): boolean {
    const off = this.offsets.knownContext(name);
    if (off === undefined || payload.length < off + 4) return false;
    const p = this.pending.get(payload.readUInt32BE(off));
    if (!p?.raw || p.detailName !== name) return false;
    this.consecutiveTimeouts = 0;
    p.timer.refresh();
    try {
      p.raw(payload);
    } catch (err) {
      this.fail(err as Error);
    }
    return true;
  }

  /** A malformed reply: never guess; drop the connection so the owner reconnects and resyncs. */
  private fail(err: Error): void {
    this.opts.logger.error({ err: err.message }, 'malformed message from VPP; resetting the API connection');
    this.transport?.destroy(err);
  }

  private onTransportClose(err: Error | undefined, gen: number): void {
    if (gen !== this.generation) return;
    this.handshakeReject?.(err ?? new RtreflectError('ERR_VPP_DISCONNECTED', 'VPP closed the API socket during the handshake'));
    const hadSession = this.messages.resolved;
    this.teardown(err);
    if (hadSession && err && !this.closing) this.opts.onClose?.(err);
  }

  /** Rejects everything outstanding with `err` (or a generic disconnect) and forgets the connection. */
  private teardown(err: Error | undefined): void {
    const t = this.transport;
    this.transport = undefined;
    this.messages.forget();
    t?.destroy();
    const e = new RtreflectError('ERR_VPP_DISCONNECTED', `VPP API connection lost${err ? `: ${err.message}` : ''}`, { cause: err });
    for (const [ctx, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(ctx);
      p.reject(e);
    }
    for (const b of this.batches.takeAll()) {
      clearTimeout(b.timer);
      b.call.failed = true;
      b.reject(e);
    }
    this.window.wakeAll();
    this.consecutiveTimeouts = 0;
  }

  /** Says goodbye (sockclnt_delete) and closes. */
  async close(): Promise<void> {
    this.closing = true;
    const t = this.transport;
    if (t && !t.isClosed && this.messages.has('sockclnt_delete')) {
      await Promise.race([this.request('sockclnt_delete', { index: this.clientIndex }).catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
    }
    this.generation++;
    this.teardown(undefined);
  }
}
