/**
 * store: database connections and migrations. The embedded default is one SQLite file (WAL);
 * PostgreSQL is the server implementation for many nodes. Each capability (identity, events,
 * ledger, cases...) defines its own small repository interface with one implementation per
 * backend, built on the helpers here. Imports `events` (the event store's rows) and nothing else
 * from Warden.
 */
export { openSqlite, migrateSqlite, truncateWal, type SqliteDb } from './sqlite.ts';
export { openPostgres, migratePostgres, inTransaction, timed, postgresUrlForDisplay, isPostgresUnavailable, PG_TIMEOUTS_MS, type PgPool } from './postgres.ts';
export { type EventStore, type EventQuery, SqliteEventStore, PostgresEventStore } from './events.ts';
export { type OpenedInteraction, type InteractionProgress, type OpenWrites, type StoredOpenInteraction } from './open-interactions.ts';
export { NodeIdInUseError, type NodeHold, type NodeHoldOptions } from './node-lease.ts';
export { mergeAccountEvents, ACCOUNT_MERGE_BOUNDS, type AccountEventReads, type AccountMergeBounds, type EventKey } from './account-events.ts';
export { type EventRowReader, type StoredEventRow, SqliteEventRows, PostgresEventRows, NoEventStoreError } from './event-rows.ts';
export {
  USAGE_ROLLUP_TABLE, USAGE_ROLLUP_PENDING_TABLE, USAGE_ROLLUP_DELTA_TABLE, USAGE_ROLLUP_FILL_TABLE, SQLITE_USAGE_ROLLUP_FILLED, PG_USAGE_ROLLUP_FILLED,
  ROLLUP_COUNTERS, FOLD_BACKLOG_ROWS, type RollupFillOptions,
} from './usage-rollup.ts';
export { SchemaTooNewError, type Migration } from './schema-version.ts';
export { watchClockOffset, postgresClockMs, CLOCK_SKEW_WARN_S, type ClockOffsetWatch, type ClockLine } from './clock-offset.ts';
