/**
 * The event store's rows as stored, for checking them against another record of the same
 * interactions (the ledger's reconciliation): the indexed columns exactly as written beside the
 * body, read by id in batches, and the ids of a time range in pages, so that a check of the whole
 * store holds one page in memory. Reads only: nothing is created or migrated.
 */
import Database from 'better-sqlite3';
import type { InteractionEvent } from '../events/index.ts';
import type { SqliteDb } from './sqlite.ts';
import type { PgPool } from './postgres.ts';

/** One stored event: the columns queries filter on, as stored, and the body. */
export interface StoredEventRow {
  id: string;
  /** ISO 8601 (PostgreSQL's timestamp read back as such). */
  ts: string;
  account_id: string | null;
  org_id: string | null;
  key_id: string | null;
  model: string;
  client_ip: string;
  status: number;
  /** The body; null when it is not JSON (a row edited by hand). */
  event: InteractionEvent | null;
}

/** Where a page of ids starts: after this (ts, id). */
export interface IdPageCursor { ts: string; id: string }

export interface EventRowReader {
  /** Rows of these ids (missing ones omitted). */
  rows(ids: readonly string[]): Promise<Map<string, StoredEventRow>>;
  /** Ids and times of the events with from <= ts < to, in (ts, id) order, at most `limit` after `after`. */
  idPage(range: { from?: string; to?: string }, after: IdPageCursor | null, limit: number): Promise<IdPageCursor[]>;
  /** The latest event time stored, null when there is none. */
  latestTs(): Promise<string | null>;
  /** An account's latest event (its index: account, time), null when it has none. */
  latestOfAccount(accountId: string): Promise<StoredEventRow | null>;
  close(): Promise<void>;
}

/** An event store that is not where the configuration says (a missing file, no events table): nothing was created. */
export class NoEventStoreError extends Error {}

const COLUMNS = 'id, ts, account_id, org_id, key_id, model, client_ip, status, body';
const isoTs = (ts: unknown): string => (ts instanceof Date ? ts.toISOString() : String(ts));

function toRow(r: Record<string, unknown>): StoredEventRow {
  return {
    id: r.id as string, ts: isoTs(r.ts), account_id: r.account_id as string | null, org_id: r.org_id as string | null,
    key_id: r.key_id as string | null, model: r.model as string, client_ip: r.client_ip as string, status: Number(r.status),
    event: parseBody(r.body),
  };
}

function parseBody(body: unknown): InteractionEvent | null {
  if (typeof body !== 'string') return (body ?? null) as InteractionEvent | null;
  try { return JSON.parse(body) as InteractionEvent; } catch { return null; }
}

function rangeWhere(range: { from?: string; to?: string }, after: IdPageCursor | null, p: (v: unknown) => string): string {
  const parts: string[] = [];
  if (range.from) parts.push(`ts >= ${p(range.from)}`);
  if (range.to) parts.push(`ts < ${p(range.to)}`);
  // (ts, id) > cursor, written so that the time index serves it.
  if (after) parts.push(`ts >= ${p(after.ts)} AND (ts > ${p(after.ts)} OR id > ${p(after.id)})`);
  return parts.length ? `WHERE ${parts.join(' AND ')}` : '';
}

