/** The VRFs gobgpd has, as last listed, and creating the ones the sink's options define. */
import type { Logger } from '../../util/logger.js';
import type { GobgpClient } from './gobgp-api.js';
import type { GobgpSinkOptions } from './gobgp-options.js';
import { errText } from './gobgp-connection.js';

export class GobgpVrfs {
  private known = new Set<string>();

  constructor(private readonly opts: Pick<GobgpSinkOptions, 'vrfs' | 'createVrfs'>) {}

  /** Names as last listed (for status, and the tables a RIB read walks). */
  names(): string[] {
    return [...this.known];
  }

  async refresh(client: GobgpClient): Promise<void> {
    this.known = new Set((await client.listVrfs()).map((v) => v.name));
  }

  /** undefined when the VRF exists (or was created), else why not. */
  async ensure(client: GobgpClient, name: string, log: Logger): Promise<string | undefined> {
    if (this.known.has(name)) return undefined;
    await this.refresh(client);
    if (this.known.has(name)) return undefined;
    const conf = this.opts.vrfs[name];
    if (!this.opts.createVrfs || !conf) {
      return `VRF "${name}" does not exist in gobgpd; define it in gobgpd's config, or list it under the gobgp sink's vrfs (rd, rt) with createVrfs: true`;
    }
    try {
      const imp = conf.importRt ?? conf.rt ?? [],
        exp = conf.exportRt ?? conf.rt ?? [];
      await client.addVrf({ name, rd: conf.rd, importRt: imp, exportRt: exp, id: conf.id ?? 0 });
      this.known.add(name);
      log.info({ vrf: name, rd: conf.rd }, 'created VRF in gobgpd');
      return undefined;
    } catch (e) {
      return `creating VRF "${name}" in gobgpd failed: ${errText(e)}`;
    }
  }
}
