/**
 * The Ledger: an append-only Merkle log of interactions and verdicts with signed checkpoints.
 *
 * Appends are group-committed: callers queue records; one writer takes up to `batchMax` of them,
 * computes their leaves and the tree nodes they complete (O(log n) each, from the in-memory
 * right border), writes everything in one durable transaction and only then resolves the
 * callers. Checkpoints are signed from committed state only, after checking that the new tree
 * is consistent with the last signed checkpoint (a consistency proof built from stored nodes and
 * checked with the RFC verifier), so the log never signs a checkpoint ahead of durable data or
 * one that contradicts an earlier one.
 */
import type { InteractionEvent } from '../events/index.ts';
import type { Verdict } from '../detect/verdict.ts';
import {
  CompactRange, EMPTY_ROOT, consistencyProof, hashLeaf, inclusionProof, perfectCover, rootAt, verifyConsistency, verifyInclusion,
} from './merkle.ts';
import { NoteError, encodeBase64, openCheckpoint, parseVerifierKey, signCheckpoint, type NoteSigner, type NoteVerifier } from './note.ts';
import { entryColumns, prepareInteraction, prepareVerdict, privateIp, type PreparedEntry } from './records.ts';
import type { CheckpointRow, EntryRow, EraseFilter, LedgerStorage, PrivateRow, StoredNode } from './storage.ts';

export class LedgerError extends Error {
  constructor(readonly code: 'LEDGER_NOT_FOUND' | 'LEDGER_BAD_REQUEST' | 'LEDGER_OVERLOADED' | 'LEDGER_CLOSED' | 'LEDGER_INCONSISTENT', message: string) {
    super(message);
    this.name = 'LedgerError';
  }
}

export interface LedgerOptions {
  storage: LedgerStorage;
  /** Checkpoint origin (and signing key name). */
  origin: string;
  /** Keys that sign every checkpoint; at least one. During rotation, old and new. */
  signers: readonly NoteSigner[];
  /** Extra verifier keys (retired signers) accepted when checking stored checkpoints. */
  trustedKeys?: readonly NoteVerifier[];
  checkpointIntervalMs?: number;
  batchMax?: number;
  maxQueue?: number;
  keepPromptText?: boolean;
  /** Errors of fire-and-forget appends and background checkpoints. */
  onError?: (err: unknown) => void;
  /** Called after each durable commit with the new tree size. */
  onCommit?: (size: number, batch: number) => void;
  /** Called after each checkpoint is signed and stored. */
  onCheckpoint?: (cp: SignedCheckpoint) => void;
  now?: () => number;
}

/** What an acknowledged append returns: where the entry is, and its leaf hash. */
export interface AppendReceipt {
  index: number;
  id: string;
  leafHash: string;
}

export interface SignedCheckpoint {
  size: number;
  rootHash: string;
  /** The signed note (text/plain; this is what gets published). */
  note: string;
  createdAt: string;
}

/** Inclusion proof bundle, self-contained: verifiable with the leaf, the checkpoint and the key. */
export interface InclusionBundle {
  index: number;
  id: string;
  tree_size: number;
  /** The leaf: canonical JSON text of the record. */
  leaf: string;
  leaf_hash: string;
  /** Audit path, base64 hashes, leaf side first. */
  proof: string[];
  root_hash: string;
  /** Signed checkpoint for tree_size. */
  checkpoint: string;
}

export interface ConsistencyBundle {
  old_size: number;
  new_size: number;
  old_root: string;
  new_root: string;
  proof: string[];
  old_checkpoint: string | null;
  new_checkpoint: string | null;
}

type Input =
  | { kind: 'interaction'; event: InteractionEvent; clusterId?: string | null }
  | { kind: 'verdict'; verdict: Verdict; accounts?: readonly string[] }
  | { kind: 'prepared'; entry: PreparedEntry };

interface Pending {
  input: Input;
  resolve: (r: AppendReceipt) => void;
  reject: (e: unknown) => void;
}

const b64 = (b: Uint8Array) => encodeBase64(b);
const fromB64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

