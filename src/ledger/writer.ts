/**
 * The ledger's writer: builds leaves (canonical JSON, salted commitments), integrates them
 * into the tree, group-commits entries and tree nodes in one durable transaction, and signs
 * checkpoints from committed state only. It owns its storage connection and runs in a worker
 * thread (writer-worker.ts) so none of this CPU or fsync time lands on the gateway's event loop;
 * the same code runs in the caller's thread when the storage cannot be reopened by a worker.
 *
 * A log on SQLite has this one writer. A log on PostgreSQL may have one per gateway node: each
 * batch is laid out under the log's append lock from the stored size (catching up first with
 * what the other writers appended, re-hashed and checked like at start), a batch that still lost
 * a race is retried, and every writer must sign with the log's key (refused at open otherwise).
 *
 * `LedgerWriter` is the state machine (tree border, latest checkpoint); `WriterLoop` schedules it:
 * one commit of up to `batchMax` queued entries per turn of the event loop (under moderate load,
 * gathered over a short group-commit window: one fsync costs as much CPU as ~2 entries), a checkpoint at most
 * `checkpointIntervalMs` after new entries became durable, requests (checkpoint, erase, close)
 * served in order after the entries queued before them.
 */
import type { InteractionEvent } from '../events/index.ts';
import { CompactRange, consistencyProof, hashLeaf, perfectCover, rootAt, verifyConsistency } from './merkle.ts';
import { NoteError, encodeBase64, openCheckpoint, parseNote, parseVerifierKey, signCheckpoint, type NoteSigner, type NoteVerifier } from './note.ts';
import { entryColumns, prepareInteraction, prepareSettings, prepareVerdict, privateIp, regionColumns, type PreparedEntry, type RecordedVerdict } from './records.ts';
import { AppendConflictError, type AppendRows, type RecordedKey, type EntryRow, type EraseFilter, type LedgerStorage, type PrivateRow, type StoredNode } from './storage.ts';
import { LedgerError, type SignedCheckpoint, type WireError } from './types.ts';
import { isSqliteBusy } from '../store/sqlite.ts';
import { isPostgresUnavailable } from '../store/postgres.ts';

/** One append as it crosses to the writer: the raw event (prepared by the writer) or a prepared entry. */
export type WriteItem =
  | { kind: 'interaction'; event: InteractionEvent; clusterId?: string | null }
  /** Verdict ids and times are fixed by the caller, so a resubmission after a writer crash is recognised as a duplicate. */
  | { kind: 'verdict'; verdict: RecordedVerdict; accounts?: readonly string[]; id: string; now: number; settingsDigest?: string | null }
  /** The detector settings in force (a settings entry, its digest computed here). */
  | { kind: 'settings'; settings: Record<string, unknown>; id: string; now: number }
  | { kind: 'prepared'; entry: PreparedEntry };

/** Outcome of one item: where it is in the log, or why it was refused. */
export type WriteResult = { index: number; leafHash: string } | { error: WireError };

export interface WriterOptions {
  storage: LedgerStorage;
  origin: string;
  signers: readonly NoteSigner[];
  trustedKeys?: readonly NoteVerifier[];
  keepPromptText?: boolean;
  now?: () => number;
  /**
   * What a previous writer of this log acknowledged (a writer restarted after a crash): refuse to
   * continue from storage that holds fewer entries, or whose tree differs at that checkpoint.
   */
  expect?: { size: number; checkpoint: { size: number; rootHash: string } | null };
}

const b64 = (b: Uint8Array) => encodeBase64(b);
const fromB64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Attempts of a batch that does not get through because of other writers of the log (lost a race,
 * waited for the append lock longer than its timeout, or stalled holding it) before its entries
 * are refused.
 */
const APPEND_ATTEMPTS = 5;

/**
 * Waits of a batch while the storage is unreachable (a PostgreSQL restart or failover): from
 * STORAGE_RETRY_MIN_MS, doubled up to STORAGE_RETRY_MAX_MS, as the event writer does. The batch
 * waits at the head of the queue for as long as the outage lasts; the ledger's bounded queue
 * (max_queue) takes what arrives meanwhile, and close() bounds the wait at shutdown.
 */
const STORAGE_RETRY_MIN_MS = 100;
const STORAGE_RETRY_MAX_MS = 5_000;

/** A storage error that says the database is away, not that the write is wrong: worth waiting for. */
export function storageUnreachable(err: unknown): boolean {
  return isPostgresUnavailable(err);
}

/** SQLite result codes (and their extended forms) of a file that cannot be written: full, read-only, I/O error. */
const SQLITE_REFUSED = /^SQLITE_(FULL|READONLY|IOERR|CANTOPEN)/;
/**
 * PostgreSQL states of a database that answers but takes no writes: class 53 (disk full, out of
 * memory), 25006 (read-only transaction: a standby, or default_transaction_read_only), 42501 (the
 * role may not write), 58030 (I/O error).
 */
const PG_REFUSED = /^(53\d\d\d|25006|42501|58030)$/;

/**
 * A storage error that says the storage answers but refuses writes (a full disk, a read-only file
 * or database, a role without INSERT), not that the entries are wrong: like an outage, the batch
 * waits for it (an operator frees space or fixes permissions) rather than its entries being dropped.
 */
export function storageRefusesWrites(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (SQLITE_REFUSED.test(code) || PG_REFUSED.test(code));
}

