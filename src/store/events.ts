import { erasePersonalData, ERASED_CLIENT_IP, type InteractionEvent } from '../events/index.ts';
import { migrateSqlite, truncateWal, withoutBusyWait, type SqliteDb } from './sqlite.ts';
import { migratePostgres, type PgPool } from './postgres.ts';
import { EventWriterThread, eventRow } from './event-writer.ts';
import { sqliteEventInserter, type EventRow, type SqliteEventInsert } from './event-insert.ts';
import {
  SQLITE_OPEN_INTERACTIONS_MIGRATION, PG_OPEN_INTERACTIONS_MIGRATION, SQLITE_OPEN_NOTES_MIGRATION, PG_OPEN_NOTES_MIGRATION, OPEN_COLUMNS, OPEN_CLAIM_LAPSE_MS, openBatch, storedOpen,
  type OpenWrites, type StoredOpenInteraction, type StoredOpenRow,
} from './open-interactions.ts';
import { mergeAccountEvents, type EventKey } from './account-events.ts';
import { holdPostgresNode, type NodeHold, type NodeHoldOptions } from './node-lease.ts';
import {
  SQLITE_USAGE_ROLLUP_MIGRATION, PG_USAGE_ROLLUP_MIGRATION, SQLITE_USAGE_ROLLUP_V3_MIGRATION, PG_USAGE_ROLLUP_V3_MIGRATION, ROLLUP_TOKEN_COUNT, rollupTokens,
  fillSqliteUsageRollup, fillPostgresUsageRollup, foldPostgresUsageDeltas, type RollupFillOptions,
} from './usage-rollup.ts';

/** Filters for reading events back; every field optional, times are ISO 8601. */
export interface EventQuery {
  from?: string;
  to?: string;
  accountId?: string;
  orgId?: string;
  keyId?: string;
  model?: string;
  clientIp?: string;
  /** Only events with id greater than this (for paging/tailing). */
  afterId?: string;
  limit?: number;
}

/** Where interaction events are kept. Writes come in batches from the recorder. */
export interface EventStore {
  /**
   * Write a batch of events; with `open`, the open records and checkpoints of streams under way
   * first (open-interactions.ts). A streamed event removes its interaction's open record in the
   * same write.
   */
  appendBatch(events: readonly InteractionEvent[], open?: OpenWrites): Promise<void>;
  /**
   * The open interactions a killed node left, for `node` to record (as interrupted) at its start:
   * its own, and those of any node begun before `abandonedBefore` (no stream lasts that long),
   * claimed so that one node only takes each. Those whose event is stored already are removed, not
   * returned. On SQLite (one server per file) every node's are its own. Absent: the store keeps none.
   */
  takeOpenInteractions?(node: string, abandonedBefore: string): Promise<StoredOpenInteraction[]>;
  /**
   * Hold `node` (`server.node_id`) as this process's name among the nodes sharing the store, for as
   * long as it runs (node-lease.ts): refused (NodeIdInUseError) while another live node holds it.
   * Absent where one server holds the store (SQLite: serve-lock.ts).
   */
  holdNode?(node: string, opts: NodeHoldOptions): Promise<NodeHold>;
  /**
   * Events streamed in pages so memory stays bounded: in time order (ts, then id) when filtered,
   * in id order when not or when paging by id (`afterId`).
   */
  iterate(query?: EventQuery): AsyncGenerator<InteractionEvent>;
  /**
   * The events of these accounts (a cluster's, a case's) that match `query`'s other filters, merged
   * in time order (ts, then id); `limit` bounds the total. Memory and reads at once are bounded
   * whatever the number of accounts or events (account-events.ts); not for paging by id (`afterId`).
   */
  iterateAccounts(accountIds: readonly string[], query?: EventQuery): AsyncGenerator<InteractionEvent>;
  count(query?: EventQuery): Promise<number>;
  /**
   * Erase the personal data of one account's events (erasePersonalData: IP, user agent, prompt
   * text, account facts); returns how many events were changed (those erased before are not).
   */
  eraseAccount(accountId: string, at?: string): Promise<number>;
  /** Delete the events recorded before `before` (ISO 8601; retention); returns how many. */
  deleteBefore(before: string): Promise<number>;
  close(): Promise<void>;
}

