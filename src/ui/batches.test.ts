// The account page's batches and files panels in a real browser against a real Warden: a
// customer's batches of both APIs are listed with their endpoint, counts and the address that sent
// them, and an operator cancels one from the page; its uploaded files are listed, and the operator
// deletes one. Skips only when no chromium binary exists at all.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/index.ts';
import { startWarden } from '../cli/serve.ts';
import type { BrowserContext } from 'playwright-core';
import { signedInPage } from '../../test/helpers/dashboard.ts';
import { findChromium, launchBrowser, browserSkip, requireChromium } from './browser-support.ts';

const CHROMIUM = findChromium();

/** One browser for the file, started when the first test begins, beside that test's Warden; each test has its own page. */
let browserDir: string | null = null;
let browser: Promise<BrowserContext> | null = null;
function sharedBrowser(): Promise<BrowserContext> {
  browserDir ??= mkdtempSync(join(tmpdir(), 'warden-ui-batches-browser-'));
  return browser ??= launchBrowser(requireChromium(CHROMIUM), join(browserDir, 'profile'));
}
after(async () => {
  await (await browser?.catch(() => null))?.close();
  if (browserDir) rmSync(browserDir, { recursive: true, force: true });
});

test('dashboard: an account\'s batches of both APIs, one cancelled from its page; its files, one deleted', { skip: browserSkip(CHROMIUM), timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ui-batches-'));
  const launching = sharedBrowser();
  // One request at a time, each held by the mock for 200 ms: the batch is still running when the operator looks.
  const config = parseConfig({
    server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' },
    mock: { latency_ms: 200, tokens_per_second: 0 }, batches: { concurrency: 1 },
  });
  const w = await startWarden(config, { log: () => {} });
  const admin = async (path: string, body: object) => (await (await fetch(`${w.url}/admin${path}`, { method: 'POST', headers: { authorization: `Bearer ${w.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as any;
  const account = await admin('/accounts', { name: 'bulk customer', email: 'bulk@example.org', tier: 'identity_verified' });
  const key = (await admin(`/accounts/${account.id}/keys`, { name: 'k' })).secret as string;
  // An OpenAI batch first (input file uploaded, then the batch), so that the Anthropic one is the newest.
  const form = new FormData();
  form.append('purpose', 'batch');
  form.append('file', new Blob([JSON.stringify({ custom_id: 'o1', method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-5', messages: [{ role: 'user', content: 'Hi' }] } }) + '\n']), 'in.jsonl');
  const file = await (await fetch(`${w.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form })).json() as any;
  const openai = await (await fetch(`${w.url}/v1/batches`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }) })).json() as any;
  assert.match(openai.id, /^batch_/, JSON.stringify(openai));
  const requests = Array.from({ length: 40 }, (_, i) => ({ custom_id: `q${i}`, params: { model: 'claude-sonnet-5', max_tokens: 8, messages: [{ role: 'user', content: `Question ${i}` }] } }));
  const created = await (await fetch(`${w.url}/v1/messages/batches`, { method: 'POST', headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body: JSON.stringify({ requests }) })).json() as any;
  const doc = new FormData();
  doc.append('purpose', 'user_data');
  doc.append('file', new Blob([Buffer.from('%PDF-1.4\n%%EOF\n')]), 'contract.pdf');
  const upload = await (await fetch(`${w.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: doc })).json() as any;
  assert.equal(upload.purpose, 'user_data', JSON.stringify(upload));
  const { page, problems } = await signedInPage(await launching, w.url, w.adminToken!, { path: `#/accounts/${account.id}` });
  try {
    const panel = page.locator('section', { has: page.getByRole('heading', { name: 'Batches', exact: true }) });
    const row = panel.locator('tbody tr').first();
    await row.waitFor();
    assert.match(await row.textContent() ?? '', /\/v1\/messages/);
    await panel.locator('tbody tr', { hasText: openai.id.slice(-4) }).getByText('/v1/chat/completions').waitFor();
    assert.match(await row.textContent() ?? '', /in progress/);
    assert.match(await row.textContent() ?? '', /127\.0\.0\.1/);
    await row.getByRole('button', { name: 'Cancel' }).click();
    await page.getByText('Batch cancelled').waitFor();
    await panel.locator('tbody tr').first().getByText(/canceling|ended/).waitFor();
    const b = await (await fetch(`${w.url}/admin/batches?account=${account.id}`, { headers: { authorization: `Bearer ${w.adminToken}` } })).json() as any;
    assert.equal(b.data[0].id, created.id);
    assert.ok(b.data[0].cancel_initiated_at, 'cancelled from the page');
    assert.ok(b.data[0].request_counts.canceled > 0);

    const files = page.locator('section', { has: page.getByRole('heading', { name: 'Files', exact: true }) });
    const fileRow = files.locator('tbody tr', { hasText: 'contract.pdf' });
    await fileRow.waitFor();
    assert.match(await fileRow.textContent() ?? '', /user_data/);
    assert.match(await fileRow.textContent() ?? '', /application\/pdf/);
    await files.locator('tbody tr', { hasText: 'in.jsonl' }).waitFor();
    await fileRow.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.getByText('File deleted.').waitFor();
    await files.locator('tbody tr', { hasText: 'contract.pdf' }).waitFor({ state: 'detached' });
    const left = await (await fetch(`${w.url}/admin/files?account=${account.id}`, { headers: { authorization: `Bearer ${w.adminToken}` } })).json() as any;
    assert.ok(!left.data.some((f: any) => f.id === upload.id), 'deleted from the page');
    assert.ok(left.data.some((f: any) => f.filename === 'in.jsonl'), 'the batch input is still there');
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dashboard: an account with more batches and files than its page lists says so and shows more on request', { skip: browserSkip(CHROMIUM), timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ui-batches-more-'));
  const launching = sharedBrowser();
  const config = parseConfig({ server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 } });
  const w = await startWarden(config, { log: () => {} });
  const admin = async (path: string, body: object) => (await (await fetch(`${w.url}/admin${path}`, { method: 'POST', headers: { authorization: `Bearer ${w.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as any;
  const account = await admin('/accounts', { name: 'many uploads', email: 'many@example.org', tier: 'enterprise' });
  const key = (await admin(`/accounts/${account.id}/keys`, { name: 'k' })).secret as string;
  // 21 batches (the page shows 20) and 51 files (it shows 50).
  for (let i = 0; i < 21; i++) {
    const res = await fetch(`${w.url}/v1/messages/batches`, { method: 'POST', headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ requests: [{ custom_id: `b${i}`, params: { model: 'claude-sonnet-5', max_tokens: 8, messages: [{ role: 'user', content: `Question ${i}` }] } }] }) });
    assert.equal(res.status, 200, await res.text());
  }
  for (let i = 0; i < 51; i++) {
    const form = new FormData();
    form.append('purpose', 'user_data');
    form.append('file', new Blob([`note ${i}`], { type: 'text/plain' }), `note-${String(i).padStart(2, '0')}.txt`);
    const res = await fetch(`${w.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
    assert.equal(res.status, 200, await res.text());
  }
  const { page, problems } = await signedInPage(await launching, w.url, w.adminToken!, { path: `#/accounts/${account.id}` });
  try {
    for (const [heading, noun, shown, all] of [['Batches', 'batches', 20, 21], ['Files', 'files', 50, 51]] as const) {
      const panel = page.locator('section', { has: page.getByRole('heading', { name: heading, exact: true }) });
      await panel.getByText(`Showing the newest ${shown} ${noun}; there are more.`).waitFor();
      assert.equal(await panel.locator('tbody tr').count(), shown, `${heading}: the first ${shown}`);
      await panel.getByRole('button', { name: 'Show 100 more' }).click();
      await panel.getByText(/Showing the newest/).waitFor({ state: 'detached' });
      assert.equal(await panel.locator('tbody tr').count(), all, `${heading}: all of them`);
    }
    assert.ok(await page.locator('tbody tr', { hasText: 'note-00.txt' }).count() === 1, 'the oldest file is listed, and can be deleted from the page');
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
