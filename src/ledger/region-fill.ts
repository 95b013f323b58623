/**
 * The fill of the region columns (records.ts regionColumns) of entries stored before they existed
 * (ledger migration 2), or by an older release since: their leaves are read and parsed, a chunk of
 * rows per transaction, the lowest indexes first. The state is the rows themselves (a row without
 * `region_state` is not filled), so a fill stopped half-way (a crash, a restart) goes on where it
 * stopped at the next start, and nodes filling one PostgreSQL log at once share the rows. Queries
 * by region read the leaves of rows not filled yet meanwhile, so their answers never wait for it.
 * It runs in the background of `warden serve` (Ledger option `regionFill`), not before it listens,
 * in a thread of its own (region-fill-worker.ts) when the storage can be reopened there.
 */
import { regionColumnsOfLeaf } from './records.ts';
import type { LedgerStorage } from './storage.ts';

export interface RegionFillOptions {
  /** Progress lines (the server's log): at the start, every `progressEveryMs`, at the end. */
  log?: (line: string) => void;
  /** ms between progress lines; 0 for one per chunk. Default 10,000. */
  progressEveryMs?: number;
  /** Rows per transaction. Default REGION_FILL_CHUNK_ROWS. */
  chunkRows?: number;
  /** Stops the fill after the chunk under way (the ledger closing). */
  signal?: AbortSignal;
  /** Run after each committed chunk (a test stops the fill there, as a crash would). */
  afterChunk?: () => void | Promise<void>;
}

/**
 * Rows per fill transaction: about 10 ms of CPU on an idle core (parsing a leaf costs about 20 µs),
 * so the writer's commits, which wait for the chunk on SQLite (and the event loop, when the fill runs
 * on the caller's thread), are held that long at most.
 */
export const REGION_FILL_CHUNK_ROWS = 500;
const PROGRESS_MS = 10_000;

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** Fill every row without region columns; resolves to how many were filled and whether none is left. */
export async function fillRegionColumns(storage: LedgerStorage, opts: RegionFillOptions = {}): Promise<{ filled: number; finished: boolean }> {
  const total = await storage.regionsUnfilled();
  if (total === 0) return { filled: 0, finished: true };
  const log = opts.log;
  const every = opts.progressEveryMs ?? PROGRESS_MS;
  const chunk = opts.chunkRows ?? REGION_FILL_CHUNK_ROWS;
  log?.(`ledger: filling the region columns (client country and subdivision) of ${fmt(total)} entries stored before they were indexed, from their leaves; ` +
    'until then a query by region reads those leaves itself; an interrupted fill goes on from where it stopped at the next start');
  const t0 = performance.now();
  let last = t0;
  let filled = 0;
  for (;;) {
    if (opts.signal?.aborted) {
      log?.(`ledger: region columns: ${fmt(filled)} entries filled, stopped with about ${fmt(Math.max(0, total - filled))} left (the next start goes on)`);
      return { filled, finished: false };
    }
    const n = await storage.fillRegions(chunk, regionColumnsOfLeaf);
    filled += n;
    if (n === 0) {
      log?.(`ledger: region columns filled: ${fmt(filled)} entries in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return { filled, finished: true };
    }
    await opts.afterChunk?.();
    const now = performance.now();
    if (log && now - last >= every) {
      last = now;
      const rate = filled / Math.max((now - t0) / 1000, 1e-3);
      log(`ledger: filling the region columns: ${(100 * Math.min(filled, total) / total).toFixed(1)}% (${fmt(filled)} of ${fmt(total)} entries) at ${fmt(rate)} entries/s, about ${Math.max(1, Math.round((total - filled) / rate))} s left`);
    }
    // A turn of the event loop between chunks: the requests this thread serves go first.
    await new Promise((r) => setImmediate(r));
  }
}
