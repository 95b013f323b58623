/**
 * What moves between providers, in both directions, once it is in a store: a case published to
 * this provider's TAXII collection (new versions as the case changes, revocations when values stop
 * being shareable or the case is withdrawn), and a partner's bundle taken in (stored, then matched).
 */
import type { SharedIndicator, SharedIndicators } from '../detect/index.ts';
import { caseToStix, stixSightings, stixToIndicators, type ExportOptions, type ImportOptions, type ImportResult, type PartnerSighting, type SourceKeys } from './stix.ts';
import type { CaseStore, PublishedObject } from './store.ts';
import type { CaseFile } from './types.ts';

/** The collection (in the store) holding what this provider publishes under the shared sharing key. */
export const PUBLISHED_COLLECTION = 'indicators';
/** The collection holding what this provider publishes to one partner, hashed with the key agreed with it. */
export const partnerCollection = (partner: string) => `${PUBLISHED_COLLECTION}:${partner}`;
/** The partner whose own collection this is (null: the shared one). */
export const collectionPartner = (collection: string) => (collection.startsWith(`${PUBLISHED_COLLECTION}:`) ? collection.slice(PUBLISHED_COLLECTION.length + 1) : null);

export interface PublishResult {
  /** Versions added to the collection. */
  versions: number;
  /** Indicators in force for the case after this. */
  indicators: number;
  /** Indicators revoked by this (no longer shareable, or the case withdrawn). */
  revoked: number;
  /** Indicators the case no longer publishes that stay in force: another case publishes them too. */
  kept: number;
}

type Body = PublishedObject['body'];

/** A `modified` after `prev` (STIX versions of one object must grow), `now` when it already is. */
function after(now: string, prev: string): string {
  return now > prev ? now : new Date(Date.parse(prev) + 1).toISOString();
}

/**
 * Stored record kind: the ids of the objects a case keeps in force in the published collection.
 * Ids are global (derived from the provider, the kind and the hash), so two cases can publish the
 * same indicator: what one case withdraws stays in force while another still publishes it.
 */
const CASE_PUBLICATION = 'case-publication';
interface CasePublication { case_id: string; ids: string[]; collection?: string }

/** The latest version in a published collection of each of `ids`, whichever case published it. */
async function latestPublished(store: CaseStore, ids: readonly string[], collection = PUBLISHED_COLLECTION): Promise<Map<string, PublishedObject>> {
  const out = new Map<string, PublishedObject>();
  for (let i = 0; i < ids.length; i += 500) {
    const part = ids.slice(i, i + 500);
    for (const o of await store.published({ collection, ids: part, versions: 'last', limit: part.length * 2 })) out.set(o.id, o);
  }
  return out;
}

/** The record of what a case keeps in force in a collection (the shared collection's by the case id alone, as before partners had their own). */
const publicationId = (caseId: string, collection: string) => (collection === PUBLISHED_COLLECTION ? caseId : `${collection}\n${caseId}`);

/** The objects a case keeps in force in a collection (its identity aside: every case names it, it is never revoked). */
async function keptBy(store: CaseStore, caseId: string, collection = PUBLISHED_COLLECTION): Promise<Set<string>> {
  const record = await store.getRecord<CasePublication>(CASE_PUBLICATION, publicationId(caseId, collection));
  if (record) return new Set(record.ids);
  // Published before these records were kept: what it published and has not revoked since.
  return new Set((await store.publishedOfCase(caseId)).filter((o) => o.collection === collection && !o.body.revoked && o.type !== 'identity').map((o) => o.id));
}

/** The collections a case keeps something in force in (the shared one always looked at: cases published before records were kept). */
export async function casePublications(store: CaseStore, caseId: string): Promise<string[]> {
  const recorded = (await store.listRecords<CasePublication>(CASE_PUBLICATION)).filter((r) => r.case_id === caseId && r.ids.length > 0).map((r) => r.collection ?? PUBLISHED_COLLECTION);
  return [...new Set([PUBLISHED_COLLECTION, ...recorded])];
}

/** The cases that keep something in force in any published collection. */
export async function publishedCases(store: CaseStore): Promise<string[]> {
  return [...new Set((await store.listRecords<CasePublication>(CASE_PUBLICATION)).filter((r) => r.ids.length > 0).map((r) => r.case_id))];
}

/**
 * Revoked versions of the objects `ids` that case `caseId` stops publishing, but of none another
 * case still publishes (partners keep enforcing those): the versions to add, and the indicators
 * revoked and kept.
 */
