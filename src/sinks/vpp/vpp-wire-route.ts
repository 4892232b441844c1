import { RtreflectError } from '../../util/errors.js';
import { addrToBytes, familyOf, type Family } from '../../util/ip.js';
import type { VppMessage } from './vpp-codec.js';

/**
 * How rtreflect's routes look to VPP, shared by the projection, the writer and the reader: the
 * fib_types.api values, the paths written for a route, their fingerprint text, and the keys.
 */

export const NO_IF = 0xffffffff;
// fib_types.api: vl_api_fib_path_type_t / vl_api_fib_path_nh_proto_t / address_family.
const PATH_NORMAL = 0,
  PATH_DROP = 2,
  PATH_ICMP_UNREACH = 5,
  PATH_ICMP_PROHIBIT = 6;
export const PATH_KIND: Record<number, WirePath['kind']> = {
  [PATH_NORMAL]: 'via',
  [PATH_DROP]: 'drop',
  [PATH_ICMP_UNREACH]: 'unreach',
  [PATH_ICMP_PROHIBIT]: 'prohibit',
};
export const KIND_TYPE: Record<WirePath['kind'], number> = { via: PATH_NORMAL, drop: PATH_DROP, unreach: PATH_ICMP_UNREACH, prohibit: PATH_ICMP_PROHIBIT };
export const NH_PROTO_IP4 = 0,
  NH_PROTO_IP6 = 1;
export const AF_IP4 = 0,
  AF_IP6 = 1;

/** What rtreflect writes for one route; the fingerprint is computed from this and from what VPP reports back. */
export interface WirePath {
  kind: 'via' | 'drop' | 'unreach' | 'prohibit';
  nh?: string;
  sw: number;
  weight: number;
  preference: number;
  /** The next hop parsed, when there is one (filled in for the paths rtreflect writes). */
  nhFamily?: Family;
  nhBytes?: Uint8Array;
}
export interface WireRoute {
  table: number;
  family: Family;
  prefix: string;
  paths: WirePath[];
}

export function viaText(nh: string | undefined, sw: number, weight: number, preference: number): string {
  return `via:${nh ?? ''}@${sw === NO_IF ? '' : sw}*${weight}/${preference}`;
}

function pathText(p: WirePath): string {
  return p.kind !== 'via' ? p.kind : viaText(p.nh, p.sw, p.weight, p.preference);
}

/**
 * Canonical text of what is written for a key: its paths, sorted. Equal text,
 * no write needed. Table and prefix are not in it: they are the key, and the
 * engine only compares fingerprints of the same key; so the text is one string
 * per next-hop set, shared by every route using it.
 */
export function pathsFingerprint(paths: WirePath[]): string {
  return paths.map(pathText).sort().join(',');
}

/**
 * A route's key in this sink: the prefix itself in table 0 (the route's own
 * string, so a full table of them costs no extra strings), `table|prefix` elsewhere.
 */
export function vppKey(table: number, prefix: string): string {
  return table === 0 ? prefix : `${table}|${prefix}`;
}

export function parseKey(key: string): { table: number; prefix: string; family: Family; addr: Uint8Array; len: number } {
  const bar = key.indexOf('|');
  const table = bar < 0 ? 0 : Number(key.slice(0, bar));
  const prefix = key.slice(bar + 1);
  const slash = prefix.lastIndexOf('/');
  const addrText = prefix.slice(0, slash);
  if (bar === 0 || !Number.isInteger(table) || slash < 0)
    throw new RtreflectError('ERR_VPP_KEY', `"${key}" is not a VPP sink key (table|prefix)`, { userFacing: false });
  return { table, prefix, family: familyOf(addrText), addr: addrToBytes(addrText), len: Number(prefix.slice(slash + 1)) };
}

export function addressUnion(family: Family, bytes: Uint8Array): VppMessage {
  return family === 4 ? { ip4: bytes } : { ip6: bytes };
}
