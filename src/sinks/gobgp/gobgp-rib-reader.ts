/**
 * Reading back what the sink owns in gobgpd's RIB (ListPath, binary fields only): local paths
 * that carry the ownership mark, as key → fingerprint, handed over reply by reply.
 *
 * A read runs beside writes: it waits only until the streams open at its start are flushed.
 * gobgpd copies the table it lists inside its main loop, which also applies writes, and the
 * engine treats what a read reports of a key written meanwhile as possibly older.
 */
import { RtreflectError } from '../../util/errors.js';
import { FNV1A_OFFSET, fnv1aByte, fnv1aBytes } from '../../util/hash.js';
import { bytesToPrefix, formatPrefix } from '../../util/ip.js';
import { ATTR_MP_REACH_NLRI, decodeAttrs, decodePrefixNlri, type DecodedAttrs } from './bgp-wire.js';
import { visitListPathResponse, type PathView } from './list-path-decoder.js';
import { fingerprintFromRead, gobgpKey, hasMark, type OwnershipMark, type ReadPath } from './gobgp-paths.js';
import { errText, isConnectionError, type GobgpConnection } from './gobgp-connection.js';
import type { GobgpVrfs } from './gobgp-vrfs.js';
import type { GobgpWriter } from './gobgp-writer.js';

export class GobgpRibReader {
  constructor(
    private readonly name: string,
    private readonly mark: OwnershipMark,
    private readonly connection: GobgpConnection,
    private readonly vrfs: GobgpVrfs,
    private readonly writer: GobgpWriter,
  ) {}

  async readOwnedEach(each: (key: string, fingerprint: string) => void): Promise<void> {
    this.connection.requireUp();
    await this.writer.settleBeforeRead();
    const client = this.connection.requireUp();
    try {
      const attrSets = new AttributeSets(this.mark);
      // Same attribute set and identifier → same fingerprint (single-path keys, the common case).
      const fps = new Map<DecodedAttrs, Map<number, string>>();
      await this.vrfs.refresh(client);
      const tables: (string | undefined)[] = [undefined, ...this.vrfs.names()];
      for (const vrf of tables) {
        for (const fam of [4, 6] as const) {
          // A destination carries every path of its prefix: ours are grouped there, not across messages.
          // Per reply: the key, and our paths (the first one kept apart: most keys have one).
          let key: string | undefined;
          let first: ReadPath | undefined;
          let more: ReadPath[] | undefined;
          const onPath = (v: PathView): void => {
            // Local paths only: learned ones came from a peer.
            if (!v.local || v.nlriEnd <= v.nlriStart || !v.identifier) return;
            const set = attrSets.ofView(v);
            if (!set.marked) return;
            key ??= gobgpKey(vrf, nlriPrefixText(v.buf, v.nlriStart, v.nlriEnd, fam));
            const p = { id: v.identifier, attrs: set.attrs };
            if (first === undefined) first = p;
            else (more ??= [first]).push(p);
          };
          await client.listPathMessages(fam, vrf !== undefined ? { vrf } : {}, (msg) => {
            key = first = more = undefined;
            visitListPathResponse(msg, onPath);
            if (key === undefined || first === undefined) return;
            if (more !== undefined || vrf !== undefined) {
              each(key, fingerprintFromRead(vrf, more ?? [first]));
              return;
            }
            const { attrs, id } = first;
            let byId = fps.get(attrs);
            if (byId === undefined) fps.set(attrs, (byId = new Map()));
            let fp = byId.get(id);
            if (fp === undefined) byId.set(id, (fp = fingerprintFromRead(undefined, [first])));
            each(key, fp);
          });
        }
      }
    } catch (e) {
      if (isConnectionError(e)) this.connection.goDown(`ListPath failed: ${errText(e)}`);
      throw new RtreflectError('ERR_GOBGP_READ', `gobgp sink "${this.name}": reading gobgpd's RIB failed: ${errText(e)}`, { cause: e });
    }
  }
}

/**
 * The attribute sets of a RIB read back, decoded once each: a table's paths
 * share a handful. Looked up by a hash of the bytes where they lie in the reply
 * (then compared there), so a path costs no strings, copies or views.
 */
class AttributeSets {
  private readonly byHash = new Map<number, { sig: Buffer[]; attrs: DecodedAttrs; marked: boolean }[]>();
  private count = 0;

  constructor(private readonly mark: OwnershipMark) {}

