/**
 * Operator overrides of the detector (allow-list entries and operator verdicts set through the
 * admin API), stored durably so that a restart does not lift a suspension or drop an evaluation
 * partner from the allow-list: SQLite for the embedded default, PostgreSQL for many nodes (where
 * the detector worker holds them), memory for tests. `applyOverrides` puts them back into an
 * engine at start.
 */
import { migratePostgres, migrateSqlite, type PgPool, type SqliteDb } from '../store/index.ts';
import type { DetectorEngine } from './engine.ts';
import { VERDICT_LEVELS, type Verdict, type VerdictLevel } from './verdict.ts';

export type DetectOverrideKind = 'allow_account' | 'allow_org' | 'verdict_account' | 'verdict_cluster';

export interface DetectOverride {
  kind: DetectOverrideKind;
  /** Account, org or cluster id. */
  subject: string;
  /** The operator verdict's level (null for allow-list entries). */
  level: VerdictLevel | null;
  note: string | null;
  /** When the operator set it (an operator verdict's `since`). */
  created_at: string;
  /** When an operator verdict or an allow-list entry set for a time lapses (null: until cleared). */
  expires_at?: string | null;
  /**
   * An org's allow-list entry that covers only the accounts the org held when it was made: their
   * ids. Null (or absent): every account the org holds now, later ones included.
   */
  members?: string[] | null;
  /** Who set it: the operator named by the admin request (`x-warden-actor`); null if stored before this was kept. */
  by?: string | null;
  /** A cluster verdict whose cluster merged into another (both carrying operator verdicts): that cluster. */
  merged_into?: string | null;
}

/**
 * One operator change to the overrides, kept for the audit trail: setting and clearing (with who
 * and why), and a merge of two clusters that both carried an operator verdict.
 */
export interface DetectOverrideChange {
  at: string;
  action: 'set' | 'clear' | 'merge';
  kind: DetectOverrideKind;
  subject: string;
  /** The level set or cleared (null for allow-list entries). */
  level: VerdictLevel | null;
  /** The note given when setting; the reason given when clearing; what a merge did. */
  note: string | null;
  /** The operator (`x-warden-actor`); null for a merge (the detector made it). */
  by: string | null;
}

export interface DetectOverridesStore {
  list(): Promise<DetectOverride[]>;
  /** Add or replace the override of this kind on this subject. */
  put(o: DetectOverride): Promise<void>;
  remove(kind: DetectOverrideKind, subject: string): Promise<boolean>;
  /**
   * Note where a stored cluster verdict's cluster merged, only if the verdict is still stored: an
   * update, never an insert, so a clear that lands first is not undone. False when there was none.
   */
  setMergedInto(subject: string, into: string): Promise<boolean>;
  /** Append to the change log. */
  record(c: DetectOverrideChange): Promise<void>;
  /** The change log, newest first. */
  changes(limit: number): Promise<DetectOverrideChange[]>;
}

export class MemoryDetectOverridesStore implements DetectOverridesStore {
  private readonly items = new Map<string, DetectOverride>();
  private readonly log: DetectOverrideChange[] = [];
  async list() { return [...this.items.values()].map((o) => ({ ...o })); }
  async put(o: DetectOverride) { this.items.set(`${o.kind}\u0000${o.subject}`, { ...o }); }
  async remove(kind: DetectOverrideKind, subject: string) { return this.items.delete(`${kind}\u0000${subject}`); }
  async setMergedInto(subject: string, into: string) {
    const o = this.items.get(`verdict_cluster\u0000${subject}`);
    if (o) o.merged_into = into;
    return o !== undefined;
  }
  async record(c: DetectOverrideChange) { this.log.push({ ...c }); }
  async changes(limit: number) { return this.log.slice(-limit).reverse().map((c) => ({ ...c })); }
}

