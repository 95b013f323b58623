/**
 * The document reader: PDFs read in background threads, bounded every way a hostile document or a
 * flood of them could push, so that reading never slows or endangers the gateway.
 *
 * - Threads (`threads`, default 1) start on the first PDF (a gateway that never sees one pays
 *   nothing), run at background priority, and read one document at a time.
 * - Each document gets `timeoutMs` of reading; past it, its thread is terminated (pdf.js cannot be
 *   interrupted otherwise) and the next document starts a fresh one.
 * - Each thread's heap is capped (`memoryMb`): a decompression bomb kills the thread, not the process.
 * - At most `maxQueue` documents wait, holding at most `maxQueueBytes` (a waiting document keeps
 *   its bytes after its request has ended), at most `maxPendingPerOwner` of them one account's,
 *   and none longer than `maxWaitMs`: past any of these a document is not read (`busy`), so one
 *   account's flood cannot keep other accounts' documents unread, nor hold their events back long.
 * - `read()` never rejects: every outcome is a result the caller records.
 *
 * Protocol types are shared with the entry point, pdf-worker.ts.
 */
import type { Worker } from 'node:worker_threads';
import { resolveWorkerEntry, startWorker, type WorkerEntry } from '../store/worker-entry.ts';

/** What became of one document. */
export type DocumentResult =
  /** Its text is in `text`. */
  | 'read'
  /** Too many documents waiting (in all, or of this account), or it waited too long. */
  | 'busy'
  /** Reading took longer than `timeoutMs`; abandoned. */
  | 'timeout'
  /** pdf.js could not parse it, or its thread died (heap limit). */
  | 'failed'
  /** Its bytes are not a PDF. */
  | 'not_pdf'
  /** Larger than `maxBytes`. */
  | 'too_large'
  /** pdf.js cannot run on this Node.js (it needs 20.19 or later). */
  | 'unavailable';

export interface DocumentReading {
  result: DocumentResult;
  /** The text read ('' unless `read`), at most `maxChars`. */
  text: string;
  /** Pages in the document, and how many were read (0 unless `read`). */
  pages: number;
  pagesRead: number;
  /** From `read()` to the answer, ms (waiting included). */
  ms: number;
  /** Answered from the cache of documents seen before. */
  cached: boolean;
  /** Why it failed, for logs (pdf.js's message). */
  error?: string;
}

export interface DocumentReaderOptions {
  threads: number;
  maxQueue: number;
  /** Bytes (base64) of the documents waiting, at most. */
  maxQueueBytes: number;
  maxPendingPerOwner: number;
  maxWaitMs: number;
  timeoutMs: number;
  memoryMb: number;
  /** Largest document read, bytes (decoded). */
  maxBytes: number;
  maxPages: number;
  maxChars: number;
  /** Documents whose text each thread keeps, by content hash (0: none). */
  cacheEntries: number;
  /** Called once per document with its outcome (metrics, logs). */
  onResult?: (r: DocumentReading) => void;
  /** How to start a thread (tests); default: pdf-worker.ts/.js beside this module. */
  entry?: WorkerEntry;
}

export const DEFAULT_DOCUMENT_READER: Omit<DocumentReaderOptions, 'onResult' | 'entry'> = {
  threads: 1, maxQueue: 256, maxQueueBytes: 256 * 1024 * 1024, maxPendingPerOwner: 16, maxWaitMs: 10_000, timeoutMs: 2_000, memoryMb: 256,
  maxBytes: 32 * 1024 * 1024, maxPages: 50, maxChars: 64 * 1024, cacheEntries: 128,
};

/** What a thread needs (plain data: it crosses the thread boundary). */
export interface DocumentThreadInit { maxPages: number; maxChars: number; cacheEntries: number }
export interface ToDocumentThread { id: number; data: string }
export type FromDocumentThread =
  /** pdf.js is loaded: documents may come (their time starts now, not while the thread starts). */
  | { type: 'ready' }
  | { type: 'unavailable'; error: string }
  | { type: 'done'; id: number; result: 'read'; text: string; pages: number; pagesRead: number; cached: boolean }
  | { type: 'done'; id: number; result: 'not_pdf' | 'failed'; error?: string };

