// The dashboard's lists of accounts (the Detector page's flagged accounts, a campaign's and a
// cluster's members, the allow-list's accounts, a case's accounts and the ledger's verdicts in it,
// the Keys page, the overview's latest interactions, the Ledger page's entries and audit query)
// say who each account is, as its own page does: its name, email and organisation beside its id.
// Those are the customer's own words: script or markup in them is shown as text, never run. In a
// real browser against a real Warden whose detector read past logs of accounts that exist in its
// account store.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { openSqlite } from '../store/index.ts';
import { SqliteIdentityStore } from '../identity/index.ts';
import { scanPastLogs } from '../../test/helpers/past-logs.ts';
import { startDashboard, type Dashboard } from '../../test/helpers/dashboard.ts';
import { findChromium, browserSkip, requireChromium } from './browser-support.ts';

const CHROMIUM = findChromium();
const skip = browserSkip(CHROMIUM);
// Markup a customer typed into their name and their organisation's: it must reach the page as text.
const NAME = (n: number) => `<img src=x onerror="window.__xss=1">Member ${n}`;
const ORG = '<script>window.__xss=2</script>Hydra & Co <b>Ltd</b>';

let dash: Dashboard;
let page: Page;
let problems: string[] = [];
let campaign: any;
let caseId = '';
/** An account of the store (in the same organisation) with a key and one request: the Keys page, the interactions and the ledger's usage name it. */
let customer = '';
/** A member the operator holds at throttle: the ledger's verdict entries name it. */
let held = '';
/** The account store's name and email of each account of the logs. */
const people = new Map<string, { name: string; email: string }>();

