import type { ApplyReport, SinkChange } from '../../engine/sink.js';
import { addrToBytes, type Family } from '../../util/ip.js';
import type { VppClient } from './vpp-client.js';
import type { VppCodec, VppMessage } from './vpp-codec.js';
import { vppErrorName } from './vpp-retvals.js';
import { RouteLayout } from './vpp-route-layout.js';
import type { VppRouteProjection } from './vpp-route-projection.js';
import { compiledOnce, type VppSinkContext } from './vpp-sink-context.js';
import { FrameBatch } from './vpp-transport.js';
import { addressUnion, AF_IP4, AF_IP6, KIND_TYPE, NH_PROTO_IP4, NH_PROTO_IP6, NO_IF, parseKey, type WirePath, type WireRoute } from './vpp-wire-route.js';

const ERR_NO_SUCH_FIB = -3;
const ZERO4 = new Uint8Array(4),
  ZERO16 = new Uint8Array(16);

/** A table known to exist: a settled promise, told apart without awaiting it. */
const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Writes batches of route changes into VPP: the tables they need first, then every change
 * encoded into one buffer (through the compiled route layout, or the generic encoder when the
 * definitions do not fit it) and sent as one batch of requests; the report comes from the
 * replies' retvals.
 */
export class VppRouteWriter {
  /** `${family}:${table}` → tables known to exist (or being created). */
  private tables = new Map<string, Promise<void>>();
  /** Compiled route layouts by message name; null when the definitions do not fit it (then the generic encoder writes). */
  private layouts = new Map<string, RouteLayout | null>();

  constructor(
    private readonly ctx: VppSinkContext,
    private readonly projection: VppRouteProjection,
  ) {}

  /** A new connection: the tables VPP has now (what was known or being created before may be gone). */
  async learnTables(c: VppClient): Promise<void> {
    this.tables = new Map();
    for (const t of await c.dump('ip_table_dump')) {
      const tb = t.table as { table_id: number; is_ip6: boolean };
      this.tables.set(`${tb.is_ip6 ? 6 : 4}:${tb.table_id}`, RESOLVED);
    }
  }

