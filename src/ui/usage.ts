/**
 * Usage aggregations over the interaction events table: who used the model, how much and from
 * where, by account, org, key, model, IP, network, country or ASN and by time bucket, plus the
 * recent interactions with what the boundary did to them. One SQL builder, two dialects (the
 * embedded SQLite file and PostgreSQL) over the `events` table the gateway's recorder writes.
 * On a SQLite file the dialect runs in a worker thread (usage-thread.ts), off the gateway's thread.
 *
 * Token counts, country, ASN and verdict live in each event's JSON body, and parsing every body
 * on every dashboard query costs seconds at a day of traffic. So the aggregations read a narrow
 * side table, `usage_rows` (one row of plain columns per event), which each query first brings
 * up to date from `events`: each body is parsed once, ever, in chunks that yield to the event
 * loop. Late arrivals (batches from other nodes) are picked up while they are less than
 * CATCH_UP_LAG_MS older than the newest row; older stragglers are not (see docs/dashboard.md).
 *
 * Outcomes are classified by HTTP status, the same on both backends:
 *   ok (< 400), limited (429: rate, token, concurrency, budget limits), denied (403: policy,
 *   region, verification, suspension, verdicts), unauthenticated (401), server_errors (>= 500,
 *   upstream failures and fail-closed limits), client_errors (other 4xx, including 499 client gone).
 */
import { existsSync } from 'node:fs';
import { migrateSqlite, migratePostgres, openSqlite, truncateWal, USAGE_ROLLUP_TABLE, USAGE_ROLLUP_PENDING_TABLE, USAGE_ROLLUP_DELTA_TABLE, USAGE_ROLLUP_FILL_TABLE, SQLITE_USAGE_ROLLUP_FILLED, PG_USAGE_ROLLUP_FILLED, ROLLUP_COUNTERS, type Migration, type SqliteDb, type PgPool } from '../store/index.ts';
import type { InteractionEvent } from '../events/index.ts';
import { subnetOf } from '../events/index.ts';
import { threadedSqliteDialect, usageSidePath, type UsageThreadOptions } from './usage-thread.ts';

export const USAGE_DIMENSIONS = ['account', 'org', 'key', 'model', 'ip', 'network', 'country', 'asn', 'flavour', 'verdict', 'service_tier'] as const;
export type UsageDimension = (typeof USAGE_DIMENSIONS)[number];

/** Time range (ISO 8601, from inclusive, to exclusive) and optional narrowing filters. */
export interface UsageFilter {
  from: string;
  to: string;
  accountId?: string;
  orgId?: string;
  keyId?: string;
  model?: string;
  ip?: string;
  /**
   * Only requests the upstream served on this service tier (`response.service_tier`, as it named
   * it: `flex`, `priority`...). Summary and groupings only (the interactions list is not narrowed).
   */
  serviceTier?: string;
}

export interface UsageCounts {
  requests: number;
  ok: number;
  limited: number;
  denied: number;
  unauthenticated: number;
  client_errors: number;
  server_errors: number;
  input_tokens: number;
  /** Of `input_tokens`: read from the provider's prompt cache (billed at a fraction), and written to it. */
  cached_input_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
}

export interface UsagePoint extends UsageCounts {
  /** Bucket start, ISO 8601. */
  t: string;
}

export interface UsageSummary {
  from: string;
  to: string;
  bucket_s: number;
  totals: UsageCounts & { accounts: number; ips: number };
  /** One point per bucket from `from` to `to`, empty buckets included (zeros). */
  series: UsagePoint[];
  /** Requests per (status, error code), most frequent first. */
  outcomes: { status: number; code: string | null; requests: number }[];
}

export interface UsageTopRow extends UsageCounts {
  /** The group's value (account id, IP, `203.0.113.0/24`, country code...); null when absent (e.g. unauthenticated requests). */
  key: string | null;
  /** Distinct accounts in the group. */
  accounts: number;
  /** Distinct client IPs in the group. */
  ips: number;
  first_ts: string;
  last_ts: string;
}

/** One interaction as the dashboard lists it: no prompt text beyond a short preview. */
export interface InteractionSummary {
  id: string;
  ts: string;
  flavour: string;
  model: string;
  account_id: string | null;
  org_id: string | null;
  key_id: string | null;
  client_ip: string;
  country: string | null;
  asn: number | null;
  user_agent: string | null;
  stream: boolean;
  status: number;
  error_code: string | null;
  input_tokens: number;
  /** Of `input_tokens`: read from the prompt cache, and written to it (0 when none). */
  cached_input_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  tool_calls: number;
  finish_reason: string | null;
  /** The service tier the upstream served the answer on, as it named it; null: none named. */
  service_tier: string | null;
  duration_ms: number;
  ttfb_ms: number | null;
  params: { max_tokens: number | null; n: number | null; logprobs: boolean | null; reasoning_effort: string | null; thinking_budget: number | null };
  tools: number;
  messages: number;
  /** Start of the last user message (when prompts are recorded), at most 160 characters. */
  prompt_preview: string | null;
  enforcement: InteractionEvent['enforcement'];
}

export interface TopOptions {
  limit?: number;
  /** Order groups by requests (default) or total tokens. */
  sort?: 'requests' | 'tokens';
  /** Prefix lengths for `network` (default /24 and /64). */
  v4Prefix?: number;
  v6Prefix?: number;
}

/** One UTC day's usage of one model (`UsageStore.daily`). */
export interface UsageDayRow extends UsageCounts {
  /** The UTC day, `2026-12-05`. */
  date: string;
  model: string;
}

