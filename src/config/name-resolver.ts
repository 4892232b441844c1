/**
 * Protocol and table names as the config uses them ("bird", "main"). The real
 * resolver reads /etc/iproute2 (src/kernel/rt-names.ts); this interface lets the
 * config be parsed without it, and `builtinNames` knows the standard names.
 */
export interface NameResolver {
  /** Number for a protocol name or number text; throws an Error naming the valid choices when unknown. */
  protocol(text: string): number;
  /** Number for a table name or number text; throws likewise. */
  table(text: string): number;
}

/** iproute2's stock rt_protos. */
const PROTOCOLS: Record<string, number> = {
  unspec: 0,
  redirect: 1,
  kernel: 2,
  boot: 3,
  static: 4,
  gated: 8,
  ra: 9,
  mrt: 10,
  zebra: 11,
  bird: 12,
  dnrouted: 13,
  xorp: 14,
  ntk: 15,
  dhcp: 16,
  keepalived: 18,
  babel: 42,
  openr: 99,
  bgp: 186,
  isis: 187,
  ospf: 188,
  rip: 189,
  eigrp: 192,
};
/** iproute2's stock rt_tables. */
const TABLES: Record<string, number> = { unspec: 0, default: 253, main: 254, local: 255 };

function lookup(kind: string, map: Record<string, number>, max: number, text: string): number {
  const t = text.trim();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n <= max) return n;
    throw new Error(`${kind} number ${t} is out of range 0..${max}`);
  }
  const n = map[t];
  if (n === undefined) throw new Error(`unknown ${kind} "${t}"; known names: ${Object.keys(map).join(', ')} (or a number 0..${max})`);
  return n;
}

/** Standard names only; used when no resolver reading /etc/iproute2 is given. */
export const builtinNames: NameResolver = {
  protocol: (text) => lookup('protocol', PROTOCOLS, 255, text),
  table: (text) => lookup('table', TABLES, 0xffffffff, text),
};

/** Known names, for "did you mean" suggestions (only the built-in ones). */
export const builtinProtocolNames = Object.keys(PROTOCOLS);
export const builtinTableNames = Object.keys(TABLES);
