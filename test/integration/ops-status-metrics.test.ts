/**
 * What an operator sees while things happen: `rtreflect status` (table and
 * --json) and the Prometheus metrics, after a scripted sequence of kernel
 * changes and a sink outage (gobgpd killed with -9, routes changing meanwhile,
 * gobgpd restarted). Every number is asserted exactly.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns, type Netns } from '../helpers/netns.js';
import { freePort, startGobgpd, type TestGobgpd } from '../helpers/gobgpd.js';
import { cliArgs, startRtreflect, waitFor as waitUntil } from '../helpers/cli-process.js';
import { WAIT_MS } from '../helpers/wait-for.js';

const waitFor = <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = WAIT_MS): Promise<T> =>
  waitUntil(what, fn, ms, { retryErrors: true, intervalMs: 100 });

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...cliArgs(), ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function ribPrefixes(g: TestGobgpd): string[] {
  const out = execFileSync('gobgp', [...g.cliArgs, 'global', 'rib', '-a', 'ipv4', '-j'], { encoding: 'utf8' });
  return Object.keys(JSON.parse(out.trim() || '{}') as Record<string, unknown>).sort();
}

/** Prometheus text format → "name{labels}" → value (labels as printed by prom-client). */
async function scrape(port: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  const m = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

interface SinkSt {
  name: string;
  state: string;
  desired: number;
  applied: number;
  pending: number;
  writes: number;
  deletes: number;
  errors: number;
  lastResync?: { reason: string; upserts: number; deletes: number; ok: boolean; durationMs: number; at: string };
}
interface Status {
  daemon: { ready: boolean; lastFullResync?: { reason: string } };
  source: { routes: number; overruns: number; events: { add: number; del: number }; lastResync?: { reason: string; adds: number; dels: number } };
  engine: { filtered: number; holdDownEngaged: boolean; heldDeletes: number };
  sinks: SinkSt[];
}

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      /* keep cleaning */
    }
  }
});

const net = (i: number): string => `198.18.${i}.0/24`;

