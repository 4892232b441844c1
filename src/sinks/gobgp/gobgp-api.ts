/**
 * GoBGP's gRPC API, loaded at run time from the .proto files of the installed
 * GoBGP (so the wire schema matches the daemon), and a small promise client.
 * Fields are snake_case (keepCase): a camelCase field would be dropped silently.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { RtreflectError } from '../../util/errors.js';
import { decodeListPathResponse, type BinaryDestination } from './list-path-decoder.js';
import { AddPathEncoder, addPathWireSchema } from './add-path-encoder.js';
import { grpcServerStream } from './grpc-raw-stream.js';

export const DEFAULT_PROTO_DIR = '/usr/share/gocode/src/github.com/osrg/gobgp/api';
const PROTO_FILES = ['gobgp.proto', 'attribute.proto', 'capability.proto'];

export type ApiFamily = { afi: 'AFI_IP' | 'AFI_IP6'; safi: 'SAFI_UNICAST' };
export const FAMILY_IPV4: ApiFamily = { afi: 'AFI_IP', safi: 'SAFI_UNICAST' };
export const FAMILY_IPV6: ApiFamily = { afi: 'AFI_IP6', safi: 'SAFI_UNICAST' };
export function apiFamily(f: 4 | 6): ApiFamily { return f === 4 ? FAMILY_IPV4 : FAMILY_IPV6; }

/** A path as we send it (binary fields only). */
export interface ApiPathIn {
  family: ApiFamily;
  nlri_binary: Uint8Array;
  pattrs_binary: Uint8Array[];
  identifier: number;
  is_withdraw?: boolean;
}

/** A path as ListPath returns it (only the fields rtreflect reads). */
export interface ApiPathOut {
  family?: { afi?: string; safi?: string };
  nlri_binary?: Buffer;
  pattrs_binary?: Buffer[];
  identifier?: number;
  local_identifier?: number;
  neighbor_ip?: string;
  source_asn?: number;
  is_withdraw?: boolean;
  best?: boolean;
  uuid?: Buffer;
}
export interface ApiDestination { prefix: string; paths: ApiPathOut[] }

export interface AddPathStreamRequest { table_type: 'GLOBAL' | 'VRF'; vrf_id?: string; paths: ApiPathIn[] }

interface LoadedApi { ctor: grpc.ServiceClientConstructor; encoder: AddPathEncoder }
const cache = new Map<string, LoadedApi>();

/** The GobgpApi service constructor for the protos in `protoDir`. */
export function loadGobgpService(protoDir = DEFAULT_PROTO_DIR): grpc.ServiceClientConstructor {
  return loadGobgpApi(protoDir).ctor;
}

