/**
 * `event_usage_hourly`: the events' requests and tokens summed per account (and per organisation),
 * UTC hour and model, so that a customer's usage (`GET /v1/warden/usage`, src/ui/usage.ts `daily`)
 * reads at most 31 x 24 rows per model instead of every event of the window.
 *
 * Kept in the transaction that changes the events, by triggers on `events`: an insert adds its
 * counts, a delete (retention) takes them away, an update (an erase rewrites the body) takes the
 * old row's away and adds the new one's. So the table cannot disagree with the events, whichever
 * code writes them: the event writer thread, a node of an older release during a rolling upgrade
 * (the migration is compatible for that reason), or an operator's own SQL. On PostgreSQL the
 * triggers run once per statement and append the batch's sums to a table of deltas (one row per
 * bucket; folded into the rollup in batches, and read with it: USAGE_ROLLUP_DELTA_TABLE); on SQLite, where they
 * run once per row, an insert is noted as pending and the batch sums its rows before it commits
 * (SQLITE_FOLD_PENDING_SUM). A bucket whose requests fall to zero is deleted, so that the table holds
 * no more than the events do.
 *
 * The events stored before the migration are summed into it after the migration, in chunks that
 * commit as they go and report progress (fillSqliteUsageRollup, fillPostgresUsageRollup); readers
 * use the rollup once that fill is done (USAGE_ROLLUP_FILL_TABLE), and count from the events before.
 *
 * Counted as the dashboard's `usage_rows` counts (src/ui/usage.ts): outcomes by the `status` column,
 * tokens from the body's `response`, absent ones as 0. The hour on SQLite is the first 13
 * characters of `ts` (`2026-12-05T14`; the recorder writes ts in UTC, ISO 8601), on PostgreSQL the
 * timestamp cut to its UTC hour (whatever the session's time zone).
 */
import type { Migration } from './schema-version.ts';
import type { SqliteDb } from './sqlite.ts';
import { inTransaction, timed, PG_TIMEOUTS_MS, type PgPool } from './postgres.ts';

export const USAGE_ROLLUP_TABLE = 'event_usage_hourly';

/** The summed counters, in column order. */
export const ROLLUP_COUNTERS = [
  'requests', 'ok', 'limited', 'denied', 'unauthenticated', 'client_errors', 'server_errors',
  'input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens',
] as const;

const TOKENS = ['input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens'] as const;

/** Each counter's value for one event row `r`, its outcomes by HTTP status (as src/ui/usage.ts classifies them). */
function counterExprs(r: string, token: (name: string) => string): string[] {
  const when = (cond: string) => `CASE WHEN ${cond} THEN 1 ELSE 0 END`;
  return [
    '1',
    when(`${r}.status < 400`),
    when(`${r}.status = 429`),
    when(`${r}.status = 403`),
    when(`${r}.status = 401`),
    when(`${r}.status >= 400 AND ${r}.status < 500 AND ${r}.status NOT IN (401, 403, 429)`),
    when(`${r}.status >= 500`),
    ...TOKENS.map((t) => `COALESCE(${token(t)}, 0)`),
  ];
}

const KEY = 'scope, subject, hour, model';
const COLUMNS = `${KEY}, ${ROLLUP_COUNTERS.join(', ')}`;

/** The upsert's SET list: each counter plus the incoming one. */
function addExcluded(target: string): string {
  return ROLLUP_COUNTERS.map((c) => `${c} = ${target}${c} + excluded.${c}`).join(', ');
}

// ---------------------------------------------------------------------------------------- SQLite

const sqliteToken = (r: string) => (t: string) => `json_extract(${r}.body, '$.response.${t}')`;
const SQLITE_HOUR = (r: string) => `substr(${r}.ts, 1, 13)`;
/**
 * Events inserted but not yet summed into the rollup, by rowid. SQLite's triggers run once per
 * row, and an upsert per event doubled the writer's CPU (bench/usage-view.ts); so the insert
 * trigger only notes the row, and the writer sums the batch's rows in one grouped upsert before
 * its transaction commits (SQLITE_FOLD_PENDING_SUM). A row inserted by a writer that does not fold
 * (an older release, a hand-written INSERT) waits here until a later batch folds it; readers count
 * the pending rows from the events meanwhile, so they are never missed.
 */
const PENDING = 'event_usage_pending';
const NOT_PENDING = (r: string) => `NOT EXISTS (SELECT 1 FROM ${PENDING} WHERE event_rowid = ${r}.rowid)`;

