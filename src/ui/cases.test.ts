// The dashboard's cases page in a real browser against a real Warden whose detector was seeded
// with past logs holding a campaign: open a case on it, read the evidence, record a decision,
// import a partner's indicators. Skips only when no chromium binary exists at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/index.ts';
import { startWarden } from '../cli/serve.ts';
import { exchangeValue, keyedHash } from '../detect/index.ts';
import { scanPastLogs } from '../../test/helpers/past-logs.ts';
import { signedInPage } from '../../test/helpers/dashboard.ts';
import { findChromium, launchBrowser, browserSkip, requireChromium, offLeft } from './browser-support.ts';
import { receiver } from '../../test/helpers/receiver.ts';

const CHROMIUM = findChromium();
const KEY = 'dashboard-test-sharing-key-0001';

test('dashboard cases: open a case on a campaign, record a decision, import a partner\'s indicators', { skip: browserSkip(CHROMIUM), timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ui-cases-'));
  const past = await scanPastLogs(dir, { seed: 3, days: 2, organic: { hobbyist: 30, startup: 2 }, campaigns: [{ kind: 'hydra', accounts: 30 }] });
  const hook = await receiver(() => ({ status: 204 }));
  const config = parseConfig({
    server: { port: 0, host: '127.0.0.1' }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 },
    cases: { sharing_key: KEY, provider: 'Provider B', feeds: [{ name: 'Provider C', url: 'http://127.0.0.1:9/taxii2/intel/collections/c/', token: 'key-provider-c-issued-us', every_seconds: 3600 }] },
    notify: { webhooks: [{ name: 'soc', url: hook.url, events: ['test'] }] },
  });
  const w = await startWarden(config, { log: () => {} });
  await w.stores.events.appendBatch(past.events);
  const context = await launchBrowser(requireChromium(CHROMIUM), join(dir, 'profile'));
  try {
    const { page, problems } = await signedInPage(context, w.url, w.adminToken!, { name: 'analyst' });

    await page.getByRole('link', { name: 'Cases' }).click();
    await page.getByRole('heading', { name: 'Cases', level: 1 }).waitFor();
    const campaigns = page.locator('section', { has: page.getByRole('heading', { name: 'Campaigns the detector names' }) });
    await campaigns.locator('tbody tr').first().waitFor();
    assert.equal(await page.locator('section', { has: page.getByRole('heading', { name: 'Cases', level: 2 }) }).getByText('No case yet.').count(), 1);
    const opened = (await campaigns.getByRole('button', { name: 'Open a case' }).first().getAttribute('aria-label'))!.replace('Open a case on ', '');
    await campaigns.getByRole('button', { name: 'Open a case' }).first().click();

    // The case page: the campaign's evidence, what its accounts shared, the accounts.
    await page.getByRole('heading', { name: 'Why it was flagged' }).waitFor();
    const caseUrl = page.url();
    // Back on the Cases page, the campaign links its case instead of offering a second one (which the API refuses with 409).
    await page.goBack();
    const row = campaigns.locator('tbody tr', { has: page.getByRole('link', { name: opened, exact: true }) });
    await row.getByRole('link', { name: /^Case case_/ }).waitFor();
    assert.equal(await row.getByRole('button', { name: `Open a case on ${opened}` }).count(), 0, 'no second case is offered on the campaign');
    await row.getByRole('link', { name: /^Case case_/ }).click();
    await page.getByRole('heading', { name: 'Why it was flagged' }).waitFor();
    assert.equal(page.url(), caseUrl, 'the link leads to the case open on it');
    const h1 = await page.getByRole('heading', { level: 1 }).textContent();
    assert.match(h1 ?? '', /^Campaign camp_\w+: 30 accounts/);
    const evidence = page.locator('section', { has: page.getByRole('heading', { name: 'Why it was flagged' }) });
    assert.ok(await evidence.locator('tbody tr').count() >= 2);
    assert.equal(await evidence.getByRole('columnheader', { name: 'Weight' }).count(), 1, 'the evidence shows each signal\'s weight, as the account page and the report do');
    const shared = page.locator('section', { has: page.getByRole('heading', { name: 'What its accounts shared' }) });
    assert.match(await shared.textContent() ?? '', /payment_fp/);
    assert.ok(await shared.getByText('yes').count() >= 1);
    await page.getByRole('heading', { name: 'Accounts (30)' }).waitFor();
    await page.screenshot({ path: join(tmpdir(), 'warden-dashboard-case.png'), fullPage: true });
    // At 390 px the row of case actions wraps: every button on screen, no sideways scroll.
    await page.setViewportSize({ width: 390, height: 844 });
    assert.deepEqual(await offLeft(page), [], 'nothing left of the screen on the case page');
    assert.equal(await page.evaluate('document.documentElement.scrollWidth'), 390, 'the case page does not scroll sideways');
    for (const box of await page.locator('main p.actions button').evaluateAll((bs) => bs.map((b) => b.getBoundingClientRect().toJSON()))) {
      assert.ok(box.left >= 0 && box.right <= 390, `a case action is on screen (${box.left}..${box.right})`);
    }
    await page.setViewportSize({ width: 1360, height: 900 });

    // A decision with a note, kept on the case.
    await page.getByLabel('Status').selectOption('confirmed');
    await page.getByLabel('Note').fill('same cards as the chargebacks of March');
    await page.getByRole('button', { name: 'Record' }).click();
    const decision = page.locator('section', { has: page.getByRole('heading', { name: 'Decision' }) });
    await decision.getByText('same cards as the chargebacks of March').waitFor();
    assert.match(await decision.textContent() ?? '', /confirmed/);
    assert.match(await decision.locator('li', { hasText: 'same cards as the chargebacks of March' }).textContent() ?? '', / — dashboard:analyst/, 'the decision names who made it');

    // Publishing reaches partners: it asks first, naming what goes out; cancelled, nothing is published.
    assert.equal(await page.getByRole('button', { name: 'Withdraw from partners' }).count(), 0, 'nothing to withdraw before anything is published');
    const caseId = decodeURIComponent(page.url().split('#/cases/')[1]);
    const exchange = async () => (await (await fetch(`${w.url}/admin/cases/${caseId}/exchange`, { headers: { authorization: `Bearer ${w.adminToken}` } })).json() as any).published;
    await page.getByRole('button', { name: 'Publish to partners (TAXII)' }).click();
    const ask = page.getByRole('dialog');
    assert.match(await ask.textContent() ?? '', /\d+ indicators?: \d+ \w+.*TAXII collection “distillation campaign indicators”/, 'the dialog names how many indicators, their kinds and the collection');
    await ask.getByRole('button', { name: 'Cancel' }).click();
    await ask.waitFor({ state: 'detached' });
    assert.deepEqual(await exchange(), [], 'cancelled: nothing is published');
    assert.equal(await decision.getByText(/published to partners/).count(), 0, 'cancelled: no note either');
    // Confirmed, with a note: the TAXII collection serves it, and the case notes both.
    await page.getByRole('button', { name: 'Publish to partners (TAXII)' }).click();
    await ask.getByLabel('Valid for (days)').fill('30');
    await ask.getByLabel('Note for the case (optional, recorded with your name)').fill('agreed with Provider C on the call');
    await ask.getByRole('button', { name: 'Publish', exact: true }).click();
    await decision.getByText(/published to partners: \d+ indicators.*valid 30 days/).waitFor();
    await decision.getByText('agreed with Provider C on the call').waitFor();
    const sharedWith = page.locator('section', { has: page.getByRole('heading', { name: 'Shared with partners' }) });
    await sharedWith.getByText('in force').first().waitFor();
    const acct = (await (await fetch(`${w.url}/admin/accounts`, { headers: { authorization: `Bearer ${w.adminToken}` } })).json() as any).data[0].id;
    const partnerKey = (await (await fetch(`${w.url}/admin/accounts/${acct}/keys`, { method: 'POST', headers: { authorization: `Bearer ${w.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ scopes: ['intel:read'] }) })).json() as any).secret;
    const taxii = async (path: string) => (await fetch(`${w.url}/taxii2${path}`, { headers: { authorization: `Bearer ${partnerKey}`, accept: 'application/taxii+json;version=2.1' } })).json() as any;
    const collection = (await taxii('/intel/collections/')).collections[0].id;
    const served = await taxii(`/intel/collections/${collection}/objects/?match[type]=indicator`);
    assert.ok(served.objects.length >= 1 && served.objects.every((o: any) => !o.revoked));
    await page.getByRole('button', { name: 'Withdraw from partners' }).click();
    assert.match(await ask.textContent() ?? '', /\d+ indicators?: .*revoked/, 'withdrawing names what is revoked');
    await ask.getByRole('button', { name: 'Withdraw', exact: true }).click();
    await decision.getByText(/withdrawn from partners: \d+ indicators revoked/).waitFor();
    await page.getByRole('button', { name: 'Publish to partners (TAXII)' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Withdraw from partners' }).count(), 0, 'nothing left to withdraw');
    // Dismissing a published case withdraws it: asked first; cancelled, the status and the indicators stay.
    await page.getByRole('button', { name: 'Publish to partners (TAXII)' }).click();
    await ask.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.getByRole('button', { name: 'Withdraw from partners' }).waitFor();
    await page.getByLabel('Status').selectOption('dismissed');
    await page.getByRole('button', { name: 'Record' }).click();
    assert.match(await ask.textContent() ?? '', /Dismissing revokes the \d+ indicators?/, 'dismissing says it withdraws');
    await ask.getByRole('button', { name: 'Cancel' }).click();
    await ask.waitFor({ state: 'detached' });
    assert.ok((await exchange()).some((p: any) => !p.revoked), 'cancelled: still published');
    await page.getByRole('button', { name: 'Record' }).click();
    await ask.getByRole('button', { name: 'Dismiss and withdraw' }).click();
    await decision.getByText(/withdrawn from partners: \d+ indicators revoked/).first().waitFor();
    assert.ok((await exchange()).every((p: any) => p.revoked), 'dismissed: withdrawn');
    assert.ok((await taxii(`/intel/collections/${collection}/objects/?match[type]=indicator`)).objects.every((o: any) => o.revoked));

    // Back to the list: the case is there, confirmed. A partner's bundle is imported from the page.
    await page.getByRole('link', { name: 'Cases' }).click();
    const cases = page.locator('section', { has: page.getByRole('heading', { name: 'Cases', level: 2 }) });
    await cases.locator('tbody tr').first().waitFor();
    assert.match(await cases.locator('tbody tr').first().textContent() ?? '', /dismissed/);
    // Sightings are kept only of indicators we published: Provider A's is of one this case published.
    const ours = (await exchange())[0].id as string;
    const bundle = {
      type: 'bundle', id: 'bundle--00000000-0000-4000-8000-0000000000aa',
      objects: [
        { type: 'identity', spec_version: '2.1', id: 'identity--00000000-0000-4000-8000-0000000000ab', name: 'Provider A', identity_class: 'organization', created: '2026-03-01T00:00:00Z', modified: '2026-03-01T00:00:00Z' },
        { type: 'indicator', spec_version: '2.1', id: 'indicator--00000000-0000-4000-8000-0000000000ac', created_by_ref: 'identity--00000000-0000-4000-8000-0000000000ab', pattern_type: 'stix', valid_from: '2026-03-01T00:00:00Z',
          pattern: `[x-warden-keyed-hash:kind = 'system_prompt' AND x-warden-keyed-hash:hmac = '${keyedHash(KEY, 'system_prompt', exchangeValue('system_prompt', 'You are a grader.')!)}']` },
        // Provider A also reports that one of our indicators matched at theirs.
        { type: 'sighting', spec_version: '2.1', id: 'sighting--00000000-0000-4000-8000-0000000000ad', created_by_ref: 'identity--00000000-0000-4000-8000-0000000000ab', sighting_of_ref: ours, count: 4321, x_warden_accounts: 17, last_seen: '2026-03-02T00:00:00Z' },
      ],
    };
    const intel = page.locator('section', { has: page.getByRole('heading', { name: 'Indicators shared by other providers' }) });
    await intel.getByLabel('STIX 2.1 bundle from a partner').fill(JSON.stringify(bundle));
    await intel.getByLabel('Hold matching accounts at').selectOption('shape');
    await intel.getByRole('button', { name: 'Import' }).click();
    await intel.locator('tbody tr', { hasText: 'system_prompt' }).waitFor();
    assert.match(await intel.locator('tbody tr').first().textContent() ?? '', /system_prompt.*Provider A.*shape/);
    const theirs = intel.locator('table', { has: page.getByText('Partners’ sightings of our indicators') });
    assert.match(await theirs.locator('tbody tr').first().textContent() ?? '', new RegExp(`Provider A.*${ours}.*4,321.*17`));
    // A partner's feed that cannot be reached: polled from the page, it says why.
    const feeds = page.locator('section', { has: page.getByRole('heading', { name: 'Partners’ TAXII feeds' }) });
    await feeds.locator('tbody tr', { hasText: 'Provider C' }).waitFor();
    await feeds.getByRole('button', { name: 'Poll now' }).click();
    await feeds.getByText('failing').waitFor();
    assert.match(await feeds.locator('tbody tr').first().textContent() ?? '', /fetch failed|ECONNREFUSED/);
    assert.ok(!(await page.content()).includes('key-provider-c-issued-us'), 'the feed\'s key is not shown');
    await page.screenshot({ path: join(tmpdir(), 'warden-dashboard-cases.png'), fullPage: true });

    // The detector page's webhooks: a test sent from the page reaches the receiver and is listed.
    await page.getByRole('link', { name: 'Detector' }).click();
    const notify = page.locator('section', { has: page.getByRole('heading', { name: 'Notifications' }) });
    await notify.locator('tbody tr', { hasText: 'soc' }).waitFor();
    assert.ok(!(await notify.textContent() ?? '').includes('T0KEN'), 'the webhook URL\'s token is not shown');
    await notify.getByRole('button', { name: 'Send a test' }).click();
    await notify.getByText('delivered', { exact: true }).waitFor();
    assert.equal(JSON.parse(hook.got[0].body).type, 'test');
    // The failed poll was toasted as an error (not a script error).
    assert.deepEqual(problems.filter((p) => !/502/.test(p)), [], 'no script errors or CSP violations');
  } finally {
    await context.close();
    await w.close();
    await hook.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