before(async () => {
  if (skip) return;
  dash = await startDashboard(requireChromium(CHROMIUM), {
    name: 'names',
    // The logs' accounts are accounts of the store (one organisation), with markup in their names.
    prepare: async (dir) => {
      const db = openSqlite(join(dir, 'warden.db'));
      const identity = new SqliteIdentityStore(db);
      const org = await identity.createOrg({ name: ORG });
      await scanPastLogs(dir, { seed: 5, days: 2, organic: { hobbyist: 10 }, campaigns: [{ kind: 'hydra', accounts: 12 }] }, async (events) => {
        const ids = new Map<string, string>();
        for (const id of new Set(events.map((e) => e.account_id).filter((a): a is string => !!a))) {
          const n = ids.size + 1;
          const a = await identity.createAccount({ name: NAME(n), email: `member${n}@names.example`, org_id: org.id });
          ids.set(id, a.id);
          people.set(a.id, { name: NAME(n), email: `member${n}@names.example` });
        }
        return events.map((e) => (e.account_id ? { ...e, account_id: ids.get(e.account_id)!, org_id: org.id } : e));
      });
      db.close();
    },
  });
  campaign = (await dash.admin('/admin/detect/campaigns')).data[0];
  assert.ok(campaign && campaign.members.length >= 8, 'the seeded hydra is a campaign');
  // A customer with a key and one request, in an organisation of its own (named as the other, so
  // that the declared organisation does not link it into the campaign); an operator verdict on a member (a ledger entry).
  const org = await dash.admin('/admin/orgs', { name: ORG });
  const created = await dash.admin('/admin/accounts', { name: NAME(99), email: 'member99@names.example', org_id: org.id });
  customer = created.id;
  people.set(customer, { name: NAME(99), email: 'member99@names.example' });
  const { secret } = await dash.admin(`/admin/accounts/${customer}/keys`, {});
  const chat = await fetch(`${dash.w.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }) });
  assert.equal(chat.status, 200, 'the customer is served');
  await chat.arrayBuffer();
  await dash.w.gateway.recorder.flush();
  held = campaign.members[2];
  await dash.admin('/admin/detect/verdicts', { kind: 'account', id: held, level: 'throttle', note: 'under review' });
  // And on the campaign's cluster: the case's ledger verdicts hold it.
  await dash.admin('/admin/detect/verdicts', { kind: 'cluster', id: campaign.cluster_id, level: 'throttle', note: 'campaign under review' });
  // Both are ledger entries once a checkpoint covers them.
  let covered = false;
  for (let i = 0; i < 150 && !covered; i++) {
    const size = Number(String(await fetch(`${dash.w.url}/ledger/v1/checkpoint`, { headers: { authorization: `Bearer ${dash.w.adminToken}` } }).then((r) => (r.ok ? r.text() : ''))).split('\n')[1] ?? 0);
    const leaves = size > 0 ? ((await dash.admin(`/ledger/v1/entries?start=0&end=${size}`)).entries as Array<{ leaf: string }>).map((e) => e.leaf) : [];
    covered = leaves.some((l) => l.includes(customer)) && leaves.some((l) => l.includes('"verdict"') && l.includes(held));
    if (!covered) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(covered, 'the request and the verdict reached a signed checkpoint');
  campaign = (await dash.admin(`/admin/detect/campaigns/${campaign.id}`));
  const opened = await dash.admin('/admin/cases', { campaign_id: campaign.id });
  caseId = opened.id;
  assert.ok(opened.ledger.verdicts.some((v: any) => v.subject_kind === 'cluster' && v.subject_id === campaign.cluster_id), 'the case holds the ledger entry of the verdict on its cluster');
  ({ page, problems } = await dash.open({ name: 'analyst' }));
});

after(async () => {
  if (skip) return;
  assert.deepEqual(problems, [], 'no script or console errors');
  await dash?.close();
});

const section = (name: string | RegExp) => page.locator('section', { has: page.getByRole('heading', { name, level: 2 }) });

/** The row of `id` in `list` names the account as the store has it, as text, and runs nothing of it. */
async function namesAccount(list: Locator, id: string, where: string): Promise<void> {
  const row = list.locator('tbody tr', { has: page.getByRole('link', { name: id, exact: true }) });
  await row.waitFor();
  const text = await row.textContent() ?? '';
  const who = people.get(id)!;
  assert.ok(text.includes(who.name), `${where}: the row of ${id} shows its name as typed (${text})`);
  assert.ok(text.includes(who.email), `${where}: and its email (${text})`);
  assert.ok(text.includes(ORG), `${where}: and its organisation by name (${text})`);
  assert.equal(await row.locator('img, script, b').count(), 0, `${where}: the markup in the name is text, not elements`);
  assert.equal(await row.getByRole('link', { name: id, exact: true }).getAttribute('href'), `#/accounts/${id}`, `${where}: the id still leads to its page`);
  assert.equal(await page.evaluate('window.__xss'), undefined, `${where}: no script of a name ran`);
}

test('the Detector page names each flagged account: name, email and organisation beside its id', { skip, timeout: 300_000 }, async () => {
  await page.goto(`${dash.w.url}/dashboard#/detector`);
  const flagged = section('Flagged accounts');
  await flagged.locator('tbody tr').first().waitFor();
  for (const id of campaign.members.slice(0, 3)) await namesAccount(flagged, id, 'flagged accounts');
});

test('a campaign and its cluster name their members', { skip, timeout: 300_000 }, async () => {
  await page.goto(`${dash.w.url}/dashboard#/campaigns/${campaign.id}`);
  const members = section(`Accounts (${campaign.members.length})`);
  await members.locator('tbody tr').first().waitFor();
  await namesAccount(members, campaign.members[0], 'campaign members');
  await namesAccount(members, campaign.members.at(-1), 'campaign members');

  await page.goto(`${dash.w.url}/dashboard#/clusters/${campaign.cluster_id}`);
  const clusterMembers = section(/^Accounts \(/);
  await clusterMembers.locator('tbody tr').first().waitFor();
  await namesAccount(clusterMembers, campaign.members[0], 'cluster members');
});

test('the allow-list names the accounts it keeps from being flagged', { skip, timeout: 300_000 }, async () => {
  const member = campaign.members[1];
  await dash.admin('/admin/detect/allow', { account: member, note: 'evaluation partner' });
  await page.goto(`${dash.w.url}/dashboard#/detector`);
  const allow = section(/allow › shadow/);
  await allow.locator('tbody tr').first().waitFor();
  await namesAccount(allow, member, 'allow-list');
  await dash.admin(`/admin/detect/allow?account=${member}`, undefined, 'DELETE');
});

test('a case names its accounts; its ledger verdict on the cluster leads to the cluster', { skip, timeout: 300_000 }, async () => {
  await page.goto(`${dash.w.url}/dashboard#/cases/${caseId}`);
  const accounts = section(/^Accounts \(/);
  await accounts.locator('tbody tr').first().waitFor();
  await namesAccount(accounts, campaign.members[0], 'case accounts');
  await namesAccount(accounts, campaign.members.at(-1), 'case accounts');
  const verdict = section('What the ledger proves').locator('tbody tr', { has: page.getByRole('link', { name: campaign.cluster_id, exact: true }) });
  await verdict.first().waitFor();
  assert.equal(await verdict.first().getByRole('link', { name: campaign.cluster_id, exact: true }).getAttribute('href'), `#/clusters/${campaign.cluster_id}`, 'the verdict on the cluster leads to its page');
});

test('the Keys page, the latest interactions and the Ledger page name the account', { skip, timeout: 300_000 }, async () => {
  await page.goto(`${dash.w.url}/dashboard#/keys`);
  await namesAccount(section('Keys'), customer, 'keys');

  await page.goto(`${dash.w.url}/dashboard#/`);
  await namesAccount(section('Latest interactions'), customer, 'latest interactions');

  await page.goto(`${dash.w.url}/dashboard#/ledger`);
  const newest = section('Newest entries');
  await namesAccount(newest, customer, 'ledger entries (usage)');
  await namesAccount(newest, held, 'ledger entries (verdict)');

  await page.goto(`${dash.w.url}/dashboard#/ledger?account=${customer}&run=1`);
  await namesAccount(section('Audit query'), customer, 'audit query usage');
});