/** Most rows `daily` returns (days times models); a longer answer is cut, its newest days kept. */
export const DAILY_ROWS_MAX = 5000;

/** Read-only usage queries over the events table. */
export interface UsageStore {
  summary(filter: UsageFilter, bucketSeconds?: number): Promise<UsageSummary>;
  /** Usage per UTC day and model, oldest day first, each day's models by requests (a customer's own view: src/limits/usage-view.ts). */
  daily(filter: UsageFilter): Promise<UsageDayRow[]>;
  top(dimension: UsageDimension, filter: UsageFilter, opts?: TopOptions): Promise<UsageTopRow[]>;
  /** Newest first; `before` is an event id (exclusive) for paging. */
  interactions(filter: Partial<UsageFilter> & { before?: string; limit?: number }): Promise<InteractionSummary[]>;
  /**
   * Create or update `usage_rows` now rather than at the first query: `warden serve` calls it at
   * start, so that a table newer than this Warden knows stops it there (SchemaTooNewError).
   */
  migrate?(): Promise<void>;
  /** Release what the store started (the SQLite store's query thread); the database connection stays open. */
  close?(): Promise<void>;
}

/** Bucket sizes the summary picks from (seconds). */
export const BUCKETS = [60, 300, 900, 3600, 6 * 3600, 86400] as const;

/** The smallest bucket that cuts the range into at most `maxPoints` points. */
export function chooseBucket(fromMs: number, toMs: number, maxPoints = 120): number {
  const span = Math.max(1, toMs - fromMs) / 1000;
  for (const b of BUCKETS) if (span / b <= maxPoints) return b;
  return Math.ceil(span / maxPoints / 86400) * 86400;
}

export type Row = Record<string, unknown>;

/** What the SQL builder needs from a backend. Exported for the query thread (usage-thread.ts). */
export interface Dialect {
  placeholder(i: number): string;
  /** Seconds since the epoch of the ts column, as an integer expression. */
  epoch: string;
  /** The UTC day of the ts column, `2026-12-05`, as a text expression. */
  day: string;
  /** A token count in an `events` row's body (`input_tokens`...), as an expression (NULL when absent). */
  bodyToken(name: string): string;
  /** The hourly rollup's key of the hour starting at `ms` (src/store/usage-rollup.ts), and the UTC day of its `hour` column. */
  rollupHour(ms: number): string;
  rollupDay: string;
  /** A query returning a row when the rollup's tables exist. */
  rollupPresent: string;
  /** A query returning a row when the rollup holds every event stored before its migration (its fill is done). */
  rollupFilled: string;
  /** Events inserted but not yet summed into the rollup (SQLite: a table of their rowids); null where there are none (PostgreSQL). */
  rollupPending: string | null;
  /** Counts not yet folded into the rollup, in its columns (PostgreSQL); null where there are none (SQLite). */
  rollupDelta: string | null;
  /** Create `usage_rows` (idempotent, versioned). */
  migrate(): Promise<void>;
  /** Copy up to `limit` events with ts >= `fromTs` that are not in usage_rows yet; returns how many and the newest ts copied. */
  catchUp(fromTs: string, limit: number): Promise<{ copied: number; lastTs: string | null }>;
  /** Newest ts in usage_rows, ISO, or null when empty. */
  newest(): Promise<string | null>;
  run(sql: string, args: unknown[]): Promise<Row[]>;
  /** Stop what the dialect started (a worker thread); connections it was given stay open. */
  close?(): Promise<void>;
}

/** Rows copied per catch-up statement; between chunks the event loop runs. */
export const CATCH_UP_CHUNK = 20_000;
/** How far behind the newest copied row a late event may arrive and still be counted. */
export const CATCH_UP_LAG_MS = 15 * 60_000;

const USAGE_COLUMNS = 'id, ts, account_id, org_id, key_id, model, client_ip, status, error_code, input_tokens, output_tokens, reasoning_tokens, country, asn, flavour, verdict, cached_input_tokens, cache_write_tokens, service_tier';

/**
 * The service tier (`response.service_tier`). The rows copied before it was kept are deleted, so
 * that the next query copies every event again with it (as version 3 did for the cache split);
 * an older Warden restarted on the table copies rows without it (their tier null): compatible.
 */
const TIER_MIGRATION = (table: 'usage_rows') => ({ sql: `DELETE FROM ${table};
   ALTER TABLE ${table} ADD COLUMN service_tier TEXT;`, compatible: true as const });

