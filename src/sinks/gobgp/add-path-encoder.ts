import type { ProtoShape } from './gobgp-protos.js';

/**
 * AddPathStreamRequest messages written straight to bytes. Going through
 * protobufjs (an object per path, fromObject, then the writer) costs more per
 * route than everything else on the way to gobgpd; here a path is one buffer
 * whose attribute bytes are mostly shared. Field numbers and enum values are
 * read from the installed GoBGP's .proto files, so the encoder speaks the
 * daemon's schema (GoBGP 4.x numbers TableType anew: GLOBAL is 1 there, 0 in
 * 3.x) and refuses a schema of another shape at start-up.
 *
 * AddPathStreamRequest { TableType table_type; string vrf_id; repeated Path paths }
 * Path { bool is_withdraw; Family family; uint32 identifier; bytes nlri_binary; repeated bytes pattrs_binary }
 * Family { Afi afi; Safi safi }
 */
export interface AddPathWireSchema {
  request: { tableType: number; vrfId: number; paths: number };
  path: { isWithdraw: number; family: number; identifier: number; nlri: number; pattrs: number };
  family: { afi: number; safi: number };
  tableGlobal: number;
  tableVrf: number;
  afiIp: number;
  afiIp6: number;
  safiUnicast: number;
}

/** Reads the field numbers and enum values rtreflect needs from a loaded GoBGP API. */
export function addPathWireSchema(s: ProtoShape): AddPathWireSchema {
  const pathType = `${s.pkg}.Path`,
    familyType = `${s.pkg}.Family`;
  const request = {
    tableType: s.field('AddPathStreamRequest', 'table_type', 'TYPE_ENUM'),
    vrfId: s.field('AddPathStreamRequest', 'vrf_id', 'TYPE_STRING'),
    paths: s.field('AddPathStreamRequest', 'paths', 'TYPE_MESSAGE', 'LABEL_REPEATED', pathType),
  };
  const path = {
    isWithdraw: s.field('Path', 'is_withdraw', 'TYPE_BOOL'),
    family: s.field('Path', 'family', 'TYPE_MESSAGE', 'LABEL_OPTIONAL', familyType),
    identifier: s.field('Path', 'identifier', 'TYPE_UINT32'),
    nlri: s.field('Path', 'nlri_binary', 'TYPE_BYTES'),
    pattrs: s.field('Path', 'pattrs_binary', 'TYPE_BYTES', 'LABEL_REPEATED'),
  };
  const family = { afi: s.field('Family', 'afi', 'TYPE_ENUM'), safi: s.field('Family', 'safi', 'TYPE_ENUM') };
  const tableType = s.enumValues('TableType');
  const afi = s.nestedEnumValues('Family', 'Afi');
  const safi = s.nestedEnumValues('Family', 'Safi');
  return {
    request,
    path,
    family,
    tableGlobal: s.enumValue('TableType', tableType, 'GLOBAL', 'TABLE_TYPE_GLOBAL').number,
    tableVrf: s.enumValue('TableType', tableType, 'VRF', 'TABLE_TYPE_VRF').number,
    afiIp: s.enumValue('Family.Afi', afi, 'AFI_IP').number,
    afiIp6: s.enumValue('Family.Afi', afi, 'AFI_IP6').number,
    safiUnicast: s.enumValue('Family.Safi', safi, 'SAFI_UNICAST').number,
  };
}

/** A Path message but its NLRI field's length and bytes (AddPathEncoder.template). */
export interface PathTemplate {
  readonly head: Uint8Array;
  readonly tail: Uint8Array;
}

export const varintLen = (v: number): number => (v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5);

export function putVarint(buf: Uint8Array, at: number, v: number): number {
  let x = v >>> 0;
  while (x > 0x7f) {
    buf[at++] = (x & 0x7f) | 0x80;
    x >>>= 7;
  }
  buf[at++] = x;
  return at;
}

/** Bytes of a length-delimited field: tag, length, content. */
const delimitedLen = (tag: number, n: number): number => varintLen(tag) + varintLen(n) + n;

export class AddPathEncoder {
  private readonly familyBytes: Record<4 | 6, Uint8Array>;
  private readonly tags: { withdraw: number; family: number; id: number; nlri: number; pattrs: number; table: number; vrf: number; paths: number };

  constructor(readonly schema: AddPathWireSchema) {
    const s = schema;
    const fam = (afi: number): Uint8Array => {
      const out = new Uint8Array(varintLen(s.family.afi << 3) + varintLen(afi) + varintLen(s.family.safi << 3) + varintLen(s.safiUnicast));
      let at = putVarint(out, 0, s.family.afi << 3);
      at = putVarint(out, at, afi);
      at = putVarint(out, at, s.family.safi << 3);
      putVarint(out, at, s.safiUnicast);
      return out;
    };
    this.familyBytes = { 4: fam(s.afiIp), 6: fam(s.afiIp6) };
    this.tags = {
      withdraw: s.path.isWithdraw << 3,
      family: (s.path.family << 3) | 2,
      id: s.path.identifier << 3,
      nlri: (s.path.nlri << 3) | 2,
      pattrs: (s.path.pattrs << 3) | 2,
      table: s.request.tableType << 3,
      vrf: (s.request.vrfId << 3) | 2,
      paths: (s.request.paths << 3) | 2,
    };
  }

