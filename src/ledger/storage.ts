/**
 * The ledger's storage interface. One implementation per backend (SQLite embedded default,
 * PostgreSQL for many nodes); the Ledger class holds all Merkle and signing logic, so a backend
 * only stores rows and answers range reads. Every write method is one durable transaction: when
 * its promise resolves, the data survives a crash (SQLite synchronous=FULL, PostgreSQL commit).
 */
import type { NodeId, NodeSource } from './merkle.ts';
import type { EntryColumns, Opening, PrivateField, RegionColumns, RegionState } from './records.ts';

/** A verifier key a shared log recorded, with when a writer last took it up (ISO 8601). */
export interface RecordedKey { vkey: string; addedAt: string }

/** One stored leaf: its position, its indexed columns and its canonical JSON bytes. */
export interface EntryRow extends EntryColumns {
  index: number;
  leaf: Uint8Array;
  /**
   * The region columns (records.ts regionColumns): written with the entry, and filled for entries
   * stored before they existed (region-fill.ts). Null or absent: not filled yet, the leaf says.
   */
  region_state?: RegionState | null;
  client_country?: string | null;
  client_subdivision?: string | null;
}

/** The erasable side of an entry (outside the tree). */
export interface PrivateRow {
  index: number;
  account_id: string | null;
  org_id: string | null;
  /** Client IP in clear while not erased (feeds IP/CIDR queries). */
  ip: string | null;
  /**
   * The IPv4 address of `ip` as an unsigned integer, as stored for IPv4 network queries (null for
   * IPv6 and when erased). Storage computes it from `ip` on write; reads return it.
   */
  ip_v4?: number | null;
  openings: Partial<Record<PrivateField, Opening>> | null;
  erased_at: string | null;
}

export interface StoredNode extends NodeId { hash: Uint8Array }

export interface CheckpointRow {
  size: number;
  root: Uint8Array;
  /** The signed note as published. */
  note: string;
  created_at: string;
}

/** Row filter for queries; fields are ANDed, `anyOf` members ORed together. Times are ISO 8601. */
export interface EntryFilter {
  kind?: 'interaction' | 'verdict' | 'erasure' | 'settings';
  orgId?: string;
  keyId?: string;
  model?: string;
  from?: string;
  to?: string;
  anyOf?: { accountIds?: readonly string[]; clusterId?: string; subjectIds?: readonly string[] };
  /** Client IP equal to this (clear side table). */
  ip?: string;
  /** IPv4 client addresses within [lo, hi] as unsigned integers. */
  ipv4Range?: [number, number];
  /** Only rows whose private side still holds an IP (for IPv6 CIDR filtering done by the caller). */
  hasIp?: boolean;
  /**
   * Only interactions whose region columns match one of these codes (`client_subdivision` in
   * `subdivisions`, or `client_country` in `countries`), read through their indexes, and those
   * whose region columns are not filled yet (`region_state` null): the caller matches those by
   * their leaf.
   */
  regions?: { subdivisions: readonly string[]; countries: readonly string[] };
  afterIndex?: number;
  /** Only entries with index below this. */
  beforeIndex?: number;
  limit?: number;
}

export interface EraseFilter {
  accountId?: string;
  orgId?: string;
  indices?: readonly number[];
  /** Entries with ts before this ISO time (retention). */
  before?: string;
}

/**
 * How a writer in another thread opens its own connection to the same log (the ledger's writer
 * runs in a worker thread and must not share the caller's connection).
 */
export type WriterConnection =
  | { driver: 'sqlite'; path: string }
  | { driver: 'postgres'; url: string; schema: string };

/** The rows one commit stores: entries, their private sides and the tree nodes they complete. */
export interface AppendRows {
  entries: readonly EntryRow[];
  privates: readonly PrivateRow[];
  nodes: readonly StoredNode[];
}

/**
 * An append that did not get through because of another writer of the same log; nothing of it
 * was stored, so the writer may catch up with the log and try again. `race`: an index or id was
 * already taken (e.g. by a writer that does not take the append lock); `lock`: the append lock
 * was not free in time (another writer held it: busy, or stalled); `aborted`: the server ended
 * this writer's transaction, which idled too long holding the lock (this writer stalled).
 */
export class AppendConflictError extends Error {
  constructor(message: string, readonly reason: 'race' | 'lock' | 'aborted' = 'race') {
    super(message);
  }
}

