/**
 * Which limits apply to a request: tier defaults, the programme's adjustment, network and cluster
 * defaults, then overrides (config file and runtime), then the verdict multiplier. The result is a
 * list of meters, one per (scope, subject, model group, kind), each knowing where its numbers came
 * from so a refusal can be explained.
 */
import { verdictRank, type VerdictLevel } from '../detect/verdict.ts';
import type { Programme, VerificationTier } from '../identity/types.ts';
import { LIMIT_FIELDS, type LimitScope, type LimitsConfig, type LimitSpec, type PartialLimitSpec } from './config.ts';
import { DAY_US, emissionInterval, MINUTE_US, type MeterOp } from './meters.ts';
import { CidrMatcher, isCidr, expandedIp, subnetOf } from './network.ts';
import type { LimitOverride } from './overrides.ts';

export type MeterKind =
  | 'requests' | 'tokens_per_minute' | 'tokens_per_day' | 'input_tokens_per_minute' | 'output_tokens_per_minute'
  | 'concurrency' | 'daily_budget' | 'monthly_budget';

/** Short names used in counter keys and in explanations. */
export const METER_ABBREV: Record<MeterKind, string> = {
  requests: 'rpm', tokens_per_minute: 'tpm', tokens_per_day: 'tpd', input_tokens_per_minute: 'itpm',
  output_tokens_per_minute: 'otpm', concurrency: 'conc', daily_budget: 'bud_d', monthly_budget: 'bud_m',
};

/** Everything the planner needs to know about one request's subjects. */
export interface LimitSubjects {
  keyId: string;
  accountId: string;
  orgId: string | null;
  tier: VerificationTier;
  programme: Programme;
  /** Client IP (null: no network scopes). */
  ip: string | null;
  asn: number | null;
  clusterId: string | null;
  model: string;
  verdictLevel: VerdictLevel;
}

/** One meter of one scope, with the numbers that define it. */
export interface PlannedMeter {
  scope: LimitScope;
  subject: string;
  /** Model pattern of a per-model override group; null for the scope's general limits. */
  model: string | null;
  kind: MeterKind;
  /** Counter key (without the backend's prefix). */
  key: string;
  /** The configured value after programme and verdict multipliers: rpm, tokens, slots or USD. */
  limit: number;
  /** Requests admitted at once (requests meters). */
  burst: number | null;
  /** Verdict multiplier applied (1 when none). */
  multiplier: number;
  /** Backend parameters. */
  intervalUs: number;
  toleranceUs: number;
}

export interface RequestCost {
  inputTokens: number;
  outputTokens: number;
  /** Estimated spend, micro-USD. */
  microUsd: number;
}

/** The backend operation for a planned meter and this request's cost. */
export function meterOp(m: PlannedMeter, cost: RequestCost): MeterOp {
  switch (m.kind) {
    case 'requests': return { type: 'gcra', key: m.key, intervalUs: m.intervalUs, toleranceUs: m.toleranceUs, cost: 1 };
    case 'tokens_per_minute':
    case 'tokens_per_day': return { type: 'gcra', key: m.key, intervalUs: m.intervalUs, toleranceUs: m.toleranceUs, cost: cost.inputTokens + cost.outputTokens };
    case 'input_tokens_per_minute': return { type: 'gcra', key: m.key, intervalUs: m.intervalUs, toleranceUs: m.toleranceUs, cost: cost.inputTokens };
    case 'output_tokens_per_minute': return { type: 'gcra', key: m.key, intervalUs: m.intervalUs, toleranceUs: m.toleranceUs, cost: cost.outputTokens };
    case 'concurrency': return { type: 'concurrency', key: m.key, limit: m.limit };
    case 'daily_budget': return { type: 'budget', key: m.key, window: 'day', limit: Math.round(m.limit * 1e6), cost: cost.microUsd };
    case 'monthly_budget': return { type: 'budget', key: m.key, window: 'month', limit: Math.round(m.limit * 1e6), cost: cost.microUsd };
  }
}

/** `gpt-4o` matches `gpt-4o` and `gpt-*`; `*` matches everything. */
export function modelMatches(pattern: string, model: string): boolean {
  return pattern.endsWith('*') ? model.startsWith(pattern.slice(0, -1)) : pattern === model;
}

