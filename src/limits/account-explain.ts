/**
 * "Customer X says they get 429s": the limits of one account as they stand now, found from its id
 * (or one of its keys'): its tier, programme and organisation from the account store, its cluster
 * and verdict from the detector, the address and model of its latest request from the event store
 * (or as given); then every meter of every scope with its limit, what is used, what is left, when it
 * is full again, and which one would refuse the next request; and the refusals its requests (and its
 * organisation's) met in the last hour and day, by the limit that refused them.
 */
import { z } from 'zod';
import { budgetClusterOf, VERDICT_LEVELS, type VerdictLevel, type VerdictView } from '../detect/verdict.ts';
import { WardenError } from '../errors/index.ts';
import { effectiveProgramme, higherTier, keyStatus, type IdentityStore } from '../identity/store.ts';
import { PROGRAMMES, VERIFICATION_TIERS, type Account, type ApiKey } from '../identity/types.ts';
import { LIMIT_SCOPES } from './config.ts';
import { describeMeter } from './headers.ts';
import type { Limiter, MeterState } from './limiter.ts';
import { METER_ABBREV } from './meter-plan.ts';
import { RETRY_NEVER, RETRY_UNKNOWN } from './meters.ts';
import type { RefusalSummary } from './refusals.ts';

/** What the store and the detector are asked for (a narrow view of each). */
export type ExplainIdentity = Pick<IdentityStore, 'getAccount' | 'getOrg' | 'getKey' | 'listKeys' | 'lookupKey'>;
/** An account's latest request as the event store recorded it. */
export interface LastRequest { ts: string; ip: string | null; asn: number | null; model: string; key_id: string | null }

export interface AccountExplainDeps {
  limiter: Limiter;
  identity: ExplainIdentity;
  verdicts?: VerdictView;
  /** The account's latest recorded request (null: none recorded, or no event store). */
  lastRequest?: (accountId: string) => Promise<LastRequest | null>;
}

export const AccountExplainQuery = z.strictObject({
  key: z.string().min(1).max(200).optional().describe('the key to explain the key scope of: its id (`key_…`) or its prefix (`wk_live_…`); default the account\'s key used last'),
  model: z.string().max(256).optional().describe('the model of the request (per-model overrides); default the model of the account\'s latest request'),
  ip: z.string().min(1).max(64).optional().describe('the client address (address, subnet and ASN scopes); default the address of the account\'s latest request'),
  tokens: z.coerce.number().int().min(0).max(100_000_000).optional().describe('tokens the next request reserves (input and output); default `limits.estimate.default_max_tokens`, what a request that names no max_tokens reserves'),
});

const RefusalCountSchema = z.object({ scope: z.string(), kind: z.string(), subject: z.string(), model: z.string().nullable(), count: z.number() });
const RefusalWindowSchema = z.object({
  since: z.string().describe('the start of the first five-minute counter summed (the window is counted to the five minutes)'),
  total: z.number(), by: z.array(RefusalCountSchema).describe('by the limit that refused (scope, meter, subject, model), most first'),
});
export const RefusalSummarySchema = z.object({ last_hour: RefusalWindowSchema, last_day: RefusalWindowSchema });

const MeterStateSchema = z.object({
  scope: z.enum(LIMIT_SCOPES), subject: z.string(), model: z.string().nullable().describe('a per-model override\'s model pattern; null: every model'),
  kind: z.string(), meter: z.string().describe('short name: rpm, tpm, tpd, itpm, otpm, conc, bud_d, bud_m'),
  unit: z.enum(['requests', 'tokens', 'requests in flight', 'usd']),
  limit: z.number().describe('after programme and verdict multipliers: per minute (rpm, tpm, itpm, otpm), per day (tpd), slots or USD'),
  burst: z.number().nullable(), multiplier: z.number(),
  capacity: z.number().describe('what the meter holds when nothing is used: the burst for rpm, the limit otherwise'),
  used: z.number().describe('taken now (in flight at their reservation for tokens and budgets), of capacity'),
  remaining: z.number().describe('capacity - used, never below 0'),
  resets_at: z.string().nullable().describe('when the meter is full again (rates) or its window ends (budgets); null for concurrency and a meter already full'),
  next_request: z.enum(['admitted', 'refused', 'never']).describe('what the meter would answer the next request (one request of `probe.tokens`): never, it is larger than the limit or the limit is 0'),
  retry_after_s: z.number().nullable().describe('when refused: seconds until the meter would admit it'),
});

