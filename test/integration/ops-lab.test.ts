/**
 * `rtreflect lab up` builds BIRD → kernel → rtreflect → sidecar gobgpd → BGP
 * peer in two namespaces; the peer must learn every route. `lab down` must
 * leave nothing behind: no namespace, no process (the recorded ones and the
 * sidecar), no file.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliArgs } from '../helpers/cli-process.js';

function rtreflect(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...cliArgs(), ...args], { encoding: 'utf8', timeout: 300_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const netnsList = (): string[] =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const prefix = `rtr-lab-${randomBytes(3).toString('hex')}`;
const dir = join(tmpdir(), `${prefix}-dir`);

after(async () => {
  // Whatever happened, nothing of this test may survive it.
  if (existsSync(join(dir, 'lab.json'))) await rtreflect(['lab', 'down', '--dir', dir]);
  for (const ns of netnsList().filter((n) => n.startsWith(prefix))) {
    for (const p of execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    try {
      execFileSync('ip', ['netns', 'del', ns]);
    } catch {
      /* gone */
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

test('lab up: the BGP peer learns every route; lab down leaves nothing', { timeout: 600_000 }, async () => {
  const up = await rtreflect(['lab', 'up', '--routes', '100', '--prefix', prefix, '--dir', dir]);
  assert.equal(up.code, 0, up.stdout + up.stderr);
  assert.match(up.stdout, /lab: peer learned 100 IPv4 prefixes \(\d+ paths\) and 10 IPv6 prefixes \(\d+ paths\)/);

  const state = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as { namespaces: string[]; pids: Record<string, number> };
  assert.deepEqual(state.namespaces.sort(), [`${prefix}-peer`, `${prefix}-router`]);
  assert.deepEqual(Object.keys(state.pids).sort(), ['bird', 'peerGobgpd', 'rtreflect']);
  for (const [name, pid] of Object.entries(state.pids)) assert.ok(alive(pid), `${name} runs`);

  // Independently of the lab's own count: ask the peer's gobgpd.
  const summary = (fam: string) =>
    execFileSync('ip', ['netns', 'exec', `${prefix}-peer`, 'gobgp', '-p', '50052', 'global', 'rib', '-a', fam, 'summary'], { encoding: 'utf8' });
  assert.match(summary('ipv4'), /Destination:\s*100,/);
  assert.match(summary('ipv6'), /Destination:\s*10,/);
  // One route end to end: the kernel next hop, BIRD's metric as MED, the lab's community.
  const one = execFileSync('ip', ['netns', 'exec', `${prefix}-peer`, 'gobgp', '-p', '50052', 'global', 'rib', '-a', 'ipv4', '100.10.5.0/24'], {
    encoding: 'utf8',
  });
  assert.match(one, /100\.10\.5\.0\/24\s+192\.0\.2\.10\s+65001\s.*\{Med: 32\} \{Communities: 65001:100\}/);

  // rtreflect's own view through its control socket.
  const st = await rtreflect(['status', '--json', '--control', join(dir, 'control.sock')]);
  assert.equal(st.code, 0, st.stderr);
  const sinks = (JSON.parse(st.stdout) as { sinks: { name: string; state: string; desired: number; applied: number }[] }).sinks;
  assert.deepEqual(
    sinks.map((s) => [s.name, s.state, s.desired, s.applied]),
    [['gobgp', 'up', 110, 110]],
  );
  assert.ok(existsSync(join(dir, 'gobgpd-gobgp', 'gobgpd.json')), 'the sidecar keeps its files in the lab dir, not in /run/rtreflect');

  // Every process in the lab's namespaces, the sidecar gobgpd included.
  const pids = state.namespaces.flatMap((ns) => execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean).map(Number));
  assert.ok(pids.length >= 4, `bird, rtreflect, its sidecar gobgpd and the peer's gobgpd run (pids ${pids.join(' ')})`);

  const down = await rtreflect(['lab', 'down', '--dir', dir]);
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stdout, new RegExp(`lab: removed namespaces ${prefix}-router, ${prefix}-peer and ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.deepEqual(
    netnsList().filter((n) => n.startsWith(prefix)),
    [],
    'no namespace left',
  );
  assert.deepEqual(pids.filter(alive), [], 'no process left');
  assert.equal(existsSync(dir), false, 'no file left');

  const again = await rtreflect(['lab', 'down', '--dir', dir]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /lab: nothing to remove/);
});
