import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, Registry } from 'prom-client';
import { BulkHistogram } from '../../src/metrics/bulk-histogram.js';

test("the bulk histogram scrapes exactly as prom-client's Histogram fed the same observations", async () => {
  const buckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30];
  const theirs = new Registry(),
    ours = new Registry();
  const h = new Histogram({ name: 'x_seconds', help: 'Time "to" sink', labelNames: ['sink'], buckets, registers: [theirs] });
  const b = new BulkHistogram('x_seconds', 'Time "to" sink', 'sink', buckets, ours);
  const obs = { gobgp: b.child('gobgp'), 'vpp "main"': b.child('vpp "main"') };
  // Values on, below, between and above the bounds, for two series (one with a label value to escape).
  const values = [0, 0.0005, 0.00051, 0.001, 0.0015, 0.002, 0.0049, 0.01, 0.3, 1, 4.9, 5, 29, 30, 31, 1e6];
  for (const [i, v] of values.entries()) {
    for (const sink of ['gobgp', 'vpp "main"'] as const) {
      if (sink === 'vpp "main"' && i % 3 === 0) continue;
      h.observe({ sink }, v);
      obs[sink](v);
    }
  }
  assert.equal(await ours.metrics(), await theirs.metrics());
  ours.resetMetrics();
  h.reset();
  h.zero({ sink: 'gobgp' });
  h.zero({ sink: 'vpp "main"' });
  assert.equal(await ours.metrics(), await theirs.metrics(), 'reset: the series stay, at zero');
});
