/**
 * Configuration of the limits capability (section `limits:` of warden.yaml). Every key has a
 * default; docs/limits.md explains each one. Limit values: a number is a cap, `null` is
 * "unlimited", and 0 refuses everything on that meter.
 */
import { z } from 'zod';

/** Scopes a request is limited on, from the narrowest to the widest. */
export const LIMIT_SCOPES = ['key', 'account', 'org', 'ip', 'subnet', 'asn', 'cluster'] as const;
export type LimitScope = (typeof LIMIT_SCOPES)[number];

/** What one scope may consume. `undefined` (in partial specs) inherits; `null` is unlimited. */
export interface LimitSpec {
  /** Requests per minute (GCRA emission rate). */
  rpm: number | null;
  /** Requests that may arrive at once above the steady rate; null: rpm/6 (ten seconds' worth), at least 1. */
  burst: number | null;
  /** Tokens (input + output) per minute, rolling. */
  tpm: number | null;
  /** Tokens (input + output) per day, rolling. */
  tpd: number | null;
  /** Input tokens per minute (Anthropic-style separate input limit). */
  input_tpm: number | null;
  /** Output tokens per minute (Anthropic-style separate output limit). */
  output_tpm: number | null;
  /** Requests in flight at once. */
  concurrency: number | null;
  /** Spend per UTC calendar day, USD, priced with `prices`. */
  daily_budget_usd: number | null;
  /** Spend per UTC calendar month, USD. */
  monthly_budget_usd: number | null;
}
export type PartialLimitSpec = Partial<LimitSpec>;

export const LIMIT_FIELDS = ['rpm', 'burst', 'tpm', 'tpd', 'input_tpm', 'output_tpm', 'concurrency', 'daily_budget_usd', 'monthly_budget_usd'] as const satisfies readonly (keyof LimitSpec)[];

const cap = z.number().min(0).nullable();

/** A partial spec, as written in overrides and programme adjustments (strict: typos are errors). */
export const partialLimitSpecSchema = z.object({
  rpm: cap.optional(),
  burst: z.number().min(1).nullable().optional(),
  tpm: cap.optional(),
  tpd: cap.optional(),
  input_tpm: cap.optional(),
  output_tpm: cap.optional(),
  concurrency: cap.optional(),
  daily_budget_usd: cap.optional(),
  monthly_budget_usd: cap.optional(),
}).strict();

const NONE: LimitSpec = {
  rpm: null, burst: null, tpm: null, tpd: null, input_tpm: null, output_tpm: null,
  concurrency: null, daily_budget_usd: null, monthly_budget_usd: null,
};

/** A full spec whose every field defaults to the given value. */
function specSchema(d: PartialLimitSpec) {
  const v = { ...NONE, ...d };
  return z.object({
    rpm: cap.default(v.rpm),
    burst: z.number().min(1).nullable().default(v.burst),
    tpm: cap.default(v.tpm),
    tpd: cap.default(v.tpd),
    input_tpm: cap.default(v.input_tpm),
    output_tpm: cap.default(v.output_tpm),
    concurrency: cap.default(v.concurrency),
    daily_budget_usd: cap.default(v.daily_budget_usd),
    monthly_budget_usd: cap.default(v.monthly_budget_usd),
  }).strict().prefault({});
}

/**
 * Built-in defaults per verification tier. Keys inherit nothing by default (the account limit
 * binds); orgs get a pooled cap so many accounts in one org cannot multiply the account limit
 * without bound.
 */
export const DEFAULT_TIER_LIMITS = {
  unverified: {
    key: {},
    account: { rpm: 20, burst: 5, tpm: 20_000, tpd: 200_000, concurrency: 2 },
    org: { rpm: 60, burst: 15, tpm: 60_000, tpd: 600_000, concurrency: 6 },
  },
  email_verified: {
    key: {},
    account: { rpm: 60, burst: 15, tpm: 80_000, tpd: 2_000_000, concurrency: 5 },
    org: { rpm: 300, burst: 60, tpm: 400_000, tpd: 10_000_000, concurrency: 25 },
  },
  identity_verified: {
    key: {},
    account: { rpm: 500, burst: 100, tpm: 800_000, tpd: 40_000_000, concurrency: 50 },
    org: { rpm: 2_000, burst: 400, tpm: 4_000_000, tpd: 200_000_000, concurrency: 200 },
  },
  enterprise: {
    key: {},
    account: { rpm: 5_000, burst: 1_000, tpm: 8_000_000, tpd: null, concurrency: 500 },
    org: { rpm: 20_000, burst: 4_000, tpm: 40_000_000, tpd: null, concurrency: 2_000 },
  },
} as const satisfies Record<string, Record<'key' | 'account' | 'org', PartialLimitSpec>>;

