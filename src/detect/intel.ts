/**
 * Indicators shared between providers, and their matching on the detector's path.
 *
 * A provider that has found a campaign shares what identifies it (the system prompt its scripts
 * send, its payment instruments, its proxy exits) so that another provider can recognise the same
 * campaign at its first request. Nothing is shared in the clear: every value is a keyed hash,
 * HMAC-SHA256 under a sharing key the partners agreed, of the value normalised as `exchangeValue`
 * says. A partner without the key learns nothing from a bundle; one with it can only test values
 * it already holds.
 *
 * A match is evidence, not a verdict: an account that sends a shared system prompt or pays with a
 * shared card is held at least at the level the operator gave the feed when importing it; a
 * weaker kind alone (a network, a user agent, an email domain, which innocent customers share) only
 * at watch unless a second kind matches too. An indicator for a value that many established
 * accounts here already hold is held for review and matches nothing. Every match is explained
 * (which indicator, whose, which campaign) and counted as a sighting; partners are told only of
 * matches by accounts held here, coarsened (partnerSightings).
 *
 * No HTTP here: src/cases reads and writes the bundles (STIX 2.1) and stores the indicators.
 */
import { createHash, createHmac } from 'node:crypto';
import type { InteractionEvent } from '../events/index.ts';
import { fnv1a } from './features.ts';
import { VERDICT_LEVELS, verdictRank, type VerdictLevel, type VerdictReason } from './verdict.ts';

/** What an indicator identifies; each has its own normalisation (see `exchangeValue`). */
export const INDICATOR_KINDS = ['system_prompt', 'payment_fp', 'tool_set', 'user_agent', 'client_ip', 'client_subnet', 'asn', 'email_domain'] as const;
export type IndicatorKind = (typeof INDICATOR_KINDS)[number];

/**
 * Kinds that identify a campaign's own software or money: a match alone carries the feed's level.
 * The others identify infrastructure or products that innocent customers share (a residential
 * network, a popular SDK's user agent): alone they hold an account at watch only.
 */
export const STRONG_KINDS: ReadonlySet<IndicatorKind> = new Set(['system_prompt', 'payment_fp']);

/**
 * What a weak kind tells of: the two network kinds are one piece of evidence (an address and its
 * network), the two software kinds another. An ASN or an email domain is shared by too many
 * customers to count at all beyond watch: in the two-provider benchmark, organic accounts matched
 * a campaign's ASN and its mail domain together.
 */
const WEAK_FAMILY: Partial<Record<IndicatorKind, 'network' | 'software'>> = { client_ip: 'network', client_subnet: 'network', tool_set: 'software', user_agent: 'software' };

/**
 * What a match of one indicator holds an account at by itself: a strong kind its import level, the
 * others watch at most. A network or a software kind reaches its import level only with a match
 * of the other family (`counterpart`); an ASN or an email domain never does.
 */
export function heldAlone(ind: Pick<SharedIndicator, 'kind' | 'level'>): { level: VerdictLevel; counterpart: 'network' | 'software' | null } {
  if (STRONG_KINDS.has(ind.kind)) return { level: ind.level, counterpart: null };
  const level = VERDICT_LEVELS[Math.min(verdictRank(ind.level), verdictRank('watch'))];
  const family = WEAK_FAMILY[ind.kind];
  return { level, counterpart: family && level !== ind.level ? (family === 'network' ? 'software' : 'network') : null };
}

/**
 * How much a partner's indicators count here (cases.partners): `high` at the level they were
 * taken in at, `medium` at most throttle, `low` at most watch (evidence to look at, not to act on).
 */
export const PARTNER_TRUSTS = ['high', 'medium', 'low'] as const;
export type PartnerTrust = (typeof PARTNER_TRUSTS)[number];
/** The highest level a partner's indicator holds an account at, by the partner's trust. */
export const TRUST_CAP: Record<PartnerTrust, VerdictLevel> = { high: 'suspend', medium: 'throttle', low: 'watch' };
/**
 * Which of a partner's indicators wait for an operator's review before they act: `all` (a new
 * partner), `prevalent` (those whose value many established accounts here share: the default),
 * `none` (a partner trusted not to send such values).
 */
