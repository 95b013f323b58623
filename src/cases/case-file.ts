/**
 * Build a case file from one of the detector's campaigns: the campaign as it stands, its members'
 * signup facts and usage from the stored events, the values they shared (with how many accounts
 * outside the campaign used each over the same days, so that only the campaign's own are ever
 * shared), and the ledger's proof of the verdicts and usage. Reading is bounded (members, events
 * per member, events in all, events of the window scanned for other accounts).
 */
import { statusOutcome, tally, ulid } from '../events/index.ts';
import { eventObservables, STRONG_KINDS, type Campaign, type DetectorEngine, type IndicatorKind } from '../detect/index.ts';
import type { EventStore } from '../store/index.ts';
import { queryLedger, type LedgerStorage, type SignedCheckpoint } from '../ledger/index.ts';
import { CASE_SCHEMA, type CaseClusterDecision, type CaseDecision, type CaseFile, type CaseMember, type CaseObservable, type LedgerAnchor } from './types.ts';
import type { DetectOverride } from '../detect/index.ts';

export interface CaseSources {
  engine: DetectorEngine;
  events: EventStore;
  /** The ledger, when enabled: its latest signed checkpoint and its audit query. */
  ledger?: { latestCheckpoint(): SignedCheckpoint | null; readonly storage: LedgerStorage } | null;
  /** The stored operator decisions (allow-list entries, operator verdicts) with who made them, when and why. */
  decisions?: () => Promise<DetectOverride[]>;
}

export interface CaseLimits {
  /** Members whose events are read (the rest are listed with their verdicts only). */
  maxMembers: number;
  maxEventsPerMember: number;
  maxEvents: number;
  /** Events of the campaign's days read to find which other accounts used its values. */
  maxWindowEvents: number;
}

export const DEFAULT_CASE_LIMITS: CaseLimits = { maxMembers: 500, maxEventsPerMember: 200, maxEvents: 20_000, maxWindowEvents: 200_000 };

/** Observables listed per kind, most held first. */
const OBSERVABLES_PER_KIND = 25;
/** Share a value only if at most this many accounts outside the campaign used it, per holder inside. */
const OUTSIDERS_PER_HOLDER = 0.1;

/** Find a campaign by its id, or by its cluster's id. */
export function findCampaign(engine: DetectorEngine, id: string) {
  return engine.campaign(id);
}

/** How a case found its campaign: by the campaign's id, its cluster's, or its members. */
export interface CaseCampaignMatch {
  campaign: Campaign;
  by: 'campaign_id' | 'cluster_id' | 'members';
  /** Of the case's accounts, how many the campaign holds now, and how many the detector knows. */
  held: number;
  known: number;
}

/**
 * The campaign a case is on now: by its campaign's id, else by its cluster's, as long as that
 * campaign also holds at least half of the case's accounts the detector knows (after a split, a
 * small fragment can carry the old names); else the campaign holding more than half of those
 * accounts (at least 2). The ids are names the detector derives (an engine rebuilt after a restart
 * without a snapshot, from detect.replay_hours of events, can give the same accounts other
 * names); the accounts are what the case is about. Accounts the detector no longer holds do not
 * count, so a campaign that rotates its accounts is found by the ones it uses now.
 */
export function findCaseCampaign(engine: DetectorEngine, c: Pick<CaseFile, 'campaign_id' | 'cluster_id' | 'campaign'>): CaseCampaignMatch | null {
  const members = c.campaign.members;
  const known = members.filter((m) => engine.knows(m)).length;
  const heldOf = (campaign: Campaign) => { const now = new Set(campaign.members); return members.filter((m) => now.has(m)).length; };
  for (const by of ['campaign_id', 'cluster_id'] as const) {
    const campaign = engine.campaign(c[by]);
    if (!campaign) continue;
    const held = heldOf(campaign);
    if (2 * held >= known) return { campaign, by, held, known };
  }
  const holding = engine.campaignHolding(members);
  return holding && { campaign: holding.campaign, by: 'members', held: holding.held, known };
}

/** A value seen in the campaign's events: which of its accounts used it, and which others did. */
interface Seen { kind: IndicatorKind; value: string; holders: Set<string>; outsiders: Set<string> }
type Usage = CaseFile['usage'];

/**
 * A new case file for campaign `campaignId` (or a cluster id that names one); null if the
 * detector has no such campaign.
 */
