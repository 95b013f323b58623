// The dashboard's session in a real browser (Debian chromium driven by playwright-core) against a
// real Warden: an operator name outside Latin-1 works and is recorded as typed; the skip link moves
// the focus to the content without leaving the page; sign-out reaches the tabs opened from this one;
// the token field does not invite the password manager. Skips only when no chromium binary exists.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { parseConfig } from '../config/index.ts';
import { startWarden, type RunningWarden } from '../cli/serve.ts';
import { signedInPage } from '../../test/helpers/dashboard.ts';
import { findChromium, launchBrowser, browserSkip, requireChromium, signIn } from './browser-support.ts';

const CHROMIUM = findChromium();
const skip = browserSkip(CHROMIUM);

let dir = '';
let w: RunningWarden;
let context: BrowserContext;

async function admin<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${w.url}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${w.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
  return (await res.json()) as T;
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'warden-ui-session-'));
  const config = parseConfig({ server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 } });
  w = await startWarden(config, { log: () => {} });
  context = await launchBrowser(requireChromium(CHROMIUM), join(dir, 'profile'));
});

after(async () => {
  if (skip) return;
  await context?.close();
  await w?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('an operator name outside Latin-1 works: pages load, and a suspension is recorded with the name as typed', { skip, timeout: 60_000 }, async () => {
  const acct = await admin<{ id: string }>('POST', '/accounts', { name: 'Unicode subject', email: 'subject@unicode.example' });
  const { page, problems } = await signedInPage(context, w.url, w.adminToken!, { path: `/#/accounts/${acct.id}`, name: '李雷 Łukasz' });
  await page.getByRole('heading', { name: 'Unicode subject', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Suspend' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel(/Reason/).fill('unicode operator');
  await dialog.getByRole('button', { name: 'Suspend' }).click();
  await page.getByRole('button', { name: 'Reactivate' }).waitFor();
  const changes = await admin<{ data: { reason: string; actor: string }[] }>('GET', `/changes?subject_id=${acct.id}`);
  assert.equal(changes.data.find((c) => c.reason === 'unicode operator')?.actor, 'dashboard:李雷 Łukasz');
  const history = page.locator('section', { has: page.getByRole('heading', { name: 'Change history' }) });
  await history.locator('tbody tr', { hasText: 'dashboard:李雷 Łukasz' }).waitFor();
  assert.equal(await page.locator('.error-box').count(), 0, `no error: ${await page.locator('.error-box').allTextContents()}`);
  // (The detector answers 404 for an account it has not seen: the page says so; the console notes it.)
  assert.deepEqual(problems.filter((p) => !/status of 404/.test(p)), [], 'no script errors');
  await page.close();
});

test('the skip link moves the focus to the content and stays on the page', { skip, timeout: 60_000 }, async () => {
  const { page, problems } = await signedInPage(context, w.url, w.adminToken!, { path: '/#/accounts' });
  await page.getByRole('heading', { name: 'Accounts', level: 1 }).waitFor();
  await page.locator('a.skip-link').focus();
  await page.keyboard.press('Enter');
  await page.waitForTimeout(300);
  assert.match(page.url(), /#\/accounts$/, 'still on the Accounts page');
  assert.equal(await page.title(), 'Accounts · Warden');
  assert.equal(await page.getByRole('heading', { name: 'Not found' }).count(), 0, 'no Not found page');
  assert.equal(await page.evaluate('document.activeElement && document.activeElement.id'), 'main', 'the focus is on the content');
  assert.deepEqual(problems, [], 'no script errors');
  await page.close();
});

test('sign-out reaches a tab opened from this one; the token field does not invite the password manager', { skip, timeout: 60_000 }, async () => {
  const page = await context.newPage();
  await page.goto(`${w.url}/dashboard/`);
  assert.equal(await page.getByLabel('Admin token').getAttribute('autocomplete'), 'one-time-code');
  await signIn(page, w.url, w.adminToken!, { path: '/#/keys' });
  await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
  // A tab opened from this one starts with a copy of its sessionStorage, token included.
  const [other] = await Promise.all([context.waitForEvent('page'), page.evaluate('void window.open(location.href)')]);
  await other.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await other.getByText('Signed out in another tab').waitFor({ timeout: 5000 });
  assert.equal(await other.evaluate("sessionStorage.getItem('warden.admin.token')"), null, 'the other tab forgot the token');
  await other.reload();
  await other.getByLabel('Admin token').waitFor();
  assert.equal(await other.getByRole('button', { name: 'Sign out' }).count(), 0, 'still signed out after a reload');
  await other.close();
  await page.close();
});

test('the account page applies and removes an operator verdict and an allow-list entry, each with a reason, recorded and shown with who did it', { skip, timeout: 60_000 }, async () => {
  const acct = await admin<{ id: string }>('POST', '/accounts', { name: 'Reviewed customer', email: 'reviewed@decisions.example' });
  const { page, problems } = await signedInPage(context, w.url, w.adminToken!, { path: `/#/accounts/${acct.id}`, name: 'reviewer' });
  await page.getByRole('heading', { name: 'Reviewed customer', level: 1 }).waitFor();
  const verdict = page.locator('section', { has: page.getByRole('heading', { name: 'Verdict', exact: true }) });
  const operatorVerdicts = async () => (await admin<{ data: { subject: { id: string }; level: string; reasons: { detail: string }[] }[] }>('GET', '/detect/verdicts')).data.filter((v) => v.subject.id === acct.id);

  // Set an operator verdict: level and reason in a dialog; the page shows it, the API has it.
  await verdict.getByRole('button', { name: 'Set operator verdict' }).click();
  const set = page.getByRole('dialog', { name: 'Set an operator verdict' });
  await set.getByLabel('Level').selectOption('suspend');
  await set.getByLabel(/Reason/).fill('chargebacks on three cards');
  await set.getByRole('button', { name: 'Set verdict' }).click();
  await page.getByText('Operator verdict set: suspend.').waitFor();
  await verdict.getByText('chargebacks on three cards').first().waitFor();
  const applied = await operatorVerdicts();
  assert.equal(applied.length, 1, 'the verdict is in force');
  assert.equal(applied[0].level, 'suspend');
  assert.equal(applied[0].reasons[0].detail, 'chargebacks on three cards');

  // Clear it, with a reason (Cancel first: nothing changes).
  await verdict.getByRole('button', { name: 'Clear operator verdict' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await operatorVerdicts()).length, 1, 'cancel keeps the verdict');
  await verdict.getByRole('button', { name: 'Clear operator verdict' }).click();
  await page.getByRole('dialog').getByLabel(/Reason/).fill('cards were the customer\'s own');
  await page.getByRole('dialog').getByRole('button', { name: 'Clear verdict' }).click();
  await page.getByText('Operator verdict cleared.').waitFor();
  await verdict.getByRole('button', { name: 'Set operator verdict' }).waitFor();
  assert.equal((await operatorVerdicts()).length, 0, 'the verdict is cleared');

  // Allow-list with a reason, then remove after a confirmation.
  await verdict.getByRole('button', { name: 'Add to the allow-list' }).click();
  const allow = page.getByRole('dialog', { name: 'Allow-list this account?' });
  await allow.getByLabel(/Reason/).fill('research partner, reviewed');
  await allow.getByRole('button', { name: 'Allow-list' }).click();
  await page.getByText('Account allow-listed.').waitFor();
  await verdict.getByText('allow-listed', { exact: true }).waitFor();
  assert.ok((await admin<{ accounts: string[] }>('GET', '/detect/allow')).accounts.includes(acct.id), 'on the allow-list');
  await verdict.getByRole('button', { name: 'Remove from the allow-list' }).click();
  await page.getByRole('dialog').getByLabel(/Reason/).fill('partnership ended');
  await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
  await page.getByText('Removed from the allow-list.').waitFor();
  await verdict.getByRole('button', { name: 'Add to the allow-list' }).waitFor();
  assert.ok(!(await admin<{ accounts: string[] }>('GET', '/detect/allow')).accounts.includes(acct.id), 'off the allow-list');

  // Who cleared and removed them, and why, are recorded (the change log) and shown (the change history).
  const log = (await admin<{ data: { action: string; kind: string; subject: string; note: string | null; by: string | null }[] }>('GET', '/detect/changes')).data.filter((c) => c.subject === acct.id && c.action === 'clear');
  assert.deepEqual(log.map((c) => [c.kind, c.note, c.by]), [['allow_account', 'partnership ended', 'dashboard:reviewer'], ['verdict_account', 'cards were the customer\'s own', 'dashboard:reviewer']], 'who cleared each, and why');
  const history = page.locator('section', { has: page.getByRole('heading', { name: 'Change history' }) });
  await history.locator('tbody tr', { hasText: 'operator verdict cleared' }).filter({ hasText: 'cards were the customer\'s own' }).filter({ hasText: 'dashboard:reviewer' }).waitFor();
  await history.locator('tbody tr', { hasText: 'allow-list cleared' }).filter({ hasText: 'partnership ended' }).waitFor();
  assert.deepEqual(problems.filter((p) => !/status of 404/.test(p)), [], 'no script errors');
  await page.close();
});

test('an operator verdict set for 24 hours from the account page lapses then, and says until when', { skip, timeout: 60_000 }, async () => {
  const acct = await admin<{ id: string }>('POST', '/accounts', { name: 'Under review', email: 'review@timed.example' });
  const { page, problems } = await signedInPage(context, w.url, w.adminToken!, { path: `/#/accounts/${acct.id}`, name: 'reviewer' });
  await page.getByRole('heading', { name: 'Under review', level: 1 }).waitFor();
  const verdict = page.locator('section', { has: page.getByRole('heading', { name: 'Verdict', exact: true }) });
  await verdict.getByRole('button', { name: 'Set operator verdict' }).click();
  const set = page.getByRole('dialog', { name: 'Set an operator verdict' });
  await set.getByLabel('Level').selectOption('throttle');
  await set.getByLabel(/Reason/).fill('throttled while the case is investigated');
  await set.getByLabel('For how long').selectOption({ label: '24 hours' });
  const before = Date.now();
  await set.getByRole('button', { name: 'Set verdict' }).click();
  await page.getByText(/^Operator verdict set: throttle, until /).waitFor();
  const mine = (await admin<{ data: { subject: { id: string }; level: string; expires_at: string | null }[] }>('GET', '/detect/verdicts')).data.find((v) => v.subject.id === acct.id);
  assert.equal(mine?.level, 'throttle');
  const lapses = Date.parse(mine?.expires_at ?? '') - before;
  assert.ok(lapses > 23.9 * 3600_000 && lapses < 24.1 * 3600_000, `it lapses in 24 hours (${mine?.expires_at})`);
  await verdict.locator('.decision', { hasText: 'until' }).locator('time').first().waitFor();
  assert.deepEqual(problems.filter((p) => !/status of 404/.test(p)), [], 'no script errors');
  await page.close();
});

test('an evaluation partner: its organisation allow-listed from an account page, its later accounts too, and removed with a reason', { skip, timeout: 90_000 }, async () => {
  const org = await admin<{ id: string }>('POST', '/orgs', { name: 'Eval partner' });
  const acct = await admin<{ id: string }>('POST', '/accounts', { name: 'Benchmark runner', email: 'runner@evalpartner.example', org_id: org.id });
  const { page, problems } = await signedInPage(context, w.url, w.adminToken!, { path: `/#/accounts/${acct.id}`, name: 'reviewer' });
  await page.getByRole('heading', { name: 'Benchmark runner', level: 1 }).waitFor();
  const verdict = page.locator('section', { has: page.getByRole('heading', { name: 'Verdict', exact: true }) });
  const orgEntry = async () => (await admin<{ entries: { kind: string; id: string; note: string | null; by: string | null; new_accounts?: boolean }[] }>('GET', '/detect/allow')).entries.find((e) => e.kind === 'org' && e.id === org.id);

  // From the keyboard: the dialog asks for a reason and whether later accounts are covered too.
  await verdict.getByRole('button', { name: 'Allow-list its organisation' }).focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Allow-list its organisation?' });
  await dialog.getByLabel(/Reason/).fill('evaluation partner, contract 2026-114');
  await dialog.getByLabel(/Also accounts created in or moved into it later/).check();
  await dialog.getByRole('button', { name: 'Allow-list the organisation' }).click();
  await page.getByText(`Organisation ${org.id} allow-listed, its later accounts included.`).waitFor();
  await verdict.getByText('allow-listed through its organisation').waitFor();
  const entry = await orgEntry();
  assert.ok(entry, 'the organisation is on the allow-list');
  assert.equal(entry.note, 'evaluation partner, contract 2026-114');
  assert.equal(entry.by, 'dashboard:reviewer');
  assert.equal(entry.new_accounts, true, 'later accounts are covered');
  assert.match(await verdict.textContent() ?? '', /covers every account in the organisation, including accounts created in or moved into it after it was made/, 'the page says what the entry covers');
  assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Remove its organisation from the allow-list', 'the focus is on the button that took the place of the one used');

  // An account the partner adds afterwards is covered.
  const later = await admin<{ id: string }>('POST', '/accounts', { name: 'Second runner', email: 'second@evalpartner.example', org_id: org.id });
  await page.goto(`${w.url}/dashboard#/accounts/${later.id}`);
  await page.getByRole('heading', { name: 'Second runner', level: 1 }).waitFor();
  await verdict.getByText('allow-listed through its organisation').waitFor();

  // Removed, with a reason, after Cancel changed nothing; who removed it and why are in the change log.
  await verdict.getByRole('button', { name: 'Remove its organisation from the allow-list' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  assert.ok(await orgEntry(), 'cancel keeps the entry');
  await verdict.getByRole('button', { name: 'Remove its organisation from the allow-list' }).click();
  await page.getByRole('dialog').getByLabel(/Reason/).fill('contract ended');
  await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
  await page.getByText(`Organisation ${org.id} removed from the allow-list.`).waitFor();
  await verdict.getByRole('button', { name: 'Allow-list its organisation' }).waitFor();
  assert.equal(await orgEntry(), undefined, 'off the allow-list');
  const log = (await admin<{ data: { action: string; kind: string; subject: string; note: string | null; by: string | null }[] }>('GET', '/detect/changes')).data.filter((c) => c.subject === org.id);
  assert.deepEqual(log.map((c) => [c.action, c.kind, c.note, c.by]), [['clear', 'allow_org', 'contract ended', 'dashboard:reviewer'], ['set', 'allow_org', 'evaluation partner, contract 2026-114', 'dashboard:reviewer']], 'who added and removed it, and why');
  assert.deepEqual(problems.filter((p) => !/status of 404/.test(p)), [], 'no script errors');
  await page.close();
});

test('the account page says who set each decision and until when, keeps an expiry set from the CLI, and shows what it inherits', { skip, timeout: 90_000 }, async () => {
  // Two accounts paying with the same card: the detector links them into one cluster. One is in an organisation.
  const org = await admin<{ id: string }>('POST', '/orgs', { name: 'Partner lab' });
  const acct = await admin<{ id: string }>('POST', '/accounts', { name: 'Lab member', email: 'member@lab.example', org_id: org.id, payment_fp: 'ab'.repeat(32) });
  const twin = await admin<{ id: string }>('POST', '/accounts', { name: 'Lab twin', email: 'twin@lab.example', payment_fp: 'ab'.repeat(32) });
  for (const a of [acct, twin]) {
    const key = await admin<{ secret: string }>('POST', `/accounts/${a.id}/keys`, {});
    const res = await fetch(`${w.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }) });
    assert.equal(res.status, 200, await res.text());
  }
  let clusterId: string | null = null;
  for (let t = 0; t < 100 && !clusterId; t++) {
    const res = await fetch(`${w.url}/admin/detect/accounts/${acct.id}`, { headers: { authorization: `Bearer ${w.adminToken}` } });
    if (res.ok) clusterId = ((await res.json()) as { cluster: { id: string } | null }).cluster?.id ?? null;
    if (!clusterId) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(clusterId, 'the two accounts are one cluster');
  // Decisions made from the CLI: an account verdict for a day, a verdict on the cluster, the organisation allow-listed.
  const asCli = (path: string, body: unknown) => fetch(`${w.url}/admin${path}`, { method: 'POST', headers: { authorization: `Bearer ${w.adminToken}`, 'content-type': 'application/json', 'x-warden-actor': 'cli:alice' }, body: JSON.stringify(body) });
  const until = new Date(Date.now() + 86_400_000).toISOString();
  assert.equal((await asCli('/detect/verdicts', { kind: 'account', id: acct.id, level: 'verify', note: 'pending review', expires_at: until })).status, 201);
  assert.equal((await asCli('/detect/verdicts', { kind: 'cluster', id: clusterId, level: 'throttle', note: 'shared card' })).status, 201);
  assert.equal((await asCli('/detect/allow', { org: org.id, note: 'evaluation partner' })).status, 201);

  const { page, problems } = await signedInPage(context, w.url, w.adminToken!, { path: `/#/accounts/${acct.id}`, name: 'reviewer' });
  await page.getByRole('heading', { name: 'Lab member', level: 1 }).waitFor();
  const verdict = page.locator('section', { has: page.getByRole('heading', { name: 'Verdict', exact: true }) });
  const decisions = verdict.locator('.decision');
  // Who set the account's verdict and until when; the cluster's verdict and the organisation's entry, as inherited.
  await decisions.first().getByText('set by cli:alice').first().waitFor();
  await decisions.first().locator(`time[datetime="${until}"]`).waitFor();
  await decisions.first().getByText(`Inherited from its cluster ${clusterId}`).waitFor();
  await decisions.first().getByText('shared card').waitFor();
  assert.equal(await decisions.first().getByRole('link', { name: clusterId! }).getAttribute('href'), `#/clusters/${clusterId}`, 'its cluster leads to the cluster\'s page');
  assert.equal(await decisions.first().getByRole('link', { name: 'the cluster’s page' }).count(), 1, 'the cluster\'s verdict is changed on its page');
  await decisions.nth(1).getByText('allow-listed through its organisation').waitFor();
  await decisions.nth(1).getByText(`Inherited: its organisation ${org.id} is on the allow-list`).waitFor();
  await decisions.nth(1).getByText('evaluation partner').waitFor();
  // What the org's entry covers is said: the accounts it held then, not accounts added later.
  await decisions.nth(1).getByText(/account\(s\) the organisation held when it was made; accounts created in or moved into it later are not covered/).waitFor();
  assert.equal(await decisions.nth(1).getByText('not on it').count(), 0, 'not said to be off the allow-list');

  // Changing the verdict starts from its reason and keeps its expiry unless unticked.
  await verdict.getByRole('button', { name: 'Change operator verdict' }).click();
  const change = page.getByRole('dialog', { name: 'Change the operator verdict' });
  assert.equal(await change.getByLabel(/Reason/).inputValue(), 'pending review');
  assert.equal(await change.getByLabel(/Keep it until/).isChecked(), true);
  await change.getByLabel('Level').selectOption('suspend');
  await change.getByLabel(/Reason/).fill('pending review, card confirmed stolen');
  await change.getByRole('button', { name: 'Set verdict' }).click();
  await page.getByText(/^Operator verdict set: suspend, until /).waitFor();
  await decisions.first().getByText('set by dashboard:reviewer').waitFor();
  const mine = (await admin<{ data: { subject: { id: string }; level: string; expires_at?: string; reasons: { detail: string; by?: string }[] }[] }>('GET', '/detect/verdicts')).data.find((v) => v.subject.id === acct.id)!;
  assert.deepEqual([mine.level, mine.expires_at, mine.reasons[0].detail, mine.reasons[0].by], ['suspend', until, 'pending review, card confirmed stolen', 'dashboard:reviewer']);
  // Unticked: until cleared.
  await verdict.getByRole('button', { name: 'Change operator verdict' }).click();
  await page.getByRole('dialog', { name: 'Change the operator verdict' }).getByLabel(/Keep it until/).uncheck();
  await page.getByRole('dialog', { name: 'Change the operator verdict' }).getByRole('button', { name: 'Set verdict' }).click();
  await page.getByText('Operator verdict set: suspend.').waitFor();
  const lasting = (await admin<{ data: { subject: { id: string }; expires_at?: string | null }[] }>('GET', '/detect/verdicts')).data.find((v) => v.subject.id === acct.id)!;
  assert.equal(lasting.expires_at ?? null, null, 'until cleared');
  // The account's own allow-list entry, with who added it.
  await verdict.getByRole('button', { name: 'Add the account itself to the allow-list' }).click();
  const allow = page.getByRole('dialog', { name: 'Allow-list this account?' });
  await allow.getByLabel(/Reason/).fill('research partner, reviewed');
  await allow.getByRole('button', { name: 'Allow-list' }).click();
  await page.getByText('Account allow-listed.').waitFor();
  await decisions.nth(1).getByText('set by dashboard:reviewer').waitFor();
  assert.deepEqual(problems.filter((p) => !/status of 404/.test(p)), [], 'no script errors');
  await page.close();
});
