/**
 * The sink contract against the sinks unit tests can run: the engine tests' in-memory
 * dataplane, and the VPP sink against a fake VPP whose FIB behaves as VPP's does.
 */
import { createVppSink } from '../../src/sinks/vpp/vpp-sink.js';
import { vppSinkType } from '../../src/sinks/vpp/index.js';
import { sinkOptions } from '../../src/sinks/sink-type.js';
import type { ReflectedRoute } from '../../src/engine/reflected-route.js';
import { addrToBytes } from '../../src/util/ip.js';
import { RecordingSink } from '../helpers/recording-sink.js';
import { FakeVppFib } from '../helpers/fake-vpp-fib.js';
import { FakeVpp, fixtureDefs, vppDefsSkip } from '../helpers/vpp.js';
import { route, sinkContract } from '../helpers/sink-contract.js';

sinkContract(
  'memory',
  async () => {
    const sink = new RecordingSink({ initially: 'connecting', readEach: true });
    return { sink, teardown: () => sink.stop() };
  },
  { unsupported: route('10.71.8.0/24', [], { type: 'prohibit' }) },
);

sinkContract(
  'vpp (fake VPP)',
  async () => {
    const fib = new FakeVppFib();
    const fake = new FakeVpp({ handle: fib.handle });
    await fake.listen();
    const sink = createVppSink(sinkOptions(vppSinkType, { socket: fake.path, backoff: { initialMs: 20, maxMs: 200 } }), { defs: fixtureDefs() });
    let closed = false;
    /** Another FIB source's route; the sink's source has priority 130 (lower wins). */
    const inject = (src: number, priority: number, r: ReflectedRoute): void => {
      const [addr, len] = r.prefix.split('/');
      const bytes = addrToBytes(addr!);
      fib.addForeign(src, priority, {
        table_id: 0,
        prefix: { address: { af: r.family === 6 ? 1 : 0, un: r.family === 6 ? { ip6: bytes } : { ip4: bytes } }, len: Number(len) },
        paths: r.nexthops.map((n) => ({
          sw_if_index: 0xffffffff,
          weight: n.weight,
          type: 0,
          proto: r.family === 6 ? 1 : 0,
          nh: { address: r.family === 6 ? { ip6: addrToBytes(n.gateway!) } : { ip4: addrToBytes(n.gateway!) } },
        })),
      });
    };
    return {
      sink,
      teardown: async () => {
        try {
          if (sink.state() !== 'stopped') await sink.stop({ withdraw: false });
        } finally {
          if (!closed) await fake.close();
        }
      },
      // Behind the sink's source, so for a prefix both hold VPP uses the sink's entry; then ahead of it.
      injectForeign: async (r) => inject(9, 200, r),
      injectWinning: async (r) => inject(8, 100, r),
      outage: async () => {
        closed = true;
        await fake.close();
      },
    };
  },
  { skip: vppDefsSkip },
);