/** Why a batch was refused after APPEND_ATTEMPTS tries, for the log line and the dropped count. */
function conflictMessage(err: AppendConflictError, attempts: number): string {
  switch (err.reason) {
    case 'lock': return `ledger commit failed: the log's append lock was still held by another writer after ${attempts} waits (${err.message}); ` +
      'PostgreSQL ends a writer that stalls holding it (idle_in_transaction_session_timeout); if this goes on, look for the session holding it (pg_locks, locktype advisory)';
    case 'aborted': return `ledger commit failed: this writer's transaction was ended by PostgreSQL ${attempts} times while it held the log's append lock (${err.message})`;
    default: return `ledger commit failed: lost ${attempts} races with other writers of the log (${err.message})`;
  }
}

/**
 * The keys that sign a log now. `signing`: of its recorded keys, those that signed its latest
 * checkpoint. `pending`: keys a node took up since that checkpoint (recorded after it; every
 * recorded key while the log has none), which that node's next checkpoint will carry: a node
 * starting now must agree with them as much as with the signing ones, or two nodes could each
 * bring a key of their own. Retired keys stay recorded, for old checkpoints.
 */
export function logKeys(recorded: readonly RecordedKey[], latest: { note: string; createdAt: string } | null): { signing: string[]; pending: string[] } {
  if (latest === null) return { signing: [], pending: recorded.map((k) => k.vkey) };
  let signatures: { name: string; keyId: number }[];
  try {
    signatures = parseNote(latest.note).signatures;
  } catch {
    return { signing: recorded.map((k) => k.vkey), pending: [] };
  }
  const signedAt = Date.parse(latest.createdAt);
  const signing: string[] = [];
  const pending: string[] = [];
  for (const { vkey, addedAt } of recorded) {
    let signed = false;
    try {
      const v = parseVerifierKey(vkey);
      signed = signatures.some((s) => s.name === v.name && s.keyId === v.keyId);
    } catch {
      continue;
    }
    if (signed) signing.push(vkey);
    else if (Date.parse(addedAt) > signedAt) pending.push(vkey);
  }
  return { signing, pending };
}

/** The keys that sign a log now: those that signed its latest checkpoint and those taken up since (see logKeys). */
export function currentLogKeys(recorded: readonly RecordedKey[], latest: { note: string; createdAt: string } | null): string[] {
  const { signing, pending } = logKeys(recorded, latest);
  return [...signing, ...pending];
}

const KEY_ADVICE = 'Checkpoints from every node must verify with one published key: give every node that writes the ledger the same signing key ' +
  '(the same ledger.key, e.g. the WARDEN_LEDGER_KEY environment variable, or a copy of the ledger.key_file of a node that writes it), ' +
  'or set ledger.enabled: false on this node. A new key (a rotation, or a lost key) is created once, with `warden ledger keygen`, and copied to every node. ' +
  'If the log\'s key is lost, stop every node still holding it, list its verifier key in ledger.trusted_keys (a retired key) and publish the new one.';

/**
 * Why a writer signing with `mine` may not append to a shared log whose keys are `keys`, or null
 * when it may. It must carry the log on: hold one of the keys that signed the latest checkpoint
 * (a rotation adds a key beside the old one), or declare all of them retired (`trusted_keys`: the
 * way on when the log's key is lost). And it must hold (or declare retired) every key another
 * node took up since that checkpoint: a rotation or a lost key brings one new key, the same on
 * every node, never one per node.
 */
function keyRefusal(mine: readonly string[], retired: readonly string[], keys: { signing: string[]; pending: string[] }, where: string | undefined): string | null {
  const { signing, pending } = keys;
  const current = [...signing, ...pending];
  const carriesOn = signing.some((k) => mine.includes(k)) || signing.every((k) => retired.includes(k));
  const missing = pending.filter((k) => !mine.includes(k) && !retired.includes(k));
  if (current.length === 0 || (carriesOn && missing.length === 0)) return null;
  const place = where ? `the ledger at ${where}` : 'this ledger';
  const since = missing.length ? `; ${missing.join(', ')} taken up by another node since the latest checkpoint` : '';
  // The log's keys are read from its own database: one this node neither holds nor retired may be anyone's.
  const foreign = current.filter((k) => !mine.includes(k) && !retired.includes(k));
  const untrusted = foreign.length ? ` ${foreign.join(', ')} is known to this node only because the ledger's database records it: if it is not a key your nodes were given, someone who can write the database may have put it there; check the log with \`warden ledger verify --key <the published verifier key>\` before giving any node that key.` : '';
  return `this node's ledger signing key (${mine.join(', ')}) is not the key that signs ${place} (${current.join(', ')}${since}).${untrusted} ${KEY_ADVICE}`;
}

export function itemId(item: WriteItem): string {
  return item.kind === 'interaction' ? item.event.id : item.kind === 'verdict' || item.kind === 'settings' ? item.id : item.entry.record.id;
}

export class LedgerWriter {
  private range: CompactRange;
  private latestCp: SignedCheckpoint | null;
  lastCheckpointAt: number;
  /** When this writer last caught up with the stored log (a shared log grows without it). */
  lastSyncAt: number;
  /** Tree size after this writer's own latest append (on a shared log, later entries are other writers' to sign). */
  ownSize: number;
  /** Another writer appended between this one's last two appends (a shared log in use by several nodes). */
  private othersActive = false;
  readonly now: () => number;
  /** Other writers may append to this log (PostgreSQL): appends go through the storage's append lock. */
  readonly shared: boolean;
  /**
   * On a shared log, this node's keys no checkpoint has carried yet (it took them up: a rotation
   * under way). While there are any, each append, and the checkpoint that ends them, checks the
   * log's keys for another new key.
   */
  private newKeys: string[] = [];
  /** A rotation mismatch found by the last append or checkpoint, for the loop to report. */
  private keyWarning: LedgerError | null = null;
  /** Since when the storage has been unreachable (null: it answers), and how many waits so far. */
  private outage: { since: number; waits: number } | null = null;
  /** Stopped (the ledger closed without waiting any longer): a batch waiting for the storage gives up. */
  private halted = false;
  /** Told once when the storage becomes unreachable (with the error) and once when it answers again (null). */
  onStorage: ((down: Error | null, outageMs: number) => void) | null = null;

