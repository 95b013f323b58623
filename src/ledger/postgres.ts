/**
 * PostgreSQL ledger storage (many nodes): the same tables as SQLite inside one schema. A write
 * resolves after COMMIT (synchronous_commit on, the server default), so it is durable. Several
 * writers (one per gateway node) may append to one schema: each batch is laid out and stored
 * under a transaction-scoped advisory lock of the schema (appendLocked), so indices are taken in
 * turn; the writers' signing keys are checked under the same lock (joinKeys). Readers (proofs,
 * queries, verification) can be anywhere.
 */
import type pg from 'pg';
import { inTransaction, migratePostgres, type PgPool } from '../store/postgres.ts';
import type { NodeId } from './merkle.ts';
import type { Migration } from '../store/schema-version.ts';
import type { RegionColumns, RegionState } from './records.ts';
import {
  AppendConflictError, NoLedgerError, ipv4ToInt,
  type AppendRows, type CheckpointRow, type RecordedKey, type EntryFilter, type EntryRow, type EraseFilter, type LedgerStorage, type PrivateRow, type StoredNode, type WriterConnection,
} from './storage.ts';

const migrations = (s: string): Migration[] => [
  `CREATE SCHEMA IF NOT EXISTS ${s};
   CREATE TABLE ${s}.ledger_entries (
     idx BIGINT PRIMARY KEY, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, ts TEXT NOT NULL,
     account_id TEXT, org_id TEXT, key_id TEXT, cluster_id TEXT, model TEXT, subject_id TEXT, level TEXT,
     leaf BYTEA NOT NULL);
   CREATE INDEX ON ${s}.ledger_entries (ts);
   CREATE INDEX ON ${s}.ledger_entries (account_id, ts) WHERE account_id IS NOT NULL;
   CREATE INDEX ON ${s}.ledger_entries (org_id, ts) WHERE org_id IS NOT NULL;
   CREATE INDEX ON ${s}.ledger_entries (cluster_id) WHERE cluster_id IS NOT NULL;
   CREATE INDEX ON ${s}.ledger_entries (subject_id) WHERE subject_id IS NOT NULL;
   CREATE TABLE ${s}.ledger_nodes (level INT NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL, PRIMARY KEY (level, idx));
   CREATE TABLE ${s}.ledger_private (idx BIGINT PRIMARY KEY, account_id TEXT, org_id TEXT, ip TEXT, ip_v4 BIGINT, openings TEXT, erased_at TEXT);
   CREATE INDEX ON ${s}.ledger_private (ip) WHERE ip IS NOT NULL;
   CREATE INDEX ON ${s}.ledger_private (ip_v4) WHERE ip_v4 IS NOT NULL;
   CREATE TABLE ${s}.ledger_checkpoints (size BIGINT PRIMARY KEY, root BYTEA NOT NULL, note TEXT NOT NULL, created_at TEXT NOT NULL);
   CREATE TABLE ${s}.ledger_keys (vkey TEXT PRIMARY KEY, added_at TEXT NOT NULL);`,
  // Version 2: the region columns, as on SQLite (sqlite.ts): filled for the entries stored before
  // by region-fill.ts; an older release writes entries without them, read from their leaves.
  {
    sql: `ALTER TABLE ${s}.ledger_entries ADD COLUMN IF NOT EXISTS region_state TEXT, ADD COLUMN IF NOT EXISTS client_country TEXT, ADD COLUMN IF NOT EXISTS client_subdivision TEXT;
   CREATE INDEX ON ${s}.ledger_entries (client_subdivision, idx) WHERE client_subdivision IS NOT NULL;
   CREATE INDEX ON ${s}.ledger_entries (client_country, idx) WHERE client_country IS NOT NULL;
   CREATE INDEX ON ${s}.ledger_entries (region_state, ts, client_country, client_subdivision) WHERE region_state IN ('unrecorded', 'no_data');
   CREATE INDEX ON ${s}.ledger_entries (idx) WHERE region_state IS NULL;`,
    compatible: true,
  },
];

