/**
 * The shipped unit under a real systemd as PID 1 (systemd-nspawn, a root over
 * the host's /usr, a private network namespace). The package is packed and
 * installed as README's "Install on a router" says, with the drop-in the unit's
 * comments give for npm's /usr/local prefix; gobgpd runs as Debian's own
 * gobgpd.service. Everything is judged by what an operator sees: systemctl,
 * `gobgp global rib`, `rtreflect status`, the journal, the metrics endpoint.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/package-info.js';
import { bootSystemdContainer, ContainerBootError, systemdContainerUnavailable, type SystemdContainer } from '../helpers/systemd-container.js';
import { installPackage } from '../helpers/package-install.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor as waitUntil } from '../helpers/cli-process.js';

const waitFor = <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 60_000): Promise<T> =>
  waitUntil(what, fn, ms, { retryErrors: false, intervalMs: 100 });

const PREFIXES = ['198.18.0.0/24', '198.18.1.0/24', '198.18.2.0/24'];
const PKG = '/usr/local/lib/node_modules/rtreflect';
const CONFIG = '/etc/rtreflect/rtreflect.yaml';

const GOBGPD_CONF = `[global.config]
  as = 65000
  router-id = "192.0.2.1"
  port = -1
`;

/** The operator's config: the gobgp sink on gobgpd's default gRPC port, control socket and metrics on their defaults. */
const config = (handlers = ''): string => `version: 1
source:
  protocols: [bird]
  tables: [main]
  families: [4]
  receiveBufferBytes: 67108864
${handlers}sinks:
  - type: gobgp
    name: gobgp
    address: 127.0.0.1:50051
    protoDir: /usr/share/gocode/src/github.com/osrg/gobgp/api
    connectTimeoutMs: 1000
    backoff: { initialMs: 200, maxMs: 1000 }
    shutdown: { withdraw: true, graceMs: 2000 }
control:
  socket: /run/rtreflect/control.sock
metrics:
  listen: "127.0.0.1:9469"
log:
  level: info
`;

const HIDE_ONE = `handlers:
  - type: prefix-list
    name: hide-one
    default: permit
    entries:
      - { action: deny, prefix: ${PREFIXES[2]} }
`;

/**
 * The drop-in the unit's own comments prescribe when `command -v rtreflect` is
 * /usr/local/bin/rtreflect, taken from those comments (so they are what is proven).
 */
function dropInFromUnitComments(): string {
  const lines = readFileSync(join(packageRoot(), 'systemd', 'rtreflect.service'), 'utf8').split('\n');
  const from = lines.indexOf('#   [Service]');
  const rest = lines.slice(from);
  const text =
    rest
      .slice(
        0,
        rest.findIndex((l) => !l.startsWith('#   ')),
      )
      .map((l) => l.slice(4))
      .join('\n') + '\n';
  assert.ok(from >= 0 && /^ExecStart=\/usr\/local\/bin\/rtreflect run /m.test(text), `no /usr/local drop-in in the unit's comments: ${text}`);
  return text;
}

const unavailable = systemdContainerUnavailable();

test(
  'the unit under a booted systemd: start waits for READY, reload, watchdog, stop withdraws, sandbox lets the daemon work',
  { skip: unavailable ?? false, timeout: 600_000 },
  async (t) => {
    const pkg = installPackage();
    let c: SystemdContainer;
    try {
      const bootStart = Date.now();
      c = await bootSystemdContainer({ purpose: 'unit', bindsReadOnly: [{ host: pkg.prefix, container: '/usr/local' }] });
      t.diagnostic(`container ${c.name} booted in ${Date.now() - bootStart} ms; ${(await c.run(['systemctl', '--version'])).split('\n')[0]}`);
    } catch (err) {
      rmSync(pkg.dir, { recursive: true, force: true });
      if (err instanceof ContainerBootError) {
        t.skip(`no systemd container on this machine: ${err.message}`);
        return;
      }
      throw err;
    }
    try {
      await exercise(t, c);
    } finally {
      await c.stop();
      rmSync(pkg.dir, { recursive: true, force: true });
    }
  },
);