export const REVIEW_HOLDS = ['all', 'prevalent', 'none'] as const;
export type ReviewHold = (typeof REVIEW_HOLDS)[number];
/** What this provider agreed with the source of an indicator: null for a source not listed (as before partners were listed). */
export interface SourcePolicy { trust: PartnerTrust; hold: ReviewHold }

export interface SharedIndicator {
  /** Stable id (the STIX indicator id when imported from a bundle). */
  id: string;
  kind: IndicatorKind;
  /** HMAC-SHA256(sharing key, kind + "\n" + normalised value), lower-case hex. */
  hmac: string;
  /** Least level an account matching it is held at (weak kinds alone: watch). */
  level: VerdictLevel;
  /** Who shared it (the bundle's identity name, or the operator's label for the feed). */
  source: string;
  /** The campaign it was shared for, as its source named it. */
  campaign: string | null;
  /** Source's confidence, 0-100 (STIX), when given. */
  confidence: number | null;
  /** ISO time it stops applying (null: until removed). */
  valid_until: string | null;
  /** ISO time it was imported. */
  created_at: string;
  /** Public id of the sharing key its `hmac` was made with (null: imported before ids were kept). */
  key_id?: string | null;
}

/** One indicator's sightings on this provider: accounts that matched it, first and last time. */
export interface Sighting {
  indicator_id: string;
  count: number;
  accounts: number;
  first_seen: string;
  last_seen: string;
}

/** Sightings as stored: the accounts by id, so that counts add up across restarts. */
export interface StoredSighting {
  indicator_id: string;
  count: number;
  first_seen: string;
  last_seen: string;
  accounts: string[];
}

export interface IntelMatch {
  /** Indicators the event matched (ids). */
  ids: string[];
}

const SUBNET_V4_BITS = 24;
const SUBNET_V6_GROUPS = 3; // a /48

/** The /24 of an IPv4 address or the /48 of an IPv6 one, in CIDR notation; null if not an address. */
export function subnetOf(ip: string): string | null {
  if (ip.includes('.') && !ip.includes(':')) {
    const parts = ip.split('.');
    if (parts.length !== 4) return null;
    return `${parts.slice(0, 3).join('.')}.0/${SUBNET_V4_BITS}`;
  }
  if (!ip.includes(':')) return null;
  const head = ip.split('::')[0].split(':').filter(Boolean);
  const groups = [...head, '0', '0', '0'].slice(0, SUBNET_V6_GROUPS).map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''));
  return `${groups.join(':')}::/${SUBNET_V6_GROUPS * 16}`;
}

/**
 * The value of `kind` as both partners hash it. Documented in docs/cases.md so that a provider
 * not running Warden can produce and match the same hashes:
 * - system_prompt: lower-cased, runs of white space to one space, trimmed;
 * - tool_set: tool names sorted, duplicates dropped, joined by "\n";
 * - user_agent, payment_fp: as given (payment fingerprints match only between deployments that
 *   derive them with the same key, e.g. one provider's regions, or a consortium's agreed key);
 * - client_ip: the address as text; client_subnet: its /24 (IPv4) or /48 (IPv6) in CIDR;
 * - asn: "AS" and the number; email_domain: lower-cased.
 */
export function exchangeValue(kind: IndicatorKind, raw: string | number | readonly string[]): string | null {
  switch (kind) {
    case 'system_prompt': { const t = String(raw).toLowerCase().replace(/\s+/g, ' ').trim(); return t || null; }
    case 'tool_set': { const names = [...new Set(Array.isArray(raw) ? raw : [String(raw)])].filter(Boolean).sort(); return names.length ? names.join('\n') : null; }
    case 'client_subnet': return subnetOf(String(raw));
    case 'asn': { const n = Number(String(raw).replace(/^AS/i, '')); return Number.isInteger(n) && n >= 0 ? `AS${n}` : null; }
    case 'email_domain': return String(raw).toLowerCase() || null;
    default: return String(raw) || null;
  }
}