/** The service and an AddPathStream encoder, both from the protos in `protoDir`. */
export function loadGobgpApi(protoDir = DEFAULT_PROTO_DIR): LoadedApi {
  const hit = cache.get(protoDir);
  if (hit) return hit;
  for (const f of PROTO_FILES) {
    if (!existsSync(join(protoDir, f))) {
      throw new RtreflectError('ERR_GOBGP_PROTO', `GoBGP API file ${join(protoDir, f)} not found; install GoBGP's protos (Debian: golang-github-osrg-gobgp-dev) or set the gobgp sink's protoDir`);
    }
  }
  let def: protoLoader.PackageDefinition;
  try {
    // google/protobuf/{any,empty,timestamp}.proto come bundled with protobufjs; only GoBGP's own directory is needed.
    def = protoLoader.loadSync(PROTO_FILES, { includeDirs: [protoDir], keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true });
  } catch (err) {
    throw new RtreflectError('ERR_GOBGP_PROTO', `cannot load GoBGP's API from ${protoDir}: ${(err as Error).message}`, { cause: err });
  }
  const pkg = grpc.loadPackageDefinition(def) as unknown as { apipb?: { GobgpApi?: grpc.ServiceClientConstructor } };
  const ctor = pkg.apipb?.GobgpApi;
  if (!ctor) throw new RtreflectError('ERR_GOBGP_PROTO', `${protoDir} has no apipb.GobgpApi service; is it GoBGP 3.x's api directory?`);
  const api = { ctor, encoder: new AddPathEncoder(addPathWireSchema(def)) };
  cache.set(protoDir, api);
  return api;
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

export interface GobgpClientOptions { protoDir?: string; /** per-call deadline for unary calls */ callTimeoutMs?: number }

export class GobgpClient {
  readonly address: string;
  private readonly client: grpc.Client & Record<string, any>;
  private readonly callTimeoutMs: number;
  /** Writes AddPathStream requests as bytes, in the schema of the loaded protos. */
  readonly encoder: AddPathEncoder;

  constructor(address: string, opts: GobgpClientOptions = {}) {
    this.address = address;
    const api = loadGobgpApi(opts.protoDir);
    const Ctor = api.ctor;
    this.encoder = api.encoder;
    this.client = new Ctor(grpcTarget(address), grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 256 * 1024 * 1024,
      'grpc.max_send_message_length': 256 * 1024 * 1024,
      'grpc.enable_retries': 0,
    }) as grpc.Client & Record<string, any>;
    this.callTimeoutMs = opts.callTimeoutMs ?? 30_000;
  }

  get channel(): grpc.Channel { return this.client.getChannel() as grpc.Channel; }

  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.client.waitForReady(Date.now() + timeoutMs, (err?: Error) => (err ? reject(err) : resolve()));
    });
  }

  private unary<T = any>(method: string, req: unknown, timeoutMs = this.callTimeoutMs): Promise<T> {
    return new Promise((resolve, reject) => {
      (this.client[method] as Unary).call(this.client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res as T)));
    });
  }

  private serverStream<T = any>(method: string, req: unknown, onItem: (item: T) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const call = this.client[method](req) as grpc.ClientReadableStream<T>;
      let done = false;
      call.on('data', (d: T) => { try { onItem(d); } catch (e) { done = true; call.cancel(); reject(e); } });
      call.on('error', (e) => { if (!done) { done = true; reject(e); } });
      call.on('end', () => { if (!done) { done = true; resolve(); } });
    });
  }

  getBgp(): Promise<{ global?: { asn?: number; router_id?: string; listen_port?: number } }> { return this.unary('GetBgp', {}); }
  startBgp(global: Record<string, unknown>): Promise<void> { return this.unary('StartBgp', { global }); }

  /** Paths of one family, binary only. `vrf` lists a VRF's table instead of the global RIB. */
  async listPaths(family: 4 | 6, opts: { vrf?: string; prefixes?: string[] } = {}): Promise<ApiDestination[]> {
    const out: ApiDestination[] = [];
    await this.serverStream<{ destination?: ApiDestination }>('ListPath', {
      table_type: opts.vrf !== undefined ? 'VRF' : 'GLOBAL',
      name: opts.vrf ?? '',
      family: apiFamily(family),
      prefixes: (opts.prefixes ?? []).map((prefix) => ({ prefix, type: 'EXACT' })),
      enable_only_binary: true,
    }, (r) => { if (r.destination) out.push({ prefix: r.destination.prefix, paths: r.destination.paths ?? [] }); });
    return out;
  }

  /**
   * The same read as listPaths, for resyncs: the replies come over a bare HTTP/2
   * stream (grpc-raw-stream.ts), are decoded from their bytes (list-path-decoder.ts)
   * and handed to `each` as they arrive, so a full table is neither converted to
   * objects by protobufjs nor held all at once.
   */
  listPathsBinary(family: 4 | 6, opts: { vrf?: string }, each: (d: BinaryDestination) => void): Promise<void> {
    return this.listPathMessages(family, opts, (buf) => {
      const d = decodeListPathResponse(buf);
      if (d) each(d);
    });
  }

  /** The same read, each ListPathResponse handed over as its bytes (binary fields only). */
  listPathMessages(family: 4 | 6, opts: { vrf?: string }, onMessage: (msg: Buffer) => void): Promise<void> {
    const def = this.method('ListPath');
    const req = def.requestSerialize({
      table_type: opts.vrf !== undefined ? 'VRF' : 'GLOBAL',
      name: opts.vrf ?? '',
      family: apiFamily(family),
      enable_only_binary: true,
    });
    return grpcServerStream(this.address, def.path, req, onMessage);
  }

  /** A method's definition from the loaded service: its path and (de)serializers, for calls made on raw bytes. */
  private method(name: string): { path: string; requestSerialize: (v: unknown) => Buffer; responseDeserialize: (b: Buffer) => unknown } {
    return (this.client.constructor as unknown as { service: Record<string, ReturnType<GobgpClient['method']>> }).service[name]!;
  }

  /** Streams the requests, honouring back-pressure; resolves when gobgpd acknowledged the whole stream. */
  addPathStream(requests: Iterable<AddPathStreamRequest>): Promise<void> {
    return streamAll((done) => this.client.AddPathStream(done) as grpc.ClientWritableStream<AddPathStreamRequest>, requests);
  }

  /** A client-streaming AddPathStream call whose requests are already bytes (AddPathEncoder.request). */
  private rawAddPathStream(callback: (err: grpc.ServiceError | null) => void): grpc.ClientWritableStream<Buffer> {
    const def = this.method('AddPathStream');
    return this.client.makeClientStreamRequest(def.path, (b: Buffer) => b, def.responseDeserialize, (err: grpc.ServiceError | null) => callback(err)) as grpc.ClientWritableStream<Buffer>;
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
    const done = new Promise<void>((res, rej) => { resolveDone = res; rejectDone = rej; });
    done.catch(() => undefined);
    const call = this.rawAddPathStream((err) => {
      if (err) { failed = err; rejectDone(err); } else resolveDone();
    });
    call.on('error', () => { /* reported through the callback */ });
    return {
      get failed() { return failed; },
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

  addPath(req: { table_type?: 'GLOBAL' | 'VRF'; vrf_id?: string; path: ApiPathIn }): Promise<{ uuid?: Buffer }> { return this.unary('AddPath', req); }

  /**
   * Deletes one path. A DeletePath naming neither a path nor a uuid makes gobgpd
   * delete EVERY locally injected path (other injectors' too): refused here.
   */
  deletePath(req: { table_type?: 'GLOBAL' | 'VRF'; vrf_id?: string; family?: ApiFamily; path?: ApiPathIn; uuid?: Uint8Array }): Promise<void> {
    assertDeleteNamesPath(req);
    return this.unary('DeletePath', req);
  }

  addVrf(vrf: Record<string, unknown>): Promise<void> { return this.unary('AddVrf', { vrf }); }
  async listVrfs(): Promise<{ name: string; id?: number }[]> {
    const out: { name: string; id?: number }[] = [];
    await this.serverStream<{ vrf?: { name: string; id?: number } }>('ListVrf', {}, (r) => { if (r.vrf) out.push(r.vrf); });
    return out;
  }
  addPeer(peer: Record<string, unknown>): Promise<void> { return this.unary('AddPeer', { peer }); }
  async listPeers(): Promise<any[]> {
    const out: any[] = [];
    await this.serverStream<{ peer?: unknown }>('ListPeer', {}, (r) => { if (r.peer) out.push(r.peer); });
    return out;
  }

  close(): void { this.client.close(); }
}

/** Writes every request into a client stream opened by `open`, honouring back-pressure, then ends it; resolves with the call's verdict. */
function streamAll<T>(open: (done: (err: grpc.ServiceError | null) => void) => grpc.ClientWritableStream<T>, requests: Iterable<T>): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const call = open((err) => {
      if (settled) return;
      settled = true;
      if (err) reject(err); else resolve();
    });
    call.on('error', () => { /* reported through the callback */ });
    const it = requests[Symbol.iterator]();
    const pump = (): void => {
      for (;;) {
        if (settled) return;
        const n = it.next();
        if (n.done) { call.end(); return; }
        if (!call.write(n.value)) { call.once('drain', pump); return; }
      }
    };
    pump();
  });
}

