/**
 * Rate-limit headers in each ecosystem's dialect, the refusal error, and the explanation recorded
 * on the interaction event.
 *
 * OpenAI:    x-ratelimit-{limit,remaining,reset}-{requests,tokens}; reset as a Go duration ("6m0s").
 * Anthropic: anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset};
 *            reset as an RFC 3339 time.
 * Both:      retry-after (seconds) and retry-after-ms on refusals, which both official SDKs honour.
 *            Both SDKs sleep for any retry-after however long, then retry; `x-should-retry: false`
 *            (read before anything else) makes them fail at once instead, so it goes with a wait
 *            longer than `limits.max_retry_advice_s` and with a refusal that can never succeed.
 */
import type { EventEnforcement } from '../events/index.ts';
import { WardenError, type ErrorCode, type WireFlavour } from '../errors/index.ts';
import type { LimitScope } from './config.ts';
import type { LimitDecision, MeterVerdict } from './limiter.ts';
import { goDuration, RETRY_NEVER } from './meters.ts';
import { METER_ABBREV, type MeterKind } from './meter-plan.ts';

function tightest(meters: readonly MeterVerdict[], kinds: readonly MeterKind[]): MeterVerdict | null {
  let best: MeterVerdict | null = null;
  for (const v of meters) {
    if (!kinds.includes(v.meter.kind)) continue;
    if (best === null || v.outcome.remaining < best.outcome.remaining) best = v;
  }
  return best;
}

const REQUESTS: readonly MeterKind[] = ['requests'];
const TOKENS_OPENAI: readonly MeterKind[] = ['tokens_per_minute'];
const TOKENS_ANTHROPIC: readonly MeterKind[] = ['tokens_per_minute', 'input_tokens_per_minute', 'output_tokens_per_minute'];
const INPUT: readonly MeterKind[] = ['input_tokens_per_minute'];
const OUTPUT: readonly MeterKind[] = ['output_tokens_per_minute'];

/** The rate-limit headers for a decision, in the dialect of the endpoint called. */
export function rateLimitHeaders(d: LimitDecision, wire: WireFlavour): Record<string, string> {
  const h: Record<string, string> = {};
  if (d.meters.length === 0) return h;
  if (wire === 'openai') {
    const set = (suffix: string, v: MeterVerdict | null) => {
      if (!v) return;
      h[`x-ratelimit-limit-${suffix}`] = String(Math.floor(v.meter.limit));
      h[`x-ratelimit-remaining-${suffix}`] = String(v.outcome.remaining);
      h[`x-ratelimit-reset-${suffix}`] = goDuration(v.outcome.resetUs);
    };
    set('requests', tightest(d.meters, REQUESTS));
    set('tokens', tightest(d.meters, TOKENS_OPENAI));
  } else {
    const set = (name: string, v: MeterVerdict | null) => {
      if (!v) return;
      h[`anthropic-ratelimit-${name}-limit`] = String(Math.floor(v.meter.limit));
      h[`anthropic-ratelimit-${name}-remaining`] = String(v.outcome.remaining);
      h[`anthropic-ratelimit-${name}-reset`] = new Date(Math.ceil((d.nowUs + v.outcome.resetUs) / 1e6) * 1000).toISOString().replace('.000Z', 'Z');
    };
    set('requests', tightest(d.meters, REQUESTS));
    set('tokens', tightest(d.meters, TOKENS_ANTHROPIC));
    set('input-tokens', tightest(d.meters, INPUT));
    set('output-tokens', tightest(d.meters, OUTPUT));
  }
  if (!d.allowed && d.retryAfterS !== null) {
    h['retry-after'] = String(d.retryAfterS);
    h['retry-after-ms'] = String(d.retryAfterMs ?? d.retryAfterS * 1000);
  }
  return h;
}

/** One-line explanation of a meter: which limit, its value, what is left. */
export function describeMeter(v: MeterVerdict): string {
  const m = v.meter;
  const budget = m.kind === 'daily_budget' || m.kind === 'monthly_budget';
  const parts = [budget ? `${METER_ABBREV[m.kind]}=$${m.limit}` : `${METER_ABBREV[m.kind]}=${m.limit}`];
  if (m.kind === 'requests') parts.push(`burst=${m.burst}`);
  if (m.scope === 'subnet' || m.scope === 'asn' || m.scope === 'cluster') parts.push(`subject=${m.subject}`);
  if (m.model !== null) parts.push(`model=${m.model}`);
  if (m.multiplier !== 1) parts.push(`verdict_multiplier=${m.multiplier}`);
  parts.push(budget ? `remaining=$${(v.outcome.remaining / 1e6).toFixed(6)}` : `remaining=${v.outcome.remaining}`);
  if (!v.outcome.ok) parts.push(v.outcome.retryUs === RETRY_NEVER ? 'never_admissible' : 'refused');
  return parts.join(' ');
}

