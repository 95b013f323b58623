/**
 * The dashboard's usage queries on SQLite, run in a worker thread. better-sqlite3 is synchronous:
 * an overview over a day of traffic (hundreds of milliseconds) or the first catch-up copy into
 * `usage_rows` (seconds) would block the gateway's event loop, and every model request with it.
 * Here the same SQL (usage.ts's `sqliteDialect`) runs in a worker on its own connection; the main
 * thread only posts messages and awaits the answers.
 *
 * - The worker reads `events` from the gateway's database file (attached; WAL mode: its reads
 *   and the gateway's writes do not wait for each other) and keeps `usage_rows` in a side file
 *   beside it (`<database>-usage`, see usageSidePath). The catch-up INSERT is a write, and in the
 *   same file it would hold the single write lock that the gateway's recorder needs: the
 *   recorder would wait for it synchronously, its event loop blocked (measured: appends stalled
 *   up to 190 ms during a catch-up, and slicing the copy into short transactions made it 5-8x
 *   slower without removing the stalls). In the side file the two writers never meet.
 * - The worker starts on the first query (a gateway whose dashboard is never opened starts none),
 *   keeps the process alive only while a query is outstanding, and is started again by the next
 *   query if it dies; queries in flight when it dies reject with a `UsageThreadError`.
 * - A failed query rejects with a `UsageThreadError` naming the operation and SQLite's message.
 *
 * Protocol types are shared with the entry point, usage-worker.ts.
 */
import { inspect } from 'node:util';
import type { Worker } from 'node:worker_threads';
import { resolveWorkerEntry, startWorker, type WorkerEntry } from '../store/worker-entry.ts';
import { SQLITE_USAGE_MIGRATIONS, SQLITE_ROLLUP_READS, type Dialect, type Row } from './usage.ts';
import { migrateSqlite, openSqlite } from '../store/sqlite.ts';

export type UsageOp = 'migrate' | 'newest' | 'catchUp' | 'run';

/** What the worker needs (plain data: it crosses the thread boundary). */
export interface UsageWorkerInit {
  /** The gateway's database file (read: `events`). */
  path: string;
  /** The side file the thread writes `usage_rows` to (see usageSidePath). */
  sidePath: string;
  /** How long a write to the side file waits for another writer (ms). */
  busyTimeoutMs: number;
}

export type ToUsageWorker =
  | { type: 'call'; id: number; op: UsageOp; args: unknown[] }
  | { type: 'close' }
  /** Tests: the thread dies now (as on a native crash). */
  | { type: 'fault' };

export interface WireError { message: string; code?: string; name?: string }

export type FromUsageWorker =
  | { type: 'reply'; id: number; value?: unknown; error?: WireError };

/** A usage query that failed in the query thread, or could not run because the thread stopped. */
export class UsageThreadError extends Error {
  override readonly name = 'UsageThreadError';
  constructor(message: string, readonly code: string | undefined = undefined) {
    super(message);
  }
}

export interface UsageThreadOptions {
  /** How to start the worker (tests); default: usage-worker.ts/.js beside this module. */
  entry?: WorkerEntry;
  busyTimeoutMs?: number;
  /** The side file for `usage_rows` (default usageSidePath(path)). */
  sidePath?: string;
  /** The thread died outside close(); it is started again by the next query. */
  onExit?: (err: Error) => void;
}

/** A thrown value as an Error whose message says what it was. */
function asError(err: unknown): Error {
  if (err instanceof Error && err.message) return err;
  if (typeof err === 'string') return new Error(err);
  const message = (err as { message?: unknown } | null)?.message;
  if (typeof message === 'string' && message) return new Error(message);
  return new Error(err instanceof Error ? String(err.stack ?? err.name) : inspect(err, { depth: 2, breakLength: Infinity }));
}

/** The side file beside the database: `warden.db` → `warden.db-usage` (with its own -wal and -shm). */
export function usageSidePath(path: string): string {
  return `${path}-usage`;
}

