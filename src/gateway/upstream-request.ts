/**
 * The request to the upstream and what comes back around it, shared by every route that forwards:
 * the headers sent (the client's API headers, the upstream's credentials), the headers passed
 * back, and a failed call as the error the client gets.
 */
import { errors as undiciErrors } from 'undici';
import { WardenError } from '../errors/index.ts';
import { HeaderPick, type UpstreamHead } from './upstream-call.ts';
import { adviseAgainstLongWait } from './retry-advice.ts';
import type { InteractionContext } from './lifecycle.ts';
import type { Upstream } from './upstreams.ts';
import type { Context } from './interaction-state.ts';

/** Client request headers passed on to the upstream (everything else, credentials first, stays here). */
const FORWARDED_HEADERS = ['anthropic-version', 'anthropic-beta', 'openai-beta', 'accept-language'];

/**
 * The built-in mock's answer-length headers, passed on only to the mock this process started and
 * only with `mock.answer_length_headers` (`Upstream.mockLengthHeaders`): `warden redteam` asks
 * for each simulated answer's length with them. No other `x-mock-*` header ever goes (failures are
 * asked for with a `mock-fail-*` model name), and a configured upstream gets none of them.
 */
export const MOCK_LENGTH_HEADERS = ['x-mock-output-tokens', 'x-mock-reasoning-tokens'] as const;
/** The largest length passed: more than any model writes in one answer; a larger or malformed value is dropped. */
export const MOCK_LENGTH_MAX = 131_072;

/**
 * Upstream response headers passed back to the client. `x-should-retry` and `retry-after-ms` are
 * what the official SDKs read first to decide whether and when to retry (then `retry-after`,
 * which is passed on errors only). The upstream's rate-limit headers are passed only on its 429
 * (`passUpstreamRateLimit`): on every other answer they would describe Warden's upstream account,
 * and Warden's limits send the client's own.
 */
const RETRY_HEADERS = ['x-should-retry', 'retry-after-ms'] as const;

/** Rate-limit headers in both dialects (OpenAI's `x-ratelimit-*`, Anthropic's `anthropic-ratelimit-*`), as src/limits/headers.ts writes them. */
export const RATE_LIMIT_HEADERS: readonly string[] = [
  ...['requests', 'tokens'].flatMap((s) => ['limit', 'remaining', 'reset'].map((k) => `x-ratelimit-${k}-${s}`)),
  ...['requests', 'tokens', 'input-tokens', 'output-tokens'].flatMap((s) => ['limit', 'remaining', 'reset'].map((k) => `anthropic-ratelimit-${s}-${k}`)),
];
export const RETURNED_HEADERS = new HeaderPick(['request-id', 'x-request-id', 'openai-processing-ms', 'openai-version', ...RETRY_HEADERS], RATE_LIMIT_HEADERS);

/** The upstream's retry advice from its response head, for an error Warden answers in its stead. */
export function upstreamRetryHeaders(head: UpstreamHead): Record<string, string> {
  const h: Record<string, string> = {};
  if (head.retryAfter !== null) h['retry-after'] = head.retryAfter;
  for (const name of RETRY_HEADERS) if (head.passed[name] !== undefined) h[name] = head.passed[name];
  return h;
}

/**
 * Whose rate-limit headers an upstream's 429 carries to the client (`limits.upstream_rate_limit_headers`):
 * `pass`, the upstream's (the provider's meter that refused, and its reset); `warden`, Warden's own,
 * so that customers never read the limits of the operator's account with the provider.
 */
export type UpstreamRateLimitHeaders = 'pass' | 'warden';

/**
 * The upstream refused with 429: its rate-limit headers are the client's to see (which of the
 * provider's meters is spent, and when it resets), so they replace Warden's in the answer's
 * headers (`responseHeaders`, which every answer to the request is built from). All of Warden's
 * go when the upstream sent any, so that a client never reads one limiter's remaining requests
 * beside the other's remaining tokens; when it sent none, Warden's stay. Its `retry-after`,
 * `retry-after-ms` and `x-should-retry` are passed on every error already. With `mode` `warden`
 * nothing changes: Warden's stay, the provider's account limits are not shown.
 */
export function passUpstreamRateLimit(head: UpstreamHead, responseHeaders: Record<string, string>, mode: UpstreamRateLimitHeaders = 'pass'): void {
  if (head.statusCode !== 429 || mode !== 'pass') return;
  let any = false;
  for (const _ in head.rateLimit) { any = true; break; }
  if (!any) return;
  for (const name of RATE_LIMIT_HEADERS) delete responseHeaders[name];
  for (const name in head.rateLimit) responseHeaders[name] = head.rateLimit[name];
}