async function exercise(t: TestContext, c: SystemdContainer): Promise<void> {
  const sh = (script: string, input?: string): Promise<string> => c.run(['/bin/sh', '-ec', script], input === undefined ? {} : { input });
  const isActive = async (unit = 'rtreflect'): Promise<string> => (await c.exec(['systemctl', 'is-active', unit])).stdout.trim();
  const show = async (...props: string[]): Promise<Record<string, string>> => {
    const out = await c.run(['systemctl', 'show', 'rtreflect', ...props.map((p) => `--property=${p}`)]);
    return Object.fromEntries(
      out
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  };
  const rib = async (): Promise<string[]> => {
    const out = await c.run(['gobgp', 'global', 'rib', '-a', 'ipv4', '-j']);
    return Object.keys(JSON.parse(out.trim() || '{}') as Record<string, unknown>).sort();
  };
  /** Everything the journal holds for the unit: rtreflect's JSON log lines, its commands' stderr, systemd's own lines. */
  const journal = async (): Promise<string[]> => (await c.run(['journalctl', '--no-pager', '-o', 'cat', '-u', 'rtreflect'])).split('\n');
  const messages = async (): Promise<string[]> =>
    (await journal()).flatMap((l) => {
      try {
        return [(JSON.parse(l) as { msg: string }).msg];
      } catch {
        return [];
      }
    });
  const status = async (): Promise<{
    daemon: { pid: number; ready: boolean };
    source: { routes: number; receiveBufferBytes: number };
    sinks: { name: string; state: string; applied: number }[];
  }> => JSON.parse(await c.run(['rtreflect', 'status', '--json'])) as never;

  // The network: a link for the next hop and BIRD's routes (proto bird), in the container's own namespace.
  await sh(
    [
      'ip link add nh0 type veth peer name nh1',
      'ip addr add 192.0.2.1/24 dev nh0',
      'ip link set nh0 up',
      'ip link set nh1 up',
      'ip link set lo up',
      ...PREFIXES.map((p) => `ip route add ${p} via 192.0.2.10 proto bird`),
    ].join('\n'),
  );

  // README's install, in the container (the package is already unpacked under /usr/local, see the helper).
  assert.equal((await sh('command -v rtreflect')).trim(), '/usr/local/bin/rtreflect', "npm's /usr/local prefix");
  await sh(
    `install -d -m 0750 /etc/rtreflect
install -m 0640 ${PKG}/examples/rtreflect.yaml ${CONFIG}
cat > ${CONFIG}`,
    config(),
  );
  await c.run(['rtreflect', 'check-config']);
  await sh(
    `install -m 0644 ${PKG}/systemd/rtreflect.service /etc/systemd/system/
install -d /etc/systemd/system/rtreflect.service.d
cat > /etc/systemd/system/rtreflect.service.d/override.conf`,
    dropInFromUnitComments(),
  );
  await sh('cat > /etc/gobgpd.conf', GOBGPD_CONF);
  await c.run(['systemctl', 'daemon-reload']);
  await c.run(['systemctl', 'enable', 'rtreflect']);

  // Each step builds on the one before: after a failure the rest is skipped, not failed again for the same cause.
  let failed: string | undefined;
  const step = (name: string, fn: () => Promise<void>): Promise<void> =>
    t.test(name, { skip: failed ? `after "${failed}" failed` : false }, async () => {
      try {
        await fn();
      } catch (err) {
        failed = name;
        throw err;
      }
    });

  await step('systemctl start: activating until READY=1, which waits for gobgpd; then gobgpd holds every route', async () => {
    // gobgpd is not running yet: the first resync cannot be applied, so READY cannot come.
    const startedAt = Date.now();
    await c.run(['systemctl', 'start', '--no-block', 'rtreflect']);
    const st0 = await waitFor('the control socket answers', async () => {
      try {
        return await status();
      } catch {
        return undefined;
      }
    });
    assert.equal(st0.daemon.ready, false);
    const quietUntil = Date.now() + 4000;
    while (Date.now() < quietUntil) {
      assert.equal(await isActive(), 'activating', 'no "active" while gobgpd is down');
      await sleep(250);
    }
    // `systemctl status` says what the start waits for.
    const waiting = await waitFor(
      'STATUS= naming the sink start-up waits for',
      async () => {
        const text = (await show('StatusText')).StatusText;
        return /^starting: 3 kernel routes; gobgp (connecting|down) 0\/3( .*)?$/.test(text) && text;
      },
      30_000,
    );
    assert.equal(await isActive(), 'activating');
    t.diagnostic(`StatusText while gobgpd is down: ${waiting}`);

    await c.run(['systemctl', 'start', 'gobgpd']);
    const gobgpdUpAt = Date.now();
    await waitFor('rtreflect active', async () => (await isActive()) === 'active', 120_000);
    const activeAt = Date.now();
    // READY=1: the kernel snapshot is loaded and gobgpd is up and taking writes; what gobgpd
    // already holds is compared in the background, and then it holds every route.
    const s = await show('StatusText', 'MainPID', 'SubState');
    assert.match(s.StatusText!, /^3 kernel routes; gobgp up [0-3]\/3( verifying \(.*\))?$/);
    assert.equal(s.SubState, 'running');
    await waitFor('gobgpd holds every route', async () => (await rib()).length === PREFIXES.length);
    assert.deepEqual(await rib(), PREFIXES);
    await waitFor('the first resync logged as applied', async () => (await messages()).includes('ready: first resync applied to every sink'));
    await waitFor('STATUS= with every route applied', async () => (await show('StatusText')).StatusText === '3 kernel routes; gobgp up 3/3', 30_000);
    t.diagnostic(`start with gobgpd down: active ${activeAt - gobgpdUpAt} ms after gobgpd came up (${activeAt - startedAt} ms after systemctl start)`);

    // With gobgpd up, `systemctl restart` returns once READY=1 arrived.
    const t0 = Date.now();
    await c.run(['systemctl', 'restart', 'rtreflect'], { timeoutMs: 300_000 });
    t.diagnostic(`systemctl restart (gobgpd up) returned active in ${Date.now() - t0} ms`);
    assert.equal(await isActive(), 'active');
    await waitFor('gobgpd holds every route after the restart', async () => (await rib()).length === PREFIXES.length);
    assert.deepEqual(await rib(), PREFIXES);
  });

  await step('the hardened sandbox lets through what the daemon needs', async () => {
    const st = await status(); // the control socket in /run/rtreflect
    assert.ok(st.source.receiveBufferBytes >= 64 * 1024 * 1024, `netlink receive buffer ${st.source.receiveBufferBytes}: SO_RCVBUFFORCE with CAP_NET_ADMIN`);
    assert.equal(st.source.routes, 3);
    assert.deepEqual(
      st.sinks.map((s) => [s.name, s.state, s.applied]),
      [['gobgp', 'up', 3]],
      'gRPC to gobgpd on localhost',
    );
    const metrics = await c.run([
      'node',
      '-e',
      "fetch('http://127.0.0.1:9469/metrics').then(async (r) => process.stdout.write(r.status + '\\n' + await r.text()))",
    ]);
    assert.match(metrics, /^200\n/);
    assert.match(metrics, /^rtreflect_kernel_events_total\{type="add"\} \d+/m, 'the metrics listener answers');
    const complaints = (await journal()).filter((l) => /receive buffer smaller|EPERM|EACCES|permission denied|operation not permitted/i.test(l));
    assert.deepEqual(complaints, [], 'nothing the sandbox refused');
    const firewall = (await c.run(['journalctl', '--no-pager', '-o', 'cat', '-b'])).split('\n').find((l) => /BPF\/cgroup firewalling/.test(l));
    t.diagnostic(
      firewall
        ? `IPAddressDeny= not enforced here: ${firewall}`
        : 'IPAddressDeny=any / IPAddressAllow=localhost in force (systemd logged no lack of BPF cgroup firewalling)',
    );
  });

  await step('systemctl reload: a good config applies; a broken one fails the reload and the daemon keeps its routes', async () => {
    const pid = (await show('MainPID')).MainPID;
    await sh(`cat > ${CONFIG}`, config(HIDE_ONE));
    const t0 = Date.now();
    await c.run(['systemctl', 'reload', 'rtreflect'], { timeoutMs: 120_000 });
    t.diagnostic(`systemctl reload (good config) took ${Date.now() - t0} ms`);
    await waitFor('the hidden prefix withdrawn from gobgpd', async () => (await rib()).length === 2);
    assert.deepEqual(await rib(), PREFIXES.slice(0, 2));
    assert.ok((await messages()).includes('config reloaded'));
    assert.equal((await show('MainPID')).MainPID, pid, 'a reload is no restart');

    // A typo: check-config (ExecReload's first line) refuses it, SIGHUP is never sent.
    await sh(`cat > ${CONFIG}`, config(HIDE_ONE).replace('    address: 127.0.0.1:50051', '    adress: 127.0.0.1:50051'));
    const bad = await c.exec(['systemctl', 'reload', 'rtreflect'], { timeoutMs: 120_000 });
    assert.notEqual(bad.code, 0, 'systemctl reload fails');
    assert.match(bad.stderr, /rtreflect\.service/);
    const said = (await journal()).filter((l) => /adress/.test(l));
    assert.ok(said.length > 0, 'the journal names the bad key');
    t.diagnostic(`broken reload: systemctl said "${bad.stderr.trim().split('\n')[0]}"; journal: ${said[0]}`);
    assert.equal(await isActive(), 'active');
    assert.equal((await show('MainPID')).MainPID, pid);
    assert.deepEqual(await rib(), PREFIXES.slice(0, 2), 'routes kept');
    assert.equal((await status()).sinks[0]!.state, 'up');
    await sh(`cat > ${CONFIG}`, config(HIDE_ONE));
  });

  await step('the watchdog restarts a stopped event loop (SIGSTOP)', async () => {
    const pid = (await show('MainPID')).MainPID;
    assert.match(pid, /^[1-9]\d*$/, 'a main process to stop'); // `kill -STOP 0` would stop the caller's process group
    const restarts = Number((await show('NRestarts')).NRestarts);
    const t0 = Date.now();
    await c.run(['kill', '-STOP', pid]);
    // WatchdogSec=30s, then SIGABRT (which a stopped process cannot act on), SIGKILL after TimeoutAbortSec, RestartSec=2s.
    const newPid = await waitFor(
      'a new main process, active',
      async () => {
        const s = await show('MainPID', 'ActiveState');
        return s.MainPID !== pid && s.MainPID !== '0' && s.ActiveState === 'active' && s.MainPID;
      },
      240_000,
    );
    t.diagnostic(`watchdog: SIGSTOP to a new active main process in ${Date.now() - t0} ms (pid ${pid} → ${newPid})`);
    const log = (await c.run(['journalctl', '--no-pager', '-o', 'cat', '-u', 'rtreflect'])).split('\n');
    assert.ok(
      log.some((l) => /Watchdog timeout/.test(l)),
      'systemd logged the watchdog timeout',
    );
    assert.equal(Number((await show('NRestarts')).NRestarts), restarts + 1);
    await waitFor('gobgpd holds the routes again', async () => (await rib()).length === 2);
    assert.deepEqual(await rib(), PREFIXES.slice(0, 2));
  });

  await step('systemctl stop withdraws the routes (shutdown.withdraw) within TimeoutStopSec', async () => {
    const timeoutStopSec = (await show('TimeoutStopUSec')).TimeoutStopUSec;
    const t0 = Date.now();
    await c.run(['systemctl', 'stop', 'rtreflect'], { timeoutMs: 120_000 });
    const took = Date.now() - t0;
    t.diagnostic(`systemctl stop took ${took} ms (TimeoutStopSec ${timeoutStopSec}, graceMs 2000)`);
    assert.ok(took < 60_000, `stop took ${took} ms`);
    assert.equal(await isActive(), 'inactive');
    const s = await show('Result', 'ExecMainStatus');
    assert.equal(s.Result, 'success', 'no timeout, no SIGKILL');
    assert.equal(s.ExecMainStatus, '0');
    assert.deepEqual(await rib(), [], "gobgpd holds none of rtreflect's routes");
    assert.ok((await messages()).includes('withdrawing routes before exit'));
  });
}
