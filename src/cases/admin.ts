/**
 * Admin routes for case files and threat-intel exchange, mounted by the admin API (inside its
 * token check) on the nodes that run the detector:
 *
 *   GET    /admin/cases                    cases, newest first (?status=open&campaign_id=&limit=100)
 *   POST   /admin/cases                    {campaign_id, title?, note?}: open a case on a campaign -> 201
 *   GET    /admin/cases/:id                the case file
 *   PATCH  /admin/cases/:id                {status?, note?}: record a decision or a note
 *   POST   /admin/cases/:id/refresh        rebuild from the campaign as it stands now (notes and status kept)
 *   GET    /admin/cases/:id/report         the report (Markdown; ?format=json for the case file)
 *   GET    /admin/cases/:id/stix           the case's shareable values as a STIX 2.1 bundle (keyed hashes)
 *   POST   /admin/cases/:id/publish        publish them to partners on the TAXII server (?valid_days=) -> 201 {versions, indicators, revoked}
 *   DELETE /admin/cases/:id/publish        revoke what the case published (also done when it is dismissed)
 *   GET    /admin/cases/:id/exchange       what the case published (latest versions) and partners' sightings of it
 *   GET    /admin/intel                    imported indicators in force, their sightings, partners' sightings of ours,
 *                                          the sharing key's id, stored ones hashed with another key (stale)
 *   POST   /admin/intel/import             a STIX 2.1 bundle (?level=throttle&source=NAME) -> 201 {imported, revoked, skipped}
 *   DELETE /admin/intel                    ?source=NAME or ?id=indicator--...: stop matching them -> 204;
 *                                          ?stale=true: remove those hashed with another sharing key
 *   GET    /admin/intel/feeds              partners' TAXII feeds: cursor, last poll, last error, counts
 *   POST   /admin/intel/feeds/:name/pull   poll one now (502 with the reason when it fails)
 *   GET    /admin/intel/sightings          sightings of imported indicators as a STIX 2.1 bundle, to report back
 *                                          (?source=NAME: only that partner's indicators, so no partner learns another's)
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { renderErrorBody, WardenError, type ErrorCode } from '../errors/index.ts';
import type { SharedIndicators } from '../detect/index.ts';
import { buildCaseFile, findCampaign, refreshCaseFile, type CaseLimits, type CaseSources } from './case-file.ts';
import { caseReportMarkdown } from './report.ts';
import { caseToStix, sightingsToStix, StixError, IMPORT_LEVELS } from './stix.ts';
import { caseExchange, isStale, publishCase, takeIn, withdrawCase, PARTNER_SIGHTING } from './publish.ts';
import type { PartnerSighting } from './stix.ts';
import type { FeedPoller } from './feeds.ts';
import type { CaseStore } from './store.ts';
import { CASE_STATUSES, type CaseFile } from './types.ts';

export interface CasesAdminOptions {
  store: CaseStore;
  sources: CaseSources;
  /** The indicators the detector matches (imports are added here as well as stored). */
  intel: SharedIndicators;
  /** Partners' TAXII feeds polled (null: none configured). */
  feeds?: FeedPoller | null;
  /** The sharing key (null: none configured, so export and import are refused with the reason). */
  sharingKey: string | null;
  provider: string;
  importLevel: (typeof IMPORT_LEVELS)[number];
  exportValidDays: number;
  limits: CaseLimits;
}

const openSchema = z.object({
  campaign_id: z.string().min(1).max(200),
  title: z.string().min(1).max(300).optional(),
  note: z.string().min(1).max(5000).optional(),
}).strict();

const patchSchema = z.object({
  status: z.enum(CASE_STATUSES).optional(),
  note: z.string().min(1).max(5000).optional(),
}).strict().refine((b) => b.status !== undefined || b.note !== undefined, { message: 'give a status, a note or both' });

