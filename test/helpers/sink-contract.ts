/**
 * The sink contract (src/engine/sink.ts) as scenarios, run the same way against every sink:
 * the in-memory one and VPP's against its fake in unit tests, GoBGP's against a real gobgpd
 * (and VPP's against a real VPP) in integration tests. Each scenario gets a fresh sink and
 * dataplane from makeSink; the engine's correctness rests on every promise checked here.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { ReflectedRoute } from '../../src/engine/reflected-route.js';
import type { Sink, SinkChange, SinkConnectionState, SinkHooks } from '../../src/engine/sink.js';
import { silentLogger } from '../../src/util/logger.js';
import { waitFor } from './wait-for.js';
import { route } from './route-fixture.js';

export interface ContractSink {
  /** Constructed, not started: the contract starts it. */
  sink: Sink;
  /** Stops the sink (if still running) and its dataplane. */
  teardown(): Promise<void>;
  /**
   * Puts a route into the same dataplane the way another injector would (not through the sink);
   * one has a prefix of the sink's own, and must not take precedence over the sink's entry.
   */
  injectForeign?(route: ReflectedRoute): Promise<void>;
  /**
   * Puts a route into the same dataplane the way another injector would, taking precedence over
   * the sink's entry for the same prefix (a dataplane that ranks injectors, as VPP its FIB sources).
   */
  injectWinning?(route: ReflectedRoute): Promise<void>;
  /** Takes the dataplane away (the sink goes down); the teardown copes with it. */
  outage?(): Promise<void>;
}

export interface SinkContractOptions {
  /** Skip every scenario, with this reason. */
  skip?: string | false;
  /** A route this sink cannot carry (projects to {skip}). Default: an IPv6 route via a link-local gateway. */
  unsupported?: ReflectedRoute;
}

export { route };

const V4 = route('10.71.1.0/24', ['192.0.2.10']);
const V6 = route('2001:db8:71::/48', ['2001:db8::1']);
const ECMP3 = route('10.71.2.0/24', ['192.0.2.21', '192.0.2.22', '192.0.2.23']);
const ECMP1 = route('10.71.2.0/24', ['192.0.2.22']);
const ECMP2 = route('10.71.2.0/24', ['192.0.2.24', '192.0.2.25']);
const FOREIGN = route('10.71.9.0/24', ['192.0.2.99']);
/** Another injector's route for a prefix of ours. */
const FOREIGN_BESIDE_V4 = route(V4.prefix, ['192.0.2.98']);
const LINK_LOCAL = route('2001:db8:72::/48', [], { nexthops: [{ gateway: 'fe80::1', ifindex: 3, ifname: 'eth-contract', weight: 1 }] });

function projected(sink: Sink, r: ReflectedRoute): { key: string; fingerprint: string } {
  const p = sink.project(r);
  assert.ok('key' in p, `${sink.kind} sink skips ${r.prefix}: ${'skip' in p ? p.skip : ''}`);
  return p;
}

function upsert(sink: Sink, r: ReflectedRoute, extra: { was?: string; mayHold?: string[] } = {}): SinkChange {
  const p = projected(sink, r);
  return { op: 'upsert', key: p.key, fingerprint: p.fingerprint, route: r, ...extra };
}

function hooks(): SinkHooks & { states: SinkConnectionState[] } {
  const h = {
    logger: silentLogger(),
    states: [] as SinkConnectionState[],
    onResyncNeeded() {},
    onState(s: SinkConnectionState) {
      h.states.push(s);
    },
  };
  return h;
}

/** Applies and asserts that every change was applied. */
async function applyAll(sink: Sink, changes: SinkChange[]): Promise<void> {
  const rep = await sink.apply(changes);
  assert.deepEqual(rep.failed, [], 'no change fails');
  assert.deepEqual([...rep.applied].sort(), changes.map((c) => c.key).sort(), 'every change is reported applied');
}

