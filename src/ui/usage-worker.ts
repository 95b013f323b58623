/**
 * Entry point of the dashboard's usage-query thread (see usage-thread.ts). It opens its own
 * connections and runs usage.ts's SQLite dialect on them, answering the main thread's calls one
 * at a time, in order:
 *
 *   main  the side file (`usage_rows` and its migration record), the only file this thread writes;
 *   ev    the gateway's database file, attached, only read (`events`).
 *
 * Unqualified names resolve to `main` first, so the dialect's SQL runs unchanged. Reads of `ev`
 * in WAL mode neither wait for nor block the gateway's writer; the catch-up INSERT takes the
 * write lock of the side file only, so the gateway's writer (whose wait would block its event
 * loop) never waits for it. busy_timeout covers another process on the same side file.
 *
 * One more way a reader can slow the gateway's writer: while a read of `ev` holds its snapshot,
 * the gateway's next write cannot restart the WAL, so it grows past the auto-checkpoint size and
 * every later commit runs a checkpoint on the gateway's thread (measured: 20-50 ms per append
 * during a catch-up). So the catch-up reads `events` in short statements (CATCH_UP_SLICE rows,
 * tens of milliseconds) and, between them, completes the checkpoint itself (PASSIVE: it waits
 * for nobody), here, off the gateway's thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqlite } from '../store/sqlite.ts';
import { lowerThreadPriority } from '../store/worker-entry.ts';
import { sqliteDialect } from './usage.ts';
import type { FromUsageWorker, ToUsageWorker, UsageWorkerInit } from './usage-thread.ts';

lowerThreadPriority();
const port = parentPort!;
const init = workerData as UsageWorkerInit;
const db = openSqlite(init.sidePath);
db.pragma(`busy_timeout = ${Math.max(0, Math.floor(init.busyTimeoutMs))}`);
db.prepare('ATTACH DATABASE ? AS ev').run(init.path);
const d = sqliteDialect(db);

/** Rows per catch-up statement (one read snapshot of `ev`); see above. */
const CATCH_UP_SLICE = 2000;

async function catchUp(fromTs: string, limit: number): Promise<{ copied: number; lastTs: string | null }> {
  let copied = 0;
  let lastTs: string | null = null;
  let from = fromTs;
  while (copied < limit) {
    const want = Math.min(CATCH_UP_SLICE, limit - copied);
    const r = await d.catchUp(from, want);
    copied += r.copied;
    if (r.lastTs !== null && (lastTs === null || r.lastTs > lastTs)) lastTs = r.lastTs;
    db.pragma('ev.wal_checkpoint(PASSIVE)');
    if (r.copied < want || r.lastTs === null) break;
    from = r.lastTs;
  }
  return { copied, lastTs };
}

async function handle(m: Extract<ToUsageWorker, { type: 'call' }>): Promise<unknown> {
  switch (m.op) {
    case 'migrate': return d.migrate();
    case 'newest': return d.newest();
    case 'catchUp': return catchUp(String(m.args[0]), Number(m.args[1]));
    case 'run': return d.run(String(m.args[0]), m.args[1] as unknown[]);
    default: throw new Error(`unknown operation ${String(m.op)}`);
  }
}

let queue: Promise<void> = Promise.resolve();
port.on('message', (m: ToUsageWorker) => {
  if (m.type === 'fault') process.exit(70);
  queue = queue.then(async () => {
    if (m.type === 'close') {
      db.close();
      port.close();
      return;
    }
    let reply: FromUsageWorker;
    try {
      reply = { type: 'reply', id: m.id, value: await handle(m) };
    } catch (err) {
      const e = err as { message?: string; code?: unknown; name?: string };
      reply = { type: 'reply', id: m.id, error: { message: e?.message ?? String(err), code: typeof e?.code === 'string' ? e.code : undefined, name: e?.name } };
    }
    try {
      port.postMessage(reply);
    } catch (err) {
      port.postMessage({ type: 'reply', id: m.id, error: { message: `answer could not be sent: ${(err as Error).message}` } } satisfies FromUsageWorker);
    }
  });
});
