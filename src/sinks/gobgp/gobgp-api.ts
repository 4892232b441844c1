/**
 * GoBGP's gRPC API, loaded at run time from the .proto files of the installed
 * GoBGP (so the wire schema matches the daemon), and a small promise client.
 * Fields are snake_case (keepCase): a camelCase field would be dropped silently.
 * (About 450 lines: one method per RPC the sink uses, each spelled as the loaded API spells it.)
 */
import * as grpc from '@grpc/grpc-js';
import { RtreflectError } from '../../util/errors.js';
import { checkListPathSchema } from './list-path-decoder.js';
import { AddPathEncoder, addPathWireSchema } from './add-path-encoder.js';
import { grpcServerStream } from './grpc-raw-stream.js';
import { DEFAULT_PROTO_DIR, ProtoShape, gobgpDialect, protoShapeError, readGobgpProtos, type GobgpDialect } from './gobgp-protos.js';

export { DEFAULT_PROTO_DIR } from './gobgp-protos.js';

export type ApiFamily = { afi: 'AFI_IP' | 'AFI_IP6'; safi: 'SAFI_UNICAST' };
export const FAMILY_IPV4: ApiFamily = { afi: 'AFI_IP', safi: 'SAFI_UNICAST' };
export const FAMILY_IPV6: ApiFamily = { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' };
export function apiFamily(f: 4 | 6): ApiFamily {
  return f === 4 ? FAMILY_IPV4 : FAMILY_IPV6;
}

/** A path as we send it (binary fields only). */
export interface ApiPathIn {
  family: ApiFamily;
  nlri_binary: Uint8Array;
  pattrs_binary: Uint8Array[];
  identifier: number;
  is_withdraw?: boolean;
}

export interface LoadedApi {
  ctor: grpc.ServiceClientConstructor;
  encoder: AddPathEncoder;
  dialect: GobgpDialect;
  /** The protobuf package ("apipb" in GoBGP 3.x, "api" in 4.x) and how errors name this API. */
  pkg: string;
  label: string;
}
const cache = new Map<string, LoadedApi>();

/** GoBGP's service constructor for the protos in `protoDir`. */
export function loadGobgpService(protoDir = DEFAULT_PROTO_DIR): grpc.ServiceClientConstructor {
  return loadGobgpApi(protoDir).ctor;
}

/**
 * The service, an AddPathStream encoder and the spelling of requests, all from the
 * protos in `protoDir`; an API that cannot carry what rtreflect writes and reads
 * is refused here, naming the directory, the API and what differs.
 */
export function loadGobgpApi(protoDir = DEFAULT_PROTO_DIR): LoadedApi {
  const hit = cache.get(protoDir);
  if (hit) return hit;
  const protos = readGobgpProtos(protoDir);
  const shape = new ProtoShape(protos.def, protos.pkg, (what) => {
    throw protoShapeError(protoDir, protos.label, what);
  });
  const encoder = new AddPathEncoder(addPathWireSchema(shape));
  checkListPathSchema(shape);
  const dialect = gobgpDialect(shape);
  let ctor: unknown = grpc.loadPackageDefinition(protos.def);
  for (const part of protos.service.split('.')) ctor = (ctor as Record<string, unknown> | undefined)?.[part];
  if (typeof ctor !== 'function') throw protoShapeError(protoDir, protos.label, `service ${protos.service} cannot be loaded`);
  const api = { ctor: ctor as grpc.ServiceClientConstructor, encoder, dialect, pkg: protos.pkg, label: protos.label };
  cache.set(protoDir, api);
  return api;
}

/** A ListPathRequest for one family of the global RIB or a VRF, binary fields only, spelt as the loaded API spells it. */
export function listPathRequest(d: GobgpDialect, family: 4 | 6, opts: { vrf?: string; prefixes?: string[] } = {}): Record<string, unknown> {
  return {
    table_type: opts.vrf !== undefined ? d.tableVrf : d.tableGlobal,
    name: opts.vrf ?? '',
    family: apiFamily(family),
    ...(opts.prefixes?.length ? { prefixes: opts.prefixes.map((prefix) => ({ prefix, type: d.lookupExact })) } : {}),
    enable_only_binary: true,
  };
}

/** "127.0.0.1:50051", "[::1]:50051", "unix:/run/gobgpd.sock" or "unix:///run/gobgpd.sock" → a grpc-js target. */
export function grpcTarget(address: string): string {
  if (address.startsWith('unix:')) return address;
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(address)) {
    throw new RtreflectError('ERR_GOBGP_ADDRESS', `gobgp sink address "${address}" is not host:port or unix:/path`);
  }
  return address;
}

