/**
 * The record phase: every finished interaction becomes one event, buffered and written to the
 * event store in batches off the request path. A failed write is retried with the next batch
 * (bounded buffer), so a store hiccup does not lose events already accepted.
 */
import type { InteractionEvent } from '../events/index.ts';
import type { EventStore } from '../store/index.ts';

export interface RecorderOptions {
  batchSize: number;
  flushIntervalMs: number;
  /** Beyond this many unwritten events, the oldest are dropped (and counted). */
  maxBuffered?: number;
  onError?: (err: unknown) => void;
  onFlush?: (written: number) => void;
}

export class EventRecorder {
  private buffer: InteractionEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  dropped = 0;
  written = 0;

  constructor(private readonly store: EventStore, private readonly opts: RecorderOptions) {}

  record(event: InteractionEvent): void {
    this.buffer.push(event);
    const max = this.opts.maxBuffered ?? 100_000;
    if (this.buffer.length > max) {
      this.dropped += this.buffer.length - max;
      this.buffer.splice(0, this.buffer.length - max);
    }
    if (this.buffer.length >= this.opts.batchSize) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => { this.timer = null; void this.flush(); }, this.opts.flushIntervalMs);
      this.timer.unref();
    }
  }

  get pending(): number {
    return this.buffer.length;
  }

  /** Write everything buffered now. Concurrent calls share one write. */
  async flush(): Promise<void> {
    if (this.flushing) {
      await this.flushing;
      if (this.buffer.length === 0) return;
    }
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    this.flushing = (async () => {
      try {
        await this.store.appendBatch(batch);
        this.written += batch.length;
        this.opts.onFlush?.(batch.length);
      } catch (err) {
        // put them back in front so order is kept and the next flush retries them
        this.buffer = batch.concat(this.buffer);
        this.opts.onError?.(err);
      }
    })();
    try { await this.flushing; } finally { this.flushing = null; }
  }

  async close(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    for (let i = 0; i < 3 && this.buffer.length; i++) await this.flush();
  }
}
