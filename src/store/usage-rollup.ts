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
 * triggers run once per statement (a batch's INSERT: one grouped upsert); on SQLite, where they
 * run once per row, an insert is noted as pending and the batch sums its rows before it commits
 * (SQLITE_FOLD_PENDING_SUM). A bucket whose requests fall to zero is deleted, so that the table holds
 * no more than the events do.
 *
 * Counted as the dashboard's `usage_rows` counts (src/ui/usage.ts): outcomes by the `status` column,
 * tokens from the body's `response`, absent ones as 0. The hour on SQLite is the first 13
 * characters of `ts` (`2026-12-05T14`; the recorder writes ts in UTC, ISO 8601), on PostgreSQL the
 * timestamp cut to its UTC hour (whatever the session's time zone).
 */
import type { Migration } from './schema-version.ts';

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

/** The events schema's migration that adds the rollup, its triggers, and fills it from the events already stored. */
export const SQLITE_USAGE_ROLLUP_MIGRATION: Migration = {
  sql: `CREATE TABLE ${USAGE_ROLLUP_TABLE} (
     scope TEXT NOT NULL, subject TEXT NOT NULL, hour TEXT NOT NULL, model TEXT NOT NULL,
     ${ROLLUP_COUNTERS.map((c) => `${c} INTEGER NOT NULL`).join(', ')},
     PRIMARY KEY (${KEY})
   ) WITHOUT ROWID;
   CREATE TABLE ${PENDING} (event_rowid INTEGER PRIMARY KEY);
   CREATE TRIGGER ${USAGE_ROLLUP_TABLE}_insert AFTER INSERT ON events BEGIN
     INSERT OR IGNORE INTO ${PENDING} (event_rowid) VALUES (NEW.rowid);
   END;
   -- A deleted or changed row is taken out of the rollup unless it was still pending (then only forgotten, or folded as it now is).
   CREATE TRIGGER ${USAGE_ROLLUP_TABLE}_delete AFTER DELETE ON events BEGIN
     ${sqliteApply('OLD', -1).replace('WHERE k.subject IS NOT NULL', `WHERE k.subject IS NOT NULL AND ${NOT_PENDING('OLD')}`)}
     ${sqliteDropEmpty()}
     DELETE FROM ${PENDING} WHERE event_rowid = OLD.rowid;
   END;
   CREATE TRIGGER ${USAGE_ROLLUP_TABLE}_update AFTER UPDATE OF ts, account_id, org_id, model, status, body ON events WHEN ${NOT_PENDING('OLD')} BEGIN
     ${sqliteApply('OLD', -1)}
     ${sqliteApply('NEW', 1)}
     ${sqliteDropEmpty()}
   END;
   ${sqliteSum('events e')}`,
  // Older releases neither read the table nor fold it: the rows they insert wait as pending (read from the events), folded by this release's next batches.
  compatible: true,
};

// ------------------------------------------------------------------------------------ PostgreSQL

const pgToken = (r: string) => (t: string) => `CAST(${r}.body->'response'->>'${t}' AS BIGINT)`;
/** The UTC hour of `ts`: date_trunc alone would cut in the session's time zone (a +05:30 zone shifts it). */
const PG_HOUR = (r: string) => `(date_trunc('hour', ${r}.ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')`;
const PG_SCOPES = (r: string) => `CROSS JOIN LATERAL (VALUES ('account', ${r}.account_id), ('org', ${r}.org_id)) AS k(scope, subject)`;

/**
 * The rows of `source` (event rows with a `sign` column, +1 or -1) summed into the rollup: one
 * statement, grouped so that each bucket is touched once, in key order, so that two nodes' batches
 * lock the rows they share in the same order (no deadlock between them).
 */
function pgApply(source: string): string {
  return `INSERT INTO ${USAGE_ROLLUP_TABLE} AS u (${COLUMNS})
      SELECT k.scope, k.subject, ${PG_HOUR('e')} AS h, e.model, ${counterExprs('e', pgToken('e')).map((x) => `SUM(e.sign * ${x})`).join(', ')}
      FROM ${source} e ${PG_SCOPES('e')}
      WHERE k.subject IS NOT NULL
      GROUP BY k.scope, k.subject, h, e.model
      ORDER BY k.scope, k.subject, h, e.model
      ON CONFLICT (${KEY}) DO UPDATE SET ${addExcluded('u.')};`;
}

function pgDropEmpty(): string {
  return `DELETE FROM ${USAGE_ROLLUP_TABLE} u USING (SELECT DISTINCT k.scope, k.subject, ${PG_HOUR('o')} AS hour, o.model FROM old_rows o ${PG_SCOPES('o')} WHERE k.subject IS NOT NULL) d
      WHERE u.requests = 0 AND u.scope = d.scope AND u.subject = d.subject AND u.hour = d.hour AND u.model = d.model;`;
}

const pgFunction = (name: string, body: string) => `CREATE OR REPLACE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $fn$
   BEGIN
     ${body}
     RETURN NULL;
   END $fn$;`;

export const PG_USAGE_ROLLUP_MIGRATION: Migration = {
  sql: `CREATE TABLE IF NOT EXISTS ${USAGE_ROLLUP_TABLE} (
     scope TEXT NOT NULL, subject TEXT NOT NULL, hour TIMESTAMPTZ NOT NULL, model TEXT NOT NULL,
     ${ROLLUP_COUNTERS.map((c) => `${c} BIGINT NOT NULL`).join(', ')},
     PRIMARY KEY (${KEY})
   );
   ${pgFunction(`${USAGE_ROLLUP_TABLE}_on_insert`, pgApply('(SELECT n.*, 1 AS sign FROM new_rows n)'))}
   ${pgFunction(`${USAGE_ROLLUP_TABLE}_on_delete`, `${pgApply('(SELECT o.*, -1 AS sign FROM old_rows o)')}
     ${pgDropEmpty()}`)}
   ${pgFunction(`${USAGE_ROLLUP_TABLE}_on_update`, `${pgApply('(SELECT n.*, 1 AS sign FROM new_rows n UNION ALL SELECT o.*, -1 AS sign FROM old_rows o)')}
     ${pgDropEmpty()}`)}
   -- Statement triggers with transition tables: one grouped upsert per INSERT of a batch, not one per event.
   CREATE TRIGGER ${USAGE_ROLLUP_TABLE}_insert AFTER INSERT ON events REFERENCING NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE PROCEDURE ${USAGE_ROLLUP_TABLE}_on_insert();
   CREATE TRIGGER ${USAGE_ROLLUP_TABLE}_delete AFTER DELETE ON events REFERENCING OLD TABLE AS old_rows
     FOR EACH STATEMENT EXECUTE PROCEDURE ${USAGE_ROLLUP_TABLE}_on_delete();
   CREATE TRIGGER ${USAGE_ROLLUP_TABLE}_update AFTER UPDATE ON events REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE PROCEDURE ${USAGE_ROLLUP_TABLE}_on_update();
   -- The triggers hold their lock on events until this transaction ends: no insert falls between the fill and them.
   ${pgApply('(SELECT ev.*, 1 AS sign FROM events ev)')}`,
  compatible: true,
};
