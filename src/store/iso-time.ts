/**
 * ISO 8601 times given by operators (`--from`, `--to`, `--before`, `?from=`): a date
 * (`2026-12-05`, midnight UTC) or a date and time with `Z` or an offset
 * (`2026-12-05T10:00:00Z`, `2026-12-05T10:00:00.5+02:00`). Anything else is refused rather than
 * compared as text: stored times are compared as strings, so `tomorrow` or `9` would sort after
 * every one of them.
 */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/**
 * The time as stored (`Date#toISOString`, UTC, milliseconds), so that string comparisons with
 * stored times are time comparisons; null when `value` is not an ISO 8601 date or date-time
 * (a date-time needs its zone) or names no real day (`2026-02-30`).
 */
export function normalizeIsoTime(value: string): string | null {
  if (!ISO_TIME.test(value)) return null;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) return null;
  const iso = new Date(ms).toISOString();
  // Date.parse rolls 2026-02-30 over to March: the calendar date written must be the one parsed.
  if (value.length === 10 && iso.slice(0, 10) !== value) return null;
  if (value.length > 10 && !/[+-]\d{2}:\d{2}$/.test(value) && iso.slice(0, 10) !== value.slice(0, 10)) return null;
  return iso;
}

/** A strictly positive safe integer written in decimal digits, or null. */
export function parsePositiveInt(value: string): number | null {
  if (!/^\d{1,15}$/.test(value)) return null;
  const n = Number(value);
  return n >= 1 ? n : null;
}
