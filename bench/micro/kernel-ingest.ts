/**
 * KernelState taking in RTM_NEWROUTE messages: framing (forEachMessage over batches of
 * 128 messages, as recv() hands them over), parsing and the state's own work, per message.
 *
 *   node dist/bench/micro/kernel-ingest.js [--routes N]
 *
 * Cases, for bird routes (protocol 12) over four gateways:
 * - fresh snapshot: the first dump of a family (start-up), its events taken every 1,024
 *   messages as KernelSource does;
 * - re-dump, unchanged: a resync's dump of a table the state already holds (an exact diff, no events);
 * - live add: notifications of new routes (NLM_F_CREATE|NLM_F_EXCL), one ingest() each;
 * - live replace: every route's gateway changed (NLM_F_REPLACE), on a full state;
 * - IPv6 fresh snapshot.
 */
import { KernelState } from '../../src/kernel/kernel-state.js';
import { encodeRouteMessage } from '../../src/kernel/netlink-messages.js';
import { forEachMessage } from '../../src/kernel/netlink-frame.js';
import { NLM_F_CREATE, NLM_F_EXCL, NLM_F_MULTI, NLM_F_REPLACE } from '../../src/kernel/netlink-constants.js';
import { bytesToPrefix } from '../../src/util/ip.js';
import { intArg } from '../bench-util.js';
import { measureAll, microOptions, runIfMain, type MicroBench, type MicroCase } from './micro-harness.js';

const BIRD = 12;
const PER_BATCH = 128;

/** RTM_NEWROUTE messages of n routes with these header flags, concatenated into batches. */
function messages(family: 4 | 6, n: number, nlFlags: number, gateways: string[]): Buffer[] {
  const addr = new Uint8Array(family === 4 ? 4 : 16);
  if (family === 6) {
    addr[0] = 0x20;
    addr[1] = 0x01;
    addr[2] = 0x0d;
    addr[3] = 0xb8;
  }
  const batches: Buffer[] = [];
  let batch: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    let prefix: string;
    if (family === 4) {
      addr[0] = 1 + (i >> 16);
      addr[1] = (i >> 8) & 255;
      addr[2] = i & 255;
      prefix = bytesToPrefix(addr, 0, 4, 24);
    } else {
      addr[4] = (i >> 16) & 255;
      addr[5] = (i >> 8) & 255;
      addr[6] = i & 255;
      prefix = bytesToPrefix(addr, 0, 16, 56);
    }
    // The kernel's default metrics (IPv4: no RTA_PRIORITY; IPv6: 1024), so route keys are the prefix text itself.
    const metric = family === 6 ? { metric: 1024 } : {};
    batch.push(encodeRouteMessage({ nlFlags, seq: 1, protocol: BIRD, prefix, ...metric, gateway: gateways[i % gateways.length], oif: 2 }));
    if (batch.length === PER_BATCH) {
      batches.push(Buffer.concat(batch));
      batch = [];
    }
  }
  if (batch.length) batches.push(Buffer.concat(batch));
  return batches;
}

const newState = (): KernelState => new KernelState({ protocols: new Set([BIRD]), tables: new Set([254]), families: new Set([4, 6]) });

/** A dump of a family, as KernelSource runs it; returns the events it gave. */
function dump(s: KernelState, family: 4 | 6, batches: Buffer[]): number {
  let events = 0,
    n = 0;
  s.beginSnapshot(family);
  for (const b of batches) {
    forEachMessage(b, (m) => {
      s.ingestSnapshot(m);
      if ((++n & 1023) === 0) events += s.takeSnapshotEvents().length;
    });
  }
  return events + s.endSnapshot(family).length;
}

/** Notifications, one ingest() each; returns the events they gave. */
function live(s: KernelState, batches: Buffer[]): number {
  let events = 0;
  for (const b of batches)
    forEachMessage(b, (m) => {
      events += s.ingest(m).events.length;
    });
  return events;
}

export const kernelIngest: MicroBench = {
  name: 'kernel-ingest',
  usage: '[--routes N (default 50000)]',
  async run(argv) {
    const n = intArg(argv, 'routes', 50_000);
    const gw4 = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'];
    const gw6 = ['fe80::1', 'fe80::2', 'fe80::3', 'fe80::4'];
    const dump4 = messages(4, n, NLM_F_MULTI, gw4);
    const add4 = messages(4, n, NLM_F_CREATE | NLM_F_EXCL, gw4);
    const replace4 = messages(4, n, NLM_F_REPLACE, ['10.0.0.5', '10.0.0.6', '10.0.0.7', '10.0.0.8']);
    const dump6 = messages(6, n, NLM_F_MULTI, gw6);
    const loaded = (): KernelState => {
      const s = newState();
      dump(s, 4, dump4);
      return s;
    };
    const cases: MicroCase<KernelState>[] = [
      { name: 'IPv4 fresh snapshot', ops: n, prepare: newState, run: (s) => dump(s, 4, dump4), expect: n },
      { name: 'IPv4 re-dump, unchanged', ops: n, prepare: loaded, run: (s) => dump(s, 4, dump4) + s.size, expect: n },
      { name: 'IPv4 live add', ops: n, prepare: newState, run: (s) => live(s, add4), expect: n },
      { name: 'IPv4 live replace', ops: n, prepare: loaded, run: (s) => live(s, replace4), expect: n },
      { name: 'IPv6 fresh snapshot', ops: n, prepare: newState, run: (s) => dump(s, 6, dump6), expect: n },
    ];
    return measureAll('kernel-ingest', cases, microOptions(argv));
  },
};

runIfMain(import.meta.url, kernelIngest);
