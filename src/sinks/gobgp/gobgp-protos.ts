/**
 * GoBGP's .proto files, read at start-up, and what rtreflect needs to know of
 * the API they describe. GoBGP changed its API between releases: 3.x is
 * package `apipb`, service `GobgpApi`; 4.x is package `api`, service
 * `GoBgpService`, with prefixed enum value names (TABLE_TYPE_GLOBAL = 1 where
 * 3.x had GLOBAL = 0) and typed route distinguishers and targets where 3.x
 * packed them in google.protobuf.Any. The package, service, enum values and
 * message shapes are all read from the files, never assumed.
 */
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { RtreflectError } from '../../util/errors.js';

export const DEFAULT_PROTO_DIR = '/usr/share/gocode/src/github.com/osrg/gobgp/api';

/** gobgp.proto holds the service; 3.x keeps the attribute messages apart without importing them. */
const ENTRY_FILE = 'gobgp.proto';
const SIDE_FILES = ['attribute.proto', 'capability.proto'];

/** The RPCs the sink calls. */
const SINK_METHODS = ['AddPathStream', 'ListPath', 'GetBgp', 'ListVrf', 'AddVrf'];

export interface GobgpProtos {
  protoDir: string;
  def: protoLoader.PackageDefinition;
  /** The protobuf package: "apipb" (GoBGP 3.x) or "api" (4.x). */
  pkg: string;
  /** The service's full name, e.g. "apipb.GobgpApi"; its methods are called as /<service>/<method>. */
  service: string;
  /** How errors name this API: its Go module path (which carries GoBGP's major version) and service. */
  label: string;
}

/** Which spelling of GoBGP's enums and VRF fields a request object must use. */
export interface GobgpDialect {
  /** TableType values: "GLOBAL"/"VRF" (3.x) or "TABLE_TYPE_GLOBAL"/"TABLE_TYPE_VRF" (4.x). */
  tableGlobal: string;
  tableVrf: string;
  /** TableLookupPrefix.Type: "EXACT" (3.x) or "TYPE_EXACT" (4.x). */
  lookupExact: string;
  /** Vrf.rd and the route targets: packed in google.protobuf.Any (3.x) or typed oneof messages (4.x). */
  vrfTargets: 'any' | 'oneof';
}

/** An RtreflectError for an API rtreflect cannot use, naming the directory, what differs and the fix. */
export function protoShapeError(protoDir: string, label: string, what: string): RtreflectError {
  return new RtreflectError(
    'ERR_GOBGP_PROTO',
    `GoBGP API in ${protoDir} (${label}) cannot carry what rtreflect writes: ${what}; set the gobgp sink's protoDir to the api directory of the gobgpd you run (GoBGP 3.x: api/, 4.x: proto/api/; releases 3.9 to 4.8 have the shape rtreflect needs)`,
  );
}

/**
 * Resolves an import of a GoBGP .proto. 4.x imports its siblings as "api/x.proto"
 * (relative to proto/, the parent of its api directory); a copy of the files
 * without that parent has them beside the importer.
 */
function resolveImport(protoDir: string, target: string): string {
  for (const c of [join(protoDir, target), join(dirname(protoDir), target), join(protoDir, basename(target))]) {
    if (existsSync(c)) return c;
  }
  return join(protoDir, target);
}

/** Reads the .proto files in `protoDir` and finds GoBGP's service in them. */
export function readGobgpProtos(protoDir: string): GobgpProtos {
  if (!existsSync(join(protoDir, ENTRY_FILE))) {
    throw new RtreflectError(
      'ERR_GOBGP_PROTO',
      `GoBGP API file ${join(protoDir, ENTRY_FILE)} not found; install GoBGP's protos (Debian: golang-github-osrg-gobgp-dev) or set the gobgp sink's protoDir`,
    );
  }
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => resolveImport(protoDir, target);
  let def: protoLoader.PackageDefinition;
  try {
    // google/protobuf/*.proto come bundled with protobufjs; only GoBGP's own files are read.
    const files = [ENTRY_FILE, ...SIDE_FILES].map((f) => join(protoDir, f)).filter((f, i) => i === 0 || existsSync(f));
    root.loadSync(files, { keepCase: true });
    root.resolveAll();
    def = protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true });
  } catch (err) {
    throw new RtreflectError('ERR_GOBGP_PROTO', `cannot load GoBGP's API from ${protoDir}: ${(err as Error).message}`, { cause: err });
  }
  const services = Object.keys(def).filter((k) => isService(def[k]));
  const service = services.find((k) => 'AddPathStream' in (def[k] as object));
  const pkgOf = (name: string): string => name.slice(0, Math.max(0, name.lastIndexOf('.')));
  const pkg = pkgOf(service ?? services[0] ?? '');
  const goPackage = (root.lookup(pkg) as protobuf.Namespace | null)?.options?.go_package as string | undefined;
  const label = `${goPackage?.split(';')[0] ?? `package ${pkg || '(none)'}`}, service ${service ?? (services.join(', ') || 'none')}`;
  if (!service) throw protoShapeError(protoDir, label, 'no service with an AddPathStream method');
  const missing = SINK_METHODS.filter((m) => !(m in (def[service] as object)));
  if (missing.length > 0) throw protoShapeError(protoDir, label, `${service} has no ${missing.join(', ')}`);
  return { protoDir, def, pkg, service, label };
}

