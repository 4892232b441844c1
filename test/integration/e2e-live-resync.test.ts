/**
 * Writes never wait for a sink read, against the real kernel and gobgpd: with 200,000 routes,
 * a restart after kill -9 and an operator's `rtreflect resync` both read gobgpd's whole RIB for
 * seconds, and an add, a replace and a delete made meanwhile reach gobgpd while that read is
 * still going. A kernel overrun (the daemon stopped through a burst) re-dumps the kernel while
 * more changes come. At the end gobgpd holds exactly the kernel's routes, and a restart with
 * nothing changed writes nothing. (How fast a change gets through is measured in bench/, not
 * here; the times are printed. That a change beside a re-dump goes out before the dump ends is
 * asserted in kernel-source.test.ts, where the dump can be watched.)
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns, type Netns } from '../helpers/netns.js';
import { startGobgpd, type TestGobgpd } from '../helpers/gobgpd.js';
import { cliArgs, startRtreflect, type RtreflectProcess } from '../helpers/cli-process.js';
import { waitFor } from '../helpers/wait-for.js';

const ROUTES = 200_000;
const route = (i: number): string => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32`;

interface SinkSt {
  state: string;
  writes: number;
  deletes: number;
  pending: number;
  lastResync?: { reason: string; upserts: number; deletes: number; ok: boolean };
  resync?: { reason: string; phase: string; read: number; expected: number };
}
interface Status {
  daemon: { ready: boolean };
  source: { overruns: number; resyncing: boolean; lastResync?: { reason: string } };
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

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('200k routes: changes reach gobgpd while a restart or a resync still reads it; the end state is exact', { timeout: 900_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rtr-live-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const ns: Netns = await createNetns('live');
  cleanups.push(() => ns.destroy());
  await ns.execBatch(['link add nh0 type veth peer name nh1', 'addr add 192.0.2.1/24 dev nh0', 'link set nh0 up', 'link set nh1 up']);
  const lines: string[] = [];
  for (let i = 0; i < ROUTES; i++) lines.push(`route add ${route(i)} via 192.0.2.10 proto bird`);
  await ns.execBatch(lines);
  const gobgpd: TestGobgpd = await startGobgpd();
  cleanups.push(() => gobgpd.stop());
  const control = join(dir, 'control.sock');
  const configPath = join(dir, 'rtreflect.yaml');
  writeFileSync(
    configPath,
    `
source: { protocols: [bird], tables: [main], families: [4], netns: ${ns.name}, receiveBufferBytes: 262144 }
engine: { holdDown: { enabled: false } }
sinks:
  - type: gobgp
    name: gobgp
    address: "${gobgpd.grpcAddress}"
    connectTimeoutMs: 30000
control: { socket: ${control} }
log: { level: info }
`,
  );

  let daemon: RtreflectProcess;
  const start = (): RtreflectProcess => startRtreflect(['run', '--config', configPath], { cleanups });
  const status = async (): Promise<Status | undefined> => {
    const r = await run(process.execPath, [...cliArgs(), 'status', '--json', '--control', control]);
    return r.code === 0 ? (JSON.parse(r.stdout) as Status) : undefined;
  };
  const sink = async (): Promise<SinkSt> => (await status())!.sinks[0]!;
  const compared = (): Promise<SinkSt> =>
    waitFor(
      async () => {
        const s = await status();
        const k = s?.sinks[0];
        return s?.daemon.ready && k?.lastResync && !k.resync && k.pending === 0 ? k : undefined;
      },
      { describe: 'the comparison with gobgpd to be written', timeoutMs: 600_000 },
    );
  /** Next hops gobgpd holds for a prefix ([] when none). */
  const inGobgpd = async (prefix: string): Promise<string[]> => {
    const r = await run('gobgp', [...gobgpd.cliArgs, 'global', 'rib', '-a', 'ipv4', prefix, '-j']);
    if (r.code !== 0 || r.stdout.trim() === '' || r.stdout.trim() === 'null') return [];
    const dst = JSON.parse(r.stdout) as Record<string, { attrs: { type: number; nexthop?: string }[] }[]>;
    return (dst[prefix] ?? []).map((p) => p.attrs.find((a) => a.nexthop !== undefined)?.nexthop ?? '?');
  };
  const ribCount = async (): Promise<number> => {
    const r = await run('gobgp', [...gobgpd.cliArgs, 'global', 'rib', 'summary', '-a', 'ipv4']);
    return Number(/Destination:\s*(\d+)/.exec(r.stdout)?.[1] ?? NaN);
  };

  /**
   * An add, a replace and a delete, made while the sink is being read: each must show in gobgpd
   * while the comparison is still under way. Returns how long each took to show.
   */
  const changeDuringRead = async (round: number): Promise<number[]> => {
    const added = `10.99.${round}.1/32`,
      replaced = route(round * 7 + 1),
      deleted = route(round * 7 + 2);
    const before = await sink();
    assert.ok(before.resync, `a comparison is under way before the changes (${JSON.stringify(before)})`);
    const t0 = performance.now();
    await ns.execBatch([`route add ${added} via 192.0.2.10 proto bird`, `route replace ${replaced} via 192.0.2.11 proto bird`, `route del ${deleted}`]);
    const took: number[] = [];
    for (const [what, ok] of [
      [`${added} added`, (h: string[]) => h.join() === '192.0.2.10'],
      [`${replaced} moved to 192.0.2.11`, (h: string[]) => h.join() === '192.0.2.11'],
      [`${deleted} withdrawn`, (h: string[]) => h.length === 0],
    ] as const) {
      const prefix = what.split(' ')[0]!;
      await waitFor(async () => ok(await inGobgpd(prefix)) || undefined, { describe: `${what} in gobgpd` });
      took.push(Math.round(performance.now() - t0));
    }
    const during = await sink();
    assert.ok(during.resync, `the changes reached gobgpd before the comparison ended (took ${took.join(', ')} ms; ${JSON.stringify(during)})`);
    return took;
  };

  // A cold start fills gobgpd.
  daemon = start();
  await compared();
  assert.equal(await ribCount(), ROUTES);

  // kill -9 and a fresh start: READY comes with the kernel loaded; gobgpd is read behind it.
  daemon.signal('SIGKILL');
  await daemon.exited;
  daemon = start();
  await waitFor(async () => (await status())?.daemon.ready || undefined, { describe: 'READY after the restart', timeoutMs: 300_000 });
  const atRestart = await changeDuringRead(1);
  let end = await compared();
  assert.equal(end.lastResync?.reason, 'start-up');
  assert.equal(await ribCount(), ROUTES, 'one route added, one deleted');
  assert.equal(end.writes + end.deletes, 3, `only the three changes were written (${JSON.stringify(end)})`);

  // An operator's resync: the same, while `rtreflect resync` reads gobgpd.
  const resync = run(process.execPath, [...cliArgs(), 'resync', '--control', control]);
  await waitFor(async () => (await sink()).resync?.phase === 'reading' || undefined, { describe: 'the resync reading gobgpd' });
  const atResync = await changeDuringRead(2);
  assert.equal((await resync).code, 0);
  end = await compared();
  assert.equal(await ribCount(), ROUTES);
  assert.deepEqual([end.lastResync?.upserts, end.lastResync?.deletes], [2, 1], 'the resync wrote the three changes and nothing else');

  // An overrun: the daemon stopped while 20,000 routes move to another next hop, more than its
  // 256 KiB buffer holds; resumed, it re-dumps the kernel while an add, a replace and a delete come.
  const burst: string[] = [];
  for (let i = 1000; i < 21_000; i++) burst.push(`route replace ${route(i)} via 192.0.2.12 proto bird`);
  daemon.signal('SIGSTOP');
  await ns.execBatch(burst);
  // Open before the resume, so the changes are one write into a running ip, not a process start.
  const ip = ns.openBatch();
  daemon.signal('SIGCONT');
  const t0 = performance.now();
  ip.write(['route add 10.99.3.1/32 via 192.0.2.10 proto bird', `route replace ${route(22)} via 192.0.2.11 proto bird`, `route del ${route(23)}`]);
  await ip.close();
  await waitFor(async () => ((await status())?.source.lastResync?.reason === 'overrun' ? true : undefined), { describe: 'the re-dump after the overrun' });
  await waitFor(
    async () =>
      (await inGobgpd('10.99.3.1/32')).join() === '192.0.2.10' &&
      (await inGobgpd(route(22))).join() === '192.0.2.11' &&
      (await inGobgpd(route(23))).length === 0 &&
      (await inGobgpd(route(20_999))).join() === '192.0.2.12'
        ? true
        : undefined,
    { describe: 'the changes made beside the re-dump, and the burst, in gobgpd' },
  );
  const atOverrun = Math.round(performance.now() - t0);
  const afterOverrun = await status();
  assert.ok(afterOverrun!.source.overruns >= 1, 'the burst overran the 256 KiB buffer');
  end = await compared();
  assert.equal(await ribCount(), ROUTES, 'the overrun round added one route and deleted one, like the others');

  // A restart with nothing changed writes nothing.
  daemon.signal('SIGKILL');
  await daemon.exited;
  daemon = start();
  end = await compared();
  assert.deepEqual([end.writes, end.deletes, end.lastResync?.upserts, end.lastResync?.deletes], [0, 0, 0, 0]);
  assert.deepEqual(await inGobgpd('10.99.1.1/32'), ['192.0.2.10']);
  assert.deepEqual(await inGobgpd(route(8)), ['192.0.2.11']);
  assert.deepEqual(await inGobgpd(route(9)), []);
  assert.deepEqual(await inGobgpd(route(1000)), ['192.0.2.12']);
  console.log(
    `# change → gobgpd during the restart's read: ${atRestart.join(' / ')} ms; during the resync's read: ${atResync.join(' / ')} ms (add / replace / delete); after an overrun, changes and burst in gobgpd: ${atOverrun} ms`,
  );
  await daemon.stop();
});
