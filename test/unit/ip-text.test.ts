import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { addrToBytes, bytesToAddr, bytesToPrefix, familyOf } from '../../src/util/ip.js';

/** The WHATWG URL parser prints IPv6 hosts in RFC 5952 form: an independent reference. */
const reference6 = (b: Uint8Array): string => {
  const groups = Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
};

test('IPv6 text is RFC 5952: longest zero run (>= 2 groups, first on a tie) compressed, lower case, no leading zeros', () => {
  const cases: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['0000:0000:0000:0000:0000:0000:0000:0000', '::'],
    ['2001:db8:0:1:0:0:0:0', '2001:db8:0:1::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['fe80:0:0:0:0:0:0:abcd', 'fe80::abcd'],
  ];
  for (const [input, want] of cases) assert.equal(bytesToAddr(addrToBytes(input)), want, input);
  // Random addresses rich in zero groups, against the reference.
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let n = 0; n < 5000; n++) {
    const b = new Uint8Array(16);
    for (let i = 0; i < 8; i++) {
      const r = rnd();
      const v = r < 0.5 ? 0 : r < 0.7 ? 1 : Math.floor(rnd() * 65536);
      b[2 * i] = v >> 8;
      b[2 * i + 1] = v & 255;
    }
    assert.equal(bytesToAddr(b), reference6(b));
  }
});

test('IPv4 text and prefixes from bytes at an offset', () => {
  const buf = Buffer.from([9, 9, 192, 0, 2, 255, 9]);
  assert.equal(bytesToAddr(buf, 2, 4), '192.0.2.255');
  assert.equal(bytesToPrefix(buf, 2, 4, 32), '192.0.2.255/32');
  assert.equal(bytesToAddr(new Uint8Array(4)), '0.0.0.0');
  assert.equal(bytesToPrefix(addrToBytes('2a00:1::'), 0, 16, 48), '2a00:1::/48');
  assert.throws(() => bytesToAddr(new Uint8Array(5)), { code: 'ERR_BAD_ADDRESS' });
});

test("address text parses exactly as Node's own checks accept it, whatever the form (hand parser and fallback agree)", () => {
  let seed = 11;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const v6Text = (): string => {
    const g = Array.from({ length: 8 }, () => (rnd() < 0.5 ? 0 : Math.floor(rnd() * 65536)));
    let parts = g.map((v) => (rnd() < 0.2 ? v.toString(16).padStart(4, '0') : v.toString(16)));
    if (rnd() < 0.3) parts = parts.map((p) => p.toUpperCase());
    if (rnd() < 0.6) {
      // Compress a random run of groups (zero or not: "::" over non-zero groups is another address, still valid text).
      const a = Math.floor(rnd() * 8),
        b = a + 1 + Math.floor(rnd() * (8 - a));
      return `${parts.slice(0, a).join(':')}::${parts.slice(b).join(':')}`;
    }
    return parts.join(':');
  };
  const v4Text = (): string => Array.from({ length: 4 }, () => String(pick([0, 1, 9, 10, 99, 100, 199, 255, 256, Math.floor(rnd() * 300)]))).join('.');
  const mutate = (t: string): string => {
    const i = Math.floor(rnd() * (t.length + 1));
    const r = rnd();
    if (r < 0.3) return t.slice(0, i) + pick([':', '.', '0', 'f', 'g', '::', '%', ' ', '1.2.3.4']) + t.slice(i);
    if (r < 0.6) return t.slice(0, i) + t.slice(i + 1);
    return t;
  };
  let valid = 0;
  for (let n = 0; n < 20000; n++) {
    const base = rnd() < 0.5 ? v6Text() : v4Text();
    const t = rnd() < 0.5 ? mutate(base) : base;
    const kind = isIP(t);
    if (kind === 0) {
      assert.throws(() => addrToBytes(t), /not an IPv4 or IPv6 address/, t);
      continue;
    }
    valid++;
    const b = addrToBytes(t);
    assert.equal(b.length, kind === 4 ? 4 : 16, t);
    const want = kind === 4 ? t : new URL(`http://[${t}]/`).hostname.slice(1, -1);
    assert.equal(bytesToAddr(b), want, t);
    assert.equal(familyOf(t), kind, t);
  }
  assert.ok(valid > 5000, `enough valid cases (${valid})`);
});
