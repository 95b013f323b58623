import { z } from 'zod';

const level = z.enum(['none', 'watch', 'throttle', 'shape', 'verify', 'suspend']);

/**
 * Configuration of the detect capability (section `detect:` of warden.yaml). Every key has a
 * default; thresholds are documented (with how they were chosen) in docs/detector.md.
 */
export const detectConfigSchema = z.strictObject({
  /** Run the detector on the gateway's event stream. */
  enabled: z.boolean().default(true),
  /**
   * Where this node's verdicts come from. `inline` (one node): a detector in this process learns
   * from this node's traffic. Several nodes sharing a store: one node runs `worker` (its detector
   * learns from every node's events, read from the shared event store, and publishes its verdicts
   * to Redis at `redis.url`), the others `replica` (no detector: they enforce the verdicts the
   * worker published, held in memory and updated within about `shared.publish_ms`).
   */
  mode: z.enum(['inline', 'worker', 'replica']).default('inline'),
  shared: z.strictObject({
    /** Prefix of the Redis keys and channel verdicts are shared through. */
    key_prefix: z.string().min(1).default('warden:detect:'),
    /** The worker publishes changed verdicts this often. */
    publish_ms: z.number().int().min(50).default(1000),
    /**
     * What a replica holds for the worker while Redis does not take its events (an outage): at
     * most this many events and this many MiB of their JSON; past either the oldest are dropped
     * (counted; the event store keeps them). Memory a long outage may take on every replica.
     */
    backlog_events: z.number().int().min(0).default(50_000),
    backlog_mib: z.number().min(0).default(64),
  }).prefault({}),
  /**
   * Memory (MiB) for the record of which answers were served to which account (answer
   * fingerprints, a fixed-size filter in two generations; docs/detector.md, "Served answers"):
   * rounded down to a power of two, half for each generation; the default remembers the last
   * 524,288 to 1,048,576 pairs (answers, servings, follow-ups, accounts' markers: about 0.7 an
   * event), with under 1% false positives. 0: no record, a request's history is read by its length alone.
   */
  served_answers_mib: z.number().min(0).max(512).default(2),
  /** Re-score changed accounts and clusters every this many seconds of event time. */
  tick_seconds: z.number().positive().default(5),
  /** Half-life of the behaviour windows (shares, ratios), hours. */
  window_half_life_hours: z.number().positive().default(72),
  /** Score needed to reach each level (0..1, increasing). */
  thresholds: z.strictObject({
    watch: z.number().min(0).max(1).default(0.2),
    throttle: z.number().min(0).max(1).default(0.35),
    shape: z.number().min(0).max(1).default(0.45),
    verify: z.number().min(0).max(1).default(0.6),
    suspend: z.number().min(0).max(1).default(0.75),
  }).prefault({}),
  /** Hysteresis: a level is left only when the score stays this far below its threshold ... */
  hysteresis_margin: z.number().min(0).max(1).default(0.08),
  /** ... for this long (seconds of event time). */
  cooldown_seconds: z.number().nonnegative().default(6 * 3600),
  /** Highest level an account can reach on its own evidence, without any linked accounts. */
  single_account_max_level: level.default('watch'),
  /**
   * Harvest-yield test (docs/detector.md): an account that asks for no reasoning passes the test's
   * content condition when at least this share (shrunk, like every share) of its requests are
   * closed-form coding or maths tasks worded as dataset items (impersonal instructions or
   * questions), every other condition holding. 1: never (only reasoning elicitation counts).
   */
  yield_closed_task_share: z.number().min(0).max(1).default(1),
  /** Evidence needed to link an account into a cluster (sum of shared-evidence weights). */
  link_threshold: z.number().positive().default(1),
  /**
   * Embedding harvest (src/detect/embedding-spread.ts): an account (or linked accounts) that
   * embeds many texts spread over the encoder's space at most this concentrated passes. 0 is
   * spread exactly like the whole traffic; a customer's own subject sits above. Calibrate it for
   * the encoder served: the default suits the built-in mock, whose vectors follow shared words
   * only (one subject's texts measure 0.023-0.17 there; a broad corpus 0.000-0.003 against
   * traffic like the traffic model's, up to 0.017 against traffic of a few subjects only); real
   * encoders place a subject's texts closer together, so their subjects measure higher.
   */
  embedding_max_concentration: z.number().min(0).max(1).default(0.015),
  /** Requests before a cluster can go above watch (avoid verdicts on a handful of events). */
  min_cluster_requests: z.number().int().nonnegative().default(30),
  /** Distinct undeclared actors (accounts or orgs) before a cluster counts as coordinated. */
  min_cluster_actors: z.number().int().min(2).default(3),
  /**
   * Fleet software (off by default): a system prompt used only by new, unverified, unaffiliated
   * accounts links those of them that harvest on their own, once this many hold it (e.g. 3). It
   * finds fleets that share nothing else, and also takes cohorts of new users of one application
   * for fleets: docs/detector.md, "Fleet software", has both measured. 0: off.
   */
  fleet_min_holders: z.number().int().refine((n) => n === 0 || n >= 2, 'fleet_min_holders is 0 (off) or at least 2').default(0),
  /**
   * Harvest cohorts (harvest-cohort.ts): new, unverified accounts without an org or a programme
   * that all ask one harvest shape, each below the single-account floor, reach throttle together
   * once at least this many of them (and 10% of the new accounts read) share it. 0: off.
   */
  cohort_min_accounts: z.number().int().refine((n) => n === 0 || n >= 5, 'cohort_min_accounts is 0 (off) or at least 5').default(20),
  /**
   * Harvest cohorts: a new account scored between two readings (every 15 minutes) while a cohort
   * stands joins it at once on the joining terms, rather than at the next reading (off by default).
   * A fleet's heads are held a few requests sooner; new organic accounts whose first three
   * questions have the shape are throttled more often too: docs/detector.md, "Harvest cohorts",
   * has both measured.
   */
  cohort_join_between_readings: z.boolean().default(false),
  /**
   * Harvest cohorts: the cohort's own settings. A parameter fingerprint (model, max_tokens,
   * temperature, reasoning settings) that at least COHORT.settingsMinHolders of the standing
   * cohort's members send, that nine in ten of the new accounts read holding it are members, and
   * that no accountable customer sends, is the fleet's own program: a new, unaccountable account
   * whose requests carry it and whose window has the harvest shape from its first request joins
   * the cohort then (docs/detector.md, "The cohort's own settings").
   */
  cohort_settings_heads: z.boolean().default(true),
  /**
   * Harvest cohorts of accounts the new-account reading leaves out (harvest-cohort.ts: ESTABLISHED):
   * accounts in use before, or with a verified identity, named by nothing more (no programme,
   * campus domain, enterprise contract or corroborated org), each below the single-account floor,
   * that all ask one harvest shape reach throttle together once at least this many of them (and
   * more than chance would give at `cohort_established_base_rate`) share it. 0: off.
   */
  cohort_min_established: z.number().int().refine((n) => n === 0 || n >= 5, 'cohort_min_established is 0 (off) or at least 5').default(5),
  /**
   * The share of established accounts read that may have the harvest shape by chance (customers
   * who ask that way): the established cohort must be larger than such accounts would be with
   * probability 1e-4 (Poisson), a threshold that grows with the square root of the accounts read.
   * The traffic model's organic established accounts show none; 0.002 is the upper bound that
   * reading allows. A provider whose customers ask this way more often sets it higher.
   */
  cohort_established_base_rate: z.number().min(0).max(0.5).default(0.002),
  /**
   * The established reading also reads agent trajectories (harvest-cohort.ts: AGENTS): accounts
   * whose recent requests are nearly all tool loops on coding and maths tasks, each under a harness
   * (system prompt or tool set) no other account holds, form a cohort of their own at the same
   * threshold (`cohort_min_established`, `cohort_established_base_rate`). false: not read.
   */
  cohort_agents: z.boolean().default(true),
  /**
   * The established reading also reads each account's harvest slice (harvest-cohort.ts: SLICE):
   * its coding and maths questions asking for reasoning, apart from the rest of its traffic (an
   * application's users, chats). Accounts whose slices are asked once and left, high-yield and
   * without a template form a cohort of their own at the same threshold (`cohort_min_established`,
   * `cohort_established_base_rate`). false: not read.
   */
  cohort_harvest_slice: z.boolean().default(true),
  /**
   * Accounts admitted to a startup, research or education programme (and named by nothing more:
   * no campus domain, enterprise contract or corroborated org) with the established harvest shape
   * join an established cohort that stands, formed without them, on the joining terms (within 2x
   * of its medians, tasks of two kinds); they never form one or count in its threshold. Accounts
   * are bought with their programme admission as with their history.
   */
  cohort_established_programmes: z.boolean().default(true),
  /**
   * Forget an account idle this many hours (event time) that is linked to no other and holds no
   * verdict above watch: its windows have decayed to nothing by then, and forgetting it bounds the
   * detector's memory by the accounts active within the horizon, not every account ever seen. At
   * least 48 (shared-address evidence spans a day); 0: never.
   */
  evict_idle_hours: z.number().refine((n) => n === 0 || n >= 48, 'evict_idle_hours is 0 (never) or at least 48').default(14 * 24),
  /**
   * At `warden serve` start, rebuild detector state from this many hours of stored events (0:
   * off), when there is no usable snapshot; after a snapshot, only the events stored since it are
   * replayed (at most this many hours of them).
   */
  replay_hours: z.number().nonnegative().default(72),
  /**
   * Snapshots of the detector's state (src/detect/snapshot.ts): written every `every_minutes`
   * (0: only at shutdown) and when `warden serve` stops, read at start. `path` null: a file
   * beside the SQLite database (`<db>.detector`); with PostgreSQL, snapshots are off unless a
   * path is set. `enabled: false` turns them off.
   */
  snapshot: z.strictObject({
    enabled: z.boolean().default(true),
    path: z.string().min(1).nullable().default(null),
    every_minutes: z.number().nonnegative().default(10),
  }).prefault({}),
  /** Operator allow-list: known evaluation partners and the like; never above `none`. */
  allow: z.strictObject({
    accounts: z.array(z.string()).default([]),
    orgs: z.array(z.string()).default([]),
  }).prefault({}),
});
export type DetectConfig = z.infer<typeof detectConfigSchema>;

/** Parse a (partial) detect config, filling defaults. */
export function detectConfig(input: unknown = {}): DetectConfig {
  return detectConfigSchema.parse(input ?? {});
}
