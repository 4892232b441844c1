/**
 * GoBGP API calls that tests and benches make and the daemon does not: the RIB read as
 * protobufjs objects or as decoded destinations, and AddPathStream from request objects.
 * The daemon reads raw ListPath bytes (GobgpClient.listPathMessages) and writes encoded
 * requests (addPathStreamBytes, openAddPathStream).
 */
import type * as grpc from '@grpc/grpc-js';
import { listPathRequest, streamAll, type ApiPathIn, type GobgpClient } from '../../src/sinks/gobgp/gobgp-api.js';
import { decodeListPathResponse, type BinaryDestination } from '../../src/sinks/gobgp/list-path-decoder.js';

/** A path as ListPath returns it (only the fields tests look at). */
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
export interface ApiDestination {
  prefix: string;
  paths: ApiPathOut[];
}

/** table_type as rtreflect names it; addPathStream spells it as the loaded API does (GoBGP 4.x: TABLE_TYPE_GLOBAL). */
export interface AddPathStreamRequest {
  table_type: 'GLOBAL' | 'VRF';
  vrf_id?: string;
  paths: ApiPathIn[];
}

/** Paths of one family, binary only, through protobufjs. `vrf` lists a VRF's table instead of the global RIB. */
export async function listPaths(client: GobgpClient, family: 4 | 6, opts: { vrf?: string; prefixes?: string[] } = {}): Promise<ApiDestination[]> {
  const out: ApiDestination[] = [];
  await client.serverStream<{ destination?: ApiDestination }>('ListPath', listPathRequest(client.dialect, family, opts), (r) => {
    if (r.destination) out.push({ prefix: r.destination.prefix, paths: r.destination.paths ?? [] });
  });
  return out;
}

/** The daemon's read (bare HTTP/2, bytes decoded by list-path-decoder.ts), each destination handed over decoded. */
export function listPathsBinary(client: GobgpClient, family: 4 | 6, opts: { vrf?: string }, each: (d: BinaryDestination) => void): Promise<void> {
  return client.listPathMessages(family, opts, (buf) => {
    const d = decodeListPathResponse(buf);
    if (d) each(d);
  });
}

/** Streams request objects (protobufjs encodes them), honouring back-pressure; resolves when gobgpd acknowledged the whole stream. */
export function addPathStream(client: GobgpClient, requests: Iterable<AddPathStreamRequest>): Promise<void> {
  const spelt = function* () {
    for (const r of requests) yield { ...r, table_type: client.tableType(r.table_type) };
  };
  return streamAll((done: (err: grpc.ServiceError | null) => void) => client.clientStream<unknown>('AddPathStream', done), spelt());
}
