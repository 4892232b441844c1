/**
 * A FIB behind the fake VPP (test/helpers/vpp.ts) that behaves as VPP's does for the messages
 * the VPP sink uses: tables to create and list, routes per FIB source (an add replaces that
 * source's paths, a delete of a route not there succeeds), and ip_route_v2_dump as VPP's: each
 * entry with the source that wins it and that source's paths only; given a source, only the
 * entries that source wins (an entry another source wins is left out even where the given one
 * has paths too); given 0, every entry.
 */
import type { VppMessage } from '../../src/sinks/vpp/vpp-codec.js';
import type { FakePeer, FakeVppOptions } from './vpp.js';

const ERR_NO_SUCH_FIB = -3;

interface Prefix {
  address: { af: number; un: { ip4?: Uint8Array; ip6?: Uint8Array } };
  len: number;
}
interface FibEntry {
  table: number;
  prefix: Prefix;
  bySource: Map<number, VppMessage[]>;
}

export class FakeVppFib {
  /** `${is_ip6}:${table_id}`. */
  readonly tables = new Set(['false:0', 'true:0']);
  readonly entries = new Map<string, FibEntry>();
  /** Source id → priority (lower wins, as in VPP). */
  private readonly priorities = new Map<number, number>();
  private nextSource = 21;

  /** The fake's `handle` option. */
  readonly handle: NonNullable<FakeVppOptions['handle']> = (name, req, peer) => {
    const ctx = req.context;
    switch (name) {
      case 'fib_source_add': {
        const id = this.nextSource++;
        this.priorities.set(id, (req.src as { priority: number }).priority);
        peer.reply('fib_source_add_reply', { context: ctx, retval: 0, id });
        return;
      }
      case 'lcp_itf_pair_get':
        peer.reply('lcp_itf_pair_get_reply', { context: ctx, retval: 0, cursor: 0 });
        return;
      case 'ip_table_add_del': {
        const t = req.table as { table_id: number; is_ip6: boolean };
        if (req.is_add) this.tables.add(`${t.is_ip6}:${t.table_id}`);
        peer.reply('ip_table_add_del_reply', { context: ctx, retval: 0 });
        return;
      }
      case 'ip_table_dump':
        for (const t of this.tables) {
          const [ip6, id] = t.split(':');
          peer.reply('ip_table_details', { context: ctx, table: { table_id: Number(id), is_ip6: ip6 === 'true', name: '' } });
        }
        return;
      case 'ip_route_add_del_v2':
        peer.reply('ip_route_add_del_v2_reply', { context: ctx, retval: this.addDel(req), stats_index: 0 });
        return;
      case 'ip_route_v2_dump':
        this.dump(req, peer);
        return;
    }
  };

  /** Takes another FIB source's route out of the FIB (what it shadowed shows again). */
  removeForeign(src: number, table: number, prefix: Prefix): void {
    const k = keyOf(table, prefix);
    const e = this.entries.get(k);
    e?.bySource.delete(src);
    if (e && e.bySource.size === 0) this.entries.delete(k);
  }

  /** Puts a route of another FIB source straight into the FIB (another injector). */
  addForeign(src: number, priority: number, route: { table_id: number; prefix: Prefix; paths: VppMessage[] }): void {
    this.priorities.set(src, priority);
    this.entry(route.table_id, route.prefix).bySource.set(src, route.paths);
  }

  private entry(table: number, prefix: Prefix): FibEntry {
    const k = keyOf(table, prefix);
    let e = this.entries.get(k);
    if (!e) this.entries.set(k, (e = { table, prefix, bySource: new Map() }));
    return e;
  }

  private addDel(req: VppMessage): number {
    const r = req.route as { table_id: number; src: number; prefix: Prefix; paths: VppMessage[] };
    if (req.is_multipath) throw new Error('fake VPP FIB: is_multipath is not modelled');
    if (!this.tables.has(`${r.prefix.address.af === 1}:${r.table_id}`)) return ERR_NO_SUCH_FIB;
    const k = keyOf(r.table_id, r.prefix);
    if (req.is_add) {
      this.entry(r.table_id, oneMember(r.prefix)).bySource.set(r.src, r.paths.map(onePathMember));
      return 0;
    }
    // VPP allows the removal of an entry that does not exist.
    const e = this.entries.get(k);
    e?.bySource.delete(r.src);
    if (e && e.bySource.size === 0) this.entries.delete(k);
    return 0;
  }

  private dump(req: VppMessage, peer: FakePeer): void {
    const src = req.src as number;
    const t = req.table as { table_id: number; is_ip6: boolean };
    for (const e of this.entries.values()) {
      if (e.table !== t.table_id || (e.prefix.address.af === 1) !== t.is_ip6) continue;
      const best = [...e.bySource.keys()].sort((a, b) => (this.priorities.get(a) ?? a) - (this.priorities.get(b) ?? b))[0]!;
      if (src !== 0 && best !== src) continue;
      peer.reply('ip_route_v2_details', { context: req.context, route: { table_id: e.table, src: best, prefix: e.prefix, paths: e.bySource.get(best)! } });
    }
  }
}

/*
 * A decoded address union carries every member (ip4 is ip6's first bytes); the encoder writes
 * the first one present. Keep only the one the address family or next-hop protocol names.
 */
function oneMember(p: Prefix): Prefix {
  const u = p.address.un;
  return { ...p, address: { af: p.address.af, un: p.address.af === 1 ? { ip6: u.ip6! } : { ip4: u.ip4! } } };
}

function onePathMember(path: VppMessage): VppMessage {
  const nh = path.nh as { address: { ip4?: Uint8Array; ip6?: Uint8Array } } & VppMessage;
  const a = nh.address;
  return { ...path, nh: { ...nh, address: path.proto === 1 ? { ip6: a.ip6! } : { ip4: a.ip4! } } };
}

function keyOf(table: number, p: Prefix): string {
  const a = p.address.af === 1 ? p.address.un.ip6! : p.address.un.ip4!;
  return `${table}|${p.address.af}|${Buffer.from(a).toString('hex')}/${p.len}`;
}
