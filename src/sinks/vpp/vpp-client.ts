import { RtreflectError } from '../../util/errors.js';
import type { Logger } from '../../util/logger.js';
import { nameCrc } from './vpp-api-defs.js';
import type { VppCodec, VppMessage } from './vpp-codec.js';
import { FieldLocator, putUint } from './vpp-field-locator.js';
import { HEADER_LEN, VppTransport, type FrameBatch } from './vpp-transport.js';

/**
 * VPP binary-API client over the socket transport: handshake, message ids by
 * name+CRC, many requests in flight within a window, replies matched by
 * context, old-style dumps closed by control_ping, per-request timeouts, and
 * batches of pre-encoded requests (requestMany) with one timer per batch.
 * Reconnection is driven by the owner through `onClose` and `connect()`
 * (see `ReconnectLoop` in vpp-reconnect-loop.ts).
 */

/** sockclnt_create and its reply have fixed ids: they are needed before the message table is known. */
const SOCKCLNT_CREATE_ID = 15;
const SOCKCLNT_CREATE_REPLY_ID = 16;

/** A few of VPP's api_errno values, to make failures readable. */
const VPP_ERRORS: Record<number, string> = {
  [-1]: 'UNSPECIFIED', [-2]: 'INVALID_SW_IF_INDEX', [-3]: 'NO_SUCH_FIB', [-6]: 'NO_SUCH_ENTRY', [-7]: 'INVALID_VALUE',
  [-52]: 'NO_PATHS_IN_ROUTE', [-99]: 'TABLE_TOO_BIG', [-165]: 'EAGAIN', [-171]: 'INVALID_PREFIX_LENGTH',
};
export const VPP_EAGAIN = -165;

export function vppErrorName(retval: number): string {
  return VPP_ERRORS[retval] ?? 'error';
}

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

/**
 * A batch of requests of one kind (requestMany) sent at once: contexts
 * start..start+count-1, one timer, replies read in place (retval only).
 */
interface Batch {
  name: string;
  start: number;
  count: number;
  replyId: number;
  reply: ReplyOffsets;
  retvals: Int32Array;
  /** Index into retvals of this batch's first request. */
  base: number;
  seen: Uint8Array;
  answered: number;
  /** The requestMany call this chunk belongs to: marked failed when the chunk fails. */
  call: { failed: boolean };
  resolve(): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

type IntSlot = { offset: number; size: 1 | 2 | 4 };
interface ReplyOffsets { name: string; context: number; retval: number }
/** Where requestMany patches ids and context into a request, and reads its reply. */
interface BatchOffsets { msgId: IntSlot; clientIndex: IntSlot; context: IntSlot; reply: ReplyOffsets }

/** How a definition compares with what the running VPP offers. */
export type MessageStatus = { ok: true } | { ok: false; reason: 'missing' } | { ok: false; reason: 'crc'; vppCrc: string; ourCrc: string };

export class VppClient {
  private transport: VppTransport | undefined;
  private clientIndex = 0;
  private context = 1;
  private readonly pending = new Map<number, Pending>();
  /** VPP's message table: name_crc → id, and name → crc. */
  private table = new Map<string, number>();
  private vppCrcs = new Map<string, string>();
  /** Our resolved messages: name → id, id → name. */
  private ids = new Map<string, number>();
  private names = new Map<number, string>();
  private handshake: { resolve(p: Buffer): void } | undefined;
  private inflight = 0;
  /** Batches waiting for replies (few: at most window / batch size). */
  private batches: Batch[] = [];
  private readonly batchOffsets = new Map<string, BatchOffsets>();
  private readonly locator: FieldLocator;
  private readonly contextOffsets = new Map<string, number>();
  /** dumpRaw calls under way: while there are any, details are looked at before decoding. */
  private rawDumps = 0;
  private waitQ: { n: number; go: () => void }[] = [];
  private waitHead = 0;
  private consecutiveTimeouts = 0;
  private generation = 0;
  private closing = false;

