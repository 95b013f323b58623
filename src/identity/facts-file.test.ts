import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { completeAccountFacts, parseAccountFacts, readAccountFacts } from './facts-file.ts';

test('an account table in JSONL: facts as events carry them, raw emails and instruments reduced to keyed hashes', () => {
  const table = parseAccountFacts([
    JSON.stringify({ account_id: 'a1', created_at: '2026-11-01T09:00:00Z', tier: 'email_verified', email: 'alex.dev1041@Example.COM', payment_instrument: '4242 4242 4242 4242', signup_ip: '::ffff:203.0.113.7', claimed_country: 'gb', plan: 'pro' }),
    JSON.stringify({ account_id: 'a2', created_at: 1_793_000_000, email: 'alexdev1042@example.com', payment_instrument: '4242-4242-4242-4242', org_id: 'org_1' }),
    '',
    JSON.stringify({ account_id: 'a3', created_at: '2026-11-02T00:00:00Z', email_domain: 'uni.edu', payment_fp: 'pf_given', first_used_at: '2026-11-20T00:00:00Z', programme: 'education' }),
  ].join('\n'));
  assert.equal(table.size, 3);
  const a1 = table.get('a1')!.facts; const a2 = table.get('a2')!.facts; const a3 = table.get('a3')!.facts;
  assert.equal(a1.email_domain, 'example.com');
  assert.equal(a1.signup_ip, '203.0.113.7');
  assert.equal(a1.claimed_country, 'GB');
  assert.equal(a1.created_at, '2026-11-01T09:00:00.000Z');
  assert.equal(a2.created_at, new Date(1_793_000_000 * 1000).toISOString(), 'epoch seconds');
  assert.equal(a2.tier, 'unverified', 'an account the export gives no tier for is unverified');
  assert.equal(a2.programme, 'none');
  assert.equal(table.get('a2')!.org_id, 'org_1');
  // Same instrument written two ways, same numbered email scheme: equal hashes, and no raw value kept.
  assert.ok(a1.payment_fp && a1.payment_fp === a2.payment_fp);
  assert.ok(a1.email_pattern && a1.email_pattern === a2.email_pattern);
  assert.doesNotMatch(JSON.stringify([...table.values()]), /4242|alex/);
  assert.deepEqual([a3.payment_fp, a3.first_used_at, a3.programme, a3.email_pattern], ['pf_given', '2026-11-20T00:00:00.000Z', 'education', null]);
  // A table is keyed on its own: another table's hashes of the same card differ.
  assert.notEqual(parseAccountFacts(JSON.stringify({ account_id: 'x', created_at: '2026-01-01', payment_instrument: '4242424242424242' })).get('x')!.facts.payment_fp, a1.payment_fp);
});

test('an account table in CSV with a header: empty cells are unknown, quoted cells and extra columns are read', () => {
  const table = parseAccountFacts('\uFEFFaccount_id,created_at,tier,email,signup_ip,note\n'
    + 'a1,2026-11-01T09:00:00Z,identity_verified,a@corp.example,198.51.100.4,"said ""hi"", twice"\n'
    + 'a2,1793000000,,,,\n');
  assert.deepEqual([...table.keys()], ['a1', 'a2']);
  assert.equal(table.get('a1')!.facts.tier, 'identity_verified');
  assert.equal(table.get('a1')!.facts.email_domain, 'corp.example');
  assert.equal(table.get('a2')!.facts.signup_ip, null);
  assert.equal(table.get('a2')!.facts.email_domain, null);
});

test('an unusable line is named by line and column', () => {
  const bad = (text: string, message: RegExp) => assert.throws(() => parseAccountFacts(text), message);
  bad('{"account_id":"a","created_at":"2026-01-01"}\n{"account_id":"b"}', /line 2, created_at: missing/);
  bad('{"account_id":"a","created_at":"2026-01-01","tier":"gold"}', /line 1, tier: expected one of unverified, email_verified, identity_verified, enterprise/);
  bad('{"account_id":"a","created_at":"yesterday"}', /line 1, created_at: not a time: yesterday/);
  bad('{"account_id":"a","created_at":"2026-01-01","signup_ip":"999.1.1.1"}', /line 1, signup_ip: not an IP address/);
  bad('{"account_id":"a","created_at":"2026-01-01","email":"nobody"}', /line 1, email: not an email address/);
  bad('{"account_id":"a","created_at":"2026-01-01"}\n{"account_id":"a","created_at":"2026-01-02"}', /line 2, account_id: account a appears twice \(first on line 1\)/);
  bad('{"account_id":"a","created_at":"2026-01-01"}\n{"account_id":', /line 2: not JSON/);
  bad('id_of_account,created_at\nx,2026-01-01\n', /line 1, account_id: the header row has no account_id column/);
  bad('account_id,created_at\nx,2026-01-01,extra\n', /not CSV/);
});

