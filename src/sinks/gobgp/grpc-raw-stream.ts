import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { afterLoopTurn } from '../../util/loop-turn.js';

/**
 * A gRPC server-streaming call over Node's own HTTP/2, handing each reply's
 * bytes to a callback. For reading a full RIB back (a million small messages)
 * grpc-js's per-message machinery (decoder stream, filters, events, ticks)
 * costs more than decoding the replies; gRPC's framing itself is a 5-byte
 * prefix per message. Everything else keeps using grpc-js.
 *
 * Errors carry gRPC's numeric `code` and `details` like grpc-js's, so callers
 * treat both the same: a connection that fails or drops is UNAVAILABLE (14).
 */
export class GrpcCallError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${code} ${STATUS_NAMES[code] ?? ''}: ${details}`.replace(' : ', ': '));
    this.name = 'GrpcCallError';
  }
}

const STATUS_NAMES: Record<number, string> = {
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  8: 'RESOURCE_EXHAUSTED',
  12: 'UNIMPLEMENTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
};
const UNAVAILABLE = 14;
const INTERNAL = 13;
/** Larger than any single reply rtreflect reads (a destination with its paths); more means a broken stream. */
const MAX_MESSAGE = 64 * 1024 * 1024;

/**
 * Flow-control windows for a read of a whole RIB: HTTP/2's default 64 KiB lets gobgpd send
 * only ~600 destinations ahead, so every pause of this process (a kernel dump batch, a GC)
 * stalled gobgpd too. With these it keeps sending; the bytes wait in our buffers instead.
 */
const STREAM_WINDOW = 8 * 1024 * 1024;
const SESSION_WINDOW = 32 * 1024 * 1024;

/**
 * Milliseconds of work on replies per slice. A read that fell behind (the start-up's kernel load kept
 * this process busy while gobgpd went on sending) finds megabytes waiting; taken in one go they would
 * keep kernel events and writes waiting just as long. Between slices the event loop runs once in full
 * (afterLoopTurn), so a live change waits for at most about one slice: the full-table bench's
 * "live change during a restart's comparison" measures it. Counted in time, not bytes: what a reply
 * costs grows with the tables it is compared against.
 */
const SLICE_MS = 1;

function openSession(address: string): ClientHttp2Session {
  const settings = { initialWindowSize: STREAM_WINDOW };
  let session: ClientHttp2Session;
  if (address.startsWith('unix:')) {
    const path = address.replace(/^unix:(\/\/)?/, '');
    session = connect('http://localhost', { settings, createConnection: () => netConnect(path) });
  } else session = connect(`http://${address}`, { settings });
  session.once('connect', () => session.setLocalWindowSize(SESSION_WINDOW));
  return session;
}

/** Calls `method` (e.g. "/apipb.GobgpApi/ListPath") with an encoded request; resolves when the server ends the stream with status 0. */
export function grpcServerStream(address: string, method: string, request: Buffer, onMessage: (msg: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const session = openSession(address);
    let settled = false;
    let status: number | undefined;
    let details = '';
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      session.close();
      if (err) {
        session.destroy();
        reject(err);
      } else resolve();
    };
    session.on('error', (e: Error) => finish(new GrpcCallError(UNAVAILABLE, `connection to ${address} failed: ${e.message}`)));
    session.on('close', () => finish(new GrpcCallError(UNAVAILABLE, `connection to ${address} closed during ${method}`)));
    const stream = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: method,
      [constants.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      te: 'trailers',
    });
    const noteStatus = (h: Record<string, unknown>): void => {
      if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']);
      if (h['grpc-message'] !== undefined) details = decodeURIComponent(String(h['grpc-message']));
    };
    stream.on('response', (h) => {
      const http = Number(h[constants.HTTP2_HEADER_STATUS]);
      if (http !== 200) finish(new GrpcCallError(UNAVAILABLE, `${method}: the server answered HTTP ${http}, not gRPC`));
      noteStatus(h);
    });
    stream.on('trailers', noteStatus);
    let pending: Buffer | undefined;
    /** Work done on replies since the last pause, in ms. */
    let sliceWork = 0;
    const resume = (): void => {
      if (!settled) stream.resume();
    };
    stream.on('data', (chunk: Buffer) => {
      if (settled) return;
      const t0 = performance.now();
      const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      let at = 0;
      try {
        while (buf.length - at >= 5) {
          if (buf[at] !== 0) throw new GrpcCallError(INTERNAL, `${method}: a compressed reply, which rtreflect did not ask for`);
          const len = buf.readUInt32BE(at + 1);
          if (len > MAX_MESSAGE) throw new GrpcCallError(INTERNAL, `${method}: a reply of ${len} bytes, more than any reply can be`);
          if (buf.length - at - 5 < len) break;
          onMessage(buf.subarray(at + 5, at + 5 + len));
          at += 5 + len;
        }
      } catch (e) {
        stream.close(constants.NGHTTP2_CANCEL);
        finish(e as Error);
        return;
      }
      pending = at < buf.length ? buf.subarray(at) : undefined;
      sliceWork += performance.now() - t0;
      if (sliceWork >= SLICE_MS) {
        sliceWork = 0;
        stream.pause(); // the rest waits in the stream's buffer
        afterLoopTurn(resume);
      }
    });
    stream.on('error', (e: Error) => finish(new GrpcCallError(UNAVAILABLE, `${method} failed: ${e.message}`)));
    stream.on('end', () => {
      if (pending && pending.length > 0) return finish(new GrpcCallError(INTERNAL, `${method}: the stream ended inside a reply`));
      if (status === undefined) return finish(new GrpcCallError(UNAVAILABLE, `${method}: the stream ended without a gRPC status`));
      if (status !== 0) return finish(new GrpcCallError(status, details || `${method} failed`));
      finish();
    });
    stream.end(frameMessage(request));
  });
}

function frameMessage(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}
