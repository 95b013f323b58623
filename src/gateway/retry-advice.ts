/**
 * An upstream's error that asks the client to wait longer than `limits.max_retry_advice_s` (its
 * own daily quota, an overload announced for an hour) is relayed with `x-should-retry: false`, the
 * rule Warden's own 429s follow (src/limits/headers.ts): the official SDKs read that header before
 * anything else, and would otherwise sleep for whatever `retry-after-ms` / `retry-after` says,
 * however long, then send the request again. The wait itself is passed on for clients that
 * schedule their own retry.
 */

/** Default of `limits.max_retry_advice_s`, for a gateway built without it. */
export const DEFAULT_MAX_RETRY_ADVICE_S = 60;

/** The wait an answer's headers ask for, ms (`retry-after-ms`, then `retry-after` in seconds or as an HTTP date, as the SDKs read them); null: none. */
export function askedWaitMs(headers: Record<string, string>, now = Date.now()): number | null {
  const ms = headers['retry-after-ms'];
  if (ms !== undefined && ms.trim() !== '') {
    const n = Number(ms);
    if (Number.isFinite(n)) return n;
  }
  const after = headers['retry-after'];
  if (after === undefined || after.trim() === '') return null;
  const seconds = Number(after);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const at = Date.parse(after);
  return Number.isNaN(at) ? null : at - now;
}

/** Marks `headers` (an error's, as they go to the client) not worth retrying when the wait they ask for is past `maxRetryAdviceS`. */
export function adviseAgainstLongWait(headers: Record<string, string>, maxRetryAdviceS: number, now = Date.now()): Record<string, string> {
  const wait = askedWaitMs(headers, now);
  if (wait !== null && wait > maxRetryAdviceS * 1000) headers['x-should-retry'] = 'false';
  return headers;
}
