// The authenticator's stop while the key store fails slowly (a database that stopped answering):
// it writes the keys' last-use times once, and does not wait a second time on the same store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSqlite } from '../store/index.ts';
import { SqliteIdentityStore } from './sqlite.ts';
import { CachedAuthenticator } from './cache.ts';

test('a stop with a store that does not answer waits for one last-use write, not two', async () => {
  const db = openSqlite(':memory:');
  const store = new SqliteIdentityStore(db);
  const org = await store.createOrg({ name: 'o', tier: 'email_verified' });
  const account = await store.createAccount({ org_id: org.id, name: 'a', email: 'a@example.org', tier: 'email_verified' });
  const { secret } = await store.createKey(account.id, { name: 'k' });
  let writes = 0;
  // Each write fails after 300 ms, as one that times out does.
  store.touchKeys = async () => { writes++; await new Promise((r) => setTimeout(r, 300)); throw new Error('Query read timeout'); };
  const auth = new CachedAuthenticator(store, { flushMs: 60_000 });
  try {
    await auth.authenticate(secret);
    const t0 = Date.now();
    await auth.close();
    const took = Date.now() - t0;
    assert.equal(writes, 1, 'one attempt');
    assert.ok(took < 550, `one wait (${took} ms)`);
  } finally {
    await store.close();
    db.close();
  }
});