export const SQLITE_USAGE_MIGRATIONS: readonly Migration[] = [
  `CREATE TABLE usage_rows (
     id TEXT PRIMARY KEY, ts TEXT NOT NULL,
     account_id TEXT, org_id TEXT, key_id TEXT, model TEXT NOT NULL, client_ip TEXT NOT NULL,
     status INTEGER NOT NULL, error_code TEXT,
     input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL,
     country TEXT, asn INTEGER, flavour TEXT NOT NULL, verdict TEXT
   );
   CREATE INDEX usage_rows_ts ON usage_rows (ts);
   CREATE INDEX usage_rows_account ON usage_rows (account_id, ts);
   CREATE INDEX usage_rows_org ON usage_rows (org_id, ts);
   CREATE INDEX usage_rows_ip ON usage_rows (client_ip, ts);`,
  // The overview's aggregations read a time range: an index holding every column they read lets
  // them scan it alone, in ts order, without a lookup into the table for each row (it replaces
  // the ts index it starts with). Readers of version 1 read the same table: compatible.
  { sql: `CREATE INDEX usage_rows_range ON usage_rows (ts, status, error_code, account_id, client_ip, model, input_tokens, output_tokens, reasoning_tokens);
     DROP INDEX IF EXISTS usage_rows_ts;`, compatible: true },
  // The prompt cache's reads and writes. The rows copied so far lack them, so the table is made
  // again and the next query copies every event anew (once; docs/dashboard.md). Not declared
  // compatible: an older Warden restarted on it would copy rows without the split.
  `DROP TABLE usage_rows;
   CREATE TABLE usage_rows (
     id TEXT PRIMARY KEY, ts TEXT NOT NULL,
     account_id TEXT, org_id TEXT, key_id TEXT, model TEXT NOT NULL, client_ip TEXT NOT NULL,
     status INTEGER NOT NULL, error_code TEXT,
     input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, reasoning_tokens INTEGER NOT NULL,
     country TEXT, asn INTEGER, flavour TEXT NOT NULL, verdict TEXT,
     cached_input_tokens INTEGER NOT NULL DEFAULT 0, cache_write_tokens INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX usage_rows_account ON usage_rows (account_id, ts);
   CREATE INDEX usage_rows_org ON usage_rows (org_id, ts);
   CREATE INDEX usage_rows_ip ON usage_rows (client_ip, ts);
   CREATE INDEX usage_rows_range ON usage_rows (ts, status, error_code, account_id, client_ip, model, input_tokens, output_tokens, reasoning_tokens, cached_input_tokens, cache_write_tokens);`,
  TIER_MIGRATION('usage_rows'),
];

const PG_USAGE_MIGRATIONS: readonly Migration[] = [
  `CREATE TABLE IF NOT EXISTS usage_rows (
     id TEXT PRIMARY KEY, ts TIMESTAMPTZ NOT NULL,
     account_id TEXT, org_id TEXT, key_id TEXT, model TEXT NOT NULL, client_ip TEXT NOT NULL,
     status INTEGER NOT NULL, error_code TEXT,
     input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, reasoning_tokens BIGINT NOT NULL,
     country TEXT, asn BIGINT, flavour TEXT NOT NULL, verdict TEXT
   );
   CREATE INDEX IF NOT EXISTS usage_rows_ts ON usage_rows (ts);
   CREATE INDEX IF NOT EXISTS usage_rows_account ON usage_rows (account_id, ts);
   CREATE INDEX IF NOT EXISTS usage_rows_org ON usage_rows (org_id, ts);
   CREATE INDEX IF NOT EXISTS usage_rows_ip ON usage_rows (client_ip, ts);`,
  // As on SQLite: the range's columns in the index, for index-only scans of a time range.
  { sql: `CREATE INDEX IF NOT EXISTS usage_rows_range ON usage_rows (ts) INCLUDE (status, error_code, account_id, client_ip, model, input_tokens, output_tokens, reasoning_tokens);`, compatible: true },
  // As on SQLite: the prompt cache's split, every event copied anew by the next query.
  `DROP TABLE usage_rows;
   CREATE TABLE usage_rows (
     id TEXT PRIMARY KEY, ts TIMESTAMPTZ NOT NULL,
     account_id TEXT, org_id TEXT, key_id TEXT, model TEXT NOT NULL, client_ip TEXT NOT NULL,
     status INTEGER NOT NULL, error_code TEXT,
     input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, reasoning_tokens BIGINT NOT NULL,
     country TEXT, asn BIGINT, flavour TEXT NOT NULL, verdict TEXT,
     cached_input_tokens BIGINT NOT NULL DEFAULT 0, cache_write_tokens BIGINT NOT NULL DEFAULT 0
   );
   CREATE INDEX usage_rows_account ON usage_rows (account_id, ts);
   CREATE INDEX usage_rows_org ON usage_rows (org_id, ts);
   CREATE INDEX usage_rows_ip ON usage_rows (client_ip, ts);
   CREATE INDEX usage_rows_range ON usage_rows (ts) INCLUDE (status, error_code, account_id, client_ip, model, input_tokens, output_tokens, reasoning_tokens, cached_input_tokens, cache_write_tokens);`,
  { sql: TIER_MIGRATION('usage_rows').sql.replace('DELETE FROM', 'TRUNCATE').replace('ADD COLUMN', 'ADD COLUMN IF NOT EXISTS'), compatible: true as const },
];

/** How the SQLite dialects (this thread's and the query thread's) read the events' bodies and the hourly rollup. */
export const SQLITE_ROLLUP_READS = {
  bodyToken: (name: string) => `json_extract(body, '$.response.${name}')`,
  // The rollup's hour is the first 13 characters of ts: `2026-12-05T14`.
  rollupHour: (ms: number) => new Date(ms).toISOString().slice(0, 13),
  rollupDay: 'substr(hour, 1, 10)',
  // pragma_table_list sees every attached schema (the query thread reads events from an attached file).
  rollupPresent: `SELECT 1 AS present FROM pragma_table_list WHERE name = '${USAGE_ROLLUP_FILL_TABLE}'`,
  rollupFilled: SQLITE_USAGE_ROLLUP_FILLED,
  rollupPending: USAGE_ROLLUP_PENDING_TABLE,
  rollupDelta: null,
} satisfies Pick<Dialect, 'bodyToken' | 'rollupHour' | 'rollupDay' | 'rollupPresent' | 'rollupFilled' | 'rollupPending' | 'rollupDelta'>;

