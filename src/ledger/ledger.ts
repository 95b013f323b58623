/**
 * The Ledger: an append-only Merkle log of interactions and verdicts with signed checkpoints.
 *
 * This is the front the gateway and the CLI call. Appends are queued here (bounded: beyond
 * `maxQueue` waiting entries they are refused with LEDGER_OVERLOADED, never dropped silently)
 * and handed, in batches, to its writer (writer.ts) which by default runs in a worker
 * thread with its own database connection: it builds the leaves, integrates them into the tree,
 * group-commits them durably and signs checkpoints, then acknowledges. A caller's promise resolves
 * only once its entry is durable. Nothing on this thread waits for a disk flush, so the gateway's
 * event loop stays responsive under load.
 *
 * If the writer thread dies, the error is reported (onError), the thread is restarted, and the new
 * writer verifies the log before it writes (stored root at the last checkpoint, every entry after
 * it re-hashed, nothing acknowledged missing). Entries that were in flight are resubmitted once:
 * the writer recognises ids already committed and acknowledges them at their existing index.
 *
 * Proofs, entries and queries are read on this thread through `storage` (SQLite WAL readers do
 * not block the writer).
 */
import type { InteractionEvent } from '../events/index.ts';
import { ulid } from '../events/index.ts';
import { EMPTY_ROOT, consistencyProof, hashLeaf, inclusionProof, rootAt, verifyConsistency, verifyInclusion } from './merkle.ts';
import { encodeBase64, parseVerifierKey, type NoteSigner, type NoteVerifier } from './note.ts';
import { settingsDigest, type PreparedEntry, type RecordedVerdict } from './records.ts';
import { settingsEntries } from './query.ts';
import { normalizeIsoTime } from '../store/iso-time.ts';
import type { CheckpointRow, EntryRow, EraseFilter, LedgerStorage } from './storage.ts';
import { addSignatureLines, checkCosignatures } from './cosign.ts';
import { WitnessClient, type WitnessEndpoint } from './witness-client.ts';
import {
  LedgerError, type AppendReceipt, type ConsistencyBundle, type InclusionBundle, type SignedCheckpoint,
} from './types.ts';
import { LedgerWriter, itemId, unconfiguredKeys, type WriteItem, type WriteResult } from './writer.ts';
import { fillRegionColumns, type RegionFillOptions } from './region-fill.ts';
import type { FromRegionFill } from './region-fill-worker.ts';
import { resolveWorkerEntry, startWorker } from '../store/worker-entry.ts';
import { InlineLink, WorkerLink, type LinkHandlers, type WriterFault, type WriterInit, type WriterLink, type WriterState } from './writer-thread.ts';

export { LedgerError, type AppendReceipt, type SignedCheckpoint, type InclusionBundle, type ConsistencyBundle } from './types.ts';

export interface LedgerOptions {
  /** Storage this thread reads from (proofs, entries, queries); the writer opens its own connection to the same log. */
  storage: LedgerStorage;
  /** Checkpoint origin (and signing key name). */
  origin: string;
  /** Keys that sign every checkpoint; at least one. During rotation, old and new. */
  signers: readonly NoteSigner[];
  /** Extra verifier keys (retired signers) accepted when checking stored checkpoints. */
  trustedKeys?: readonly NoteVerifier[];
  checkpointIntervalMs?: number;
  batchMax?: number;
  /** Group-commit window of a busy writer, ms (see WriterLoop); default 10, 0 commits every turn. */
  groupCommitMs?: number;
  /** Entries waiting for commit (queued or in flight) beyond which appends are refused. */
  maxQueue?: number;
  keepPromptText?: boolean;
  /**
   * Where the writer runs: 'worker' (a worker thread with its own connection; the default when
   * the storage can be reopened, see LedgerStorage.writerConnection) or 'inline' (this thread).
   */
  writer?: 'worker' | 'inline';
  /**
   * The detector settings in force on this node (src/ledger/settings.ts), when it runs a
   * detector: recorded as a settings entry at open unless the log's latest settings entry holds
   * the same (same digest), and named by digest in every detector verdict appended after it.
   */
  detectorSettings?: Record<string, unknown>;
  /** Errors of fire-and-forget appends, background checkpoints and writer restarts. */
  onError?: (err: unknown) => void;
  /** Called after each durable commit with the new tree size. */
  onCommit?: (size: number, batch: number) => void;
  /** Called after each checkpoint is signed and stored. */
  onCheckpoint?: (cp: SignedCheckpoint) => void;
  /**
   * Called once when the writer's storage answers again after being unreachable (its start is
   * reported once to onError, `LEDGER_UNAVAILABLE`): how long it was away and how many entries
   * waited for it (those queued when it went away and those accepted meanwhile).
   */
  onStorageBack?: (info: { outageMs: number; waited: number }) => void;
  /**
   * How long close() waits for the storage to take what is queued and the final checkpoint, ms
   * (default 10,000). A storage that stops answering (a PostgreSQL whose packets are dropped) would
   * otherwise hold a stopping process for each statement's timeout in turn; past this the writer
   * is stopped and what it had not written is refused and reported (see close()).
   */
  closeTimeoutMs?: number;
  /**
   * Witnesses of this log (c2sp.org/tlog-witness): their keys and the quorum of cosignatures that
   * makes a checkpoint witnessed (witnessedCheckpoint). With `submit`, each new checkpoint is sent
   * to them in the background (never on the append path) and their cosignatures are stored with it.
   */
  witnesses?: WitnessPolicy;
  /**
   * Fill, in the background, the region columns of entries stored without them (before ledger
   * migration 2, or by an older release): see region-fill.ts. `warden serve` does, with its log;
   * one-shot commands do not (a query reads those leaves itself). Failures go to onError.
   */
  regionFill?: Pick<RegionFillOptions, 'log' | 'progressEveryMs' | 'chunkRows'>;
  now?: () => number;
}

