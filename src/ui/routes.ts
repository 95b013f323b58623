/**
 * Admin routes the dashboard reads (mounted inside the admin API, so behind its token, validated
 * and listed in /admin/openapi.json):
 *
 *   GET /admin/usage/summary        totals, outcome counts and a time series over a range
 *   GET /admin/usage/top            usage grouped by account, org, key, model, IP, network, country, ASN, API flavour, verdict or service tier
 *   GET /admin/usage/interactions   recent interactions with what the boundary did (newest first, paged)
 *   GET /admin/dashboard/search     accounts and organisations matching a text (id, name, email, domain, signup IP, key prefix)
 *   GET /admin/dashboard/features   which optional operator routes (limits, detector, cases, ledger) this server has
 *   GET /admin/dashboard/accounts   who accounts are (name, email, organisation), by their ids: one read for a page's table
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { AdminRouteRegistrar } from '../admin/index.ts';
import { WardenError } from '../errors/index.ts';
import { DEFAULT_KEY_SCOPES, KEY_SCOPES, KEY_SCOPE_GRANTS, identitySchemas, keyStatus, type IdentityStore } from '../identity/index.ts';
import type { Account, ApiKey, Organisation } from '../identity/types.ts';
import type { RouteCatalog } from './catalog.ts';
import { USAGE_DIMENSIONS, type UsageFilter, type UsageStore } from './usage.ts';

export interface UsageRoutesDeps {
  usage: UsageStore;
  identity: IdentityStore;
  /** Registered routes, for /dashboard/features; without it the features list is empty. */
  catalog?: RouteCatalog;
  /** On a detector replica: the sentence naming the worker node, which serves the detector, cases and intel routes. */
  replicaNotice?: () => Promise<string>;
  /** Prefix the admin API is mounted at (default /admin). */
  adminPrefix?: string;
  /** Clock, for tests. */
  now?: () => number;
}

const RANGES = { '15m': 900, '1h': 3600, '6h': 6 * 3600, '24h': 86400, '7d': 7 * 86400, '30d': 30 * 86400 } as const;
const MAX_SPAN_S = 400 * 86400;
const Id = z.string().min(1).max(200);
/** An account id (the search's paging cursor) and an event id (the interactions' `before`): ULIDs. */
const AccountId = z.string().regex(/^acct_[0-9A-HJKMNP-TV-Z]{26}$/, 'must be an account id (acct_ and 26 characters)');
const EventId = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'must be an interaction id (26 characters)');

const RangeQuery = {
  range: z.enum(Object.keys(RANGES) as [keyof typeof RANGES, ...(keyof typeof RANGES)[]]).optional()
    .describe('Shorthand for the last 15m, 1h, 6h, 24h, 7d or 30d (default 24h when from is absent).'),
  from: z.string().datetime({ offset: true }).optional().describe('Start, ISO 8601 (inclusive).'),
  to: z.string().datetime({ offset: true }).optional().describe('End, ISO 8601 (exclusive); default now.'),
  account_id: Id.optional(),
  org_id: Id.optional(),
  key_id: Id.optional(),
  model: Id.optional(),
  ip: z.string().refine((v) => isIP(v) !== 0, 'must be an IP address').optional(),
};

/** Summary and groupings: one service tier only. */
const ServiceTierQuery = {
  service_tier: z.string().min(1).max(32).optional().describe('Only requests the upstream served on this service tier (`response.service_tier` as it named it: flex, priority, default, standard...).'),
};