export async function buildCaseFile(src: CaseSources, campaignId: string, opts: { title?: string; limits?: Partial<CaseLimits>; now?: Date } = {}): Promise<CaseFile | null> {
  const campaign = findCampaign(src.engine, campaignId);
  return campaign && caseFileOf(src, campaign, opts);
}

async function caseFileOf(src: CaseSources, campaign: Campaign, opts: { title?: string; limits?: Partial<CaseLimits>; now?: Date }): Promise<CaseFile> {
  const limits = { ...DEFAULT_CASE_LIMITS, ...opts.limits };
  const now = (opts.now ?? new Date()).toISOString();
  // From a day before the campaign was first seen: its accounts' earliest traffic is evidence too.
  const from = new Date(Date.parse(campaign.first_seen) - 86_400_000).toISOString();
  const to = new Date(Date.parse(campaign.last_seen) + 1).toISOString();
  const seen = new Map<string, Seen>();
  // Accounts an operator allow-listed (or held at none) are not the campaign's: not members, and
  // their values count as other accounts' (so a partner's values are not shared).
  const stored = src.decisions ? await src.decisions() : [];
  const decisions = memberDecisions(src, campaign, stored);
  const excluded = new Set(decisions.filter((d) => d.excluded).map((d) => d.account_id));
  const ids = campaign.members.filter((m) => !excluded.has(m));
  const read = await readMembers(src, ids, from, limits, seen);
  const window = await countOutsiders(src, read.members, from, to, limits.maxWindowEvents, seen);
  return {
    schema: CASE_SCHEMA,
    id: `case_${ulid()}`,
    title: opts.title ?? defaultTitle(campaign, ids.length),
    status: 'open', campaign_id: campaign.id, cluster_id: campaign.cluster_id, opened_at: now, updated_at: now,
    campaign, members: [...read.members.values()], observables: judge(seen, ids.length, window.truncated, limits.maxWindowEvents),
    usage: read.usage, events_read: read.events, events_truncated: read.truncated,
    window_events_scanned: window.scanned, window_truncated: window.truncated,
    ledger: src.ledger ? await ledgerAnchor(src.ledger, campaign.cluster_id) : null,
    decisions,
    cluster_decisions: clusterDecisions(campaign, stored),
    notes: [],
  };
}

/** The title a case gets unless the operator gives one. */
function defaultTitle(campaign: Campaign, members: number): string {
  return `Campaign ${campaign.id}: ${members} accounts, ${topTargets(campaign.targets)}`;
}

/** Operator decisions on the campaign's accounts: the detector's exemptions, with who made each, when and why from the store. */
function memberDecisions(src: CaseSources, campaign: Campaign, stored: readonly DetectOverride[]): CaseDecision[] {
  const find = (kind: string, subject: string) => stored.find((o) => o.kind === kind && o.subject === subject);
  const out: CaseDecision[] = [];
  const exempt = new Map(src.engine.clusterExemptions(campaign.cluster_id).map((e) => [e.account, e.exempt_by]));
  const members = new Set(campaign.members);
  for (const [account, by] of exempt) {
    if (!members.has(account)) continue;
    const o = by.kind === 'operator_none' ? find('verdict_account', account) : find(by.kind === 'org' ? 'allow_org' : 'allow_account', by.id);
    out.push({
      account_id: account, decision: by.kind === 'operator_none' ? 'operator_verdict' : 'allow_list',
      entry: by.kind === 'operator_none' ? null : { kind: by.kind, id: by.id }, level: by.kind === 'operator_none' ? 'none' : null, excluded: true,
      by: o?.by ?? (o ? null : 'configuration'), at: o?.created_at ?? null, note: o?.note ?? null,
    });
  }
  // Operator verdicts on members at other levels are recorded; those accounts stay members.
  for (const o of stored) {
    if (o.kind !== 'verdict_account' || !members.has(o.subject) || exempt.has(o.subject) || o.level === null) continue;
    out.push({ account_id: o.subject, decision: 'operator_verdict', entry: null, level: o.level, excluded: false, by: o.by ?? null, at: o.created_at, note: o.note });
  }
  return out.sort((a, b) => (a.account_id < b.account_id ? -1 : 1));
}

/**
 * Operator verdicts on the campaign's cluster (suspending a campaign is usually one, on its
 * cluster), and on clusters merged into it: the main decision on a case, beside those on accounts.
 */
