// A fleet's connections to PostgreSQL are the nodes' pools added up: the shared pool's size is a
// setting (store.postgres_pool_size), so many nodes fit the server's max_connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../../src/config/index.ts';
import { openStores } from '../../src/cli/stores.ts';
import { openPostgres } from '../../src/store/index.ts';
import { TEST_POSTGRES_URL } from '../helpers/postgres.ts';

test('store.postgres_pool_size bounds the connections a node\'s shared pool opens (default 10)', async () => {
  assert.equal(parseConfig({}).store.postgres_pool_size, 10, 'the default');
  assert.throws(() => parseConfig({ store: { postgres_pool_size: 1 } }), /postgres_pool_size/, 'one connection cannot serve a node: its key-revocation listener holds one');
  const schema = `pool_${randomBytes(6).toString('hex')}`;
  const admin = openPostgres(TEST_POSTGRES_URL, { max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  const url = `${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const stores = await openStores(parseConfig({ store: { driver: 'postgres', postgres_url: url, postgres_pool_size: 3 } }));
  try {
    // Ten statements at once, each holding its connection for a moment: at most three run together.
    await Promise.all(Array.from({ length: 10 }, () => stores.pg!.query('SELECT pg_sleep(0.05)')));
    assert.equal(stores.pg!.totalCount, 3, `the pool opened ${stores.pg!.totalCount} connections`);
  } finally {
    await stores.close();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
});
