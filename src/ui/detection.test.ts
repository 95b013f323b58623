// The dashboard's campaign and cluster pages in a real browser against a real Warden whose
// detector was seeded with past logs holding a campaign: the detector page links them, a
// campaign lists every member with a link, a cluster's operator verdict is set from its page and
// reaches the engine with who set it, an id the detector does not know says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/index.ts';
import { startWarden } from '../cli/serve.ts';
import { scanPastLogs } from '../../test/helpers/past-logs.ts';
import { signedInPage } from '../../test/helpers/dashboard.ts';
import { findChromium, launchBrowser, browserSkip, requireChromium, offLeft } from './browser-support.ts';

const CHROMIUM = findChromium();

test('dashboard: a campaign\'s and a cluster\'s own pages, members linked, cluster verdict set from the page', { skip: browserSkip(CHROMIUM), timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ui-detection-'));
  const past = await scanPastLogs(dir, { seed: 3, days: 2, organic: { hobbyist: 30, startup: 2 }, campaigns: [{ kind: 'hydra', accounts: 30 }] });
  const config = parseConfig({
    server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 },
    cases: { sharing_key: 'dashboard-test-sharing-key-0002', provider: 'Provider B' },
  });
  const w = await startWarden(config, { log: () => {} });
  await w.stores.events.appendBatch(past.events);
  const admin = async (path: string) => (await fetch(`${w.url}${path}`, { headers: { authorization: `Bearer ${w.adminToken}` } })).json() as any;
  const campaign = (await admin('/admin/detect/campaigns')).data[0];
  assert.ok(campaign && campaign.members.length >= 20, 'the seeded hydra is a campaign');
  const context = await launchBrowser(requireChromium(CHROMIUM), join(dir, 'profile'));
  try {
    const { page, problems } = await signedInPage(context, w.url, w.adminToken!, { name: 'analyst' });

    // The detector page: campaigns and clusters as tables whose ids lead to their pages.
    await page.getByRole('link', { name: 'Detector' }).click();
    const campaigns = page.locator('section', { has: page.getByRole('heading', { name: 'detect › campaigns' }) });
    await campaigns.getByRole('link', { name: campaign.id }).waitFor();
    assert.ok(!/\d+ items: acct_/.test(await campaigns.textContent() ?? ''), 'members are not cut into a string');
    const clusters = page.locator('section', { has: page.getByRole('heading', { name: 'detect › clusters', exact: true }) });
    await clusters.getByRole('link', { name: campaign.cluster_id }).first().waitFor();
    // The campaigns come first, above the page of flagged accounts (its 30 members and their links):
    // from the keyboard the worst campaign is a few Tabs from the top, and Enter opens it.
    await page.locator('section', { has: page.getByRole('heading', { name: 'Flagged accounts' }) }).locator('tbody tr').nth(campaign.members.length - 1).waitFor();
    const headings = await page.locator('main h2').allTextContents();
    assert.ok(headings.indexOf('detect › campaigns') === 0 && headings.indexOf('detect › clusters') < headings.indexOf('Flagged accounts'),
      `campaigns, then clusters, then the flagged accounts (${headings.join(', ')})`);
    await page.evaluate('document.activeElement?.blur(); window.scrollTo(0, 0)');
    let tabs = 0;
    while (tabs < 40 && await page.evaluate('document.activeElement?.textContent') !== campaign.id) { await page.keyboard.press('Tab'); tabs++; }
    assert.ok(tabs < 25, `the campaign's link is reached with ${tabs} Tabs from the top of the page`);
    await page.keyboard.press('Enter');

    // The campaign page: level and why, capabilities, hourly requests, every member linked.
    await page.getByRole('heading', { name: `Campaign ${campaign.id}`, level: 1 }).waitFor();
    const why = page.locator('section', { has: page.getByRole('heading', { name: 'Why: the signals behind its level' }) });
    assert.deepEqual(await why.locator('thead th').allTextContents(), ['Signal', 'Value', 'Threshold', 'Weight', 'Detail'], 'the evidence names value, threshold and weight');
    assert.equal(await why.locator('tbody tr').count(), campaign.evidence.length, 'every signal of the evidence is listed');
    const targets = page.locator('section', { has: page.getByRole('heading', { name: 'What it went after' }) });
    assert.match(await targets.textContent() ?? '', /Coding|Reasoning traces|Agentic tool use/, 'the targeted capabilities are named');
    assert.equal(await page.locator('main figure.chart-figure svg').count(), 1, 'the hourly requests are a chart, not JSON');
    const members = page.locator('section', { has: page.getByRole('heading', { name: `Accounts (${campaign.members.length})` }) });
    const links = await members.getByRole('link').evaluateAll((as) => as.map((a) => [a.textContent, a.getAttribute('href')]));
    assert.deepEqual(links.map(([t]) => t).sort(), [...campaign.members].sort(), 'every member is listed');
    assert.ok(links.every(([t, href]) => href === `#/accounts/${t}`), 'each member links to its account page');
    assert.ok(await page.getByRole('button', { name: 'Open a case' }).isVisible(), 'a case can be opened from the campaign');
    await page.setViewportSize({ width: 390, height: 844 });
    assert.deepEqual(await offLeft(page), [], 'nothing left of the screen on the campaign page');
    assert.equal(await page.evaluate('document.documentElement.scrollWidth'), 390, 'the campaign page does not scroll sideways');
    await page.setViewportSize({ width: 1360, height: 900 });
    await page.screenshot({ path: join(tmpdir(), 'warden-dashboard-campaign.png'), fullPage: true });

    // Its cluster's page, where the verdict on all of them is set.
    await page.locator('section', { has: page.getByRole('heading', { name: 'Campaign', exact: true }) }).getByRole('link', { name: campaign.cluster_id }).click();
    await page.getByRole('heading', { name: `Cluster ${campaign.cluster_id}`, level: 1 }).waitFor();
    await page.locator('section', { has: page.getByRole('heading', { name: /^Accounts \(/ }) }).getByRole('link', { name: campaign.members[0] }).waitFor();
    await page.getByRole('link', { name: campaign.id }).waitFor();
    await page.getByRole('button', { name: 'Set operator verdict' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Level').selectOption('suspend');
    await dialog.getByLabel('Reason (recorded with the verdict)').fill('same cards as the chargebacks of March');
    await dialog.getByRole('button', { name: 'Set verdict' }).click();
    await page.getByRole('button', { name: 'Clear operator verdict' }).waitFor();
    const set = (await admin('/admin/detect/verdicts')).data.find((v: any) => v.subject.kind === 'cluster' && v.subject.id === campaign.cluster_id);
    assert.equal(set?.level, 'suspend', 'the engine holds the operator verdict on the cluster');
    assert.equal(set.reasons[0].by, 'dashboard:analyst', 'who set it is recorded');
    assert.equal(set.reasons[0].detail, 'same cards as the chargebacks of March', 'the reason is recorded');
    const member = await admin(`/admin/detect/accounts/${campaign.members[0]}`);
    assert.equal(member.level, 'suspend', 'a member is held at the cluster\'s operator verdict');
    const panelText = await page.locator('section', { has: page.getByRole('heading', { name: 'Operator verdict' }) }).textContent() ?? '';
    assert.match(panelText, /suspend.*same cards as the chargebacks of March.*set by dashboard:analyst/, 'the page shows the verdict, its reason and who set it');
    // Cleared from the page, with a reason: logged with who did it.
    await page.getByRole('button', { name: 'Clear operator verdict' }).click();
    await page.getByRole('dialog').getByLabel('Reason (recorded with the change)').fill('the cards were a test batch');
    await page.getByRole('dialog').getByRole('button', { name: 'Clear verdict' }).click();
    await page.getByRole('button', { name: 'Set operator verdict' }).waitFor();
    assert.equal((await admin('/admin/detect/verdicts')).data.filter((v: any) => v.subject.kind === 'cluster').length, 0, 'the cluster verdict is cleared');
    const change = (await admin('/admin/detect/changes')).data[0];
    assert.deepEqual([change.action, change.subject, change.note, change.by], ['clear', campaign.cluster_id, 'the cards were a test batch', 'dashboard:analyst'], 'the clearing is logged with who and why');

    // Ids the detector does not know (merged away, forgotten): a clear message, no script error.
    await page.goto(`${w.url}/dashboard#/campaigns/camp_gone`);
    await page.getByRole('heading', { name: 'No campaign camp_gone' }).waitFor();
    assert.match(await page.getByRole('alert').first().textContent() ?? '', /names no campaign camp_gone/);
    await page.goto(`${w.url}/dashboard#/clusters/clu_gone`);
    await page.getByRole('heading', { name: 'No cluster clu_gone' }).waitFor();
    // A campaign is found by its cluster's id too.
    await page.goto(`${w.url}/dashboard#/campaigns/${campaign.cluster_id}`);
    await page.getByRole('heading', { name: `Campaign ${campaign.id}`, level: 1 }).waitFor();

    // Opening a case from the campaign page.
    await page.getByRole('button', { name: 'Open a case' }).click();
    await page.getByRole('heading', { name: 'Why it was flagged' }).waitFor();
    const casePanel = page.locator('section', { has: page.getByRole('heading', { name: 'Campaign', exact: true }) });
    assert.equal(await casePanel.getByRole('link', { name: campaign.id }).getAttribute('href'), `#/campaigns/${campaign.id}`, 'the case links its campaign');
    assert.equal(await casePanel.getByRole('link', { name: campaign.cluster_id }).getAttribute('href'), `#/clusters/${campaign.cluster_id}`, 'the case links its cluster');
    // Back on the campaign page, the case opened is linked where the button was (a second case would be refused, 409).
    const caseId = new URL(page.url()).hash.replace('#/cases/', '');
    await page.goto(`${w.url}/dashboard#/campaigns/${campaign.id}`);
    const caseLink = page.getByRole('link', { name: `Case ${caseId}` });
    await caseLink.waitFor({ timeout: 10_000 }).catch(() => {});
    assert.equal(await caseLink.getAttribute('href').catch(() => null), `#/cases/${caseId}`, 'the campaign page links the case already open on it');
    assert.equal(await page.getByRole('button', { name: 'Open a case' }).count(), 0, 'and offers no second one');
    // The unknown cluster's 404 is logged by the browser as a failed resource, not a script error.
    assert.deepEqual(problems.filter((p) => !/status of 404/.test(p)), [], 'no script errors or CSP violations');
  } finally {
    await context.close();
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