  private constructor(private readonly opts: WriterOptions, range: CompactRange, latest: SignedCheckpoint | null, readonly verifiers: NoteVerifier[]) {
    this.range = range;
    this.latestCp = latest;
    this.now = opts.now ?? Date.now;
    this.lastCheckpointAt = this.now();
    this.lastSyncAt = this.now();
    this.ownSize = range.size;
    this.shared = typeof opts.storage.appendLocked === 'function';
  }

  /**
   * Open the writer over its storage: record the signing keys, rebuild the right border of the
   * tree from stored nodes, check the latest stored checkpoint (signature, origin, root against
   * the stored nodes), then recompute every entry after it from its leaf and check it against the
   * stored nodes, so the writer never extends a tree it cannot vouch for.
   */
  static async open(opts: WriterOptions): Promise<LedgerWriter> {
    const { storage } = opts;
    const mine = opts.signers.map((s) => s.verifier().toString());
    let newKeys: string[] = [];
    if (storage.joinKeys) {
      // Several writers: all sign with the log's key, or the published key would not verify every checkpoint.
      const retired = (opts.trustedKeys ?? []).map(String);
      let refusal: string | null = null;
      const join = () => storage.joinKeys!((recorded, latest) => {
        const keys = logKeys(recorded, latest);
        refusal = keyRefusal(mine, retired, keys, storage.where);
        if (refusal !== null) return null;
        newKeys = mine.filter((k) => !keys.signing.includes(k));
        // This node's keys the log does not sign with now are taken up (again): pending until its next checkpoint.
        const current = [...keys.signing, ...keys.pending];
        return mine.filter((k) => !current.includes(k));
      });
      let joined: boolean;
      // The check takes the append lock: another node holding it too long is waited for again, a few times.
      for (let attempt = 1; ; attempt++) {
        try {
          joined = await join();
          break;
        } catch (err) {
          if (!(err instanceof AppendConflictError)) throw err;
          if (attempt >= APPEND_ATTEMPTS) {
            throw new LedgerError('LEDGER_UNAVAILABLE', `cannot check this node's signing key against the log: its append lock was still held by another writer after ${attempt} waits (${err.message})`);
          }
        }
      }
      if (!joined) throw new LedgerError('LEDGER_INCONSISTENT', refusal ?? 'this node\'s ledger signing key is not the key of this ledger');
    } else {
      await storage.recordKeys(mine);
    }
    const verifiers = configuredVerifiers(opts.signers, opts.trustedKeys ?? []);
    const size = await storage.size();
    const row = await storage.latestCheckpoint();
    let latest: SignedCheckpoint | null = null;
    if (row) {
      if (row.size > size) throw new LedgerError('LEDGER_INCONSISTENT', `latest checkpoint (size ${row.size}) is ahead of stored data (size ${size})`);
      let cp: ReturnType<typeof openCheckpoint>;
      try {
        cp = openCheckpoint(row.note, verifiers, opts.origin);
      } catch (err) {
        if (err instanceof NoteError) throw (await untrustedSignerError(storage, row, verifiers, opts.origin)) ?? err;
        throw err;
      }
      const stored = await rootAt(storage, row.size);
      if (cp.size !== row.size || !sameBytes(cp.rootHash, stored) || !sameBytes(row.root, stored)) {
        throw new LedgerError('LEDGER_INCONSISTENT', `stored tree does not match the latest signed checkpoint (size ${row.size}); run \`warden ledger verify\``);
      }
      latest = { size: row.size, rootHash: b64(row.root), note: row.note, createdAt: row.created_at };
    }
    const range = await verifiedBorder(storage, row?.size ?? 0, size);
    if (opts.expect) {
      if (size < opts.expect.size) {
        throw new LedgerError('LEDGER_INCONSISTENT', `the log holds ${size} entries but ${opts.expect.size} were acknowledged`);
      }
      const cp = opts.expect.checkpoint;
      if (cp && cp.size > 0 && !sameBytes(await rootAt(storage, cp.size), fromB64(cp.rootHash))) {
        throw new LedgerError('LEDGER_INCONSISTENT', `stored tree at size ${cp.size} no longer matches the checkpoint signed at that size`);
      }
    }
    const writer = new LedgerWriter(opts, range, latest, verifiers);
    writer.newKeys = newKeys;
    return writer;
  }

  get storage(): LedgerStorage {
    return this.opts.storage;
  }

  /** Durable tree size. */
  get size(): number {
    return this.range.size;
  }

  get latest(): SignedCheckpoint | null {
    return this.latestCp;
  }

  private prepare(item: WriteItem): PreparedEntry {
    switch (item.kind) {
      case 'interaction': return prepareInteraction(item.event, { clusterId: item.clusterId, keepPromptText: this.opts.keepPromptText });
      case 'verdict': return prepareVerdict(item.verdict, { accounts: item.accounts, id: item.id, now: item.now, settingsDigest: item.settingsDigest });
      case 'settings': return prepareSettings(item.settings, { id: item.id, now: item.now });
      case 'prepared': return item.entry;
    }
  }

