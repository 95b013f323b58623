/**
 * The partners this provider exchanges indicators with (cases.partners): how much each is trusted,
 * which of its indicators wait for an operator's review, and the key agreed with each.
 *
 * One key shared by all partners let any of them hash every IPv4 address, /24, ASN and common mail
 * domain and read what every other partner was sent. So a partner may have a key of its own: what
 * this provider publishes to it goes to a collection of its own, hashed with that key (a leak of
 * it exposes only what that partner was sent), and its indicators are matched with that key. A
 * partner without one keeps the shared key (cases.sharing_key) and reads the shared collection, as
 * every partner did before; rotating its key gives it its own.
 *
 * A rotation keeps the key before it for a grace period: the partner's indicators made with it
 * still match until it has moved to the new one. Keys made or set by a rotation are kept in the
 * case store (an HMAC key cannot be kept as a hash: it is needed to hash with); a configured `key`
 * applies until the first rotation.
 */
import { randomBytes } from 'node:crypto';
import { sharingKeyId, type PartnerTrust, type ReviewHold, type SharedIndicators, type SourcePolicy } from '../detect/index.ts';
import { MIN_SHARING_KEY_CHARS } from './config.ts';
import { casePublications, partnerCollection, publishCase, publishedCases, PUBLISHED_COLLECTION, withdrawCase, type PublishResult } from './publish.ts';
import type { SourceKeys } from './stix.ts';
import type { CaseStore } from './store.ts';
import type { CaseFile } from './types.ts';
import type { IntelPublicKey } from './signing.ts';

/**
 * A partner as configured (its key resolved: null when it has none of its own in the configuration;
 * `publicKeys`: its signing keys pinned, cases.partners[].public_key, none when absent).
 */
export interface PartnerSpec { name: string; key: string | null; trust: PartnerTrust; hold: ReviewHold; publicKeys?: readonly IntelPublicKey[] }

/** Where a key of a partner's comes from: the shared key, the configuration, or a rotation (kept in the store). */
type KeyOrigin = 'shared' | 'configured' | 'stored';
interface StoredKey { origin: KeyOrigin; key?: string; id: string; since: string | null; until: string | null }
/** Stored record kind: a partner's keys after a rotation, current first. */
const PARTNER_KEYS = 'partner-keys';
interface StoredPartnerKeys { name: string; keys: StoredKey[] }
/** Stored record kind: the key a partner's own collection was last published with. */
const PARTNER_COLLECTION = 'partner-collection';
interface PartnerCollectionState { name: string; key_id: string }

/** Stored record kind: the last change this provider made to a published collection (what its readers were last sent). */
const COLLECTION_SENT = 'collection-sent';
/** What a published collection was last sent: a case published (or published again under a new key) or withdrawn. */
export interface CollectionSent { collection: string; at: string; case_id: string; action: 'published' | 'withdrawn'; indicators: number; revoked: number }

/** Days a partner's key before a rotation still matches its indicators, unless the rotation says otherwise. */
export const DEFAULT_GRACE_DAYS = 14;

/** What the admin API and `warden intel partners` show of a partner (key ids, never keys). */
export interface PartnerView {
  name: string;
  trust: PartnerTrust;
  hold: ReviewHold;
  /** The id of the key in force (null: no key agreed, so nothing is exchanged with it). */
  key_id: string | null;
  /** Where that key comes from: `shared` (cases.sharing_key), `configured` (its `key`), `stored` (a rotation). */
  key_origin: KeyOrigin | null;
  /** Keys before the last rotation, still matching its indicators until `until`. */
  previous_keys: Array<{ key_id: string; until: string }>;
  /** The published collection it reads: its own (hashed with its key), or the shared one. */
  collection: 'own' | 'shared';
  /** The ids of its signing keys pinned (cases.partners[].public_key; public key ids, never keys): empty, its objects are taken unsigned. */
  pinned_keys: string[];
}

/** A partner as GET /admin/intel/partners answers: what it was last sent and what came from it last. */
export interface PartnerExchangeView extends PartnerView {
  sent: Omit<CollectionSent, 'collection'> | null;
  received: { indicators: number; held: number; last_indicator_at: string | null; last_sighting_at: string | null; last_feed_poll_at: string | null };
}

