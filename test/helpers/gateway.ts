/**
 * Test harness: a real gateway on a real socket in front of the built-in mock upstream, with a
 * temp SQLite event store and an in-memory key table. Used by gateway tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type WardenConfig } from '../../src/config/index.ts';
import { createGateway, type Gateway, type GatewayHooks } from '../../src/gateway/index.ts';
import { openSqlite, SqliteEventStore } from '../../src/store/index.ts';
import { createMockUpstream } from '../../src/mock/index.ts';
import { WardenError } from '../../src/errors/index.ts';
import type { AuthContext, KeyScope } from '../../src/identity/types.ts';

export interface TestKey { secret: string; scopes?: KeyScope[]; revoked?: boolean; expired?: boolean; accountId?: string }

/** Authenticator over a fixed table of keys (the real identity store is tested in src/identity). */
export class TableAuthenticator {
  constructor(private readonly keys: Map<string, TestKey>) {}
  authenticate(secret: string): AuthContext {
    const k = this.keys.get(secret);
    if (!k) throw new WardenError('WARDEN_INVALID_API_KEY', 'Incorrect API key provided.');
    if (k.revoked) throw new WardenError('WARDEN_REVOKED_API_KEY', 'This API key has been revoked.');
    if (k.expired) throw new WardenError('WARDEN_EXPIRED_API_KEY', 'This API key has expired.');
    const accountId = k.accountId ?? 'acc_test';
    const now = '2026-01-01T00:00:00.000Z';
    return {
      key: { id: `key_${secret.slice(-6)}`, account_id: accountId, prefix: secret.slice(0, 12), name: null, scopes: k.scopes ?? ['inference'], created_at: now, expires_at: null, revoked_at: null, last_used_at: null },
      account: { id: accountId, org_id: null, name: null, tier: 'email_verified', programme: 'none', status: 'active', created_at: now, email: 'dev@example.com', email_domain: 'example.com', signup_ip: '198.51.100.1', claimed_country: 'GB', payment_fp: 'pf_test', email_pattern: 'ep_test' },
      org: null,
      tier: 'email_verified',
      programme: 'none',
    };
  }
}

export interface Harness {
  gateway: Gateway;
  url: string;
  mockUrl: string;
  /** The built-in mock upstream, for what it received and its live counters. */
  mock: Awaited<ReturnType<typeof createMockUpstream>>;
  store: SqliteEventStore;
  key: string;
  config: WardenConfig;
  close(): Promise<void>;
}

export const GOOD_KEY = 'wk_test_good_0123456789abcdefghijklmnop';

export async function startHarness(opts: {
  config?: Record<string, unknown>;
  hooks?: GatewayHooks[];
  keys?: TestKey[];
  mock?: Parameters<typeof createMockUpstream>[0];
  upstreamOverride?: (mockUrl: string) => unknown[];
  /** The gateway's logger (Fastify's `logger` option, e.g. `{ level: 'warn', stream }`); none by default. */
  logger?: object;
} = {}): Promise<Harness> {
  const mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0, ...(opts.mock ?? {}) });
  const dir = mkdtempSync(join(tmpdir(), 'warden-test-'));
  const config = parseConfig({
    store: { sqlite_path: join(dir, 'warden.db') },
    upstreams: opts.upstreamOverride ? opts.upstreamOverride(mock.url) : [{ name: 'mock', base_url: mock.url, models: ['*'] }],
    events: { flush_interval_ms: 20 },
    log: { level: 'silent' },
    ...(opts.config ?? {}),
  });
  const keys = new Map<string, TestKey>();
  keys.set(GOOD_KEY, { secret: GOOD_KEY });
  for (const k of opts.keys ?? []) keys.set(k.secret, k);
  const db = openSqlite(config.store.sqlite_path);
  const store = new SqliteEventStore(db);
  const gateway = await createGateway({ config, authenticator: new TableAuthenticator(keys), eventStore: store, hooks: opts.hooks, logger: opts.logger ?? false });
  const url = await gateway.listen('127.0.0.1', 0);
  return {
    gateway, url, mockUrl: mock.url, mock, store, key: GOOD_KEY, config,
    async close() {
      await gateway.close();
      await mock.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Wait until the recorder has flushed and return all stored events. */
export async function storedEvents(h: Harness, expected = 1, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await h.gateway.recorder.flush();
    const out = [];
    for await (const e of h.store.iterate()) out.push(e);
    if (out.length >= expected || Date.now() > deadline) return out;
    await new Promise((r) => setTimeout(r, 20));
  }
}
