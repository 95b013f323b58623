/**
 * Admin routes for the detector, mounted by the admin API (inside its token check) at
 * /admin/detect:
 *
 *   GET    /admin/detect/accounts/:id     effective level, verdict with its explanation, cluster, indicators
 *   GET    /admin/detect/clusters         clusters above none (?min_members=2&limit=100)
 *   GET    /admin/detect/clusters/:id     one cluster: members, evidence, score, campaign
 *   GET    /admin/detect/campaigns        named campaigns: members, timeline, volume, targets, evidence
 *   GET    /admin/detect/stats            accounts in memory and forgotten, clusters, campaigns, link keys, events
 *   POST   /admin/detect/snapshot         write a snapshot of the detector's state now (before an upgrade, a move) -> 201
 *   GET    /admin/detect/allow            allow-list in force
 *   POST   /admin/detect/allow            {account | org, note?}: never above none            -> 201
 *   DELETE /admin/detect/allow            {account | org} (body or query string)             -> 204
 *   GET    /admin/detect/verdicts         operator verdicts in force
 *   POST   /admin/detect/verdicts         {kind, id, level, note?, expires_at?}: operator verdict -> 201
 *   DELETE /admin/detect/verdicts         {kind, id} (body or query string)                   -> 204
 *
 * Changes take effect at once on this node (the engine is the verdict view enforcement reads).
 * With an overrides store they are also stored, and put back into the engine at the next start
 * (`applyOverrides`); a change that cannot be stored is refused (500) and not applied.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { renderErrorBody, WardenError, type ErrorCode } from '../errors/index.ts';
import type { DetectorEngine } from './engine.ts';
import { VERDICT_LEVELS } from './verdict.ts';
import type { DetectOverridesStore } from './overrides.ts';
import type { SnapshotHeader } from './snapshot.ts';

export interface DetectAdminOptions {
  /** Route prefix, relative to where the routes are mounted; default `/detect`. */
  prefix?: string;
  /** Where operator changes are stored to survive a restart (none: held in memory only). */
  overrides?: DetectOverridesStore;
  /** Write a snapshot now (none: snapshots are off on this node). */
  snapshot?: { path: string; save(): Promise<SnapshotHeader> };
}

const allowSchema = z.object({
  account: z.string().min(1).optional(),
  org: z.string().min(1).optional(),
  note: z.string().max(500).optional(),
}).strict().refine((b) => !!b.account !== !!b.org, { message: 'give exactly one of account or org' });

const subjectSchema = z.object({ kind: z.enum(['account', 'cluster']), id: z.string().min(1) });
const verdictSchema = subjectSchema.extend({
  level: z.enum(VERDICT_LEVELS),
  note: z.string().max(500).default('operator decision'),
  /** Lapses then (a suspension pending review, say); none: until cleared. */
  expires_at: z.iso.datetime({ offset: true }).refine((t) => Date.parse(t) > Date.now(), 'expires_at must be in the future').optional(),
}).strict();

function fail(reply: FastifyReply, code: ErrorCode, message: string) {
  const err = new WardenError(code, message);
  return reply.code(err.status).send(renderErrorBody(err, 'openai'));
}

function issues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}

/** DELETE takes its subject from the JSON body or, for clients that cannot send one, the query string. */
function bodyOrQuery(req: { body?: unknown; query?: unknown }): unknown {
  const b = req.body;
  if (b && typeof b === 'object' && Object.keys(b).length) return b;
  return req.query ?? {};
}

