/**
 * PostgreSQL implementation of the identity store, for many gateway nodes sharing one database.
 * Changes are also announced with NOTIFY so every node's auth cache drops a revoked key or a
 * suspended account at once, rather than when its cache entry expires.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { inTransaction, migratePostgres, timed, PG_TIMEOUTS_MS, type PgPool } from '../store/index.ts';
import { BaseIdentityStore, identityMigrations, pageQuery, sqlIdent as ident, type Condition, type IdentityChangeNotice, type IdentityStoreOptions, type Mutation, type Row, type Table } from './store.ts';

const MIGRATIONS = identityMigrations('TIMESTAMPTZ');

/** How long close() waits for notifications still being sent (a database that stopped answering), ms. */
const NOTIFY_ON_CLOSE_MS = 5000;

/** Timestamps come back as Date; the domain uses ISO strings. */
function normaliseRow(r: Row): Row {
  for (const k of Object.keys(r)) { const v = r[k]; if (v instanceof Date) r[k] = v.toISOString(); }
  return r;
}

export interface PostgresIdentityStoreOptions extends IdentityStoreOptions {
  /** NOTIFY channel shared by all nodes of one deployment. */
  channel?: string;
  /** Relay changes between nodes with LISTEN/NOTIFY (default true). */
  notify?: boolean;
}