export const AccountExplainSchema = z.object({
  account_id: z.string(), status: z.string(), tier: z.enum(VERIFICATION_TIERS).describe('effective: the higher of the account\'s and its organisation\'s'),
  programme: z.enum(PROGRAMMES), org_id: z.string().nullable(),
  key: z.object({ id: z.string(), prefix: z.string(), status: z.string(), chosen: z.enum(['given', 'last_used', 'newest']) }).nullable().describe('the key whose key scope is shown; null when the account has none usable'),
  cluster_id: z.string().nullable().describe('the linked-account cluster whose budget is charged (null: none, or not charged: allow-listed, or an enterprise\'s own organisation)'),
  verdict_level: z.enum(VERDICT_LEVELS),
  ip: z.string().nullable(), asn: z.number().nullable(), model: z.string(),
  from_latest_request: z.object({ ts: z.string(), ip: z.boolean(), model: z.boolean() }).nullable().describe('the latest request recorded, and whether the address and model were taken from it'),
  probe: z.object({ tokens: z.number(), usd: z.number() }).describe('the next request the meters were asked about: one request reserving this many tokens, at this price'),
  read_at: z.string().describe('the limits backend\'s clock when the meters were read'),
  refusing: z.object({
    scope: z.enum(LIMIT_SCOPES), subject: z.string(), kind: z.string(), model: z.string().nullable(), retry_after_s: z.number().nullable(),
    explanation: z.string().describe('as `event.enforcement.limit` records a refusal'),
  }).nullable().describe('the meter that would refuse the next request (the longest wait; one it can never pass first); null when it would be admitted'),
  tightest: z.object({ scope: z.enum(LIMIT_SCOPES), subject: z.string(), kind: z.string(), remaining_share: z.number() }).nullable().describe('when admitted: the meter with the least room left, as a share of its capacity'),
  meters: z.array(MeterStateSchema),
  refusals: z.object({ account: RefusalSummarySchema, org: RefusalSummarySchema.nullable() }).describe('refusals of the account\'s and its organisation\'s requests by the limit that refused (the limits backend\'s counters: every node\'s on Redis, this node\'s on memory)'),
});
export type AccountExplain = z.input<typeof AccountExplainSchema>;

