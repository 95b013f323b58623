/**
 * Types of the detector engine: what its public methods return (summaries, campaigns, links,
 * precedence, merges, stats) and the state it keeps per cluster and per verdict, with the level
 * ranks and the stable ids (clusters named after their founding account, campaigns after their
 * cluster) it hands out.
 */
import { fnv1a, mix } from './features.ts';
import type { SharedIndicators } from './intel.ts';
import type { LinkType } from './linking.ts';
import type { Verdict, VerdictLevel, VerdictReason } from './verdict.ts';

/** Level ranks (indices of VERDICT_LEVELS) the engine compares with. */
export const WATCH = 1;
export const THROTTLE = 2;
export const SHAPE = 3;

/** Stable short id from a string (for cluster and campaign ids). */
export function shortId(prefix: string, s: string): string {
  return prefix + mix(fnv1a(s), fnv1a(s, 0x1234567)).toString(36).padStart(7, '0');
}
/** The id of the campaign a cluster becomes when it is flagged. */
export function campaignIdOf(clusterId: string): string {
  return shortId('camp_', clusterId);
}

/** A cluster with more than one member: summed window, link evidence, verdict state. */
export interface ClusterState {
  /** Named after `founder` when new; a merge keeps one side's name (see DetectorEngine.union). */
  id: string;
  /**
   * The smallest account id among the members: what names a new cluster, and breaks ties between
   * equal sides of a merge. (Absent from snapshots written before it: restoreState fills it in.)
   */
  founder: string;
  w: Float64Array;
  members: number;
  /** Distinct orgs among members, and members with no org. */
  orgs: Map<number, number>;
  noOrg: number;
  /**
   * Members moved into their org while flagged (F_MOVED_FLAGGED): each its own actor, not counted
   * in `orgs`. (Absent from snapshots written before it: restoreState counts them, none.)
   */
  apart: number;
  /** Members with no org on a campus's email domain (F_CAMPUS), per domain key, and their number. */
  campus: Map<number, number>;
  campusMembers: number;
  verified: number;
  disposable: number;
  /** Members first seen within FRESH_ACCOUNT_S of their creation. */
  fresh: number;
  /** Members established now (see established): kept as members join, leave an org, change tier, and as their orgs' corroboration changes. */
  established: number;
  /** Evidence of undeclared joins, summed per link type, and their count. */
  evidence: Float64Array;
  joins: number;
  joinEvidence: number;
  /** Links made through a fleet's own system prompt (see FLEET_WEIGHT). */
  fleetJoins: number;
  /** Members when the verdict was last explained: a cluster that grew is explained again. */
  explainedMembers: number;
  /** Co-activity: members seen in the current hour bucket, and the best share so far. */
  hour: number;
  hourMembers: number;
  syncMax: number;
  campaignId: string | null;
  /**
   * Its level is held by the place rule (place-links.ts placeHold: at watch, or at verify when
   * volume alone corroborates it), as read at its latest scoring. Such a cluster, flagged, takes in
   * no replacement heads by its software: what its members run (a lab's evaluation harness, a
   * course's tool, one application's system prompt) is the place's, not a fleet's own. (Absent
   * from snapshots written before it: false until the cluster is scored again.)
   */
  placeHeld?: boolean;
  firstTs: number;
  /** Hourly request counts (hour -> requests), bounded to the most recent entries. */
  timeline: Map<number, number>;
  requests: number;
  outTokens: number;
  verdict: LevelState;
}

export interface LevelState {
  level: number;
  score: number;
  since: number;
  /** Event time since which the score has been below the current level's exit line (0: not below). */
  belowSince: number;
  verdict: Verdict | null;
  /** Event time `verdict`'s explanation was built, and the score it showed (see EXPLAIN_REFRESH_S). */
  explainedAt: number;
  explainedScore: number;
}

/** Where an account's effective verdict comes from (see DetectorEngine.verdictSource). */
export type VerdictSource = 'allow' | 'manual_account' | 'manual_cluster' | 'cluster' | 'own';

/** What holds an account off the verdicts that would apply to it: an allow-list entry, on it or on its org. */
/** An allow-list entry that exempts an account: its own, or its organisation's. */
export interface Exemption { kind: 'account' | 'org'; id: string }
/** What keeps a cluster's verdict from a member: the allow-list, or an operator's `none` on the account. */
export type NotReachedBy = Exemption | { kind: 'operator_none'; id: string };

/** One verdict weighed for an account's effective level (see DetectorEngine.verdictPrecedence). */
export interface WeighedVerdict {
  source: 'allow_list' | 'operator_account' | 'operator_cluster' | 'detector_account' | 'detector_cluster';
  /** What it is set on (an operator cluster verdict: the cluster it was set on, perhaps merged since). */
  subject: { kind: 'account' | 'cluster' | 'org'; id: string };
  level: VerdictLevel;
}

