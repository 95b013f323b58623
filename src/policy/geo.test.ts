import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadGeoIndex, IpDatabaseError, PACKAGED_UNMAPPED_BLOCKS } from './geo.ts';
import { parseIp, parseIPv6, parseCidr, canonicalIp } from './ip.ts';

const fx = (name: string) => new URL(`../../test/fixtures/policy/${name}`, import.meta.url).pathname;

test('IP parsing: IPv4, IPv6 forms, IPv4-mapped, zones; garbage rejected', () => {
  assert.deepEqual(parseIp('8.8.8.8'), { v: 4, n: 0x08080808 });
  assert.deepEqual(parseIp('::ffff:8.8.8.8'), { v: 4, n: 0x08080808 });
  assert.equal(canonicalIp(parseIp('2001:db8::1')!), '2001:0db8:0000:0000:0000:0000:0000:0001');
  assert.equal(canonicalIp(parseIp('2001:DB8:0:0:0:0:0:1')!), '2001:0db8:0000:0000:0000:0000:0000:0001');
  assert.equal(canonicalIp(parseIp('fe80::1%eth0')!), 'fe80:0000:0000:0000:0000:0000:0000:0001');
  assert.deepEqual([...parseIPv6('::')!], [0, 0, 0, 0]);
  assert.deepEqual([...parseIPv6('::1.2.3.4')!], [0, 0, 0, 0x01020304]);
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '01.2.3.4x', '1:2:3', '1::2::3', 'gggg::1', '1:2:3:4:5:6:7:8:9', '12345::', 'hello']) {
    assert.equal(parseIp(bad), null, bad);
  }
  assert.deepEqual(parseCidr('203.0.113.0/25'), { v: 4, start: 0xcb007100, end: 0xcb00717f });
  assert.equal(parseCidr('10.0.0.0/33'), null);
  const r6 = parseCidr('2001:db8::/32')!;
  assert.equal(r6.v, 6);
});

test('fixture databases: IPv4 dotted, IPv6 decimal and colon, quoted organisation names', () => {
  const geo = loadGeoIndex({ countryFiles: [fx('country-v4.csv'), fx('country-v6-num.csv')], asnFiles: [fx('asn-v4.csv'), fx('asn-v6.csv')] });
  assert.deepEqual(geo.lookup('8.8.8.8'), { country: 'US', asn: 15169, asnName: 'Google LLC' });
  assert.deepEqual(geo.lookup('175.45.178.1'), { country: 'KP', asn: null, asnName: null });
  assert.deepEqual(geo.lookup('::ffff:81.2.69.160'), { country: 'GB', asn: 20712, asnName: 'Andrews & Arnold Ltd' });
  assert.deepEqual(geo.lookup('203.0.113.9'), { country: 'NL', asn: 64500, asnName: 'Example "Hosting" Services' });
  assert.deepEqual(geo.lookup('52.95.1.1'), { country: null, asn: 16509, asnName: 'Amazon.com, Inc.' });
  assert.deepEqual(geo.lookup('2001:db8:1234::5'), { country: 'DE', asn: 64501, asnName: 'Documentation Net' });
  assert.deepEqual(geo.lookup('2001:db9::1'), { country: null, asn: null, asnName: null });
  assert.deepEqual(geo.lookup('9.9.9.9'), { country: null, asn: null, asnName: null });
  assert.deepEqual(geo.lookup('not an ip'), { country: null, asn: null, asnName: null });
  assert.equal(geo.stats.countryRanges, 6);
});

test('malformed IP databases are rejected with file and line', () => {
  const cases: [string, RegExp][] = [
    ['bad-country-range.csv', /bad-country-range\.csv:2: range start is after its end/],
    ['bad-country-code.csv', /bad-country-code\.csv:1: country must be a two-letter code/],
    ['bad-address.csv', /bad-address\.csv:2: bad address range/],
    ['missing.csv', /missing\.csv: cannot read/],
    ['assistant-answers.txt', /assistant-answers\.txt:1: bad address range "Choosing a database.{40,70}\.\.\."/],
  ];
  for (const [file, re] of cases) {
    assert.throws(() => loadGeoIndex({ countryFiles: [fx(file)], asnFiles: [fx('asn-v4.csv')] }), (err: unknown) => err instanceof IpDatabaseError && re.test(err.message), file);
  }
  assert.throws(() => loadGeoIndex({ countryFiles: [fx('country-v4.csv')], asnFiles: [fx('country-v4.csv')] }), /ASN must be an unsigned integer/);
});

test('the installed @ip-location-db packages load and answer IPv4 and IPv6', () => {
  const geo = loadGeoIndex();
  // Local clients (loopback, private, link-local) are unknown without loading the tables (22 MB, seconds of CPU).
  for (const ip of ['127.0.0.1', '10.1.2.3', '172.20.0.9', '192.168.1.1', '100.64.0.1', '169.254.1.1', '::1', '::', 'fe80::1', 'fd12::1', '::ffff:127.0.0.1']) {
    assert.deepEqual(geo.lookup(ip), { country: null, asn: null, asnName: null }, ip);
  }
  assert.equal(geo.loaded, false, 'the packaged tables are not loaded for local addresses');
  assert.equal(geo.lookup('8.8.8.8').asn, 15169);
  assert.equal(geo.loaded, true, 'a public address loads them');
  // What a local address is answered without the tables must be what the tables say.
  for (const block of PACKAGED_UNMAPPED_BLOCKS) assert.equal(geo.mapsAnyOf(block), false, `the packaged files map addresses in ${block}`);
  assert.equal(geo.mapsAnyOf('8.8.8.0/24'), true, 'mapsAnyOf finds ranges');
  assert.equal(geo.mapsAnyOf('2001:4860::/32'), true, 'mapsAnyOf finds IPv6 ranges');
  assert.ok(geo.stats.countryRanges > 100_000 && geo.stats.asnRanges > 100_000);
  assert.equal(geo.lookup('8.8.8.8').asn, 15169);
  assert.equal(geo.lookup('8.8.8.8').country, 'US');
  assert.equal(geo.lookup('2001:4860:4860::8888').asn, 15169);
  assert.equal(geo.lookup('127.0.0.1').country, null);
  assert.equal(loadGeoIndex(), geo, 'loaded once per process');
});
