// The dashboard's search finds an account by its whole email address beyond the bound of accounts
// one text search examines (an abuse report names an old customer's address).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSqlite } from '../store/sqlite.ts';
import { SqliteIdentityStore } from '../identity/sqlite.ts';
import { search, SEARCH_SCAN_LIMIT } from './routes.ts';

test('an old account is found by its whole email address when newer accounts fill the scan bound', async () => {
  const db = openSqlite(':memory:');
  const store = new SqliteIdentityStore(db);
  const old = await store.createAccount({ name: 'Old customer', email: 'Reported.Person@Mail.example' });
  // Newer accounts (ids sort after the old one's) past what one search page examines.
  const insert = db.prepare("INSERT INTO accounts (id, tier, programme, status, created_at, email) VALUES (?, 'unverified', 'none', 'active', ?, ?)");
  db.transaction(() => {
    for (let i = 0; i < SEARCH_SCAN_LIMIT + 10; i++) insert.run(`acct_7${String(i).padStart(25, '0')}`, new Date().toISOString(), `user${i}@mail.example`);
  })();

  const byPart = await search(store, 'reported.person');
  assert.equal(byPart.truncated, true, 'a part of the address is matched by the scan, which stops at its bound');
  assert.equal(byPart.accounts.length, 0, 'so the scan alone does not reach the old account');

  const byAddress = await search(store, 'REPORTED.PERSON@mail.example');
  assert.deepEqual(byAddress.accounts.map((a) => a.id), [old.id], 'the whole address finds it at once, whatever its case');
  assert.equal(byAddress.accounts[0].email, 'Reported.Person@Mail.example', 'the address as the customer gave it');

  const next = byAddress.next_cursor ? await search(store, 'REPORTED.PERSON@mail.example', { cursor: byAddress.next_cursor }) : null;
  assert.ok(!next || !next.accounts.some((a) => a.id === old.id), 'a later page does not list it again');
  db.close();
});