type Unary = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: any) => void) => grpc.ClientUnaryCall;

export interface GobgpClientOptions {
  protoDir?: string;
  /** per-call deadline for unary calls */ callTimeoutMs?: number;
}

export class GobgpClient {
  readonly address: string;
  private readonly client: grpc.Client & Record<string, any>;
  private readonly callTimeoutMs: number;
  /** Writes AddPathStream requests as bytes, in the schema of the loaded protos. */
  readonly encoder: AddPathEncoder;
  private readonly api: LoadedApi;

  constructor(address: string, opts: GobgpClientOptions = {}) {
    this.address = address;
    const api = (this.api = loadGobgpApi(opts.protoDir));
    const Ctor = api.ctor;
    this.encoder = api.encoder;
    this.client = new Ctor(grpcTarget(address), grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
      'grpc.max_send_message_length': 256 * 1024 * 1024,
      'grpc.enable_retries': 0,
    }) as grpc.Client & Record<string, any>;
    this.callTimeoutMs = opts.callTimeoutMs ?? 30_000;
  }

  get channel(): grpc.Channel {
    return this.client.getChannel() as grpc.Channel;
  }

  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.waitForReady(Date.now() + timeoutMs, (err?: Error) => (err ? reject(err) : resolve()));
    });
  }

  private unary<T = any>(method: string, req: unknown, timeoutMs = this.callTimeoutMs): Promise<T> {
    return new Promise((resolve, reject) => {
      (this.client[method] as Unary).call(this.client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
        err ? reject(err) : resolve(res as T),
      );
    });
  }

  /** The loaded API's spelling of requests (table types, lookups). */
  get dialect(): GobgpDialect {
    return this.api.dialect;
  }

  /**
   * A server-streaming call, each reply as protobufjs makes it. The daemon reads the RIB as raw
   * bytes instead (listPathMessages); tests and benches read it this way (test/helpers).
   */
  serverStream<T = any>(method: string, req: unknown, onItem: (item: T) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const call = this.client[method](req) as grpc.ClientReadableStream<T>;
      let done = false;
      call.on('data', (d: T) => {
        try {
          onItem(d);
        } catch (e) {
          done = true;
          call.cancel();
          reject(e);
        }
      });
      call.on('error', (e) => {
        if (!done) {
          done = true;
          reject(e);
        }
      });
      call.on('end', () => {
        if (!done) {
          done = true;
          resolve();
        }
      });
    });
  }

  getBgp(): Promise<{ global?: { asn?: number; router_id?: string; listen_port?: number } }> {
    return this.unary('GetBgp', {});
  }
  startBgp(global: Record<string, unknown>): Promise<void> {
    return this.unary('StartBgp', { global });
  }

  /**
   * Paths of one family, binary fields only (`vrf`: a VRF's table instead of the global RIB), each
   * ListPathResponse handed over as its bytes as it arrives: the replies come over a bare HTTP/2
   * stream (grpc-raw-stream.ts), so a full table is neither converted to objects by protobufjs
   * nor held all at once. list-path-decoder.ts reads them.
   */
  listPathMessages(family: 4 | 6, opts: { vrf?: string }, onMessage: (msg: Buffer) => void): Promise<void> {
    const def = this.method('ListPath');
    const req = def.requestSerialize(listPathRequest(this.api.dialect, family, { vrf: opts.vrf }));
    return grpcServerStream(this.address, def.path, req, onMessage);
  }

  /** A method's definition from the loaded service: its path and (de)serializers, for calls made on raw bytes. */
  private method(name: string): { path: string; requestSerialize: (v: unknown) => Buffer; responseDeserialize: (b: Buffer) => unknown } {
    return (this.client.constructor as unknown as { service: Record<string, ReturnType<GobgpClient['method']>> }).service[name]!;
  }

  /** A client-streaming call whose requests protobufjs encodes (tests and benches; the daemon writes bytes). */
  clientStream<T>(method: string, callback: (err: grpc.ServiceError | null) => void): grpc.ClientWritableStream<T> {
    return this.client[method](callback) as grpc.ClientWritableStream<T>;
  }

  /** The loaded API's name of a table type (3.x "GLOBAL", 4.x "TABLE_TYPE_GLOBAL"); unset means the global RIB. */
  tableType(t: 'GLOBAL' | 'VRF' | undefined): string {
    return t === 'VRF' ? this.api.dialect.tableVrf : this.api.dialect.tableGlobal;
  }

  /** A client-streaming AddPathStream call whose requests are already bytes (AddPathEncoder.request). */
  private rawAddPathStream(callback: (err: grpc.ServiceError | null) => void): grpc.ClientWritableStream<Buffer> {
    const def = this.method('AddPathStream');
    return this.client.makeClientStreamRequest(
      def.path,
      (b: Buffer) => b,
      def.responseDeserialize,
      (err: grpc.ServiceError | null) => callback(err),
    ) as grpc.ClientWritableStream<Buffer>;
  }

  /** Streams already-encoded requests, honouring back-pressure; resolves when gobgpd acknowledged the whole stream. */
  addPathStreamBytes(requests: Iterable<Buffer>): Promise<void> {
    return streamAll((done) => this.rawAddPathStream(done), requests);
  }

  /**
   * An AddPathStream kept open across batches, fed with encoded requests:
   * write() resolves as soon as the transport takes the message (no round trip
   * per batch), end() closes it and resolves once gobgpd has processed
   * everything written, or rejects with the stream's error (gobgpd ends the
   * stream at the first path it refuses; what it took before stays applied).
   * `done` settles the same way, and also when gobgpd ends the stream before end().
   */
  openAddPathStream(): { write(req: Buffer): Promise<void>; end(): Promise<void>; readonly failed: Error | undefined; readonly done: Promise<void> } {
    let failed: Error | undefined;
    let resolveDone!: () => void, rejectDone!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolveDone = res;
      rejectDone = rej;
    });
    done.catch(() => undefined);
    const call = this.rawAddPathStream((err) => {
      if (err) {
        failed = err;
        rejectDone(err);
      } else resolveDone();
    });
    call.on('error', () => {
      /* reported through the callback */
    });
    return {
      get failed() {
        return failed;
      },
      done,
      write(req) {
        if (failed) return Promise.reject(failed);
        if (call.write(req)) return Promise.resolve();
        return new Promise((res, rej) => {
          call.once('drain', () => res());
          done.catch(rej);
        });
      },
      end() {
        call.end();
        return done;
      },
    };
  }

  addPath(req: { table_type?: 'GLOBAL' | 'VRF'; vrf_id?: string; path: ApiPathIn }): Promise<{ uuid?: Buffer }> {
    return this.unary('AddPath', { ...req, table_type: this.tableType(req.table_type) });
  }

  /**
   * Deletes one path. A DeletePath naming neither a path nor a uuid makes gobgpd
   * delete EVERY locally injected path (other injectors' too): refused here.
   */
  deletePath(req: { table_type?: 'GLOBAL' | 'VRF'; vrf_id?: string; family?: ApiFamily; path?: ApiPathIn; uuid?: Uint8Array }): Promise<void> {
    assertDeleteNamesPath(req);
    return this.unary('DeletePath', { ...req, table_type: this.tableType(req.table_type) });
  }

  /** Creates a VRF; route distinguisher and targets as text ("65000:1", "192.0.2.1:1"). */
  addVrf(vrf: VrfSpec): Promise<void> {
    return this.unary('AddVrf', { vrf: vrfMessage(this.api, vrf) });
  }
  async listVrfs(): Promise<{ name: string; id?: number }[]> {
    const out: { name: string; id?: number }[] = [];
    await this.serverStream<{ vrf?: { name: string; id?: number } }>('ListVrf', {}, (r) => {
      if (r.vrf) out.push(r.vrf);
    });
    return out;
  }
  addPeer(peer: Record<string, unknown>): Promise<void> {
    return this.unary('AddPeer', { peer });
  }
  async listPeers(): Promise<any[]> {
    const out: any[] = [];
    await this.serverStream<{ peer?: unknown }>('ListPeer', {}, (r) => {
      if (r.peer) out.push(r.peer);
    });
    return out;
  }

  close(): void {
    this.client.close();
  }
}

