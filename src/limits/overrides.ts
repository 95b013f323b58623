/**
 * Runtime limit overrides (set through the admin API), stored durably: SQLite for the embedded
 * default, PostgreSQL for many nodes, memory for tests. Every node reloads them periodically, so a
 * change made on one node applies everywhere within `overrides_refresh_ms`.
 */
import { ulid } from '../events/index.ts';
import { migratePostgres, migrateSqlite, type PgPool, type SqliteDb } from '../store/index.ts';
import { limitOverrideInputSchema, type LimitOverrideInput, type PartialLimitSpec } from './config.ts';

export interface LimitOverride extends LimitOverrideInput {
  id: string;
  created_at: string;
  updated_at: string;
  /** `config` for overrides from warden.yaml (read-only), `runtime` for stored ones. */
  source: 'config' | 'runtime';
}

export interface LimitOverridesStore {
  list(): Promise<LimitOverride[]>;
  get(id: string): Promise<LimitOverride | null>;
  create(input: LimitOverrideInput): Promise<LimitOverride>;
  /** Replace an override's content; null when it does not exist. */
  update(id: string, input: LimitOverrideInput): Promise<LimitOverride | null>;
  delete(id: string): Promise<boolean>;
}

function newId(): string { return `lo_${ulid().toLowerCase()}`; }

/** Overrides kept in memory (tests, or a node without a store). */
export class MemoryLimitOverridesStore implements LimitOverridesStore {
  private readonly items = new Map<string, LimitOverride>();
  async list() { return [...this.items.values()].map((o) => structuredClone(o)); }
  async get(id: string) { const o = this.items.get(id); return o ? structuredClone(o) : null; }
  async create(input: LimitOverrideInput) {
    const now = new Date().toISOString();
    const o: LimitOverride = { ...limitOverrideInputSchema.parse(input), id: newId(), created_at: now, updated_at: now, source: 'runtime' };
    this.items.set(o.id, o);
    return structuredClone(o);
  }
  async update(id: string, input: LimitOverrideInput) {
    const old = this.items.get(id);
    if (!old) return null;
    const o: LimitOverride = { ...limitOverrideInputSchema.parse(input), id, created_at: old.created_at, updated_at: new Date().toISOString(), source: 'runtime' };
    this.items.set(id, o);
    return structuredClone(o);
  }
  async delete(id: string) { return this.items.delete(id); }
}

interface Row {
  id: string; scope: string; subject: string; model: string | null; limits: string | PartialLimitSpec;
  note: string | null; expires_at: string | Date | null; created_at: string | Date; updated_at: string | Date;
}

function iso(v: string | Date | null): string | null {
  if (v === null) return null;
  return v instanceof Date ? v.toISOString() : v;
}

function fromRow(r: Row): LimitOverride {
  return {
    id: r.id,
    scope: r.scope as LimitOverride['scope'],
    subject: r.subject,
    model: r.model,
    limits: typeof r.limits === 'string' ? JSON.parse(r.limits) : r.limits,
    note: r.note,
    expires_at: iso(r.expires_at),
    created_at: iso(r.created_at)!,
    updated_at: iso(r.updated_at)!,
    source: 'runtime',
  };
}

function checkTable(table: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(table)) throw new Error(`invalid table name ${table}`);
  return table;
}

/** Overrides in the embedded SQLite database. */
export class SqliteLimitOverridesStore implements LimitOverridesStore {
  private readonly table: string;
  constructor(private readonly db: SqliteDb, opts: { table?: string } = {}) {
    this.table = checkTable(opts.table ?? 'limit_overrides');
    migrateSqlite(db, `limits:${this.table}`, [
      `CREATE TABLE IF NOT EXISTS ${this.table} (id TEXT PRIMARY KEY, scope TEXT NOT NULL, subject TEXT NOT NULL, model TEXT,
        limits TEXT NOT NULL, note TEXT, expires_at TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`,
    ]);
  }
  async list() {
    return (this.db.prepare(`SELECT * FROM ${this.table} ORDER BY created_at, id`).all() as Row[]).map(fromRow);
  }
  async get(id: string) {
    const r = this.db.prepare(`SELECT * FROM ${this.table} WHERE id = ?`).get(id) as Row | undefined;
    return r ? fromRow(r) : null;
  }
  async create(input: LimitOverrideInput) {
    const v = limitOverrideInputSchema.parse(input);
    const now = new Date().toISOString();
    const id = newId();
    this.db.prepare(`INSERT INTO ${this.table} (id, scope, subject, model, limits, note, expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(id, v.scope, v.subject, v.model, JSON.stringify(v.limits), v.note, v.expires_at, now, now);
    return (await this.get(id))!;
  }
  async update(id: string, input: LimitOverrideInput) {
    const v = limitOverrideInputSchema.parse(input);
    const res = this.db.prepare(`UPDATE ${this.table} SET scope = ?, subject = ?, model = ?, limits = ?, note = ?, expires_at = ?, updated_at = ? WHERE id = ?`)
      .run(v.scope, v.subject, v.model, JSON.stringify(v.limits), v.note, v.expires_at, new Date().toISOString(), id);
    return res.changes === 0 ? null : this.get(id);
  }
  async delete(id: string) {
    return this.db.prepare(`DELETE FROM ${this.table} WHERE id = ?`).run(id).changes > 0;
  }
}

/** Overrides in PostgreSQL, shared by every node. Call `migrate()` once before use. */
export class PostgresLimitOverridesStore implements LimitOverridesStore {
  private readonly table: string;
  constructor(private readonly pool: PgPool, opts: { table?: string } = {}) {
    this.table = checkTable(opts.table ?? 'limit_overrides');
  }
  async migrate(): Promise<void> {
    await migratePostgres(this.pool, `limits:${this.table}`, [
      `CREATE TABLE IF NOT EXISTS ${this.table} (id TEXT PRIMARY KEY, scope TEXT NOT NULL, subject TEXT NOT NULL, model TEXT,
        limits JSONB NOT NULL, note TEXT, expires_at TIMESTAMPTZ, created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL)`,
    ]);
  }
  async list() {
    const { rows } = await this.pool.query(`SELECT * FROM ${this.table} ORDER BY created_at, id`);
    return (rows as Row[]).map(fromRow);
  }
  async get(id: string) {
    const { rows } = await this.pool.query(`SELECT * FROM ${this.table} WHERE id = $1`, [id]);
    return rows.length ? fromRow(rows[0] as Row) : null;
  }
  async create(input: LimitOverrideInput) {
    const v = limitOverrideInputSchema.parse(input);
    const now = new Date().toISOString();
    const { rows } = await this.pool.query(
      `INSERT INTO ${this.table} (id, scope, subject, model, limits, note, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING *`,
      [newId(), v.scope, v.subject, v.model, JSON.stringify(v.limits), v.note, v.expires_at, now],
    );
    return fromRow(rows[0] as Row);
  }
  async update(id: string, input: LimitOverrideInput) {
    const v = limitOverrideInputSchema.parse(input);
    const { rows } = await this.pool.query(
      `UPDATE ${this.table} SET scope = $2, subject = $3, model = $4, limits = $5, note = $6, expires_at = $7, updated_at = $8 WHERE id = $1 RETURNING *`,
      [id, v.scope, v.subject, v.model, JSON.stringify(v.limits), v.note, v.expires_at, new Date().toISOString()],
    );
    return rows.length ? fromRow(rows[0] as Row) : null;
  }
  async delete(id: string) {
    const res = await this.pool.query(`DELETE FROM ${this.table} WHERE id = $1`, [id]);
    return (res.rowCount ?? 0) > 0;
  }
}
