/** Event times: read fast, as the detector and the log readers need them for every event. */
import { charCodeAt } from './chars.ts';

/**
 * How much older than an event before it an event may be before a log counts as out of time
 * order: a gateway records an event when its documents are read, up to `documents.max_wait_ms` +
 * the reading's own bounds later (32 s by default).
 */
export const LATE_EVENT_TOLERANCE_MS = 5 * 60_000;

/** ISO 8601 with a date, a time and a zone: anything else (a zone-less time reads as local time) is not an event time. */
const ZONED_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;

/**
 * Milliseconds since the epoch of an ISO 8601 UTC time as events carry it
 * (`2026-04-06T00:00:00.000Z`), without Date.parse on the hot path; other forms fall back to it.
 */
export function parseIsoMs(ts: string): number {
  // The same event's time is read several times in a row (the reader's check, the scan, the
  // detector), and neighbouring events often share it: the last answer is kept.
  if (ts === lastTs) return lastMs;
  const ms = readIsoMs(ts);
  lastTs = ts; lastMs = ms;
  return ms;
}
let lastTs = '';
let lastMs = NaN;

function readIsoMs(ts: string): number {
  if (ts.length === 24 && charCodeAt(ts, 23) === 90 && charCodeAt(ts, 10) === 84 && charCodeAt(ts, 19) === 46) {
    // Digits read inline (a helper closure here costs more than the arithmetic).
    const y = (charCodeAt(ts, 0) - 48) * 1000 + (charCodeAt(ts, 1) - 48) * 100 + (charCodeAt(ts, 2) - 48) * 10 + charCodeAt(ts, 3) - 48;
    const mo = (charCodeAt(ts, 5) - 48) * 10 + charCodeAt(ts, 6) - 48; const da = (charCodeAt(ts, 8) - 48) * 10 + charCodeAt(ts, 9) - 48;
    const h = (charCodeAt(ts, 11) - 48) * 10 + charCodeAt(ts, 12) - 48; const mi = (charCodeAt(ts, 14) - 48) * 10 + charCodeAt(ts, 15) - 48;
    const se = (charCodeAt(ts, 17) - 48) * 10 + charCodeAt(ts, 18) - 48;
    const ms = (charCodeAt(ts, 20) - 48) * 100 + (charCodeAt(ts, 21) - 48) * 10 + charCodeAt(ts, 22) - 48;
    if (mo >= 1 && mo <= 12 && da >= 1 && da <= 31 && h < 24 && mi < 60 && se < 60 && ms >= 0 && ms < 1000 && y >= 1970) {
      // Days from civil (Howard Hinnant's algorithm).
      const yy = mo <= 2 ? y - 1 : y;
      const era = Math.floor(yy / 400);
      const yoe = yy - era * 400;
      const doy = Math.floor((153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5) + da - 1;
      const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
      const days = era * 146097 + doe - 719468;
      return ((days * 24 + h) * 60 + mi) * 60_000 + se * 1000 + ms;
    }
  }
  return ZONED_TIME.test(ts) ? Date.parse(ts) : NaN;
}
