// The packaged IP databases kept parsed on disk (src/policy/geo-cache.ts): a restart reads the
// tables back instead of parsing the CSV, answers every lookup as the parsed tables do, and never
// serves tables of older files, nor tables another user could have written.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, utimesSync } from 'node:fs';
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

test('writing a new entry removes those of files updated or gone, and entries that do not say their files; keeps another installation\'s current one and files not its own', () => {
  const cacheDir = join(dir, 'cache-d');
  const other = join(dir, 'other');
  mkdirSync(other);
  // Another installation's data (its own copies), still there: its entry is kept.
  const otherFiles = [country4, country6, asn4, asn6].map((f) => { const copy = join(other, f.split('/').pop()!); copyFileSync(f, copy); return copy; });
  loadGeoTablesCached(otherFiles.slice(0, 2), otherFiles.slice(2), cacheDir);
  const otherEntry = readdirSync(cacheDir)[0];
  // A third set, removed later (an uninstalled package).
  const gone = join(dir, 'gone');
  mkdirSync(gone);
  const goneFiles = [country4, country6, asn4, asn6].map((f) => { const copy = join(gone, f.split('/').pop()!); copyFileSync(f, copy); return copy; });
  loadGeoTablesCached(goneFiles.slice(0, 2), goneFiles.slice(2), cacheDir);
  rmSync(gone, { recursive: true });
  const first = load(cacheDir);
  assert.notEqual(first.stats.fromCache, true);
  const firstEntries = readdirSync(cacheDir);
  assert.ok(firstEntries.includes(otherEntry), `another installation's current entry is kept: ${firstEntries}`);
  assert.equal(firstEntries.length, 2, `the entry of files no longer there is removed when a new one is written: ${firstEntries}`);
  const firstEntry = firstEntries.find((n) => n !== otherEntry)!;

  // Left there meanwhile: a temporary file of a writer that is gone, an entry from before entries
  // said their files, and files this cache does not write.
  const deadTemp = `${firstEntry}.999999999.tmp`;
  writeFileSync(join(cacheDir, deadTemp), 'x', { mode: 0o600 });
  const legacy = 'geo-0123456789abcdef0123456789abcdef.bin';
  const header = Buffer.from(JSON.stringify({ format: 'warden-geo-v1', codes: [], names: [], lengths: [], overlaps: [0, 0] }));
  const len = Buffer.alloc(4); len.writeUInt32LE(header.length, 0);
  writeFileSync(join(cacheDir, legacy), Buffer.concat([len, header]), { mode: 0o600 });
  writeFileSync(join(cacheDir, 'notes.txt'), 'mine', { mode: 0o600 });
  symlinkSync(join(dir, 'country-ipv4-num.csv'), join(cacheDir, 'geo-fedcba9876543210fedcba9876543210.bin'));

  // A package update: the new files' entry replaces the old one.
  writeFileSync(country4, '134744064,134744319,US\n16777216,16777471,AU\n151587072,151587327,CH\n167772160,167772415,FR\n');
  utimesSync(country4, new Date(), new Date(Date.now() + 10_000));
  assert.notEqual(load(cacheDir).stats.fromCache, true, 'the updated files are parsed');
  const after = readdirSync(cacheDir).sort();
  assert.ok(!after.includes(firstEntry), `the entry of the files' older version is removed: ${after}`);
  assert.ok(!after.includes(deadTemp), 'a temporary file of a writer no longer running is removed');
  assert.ok(!after.includes(legacy), 'an entry that does not say its files is removed');
  assert.ok(after.includes(otherEntry), 'another installation\'s current entry stays');
  assert.ok(after.includes('notes.txt'), 'a file of another name is not touched');
  assert.ok(after.includes('geo-fedcba9876543210fedcba9876543210.bin'), 'a link is not followed nor removed');
  assert.equal(after.filter((n) => /^geo-[0-9a-f]{32}\.bin$/.test(n) && lstatSync(join(cacheDir, n)).isFile()).length, 2, `one entry per installation: ${after}`);
  assert.equal(load(cacheDir).stats.fromCache, true, 'the new entry reads back');
  assert.equal(loadGeoTablesCached(otherFiles.slice(0, 2), otherFiles.slice(2), cacheDir).stats.fromCache, true, 'and so does the other installation\'s');
});
