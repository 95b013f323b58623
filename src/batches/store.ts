/**
 * Where batches and their requests wait and their results stay: SQLite for the embedded default,
 * PostgreSQL for many nodes (nodes claim requests with row locks, so each runs once; a claim not
 * finished within its lease is taken up again).
 */
import type { Statement } from 'better-sqlite3';
import { inTransaction, migratePostgres, migrateSqlite, type PgPool, type SqliteDb } from '../store/index.ts';

export type BatchStatus = 'in_progress' | 'canceling' | 'ended';
export type ItemState = 'pending' | 'running' | 'succeeded' | 'errored' | 'canceled' | 'expired';
export const ITEM_STATES: readonly ItemState[] = ['pending', 'running', 'succeeded', 'errored', 'canceled', 'expired'];

/** A batch and who sent it: each of its requests runs as that key, from that address. */
export interface BatchRecord {
  id: string;
  account_id: string;
  org_id: string | null;
  key_id: string;
  client_ip: string;
  user_agent: string | null;
  /** The client's `anthropic-version` and `anthropic-beta` headers, sent with each request. */
  anthropic_version: string | null;
  anthropic_beta: string | null;
  status: BatchStatus;
  created_at: number;
  expires_at: number;
  ended_at: number | null;
  cancel_initiated_at: number | null;
  /** A batch of OpenAI's Batch API (absent or null: an Anthropic Message Batch). */
  openai?: OpenAiBatch | null;
  /**
   * A background response (`POST /v1/responses` with `background: true`): a batch of one, run
   * before any other batch's requests, never listed with batches. Its id is the response's.
   */
  background?: boolean;
}

/** What an OpenAI batch adds: where its requests go, what it was made from, and why it failed if it did. */
export interface OpenAiBatch {
  /** The route each request runs as (`/v1/chat/completions`, `/v1/responses`, `/v1/embeddings`, `/v1/completions`). */
  endpoint: string;
  input_file_id: string;
  completion_window: string;
  model: string | null;
  metadata: Record<string, string> | null;
  /** Seconds the output and error files are kept (`output_expires_after`), else the default. */
  output_expires_seconds: number | null;
  /** Problems of the input file: the batch failed, nothing ran. */
  errors: { code: string; message: string; param: string | null; line: number | null }[] | null;
  /** A background response: the request's fields its response object echoes while it waits. */
  response_params?: Record<string, unknown>;
  /** A background response created with `stream: true`: its events are kept, to be read from any point. */
  streamed?: boolean;
  /** Tokens of the requests answered, summed when the batch ends. */
  usage?: { input_tokens: number; input_tokens_details: { cached_tokens: number }; output_tokens: number; output_tokens_details: { reasoning_tokens: number }; total_tokens: number };
}

/** Which batches a listing shows: Anthropic's, OpenAI's, or background responses. */
export type BatchApi = 'anthropic' | 'openai' | 'background';

export interface NewItem { custom_id: string; params: string }
/** A request claimed to run now, with its batch. */
export interface ClaimedItem { batch: BatchRecord; idx: number; custom_id: string; params: string; attempts: number }
/** A request's state and stored result, as written (null for those canceled or expired). */
export interface ItemOutcome { idx: number; custom_id: string; state: ItemState; result: string | null }
/** A request's outcome; `canceled` ones (claimed before their batch was cancelled, not run) have no result. */
export interface FinishedItem {
  batchId: string; idx: number; state: 'succeeded' | 'errored' | 'canceled'; result: string | null;
  /** When it finished (ms): a background response (a batch of one) ends then, not at the next settle. */
  at?: number;
}
export interface BatchPage { before_id?: string; after_id?: string; limit: number }

export interface BatchStore {
  /** A streamed background response's first events (`stream`, numbered from 0) are written with it. */
  create(batch: BatchRecord, items: readonly NewItem[], stream?: readonly string[]): Promise<void>;
  get(id: string): Promise<BatchRecord | null>;
  counts(id: string): Promise<Record<ItemState, number>>;
  /** The batches of one API of an account (or of its organisation), newest first. */
  list(owner: { accountId: string; orgId: string | null }, page: BatchPage, api?: BatchApi): Promise<BatchRecord[]>;
  /** Requests of an account's open batches not yet run (pending or running). */
  queued(accountId: string): Promise<number>;
  /** An account's batches not ended (in progress or being cancelled), background responses not counted. */
  open(accountId: string): Promise<number>;
  /** For operators: the newest batches of every account, or of one, or in one state. */
  recent(filter: { accountId?: string; status?: BatchStatus }, limit: number): Promise<BatchRecord[]>;
  /**
   * Up to `n` requests ready to run (pending and due, or running with an expired lease), marked
   * running: background responses first, then the accounts with requests waiting in turn (each
   * gives an equal share, the first after the one last served first, so that no account's batches
   * hold up another's), each account's oldest batch first, in the order sent. `caps`: at most
   * this many requests of these accounts (a node that runs an account's batches one request at a
   * time asks for its next one, or none).
   */
  claim(now: number, n: number, leaseMs: number, caps?: ReadonlyMap<string, number>): Promise<ClaimedItem[]>;
  /** Record results (one transaction); a request no longer running (cancelled, expired, finished elsewhere) keeps what it has. */
  finish(items: readonly FinishedItem[]): Promise<void>;
  /**
   * Back to pending, to run again from `notBefore` (a limit's Retry-After, an upstream failure).
   * `notRun`: it was claimed but never sent, so the claim does not count as an attempt.
   */
  retryLater(batchId: string, idx: number, notBefore: number, notRun?: boolean): Promise<void>;
  /** A request still running here keeps its claim until `until` (a long stream outlives the first lease). */
  renewLease(batchId: string, idx: number, until: number): Promise<void>;
  /**
   * Nothing of the account's open batches is claimed before `until` (ms): a limit refused one of
   * them, and the others would meet the same limit (a later pause wins).
   */
  pauseAccount(accountId: string, until: number): Promise<void>;
  /** Start cancelling: requests not yet run are `canceled`; running ones finish. False if already ended. */
  cancel(id: string, now: number): Promise<boolean>;
  /** Expire what is overdue and end batches with nothing left to run; returns the ids ended. */
  settle(now: number): Promise<string[]>;
  /** Replace an OpenAI batch's details (its usage is added when it ends). */
  updateOpenAi(id: string, openai: OpenAiBatch): Promise<void>;
  /** Requests' states and results in the order sent: those after index `after`, at most `limit`. */
  outcomes(id: string, after?: number, limit?: number): Promise<ItemOutcome[]>;
  delete(id: string): Promise<boolean>;
  /** Delete batches that ended before `before` (ms); how many. */
  prune(before: number): Promise<number>;
  /** Record the account's current organisation on its batches (it moved: lists follow it). */
  reassignOrg(accountId: string, orgId: string | null): Promise<void>;
  /** Events of a streamed background response (SSE frames), numbered from `first`; one already kept is left as is. */
  appendStream(id: string, first: number, frames: readonly string[]): Promise<void>;
  /** Its events numbered above `after`, in order, at most `limit`. */
  streamEvents(id: string, after: number, limit: number): Promise<StreamEvent[]>;
  /** The number of its last event kept, else -1. */
  lastStreamSeq(id: string): Promise<number>;
}

