import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VppClient, type VppClientOptions } from '../../src/sinks/vpp/vpp-client.js';
import { VppCodec } from '../../src/sinks/vpp/vpp-codec.js';
import { ReconnectLoop, RECONNECT_JITTER } from '../../src/sinks/vpp/vpp-reconnect-loop.js';
import { FrameBatch, FrameReader, frame, MAX_PAYLOAD } from '../../src/sinks/vpp/vpp-transport.js';
import { RtreflectError } from '../../src/util/errors.js';
import { silentLogger } from '../../src/util/logger.js';
import { FakeVpp, fixtureDefs, type FakeVppOptions, vppTest, vppDefsSkip } from '../helpers/vpp.js';

function isErr(code: string, re?: RegExp) {
  return (e: unknown) => e instanceof RtreflectError && e.code === code && (!re || re.test(e.message));
}

async function withFake(opts: FakeVppOptions, clientOpts: Partial<VppClientOptions>, fn: (c: VppClient, f: FakeVpp) => Promise<void>): Promise<void> {
  const fake = new FakeVpp(opts);
  await fake.listen();
  const client = new VppClient(new VppCodec(fixtureDefs()), {
    socket: fake.path,
    clientName: 'test',
    window: 64,
    requestTimeoutMs: 2000,
    connectTimeoutMs: 2000,
    logger: silentLogger(),
    ...clientOpts,
  });
  try {
    await fn(client, fake);
  } finally {
    await client.close();
    await fake.close();
  }
}

vppTest('frames are reassembled whatever the read boundaries', () => {
  const payloads = [Buffer.from([1, 2, 3]), Buffer.alloc(0), Buffer.from('hello world'), Buffer.alloc(70000, 7)];
  const stream = Buffer.concat(payloads.map(frame));
  for (const step of [1, 2, 5, 16, 17, 1000, stream.length]) {
    const r = new FrameReader();
    const got: Buffer[] = [];
    for (let i = 0; i < stream.length; i += step) got.push(...r.push(stream.subarray(i, i + step)));
    assert.deepEqual(
      got.map((b) => b.toString('hex')),
      payloads.map((b) => b.toString('hex')),
      `step ${step}`,
    );
  }
  // VPP leaves junk in the unused header bytes: ignore it.
  const f = frame(Buffer.from([9]));
  f.fill(0xee, 0, 8);
  f.fill(0xee, 12, 16);
  assert.deepEqual([...new FrameReader().push(f)[0]!], [9]);
});

vppTest('an impossible frame length is a protocol error', () => {
  const h = Buffer.alloc(16);
  h.writeUInt32BE(MAX_PAYLOAD + 1, 8);
  assert.throws(() => new FrameReader().push(h), isErr('ERR_VPP_PROTOCOL', /not a VPP API socket/));
});

vppTest('handshake resolves ids by name and CRC; requests and dumps work', async () => {
  await withFake(
    {
      handle: (name, req, peer) => {
        if (name === 'ip_table_add_del') peer.reply('ip_table_add_del_reply', { context: req.context, retval: 0 });
        if (name === 'ip_table_dump') {
          for (const id of [0, 7]) peer.reply('ip_table_details', { context: req.context, table: { table_id: id, is_ip6: false, name: `t${id}` } });
        }
      },
    },
    {},
    async (c, fake) => {
      await c.connect();
      assert.ok(c.has('ip_route_add_del_v2'));
      const r = await c.call('ip_table_add_del', { is_add: true, table: { table_id: 7 } });
      assert.equal(r.retval, 0);
      const sent = fake.received.find((m) => m.name === 'ip_table_add_del')!;
      assert.equal(sent.msg.client_index, 7, 'uses the index from sockclnt_create_reply');
      const tables = await c.dump('ip_table_dump');
      assert.deepEqual(
        tables.map((t) => (t.table as { table_id: number }).table_id),
        [0, 7],
      );
    },
  );
});

