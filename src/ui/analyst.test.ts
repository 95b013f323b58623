// What an analyst needs from the dashboard alone, in a real browser (its time zone Asia/Tokyo)
// against a real Warden whose detector was seeded with past logs holding a campaign: the flagged
// accounts listed, filtered by level and ordered by a column; a campaign's members with their
// level, last seen, requests and strongest signal; the threat-intel partners with what each was
// last sent and received, held indicators approved from the page (one, or all of a partner's at
// once); times in the browser's zone with the zone named and UTC on hover.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { RunningWarden } from '../cli/serve.ts';
import { exchangeValue, keyedHash } from '../detect/index.ts';
import { scanPastLogs } from '../../test/helpers/past-logs.ts';
import { startDashboard, type Dashboard } from '../../test/helpers/dashboard.ts';
import { findChromium, browserSkip, requireChromium } from './browser-support.ts';

const CHROMIUM = findChromium();
const KEY = 'analyst-test-sharing-key-0003';
const skip = browserSkip(CHROMIUM);

let dash: Dashboard;
let w: RunningWarden;
let page: Page;
let problems: string[] = [];
let campaign: any;
const admin = (path: string, init: { method?: string; body?: unknown } = {}) => dash.admin(path, init.body, init.method);
const section = (name: string | RegExp) => page.locator('section', { has: page.getByRole('heading', { name, level: 2 }) });

before(async () => {
  if (skip) return;
  let past: Awaited<ReturnType<typeof scanPastLogs>>;
  dash = await startDashboard(requireChromium(CHROMIUM), {
    name: 'analyst', browser: { timezoneId: 'Asia/Tokyo', locale: 'en-GB' },
    config: { cases: { sharing_key: KEY, provider: 'Provider B', partners: [{ name: 'Provider A', trust: 'low', hold: 'all' }, { name: 'Provider C', trust: 'high' }] } },
    prepare: async (dir) => { past = await scanPastLogs(dir, { seed: 5, days: 2, organic: { hobbyist: 30, startup: 2 }, campaigns: [{ kind: 'hydra', accounts: 30 }] }); },
  });
  w = dash.w;
  await w.stores.events.appendBatch(past!.events);
  campaign = (await admin('/admin/detect/campaigns')).data[0];
  assert.ok(campaign && campaign.members.length >= 20, 'the seeded hydra is a campaign');
  ({ page, problems } = await dash.open({ name: 'analyst' }));
});

after(async () => {
  if (skip) return;
  // An account only the detector knows (the seeded logs') is a 404 of the account store, logged by the browser as a failed resource.
  assert.deepEqual(problems.filter((p) => !/status of 404/.test(p)), [], 'no script or console errors');
  await dash?.close();
});