/**
 * The head of an answer read whole with undici's `request` (token counting, stored answers), as a
 * forwarded call reads its own (`UpstreamCall`): the headers Warden passes, each only when sent
 * once, and the rate-limit headers on a 429 only.
 */
export function headOfAnswer(statusCode: number, headers: Readonly<Record<string, string | string[] | undefined>>): UpstreamHead {
  const once = (name: string): string | null => { const v = headers[name]; return typeof v === 'string' ? v : null; };
  const passed: Record<string, string> = {};
  for (const name of RETURNED_HEADERS.passed) { const v = once(name); if (v !== null) passed[name] = v; }
  const rateLimit: Record<string, string> = {};
  if (statusCode === 429) for (const name of RETURNED_HEADERS.rateLimit) { const v = once(name); if (v !== null) rateLimit[name] = v; }
  const ct = headers['content-type'];
  return { statusCode, contentType: Array.isArray(ct) ? ct.join(',') : ct ?? '', retryAfter: once('retry-after'), passed, rateLimit };
}

/**
 * An upstream's error whose body is not the API's (a load balancer's text, or none), as Warden's
 * own error in the client's format, keeping what the SDKs act on: a 429 or 503 status and the
 * upstream's retry advice (`x-should-retry: false` added past `maxRetryAdviceS`).
 */
export function unreadableUpstreamError(head: UpstreamHead, maxRetryAdviceS: number): WardenError {
  const headers = adviseAgainstLongWait(upstreamRetryHeaders(head), maxRetryAdviceS);
  const message = `The upstream model API failed with status ${head.statusCode}.`;
  if (head.statusCode === 429) return new WardenError('WARDEN_UPSTREAM_RATE_LIMITED', message, { headers });
  return new WardenError('WARDEN_UPSTREAM_ERROR', message, { status: head.statusCode >= 500 && head.statusCode !== 503 ? 502 : head.statusCode, headers });
}

/** Headers of the request to the upstream: the client's API headers, the upstream's own credentials. */
export function upstreamHeaders(ctx: InteractionContext, upstream: Upstream | null): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', accept: ctx.stream ? 'text/event-stream' : 'application/json' };
  for (const name of FORWARDED_HEADERS) {
    const v = ctx.headers[name];
    if (typeof v === 'string') h[name] = v;
  }
  if (ctx.wire === 'anthropic' && !h['anthropic-version']) h['anthropic-version'] = '2023-06-01';
  if (upstream?.mockLengthHeaders) {
    for (const name of MOCK_LENGTH_HEADERS) {
      const v = ctx.headers[name];
      if (typeof v === 'string' && /^\d{1,6}$/.test(v) && Number(v) <= MOCK_LENGTH_MAX) h[name] = v;
    }
  }
  if (upstream?.apiKey) {
    if (ctx.wire === 'anthropic') h['x-api-key'] = upstream.apiKey;
    else h.authorization = `Bearer ${upstream.apiKey}`;
  }
  return h;
}

/**
 * The statuses by which an upstream refuses the credential Warden sends it (`upstreams[].api_key`:
 * unknown, revoked, or without access to the model or the feature). The client's own key is never
 * forwarded, so neither is ever about the client.
 */
const CREDENTIAL_REFUSALS = new Set([401, 403]);
/** At most one warning a minute per upstream and status: a refused credential refuses every request. */
const WARN_EVERY_MS = 60_000;
const warned = new WeakMap<Upstream, Map<number, number>>();

/** An upstream's error message as logged: anything that looks like a credential, masked or not, replaced. */
export function loggableUpstreamMessage(message: unknown, apiKey: string | null): string | null {
  if (typeof message !== 'string') return null;
  let m = message.slice(0, 300);
  if (apiKey) m = m.split(apiKey).join('[credential]');
  // `sk-proj-****wxyz`, `sk-ant-api03-...`, `Bearer xyz`: the provider's masked echo of the key included.
  return m.replace(/\b(?:bearer\s+)?[\w.-]*\*{3,}[\w.*-]*|\b(?:sk|rk|pk|key)[-_][\w*.-]{6,}|\bbearer\s+\S+/gi, '[credential]');
}