/** The SQLite dialect on a connection of this thread (the query thread runs it on its own connection). */
export function sqliteDialect(db: SqliteDb): Dialect {
  const j = (path: string) => `json_extract(e.body, '$.${path}')`;
  let copy: { all(...args: unknown[]): unknown[] } | null = null;
  return {
    placeholder: () => '?',
    epoch: "CAST(strftime('%s', ts) AS INTEGER)",
    // ts is stored as the recorder writes it, ISO 8601 in UTC: its first ten characters are its day.
    day: 'substr(ts, 1, 10)',
    ...SQLITE_ROLLUP_READS,
    migrate: async () => migrateSqlite(db, 'ui_usage', SQLITE_USAGE_MIGRATIONS),
    async catchUp(fromTs, limit) {
      copy ??= db.prepare(
        `INSERT OR IGNORE INTO usage_rows (${USAGE_COLUMNS})
         SELECT e.id, e.ts, e.account_id, e.org_id, e.key_id, e.model, e.client_ip, e.status, ${j('response.error_code')},
           COALESCE(${j('response.input_tokens')}, 0), COALESCE(${j('response.output_tokens')}, 0), COALESCE(${j('response.reasoning_tokens')}, 0),
           ${j('client.country')}, ${j('client.asn')}, COALESCE(${j('flavour')}, ''), ${j('enforcement.verdict')},
           COALESCE(${j('response.cached_input_tokens')}, 0), COALESCE(${j('response.cache_write_tokens')}, 0), ${j('response.service_tier')}
         FROM events e WHERE e.ts >= ? AND NOT EXISTS (SELECT 1 FROM usage_rows u WHERE u.id = e.id)
         ORDER BY e.ts LIMIT ? RETURNING ts`,
      );
      const rows = copy.all(fromTs, limit) as { ts: string }[];
      let last: string | null = null;
      for (const r of rows) if (last === null || r.ts > last) last = r.ts;
      return { copied: rows.length, lastTs: last };
    },
    newest: async () => ((db.prepare('SELECT MAX(ts) AS t FROM usage_rows').get() as { t: string | null }).t),
    run: async (sql, args) => db.prepare(sql).all(...args) as Row[],
  };
}

function postgresDialect(pool: PgPool): Dialect {
  const j = (p: string[]) => `e.body${p.slice(0, -1).map((k) => `->'${k}'`).join('')}->>'${p[p.length - 1]}'`;
  return {
    placeholder: (i) => `$${i}`,
    epoch: 'CAST(FLOOR(EXTRACT(EPOCH FROM ts)) AS BIGINT)',
    day: "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    bodyToken: (name) => `CAST(body->'response'->>'${name}' AS BIGINT)`,
    rollupHour: (ms) => new Date(ms).toISOString(),
    rollupDay: "to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    rollupPresent: `SELECT 1 AS present WHERE to_regclass('${USAGE_ROLLUP_FILL_TABLE}') IS NOT NULL`,
    rollupFilled: PG_USAGE_ROLLUP_FILLED,
    rollupPending: null,
    rollupDelta: USAGE_ROLLUP_DELTA_TABLE,
    migrate: () => migratePostgres(pool, 'ui_usage', PG_USAGE_MIGRATIONS),
    async catchUp(fromTs, limit) {
      const { rows } = await pool.query(
        `INSERT INTO usage_rows (${USAGE_COLUMNS})
         SELECT e.id, e.ts, e.account_id, e.org_id, e.key_id, e.model, e.client_ip, e.status, ${j(['response', 'error_code'])},
           COALESCE(CAST(${j(['response', 'input_tokens'])} AS BIGINT), 0), COALESCE(CAST(${j(['response', 'output_tokens'])} AS BIGINT), 0),
           COALESCE(CAST(${j(['response', 'reasoning_tokens'])} AS BIGINT), 0),
           ${j(['client', 'country'])}, CAST(${j(['client', 'asn'])} AS BIGINT), COALESCE(${j(['flavour'])}, ''), ${j(['enforcement', 'verdict'])},
           COALESCE(CAST(${j(['response', 'cached_input_tokens'])} AS BIGINT), 0), COALESCE(CAST(${j(['response', 'cache_write_tokens'])} AS BIGINT), 0),
           ${j(['response', 'service_tier'])}
         FROM events e WHERE e.ts >= $1 AND NOT EXISTS (SELECT 1 FROM usage_rows u WHERE u.id = e.id)
         ORDER BY e.ts LIMIT $2
         ON CONFLICT (id) DO NOTHING RETURNING ts`,
        [fromTs, limit],
      );
      let last: string | null = null;
      for (const r of rows) { const t = iso(r.ts); if (last === null || t > last) last = t; }
      return { copied: rows.length, lastTs: last };
    },
    newest: async () => {
      const { rows } = await pool.query('SELECT MAX(ts) AS t FROM usage_rows');
      return rows[0].t === null ? null : iso(rows[0].t);
    },
    run: async (sql, args) => (await pool.query(sql, args)).rows as Row[],
  };
}

const n = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const iso = (v: unknown): string => (v instanceof Date ? v.toISOString() : String(v));

export interface SqliteUsageOptions extends UsageThreadOptions {
  /**
   * Where the queries run: `worker` (default), a worker thread with its own connection to the
   * same file, so a slow query does not block this thread's event loop; `inline`, on `db` in
   * this thread. An in-memory database (`:memory:`) cannot be opened by another connection, so
   * it always runs inline.
   */
  thread?: 'worker' | 'inline';
}

