// An analyst finds an account from what an abuse report gives: an API key's prefix (or a leaked
// key pasted whole), or a client address. In a real browser against a real Warden (SQLite, port 0,
// the built-in mock model, requests with client addresses through a trusted proxy).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { RunningWarden } from '../cli/serve.ts';
import { findChromium, browserSkip, requireChromium } from './browser-support.ts';
import { startDashboard, type Dashboard } from '../../test/helpers/dashboard.ts';

const CHROMIUM = findChromium();
const skip = browserSkip(CHROMIUM);

let dash: Dashboard;
let w: RunningWarden;
let page: Page;
let problems: string[] = [];
const requested: string[] = [];
let owner: { id: string; name: string };
let key: { prefix: string; secret: string };
let traveller: { id: string; name: string };

const admin = (path: string, body?: unknown) => dash.admin(path, body);
const chat = (secret: string, ip: string) => fetch(`${w.url}/v1/chat/completions`, {
  method: 'POST',
  headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'x-forwarded-for': ip },
  body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Summarise the release notes' }] }),
});
const results = () => page.locator('section', { has: page.getByRole('heading', { level: 2, name: /^Accounts (matching|that signed up)/ }) });

async function search(text: string): Promise<void> {
  await page.getByLabel('Search accounts').fill(text);
  await page.getByLabel('Search accounts').press('Enter');
}

before(async () => {
  if (skip) return;
  // Requests name their client address through a trusted proxy (x-forwarded-for).
  dash = await startDashboard(requireChromium(CHROMIUM), { name: 'search', config: { server: { trusted_proxies: ['127.0.0.1/32'] } } });
  w = dash.w;
  // Accounts around the ones the report names, so that a match is not the only account there is.
  for (let i = 0; i < 5; i++) await admin('/admin/accounts', { name: `Neighbour ${i}`, email: `n${i}@shop.example`, signup_ip: '192.0.2.10' });
  owner = await admin('/admin/accounts', { name: 'Key owner', email: 'owner@leak.example', signup_ip: '192.0.2.20' });
  const created = await admin(`/admin/accounts/${owner.id}/keys`, { name: 'ci pipeline' });
  key = { prefix: created.key.prefix, secret: created.secret };
  traveller = await admin('/admin/accounts', { name: 'Traveller', email: 'traveller@roam.example', signup_ip: '192.0.2.30' });
  const travellerKey = (await admin(`/admin/accounts/${traveller.id}/keys`, {})).secret;
  // The traveller signed up from 192.0.2.30 and sends its requests from 198.51.100.77.
  for (let i = 0; i < 3; i++) assert.equal((await chat(travellerKey, '198.51.100.77')).status, 200);
  assert.equal((await chat(key.secret, '203.0.113.5')).status, 200);
  await w.gateway.recorder.flush();
  ({ page, problems } = await dash.open({ path: '#/accounts', heading: 'Accounts' }));
  page.on('request', (r) => requested.push(r.url()));
});

after(async () => {
  if (skip) return;
  assert.deepEqual(problems, [], 'no script or console errors');
  await dash?.close();
});

test('a key prefix finds the account that owns the key, and names the key', { skip, timeout: 120_000 }, async () => {
  await search(key.prefix);
  const note = results().getByRole('note');
  await note.waitFor();
  assert.match(await note.textContent() ?? '', new RegExp(`Key ${key.prefix} \\(ci pipeline\\) active belongs to account ${owner.id}`), 'the key, its name, status and account are named');
  assert.equal(await note.getByRole('link', { name: owner.id }).getAttribute('href'), `#/accounts/${owner.id}`, 'the account is a link to its page');
  assert.deepEqual(await results().locator('tbody tr td:first-child').allTextContents(), ['Key owner'], 'the owner is listed, and only it');
});

test('a leaked key pasted whole is searched by its prefix: the secret stays out of the URL and off the server', { skip, timeout: 120_000 }, async () => {
  await page.goto(`${w.url}/dashboard#/accounts`);
  await page.getByRole('heading', { name: 'Accounts', level: 1 }).waitFor();
  requested.length = 0;
  await search(key.secret);
  await page.waitForFunction(`location.hash === '#/accounts?q=${key.prefix}'`);
  await results().getByRole('note').waitFor();
  assert.deepEqual(await results().locator('tbody tr td:first-child').allTextContents(), ['Key owner'], 'the owner is found');
  assert.match(await results().textContent() ?? '', /secret part was left out/, 'the page says the secret was left out');
  assert.equal(await page.getByLabel('Search accounts').inputValue(), key.prefix, 'the field holds the prefix only');
  const secretPart = key.secret.slice(key.prefix.length + 1);
  assert.deepEqual(requested.filter((u) => u.includes(secretPart)), [], 'no request carries the secret');
  assert.ok(!(await page.evaluate('location.href') as string).includes(secretPart), 'the URL does not hold the secret');
});

test('a client address lists the accounts that sent requests from it, apart from those that signed up there', { skip, timeout: 120_000 }, async () => {
  await search('198.51.100.77');
  const signedUp = page.locator('section', { has: page.getByRole('heading', { level: 2, name: 'Accounts that signed up from 198.51.100.77' }) });
  await signedUp.getByText('No accounts match.').waitFor();
  const sent = page.locator('section', { has: page.getByRole('heading', { level: 2, name: 'Accounts that sent requests from 198.51.100.77' }) });
  const row = sent.locator('tbody tr');
  await row.first().waitFor();
  assert.equal(await row.count(), 1, 'one account sent requests from the address');
  assert.equal(await row.first().getByRole('link').getAttribute('href'), `#/accounts/${traveller.id}`, 'it is the traveller, a link to its page');
  assert.match(await row.first().textContent() ?? '', /Traveller.*3/, 'with its name and its 3 requests');
  // A signup address still finds the accounts that signed up there.
  await search('192.0.2.10');
  await page.locator('section', { has: page.getByRole('heading', { level: 2, name: 'Accounts that signed up from 192.0.2.10' }) }).locator('tbody tr').nth(4).waitFor();
});
