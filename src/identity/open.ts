/** Build the identity store and authenticator from configuration. */
import { postgresUrl, resolveSecret, type WardenConfig } from '../config/index.ts';
import { openPostgres, openSqlite, type PgPool, type SqliteDb } from '../store/index.ts';
import { CachedAuthenticator, type AuthenticatorLog } from './cache.ts';
import { PostgresIdentityStore } from './postgres.ts';
import { SqliteIdentityStore } from './sqlite.ts';
import type { IdentityStore } from './store.ts';

export interface OpenIdentityStoreOptions {
  /** Reuse an open SQLite handle (the gateway shares one file between components). */
  sqlite?: SqliteDb;
  /** Reuse a PostgreSQL pool. */
  pool?: PgPool;
  env?: NodeJS.ProcessEnv;
}

/**
 * Open the identity store named by `config.store.driver`. Handles passed in stay the caller's to
 * close; handles opened here are closed by the returned store's `close()`.
 */
export function openIdentityStore(config: Pick<WardenConfig, 'store' | 'identity'>, opts: OpenIdentityStoreOptions = {}): IdentityStore {
  const storeOpts = {
    keyPrefix: config.identity.key_prefix,
    fingerprintSecret: resolveSecret(config.identity.fingerprint_secret, opts.env ?? process.env),
  };
  if (config.store.driver === 'postgres') {
    const pool = opts.pool ?? openPostgres(postgresUrl(config.store), { max: config.store.postgres_pool_size });
    const store = new PostgresIdentityStore(pool, storeOpts);
    if (!opts.pool) {
      const close = store.close.bind(store);
      store.close = async () => { await close(); await pool.end(); };
    }
    return store;
  }
  const db = opts.sqlite ?? openSqlite(config.store.sqlite_path);
  const store = new SqliteIdentityStore(db, storeOpts);
  if (!opts.sqlite) {
    const close = store.close.bind(store);
    store.close = async () => { await close(); db.close(); };
  }
  return store;
}

/** The request-path authenticator with the configured cache settings. */
export function createAuthenticator(store: IdentityStore, config: Pick<WardenConfig, 'identity'>, opts: { log?: AuthenticatorLog } = {}): CachedAuthenticator {
  const c = config.identity;
  return new CachedAuthenticator(store, {
    ttlMs: c.auth_cache.ttl_ms,
    negativeTtlMs: c.auth_cache.negative_ttl_ms,
    staleIfErrorMs: c.auth_cache.stale_if_error_ms,
    log: opts.log,
    maxEntries: c.auth_cache.max_entries,
    flushMs: c.last_used_flush_ms,
  });
}
