import { test } from 'node:test';
import { packageRoot } from '../../src/util/package-info.js';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { splitMessages, type NlMsg } from '../../src/kernel/netlink-frame.js';
import { KernelState, type IngestResult } from '../../src/kernel/kernel-state.js';
import { encodeAddrMessage, encodeLinkMessage, encodeNexthopMessage, encodeRouteMessage, type RouteSpec } from '../../src/kernel/netlink-messages.js';
import {
  IFF_LOWER_UP,
  IFF_UP,
  NLM_F_APPEND,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTM_DELADDR,
  RTM_DELLINK,
  RTM_DELNEXTHOP,
  RTM_DELROUTE,
  RTM_F_CLONED,
  RTN_BLACKHOLE,
  RTN_LOCAL,
  RTNH_F_DEAD,
  RTNH_F_LINKDOWN,
} from '../../src/kernel/netlink-constants.js';

const ADD = NLM_F_EXCL | NLM_F_CREATE;
const APPEND = NLM_F_CREATE | NLM_F_APPEND;
const PREPEND = NLM_F_CREATE;
const REPLACE = NLM_F_REPLACE;
const UP = IFF_UP | IFF_LOWER_UP;

const one = (buf: Buffer): NlMsg => [...splitMessages(buf)][0]!;

function setup(opts: { protocols?: number[] | null; tables?: number[] | null } = {}) {
  const warnings: string[] = [];
  const s = new KernelState(
    {
      protocols: opts.protocols === null ? null : new Set(opts.protocols ?? [12]),
      tables: opts.tables === null ? null : new Set(opts.tables ?? [254, 1000]),
      families: new Set([4, 6]),
    },
    { onWarning: (m, d) => warnings.push(`${m} ${JSON.stringify(d)}`) },
  );
  const feed = (buf: Buffer): IngestResult => s.ingest(one(buf));
  const route = (nlFlags: number, spec: RouteSpec): string[] => show(feed(encodeRouteMessage({ nlFlags, protocol: 12, ...spec })));
  const del = (spec: RouteSpec): string[] => show(feed(encodeRouteMessage({ msgType: RTM_DELROUTE, protocol: 12, ...spec })));
  return { s, feed, route, del, warnings };
}

function paths(r: { nexthops: { gateway?: string; ifindex?: number; weight: number }[] }): string {
  return r.nexthops.map((n) => `${n.gateway ?? `dev${n.ifindex}`}${n.weight > 1 ? `*${n.weight}` : ''}`).join(',');
}
function show(res: IngestResult): string[] {
  return res.events.map((e) =>
    `${e.op} ${e.route.prefix}${e.route.table !== 254 ? `@${e.route.table}` : ''} ${e.route.type === 'unicast' ? paths(e.route) : e.route.type}`.trimEnd(),
  );
}

const P4 = '192.0.2.0/24';
const P6 = '2001:db8:100::/48';

test('IPv4 add, re-add without change, replace, delete', () => {
  const { s, route, del } = setup();
  assert.deepEqual(route(ADD, { prefix: P4, gateway: '10.1.0.2', oif: 3 }), [`add ${P4} 10.1.0.2`]);
  assert.deepEqual(route(0, { prefix: P4, gateway: '10.1.0.2', oif: 3 }), [], 'a re-announcement of the same value is no event');
  assert.deepEqual(route(REPLACE, { prefix: P4, gateway: '10.1.0.9', oif: 3 }), [`add ${P4} 10.1.0.9`]);
  assert.equal(s.size, 1);
  assert.equal(s.get(P4)?.nexthops[0]?.gateway, '10.1.0.9', 'the old path is not left behind');
  assert.deepEqual(del({ prefix: P4, gateway: '10.1.0.9', oif: 3 }), [`del ${P4} 10.1.0.9`]);
  assert.equal(s.size, 0);
  assert.deepEqual([...s.routes()], []);
});

test('IPv4 aliases: append shadows nothing, prepend takes over, replace hits the first, delete reveals the next', () => {
  const { s, route, del } = setup();
  assert.deepEqual(route(ADD, { prefix: P4, gateway: '10.1.0.2', oif: 3 }), [`add ${P4} 10.1.0.2`]);
  assert.deepEqual(route(APPEND, { prefix: P4, gateway: '10.2.0.2', oif: 5 }), [], 'the kernel only uses the first alias');
  assert.deepEqual(route(PREPEND, { prefix: P4, gateway: '10.2.0.3', oif: 5 }), [`add ${P4} 10.2.0.3`]);
  assert.deepEqual(route(REPLACE, { prefix: P4, gateway: '10.1.0.9', oif: 3 }), [`add ${P4} 10.1.0.9`]);
  assert.deepEqual(del({ prefix: P4, gateway: '10.2.0.2', oif: 5 }), [], 'deleting a shadowed alias changes nothing');
  assert.deepEqual(del({ prefix: P4, gateway: '10.1.0.9', oif: 3 }), [`add ${P4} 10.1.0.2`]);
  assert.deepEqual(del({ prefix: P4, gateway: '10.1.0.2', oif: 3 }), [`del ${P4} 10.1.0.2`]);
  assert.equal(s.size, 0);
});