/** Identity store on PostgreSQL. Call `ready()` (or any method) to run migrations first. */
export class PostgresIdentityStore extends BaseIdentityStore {
  private readonly migrated: Promise<void>;
  private readonly channel: string;
  private readonly notifyEnabled: boolean;
  /** Identifies this instance so it ignores its own notifications (local listeners already heard). */
  private readonly origin = randomBytes(6).toString('hex');
  private listenClient: pg.PoolClient | null = null;
  private listenStarting: Promise<void> | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Notifications not sent yet: close() waits for them, so a change made just before (the CLI's) still reaches the other nodes. */
  private readonly notifying = new Set<Promise<void>>();

  constructor(private readonly pool: PgPool, opts: PostgresIdentityStoreOptions = {}) {
    super(opts);
    this.channel = opts.channel ?? 'warden_identity';
    if (!/^[a-z_][a-z0-9_]*$/.test(this.channel)) throw new Error(`invalid NOTIFY channel name ${this.channel}`);
    this.notifyEnabled = opts.notify ?? true;
    this.migrated = migratePostgres(pool, 'identity', MIGRATIONS);
    this.migrated.catch(() => {}); // surfaced by the first call that awaits it
  }

  /** Resolves once the schema is migrated. */
  ready(): Promise<void> { return this.migrated; }

  private async q(sql: string, args: unknown[] = [], client: pg.Pool | pg.PoolClient = this.pool): Promise<Row[]> {
    await this.migrated;
    // Key lookups are on the request path: a server that stops answering gets a 503 soon, not a hung request.
    const res = await client.query(timed(sql, args, PG_TIMEOUTS_MS.read));
    return res.rows.map(normaliseRow);
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    await this.migrated;
    return inTransaction(this.pool, fn);
  }

  private static async insertWith(c: pg.PoolClient, rows: { table: Table; row: Row }[]): Promise<void> {
    for (const { table, row } of rows) {
      const cols = Object.keys(row).map(ident);
      await c.query(`INSERT INTO ${ident(table)} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, Object.values(row));
    }
  }

  protected async insertRows(rows: { table: Table; row: Row }[]): Promise<void> {
    await this.tx((c) => PostgresIdentityStore.insertWith(c, rows));
  }

  protected async selectById(table: Table, id: string): Promise<Row | null> {
    return (await this.q(`SELECT * FROM ${ident(table)} WHERE id = $1`, [id]))[0] ?? null;
  }

  protected async selectPage(table: Table, conditions: Condition[], cursor: string | undefined, limit: number): Promise<Row[]> {
    const { sql, args } = pageQuery(table, conditions, cursor, limit, (n) => `$${n}`);
    return this.q(sql, args);
  }

  protected async mutate(table: Table, id: string, fn: (row: Row) => Mutation): Promise<Row | null> {
    return this.tx(async (c) => {
      const res = await c.query(`SELECT * FROM ${ident(table)} WHERE id = $1 FOR UPDATE`, [id]);
      if (!res.rows[0]) return null;
      const current = normaliseRow(res.rows[0]);
      const m = fn(current);
      const cols = Object.keys(m.set).map(ident);
      if (cols.length) {
        await c.query(`UPDATE ${ident(table)} SET ${cols.map((col, i) => `${col} = $${i + 1}`).join(', ')} WHERE id = $${cols.length + 1}`, [...Object.values(m.set), id]);
      }
      await PostgresIdentityStore.insertWith(c, m.inserts);
      return { ...current, ...m.set };
    });
  }

  protected async selectAccountNames(ids: string[]): Promise<Row[]> {
    return this.q(
      `SELECT a.id, a.name, a.email, a.org_id, o.name AS org_name
         FROM accounts a LEFT JOIN orgs o ON o.id = a.org_id
        WHERE a.id = ANY($1::text[])`,
      [ids],
    );
  }

  protected async selectKeyForAuth(lookupId: string): Promise<{ key: Row; account: Row; org: Row | null } | null> {
    const rows = await this.q(
      `SELECT to_jsonb(k) AS k, to_jsonb(a) AS a, to_jsonb(o) AS o
         FROM api_keys k JOIN accounts a ON a.id = k.account_id LEFT JOIN orgs o ON o.id = a.org_id
        WHERE k.lookup_id = $1`,
      [lookupId],
    );
    const r = rows[0];
    if (!r) return null;
    // to_jsonb renders timestamps as "2026-01-02T03:04:05.678+00:00": bring them back to ISO Z form.
    const iso = (row: Row | null): Row | null => {
      if (!row) return null;
      for (const k of ['created_at', 'expires_at', 'revoked_at', 'last_used_at', 'first_used_at']) {
        if (typeof row[k] === 'string') row[k] = new Date(row[k] as string).toISOString();
      }
      return row;
    };
    return { key: iso(r.k as Row)!, account: iso(r.a as Row)!, org: iso(r.o as Row | null) };
  }

  protected async updateLastUsed(entries: [string, string][]): Promise<void> {
    await this.q(
      `UPDATE api_keys AS k SET last_used_at = v.at
         FROM (SELECT unnest($1::text[]) AS id, unnest($2::timestamptz[]) AS at) AS v
        WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.at)`,
      [entries.map((e) => e[0]), entries.map((e) => e[1])],
    );
    await this.q(
      `UPDATE accounts AS a SET first_used_at = v.at
         FROM (SELECT k.account_id, min(u.at) AS at
                 FROM (SELECT unnest($1::text[]) AS id, unnest($2::timestamptz[]) AS at) AS u
                 JOIN api_keys k ON k.id = u.id GROUP BY k.account_id) AS v
        WHERE a.id = v.account_id AND a.first_used_at IS NULL`,
      [entries.map((e) => e[0]), entries.map((e) => e[1])],
    );
  }

  protected async updateFirstUse(entries: [string, string][]): Promise<void> {
    await this.q(
      `UPDATE accounts AS a SET first_used_at = v.at
         FROM (SELECT unnest($1::text[]) AS id, unnest($2::timestamptz[]) AS at) AS v
        WHERE a.id = v.id AND a.first_used_at IS NULL`,
      [entries.map((e) => e[0]), entries.map((e) => e[1])],
    );
  }

  // Cross-node change notification -----------------------------------------------------------
  protected override publish(notice: IdentityChangeNotice): void {
    this.emitLocal(notice);
    if (!this.notifyEnabled || this.closed) return;
    const payload = JSON.stringify({ o: this.origin, ...notice });
    const sent: Promise<void> = this.q('SELECT pg_notify($1, $2)', [this.channel, payload]).then(() => {}, () => {
      // Other nodes still converge within their cache TTL.
    }).finally(() => { this.notifying.delete(sent); });
    this.notifying.add(sent);
  }

  protected override listenersChanged(count: number): void {
    if (count > 0 && this.notifyEnabled && !this.listenClient && !this.listenStarting && !this.closed) {
      this.listenStarting = this.startListening().finally(() => { this.listenStarting = null; });
    }
  }

  /** Resolves when this node is subscribed to other nodes' changes (useful in tests). */
  async listening(): Promise<void> {
    if (this.listenStarting) await this.listenStarting;
  }

  private async startListening(): Promise<void> {
    try {
      await this.migrated;
      const client = await this.pool.connect();
      if (this.closed) { client.release(); return; }
      client.on('notification', (msg) => {
        if (msg.channel !== this.channel || !msg.payload) return;
        try {
          const { o, ...notice } = JSON.parse(msg.payload) as IdentityChangeNotice & { o: string };
          if (o !== this.origin) this.emitLocal(notice as IdentityChangeNotice);
        } catch { /* ignore malformed payloads */ }
      });
      client.on('error', () => this.dropListener(client));
      client.on('end', () => this.dropListener(client));
      // Not the listener yet: a LISTEN that fails or goes unanswered closes its client here (then a reconnection is scheduled).
      await client.query(timed(`LISTEN ${this.channel}`, [], PG_TIMEOUTS_MS.read)).catch((err) => { client.release(true); throw err; });
      const wasReconnect = this.reconnectTimer !== null;
      this.listenClient = client;
      // Changes made while we were not listening were missed: let caches start afresh.
      if (wasReconnect) { this.reconnectTimer = null; this.emitLocal({ type: 'all' }); }
    } catch {
      this.scheduleReconnect();
    }
  }

  private dropListener(client: pg.PoolClient): void {
    if (this.listenClient !== client) return;
    this.listenClient = null;
    try { client.release(true); } catch { /* already released */ }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    this.reconnectTimer = setTimeout(() => {
      if (!this.closed && !this.listenClient) this.listenStarting = this.startListening().finally(() => { this.listenStarting = null; });
    }, 1000);
    this.reconnectTimer.unref();
  }

  /** Sends the notifications still under way and stops listening; the pool itself belongs to the caller. */
  async close(): Promise<void> {
    if (this.notifying.size) {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => { timer = setTimeout(resolve, NOTIFY_ON_CLOSE_MS); });
      await Promise.race([Promise.all(this.notifying), bound]);
      clearTimeout(timer);
    }
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.listenStarting) await this.listenStarting.catch(() => {});
    const c = this.listenClient;
    this.listenClient = null;
    // Its connection is closed, not pooled: that ends the LISTEN without a statement, which a
    // server that stopped answering would keep the stop waiting for.
    if (c) c.release(true);
  }
}
