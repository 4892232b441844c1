/**
 * End to end, with faults: daemons killed and restarted, bad configs, other
 * injectors' paths, shutdown, churn. BIRD → kernel → `rtreflect run` → gobgpd A
 * (an independent daemon here, so rtreflect can be killed without taking it
 * along) → eBGP with add-paths → gobgpd B, where everything is asserted.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { E2eTopology, A_V4, A_V6, waitFor, type NeighborCounters, type SinkStatusView } from '../helpers/e2e-topology.js';

const BIRD_V4 = Array.from({ length: 20 }, (_, i) => `100.64.${i}.0/24`);
const BIRD_V6 = ['2001:db8:10::/48', '2001:db8:11::/48'];
const INJECTED = '203.0.113.0/24';
const CHURN = '198.51.100.0/24';

function expectedBird(): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const p of BIRD_V4) m.set(p, ['192.0.2.10']);
  for (const p of BIRD_V6) m.set(p, ['2001:db8:ffff::10']);
  return m;
}

describe('rtreflect run under faults', { timeout: 600_000 }, () => {
  let t: E2eTopology;

  const config = (holdDown: boolean): string => `source: { protocols: [bird], tables: [main], families: [4, 6] }
engine:
  # windowMs: BIRD's 22 deletes at shutdown must count as one burst even when BIRD is descheduled between them on a busy machine.
  holdDown: { enabled: ${holdDown}, threshold: 5, windowMs: 2000, delayMs: 10000 }
${t.sinkYaml(`
    shutdown: { withdraw: true, graceMs: 1000 }`)}`;

  /** B's message counters for both sessions with A. */
  const counters = async (): Promise<NeighborCounters[]> => [await t.countersB(A_V4), await t.countersB(A_V6)];
  const sink = async (): Promise<SinkStatusView> => (await t.status()).sinks[0]!;
  const injectedInB = async (): Promise<boolean> => (await t.pathsB(INJECTED)).length === 1;

  /** Waits until B holds exactly BIRD's routes (with the mark) and, when given, the churn route. */
  const waitBirdRoutesInB = async (): Promise<void> => {
    const want = expectedBird();
    let have = new Map<string, string[]>();
    await waitFor(
      "B to hold all of BIRD's routes",
      async () => {
        have = await t.ownedInB();
        for (const [p, hops] of want) if (have.get(p)?.join(',') !== hops.join(',')) return undefined;
        return true;
      },
      undefined,
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; B holds ${JSON.stringify([...have])}`);
    });
  };

  before(async () => {
    t = await E2eTopology.create({ tag: 'e2ef' });
    await t.startBird({
      v4: BIRD_V4.map((p) => `route ${p} via 192.0.2.10;`),
      v6: BIRD_V6.map((p) => `route ${p} via 2001:db8:ffff::10;`),
    });
    await t.startGobgpdA();
    t.writeConfig(config(true));
    await t.startRtreflect();
    await t.waitEstablished();
    await waitBirdRoutesInB();
    // Someone else's path in gobgpd A (no ownership mark): rtreflect must never touch it.
    await t.gobgp('a', ['global', 'rib', 'add', INJECTED, '-a', 'ipv4']);
    await waitFor('the injected path in B', () => injectedInB().then((ok) => ok || undefined));
  });

  after(async () => {
    await t?.destroy();
  });

  it('refuses a config with an error: exit 78, the key path, no stack trace', async () => {
    const bad = join(t.dir, 'bad.yaml');
    writeFileSync(bad, `engine:\n  holdDown: { threshold: -3 }\n${t.sinkYaml()}`.replace(t.controlSocket, join(t.dir, 'bad.sock')));
    for (const args of [
      ['check-config', '--config', bad],
      ['run', '--config', bad, '--control', join(t.dir, 'bad.sock')],
    ]) {
      const r = await t.cli(args);
      assert.equal(r.code, 78, `${args[0]}: exit ${r.code}; stderr: ${r.stderr}`);
      assert.match(r.stderr, /engine\.holdDown\.threshold/, `${args[0]} names the key: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `${args[0]} prints no stack trace: ${r.stderr}`);
    }
    // The running daemon was not disturbed by the refused run.
    assert.equal((await t.status()).sinks[0]!.state, 'up');
  });

  it('never touches a path another injector put into gobgpd A: resync and SIGHUP', async () => {
    const r = await t.cli(['resync', '--control', t.controlSocket]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${t.sinkName}: 0 written, 0 deleted`));
    let s = await sink();
    assert.equal(s.lastResync?.reason, 'control');
    assert.deepEqual([s.lastResync?.upserts, s.lastResync?.deletes], [0, 0], 'nothing to change');
    assert.ok(await injectedInB(), 'the injected path survived the resync');

    const before = (await t.status()).daemon as { lastFullResync?: { at: string } };
    t.rtreflect!.signal('SIGHUP');
    await waitFor('the reload resync', async () => {
      const d = (await t.status()).daemon as { lastFullResync?: { at: string; reason: string } };
      return d.lastFullResync && d.lastFullResync.reason === 'reload' && d.lastFullResync.at !== before.lastFullResync?.at ? true : undefined;
    });
    s = await sink();
    assert.deepEqual([s.lastResync?.upserts, s.lastResync?.deletes], [0, 0]);
    assert.ok(await injectedInB(), 'the injected path survived the reload');
  });

  it('SIGHUP with a broken config keeps the daemon, its config and its routes', async () => {
    const c0 = await counters();
    const pid = t.rtreflect!.pid;
    writeFileSync(t.configPath, config(true).replace('threshold: 5', 'threshold: "many"'));
    try {
      t.rtreflect!.signal('SIGHUP');
      await waitFor('the refused reload in the log', () => (/config reload refused/.test(t.rtreflect!.log()) ? true : undefined));
      assert.match(
        t
          .rtreflect!.log()
          .split('\n')
          .find((l) => l.includes('config reload refused')) ?? '',
        /engine\.holdDown\.threshold/,
      );
      assert.ok(t.rtreflect!.running, 'still running');
      assert.equal(t.rtreflect!.pid, pid);
      const st = await t.status();
      assert.equal((st.daemon as { ready: boolean }).ready, true);
      assert.equal(st.sinks[0]!.state, 'up');
      assert.deepEqual(await counters(), c0, 'B received nothing');
      await waitBirdRoutesInB();
      assert.ok(await injectedInB());
    } finally {
      t.writeConfig(config(true));
    }
  });

  it('rtreflect killed -9 and restarted, kernel unchanged: B sees nothing, the resync writes nothing', async () => {
    const c0 = await counters();
    const watch = t.watchB(expectedBird());
    // B is watched before the kill and after the restart whatever the machine's speed: samples on both sides.
    await waitFor('two samples of B before the kill', () => (watch.samples() >= 2 ? true : undefined));
    await t.rtreflect!.kill9();
    await t.startRtreflect();
    await t.control('status'); // one more round trip after ready
    const atReady = watch.samples();
    await waitFor('two samples of B after the restart', () => (watch.samples() >= atReady + 2 ? true : undefined));
    const w = await watch.stop();
    assert.ok(w.samples > 3, `B was watched during the restart (${w.samples} samples)`);
    assert.deepEqual(w.bad, [], 'no route of rtreflect went missing or changed in B');
    assert.deepEqual(await counters(), c0, 'B received no UPDATE (neither withdrawal nor re-announcement)');
    const s = await sink();
    assert.equal(s.lastResync?.reason, 'start-up');
    assert.deepEqual([s.lastResync?.upserts, s.lastResync?.deletes], [0, 0], 'the start-up resync found everything in place');
    assert.deepEqual([s.writes, s.deletes], [0, 0], 'no write at all since the restart');
    assert.ok(await injectedInB());
  });

  it('BIRD restarted (all routes deleted and re-added) with hold-down: B sees no withdrawal', async () => {
    const c0 = await counters();
    const adds0 = ((await t.status()).source as { events: { add: number } }).events.add;
    const watch = t.watchB(expectedBird());
    await t.bird!.stop();
    // BIRD without `persist` removed its routes on the way out.
    const left = (await t.a.exec('ip', ['route', 'show', 'proto', 'bird'])).stdout.trim();
    assert.equal(left, '', 'BIRD flushed its kernel routes');
    await t.startBird({
      v4: BIRD_V4.map((p) => `route ${p} via 192.0.2.10;`),
      v6: BIRD_V6.map((p) => `route ${p} via 2001:db8:ffff::10;`),
    });
    // Not a pause: wait until rtreflect has seen every route come back and has nothing left to do
    // (no delete held, nothing pending for the sink). Whatever it would have sent B, it has sent by then.
    const back = BIRD_V4.length + BIRD_V6.length;
    await waitFor("rtreflect to see BIRD's routes back, hold nothing and have nothing pending", async () => {
      const st = await t.status();
      const adds = (st.source as { events: { add: number } }).events.add - adds0;
      const held = (st.engine as { heldDeletes: number }).heldDeletes;
      return adds >= back && held === 0 && st.sinks[0]!.pending === 0 ? true : undefined;
    });
    const w = await watch.stop();
    assert.deepEqual(w.bad, []);
    const st = await t.status();
    assert.ok((st.source as { events: { del: number } }).events.del >= BIRD_V4.length, 'rtreflect did see the deletes');
    assert.deepEqual(await counters(), c0, 'B received no UPDATE');
    assert.equal(st.sinks[0]!.deletes, 0);
  });

  it('the same BIRD restart without hold-down does reach B (the test above can fail)', async () => {
    t.writeConfig(config(false));
    // A reload cannot rebuild the engine: it says the change waits for a restart.
    t.rtreflect!.signal('SIGHUP');
    await waitFor('the reload to name the engine change', () =>
      t
        .rtreflect!.log()
        .split('\n')
        .some((l) => /config reloaded/.test(l) && /"engine"/.test(l))
        ? true
        : undefined,
    );
    await t.rtreflect!.kill9();
    await t.startRtreflect();
    const c0 = await counters();
    await t.bird!.stop();
    await waitFor("B to lose BIRD's routes", async () => ((await t.ownedInB()).size === 0 ? true : undefined));
    const c1 = await counters();
    assert.ok(c1[0]!.withdrawPrefixIn > c0[0]!.withdrawPrefixIn || c1[0]!.updateIn > c0[0]!.updateIn, 'B counted the withdrawals');
    await t.startBird({
      v4: BIRD_V4.map((p) => `route ${p} via 192.0.2.10;`),
      v6: BIRD_V6.map((p) => `route ${p} via 2001:db8:ffff::10;`),
    });
    await waitBirdRoutesInB();
    assert.ok(await injectedInB(), 'the injected path is still there');
  });

  it('coalesces churn: 1,000 quick next-hop changes cost far fewer writes, B ends with the last one', async (ctx) => {
    await t.a.execBatch([`route add ${CHURN} via 192.0.2.10 proto bird`]);
    await t.waitPathsB(CHURN, 'via .10', (p) => p.length === 1 && p[0]!.nextHop === '192.0.2.10');
    const w0 = (await sink()).writes;
    const lines: string[] = [];
    for (let i = 0; i < 999; i++) lines.push(`route replace ${CHURN} via 192.0.2.${i % 2 === 0 ? 11 : 10} proto bird`);
    lines.push(`route replace ${CHURN} via 192.0.2.12 proto bird`);
    // "Quick" relative to rtreflect on any machine: it is stopped while ip makes the changes, so they
    // wait in its netlink socket as one burst. (Running, a busy machine's scheduler decides how many
    // pieces rtreflect sees the burst in.)
    t.rtreflect!.signal('SIGSTOP');
    try {
      await t.a.execBatch(lines);
    } finally {
      t.rtreflect!.signal('SIGCONT');
    }
    await t.waitPathsB(CHURN, 'only via .12', (p) => p.length === 1 && p[0]!.nextHop === '192.0.2.12');
    const s = await waitFor('the sink to be idle', async () => {
      const x = await sink();
      return x.pending === 0 ? x : undefined;
    });
    const writes = s.writes - w0;
    ctx.diagnostic(`1,000 kernel changes → ${writes} sink writes`);
    assert.ok(writes >= 1 && writes < 100, `1,000 changes cost ${writes} writes`);
    const st = await t.status();
    assert.ok((st.source as { events: { add: number } }).events.add >= 1000, 'every kernel change was seen');
  });

  it('gobgpd A killed -9 and restarted: rtreflect puts its routes back, status says why', async () => {
    await t.gobgpdA!.kill9();
    await waitFor("B to lose A's routes", async () => ((await t.ownedInB()).size === 0 ? true : undefined));
    await t.startGobgpdA();
    await waitBirdRoutesInB();
    await t.waitPathsB(CHURN, 'via .12', (p) => p.length === 1 && p[0]!.nextHop === '192.0.2.12');
    // What an operator sees: `rtreflect status --json`.
    const r = await t.cli(['status', '--json', '--control', t.controlSocket]);
    assert.equal(r.code, 0, r.stderr);
    const s = (JSON.parse(r.stdout) as { sinks: SinkStatusView[] }).sinks[0]!;
    assert.equal(s.state, 'up');
    assert.match(s.lastResync?.reason ?? '', /gobgpd/i, `resync reason: ${s.lastResync?.reason}`);
    assert.ok((s.lastResync?.upserts ?? 0) >= BIRD_V4.length + BIRD_V6.length + 1, `resync wrote everything: ${JSON.stringify(s.lastResync)}`);
  });

  it("SIGTERM withdraws exactly rtreflect's paths after the grace period; the other injector's stays", async () => {
    await t.gobgp('a', ['global', 'rib', 'add', INJECTED, '-a', 'ipv4']); // gobgpd A's restart lost it
    await waitFor('the injected path in B', () => injectedInB().then((ok) => ok || undefined));
    await waitBirdRoutesInB();
    const t0 = Date.now();
    t.rtreflect!.signal('SIGTERM');
    assert.ok(await t.rtreflect!.waitExit(60_000), 'rtreflect exited');
    assert.equal(t.rtreflect!.exitCode, 0);
    assert.ok(Date.now() - t0 >= 1000, 'it waited the grace period before exiting');
    await waitFor('B to lose every path of rtreflect', async () => ((await t.ownedInB()).size === 0 ? true : undefined));
    assert.ok(await injectedInB(), 'the injected path stays');
    assert.deepEqual(
      (await t.ribB(4)).map((p) => p.prefix),
      [INJECTED],
      'only the injected path is left',
    );
    assert.match(t.rtreflect!.log(), /withdrew owned paths from gobgpd/);
  });
});
