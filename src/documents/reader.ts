/**
 * The document reader: PDFs and images read in background threads, bounded every way a hostile document or a
 * flood of them could push, so that reading never slows or endangers the gateway.
 *
 * - Threads (`threads`, default 1) start on the first PDF (a gateway that never sees one pays
 *   nothing), run at background priority, and read one document at a time. A PDF crosses to its
 *   thread as bytes in a transferred buffer (decoded from base64 once, never copied again).
 * - Each document gets `timeoutMs` of reading; past it, its thread is terminated (pdf.js cannot be
 *   interrupted otherwise) and the next document starts a fresh one.
 * - Memory: each thread's heap is capped at `memoryMb`, and while a document is read the
 *   process's resident memory may not grow by more than `memoryMb` (pdf.js keeps decoded streams
 *   in buffers outside the heap, which the heap cap does not see): a decompression bomb ends its
 *   thread, not the process.
 * - Fair turns: each group's documents (a group is an account, or what the caller says stands
 *   for one actor: an organisation, a linked cluster) wait in a line of their own, and the
 *   threads take one from each group in turn (the one that had a turn least recently first), so
 *   one group's flood delays another's document by at most the one being read. Groups are in
 *   lanes (the gateway: trusted tiers, the rest): lanes with documents waiting take turns too, so
 *   a fleet of many new accounts, a group each, gets half the reader, not all of it.
 * - In all, at most `maxQueue` documents wait, holding at most `maxQueueBytes`, and none longer
 *   than `maxWaitMs`: past any of these a document is not read (`busy`). When the queue is full,
 *   a document of a shorter line pushes out the newest of the longest line: a flood fills the
 *   queue with its own documents, not with everyone's refusals.
 * - The documents of one request count as one of the account's `maxPendingPerOwner` requests; at
 *   most `maxPerRequest` of a request's are read.
 * - A document given up on for what it is (too slow to read, or its thread died on it: out of
 *   its heap) is remembered by its content's hash for ten minutes: sent again (a conversation
 *   resends its documents every turn, a fleet its PDF from every account) it is answered as
 *   before without being read again, not given another thread's time. (Not one stopped by the
 *   memory watch, which measures the whole process, nor one too slow to recognise.)
 * - `read()` and `readAll()` never reject: every outcome is a result the caller records.
 *
 * Protocol types are shared with the entry point, document-thread.ts.
 */
import type { Worker } from 'node:worker_threads';
import { resolveWorkerEntry, startWorker, type WorkerEntry } from '../store/worker-entry.ts';
import { missingOcrModels, OCR_LANGUAGES, type OcrLanguage } from './ocr.ts';

/** What became of one document. */
export type DocumentResult =
  /** Its text is in `text`. */
  | 'read'
  /** Too many documents waiting (in all, or of this account), or it waited too long. */
  | 'busy'
  /** Past the first `maxPerRequest` documents of its request. */
  | 'too_many'
  /** Reading took longer than `timeoutMs`; abandoned. */
  | 'timeout'
  /** pdf.js could not parse it, or its thread died (heap limit). */
  | 'failed'
  /** Its bytes are not a PDF. */
  | 'not_pdf'
  /** Its bytes are not an image in a format clients may send (PNG, JPEG, GIF, WebP). */
  | 'not_image'
  /** Larger than `maxBytes`, or an image of more than `ocr.maxImagePixels`. */
  | 'too_large'
  /** pdf.js cannot run on this Node.js (it needs 20.19 or later). */
  | 'unavailable';

export interface DocumentReading {
  result: DocumentResult;
  kind: DocumentKind;
  /** The text read, at most `maxChars`: all of it if `read`, the pages read before a `timeout` or `failed`. */
  text: string;
  /** Pages in the document, and how many were read (0 unless `read`; an image is one page). */
  pages: number;
  pagesRead: number;
  /** Images whose text was recognised: the image itself, or a scanned PDF's page images. */
  imagesRecognised: number;
  /**
   * Images of a PDF's scanned pages (pages with next to no text of their own) not recognised:
   * past `ocr.perPdf`, or with recognition unavailable. A `read` with some is not read to its end.
   */
  imagesSkipped: number;
  /** From `read()` to the answer, ms (waiting included). */
  ms: number;
  /** Answered from the cache of documents seen before. */
  cached: boolean;
  /** Why it failed, for logs (pdf.js's message). */
  error?: string;
  /**
   * Not read because of the document itself: a PDF too slow or too large to parse, a bomb,
   * unparseable, an image too large to decode. Not for the reader's own limits (full, waited
   * too long, closed, unavailable, past `maxPerRequest`: the gateway hands a request's newest
   * documents first, so those are a conversation's old ones), nor an image too slow to recognise
   * (a photo of a page can be). The detector counts these: a prompt can be hidden this way.
   * Also a PDF that is `read` but whose text layer does not read as language (a font remapped
   * to a cipher, control characters, glyphs drawn with no text: text-layer.ts); `error` says why.
   */
  unreadable: boolean;
}