/** One event of a streamed background response: its `sequence_number` and the SSE frame sent. */
export interface StreamEvent { seq: number; frame: string }

const MIGRATION = (big: string) => `
  CREATE TABLE IF NOT EXISTS message_batches (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, org_id TEXT, key_id TEXT NOT NULL, client_ip TEXT NOT NULL,
    user_agent TEXT, anthropic_version TEXT, anthropic_beta TEXT, status TEXT NOT NULL,
    created_at ${big} NOT NULL, expires_at ${big} NOT NULL, ended_at ${big}, cancel_initiated_at ${big});
  CREATE INDEX IF NOT EXISTS message_batches_account ON message_batches (account_id, created_at);
  CREATE INDEX IF NOT EXISTS message_batches_org ON message_batches (org_id, created_at);
  CREATE INDEX IF NOT EXISTS message_batches_open ON message_batches (status, expires_at);
  CREATE TABLE IF NOT EXISTS message_batch_items (
    batch_id TEXT NOT NULL, idx INTEGER NOT NULL,
    custom_id TEXT NOT NULL, params TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    not_before ${big} NOT NULL DEFAULT 0, lease_until ${big}, result TEXT, PRIMARY KEY (batch_id, idx));
  CREATE INDEX IF NOT EXISTS message_batch_items_ready ON message_batch_items (state, batch_id, idx)`;
/** v2: OpenAI batches (their endpoint, input file, metadata and errors, as JSON). */
const MIGRATION_OPENAI = 'ALTER TABLE message_batches ADD COLUMN openai TEXT';
/** v3: background responses, run first. */
const MIGRATION_BACKGROUND = 'ALTER TABLE message_batches ADD COLUMN background INTEGER NOT NULL DEFAULT 0';
/** v4: a batch paused by a limit's Retry-After (ms). */
const MIGRATION_PAUSE = 'ALTER TABLE message_batches ADD COLUMN not_before BIGINT NOT NULL DEFAULT 0';

/** v5: the events of streamed background responses, kept to be read again from any point. */
const MIGRATION_STREAM = `CREATE TABLE IF NOT EXISTS background_stream_events (
    response_id TEXT NOT NULL, seq INTEGER NOT NULL, frame TEXT NOT NULL, PRIMARY KEY (response_id, seq))`;

/**
 * Requests written per transaction when a batch is created on SQLite: at most this many, and no
 * more than this many bytes of them (a transaction of large requests holds the serving thread for
 * as long as it takes to write them).
 */
const CREATE_CHUNK = 500;
const CREATE_CHUNK_BYTES = 64 * 1024;
/** Requests cancelled or expired per statement on SQLite (see `cancelSome`). */
const UPDATE_SLICE = 100;

const BATCH_COLUMNS = 'id, account_id, org_id, key_id, client_ip, user_agent, anthropic_version, anthropic_beta, status, created_at, expires_at, ended_at, cancel_initiated_at, openai, background';

function toBatch(r: Record<string, unknown>): BatchRecord {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    id: String(r.id), account_id: String(r.account_id), org_id: (r.org_id as string | null) ?? null, key_id: String(r.key_id),
    client_ip: String(r.client_ip), user_agent: (r.user_agent as string | null) ?? null,
    anthropic_version: (r.anthropic_version as string | null) ?? null, anthropic_beta: (r.anthropic_beta as string | null) ?? null,
    status: r.status as BatchStatus, created_at: Number(r.created_at), expires_at: Number(r.expires_at),
    ended_at: n(r.ended_at), cancel_initiated_at: n(r.cancel_initiated_at),
    openai: typeof r.openai === 'string' ? JSON.parse(r.openai) as OpenAiBatch : null,
    background: Number(r.background) === 1,
  };
}

