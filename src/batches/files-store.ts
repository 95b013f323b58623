/**
 * Where the files of OpenAI's Files API stay: uploaded batch input files and files requests name
 * as their input (`user_data`, `assistants`, `vision`), kept in chunks (an upload
 * is written as it arrives, never held whole in memory), and the output and error files of ended
 * batches, whose content is the batch's results (a row each, no copy). SQLite for the embedded
 * default, PostgreSQL for many nodes.
 */
import type { Statement } from 'better-sqlite3';
import { migratePostgres, migrateSqlite, type PgPool, type SqliteDb } from '../store/index.ts';

export type FilePurpose = 'batch' | 'batch_output' | InputFilePurpose;
/** Files a request names as its input (`input_file`, `input_image`, a chat `file` part), sent inline to the upstream. */
export type InputFilePurpose = 'user_data' | 'assistants' | 'vision';
export const INPUT_FILE_PURPOSES: readonly string[] = ['user_data', 'assistants', 'vision'];
/** Every purpose a kept file has. */
export const FILE_PURPOSES: readonly FilePurpose[] = ['batch', 'batch_output', 'user_data', 'assistants', 'vision'];

export interface StoredFile {
  id: string;
  account_id: string;
  org_id: string | null;
  purpose: FilePurpose;
  filename: string;
  /** Null for a batch's output until it is first described (its size is that of the lines it is made of). */
  bytes: number | null;
  created_at: number;
  expires_at: number | null;
  /** Output and error files: the batch whose results they hold, and which of them. */
  batch_id: string | null;
  kind: 'output' | 'error' | null;
}

export interface FilePage { purpose?: string | readonly string[]; after?: string; limit: number; order: 'asc' | 'desc'; now: number }

export class FileTooLarge extends Error {}

export interface FileStore {
  /**
   * Write an upload as it arrives (chunks of about `CHUNK_BYTES`), then its row: until the row is
   * written the file cannot be seen. Past `maxBytes` the chunks are deleted and `FileTooLarge`
   * thrown. Returns the size.
   */
  upload(file: Omit<StoredFile, 'bytes'>, content: AsyncIterable<Buffer>, maxBytes: number): Promise<number>;
  /** A batch's output or error file (no content of its own); a second call for the same id does nothing. */
  addOutput(file: StoredFile): Promise<void>;
  get(id: string): Promise<StoredFile | null>;
  /** The files of an account or its organisation that have not expired, by creation time. */
  list(owner: { accountId: string; orgId: string | null }, page: FilePage): Promise<StoredFile[]>;
  /** For operators: the newest files of every account, or of one, or of one purpose (expired ones not yet pruned included). */
  recent(filter: { accountId?: string; purpose?: string }, limit: number): Promise<StoredFile[]>;
  /** An uploaded file's content, a chunk at a time (a large file is never read in one statement). */
  chunks(id: string): AsyncIterable<Buffer>;
  setBytes(id: string, bytes: number): Promise<void>;
  setExpiry(id: string, expiresAt: number): Promise<void>;
  /** The purpose, known once the whole multipart body is read (the SDK sends the file first). */
  setPurpose(id: string, purpose: FilePurpose): Promise<void>;
  /** The uploads an account, or an organisation, holds (not expired; batch output files have no content and are not counted). */
  held(owner: { accountId: string } | { orgId: string }, now: number): Promise<{ files: number; bytes: number }>;
  delete(id: string): Promise<boolean>;
  /** Delete expired files, and chunks of uploads abandoned before `staleBefore`; how many files. */
  prune(now: number, staleBefore: number): Promise<number>;
  /** Record the account's current organisation on its files (it moved: lists follow it). */
  reassignOrg(accountId: string, orgId: string | null): Promise<void>;
}

export const CHUNK_BYTES = 1 << 20;