/**
 * The fill of the rollup from the events stored before the migration (fillSqliteUsageRollup): the
 * rows with rowid from `next_rowid` to `last_rowid` are not summed yet. It goes by ranges of rowids,
 * each range summed and the cursor moved in one transaction, so that a fill stopped half-way (a
 * crash, a restart) goes on where it stopped. The triggers leave those rows alone (a deleted or
 * changed one is summed as it then is, or not at all). The rollup is read once the cursor has
 * passed `last_rowid` (USAGE_ROLLUP_FILLED); until then readers count from the events.
 */
export const USAGE_ROLLUP_FILL_TABLE = 'event_usage_fill';
const NOT_UNFILLED = (r: string) => `NOT EXISTS (SELECT 1 FROM ${USAGE_ROLLUP_FILL_TABLE} WHERE ${r}.rowid >= next_rowid AND ${r}.rowid <= last_rowid)`;

/**
 * One event row (OLD or NEW) added (+1) or taken away (-1), for its account and its organisation,
 * in one statement (SQLite's JSON cache then parses the body once, not once per scope).
 */
function sqliteApply(r: 'NEW' | 'OLD', sign: 1 | -1): string {
  const values = counterExprs(r, sqliteToken(r)).map((x) => (sign === 1 ? x : `-(${x})`));
  return `INSERT INTO ${USAGE_ROLLUP_TABLE} (${COLUMNS})
      SELECT k.scope, k.subject, ${SQLITE_HOUR(r)}, ${r}.model, ${values.join(', ')}
      FROM (SELECT 'account' AS scope, ${r}.account_id AS subject UNION ALL SELECT 'org', ${r}.org_id) k
      WHERE k.subject IS NOT NULL
      ON CONFLICT (${KEY}) DO UPDATE SET ${addExcluded('')};`;
}

/** The OLD row's buckets left with no request: deleted. */
function sqliteDropEmpty(): string {
  return `DELETE FROM ${USAGE_ROLLUP_TABLE} WHERE requests = 0 AND hour = ${SQLITE_HOUR('OLD')} AND model = OLD.model
      AND ((scope = 'account' AND subject = OLD.account_id) OR (scope = 'org' AND subject = OLD.org_id));`;
}

/**
 * The events of `from` (an events table alias `e`, joined as needed) summed into the rollup: first
 * per account, organisation, hour and model (each body read once), then those sums per scope.
 */
function sqliteSum(from: string): string {
  const sums = counterExprs('e', sqliteToken('e')).map((x, i) => `SUM(${x}) AS ${ROLLUP_COUNTERS[i]}`);
  return `INSERT INTO ${USAGE_ROLLUP_TABLE} (${COLUMNS})
     SELECT k.scope, CASE k.scope WHEN 'account' THEN a.account_id ELSE a.org_id END AS subject, a.h, a.model,
       ${ROLLUP_COUNTERS.map((c) => `SUM(a.${c})`).join(', ')}
     FROM (SELECT e.account_id, e.org_id, ${SQLITE_HOUR('e')} AS h, e.model, ${sums.join(', ')}
           FROM ${from} GROUP BY e.account_id, e.org_id, h, e.model) a
       JOIN (SELECT 'account' AS scope UNION ALL SELECT 'org') k
     WHERE subject IS NOT NULL
     GROUP BY k.scope, subject, a.h, a.model
     ON CONFLICT (${KEY}) DO UPDATE SET ${addExcluded('')};`;
}

/**
 * Pending rows of a backlog (inserted by something that does not fold) that one batch folds
 * besides its own: a backlog drains over the next batches, never in one long transaction of the
 * writer, which other writers of the file (on the gateway's thread) would wait for.
 */
export const FOLD_BACKLOG_ROWS = 1000;
/** The newest pending rows (the batch's own first), at most `?` of them. */
const NEWEST_PENDING = `SELECT event_rowid FROM ${PENDING} ORDER BY event_rowid DESC LIMIT ?`;

/**
 * Sum the batch's rows (and some backlog) into the rollup, then forget them: run by each event
 * batch before it commits, both with the same limit, the batch's length + FOLD_BACKLOG_ROWS.
 */
export const SQLITE_FOLD_PENDING_SUM = sqliteSum(`(${NEWEST_PENDING}) p JOIN events e ON e.rowid = p.event_rowid`);
export const SQLITE_FOLD_PENDING_FORGET = `DELETE FROM ${PENDING} WHERE event_rowid IN (${NEWEST_PENDING})`;

/** Readers add the pending rows to the rollup's (they are few; empty when every writer folds). */
export const USAGE_ROLLUP_PENDING_TABLE = PENDING;

