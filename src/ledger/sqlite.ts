/**
 * SQLite ledger storage (embedded default): its own file, WAL, synchronous=FULL so a resolved
 * appendBatch/putCheckpoint has been fsynced. Node hashes live in a WITHOUT ROWID table keyed by
 * (level, index), so proofs read O(log n) rows.
 */
import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import { migrateSqlite, openSqlite, truncateWal, type SqliteDb } from '../store/sqlite.ts';
import type { Migration } from '../store/schema-version.ts';
import type { RegionColumns, RegionState } from './records.ts';
import type { NodeId } from './merkle.ts';
import {
  NoLedgerError, ipv4ToInt, type CheckpointRow, type EntryFilter, type EntryRow, type EraseFilter, type LedgerStorage, type PrivateRow, type StoredNode, type WriterConnection,
} from './storage.ts';

const MIGRATIONS: Migration[] = [
  `CREATE TABLE ledger_entries (
     idx INTEGER PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL,
     ts TEXT NOT NULL,
     account_id TEXT, org_id TEXT, key_id TEXT, cluster_id TEXT, model TEXT, subject_id TEXT, level TEXT,
     leaf BLOB NOT NULL
   );
   CREATE INDEX ledger_entries_ts ON ledger_entries (ts);
   CREATE INDEX ledger_entries_account ON ledger_entries (account_id, ts) WHERE account_id IS NOT NULL;
   CREATE INDEX ledger_entries_org ON ledger_entries (org_id, ts) WHERE org_id IS NOT NULL;
   CREATE INDEX ledger_entries_cluster ON ledger_entries (cluster_id) WHERE cluster_id IS NOT NULL;
   CREATE INDEX ledger_entries_subject ON ledger_entries (subject_id) WHERE subject_id IS NOT NULL;
   CREATE TABLE ledger_nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
   CREATE TABLE ledger_private (
     idx INTEGER PRIMARY KEY,
     account_id TEXT, org_id TEXT, ip TEXT, ip_v4 INTEGER,
     openings TEXT, erased_at TEXT
   );
   CREATE INDEX ledger_private_ip ON ledger_private (ip) WHERE ip IS NOT NULL;
   CREATE INDEX ledger_private_ipv4 ON ledger_private (ip_v4) WHERE ip_v4 IS NOT NULL;
   CREATE TABLE ledger_checkpoints (size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL, created_at TEXT NOT NULL);
   CREATE TABLE ledger_keys (vkey TEXT PRIMARY KEY, added_at TEXT NOT NULL);`,
  // Version 2: the region columns (records.ts regionColumns), so that a query by region reads an
  // index instead of every leaf. Entries stored before have none (region_state null) until the
  // fill (region-fill.ts) reads their leaves; queries read those leaves meanwhile. An older
  // release writes entries without them, which are read the same way: compatible.
  {
    sql: `ALTER TABLE ledger_entries ADD COLUMN region_state TEXT;
   ALTER TABLE ledger_entries ADD COLUMN client_country TEXT;
   ALTER TABLE ledger_entries ADD COLUMN client_subdivision TEXT;
   CREATE INDEX ledger_entries_subdivision ON ledger_entries (client_subdivision) WHERE client_subdivision IS NOT NULL;
   CREATE INDEX ledger_entries_country ON ledger_entries (client_country) WHERE client_country IS NOT NULL;
   CREATE INDEX ledger_entries_region_unknown ON ledger_entries (region_state, ts, client_country, client_subdivision) WHERE region_state IN ('unrecorded', 'no_data');
   CREATE INDEX ledger_entries_region_unfilled ON ledger_entries (region_state) WHERE region_state IS NULL;`,
    compatible: true,
  },
];

interface RawEntry {
  idx: number; id: string; kind: 'interaction' | 'verdict' | 'erasure' | 'settings'; ts: string;
  account_id: string | null; org_id: string | null; key_id: string | null; cluster_id: string | null;
  model: string | null; subject_id: string | null; level: string | null; leaf: Buffer;
  region_state: RegionState | null; client_country: string | null; client_subdivision: string | null;
}
interface RawPrivate { idx: number; account_id: string | null; org_id: string | null; ip: string | null; ip_v4?: number | null; openings: string | null; erased_at: string | null }

