// Existing customers and denied-party list updates, as a compliance officer meets them: a new list
// entry that names a customer who signed up long ago holds the account once the lists are reloaded
// (no restart), the customer is told only that the account is suspended, the lists' version is
// on record, and a false positive cleared by an operator is not held again unless the entry changes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../config/schema.ts';
import { startWarden } from '../cli/serve.ts';
import { clearanceOf, holdTag, SCREENING_ACTOR } from './rescreen.ts';

const TOKEN = 'policy-rescreen-test-token-0123456789abcdef';
const HEADER = 'name,type,aliases,program,source,id\n';
let w: Awaited<ReturnType<typeof startWarden>>;
let dir: string;
let listFile: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-rescreen-'));
  listFile = join(dir, 'own.csv');
  writeFileSync(listFile, `${HEADER}Zephyr Quantlabs,entity,ZQ Labs,TEST-PROG,internal,Z1\n`);
  const config = configSchema.parse({
    server: { port: 0 }, store: { sqlite_path: join(dir, 'w.db') }, admin: { token: TOKEN }, log: { level: 'silent' },
    ledger: { sqlite_path: join(dir, 'ledger.db'), key_file: join(dir, 'ledger.key') },
    policy: { watch: false, screening: { sanctions: [{ format: 'generic', path: listFile }] } },
  });
  w = await startWarden(config, { demo: false, log: () => {} });
  await w.startScreening;
});
after(async () => { await w.close(); rmSync(dir, { recursive: true, force: true }); });

const call = async (method: string, path: string, body?: unknown, actor?: string) => {
  const res = await fetch(`${w.url}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}), ...(actor ? { 'x-warden-actor': actor } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() as any };
};

const chat = async (secret: string) => {
  const res = await fetch(`${w.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }),
  });
  return { status: res.status, text: await res.text() };
};