/** What close() could not write: `lost` entries never reached the writer; `unsettled` ones were with it, and may have been committed. */
export interface WitnessPolicy {
  witnesses: readonly WitnessEndpoint[];
  /** Cosignatures a checkpoint needs to count as witnessed (1..witnesses.length). */
  quorum: number;
  /** Send checkpoints to the witnesses (the server does; one-shot CLI commands do not). */
  submit?: boolean;
  /** Per call, ms (default 10,000). */
  timeoutMs?: number;
}

export interface LedgerCloseReport { lost: number; unsettled: number }

interface Pending {
  item: WriteItem;
  id: string;
  seq: number;
  /** How many writer threads died while this entry was in flight. */
  attempts: number;
  resolve: (r: AppendReceipt) => void;
  reject: (e: unknown) => void;
}

/** A FIFO with O(1) shift (arrays shift in O(n)). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number { return this.items.length - this.head; }
  peek(): T | undefined { return this.items[this.head]; }
  push(x: T): void { this.items.push(x); }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head++] = undefined as T;
    if (this.head > 1024 && this.head * 2 > this.items.length) { this.items = this.items.slice(this.head); this.head = 0; }
    return x;
  }
  take(n: number): T[] {
    const out = this.items.slice(this.head, this.head + n);
    for (let i = 0; i < out.length; i++) this.items[this.head + i] = undefined as T;
    this.head += out.length;
    if (this.head > 1024 && this.head * 2 > this.items.length) { this.items = this.items.slice(this.head); this.head = 0; }
    return out;
  }
  /** Put items back at the front, in their order. */
  unshiftAll(xs: readonly T[]): void { this.items = [...xs, ...this.items.slice(this.head)]; this.head = 0; }
  drain(): T[] { return this.take(this.length); }
}

const b64 = (b: Uint8Array) => encodeBase64(b);

/**
 * An erase filter as the storage compares it: at least one selector, `before` an ISO 8601 time
 * (normalised to the stored form). Stored times are compared as text, so a `before` of `tomorrow`
 * or `9` would select every entry: refused here for every caller, not only the CLI.
 */
function checkEraseFilter(filter: EraseFilter): EraseFilter {
  const f = { ...filter };
  if (f.before !== undefined) {
    const iso = typeof f.before === 'string' ? normalizeIsoTime(f.before) : null;
    if (iso === null) throw new LedgerError('LEDGER_BAD_REQUEST', `erase: before must be an ISO 8601 date or date-time with its zone (got ${JSON.stringify(f.before)})`);
    f.before = iso;
  }
  for (const k of ['accountId', 'orgId'] as const) {
    if (f[k] !== undefined && (typeof f[k] !== 'string' || f[k] === '')) throw new LedgerError('LEDGER_BAD_REQUEST', `erase: ${k} must be a non-empty string`);
  }
  if (f.indices !== undefined && !f.indices.every((i) => Number.isSafeInteger(i) && i >= 0)) throw new LedgerError('LEDGER_BAD_REQUEST', 'erase: indices must be non-negative integers');
  if (!f.accountId && !f.orgId && !f.indices && !f.before) throw new LedgerError('LEDGER_BAD_REQUEST', 'erase needs accountId, orgId, indices or before');
  return f;
}
const RESTART_MIN_MS = 50;
const SEND_INTERVAL_MS = 2;
const RESTART_MAX_MS = 5000;

export class Ledger {
  /** The newest checkpoint carrying a quorum of witness cosignatures (null: none yet, or no witnesses). */
  private witnessed: SignedCheckpoint | null = null;
  /** Sends checkpoints to the witnesses (when configured to). */
  readonly witnessClient: WitnessClient | null = null;
  readonly origin: string;
  readonly storage: LedgerStorage;
  private readonly signers: readonly NoteSigner[];
  private verifiersList: NoteVerifier[] = [];
  private durableSize = 0;
  private latest: SignedCheckpoint | null = null;
  private link: WriterLink | null = null;
  private readonly outbox = new Fifo<Pending>();
  private readonly inflight = new Fifo<Pending>();
  private nextSeq = 0;
  private sendScheduled = false;
  private lastSendAt = -Infinity;
  private flushWaiters: { target: number; resolve: () => void }[] = [];
  private closed = false;
  private closing: Promise<LedgerCloseReport> | null = null;
  /** Set when close() gave up waiting for the storage: a writer started after that is stopped at once. */
  private abandoned = false;
  /** The writer close() is waiting for, once it is no longer `link`. */
  private closingLink: WriterLink | null = null;
  /** Set when the log cannot be written any more (the restarted writer found it inconsistent). */
  private failure: LedgerError | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private restartDelay = RESTART_MIN_MS;
  private restarting: Promise<void> | null = null;
  /** Stops the writer `restarting` is starting (close() gave up waiting for it). */
  private restartAbort: AbortController | null = null;
  private busy = false;
  /** Generation of the current writer thread: exits of earlier ones (or of one being closed) are not crashes. */
  private generation = 0;
  private readonly opts: Required<Pick<LedgerOptions, 'checkpointIntervalMs' | 'batchMax' | 'groupCommitMs' | 'maxQueue' | 'keepPromptText' | 'closeTimeoutMs' | 'now'>> & LedgerOptions;
  /**
   * Counters for metrics and benchmarks. `rejected`: appends refused because the queue was full;
   * `dropped`: fire-and-forget submissions (submitInteraction) that were not recorded, for any reason.
   */
  readonly stats = { appended: 0, batches: 0, checkpoints: 0, rejected: 0, dropped: 0, writerRestarts: 0, maxCheckpointGapMs: 0, storageOutages: 0 };
  /** Since when the writer's storage has been unreachable or refused writes (null: it takes them), how many entries have waited for it, and what it does. */
  private outage: { since: number; waited: number; what: string } | null = null;
  /** Whether the queue has been filling towards max_queue (see `recording`). */
  private queueHigh = false;
  /** Digest of the detector settings in force (useDetectorSettings), named by detector verdicts. */
  private settingsDigest: string | null = null;
  /** The background fill of the region columns (regionFill), stopped by close(). */
  private regionFilling: Promise<unknown> | null = null;
  private readonly regionFillStop = new AbortController();
  private regionFillWorker: import('node:worker_threads').Worker | null = null;

