import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { GrpcCallError, grpcServerStream } from '../../src/sinks/gobgp/grpc-raw-stream.js';

/**
 * The bare gRPC server-stream reader that reads a RIB back, against a loopback HTTP/2 server
 * that answers the way gobgpd does (gRPC framing, status in trailers).
 */

/** `n` gRPC-framed messages of `size` bytes, message i filled with i & 0xff. */
function framed(n: number, size: number): Buffer {
  const out = Buffer.alloc(n * (5 + size));
  for (let i = 0; i < n; i++) {
    const at = i * (5 + size);
    out.writeUInt32BE(size, at + 1);
    out.fill(i & 0xff, at + 5, at + 5 + size);
  }
  return out;
}

type Answer = (stream: ServerHttp2Stream) => void;

function answer(body: Buffer, status = 0, message?: string): Answer {
  return (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () =>
      stream.sendTrailers({ 'grpc-status': String(status), ...(message ? { 'grpc-message': encodeURIComponent(message) } : {}) }),
    );
    stream.end(body);
  };
}

describe('grpcServerStream', () => {
  let server: Http2Server;
  let address = '';
  let next: Answer = answer(Buffer.alloc(0));

  before(async () => {
    server = createServer();
    server.on('stream', (stream) => next(stream));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('hands over every message whole, in order, whatever the frames cut', async () => {
    next = answer(framed(3000, 700)); // ~2 MB: messages straddle HTTP/2 frames
    const seen: number[] = [];
    await grpcServerStream(address, '/test.Svc/List', Buffer.alloc(0), (m) => {
      assert.equal(m.length, 700);
      assert.ok(m.every((b) => b === m[0]));
      seen.push(m[0]!);
    });
    assert.equal(seen.length, 3000);
    assert.deepEqual(seen.slice(0, 3), [0, 1, 2]);
    assert.equal(seen[2999], 2999 & 0xff);
  });

  it("rejects with the server's gRPC status and message", async () => {
    next = answer(framed(2, 10), 5, 'no such table');
    await assert.rejects(
      grpcServerStream(address, '/test.Svc/List', Buffer.alloc(0), () => undefined),
      (e: unknown) => {
        assert.ok(e instanceof GrpcCallError);
        assert.equal(e.code, 5);
        assert.equal(e.details, 'no such table');
        return true;
      },
    );
  });

  it('hands a backlog over in slices of about a millisecond, so other work runs between them', async () => {
    // The reader is busy when the first message comes (as rtreflect is while it loads the kernel at
    // start-up); meanwhile the server sends megabytes. Taken in one go, the backlog would keep every
    // timer and socket of the process waiting until all of it was decoded.
    next = answer(framed(4000, 1024));
    let turn = 0;
    let running = true;
    const tick = (): void => {
      turn++;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const perTurn = new Map<number, number>();
    let first = true;
    try {
      await grpcServerStream(address, '/test.Svc/List', Buffer.alloc(0), () => {
        if (first) {
          first = false;
          spin(300); // busy, not waiting: nothing else runs
        }
        spin(0.05);
        perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1);
      });
    } finally {
      running = false;
    }
    const sum = [...perTurn.values()].reduce((a, b) => a + b, 0);
    assert.equal(sum, 4000);
    // 1 ms of 50 µs messages is 20, plus the rest of the HTTP/2 frame that crosses it (16 of 1 KiB).
    // A slower machine only fits fewer. Unpaced, one turn takes thousands.
    const most = Math.max(...perTurn.values());
    assert.ok(most <= 40, `at most ~36 messages per turn of the event loop, saw ${most} in one`);
  });

  it('runs what a timer or socket queued before the next slice, not after it', async () => {
    // A kernel event is read in the poll phase and queues the engine's drain with setImmediate. That
    // must not wait behind the read's next slice as well as the current one.
    next = answer(framed(4000, 1024));
    let handed = 0;
    let running = true;
    const between: number[] = [];
    const probe = (): void => {
      if (!running) return;
      const at = handed;
      setImmediate(() => {
        between.push(handed - at);
        setTimeout(probe, 0);
      });
    };
    setTimeout(probe, 0);
    try {
      await grpcServerStream(address, '/test.Svc/List', Buffer.alloc(0), () => {
        spin(0.05);
        handed++;
      });
    } finally {
      running = false;
    }
    assert.ok(between.length >= 20, `the timer ran ${between.length} times during the read`);
    // A timer that fell due during a slice fires after it; its immediate then comes before the next.
    const none = between.filter((n) => n === 0).length;
    assert.ok(none >= between.length * 0.8, `messages handed over between a timer and its immediate: ${between.join(' ')}`);
  });
});

/** Busy for `ms`, as decoding is: nothing else runs meanwhile. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}
