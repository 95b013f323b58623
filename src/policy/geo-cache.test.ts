// The packaged IP databases kept parsed on disk (src/policy/geo-cache.ts): a restart reads the
// tables back instead of parsing the CSV, answers every lookup as the parsed tables do, and never
// serves tables of older files, nor tables another user could have written.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GeoIndex, loadGeoTablesCached } from './geo.ts';

const dir = mkdtempSync(join(tmpdir(), 'geo-cache-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const country4 = join(dir, 'country-ipv4-num.csv');
const country6 = join(dir, 'country-ipv6.csv');
const asn4 = join(dir, 'asn-ipv4.csv');
const asn6 = join(dir, 'asn-ipv6.csv');
writeFileSync(country4, '134744064,134744319,US\n16777216,16777471,AU\n');
writeFileSync(country6, '2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,US\n2a00:1450::,2a00:1450:ffff:ffff:ffff:ffff:ffff:ffff,IE\n');
writeFileSync(asn4, '8.8.8.0,8.8.8.255,15169,"Google LLC"\n1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc."\n');
writeFileSync(asn6, '2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC\n');
const ADDRESSES = ['8.8.8.8', '1.0.0.1', '9.9.9.9', '2001:4860:4860::8888', '2a00:1450::1', '::ffff:8.8.8.8', '2600::1'];

const load = (cacheDir: string) => loadGeoTablesCached([country4, country6], [asn4, asn6], cacheDir);
const answers = (t: ReturnType<typeof load>) => { const g = new GeoIndex(() => t); return ADDRESSES.map((a) => g.lookup(a)); };

test('a restart reads the parsed tables back and answers every lookup as parsing the files does', () => {
  const cacheDir = join(dir, 'cache-a');
  const parsed = load(cacheDir);
  assert.notEqual(parsed.stats.fromCache, true, 'the first start parses the files');
  const kept = readdirSync(cacheDir);
  assert.equal(kept.length, 1, `the tables are kept once: ${kept}`);
  assert.equal(statSync(join(cacheDir, kept[0])).mode & 0o777, 0o600, 'readable by this user only');
  assert.equal(statSync(cacheDir).mode & 0o077, 0, 'in a folder of this user only');
  const again = load(cacheDir);
  assert.equal(again.stats.fromCache, true, 'the next start reads them back');
  assert.deepEqual(answers(again), answers(parsed), 'the same answers');
  assert.equal(answers(again)[1].asnName, 'Cloudflare, Inc.', 'names with commas kept whole');
  assert.deepEqual({ ...again.stats, loadMs: 0, fromCache: undefined }, { ...parsed.stats, loadMs: 0, fromCache: undefined }, 'the same tables');
});

test('files updated (a package update) are parsed again, not answered from the tables of the old ones', () => {
  const cacheDir = join(dir, 'cache-b');
  assert.equal(answers(load(cacheDir))[2].country, null, '9.9.9.9 unknown at first');
  writeFileSync(country4, '134744064,134744319,US\n16777216,16777471,AU\n151587072,151587327,CH\n');
  utimesSync(country4, new Date(), new Date(Date.now() + 5000));
  const updated = load(cacheDir);
  assert.notEqual(updated.stats.fromCache, true, 'the new files are parsed');
  assert.equal(answers(updated)[2].country, 'CH', 'and answered from');
  assert.equal(load(cacheDir).stats.fromCache, true, 'then kept in turn');
});

test('tables another user could have written (a file or folder writable by others) are not read', () => {
  const cacheDir = join(dir, 'cache-c');
  load(cacheDir);
  const file = join(cacheDir, readdirSync(cacheDir)[0]);
  chmodSync(file, 0o666);
  assert.notEqual(load(cacheDir).stats.fromCache, true, 'a file writable by others is parsed over');
  chmodSync(file, 0o600);
  chmodSync(cacheDir, 0o777);
  assert.notEqual(load(cacheDir).stats.fromCache, true, 'a folder writable by others is not used');
  chmodSync(cacheDir, 0o700);
  writeFileSync(file, Buffer.from([1, 0, 0, 0, 123]), { mode: 0o600 });
  const cut = load(cacheDir);
  assert.notEqual(cut.stats.fromCache, true, 'a file that does not read back whole is parsed over');
  assert.equal(answers(cut)[0].asn, 15169);
  assert.equal(load(cacheDir).stats.fromCache, true, 'and rewritten');
});
