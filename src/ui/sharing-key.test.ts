// A server without a sharing key (cases.sharing_key unset) cannot hash indicators for partners:
// the case page does not offer the STIX export or publishing as if they worked, nor the Cases
// page a partner's bundle to import. It says which
// setting turns them on and where it is explained; the admin API refuses them with an error of
// their own naming that setting. In a real browser against a real Warden whose detector read
// past logs holding a campaign, with a case open on it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { scanPastLogs } from '../../test/helpers/past-logs.ts';
import { startDashboard, type Dashboard } from '../../test/helpers/dashboard.ts';
import { findChromium, browserSkip, requireChromium } from './browser-support.ts';

const CHROMIUM = findChromium();
const skip = browserSkip(CHROMIUM);

let dash: Dashboard;
let page: Page;
let problems: string[] = [];
let caseId = '';

before(async () => {
  if (skip) return;
  dash = await startDashboard(requireChromium(CHROMIUM), {
    name: 'sharing-key',
    // No sharing key, whatever the environment holds (its default reads WARDEN_INTEL_KEY).
    config: { cases: { sharing_key: '', provider: 'Provider B' } },
    prepare: async (dir) => { await scanPastLogs(dir, { seed: 5, days: 2, organic: { hobbyist: 10 }, campaigns: [{ kind: 'hydra', accounts: 12 }] }); },
  });
  const campaign = (await dash.admin('/admin/detect/campaigns')).data[0];
  assert.ok(campaign, 'the seeded hydra is a campaign');
  caseId = (await dash.admin('/admin/cases', { campaign_id: campaign.id })).id;
  ({ page, problems } = await dash.open({ name: 'analyst' }));
});

const section = (name: string) => page.locator('section', { has: page.getByRole('heading', { name, level: 2 }) });

after(async () => {
  if (skip) return;
  assert.deepEqual(problems, [], 'no script or console errors');
  await dash?.close();
});

test('without a sharing key the case page offers no STIX export or publishing, and says which setting turns them on', { skip, timeout: 300_000 }, async () => {
  await page.goto(`${dash.w.url}/dashboard#/cases/${caseId}`);
  await page.getByRole('heading', { name: 'Why it was flagged' }).waitFor();
  const exportButton = page.getByRole('button', { name: 'Export for partners (STIX 2.1)' });
  const publishButton = page.getByRole('button', { name: 'Publish to partners (TAXII)' });
  for (const [what, button] of [['the STIX export', exportButton], ['publishing', publishButton]] as const) {
    assert.equal(await button.count(), 1, `${what} is still shown, so that it can be found`);
    assert.ok(await button.isDisabled(), `${what} cannot be used without a sharing key`);
    const why = await button.getAttribute('aria-describedby');
    assert.ok(why, `${what} is described by the reason`);
    const note = await page.locator(`[id="${why}"]`).textContent() ?? '';
    assert.match(note, /cases\.sharing_key/, `the reason names the setting (${note})`);
    assert.match(note, /WARDEN_INTEL_KEY/, 'and the environment variable its default reads');
    assert.match(note, /docs\/cases\.md/, 'and where it is explained');
    assert.ok(await page.locator(`[id="${why}"]`).isVisible(), 'the reason is on the page, not only read to a screen reader');
  }
  // What does not need a key is still offered.
  assert.ok(await page.getByRole('button', { name: 'Download the report' }).isEnabled(), 'the report can still be downloaded');
});

test('the admin API refuses the STIX export and publishing without a sharing key with an error naming the setting', { skip, timeout: 120_000 }, async () => {
  for (const [method, path] of [['GET', `/admin/cases/${caseId}/stix`], ['POST', `/admin/cases/${caseId}/publish`]]) {
    const r = await fetch(`${dash.w.url}${path}`, { method, headers: { authorization: `Bearer ${dash.w.adminToken}` } });
    const body = await r.json() as { error: { code: string; message: string } };
    assert.equal(r.status, 409, `${method} ${path}: refused as before (${JSON.stringify(body)})`);
    assert.equal(body.error.code, 'WARDEN_NOT_CONFIGURED', `${method} ${path}: a code of its own, not a conflict with the case`);
    assert.match(body.error.message, /cases\.sharing_key/, 'the message names the setting');
    assert.match(body.error.message, /docs\/cases\.md/, 'and where it is explained');
  }
  const exchange = await dash.admin(`/admin/cases/${caseId}/exchange`);
  assert.deepEqual(exchange.sharing, { export: false, publish: false }, 'the case says what it cannot be shared by');
});

test('without a sharing key the Cases page shows the import form disabled, saying which setting turns it on', { skip, timeout: 300_000 }, async () => {
  await page.goto(`${dash.w.url}/dashboard#/cases`);
  const intel = section('Indicators shared by other providers');
  const bundle = intel.getByLabel('STIX 2.1 bundle from a partner');
  await bundle.waitFor();
  const importButton = intel.getByRole('button', { name: 'Import' });
  assert.equal(await importButton.count(), 1, 'the import form is shown, so that it can be found');
  assert.ok(await importButton.isDisabled(), 'Import cannot be used without a key');
  assert.ok(await bundle.isDisabled(), 'nor the bundle typed in');
  const why = await importButton.getAttribute('aria-describedby');
  assert.ok(why, 'Import is described by the reason');
  const note = page.locator(`[id="${why}"]`);
  const text = await note.textContent() ?? '';
  assert.match(text, /cases\.sharing_key/, `the reason names the setting (${text})`);
  assert.match(text, /WARDEN_INTEL_KEY/, 'and the environment variable its default reads');
  assert.match(text, /docs\/cases\.md/, 'and where it is explained');
  assert.ok(await note.isVisible(), 'the reason is on the page, not only read to a screen reader');

  const intelState = await dash.admin('/admin/intel');
  assert.equal(intelState.import, false, 'the API says an import is refused here');
  const r = await fetch(`${dash.w.url}/admin/intel/import`, { method: 'POST', headers: { authorization: `Bearer ${dash.w.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'bundle', id: 'bundle--00000000-0000-4000-8000-000000000001', objects: [] }) });
  const body = await r.json() as { error: { code: string; message: string } };
  assert.equal(body.error?.code, 'WARDEN_NOT_CONFIGURED', `the API refuses it naming the missing setting (${JSON.stringify(body)})`);
  assert.match(body.error.message, /cases\.sharing_key/, 'the refusal names the setting the note names');
});