  private constructor(opts: LedgerOptions) {
    this.opts = { checkpointIntervalMs: 500, batchMax: 256, groupCommitMs: 10, maxQueue: 50_000, keepPromptText: false, closeTimeoutMs: 10_000, now: Date.now, ...opts };
    this.origin = opts.origin;
    this.storage = opts.storage;
    this.signers = opts.signers;
    const w = opts.witnesses;
    if (w && w.witnesses.length) {
      if (!Number.isInteger(w.quorum) || w.quorum < 1 || w.quorum > w.witnesses.length) throw new Error(`witness quorum ${w.quorum} must be between 1 and the number of witnesses (${w.witnesses.length})`);
      if (w.submit) this.witnessClient = new WitnessClient(this, w.witnesses, { timeoutMs: w.timeoutMs ?? 10_000, onError: (e) => this.opts.onError?.(e) });
    }
  }

  /** The witnesses' keys and quorum, when the log has witnesses. */
  get witnessPolicy(): WitnessPolicy | null {
    return this.opts.witnesses?.witnesses.length ? this.opts.witnesses : null;
  }

  /** The newest checkpoint that carries a quorum of valid witness cosignatures, null if none (or no witnesses). */
  witnessedCheckpoint(): SignedCheckpoint | null {
    return this.witnessed;
  }

  /** Whether a signed checkpoint note carries the quorum of valid cosignatures of the configured witnesses. */
  private hasQuorum(note: string): boolean {
    const p = this.witnessPolicy;
    if (!p) return false;
    try { return checkCosignatures(note, p.witnesses.map((w) => w.key)).valid.length >= p.quorum; } catch { return false; }
  }

  private noteWitnessed(cp: SignedCheckpoint): void {
    if (this.hasQuorum(cp.note) && (!this.witnessed || cp.size >= this.witnessed.size)) this.witnessed = cp;
  }

  /**
   * Add witness cosignature lines to the stored checkpoint of `size` (they are signature lines on
   * the same note text, so the log's own signature still verifies and the note is still one signed
   * note). Lines that do not verify against a configured witness key are not stored. Resolves to
   * the checkpoint as now stored, null when there is none of that size.
   */
  async addCosignatures(size: number, lines: readonly string[]): Promise<SignedCheckpoint | null> {
    const row = await this.storage.checkpointAt(size);
    if (!row) return null;
    const keys = (this.witnessPolicy?.witnesses ?? []).map((w) => w.key);
    const { valid } = checkCosignatures(addSignatureLines(row.note, lines), keys);
    const note = addSignatureLines(row.note, valid.map((v) => v.line));
    if (note !== row.note) await this.storage.putCheckpoint({ ...row, note });
    const cp: SignedCheckpoint = { size: row.size, rootHash: b64(row.root), note, createdAt: row.created_at };
    if (this.latest && this.latest.size === size && this.latest.rootHash === cp.rootHash) this.latest = cp;
    this.noteWitnessed(cp);
    return cp;
  }