test('IPv4 key includes tos and metric', () => {
  const { s, route } = setup();
  route(ADD, { prefix: P4, gateway: '10.1.0.2', oif: 3 });
  route(ADD, { prefix: P4, gateway: '10.1.0.3', oif: 3, metric: 20 });
  route(ADD, { prefix: P4, gateway: '10.1.0.4', oif: 3, tos: 0x10 });
  assert.equal(s.size, 3);
  assert.deepEqual([...s.routes()].map((r) => `${r.metric}/${r.tos}`).sort(), ['0/0', '0/16', '20/0']);
});

test('another protocol replacing our route removes it; its later delete emits nothing', () => {
  const { s, route, del } = setup();
  route(ADD, {
    prefix: P4,
    multipath: [
      { gateway: '10.1.0.2', ifindex: 3, weight: 3 },
      { gateway: '10.2.0.2', ifindex: 5 },
    ],
  });
  assert.deepEqual(route(REPLACE, { prefix: P4, gateway: '10.1.0.2', oif: 3, protocol: 4 }), [`del ${P4} 10.1.0.2*3,10.2.0.2`]);
  assert.deepEqual(del({ prefix: P4, gateway: '10.1.0.2', oif: 3, protocol: 4 }), []);
  assert.deepEqual(route(ADD, { prefix: '10.77.0.0/16', gateway: '10.1.0.2', oif: 3, protocol: 4 }), [], 'other protocols are not reflected');
  assert.equal(s.size, 0);
});

test('another protocol prepended before ours does not hide ours (as `ip route show proto bird` lists it)', () => {
  const { s, route, del } = setup();
  route(ADD, { prefix: P4, gateway: '10.1.0.2', oif: 3 });
  assert.deepEqual(route(PREPEND, { prefix: P4, gateway: '10.9.0.1', oif: 3, protocol: 4 }), []);
  assert.equal(s.size, 1);
  assert.deepEqual(del({ prefix: P4, gateway: '10.9.0.1', oif: 3, protocol: 4 }), []);
  assert.deepEqual(del({ prefix: P4, gateway: '10.1.0.2', oif: 3 }), [`del ${P4} 10.1.0.2`]);
});

test('our route appended behind an alias we never saw is reported at once, and stays when that alias goes', () => {
  const { s, route, del } = setup();
  assert.deepEqual(route(APPEND, { prefix: P4, gateway: '10.1.0.2', oif: 3 }), [`add ${P4} 10.1.0.2`]);
  assert.equal(s.size, 1);
  assert.deepEqual(del({ prefix: P4, gateway: '10.9.9.9', oif: 3, protocol: 4 }), []);
});

test('table 1000 from RTA_TABLE (header says 252); filters on table, protocol, type, clones', () => {
  const { s, route } = setup();
  assert.deepEqual(route(ADD, { prefix: P4, table: 1000, metric: 50, gateway: '10.1.0.2', oif: 3 }), [`add ${P4}@1000 10.1.0.2`]);
  assert.deepEqual(route(ADD, { prefix: P4, table: 252, gateway: '10.1.0.2', oif: 3 }), [], 'table 252 is not watched');
  assert.deepEqual(route(ADD, { prefix: '10.5.0.0/16', gateway: '10.1.0.2', oif: 3, rtmFlags: RTM_F_CLONED }), []);
  assert.deepEqual(route(ADD, { prefix: '10.6.0.0/16', type: RTN_LOCAL, oif: 1 }), []);
  assert.deepEqual(route(ADD, { prefix: '10.7.0.0/16', type: RTN_BLACKHOLE }), ['add 10.7.0.0/16 blackhole']);
  assert.equal(s.get(`1000|${P4}|50`)?.table, 1000);
  assert.equal(s.size, 2);
});

test('multipath: weights, dead and linkdown paths are not usable', () => {
  const { route } = setup();
  assert.deepEqual(
    route(ADD, {
      prefix: P4,
      multipath: [
        { gateway: '10.2.0.2', ifindex: 5 },
        { gateway: '10.1.0.2', ifindex: 3, weight: 3 },
        { gateway: '10.3.0.2', ifindex: 7, flags: RTNH_F_DEAD },
      ],
    }),
    [`add ${P4} 10.1.0.2*3,10.2.0.2`],
  );
  assert.deepEqual(route(ADD, { prefix: '10.8.0.0/16', gateway: '10.3.0.2', oif: 7, rtmFlags: RTNH_F_LINKDOWN }), []);
  assert.deepEqual(route(ADD, { prefix: '10.9.0.0/16', via: '2001:db8:1::2', oif: 3 }), ['add 10.9.0.0/16 2001:db8:1::2']);
});

test('IPv6: append adds siblings (full set in RTA_MULTIPATH), sibling delete removes one path', () => {
  const { s, route, del } = setup();
  assert.deepEqual(route(ADD, { prefix: P6, metric: 1024, gateway: '2001:db8:1::2', oif: 3 }), [`add ${P6} 2001:db8:1::2`]);
  assert.deepEqual(
    route(APPEND, {
      prefix: P6,
      metric: 1024,
      multipath: [
        { gateway: '2001:db8:2::2', ifindex: 5 },
        { gateway: '2001:db8:1::2', ifindex: 3 },
      ],
    }),
    [`add ${P6} 2001:db8:1::2,2001:db8:2::2`],
  );
  assert.deepEqual(del({ prefix: P6, metric: 1024, gateway: '2001:db8:1::2', oif: 3 }), [`add ${P6} 2001:db8:2::2`]);
  assert.deepEqual(del({ prefix: P6, metric: 1024, gateway: '2001:db8:2::2', oif: 5 }), [`del ${P6} 2001:db8:2::2`]);
  assert.equal(s.size, 0);
});

