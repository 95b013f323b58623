/**
 * The SQLite event writer thread. better-sqlite3 is synchronous, and a batch of a few hundred
 * events (four indexes each) takes 5-30 ms to insert, longer when SQLite checkpoints its WAL: on
 * the gateway's thread that is a stall of every request in flight (measured at 1,000 req/s:
 * main-thread event-loop delay p99 16-43 ms, max 65-121 ms). Here the inserts run in a worker
 * thread on its own connection to the same file (WAL: the gateway's reads never wait for it); the
 * main thread serialises each event to JSON in short slices and posts rows.
 *
 * An append resolves once its transaction has committed (then readable from any connection) and
 * rejects if it failed or the thread died; the recorder then keeps the batch and retries, and the
 * next append starts a new thread.
 */
import type { Worker } from 'node:worker_threads';
import type { InteractionEvent } from '../events/index.ts';
import { resolveWorkerEntry, startWorker, type WorkerEntry } from './worker-entry.ts';
import type { EventRow } from './event-insert.ts';
import { openBatch, type OpenBatch, type OpenWrites } from './open-interactions.ts';
import { ROLLUP_TOKEN_COUNT, rollupTokens } from './usage-rollup.ts';

export type { EventRow } from './event-insert.ts';

/** `tokens`: each row's tokens as the usage rollup sums them (ROLLUP_TOKEN_COUNT a row, see sqliteEventInserter). */
export type ToEventWriter = { type: 'append'; id: number; rows: EventRow[]; tokens: number[]; open?: OpenBatch } | { type: 'close' } | { type: 'fault' };
export type FromEventWriter = { type: 'ack'; id: number } | { type: 'error'; id: number; message: string };

export function eventRow(e: InteractionEvent): EventRow {
  return [e.id, e.ts, e.account_id, e.org_id, e.key_id, e.model, e.client.ip, e.response.status, JSON.stringify(e)];
}

/** Events serialised per slice before the main thread yields (~1 ms of JSON.stringify). */
const SLICE = 64;

export class EventWriterThread {
  private worker: Worker | null = null;
  private seq = 0;
  private readonly pending = new Map<number, { resolve(): void; reject(err: Error): void }>();
  private closed = false;

  constructor(private readonly path: string, private readonly entry: WorkerEntry = resolveWorkerEntry(import.meta.url, 'event-writer-worker')) {}

  /** Insert the events in one transaction, in the writer thread, with `open`'s records (open-interactions.ts). */
  async append(events: readonly InteractionEvent[], open?: OpenWrites): Promise<void> {
    if (this.closed) throw new Error('event writer closed');
    const rows: EventRow[] = new Array(events.length);
    const tokens: number[] = new Array(events.length * ROLLUP_TOKEN_COUNT);
    for (let i = 0; i < events.length; i++) {
      if (i > 0 && i % SLICE === 0) await new Promise<void>((r) => setImmediate(r));
      rows[i] = eventRow(events[i]);
      rollupTokens(events[i].response, tokens, i * ROLLUP_TOKEN_COUNT);
    }
    const openRows = openBatch(events, open);
    const worker = this.ensure();
    const id = ++this.seq;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ type: 'append', id, rows, tokens, ...(openRows ? { open: openRows } : {}) } satisfies ToEventWriter);
    });
  }

  /** Tests: kill the thread as a native crash would. */
  fault(): void { this.worker?.postMessage({ type: 'fault' } satisfies ToEventWriter); }

  /** Finish what was posted, then stop the thread. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    if (!w) return;
    // The thread answers in order: once it exits, every batch posted before `close` is settled.
    w.ref();
    await new Promise<void>((res) => { w.once('exit', () => res()); w.postMessage({ type: 'close' } satisfies ToEventWriter); });
    this.worker = null;
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = startWorker(this.entry, { workerData: { path: this.path }, name: 'warden-event-writer' });
    w.unref();
    w.on('message', (m: FromEventWriter) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.type === 'ack') p.resolve(); else p.reject(new Error(`event store: ${m.message}`));
    });
    const fail = (err: Error) => {
      if (this.worker === w) this.worker = null;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', (err) => fail(new Error(`event writer thread failed: ${err instanceof Error ? err.message : JSON.stringify(err)}`)));
    w.on('exit', (code) => fail(new Error(`event writer thread exited (code ${code})`)));
    this.worker = w;
    return w;
  }
}
