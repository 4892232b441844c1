import { E2eTopology } from './e2e-topology.js';
const t = await E2eTopology.create({ tag: 'scr', sidecar: false });
try {
  await t.startBird({ v4: ['route 198.51.100.0/24 via 192.0.2.10;', 'route 198.51.101.0/24 via 192.0.2.10 via 192.0.2.11;'], v6: ['route 2001:db8:1::/48 via 2001:db8:ffff::10;'] });
  await t.startGobgpdA();
  t.writeConfig(`source: { protocols: [bird], tables: [main], families: [4, 6] }
engine: { holdDown: { enabled: false } }
handlers:
  - type: bgp-attributes
    medFromMetric: true
    communities: ["65001:100"]
` + t.sinkYaml());
  const t0 = Date.now();
  await t.startRtreflect();
  console.log('ready in', Date.now() - t0);
  await t.waitEstablished();
  console.log('established in', Date.now() - t0);
  await new Promise((r) => setTimeout(r, 1500));
  console.log(await t.gobgp('b', ['global', 'rib', '-a', 'ipv4', '-j']));
  console.log(await t.gobgp('b', ['global', 'rib', '-a', 'ipv6', '-j']));
  console.log(JSON.stringify(await t.ribB(4)));
  console.log(await t.gobgp('b', ['neighbor', '10.255.0.1', '-j']));
  console.log(JSON.stringify(await t.status()).slice(0, 1500));
} finally {
  await t.destroy();
}
