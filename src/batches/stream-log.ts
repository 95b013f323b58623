/**
 * The events of streamed background responses (`background: true, stream: true`): written by the
 * runner as the gateway sends them, kept in the store, and read by any number of clients from any
 * point (`starting_after`), while the response runs and after it has ended.
 *
 * Writing each event to the store as it comes would cost a write per token; a running response's
 * events are kept in memory and stored together every `FLUSH_MS`. A client on the node that runs
 * the response reads them from memory as they come; on another node it reads the store, at most
 * `POLL_MS` (plus a flush) late.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { BatchStore } from './store.ts';

const FLUSH_MS = 100;
const POLL_MS = 250;
/** How often a reader that sees nothing new asks the store whether the response is over. */
const ENDED_CHECK_MS = 1_000;
/** Stored events a running response keeps in memory for readers a little behind (further back: the store). */
const KEEP = 512;
/** Events read from the store at once. */
const PAGE = 500;
/** The events after which a response's stream has nothing more. */
export const TERMINAL_EVENTS: ReadonlySet<string> = new Set(['response.completed', 'response.failed', 'response.incomplete']);

/** An SSE frame for one event of the Responses API (`event:` and `data:` lines). */
export function sseFrame(type: string, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}
/** The event type of a frame written by `sseFrame`. */
function frameType(frame: string): string {
  return frame.startsWith('event: ') ? frame.slice(7, frame.indexOf('\n')) : '';
}

interface Live {
  /** The sequence number of `frames[0]`. */
  base: number;
  frames: string[];
  /** The sequence number of the first frame not yet stored. */
  stored: number;
}

export class BackgroundStreams {
  private readonly live = new Map<string, Live>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  /** The node is stopping: readers end (their clients read on from another node, `starting_after`). */
  private stopping = false;
  /** Readers on this node now. */
  private reading = 0;
  /** For tests: responses some reader waits on. */
  get waiting(): number { return this.waiters.size; }
  private readonly kept: Counter | null;

  constructor(private readonly store: BatchStore, private readonly log: (msg: string) => void = () => {}, registry?: Registry) {
    this.kept = registry ? new Counter({ name: 'warden_background_stream_events_total', help: 'Events of streamed background responses run by this node, kept to be read.', registers: [registry] }) : null;
    if (registry) {
      const self = this;
      new Gauge({ name: 'warden_background_stream_readers', help: 'Clients reading streamed background responses from this node now.', registers: [registry], collect() { this.set(self.reading); } });
      new Gauge({ name: 'warden_background_streams_running', help: 'Streamed background responses this node is running now.', registers: [registry], collect() { this.set(self.live.size); } });
    }
  }

  /** Events written before the response runs (created, queued): stored at once. */
  async write(id: string, first: number, frames: readonly string[]): Promise<void> {
    await this.store.appendStream(id, first, frames);
    this.wake(id);
  }

  /** A run of the response starts on this node; its next event is numbered `next`. */
  open(id: string, next: number): void {
    this.live.set(id, { base: next, frames: [], stored: next });
    this.wake(id);
  }

  append(id: string, frame: string): void {
    const live = this.live.get(id);
    if (!live) return;
    live.frames.push(frame);
    this.kept?.inc();
    this.wake(id);
    if (!this.timer) {
      this.timer = setTimeout(() => { this.timer = null; void this.flush(); }, FLUSH_MS);
      this.timer.unref();
    }
  }

  /** The run is over: what is left is stored, and readers go on from the store. */
  async close(id: string): Promise<void> {
    await this.flush();
    const live = this.live.get(id);
    // A write that failed is tried again until it lands: the events are the client's answer.
    for (let attempt = 0; live && live.stored < live.base + live.frames.length && attempt < 20; attempt++) {
      await new Promise((r) => setTimeout(r, 250 * (attempt + 1)));
      await this.flush();
    }
    this.live.delete(id);
    this.wake(id);
  }

  /** Store what each running response has not stored yet (one write per response), one flush at a time. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      for (const [id, live] of this.live) {
        const from = live.stored - live.base;
        if (from >= live.frames.length) continue;
        const frames = live.frames.slice(from);
        try {
          await this.store.appendStream(id, live.stored, frames);
        } catch (err) {
          this.log(`batches: could not store ${frames.length} events of ${id} (${(err as Error).message}); retrying`);
          continue;
        }
        live.stored += frames.length;
        // Readers far behind read the store; memory keeps the last stored events and what is not stored.
        const drop = live.stored - live.base - KEEP;
        if (drop > KEEP) { live.frames.splice(0, drop); live.base += drop; }
      }
    });
    return this.flushing;
  }

  private wake(id: string): void {
    const set = this.waiters.get(id);
    if (!set) return;
    this.waiters.delete(id);
    for (const fn of set) fn();
  }

  private wait(id: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(id);
      if (!set) { set = new Set(); this.waiters.set(id, set); }
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        const now = this.waiters.get(id);
        if (now) {
          now.delete(done);
          if (now.size === 0) this.waiters.delete(id);
        }
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      set.add(done);
    });
  }

  /**
   * The response's events numbered above `after`, as they come, until its last (`response.completed`,
   * `failed` or `incomplete`), until it is over without one (cancelled, expired: `ended` says so),
   * or until `signal` aborts.
   */
  async *follow(id: string, after: number, signal: AbortSignal, ended: () => Promise<boolean>): AsyncGenerator<string> {
    let next = after + 1;
    let lastCheck = 0;
    this.reading++;
    try {
      while (!signal.aborted && !this.stopping) {
        let got = 0;
        const live = this.live.get(id);
        if (live && next >= live.base) {
          // Read by position each time: a flush may drop older frames while the client drains.
          while (next >= live.base && next - live.base < live.frames.length) {
            const frame = live.frames[next - live.base];
            next++; got++;
            yield frame;
            if (TERMINAL_EVENTS.has(frameType(frame))) return;
          }
        } else {
          const rows = await this.store.streamEvents(id, next - 1, PAGE);
          for (const row of rows) {
            next = row.seq + 1; got++;
            yield row.frame;
            if (TERMINAL_EVENTS.has(frameType(row.frame))) return;
          }
        }
        if (got) continue;
        if (!this.live.has(id) && Date.now() - lastCheck >= ENDED_CHECK_MS) {
          lastCheck = Date.now();
          if (await ended()) {
            // Over: what was stored before it ended is still sent.
            for (const row of await this.store.streamEvents(id, next - 1, 1_000_000)) yield row.frame;
            return;
          }
        }
        await this.wait(id, POLL_MS, signal);
      }
    } finally {
      this.reading--;
    }
  }

  /**
   * The node is stopping (after its runs had their time to finish): store what is left and end
   * every reader, so that none holds the server open.
   */
  async stop(): Promise<void> {
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    await this.flush();
    this.stopping = true;
    for (const id of [...this.waiters.keys()]) this.wake(id);
  }
}