/** What goes into `event.enforcement.limit`. */
export function enforcementRecord(d: LimitDecision): EventEnforcement['limit'] {
  if (d.mode === 'fail_open') return { allowed: true, scope: 'backend', limit: `unavailable (${d.backendError ?? 'error'}): fail-open`, retry_after_s: null };
  if (d.mode === 'fail_closed') return { allowed: false, scope: 'backend', limit: `unavailable (${d.backendError ?? 'error'}): fail-closed`, retry_after_s: d.retryAfterS };
  const v = d.allowed ? d.tightest : d.binding;
  if (!v) return null;
  const local = d.mode === 'local' ? ' local_fallback' : '';
  return { allowed: d.allowed, scope: v.meter.scope, limit: describeMeter(v) + local, retry_after_s: d.allowed ? null : d.retryAfterS };
}

/** How a scope is named to the client. Clusters and network scopes are not named: they reveal detection. */
const SCOPE_LABEL: Record<LimitScope, string | null> = {
  key: 'API key', account: 'account', org: 'organization', ip: null, subnet: null, asn: null, cluster: null,
};

const CODE: Record<MeterKind, ErrorCode> = {
  requests: 'WARDEN_RATE_LIMITED', tokens_per_minute: 'WARDEN_RATE_LIMITED', input_tokens_per_minute: 'WARDEN_RATE_LIMITED',
  output_tokens_per_minute: 'WARDEN_RATE_LIMITED', tokens_per_day: 'WARDEN_QUOTA_EXCEEDED', daily_budget: 'WARDEN_QUOTA_EXCEEDED',
  monthly_budget: 'WARDEN_QUOTA_EXCEEDED', concurrency: 'WARDEN_CONCURRENCY_LIMITED',
};

/** Default of `limits.max_retry_advice_s`. */
export const MAX_RETRY_ADVICE_S = 60;

/** The answer's budget the request did not name: the parameter that sets it, and the output tokens reserved instead. */
export interface UnsetBudget { param: string; reserved: number }

/**
 * The error thrown for a refused decision (429, or 503 when the backend is down and the mode is
 * fail-closed). A refusal whose wait exceeds `maxRetryAdviceS`, or that no wait ends, says
 * `x-should-retry: false`: the app's call fails at once with the wait in `retry-after` and the
 * message, rather than sleeping in the SDK for minutes or hours (or retrying in vain). A request
 * too large for a token limit is told what to lower: `unsetBudget` when it named no budget.
 */
export function refusalError(d: LimitDecision, wire: WireFlavour, maxRetryAdviceS = MAX_RETRY_ADVICE_S, unsetBudget: UnsetBudget | null = null): WardenError {
  const headers = rateLimitHeaders(d, wire);
  if (d.mode === 'fail_closed') {
    headers['retry-after'] = '1';
    return new WardenError('WARDEN_LIMITS_UNAVAILABLE', 'Rate limiting is temporarily unavailable; retry shortly.', { headers });
  }
  if (d.retryAfterS === null || d.retryAfterS > maxRetryAdviceS) headers['x-should-retry'] = 'false';
  const v = d.binding!;
  const m = v.meter;
  const label = SCOPE_LABEL[m.scope];
  const forWhom = label ? ` for this ${label}` : '';
  const onModel = m.model !== null ? ` on ${m.model}` : '';
  const limit = Math.floor(m.limit);
  const retry = d.retryAfterS === null ? '' : ` Retry after ${d.retryAfterS}s.`;
  let message: string;
  if (v.outcome.retryUs === RETRY_NEVER && m.kind !== 'requests' && m.kind !== 'concurrency' && limit > 0) {
    const larger = `Request is larger than the limit of ${limit} ${describeUnit(m.kind)}${forWhom}${onModel}`;
    message = unsetBudget && m.kind !== 'input_tokens_per_minute'
      ? `${larger}: with no ${unsetBudget.param} in the request, ${unsetBudget.reserved} output tokens are reserved for the answer; set ${unsetBudget.param}, or shorten the input.`
      : `${larger}; lower max_tokens or shorten the input.`;
  } else {
    switch (m.kind) {
      case 'requests': message = `Rate limit reached: ${limit} requests per minute${forWhom}${onModel}.${retry}`; break;
      case 'concurrency': message = `Too many concurrent requests: ${limit} in flight allowed${forWhom}${onModel}.${retry}`; break;
      case 'daily_budget': message = `Daily budget of $${m.limit} exhausted${forWhom}${onModel}.${retry}`; break;
      case 'monthly_budget': message = `Monthly budget of $${m.limit} exhausted${forWhom}${onModel}.${retry}`; break;
      case 'tokens_per_day': message = `Daily token quota of ${limit} exhausted${forWhom}${onModel}.${retry}`; break;
      default: message = `Rate limit reached: ${limit} ${describeUnit(m.kind)}${forWhom}${onModel}.${retry}`;
    }
  }
  return new WardenError(CODE[m.kind], message, { headers });
}

function describeUnit(kind: MeterKind): string {
  switch (kind) {
    case 'tokens_per_minute': return 'tokens per minute';
    case 'tokens_per_day': return 'tokens per day';
    case 'input_tokens_per_minute': return 'input tokens per minute';
    case 'output_tokens_per_minute': return 'output tokens per minute';
    case 'daily_budget': return 'USD per day';
    case 'monthly_budget': return 'USD per month';
    default: return kind;
  }
}
