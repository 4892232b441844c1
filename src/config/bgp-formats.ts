/** BGP value formats the config accepts: communities, large communities, route distinguishers and targets. */
import { z } from 'zod';
import { isIPv4 } from 'node:net';

/** RFC 1997 and later well-known communities, by the names operators use. */
export const WELL_KNOWN_COMMUNITIES: Record<string, string> = {
  'graceful-shutdown': '65535:0',
  'accept-own': '65535:1',
  'llgr-stale': '65535:6',
  'no-llgr': '65535:7',
  blackhole: '65535:666',
  'no-export': '65535:65281',
  'no-advertise': '65535:65282',
  'no-export-subconfed': '65535:65283',
  'no-peer': '65535:65284',
};

const U16 = 0xffff,
  U32 = 0xffffffff;

function num(text: string, max: number): number | undefined {
  if (!/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

/** "asn:value" (16 bits each) or a well-known name → canonical "asn:value"; throws with the fix. */
export function parseCommunity(text: string): string {
  const t = text.trim();
  const known = WELL_KNOWN_COMMUNITIES[t.toLowerCase()];
  if (known) return known;
  const parts = t.split(':');
  const a = parts.length === 2 ? num(parts[0]!, U16) : undefined;
  const b = parts.length === 2 ? num(parts[1]!, U16) : undefined;
  if (a === undefined || b === undefined) {
    throw new Error(`"${text}" is not a community: expected "asn:value" with each part 0..65535, or one of ${Object.keys(WELL_KNOWN_COMMUNITIES).join(', ')}`);
  }
  return `${a}:${b}`;
}

/** "global:local1:local2" (32 bits each) → canonical text; throws with the fix. */
export function parseLargeCommunity(text: string): string {
  const parts = text.trim().split(':');
  const ns = parts.map((p) => num(p, U32));
  if (parts.length !== 3 || ns.some((n) => n === undefined)) {
    throw new Error(`"${text}" is not a large community: expected "global:local1:local2" with each part 0..4294967295`);
  }
  return ns.join(':');
}

/**
 * Route distinguisher / route target: "asn:nn" (2-byte asn with 4-byte nn, or
 * 4-byte asn with 2-byte nn) or "a.b.c.d:nn" (2-byte nn).
 */
export function parseRouteDistinguisher(text: string, what = 'route distinguisher'): string {
  const t = text.trim();
  const i = t.lastIndexOf(':');
  const admin = t.slice(0, i),
    assigned = t.slice(i + 1);
  const fail = () =>
    new Error(
      `"${text}" is not a ${what}: expected "asn:nn" (asn 0..65535 with nn 0..4294967295, or asn up to 4294967295 with nn 0..65535) or "a.b.c.d:nn" (nn 0..65535)`,
    );
  if (i <= 0) throw fail();
  if (isIPv4(admin)) {
    const n = num(assigned, U16);
    if (n === undefined) throw fail();
    return `${admin}:${n}`;
  }
  const a = num(admin, U32),
    n = num(assigned, U32);
  if (a === undefined || n === undefined || (a > U16 && n > U16)) throw fail();
  return `${a}:${n}`;
}

function wrap(parse: (t: string) => string) {
  return z.string().transform((v, ctx) => {
    try {
      return parse(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  });
}
export const communitySchema = () => wrap(parseCommunity);
export const largeCommunitySchema = () => wrap(parseLargeCommunity);
export const routeDistinguisherSchema = () => wrap((t) => parseRouteDistinguisher(t));
export const routeTargetSchema = () => wrap((t) => parseRouteDistinguisher(t, 'route target'));
