import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHostingList, loadTorExits, loadVpnRanges, NetworkClassifier, NetworkListError } from './networks.ts';
import { shippedFile } from './hooks.ts';
import { parseIp } from './ip.ts';

test('shipped hosting list and samples load; classification explains itself', () => {
  const hosting = loadHostingList(shippedFile('policy/hosting-asns.txt'));
  assert.equal(hosting.asns.get(16509), 'Amazon AWS');
  const tor = loadTorExits(shippedFile('policy/samples/tor-exits.sample.txt'));
  assert.ok(tor.has('192.0.2.45') && tor.size === 3);
  const vpn = loadVpnRanges(shippedFile('policy/samples/vpn-ranges.sample.txt'));
  const c = new NetworkClassifier(hosting, tor, vpn);
  assert.deepEqual(c.classify(parseIp('52.95.1.1'), 16509, 'Amazon.com, Inc.'), { kinds: ['hosting'], reasons: ['hosting:AS16509 Amazon AWS'] });
  assert.deepEqual(c.classify(parseIp('1.2.3.4'), 99999, 'Example Hosting Services GmbH').kinds, ['hosting']);
  assert.deepEqual(c.classify(parseIp('1.2.3.4'), 3320, 'Deutsche Telekom AG').kinds, []);
  assert.deepEqual(c.classify(parseIp('203.0.113.150'), null, null), { kinds: ['vpn'], reasons: ['vpn:OtherVPN'] });
  assert.deepEqual(c.classify(parseIp('2001:db8:ffff:1::2'), null, null).reasons, ['vpn:ExampleVPN']);
  assert.deepEqual(c.classify(parseIp('198.51.100.7'), null, null).kinds, ['tor']);
  assert.deepEqual(c.classify(parseIp('2001:db8:1:0::7'), null, null).kinds, ['tor']);
});

test('malformed network lists are rejected with file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-net-'));
  const write = (name: string, text: string) => { const p = join(dir, name); writeFileSync(p, text); return p; };
  try {
    assert.throws(() => loadHostingList(write('h.txt', 'AS16509 Amazon\nASX Broken\n')), (e: unknown) => e instanceof NetworkListError && /h\.txt:2/.test(e.message));
    assert.throws(() => loadHostingList(write('h2.txt', 'name: /(unclosed/\n')), /h2\.txt:1: bad pattern/);
    assert.throws(() => loadHostingList(write('h3.txt', '# nothing\n')), /no entries/);
    assert.throws(() => loadTorExits(write('t.txt', '1.2.3.4\n1.2.3.999\n')), /t\.txt:2: not an IP address/);
    assert.throws(() => loadVpnRanges(write('v.txt', '10.0.0.0/8 A\n10.0.0.0/40 B\n')), /v\.txt:2: not a CIDR range/);
    assert.throws(() => loadVpnRanges(join(dir, 'missing.txt')), /cannot read/);
    // The plain torbulkexitlist format is accepted too.
    assert.equal(loadTorExits(write('bulk.txt', '1.2.3.4\n5.6.7.8\n')).size, 2);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