/** The main thread's handle on the usage query thread: start on demand, call, restart, close. */
export class UsageThread {
  private worker: Worker | null = null;
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void; op: UsageOp }>();
  private nextId = 1;
  private closed = false;
  private lastError: Error | null = null;
  private exited: Promise<void> | null = null;
  /** Threads started so far (1 after the first query; more after restarts). */
  starts = 0;

  constructor(private readonly path: string, private readonly opts: UsageThreadOptions = {}) {}

  get running(): boolean { return this.worker !== null; }

  private start(): Worker {
    const entry = this.opts.entry ?? resolveWorkerEntry(import.meta.url, 'usage-worker');
    const init: UsageWorkerInit = {
      path: this.path,
      sidePath: this.opts.sidePath ?? usageSidePath(this.path),
      busyTimeoutMs: this.opts.busyTimeoutMs ?? 15_000,
    };
    const worker = startWorker(entry, { workerData: init, name: 'warden-usage-queries' });
    this.starts++;
    this.lastError = null;
    worker.on('message', (m: FromUsageWorker) => {
      if (m.type !== 'reply') return;
      const c = this.calls.get(m.id);
      if (!c) return;
      this.calls.delete(m.id);
      if (m.error) c.reject(new UsageThreadError(`usage query failed (${c.op}): ${m.error.message}`, m.error.code));
      else c.resolve(m.value);
      this.refresh();
    });
    // What a worker throws reaches here as it was thrown: not always an Error (a string, an object
    // whose message is lost), so it is described rather than read as `.message`.
    worker.on('error', (err: unknown) => { this.lastError = asError(err); });
    this.exited = new Promise<void>((resolve) => {
      worker.once('exit', (code) => {
        if (this.worker === worker) this.worker = null;
        const err = this.lastError ?? new Error(`exited with code ${code}`);
        const pending = [...this.calls.values()];
        this.calls.clear();
        for (const c of pending) c.reject(new UsageThreadError(`usage query thread stopped during ${c.op}: ${err.message}`, 'USAGE_THREAD_STOPPED'));
        if (!this.closed) this.opts.onExit?.(err);
        resolve();
      });
    });
    this.worker = worker;
    return worker;
  }

  /** Keep the process alive only while queries are outstanding. */
  private refresh(): void {
    if (!this.worker) return;
    if (this.calls.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  call<T>(op: UsageOp, args: unknown[] = []): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed) { reject(new UsageThreadError('usage store is closed', 'USAGE_CLOSED')); return; }
      const id = this.nextId++;
      try {
        const worker = this.worker ?? this.start();
        this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject, op });
        worker.postMessage({ type: 'call', id, op, args } satisfies ToUsageWorker);
        this.refresh();
      } catch (err) {
        this.calls.delete(id);
        reject(new UsageThreadError(`usage query thread unavailable: ${(err as Error).message}`, 'USAGE_THREAD_STOPPED'));
      }
    });
  }

  /** Tests: kill the thread as a crash would. */
  fault(): void { this.worker?.postMessage({ type: 'fault' } satisfies ToUsageWorker); }

  /** Let queued queries finish, close the worker's connection, end the thread (stopped after 2 s). */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    const exited = this.exited!;
    worker.ref();
    worker.postMessage({ type: 'close' } satisfies ToUsageWorker);
    const timer = setTimeout(() => void worker.terminate(), 2000);
    await exited;
    clearTimeout(timer);
  }
}

/** The SQLite dialect, answered by a query thread over the database file at `path`. */
export function threadedSqliteDialect(path: string, opts: UsageThreadOptions = {}): Dialect & { thread: UsageThread } {
  const thread = new UsageThread(path, opts);
  return {
    thread,
    placeholder: () => '?',
    epoch: "CAST(strftime('%s', ts) AS INTEGER)",
    day: 'substr(ts, 1, 10)',
    ...SQLITE_ROLLUP_READS,
    // On this thread, through a short-lived connection to the side file: the table is small, and
    // `warden serve` migrates it at start without starting the query thread before a query needs it.
    migrate: async () => {
      const side = openSqlite(opts.sidePath ?? usageSidePath(path));
      try { migrateSqlite(side, 'ui_usage', SQLITE_USAGE_MIGRATIONS); } finally { side.close(); }
    },
    catchUp: (fromTs, limit) => thread.call<{ copied: number; lastTs: string | null }>('catchUp', [fromTs, limit]),
    newest: () => thread.call<string | null>('newest'),
    run: (sql, args) => thread.call<Row[]>('run', [sql, args]),
    close: () => thread.close(),
  };
}