async function revocations(store: CaseStore, caseId: string, ids: readonly string[], now: string, collection: string): Promise<{ out: Array<{ body: Body; caseId: string }>; revoked: number; kept: number }> {
  const latest = await latestPublished(store, ids, collection);
  const others = new Set<string>();
  for (let i = 0; i < ids.length; i += 500) {
    const part = ids.slice(i, i + 500);
    for (const o of await store.published({ collection, ids: part, versions: 'all', limit: 1_000_000 })) if (o.case_id && o.case_id !== caseId) others.add(o.case_id);
  }
  const elsewhere = new Set<string>();
  for (const other of others) for (const id of await keptBy(store, other, collection)) elsewhere.add(id);
  const out: Array<{ body: Body; caseId: string }> = [];
  let revoked = 0;
  let kept = 0;
  for (const id of ids) {
    const prev = latest.get(id);
    if (!prev || prev.type === 'identity') continue;
    if (elsewhere.has(id)) { if (prev.type === 'indicator' && !prev.body.revoked) kept++; continue; }
    if (prev.body.revoked) continue;
    out.push({ body: { ...prev.body, modified: after(now, prev.version), revoked: true }, caseId });
    if (prev.type === 'indicator') revoked++;
  }
  return { out, revoked, kept };
}

/**
 * A case's bundle as it would be published now: each object keeps what the published collection
 * already holds of it, whichever case published it (its `created`, an indicator's `valid_from`).
 * With it, the latest published version of each of its objects.
 */
export async function caseBundle(store: CaseStore, c: CaseFile, opts: ExportOptions & { collection?: string }): Promise<ReturnType<typeof caseToStix> & { latest: Map<string, PublishedObject> }> {
  const latest = await latestPublished(store, caseToStix(c, opts).bundle.objects.map((o) => o.id), opts.collection);
  const published = new Map([...latest].map(([id, o]) => [id, o.body]));
  return { ...caseToStix(c, { ...opts, published }), latest };
}

/**
 * Publish a case's shareable values: a new version of its campaign and of each indicator (valid
 * again for `validDays`), the first version of anything new, and a revoked version of each
 * indicator it published before that is no longer shareable (unless another case publishes it
 * too). Ids are deterministic, so partners polling the collection update their copies; a new
 * version keeps the `created` of the collection's first, whichever case published that.
 */
export async function publishCase(store: CaseStore, c: CaseFile, opts: ExportOptions & { collection?: string }): Promise<PublishResult> {
  const collection = opts.collection ?? PUBLISHED_COLLECTION;
  const now = (opts.now ?? new Date()).toISOString();
  const { bundle, indicators, latest } = await caseBundle(store, c, { ...opts, now: new Date(now) });
  const before = await keptBy(store, c.id, collection);
  const out: Array<{ body: Body; caseId: string }> = [];
  for (const obj of bundle.objects as Body[]) {
    before.delete(obj.id);
    const prev = latest.get(obj.id);
    // The provider's identity and a relationship do not change: their first version stands.
    if (prev && !prev.body.revoked && (obj.type === 'identity' || obj.type === 'relationship')) continue;
    if (prev) obj.modified = after(String(obj.modified), prev.version);
    out.push({ body: obj, caseId: c.id });
  }
  const gone = await revocations(store, c.id, [...before], now, collection);
  out.push(...gone.out);
  await store.publish(collection, out);
  await store.putRecord(CASE_PUBLICATION, publicationId(c.id, collection), { case_id: c.id, collection, ids: bundle.objects.filter((o) => o.type !== 'identity').map((o) => o.id) } satisfies CasePublication);
  return { versions: out.length, indicators, revoked: gone.revoked, kept: gone.kept };
}

/**
 * Revoke everything a case published, except what another case still publishes (its identity
 * stays too: other cases name it). Null when the case has nothing in force.
 */
export async function withdrawCase(store: CaseStore, caseId: string, now = new Date(), collection = PUBLISHED_COLLECTION): Promise<PublishResult | null> {
  const mine = await keptBy(store, caseId, collection);
  if (!mine.size) return null;
  const gone = await revocations(store, caseId, [...mine], now.toISOString(), collection);
  await store.publish(collection, gone.out);
  await store.putRecord(CASE_PUBLICATION, publicationId(caseId, collection), { case_id: caseId, collection, ids: [] } satisfies CasePublication);
  return { versions: gone.out.length, indicators: 0, revoked: gone.revoked, kept: gone.kept };
}