/**
 * A verdict weighed that does not decide, and why: less severe; as severe, a tie going to an
 * operator's verdict, then to the account's; replaced by the operator's verdict on the same
 * subject; exempted by the allow-list.
 */
export interface OutrankedVerdict extends WeighedVerdict { why: 'less_severe' | 'tie' | 'replaced' | 'allow_listed' | 'exempted' }

/** Which verdict decides an account's effective level and which it outranks, with a sentence saying so. */
export interface VerdictPrecedence {
  level: VerdictLevel;
  decided_by: WeighedVerdict | null;
  outranked: OutrankedVerdict[];
  summary: string;
}

/**
 * What an allow-listed account would be held at without the allow-list (its "shadow" verdict):
 * the detector keeps scoring an exempt account and its cluster, so this is read from what is held,
 * not computed again (DetectorEngine.shadowVerdict). Operator verdicts on the account or its cluster
 * count, as they would once the entry is gone; `precedence` says which verdict would decide.
 */
export interface ShadowVerdict {
  /** The allow-list entry that exempts the account now (its own, else its organisation's). */
  exempt_by: Exemption;
  /** The level that would be in force without the allow-list. */
  level: VerdictLevel;
  /** The verdict that would be in force, with its reasons (signal, value, threshold, weight); null at none. */
  verdict: Verdict | null;
  /** Which verdict would decide, and which it would outrank. */
  precedence: VerdictPrecedence;
  /** The account's cluster as the detector holds it (null: the account is alone). */
  cluster: { id: string; level: VerdictLevel; score: number; size: number; actors: number; campaign_id: string | null } | null;
}

/** One account an allow-list entry covers, as it would be held without the entry (AllowEntryShadow). */
export interface ShadowRow {
  account_id: string;
  /** The level that would be in force without the allow-list. */
  level: VerdictLevel;
  /** The verdict that would decide it (null at none). */
  decided_by: Exclude<WeighedVerdict['source'], 'allow_list'> | null;
  /** The score of that verdict (null: an operator's). */
  score: number | null;
  cluster_id: string | null;
  campaign_id: string | null;
  last_seen: string | null;
  /** Its behaviour signal adding the most to its own score (null: none adds anything). */
  top_signal: { signal: string; value: number; contribution: number } | null;
}

/** An allow-list entry and what the detector would do to the accounts it covers without it (DetectorEngine.allowShadow). */
export interface AllowEntryShadow {
  kind: 'account' | 'org';
  id: string;
  /** When the entry lapses (null: until removed). */
  expires_at: string | null;
  /** An org entry that covers accounts added to the org later too (or one from the configuration); false for an account's. */
  new_accounts: boolean;
  /** Accounts the entry covers that the detector holds. */
  covered: number;
  /** Accounts an org entry names that the detector has not seen (or has forgotten): nothing to judge yet. */
  unseen: string[];
  /** Covered accounts by the level they would be held at without the entry. */
  levels: Record<VerdictLevel, number>;
  /** The highest of those levels. */
  highest: VerdictLevel;
  /** The covered accounts that would be held above none, most severe first (at most the limit asked). */
  accounts: ShadowRow[];
}


/**
 * The link that brought an account into its cluster (its latest, when it linked more than once):
 * what it shared with whom, how much each kind of evidence weighed, and by which rule it joined.
 */
export interface AccountLink {
  /** Event time of the link (ISO). */
  at: string;
  /** The cluster, or the single account, it was linked to (the id it had then). */
  with: string;
  /**
   * `shared_evidence`: the evidence reached the link threshold; `replacement_head`: a new account
   * with a flagged campaign's own software (counted in full); `fleet_software`: a system prompt only
   * new accounts use (fleet software on); `declared_org`: the same declared org (corroborated or not).
   */
  rule: 'shared_evidence' | 'replacement_head' | 'fleet_software' | 'declared_org';
  /** The kinds of evidence found (the six heaviest) with their weight (damped by popularity); software as found, before its cap. */
  evidence: Array<{ kind: LinkType; weight: number }>;
  /** What the shared software counted for after the cap (or in full, for the two rules that allow it). */
  software_counted: number;
  /** The sum that was compared with the link threshold, and that threshold. */
  total: number;
  threshold: number;
}

/** A cluster as reported: members, evidence, score and level. */
export interface ClusterSummary {
  id: string;
  members: string[];
  actors: number;
  level: VerdictLevel;
  score: number;
  requests: number;
  campaign_id: string | null;
  reasons: VerdictReason[];
}