  constructor(private readonly codec: VppCodec, private readonly opts: VppClientOptions) {
    this.locator = new FieldLocator(codec);
  }

  get connected(): boolean {
    return this.transport !== undefined && !this.transport.isClosed && this.ids.size > 0;
  }

  /** One connection attempt: socket + sockclnt_create. Resolves ids of every message in our definitions that VPP knows with the same CRC. */
  async connect(): Promise<void> {
    this.teardown(undefined);
    this.closing = false;
    const gen = ++this.generation;
    const t = await VppTransport.connect(this.opts.socket, {
      onMessage: (p) => this.onMessage(p, gen),
      onClose: (err) => this.onTransportClose(err, gen),
    }, this.opts.connectTimeoutMs);
    this.transport = t;
    const replyP = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.handshake = undefined;
        reject(new RtreflectError('ERR_VPP_CONNECT', `VPP did not answer sockclnt_create on ${this.opts.socket} within ${this.opts.connectTimeoutMs} ms`));
      }, this.opts.connectTimeoutMs);
      this.handshake = { resolve: (p) => { clearTimeout(timer); resolve(p); } };
      this.handshakeReject = (e) => { clearTimeout(timer); reject(e); };
    });
    try {
      t.send(this.codec.encode('sockclnt_create', { _vl_msg_id: SOCKCLNT_CREATE_ID, context: 0, name: this.opts.clientName.slice(0, 63) }));
      const payload = await replyP;
      const reply = this.codec.decode('sockclnt_create_reply', payload);
      if (reply.response !== 0) throw new RtreflectError('ERR_VPP_CONNECT', `VPP refused the API client registration (sockclnt_create response ${String(reply.response)})`);
      this.clientIndex = reply.index as number;
      this.table = new Map();
      this.vppCrcs = new Map();
      for (const e of reply.message_table as { index: number; name: string }[]) {
        this.table.set(e.name, e.index);
        const m = /^(.*)_([0-9a-f]{8})$/.exec(e.name);
        if (m) this.vppCrcs.set(m[1]!, m[2]!);
      }
      this.ids = new Map();
      this.names = new Map();
      for (const [name, def] of this.codec.defs.messages) {
        const id = this.table.get(nameCrc(name, def.crc));
        if (id !== undefined) {
          this.ids.set(name, id);
          this.names.set(id, name);
        }
      }
      if (!this.ids.has('control_ping')) throw this.statusError(['control_ping']);
    } catch (err) {
      this.teardown(undefined);
      throw err instanceof RtreflectError ? err : new RtreflectError('ERR_VPP_CONNECT', `VPP API handshake on ${this.opts.socket} failed: ${(err as Error).message}`, { cause: err });
    } finally {
      this.handshake = undefined;
      this.handshakeReject = undefined;
    }
  }

  private handshakeReject: ((e: Error) => void) | undefined;

  status(name: string): MessageStatus {
    const def = this.codec.defs.messages.get(name);
    if (!def) return { ok: false, reason: 'missing' };
    if (this.ids.has(name)) return { ok: true };
    const vppCrc = this.vppCrcs.get(name);
    if (vppCrc === undefined) return { ok: false, reason: 'missing' };
    return { ok: false, reason: 'crc', vppCrc: `0x${vppCrc}`, ourCrc: def.crc };
  }

  has(name: string): boolean {
    return this.ids.has(name);
  }

  /** Throws one error naming every listed message the running VPP lacks or has in another version. */
  require(names: string[]): void {
    const bad = names.filter((n) => !this.ids.has(n));
    if (bad.length) throw this.statusError(bad);
  }

  private statusError(names: string[]): RtreflectError {
    const parts = names.map((n) => {
      const s = this.status(n);
      if (s.ok) return '';
      if (!this.codec.defs.messages.has(n)) return `${n}: not in the API definitions read (apiDir)`;
      if (s.reason === 'crc') return `${n}: definitions have CRC ${s.ourCrc}, running VPP has ${s.vppCrc}`;
      return `${n}: not offered by the running VPP (older VPP, or its plugin is not loaded)`;
    }).filter(Boolean);
    return new RtreflectError(
      'ERR_VPP_API_MISMATCH',
      `the running VPP does not match the API definitions rtreflect read: ${parts.join('; ')}. Point apiDir at the share/vpp/api directory of the VPP that is running (the two must come from the same VPP build)`,
    );
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
    this.contextOffset(dn); // fails here, not on the first detail, when the definitions have no context
    this.rawDumps++;
    try {
      await this.send(name, fields, 'control_ping_reply', dn, true, onDetail);
    } finally {
      this.rawDumps--;
    }
  }

  /** Offset of a message's context field, from the definitions. */
  private contextOffset(name: string): number {
    let o = this.contextOffsets.get(name);
    if (o === undefined) {
      const c = this.locator.int(name, ['context']);
      if (c.size !== 4) throw new RtreflectError('ERR_VPP_API_DEFS', `${name}'s context is not a 32-bit field`);
      o = c.offset;
      this.contextOffsets.set(name, o);
    }
    return o;
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
      if (rv === VPP_EAGAIN) { cursor = reply.cursor as number; continue; }
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
    const offs = this.offsetsFor(name);
    const chunk = this.opts.window;
    const parts: Promise<void>[] = [];
    // Once a chunk failed the call fails: later chunks still waiting for the window are not sent.
    const call = { failed: false };
    for (let i = 0; i < n; i += chunk) parts.push(this.sendChunk(name, offs, batch, i, Math.min(n, i + chunk), retvals, call));
    // The first chunk to fail (in order) says why; the later ones only were not sent.
    for (const r of await Promise.allSettled(parts)) if (r.status === 'rejected') throw r.reason;
    return retvals;
  }

  /** Offsets of the header fields and of the reply's context and retval, from the definitions. */
  private offsetsFor(name: string): BatchOffsets {
    let o = this.batchOffsets.get(name);
    if (!o) {
      const L = this.locator;
      const replyName = this.codec.defs.services.get(name)?.reply ?? `${name}_reply`;
      const ctx = L.int(replyName, ['context']);
      const rv = L.int(replyName, ['retval']);
      if (rv.size !== 4 || ctx.size !== 4) throw new RtreflectError('ERR_VPP_API_DEFS', `${replyName}'s context and retval are not 32-bit fields`);
      o = {
        msgId: L.int(name, ['_vl_msg_id']), clientIndex: L.int(name, ['client_index']), context: L.int(name, ['context']),
        reply: { name: replyName, context: ctx.offset, retval: rv.offset },
      };
      this.batchOffsets.set(name, o);
    }
    return o;
  }

  private async sendChunk(name: string, offs: BatchOffsets, batch: FrameBatch, from: number, to: number, retvals: Int32Array, call: { failed: boolean }): Promise<void> {
    const id = this.ids.get(name);
    const replyId = this.ids.get(offs.reply.name);
    if (id === undefined || replyId === undefined) {
      if (!this.transport || this.transport.isClosed) throw new RtreflectError('ERR_VPP_DISCONNECTED', `VPP API connection is down; ${name} not sent`);
      throw this.statusError(id === undefined ? [name] : [offs.reply.name]);
    }
    const n = to - from;
    await this.acquire(n);
    const t = this.transport;
    if (!t || t.isClosed || this.ids.get(name) !== id) {
      this.release(n);
      throw new RtreflectError('ERR_VPP_DISCONNECTED', `VPP API connection is down; ${name} not sent`);
    }
    if (call.failed) {
      this.release(n);
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
        name, start, count: n, replyId, reply: offs.reply, retvals, base: from, seen: new Uint8Array(n), answered: 0, call, resolve, reject,
        timer: setTimeout(() => this.batchTimedOut(b, t), this.opts.requestTimeoutMs),
      };
      this.batches.push(b);
      t.writeFrames(buf.subarray(batch.frameStart(from), batch.frameStart(to)));
    });
  }

  private batchTimedOut(b: Batch, t: VppTransport): void {
    if (!this.dropBatch(b)) return;
    b.call.failed = true;
    const missing = b.count - b.answered;
    this.release(missing);
    b.reject(new RtreflectError('ERR_VPP_TIMEOUT', `VPP did not answer ${missing} of ${b.count} ${b.name} request(s) within ${this.opts.requestTimeoutMs} ms`));
    // Each unanswered request counts, as when they were sent one by one.
    this.consecutiveTimeouts += missing;
    if (this.consecutiveTimeouts >= 3 && this.transport === t) {
      t.destroy(new RtreflectError('ERR_VPP_TIMEOUT', `VPP stopped answering on ${this.opts.socket}; reconnecting`));
    }
  }

  private dropBatch(b: Batch): boolean {
    const i = this.batches.indexOf(b);
    if (i < 0) return false;
    this.batches.splice(i, 1);
    return true;
  }

  /** The batch a context belongs to. */
  private batchOf(ctx: number): Batch | undefined {
    for (const b of this.batches) if (((ctx - b.start) >>> 0) < b.count) return b;
    return undefined;
  }

  /** A reply to a batched request, read in place; false when it is not one (then it is decoded as usual). */
  private batchReply(id: number, payload: Buffer): boolean {
    let b: Batch | undefined;
    for (const x of this.batches) if (x.replyId === id) { b = x; break; }
    if (!b) return false;
    const r = b.reply;
    if (payload.length < r.context + 4 || payload.length < r.retval + 4) {
      this.fail(new RtreflectError('ERR_VPP_DECODE', `VPP message ${r.name} is truncated: ${payload.length} byte(s), retval ends at ${r.retval + 4}`));
      return true;
    }
    const ctx = payload.readUInt32BE(r.context);
    b = this.batchOf(ctx);
    if (!b || b.replyId !== id) return false;
    const i = (ctx - b.start) >>> 0;
    if (b.seen[i]) return true;
    b.seen[i] = 1;
    b.retvals[b.base + i] = payload.readInt32BE(r.retval);
    this.consecutiveTimeouts = 0;
    this.release(1);
    if (++b.answered === b.count) {
      clearTimeout(b.timer);
      this.dropBatch(b);
      b.resolve();
    } else b.timer.refresh();
    return true;
  }

  private async send(name: string, fields: VppMessage, endName: string, detailName?: string, ping = false, raw?: (payload: Buffer) => void): Promise<VppMessage | VppMessage[]> {
    const id = this.ids.get(name);
    if (id === undefined) {
      if (!this.transport || this.transport.isClosed) throw new RtreflectError('ERR_VPP_DISCONNECTED', `VPP API connection is down; ${name} not sent`);
      throw this.statusError([name]);
    }
    await this.acquire();
    const t = this.transport;
    if (!t || t.isClosed) {
      this.release();
      throw new RtreflectError('ERR_VPP_DISCONNECTED', `VPP API connection is down; ${name} not sent`);
    }
    const ctx = this.nextContext();
    let payload: Buffer, ping_: Buffer | undefined;
    try {
      payload = this.codec.encode(name, { ...fields, _vl_msg_id: id, client_index: this.clientIndex, context: ctx });
      if (ping) ping_ = this.codec.encode('control_ping', { _vl_msg_id: this.ids.get('control_ping')!, client_index: this.clientIndex, context: ctx });
    } catch (err) {
      this.release();
      throw err;
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.get(ctx)?.timer !== timer) return;
        this.pending.delete(ctx);
        this.release();
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
    } while (this.context === 0 || this.pending.has(this.context) || (this.batches.length > 0 && this.batchOf(this.context)));
    return this.context;
  }

  /** `n` consecutive free contexts (a batch's), never 0 nor across the wrap. */
  private contextRange(n: number): number {
    for (;;) {
      let start = (this.context + 1) >>> 0;
      if (start === 0 || start + n - 1 > 0xffffffff) start = 1;
      this.context = start + n - 1;
      let busy = false;
      for (const ctx of this.pending.keys()) if (((ctx - start) >>> 0) < n) { busy = true; break; }
      for (const b of this.batches) if (((b.start - start) >>> 0) < n || ((start - b.start) >>> 0) < b.count) { busy = true; break; }
      if (!busy) return start;
    }
  }

  /** Takes `n` (<= window) request slots, waiting in line when they are not free. */
  private acquire(n = 1): Promise<void> {
    if (this.waitHead === this.waitQ.length && this.inflight + n <= this.opts.window) {
      this.inflight += n;
      return Promise.resolve();
    }
    return new Promise((go) => this.waitQ.push({ n, go }));
  }

  private release(n = 1): void {
    this.inflight -= n;
    // Slots go to the waiters in order: a batch waiting for many is not overtaken by single requests.
    while (this.waitHead < this.waitQ.length) {
      const next = this.waitQ[this.waitHead]!;
      if (this.inflight + next.n > this.opts.window) break;
      this.inflight += next.n;
      this.waitQ[this.waitHead++] = undefined as unknown as { n: number; go: () => void };
      next.go();
    }
    if (this.waitHead > 1024 && this.waitHead * 2 > this.waitQ.length) {
      this.waitQ = this.waitQ.slice(this.waitHead);
      this.waitHead = 0;
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
    if (this.batches.length > 0 && this.batchReply(id, payload)) return;
    const name = this.names.get(id);
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
      const rid = this.ids.get('memclnt_keepalive_reply');
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
    this.release();
    if (p.details) {
      if (p.endName !== 'control_ping_reply') p.details.push(msg);
      p.resolve(p.details);
    } else p.resolve(msg);
  }

  /** A detail of a dumpRaw, handed over undecoded; false when it is not one. */
  private rawDetail(name: string, payload: Buffer): boolean {
    const off = this.contextOffsets.get(name);
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
    const hadSession = this.ids.size > 0;
    this.teardown(err);
    if (hadSession && err && !this.closing) this.opts.onClose?.(err);
  }

  /** Rejects everything outstanding with `err` (or a generic disconnect) and forgets the connection. */
  private teardown(err: Error | undefined): void {
    const t = this.transport;
    this.transport = undefined;
    this.ids = new Map();
    this.names = new Map();
    t?.destroy();
    const e = new RtreflectError('ERR_VPP_DISCONNECTED', `VPP API connection lost${err ? `: ${err.message}` : ''}`, { cause: err });
    for (const [ctx, p] of this.pending) {
      clearTimeout(p.timer);
      this.pending.delete(ctx);
      p.reject(e);
    }
    const batches = this.batches;
    this.batches = [];
    for (const b of batches) {
      clearTimeout(b.timer);
      b.call.failed = true;
      b.reject(e);
    }
    // Waiters wake up, see the connection is down and fail.
    this.inflight = 0;
    const waiters = this.waitQ.slice(this.waitHead);
    this.waitQ = [];
    this.waitHead = 0;
    for (const w of waiters) { this.inflight += w.n; w.go(); }
    this.consecutiveTimeouts = 0;
  }

  /** Says goodbye (sockclnt_delete) and closes. */
  async close(): Promise<void> {
    this.closing = true;
    const t = this.transport;
    if (t && !t.isClosed && this.ids.has('sockclnt_delete')) {
      await Promise.race([
        this.request('sockclnt_delete', { index: this.clientIndex }).catch(() => undefined),
        new Promise((r) => setTimeout(r, 500)),
      ]);
    }
    this.generation++;
    this.teardown(undefined);
  }
}