vppTest('a CRC mismatch names the message and both versions', async () => {
  await withFake({ crcOverride: { ip_route_add_del_v2: '0xdeadbeef' }, omit: ['lcp_itf_pair_get'] }, {}, async (c) => {
    await c.connect();
    assert.equal(c.has('ip_route_add_del_v2'), false);
    assert.deepEqual(c.status('ip_route_add_del_v2'), { ok: false, reason: 'crc', vppCrc: '0xdeadbeef', ourCrc: '0x521ef330' });
    assert.throws(
      () => c.require(['ip_route_add_del_v2', 'lcp_itf_pair_get']),
      isErr(
        'ERR_VPP_API_MISMATCH',
        /ip_route_add_del_v2: definitions have CRC 0x521ef330, running VPP has 0xdeadbeef; lcp_itf_pair_get: not offered by the running VPP/,
      ),
    );
    await assert.rejects(c.request('ip_route_add_del_v2', {}), isErr('ERR_VPP_API_MISMATCH'));
  });
});

vppTest('requests are pipelined within the window and matched by context', async () => {
  let outstanding = 0,
    maxOutstanding = 0;
  await withFake(
    {
      handle: (name, req, peer) => {
        if (name !== 'ip_table_add_del') return;
        outstanding++;
        maxOutstanding = Math.max(maxOutstanding, outstanding);
        // Answer later and out of order.
        setTimeout(
          () => {
            outstanding--;
            peer.reply('ip_table_add_del_reply', { context: req.context, retval: -(req.table as { table_id: number }).table_id });
          },
          5 + ((req.table as { table_id: number }).table_id % 3) * 5,
        );
      },
    },
    { window: 8 },
    async (c) => {
      await c.connect();
      const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => c.request('ip_table_add_del', { table: { table_id: i } })));
      assert.deepEqual(
        rs.map((r) => r.retval),
        Array.from({ length: 100 }, (_, i) => -i || 0),
      );
      assert.ok(maxOutstanding <= 8, `at most 8 in flight, saw ${maxOutstanding}`);
      assert.ok(maxOutstanding >= 2, 'requests were pipelined');
    },
  );
});

vppTest('a malformed reply fails the request clearly, resets the connection, and does not crash', async () => {
  let closed: Error | undefined;
  await withFake(
    {
      handle: (name, req, peer) => {
        if (name !== 'ip_table_add_del') return;
        // The right id and context, then the message stops short.
        const good = fake_codec.encode('ip_table_add_del_reply', {
          _vl_msg_id: peer.ids.get('ip_table_add_del_reply')!,
          context: req.context as number,
          retval: 0,
        });
        peer.raw(good.subarray(0, 7));
      },
    },
    {
      onClose: (e) => {
        closed = e;
      },
    },
    async (c) => {
      await c.connect();
      await assert.rejects(c.request('ip_table_add_del', {}), isErr('ERR_VPP_DISCONNECTED', /ip_table_add_del_reply is truncated/));
      assert.ok(closed instanceof RtreflectError && closed.code === 'ERR_VPP_DECODE');
      assert.equal(c.connected, false);
      await assert.rejects(c.request('ip_table_add_del', {}), isErr('ERR_VPP_DISCONNECTED'));
    },
  );
});
const fake_codec = vppDefsSkip ? (undefined as unknown as VppCodec) : new VppCodec(fixtureDefs());

vppTest('a request VPP does not answer times out', async () => {
  await withFake({}, { requestTimeoutMs: 100 }, async (c) => {
    await c.connect();
    await assert.rejects(c.request('ip_table_add_del', {}), isErr('ERR_VPP_TIMEOUT', /did not answer ip_table_add_del within 100 ms/));
  });
});

vppTest('cursor streams continue while VPP says EAGAIN', async () => {
  await withFake(
    {
      handle: (name, req, peer) => {
        if (name !== 'lcp_itf_pair_get') return;
        const cur = req.cursor as number;
        peer.reply('lcp_itf_pair_details', { context: req.context, phy_sw_if_index: cur + 1, host_if_name: `e${cur}`, vif_index: 10 + cur });
        peer.reply('lcp_itf_pair_get_reply', { context: req.context, retval: cur < 2 ? -165 : 0, cursor: cur + 1 });
      },
    },
    {},
    async (c) => {
      await c.connect();
      const pairs = await c.getAll('lcp_itf_pair_get');
      assert.deepEqual(
        pairs.map((p) => p.host_if_name),
        ['e0', 'e1', 'e2'],
      );
    },
  );
});