interface Row { kind: string; subject: string; level: string | null; note: string | null; created_at: string | Date; expires_at: string | Date | null; set_by: string | null; merged_into: string | null; members?: string | null }
const iso = (v: string | Date | null) => (v instanceof Date ? v.toISOString() : v);
const fromRow = (r: Row): DetectOverride => ({
  kind: r.kind as DetectOverrideKind, subject: r.subject, level: r.level as VerdictLevel | null, note: r.note,
  created_at: iso(r.created_at)!, expires_at: iso(r.expires_at), by: r.set_by ?? null, merged_into: r.merged_into ?? null,
  members: r.members ? JSON.parse(r.members) as string[] : null,
});
/** Who set each override (DetectOverride.by). */
const SET_BY = 'ALTER TABLE detect_overrides ADD COLUMN set_by TEXT';
/** Where a cluster verdict's cluster merged (DetectOverride.merged_into). */
const MERGED_INTO = 'ALTER TABLE detect_overrides ADD COLUMN merged_into TEXT';
/** The accounts an org's allow-list entry covers, as JSON (DetectOverride.members). */
const MEMBERS = 'ALTER TABLE detect_overrides ADD COLUMN members TEXT';
const PUT = (ph: (n: number) => string) => `INSERT INTO detect_overrides (kind, subject, level, note, created_at, expires_at, set_by, merged_into, members) VALUES (${[1, 2, 3, 4, 5, 6, 7, 8, 9].map(ph).join(', ')})
  ON CONFLICT (kind, subject) DO UPDATE SET level = excluded.level, note = excluded.note, created_at = excluded.created_at, expires_at = excluded.expires_at, set_by = excluded.set_by, merged_into = excluded.merged_into, members = excluded.members`;
const SET_MERGED_INTO = (ph: (n: number) => string) => `UPDATE detect_overrides SET merged_into = ${ph(1)} WHERE kind = 'verdict_cluster' AND subject = ${ph(2)}`;
const putArgs = (o: DetectOverride) => [o.kind, o.subject, o.level, o.note, o.created_at, o.expires_at ?? null, o.by ?? null, o.merged_into ?? null, o.members ? JSON.stringify(o.members) : null];
const CHANGES_TABLE = (time: string) => `CREATE TABLE IF NOT EXISTS detect_override_changes (at ${time} NOT NULL, action TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT NOT NULL, level TEXT, note TEXT, changed_by TEXT)`;
const RECORD = (ph: (n: number) => string) => `INSERT INTO detect_override_changes (at, action, kind, subject, level, note, changed_by) VALUES (${[1, 2, 3, 4, 5, 6, 7].map(ph).join(', ')})`;
const recordArgs = (c: DetectOverrideChange) => [c.at, c.action, c.kind, c.subject, c.level, c.note, c.by];
interface ChangeRow { at: string | Date; action: string; kind: string; subject: string; level: string | null; note: string | null; changed_by: string | null }
const fromChangeRow = (r: ChangeRow): DetectOverrideChange => ({
  at: iso(r.at)!, action: r.action as DetectOverrideChange['action'], kind: r.kind as DetectOverrideKind, subject: r.subject,
  level: r.level as VerdictLevel | null, note: r.note, by: r.changed_by,
});

export class SqliteDetectOverridesStore implements DetectOverridesStore {
  constructor(private readonly db: SqliteDb) {
    migrateSqlite(db, 'detect:overrides', [
      'CREATE TABLE IF NOT EXISTS detect_overrides (kind TEXT NOT NULL, subject TEXT NOT NULL, level TEXT, note TEXT, created_at TEXT NOT NULL, expires_at TEXT, PRIMARY KEY (kind, subject))',
      SET_BY,
      CHANGES_TABLE('TEXT'),
      MERGED_INTO,
      MEMBERS,
    ]);
  }
  async list() { return (this.db.prepare('SELECT * FROM detect_overrides ORDER BY created_at, kind, subject').all() as Row[]).map(fromRow); }
  async put(o: DetectOverride) { this.db.prepare(PUT(() => '?')).run(...putArgs(o)); }
  async remove(kind: DetectOverrideKind, subject: string) {
    return this.db.prepare('DELETE FROM detect_overrides WHERE kind = ? AND subject = ?').run(kind, subject).changes > 0;
  }
  async setMergedInto(subject: string, into: string) { return this.db.prepare(SET_MERGED_INTO(() => '?')).run(into, subject).changes > 0; }
  async record(c: DetectOverrideChange) { this.db.prepare(RECORD(() => '?')).run(...recordArgs(c)); }
  async changes(limit: number) {
    return (this.db.prepare('SELECT * FROM detect_override_changes ORDER BY rowid DESC LIMIT ?').all(limit) as ChangeRow[]).map(fromChangeRow);
  }
}

