import type { Logger } from '../../util/logger.js';
import type { VppClient } from './vpp-client.js';
import type { VppSinkOptions } from './vpp-options.js';
import { NO_IF } from './vpp-wire-route.js';

/** Kernel interface (by index, and by name) → VPP sw_if_index. */
export interface InterfaceMap {
  byIndex: Map<number, number>;
  byName: Map<string, number>;
  /** Pairs linux-cp reported. */
  lcpPairs: number;
  /** Whether any mapping exists (pairs or an interfaces entry): only then is an unmapped interface worth a warning. */
  configured: boolean;
}

/** Reads the map from VPP: linux-cp pairs first, then the sink's `interfaces` entries for kernel names no pair covers. */
export async function readInterfaceMap(c: VppClient, opts: Pick<VppSinkOptions, 'useLinuxCp' | 'interfaces'>, logger: Logger): Promise<InterfaceMap> {
  const byIndex = new Map<number, number>();
  const byName = new Map<string, number>();
  const vppNames = new Map<string, number>();
  for (const d of await c.dump('sw_interface_dump', { sw_if_index: NO_IF, name_filter_valid: false, name_filter: '' })) {
    vppNames.set(d.interface_name as string, d.sw_if_index as number);
  }
  let lcpPairs = 0;
  if (opts.useLinuxCp && c.has('lcp_itf_pair_get')) {
    try {
      for (const p of await c.getAll('lcp_itf_pair_get')) {
        byIndex.set(p.vif_index as number, p.phy_sw_if_index as number);
        byName.set(p.host_if_name as string, p.phy_sw_if_index as number);
        lcpPairs++;
      }
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'cannot read linux-cp interface pairs; using the interfaces map only');
    }
  }
  for (const [kname, vname] of Object.entries(opts.interfaces)) {
    const sw = vppNames.get(vname);
    if (sw === undefined) {
      logger.warn({ kernel: kname, vpp: vname }, 'interfaces map names a VPP interface that does not exist; routes via it fall back to next-hop-only');
      continue;
    }
    if (!byName.has(kname)) byName.set(kname, sw);
  }
  return { byIndex, byName, lcpPairs, configured: lcpPairs > 0 || Object.keys(opts.interfaces).length > 0 };
}