export function assertDeleteNamesPath(req: { path?: ApiPathIn; uuid?: Uint8Array }): void {
  const hasPath = !!req.path && req.path.nlri_binary?.length > 0;
  const hasUuid = !!req.uuid && req.uuid.length > 0;
  if (!hasPath && !hasUuid) {
    throw new RtreflectError('ERR_GOBGP_DELETE_ALL', 'refusing a GoBGP DeletePath that names neither a path nor a uuid: gobgpd would delete every locally injected path, including other injectors\'', { userFacing: false });
  }
}

/** Minimal protobuf encoding (varint and string fields) for the few Any-packed objects without a binary field: VRF RDs and RTs. */
function pbVarint(out: number[], v: number): void { let x = v >>> 0; while (x > 0x7f) { out.push((x & 0x7f) | 0x80); x >>>= 7; } out.push(x); }
function pbMessage(fields: [number, number | string | boolean][]): Buffer {
  const out: number[] = [];
  for (const [no, v] of fields) {
    if (typeof v === 'string') { const b = Buffer.from(v); pbVarint(out, (no << 3) | 2); pbVarint(out, b.length); out.push(...b); }
    else if (v) { pbVarint(out, no << 3); pbVarint(out, typeof v === 'boolean' ? 1 : v); }
  }
  return Buffer.from(out);
}
const any = (t: string, value: Buffer) => ({ type_url: `type.googleapis.com/apipb.${t}`, value });