function tierSchema(d: { key: PartialLimitSpec; account: PartialLimitSpec; org: PartialLimitSpec }) {
  return z.object({ key: specSchema(d.key), account: specSchema(d.account), org: specSchema(d.org) }).strict().prefault({});
}

/**
 * A programme scales its tier's key/account/org limits by `multiplier` (budgets excluded), then
 * applies its own partial specs. Education defaults to half: signup bursts through education
 * programmes are a known distillation channel.
 */
function programmeSchema(multiplier: number) {
  return z.object({
    multiplier: z.number().min(0).default(multiplier),
    key: partialLimitSpecSchema.default({}),
    account: partialLimitSpecSchema.default({}),
    org: partialLimitSpecSchema.default({}),
  }).strict().prefault({});
}

/** One override: limits for a scope's subject (exact id, IP/CIDR, ASN, or `*` for all), optionally for one model pattern. */
export const limitOverrideInputSchema = z.object({
  scope: z.enum(LIMIT_SCOPES),
  /** Key/account/org/cluster id, IP or CIDR (ip and subnet scopes), ASN number, or `*` for every subject. */
  subject: z.string().min(1).max(200),
  /**
   * Model name or prefix ending in `*`. With a model, the limits form separate meters counted
   * only for requests to matching models (in addition to the scope's general limits).
   */
  model: z.string().min(1).max(200).nullable().default(null),
  limits: partialLimitSpecSchema,
  note: z.string().max(1000).nullable().default(null),
  /** ISO time after which the override no longer applies. */
  expires_at: z.string().datetime({ offset: true }).nullable().default(null),
}).strict();
export type LimitOverrideInput = z.infer<typeof limitOverrideInputSchema>;

const priceSchema = z.object({
  /** Model name or prefix ending in `*`. */
  model: z.string().min(1),
  /** USD per million input tokens. */
  input_per_mtok: z.number().min(0),
  /** USD per million output tokens. */
  output_per_mtok: z.number().min(0),
  /** USD per million input tokens read from the provider's prompt cache; absent: input price x `cache.read_price_share`. */
  cache_read_per_mtok: z.number().min(0).optional(),
  /** USD per million input tokens written to the prompt cache; absent: input price x `cache.write_price_share`. */
  cache_write_per_mtok: z.number().min(0).optional(),
}).strict();

