import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RtreflectError } from '../../src/util/errors.js';

/**
 * Settings of the property tests: a fixed seed, so a failure in CI is the same
 * failure on a laptop, and a small budget, so the unit suite stays fast.
 * RTREFLECT_FUZZ_RUNS=N runs every property N times instead (a long run);
 * RTREFLECT_FUZZ_SEED=S changes the seed (to explore, or to replay a report);
 * RTREFLECT_FUZZ_SECONDS=T stops each property after T seconds.
 */
export const FUZZ_RUNS_ENV = 'RTREFLECT_FUZZ_RUNS';
export const FUZZ_SEED_ENV = 'RTREFLECT_FUZZ_SEED';
/** Caps each property of a long run at this many seconds (it then reports the inputs it got through). */
export const FUZZ_SECONDS_ENV = 'RTREFLECT_FUZZ_SECONDS';

const DEFAULT_SEED = 0x2f3a91;

function envInt(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name}=${v} is not a positive integer`);
  return n;
}

/** True during a long run: the tests then print how many inputs each property tried. */
export const longRun = envInt(FUZZ_RUNS_ENV) !== undefined;

/** A node:test timeout that a long run does not hit; a hang in CI fails instead of blocking the suite. */
export const fuzzTimeoutMs = longRun ? 24 * 3600_000 : 120_000;

/**
 * Checks `prop` with the fixed seed, `ciRuns` times (or RTREFLECT_FUZZ_RUNS times), and
 * returns how many inputs it tried. A failure throws with fast-check's report: the
 * shrunk counterexample, the seed and the path to replay it.
 */
export function checkProperty<Ts>(prop: fc.IRawProperty<Ts>, ciRuns: number, diagnostic?: (msg: string) => void): number {
  const numRuns = envInt(FUZZ_RUNS_ENV) ?? ciRuns;
  const seed = envInt(FUZZ_SEED_ENV) ?? DEFAULT_SEED;
  const started = Date.now();
  const seconds = envInt(FUZZ_SECONDS_ENV);
  const limit = seconds === undefined ? {} : { interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false };
  const details = fc.check(prop, { seed, numRuns, ...limit }) as fc.RunDetails<Ts>;
  if (details.failed) {
    const e = details.errorInstance;
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`${fc.defaultReportMessage(details as fc.RunDetails<unknown>) ?? 'property failed'}\n${why.slice(0, 4000)}`, { cause: e });
  }
  if (longRun) {
    const stopped = details.interrupted ? `, stopped by ${FUZZ_SECONDS_ENV}` : '';
    diagnostic?.(`${details.numRuns} inputs in ${((Date.now() - started) / 1000).toFixed(1)} s (seed ${seed}${stopped})`);
  }
  return details.numRuns;
}

/**
 * Runs a parser on input it may refuse: it returns a value or throws an RtreflectError
 * with the expected code; anything else (TypeError, RangeError, another code) fails,
 * naming what was thrown.
 */
export function parsesOrRefuses<T>(code: string | readonly string[], fn: () => T): { value: T } | { error: RtreflectError } {
  try {
    return { value: fn() };
  } catch (e) {
    const codes = typeof code === 'string' ? [code] : code;
    if (e instanceof RtreflectError && codes.includes(e.code)) return { error: e };
    assert.fail(
      `expected a value or an RtreflectError ${codes.join('/')}, got ${e instanceof Error ? `${e.name}${e instanceof RtreflectError ? ` ${e.code}` : ''}: ${e.message}\n${e.stack}` : String(e)}`,
    );
  }
}

/** Arbitrary bytes, as a Buffer. */
export const bytes = (maxLength = 256): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

/**
 * A valid message damaged the ways a bad peer or a bug would damage it: bytes
 * overwritten, a little-endian or big-endian 16-bit length changed, bytes
 * cut out or inserted. Most of the message stays intact, so the parser gets
 * past its header checks and into the fields.
 */
export function corrupted(valid: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('u16le' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 0xffff }) }),
    fc.record({ kind: fc.constant('u16be' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 0xffff }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), v: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
  );
  return fc.tuple(valid, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([buf, edits]) => {
    let b = Buffer.from(buf);
    for (const e of edits) {
      if (b.length === 0) break;
      const at = e.at % b.length;
      if (e.kind === 'byte') b[at] = e.v;
      else if (e.kind === 'u16le' && at + 2 <= b.length) b.writeUInt16LE(e.v, at);
      else if (e.kind === 'u16be' && at + 2 <= b.length) b.writeUInt16BE(e.v, at);
      else if (e.kind === 'cut') b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + e.v))]);
      else if (e.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from([e.v]), b.subarray(at)]);
    }
    return b;
  });
}

/** A valid message and a place to cut it: 0 ≤ cut < its length. */
export function truncated(valid: fc.Arbitrary<Buffer>): fc.Arbitrary<{ full: Buffer; cut: number }> {
  return valid.filter((b) => b.length > 0).chain((full) => fc.integer({ min: 0, max: full.length - 1 }).map((cut) => ({ full, cut })));
}
