/**
 * The control socket as operators meet it: other users are refused with a
 * clear message (exit 69); members of control.group get in; the daemon runs
 * with the capabilities the systemd unit leaves it (CAP_NET_ADMIN only, a
 * supplementary group as the unit's drop-in gives it) and fails clearly
 * without the group; `rtreflect log-level debug` changes the level live.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNetns, type Netns } from '../helpers/netns.js';
import { ControlServer } from '../../src/control/control-server.js';
import { silentLogger } from '../../src/util/logger.js';
import { cliArgs, startRtreflect, type RtreflectProcess } from '../helpers/cli-process.js';

const NOGROUP = 65534; // nobody's group on Debian ("nogroup"): exists everywhere, nothing to create or remove

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** `rtreflect ARGS` as another user: uid nobody, the given gid, no supplementary groups. */
const asUser = (gid: number, args: string[]) => run('setpriv', [`--reuid=65534`, `--regid=${gid}`, '--clear-groups', process.execPath, ...cliArgs(), ...args]);

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

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rtr-ctl-'));
  chmodSync(dir, 0o711); // others may pass through, as through /run
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Daemon config without sinks: the control socket is what is under test. */
function writeConfig(dir: string, group?: string): { config: string; socket: string } {
  const socket = join(dir, 'ctl', 'control.sock');
  const config = join(dir, 'rtreflect.yaml');
  writeFileSync(
    config,
    `
source: { protocols: [bird], tables: [main], families: [4] }
control:
  socket: ${socket}
${group ? `  group: ${group}\n` : ''}log: { level: info }
`,
  );
  return { config, socket };
}

/**
 * `rtreflect run` inside the namespace with the unit's privileges: root, but
 * only CAP_NET_ADMIN (CapabilityBoundingSet=CAP_NET_ADMIN), and optionally a
 * supplementary group (SupplementaryGroups= in the unit's drop-in).
 */
function startDaemon(ns: Netns, config: string, groups: number[] | undefined): RtreflectProcess {
  const priv = ['setpriv', '--bounding-set=-all,+net_admin', ...(groups ? [`--groups=${groups.join(',')}`] : [])];
  return startRtreflect(['run', '--config', config], { netns: ns.name, wrapper: priv, cleanups });
}

test('without control.group the socket is root-only and other users are refused clearly', { timeout: 300_000 }, async () => {
  const dir = tempDir();
  const socket = join(dir, 'ctl', 'control.sock');
  const server = new ControlServer({ path: socket, logger: silentLogger(), handlers: { status: async () => ({ daemon: 'stub' }) } });
  await server.start();
  cleanups.push(() => server.close());
  assert.equal(statSync(socket).mode & 0o777, 0o600);
  const r = await asUser(65534, ['status', '--json', '--control', socket]);
  assert.equal(r.code, 69, r.stderr);
  assert.match(
    r.stderr,
    /^rtreflect: cannot reach the rtreflect daemon at .*control\.sock: permission denied: run as root or as a member of the control group \(control\.group\)\n$/,
  );
  assert.equal(r.stdout, '');
});

test('control.group members may use the socket, others may not; log-level changes the level live', { timeout: 300_000 }, async () => {
  const dir = tempDir();
  const ns = await createNetns('ctl');
  cleanups.push(() => ns.destroy());
  const { config, socket } = writeConfig(dir, 'nogroup');
  const d = startDaemon(ns, config, [NOGROUP]);
  await d.waitForLog((l) => l.msg === 'ready: first resync applied to every sink', 'ready');
  assert.equal(d.exitCode, null, `daemon exited: ${JSON.stringify(d.logs)}`);

  const st = statSync(socket);
  assert.equal(st.mode & 0o777, 0o660);
  assert.equal(st.gid, NOGROUP);
  assert.equal(statSync(join(dir, 'ctl')).gid, NOGROUP, 'the socket directory lets the group in');

  const outsider = await asUser(65533, ['status', '--control', socket]);
  assert.equal(outsider.code, 69);
  assert.match(outsider.stderr, /permission denied/);

  const member = await asUser(NOGROUP, ['status', '--json', '--control', socket]);
  assert.equal(member.code, 0, member.stderr);
  const status = JSON.parse(member.stdout) as { daemon: { pid: number; ready: boolean; logLevel: string } };
  assert.equal(status.daemon.ready, true);
  assert.equal(status.daemon.logLevel, 'info');

  // log-level: no debug line before, debug lines for every request after.
  assert.ok(!d.logs.some((l) => l.level === 20), 'no debug lines at level info');
  const bad = await run(process.execPath, [...cliArgs(), 'log-level', 'chatty', '--control', socket]);
  assert.equal(bad.code, 64, 'a bad level is a usage error');
  assert.match(bad.stderr, /log level "chatty" is not one of fatal, error, warn, info, debug, trace, silent/);
  const set = await run(process.execPath, [...cliArgs(), 'log-level', 'debug', '--control', socket]);
  assert.equal(set.code, 0, set.stderr);
  assert.equal(set.stdout, 'log level is now debug\n');
  await d.waitForLog((l) => l.msg === 'log level changed' && l.level === 30 && l.logLevel === 'debug', '"log level changed"');
  const again = await run(process.execPath, [...cliArgs(), 'status', '--json', '--control', socket]);
  assert.equal((JSON.parse(again.stdout) as typeof status).daemon.logLevel, 'debug');
  await d.waitForLog((l) => l.level === 20 && l.msg === 'control request' && l.cmd === 'status', 'a debug line for the status request');
  assert.equal(d.exitCode, null, 'no restart: the same process');

  assert.equal(await d.stop(), 0);
});

test("with the unit's capabilities but not in the group, control.group fails at start with the fix named", { timeout: 300_000 }, async () => {
  const dir = tempDir();
  const ns = await createNetns('ctl');
  cleanups.push(() => ns.destroy());
  const { config } = writeConfig(dir, 'nogroup');
  const d = startDaemon(ns, config, undefined);
  const code = await d.exited;
  assert.equal(code, 1);
  const text = d.logs.map((l) => String(l.msg)).join('\n');
  assert.match(
    text,
    /rtreflect: control\.group: cannot give the control socket .*control\.sock to group "nogroup" \(EPERM\): rtreflect needs CAP_CHOWN or to be a member of that group; under systemd add "SupplementaryGroups=nogroup" and "SystemCallFilter=@chown"/,
  );
});
