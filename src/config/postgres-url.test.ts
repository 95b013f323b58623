// Production data must never go to a database nobody named: with PostgreSQL as the store (or the
// ledger's), `store.postgres_url` is required, and the configuration says so naming the key and its
// environment override, rather than falling back to the test suite's database as its superuser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, parseConfig } from './index.ts';

const load = (env: NodeJS.ProcessEnv) => loadConfig(undefined, { WARDEN_CONFIG: undefined, ...env }, () => {});

test('store.driver postgres without store.postgres_url is a configuration error naming the key and its override', () => {
  assert.throws(() => load({ WARDEN_STORE__DRIVER: 'postgres' }), (err: unknown) => {
    assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
    assert.match(err.message, /store\.postgres_url: required when store\.driver is postgres/, 'the key is named with the reason');
    assert.match(err.message, /WARDEN_STORE__POSTGRES_URL/, 'the environment override is named');
    return true;
  }, 'no silent fallback to a default database');
  const ok = load({ WARDEN_STORE__DRIVER: 'postgres', WARDEN_STORE__POSTGRES_URL: 'postgres://warden@db.example/warden' });
  assert.equal(ok.store.postgres_url, 'postgres://warden@db.example/warden', 'the URL given is the one used');
});

test('ledger.driver postgres needs store.postgres_url too', () => {
  assert.throws(() => parseConfig({ ledger: { driver: 'postgres' } }), (err: unknown) => err instanceof ConfigError && /store\.postgres_url: required when ledger\.driver is postgres/.test(err.message), 'the ledger on PostgreSQL names the missing URL');
});

test('the defaults name no PostgreSQL database; SQLite needs none', () => {
  const defaults = parseConfig({});
  assert.equal(defaults.store.postgres_url, null, `store.postgres_url defaults to null, got ${defaults.store.postgres_url}`);
  assert.equal(defaults.store.driver, 'sqlite', 'the embedded default is SQLite');
});
