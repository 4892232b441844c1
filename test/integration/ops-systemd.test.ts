/**
 * systemd integration end to end: a real NOTIFY_SOCKET (a datagram unix socket
 * bound by a python3 child, since Node has none) receives what `rtreflect run`
 * sends. READY=1 must wait for the first resync to be applied to the sink (the
 * sink is unreachable at first, so READY cannot come early by accident);
 * WATCHDOG=1 repeats; SIGHUP brackets the reload with RELOADING=1/READY=1;
 * SIGTERM says STOPPING=1 and withdraws.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createNetns, type Netns } from '../helpers/netns.js';
import { freePort, startGobgpd, type TestGobgpd } from '../helpers/gobgpd.js';
import { controlRequest } from '../../src/control/control-client.js';
import { startRtreflect, waitFor as waitUntil } from '../helpers/cli-process.js';
import { WAIT_MS } from '../helpers/wait-for.js';

const waitFor = <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = WAIT_MS): Promise<T> =>
  waitUntil(what, fn, ms, { retryErrors: false, intervalMs: 50 });

/** Every datagram as one JSON line {t, msg}: t in ms since the epoch, like Date.now(). */
const LISTENER = `
import socket, sys, json, time, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps({"t": 0, "msg": "LISTENING"}), flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps({"t": time.time() * 1000, "msg": data.decode()}), flush=True)
`;

interface Datagram {
  t: number;
  msg: string;
}

function ribPrefixes(g: TestGobgpd): string[] {
  const out = execFileSync('gobgp', [...g.cliArgs, 'global', 'rib', '-a', 'ipv4', '-j'], { encoding: 'utf8' });
  const rib = JSON.parse(out.trim() || '{}') as Record<string, unknown>;
  return Object.keys(rib).sort();
}

const PREFIXES = ['198.18.0.0/24', '198.18.1.0/24', '198.18.2.0/24', '198.18.3.0/24', '198.18.4.0/24'];

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      /* best effort: keep cleaning */
    }
  }
});

