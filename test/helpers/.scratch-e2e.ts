import { E2eTopology } from './e2e-topology.js';
const t = await E2eTopology.create({ tag: 'scr', sidecar: false });
try {
  await t.startBird({ v4: ['route 198.51.100.0/24 via 192.0.2.10;'] });
  await t.startGobgpdA();
  t.writeConfig(`source: { protocols: [bird], tables: [main], families: [4, 6] }
engine: { holdDown: { enabled: false } }
handlers:
  - type: bgp-attributes
    medFromMetric: true
` + t.sinkYaml());
  await t.startRtreflect();
  await t.a.execBatch(['route add 203.0.113.0/25 via 192.0.2.10 proto bird metric 77']);
  await new Promise((r) => setTimeout(r, 1000));
  console.log((await t.a.exec('ip', ['route'])).stdout);
  console.log(await t.gobgp('a', ['global', 'rib', '-a', 'ipv4']));
  console.log(t.rtreflect!.log().split('\n').slice(-5).join('\n'));
} finally {
  await t.destroy();
}