/** pdf.js's own modules, loaded before the thread's TypeScript loader when run from source (see worker-entry.ts). */
const PDFJS_MODULES = ['pdfjs-dist/legacy/build/pdf.mjs', 'pdfjs-dist/legacy/build/pdf.worker.mjs'];
/** How long a new thread may take to load pdf.js before it is given up on. */
const THREAD_START_MS = 30_000;

interface Job {
  id: number;
  data: string;
  owner: string;
  queuedAt: number;
  resolve: (r: DocumentReading) => void;
}

interface Slot {
  worker: Worker | null;
  /** The thread has loaded pdf.js. */
  ready: boolean;
  job: Job | null;
  timer: NodeJS.Timeout | null;
}

/** Decoded size of a base64 string, without decoding it. */
export function base64Bytes(data: string): number {
  let pad = 0;
  if (data.endsWith('==')) pad = 2;
  else if (data.endsWith('=')) pad = 1;
  return Math.floor((data.length * 3) / 4) - pad;
}

export class DocumentReader {
  private readonly opts: DocumentReaderOptions;
  private readonly entry: WorkerEntry;
  private readonly slots: Slot[];
  private readonly queue: Job[] = [];
  private readonly perOwner = new Map<string, number>();
  private queuedBytes = 0;
  private nextId = 1;
  private unavailable: string | null = null;
  private closed = false;
  /** Threads started so far (restarts after timeouts and deaths included). */
  threadsStarted = 0;

  constructor(opts: Partial<DocumentReaderOptions> = {}) {
    this.opts = { ...DEFAULT_DOCUMENT_READER, ...opts };
    this.entry = opts.entry ?? resolveWorkerEntry(import.meta.url, 'pdf-worker', { preload: PDFJS_MODULES });
    this.slots = Array.from({ length: Math.max(1, this.opts.threads) }, () => ({ worker: null, ready: false, job: null, timer: null }));
  }

  /** Documents waiting or being read. */
  get pending(): number {
    return this.queue.length + this.slots.filter((s) => s.job).length;
  }

  /** Read the PDF whose bytes `data` holds (base64), on behalf of `owner` (an account). Never rejects. */
  read(data: string, owner: string): Promise<DocumentReading> {
    const started = Date.now();
    const now = (result: DocumentResult, error?: string): Promise<DocumentReading> =>
      Promise.resolve(this.done({ result, text: '', pages: 0, pagesRead: 0, ms: 0, cached: false, error }));
    if (this.closed) return now('busy', 'reader closed');
    if (this.unavailable !== null) return now('unavailable', this.unavailable);
    if (base64Bytes(data) > this.opts.maxBytes) return now('too_large');
    const mine = this.perOwner.get(owner) ?? 0;
    if (this.queue.length >= this.opts.maxQueue || mine >= this.opts.maxPendingPerOwner) return now('busy');
    if (this.queuedBytes + data.length > this.opts.maxQueueBytes && this.pending > 0) return now('busy');
    this.perOwner.set(owner, mine + 1);
    this.queuedBytes += data.length;
    return new Promise((resolve) => {
      this.queue.push({
        id: this.nextId++, data, owner, queuedAt: started,
        resolve: (r) => {
          this.queuedBytes -= data.length;
          const left = (this.perOwner.get(owner) ?? 1) - 1;
          if (left > 0) this.perOwner.set(owner, left); else this.perOwner.delete(owner);
          r.ms = Date.now() - started;
          resolve(this.done(r));
        },
      });
      this.dispatch();
    });
  }