const EMPTY: LimitSpec = {
  rpm: null, burst: null, tpm: null, tpd: null, input_tpm: null, output_tpm: null,
  concurrency: null, daily_budget_usd: null, monthly_budget_usd: null,
};

function apply(spec: LimitSpec, partial: PartialLimitSpec): LimitSpec {
  const out = { ...spec };
  for (const f of LIMIT_FIELDS) if (partial[f] !== undefined) out[f] = partial[f] as number | null;
  return out;
}

/**
 * Scale rates, token quotas and concurrency (never budgets: they are commercial, not protective).
 * Burst and concurrency keep at least one when both the limit and the multiplier allow any: a
 * throttled account is served slower, not refused (only a multiplier of 0 refuses all).
 */
function scale(spec: LimitSpec, m: number): LimitSpec {
  if (m === 1) return spec;
  const s = (v: number | null, round: (x: number) => number) => (v === null ? null : round(v * m));
  return {
    ...spec,
    rpm: s(spec.rpm, (x) => x),
    burst: spec.burst === null ? null : Math.max(1, Math.floor(spec.burst * m)),
    tpm: s(spec.tpm, Math.floor), tpd: s(spec.tpd, Math.floor),
    input_tpm: s(spec.input_tpm, Math.floor), output_tpm: s(spec.output_tpm, Math.floor),
    concurrency: spec.concurrency === null ? null
      : m > 0 && spec.concurrency > 0 ? Math.max(1, Math.floor(spec.concurrency * m)) : Math.floor(spec.concurrency * m),
  };
}

interface ScopeIndex {
  wildcard: LimitOverride[];
  exact: Map<string, LimitOverride[]>;
  cidr: { matcher: CidrMatcher; override: LimitOverride }[];
}

interface ResolvedGroup { model: string | null; spec: LimitSpec }

const MAX_CACHE = 50_000;

/** Resolves limits for requests; rebuilt whenever the overrides change. */
export class MeterPlanner {
  private index = new Map<LimitScope, ScopeIndex>();
  /** Planned meters by scope, subject and request variant (model, tier, programme, multiplier). */
  private cache = new Map<LimitScope, Map<string, Map<string, PlannedMeter[]>>>();
  private cached = 0;
  private nextExpiryMs = Infinity;
  private runtime: LimitOverride[] = [];
  private readonly fromConfig: LimitOverride[];

  constructor(readonly config: LimitsConfig, runtimeOverrides: LimitOverride[] = []) {
    const epoch = new Date(0).toISOString();
    this.fromConfig = config.overrides.map((o, i) => ({ ...o, id: `config:${i}`, created_at: epoch, updated_at: epoch, source: 'config' as const }));
    this.setRuntimeOverrides(runtimeOverrides);
  }

  /** Replace the runtime overrides (after an admin change or a periodic reload). */
  setRuntimeOverrides(overrides: LimitOverride[], nowMs: number = Date.now()): void {
    this.runtime = overrides;
    this.rebuild(nowMs);
  }

  /** Every override in force (config first), for the admin API. */
  overrides(): LimitOverride[] { return [...this.fromConfig, ...this.runtime]; }

  private rebuild(nowMs: number): void {
    const index = new Map<LimitScope, ScopeIndex>();
    let nextExpiry = Infinity;
    for (const o of [...this.fromConfig, ...this.runtime]) {
      if (o.expires_at !== null) {
        const exp = Date.parse(o.expires_at);
        if (exp <= nowMs) continue;
        nextExpiry = Math.min(nextExpiry, exp);
      }
      let idx = index.get(o.scope);
      if (!idx) { idx = { wildcard: [], exact: new Map(), cidr: [] }; index.set(o.scope, idx); }
      const subject = normaliseSubject(o.scope, o.subject);
      if (subject === '*') idx.wildcard.push(o);
      else if ((o.scope === 'ip' || o.scope === 'subnet') && isCidr(subject)) idx.cidr.push({ matcher: new CidrMatcher(subject), override: o });
      else {
        const list = idx.exact.get(subject) ?? [];
        list.push(o);
        idx.exact.set(subject, list);
      }
    }
    for (const idx of index.values()) idx.cidr.sort((a, b) => a.matcher.prefix - b.matcher.prefix);
    this.index = index;
    this.cache = new Map();
    this.cached = 0;
    this.nextExpiryMs = nextExpiry;
  }

