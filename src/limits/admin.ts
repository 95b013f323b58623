/**
 * Admin routes for limits, mounted by the admin API (inside its authentication) at /admin/limits:
 *
 *   GET    /admin/limits/overrides          every override in force (config file + runtime)
 *   POST   /admin/limits/overrides          create a runtime override        -> 201
 *   GET    /admin/limits/overrides/:id
 *   PUT    /admin/limits/overrides/:id      replace a runtime override
 *   DELETE /admin/limits/overrides/:id                                          -> 204
 *   POST   /admin/limits/explain            the meters that would apply to a described request, each
 *                                            budget with what it has spent, its cap and when it resets
 *   GET    /admin/limits/status             backend, circuit state, requests in flight on this node
 *   GET    /admin/limits/accounts/:id       an account's limits as they stand now, looked up from its id
 *                                            (tier, org, cluster, latest address): every meter's limit,
 *                                            use, room and reset, which would refuse the next request,
 *                                            and its refusals of the last hour and day by limit
 *   GET    /admin/limits/keys/:id           the same for the account of a key (id or prefix)
 *   GET    /admin/limits/orgs/:id/refusals  an organisation's refusals of the last hour and day by limit
 *
 * Registered through the admin API's route table (`limitsAdminRoutes`), so they are validated,
 * answer errors and appear in the OpenAPI document like the identity routes.
 *
 * A change takes effect on this node at once and on the others within `overrides_refresh_ms`.
 */
import { z } from 'zod';
import { VERDICT_LEVELS } from '../detect/verdict.ts';
import { WardenError } from '../errors/index.ts';
import { PROGRAMMES, VERIFICATION_TIERS } from '../identity/types.ts';
import type { AdminRouteRegistrar } from '../admin/router.ts';
import { LIMIT_SCOPES, limitOverrideInputSchema } from './config.ts';
import type { Limiter } from './limiter.ts';
import type { PlannedMeter } from './meter-plan.ts';
import { budgetWindow, type BudgetRead } from './meters.ts';
import type { LimitOverridesStore } from './overrides.ts';
import { AccountExplainQuery, AccountExplainSchema, RefusalSummarySchema, explainAccount, type ExplainIdentity, type LastRequest } from './account-explain.ts';
import type { VerdictView } from '../detect/verdict.ts';

export interface LimitsAdminDeps {
  limiter: Limiter;
  overrides: LimitOverridesStore;
  /** The account store: with it, an account's limits are explained from its id (`/limits/accounts/:id`). */
  identity?: ExplainIdentity;
  /** The detector's verdicts (cluster and level), for the explanation by account. */
  verdicts?: VerdictView;
  /** An account's latest recorded request (its address and model), for the explanation by account. */
  lastRequest?: (accountId: string) => Promise<LastRequest | null>;
  /** Route prefix, relative to where the routes are mounted; default `/limits`. */
  prefix?: string;
}

const ExplainInput = z.strictObject({
  key_id: z.string().default('key'),
  account_id: z.string().default('account'),
  org_id: z.string().nullable().default(null),
  tier: z.enum(VERIFICATION_TIERS).default('unverified'),
  programme: z.enum(PROGRAMMES).default('none'),
  ip: z.string().nullable().default(null),
  asn: z.number().int().nullable().default(null),
  cluster_id: z.string().nullable().default(null),
  model: z.string().default('*'),
  verdict_level: z.enum(VERDICT_LEVELS).default('none'),
});
export const LimitOverrideSchema = limitOverrideInputSchema.extend({
  id: z.string().describe('`config:N` for overrides from warden.yaml (read-only)'),
  created_at: z.string(),
  updated_at: z.string(),
  source: z.enum(['config', 'runtime']),
});
const BudgetStateSchema = z.object({
  window: z.enum(['day', 'month']).describe('the UTC calendar day or month the budget counts'),
  spent_usd: z.number().describe('spent in the current window, as the limiter counts it: settled requests at their price, requests in flight at their reservation'),
  limit_usd: z.number().describe('the cap in force (`limit`): after programme and verdict multipliers'),
  remaining_usd: z.number().describe('limit_usd - spent_usd, never below 0'),
  resets_at: z.string().describe('when the window ends and the budget starts again at 0 (ISO 8601, UTC midnight)'),
}).nullable().describe('budgets only (daily_budget, monthly_budget): the counter as read now from the limits backend (shared by every node on Redis; this node\'s own on memory); null for other meters');
const ExplainSchema = z.object({
  meters: z.array(z.object({
    scope: z.enum(LIMIT_SCOPES), subject: z.string(), model: z.string().nullable(), kind: z.string(),
    limit: z.number().describe('after programme and verdict multipliers: rpm, tokens, slots or USD'),
    burst: z.number().nullable(), multiplier: z.number(), key: z.string(),
    budget: BudgetStateSchema,
  })),
  read_at: z.string().nullable().describe('when the budgets were read (the limits backend\'s clock); null when no meter is a budget'),
});
const StatusSchema = z.object({
  enabled: z.boolean(), backend: z.string(), on_backend_failure: z.string(), circuit: z.enum(['closed', 'open', 'half_open']), in_flight: z.number(),
});
const IdParams = z.strictObject({ id: z.string().min(1).max(200) });

