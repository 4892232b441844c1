/**
 * `rtreflect watch` as a user runs it: the built CLI (or the sources under tsx), watching a namespace
 * we create. Its lines must say what `ip monitor route` says for the same changes (multipath on one
 * line), --json must be JSON, and bad arguments must give one line and exit 64.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNetns, type Netns } from '../helpers/netns.js';
import { packageRoot } from '../../src/util/package-info.js';
import { WAIT_MS, waitFor } from '../helpers/wait-for.js';

const root = packageRoot();
/** Compiled tests run the compiled CLI; under tsx, the sources. */
const cliArgs = fileURLToPath(import.meta.url).endsWith('.js')
  ? [join(root, 'dist', 'src', 'cli', 'main.js')]
  : ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts')];

interface Lines {
  lines: string[];
  child: ChildProcess;
  stderr: () => string;
  wait(pred: (l: string) => boolean, what: string, limitMs?: number): Promise<number>;
}

const children = new Set<ChildProcess>();
const namespaces: Netns[] = [];
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const ns of namespaces) await ns.destroy();
});

function lineReader(child: ChildProcess): Lines {
  children.add(child);
  const lines: string[] = [];
  let partial = '',
    err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  return {
    lines,
    child,
    stderr: () => err,
    wait: async (pred, what, limitMs = WAIT_MS) => {
      const found = await waitFor(
        () => {
          const i = lines.findIndex(pred);
          if (i >= 0) return { i };
          if (child.exitCode !== null) assert.fail(`${what}: the process exited (${child.exitCode}); stderr: ${err}`);
          return undefined;
        },
        { describe: what, timeoutMs: limitMs, intervalMs: 50, seen: () => `lines:\n${lines.join('\n')}\nstderr: ${err}` },
      );
      return found.i;
    },
  };
}

function startWatch(args: string[]): Lines {
  return lineReader(spawn(process.execPath, [...cliArgs, 'watch', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }));
}

async function stop(l: Lines): Promise<void> {
  if (l.child.exitCode !== null || l.child.signalCode !== null) return;
  const exited = new Promise((r) => l.child.once('exit', r));
  l.child.kill('SIGTERM');
  await exited;
}

/** `ip monitor route` output as one line per event: continuation lines joined, and what rtreflect does not model dropped. */
function monitorLines(raw: string[]): string[] {
  const out: string[] = [];
  for (const l of raw) {
    if (l.startsWith('\t') && out.length) out[out.length - 1] += ' ' + l.trim();
    else out.push(l.trim());
  }
  return out.map((l) =>
    l
      .replace(/ pref medium/, '')
      .replace(/^(blackhole \S+) dev lo/, '$1')
      .replace(/\s+/g, ' ')
      .trim(),
  );
}

async function netns(purpose: string): Promise<Netns> {
  const ns = await createNetns(purpose);
  namespaces.push(ns);
  await ns.execBatch([
    'link add v0 type veth peer name v1',
    'link set v0 up',
    'link set v1 up',
    'addr add 192.0.2.1/24 dev v0',
    'addr add 2001:db8:ffff::1/64 dev v0 nodad',
  ]);
  return ns;
}

