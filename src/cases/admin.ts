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
 *   POST   /admin/intel/import             a STIX 2.1 bundle (?level=throttle&source=NAME&public_key=ed25519:...) -> 201 {imported, revoked, skipped}
 *   DELETE /admin/intel                    ?source=NAME or ?id=indicator--...: stop matching them -> 204;
 *                                          ?stale=true: remove those hashed with another sharing key
 *   GET    /admin/intel/partners           partners: trust, hold, key id, collection, what each was last sent and received
 *   POST   /admin/intel/approve            ?id= or ?source=: let indicators held for review act
 *   GET    /admin/intel/feeds              partners' TAXII feeds: cursor, last poll, last error, counts
 *   POST   /admin/intel/feeds/:name/pull   poll one now (502 with the reason when it fails); ?from_start=true: the whole collection again
 *   GET    /admin/intel/sightings          sightings of imported indicators as a STIX 2.1 bundle, to report back
 *                                          (?source=NAME: only that partner's indicators, so no partner learns another's)
 */
import { checkSigned, parsePin, type IntelPublicKey, type IntelSigner } from './signing.ts';
import type { PinsReloaded } from './pins.ts';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { WardenError } from '../errors/index.ts';
import { mountAdminRoutes, type AdminRouteRegistrar } from '../admin/router.ts';
import { CampaignSchema, INDICATOR_KINDS, PARTNER_TRUSTS, REVIEW_HOLDS, VERDICT_LEVELS, type SharedIndicators } from '../detect/index.ts';
import { buildCaseFile, findCampaign, refreshCaseFile, type CaseLimits, type CaseSources } from './case-file.ts';
import { caseReportMarkdown, decisionText } from './report.ts';
import { identityNames, sightingsToStix, StixError, IMPORT_LEVELS } from './stix.ts';
import { caseBundle, caseExchange, isStale, takeIn, PARTNER_SIGHTING, type PublishResult } from './publish.ts';
import { approveIndicators, DEFAULT_GRACE_DAYS, PartnerError, Partners } from './partners.ts';
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
  /** The sharing key (null: none configured, so export and import are refused with the reason, unless partners have keys of their own). */
  sharingKey: string | null;
  /** The partners (cases.partners), their keys and collections; absent: none listed, every source on the sharing key. */
  partners?: Partners;
  provider: string;
  importLevel: (typeof IMPORT_LEVELS)[number];
  exportValidDays: number;
  limits: CaseLimits;
  /** This provider's signing key (cases.signing_key): exported bundles' objects carry its signature; its public key is shown. */
  signer?: IntelSigner | null;
  /**
   * Read the configuration again and pin the partners' and feeds' signing keys it gives (what
   * SIGHUP does); throws with the reason, nothing changed. Absent: this node cannot re-read it.
   */
  reloadPins?: (() => PinsReloaded) | null;
  /**
   * Stage a new signing key that signs after `overlapDays` (the key in force signs until then),
   * kept where the key in force is kept; throws with the reason. Absent: this node cannot.
   */
  rotateSigningKey?: ((overlapDays: number) => IntelSigner) | null;
}

/** The signing keys as GET /admin/intel shows them: public keys and ids, never a private key. */
function signingView(signer: IntelSigner) {
  const next = signer.staged();
  return {
    key_id: signer.keyId, public_key: signer.publicKey.toString(),
    next: next ? { key_id: next.signer.keyId, public_key: next.signer.publicKey.toString(), from: new Date(next.from).toISOString() } : null,
  };
}
const SigningSchema = z.object({
  key_id: z.string(), public_key: z.string(),
  next: z.object({ key_id: z.string(), public_key: z.string(), from: z.string() }).nullable(),
});
const RotateSigningInput = z.strictObject({ overlap_days: z.number().int().min(0).max(365).default(14) });

const STIX_MEDIA = 'application/stix+json;version=2.1';
const CaseStatus = z.enum(CASE_STATUSES);
const IdParams = z.strictObject({ id: z.string().min(1).max(200) });

