// A deletion request for one account, as an operator makes it: `warden accounts erase ID` against a
// running Warden on SQLite and on PostgreSQL. A legal hold (a suspend verdict) refuses it unless
// overridden with a reason; the keys stop working; the account record keeps what the totals need
// and nothing that identifies the person; events, ledger openings and the detector's link evidence
// go; the ledger records who erased, when and why; a second run changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startTestWarden, TEST_ADMIN_TOKEN, type TestWarden } from '../helpers/warden.ts';
import { TEST_POSTGRES_URL, withPgSchema } from '../helpers/postgres.ts';
import { runAdminCommand } from '../../src/admin/index.ts';
import { runLedgerCli } from '../../src/ledger/index.ts';
import { SqliteCaseStore, PostgresCaseStore, publishCase, PUBLISHED_COLLECTION, type CaseFile, type CaseStore } from '../../src/cases/index.ts';

const FINGERPRINT_SECRET = 'fingerprint-secret-for-the-erase-test-0123';
const SHARING_KEY = 'erase-test-sharing-key-0123456789';
const SECRET_PROMPT = 'Please summarise the medical file of Jane Doe, born 1984';

async function cli(t: TestWarden, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAdminCommand('accounts', [...args, '--url', t.url, '--token', TEST_ADMIN_TOKEN], { out: (s) => { out.push(s); }, err: (s) => { err.push(s); }, env: {} });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function get(t: TestWarden, path: string): Promise<any> {
  const r = await fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
  assert.ok(r.ok, `${path}: ${r.status} ${await r.clone().text()}`);
  return r.json();
}

async function chat(t: TestWarden, key: string, content: string): Promise<number> {
  const r = await fetch(`${t.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'user-agent': 'JaneBrowser/1.0' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }),
  });
  await r.text();
  return r.status;
}

async function ledgerVerify(t: TestWarden): Promise<string> {
  let text = '';
  const sink = new Writable({ write(chunk, _enc, cb) { text += String(chunk); cb(); } });
  const code = await runLedgerCli(['verify'], { config: { ledger: t.config.ledger, store: t.config.store }, stdout: sink, stderr: sink });
  assert.equal(code, 0, `the ledger still verifies after the erasure: ${text}`);
  return text;
}

async function scenario(t: TestWarden, snapshotPath: string): Promise<void> {
  const account = await t.admin('/accounts', {
    name: 'Jane Doe', email: 'jane.doe42@corp.example', tier: 'email_verified', signup_ip: '198.51.100.7', claimed_country: 'DE',
    payment_instrument: 'card-4242-4242', user_agent: 'JaneBrowser/1.0',
  });
  const id = account.id as string;
  await t.admin(`/accounts/${id}`, { name: 'Jane D.' }, 'PATCH');
  const key = (await t.admin(`/accounts/${id}/keys`, { name: 'k' })).secret as string;
  // Another account, whose data must stay as it is.
  const other = await t.account('bystander', 'email_verified');
  for (let n = 0; n < 3; n++) assert.equal(await chat(t, key, `${SECRET_PROMPT} (${n})`), 200, 'the account is served before the erasure');
  assert.equal(await chat(t, other.key, 'hello'), 200, 'the other account is served');
  await t.events((e) => e.account_id === id, 3);
  await t.events((e) => e.account_id === other.id, 1);
  // A file it uploaded (a batch input naming the person).
  const form = new FormData();
  form.append('purpose', 'batch');
  form.append('file', new Blob([JSON.stringify({ custom_id: 'r1', method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: SECRET_PROMPT }] } }) + '\n']), 'input.jsonl');
  const upload = await fetch(`${t.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
  assert.equal(upload.status, 200, `the account uploads a file: ${await upload.clone().text()}`);
  const fileId = ((await upload.json()) as { id: string }).id;
  // A batch run from it: its request, result and output file are kept with the account.
  const created = await fetch(`${t.url}/v1/batches`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' }),
  });
  assert.equal(created.status, 200, `the account creates a batch: ${await created.clone().text()}`);
  const batchId = ((await created.json()) as { id: string }).id;
  for (let polls = 0; ; polls++) {
    const b = (await (await fetch(`${t.url}/v1/batches/${batchId}`, { headers: { authorization: `Bearer ${key}` } })).json()) as { status: string };
    if (b.status === 'completed') break;
    assert.ok(polls < 200 && !['failed', 'expired', 'cancelled'].includes(b.status), `the batch completes (${b.status})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const eventsBefore = await t.events((e) => e.account_id === id, 4);
  assert.equal(eventsBefore.length, 4, 'three requests and the batch\'s one');
  assert.ok(eventsBefore.some((e) => JSON.stringify(e).includes('Jane Doe')), 'the events held the prompt text before');
  const detectorBefore = await get(t, `/admin/detect/accounts/${id}`);
  assert.equal(detectorBefore.account_id, id, 'the detector knows the account');

  // A legal hold: an open case naming the account (as `warden cases open` stores one).
  const cases: CaseStore = t.w.stores.pg ? new PostgresCaseStore(t.w.stores.pg) : new SqliteCaseStore(t.w.stores.sqlite!);
  const member = { account_id: id, org_id: null, level: 'suspend', tier: 'email_verified', programme: 'standard', created_at: account.created_at, email_domain: 'corp.example', claimed_country: 'DE', signup_ip: '198.51.100.7', requests: 3, first_seen: null, last_seen: null };
  const caseFile = {
    id: 'case_erase_test', title: 'test', status: 'open', campaign_id: 'camp_x', cluster_id: 'clu_x', opened_at: new Date().toISOString(), updated_at: new Date().toISOString(),
    campaign: { members: [id], targets: {}, volume: { requests: 3, output_tokens: 0 }, level: 'suspend', score: 1, first_seen: new Date().toISOString(), last_seen: new Date().toISOString() }, members: [member], notes: [], events_read: 3, events_truncated: false, window_events_scanned: 0, window_truncated: false, ledger: null,
    observables: [{ kind: 'client_ip', value: '198.51.100.7', holders: 1, others: 0, shareable: true, why: 'only campaign accounts used it' }],
    usage: { requests: 3, input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, models: {}, countries: {} },
  } as unknown as CaseFile;
  await cases.putCase(caseFile);
  // Published to partners: the indicator made from the account's signup address, and a partner
  // indicator's sightings naming the account.
  await publishCase(cases, caseFile, { provider: t.config.cases.provider, sharingKey: SHARING_KEY, validDays: 90 });
  const publishedUpTo = (await cases.published({ collection: PUBLISHED_COLLECTION, versions: 'all', limit: 10_000 })).at(-1)!.added_us;
  await cases.addSightings([{ indicator_id: 'indicator--00000000-0000-5000-8000-0000000000aa', count: 3, first_seen: new Date().toISOString(), last_seen: new Date().toISOString(), accounts: [id] }]);
  const heldByCase = await cli(t, ['erase', id]);
  assert.equal(heldByCase.code, 1, `an account in an open case is refused: ${heldByCase.err}`);
  assert.match(heldByCase.err, /legal hold \(case:case_erase_test\)/, `the refusal names the case: ${heldByCase.err}`);

  // And a suspend verdict on the account. The erasure is refused and nothing changes.
  await t.admin('/detect/verdicts', { kind: 'account', id, level: 'suspend', note: 'held for the investigation' });
  const refused = await cli(t, ['erase', id]);
  assert.equal(refused.code, 1, `a held account is refused (exit 1): ${refused.out} ${refused.err}`);
  assert.match(refused.err, /legal hold \(case:case_erase_test, verdict:suspend on account /, `the refusal says what holds it: ${refused.err}`);
  assert.match(refused.err, /--override-hold --reason/, 'and how to override it');
  assert.equal((await get(t, `/admin/accounts/${id}`)).email, 'jane.doe42@corp.example', 'a refused erasure erased nothing');
  const noReason = await cli(t, ['erase', id, '--override-hold']);
  assert.equal(noReason.code, 2, `an override needs a reason (usage error): ${noReason.err}`);

  // Overridden, with a reason.
  const done = await cli(t, ['erase', id, '--override-hold', '--reason', 'GDPR request 2026-117', '--json']);
  assert.equal(done.code, 0, `the erasure succeeds: ${done.err}`);
  const report = JSON.parse(done.out);
  assert.equal(report.changed, true, 'something was erased');
  assert.equal(report.override_hold, true, 'the hold was overridden');
  assert.deepEqual(report.held_by.map((h: string) => h.split(' ')[0]), ['case:case_erase_test', 'verdict:suspend'], 'what held it is reported');
  assert.deepEqual([report.cases.cases, report.cases.members, report.cases.values], [1, 1, 1], `the case file lost its facts and its own value: ${JSON.stringify(report.cases)}`);
  assert.deepEqual([report.cases.withdrawn_indicators, report.cases.sighting_accounts], [1, 1], `the published indicator was revoked and the sighting renamed: ${JSON.stringify(report.cases)}`);
  const revoked = (await cases.published({ collection: PUBLISHED_COLLECTION, addedAfterUs: publishedUpTo, limit: 100 })).filter((o) => o.type === 'indicator');
  assert.ok(revoked.length === 1 && revoked[0].body.revoked === true, `partners polling the collection read the revocation: ${JSON.stringify(revoked)}`);
  assert.ok(!(await cases.listSightings()).some((x) => x.accounts.includes(id)), 'no sighting names the account');
  const scrubbed = (await cases.getCase('case_erase_test'))!;
  assert.deepEqual([scrubbed.members[0].email_domain, scrubbed.members[0].signup_ip, scrubbed.observables.length], [null, null, 0], 'the stored case holds none of it');
  assert.equal(report.keys_revoked, 1, 'its key was revoked');
  assert.equal(report.account_fields, 8, 'name, email, email domain and pattern, signup IP, country, payment fingerprint, user agent');
  assert.equal(report.identity_changes, 1, 'the rename\'s old and new names were blanked');
  assert.equal(report.events, 4, 'its four events were erased');
  assert.ok(report.ledger_entries >= 3, `its ledger entries were erased: ${report.ledger_entries}`);
  assert.ok(report.detector && report.detector.link_keys > 0, `the detector dropped its link keys: ${JSON.stringify(report.detector)}`);
  assert.equal(report.detector.forgotten, false, 'an account under a verdict keeps its place (and its verdict)');
  assert.equal(report.detector.snapshot_written, true, 'the snapshot was written again without them');
  assert.match(report.ledger_record ?? '', /^x_/, 'the erasure is recorded in the ledger');
  assert.equal(report.files, 2, 'its uploaded file and the batch\'s output file were deleted');
  assert.equal(report.batches, 1, 'its batch was deleted');
  const gone = await fetch(`${t.url}/admin/batches?account=${id}`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
  assert.ok(!(await gone.text()).includes(batchId), 'the batch is no longer listed');
  const files = (await get(t, `/admin/files?account=${id}`));
  assert.ok(!JSON.stringify(files).includes(fileId), `the file is gone: ${JSON.stringify(files)}`);

  // The key no longer works.
  assert.equal(await chat(t, key, 'anything'), 401, 'the account\'s key is refused after the erasure');
  // The record keeps what the totals need, nothing that identifies the person.
  const after = await get(t, `/admin/accounts/${id}`);
  for (const f of ['name', 'email', 'email_domain', 'email_pattern', 'signup_ip', 'claimed_country', 'payment_fp', 'user_agent']) {
    assert.ok(after[f] === null || after[f] === undefined, `account.${f} is erased (got ${after[f]})`);
  }
  assert.deepEqual([after.id, after.tier, after.status, after.created_at], [id, account.tier, account.status, account.created_at], 'id, tier, status and creation time stay');
  const changes = (await get(t, `/admin/changes?subject_id=${id}`)).data as any[];
  assert.ok(!JSON.stringify(changes).includes('Jane'), `the change history keeps no name: ${JSON.stringify(changes)}`);
  assert.ok(changes.some((c) => c.action === 'erase' && c.actor && c.reason === 'GDPR request 2026-117'), 'the change history says who erased it and why');
  // Events: no prompt text, address, agent or signup fact left; the other account's untouched.
  const events = await t.events((e) => e.account_id === id, 4);
  const text = JSON.stringify(events);
  for (const v of ['Jane Doe', 'JaneBrowser', '198.51.100.7', 'corp.example']) assert.ok(!text.includes(v), `no event of the account holds ${v}`);
  assert.deepEqual(events.map((e) => e.response.output_tokens), eventsBefore.map((e) => e.response.output_tokens), 'token counts stay (usage still adds up)');
  const others = await t.events((e) => e.account_id === other.id, 1);
  assert.equal(others[0].erased_at ?? null, null, 'the other account\'s events are not erased');
  // Ledger: the account's interactions are erased and the log still verifies.
  const q = await get(t, `/admin/ledger/v1/query?account=${id}`);
  assert.ok(q.interactions.length >= 4 && q.interactions.every((r: any) => r.erased && r.client_ip === null && r.user_agent === null), `the ledger's interactions are erased: ${JSON.stringify(q.interactions)}`);
  // The erasure record: the account by id, counts, no personal data.
  const size = (await get(t, '/ledger/v1/entries?start=0&end=0')).tree_size as number;
  const entries = (await get(t, `/ledger/v1/entries?start=0&end=${size}`)).entries as { leaf: string }[];
  const erasure = entries.map((e) => JSON.parse(e.leaf)).find((r) => r.kind === 'erasure');
  assert.ok(erasure, 'the ledger holds an erasure record');
  assert.deepEqual([erasure.subject, erasure.override_hold, erasure.erased.events, erasure.erased.published_indicators_withdrawn, erasure.erased.sighting_accounts], [{ kind: 'account', id }, true, 4, 1, 1], 'it names the account, the override and the counts (indicators withdrawn, sightings renamed)');
  assert.ok(!/Jane|198\.51|corp\.example|GDPR request/.test(JSON.stringify(erasure)), `no personal data, the reason only as a commitment: ${JSON.stringify(erasure)}`);
  const verified = await ledgerVerify(t);
  assert.match(verified, /OK|ok|valid/, `ledger verify reports success: ${verified}`);
  // The detector: no link key of the account in memory, and the snapshot rewritten.
  const snap = statSync(snapshotPath);
  assert.ok(snap.size > 0, 'the snapshot exists');
  const erasedAgain = await cli(t, ['erase', id, '--override-hold', '--reason', 'GDPR request 2026-117', '--json']);
  assert.equal(erasedAgain.code, 0, erasedAgain.err);
  const second = JSON.parse(erasedAgain.out);
  assert.equal(second.changed, false, `a second run changes nothing: ${erasedAgain.out}`);
  for (const k of ['keys_revoked', 'account_fields', 'identity_changes', 'events', 'usage_rows', 'ledger_entries', 'files', 'batches']) assert.equal(second[k], 0, `second run: ${k} is 0`);
  assert.deepEqual([second.detector.link_keys, second.detector.pair_evidence], [0, 0], 'second run: nothing left in the detector');
  assert.equal(second.ledger_record, null, 'a second run records nothing');
  const sizeAfter = (await get(t, '/ledger/v1/entries?start=0&end=0')).tree_size as number;
  const added = (await get(t, `/ledger/v1/entries?start=${size}&end=${sizeAfter}`)).entries.map((e: { leaf: string }) => JSON.parse(e.leaf));
  // (The refused request with the revoked key is logged, as any request is.)
  assert.deepEqual(added.filter((r: { kind: string }) => r.kind !== 'interaction'), [], `the second run added no record to the ledger: ${JSON.stringify(added)}`);
  // The plain output says what was erased where.
  const plain = await cli(t, ['erase', id, '--override-hold', '--reason', 'again']);
  assert.match(plain.out, /nothing left to erase/, plain.out);
  assert.match(plain.out, /events\s+0/, plain.out);
  // An unknown account: not found (exit 1).
  assert.equal((await cli(t, ['erase', 'acct_nope'])).code, 1, 'an unknown account is an error');
}

test('accounts erase on SQLite: hold, override, keys, record, events, ledger, detector, idempotent', { timeout: 120_000 }, async () => {
  const t = await startTestWarden({ detect: { tick_seconds: 0.05 }, identity: { fingerprint_secret: FINGERPRINT_SECRET }, cases: { sharing_key: SHARING_KEY } });
  try {
    await scenario(t, `${t.config.store.sqlite_path}.detector`);
  } finally {
    await t.close();
  }
});

test('accounts erase on PostgreSQL: the same', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-erase-pg-'));
  try {
    await withPgSchema('erase', async (pool) => {
      // Warden connects to the test's private schema by its own URL.
      const { rows } = await pool.query('SELECT current_schema() AS s');
      const url = `${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${rows[0].s}`)}`;
      const snapshotPath = join(dir, 'detector.snapshot');
      const t = await startTestWarden({
        store: { driver: 'postgres', postgres_url: url, sqlite_path: join(dir, 'warden.db') },
        detect: { tick_seconds: 0.05, mode: 'inline', snapshot: { path: snapshotPath } }, identity: { fingerprint_secret: FINGERPRINT_SECRET }, cases: { sharing_key: SHARING_KEY },
        // The ledger keeps its tables in a schema of its own: one for this test, dropped with it.
        ledger: { postgres_schema: `${rows[0].s}_ledger` },
      });
      try {
        await scenario(t, snapshotPath);
        // The record erased in the table itself, not only in what the API shows.
        const stored = await pool.query('SELECT email, signup_ip, payment_fp FROM accounts WHERE email IS NULL');
        assert.ok(stored.rowCount! >= 1, 'the row holds no email');
      } finally {
        await t.close();
        await pool.query(`DROP SCHEMA IF EXISTS ${rows[0].s}_ledger CASCADE`);
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