/** Writes every request into a client stream opened by `open`, honouring back-pressure, then ends it; resolves with the call's verdict. */
export function streamAll<T>(open: (done: (err: grpc.ServiceError | null) => void) => grpc.ClientWritableStream<T>, requests: Iterable<T>): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const call = open((err) => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else resolve();
    });
    call.on('error', () => {
      /* reported through the callback */
    });
    const it = requests[Symbol.iterator]();
    const pump = (): void => {
      for (;;) {
        if (settled) return;
        const n = it.next();
        if (n.done) {
          call.end();
          return;
        }
        if (!call.write(n.value)) {
          call.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}

export function assertDeleteNamesPath(req: { path?: ApiPathIn; uuid?: Uint8Array }): void {
  const hasPath = !!req.path && req.path.nlri_binary?.length > 0;
  const hasUuid = !!req.uuid && req.uuid.length > 0;
  if (!hasPath && !hasUuid) {
    throw new RtreflectError(
      'ERR_GOBGP_DELETE_ALL',
      "refusing a GoBGP DeletePath that names neither a path nor a uuid: gobgpd would delete every locally injected path, including other injectors'",
      { userFacing: false },
    );
  }
}

export interface VrfSpec {
  name: string;
  rd: string;
  importRt: string[];
  exportRt: string[];
  id: number;
}

/**
 * A Vrf message as the loaded API spells it: GoBGP 3.x packs the route distinguisher
 * and targets in google.protobuf.Any, 4.x has typed oneof messages for them.
 */
export function vrfMessage(api: Pick<LoadedApi, 'dialect' | 'pkg'>, v: VrfSpec): Record<string, unknown> {
  const rd = parseRd(v.rd),
    imp = v.importRt.map(parseRt),
    exp = v.exportRt.map(parseRt);
  if (api.dialect.vrfTargets === 'any') {
    const any = (x: { type: string; fields: [number, number | string | boolean][] }) => ({
      type_url: `type.googleapis.com/${api.pkg}.${x.type}`,
      value: pbMessage(x.fields),
    });
    return { name: v.name, rd: any(rdAny(rd)), import_rt: imp.map((t) => any(rtAny(t))), export_rt: exp.map((t) => any(rtAny(t))), id: v.id };
  }
  return { name: v.name, rd: rdOneof(rd), import_rt: imp.map(rtOneof), export_rt: exp.map(rtOneof), id: v.id };
}

/** Minimal protobuf encoding (varint and string fields) for the few Any-packed objects without a binary field: VRF RDs and RTs. */
function pbVarint(out: number[], v: number): void {
  let x = v >>> 0;
  while (x > 0x7f) {
    out.push((x & 0x7f) | 0x80);
    x >>>= 7;
  }
  out.push(x);
}
function pbMessage(fields: [number, number | string | boolean][]): Buffer {
  const out: number[] = [];
  for (const [no, v] of fields) {
    if (typeof v === 'string') {
      const b = Buffer.from(v);
      pbVarint(out, (no << 3) | 2);
      pbVarint(out, b.length);
      out.push(...b);
    } else if (v) {
      pbVarint(out, no << 3);
      pbVarint(out, typeof v === 'boolean' ? 1 : v);
    }
  }
  return Buffer.from(out);
}

type AdminKind = 'ip' | 'as2' | 'as4';
interface AdminValue {
  kind: AdminKind;
  admin: string | number;
  assigned: number;
}

function splitAdmin(text: string, what: string): AdminValue {
  const i = text.lastIndexOf(':');
  const admin = text.slice(0, i),
    assigned = Number(text.slice(i + 1));
  if (i <= 0 || !/^\d+$/.test(text.slice(i + 1)) || assigned > 0xffffffff) {
    throw new RtreflectError('ERR_GOBGP_VRF', `${what} "${text}" is not "asn:number" or "ipv4:number"`);
  }
  if (admin.includes('.')) return { kind: 'ip', admin, assigned };
  const asn = Number(admin);
  if (!/^\d+$/.test(admin) || asn > 0xffffffff) throw new RtreflectError('ERR_GOBGP_VRF', `${what} "${text}" has a bad administrator part`);
  return { kind: asn <= 0xffff ? 'as2' : 'as4', admin: asn, assigned };
}

/** Route distinguisher text ("65000:1", "4200000000:1", "192.0.2.1:1"). */
const parseRd = (text: string): AdminValue => splitAdmin(text, 'route distinguisher');
/** Route target text: a transitive extended community of sub-type 2. */
const parseRt = (text: string): AdminValue => splitAdmin(text, 'route target');

const RD_TYPES: Record<AdminKind, { any: string; oneof: string }> = {
  ip: { any: 'RouteDistinguisherIPAddress', oneof: 'ip_address' },
  as2: { any: 'RouteDistinguisherTwoOctetASN', oneof: 'two_octet_asn' },
  as4: { any: 'RouteDistinguisherFourOctetASN', oneof: 'four_octet_asn' },
};
const RT_TYPES: Record<AdminKind, { any: string; oneof: string }> = {
  ip: { any: 'IPv4AddressSpecificExtended', oneof: 'ipv4_address_specific' },
  as2: { any: 'TwoOctetAsSpecificExtended', oneof: 'two_octet_as_specific' },
  as4: { any: 'FourOctetAsSpecificExtended', oneof: 'four_octet_as_specific' },
};

// RouteDistinguisher*: admin = 1, assigned = 2. *Specific extended: is_transitive = 1, sub_type = 2, asn or address = 3, local_admin = 4.
const rdAny = (v: AdminValue) => ({
  type: RD_TYPES[v.kind].any,
  fields: [
    [1, v.admin],
    [2, v.assigned],
  ] as [number, number | string][],
});
const rtAny = (v: AdminValue) => ({
  type: RT_TYPES[v.kind].any,
  fields: [
    [1, true],
    [2, 2],
    [3, v.admin],
    [4, v.assigned],
  ] as [number, number | string | boolean][],
});
const rdOneof = (v: AdminValue) => ({ [RD_TYPES[v.kind].oneof]: { admin: v.admin, assigned: v.assigned } });
const rtOneof = (v: AdminValue) => ({
  [RT_TYPES[v.kind].oneof]: { is_transitive: true, sub_type: 2, [v.kind === 'ip' ? 'address' : 'asn']: v.admin, local_admin: v.assigned },
});
