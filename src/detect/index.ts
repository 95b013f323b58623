// detect: distillation detection: per-request signals, account windows, account linkage into clusters, campaigns, verdicts with hysteresis, operator overrides (stored), snapshots of its state, one detector shared by several nodes.
/**
 * Public surface of the detector. One engine (`DetectorEngine`) serves both paths:
 * - online: `detectHooks(engine)` plugs into the gateway's record phase (onEvent enqueues, a
 *   background drain feeds the engine) and the engine itself is the `VerdictView` enforcement reads;
 * - offline: `scanEvents(source)` / `runScanCli(argv)` (`warden scan events.jsonl`).
 * The engine (every file here but admin.ts, hooks.ts and shared.ts) knows nothing of HTTP or Redis:
 * it reads interaction events (src/events) and writes verdicts (./verdict.ts). admin.ts holds its
 * admin routes, mounted through src/admin's router; hooks.ts plugs it into the gateway's lifecycle;
 * shared.ts shares one detector between nodes through Redis. Imports `events`, `errors`, `config`,
 * `identity` and `store` (operator overrides); `admin` and `gateway` only in those three files.
 */
export * from './verdict.ts';
export { detectConfigSchema, detectConfig, type DetectConfig } from './config.ts';
export { DetectorEngine, LINK_TYPES, type AccountLink, type SharedAccountVerdict, type EngineOptions, type EngineStats, type OperatorMerge, type ClusterMerge, type Exemption, type WeighedVerdict, type OutrankedVerdict, type VerdictPrecedence, type ClusterSummary, type Campaign, type LinkType } from './engine.ts';
export { extractFeatures, parseIsoMs, FLAG, flagNames, type RequestFeatures } from './features.ts';
export { INDICATORS, type Indicator, type IndicatorName } from './scoring.ts';
export { buildReport, scoreReport, REPORT_SCHEMA, type DetectionReport, type AccountResult, type GroundTruth, type QualityFigures } from './report.ts';
export { detectHooks, type DetectHooks, type DetectHooksOptions } from './hooks.ts';
export { registerDetectMetrics, registerSharedDetectMetrics, registerSnapshotMetrics, type SharedDetectReadings, type SnapshotReadings } from './metrics.ts';
export { sharedKeys, sharedRedis, redisReady, streamEventsHooks, consumeEventStream, VerdictPublisher, RedisVerdictView, WorkerLease, startSharedWorker, latestStreamId, type SharedKeys, type SharedWorker, type DetectLog } from './shared.ts';
export { runScanCli, scanEvents, readEventsFast, loadLabels, formatSummary, type ScanOptions, type ScanResult, type DetectorName } from './scan.ts';
export { detectAdminRoutes, replicaMisdirected, VerdictSchema, ClusterSchema, CampaignSchema, type DetectAdminOptions } from './admin.ts';
export { applyOverrides, MemoryDetectOverridesStore, SqliteDetectOverridesStore, PostgresDetectOverridesStore, type DetectOverride, type DetectOverrideChange, type DetectOverrideKind, type DetectOverridesStore } from './overrides.ts';
export { replayRecentEvents, type ReplaySource, type ReplayResult } from './replay.ts';
export { writeSnapshot, readSnapshot, periodicSnapshots, detectionSettingsHash, type SnapshotHeader, type SnapshotRead, type PeriodicSnapshots } from './snapshot.ts';
export { VolumeBaseline, PradaBaseline, shapiroFrancia, trigramEmbedding } from './baselines.ts';
export { buildScenario, type PromptPool, type ScenarioSpec, type ScenarioLabels } from './scenario.ts';
export { SharedIndicators, MAX_INDICATOR_ACCOUNTS, INDICATOR_KINDS, STRONG_KINDS, heldAlone, exchangeValue, keyedHash, sharingKeyId, eventObservables, subnetOf, type SharedIndicator, type IndicatorKind, type Sighting, type IntelMatch, type Observable, type StoredSighting, type IndicatorHold } from './intel.ts';