/** A collection this provider publishes to, and the key its hashes are made with. */
export interface PublishTarget { collection: string; key: string; partner: string | null }

export class PartnerError extends Error {
  constructor(readonly kind: 'not_found' | 'invalid', message: string) { super(message); }
}

interface ResolvedKey { key: string; id: string; origin: KeyOrigin; since: string | null; until: string | null }

export class Partners {
  private readonly stored = new Map<string, StoredPartnerKeys>();
  private readonly specs: Map<string, PartnerSpec>;

  constructor(private readonly opts: {
    store: CaseStore;
    intel: SharedIndicators;
    sharedKey: string | null;
    partners: readonly PartnerSpec[];
    provider: string;
    /** Days a republished indicator is valid (cases.export_valid_days). */
    validDays: number;
  }) {
    this.specs = new Map(opts.partners.map((p) => [p.name, p]));
  }

  /** Read the stored rotations and give the detector every key in force and each partner's trust and hold. */
  async load(now = Date.now()): Promise<void> {
    for (const r of await this.opts.store.listRecords<StoredPartnerKeys>(PARTNER_KEYS)) this.stored.set(r.name, r);
    this.apply(now);
  }

  /** Keys whose grace period ended stop matching (called every minute). */
  apply(now = Date.now()): void {
    const keys = [...this.specs.keys()].flatMap((name) => this.chain(name, now).map((k) => k.key));
    this.opts.intel.setKeys(keys);
    this.opts.intel.setPolicy((source) => this.policy(source));
  }

  names(): string[] { return [...this.specs.keys()]; }

  /**
   * Pin other signing keys (a configuration reloaded): each partner named gets the keys given (an
   * empty list: none pinned); those not named keep theirs. All at once, between two requests.
   * Names not listed here are ignored (a partner added or removed takes effect at restart).
   */
  setPins(pins: ReadonlyMap<string, readonly IntelPublicKey[]>): void {
    for (const [name, keys] of pins) {
      const spec = this.specs.get(name);
      if (spec) this.specs.set(name, { ...spec, publicKeys: keys });
    }
  }

  /** The signing keys pinned for a source (cases.partners[].public_key): empty when none (or not a partner listed). */
  publicKeysFor(source: string): readonly IntelPublicKey[] { return this.specs.get(source)?.publicKeys ?? []; }
  has(name: string): boolean { return this.specs.has(name); }

  policy(source: string): SourcePolicy | null {
    const p = this.specs.get(source);
    return p ? { trust: p.trust, hold: p.hold } : null;
  }

  /** A partner's keys in force at `now`, current first (then those in their grace period). */
  private chain(name: string, now = Date.now()): ResolvedKey[] {
    const spec = this.specs.get(name);
    const resolve = (k: StoredKey): string | null => (k.origin === 'stored' ? k.key ?? null : k.origin === 'configured' ? spec?.key ?? null : this.opts.sharedKey);
    const rec = spec ? this.stored.get(name) : undefined;
    if (rec) {
      return rec.keys.filter((k) => k.until === null || Date.parse(k.until) > now)
        .map((k) => ({ ...k, key: resolve(k) }))
        .filter((k): k is ResolvedKey => k.key !== null);
    }
    if (spec?.key) return [{ key: spec.key, id: sharingKeyId(spec.key), origin: 'configured', since: null, until: null }];
    return this.opts.sharedKey ? [{ key: this.opts.sharedKey, id: sharingKeyId(this.opts.sharedKey), origin: 'shared', since: null, until: null }] : [];
  }

  /** The keys a source's indicators are hashed with: its own (and those in grace), else the shared key; null: none. */
  keysFor(source: string, now = Date.now()): SourceKeys | null {
    if (!this.specs.has(source)) return this.opts.sharedKey ? { hash: this.opts.sharedKey, accept: [this.opts.sharedKey] } : null;
    const chain = this.chain(source, now);
    return chain.length ? { hash: chain[0].key, accept: chain.map((k) => k.key) } : null;
  }

  /** Whether anything can be exchanged at all: a shared key, or a partner with a key of its own. */
  get anyKey(): boolean { return this.opts.sharedKey !== null || this.names().some((n) => this.ownKey(n) !== null); }

