/**
 * Entry point of the region fill's thread (region-fill.ts): it opens its own connection to the log
 * (as the writer thread does), fills the region columns, and reports its progress lines, then
 * `done`. A `stop` message stops it after the chunk under way. Off the gateway's thread: parsing
 * the leaves costs about 22 µs each, and on SQLite each chunk's commit waits for its fsync.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteLedgerStorage } from './sqlite.ts';
import type { LedgerStorage, WriterConnection } from './storage.ts';
import { fillRegionColumns } from './region-fill.ts';
import { lowerThreadPriority } from '../store/worker-entry.ts';

export type FromRegionFill = { type: 'log'; line: string } | { type: 'done'; filled: number; finished: boolean } | { type: 'error'; message: string };

lowerThreadPriority();
const port = parentPort!;
const init = workerData as { connection: WriterConnection; chunkRows?: number; progressEveryMs?: number };
const stop = new AbortController();
port.on('message', (m: unknown) => { if (m === 'stop') stop.abort(); });
const post = (m: FromRegionFill) => port.postMessage(m);

async function main(): Promise<void> {
  let storage: LedgerStorage | null = null;
  try {
    const c = init.connection;
    if (c.driver === 'sqlite') storage = SqliteLedgerStorage.open(c.path);
    else {
      const [{ PostgresLedgerStorage }, { openPostgres }] = await Promise.all([import('./postgres.ts'), import('../store/postgres.ts')]);
      storage = new PostgresLedgerStorage(openPostgres(c.url, { max: 1 }), c.schema, { ownsPool: true });
    }
    const r = await fillRegionColumns(storage, { log: (line) => post({ type: 'log', line }), chunkRows: init.chunkRows, progressEveryMs: init.progressEveryMs, signal: stop.signal });
    post({ type: 'done', ...r });
  } catch (err) {
    post({ type: 'error', message: (err as Error)?.message ?? String(err) });
  } finally {
    await storage?.close().catch(() => {});
    port.close();
  }
}

void main();