  /**
   * Open a ledger over its storage and start its writer, which rebuilds the right border of the
   * tree from stored nodes and checks the latest stored checkpoint (trusted signature, root
   * matching stored data) and every entry after it before accepting appends.
   */
  static async open(opts: LedgerOptions): Promise<Ledger> {
    if (opts.signers.length === 0) throw new Error('the ledger needs at least one signing key');
    for (const s of opts.signers) if (s.name !== opts.origin) throw new Error(`signing key name ${s.name} must equal the origin ${opts.origin}`);
    const connection = opts.writer === 'inline' ? null : opts.storage.writerConnection?.() ?? null;
    if (opts.writer === 'worker' && !connection) {
      throw new Error('this storage cannot be opened by a writer thread (in-memory SQLite, or PostgreSQL storage created without its url)');
    }
    const ledger = new Ledger(opts);
    if (connection) {
      const { link, state } = await WorkerLink.start(ledger.workerInit(), ledger.handlers(++ledger.generation));
      ledger.adopt(link, state);
    } else {
      const writer = await LedgerWriter.open({
        storage: opts.storage, origin: opts.origin, signers: opts.signers, trustedKeys: opts.trustedKeys, keepPromptText: ledger.opts.keepPromptText, now: ledger.opts.now,
      });
      const link = new InlineLink(writer, { batchMax: ledger.opts.batchMax, checkpointIntervalMs: ledger.opts.checkpointIntervalMs, groupCommitMs: ledger.opts.groupCommitMs }, ledger.handlers(++ledger.generation));
      ledger.adopt(link, { size: writer.size, latest: writer.latest, verifiers: writer.verifiers.map(String) });
    }
    if (opts.regionFill) ledger.regionFilling = ledger.fillRegions(opts.regionFill, connection);
    if (opts.detectorSettings) {
      try {
        const { receipt } = await ledger.useDetectorSettings(opts.detectorSettings);
        // Not waited for: a storage outage at start delays the entry like any other.
        receipt.catch((err) => ledger.opts.onError?.(err));
      } catch (err) {
        await ledger.close();
        throw err;
      }
    }
    return ledger;
  }

  /**
   * The background fill of the region columns: in a thread of its own with its own connection when
   * the storage can be reopened (as the writer's), else on this thread. Resolves when it is done or
   * stopped; a failure goes to onError (the next start goes on).
   */
  private async fillRegions(opts: NonNullable<LedgerOptions['regionFill']>, connection: ReturnType<NonNullable<LedgerStorage['writerConnection']>> | null): Promise<void> {
    const failed = (message: string) => this.opts.onError?.(new Error(`ledger: filling the region columns failed (a query by region reads the leaves not filled yet; the next start goes on): ${message}`));
    try {
      if (await this.storage.regionsUnfilled() === 0) return;
      if (!connection) {
        await fillRegionColumns(this.storage, { ...opts, signal: this.regionFillStop.signal });
        return;
      }
      const worker = startWorker(resolveWorkerEntry(import.meta.url, 'region-fill-worker'), {
        workerData: { connection, chunkRows: opts.chunkRows, progressEveryMs: opts.progressEveryMs }, name: 'warden-ledger-region-fill',
      });
      this.regionFillWorker = worker;
      const stop = () => worker.postMessage('stop');
      this.regionFillStop.signal.addEventListener('abort', stop, { once: true });
      await new Promise<void>((resolve) => {
        worker.on('message', (m: FromRegionFill) => {
          if (m.type === 'log') opts.log?.(m.line);
          else if (m.type === 'error') failed(m.message);
        });
        worker.on('error', (err) => failed(err.message));
        worker.once('exit', () => resolve());
      });
      this.regionFillStop.signal.removeEventListener('abort', stop);
    } catch (err) {
      failed((err as Error)?.message ?? String(err));
    }
  }

  private workerInit(): WriterInit {
    const connection = this.storage.writerConnection!()!;
    return {
      connection, origin: this.origin,
      signerKeys: this.signers.map((s) => s.exportPrivate()),
      trustedKeys: (this.opts.trustedKeys ?? []).map(String),
      keepPromptText: this.opts.keepPromptText, batchMax: this.opts.batchMax, checkpointIntervalMs: this.opts.checkpointIntervalMs, groupCommitMs: this.opts.groupCommitMs,
      expect: this.link === null && this.durableSize === 0 && this.latest === null
        ? null
        : { size: this.durableSize, checkpoint: this.latest ? { size: this.latest.size, rootHash: this.latest.rootHash } : null },
    };
  }

  private adopt(link: WriterLink, state: WriterState): void {
    this.link = link;
    this.durableSize = Math.max(this.durableSize, state.size);
    if (state.latest && (!this.latest || state.latest.size >= this.latest.size)) this.latest = state.latest;
    if (state.latest) {
      this.noteWitnessed(state.latest);
      // At start (and after a restart) the latest checkpoint goes to the witnesses unless it is witnessed already.
      if (!this.witnessed || this.witnessed.size < state.latest.size) this.witnessClient?.submit(state.latest);
    }
    this.verifiersList = state.verifiers.map(parseVerifierKey);
    this.busy = false;
    this.markBusy();
    if (this.outbox.length > 0) this.scheduleSend();
  }

  private handlers(generation: number): LinkHandlers {
    return {
      committed: (results, size) => this.onCommitted(results, size),
      checkpoint: (cp) => this.onCheckpointSigned(cp),
      error: (err) => this.opts.onError?.(err),
      storage: (down) => { if (generation === this.generation) this.onStorage(down); },
      exit: (err) => { if (generation === this.generation) this.onWriterExit(err); },
    };
  }

  /** Where the writer runs ('worker' or 'inline'). */
  get writerMode(): 'worker' | 'inline' {
    return this.link?.mode ?? (this.storage.writerConnection?.() && this.opts.writer !== 'inline' ? 'worker' : 'inline');
  }

  /** Durable tree size (entries committed and acknowledged by the writer). */
  get size(): number {
    return this.durableSize;
  }

  /** Entries accepted and not yet acknowledged (queued here or being committed). */
  get pending(): number {
    return this.outbox.length + this.inflight.length;
  }

  /** How long the writer's storage has been unreachable or refused writes, ms (0 while it takes them). */
  get storageOutageMs(): number {
    return this.outage ? Math.max(0, this.opts.now() - this.outage.since) : 0;
  }