const UNIT: Record<string, 'requests' | 'tokens' | 'requests in flight' | 'usd'> = {
  requests: 'requests', tokens_per_minute: 'tokens', tokens_per_day: 'tokens', input_tokens_per_minute: 'tokens',
  output_tokens_per_minute: 'tokens', concurrency: 'requests in flight', daily_budget: 'usd', monthly_budget: 'usd',
};

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/** One meter's state from its answer to the probe (which, admitted, is subtracted again). */
function meterState(s: MeterState, nowUs: number, retryUnknownS: number) {
  const { meter: m, outcome: o, cost } = s;
  const budget = m.kind === 'daily_budget' || m.kind === 'monthly_budget';
  const gcra = !budget && m.kind !== 'concurrency';
  // What is left now, before the probe: an admitted probe's answer is after it.
  let left = o.ok ? o.remaining + cost : o.remaining;
  let capacity = m.kind === 'requests' ? (m.burst ?? 1) : m.limit;
  if (m.kind === 'concurrency' && !o.ok) left = 0;
  if (budget) { left /= 1e6; capacity = m.limit; }
  if (gcra) capacity = Math.floor(capacity);
  left = Math.max(0, Math.min(capacity, left));
  const intervalUs = m.intervalUs > 0 ? m.intervalUs : 0;
  const fullInUs = budget ? o.resetUs : gcra ? Math.max(0, o.ok ? o.resetUs - cost * intervalUs : o.resetUs) : 0;
  const never = !o.ok && o.retryUs === RETRY_NEVER;
  const retryUs = o.ok || never ? null : o.retryUs === RETRY_UNKNOWN ? retryUnknownS * 1e6 : o.retryUs;
  return {
    scope: m.scope, subject: m.subject, model: m.model, kind: m.kind, meter: METER_ABBREV[m.kind], unit: UNIT[m.kind],
    limit: m.limit, burst: m.burst, multiplier: m.multiplier, capacity: budget ? round6(capacity) : capacity,
    used: budget ? round6(capacity - left) : capacity - left, remaining: budget ? round6(left) : left,
    resets_at: fullInUs > 0 ? new Date(Math.ceil((nowUs + fullInUs) / 1000)).toISOString() : null,
    next_request: o.ok ? 'admitted' as const : never ? 'never' as const : 'refused' as const,
    retry_after_s: retryUs === null ? null : Math.max(1, Math.ceil(retryUs / 1e6)),
  };
}

/** The key to explain: the one given (id or prefix, of this account), else the account's key used last, else its newest usable. */
async function chooseKey(identity: ExplainIdentity, account: Account, given: string | undefined): Promise<{ key: ApiKey; chosen: 'given' | 'last_used' | 'newest' } | null> {
  if (given !== undefined) {
    let key = given.startsWith('key_') ? await identity.getKey(given) : null;
    if (!key) {
      const lookupId = given.slice(given.lastIndexOf('_') + 1);
      const found = lookupId ? await identity.lookupKey(lookupId) : null;
      if (found && found.key.prefix === given) key = found.key;
    }
    if (!key || key.account_id !== account.id) throw new WardenError('WARDEN_NOT_FOUND', `no key ${given} of account ${account.id}`, { param: 'key' });
    return { key, chosen: 'given' };
  }
  const page = await identity.listKeys({ account_id: account.id, limit: 200 });
  const usable = page.data.filter((k) => keyStatus(k) === 'active' || keyStatus(k) === 'rotating');
  if (!usable.length) return null;
  const used = usable.filter((k) => k.last_used_at !== null).sort((a, b) => (a.last_used_at! < b.last_used_at! ? 1 : -1));
  if (used.length) return { key: used[0], chosen: 'last_used' };
  return { key: [...usable].sort((a, b) => (a.created_at < b.created_at ? 1 : -1))[0], chosen: 'newest' };
}

