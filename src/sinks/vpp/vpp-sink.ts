import type { ApplyReport, Sink, SinkCapabilities, SinkChange, SinkConnectionState, SinkHooks, SinkProjection, SinkStatusExtra } from '../../engine/sink.js';
import type { ReflectedRoute } from '../../engine/reflected-route.js';
import type { NextHop } from '../../kernel/route.js';
import { RtreflectError } from '../../util/errors.js';
import { addrToBytes, bytesToAddr, bytesToPrefix, familyOf, type Family } from '../../util/ip.js';
import { silentLogger, type Logger } from '../../util/logger.js';
import { loadApiDefs, type ApiDefsData } from './vpp-api-defs.js';
import { ReconnectLoop, VppClient, vppErrorName } from './vpp-client.js';
import { VppCodec, type VppMessage } from './vpp-codec.js';
import { RouteDetailsReader, type DetailPath, type DetailRoute } from './vpp-route-details.js';
import { RouteLayout } from './vpp-route-layout.js';
import { FrameBatch } from './vpp-transport.js';
import type { VppSinkOptions } from './vpp-options.js';

/**
 * The VPP dataplane: routes go into VPP's FIB under a FIB source of
 * rtreflect's own (fib_source_add), with the _v2 route messages, so that they
 * are distinguishable from every other client's and can be read back and
 * deleted without touching anybody else's.
 */

export interface VppSinkDeps {
  logger?: Logger;
  /** Definitions already loaded (tests); otherwise read from options.apiDir at start(). */
  defs?: ApiDefsData;
}

const NO_IF = 0xffffffff;
// fib_types.api: vl_api_fib_path_type_t / vl_api_fib_path_nh_proto_t / address_family.
const PATH_NORMAL = 0, PATH_DROP = 2, PATH_ICMP_UNREACH = 5, PATH_ICMP_PROHIBIT = 6;
const PATH_KIND: Record<number, WirePath['kind']> = { [PATH_NORMAL]: 'via', [PATH_DROP]: 'drop', [PATH_ICMP_UNREACH]: 'unreach', [PATH_ICMP_PROHIBIT]: 'prohibit' };
const KIND_TYPE: Record<WirePath['kind'], number> = { via: PATH_NORMAL, drop: PATH_DROP, unreach: PATH_ICMP_UNREACH, prohibit: PATH_ICMP_PROHIBIT };
const NH_PROTO_IP4 = 0, NH_PROTO_IP6 = 1;
const AF_IP4 = 0, AF_IP6 = 1;
const ERR_NO_SUCH_FIB = -3;
const ZERO4 = new Uint8Array(4), ZERO16 = new Uint8Array(16);

/** What rtreflect writes for one route; the fingerprint is computed from this and from what VPP reports back. */
interface WirePath {
  kind: 'via' | 'drop' | 'unreach' | 'prohibit';
  nh?: string;
  sw: number;
  weight: number;
  preference: number;
  /** The next hop parsed, when there is one (filled in for the paths rtreflect writes). */
  nhFamily?: Family;
  nhBytes?: Uint8Array;
}
interface WireRoute { table: number; family: Family; prefix: string; paths: WirePath[] }

/**
 * The paths written for a next-hop set, with their part of the fingerprint
 * (sorted path texts), or why the set cannot be written. Computed once per
 * (interned, shared) next-hop array.
 */
interface PathSet {
  paths: WirePath[];
  text: string;
  /** Next hops that fell back to next-hop-only (counted per route projected). */
  fallbacks: number;
}
interface PathSkip {
  skip: string;
  counter?: 'skippedUnmappedInterface' | 'skippedLinkLocalNoInterface';
}

function pathSet(paths: WirePath[], fallbacks = 0): PathSet {
  return { paths, text: pathsFingerprint(paths), fallbacks };
}

const SPECIAL_PATHS: Record<string, PathSet> = {
  blackhole: pathSet([{ kind: 'drop', sw: NO_IF, weight: 1, preference: 0 }]),
  unreachable: pathSet([{ kind: 'unreach', sw: NO_IF, weight: 1, preference: 0 }]),
  prohibit: pathSet([{ kind: 'prohibit', sw: NO_IF, weight: 1, preference: 0 }]),
};
const NO_NEXTHOPS: PathSkip = { skip: 'unicast route without next hops' };