const listSchema = z.object({
  status: z.enum(CASE_STATUSES).optional(),
  campaign_id: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

const importQuery = z.object({
  level: z.enum(IMPORT_LEVELS).optional(),
  source: z.string().min(1).max(200).optional(),
});

function fail(reply: FastifyReply, code: ErrorCode, message: string) {
  const err = new WardenError(code, message);
  return reply.code(err.status).send(renderErrorBody(err, 'openai'));
}
const issues = (err: z.ZodError) => err.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
/** `?valid_days=`: the default when absent, null when not 1-3650 whole days. */
function validDays(raw: string | undefined, fallback: number): number | null {
  const days = raw === undefined ? fallback : Number(raw);
  return Number.isInteger(days) && days >= 1 && days <= 3650 ? days : null;
}
const NO_KEY = 'no sharing key: set cases.sharing_key (or WARDEN_INTEL_KEY) to the key agreed with your partners, at least 16 characters';

export function registerCasesAdminRoutes(app: FastifyInstance, opts: CasesAdminOptions): void {
  const { store, sources, intel } = opts;
  const note = async (c: CaseFile, text: string) => {
    c.updated_at = new Date().toISOString();
    c.notes.push({ at: c.updated_at, text });
    await store.putCase(c);
  };
  // STIX's own media type is JSON too (TAXII servers and tools send it).
  if (!app.hasContentTypeParser('application/stix+json')) {
    app.addContentTypeParser('application/stix+json', { parseAs: 'string' }, (_req, body, done) => {
      try { done(null, JSON.parse(body as string)); } catch { done(new WardenError('WARDEN_INVALID_REQUEST', 'the body is not valid JSON'), undefined); }
    });
  }

  app.get('/cases', async (req, reply) => {
    const q = listSchema.safeParse(req.query ?? {});
    if (!q.success) return fail(reply, 'WARDEN_INVALID_REQUEST', issues(q.error));
    return { data: await store.listCases({ status: q.data.status, campaignId: q.data.campaign_id, limit: q.data.limit }) };
  });

  app.post('/cases', async (req, reply) => {
    const b = openSchema.safeParse(req.body ?? {});
    if (!b.success) return fail(reply, 'WARDEN_INVALID_REQUEST', issues(b.error));
    const campaign = findCampaign(sources.engine, b.data.campaign_id);
    if (!campaign) return fail(reply, 'WARDEN_NOT_FOUND', `the detector has no campaign ${b.data.campaign_id} (GET /admin/detect/campaigns lists them)`);
    const open = (await store.listCases({ campaignId: campaign.id, limit: 1000 })).find((c) => c.status === 'open');
    if (open) return fail(reply, 'WARDEN_CONFLICT', `campaign ${campaign.id} already has an open case, ${open.id}: refresh it (POST /admin/cases/${open.id}/refresh)`);
    const c = await buildCaseFile(sources, campaign.id, { title: b.data.title, limits: opts.limits });
    if (!c) return fail(reply, 'WARDEN_NOT_FOUND', `campaign ${b.data.campaign_id} is gone`);
    if (b.data.note) c.notes.push({ at: c.opened_at, text: b.data.note });
    await store.putCase(c);
    return reply.code(201).send(c);
  });

  app.get<{ Params: { id: string } }>('/cases/:id', async (req, reply) => {
    const c = await store.getCase(req.params.id);
    return c ?? fail(reply, 'WARDEN_NOT_FOUND', `no case ${req.params.id}`);
  });

  app.patch<{ Params: { id: string } }>('/cases/:id', async (req, reply) => {
    const b = patchSchema.safeParse(req.body ?? {});
    if (!b.success) return fail(reply, 'WARDEN_INVALID_REQUEST', issues(b.error));
    const c = await store.getCase(req.params.id);
    if (!c) return fail(reply, 'WARDEN_NOT_FOUND', `no case ${req.params.id}`);
    const at = new Date().toISOString();
    const changed = b.data.status !== undefined && b.data.status !== c.status;
    c.notes.push({ at, text: b.data.note ?? `status ${c.status} -> ${b.data.status}`, ...(changed ? { status: b.data.status } : {}) });
    if (b.data.status) c.status = b.data.status;
    c.updated_at = at;
    // A dismissed case was a mistake: what it published is revoked, so partners stop matching it.
    if (changed && c.status === 'dismissed') {
      const w = await withdrawCase(store, c.id);
      if (w.versions) c.notes.push({ at, text: `withdrawn from partners: ${w.revoked} indicators revoked` });
    }
    await store.putCase(c);
    return c;
  });

  app.post<{ Params: { id: string } }>('/cases/:id/refresh', async (req, reply) => {
    const old = await store.getCase(req.params.id);
    if (!old) return fail(reply, 'WARDEN_NOT_FOUND', `no case ${req.params.id}`);
    const c = await refreshCaseFile(sources, old, { limits: opts.limits });
    if (!c) return fail(reply, 'WARDEN_CONFLICT', `the detector no longer holds campaign ${old.campaign_id} (forgotten or dissolved): the case keeps what it froze`);
    c.notes.push({ at: c.updated_at, text: `refreshed: ${old.campaign.members.length} -> ${c.campaign.members.length} accounts, ${old.campaign.volume.requests} -> ${c.campaign.volume.requests} requests` });
    await store.putCase(c);
    return c;
  });

  app.get<{ Params: { id: string }; Querystring: { format?: string } }>('/cases/:id/report', async (req, reply) => {
    const c = await store.getCase(req.params.id);
    if (!c) return fail(reply, 'WARDEN_NOT_FOUND', `no case ${req.params.id}`);
    const format = req.query.format ?? 'markdown';
    if (format === 'json') return c;
    if (format !== 'markdown') return fail(reply, 'WARDEN_INVALID_REQUEST', `format: expected markdown or json, got ${format}`);
    return reply.type('text/markdown; charset=utf-8').send(caseReportMarkdown(c, await caseExchange(store, c.id)));
  });

  app.get<{ Params: { id: string }; Querystring: { valid_days?: string } }>('/cases/:id/stix', async (req, reply) => {
    if (!opts.sharingKey) return fail(reply, 'WARDEN_CONFLICT', NO_KEY);
    const c = await store.getCase(req.params.id);
    if (!c) return fail(reply, 'WARDEN_NOT_FOUND', `no case ${req.params.id}`);
    const days = validDays(req.query.valid_days, opts.exportValidDays);
    if (days === null) return fail(reply, 'WARDEN_INVALID_REQUEST', 'valid_days: a whole number of days, 1 to 3650');
    const { bundle } = caseToStix(c, { provider: opts.provider, sharingKey: opts.sharingKey, validDays: days });
    return reply.type('application/stix+json;version=2.1').send(JSON.stringify(bundle));
  });

  app.post<{ Params: { id: string }; Querystring: { valid_days?: string } }>('/cases/:id/publish', async (req, reply) => {
    if (!opts.sharingKey) return fail(reply, 'WARDEN_CONFLICT', NO_KEY);
    const days = validDays(req.query.valid_days, opts.exportValidDays);
    if (days === null) return fail(reply, 'WARDEN_INVALID_REQUEST', 'valid_days: a whole number of days, 1 to 3650');
    const c = await store.getCase(req.params.id);
    if (!c) return fail(reply, 'WARDEN_NOT_FOUND', `no case ${req.params.id}`);
    if (c.status === 'dismissed') return fail(reply, 'WARDEN_CONFLICT', `case ${c.id} is dismissed: a dismissed case is not shared`);
    const result = await publishCase(store, c, { provider: opts.provider, sharingKey: opts.sharingKey, validDays: days });
    await note(c, `published to partners: ${result.indicators} indicators${result.revoked ? `, ${result.revoked} no longer shareable revoked` : ''}, valid ${days} days`);
    return reply.code(201).send(result);
  });

  app.delete<{ Params: { id: string } }>('/cases/:id/publish', async (req, reply) => {
    const c = await store.getCase(req.params.id);
    if (!c) return fail(reply, 'WARDEN_NOT_FOUND', `no case ${req.params.id}`);
    const result = await withdrawCase(store, c.id);
    if (!result.versions) return fail(reply, 'WARDEN_NOT_FOUND', `case ${c.id} has nothing published`);
    await note(c, `withdrawn from partners: ${result.revoked} indicators revoked`);
    return result;
  });

  app.get<{ Params: { id: string } }>('/cases/:id/exchange', async (req, reply) => {
    const c = await store.getCase(req.params.id);
    if (!c) return fail(reply, 'WARDEN_NOT_FOUND', `no case ${req.params.id}`);
    return caseExchange(store, c.id);
  });

  app.get('/intel', async () => ({
    key_id: intel.keyId,
    indicators: intel.list(),
    /** Stored but hashed with another sharing key: they cannot match (DELETE /admin/intel?stale=true). */
    stale: (await store.listIndicators()).filter((i) => isStale(i, intel.keyId)),
    sightings: intel.sightings(),
    /** Partners' reports of our indicators matching at theirs (from their sightings, by feed or inbox). */
    partner_sightings: await store.listRecords<PartnerSighting>(PARTNER_SIGHTING),
  }));

  app.post('/intel/import', async (req, reply) => {
    if (!opts.sharingKey) return fail(reply, 'WARDEN_CONFLICT', NO_KEY);
    const q = importQuery.safeParse(req.query ?? {});
    if (!q.success) return fail(reply, 'WARDEN_INVALID_REQUEST', issues(q.error));
    let result;
    try {
      result = await takeIn({ store, intel, sharingKey: opts.sharingKey }, req.body, { level: q.data.level ?? opts.importLevel, source: q.data.source, operator: true });
    } catch (err) {
      if (err instanceof StixError) return fail(reply, 'WARDEN_INVALID_REQUEST', err.message);
      return fail(reply, 'WARDEN_INTERNAL', `the indicators could not be stored, so none was imported: ${(err as Error).message}`);
    }
    return reply.code(201).send({ imported: result.indicators.length, revoked: result.removed, skipped: result.skipped, key_id: intel.keyId });
  });

  app.delete<{ Querystring: { source?: string; id?: string; stale?: string } }>('/intel', async (req, reply) => {
    const { source, id, stale } = req.query ?? {};
    if ([source, id, stale].filter((x) => x !== undefined).length !== 1) return fail(reply, 'WARDEN_INVALID_REQUEST', 'give exactly one of source, id or stale=true');
    if (stale !== undefined) {
      if (stale !== 'true') return fail(reply, 'WARDEN_INVALID_REQUEST', 'stale: true, or leave it out');
      const old = (await store.listIndicators()).filter((i) => isStale(i, intel.keyId));
      if (!old.length) return fail(reply, 'WARDEN_NOT_FOUND', 'no stored indicator was hashed with another sharing key');
      for (const i of old) await store.removeIndicators({ id: i.id });
      return reply.code(204).send();
    }
    const gone = await store.removeIndicators(id ? { id } : { source });
    if (!gone.length) return fail(reply, 'WARDEN_NOT_FOUND', id ? `no indicator ${id}` : `no indicator from ${source}`);
    intel.remove(gone);
    return reply.code(204).send();
  });

  app.get('/intel/feeds', async () => ({ feeds: opts.feeds ? await opts.feeds.states() : [] }));

  app.post<{ Params: { name: string } }>('/intel/feeds/:name/pull', async (req, reply) => {
    const polled = opts.feeds?.pull(req.params.name);
    if (!polled) return fail(reply, 'WARDEN_NOT_FOUND', `no feed ${req.params.name} (cases.feeds${opts.sharingKey ? '' : '; and feeds are polled only with a sharing key'})`);
    const state = await polled;
    if (state.last_error) return fail(reply, 'WARDEN_UPSTREAM_ERROR', `feed ${state.name}: ${state.last_error}`);
    return state;
  });

  app.get<{ Querystring: { source?: string } }>('/intel/sightings', async (req, reply) => {
    const source = req.query.source;
    if (source !== undefined && !intel.list().some((i) => i.source === source)) return fail(reply, 'WARDEN_NOT_FOUND', `no indicator from ${source}`);
    // A partner is sent the sightings of its own indicators only: another's ids would tell it what that partner shared.
    const mine = source === undefined ? null : new Set(intel.list().filter((i) => i.source === source).map((i) => i.id));
    const sightings = intel.sightings().filter((s) => !mine || mine.has(s.indicator_id));
    return reply.type('application/stix+json;version=2.1').send(JSON.stringify(sightingsToStix(sightings, opts.provider)));
  });
}
