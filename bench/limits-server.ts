/**
 * Warden for bench/limits.ts, in its own process: the same composition as `warden serve`
 * (identity, policy, limits, detector, ledger, event recording to SQLite) against the given
 * upstream, with limits enabled (`on`) or disabled (`off`). Limits are set high so every request is admitted and every
 * meter is still decided and settled. Prints one JSON line {url, key} when ready.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/index.ts';
import { openStores } from '../src/cli/stores.ts';
import { buildCapabilities } from '../src/cli/capabilities.ts';
import { createGateway } from '../src/gateway/index.ts';
import { LIMIT_FIELDS } from '../src/limits/index.ts';

const [mode, upstream] = process.argv.slice(2);
const big = { rpm: 1e9, burst: 1e6, tpm: 1e12, tpd: 1e13, concurrency: 1e6 };
const tier = { key: big, account: big, org: big };
const unlimitedButCounted = Object.fromEntries(LIMIT_FIELDS.map((f) => [f, null]));

const dir = mkdtempSync(join(tmpdir(), 'warden-limits-bench-'));
const config = parseConfig({
  server: { host: '127.0.0.1', port: 0 },
  store: { sqlite_path: join(dir, 'warden.db') },
  upstreams: [{ name: 'mock', base_url: upstream, models: ['*'] }],
  log: { level: 'warn' },
  limits: {
    enabled: mode === 'on',
    tiers: { unverified: tier, email_verified: tier, identity_verified: tier, enterprise: tier },
    network: { ip: { ...unlimitedButCounted, rpm: 1e9, burst: 1e6, concurrency: 1e6 }, subnet: { ...unlimitedButCounted, rpm: 1e9, burst: 1e6, concurrency: 1e6 } },
  },
});
const stores = await openStores(config);
const caps = await buildCapabilities(config, stores, { adminToken: null });
const hooks = caps.hooks;
const gateway = await createGateway({ config, authenticator: caps.authenticator, eventStore: stores.events, hooks, registry: caps.registry, register: caps.register, ready: caps.ready });
const url = await gateway.listen();
const key = await caps.bootstrapDemo();
console.log(JSON.stringify({ url, key }));
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(0));