test('the Detector page lists flagged accounts with level, score, cluster and campaign, filtered by level and ordered by a column', { skip, timeout: 300_000 }, async () => {
  await page.goto(`${w.url}/dashboard#/detector`);
  const flagged = section('Flagged accounts');
  await flagged.locator('tbody tr').first().waitFor();
  const headers = await flagged.locator('thead th').allTextContents();
  for (const h of ['Account', 'Level', 'Score', 'Cluster', 'Campaign', 'Requests', 'Last seen', 'Strongest signal']) assert.ok(headers.some((t) => t.startsWith(h)), `a ${h} column (${headers.join(', ')})`);
  const api = await admin('/admin/detect/accounts?limit=1000');
  assert.ok(api.total >= campaign.members.length, 'every member of the campaign is flagged');
  const member = flagged.locator('tbody tr', { has: page.getByRole('link', { name: campaign.members[0], exact: true }) });
  assert.match(await member.textContent() ?? '', new RegExp(`${campaign.level}.*${campaign.cluster_id}.*${campaign.id}`), 'a member\'s row names its level, cluster and campaign');

  // Filtered by a level: only accounts at it. The filter is in the URL (Back and reload keep it).
  const levels = new Set(api.data.map((a: any) => a.level));
  await flagged.getByLabel('Level').selectOption(campaign.level);
  await page.waitForFunction(`location.hash.includes('level=${campaign.level}')`);
  await flagged.getByRole('status').filter({ hasText: `at ${campaign.level}` }).waitFor();
  const shown = await flagged.locator('tbody tr td:nth-child(2)').allTextContents();
  assert.ok(shown.length > 0 && shown.every((t) => t === campaign.level), `only ${campaign.level} accounts (of ${[...levels].join(', ')})`);

  // Ordered by requests, most first, said by the header.
  await flagged.getByRole('button', { name: 'Requests' }).click();
  await page.waitForFunction(`location.hash.includes('sort=requests')`);
  await flagged.getByRole('status').filter({ hasText: 'by requests' }).waitFor();
  assert.equal(await flagged.locator('thead th', { hasText: 'Requests' }).getAttribute('aria-sort'), 'descending', 'the header says the order');
  const requests = (await flagged.locator('tbody tr td:nth-child(6)').allTextContents()).map((t) => Number(t.replace(/\D/g, '')));
  assert.deepEqual(requests, [...requests].sort((a, b) => b - a), 'most requests first');
  assert.equal(await page.evaluate(`document.activeElement?.textContent?.trim().startsWith('Requests')`), true, 'the focus stays on the header clicked');

  // Each account leads to its page.
  const first = flagged.locator('tbody tr').first().getByRole('link').first();
  const id = await first.textContent();
  await first.click();
  await page.waitForFunction(`location.hash === '#/accounts/${id}'`);
  await page.getByRole('heading', { level: 1 }).first().waitFor();
});

test('a campaign\'s members show their level, last seen, requests and strongest signal in plain words, each linked', { skip, timeout: 300_000 }, async () => {
  await page.goto(`${w.url}/dashboard#/campaigns/${campaign.id}`);
  const members = section(`Accounts (${campaign.members.length})`);
  await members.locator('tbody tr').first().waitFor();
  const headers = await members.locator('thead th').allTextContents();
  for (const h of ['Account', 'Level', 'Requests', 'Last seen', 'Strongest signal']) assert.ok(headers.includes(h), `a ${h} column (${headers.join(', ')})`);
  const rows = await members.locator('tbody tr').count();
  assert.equal(rows, campaign.members.length, 'every member is listed');
  const byApi = new Map(((await admin(`/admin/detect/accounts?campaign=${campaign.id}&limit=1000`)).data as any[]).map((a) => [a.account_id, a]));
  const row = members.locator('tbody tr').first();
  const id = await row.getByRole('link').textContent() ?? '';
  const want = byApi.get(id);
  assert.ok(want, `${id} is a member`);
  assert.equal(await row.getByRole('link').getAttribute('href'), `#/accounts/${id}`, 'the member links to its page');
  const text = await row.textContent() ?? '';
  assert.ok(text.includes(want.level), 'its level');
  assert.ok(text.includes(want.requests.toLocaleString('en-GB')), `its requests (${want.requests})`);
  assert.ok(want.top_signal, 'the member has a strongest signal');
  assert.ok(!text.includes(want.top_signal.signal), 'the signal is named in plain words, not by its id');
  assert.ok(await row.locator('td').last().textContent() !== '', 'the strongest signal is named');
  assert.ok(await row.locator('time').count() === 1, 'its last seen is a time');
});