/** The keyed hash partners exchange for a normalised value. */
export function keyedHash(key: string, kind: IndicatorKind, normalised: string): string {
  return createHmac('sha256', key).update(`${kind}\n${normalised}`).digest('hex');
}

/** A public name for a sharing key (not the key): partners check they hash with the same one. */
export function sharingKeyId(key: string): string {
  return createHash('sha256').update(`warden intel key id\n${key}`).digest('hex').slice(0, 16);
}

/** A value an indicator can match: its kind, its normalised form, and the value the event carried. */
export type Observable = [kind: IndicatorKind, normalised: string, raw: string | number | readonly string[]];

/** The values of an event that indicators can match (signup facts included). */
export function eventObservables(ev: InteractionEvent): Observable[] {
  const out: Observable[] = [];
  const push = (kind: IndicatorKind, raw: string | number | readonly string[] | null | undefined) => {
    if (raw === null || raw === undefined || raw === '') return;
    const v = exchangeValue(kind, raw);
    if (v !== null) out.push([kind, v, raw]);
  };
  push('system_prompt', ev.request.system);
  if (ev.request.tools.length) push('tool_set', ev.request.tools);
  push('user_agent', ev.client.user_agent);
  push('client_ip', ev.client.ip);
  push('client_subnet', ev.client.ip);
  push('asn', ev.client.asn);
  const a = ev.account;
  if (a) {
    push('payment_fp', a.payment_fp);
    push('email_domain', a.email_domain);
    if (a.signup_ip && a.signup_ip !== ev.client.ip) { push('client_ip', a.signup_ip); push('client_subnet', a.signup_ip); }
  }
  return out;
}

/** Accounts remembered per indicator's sightings (a campaign's; more are counted as requests only). */
const MAX_SIGHTED_ACCOUNTS = 10_000;
/** Keyed hashes remembered per kind (raw value -> hash); a full cache starts again. */
const HASH_CACHE_MAX = 100_000;
/**
 * Kinds whose local prevalence is counted: those a match can hold an account above watch by (an
 * ASN or an email domain never does, so they need no review).
 */
const PREVALENCE_KINDS: ReadonlySet<IndicatorKind> = new Set(['system_prompt', 'payment_fp', 'tool_set', 'user_agent', 'client_ip', 'client_subnet']);
/**
 * Values whose established holders are counted; values past it are not tracked. Each is kept by
 * kind and the hash's first 64 bits, its holders as 32-bit hashes of their ids (at most the bound
 * + 1 each): about 15 MB when full.
 */
const PREVALENCE_VALUES_MAX = 100_000;
/** A value's key in the prevalence counts: its kind and the first 64 bits of a hash of it under no partner's key (the same whichever key a partner's indicator for it was made with). */
const prevalenceKey = (kind: IndicatorKind, normalised: string) => `${kind}:${createHash('sha256').update(`${kind}\n${normalised}`).digest('hex').slice(0, 16)}`;
/** An account is established (a customer, not a campaign's fresh sign-up) this long after its creation, or at the enterprise tier. */
const ESTABLISHED_AFTER_MS = 7 * 86_400_000;
/** Kinds shared by too many customers to be evidence alone: never reported to partners as sightings. */
const COARSE_KINDS: ReadonlySet<IndicatorKind> = new Set(['asn', 'email_domain']);
const powerOfTenFloor = (n: number) => (n < 1 ? 0 : 10 ** Math.floor(Math.log10(n) + 1e-9));
const dayOf = (ms: number) => `${new Date(ms).toISOString().slice(0, 10)}T00:00:00.000Z`;
/** Default of cases.max_indicator_accounts. */
export const MAX_INDICATOR_ACCOUNTS = 20;

/** A raw value seen, as the matcher keeps it: normalised, its prevalence key, its hash under each key, the indicators naming it. */
interface CachedValue {
  normalised: string | null;
  value: string;
  hmacs: string[];
  /** The key ring and the indicators' generation the hashes and the indicators were read at. */
  ring: number;
  generation: number;
  indicators: SharedIndicator[] | undefined;
}

