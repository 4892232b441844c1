import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as w from '../../src/sinks/gobgp/bgp-wire.js';
import { parsePrefix } from '../../src/util/ip.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('BGP wire encoding', () => {
  it('encodes prefix NLRI, with and without an add-path identifier', () => {
    assert.equal(hex(w.encodePrefixNlri(parsePrefix('10.1.0.0/24'))), '180a0100');
    assert.equal(hex(w.encodePrefixNlri(parsePrefix('10.1.0.0/24'), 7)), '00000007180a0100');
    assert.equal(hex(w.encodePrefixNlri(parsePrefix('0.0.0.0/0'))), '00');
    assert.equal(hex(w.encodePrefixNlri(parsePrefix('2001:db8:1::/48'))), '3020010db80001');
    assert.equal(hex(w.encodePrefixNlri(parsePrefix('2001:db8::1/128'), 1)), '000000018020010db8000000000000000000000001');
    const d = w.decodePrefixNlri(w.encodePrefixNlri(parsePrefix('10.128.0.0/9'), 0xfffffffe), 4, true);
    assert.equal(d.pathId, 0xfffffffe);
    assert.equal(d.prefix.len, 9);
    assert.deepEqual([...d.prefix.addr], [10, 128, 0, 0]);
  });

  it('encodes ORIGIN, empty AS_PATH, NEXT_HOP, MED, LOCAL_PREF', () => {
    assert.equal(hex(w.encodeOrigin()), '40010100');
    assert.equal(hex(w.encodeEmptyAsPath()), '400200');
    assert.equal(hex(w.encodeNextHop('192.0.2.1')), '400304c0000201');
    assert.equal(hex(w.encodeMed(256)), '80040400000100');
    assert.equal(hex(w.encodeLocalPref(100)), '40050400000064');
  });

  it('encodes MP_REACH_NLRI for IPv6 with the NLRI inside', () => {
    const nlri = w.encodePrefixNlri(parsePrefix('2001:db8:1::/48'));
    assert.equal(
      hex(w.encodeMpReach(2, 1, '2001:db8::1', nlri)),
      '800e1c' + '0002' + '01' + '10' + '20010db8000000000000000000000001' + '00' + '3020010db80001',
    );
  });

  it('encodes COMMUNITIES and LARGE_COMMUNITY', () => {
    assert.equal(hex(w.encodeCommunities([w.parseCommunity('65000:1'), w.parseCommunity('1:65535')])), 'c00808fde800010001ffff');
    assert.equal(hex(w.encodeLargeCommunities([w.parseLargeCommunity('4294967294:0:1')])), 'c0200cfffffffe0000000000000001');
  });

  it('uses the extended length form above 255 bytes', () => {
    const many = Array.from({ length: 70 }, (_, i) => i);
    const b = w.encodeCommunities(many);
    assert.equal(b[0]! & 0x10, 0x10);
    assert.equal((b[2]! << 8) | b[3]!, 280);
    assert.deepEqual(w.decodeAttrs([b]).communities, many);
  });

  it('decodes what it encodes', () => {
    const nlri = w.encodePrefixNlri(parsePrefix('2001:db8:1::/48'));
    const a = w.decodeAttrs([
      w.encodeOrigin(),
      w.encodeEmptyAsPath(),
      w.encodeMed(5),
      w.encodeLocalPref(200),
      w.encodeCommunities([7]),
      w.encodeLargeCommunities([[1, 2, 3]]),
      w.encodeMpReach(2, 1, '2001:db8::1', nlri),
      w.encodeAttr(0xc0, 99, Uint8Array.of(1)),
    ]);
    assert.equal(a.origin, 0);
    assert.equal(a.asPathLength, 0);
    assert.equal(a.med, 5);
    assert.equal(a.localPref, 200);
    assert.deepEqual(a.communities, [7]);
    assert.deepEqual(a.largeCommunities, [[1, 2, 3]]);
    assert.deepEqual(a.mpReach?.nextHops, ['2001:db8::1']);
    assert.equal(hex(a.mpReach!.nlri), hex(nlri));
    assert.deepEqual(a.other, [99]);
  });

  it('refuses bad input with clear errors', () => {
    assert.throws(() => w.parseCommunity('65536:1'), /community "65536:1"/);
    assert.throws(() => w.parseCommunity('no-export'), /asn:value/);
    assert.throws(() => w.parseLargeCommunity('1:2'), /large community "1:2"/);
    assert.throws(() => w.encodeMed(-1), /MED -1/);
    assert.throws(() => w.encodeLocalPref(2 ** 32), /LOCAL_PREF/);
    assert.throws(() => w.encodeNextHop('2001:db8::1'), /must be an IPv4 address/);
    assert.throws(() => w.decodeAttrs([Uint8Array.of(0x40, 3, 4, 1, 2)]), /truncated/);
    assert.throws(() => w.decodeAttrs([Uint8Array.of(0x40, 3, 3, 1, 2, 3)]), /NEXT_HOP attribute has 3 bytes/);
    assert.throws(() => w.decodePrefixNlri(Uint8Array.of(33, 10, 0, 0, 0, 0), 4), /too long for IPv4/);
  });
});