/** A SQLite usage store: where its queries run, and close() to stop its query thread. */
export interface SqliteUsageStore extends UsageStore {
  readonly thread: 'worker' | 'inline';
  close(): Promise<void>;
}

/** Usage queries over a SQLite events table (the embedded default); see SqliteUsageOptions. */
export function sqliteUsageStore(db: SqliteDb, opts: SqliteUsageOptions = {}): SqliteUsageStore {
  // In-memory databases are private to their connection: a worker could not see these events.
  const inline = opts.thread === 'inline' || db.memory || db.name === '' || db.name === ':memory:';
  const store = new SqlUsageStore(inline ? sqliteDialect(db) : threadedSqliteDialect(db.name, opts)) as SqlUsageStore & { thread: 'worker' | 'inline' };
  return Object.assign(store, { thread: inline ? 'inline' as const : 'worker' as const });
}

/** Usage queries over a PostgreSQL events table. */
export function postgresUsageStore(pool: PgPool): UsageStore {
  return new SqlUsageStore(postgresDialect(pool));
}

class SqlUsageStore implements UsageStore {
  private migrated: Promise<void> | null = null;
  private catching: Promise<void> | null = null;

  constructor(private readonly d: Dialect) {}

  async close(): Promise<void> {
    await this.d.close?.();
  }

  migrate(): Promise<void> {
    this.migrated ??= this.d.migrate();
    // A failed attempt is not kept: the next query tries again.
    this.migrated.catch(() => { this.migrated = null; });
    return this.migrated;
  }

  /** Bring usage_rows up to date with events (one catch-up at a time; concurrent queries share it). */
  private fresh(): Promise<void> {
    this.catching ??= (async () => {
      await this.migrate();
      const newest = await this.d.newest();
      let from = newest === null ? '1970-01-01T00:00:00.000Z' : new Date(Date.parse(newest) - CATCH_UP_LAG_MS).toISOString();
      for (;;) {
        const { copied, lastTs } = await this.d.catchUp(from, CATCH_UP_CHUNK);
        if (copied < CATCH_UP_CHUNK || lastTs === null) break;
        from = lastTs;
        await new Promise<void>((r) => setImmediate(r));
      }
    })().finally(() => { this.catching = null; });
    return this.catching;
  }

  private where(f: Partial<UsageFilter> & { before?: string }): { sql: string; args: unknown[] } {
    const parts: string[] = [];
    const args: unknown[] = [];
    const add = (expr: string, v: unknown) => { args.push(v); parts.push(`${expr} ${this.d.placeholder(args.length)}`); };
    if (f.from) add('ts >=', f.from);
    if (f.to) add('ts <', f.to);
    if (f.accountId) add('account_id =', f.accountId);
    if (f.orgId) add('org_id =', f.orgId);
    if (f.keyId) add('key_id =', f.keyId);
    if (f.model) add('model =', f.model);
    if (f.ip) add('client_ip =', f.ip);
    if (f.serviceTier) add('service_tier =', f.serviceTier);
    if (f.before) add('id <', f.before);
    return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', args };
  }

  /** SELECT list of the counters, shared by every aggregation; `token` reads a token count (default: usage_rows' column). */
  private counters(token: (name: string) => string = (name) => name): string {
    return [
      'COUNT(*) AS requests',
      'SUM(CASE WHEN status < 400 THEN 1 ELSE 0 END) AS ok',
      'SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END) AS limited',
      'SUM(CASE WHEN status = 403 THEN 1 ELSE 0 END) AS denied',
      'SUM(CASE WHEN status = 401 THEN 1 ELSE 0 END) AS unauthenticated',
      'SUM(CASE WHEN status >= 400 AND status < 500 AND status NOT IN (401, 403, 429) THEN 1 ELSE 0 END) AS client_errors',
      'SUM(CASE WHEN status >= 500 THEN 1 ELSE 0 END) AS server_errors',
      `SUM(${token('input_tokens')}) AS input_tokens`,
      `SUM(${token('cached_input_tokens')}) AS cached_input_tokens`,
      `SUM(${token('cache_write_tokens')}) AS cache_write_tokens`,
      `SUM(${token('output_tokens')}) AS output_tokens`,
      `SUM(${token('reasoning_tokens')}) AS reasoning_tokens`,
    ].join(', ');
  }

  async summary(filter: UsageFilter, bucketSeconds?: number): Promise<UsageSummary> {
    const fromMs = Date.parse(filter.from);
    const toMs = Date.parse(filter.to);
    const bucket = bucketSeconds ?? chooseBucket(fromMs, toMs);
    const { sql, args } = this.where(filter);
    await this.fresh();
    // The totals' counters are the sum of the buckets' (one pass fewer over the range); only the
    // distinct accounts and addresses need a pass of their own.
    const [distinctRows, seriesRows, outcomeRows] = await Promise.all([
      this.d.run(`SELECT COUNT(DISTINCT account_id) AS accounts, COUNT(DISTINCT client_ip) AS ips FROM usage_rows ${sql}`, args),
      this.d.run(`SELECT ${this.d.epoch} / ${bucket} AS b, ${this.counters()} FROM usage_rows ${sql} GROUP BY b ORDER BY b`, args),
      this.d.run(`SELECT status, error_code AS code, COUNT(*) AS requests FROM usage_rows ${sql} GROUP BY status, error_code ORDER BY requests DESC LIMIT 50`, args),
    ]);
    const t = distinctRows[0] ?? {};
    const totals = countsOf({});
    for (const r of seriesRows) addCounts(totals, countsOf(r));
    const byBucket = new Map(seriesRows.map((r) => [n(r.b), r]));
    const series: UsagePoint[] = [];
    const first = Math.floor(fromMs / 1000 / bucket);
    const last = Math.floor((toMs - 1) / 1000 / bucket);
    // Bounded: the caller chose the bucket for the range; refuse absurd point counts instead of allocating them.
    if (last - first > 10_000) throw new RangeError(`range too long for a ${bucket}s bucket`);
    for (let b = first; b <= last; b++) series.push({ t: new Date(b * bucket * 1000).toISOString(), ...countsOf(byBucket.get(b) ?? {}) });
    return {
      from: filter.from, to: filter.to, bucket_s: bucket,
      totals: { ...totals, accounts: n(t.accounts), ips: n(t.ips) },
      series,
      outcomes: outcomeRows.map((r) => ({ status: n(r.status), code: r.code === null || r.code === undefined ? null : String(r.code), requests: n(r.requests) })),
    };
  }