  /**
   * Commit a batch in one durable transaction; one result per item, in order. Ids already in
   * the log (or repeated in the batch) are acknowledged with their existing index, not re-added:
   * that makes resubmission after a writer crash safe. On a shared log the batch is laid out
   * under the append lock from the stored size; a batch that lost a race anyway (another writer
   * took its index, or the append lock was not free in time) is tried again, up to APPEND_ATTEMPTS
   * times, before its entries are refused.
   */
  async commit(items: readonly WriteItem[]): Promise<WriteResult[]> {
    const results: WriteResult[] = new Array(items.length);
    const prepared: { at: number; entry: PreparedEntry }[] = [];
    for (let i = 0; i < items.length; i++) {
      try {
        prepared.push({ at: i, entry: this.prepare(items[i]) });
      } catch (err) {
        results[i] = { error: { code: 'LEDGER_BAD_REQUEST', message: `cannot record entry: ${(err as Error).message}` } };
      }
    }
    for (let attempt = 1; ; attempt++) {
      let existing: Map<string, number>;
      try {
        existing = await this.opts.storage.existingIds(prepared.map((x) => x.entry.record.id));
      } catch (err) {
        if (await this.waitForStorage(err)) { attempt = 0; continue; }
        for (const x of prepared) results[x.at] = { error: storageError(err) };
        return results;
      }
      let dups: { at: number; index: number }[];
      try {
        dups = await this.store(prepared, existing, results);
      } catch (err) {
        // A failed commit may still have landed (a lost COMMIT reply), or another writer appended: follow the storage, not memory.
        await this.resync().catch(() => {});
        // SQLite's write lock held past busy_timeout by another process (`warden ledger erase`
        // rebuilding its indexes) is waited for again, as another writer holding the append lock is.
        if ((err instanceof AppendConflictError || isSqliteBusy(err)) && attempt < APPEND_ATTEMPTS) {
          await new Promise((r) => setTimeout(r, attempt * 5 * (1 + Math.random())));
          continue;
        }
        // The database is away: the batch waits for it (a COMMIT that landed is recognised by its ids).
        if (await this.waitForStorage(err)) { attempt = 0; continue; }
        const error = err instanceof AppendConflictError
          ? { code: 'LEDGER_UNAVAILABLE' as const, message: conflictMessage(err, attempt) }
          : storageError(err);
        for (const { at } of prepared) results[at] = { error };
        return results;
      }
      this.storageAnswered();
      for (const { at, index } of dups) {
        const row = await this.opts.storage.getEntry(index).catch(() => null);
        results[at] = row ? { index, leafHash: b64(hashLeaf(row.leaf)) } : { error: { code: 'LEDGER_NOT_FOUND', message: `entry ${index} vanished` } };
      }
      return results;
    }
  }

  /**
   * After a storage error: when it says the storage is unreachable, report the outage (once) and
   * wait before the next try; resolves to whether to try again (false for other errors, or once
   * the writer is stopped).
   */
  private async waitForStorage(err: unknown): Promise<boolean> {
    if (this.halted || !this.storageFailed(err)) return false;
    const delay = Math.min(STORAGE_RETRY_MAX_MS, STORAGE_RETRY_MIN_MS * 2 ** this.outage!.waits++);
    await new Promise((r) => setTimeout(r, delay));
    return !this.halted;
  }

  /**
   * Whether `err` says the storage is unreachable or refuses writes; the first such error of an
   * outage is reported.
   */
  storageFailed(err: unknown): boolean {
    if (!storageUnreachable(err) && !storageRefusesWrites(err)) return false;
    if (!this.outage) {
      this.outage = { since: this.now(), waits: 0 };
      this.onStorage?.(err as Error, 0);
    }
    return true;
  }

  /** The storage answered: an outage under way is over. */
  storageAnswered(): void {
    if (!this.outage) return;
    const took = this.now() - this.outage.since;
    this.outage = null;
    this.onStorage?.(null, took);
  }

  /** Stop waiting for an unreachable storage: the batch waiting gives up (its entries are refused). */
  halt(): void {
    this.halted = true;
  }

  /**
   * Lay the new entries out after the tree's border and store them: under the log's append lock
   * from the stored size on a shared log, else from this writer's border. Fills `results` for the
   * stored entries; returns the items whose id the log already holds.
   */
  private async store(prepared: readonly { at: number; entry: PreparedEntry }[], existing: Map<string, number>, results: WriteResult[]): Promise<{ at: number; index: number }[]> {
    const storage = this.opts.storage;
    const fresh = prepared.filter((x) => !existing.has(x.entry.record.id));
    const dups = prepared.filter((x) => existing.has(x.entry.record.id)).map(({ at, entry }) => ({ at, index: existing.get(entry.record.id)! }));
    if (fresh.length === 0) return dups;
    let laid: ReturnType<typeof layout>;
    if (storage.appendLocked) {
      // Other writers are active: read most of what they appended before taking the lock, which every writer waits for.
      if (this.othersActive) await this.resync();
      await storage.appendLocked(async (size, view) => {
        await this.checkNewKeys(view);
        // Another writer appended since: take its entries into the border, checked against their stored hashes.
        this.othersActive = size !== this.range.size;
        if (this.othersActive) await this.catchUp(size, view);
        laid = layout(this.range, fresh);
        return laid.rows;
      });
      this.lastSyncAt = this.now();
    } else {
      laid = layout(this.range, fresh);
      await storage.appendBatch(laid.rows.entries, laid.rows.privates, laid.rows.nodes);
    }
    this.range = laid!.range;
    this.ownSize = this.range.size;
    for (const { at, receipt } of laid!.receipts) results[at] = receipt;
    return dups;
  }