function viaText(nh: string | undefined, sw: number, weight: number, preference: number): string {
  return `via:${nh ?? ''}@${sw === NO_IF ? '' : sw}*${weight}/${preference}`;
}

function pathText(p: WirePath): string {
  return p.kind !== 'via' ? p.kind : viaText(p.nh, p.sw, p.weight, p.preference);
}

/**
 * Canonical text of what is written for a key: its paths, sorted. Equal text,
 * no write needed. Table and prefix are not in it: they are the key, and the
 * engine only compares fingerprints of the same key; so the text is one string
 * per next-hop set, shared by every route using it.
 */
export function pathsFingerprint(paths: WirePath[]): string {
  return paths.map(pathText).sort().join(',');
}

function isLinkLocal6(a: string): boolean {
  return /^fe[89ab]/i.test(a);
}

/**
 * A route's key in this sink: the prefix itself in table 0 (the route's own
 * string, so a full table of them costs no extra strings), `table|prefix` elsewhere.
 */
function vppKey(table: number, prefix: string): string {
  return table === 0 ? prefix : `${table}|${prefix}`;
}

function parseKey(key: string): { table: number; prefix: string; family: Family; addr: Uint8Array; len: number } {
  const bar = key.indexOf('|');
  const table = bar < 0 ? 0 : Number(key.slice(0, bar));
  const prefix = key.slice(bar + 1);
  const slash = prefix.lastIndexOf('/');
  const addrText = prefix.slice(0, slash);
  if (bar === 0 || !Number.isInteger(table) || slash < 0) throw new RtreflectError('ERR_VPP_KEY', `"${key}" is not a VPP sink key (table|prefix)`, { userFacing: false });
  return { table, prefix, family: familyOf(addrText), addr: addrToBytes(addrText), len: Number(prefix.slice(slash + 1)) };
}

function addressUnion(family: Family, bytes: Uint8Array): VppMessage {
  return family === 4 ? { ip4: bytes } : { ip6: bytes };
}

const newDetailRoute = (): DetailRoute => ({ table: 0, af: 0, addrOffset: 0, len: 0, src: 0, nPaths: 0 });
const newDetailPath = (): DetailPath => ({ type: 0, proto: 0, sw: 0, weight: 0, preference: 0, nhOffset: 0 });

/** A table known to exist: a settled promise, told apart without awaiting it. */
const RESOLVED: Promise<void> = Promise.resolve();

class VppSink implements Sink {
  readonly kind = 'vpp';
  readonly name: string;
  readonly shutdownPolicy: { withdraw: boolean; graceMs: number };
  readonly batchSize: number;
  /** apply() waits for VPP's answers: a second batch keeps VPP busy while the engine prepares the next. */
  /** No stableProjection: a path's interface is VPP's sw_if_index for the kernel's, a mapping that changes while the sink runs. */
  readonly capabilities: SinkCapabilities = { maxBatchesInFlight: 2 };

  private readonly opts: VppSinkOptions;
  private logger: Logger;
  private hooks: SinkHooks | undefined;
  private client: VppClient | undefined;
  private codec: VppCodec | undefined;
  private loop: ReconnectLoop | undefined;
  private st: SinkConnectionState = 'down';
  private mode: 'v2' | 'v1' | undefined;
  private srcId = 0;
  /** `${family}:${table}` → tables known to exist (or being created). */
  private tables = new Map<string, Promise<void>>();
  /** Kernel interface (by index, and by name) → VPP sw_if_index. */
  private ifByIndex = new Map<number, number>();
  private ifByName = new Map<string, number>();
  private mappingConfigured = false;
  /** v1 fallback: the keys rtreflect wrote (no FIB source of its own to tell them apart). */
  private recorded = new Map<string, string>();
  private readonly counters = { nextHopOnlyFallbacks: 0, skippedUnmappedInterface: 0, skippedLinkLocalNoInterface: 0, skippedUnmappedVrf: 0, reconnects: 0, writes: 0, writeFailures: 0 };
  private readonly unmappedInterfaces = new Set<string>();
  private lastError: string | undefined;

