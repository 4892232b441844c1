/**
 * The floor for single-change latency: a minimal reflector with no engine, no kernel state,
 * no chain and no resync. It subscribes to IPv4 route notifications in a namespace, turns each
 * route of protocol bird into its AddPathStream bytes (the new path, and a withdrawal of the
 * path it replaces) and writes them into one open stream. Timed the same way as rtreflect,
 * it shows what the kernel, gobgpd and the watch cost on their own on this machine.
 */
import { NetlinkSocket } from '../src/kernel/netlink-socket.js';
import { splitMessages } from '../src/kernel/netlink-frame.js';
import { parseRouteMessage } from '../src/kernel/netlink-messages.js';
import { RTM_NEWROUTE, RTNLGRP_IPV4_ROUTE } from '../src/kernel/netlink-constants.js';
import type { GobgpClient } from '../src/sinks/gobgp/gobgp-api.js';
import { encodePlan, encodeWithdraw, pathIdFor, planRoute, type OwnershipMark, type PathPlan } from '../src/sinks/gobgp/gobgp-paths.js';
import { parsePrefix } from '../src/util/ip.js';

const PROTO_BIRD = 12;
const AF_INET = 2;

export class RawReflector {
  private readonly sock: NetlinkSocket;
  private readonly stream: ReturnType<GobgpClient['openAddPathStream']>;
  /** prefix → the gateway gobgpd holds for it, for the withdrawal of the replaced path. */
  private readonly gateways = new Map<string, string>();

  constructor(
    netns: string,
    private readonly client: GobgpClient,
    private readonly mark: OwnershipMark,
  ) {
    this.stream = client.openAddPathStream();
    this.sock = NetlinkSocket.open({ groups: [RTNLGRP_IPV4_ROUTE], netns, protocolFilter: [PROTO_BIRD] });
    this.sock.on('data', (batch: Buffer) => this.onBatch(batch));
  }

  /** The gateway gobgpd holds for a prefix now (its path is withdrawn when the prefix changes). */
  holds(prefix: string, gateway: string): void {
    this.gateways.set(prefix, gateway);
  }

  private onBatch(batch: Buffer): void {
    const enc = this.client.encoder;
    for (const m of splitMessages(batch)) {
      if (m.type !== RTM_NEWROUTE) continue;
      const r = parseRouteMessage(m.payload);
      const gateway = r.nexthops[0]?.gateway;
      if (r.family !== AF_INET || r.protocol !== PROTO_BIRD || gateway === undefined) continue;
      const plan = planRoute(
        {
          family: 4,
          prefix: r.prefix,
          table: r.table,
          protocol: r.protocol,
          type: 'unicast',
          metric: r.metric,
          tos: r.tos,
          nexthops: [{ gateway, weight: 1 }],
        },
        this.mark,
      ) as PathPlan;
      const paths = encodePlan(plan);
      const old = this.gateways.get(r.prefix);
      if (old !== undefined && old !== gateway) paths.push(encodeWithdraw(parsePrefix(r.prefix), pathIdFor(old)));
      this.gateways.set(r.prefix, gateway);
      const bytes = paths.map((p) => enc.path(4, p.nlri_binary, p.pattrs_binary, p.identifier, p.is_withdraw === true));
      void this.stream.write(enc.request(undefined, bytes)).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.sock.close();
    await this.stream.end().catch(() => undefined);
  }
}