/**
 * An upstream's error body as passed on to the client: the provider's ids of Warden's own account
 * with it (`org-...`, `proj_...`, as OpenAI names them in rate-limit and access errors) and
 * anything that looks like Warden's credential replaced; the rest as the upstream wrote it (the
 * text unchanged, byte for byte, when there is nothing to replace).
 */
export function withoutProviderAccount(text: string, apiKey: string | null): string {
  let out = apiKey && text.includes(apiKey) ? text.split(apiKey).join('[credential]') : text;
  out = out.replace(/\b(org|proj)([-_])[A-Za-z0-9]{12,}\b/g, '$1$2[redacted]')
    .replace(/\bsk-[\w*.-]{6,}|[\w-]*\*{4,}[\w.*-]*/g, '[credential]');
  return out;
}

/**
 * The upstream's 401 or 403 as the error the client gets: Warden's own 502
 * `WARDEN_UPSTREAM_AUTH`, never the upstream's body (it echoes a fragment of the credential and
 * names the provider's account, and the SDKs raise a 401 as an error about the client's own key).
 * The operator is warned, naming the upstream and the setting, with the credential left out. Null
 * for any other status.
 */
export function credentialRefusal(upstream: Upstream, statusCode: number, text: string, log?: { warn(obj: object, msg: string): void }): WardenError | null {
  if (!CREDENTIAL_REFUSALS.has(statusCode)) return null;
  const now = Date.now();
  let last = warned.get(upstream);
  if (!last) { last = new Map(); warned.set(upstream, last); }
  if (log && now - (last.get(statusCode) ?? -Infinity) >= WARN_EVERY_MS) {
    last.set(statusCode, now);
    let reported: Record<string, unknown> = {};
    try {
      const body = JSON.parse(text) as { error?: unknown; message?: unknown };
      const e = body && typeof body.error === 'object' && body.error !== null ? body.error as Record<string, unknown> : body as Record<string, unknown>;
      reported = { type: typeof e.type === 'string' ? e.type : null, code: typeof e.code === 'string' || typeof e.code === 'number' ? e.code : null, message: loggableUpstreamMessage(e.message, upstream.apiKey) };
    } catch { /* not JSON: the status says it */ }
    log.warn({ component: 'gateway', code: 'WARDEN_UPSTREAM_AUTH', upstream: upstream.name, status: statusCode, upstream_error: reported },
      `upstream ${upstream.name} refused Warden's credential (status ${statusCode}): check upstreams[].api_key for it (revoked, mistyped, or without access to the model); clients get 502 WARDEN_UPSTREAM_AUTH until it is fixed (logged at most once a minute)`);
  }
  return new WardenError('WARDEN_UPSTREAM_AUTH', `The upstream model API refused this gateway's own credential (status ${statusCode}). This is not about your API key: the gateway's operator has to fix its configuration.`);
}

/** A failed upstream call as the error the client gets (timeout, unavailable, failed, or why it was aborted). */
export function mapUpstreamFailure(err: unknown, ctx: Pick<Context, 'abortReason'>): WardenError {
  if (ctx.abortReason) {
    const reason = ctx.abortReason;
    if (reason instanceof WardenError) return reason;
    return new WardenError('WARDEN_UPSTREAM_ERROR', 'request aborted', { cause: err });
  }
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    // The upstream had the request and was generating: an SDK's retry (every 5xx is retried
    // otherwise) would start the same long generation again, billed again, and time out again.
    const message = err instanceof undiciErrors.HeadersTimeoutError
      ? "The upstream model API did not answer within this gateway's upstreams[].headers_timeout_ms; not worth retrying as is: stream the answer, or ask the operator to raise the timeout."
      : "The upstream model API went silent mid-answer for longer than this gateway's upstreams[].body_timeout_ms; not worth retrying as is: ask the operator to raise the timeout.";
    return new WardenError('WARDEN_UPSTREAM_TIMEOUT', message, { cause: err, headers: { 'x-should-retry': 'false' } });
  }
  if (err instanceof undiciErrors.ConnectTimeoutError) {
    // Nothing reached the upstream: a retry starts nothing twice.
    return new WardenError('WARDEN_UPSTREAM_TIMEOUT', 'The upstream model API did not answer in time.', { cause: err });
  }
  const code = (err as { code?: string })?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EHOSTUNREACH') {
    return new WardenError('WARDEN_UPSTREAM_UNAVAILABLE', 'The upstream model API is unavailable.', { cause: err });
  }
  return new WardenError('WARDEN_UPSTREAM_ERROR', 'The upstream model API failed.', { cause: err });
}