  async daily(filter: UsageFilter): Promise<UsageDayRow[]> {
    const subject = rollupSubject(filter);
    if (subject && await this.hasRollup()) return this.dailyFromRollup(filter, subject);
    const { sql, args } = this.where(filter);
    await this.fresh();
    const rows = await this.d.run(
      `SELECT ${this.d.day} AS d, model AS m, ${this.counters()} FROM usage_rows ${sql} GROUP BY d, m ORDER BY d DESC, requests DESC, m LIMIT ${DAILY_ROWS_MAX}`,
      args,
    );
    return dailyRows(rows);
  }

  private rollupReady = false;

  /**
   * Whether the events' hourly rollup exists (made by the event store's migration; absent where no
   * event store ran on this database) and holds the events stored before it (its fill is done;
   * until then, e.g. while another node still fills it, the usage is counted from the events).
   */
  private async hasRollup(): Promise<boolean> {
    if (this.rollupReady) return true;
    this.rollupReady = (await this.d.run(this.d.rollupPresent, [])).length > 0 && (await this.d.run(this.d.rollupFilled, [])).length > 0;
    return this.rollupReady;
  }

  /**
   * One account's or organisation's usage by day and model from the hourly rollup: the whole hours
   * of the window from it (at most 31 x 24 rows per model, whatever the traffic), the part-hours
   * at either end (a window that does not start or end on the hour, e.g. one ending now) from the
   * events themselves. The same counts as summing the events of the window: the rollup is kept in
   * the events' own transactions (src/store/usage-rollup.ts).
   */
  private async dailyFromRollup(filter: UsageFilter, subject: { scope: 'account' | 'org'; id: string }): Promise<UsageDayRow[]> {
    const fromMs = Date.parse(filter.from);
    const toMs = Date.parse(filter.to);
    const firstHour = Math.ceil(fromMs / HOUR_MS) * HOUR_MS;
    const endHour = Math.floor(toMs / HOUR_MS) * HOUR_MS;
    const raw = (from: string, to: string, pendingOnly = false) => {
      const { sql, args } = this.where({ from, to, ...(subject.scope === 'account' ? { accountId: subject.id } : { orgId: subject.id }), model: filter.model });
      // The pending rows first (CROSS JOIN keeps that order in SQLite): few or none, each found by its rowid.
      const rows = pendingOnly ? `${this.d.rollupPending} p CROSS JOIN events e ON e.rowid = p.event_rowid` : 'events';
      return this.d.run(`SELECT ${this.d.day} AS d, model AS m, ${this.counters((name) => this.d.bodyToken(name))} FROM ${rows} ${sql} GROUP BY d, m`, args);
    };
    const parts: Promise<Row[]>[] = [];
    if (firstHour >= endHour) {
      parts.push(raw(filter.from, filter.to));
    } else {
      if (fromMs < firstHour) parts.push(raw(filter.from, new Date(firstHour).toISOString()));
      if (endHour < toMs) parts.push(raw(new Date(endHour).toISOString(), filter.to));
      if (this.d.rollupPending) parts.push(raw(new Date(firstHour).toISOString(), new Date(endHour).toISOString(), true));
      // The rollup's rows, and its deltas not folded yet (PostgreSQL), in one statement: a fold moving deltas into rows is seen whole or not at all.
      const args: unknown[] = [];
      const select = (table: string) => {
        const p = (v: unknown) => { args.push(v); return this.d.placeholder(args.length); };
        return `SELECT hour, model, ${ROLLUP_COUNTERS.join(', ')} FROM ${table}
          WHERE scope = ${p(subject.scope)} AND subject = ${p(subject.id)} AND hour >= ${p(this.d.rollupHour(firstHour))} AND hour < ${p(this.d.rollupHour(endHour))}${filter.model ? ` AND model = ${p(filter.model)}` : ''}`;
      };
      const tables = [USAGE_ROLLUP_TABLE, ...(this.d.rollupDelta ? [this.d.rollupDelta] : [])];
      parts.push(this.d.run(
        `SELECT ${this.d.rollupDay} AS d, model AS m, ${ROLLUP_COUNTERS.map((c) => `SUM(${c}) AS ${c}`).join(', ')}
         FROM (${tables.map(select).join(' UNION ALL ')}) r
         GROUP BY d, m`,
        args,
      ));
    }
    const byDay = new Map<string, { d: string; m: string; counts: UsageCounts }>();
    for (const r of (await Promise.all(parts)).flat()) {
      const key = `${String(r.d)}\u0000${String(r.m)}`;
      let g = byDay.get(key);
      if (!g) byDay.set(key, g = { d: String(r.d), m: String(r.m), counts: countsOf({}) });
      addCounts(g.counts, countsOf(r));
    }
    // As the query over usage_rows: newest days first, each day's models by requests, cut at DAILY_ROWS_MAX.
    const rows = [...byDay.values()].filter((g) => g.counts.requests > 0)
      .sort((a, b) => (a.d < b.d ? 1 : a.d > b.d ? -1 : b.counts.requests - a.counts.requests || (a.m < b.m ? -1 : a.m > b.m ? 1 : 0)))
      .slice(0, DAILY_ROWS_MAX)
      .map((g) => ({ d: g.d, m: g.m, ...g.counts }));
    return dailyRows(rows);
  }