/** Why an imported indicator is held for review instead of acting on accounts. */
export interface IndicatorHold {
  reason: string;
  /** Established accounts here that hold the value (counted up to the bound + 1). */
  accounts: number;
}

/**
 * The indicators in force and their matcher. Empty (no key, or nothing imported), it costs the
 * detector nothing; otherwise each event's values are hashed once per distinct value (cached).
 */
export class SharedIndicators {
  /** By kind and hash: two partners may share the same value, each as its own indicator. */
  private readonly byHash = new Map<string, SharedIndicator[]>();
  private readonly byId = new Map<string, SharedIndicator>();
  /**
   * Per kind, each raw value seen: its keyed hash ('' when it does not normalise) and the
   * indicator it names as of `generation` (re-read when indicators change).
   */
  private readonly hashCache = new Map<IndicatorKind, Map<string, CachedValue>>(INDICATOR_KINDS.map((k) => [k, new Map()]));
  private readonly seen = new Map<string, { count: number; accounts: Set<string>; first: number; last: number }>();
  /** What `seen` gained since the last `drainSightings` (requests, and accounts new to it). */
  private readonly unsaved = new Map<string, { count: number; accounts: string[]; first: number; last: number }>();
  /** Indicators held per kind: kinds nobody shared are not looked up. */
  private readonly perKind = new Map<IndicatorKind, number>(INDICATOR_KINDS.map((k) => [k, 0]));
  /**
   * Per value an indicator could name (kind + keyed hash), the established accounts here that hold
   * it, at most maxLocalAccounts + 1: an indicator for a value more of them share (a common system
   * prompt, a carrier's address) is held for review, not enforced (see holdOf).
   */
  private readonly prevalence = new Map<string, Set<number>>();
  /** Bumped when indicators are added or removed (the engine re-scores the accounts that matched). */
  generation = 0;
  /** Established accounts a value may be held by here before an indicator for it is held for review (0: no bound). */
  readonly maxLocalAccounts: number;

  /**
   * Every key values are hashed with: the shared key and each partner's own (its current one and
   * those still in their grace period). An indicator matches when its hash is that of a value
   * under any of them (each partner's hashes are made with the key agreed with it).
   */
  private ring: string[];
  private ringGeneration = 0;
  /** What was agreed with each source (trust, review hold); null: a source not listed. */
  private policyOf: (source: string) => SourcePolicy | null = () => null;
  /** Indicators an operator reviewed and let act (ids): no hold applies to them. */
  private readonly approved = new Set<string>();
  /** Per indicator's kind and hash, the value's key in `prevalence` (known once an event carried it). */
  private readonly valueOf = new Map<string, string>();

  constructor(private readonly key: string | null, opts: { maxLocalAccounts?: number; keys?: readonly string[] } = {}) {
    this.maxLocalAccounts = opts.maxLocalAccounts ?? MAX_INDICATOR_ACCOUNTS;
    this.ring = [...new Set([...(key ? [key] : []), ...(opts.keys ?? [])])];
  }

  /** Whether events should be read at all: with a key, values are counted even before any indicator arrives. */
  get active(): boolean { return this.ring.length > 0 && (this.byId.size > 0 || this.maxLocalAccounts > 0); }

  /** The partners' own keys (besides the shared one): values are hashed with each, once per distinct value. */
  setKeys(keys: readonly string[]): void {
    const next = [...new Set([...(this.key ? [this.key] : []), ...keys])];
    if (next.length === this.ring.length && next.every((k, i) => k === this.ring[i])) return;
    this.ring = next;
    this.ringGeneration++;
    this.generation++;
  }

  /** Ids of the keys values are hashed with now. */
  keyIds(): string[] { return this.ring.map(sharingKeyId); }

  /** What was agreed with each source (cases.partners): its trust and its review hold. */
  setPolicy(policyOf: (source: string) => SourcePolicy | null): void {
    this.policyOf = policyOf;
    this.generation++;
  }

