/**
 * Health-gated announcements end to end, without restarting rtreflect:
 *   router namespace: services (HTTP, TCP; real processes on its loopback),
 *                     kernel routes (proto bird), rtreflect, gobgpd A (AS 65001)
 *   peer namespace:   gobgpd B (AS 65002), peering with A over a veth.
 * What B learns follows the services: a VIP rtreflect originates, a kernel route
 * it gates, and a VIP that needs at least 1 of 2 backends.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createNetns, type Netns } from '../helpers/netns.js';
import { cliArgs, startRtreflect, waitFor as waitUntil } from '../helpers/cli-process.js';
import { WAIT_MS } from '../helpers/wait-for.js';

const waitFor = <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = WAIT_MS): Promise<T> =>
  waitUntil(what, fn, ms, { retryErrors: true, intervalMs: 100 });

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    );
  });
}

/** A service process inside the namespace: "http" answers 200 on /healthz, "tcp" accepts. */
const SERVICE = `
const [kind, port] = [process.argv[1], Number(process.argv[2])];
const srv = kind === 'http'
  ? require('node:http').createServer((req, res) => res.writeHead(req.url === '/healthz' ? 200 : 404).end('ok'))
  : require('node:net').createServer((c) => c.end());
srv.listen(port, '127.0.0.1', () => console.log('listening'));
`;

