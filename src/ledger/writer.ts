/**
 * The ledger's single writer: builds leaves (canonical JSON, salted commitments), integrates them
 * into the tree, group-commits entries and tree nodes in one durable transaction, and signs
 * checkpoints from committed state only. It owns its storage connection and runs in a worker
 * thread (writer-worker.ts) so none of this CPU or fsync time lands on the gateway's event loop;
 * the same code runs in the caller's thread when the storage cannot be reopened by a worker.
 *
 * `LedgerWriter` is the state machine (tree border, latest checkpoint); `WriterLoop` schedules it:
 * one commit of up to `batchMax` queued entries per turn of the event loop (under moderate load,
 * gathered over a short group-commit window: one fsync costs as much CPU as ~2 entries), a checkpoint at most
 * `checkpointIntervalMs` after new entries became durable, requests (checkpoint, erase, close)
 * served in order after the entries queued before them.
 */
import type { InteractionEvent } from '../events/index.ts';
import type { Verdict } from '../detect/verdict.ts';
import { CompactRange, consistencyProof, hashLeaf, perfectCover, rootAt, verifyConsistency } from './merkle.ts';
import { NoteError, encodeBase64, openCheckpoint, parseVerifierKey, signCheckpoint, type NoteSigner, type NoteVerifier } from './note.ts';
import { entryColumns, prepareInteraction, prepareVerdict, privateIp, type PreparedEntry } from './records.ts';
import type { EntryRow, EraseFilter, LedgerStorage, PrivateRow, StoredNode } from './storage.ts';
import { LedgerError, type SignedCheckpoint, type WireError } from './types.ts';

/** One append as it crosses to the writer: the raw event (prepared by the writer) or a prepared entry. */
export type WriteItem =
  | { kind: 'interaction'; event: InteractionEvent; clusterId?: string | null }
  /** Verdict ids and times are fixed by the caller, so a resubmission after a writer crash is recognised as a duplicate. */
  | { kind: 'verdict'; verdict: Verdict; accounts?: readonly string[]; id: string; now: number }
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

export function itemId(item: WriteItem): string {
  return item.kind === 'interaction' ? item.event.id : item.kind === 'verdict' ? item.id : item.entry.record.id;
}

export class LedgerWriter {
  private range: CompactRange;
  private latestCp: SignedCheckpoint | null;
  lastCheckpointAt: number;
  readonly now: () => number;

  private constructor(private readonly opts: WriterOptions, range: CompactRange, latest: SignedCheckpoint | null, readonly verifiers: NoteVerifier[]) {
    this.range = range;
    this.latestCp = latest;
    this.now = opts.now ?? Date.now;
    this.lastCheckpointAt = this.now();
  }