function splitAdmin(text: string, what: string): { admin: string; assigned: number } {
  const i = text.lastIndexOf(':');
  const admin = text.slice(0, i), assigned = Number(text.slice(i + 1));
  if (i <= 0 || !/^\d+$/.test(text.slice(i + 1)) || assigned > 0xffffffff) {
    throw new RtreflectError('ERR_GOBGP_VRF', `${what} "${text}" is not "asn:number" or "ipv4:number"`);
  }
  return { admin, assigned };
}

/** Route distinguisher text ("65000:1", "4200000000:1", "192.0.2.1:1") as GoBGP's Any. */
export function rdToAny(text: string): { type_url: string; value: Buffer } {
  const { admin, assigned } = splitAdmin(text, 'route distinguisher');
  if (admin.includes('.')) return any('RouteDistinguisherIPAddress', pbMessage([[1, admin], [2, assigned]]));
  const asn = Number(admin);
  if (!/^\d+$/.test(admin) || asn > 0xffffffff) throw new RtreflectError('ERR_GOBGP_VRF', `route distinguisher "${text}" has a bad administrator part`);
  if (asn <= 0xffff) return any('RouteDistinguisherTwoOctetASN', pbMessage([[1, asn], [2, assigned]]));
  return any('RouteDistinguisherFourOctetASN', pbMessage([[1, asn], [2, assigned]]));
}

/** Route target text as GoBGP's Any (a transitive extended community, sub-type 2). */
export function rtToAny(text: string): { type_url: string; value: Buffer } {
  const { admin, assigned } = splitAdmin(text, 'route target');
  if (admin.includes('.')) return any('IPv4AddressSpecificExtended', pbMessage([[1, true], [2, 2], [3, admin], [4, assigned]]));
  const asn = Number(admin);
  if (!/^\d+$/.test(admin) || asn > 0xffffffff) throw new RtreflectError('ERR_GOBGP_VRF', `route target "${text}" has a bad administrator part`);
  return any(asn <= 0xffff ? 'TwoOctetAsSpecificExtended' : 'FourOctetAsSpecificExtended', pbMessage([[1, true], [2, 2], [3, asn], [4, assigned]]));
}