class Service {
  private child: ChildProcess | undefined;
  constructor(
    private readonly ns: Netns,
    private readonly kind: 'http' | 'tcp',
    readonly port: number,
  ) {}
  async start(): Promise<void> {
    const child = this.ns.spawn(process.execPath, ['-e', SERVICE, this.kind, String(this.port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', () => resolve());
      child.once('exit', (code) => reject(new Error(`${this.kind} service on ${this.port} exited with ${code}`)));
    });
  }
  async stop(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  }
}

const VIP = '198.51.100.53/32'; // originated while the HTTP service is healthy
const GATED = '203.0.113.0/24'; // BIRD's kernel route, passed while the TCP service is healthy
const POOL = '198.51.100.80/32'; // originated while at least 1 of 2 backends is healthy
const PLAIN = '198.18.10.0/24'; // not gated: always announced

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

interface GateStatus {
  name: string;
  healthy: boolean;
  upChecks: number;
  checks: { name: string; state: string; consecutiveFail: number; consecutiveOk: number }[];
}

test('health-gated routes reach, leave and return to a BGP peer as services fail and recover', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rtr-hgbgp-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const router = await createNetns('hgr');
  cleanups.push(() => router.destroy());
  const peer = await createNetns('hgp');
  cleanups.push(() => peer.destroy());

  await router.execBatch([
    `link add eth0 type veth peer name eth0 netns ${peer.name}`,
    'addr add 10.255.1.1/30 dev eth0',
    'link set eth0 up',
    'link add nh0 type veth peer name nh1',
    'addr add 192.0.2.1/24 dev nh0',
    'link set nh0 up',
    'link set nh1 up',
    `route add ${GATED} via 192.0.2.10 proto bird`,
    `route add ${PLAIN} via 192.0.2.10 proto bird`,
  ]);
  await peer.execBatch(['addr add 10.255.1.2/30 dev eth0', 'link set eth0 up']);

  const gobgpdConfig = (as: number, id: string, neighbor: string, peerAs: number) =>
    JSON.stringify({
      global: { config: { as, 'router-id': id, port: 179, 'local-address-list': [id] } },
      neighbors: [{ config: { 'neighbor-address': neighbor, 'peer-as': peerAs }, timers: { config: { 'connect-retry': 1 } } }],
    });
  writeFileSync(join(dir, 'a.json'), gobgpdConfig(65001, '10.255.1.1', '10.255.1.2', 65002));
  writeFileSync(join(dir, 'b.json'), gobgpdConfig(65002, '10.255.1.2', '10.255.1.1', 65001));
  const gobgpd = (ns: Netns, cfg: string, port: number): void => {
    const fd = openSync(join(dir, `${cfg}.log`), 'a');
    ns.spawn('gobgpd', ['-f', join(dir, cfg), '-t', 'json', '--api-hosts', `127.0.0.1:${port}`, '--pprof-disable'], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
  };
  const gobgpdLog = (cfg: string): string => (existsSync(join(dir, `${cfg}.log`)) ? readFileSync(join(dir, `${cfg}.log`), 'utf8').slice(-1500) : '');
  gobgpd(router, 'a.json', 50061);
  gobgpd(peer, 'b.json', 50062);

  const peerRib = async (): Promise<string[]> => {
    const out = await run('ip', ['netns', 'exec', peer.name, 'gobgp', '-p', '50062', 'global', 'rib', '-a', 'ipv4', '-j']);
    return Object.keys(JSON.parse(out.trim() || '{}') as Record<string, unknown>).sort();
  };
  let neighbors = '';
  await waitUntil(
    'the BGP session',
    async () => /\sEstabl/.test((neighbors = await run('ip', ['netns', 'exec', peer.name, 'gobgp', '-p', '50062', 'neighbor']))),
    WAIT_MS,
    { retryErrors: true, seen: () => `peer's neighbors:\n${neighbors}\ngobgpd A's log: ${gobgpdLog('a.json')}\ngobgpd B's log: ${gobgpdLog('b.json')}` },
  );

  const web = new Service(router, 'http', 8080);
  const dns = new Service(router, 'tcp', 5353);
  const pool1 = new Service(router, 'http', 8081);
  const pool2 = new Service(router, 'http', 8082);
  for (const s of [web, dns, pool1, pool2]) {
    await s.start();
    cleanups.push(() => s.stop());
  }

  const control = join(dir, 'control.sock');
  const config = join(dir, 'rtreflect.yaml');
  // A healthy service's probe must not time out because the machine is busy: a refused connection
  // (a stopped service) fails at once whatever the timeout.
  const timing = 'intervalMs: 200, timeoutMs: 5000, rise: 2, fall: 3';
  writeFileSync(
    config,
    `
source: { protocols: [bird], tables: [main], families: [4] }
handlers:
  - type: health-gate
    name: gate
    services:
      - { name: web, prefix: ${VIP}, originate: { nextHop: 10.255.1.1 }, ${timing},
          checks: [{ type: http, url: "http://127.0.0.1:8080/healthz" }] }
      - { name: dns, prefix: ${GATED}, ${timing},
          checks: [{ type: tcp, host: 127.0.0.1, port: 5353 }] }
      - { name: pool, prefix: ${POOL}, originate: { nextHop: 10.255.1.1 }, ${timing}, minHealthy: 1,
          checks: [{ type: http, url: "http://127.0.0.1:8081/healthz" }, { type: http, url: "http://127.0.0.1:8082/healthz" }] }
sinks:
  - { type: gobgp, name: gobgp, address: "127.0.0.1:50061", shutdown: { withdraw: true, graceMs: 0 } }
control: { socket: ${control} }
log: { level: info }
`,
  );
  const daemon = startRtreflect(['run', '--config', config], { netns: router.name, cleanups });

  const gate = async (name: string): Promise<GateStatus> => {
    const out = await run(process.execPath, [...cliArgs(), 'status', '--json', '--control', control]);
    const st = JSON.parse(out) as { handlers: { name: string; services?: GateStatus[] }[] };
    const svc = st.handlers.find((h) => h.name === 'gate')?.services?.find((x) => x.name === name);
    assert.ok(svc, `status shows the health-gate service ${name}: ${out.slice(0, 2000)}`);
    return svc;
  };
  let lastRib: string[] = [];
  const ribIs = (want: string[], what: string) =>
    waitUntil(what, async () => JSON.stringify((lastRib = await peerRib())) === JSON.stringify([...want].sort()), WAIT_MS, {
      retryErrors: true,
      seen: () => ({ want: [...want].sort(), peer: lastRib }),
    });

  // Everything healthy: the peer learns all four.
  await ribIs([VIP, GATED, POOL, PLAIN], 'all four prefixes at the peer');

  // HTTP service stops: the VIP is withdrawn after `fall` failed probes, nothing else moves.
  await web.stop();
  await ribIs([GATED, POOL, PLAIN], 'the VIP withdrawn');
  const webDown = await gate('web');
  assert.equal(webDown.healthy, false);
  assert.ok(webDown.checks[0]!.consecutiveFail >= 3, `withdrawn after fall=3 failures (${webDown.checks[0]!.consecutiveFail})`);
  // And it comes back after `rise` successes.
  await web.start();
  await ribIs([VIP, GATED, POOL, PLAIN], 'the VIP back');
  const webUp = await gate('web');
  assert.equal(webUp.healthy, true);
  assert.ok(webUp.checks[0]!.consecutiveOk >= 2);

  // TCP service stops: the kernel route it gates is withdrawn although BIRD still has it in the kernel.
  await dns.stop();
  await ribIs([VIP, POOL, PLAIN], 'the gated kernel route withdrawn');
  assert.match(await run('ip', ['-n', router.name, 'route', 'show', GATED]), /proto bird/, 'still in the kernel');
  await dns.start();
  await ribIs([VIP, GATED, POOL, PLAIN], 'the gated kernel route back');

  // At least 1 of 2 backends: one down keeps the VIP; both down withdraw it; one back restores it.
  await pool1.stop();
  await waitFor('backend 1 seen down', async () => (await gate('pool')).checks[0]!.state === 'down');
  const half = await gate('pool');
  assert.deepEqual([half.healthy, half.upChecks], [true, 1]);
  assert.deepEqual(await peerRib(), [VIP, GATED, POOL, PLAIN].sort(), 'one healthy backend of two keeps the VIP');
  await pool2.stop();
  await ribIs([VIP, GATED, PLAIN], 'the pool VIP withdrawn with no backend');
  await pool2.start();
  await ribIs([VIP, GATED, POOL, PLAIN], 'the pool VIP back with one backend');

  // All of it without a restart.
  assert.equal(daemon.exitCode, null);
  for (const msg of ['service unhealthy: withdrawing', 'service healthy: announcing'])
    assert.ok(
      daemon.logs.some((l) => l.msg === msg),
      `log line "${msg}"`,
    );
  assert.equal(await daemon.stop(), 0);
});
