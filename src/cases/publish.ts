/**
 * What moves between providers, in both directions, once it is in a store: a case published to
 * this provider's TAXII collection (new versions as the case changes, revocations when values stop
 * being shareable or the case is withdrawn), and a partner's bundle taken in (stored, then matched).
 */
import type { SharedIndicator, SharedIndicators } from '../detect/index.ts';
import { caseToStix, stixSightings, stixToIndicators, type ExportOptions, type ImportOptions, type ImportResult, type PartnerSighting } from './stix.ts';
import type { CaseStore, PublishedObject } from './store.ts';
import type { CaseFile } from './types.ts';

/** The collection (in the store) holding what this provider publishes. */
export const PUBLISHED_COLLECTION = 'indicators';

export interface PublishResult {
  /** Versions added to the collection. */
  versions: number;
  /** Indicators in force for the case after this. */
  indicators: number;
  /** Indicators revoked by this (no longer shareable, or the case withdrawn). */
  revoked: number;
}

type Body = PublishedObject['body'];

/** A `modified` after `prev` (STIX versions of one object must grow), `now` when it already is. */
function after(now: string, prev: string): string {
  return now > prev ? now : new Date(Date.parse(prev) + 1).toISOString();
}

/**
 * Publish a case's shareable values: a new version of its campaign and of each indicator (valid
 * again for `validDays`), the first version of anything new, and a revoked version of each
 * indicator it published before that is no longer shareable. Ids are deterministic, so partners
 * polling the collection update their copies.
 */
export async function publishCase(store: CaseStore, c: CaseFile, opts: ExportOptions): Promise<PublishResult> {
  const now = (opts.now ?? new Date()).toISOString();
  const { bundle, indicators } = caseToStix(c, { ...opts, now: new Date(now) });
  const before = new Map((await store.publishedOfCase(c.id)).map((o) => [o.id, o]));
  const out: Array<{ body: Body; caseId: string }> = [];
  for (const obj of bundle.objects as Body[]) {
    const prev = before.get(obj.id);
    before.delete(obj.id);
    if (prev && !prev.body.revoked && (obj.type === 'identity' || obj.type === 'relationship')) continue;
    if (prev) {
      // A new version of the same object: it keeps when it was created and first valid.
      obj.created = prev.body.created;
      if (obj.type === 'indicator') obj.valid_from = prev.body.valid_from;
      obj.modified = after(now, prev.version);
    }
    out.push({ body: obj, caseId: c.id });
  }
  let revoked = 0;
  for (const prev of before.values()) {
    if (prev.body.revoked || prev.type === 'identity') continue;
    out.push({ body: { ...prev.body, modified: after(now, prev.version), revoked: true }, caseId: c.id });
    if (prev.type === 'indicator') revoked++;
  }
  await store.publish(PUBLISHED_COLLECTION, out);
  return { versions: out.length, indicators, revoked };
}

/** Revoke everything a case published (its identity stays: other cases name it too). */
export async function withdrawCase(store: CaseStore, caseId: string, now = new Date()): Promise<PublishResult> {
  const t = now.toISOString();
  const live = (await store.publishedOfCase(caseId)).filter((o) => !o.body.revoked && o.type !== 'identity');
  await store.publish(PUBLISHED_COLLECTION, live.map((o) => ({ body: { ...o.body, modified: after(t, o.version), revoked: true }, caseId })));
  return { versions: live.length, indicators: 0, revoked: live.filter((o) => o.type === 'indicator').length };
}

/** What a case published (latest version of each indicator) and partners' sightings of it. */
export interface CaseExchange {
  published: Array<{ id: string; kind: string | null; version: string; revoked: boolean; valid_until: string | null }>;
  partner_sightings: PartnerSighting[];
}

export async function caseExchange(store: CaseStore, caseId: string): Promise<CaseExchange> {
  const published = (await store.publishedOfCase(caseId)).filter((o) => o.type === 'indicator');
  const ids = new Set(published.map((o) => o.id));
  const kindOf = (pattern: unknown) => /:kind = '([a-z_]+)'/.exec(String(pattern))?.[1] ?? null;
  return {
    published: published.map((o) => ({ id: o.id, kind: kindOf(o.body.pattern), version: o.version, revoked: o.body.revoked === true, valid_until: typeof o.body.valid_until === 'string' ? o.body.valid_until : null })),
    partner_sightings: (await store.listRecords<PartnerSighting>(PARTNER_SIGHTING)).filter((p) => ids.has(p.indicator_id)),
  };
}

/** Hashed with another sharing key than ours (it can never match here); unknown keys count as ours. */
export function isStale(i: SharedIndicator, keyId: string | null): boolean {
  return !!keyId && !!i.key_id && i.key_id !== keyId;
}

/** Where a partner's indicators go: stored first (what the store refused is not matched either), then matched. */
export interface Intake {
  store: CaseStore;
  intel: SharedIndicators;
  sharingKey: string;
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
 * Take in a partner's STIX objects (a bundle, or a TAXII envelope's objects). Throws StixError when
 * the input is not STIX at all, and the store's error when it cannot keep them (then none is matched).
 */
export async function takeIn(intake: Intake, input: unknown, opts: Omit<ImportOptions, 'sharingKey'> & {
  /** An operator's import (the admin API): it may relabel or revoke any source's indicators. */
  operator?: boolean;
}): Promise<IntakeResult> {
  const read = stixToIndicators(input, { ...opts, sharingKey: intake.sharingKey });
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
  const result = { ...read, indicators, revocations, revoked: revocations.map((r) => r.id), skipped };
  await intake.store.putIndicators(result.indicators);
  for (const id of result.revoked) await intake.store.removeIndicators({ id });
  // A partner reporting back: the latest report of each sighting replaces the one before.
  const sightings = stixSightings((input as { objects: unknown[] }).objects, opts.source, opts.now);
  for (const s of sightings) await intake.store.putRecord(PARTNER_SIGHTING, `${s.source}\n${s.sighting_id}`, s);
  intake.intel.add(result.indicators);
  return { ...result, removed: intake.intel.remove(result.revoked), sightings };
}