  /** Base limits of a scope before overrides. */
  private base(scope: LimitScope, tier: VerificationTier, programme: Programme): LimitSpec {
    const c = this.config;
    if (scope === 'key' || scope === 'account' || scope === 'org') {
      const p = c.programmes[programme];
      return apply(scale(c.tiers[tier][scope], p.multiplier), p[scope]);
    }
    if (scope === 'cluster') return c.cluster;
    return c.network[scope];
  }

  /** The general spec and per-model specs of one scope's subject. */
  resolve(scope: LimitScope, subject: string, model: string, tier: VerificationTier, programme: Programme): ResolvedGroup[] {
    let spec = this.base(scope, tier, programme);
    const modelSpecs = new Map<string, LimitSpec>();
    const idx = this.index.get(scope);
    if (idx) {
      const matching: LimitOverride[] = [...idx.wildcard];
      for (const c of idx.cidr) if (c.matcher.contains(subject)) matching.push(c.override);
      const exact = idx.exact.get(subject);
      if (exact) matching.push(...exact);
      for (const o of matching) {
        if (o.model === null) spec = apply(spec, o.limits);
        else if (modelMatches(o.model, model)) modelSpecs.set(o.model, apply(modelSpecs.get(o.model) ?? EMPTY, o.limits));
      }
    }
    return [{ model: null, spec }, ...[...modelSpecs].map(([m, s]) => ({ model: m, spec: s }))];
  }

  /** Every meter that applies to a request, with the verdict multiplier applied. */
  plan(s: LimitSubjects, nowMs: number = Date.now()): PlannedMeter[] {
    if (nowMs >= this.nextExpiryMs) this.rebuild(nowMs);
    const level = s.verdictLevel;
    const throttled = verdictRank(level) >= verdictRank('throttle');
    const mult = throttled ? this.config.throttle.multipliers[level as 'throttle' | 'shape' | 'verify' | 'suspend'] : 1;
    const out: PlannedMeter[] = [];
    // Cached meters are found by scope, subject, then the request's variant; the variant strings are
    // built once per request rather than a key string per scope.
    const personalVariant = `${s.model}\u0000${s.tier}\u0000${s.programme}`;
    const add = (scope: LimitScope, subject: string | null) => {
      if (subject === null) return;
      const m = throttled && this.config.throttle.scopes.includes(scope) ? mult : 1;
      const personal = scope === 'key' || scope === 'account' || scope === 'org';
      const variant = m === 1 ? (personal ? personalVariant : s.model) : `${personal ? personalVariant : s.model}\u0000${m}`;
      for (const meter of this.scopeMeters(scope, subject, variant, s.model, s.tier, s.programme, m)) out.push(meter);
    };
    add('key', s.keyId);
    add('account', s.accountId);
    add('org', s.orgId);
    if (s.ip !== null) {
      const ip = expandedIp(s.ip);
      add('ip', ip);
      add('subnet', subnetOf(ip, this.config.network.ipv4_subnet_prefix, this.config.network.ipv6_subnet_prefix));
    }
    add('asn', s.asn === null ? null : String(s.asn));
    add('cluster', s.clusterId);
    return out;
  }

