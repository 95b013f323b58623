// A deletion request is real on disk on the embedded SQLite store: after `POST
// /admin/accounts/{id}/erase`, neither warden.db nor its write-ahead log holds the account's name
// (nor an earlier one it was renamed from), email, signup address or user agent. The account
// record is blanked last, after the events erase has truncated the WAL: its pages from before the
// erase must not stay in the database file, nor their frames in the WAL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { startTestWarden, TEST_ADMIN_TOKEN } from '../helpers/warden.ts';

/** The database file and its WAL, as bytes on disk right now. */
function bytesOnDisk(path: string): Buffer {
  return Buffer.concat([path, `${path}-wal`].filter(existsSync).map((p) => readFileSync(p)));
}

test('an erased account leaves none of its signup facts in warden.db or its WAL', { timeout: 60_000 }, async () => {
  const t = await startTestWarden({ detect: { tick_seconds: 0.05 } });
  try {
    const facts = { name: 'Erika Mustermann', email: 'erika.mustermann77@erase-me.example', signup_ip: '198.51.100.231', user_agent: 'ErikaBrowser/4.2' };
    const account = await t.admin('/accounts', { ...facts, tier: 'email_verified' });
    const id = account.id as string;
    // A rename: the change history kept the old and the new name.
    await t.admin(`/accounts/${id}`, { name: 'Erika M. Renamed' }, 'PATCH');
    const key = (await t.admin(`/accounts/${id}/keys`, { name: 'k' })).secret as string;
    const r = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'user-agent': facts.user_agent },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }),
    });
    assert.equal(r.status, 200, await r.text());
    await t.events((e) => e.account_id === id, 1);
    const path = t.config.store.sqlite_path;
    assert.ok(bytesOnDisk(path).includes(facts.email), 'before the erase the email is on disk');

    const erased = await fetch(`${t.url}/admin/accounts/${id}/erase`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{}',
    });
    assert.equal(erased.status, 200, await erased.clone().text());

    const disk = bytesOnDisk(path);
    for (const v of [facts.name, 'Erika M. Renamed', facts.email, facts.signup_ip, facts.user_agent]) {
      assert.ok(!disk.includes(v), `${v} is not left in ${path} or its WAL after the erase`);
    }
  } finally {
    await t.close();
  }
});

test('an erase whose reason the change history refuses is refused before anything is erased, not half-way', { timeout: 60_000 }, async () => {
  const t = await startTestWarden({ detect: { tick_seconds: 0.05 } });
  try {
    const account = await t.admin('/accounts', { name: 'Hana Partial', email: 'hana@partial.example', tier: 'email_verified' });
    const id = account.id as string;
    const key = await t.admin(`/accounts/${id}/keys`, { name: 'k' });
    const r = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json', 'user-agent': 'HanaAgent/1' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }),
    });
    assert.equal(r.status, 200, await r.text());
    await t.events((e) => e.account_id === id, 1);
    // Its only key revoked earlier (leaked): the erase has no key to revoke first.
    await t.admin(`/keys/${key.key.id}/revoke`, { reason: 'leaked' });
    // A reason pasted from a ticket in Arabic carries a right-to-left mark (U+200F).
    const refused = await fetch(`${t.url}/admin/accounts/${id}/erase`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'طلب حذف\u200f رقم 117' }),
    });
    assert.equal(refused.status, 400, await refused.clone().text());
    assert.match(await refused.text(), /"param":"reason"/, 'the refusal names the reason');
    const events = await t.events((e) => e.account_id === id, 1);
    assert.equal(events[0].client.user_agent, 'HanaAgent/1', 'a refused erase erased no event');
    assert.equal(events[0].erased_at ?? null, null, 'the event is not marked erased');
    const q = await (await fetch(`${t.url}/admin/ledger/v1/query?account=${id}`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).json() as { interactions: Array<{ erased: boolean }> };
    assert.ok(q.interactions.length >= 1 && q.interactions.every((x) => !x.erased), `a refused erase erased no ledger opening: ${JSON.stringify(q.interactions)}`);
    // With a reason it can record, the erase is whole: its report counts the event it erased.
    const done = await fetch(`${t.url}/admin/accounts/${id}/erase`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'طلب حذف رقم 117' }),
    });
    assert.equal(done.status, 200, await done.clone().text());
    const report = await done.json() as { events: number; account_fields: number; ledger_record: string | null };
    assert.ok(report.events >= 1 && report.account_fields >= 2 && report.ledger_record, `the erase is recorded whole: ${JSON.stringify(report)}`);
  } finally {
    await t.close();
  }
});