/**
 * The writer's own rows, summed without reading their bodies back (sqliteEventInserter in
 * event-insert.ts): the writer has each event's tokens before it is serialised, so the batch's
 * buckets are summed in JavaScript and added by one upsert each. SQLITE_FOLD_PENDING_SUM parsed
 * every body again with json_extract and built two temporary B-trees per batch: the larger part of
 * the writer thread's CPU besides the inserts (bench/gateway-cost.ts, BENCHMARKS.md). The values
 * are those the fold reads: `rollupTokens` is what `json_extract(body, '$.response.<token>')` gives
 * for the stored body, absent or null as 0.
 */
export const SQLITE_ROLLUP_ADD = `INSERT INTO ${USAGE_ROLLUP_TABLE} (${COLUMNS}) VALUES (${[...KEY.split(', '), ...ROLLUP_COUNTERS].map(() => '?').join(', ')})
   ON CONFLICT (${KEY}) DO UPDATE SET ${addExcluded('')}`;
/** The pending rows of a range of rowids (a batch's own, inserted in this transaction and summed by SQLITE_ROLLUP_ADD): forgotten. */
export const SQLITE_FORGET_PENDING_RANGE = `DELETE FROM ${PENDING} WHERE event_rowid BETWEEN ? AND ?`;
export const SQLITE_FORGET_PENDING_ROW = `DELETE FROM ${PENDING} WHERE event_rowid = ?`;
/** Whether any pending row is left once the batch's own are forgotten: a backlog another writer left, folded by SQLITE_FOLD_PENDING_SUM. */
export const SQLITE_ANY_PENDING = `SELECT EXISTS (SELECT 1 FROM ${PENDING})`;

/** Tokens per event handed to the writer with its row, in the rollup's order (input, cached input, cache write, output, reasoning). */
export const ROLLUP_TOKEN_COUNT = TOKENS.length;

/**
 * An event's tokens as the rollup sums them, written into `out` from `at`: the number its stored
 * body holds (JSON.stringify writes a non-finite number as null), 0 where it has none.
 */
export function rollupTokens(response: object | null | undefined, out: number[], at: number): void {
  const r = response as Readonly<Record<string, unknown>> | null | undefined;
  for (let i = 0; i < TOKENS.length; i++) {
    const v = r?.[TOKENS[i]];
    out[at + i] = typeof v === 'number' && Number.isFinite(v) ? v : 0;
  }
}

/**
 * The rollup's counters of one event (ROLLUP_COUNTERS' order), its outcome by HTTP status as
 * counterExprs classifies it, and its tokens from `tokens` at `at`, added into `into`.
 */
export function addRollupCounters(into: number[], from: number, status: number, tokens: readonly number[], at: number): void {
  into[from] += 1;
  if (status < 400) into[from + 1] += 1;
  else if (status === 429) into[from + 2] += 1;
  else if (status === 403) into[from + 3] += 1;
  else if (status === 401) into[from + 4] += 1;
  else if (status < 500) into[from + 5] += 1;
  if (status >= 500) into[from + 6] += 1;
  for (let i = 0; i < TOKENS.length; i++) into[from + 7 + i] += tokens[at + i];
}

/**
 * The events schema's migration that adds the rollup and its triggers, and notes which stored
 * events are still to be summed into it (the fill, fillSqliteUsageRollup, after the migration).
 */
/** The fill's state (one row): the events from `next_rowid` to `last_rowid` are not summed yet. */
const SQLITE_FILL_TABLE = `CREATE TABLE ${USAGE_ROLLUP_FILL_TABLE} (
     id INTEGER PRIMARY KEY CHECK (id = 1), first_rowid INTEGER NOT NULL, next_rowid INTEGER NOT NULL, last_rowid INTEGER NOT NULL
   );`;
const SQLITE_CHANGE_TRIGGERS = `-- A deleted or changed row is taken out of the rollup unless it was still pending (then only
   -- forgotten, or folded as it now is) or not filled yet (then summed as it now is, or not at all).
   CREATE TRIGGER ${USAGE_ROLLUP_TABLE}_delete AFTER DELETE ON events BEGIN
     ${sqliteApply('OLD', -1).replace('WHERE k.subject IS NOT NULL', `WHERE k.subject IS NOT NULL AND ${NOT_PENDING('OLD')} AND ${NOT_UNFILLED('OLD')}`)}
     ${sqliteDropEmpty()}
     DELETE FROM ${PENDING} WHERE event_rowid = OLD.rowid;
   END;
   CREATE TRIGGER ${USAGE_ROLLUP_TABLE}_update AFTER UPDATE OF ts, account_id, org_id, model, status, body ON events WHEN ${NOT_PENDING('OLD')} AND ${NOT_UNFILLED('OLD')} BEGIN
     ${sqliteApply('OLD', -1)}
     ${sqliteApply('NEW', 1)}
     ${sqliteDropEmpty()}
   END;`;