/** A campaign: a cluster scored as one actor above watch, with its timeline and what it targeted. */
export interface Campaign {
  id: string;
  cluster_id: string;
  level: VerdictLevel;
  score: number;
  members: string[];
  first_seen: string;
  last_seen: string;
  flagged_at: string;
  volume: { requests: number; output_tokens: number };
  /** Hourly request counts, oldest first (hour start ISO, requests). */
  timeline: Array<[string, number]>;
  /** Share of the campaign's (windowed) requests per capability it targeted. */
  targets: Record<string, number>;
  evidence: VerdictReason[];
}

/** An account's effective verdict as shared between nodes: its cluster's verdict is shared once, by id. */
export interface SharedAccountVerdict {
  level: VerdictLevel;
  clusterId: string | null;
  /** The verdict in force is the cluster's (`clusterId`), not the account's own. */
  fromCluster: boolean;
  /** The account's own verdict (detector or operator) when it is the one in force. */
  verdict: Verdict | null;
  /** The cluster is one corroborated organisation (VerdictView); absent from what earlier workers published. */
  orgCluster?: boolean;
}

export interface EngineOptions {
  config?: unknown;
  /** Record per account the first event time served under each level (scan reports need it). */
  trackFirstFlags?: boolean;
  /**
   * Remember the ids of the events ingested within this many seconds of event time, so that a
   * snapshot can tell which of the stored events around its time it already holds (snapshot.ts). 0: off.
   */
  rememberEventIdsSeconds?: number;
  /** Indicators shared by other providers (./intel.ts): an account that matches one is held at its level. */
  intel?: SharedIndicators;
}

/** Who made an allow-list change and why (the request's `x-warden-actor`, the note or reason given). */
export interface AllowListDecision { note: string | null; by: string | null }

/**
 * What an allow-list entry covers and until when. `members`: an org's entry covers only these
 * accounts (those the org held when the operator made it; absent: every account the org holds
 * now, later ones included). `expiresAt` (ISO): the entry lapses then (absent: until removed).
 */
export interface AllowListScope {
  members?: readonly string[] | null;
  expiresAt?: string | null;
  /** An entry put back from the store: when it was made (ISO), its note and who made it (the allow-list verdict names them). */
  since?: string | null;
  note?: string | null;
  by?: string | null;
}

/** An operator's change to the allow-list, as the engine tells its listeners (the ledger records it). */
export interface AllowListChange extends AllowListDecision {
  action: 'added' | 'removed';
  /** Removed because the time it was set for ran out (no operator). */
  lapsed?: boolean;
  subject: { kind: 'account' | 'org'; id: string };
  /** An account's level in force after the change; null for an organisation (its accounts keep their own). */
  level: VerdictLevel | null;
  at: string;
  /** Added: an org entry that covers only the accounts the org held then (their ids); absent for every account, later ones included. */
  accounts?: readonly string[];
  /** Added: when the entry lapses (absent: until removed). */
  expires_at?: string;
}

/** A cluster (of two or more accounts, or a campaign) merged into another, which keeps its id. */
export interface ClusterMerge {
  /** The surviving cluster and its campaign. */
  cluster: string;
  campaign_id: string | null;
  /** The cluster id merged away, and its campaign's id when that went away too. */
  merged: string;
  merged_campaign_id: string | null;
  /** The level in force on the surviving cluster after the merge (the detector's or an operator's, the stricter), the event time, and its members now. */
  level: VerdictLevel;
  at: string;
  accounts: string[];
}

/** Two clusters that both carried an operator verdict merged (see DetectorEngine.onOperatorMerge). */
export interface OperatorMerge {
  /** The merged cluster's id. */
  cluster: string;
  /** The verdict in force on it (the stricter), then the other, kept under its own cluster's id. */
  verdicts: [Verdict, Verdict];
  /** The merged cluster's members. */
  accounts: string[];
}

/** One account as the detector's account listing shows it (`DetectorEngine.accountRows`). */
export interface AccountRow {
  account_id: string;
  /** The level in force (allow-list, operator verdicts and cluster included). */
  level: VerdictLevel;
  /** The score of the verdict in force (null: an operator's or the allow-list's, which have none). */
  score: number | null;
  /** The account's own harvest score, 0 to 1, whatever decides its level. */
  account_score: number;
  cluster_id: string | null;
  campaign_id: string | null;
  /** Event time of its latest request (null: an operator verdict on an account the detector has not seen). */
  last_seen: string | null;
  /** Requests the detector has read from it. */
  requests: number;
  /** Its behaviour signal that adds the most to its score (null: none adds anything). */
  top_signal: { signal: string; value: number; contribution: number } | null;
}

export interface EngineStats {
  events: number;
  /** Accounts in memory. */
  accounts: number;
  /** Accounts forgotten after idling (evict_idle_hours), counted each time. */
  forgotten: number;
  clusters: number;
  campaigns: number;
  linkKeys: number;
  ticks: number;
}