/** What the sink reads back, as a plain object (sorted) for comparison. */
async function owned(sink: Sink): Promise<Record<string, string>> {
  const m = await sink.readOwned();
  return Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
}

function expected(sink: Sink, routes: ReflectedRoute[]): Record<string, string> {
  return Object.fromEntries(
    routes
      .map((r) => projected(sink, r))
      .map((p) => [p.key, p.fingerprint] as const)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

/** What a resync writes after reading `read`: each wanted route that reads otherwise, each key read that is not wanted. */
function resyncChanges(sink: Sink, want: ReflectedRoute[], read: Record<string, string>): SinkChange[] {
  const changes: SinkChange[] = [];
  const wanted = new Set<string>();
  for (const r of want) {
    const p = projected(sink, r);
    wanted.add(p.key);
    const was = read[p.key];
    if (was !== p.fingerprint) changes.push(upsert(sink, r, was === undefined ? {} : { was }));
  }
  for (const [key, fingerprint] of Object.entries(read)) if (!wanted.has(key)) changes.push({ op: 'delete', key, fingerprint });
  return changes;
}

/** A call that must not throw synchronously, and must reject or report every change failed. */
async function refusedWhileDown(sink: Sink, what: string): Promise<void> {
  let reading: Promise<unknown>, writing: Promise<{ applied: string[]; failed: unknown[] }>;
  assert.doesNotThrow(() => {
    reading = sink.readOwned();
  }, `readOwned ${what} throws synchronously`);
  assert.doesNotThrow(() => {
    writing = sink.apply([upsert(sink, V4)]);
  }, `apply ${what} throws synchronously`);
  await assert.rejects(reading!, `readOwned ${what} rejects`);
  const rep = await writing!.catch(() => undefined);
  if (rep) assert.deepEqual(rep.applied, [], `apply ${what} rejects or applies nothing`);
}

/** Registers the contract's scenarios for one kind of sink. */
export function sinkContract(name: string, makeSink: () => Promise<ContractSink>, opts: SinkContractOptions = {}): void {
  const unsupported = opts.unsupported ?? LINK_LOCAL;

  /** A fresh sink, started and up, for one scenario; always torn down. */
  async function withSink(fn: (s: ContractSink) => Promise<void>, started = true): Promise<void> {
    const s = await makeSink();
    try {
      if (started) {
        await s.sink.start(hooks());
        await waitFor(() => s.sink.state() === 'up', { describe: `${name} sink to be up`, seen: () => s.sink.state() });
      }
      await fn(s);
    } finally {
      await s.teardown();
    }
  }

  describe(`sink contract: ${name}`, { skip: opts.skip ?? false }, () => {
    it('keyOf equals project().key, project is deterministic, and a route it cannot carry projects to {skip}', async () => {
      await withSink(async ({ sink }) => {
        for (const r of [V4, V6, ECMP3, ECMP1]) {
          const p = projected(sink, r);
          assert.equal(sink.keyOf(r), p.key, `keyOf(${r.prefix})`);
          assert.deepEqual(sink.project(structuredClone(r)), p, `project(${r.prefix}) again, on an equal route`);
        }
        assert.notEqual(projected(sink, ECMP3).fingerprint, projected(sink, ECMP1).fingerprint, 'fingerprints tell next-hop sets apart');
        const s = sink.project(unsupported);
        assert.ok('skip' in s && s.skip.length > 0, `a route it cannot carry projects to {skip: why}, got ${JSON.stringify(s)}`);
      }, false);
    });

    it('apply(upsert) then readOwned reports each key with exactly the projected fingerprint; readOwnedEach the same', async () => {
      await withSink(async ({ sink }) => {
        await applyAll(
          sink,
          [V4, V6, ECMP3].map((r) => upsert(sink, r)),
        );
        assert.deepEqual(await owned(sink), expected(sink, [V4, V6, ECMP3]));
        if (sink.readOwnedEach) {
          const each: [string, string][] = [];
          await sink.readOwnedEach((k, fp) => each.push([k, fp]));
          assert.deepEqual(
            Object.fromEntries(each.sort(([a], [b]) => (a < b ? -1 : 1))),
            expected(sink, [V4, V6, ECMP3]),
            'readOwnedEach reports what readOwned does',
          );
          assert.equal(each.length, new Set(each.map(([k]) => k)).size, 'readOwnedEach reports each key once');
        }
        await sink.flush?.('resync');
        assert.deepEqual(await owned(sink), expected(sink, [V4, V6, ECMP3]), 'flush changes nothing that was read');
      });
    });

    it('the same upsert twice reads back the same', async () => {
      await withSink(async ({ sink }) => {
        await applyAll(sink, [upsert(sink, ECMP3), upsert(sink, V6)]);
        const once = await owned(sink);
        await applyAll(sink, [upsert(sink, ECMP3), upsert(sink, V6)]);
        assert.deepEqual(await owned(sink), once, 'again, without `was`');
        await applyAll(sink, [upsert(sink, ECMP3, { was: projected(sink, ECMP3).fingerprint }), upsert(sink, V6, { was: projected(sink, V6).fingerprint })]);
        assert.deepEqual(await owned(sink), once, 'again, with `was` the same fingerprint');
      });
    });

    it('an upsert with `was` leaves nothing of the old value: ECMP from 3 next hops to 1 and to 2 others', async () => {
      await withSink(async ({ sink }) => {
        await applyAll(sink, [upsert(sink, ECMP3), upsert(sink, V4)]);
        await applyAll(sink, [upsert(sink, ECMP1, { was: projected(sink, ECMP3).fingerprint })]);
        assert.deepEqual(await owned(sink), expected(sink, [ECMP1, V4]));
        await applyAll(sink, [upsert(sink, ECMP2, { was: projected(sink, ECMP1).fingerprint })]);
        assert.deepEqual(await owned(sink), expected(sink, [ECMP2, V4]));
      });
    });

    it('an upsert with `mayHold` also takes away what those fingerprints held', async () => {
      await withSink(async ({ sink }) => {
        await applyAll(sink, [upsert(sink, ECMP3)]);
        // The engine believed ECMP2 was written (`was`); a read during the write had reported ECMP3.
        await applyAll(sink, [upsert(sink, ECMP1, { was: projected(sink, ECMP2).fingerprint, mayHold: [projected(sink, ECMP3).fingerprint] })]);
        assert.deepEqual(await owned(sink), expected(sink, [ECMP1]));
      });
    });

    it('apply(delete) removes the key and nothing else; with `mayHold` every part of it; a key not held deletes fine', async () => {
      await withSink(async ({ sink }) => {
        await applyAll(
          sink,
          [V4, V6, ECMP3].map((r) => upsert(sink, r)),
        );
        const p4 = projected(sink, V4);
        await applyAll(sink, [{ op: 'delete', key: p4.key, fingerprint: p4.fingerprint }]);
        assert.deepEqual(await owned(sink), expected(sink, [V6, ECMP3]));
        const e1 = projected(sink, ECMP1);
        await applyAll(sink, [{ op: 'delete', key: e1.key, fingerprint: e1.fingerprint, mayHold: [projected(sink, ECMP3).fingerprint] }]);
        assert.deepEqual(await owned(sink), expected(sink, [V6]));
        // Deleted twice, and never written: no failure, nothing changes.
        const never = projected(sink, route('10.71.3.0/24', ['192.0.2.30']));
        await applyAll(sink, [
          { op: 'delete', key: p4.key, fingerprint: p4.fingerprint },
          { op: 'delete', key: never.key, fingerprint: never.fingerprint },
        ]);
        assert.deepEqual(await owned(sink), expected(sink, [V6]));
      });
    });

    it("readOwned lists only its own entries, never another injector's in the same dataplane", async (t: TestContext) => {
      await withSink(async ({ sink, injectForeign }) => {
        if (!injectForeign) {
          t.skip(`the ${name} dataplane has no other injector`);
          return;
        }
        await injectForeign(FOREIGN);
        await injectForeign(FOREIGN_BESIDE_V4);
        await applyAll(sink, [upsert(sink, V4), upsert(sink, V6)]);
        assert.deepEqual(await owned(sink), expected(sink, [V4, V6]), 'ours, as written, and nothing of the other injector');
        if (sink.readOwnedEach) {
          const each: [string, string][] = [];
          await sink.readOwnedEach((k, fp) => each.push([k, fp]));
          assert.deepEqual(Object.fromEntries(each.sort(([a], [b]) => (a < b ? -1 : 1))), expected(sink, [V4, V6]), 'readOwnedEach too');
        }
        const p4 = projected(sink, V4);
        await applyAll(sink, [{ op: 'delete', key: p4.key, fingerprint: p4.fingerprint }]);
        assert.deepEqual(await owned(sink), expected(sink, [V6]), "the other injector's route for a prefix we no longer hold is not ours");
      });
    });

    it("a prefix another injector's entry takes precedence over: resyncs converge to no writes", async (t: TestContext) => {
      await withSink(async ({ sink, injectWinning }) => {
        if (!injectWinning) {
          t.skip(`the ${name} dataplane ranks no other injector above the sink`);
          return;
        }
        const want = [V4, V6];
        await applyAll(
          sink,
          want.map((r) => upsert(sink, r)),
        );
        await injectWinning(FOREIGN_BESIDE_V4);
        // Resyncs as the engine runs them: read, then write the difference.
        const writes: number[] = [];
        for (let i = 0; i < 3; i++) {
          const changes = resyncChanges(sink, want, await owned(sink));
          writes.push(changes.length);
          if (changes.length > 0) await applyAll(sink, changes);
        }
        // The dataplane may not show the sink's entry under the other's: the first resync may write it once more.
        assert.ok(writes[0]! <= 1, `the first resync writes at most the shadowed key, wrote ${writes[0]}`);
        assert.deepEqual(writes.slice(1), [0, 0], `later resyncs write nothing (writes per resync: ${writes.join(', ')})`);
        assert.deepEqual(await owned(sink), expected(sink, want), "the sink reports its own entry as written, never the other injector's");
      });
    });

    it('a read while an apply is under way: both complete, nothing lost', async () => {
      await withSink(async ({ sink }) => {
        const routes = Array.from({ length: 300 }, (_, i) => route(`10.72.${i >> 4}.${(i & 15) << 4}/28`, [`192.0.2.${1 + (i % 200)}`]));
        const want = expected(sink, routes);
        const writing = sink.apply(routes.map((r) => upsert(sink, r)));
        const during = await sink.readOwned();
        const rep = await writing;
        assert.deepEqual(rep.failed, []);
        assert.equal(rep.applied.length, routes.length);
        for (const [k, fp] of during) assert.equal(fp, want[k], `${k}, read during the write, has its projected fingerprint`);
        assert.deepEqual(await owned(sink), want);
      });
    });

    it('apply and readOwned reject (or report failures) while the sink is down, never throwing synchronously', async (t: TestContext) => {
      await withSink(async (s) => {
        await refusedWhileDown(s.sink, 'before start');
        await s.sink.start(hooks());
        await waitFor(() => s.sink.state() === 'up', { describe: `${name} sink to be up`, seen: () => s.sink.state() });
        if (!s.outage) {
          t.diagnostic(`no outage for ${name}: checked before start only`);
          return;
        }
        await s.outage();
        await waitFor(() => s.sink.state() !== 'up', { describe: `${name} sink to notice its dataplane is gone`, seen: () => s.sink.state() });
        await refusedWhileDown(s.sink, 'while its dataplane is gone');
      }, false);
    });
  });
}
