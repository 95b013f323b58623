// What an analyst reads to understand a verdict, in a real browser against a real Warden whose
// detector was seeded with past logs holding a campaign: each signal named in plain words with what
// its value measures, on the campaign page and on a member's page; the member's page says why the
// account is in its cluster (the rule, the shared values and their weights, the sum against the
// threshold) and lists every behaviour signal measured, those under their threshold included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/index.ts';
import { startWarden } from '../cli/serve.ts';
import { INDICATORS } from '../detect/scoring.ts';
import { scanPastLogs } from '../../test/helpers/past-logs.ts';
import { signedInPage } from '../../test/helpers/dashboard.ts';
import { findChromium, launchBrowser, browserSkip, requireChromium } from './browser-support.ts';

const CHROMIUM = findChromium();
// The browser's module (plain JS, served as is), loaded by URL: it has no type declarations.
const { SIGNALS, describeSignal } = await import(new URL('./static/lib/signals.js', import.meta.url).href) as {
  SIGNALS: Record<string, [string, string]>;
  describeSignal(id: string): { name: string; meaning: string };
};

test('signals: every behaviour indicator of the detector has a plain name and meaning', () => {
  const missing = Object.keys(INDICATORS).filter((k) => !SIGNALS[k]);
  assert.deepEqual(missing, [], 'indicators without a plain-language entry');
  assert.equal(describeSignal('shared_payment_fingerprint').name, 'Shared payment fingerprint', 'link evidence is named by its kind');
  assert.equal(describeSignal('yield_single_shot_share').name, 'Harvest-yield test: one-off questions', 'a condition of the yield test is named by its indicator');
  assert.equal(describeSignal('some_new_signal').name, 'Some new signal', 'an unknown id is at least said in words');
});

test('dashboard: a verdict explained in plain words, with why the account is in its cluster and every signal measured', { skip: browserSkip(CHROMIUM), timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ui-explain-'));
  const past = await scanPastLogs(dir, { seed: 3, days: 2, organic: { hobbyist: 10 }, campaigns: [{ kind: 'hydra', accounts: 12 }] });
  // One of the campaign's accounts is on the configuration's allow-list (a partner's runner linked into it).
  const partner = [...past.labels.campaigns.camp_hydra_1.accounts].sort()[0];
  const config = parseConfig({
    detect: { allow: { accounts: [partner] } },
    server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 },
  });
  const w = await startWarden(config, { log: () => {} });
  await w.stores.events.appendBatch(past.events);
  const admin = async (path: string) => (await fetch(`${w.url}${path}`, { headers: { authorization: `Bearer ${w.adminToken}` } })).json() as any;
  const campaign = (await admin('/admin/detect/campaigns')).data[0];
  assert.ok(campaign, 'the seeded hydra is a campaign');
  const member = campaign.members.filter((a: string) => a !== partner).at(-1);
  const view = await admin(`/admin/detect/accounts/${member}`);
  assert.ok(view.link && view.indicators?.length, 'the detector explains the member\'s link and measures its indicators');
  const context = await launchBrowser(requireChromium(CHROMIUM), join(dir, 'profile'));
  try {
    const { page, problems } = await signedInPage(context, w.url, w.adminToken!, { path: `#/campaigns/${campaign.id}` });

    // The campaign's evidence: every row names its signal in words and says what it measures.
    await page.getByRole('heading', { name: `Campaign ${campaign.id}`, level: 1 }).waitFor();
    const why = page.locator('section', { has: page.getByRole('heading', { name: 'Why: the signals behind its level' }) });
    const elicitation = why.locator('tbody tr', { has: page.locator('code', { hasText: /^reasoning_elicitation_share$/ }) });
    assert.match(await elicitation.textContent() ?? '', /Reasoning asked for.*Share of its requests, 0 to 1/, 'the indicator is named in words with its meaning and unit');
    const details = await why.locator('tbody tr td:last-child').allTextContents();
    assert.deepEqual(details.filter((d) => !d.trim()), [], 'no signal is left without a detail or a meaning');

    // A member's page: the verdict's signals in words, why it is in the cluster, every signal measured.
    await page.goto(`${w.url}/dashboard#/accounts/${member}`);
    const verdict = page.locator('section', { has: page.getByRole('heading', { name: 'Verdict', exact: true }) });
    const linked = verdict.locator('section, div', { has: page.getByRole('heading', { name: 'Why it is in its cluster' }) }).last();
    await linked.waitFor();
    // The seeded members came from scanned logs, not from the account store: the page says so and still explains.
    assert.match(await page.getByRole('note').first().textContent() ?? '', /holds no account with this id/, 'an account only the detector knows says why there are no signup facts');
    const linkText = await linked.textContent() ?? '';
    const strongest = view.link.evidence[0];
    assert.match(linkText, new RegExp(view.link.with.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'the account it was linked with is named');
    assert.match(linkText, new RegExp(`${describeSignal(`shared_${strongest.kind}`).name.replace(/^Shared /, '')}`, 'i'), 'the heaviest shared value is named');
    assert.match(linkText, new RegExp(`${view.link.total}.*${view.link.threshold}`), 'the sum of the evidence is read against the link threshold');
    const measured = verdict.locator('table', { has: page.locator('caption', { hasText: 'Every behaviour signal measured' }) });
    assert.equal(await measured.locator('tbody tr').count(), view.indicators.length, 'every indicator measured is listed');
    const under = view.indicators.find((i: any) => i.contribution === 0);
    assert.ok(under, 'some indicator is under its threshold');
    const underRow = measured.locator('tbody tr', { has: page.locator('code', { hasText: new RegExp(`^${under.signal}$`) }) });
    assert.match(await underRow.textContent() ?? '', /under its threshold/, 'a signal under its threshold says it adds nothing');

    // The allow-listed runner's page still says what the detector would hold it at without the entry, and why.
    const shadow = (await admin(`/admin/detect/accounts/${partner}`)).shadow;
    assert.ok(shadow && shadow.level !== 'none', `the detector would flag the runner without the entry: ${JSON.stringify(shadow)?.slice(0, 200)}`);
    await page.goto(`${w.url}/dashboard#/accounts/${partner}`);
    const without = verdict.locator('section.shadow-verdict');
    await without.getByRole('heading', { name: 'Without the allow-list' }).waitFor();
    const withoutText = await without.textContent() ?? '';
    assert.match(withoutText, new RegExp(`would be held at\\s*${shadow.level}`), `the level it would be held at is said: ${withoutText.slice(0, 300)}`);
    assert.ok(withoutText.includes(shadow.precedence.summary), 'with the verdict that would decide');
    assert.equal(await without.locator('table tbody tr').count(), shadow.verdict.reasons.length, 'and every signal of that verdict');
    await page.goto(`${w.url}/dashboard#/detector`);
    const entries = page.locator('section', { has: page.getByRole('heading', { name: 'detect › allow › shadow' }) });
    await entries.getByRole('link', { name: partner }).waitFor();
    assert.match(await entries.textContent() ?? '', new RegExp(`account ${partner}[\\s\\S]*Without the entry: 1 at ${shadow.level}`), 'the detector page lists each entry with what it keeps its accounts from');

    // The account store's 404 for the member is logged by the browser as a failed resource, not a script error.
    assert.deepEqual(problems.filter((p) => !/status of 404/.test(p)), [], 'no script errors or CSP violations');
  } finally {
    await context.close();
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
