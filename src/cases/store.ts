/**
 * Where case files and imported indicators are kept: SQLite for the embedded default, PostgreSQL
 * for many nodes, memory for tests. A case is stored whole (JSON) with the columns lists filter on.
 */
import { migratePostgres, migrateSqlite, type PgPool, type SqliteDb } from '../store/index.ts';
import type { SharedIndicator, StoredSighting } from '../detect/index.ts';
import { summariseCase, type CaseFile, type CaseStatus, type CaseSummary } from './types.ts';

export interface CaseStore {
  putCase(c: CaseFile): Promise<void>;
  getCase(id: string): Promise<CaseFile | null>;
  /** Newest first. */
  listCases(q?: { status?: CaseStatus; campaignId?: string; limit?: number }): Promise<CaseSummary[]>;
  /** Add or replace indicators (by id). */
  putIndicators(list: readonly SharedIndicator[]): Promise<void>;
  listIndicators(): Promise<SharedIndicator[]>;
  /** Remove indicators by id or by source; returns the ids removed. */
  removeIndicators(filter: { id?: string; source?: string }): Promise<string[]>;
  /** Add what sightings gained (requests, new accounts, first and last seen) to what is stored. */
  addSightings(deltas: readonly StoredSighting[]): Promise<void>;
  listSightings(): Promise<StoredSighting[]>;
}

export class MemoryCaseStore implements CaseStore {
  private readonly cases = new Map<string, CaseFile>();
  private readonly indicators = new Map<string, SharedIndicator>();
  async putCase(c: CaseFile) { this.cases.set(c.id, structuredClone(c)); }
  async getCase(id: string) { const c = this.cases.get(id); return c ? structuredClone(c) : null; }
  async listCases(q: { status?: CaseStatus; campaignId?: string; limit?: number } = {}) {
    return [...this.cases.values()].filter((c) => (!q.status || c.status === q.status) && (!q.campaignId || c.campaign_id === q.campaignId))
      .sort((a, b) => (a.opened_at < b.opened_at ? 1 : a.opened_at > b.opened_at ? -1 : a.id < b.id ? 1 : -1)).slice(0, q.limit ?? 100).map(summariseCase);
  }
  async putIndicators(list: readonly SharedIndicator[]) { for (const i of list) this.indicators.set(i.id, { ...i }); }
  async listIndicators() { return [...this.indicators.values()].map((i) => ({ ...i })); }
  async removeIndicators(f: { id?: string; source?: string }) {
    const gone = [...this.indicators.values()].filter((i) => (f.id ? i.id === f.id : i.source === f.source)).map((i) => i.id);
    for (const id of gone) this.indicators.delete(id);
    return gone;
  }
  private readonly sightings = new Map<string, StoredSighting>();
  async addSightings(deltas: readonly StoredSighting[]) {
    for (const d of deltas) {
      const s = this.sightings.get(d.indicator_id);
      if (!s) { this.sightings.set(d.indicator_id, { ...d, accounts: [...new Set(d.accounts)] }); continue; }
      s.count += d.count;
      if (d.first_seen < s.first_seen) s.first_seen = d.first_seen;
      if (d.last_seen > s.last_seen) s.last_seen = d.last_seen;
      s.accounts = [...new Set([...s.accounts, ...d.accounts])];
    }
  }
  async listSightings() { return [...this.sightings.values()].map((s) => ({ ...s, accounts: [...s.accounts] })); }
}

const CASES_TABLE = (ts: string) => `CREATE TABLE IF NOT EXISTS cases (id TEXT PRIMARY KEY, status TEXT NOT NULL, campaign_id TEXT NOT NULL, opened_at ${ts} NOT NULL, body TEXT NOT NULL)`;
const INDICATORS_TABLE = (ts: string) => `CREATE TABLE IF NOT EXISTS intel_indicators (id TEXT PRIMARY KEY, kind TEXT NOT NULL, hmac TEXT NOT NULL, level TEXT NOT NULL, source TEXT NOT NULL, campaign TEXT, confidence INTEGER, valid_until ${ts}, created_at ${ts} NOT NULL)`;
const SIGHTINGS_TABLES = (ts: string) => `CREATE TABLE IF NOT EXISTS intel_sightings (indicator_id TEXT PRIMARY KEY, count BIGINT NOT NULL, first_seen ${ts} NOT NULL, last_seen ${ts} NOT NULL);
  CREATE TABLE IF NOT EXISTS intel_sighting_accounts (indicator_id TEXT NOT NULL, account_id TEXT NOT NULL, PRIMARY KEY (indicator_id, account_id))`;
