import { loadRtNames, resolveProtocol, resolveTable } from '../kernel/rt-names.js';
import type { NameResolver } from '../config/name-resolver.js';

/** Protocol and table names as this host's iproute2 files define them. */
export function resolverFor(): NameResolver {
  const names = loadRtNames();
  return {
    protocol: (text) => resolveProtocol(names, text),
    table: (text) => resolveTable(names, text),
  };
}