test('IPv6: replace of a multipath route by one path, whole-route delete carrying all paths', () => {
  const { route, del } = setup();
  route(PREPEND, {
    prefix: P6,
    metric: 1024,
    multipath: [
      { gateway: '2001:db8:1::2', ifindex: 3, weight: 5 },
      { gateway: '2001:db8:2::2', ifindex: 5 },
    ],
  });
  assert.deepEqual(route(REPLACE, { prefix: P6, metric: 1024, gateway: '2001:db8:1::9', oif: 3 }), [`add ${P6} 2001:db8:1::9`]);
  assert.deepEqual(
    route(PREPEND, {
      prefix: P6,
      metric: 1024,
      multipath: [
        { gateway: '2001:db8:1::7', ifindex: 3 },
        { gateway: '2001:db8:1::9', ifindex: 3 },
      ],
    }),
    [`add ${P6} 2001:db8:1::7,2001:db8:1::9`],
  );
  assert.deepEqual(
    del({
      prefix: P6,
      metric: 1024,
      multipath: [
        { gateway: '2001:db8:1::9', ifindex: 3 },
        { gateway: '2001:db8:1::7', ifindex: 3 },
      ],
    }),
    [`del ${P6} 2001:db8:1::7,2001:db8:1::9`],
  );
});

test('IPv6: a sibling of another protocol joins our route, which keeps its protocol', () => {
  const { s, route } = setup();
  route(ADD, { prefix: P6, metric: 1024, gateway: '2001:db8:1::2', oif: 3 });
  assert.deepEqual(
    route(APPEND, {
      prefix: P6,
      metric: 1024,
      protocol: 4,
      multipath: [
        { gateway: '2001:db8:2::2', ifindex: 5 },
        { gateway: '2001:db8:1::2', ifindex: 3 },
      ],
    }),
    [`add ${P6} 2001:db8:1::2,2001:db8:2::2`],
  );
  assert.equal(s.get(P6)?.protocol, 12);
});

test('IPv6 stream captured from Linux 6.18 (append, sibling delete, replace, prepend, cross-protocol sibling)', () => {
  const { s, feed } = setup();
  const events: string[] = [];
  for (const m of splitMessages(readFileSync(join(packageRoot(), 'test/fixtures/rtnl-ipv6-siblings.bin')))) events.push(...show(s.ingest(m)));
  assert.deepEqual(events, [
    'add 2001:db8:100::/48 2001:db8:1::2',
    'add 2001:db8:100::/48 2001:db8:1::2,2001:db8:2::2',
    'add 2001:db8:100::/48 2001:db8:1::2,2001:db8:2::2,2001:db8:2::3',
    'add 2001:db8:100::/48 2001:db8:1::2,2001:db8:2::3',
    'add 2001:db8:100::/48 2001:db8:1::9',
    'add 2001:db8:100::/48 2001:db8:1::7,2001:db8:1::9',
    'del 2001:db8:100::/48 2001:db8:1::7,2001:db8:1::9',
    'add 2001:db8:200::/48 2001:db8:1::2*5,2001:db8:2::2',
    'add 2001:db8:200::/48 2001:db8:1::2,2001:db8:2::5',
    'del 2001:db8:200::/48 2001:db8:1::2,2001:db8:2::5',
    'add 2001:db8:300::/48 2001:db8:1::2',
    'add 2001:db8:300::/48 2001:db8:1::2,2001:db8:2::2',
    'add 2001:db8:400::/48 dev3',
    'add 2001:db8:500::/48 blackhole',
  ]);
  assert.equal(s.size, 3 + 0);
  void feed;
});

