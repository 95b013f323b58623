/** SQLite implementation of the identity store (the embedded default). */
import type Database from 'better-sqlite3';
import { migrateSqlite, type SqliteDb } from '../store/index.ts';
import { BaseIdentityStore, identityMigrations, pageQuery, sqlIdent as ident, type Condition, type IdentityStoreOptions, type Mutation, type Row, type Table } from './store.ts';

/** Schema versions in order (exported for the upgrade test). */
export const MIGRATIONS = identityMigrations('TEXT');

/** Identity store on the embedded SQLite database (share the handle with other components). */
export class SqliteIdentityStore extends BaseIdentityStore {
  private readonly authStmt;
  private readonly touchStmt;
  private readonly firstUseStmt;
  private readonly keyFirstUseStmt;
  private readonly statements = new Map<string, Database.Statement<unknown[]>>();

  constructor(private readonly db: SqliteDb, opts: IdentityStoreOptions = {}) {
    super(opts);
    migrateSqlite(db, 'identity', MIGRATIONS);
    this.authStmt = db.prepare(
      `SELECT k.id AS k_id, k.account_id AS k_account_id, k.lookup_id AS k_lookup_id, k.prefix AS k_prefix, k.secret_hash AS k_secret_hash,
              k.name AS k_name, k.scopes AS k_scopes, k.created_at AS k_created_at, k.expires_at AS k_expires_at,
              k.revoked_at AS k_revoked_at, k.last_used_at AS k_last_used_at, k.replaced_by AS k_replaced_by,
              a.id AS a_id, a.org_id AS a_org_id, a.name AS a_name, a.tier AS a_tier, a.programme AS a_programme, a.status AS a_status,
              a.created_at AS a_created_at, a.email AS a_email, a.email_domain AS a_email_domain, a.signup_ip AS a_signup_ip,
              a.claimed_country AS a_claimed_country, a.claimed_subdivision AS a_claimed_subdivision, a.payment_fp AS a_payment_fp, a.user_agent AS a_user_agent, a.email_pattern AS a_email_pattern, a.first_used_at AS a_first_used_at,
              o.id AS o_id, o.name AS o_name, o.tier AS o_tier, o.programme AS o_programme, o.created_at AS o_created_at
         FROM api_keys k JOIN accounts a ON a.id = k.account_id LEFT JOIN orgs o ON o.id = a.org_id
        WHERE k.lookup_id = ?`,
    );
    this.touchStmt = db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)');
    this.keyFirstUseStmt = db.prepare('UPDATE accounts SET first_used_at = ? WHERE id = (SELECT account_id FROM api_keys WHERE id = ?) AND first_used_at IS NULL');
    this.firstUseStmt = db.prepare('UPDATE accounts SET first_used_at = ? WHERE id = ? AND first_used_at IS NULL');
  }

  private stmt(sql: string): Database.Statement<unknown[]> {
    let s = this.statements.get(sql);
    if (!s) { s = this.db.prepare<unknown[]>(sql); this.statements.set(sql, s); }
    return s;
  }

  private insertNow(rows: { table: Table; row: Row }[]): void {
    for (const { table, row } of rows) {
      const cols = Object.keys(row).map(ident);
      this.stmt(`INSERT INTO ${ident(table)} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`).run(...(Object.values(row) as unknown[]));
    }
  }

  protected async insertRows(rows: { table: Table; row: Row }[]): Promise<void> {
    this.db.transaction(() => this.insertNow(rows))();
  }

  protected async selectById(table: Table, id: string): Promise<Row | null> {
    return (this.stmt(`SELECT * FROM ${ident(table)} WHERE id = ?`).get(id) as Row | undefined) ?? null;
  }

  protected async selectPage(table: Table, conditions: Condition[], cursor: string | undefined, limit: number): Promise<Row[]> {
    const { sql, args } = pageQuery(table, conditions, cursor, limit, () => '?');
    return this.stmt(sql).all(...args) as Row[];
  }

  protected async mutate(table: Table, id: string, fn: (row: Row) => Mutation): Promise<Row | null> {
    // better-sqlite3 transactions are synchronous, so nothing else can interleave.
    return this.db.transaction((): Row | null => {
      const current = this.stmt(`SELECT * FROM ${ident(table)} WHERE id = ?`).get(id) as Row | undefined;
      if (!current) return null;
      const m = fn(current);
      const cols = Object.keys(m.set).map(ident);
      if (cols.length) {
        this.stmt(`UPDATE ${ident(table)} SET ${cols.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`).run(...(Object.values(m.set) as unknown[]), id);
      }
      this.insertNow(m.inserts);
      return { ...current, ...m.set };
    }).immediate();
  }

  protected async selectAccountNames(ids: string[]): Promise<Row[]> {
    // The ids go as one JSON array: one statement however many there are.
    return this.stmt(`SELECT a.id, a.name, a.email, a.org_id, o.name AS org_name
                        FROM accounts a LEFT JOIN orgs o ON o.id = a.org_id
                       WHERE a.id IN (SELECT value FROM json_each(?))`).all(JSON.stringify(ids)) as Row[];
  }

  protected async selectKeyForAuth(lookupId: string): Promise<{ key: Row; account: Row; org: Row | null } | null> {
    const r = this.authStmt.get(lookupId) as Row | undefined;
    if (!r) return null;
    const pick = (p: string): Row => {
      const out: Row = {};
      for (const [k, v] of Object.entries(r)) if (k.startsWith(p)) out[k.slice(p.length)] = v;
      return out;
    };
    return { key: pick('k_'), account: pick('a_'), org: r.o_id == null ? null : pick('o_') };
  }

  protected async updateLastUsed(entries: [string, string][]): Promise<void> {
    this.db.transaction(() => {
      for (const [id, at] of entries) { this.touchStmt.run(at, id, at); this.keyFirstUseStmt.run(at, id); }
    })();
  }

  protected async updateFirstUse(entries: [string, string][]): Promise<void> {
    this.db.transaction(() => { for (const [id, at] of entries) this.firstUseStmt.run(at, id); })();
  }

  async close(): Promise<void> {}
}