const toEntry = (r: RawEntry): EntryRow => ({
  index: r.idx, id: r.id, kind: r.kind, ts: r.ts, account_id: r.account_id, org_id: r.org_id, key_id: r.key_id,
  cluster_id: r.cluster_id, model: r.model, subject_id: r.subject_id, level: r.level, leaf: new Uint8Array(r.leaf),
  region_state: r.region_state, client_country: r.client_country, client_subdivision: r.client_subdivision,
});
const toPrivate = (r: RawPrivate): PrivateRow => ({
  index: r.idx, account_id: r.account_id, org_id: r.org_id, ip: r.ip, ...(r.ip_v4 !== undefined ? { ip_v4: r.ip_v4 } : {}),
  openings: r.openings ? JSON.parse(r.openings) : null, erased_at: r.erased_at,
});
const toCheckpoint = (r: { size: number; root: Buffer; note: string; created_at: string }): CheckpointRow => ({
  size: r.size, root: new Uint8Array(r.root), note: r.note, created_at: r.created_at,
});

const ENTRY_COLS = 'idx, id, kind, ts, account_id, org_id, key_id, cluster_id, model, subject_id, level, leaf, region_state, client_country, client_subdivision';
/** The entry columns of a query (alias `e`). */
const E_COLS = ENTRY_COLS.split(', ').map((c) => `e.${c}`).join(', ');
const REGION_UNKNOWN = "e.region_state IN ('unrecorded', 'no_data')";

export class SqliteLedgerStorage implements LedgerStorage {
  private readonly stmts;
  private readonly writeBatch;

  /** Open (or create) the ledger file at `path` with durable commits. */
  static open(path: string): SqliteLedgerStorage {
    return new SqliteLedgerStorage(openSqlite(path, { durability: 'full' }), true);
  }