test('nexthop objects: pending id, groups with weights, replace, member delete, group delete', () => {
  const { s, feed, route, warnings } = setup();
  feed(encodeLinkMessage({ ifindex: 3, ifname: 'eth1', flags: UP }));
  // A route naming an object not seen yet is held, not dropped.
  assert.deepEqual(route(ADD, { prefix: '203.0.114.0/24', nhid: 1 }), []);
  assert.match(warnings.join(), /nexthop object not seen yet.*"nhid":1/);
  assert.deepEqual(show(feed(encodeNexthopMessage({ id: 1, gateway: '10.1.0.2', oif: 3, protocol: 11 }))), ['add 203.0.114.0/24 10.1.0.2']);
  assert.equal(s.get('203.0.114.0/24')?.nexthops[0]?.ifname, 'eth1');
  feed(encodeNexthopMessage({ id: 2, gateway: '10.2.0.2', oif: 5 }));
  feed(encodeNexthopMessage({ id: 3, gateway: '2001:db8:1::2', oif: 3 }));
  feed(encodeNexthopMessage({ id: 10, group: [{ id: 1, weight: 4 }, { id: 2 }] }));
  assert.deepEqual(route(ADD, { prefix: '203.0.113.0/24', nhid: 10 }), ['add 203.0.113.0/24 10.1.0.2*4,10.2.0.2']);
  assert.deepEqual(route(ADD, { prefix: '203.0.115.0/24', nhid: 3 }), ['add 203.0.115.0/24 2001:db8:1::2'], 'an IPv6 nexthop serves an IPv4 route');
  // Replacing the object changes every route using it, directly or through a group.
  assert.deepEqual(show(feed(encodeNexthopMessage({ id: 1, gateway: '10.1.0.5', oif: 3, nlFlags: REPLACE }))).sort(), [
    'add 203.0.113.0/24 10.1.0.5*4,10.2.0.2',
    'add 203.0.114.0/24 10.1.0.5',
  ]);
  // The kernel's own follow-up NEWROUTE (compat mode) is no news.
  assert.deepEqual(route(REPLACE, { prefix: '203.0.114.0/24', nhid: 1, gateway: '10.1.0.5', oif: 3 }), []);
  // Member 2 deleted: the group shrinks (single path: weight 1).
  assert.deepEqual(show(feed(encodeNexthopMessage({ msgType: RTM_DELNEXTHOP, id: 2 }))), ['add 203.0.113.0/24 10.1.0.5']);
  assert.deepEqual(show(feed(encodeNexthopMessage({ id: 10, group: [{ id: 1, weight: 4 }] }))), [], 'the group update the kernel sends is no news');
  // Member 1 deleted: the group is emptied and deleted; the kernel removes the routes without RTM_DELROUTE.
  assert.deepEqual(show(feed(encodeNexthopMessage({ msgType: RTM_DELNEXTHOP, id: 1 }))).sort(), ['del 203.0.113.0/24 10.1.0.5', 'del 203.0.114.0/24 10.1.0.5']);
  assert.deepEqual(show(feed(encodeNexthopMessage({ msgType: RTM_DELNEXTHOP, id: 10 }))), []);
  assert.deepEqual(show(feed(encodeNexthopMessage({ msgType: RTM_DELNEXTHOP, id: 3 }))), ['del 203.0.115.0/24 2001:db8:1::2']);
  assert.equal(s.size, 0);
});

test('blackhole nexthop object makes a blackhole route', () => {
  const { feed, route } = setup();
  feed(encodeNexthopMessage({ id: 9, blackhole: true }));
  assert.deepEqual(route(ADD, { prefix: '10.0.0.0/8', nhid: 9 }), ['add 10.0.0.0/8 blackhole']);
});

test('nexthop stream captured from Linux 6.18', () => {
  const { s } = setup();
  const events: string[] = [];
  for (const m of splitMessages(readFileSync(join(packageRoot(), 'test/fixtures/rtnl-nexthop-objects.bin')))) events.push(...show(s.ingest(m)));
  assert.deepEqual(events, [
    'add 203.0.113.0/24 10.1.0.2*4,10.2.0.2',
    'add 203.0.114.0/24 10.1.0.2',
    'add 203.0.115.0/24 2001:db8:1::2',
    'add 2001:db8:600::/48 2001:db8:1::2',
    'add 203.0.114.0/24 10.1.0.5',
    'add 203.0.113.0/24 10.1.0.5*4,10.2.0.2',
    'add 203.0.113.0/24 10.1.0.5',
    'del 203.0.113.0/24 10.1.0.5',
    'del 203.0.114.0/24 10.1.0.5',
    'del 203.0.115.0/24 2001:db8:1::2',
    'del 2001:db8:600::/48 2001:db8:1::2',
  ]);
  assert.equal(s.size, 0);
});

test('link down: routes whose only paths use it are deleted at once, multipath loses the path; recheck asked', () => {
  const { s, feed, route } = setup();
  feed(encodeLinkMessage({ ifindex: 3, ifname: 'eth1', flags: UP }));
  feed(encodeLinkMessage({ ifindex: 7, ifname: 'eth3', flags: UP }));
  route(ADD, { prefix: '192.0.3.0/24', gateway: '10.3.0.2', oif: 7 });
  route(ADD, {
    prefix: '192.0.4.0/24',
    multipath: [
      { gateway: '10.3.0.2', ifindex: 7 },
      { gateway: '10.1.0.2', ifindex: 3 },
    ],
  });
  route(ADD, { prefix: '192.0.5.0/24', gateway: '10.1.0.2', oif: 3 });
  assert.equal(s.get('192.0.3.0/24')?.nexthops[0]?.ifname, 'eth3');
  const down = feed(encodeLinkMessage({ ifindex: 7, ifname: 'eth3', flags: 0 }));
  assert.deepEqual(show(down).sort(), ['add 192.0.4.0/24 10.1.0.2', 'del 192.0.3.0/24 10.3.0.2']);
  assert.deepEqual(down.recheck, [4]);
  assert.equal(s.size, 2);
  // Coming back: the kernel revives paths silently, so a re-dump is asked for.
  assert.deepEqual(feed(encodeLinkMessage({ ifindex: 7, ifname: 'eth3', flags: UP })).recheck, [4]);
  // A link we hold no routes on: no re-dump.
  assert.deepEqual(feed(encodeLinkMessage({ ifindex: 9, ifname: 'eth9', flags: 0 })).recheck, []);
  assert.equal(s.ifname(7), 'eth3');
  const gone = feed(encodeLinkMessage({ msgType: RTM_DELLINK, ifindex: 3, ifname: 'eth1', flags: UP }));
  assert.deepEqual(show(gone).sort(), ['del 192.0.4.0/24 10.1.0.2', 'del 192.0.5.0/24 10.1.0.2']);
  assert.equal(s.ifname(3), undefined);
});