  /**
   * While this node's new key is not in a checkpoint yet (a rotation under way): does the log hold
   * another new key, taken up by another node or signing already, that this node neither holds nor
   * declares retired? A rotation brings one new key, the same on every node. Checked at start too,
   * but only against keys taken up since the latest checkpoint: one another node signed meanwhile,
   * without this node's new key, ends that window, and a node started then with a key of its own
   * is accepted. Checked here, under the append lock, the mismatch is reported at this node's next
   * append instead of when the old key is retired; and before this node's checkpoint carries its
   * new key (which ends the checks), or a node signing before its next append would never check
   * against a key taken up since. Reported (keyWarning, LEDGER_KEY_MISMATCH), not refused: the
   * entries are appended all the same.
   */
  private async checkNewKeys(view: LedgerStorage): Promise<void> {
    if (this.newKeys.length === 0 || !view.recordedKeys) return;
    const row = await view.latestCheckpoint();
    const keys = logKeys(await view.recordedKeys(), row && { note: row.note, createdAt: row.created_at });
    const mine = this.opts.signers.map((s) => s.verifier().toString());
    this.newKeys = mine.filter((k) => !keys.signing.includes(k));
    if (this.newKeys.length === 0) return;
    const retired = (this.opts.trustedKeys ?? []).map(String);
    const other = [...keys.signing, ...keys.pending].filter((k) => !mine.includes(k) && !retired.includes(k));
    if (other.length === 0) return;
    const place = view.where ?? this.opts.storage.where;
    this.keyWarning = new LedgerError('LEDGER_KEY_MISMATCH', `signing keys disagree: this node took up ${this.newKeys.join(', ')} beside the key of ` +
      `${place ? `the ledger at ${place}` : 'this ledger'}, which another node also signs or took up with ${other.join(', ')}, a key this node does not hold. ` +
      `A rotation brings one new key, the same on every node: checkpoints signed by both would not verify with one published key once the old key is retired. ${KEY_ADVICE}`);
  }

  /** The rotation mismatch the last append or checkpoint found (see checkNewKeys), once. */
  takeKeyWarning(): LedgerError | null {
    const w = this.keyWarning;
    this.keyWarning = null;
    return w;
  }

  /** After a failed commit: adopt what the storage actually holds (a commit whose reply was lost may have landed). */
  private async resync(): Promise<void> {
    await this.catchUp(await this.opts.storage.size(), this.opts.storage);
  }

  /** Extend the border to `size` stored entries, re-hashing each against the stored tree. */
  private async catchUp(size: number, storage: LedgerStorage): Promise<void> {
    if (size === this.range.size) return;
    if (size < this.range.size) throw new LedgerError('LEDGER_INCONSISTENT', `the log shrank from ${this.range.size} to ${size} entries`);
    this.range = await verifiedBorder(storage, this.range.size, size, this.range);
  }

  /**
   * A shared log: catch up with what the other writers appended, and adopt the latest checkpoint
   * they signed (so an idle node serves current checkpoints and proofs without signing its own).
   * Resolves to whether the tree grew or the checkpoint changed.
   */
  async follow(): Promise<boolean> {
    if (!this.shared) return false;
    const size = this.range.size;
    const latest = this.latestCp;
    // Set first: a storage that keeps failing is tried once per interval, not on every turn.
    this.lastSyncAt = this.now();
    await this.resync();
    await this.adoptStoredCheckpoint(false);
    return this.range.size !== size || this.latestCp !== latest;
  }

  /**
   * The latest stored checkpoint, when another writer signed it over entries this writer has
   * verified (at exactly this tree if `exact`) and it is newer than this writer's: adopted after
   * the same checks as at open (a trusted signature, the root of the stored tree this writer
   * re-hashed, consistent with this writer's previous checkpoint). A stored checkpoint that
   * contradicts the verified tree is an inconsistency, never adopted.
   */
  private async adoptStoredCheckpoint(exact: boolean): Promise<SignedCheckpoint | null> {
    const storage = this.opts.storage;
    const row = await storage.latestCheckpoint();
    if (!row || row.size > this.range.size || (exact && row.size !== this.range.size) || (this.latestCp && this.latestCp.size >= row.size)) return null;
    const size = row.size;
    let cp: ReturnType<typeof openCheckpoint>;
    try {
      cp = openCheckpoint(row.note, this.verifiers, this.opts.origin);
    } catch (err) {
      if (err instanceof NoteError) return null;
      throw err;
    }
    const root = size === this.range.size ? this.range.root() : await rootAt(storage, size);
    if (cp.size !== size || !sameBytes(cp.rootHash, root) || !sameBytes(row.root, root)) {
      throw new LedgerError('LEDGER_INCONSISTENT', `the stored checkpoint of size ${size} does not match the log's entries; run \`warden ledger verify\``);
    }
    const prev = this.latestCp;
    if (prev && prev.size > 0) {
      try {
        verifyConsistency(prev.size, size, await consistencyProof(storage, prev.size, size), fromB64(prev.rootHash), root);
      } catch (err) {
        throw new LedgerError('LEDGER_INCONSISTENT', `the stored checkpoint of size ${size} is not consistent with checkpoint ${prev.size}: ${(err as Error).message}`);
      }
    }
    this.latestCp = { size, rootHash: b64(root), note: row.note, createdAt: row.created_at };
    // Entries of this writer's that it leaves unsigned still get its checkpoint on time.
    if (size >= this.ownSize) this.lastCheckpointAt = this.now();
    return this.latestCp;
  }