function clusterDecisions(campaign: Campaign, stored: readonly DetectOverride[]): CaseClusterDecision[] {
  return stored
    .filter((o) => o.kind === 'verdict_cluster' && o.level !== null && (o.subject === campaign.cluster_id || o.merged_into === campaign.cluster_id))
    .map((o) => ({ cluster_id: o.subject, level: o.level!, merged_into: o.merged_into ?? null, by: o.by ?? null, at: o.created_at, expires_at: o.expires_at ?? null, note: o.note }))
    .sort((a, b) => (a.at < b.at ? -1 : 1));
}

/** The members' signup facts, usage and values, from their stored events (bounded). */
async function readMembers(src: CaseSources, ids: readonly string[], from: string, limits: CaseLimits, seen: Map<string, Seen>) {
  const members = new Map<string, CaseMember>();
  for (const id of ids) {
    members.set(id, {
      account_id: id, org_id: null, level: src.engine.forAccount(id).level, tier: null, programme: null, created_at: null,
      email_domain: null, claimed_country: null, signup_ip: null, claimed_subdivision: null, requests: 0, first_seen: null, last_seen: null,
    });
  }
  const usage: Usage = { requests: 0, input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, models: {}, countries: {}, served: 0, refused: 0, errors: 0, days: {} };
  const days = usage.days!;
  let events = 0;
  let truncated = ids.length > limits.maxMembers;
  for (const id of ids.slice(0, limits.maxMembers)) {
    if (events >= limits.maxEvents) { truncated = true; break; }
    const m = members.get(id)!;
    // One more than the bound: reaching it says the account sent more.
    for await (const ev of src.events.iterate({ accountId: id, from, limit: limits.maxEventsPerMember + 1 })) {
      if (m.requests >= limits.maxEventsPerMember || events >= limits.maxEvents) { truncated = true; break; }
      events++;
      if (m.requests === 0) {
        const a = ev.account;
        Object.assign(m, { org_id: ev.org_id, tier: a?.tier ?? null, programme: a?.programme ?? null, created_at: a?.created_at ?? null, email_domain: a?.email_domain ?? null, claimed_country: a?.claimed_country ?? null, signup_ip: a?.signup_ip ?? null, claimed_subdivision: a?.claimed_subdivision ?? null, first_seen: ev.ts });
      }
      m.requests++;
      m.last_seen = ev.ts;
      const r = ev.response;
      usage.requests++; usage.input_tokens += r.input_tokens; usage.output_tokens += r.output_tokens; usage.reasoning_tokens += r.reasoning_tokens;
      // Refused requests took no answer away: the report says how many were answered.
      const outcome = statusOutcome(r.status);
      const day = ev.ts.slice(0, 10);
      const d = Object.hasOwn(days, day) ? days[day] : (days[day] = { requests: 0, served: 0, refused: 0 });
      d.requests++;
      if (outcome === 'served') { usage.served!++; d.served++; } else if (outcome === 'refused') { usage.refused!++; d.refused++; } else usage.errors!++;
      tally(usage.models, ev.model);
      const country = ev.client.country ?? '??';
      tally(usage.countries, country);
      for (const [kind, value] of eventObservables(ev)) {
        const key = `${kind}\n${value}`;
        let o = seen.get(key);
        if (!o) { o = { kind, value, holders: new Set(), outsiders: new Set() }; seen.set(key, o); }
        o.holders.add(id);
      }
    }
  }
  return { members, usage, events, truncated };
}

/**
 * Who else used the campaign's values over the same days: a value innocent customers share (a
 * residential exit, a popular SDK's user agent) must not go to partners.
 */
async function countOutsiders(src: CaseSources, members: ReadonlyMap<string, CaseMember>, from: string, to: string, max: number, seen: Map<string, Seen>) {
  let scanned = 0;
  for await (const ev of src.events.iterate({ from, to, limit: max + 1 })) {
    if (scanned === max) return { scanned, truncated: true };
    scanned++;
    if (!ev.account_id || members.has(ev.account_id)) continue;
    for (const [kind, value] of eventObservables(ev)) seen.get(`${kind}\n${value}`)?.outsiders.add(ev.account_id);
  }
  return { scanned, truncated: false };
}