test('IPv4 delete that names no alias exactly: the guess is applied and a re-dump asked; an exact one asks none', () => {
  const { feed, route } = setup();
  route(ADD, { prefix: '10.8.0.0/24', gateway: '10.1.0.2', oif: 3 });
  route(APPEND, { prefix: '10.8.0.0/24', gateway: '10.1.0.3', oif: 3 });
  const exact = feed(encodeRouteMessage({ msgType: RTM_DELROUTE, protocol: 12, prefix: '10.8.0.0/24', gateway: '10.1.0.3', oif: 3 }));
  assert.deepEqual(exact.recheck, []);
  // As when a deletion is replayed after a re-dump that no longer listed the route.
  const guessed = feed(encodeRouteMessage({ msgType: RTM_DELROUTE, protocol: 12, prefix: '10.8.0.0/24', gateway: '10.1.0.9', oif: 3 }));
  assert.deepEqual(guessed.recheck, [4]);
});

test('carrier loss (LOWER_UP cleared) makes paths unusable like admin down', () => {
  const { feed, route } = setup();
  feed(encodeLinkMessage({ ifindex: 7, ifname: 'eth3', flags: UP }));
  route(ADD, { prefix: P6, metric: 1024, gateway: '2001:db8:3::2', oif: 7 });
  const r = feed(encodeLinkMessage({ ifindex: 7, ifname: 'eth3', flags: IFF_UP }));
  assert.deepEqual(show(r), [`del ${P6} 2001:db8:3::2`]);
  assert.deepEqual(r.recheck, [6]);
});

test('IPv4 address removal asks for a re-dump', () => {
  const { feed, route } = setup();
  route(ADD, { prefix: P4, gateway: '10.1.0.2', oif: 3 });
  assert.deepEqual(feed(encodeAddrMessage({ msgType: RTM_DELADDR, ifindex: 3, address: '10.1.0.1', prefixlen: 24 })).recheck, [4]);
  assert.deepEqual(feed(encodeAddrMessage({ msgType: RTM_DELADDR, ifindex: 3, address: '2001:db8::1', prefixlen: 64 })).recheck, []);
});

test('snapshot: exactly the difference; unchanged dump gives nothing; abort leaves the state alone', () => {
  const { s, route } = setup();
  route(ADD, { prefix: '10.1.0.0/16', gateway: '10.0.0.1', oif: 2 });
  route(ADD, { prefix: '10.2.0.0/16', gateway: '10.0.0.1', oif: 2 });
  route(ADD, { prefix: '10.3.0.0/16', gateway: '10.0.0.1', oif: 2 });
  route(ADD, { prefix: P6, gateway: '2001:db8::1', oif: 2 });
  const dump = (specs: RouteSpec[]) => {
    for (const sp of specs) s.ingestSnapshot(one(encodeRouteMessage({ protocol: 12, nlFlags: 2, ...sp })));
  };
  s.beginSnapshot(4);
  dump([
    { prefix: '10.1.0.0/16', gateway: '10.0.0.1', oif: 2 },
    { prefix: '10.2.0.0/16', gateway: '10.0.0.9', oif: 2 },
    { prefix: '10.4.0.0/16', gateway: '10.0.0.1', oif: 2 },
    { prefix: '10.5.0.0/16', gateway: '10.0.0.1', oif: 2, protocol: 4 },
  ]);
  const ev = s
    .endSnapshot(4)
    .map((e) => `${e.op} ${e.route.prefix} ${paths(e.route)}`)
    .sort();
  assert.deepEqual(ev, ['add 10.2.0.0/16 10.0.0.9', 'add 10.4.0.0/16 10.0.0.1', 'del 10.3.0.0/16 10.0.0.1']);
  assert.equal(s.size, 4, 'the IPv6 route is untouched by an IPv4 snapshot');
  const before = [...s.routes()].map((r) => `${r.prefix} ${paths(r)}`).sort();
  s.beginSnapshot(4);
  dump([{ prefix: '10.1.0.0/16', gateway: '10.0.0.7', oif: 2 }]);
  s.abortSnapshot(4);
  assert.deepEqual([...s.routes()].map((r) => `${r.prefix} ${paths(r)}`).sort(), before);
  s.beginSnapshot(4);
  dump([
    { prefix: '10.1.0.0/16', gateway: '10.0.0.1', oif: 2 },
    { prefix: '10.2.0.0/16', gateway: '10.0.0.9', oif: 2 },
    { prefix: '10.4.0.0/16', gateway: '10.0.0.1', oif: 2 },
  ]);
  assert.deepEqual(s.endSnapshot(4), []);
});