  /**
   * Sign a checkpoint of the durable tree (or return the latest if the tree has not grown). The
   * root is recomputed from stored nodes and must equal the writer's; the new tree must be
   * consistent with the previous checkpoint (RFC 9162 verifier over a proof from stored nodes).
   */
  async signCheckpoint(): Promise<SignedCheckpoint> {
    // A shared log: cover what the other writers appended too, and take their checkpoint when it already does.
    if (this.shared) {
      await this.resync();
      this.lastSyncAt = this.now();
      const adopted = await this.adoptStoredCheckpoint(true);
      if (adopted) return adopted;
    }
    const now = this.now();
    const size = this.range.size;
    const prev = this.latestCp;
    if (prev && prev.size === size) {
      this.lastCheckpointAt = now;
      return prev;
    }
    const storage = this.opts.storage;
    const root = this.range.root();
    const stored = await rootAt(storage, size);
    if (!sameBytes(stored, root)) throw new LedgerError('LEDGER_INCONSISTENT', `stored tree root at size ${size} differs from the writer's`);
    if (prev) {
      if (size < prev.size) throw new LedgerError('LEDGER_INCONSISTENT', `tree shrank from ${prev.size} to ${size}`);
      const proof = prev.size === 0 ? [] : await consistencyProof(storage, prev.size, size);
      try {
        verifyConsistency(prev.size, size, proof, fromB64(prev.rootHash), root);
      } catch (err) {
        throw new LedgerError('LEDGER_INCONSISTENT', `refusing to sign: size ${size} is not consistent with checkpoint ${prev.size}: ${(err as Error).message}`);
      }
    }
    if (this.shared) {
      await this.checkStillSigns();
      // Last check of this node's new keys: once this checkpoint carries them, they are not new.
      await this.checkNewKeys(storage);
    }
    const note = signCheckpoint({ origin: this.opts.origin, size, rootHash: root, extensions: [] }, this.opts.signers);
    const createdAt = new Date(now).toISOString();
    await storage.putCheckpoint({ size, root, note, created_at: createdAt });
    // Signed with every key this node holds: none of them is new to the log any more.
    this.newKeys = [];
    this.latestCp = { size, rootHash: b64(root), note, createdAt };
    this.lastCheckpointAt = now;
    return this.latestCp;
  }

  /**
   * A shared log: refuse to sign unless this writer still holds one of the keys the log is signed
   * with now. Another node may have taken the log over with a new key since this one started (the
   * old key declared lost while this node still held it): its checkpoints would then alternate
   * with that node's, and no single published key would verify them all. Refused loudly, once
   * per checkpoint interval; this node's entries are still appended, and signed by the others.
   */
  private async checkStillSigns(): Promise<void> {
    const storage = this.opts.storage;
    if (!storage.recordedKeys) return;
    const row = await storage.latestCheckpoint();
    const current = currentLogKeys(await storage.recordedKeys(), row && { note: row.note, createdAt: row.created_at });
    const mine = this.opts.signers.map((s) => s.verifier().toString());
    if (current.length === 0 || current.some((k) => mine.includes(k))) return;
    this.lastCheckpointAt = this.now();
    const place = storage.where ? `the ledger at ${storage.where}` : 'this ledger';
    throw new LedgerError('LEDGER_INCONSISTENT', `refusing to sign a checkpoint: this node's ledger signing key (${mine.join(', ')}) no longer signs ${place}, ` +
      `which another node now signs with ${current.join(', ')}. This node goes on appending (the other nodes sign its entries) but signs nothing until it is restarted with the log's key. ${KEY_ADVICE}`);
  }

  async erase(filter: EraseFilter): Promise<number> {
    return this.opts.storage.erase(filter, new Date(this.now()).toISOString());
  }
}

/** New entries laid out after `from`'s border: the rows to store, the border after them, each item's receipt. */
function layout(from: CompactRange, fresh: readonly { at: number; entry: PreparedEntry }[]) {
  const range = from.clone();
  const entries: EntryRow[] = [];
  const privates: PrivateRow[] = [];
  const nodes: StoredNode[] = [];
  const receipts: { at: number; receipt: { index: number; leafHash: string } }[] = [];
  const inBatch = new Map<string, { index: number; leafHash: string }>();
  for (const { at, entry } of fresh) {
    const id = entry.record.id;
    const again = inBatch.get(id);
    if (again) { receipts.push({ at, receipt: again }); continue; }
    const index = range.size;
    const leafHash = hashLeaf(entry.leaf);
    nodes.push(...range.append(leafHash));
    const cols = entryColumns(entry.record);
    // Object.assign: `{ index, ...cols, leaf }` would give each row a hidden class of its own (see src/gateway/headers.ts)
    // The region columns from the record (what its leaf holds in clear), so that a query by region reads an index.
    entries.push(Object.assign({ index }, cols, regionColumns(cols.kind, entry.record), { leaf: entry.leaf }));
    if (Object.keys(entry.openings).length > 0) {
      privates.push({ index, account_id: cols.account_id, org_id: cols.org_id, ip: privateIp(entry), openings: entry.openings, erased_at: null });
    }
    const receipt = { index, leafHash: b64(leafHash) };
    inBatch.set(id, receipt);
    receipts.push({ at, receipt });
  }
  const rows: AppendRows = { entries, privates, nodes };
  return { range, rows, receipts };
}

function storageError(err: unknown): WireError {
  return err instanceof LedgerError ? LedgerError.toWire(err) : { code: 'LEDGER_UNAVAILABLE', message: `ledger commit failed: ${(err as Error)?.message ?? String(err)}` };
}

/**
 * The tree border at `size`, with every entry in [from, size) re-hashed from its stored leaf and
 * every node it completes compared with the stored node. `from` is a size whose stored border is
 * vouched for (the latest signed checkpoint, checked against its root by the caller).
 */