type Row = Record<string, unknown>;
const n = (v: unknown) => Number(v);
const bytes = (v: unknown) => new Uint8Array(v as Buffer);
const toEntry = (r: Row): EntryRow => ({
  index: n(r.idx), id: r.id as string, kind: r.kind as EntryRow['kind'], ts: r.ts as string,
  account_id: r.account_id as string | null, org_id: r.org_id as string | null, key_id: r.key_id as string | null,
  cluster_id: r.cluster_id as string | null, model: r.model as string | null, subject_id: r.subject_id as string | null,
  level: r.level as string | null, leaf: bytes(r.leaf),
  region_state: (r.region_state ?? null) as RegionState | null, client_country: (r.client_country ?? null) as string | null, client_subdivision: (r.client_subdivision ?? null) as string | null,
});
const toPrivate = (r: Row, p = ''): PrivateRow => ({
  index: n(r[`${p}idx`]), account_id: r[`${p}account_id`] as string | null, org_id: r[`${p}org_id`] as string | null,
  ip: r[`${p}ip`] as string | null, ...(r[`${p}ip_v4`] !== undefined ? { ip_v4: r[`${p}ip_v4`] === null ? null : Number(r[`${p}ip_v4`]) } : {}), openings: r[`${p}openings`] ? JSON.parse(r[`${p}openings`] as string) : null,
  erased_at: r[`${p}erased_at`] as string | null,
});
const toCheckpoint = (r: Row): CheckpointRow => ({ size: n(r.size), root: bytes(r.root), note: r.note as string, created_at: r.created_at as string });
const toRecordedKey = (r: Row): RecordedKey => ({ vkey: r.vkey as string, addedAt: r.added_at as string });
const ENTRY_COLS = 'idx, id, kind, ts, account_id, org_id, key_id, cluster_id, model, subject_id, level, leaf, region_state, client_country, client_subdivision';
const E_COLS = ENTRY_COLS.split(', ').map((c) => `e.${c}`).join(', ');

/**
 * PostgreSQL errors that mean another writer got there first (an index or id already taken) or a
 * transaction the server aborted to break a tie: nothing was stored, trying again is safe. So is
 * a lock wait that timed out (lock_timeout), and a transaction the server ended because it idled
 * holding the append lock (idle_in_transaction_session_timeout: it was never committed).
 */
const CONFLICTS = new Set(['23505', '40001', '40P01']);
function conflict(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  const message = (err as Error)?.message;
  if (code === '55P03') return new AppendConflictError(message, 'lock');
  if (code === '25P03') return new AppendConflictError(message, 'aborted');
  return typeof code === 'string' && CONFLICTS.has(code) ? new AppendConflictError(message) : err;
}

/**
 * How long a writer waits for the append lock before it gives up this attempt (and tries again,
 * see the writer): another node that stalls holding it must not stall every node's appends.
 */
const LOCK_TIMEOUT_MS = 5_000;
/**
 * How long a writer may sit idle inside its transaction holding the append lock before the server
 * ends its session, releasing the lock: a frozen process, or a host gone without closing its
 * connection (which TCP keepalive would notice only after about two hours). The writer issues its
 * statements back to back; its longest gaps are hashing a page of other nodes' entries.
 */
const IDLE_IN_LOCK_MS = 10_000;

export class PostgresLedgerStorage implements LedgerStorage {
  private readonly ready: Promise<void>;
  private readonly s: string;
  readonly where: string;