test('beside a re-dump a change tells its event at once; the dump listing the key earlier is undone by the replay of that change', () => {
  const { s, route } = setup();
  route(ADD, { prefix: '10.1.0.0/16', gateway: '10.0.0.1', oif: 2 });
  route(ADD, { prefix: '10.2.0.0/16', gateway: '10.0.0.1', oif: 2 });
  const dump = (specs: RouteSpec[]) => {
    for (const sp of specs) s.ingestSnapshot(one(encodeRouteMessage({ protocol: 12, nlFlags: 2, ...sp })));
  };
  s.beginSnapshot(4);
  // The dump lists 10.1/16 as it was, then a live replace of it arrives: its event is not held back.
  dump([{ prefix: '10.1.0.0/16', gateway: '10.0.0.1', oif: 2 }]);
  const live = one(encodeRouteMessage({ protocol: 12, nlFlags: NLM_F_CREATE | NLM_F_REPLACE, prefix: '10.1.0.0/16', gateway: '10.0.0.5', oif: 2 }));
  assert.deepEqual(show(s.ingest(live)), ['add 10.1.0.0/16 10.0.0.5']);
  dump([{ prefix: '10.2.0.0/16', gateway: '10.0.0.1', oif: 2 }]);
  s.endSnapshot(4);
  // The replay of what arrived during the dump leaves the live value in place.
  s.ingest(live);
  assert.deepEqual([...s.routes()].map((r) => `${r.prefix} ${paths(r)}`).sort(), ['10.1.0.0/16 10.0.0.5', '10.2.0.0/16 10.0.0.1']);
});

test('a re-dump of an unchanged table keeps every route as it was: nothing replaced, nothing to compare at its end', () => {
  const { s, route } = setup();
  route(ADD, { prefix: '10.1.0.0/16', gateway: '10.0.0.1', oif: 2 });
  route(ADD, { prefix: '10.2.0.0/16', gateway: '10.0.0.2', oif: 2 });
  const before = [...s.routes()];
  s.beginSnapshot(4);
  for (const sp of [
    { prefix: '10.1.0.0/16', gateway: '10.0.0.1', oif: 2 },
    { prefix: '10.2.0.0/16', gateway: '10.0.0.9', oif: 2 },
  ])
    s.ingestSnapshot(one(encodeRouteMessage({ protocol: 12, nlFlags: 2, ...sp })));
  assert.deepEqual(show({ events: s.endSnapshot(4), recheck: [] }), ['add 10.2.0.0/16 10.0.0.9']);
  const after = [...s.routes()];
  assert.equal(
    after.find((r) => r.prefix === '10.1.0.0/16'),
    before.find((r) => r.prefix === '10.1.0.0/16'),
    'the unchanged route is the same object (what the engine holds stays valid)',
  );
});

test('the end of a re-dump in slices: the same difference as at once, and a change applied between slices is kept', async () => {
  const specs = (gw: (i: number) => string, n: number): RouteSpec[] =>
    Array.from({ length: n }, (_, i) => ({ prefix: `10.${i}.0.0/16`, gateway: gw(i), oif: 2 }));
  const load = () => {
    const { s, route } = setup();
    for (const sp of specs(() => '10.0.0.1', 10)) route(ADD, sp);
    s.beginSnapshot(4);
    // The re-dump: 10.9/16 is gone, 10.3/16 moved; the rest unchanged.
    for (const sp of specs((i) => (i === 3 ? '10.0.0.7' : '10.0.0.1'), 9)) s.ingestSnapshot(one(encodeRouteMessage({ protocol: 12, nlFlags: 2, ...sp })));
    return s;
  };
  const state = (s: KernelState) => [...s.routes()].map((r) => `${r.prefix} ${paths(r)}`).sort();
  const atOnce = load();
  const expected = show({ events: atOnce.endSnapshot(4), recheck: [] }).sort();
  assert.deepEqual(expected, ['add 10.3.0.0/16 10.0.0.7', 'del 10.9.0.0/16 10.0.0.1']);

  const sliced = load();
  let turns = 0;
  let live: string[] = [];
  const events = await sliced.endSnapshotInSlices(
    4,
    async () => {
      // Between two slices: a route the dump never listed is added, and one it listed is replaced.
      if (turns++ === 1) {
        live = show(sliced.ingest(one(encodeRouteMessage({ protocol: 12, nlFlags: NLM_F_CREATE, prefix: '10.200.0.0/16', gateway: '10.0.0.5', oif: 2 }))));
        live.push(
          ...show(
            sliced.ingest(one(encodeRouteMessage({ protocol: 12, nlFlags: NLM_F_CREATE | NLM_F_REPLACE, prefix: '10.0.0.0/16', gateway: '10.0.0.6', oif: 2 }))),
          ),
        );
      }
    },
    3,
  );
  assert.ok(turns >= 3, `the end ran in slices (${turns} turns between them)`);
  assert.deepEqual(live, ['add 10.200.0.0/16 10.0.0.5', 'add 10.0.0.0/16 10.0.0.6'], 'the changes went out at once');
  // The end's own difference, plus the changes again (telling a key's state twice is harmless).
  assert.deepEqual(show({ events, recheck: [] }).sort(), [...expected, 'add 10.0.0.0/16 10.0.0.6', 'add 10.200.0.0/16 10.0.0.5'].sort());
  assert.deepEqual(state(sliced), [...state(atOnce).filter((x) => !x.startsWith('10.0.0.0/16')), '10.0.0.0/16 10.0.0.6', '10.200.0.0/16 10.0.0.5'].sort());
});