test('the Partners page shows trust, hold, what each was last sent and received, and approves a held indicator', { skip, timeout: 300_000 }, async () => {
  // A case published to partners, and a bundle from Provider A, whose indicators all wait for review.
  const k = await admin('/admin/cases', { method: 'POST', body: { campaign_id: campaign.id } });
  await admin(`/admin/cases/${k.id}/publish`, { method: 'POST' });
  const bundle = {
    type: 'bundle', id: 'bundle--00000000-0000-4000-8000-0000000000ba',
    objects: [
      { type: 'identity', spec_version: '2.1', id: 'identity--00000000-0000-4000-8000-0000000000bb', name: 'Provider A', identity_class: 'organization', created: '2026-03-01T00:00:00Z', modified: '2026-03-01T00:00:00Z' },
      { type: 'indicator', spec_version: '2.1', id: 'indicator--00000000-0000-4000-8000-0000000000bc', created_by_ref: 'identity--00000000-0000-4000-8000-0000000000bb', pattern_type: 'stix', valid_from: '2026-03-01T00:00:00Z',
        pattern: `[x-warden-keyed-hash:kind = 'system_prompt' AND x-warden-keyed-hash:hmac = '${keyedHash(KEY, 'system_prompt', exchangeValue('system_prompt', 'You are a grader.')!)}']` },
    ],
  };
  await admin('/admin/intel/import?level=throttle', { method: 'POST', body: bundle });
  const indicator = 'indicator--00000000-0000-4000-8000-0000000000bc';
  assert.ok((await admin('/admin/intel')).indicators.find((i: any) => i.id === indicator)?.held, 'Provider A\'s indicator is held for review');

  await page.goto(`${w.url}/dashboard#/detector`);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Partners' }).click();
  await page.getByRole('heading', { name: 'Threat-intel partners', level: 1 }).waitFor();
  const partners = section('Partners');
  const a = partners.locator('tbody tr', { hasText: 'Provider A' });
  await a.waitFor();
  const rowA = await a.textContent() ?? '';
  assert.match(rowA, /low/, 'its trust');
  assert.match(rowA, /every indicator waits for review/, 'its hold, in words');
  assert.match(rowA, new RegExp(`case ${k.id.slice(0, 10)}.*published: \\d+ indicators`), 'what it was last sent');
  assert.match(rowA, /Indicators.*1 held now, 1 waiting for review/, 'what it last sent us');
  assert.match(await partners.locator('tbody tr', { hasText: 'Provider C' }).textContent() ?? '', /high.*nothing yet/, 'a partner that sent nothing says so');

  const waiting = section('Waiting for approval');
  const approve = waiting.getByRole('button', { name: new RegExp(`Approve system prompt indicator ${indicator} from Provider A`) });
  await approve.click();
  await waiting.getByText('No indicator is waiting for review.').waitFor();
  assert.equal((await admin('/admin/intel')).indicators.find((i: any) => i.id === indicator)?.held, null, 'the indicator acts now');
  assert.match(await partners.locator('tbody tr', { hasText: 'Provider A' }).textContent() ?? '', /1 held now(?!, 1 waiting)/, 'the partner\'s row no longer counts it as waiting');
});