  policy(source: string): SourcePolicy | null { return this.policyOf(source); }

  /** Let indicators act although their source's hold would keep them for review (an operator reviewed them). */
  approve(ids: readonly string[]): void {
    for (const id of ids) this.approved.add(id);
    if (ids.length) this.generation++;
  }

  isApproved(id: string): boolean { return this.approved.has(id); }

  /**
   * Why the indicator is held for the operator's review instead of acting, or null: its value is
   * already shared here by more established accounts than cases.max_indicator_accounts, which a
   * campaign's own software or card is not. (Partners' indicators arrive unreviewed; one for "You
   * are a helpful assistant." would otherwise throttle every customer using it.)
   */
  holdOf(ind: Pick<SharedIndicator, 'id' | 'kind' | 'hmac' | 'source'>): IndicatorHold | null {
    if (this.approved.has(ind.id)) return null;
    const hold = this.policyOf(ind.source)?.hold ?? 'prevalent';
    if (hold === 'none') return null;
    const value = this.valueOf.get(`${ind.kind}:${ind.hmac}`);
    const n = value === undefined ? 0 : this.prevalence.get(value)?.size ?? 0;
    // A new partner's indicators all wait for an operator's review (cases.partners: hold all).
    if (hold === 'all') return { accounts: n, reason: `held for review: every indicator from ${ind.source} waits for an operator's review (cases.partners hold: all); not enforced until approved` };
    if (this.maxLocalAccounts <= 0 || !PREVALENCE_KINDS.has(ind.kind)) return null;
    if (n <= this.maxLocalAccounts) return null;
    return { accounts: n, reason: `held for review: more than ${this.maxLocalAccounts} established accounts here share this ${ind.kind.replace('_', ' ')} (cases.max_indicator_accounts); not enforced` };
  }

  /** The indicators in force, each with its hold (null: it acts). */
  listWithHolds(): Array<SharedIndicator & { held: IndicatorHold | null }> {
    return this.list().map((i) => ({ ...i, held: this.holdOf(i) }));
  }

  /** The sharing key's public id, or null when no key is configured (nothing can be matched). */
  get keyId(): string | null { return this.key ? sharingKeyId(this.key) : null; }
  get size(): number { return this.byId.size; }

  /** Add or replace indicators (by id). */
  add(list: readonly SharedIndicator[]): void {
    for (const ind of list) {
      const before = this.byId.get(ind.id);
      if (before) {
        this.unindex(before);
        // An approval was of the value reviewed: a new version naming another value needs its own.
        if (before.hmac !== ind.hmac) this.approved.delete(ind.id);
      }
      this.byId.set(ind.id, ind);
      const key = `${ind.kind}:${ind.hmac}`;
      this.byHash.set(key, [...(this.byHash.get(key) ?? []), ind]);
      this.count(ind.kind, 1);
    }
    this.generation++;
  }

  /** Remove indicators by id; returns how many were held. */
  remove(ids: readonly string[]): number {
    let n = 0;
    for (const id of ids) {
      const ind = this.byId.get(id);
      if (!ind) continue;
      this.byId.delete(id);
      this.unindex(ind);
      this.approved.delete(id);
      n++;
    }
    if (n) this.generation++;
    return n;
  }

  private count(kind: IndicatorKind, by: number): void { this.perKind.set(kind, this.perKind.get(kind)! + by); }

  private unindex(ind: SharedIndicator): void {
    const key = `${ind.kind}:${ind.hmac}`;
    const rest = (this.byHash.get(key) ?? []).filter((x) => x.id !== ind.id);
    if (rest.length) this.byHash.set(key, rest); else { this.byHash.delete(key); this.valueOf.delete(key); }
    this.count(ind.kind, -1);
  }

  list(): SharedIndicator[] { return [...this.byId.values()]; }
  get(id: string): SharedIndicator | undefined { return this.byId.get(id); }