/** Rows changed per statement (erase, retention): short transactions, so the writers keep going between them. */
const ERASE_CHUNK = 1000;
/** Yield to the event loop between chunks (retention runs inside `warden serve`). */
const nextTick = () => new Promise<void>((r) => setImmediate(r));
/** Events per retention DELETE: a few milliseconds of the main thread each. */
const RETENTION_CHUNK = 250;

export const SQLITE_EVENT_MIGRATIONS = [
  `CREATE TABLE events (
     id TEXT PRIMARY KEY,
     ts TEXT NOT NULL,
     account_id TEXT, org_id TEXT, key_id TEXT,
     model TEXT NOT NULL, client_ip TEXT NOT NULL, status INTEGER NOT NULL,
     body TEXT NOT NULL
   );
   CREATE INDEX events_ts ON events (ts);
   CREATE INDEX events_account ON events (account_id, ts);
   CREATE INDEX events_org ON events (org_id, ts);
   CREATE INDEX events_ip ON events (client_ip, ts);`,
  // Per account and organisation, hour and model: a customer's usage read without visiting each event (usage-rollup.ts).
  SQLITE_USAGE_ROLLUP_MIGRATION,
  // A database the first version 2 migrated brought to the tables and triggers of the version 2 above (a no-op otherwise).
  SQLITE_USAGE_ROLLUP_V3_MIGRATION,
  // Streams under way, so that one cut by a killed node is recorded at the next start (open-interactions.ts).
  SQLITE_OPEN_INTERACTIONS_MIGRATION,
  // What the hooks keep with an open record (the limits' reservation, charged at recovery).
  SQLITE_OPEN_NOTES_MIGRATION,
];

/** Where the next page starts: after this event, in (ts, id) order. */
interface TimeCursor { ts: unknown; id: string }

/**
 * One page's query. A filtered read goes in (ts, id) order with a cursor on both, so that each page
 * is a range of the time (or account, org, IP) index: ordered by id, the database sorted the whole
 * filtered range again for every page of 1,000, and a read of 73,000 events by time took 10 s
 * instead of 0.8 (a replay at start, a case's window). Unfiltered reads, and callers that page by
 * id themselves (`afterId`), keep id order, the primary key's.
 */
function pageQuery(q: EventQuery, cursor: TimeCursor | null, n: number, placeholder: (i: number) => string, columns = 'id, ts, body'): { sql: string; args: unknown[]; byTime: boolean } {
  const byTime = !q.afterId && !!(q.from || q.to || q.accountId || q.orgId || q.keyId || q.model || q.clientIp);
  const { sql, args } = whereClause(q, placeholder);
  const parts = sql ? [sql.slice('WHERE '.length)] : [];
  if (byTime && cursor) {
    args.push(cursor.ts); const from = placeholder(args.length);
    args.push(cursor.ts); const after = placeholder(args.length);
    args.push(cursor.id); const id = placeholder(args.length);
    parts.push(`ts >= ${from} AND (ts > ${after} OR id > ${id})`);
  }
  const where = parts.length ? `WHERE ${parts.join(' AND ')}` : '';
  args.push(n);
  return { sql: `SELECT ${columns} FROM events ${where} ORDER BY ${byTime ? 'ts, id' : 'id'} LIMIT ${placeholder(args.length)}`, args, byTime };
}

function whereClause(q: EventQuery, placeholder: (i: number) => string): { sql: string; args: unknown[] } {
  const parts: string[] = [];
  const args: unknown[] = [];
  const add = (col: string, op: string, v: unknown) => { args.push(v); parts.push(`${col} ${op} ${placeholder(args.length)}`); };
  if (q.from) add('ts', '>=', q.from);
  if (q.to) add('ts', '<', q.to);
  if (q.accountId) add('account_id', '=', q.accountId);
  if (q.orgId) add('org_id', '=', q.orgId);
  if (q.keyId) add('key_id', '=', q.keyId);
  if (q.model) add('model', '=', q.model);
  if (q.clientIp) add('client_ip', '=', q.clientIp);
  if (q.afterId) add('id', '>', q.afterId);
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', args };
}