test('a list update naming an existing customer holds the account after a reload, without a restart; a cleared match stays cleared until the entry changes', async () => {
  const org = (await call('POST', '/orgs', { name: 'Kestrel Analytics OOO', tier: 'email_verified' })).body;
  const maria = (await call('POST', '/accounts', { org_id: org.id, name: 'Maria Testova', email: 'maria@kestrel.example', tier: 'email_verified' })).body;
  const bystander = (await call('POST', '/accounts', { org_id: org.id, name: 'Jonas Berg', tier: 'email_verified' })).body;
  const { secret } = (await call('POST', `/accounts/${maria.id}/keys`, { name: 'k' })).body;
  assert.equal((await chat(secret)).status, 200, 'served before the list names her');
  const before = (await call('GET', '/policy/sanctions')).body;
  assert.equal(before.lists.files.length, 1, 'the lists in force are named');
  assert.match(before.lists.files[0].sha256, /^[0-9a-f]{64}$/);

  appendFileSync(listFile, '"TESTOVA, Mariya",individual,,TEST-PROG,internal,Z2\n');
  const reload = await call('POST', '/policy/sanctions/reload', {});
  assert.equal(reload.status, 200, JSON.stringify(reload.body));
  assert.notEqual(reload.body.lists.digest, before.lists.digest, 'the reloaded lists carry a new digest');
  const match = reload.body.screening.matches.find((m: any) => m.account_id === maria.id);
  assert.ok(match, `the existing account is found: ${JSON.stringify(reload.body.screening)}`);
  assert.equal(match.outcome, 'held');
  assert.equal(match.entry, 'internal:Z2');
  assert.equal(reload.body.screening.lists.digest, reload.body.lists.digest, 'the report names the lists it screened with');
  assert.ok(!reload.body.screening.matches.some((m: any) => m.account_id === bystander.id), 'a customer the list does not name is not held');

  const refused = await chat(secret);
  assert.equal(refused.status, 403, 'the held account is refused at once');
  assert.match(refused.text, /WARDEN_ACCOUNT_SUSPENDED/);
  assert.doesNotMatch(refused.text, /sanction|screening|internal|TEST-PROG|list/i, `the customer is not told of the list: ${refused.text}`);
  const hold = (await call('GET', `/changes?subject_id=${maria.id}`)).body.data.find((c: any) => c.action === 'status' && c.new_value === 'suspended');
  assert.equal(hold.actor, SCREENING_ACTOR);
  assert.ok(hold.reason.includes('internal:Z2') && hold.reason.includes(reload.body.lists.digest), `the hold names the entry and the lists: ${hold.reason}`);
  assert.ok(hold.reason.includes('TESTOVA, Mariya') && !hold.reason.includes('Maria Testova'), 'the hold records the listed name, not the customer\'s own');

  // A false positive: the officer clears it, recorded with who and why.
  await call('POST', `/accounts/${maria.id}/reactivate`, { reason: 'not the listed person: date of birth differs (passport checked)' }, 'compliance:Officer');
  assert.equal((await chat(secret)).status, 200, 'served again once cleared');
  const again = await call('POST', '/policy/sanctions/reload', {});
  const cleared = again.body.screening.matches.find((m: any) => m.account_id === maria.id);
  assert.equal(cleared.outcome, 'cleared', 'a cleared match is not held again on the next load');
  assert.equal(cleared.cleared.by, 'compliance:Officer');
  assert.match(cleared.cleared.reason, /date of birth differs/);
  assert.equal((await chat(secret)).status, 200);

  // The signed log holds the hold and the clearance, with who cleared and why (opened by the audit query).
  let verdicts: any[] = [];
  for (let i = 0; i < 300 && verdicts.filter((v) => v.source === 'screening').length < 2; i++) {
    await new Promise((r) => setTimeout(r, 50));
    verdicts = (await call('GET', `/ledger/v1/query?account=${maria.id}`)).body.verdicts;
  }
  const held = verdicts.find((v) => v.source === 'screening' && v.level === 'suspend');
  assert.ok(held, `the hold is in the ledger: ${JSON.stringify(verdicts)}`);
  assert.equal(held.reasons[0].signal, 'denied_party_match');
  assert.equal(held.reasons[0].value, `internal:Z2@${match.entry_digest}`);
  assert.ok(held.reasons[0].detail.includes(reload.body.lists.digest), 'with the lists it was decided on');
  const clearance = verdicts.find((v) => v.source === 'screening' && v.level === 'none');
  assert.ok(clearance, `the clearance is in the ledger: ${JSON.stringify(verdicts)}`);
  assert.equal(clearance.reasons[0].signal, 'operator_screening_cleared');
  assert.equal(clearance.reasons[0].by, 'compliance:Officer');
  assert.match(clearance.reasons[0].detail, /date of birth differs/);

  // The list changes the entry (an alias added): the clearance was for the entry as it was.
  writeFileSync(listFile, `${HEADER}Zephyr Quantlabs,entity,ZQ Labs,TEST-PROG,internal,Z1\n"TESTOVA, Mariya",individual,Mariia Testova,TEST-PROG,internal,Z2\n`);
  const changed = await call('POST', '/policy/sanctions/reload', {});
  assert.equal(changed.body.screening.matches.find((m: any) => m.account_id === maria.id).outcome, 'held', 'a changed entry is screened afresh');
  assert.equal((await chat(secret)).status, 403);
  const still = await call('POST', '/policy/sanctions/rescreen');
  assert.equal(still.body.screening.matches.find((m: any) => m.account_id === maria.id).outcome, 'already_suspended', 'a held account is not held twice');
});