test('status and metrics through kernel changes and a sink outage', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rtr-opsst-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const ns: Netns = await createNetns('opsst');
  cleanups.push(() => ns.destroy());
  // 4 routes rtreflect reflects, 1 the chain filters (10.0.0.0/8 is denied), 1 of another protocol (never seen).
  await ns.execBatch([
    'link add nh0 type veth peer name nh1',
    'addr add 192.0.2.1/24 dev nh0',
    'link set nh0 up',
    'link set nh1 up',
    ...[0, 1, 2, 3].map((i) => `route add ${net(i)} via 192.0.2.10 proto bird`),
    'route add 10.1.0.0/16 via 192.0.2.10 proto bird',
    'route add 203.0.113.0/24 via 192.0.2.10 proto static',
  ]);
  const gobgpd = await startGobgpd();
  cleanups.push(() => gobgpd.stop());
  const metricsPort = await freePort();
  const control = join(dir, 'control.sock');
  const configPath = join(dir, 'rtreflect.yaml');
  writeFileSync(
    configPath,
    `
source: { protocols: [bird], tables: [main], families: [4], netns: ${ns.name} }
handlers:
  - type: prefix-list
    name: no-rfc1918
    default: permit
    entries: [{ action: deny, prefix: 10.0.0.0/8, le: 32 }]
sinks:
  - type: gobgp
    name: gobgp
    address: "${gobgpd.grpcAddress}"
    # gobgpd is up before rtreflect starts: the first connection must not time out on a busy machine,
    # or a second resync ("gobgpd connected") follows the start-up one and every count below is off by one.
    connectTimeoutMs: 30000
    healthIntervalMs: 200
    backoff: { initialMs: 100, maxMs: 300 }
    shutdown: { withdraw: true, graceMs: 0 }
control: { socket: ${control} }
metrics: { listen: "127.0.0.1:${metricsPort}" }
log: { level: info }
`,
  );
  const daemon = startRtreflect(['run', '--config', configPath], { cleanups });

  const status = async (): Promise<Status> => {
    const r = await runCli(['status', '--json', '--control', control]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Status;
  };
  const sink = (s: Status): SinkSt => s.sinks[0]!;

  // 1. Start-up: 4 routes reflected.
  await waitUntil(
    'ready',
    async () => {
      // A daemon that exited will not become ready: say so now, with its log, instead of at the deadline.
      if (!daemon.running) throw new Error(`rtreflect exited (${await daemon.exited}): ${daemon.tail()}`);
      try {
        return (await status()).daemon.ready;
      } catch {
        return false; // the control socket is not up yet
      }
    },
    WAIT_MS,
    { intervalMs: 100, seen: () => `rtreflect log: ${daemon.tail()}` },
  );
  let st = await status();
  assert.deepEqual(ribPrefixes(gobgpd), [0, 1, 2, 3].map(net));
  assert.equal(st.source.routes, 5, 'the kernel source holds the 5 bird routes (the static one is not selected)');
  assert.equal(st.engine.filtered, 1);
  assert.deepEqual(pick(sink(st)), { name: 'gobgp', state: 'up', desired: 4, applied: 4, pending: 0, errors: 0 });
  assert.equal(sink(st).lastResync?.reason, 'start-up');
  assert.equal(sink(st).lastResync?.upserts, 4);

  // 2. Kernel changes while the sink is up: +2, -1.
  await ns.execBatch([`route add ${net(4)} via 192.0.2.10 proto bird`, `route add ${net(5)} via 192.0.2.10 proto bird`, `route del ${net(0)}`]);
  await waitFor('5 routes at gobgpd', () => ribPrefixes(gobgpd).length === 5);
  st = await status();
  assert.deepEqual(pick(sink(st)), { name: 'gobgp', state: 'up', desired: 5, applied: 5, pending: 0, errors: 0 });

  // 3. Outage: gobgpd killed; routes change meanwhile (+3, -1) and stay pending.
  await gobgpd.kill9();
  await waitFor('the sink to be seen down', async () => sink(await status()).state === 'down');
  await ns.execBatch([6, 7, 8].map((i) => `route add ${net(i)} via 192.0.2.10 proto bird`).concat([`route del ${net(1)}`]));
  // (A delete waits out the hold-down window before it counts: heldDeletes back to 0.)
  st = await waitFor('the changes to reach the engine', async () => {
    const s = await status();
    return s.source.events.del === 2 && s.engine.heldDeletes === 0 && s;
  });
  const down = sink(st);
  assert.equal(down.state, 'down');
  assert.equal(down.desired, 7, JSON.stringify(st));
  assert.ok(down.pending > 0, `pending > 0 while down (is ${down.pending})`);
  const human = await runCli(['status', '--control', control]);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /^gobgp\s+gobgp\s+down\s+7\s+\d+\s+[1-9]\d*\s/m, 'the table shows the sink down with pending routes');
  let m = await scrape(metricsPort);
  assert.equal(m.get('rtreflect_sink_up{sink="gobgp"}'), 0, 'sink_up is 0 during the outage');
  assert.equal(m.get('rtreflect_sink_routes{sink="gobgp",state="desired"}'), 7);

  // 4. gobgpd back (empty RIB): the sink resyncs and converges.
  await gobgpd.restart();
  await waitFor('8 → 7 routes back at gobgpd', () => ribPrefixes(gobgpd).length === 7);
  st = await waitFor('the sink to converge', async () => {
    const s = await status();
    return sink(s).pending === 0 && sink(s).state === 'up' && s;
  });
  assert.deepEqual(pick(sink(st)), { name: 'gobgp', state: 'up', desired: 7, applied: 7, pending: 0, errors: 0 });
  assert.deepEqual(ribPrefixes(gobgpd), [2, 3, 4, 5, 6, 7, 8].map(net));
  const lr = sink(st).lastResync!;
  assert.match(lr.reason, /^gobgpd connection lost/, 'the resync says why it ran');
  assert.equal(lr.upserts, 7, 'everything was written again into the restarted gobgpd');
  assert.equal(lr.deletes, 0);
  assert.equal(lr.ok, true);
  assert.equal(st.source.events.add, 10, '5 at start-up + 2 + 3');
  assert.equal(st.source.routes, 8, '5 + 2 - 1 + 3 - 1');
  assert.equal(st.source.events.del, 2);
  assert.equal(st.source.overruns, 0);

  const table = (await runCli(['status', '--control', control])).stdout;
  assert.match(table, /^gobgp\s+gobgp\s+up\s+7\s+7\s+0\s/m);
  assert.match(table, /gobgpd connection lost .* \d+ms \+7 -0/);

  m = await scrape(metricsPort);
  const want: Record<string, number> = {
    'rtreflect_sink_up{sink="gobgp"}': 1,
    rtreflect_kernel_routes: 8,
    'rtreflect_kernel_events_total{type="add"}': 10,
    'rtreflect_kernel_events_total{type="del"}': 2,
    rtreflect_routes_filtered_total: 1,
    rtreflect_kernel_overruns_total: 0,
    'rtreflect_sink_routes{sink="gobgp",state="desired"}': 7,
    'rtreflect_sink_routes{sink="gobgp",state="applied"}': 7,
    'rtreflect_sink_routes{sink="gobgp",state="pending"}': 0,
    'rtreflect_resyncs_total{scope="kernel",trigger="start-up"}': 1,
    'rtreflect_resyncs_total{scope="sink",trigger="start-up"}': 1,
    'rtreflect_resyncs_total{scope="sink",trigger="sink-reconnect"}': 1,
    // 4 at start-up + 2 while up + all 7 again into the restarted gobgpd; 198.18.0.0/24 deleted while up
    // (198.18.1.0/24, deleted during the outage, was already gone from the restarted gobgpd).
    'rtreflect_sink_writes_total{sink="gobgp",op="upsert"}': 13,
    'rtreflect_sink_writes_total{sink="gobgp",op="delete"}': 1,
    'rtreflect_kernel_to_sink_seconds_count{sink="gobgp"}': 14,
    'rtreflect_resync_duration_seconds_count{scope="kernel"}': 1,
    'rtreflect_resync_duration_seconds_count{scope="sink"}': 2,
    rtreflect_hold_down_engaged_total: 0,
  };
  const got = Object.fromEntries(Object.keys(want).map((k) => [k, m.get(k)]));
  assert.deepEqual(got, want);

  // 5. Logs: one line per decision that matters.
  for (const msg of [
    'sink connection state',
    'sink resync started',
    'sink resync finished',
    'ready: first resync applied to every sink',
    'metrics listening',
  ]) {
    assert.ok(
      daemon.logs.some((l) => l.msg === msg),
      `log line "${msg}"`,
    );
  }
  assert.ok(
    daemon.logs.some((l) => l.msg === 'sink connection state' && l.state === 'down'),
    'the disconnect is logged',
  );
  assert.equal(await daemon.stop(), 0);
});

function pick(s: SinkSt): Partial<SinkSt> {
  return { name: s.name, state: s.state, desired: s.desired, applied: s.applied, pending: s.pending, errors: s.errors };
}
