import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, exitCodeOf, isErrorCode } from '../../src/util/errors.js';
import { packageRoot } from '../../src/util/package-info.js';

test('exit codes: config 78, usage 64, control socket unavailable 69, anything else 1', () => {
  assert.equal(exitCodeOf('ERR_CONFIG'), ExitCode.CONFIG);
  for (const c of ['ERR_USAGE', 'ERR_BAD_ARGUMENT', 'ERR_UNKNOWN_PROTOCOL', 'ERR_UNKNOWN_TABLE'] as const) assert.equal(exitCodeOf(c), ExitCode.USAGE, c);
  assert.equal(exitCodeOf('ERR_CONTROL_UNAVAILABLE'), ExitCode.UNAVAILABLE);
  for (const c of ['ERR_GOBGP_DOWN', 'ERR_VPP_CONNECT', 'ERR_NETLINK_SOCKET', 'ERR_HANDLER_START'] as const) assert.equal(exitCodeOf(c), ExitCode.FAILURE, c);
});

test('isErrorCode: known codes only (what the control socket passes on from the daemon)', () => {
  assert.ok(isErrorCode('ERR_CONFIG'));
  assert.ok(isErrorCode('ERR_NETNS'), 'codes raised by the native addon are listed too');
  assert.ok(!isErrorCode('ERR_NOT_A_CODE'));
  assert.ok(!isErrorCode('toString'), 'not fooled by Object.prototype');
  assert.ok(!isErrorCode(undefined));
});

test('every code the native addon raises is a known code (else it would surface as ERR_NATIVE)', () => {
  const c = readFileSync(join(packageRoot(), 'native', 'rtnl.c'), 'utf8');
  const codes = [...new Set([...c.matchAll(/"(ERR_[A-Z0-9_]+)"/g)].map((m) => m[1]!))];
  assert.ok(codes.length >= 5, `found ${codes.length} codes in rtnl.c`);
  assert.deepEqual(
    codes.filter((x) => !isErrorCode(x)),
    [],
  );
});