  async top(dimension: UsageDimension, filter: UsageFilter, opts: TopOptions = {}): Promise<UsageTopRow[]> {
    const limit = Math.max(1, Math.min(opts.limit ?? 20, 1000));
    const sort = opts.sort ?? 'requests';
    const { sql, args } = this.where(filter);
    const order = sort === 'tokens' ? 'tokens DESC, requests DESC' : 'requests DESC, tokens DESC';
    const tokens = 'SUM(input_tokens) + SUM(output_tokens) AS tokens';
    await this.fresh();
    if (dimension === 'network') {
      const v4 = opts.v4Prefix ?? 24;
      // IPv4 /24 groups in SQL (the address without its last octet); everything else is grouped by
      // address and account, then folded into subnets here.
      const inSql = v4 === 24;
      const v4Rows = inSql
        ? await this.d.run(
          `SELECT RTRIM(client_ip, '0123456789') AS k, ${this.counters()}, COUNT(DISTINCT account_id) AS accounts, COUNT(DISTINCT client_ip) AS ips, MIN(ts) AS first_ts, MAX(ts) AS last_ts
           FROM usage_rows ${sql ? `${sql} AND` : 'WHERE'} client_ip NOT LIKE '%:%' GROUP BY k`,
          args)
        : [];
      const rows = await this.d.run(
        `SELECT client_ip AS k, account_id AS a, ${this.counters()}, MIN(ts) AS first_ts, MAX(ts) AS last_ts FROM usage_rows ${sql}${inSql ? ` ${sql ? 'AND' : 'WHERE'} client_ip LIKE '%:%'` : ''} GROUP BY client_ip, account_id`,
        args,
      );
      const nets = new Map<string, { counts: UsageCounts; accounts: Set<string | null>; ips: Set<string>; first: string; last: string }>();
      for (const r of rows) {
        const ip = String(r.k);
        const net = subnetOf(ip, opts.v4Prefix ?? 24, opts.v6Prefix ?? 64);
        let g = nets.get(net);
        if (!g) nets.set(net, g = { counts: countsOf({}), accounts: new Set(), ips: new Set(), first: iso(r.first_ts), last: iso(r.last_ts) });
        addCounts(g.counts, countsOf(r));
        g.accounts.add(r.a === null ? null : String(r.a));
        g.ips.add(ip);
        if (iso(r.first_ts) < g.first) g.first = iso(r.first_ts);
        if (iso(r.last_ts) > g.last) g.last = iso(r.last_ts);
      }
      const out: UsageTopRow[] = [...nets].map(([key, g]) => ({
        key, ...g.counts, accounts: [...g.accounts].filter((a) => a !== null).length, ips: g.ips.size, first_ts: g.first, last_ts: g.last,
      }));
      for (const r of v4Rows) {
        out.push({ key: `${String(r.k)}0/24`, ...countsOf(r), accounts: n(r.accounts), ips: n(r.ips), first_ts: iso(r.first_ts), last_ts: iso(r.last_ts) });
      }
      const tok = (r: UsageTopRow) => r.input_tokens + r.output_tokens;
      out.sort(sort === 'tokens' ? (a, b) => tok(b) - tok(a) || b.requests - a.requests : (a, b) => b.requests - a.requests || tok(b) - tok(a));
      return out.slice(0, limit);
    }
    const expr = GROUP_COLUMN[dimension];
    const rows = await this.d.run(
      `SELECT ${expr} AS k, ${this.counters()}, ${tokens}, COUNT(DISTINCT account_id) AS accounts, COUNT(DISTINCT client_ip) AS ips, MIN(ts) AS first_ts, MAX(ts) AS last_ts
       FROM usage_rows ${sql} GROUP BY k ORDER BY ${order} LIMIT ${limit}`,
      args,
    );
    return rows.map((r) => ({
      key: r.k === null || r.k === undefined ? null : String(r.k),
      ...countsOf(r), accounts: n(r.accounts), ips: n(r.ips), first_ts: iso(r.first_ts), last_ts: iso(r.last_ts),
    }));
  }

  async interactions(filter: Partial<UsageFilter> & { before?: string; limit?: number }): Promise<InteractionSummary[]> {
    const limit = Math.max(1, Math.min(filter.limit ?? 50, 500));
    const { sql, args } = this.where(filter);
    // ts order lets the ts (or account/org/ip + ts) index serve the sort; ids are ULIDs of the same instant.
    const rows = await this.d.run(`SELECT body FROM events ${sql} ORDER BY ts DESC, id DESC LIMIT ${limit}`, args);
    return rows.map((r) => summariseEvent((typeof r.body === 'string' ? JSON.parse(r.body) : r.body) as InteractionEvent));
  }
}