export const limitsConfigSchema = z.object({
  enabled: z.boolean().default(true),
  /** `memory`: counters in this process (one node). `redis`: shared by every node. */
  backend: z.enum(['memory', 'redis']).default('memory'),
  redis: z.object({
    /** Redis URL; null: the top-level `redis.url`. */
    url: z.string().nullable().default(null),
    key_prefix: z.string().default('warden:limits:'),
    /**
     * A decision Redis has not answered within this is taken on this node's counters (ms); Redis
     * counts as down only when `breaker.failure_threshold` such decisions in a row are followed by
     * an unanswered PING (given `connect_timeout_ms`). 250: a loaded node or a Redis busy for a
     * moment is slower than a round trip on an idle network, and a request waits this long at most.
     */
    command_timeout_ms: z.number().int().positive().default(250),
    connect_timeout_ms: z.number().int().positive().default(1000),
  }).strict().prefault({}),
  /**
   * When the shared backend is unreachable: `open` admits (noting it on the event), `closed`
   * refuses with 503, `local` decides on this node's own counters until the backend is back.
   */
  on_backend_failure: z.enum(['open', 'closed', 'local']).default('local'),
  breaker: z.object({
    /** Consecutive backend failures that open the circuit. */
    failure_threshold: z.number().int().positive().default(3),
    /** Time the circuit stays open before one probe request is let through (ms). */
    open_ms: z.number().int().positive().default(1000),
  }).strict().prefault({}),
  concurrency: z.object({
    /** A lease not renewed for this long is dropped, so a crashed node does not hold slots (ms). */
    lease_ms: z.number().int().min(1000).default(30_000),
    /** Retry-After sent with a concurrency refusal (s) while every slot is a live request's (when one frees is unknown); a slot held by a dead node's lease says when it expires. */
    retry_after_s: z.number().int().positive().default(1),
  }).strict().prefault({}),
  estimate: z.object({
    /** Characters per token when estimating input tokens before the request is sent. */
    chars_per_token: z.number().positive().default(4),
    /** Output tokens reserved when the request names no max_tokens (or only the policy's ceiling was set for it). */
    default_max_tokens: z.number().int().positive().default(4096),
    /**
     * Input tokens reserved per image, whatever its size: Anthropic bills about width x height / 750,
     * at most about 1,600 for the largest image it reads; OpenAI 85 (low detail) to 765 and more.
     */
    image_tokens: z.number().int().min(0).default(1600),
    /** Input tokens reserved per image sent to OpenAI with `detail: "low"` (85 for most models; more for gpt-4o-mini). */
    low_detail_image_tokens: z.number().int().min(0).default(85),
    /** Input tokens reserved per PDF page: its text (1,500-3,000 tokens a dense page) and the page's picture. */
    pdf_page_tokens: z.number().int().min(0).default(3000),
    /**
     * Input tokens reserved per second of audio (Chat's and Responses' `input_audio`): OpenAI's
     * audio models read about one token per 100 ms of input (600 a minute, what gpt-4o audio input
     * is billed at).
     */
    audio_tokens_per_second: z.number().int().min(0).default(10),
    /**
     * Output tokens a second an upstream model is taken to generate, for an answer whose client
     * left before the upstream's final count: docs/limits.md, "A client that leaves early".
     */
    unseen_tokens_per_second: z.number().min(0).default(100),
    /** The same rate for the models named (first match wins; a name or a prefix ending in `*`). */
    models: z.array(z.object({
      model: z.string().min(1),
      unseen_tokens_per_second: z.number().min(0),
    }).strict()).default([]),
  }).strict().prefault({}),
  tiers: z.object({
    unverified: tierSchema(DEFAULT_TIER_LIMITS.unverified),
    email_verified: tierSchema(DEFAULT_TIER_LIMITS.email_verified),
    identity_verified: tierSchema(DEFAULT_TIER_LIMITS.identity_verified),
    enterprise: tierSchema(DEFAULT_TIER_LIMITS.enterprise),
  }).strict().prefault({}),
  programmes: z.object({
    none: programmeSchema(1),
    education: programmeSchema(0.5),
    research: programmeSchema(1),
    startup: programmeSchema(1),
  }).strict().prefault({}),
  /**
   * Network scopes. Generous by default: enterprises put many keys behind one NAT. Narrow them
   * per network with overrides (`scope: ip`, `subject: 203.0.113.0/24`).
   */
  network: z.object({
    ip: specSchema({ rpm: 3_000, burst: 600, concurrency: 300 }),
    subnet: specSchema({ rpm: 6_000, burst: 1_200, concurrency: 600 }),
    asn: specSchema({}),
    ipv4_subnet_prefix: z.number().int().min(8).max(32).default(24),
    ipv6_subnet_prefix: z.number().int().min(16).max(128).default(64),
  }).strict().prefault({}),
  /** Linked-account clusters named by the detector: the accounts share one budget. */
  cluster: specSchema({ rpm: 1_000, burst: 200, tpm: 2_000_000, tpd: 50_000_000, concurrency: 200 }),
  /** Verdict-driven throttling: limits are multiplied by the factor of the account's verdict level. */
  throttle: z.object({
    multipliers: z.object({
      throttle: z.number().min(0).max(1).default(0.25),
      shape: z.number().min(0).max(1).default(0.25),
      verify: z.number().min(0).max(1).default(0.1),
      suspend: z.number().min(0).max(1).default(0),
    }).strict().prefault({}),
    /** Scopes the multiplier applies to. */
    scopes: z.array(z.enum(LIMIT_SCOPES)).default(['key', 'account', 'cluster']),
  }).strict().prefault({}),
  /** Model prices for budgets (first match wins). */
  prices: z.array(priceSchema).default([]),
  /** Price assumed for models not listed in `prices`. */
  default_price: z.object({
    input_per_mtok: z.number().min(0).default(3),
    output_per_mtok: z.number().min(0).default(15),
    cache_read_per_mtok: z.number().min(0).optional(),
    cache_write_per_mtok: z.number().min(0).optional(),
  }).strict().prefault({}),
  /**
   * Prompt-cache tokens (the event's `cached_input_tokens`, `cache_write_tokens`), metered and
   * priced as the providers bill them rather than as full input.
   */
  cache: z.object({
    /** Share of the input price a cache read costs where a price names no `cache_read_per_mtok` (Anthropic: 0.1). */
    read_price_share: z.number().min(0).default(0.1),
    /** Share of the input price a cache write costs where a price names no `cache_write_per_mtok` (Anthropic, 5-minute cache: 1.25). */
    write_price_share: z.number().min(0).default(1.25),
    /** Count cache reads against `input_tpm` (Anthropic does not count them toward its input rate limit; OpenAI does). Always counted in `tpm`/`tpd`. */
    reads_in_input_tpm: z.boolean().default(false),
  }).strict().prefault({}),
  /**
   * Token counting (`/v1/messages/count_tokens`, `/v1/responses/input_tokens`) spends no model
   * quota; it has this request limit of its own, per key and per node (in memory), in bursts of
   * half a minute's worth, multiplied by the verdict's throttle multiplier. 0 refuses counting.
   */
  token_counting: z.object({
    requests_per_minute: z.number().int().min(0).default(600),
  }).strict().prefault({}),
  /**
   * The customer's own usage and limits (`GET /v1/warden/usage`, docs/limits.md "A customer's own
   * usage"): requests a minute per key and per node (in memory), in bursts of half a minute's
   * worth; each reads the event store and the limits backend (a 31-day window of an account with
   * 50,000 requests: about 0.3 s of SQLite, BENCHMARKS.md), so a poller is held to a few reads a minute. 0 turns
   * the route off (429).
   */
  usage_view: z.object({
    requests_per_minute: z.number().int().min(0).default(12),
  }).strict().prefault({}),
  /**
   * Requests refused for their key (401: missing, unknown, revoked or expired) from one client
   * address (an IPv6 /64) in a minute, after which that address's API requests get 429 with
   * `retry-after` until the minute is over, their key not checked, unless it was accepted lately
   * (on this node). Guessing keys goes no faster; a customer behind the same address keeps working.
   * Per node, in memory; 0 turns it off. Applies whether or not `enabled` is on.
   */
  keyless_failures_per_minute: z.number().int().min(0).default(600),
  /**
   * Longest wait (s) a 429 leaves to the client's SDK to sleep through and retry. A refusal whose
   * `retry-after` is longer (a daily quota, a budget) also says `x-should-retry: false`, so the
   * official SDKs fail at once instead of hanging for minutes or hours; `retry-after` keeps the real wait.
   * The gateway applies it to the upstream's own errors too (a 429, 503 or 529 asking for a longer wait).
   */
  max_retry_advice_s: z.number().int().min(0).default(60),
  /**
   * Whose rate-limit headers (`x-ratelimit-*`, `anthropic-ratelimit-*`) a client gets when the
   * upstream refuses its request with 429: `pass`, the upstream's (the provider's meter that
   * refused and its reset, which is the wait that matters; they also show the limits of the
   * operator's account with the provider); `warden`, Warden's own for the request, as on every
   * other answer. The upstream's `retry-after` is passed either way. Applies whether or not `enabled` is on.
   */
  upstream_rate_limit_headers: z.enum(['pass', 'warden']).default('pass'),
  /** Static overrides; the admin API adds runtime ones on top. */
  overrides: z.array(limitOverrideInputSchema).default([]),
  /** How often runtime overrides are reloaded from the store, so every node sees admin changes (ms). */
  overrides_refresh_ms: z.number().int().positive().default(5000),
}).strict();
export type LimitsConfig = z.infer<typeof limitsConfigSchema>;
