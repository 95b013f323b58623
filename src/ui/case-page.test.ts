// What an operator investigating a campaign reads on its case's page, in a real browser against a
// real Warden whose detector read past logs holding a campaign (their events stored): how much of
// the campaign's traffic got through (requests read, served, refused, tokens, models), the operator
// decisions the case was built with (an allow-listed member: who, when, why, not counted), and the
// values its accounts shared, those exported first and the rest folded with why, so that its
// accounts are not a hundred rows further down. Before, the case file held the first two and the
// page showed neither.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { openSqlite } from '../store/index.ts';
import { SqliteIdentityStore } from '../identity/index.ts';
import { scanPastLogs } from '../../test/helpers/past-logs.ts';
import { startDashboard, type Dashboard } from '../../test/helpers/dashboard.ts';
import { findChromium, browserSkip, requireChromium } from './browser-support.ts';

const CHROMIUM = findChromium();
const skip = browserSkip(CHROMIUM);

let dash: Dashboard;
let page: Page;
let problems: string[] = [];
let file: any;
let allowed = '';

before(async () => {
  if (skip) return;
  let past: Awaited<ReturnType<typeof scanPastLogs>>;
  dash = await startDashboard(requireChromium(CHROMIUM), {
    name: 'case-page',
    config: { cases: { sharing_key: 'case-page-test-sharing-key-01', provider: 'Provider B' } },
    // The logs' accounts are accounts of the store, so that an operator can allow-list one.
    prepare: async (dir) => {
      const db = openSqlite(join(dir, 'warden.db'));
      const identity = new SqliteIdentityStore(db);
      past = await scanPastLogs(dir, { seed: 5, days: 2, organic: { hobbyist: 10 }, campaigns: [{ kind: 'hydra', accounts: 12 }] }, async (events) => {
        const ids = new Map<string, string>();
        for (const id of new Set(events.map((e) => e.account_id).filter((a): a is string => !!a))) {
          ids.set(id, (await identity.createAccount({ name: `Member ${ids.size + 1}`, email: `member${ids.size + 1}@case.example` })).id);
        }
        return events.map((e) => (e.account_id ? { ...e, account_id: ids.get(e.account_id)! } : e));
      });
      db.close();
    },
  });
  await dash.w.stores.events.appendBatch(past!.events);
  const campaign = (await dash.admin('/admin/detect/campaigns')).data[0];
  assert.ok(campaign && campaign.members.length >= 8, 'the seeded hydra is a campaign');
  allowed = campaign.members[1];
  const allow = await fetch(`${dash.w.url}/admin/detect/allow`, {
    method: 'POST', headers: { authorization: `Bearer ${dash.w.adminToken}`, 'content-type': 'application/json', 'x-warden-actor': 'night shift' },
    body: JSON.stringify({ account: allowed, note: 'evaluation partner, ticket 7781' }),
  });
  assert.equal(allow.status, 201, await allow.clone().text());
  file = await dash.admin('/admin/cases', { campaign_id: campaign.id });
  assert.ok(file.usage.requests > 0 && file.usage.served !== undefined, `the case read the campaign's events (${JSON.stringify(file.usage)})`);
  assert.ok(file.decisions.some((d: any) => d.account_id === allowed && d.excluded), 'the case holds the allow-list decision');
  ({ page, problems } = await dash.open({ name: 'analyst', path: `#/cases/${file.id}`, heading: file.title }));
});

after(async () => {
  if (skip) return;
  assert.deepEqual(problems, [], 'no script or console errors');
  await dash?.close();
});

const section = (name: string | RegExp) => page.locator('section', { has: page.getByRole('heading', { name, level: 2 }) });
const fmt = (n: number) => n.toLocaleString('en-US');

test('a case says how much of the campaign got through: requests read, served, refused, tokens', { skip, timeout: 300_000 }, async () => {
  const through = section('What got through');
  await through.waitFor();
  const text = await through.innerText();
  const u = file.usage;
  assert.match(text, new RegExp(`Requests read\\s+${fmt(u.requests)}`), `the requests read (${text})`);
  assert.match(text, new RegExp(`Served\\s+${fmt(u.served)}`), 'how many were served');
  assert.match(text, new RegExp(`Refused \\(403, 429\\)\\s+${fmt(u.refused)}`), 'how many were refused');
  assert.match(text, new RegExp(`Tokens in / out\\s+${fmt(u.input_tokens)} / ${fmt(u.output_tokens)}`), 'and the tokens');
  const model = Object.keys(u.models)[0];
  assert.ok(text.includes(model), `and the models (${model})`);
});

test('a case shows the operator decisions it was built with: who, why, and that the account is not counted', { skip, timeout: 300_000 }, async () => {
  const decisions = section('Operator decisions');
  const row = decisions.locator('tbody tr', { has: page.getByRole('link', { name: allowed, exact: true }) });
  await row.waitFor();
  const text = await row.innerText();
  assert.match(text, /allow-listed \(account /, `the decision (${text})`);
  assert.match(text, /evaluation partner, ticket 7781/, 'why');
  assert.match(text, /not counted/, 'and that it is not one of the case\'s accounts');
  assert.match(text, /night shift/, `who (${text})`);
});

test('the values exported come first; the rest are folded, with why, and all are there', { skip, timeout: 300_000 }, async () => {
  const shared = section('What its accounts shared');
  await shared.waitFor();
  const exported = file.observables.filter((o: any) => o.shareable).length;
  const rest = file.observables.length - exported;
  assert.ok(rest > 0, 'the campaign shared values that are not exported');
  const folded = shared.locator('details');
  assert.equal(await folded.getAttribute('open'), null, 'those not exported are folded');
  assert.match(await folded.locator('summary').innerText(), new RegExp(`^${rest} values? not exported, and why$`), 'saying how many');
  assert.equal(await shared.locator('tbody tr').count() - await folded.locator('tbody tr').count(), exported, 'the exported ones are listed open');
  await folded.locator('summary').click();
  assert.equal(await folded.locator('tbody tr').count(), rest, 'unfolded, every other value is listed');
  const why = file.observables.find((o: any) => !o.shareable).why;
  assert.ok((await folded.innerText()).includes(why), `with why it is not exported (${why})`);
});
