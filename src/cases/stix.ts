/**
 * Threat-intel exchange in STIX 2.1 (OASIS): a case's shareable values become indicators of a
 * campaign, for another provider to import; sightings of imported indicators go back the same way.
 *
 * Every value travels as a keyed hash (src/detect/intel.ts), in a pattern on a custom observable:
 *   [x-warden-keyed-hash:kind = 'system_prompt' AND x-warden-keyed-hash:hmac = '<64 hex>']
 * with `x_warden_key_id` naming the sharing key (not the key), so an importer can tell at once
 * whether it hashes with the same one. Import also takes plain STIX indicators for what a provider
 * may well share in the clear: an IP address, a /24 or /48 network, an autonomous system.
 * Ids are deterministic (UUIDv5-shaped, from the provider, the kind and the hash): exporting a
 * case again updates a partner's copies instead of adding new ones.
 */
import { createHash, randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { INDICATOR_KINDS, VERDICT_LEVELS, exchangeValue, keyedHash, sharingKeyId, subnetOf, type IndicatorKind, type SharedIndicator, type Sighting, type VerdictLevel } from '../detect/index.ts';
import type { CaseFile } from './types.ts';

export const KEYED_HASH_TYPE = 'x-warden-keyed-hash';

type StixObject = Record<string, unknown> & { type: string; id: string };
export interface StixBundle { type: 'bundle'; id: string; objects: StixObject[] }

/** A STIX id of `type` derived from `parts` (UUIDv5-shaped: version and variant bits set). */
export function stixId(type: string, ...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\n')).digest('hex');
  return `${type}--${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const CONFIDENCE: Record<VerdictLevel, number> = { none: 15, watch: 30, throttle: 60, shape: 70, verify: 80, suspend: 90 };

export interface ExportOptions {
  /** The exporting provider's name (an identity object; partners see it as the source). */
  provider: string;
  sharingKey: string;
  /** Indicators stop applying after this many days. */
  validDays: number;
  now?: Date;
  /**
   * Versions of these objects already published (the latest of each, by id): a new version keeps
   * their `created`, and an indicator its `valid_from`.
   */
  published?: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
}

/**
 * The `created` of the provider's identity object. It has no natural creation time, and STIX keeps
 * `created` across every version of an object: one fixed time, so that every bundle and the
 * published collection carry the same identity.
 */
export const PROVIDER_IDENTITY_CREATED = '2020-01-01T00:00:00.000Z';

/**
 * A case's shareable values as a STIX 2.1 bundle: the provider, the campaign, its indicators.
 * Exported again, each object keeps its `created` (STIX versions of one id must): the identity's is
 * fixed, the campaign's (and its relationships') is when the case was opened, an indicator's when
 * the campaign was first seen, unless a published version says otherwise (`opts.published`).
 */
export function caseToStix(c: CaseFile, opts: ExportOptions): { bundle: StixBundle; indicators: number } {
  const now = (opts.now ?? new Date()).toISOString();
  const until = new Date(Date.parse(now) + opts.validDays * 86_400_000).toISOString();
  const keyId = sharingKeyId(opts.sharingKey);
  const earlier = (id: string, field: 'created' | 'valid_from', otherwise: string): string => {
    const v = opts.published?.get(id)?.[field];
    return typeof v === 'string' ? v : otherwise;
  };
  /** The object's `created`, and a `modified` not before it (a clock behind the events' times). */
  const times = (id: string, created: string) => {
    const kept = earlier(id, 'created', created);
    return { created: kept, modified: now > kept ? now : kept };
  };
  const identityId = stixId('identity', opts.provider);
  const identityCreated = earlier(identityId, 'created', PROVIDER_IDENTITY_CREATED);
  const identity = { type: 'identity', spec_version: '2.1', id: identityId, created: identityCreated, modified: identityCreated, name: opts.provider, identity_class: 'organization' };
  const k = c.campaign;
  const targets = Object.entries(k.targets).filter(([, s]) => s >= 0.1).sort((a, b) => b[1] - a[1]).map(([t, s]) => `${t} ${Math.round(s * 100)}%`);
  const campaignId = stixId('campaign', opts.provider, c.id);
  // An indicator's value was the campaign's from its start (the same every time the case is exported).
  const firstSeen = Number.isFinite(Date.parse(k.first_seen)) ? new Date(k.first_seen).toISOString() : c.opened_at;
  const campaign = {
    type: 'campaign', spec_version: '2.1', id: campaignId, created_by_ref: identity.id, ...times(campaignId, c.opened_at),
    name: c.title, first_seen: k.first_seen, last_seen: k.last_seen,
    objective: `harvesting model outputs to train another model (distillation); targets: ${targets.join(', ') || 'mixed'}`,
    description: `${k.members.length} accounts, ${k.volume.requests} requests, ${k.volume.output_tokens} output tokens; level ${k.level} (score ${k.score}).`,
    confidence: CONFIDENCE[k.level], x_warden_accounts: k.members.length, x_warden_requests: k.volume.requests,
  };
  const objects: StixObject[] = [identity, campaign];
  let n = 0;
  for (const o of c.observables) {
    if (!o.shareable) continue;
    const hmac = keyedHash(opts.sharingKey, o.kind, o.value);
    const id = stixId('indicator', opts.provider, o.kind, hmac);
    objects.push({
      type: 'indicator', spec_version: '2.1', id, created_by_ref: identity.id, ...times(id, firstSeen),
      name: `${o.kind.replace(/_/g, ' ')} shared by ${o.holders} accounts of the campaign`,
      indicator_types: ['malicious-activity'], pattern_type: 'stix', pattern_version: '2.1',
      pattern: `[${KEYED_HASH_TYPE}:kind = '${o.kind}' AND ${KEYED_HASH_TYPE}:hmac = '${hmac}']`,
      valid_from: earlier(id, 'valid_from', now), valid_until: until, confidence: CONFIDENCE[k.level],
      x_warden_key_id: keyId, x_warden_holders: o.holders,
    });
    const rel = stixId('relationship', id, campaign.id);
    objects.push({ type: 'relationship', spec_version: '2.1', id: rel, created_by_ref: identity.id, ...times(rel, c.opened_at), relationship_type: 'indicates', source_ref: id, target_ref: campaign.id });
    n++;
  }
  return { bundle: { type: 'bundle', id: `bundle--${randomUUID()}`, objects }, indicators: n };
}

/**
 * Sightings of imported indicators, to report back to the providers that shared them. A sighting's
 * id is one per indicator, and each report of it a version: created when it was first seen (the
 * same in every report), modified when it was last seen.
 */
export function sightingsToStix(sightings: readonly Sighting[], provider: string): StixBundle {
  const identity = { type: 'identity', spec_version: '2.1', id: stixId('identity', provider), created: PROVIDER_IDENTITY_CREATED, modified: PROVIDER_IDENTITY_CREATED, name: provider, identity_class: 'organization' };
  return {
    type: 'bundle', id: `bundle--${randomUUID()}`,
    objects: [identity, ...sightings.map((s) => ({
      type: 'sighting', spec_version: '2.1', id: stixId('sighting', provider, s.indicator_id), created_by_ref: identity.id, created: s.first_seen, modified: s.last_seen,
      sighting_of_ref: s.indicator_id, count: Math.min(s.count, 999_999_999), first_seen: s.first_seen, last_seen: s.last_seen,
      where_sighted_refs: [identity.id], x_warden_accounts: s.accounts,
    }))],
  };
}

/** The keys agreed with one source: `hash` hashes its plain values here, `accept` (hash first, then keys in their grace period) are those its keyed hashes may be made with. */
export interface SourceKeys { hash: string; accept: readonly string[] }

export interface ImportOptions {
  /** Our sharing key: keyed indicators must be hashed with it; plain ones are hashed with it here (unless `keysFor` names a source's own). */
  sharingKey: string | null;
  /** The keys agreed with each source (cases.partners); null: none (its indicators are skipped). Default: the sharing key for all. */
  keysFor?: (source: string) => SourceKeys | null;
  /** Level an account matching an imported indicator is held at (weak kinds alone: watch). */
  level: VerdictLevel;
  /** Source name to record (default: the bundle's identity that created each indicator). */
  source?: string;
  now?: Date;
}

export interface ImportResult {
  indicators: SharedIndicator[];
  /** Indicators the bundle revokes (to remove). */
  revoked: string[];
  /** The same, each with the source revoking it (only the source that shared an indicator may revoke it). */
  revocations: Array<{ id: string; source: string }>;
  skipped: Array<{ id: string; reason: string }>;
}

export class StixError extends Error {
  constructor(message: string) { super(message); this.name = 'StixError'; }
}

const KEYED = new RegExp(`^\\[\\s*${KEYED_HASH_TYPE}:kind\\s*=\\s*'([a-z_]+)'\\s+AND\\s+${KEYED_HASH_TYPE}:hmac\\s*=\\s*'([0-9a-f]{64})'\\s*\\]$`);
const PLAIN_IP = /^\[\s*ipv[46]-addr:value\s*=\s*'([^']+)'\s*\]$/;
const PLAIN_ASN = /^\[\s*autonomous-system:number\s*=\s*(\d+)\s*\]$/;

/**
 * A partner's name for itself or a campaign, as shown in verdicts, notifications and logs: one
 * line, bounded. Only a string is a name (anything else reads as unnamed, never stringified).
 * Controls (C0, DEL, C1 such as CSI) and bidirectional controls (U+202E reverses the rest of a
 * verdict's text as shown) become spaces.
 */
const label = (v: unknown) => (typeof v === 'string' ? v : '').replace(/[\p{Cc}\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]+/gu, ' ').trim().slice(0, 200) || '(unnamed)';

/**
 * A field of a partner's object quoted in a skip's id or reason, as text: as JSON wrote it when it
 * is not a string (an object with a "toString" or "valueOf" key breaks String(x)), at most 200
 * characters. Kept as sent otherwise: the commands print it inert, JSON answers escape it.
 */
const quoted = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v) ?? String(v)).slice(0, 200);

/** The identity id an object names as its maker (`created_by_ref`), when it is text. */
const makerRef = (o: Record<string, unknown>): string | undefined => (typeof o.created_by_ref === 'string' ? o.created_by_ref : undefined);

/**
 * The name each identity of a bundle gives itself, by id: what an object's `created_by_ref` makes
 * it come from when no source is named (an import without `source`). The last identity of an id wins.
 */
export function identityNames(objects: readonly unknown[]): Map<string, string> {
  const names = new Map<string, string>();
  for (const o of objects as Array<Record<string, unknown>>) {
    if (o && typeof o === 'object' && o.type === 'identity' && typeof o.id === 'string') names.set(o.id, label(typeof o.name === 'string' ? o.name : o.id));
  }
  return names;
}

/** The kind and normalised value of a plain (unhashed) pattern we can match; or why not. */
function plainPattern(pattern: string): { kind: IndicatorKind; value: string } | string {
  const ip = PLAIN_IP.exec(pattern);
  if (ip) {
    const [addr, bits] = ip[1].split('/');
    if (!isIP(addr)) return `not an IP address: ${ip[1]}`;
    if (bits === undefined) return { kind: 'client_ip', value: addr };
    const want = isIP(addr) === 4 ? '24' : '48';
    if (bits !== want) return `only single addresses and /${want} networks can be matched, not /${bits}`;
    return { kind: 'client_subnet', value: subnetOf(addr)! };
  }
  const asn = PLAIN_ASN.exec(pattern);
  if (asn) return { kind: 'asn', value: exchangeValue('asn', asn[1])! };
  return 'a pattern Warden cannot match (it matches keyed hashes, IP addresses, /24 and /48 networks, autonomous systems)';
}

/**
 * Read a STIX 2.1 bundle from another provider. Throws StixError when it is not a bundle at all;
 * indicators it cannot use are listed in `skipped` with the reason, never silently dropped.
 */
export function stixToIndicators(input: unknown, opts: ImportOptions): ImportResult {
  if (!input || typeof input !== 'object' || (input as { type?: unknown }).type !== 'bundle') throw new StixError('not a STIX 2.1 bundle: expected an object with "type": "bundle"');
  const objects = (input as { objects?: unknown }).objects;
  if (!Array.isArray(objects)) throw new StixError('the bundle has no "objects" array');
  const now = opts.now ?? new Date();
  const shared: SourceKeys | null = opts.sharingKey ? { hash: opts.sharingKey, accept: [opts.sharingKey] } : null;
  const keysOf = (source: string) => (opts.keysFor ? opts.keysFor(source) : shared);
  const names = identityNames(objects);
  const campaigns = new Map<string, string>();
  const indicates = new Map<string, string>();
  for (const o of objects as Array<Record<string, unknown>>) {
    if (!o || typeof o !== 'object') continue;
    if (o.type === 'campaign' && typeof o.id === 'string') campaigns.set(o.id, label(typeof o.name === 'string' ? o.name : o.id));
    if (o.type === 'relationship' && o.relationship_type === 'indicates' && typeof o.source_ref === 'string' && typeof o.target_ref === 'string') indicates.set(o.source_ref, o.target_ref);
  }
  const result: ImportResult = { indicators: [], revoked: [], revocations: [], skipped: [] };
  const sourceOf = (o: Record<string, unknown>) => opts.source ?? names.get(makerRef(o) ?? '') ?? 'unknown source';
  for (const o of objects as Array<Record<string, unknown>>) {
    if (!o || typeof o !== 'object' || o.type !== 'indicator') continue;
    const id = typeof o.id === 'string' && /^indicator--[0-9a-f-]{36}$/.test(o.id) ? o.id : null;
    if (!id) { result.skipped.push({ id: o.id === undefined ? '(no id)' : quoted(o.id), reason: 'not a STIX indicator id (indicator--<uuid>)' }); continue; }
    if (o.revoked === true) { result.revoked.push(id); result.revocations.push({ id, source: sourceOf(o) }); continue; }
    if (o.pattern_type !== 'stix' || typeof o.pattern !== 'string') { result.skipped.push({ id, reason: `pattern_type ${quoted(o.pattern_type)}: only STIX patterns are read` }); continue; }
    const validUntil = typeof o.valid_until === 'string' && Number.isFinite(Date.parse(o.valid_until)) ? new Date(o.valid_until).toISOString() : null;
    if (validUntil && Date.parse(validUntil) <= now.getTime()) { result.skipped.push({ id, reason: `expired at ${validUntil}` }); continue; }
    const source = sourceOf(o);
    const keys = keysOf(source);
    if (!keys) { result.skipped.push({ id, reason: `no key is agreed with ${source} (cases.partners or cases.sharing_key)` }); continue; }
    let kind: IndicatorKind;
    let hmac: string;
    let keyId = sharingKeyId(keys.hash);
    const keyed = KEYED.exec(o.pattern.trim());
    if (keyed) {
      if (!(INDICATOR_KINDS as readonly string[]).includes(keyed[1])) { result.skipped.push({ id, reason: `unknown kind ${keyed[1]}` }); continue; }
      // Made with the key agreed with this source, or one it had before, still in its grace period.
      if (o.x_warden_key_id !== undefined) {
        const known = keys.accept.map(sharingKeyId);
        if (typeof o.x_warden_key_id !== 'string' || !known.includes(o.x_warden_key_id)) { result.skipped.push({ id, reason: `hashed with another key than the one agreed with ${source} (key id ${quoted(o.x_warden_key_id)}, agreed ${known.join(' or ')})` }); continue; }
        keyId = o.x_warden_key_id;
      }
      kind = keyed[1] as IndicatorKind;
      hmac = keyed[2];
    } else {
      const plain = plainPattern(o.pattern.trim());
      if (typeof plain === 'string') { result.skipped.push({ id, reason: plain }); continue; }
      kind = plain.kind;
      hmac = keyedHash(keys.hash, plain.kind, plain.value);
    }
    const confidence = typeof o.confidence === 'number' && o.confidence >= 0 && o.confidence <= 100 ? Math.round(o.confidence) : null;
    const target = indicates.get(id);
    result.indicators.push({
      id, kind, hmac, level: opts.level,
      source,
      campaign: target ? campaigns.get(target) ?? label(target) : null,
      confidence, valid_until: validUntil, created_at: now.toISOString(), key_id: keyId,
    });
  }
  return result;
}

export const IMPORT_LEVELS = VERDICT_LEVELS.filter((l) => l !== 'none');

/** A partner's report that it saw one of our indicators (a STIX `sighting` it sent back). */
export interface PartnerSighting {
  /** Who reported it (the feed or the partner's name). */
  source: string;
  sighting_id: string;
  indicator_id: string;
  /** Requests that matched there, and accounts when the partner says. */
  count: number | null;
  accounts: number | null;
  first_seen: string | null;
  last_seen: string | null;
  received_at: string;
}

/** The sightings among STIX objects (malformed ones are left out: they carry nothing to act on). */
export function stixSightings(objects: readonly unknown[], source: string | undefined, now = new Date()): PartnerSighting[] {
  const names = identityNames(objects);
  const time = (v: unknown) => (typeof v === 'string' && Number.isFinite(Date.parse(v)) ? new Date(v).toISOString() : null);
  const count = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : null);
  return (objects as Array<Record<string, unknown>>).filter((o) => o && typeof o === 'object' && o.type === 'sighting'
    && typeof o.id === 'string' && /^sighting--[0-9a-f-]{36}$/.test(o.id) && typeof o.sighting_of_ref === 'string' && /^indicator--[0-9a-f-]{36}$/.test(o.sighting_of_ref))
    .map((o) => ({
      source: source ?? names.get(makerRef(o) ?? '') ?? 'unknown source', sighting_id: o.id as string, indicator_id: o.sighting_of_ref as string, count: count(o.count), accounts: count(o.x_warden_accounts),
      first_seen: time(o.first_seen), last_seen: time(o.last_seen), received_at: now.toISOString(),
    }));
}
