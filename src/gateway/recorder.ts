/**
 * The record phase: every finished interaction becomes one event, buffered and written to the
 * event store in batches off the request path. A failed write keeps its events and is retried on a
 * timer (100 ms, doubling up to 5 s) until the store answers again, so a store outage does not lose
 * events already accepted as long as they fit the bounded buffer (`maxBuffered`, counting the write
 * under way: beyond it the oldest are dropped and counted). On close the buffer is written, retrying
 * up to `closeTimeoutMs`; what is then certainly not written is counted as dropped and reported
 * (`onLost`), and a write still under way is reported as such (`onUnsettled`) and counted when it
 * ends, never left unsaid.
 */
import type { InteractionEvent } from '../events/index.ts';
import type { EventStore } from '../store/index.ts';
import type { InteractionProgress, OpenedInteraction, OpenWrites } from '../store/index.ts';

export interface RecorderOptions {
  batchSize: number;
  flushIntervalMs: number;
  /** Beyond this many unwritten events (buffered or being written), the oldest buffered are dropped (and counted). */
  maxBuffered?: number;
  /** Likewise beyond this many bytes of them, as `eventBytes` estimates them (default 512 MiB). */
  maxBufferedBytes?: number;
  /** How long close() keeps retrying while the store fails, ms (default 10 s). */
  closeTimeoutMs?: number;
  /** The first wait before a failed write is retried, doubled on each failure up to `retryMaxMs` (default 100 ms, 5 s). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /**
   * A write failed; its events are kept. `retryInMs`: when the next attempt is (while closing, how
   * long close() goes on trying; reported on its first failure only).
   */
  onError?: (err: unknown, state: { pending: number; dropped: number; retryInMs: number; closing: boolean }) => void;
  /**
   * `count` events were not written (and are counted in `dropped`): close() gave up on them, or a
   * write it left under way failed afterwards.
   */
  onLost?: (count: number, err: unknown) => void;
  /**
   * close() gave up while a write of `count` events was under way: whether they are stored is not
   * known yet. They are counted in `written`, or in `dropped` (and reported by `onLost`), when it ends.
   */
  onUnsettled?: (count: number) => void;
  onFlush?: (written: number) => void;
}

const TIMED_OUT = Symbol('timed out');

/**
 * An event's size, about its JSON's length: its prompt text, the names it counts (roles, part
 * types: each bounded, see EVENT_MAX_NAME_CHARS) and a kilobyte for the rest. Cheap (no
 * serialising), and what bounds the buffer during an outage: events differ in size by a thousand
 * times, so a count alone does not bound memory.
 */
export function eventBytes(e: InteractionEvent): number {
  const r = e.request as InteractionEvent['request'] | undefined;
  if (!r) return 1024;
  const keys = (counts: Record<string, number> | undefined) => {
    let k = 0;
    if (counts) for (const key of Object.keys(counts)) k += 8 + key.length;
    return k;
  };
  let n = 1024 + (r.system?.length ?? 0) + (r.system_documents?.text?.length ?? 0) + (r.tool_choice?.length ?? 0);
  for (const m of r.messages ?? []) n += 64 + (m.text?.length ?? 0) + (m.role?.length ?? 0) + keys(m.parts);
  for (const t of r.tools ?? []) n += 4 + t.length;
  if (r.messages_omitted) n += keys(r.messages_omitted.roles) + keys(r.messages_omitted.parts);
  return n;
}

export class EventRecorder {
  private buffer: InteractionEvent[] = [];
  /** Events in the write under way (out of the buffer, not yet in the store). */
  private writing = 0;
  /** Estimated bytes of the buffered events, and of those being written. */
  private bufferedBytes = 0;
  private writingBytes = 0;
  private readonly sizes = new WeakMap<InteractionEvent, number>();
  /**
   * Streams begun and not yet noted in the store (their record made when written), and checkpoints
   * of streams under way: written with the next batch, before its events (open-interactions.ts).
   */
  private opens = new Map<string, OpenedInteraction | (() => OpenedInteraction)>();
  private checkpoints = new Map<string, InteractionProgress>();
  private timer: NodeJS.Timeout | null = null;
  /** The write under way: resolves to null when it succeeded, else to its error. */
  private flushing: Promise<unknown> | null = null;
  /** 0 while the store takes writes; after a failure, the wait before the next attempt, ms. */
  private retryMs = 0;
  private closing = false;
  /** close() has returned: a write still under way counts its own outcome. */
  private closed = false;
  dropped = 0;
  written = 0;

  constructor(private readonly store: EventStore, private readonly opts: RecorderOptions) {}

