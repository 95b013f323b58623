// detect: distillation detection: per-request signals, account windows, account linkage into clusters, campaigns, verdicts with hysteresis, operator overrides (stored), snapshots of its state, one detector shared by several nodes.
/**
 * Public surface of the detector. One engine (`DetectorEngine`) serves both paths:
 * - online: `detectHooks(engine)` plugs into the gateway's record phase (onEvent enqueues, a
 *   background drain feeds the engine) and the engine itself is the `VerdictView` enforcement reads;
 * - offline: `scanEvents(source)` / `runScanCli(argv)` (`warden scan events.jsonl`).
 * The engine (every file here but admin.ts, hooks.ts and shared.ts) knows nothing of HTTP or Redis:
 * it reads interaction events (src/events) and writes verdicts (./verdict.ts). admin.ts holds its
 * admin routes, mounted through src/admin's router; hooks.ts plugs it into the gateway's lifecycle;
 * shared.ts shares one detector between nodes through Redis. engine.ts is the engine's facade; the
 * parts it is made of (engine-types, account-table, linking, link-keys, link-records, merged-ids, operator-verdicts,
 * recent-event-ids, account-facts, account-window, harvest-yield, explain) are internal: docs/detector.md's
 * code map says what each holds. Imports `events`, `errors`, `config`,
 * `identity` and `store` (operator overrides); `admin` and `gateway` only in those three files.
 */
export * from './verdict.ts';
export { DetectorEngine, LINK_TYPES, type AccountLink, type EngineOptions, type ClusterMerge, type ClusterSummary, type Campaign } from './engine.ts';
export type { Indicator } from './scoring.ts';
export { buildReport, scoreReport } from './report.ts';
export { detectHooks } from './hooks.ts';
export { registerDetectMetrics, registerSharedDetectMetrics, registerSnapshotMetrics } from './metrics.ts';
export { sharedKeys, sharedRedis, redisReady, streamEventsHooks, consumeEventStream, eraseAccountFromStream, VerdictPublisher, RedisVerdictView, WorkerLease, startSharedWorker, latestStreamId, type DetectLog, type SharedWorker } from './shared.ts';
export { runScanCli, scanEvents, readEventsFast, type ScanResult, type DetectorName } from './scan.ts';
export { detectAdminRoutes, replicaMisdirected, replicaNotice, CampaignSchema, type DetectAdminOptions, type AccountNames } from './admin.ts';
export { applyOverrides, MemoryDetectOverridesStore, SqliteDetectOverridesStore, PostgresDetectOverridesStore, type DetectOverride, type DetectOverridesStore } from './overrides.ts';
export { replayRecentEvents } from './replay.ts';
export { writeSnapshot, readSnapshot, periodicSnapshots, type SnapshotHeader } from './snapshot.ts';
export { VolumeBaseline, PradaBaseline } from './baselines.ts';
export { buildLabelledEvents, type PromptPool } from './scenario.ts';
export { SharedIndicators, PARTNER_TRUSTS, REVIEW_HOLDS, TRUST_CAP, type PartnerTrust, type ReviewHold, type SourcePolicy, INDICATOR_KINDS, STRONG_KINDS, heldAlone, exchangeValue, keyedHash, sharingKeyId, eventObservables, subnetOf, type SharedIndicator, type IndicatorKind, type Sighting, type StoredSighting } from './intel.ts';