export interface DocumentReaderOptions {
  threads: number;
  maxQueue: number;
  /** Bytes (base64) of the documents waiting, at most. */
  maxQueueBytes: number;
  /** Requests of one owner whose documents wait or are read, at most. */
  maxPendingPerOwner: number;
  /** Documents of one request read, at most (the rest: `too_many`). */
  maxPerRequest: number;
  maxWaitMs: number;
  timeoutMs: number;
  memoryMb: number;
  /** Largest document read, bytes (decoded). */
  maxBytes: number;
  maxPages: number;
  maxChars: number;
  /** Documents whose text each thread keeps, by content hash (0: none). */
  cacheEntries: number;
  /** Reading the text of images (OCR), or null: images are not read, scanned PDF pages read as empty. */
  ocr: OcrLimits | null;
  /** Called once per document with its outcome (metrics, logs). */
  onResult?: (r: DocumentReading) => void;
  /** How to start a thread (tests); default: document-thread.ts/.js beside this module. */
  entry?: WorkerEntry;
}

export interface OcrLimits {
  /** Each image's recognition gets this long (on top of `timeoutMs` for the document), ms. */
  timeoutMs: number;
  /** Images with more pixels are not decoded at all (`too_large`). */
  maxImagePixels: number;
  /** Images recognised per PDF, on its pages with no text (scans) and, with `pictures`, pictures on its other pages. */
  perPdf: number;
  /** Recognise pictures on PDF pages that have text of their own too (within `perPdf`). */
  pictures: boolean;
  /** Languages recognised (their models are tried in this order; each one more costs time). */
  languages: readonly OcrLanguage[];
  /** A folder of Tesseract models for languages not installed as npm packages (see missingOcrModels), or null. */
  modelsDir: string | null;
}

export const DEFAULT_OCR: OcrLimits = { timeoutMs: 10_000, maxImagePixels: 25_000_000, perPdf: 2, pictures: false, languages: OCR_LANGUAGES, modelsDir: null };

export const DEFAULT_DOCUMENT_READER: Omit<DocumentReaderOptions, 'onResult' | 'entry'> = {
  threads: 1, maxQueue: 256, maxQueueBytes: 256 * 1024 * 1024, maxPendingPerOwner: 16, maxPerRequest: 32, maxWaitMs: 10_000, timeoutMs: 2_000, memoryMb: 256,
  maxBytes: 32 * 1024 * 1024, maxPages: 50, maxChars: 64 * 1024, cacheEntries: 128, ocr: DEFAULT_OCR,
};

/** What a document is: a PDF, or an image (PNG, JPEG, GIF, WebP) whose text is recognised. */
export type DocumentKind = 'pdf' | 'image';
/** A document to read: its bytes (base64) and kind. */
export interface DocumentInput { data: string; kind: DocumentKind }
/** Whose turn a request's documents wait for: their group's line (default: the account's own), in a lane (default 0). */
export interface DocumentTurn { group?: string; lane?: number }

/**
 * How a document given up on was answered, to answer it so again (by its content's hash), until
 * `until` (ms since the epoch). The threads keep this; the reader keeps the text read before too.
 */
export interface GivenUp { result: 'timeout' | 'failed'; error?: string; unreadable: boolean; until: number }

/** What a thread needs (plain data: it crosses the thread boundary). */
export interface DocumentThreadInit { maxPages: number; maxChars: number; cacheEntries: number; ocr: Omit<OcrLimits, 'timeoutMs'> | null; givenUp: [string, GivenUp][] }
export type ToDocumentThread =
  | { id: number; bytes: Uint8Array; kind: DocumentKind }
  /** A document given up on (its thread may have been another): answer it so from now on. */
  | { id: 0; givenUp: [string, GivenUp] }
  /** A document no longer given up on (forgotten, or read after all). */
  | { id: 0; forget: string };