export class Ledger {
  readonly origin: string;
  readonly storage: LedgerStorage;
  private readonly signers: readonly NoteSigner[];
  private verifiersList: NoteVerifier[];
  private range: CompactRange;
  private latest: SignedCheckpoint | null;
  private queue: Pending[] = [];
  private draining = false;
  private closed = false;
  /** Serialises commits and checkpoint signing. */
  private lock: Promise<unknown> = Promise.resolve();
  private lastCheckpointAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];
  private readonly opts: Required<Pick<LedgerOptions, 'checkpointIntervalMs' | 'batchMax' | 'maxQueue' | 'keepPromptText' | 'now'>> & LedgerOptions;
  /** Counters for metrics and benchmarks. */
  readonly stats = { appended: 0, batches: 0, checkpoints: 0, rejected: 0, maxCheckpointGapMs: 0 };

  private constructor(opts: LedgerOptions, range: CompactRange, latest: SignedCheckpoint | null, verifiers: NoteVerifier[]) {
    this.opts = { checkpointIntervalMs: 500, batchMax: 256, maxQueue: 200_000, keepPromptText: false, now: Date.now, ...opts };
    this.origin = opts.origin;
    this.storage = opts.storage;
    this.signers = opts.signers;
    this.range = range;
    this.latest = latest;
    this.verifiersList = verifiers;
    this.lastCheckpointAt = this.opts.now();
  }

  /**
   * Open a ledger over its storage: rebuild the right border of the tree from stored nodes and
   * check that the latest stored checkpoint is signed by a trusted key and matches stored data.
   */
  static async open(opts: LedgerOptions): Promise<Ledger> {
    if (opts.signers.length === 0) throw new Error('the ledger needs at least one signing key');
    for (const s of opts.signers) if (s.name !== opts.origin) throw new Error(`signing key name ${s.name} must equal the origin ${opts.origin}`);
    const storage = opts.storage;
    await storage.recordKeys(opts.signers.map((s) => s.verifier().toString()));
    const verifiers = await collectVerifiers(storage, opts.signers, opts.trustedKeys ?? []);
    const size = await storage.size();
    const cover = await storage.getNodes(perfectCover(0, size));
    const range = new CompactRange(size, cover);
    const row = await storage.latestCheckpoint();
    let latest: SignedCheckpoint | null = null;
    if (row) {
      if (row.size > size) throw new LedgerError('LEDGER_INCONSISTENT', `latest checkpoint (size ${row.size}) is ahead of stored data (size ${size})`);
      const cp = openCheckpoint(row.note, verifiers, opts.origin);
      const stored = await rootAt(storage, row.size);
      if (cp.size !== row.size || !sameBytes(cp.rootHash, stored) || !sameBytes(row.root, stored)) {
        throw new LedgerError('LEDGER_INCONSISTENT', `stored tree does not match the latest signed checkpoint (size ${row.size}); run \`warden ledger verify\``);
      }
      latest = { size: row.size, rootHash: b64(row.root), note: row.note, createdAt: row.created_at };
    }
    const ledger = new Ledger(opts, range, latest, verifiers);
    ledger.startTimer();
    return ledger;
  }

  /** Durable tree size (entries committed). */
  get size(): number {
    return this.range.size;
  }

  /** Entries queued and not yet committed. */
  get pending(): number {
    return this.queue.length;
  }

  /** Keys a verifier should trust for this log (current signers and recorded retired keys). */
  get verifiers(): readonly NoteVerifier[] {
    return this.verifiersList;
  }

  latestCheckpoint(): SignedCheckpoint | null {
    return this.latest;
  }

  /** Append one interaction; resolves once it is durable. */
  appendInteraction(event: InteractionEvent, opts: { clusterId?: string | null } = {}): Promise<AppendReceipt> {
    return this.enqueue({ kind: 'interaction', event, clusterId: opts.clusterId });
  }

  /** Append one verdict (with the accounts it covers, for cluster verdicts); resolves once durable. */
  appendVerdict(verdict: Verdict, opts: { accounts?: readonly string[] } = {}): Promise<AppendReceipt> {
    return this.enqueue({ kind: 'verdict', verdict, accounts: opts.accounts });
  }

  /** Append a record already prepared with prepareInteraction/prepareVerdict. */
  appendPrepared(entry: PreparedEntry): Promise<AppendReceipt> {
    return this.enqueue({ kind: 'prepared', entry });
  }

  /** Fire-and-forget append for the request path: never throws, errors go to onError. */
  submitInteraction(event: InteractionEvent, opts: { clusterId?: string | null } = {}): void {
    this.appendInteraction(event, opts).catch((err) => this.opts.onError?.(err));
  }

  private enqueue(input: Input): Promise<AppendReceipt> {
    if (this.closed) return Promise.reject(new LedgerError('LEDGER_CLOSED', 'ledger is closed'));
    if (this.queue.length >= this.opts.maxQueue) {
      this.stats.rejected++;
      return Promise.reject(new LedgerError('LEDGER_OVERLOADED', `ledger queue is full (${this.opts.maxQueue} entries waiting)`));
    }
    return new Promise<AppendReceipt>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
  }

  /**
   * One group commit per turn of the event loop: take what is queued, commit it, then yield
   * (setImmediate) so sockets and timers run between commits; producers resolved by this commit
   * queue the next batch meanwhile.
   */
  private async drain(): Promise<void> {
    try {
      const batch = this.queue.splice(0, this.opts.batchMax);
      if (batch.length) await this.exclusive(() => this.commit(batch));
      if (this.opts.now() - this.lastCheckpointAt >= this.opts.checkpointIntervalMs) {
        await this.exclusive(() => this.signCheckpoint()).catch((err) => this.opts.onError?.(err));
      }
    } finally {
      if (this.queue.length > 0) {
        setImmediate(() => void this.drain());
      } else {
        this.draining = false;
        for (const w of this.idleWaiters.splice(0)) w();
      }
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    const prepared: { p: Pending; entry: PreparedEntry }[] = [];
    for (const p of batch) {
      try {
        const entry = p.input.kind === 'interaction'
          ? prepareInteraction(p.input.event, { clusterId: p.input.clusterId, keepPromptText: this.opts.keepPromptText })
          : p.input.kind === 'verdict'
            ? prepareVerdict(p.input.verdict, { accounts: p.input.accounts, now: this.opts.now() })
            : p.input.entry;
        prepared.push({ p, entry });
      } catch (err) {
        p.reject(new LedgerError('LEDGER_BAD_REQUEST', `cannot record entry: ${(err as Error).message}`));
      }
    }
    // Idempotence: an id already in the log (or twice in this batch) is acknowledged, not re-added.
    let existing: Map<string, number>;
    try {
      existing = await this.storage.existingIds(prepared.map((x) => x.entry.record.id));
    } catch (err) {
      for (const x of prepared) x.p.reject(err);
      return;
    }
    const range = this.range.clone();
    const entries: EntryRow[] = [];
    const privates: PrivateRow[] = [];
    const nodes: StoredNode[] = [];
    const receipts: { p: Pending; receipt: AppendReceipt | string }[] = [];
    const inBatch = new Map<string, AppendReceipt>();
    for (const { p, entry } of prepared) {
      const id = entry.record.id;
      const dupIndex = existing.get(id);
      if (dupIndex !== undefined) { receipts.push({ p, receipt: `dup:${dupIndex}` }); continue; }
      const again = inBatch.get(id);
      if (again) { receipts.push({ p, receipt: again }); continue; }
      const index = range.size;
      const leafHash = hashLeaf(entry.leaf);
      nodes.push(...range.append(leafHash));
      const cols = entryColumns(entry.record);
      entries.push({ index, ...cols, leaf: entry.leaf });
      if (Object.keys(entry.openings).length > 0) {
        privates.push({ index, account_id: cols.account_id, org_id: cols.org_id, ip: privateIp(entry), openings: entry.openings, erased_at: null });
      }
      const receipt = { index, id, leafHash: b64(leafHash) };
      inBatch.set(id, receipt);
      receipts.push({ p, receipt });
    }
    try {
      if (entries.length > 0) await this.storage.appendBatch(entries, privates, nodes);
    } catch (err) {
      for (const r of receipts) r.p.reject(err);
      return;
    }
    // Durable: adopt the new border and acknowledge.
    this.range = range;
    this.stats.appended += entries.length;
    this.stats.batches++;
    this.opts.onCommit?.(range.size, entries.length);
    for (const { p, receipt } of receipts) {
      if (typeof receipt === 'string') {
        const index = Number(receipt.slice(4));
        const row = await this.storage.getEntry(index).catch(() => null);
        if (row) p.resolve({ index, id: row.id, leafHash: b64(hashLeaf(row.leaf)) });
        else p.reject(new LedgerError('LEDGER_NOT_FOUND', `entry ${index} vanished`));
      } else {
        p.resolve(receipt);
      }
    }
  }

  /** Wait until every queued entry is committed. */
  async flush(): Promise<void> {
    if (this.queue.length === 0 && !this.draining) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Commit what is queued and sign a checkpoint of the durable tree now. */
  async checkpoint(): Promise<SignedCheckpoint> {
    await this.flush();
    return this.exclusive(() => this.signCheckpoint());
  }

  private async signCheckpoint(): Promise<SignedCheckpoint> {
    const now = this.opts.now();
    const size = this.range.size;
    if (this.latest && this.latest.size === size) {
      this.lastCheckpointAt = now;
      return this.latest;
    }
    const root = this.range.root();
    // The stored nodes must give the same root as the in-memory border: what we sign is on disk.
    const stored = await rootAt(this.storage, size);
    if (!sameBytes(stored, root)) throw new LedgerError('LEDGER_INCONSISTENT', `stored tree root at size ${size} differs from the appender's`);
    if (this.latest) {
      const prevRoot = fromB64(this.latest.rootHash);
      if (size < this.latest.size) throw new LedgerError('LEDGER_INCONSISTENT', `tree shrank from ${this.latest.size} to ${size}`);
      const proof = this.latest.size === 0 ? [] : await consistencyProof(this.storage, this.latest.size, size);
      try {
        verifyConsistency(this.latest.size, size, proof, prevRoot, root);
      } catch (err) {
        throw new LedgerError('LEDGER_INCONSISTENT', `refusing to sign: size ${size} is not consistent with checkpoint ${this.latest.size}: ${(err as Error).message}`);
      }
    }
    const note = signCheckpoint({ origin: this.origin, size, rootHash: root, extensions: [] }, this.signers);
    const createdAt = new Date(now).toISOString();
    await this.storage.putCheckpoint({ size, root, note, created_at: createdAt });
    if (this.latest) this.stats.maxCheckpointGapMs = Math.max(this.stats.maxCheckpointGapMs, now - Date.parse(this.latest.createdAt));
    this.latest = { size, rootHash: b64(root), note, createdAt };
    this.lastCheckpointAt = now;
    this.stats.checkpoints++;
    this.opts.onCheckpoint?.(this.latest);
    return this.latest;
  }

  private startTimer(): void {
    // Covers the idle case: entries committed, no more traffic to trigger a checkpoint.
    this.timer = setInterval(() => {
      if (this.closed || this.draining) return;
      if (this.latest?.size === this.range.size) return;
      if (this.opts.now() - this.lastCheckpointAt < this.opts.checkpointIntervalMs) return;
      this.exclusive(() => this.signCheckpoint()).catch((err) => this.opts.onError?.(err));
    }, Math.max(10, Math.floor(this.opts.checkpointIntervalMs / 2)));
    this.timer.unref();
  }

  /** Look up an entry by its id or by its index (a decimal string or number). */
  async entry(ref: string | number): Promise<EntryRow> {
    const row = typeof ref === 'number' || /^\d+$/.test(ref)
      ? await this.storage.getEntry(Number(ref))
      : await this.storage.getEntryById(ref);
    if (!row) throw new LedgerError('LEDGER_NOT_FOUND', `no ledger entry ${ref}`);
    return row;
  }

  /**
   * Inclusion proof of an entry (by id or index) in a signed checkpoint: the latest one by
   * default (signing a new one first if the entry is newer), or the one at `treeSize`.
   */
  async proveInclusion(ref: string | number, opts: { treeSize?: number } = {}): Promise<InclusionBundle> {
    const row = await this.entry(ref);
    let cp: CheckpointRow | SignedCheckpoint | null;
    if (opts.treeSize !== undefined) {
      cp = await this.storage.checkpointAt(opts.treeSize);
      if (!cp) throw new LedgerError('LEDGER_NOT_FOUND', `no signed checkpoint of size ${opts.treeSize}`);
    } else {
      cp = this.latest && this.latest.size > row.index ? this.latest : await this.checkpoint();
    }
    const size = cp.size;
    if (row.index >= size) throw new LedgerError('LEDGER_BAD_REQUEST', `entry ${row.index} is not in the tree of size ${size}`);
    const proof = await inclusionProof(this.storage, row.index, size);
    const root = await rootAt(this.storage, size);
    const leafHash = hashLeaf(row.leaf);
    verifyInclusion(leafHash, row.index, size, proof, root);
    return {
      index: row.index, id: row.id, tree_size: size,
      leaf: new TextDecoder().decode(row.leaf), leaf_hash: b64(leafHash),
      proof: proof.map(b64), root_hash: b64(root), checkpoint: cp.note,
    };
  }

  /** Consistency proof between two tree sizes (old <= new <= durable size), with their checkpoints if signed. */
  async proveConsistency(oldSize: number, newSize: number): Promise<ConsistencyBundle> {
    if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(newSize) || oldSize < 0 || oldSize > newSize) {
      throw new LedgerError('LEDGER_BAD_REQUEST', 'need 0 <= old <= new');
    }
    if (newSize > this.range.size) throw new LedgerError('LEDGER_BAD_REQUEST', `new size ${newSize} is beyond the log size ${this.range.size}`);
    const proof = oldSize === 0 ? [] : await consistencyProof(this.storage, oldSize, newSize);
    const oldRoot = await rootAt(this.storage, oldSize);
    const newRoot = await rootAt(this.storage, newSize);
    verifyConsistency(oldSize, newSize, proof, oldRoot, newRoot);
    return {
      old_size: oldSize, new_size: newSize, old_root: b64(oldRoot), new_root: b64(newRoot), proof: proof.map(b64),
      old_checkpoint: (await this.storage.checkpointAt(oldSize))?.note ?? null,
      new_checkpoint: (await this.storage.checkpointAt(newSize))?.note ?? null,
    };
  }

  /** Entries [start, end) as stored (leaf text and hash), at most `limit`. */
  async entriesRange(start: number, end: number, limit = 1000): Promise<{ index: number; id: string; leaf: string; leaf_hash: string }[]> {
    const rows = await this.storage.entries(start, Math.min(end, this.range.size), Math.min(limit, 10_000));
    return rows.map((r) => ({ index: r.index, id: r.id, leaf: new TextDecoder().decode(r.leaf), leaf_hash: b64(hashLeaf(r.leaf)) }));
  }

  /**
   * Erase the personal data (raw values and salts) of matching entries, e.g. one account's on a
   * deletion request. Leaves, nodes, proofs and checkpoints are unchanged and still verify.
   */
  async erase(filter: EraseFilter): Promise<{ erased: number }> {
    const erased = await this.storage.erase(filter, new Date(this.opts.now()).toISOString());
    return { erased };
  }

  /** Stop accepting appends, commit what is queued, sign a final checkpoint, close storage. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    await this.flush();
    this.closed = true;
    if (this.range.size > 0) await this.exclusive(() => this.signCheckpoint()).catch((err) => this.opts.onError?.(err));
    await this.lock;
    await this.storage.close();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function collectVerifiers(storage: LedgerStorage, signers: readonly NoteSigner[], trusted: readonly NoteVerifier[]): Promise<NoteVerifier[]> {
  const out: NoteVerifier[] = [...signers.map((s) => s.verifier()), ...trusted];
  for (const k of await storage.keys()) {
    try {
      const v = parseVerifierKey(k);
      if (!out.some((o) => o.toString() === v.toString())) out.push(v);
    } catch (err) {
      if (!(err instanceof NoteError)) throw err;
    }
  }
  return out;
}

export { EMPTY_ROOT };