async function verifiedBorder(storage: LedgerStorage, from: number, size: number, start?: CompactRange): Promise<CompactRange> {
  const range = start?.clone() ?? new CompactRange(from, await storage.getNodes(perfectCover(0, from)));
  const PAGE = 2000;
  for (let i = from; i < size; i += PAGE) {
    const rows = await storage.entries(i, Math.min(size, i + PAGE), PAGE);
    const made: StoredNode[] = [];
    for (let k = 0; k < rows.length; k++) {
      if (rows[k].index !== i + k) throw new LedgerError('LEDGER_INCONSISTENT', `entry ${i + k} is missing; run \`warden ledger verify\``);
      made.push(...range.append(hashLeaf(rows[k].leaf)));
    }
    if (rows.length !== Math.min(size, i + PAGE) - i) throw new LedgerError('LEDGER_INCONSISTENT', `entry ${i + rows.length} is missing; run \`warden ledger verify\``);
    let stored: Uint8Array[];
    try {
      stored = await storage.getNodes(made);
    } catch (err) {
      throw new LedgerError('LEDGER_INCONSISTENT', `${(err as Error).message}; run \`warden ledger verify\``);
    }
    for (let k = 0; k < made.length; k++) {
      if (!sameBytes(stored[k], made[k].hash)) {
        const n = made[k];
        throw new LedgerError('LEDGER_INCONSISTENT', n.level === 0
          ? `entry ${n.index} does not match its stored leaf hash; run \`warden ledger verify\``
          : `tree node ${n.level}/${n.index} does not match the entries below it; run \`warden ledger verify\``);
      }
    }
  }
  return range;
}

/**
 * The keys this writer trusts: its own signers and `ledger.trusted_keys`, never a key because the
 * log's own database records it (`ledger_keys`): whoever can write the database could record a
 * key of their own there and sign a rewritten log with it.
 */
function configuredVerifiers(signers: readonly NoteSigner[], trusted: readonly NoteVerifier[]): NoteVerifier[] {
  const out: NoteVerifier[] = [];
  for (const v of [...signers.map((s) => s.verifier()), ...trusted]) if (!out.some((o) => o.toString() === v.toString())) out.push(v);
  return out;
}

/** The keys `storage` records that are not among `verifiers` (readable ones only): recorded, not trusted. */
export async function unconfiguredKeys(storage: Pick<LedgerStorage, 'keys'>, verifiers: readonly (NoteVerifier | string)[]): Promise<string[]> {
  const known = new Set(verifiers.map(String));
  const out: string[] = [];
  for (const k of await storage.keys()) {
    try { parseVerifierKey(k); } catch (err) { if (err instanceof NoteError) continue; throw err; }
    if (!known.has(k) && !out.includes(k)) out.push(k);
  }
  return out;
}

/**
 * Why the latest checkpoint, which no configured key verifies, is refused, when a key only the
 * database records signs it: the operator is told which key and where to configure it if it is
 * theirs. Null when no recorded key signs it either (the plain signature error is said).
 */
async function untrustedSignerError(storage: LedgerStorage, row: { size: number; note: string }, verifiers: readonly NoteVerifier[], origin: string): Promise<LedgerError | null> {
  const recorded = (await unconfiguredKeys(storage, verifiers)).map(parseVerifierKey);
  if (recorded.length === 0) return null;
  let signedBy: NoteVerifier[];
  try { signedBy = openCheckpoint(row.note, recorded, origin).signedBy; } catch (err) { if (err instanceof NoteError) return null; throw err; }
  const keys = signedBy.map(String);
  const place = storage.where ? `the ledger at ${storage.where}` : 'this ledger';
  return new LedgerError('LEDGER_INCONSISTENT', `the latest checkpoint of ${place} (size ${row.size}) is signed only by ${keys.join(', ')}, ` +
    `a key recorded in the ledger's own database but not configured on this node (ledger.key or ledger.key_file, ledger.extra_key_files, ledger.trusted_keys; ` +
    `this node trusts ${verifiers.map(String).join(', ') || 'no key'}). A key is not trusted because the database lists it: whoever can write the database could record a key of their own there and sign a rewritten log with it. ` +
    `If ${keys.length > 1 ? 'one of them' : 'it'} is this ledger's own key (rotated out without listing it in ledger.trusted_keys, or a node's key from an earlier Warden), compare it with the verifier key you published and add it to ledger.trusted_keys, then start again. ` +
    'If it is not, do not serve this database: check it with `warden ledger verify --key <the published verifier key> --checkpoint <checkpoints you kept>` and restore it from a backup.');
}

/** Where a WriterLoop reports (direct calls inline; messages to the main thread in a worker). */
export interface LoopSink {
  /** Results of the next `results.length` items pushed, in push order, and the durable tree size. */
  committed(results: WriteResult[], size: number): void;
  checkpoint(cp: SignedCheckpoint): void;
  /** Background failures (checkpoint signing). */
  error(err: unknown): void;
  /**
   * The storage became unreachable or refuses writes (`down`: "is unreachable (what it said)" or
   * "refuses writes (...)"), or takes writes again (`down` null, after `outageMs`).
   */
  storage?(down: string | null, outageMs: number): void;
}

export interface LoopOptions {
  batchMax: number;
  checkpointIntervalMs: number;
  /**
   * Group-commit window: while the log is busy, a batch smaller than batchMax waits until this
   * long after the previous commit started, so one transaction (one fsync) carries more entries.
   * An idle log commits at once. 0 disables.
   */
  groupCommitMs?: number;
}

/** Group-commit scheduler around a LedgerWriter. */
export class WriterLoop {
  private queue: WriteItem[] = [];
  private head = 0;
  private pushed = 0;
  private done = 0;
  private calls: { after: number; run: () => Promise<void> }[] = [];
  private running = false;
  private stopped = false;
  private lastCommitAt = -Infinity;
  private readonly timer: NodeJS.Timeout;
  /** Test hook: runs after a commit is durable and before it is reported. */
  afterCommit: (() => void) | null = null;