  /** The partner's own key (null: it uses the shared key, or none). */
  private ownKey(name: string): string | null {
    const current = this.chain(name)[0];
    return current && current.origin !== 'shared' ? current.key : null;
  }

  /** The published collection a partner reads: its own when it has its own key, else the shared one. */
  collectionFor(name: string): string {
    return this.specs.has(name) && this.ownKey(name) !== null ? partnerCollection(name) : PUBLISHED_COLLECTION;
  }

  /** Where a published case goes: the shared collection (with a shared key) and each partner's own. */
  targets(): PublishTarget[] {
    const out: PublishTarget[] = this.opts.sharedKey ? [{ collection: PUBLISHED_COLLECTION, key: this.opts.sharedKey, partner: null }] : [];
    for (const name of this.specs.keys()) {
      const own = this.ownKey(name);
      if (own) out.push({ collection: partnerCollection(name), key: own, partner: name });
    }
    return out;
  }

  list(now = Date.now()): PartnerView[] {
    return [...this.specs.values()].map((p) => {
      const [current, ...previous] = this.chain(p.name, now);
      return {
        name: p.name, trust: p.trust, hold: p.hold, key_id: current?.id ?? null, key_origin: current?.origin ?? null,
        previous_keys: previous.map((k) => ({ key_id: k.id, until: k.until! })),
        collection: current && current.origin !== 'shared' ? 'own' : 'shared',
        pinned_keys: (p.publicKeys ?? []).map((k) => k.keyId),
      };
    });
  }

  /**
   * Give a partner a new key (`key`, or a random one made here): what this provider published is
   * published again to the partner's own collection, hashed with it (the versions under the key
   * before are revoked there), and the key before keeps matching the partner's indicators for
   * `graceDays`. Returns the new key (shown once: give it to the partner) and its id.
   */
  async rotate(name: string, opts: { key?: string; graceDays?: number; now?: Date; getCase: (id: string) => Promise<CaseFile | null> }): Promise<{ key: string; key_id: string; previous: Array<{ key_id: string; until: string }>; republished: number }> {
    if (!this.specs.has(name)) throw new PartnerError('not_found', `no partner ${name} in cases.partners`);
    const key = opts.key ?? randomBytes(32).toString('base64url');
    if (key.length < MIN_SHARING_KEY_CHARS) throw new PartnerError('invalid', `a partner's key has at least ${MIN_SHARING_KEY_CHARS} characters`);
    const now = opts.now ?? new Date();
    const chain = this.chain(name, now.getTime());
    if (chain.some((k) => k.key === key) || key === this.opts.sharedKey) throw new PartnerError('invalid', `that key is already in use with ${name} or as the shared key: give a new one`);
    if ([...this.specs.keys()].some((other) => other !== name && this.chain(other, now.getTime()).some((k) => k.key === key))) throw new PartnerError('invalid', 'that key is agreed with another partner: each partner has its own');
    const until = new Date(now.getTime() + (opts.graceDays ?? DEFAULT_GRACE_DAYS) * 86_400_000).toISOString();
    const keys: StoredKey[] = [
      { origin: 'stored', key, id: sharingKeyId(key), since: now.toISOString(), until: null },
      // The key before keeps matching for the grace period; older ones keep theirs (never longer).
      ...chain.map((k, i) => ({ origin: k.origin, ...(k.origin === 'stored' ? { key: k.key } : {}), id: k.id, since: k.since, until: i === 0 ? until : k.until && k.until < until ? k.until : until })),
    ];
    const record: StoredPartnerKeys = { name, keys };
    await this.opts.store.putRecord(PARTNER_KEYS, name, record);
    this.stored.set(name, record);
    this.apply(now.getTime());
    const republished = await this.syncCollections(opts.getCase, now);
    return { key, key_id: sharingKeyId(key), previous: keys.slice(1).map((k) => ({ key_id: k.id, until: k.until! })), republished };
  }