export const SQLITE_USAGE_ROLLUP_MIGRATION: Migration = {
  sql: `CREATE TABLE ${USAGE_ROLLUP_TABLE} (
     scope TEXT NOT NULL, subject TEXT NOT NULL, hour TEXT NOT NULL, model TEXT NOT NULL,
     ${ROLLUP_COUNTERS.map((c) => `${c} INTEGER NOT NULL`).join(', ')},
     PRIMARY KEY (${KEY})
   ) WITHOUT ROWID;
   CREATE TABLE ${PENDING} (event_rowid INTEGER PRIMARY KEY);
   ${SQLITE_FILL_TABLE}
   INSERT INTO ${USAGE_ROLLUP_FILL_TABLE} (id, first_rowid, next_rowid, last_rowid) SELECT 1, COALESCE(MIN(rowid), 1), COALESCE(MIN(rowid), 1), COALESCE(MAX(rowid), 0) FROM events;
   CREATE TRIGGER ${USAGE_ROLLUP_TABLE}_insert AFTER INSERT ON events BEGIN
     INSERT OR IGNORE INTO ${PENDING} (event_rowid) VALUES (NEW.rowid);
   END;
${SQLITE_CHANGE_TRIGGERS}`,
  // Older releases neither read the table nor fold it: the rows they insert wait as pending (read from the events), folded by this release's next batches.
  compatible: true,
};

/**
 * Version 3 brings a database migrated by the first version 2 (on main from 2026-12-07, which
 * filled the rollup inside its migration and had no fill state) to the tables and triggers of the
 * version 2 above; on a database migrated by the version 2 above it changes nothing. The first
 * version 2 left the rollup whole, so its fill is recorded as done.
 */
export const SQLITE_USAGE_ROLLUP_V3_MIGRATION: Migration = {
  sql: `${SQLITE_FILL_TABLE.replace('CREATE TABLE', 'CREATE TABLE IF NOT EXISTS')}
   INSERT OR IGNORE INTO ${USAGE_ROLLUP_FILL_TABLE} (id, first_rowid, next_rowid, last_rowid) VALUES (1, 1, 1, 0);
   DROP TRIGGER IF EXISTS ${USAGE_ROLLUP_TABLE}_delete;
   DROP TRIGGER IF EXISTS ${USAGE_ROLLUP_TABLE}_update;
   ${SQLITE_CHANGE_TRIGGERS}`,
  // The insert trigger and the rollup are as before: a node of the previous release reads and folds as it did.
  compatible: true,
};

/**
 * Sum into the rollup the events stored before its migration, a range of rowids per transaction
 * (the cursor moved in the same one: a fill stopped half-way goes on from there at the next
 * start, and two processes opening the file at once share the ranges), with progress lines.
 */
export function fillSqliteUsageRollup(db: SqliteDb, opts: RollupFillOptions = {}): void {
  const state = db.prepare(`SELECT first_rowid AS first, next_rowid AS next, last_rowid AS last FROM ${USAGE_ROLLUP_FILL_TABLE} WHERE id = 1`);
  const at = state.get() as { first: number; next: number; last: number } | undefined;
  if (!at || at.next > at.last) return;
  const size = opts.chunkRows ?? FILL_CHUNK_ROWS;
  // Rows still pending (a rowid reused after the newest row was deleted) are the fold's to sum, not the fill's.
  const sum = db.prepare(sqliteSum(`events e WHERE e.rowid >= ? AND e.rowid <= ? AND ${NOT_PENDING('e')}`));
  const move = db.prepare(`UPDATE ${USAGE_ROLLUP_FILL_TABLE} SET next_rowid = ? WHERE id = 1`);
  const chunk = db.transaction(() => {
    const c = state.get() as { first: number; next: number; last: number };
    if (c.next > c.last) return c;
    const upto = Math.min(c.last, c.next + size - 1);
    sum.run(c.next, upto);
    move.run(upto + 1);
    return { ...c, next: upto + 1 };
  });
  const progress = fillProgress(opts, 'rows', at.last - at.first + 1, at.next - at.first);
  for (;;) {
    const c = chunk.immediate();
    const finished = c.next > c.last;
    progress(c.next - c.first, finished);
    if (finished) return;
    opts.afterChunk?.();
  }
}

