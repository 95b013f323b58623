/**
 * Where case files and imported indicators are kept: SQLite for the embedded default, PostgreSQL
 * for many nodes, memory for tests. A case is stored whole (JSON) with the columns lists filter on.
 */
import { inTransaction, migratePostgres, migrateSqlite, type PgPool, type SqliteDb } from '../store/index.ts';
import type { SharedIndicator, StoredSighting } from '../detect/index.ts';
import { CASE_SCHEMA, summariseCase, type CaseFile, type CaseStatus, type CaseSummary } from './types.ts';

/** A stored case file; one stored before case files named their format gets `schema` (the same format, which additive changes keep). */
const caseFromBody = (body: string): CaseFile => ({ schema: CASE_SCHEMA, ...(JSON.parse(body) as Omit<CaseFile, 'schema'>) });

/** A STIX object this provider published in a TAXII collection: one version of it. */
export interface PublishedObject {
  collection: string;
  id: string;
  type: string;
  /** The object's `modified` (its version). */
  version: string;
  /** When the collection received this version, microseconds since the epoch: unique and increasing, the cursor partners poll by. */
  added_us: number;
  case_id: string | null;
  body: Record<string, unknown> & { type: string; id: string };
}

/** What a TAXII client asked for (its filters), newest-added last. */
export interface PublishedQuery {
  collection: string;
  /** Only versions added after this (microseconds since the epoch). */
  addedAfterUs?: number;
  ids?: readonly string[];
  types?: readonly string[];
  /** `last` (TAXII's default), `first`, `all`, or particular versions (`modified` timestamps). */
  versions?: 'last' | 'first' | 'all' | readonly string[];
  limit: number;
}

export interface CaseStore {
  putCase(c: CaseFile): Promise<void>;
  getCase(id: string): Promise<CaseFile | null>;
  /** Newest first. */
  listCases(q?: { status?: CaseStatus; campaignId?: string; limit?: number }): Promise<CaseSummary[]>;
  /**
   * The newest live case (open or confirmed) on a campaign: one recorded under its id or its
   * cluster's, or one more than half of whose accounts `knows` (all, without it) are among
   * `members`, at least 2 (the rule by which a refresh finds a case's campaign,
   * src/cases/case-file.ts). Null if there is none.
   */
  liveCaseOn(campaign: CampaignKeys): Promise<CaseSummary | null>;
  /** Ids of the cases the account is a member of (of its campaign when the case was built or refreshed). */
  casesOfAccount(accountId: string): Promise<string[]>;
  /** Add or replace indicators (by id). */
  putIndicators(list: readonly SharedIndicator[]): Promise<void>;
  listIndicators(): Promise<SharedIndicator[]>;
  /** Remove indicators by id or by source; returns the ids removed. */
  removeIndicators(filter: { id?: string; source?: string }): Promise<string[]>;
  /** Add what sightings gained (requests, new accounts, first and last seen) to what is stored. */
  addSightings(deltas: readonly StoredSighting[]): Promise<void>;
  listSightings(): Promise<StoredSighting[]>;
  /**
   * Replace an account's id in the sightings by `pseudonym` (a deletion request): how many
   * accounts matched each indicator stays counted, not which. Returns the rows changed.
   */
  renameSightingAccount(accountId: string, pseudonym: string): Promise<number>;
  /** Add versions to a TAXII collection; each gets the next `added_us`. */
  publish(collection: string, objects: ReadonlyArray<{ body: PublishedObject['body']; caseId: string | null }>): Promise<PublishedObject[]>;
  /** A collection's versions matching a client's filters, by `added_us`, at most `limit`. */
  published(q: PublishedQuery): Promise<PublishedObject[]>;
  /** The latest version of every object a case published. */
  publishedOfCase(caseId: string): Promise<PublishedObject[]>;
  /** Small JSON records kept for the exchange: TAXII statuses, feed cursors (`kind`, `id`). */
  putRecord(kind: string, id: string, body: unknown): Promise<void>;
  getRecord<T>(kind: string, id: string): Promise<T | null>;
  listRecords<T>(kind: string): Promise<T[]>;
}

