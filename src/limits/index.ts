// limits: rate limits (GCRA), token quotas, concurrency caps and budgets per key, account, org, IP, subnet, ASN and linked-account cluster; memory or Redis (one Lua round trip per decision); see docs/limits.md.
// Imports `admin` (router), `config`, `detect` (verdicts), `errors`, `events`, `gateway`'s lifecycle (and its JSON body checks and metrics), `identity`, `shape` and `store`.
export { limitsConfigSchema, limitOverrideInputSchema, partialLimitSpecSchema, LIMIT_SCOPES, LIMIT_FIELDS, DEFAULT_TIER_LIMITS } from './config.ts';
export type { LimitsConfig, LimitScope, LimitSpec, PartialLimitSpec, LimitOverrideInput } from './config.ts';
export { limitsHooks, LIMITS_RESERVATION, LIMITS_DECISION, type LimitsHooks, type LimitsHooksDeps } from './hooks.ts';
export { Limiter, LimitsBackendUnreachable, BACKEND_FAILURE_MODE, type LimiterOptions, type LimitRequest, type LimitDecision, type MeterVerdict, type Reservation, type ActualUsage, type DecisionMode } from './limiter.ts';
export { MeterPlanner, modelMatches, type LimitSubjects, type PlannedMeter, type MeterKind, type RequestCost } from './meter-plan.ts';
export { MemoryBackend } from './memory.ts';
export { KeyRate } from './key-rate.ts';
export { RedisBackend, type RedisBackendOptions } from './redis.ts';
export type { LimitsBackend, MeterOp, MeterOutcome, RawDecision, SettleOp, LeaseRef } from './meters.ts';
export { CircuitBreaker, type BreakerState } from './breaker.ts';
export { registerLimitsMetrics, NOOP_METRICS, type LimitsMetrics } from './metrics.ts';
export { rateLimitHeaders, refusalError, enforcementRecord, describeMeter } from './headers.ts';
export { estimateInput, estimateInputTokens, outputTokenReserve, pdfPages, type InputEstimateConfig } from './estimate.ts';
export {
  MemoryLimitOverridesStore, SqliteLimitOverridesStore, PostgresLimitOverridesStore,
  type LimitOverride, type LimitOverridesStore,
} from './overrides.ts';
export { limitsAdminRoutes, LimitOverrideSchema, type LimitsAdminDeps } from './admin.ts';