  /** Bytes of one Path message (see writePath). */
  pathLen(family: 4 | 6, nlriLen: number, attrs: readonly Uint8Array[], identifier: number, withdraw = false): number {
    const t = this.tags;
    let n = delimitedLen(t.family, this.familyBytes[family].length) + delimitedLen(t.nlri, nlriLen);
    if (identifier !== 0) n += varintLen(t.id) + varintLen(identifier);
    if (withdraw) n += varintLen(t.withdraw) + 1;
    for (const a of attrs) n += delimitedLen(t.pattrs, a.length);
    return n;
  }

  /**
   * Writes one Path message at out[at..] and returns where it ends. `attrs` are BGP path
   * attributes in wire form; they and the first `nlriLen` bytes of `nlri` are copied, so
   * all may be shared or reused. Fields go in field-number order, as protobuf writers do.
   */
  writePath(
    out: Uint8Array,
    at: number,
    family: 4 | 6,
    nlri: Uint8Array,
    nlriLen: number,
    attrs: readonly Uint8Array[],
    identifier: number,
    withdraw = false,
  ): number {
    const t = this.tags;
    const fam = this.familyBytes[family];
    if (withdraw) {
      at = putVarint(out, at, t.withdraw);
      out[at++] = 1;
    }
    at = putVarint(out, at, t.family);
    at = putVarint(out, at, fam.length);
    out.set(fam, at);
    at += fam.length;
    if (identifier !== 0) {
      at = putVarint(out, at, t.id);
      at = putVarint(out, at, identifier);
    }
    at = putVarint(out, at, t.nlri);
    at = putVarint(out, at, nlriLen);
    for (let i = 0; i < nlriLen; i++) out[at + i] = nlri[i]!;
    at += nlriLen;
    for (const a of attrs) {
      at = putVarint(out, at, t.pattrs);
      at = putVarint(out, at, a.length);
      out.set(a, at);
      at += a.length;
    }
    return at;
  }

  /** One Path message as its own buffer (see writePath). */
  path(family: 4 | 6, nlri: Uint8Array, attrs: readonly Uint8Array[], identifier: number, withdraw = false, nlriLen = nlri.length): Buffer {
    const out = Buffer.allocUnsafe(this.pathLen(family, nlriLen, attrs, identifier, withdraw));
    this.writePath(out, 0, family, nlri, nlriLen, attrs, identifier, withdraw);
    return out;
  }

  /**
   * A Path message cut around its NLRI: the routes of one next hop differ in nothing
   * else, so their paths are this head, the NLRI's length and bytes, and this tail.
   */
  template(family: 4 | 6, attrs: readonly Uint8Array[], identifier: number): PathTemplate {
    const full = this.path(family, new Uint8Array(0), attrs, identifier);
    // The NLRI field is the tag and a zero length just before the first attribute (or the end).
    let cut = full.length;
    for (const a of attrs) cut -= delimitedLen(this.tags.pattrs, a.length);
    const headEnd = cut - 1;
    return { head: Uint8Array.from(full.subarray(0, headEnd)), tail: Uint8Array.from(full.subarray(cut)) };
  }

  /** The fields of an AddPathStreamRequest that come before its paths. */
  requestHead(vrf: string | undefined): Uint8Array {
    const t = this.tags;
    const table = vrf === undefined ? this.schema.tableGlobal : this.schema.tableVrf;
    const vrfBytes = vrf ? Buffer.from(vrf, 'utf8') : undefined;
    const out = new Uint8Array((table !== 0 ? varintLen(t.table) + varintLen(table) : 0) + (vrfBytes ? delimitedLen(t.vrf, vrfBytes.length) : 0));
    let at = 0;
    if (table !== 0) {
      at = putVarint(out, at, t.table);
      at = putVarint(out, at, table);
    }
    if (vrfBytes) {
      at = putVarint(out, at, t.vrf);
      at = putVarint(out, at, vrfBytes.length);
      out.set(vrfBytes, at);
    }
    return out;
  }

  get pathsTag(): number {
    return this.tags.paths;
  }

  /** One AddPathStreamRequest carrying `paths` (from path()), into the global RIB or a VRF. */
  request(vrf: string | undefined, paths: readonly Uint8Array[], from = 0, to = paths.length): Buffer {
    const head = this.requestHead(vrf);
    const tag = this.tags.paths;
    let n = head.length;
    for (let i = from; i < to; i++) n += delimitedLen(tag, paths[i]!.length);
    const out = Buffer.allocUnsafe(n);
    out.set(head, 0);
    let at = head.length;
    for (let i = from; i < to; i++) {
      const p = paths[i]!;
      at = putVarint(out, at, tag);
      at = putVarint(out, at, p.length);
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}
