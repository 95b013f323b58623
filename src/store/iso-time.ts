/**
 * ISO 8601 times given by operators (`--from`, `--to`, `--before`, `?from=`): a date
 * (`2026-12-05`, midnight UTC) or a date and time with `Z` or an offset
 * (`2026-12-05T10:00:00Z`, `2026-12-05T10:00:00.5+02:00`). Anything else is refused rather than
 * compared as text: stored times are compared as strings, so `tomorrow` or `9` would sort after
 * every one of them.
 */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2})))?$/;

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysIn(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : DAYS[month - 1];
}

/**
 * The time as stored (`Date#toISOString`, UTC, milliseconds), so that string comparisons with
 * stored times are time comparisons; null when `value` is not an ISO 8601 date or date-time
 * (a date-time needs its zone) or names no real day or time (`2026-02-30`, `T24:00`, `T10:60`),
 * whatever its zone.
 */
export function normalizeIsoTime(value: string): string | null {
  const m = ISO_TIME.exec(value);
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // The calendar date as written (Date.parse would roll 2026-02-30 over to March).
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return null;
  if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59 || (m[6] !== undefined && Number(m[6]) > 59))) return null;
  if (m[7] !== undefined && (Number(m[7]) > 23 || Number(m[8]) > 59)) return null;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) return null;
  return new Date(ms).toISOString();
}

/** What an operator is told when `value`, given as `name` (`--from`, `to`), is not such a time. */
export function isoTimeProblem(name: string, value: unknown): string {
  return `${name} must be an ISO 8601 date or date-time with its zone, e.g. 2026-12-05 or 2026-12-05T10:00:00Z (got ${JSON.stringify(value)})`;
}

/** A strictly positive safe integer written in decimal digits, or null. */
export function parsePositiveInt(value: string): number | null {
  if (!/^\d{1,15}$/.test(value)) return null;
  const n = Number(value);
  return n >= 1 ? n : null;
}