const GROUP_COLUMN: Record<Exclude<UsageDimension, 'network'>, string> = {
  account: 'account_id',
  org: 'org_id',
  key: 'key_id',
  model: 'model',
  ip: 'client_ip',
  country: 'country',
  asn: 'asn',
  flavour: 'flavour',
  /** The detector verdict in force when the request arrived (recorded on the event by enforcement). */
  verdict: 'verdict',
  /** The service tier the upstream served the answer on (null: none named). */
  service_tier: 'service_tier',
};

const HOUR_MS = 3_600_000;

/** The account or organisation whose rollup answers `daily(filter)`; null for a filter it cannot (a key, an address, both scopes or none). */
function rollupSubject(f: UsageFilter): { scope: 'account' | 'org'; id: string } | null {
  if (f.keyId || f.ip || (f.accountId && f.orgId)) return null;
  if (f.accountId) return { scope: 'account', id: f.accountId };
  if (f.orgId) return { scope: 'org', id: f.orgId };
  return null;
}

/** `daily`'s rows (d, m, counters) as returned: oldest day first, each day's models by requests. */
function dailyRows(rows: Row[]): UsageDayRow[] {
  return rows.sort((a, b) => String(a.d).localeCompare(String(b.d)) || n(b.requests) - n(a.requests) || String(a.m).localeCompare(String(b.m)))
    .map((r) => ({ date: String(r.d), model: String(r.m), ...countsOf(r) }));
}

function countsOf(r: Row): UsageCounts {
  return {
    requests: n(r.requests), ok: n(r.ok), limited: n(r.limited), denied: n(r.denied), unauthenticated: n(r.unauthenticated),
    client_errors: n(r.client_errors), server_errors: n(r.server_errors),
    input_tokens: n(r.input_tokens), cached_input_tokens: n(r.cached_input_tokens), cache_write_tokens: n(r.cache_write_tokens),
    output_tokens: n(r.output_tokens), reasoning_tokens: n(r.reasoning_tokens),
  };
}

function addCounts(into: UsageCounts, c: UsageCounts): void {
  for (const k of Object.keys(into) as (keyof UsageCounts)[]) into[k] += c[k];
}

/** The dashboard's view of one event: facts and enforcement, with at most a short prompt preview. */
export function summariseEvent(e: InteractionEvent): InteractionSummary {
  const lastUser = [...(e.request?.messages ?? [])].reverse().find((m) => m.role === 'user' && m.text);
  const preview = lastUser?.text ? lastUser.text.replace(/\s+/g, ' ').trim().slice(0, 160) : null;
  const p = e.request?.params;
  return {
    id: e.id, ts: e.ts, flavour: e.flavour, model: e.model,
    account_id: e.account_id, org_id: e.org_id, key_id: e.key_id,
    client_ip: e.client.ip, country: e.client.country, asn: e.client.asn, user_agent: e.client.user_agent,
    stream: e.request?.stream ?? false,
    status: e.response.status, error_code: e.response.error_code,
    input_tokens: e.response.input_tokens, cached_input_tokens: e.response.cached_input_tokens ?? 0, cache_write_tokens: e.response.cache_write_tokens ?? 0,
    output_tokens: e.response.output_tokens, reasoning_tokens: e.response.reasoning_tokens,
    tool_calls: e.response.tool_calls, finish_reason: e.response.finish_reason, service_tier: e.response.service_tier ?? null,
    duration_ms: e.duration_ms, ttfb_ms: e.response.ttfb_ms,
    params: {
      max_tokens: p?.max_tokens ?? null, n: p?.n ?? null, logprobs: p?.logprobs ?? null,
      reasoning_effort: p?.reasoning_effort ?? null, thinking_budget: p?.thinking_budget ?? null,
    },
    tools: e.request?.tools?.length ?? 0,
    messages: e.request?.messages?.length ?? 0,
    prompt_preview: preview,
    enforcement: e.enforcement,
  };
}

/**
 * `warden events erase`: blank the client IP of one account's rows copied into `usage_rows` (the
 * SQLite side file beside the database, or the PostgreSQL table), as erasePersonalData does in
 * `events`. Nothing to do where the dashboard never ran (no side file or table).
 */
export async function eraseUsageClientIps(where: { sqlitePath: string } | { pg: PgPool }, accountId: string): Promise<number> {
  if ('pg' in where) {
    const { rows } = await where.pg.query("SELECT to_regclass('usage_rows') IS NOT NULL AS present");
    if (!rows[0].present) return 0;
    return (await where.pg.query("UPDATE usage_rows SET client_ip = '' WHERE account_id = $1 AND client_ip <> ''", [accountId])).rowCount ?? 0;
  }
  const side = usageSidePath(where.sqlitePath);
  if (!existsSync(side)) return 0;
  const db = openSqlite(side);
  try {
    if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'usage_rows'").get()) return 0;
    const n = db.prepare("UPDATE usage_rows SET client_ip = '' WHERE account_id = ? AND client_ip <> ''").run(accountId).changes;
    // As the events' and the ledger's erases: index pages rebalanced by the updates can keep stale
    // keys (the IPs) in their unused space, so the IP index is rebuilt when anything changed.
    const has = (index: string) => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?").get(index) !== undefined;
    if (n > 0 && has('usage_rows_ip')) db.exec('REINDEX usage_rows_ip');
    if (n > 0 && has('usage_rows_range')) db.exec('REINDEX usage_rows_range');
    truncateWal(db, 'events erase (dashboard usage rows)');
    return n;
  } finally {
    db.close();
  }
}