/**
 * Revoke, in the published collection, the indicators a case keeps in force whose body `matches`
 * (and their relationships to the campaign), unless another case still publishes them: a deletion
 * request withdraws what was made from the account's data. Partners polling the collection read
 * the revoked versions as they read any other. The case's other objects stay in force.
 */
export async function withdrawIndicators(store: CaseStore, caseId: string, matches: (body: Body) => boolean, now = new Date(), collection = PUBLISHED_COLLECTION): Promise<{ withdrawn: string[]; kept: number }> {
  const mine = await keptBy(store, caseId, collection);
  if (!mine.size) return { withdrawn: [], kept: 0 };
  const latest = [...(await latestPublished(store, [...mine], collection)).values()];
  const indicators = new Set(latest.filter((o) => o.type === 'indicator' && !o.body.revoked && matches(o.body)).map((o) => o.id));
  if (!indicators.size) return { withdrawn: [], kept: 0 };
  const targets = new Set(latest.filter((o) => indicators.has(o.id) || (o.type === 'relationship' && indicators.has(String(o.body.source_ref)))).map((o) => o.id));
  const gone = await revocations(store, caseId, [...targets], now.toISOString(), collection);
  await store.publish(collection, gone.out);
  await store.putRecord(CASE_PUBLICATION, publicationId(caseId, collection), { case_id: caseId, collection, ids: [...mine].filter((id) => !targets.has(id)) } satisfies CasePublication);
  return { withdrawn: gone.out.filter((o) => o.body.type === 'indicator').map((o) => o.body.id), kept: gone.kept };
}

/** What a case published (the collection's latest version of each indicator) and partners' sightings of it. */
export interface CaseExchange {
  /** `partner`: the partner whose own collection (hashed with its key) holds it; null for the shared collection. */
  published: Array<{ id: string; kind: string | null; version: string; revoked: boolean; valid_until: string | null; partner: string | null }>;
  partner_sightings: PartnerSighting[];
}

export async function caseExchange(store: CaseStore, caseId: string): Promise<CaseExchange> {
  const mine = (await store.publishedOfCase(caseId)).filter((o) => o.type === 'indicator');
  const ids = new Set(mine.map((o) => o.id));
  // What partners read is the collection's latest version, whichever case wrote it.
  const latest = new Map<string, PublishedObject>();
  for (const collection of new Set(mine.map((o) => o.collection))) {
    for (const [id, o] of await latestPublished(store, mine.filter((x) => x.collection === collection).map((x) => x.id), collection)) latest.set(`${collection}\n${id}`, o);
  }
  const kindOf = (pattern: unknown) => /:kind = '([a-z_]+)'/.exec(String(pattern))?.[1] ?? null;
  return {
    published: mine.map((own) => latest.get(`${own.collection}\n${own.id}`) ?? own).map((o) => ({
      id: o.id, kind: kindOf(o.body.pattern), version: o.version, revoked: o.body.revoked === true, valid_until: typeof o.body.valid_until === 'string' ? o.body.valid_until : null,
      partner: collectionPartner(o.collection),
    })),
    partner_sightings: (await store.listRecords<PartnerSighting>(PARTNER_SIGHTING)).filter((p) => ids.has(p.indicator_id)),
  };
}

/** Hashed with none of the keys agreed here (the shared key, partners' keys in force): it can never match. Unknown keys count as ours. */
export function isStale(i: SharedIndicator, keyIds: readonly string[]): boolean {
  return keyIds.length > 0 && !!i.key_id && !keyIds.includes(i.key_id);
}

/** Where a partner's indicators go: stored first (what the store refused is not matched either), then matched. */
export interface Intake {
  store: CaseStore;
  intel: SharedIndicators;
  /** The shared key (null: none; then only partners with their own key are read). */
  sharingKey: string | null;
  /** The keys agreed with each source (cases.partners); absent: the shared key for every source. */
  keysFor?: (source: string) => SourceKeys | null;
  /**
   * Indicators one partner (a feed, an inbox key) may have in force here; past it its new ones are
   * skipped (0 or absent: no bound). An operator's import is not bounded.
   */
  maxPerSource?: number;
  /**
   * Days a partner's indicator applies at most from when it came, whatever `valid_until` it gives
   * (or none): one that stops publishing does not hold accounts here for ever. An operator's import
   * is not bounded.
   */
  maxValidDays?: number;
}

export interface IntakeResult extends ImportResult {
  /** How many of the revoked indicators were in force here. */
  removed: number;
  /** Partners' sightings of our own indicators, stored (kind `partner-sighting`). */
  sightings: PartnerSighting[];
}