  /**
   * `url` (the pool's connection string) lets the ledger's writer thread open its own pool;
   * without it the writer runs in the caller's thread.
   */
  constructor(
    private readonly pool: PgPool,
    schema: string,
    private readonly opts: { ownsPool?: boolean; url?: string; readOnly?: boolean; lockTimeoutMs?: number; idleInLockTimeoutMs?: number; snapshot?: pg.PoolClient } = {},
  ) {
    if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
    this.s = schema;
    this.where = `PostgreSQL schema ${schema}`;
    this.ready = opts.readOnly ? Promise.resolve() : migratePostgres(pool, `ledger.${schema}`, migrations(schema));
    this.ready.catch(() => {}); // surfaced by the first call that awaits it (opening the ledger, at start)
  }

  /**
   * An existing ledger in `schema`, for reading only (verification, queries): nothing is created
   * or migrated. A schema without the ledger's tables, or whose migrations record no ledger, is a
   * NoLedgerError; a ledger of another version is an error saying what to do. The pool is closed
   * on error when the storage would have owned it.
   */
  static async openReadOnly(pool: PgPool, schema: string, opts: { ownsPool?: boolean; url?: string } = {}): Promise<PostgresLedgerStorage> {
    try {
      if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid schema name ${schema}`);
      const where = `PostgreSQL schema ${schema}`;
      const { rows } = await pool.query(
        `SELECT to_regclass('schema_migrations') IS NOT NULL AS registry,
                to_regclass($1) IS NOT NULL AS entries`,
        [`${schema}.ledger_entries`],
      );
      const version = rows[0].registry
        ? Number((await pool.query('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations WHERE component = $1', [`ledger.${schema}`])).rows[0].v)
        : 0;
      if (!rows[0].entries || version === 0) {
        throw new NoLedgerError(`no ledger at ${where}: check ledger.postgres_schema and store.postgres_url in the configuration (-c FILE)`);
      }
      const current = migrations(schema).length;
      if (version < current) throw new Error(`the ledger at ${where} is at version ${version} and needs migrating to ${current}: start \`warden serve\` with this configuration once (it migrates the ledger), then retry`);
      if (version > current) throw new Error(`the ledger at ${where} is at version ${version}, newer than this Warden knows (${current}): use a newer Warden`);
      return new PostgresLedgerStorage(pool, schema, { ...opts, readOnly: true });
    } catch (err) {
      if (opts.ownsPool) await pool.end().catch(() => {});
      throw err;
    }
  }

  /** The last query sent on the snapshot connection: the next waits for it (a pg client runs one query at a time). */
  private snapshotTurn: Promise<unknown> = Promise.resolve();

  private async q(sql: string, args: unknown[] = []): Promise<Row[]> {
    await this.ready;
    const snapshot = this.opts.snapshot;
    if (!snapshot) return (await this.pool.query(sql, args)).rows;
    // In a consistentRead view, every read goes through its transaction's connection, in turn:
    // readers that ask in parallel (Promise.all) are served one after the other.
    const run = this.snapshotTurn.then(() => snapshot.query(sql, args));
    this.snapshotTurn = run.catch(() => {});
    return (await run).rows;
  }

  /**
   * One REPEATABLE READ, READ ONLY transaction on a connection of its own: every read sees the
   * snapshot of its first one, whatever the writers of every node commit meanwhile.
   */
  async consistentRead<T>(read: (view: LedgerStorage) => Promise<T>): Promise<T> {
    if (this.opts.snapshot) return read(this);
    await this.ready;
    const client = await this.pool.connect();
    // A connection lost between statements is reported as an event no query waits for: keep it
    // (unhandled, it would crash the process); the next query fails with it.
    let lost: Error | null = null;
    const onError = (err: Error) => { lost ??= err; };
    client.on('error', onError);
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      try {
        const out = await read(new PostgresLedgerStorage(this.pool, this.s, { readOnly: true, snapshot: client }));
        await client.query('COMMIT');
        return out;
      } catch (err) {
        if (!lost) await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
    } finally {
      client.off('error', onError);
      client.release(lost ?? undefined);
    }
  }

  writerConnection(): WriterConnection | null {
    return this.opts.url ? { driver: 'postgres', url: this.opts.url, schema: this.s } : null;
  }

  async size(): Promise<number> {
    return n((await this.q(`SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM ${this.s}.ledger_entries`))[0].n);
  }

  async appendBatch(entries: readonly EntryRow[], privates: readonly PrivateRow[], nodes: readonly StoredNode[]): Promise<void> {
    await this.ready;
    await inTransaction(this.pool, (client) => this.insertRows(client, { entries, privates, nodes })).catch((err) => { throw conflict(err); });
  }

  /**
   * One transaction holding the advisory lock that serialises the appends of every writer of this
   * schema (released by COMMIT or ROLLBACK). The wait for the lock is bounded (lock_timeout, error
   * 55P03) and so is the time this session may idle holding it (idle_in_transaction_session_timeout:
   * the server ends the session, error 25P03, and the lock is free for the others).
   */
  private async withLogLock<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    await this.ready;
    const client = await this.pool.connect();
    // A session the server ends while this side is between statements reports it as an event no query
    // waits for (unhandled, it would crash the process): keep it, and report it as what failed.
    let ended: Error | null = null;
    const onError = (err: Error) => { ended ??= err; };
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      await client.query("SELECT set_config('lock_timeout', $1, true), set_config('idle_in_transaction_session_timeout', $2, true)",
        [`${this.opts.lockTimeoutMs ?? LOCK_TIMEOUT_MS}ms`, `${this.opts.idleInLockTimeoutMs ?? IDLE_IN_LOCK_MS}ms`]);
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`warden.ledger:${this.s}`]);
      const out = await work(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      if (!ended) await client.query('ROLLBACK').catch(() => {});
      throw conflict(ended ?? err);
    } finally {
      client.removeListener('error', onError);
      // A session the server ended is not given back to the pool.
      client.release(ended ?? undefined);
    }
  }

  async appendLocked(build: (size: number, view: LedgerStorage) => Promise<AppendRows>): Promise<void> {
    await this.withLogLock(async (client) => {
      // A statement of its own, after the lock: its snapshot includes every append committed before it.
      const size = n((await client.query(`SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM ${this.s}.ledger_entries`)).rows[0].n);
      const rows = await build(size, PostgresLedgerStorage.within(client, this.s));
      await this.insertRows(client, rows);
    });
  }

  async joinKeys(accept: (recorded: readonly RecordedKey[], latest: { note: string; createdAt: string } | null) => readonly string[] | null): Promise<boolean> {
    return this.withLogLock(async (client) => {
      const recorded = (await client.query(`SELECT vkey, added_at FROM ${this.s}.ledger_keys ORDER BY added_at, vkey`)).rows.map(toRecordedKey);
      const row = (await client.query(`SELECT note, created_at FROM ${this.s}.ledger_checkpoints ORDER BY size DESC LIMIT 1`)).rows[0] as Row | undefined;
      const latest = row ? { note: row.note as string, createdAt: row.created_at as string } : null;
      const takeUp = accept(recorded, latest);
      if (takeUp === null) return false;
      // After the latest checkpoint even if that node's clock runs ahead of this one's: these keys count as taken up since it.
      const now = Math.max(Date.now(), latest ? (Date.parse(latest.createdAt) || 0) + 1 : 0);
      const addedAt = new Date(now).toISOString();
      for (const k of takeUp) {
        await client.query(`INSERT INTO ${this.s}.ledger_keys (vkey, added_at) VALUES ($1, $2) ON CONFLICT (vkey) DO UPDATE SET added_at = EXCLUDED.added_at`, [k, addedAt]);
      }
      return true;
    });
  }

  async recordedKeys(): Promise<RecordedKey[]> {
    return (await this.q(`SELECT vkey, added_at FROM ${this.s}.ledger_keys ORDER BY added_at, vkey`)).map(toRecordedKey);
  }

  /** Reads inside a writer's transaction (it holds the append lock): only query() is used, which a client has as a pool does. */
  private static within(client: pg.PoolClient, schema: string): PostgresLedgerStorage {
    return new PostgresLedgerStorage(client as unknown as PgPool, schema, { readOnly: true });
  }

  private async insertRows(client: pg.PoolClient, { entries, privates, nodes }: AppendRows): Promise<void> {
    for (let i = 0; i < entries.length; i += 1000) {
      const chunk = entries.slice(i, i + 1000);
      const cols = ['idx', 'id', 'kind', 'ts', 'account_id', 'org_id', 'key_id', 'cluster_id', 'model', 'subject_id', 'level', 'leaf', 'region_state', 'client_country', 'client_subdivision'] as const;
      const arrays = cols.map((c) => chunk.map((e) => (c === 'idx' ? e.index : c === 'leaf' ? Buffer.from(e.leaf) : e[c] ?? null)));
      await client.query(
        `INSERT INTO ${this.s}.ledger_entries (${ENTRY_COLS}) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bytea[], $13::text[], $14::text[], $15::text[])`,
        arrays,
      );
    }
    if (privates.length) {
      await client.query(
        `INSERT INTO ${this.s}.ledger_private (idx, account_id, org_id, ip, ip_v4, openings) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])`,
        [privates.map((p) => p.index), privates.map((p) => p.account_id), privates.map((p) => p.org_id), privates.map((p) => p.ip),
          privates.map((p) => (p.ip === null ? null : ipv4ToInt(p.ip))), privates.map((p) => (p.openings ? JSON.stringify(p.openings) : null))],
      );
    }
    if (nodes.length) {
      await client.query(
        `INSERT INTO ${this.s}.ledger_nodes (level, idx, hash) SELECT * FROM unnest($1::int[], $2::bigint[], $3::bytea[])`,
        [nodes.map((x) => x.level), nodes.map((x) => x.index), nodes.map((x) => Buffer.from(x.hash))],
      );
    }
  }

  async existingIds(ids: readonly string[]): Promise<Map<string, number>> {
    if (!ids.length) return new Map();
    const rows = await this.q(`SELECT id, idx FROM ${this.s}.ledger_entries WHERE id = ANY($1::text[])`, [ids]);
    return new Map(rows.map((r) => [r.id as string, n(r.idx)]));
  }

  async getNodes(ids: readonly NodeId[]): Promise<Uint8Array[]> {
    if (!ids.length) return [];
    const rows = await this.q(
      `SELECT n.level, n.idx, n.hash FROM ${this.s}.ledger_nodes n JOIN unnest($1::int[], $2::bigint[]) AS w(level, idx) ON n.level = w.level AND n.idx = w.idx`,
      [ids.map((i) => i.level), ids.map((i) => i.index)],
    );
    const map = new Map(rows.map((r) => [`${r.level}/${n(r.idx)}`, bytes(r.hash)]));
    return ids.map(({ level, index }) => {
      const h = map.get(`${level}/${index}`);
      if (!h) throw new Error(`ledger tree node ${level}/${index} is missing`);
      return h;
    });
  }

  async putCheckpoint(c: CheckpointRow): Promise<void> {
    await this.q(`INSERT INTO ${this.s}.ledger_checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO UPDATE SET root = EXCLUDED.root, note = EXCLUDED.note, created_at = EXCLUDED.created_at`,
      [c.size, Buffer.from(c.root), c.note, c.created_at]);
  }

  async latestCheckpoint(): Promise<CheckpointRow | null> {
    const rows = await this.q(`SELECT * FROM ${this.s}.ledger_checkpoints ORDER BY size DESC LIMIT 1`);
    return rows[0] ? toCheckpoint(rows[0]) : null;
  }

  async checkpoints(afterSize: number, limit: number): Promise<CheckpointRow[]> {
    return (await this.q(`SELECT * FROM ${this.s}.ledger_checkpoints WHERE size > $1 ORDER BY size LIMIT $2`, [afterSize, limit])).map(toCheckpoint);
  }

  async checkpointAt(size: number): Promise<CheckpointRow | null> {
    const rows = await this.q(`SELECT * FROM ${this.s}.ledger_checkpoints WHERE size = $1`, [size]);
    return rows[0] ? toCheckpoint(rows[0]) : null;
  }

  async getEntry(index: number): Promise<EntryRow | null> {
    const rows = await this.q(`SELECT ${ENTRY_COLS} FROM ${this.s}.ledger_entries WHERE idx = $1`, [index]);
    return rows[0] ? toEntry(rows[0]) : null;
  }

  async getEntryById(id: string): Promise<EntryRow | null> {
    const rows = await this.q(`SELECT ${ENTRY_COLS} FROM ${this.s}.ledger_entries WHERE id = $1`, [id]);
    return rows[0] ? toEntry(rows[0]) : null;
  }

  async entries(start: number, end: number, limit: number): Promise<EntryRow[]> {
    return (await this.q(`SELECT ${ENTRY_COLS} FROM ${this.s}.ledger_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3`, [start, end, limit])).map(toEntry);
  }

  async nodes(level: number, start: number, limit: number): Promise<StoredNode[]> {
    return (await this.q(`SELECT level, idx, hash FROM ${this.s}.ledger_nodes WHERE level = $1 AND idx >= $2 ORDER BY idx LIMIT $3`, [level, start, limit]))
      .map((r) => ({ level: n(r.level), index: n(r.idx), hash: bytes(r.hash) }));
  }

  async maxLevel(): Promise<number> {
    return n((await this.q(`SELECT COALESCE(MAX(level), -1) AS m FROM ${this.s}.ledger_nodes`))[0].m);
  }

  async privates(indices: readonly number[]): Promise<Map<number, PrivateRow>> {
    if (!indices.length) return new Map();
    const rows = await this.q(`SELECT idx, account_id, org_id, ip, ip_v4, openings, erased_at FROM ${this.s}.ledger_private WHERE idx = ANY($1::bigint[])`, [indices]);
    return new Map(rows.map((r) => [n(r.idx), toPrivate(r)]));
  }

  async privateRange(start: number, end: number, limit: number): Promise<PrivateRow[]> {
    return (await this.q(`SELECT idx, account_id, org_id, ip, ip_v4, openings, erased_at FROM ${this.s}.ledger_private WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3`, [start, end, limit]))
      .map((r) => toPrivate(r));
  }

  /** The WHERE terms of a filter but its regions, limit and afterIndex (parameters through `p`), and whether they read the private side (alias `pr`). */
  private filterTerms(f: EntryFilter, p: (v: unknown) => string): { where: string[]; priv: boolean } {
    const where: string[] = [];
    if (f.kind) where.push(`e.kind = ${p(f.kind)}`);
    if (f.orgId) where.push(`e.org_id = ${p(f.orgId)}`);
    if (f.keyId) where.push(`e.key_id = ${p(f.keyId)}`);
    if (f.model) where.push(`e.model = ${p(f.model)}`);
    if (f.from) where.push(`e.ts >= ${p(f.from)}`);
    if (f.to) where.push(`e.ts < ${p(f.to)}`);
    if (f.beforeIndex !== undefined) where.push(`e.idx < ${p(f.beforeIndex)}`);
    if (f.ip) where.push(`pr.ip = ${p(f.ip)}`);
    if (f.ipv4Range) where.push(`pr.ip_v4 BETWEEN ${p(f.ipv4Range[0])} AND ${p(f.ipv4Range[1])}`);
    if (f.hasIp) where.push('pr.ip IS NOT NULL');
    if (f.anyOf) {
      const ors: string[] = [];
      if (f.anyOf.accountIds?.length) ors.push(`e.account_id = ANY(${p([...f.anyOf.accountIds])}::text[])`);
      if (f.anyOf.clusterId) ors.push(`e.cluster_id = ${p(f.anyOf.clusterId)}`);
      if (f.anyOf.subjectIds?.length) ors.push(`e.subject_id = ANY(${p([...f.anyOf.subjectIds])}::text[])`);
      where.push(ors.length ? `(${ors.join(' OR ')})` : 'FALSE');
    }
    return { where, priv: !!(f.ip || f.ipv4Range || f.hasIp) };
  }

  async query(f: EntryFilter): Promise<{ entry: EntryRow; priv: PrivateRow | null }[]> {
    const args: unknown[] = [];
    const p = (v: unknown) => { args.push(v); return `$${args.length}`; };
    const { where, priv } = this.filterTerms(f, p);
    if (f.afterIndex !== undefined) where.push(`e.idx > ${p(f.afterIndex)}`);
    const limit = p(f.limit ?? 1000);
    const cols = `${E_COLS}, pr.idx AS p_idx, pr.account_id AS p_account_id, pr.org_id AS p_org_id, pr.ip AS p_ip, pr.openings AS p_openings, pr.erased_at AS p_erased_at`;
    let sql: string;
    if (f.regions) {
      // As on SQLite: one index scan per code and one for the entries not filled yet, each its
      // first `limit` rows by index; the page is the first `limit` of their union.
      const terms = [
        ...f.regions.subdivisions.map((c) => `e.client_subdivision = ${p(c)}`),
        ...f.regions.countries.map((c) => `e.client_country = ${p(c)}`),
        'e.region_state IS NULL',
      ];
      const join = priv ? `LEFT JOIN ${this.s}.ledger_private pr ON pr.idx = e.idx` : '';
      const picked = terms.map((t) => `(SELECT e.idx FROM ${this.s}.ledger_entries e ${join} WHERE ${[...where, t].join(' AND ')} ORDER BY e.idx LIMIT ${limit})`);
      sql = `WITH picked AS (${picked.join(' UNION ')})
             SELECT ${cols} FROM picked JOIN ${this.s}.ledger_entries e ON e.idx = picked.idx LEFT JOIN ${this.s}.ledger_private pr ON pr.idx = e.idx ORDER BY e.idx LIMIT ${limit}`;
    } else {
      sql = `SELECT ${cols} FROM ${this.s}.ledger_entries e LEFT JOIN ${this.s}.ledger_private pr ON pr.idx = e.idx
        ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY e.idx LIMIT ${limit}`;
    }
    const rows = await this.q(sql, args);
    return rows.map((r) => ({ entry: toEntry(r), priv: r.p_idx === null ? null : toPrivate(r, 'p_') }));
  }

  /** The SQL of regionUnknown (for EXPLAIN in tests) and its arguments. */
  regionUnknownSql(f: EntryFilter, r: { subdivisions: readonly string[]; countries: readonly string[]; subdivisionCountries: readonly string[] }): { sql: string; args: unknown[] } {
    const args: unknown[] = [];
    const p = (v: unknown) => { args.push(v); return `$${args.length}`; };
    // Only interactions have these states (regionColumns): the kind is not read from the table.
    const { where, priv } = this.filterTerms({ ...f, kind: undefined }, p);
    where.push("e.region_state IN ('unrecorded', 'no_data')");
    if (r.subdivisions.length) where.push(`NOT COALESCE(e.client_subdivision = ANY(${p([...r.subdivisions])}::text[]), false)`);
    if (r.countries.length) where.push(`NOT COALESCE(e.client_country = ANY(${p([...r.countries])}::text[]), false)`);
    const inCountry = r.subdivisionCountries.length ? `COALESCE(e.client_country = ANY(${p([...r.subdivisionCountries])}::text[]), false)` : 'false';
    const sql = `SELECT COUNT(*) FILTER (WHERE e.region_state = 'unrecorded') AS unrecorded,
                        COUNT(*) FILTER (WHERE e.region_state = 'unrecorded' AND ${inCountry}) AS in_country,
                        COUNT(*) FILTER (WHERE e.region_state = 'no_data') AS no_data
                   FROM ${this.s}.ledger_entries e ${priv ? `LEFT JOIN ${this.s}.ledger_private pr ON pr.idx = e.idx` : ''} WHERE ${where.join(' AND ')}`;
    return { sql, args };
  }

  async regionUnknown(f: EntryFilter, r: { subdivisions: readonly string[]; countries: readonly string[]; subdivisionCountries: readonly string[] }): Promise<{ unrecorded: number; unrecordedInCountry: number; noData: number }> {
    const { sql, args } = this.regionUnknownSql(f, r);
    const [row] = await this.q(sql, args);
    return { unrecorded: n(row.unrecorded), unrecordedInCountry: n(row.in_country), noData: n(row.no_data) };
  }

  async regionsUnfilled(): Promise<number> {
    return n((await this.q(`SELECT COUNT(*) AS n FROM ${this.s}.ledger_entries WHERE region_state IS NULL`))[0].n);
  }

  async fillRegions(limit: number, derive: (kind: string, leaf: Uint8Array) => RegionColumns): Promise<number> {
    await this.ready;
    // Rows another node is filling are skipped (SKIP LOCKED): nodes starting together share the work.
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query(`SELECT idx, kind, leaf FROM ${this.s}.ledger_entries WHERE region_state IS NULL ORDER BY idx LIMIT $1 FOR UPDATE SKIP LOCKED`, [limit]);
      if (!rows.length) return 0;
      const cols = rows.map((r) => derive(r.kind as string, bytes(r.leaf)));
      await client.query(
        `UPDATE ${this.s}.ledger_entries e SET region_state = v.state, client_country = v.country, client_subdivision = v.subdivision
           FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS v(idx, state, country, subdivision) WHERE e.idx = v.idx`,
        [rows.map((r) => r.idx), cols.map((c) => c.region_state), cols.map((c) => c.client_country), cols.map((c) => c.client_subdivision)],
      );
      return rows.length;
    });
  }

  async erase(f: EraseFilter, at: string): Promise<number> {
    const where: string[] = [];
    const args: unknown[] = [at];
    const p = (v: unknown) => { args.push(v); return `$${args.length}`; };
    if (f.accountId) where.push(`idx IN (SELECT idx FROM ${this.s}.ledger_entries WHERE account_id = ${p(f.accountId)})`);
    if (f.orgId) where.push(`idx IN (SELECT idx FROM ${this.s}.ledger_entries WHERE org_id = ${p(f.orgId)})`);
    if (f.indices) where.push(`idx = ANY(${p([...f.indices])}::bigint[])`);
    if (f.before) where.push(`idx IN (SELECT idx FROM ${this.s}.ledger_entries WHERE ts < ${p(f.before)})`);
    if (!where.length) throw new Error('erase needs a filter');
    await this.ready;
    const r = await this.pool.query(`UPDATE ${this.s}.ledger_private SET ip = NULL, ip_v4 = NULL, openings = NULL, erased_at = $1 WHERE erased_at IS NULL AND ${where.join(' AND ')}`, args);
    return r.rowCount ?? 0;
  }

  async recordKeys(vkeys: readonly string[]): Promise<void> {
    const now = new Date().toISOString();
    for (const k of vkeys) await this.q(`INSERT INTO ${this.s}.ledger_keys (vkey, added_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [k, now]);
  }

  async keys(): Promise<string[]> {
    return (await this.q(`SELECT vkey FROM ${this.s}.ledger_keys ORDER BY added_at, vkey`)).map((r) => r.vkey as string);
  }

  private closing: Promise<void> | null = null;

  /** Close the pool if this storage owns it; closing again waits for the first close. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.ready.catch(() => {});
      if (this.opts.ownsPool) await this.pool.end();
    })();
    return this.closing;
  }
}