  /**
   * The indicator for a raw value of `kind`, if any. Values repeat (a session's system prompt, a
   * proxy pool's addresses), so each distinct raw value is normalised and hashed once: the
   * normalisation of a long system prompt and the HMAC are what a match costs.
   */
  private lookup(kind: IndicatorKind, key: string, raw: string | number | readonly string[] = key): SharedIndicator[] | undefined {
    const counted = this.counting !== null && PREVALENCE_KINDS.has(kind);
    if (this.perKind.get(kind) === 0 && !counted) return undefined;
    const cache = this.hashCache.get(kind)!;
    let e = cache.get(key);
    if (e === undefined) {
      const v = exchangeValue(kind, raw);
      e = { normalised: v, value: v === null ? '' : prevalenceKey(kind, v), hmacs: [], ring: -1, generation: -1, indicators: undefined };
      if (cache.size >= HASH_CACHE_MAX) cache.clear();
      cache.set(key, e);
    }
    if (e.normalised === null) return undefined;
    if (e.ring !== this.ringGeneration) {
      // One hash per key agreed: a partner's indicators are hashed with the key agreed with it.
      e.ring = this.ringGeneration;
      e.hmacs = this.ring.map((k) => keyedHash(k, kind, e!.normalised!));
      e.generation = -1;
    }
    if (e.generation !== this.generation) {
      e.generation = this.generation;
      let found: SharedIndicator[] | undefined;
      for (const h of e.hmacs) {
        const inds = this.byHash.get(`${kind}:${h}`);
        if (inds === undefined) continue;
        this.valueOf.set(`${kind}:${h}`, e.value);
        found = found === undefined ? inds : [...found, ...inds];
      }
      e.indicators = found;
    }
    if (counted) this.countHolder(e.value, e.indicators);
    return e.indicators;
  }

  /** The established account of the event being read (null: it is not counted towards prevalence). */
  private counting: number | null = null;

  private countHolder(key: string, indicators: SharedIndicator[] | undefined): void {
    let holders = this.prevalence.get(key);
    if (!holders) {
      if (this.prevalence.size >= PREVALENCE_VALUES_MAX) return;
      holders = new Set();
      this.prevalence.set(key, holders);
    }
    if (holders.size > this.maxLocalAccounts || holders.has(this.counting!)) return;
    holders.add(this.counting!);
    // Crossing the bound holds the value's indicators: the accounts they matched are scored again.
    if (holders.size > this.maxLocalAccounts && indicators !== undefined) this.generation++;
  }

  /** The indicators this event matches (in force at its time), recorded as sightings; null if none. */
  match(ev: InteractionEvent, tsMs: number): IntelMatch | null {
    if (this.ring.length === 0) return null;
    const acct = ev.account;
    const established = acct !== null && ev.account_id !== null && ev.response.status < 400
      && (acct.tier === 'enterprise' || tsMs - Date.parse(acct.created_at) >= ESTABLISHED_AFTER_MS);
    this.counting = established && this.maxLocalAccounts > 0 ? fnv1a(ev.account_id!) : null;
    if (this.byHash.size === 0 && this.counting === null) return null;
    const found = this.found;
    found.length = 0;
    const sys = ev.request.system;
    if (sys) this.note(this.lookup('system_prompt', sys));
    const tools = ev.request.tools;
    if (tools.length) this.note(this.lookup('tool_set', tools.length === 1 ? tools[0] : tools.join('\u0000'), tools));
    const ua = ev.client.user_agent;
    if (ua) this.note(this.lookup('user_agent', ua));
    const ip = ev.client.ip;
    if (ip) { this.note(this.lookup('client_ip', ip)); this.note(this.lookup('client_subnet', ip)); }
    const asn = ev.client.asn;
    if (asn !== null && asn !== undefined) this.note(this.lookup('asn', String(asn)));
    const a = ev.account;
    if (a) {
      if (a.payment_fp) this.note(this.lookup('payment_fp', a.payment_fp));
      if (a.email_domain) this.note(this.lookup('email_domain', a.email_domain));
      const signup = a.signup_ip;
      if (signup && signup !== ip) { this.note(this.lookup('client_ip', signup)); this.note(this.lookup('client_subnet', signup)); }
    }
    if (found.length === 0) return null;
    let ids: string[] | null = null;
    for (const ind of found) {
      if ((ind.valid_until && Date.parse(ind.valid_until) <= tsMs) || ids?.includes(ind.id)) continue;
      (ids ??= []).push(ind.id);
      this.sight(ind.id, ev.account_id, tsMs);
    }
    return ids ? { ids } : null;
  }

