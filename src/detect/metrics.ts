/**
 * Prometheus metrics for the detector, read at scrape time: accounts held in memory and forgotten
 * (evict_idle_hours), clusters, campaigns, campaigns and accounts by level, indexed link keys, and the online queue (events waiting,
 * ingested, dropped because the engine fell behind), and its snapshots.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DetectorEngine } from './engine.ts';
import type { DetectHooks } from './hooks.ts';
import { VERDICT_LEVELS } from './verdict.ts';

/** Register the detector metrics on a prom-client registry (once per registry). */
export function registerDetectMetrics(engine: DetectorEngine, hooks: DetectHooks, registry: Registry): void {
  const registers = [registry];
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers, collect() { this.set(read()); } });
  gauge('warden_detect_accounts', 'Accounts the detector holds in memory', () => engine.stats().accounts);
  counter('warden_detect_accounts_forgotten_total', 'Idle accounts forgotten (detect.evict_idle_hours), each time', () => engine.stats().forgotten);
  gauge('warden_detect_clusters', 'Clusters of linked accounts', () => engine.stats().clusters);
  gauge('warden_detect_campaigns', 'Clusters named as campaigns (reached throttle)', () => engine.stats().campaigns);
  // By level, so that "a campaign reached suspend" is an alert rule: warden_detect_campaigns_by_level{level="suspend"} > 0.
  const byLevel = (g: { name: string; help: string; read: (counts: ReturnType<DetectorEngine['levelCounts']>) => number[] }) =>
    new Gauge({ name: g.name, help: g.help, labelNames: ['level'], registers, collect() {
      const counts = g.read(engine.levelCounts());
      VERDICT_LEVELS.forEach((level, rank) => this.set({ level }, counts[rank]));
    } });
  byLevel({ name: 'warden_detect_campaigns_by_level', help: 'Campaigns by their level (throttle and above)', read: (c) => c.campaigns });
  byLevel({ name: 'warden_detect_accounts_by_level', help: 'Accounts the detector holds, by the level in force (allow-list, operator verdicts and cluster included)', read: (c) => c.accounts });
  gauge('warden_detect_link_keys', 'Link keys indexed (cards, addresses, software fingerprints)', () => engine.stats().linkKeys);
  gauge('warden_detect_queue', 'Events waiting for the detector', () => hooks.queueStats().queued);
  counter('warden_detect_events_total', 'Events the detector has ingested', () => hooks.queueStats().ingested);
  counter('warden_detect_events_dropped_total', 'Events dropped because the detector queue was full', () => hooks.queueStats().dropped);
  counter('warden_detect_events_future_total', 'Events stamped more than a minute after this node\'s clock, read at its time', () => hooks.queueStats().futureClamped);
}

/** What a node sharing the detector (detect.mode worker or replica) reports: each reading is optional. */
export interface SharedDetectReadings {
  /** Events appended to the shared stream (replica) or read from it (worker). */
  streamEvents?: () => number;
  /** Events a replica gave up on (held past the backlog's bounds through a Redis outage). */
  streamDropped?: () => number;
  /** Events a replica holds for Redis to take them (an outage). */
  streamBacklog?: () => number;
  /** Verdict publications (worker), and those that failed. */
  published?: () => number;
  publishFailures?: () => number;
  /** Publications the worker skipped because it could not renew its lease (Redis unreachable, or another worker holds it). */
  leaseLost?: () => number;
  /** Failed reads of the shared stream by the worker (its connection to Redis failing). */
  streamReadErrors?: () => number;
  /** Accounts with a verdict above none or linked to others, as the replica holds them. */
  sharedAccounts?: () => number;
}

/** Register the metrics of a node that shares the detector through Redis. */
export function registerSharedDetectMetrics(registry: Registry, r: SharedDetectReadings): void {
  const registers = [registry];
  const counter = (name: string, help: string, read?: () => number) => {
    if (read) new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
  };
  counter('warden_detect_stream_events_total', 'Events appended to (replica) or read from (worker) the shared detector stream', r.streamEvents);
  counter('warden_detect_stream_dropped_total', 'Events a replica gave up sending to the shared stream: held through a Redis outage past its backlog\'s bounds (they are in the event store)', r.streamDropped);
  if (r.streamBacklog) new Gauge({ name: 'warden_detect_stream_backlog_events', help: 'Events a replica holds for the shared stream until Redis takes them (an outage), sent in order when it does', registers, collect() { this.set(r.streamBacklog!()); } });
  counter('warden_detect_verdict_publications_total', 'Verdict changes the worker published', r.published);
  counter('warden_detect_verdict_publication_failures_total', 'Verdict publications that failed (retried with the next)', r.publishFailures);
  counter('warden_detect_worker_lease_lost_total', 'Verdict publications the worker skipped because its lease could not be renewed (Redis unreachable, or another worker holds it)', r.leaseLost);
  counter('warden_detect_stream_read_errors_total', 'Failed reads of the shared detector stream by the worker (Redis unreachable)', r.streamReadErrors);
  if (r.sharedAccounts) new Gauge({ name: 'warden_detect_shared_accounts', help: 'Accounts with a published verdict (above none, or linked to others) held by this replica', registers, collect() { this.set(r.sharedAccounts!()); } });
}

/** The last snapshot this node wrote (src/detect/snapshot.ts); null before the first. */
export interface SnapshotReadings {
  last(): { serialiseMs: number; bytes: number; atMs: number } | null;
  failures(): number;
}

/** Register the snapshot metrics: how long the last one held the event loop, its size and time, failures. */
export function registerSnapshotMetrics(registry: Registry, r: SnapshotReadings): void {
  const registers = [registry];
  new Gauge({ name: 'warden_detect_snapshot_serialise_seconds', help: 'How long the last detector snapshot held the event loop while its state was copied', registers, collect() { this.set((r.last()?.serialiseMs ?? 0) / 1000); } });
  new Gauge({ name: 'warden_detect_snapshot_bytes', help: 'Size of the last detector snapshot', registers, collect() { this.set(r.last()?.bytes ?? 0); } });
  new Gauge({ name: 'warden_detect_snapshot_timestamp_seconds', help: 'When the last detector snapshot was written (0: none yet)', registers, collect() { this.set((r.last()?.atMs ?? 0) / 1000); } });
  new Counter({ name: 'warden_detect_snapshot_failures_total', help: 'Detector snapshots that could not be written', registers, collect() { this.reset(); this.inc(r.failures()); } });
}