  /**
   * A stream began: note it in the store with the next write (`make` builds its record then, off
   * the request's path). Its event, once recorded, removes it; if it is recorded before the note
   * was written, the note is not written at all.
   */
  open(id: string, make: () => OpenedInteraction): void {
    this.opens.set(id, make);
    // Bounded as the events are: the oldest notes go first (their streams are then recorded at their end only).
    if (this.opens.size > this.maxBuffered) this.opens.delete(this.opens.keys().next().value!);
    this.wake();
  }

  /** What streams under way have sent so far, written with the next batch (a newer checkpoint replaces an unwritten one). */
  checkpoint(progress: readonly InteractionProgress[]): void {
    if (!progress.length) return;
    for (const p of progress) this.checkpoints.set(p.id, p);
    this.wake();
  }

  /** Open records and checkpoints waiting for the next write. */
  get pendingOpen(): number {
    return this.opens.size + this.checkpoints.size;
  }

  private wake(): void {
    if (this.retryMs || this.closing) return;
    if (!this.timer) this.schedule(this.opts.flushIntervalMs);
  }

  record(event: InteractionEvent): void {
    // Ended before its note was written: neither is needed.
    if (this.opens.size && event.request?.stream) this.opens.delete(event.id);
    if (this.checkpoints.size) this.checkpoints.delete(event.id);
    const bytes = eventBytes(event);
    this.sizes.set(event, bytes);
    this.bufferedBytes += bytes;
    this.buffer.push(event);
    this.trim();
    // While the store is failing, the retry timer alone writes: not one attempt per request. While closing, close() does.
    if (this.retryMs || this.closing) return;
    if (this.buffer.length >= this.opts.batchSize) void this.flush();
    else if (!this.timer) this.schedule(this.opts.flushIntervalMs);
  }

  /** Events accepted and not written yet (buffered, or in the write under way). */
  get pending(): number {
    return this.buffer.length + this.writing;
  }

  /**
   * Write everything buffered now. Concurrent calls share the write under way: when it fails, they
   * return and leave the next attempt to the retry timer, after its back-off.
   */
  async flush(): Promise<void> {
    for (;;) {
      if (this.flushing) {
        await this.flushing;
        if (this.retryMs) return;
        continue;
      }
      if (this.buffer.length === 0 && this.opens.size === 0 && this.checkpoints.size === 0) return;
      // A failed write has set the back-off and the timer that retries.
      if (await this.write() !== null) return;
    }
  }