const PAGE = 1000;

/** How many events a read returns at most: `limit` when given, a non-negative integer. */
function pageLimit(query: EventQuery): number {
  if (query.limit === undefined) return Infinity;
  if (!Number.isSafeInteger(query.limit) || query.limit < 0) throw new RangeError(`limit must be a non-negative integer (got ${query.limit})`);
  return query.limit;
}

export interface SqliteEventStoreOptions {
  /**
   * Where inserts run: `thread` (a worker thread on its own connection, so a batch never blocks
   * the gateway's event loop; see event-writer.ts) or `inline` (this connection, synchronously).
   * Default `inline`; `warden serve` uses `thread` for a database file. An in-memory database
   * cannot be shared with another connection, so it is always inline.
   */
  writer?: 'thread' | 'inline';
  /** The fill of the usage rollup from events stored by an older release (its progress lines), run before the constructor returns. */
  rollupFill?: RollupFillOptions;
}

export class SqliteEventStore implements EventStore {
  private readonly insertMany: SqliteEventInsert;
  private readonly thread: EventWriterThread | null;

  constructor(private readonly db: SqliteDb, opts: SqliteEventStoreOptions = {}) {
    migrateSqlite(db, 'events', SQLITE_EVENT_MIGRATIONS);
    // Events stored before the rollup existed, summed into it in chunks (resumed if a fill was interrupted).
    fillSqliteUsageRollup(db, opts.rollupFill);
    this.thread = opts.writer === 'thread' && !db.memory ? new EventWriterThread(db.name) : null;
    // The batch's rows and the hourly rollup, in one transaction (event-insert.ts).
    this.insertMany = sqliteEventInserter(db);
  }

  async appendBatch(events: readonly InteractionEvent[], open?: OpenWrites): Promise<void> {
    if (!events.length && !open?.opened.length && !open?.progress.length) return;
    if (this.thread) { await this.thread.append(events, open); return; }
    const rows: EventRow[] = new Array(events.length);
    const tokens: number[] = new Array(events.length * ROLLUP_TOKEN_COUNT);
    for (let i = 0; i < events.length; i++) {
      rows[i] = eventRow(events[i]);
      rollupTokens(events[i].response, tokens, i * ROLLUP_TOKEN_COUNT);
    }
    this.insertMany(rows, tokens, openBatch(events, open));
  }

  async takeOpenInteractions(_node: string, _abandonedBefore: string): Promise<StoredOpenInteraction[]> {
    // One server per database file (serve-lock.ts): whatever is open was left by a stopped one.
    return withoutBusyWait(this.db, () => {
      this.db.prepare('DELETE FROM open_interactions WHERE id IN (SELECT id FROM events)').run();
      return (this.db.prepare(`SELECT ${OPEN_COLUMNS} FROM open_interactions ORDER BY id`).all() as StoredOpenRow[]).map(storedOpen);
    });
  }

  async *iterate(query: EventQuery = {}): AsyncGenerator<InteractionEvent> {
    let afterId = query.afterId;
    let cursor: TimeCursor | null = null;
    let remaining = pageLimit(query);
    for (;;) {
      const n = Math.min(PAGE, remaining);
      const { sql, args, byTime } = pageQuery({ ...query, afterId }, cursor, n, () => '?');
      const rows = this.db.prepare(sql).all(...args) as { id: string; ts: string; body: string }[];
      for (const r of rows) yield JSON.parse(r.body) as InteractionEvent;
      remaining -= rows.length;
      if (rows.length < n || remaining <= 0) return;
      const last = rows[rows.length - 1];
      if (byTime) cursor = { ts: last.ts, id: last.id }; else afterId = last.id;
    }
  }