test('completing an event: facts it lacks come from the table, facts it carries win', () => {
  const table = parseAccountFacts([
    JSON.stringify({ account_id: 'a1', created_at: '2026-11-01T00:00:00Z', tier: 'enterprise', first_used_at: '2026-11-05T00:00:00Z', org_id: 'org_t' }),
  ].join('\n'));
  const bare: Parameters<typeof completeAccountFacts>[0] = { account_id: 'a1', org_id: null, account: null };
  assert.equal(completeAccountFacts(bare, table), true);
  assert.equal(bare.account!.tier, 'enterprise');
  assert.equal(bare.org_id, 'org_t');
  const own = { account_id: 'a1', org_id: 'org_e', account: { created_at: '2026-11-01T00:00:00Z', tier: 'unverified' as const, programme: 'none' as const, email_domain: null, payment_fp: null, signup_ip: null, claimed_country: null } };
  completeAccountFacts(own, table);
  assert.equal(own.account.tier, 'unverified', 'the event\'s own facts are kept');
  assert.equal((own.account as { first_used_at?: string }).first_used_at, '2026-11-05T00:00:00.000Z', 'an older log\'s missing first use is filled');
  assert.equal(own.org_id, 'org_e');
  assert.equal(completeAccountFacts({ account_id: 'zz', org_id: null, account: null }, table), false);
});

test('a table file is streamed, JSONL or CSV, with the same answers and errors as its text', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-facts-'));
  const rows = Array.from({ length: 50_000 }, (_, i) => ({ account_id: `acct_${i}`, created_at: '2026-11-01T09:00:00Z', tier: i % 2 ? 'unverified' : 'email_verified', email: `user${i}@example.com`, signup_ip: `10.0.${(i >> 8) & 255}.${i & 255}` }));
  const jsonl = join(dir, 'accounts.jsonl');
  writeFileSync(jsonl, rows.map((r) => JSON.stringify(r)).join('\r\n') + '\n');
  const csv = join(dir, 'accounts.csv');
  writeFileSync(csv, 'account_id,created_at,tier,email,signup_ip\n' + rows.map((r) => [r.account_id, r.created_at, r.tier, r.email, r.signup_ip].join(',')).join('\n') + '\n');
  for (const file of [jsonl, csv]) {
    const table = await readAccountFacts(file);
    assert.equal(table.size, rows.length, file);
    const last = table.get('acct_49999')!.facts;
    assert.deepEqual([last.tier, last.email_domain, last.signup_ip], ['unverified', 'example.com', '10.0.195.79']);
    assert.ok(last.email_pattern && last.email_pattern === table.get('acct_10')!.facts.email_pattern, 'one numbered scheme, one pattern');
  }
  writeFileSync(join(dir, 'bad.jsonl'), '{"account_id":"a","created_at":"2026-01-01"}\n{"account_id":"b","created_at":"2026-01-01","tier":"gold"}\n');
  await assert.rejects(readAccountFacts(join(dir, 'bad.jsonl')), /line 2, tier: expected one of/);
  writeFileSync(join(dir, 'bad.csv'), 'account_id,created_at\na,2026-01-01\nb,2026-01-01,x\n');
  await assert.rejects(readAccountFacts(join(dir, 'bad.csv')), /line 3: not CSV/);
  writeFileSync(join(dir, 'noid.csv'), 'id_of_account,created_at\nx,2026-01-01\n');
  await assert.rejects(readAccountFacts(join(dir, 'noid.csv')), /account_id: the header row has no account_id column/);
  await assert.rejects(readAccountFacts(join(dir, 'missing.csv')), /ENOENT/);
});

test('claimed_subdivision: read as the identity store takes it (ISO 3166-2 in the claimed country, giving the country when none), and filled into older logs\' facts', () => {
  const table = parseAccountFacts('account_id,created_at,claimed_country,claimed_subdivision\n'
    + 'a1,2026-11-01T09:00:00Z,ua,ua-30\n'
    + 'a2,2026-11-01T09:00:00Z,,GB-SCT\n'
    + 'a3,2026-11-01T09:00:00Z,FR,\n');
  assert.deepEqual([table.get('a1')!.facts.claimed_country, table.get('a1')!.facts.claimed_subdivision], ['UA', 'UA-30']);
  assert.deepEqual([table.get('a2')!.facts.claimed_country, table.get('a2')!.facts.claimed_subdivision], ['GB', 'GB-SCT'], 'a subdivision alone gives its country');
  assert.equal(table.get('a3')!.facts.claimed_subdivision ?? null, null);
  assert.throws(() => parseAccountFacts('{"account_id":"a","created_at":"2026-01-01","claimed_country":"FR","claimed_subdivision":"UA-30"}'), /line 1, claimed_subdivision: UA-30 is not in claimed_country FR/);
  assert.throws(() => parseAccountFacts('{"account_id":"a","created_at":"2026-01-01","claimed_subdivision":"Kyiv"}'), /line 1, claimed_subdivision: expected an ISO 3166-2 code/);
  // A log written before subdivisions were recorded carries the country only: the table's subdivision is added.
  const older = { account_id: 'a1', org_id: null, account: { created_at: '2026-11-01T00:00:00Z', tier: 'unverified' as const, programme: 'none' as const, email_domain: null, payment_fp: null, signup_ip: null, claimed_country: 'UA' } };
  completeAccountFacts(older, table);
  assert.equal((older.account as { claimed_subdivision?: string }).claimed_subdivision, 'UA-30');
  // An event that says another country keeps its own facts: no subdivision of a country it did not claim.
  const moved = { account_id: 'a1', org_id: null, account: { ...older.account, claimed_country: 'PL' } };
  delete (moved.account as { claimed_subdivision?: string }).claimed_subdivision;
  completeAccountFacts(moved, table);
  assert.equal((moved.account as { claimed_subdivision?: string }).claimed_subdivision, undefined);
});