/** Which values may be shared, and why (not): the campaign's own, that few others used. */
function judge(seen: ReadonlyMap<string, Seen>, members: number, windowCut: boolean, windowMax: number): CaseObservable[] {
  const minHolders = Math.max(2, Math.ceil(members * 0.1));
  const byKind = new Map<IndicatorKind, CaseObservable[]>();
  for (const o of seen.values()) {
    const holders = o.holders.size;
    const others = o.outsiders.size;
    let shareable = false;
    let why: string;
    if (holders < minHolders) why = `used by ${holders} of the campaign's ${members} accounts (fewer than ${minHolders})`;
    else if (others > Math.floor(holders * OUTSIDERS_PER_HOLDER)) why = `used by ${holders} of the campaign's accounts and by ${others} other accounts over the same days`;
    else if (windowCut && !STRONG_KINDS.has(o.kind)) why = `the scan of the campaign's days stopped at ${windowMax} events, so other users of this ${o.kind.replace(/_/g, ' ')} may be missed`;
    else { shareable = true; why = `used by ${holders} of the campaign's ${members} accounts and by ${others} other accounts over the same days`; }
    const list = byKind.get(o.kind) ?? [];
    list.push({ kind: o.kind, value: o.value, holders, others, shareable, why });
    byKind.set(o.kind, list);
  }
  return [...byKind.values()].flatMap((list) => list.sort((a, b) => b.holders - a.holders || (a.value < b.value ? -1 : 1)).slice(0, OBSERVABLES_PER_KIND));
}

/**
 * Rebuild a case from its campaign as it stands now (see findCaseCampaign), keeping its id, title,
 * status and notes; with how the campaign was found. Null if the detector holds no such campaign.
 */
export async function refreshCaseFile(src: CaseSources, old: CaseFile, opts: { limits?: Partial<CaseLimits>; now?: Date } = {}): Promise<{ file: CaseFile; found: CaseCampaignMatch } | null> {
  const found = findCaseCampaign(src.engine, old);
  if (!found) return null;
  // A title the case was given by default follows the members it counts now.
  const byDefault = old.title === defaultTitle(old.campaign, old.members.length) || old.title === defaultTitle(old.campaign, old.campaign.members.length);
  const fresh = await caseFileOf(src, found.campaign, { ...opts, title: byDefault ? undefined : old.title });
  return { file: { ...fresh, id: old.id, status: old.status, opened_at: old.opened_at, notes: old.notes }, found };
}

function topTargets(targets: Record<string, number>): string {
  const top = Object.entries(targets).filter(([, s]) => s >= 0.1).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k]) => k);
  return top.length ? `targets ${top.join(', ')}` : 'no dominant target';
}

async function ledgerAnchor(ledger: NonNullable<CaseSources['ledger']>, clusterId: string): Promise<LedgerAnchor> {
  const cp = ledger.latestCheckpoint();
  const q = await queryLedger(ledger.storage, { clusterId, limit: 100_000 });
  return {
    checkpoint: cp ? { size: cp.size, root_hash: cp.rootHash, note: cp.note, created_at: cp.createdAt } : null,
    verdicts: q.verdicts.map((v) => ({ index: v.index, ts: v.ts, subject_kind: v.subject_kind, subject_id: v.subject_id, level: v.level, source: v.source, settings_digest: v.settings_digest })),
    // The settings the cited verdicts were reached under (not every settings entry of the log).
    settings: q.settings.filter((x) => q.verdicts.some((v) => v.settings_digest === x.digest))
      .map((x) => ({ index: x.index, ts: x.ts, digest: x.digest, changed: x.changed, settings: x.settings })),
    usage: q.usage.map((u) => ({ account_id: u.account_id, requests: u.requests, input_tokens: u.input_tokens, output_tokens: u.output_tokens, reasoning_tokens: u.reasoning_tokens, countries: u.countries, asns: u.asns })),
    truncated: q.truncated,
    tree_size: q.tree_size,
  };
}

/**
 * Live cases (open or confirmed) whose campaign id and cluster id both name nothing the engine
 * holds, merged ids and re-attached ones followed: after an upgrade that renamed campaigns, or a
 * rebuild that named a cluster after another account. `warden cases refresh ID` finds each
 * case's campaign again by its accounts; start-up names how many need it.
 */
export async function casesWithGoneIds(store: { listCases(q?: { status?: 'open' | 'confirmed'; limit?: number }): Promise<Array<{ id: string; campaign_id: string; cluster_id: string }>> }, engine: DetectorEngine): Promise<string[]> {
  const live = [...await store.listCases({ status: 'open', limit: 100_000 }), ...await store.listCases({ status: 'confirmed', limit: 100_000 })];
  return live.filter((c) => engine.campaign(c.campaign_id) === null && engine.cluster(c.cluster_id, 0) === null).map((c) => c.id);
}