export type FromDocumentThread =
  /** pdf.js is loaded: documents may come (their time starts now, not while the thread starts). */
  | { type: 'ready' }
  | { type: 'unavailable'; error: string }
  /** The text of one more page of document `id` (kept if its reading is then given up). */
  | { type: 'page'; id: number; text: string }
  /** Document `id`'s content hash, before it is read: remembered if its reading is given up. */
  | { type: 'key'; id: number; key: string }
  /** Document `id` (content hash `key`) was given up on before: answered as then. */
  | { type: 'given-up'; id: number; key: string; answer: GivenUp }
  /**
   * An image of document `id` is about to be recognised (Tesseract loaded first, if need be): it
   * gets `ocr.timeoutMs`, the document's own time limit stopped meanwhile.
   */
  | { type: 'ocr'; id: number }
  /** The recognition has ended: the document's own time limit runs on with what it had left. */
  | { type: 'ocr-done'; id: number }
  | { type: 'done'; id: number; result: 'read'; text: string; pages: number; pagesRead: number; imagesRecognised: number; imagesSkipped: number; unreadableText: string | null; cached: boolean }
  | { type: 'done'; id: number; result: 'not_pdf' | 'not_image' | 'too_large' | 'failed' | 'unavailable'; error?: string };

/** pdf.js's own modules, loaded before the thread's TypeScript loader when run from source (see worker-entry.ts). */
const PDFJS_MODULES = ['pdfjs-dist/legacy/build/pdf.mjs', 'pdfjs-dist/legacy/build/pdf.worker.mjs'];
/** How long a new thread may take to load pdf.js before it is given up on. */
const THREAD_START_MS = 30_000;

interface Job {
  id: number;
  bytes: Uint8Array;
  kind: DocumentKind;
  /** Recognitions this document may still be given time for. */
  ocrLeft: number;
  /** The line it waits in (its group). */
  owner: string;
  lane: number;
  /** Bytes (decoded). */
  size: number;
  queuedAt: number;
  expiry: NodeJS.Timeout | null;
  resolve: (r: DocumentReading) => void;
}

interface Slot {
  worker: Worker | null;
  /** The thread has loaded pdf.js. */
  ready: boolean;
  job: Job | null;
  timer: NodeJS.Timeout | null;
  /** Text of the pages of the current document read so far. */
  partial: string;
  /** The process's resident memory when the document began (the memory watch measures growth from it; -1: not yet read). */
  rssAtStart: number;
  /** An image of the document is being recognised (its own time limit stopped; a failure then is not the document's doing). */
  inOcr: boolean;
  /** The document's content hash (from its thread), null until it is known. */
  key: string | null;
  /** When the document's own time limit ends (while not recognising), and what is left of it while recognising, ms. */
  deadline: number;
  remainingMs: number;
}

/** Decoded size of a base64 string, without decoding it. */
export function base64Bytes(data: string): number {
  let pad = 0;
  if (data.endsWith('==')) pad = 2;
  else if (data.endsWith('=')) pad = 1;
  return Math.floor((data.length * 3) / 4) - pad;
}

const NO_BYTES = new Uint8Array(0);
/** Base64 decoded at once up to this many characters; a longer one a slice of this at a time (a multiple of 4). */
const DECODE_SLICE_CHARS = 1 << 20;

/**
 * Decode base64 into a buffer of its own, so that it can be transferred to the thread, not
 * copied. Buffer.from is the fast decoder (writing into a buffer made beforehand is many times
 * slower); a small result comes from Node's shared pool, and is copied out of it.
 */
function decodeOwn(data: string): Uint8Array {
  const decoded = Buffer.from(data, 'base64');
  return decoded.byteOffset === 0 && decoded.buffer.byteLength === decoded.length ? decoded : new Uint8Array(decoded);
}

/** Slices of base64 decode alone only if no whitespace moves the 4-character groups (MIME's line breaks do). */
function sliceable(data: string): boolean {
  return data.indexOf('\n') < 0 && data.indexOf('\r') < 0 && data.indexOf(' ') < 0 && data.indexOf('\t') < 0;
}

/**
 * Decode a large base64 string a slice at a time, yielding between slices: 24 MB at once blocks
 * the event loop for 170 ms on Node 20 (measured), in 1 MB slices no step takes more than a few
 * ms (and the total is less).
 */
export async function decodeInSlices(data: string, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let at = 0;
  for (let from = 0; from < data.length; from += DECODE_SLICE_CHARS) {
    const part = Buffer.from(data.slice(from, from + DECODE_SLICE_CHARS), 'base64');
    out.set(part, at);
    at += part.length;
    await new Promise((r) => setImmediate(r));
  }
  return at === size ? out : out.subarray(0, at);
}

/** How often the memory watch looks while documents are read, ms. */
const MEMORY_WATCH_MS = 20;