test('beside a first dump a change tells its event at once; the dump listing that key replaces it, and the replay restores it', () => {
  const { s } = setup();
  const dump = (sp: RouteSpec) => s.ingestSnapshot(one(encodeRouteMessage({ protocol: 12, nlFlags: 2, ...sp })));
  const state = () => [...s.routes()].map((r) => `${r.prefix} ${paths(r)}`).sort();
  s.beginSnapshot(4);
  dump({ prefix: '10.1.0.0/16', gateway: '10.0.0.1', oif: 2 });
  // A live add of a key the dump has not reached yet, and a live replace of one it has listed.
  const add = one(encodeRouteMessage({ protocol: 12, nlFlags: NLM_F_CREATE, prefix: '10.3.0.0/16', gateway: '10.0.0.5', oif: 2 }));
  const replace = one(encodeRouteMessage({ protocol: 12, nlFlags: NLM_F_CREATE | NLM_F_REPLACE, prefix: '10.1.0.0/16', gateway: '10.0.0.6', oif: 2 }));
  assert.deepEqual(show(s.ingest(add)), ['add 10.3.0.0/16 10.0.0.5']);
  assert.deepEqual(show(s.ingest(replace)), ['add 10.1.0.0/16 10.0.0.6']);
  // The dump then lists the added key (as the kernel has it): one route, not two aliases of it.
  dump({ prefix: '10.3.0.0/16', gateway: '10.0.0.5', oif: 2 });
  dump({ prefix: '10.4.0.0/16', gateway: '10.0.0.1', oif: 2 });
  const events = show({ events: [...s.takeSnapshotEvents(), ...s.endSnapshot(4)], recheck: [] });
  assert.deepEqual(events.sort(), ['add 10.1.0.0/16 10.0.0.1', 'add 10.4.0.0/16 10.0.0.1']);
  assert.deepEqual(state(), ['10.1.0.0/16 10.0.0.6', '10.3.0.0/16 10.0.0.5', '10.4.0.0/16 10.0.0.1']);
  assert.equal(s.size, 3);
  // The replay of what arrived during the dump changes nothing more.
  assert.deepEqual(show(s.ingest(add)), []);
  assert.deepEqual(show(s.ingest(replace)), []);
});

test('a first dump aborted after a change beside it: the change is taken back with the rest', () => {
  const { s } = setup();
  s.beginSnapshot(4);
  s.ingestSnapshot(one(encodeRouteMessage({ protocol: 12, nlFlags: 2, prefix: '10.1.0.0/16', gateway: '10.0.0.1', oif: 2 })));
  const live = one(encodeRouteMessage({ protocol: 12, nlFlags: NLM_F_CREATE, prefix: '10.3.0.0/16', gateway: '10.0.0.5', oif: 2 }));
  assert.deepEqual(show(s.ingest(live)), ['add 10.3.0.0/16 10.0.0.5']);
  // Nothing of the dump was taken yet, so only the change that went out is taken back.
  assert.deepEqual(show({ events: s.abortSnapshot(4), recheck: [] }), ['del 10.3.0.0/16 10.0.0.5']);
  assert.equal(s.size, 0);
});

test('first snapshot of an empty state: every route is an add, aliases kept in dump order; abort leaves it empty', () => {
  const { s } = setup();
  const snap = (msgs: RouteSpec[]) => {
    s.beginSnapshot(4);
    for (const sp of msgs) s.ingestSnapshot(one(encodeRouteMessage({ protocol: 12, ...sp })));
  };
  snap([
    { prefix: '10.1.0.0/16', gateway: '10.0.0.1', oif: 2 },
    { prefix: '10.1.0.0/16', gateway: '10.0.0.2', oif: 2, protocol: 4 },
    { prefix: '10.2.0.0/16', gateway: '10.0.0.1', oif: 2, protocol: 4 },
    { prefix: '10.2.0.0/16', gateway: '10.0.0.3', oif: 2 },
  ]);
  s.abortSnapshot(4);
  assert.equal(s.size, 0);
  assert.deepEqual([...s.routes()], []);
  snap([
    { prefix: '10.1.0.0/16', gateway: '10.0.0.1', oif: 2 },
    { prefix: '10.1.0.0/16', gateway: '10.0.0.2', oif: 2, protocol: 4 },
    { prefix: '10.2.0.0/16', gateway: '10.0.0.1', oif: 2, protocol: 4 },
    { prefix: '10.2.0.0/16', gateway: '10.0.0.3', oif: 2 },
  ]);
  assert.deepEqual(show({ events: s.endSnapshot(4), recheck: [] }).sort(), ['add 10.1.0.0/16 10.0.0.1', 'add 10.2.0.0/16 10.0.0.3']);
  // The other protocol's alias in front is still known: deleting ours leaves nothing of ours.
  const del = s.ingest(one(encodeRouteMessage({ msgType: RTM_DELROUTE, prefix: '10.2.0.0/16', gateway: '10.0.0.3', oif: 2, protocol: 12 })));
  assert.deepEqual(show(del), ['del 10.2.0.0/16 10.0.0.3']);
  assert.equal(s.size, 1);
});