const SIGHTING_UPSERT = (ph: (n: number) => string) => `INSERT INTO intel_sightings (indicator_id, count, first_seen, last_seen) VALUES (${ph(1)}, ${ph(2)}, ${ph(3)}, ${ph(4)})
  ON CONFLICT (indicator_id) DO UPDATE SET count = intel_sightings.count + excluded.count,
  first_seen = CASE WHEN excluded.first_seen < intel_sightings.first_seen THEN excluded.first_seen ELSE intel_sightings.first_seen END,
  last_seen = CASE WHEN excluded.last_seen > intel_sightings.last_seen THEN excluded.last_seen ELSE intel_sightings.last_seen END`;
const SIGHTING_ACCOUNT = (ph: (n: number) => string) => `INSERT INTO intel_sighting_accounts (indicator_id, account_id) VALUES (${ph(1)}, ${ph(2)}) ON CONFLICT DO NOTHING`;
/** Stored sightings with their accounts, from rows of both tables. */
function sightingsFrom(rows: Array<{ indicator_id: string; count: number | string; first_seen: string | Date; last_seen: string | Date }>, accounts: Array<{ indicator_id: string; account_id: string }>): StoredSighting[] {
  const by = new Map<string, string[]>();
  for (const a of accounts) by.set(a.indicator_id, [...(by.get(a.indicator_id) ?? []), a.account_id]);
  return rows.map((r) => ({ indicator_id: r.indicator_id, count: Number(r.count), first_seen: iso(r.first_seen)!, last_seen: iso(r.last_seen)!, accounts: by.get(r.indicator_id) ?? [] }));
}

interface IndicatorRow { id: string; kind: string; hmac: string; level: string; source: string; campaign: string | null; confidence: number | null; valid_until: string | Date | null; created_at: string | Date }
const iso = (v: string | Date | null) => (v instanceof Date ? v.toISOString() : v);
const fromIndicatorRow = (r: IndicatorRow): SharedIndicator => ({
  id: r.id, kind: r.kind as SharedIndicator['kind'], hmac: r.hmac, level: r.level as SharedIndicator['level'], source: r.source,
  campaign: r.campaign, confidence: r.confidence, valid_until: iso(r.valid_until), created_at: iso(r.created_at)!,
});
const indicatorArgs = (i: SharedIndicator) => [i.id, i.kind, i.hmac, i.level, i.source, i.campaign, i.confidence, i.valid_until, i.created_at];
const caseFilter = (q: { status?: CaseStatus; campaignId?: string }, ph: (n: number) => string) => {
  const where: string[] = []; const args: unknown[] = [];
  if (q.status) { args.push(q.status); where.push(`status = ${ph(args.length)}`); }
  if (q.campaignId) { args.push(q.campaignId); where.push(`campaign_id = ${ph(args.length)}`); }
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
};