  private sight(id: string, account: string | null, tsMs: number): void {
    let s = this.seen.get(id);
    if (!s) { s = { count: 0, accounts: new Set(), first: tsMs, last: tsMs }; this.seen.set(id, s); }
    let u = this.unsaved.get(id);
    if (!u) { u = { count: 0, accounts: [], first: tsMs, last: tsMs }; this.unsaved.set(id, u); }
    s.count++; u.count++;
    if (tsMs < s.first) s.first = tsMs;
    if (tsMs > s.last) s.last = tsMs;
    if (tsMs < u.first) u.first = tsMs;
    if (tsMs > u.last) u.last = tsMs;
    if (account && s.accounts.size < MAX_SIGHTED_ACCOUNTS && !s.accounts.has(account)) { s.accounts.add(account); u.accounts.push(account); }
  }

  /**
   * What partners may be told of (see partnerSightings): matches by accounts that the detector
   * held at throttle or above when they matched, i.e. evidence of the partner's campaign here.
   * Kept in memory only: after a restart partners are told again as accounts are held again.
   */
  private readonly confirmed = new Map<string, { count: number; accounts: Set<string>; first: number; last: number }>();

  /** Record that the indicators `ids` matched an account held at throttle or above (the engine calls it). */
  confirm(ids: readonly string[], account: string, tsMs: number): void {
    for (const id of ids) {
      let s = this.confirmed.get(id);
      if (!s) { s = { count: 0, accounts: new Set(), first: tsMs, last: tsMs }; this.confirmed.set(id, s); }
      s.count++;
      if (tsMs < s.first) s.first = tsMs;
      if (tsMs > s.last) s.last = tsMs;
      if (s.accounts.size < MAX_SIGHTED_ACCOUNTS) s.accounts.add(account);
    }
  }

  /**
   * Sightings a partner may read back: only of indicators that can hold an account above watch
   * (not an ASN or an email domain, which say who our customers are, not where a campaign is),
   * not held for review, and only matches by accounts held at throttle or above. Counts are the
   * lower bound of their power of ten (1, 10, 100...) and times the start of their UTC day, so a
   * partner learns that its campaign was seen here, not our customers' volumes or hours.
   */
  partnerSightings(): Sighting[] {
    const out: Sighting[] = [];
    for (const [id, s] of this.confirmed) {
      const ind = this.byId.get(id);
      if (!ind || COARSE_KINDS.has(ind.kind) || this.holdOf(ind) !== null) continue;
      out.push({ indicator_id: id, count: powerOfTenFloor(s.count), accounts: powerOfTenFloor(s.accounts.size), first_seen: dayOf(s.first), last_seen: dayOf(s.last) });
    }
    return out;
  }

  /**
   * A deletion request: the account's id becomes `pseudonym` in every sighting (those not stored
   * yet too), so that accounts stay counted but not named. Returns the indicators whose sightings
   * named it. The store's rows are renamed with the same pseudonym after this (CaseStore).
   */
  renameAccount(accountId: string, pseudonym: string): number {
    const named = new Set<string>();
    for (const map of [this.seen, this.confirmed]) {
      for (const [id, s] of map) if (s.accounts.delete(accountId)) { s.accounts.add(pseudonym); named.add(id); }
    }
    for (const [id, u] of this.unsaved) {
      const at = u.accounts.indexOf(accountId);
      if (at >= 0) { u.accounts[at] = pseudonym; named.add(id); }
    }
    return named.size;
  }