  /**
   * Open the writer over its storage: record the signing keys, rebuild the right border of the
   * tree from stored nodes, check the latest stored checkpoint (signature, origin, root against
   * the stored nodes), then recompute every entry after it from its leaf and check it against the
   * stored nodes, so the writer never extends a tree it cannot vouch for.
   */
  static async open(opts: WriterOptions): Promise<LedgerWriter> {
    const { storage } = opts;
    await storage.recordKeys(opts.signers.map((s) => s.verifier().toString()));
    const verifiers = await collectVerifiers(storage, opts.signers, opts.trustedKeys ?? []);
    const size = await storage.size();
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
    return new LedgerWriter(opts, range, latest, verifiers);
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
      case 'verdict': return prepareVerdict(item.verdict, { accounts: item.accounts, id: item.id, now: item.now });
      case 'prepared': return item.entry;
    }
  }

  /**
   * Commit a batch in one durable transaction; one result per item, in order. Ids already in
   * the log (or repeated in the batch) are acknowledged with their existing index, not re-added:
   * that makes resubmission after a writer crash safe.
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
    let existing: Map<string, number>;
    try {
      existing = await this.opts.storage.existingIds(prepared.map((x) => x.entry.record.id));
    } catch (err) {
      for (const x of prepared) results[x.at] = { error: storageError(err) };
      return results;
    }
    const range = this.range.clone();
    const entries: EntryRow[] = [];
    const privates: PrivateRow[] = [];
    const nodes: StoredNode[] = [];
    const inBatch = new Map<string, { index: number; leafHash: string }>();
    const dups: { at: number; index: number }[] = [];
    for (const { at, entry } of prepared) {
      const id = entry.record.id;
      const dupIndex = existing.get(id);
      if (dupIndex !== undefined) { dups.push({ at, index: dupIndex }); continue; }
      const again = inBatch.get(id);
      if (again) { results[at] = again; continue; }
      const index = range.size;
      const leafHash = hashLeaf(entry.leaf);
      nodes.push(...range.append(leafHash));
      const cols = entryColumns(entry.record);
      // Object.assign: `{ index, ...cols, leaf }` would give each row a hidden class of its own (see src/gateway/headers.ts)
      entries.push(Object.assign({ index }, cols, { leaf: entry.leaf }));
      if (Object.keys(entry.openings).length > 0) {
        privates.push({ index, account_id: cols.account_id, org_id: cols.org_id, ip: privateIp(entry), openings: entry.openings, erased_at: null });
      }
      const receipt = { index, leafHash: b64(leafHash) };
      inBatch.set(id, receipt);
      results[at] = receipt;
    }
    try {
      if (entries.length > 0) await this.opts.storage.appendBatch(entries, privates, nodes);
    } catch (err) {
      for (const { at } of prepared) results[at] = { error: storageError(err) };
      // A failed commit may still have landed (a lost COMMIT reply): follow the storage, not memory.
      await this.resync().catch(() => {});
      return results;
    }
    this.range = range;
    for (const { at, index } of dups) {
      const row = await this.opts.storage.getEntry(index).catch(() => null);
      results[at] = row ? { index, leafHash: b64(hashLeaf(row.leaf)) } : { error: { code: 'LEDGER_NOT_FOUND', message: `entry ${index} vanished` } };
    }
    return results;
  }

  /** After a failed commit: adopt what the storage actually holds (a commit whose reply was lost may have landed). */
  private async resync(): Promise<void> {
    const size = await this.opts.storage.size();
    if (size === this.range.size) return;
    if (size < this.range.size) throw new LedgerError('LEDGER_INCONSISTENT', `the log shrank from ${this.range.size} to ${size} entries`);
    this.range = await verifiedBorder(this.opts.storage, this.range.size, size, this.range);
  }

  /**
   * Sign a checkpoint of the durable tree (or return the latest if the tree has not grown). The
   * root is recomputed from stored nodes and must equal the writer's; the new tree must be
   * consistent with the previous checkpoint (RFC 9162 verifier over a proof from stored nodes).
   */
  async signCheckpoint(): Promise<SignedCheckpoint> {
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
    const note = signCheckpoint({ origin: this.opts.origin, size, rootHash: root, extensions: [] }, this.opts.signers);
    const createdAt = new Date(now).toISOString();
    await storage.putCheckpoint({ size, root, note, created_at: createdAt });
    this.latestCp = { size, rootHash: b64(root), note, createdAt };
    this.lastCheckpointAt = now;
    return this.latestCp;
  }

  async erase(filter: EraseFilter): Promise<number> {
    return this.opts.storage.erase(filter, new Date(this.now()).toISOString());
  }
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

/** Where a WriterLoop reports (direct calls inline; messages to the main thread in a worker). */
export interface LoopSink {
  /** Results of the next `results.length` items pushed, in push order, and the durable tree size. */
  committed(results: WriteResult[], size: number): void;
  checkpoint(cp: SignedCheckpoint): void;
  /** Background failures (checkpoint signing). */
  error(err: unknown): void;
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
    // Covers the idle case: entries committed, no more traffic to trigger a checkpoint.
    this.timer = setInterval(() => { if (this.checkpointDue()) this.kick(); }, Math.max(10, Math.floor(opts.checkpointIntervalMs / 2)));
    this.timer.unref();
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

  private get queued(): number {
    return this.queue.length - this.head;
  }

  private checkpointDue(): boolean {
    const w = this.writer;
    return !this.stopped && (w.latest?.size ?? 0) !== w.size && w.now() - w.lastCheckpointAt >= this.opts.checkpointIntervalMs;
  }

  private async sign(): Promise<SignedCheckpoint> {
    const before = this.writer.latest;
    const cp = await this.writer.signCheckpoint();
    if (cp !== before) this.sink.checkpoint(cp);
    return cp;
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
        }
        if (this.checkpointDue()) await this.sign().catch((err) => this.sink.error(err));
        if (this.queued === 0 && this.calls.length === 0) break;
        await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.running = false;
      if (!this.stopped && (this.queued > 0 || this.calls.length > 0)) this.kick();
    }
  }
}