test('an organisation named by a list holds its accounts; the signup screening names the lists\' version', async () => {
  const org = (await call('POST', '/orgs', { name: 'Zephyr Quantlabs Ltd', tier: 'email_verified' })).body;
  const acct = (await call('POST', '/accounts', { org_id: org.id, name: 'Ada Lind', tier: 'email_verified' })).body;
  assert.equal(acct.status, 'suspended', 'held when created into the listed organisation');
  const run = await call('POST', '/policy/sanctions/rescreen');
  const m = run.body.screening.matches.find((x: any) => x.account_id === acct.id);
  assert.ok(m && m.field === 'organisation' && m.entry === 'internal:Z1' && m.outcome === 'already_suspended', JSON.stringify(run.body.screening.matches));
  const screened = await call('POST', '/policy/screen', { name: 'Mariya Testova' });
  assert.equal(screened.body.lists.digest, run.body.lists.digest, 'a screening says which lists decided it');
  assert.equal(screened.body.findings[0].detail.lists, run.body.lists.digest);
});

test('an account created, renamed or moved, or an organisation renamed, through the admin API is screened at once', async () => {
  const created = await call('POST', '/accounts', { name: 'Mariia Testova', tier: 'email_verified' });
  assert.equal(created.status, 201);
  assert.equal(created.body.status, 'suspended', 'an account created under a listed name is held, and the answer says so');
  const plain = (await call('POST', '/accounts', { name: 'Olga Nilsen', tier: 'email_verified' })).body;
  assert.equal(plain.status, 'active', 'a name the lists do not hold is not');
  const renamed = await call('PATCH', `/accounts/${plain.id}`, { name: 'TESTOVA, Mariya' });
  assert.equal(renamed.body.status, 'suspended', 'renamed to a listed name: held');
  const org = (await call('POST', '/orgs', { name: 'Harbour Tools', tier: 'email_verified' })).body;
  const member = (await call('POST', '/accounts', { org_id: org.id, name: 'Per Holm', tier: 'email_verified' })).body;
  assert.equal(member.status, 'active');
  await call('PATCH', `/orgs/${org.id}`, { name: 'ZQ Labs' });
  assert.equal((await call('GET', `/accounts/${member.id}`)).body.status, 'suspended', 'an organisation renamed to a listed alias: its accounts are held');
});

test('a malformed list on reload is refused naming file and line; the lists in force stay', async () => {
  const before = (await call('GET', '/policy/sanctions')).body.lists.digest;
  writeFileSync(listFile, `${HEADER},individual,,TEST-PROG,internal,Z9\n`);
  const r = await call('POST', '/policy/sanctions/reload', {});
  assert.equal(r.status, 409, JSON.stringify(r.body));
  assert.match(r.body.error.message, /own\.csv:2.*name is empty/);
  assert.equal((await call('GET', '/policy/sanctions')).body.lists.digest, before, 'the previous lists are still in force');
  assert.equal((await call('POST', '/policy/screen', { name: 'Maria Testova' })).body.decision, 'review', 'and still screen');
});

test('clearanceOf: a reactivation after a hold clears that entry version only; a hold after it opens it again', () => {
  const tag = holdTag('ofac:1', 'abc');
  const change = (at: string, new_value: string, actor: string, reason: string | null) =>
    ({ id: at, at, subject_type: 'account' as const, subject_id: 'a', action: 'status', field: 'status', old_value: null, new_value, actor, reason });
  const held = change('2026-01-01T00:00:00Z', 'suspended', SCREENING_ACTOR, `potential match ${tag}`);
  const cleared = change('2026-01-02T00:00:00Z', 'active', 'cli:ana', 'false positive');
  assert.deepEqual(clearanceOf([cleared, held], tag), { by: 'cli:ana', at: cleared.at, reason: 'false positive' });
  assert.equal(clearanceOf([held], tag), null, 'still held');
  assert.equal(clearanceOf([cleared, held], holdTag('ofac:1', 'def')), null, 'another version of the entry was never cleared');
  const other = change('2026-01-01T00:00:00Z', 'suspended', 'cli:ana', `copied text ${tag}`);
  assert.equal(clearanceOf([cleared, other], tag), null, 'only a hold by screening counts');
  const heldAgain = change('2026-01-03T00:00:00Z', 'suspended', SCREENING_ACTOR, `again ${tag}`);
  assert.equal(clearanceOf([heldAgain, cleared, held], tag), null);
});
