// When the detector's and the ledger's routes are mounted, the dashboard finds and shows them
// without a change: an account's verdict with its explanation, detector listings, the ledger's
// signed checkpoint, newest entries, the audit query and its CSV export. Real browser, real
// ledger (SQLite), detector routes answering in the verdict contract of src/detect/verdict.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { parseConfig } from '../config/index.ts';
import { openSqlite, SqliteEventStore } from '../store/index.ts';
import { openIdentityStore } from '../identity/index.ts';
import { adminPlugin } from '../admin/index.ts';
import { Ledger, SqliteLedgerStorage, generateSigner, registerLedgerRoutes } from '../ledger/index.ts';
import { sampleEvent, sampleVerdict } from '../../test/helpers/synthetic-events.ts';
import type { ClusterSummary, Verdict } from '../detect/index.ts';
import { dashboardPlugin, RouteCatalog, usageAdminRoutes, sqliteUsageStore } from './index.ts';
import { findChromium, launchBrowser, browserSkip, requireChromium } from './browser-support.ts';

const CHROMIUM = findChromium();
const TOKEN = 'integration-admin-token-0123456789';

test('dashboard shows detector and ledger routes when they are mounted', { skip: browserSkip(CHROMIUM), timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ui-int-'));
  const config = parseConfig({ store: { sqlite_path: join(dir, 'w.db') }, log: { level: 'silent' } });
  const db = openSqlite(join(dir, 'w.db'));
  const events = new SqliteEventStore(db);
  const identity = openIdentityStore(config, { sqlite: db });
  const origin = 'warden.test/ledger';
  const ledger = await Ledger.open({ storage: SqliteLedgerStorage.open(join(dir, 'ledger.db')), origin, signers: [generateSigner(origin)], checkpointIntervalMs: 50, writer: 'inline' });
  const app = Fastify({ logger: false });
  const context = await launchBrowser(requireChromium(CHROMIUM), join(dir, 'profile'));
  try {
    const org = await identity.createOrg({ name: 'Harvest Labs', tier: 'unverified' });
    const quiet = await identity.createAccount({ name: 'Quiet', email: 'q@calm.example', tier: 'unverified' });
    const mallory = await identity.createAccount({ org_id: org.id, name: 'Mallory', email: 'm@harvest.example', tier: 'unverified', signup_ip: '198.51.100.7', claimed_country: 'NL' });
    const sample = Array.from({ length: 30 }, (_, i) => sampleEvent(i, { account_id: i % 2 ? mallory.id : 'acct_3', ts: new Date(Date.now() - (30 - i) * 1000).toISOString() }));
    await events.appendBatch(sample);
    for (const e of sample) await ledger.appendInteraction(e);
    const verdict: Verdict = { ...sampleVerdict({ kind: 'account', id: mallory.id }, 'throttle'), since: new Date().toISOString() };
    await ledger.appendVerdict(verdict);
    await ledger.checkpoint();
    const clusters: ClusterSummary[] = [{ id: 'cl_7', members: [mallory.id, 'acct_3'], actors: 1, level: 'shape', score: 0.77, requests: 30, campaign_id: 'camp_1', reasons: verdict.reasons }];

    const catalog = new RouteCatalog();
    await app.register(dashboardPlugin, { catalog });
    await app.register(adminPlugin, {
      prefix: '/admin', store: identity, token: TOKEN,
      registrars: [usageAdminRoutes({ usage: sqliteUsageStore(db), identity, catalog })],
      plugins: [(admin) => {
        admin.get('/detect/accounts/:id', async (req, reply) => ((req.params as { id: string }).id === mallory.id ? verdict
          : (req.params as { id: string }).id === quiet.id ? { account_id: quiet.id, level: 'none', verdict: null, requests: 3 } : reply.code(404).send({ error: { code: 'WARDEN_NOT_FOUND', message: 'unknown account' } })));
        admin.get('/detect/clusters', async () => ({ data: clusters }));
        registerLedgerRoutes(admin, ledger, { prefix: '/ledger/v1', authorizeQuery: () => true });
      }],
    });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });

    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${url}/dashboard/#/accounts/${mallory.id}`);
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Mallory', level: 1 }).waitFor();

    // The account's verdict, with the signal, value and threshold that explain it.
    const verdictPanel = page.locator('section', { has: page.getByRole('heading', { name: 'Verdict', exact: true }) });
    await verdictPanel.getByText('template_repetition').waitFor();
    const text = await verdictPanel.textContent() ?? '';
    assert.match(text, /throttle/);
    assert.match(text, /912 of 980 prompts share one template/);
    assert.match(text, /0\.93/);
    assert.match(text, /0\.8/);

    // Seen but not flagged: the detector's level is shown once, labelled (beside the level in force).
    await page.goto(`${url}/dashboard/#/accounts/${quiet.id}`);
    await page.getByRole('heading', { name: 'Quiet', level: 1 }).waitFor();
    await verdictPanel.getByText('requests').waitFor();
    assert.equal(await verdictPanel.locator('.badge', { hasText: 'none' }).count(), 2, 'in force, and the detector\'s level');

    // Detector page: the clusters route is listed and rendered.
    await page.goto(`${url}/dashboard/#/detector`);
    const clusterPanel = page.locator('section', { has: page.getByRole('heading', { name: 'detect › clusters' }) });
    await clusterPanel.locator('tbody tr').first().waitFor();
    assert.match(await clusterPanel.textContent() ?? '', /cl_7.*shape/s);

    // Ledger page: checkpoint, newest entries (the verdict first), audit query, CSV export.
    await page.goto(`${url}/dashboard/#/ledger`);
    const head = page.locator('section', { has: page.getByRole('heading', { name: 'Latest signed checkpoint' }) });
    await head.getByText(origin, { exact: true }).waitFor();
    assert.match(await head.textContent() ?? '', /Tree size\s*31/);
    const entries = page.locator('section', { has: page.getByRole('heading', { name: 'Newest entries' }) });
    await entries.locator('tbody tr').first().waitFor();
    assert.match(await entries.locator('tbody tr').first().textContent() ?? '', /verdict.*throttle/s);
    await page.getByLabel('Account id').fill(mallory.id);
    await page.getByRole('button', { name: 'Query' }).click();
    const usageTable = page.locator('table', { has: page.locator('caption', { hasText: 'Usage per account' }) });
    await usageTable.locator('tbody tr').first().waitFor();
    assert.match(await usageTable.textContent() ?? '', /15/);
    const verdicts = page.locator('table', { has: page.locator('caption', { hasText: 'Verdicts about these accounts' }) });
    assert.match(await verdicts.textContent() ?? '', /throttle.*template_repetition=0\.93 \(threshold 0\.8\)/s);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    const csv = readFileSync(await download.path(), 'utf8');
    assert.equal(csv.trim().split('\n').length >= 16, true, 'header and 15 interactions');
    assert.ok(csv.includes(mallory.id));
    // A refused export says why, in words (not the JSON of the error).
    await page.getByLabel('Client IP').fill('not-an-ip');
    await page.getByRole('button', { name: 'Export CSV' }).click();
    await page.locator('#toast.show').waitFor();
    assert.equal(await page.locator('#toast').textContent(), 'invalid IP not-an-ip');
    await page.getByLabel('Client IP').fill('');
    await page.screenshot({ path: join(tmpdir(), 'warden-dashboard-ledger.png'), fullPage: true });
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    await app.close();
    await ledger.close();
    await identity.close();
    await events.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