  private scopeMeters(scope: LimitScope, subject: string, variant: string, model: string, tier: VerificationTier, programme: Programme, mult: number): PlannedMeter[] {
    let bySubject = this.cache.get(scope);
    if (!bySubject) { bySubject = new Map(); this.cache.set(scope, bySubject); }
    let byVariant = bySubject.get(subject);
    const hit = byVariant?.get(variant);
    if (hit) return hit;
    const meters: PlannedMeter[] = [];
    for (const group of this.resolve(scope, subject, model, tier, programme)) {
      const spec = scale(group.spec, mult);
      const keyBase = `${scope}:${subject}${group.model === null ? '' : `@${group.model}`}:`;
      const push = (kind: MeterKind, limit: number | null, periodUs: number, burst: number | null = null) => {
        if (limit === null) return;
        const gcra = periodUs > 0;
        const intervalUs = gcra ? emissionInterval(limit, periodUs) : 0;
        const units = kind === 'requests' ? (burst ?? 1) : limit;
        meters.push({
          scope, subject, model: group.model, kind, key: keyBase + METER_ABBREV[kind], limit, burst, multiplier: mult,
          intervalUs, toleranceUs: gcra && intervalUs > 0 ? Math.ceil(units) * intervalUs : 0,
        });
      };
      const burst = spec.rpm === null ? null : spec.burst ?? Math.max(1, Math.ceil(spec.rpm / 6));
      push('requests', spec.rpm, MINUTE_US, burst);
      push('tokens_per_minute', spec.tpm, MINUTE_US);
      push('tokens_per_day', spec.tpd, DAY_US);
      push('input_tokens_per_minute', spec.input_tpm, MINUTE_US);
      push('output_tokens_per_minute', spec.output_tpm, MINUTE_US);
      push('concurrency', spec.concurrency, 0);
      push('daily_budget', spec.daily_budget_usd, 0);
      push('monthly_budget', spec.monthly_budget_usd, 0);
    }
    if (++this.cached > MAX_CACHE) { this.cache.clear(); this.cached = 1; bySubject = new Map(); this.cache.set(scope, bySubject); byVariant = undefined; }
    if (!byVariant) { byVariant = new Map(); bySubject.set(subject, byVariant); }
    byVariant.set(variant, meters);
    return meters;
  }

  private price(model: string) {
    return this.config.prices.find((x) => modelMatches(x.model, model)) ?? this.config.default_price;
  }

  /**
   * Price of a request in micro-USD (rounded up). `cache`: of the input tokens, those read from and
   * written to the provider's prompt cache, priced at the cache prices (docs/limits.md, "Prompt caching").
   */
  priceMicroUsd(model: string, inputTokens: number, outputTokens: number, cache?: { read: number; write: number }): number {
    const p = this.price(model);
    if (!cache || (cache.read <= 0 && cache.write <= 0)) return Math.ceil(inputTokens * p.input_per_mtok + outputTokens * p.output_per_mtok);
    const c = this.config.cache;
    const read = p.cache_read_per_mtok ?? p.input_per_mtok * c.read_price_share;
    const write = p.cache_write_per_mtok ?? p.input_per_mtok * c.write_price_share;
    const plain = Math.max(0, inputTokens - cache.read - cache.write);
    return Math.ceil(plain * p.input_per_mtok + cache.read * read + cache.write * write + outputTokens * p.output_per_mtok);
  }

  /** Input tokens that may be added to a request of `inputTokens` and `outputTokens` whose price stays within `microUsd` (negative: none, it is over already). */
  inputTokensWithin(model: string, microUsd: number, inputTokens: number, outputTokens: number): number {
    const p = this.price(model);
    if (p.input_per_mtok <= 0) return this.priceMicroUsd(model, inputTokens, outputTokens) <= microUsd ? Infinity : -1;
    // one micro-USD to spare: the price is rounded up, after floating-point sums
    return Math.floor((microUsd - 1 - inputTokens * p.input_per_mtok - outputTokens * p.output_per_mtok) / p.input_per_mtok);
  }
}

/** Canonical subject spelling: IPs normalised, `AS13335` -> `13335`. */
export function normaliseSubject(scope: LimitScope, subject: string): string {
  if (subject === '*') return subject;
  if (scope === 'asn') return subject.replace(/^as/i, '');
  if (scope === 'ip' || scope === 'subnet') {
    const [addr, bits] = subject.split('/');
    return bits === undefined ? expandedIp(addr) : `${expandedIp(addr)}/${bits}`;
  }
  return subject;
}

/**
 * A request's price in micro-USD (rounded up) as the budgets charge it, at `limits.prices`, the
 * prompt cache's share at its own prices (docs/limits.md, "Prompt caching").
 */
export function requestPricer(config: LimitsConfig): (model: string, inputTokens: number, outputTokens: number, cache?: { read: number; write: number }) => number {
  const planner = new MeterPlanner(config);
  return (model, inputTokens, outputTokens, cache) => planner.priceMicroUsd(model, inputTokens, outputTokens, cache);
}