test('first snapshot: its adds can be taken while the dump goes on; an abort afterwards takes them back', () => {
  const { s } = setup();
  const feed = (sp: RouteSpec) => s.ingestSnapshot(one(encodeRouteMessage({ protocol: 12, ...sp })));
  s.beginSnapshot(4);
  feed({ prefix: '10.1.0.0/16', gateway: '10.0.0.1', oif: 2 });
  feed({ prefix: '10.2.0.0/16', gateway: '10.0.0.1', oif: 2, protocol: 4 });
  assert.deepEqual(show({ events: s.takeSnapshotEvents(), recheck: [] }), ['add 10.1.0.0/16 10.0.0.1']);
  assert.deepEqual(s.takeSnapshotEvents(), []);
  feed({ prefix: '10.3.0.0/16', gateway: '10.0.0.3', oif: 2 });
  assert.deepEqual(show({ events: s.endSnapshot(4), recheck: [] }), ['add 10.3.0.0/16 10.0.0.3'], 'the end gives only what was not taken');
  // A re-dump's events are only known at its end.
  s.beginSnapshot(4);
  feed({ prefix: '10.1.0.0/16', gateway: '10.0.0.9', oif: 2 });
  assert.deepEqual(s.takeSnapshotEvents(), []);
  assert.deepEqual(show({ events: s.endSnapshot(4), recheck: [] }).sort(), ['add 10.1.0.0/16 10.0.0.9', 'del 10.3.0.0/16 10.0.0.3']);
  // An aborted first dump whose adds went out: deletes for them.
  const { s: s2 } = setup();
  s2.beginSnapshot(4);
  s2.ingestSnapshot(one(encodeRouteMessage({ protocol: 12, prefix: '10.5.0.0/16', gateway: '10.0.0.1', oif: 2 })));
  assert.equal(s2.takeSnapshotEvents().length, 1);
  assert.deepEqual(show({ events: s2.abortSnapshot(4), recheck: [] }), ['del 10.5.0.0/16 10.0.0.1']);
  assert.equal(s2.size, 0);
});

test('snapshot: our alias counts even when another protocol is listed first; theirs are not reported', () => {
  const { s } = setup();
  s.beginSnapshot(4);
  s.ingestSnapshot(one(encodeRouteMessage({ prefix: P4, gateway: '10.9.0.1', oif: 2, protocol: 4 })));
  s.ingestSnapshot(one(encodeRouteMessage({ prefix: P4, gateway: '10.1.0.1', oif: 2, protocol: 12 })));
  s.ingestSnapshot(one(encodeRouteMessage({ prefix: '10.0.0.0/8', gateway: '10.9.0.1', oif: 2, protocol: 4 })));
  assert.deepEqual(show({ events: s.endSnapshot(4), recheck: [] }), [`add ${P4} 10.1.0.1`]);
  assert.equal(s.size, 1);
  const del = s.ingest(one(encodeRouteMessage({ msgType: RTM_DELROUTE, prefix: P4, gateway: '10.9.0.1', oif: 2, protocol: 4 })));
  assert.deepEqual(show(del), []);
});

test('malformed message: ERR_NETLINK_MALFORMED and the state is unchanged', () => {
  const { s, route } = setup();
  route(ADD, { prefix: P4, gateway: '10.1.0.2', oif: 3 });
  const m = one(encodeRouteMessage({ prefix: P4, gateway: '10.1.0.3', oif: 3, nlFlags: REPLACE, protocol: 12 }));
  const cut = { ...m, payload: m.payload.subarray(0, m.payload.length - 2) };
  assert.throws(() => s.ingest(cut), { code: 'ERR_NETLINK_MALFORMED' });
  assert.equal(s.get(P4)?.nexthops[0]?.gateway, '10.1.0.2');
});

test('routes with the same paths share one next-hop array', () => {
  const { s, route } = setup({ protocols: null, tables: null });
  route(ADD, { prefix: '10.1.0.0/16', gateway: '10.0.0.1', oif: 2 });
  route(ADD, { prefix: '10.2.0.0/16', gateway: '10.0.0.1', oif: 2 });
  assert.equal(s.get('10.1.0.0/16')!.nexthops, s.get('10.2.0.0/16')!.nexthops);
});

test('a nexthop replace re-announces every alias using it with NLM_F_REPLACE: not a replace of the first alias', () => {
  const { s, feed, route } = setup();
  feed(encodeNexthopMessage({ id: 1, gateway: '10.1.0.2', oif: 3 }));
  assert.deepEqual(route(ADD, { prefix: P4, gateway: '10.9.0.2', oif: 3 }), [`add ${P4} 10.9.0.2`]);
  assert.deepEqual(route(APPEND, { prefix: P4, nhid: 1, gateway: '10.1.0.2', oif: 3 }), [], 'the appended alias is not used');
  // `ip nexthop replace id 1 ...`: the kernel re-announces the second alias (flags REPLACE), then the object.
  const res = feed(encodeRouteMessage({ nlFlags: REPLACE, protocol: 12, prefix: P4, nhid: 1, gateway: '10.1.0.7', oif: 3 }));
  assert.deepEqual(show(res), [], 'the first alias stays in use');
  assert.deepEqual(res.recheck, [4], 'ambiguous with a real replace: a re-dump confirms');
  assert.deepEqual(show(feed(encodeNexthopMessage({ id: 1, gateway: '10.1.0.7', oif: 3 }))), []);
  assert.equal(s.get(P4)?.nexthops[0]?.gateway, '10.9.0.2');
  // A real replace of the only alias still replaces it.
  const { route: route2 } = setup();
  assert.deepEqual(route2(ADD, { prefix: P4, gateway: '10.9.0.2', oif: 3 }), [`add ${P4} 10.9.0.2`]);
  assert.deepEqual(route2(REPLACE, { prefix: P4, gateway: '10.9.0.3', oif: 3 }), [`add ${P4} 10.9.0.3`]);
});