export class SqliteEventRows implements EventRowReader {
  /** Open the store's file for reading only: a missing file, or one without events, is a NoEventStoreError naming it. */
  static openReadOnly(path: string): SqliteEventRows {
    let db: SqliteDb;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
    } catch (err) {
      throw new NoEventStoreError(`no event store at ${path} (${(err as Error).message})`);
    }
    db.pragma('busy_timeout = 5000');
    if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").get()) {
      db.close();
      throw new NoEventStoreError(`no event store at ${path}: the file holds no events table; check store.sqlite_path in the configuration (-c FILE)`);
    }
    return new SqliteEventRows(db, true);
  }

  private readonly byId;
  private readonly latest;
  constructor(private readonly db: SqliteDb, private readonly ownsDb = false) {
    this.byId = db.prepare(`SELECT ${COLUMNS} FROM events WHERE id IN (SELECT value FROM json_each(?))`);
    this.latest = db.prepare('SELECT MAX(ts) FROM events').pluck();
  }

  async rows(ids: readonly string[]): Promise<Map<string, StoredEventRow>> {
    const out = new Map<string, StoredEventRow>();
    if (!ids.length) return out;
    for (const r of this.byId.all(JSON.stringify(ids)) as Record<string, unknown>[]) out.set(r.id as string, toRow(r));
    return out;
  }

  async idPage(range: { from?: string; to?: string }, after: IdPageCursor | null, limit: number): Promise<IdPageCursor[]> {
    const args: unknown[] = [];
    const where = rangeWhere(range, after, (v) => { args.push(v); return '?'; });
    return this.db.prepare(`SELECT id, ts FROM events ${where} ORDER BY ts, id LIMIT ?`).all(...args, limit) as IdPageCursor[];
  }

  async latestTs(): Promise<string | null> {
    return (this.latest.get() as string | null) ?? null;
  }

  async latestOfAccount(accountId: string): Promise<StoredEventRow | null> {
    const r = this.db.prepare(`SELECT ${COLUMNS} FROM events WHERE account_id = ? ORDER BY ts DESC, id DESC LIMIT 1`).get(accountId) as Record<string, unknown> | undefined;
    return r ? toRow(r) : null;
  }

  async close(): Promise<void> {
    if (this.ownsDb) this.db.close();
  }
}

export class PostgresEventRows implements EventRowReader {
  constructor(private readonly pool: PgPool, private readonly opts: { ownsPool?: boolean } = {}) {}

  /** Checks the events table is there (a mistyped URL or search path would read an empty store). */
  static async open(pool: PgPool, opts: { ownsPool?: boolean; where?: string } = {}): Promise<PostgresEventRows> {
    const { rows } = await pool.query("SELECT to_regclass('events') IS NOT NULL AS present");
    if (!rows[0].present) {
      if (opts.ownsPool) await pool.end();
      throw new NoEventStoreError(`no event store at ${opts.where ?? 'this PostgreSQL database'}: no events table in its search path; check store.postgres_url`);
    }
    return new PostgresEventRows(pool, opts);
  }

  async rows(ids: readonly string[]): Promise<Map<string, StoredEventRow>> {
    const out = new Map<string, StoredEventRow>();
    if (!ids.length) return out;
    const { rows } = await this.pool.query(`SELECT ${COLUMNS} FROM events WHERE id = ANY($1::text[])`, [ids]);
    for (const r of rows as Record<string, unknown>[]) out.set(r.id as string, toRow(r));
    return out;
  }

  async idPage(range: { from?: string; to?: string }, after: IdPageCursor | null, limit: number): Promise<IdPageCursor[]> {
    const args: unknown[] = [];
    const where = rangeWhere(range, after, (v) => { args.push(v); return `$${args.length}`; });
    args.push(limit);
    const { rows } = await this.pool.query(`SELECT id, ts FROM events ${where} ORDER BY ts, id LIMIT $${args.length}`, args);
    // Events are stamped to the millisecond, so the ISO text is the stored time exactly.
    return (rows as { id: string; ts: unknown }[]).map((r) => ({ id: r.id, ts: isoTs(r.ts) }));
  }

  async latestTs(): Promise<string | null> {
    const { rows } = await this.pool.query('SELECT MAX(ts) AS ts FROM events');
    return rows[0].ts === null ? null : isoTs(rows[0].ts);
  }

  async latestOfAccount(accountId: string): Promise<StoredEventRow | null> {
    const { rows } = await this.pool.query(`SELECT ${COLUMNS} FROM events WHERE account_id = $1 ORDER BY ts DESC, id DESC LIMIT 1`, [accountId]);
    return rows[0] ? toRow(rows[0] as Record<string, unknown>) : null;
  }

  async close(): Promise<void> {
    if (this.opts.ownsPool) await this.pool.end();
  }
}
