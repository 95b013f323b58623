/**
 * `events.retention_days`: events older than the retention period are deleted, at start and then
 * every hour, off the request path (the deletes go in small chunks, yielding between them, and never
 * wait in SQLite: SqliteEventStore.deleteBefore).
 */
import type { EventStore } from './events.ts';

export const RETENTION_CHECK_MS = 60 * 60_000;
const DAY_MS = 24 * 60 * 60_000;

export interface EventRetention { stop(): Promise<void> }

/** A line for the operator, with its level and stable code (the serving node's JSON log). */
export type RetentionLog = (line: string, meta: { level: 'info' | 'error'; code: 'EVENT_RETENTION_DELETED' | 'EVENT_RETENTION_FAILED' }) => void;

export function startEventRetention(events: EventStore, days: number, opts: { log: RetentionLog; now?: () => number; everyMs?: number }): EventRetention {
  const now = opts.now ?? Date.now;
  let running: Promise<void> = Promise.resolve();
  const sweep = () => {
    running = running.then(async () => {
      const cutoff = new Date(now() - days * DAY_MS).toISOString();
      try {
        const n = await events.deleteBefore(cutoff);
        if (n > 0) opts.log(`events: deleted ${n} events recorded before ${cutoff} (events.retention_days: ${days})`, { level: 'info', code: 'EVENT_RETENTION_DELETED' });
      } catch (err) {
        opts.log(`events: retention sweep failed, retried in an hour: ${(err as Error).message}`, { level: 'error', code: 'EVENT_RETENTION_FAILED' });
      }
    });
  };
  sweep();
  const timer = setInterval(sweep, opts.everyMs ?? RETENTION_CHECK_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
