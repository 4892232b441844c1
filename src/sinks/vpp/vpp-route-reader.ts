import { bytesToAddr, bytesToPrefix, type Family } from '../../util/ip.js';
import type { VppClient } from './vpp-client.js';
import type { VppCodec, VppMessage } from './vpp-codec.js';
import { RouteDetailsReader, type DetailPath, type DetailRoute } from './vpp-route-details.js';
import { compiledOnce, type VppSinkContext } from './vpp-sink-context.js';
import { AF_IP6, NH_PROTO_IP6, NO_IF, PATH_KIND, pathsFingerprint, viaText, vppKey, type WirePath } from './vpp-wire-route.js';

const newDetailRoute = (): DetailRoute => ({ table: 0, af: 0, addrOffset: 0, len: 0, src: 0, nPaths: 0 });
const newDetailPath = (): DetailPath => ({ type: 0, proto: 0, sw: 0, weight: 0, preference: 0, nhOffset: 0 });

/** Holds what fromRawDetail() read, reused for every detail of a dump. */
interface RawDetailHolder {
  route: DetailRoute;
  path: DetailPath;
  fingerprint: string;
}

/**
 * Reads back the routes rtreflect owns in VPP: every table dumped, each route turned into the
 * key and fingerprint project() gives, so the engine can compare the two. Details are read in
 * place when the definitions allow it, decoded generically otherwise. An entry another FIB
 * source wins shows that source's paths, never ours: see ShadowedKeys.
 */
export class VppRouteReader {
  private detailsReaders = new Map<string, RouteDetailsReader | null>();

  constructor(private readonly ctx: VppSinkContext) {}

  /**
   * key → fingerprint of every route of ours (v2: of our FIB source, those another source wins
   * as we wrote them, when we know; v1: of the keys recorded as written).
   */
  async readOwned(c: VppClient, codec: VppCodec): Promise<Map<string, string>> {
    const ctx = this.ctx;
    const tables = await c.dump('ip_table_dump');
    const out = new Map<string, string>();
    const shadow = ctx.shadowed.beginRead();
    const take = (key: string, src: number, fingerprint: string): void => {
      if (ctx.mode === 'v1') {
        if (ctx.recorded.has(key)) out.set(key, fingerprint);
      } else if (src === ctx.srcId) {
        out.set(key, fingerprint);
      } else {
        const held = shadow.wonBySomeoneElse(key);
        if (held !== undefined) out.set(key, held);
      }
    };
    const perTable = tables.map(async (t) => {
      const tb = t.table as { table_id: number; is_ip6: boolean };
      const table = { table_id: tb.table_id, is_ip6: tb.is_ip6, name: '' };
      const [dumpName, detailName] = ctx.mode === 'v2' ? ['ip_route_v2_dump', 'ip_route_v2_details'] : ['ip_route_dump', 'ip_route_details'];
      // Unfiltered (src 0): filtered by our source, VPP lists only the entries it wins, and a key another source wins would read as missing.
      const fields = ctx.mode === 'v2' ? { src: 0, table } : { table };
      const reader = this.detailsReaderFor(detailName, codec);
      if (reader) {
        // Read in place: no message objects for a full table.
        const holder: RawDetailHolder = { route: newDetailRoute(), path: newDetailPath(), fingerprint: '' };
        await c.dumpRaw(
          dumpName,
          fields,
          (payload) => {
            const key = this.fromRawDetail(reader, payload, holder);
            take(key, holder.route.src, holder.fingerprint);
          },
          detailName,
        );
        return;
      }
      const details = await c.dump(dumpName, fields);
      for (const d of details) {
        const entry = this.fromDetails(d.route as VppMessage);
        take(entry.key, entry.src, entry.fingerprint);
      }
    });
    await Promise.all(perTable);
    const shadowed = ctx.shadowed.endRead(shadow);
    if (shadowed > 0) {
      ctx.logger.warn(
        { shadowed, fibSource: ctx.opts.fibSource },
        `${shadowed} route(s) of rtreflect's are won in VPP by another FIB source, whose paths VPP uses and shows; kept as written, not rewritten. For VPP to use rtreflect's, give fibSource.priority a lower number than the other source's`,
      );
    }
    return out;
  }