  /**
   * Publish every published case again to each partner collection not yet hashed with its
   * partner's key in force (a partner given its own key, or a rotation). Returns the cases published.
   */
  async syncCollections(getCase: (id: string) => Promise<CaseFile | null>, now = new Date()): Promise<number> {
    let n = 0;
    const published = await publishedCases(this.opts.store);
    for (const t of this.targets()) {
      if (!t.partner) continue;
      const state = await this.opts.store.getRecord<PartnerCollectionState>(PARTNER_COLLECTION, t.partner);
      const keyId = sharingKeyId(t.key);
      if (state?.key_id === keyId) continue;
      for (const id of published) {
        const c = await getCase(id);
        if (!c || c.status === 'dismissed') continue;
        const r = await publishCase(this.opts.store, c, { provider: this.opts.provider, sharingKey: t.key, validDays: this.opts.validDays, collection: t.collection, now });
        await this.recordSent(t.collection, c.id, 'published', r, now);
        n++;
      }
      await this.opts.store.putRecord(PARTNER_COLLECTION, t.partner, { name: t.partner, key_id: keyId } satisfies PartnerCollectionState);
    }
    return n;
  }

  /** Publish a case to every collection (the shared one and each partner's own). */
  async publish(c: CaseFile, validDays: number, now = new Date()): Promise<PublishResult> {
    const total = { versions: 0, indicators: 0, revoked: 0, kept: 0 };
    for (const t of this.targets()) {
      const r = await publishCase(this.opts.store, c, { provider: this.opts.provider, sharingKey: t.key, validDays, collection: t.collection, now });
      await this.recordSent(t.collection, c.id, 'published', r, now);
      total.versions += r.versions;
      // The same values in each collection: counted once.
      total.indicators = Math.max(total.indicators, r.indicators);
      total.revoked = Math.max(total.revoked, r.revoked);
      total.kept = Math.max(total.kept, r.kept);
    }
    return total;
  }

  private async recordSent(collection: string, caseId: string, action: CollectionSent['action'], r: PublishResult, now: Date): Promise<void> {
    await this.opts.store.putRecord(COLLECTION_SENT, collection, { collection, at: now.toISOString(), case_id: caseId, action, indicators: r.indicators, revoked: r.revoked } satisfies CollectionSent);
  }

  /** What the collection a partner reads was last sent (null: nothing since this was recorded). */
  async lastSent(name: string): Promise<CollectionSent | null> {
    return this.opts.store.getRecord<CollectionSent>(COLLECTION_SENT, this.collectionFor(name));
  }

  /** Revoke what a case published, in every collection it published to. Null when it has nothing in force. */
  async withdraw(caseId: string, now = new Date()): Promise<PublishResult | null> {
    let total: PublishResult | null = null;
    for (const collection of await casePublications(this.opts.store, caseId)) {
      const r = await withdrawCase(this.opts.store, caseId, now, collection);
      if (!r) continue;
      await this.recordSent(collection, caseId, 'withdrawn', r, now);
      total ??= { versions: 0, indicators: 0, revoked: 0, kept: 0 };
      total.versions += r.versions;
      total.revoked = Math.max(total.revoked, r.revoked);
      total.kept = Math.max(total.kept, r.kept);
    }
    return total;
  }
}

/** Stored record kind: an operator's approval of an indicator held for review (of its value: its hash). */
const APPROVAL = 'intel-approval';
interface Approval { id: string; hmac: string; by: string; at: string }

/**
 * An operator reviewed indicators held for review (one by id, or all of a source's) and lets them
 * act: recorded, so that they act after a restart too, as long as the indicator names the same value.
 * Returns the ids approved (none: nothing held matched).
 */
export async function approveIndicators(store: CaseStore, intel: SharedIndicators, filter: { id?: string; source?: string }, by: string, now = new Date()): Promise<string[]> {
  const held = intel.listWithHolds().filter((i) => i.held !== null && (filter.id !== undefined ? i.id === filter.id : i.source === filter.source));
  for (const i of held) await store.putRecord(APPROVAL, i.id, { id: i.id, hmac: i.hmac, by, at: now.toISOString() } satisfies Approval);
  intel.approve(held.map((i) => i.id));
  return held.map((i) => i.id);
}

/** The approvals recorded, applied to the indicators loaded (those whose value is the one approved). */
export async function loadApprovals(store: CaseStore, intel: SharedIndicators): Promise<number> {
  const ids = (await store.listRecords<Approval>(APPROVAL)).filter((a) => intel.get(a.id)?.hmac === a.hmac).map((a) => a.id);
  intel.approve(ids);
  return ids.length;
}