/** A file's content whole. */
export async function readAll(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

const MIGRATION = (big: string, blob: string) => `
  CREATE TABLE IF NOT EXISTS batch_files (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, org_id TEXT, purpose TEXT NOT NULL, filename TEXT NOT NULL,
    bytes ${big}, created_at ${big} NOT NULL, expires_at ${big}, batch_id TEXT, kind TEXT);
  CREATE INDEX IF NOT EXISTS batch_files_account ON batch_files (account_id, created_at);
  CREATE INDEX IF NOT EXISTS batch_files_org ON batch_files (org_id, created_at);
  CREATE TABLE IF NOT EXISTS batch_file_chunks (
    file_id TEXT NOT NULL, seq INTEGER NOT NULL, data ${blob} NOT NULL, written_at ${big} NOT NULL, PRIMARY KEY (file_id, seq))`;

const COLUMNS = 'id, account_id, org_id, purpose, filename, bytes, created_at, expires_at, batch_id, kind';
const values = (f: StoredFile) => [f.id, f.account_id, f.org_id, f.purpose, f.filename, f.bytes, f.created_at, f.expires_at, f.batch_id, f.kind];

function toFile(r: Record<string, unknown>): StoredFile {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    id: String(r.id), account_id: String(r.account_id), org_id: (r.org_id as string | null) ?? null,
    purpose: r.purpose as FilePurpose, filename: String(r.filename), bytes: n(r.bytes),
    created_at: Number(r.created_at), expires_at: n(r.expires_at),
    batch_id: (r.batch_id as string | null) ?? null, kind: (r.kind as StoredFile['kind']) ?? null,
  };
}

