import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { packageRoot } from '../../src/util/package-info.js';
import { DEFAULT_PROTO_DIR } from '../../src/sinks/gobgp/gobgp-protos.js';

/**
 * GoBGP's .proto files of the releases rtreflect is proven against. They are
 * GoBGP's, so they are read, not copied here: Debian 12's 3.10 where
 * golang-github-osrg-gobgp-dev installs them (scripts/setup does), newer ones
 * from $RTREFLECT_GOBGP_API_DIR/<version>, else the project's shared
 * definitions beside the checkout (../shared/gobgp-api/<version>).
 */
export interface GobgpApiVersion {
  version: string;
  dir: string | undefined;
  /** Why its tests are skipped, or false. */
  skip: string | false;
}

function shared(version: string): string | undefined {
  const candidates = [
    process.env.RTREFLECT_GOBGP_API_DIR && join(process.env.RTREFLECT_GOBGP_API_DIR, version),
    resolve(packageRoot(), '..', 'shared', 'gobgp-api', version),
  ];
  return candidates.find((d): d is string => !!d && existsSync(join(d, 'gobgp.proto')));
}

function version(name: string, dir: string | undefined, where: string): GobgpApiVersion {
  return { version: name, dir, skip: dir ? false : `GoBGP ${name}'s .proto files not found (${where}); its API tests skipped` };
}

export const GOBGP_3_10 = version(
  '3.10',
  existsSync(join(DEFAULT_PROTO_DIR, 'gobgp.proto')) ? DEFAULT_PROTO_DIR : undefined,
  `install golang-github-osrg-gobgp-dev: ${DEFAULT_PROTO_DIR}`,
);
export const GOBGP_3_37 = version('3.37.0', shared('v3.37.0'), 'set RTREFLECT_GOBGP_API_DIR to a folder holding v3.37.0/');
export const GOBGP_4_8 = version('4.8.0', shared('v4.8.0'), 'set RTREFLECT_GOBGP_API_DIR to a folder holding v4.8.0/');

/**
 * The reference: protobufjs alone loading the same files, with imports found as
 * protoc would with the api directory's parent on its path (GoBGP 4.x imports
 * "api/x.proto") or, for a copy of the files without it, beside the importer.
 */
export function referenceRoot(dir: string): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => [join(dir, target), join(dirname(dir), target), join(dir, basename(target))].find((p) => existsSync(p)) ?? target;
  root.loadSync(
    ['gobgp.proto', 'attribute.proto'].map((f) => join(dir, f)),
    { keepCase: true },
  );
  root.resolveAll();
  return root;
}

export interface FakeCall {
  method: string;
  request: Record<string, unknown>;
}

/**
 * A gRPC server on loopback speaking GoBGP's service as protobufjs reads the same
 * files (not through rtreflect's loader): it records every request, decoded, and
 * answers GetBgp, ListVrf and ListPath with `replies`. An RPC the files do not
 * have, or a wrong service path, is answered UNIMPLEMENTED by grpc-js.
 */
export async function fakeGobgpd(
  root: protobuf.Root,
  service: string,
  replies: { listPath?: Record<string, unknown>[]; vrfs?: string[] } = {},
): Promise<{ address: string; calls: FakeCall[]; close(): Promise<void> }> {
  const svc = root.lookupService(service);
  const calls: FakeCall[] = [];
  const definition: Record<string, grpc.MethodDefinition<object, object>> = {};
  const impl: grpc.UntypedServiceImplementation = {};
  for (const m of svc.methodsArray) {
    m.resolve();
    const req = m.resolvedRequestType!,
      res = m.resolvedResponseType!;
    definition[m.name] = {
      path: `/${service}/${m.name}`,
      requestStream: !!m.requestStream,
      responseStream: !!m.responseStream,
      requestDeserialize: (b: Buffer) => req.toObject(req.decode(b), { enums: String, longs: Number, defaults: false }),
      requestSerialize: (o: object) => Buffer.from(req.encode(req.fromObject(o)).finish()),
      responseSerialize: (o: object) => Buffer.from(res.encode(res.fromObject(o)).finish()),
      responseDeserialize: (b: Buffer) => res.decode(b),
    };
    const record = (request: Record<string, unknown>): void => {
      calls.push({ method: m.name, request });
    };
    impl[m.name] = m.requestStream
      ? (call: grpc.ServerReadableStream<Record<string, unknown>, unknown>, cb: grpc.sendUnaryData<unknown>) => {
          call.on('data', record);
          call.on('end', () => cb(null, {}));
        }
      : m.responseStream
        ? (call: grpc.ServerWritableStream<Record<string, unknown>, unknown>) => {
            record(call.request);
            if (m.name === 'ListPath') for (const d of replies.listPath ?? []) call.write({ destination: d });
            if (m.name === 'ListVrf') for (const name of replies.vrfs ?? []) call.write({ vrf: { name } });
            call.end();
          }
        : (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, cb: grpc.sendUnaryData<unknown>) => {
            record(call.request);
            cb(null, m.name === 'GetBgp' ? { global: { asn: 65000, router_id: '192.0.2.1', listen_port: -1 } } : {});
          };
  }
  const server = new grpc.Server();
  server.addService(definition as grpc.ServiceDefinition, impl);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((res) => server.tryShutdown(() => res())),
  };
}
