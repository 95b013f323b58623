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
 * A change takes effect on this node at once and on the others within `overrides_refresh_ms`.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { VERDICT_LEVELS } from '../detect/verdict.ts';
import { renderErrorBody, WardenError, type ErrorCode } from '../errors/index.ts';
import { PROGRAMMES, VERIFICATION_TIERS } from '../identity/types.ts';
import { limitOverrideInputSchema } from './config.ts';
import type { Limiter } from './limiter.ts';
import type { LimitOverridesStore } from './overrides.ts';

export interface LimitsAdminDeps {
  limiter: Limiter;
  overrides: LimitOverridesStore;
  /** Route prefix; default `/admin/limits`. */
  prefix?: string;
}

const explainSchema = z.object({
  key_id: z.string().default('key'),
  account_id: z.string().default('account'),
  org_id: z.string().nullable().default(null),
  tier: z.enum(VERIFICATION_TIERS as [string, ...string[]]).default('unverified'),
  programme: z.enum(PROGRAMMES as [string, ...string[]]).default('none'),
  ip: z.string().nullable().default(null),
  asn: z.number().int().nullable().default(null),
  cluster_id: z.string().nullable().default(null),
  model: z.string().default('*'),
  verdict_level: z.enum(VERDICT_LEVELS).default('none'),
}).strict();

function fail(reply: FastifyReply, code: ErrorCode, message: string) {
  const err = new WardenError(code, message);
  return reply.code(err.status).send(renderErrorBody(err, 'openai'));
}

function issues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}

/** Register the limits admin routes on a Fastify instance (already behind admin authentication). */
export function registerLimitsAdminRoutes(app: FastifyInstance, deps: LimitsAdminDeps): void {
  const prefix = deps.prefix ?? '/admin/limits';
  const { limiter, overrides } = deps;

  app.get(`${prefix}/overrides`, async () => {
    const runtime = await overrides.list();
    const fromConfig = limiter.policy.overrides().filter((o) => o.source === 'config');
    return { data: [...fromConfig, ...runtime] };
  });

  app.post(`${prefix}/overrides`, async (req, reply) => {
    const parsed = limitOverrideInputSchema.safeParse(req.body ?? {});
    if (!parsed.success) return fail(reply, 'WARDEN_INVALID_REQUEST', issues(parsed.error));
    const created = await overrides.create(parsed.data);
    await limiter.refreshOverrides();
    return reply.code(201).send(created);
  });

  app.get<{ Params: { id: string } }>(`${prefix}/overrides/:id`, async (req, reply) => {
    const found = (await overrides.get(req.params.id)) ?? limiter.policy.overrides().find((o) => o.id === req.params.id) ?? null;
    if (!found) return fail(reply, 'WARDEN_NOT_FOUND', `no limit override ${req.params.id}`);
    return found;
  });

  app.put<{ Params: { id: string } }>(`${prefix}/overrides/:id`, async (req, reply) => {
    if (req.params.id.startsWith('config:')) return fail(reply, 'WARDEN_INVALID_REQUEST', 'overrides from the config file are read-only; edit warden.yaml');
    const parsed = limitOverrideInputSchema.safeParse(req.body ?? {});
    if (!parsed.success) return fail(reply, 'WARDEN_INVALID_REQUEST', issues(parsed.error));
    const updated = await overrides.update(req.params.id, parsed.data);
    if (!updated) return fail(reply, 'WARDEN_NOT_FOUND', `no limit override ${req.params.id}`);
    await limiter.refreshOverrides();
    return updated;
  });

  app.delete<{ Params: { id: string } }>(`${prefix}/overrides/:id`, async (req, reply) => {
    if (!(await overrides.delete(req.params.id))) return fail(reply, 'WARDEN_NOT_FOUND', `no limit override ${req.params.id}`);
    await limiter.refreshOverrides();
    return reply.code(204).send();
  });

  app.post(`${prefix}/explain`, async (req, reply) => {
    const parsed = explainSchema.safeParse(req.body ?? {});
    if (!parsed.success) return fail(reply, 'WARDEN_INVALID_REQUEST', issues(parsed.error));
    const b = parsed.data;
    const meters = limiter.policy.plan({
      keyId: b.key_id, accountId: b.account_id, orgId: b.org_id,
      tier: b.tier as never, programme: b.programme as never,
      ip: b.ip, asn: b.asn, clusterId: b.cluster_id, model: b.model, verdictLevel: b.verdict_level,
    });
    return {
      meters: meters.map((m) => ({
        scope: m.scope, subject: m.subject, model: m.model, kind: m.kind, limit: m.limit, burst: m.burst, multiplier: m.multiplier, key: m.key,
      })),
    };
  });

  app.get(`${prefix}/status`, async () => ({
    enabled: limiter.config.enabled,
    backend: limiter.backend.name,
    on_backend_failure: limiter.config.on_backend_failure,
    circuit: limiter.circuit,
    in_flight: limiter.inFlight,
  }));
}