function isService(v: unknown): boolean {
  if (!v || typeof v !== 'object' || 'format' in v) return false;
  const first = Object.values(v)[0] as { path?: unknown } | undefined;
  return typeof first?.path === 'string';
}

interface FieldDesc {
  name: string;
  number: number;
  type: string;
  label: string;
  typeName?: string;
}
interface EnumValueDesc {
  name: string;
  number: number;
}
interface MessageDesc {
  field: FieldDesc[];
  enumType?: { name: string; value: EnumValueDesc[] }[];
}

/** Whether a field's type name (as written in the .proto: relative or full) is the message `full`. */
function namesType(f: FieldDesc, full: string): boolean {
  const t = f.typeName?.replace(/^\./, '') ?? '';
  return t !== '' && (t === full || full.endsWith(`.${t}`));
}

/** Field numbers, enum values and message shapes of one loaded API, each refused by name when absent or of another type. */
export class ProtoShape {
  constructor(
    private readonly def: protoLoader.PackageDefinition,
    readonly pkg: string,
    readonly fail: (what: string) => never,
  ) {}

  message(name: string): MessageDesc {
    const t = (this.def[`${this.pkg}.${name}`] as { type?: MessageDesc } | undefined)?.type;
    if (!t || !Array.isArray(t.field)) this.fail(`message ${name} is missing`);
    return t;
  }

  fieldOf(owner: string, name: string): FieldDesc | undefined {
    return this.message(owner).field.find((x) => x.name === name);
  }

  /** The field's number, after checking its type (and, for a message, the message's name). */
  field(owner: string, name: string, type: string, label = 'LABEL_OPTIONAL', typeName?: string): number {
    const f = this.fieldOf(owner, name);
    if (!f) this.fail(`${owner}.${name} is missing`);
    if (f.type !== type || f.label !== label) this.fail(`${owner}.${name} is ${f.label} ${f.type}, expected ${label} ${type}`);
    if (typeName !== undefined && !namesType(f, typeName)) this.fail(`${owner}.${name} is a ${f.typeName}, expected ${typeName}`);
    return f.number;
  }

  /** The first of `names` that the enum has (releases renamed values), with its number. */
  enumValue(owner: string, values: EnumValueDesc[] | undefined, ...names: string[]): EnumValueDesc {
    for (const n of names) {
      const v = values?.find((x) => x.name === n);
      if (v) return v;
    }
    this.fail(`enum value ${owner}.${names.join(' or ')} is missing`);
  }

  /** A top-level enum's values. */
  enumValues(name: string): EnumValueDesc[] | undefined {
    return (this.def[`${this.pkg}.${name}`] as { type?: { value?: EnumValueDesc[] } } | undefined)?.type?.value;
  }

  /** An enum declared inside a message. */
  nestedEnumValues(owner: string, name: string): EnumValueDesc[] | undefined {
    return this.message(owner).enumType?.find((e) => e.name === name)?.value;
  }
}

/** The spellings a request object needs, checked against the fields rtreflect sets by name. */
export function gobgpDialect(s: ProtoShape): GobgpDialect {
  for (const f of ['table_type', 'name', 'family', 'prefixes', 'enable_only_binary']) {
    if (!s.fieldOf('ListPathRequest', f)) s.fail(`ListPathRequest.${f} is missing`);
  }
  const tableType = s.enumValues('TableType');
  const rd = s.fieldOf('Vrf', 'rd');
  if (!rd || !s.fieldOf('Vrf', 'import_rt') || !s.fieldOf('Vrf', 'export_rt')) s.fail('Vrf has no rd, import_rt or export_rt');
  const anyPacked = namesType(rd, 'google.protobuf.Any');
  if (!anyPacked) {
    for (const f of ['two_octet_asn', 'ip_address', 'four_octet_asn']) s.field('RouteDistinguisher', f, 'TYPE_MESSAGE');
    for (const f of ['two_octet_as_specific', 'ipv4_address_specific', 'four_octet_as_specific']) s.field('RouteTarget', f, 'TYPE_MESSAGE');
  }
  return {
    tableGlobal: s.enumValue('TableType', tableType, 'GLOBAL', 'TABLE_TYPE_GLOBAL').name,
    tableVrf: s.enumValue('TableType', tableType, 'VRF', 'TABLE_TYPE_VRF').name,
    lookupExact: s.enumValue('TableLookupPrefix.Type', s.nestedEnumValues('TableLookupPrefix', 'Type'), 'EXACT', 'TYPE_EXACT').name,
    vrfTargets: anyPacked ? 'any' : 'oneof',
  };
}