function emptyCounts(): Record<ItemState, number> {
  return { pending: 0, running: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
}

const batchValues = (b: BatchRecord) => [b.id, b.account_id, b.org_id, b.key_id, b.client_ip, b.user_agent, b.anthropic_version, b.anthropic_beta, b.status, b.created_at, b.expires_at, b.ended_at, b.cancel_initiated_at, b.openai ? JSON.stringify(b.openai) : null, b.background ? 1 : 0];

const API_FILTER: Record<BatchApi, string> = {
  anthropic: ' AND openai IS NULL',
  openai: ' AND openai IS NOT NULL AND background = 0',
  background: ' AND background = 1',
};

/** Statements the two backends share (placeholders written `?`; PostgreSQL's are numbered on the way). */
const SQL = {
  // A batch paused by a limit (`not_before`) has nothing to claim until then.
  // ... nor a batch past its expiry: what it has not run waits for the settle to expire it.
  claimFrom: (state: 'running' | 'pending', now = '?') => `FROM message_batch_items i JOIN message_batches b ON b.id = i.batch_id WHERE i.state = '${state}' AND b.status = 'in_progress' AND b.not_before <= ${now} AND b.expires_at > ${now}`,
  pauseAccount: 'UPDATE message_batches SET not_before = ? WHERE account_id = ? AND status = \'in_progress\' AND not_before < ?',
  // The accounts with a batch request ready to run, and the requests of one of them, its oldest batch first.
  waitingAccounts: `SELECT DISTINCT b.account_id FROM message_batches b WHERE b.status = 'in_progress' AND b.background = 0 AND b.not_before <= ? AND b.expires_at > ?
    AND EXISTS (SELECT 1 FROM message_batch_items i WHERE i.batch_id = b.id AND i.state = 'pending' AND i.not_before <= ?)`,
  // (SQLite is told its index: without statistics it would read every open batch of every account.)
  accountBatches: (index = '') => `SELECT b.id FROM message_batches b${index} WHERE b.account_id = ? AND b.status = 'in_progress' AND b.background = 0
    AND b.not_before <= ? AND b.expires_at > ?
    AND EXISTS (SELECT 1 FROM message_batch_items i WHERE i.batch_id = b.id AND i.state = 'pending' AND i.not_before <= ?)
    ORDER BY b.created_at, b.id LIMIT ?`,
  renew: 'UPDATE message_batch_items SET lease_until = ? WHERE batch_id = ? AND idx = ? AND state = \'running\'',
  // Background responses wait for no batch: their requests are claimed first (few are open at once).
  openBackground: 'SELECT id, account_id FROM message_batches WHERE status = \'in_progress\' AND background = 1 LIMIT 64',
  ownerPage: (cursor: string, order: 'ASC' | 'DESC', api?: BatchApi) => `SELECT ${BATCH_COLUMNS} FROM message_batches WHERE (account_id = ? OR (org_id IS NOT NULL AND org_id = ?))${api ? API_FILTER[api] : ''}${cursor} ORDER BY created_at ${order}, id ${order} LIMIT ?`,
  // Every state named: the (state, batch_id, idx) index then holds all it reads (by batch_id alone,
  // SQLite read each request's row, its parameters too: half a second for a batch of 60 MB).
  counts: `SELECT state, COUNT(*) AS n FROM message_batch_items WHERE state IN (${ITEM_STATES.map((st) => `'${st}'`).join(', ')}) AND batch_id = ? GROUP BY state`,
  queued: `SELECT COUNT(*) AS n FROM message_batch_items i JOIN message_batches b ON b.id = i.batch_id
    WHERE b.account_id = ? AND b.status IN ('in_progress', 'canceling') AND i.state IN ('pending', 'running')`,
  open: `SELECT COUNT(*) AS n FROM message_batches WHERE account_id = ? AND status IN ('in_progress', 'canceling') AND background = 0`,
  recent: `SELECT ${BATCH_COLUMNS} FROM message_batches WHERE (? IS NULL OR account_id = ?) AND (? IS NULL OR status = ?) ORDER BY created_at DESC, id DESC LIMIT ?`,
  finish: 'UPDATE message_batch_items SET state = ?, result = ?, lease_until = NULL WHERE batch_id = ? AND idx = ? AND state = \'running\'',
  retry: 'UPDATE message_batch_items SET state = \'pending\', not_before = ?, lease_until = NULL WHERE batch_id = ? AND idx = ? AND state = \'running\'',
  // claimed but not run: the claim's attempt is given back
  putBack: 'UPDATE message_batch_items SET state = \'pending\', not_before = ?, lease_until = NULL, attempts = attempts - 1 WHERE batch_id = ? AND idx = ? AND state = \'running\'',
  cancelBatch: 'UPDATE message_batches SET status = \'canceling\', cancel_initiated_at = ? WHERE id = ? AND status = \'in_progress\'',
  // pending requests of batches being cancelled, or of overdue batches (and their abandoned claims)
  cancelPending: `UPDATE message_batch_items SET state = 'canceled', result = NULL WHERE state = 'pending'
    AND batch_id IN (SELECT id FROM message_batches WHERE status = 'canceling')`,
  // Settling reads the open batches only (an index), and the requests of each through the index.
  overdue: `SELECT id FROM message_batches WHERE status IN ('in_progress', 'canceling') AND expires_at <= ?`,
  expire: `UPDATE message_batch_items SET state = 'expired', lease_until = NULL
    WHERE batch_id = ? AND (state = 'pending' OR (state = 'running' AND lease_until < ?))`,
  // SQLite rewrites a whole row to change its state, its parameters too (a batch of 60 MB took half
  // a second of the serving thread to cancel): there a batch's requests are cancelled or expired
  // a few at a time, with a turn of the event loop between.
  canceling: 'SELECT id FROM message_batches WHERE status = \'canceling\'',
  cancelSome: `UPDATE message_batch_items SET state = 'canceled', result = NULL
    WHERE rowid IN (SELECT rowid FROM message_batch_items WHERE state = 'pending' AND batch_id = ? LIMIT ?)`,
  // (one state at a time: each is then found through the (state, batch_id, idx) index)
  expireSome: (state: 'pending' | 'running') => `UPDATE message_batch_items SET state = 'expired', lease_until = NULL
    WHERE rowid IN (SELECT rowid FROM message_batch_items WHERE state = '${state}' AND batch_id = ?${state === 'running' ? ' AND lease_until < ?' : ''} LIMIT ?)`,
  endable: `SELECT id FROM message_batches b WHERE status IN ('in_progress', 'canceling')
    AND NOT EXISTS (SELECT 1 FROM message_batch_items i WHERE i.batch_id = b.id AND i.state IN ('pending', 'running'))`,
  end: 'UPDATE message_batches SET status = \'ended\', ended_at = ? WHERE id = ? AND status <> \'ended\'',
  // A background response's one request finished: it has ended (left open, every claim until the
  // next settle would look it over among the background responses it runs first).
  endBackground: 'UPDATE message_batches SET status = \'ended\', ended_at = ? WHERE id = ? AND background = 1 AND status <> \'ended\'',
  outcomes: 'SELECT idx, custom_id, state, result FROM message_batch_items WHERE batch_id = ? AND idx > ? ORDER BY idx LIMIT ?',
  updateOpenAi: 'UPDATE message_batches SET openai = ? WHERE id = ?',
  // the requests of batches that ended long ago, and of batch creations that never finished
  pruneItems: 'DELETE FROM message_batch_items WHERE batch_id IN (SELECT id FROM message_batches WHERE status = \'ended\' AND ended_at < ?) OR batch_id NOT IN (SELECT id FROM message_batches)',
  prune: 'DELETE FROM message_batches WHERE status = \'ended\' AND ended_at < ?',
  deleteItems: 'DELETE FROM message_batch_items WHERE batch_id = ?',
  pruneStream: 'DELETE FROM background_stream_events WHERE response_id IN (SELECT id FROM message_batches WHERE status = \'ended\' AND ended_at < ?) OR response_id NOT IN (SELECT id FROM message_batches)',
  deleteStream: 'DELETE FROM background_stream_events WHERE response_id = ?',
  streamEvents: 'SELECT seq, frame FROM background_stream_events WHERE response_id = ? AND seq > ? ORDER BY seq LIMIT ?',
  lastStreamSeq: 'SELECT MAX(seq) AS seq FROM background_stream_events WHERE response_id = ?',
  delete: 'DELETE FROM message_batches WHERE id = ?',
} as const;

/**
 * Pages go newest first: `after_id` asks for older batches than that one, `before_id` for newer
 * ones (the nearest first, so read oldest first and turned round).
 */
function pageSql(page: BatchPage): { sql: string; args: unknown[]; order: 'ASC' | 'DESC' } {
  if (page.after_id) return { sql: ' AND (created_at, id) < (SELECT created_at, id FROM message_batches WHERE id = ?)', args: [page.after_id], order: 'DESC' };
  if (page.before_id) return { sql: ' AND (created_at, id) > (SELECT created_at, id FROM message_batches WHERE id = ?)', args: [page.before_id], order: 'ASC' };
  return { sql: '', args: [], order: 'DESC' };
}

function newestFirst(rows: Record<string, unknown>[], order: 'ASC' | 'DESC'): BatchRecord[] {
  const out = rows.map(toBatch);
  return order === 'ASC' ? out.reverse() : out;
}

function toOutcome(r: Record<string, unknown>): ItemOutcome {
  return { idx: Number(r.idx), custom_id: String(r.custom_id), state: r.state as ItemState, result: r.result === null || r.result === undefined ? null : String(r.result) };
}

/**
 * The accounts waiting, in turn: from the first after `last` (the last one the previous claim
 * served), so that when a claim cannot serve them all, the next serves the others first.
 */
function rotated(accounts: string[], last: string): string[] {
  accounts.sort();
  const at = accounts.findIndex((a) => a > last);
  return at <= 0 ? accounts : [...accounts.slice(at), ...accounts.slice(0, at)];
}

/**
 * Who gives how many of `n` requests: each round, every account still with requests gives an
 * equal share of what is left, at most its cap. Told back how many each gave (fewer than asked:
 * it has no more ready). Shared by both stores' claims (one synchronous, one not).
 */
function* shares(accounts: readonly string[], n: number, cap: (account: string) => number): Generator<[string, number], void, number> {
  const given = new Map<string, number>();
  let active = accounts.filter((a) => cap(a) > 0);
  let left = n;
  while (left > 0 && active.length) {
    const per = Math.ceil(left / active.length);
    const next: string[] = [];
    for (const account of active) {
      const room = cap(account) - (given.get(account) ?? 0);
      const asked = Math.min(per, left, room);
      if (asked <= 0) continue;
      const got: number = yield [account, asked];
      given.set(account, (given.get(account) ?? 0) + got);
      left -= got;
      if (got === asked && room > got) next.push(account);
      if (left <= 0) break;
    }
    active = next;
  }
}

/** One list per account, read in turn: the first of each, then the second of each, ... */
function interleave<T>(lists: readonly T[][]): T[] {
  const out: T[] = [];
  for (let i = 0; out.length < lists.reduce((t, l) => t + l.length, 0); i++) for (const l of lists) if (i < l.length) out.push(l[i]);
  return out;
}

export class SqliteBatchStore implements BatchStore {
  /** Prepared once: preparing a statement costs more than running these. */
  private readonly statements = new Map<string, Statement>();
  /** The last account the last claim served: the next starts after it. */
  private lastServed = '';
  constructor(private readonly db: SqliteDb) {
    migrateSqlite(db, 'batches', [MIGRATION('INTEGER'), MIGRATION_OPENAI, MIGRATION_BACKGROUND, MIGRATION_PAUSE, MIGRATION_STREAM]);
  }
  private sql(text: string): Statement {
    let st = this.statements.get(text);
    if (!st) { st = this.db.prepare(text); this.statements.set(text, st); }
    return st;
  }
  /**
   * SQLite writes on the thread that serves requests: the requests go in chunks, yielding between
   * them, and the batch row last. Until it is written no request of the batch can be claimed or
   * seen; a start interrupted before it leaves rows `prune` removes.
   */
  async create(batch: BatchRecord, items: readonly NewItem[], stream: readonly string[] = []) {
    const insertItem = this.sql('INSERT INTO message_batch_items (batch_id, idx, custom_id, params, state) VALUES (?, ?, ?, ?, \'pending\')');
    // The end of the chunk that begins at `start`.
    const endOf = (start: number) => {
      let end = start;
      for (let bytes = 0; end < items.length && end - start < CREATE_CHUNK && (end === start || bytes + items[end].params.length <= CREATE_CHUNK_BYTES); end++) bytes += items[end].params.length;
      return end;
    };
    const chunk = this.db.transaction((start: number, end: number) => {
      for (let i = start; i < end; i++) insertItem.run(batch.id, i, items[i].custom_id, items[i].params);
    });
    // A batch of one (a background response) is written in one transaction, its first events with it.
    const last = this.db.transaction((start: number) => {
      if (start < items.length) chunk(start, items.length);
      const insertEvent = this.sql('INSERT OR IGNORE INTO background_stream_events (response_id, seq, frame) VALUES (?, ?, ?)');
      stream.forEach((frame, seq) => insertEvent.run(batch.id, seq, frame));
      this.sql(`INSERT INTO message_batches (${BATCH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(...batchValues(batch));
    });
    let start = 0;
    for (let end = endOf(start); end < items.length; start = end, end = endOf(start)) {
      chunk(start, end);
      await new Promise((r) => setImmediate(r));
    }
    last(start);
  }
  async get(id: string) {
    const r = this.sql(`SELECT ${BATCH_COLUMNS} FROM message_batches WHERE id = ?`).get(id) as Record<string, unknown> | undefined;
    return r ? toBatch(r) : null;
  }
  async counts(id: string) {
    const out = emptyCounts();
    for (const r of this.sql(SQL.counts).all(id) as { state: ItemState; n: number }[]) out[r.state] = Number(r.n);
    return out;
  }
  async list(owner: { accountId: string; orgId: string | null }, page: BatchPage, api?: BatchApi) {
    const c = pageSql(page);
    return newestFirst(this.sql(SQL.ownerPage(c.sql, c.order, api)).all(owner.accountId, owner.orgId, ...c.args, page.limit) as Record<string, unknown>[], c.order);
  }
  async queued(accountId: string) {
    return Number((this.sql(SQL.queued).get(accountId) as { n: number }).n);
  }
  async open(accountId: string) {
    return Number((this.sql(SQL.open).get(accountId) as { n: number }).n);
  }
  async recent(filter: { accountId?: string; status?: BatchStatus }, limit: number) {
    const a = filter.accountId ?? null; const st = filter.status ?? null;
    return (this.sql(SQL.recent).all(a, a, st, st, limit) as Record<string, unknown>[]).map(toBatch);
  }
  async claim(now: number, n: number, leaseMs: number, caps?: ReadonlyMap<string, number>) {
    return this.db.transaction(() => {
      const columns = `i.idx, i.custom_id, i.params, i.attempts, ${BATCH_COLUMNS.split(', ').map((c) => `b.${c}`).join(', ')}`;
      const taken = new Map<string, number>();
      const cap = (account: string) => (caps?.get(account) ?? Infinity) - (taken.get(account) ?? 0);
      const allowed = (r: Record<string, unknown>) => {
        const account = String(r.account_id);
        if (cap(account) <= 0) return false;
        taken.set(account, (taken.get(account) ?? 0) + 1);
        return true;
      };
      // Background responses, then claims whose node stopped (both few), each walking the
      // (state, batch_id, idx) index only as far as it needs.
      const rows: Record<string, unknown>[] = [];
      for (const b of this.sql(SQL.openBackground).all() as { id: string }[]) {
        if (rows.length >= n) break;
        rows.push(...(this.sql(`SELECT ${columns} ${SQL.claimFrom('pending')} AND i.batch_id = ? AND i.not_before <= ? LIMIT ?`).all(now, now, b.id, now, n - rows.length) as Record<string, unknown>[]).filter(allowed));
      }
      if (rows.length < n) rows.push(...(this.sql(`SELECT ${columns} ${SQL.claimFrom('running')} AND i.lease_until < ? ORDER BY i.batch_id, i.idx LIMIT ?`).all(now, now, now, n - rows.length) as Record<string, unknown>[]).filter(allowed));
      if (rows.length < n) {
        const accounts = (this.sql(SQL.waitingAccounts).all(now, now, now) as { account_id: string }[]).map((r) => r.account_id);
        const order = rotated(accounts, this.lastServed);
        const lists = new Map<string, Record<string, unknown>[]>();
        const turns = shares(order, n - rows.length, cap);
        const ready = this.sql(`SELECT ${columns} ${SQL.claimFrom('pending')} AND i.batch_id = ? AND i.not_before <= ? ORDER BY i.idx LIMIT ?`);
        for (let step = turns.next(0); !step.done; ) {
          const [account, asked] = step.value;
          const got: Record<string, unknown>[] = [];
          for (const b of this.sql(SQL.accountBatches(' INDEXED BY message_batches_account')).all(account, now, now, now, asked) as { id: string }[]) {
            if (got.length >= asked) break;
            got.push(...ready.all(now, now, b.id, now, asked - got.length) as Record<string, unknown>[]);
          }
          if (got.length) lists.set(account, [...(lists.get(account) ?? []), ...got]);
          step = turns.next(got.length);
        }
        const served = order.filter((a) => lists.has(a));
        if (served.length) this.lastServed = served[served.length - 1];
        rows.push(...interleave(served.map((a) => lists.get(a)!)));
      }
      const mark = this.sql('UPDATE message_batch_items SET state = \'running\', lease_until = ?, attempts = attempts + 1 WHERE batch_id = ? AND idx = ?');
      // A background request whose claim ran out is read by both walks.
      const seen = new Set<string>();
      return rows.filter((r) => { const k = `${r.id}\u0000${r.idx}`; if (seen.has(k)) return false; seen.add(k); return true; }).map((r) => {
        mark.run(now + leaseMs, r.id, r.idx);
        return { batch: toBatch(r), idx: Number(r.idx), custom_id: String(r.custom_id), params: String(r.params), attempts: Number(r.attempts) + 1 };
      });
    })();
  }
  async finish(items: readonly FinishedItem[]) {
    const st = this.sql(SQL.finish);
    const end = this.sql(SQL.endBackground);
    this.db.transaction(() => {
      for (const f of items) {
        if (st.run(f.state, f.result, f.batchId, f.idx).changes > 0 && f.at !== undefined) end.run(f.at, f.batchId);
      }
    })();
  }
  async retryLater(batchId: string, idx: number, notBefore: number, notRun = false) {
    this.sql(notRun ? SQL.putBack : SQL.retry).run(notBefore, batchId, idx);
  }
  async pauseAccount(accountId: string, until: number) {
    this.sql(SQL.pauseAccount).run(until, accountId, until);
  }
  async renewLease(batchId: string, idx: number, until: number) {
    this.sql(SQL.renew).run(until, batchId, idx);
  }
  /** Run an update of at most `UPDATE_SLICE` rows (its last parameter) until it changes fewer, yielding between. */
  private async inSlices(sql: string, args: unknown[]): Promise<void> {
    const st = this.sql(sql);
    while (st.run(...args, UPDATE_SLICE).changes >= UPDATE_SLICE) await new Promise((r) => setImmediate(r));
  }
  async cancel(id: string, now: number) {
    const changed = this.sql(SQL.cancelBatch).run(now, id).changes > 0;
    // (a batch no longer in progress is never claimed: what is pending waits for this, or the settle)
    if (changed) await this.inSlices(SQL.cancelSome, [id]);
    return changed;
  }
  async settle(now: number) {
    for (const r of this.sql(SQL.canceling).all() as { id: string }[]) await this.inSlices(SQL.cancelSome, [r.id]);
    for (const r of this.sql(SQL.overdue).all(now) as { id: string }[]) {
      await this.inSlices(SQL.expireSome('pending'), [r.id]);
      await this.inSlices(SQL.expireSome('running'), [r.id, now]);
    }
    return this.db.transaction(() => {
      const ids = (this.sql(SQL.endable).all() as { id: string }[]).map((r) => r.id);
      const end = this.sql(SQL.end);
      for (const id of ids) end.run(now, id);
      return ids;
    })();
  }
  async outcomes(id: string, after = -1, limit = 1_000_000) {
    return (this.sql(SQL.outcomes).all(id, after, limit) as Record<string, unknown>[]).map(toOutcome);
  }
  async updateOpenAi(id: string, openai: OpenAiBatch) {
    this.sql(SQL.updateOpenAi).run(JSON.stringify(openai), id);
  }
  async delete(id: string) {
    return this.db.transaction(() => {
      this.sql(SQL.deleteItems).run(id);
      this.sql(SQL.deleteStream).run(id);
      return this.sql(SQL.delete).run(id).changes > 0;
    })();
  }
  async reassignOrg(accountId: string, orgId: string | null) {
    this.sql('UPDATE message_batches SET org_id = ? WHERE account_id = ?').run(orgId, accountId);
  }
  async prune(before: number) {
    return this.db.transaction(() => {
      this.sql(SQL.pruneItems).run(before);
      this.sql(SQL.pruneStream).run(before);
      return this.sql(SQL.prune).run(before).changes;
    })();
  }
  async appendStream(id: string, first: number, frames: readonly string[]) {
    const st = this.sql('INSERT OR IGNORE INTO background_stream_events (response_id, seq, frame) VALUES (?, ?, ?)');
    this.db.transaction(() => { frames.forEach((f, i) => st.run(id, first + i, f)); })();
  }
  async streamEvents(id: string, after: number, limit: number) {
    return (this.sql(SQL.streamEvents).all(id, after, limit) as { seq: number; frame: string }[]).map((r) => ({ seq: Number(r.seq), frame: r.frame }));
  }
  async lastStreamSeq(id: string) {
    const r = this.sql(SQL.lastStreamSeq).get(id) as { seq: number | null };
    return r.seq === null ? -1 : Number(r.seq);
  }
}

/** `?` placeholders numbered for PostgreSQL. */
function pgSql(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

export class PostgresBatchStore implements BatchStore {
  /** The last account the last claim served (on this node): the next starts after it. */
  private lastServed = '';
  constructor(private readonly pool: PgPool) {}
  async migrate(): Promise<void> {
    await migratePostgres(this.pool, 'batches', [MIGRATION('BIGINT'), MIGRATION_OPENAI, MIGRATION_BACKGROUND, MIGRATION_PAUSE, MIGRATION_STREAM]);
  }
  private async q(sql: string, args: unknown[] = []) {
    return this.pool.query(pgSql(sql), args);
  }
  async create(batch: BatchRecord, items: readonly NewItem[], stream: readonly string[] = []) {
    await inTransaction(this.pool, async (client) => {
      await client.query(pgSql(`INSERT INTO message_batches (${BATCH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`), batchValues(batch));
      if (stream.length) {
        await client.query('INSERT INTO background_stream_events (response_id, seq, frame) SELECT $1, n - 1, frame FROM unnest($2::text[]) WITH ORDINALITY AS t(frame, n)', [batch.id, stream]);
      }
      for (let start = 0; start < items.length; start += 1000) {
        const slice = items.slice(start, start + 1000);
        await client.query(
          `INSERT INTO message_batch_items (batch_id, idx, custom_id, params, state)
           SELECT $1, idx, custom_id, params, 'pending' FROM unnest($2::int[], $3::text[], $4::text[]) AS t(idx, custom_id, params)`,
          [batch.id, slice.map((_, i) => start + i), slice.map((it) => it.custom_id), slice.map((it) => it.params)],
        );
      }
    });
  }
  async get(id: string) {
    const { rows } = await this.q(`SELECT ${BATCH_COLUMNS} FROM message_batches WHERE id = ?`, [id]);
    return rows.length ? toBatch(rows[0]) : null;
  }
  async counts(id: string) {
    const out = emptyCounts();
    for (const r of (await this.q(SQL.counts, [id])).rows) out[r.state as ItemState] = Number(r.n);
    return out;
  }
  async list(owner: { accountId: string; orgId: string | null }, page: BatchPage, api?: BatchApi) {
    const c = pageSql(page);
    return newestFirst((await this.q(SQL.ownerPage(c.sql, c.order, api), [owner.accountId, owner.orgId, ...c.args, page.limit])).rows, c.order);
  }
  async queued(accountId: string) {
    return Number((await this.q(SQL.queued, [accountId])).rows[0].n);
  }
  async open(accountId: string) {
    return Number((await this.q(SQL.open, [accountId])).rows[0].n);
  }
  async recent(filter: { accountId?: string; status?: BatchStatus }, limit: number) {
    const a = filter.accountId ?? null; const st = filter.status ?? null;
    return (await this.pool.query(pgSql(SQL.recent).replace('$1 IS NULL', '$1::text IS NULL').replace('$3 IS NULL', '$3::text IS NULL'), [a, a, st, st, limit])).rows.map(toBatch);
  }
  async claim(now: number, n: number, leaseMs: number, caps?: ReadonlyMap<string, number>) {
    type Row = { batch_id: string; idx: number; custom_id: string; params: string; attempts: number };
    const claimWhere = async (state: 'running' | 'pending', condition: string, limit: number, extra: unknown[] = []) => (await this.pool.query(
      `WITH ready AS (SELECT i.batch_id, i.idx ${SQL.claimFrom(state, '$1')} AND ${condition} ORDER BY i.batch_id, i.idx LIMIT $2 FOR UPDATE OF i SKIP LOCKED)
       UPDATE message_batch_items i SET state = 'running', lease_until = $3, attempts = i.attempts + 1
       FROM ready WHERE i.batch_id = ready.batch_id AND i.idx = ready.idx
       RETURNING i.batch_id, i.idx, i.custom_id, i.params, i.attempts`,
      [now, limit, now + leaseMs, ...extra],
    )).rows as Row[];
    const taken = new Map<string, number>();
    const cap = (account: string) => (caps?.get(account) ?? Infinity) - (taken.get(account) ?? 0);
    const rows: Row[] = [];
    // A background response (one request) of an account over its cap is left for a later claim.
    const background = (await this.q(SQL.openBackground)).rows.filter((r) => {
      const account = String(r.account_id);
      if (cap(account) <= 0) return false;
      taken.set(account, (taken.get(account) ?? 0) + 1);
      return true;
    }).map((r) => String(r.id));
    if (background.length) rows.push(...await claimWhere('pending', `i.not_before <= $1 AND i.batch_id = ANY($4::text[])`, n, [background]));
    const none = [...caps ?? []].filter(([, c]) => c <= 0).map(([a]) => a);
    if (rows.length < n) rows.push(...await claimWhere('running', 'i.lease_until < $1 AND NOT (b.account_id = ANY($4::text[]))', n - rows.length, [none]));
    const lists = new Map<string, Row[]>();
    let order: string[] = [];
    if (rows.length < n) {
      order = rotated((await this.q(SQL.waitingAccounts, [now, now, now])).rows.map((r) => String(r.account_id)), this.lastServed);
      const turns = shares(order, n - rows.length, cap);
      for (let step = turns.next(0); !step.done; ) {
        const [account, asked] = step.value;
        const got: Row[] = [];
        for (const b of (await this.q(SQL.accountBatches(), [account, now, now, now, asked])).rows) {
          if (got.length >= asked) break;
          got.push(...await claimWhere('pending', 'i.not_before <= $1 AND i.batch_id = $4', asked - got.length, [String(b.id)]));
        }
        if (got.length) lists.set(account, [...(lists.get(account) ?? []), ...got]);
        step = turns.next(got.length);
      }
    }
    const batches = new Map<string, BatchRecord>();
    const claimed = async (list: Row[]) => {
      const out: ClaimedItem[] = [];
      for (const r of list) {
        let batch = batches.get(r.batch_id);
        if (!batch) { batch = (await this.get(r.batch_id))!; batches.set(r.batch_id, batch); }
        out.push({ batch, idx: Number(r.idx), custom_id: r.custom_id, params: r.params, attempts: Number(r.attempts) });
      }
      // In the order sent: oldest batch first (an update returns its rows in no order).
      return out.sort((a, b) => a.batch.created_at - b.batch.created_at || (a.batch.id < b.batch.id ? -1 : a.batch.id > b.batch.id ? 1 : a.idx - b.idx));
    };
    // Background responses first, then claims taken up again, then the accounts in turn.
    const first = await claimed(rows);
    const rank = (c: ClaimedItem) => (c.batch.background ? 0 : 1);
    first.sort((a, b) => rank(a) - rank(b));
    const served = order.filter((a) => lists.has(a));
    if (served.length) this.lastServed = served[served.length - 1];
    const inTurn: ClaimedItem[][] = [];
    for (const a of served) inTurn.push(await claimed(lists.get(a)!));
    return [...first, ...interleave(inTurn)];
  }
  async finish(items: readonly FinishedItem[]) {
    if (!items.length) return;
    await inTransaction(this.pool, async (client) => {
      const done = (await client.query(
        `UPDATE message_batch_items i SET state = f.state, result = f.result, lease_until = NULL
         FROM unnest($1::text[], $2::int[], $3::text[], $4::text[]) AS f(batch_id, idx, state, result)
         WHERE i.batch_id = f.batch_id AND i.idx = f.idx AND i.state = 'running' RETURNING i.batch_id`,
        [items.map((f) => f.batchId), items.map((f) => f.idx), items.map((f) => f.state), items.map((f) => f.result)],
      )).rows.map((r) => String(r.batch_id));
      const at = new Map(items.filter((f) => f.at !== undefined).map((f) => [f.batchId, f.at!]));
      const ended = [...new Set(done)].filter((id) => at.has(id));
      if (ended.length) {
        await client.query(
          `UPDATE message_batches b SET status = 'ended', ended_at = e.at FROM unnest($1::text[], $2::bigint[]) AS e(id, at)
           WHERE b.id = e.id AND b.background = 1 AND b.status <> 'ended'`,
          [ended, ended.map((id) => at.get(id)!)],
        );
      }
    });
  }
  async retryLater(batchId: string, idx: number, notBefore: number, notRun = false) {
    await this.q(notRun ? SQL.putBack : SQL.retry, [notBefore, batchId, idx]);
  }
  async pauseAccount(accountId: string, until: number) {
    await this.q(SQL.pauseAccount, [until, accountId, until]);
  }
  async renewLease(batchId: string, idx: number, until: number) {
    await this.q(SQL.renew, [until, batchId, idx]);
  }
  async cancel(id: string, now: number) {
    const changed = ((await this.q(SQL.cancelBatch, [now, id])).rowCount ?? 0) > 0;
    if (changed) await this.q(SQL.cancelPending);
    return changed;
  }
  async settle(now: number) {
    await this.q(SQL.cancelPending);
    for (const r of (await this.q(SQL.overdue, [now])).rows) await this.q(SQL.expire, [r.id, now]);
    const ids = (await this.q(SQL.endable)).rows.map((r) => String(r.id));
    for (const id of ids) await this.q(SQL.end, [now, id]);
    return ids;
  }
  async outcomes(id: string, after = -1, limit = 1_000_000) {
    return (await this.q(SQL.outcomes, [id, after, limit])).rows.map(toOutcome);
  }
  async updateOpenAi(id: string, openai: OpenAiBatch) {
    await this.q(SQL.updateOpenAi, [JSON.stringify(openai), id]);
  }
  async delete(id: string) {
    await this.q(SQL.deleteItems, [id]);
    await this.q(SQL.deleteStream, [id]);
    return ((await this.q(SQL.delete, [id])).rowCount ?? 0) > 0;
  }
  async reassignOrg(accountId: string, orgId: string | null) {
    await this.q('UPDATE message_batches SET org_id = ? WHERE account_id = ?', [orgId, accountId]);
  }
  async prune(before: number) {
    await this.q(SQL.pruneItems, [before]);
    await this.q(SQL.pruneStream, [before]);
    return (await this.q(SQL.prune, [before])).rowCount ?? 0;
  }
  async appendStream(id: string, first: number, frames: readonly string[]) {
    if (!frames.length) return;
    await this.pool.query(
      `INSERT INTO background_stream_events (response_id, seq, frame)
       SELECT $1, $2::int + n - 1, frame FROM unnest($3::text[]) WITH ORDINALITY AS t(frame, n) ON CONFLICT DO NOTHING`,
      [id, first, frames],
    );
  }
  async streamEvents(id: string, after: number, limit: number) {
    return (await this.q(SQL.streamEvents, [id, after, limit])).rows.map((r) => ({ seq: Number(r.seq), frame: String(r.frame) }));
  }
  async lastStreamSeq(id: string) {
    const seq = (await this.q(SQL.lastStreamSeq, [id])).rows[0]?.seq;
    return seq === null || seq === undefined ? -1 : Number(seq);
  }
}
