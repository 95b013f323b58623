/** SQLite implementation of the identity store (the embedded default). */
import type Database from 'better-sqlite3';
import { migrateSqlite, type SqliteDb } from '../store/index.ts';
import { BaseIdentityStore, FIRST_USE_BACKFILL, type Condition, type IdentityStoreOptions, type Mutation, type Row, type Table } from './store.ts';

/** Schema versions in order (exported for the upgrade test). */
export const MIGRATIONS = [
  `CREATE TABLE orgs (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     tier TEXT NOT NULL,
     programme TEXT NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE TABLE accounts (
     id TEXT PRIMARY KEY,
     org_id TEXT REFERENCES orgs(id),
     name TEXT,
     tier TEXT NOT NULL,
     programme TEXT NOT NULL,
     status TEXT NOT NULL,
     created_at TEXT NOT NULL,
     email TEXT,
     email_domain TEXT,
     signup_ip TEXT,
     claimed_country TEXT,
     payment_fp TEXT,
     user_agent TEXT
   );
   CREATE INDEX accounts_org ON accounts (org_id, id);
   CREATE INDEX accounts_email_domain ON accounts (email_domain, id);
   CREATE INDEX accounts_signup_ip ON accounts (signup_ip, id);
   CREATE INDEX accounts_payment_fp ON accounts (payment_fp, id);
   CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     account_id TEXT NOT NULL REFERENCES accounts(id),
     lookup_id TEXT NOT NULL UNIQUE,
     prefix TEXT NOT NULL,
     secret_hash TEXT NOT NULL,
     name TEXT,
     scopes TEXT NOT NULL,
     created_at TEXT NOT NULL,
     expires_at TEXT,
     revoked_at TEXT,
     last_used_at TEXT,
     replaced_by TEXT
   );
   CREATE INDEX api_keys_account ON api_keys (account_id, id);
   CREATE TABLE identity_changes (
     id TEXT PRIMARY KEY,
     at TEXT NOT NULL,
     subject_type TEXT NOT NULL,
     subject_id TEXT NOT NULL,
     action TEXT NOT NULL,
     field TEXT,
     old_value TEXT,
     new_value TEXT,
     actor TEXT NOT NULL,
     reason TEXT
   );
   CREATE INDEX identity_changes_subject ON identity_changes (subject_id, id);`,
  // Keyed hash of the email's pattern (see facts.ts emailPattern): sequentially numbered sign-ups share it.
  `ALTER TABLE accounts ADD COLUMN email_pattern TEXT;
   CREATE INDEX accounts_email_pattern ON accounts (email_pattern, id);`,
  // When any key of the account was first used (to the key-use flush interval): an account bought
  // old and put to work today has no more history than one created today. Accounts already in use
  // count as in use since their oldest used key was created (not as first used at the upgrade).
  `ALTER TABLE accounts ADD COLUMN first_used_at TEXT;
   ${FIRST_USE_BACKFILL}`,
];

/** Column names come from code, never from input; this guards against a slip. */
const SAFE_IDENT = /^[a-z_]+$/;
function ident(name: string): string {
  if (!SAFE_IDENT.test(name)) throw new Error(`bad identifier ${name}`);
  return name;
}

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
              a.claimed_country AS a_claimed_country, a.payment_fp AS a_payment_fp, a.user_agent AS a_user_agent, a.email_pattern AS a_email_pattern, a.first_used_at AS a_first_used_at,
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
    const parts: string[] = [];
    const args: unknown[] = [];
    for (const c of conditions) {
      if ('eq' in c) { parts.push(`${ident(c.col)} = ?`); args.push(c.eq); }
      else { parts.push(`(${ident(c.col)} IS NULL OR ${ident(c.col)} > ?)`); args.push(c.active_at); }
    }
    if (cursor) { parts.push('id < ?'); args.push(cursor); }
    const where = parts.length ? `WHERE ${parts.join(' AND ')}` : '';
    return this.stmt(`SELECT * FROM ${ident(table)} ${where} ORDER BY id DESC LIMIT ?`).all(...args, limit) as Row[];
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