  /**
   * Whether this node records what it serves, for readiness (`ledger.required`): not while the
   * writer's storage is unreachable or refuses writes (a full disk, a read-only file or database:
   * entries only wait in memory), the log cannot be written
   * (LEDGER_INCONSISTENT), the ledger is closed, or the queue is 80% full (it is back below half:
   * a queue that hovers at the mark does not flap readiness).
   */
  recording(): { ok: true } | { ok: false; reason: string } {
    if (this.closed) return { ok: false, reason: 'the ledger is closed' };
    if (this.failure) return { ok: false, reason: `the ledger cannot be written (${this.failure.code})` };
    if (this.outage) return { ok: false, reason: `the ledger's storage ${this.outage.what}, for ${Math.round(this.storageOutageMs / 1000)} s (${this.pending} entries waiting)` };
    const pending = this.pending;
    if (pending >= this.opts.maxQueue * 0.8) this.queueHigh = true;
    else if (pending < this.opts.maxQueue * 0.5) this.queueHigh = false;
    if (this.queueHigh) return { ok: false, reason: `the ledger's queue holds ${pending} of ledger.max_queue ${this.opts.maxQueue} entries` };
    return { ok: true };
  }

  /** The writer says its storage went away (`down`) or answers again (null). */
  private onStorage(down: string | null): void {
    if (down === null) { this.storageBack(); return; }
    if (!this.outage) this.outage = { since: this.opts.now(), waited: this.pending, what: down };
  }

  private storageBack(): void {
    const outage = this.outage;
    if (!outage) return;
    this.outage = null;
    this.stats.storageOutages++;
    try { this.opts.onStorageBack?.({ outageMs: Math.max(0, this.opts.now() - outage.since), waited: outage.waited }); } catch { /* a listener must not break the ledger */ }
  }

  /**
   * Keys a verifier should trust for this log: the ones configured on this node (its signers and
   * `ledger.trusted_keys`), never one only the log's own database records.
   */
  get verifiers(): readonly NoteVerifier[] {
    return this.verifiersList;
  }

  /**
   * Signing keys the log's database records (`ledger_keys`) that this node is not configured
   * with: recorded, not trusted, and not served at GET /ledger/v1/key. Checkpoints signed only by
   * them verify nowhere until the operator lists them in `ledger.trusted_keys`.
   */
  async unconfiguredKeys(): Promise<string[]> {
    return unconfiguredKeys(this.storage, this.verifiersList);
  }

  latestCheckpoint(): SignedCheckpoint | null {
    return this.latest;
  }

  /** Append one interaction; resolves once it is durable. */
  appendInteraction(event: InteractionEvent, opts: { clusterId?: string | null } = {}): Promise<AppendReceipt> {
    return this.enqueue({ kind: 'interaction', event, clusterId: opts.clusterId ?? null });
  }

  /** Append one verdict (with the accounts it covers, for cluster verdicts); resolves once durable. */
  appendVerdict(verdict: RecordedVerdict, opts: { accounts?: readonly string[] } = {}): Promise<AppendReceipt> {
    const now = this.opts.now();
    // A constant string per verdict: the digest was computed once, when the settings were recorded.
    const settingsDigest = verdict.source === 'detector' ? this.settingsDigest : null;
    return this.enqueue({ kind: 'verdict', verdict, accounts: opts.accounts ? [...opts.accounts] : undefined, id: `v_${ulid(now)}`, now, settingsDigest });
  }

  /** Digest of the detector settings the detector's verdicts are recorded under now (null: none recorded by this node). */
  get detectorSettingsDigest(): string | null {
    return this.settingsDigest;
  }

  /**
   * Make `settings` the detector settings in force: detector verdicts appended from now on name
   * their digest. They are appended as a settings entry unless the log's latest settings entry
   * holds the same ones (a restart with unchanged settings adds nothing). The entry is queued
   * before any verdict that names it, so it always precedes them in the log. Resolves once the
   * log has been read and the entry queued; `receipt` resolves once it is durable (the existing
   * entry's when nothing was appended).
   */
  async useDetectorSettings(settings: Record<string, unknown>): Promise<{ digest: string; appended: boolean; receipt: Promise<AppendReceipt> }> {
    const digest = settingsDigest(settings);
    const latest = (await settingsEntries(this.storage)).at(-1);
    if (latest && latest.record.digest === digest) {
      this.settingsDigest = digest;
      return { digest, appended: false, receipt: Promise.resolve({ index: latest.entry.index, id: latest.entry.id, leafHash: b64(hashLeaf(latest.entry.leaf)) }) };
    }
    const now = this.opts.now();
    const receipt = this.enqueue({ kind: 'settings', settings, id: `s_${ulid(now)}`, now });
    // Set only once queued: a verdict queued before would name settings not yet in the log.
    this.settingsDigest = digest;
    return { digest, appended: true, receipt };
  }

  /** Append a record already prepared with prepareInteraction/prepareVerdict. */
  appendPrepared(entry: PreparedEntry): Promise<AppendReceipt> {
    return this.enqueue({ kind: 'prepared', entry });
  }

