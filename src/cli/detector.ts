/**
 * The detector's part of the composition: which engine (or none) this node runs by
 * `detect.mode`, the verdict view enforcement reads, the record-phase hooks that feed it, its
 * admin routes and metrics. One node (`inline`), or several sharing one detector through Redis:
 * a `worker` that runs the engine on every node's events and publishes verdicts, and `replica`s
 * that stream their events to it and enforce what it publishes (src/detect/shared.ts).
 */
import type { Registry } from 'prom-client';
import { detectModeWritten, urlForLog, type WardenConfig } from '../config/index.ts';
import type { GatewayHooks } from '../gateway/index.ts';
import {
  DetectorEngine, detectHooks, registerDetectMetrics, registerSharedDetectMetrics, replayRecentEvents, detectAdminRoutes, EMPTY_VERDICT_VIEW, type VerdictView, type DetectAdminOptions,
  sharedKeys, sharedRedis, redisReady, RedisVerdictView, streamEventsHooks, startSharedWorker, latestStreamId, eraseAccountFromStream, WorkerLease, replicaMisdirected, replicaNotice, type DetectLog, type SharedWorker,
  applyOverrides, SqliteDetectOverridesStore, PostgresDetectOverridesStore, type DetectOverridesStore, readSnapshot, periodicSnapshots, registerSnapshotMetrics, type SnapshotHeader, type SharedIndicators,
} from '../detect/index.ts';
import type { AdminRouteRegistrar } from '../admin/router.ts';
import type { WardenError } from '../errors/index.ts';
import { onBackend, type Stores } from './stores.ts';

export interface DetectorSetup {
  /** The engine this node runs (inline, worker), or null (replica, or the detector off). */
  engine: DetectorEngine | null;
  /** What enforcement reads: the engine, the worker's published verdicts, or nothing. */
  verdicts: VerdictView;
  /** Record-phase hooks (the engine's queue, or a replica's stream): after limits, before the ledger. */
  recordHooks: GatewayHooks[];
  /** The detector's admin routes, on the nodes that run the engine. */
  adminRoutes: AdminRouteRegistrar | null;
  /** On a replica: what the admin API answers on the routes only the worker serves (it names the worker). */
  adminMisdirected: ((path: string) => Promise<WardenError | null>) | null;
  /** On a replica: the sentence naming the worker (host, pid, port), for the dashboard's detector and cases pages. */
  replicaNotice?: () => Promise<string>;
  /** The stored operator decisions (allow-list, operator verdicts), on the nodes that run the engine. */
  overrides?: DetectOverridesStore;
  /** Resolves once the events handed to the engine so far are ingested (an erasure). */
  drained?: () => Promise<void>;
  /** Write the snapshot now (an erasure), where snapshots are kept. */
  saveSnapshot?: () => Promise<SnapshotHeader>;
  /** On a worker: rewrite the account's events in the Redis stream without their personal data (an erasure). */
  eraseFromStream?: (accountId: string, at: string) => Promise<{ entries: number; events: number }>;
  close(): Promise<void>;
}

/**
 * An event a replica tried to stream this long before the worker's replay began was in the event
 * store by then (written within `events.flush_interval_ms`), with room for the nodes' clocks to differ.
 */
const STORED_BEFORE_REPLAY_MS = 2_000;

