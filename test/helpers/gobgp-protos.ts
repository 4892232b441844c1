import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
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

export const GOBGP_3_10 = version('3.10', existsSync(join(DEFAULT_PROTO_DIR, 'gobgp.proto')) ? DEFAULT_PROTO_DIR : undefined, `install golang-github-osrg-gobgp-dev: ${DEFAULT_PROTO_DIR}`);
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
  root.loadSync(['gobgp.proto', 'attribute.proto'].map((f) => join(dir, f)), { keepCase: true });
  root.resolveAll();
  return root;
}