export class SqliteCaseStore implements CaseStore {
  constructor(private readonly db: SqliteDb) {
    migrateSqlite(db, 'cases', [CASES_TABLE('TEXT'), INDICATORS_TABLE('TEXT'), SIGHTINGS_TABLES('TEXT')]);
  }
  async putCase(c: CaseFile) {
    this.db.prepare('INSERT INTO cases (id, status, campaign_id, opened_at, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body')
      .run(c.id, c.status, c.campaign_id, c.opened_at, JSON.stringify(c));
  }
  async getCase(id: string) {
    const row = this.db.prepare('SELECT body FROM cases WHERE id = ?').get(id) as { body: string } | undefined;
    return row ? JSON.parse(row.body) as CaseFile : null;
  }
  async listCases(q: { status?: CaseStatus; campaignId?: string; limit?: number } = {}) {
    const { where, args } = caseFilter(q, () => '?');
    const rows = this.db.prepare(`SELECT body FROM cases ${where} ORDER BY opened_at DESC, id DESC LIMIT ?`).all(...args, q.limit ?? 100) as { body: string }[];
    return rows.map((r) => summariseCase(JSON.parse(r.body)));
  }
  async putIndicators(list: readonly SharedIndicator[]) {
    const put = this.db.prepare('INSERT OR REPLACE INTO intel_indicators (id, kind, hmac, level, source, campaign, confidence, valid_until, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.db.transaction(() => { for (const i of list) put.run(...indicatorArgs(i)); })();
  }
  async listIndicators() { return (this.db.prepare('SELECT * FROM intel_indicators ORDER BY created_at, id').all() as IndicatorRow[]).map(fromIndicatorRow); }
  async removeIndicators(f: { id?: string; source?: string }) {
    const [col, v] = f.id ? ['id', f.id] : ['source', f.source];
    return (this.db.prepare(`DELETE FROM intel_indicators WHERE ${col} = ? RETURNING id`).all(v) as { id: string }[]).map((r) => r.id);
  }
  async addSightings(deltas: readonly StoredSighting[]) {
    const upsert = this.db.prepare(SIGHTING_UPSERT(() => '?'));
    const account = this.db.prepare(SIGHTING_ACCOUNT(() => '?'));
    this.db.transaction(() => {
      for (const d of deltas) {
        upsert.run(d.indicator_id, d.count, d.first_seen, d.last_seen);
        for (const a of d.accounts) account.run(d.indicator_id, a);
      }
    })();
  }
  async listSightings() {
    return sightingsFrom(this.db.prepare('SELECT * FROM intel_sightings ORDER BY indicator_id').all() as never[], this.db.prepare('SELECT * FROM intel_sighting_accounts ORDER BY indicator_id, account_id').all() as never[]);
  }
}

/** Cases in PostgreSQL. Call `migrate()` once before use. */
export class PostgresCaseStore implements CaseStore {
  constructor(private readonly pool: PgPool) {}
  async migrate(): Promise<void> {
    await migratePostgres(this.pool, 'cases', [CASES_TABLE('TIMESTAMPTZ'), INDICATORS_TABLE('TIMESTAMPTZ'), SIGHTINGS_TABLES('TIMESTAMPTZ')]);
  }
  async putCase(c: CaseFile) {
    await this.pool.query('INSERT INTO cases (id, status, campaign_id, opened_at, body) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, body = EXCLUDED.body',
      [c.id, c.status, c.campaign_id, c.opened_at, JSON.stringify(c)]);
  }
  async getCase(id: string) {
    const { rows } = await this.pool.query('SELECT body FROM cases WHERE id = $1', [id]);
    return rows[0] ? JSON.parse(rows[0].body) as CaseFile : null;
  }
  async listCases(q: { status?: CaseStatus; campaignId?: string; limit?: number } = {}) {
    const { where, args } = caseFilter(q, (n) => `$${n}`);
    const { rows } = await this.pool.query(`SELECT body FROM cases ${where} ORDER BY opened_at DESC, id DESC LIMIT $${args.length + 1}`, [...args, q.limit ?? 100]);
    return rows.map((r: { body: string }) => summariseCase(JSON.parse(r.body)));
  }
  async putIndicators(list: readonly SharedIndicator[]) {
    await this.inTransaction(async (client) => {
      for (const i of list) {
        await client.query(`INSERT INTO intel_indicators (id, kind, hmac, level, source, campaign, confidence, valid_until, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
          ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, hmac = EXCLUDED.hmac, level = EXCLUDED.level, source = EXCLUDED.source, campaign = EXCLUDED.campaign, confidence = EXCLUDED.confidence, valid_until = EXCLUDED.valid_until, created_at = EXCLUDED.created_at`, indicatorArgs(i));
      }
    });
  }
  async listIndicators() { return ((await this.pool.query('SELECT * FROM intel_indicators ORDER BY created_at, id')).rows as IndicatorRow[]).map(fromIndicatorRow); }
  async removeIndicators(f: { id?: string; source?: string }) {
    const [col, v] = f.id ? ['id', f.id] : ['source', f.source];
    return (await this.pool.query(`DELETE FROM intel_indicators WHERE ${col} = $1 RETURNING id`, [v])).rows.map((r: { id: string }) => r.id);
  }
  async addSightings(deltas: readonly StoredSighting[]) {
    if (!deltas.length) return;
    await this.inTransaction(async (client) => {
      for (const d of deltas) {
        await client.query(SIGHTING_UPSERT((n) => `$${n}`), [d.indicator_id, d.count, d.first_seen, d.last_seen]);
        for (const a of d.accounts) await client.query(SIGHTING_ACCOUNT((n) => `$${n}`), [d.indicator_id, a]);
      }
    });
  }
  async listSightings() {
    const rows = (await this.pool.query('SELECT * FROM intel_sightings ORDER BY indicator_id')).rows;
    const accounts = (await this.pool.query('SELECT * FROM intel_sighting_accounts ORDER BY indicator_id, account_id')).rows;
    return sightingsFrom(rows, accounts);
  }
  private async inTransaction(work: (client: import('pg').PoolClient) => Promise<void>): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await work(client);
      await client.query('COMMIT');
    } catch (err) { await client.query('ROLLBACK'); throw err; } finally { client.release(); }
  }
}