test('the Partners page approves all of one partner\'s waiting indicators at once, after a confirmation that says how many', { skip, timeout: 300_000 }, async (t) => {
  // Two more indicators from Provider A, both held for review (its hold is all).
  const ids = ['indicator--00000000-0000-4000-8000-0000000000c1', 'indicator--00000000-0000-4000-8000-0000000000c2'];
  const bundle = {
    type: 'bundle', id: 'bundle--00000000-0000-4000-8000-0000000000c0',
    objects: [
      { type: 'identity', spec_version: '2.1', id: 'identity--00000000-0000-4000-8000-0000000000bb', name: 'Provider A', identity_class: 'organization', created: '2026-03-01T00:00:00Z', modified: '2026-03-01T00:00:00Z' },
      ...ids.map((id, n) => ({ type: 'indicator', spec_version: '2.1', id, created_by_ref: 'identity--00000000-0000-4000-8000-0000000000bb', pattern_type: 'stix', valid_from: '2026-03-01T00:00:00Z',
        pattern: `[x-warden-keyed-hash:kind = 'system_prompt' AND x-warden-keyed-hash:hmac = '${keyedHash(KEY, 'system_prompt', exchangeValue('system_prompt', `You are grader number ${n}.`)!)}']` })),
    ],
  };
  await admin('/admin/intel/import?level=throttle', { method: 'POST', body: bundle });
  const heldNow = async () => (await admin('/admin/intel')).indicators.filter((i: any) => ids.includes(i.id) && i.held).length;
  assert.equal(await heldNow(), 2, 'both wait for review');

  const approvals: string[] = [];
  const watchApprovals = (r: { method(): string; url(): string }) => { if (r.method() === 'POST' && r.url().includes('/admin/intel/approve')) approvals.push(r.url()); };
  page.on('request', watchApprovals);
  t.after(() => { page.off('request', watchApprovals); });
  await page.goto(`${w.url}/dashboard#/partners`);
  await page.getByRole('heading', { name: 'Threat-intel partners', level: 1 }).waitFor();
  const waiting = section('Waiting for approval');
  const approveAll = waiting.getByRole('button', { name: 'Approve all from Provider A' });

  await approveAll.click();
  let dialog = page.getByRole('dialog');
  assert.match(await dialog.textContent() ?? '', /2 indicators from Provider A/, 'the confirmation says how many');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await heldNow(), 2, 'cancelled: both still wait');
  assert.equal(approvals.length, 0, 'cancelled: nothing is sent');

  await approveAll.click();
  dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Approve 2' }).click();
  await waiting.getByText('No indicator is waiting for review.').waitFor();
  assert.equal(await heldNow(), 0, 'both act now');
  assert.equal(approvals.length, 1, 'one call approves them all');
  assert.match(approvals[0], /[?&]source=Provider(%20|\+)A(&|$)/, 'the call names the partner');
  assert.match(await section('Partners').locator('tbody tr', { hasText: 'Provider A' }).textContent() ?? '', /3 held now(?!, \d+ waiting)/, 'the partner\'s row no longer counts them as waiting');
});

test('times show the browser\'s zone, named, with UTC on hover, in tables and charts', { skip, timeout: 300_000 }, async () => {
  await page.goto(`${w.url}/dashboard#/campaigns/${campaign.id}`);
  const facts = section('Campaign');
  const lastSeen = facts.locator('dd time').nth(1);
  await lastSeen.waitFor();
  const [text, title, datetime] = [await lastSeen.textContent() ?? '', await lastSeen.getAttribute('title') ?? '', await lastSeen.getAttribute('datetime') ?? ''];
  assert.match(text, /GMT\+9|JST/, `the zone is named (${text})`);
  assert.ok(title.startsWith(`${datetime.slice(0, 19).replace('T', ' ')} UTC`), `UTC on hover (${title})`);
  const utcHour = new Date(datetime).getUTCHours();
  assert.ok(text.includes(`${String((utcHour + 9) % 24).padStart(2, '0')}:`), `shown at Tokyo's hour (${text}, ${datetime})`);
  // The members' table, and the hourly chart: its zone named under it, UTC in each bar's tooltip.
  const member = section(`Accounts (${campaign.members.length})`).locator('tbody time').first();
  assert.match(await member.textContent() ?? '', /GMT\+9|JST/, 'a table\'s time names the zone');
  assert.match(await member.getAttribute('title') ?? '', / UTC \(/, 'and gives UTC on hover');
  assert.match(await page.locator('figure.chart-figure .chart-zone').textContent() ?? '', /Asia\/Tokyo/, 'the chart names its zone');
  assert.match(await page.locator('figure.chart-figure svg title').first().textContent() ?? '', /(GMT\+9|JST).*UTC\)/, 'a bar\'s tooltip gives local and UTC');
  await page.locator('figure.chart-figure summary').click();
  assert.match(await page.locator('figure.chart-figure tbody time').first().textContent() ?? '', /GMT\+9|JST/, 'the chart\'s numbers name the zone');
});
