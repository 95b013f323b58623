// An operator on call at night, on a phone (390 px): a customer writes that every request is
// refused as suspended. From the account's page they read why (who suspended it, when, the
// reason given) without scrolling through the page, lift the suspension, and the customer's key
// works again at once. In a real browser against a real Warden.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { startDashboard, type Dashboard } from '../../test/helpers/dashboard.ts';
import { findChromium, browserSkip, requireChromium } from './browser-support.ts';

const CHROMIUM = findChromium();
const skip = browserSkip(CHROMIUM);
const PHONE = { width: 390, height: 844 };

let dash: Dashboard;
let page: Page;
let problems: string[] = [];

const chat = (secret: string) => fetch(`${dash.w.url}/v1/chat/completions`, {
  method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the release notes' }] }),
});

before(async () => {
  if (skip) return;
  dash = await startDashboard(requireChromium(CHROMIUM), { name: 'oncall' });
  ({ page, problems } = await dash.open({ name: 'night shift', viewport: PHONE }));
});

after(async () => {
  if (skip) return;
  assert.deepEqual(problems, [], 'no script or console errors');
  await dash?.close();
});

test('on a phone, a suspended account says who suspended it, when and why at the top of its page; reactivated there, its key works again', { skip, timeout: 300_000 }, async () => {
  const acct = await dash.admin('/admin/accounts', { name: 'Ana Night', email: 'ana@night.example' });
  const { secret } = await dash.admin(`/admin/accounts/${acct.id}/keys`, { name: 'prod' });
  assert.equal((await chat(secret)).status, 200, 'the key works before');
  // Suspended during the day by someone else, with a reason.
  const suspended = await fetch(`${dash.w.url}/admin/accounts/${acct.id}/suspend`, {
    method: 'POST', headers: { authorization: `Bearer ${dash.w.adminToken}`, 'content-type': 'application/json', 'x-warden-actor': 'day shift' },
    body: JSON.stringify({ reason: 'chargeback fraud suspected, ticket 4411' }),
  });
  assert.equal(suspended.status, 200, 'suspended');
  assert.equal((await chat(secret)).status, 403, 'the key is refused while suspended');

  await page.goto(`${dash.w.url}/dashboard#/accounts/${acct.id}`);
  await page.getByRole('heading', { name: 'Ana Night', level: 1 }).waitFor();
  const why = page.getByRole('note').filter({ hasText: 'Suspended' });
  await why.waitFor();
  const text = await why.textContent() ?? '';
  assert.match(text, /chargeback fraud suspected, ticket 4411/, `the reason given (${text})`);
  assert.match(text, /day shift/, 'who suspended it');
  assert.equal(await why.locator('time').count(), 1, 'and when');
  const box = await why.boundingBox();
  assert.ok(box && box.y + box.height <= PHONE.height, `on the first screen of a phone, not at the foot of the page (${JSON.stringify(box)})`);
  assert.equal(await page.evaluate('document.documentElement.scrollWidth'), PHONE.width, 'the page does not scroll sideways');

  await page.getByRole('button', { name: 'Reactivate' }).click();
  const dialog = page.getByRole('dialog', { name: 'Reactivate this account?' });
  await dialog.getByLabel(/Reason/).fill('customer proved the card is theirs, ticket 4411');
  await dialog.getByRole('button', { name: 'Reactivate' }).click();
  await page.getByRole('button', { name: 'Suspend' }).waitFor();
  assert.equal(await page.getByRole('note').filter({ hasText: 'Suspended' }).count(), 0, 'the suspension note is gone once lifted');
  assert.equal((await chat(secret)).status, 200, 'the key works again at once');
});

test('on a phone, an active account held at suspend by a verdict says so at the top of its page, with the reason; cleared there, its key works again', { skip, timeout: 300_000 }, async () => {
  const acct = await dash.admin('/admin/accounts', { name: 'Bo Verdict', email: 'bo@verdict.example' });
  const { secret } = await dash.admin(`/admin/accounts/${acct.id}/keys`, { name: 'prod' });
  assert.equal((await chat(secret)).status, 200, 'the key works before');
  const set = await fetch(`${dash.w.url}/admin/detect/verdicts`, {
    method: 'POST', headers: { authorization: `Bearer ${dash.w.adminToken}`, 'content-type': 'application/json', 'x-warden-actor': 'day shift' },
    body: JSON.stringify({ kind: 'account', id: acct.id, level: 'suspend', note: 'scraping outputs at night, see case 12' }),
  });
  assert.equal(set.status, 201, 'held at suspend');
  assert.equal((await chat(secret)).status, 403, 'the key is refused while held at suspend');

  await page.goto(`${dash.w.url}/dashboard#/accounts/${acct.id}`);
  await page.getByRole('heading', { name: 'Bo Verdict', level: 1 }).waitFor();
  // Its status is active: what refuses it is the verdict, and the top of the page says so.
  const why = page.getByRole('note').filter({ hasText: 'Refused as suspended' });
  await why.waitFor();
  const text = await why.textContent() ?? '';
  assert.match(text, /operator.s verdict/, `what decided it (${text})`);
  assert.match(text, /scraping outputs at night, see case 12/, 'the reason given');
  assert.match(text, /day shift/, 'who set it');
  const box = await why.boundingBox();
  assert.ok(box && box.y + box.height <= PHONE.height, `on the first screen of a phone (${JSON.stringify(box)})`);

  // The note leads to where it is lifted.
  await why.getByRole('button', { name: 'Go to the operator decisions' }).click();
  const clear = page.getByRole('button', { name: 'Clear operator verdict' });
  assert.ok(await clear.evaluate((b) => { const r = b.getBoundingClientRect(); return r.top >= 0 && r.bottom <= (globalThis as any).innerHeight; }), 'the clear button is on screen');
  await clear.click();
  const dialog = page.getByRole('dialog', { name: 'Clear the operator verdict?' });
  await dialog.getByLabel(/Reason/).fill('false positive: a crawler of theirs, ticket 12');
  await dialog.getByRole('button', { name: 'Clear verdict' }).click();
  await page.getByRole('button', { name: 'Set operator verdict' }).waitFor();
  assert.equal(await page.getByRole('note').filter({ hasText: 'Refused as suspended' }).count(), 0, 'the note is gone once cleared');
  assert.equal((await chat(secret)).status, 200, 'the key works again at once');
});