describe('rtreflect watch', () => {
  it('prints the snapshot, then live lines as `ip monitor route` would say them', async () => {
    const ns = await netns('watch');
    await ns.execBatch([
      'route add 10.1.0.0/24 via 192.0.2.10 proto bird',
      'route add 10.1.1.0/24 via 192.0.2.10 proto static',
      'route add 10.1.2.0/24 proto bird table 1000 nexthop via 192.0.2.10 weight 2 nexthop via 192.0.2.11',
    ]);
    const w = startWatch(['--netns', ns.name]);
    const mon = lineReader(spawn('ip', ['-n', ns.name, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    try {
      const end = await w.wait((l) => l.startsWith('# '), 'the end of the snapshot');
      assert.deepEqual(w.lines.slice(0, end).sort(), [
        '10.1.0.0/24 via 192.0.2.10 dev v0 proto bird',
        '10.1.2.0/24 table 1000 proto bird nexthop via 192.0.2.10 dev v0 weight 2 nexthop via 192.0.2.11 dev v0 weight 1',
      ]);
      assert.equal(w.lines[end], '# 2 routes; watching for changes');
      // ip monitor prints no "ready": probe routes (another one each time, until one shows) tell when it listens.
      let probe = 0;
      const heard = await waitFor(
        async () => {
          const i = mon.lines.findIndex((l) => l.startsWith('10.99.'));
          if (i >= 0) return { i };
          if (mon.child.exitCode !== null) throw new Error(`ip monitor exited (${mon.child.exitCode}): ${mon.stderr()}`);
          await ns.execBatch([`route add 10.99.${probe++}.0/24 via 192.0.2.10 proto static`]);
          return undefined;
        },
        { describe: 'ip monitor to listen (a probe route in its output)', intervalMs: 200, seen: () => mon.lines },
      );
      const monStart = heard.i + 1;
      await ns.execBatch([
        'route add 10.2.0.0/24 via 192.0.2.10 proto bird',
        'route add 10.3.0.0/24 proto bird nexthop via 192.0.2.10 weight 3 nexthop via 192.0.2.11',
        'route replace 10.2.0.0/24 via 192.0.2.11 proto bird',
        'route del 10.2.0.0/24 proto bird',
        'route add 10.4.0.0/24 via 192.0.2.10 proto bird table 1000',
        'route add 10.4.1.0/24 via 192.0.2.10 proto static',
        'route add blackhole 10.5.0.0/24 proto bird',
        'route add unreachable 10.6.0.0/24 proto bird metric 7',
        'route add 2001:db8:1::/48 via 2001:db8:ffff::10 proto bird',
        'route add 2001:db8:2::/48 proto bird nexthop via 2001:db8:ffff::10 nexthop via 2001:db8:ffff::11 weight 2',
        'route add blackhole 2001:db8:3::/48 proto bird',
        'route add 10.7.0.0/24 via inet6 2001:db8:ffff::10 dev v0 proto bird',
        'route del 10.3.0.0/24 proto bird',
      ]);
      await w.wait((l) => l.startsWith('Deleted 10.3.0.0/24'), 'the last live line');
      // A last probe after the batch: once ip monitor prints it, every line before it is complete
      // (the continuation lines of a multipath route included).
      await ns.execBatch(['route add 10.98.0.0/24 via 192.0.2.10 proto static']);
      const monEnd = await mon.wait((l) => l.startsWith('10.98.0.0/24'), "ip monitor's line for the last probe");
      const live = w.lines.slice(end + 1);
      const expected = monitorLines(mon.lines.slice(monStart, monEnd)).filter((l) => / proto bird( |$)/.test(l));
      assert.deepEqual(live, expected);
      // The same, spelled out, so the comparison cannot pass on two empty lists.
      assert.equal(live.length, 12);
      assert.ok(live.includes('Deleted 10.2.0.0/24 via 192.0.2.11 dev v0 proto bird'));
      assert.ok(live.includes('10.4.0.0/24 via 192.0.2.10 dev v0 table 1000 proto bird'));
      assert.ok(live.includes('10.3.0.0/24 proto bird nexthop via 192.0.2.10 dev v0 weight 3 nexthop via 192.0.2.11 dev v0 weight 1'));
      assert.ok(live.includes('blackhole 10.5.0.0/24 proto bird'));
      assert.ok(live.includes('10.7.0.0/24 via inet6 2001:db8:ffff::10 dev v0 proto bird'));
    } finally {
      await stop(w);
      await stop(mon);
    }
    assert.equal(w.child.exitCode, 0, `watch exits cleanly on SIGTERM; stderr: ${w.stderr()}`);
  });

  it('--json: one JSON object per line, --table and --family filter', async () => {
    const ns = await netns('watchj');
    await ns.execBatch([
      'route add 10.1.0.0/24 via 192.0.2.10 proto bird table 1000',
      'route add 10.1.1.0/24 via 192.0.2.10 proto bird',
      'route add 2001:db8:1::/48 via 2001:db8:ffff::10 proto bird table 1000',
    ]);
    const w = startWatch(['--netns', ns.name, '--json', '--table', '1000', '--family', '4']);
    try {
      await w.wait((l) => l.includes('"snapshot-end"'), 'the end of the snapshot');
      await ns.execBatch([
        'route add 10.2.0.0/24 via 192.0.2.11 proto bird table 1000',
        'route add 10.2.1.0/24 via 192.0.2.11 proto bird',
        'route del 10.1.0.0/24 table 1000 proto bird',
      ]);
      await w.wait((l) => l.includes('"del"'), 'the delete');
      const objs = w.lines.map(
        (l) =>
          JSON.parse(l) as { event: string; route?: { prefix: string; table: number; protocol: number; nexthops: { gateway: string }[] }; routes?: number },
      );
      assert.deepEqual(
        objs.map((o) => `${o.event} ${o.route ? `${o.route.prefix} ${o.route.table} ${o.route.protocol} ${o.route.nexthops[0]?.gateway}` : o.routes}`),
        ['snapshot 10.1.0.0/24 1000 12 192.0.2.10', 'snapshot-end 1', 'add 10.2.0.0/24 1000 12 192.0.2.11', 'del 10.1.0.0/24 1000 12 192.0.2.10'],
      );
    } finally {
      await stop(w);
    }
  });

  for (const [args, pattern] of [
    [['--protocol', 'nosuch'], /unknown routing protocol "nosuch"/],
    [['--family', '5'], /--family: "5" is not a family/],
    [['--table', 'nosuch'], /unknown routing table "nosuch"/],
    [['--receive-buffer', '12x'], /--receive-buffer: "12x" is not a size/],
  ] as const) {
    it(`watch ${args.join(' ')}: one line, exit 64`, async () => {
      const w = startWatch([...args]);
      const code = await new Promise<number | null>((r) => w.child.once('exit', (c) => r(c)));
      assert.equal(code, 64, `stderr: ${w.stderr()}`);
      const lines = w.stderr().trimEnd().split('\n');
      assert.equal(lines.length, 1, `one line, no stack trace: ${w.stderr()}`);
      assert.match(lines[0]!, /^rtreflect: /);
      assert.match(lines[0]!, pattern);
      assert.deepEqual(w.lines, []);
    });
  }
});