export interface LedgerStorage extends NodeSource {
  /** Where the log is, for messages (e.g. `PostgreSQL schema warden_ledger`). */
  readonly where?: string;
  /** Where a writer thread can open this log itself; null or absent: the writer runs in the caller's thread. */
  writerConnection?(): WriterConnection | null;
  /**
   * Present on storages that several writers (processes, nodes) may append to. One transaction:
   * take the log's append lock, read the stored size under it, let `build` lay the batch out from
   * that size (reading through `view`, which sees every append committed before the lock), store
   * what `build` returns. Appends of all writers are serialised, so no two take the same index;
   * one lock per batch. Without it the log has a single writer (SQLite: one process).
   */
  appendLocked?(build: (size: number, view: LedgerStorage) => Promise<AppendRows>): Promise<void>;
  /**
   * With appendLocked: every writer of a shared log must sign with the log's key. Under the
   * append lock, pass the recorded keys and the latest checkpoint to `accept`, which refuses (null)
   * or names the keys this writer takes up now: those are recorded as added now (after the latest
   * checkpoint, whatever the clocks), so a writer starting next sees them. Taking the lock, the
   * check and the record in one transaction, two writers starting at once cannot both bring a
   * key of their own. Resolves to whether the writer was accepted.
   */
  joinKeys?(accept: (recorded: readonly RecordedKey[], latest: { note: string; createdAt: string } | null) => readonly string[] | null): Promise<boolean>;
  /** With joinKeys: the recorded keys with when they were taken up. */
  recordedKeys?(): Promise<RecordedKey[]>;
  /**
   * Run `read` against one snapshot of the log, through `view`: appends and checkpoints another
   * connection commits meanwhile (a running server's) are not seen, so a read of the whole log
   * (verify) sees one consistent log, not checkpoints ahead of the entries it read. Absent: the
   * storage has no other writer to hide.
   */
  consistentRead?<T>(read: (view: LedgerStorage) => Promise<T>): Promise<T>;
  /** Number of stored entries (the durable tree size). */
  size(): Promise<number>;
  /** Store entries, their private sides and the tree nodes they complete: one durable transaction. */
  appendBatch(entries: readonly EntryRow[], privates: readonly PrivateRow[], nodes: readonly StoredNode[]): Promise<void>;
  /** Which of these entry ids are already stored, with their index. */
  existingIds(ids: readonly string[]): Promise<Map<string, number>>;
  putCheckpoint(c: CheckpointRow): Promise<void>;
  latestCheckpoint(): Promise<CheckpointRow | null>;
  /** Checkpoints by ascending size, paged. */
  checkpoints(afterSize: number, limit: number): Promise<CheckpointRow[]>;
  checkpointAt(size: number): Promise<CheckpointRow | null>;
  getEntry(index: number): Promise<EntryRow | null>;
  getEntryById(id: string): Promise<EntryRow | null>;
  /** Entries with start <= index < end, ascending, at most `limit`. */
  entries(start: number, end: number, limit: number): Promise<EntryRow[]>;
  /** Stored nodes of one level with index >= start, ascending, at most `limit`. */
  nodes(level: number, start: number, limit: number): Promise<StoredNode[]>;
  /** Highest level that has any node, -1 when empty. */
  maxLevel(): Promise<number>;
  /** Private sides of these entries (missing ones omitted). */
  privates(indices: readonly number[]): Promise<Map<number, PrivateRow>>;
  /** Private sides with index in [start, end), ascending. */
  privateRange(start: number, end: number, limit: number): Promise<PrivateRow[]>;
  /** Entries matching a filter, ascending by index, with their private sides. */
  query(filter: EntryFilter): Promise<{ entry: EntryRow; priv: PrivateRow | null }[]>;
  /**
   * Of the entries a filter selects (its `regions`, `afterIndex` and `limit` ignored), those whose
   * region columns are filled, match none of the codes, and whose region is not known: written
   * before regions were recorded (`unrecorded`; of them `unrecordedInCountry`, whose country is in
   * `subdivisionCountries`) or with no subdivision data read (`noData`). Counted in the database,
   * through the region index, without reading a leaf.
   */
  regionUnknown(filter: EntryFilter, regions: { subdivisions: readonly string[]; countries: readonly string[]; subdivisionCountries: readonly string[] }): Promise<{ unrecorded: number; unrecordedInCountry: number; noData: number }>;
  /** Entries whose region columns are not filled yet. */
  regionsUnfilled(): Promise<number>;
  /**
   * Fill the region columns of the next (lowest index) `limit` entries that have none, from their
   * leaves (`derive`), in one transaction; resolves to how many were filled (0: none was left).
   */
  fillRegions(limit: number, derive: (kind: string, leaf: Uint8Array) => RegionColumns): Promise<number>;
  /** Remove raw values and salts of matching entries; the tree is untouched. Returns rows erased. */
  erase(filter: EraseFilter, at: string): Promise<number>;
  /** Verifier keys that have signed checkpoints here (public; for verifying old checkpoints). */
  recordKeys(vkeys: readonly string[]): Promise<void>;
  keys(): Promise<string[]>;
  close(): Promise<void>;
}

/** IPv4 dotted quad to an unsigned integer; null for anything else. */
/**
 * Opened for reading, the configured place holds no ledger (a mistyped path or schema): a
 * configuration mistake, which the CLI reports as a usage error. Nothing was created.
 */
export class NoLedgerError extends Error {}

export function ipv4ToInt(ip: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}
