import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrateSqlite, openSqlite } from '../store/index.ts';
import { MIGRATIONS, SqliteIdentityStore } from './sqlite.ts';
import { identityStoreSuite } from './store-suite.ts';

identityStoreSuite('sqlite', async (clock, { fingerprintSecret }) => {
  const db = openSqlite(':memory:');
  const store = new SqliteIdentityStore(db, { fingerprintSecret, now: () => clock.t });
  return {
    store,
    async dump() {
      const tables = ['orgs', 'accounts', 'api_keys', 'identity_changes'];
      return JSON.stringify(tables.map((t) => db.prepare(`SELECT * FROM ${t}`).all()));
    },
    async cleanup() { await store.close(); db.close(); },
  };
});

test('upgrade: accounts already in use count as in use since their oldest used key, not as first used at the upgrade', () => {
  const db = openSqlite(':memory:');
  // The schema before first use was recorded, with one customer in use and one never used.
  migrateSqlite(db, 'identity', MIGRATIONS.slice(0, 2));
  const account = db.prepare("INSERT INTO accounts (id, tier, programme, status, created_at) VALUES (?, 'email_verified', 'none', 'active', '2025-01-01T00:00:00.000Z')");
  const key = db.prepare("INSERT INTO api_keys (id, account_id, lookup_id, prefix, secret_hash, scopes, created_at, last_used_at) VALUES (?, ?, ?, 'wk_', 'h', '[]', ?, ?)");
  account.run('acct_customer'); account.run('acct_dormant');
  key.run('key_old', 'acct_customer', 'l1', '2025-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z');
  key.run('key_new', 'acct_customer', 'l2', '2026-02-01T00:00:00.000Z', '2026-03-02T00:00:00.000Z');
  key.run('key_unused', 'acct_customer', 'l3', '2024-12-01T00:00:00.000Z', null);
  key.run('key_dormant', 'acct_dormant', 'l4', '2025-01-02T00:00:00.000Z', null);
  new SqliteIdentityStore(db);
  const firstUse = (id: string) => (db.prepare('SELECT first_used_at AS f FROM accounts WHERE id = ?').get(id) as { f: string | null }).f;
  assert.equal(firstUse('acct_customer'), '2025-02-01T00:00:00.000Z');
  assert.equal(firstUse('acct_dormant'), null);
  db.close();
});
