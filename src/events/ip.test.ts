// Addresses in events are canonical text; network keys derived from them must not depend on where
// that text compressed a run of zeros.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkPrefix, normaliseIp } from './ip.ts';

test('every address of an IPv6 /48 has one key, wherever its canonical text compresses zeros', () => {
  const same = ['2001:db8::5', '2001:db8:0:1::5', '2001:db8:0:ffff::1', '2001:db8:0:0:1::', '2001:0db8:0000:abcd:0:0:0:9'];
  const keys = same.map((a) => networkPrefix(normaliseIp(a)!, 3, 3));
  assert.deepEqual(new Set(keys), new Set(['2001:db8:0']), `one /48 key for ${same.join(', ')}: got ${keys.join(', ')}`);
  assert.equal(networkPrefix(normaliseIp('2001:db8:1::5')!, 3, 3), '2001:db8:1', 'a neighbouring /48 has its own key');
  assert.equal(networkPrefix(normaliseIp('::1')!, 3, 3), '0:0:0');
  assert.equal(networkPrefix(normaliseIp('2001:db8::5')!, 2, 2), '2001:db8', 'the /32');
  assert.equal(networkPrefix('64:ff9b::1.2.3.4', 3, 3), '64:ff9b:0', 'an embedded IPv4 tail fills two groups');
});

test('IPv4: the /24 and /16 as their leading octets', () => {
  assert.equal(networkPrefix('203.0.113.9', 3, 3), '203.0.113');
  assert.equal(networkPrefix('203.0.113.9', 2, 2), '203.0');
});

test('random addresses: the key is the expanded address\'s leading groups', () => {
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 2000; i++) {
    // Zero runs are common in real addresses: each group is zero half the time.
    const groups = Array.from({ length: 8 }, () => (next() % 2 === 0 ? 0 : next() % 0x10000));
    const canonical = normaliseIp(groups.map((g) => g.toString(16)).join(':'))!;
    for (const n of [2, 3] as const) {
      const want = groups.slice(0, n).map((g) => g.toString(16)).join(':');
      assert.equal(networkPrefix(canonical, n, n), want, `${canonical}, first ${n} groups`);
    }
  }
});