  /**
   * The decoded set of a path; its MP_REACH_NLRI's NLRI (the prefix itself, different on
   * every IPv6 path) is left out of the comparison: a fingerprint reads only its next hop.
   */
  ofView(v: PathView): { attrs: DecodedAttrs; marked: boolean } {
    const buf = v.buf;
    let h = FNV1A_OFFSET;
    for (let a = 0; a < v.attrCount; a++) {
      const s = v.attrStart[a]!,
        e = v.attrEnd[a]!;
      const cut = mpReachCut(buf, s, e);
      if (cut < 0) {
        h = fnv1aBytes(buf, s, e, h);
      } else {
        // The bytes significant() keeps, hashed where they lie.
        h = fnv1aByte(h, buf[s]! & ~EXTENDED_LENGTH);
        h = fnv1aByte(h, buf[s + 1]!);
        h = fnv1aBytes(buf, s + headLen(buf, s), cut, h);
      }
      h = fnv1aByte(h, 0xff); // an attribute boundary
    }
    h >>>= 0;
    const list = this.byHash.get(h);
    if (list) for (const e of list) if (sameSignificant(e.sig, v)) return e;
    const raw: Buffer[] = [];
    for (let a = 0; a < v.attrCount; a++) raw.push(buf.subarray(v.attrStart[a], v.attrEnd[a]));
    const attrs = decodeAttrs(raw);
    const entry = { sig: raw.map((b) => Buffer.from(significant(b))), attrs, marked: hasMark(attrs, this.mark) };
    if (++this.count > 65_536) {
      this.byHash.clear();
      this.count = 1;
    }
    if (list && this.byHash.has(h)) list.push(entry);
    else this.byHash.set(h, [entry]);
    return entry;
  }
}

const EXTENDED_LENGTH = 0x10;

/** Bytes of an attribute's header at buf[s]: flags, type, and a length of one or two bytes. */
const headLen = (buf: Buffer, s: number): number => (buf[s]! & EXTENDED_LENGTH ? 4 : 3);

/**
 * For an MP_REACH_NLRI attribute at buf[s, e): where its next hop ends (what follows is
 * the NLRI); -1 for any other attribute, or one too short to tell (it then counts whole,
 * and decodeAttrs reports it).
 */
function mpReachCut(buf: Buffer, s: number, e: number): number {
  if (e - s < 3 || buf[s + 1] !== ATTR_MP_REACH_NLRI) return -1;
  const head = s + headLen(buf, s);
  if (e < head + 4) return -1;
  const nhEnd = head + 4 + buf[head + 3]!;
  return nhEnd > e ? -1 : nhEnd;
}

/** Stored significant parts (see significant) against a path's attributes as they lie in the reply. */
function sameSignificant(sig: Buffer[], v: PathView): boolean {
  if (sig.length !== v.attrCount) return false;
  const buf = v.buf;
  for (let a = 0; a < sig.length; a++) {
    const want = sig[a]!,
      s = v.attrStart[a]!,
      e = v.attrEnd[a]!;
    const cut = mpReachCut(buf, s, e);
    if (cut < 0) {
      if (want.length !== e - s || !sameBytes(want, 0, buf, s, e)) return false;
      continue;
    }
    const from = s + headLen(buf, s);
    if (want.length !== 2 + cut - from || want[0] !== (buf[s]! & ~EXTENDED_LENGTH) || want[1] !== buf[s + 1]) return false;
    if (!sameBytes(want, 2, buf, from, cut)) return false;
  }
  return true;
}

/** a[at..] against b[s, e), byte by byte: attributes are a few bytes long, shorter than a native call's overhead. */
function sameBytes(a: Buffer, at: number, b: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (a[at++] !== b[i]) return false;
  return true;
}

/** Scratch for significant(): one MP_REACH_NLRI head (flags, type, AFI/SAFI, next hop) at a time. */
const SIGNIFICANT = Buffer.alloc(2 + 4 + 255);

/**
 * The bytes of a path attribute that a fingerprint depends on: all of them, but
 * for MP_REACH_NLRI only flags, type, AFI/SAFI and the next hop (its length field
 * and its NLRI differ per prefix). The MP_REACH_NLRI view is only valid until the
 * next call. A malformed attribute counts whole; decodeAttrs reports it.
 */
function significant(b: Buffer): Buffer {
  const cut = mpReachCut(b, 0, b.length);
  if (cut < 0) return b;
  const head = headLen(b, 0);
  SIGNIFICANT[0] = b[0]! & ~EXTENDED_LENGTH; // extended length or not: the same attribute
  SIGNIFICANT[1] = b[1]!;
  b.copy(SIGNIFICANT, 2, head, cut);
  return SIGNIFICANT.subarray(0, 2 + cut - head);
}

/** Scratch for nlriPrefixText: the address bytes, zero past the prefix length. */
const NLRI_ADDR = new Uint8Array(16);

/** "addr/len" of the prefix NLRI at buf[s, e) (no add-path id), checked like decodePrefixNlri, without intermediate objects. */
function nlriPrefixText(buf: Buffer, s: number, e: number, fam: 4 | 6): string {
  const alen = fam === 4 ? 4 : 16;
  const len = buf[s]!;
  const nbytes = (len + 7) >> 3;
  if (len > alen * 8 || e - s < 1 + nbytes) return formatPrefix(decodePrefixNlri(buf.subarray(s, e), fam).prefix); // throws the precise error
  NLRI_ADDR.fill(0);
  for (let i = 0; i < nbytes; i++) NLRI_ADDR[i] = buf[s + 1 + i]!;
  return bytesToPrefix(NLRI_ADDR, 0, alen, len);
}
