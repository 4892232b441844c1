/**
 * What `rtreflect status` prints for a person, and the progress line of long
 * commands: shown on a terminal, silent otherwise (pipes, cron, journald).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, renderStatus, type StatusReply } from '../../src/cli/control-commands.js';
import { progressReporter } from '../../src/cli/progress.js';

const status: StatusReply = {
  daemon: {
    pid: 4242,
    uptimeSeconds: 3661,
    ready: true,
    logLevel: 'info',
    lastFullResync: { at: '2026-01-02T03:04:05.000Z', reason: 'control', durationMs: 812 },
  },
  source: {
    routes: 1000123,
    overruns: 2,
    resyncs: 3,
    events: { add: 1000500, del: 377 },
    receiveBufferBytes: 67108864,
    lastResync: { at: '2026-01-02T03:04:05.000Z', reason: 'overrun', durationMs: 4210, adds: 12, dels: 3 },
  },
  engine: { holdDownEngaged: true, heldDeletes: 51, filtered: 17 },
  sinks: [
    {
      name: 'gobgp',
      kind: 'gobgp',
      state: 'up',
      desired: 1000100,
      applied: 1000100,
      pending: 0,
      writes: 1000200,
      deletes: 100,
      errors: 0,
      skipped: 0,
      lastResync: { at: '2026-01-02T03:04:06.000Z', reason: 'start-up', durationMs: 30500, upserts: 1000100, deletes: 0, ok: true },
    },
    {
      name: 'vpp-main',
      kind: 'vpp',
      state: 'down',
      desired: 1000100,
      applied: 999000,
      pending: 1100,
      writes: 999000,
      deletes: 0,
      errors: 4,
      skipped: 6,
      lastError: 'connect ENOENT /run/vpp/api.sock',
      lastResync: { at: '2026-01-02T03:04:07.000Z', reason: 'VPP API connection re-established', durationMs: 15, upserts: 0, deletes: 0, ok: false },
    },
  ],
  handlers: [
    { name: 'only-bird', type: 'filter', errors: 0 },
    {
      name: 'gate',
      type: 'health-gate',
      errors: 0,
      services: [
        { name: 'web', healthy: true, upChecks: 1, minHealthy: 1, checks: [{}] },
        { name: 'pool', healthy: false, upChecks: 0, minHealthy: 1, checks: [{}, {}] },
      ],
    },
    { name: 'tag', type: 'module', errors: 3, lastError: 'TypeError: x is undefined' },
  ],
};

test('the status table: sources, engine, one row per sink, then problems', () => {
  assert.equal(
    renderStatus(status),
    [
      'rtreflect pid 4242, up 1h01m01s, ready, log level info; last full resync 2026-01-02T03:04:05.000Z (control, 812 ms)',
      'kernel: 1000123 routes, 1000500 adds / 377 deletes seen, 2 overruns, 3 resyncs; last resync 2026-01-02T03:04:05.000Z (overrun, 4210 ms, +12 -3)',
      'engine: 17 filtered by the chain, HOLD-DOWN ENGAGED (51 deletes held)',
      'SINK      KIND   STATE  DESIRED  APPLIED  PENDING  WRITES   DELETES  ERRORS  SKIPPED  LAST RESYNC',
      'gobgp     gobgp  up     1000100  1000100        0  1000200      100       0        0  2026-01-02T03:04:06.000Z start-up 30500ms +1000100 -0',
      'vpp-main  vpp    down   1000100   999000     1100   999000        0       4        6  2026-01-02T03:04:07.000Z VPP API connection re-established 15ms +0 -0 FAILED',
      'vpp-main: last error: connect ENOENT /run/vpp/api.sock',
      'handler gate: web healthy (1/1 checks up, 1 needed), pool UNHEALTHY (0/2 checks up, 1 needed)',
      'handler tag: 3 errors, last: TypeError: x is undefined',
      '',
    ].join('\n'),
  );
});

test('a starting daemon with nothing resynced yet', () => {
  const out = renderStatus({
    daemon: { pid: 1, uptimeSeconds: 5, ready: false, logLevel: 'debug' },
    source: { routes: 0, resyncing: true, overruns: 0, resyncs: 0, events: { add: 0, del: 0 }, receiveBufferBytes: 0 },
    engine: { holdDownEngaged: false, heldDeletes: 2, filtered: 0 },
    sinks: [{ name: 'gobgp', kind: 'gobgp', state: 'connecting', desired: 3, applied: 0, pending: 3, writes: 0, deletes: 0, errors: 0, skipped: 0 }],
  });
  assert.equal(
    out,
    [
      'rtreflect pid 1, up 5s, starting (kernel snapshot not loaded or a sink not connected yet), log level debug',
      'kernel: 0 routes, 0 adds / 0 deletes seen, 0 overruns, 0 resyncs; re-dumping now',
      'engine: 0 filtered by the chain, 2 deletes waiting out the hold-down window',
      'SINK   KIND   STATE       DESIRED  APPLIED  PENDING  WRITES  DELETES  ERRORS  SKIPPED  LAST RESYNC',
      'gobgp  gobgp  connecting        3        0        3       0        0       0        0  -',
      '',
    ].join('\n'),
  );
});

test('a ready daemon whose sinks are still being compared says so per sink, with the progress of the read', () => {
  const out = renderStatus({
    daemon: { pid: 1, uptimeSeconds: 75, ready: true, logLevel: 'info' },
    source: { routes: 400000, overruns: 0, resyncs: 1, events: { add: 400001, del: 0 }, receiveBufferBytes: 0 },
    engine: { holdDownEngaged: false, heldDeletes: 0, filtered: 0 },
    sinks: [
      {
        name: 'gobgp',
        kind: 'gobgp',
        state: 'up',
        desired: 400000,
        applied: 150000,
        pending: 0,
        writes: 1,
        deletes: 0,
        errors: 0,
        skipped: 0,
        resync: { reason: 'start-up', phase: 'reading', read: 150000, expected: 400000, sinceMs: 3200 },
      },
      {
        name: 'vpp',
        kind: 'vpp',
        state: 'up',
        desired: 400000,
        applied: 400000,
        pending: 12,
        writes: 12,
        deletes: 0,
        errors: 0,
        skipped: 0,
        resync: { reason: 'control', phase: 'writing', read: 399990, expected: 400000, sinceMs: 61000 },
      },
    ],
  });
  const lines = out.split('\n');
  assert.equal(lines[0], 'rtreflect pid 1, up 1m15s, ready, log level info');
  assert.deepEqual(lines.slice(6, 8), [
    'gobgp: verifying (150000 of 400000 read), start-up resync, 3s so far',
    'vpp: verifying (399990 read; writing the difference), control resync, 1m01s so far',
  ]);
});

test('durations read at a glance', () => {
  assert.deepEqual([0, 59, 60, 61, 3599, 3600, 86399, 90061].map(formatDuration), [
    '0s',
    '59s',
    '1m00s',
    '1m01s',
    '59m59s',
    '1h00m00s',
    '23h59m59s',
    '1d01h01m',
  ]);
});

/** A stand-in for process.stderr: what a reporter writes, and whether it looks like a terminal. */
function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; written: string[] } {
  const written: string[] = [];
  const stream = {
    isTTY,
    write: (s: string) => {
      written.push(s);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, written };
}

test('progress: one rewritten line on a terminal, cleared when done', () => {
  const { stream, written } = fakeStream(true);
  const p = progressReporter(stream);
  p.update('reading sinks');
  p.update('comparing 1000000 routes');
  p.done();
  assert.deepEqual(written, ['\r\x1b[Kreading sinks', '\r\x1b[Kcomparing 1000000 routes', '\r\x1b[K']);
});

test('progress: silent when not on a terminal (pipes, logs, cron)', () => {
  for (const isTTY of [false, undefined]) {
    const { stream, written } = fakeStream(isTTY as boolean);
    const p = progressReporter(stream);
    p.update('reading sinks');
    p.done();
    assert.deepEqual(written, []);
  }
});

test('progress: nothing to clear when nothing was shown', () => {
  const { stream, written } = fakeStream(true);
  progressReporter(stream).done();
  assert.deepEqual(written, []);
});