  constructor(opts: VppSinkOptions, private readonly deps: VppSinkDeps) {
    this.opts = opts;
    this.name = opts.name;
    this.shutdownPolicy = { ...opts.shutdown };
    this.batchSize = opts.batchSize;
    this.logger = deps.logger ?? silentLogger();
  }

  state(): SinkConnectionState {
    return this.st;
  }

  private setState(s: SinkConnectionState, detail?: string): void {
    this.st = s;
    this.hooks?.onState(s, detail);
  }

  async start(hooks: SinkHooks): Promise<void> {
    this.hooks = hooks;
    this.logger = (this.deps.logger ?? hooks.logger).child({ sink: this.name });
    this.setState('connecting');
    const defs = this.deps.defs ?? loadApiDefs(this.opts.apiDir);
    const codec = new VppCodec(defs, { skipOnDecode: ['label_stack'] });
    this.codec = codec;
    const client = new VppClient(codec, {
      socket: this.opts.socket,
      clientName: `rtreflect-${this.name}`,
      window: this.opts.window,
      requestTimeoutMs: this.opts.requestTimeoutMs,
      connectTimeoutMs: this.opts.connectTimeoutMs,
      logger: this.logger,
      onClose: (err) => {
        this.lastError = err.message;
        this.logger.warn({ err: err.message }, 'VPP API connection lost; reconnecting');
        this.setState('down', err.message);
        this.loop?.schedule();
      },
    });
    this.client = client;
    this.loop = new ReconnectLoop(
      client,
      this.opts.backoff,
      () => this.setup(),
      () => {
        this.counters.reconnects++;
        this.logger.info({ mode: this.mode, fibSource: this.srcId }, 'VPP API connection re-established; resync needed');
        this.setState('up');
        hooks.onResyncNeeded('VPP API connection re-established (VPP may have restarted)');
      },
      (err, retryInMs) => {
        this.lastError = err.message;
        this.logger.warn({ err: err.message, retryInMs }, 'VPP API connection attempt failed');
        this.setState('down', err.message);
      },
    );
    try {
      await client.connect();
      await this.setup();
    } catch (err) {
      const e = err as RtreflectError;
      // VPP not (yet) there: keep trying in the background. A version mismatch or bad definitions: fail now.
      if (e.code === 'ERR_VPP_CONNECT' || e.code === 'ERR_VPP_DISCONNECTED' || e.code === 'ERR_VPP_TIMEOUT') {
        this.lastError = e.message;
        this.logger.warn({ err: e.message }, 'VPP is not reachable yet; retrying in the background');
        if (client.connected) await client.close();
        this.setState('down', e.message);
        this.loop.schedule();
        return;
      }
      await client.close().catch(() => undefined);
      this.setState('down', e.message);
      throw err;
    }
    this.setState('up');
  }

  /** Runs on every new connection: checks versions, finds our FIB source, learns tables and interfaces. */
  private async setup(): Promise<void> {
    const c = this.client!;
    const v2 = ['fib_source_add', 'fib_source_dump', 'ip_route_add_del_v2', 'ip_route_v2_dump'];
    const st = v2.map((n) => ({ n, s: c.status(n) }));
    // A message VPP has in another version means our definitions are wrong: never misencode, refuse.
    const crcBad = st.filter((x) => !x.s.ok && x.s.reason === 'crc').map((x) => x.n);
    if (crcBad.length) c.require(crcBad);
    const mode = st.every((x) => x.s.ok) ? 'v2' : 'v1';
    if (mode === 'v1' && this.mode !== 'v1') {
      this.logger.warn({ missing: st.filter((x) => !x.s.ok).map((x) => x.n) },
        'this VPP lacks the _v2 route messages or fib_source_add: falling back to ip_route_add_del under the shared API source; rtreflect tracks the routes it wrote in memory only, so after an rtreflect restart stale routes are not removed');
    }
    this.mode = mode;
    c.require(['control_ping', 'ip_table_add_del', 'ip_table_dump', 'sw_interface_dump', ...(mode === 'v2' ? v2 : ['ip_route_add_del', 'ip_route_dump'])]);
    if (mode === 'v2') this.srcId = await this.findOrAddSource();
    this.tables = new Map();
    for (const t of await c.dump('ip_table_dump')) {
      const tb = t.table as { table_id: number; is_ip6: boolean };
      this.tables.set(`${tb.is_ip6 ? 6 : 4}:${tb.table_id}`, RESOLVED);
    }
    await this.refreshInterfaces();
  }