/** Stored record kind of partners' sightings of our indicators. */
export const PARTNER_SIGHTING = 'partner-sighting';

/**
 * The indicators a source may add without holding more than `bound` (0: no bound): a new version of
 * one it holds always goes through, and what it revokes in the same batch frees a place.
 */
function withinBound(bound: number, existing: ReadonlyMap<string, string>, indicators: SharedIndicator[], revocations: ReadonlyArray<{ id: string; source: string }>): { indicators: SharedIndicator[]; skipped: Array<{ id: string; reason: string }> } {
  if (!bound) return { indicators, skipped: [] };
  const gone = new Set(revocations.filter((r) => existing.get(r.id) === r.source).map((r) => r.id));
  const held = new Map<string, number>();
  for (const [id, source] of existing) if (!gone.has(id)) held.set(source, (held.get(source) ?? 0) + 1);
  const taken = new Set<string>();
  const skipped: Array<{ id: string; reason: string }> = [];
  const kept = indicators.filter((i) => {
    if ((existing.get(i.id) === i.source && !gone.has(i.id)) || taken.has(i.id)) return true;
    const n = held.get(i.source) ?? 0;
    if (n >= bound) { skipped.push({ id: i.id, reason: `${i.source} has ${n} indicators in force here, the most one source may have (cases.max_indicators_per_source)` }); return false; }
    held.set(i.source, n + 1);
    taken.add(i.id);
    return true;
  });
  return { indicators: kept, skipped };
}

/**
 * Take in a partner's STIX objects (a bundle, or a TAXII envelope's objects). Throws StixError when
 * the input is not STIX at all, and the store's error when it cannot keep them (then none is matched).
 */
export async function takeIn(intake: Intake, input: unknown, opts: Omit<ImportOptions, 'sharingKey'> & {
  /** An operator's import (the admin API): it may relabel or revoke any source's indicators. */
  operator?: boolean;
}): Promise<IntakeResult> {
  const read = stixToIndicators(input, { ...opts, sharingKey: intake.sharingKey, keysFor: intake.keysFor });
  // One partner cannot replace or revoke what another shared (ids are derived from public names
  // and values, so a careless or hostile feed could name another's).
  const existing = new Map((await intake.store.listIndicators()).map((i) => [i.id, i.source]));
  const owner = (id: string, source: string) => { const o = existing.get(id); return !opts.operator && o !== undefined && o !== source ? o : null; };
  const skipped = [...read.skipped];
  const indicators = read.indicators.filter((i) => {
    const o = owner(i.id, i.source);
    if (o) skipped.push({ id: i.id, reason: `${o} shared an indicator with this id; ${i.source} cannot replace it` });
    return !o;
  });
  const revocations = read.revocations.filter((r) => {
    const o = owner(r.id, r.source);
    if (o) skipped.push({ id: r.id, reason: `${o} shared this indicator; ${r.source} cannot revoke it` });
    return !o;
  });
  const bounded = withinBound(opts.operator ? 0 : intake.maxPerSource ?? 0, existing, indicators, revocations);
  if (!opts.operator && intake.maxValidDays) {
    const latest = new Date((opts.now ?? new Date()).getTime() + intake.maxValidDays * 86_400_000).toISOString();
    for (const i of bounded.indicators) if (!i.valid_until || i.valid_until > latest) i.valid_until = latest;
  }
  skipped.push(...bounded.skipped);
  const result = { ...read, indicators: bounded.indicators, revocations, revoked: revocations.map((r) => r.id), skipped };
  await intake.store.putIndicators(result.indicators);
  for (const id of result.revoked) await intake.store.removeIndicators({ id });
  // A partner reporting back: the latest report of each sighting replaces the one before. Only of
  // indicators we published: any other would be a made-up report filling our store and lists.
  const reported = stixSightings((input as { objects: unknown[] }).objects, opts.source, opts.now);
  const ours = await latestPublished(intake.store, [...new Set(reported.map((s) => s.indicator_id))]);
  const sightings = reported.filter((s) => {
    if (!ours.has(s.indicator_id)) skipped.push({ id: s.sighting_id, reason: `a sighting of ${s.indicator_id}, which this provider has not published` });
    return ours.has(s.indicator_id);
  });
  for (const s of sightings) await intake.store.putRecord(PARTNER_SIGHTING, `${s.source}\n${s.sighting_id}`, s);
  intake.intel.add(result.indicators);
  return { ...result, removed: intake.intel.remove(result.revoked), sightings };
}
