/**
 * The native rtnetlink socket against the real kernel, each test in its own network namespace.
 * Needs root (CAP_SYS_ADMIN/CAP_NET_ADMIN) and build/Release/rtnl.node (npm run build:native).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNetns, type Netns } from '../helpers/netns.js';
import { WAIT_MS, deadlineMs, waitFor } from '../helpers/wait-for.js';
import { NetlinkSocket } from '../../src/kernel/netlink-socket.js';
import { sdNotify } from '../../src/systemd/sd-notify.js';
import {
  buildAddrDumpRequest,
  buildLinkDumpRequest,
  buildNexthopDumpRequest,
  buildRouteDumpRequest,
  DumpCollector,
  netlinkDump,
} from '../../src/kernel/netlink-dump.js';
import { splitMessages, type NlMsg } from '../../src/kernel/netlink-frame.js';
import {
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NLMSG_DONE,
  NLMSG_ERROR,
  RTA_DST,
  RTA_TABLE,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTM_DELROUTE,
  RTNLGRP_IPV4_IFADDR,
  RTNLGRP_IPV4_ROUTE,
  RTNLGRP_IPV6_ROUTE,
  RTNLGRP_LINK,
} from '../../src/kernel/netlink-constants.js';
import { RtreflectError } from '../../src/util/errors.js';

const PROTO_BIRD = 12;
const PROTO_STATIC = 4;

/** Minimal route view for assertions: rtmsg fields plus RTA_TABLE/RTA_DST. */
function routeInfo(m: NlMsg): { protocol: number; table: number; dst: string; family: number } {
  const p = m.payload;
  let table = p[4]!;
  let dst = '';
  for (let off = 12; off + 4 <= p.length;) {
    const len = p.readUInt16LE(off);
    const type = p.readUInt16LE(off + 2);
    if (len < 4) break;
    if (type === RTA_TABLE) table = p.readUInt32LE(off + 4);
    if (type === RTA_DST) {
      const a = p.subarray(off + 4, off + len);
      dst = a.length === 4 ? [...a].join('.') : a.toString('hex');
    }
    off += (len + 3) & ~3;
  }
  return { family: p[0]!, protocol: p[5]!, table, dst: `${dst}/${p[1]}` };
}

/** Collects every message the socket delivers, counting callbacks. */
function collect(sock: NetlinkSocket): { msgs: NlMsg[]; callbacks: number; overruns: number } {
  const state = { msgs: [] as NlMsg[], callbacks: 0, overruns: 0 };
  sock.on('data', (batch: Buffer) => {
    state.callbacks++;
    for (const m of splitMessages(batch)) state.msgs.push(m);
  });
  sock.on('overrun', () => {
    state.overruns++;
  });
  return state;
}

/** Resolves once pred() holds, checking after every event-loop turn; fails after `limitMs` (a hang guard, not a timing assertion). */
async function until(pred: () => boolean, what: string, limitMs = WAIT_MS): Promise<void> {
  await waitFor(pred, { describe: what, timeoutMs: limitMs, intervalMs: 5 });
}

const v4 = (i: number, base = 10): string => `${base}.${(i >> 8) & 255}.${i & 255}.0/24`;
const v6 = (i: number): string => `2001:db8:${(i >> 16) & 0xffff}:${(i & 0xffff).toString(16)}::/64`;