const SummaryQuery = z.strictObject({
  ...RangeQuery,
  ...ServiceTierQuery,
  bucket_s: z.coerce.number().int().min(60).max(86400 * 31).optional().describe('Bucket width in seconds (default: chosen for about 60-120 points).'),
});
const TopQuery = z.strictObject({
  ...RangeQuery,
  ...ServiceTierQuery,
  by: z.enum(USAGE_DIMENSIONS),
  sort: z.enum(['requests', 'tokens']).default('requests'),
  limit: z.coerce.number().int().min(1).max(500).default(20),
});
const InteractionsQuery = z.strictObject({
  ...RangeQuery,
  before: EventId.optional().describe('Event id (`next_before` of the previous page): return older interactions.'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
const SearchQuery = z.strictObject({
  q: z.string().trim().min(1).max(200),
  status: identitySchemas.AccountStatus.optional().describe('Only accounts with this status.'),
  tier: identitySchemas.VerificationTier.optional().describe('Only accounts at this verification tier.'),
  cursor: AccountId.optional().describe('`next_cursor` of the previous page.'),
  limit: z.coerce.number().int().min(1).max(100).default(25),
});

/** Accounts named by one read of `GET /admin/dashboard/accounts` (a page of a table, 200 rows at most). */
export const NAMES_MAX = 200;
/** The distinct ids of a `ids` parameter (separated by commas). */
const idList = (v: string) => [...new Set(v.split(',').map((x) => x.trim()).filter(Boolean))];
const NamesQuery = z.strictObject({
  ids: z.string().min(1).max(NAMES_MAX * 201)
    .refine((v) => idList(v).length > 0, 'name at least one account id')
    .refine((v) => idList(v).length <= NAMES_MAX, `at most ${NAMES_MAX} ids at a time`)
    .refine((v) => idList(v).every((x) => x.length <= 200), 'an id is at most 200 characters')
    .describe(`Account ids separated by commas, at most ${NAMES_MAX}; repeated ones count once.`),
});
const NamesSchema = z.object({
  data: z.array(z.object({
    id: z.string(), name: z.string().nullable(), email: z.string().nullable(), org_id: z.string().nullable(),
    org_name: z.string().nullable().describe('the organisation\'s name; null without an organisation'),
  })).describe('the ids the account store holds, in the order asked; an id it does not hold (erased, or known only to the detector) is left out'),
});

const Counts = {
  requests: z.number(), ok: z.number(), limited: z.number(), denied: z.number(), unauthenticated: z.number(),
  client_errors: z.number(), server_errors: z.number(), input_tokens: z.number(),
  cached_input_tokens: z.number().describe('Of input_tokens: read from the provider\'s prompt cache (billed at a fraction of the input price).'),
  cache_write_tokens: z.number().describe('Of input_tokens: written to the provider\'s prompt cache.'),
  output_tokens: z.number(), reasoning_tokens: z.number(),
};
export const UsageSummarySchema = z.object({
  from: z.string(), to: z.string(), bucket_s: z.number(),
  totals: z.object({ ...Counts, accounts: z.number(), ips: z.number() }),
  series: z.array(z.object({ t: z.string(), ...Counts })),
  outcomes: z.array(z.object({ status: z.number(), code: z.string().nullable(), requests: z.number() })),
});
export const UsageTopSchema = z.object({
  by: z.enum(USAGE_DIMENSIONS), from: z.string(), to: z.string(),
  data: z.array(z.object({
    key: z.string().nullable(),
    label: z.string().nullable().describe('Human name for account, org and key groups (account name or email, org name, key prefix).'),
    ...Counts, accounts: z.number(), ips: z.number(), first_ts: z.string(), last_ts: z.string(),
  })),
});
const EnforcementSchema = z.object({
  limit: z.object({ allowed: z.boolean(), scope: z.string(), limit: z.string(), retry_after_s: z.number().nullable() }).nullable(),
  verdict: z.string().nullable(), shaping: z.array(z.string()), policy: z.array(z.string()), watermark: z.string().nullable(),
}).passthrough();
export const InteractionSummarySchema = z.object({
  id: z.string(), ts: z.string(), flavour: z.string(), model: z.string(),
  account_id: z.string().nullable(), org_id: z.string().nullable(), key_id: z.string().nullable(),
  client_ip: z.string(), country: z.string().nullable(), asn: z.number().nullable(), user_agent: z.string().nullable(),
  stream: z.boolean(), status: z.number(), error_code: z.string().nullable(),
  input_tokens: z.number(), cached_input_tokens: z.number(), cache_write_tokens: z.number(), output_tokens: z.number(), reasoning_tokens: z.number(), tool_calls: z.number(),
  finish_reason: z.string().nullable(),
  service_tier: z.string().nullable().describe('The service tier the upstream served the answer on, as it named it; null: none named.'),
  duration_ms: z.number(), ttfb_ms: z.number().nullable(),
  params: z.object({ max_tokens: z.number().nullable(), n: z.number().nullable(), logprobs: z.boolean().nullable(), reasoning_effort: z.string().nullable(), thinking_budget: z.number().nullable() }),
  tools: z.number(), messages: z.number(), prompt_preview: z.string().nullable(),
  enforcement: EnforcementSchema,
});
const InteractionsSchema = z.object({ data: z.array(InteractionSummarySchema), next_before: z.string().nullable() });
const SearchSchema = z.object({
  accounts: z.array(z.object({ id: z.string(), name: z.string().nullable(), email: z.string().nullable(), org_id: z.string().nullable(), tier: z.string(), status: z.string(), created_at: z.string() })),
  orgs: z.array(z.object({ id: z.string(), name: z.string(), tier: z.string(), created_at: z.string() })),
  scanned: z.number().describe('Accounts examined for this page, whether or not they pass the status and tier filters; one page of a text search examines 20,000 accounts at most.'),
  truncated: z.boolean().describe('The page stopped at the 20,000-account scan limit: older accounts were not examined, so more may match; `next_cursor` searches on from there.'),
  next_cursor: z.string().nullable().describe('Pass it as `cursor` for the next page. Set when another account matches (checked within the scan limit) or, when `truncated`, may match; null on the last page.'),
  key: z.object({
    id: z.string(), prefix: z.string(), name: z.string().nullable(), account_id: z.string(), status: z.string(),
    created_at: z.string(), revoked_at: z.string().nullable(), last_used_at: z.string().nullable(),
  }).nullable().describe('The API key the text names (its prefix `wk_live_7Hq2mZ4kP9xa`, its id `key_...`, or a whole key pasted), on the first page; its account is listed first. Null when the text names no key.'),
});
const FeaturesSchema = z.object({
  usage: z.boolean(),
  limits: z.object({ status: z.string().nullable(), overrides: z.string().nullable(), explain: z.string().nullable(), account: z.string().nullable().describe('an account\'s limits as they stand now (`:id` in the path)') }),
  ledger: z.object({ base: z.string().nullable(), query: z.string().nullable() }),
  detect: z.object({
    routes: z.array(z.object({ method: z.string(), path: z.string() })),
    replica: z.string().nullable().describe('On a detector replica: where the detector, cases and intel routes are served (the worker node, from its lease); null elsewhere.'),
  }),
  /** Case files and indicator exchange (src/cases): the list route when mounted. */
  cases: z.object({ list: z.string().nullable(), intel: z.string().nullable() }),
  /** Every scope a key can carry, for the key form (src/identity's table: the form cannot fall behind it). */
  key_scopes: z.array(z.object({ scope: identitySchemas.KeyScope, grants: z.string(), default: z.boolean().describe('checked when the form opens') })),
  routes: z.array(z.object({ method: z.string(), path: z.string() })),
});

/** Accounts examined at most by one text search (listing pages of 500, newest first). */
export const SEARCH_SCAN_LIMIT = 20_000;

/** Resolve the time range of a query: explicit from/to, or a `range` shorthand ending now. */
export function resolveRange(q: { range?: keyof typeof RANGES; from?: string; to?: string }, nowMs: number): { from: string; to: string } {
  const toMs = q.to ? Date.parse(q.to) : nowMs;
  const fromMs = q.from ? Date.parse(q.from) : toMs - RANGES[q.range ?? '24h'] * 1000;
  if (!(fromMs < toMs)) throw new WardenError('WARDEN_INVALID_REQUEST', '`from` must be before `to`', { param: 'from' });
  if (toMs - fromMs > MAX_SPAN_S * 1000) throw new WardenError('WARDEN_INVALID_REQUEST', 'the range may span at most 400 days', { param: 'from' });
  return { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
}

function filterOf(q: z.output<typeof TopQuery> | z.output<typeof SummaryQuery> | z.output<typeof InteractionsQuery>, nowMs: number): UsageFilter {
  return {
    ...resolveRange(q, nowMs),
    accountId: q.account_id, orgId: q.org_id, keyId: q.key_id, model: q.model, ip: q.ip,
    ...('service_tier' in q && q.service_tier ? { serviceTier: q.service_tier } : {}),
  };
}

/** The usage and dashboard admin routes. Pass to `adminPlugin`'s `registrars`. */
export function usageAdminRoutes(deps: UsageRoutesDeps): AdminRouteRegistrar {
  const now = deps.now ?? Date.now;
  const adminPrefix = deps.adminPrefix ?? '/admin';
  return (r) => {
    r.component('UsageSummary', UsageSummarySchema);
    r.component('InteractionSummary', InteractionSummarySchema);

    r.route({
      method: 'GET', path: '/usage/summary', operationId: 'usageSummary', tag: 'usage',
      summary: 'Requests, tokens and outcomes over a time range, in time buckets',
      description: 'Outcomes by status: ok (<400), limited (429), denied (403), unauthenticated (401), client_errors (other 4xx), server_errors (>=500).',
      query: SummaryQuery, response: UsageSummarySchema,
      handler: ({ query }) => deps.usage.summary(filterOf(query, now()), query.bucket_s),
    });

    r.route({
      method: 'GET', path: '/usage/top', operationId: 'usageTop', tag: 'usage',
      summary: 'Usage grouped by account, org, key, model, IP, network (/24, /64), country, ASN, API flavour, verdict in force or service tier',
      query: TopQuery, response: UsageTopSchema,
      handler: async ({ query }) => {
        const filter = filterOf(query, now());
        const rows = await deps.usage.top(query.by, filter, { limit: query.limit, sort: query.sort });
        // Accounts are named by one read of the store for the page; keys and organisations one read each.
        const named = query.by === 'account' ? await deps.identity.accountNames(rows.flatMap((row) => (row.key === null ? [] : [row.key]))).catch(() => null) : null;
        const labels = named
          ? rows.map((row) => { const n = row.key === null ? undefined : named.get(row.key); return n ? (n.name ?? n.email ?? null) : null; })
          : await Promise.all(rows.map((row) => labelOf(deps.identity, query.by, row.key)));
        return { by: query.by, from: filter.from, to: filter.to, data: rows.map((row, i) => ({ ...row, label: labels[i] })) };
      },
    });

    r.route({
      method: 'GET', path: '/usage/interactions', operationId: 'usageInteractions', tag: 'usage',
      summary: 'Recent interactions with their enforcement (limits, verdict, shaping, policy), newest first',
      description: 'Without from/to, the whole history is paged with `before`. Prompt text is never returned beyond a 160-character preview of the last user message (only when prompts are recorded).',
      query: InteractionsQuery, response: InteractionsSchema,
      handler: async ({ query }) => {
        const range = query.from || query.to || query.range ? resolveRange(query, now()) : {};
        const data = await deps.usage.interactions({
          ...range, accountId: query.account_id, orgId: query.org_id, keyId: query.key_id, model: query.model, ip: query.ip,
          before: query.before, limit: query.limit,
        });
        return { data, next_before: data.length === query.limit ? data[data.length - 1].id : null };
      },
    });

    r.route({
      method: 'GET', path: '/dashboard/search', operationId: 'dashboardSearch', tag: 'dashboard',
      summary: 'Find accounts and organisations by id, name, email, email domain, signup IP or API key (prefix, id or the whole key)',
      query: SearchQuery, response: SearchSchema,
      description: 'Status and tier filter the accounts before the limit applies; `next_cursor` pages on. Organisations are listed on the first page only.',
      handler: ({ query }) => search(deps.identity, query.q, { limit: query.limit, status: query.status, tier: query.tier, cursor: query.cursor }),
    });

    r.route({
      method: 'GET', path: '/dashboard/accounts', operationId: 'dashboardAccountNames', tag: 'dashboard',
      summary: 'Who accounts are (name, email, organisation by name), by their ids: one read of the account store for a page of a table',
      description: 'The dashboard names the accounts of its tables with it (a case\'s accounts, keys, interactions, the ledger\'s entries) in one request a page, not one per row.',
      query: NamesQuery, response: NamesSchema,
      handler: async ({ query }) => {
        const ids = idList(query.ids);
        const names = await deps.identity.accountNames(ids);
        return { data: ids.flatMap((id) => { const n = names.get(id); return n ? [n] : []; }) };
      },
    });

    r.route({
      method: 'GET', path: '/dashboard/features', operationId: 'dashboardFeatures', tag: 'dashboard',
      summary: 'Which optional operator routes (limits, detector, ledger) this server has, and the scopes a key can carry',
      response: FeaturesSchema,
      handler: async ({ request }) => features(deps.catalog, adminPrefix, (method, url) => {
        // Routes registered before the catalog started watching are still found by the router.
        try { return request.server.hasRoute({ method: method as 'GET', url }); } catch { return false; }
      }, deps.replicaNotice ? await deps.replicaNotice() : null),
    });
  };
}

async function labelOf(identity: IdentityStore, by: string, key: string | null): Promise<string | null> {
  if (key === null) return null;
  try {
    if (by === 'account') {
      const a = await identity.getAccount(key);
      return a ? (a.name ?? a.email ?? null) : null;
    }
    if (by === 'org') return (await identity.getOrg(key))?.name ?? null;
    if (by === 'key') {
      const k = await identity.getKey(key);
      return k ? `${k.prefix}${k.name ? ` (${k.name})` : ''}` : null;
    }
  } catch {
    // A label is a convenience; the row stands without it.
  }
  return null;
}

type AccountHit = z.infer<typeof SearchSchema>['accounts'][number];
const keyHit = (k: ApiKey) => ({
  id: k.id, prefix: k.prefix, name: k.name, account_id: k.account_id, status: keyStatus(k),
  created_at: k.created_at, revoked_at: k.revoked_at, last_used_at: k.last_used_at,
});

/**
 * The lookup id a text names as a key: a key's public prefix (`wk_live_7Hq2mZ4kP9xa`, what key
 * listings, logs and abuse reports show) or a whole key (`<prefix>_<lookup id>_<secret>`, a leaked
 * one pasted as found); null for any other text. The configured prefix is not required: keys
 * minted under an older one are found too.
 */
export function keyLookupId(q: string): string | null {
  const parts = q.split('_');
  if (parts.length < 2 || parts.some((p) => !/^[A-Za-z0-9]+$/.test(p))) return null;
  const last = parts[parts.length - 1];
  if (parts.length >= 3 && last.length >= 32 && parts[parts.length - 2].length === 12) return parts[parts.length - 2];
  return last.length === 12 ? last : null;
}

/** The key a search text names (prefix, whole key or key id), or null. */
async function keyNamed(identity: IdentityStore, q: string): Promise<ApiKey | null> {
  if (/^key_[0-9A-HJKMNP-TV-Z]{26}$/.test(q)) return identity.getKey(q).catch(() => null);
  const lookupId = keyLookupId(q);
  return lookupId ? (await identity.lookupKey(lookupId).catch(() => null))?.key ?? null : null;
}

const accountHit = (a: Account): AccountHit => ({ id: a.id, name: a.name, email: a.email, org_id: a.org_id, tier: a.tier, status: a.status, created_at: a.created_at });
const orgHit = (o: Organisation) => ({ id: o.id, name: o.name, tier: o.tier, created_at: o.created_at });

export interface SearchOptions {
  /** Accounts per page (default 25). */
  limit?: number;
  status?: Account['status'];
  tier?: Account['tier'];
  /** `next_cursor` of the previous page. */
  cursor?: string;
}

/** A text that can be a whole email address (one @, no spaces): looked up exactly first. */
const EMAIL_LIKE = /^[^\s@]+@[^\s@]+$/;

/** A cursor before every account id: the next page starts with the newest account. */
const CURSOR_BEFORE_ALL = `acct_${'Z'.repeat(26)}`;

/**
 * Text search over accounts, newest first, filtered by status and tier and paged.
 * A signup IP is looked up by its index (every match, paged). Any other text is matched
 * (case-insensitively) against id, name and email, examining at most SEARCH_SCAN_LIMIT accounts
 * per page, every account visited counted, whether or not it passes the filters (status and tier
 * have no index, so they are checked here, not by the store); an exact account id comes first.
 * A full page looks on, within the same bound, for one more match: `next_cursor` is set only when
 * one exists (it then points just before it), or when the bound was reached first (`truncated`:
 * more may match). Organisations (by name) are on the first page, and so is the key the text
 * names (its prefix, id, or the whole key: one indexed read), whose account then comes first, and
 * the accounts whose whole email address the text is (an indexed read, beyond the scan's bound).
 */
export async function search(identity: IdentityStore, q: string, opts: SearchOptions = {}): Promise<z.infer<typeof SearchSchema>> {
  const limit = opts.limit ?? 25;
  const filters = { ...(opts.status ? { status: opts.status } : {}), ...(opts.tier ? { tier: opts.tier } : {}) };
  const firstPage = !opts.cursor;
  const orgs = firstPage ? await searchOrgs(identity, q, limit) : [];

  if (isIP(q)) {
    const page = await identity.listAccounts({ ...filters, signup_ip: q, limit, cursor: opts.cursor });
    return { accounts: page.data.map(accountHit), orgs, scanned: page.data.length, truncated: false, next_cursor: page.next_cursor, key: null };
  }

  const accounts: AccountHit[] = [];
  const passes = (a: Account) => (!opts.status || a.status === opts.status) && (!opts.tier || a.tier === opts.tier);
  const named = firstPage ? await keyNamed(identity, q) : null;
  const key = named ? keyHit(named) : null;
  // The account the text names: by its id, or as the owner of the key it names.
  const exact = await identity.getAccount(named?.account_id ?? q).catch(() => null);
  if (exact && firstPage && passes(exact)) accounts.push(accountHit(exact));
  // The accounts with this whole email address (one indexed read), wherever they are: the scan
  // below stops at SEARCH_SCAN_LIMIT, and an abuse report naming an old account's address must
  // still find it. Read on every page so that later pages do not list them again.
  const sameEmail = EMAIL_LIKE.test(q) ? (await identity.listAccounts({ ...filters, email: q, limit }).catch(() => null))?.data ?? [] : [];
  const listed = new Set<string>(exact ? [exact.id] : []);
  for (const a of sameEmail) {
    if (listed.has(a.id)) continue;
    listed.add(a.id);
    if (firstPage) accounts.push(accountHit(a));
  }

  const needle = q.toLowerCase();
  const matches = (a: Account) => !listed.has(a.id) && passes(a)
    && (a.id.toLowerCase().includes(needle) || !!a.name?.toLowerCase().includes(needle) || !!a.email?.toLowerCase().includes(needle));
  let scanned = 0;
  let cursor = opts.cursor;
  // The last account visited and the last one put on the page: a next page starts after one of them.
  let previous = opts.cursor;
  let lastIncluded = opts.cursor;
  for (;;) {
    const page = await identity.listAccounts({ limit: Math.min(500, SEARCH_SCAN_LIMIT - scanned), cursor });
    for (const [i, a] of page.data.entries()) {
      scanned++;
      if (matches(a)) {
        // One match more than the page holds: there is a next page, and it starts with this one.
        if (accounts.length >= limit) return { accounts, orgs, scanned, truncated: false, next_cursor: previous ?? CURSOR_BEFORE_ALL, key };
        accounts.push(accountHit(a));
        lastIncluded = a.id;
      }
      previous = a.id;
      const restLeft = i < page.data.length - 1 || page.next_cursor !== null;
      if (!restLeft) return { accounts, orgs, scanned, truncated: false, next_cursor: null, key };
      if (scanned >= SEARCH_SCAN_LIMIT) {
        // Out of budget: a full page ends at its last match (the rest may hold more), a page
        // that is not full searches on from here.
        const next = accounts.length >= limit ? (lastIncluded ?? CURSOR_BEFORE_ALL) : a.id;
        return { accounts, orgs, scanned, truncated: true, next_cursor: next, key };
      }
    }
    if (!page.next_cursor) return { accounts, orgs, scanned, truncated: false, next_cursor: null, key };
    cursor = page.next_cursor;
  }
}

async function searchOrgs(identity: IdentityStore, q: string, limit: number): Promise<ReturnType<typeof orgHit>[]> {
  const needle = q.toLowerCase();
  const orgs: ReturnType<typeof orgHit>[] = [];
  const exactOrg = await identity.getOrg(q).catch(() => null);
  if (exactOrg) orgs.push(orgHit(exactOrg));
  let orgCursor: string | undefined;
  for (let pages = 0; pages < 20 && orgs.length < limit; pages++) {
    const page = await identity.listOrgs({ limit: 500, cursor: orgCursor });
    for (const o of page.data) if (o.id !== exactOrg?.id && o.name.toLowerCase().includes(needle) && orgs.length < limit) orgs.push(orgHit(o));
    if (!page.next_cursor) break;
    orgCursor = page.next_cursor;
  }
  return orgs;
}

/** Routes the dashboard knows how to show, found in the catalog of registered routes. */
export function features(
  catalog: RouteCatalog | undefined,
  adminPrefix = '/admin',
  hasRoute: (method: string, url: string) => boolean = () => false,
  replica: string | null = null,
): z.infer<typeof FeaturesSchema> {
  const routes = catalog?.list() ?? [];
  const has = (method: string, path: string) => (catalog?.has(method, path) ?? false) || hasRoute(method, path);
  const get = (path: string) => (has('GET', path) ? path : null);
  const first = (paths: string[]) => paths.find((p) => has('GET', p)) ?? null;
  const ledgerBases = [`${adminPrefix}/ledger/v1`, `${adminPrefix}/ledger`, '/ledger/v1'];
  const base = ledgerBases.find((b) => has('GET', `${b}/checkpoint`)) ?? null;
  const query = first(ledgerBases.map((b) => `${b}/query`));
  const detectPrefixes = [`${adminPrefix}/detect`, `${adminPrefix}/verdicts`, `${adminPrefix}/clusters`, `${adminPrefix}/campaigns`];
  return {
    usage: true,
    limits: { status: get(`${adminPrefix}/limits/status`), overrides: get(`${adminPrefix}/limits/overrides`), explain: has('POST', `${adminPrefix}/limits/explain`) ? `${adminPrefix}/limits/explain` : null, account: get(`${adminPrefix}/limits/accounts/:id`) },
    ledger: { base, query },
    detect: { routes: routes.filter((r) => detectPrefixes.some((p) => r.path === p || r.path.startsWith(`${p}/`))), replica },
    cases: { list: get(`${adminPrefix}/cases`), intel: get(`${adminPrefix}/intel`) },
    key_scopes: KEY_SCOPES.map((scope) => ({ scope, grants: KEY_SCOPE_GRANTS[scope], default: DEFAULT_KEY_SCOPES.includes(scope) })),
    routes,
  };
}
