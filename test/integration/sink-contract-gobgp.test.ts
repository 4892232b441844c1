/**
 * The sink contract (test/helpers/sink-contract.ts) against the GoBGP sink and a real gobgpd
 * per scenario; the other injector is the gobgp CLI.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startGobgpd } from '../helpers/gobgpd.js';
import { sinkContract } from '../helpers/sink-contract.js';
import { createGobgpSink } from '../../src/sinks/gobgp/gobgp-sink.js';
import { gobgpSinkType } from '../../src/sinks/gobgp/index.js';
import { sinkOptions } from '../../src/sinks/sink-type.js';
import { silentLogger } from '../../src/util/logger.js';

const run = promisify(execFile);

sinkContract('gobgp (real gobgpd)', async () => {
  const g = await startGobgpd();
  const sink = createGobgpSink(
    sinkOptions(gobgpSinkType, {
      name: 'gobgp-contract',
      address: g.grpcAddress,
      shutdown: { withdraw: false, graceMs: 0 },
      healthIntervalMs: 300,
      backoff: { initialMs: 50, maxMs: 500, jitter: 0.2 },
    }),
    { logger: silentLogger() },
  );
  return {
    sink,
    teardown: async () => {
      try {
        if (sink.state() !== 'stopped') await sink.stop({ withdraw: false });
      } finally {
        await g.stop();
      }
    },
    injectForeign: async (r) => {
      const nh = r.nexthops[0]!.gateway!;
      await run('gobgp', [...g.cliArgs, 'global', 'rib', 'add', r.prefix, 'nexthop', nh, '-a', r.family === 6 ? 'ipv6' : 'ipv4'], { timeout: 60_000 });
    },
    outage: () => g.kill9(),
  };
});