/** Register the detector admin routes on a Fastify instance already behind admin authentication. */
export function registerDetectAdminRoutes(app: FastifyInstance, engine: DetectorEngine, opts: DetectAdminOptions = {}): void {
  const prefix = opts.prefix ?? '/detect';
  const store = opts.overrides;
  /** Store a change first: one the store refused is not applied, so memory and store agree. */
  const stored = async (reply: FastifyReply, write: (s: DetectOverridesStore) => Promise<unknown>): Promise<boolean> => {
    if (!store) return true;
    try { await write(store); return true; } catch (err) {
      fail(reply, 'WARDEN_INTERNAL', `the change could not be stored, so it was not applied: ${(err as Error).message}`);
      return false;
    }
  };

  app.get<{ Params: { id: string } }>(`${prefix}/accounts/:id`, async (req, reply) => {
    const id = req.params.id;
    const known = engine.clusterMembers(id).length > 0;
    const effective = engine.forAccount(id);
    if (!known && effective.level === 'none' && !effective.verdict) return fail(reply, 'WARDEN_NOT_FOUND', `the detector has not seen account ${id}`);
    const cluster = effective.clusterId ? engine.cluster(effective.clusterId, 100) : null;
    return {
      account_id: id,
      level: effective.level,
      verdict: effective.verdict,
      account_verdict: engine.accountVerdict(id),
      cluster,
      indicators: engine.accountIndicators(id).map((i) => ({ signal: i.signal, value: Math.round(i.value * 1000) / 1000, threshold: i.threshold, saturation: i.saturation, contribution: Math.round(i.contribution * 1000) / 1000 })),
    };
  });

  app.get<{ Querystring: { min_members?: string; limit?: string; level?: string } }>(`${prefix}/clusters`, async (req) => {
    const minMembers = Math.max(2, Number(req.query.min_members ?? 2) || 2);
    const limit = Math.min(1000, Math.max(1, Number(req.query.limit ?? 100) || 100));
    const all = engine.clusterSummaries(minMembers).filter((c) => (req.query.level ? c.level === req.query.level : c.level !== 'none'));
    return {
      total: all.length,
      data: all.slice(0, limit).map((c) => ({ ...c, size: c.members.length, members: c.members.slice(0, 20) })),
    };
  });

  app.get<{ Params: { id: string } }>(`${prefix}/clusters/:id`, async (req, reply) => {
    const c = engine.cluster(req.params.id);
    if (!c) return fail(reply, 'WARDEN_NOT_FOUND', `no cluster ${req.params.id}`);
    return c;
  });

  app.get(`${prefix}/campaigns`, async () => ({ data: engine.campaigns() }));

  app.post(`${prefix}/snapshot`, async (_req, reply) => {
    const snap = opts.snapshot;
    if (!snap) return fail(reply, 'WARDEN_CONFLICT', 'snapshots are off on this node: set detect.snapshot.path (PostgreSQL) or detect.snapshot.enabled');
    try {
      const h = await snap.save();
      return reply.code(201).send({ path: snap.path, event_time: h.event_time, events: h.events, accounts: h.accounts, bytes: h.bytes, serialise_ms: h.serialise_ms });
    } catch (err) {
      return fail(reply, 'WARDEN_INTERNAL', `the snapshot could not be written: ${(err as Error).message}`);
    }
  });

  app.get(`${prefix}/stats`, async () => ({
    ...engine.stats(),
    event_time: engine.eventTimeMs ? new Date(engine.eventTimeMs).toISOString() : null,
    evict_idle_hours: engine.config.evict_idle_hours,
    operator_verdicts: engine.manualVerdicts().length,
    allow_list: (({ accounts, orgs }) => accounts.length + orgs.length)(engine.allowList()),
  }));

  app.get(`${prefix}/allow`, async () => engine.allowList());

  app.post(`${prefix}/allow`, async (req, reply) => {
    const parsed = allowSchema.safeParse(req.body ?? {});
    if (!parsed.success) return fail(reply, 'WARDEN_INVALID_REQUEST', issues(parsed.error));
    const { account, org, note } = parsed.data;
    if (!await stored(reply, (s) => s.put({ kind: account ? 'allow_account' : 'allow_org', subject: (account ?? org)!, level: null, note: note ?? null, created_at: new Date().toISOString() }))) return reply;
    engine.allow({ account, org });
    return reply.code(201).send({ ...engine.allowList(), added: parsed.data.account ? { account: parsed.data.account } : { org: parsed.data.org } });
  });

  app.delete(`${prefix}/allow`, async (req, reply) => {
    const parsed = allowSchema.safeParse(bodyOrQuery(req));
    if (!parsed.success) return fail(reply, 'WARDEN_INVALID_REQUEST', issues(parsed.error));
    const before = engine.allowList();
    const present = parsed.data.account ? before.accounts.includes(parsed.data.account) : before.orgs.includes(parsed.data.org!);
    if (!present) return fail(reply, 'WARDEN_NOT_FOUND', 'not on the allow-list');
    if (!await stored(reply, (s) => s.remove(parsed.data.account ? 'allow_account' : 'allow_org', (parsed.data.account ?? parsed.data.org)!))) return reply;
    engine.disallow({ account: parsed.data.account, org: parsed.data.org });
    return reply.code(204).send();
  });

  app.get(`${prefix}/verdicts`, async () => ({ data: engine.manualVerdicts() }));

  app.post(`${prefix}/verdicts`, async (req, reply) => {
    const parsed = verdictSchema.safeParse(req.body ?? {});
    if (!parsed.success) return fail(reply, 'WARDEN_INVALID_REQUEST', issues(parsed.error));
    const { kind, id, level, note } = parsed.data;
    const expiresAt = parsed.data.expires_at ? new Date(parsed.data.expires_at).toISOString() : null;
    if (kind === 'cluster' && !engine.cluster(id)) return fail(reply, 'WARDEN_NOT_FOUND', `no cluster ${id}`);
    const since = new Date().toISOString();
    if (!await stored(reply, (s) => s.put({ kind: kind === 'account' ? 'verdict_account' : 'verdict_cluster', subject: id, level, note, created_at: since, expires_at: expiresAt }))) return reply;
    const v = engine.setManualVerdict({ kind, id }, level, note, since, expiresAt);
    return reply.code(201).send(v);
  });

  app.delete(`${prefix}/verdicts`, async (req, reply) => {
    const parsed = subjectSchema.safeParse(bodyOrQuery(req));
    if (!parsed.success) return fail(reply, 'WARDEN_INVALID_REQUEST', issues(parsed.error));
    const exists = engine.manualVerdicts().some((v) => v.subject.kind === parsed.data.kind && v.subject.id === parsed.data.id);
    if (!exists) return fail(reply, 'WARDEN_NOT_FOUND', `no operator verdict on ${parsed.data.kind} ${parsed.data.id}`);
    if (!await stored(reply, (s) => s.remove(parsed.data.kind === 'account' ? 'verdict_account' : 'verdict_cluster', parsed.data.id))) return reply;
    engine.setManualVerdict(parsed.data, null);
    return reply.code(204).send();
  });
}