vppTest('losing the connection rejects what is in flight and tells the owner', async () => {
  let closed: Error | undefined;
  await withFake(
    {
      handle: (name, _req, peer) => {
        if (name === 'ip_table_add_del') peer.close();
      },
    },
    {
      onClose: (e) => {
        closed = e;
      },
    },
    async (c) => {
      await c.connect();
      await assert.rejects(c.request('ip_table_add_del', {}), isErr('ERR_VPP_DISCONNECTED'));
      assert.ok(closed);
      // And it can connect again.
      await c.connect();
      assert.ok(c.connected);
    },
  );
});

vppTest('connecting to a missing socket says what to check', async () => {
  const c = new VppClient(new VppCodec(fixtureDefs()), {
    socket: '/nonexistent/api.sock',
    clientName: 't',
    window: 1,
    requestTimeoutMs: 100,
    connectTimeoutMs: 500,
    logger: silentLogger(),
  });
  await assert.rejects(c.connect(), isErr('ERR_VPP_CONNECT', /\/nonexistent\/api\.sock: ENOENT \(is VPP running/));
});

/** The delays a reconnect loop reports for its first `n` failed attempts against a VPP that never answers. */
async function failedAttemptDelays(backoff: { initialMs: number; maxMs: number }, n: number): Promise<number[]> {
  const client = { connected: false, connect: () => Promise.reject(new Error('VPP is not there')) } as unknown as VppClient;
  const delays: number[] = [];
  // The loop's timers are unref'd (they must not keep a daemon alive); this one keeps the test alive.
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    await new Promise<void>((done) => {
      const loop = new ReconnectLoop(
        client,
        backoff,
        async () => undefined,
        () => assert.fail('connected to nothing'),
        (_err, retryInMs) => {
          delays.push(retryInMs);
          if (delays.length === n) {
            loop.stop();
            done();
          }
        },
      );
      loop.schedule();
    });
  } finally {
    clearInterval(keepAlive);
  }
  return delays;
}

test('reconnect delays double up to the cap, and stay within the jitter band', async (t) => {
  // The first attempt waits initialMs (4), unreported; each failure reports the wait before the next.
  const steps = [8, 16, 32, 32, 32];
  for (const [random, factor] of [
    [0, 1 - RECONNECT_JITTER],
    [1, 1 + RECONNECT_JITTER],
  ] as const) {
    const r = t.mock.method(Math, 'random', () => random);
    assert.deepEqual(
      await failedAttemptDelays({ initialMs: 4, maxMs: 32 }, steps.length),
      steps.map((s) => s * factor),
      `Math.random() = ${random}`,
    );
    r.mock.restore();
  }
  const delays = await failedAttemptDelays({ initialMs: 4, maxMs: 32 }, steps.length);
  delays.forEach((d, i) =>
    assert.ok(
      d >= Math.round(steps[i]! * (1 - RECONNECT_JITTER)) && d <= Math.round(steps[i]! * (1 + RECONNECT_JITTER)),
      `delay ${i} is ${d}, step ${steps[i]}`,
    ),
  );
});

/** ip_table_add_del requests, encoded ahead (the batch path fills in ids and context). */
function tableAdds(n: number): FrameBatch {
  const b = new FrameBatch(64);
  for (let i = 0; i < n; i++) b.addPayload(fake_codec.encode('ip_table_add_del', { is_add: true, table: { table_id: i } }));
  return b;
}

