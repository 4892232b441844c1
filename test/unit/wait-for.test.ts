import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deadlineMs, waitFor, WaitTimeoutError } from '../helpers/wait-for.js';

describe("waitFor (the integration tests' wait on a condition)", () => {
  it('resolves with the first truthy result, polling until then', async () => {
    let n = 0;
    assert.deepEqual(await waitFor(() => (++n >= 3 ? { n } : undefined), { describe: 'three polls', intervalMs: 1 }), { n: 3 });
    assert.equal(await waitFor(async () => 'done', { describe: 'an async condition' }), 'done');
  });

  it('when time runs out, says what it waited for and what it last saw', async () => {
    let n = 0;
    await assert.rejects(
      waitFor(
        () => {
          n++;
          return false;
        },
        { describe: 'the sink to be up', timeoutMs: 30, intervalMs: 5, seen: () => ({ state: 'down', polls: n > 1 }) },
      ),
      (e: unknown) => {
        assert.ok(e instanceof WaitTimeoutError);
        assert.equal(e.expected, 'the sink to be up');
        assert.equal(e.seen, "{ state: 'down', polls: true }");
        assert.match(e.message, /^timed out after \d+ ms waiting for the sink to be up; last seen: \{ state: 'down', polls: true \}$/);
        return true;
      },
    );
    // Without `seen`: the last result, or the last error when errors count as "not yet".
    await assert.rejects(
      waitFor(() => null, { describe: 'x', timeoutMs: 10, intervalMs: 2 }),
      /waiting for x; last seen: null$/,
    );
    await assert.rejects(
      waitFor(
        () => {
          throw new Error('connection refused');
        },
        { describe: 'gobgpd', timeoutMs: 10, intervalMs: 2, retryErrors: true },
      ),
      /waiting for gobgpd; last seen: connection refused$/,
    );
  });

  it('fails at once on an error unless errors count as "not yet"', async () => {
    let n = 0;
    await assert.rejects(
      waitFor(
        () => {
          n++;
          throw new Error('bird exited');
        },
        { describe: 'bird', timeoutMs: 60_000 },
      ),
      { message: 'bird exited' },
    );
    assert.equal(n, 1);
  });

  it('RTREFLECT_TEST_TIME_SCALE multiplies deadlines; a bad value is ignored', () => {
    const was = process.env.RTREFLECT_TEST_TIME_SCALE;
    try {
      process.env.RTREFLECT_TEST_TIME_SCALE = '2.5';
      assert.equal(deadlineMs(1000), 2500);
      process.env.RTREFLECT_TEST_TIME_SCALE = 'slow';
      assert.equal(deadlineMs(1000), 1000);
      delete process.env.RTREFLECT_TEST_TIME_SCALE;
      assert.equal(deadlineMs(1000), 1000);
    } finally {
      if (was === undefined) delete process.env.RTREFLECT_TEST_TIME_SCALE;
      else process.env.RTREFLECT_TEST_TIME_SCALE = was;
    }
  });
});