  /**
   * Write what is buffered, retrying with back-off for up to `closeTimeoutMs` while the store fails.
   * What is left in the buffer then is dropped, counted and reported through `onLost`; a write
   * still under way through `onUnsettled`, and counted when it ends.
   */
  async close(): Promise<void> {
    this.closing = true;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    const timeoutMs = this.opts.closeTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    let waitMs = this.opts.retryMinMs ?? 100;
    let failure: unknown = null;
    while (this.pending > 0 && Date.now() < deadline) {
      const outcome = await beforeDeadline(this.flushing ?? this.write(), deadline);
      if (outcome === TIMED_OUT) { failure = new Error(`the event store did not answer within ${timeoutMs} ms`); break; }
      if (outcome === null) continue; // written; more may have come in meanwhile
      if (failure === null) this.opts.onError?.(outcome, { pending: this.pending, dropped: this.dropped, retryInMs: Math.max(0, deadline - Date.now()), closing: true });
      failure = outcome;
      // No longer than the deadline: a timer left behind would keep a stopping process alive.
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(waitMs, deadline - Date.now()))));
      waitMs = Math.min(waitMs * 2, this.opts.retryMaxMs ?? 5000);
    }
    this.closed = true;
    if (this.writing) this.opts.onUnsettled?.(this.writing);
    const lost = this.buffer.length;
    if (lost === 0) return;
    this.buffer = [];
    this.bufferedBytes = 0;
    this.dropped += lost;
    this.opts.onLost?.(lost, failure ?? new Error(`the event store did not answer within ${timeoutMs} ms`));
  }

  /**
   * One attempt at writing the oldest buffered events (all of them, up to `writeMax()`); resolves
   * to null when written, else to the error (the events are back in the buffer, and unless
   * closing, the retry is scheduled after the back-off).
   */
  private write(): Promise<unknown> {
    const batch = this.buffer.length > this.writeMax() ? this.buffer.splice(0, this.writeMax()) : this.buffer;
    if (batch === this.buffer) this.buffer = [];
    const open = this.takeOpen();
    this.writing = batch.length;
    this.writingBytes = this.bytesOf(batch);
    this.bufferedBytes -= this.writingBytes;
    const attempt = (async () => {
      try {
        await (open ? this.store.appendBatch(batch, open) : this.store.appendBatch(batch));
        this.writing = 0;
        this.writingBytes = 0;
        this.written += batch.length;
        if (!this.closing) this.retryMs = 0;
        this.opts.onFlush?.(batch.length);
        return null;
      } catch (err) {
        this.writing = 0;
        const bytes = this.writingBytes;
        this.writingBytes = 0;
        if (this.closed) {
          // close() has returned: nothing will try again.
          this.dropped += batch.length;
          this.opts.onLost?.(batch.length, err);
          return err;
        }
        if (open) this.putBackOpen(open);
        // Back in front, so order is kept and the next attempt writes them first.
        this.buffer = batch.concat(this.buffer);
        this.bufferedBytes += bytes;
        this.trim();
        if (!this.closing) {
          // Set before the write's promise settles: callers waiting for it see the back-off in force.
          this.retryMs = this.retryMs ? Math.min(this.retryMs * 2, this.opts.retryMaxMs ?? 5000) : (this.opts.retryMinMs ?? 100);
          this.schedule(this.retryMs);
          this.opts.onError?.(err, { pending: this.pending, dropped: this.dropped, retryInMs: this.retryMs, closing: false });
        }
        return err;
      }
    })();
    // Set before the attempt can end (a store that throws at once), cleared when it has.
    const flushing: Promise<unknown> = attempt.finally(() => { if (this.flushing === flushing) this.flushing = null; });
    this.flushing = flushing;
    return flushing;
  }

  /** The open records and checkpoints for this write (null: none), each record made now. */
  private takeOpen(): OpenWrites | null {
    if (this.opens.size === 0 && this.checkpoints.size === 0) return null;
    const opened: OpenedInteraction[] = [];
    for (const o of this.opens.values()) {
      try { opened.push(typeof o === 'function' ? o() : o); } catch { /* a record that cannot be made: the stream is recorded at its end only */ }
    }
    const progress = [...this.checkpoints.values()];
    this.opens = new Map();
    this.checkpoints = new Map();
    return { opened, progress };
  }

  /**
   * A failed write's open records and checkpoints, kept for the next (a newer checkpoint taken
   * meanwhile wins). A stream recorded meanwhile has its event in the buffer, written after its
   * record in the same write, which removes it.
   */
  private putBackOpen(open: OpenWrites): void {
    const opens = new Map<string, OpenedInteraction | (() => OpenedInteraction)>();
    for (const o of open.opened) opens.set(o.id, o);
    for (const [id, o] of this.opens) opens.set(id, o);
    this.opens = opens;
    for (const p of open.progress) if (!this.checkpoints.has(p.id)) this.checkpoints.set(p.id, p);
  }

  private get maxBuffered(): number { return this.opts.maxBuffered ?? 100_000; }

  /**
   * Events per write: a batch, or a tenth of the buffer bound when that is more (a backlog after an
   * outage is written in parts, so the bound, which counts the write under way, leaves room for the
   * events arriving meanwhile).
   */
  private writeMax(): number {
    return Math.min(this.maxBuffered, Math.max(this.opts.batchSize, Math.ceil(this.maxBuffered / 10)));
  }

  /** Estimated bytes of unwritten events (buffered, or in the write under way). */
  get pendingBytes(): number {
    return this.bufferedBytes + this.writingBytes;
  }

  private bytesOf(events: readonly InteractionEvent[]): number {
    let n = 0;
    for (const e of events) n += this.sizes.get(e) ?? 0;
    return n;
  }

  /**
   * Keep at most `maxBuffered` events and `maxBufferedBytes` of them, counting those being
   * written: the oldest buffered go first, counted.
   */
  private trim(): void {
    let n = Math.max(0, Math.min(this.buffer.length + this.writing - this.maxBuffered, this.buffer.length));
    let bytes = this.bytesOf(this.buffer.slice(0, n));
    const maxBytes = this.opts.maxBufferedBytes ?? 512 * 1024 * 1024;
    while (n < this.buffer.length && this.pendingBytes - bytes > maxBytes) bytes += this.sizes.get(this.buffer[n++]) ?? 0;
    if (n === 0) return;
    this.dropped += n;
    this.bufferedBytes -= bytes;
    this.buffer.splice(0, n);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timer = null; void this.flush(); }, ms);
    this.timer.unref();
  }
}

/**
 * `work`'s outcome, or TIMED_OUT at the deadline. The timer holds the process open (a stopping
 * process has little else to keep it alive while it waits to retry) and is cleared when `work` ends.
 */
async function beforeDeadline<T>(work: Promise<T>, deadline: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => { timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, deadline - Date.now())); });
  try { return await Promise.race([work, timeout]); } finally { clearTimeout(timer); }
}
