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
 * place when the definitions allow it, decoded generically otherwise.
 */
export class VppRouteReader {
  private detailsReaders = new Map<string, RouteDetailsReader | null>();

  constructor(private readonly ctx: VppSinkContext) {}

  /** key → fingerprint of every route of ours (v2: of our FIB source; v1: of the keys recorded as written). */
  async readOwned(c: VppClient, codec: VppCodec): Promise<Map<string, string>> {
    const ctx = this.ctx;
    const tables = await c.dump('ip_table_dump');
    const out = new Map<string, string>();
    const perTable = tables.map(async (t) => {
      const tb = t.table as { table_id: number; is_ip6: boolean };
      const table = { table_id: tb.table_id, is_ip6: tb.is_ip6, name: '' };
      const [dumpName, detailName] = ctx.mode === 'v2' ? ['ip_route_v2_dump', 'ip_route_v2_details'] : ['ip_route_dump', 'ip_route_details'];
      const fields = ctx.mode === 'v2' ? { src: ctx.srcId, table } : { table };
      const reader = this.detailsReaderFor(detailName, codec);
      if (reader) {
        // Read in place: no message objects for a full table.
        const holder: RawDetailHolder = { route: newDetailRoute(), path: newDetailPath(), fingerprint: '' };
        await c.dumpRaw(
          dumpName,
          fields,
          (payload) => {
            const key = this.fromRawDetail(reader, payload, holder);
            if (ctx.mode === 'v1' && !ctx.recorded.has(key)) return;
            out.set(key, holder.fingerprint);
          },
          detailName,
        );
        return;
      }
      const details = await c.dump(dumpName, fields);
      for (const d of details) {
        const entry = this.fromDetails(d.route as VppMessage);
        if (!entry) continue;
        if (ctx.mode === 'v1' && !ctx.recorded.has(entry.key)) continue;
        out.set(entry.key, entry.fingerprint);
      }
    });
    await Promise.all(perTable);
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
   * fromDetails() for a detail read in place: returns the key, and leaves the
   * fingerprint in `h`. Same texts as fromDetails(), built from the bytes.
   */
  private fromRawDetail(reader: RouteDetailsReader, p: Buffer, h: RawDetailHolder): string {
    const d = h.route;
    reader.route(p, d);
    const family: Family = d.af === AF_IP6 ? 6 : 4;
    const prefix = bytesToPrefix(p, d.addrOffset, family === 4 ? 4 : 16, d.len);
    const key = vppKey(d.table, prefix);
    if (this.ctx.mode === 'v2' && d.src !== this.ctx.srcId) {
      h.fingerprint = `shadowed-by-source-${d.src}`;
      return key;
    }
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

  /** Key and fingerprint of a route VPP reports, comparable with project() (the generic decoder's objects). */
  private fromDetails(r: VppMessage): { key: string; fingerprint: string } | undefined {
    const pfx = r.prefix as { address: { af: number; un: { ip4: Uint8Array; ip6: Uint8Array } }; len: number };
    const family: Family = pfx.address.af === AF_IP6 ? 6 : 4;
    const prefix = `${bytesToAddr(family === 4 ? pfx.address.un.ip4 : pfx.address.un.ip6)}/${pfx.len}`;
    const table = r.table_id as number;
    const key = vppKey(table, prefix);
    // Another source wins this prefix: VPP shows its paths, not ours. Mark it so the engine rewrites ours (idempotent).
    if (this.ctx.mode === 'v2' && r.src !== this.ctx.srcId) return { key, fingerprint: `shadowed-by-source-${String(r.src)}` };
    const paths: WirePath[] = [];
    for (const p of r.paths as VppMessage[]) {
      const kind = PATH_KIND[p.type as number];
      if (!kind) return { key, fingerprint: `unsupported-path-type-${String(p.type)}` };
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
    return { key, fingerprint: pathsFingerprint(paths) };
  }
}