/** Explain the limits of account `accountId` now (the account of key `query.key` when `accountId` is null). */
export async function explainAccount(deps: AccountExplainDeps, accountId: string | null, query: z.output<typeof AccountExplainQuery>): Promise<AccountExplain> {
  const { limiter, identity } = deps;
  let keyGiven = query.key;
  if (accountId === null) {
    // By key: its account.
    const id = keyGiven!;
    let key = id.startsWith('key_') ? await identity.getKey(id) : null;
    if (!key) {
      const found = await identity.lookupKey(id.slice(id.lastIndexOf('_') + 1));
      if (found && found.key.prefix === id) key = found.key;
    }
    if (!key) throw new WardenError('WARDEN_NOT_FOUND', `no key ${id}`);
    accountId = key.account_id;
    keyGiven = key.id;
  }
  const account = await identity.getAccount(accountId);
  if (!account) throw new WardenError('WARDEN_NOT_FOUND', `no account ${accountId}`);
  const org = account.org_id ? await identity.getOrg(account.org_id) : null;
  const tier = higherTier(account.tier, org?.tier);
  const programme = effectiveProgramme(account, org);
  const key = await chooseKey(identity, account, keyGiven);
  const view = deps.verdicts?.forAccount(account.id) ?? { level: 'none' as VerdictLevel, verdict: null, clusterId: null };
  const clusterId = budgetClusterOf(view);
  const latest = deps.lastRequest ? await deps.lastRequest(account.id) : null;
  const ip = query.ip ?? (latest?.ip || null);
  // The ASN is the latest request's when its address is the one explained (a policy hook looked it up then).
  const asn = latest && latest.ip === ip ? latest.asn : null;
  const model = query.model ?? latest?.model ?? '';
  const config = limiter.config;
  const tokens = query.tokens ?? config.estimate.default_max_tokens;
  const microUsd = limiter.planner.priceMicroUsd(model, 0, tokens);
  const subjects = {
    keyId: key?.key.id ?? '', accountId: account.id, orgId: org?.id ?? account.org_id ?? null, tier, programme,
    ip, asn, clusterId, model, verdictLevel: view.level,
  };
  let read;
  try {
    read = await limiter.inspect(subjects, { inputTokens: 0, outputTokens: tokens, microUsd });
  } catch (err) {
    throw new WardenError('WARDEN_LIMITS_UNAVAILABLE', `the limits backend (${limiter.backend.name}) did not answer: ${(err as Error).message}`);
  }
  // Without a usable key there is no key scope to show.
  const states = read.meters.filter((s) => key !== null || s.meter.scope !== 'key');
  const meters = states.map((s) => meterState(s, read.nowUs, config.concurrency.retry_after_s));
  // The refusing meter, as the limiter picks it: one the request can never pass first, else the longest wait.
  let refusing: MeterState | null = null;
  let worst = -1;
  let never = false;
  let tightest: { s: MeterState; share: number } | null = null;
  states.forEach((s, i) => {
    const st = meters[i];
    if (st.next_request === 'never') { if (!never) { never = true; refusing = s; } return; }
    if (st.next_request === 'refused') { if (!never && st.retry_after_s! > worst) { worst = st.retry_after_s!; refusing = s; } return; }
    const share = st.capacity > 0 ? st.remaining / st.capacity : 0;
    if (!tightest || share < tightest.share) tightest = { s, share };
  });
  const r = refusing as MeterState | null;
  const t = tightest as { s: MeterState; share: number } | null;
  const nowUs = read.nowUs;
  const [accountRefusals, orgRefusals] = await Promise.all([
    limiter.refusals.read('account', account.id, nowUs),
    subjects.orgId ? limiter.refusals.read('org', subjects.orgId, nowUs) : Promise.resolve<RefusalSummary | null>(null),
  ]).catch((err: Error) => { throw new WardenError('WARDEN_LIMITS_UNAVAILABLE', `the limits backend (${limiter.backend.name}) did not answer the refusal counters' read: ${err.message}`); });
  return {
    account_id: account.id, status: account.status, tier, programme, org_id: subjects.orgId,
    key: key ? { id: key.key.id, prefix: key.key.prefix, status: keyStatus(key.key), chosen: key.chosen } : null,
    cluster_id: clusterId, verdict_level: view.level, ip, asn, model,
    from_latest_request: latest ? { ts: latest.ts, ip: query.ip === undefined && !!latest.ip, model: query.model === undefined } : null,
    probe: { tokens, usd: microUsd / 1e6 },
    read_at: new Date(Math.floor(nowUs / 1000)).toISOString(),
    refusing: r ? {
      scope: r.meter.scope, subject: r.meter.subject, kind: r.meter.kind, model: r.meter.model,
      retry_after_s: meters[states.indexOf(r)].retry_after_s, explanation: describeMeter({ meter: r.meter, outcome: r.outcome }),
    } : null,
    tightest: !r && t ? { scope: t.s.meter.scope, subject: t.s.meter.subject, kind: t.s.meter.kind, remaining_share: Math.round(t.share * 1000) / 1000 } : null,
    meters,
    refusals: { account: accountRefusals, org: orgRefusals },
  };
}
