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
export { dashboardPlugin, defaultStaticDir, loadStaticFiles, DASHBOARD_CSP, type DashboardPluginOptions } from './plugin.ts';
export { RouteCatalog, CATALOG_PREFIXES } from './catalog.ts';
export { usageAdminRoutes, resolveRange, search, features, SEARCH_SCAN_LIMIT, UsageSummarySchema, UsageTopSchema, InteractionSummarySchema, type UsageRoutesDeps, type SearchOptions } from './routes.ts';
export {
  sqliteUsageStore, postgresUsageStore, summariseEvent, type SqliteUsageStore, type SqliteUsageOptions, chooseBucket, BUCKETS, USAGE_DIMENSIONS,
  type UsageStore, type UsageFilter, type UsageCounts, type UsagePoint, type UsageSummary, type UsageTopRow, type UsageDimension,
  type InteractionSummary, type TopOptions,
} from './usage.ts';
export { UsageThread, UsageThreadError, type UsageThreadOptions } from './usage-thread.ts';

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
