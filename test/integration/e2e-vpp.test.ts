/**
 * End to end with a real VPP: kernel routes (proto bird, in VPP's namespace) →
 * `rtreflect run` (same namespace) → VPP sink → VPP's FIB. Everything is asserted
 * in what VPP itself reports (ip_route_v2_dump from an independent API client,
 * and `vppctl show ip fib`), never in rtreflect's own view.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controlRequest } from '../../src/control/control-client.js';
import { loadApiDefs, type ApiDefsData } from '../../src/sinks/vpp/vpp-api-defs.js';
import { VppClient } from '../../src/sinks/vpp/vpp-client.js';
import { VppCodec } from '../../src/sinks/vpp/vpp-codec.js';
import { silentLogger } from '../../src/util/logger.js';
import { cliCommand, execOutcome, NsProcess, waitFor } from '../helpers/e2e-topology.js';
import { WAIT_MS } from '../helpers/wait-for.js';
import { findVppBinary, NO_VPP_MESSAGE, startLiveVpp, type LiveVpp, vppFib, type FibRoute } from '../helpers/vpp.js';

const bin = findVppBinary();

interface SinkView {
  name: string;
  state: string;
  writes: number;
  deletes: number;
  lastResync?: { upserts: number; deletes: number; ok: boolean; reason: string; at: string };
}

const NO_IF = 0xffffffff;
const PATH_DROP = 2;

describe('rtreflect run: kernel → VPP sink → real VPP', { skip: bin ? false : NO_VPP_MESSAGE, timeout: 240_000 }, () => {
  let vpp: LiveVpp | undefined;
  let dir: string | undefined;
  let rtr: NsProcess | undefined;
  let probe: VppClient | undefined;
  let defs: ApiDefsData;
  let controlSock: string;
  let configPath: string;
  let swVpp0 = -1;

  const ns = (): string => vpp!.ns;

  async function ipBatch(lines: string[]): Promise<void> {
    const r = await execOutcome('ip', ['-n', ns(), '-batch', '-'], { input: lines.join('\n') + '\n' });
    if (r.code !== 0) throw new Error(`ip -batch in ${ns()} failed: ${r.stderr}`);
  }

  async function connectProbe(): Promise<void> {
    await probe?.close().catch(() => undefined);
    probe = new VppClient(new VppCodec(defs, { skipOnDecode: ['label_stack'] }), {
      socket: vpp!.apiSock,
      clientName: 'e2e-probe',
      window: 64,
      requestTimeoutMs: 10_000,
      connectTimeoutMs: 5_000,
      logger: silentLogger(),
    });
    await probe.connect();
  }

  /** VPP's FIB for one table, every source: prefix → best source and its paths. */
  const fib = (table: number, ip6: boolean): Promise<Map<string, FibRoute>> => vppFib(probe!, table, ip6);

  async function ourSource(): Promise<number> {
    const s = (await probe!.dump('fib_source_dump')).map((d) => d.src as { name: string; id: number }).find((x) => x.name === 'rtreflect');
    assert.ok(s, 'VPP has the rtreflect FIB source');
    return s.id;
  }

  /** Waits until VPP's entry for the prefix satisfies ok (undefined: absent); returns it. */
  async function waitRoute(
    table: number,
    prefix: string,
    what: string,
    ok: (r: FibRoute | undefined) => boolean,
    timeoutMs = WAIT_MS,
  ): Promise<FibRoute | undefined> {
    let last: FibRoute | undefined;
    await waitFor(
      `${prefix} in VPP table ${table}: ${what}`,
      async () => {
        last = (await fib(table, prefix.includes(':'))).get(prefix);
        return ok(last) ? true : undefined;
      },
      timeoutMs,
      100,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; VPP has ${JSON.stringify(last)}; rtreflect log: ${rtr?.log().slice(-2000)}`);
    });
    return last;
  }

  async function status(): Promise<{ sinks: SinkView[] }> {
    return (await controlRequest(controlSock, 'status', {}, { timeoutMs: 10_000 })) as { sinks: SinkView[] };
  }

  async function startRtreflect(): Promise<void> {
    rtr ??= new NsProcess(ns(), [...cliCommand(), 'run', '--config', configPath, '--control', controlSock], join(dir!, 'rtreflect.log'));
    const p = rtr.start();
    await waitFor(
      'rtreflect to become ready with the VPP sink up',
      async () => {
        if (!p.running) throw new Error(`rtreflect exited (${p.exitCode ?? p.exitSignal}): ${p.log().slice(-3000)}`);
        const st = (await controlRequest(controlSock, 'status', {}, { timeoutMs: 5_000 })) as { daemon: { ready: boolean }; sinks: SinkView[] };
        return st.daemon.ready && st.sinks[0]?.state === 'up' && st.sinks[0].lastResync ? true : undefined;
      },
      WAIT_MS,
      200,
    );
  }

  /** `vppctl show ip fib table N PREFIX` (the detailed view), parsed: prefix → its paths as VPP's CLI prints them (next hop or "drop", weight). */
  function showFib(table: number, prefix: string): Map<string, { nh: string; weight: number }[]> {
    const out = new Map<string, { nh: string; weight: number }[]>();
    let cur: { nh: string; weight: number }[] | undefined;
    for (const line of vpp!.cli(`show ip fib table ${table} ${prefix}`).split('\n')) {
      const pfx = /^(\S+\/\d+) fib:\d+/.exec(line);
      if (pfx) {
        cur = [];
        out.set(pfx[1]!, cur);
        continue;
      }
      if (/^ forwarding:/.test(line)) {
        cur = undefined;
        continue;
      }
      const path = /^\s+path:\[\d+\].* weight=(\d+)/.exec(line);
      if (path && cur) {
        cur.push({ nh: /cfg-flags:drop/.test(line) ? 'drop' : '', weight: Number(path[1]) });
        continue;
      }
      // The line after a path names its next hop: "        10.99.0.10 host-vpp0".
      const nh = /^\s+([0-9a-f.:]+) \S+\s*$/.exec(line);
      const last = cur?.[cur.length - 1];
      if (nh && last && last.nh === '') last.nh = nh[1]!;
    }
    return out;
  }

  before(async () => {
    vpp = await startLiveVpp(bin!, 'e2e');
    dir = mkdtempSync(join(tmpdir(), 'rtr-e2e-vpp-'));
    controlSock = join(dir, 'control.sock');
    configPath = join(dir, 'rtreflect.yaml');
    defs = loadApiDefs(vpp.apiDir);
    await connectProbe();
    swVpp0 = (await probe!.dump('sw_interface_dump', { sw_if_index: NO_IF, name_filter_valid: true, name_filter: 'host-vpp0' }))[0]!.sw_if_index as number;
    writeFileSync(
      configPath,
      `source: { protocols: [bird], tables: [main, 100], families: [4, 6] }
engine: { holdDown: { enabled: false } }
sinks:
  - type: vpp
    name: vpp
    socket: "${vpp.apiSock}"
    apiDir: "${vpp.apiDir}"
    interfaces: { host0: host-vpp0 }
    backoff: { initialMs: 100, maxMs: 1000 }
    shutdown: { withdraw: true }
control: { socket: "${controlSock}" }
log: { level: info, format: json }
`,
    );
    // Routes present before rtreflect starts: they arrive through its initial dump.
    await ipBatch([
      'route add 192.0.2.0/24 via 10.99.0.10 proto bird',
      'route add 203.0.113.0/24 proto bird nexthop via 10.99.0.10 weight 1 nexthop via 10.99.0.11 weight 3',
      'route add blackhole 198.18.0.0/24 proto bird',
      'route add 2001:db8:1::/48 via 2001:db8:99::10 proto bird',
      'route add 100.65.0.0/16 via 10.99.0.10 dev host0 table 100 proto bird',
      // Not reflected: another protocol.
      'route add 192.0.2.128/25 via 10.99.0.10 proto static',
    ]);
    await startRtreflect();
  });

  after(async () => {
    try {
      await rtr?.stop(5000);
    } catch {
      /* keep tearing down */
    }
    await probe?.close().catch(() => undefined);
    try {
      await vpp?.stop();
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reflects the kernel table: next hop on the mapped interface, ECMP weights, blackhole, IPv6, table 100', async () => {
    const src = await ourSource();
    const r = await waitRoute(0, '192.0.2.0/24', 'via 10.99.0.10', (x) => x?.paths.length === 1);
    assert.deepEqual(r, { src, paths: [{ nh: '10.99.0.10', sw: swVpp0, weight: 1, type: 0 }] });
    const ecmp = await waitRoute(0, '203.0.113.0/24', 'two weighted paths', (x) => x?.paths.length === 2);
    assert.deepEqual(
      ecmp!.paths.map((p) => [p.nh, p.weight]),
      [
        ['10.99.0.10', 1],
        ['10.99.0.11', 3],
      ],
    );
    const bh = await waitRoute(0, '198.18.0.0/24', 'a drop path', (x) => !!x);
    assert.deepEqual(
      bh!.paths.map((p) => p.type),
      [PATH_DROP],
    );
    const v6 = await waitRoute(0, '2001:db8:1::/48', 'via 2001:db8:99::10', (x) => !!x);
    assert.deepEqual(
      v6!.paths.map((p) => [p.nh, p.sw]),
      [['2001:db8:99::10', swVpp0]],
    );
    // Kernel table 100 → VPP table 100, which rtreflect had to create.
    const t100 = await waitRoute(100, '100.65.0.0/16', 'in table 100', (x) => !!x);
    assert.equal(t100!.src, src);
    assert.equal((await fib(0, false)).has('100.65.0.0/16'), false, 'not in table 0');
    assert.equal((await fib(0, false)).has('192.0.2.128/25'), false, 'proto static is not reflected');
    // VPP's own CLI agrees.
    assert.deepEqual(showFib(0, '203.0.113.0/24').get('203.0.113.0/24'), [
      { nh: '10.99.0.10', weight: 1 },
      { nh: '10.99.0.11', weight: 3 },
    ]);
    assert.deepEqual(showFib(0, '198.18.0.0/24').get('198.18.0.0/24'), [{ nh: 'drop', weight: 1 }]);
    assert.deepEqual(showFib(100, '100.65.0.0/16').get('100.65.0.0/16'), [{ nh: '10.99.0.10', weight: 1 }]);
  });

  it('follows adds, deletes and next-hop replacements made while running', async () => {
    await ipBatch(['route add 198.51.110.0/24 via 10.99.0.12 proto bird', 'route add 2001:db8:2::/48 via 2001:db8:99::12 proto bird']);
    await waitRoute(0, '198.51.110.0/24', 'added', (x) => x?.paths[0]?.nh === '10.99.0.12');
    await waitRoute(0, '2001:db8:2::/48', 'added', (x) => x?.paths[0]?.nh === '2001:db8:99::12');

    await ipBatch(['route replace 198.51.110.0/24 via 10.99.0.13 proto bird']);
    const rep = await waitRoute(0, '198.51.110.0/24', 'only via .13', (x) => x?.paths.length === 1 && x.paths[0]!.nh === '10.99.0.13');
    assert.deepEqual(
      rep!.paths.map((p) => p.nh),
      ['10.99.0.13'],
    );

    await ipBatch(['route del 198.51.110.0/24 proto bird', 'route del 2001:db8:2::/48 proto bird']);
    await waitRoute(0, '198.51.110.0/24', 'deleted', (x) => x === undefined);
    await waitRoute(0, '2001:db8:2::/48', 'deleted', (x) => x === undefined);
    // ECMP weight change on an existing route.
    await ipBatch(['route replace 203.0.113.0/24 proto bird nexthop via 10.99.0.10 weight 2 nexthop via 10.99.0.11 weight 2']);
    await waitRoute(0, '203.0.113.0/24', 'weights 2/2', (x) => x?.paths.map((p) => p.weight).join() === '2,2');
  });

  it('VPP restarted: rtreflect reconnects and VPP converges to the kernel table', async () => {
    await probe!.close();
    await vpp!.restart();
    await connectProbe();
    // The new VPP starts empty; rtreflect must put everything back, table 100 included.
    await waitRoute(0, '192.0.2.0/24', 'back after the VPP restart', (x) => x?.paths[0]?.nh === '10.99.0.10', 40_000);
    await waitRoute(0, '2001:db8:1::/48', 'back', (x) => !!x);
    await waitRoute(0, '198.18.0.0/24', 'back', (x) => x?.paths[0]?.type === PATH_DROP);
    await waitRoute(100, '100.65.0.0/16', 'back in a recreated table 100', (x) => !!x);
    const ecmp = await waitRoute(0, '203.0.113.0/24', 'back with weights 2/2', (x) => x?.paths.length === 2);
    assert.deepEqual(
      ecmp!.paths.map((p) => p.weight),
      [2, 2],
    );
    await waitFor('the sink to report up', async () => ((await status()).sinks[0]!.state === 'up' ? true : undefined));
  });

  it('rtreflect killed and restarted with the kernel unchanged: nothing removed or re-added', async () => {
    const src = await ourSource();
    const before0 = await fib(0, false);
    const before6 = await fib(0, true);
    const before100 = await fib(100, false);
    await rtr!.kill9();
    await startRtreflect();
    const s = (await status()).sinks[0]!;
    assert.equal(s.lastResync?.ok, true);
    assert.equal(s.lastResync?.upserts, 0, 'no route re-added');
    assert.equal(s.lastResync?.deletes, 0, 'no route removed');
    assert.equal(s.writes, 0, `writes since the restart; rtreflect log: ${rtr!.log().slice(-6000)}`);
    assert.equal(s.deletes, 0);
    assert.deepEqual(await fib(0, false), before0);
    assert.deepEqual(await fib(0, true), before6);
    assert.deepEqual(await fib(100, false), before100);
    assert.equal(before0.get('192.0.2.0/24')?.src, src);
  });

  it("another API client's route survives resyncs and rtreflect's shutdown; ours are withdrawn", async () => {
    vpp!.cli('ip route add 198.51.100.0/24 via 10.99.0.7');
    const foreign = await waitRoute(0, '198.51.100.0/24', 'added by vppctl', (x) => !!x);
    const r = await execOutcome('ip', ['netns', 'exec', ns(), ...cliCommand(), 'resync', '--control', controlSock]);
    assert.equal(r.code, 0, `rtreflect resync: ${r.stderr}`);
    const s = (await status()).sinks[0]!;
    assert.equal(s.lastResync?.deletes, 0, 'the resync deleted nothing');
    assert.deepEqual((await fib(0, false)).get('198.51.100.0/24'), foreign);

    await rtr!.stop(15_000);
    assert.equal(rtr!.exitCode, 0, `rtreflect exit: ${rtr!.log().slice(-2000)}`);
    const t0 = await fib(0, false);
    assert.deepEqual(t0.get('198.51.100.0/24'), foreign, 'the vppctl route remains');
    assert.equal(t0.has('192.0.2.0/24'), false, 'ours were withdrawn (shutdown.withdraw: true)');
    assert.equal(t0.has('198.18.0.0/24'), false);
    assert.equal((await fib(0, true)).has('2001:db8:1::/48'), false);
    assert.equal((await fib(100, false)).has('100.65.0.0/16'), false);
  });
});