// ------------------------------------------------------------------------------------------ fill

/** How the fill of the rollup from the events already stored reports and cuts its work. */
export interface RollupFillOptions {
  /** Progress lines (the start-up log): at the start, every `progressEveryMs`, at the end. */
  log?: (line: string) => void;
  /** ms between progress lines; 0 for one per chunk. Default FILL_PROGRESS_MS. */
  progressEveryMs?: number;
  /** SQLite: events (rowids) per transaction. Default FILL_CHUNK_ROWS. */
  chunkRows?: number;
  /** PostgreSQL: events aimed at per transaction (its span of hours adapts to the traffic). Default FILL_CHUNK_EVENTS. */
  chunkEvents?: number;
  /** Run after each committed chunk (a test stops the fill there, as a crash would). */
  afterChunk?: () => void;
}

/** SQLite rows per fill transaction: about a second of CPU each (27 CPU-s per million in BENCHMARKS.md), so other writers of the file get their turn. */
export const FILL_CHUNK_ROWS = 50_000;
/** PostgreSQL events aimed at per fill transaction: the inserts of every node wait for the chunk under way. */
export const FILL_CHUNK_EVENTS = 50_000;
export const FILL_PROGRESS_MS = 10_000;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
function duration(s: number): string {
  if (s < 90) return `${Math.max(1, Math.round(s))} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/**
 * The fill's progress lines: `done` of `total` units (SQLite: rows by rowid; PostgreSQL: hours of
 * the events' time span), the share, the rate since this start and the time left at that rate.
 */
function fillProgress(opts: RollupFillOptions, unit: 'rows' | 'hours', total: number, startedAt: number, events?: () => number): (done: number, finished: boolean) => void {
  const log = opts.log;
  const every = opts.progressEveryMs ?? FILL_PROGRESS_MS;
  const t0 = performance.now();
  let last = t0;
  const what = unit === 'rows' ? `${fmt(total)} stored events` : `the stored events (${fmt(total)} hours from the first to the last)`;
  log?.(`events: filling the usage rollup (${USAGE_ROLLUP_TABLE}) from ${what}${startedAt > 0 ? `, resuming at ${(100 * startedAt / total).toFixed(1)}%` : ''}; an interrupted fill goes on from where it stopped at the next start`);
  return (done, finished) => {
    if (!log) return;
    const now = performance.now();
    const seconds = (now - t0) / 1000;
    const counted = events ? `, ${fmt(events())} events` : '';
    if (finished) {
      log(`events: usage rollup filled: ${fmt(done - startedAt)} ${unit}${counted} in ${seconds.toFixed(1)} s`);
      return;
    }
    if (now - last < every) return;
    last = now;
    const rate = (done - startedAt) / Math.max(seconds, 1e-3);
    const left = rate > 0 ? ` at ${fmt(rate)} ${unit}/s, about ${duration((total - done) / rate)} left` : '';
    log(`events: filling the usage rollup: ${(100 * done / total).toFixed(1)}% (${fmt(done)} of ${fmt(total)} ${unit}${counted})${left}`);
  };
}

// ------------------------------------------------------------------------------------ PostgreSQL

const pgToken = (r: string) => (t: string) => `CAST(${r}.body->'response'->>'${t}' AS BIGINT)`;
/** The UTC hour of `ts`: date_trunc alone would cut in the session's time zone (a +05:30 zone shifts it). */
const PG_HOUR = (r: string) => `(date_trunc('hour', ${r}.ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')`;
const PG_SCOPES = (r: string) => `CROSS JOIN LATERAL (VALUES ('account', ${r}.account_id), ('org', ${r}.org_id)) AS k(scope, subject)`;

/**
 * Counts not yet added to `event_usage_hourly`, one row per statement on `events` and bucket. The
 * triggers append here instead of updating the rollup's rows: a busy organisation's current hour
 * is one row of the rollup, and when every insert of every node updated it, each insert waited
 * for the one before it to commit (its row lock), so the nodes' writers ran one at a time
 * (bench/usage-rollup-pg.ts: 4 writers waited for that lock in 15-34% of samples, 8 in 38-57%). Appends
 * take no lock another writer waits for. The deltas are folded into the rollup in batches
 * (foldPostgresUsageDeltas: by each node's event store after its writes, and by retention);
 * readers add the deltas of their subject to the rollup's rows, in the same statement.
 */
export const USAGE_ROLLUP_DELTA_TABLE = 'event_usage_delta';

/**
 * The fill of the rollup from the events stored before the migration (fillPostgresUsageRollup):
 * the hours from `next_hour` to `end_hour` (exclusive) are not summed yet. The triggers leave the
 * rows of those hours alone (the fill sums each hour as it then is); while a fill is under way
 * they read the cursor with a share lock, which each chunk of the fill takes exclusively: so an
 * insert commits either before a chunk sums its hours (and is summed by it) or after the chunk
 * moved the cursor past them (and is counted by its trigger).
 */
function pgCursorCheck(): string {
  return `SELECT next_hour, end_hour INTO f_next, f_end FROM ${USAGE_ROLLUP_FILL_TABLE} WHERE id = 1;
     IF f_next < f_end THEN
       SELECT next_hour, end_hour INTO f_next, f_end FROM ${USAGE_ROLLUP_FILL_TABLE} WHERE id = 1 FOR SHARE;
     END IF;`;
}
const PG_FILLED = (r: string) => `NOT COALESCE(${PG_HOUR(r)} >= f_next AND ${PG_HOUR(r)} < f_end, false)`;

/** The rows of `source` (event rows with a `sign` column, +1 or -1) appended as deltas, one row per bucket, those of hours not filled yet left out. */
function pgAppendDelta(source: string): string {
  return `INSERT INTO ${USAGE_ROLLUP_DELTA_TABLE} (${COLUMNS})
      SELECT k.scope, k.subject, ${PG_HOUR('e')} AS h, e.model, ${counterExprs('e', pgToken('e')).map((x) => `SUM(e.sign * ${x})`).join(', ')}
      FROM ${source} e ${PG_SCOPES('e')}
      WHERE k.subject IS NOT NULL AND ${PG_FILLED('e')}
      GROUP BY k.scope, k.subject, h, e.model;`;
}

const pgFunction = (name: string, body: string) => `CREATE OR REPLACE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $fn$
   DECLARE f_next TIMESTAMPTZ; f_end TIMESTAMPTZ;
   BEGIN
     ${pgCursorCheck()}
     ${body}
     RETURN NULL;
   END $fn$;`;

/** The deltas the triggers append, and the fill's state (one row: the hours still to sum). */
const PG_DELTA_AND_FILL_TABLES = `CREATE TABLE IF NOT EXISTS ${USAGE_ROLLUP_DELTA_TABLE} (
     id BIGSERIAL PRIMARY KEY,
     scope TEXT NOT NULL, subject TEXT NOT NULL, hour TIMESTAMPTZ NOT NULL, model TEXT NOT NULL,
     ${ROLLUP_COUNTERS.map((c) => `${c} BIGINT NOT NULL`).join(', ')}
   );
   CREATE INDEX IF NOT EXISTS ${USAGE_ROLLUP_DELTA_TABLE}_subject ON ${USAGE_ROLLUP_DELTA_TABLE} (scope, subject, hour);
   CREATE TABLE IF NOT EXISTS ${USAGE_ROLLUP_FILL_TABLE} (
     id INTEGER PRIMARY KEY CHECK (id = 1), first_hour TIMESTAMPTZ, next_hour TIMESTAMPTZ, end_hour TIMESTAMPTZ
   );`;
/** What the statement triggers run: append the batch's sums to the deltas. */
const PG_TRIGGER_FUNCTIONS = `${pgFunction(`${USAGE_ROLLUP_TABLE}_on_insert`, pgAppendDelta('(SELECT n.*, 1 AS sign FROM new_rows n)'))}
   ${pgFunction(`${USAGE_ROLLUP_TABLE}_on_delete`, pgAppendDelta('(SELECT o.*, -1 AS sign FROM old_rows o)'))}
   ${pgFunction(`${USAGE_ROLLUP_TABLE}_on_update`, pgAppendDelta('(SELECT n.*, 1 AS sign FROM new_rows n UNION ALL SELECT o.*, -1 AS sign FROM old_rows o)'))}`;

export const PG_USAGE_ROLLUP_MIGRATION: Migration = {
  sql: `CREATE TABLE IF NOT EXISTS ${USAGE_ROLLUP_TABLE} (
     scope TEXT NOT NULL, subject TEXT NOT NULL, hour TIMESTAMPTZ NOT NULL, model TEXT NOT NULL,
     ${ROLLUP_COUNTERS.map((c) => `${c} BIGINT NOT NULL`).join(', ')},
     PRIMARY KEY (${KEY})
   );
${PG_DELTA_AND_FILL_TABLES}
${PG_TRIGGER_FUNCTIONS}
   -- Statement triggers with transition tables: one grouped append per INSERT of a batch, not one per event.
   CREATE TRIGGER ${USAGE_ROLLUP_TABLE}_insert AFTER INSERT ON events REFERENCING NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE PROCEDURE ${USAGE_ROLLUP_TABLE}_on_insert();
   CREATE TRIGGER ${USAGE_ROLLUP_TABLE}_delete AFTER DELETE ON events REFERENCING OLD TABLE AS old_rows
     FOR EACH STATEMENT EXECUTE PROCEDURE ${USAGE_ROLLUP_TABLE}_on_delete();
   CREATE TRIGGER ${USAGE_ROLLUP_TABLE}_update AFTER UPDATE ON events REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE PROCEDURE ${USAGE_ROLLUP_TABLE}_on_update();
   -- The hours the stored events span, to fill after the migration (fillPostgresUsageRollup). The
   -- triggers hold their lock on events until this transaction ends: every row stored before them
   -- falls in these hours.
   INSERT INTO ${USAGE_ROLLUP_FILL_TABLE} (id, first_hour, next_hour, end_hour)
     SELECT 1, ${PG_HOUR('lo')}, ${PG_HOUR('lo')}, ${PG_HOUR('hi')} + INTERVAL '1 hour'
     FROM (SELECT MIN(ts) AS ts FROM events) lo, (SELECT MAX(ts) AS ts FROM events) hi;`,
  compatible: true,
};

/** Version 3 on PostgreSQL: as SQLITE_USAGE_ROLLUP_V3_MIGRATION (the first version 2 upserted the rollup from its triggers). */
export const PG_USAGE_ROLLUP_V3_MIGRATION: Migration = {
  sql: `${PG_DELTA_AND_FILL_TABLES}
   INSERT INTO ${USAGE_ROLLUP_FILL_TABLE} (id, first_hour, next_hour, end_hour) VALUES (1, NULL, NULL, NULL) ON CONFLICT (id) DO NOTHING;
   ${PG_TRIGGER_FUNCTIONS}`,
  // A node of the previous release reads the rollup without the deltas not yet folded: its answers lag by up to one fold (seconds) until it is upgraded.
  compatible: true,
};

/** Whether the fill is done: readers use the rollup then, and count from the events before. */
export const PG_USAGE_ROLLUP_FILLED = `SELECT 1 AS filled FROM ${USAGE_ROLLUP_FILL_TABLE} WHERE id = 1 AND (next_hour IS NULL OR next_hour >= end_hour)`;
export const SQLITE_USAGE_ROLLUP_FILLED = `SELECT 1 AS filled FROM ${USAGE_ROLLUP_FILL_TABLE} WHERE id = 1 AND next_rowid > last_rowid`;

/** Delta rows folded per transaction. */
export const FOLD_DELTA_ROWS = 20_000;

/**
 * Fold the oldest deltas into the rollup, FOLD_DELTA_ROWS per transaction, until none is left (or
 * `maxRounds` transactions ran); returns how many delta rows were folded. Two nodes folding at
 * once take different rows (a row deleted by the other's fold is skipped), and lock the rollup's
 * rows in key order (no deadlock). Buckets left with no request are deleted.
 */
export async function foldPostgresUsageDeltas(pool: PgPool, maxRounds = Infinity): Promise<number> {
  let folded = 0;
  for (let round = 0; round < maxRounds; round++) {
    const n = await inTransaction(pool, async (client) => {
      const { rows } = await client.query(
        `WITH moved AS (
           DELETE FROM ${USAGE_ROLLUP_DELTA_TABLE} WHERE id IN (SELECT id FROM ${USAGE_ROLLUP_DELTA_TABLE} ORDER BY id LIMIT $1) RETURNING *
         ), summed AS (
           SELECT ${KEY}, ${ROLLUP_COUNTERS.map((c) => `SUM(${c}) AS ${c}`).join(', ')}, COUNT(*) AS deltas FROM moved GROUP BY ${KEY}
         ), upserted AS (
           INSERT INTO ${USAGE_ROLLUP_TABLE} AS u (${COLUMNS}) SELECT ${COLUMNS} FROM summed ORDER BY ${KEY}
           ON CONFLICT (${KEY}) DO UPDATE SET ${addExcluded('u.')}
           RETURNING u.scope, u.subject, u.hour, u.model, u.requests
         )
         SELECT (SELECT COALESCE(SUM(deltas), 0) FROM summed)::int AS deltas,
           (SELECT json_agg(json_build_array(scope, subject, hour, model)) FROM upserted WHERE requests = 0) AS empty`,
        [FOLD_DELTA_ROWS],
      );
      const empty = (rows[0].empty ?? []) as [string, string, string, string][];
      if (empty.length) {
        await client.query(
          `DELETE FROM ${USAGE_ROLLUP_TABLE} u USING (SELECT * FROM json_to_recordset($1::json) AS x(scope TEXT, subject TEXT, hour TIMESTAMPTZ, model TEXT)) d
           WHERE u.requests = 0 AND u.scope = d.scope AND u.subject = d.subject AND u.hour = d.hour AND u.model = d.model`,
          [JSON.stringify(empty.map(([scope, subject, hour, model]) => ({ scope, subject, hour, model })))],
        );
      }
      return Number(rows[0].deltas);
    });
    folded += n;
    if (n < FOLD_DELTA_ROWS) break;
  }
  return folded;
}

/**
 * Sum into the rollup the events stored before its migration, a span of hours per transaction
 * (the span adapts so that each holds about `chunkEvents` events; the cursor moves in the same
 * transaction: a fill stopped half-way goes on from there at the next start, and nodes starting
 * together share the spans), with progress lines. Inserts of the hours not filled yet wait for the
 * chunk under way (its lock on the cursor), a second or so.
 */
export async function fillPostgresUsageRollup(pool: PgPool, opts: RollupFillOptions = {}): Promise<void> {
  const HOUR = 3_600_000;
  const { rows: [at] } = await pool.query(`SELECT first_hour AS first, next_hour AS next, end_hour AS "end" FROM ${USAGE_ROLLUP_FILL_TABLE} WHERE id = 1`);
  if (!at || at.next === null || at.next >= at.end) return;
  const hours = (d: Date) => Math.round((d.getTime() - (at.first as Date).getTime()) / HOUR);
  let events = 0;
  const progress = fillProgress(opts, 'hours', hours(at.end), hours(at.next), () => events);
  const target = opts.chunkEvents ?? FILL_CHUNK_EVENTS;
  let span = 1;
  const sums = counterExprs('e', pgToken('e')).map((x, i) => `SUM(${x}) AS ${ROLLUP_COUNTERS[i]}`);
  for (;;) {
    const step = await inTransaction(pool, async (client) => {
      const { rows: [c] } = await client.query(timed(`SELECT next_hour, end_hour FROM ${USAGE_ROLLUP_FILL_TABLE} WHERE id = 1 FOR UPDATE`, [], PG_TIMEOUTS_MS.migrate));
      if (c.next_hour === null || c.next_hour >= c.end_hour) return { next: c.end_hour as Date, end: c.end_hour as Date, n: 0 };
      const upto = new Date(Math.min((c.next_hour as Date).getTime() + span * HOUR, (c.end_hour as Date).getTime()));
      const { rows: [r] } = await client.query(timed(
        `WITH a AS (
           SELECT e.account_id, e.org_id, ${PG_HOUR('e')} AS h, e.model, ${sums.join(', ')}
           FROM events e WHERE e.ts >= $1 AND e.ts < $2 GROUP BY e.account_id, e.org_id, h, e.model
         ), ins AS (
           INSERT INTO ${USAGE_ROLLUP_TABLE} AS u (${COLUMNS})
           SELECT k.scope, k.subject, a.h, a.model, ${ROLLUP_COUNTERS.map((x) => `SUM(a.${x})`).join(', ')}
           FROM a ${PG_SCOPES('a')}
           WHERE k.subject IS NOT NULL GROUP BY k.scope, k.subject, a.h, a.model ORDER BY k.scope, k.subject, a.h, a.model
           ON CONFLICT (${KEY}) DO UPDATE SET ${addExcluded('u.')}
           RETURNING 1
         )
         SELECT (SELECT COALESCE(SUM(requests), 0) FROM a)::bigint AS n, (SELECT COUNT(*) FROM ins) AS buckets`,
        // A migration's time bound: one hour of a busy deployment may hold millions of events.
        [c.next_hour, upto], PG_TIMEOUTS_MS.migrate,
      ));
      await client.query(`UPDATE ${USAGE_ROLLUP_FILL_TABLE} SET next_hour = $1 WHERE id = 1`, [upto]);
      return { next: upto, end: c.end_hour as Date, n: Number(r.n), spanned: span };
    });
    events += step.n;
    // The next span: about `target` events at this chunk's density, from one hour to 31 days.
    span = Math.max(1, Math.min(31 * 24, Math.round(span * (step.n > 0 ? target / step.n : 4))));
    const finished = step.next >= step.end;
    progress(hours(step.next), finished);
    if (finished) return;
    opts.afterChunk?.();
  }
}
