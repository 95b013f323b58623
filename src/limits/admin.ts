/**
 * Admin routes for limits, mounted by the admin API (inside its authentication) at /admin/limits:
 *
 *   GET    /admin/limits/overrides          every override in force (config file + runtime)
 *   POST   /admin/limits/overrides          create a runtime override        -> 201
 *   GET    /admin/limits/overrides/:id
 *   PUT    /admin/limits/overrides/:id      replace a runtime override
 *   DELETE /admin/limits/overrides/:id                                          -> 204
 *   POST   /admin/limits/explain            the meters that would apply to a described request
 *   GET    /admin/limits/status             backend, circuit state, requests in flight on this node
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
import type { LimitOverridesStore } from './overrides.ts';

export interface LimitsAdminDeps {
  limiter: Limiter;
  overrides: LimitOverridesStore;
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
const ExplainSchema = z.object({
  meters: z.array(z.object({
    scope: z.enum(LIMIT_SCOPES), subject: z.string(), model: z.string().nullable(), kind: z.string(),
    limit: z.number().describe('after programme and verdict multipliers: rpm, tokens, slots or USD'),
    burst: z.number().nullable(), multiplier: z.number(), key: z.string(),
  })),
});
const StatusSchema = z.object({
  enabled: z.boolean(), backend: z.string(), on_backend_failure: z.string(), circuit: z.enum(['closed', 'open', 'half_open']), in_flight: z.number(),
});
const IdParams = z.strictObject({ id: z.string().min(1).max(200) });

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

    r.route({ method: 'POST', path: `${prefix}/explain`, operationId: 'explainLimits', tag, summary: 'The meters that would apply to a described request',
      body: ExplainInput, response: ExplainSchema,
      handler: ({ body: b }) => {
        const meters = limiter.planner.plan({
          keyId: b.key_id, accountId: b.account_id, orgId: b.org_id, tier: b.tier, programme: b.programme,
          ip: b.ip, asn: b.asn, clusterId: b.cluster_id, model: b.model, verdictLevel: b.verdict_level,
        });
        return {
          meters: meters.map((m) => ({
            scope: m.scope, subject: m.subject, model: m.model, kind: m.kind, limit: m.limit, burst: m.burst, multiplier: m.multiplier, key: m.key,
          })),
        };
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
