/**
 * The shipped unit file (systemd/rtreflect.service) and the notifier that
 * speaks to it. The unit is checked by systemd's own tools: `verify` on a copy
 * whose Exec lines point at this checkout's CLI (an operator's /usr/bin/rtreflect
 * does not exist here), and `security` for the exposure score.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/package-info.js';
import { SystemdNotifier } from '../../src/systemd/systemd-notifier.js';
import { silentLogger } from '../../src/util/logger.js';

const unitPath = join(packageRoot(), 'systemd', 'rtreflect.service');
const unit = readFileSync(unitPath, 'utf8');
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

/** Directive → values, in order (comments and sections dropped). */
function directives(text: string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('[')) continue;
    const i = line.indexOf('=');
    const k = line.slice(0, i),
      v = line.slice(i + 1);
    m.set(k, [...(m.get(k) ?? []), v]);
  }
  return m;
}

/** `systemd-analyze verify` on a copy with the Exec paths pointed at this checkout's CLI; its complaints. */
function verify(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rtr-unit-'));
  try {
    const cliPath = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
    const copy = join(dir, 'rtreflect.service');
    writeFileSync(copy, text.replaceAll('/usr/bin/rtreflect', `${process.execPath} ${cliPath}`));
    const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
    return (r.stdout + r.stderr).trim() + (r.status === 0 ? '' : `\nexit ${r.status}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('systemd-analyze verify accepts the unit', { skip: !hasAnalyze && 'systemd-analyze not installed' }, () => {
  assert.equal(verify(unit), '');
  // The check can fail: a typo is reported.
  assert.match(verify(unit.replace(/^KillMode=mixed$/m, 'KillMode=mixd')), /Failed to parse kill mode specification/);
});

test('systemd-analyze security: exposure at most 2.0', { skip: !hasAnalyze && 'systemd-analyze not installed' }, () => {
  const out = execFileSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', unitPath], { encoding: 'utf8' });
  const m = /Overall exposure level for rtreflect\.service: (\d+\.\d)/.exec(out);
  assert.ok(m, out.slice(-500));
  assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]}`);
});

test('the unit: notify protocol, reload, restart, and the least the daemon needs', () => {
  const d = directives(unit);
  const one = (k: string): string | undefined => d.get(k)?.at(-1);
  assert.equal(one('Type'), 'notify');
  assert.equal(one('NotifyAccess'), 'main', 'a sidecar gobgpd may not send READY/STOPPING');
  assert.equal(one('WatchdogSec'), '30s');
  assert.deepEqual(d.get('ExecReload'), ['/usr/bin/rtreflect check-config --config /etc/rtreflect/rtreflect.yaml', '/bin/kill -HUP $MAINPID']);
  assert.equal(one('ExecStart'), '/usr/bin/rtreflect run --config /etc/rtreflect/rtreflect.yaml');
  assert.equal(one('Restart'), 'on-failure');
  assert.equal(one('RestartPreventExitStatus'), '64 78', 'a bad config is not retried forever');
  assert.equal(one('KillMode'), 'mixed', 'SIGTERM to rtreflect alone, so it can withdraw through its sidecar');
  assert.equal(one('CapabilityBoundingSet'), 'CAP_NET_ADMIN');
  assert.equal(one('AmbientCapabilities'), 'CAP_NET_ADMIN');
  assert.deepEqual(one('RestrictAddressFamilies')!.split(' ').sort(), ['AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_UNIX']);
  assert.equal(one('MemoryDenyWriteExecute'), 'no', 'V8 needs W+X memory');
  assert.equal(one('RuntimeDirectory'), 'rtreflect', 'the control socket lives in /run/rtreflect');
  // The default control socket is where the unit's RuntimeDirectory puts it.
  assert.match(readFileSync(join(packageRoot(), 'examples', 'rtreflect.yaml'), 'utf8'), /socket: \/run\/rtreflect\/control\.sock/);
  // The drop-ins the comments promise are there for the features the sandbox withholds.
  for (const s of [
    'SupplementaryGroups=rtreflect',
    'SystemCallFilter=@chown',
    'AmbientCapabilities=CAP_NET_BIND_SERVICE',
    'NetworkNamespacePath=',
    'npm prefix -g',
  ]) {
    assert.ok(unit.includes(s), `the unit documents ${s}`);
  }
});

test('the Exec lines use options the CLI has', () => {
  const cliPath = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
  const args = import.meta.url.includes('/dist/') ? [cliPath] : ['--import', 'tsx', join(packageRoot(), 'src', 'cli', 'main.ts')];
  for (const cmd of ['run', 'check-config']) {
    const help = execFileSync(process.execPath, [...args, cmd, '--help'], { encoding: 'utf8' });
    assert.match(help, /-c, --config <file>/);
  }
});

function recorder(env: NodeJS.ProcessEnv): { n: SystemdNotifier; sent: [string, string][] } {
  const sent: [string, string][] = [];
  return { n: new SystemdNotifier((p, m) => sent.push([p, m]), silentLogger(), env), sent };
}

test('notifier: messages as systemd expects them', () => {
  const { n, sent } = recorder({ NOTIFY_SOCKET: '@rtr-test' });
  assert.equal(n.active, true);
  n.ready('5 kernel routes; gobgp up 5/5');
  n.status('x');
  n.reloading();
  n.stopping();
  n.close();
  assert.equal(sent.length, 4);
  assert.ok(
    sent.every(([p]) => p === '@rtr-test'),
    'abstract socket names are passed through',
  );
  assert.equal(sent[0]![1], `READY=1\nSTATUS=5 kernel routes; gobgp up 5/5\nMAINPID=${process.pid}`);
  assert.equal(sent[1]![1], 'STATUS=x');
  assert.match(sent[2]![1], /^RELOADING=1\nMONOTONIC_USEC=\d+$/);
  assert.equal(sent[3]![1], 'STOPPING=1');
});

test('notifier: silent outside systemd, and a failing send never throws', () => {
  const { n, sent } = recorder({});
  assert.equal(n.active, false);
  n.ready('x');
  assert.deepEqual(sent, []);
  const broken = new SystemdNotifier(
    () => {
      throw new Error('ECONNREFUSED');
    },
    silentLogger(),
    { NOTIFY_SOCKET: '/nonexistent' },
  );
  assert.doesNotThrow(() => broken.ready('x'));
});

test('notifier: watchdog pings repeat, only for the process systemd named', async () => {
  const { n, sent } = recorder({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '100000' });
  const other = recorder({ NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '100000', WATCHDOG_PID: String(process.pid + 1) });
  // The timer is unref'd (it must not keep a stopping daemon alive): hold the loop open meanwhile.
  const deadline = Date.now() + 10_000;
  while (sent.filter(([, m]) => m === 'WATCHDOG=1').length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  n.close();
  other.n.close();
  assert.ok(sent.filter(([, m]) => m === 'WATCHDOG=1').length >= 3, 'WATCHDOG=1 repeats');
  assert.deepEqual(other.sent, [], 'WATCHDOG_PID names another process: no pings');
  const after = sent.length;
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(sent.length, after, 'close() stops the pings');
});