  constructor(readonly writer: LedgerWriter, private readonly opts: LoopOptions, private readonly sink: LoopSink) {
    // Covers the idle case: entries committed (by this writer, or on a shared log by others), no more traffic to trigger a checkpoint.
    this.timer = setInterval(() => { if (this.checkpointDue() || this.followDue()) this.kick(); }, Math.max(10, Math.floor(opts.checkpointIntervalMs / 2)));
    this.timer.unref();
    writer.onStorage = (down, outageMs) => {
      const what = down && (storageUnreachable(down) ? `is unreachable (${down.message})` : `refuses writes (${down.message})`);
      if (what) {
        sink.error(new LedgerError('LEDGER_UNAVAILABLE', `the ledger's storage ${what}: entries wait in the ledger's queue ` +
          '(up to ledger.max_queue; beyond it they are refused and counted in warden_ledger_dropped_total) and are written when it takes them again'));
      }
      sink.storage?.(what, outageMs);
    };
  }

  /** A background failure (checkpoint, following the other writers): an unreachable storage is reported once per outage. */
  private background(err: unknown): void {
    if (!this.writer.storageFailed(err)) this.sink.error(err);
  }

  /** Queue items for commit; their results are reported through the sink in this order. */
  push(items: readonly WriteItem[]): void {
    for (const item of items) this.queue.push(item);
    this.pushed += items.length;
    this.kick();
  }

  /** Run `fn` on the writer after everything pushed so far is committed, serialised with commits. */
  request<T>(fn: (writer: LedgerWriter) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.calls.push({ after: this.pushed, run: async () => { try { resolve(await fn(this.writer)); } catch (err) { reject(err); } } });
      this.kick();
    });
  }

  /** Sign a checkpoint of everything pushed so far (the latest one if the tree has not grown). */
  checkpoint(): Promise<SignedCheckpoint> {
    return this.request(() => this.sign());
  }

  /** Erase personal data, serialised with commits. */
  erase(filter: EraseFilter): Promise<number> {
    return this.request((w) => w.erase(filter));
  }

  /** Commit what is queued, sign a final checkpoint if the tree grew, close the storage. */
  close(): Promise<SignedCheckpoint | null> {
    return this.request(async (w) => {
      this.stopped = true;
      clearInterval(this.timer);
      let cp: SignedCheckpoint | null = null;
      if (w.size > 0) {
        try {
          cp = await this.sign();
        } catch (err) {
          this.sink.error(err);
        }
      }
      await w.storage.close();
      return cp;
    });
  }

  /** Commit nothing more and sign nothing more, now (what is queued stays unwritten); a commit under way ends on its own. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.writer.halt();
  }

  private get queued(): number {
    return this.queue.length - this.head;
  }

  private checkpointDue(): boolean {
    const w = this.writer;
    const signed = w.latest?.size ?? 0;
    if (this.stopped || signed === w.size) return false;
    // On a shared log, entries other writers appended are theirs to sign (this one adopts their
    // checkpoints); it signs them too only when nobody has for two intervals (their node stopped).
    const own = !w.shared || signed < w.ownSize;
    return w.now() - w.lastCheckpointAt >= this.opts.checkpointIntervalMs * (own ? 1 : 2);
  }

  /** A shared log this writer has not caught up with for a checkpoint interval (it appended nothing since). */
  private followDue(): boolean {
    const w = this.writer;
    return !this.stopped && w.shared && w.now() - w.lastSyncAt >= this.opts.checkpointIntervalMs;
  }

  /** Catch up with the other writers of a shared log; report the new size (and checkpoint) to the front. */
  private async follow(): Promise<void> {
    const before = this.writer.latest;
    const grew = await this.writer.follow();
    this.writer.storageAnswered();
    if (!grew) return;
    this.sink.committed([], this.writer.size);
    const cp = this.writer.latest;
    if (cp && cp !== before) this.sink.checkpoint(cp);
  }

  private async sign(): Promise<SignedCheckpoint> {
    const before = this.writer.latest;
    try {
      const cp = await this.writer.signCheckpoint();
      this.writer.storageAnswered();
      if (cp !== before) this.sink.checkpoint(cp);
      return cp;
    } finally {
      this.reportKeyWarning();
    }
  }

  /** A rotation mismatch the writer found (LEDGER_KEY_MISMATCH): reported, the work goes on. */
  private reportKeyWarning(): void {
    const warning = this.writer.takeKeyWarning();
    if (warning) this.sink.error(warning);
  }

  private kick(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    setImmediate(() => void this.pump());
  }

  /**
   * One group commit per turn of the event loop: take what is queued (up to batchMax), commit
   * it, report, then yield so messages and timers run between commits; items that arrive during
   * a commit form the next batch.
   */
  private async pump(): Promise<void> {
    try {
      for (;;) {
        const call = this.calls[0];
        if (call && this.done >= call.after) {
          this.calls.shift();
          await call.run();
          continue;
        }
        if (this.stopped) break;
        if (this.queued > 0) {
          const wait = this.queued < this.opts.batchMax ? this.lastCommitAt + (this.opts.groupCommitMs ?? 0) - performance.now() : 0;
          if (wait >= 1) {
            await new Promise<void>((r) => setTimeout(r, wait));
            continue;
          }
          this.lastCommitAt = performance.now();
          const end = Math.min(this.queue.length, this.head + this.opts.batchMax);
          const batch = this.queue.slice(this.head, end);
          this.head = end;
          if (this.head > 4096 && this.head * 2 > this.queue.length) {
            this.queue = this.queue.slice(this.head);
            this.head = 0;
          }
          const results = await this.writer.commit(batch);
          this.done += batch.length;
          this.afterCommit?.();
          this.sink.committed(results, this.writer.size);
          this.reportKeyWarning();
        }
        if (this.followDue()) await this.follow().catch((err) => this.background(err));
        if (this.checkpointDue()) await this.sign().catch((err) => this.background(err));
        if (this.queued === 0 && this.calls.length === 0) break;
        await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.running = false;
      if (!this.stopped && (this.queued > 0 || this.calls.length > 0)) this.kick();
    }
  }
}