  private done(r: DocumentReading): DocumentReading {
    try { this.opts.onResult?.(r); } catch { /* a metrics callback never fails a read */ }
    return r;
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.job) continue;
      let job: Job | undefined;
      while ((job = this.queue.shift())) {
        if (this.unavailable !== null) { job.resolve(empty('unavailable', this.unavailable)); continue; }
        if (Date.now() - job.queuedAt > this.opts.maxWaitMs) { job.resolve(empty('busy', 'waited too long')); continue; }
        break;
      }
      if (!job) { slot.worker?.unref(); continue; }
      this.run(slot, job);
    }
  }

  private run(slot: Slot, job: Job): void {
    slot.job = job;
    if (!slot.worker) this.start(slot);
    const worker = slot.worker!;
    worker.ref();
    if (slot.ready) this.post(slot, worker, job);
  }

  /** Hand `job` to the ready thread, with its time limit. */
  private post(slot: Slot, worker: Worker, job: Job): void {
    slot.timer = setTimeout(() => {
      // pdf.js cannot be interrupted: the thread goes, the next document starts a new one.
      this.drop(slot, worker, empty('timeout', `not read within ${this.opts.timeoutMs} ms`));
    }, this.opts.timeoutMs);
    worker.postMessage({ id: job.id, data: job.data } satisfies ToDocumentThread);
  }

  /** Terminate `worker` and answer its document with `r`. */
  private drop(slot: Slot, worker: Worker, r: DocumentReading): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.ready = false;
    this.settle(slot, r);
    void worker.terminate();
    this.dispatch();
  }

  private start(slot: Slot): void {
    const init: DocumentThreadInit = { maxPages: this.opts.maxPages, maxChars: this.opts.maxChars, cacheEntries: this.opts.cacheEntries };
    const worker = startWorker(this.entry, {
      workerData: init,
      resourceLimits: { maxOldGenerationSizeMb: this.opts.memoryMb, maxYoungGenerationSizeMb: Math.min(32, Math.max(4, this.opts.memoryMb >> 3)) },
    });
    this.threadsStarted++;
    slot.worker = worker;
    slot.ready = false;
    slot.timer = setTimeout(() => this.drop(slot, worker, empty('failed', `the document thread did not start within ${THREAD_START_MS} ms`)), THREAD_START_MS);
    worker.on('message', (m: FromDocumentThread) => {
      if (slot.worker !== worker) return;
      if (m.type === 'ready') {
        slot.ready = true;
        if (slot.timer) clearTimeout(slot.timer);
        slot.timer = null;
        if (slot.job) this.post(slot, worker, slot.job);
        return;
      }
      if (m.type === 'unavailable') {
        this.unavailable = m.error;
        this.drop(slot, worker, empty('unavailable', m.error));
        return;
      }
      if (!slot.job || slot.job.id !== m.id) return;
      if (m.result === 'read') {
        this.settle(slot, { result: 'read', text: m.text, pages: m.pages, pagesRead: m.pagesRead, ms: 0, cached: m.cached });
      } else {
        this.settle(slot, empty(m.result, m.error));
      }
      this.dispatch();
    });
    const died = (err: Error | null) => {
      if (slot.worker !== worker) return;
      const code = (err as { code?: string } | null)?.code;
      this.drop(slot, worker, empty('failed', code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'the document thread ran out of memory' : err?.message ?? 'the document thread stopped'));
    };
    worker.on('error', died);
    worker.on('exit', () => died(null));
  }

  private settle(slot: Slot, r: DocumentReading): void {
    const job = slot.job;
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    slot.job = null;
    job?.resolve(r);
  }

  /** Stop the threads; documents waiting or being read are answered `busy`. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.resolve(empty('busy', 'reader closed'));
    const exits: Promise<unknown>[] = [];
    for (const slot of this.slots) {
      this.settle(slot, empty('busy', 'reader closed'));
      const w = slot.worker;
      slot.worker = null;
      slot.ready = false;
      if (w) exits.push(w.terminate());
    }
    await Promise.all(exits);
  }
}

function empty(result: DocumentResult, error?: string): DocumentReading {
  return { result, text: '', pages: 0, pagesRead: 0, ms: 0, cached: false, ...(error ? { error } : {}) };
}