export class DocumentReader {
  private readonly opts: DocumentReaderOptions;
  private readonly entry: WorkerEntry;
  private readonly slots: Slot[];
  /** Documents waiting, one line per group, with when the group last had a turn. */
  private readonly lines = new Map<string, { jobs: Job[]; lastTurn: number; lane: number }>();
  /** When each lane last had a turn. */
  private readonly laneTurns = new Map<number, number>();
  private turns = 0;
  private queued = 0;
  /** Large documents being decoded, counted in `queued`, not yet in a line. */
  private readonly decoding = new Set<Job>();
  /** Bytes of the documents waiting or being read. */
  private heldBytes = 0;
  private readonly perOwner = new Map<string, number>();
  private nextId = 1;
  private unavailable: string | null = null;
  private closed = false;
  private dispatching = false;
  private dispatchAgain = false;
  private memoryWatch: NodeJS.Timeout | null = null;
  /** Documents given up on, by content hash, with what was read of them, oldest first (at most GIVEN_UP_ENTRIES). */
  private readonly givenUp = new Map<string, GivenUp & { text: string }>();
  /** Threads started so far (restarts after timeouts and deaths included). */
  threadsStarted = 0;

  /** Throws when a language of `ocr.languages` has no model (a configuration error, said at start rather than by every image). */
  constructor(opts: Partial<DocumentReaderOptions> = {}) {
    this.opts = { ...DEFAULT_DOCUMENT_READER, ...opts };
    const ocr = this.opts.ocr;
    const missing = ocr ? missingOcrModels({ languages: ocr.languages, dir: ocr.modelsDir }) : [];
    if (missing.length) throw new Error(`documents.ocr_languages: ${missing.join('; ')}`);
    this.entry = opts.entry ?? resolveWorkerEntry(import.meta.url, 'document-thread', { preload: PDFJS_MODULES });
    this.slots = Array.from({ length: Math.max(1, this.opts.threads) }, () => ({ worker: null, ready: false, job: null, timer: null, partial: '', rssAtStart: -1, inOcr: false, key: null, deadline: 0, remainingMs: 0 }));
  }

  /** Documents waiting or being read. */
  get pending(): number {
    return this.queued + this.slots.filter((s) => s.job).length;
  }

  /** Read the document whose bytes `data` holds (base64), on behalf of `owner` (an account). Never rejects. */
  async read(data: string, owner: string, kind: DocumentKind = 'pdf', turn: DocumentTurn = {}): Promise<DocumentReading> {
    return (await this.readAll([{ data, kind }], owner, turn))[0];
  }

  /**
   * Read the documents of one request on behalf of `owner` (an account), waiting in `turn`'s
   * line. Never rejects; one result per document, in the order given.
   */
  readAll(docs: readonly DocumentInput[], owner: string, turn: DocumentTurn = {}): Promise<DocumentReading[]> {
    const lane = turn.lane ?? 0;
    // One line per group and lane: an organisation's accounts of different tiers wait in both.
    const group = `${lane}\u0000${turn.group ?? owner}`;
    const started = Date.now();
    const out: Promise<DocumentReading>[] = [];
    const now = (kind: DocumentKind, result: DocumentResult, error?: string): Promise<DocumentReading> => Promise.resolve(this.done(empty(result, error), kind));
    const mine = this.perOwner.get(owner) ?? 0;
    const refused = this.closed ? 'reader closed' : mine >= this.opts.maxPendingPerOwner ? 'too many of this account\'s requests waiting' : null;
    let taken = 0;
    for (const { data, kind } of docs) {
      if (refused !== null) { out.push(now(kind, 'busy', refused)); continue; }
      if (this.unavailable !== null) { out.push(now(kind, 'unavailable', this.unavailable)); continue; }
      if (kind === 'image' && !this.opts.ocr) { out.push(now(kind, 'unavailable', 'images are not read (no OCR configured)')); continue; }
      if (taken >= this.opts.maxPerRequest) { out.push(now(kind, 'too_many', `only ${this.opts.maxPerRequest} documents of a request are read`)); continue; }
      const size = base64Bytes(data);
      if (size > this.opts.maxBytes) { out.push(now(kind, 'too_large')); continue; }
      if (!this.makeRoom(group, lane, size)) { out.push(now(kind, 'busy', 'the reader is full')); continue; }
      taken++;
      out.push(this.enqueue(data, kind, size, group, lane, started));
    }
    if (taken === 0) return Promise.all(out);
    this.perOwner.set(owner, mine + 1);
    const all = Promise.all(out);
    void all.then(() => {
      const left = (this.perOwner.get(owner) ?? 1) - 1;
      if (left > 0) this.perOwner.set(owner, left); else this.perOwner.delete(owner);
    });
    this.dispatch();
    return all;
  }