/** What names a campaign to the one-live-case check. */
export interface CampaignKeys {
  campaignId: string; clusterId: string; members: readonly string[];
  /** Whether the detector holds an account: a case's accounts it does not hold are not counted. */
  knows?: (accountId: string) => boolean;
}

const LIVE_STATUSES: readonly CaseStatus[] = ['open', 'confirmed'];

/** Whether a case with accounts `caseMembers` is on the campaign by its accounts (see CaseStore.liveCaseOn). */
function holdsCase(caseMembers: readonly string[], k: CampaignKeys): boolean {
  const now = new Set(k.members);
  let known = 0; let held = 0;
  for (const m of new Set(caseMembers)) {
    if (k.knows && !k.knows(m)) continue;
    known++;
    if (now.has(m)) held++;
  }
  return known >= 2 && 2 * held > known;
}

/** Whether case `c` is on the campaign (see CaseStore.liveCaseOn). */
function isOn(c: CaseFile, k: CampaignKeys): boolean {
  return c.campaign_id === k.campaignId || c.cluster_id === k.clusterId || holdsCase(c.campaign.members, k);
}

/** The next `added_us`: now, or one past the last, so versions never share one. */
const nextAddedUs = (last: number) => Math.max(Date.now() * 1000, last + 1);

/** Keep the latest or earliest version of each object (rows ordered by added_us). */
function pickVersions(rows: PublishedObject[], all: readonly PublishedObject[], versions: PublishedQuery['versions'] = 'last'): PublishedObject[] {
  if (versions === 'all') return rows;
  if (Array.isArray(versions)) return rows.filter((r) => versions.includes(r.version));
  const best = new Map<string, string>();
  for (const r of all) {
    const b = best.get(r.id);
    if (b === undefined || (versions === 'first' ? r.version < b : r.version > b)) best.set(r.id, r.version);
  }
  return rows.filter((r) => best.get(r.id) === r.version);
}

const newestFirst = (a: CaseFile, b: CaseFile) => (a.opened_at < b.opened_at ? 1 : a.opened_at > b.opened_at ? -1 : a.id < b.id ? 1 : -1);

