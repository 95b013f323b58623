/**
 * How far this node's clock is from the shared database's. The nodes of a fleet stamp events,
 * ledger entries and the replicas' stream batches with their own clocks: the detector worker takes
 * its event time from the events (one node a day ahead moves it a day ahead for every account), and
 * the worker skips stream batches by their time (2 s of tolerance). The database's clock is the
 * one every node reaches, so each node measures against it and says when it is off.
 */
import type { PgPool } from './postgres.ts';
import { timed, PG_TIMEOUTS_MS } from './postgres.ts';

/** Past this many seconds either way the node says so (the stream's tolerance between clocks). */
export const CLOCK_SKEW_WARN_S = 2;
/** A reading whose round trip took longer than this cannot place the server's instant closely enough. */
const MAX_ROUND_TRIP_MS = 1_000;
const CHECK_EVERY_MS = 60_000;

export type ClockLine = (line: string, meta: { level: 'warn' | 'info'; code: 'CLOCK_SKEW' | 'CLOCK_SKEW_RESOLVED'; fields: { offset_seconds: number } }) => void;

export interface ClockOffsetWatch {
  /** This node's clock minus the database's, seconds (positive: ahead); null until measured. */
  offsetSeconds(): number | null;
  /** Measure now (also run every `everyMs`). Never throws: an unreachable database keeps the last offset. */
  check(): Promise<void>;
  stop(): void;
}

/** The database server's clock, ms since the epoch (`clock_timestamp()`: the instant, not the transaction's start). */
export async function postgresClockMs(pool: PgPool): Promise<number> {
  const { rows } = await pool.query(timed('SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms', [], PG_TIMEOUTS_MS.read));
  return Number(rows[0].ms);
}

export function watchClockOffset(opts: { read: () => Promise<number>; log: ClockLine; now?: () => number; everyMs?: number }): ClockOffsetWatch {
  const now = opts.now ?? Date.now;
  let offset: number | null = null;
  let skewed = false;
  const check = async () => {
    let serverMs: number;
    const sent = now();
    try { serverMs = await opts.read(); } catch { return; }
    const received = now();
    if (received - sent > MAX_ROUND_TRIP_MS) return;
    offset = Math.round(((sent + received) / 2 - serverMs)) / 1000;
    const fields = { offset_seconds: offset };
    if (!skewed && Math.abs(offset) > CLOCK_SKEW_WARN_S) {
      skewed = true;
      opts.log(`clock: this node's clock is ${Math.abs(offset).toFixed(1)} s ${offset > 0 ? 'ahead of' : 'behind'} the database's (more than ${CLOCK_SKEW_WARN_S} s): its events and ledger entries carry that time, and the detector worker takes its event time from them; synchronise the clocks of every node (NTP, chrony)`, { level: 'warn', code: 'CLOCK_SKEW', fields });
    } else if (skewed && Math.abs(offset) <= CLOCK_SKEW_WARN_S / 2) {
      skewed = false;
      opts.log(`clock: this node's clock agrees with the database's again (${offset.toFixed(1)} s)`, { level: 'info', code: 'CLOCK_SKEW_RESOLVED', fields });
    }
  };
  const every = opts.everyMs ?? CHECK_EVERY_MS;
  const timer = every > 0 ? setInterval(() => { void check(); }, every) : null;
  timer?.unref();
  return { offsetSeconds: () => offset, check, stop: () => { if (timer) clearInterval(timer); } };
}