  /**
   * Fire-and-forget append for the request path: never throws. A submission that cannot be
   * recorded (queue full, ledger closed, writer failure) is counted in `stats.dropped` and
   * reported to onError.
   */
  submitInteraction(event: InteractionEvent, opts: { clusterId?: string | null } = {}): void {
    this.appendInteraction(event, opts).catch((err) => {
      this.stats.dropped++;
      this.opts.onError?.(err);
    });
  }

  private enqueue(item: WriteItem): Promise<AppendReceipt> {
    if (this.closed) return Promise.reject(new LedgerError('LEDGER_CLOSED', 'ledger is closed'));
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending >= this.opts.maxQueue) {
      this.stats.rejected++;
      return Promise.reject(new LedgerError('LEDGER_OVERLOADED', `ledger queue is full (${this.opts.maxQueue} entries waiting for commit)`));
    }
    let id: string;
    try {
      id = itemId(item);
    } catch {
      return Promise.reject(new LedgerError('LEDGER_BAD_REQUEST', 'cannot record an entry without an id'));
    }
    if (this.outage) this.outage.waited++;
    return new Promise<AppendReceipt>((resolve, reject) => {
      this.outbox.push({ item, id, seq: this.nextSeq++, attempts: 0, resolve, reject });
      this.markBusy();
      this.scheduleSend();
    });
  }

  /** The writer thread keeps the process alive while entries wait, not when idle (like an unref'd timer). */
  private markBusy(): void {
    const busy = this.pending > 0;
    if (busy === this.busy) return;
    this.busy = busy;
    this.link?.setBusy(busy);
    if (busy) this.restartTimer?.ref();
    else this.restartTimer?.unref();
  }

  /**
   * Hand what is queued to the writer once per turn of the event loop (appends made in one turn
   * travel together), and at most once per SEND_INTERVAL_MS: a message to the writer thread has a
   * fixed cost on this thread, which a trickle of single-entry messages would pay per request.
   */
  private scheduleSend(): void {
    if (this.sendScheduled) return;
    this.sendScheduled = true;
    const run = () => {
      this.sendScheduled = false;
      this.lastSendAt = performance.now();
      this.sendOutbox();
    };
    const wait = this.lastSendAt + SEND_INTERVAL_MS - performance.now();
    if (wait >= 0.5) setTimeout(run, wait);
    else setImmediate(run);
  }

  private sendOutbox(): void {
    const link = this.link;
    if (!link) return;
    while (this.outbox.length > 0) {
      const chunk = this.outbox.take(this.opts.batchMax);
      try {
        link.send(chunk.map((p) => p.item));
        for (const p of chunk) this.inflight.push(p);
      } catch (err) {
        if (this.link !== link || (err instanceof LedgerError && err.code === 'LEDGER_UNAVAILABLE')) {
          // The writer is gone: keep the entries for the restarted one.
          this.outbox.unshiftAll(chunk);
          return;
        }
        // An item that cannot cross to the writer thread (not plain data): isolate and refuse it.
        for (const p of chunk) {
          try {
            link.send([p.item]);
            this.inflight.push(p);
          } catch (e) {
            p.reject(new LedgerError('LEDGER_BAD_REQUEST', `cannot record entry ${p.id}: ${(e as Error).message}`));
          }
        }
        this.settled();
      }
    }
  }

  private onCommitted(results: WriteResult[], size: number): void {
    const before = this.durableSize;
    // What this writer added (on a shared log the size also grows by other writers' entries).
    const added = new Set<number>();
    for (const r of results) {
      const p = this.inflight.shift();
      if (!p) break;
      if ('error' in r) p.reject(LedgerError.fromWire(r.error));
      else {
        if (r.index >= before) added.add(r.index);
        p.resolve({ index: r.index, id: p.id, leafHash: r.leafHash });
      }
    }
    if (size > before) this.durableSize = size;
    // A commit went through: the storage answers (a writer restarted during an outage says nothing else).
    if (added.size > 0) this.storageBack();
    if (added.size > 0) {
      this.stats.appended += added.size;
      this.stats.batches++;
      this.opts.onCommit?.(this.durableSize, added.size);
    }
    this.restartDelay = RESTART_MIN_MS;
    this.settled();
  }

  private onCheckpointSigned(cp: SignedCheckpoint): void {
    if (this.latest && cp.size < this.latest.size) return;
    if (this.latest && cp.size === this.latest.size && cp.note === this.latest.note) return;
    // The same checkpoint again (a writer that had nothing new to sign): keep the one carrying the cosignatures.
    if (this.latest && cp.size === this.latest.size && cp.rootHash === this.latest.rootHash && this.latest.note.startsWith(cp.note)) return;
    if (this.latest) this.stats.maxCheckpointGapMs = Math.max(this.stats.maxCheckpointGapMs, Date.parse(cp.createdAt) - Date.parse(this.latest.createdAt));
    this.latest = cp;
    // On a shared log a checkpoint may cover entries other writers appended.
    if (cp.size > this.durableSize) this.durableSize = cp.size;
    this.stats.checkpoints++;
    this.noteWitnessed(cp);
    this.witnessClient?.submit(cp);
    this.opts.onCheckpoint?.(cp);
  }

  /** The writer thread died: report, resubmit what was in flight (once), restart it with backoff. */
  private onWriterExit(err: Error): void {
    this.link = null;
    this.stats.writerRestarts++;
    this.opts.onError?.(new LedgerError('LEDGER_UNAVAILABLE', `ledger writer thread died (${err.message}); restarting it`));
    const retry: Pending[] = [];
    for (const p of this.inflight.drain()) {
      if (++p.attempts >= 2) p.reject(new LedgerError('LEDGER_UNAVAILABLE', `the ledger writer died twice while committing entry ${p.id}`));
      else retry.push(p);
    }
    this.outbox.unshiftAll(retry);
    this.settled();
    if (this.closed) void this.restart();
    else this.scheduleRestart();
  }

  private scheduleRestart(): void {
    // Once closing, close() itself restarts a dead writer, once, within its bound.
    if (this.restartTimer || this.restarting || this.closed) return;
    const delay = this.restartDelay;
    this.restartDelay = Math.min(RESTART_MAX_MS, this.restartDelay * 2);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      void this.restart();
    }, delay);
    // Entries waiting for the restarted writer keep the process alive, as they would the writer.
    if (this.pending === 0) this.restartTimer.unref();
  }

  /** Start a new writer; it refuses (LEDGER_INCONSISTENT) a log that lost acknowledged data or no longer matches its checkpoint. */
  private restart(): Promise<void> {
    if (this.restartTimer) { clearTimeout(this.restartTimer); this.restartTimer = null; }
    // close() gave up: what a writer would commit has been refused, so none is started.
    if (this.abandoned) return this.restarting ?? Promise.resolve();
    this.restarting ??= (async () => {
      const abort = new AbortController();
      this.restartAbort = abort;
      try {
        const { link, state } = await WorkerLink.start(this.workerInit(), this.handlers(++this.generation), { signal: abort.signal });
        // close() stopped waiting meanwhile: what this writer would commit has been refused.
        if (this.abandoned) { await link.terminate(); return; }
        this.adopt(link, state);
      } catch (err) {
        const e = err instanceof LedgerError ? err : new LedgerError('LEDGER_UNAVAILABLE', (err as Error).message);
        // Stopped by close() giving up (abandonWriting), which has reported what it refused.
        if (this.abandoned) return;
        if (e.code === 'LEDGER_INCONSISTENT' || this.closed) this.fail(e);
        else {
          this.opts.onError?.(e);
          queueMicrotask(() => this.scheduleRestart());
        }
      } finally {
        this.restarting = null;
        this.restartAbort = null;
      }
    })();
    return this.restarting;
  }

  /** Stop writing for good: refuse everything waiting and everything to come with `err`. */
  private fail(err: LedgerError): void {
    this.failure = err;
    this.opts.onError?.(err);
    for (const p of [...this.inflight.drain(), ...this.outbox.drain()]) p.reject(err);
    this.settled();
  }

  private oldestUnsettled(): number {
    return this.inflight.peek()?.seq ?? this.outbox.peek()?.seq ?? Infinity;
  }

  private settled(): void {
    this.markBusy();
    if (this.flushWaiters.length === 0) return;
    const oldest = this.oldestUnsettled();
    const still: typeof this.flushWaiters = [];
    for (const w of this.flushWaiters) (oldest > w.target ? w.resolve() : still.push(w));
    this.flushWaiters = still;
  }

  /** Wait until every entry accepted so far is committed (or refused). */
  flush(): Promise<void> {
    const target = this.nextSeq - 1;
    if (this.oldestUnsettled() > target) return Promise.resolve();
    return new Promise<void>((resolve) => this.flushWaiters.push({ target, resolve }));
  }

  private writer(): WriterLink {
    if (this.failure) throw this.failure;
    if (!this.link) throw new LedgerError('LEDGER_UNAVAILABLE', 'the ledger writer is restarting; try again');
    return this.link;
  }

  /** Commit what is queued and sign a checkpoint of the durable tree now. */
  async checkpoint(): Promise<SignedCheckpoint> {
    if (this.closed) throw new LedgerError('LEDGER_CLOSED', 'ledger is closed');
    await this.flush();
    const cp = await this.writer().checkpoint();
    this.onCheckpointSigned(cp);
    return cp;
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
      // The newest witnessed checkpoint when it covers the entry (its note carries the cosignatures).
      const w = this.witnessed && this.witnessed.size > row.index ? this.witnessed : null;
      cp = w ?? (this.latest && this.latest.size > row.index ? this.latest : await this.checkpoint());
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

  /** Consistency proof between two tree sizes (old <= new <= the log's size), with their checkpoints if signed. */
  async proveConsistency(oldSize: number, newSize: number): Promise<ConsistencyBundle> {
    if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(newSize) || oldSize < 0 || oldSize > newSize) {
      throw new LedgerError('LEDGER_BAD_REQUEST', 'need 0 <= old <= new');
    }
    const size = await this.servableSize(newSize);
    if (newSize > size) throw new LedgerError('LEDGER_BAD_REQUEST', `new size ${newSize} is beyond the log size ${size}`);
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

  /**
   * How far this node can answer for the log when asked up to `wanted`: its writer's durable size,
   * or on a log other nodes append to (PostgreSQL), the stored size when `wanted` is beyond what
   * this node has seen yet (an idle node follows the others only once per checkpoint interval, and
   * a size another node just signed is asked of any node).
   */
  private async servableSize(wanted: number): Promise<number> {
    if (wanted <= this.durableSize || typeof this.storage.appendLocked !== 'function') return this.durableSize;
    return Math.max(this.durableSize, await this.storage.size());
  }

  /** Entries [start, end) as stored (leaf text and hash), at most `limit`. */
  async entriesRange(start: number, end: number, limit = 1000): Promise<{ index: number; id: string; leaf: string; leaf_hash: string }[]> {
    const rows = await this.storage.entries(start, Math.min(end, await this.servableSize(end)), Math.min(limit, 10_000));
    return rows.map((r) => ({ index: r.index, id: r.id, leaf: new TextDecoder().decode(r.leaf), leaf_hash: b64(hashLeaf(r.leaf)) }));
  }

  /**
   * Erase the personal data (raw values and salts) of matching entries, e.g. one account's on a
   * deletion request. Leaves, nodes, proofs and checkpoints are unchanged and still verify.
   * Runs in the writer (the one connection that writes), after entries accepted before it.
   */
  async erase(filter: EraseFilter): Promise<{ erased: number }> {
    if (this.closed) throw new LedgerError('LEDGER_CLOSED', 'ledger is closed');
    filter = checkEraseFilter(filter);
    await this.flush();
    return { erased: await this.writer().erase(filter) };
  }

  /**
   * Simulate a writer crash (tests of the restart path): 'exit' stops the writer thread now,
   * 'exit-mid-commit' inside an open write transaction, 'exit-after-commit' after its next
   * commit is durable but before it is acknowledged.
   */
  injectWriterFault(mode: WriterFault): void {
    const link = this.writer();
    if (!link.fault) throw new Error('fault injection needs the worker writer');
    link.fault(mode);
  }

  /**
   * Stop accepting appends, commit what is queued, sign a final checkpoint, close storage. A
   * storage that does not answer within `closeTimeoutMs` is given up on: the writer is stopped
   * (its connections cut), entries it had not acknowledged are refused (LEDGER_CLOSED: the append
   * promises reject, fire-and-forget ones count in `stats.dropped`), and the count is reported
   * through onError and returned. Entries that were with the writer may have been committed all
   * the same (the log takes them up when it is next opened; nobody was given their receipt).
   */
  close(): Promise<LedgerCloseReport> {
    this.closing ??= (async () => {
      this.closed = true;
      // The region fill stops after its chunk under way (the next start goes on).
      this.regionFillStop.abort();
      if (this.regionFilling) {
        // Its chunk under way ends within moments; a storage that stopped answering is not waited for.
        let timer: NodeJS.Timeout | undefined;
        const stopped = await Promise.race([this.regionFilling.then(() => true), new Promise<boolean>((r) => { timer = setTimeout(() => r(false), 5_000); })]);
        clearTimeout(timer);
        if (!stopped) await this.regionFillWorker?.terminate();
      }
      // Checkpoints not witnessed yet are sent again by the next start (it sends the latest).
      await this.witnessClient?.stop();
      const finished = this.finishWriting();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        finished.then(() => false),
        new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), this.opts.closeTimeoutMs); }),
      ]);
      clearTimeout(timer);
      const report = timedOut ? await this.abandonWriting() : { lost: 0, unsettled: 0 };
      // The inline writer has closed this same storage already (closing it again does nothing).
      await this.storage.close();
      return report;
    })();
    return this.closing;
  }

  /** Commit what was accepted and close the writer, with its final checkpoint. */
  private async finishWriting(): Promise<void> {
    // A writer waiting to be restarted is restarted now: what was accepted gets committed.
    if (!this.link && !this.failure) await this.restart();
    await this.flush();
    const link = this.link;
    this.link = null;
    this.closingLink = link;
    this.generation++;
    if (!link) return;
    try {
      const cp = await link.close();
      if (cp) this.onCheckpointSigned(cp);
    } catch (err) {
      // Once close() gave up, the writer failing is its being stopped: already reported.
      if (!this.abandoned) this.opts.onError?.(err);
      await link.terminate();
    }
  }

  /** close() waited long enough: stop the writer, refuse what it has not acknowledged, report it. */
  private async abandonWriting(): Promise<LedgerCloseReport> {
    this.abandoned = true;
    this.generation++;
    const link = this.link ?? this.closingLink;
    this.link = null;
    if (this.restartTimer) { clearTimeout(this.restartTimer); this.restartTimer = null; }
    const lost = this.outbox.drain();
    const unsettled = this.inflight.drain();
    const report = { lost: lost.length, unsettled: unsettled.length };
    const waited = `the ledger's storage did not answer within ${this.opts.closeTimeoutMs} ms while closing`;
    if (report.lost + report.unsettled > 0) {
      this.opts.onError?.(new LedgerError('LEDGER_CLOSED', `${waited}: ${report.lost} entries not recorded; ${report.unsettled} were being written, whether they are recorded is not known`));
    } else {
      this.opts.onError?.(new LedgerError('LEDGER_CLOSED', `${waited}: every entry was recorded; the final checkpoint may not have been signed`));
    }
    for (const p of lost) p.reject(new LedgerError('LEDGER_CLOSED', `entry ${p.id} not recorded: ${waited}`));
    for (const p of unsettled) p.reject(new LedgerError('LEDGER_CLOSED', `entry ${p.id} was being written when ${waited}; whether it is recorded is not known`));
    this.settled();
    // A writer being restarted (against the storage that does not answer) is stopped too, not
    // left to outlive close() until its connect or open times out.
    this.restartAbort?.abort();
    await Promise.all([link?.terminate(), this.restarting]);
    return report;
  }
}

export { EMPTY_ROOT };
