import { createConnection, type Socket } from 'node:net';
import { RtreflectError } from '../../util/errors.js';

/**
 * VPP's socket transport: every message is a 16-byte header (8 unused bytes,
 * a big-endian u32 payload length, 4 unused bytes) and the payload. Frames are
 * reassembled across reads; writes made in the same tick go out as one write
 * (pipelining).
 */

export const HEADER_LEN = 16;
/** Larger than any reply rtreflect asks for (a dump detail with many paths is a few KB); a bigger length means a corrupt stream. */
export const MAX_PAYLOAD = 64 * 1024 * 1024;

export interface TransportEvents {
  onMessage(payload: Buffer): void;
  /** The connection ended; `err` says why when it was not a clean close by us. */
  onClose(err?: Error): void;
}

export function frame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LEN + payload.length);
  out.fill(0, 0, HEADER_LEN);
  out.writeUInt32BE(payload.length, 8);
  payload.copy(out, HEADER_LEN);
  return out;
}

/**
 * Messages written back to back as frames (header + payload) into one buffer,
 * so that a batch goes out in one write with no copy and no object per message.
 */
export class FrameBatch {
  buf: Buffer;
  /** Bytes used. */
  end = 0;
  /** Where each frame starts. */
  readonly starts: number[] = [];

  constructor(sizeHint = 4096) {
    this.buf = Buffer.allocUnsafe(Math.max(256, sizeHint));
  }

  get count(): number {
    return this.starts.length;
  }

  /** Adds a frame for a payload of `size` bytes; returns where the payload goes (the caller writes all of it). */
  add(size: number): number {
    const need = this.end + HEADER_LEN + size;
    if (need > this.buf.length) {
      const nb = Buffer.allocUnsafe(Math.max(this.buf.length * 2, need));
      this.buf.copy(nb, 0, 0, this.end);
      this.buf = nb;
    }
    const at = this.end;
    this.buf.fill(0, at, at + HEADER_LEN);
    this.buf.writeUInt32BE(size, at + 8);
    this.starts.push(at);
    this.end = need;
    return at + HEADER_LEN;
  }

  /** Adds a frame holding a copy of `payload`. */
  addPayload(payload: Buffer): void {
    const at = this.add(payload.length);
    payload.copy(this.buf, at);
  }

  /** Where frame `i` (0..count) starts; `count` gives the end. */
  frameStart(i: number): number {
    return i < this.starts.length ? this.starts[i]! : this.end;
  }

  /** Drops frames from `i` on (one that could not be written whole). */
  truncate(i: number): void {
    if (i >= this.starts.length) return;
    this.end = this.starts[i]!;
    this.starts.length = i;
  }
}

/** Splits a byte stream into payloads. Feed chunks in; complete payloads come out. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private have = 0;

  /** Returns the complete payloads; throws ERR_VPP_PROTOCOL on an impossible length. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.have += chunk.length;
    const out: Buffer[] = [];
    while (this.have >= HEADER_LEN) {
      const head = this.peek(HEADER_LEN);
      const len = head.readUInt32BE(8);
      if (len > MAX_PAYLOAD) {
        throw new RtreflectError(
          'ERR_VPP_PROTOCOL',
          `VPP API socket sent a frame of ${len} bytes (limit ${MAX_PAYLOAD}); the stream is corrupt or this is not a VPP API socket`,
        );
      }
      if (this.have < HEADER_LEN + len) break;
      const all = this.take(HEADER_LEN + len);
      out.push(all.subarray(HEADER_LEN));
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    let first = this.chunks[0]!;
    if (first.length < n) {
      first = Buffer.concat(this.chunks);
      this.chunks = [first];
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.have -= n;
    return out;
  }
}

export class VppTransport {
  private sock: Socket | undefined;
  private reader = new FrameReader();
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  private closed = false;

  private constructor(private readonly events: TransportEvents) {}

  /** Connects to VPP's API socket (`socksvr { socket-name … }`). */
  static connect(path: string, events: TransportEvents, timeoutMs: number): Promise<VppTransport> {
    const t = new VppTransport(events);
    return new Promise((resolve, reject) => {
      const sock = createConnection({ path });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new RtreflectError('ERR_VPP_CONNECT', `connecting to VPP API socket ${path} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const onErr = (err: NodeJS.ErrnoException): void => {
        clearTimeout(timer);
        const hint =
          err.code === 'ENOENT'
            ? ' (is VPP running, with `socksvr { socket-name … }` in its startup config?)'
            : err.code === 'EACCES'
              ? " (rtreflect needs read/write access to the socket: run it as root or in VPP's group)"
              : '';
        reject(new RtreflectError('ERR_VPP_CONNECT', `cannot connect to VPP API socket ${path}: ${err.code ?? err.message}${hint}`, { cause: err }));
      };
      sock.once('error', onErr);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.off('error', onErr);
        t.attach(sock);
        resolve(t);
      });
    });
  }

  private attach(sock: Socket): void {
    this.sock = sock;
    sock.setNoDelay?.(true);
    let closeErr: Error | undefined;
    sock.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      let payloads: Buffer[];
      try {
        payloads = this.reader.push(chunk);
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
      for (const p of payloads) {
        if (this.closed) return;
        this.events.onMessage(p);
      }
    });
    sock.on('error', (err) => {
      closeErr = err;
    });
    sock.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      this.events.onClose(closeErr ?? new RtreflectError('ERR_VPP_DISCONNECTED', 'VPP closed the API socket (VPP restarted or stopped?)'));
    });
  }

  /** Queues one payload; frames queued in the same tick are written together. */
  send(payload: Buffer): void {
    if (this.closed || !this.sock) throw new RtreflectError('ERR_VPP_DISCONNECTED', 'VPP API connection is closed');
    // Headers are written at flush, into the one buffer that goes out (no allocation per message).
    this.pending.push(payload);
    this.pendingBytes += HEADER_LEN + payload.length;
    if (this.pendingBytes >= 256 * 1024) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes frames already laid out (a FrameBatch's bytes) now, after whatever is queued. */
  writeFrames(frames: Buffer): void {
    if (this.closed || !this.sock) throw new RtreflectError('ERR_VPP_DISCONNECTED', 'VPP API connection is closed');
    this.flush();
    this.sock.write(frames);
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0 || this.closed || !this.sock) return;
    const data = Buffer.allocUnsafe(this.pendingBytes);
    let off = 0;
    for (const p of this.pending) {
      data.fill(0, off, off + HEADER_LEN);
      data.writeUInt32BE(p.length, off + 8);
      p.copy(data, off + HEADER_LEN);
      off += HEADER_LEN + p.length;
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.sock.write(data);
  }

  /** Closes the connection; onClose fires with `err` unless err is undefined (a close we asked for). */
  destroy(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.sock?.destroy();
    if (err) this.events.onClose(err);
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