  private full(size: number): boolean {
    return this.queued >= this.opts.maxQueue || (this.heldBytes + size > this.opts.maxQueueBytes && this.pending > 0);
  }

  /**
   * Room in the queue for a document of `group` in `lane`: there is, or documents are pushed out
   * (`busy`) to make it, the newest of the longest line first, from the least trusted lane with
   * documents waiting (any line of a lane after `lane`; in `lane` itself, only a line longer than
   * `group`'s own by two or more). Nothing is pushed out unless that makes room. False if there is
   * no room for it.
   */
  private makeRoom(group: string, lane: number, size: number): boolean {
    if (!this.full(size)) return true;
    const mine = this.lines.get(group)?.jobs.length ?? 0;
    // A group pushes a less trusted lane's documents out only while it holds less than half the
    // queue: one trusted account cannot clear the other lane.
    const crossLane = this.opts.maxQueue / 2;
    // What may go, in the order it would: copies of the lines' lengths, taken down one by one.
    const lines = [...this.lines.entries()]
      .filter(([g, l]) => g !== group && l.jobs.length > 0 && ((l.lane > lane && mine < crossLane) || (l.lane === lane && l.jobs.length >= mine + 2)))
      .map(([, l]) => ({ line: l, left: l.jobs.length }));
    const victims: Job[] = [];
    let count = this.queued;
    let bytes = this.heldBytes;
    while (count >= this.opts.maxQueue || (bytes + size > this.opts.maxQueueBytes && this.pending - victims.length > 0)) {
      let pick: { line: { jobs: Job[]; lane: number }; left: number } | undefined;
      for (const c of lines) {
        if (c.left === 0 || (c.line.lane === lane && c.left < mine + 2)) continue;
        // The least trusted lane; in it the longest line; of equal lines the newest document.
        const better = !pick || c.line.lane > pick.line.lane || (c.line.lane === pick.line.lane
          && (c.left > pick.left || (c.left === pick.left && c.line.jobs[c.left - 1].id > pick.line.jobs[pick.left - 1].id)));
        if (better) pick = c;
      }
      if (!pick) return false;
      const job = pick.line.jobs[--pick.left];
      victims.push(job);
      count--;
      bytes -= job.size;
    }
    for (const job of victims) {
      this.unqueue(job);
      job.resolve(empty('busy', 'pushed out of a full reader by another account\'s document'));
    }
    return true;
  }

  private enqueue(data: string, kind: DocumentKind, size: number, owner: string, lane: number, started: number): Promise<DocumentReading> {
    this.heldBytes += size;
    this.queued++;
    return new Promise((resolve) => {
      let settled = false;
      const job: Job = {
        id: this.nextId++, bytes: NO_BYTES, kind, ocrLeft: kind === 'image' ? 1 : this.opts.ocr?.perPdf ?? 0, owner, lane, size, queuedAt: started, expiry: null,
        resolve: (r) => {
          if (settled) return;
          settled = true;
          if (job.expiry) clearTimeout(job.expiry);
          job.bytes = NO_BYTES;
          this.heldBytes -= size;
          r.ms = Date.now() - started;
          resolve(this.done(r, kind));
        },
      };
      // A document that waits too long is answered then, not when a thread next comes free.
      job.expiry = setTimeout(() => {
        if (this.unqueue(job)) job.resolve(empty('busy', `waited longer than ${this.opts.maxWaitMs} ms`));
      }, this.opts.maxWaitMs);
      job.expiry.unref();
      if (data.length <= DECODE_SLICE_CHARS || !sliceable(data)) {
        job.bytes = decodeOwn(data);
        this.line(job);
        return;
      }
      // A large one is decoded a slice at a time, letting requests through in between.
      this.decoding.add(job);
      void decodeInSlices(data, size).then((bytes) => {
        if (!this.decoding.delete(job)) return; // answered meanwhile (its wait ran out, or close)
        job.bytes = bytes;
        this.line(job);
        this.dispatch();
      });
    });
  }

  private line(job: Job): void {
    let line = this.lines.get(job.owner);
    if (!line) { line = { jobs: [], lastTurn: 0, lane: job.lane }; this.lines.set(job.owner, line); }
    line.jobs.push(job);
  }