  private async findOrAddSource(): Promise<number> {
    const c = this.client!;
    const { name, priority } = this.opts.fibSource;
    for (const d of await c.dump('fib_source_dump')) {
      const s = d.src as { name: string; id: number; priority: number };
      if (s.name === name) {
        if (s.priority !== priority) {
          this.logger.warn({ source: name, vppPriority: s.priority, configured: priority }, 'FIB source exists in VPP with another priority; VPP cannot change it until it restarts');
        }
        return s.id;
      }
    }
    const r = await c.call('fib_source_add', { src: { name, priority, id: 0 } });
    return r.id as number;
  }

  private async refreshInterfaces(): Promise<void> {
    const c = this.client!;
    const byIndex = new Map<number, number>();
    const byName = new Map<string, number>();
    const vppNames = new Map<string, number>();
    for (const d of await c.dump('sw_interface_dump', { sw_if_index: NO_IF, name_filter_valid: false, name_filter: '' })) {
      vppNames.set(d.interface_name as string, d.sw_if_index as number);
    }
    let lcpPairs = 0;
    if (this.opts.useLinuxCp && c.has('lcp_itf_pair_get')) {
      try {
        for (const p of await c.getAll('lcp_itf_pair_get')) {
          byIndex.set(p.vif_index as number, p.phy_sw_if_index as number);
          byName.set(p.host_if_name as string, p.phy_sw_if_index as number);
          lcpPairs++;
        }
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'cannot read linux-cp interface pairs; using the interfaces map only');
      }
    }
    for (const [kname, vname] of Object.entries(this.opts.interfaces)) {
      const sw = vppNames.get(vname);
      if (sw === undefined) {
        this.logger.warn({ kernel: kname, vpp: vname }, 'interfaces map names a VPP interface that does not exist; routes via it fall back to next-hop-only');
        continue;
      }
      if (!byName.has(kname)) byName.set(kname, sw);
    }
    this.ifByIndex = byIndex;
    this.ifByName = byName;
    this.pathCache = new WeakMap();
    this.mappingConfigured = lcpPairs > 0 || Object.keys(this.opts.interfaces).length > 0;
    this.logger.debug({ lcpPairs, mapped: byName.size }, 'VPP interface map refreshed');
  }

  private vppTable(route: ReflectedRoute): number | string {
    if (route.vrf !== undefined) {
      const t = this.opts.vrfTables[route.vrf];
      return t === undefined ? `VRF "${route.vrf}" has no VPP table; add it to the VPP sink's vrfTables` : t;
    }
    const o = this.opts.tables[route.table];
    if (o !== undefined) return o;
    return route.table === 254 || route.table === 255 ? 0 : route.table;
  }

  private mapInterface(ifindex: number | undefined, ifname: string | undefined): number | undefined {
    if (ifname !== undefined) {
      const s = this.ifByName.get(ifname);
      if (s !== undefined) return s;
    }
    if (ifindex !== undefined) return this.ifByIndex.get(ifindex);
    return undefined;
  }

  private noteUnmapped(ifname: string | undefined, ifindex: number | undefined): void {
    const label = ifname ?? `ifindex ${ifindex}`;
    if (!this.unmappedInterfaces.has(label) && this.unmappedInterfaces.size < 1000) {
      this.unmappedInterfaces.add(label);
      this.logger.warn({ interface: label }, 'kernel interface has no VPP counterpart (no linux-cp pair, not in the interfaces map)');
    }
  }

  /**
   * Next-hop set → paths. Next-hop arrays are interned by the kernel state and
   * shared between routes, and never changed in place, so the result is kept
   * per array until the interface map changes.
   */
  private pathCache = new WeakMap<readonly NextHop[], PathSet | PathSkip>();

  /** The paths VPP will hold for the route, or why it is not reflected (table mapping aside). */
  private pathsOf(route: ReflectedRoute, count = false): PathSet | PathSkip {
    const special = route.type === 'unicast' ? undefined : SPECIAL_PATHS[route.type];
    if (special) return special;
    let e = this.pathCache.get(route.nexthops);
    if (!e) {
      e = this.computePaths(route.nexthops);
      this.pathCache.set(route.nexthops, e);
    }
    if (count) {
      if ('skip' in e) {
        if (e.counter) this.counters[e.counter]++;
      } else this.counters.nextHopOnlyFallbacks += e.fallbacks;
    }
    return e;
  }

  private computePaths(nexthops: readonly NextHop[]): PathSet | PathSkip {
    if (nexthops.length === 0) return NO_NEXTHOPS;
    const paths: WirePath[] = [];
    let fallbacks = 0;
    for (const nh of nexthops) {
      const hasIf = nh.ifindex !== undefined || nh.ifname !== undefined;
      let sw = hasIf ? this.mapInterface(nh.ifindex, nh.ifname) : undefined;
      // VPP's weight is a u8; the kernel's goes to 256.
      const weight = Math.min(255, Math.max(1, nh.weight));
      if (nh.gateway === undefined) {
        if (sw === undefined) {
          if (hasIf) this.noteUnmapped(nh.ifname, nh.ifindex);
          return { skip: `next hop is interface ${nh.ifname ?? nh.ifindex ?? '?'} only, which has no VPP interface (add a linux-cp pair or an interfaces entry)`, counter: 'skippedUnmappedInterface' };
        }
        paths.push({ kind: 'via', sw, weight, preference: 0 });
        continue;
      }
      const parsed = this.nextHop(nh.gateway);
      if (sw === undefined) {
        if (parsed.family === 6 && isLinkLocal6(nh.gateway)) {
          if (hasIf) this.noteUnmapped(nh.ifname, nh.ifindex);
          return { skip: `link-local gateway ${nh.gateway} needs its interface (${nh.ifname ?? nh.ifindex ?? '?'}) mapped to VPP`, counter: 'skippedLinkLocalNoInterface' };
        }
        if (hasIf && this.mappingConfigured) {
          fallbacks++;
          this.noteUnmapped(nh.ifname, nh.ifindex);
        }
        sw = NO_IF; // VPP resolves the gateway recursively
      }
      paths.push({ kind: 'via', nh: nh.gateway, sw, weight, preference: 0, nhFamily: parsed.family, nhBytes: parsed.bytes });
    }
    return pathSet(paths, fallbacks);
  }

  keyOf(route: ReflectedRoute): string | null {
    const table = this.vppTable(route);
    return typeof table === 'string' ? null : vppKey(table, route.prefix);
  }

  project(route: ReflectedRoute): SinkProjection {
    const table = this.vppTable(route);
    if (typeof table === 'string') {
      this.counters.skippedUnmappedVrf++;
      return { skip: table };
    }
    const ps = this.pathsOf(route, true);
    if ('skip' in ps) return { skip: ps.skip };
    return { key: vppKey(table, route.prefix), fingerprint: ps.text };
  }

  /** Next hops are few and repeat on every route: parse each once (bounded, so a churn of next hops cannot grow it for ever). */
  private nhCache = new Map<string, { family: Family; bytes: Uint8Array }>();

  private nextHop(nh: string): { family: Family; bytes: Uint8Array } {
    let e = this.nhCache.get(nh);
    if (!e) {
      if (this.nhCache.size >= 4096) this.nhCache.clear();
      e = { family: familyOf(nh), bytes: addrToBytes(nh) };
      this.nhCache.set(nh, e);
    }
    return e;
  }

  private fibPath(p: WirePath, r: WireRoute): VppMessage {
    const nhE = p.nh !== undefined ? this.nextHop(p.nh) : undefined;
    const nhFamily = nhE ? nhE.family : r.family;
    const nhBytes = nhE ? nhE.bytes : (nhFamily === 4 ? ZERO4 : ZERO16);
    return {
      sw_if_index: p.sw,
      table_id: r.table,
      rpf_id: 0,
      weight: p.weight,
      preference: p.preference,
      type: KIND_TYPE[p.kind],
      flags: 0,
      proto: nhFamily === 4 ? NH_PROTO_IP4 : NH_PROTO_IP6,
      nh: { address: addressUnion(nhFamily, nhBytes), via_label: 0, obj_id: 0, classify_table_index: NO_IF },
      n_labels: 0,
    };
  }

  private routeBody(table: number, family: Family, addr: Uint8Array, len: number, paths: VppMessage[]): VppMessage {
    const body: VppMessage = {
      table_id: table,
      stats_index: 0,
      prefix: { address: { af: family === 4 ? AF_IP4 : AF_IP6, un: addressUnion(family, addr) }, len },
      paths,
    };
    if (this.mode === 'v2') body.src = this.srcId;
    return body;
  }

  private ensureTable(table: number, family: Family): Promise<void> {
    if (table === 0 || !this.opts.createTables) return Promise.resolve();
    const k = `${family}:${table}`;
    let p = this.tables.get(k);
    if (!p) {
      p = this.client!.call('ip_table_add_del', { is_add: true, table: { table_id: table, is_ip6: family === 6, name: '' } }).then(() => {
        this.logger.info({ table, family }, 'created VPP table');
        if (this.tables.get(k) === p) this.tables.set(k, RESOLVED);
      });
      p.catch(() => this.tables.delete(k));
      this.tables.set(k, p);
    }
    return p;
  }

  private requireUp(what: string): VppClient {
    const c = this.client;
    if (!c || !c.connected || this.st !== 'up') throw new RtreflectError('ERR_VPP_DISCONNECTED', `VPP sink ${this.name} is ${this.st}; cannot ${what}`);
    return c;
  }

  /** Compiled route layouts by message name; null when the definitions do not fit it (then the generic encoder writes). */
  private layouts = new Map<string, RouteLayout | null>();

  private layoutFor(name: string, codec: VppCodec): RouteLayout | null {
    return this.compiledOnce(this.layouts, name, () => new RouteLayout(codec, name), 'cannot compile the route writer for these VPP API definitions; using the generic encoder (slower)');
  }

  /** What `make` compiles for a message, once per name; null, said once, when the definitions do not fit it. */
  private compiledOnce<T>(cache: Map<string, T | null>, name: string, make: () => T, fallback: string): T | null {
    let c = cache.get(name);
    if (c === undefined) {
      try {
        c = make();
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, fallback);
        c = null;
      }
      cache.set(name, c);
    }
    return c;
  }

  /** Creates the tables the batch's upserts need (once each); returns `family:table` → why it failed. */
  private async ensureTables(changes: SinkChange[]): Promise<Map<string, string> | undefined> {
    if (!this.opts.createTables) return undefined;
    let want: Map<string, Promise<void>> | undefined;
    for (const ch of changes) {
      if (ch.op !== 'upsert') continue;
      const table = this.vppTable(ch.route);
      if (typeof table === 'string' || table === 0) continue;
      const k = `${ch.route.family}:${table}`;
      if (want?.has(k)) continue;
      const known = this.tables.get(k);
      if (known === RESOLVED) continue;
      (want ??= new Map()).set(k, known ?? this.ensureTable(table, ch.route.family));
    }
    if (!want) return undefined;
    const failed = new Map<string, string>();
    for (const [k, p] of want) {
      try {
        await p;
      } catch (err) {
        failed.set(k, (err as Error).message);
      }
    }
    return failed;
  }

  /**
   * One batch: tables first, then every change encoded into one buffer and
   * sent as one batch of requests (client.requestMany); the report is built
   * from the replies' retvals.
   */
  async apply(changes: SinkChange[]): Promise<ApplyReport> {
    const c = this.requireUp('apply changes');
    const codec = this.codec!;
    const name = this.mode === 'v2' ? 'ip_route_add_del_v2' : 'ip_route_add_del';
    const layout = this.layoutFor(name, codec);
    const n = changes.length;
    const tableErrors = await this.ensureTables(changes);
    /** Why a change was not sent (skip, table, encoding). */
    const notSent: (string | undefined)[] = new Array(n);
    const batch = new FrameBatch(n * (16 + (layout ? layout.size(1) : 256)));
    for (let i = 0; i < n; i++) {
      const ch = changes[i]!;
      const framed = batch.count;
      try {
        if (ch.op === 'upsert') {
          const route = ch.route;
          const table = this.vppTable(route);
          if (typeof table === 'string') { notSent[i] = table; continue; }
          const ps = this.pathsOf(route);
          if ('skip' in ps) { notSent[i] = ps.skip; continue; }
          const terr = tableErrors?.get(`${route.family}:${table}`);
          if (terr !== undefined) { notSent[i] = terr; continue; }
          const slash = route.prefix.lastIndexOf('/');
          const len = Number(route.prefix.slice(slash + 1));
          if (layout) {
            const paths = ps.paths;
            const at = batch.add(layout.size(paths.length));
            let off = layout.writeRoute(batch.buf, at, true, table, route.family, route.prefix.slice(0, slash), len, this.srcId, paths.length);
            for (const p of paths) {
              const nhFamily = p.nhFamily ?? route.family;
              layout.writePath(batch.buf, off, table, p.sw, p.weight, p.preference, KIND_TYPE[p.kind], nhFamily === 4 ? NH_PROTO_IP4 : NH_PROTO_IP6, p.nhBytes);
              off += layout.pathSize;
            }
          } else {
            const wr: WireRoute = { table, family: route.family, prefix: route.prefix, paths: ps.paths };
            const addr = addrToBytes(route.prefix.slice(0, slash));
            const body = this.routeBody(table, route.family, addr, len, ps.paths.map((p) => this.fibPath(p, wr)));
            batch.addPayload(codec.encode(name, { is_add: true, is_multipath: false, route: body }));
          }
        } else {
          const k = parseKey(ch.key);
          if (layout) {
            const at = batch.add(layout.size(0));
            layout.writeRoute(batch.buf, at, false, k.table, k.family, k.prefix.slice(0, k.prefix.lastIndexOf('/')), k.len, this.srcId, 0);
          } else {
            batch.addPayload(codec.encode(name, { is_add: false, is_multipath: false, route: this.routeBody(k.table, k.family, k.addr, k.len, []) }));
          }
        }
      } catch (err) {
        batch.truncate(framed);
        notSent[i] = (err as Error).message;
      }
    }
    let retvals: Int32Array | undefined;
    let sendError: string | undefined;
    try {
      retvals = await c.requestMany(name, batch);
    } catch (err) {
      sendError = (err as Error).message;
    }
    const report: ApplyReport = { applied: [], failed: [] };
    let j = 0;
    for (let i = 0; i < n; i++) {
      const ch = changes[i]!;
      const why = notSent[i];
      if (why !== undefined) { report.failed.push({ key: ch.key, error: why }); continue; }
      j++;
      if (sendError !== undefined) { report.failed.push({ key: ch.key, error: sendError }); continue; }
      const rv = retvals![j - 1]!;
      if (ch.op === 'upsert') {
        if (rv !== 0) {
          const table = this.vppTable(ch.route) as number;
          report.failed.push({ key: ch.key, error: `VPP refused ${ch.route.prefix} in table ${table}: retval ${rv} (${vppErrorName(rv)})` });
          continue;
        }
        if (this.mode === 'v1') this.recorded.set(ch.key, ch.fingerprint);
      } else {
        // A missing table holds nothing to delete.
        if (rv !== 0 && rv !== ERR_NO_SUCH_FIB) {
          const k = parseKey(ch.key);
          report.failed.push({ key: ch.key, error: `VPP refused to delete ${k.prefix} in table ${k.table}: retval ${rv} (${vppErrorName(rv)})` });
          continue;
        }
        this.recorded.delete(ch.key);
      }
      report.applied.push(ch.key);
    }
    this.counters.writes += report.applied.length;
    this.counters.writeFailures += report.failed.length;
    return report;
  }

  async readOwned(): Promise<Map<string, string>> {
    const c = this.requireUp('read its routes');
    // Interfaces may have changed while we were away; projections after a resync use the fresh map.
    await this.refreshInterfaces();
    const tables = await c.dump('ip_table_dump');
    const out = new Map<string, string>();
    const perTable = tables.map(async (t) => {
      const tb = t.table as { table_id: number; is_ip6: boolean };
      const table = { table_id: tb.table_id, is_ip6: tb.is_ip6, name: '' };
      const [dumpName, detailName] = this.mode === 'v2' ? ['ip_route_v2_dump', 'ip_route_v2_details'] : ['ip_route_dump', 'ip_route_details'];
      const fields = this.mode === 'v2' ? { src: this.srcId, table } : { table };
      const reader = this.detailsReaderFor(detailName, this.codec!);
      if (reader) {
        // Read in place: no message objects for a full table.
        const holder = { route: newDetailRoute(), path: newDetailPath(), fingerprint: '' };
        await c.dumpRaw(dumpName, fields, (payload) => {
          const key = this.fromRawDetail(reader, payload, holder);
          if (this.mode === 'v1' && !this.recorded.has(key)) return;
          out.set(key, holder.fingerprint);
        }, detailName);
        return;
      }
      const details = await c.dump(dumpName, fields);
      for (const d of details) {
        const entry = this.fromDetails(d.route as VppMessage);
        if (!entry) continue;
        if (this.mode === 'v1' && !this.recorded.has(entry.key)) continue;
        out.set(entry.key, entry.fingerprint);
      }
    });
    await Promise.all(perTable);
    return out;
  }

  private detailsReaders = new Map<string, RouteDetailsReader | null>();

  private detailsReaderFor(name: string, codec: VppCodec): RouteDetailsReader | null {
    return this.compiledOnce(this.detailsReaders, name, () => new RouteDetailsReader(codec, name), 'cannot compile the route reader for these VPP API definitions; decoding routes generically (slower)');
  }

  /**
   * fromDetails() for a detail read in place: returns the key, and leaves the
   * fingerprint in `h`. Same texts as fromDetails(), built from the bytes.
   */
  private fromRawDetail(reader: RouteDetailsReader, p: Buffer, h: { route: DetailRoute; path: DetailPath; fingerprint: string }): string {
    const d = h.route;
    reader.route(p, d);
    const family: Family = d.af === AF_IP6 ? 6 : 4;
    const prefix = bytesToPrefix(p, d.addrOffset, family === 4 ? 4 : 16, d.len);
    const key = vppKey(d.table, prefix);
    if (this.mode === 'v2' && d.src !== this.srcId) {
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
      for (let j = 0; j < n; j++) if (p[dp.nhOffset + j] !== 0) { zero = false; break; }
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
    if (this.mode === 'v2' && r.src !== this.srcId) return { key, fingerprint: `shadowed-by-source-${String(r.src)}` };
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
      paths.push({ kind, nh: zero ? undefined : bytesToAddr(nhBytes), sw: p.sw_if_index as number, weight: p.weight as number, preference: p.preference as number });
    }
    return { key, fingerprint: pathsFingerprint(paths) };
  }

  async stop(opts: { withdraw: boolean }): Promise<void> {
    this.loop?.stop();
    const c = this.client;
    try {
      if (opts.withdraw && c?.connected && this.st === 'up') {
        const owned = await this.readOwned();
        const dels: SinkChange[] = [...owned].map(([key, fingerprint]) => ({ op: 'delete', key, fingerprint }));
        for (let i = 0; i < dels.length; i += this.batchSize) {
          const rep = await this.apply(dels.slice(i, i + this.batchSize));
          if (rep.failed.length) this.logger.warn({ failed: rep.failed.length, first: rep.failed[0] }, 'some routes could not be withdrawn from VPP');
        }
        this.logger.info({ withdrawn: dels.length }, 'withdrew rtreflect routes from VPP');
      }
    } finally {
      await c?.close();
      this.setState('stopped');
    }
  }

  statusExtra(): SinkStatusExtra {
    return {
      socket: this.opts.socket,
      mode: this.mode ?? 'unknown',
      fibSourceId: this.mode === 'v2' ? this.srcId : undefined,
      ...this.counters,
      unmappedInterfaces: [...this.unmappedInterfaces],
      lastError: this.lastError,
    };
  }
}

/** A VPP sink (options as vppSinkType's schema gives them); construction has no side effects. */
export function createVppSink(options: VppSinkOptions, deps: VppSinkDeps = {}): Sink {
  return new VppSink(options, deps);
}
