import { loadConfig } from '../config/load-config.js';
import { HandlerChain } from '../handlers/handler-chain.js';
import { dirname, resolve } from 'node:path';
import { silentLogger } from '../util/logger.js';
import { resolverFor } from '../daemon/names.js';

/** Validates the file and builds (without starting) every handler, as `run` would. */
export async function checkConfigCommand(o: { config: string }): Promise<void> {
  const cfg = await loadConfig(o.config, resolverFor());
  const chain = await HandlerChain.build(cfg.handlers, { logger: silentLogger(), reevaluate: () => undefined, baseDir: dirname(resolve(o.config)) });
  await chain.close();
  const sinks = cfg.sinks.map((s: { type: string; name?: string }) => `${s.name ?? s.type} (${s.type})`).join(', ');
  process.stdout.write(`${o.config}: OK — ${cfg.handlers.length} handler(s); sinks: ${sinks || 'none'}\n`);
}