  /** Take `job` out of its line (or its decoding); false if it is not waiting. */
  private unqueue(job: Job): boolean {
    if (this.decoding.delete(job)) { this.queued--; return true; }
    const line = this.lines.get(job.owner);
    const i = line ? line.jobs.indexOf(job) : -1;
    if (i < 0) return false;
    line!.jobs.splice(i, 1);
    if (line!.jobs.length === 0 && line!.lastTurn === 0) this.lines.delete(job.owner);
    this.queued--;
    return true;
  }

  /**
   * The next document in turn: of the lanes with documents waiting, the one that had a turn least
   * recently; in it, the first document of the group that had a turn least recently (a group new
   * to the line before any that has had one), so that a group that keeps its line full gets one
   * turn in each round, like any other.
   */
  private nextInTurn(): Job | undefined {
    // A group whose line emptied keeps its place in the rounds while it matters: until every
    // waiting group has had a turn since (a new line, or one forgotten, goes first).
    let lane = -1;
    let oldestWaiting = Infinity;
    for (const line of this.lines.values()) {
      if (line.jobs.length === 0) continue;
      // (A new line, never served, goes first whatever is kept: it does not hold the rest.)
      if (line.lastTurn > 0) oldestWaiting = Math.min(oldestWaiting, line.lastTurn);
      if (lane < 0 || (line.lane !== lane && (this.laneTurns.get(line.lane) ?? 0) < (this.laneTurns.get(lane) ?? 0))) lane = line.lane;
    }
    let pick: { jobs: Job[]; lastTurn: number } | undefined;
    for (const [owner, line] of this.lines) {
      if (line.jobs.length === 0) {
        if (line.lastTurn < oldestWaiting) this.lines.delete(owner);
        continue;
      }
      if (line.lane === lane && (!pick || line.lastTurn < pick.lastTurn)) pick = line;
    }
    if (!pick) return undefined;
    const job = pick.jobs.shift()!;
    pick.lastTurn = ++this.turns;
    this.laneTurns.set(lane, this.turns);
    this.queued--;
    return job;
  }

  private done(r: DocumentReading, kind: DocumentKind): DocumentReading {
    r.kind = kind;
    try { this.opts.onResult?.(r); } catch { /* a metrics callback never fails a read */ }
    return r;
  }

  private dispatch(): void {
    // Answers call back into user code (onResult, and whatever awaits a read), which may read
    // again: one dispatch at a time, run again if asked meanwhile.
    if (this.dispatching) { this.dispatchAgain = true; return; }
    this.dispatching = true;
    try {
      do {
        this.dispatchAgain = false;
        for (const slot of this.slots) {
          if (slot.job) continue;
          let job: Job | undefined;
          while (!slot.job && (job = this.nextInTurn())) {
            if (this.unavailable !== null) { job.resolve(empty('unavailable', this.unavailable)); continue; }
            this.run(slot, job);
          }
          if (!slot.job) slot.worker?.unref();
        }
      } while (this.dispatchAgain);
    } finally {
      this.dispatching = false;
    }
    this.watchMemory();
  }

  private run(slot: Slot, job: Job): void {
    slot.job = job;
    if (!slot.worker) {
      try {
        this.start(slot);
      } catch (err) {
        slot.job = null;
        job.resolve(empty('failed', `the document thread could not start: ${(err as Error).message}`, false));
        return;
      }
    }
    slot.worker!.ref();
    if (slot.ready) this.post(slot, slot.worker!, job);
  }

  /** Hand `job` to the ready thread, with its time limit; its buffer moves to the thread. */
  private post(slot: Slot, worker: Worker, job: Job): void {
    slot.partial = '';
    slot.rssAtStart = -1; // read at the memory watch's next look, not on the request's time
    slot.inOcr = false;
    slot.key = null;
    this.runClock(slot, worker, this.opts.timeoutMs);
    const bytes = job.bytes;
    worker.postMessage({ id: job.id, bytes, kind: job.kind } satisfies ToDocumentThread, [bytes.buffer as ArrayBuffer]);
  }

  /** While documents are read: terminate a thread whose document has grown the process by more than memoryMb. */
  private watchMemory(): void {
    const reading = this.slots.some((s) => s.job && s.ready);
    if (!reading) {
      if (this.memoryWatch) clearInterval(this.memoryWatch);
      this.memoryWatch = null;
      return;
    }
    if (this.memoryWatch) return;
    const budget = this.opts.memoryMb * 1024 * 1024;
    this.memoryWatch = setInterval(() => {
      const rss = process.memoryUsage.rss();
      for (const slot of this.slots) {
        if (slot.job && slot.ready && slot.rssAtStart < 0) slot.rssAtStart = rss;
        else if (slot.job && slot.ready && slot.worker && rss - slot.rssAtStart > budget) {
          // The process's growth, not the thread's: not remembered (another read, or the queue, may have grown it).
          this.drop(slot, slot.worker, empty('failed', `the document took more than ${this.opts.memoryMb} MiB of memory`, !slot.inOcr));
        }
      }
      if (!this.slots.some((s) => s.job && s.ready)) this.watchMemory();
    }, MEMORY_WATCH_MS);
    this.memoryWatch.unref();
  }