const SQL = {
  insert: `INSERT INTO batch_files (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  get: `SELECT ${COLUMNS} FROM batch_files WHERE id = ?`,
  page: (after: boolean, purposes: number, order: 'ASC' | 'DESC') => `SELECT ${COLUMNS} FROM batch_files
    WHERE (account_id = ? OR (org_id IS NOT NULL AND org_id = ?)) AND (expires_at IS NULL OR expires_at > ?)
    ${purposes ? `AND purpose IN (${Array(purposes).fill('?').join(', ')})` : ''}
    ${after ? `AND (created_at, id) ${order === 'DESC' ? '<' : '>'} (SELECT created_at, id FROM batch_files WHERE id = ?)` : ''}
    ORDER BY created_at ${order}, id ${order} LIMIT ?`,
  recent: `SELECT ${COLUMNS} FROM batch_files WHERE (? IS NULL OR account_id = ?) AND (? IS NULL OR purpose = ?) ORDER BY created_at DESC, id DESC LIMIT ?`,
  chunk: 'SELECT data FROM batch_file_chunks WHERE file_id = ? AND seq = ?',
  addChunk: 'INSERT INTO batch_file_chunks (file_id, seq, data, written_at) VALUES (?, ?, ?, ?)',
  setBytes: 'UPDATE batch_files SET bytes = ? WHERE id = ?',
  setExpiry: 'UPDATE batch_files SET expires_at = ? WHERE id = ?',
  setPurpose: 'UPDATE batch_files SET purpose = ? WHERE id = ?',
  deleteChunks: 'DELETE FROM batch_file_chunks WHERE file_id = ?',
  delete: 'DELETE FROM batch_files WHERE id = ?',
  heldByAccount: 'SELECT COUNT(*) AS files, COALESCE(SUM(bytes), 0) AS bytes FROM batch_files WHERE account_id = ? AND batch_id IS NULL AND (expires_at IS NULL OR expires_at > ?)',
  heldByOrg: 'SELECT COUNT(*) AS files, COALESCE(SUM(bytes), 0) AS bytes FROM batch_files WHERE org_id = ? AND batch_id IS NULL AND (expires_at IS NULL OR expires_at > ?)',
  expiredChunks: 'DELETE FROM batch_file_chunks WHERE file_id IN (SELECT id FROM batch_files WHERE expires_at IS NOT NULL AND expires_at <= ?)',
  expired: 'DELETE FROM batch_files WHERE expires_at IS NOT NULL AND expires_at <= ?',
  abandoned: 'DELETE FROM batch_file_chunks WHERE written_at < ? AND file_id NOT IN (SELECT id FROM batch_files)',
} as const;

function pageArgs(owner: { accountId: string; orgId: string | null }, page: FilePage): { sql: string; args: unknown[] } {
  const order = page.order === 'asc' ? 'ASC' : 'DESC';
  const args: unknown[] = [owner.accountId, owner.orgId, page.now];
  const purposes = page.purpose === undefined || page.purpose === '' ? [] : typeof page.purpose === 'string' ? [page.purpose] : page.purpose;
  args.push(...purposes);
  if (page.after) args.push(page.after);
  args.push(page.limit);
  return { sql: SQL.page(Boolean(page.after), purposes.length, order), args };
}

/** Collect an upload into chunks of about CHUNK_BYTES, handing each to `write`; throws FileTooLarge past the limit. */
async function chunked(content: AsyncIterable<Buffer>, maxBytes: number, write: (seq: number, data: Buffer) => Promise<void> | void): Promise<number> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let total = 0;
  let seq = 0;
  for await (const part of content) {
    total += part.length;
    if (total > maxBytes) throw new FileTooLarge(`larger than ${maxBytes} bytes`);
    pending.push(part);
    pendingBytes += part.length;
    if (pendingBytes >= CHUNK_BYTES) {
      await write(seq++, Buffer.concat(pending));
      pending = []; pendingBytes = 0;
    }
  }
  if (pendingBytes > 0 || seq === 0) await write(seq, Buffer.concat(pending));
  return total;
}

export class SqliteFileStore implements FileStore {
  private readonly statements = new Map<string, Statement>();
  constructor(private readonly db: SqliteDb) {
    migrateSqlite(db, 'batch_files', [MIGRATION('INTEGER', 'BLOB')]);
  }
  private sql(text: string): Statement {
    let st = this.statements.get(text);
    if (!st) { st = this.db.prepare(text); this.statements.set(text, st); }
    return st;
  }
  async upload(file: Omit<StoredFile, 'bytes'>, content: AsyncIterable<Buffer>, maxBytes: number) {
    const insert = this.sql(SQL.addChunk);
    try {
      // One chunk per statement: the serving thread is never held for more than one megabyte's write.
      const bytes = await chunked(content, maxBytes, (seq, data) => { insert.run(file.id, seq, data, Date.now()); });
      this.sql(SQL.insert).run(...values({ ...file, bytes }));
      return bytes;
    } catch (err) {
      this.sql(SQL.deleteChunks).run(file.id);
      throw err;
    }
  }
  async addOutput(file: StoredFile) {
    this.sql(SQL.insert.replace('INSERT', 'INSERT OR IGNORE')).run(...values(file));
  }
  async get(id: string) {
    const r = this.sql(SQL.get).get(id) as Record<string, unknown> | undefined;
    return r ? toFile(r) : null;
  }
  async list(owner: { accountId: string; orgId: string | null }, page: FilePage) {
    const q = pageArgs(owner, page);
    return (this.sql(q.sql).all(...q.args) as Record<string, unknown>[]).map(toFile);
  }
  async recent(filter: { accountId?: string; purpose?: string }, limit: number) {
    const a = filter.accountId ?? null; const p = filter.purpose ?? null;
    return (this.sql(SQL.recent).all(a, a, p, p, limit) as Record<string, unknown>[]).map(toFile);
  }
  async *chunks(id: string) {
    const read = this.sql(SQL.chunk);
    for (let seq = 0; ; seq++) {
      const row = read.get(id, seq) as { data: Buffer } | undefined;
      if (!row) return;
      yield row.data;
    }
  }
  async setBytes(id: string, bytes: number) {
    this.sql(SQL.setBytes).run(bytes, id);
  }
  async setExpiry(id: string, expiresAt: number) {
    this.sql(SQL.setExpiry).run(expiresAt, id);
  }
  async setPurpose(id: string, purpose: FilePurpose) {
    this.sql(SQL.setPurpose).run(purpose, id);
  }
  async held(owner: { accountId: string } | { orgId: string }, now: number) {
    const r = ('accountId' in owner ? this.sql(SQL.heldByAccount).get(owner.accountId, now) : this.sql(SQL.heldByOrg).get(owner.orgId, now)) as { files: number; bytes: number };
    return { files: Number(r.files), bytes: Number(r.bytes) };
  }
  async delete(id: string) {
    return this.db.transaction(() => {
      this.sql(SQL.deleteChunks).run(id);
      return this.sql(SQL.delete).run(id).changes > 0;
    })();
  }
  async reassignOrg(accountId: string, orgId: string | null) {
    this.sql('UPDATE batch_files SET org_id = ? WHERE account_id = ?').run(orgId, accountId);
  }
  async prune(now: number, staleBefore: number) {
    return this.db.transaction(() => {
      this.sql(SQL.expiredChunks).run(now);
      const n = this.sql(SQL.expired).run(now).changes;
      this.sql(SQL.abandoned).run(staleBefore);
      return n;
    })();
  }
}

const pgSql = (sql: string) => { let i = 0; return sql.replace(/\?/g, () => `$${++i}`); };

export class PostgresFileStore implements FileStore {
  constructor(private readonly pool: PgPool) {}
  async migrate(): Promise<void> {
    await migratePostgres(this.pool, 'batch_files', [MIGRATION('BIGINT', 'BYTEA')]);
  }
  private q(sql: string, args: unknown[] = []) {
    return this.pool.query(pgSql(sql), args);
  }
  async upload(file: Omit<StoredFile, 'bytes'>, content: AsyncIterable<Buffer>, maxBytes: number) {
    try {
      const bytes = await chunked(content, maxBytes, async (seq, data) => { await this.q(SQL.addChunk, [file.id, seq, data, Date.now()]); });
      await this.q(SQL.insert, values({ ...file, bytes }));
      return bytes;
    } catch (err) {
      await this.q(SQL.deleteChunks, [file.id]).catch(() => {});
      throw err;
    }
  }
  async addOutput(file: StoredFile) {
    await this.q(`${SQL.insert} ON CONFLICT (id) DO NOTHING`, values(file));
  }
  async get(id: string) {
    const { rows } = await this.q(SQL.get, [id]);
    return rows.length ? toFile(rows[0]) : null;
  }
  async list(owner: { accountId: string; orgId: string | null }, page: FilePage) {
    const q = pageArgs(owner, page);
    return (await this.q(q.sql, q.args)).rows.map(toFile);
  }
  async recent(filter: { accountId?: string; purpose?: string }, limit: number) {
    const a = filter.accountId ?? null; const p = filter.purpose ?? null;
    const sql = SQL.recent.replace('(? IS NULL OR account_id', '(?::text IS NULL OR account_id').replace('(? IS NULL OR purpose', '(?::text IS NULL OR purpose');
    return (await this.q(sql, [a, a, p, p, limit])).rows.map(toFile);
  }
  async *chunks(id: string) {
    for (let seq = 0; ; seq++) {
      const { rows } = await this.q(SQL.chunk, [id, seq]);
      if (!rows.length) return;
      yield rows[0].data as Buffer;
    }
  }
  async setBytes(id: string, bytes: number) {
    await this.q(SQL.setBytes, [bytes, id]);
  }
  async setExpiry(id: string, expiresAt: number) {
    await this.q(SQL.setExpiry, [expiresAt, id]);
  }
  async setPurpose(id: string, purpose: FilePurpose) {
    await this.q(SQL.setPurpose, [purpose, id]);
  }
  async held(owner: { accountId: string } | { orgId: string }, now: number) {
    const { rows } = 'accountId' in owner ? await this.q(SQL.heldByAccount, [owner.accountId, now]) : await this.q(SQL.heldByOrg, [owner.orgId, now]);
    return { files: Number(rows[0].files), bytes: Number(rows[0].bytes) };
  }
  async delete(id: string) {
    await this.q(SQL.deleteChunks, [id]);
    return ((await this.q(SQL.delete, [id])).rowCount ?? 0) > 0;
  }
  async reassignOrg(accountId: string, orgId: string | null) {
    await this.q('UPDATE batch_files SET org_id = ? WHERE account_id = ?', [orgId, accountId]);
  }
  async prune(now: number, staleBefore: number) {
    await this.q(SQL.expiredChunks, [now]);
    const n = (await this.q(SQL.expired, [now])).rowCount ?? 0;
    await this.q(SQL.abandoned, [staleBefore]);
    return n;
  }
}
