import { openSqlite } from '../store/index.ts';
import { SqliteIdentityStore } from './sqlite.ts';
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