  /**
   * Open an existing ledger file for reading only (verification, queries): nothing is created or
   * migrated, and a missing file or one that holds no ledger is an error naming the path.
   */
  static openReadOnly(path: string): SqliteLedgerStorage {
    let db: SqliteDb;
    try {
      db = new Database(path, { readonly: true, fileMustExist: true });
    } catch (err) {
      throw new NoLedgerError(`no ledger at ${path} (${(err as Error).message})`);
    }
    try {
      db.pragma('busy_timeout = 5000');
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").pluck().get();
      const version = tables ? (db.prepare("SELECT MAX(version) FROM schema_migrations WHERE component = 'ledger'").pluck().get() as number | null) : null;
      if (!version) throw new NoLedgerError(`no ledger at ${path}: the file holds none; check ledger.sqlite_path or store.sqlite_path in the configuration (-c FILE)`);
      if (version < MIGRATIONS.length) throw new Error(`the ledger at ${path} is at version ${version} and needs migrating to ${MIGRATIONS.length}: start \`warden serve\` with this configuration once (it migrates the ledger), then retry`);
      if (version > MIGRATIONS.length) throw new Error(`the ledger at ${path} is at version ${version}, newer than this Warden knows (${MIGRATIONS.length}): use a newer Warden`);
      return new SqliteLedgerStorage(db, true, { readOnly: true });
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Use an already opened database; it must have been opened with durability 'full'. */
  constructor(readonly db: SqliteDb, private readonly ownsDb = false, opts: { readOnly?: boolean } = {}) {
    if (!opts.readOnly) migrateSqlite(db, 'ledger', MIGRATIONS);
    this.stmts = {
      size: db.prepare('SELECT COALESCE(MAX(idx) + 1, 0) AS n FROM ledger_entries'),
      insEntry: db.prepare(`INSERT INTO ledger_entries (${ENTRY_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      unfilledCount: db.prepare('SELECT COUNT(*) FROM ledger_entries WHERE region_state IS NULL').pluck(),
      unfilled: db.prepare('SELECT idx, kind, leaf FROM ledger_entries WHERE region_state IS NULL ORDER BY idx LIMIT ?'),
      setRegion: db.prepare('UPDATE ledger_entries SET region_state = ?, client_country = ?, client_subdivision = ? WHERE idx = ? AND region_state IS NULL'),
      insPrivate: db.prepare('INSERT INTO ledger_private (idx, account_id, org_id, ip, ip_v4, openings, erased_at) VALUES (?, ?, ?, ?, ?, ?, NULL)'),
      insNode: db.prepare('INSERT INTO ledger_nodes (level, idx, hash) VALUES (?, ?, ?)'),
      getNode: db.prepare('SELECT hash FROM ledger_nodes WHERE level = ? AND idx = ?').pluck(),
      idOf: db.prepare('SELECT idx FROM ledger_entries WHERE id = ?').pluck(),
      insCheckpoint: db.prepare('INSERT OR REPLACE INTO ledger_checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?)'),
      latest: db.prepare('SELECT * FROM ledger_checkpoints ORDER BY size DESC LIMIT 1'),
      cpAt: db.prepare('SELECT * FROM ledger_checkpoints WHERE size = ?'),
      cps: db.prepare('SELECT * FROM ledger_checkpoints WHERE size > ? ORDER BY size LIMIT ?'),
      entry: db.prepare(`SELECT ${ENTRY_COLS} FROM ledger_entries WHERE idx = ?`),
      entryById: db.prepare(`SELECT ${ENTRY_COLS} FROM ledger_entries WHERE id = ?`),
      entries: db.prepare(`SELECT ${ENTRY_COLS} FROM ledger_entries WHERE idx >= ? AND idx < ? ORDER BY idx LIMIT ?`),
      nodes: db.prepare('SELECT level, idx, hash FROM ledger_nodes WHERE level = ? AND idx >= ? ORDER BY idx LIMIT ?'),
      maxLevel: db.prepare('SELECT COALESCE(MAX(level), -1) FROM ledger_nodes').pluck(),
      priv: db.prepare('SELECT idx, account_id, org_id, ip, ip_v4, openings, erased_at FROM ledger_private WHERE idx = ?'),
      privRange: db.prepare('SELECT idx, account_id, org_id, ip, ip_v4, openings, erased_at FROM ledger_private WHERE idx >= ? AND idx < ? ORDER BY idx LIMIT ?'),
      insKey: db.prepare('INSERT OR IGNORE INTO ledger_keys (vkey, added_at) VALUES (?, ?)'),
      keys: db.prepare('SELECT vkey FROM ledger_keys ORDER BY added_at, vkey').pluck(),
    };
    this.writeBatch = db.transaction((entries: readonly EntryRow[], privates: readonly PrivateRow[], nodes: readonly StoredNode[]) => {
      for (const e of entries) {
        this.stmts.insEntry.run(e.index, e.id, e.kind, e.ts, e.account_id, e.org_id, e.key_id, e.cluster_id, e.model, e.subject_id, e.level, e.leaf,
          e.region_state ?? null, e.client_country ?? null, e.client_subdivision ?? null);
      }
      for (const p of privates) {
        this.stmts.insPrivate.run(p.index, p.account_id, p.org_id, p.ip, p.ip === null ? null : ipv4ToInt(p.ip), p.openings ? JSON.stringify(p.openings) : null);
      }
      for (const n of nodes) this.stmts.insNode.run(n.level, n.index, n.hash);
    });
  }

  /** A file-backed log can be opened by a writer thread; an in-memory one cannot. */
  writerConnection(): WriterConnection | null {
    if (this.db.memory || this.db.name === '' || this.db.name === ':memory:') return null;
    return { driver: 'sqlite', path: resolve(this.db.name) };
  }

  async size(): Promise<number> {
    return (this.stmts.size.get() as { n: number }).n;
  }

  async appendBatch(entries: readonly EntryRow[], privates: readonly PrivateRow[], nodes: readonly StoredNode[]): Promise<void> {
    this.writeBatch(entries, privates, nodes);
  }

  async existingIds(ids: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const id of ids) {
      const idx = this.stmts.idOf.get(id) as number | undefined;
      if (idx !== undefined) out.set(id, idx);
    }
    return out;
  }

  async getNodes(ids: readonly NodeId[]): Promise<Uint8Array[]> {
    return ids.map(({ level, index }) => {
      const h = this.stmts.getNode.get(level, index) as Buffer | undefined;
      if (!h) throw new Error(`ledger tree node ${level}/${index} is missing`);
      return new Uint8Array(h);
    });
  }

  async putCheckpoint(c: CheckpointRow): Promise<void> {
    this.stmts.insCheckpoint.run(c.size, c.root, c.note, c.created_at);
  }

  async latestCheckpoint(): Promise<CheckpointRow | null> {
    const r = this.stmts.latest.get() as Parameters<typeof toCheckpoint>[0] | undefined;
    return r ? toCheckpoint(r) : null;
  }

  async checkpoints(afterSize: number, limit: number): Promise<CheckpointRow[]> {
    return (this.stmts.cps.all(afterSize, limit) as Parameters<typeof toCheckpoint>[0][]).map(toCheckpoint);
  }

  async checkpointAt(size: number): Promise<CheckpointRow | null> {
    const r = this.stmts.cpAt.get(size) as Parameters<typeof toCheckpoint>[0] | undefined;
    return r ? toCheckpoint(r) : null;
  }

  async getEntry(index: number): Promise<EntryRow | null> {
    const r = this.stmts.entry.get(index) as RawEntry | undefined;
    return r ? toEntry(r) : null;
  }

  async getEntryById(id: string): Promise<EntryRow | null> {
    const r = this.stmts.entryById.get(id) as RawEntry | undefined;
    return r ? toEntry(r) : null;
  }

  async entries(start: number, end: number, limit: number): Promise<EntryRow[]> {
    return (this.stmts.entries.all(start, end, limit) as RawEntry[]).map(toEntry);
  }

  async nodes(level: number, start: number, limit: number): Promise<StoredNode[]> {
    return (this.stmts.nodes.all(level, start, limit) as { level: number; idx: number; hash: Buffer }[])
      .map((r) => ({ level: r.level, index: r.idx, hash: new Uint8Array(r.hash) }));
  }

  async maxLevel(): Promise<number> {
    return this.stmts.maxLevel.get() as number;
  }

  async privates(indices: readonly number[]): Promise<Map<number, PrivateRow>> {
    const out = new Map<number, PrivateRow>();
    for (const i of indices) {
      const r = this.stmts.priv.get(i) as RawPrivate | undefined;
      if (r) out.set(i, toPrivate(r));
    }
    return out;
  }

  async privateRange(start: number, end: number, limit: number): Promise<PrivateRow[]> {
    return (this.stmts.privRange.all(start, end, limit) as RawPrivate[]).map(toPrivate);
  }

  /** The WHERE terms of a filter but its regions, limit and afterIndex, and whether they read the private side (alias `p`). */
  private filterTerms(f: EntryFilter): { where: string[]; args: unknown[]; priv: boolean } {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (sql: string, ...a: unknown[]) => { where.push(sql); args.push(...a); };
    if (f.kind) add('e.kind = ?', f.kind);
    if (f.orgId) add('e.org_id = ?', f.orgId);
    if (f.keyId) add('e.key_id = ?', f.keyId);
    if (f.model) add('e.model = ?', f.model);
    if (f.from) add('e.ts >= ?', f.from);
    if (f.to) add('e.ts < ?', f.to);
    if (f.beforeIndex !== undefined) add('e.idx < ?', f.beforeIndex);
    if (f.ip) add('p.ip = ?', f.ip);
    if (f.ipv4Range) add('p.ip_v4 BETWEEN ? AND ?', f.ipv4Range[0], f.ipv4Range[1]);
    if (f.hasIp) where.push('p.ip IS NOT NULL');
    if (f.anyOf) {
      const ors: string[] = [];
      const { accountIds, clusterId, subjectIds } = f.anyOf;
      if (accountIds?.length) { ors.push(`e.account_id IN (${accountIds.map(() => '?').join(',')})`); args.push(...accountIds); }
      if (clusterId) { ors.push('e.cluster_id = ?'); args.push(clusterId); }
      if (subjectIds?.length) { ors.push(`e.subject_id IN (${subjectIds.map(() => '?').join(',')})`); args.push(...subjectIds); }
      where.push(ors.length ? `(${ors.join(' OR ')})` : '0');
    }
    return { where, args, priv: !!(f.ip || f.ipv4Range || f.hasIp) };
  }

  async query(f: EntryFilter): Promise<{ entry: EntryRow; priv: PrivateRow | null }[]> {
    const { where, args, priv } = this.filterTerms(f);
    if (f.afterIndex !== undefined) { where.push('e.idx > ?'); args.push(f.afterIndex); }
    const limit = f.limit ?? 1000;
    const cols = `${E_COLS}, p.idx AS p_idx, p.account_id AS p_account_id, p.org_id AS p_org_id, p.ip AS p_ip, p.openings AS p_openings, p.erased_at AS p_erased_at`;
    let sql: string;
    let all: unknown[];
    if (f.regions) {
      // One index seek per code (and one for the entries not filled yet), each its first `limit`
      // rows in index order; the first `limit` of their union are the page. Every statement reads
      // only matching rows: no leaf of another region is read.
      const arms = [
        ...f.regions.subdivisions.map((c) => ['e.client_subdivision = ?', c] as const),
        ...f.regions.countries.map((c) => ['e.client_country = ?', c] as const),
        ['e.region_state IS NULL', null] as const,
      ];
      const picked: string[] = [];
      all = [];
      for (const [term, code] of arms) {
        const w = [...where, term];
        picked.push(`SELECT idx FROM (SELECT e.idx FROM ledger_entries e ${priv ? 'LEFT JOIN ledger_private p ON p.idx = e.idx ' : ''}WHERE ${w.join(' AND ')} ORDER BY e.idx LIMIT ?)`);
        all.push(...args, ...(code === null ? [] : [code]), limit);
      }
      sql = `WITH picked AS (${picked.join(' UNION ')})
             SELECT ${cols} FROM picked JOIN ledger_entries e ON e.idx = picked.idx LEFT JOIN ledger_private p ON p.idx = e.idx ORDER BY e.idx LIMIT ?`;
      all.push(limit);
    } else {
      sql = `SELECT ${cols} FROM ledger_entries e LEFT JOIN ledger_private p ON p.idx = e.idx
                  ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY e.idx LIMIT ?`;
      all = [...args, limit];
    }
    const rows = this.db.prepare(sql).all(...all) as (RawEntry & Record<string, unknown>)[];
    return rows.map((r) => ({
      entry: toEntry(r),
      priv: r.p_idx === null ? null : toPrivate({
        idx: r.p_idx as number, account_id: r.p_account_id as string | null, org_id: r.p_org_id as string | null,
        ip: r.p_ip as string | null, openings: r.p_openings as string | null, erased_at: r.p_erased_at as string | null,
      }),
    }));
  }

  /** The SQL of regionUnknown (for EXPLAIN QUERY PLAN in tests) and its arguments. */
  regionUnknownSql(f: EntryFilter, r: { subdivisions: readonly string[]; countries: readonly string[]; subdivisionCountries: readonly string[] }): { sql: string; args: unknown[] } {
    const { where, args, priv } = this.filterTerms({ ...f, kind: undefined });
    // Only interactions have these states (regionColumns): the kind is not read from the table.
    where.push(REGION_UNKNOWN);
    const list = (codes: readonly string[]) => codes.map(() => '?').join(',');
    if (r.subdivisions.length) { where.push(`COALESCE(e.client_subdivision NOT IN (${list(r.subdivisions)}), 1)`); args.push(...r.subdivisions); }
    if (r.countries.length) { where.push(`COALESCE(e.client_country NOT IN (${list(r.countries)}), 1)`); args.push(...r.countries); }
    const inCountry = r.subdivisionCountries.length ? `e.client_country IN (${list(r.subdivisionCountries)})` : '0';
    const sql = `SELECT COALESCE(SUM(e.region_state = 'unrecorded'), 0) AS unrecorded,
                        COALESCE(SUM(e.region_state = 'unrecorded' AND ${inCountry}), 0) AS in_country,
                        COALESCE(SUM(e.region_state = 'no_data'), 0) AS no_data
                   FROM ledger_entries e ${priv ? 'LEFT JOIN ledger_private p ON p.idx = e.idx' : ''} WHERE ${where.join(' AND ')}`;
    return { sql, args: [...r.subdivisionCountries, ...args] };
  }

  async regionUnknown(f: EntryFilter, r: { subdivisions: readonly string[]; countries: readonly string[]; subdivisionCountries: readonly string[] }): Promise<{ unrecorded: number; unrecordedInCountry: number; noData: number }> {
    const { sql, args } = this.regionUnknownSql(f, r);
    const row = this.db.prepare(sql).get(...args) as { unrecorded: number; in_country: number; no_data: number };
    return { unrecorded: row.unrecorded, unrecordedInCountry: row.in_country, noData: row.no_data };
  }

  async regionsUnfilled(): Promise<number> {
    return this.stmts.unfilledCount.get() as number;
  }

  async fillRegions(limit: number, derive: (kind: string, leaf: Uint8Array) => RegionColumns): Promise<number> {
    // One write transaction per chunk: the writer's commits wait at most one chunk.
    return this.db.transaction(() => {
      const rows = this.stmts.unfilled.all(limit) as { idx: number; kind: string; leaf: Buffer }[];
      for (const r of rows) {
        const c = derive(r.kind, new Uint8Array(r.leaf.buffer, r.leaf.byteOffset, r.leaf.byteLength));
        this.stmts.setRegion.run(c.region_state, c.client_country, c.client_subdivision, r.idx);
      }
      return rows.length;
    }).immediate();
  }

  async erase(f: EraseFilter, at: string): Promise<number> {
    const where: string[] = [];
    const args: unknown[] = [];
    // Through the entries' indexes: the private side repeats the entry's account and org.
    if (f.accountId) { where.push('idx IN (SELECT idx FROM ledger_entries WHERE account_id = ?)'); args.push(f.accountId); }
    if (f.orgId) { where.push('idx IN (SELECT idx FROM ledger_entries WHERE org_id = ?)'); args.push(f.orgId); }
    if (f.indices) { where.push(`idx IN (${f.indices.map(() => '?').join(',') || 'NULL'})`); args.push(...f.indices); }
    if (f.before) { where.push('idx IN (SELECT idx FROM ledger_entries WHERE ts < ?)'); args.push(f.before); }
    if (!where.length) throw new Error('erase needs a filter');
    const r = this.db.prepare(`UPDATE ledger_private SET ip = NULL, ip_v4 = NULL, openings = NULL, erased_at = ? WHERE erased_at IS NULL AND ${where.join(' AND ')}`).run(at, ...args);
    // secure_delete (openSqlite) zeroes the old cells, but an index page rebalanced by the many
    // deletions can keep stale keys (the IPs) in its unused space: the IP indexes are rebuilt
    // (their old pages freed, hence zeroed). That takes the write lock for time proportional to
    // the whole log, so only when something was erased. Then the WAL frames written before are
    // truncated (also when nothing was: a rerun after a reader kept them is how they go).
    if (r.changes > 0) this.db.exec('REINDEX ledger_private_ip; REINDEX ledger_private_ipv4');
    truncateWal(this.db, 'ledger erase');
    return r.changes;
  }

  /**
   * One read transaction: in WAL mode it keeps the snapshot of its first read until it ends, while
   * the server's writer goes on appending (the WAL cannot be checkpointed past the snapshot
   * meanwhile). On a connection of its own, read-only, unless this one is: a connection that also
   * writes would put its writes in the transaction.
   */
  async consistentRead<T>(read: (view: LedgerStorage) => Promise<T>): Promise<T> {
    if (this.db.memory || this.db.inTransaction) return read(this);
    const own = this.db.readonly;
    const db = own ? this.db : new Database(this.db.name, { readonly: true, fileMustExist: true });
    try {
      if (!own) db.pragma('busy_timeout = 5000');
      const view = own ? this : new SqliteLedgerStorage(db, false, { readOnly: true });
      db.exec('BEGIN');
      try {
        return await read(view);
      } finally {
        if (db.inTransaction) db.exec('COMMIT');
      }
    } finally {
      if (!own) db.close();
    }
  }

  async recordKeys(vkeys: readonly string[]): Promise<void> {
    const now = new Date().toISOString();
    for (const k of vkeys) this.stmts.insKey.run(k, now);
  }

  async keys(): Promise<string[]> {
    return this.stmts.keys.all() as string[];
  }

  async close(): Promise<void> {
    if (this.ownsDb && this.db.open) this.db.close();
  }
}
