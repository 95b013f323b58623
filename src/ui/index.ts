// ui: the operator dashboard served at /dashboard (static ES modules, no external assets) and the admin usage routes it reads (/admin/usage/*, /admin/dashboard/*).
// Imports `admin`, `errors`, `events`, `identity`, `limits` and `store`.
/**
 * Mounting (src/cli/capabilities.ts does this):
 *
 *   const catalog = new RouteCatalog();
 *   await app.register(dashboardPlugin, { catalog });     // before the admin API: it records later routes
 *   await app.register(adminPlugin, { prefix: '/admin', store, token,
 *     registrars: [usageAdminRoutes({ usage, identity, catalog })] });   // usage = usageStoreFor(stores), close()d on shutdown
 *
 * The dashboard pages call the admin API with the operator's admin token; see docs/dashboard.md.
 */
export { dashboardPlugin, DASHBOARD_CSP } from './plugin.ts';
export { RouteCatalog } from './catalog.ts';
export { usageAdminRoutes, resolveRange, search, features } from './routes.ts';
export { sqliteUsageStore, type SqliteUsageStore, type UsageDayRow } from './usage.ts';
export { UsageThreadError } from './usage-thread.ts';

import type { SqliteDb, PgPool } from '../store/index.ts';
import { sqliteUsageStore, postgresUsageStore, type UsageStore, type SqliteUsageOptions } from './usage.ts';

/**
 * The usage queries for whichever backend holds the events table. On SQLite they run in a worker
 * thread with its own connection (in this thread for an in-memory database); call `close()` on
 * shutdown to stop it.
 */
export function usageStoreFor(stores: { sqlite: SqliteDb | null; pg: PgPool | null }, opts: SqliteUsageOptions = {}): UsageStore {
  if (stores.sqlite) return sqliteUsageStore(stores.sqlite, opts);
  if (stores.pg) return postgresUsageStore(stores.pg);
  throw new Error('usage: no events store (need SQLite or PostgreSQL)');
}
