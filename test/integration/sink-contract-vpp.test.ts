/**
 * The sink contract (test/helpers/sink-contract.ts) against the VPP sink and a real VPP per
 * scenario, in a namespace of its own; the other injector is vppctl (VPP's CLI source).
 * Skipped where no VPP binary is installed.
 */
import { sinkContract } from '../helpers/sink-contract.js';
import { findVppBinary, NO_VPP_MESSAGE, startLiveVpp } from '../helpers/vpp.js';
import { loadApiDefs } from '../../src/sinks/vpp/vpp-api-defs.js';
import { createVppSink } from '../../src/sinks/vpp/vpp-sink.js';
import { vppSinkType } from '../../src/sinks/vpp/index.js';
import { sinkOptions } from '../../src/sinks/sink-type.js';

const bin = findVppBinary();

sinkContract(
  'vpp (live VPP)',
  async () => {
    const vpp = await startLiveVpp(bin!, 'contract');
    try {
      const sink = createVppSink(
        sinkOptions(vppSinkType, {
          socket: vpp.apiSock,
          apiDir: vpp.apiDir,
          backoff: { initialMs: 100, maxMs: 500 },
          // Ahead of the CLI source's priority, so that for a prefix both hold VPP uses ours (and reports it).
          fibSource: { priority: 1 },
        }),
        { defs: loadApiDefs(vpp.apiDir) },
      );
      return {
        sink,
        teardown: async () => {
          try {
            if (sink.state() !== 'stopped') await sink.stop({ withdraw: false });
          } finally {
            await vpp.stop();
          }
        },
        injectForeign: async (r) => {
          vpp.cli(`ip route add ${r.prefix} via ${r.nexthops[0]!.gateway!}`);
        },
        outage: () => vpp.stop(),
      };
    } catch (err) {
      await vpp.stop();
      throw err;
    }
  },
  { skip: bin ? false : NO_VPP_MESSAGE },
);