test('Type=notify protocol: READY after the first resync, WATCHDOG, RELOADING/READY on SIGHUP, STOPPING on SIGTERM', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rtr-sysd-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const ns: Netns = await createNetns('sysd');
  cleanups.push(() => ns.destroy());
  await ns.execBatch([
    'link add nh0 type veth peer name nh1',
    'addr add 192.0.2.1/24 dev nh0',
    'link set nh0 up',
    'link set nh1 up',
    ...PREFIXES.map((p) => `route add ${p} via 192.0.2.10 proto bird`),
  ]);

  // The NOTIFY_SOCKET listener.
  const notifyPath = join(dir, 'notify.sock');
  const py = spawn('python3', ['-u', '-c', LISTENER, notifyPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => {
    if (py.exitCode === null) py.kill('SIGKILL');
  });
  const grams: Datagram[] = [];
  createInterface({ input: py.stdout! }).on('line', (l) => grams.push(JSON.parse(l) as Datagram));
  await waitFor('the notify listener', () => grams.some((g) => g.msg === 'LISTENING'));
  const sent = (): Datagram[] => grams.filter((g) => g.msg !== 'LISTENING');

  // gobgpd's port is chosen now, but gobgpd starts only later: until then the sink is down.
  const grpcPort = await freePort();
  const configPath = join(dir, 'rtreflect.yaml');
  const control = join(dir, 'control.sock');
  writeFileSync(
    configPath,
    `
source:
  protocols: [bird]
  tables: [main]
  families: [4]
  netns: ${ns.name}
sinks:
  - type: gobgp
    name: gobgp
    address: "127.0.0.1:${grpcPort}"
    connectTimeoutMs: 1000
    backoff: { initialMs: 100, maxMs: 500 }
    shutdown: { withdraw: true, graceMs: 0 }
engine:
  holdDown: { enabled: true, threshold: 4, windowMs: 2000, delayMs: 1000 }
control:
  socket: ${control}
log:
  level: info
`,
  );
  const daemon = startRtreflect(['run', '--config', configPath], { env: { NOTIFY_SOCKET: notifyPath, WATCHDOG_USEC: '400000' }, cleanups });

  // Running, control socket up, sink unreachable: no READY yet, but the watchdog already pings.
  let controlError = '';
  const st0 = await waitUntil(
    'the control socket',
    async () => {
      // A daemon that exited will not answer: say so now, with its log, instead of at the deadline.
      if (!daemon.running) assert.fail(`rtreflect exited (${await daemon.exited}) before its control socket answered: ${daemon.tail()}`);
      try {
        return (await controlRequest(control, 'status', {}, { timeoutMs: 2000 })) as { daemon: { ready: boolean }; source: { routes: number } };
      } catch (err) {
        controlError = (err as Error).message;
        return undefined;
      }
    },
    WAIT_MS,
    { intervalMs: 50, seen: () => `control socket: ${controlError}; rtreflect log: ${daemon.tail()}` },
  );
  await waitFor('three watchdog pings', () => sent().filter((g) => g.msg === 'WATCHDOG=1').length >= 3);
  assert.equal(st0.daemon.ready, false);
  assert.ok(!sent().some((g) => g.msg.includes('READY=1')), 'no READY=1 while the only sink is unreachable');

  const gobgpdStartedAt = Date.now();
  const gobgpd = await startGobgpd({ grpcPort });
  cleanups.push(() => gobgpd.stop());
  const ready = await waitFor('READY=1', () => sent().find((g) => g.msg.split('\n').includes('READY=1')));
  // READY: the kernel snapshot is loaded and the sink is up and taking writes; the comparison with
  // what gobgpd holds goes on in the background and ends with every route there.
  assert.ok(ready.t >= gobgpdStartedAt, 'READY=1 only after the sink came up');
  const fields = Object.fromEntries(ready.msg.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  assert.equal(fields.MAINPID, String(daemon.pid));
  assert.match(fields.STATUS!, /^5 kernel routes; gobgp up [0-5]\/5( verifying \(.*\))?$/, "STATUS= tells routes held and each sink's state");
  await waitFor('gobgpd holds every route', () => ribPrefixes(gobgpd).length === PREFIXES.length);
  assert.deepEqual(ribPrefixes(gobgpd), PREFIXES);
  await daemon.waitForLog((l) => l.msg === 'ready: first resync applied to every sink', 'a line that marks the first resync applied');

  // The watchdog keeps pinging after READY.
  const pingsAtReady = sent().filter((g) => g.msg === 'WATCHDOG=1' && g.t > ready.t).length;
  await waitFor('watchdog pings after READY', () => sent().filter((g) => g.msg === 'WATCHDOG=1' && g.t > ready.t).length >= pingsAtReady + 3);

  // STATUS= follows changes (pushed on sink state changes and every few seconds).
  await ns.execBatch(['route add 198.18.5.0/24 via 192.0.2.10 proto bird']);
  await waitFor('gobgpd learns the sixth route', () => ribPrefixes(gobgpd).length === 6);

  // SIGHUP: RELOADING=1, then READY=1 when the reload (and its resync) is done.
  const beforeHup = sent().length;
  daemon.signal('SIGHUP');
  const reloading = await waitFor('RELOADING=1', () =>
    sent()
      .slice(beforeHup)
      .find((g) => g.msg.split('\n').includes('RELOADING=1')),
  );
  assert.match(reloading.msg, /^MONOTONIC_USEC=\d+$/m, 'RELOADING=1 carries MONOTONIC_USEC (Type=notify-reload)');
  const reReady = await waitFor('READY=1 after the reload', () =>
    sent()
      .slice(beforeHup)
      .find((g) => g.t >= reloading.t && g.msg.split('\n').includes('READY=1')),
  );
  assert.match(reReady.msg, /^STATUS=6 kernel routes; gobgp up 6\/6$/m);
  await daemon.waitForLog((l) => l.msg === 'config reloaded', '"config reloaded"');

  // A mass withdrawal: hold-down engages (logged, in status), then releases and the deletes go out.
  await ns.execBatch(PREFIXES.slice(0, 4).map((p) => `route del ${p}`));
  await daemon.waitForLog((l) => l.msg === 'hold-down engaged: mass withdrawal held back', 'hold-down engaged');
  await daemon.waitForLog((l) => l.msg === 'hold-down released', 'hold-down released');
  await waitFor('gobgpd keeps the 2 routes left', () => ribPrefixes(gobgpd).length === 2);

  // SIGTERM: STOPPING=1, routes withdrawn from gobgpd, clean exit.
  const beforeTerm = sent().length;
  assert.equal(await daemon.stop(), 0, 'SIGTERM ends the daemon with status 0');
  await waitFor('STOPPING=1', () =>
    sent()
      .slice(beforeTerm)
      .some((g) => g.msg === 'STOPPING=1'),
  );
  assert.deepEqual(ribPrefixes(gobgpd), [], 'the routes were withdrawn before exit');
  assert.ok(daemon.logs.some((l) => l.msg === 'withdrawing routes before exit'));
  const stoppingIdx = sent().findIndex((g) => g.msg === 'STOPPING=1');
  assert.ok(
    !sent()
      .slice(stoppingIdx + 1)
      .some((g) => g.msg.includes('READY=1')),
    'no READY=1 after STOPPING=1',
  );
});