/** Overrides in PostgreSQL. Call `migrate()` once before use. */
export class PostgresDetectOverridesStore implements DetectOverridesStore {
  constructor(private readonly pool: PgPool) {}
  async migrate(): Promise<void> {
    await migratePostgres(this.pool, 'detect:overrides', [
      'CREATE TABLE IF NOT EXISTS detect_overrides (kind TEXT NOT NULL, subject TEXT NOT NULL, level TEXT, note TEXT, created_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ, PRIMARY KEY (kind, subject))',
      SET_BY,
      CHANGES_TABLE('TIMESTAMPTZ'),
      'ALTER TABLE detect_override_changes ADD COLUMN seq BIGSERIAL',
      MERGED_INTO,
      MEMBERS,
    ]);
  }
  async list() { return ((await this.pool.query('SELECT * FROM detect_overrides ORDER BY created_at, kind, subject')).rows as Row[]).map(fromRow); }
  async put(o: DetectOverride) { await this.pool.query(PUT((n) => `$${n}`), putArgs(o)); }
  async remove(kind: DetectOverrideKind, subject: string) {
    return ((await this.pool.query('DELETE FROM detect_overrides WHERE kind = $1 AND subject = $2', [kind, subject])).rowCount ?? 0) > 0;
  }
  async setMergedInto(subject: string, into: string) { return ((await this.pool.query(SET_MERGED_INTO((n) => `$${n}`), [into, subject])).rowCount ?? 0) > 0; }
  async record(c: DetectOverrideChange) { await this.pool.query(RECORD((n) => `$${n}`), recordArgs(c)); }
  async changes(limit: number) {
    return ((await this.pool.query('SELECT * FROM detect_override_changes ORDER BY seq DESC LIMIT $1', [limit])).rows as ChangeRow[]).map(fromChangeRow);
  }
}

/**
 * Put the stored overrides into `engine` (at start, before verdict listeners are attached), and
 * delete the operator verdicts whose time ran out meanwhile. Returns how many were applied, and
 * the operator cluster verdicts that reach no cluster the engine holds (`dormant`).
 */
export async function applyOverrides(engine: DetectorEngine, store: DetectOverridesStore): Promise<{ applied: number; dormant: Verdict[] }> {
  let applied = 0;
  for (const o of await store.list()) {
    if (o.expires_at && Date.parse(o.expires_at) <= Date.now()) { await store.remove(o.kind, o.subject); continue; }
    // Put back with when it was made, its note and who made it: the accounts' allow-list verdicts name them.
    const made = { since: o.created_at, note: o.note, by: o.by ?? null };
    if (o.kind === 'allow_account') engine.allow({ account: o.subject }, undefined, { expiresAt: o.expires_at, ...made });
    else if (o.kind === 'allow_org') engine.allow({ org: o.subject }, undefined, { expiresAt: o.expires_at, members: o.members, ...made });
    else if (o.level && (VERDICT_LEVELS as readonly string[]).includes(o.level)) {
      engine.setManualVerdict({ kind: o.kind === 'verdict_account' ? 'account' : 'cluster', id: o.subject }, o.level, o.note ?? undefined, o.created_at, o.expires_at, o.by);
      if (o.kind === 'verdict_cluster' && o.merged_into) engine.aliasCluster(o.subject, o.merged_into);
    } else continue;
    applied++;
  }
  engine.reattachClusterVerdicts();
  return { applied, dormant: engine.dormantClusterVerdicts() };
}