  async apply(c: VppClient, codec: VppCodec, changes: SinkChange[]): Promise<ApplyReport> {
    const ctx = this.ctx;
    const name = ctx.mode === 'v2' ? 'ip_route_add_del_v2' : 'ip_route_add_del';
    const layout = this.layoutFor(name, codec);
    const n = changes.length;
    const tableErrors = await this.ensureTables(c, changes);
    /** Why a change was not sent (skip, table, encoding). */
    const notSent: (string | undefined)[] = new Array(n);
    const batch = new FrameBatch(n * (16 + (layout ? layout.size(1) : 256)));
    for (let i = 0; i < n; i++) {
      const ch = changes[i]!;
      const framed = batch.count;
      try {
        if (ch.op === 'upsert') {
          const route = ch.route;
          const table = this.projection.vppTable(route);
          if (typeof table === 'string') {
            notSent[i] = table;
            continue;
          }
          const ps = this.projection.pathsOf(route);
          if ('skip' in ps) {
            notSent[i] = ps.skip;
            continue;
          }
          const terr = tableErrors?.get(`${route.family}:${table}`);
          if (terr !== undefined) {
            notSent[i] = terr;
            continue;
          }
          const slash = route.prefix.lastIndexOf('/');
          const len = Number(route.prefix.slice(slash + 1));
          if (layout) {
            const paths = ps.paths;
            const at = batch.add(layout.size(paths.length));
            let off = layout.writeRoute(batch.buf, at, true, table, route.family, route.prefix.slice(0, slash), len, ctx.srcId, paths.length);
            for (const p of paths) {
              const nhFamily = p.nhFamily ?? route.family;
              layout.writePath(batch.buf, off, table, p.sw, p.weight, p.preference, KIND_TYPE[p.kind], nhFamily === 4 ? NH_PROTO_IP4 : NH_PROTO_IP6, p.nhBytes);
              off += layout.pathSize;
            }
          } else {
            const wr: WireRoute = { table, family: route.family, prefix: route.prefix, paths: ps.paths };
            const addr = addrToBytes(route.prefix.slice(0, slash));
            const body = this.routeBody(
              table,
              route.family,
              addr,
              len,
              ps.paths.map((p) => this.fibPath(p, wr)),
            );
            batch.addPayload(codec.encode(name, { is_add: true, is_multipath: false, route: body }));
          }
        } else {
          const k = parseKey(ch.key);
          if (layout) {
            const at = batch.add(layout.size(0));
            layout.writeRoute(batch.buf, at, false, k.table, k.family, k.prefix.slice(0, k.prefix.lastIndexOf('/')), k.len, ctx.srcId, 0);
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
    const report = this.report(changes, notSent, retvals, sendError);
    ctx.counters.writes += report.applied.length;
    ctx.counters.writeFailures += report.failed.length;
    return report;
  }

  /** Each change's outcome: not sent (and why), the whole send failed, or VPP's retval for it. */
  private report(changes: SinkChange[], notSent: (string | undefined)[], retvals: Int32Array | undefined, sendError: string | undefined): ApplyReport {
    const report: ApplyReport = { applied: [], failed: [] };
    let j = 0;
    for (let i = 0; i < changes.length; i++) {
      const ch = changes[i]!;
      const why = notSent[i];
      if (why !== undefined) {
        report.failed.push({ key: ch.key, error: why });
        continue;
      }
      j++;
      if (sendError !== undefined) {
        report.failed.push({ key: ch.key, error: sendError });
        continue;
      }
      const rv = retvals![j - 1]!;
      if (ch.op === 'upsert') {
        if (rv !== 0) {
          const table = this.projection.vppTable(ch.route) as number;
          report.failed.push({ key: ch.key, error: `VPP refused ${ch.route.prefix} in table ${table}: retval ${rv} (${vppErrorName(rv)})` });
          continue;
        }
        if (this.ctx.mode === 'v1') this.ctx.recorded.set(ch.key, ch.fingerprint);
        else this.ctx.shadowed.wrote(ch.key, ch.fingerprint);
      } else {
        // A missing table holds nothing to delete.
        if (rv !== 0 && rv !== ERR_NO_SUCH_FIB) {
          const k = parseKey(ch.key);
          report.failed.push({ key: ch.key, error: `VPP refused to delete ${k.prefix} in table ${k.table}: retval ${rv} (${vppErrorName(rv)})` });
          continue;
        }
        this.ctx.recorded.delete(ch.key);
        this.ctx.shadowed.deleted(ch.key);
      }
      report.applied.push(ch.key);
    }
    return report;
  }

  private layoutFor(name: string, codec: VppCodec): RouteLayout | null {
    return compiledOnce(
      this.ctx,
      this.layouts,
      name,
      () => new RouteLayout(codec, name),
      'cannot compile the route writer for these VPP API definitions; using the generic encoder (slower)',
    );
  }

  /** Creates the tables the batch's upserts need (once each); returns `family:table` → why it failed. */
  private async ensureTables(c: VppClient, changes: SinkChange[]): Promise<Map<string, string> | undefined> {
    if (!this.ctx.opts.createTables) return undefined;
    let want: Map<string, Promise<void>> | undefined;
    for (const ch of changes) {
      if (ch.op !== 'upsert') continue;
      const table = this.projection.vppTable(ch.route);
      if (typeof table === 'string' || table === 0) continue;
      const k = `${ch.route.family}:${table}`;
      if (want?.has(k)) continue;
      const known = this.tables.get(k);
      if (known === RESOLVED) continue;
      (want ??= new Map()).set(k, known ?? this.ensureTable(c, table, ch.route.family));
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

  private ensureTable(c: VppClient, table: number, family: Family): Promise<void> {
    if (table === 0 || !this.ctx.opts.createTables) return Promise.resolve();
    const k = `${family}:${table}`;
    let p = this.tables.get(k);
    if (!p) {
      p = c.call('ip_table_add_del', { is_add: true, table: { table_id: table, is_ip6: family === 6, name: '' } }).then(() => {
        this.ctx.logger.info({ table, family }, 'created VPP table');
        if (this.tables.get(k) === p) this.tables.set(k, RESOLVED);
      });
      p.catch(() => this.tables.delete(k));
      this.tables.set(k, p);
    }
    return p;
  }

  /** A path for the generic encoder. */
  private fibPath(p: WirePath, r: WireRoute): VppMessage {
    const nhE = p.nh !== undefined ? this.projection.nextHop(p.nh) : undefined;
    const nhFamily = nhE ? nhE.family : r.family;
    const nhBytes = nhE ? nhE.bytes : nhFamily === 4 ? ZERO4 : ZERO16;
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

  /** A route for the generic encoder. */
  private routeBody(table: number, family: Family, addr: Uint8Array, len: number, paths: VppMessage[]): VppMessage {
    const body: VppMessage = {
      table_id: table,
      stats_index: 0,
      prefix: { address: { af: family === 4 ? AF_IP4 : AF_IP6, un: addressUnion(family, addr) }, len },
      paths,
    };
    if (this.ctx.mode === 'v2') body.src = this.ctx.srcId;
    return body;
  }
}