describe('NetlinkSocket (native addon) against the kernel', () => {
  let ns: Netns;
  before(async () => {
    ns = await createNetns('native');
  });
  after(async () => {
    await ns?.destroy();
  });

  it('reports the effective receive buffer (doubled by the kernel) and a kernel-assigned port id', () => {
    const s = NetlinkSocket.open({ netns: ns.name, receiveBufferBytes: 8 * 1024 * 1024 });
    try {
      assert.equal(s.forced, true, 'running as root, SO_RCVBUFFORCE must work');
      assert.equal(s.receiveBufferBytes, 16 * 1024 * 1024);
      assert.ok(s.portId > 0);
    } finally {
      s.close();
    }
  });

  it('delivers 1000 route notifications in far fewer callbacks than messages', async () => {
    const sock = NetlinkSocket.open({ netns: ns.name, groups: [RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE] });
    try {
      const got = collect(sock);
      const lines: string[] = [];
      for (let i = 0; i < 500; i++) lines.push(`route add blackhole ${v4(i, 11)} proto bird`);
      for (let i = 0; i < 500; i++) lines.push(`route add blackhole ${v6(i)} proto bird`);
      ns.execBatchSync(lines); // the loop is blocked meanwhile: notifications queue up in the socket
      const birdAdds = (): NlMsg[] => got.msgs.filter((m) => m.type === RTM_NEWROUTE && routeInfo(m).protocol === PROTO_BIRD);
      await until(() => birdAdds().length >= 1000, '1000 RTM_NEWROUTE');
      assert.equal(birdAdds().length, 1000);
      assert.equal(new Set(birdAdds().map((m) => routeInfo(m).dst)).size, 1000, 'every route once');
      assert.ok(got.callbacks <= 20, `expected batches, got ${got.callbacks} callbacks for ${got.msgs.length} messages`);
      assert.equal(got.overruns, 0);
    } finally {
      sock.close();
      await ns.execBatch(['route flush proto bird']);
      await ns.exec('ip', ['-6', 'route', 'flush', 'proto', 'bird']);
    }
  });

  it("the protocol filter drops other protocols' routes but passes replaces, links and addresses", async () => {
    const groups = [RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR];
    const filtered = NetlinkSocket.open({ netns: ns.name, groups, protocolFilter: [PROTO_BIRD] });
    const control = NetlinkSocket.open({ netns: ns.name, groups });
    try {
      const got = collect(filtered);
      const all = collect(control);
      await ns.execBatch([
        ...Array.from({ length: 10 }, (_, i) => `route add blackhole ${v4(i, 20)} proto static`),
        ...Array.from({ length: 10 }, (_, i) => `route add blackhole ${v4(i, 21)} proto bird`),
        `route del blackhole ${v4(0, 20)} proto static`,
        `route del blackhole ${v4(0, 21)} proto bird`,
        `route replace blackhole ${v4(1, 21)} proto static`, // bird's route becomes static's: must be seen
        `route add blackhole ${v6(1)} proto bird`,
        `route replace blackhole ${v6(1)} proto static`,
        'link add rtrtestbr0 type bridge',
        'address add 192.0.2.1/32 dev lo',
        `route add blackhole 198.51.100.0/24 proto bird`, // sentinel: last event
      ]);
      const isSentinel = (m: NlMsg): boolean => m.type === RTM_NEWROUTE && routeInfo(m).dst === '198.51.100.0/24';
      await until(() => got.msgs.some(isSentinel) && all.msgs.some(isSentinel), 'the sentinel route');

      const routes = got.msgs.filter((m) => m.type === RTM_NEWROUTE || m.type === RTM_DELROUTE).map((m) => ({ type: m.type, ...routeInfo(m) }));
      const notBird = routes.filter((r) => r.protocol !== PROTO_BIRD);
      // v6(1) = 2001:db8:0:1::/64, which routeInfo renders as hex.
      assert.deepEqual(
        notBird.map((r) => `${r.type}:${r.dst}`).sort(),
        [`${RTM_NEWROUTE}:${v4(1, 21)}`, `${RTM_NEWROUTE}:20010db8000000010000000000000000/64`].sort(),
        'among non-bird routes only the two replaces of bird routes pass',
      );
      assert.equal(routes.filter((r) => r.type === RTM_NEWROUTE && r.protocol === PROTO_BIRD && r.family === 2).length, 11);
      assert.equal(routes.filter((r) => r.type === RTM_DELROUTE).length, 1, 'the bird delete passes, the static one does not');
      assert.ok(
        got.msgs.some((m) => m.type === RTM_NEWLINK),
        'link messages pass',
      );
      assert.ok(
        got.msgs.some((m) => m.type === RTM_NEWADDR),
        'address messages pass',
      );
      // The control socket (no filter) saw the static routes, so the filter is what dropped them.
      assert.ok(all.msgs.filter((m) => m.type === RTM_NEWROUTE && routeInfo(m).protocol === PROTO_STATIC).length >= 10);

      // Removing the filter lets static routes through again.
      filtered.setProtocolFilter(null);
      await ns.execBatch([`route add blackhole ${v4(50, 20)} proto static`]);
      await until(() => got.msgs.some((m) => m.type === RTM_NEWROUTE && routeInfo(m).dst === v4(50, 20)), 'static route after detaching the filter');
    } finally {
      filtered.close();
      control.close();
      await ns.execBatch(['route flush proto bird', 'route flush proto static', 'link del rtrtestbr0', 'address del 192.0.2.1/32 dev lo']);
      await ns.exec('ip', ['-6', 'route', 'flush', 'proto', 'static']);
    }
  });

  it('an overflowing socket emits overrun, keeps the process alive and keeps delivering', async () => {
    const sock = NetlinkSocket.open({ netns: ns.name, groups: [RTNLGRP_IPV4_ROUTE], receiveBufferBytes: 4096 });
    try {
      const got = collect(sock);
      const overruns: { errno: number; at: Date }[] = [];
      sock.on('overrun', (o) => overruns.push(o));
      // 2000 notifications while the loop is blocked cannot fit a few KiB of buffer.
      ns.execBatchSync(Array.from({ length: 2000 }, (_, i) => `route add blackhole ${v4(i, 30)} proto bird`));
      await until(() => overruns.length > 0, 'an overrun');
      assert.equal(overruns[0]!.errno, 105 /* ENOBUFS */);
      assert.ok(overruns[0]!.at instanceof Date);
      await ns.execBatch(['route add blackhole 203.0.113.0/24 proto bird']);
      await until(() => got.msgs.some((m) => m.type === RTM_NEWROUTE && routeInfo(m).dst === '203.0.113.0/24'), 'a route after the overrun');
      assert.ok(got.msgs.length < 2001, 'messages were really lost');
    } finally {
      sock.close();
      await ns.execBatch(['route flush proto bird']);
    }
  });

  it('rejects unusable namespaces and use after close with clear errors', () => {
    assert.throws(
      () => NetlinkSocket.open({ netns: 'rtr-does-not-exist-0' }),
      (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_NETNS' && e.message.includes('rtr-does-not-exist-0'),
    );
    NetlinkSocket.open({ netns: `/run/netns/${ns.name}` }).close(); // a path works as well as a name
    const s = NetlinkSocket.open({ netns: ns.name });
    s.close();
    s.close(); // idempotent
    assert.throws(
      () => s.setProtocolFilter([12]),
      (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_NETLINK_CLOSED',
    );
    assert.throws(
      () => s.send(buildLinkDumpRequest(1)),
      (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_NETLINK_CLOSED',
    );
  });
});

describe('netlinkDump with strict checking', () => {
  let ns: Netns;
  let empty: Netns;
  let sock: NetlinkSocket;
  before(async () => {
    ns = await createNetns('dump');
    empty = await createNetns('dumpempty');
    const lines: string[] = [];
    for (let i = 0; i < 2000; i++) lines.push(`route add blackhole ${v4(i, 40)} proto bird`);
    for (let i = 0; i < 2000; i++) lines.push(`route add blackhole ${v4(i, 41)} proto static`);
    for (let i = 0; i < 100; i++) lines.push(`route add blackhole ${v4(i, 42)} proto bird table 1000`);
    await ns.execBatch(lines);
    sock = NetlinkSocket.open({ netns: ns.name, strictCheck: true });
  });
  after(async () => {
    sock?.close();
    await ns?.destroy();
    await empty?.destroy();
  });

  it('filters by protocol in the kernel', async () => {
    const msgs = await netlinkDump(sock, buildRouteDumpRequest({ family: 4, protocol: PROTO_BIRD, seq: 1 }));
    assert.equal(msgs.length, 2100);
    assert.ok(msgs.every((m) => m.type === RTM_NEWROUTE && routeInfo(m).protocol === PROTO_BIRD));
    const main = await netlinkDump(sock, buildRouteDumpRequest({ family: 4, protocol: PROTO_BIRD, table: 254, seq: 1 }));
    assert.equal(main.length, 2000);
  });

  it('filters by a table >= 256 through RTA_TABLE', async () => {
    const msgs = await netlinkDump(sock, buildRouteDumpRequest({ family: 4, protocol: PROTO_BIRD, table: 1000, seq: 1 }));
    assert.equal(msgs.length, 100);
    assert.ok(msgs.every((m) => routeInfo(m).table === 1000));
    const any = await netlinkDump(sock, buildRouteDumpRequest({ family: 4, table: 1000, seq: 1 }));
    assert.equal(any.length, 100);
  });

  it('streams batches to onMessages and resolves with nothing', async () => {
    let total = 0;
    let batches = 0;
    const one = NetlinkSocket.open({ netns: ns.name, strictCheck: true, maxBatchMessages: 1 });
    try {
      const res = await netlinkDump(one, buildRouteDumpRequest({ family: 4, protocol: PROTO_STATIC, seq: 1 }), {
        onMessages: (msgs) => {
          batches++;
          total += msgs.filter((m) => routeInfo(m).protocol === PROTO_STATIC).length;
        },
      });
      assert.equal(res, undefined);
      assert.equal(total, 2000);
      assert.ok(batches > 1, 'a 2000-route dump spans several batches (one datagram per batch here)');
    } finally {
      one.close();
    }
  });

  it('serializes concurrent dumps on one socket', async () => {
    const [a, b, c] = await Promise.all([
      netlinkDump(sock, buildRouteDumpRequest({ family: 4, protocol: PROTO_BIRD, seq: 1 })),
      netlinkDump(sock, buildRouteDumpRequest({ family: 4, protocol: PROTO_STATIC, seq: 1 })),
      netlinkDump(sock, buildLinkDumpRequest(1)),
    ]);
    assert.equal(a.length, 2100);
    assert.equal(b.length, 2000);
    assert.ok(c.length >= 1 && c.every((m) => m.type === RTM_NEWLINK));
  });

  it('returns [] for an empty namespace and for a table that does not exist', async () => {
    const s = NetlinkSocket.open({ netns: empty.name, strictCheck: true });
    try {
      assert.deepEqual(await netlinkDump(s, buildRouteDumpRequest({ family: 6, protocol: PROTO_BIRD, seq: 1 })), []);
      assert.deepEqual(await netlinkDump(s, buildRouteDumpRequest({ family: 4, table: 4242, seq: 1 })), []);
      assert.deepEqual(await netlinkDump(s, buildNexthopDumpRequest(1)), []);
      const addrs = await netlinkDump(s, buildAddrDumpRequest(4, 1));
      assert.equal(addrs.length, 1, 'only 127.0.0.1 on lo');
    } finally {
      s.close();
    }
  });

  it("reports a request strict checking rejects as EINVAL with the kernel's reason", async () => {
    const bad = buildRouteDumpRequest({ family: 4, seq: 1 });
    bad[17] = 24; // rtm_dst_len: not a valid dump filter
    await assert.rejects(
      netlinkDump(sock, bad),
      (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_NETLINK_DUMP' && e.message.includes('EINVAL') && /header/i.test(e.message),
    );
    // The socket stays usable.
    assert.equal((await netlinkDump(sock, buildRouteDumpRequest({ family: 4, protocol: PROTO_BIRD, table: 1000, seq: 1 }))).length, 100);
  });
});

describe('netlinkDump and NLM_F_DUMP_INTR (real kernel: links change during a link dump)', () => {
  let ns: Netns;
  before(async () => {
    ns = await createNetns('intr');
    await ns.execBatch(Array.from({ length: 150 }, (_, i) => `link add rtrbr${i} type bridge`));
  });
  after(async () => {
    await ns?.destroy();
  });

  /**
   * A socket reading one datagram per callback; during each of the first `times` dumps, the first
   * batch triggers a synchronous link add, so later chunks of the same dump see a new dev_base_seq.
   */
  function interfering(times: number): { sock: NetlinkSocket; added: () => number } {
    const sock = NetlinkSocket.open({ netns: ns.name, strictCheck: true, maxBatchMessages: 1 });
    let added = 0;
    let lastSeq = -1;
    sock.on('data', (batch: Buffer) => {
      const first = splitMessages(batch)[0] as NlMsg | undefined;
      if (!first || first.seq === lastSeq || added >= times) return;
      lastSeq = first.seq;
      execFileSync('ip', ['-n', ns.name, 'link', 'add', `rtrx${Math.random().toString(16).slice(2, 8)}`, 'type', 'bridge']);
      added++;
    });
    return { sock, added: () => added };
  }

  it('gives up with ERR_DUMP_INTERRUPTED when every attempt is interrupted', async () => {
    const { sock } = interfering(100);
    try {
      await assert.rejects(
        netlinkDump(sock, buildLinkDumpRequest(1), { maxAttempts: 2 }),
        (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_DUMP_INTERRUPTED',
      );
    } finally {
      sock.close();
    }
  });

  it('retries an interrupted dump and returns the consistent second one', async () => {
    const { sock, added } = interfering(1);
    try {
      const plain = NetlinkSocket.open({ netns: ns.name, strictCheck: true });
      const before = (await netlinkDump(plain, buildLinkDumpRequest(1))).length;
      plain.close();
      const msgs = await netlinkDump(sock, buildLinkDumpRequest(1));
      assert.equal(added(), 1);
      assert.equal(msgs.length, before + 1, 'the retry sees the link added during the first attempt');
      assert.ok(msgs.every((m) => (m.flags & NLM_F_DUMP_INTR) === 0));
    } finally {
      sock.close();
    }
  });

  it('in streaming mode rejects with ERR_DUMP_INTERRUPTED_STREAM so the caller restarts', async () => {
    const { sock } = interfering(1);
    try {
      let delivered = 0;
      await assert.rejects(
        netlinkDump(sock, buildLinkDumpRequest(1), {
          onMessages: (m) => {
            delivered += m.length;
          },
        }),
        (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_DUMP_INTERRUPTED_STREAM',
      );
      assert.ok(delivered > 0, 'batches before the interruption were delivered');
    } finally {
      sock.close();
    }
  });
});

describe('DumpCollector with crafted replies', () => {
  const msg = (type: number, flags: number, seq: number, pid: number, payload: Buffer): Buffer => {
    const len = 16 + payload.length;
    const b = Buffer.alloc((len + 3) & ~3);
    b.writeUInt32LE(len, 0);
    b.writeUInt16LE(type, 4);
    b.writeUInt16LE(flags, 6);
    b.writeUInt32LE(seq, 8);
    b.writeUInt32LE(pid, 12);
    payload.copy(b, 16);
    return b;
  };
  const int32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    return b;
  };
  const route = Buffer.alloc(12);

  it('ignores other seqs, flags DUMP_INTR even on DONE, and decodes errors from DONE', () => {
    const c = new DumpCollector(7, 99, 'route');
    assert.equal(c.feed(Buffer.concat([msg(RTM_NEWROUTE, NLM_F_MULTI, 6, 99, route), msg(RTM_NEWROUTE, NLM_F_MULTI, 7, 99, route)])), false);
    assert.equal(c.messages.length, 1);
    assert.equal(c.feed(msg(NLMSG_DONE, NLM_F_MULTI | NLM_F_DUMP_INTR, 7, 99, int32(0))), true);
    assert.equal(c.interrupted, true);
    assert.equal(c.error, undefined);

    const e = new DumpCollector(8, 99, 'route');
    assert.equal(e.feed(msg(NLMSG_DONE, NLM_F_MULTI, 8, 99, int32(-22))), true);
    assert.equal(e.error?.code, 'ERR_NETLINK_DUMP');
    assert.match(e.error!.message, /EINVAL/);

    const x = new DumpCollector(9, 99, 'link');
    assert.equal(x.feed(msg(NLMSG_ERROR, 0, 9, 99, Buffer.concat([int32(-1), Buffer.alloc(16)]))), true);
    assert.match(x.error!.message, /EPERM/);
  });

  it('stops streaming after the interruption flag', () => {
    const seen: number[] = [];
    const c = new DumpCollector(5, 1, 'route', (m) => seen.push(m.length));
    c.feed(Buffer.concat([msg(RTM_NEWROUTE, NLM_F_MULTI, 5, 1, route), msg(RTM_NEWROUTE, NLM_F_MULTI, 5, 1, route)]));
    c.feed(msg(RTM_NEWROUTE, NLM_F_MULTI | NLM_F_DUMP_INTR, 5, 1, route));
    c.feed(msg(NLMSG_DONE, NLM_F_MULTI, 5, 1, int32(0)));
    assert.deepEqual(seen, [2]);
    assert.equal(c.interrupted, true);
    assert.equal(c.state, 'done');
  });

  it('rejects a truncated batch as malformed instead of misreading it', () => {
    const c = new DumpCollector(5, 1, 'route');
    const b = msg(RTM_NEWROUTE, NLM_F_MULTI, 5, 1, route);
    assert.throws(
      () => c.feed(b.subarray(0, 20)),
      (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_NETLINK_MALFORMED',
    );
  });
});

describe('sdNotify', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rtr-sdnotify-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** A python3 AF_UNIX datagram receiver: prints "ready", then the first datagram, then exits. */
  async function receive(address: string, send: () => void): Promise<string> {
    const script = [
      'import socket, sys',
      'a = sys.argv[1]',
      "a = '\\0' + a[1:] if a.startswith('@') else a",
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      's.bind(a)',
      "print('ready', flush=True)",
      's.settimeout(120)',
      'sys.stdout.write(s.recv(4096).decode()); sys.stdout.flush()',
    ].join('\n');
    const child = spawn('python3', ['-c', script, address], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.startsWith('ready\n')) resolve();
        });
        child.on('exit', () => reject(new Error(`receiver exited early: ${out}`)));
      });
      send();
      assert.equal(await exited, 0);
      return out.slice('ready\n'.length);
    } finally {
      if (child.exitCode === null) child.kill();
    }
  }

  it('sends one datagram to a socket path', async () => {
    const p = path.join(dir, 'notify.sock');
    assert.equal(await receive(p, () => sdNotify(p, 'READY=1\nSTATUS=reflecting')), 'READY=1\nSTATUS=reflecting');
  });

  it('sends to an abstract socket name given as @name', async () => {
    const name = `@rtr-test-${process.pid}-${Math.random().toString(16).slice(2)}`;
    assert.equal(await receive(name, () => sdNotify(name, 'WATCHDOG=1')), 'WATCHDOG=1');
  });

  it('throws ERR_SD_NOTIFY naming the socket when nobody listens', () => {
    const p = path.join(dir, 'nobody.sock');
    assert.throws(
      () => sdNotify(p, 'READY=1'),
      (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_SD_NOTIFY' && e.message.includes(p),
    );
    assert.throws(
      () => sdNotify('relative.sock', 'READY=1'),
      (e: unknown) => e instanceof RtreflectError && e.code === 'ERR_SD_NOTIFY',
    );
  });
});

describe('closing', () => {
  // The project root (also when this file runs compiled from dist/); children load the TS source through tsx.
  let root = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(root, 'package.json')) && path.dirname(root) !== root) root = path.dirname(root);

  /** Runs a script in a fresh node; resolves with its exit code, or 'hung' if it did not exit by itself. */
  function runChild(netns: string, body: string): Promise<number | 'hung'> {
    const script = `import { NetlinkSocket } from ${JSON.stringify(path.join(root, 'src/kernel/netlink-socket.ts'))};\n${body}`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, NETNS: netns },
    });
    return new Promise((resolve) => {
      const guard = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('hung');
      }, deadlineMs(WAIT_MS));
      child.on('exit', (code) => {
        clearTimeout(guard);
        resolve(code ?? -1);
      });
    });
  }

  let ns: Netns;
  before(async () => {
    ns = await createNetns('close');
  });
  after(async () => {
    await ns?.destroy();
  });

  it('a process exits after close() (no dangling handles)', async () => {
    assert.equal(
      await runChild(
        ns.name,
        `
      const s = NetlinkSocket.open({ netns: process.env.NETNS, groups: [7] });
      s.on('data', () => {});
      setTimeout(() => s.close(), 50);`,
      ),
      0,
    );
  });

  it('close() from inside a data callback is safe', async () => {
    assert.equal(
      await runChild(
        ns.name,
        `
      import { execFileSync } from 'node:child_process';
      const s = NetlinkSocket.open({ netns: process.env.NETNS, groups: [7] });
      let n = 0;
      s.on('data', () => { n++; s.close(); });
      execFileSync('ip', ['-n', process.env.NETNS, '-batch', '-'], { input: Array.from({ length: 50 }, (_, i) => 'route add blackhole 10.77.' + i + '.0/24 proto bird').join('\\n') + '\\n' });
      process.on('exit', () => { if (n !== 1) process.exitCode = 3; });`,
      ),
      0,
    );
  });

  it('an unref()ed open socket does not keep the process alive', async () => {
    assert.equal(
      await runChild(
        ns.name,
        `
      const s = NetlinkSocket.open({ netns: process.env.NETNS, groups: [7] });
      s.unref();`,
      ),
      0,
    );
  });
});
