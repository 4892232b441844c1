import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastLogLine } from '../../src/lab/lab.js';

// `lab up` removes its directory when it fails, so its error must carry the log's last word itself.
test("a failed lab up quotes the end of the daemon's log, not the path of a file it removes", () => {
  const dir = mkdtempSync(join(tmpdir(), 'rtr-lab-log-'));
  try {
    const json = join(dir, 'rtreflect.log');
    writeFileSync(
      json,
      [
        JSON.stringify({ level: 30, msg: 'control socket listening' }),
        JSON.stringify({ level: 60, msg: 'start-up failed', err: 'GoBGP API file /x/gobgp.proto not found' }),
        '',
      ].join('\n'),
    );
    assert.equal(lastLogLine(json), 'its log ended with: start-up failed: GoBGP API file /x/gobgp.proto not found');
    const plain = join(dir, 'bird.log');
    writeFileSync(plain, 'bird: Started\nbird: /x/bird.conf:3:1 syntax error\n');
    assert.equal(lastLogLine(plain), 'its log ended with: bird: /x/bird.conf:3:1 syntax error');
    writeFileSync(plain, '');
    assert.equal(lastLogLine(plain), `its log ${plain} is empty`);
    assert.equal(lastLogLine(join(dir, 'none.log')), `its log ${join(dir, 'none.log')} is empty`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
