/**
 * `GET /v1/warden/usage`: a customer's own usage and limits, read with its own API key (the
 * providers' usage APIs take an organisation admin key; a customer behind Warden holds none).
 *
 * Under `/v1/` so that the official SDKs reach it with the base URL they already have
 * (`client.get('/warden/usage')`), and under `warden/`, a segment neither provider's API has and
 * that Warden never forwards (it forwards only the model routes it names), so it cannot clash.
 *
 * What a customer sees, and why no more: the requests and tokens of its account by UTC day and
 * model (its organisation's too with the `usage:read:org` scope), and the meters of its key,
 * account (and, with that scope, organisation) as they stand: limit, used, remaining, resets_at.
 * Not shown: the detector's verdict, cluster, signals or multipliers, and the address, subnet, ASN
 * and cluster meters, which would tell a possibly fraudulent customer what the detector links it
 * to and how close it is to each threshold (the 429 messages leave them unnamed for the same
 * reason: src/limits/headers.ts). A limit is shown as it is enforced (a throttling verdict's
 * multiplier applied), as `x-ratelimit-limit-*` and the refusal messages already say it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { WardenError, requestIdHeaders } from '../errors/index.ts';
import { ulid } from '../events/index.ts';
import { normalizeIsoTime } from '../store/iso-time.ts';
import { clientAddress, extractApiKey, missingApiKeyError, refuseBarred, type Authenticator, type GatewayHooks } from '../gateway/index.ts';
import type { AuthContext } from '../identity/types.ts';
import type { VerdictView } from '../detect/verdict.ts';
import { explainAccount, type ExplainIdentity, type LastRequest } from './account-explain.ts';
import { KeyRate } from './key-rate.ts';
import type { Limiter } from './limiter.ts';

export const USAGE_VIEW_PATH = '/v1/warden/usage';
/** Longest window one request reads, days. */
export const USAGE_VIEW_MAX_DAYS = 31;
/** The window when none is given: today and the six UTC days before it. */
const DEFAULT_DAYS = 7;
const DAY_MS = 86_400_000;

/** Usage counts of one UTC day and model, as the usage store gives them (src/ui/usage.ts `daily`). */
export interface DailyUsage {
  date: string; model: string; requests: number; limited: number; denied: number; unauthenticated: number;
  client_errors: number; server_errors: number; input_tokens: number; cached_input_tokens: number;
  cache_write_tokens: number; output_tokens: number; reasoning_tokens: number;
}

export interface UsageViewDeps {
  authenticator: Authenticator;
  /** The gateway's hooks: a barred account (suspend, verify) is refused here as on the model routes. */
  hooks: readonly GatewayHooks[];
  limiter: Limiter;
  identity: ExplainIdentity;
  verdicts?: VerdictView;
  lastRequest?: (accountId: string) => Promise<LastRequest | null>;
  /** Usage per UTC day and model of an account or an organisation over [from, to). */
  daily(filter: { from: string; to: string; accountId?: string; orgId?: string }): Promise<DailyUsage[]>;
  /** Requests a minute per key, per node (`limits.usage_view.requests_per_minute`, default 12); 0 turns the route off. */
  requestsPerMinute: number;
}

const Query = z.strictObject({
  from: z.string().max(40).optional(),
  to: z.string().max(40).optional(),
  model: z.string().max(256).optional(),
});

/** A date (`2026-12-01`, its UTC midnight) or an ISO 8601 date-time with its zone; null when neither (or no real day). */
function parseTime(v: string): number | null {
  const iso = normalizeIsoTime(v);
  return iso === null ? null : Date.parse(iso);
}

/** The window asked for, checked: [from, to), at most USAGE_VIEW_MAX_DAYS long. */
export function usageWindow(q: { from?: string; to?: string }, now = Date.now()): { from: string; to: string } {
  const time = (name: 'from' | 'to') => {
    const v = q[name];
    if (v === undefined) return undefined;
    const t = parseTime(v);
    if (t === null) throw new WardenError('WARDEN_INVALID_REQUEST', `${name} must be a date (2026-12-01) or an ISO 8601 date-time with its zone (2026-12-01T10:00:00Z).`, { param: name });
    return t;
  };
  const to = time('to') ?? now;
  const from = time('from') ?? Math.floor(to / DAY_MS) * DAY_MS - (DEFAULT_DAYS - 1) * DAY_MS;
  if (from >= to) throw new WardenError('WARDEN_INVALID_REQUEST', 'from must be before to.', { param: 'from' });
  if (to - from > USAGE_VIEW_MAX_DAYS * DAY_MS) {
    throw new WardenError('WARDEN_INVALID_REQUEST', `The window is longer than ${USAGE_VIEW_MAX_DAYS} days; ask for at most ${USAGE_VIEW_MAX_DAYS} days at a time.`, { param: 'from' });
  }
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
}

const TOKENS = ['input_tokens', 'cached_input_tokens', 'cache_write_tokens', 'output_tokens', 'reasoning_tokens'] as const;