type BudgetState = z.output<typeof BudgetStateSchema>;

/**
 * The budgets among `meters`, read from the limits backend without charging: spent so far in the
 * current UTC day or month (micro-USD counters, given in USD), the cap, when the window ends.
 */
async function readBudgets(limiter: Limiter, meters: readonly PlannedMeter[]): Promise<{ state: BudgetState[]; readAt: string | null }> {
  const state: BudgetState[] = meters.map(() => null);
  const at: number[] = [];
  const reads: BudgetRead[] = [];
  meters.forEach((m, i) => {
    if (m.kind !== 'daily_budget' && m.kind !== 'monthly_budget') return;
    at.push(i);
    reads.push({ key: m.key, window: m.kind === 'daily_budget' ? 'day' : 'month' });
  });
  const backend = limiter.backend;
  if (!reads.length || !backend.readBudgets) return { state, readAt: null };
  let read;
  try {
    read = await backend.readBudgets(reads);
  } catch (err) {
    throw new WardenError('WARDEN_LIMITS_UNAVAILABLE', `the limits backend (${backend.name}) did not answer the budgets' read: ${(err as Error).message}`);
  }
  at.forEach((i, j) => {
    const m = meters[i];
    const spentMicro = read.used[j];
    const limitMicro = Math.round(m.limit * 1e6);
    state[i] = {
      window: reads[j].window, spent_usd: spentMicro / 1e6, limit_usd: m.limit,
      remaining_usd: Math.max(0, limitMicro - spentMicro) / 1e6,
      resets_at: new Date(budgetWindow(read.nowUs, reads[j].window).endUs / 1000).toISOString(),
    };
  });
  return { state, readAt: new Date(Math.floor(read.nowUs / 1000)).toISOString() };
}