vppTest('requestMany: one write per chunk, never more than the window outstanding, retvals in order', async () => {
  let outstanding = 0,
    maxOutstanding = 0;
  const contexts: number[] = [];
  await withFake(
    {
      handle: (name, req, peer) => {
        if (name !== 'ip_table_add_del') return;
        outstanding++;
        maxOutstanding = Math.max(maxOutstanding, outstanding);
        contexts.push(req.context as number);
        assert.equal(req.client_index, 7);
        const id = (req.table as { table_id: number }).table_id;
        setTimeout(
          () => {
            outstanding--;
            peer.reply('ip_table_add_del_reply', { context: req.context, retval: id % 5 === 0 ? -id : 0 });
          },
          2 + (id % 4),
        );
      },
    },
    { window: 16 },
    async (c) => {
      await c.connect();
      // A single request meanwhile takes its place in the window too.
      const [rvs, single] = await Promise.all([c.requestMany('ip_table_add_del', tableAdds(50)), c.request('ip_table_add_del', { table: { table_id: 1 } })]);
      assert.deepEqual(
        [...rvs],
        Array.from({ length: 50 }, (_, i) => (i % 5 === 0 && i > 0 ? -i : 0)),
      );
      assert.equal(single.retval, 0);
      assert.ok(maxOutstanding <= 16, `at most 16 in flight, saw ${maxOutstanding}`);
      assert.equal(new Set(contexts).size, contexts.length, 'contexts are unique');
      assert.ok(!contexts.includes(0));
      assert.deepEqual([...(await c.requestMany('ip_table_add_del', new FrameBatch()))], []);
    },
  );
});

vppTest('requestMany: a batch VPP stops answering times out on one timer, and three timeouts in a row reconnect', async () => {
  let closed: Error | undefined;
  let answer = 2;
  await withFake(
    {
      handle: (name, req, peer) => {
        if (name === 'ip_table_add_del' && answer-- > 0) peer.reply('ip_table_add_del_reply', { context: req.context, retval: 0 });
      },
    },
    {
      requestTimeoutMs: 150,
      onClose: (e) => {
        closed = e;
      },
    },
    async (c) => {
      await c.connect();
      const t0 = Date.now();
      await assert.rejects(
        c.requestMany('ip_table_add_del', tableAdds(5)),
        isErr('ERR_VPP_TIMEOUT', /did not answer 3 of 5 ip_table_add_del request\(s\) within 150 ms/),
      );
      assert.ok(Date.now() - t0 < 1000);
      assert.ok(closed instanceof RtreflectError && closed.code === 'ERR_VPP_TIMEOUT', 'three unanswered requests: the connection is reset');
      assert.equal(c.connected, false);
    },
  );
});

vppTest('requestMany: losing the connection rejects the batch; a truncated reply resets it', async () => {
  await withFake(
    {
      handle: (name, _req, peer) => {
        if (name === 'ip_table_add_del') peer.close();
      },
    },
    {},
    async (c) => {
      await c.connect();
      await assert.rejects(c.requestMany('ip_table_add_del', tableAdds(3)), isErr('ERR_VPP_DISCONNECTED'));
      await assert.rejects(c.requestMany('ip_table_add_del', tableAdds(3)), isErr('ERR_VPP_DISCONNECTED', /not sent/));
    },
  );
  await withFake(
    {
      handle: (name, req, peer) => {
        if (name !== 'ip_table_add_del') return;
        peer.raw(
          fake_codec
            .encode('ip_table_add_del_reply', { _vl_msg_id: peer.ids.get('ip_table_add_del_reply')!, context: req.context as number, retval: 0 })
            .subarray(0, 7),
        );
      },
    },
    {},
    async (c) => {
      await c.connect();
      await assert.rejects(c.requestMany('ip_table_add_del', tableAdds(2)), isErr('ERR_VPP_DISCONNECTED', /ip_table_add_del_reply is truncated/));
    },
  );
});

vppTest('requestMany: when a chunk times out, the chunks still waiting for the window are not sent', async () => {
  await withFake({}, { window: 2, requestTimeoutMs: 100 }, async (c, fake) => {
    await c.connect();
    await assert.rejects(c.requestMany('ip_table_add_del', tableAdds(6)), isErr('ERR_VPP_TIMEOUT', /did not answer 2 of 2/));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(fake.received.filter((m) => m.name === 'ip_table_add_del').length, 2);
  });
});