/** The rows as a customer reads them: requests, of which refused (403, 429) and failed, and tokens; with totals. */
function usageOf(rows: DailyUsage[]) {
  const data = rows.map((r) => ({
    date: r.date, model: r.model, requests: r.requests, refused: r.limited + r.denied,
    errors: r.client_errors + r.server_errors + r.unauthenticated,
    ...Object.fromEntries(TOKENS.map((k) => [k, r[k]])) as Record<(typeof TOKENS)[number], number>,
  }));
  const totals = { requests: 0, refused: 0, errors: 0, input_tokens: 0, cached_input_tokens: 0, cache_write_tokens: 0, output_tokens: 0, reasoning_tokens: 0 };
  for (const d of data) for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += d[k];
  return { totals, data };
}

/** The scopes whose meters a customer sees (without `usage:read:org`, not its organisation's). */
const VISIBLE_SCOPES = new Set(['key', 'account', 'org']);

async function authenticate(deps: UsageViewDeps, req: FastifyRequest): Promise<AuthContext> {
  const secret = extractApiKey(req.headers);
  if (!secret) throw missingApiKeyError(req.headers);
  const auth = await deps.authenticator.authenticate(secret);
  const scopes = auth.key.scopes;
  if (!scopes.includes('inference') && !scopes.includes('usage:read') && !scopes.includes('usage:read:org')) {
    throw new WardenError('WARDEN_INSUFFICIENT_SCOPE', 'This API key lacks the "usage:read" scope (or "inference").');
  }
  return auth;
}

/** Registers `GET /v1/warden/usage` on the gateway's server. */
export function registerUsageView(app: FastifyInstance, deps: UsageViewDeps): void {
  const rate = deps.requestsPerMinute > 0 ? new KeyRate(deps.requestsPerMinute) : null;
  app.get<{ Querystring: Record<string, string | undefined> }>(USAGE_VIEW_PATH, async (req, reply) => {
    const auth = await authenticate(deps, req);
    refuseBarred({ hooks: [...deps.hooks] }, auth);
    if (!rate) throw new WardenError('WARDEN_RATE_LIMITED', 'The usage view is not available on this gateway (limits.usage_view.requests_per_minute is 0).', { headers: { 'x-should-retry': 'false' } });
    const wait = rate.take(auth.key.id);
    if (wait > 0) {
      const retryS = Math.max(1, Math.ceil(wait / 1000));
      throw new WardenError('WARDEN_RATE_LIMITED', `Rate limit reached: ${deps.requestsPerMinute} usage requests per minute for this API key. Retry after ${retryS}s.`, { headers: { 'retry-after': String(retryS) } });
    }
    const parsed = Query.safeParse(req.query);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const unknown = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
      throw new WardenError('WARDEN_INVALID_REQUEST', unknown !== undefined ? `Unknown query parameter ${unknown}; this route takes from, to and model.` : `${issue.path.join('.')}: ${issue.message}`, { param: unknown ?? (issue.path.join('.') || undefined) });
    }
    const window = usageWindow(parsed.data);
    const account = auth.account;
    const orgId = auth.org?.id ?? account.org_id ?? null;
    const orgView = auth.key.scopes.includes('usage:read:org') && orgId !== null;
    let accountRows: DailyUsage[];
    let orgRows: DailyUsage[] | null = null;
    try {
      [accountRows, orgRows] = await Promise.all([
        deps.daily({ ...window, accountId: account.id }),
        orgView ? deps.daily({ ...window, orgId: orgId! }) : Promise.resolve(null),
      ]);
    } catch (err) {
      if (err instanceof WardenError) throw err;
      throw new WardenError('WARDEN_STORE_UNAVAILABLE', 'Usage cannot be read right now (the event store did not answer); retry shortly.', { headers: { 'retry-after': '1' }, cause: err });
    }
    // The meters as they stand, read without charging (the admin's explanation, narrowed to what the customer may see).
    const explained = await explainAccount(
      { limiter: deps.limiter, identity: deps.identity, verdicts: deps.verdicts, lastRequest: deps.lastRequest },
      account.id, { key: auth.key.id, model: parsed.data.model, ip: clientAddress(req) || undefined },
    );
    const meters = !deps.limiter.config.enabled ? [] : explained.meters
      .filter((m) => VISIBLE_SCOPES.has(m.scope) && (m.scope !== 'org' || orgView))
      .map((m) => ({
        scope: m.scope, model: m.model, meter: m.meter, unit: m.unit, limit: m.limit,
        used: m.used, remaining: m.remaining, resets_at: m.resets_at, retry_after_s: m.retry_after_s,
      }));
    reply.headers(requestIdHeaders(ulid(Date.now())));
    return reply.send({
      object: 'warden.usage',
      account_id: account.id,
      org_id: orgId,
      from: window.from,
      to: window.to,
      usage: { account: usageOf(accountRows), org: orgRows === null ? null : usageOf(orgRows) },
      limits: { model: explained.model || null, read_at: explained.read_at, meters },
    });
  });
}