  private detailsReaderFor(name: string, codec: VppCodec): RouteDetailsReader | null {
    return compiledOnce(
      this.ctx,
      this.detailsReaders,
      name,
      () => new RouteDetailsReader(codec, name),
      'cannot compile the route reader for these VPP API definitions; decoding routes generically (slower)',
    );
  }

  /**
   * fromDetails() for a detail read in place: returns the key, and leaves the route's
   * fields and fingerprint in `h`. Same texts as fromDetails(), built from the bytes.
   */
  private fromRawDetail(reader: RouteDetailsReader, p: Buffer, h: RawDetailHolder): string {
    const d = h.route;
    reader.route(p, d);
    const family: Family = d.af === AF_IP6 ? 6 : 4;
    const prefix = bytesToPrefix(p, d.addrOffset, family === 4 ? 4 : 16, d.len);
    const key = vppKey(d.table, prefix);
    // Another source's paths: never compared.
    if (this.ctx.mode === 'v2' && d.src !== this.ctx.srcId) return key;
    const texts: string[] = [];
    const dp = h.path;
    for (let i = 0; i < d.nPaths; i++) {
      reader.path(p, i, dp);
      const kind = PATH_KIND[dp.type];
      if (!kind) {
        h.fingerprint = `unsupported-path-type-${dp.type}`;
        return key;
      }
      if (kind !== 'via') {
        texts.push(kind);
        continue;
      }
      const n = dp.proto === NH_PROTO_IP6 ? 16 : 4;
      let zero = true;
      for (let j = 0; j < n; j++)
        if (p[dp.nhOffset + j] !== 0) {
          zero = false;
          break;
        }
      texts.push(viaText(zero ? undefined : bytesToAddr(p, dp.nhOffset, n), dp.sw, dp.weight, dp.preference));
    }
    h.fingerprint = texts.length === 1 ? texts[0]! : texts.sort().join(',');
    return key;
  }

  /** Key, fingerprint and FIB source (0 when the message has none) of a route VPP reports, comparable with project() (the generic decoder's objects). */
  private fromDetails(r: VppMessage): { key: string; fingerprint: string; src: number } {
    const pfx = r.prefix as { address: { af: number; un: { ip4: Uint8Array; ip6: Uint8Array } }; len: number };
    const family: Family = pfx.address.af === AF_IP6 ? 6 : 4;
    const prefix = `${bytesToAddr(family === 4 ? pfx.address.un.ip4 : pfx.address.un.ip6)}/${pfx.len}`;
    const table = r.table_id as number;
    const key = vppKey(table, prefix);
    const src = (r.src as number | undefined) ?? 0;
    // Another source's paths: never compared.
    if (this.ctx.mode === 'v2' && src !== this.ctx.srcId) return { key, fingerprint: '', src };
    const paths: WirePath[] = [];
    for (const p of r.paths as VppMessage[]) {
      const kind = PATH_KIND[p.type as number];
      if (!kind) return { key, fingerprint: `unsupported-path-type-${String(p.type)}`, src };
      if (kind !== 'via') {
        paths.push({ kind, sw: NO_IF, weight: 1, preference: 0 });
        continue;
      }
      const nhU = (p.nh as { address: { ip4: Uint8Array; ip6: Uint8Array } }).address;
      const nhBytes = p.proto === NH_PROTO_IP6 ? nhU.ip6 : nhU.ip4;
      const zero = nhBytes.every((b) => b === 0);
      paths.push({
        kind,
        nh: zero ? undefined : bytesToAddr(nhBytes),
        sw: p.sw_if_index as number,
        weight: p.weight as number,
        preference: p.preference as number,
      });
    }
    return { key, fingerprint: pathsFingerprint(paths), src };
  }
}