  iterateAccounts(accountIds: readonly string[], query: EventQuery = {}): AsyncGenerator<InteractionEvent> {
    const bodies = this.db.prepare('SELECT id, body FROM events WHERE id IN (SELECT value FROM json_each(?))');
    return mergeAccountEvents({
      keys: async (accountId, q, after, n) => {
        const { sql, args } = pageQuery({ ...q, accountId }, after, n, () => '?', 'id, ts');
        return (this.db.prepare(sql).all(...args) as { id: string; ts: string }[]).map((r) => ({ id: r.id, ts: r.ts, order: r.ts }));
      },
      bodies: async (ids) => new Map((bodies.all(JSON.stringify(ids)) as { id: string; body: string }[]).map((r) => [r.id, JSON.parse(r.body) as InteractionEvent])),
    }, accountIds, query);
  }

  async count(query: EventQuery = {}): Promise<number> {
    const { sql, args } = whereClause(query, () => '?');
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM events ${sql}`).get(...args) as { n: number }).n;
  }

  async eraseAccount(accountId: string, at = new Date().toISOString()): Promise<number> {
    const page = this.db.prepare('SELECT id, body FROM events WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?');
    const update = this.db.prepare('UPDATE events SET client_ip = ?, body = ? WHERE id = ?');
    const eraseRows = this.db.transaction((rows: { id: string; body: string }[]) => {
      let changed = 0;
      for (const r of rows) {
        const e = JSON.parse(r.body) as InteractionEvent;
        if (e.erased_at) continue;
        update.run(ERASED_CLIENT_IP, JSON.stringify(erasePersonalData(e, at)), r.id);
        changed++;
      }
      return changed;
    });
    let erased = 0;
    for (let after = ''; ;) {
      const rows = page.all(accountId, after, ERASE_CHUNK) as { id: string; body: string }[];
      erased += eraseRows(rows);
      if (rows.length < ERASE_CHUNK) break;
      after = rows[rows.length - 1].id;
      await nextTick();
    }
    // Its streams left open by a killed node: erased as the events they become.
    const open = this.db.prepare('SELECT id, body FROM open_interactions WHERE json_extract(body, \'$.account_id\') = ?').all(accountId) as { id: string; body: string }[];
    const updateOpen = this.db.prepare('UPDATE open_interactions SET body = ? WHERE id = ?');
    for (const r of open) {
      const e = JSON.parse(r.body) as InteractionEvent;
      if (!e.erased_at) updateOpen.run(JSON.stringify(erasePersonalData(e, at)), r.id);
    }
    // As the ledger's erase (src/ledger/sqlite.ts): secure_delete zeroes the old cells; the IP
    // index, rebalanced by the changes, is rebuilt so no stale key stays in a page's unused space;
    // the WAL frames written before are truncated.
    if (erased > 0) this.db.exec('REINDEX events_ip');
    truncateWal(this.db, 'events erase');
    return erased;
  }

  async deleteBefore(before: string): Promise<number> {
    // This runs on the server's main thread (better-sqlite3 is synchronous), so it must never
    // wait: small chunks with a yield between them let requests interleave, a write lock held by
    // another process (an erase from the CLI) is waited out on a timer rather than in SQLite's
    // busy handler, and the checkpoint is PASSIVE, which never waits for readers. The write-ahead
    // log is recycled by later checkpoints anyway; erasure (eraseAccount) is what truncates it.
    const chunk = this.db.prepare('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < ? LIMIT ?)');
    let deleted = 0;
    for (;;) {
      const n = await withoutBusyWait(this.db, () => chunk.run(before, RETENTION_CHUNK).changes);
      deleted += n;
      if (n < RETENTION_CHUNK) break;
      await nextTick();
    }
    if (deleted > 0 && !this.db.memory) this.db.pragma('wal_checkpoint(PASSIVE)');
    return deleted;
  }

  async close(): Promise<void> {
    await this.thread?.close();
  }
}

export const PG_EVENT_MIGRATIONS = [
  `CREATE TABLE IF NOT EXISTS events (
     id TEXT PRIMARY KEY,
     ts TIMESTAMPTZ NOT NULL,
     account_id TEXT, org_id TEXT, key_id TEXT,
     model TEXT NOT NULL, client_ip TEXT NOT NULL, status INTEGER NOT NULL,
     body JSONB NOT NULL
   );
   CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
   CREATE INDEX IF NOT EXISTS events_account ON events (account_id, ts);
   CREATE INDEX IF NOT EXISTS events_org ON events (org_id, ts);
   CREATE INDEX IF NOT EXISTS events_ip ON events (client_ip, ts);`,
  PG_USAGE_ROLLUP_MIGRATION,
  PG_USAGE_ROLLUP_V3_MIGRATION,
  PG_OPEN_INTERACTIONS_MIGRATION,
  // The hooks' notes on open records, and the nodes' leases on their names (node-lease.ts).
  PG_OPEN_NOTES_MIGRATION,
];

/**
 * Events per INSERT: a statement carries at most 65,535 parameters (nine per event), and the
 * recorder may hand over a larger batch (what it kept while the database was unreachable).
 */
const PG_INSERT_ROWS = 1000;

/** Longest a closing store waits for a fold under way, ms. */
const PG_FOLD_CLOSE_WAIT_MS = 1000;
/** How often a node folds the usage rollup's deltas after its writes, ms (usage-rollup.ts, USAGE_ROLLUP_DELTA_TABLE). */
export const PG_FOLD_EVERY_MS = 5_000;

export interface PostgresEventStoreOptions {
  /** The fill of the usage rollup from events stored by an older release (its progress lines), run by `migrate()`. */
  rollupFill?: RollupFillOptions;
}

export class PostgresEventStore implements EventStore {
  private migrated: Promise<void> | null = null;
  private folding: Promise<void> | null = null;
  private lastFold = 0;
  constructor(private readonly pool: PgPool, private readonly opts: PostgresEventStoreOptions = {}) {}

  /**
   * Create or update the table, and fill the usage rollup from the events stored before it (once;
   * `warden serve` awaits it at start so that an unreachable server is reported there). A failed
   * attempt is not kept: the next call tries again (a fill goes on where it stopped).
   */
  migrate(): Promise<void> {
    if (!this.migrated) {
      this.migrated = migratePostgres(this.pool, 'events', PG_EVENT_MIGRATIONS).then(() => fillPostgresUsageRollup(this.pool, this.opts.rollupFill));
      this.migrated.catch(() => { this.migrated = null; });
    }
    return this.migrated;
  }

  async appendBatch(events: readonly InteractionEvent[], open?: OpenWrites): Promise<void> {
    await this.migrate();
    // Streams under way first, so that an event of this batch removes its record.
    if (open?.opened.length) {
      const o = open.opened;
      await this.pool.query(
        'INSERT INTO open_interactions (id, node, ts, input_tokens, body, notes) SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::int[], $5::jsonb[], $6::jsonb[]) ON CONFLICT (id) DO NOTHING',
        [o.map((r) => r.id), o.map((r) => r.node), o.map((r) => r.ts), o.map((r) => r.input_tokens), o.map((r) => JSON.stringify(r.event)), o.map((r) => (r.notes ? JSON.stringify(r.notes) : null))],
      );
    }
    if (open?.progress.length) {
      const p = open.progress;
      await this.pool.query(
        `UPDATE open_interactions x SET checkpoint_at = p.at, input_tokens = COALESCE(p.i, x.input_tokens),
           output_tokens = GREATEST(x.output_tokens, p.o), reasoning_tokens = GREATEST(x.reasoning_tokens, p.r),
           output_chars = GREATEST(x.output_chars, p.oc), reasoning_chars = GREATEST(x.reasoning_chars, p.rc)
         FROM UNNEST($1::text[], $2::timestamptz[], $3::int[], $4::int[], $5::int[], $6::int[], $7::int[]) AS p(id, at, i, o, r, oc, rc) WHERE x.id = p.id`,
        [p.map((r) => r.id), p.map((r) => r.at), p.map((r) => r.input_tokens), p.map((r) => r.output_tokens), p.map((r) => r.reasoning_tokens), p.map((r) => r.output_chars), p.map((r) => r.reasoning_chars)],
      );
    }
    // Chunks are written in turn; a batch retried after a failure half-way skips those already in (ON CONFLICT).
    for (let start = 0; start < events.length; start += PG_INSERT_ROWS) {
      const values: unknown[] = [];
      const tuples: string[] = [];
      const streamed: string[] = [];
      for (const e of events.slice(start, start + PG_INSERT_ROWS)) {
        const b = values.length;
        tuples.push(`($${b + 1},$${b + 2},$${b + 3},$${b + 4},$${b + 5},$${b + 6},$${b + 7},$${b + 8},$${b + 9})`);
        values.push(e.id, e.ts, e.account_id, e.org_id, e.key_id, e.model, e.client.ip, e.response.status, JSON.stringify(e));
        if (e.request?.stream) streamed.push(e.id);
      }
      const insert = `INSERT INTO events (id, ts, account_id, org_id, key_id, model, client_ip, status, body) VALUES ${tuples.join(',')} ON CONFLICT (id) DO NOTHING`;
      if (streamed.length === 0) { await this.pool.query(insert, values); continue; }
      // The streams' open records removed in the same statement as their events.
      values.push(streamed);
      await this.pool.query(`WITH ins AS (${insert}) DELETE FROM open_interactions WHERE id = ANY($${values.length}::text[])`, values);
    }
    // The triggers appended the batch's counts as deltas: folded into the rollup now and then, off the batch's path.
    if (!this.folding && Date.now() - this.lastFold >= PG_FOLD_EVERY_MS) {
      this.lastFold = Date.now();
      this.folding = this.foldUsageDeltas().then(() => {}, () => {}).finally(() => { this.folding = null; });
    }
  }

  async takeOpenInteractions(node: string, abandonedBefore: string): Promise<StoredOpenInteraction[]> {
    await this.migrate();
    await this.pool.query('DELETE FROM open_interactions o WHERE EXISTS (SELECT 1 FROM events e WHERE e.id = o.id)');
    // Other nodes' records begun before any stream could still be going: claimed (one node each;
    // a claim whose node died too lapses), then read with this node's own.
    await this.pool.query(
      `UPDATE open_interactions SET node = $1, claimed_at = now() WHERE id IN (
         SELECT id FROM open_interactions WHERE node <> $1 AND ts < $2 AND (claimed_at IS NULL OR claimed_at < now() - make_interval(secs => $3))
         ORDER BY ts LIMIT 10000 FOR UPDATE SKIP LOCKED)`,
      [node, abandonedBefore, OPEN_CLAIM_LAPSE_MS / 1000],
    );
    const { rows } = await this.pool.query(`SELECT ${OPEN_COLUMNS} FROM open_interactions WHERE node = $1 ORDER BY id`, [node]);
    return (rows as StoredOpenRow[]).map(storedOpen);
  }

  async holdNode(node: string, opts: NodeHoldOptions): Promise<NodeHold> {
    await this.migrate();
    return holdPostgresNode(this.pool, node, opts);
  }

  /**
   * Fold the usage rollup's deltas into it (usage-rollup.ts); returns how many delta rows. Reads
   * count the deltas anyway: this keeps their table short. A fold that fails is left to the next.
   */
  async foldUsageDeltas(): Promise<number> {
    await this.migrate();
    return foldPostgresUsageDeltas(this.pool);
  }

  async *iterate(query: EventQuery = {}): AsyncGenerator<InteractionEvent> {
    await this.migrate();
    let afterId = query.afterId;
    let cursor: TimeCursor | null = null;
    let remaining = pageLimit(query);
    for (;;) {
      const n = Math.min(PAGE, remaining);
      const { sql, args, byTime } = pageQuery({ ...query, afterId }, cursor, n, (i) => `$${i}`);
      const { rows } = await this.pool.query(sql, args);
      for (const r of rows) yield r.body as InteractionEvent;
      remaining -= rows.length;
      if (rows.length < n || remaining <= 0) return;
      const last = rows[rows.length - 1];
      if (byTime) cursor = { ts: last.ts, id: last.id }; else afterId = last.id;
    }
  }

  async *iterateAccounts(accountIds: readonly string[], query: EventQuery = {}): AsyncGenerator<InteractionEvent> {
    await this.migrate();
    yield* mergeAccountEvents({
      keys: async (accountId, q, after, n) => {
        const { sql, args } = pageQuery({ ...q, accountId }, after, n, (i) => `$${i}`, 'id, ts');
        const { rows } = await this.pool.query(sql, args);
        return (rows as { id: string; ts: Date }[]).map((r): EventKey => ({ id: r.id, ts: r.ts, order: r.ts.toISOString() }));
      },
      bodies: async (ids) => {
        const { rows } = await this.pool.query('SELECT id, body FROM events WHERE id = ANY($1::text[])', [ids]);
        return new Map((rows as { id: string; body: InteractionEvent }[]).map((r) => [r.id, r.body]));
      },
    }, accountIds, query);
  }

  async count(query: EventQuery = {}): Promise<number> {
    await this.migrate();
    const { sql, args } = whereClause(query, (i) => `$${i}`);
    const { rows } = await this.pool.query(`SELECT COUNT(*)::int AS n FROM events ${sql}`, args);
    return rows[0].n;
  }

  async eraseAccount(accountId: string, at = new Date().toISOString()): Promise<number> {
    await this.migrate();
    let erased = 0;
    for (let after = ''; ;) {
      const { rows } = await this.pool.query('SELECT id, body FROM events WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3', [accountId, after, ERASE_CHUNK]);
      const changed = (rows as { id: string; body: InteractionEvent }[]).filter((r) => !r.body.erased_at);
      if (changed.length) {
        await this.pool.query(
          `UPDATE events e SET client_ip = $1, body = v.body FROM (SELECT UNNEST($2::text[]) AS id, UNNEST($3::jsonb[]) AS body) v WHERE e.id = v.id`,
          [ERASED_CLIENT_IP, changed.map((r) => r.id), changed.map((r) => JSON.stringify(erasePersonalData(r.body, at)))],
        );
      }
      erased += changed.length;
      if (rows.length < ERASE_CHUNK) break;
      after = rows[rows.length - 1].id;
    }
    // Its streams left open by a killed node: erased as the events they become.
    const open = (await this.pool.query('SELECT id, body FROM open_interactions WHERE body->>\'account_id\' = $1', [accountId])).rows as { id: string; body: InteractionEvent }[];
    const openChanged = open.filter((r) => !r.body.erased_at);
    if (openChanged.length) {
      await this.pool.query(
        'UPDATE open_interactions o SET body = v.body FROM (SELECT UNNEST($1::text[]) AS id, UNNEST($2::jsonb[]) AS body) v WHERE o.id = v.id',
        [openChanged.map((r) => r.id), openChanged.map((r) => JSON.stringify(erasePersonalData(r.body, at)))],
      );
    }
    if (erased > 0) await this.foldUsageDeltas().catch(() => {});
    return erased;
  }

  async deleteBefore(before: string): Promise<number> {
    await this.migrate();
    let deleted = 0;
    for (;;) {
      const r = await this.pool.query('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ts < $1 LIMIT $2)', [before, ERASE_CHUNK]);
      deleted += r.rowCount ?? 0;
      if ((r.rowCount ?? 0) < ERASE_CHUNK) break;
    }
    // The deleted events' negative deltas folded: the emptied buckets leave the rollup.
    if (deleted > 0) await this.foldUsageDeltas().catch(() => {});
    return deleted;
  }

  async close(): Promise<void> {
    // A fold under way gets a moment, not the statement timeouts: it is only housekeeping (reads
    // count the deltas), and a stop with PostgreSQL not answering must not wait on it. The pool's
    // end cuts what is left; the transaction is then rolled back and the next fold does it.
    if (!this.folding) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.folding, new Promise((r) => { timer = setTimeout(r, PG_FOLD_CLOSE_WAIT_MS); })]);
    clearTimeout(timer);
  }
}