export async function setUpDetector(config: WardenConfig, stores: Stores, registry: Registry, say: DetectLog, opts: { intel?: SharedIndicators; exists?: (kind: 'account' | 'org', id: string) => Promise<boolean>; orgAccounts?: (org: string) => Promise<string[]>; accountNames?: DetectAdminOptions['accountNames'] } = {}): Promise<DetectorSetup> {
  const mode = config.detect.enabled ? config.detect.mode : null;
  const url = config.redis.url;
  if ((mode === 'worker' || mode === 'replica') && !url) throw new Error(`detect.mode is ${mode}: nodes share the detector through Redis, set redis.url`);
  const keys = sharedKeys(config.detect.shared.key_prefix);
  const closers: Array<() => Promise<void> | void> = [];
  const close = async () => { for (const c of closers.reverse()) await c(); };

  if (mode === 'replica') {
    const client = sharedRedis(url!);
    // Reloads after a gap, and loads that fail and are tried again, are logged.
    const view = new RedisVerdictView(client, url!, keys, { log: say });
    closers.push(() => view.close());
    if (!await view.start()) say(`detect: Redis at ${urlForLog(url!)} not reachable; no verdicts are enforced until it is`);
    const { backlog_events: backlogEvents, backlog_mib: backlogMib } = config.detect.shared;
    const stream = streamEventsHooks(sharedRedis(url!), keys, { log: say, backlogEvents, backlogChars: Math.floor(backlogMib * 1024 * 1024), stopWaitMs: config.server.shutdown_step_timeout_ms });
    registerSharedDetectMetrics(registry, { streamEvents: () => stream.stats().sent, streamDropped: () => stream.stats().dropped, streamBacklog: () => stream.stats().backlog, sharedAccounts: () => view.size });
    const lease = new WorkerLease(client, keys.worker, 0);
    const holder = () => lease.current();
    return { engine: null, verdicts: view, recordHooks: [stream], adminRoutes: null, adminMisdirected: replicaMisdirected(holder), replicaNotice: () => replicaNotice(holder), close };
  }
  if (mode === null) return { engine: null, verdicts: EMPTY_VERDICT_VIEW, recordHooks: [], adminRoutes: null, adminMisdirected: null, close };
  if (mode === 'inline' && config.store.driver === 'postgres') await checkInlineOnSharedStore(config, keys, say);

  // Snapshots: the engine's state in a file, read at start so that only later events are replayed.
  const snapshotPath = snapshotFile(config);
  // Events reach the engine when they finish (a stream may last stream_max_duration_ms) but are
  // stored by arrival time: the ids of that long a stretch before a snapshot go with it.
  const overlapS = config.server.stream_max_duration_ms / 1000 + 60;
  const engine = new DetectorEngine({ config: config.detect, rememberEventIdsSeconds: snapshotPath ? overlapS : 0, intel: opts.intel });
  // A worker reads the stream from where it is before replaying the store; events in both are read once.
  const redis = mode === 'worker' ? sharedRedis(url!) : null;
  let streamStart = '$';
  const replayed = new Set<string>();
  if (redis) {
    closers.push(() => redis.disconnect());
    try {
      await redisReady(redis);
      streamStart = await latestStreamId(redis, keys);
    } catch { say(`detect: Redis at ${urlForLog(url!)} not reachable; other nodes' events are read from when it is`); }
  }
  const overlapFrom = new Date(Date.now() - 60_000).toISOString();
  // Verdicts survive restarts: the last snapshot, then the events stored since it (or, without
  // one, the last replay_hours of them), before serving and before listeners attach.
  let afterSnapshot: { fromMs: number; seen: ReadonlySet<string> } | undefined;
  if (snapshotPath) {
    const t0 = performance.now();
    const read = await readSnapshot(engine, snapshotPath);
    if (read.restored) {
      afterSnapshot = { fromMs: read.overlapFromMs, seen: read.seen };
      // A snapshot of a detector that has seen nothing has event time 0: say so rather than print 1970.
      const of = read.header.events > 0 && Date.parse(read.header.event_time) > 0 ? `state of ${read.header.event_time}` : 'state (no events yet)';
      say(`detect: ${of} read from ${snapshotPath} (${read.header.accounts} accounts) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } else if (read.reason !== 'no snapshot yet') say(`detect: snapshot ${snapshotPath} not used (${read.reason}); rebuilding from ${config.detect.replay_hours} h of stored events`);
  }
  const replayStartedAt = Date.now();
  const replay = await replayRecentEvents(engine, stores.events, {
    afterSnapshot, onEvent: redis ? (ev) => { if (ev.ts >= overlapFrom) replayed.add(ev.id); } : undefined,
  });
  if (replay.events > 0) say(`detect: ${replay.events} stored events replayed in ${replay.seconds.toFixed(1)} s`);
  // Operator overrides (allow-list, operator verdicts) are stored: a restart keeps them.
  const overrides = await onBackend<DetectOverridesStore>(stores, (db) => new SqliteDetectOverridesStore(db), (pool) => new PostgresDetectOverridesStore(pool));
  const { dormant } = await applyOverrides(engine, overrides);
  // Silent before: a suspension that holds nobody now looks in force to an operator reading the list.
  for (const v of dormant) {
    say(`detect: operator verdict ${v.level} on cluster ${v.subject.id} reaches no account now: no event of the account that founded it is left in the last ${config.detect.replay_hours} h replayed; it applies again if that cluster forms again (set account verdicts on its members to keep them held)`);
  }

  const queue = detectHooks(engine, { batch: 64 });
  closers.push(() => queue.close!());
  registerDetectMetrics(engine, queue, registry);
  let sharedWorker: SharedWorker | undefined;
  if (redis) {
    const worker = sharedWorker = await startSharedWorker({
      engine, client: redis, url: url!, keys, publishMs: config.detect.shared.publish_ms, startId: streamStart,
      onEvent: (ev) => queue.onEvent(ev), log: say, port: config.server.port, stopWaitMs: config.server.shutdown_step_timeout_ms,
      // A replica's batch first tried well before the replay read the store (held through a Redis
      // outage, sent after this start) is in what was replayed; later ones, by id.
      skip: (ev, firstTry) => (firstTry !== null && firstTry < replayStartedAt - STORED_BEFORE_REPLAY_MS) || replayed.has(ev.id),
    });
    closers.push(() => worker.close());
    registerSharedDetectMetrics(registry, { streamEvents: () => worker.stats().streamRead, published: () => worker.stats().published, publishFailures: () => worker.stats().publishFailures,
      leaseLost: () => worker.stats().leaseLost, streamReadErrors: () => worker.stats().streamReadErrors,
    });
  }
  let snapshot: { path: string; save(): Promise<SnapshotHeader> } | undefined;
  const unpublished = sharedWorker ? () => sharedWorker!.unpublished() : undefined;
  if (snapshotPath) {
    const snapshots = periodicSnapshots(engine, snapshotPath, {
      everyMs: config.detect.snapshot.every_minutes * 60_000, overlapSeconds: overlapS,
      onError: (e) => say(`detect: snapshot ${snapshotPath} not written: ${e.message}`, { level: 'error', code: 'DETECT_SNAPSHOT_FAILED' }),
    });
    registerSnapshotMetrics(registry, snapshots);
    // Closers run last-first: the last snapshot after the queue has fed the engine its last events.
    closers.unshift(() => snapshots.stop());
    snapshot = { path: snapshotPath, save: () => snapshots.saveNow() };
  }
  return { engine, verdicts: engine, recordHooks: [queue], adminRoutes: detectAdminRoutes(engine, { overrides, snapshot, exists: opts.exists, orgAccounts: opts.orgAccounts, accountNames: opts.accountNames, unpublished }), adminMisdirected: null, overrides, saveSnapshot: snapshot?.save, drained: () => queue.drained(),
    eraseFromStream: redis ? (accountId, at) => eraseAccountFromStream(redis, keys, accountId, at) : undefined, close };
}

/**
 * An `inline` node on a shared (PostgreSQL) store runs a detector of its own on its own traffic
 * and never reads a worker's verdicts: beside a worker it would serve the accounts the worker (or
 * an operator through it) suspended. Left at the default beside a visible worker, it is refused;
 * set explicitly, or with no worker visible, it starts with a warning.
 */
async function checkInlineOnSharedStore(config: WardenConfig, keys: ReturnType<typeof sharedKeys>, say: (line: string) => void): Promise<void> {
  const explicit = detectModeWritten(config);
  const worker = config.redis.url ? await sharedDetectorSeen(config.redis.url, keys) : null;
  const ignores = 'this node runs a detector of its own on its own traffic and ignores the worker\'s verdicts (operator suspensions included)';
  if (worker && !explicit) {
    throw new Error(`detect.mode is inline (the default) on a shared PostgreSQL store, and ${worker}: ${ignores}. Set detect.mode: replica on this node (worker on the one detector node), or detect.mode: inline explicitly to run a separate detector anyway (docs/operations.md, "Several nodes")`);
  }
  if (worker) say(`detect: WARNING detect.mode is inline on a shared PostgreSQL store, and ${worker}: ${ignores}`);
  else if (!explicit) say('detect: WARNING detect.mode is inline (the default) on a shared PostgreSQL store: this node runs a detector of its own on its own traffic only, and enforces only its own verdicts. With several nodes, run one with detect.mode: worker and the others with replica; set detect.mode: inline to say this node is alone');
}

/** What shows that a detector worker shares verdicts through Redis under these keys, or null (none seen, or Redis not reachable). */
async function sharedDetectorSeen(url: string, keys: ReturnType<typeof sharedKeys>): Promise<string | null> {
  const client = sharedRedis(url);
  try {
    await redisReady(client, 1000);
    const holder = await client.get(keys.worker);
    if (holder) return `a detector worker (${holder}) holds its lease at Redis key ${keys.worker}`;
    if (await client.exists(keys.events, keys.accounts) > 0) return `a detector worker shares verdicts or reads events at Redis keys ${keys.accounts}, ${keys.events}`;
    return null;
  } catch {
    return null;
  } finally {
    client.disconnect();
  }
}

/** Where this node keeps detector snapshots: the configured path, or beside the SQLite database; null: none. */
export function snapshotFile(config: WardenConfig): string | null {
  const snap = config.detect.snapshot;
  if (!snap.enabled) return null;
  if (snap.path) return snap.path;
  const db = config.store.sqlite_path;
  return config.store.driver === 'sqlite' && db && db !== ':memory:' ? `${db}.detector` : null;
}