  /**
   * Terminate `worker` and answer its document with `r`. `giveUp`: the document itself cost the
   * thread (its time, its heap), so a copy is answered so for a while (rememberGivenUp).
   */
  private drop(slot: Slot, worker: Worker, r: DocumentReading, giveUp = false): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.ready = false;
    // Only what the document itself did (not a recognition's time, not a thread that died on
    // another document), and only once its thread had named it.
    if (giveUp && r.unreadable && slot.key && slot.job && (r.result === 'timeout' || r.result === 'failed')) {
      this.rememberGivenUp(slot.key, { result: r.result, ...(r.error ? { error: r.error } : {}), text: slot.partial, unreadable: r.unreadable, until: Date.now() + GIVEN_UP_MS });
    }
    this.settle(slot, r);
    void worker.terminate();
    this.dispatch();
  }

  /** Remember a document given up on, and tell the threads (a thread started later is told at its start). */
  private rememberGivenUp(key: string, answer: GivenUp & { text: string }): void {
    const now = Date.now();
    for (const [k, old] of this.givenUp) { if (old.until > now) break; this.forgetGivenUp(k); }
    this.givenUp.delete(key);
    this.givenUp.set(key, answer);
    const { text: _, ...told } = answer;
    this.tellThreads({ id: 0, givenUp: [key, told] });
    if (this.givenUp.size > GIVEN_UP_ENTRIES) this.forgetGivenUp(this.givenUp.keys().next().value!);
  }

  private forgetGivenUp(key: string): void {
    if (this.givenUp.delete(key)) this.tellThreads({ id: 0, forget: key });
  }

  private tellThreads(m: ToDocumentThread): void {
    for (const s of this.slots) s.worker?.postMessage(m);
  }

  /** What the threads are told at their start: the documents given up on, still so. */
  private stillGivenUp(): [string, GivenUp][] {
    const now = Date.now();
    const out: [string, GivenUp][] = [];
    for (const [key, { text: _, ...answer }] of this.givenUp) if (answer.until > now) out.push([key, answer]);
    return out;
  }

  private start(slot: Slot): void {
    const ocr = this.opts.ocr;
    const init: DocumentThreadInit = {
      maxPages: this.opts.maxPages, maxChars: this.opts.maxChars, cacheEntries: this.opts.cacheEntries,
      ocr: ocr ? { maxImagePixels: ocr.maxImagePixels, perPdf: ocr.perPdf, pictures: ocr.pictures, languages: [...ocr.languages], modelsDir: ocr.modelsDir } : null,
      givenUp: this.stillGivenUp(),
    };
    const worker = startWorker(this.entry, {
      workerData: init,
      resourceLimits: { maxOldGenerationSizeMb: this.opts.memoryMb, maxYoungGenerationSizeMb: Math.min(32, Math.max(4, this.opts.memoryMb >> 3)) },
    });
    this.threadsStarted++;
    slot.worker = worker;
    slot.ready = false;
    slot.timer = setTimeout(() => this.drop(slot, worker, empty('failed', `the document thread did not start within ${THREAD_START_MS} ms`, false)), THREAD_START_MS);
    worker.on('message', (m: FromDocumentThread) => {
      if (slot.worker !== worker) return;
      if (m.type === 'ready') {
        slot.ready = true;
        if (slot.timer) clearTimeout(slot.timer);
        slot.timer = null;
        if (slot.job) this.post(slot, worker, slot.job);
        this.watchMemory();
        return;
      }
      if (m.type === 'unavailable') {
        this.unavailable = m.error;
        this.drop(slot, worker, empty('unavailable', m.error));
        return;
      }
      if (!slot.job || slot.job.id !== m.id) return;
      if (m.type === 'page') {
        if (slot.partial.length < this.opts.maxChars) slot.partial = (slot.partial + m.text).slice(0, this.opts.maxChars);
        return;
      }
      if (m.type === 'key') { slot.key = m.key; return; }
      if (m.type === 'given-up') {
        const { result, error, unreadable } = m.answer;
        const kept = this.givenUp.get(m.key);
        // Forgotten meanwhile (read after all, or pushed out): not read again here, and not held
        // against the account.
        if (!kept) this.settle(slot, { ...empty('failed', 'given up on before, forgotten since; not read again', false), cached: true });
        else this.settle(slot, { ...empty(result, error, unreadable), text: kept.text, cached: true });
        this.dispatch();
        return;
      }
      if (m.type === 'ocr') {
        // A recognition takes seconds where a PDF's text takes milliseconds: it gets its own
        // time, and the document's own limit waits (what is left of it runs on afterwards).
        const job = slot.job;
        if (job.ocrLeft <= 0 || !this.opts.ocr || slot.inOcr) return;
        job.ocrLeft--;
        slot.inOcr = true;
        slot.remainingMs = Math.max(0, slot.deadline - Date.now());
        if (slot.timer) clearTimeout(slot.timer);
        const ms = this.opts.ocr.timeoutMs;
        slot.timer = setTimeout(() => this.drop(slot, worker, empty('timeout', `an image not recognised within ${ms} ms`, false), true), ms);
        return;
      }
      if (m.type === 'ocr-done') {
        if (!slot.inOcr) return;
        slot.inOcr = false;
        // Tesseract stays loaded (60 MB on the first recognition): the watch measures from now.
        slot.rssAtStart = -1;
        this.runClock(slot, worker, slot.remainingMs);
        return;
      }
      if (m.result === 'read') {
        // Read after all (given up on under load, or on another thread): not given up on any more.
        if (slot.key && this.givenUp.has(slot.key)) this.forgetGivenUp(slot.key);
        this.settle(slot, { result: 'read', kind: slot.job.kind, text: m.text, pages: m.pages, pagesRead: m.pagesRead, imagesRecognised: m.imagesRecognised, imagesSkipped: m.imagesSkipped, ms: 0, cached: m.cached,
          // Read, but its text layer is not language: what its pages show is hidden from what was read.
          unreadable: m.unreadableText !== null, ...(m.unreadableText ? { error: `its text layer does not read as language: ${m.unreadableText}` } : {}) });
      } else {
        this.settle(slot, empty(m.result, m.error));
      }
      this.dispatch();
    });
    const died = (err: Error | null) => {
      if (slot.worker !== worker) return;
      const code = (err as { code?: string } | null)?.code;
      this.drop(slot, worker, empty('failed', code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'the document thread ran out of memory' : err?.message ?? 'the document thread stopped', !slot.inOcr), true);
    };
    worker.on('error', died);
    worker.on('exit', () => died(null));
  }

  /** Run the document's own time limit on `worker`: `ms` more of reading, then it is given up (the thread terminated). */
  private runClock(slot: Slot, worker: Worker, ms: number): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.deadline = Date.now() + ms;
    // pdf.js cannot be interrupted: the thread goes, the next document starts a new one.
    slot.timer = setTimeout(() => this.drop(slot, worker, empty('timeout', `not read within ${this.opts.timeoutMs} ms`), true), ms);
  }

  private settle(slot: Slot, r: DocumentReading): void {
    const job = slot.job;
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    slot.job = null;
    slot.inOcr = false;
    slot.key = null;
    // Given up part way (time, memory, a dead thread): the pages read before count.
    if (r.result !== 'read' && slot.partial) r.text = slot.partial;
    slot.partial = '';
    job?.resolve(r);
  }

  /** Stop the threads; documents waiting or being read are answered `busy`. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.memoryWatch) clearInterval(this.memoryWatch);
    this.memoryWatch = null;
    for (const job of [...this.decoding]) if (this.unqueue(job)) job.resolve(empty('busy', 'reader closed'));
    let job: Job | undefined;
    while ((job = this.nextInTurn())) job.resolve(empty('busy', 'reader closed'));
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

/**
 * Documents given up on that are remembered (each with what was read of it before, at most
 * `maxChars`): enough for the documents of the conversations and fleets of the last while.
 */
const GIVEN_UP_ENTRIES = 128;
/** For how long (ms): a document given up on while the machine was busy gets another chance after it. */
const GIVEN_UP_MS = 10 * 60_000;

/** Results that are the document's doing, unless said otherwise (see DocumentReading.unreadable). */
const UNREADABLE: ReadonlySet<DocumentResult> = new Set(['too_large', 'failed', 'timeout']);

function empty(result: DocumentResult, error?: string, unreadable = UNREADABLE.has(result)): DocumentReading {
  return { result, kind: 'pdf', text: '', pages: 0, pagesRead: 0, imagesRecognised: 0, imagesSkipped: 0, ms: 0, cached: false, unreadable, ...(error ? { error } : {}) };
}