/** The limits admin routes (registered through the admin API's route table). */
export function limitsAdminRoutes(deps: LimitsAdminDeps): AdminRouteRegistrar {
  const prefix = deps.prefix ?? '/limits';
  const { limiter, overrides } = deps;
  const tag = 'limits';
  const noOverride = (id: string) => new WardenError('WARDEN_NOT_FOUND', `no limit override ${id}`);
  return (r) => {
    r.component('LimitOverride', LimitOverrideSchema);

    r.route({ method: 'GET', path: `${prefix}/overrides`, operationId: 'listLimitOverrides', tag, summary: 'Every limit override in force (config file and runtime)',
      response: z.object({ data: z.array(LimitOverrideSchema) }),
      handler: async () => {
        const runtime = await overrides.list();
        const fromConfig = limiter.planner.overrides().filter((o) => o.source === 'config');
        return { data: [...fromConfig, ...runtime] };
      } });

    r.route({ method: 'POST', path: `${prefix}/overrides`, operationId: 'createLimitOverride', tag, status: 201, summary: 'Create a runtime limit override',
      body: limitOverrideInputSchema, response: LimitOverrideSchema,
      handler: async ({ body }) => {
        const created = await overrides.create(body);
        await limiter.refreshOverrides();
        return created;
      } });

    r.route({ method: 'GET', path: `${prefix}/overrides/:id`, operationId: 'getLimitOverride', tag, summary: 'A limit override',
      params: IdParams, response: LimitOverrideSchema,
      handler: async ({ params }) => {
        const found = (await overrides.get(params.id)) ?? limiter.planner.overrides().find((o) => o.id === params.id) ?? null;
        if (!found) throw noOverride(params.id);
        return found;
      } });

    r.route({ method: 'PUT', path: `${prefix}/overrides/:id`, operationId: 'replaceLimitOverride', tag, summary: 'Replace a runtime limit override (those from the config file are read-only)',
      params: IdParams, body: limitOverrideInputSchema, response: LimitOverrideSchema,
      handler: async ({ params, body }) => {
        if (params.id.startsWith('config:')) throw new WardenError('WARDEN_INVALID_REQUEST', 'overrides from the config file are read-only; edit warden.yaml', { param: 'id' });
        const updated = await overrides.update(params.id, body);
        if (!updated) throw noOverride(params.id);
        await limiter.refreshOverrides();
        return updated;
      } });

    r.route({ method: 'DELETE', path: `${prefix}/overrides/:id`, operationId: 'deleteLimitOverride', tag, status: 204, summary: 'Delete a runtime limit override',
      params: IdParams, response: z.void(),
      handler: async ({ params }) => {
        if (!(await overrides.delete(params.id))) throw noOverride(params.id);
        await limiter.refreshOverrides();
      } });

    r.route({ method: 'POST', path: `${prefix}/explain`, operationId: 'explainLimits', tag,
      summary: 'The meters that would apply to a described request; each budget with what it has spent in its window, its cap and when it resets',
      body: ExplainInput, response: ExplainSchema,
      handler: async ({ body: b }) => {
        const meters = limiter.planner.plan({
          keyId: b.key_id, accountId: b.account_id, orgId: b.org_id, tier: b.tier, programme: b.programme,
          ip: b.ip, asn: b.asn, clusterId: b.cluster_id, model: b.model, verdictLevel: b.verdict_level,
        });
        const budgets = await readBudgets(limiter, meters);
        return {
          meters: meters.map((m, i) => ({
            scope: m.scope, subject: m.subject, model: m.model, kind: m.kind, limit: m.limit, burst: m.burst, multiplier: m.multiplier, key: m.key,
            budget: budgets.state[i],
          })),
          read_at: budgets.readAt,
        };
      } });

    const identity = deps.identity;
    if (identity) {
      const explainDeps = { limiter, identity, verdicts: deps.verdicts, lastRequest: deps.lastRequest };
      const errors = { 503: 'the limits backend did not answer (WARDEN_LIMITS_UNAVAILABLE)' };
      r.component('AccountLimits', AccountExplainSchema);
      r.route({ method: 'GET', path: `${prefix}/accounts/:id`, operationId: 'explainAccountLimits', tag, errors,
        summary: 'An account\'s limits as they stand now: every meter of every scope (key, account, org, address, cluster) with its limit, use, room and reset, which one would refuse the next request, and the refusals of the last hour and day by limit',
        description: 'Looked up from the account id: the effective tier and programme and the organisation from the account store, the cluster and verdict from the detector, the address and model of the latest request recorded (or `ip` and `model` as given). Charges nothing.',
        params: IdParams, query: AccountExplainQuery, response: AccountExplainSchema,
        handler: ({ params, query }) => explainAccount(explainDeps, params.id, query) });
      r.route({ method: 'GET', path: `${prefix}/keys/:id`, operationId: 'explainKeyLimits', tag, errors,
        summary: 'The limits of the account of a key (its id or its prefix), as `/limits/accounts/{id}` gives them, with that key\'s scope',
        params: IdParams, query: AccountExplainQuery.omit({ key: true }), response: AccountExplainSchema,
        handler: ({ params, query }) => explainAccount(explainDeps, null, { ...query, key: params.id }) });
    }
    r.route({ method: 'GET', path: `${prefix}/orgs/:id/refusals`, operationId: 'orgLimitRefusals', tag, errors: { 503: 'the limits backend did not answer (WARDEN_LIMITS_UNAVAILABLE)' },
      summary: 'Refusals of an organisation\'s requests in the last hour and day, by the limit that refused them',
      params: IdParams, response: RefusalSummarySchema,
      handler: async ({ params }) => {
        try {
          return await limiter.refusals.read('org', params.id, Date.now() * 1000);
        } catch (err) {
          throw new WardenError('WARDEN_LIMITS_UNAVAILABLE', `the limits backend (${limiter.backend.name}) did not answer the refusal counters' read: ${(err as Error).message}`);
        }
      } });

    r.route({ method: 'GET', path: `${prefix}/status`, operationId: 'limitsStatus', tag, summary: 'Backend, circuit state and requests in flight on this node',
      response: StatusSchema,
      handler: () => ({
        enabled: limiter.config.enabled,
        backend: limiter.backend.name,
        on_backend_failure: limiter.config.on_backend_failure,
        circuit: limiter.circuit,
        in_flight: limiter.inFlight,
      }) });
  };
}