  /** Sightings read back from the store at start: counting goes on from them. */
  restoreSightings(rows: readonly StoredSighting[]): void {
    for (const r of rows) {
      this.seen.set(r.indicator_id, { count: r.count, accounts: new Set(r.accounts.slice(0, MAX_SIGHTED_ACCOUNTS)), first: Date.parse(r.first_seen), last: Date.parse(r.last_seen) });
    }
  }

  /** What the sightings gained since the last call (to add to the store), and forget it. */
  drainSightings(): StoredSighting[] {
    const out = [...this.unsaved].map(([id, u]) => ({ indicator_id: id, count: u.count, first_seen: new Date(u.first).toISOString(), last_seen: new Date(u.last).toISOString(), accounts: u.accounts }));
    this.unsaved.clear();
    return out;
  }

  /** Matches of the event being read (reused: most events match nothing). */
  private readonly found: SharedIndicator[] = [];
  private note(inds: SharedIndicator[] | undefined): void { if (inds !== undefined) this.found.push(...inds); }

  /**
   * The least level the indicators `ids` hold an account at, with the reasons; null when none of
   * them is still in force. Strong kinds carry their feed's level; weak kinds stop at watch unless
   * both a network and a software indicator matched (then the highest level among them); an ASN
   * or an email domain never holds above watch.
   */
  floorFor(ids: readonly string[], nowMs: number): { level: VerdictLevel; reasons: VerdictReason[] } | null {
    const live = ids.map((id) => this.byId.get(id)).filter((x): x is SharedIndicator => !!x && (!x.valid_until || Date.parse(x.valid_until) > nowMs) && this.holdOf(x) === null);
    if (!live.length) return null;
    const families = new Set(live.map((x) => WEAK_FAMILY[x.kind]).filter(Boolean));
    const both = families.size >= 2;
    const carries = (x: SharedIndicator) => STRONG_KINDS.has(x.kind) || (both && WEAK_FAMILY[x.kind] !== undefined);
    let level = 0;
    const holds = (x: SharedIndicator) => {
      const l = carries(x) ? verdictRank(x.level) : Math.min(verdictRank(x.level), verdictRank('watch'));
      // The partner's trust bounds what its indicator can do here.
      const trust = this.policyOf(x.source)?.trust;
      return trust ? Math.min(l, verdictRank(TRUST_CAP[trust])) : l;
    };
    for (const x of live) {
      const l = holds(x);
      if (l > level) level = l;
    }
    const reasons: VerdictReason[] = live.slice(0, 5).map((x) => {
      const trust = this.policyOf(x.source)?.trust;
      const capped = trust !== undefined && holds(x) < (carries(x) ? verdictRank(x.level) : Math.min(verdictRank(x.level), verdictRank('watch')));
      const how = STRONG_KINDS.has(x.kind) ? `holds at ${x.level}` : carries(x) ? `holds at ${x.level} (a network and a software indicator matched)` : WEAK_FAMILY[x.kind] ? 'a weak kind without its counterpart (network with software): holds at watch' : 'shared by many customers: holds at watch at most';
      return {
        signal: 'shared_indicator', value: `${x.kind} ${x.hmac.slice(0, 12)}`, threshold: 'match',
        detail: `indicator ${x.id} shared by ${x.source} (${trust ? `trust ${trust}` : 'not a listed partner'})${x.campaign ? ` for campaign "${x.campaign}"` : ''}${x.confidence !== null ? `, confidence ${x.confidence}` : ''}; ${capped ? `holds at ${TRUST_CAP[trust!]} (trust ${trust}: at most ${TRUST_CAP[trust!]}; ${how.replace(/^holds at /, 'as given ')})` : how}`,
      };
    });
    return { level: VERDICT_LEVELS[level], reasons };
  }

  sightings(): Sighting[] {
    return [...this.seen].map(([id, s]) => ({
      indicator_id: id, count: s.count, accounts: s.accounts.size,
      first_seen: new Date(s.first).toISOString(), last_seen: new Date(s.last).toISOString(),
    }));
  }
}
