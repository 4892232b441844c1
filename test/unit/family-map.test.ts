import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FamilyMap, isV6Key } from '../../src/engine/family-map.js';

test('a family map behaves as one Map over keys of both families, VRF-qualified ones included', () => {
  const m = new FamilyMap<number>();
  const keys = ['10.0.0.0/24', '2001:db8::/32', 'vrf:blue|10.0.0.0/24', 'vrf:blue|2001:db8::/32', '7|192.0.2.0/24', '7|::/0'];
  keys.forEach((k, i) => m.set(k, i));
  assert.equal(m.size, 6);
  for (const [i, k] of keys.entries()) assert.equal(m.get(k), i);
  assert.deepEqual([...m].map(([k]) => k).sort(), [...keys].sort());
  assert.deepEqual([...m.values()].sort(), [0, 1, 2, 3, 4, 5]);
  m.set('vrf:blue|10.0.0.0/24', 9);
  assert.equal(m.get('vrf:blue|10.0.0.0/24'), 9);
  assert.equal(m.size, 6, 'a key set again is not a second entry');
  assert.equal(m.delete('2001:db8::/32'), true);
  assert.equal(m.delete('2001:db8::/32'), false);
  assert.equal(m.get('2001:db8::/32'), undefined);
  assert.equal(m.size, 5);
});

test('keys go by the family of the prefix they end with, whatever comes before it', () => {
  for (const k of ['10.0.0.0/24', '0.0.0.0/0', 'vrf:a:b|192.0.2.0/24', '254|10.1.0.0/16', 'vrf:x|255.255.255.255/32']) assert.equal(isV6Key(k), false, k);
  for (const k of ['::/0', '2001:db8::/32', 'fe80::1/128', 'vrf:blue|2001:db8:0:1::/64', '7|::ffff:c000:201/128']) assert.equal(isV6Key(k), true, k);
});
