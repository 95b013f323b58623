// limits: rate limits (GCRA), token quotas, concurrency caps and budgets per key, account, org, IP, subnet, ASN and linked-account cluster; memory or Redis (one Lua round trip per decision); see docs/limits.md.
// Imports `admin` (router), `config`, `detect` (verdicts), `errors`, `events`, `gateway`'s lifecycle (and its JSON body checks, metrics and outage log lines), `identity`, `shape` and `store`.
export { limitsConfigSchema, LIMIT_FIELDS } from './config.ts';
export { limitsHooks } from './hooks.ts';
export { Limiter, LimitsBackendUnreachable, BACKEND_FAILURE_MODE, type LimitRequest } from './limiter.ts';
export { MemoryBackend } from './memory.ts';
export { KeyRate } from './key-rate.ts';
export { RedisBackend } from './redis.ts';
export { registerLimitsMetrics } from './metrics.ts';
export { MemoryLimitOverridesStore, SqliteLimitOverridesStore, PostgresLimitOverridesStore, type LimitOverridesStore } from './overrides.ts';
export { limitsAdminRoutes } from './admin.ts';
export { registerUsageView, usageWindow, USAGE_VIEW_PATH, USAGE_VIEW_MAX_DAYS, type UsageViewDeps, type DailyUsage } from './usage-view.ts';
export { requestPricer } from './meter-plan.ts';