export class MemoryCaseStore implements CaseStore {
  private readonly cases = new Map<string, CaseFile>();
  private readonly indicators = new Map<string, SharedIndicator>();
  async putCase(c: CaseFile) { this.cases.set(c.id, structuredClone(c)); }
  async getCase(id: string) { const c = this.cases.get(id); return c ? { ...structuredClone(c), schema: c.schema ?? CASE_SCHEMA } : null; }
  async listCases(q: { status?: CaseStatus; campaignId?: string; limit?: number } = {}) {
    return [...this.cases.values()].filter((c) => (!q.status || c.status === q.status) && (!q.campaignId || c.campaign_id === q.campaignId))
      .sort(newestFirst).slice(0, q.limit ?? 100).map(summariseCase);
  }
  async casesOfAccount(accountId: string) {
    return [...this.cases.values()].filter((c) => c.campaign.members.includes(accountId)).map((c) => c.id).sort();
  }
  async liveCaseOn(k: CampaignKeys) {
    const live = [...this.cases.values()].filter((c) => LIVE_STATUSES.includes(c.status) && isOn(c, k)).sort(newestFirst);
    return live.length ? summariseCase(live[0]) : null;
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
  async renameSightingAccount(accountId: string, pseudonym: string) {
    let n = 0;
    for (const s of this.sightings.values()) {
      const at = s.accounts.indexOf(accountId);
      if (at >= 0) { s.accounts[at] = pseudonym; n++; }
    }
    return n;
  }
  private readonly objects: PublishedObject[] = [];
  async publish(collection: string, list: ReadonlyArray<{ body: PublishedObject['body']; caseId: string | null }>) {
    return list.map(({ body, caseId }) => {
      const o: PublishedObject = {
        collection, id: body.id, type: body.type, version: String(body.modified ?? body.created ?? ''),
        added_us: nextAddedUs(this.objects.at(-1)?.added_us ?? 0), case_id: caseId, body: structuredClone(body),
      };
      this.objects.push(o);
      return structuredClone(o);
    });
  }
  async published(q: PublishedQuery) {
    const inCollection = this.objects.filter((o) => o.collection === q.collection && (!q.ids?.length || q.ids.includes(o.id)));
    const rows = inCollection.filter((o) => o.added_us > (q.addedAfterUs ?? 0) && (!q.types?.length || q.types.includes(o.type)));
    return pickVersions(rows, inCollection, q.versions).slice(0, q.limit).map((o) => structuredClone(o));
  }
  async publishedOfCase(caseId: string) {
    const mine = this.objects.filter((o) => o.case_id === caseId);
    return pickVersions(mine, mine, 'last').map((o) => structuredClone(o));
  }
  private readonly records = new Map<string, unknown>();
  async putRecord(kind: string, id: string, body: unknown) { this.records.set(`${kind}\n${id}`, structuredClone(body)); }
  async getRecord<T>(kind: string, id: string) { const r = this.records.get(`${kind}\n${id}`); return r === undefined ? null : structuredClone(r) as T; }
  async listRecords<T>(kind: string) { return [...this.records].filter(([k]) => k.startsWith(`${kind}\n`)).map(([, v]) => structuredClone(v) as T); }
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
/** A pseudonym is new (random): it never collides with a row of the same indicator. */
const RENAME_SIGHTING_ACCOUNT = (ph: (n: number) => string) => `UPDATE intel_sighting_accounts SET account_id = ${ph(1)} WHERE account_id = ${ph(2)}`;
const PUBLISHED_TABLES = `CREATE TABLE IF NOT EXISTS taxii_objects (added_us BIGINT PRIMARY KEY, collection TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, version TEXT NOT NULL, case_id TEXT, body TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS taxii_objects_by_added ON taxii_objects (collection, added_us);
  CREATE INDEX IF NOT EXISTS taxii_objects_by_id ON taxii_objects (collection, id, version);
  CREATE INDEX IF NOT EXISTS taxii_objects_by_case ON taxii_objects (case_id);
  CREATE TABLE IF NOT EXISTS intel_records (kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, id))`;
interface PublishedRow { added_us: number | string; collection: string; id: string; type: string; version: string; case_id: string | null; body: string }
const fromPublishedRow = (r: PublishedRow): PublishedObject => ({ ...r, added_us: Number(r.added_us), body: JSON.parse(r.body) });
/** SQL for a client's filters (the same on both databases, `ph` numbering the parameters). */
function publishedSql(q: PublishedQuery, ph: (n: number) => string): { sql: string; args: unknown[] } {
  const args: unknown[] = [q.collection, q.addedAfterUs ?? 0];
  const where = [`t.collection = ${ph(1)}`, `t.added_us > ${ph(2)}`];
  const list = (col: string, values: readonly string[] | undefined) => {
    if (!values?.length) return;
    where.push(`${col} IN (${values.map((v) => { args.push(v); return ph(args.length); }).join(', ')})`);
  };
  list('t.id', q.ids);
  list('t.type', q.types);
  const versions = q.versions ?? 'last';
  if (Array.isArray(versions)) list('t.version', versions);
  else if (versions !== 'all') where.push(`t.version = (SELECT ${versions === 'first' ? 'MIN' : 'MAX'}(v.version) FROM taxii_objects v WHERE v.collection = t.collection AND v.id = t.id)`);
  args.push(q.limit);
  return { sql: `SELECT * FROM taxii_objects t WHERE ${where.join(' AND ')} ORDER BY t.added_us LIMIT ${ph(args.length)}`, args };
}
const OF_CASE = (ph: (n: number) => string) => `SELECT * FROM taxii_objects t WHERE t.case_id = ${ph(1)} AND t.version = (SELECT MAX(v.version) FROM taxii_objects v WHERE v.collection = t.collection AND v.id = t.id AND v.case_id = t.case_id) ORDER BY t.added_us`;
const publishedArgs = (collection: string, o: { body: PublishedObject['body']; caseId: string | null }, addedUs: number) =>
  [addedUs, collection, o.body.id, o.body.type, String(o.body.modified ?? o.body.created ?? ''), o.caseId, JSON.stringify(o.body)];
const PUT_PUBLISHED = (ph: (n: number) => string) => `INSERT INTO taxii_objects (added_us, collection, id, type, version, case_id, body) VALUES (${[1, 2, 3, 4, 5, 6, 7].map(ph).join(', ')})`;
const PUT_RECORD = (ph: (n: number) => string) => `INSERT INTO intel_records (kind, id, body) VALUES (${ph(1)}, ${ph(2)}, ${ph(3)}) ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body`;

/** Stored sightings with their accounts, from rows of both tables. */
function sightingsFrom(rows: Array<{ indicator_id: string; count: number | string; first_seen: string | Date; last_seen: string | Date }>, accounts: Array<{ indicator_id: string; account_id: string }>): StoredSighting[] {
  const by = new Map<string, string[]>();
  for (const a of accounts) by.set(a.indicator_id, [...(by.get(a.indicator_id) ?? []), a.account_id]);
  return rows.map((r) => ({ indicator_id: r.indicator_id, count: Number(r.count), first_seen: iso(r.first_seen)!, last_seen: iso(r.last_seen)!, accounts: by.get(r.indicator_id) ?? [] }));
}

interface IndicatorRow { id: string; kind: string; hmac: string; level: string; source: string; campaign: string | null; confidence: number | null; valid_until: string | Date | null; created_at: string | Date; key_id: string | null }
const iso = (v: string | Date | null) => (v instanceof Date ? v.toISOString() : v);
const fromIndicatorRow = (r: IndicatorRow): SharedIndicator => ({
  id: r.id, kind: r.kind as SharedIndicator['kind'], hmac: r.hmac, level: r.level as SharedIndicator['level'], source: r.source,
  campaign: r.campaign, confidence: r.confidence, valid_until: iso(r.valid_until), created_at: iso(r.created_at)!, key_id: r.key_id ?? null,
});
const indicatorArgs = (i: SharedIndicator) => [i.id, i.kind, i.hmac, i.level, i.source, i.campaign, i.confidence, i.valid_until, i.created_at, i.key_id ?? null];
/** Which sharing key each indicator's hash was made with (a key change leaves the old ones unmatchable). */
const INDICATOR_KEY_ID = 'ALTER TABLE intel_indicators ADD COLUMN key_id TEXT';
/**
 * The cluster and the accounts of each case, for the one-live-case check (an index, not a scan of
 * the newest cases): filled from the cases stored before.
 */
const CASE_KEYS_SQLITE = `ALTER TABLE cases ADD COLUMN cluster_id TEXT;
  UPDATE cases SET cluster_id = json_extract(body, '$.cluster_id');
  CREATE INDEX cases_by_campaign ON cases (campaign_id);
  CREATE INDEX cases_by_cluster ON cases (cluster_id);
  CREATE TABLE case_members (case_id TEXT NOT NULL, account_id TEXT NOT NULL, PRIMARY KEY (case_id, account_id));
  CREATE INDEX case_members_by_account ON case_members (account_id);
  INSERT OR IGNORE INTO case_members (case_id, account_id) SELECT c.id, m.value FROM cases c, json_each(c.body, '$.campaign.members') m`;
const CASE_KEYS_POSTGRES = `ALTER TABLE cases ADD COLUMN cluster_id TEXT;
  UPDATE cases SET cluster_id = body::json->>'cluster_id';
  CREATE INDEX cases_by_campaign ON cases (campaign_id);
  CREATE INDEX cases_by_cluster ON cases (cluster_id);
  CREATE TABLE case_members (case_id TEXT NOT NULL, account_id TEXT NOT NULL, PRIMARY KEY (case_id, account_id));
  CREATE INDEX case_members_by_account ON case_members (account_id);
  INSERT INTO case_members (case_id, account_id) SELECT c.id, m FROM cases c, json_array_elements_text(body::json->'campaign'->'members') m ON CONFLICT DO NOTHING`;
/**
 * The live cases that may be on a campaign (CaseStore.liveCaseOn), newest first: recorded under its
 * id or its cluster's, or sharing at least 2 accounts with it (then holdsCase decides, on the
 * case's accounts: which of them the detector holds is not in the database). Parameters campaign
 * id, cluster id, and the members as `members` makes them (a JSON array for SQLite, an array for
 * PostgreSQL).
 */
const LIVE_CASE_CANDIDATES = (ph: (n: number) => string, members: string) => `SELECT c.id, c.campaign_id, c.cluster_id FROM cases c
  WHERE c.status IN (${LIVE_STATUSES.map((s) => `'${s}'`).join(', ')}) AND (c.campaign_id = ${ph(1)} OR c.cluster_id = ${ph(2)} OR c.id IN (
    SELECT m.case_id FROM case_members m WHERE m.account_id IN (${members}) GROUP BY m.case_id HAVING COUNT(*) >= 2))
  ORDER BY c.opened_at DESC, c.id DESC`;
type LiveCaseCandidate = { id: string; campaign_id: string; cluster_id: string };

/** The first candidate (LIVE_CASE_CANDIDATES rows) on the campaign, with its body; null if none. */
async function firstLiveCase(candidates: readonly LiveCaseCandidate[], k: CampaignKeys,
  membersOf: (caseId: string) => Promise<string[]>, bodyOf: (caseId: string) => Promise<CaseFile | null>): Promise<CaseSummary | null> {
  for (const row of candidates) {
    if (row.campaign_id === k.campaignId || row.cluster_id === k.clusterId || holdsCase(await membersOf(row.id), k)) {
      const c = await bodyOf(row.id);
      if (c) return summariseCase(c);
    }
  }
  return null;
}
const PUT_CASE = (ph: (n: number) => string) => `INSERT INTO cases (id, status, campaign_id, cluster_id, opened_at, body) VALUES (${[1, 2, 3, 4, 5, 6].map(ph).join(', ')})
  ON CONFLICT (id) DO UPDATE SET status = excluded.status, campaign_id = excluded.campaign_id, cluster_id = excluded.cluster_id, body = excluded.body`;
const caseFilter = (q: { status?: CaseStatus; campaignId?: string }, ph: (n: number) => string) => {
  const where: string[] = []; const args: unknown[] = [];
  if (q.status) { args.push(q.status); where.push(`status = ${ph(args.length)}`); }
  if (q.campaignId) { args.push(q.campaignId); where.push(`campaign_id = ${ph(args.length)}`); }
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', args };
};

export class SqliteCaseStore implements CaseStore {
  constructor(private readonly db: SqliteDb) {
    migrateSqlite(db, 'cases', [CASES_TABLE('TEXT'), INDICATORS_TABLE('TEXT'), SIGHTINGS_TABLES('TEXT'), PUBLISHED_TABLES, INDICATOR_KEY_ID, CASE_KEYS_SQLITE]);
  }
  async putCase(c: CaseFile) {
    const member = this.db.prepare('INSERT OR IGNORE INTO case_members (case_id, account_id) VALUES (?, ?)');
    this.db.transaction(() => {
      this.db.prepare(PUT_CASE(() => '?')).run(c.id, c.status, c.campaign_id, c.cluster_id, c.opened_at, JSON.stringify(c));
      this.db.prepare('DELETE FROM case_members WHERE case_id = ?').run(c.id);
      for (const m of c.campaign.members) member.run(c.id, m);
    })();
  }
  async casesOfAccount(accountId: string) {
    return (this.db.prepare('SELECT case_id FROM case_members WHERE account_id = ? ORDER BY case_id').all(accountId) as { case_id: string }[]).map((r) => r.case_id);
  }
  async liveCaseOn(k: CampaignKeys) {
    const candidates = this.db.prepare(LIVE_CASE_CANDIDATES(() => '?', 'SELECT value FROM json_each(?)')).all(k.campaignId, k.clusterId, JSON.stringify(k.members)) as LiveCaseCandidate[];
    const members = this.db.prepare('SELECT account_id FROM case_members WHERE case_id = ?');
    return firstLiveCase(candidates, k, async (id) => (members.all(id) as { account_id: string }[]).map((r) => r.account_id), (id) => this.getCase(id));
  }
  async getCase(id: string) {
    const row = this.db.prepare('SELECT body FROM cases WHERE id = ?').get(id) as { body: string } | undefined;
    return row ? caseFromBody(row.body) : null;
  }
  async listCases(q: { status?: CaseStatus; campaignId?: string; limit?: number } = {}) {
    const { where, args } = caseFilter(q, () => '?');
    const rows = this.db.prepare(`SELECT body FROM cases ${where} ORDER BY opened_at DESC, id DESC LIMIT ?`).all(...args, q.limit ?? 100) as { body: string }[];
    return rows.map((r) => summariseCase(JSON.parse(r.body)));
  }
  async putIndicators(list: readonly SharedIndicator[]) {
    const put = this.db.prepare('INSERT OR REPLACE INTO intel_indicators (id, kind, hmac, level, source, campaign, confidence, valid_until, created_at, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
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
  async renameSightingAccount(accountId: string, pseudonym: string) {
    return Number(this.db.prepare(RENAME_SIGHTING_ACCOUNT(() => '?')).run(pseudonym, accountId).changes);
  }
  async publish(collection: string, list: ReadonlyArray<{ body: PublishedObject['body']; caseId: string | null }>) {
    const put = this.db.prepare(PUT_PUBLISHED(() => '?'));
    return this.db.transaction(() => {
      let last = Number((this.db.prepare('SELECT MAX(added_us) AS m FROM taxii_objects').get() as { m: number | null }).m ?? 0);
      return list.map((o) => {
        last = nextAddedUs(last);
        const args = publishedArgs(collection, o, last);
        put.run(...args);
        return fromPublishedRow({ added_us: last, collection, id: o.body.id, type: o.body.type, version: args[4] as string, case_id: o.caseId, body: args[6] as string });
      });
    }).immediate(); // reads before it writes: a deferred transaction gets no busy wait for the write lock
  }
  async published(q: PublishedQuery) {
    const { sql, args } = publishedSql(q, () => '?');
    return (this.db.prepare(sql).all(...args) as PublishedRow[]).map(fromPublishedRow);
  }
  async publishedOfCase(caseId: string) { return (this.db.prepare(OF_CASE(() => '?')).all(caseId) as PublishedRow[]).map(fromPublishedRow); }
  async putRecord(kind: string, id: string, body: unknown) { this.db.prepare(PUT_RECORD(() => '?')).run(kind, id, JSON.stringify(body)); }
  async getRecord<T>(kind: string, id: string) {
    const row = this.db.prepare('SELECT body FROM intel_records WHERE kind = ? AND id = ?').get(kind, id) as { body: string } | undefined;
    return row ? JSON.parse(row.body) as T : null;
  }
  async listRecords<T>(kind: string) { return (this.db.prepare('SELECT body FROM intel_records WHERE kind = ? ORDER BY id').all(kind) as { body: string }[]).map((r) => JSON.parse(r.body) as T); }
}

/** Cases in PostgreSQL. Call `migrate()` once before use. */
export class PostgresCaseStore implements CaseStore {
  constructor(private readonly pool: PgPool) {}
  async migrate(): Promise<void> {
    await migratePostgres(this.pool, 'cases', [CASES_TABLE('TIMESTAMPTZ'), INDICATORS_TABLE('TIMESTAMPTZ'), SIGHTINGS_TABLES('TIMESTAMPTZ'), PUBLISHED_TABLES, INDICATOR_KEY_ID, CASE_KEYS_POSTGRES]);
  }
  async putCase(c: CaseFile) {
    await this.inTransaction(async (client) => {
      await client.query(PUT_CASE((n) => `$${n}`), [c.id, c.status, c.campaign_id, c.cluster_id, c.opened_at, JSON.stringify(c)]);
      await client.query('DELETE FROM case_members WHERE case_id = $1', [c.id]);
      await client.query('INSERT INTO case_members (case_id, account_id) SELECT $1, m FROM unnest($2::text[]) m ON CONFLICT DO NOTHING', [c.id, [...c.campaign.members]]);
    });
  }
  async casesOfAccount(accountId: string) {
    return (await this.pool.query('SELECT case_id FROM case_members WHERE account_id = $1 ORDER BY case_id', [accountId])).rows.map((r: { case_id: string }) => r.case_id);
  }
  async liveCaseOn(k: CampaignKeys) {
    const { rows } = await this.pool.query(LIVE_CASE_CANDIDATES((n) => `$${n}`, 'SELECT unnest($3::text[])'), [k.campaignId, k.clusterId, [...k.members]]);
    const members = async (id: string) => (await this.pool.query('SELECT account_id FROM case_members WHERE case_id = $1', [id])).rows.map((r: { account_id: string }) => r.account_id);
    return firstLiveCase(rows, k, members, (id) => this.getCase(id));
  }
  async getCase(id: string) {
    const { rows } = await this.pool.query('SELECT body FROM cases WHERE id = $1', [id]);
    return rows[0] ? caseFromBody(rows[0].body) : null;
  }
  async listCases(q: { status?: CaseStatus; campaignId?: string; limit?: number } = {}) {
    const { where, args } = caseFilter(q, (n) => `$${n}`);
    const { rows } = await this.pool.query(`SELECT body FROM cases ${where} ORDER BY opened_at DESC, id DESC LIMIT $${args.length + 1}`, [...args, q.limit ?? 100]);
    return rows.map((r: { body: string }) => summariseCase(JSON.parse(r.body)));
  }
  async putIndicators(list: readonly SharedIndicator[]) {
    await this.inTransaction(async (client) => {
      for (const i of list) {
        await client.query(`INSERT INTO intel_indicators (id, kind, hmac, level, source, campaign, confidence, valid_until, created_at, key_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
          ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, hmac = EXCLUDED.hmac, level = EXCLUDED.level, source = EXCLUDED.source, campaign = EXCLUDED.campaign, confidence = EXCLUDED.confidence, valid_until = EXCLUDED.valid_until, created_at = EXCLUDED.created_at, key_id = EXCLUDED.key_id`, indicatorArgs(i));
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
  async renameSightingAccount(accountId: string, pseudonym: string) {
    return (await this.pool.query(RENAME_SIGHTING_ACCOUNT((n) => `$${n}`), [pseudonym, accountId])).rowCount ?? 0;
  }
  async publish(collection: string, list: ReadonlyArray<{ body: PublishedObject['body']; caseId: string | null }>) {
    const out: PublishedObject[] = [];
    await this.inTransaction(async (client) => {
      // One writer at a time, so added_us only grows (a partner's cursor never skips a version).
      await client.query('LOCK TABLE taxii_objects IN SHARE ROW EXCLUSIVE MODE');
      let last = Number((await client.query('SELECT MAX(added_us) AS m FROM taxii_objects')).rows[0].m ?? 0);
      for (const o of list) {
        last = nextAddedUs(last);
        const args = publishedArgs(collection, o, last);
        await client.query(PUT_PUBLISHED((n) => `$${n}`), args);
        out.push(fromPublishedRow({ added_us: last, collection, id: o.body.id, type: o.body.type, version: args[4] as string, case_id: o.caseId, body: args[6] as string }));
      }
    });
    return out;
  }
  async published(q: PublishedQuery) {
    const { sql, args } = publishedSql(q, (n) => `$${n}`);
    return ((await this.pool.query(sql, args)).rows as PublishedRow[]).map(fromPublishedRow);
  }
  async publishedOfCase(caseId: string) { return ((await this.pool.query(OF_CASE((n) => `$${n}`), [caseId])).rows as PublishedRow[]).map(fromPublishedRow); }
  async putRecord(kind: string, id: string, body: unknown) { await this.pool.query(PUT_RECORD((n) => `$${n}`), [kind, id, JSON.stringify(body)]); }
  async getRecord<T>(kind: string, id: string) {
    const { rows } = await this.pool.query('SELECT body FROM intel_records WHERE kind = $1 AND id = $2', [kind, id]);
    return rows[0] ? JSON.parse(rows[0].body) as T : null;
  }
  async listRecords<T>(kind: string) { return (await this.pool.query('SELECT body FROM intel_records WHERE kind = $1 ORDER BY id', [kind])).rows.map((r: { body: string }) => JSON.parse(r.body) as T); }
  private inTransaction(work: (client: import('pg').PoolClient) => Promise<void>): Promise<void> {
    return inTransaction(this.pool, work);
  }
}