const OpenInput = z.strictObject({
  campaign_id: z.string().min(1).max(200),
  title: z.string().min(1).max(300).optional(),
  note: z.string().min(1).max(5000).optional(),
});
const PatchInput = z.strictObject({
  status: CaseStatus.optional(),
  note: z.string().min(1).max(5000).optional(),
}).refine((b) => b.status !== undefined || b.note !== undefined, { message: 'give a status, a note or both' });
const ListQuery = z.strictObject({
  status: CaseStatus.optional(),
  campaign_id: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
const ValidDaysQuery = z.strictObject({
  valid_days: z.coerce.number().int().min(1).max(3650).optional().describe('how long partners should match what is shared (default cases.export_valid_days)'),
});
const ExportQuery = ValidDaysQuery.extend({
  partner: z.string().min(1).max(100).optional().describe('hash with the key agreed with this partner (cases.partners) instead of the shared key'),
});
const PartnerParams = z.strictObject({ name: z.string().min(1).max(100) });
const RotateInput = z.strictObject({
  key: z.string().min(16).max(512).optional().describe('the new key, when the partner made it; without it a random key is made here and returned once'),
  grace_days: z.number().int().min(0).max(365).optional().describe(`days the key before still matches the partner's indicators (default ${DEFAULT_GRACE_DAYS})`),
});
const ApproveQuery = z.strictObject({
  id: z.string().min(1).max(200).optional(),
  source: z.string().min(1).max(200).optional().describe('every indicator held for review from this source'),
});
const PartnerSchema = z.object({
  name: z.string(), trust: z.enum(PARTNER_TRUSTS), hold: z.enum(REVIEW_HOLDS),
  key_id: z.string().nullable().describe('the id of the key in force with this partner (never the key); null: none agreed'),
  key_origin: z.enum(['shared', 'configured', 'stored']).nullable().describe('shared: cases.sharing_key; configured: its `key`; stored: set by a rotation'),
  previous_keys: z.array(z.object({ key_id: z.string(), until: z.string() })).describe('keys before the last rotation, still matching its indicators until then'),
  collection: z.enum(['own', 'shared']).describe('the published collection it reads: its own (hashed with its key) or the shared one'),
  pinned_keys: z.array(z.string()).describe('the ids of its signing keys pinned (cases.partners[].public_key); empty: its objects are taken unsigned'),
});
const PartnerExchangeSchema = PartnerSchema.extend({
  sent: z.object({
    at: z.string(), case_id: z.string(), action: z.enum(['published', 'withdrawn']),
    indicators: z.number().describe('indicators the case published'), revoked: z.number().describe('indicators revoked'),
  }).nullable().describe('the last change to the collection it reads (a case published or withdrawn there); null: none recorded'),
  received: z.object({
    indicators: z.number().describe('its indicators held now'), held: z.number().describe('of which held for review'),
    last_indicator_at: z.string().nullable().describe('when the latest of them was imported'),
    last_sighting_at: z.string().nullable().describe('when it last reported sightings of our indicators'),
    last_feed_poll_at: z.string().nullable().describe('the last good poll of its feed (a feed of the same name in cases.feeds)'),
  }),
});
const ReportQuery = z.strictObject({ format: z.enum(['markdown', 'json']).default('markdown') });
const ImportQuery = z.strictObject({
  level: z.enum(IMPORT_LEVELS).optional().describe('the level an imported indicator raises a match to (default cases.import_level)'),
  source: z.string().min(1).max(200).optional().describe('the partner the bundle comes from'),
  public_key: z.string().min(1).max(1000).optional()
    .describe('take in only objects signed by this key (`ed25519:...`; several separated by commas: any of them); others are skipped with the reason. Unset: the pin of the partner named by source (cases.partners[].public_key), else objects are taken signed or not'),
});
const RemoveIntelQuery = z.strictObject({
  source: z.string().min(1).max(200).optional(),
  id: z.string().min(1).max(200).optional(),
  stale: z.literal('true').optional().describe('remove the indicators hashed with another sharing key'),
});
const SightingsQuery = z.strictObject({ source: z.string().min(1).max(200).optional() });
const FeedParams = z.strictObject({ name: z.string().min(1).max(200) });
const PullQuery = z.strictObject({ from_start: z.literal('true').optional().describe('read the whole collection again, not only what was added since the last poll') });

const CaseSummarySchema = z.object({
  id: z.string(), title: z.string(), status: CaseStatus, campaign_id: z.string(), cluster_id: z.string(),
  campaign_gone: z.boolean().optional().describe('true: neither campaign_id nor cluster_id names a campaign the detector holds now (renamed by an upgrade or a rebuild, or no longer active); `POST /cases/{id}/refresh` finds it again by its accounts'),
  opened_at: z.string(), updated_at: z.string(), members: z.number(), level: z.string(),
});
export const CaseFileSchema = z.looseObject({
  schema: z.literal('warden.case/1').describe('the case file\'s format (additive changes keep the version)'),
  id: z.string(), title: z.string(), status: CaseStatus, campaign_id: z.string(), cluster_id: z.string(),
  opened_at: z.string(), updated_at: z.string(),
  campaign: CampaignSchema,
  members: z.array(z.looseObject({ account_id: z.string() })),
  observables: z.array(z.looseObject({})),
  usage: z.looseObject({ requests: z.number(), input_tokens: z.number(), output_tokens: z.number() }),
  events_read: z.number(), events_truncated: z.boolean(), window_events_scanned: z.number(), window_truncated: z.boolean(),
  ledger: z.looseObject({ truncated: z.boolean() }).nullable().describe('the signed checkpoint the case was built against, and the logged verdicts and usage'),
  decisions: z.array(z.looseObject({ account_id: z.string(), decision: z.enum(['allow_list', 'operator_verdict']), excluded: z.boolean(), by: z.string().nullable(), at: z.string().nullable(), note: z.string().nullable() })).optional()
    .describe('operator decisions on the campaign\'s accounts when the case was built: allow-listed (or held at none) accounts are not members and their values are not shared'),
  cluster_decisions: z.array(z.looseObject({ cluster_id: z.string(), level: z.string(), merged_into: z.string().nullable(), by: z.string().nullable(), at: z.string(), expires_at: z.string().nullable(), note: z.string().nullable() })).optional()
    .describe('operator verdicts on the campaign\'s cluster (or on a cluster merged into it, `merged_into`) when the case was built: the decision that holds all of its accounts'),
  notes: z.array(z.object({ at: z.string(), text: z.string(), status: CaseStatus.optional(), by: z.string().optional().describe('who wrote it or made the change (x-warden-actor)') })),
});
const PublishResultSchema = z.object({
  versions: z.number(), indicators: z.number(), revoked: z.number(),
  kept: z.number().describe('indicators the case no longer publishes that stay in force: another case publishes them too'),
});
const StixBundle = z.looseObject({ type: z.literal('bundle'), id: z.string(), objects: z.array(z.looseObject({ type: z.string(), id: z.string() })) }).describe('a STIX 2.1 bundle');
const PartnerSightingSchema = z.object({
  source: z.string(), sighting_id: z.string(), indicator_id: z.string(), count: z.number().nullable(), accounts: z.number().nullable(),
  first_seen: z.string().nullable(), last_seen: z.string().nullable(), received_at: z.string(),
});
const SightingSchema = z.object({ indicator_id: z.string(), count: z.number(), accounts: z.number(), first_seen: z.string(), last_seen: z.string() });
/** What import takes in: checked object by object (an object it cannot use is skipped, and said why). */
const StixBundleInput = z.looseObject({ type: z.string().describe('"bundle"'), objects: z.array(z.unknown()).optional() }).describe('a STIX 2.1 bundle');
const ExchangeSchema = z.object({
  published: z.array(z.object({ id: z.string(), kind: z.string().nullable(), version: z.string(), revoked: z.boolean(), valid_until: z.string().nullable(), partner: z.string().nullable().describe('the partner whose own collection holds it (hashed with its key); null: the shared collection') })),
  partner_sightings: z.array(PartnerSightingSchema),
  sharing: z.object({
    export: z.boolean().describe('the STIX export (`GET /admin/cases/:id/stix` without `partner`) works: the sharing key is set (cases.sharing_key)'),
    publish: z.boolean().describe('publishing works: the sharing key or a partner\'s own key is set'),
  }).describe('what this server can share the case by; false: refused with WARDEN_NOT_CONFIGURED until a sharing key is set'),
});
const IndicatorSchema = z.object({
  id: z.string(), kind: z.enum(INDICATOR_KINDS), hmac: z.string().describe('HMAC-SHA256 under the sharing key: never the value itself'),
  level: z.enum(VERDICT_LEVELS), source: z.string(), campaign: z.string().nullable(), confidence: z.number().nullable(),
  valid_until: z.string().nullable(), created_at: z.string(), key_id: z.string().nullable().optional(),
});
const FeedStateSchema = z.object({
  name: z.string(), url: z.string(), cursor: z.string().nullable(), last_poll_at: z.string().nullable(), last_ok_at: z.string().nullable(),
  last_error: z.string().nullable(), polls: z.number(), imported: z.number(), revoked: z.number(), skipped: z.number(),
  refused: z.number().optional().describe('of the skipped: refused for a missing or bad signature'),
  pinned_keys: z.array(z.string()).optional().describe('the ids of the signing keys pinned for it now (its public_key, else its partner\'s); empty: taken unsigned'),
});
const PinChangeSchema = z.object({ kind: z.enum(['partner', 'feed']), name: z.string(), before: z.array(z.string()), after: z.array(z.string()) });

const NO_KEY = 'no sharing key: set cases.sharing_key (or WARDEN_INTEL_KEY) to the key agreed with your partners, at least 16 characters (docs/cases.md, "Exchanging indicators")';
/** A route that needs the sharing key on a server without one: a setting missing, not a conflict with the case. */
const noKey = () => new WardenError('WARDEN_NOT_CONFIGURED', NO_KEY);
const notFound = (message: string) => new WardenError('WARDEN_NOT_FOUND', message);
const conflict = (message: string) => new WardenError('WARDEN_CONFLICT', message);

/** The note a withdrawal leaves in the case. */
const withdrawnNote = (w: PublishResult) => `withdrawn from partners: ${w.revoked} indicators revoked${w.kept ? `, ${w.kept} left in force (another case publishes them)` : ''}`;

/** The case-file and threat-intel admin routes (registered through the admin API's route table). */
export function casesAdminRoutes(opts: CasesAdminOptions): AdminRouteRegistrar {
  const { store, sources, intel } = opts;
  const note = async (c: CaseFile, text: string, by: string) => {
    c.updated_at = new Date().toISOString();
    c.notes.push({ at: c.updated_at, text, by });
    await store.putCase(c);
  };
  const getCase = async (id: string): Promise<CaseFile> => {
    const c = await store.getCase(id);
    if (!c) throw notFound(`no case ${id}`);
    return c;
  };
  const partners = opts.partners ?? new Partners({ store, intel, sharedKey: opts.sharingKey, partners: [], provider: opts.provider, validDays: opts.exportValidDays });
  /** The key an export is hashed with: the partner's own (`partner`), else the shared key. */
  const exportKey = (partner?: string): string => {
    if (partner !== undefined) {
      if (!partners.has(partner)) throw notFound(`no partner ${partner} in cases.partners`);
      const keys = partners.keysFor(partner);
      if (!keys) throw noKey();
      return keys.hash;
    }
    if (!opts.sharingKey) throw noKey();
    return opts.sharingKey;
  };
  const anyKey = () => { if (!partners.anyKey) throw noKey(); };
  const asCase = (c: CaseFile) => c as unknown as z.input<typeof CaseFileSchema>;
  const tag = 'cases';

  return (r) => {
    r.component('CaseFile', CaseFileSchema);
    r.component('CaseSummary', CaseSummarySchema);

    r.route({ method: 'GET', path: '/cases', operationId: 'listCases', tag, summary: 'Case files, newest first',
      query: ListQuery, response: z.object({ data: z.array(CaseSummarySchema) }),
      handler: async ({ query }) => ({ data: await store.listCases({ status: query.status, campaignId: query.campaign_id, limit: query.limit }) }) });

    r.route({ method: 'POST', path: '/cases', operationId: 'openCase', tag, status: 201, summary: 'Open a case on a detector campaign',
      errors: { 404: 'the detector has no such campaign', 409: 'the campaign already has an open or confirmed case' },
      body: OpenInput, response: CaseFileSchema,
      handler: async ({ body, actor }) => {
        const campaign = findCampaign(sources.engine, body.campaign_id);
        if (!campaign) throw new WardenError('WARDEN_NOT_FOUND', `the detector has no campaign ${body.campaign_id} (GET /admin/detect/campaigns lists them)`, { param: 'campaign_id' });
        // One live case per campaign: two would publish the same indicators and take turns revoking them.
        // Matched by cluster and by members too: a case opened when the campaign had other ids
        // (before a restart without a snapshot, say) still covers it, as a refresh would find.
        const live = await store.liveCaseOn({ campaignId: campaign.id, clusterId: campaign.cluster_id, members: campaign.members, knows: (id) => sources.engine.knows(id) });
        if (live) throw conflict(`campaign ${campaign.id} already has ${live.status === 'open' ? 'an open' : 'a confirmed'} case, ${live.id}: refresh it (POST /admin/cases/${live.id}/refresh)`);
        const c = await buildCaseFile(sources, campaign.id, { title: body.title, limits: opts.limits });
        if (!c) throw notFound(`campaign ${body.campaign_id} is gone`);
        if (body.note) c.notes.push({ at: c.opened_at, text: body.note, by: actor });
        // An id from an alert that has since merged: the case is on the campaign it merged into, and says so.
        if (body.campaign_id !== c.campaign_id && body.campaign_id !== c.cluster_id) {
          c.notes.push({ at: c.opened_at, text: `opened as ${body.campaign_id}, which merged into campaign ${c.campaign_id} (cluster ${c.cluster_id})`, by: actor });
        }
        await store.putCase(c);
        return asCase(c);
      } });

    r.route({ method: 'GET', path: '/cases/:id', operationId: 'getCase', tag, summary: 'A case file',
      params: IdParams, response: CaseFileSchema, handler: async ({ params }) => {
        const c = await getCase(params.id);
        const live = c.status === 'open' || c.status === 'confirmed';
        const gone = live && sources.engine.campaign(c.campaign_id) === null && sources.engine.cluster(c.cluster_id, 0) === null;
        return asCase(gone ? { ...c, campaign_gone: true } as CaseFile : c);
      } });

    r.route({ method: 'PATCH', path: '/cases/:id', operationId: 'updateCase', tag, summary: 'Record a decision (status) or a note; dismissing withdraws what the case published',
      params: IdParams, body: PatchInput, response: CaseFileSchema,
      handler: async ({ params, body, actor }) => {
        const c = await getCase(params.id);
        const at = new Date().toISOString();
        const changed = body.status !== undefined && body.status !== c.status;
        c.notes.push({ at, text: body.note ?? `status ${c.status} -> ${body.status}`, ...(changed ? { status: body.status } : {}), by: actor });
        if (body.status) c.status = body.status;
        c.updated_at = at;
        // A dismissed case was a mistake: what it published is revoked, so partners stop matching it.
        if (changed && c.status === 'dismissed') {
          const w = await partners.withdraw(c.id);
          if (w) c.notes.push({ at, text: withdrawnNote(w), by: actor });
        }
        await store.putCase(c);
        return asCase(c);
      } });

    r.route({ method: 'POST', path: '/cases/:id/refresh', operationId: 'refreshCase', tag, summary: 'Rebuild a case from its campaign as it stands now (notes and status kept)',
      errors: { 409: 'the detector no longer holds the campaign' },
      params: IdParams, response: CaseFileSchema,
      handler: async ({ params, actor }) => {
        const old = await getCase(params.id);
        const refreshed = await refreshCaseFile(sources, old, { limits: opts.limits });
        if (!refreshed) throw conflict(`the detector no longer holds campaign ${old.campaign_id} (forgotten or dissolved, and no campaign holds most of the case's accounts): the case keeps what it froze`);
        const { file: c, found } = refreshed;
        const renamed = c.campaign_id === old.campaign_id ? ''
          : found.by === 'members' ? `; found by its accounts (campaign ${c.campaign_id} on cluster ${c.cluster_id} holds ${found.held} of the case's ${old.campaign.members.length}${found.known < old.campaign.members.length ? `, ${found.known} of them known to the detector` : ''}), was campaign ${old.campaign_id} on cluster ${old.cluster_id}`
          : `; the campaign of cluster ${c.cluster_id} is now named ${c.campaign_id} (was ${old.campaign_id})`;
        const decided = (c.decisions ?? []).filter((d) => d.excluded);
        const newly = decided.filter((d) => !(old.decisions ?? []).some((o) => o.excluded && o.account_id === d.account_id));
        const left = newly.length ? `; no longer counted (operator decisions): ${newly.map((d) => `${d.account_id} (${decisionText(d)})`).join(', ')}` : '';
        c.notes.push({ at: c.updated_at, text: `refreshed: ${old.members.length} -> ${c.members.length} accounts, ${old.campaign.volume.requests} -> ${c.campaign.volume.requests} requests${renamed}${left}`, by: actor });
        await store.putCase(c);
        return asCase(c);
      } });

    r.route({ method: 'GET', path: '/cases/:id/report', operationId: 'caseReport', tag, summary: 'The case report (Markdown, or the case file with ?format=json)',
      params: IdParams, query: ReportQuery, produces: 'text/markdown', response: z.string(), alsoProduces: { 'application/json': CaseFileSchema },
      handler: async ({ params, query, reply }) => {
        const c = await getCase(params.id);
        if (query.format === 'json') return reply.send(c);
        return reply.type('text/markdown; charset=utf-8').send(caseReportMarkdown(c, await caseExchange(store, c.id)));
      } });

    r.route({ method: 'GET', path: '/cases/:id/stix', operationId: 'caseStix', tag, summary: 'The case\'s shareable values as a STIX 2.1 bundle (keyed hashes only)',
      errors: { 409: 'no sharing key is configured' },
      params: IdParams, query: ExportQuery, produces: STIX_MEDIA, response: StixBundle,
      handler: async ({ params, query, reply }) => {
        const key = exportKey(query.partner);
        const c = await getCase(params.id);
        // Objects already published keep their `created` in the export too (one object, one history).
        const { bundle } = await caseBundle(store, c, { provider: opts.provider, sharingKey: key, validDays: query.valid_days ?? opts.exportValidDays, collection: query.partner === undefined ? undefined : partners.collectionFor(query.partner) });
        const signer = opts.signer;
        return reply.type(STIX_MEDIA).send(JSON.stringify(signer ? { ...bundle, objects: bundle.objects.map((o) => signer.sign(o)) } : bundle));
      } });

    r.route({ method: 'POST', path: '/cases/:id/publish', operationId: 'publishCase', tag, status: 201, summary: 'Publish the case\'s indicators to partners on the TAXII server',
      errors: { 409: 'no sharing key is configured, or the case is dismissed' },
      params: IdParams, query: ValidDaysQuery, response: PublishResultSchema,
      handler: async ({ params, query, actor }) => {
        anyKey();
        const days = query.valid_days ?? opts.exportValidDays;
        const c = await getCase(params.id);
        if (c.status === 'dismissed') throw conflict(`case ${c.id} is dismissed: a dismissed case is not shared`);
        // Its values were judged with accounts an operator has since taken out of the campaign: refresh first.
        const since = sources.engine.clusterExemptions(sources.engine.campaign(c.campaign_id)?.cluster_id ?? c.cluster_id).map((e) => e.account)
          .filter((a) => c.members.some((m) => m.account_id === a));
        if (since.length) throw conflict(`case ${c.id} counts ${since.length} account(s) an operator has since allow-listed or held at none (${since.slice(0, 5).join(', ')}): refresh it (POST /admin/cases/${c.id}/refresh) so their values are not shared, then publish`);
        const result = await partners.publish(c, days);
        await note(c, `published to partners: ${result.indicators} indicators${result.revoked ? `, ${result.revoked} no longer shareable revoked` : ''}${result.kept ? `, ${result.kept} no longer shareable left in force (another case publishes them)` : ''}, valid ${days} days`, actor);
        return result;
      } });

    r.route({ method: 'DELETE', path: '/cases/:id/publish', operationId: 'withdrawCase', tag, summary: 'Revoke what the case published',
      params: IdParams, response: PublishResultSchema,
      handler: async ({ params, actor }) => {
        const c = await getCase(params.id);
        const result = await partners.withdraw(c.id);
        if (!result) throw notFound(`case ${c.id} has nothing published`);
        await note(c, withdrawnNote(result), actor);
        return result;
      } });

    r.route({ method: 'GET', path: '/cases/:id/exchange', operationId: 'caseExchange', tag, summary: 'What the case published (latest versions) and partners\' sightings of it',
      params: IdParams, response: ExchangeSchema,
      handler: async ({ params }) => ({ ...await caseExchange(store, (await getCase(params.id)).id), sharing: { export: opts.sharingKey !== null && opts.sharingKey !== '', publish: partners.anyKey } }) });

    r.route({ method: 'GET', path: '/intel', operationId: 'listIntel', tag: 'intel',
      summary: 'Imported indicators in force, their sightings, partners\' sightings of ours, the sharing key\'s id, stale stored indicators',
      response: z.object({
        key_id: z.string().nullable(),
        import: z.boolean().describe('a partner\'s bundle can be imported (`POST /admin/intel/import`): the sharing key (cases.sharing_key) or a partner\'s own key is set; false: refused with WARDEN_NOT_CONFIGURED until one is'),
        signing: z.object({
          key_id: z.string(), public_key: z.string(),
          next: z.object({ key_id: z.string(), public_key: z.string(), from: z.string() }).nullable()
            .describe('a key staged by a rotation (warden intel rotate-key), signing from `from` on: partners pin it beside public_key before then'),
        }).nullable()
          .describe('the key this provider signs what it shares with: give partners public_key to pin (their cases.feeds[].public_key); null: objects go out unsigned'),
        indicators: z.array(IndicatorSchema.extend({
          held: z.object({ reason: z.string(), accounts: z.number() }).nullable()
            .describe('held for review, not enforced: more established accounts here share the value than cases.max_indicator_accounts'),
        })),
        stale: z.array(IndicatorSchema).describe('stored but hashed with another sharing key: they cannot match (DELETE /admin/intel?stale=true)'),
        sightings: z.array(SightingSchema),
        partner_sightings: z.array(PartnerSightingSchema),
      }),
      handler: async () => ({
        key_id: intel.keyId,
        import: partners.anyKey,
        signing: opts.signer ? signingView(opts.signer) : null,
        indicators: intel.listWithHolds(),
        stale: (await store.listIndicators()).filter((i) => isStale(i, intel.keyIds())),
        sightings: intel.sightings(),
        partner_sightings: await store.listRecords<PartnerSighting>(PARTNER_SIGHTING),
      }) });

    r.route({ method: 'POST', path: '/intel/import', operationId: 'importIntel', tag: 'intel', status: 201, summary: 'Import a partner\'s STIX 2.1 bundle of indicators',
      errors: { 409: 'no sharing key is configured', 500: 'the indicators could not be stored (none was imported)' },
      query: ImportQuery, body: StixBundleInput, bodyTypes: ['application/stix+json'],
      response: z.object({ imported: z.number(), revoked: z.number(), skipped: z.array(z.object({ id: z.string(), reason: z.string() })).describe('objects not taken in, and why'), key_id: z.string().nullable() }),
      handler: async ({ query, request }) => {
        anyKey();
        // The key given, else the pin of the partner the bundle is imported in the name of: only what it signed.
        let pinned: readonly IntelPublicKey[];
        try { pinned = query.public_key ? parsePin(query.public_key.split(',')) : query.source ? partners.publicKeysFor(query.source) : []; } catch (err) {
          throw new WardenError('WARDEN_INVALID_REQUEST', `public_key: ${(err as Error).message}`);
        }
        const body = request.body as { objects?: unknown };
        const given = pinned.length && Array.isArray(body.objects) ? await checkSigned(body.objects, pinned) : { kept: body.objects, refused: [] };
        // Without a source named, each object comes under the name of the identity that made it:
        // one naming a partner whose key is pinned must be signed by that key, as with ?source= that
        // partner, so that a file handed to an operator cannot act in its name (and with its trust).
        const named = !query.source && Array.isArray(given.kept) ? await checkNamedMakers(given.kept, (name) => partners.publicKeysFor(name)) : { kept: given.kept, refused: [] };
        const kept = named.kept;
        const refused = [...given.refused, ...named.refused];
        let result;
        try {
          result = await takeIn({ store, intel, sharingKey: opts.sharingKey, keysFor: (source) => partners.keysFor(source) }, refused.length ? { ...body, objects: kept } : request.body, { level: query.level ?? opts.importLevel, source: query.source, operator: true });
          result = { ...result, skipped: [...refused, ...result.skipped] };
        } catch (err) {
          if (err instanceof StixError) throw new WardenError('WARDEN_INVALID_REQUEST', err.message);
          throw new WardenError('WARDEN_INTERNAL', `the indicators could not be stored, so none was imported: ${(err as Error).message}`);
        }
        return { imported: result.indicators.length, revoked: result.removed, skipped: result.skipped, key_id: intel.keyId };
      } });

    r.route({ method: 'DELETE', path: '/intel', operationId: 'removeIntel', tag: 'intel', status: 204,
      summary: 'Stop matching imported indicators: a partner\'s (source), one (id), or those hashed with another sharing key (stale=true)',
      errors: { 404: 'no such indicator' },
      query: RemoveIntelQuery, response: z.void(),
      handler: async ({ query: { source, id, stale } }) => {
        if ([source, id, stale].filter((x) => x !== undefined).length !== 1) throw new WardenError('WARDEN_INVALID_REQUEST', 'give exactly one of source, id or stale=true');
        if (stale !== undefined) {
          const old = (await store.listIndicators()).filter((i) => isStale(i, intel.keyIds()));
          if (!old.length) throw notFound('no stored indicator was hashed with another sharing key');
          for (const i of old) await store.removeIndicators({ id: i.id });
          return;
        }
        const gone = await store.removeIndicators(id ? { id } : { source });
        if (!gone.length) throw notFound(id ? `no indicator ${id}` : `no indicator from ${source}`);
        intel.remove(gone);
      } });

    r.route({ method: 'GET', path: '/intel/partners', operationId: 'listIntelPartners', tag: 'intel', summary: 'Partners (cases.partners): trust, review hold, the id of the key agreed with each, and the collection each reads',
      response: z.object({ partners: z.array(PartnerExchangeSchema) }),
      handler: async () => {
        const indicators = intel.listWithHolds();
        const sightings = await store.listRecords<PartnerSighting>(PARTNER_SIGHTING);
        const feeds = opts.feeds ? await opts.feeds.states() : [];
        const latest = (ts: Array<string | null>) => ts.reduce<string | null>((a, t) => (t !== null && (a === null || t > a) ? t : a), null);
        return { partners: await Promise.all(partners.list().map(async (p) => {
          const theirs = indicators.filter((i) => i.source === p.name);
          const sent = await partners.lastSent(p.name);
          return {
            ...p,
            sent: sent ? { at: sent.at, case_id: sent.case_id, action: sent.action, indicators: sent.indicators, revoked: sent.revoked } : null,
            received: {
              indicators: theirs.length, held: theirs.filter((i) => i.held !== null).length,
              last_indicator_at: latest(theirs.map((i) => i.created_at)),
              last_sighting_at: latest(sightings.filter((x) => x.source === p.name).map((x) => x.received_at)),
              last_feed_poll_at: feeds.find((f) => f.name === p.name)?.last_ok_at ?? null,
            },
          };
        })) };
      } });

    r.route({ method: 'POST', path: '/intel/partners/:name/rotate', operationId: 'rotateIntelPartnerKey', tag: 'intel', status: 201,
      summary: 'Give a partner a new key: what was published is published again to its own collection under it; the key before matches its indicators for the grace period',
      errors: { 404: 'no such partner in cases.partners', 400: 'the key is too short or already in use' },
      params: PartnerParams, body: RotateInput,
      response: z.object({
        key: z.string().describe('the new key, shown this once: give it to the partner by a channel you trust'),
        key_id: z.string(), previous: z.array(z.object({ key_id: z.string(), until: z.string() })),
        republished: z.number().describe('published cases published again to the partner\'s collection under the new key'),
      }),
      handler: async ({ params, body }) => {
        try {
          return await partners.rotate(params.name, { key: body.key, graceDays: body.grace_days, getCase: (id) => store.getCase(id) });
        } catch (err) {
          if (err instanceof PartnerError) throw err.kind === 'not_found' ? notFound(err.message) : new WardenError('WARDEN_INVALID_REQUEST', err.message, { param: 'key' });
          throw err;
        }
      } });

    r.route({ method: 'POST', path: '/intel/approve', operationId: 'approveIntel', tag: 'intel', summary: 'Let indicators held for review act (one by id, or all of a source\'s held now): an operator reviewed them',
      errors: { 404: 'no indicator held for review matches' },
      query: ApproveQuery, response: z.object({ approved: z.array(z.string()) }),
      handler: async ({ query, actor }) => {
        if ((query.id === undefined) === (query.source === undefined)) throw new WardenError('WARDEN_INVALID_REQUEST', 'give exactly one of id or source');
        const approved = await approveIndicators(store, intel, query, actor);
        if (!approved.length) throw notFound(query.id ? `no indicator ${query.id} is held for review` : `no indicator from ${query.source} is held for review`);
        return { approved };
      } });

    r.route({ method: 'POST', path: '/intel/signing/rotate', operationId: 'rotateIntelSigningKey', tag: 'intel', summary: 'Stage a new signing key: the key in force signs for overlap_days more, then the new one',
      description: 'The new key is made here and kept where the key in force is (intel-signing.key beside the database), with the time it starts signing; the answer gives both public keys for partners to pin (never a private key). A key set in cases.signing_key is rotated in the configuration instead (409).',
      errors: { 409: 'no signing key, a key set in cases.signing_key, a rotation already staged, or the key file could not be written' },
      status: 201, body: RotateSigningInput, response: SigningSchema,
      handler: async ({ body }) => {
        if (!opts.rotateSigningKey) throw conflict('this node cannot rotate its signing key here');
        try { return signingView(opts.rotateSigningKey(body.overlap_days)); } catch (err) { throw conflict((err as Error).message); }
      } });

    r.route({ method: 'POST', path: '/intel/pins/reload', operationId: 'reloadIntelPins', tag: 'intel', summary: 'Read the configuration again and pin the signing keys it gives partners and feeds (what SIGHUP does)',
      description: 'Every cases.partners[].public_key and cases.feeds[].public_key is read before any is used: a configuration that cannot be read, or a pin that is not a public key, is a 409 naming why, and the pins in force stay. Partners and feeds added or removed take effect at restart (listed under `ignored`). Each node reads its own configuration: reload every node that runs the detector.',
      errors: { 409: 'the configuration could not be read, or a pin is not an ed25519 public key; the pins in force are unchanged' },
      response: z.object({ changed: z.array(PinChangeSchema), unchanged: z.number(), ignored: z.array(z.string()) }),
      handler: async () => {
        if (!opts.reloadPins) throw conflict('this node cannot read its configuration again (not started by warden serve from a configuration file); the pins in force are unchanged');
        try { return opts.reloadPins(); } catch (err) { throw conflict(`${(err as Error).message}; the pins in force are unchanged`); }
      } });

    r.route({ method: 'GET', path: '/intel/feeds', operationId: 'listIntelFeeds', tag: 'intel', summary: 'Partners\' TAXII feeds: cursor, last poll, last error, counts',
      response: z.object({ feeds: z.array(FeedStateSchema) }),
      handler: async () => ({ feeds: opts.feeds ? await opts.feeds.states() : [] }) });

    r.route({ method: 'POST', path: '/intel/feeds/:name/pull', operationId: 'pullIntelFeed', tag: 'intel', summary: 'Poll a partner\'s feed now',
      errors: { 502: 'the poll failed (the reason is in the message)' },
      params: FeedParams, query: PullQuery, response: FeedStateSchema,
      handler: async ({ params, query }) => {
        const polled = opts.feeds?.pull(params.name, { fromStart: query.from_start === 'true' });
        if (!polled) throw notFound(`no feed ${params.name} (cases.feeds${opts.sharingKey ? '' : '; and feeds are polled only with a sharing key'})`);
        const state = await polled;
        if (state.last_error) throw new WardenError('WARDEN_UPSTREAM_ERROR', `feed ${state.name}: ${state.last_error}`);
        return state;
      } });

    r.route({ method: 'GET', path: '/intel/sightings', operationId: 'intelSightings', tag: 'intel',
      summary: 'Sightings of imported indicators as a STIX 2.1 bundle, to report back (source: only that partner\'s indicators)',
      errors: { 404: 'no indicator from that source' },
      query: SightingsQuery, produces: STIX_MEDIA, response: StixBundle,
      handler: async ({ query: { source }, reply }) => {
        if (source !== undefined && !intel.list().some((i) => i.source === source)) throw notFound(`no indicator from ${source}`);
        // A partner is sent the sightings of its own indicators only: another's ids would tell it what that partner shared.
        const mine = source === undefined ? null : new Set(intel.list().filter((i) => i.source === source).map((i) => i.id));
        const sightings = intel.partnerSightings().filter((s) => !mine || mine.has(s.indicator_id));
        return reply.type(STIX_MEDIA).send(JSON.stringify(sightingsToStix(sightings, opts.provider)));
      } });
  };
}

/**
 * The objects whose maker (`created_by_ref`, by the name its identity in the bundle gives) is a
 * partner with a pinned key and that this key did not sign are refused, with the reason and the
 * partner named; the others are kept, in their order. Checked by maker, a batch each, so that a
 * large bundle gives the event loop back as checkSigned does.
 */
async function checkNamedMakers(objects: readonly unknown[], pinsOf: (source: string) => readonly IntelPublicKey[]): Promise<{ kept: unknown[]; refused: Array<{ id: string; reason: string }> }> {
  const names = identityNames(objects);
  const byMaker = new Map<string, unknown[]>();
  for (const o of objects) {
    const ref = o && typeof o === 'object' ? (o as { created_by_ref?: unknown }).created_by_ref : undefined;
    const maker = typeof ref === 'string' ? names.get(ref) : undefined;
    if (maker === undefined || !pinsOf(maker).length) continue;
    const group = byMaker.get(maker);
    if (group) group.push(o); else byMaker.set(maker, [o]);
  }
  if (!byMaker.size) return { kept: [...objects], refused: [] };
  const checked = new Set<unknown>();
  const passed = new Set<unknown>();
  const refused: Array<{ id: string; reason: string }> = [];
  for (const [maker, group] of byMaker) {
    const r = await checkSigned(group, pinsOf(maker));
    for (const o of group) checked.add(o);
    for (const o of r.kept) passed.add(o);
    for (const x of r.refused) refused.push({ id: x.id, reason: `${x.reason} (${maker}, the maker the bundle names)` });
  }
  return { kept: objects.filter((o) => !checked.has(o) || passed.has(o)), refused };
}
/** Mount the case-file and threat-intel admin routes on a Fastify instance already behind admin authentication. */
export function registerCasesAdminRoutes(app: FastifyInstance, opts: CasesAdminOptions): void {
  mountAdminRoutes(app, [casesAdminRoutes(opts)]);
}
