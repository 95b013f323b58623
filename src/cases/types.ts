/**
 * What a case file holds. A case freezes what the detector knew of a campaign when an operator
 * opened it (its evidence, members and their signup facts, the values its accounts shared, the
 * usage and verdicts the ledger proves), then keeps the operator's notes and decisions. The
 * detector's campaign moves on; the case does not, unless refreshed on purpose.
 */
import type { Campaign, IndicatorKind, VerdictLevel } from '../detect/index.ts';

export const CASE_STATUSES = ['open', 'confirmed', 'dismissed', 'closed'] as const;
export type CaseStatus = (typeof CASE_STATUSES)[number];

export interface CaseMember {
  account_id: string;
  org_id: string | null;
  /** Verdict in force on the account when the case was opened or refreshed. */
  level: VerdictLevel;
  tier: string | null;
  programme: string | null;
  created_at: string | null;
  email_domain: string | null;
  claimed_country: string | null;
  signup_ip: string | null;
  /** ISO 3166-2 subdivision the customer claimed (`UA-30`), in `claimed_country`; absent from case files built before it was recorded. */
  claimed_subdivision?: string | null;
  /** Events of the account read for the case (bounded, see CaseFile.events_read). */
  requests: number;
  first_seen: string | null;
  last_seen: string | null;
}

/** A value the campaign's accounts shared: what the case can tell a partner about (as a keyed hash). */
export interface CaseObservable {
  kind: IndicatorKind;
  /** The normalised value (see src/detect/intel.ts); a system prompt only as its first 200 characters. */
  value: string;
  /** Members of the campaign that sent or signed up with it. */
  holders: number;
  /** Other accounts that used it over the campaign's days (see CaseFile.window_events_scanned). */
  others: number;
  /** Whether a threat-intel export includes it, and why (not). */
  shareable: boolean;
  why: string;
}

export interface CaseNote {
  at: string;
  text: string;
  /** A status change recorded with the note. */
  status?: CaseStatus;
  /** Who wrote it or made the change (the admin request's `x-warden-actor`); absent on notes written before this was kept. */
  by?: string;
}

export interface LedgerAnchor {
  /** The signed checkpoint the case was built against: anyone with the verifier key can check it. */
  checkpoint: { size: number; root_hash: string; note: string; created_at: string } | null;
  /**
   * Verdicts on the campaign's cluster and its members, as logged (index: the entry's leaf index),
   * with the digest of the detector settings each was reached under (`settings_digest`: null for
   * an operator's verdict and one logged before verdicts named their settings; absent from case
   * files built before this was kept).
   */
  verdicts: Array<{ index: number; ts: string; subject_kind: string; subject_id: string; level: string; source: string; settings_digest?: string | null }>;
  /**
   * The detector settings those verdicts name, as the log records them (the settings entry's leaf
   * index, time, digest, what changed from the settings entry before it, and the settings); absent
   * from case files built before this was kept.
   */
  settings?: Array<{ index: number; ts: string; digest: string; changed: string[] | null; settings: Record<string, unknown> }>;
  /** Usage by member as the ledger records it (requests, tokens, networks). */
  usage: Array<{ account_id: string | null; requests: number; input_tokens: number; output_tokens: number; reasoning_tokens: number; countries: string[]; asns: number[] }>;
  /** The ledger query hit its limit: usage is a lower bound. */
  truncated: boolean;
  /**
   * Entries in the log when the usage and verdicts were read: those past the checkpoint's size are
   * covered by a later checkpoint (absent on cases built before this was kept).
   */
  tree_size?: number;
}

/** What names a case and where it stands: a case file's head, and a row of the list. */
interface CaseHead {
  id: string;
  title: string;
  status: CaseStatus;
  campaign_id: string;
  cluster_id: string;
  opened_at: string;
  updated_at: string;
}

/**
 * An operator decision on an account of the campaign: allow-listed (the account or its org; such
 * accounts are not counted as members and their values are not shared), held at `none`, or an
 * operator verdict at another level (recorded, the account stays a member).
 */
export interface CaseDecision {
  account_id: string;
  decision: 'allow_list' | 'operator_verdict';
  /** For the allow-list: the entry (`account` or `org` and its id); for a verdict: its level. */
  entry: { kind: 'account' | 'org'; id: string } | null;
  level: VerdictLevel | null;
  /** Excluded from the case's members and from the holders of shareable values. */
  excluded: boolean;
  /** Who made it and when, with their note (null when not known: an allow-list entry from the configuration). */
  by: string | null;
  at: string | null;
  note: string | null;
}

/**
 * An operator verdict on the campaign's cluster (the decision that holds every account of it), or
 * on a cluster merged into it: which cluster, the level, who set it, when, why.
 */
export interface CaseClusterDecision {
  cluster_id: string;
  level: VerdictLevel;
  /** Set on a cluster since merged into the campaign's: that cluster's id is `cluster_id`. */
  merged_into: string | null;
  by: string | null;
  at: string;
  expires_at: string | null;
  note: string | null;
}

/** A case file's format, in every case file (stored ones from before it was written get it on read). */
export const CASE_SCHEMA = 'warden.case/1' as const;

export interface CaseFile extends CaseHead {
  /** `warden.case/1`: additive changes (new optional fields) keep the version. */
  schema: typeof CASE_SCHEMA;
  /** The detector's campaign as it stood (members, timeline, volume, targets, evidence). */
  campaign: Campaign;
  members: CaseMember[];
  observables: CaseObservable[];
  /** Usage of the events read: requests, tokens, models, countries. */
  usage: {
    requests: number; input_tokens: number; output_tokens: number; reasoning_tokens: number; models: Record<string, number>; countries: Record<string, number>;
    /** Of the requests read: answered (< 400), refused (403 denied, 429 limited), other errors; absent from case files built before they were counted. */
    served?: number; refused?: number; errors?: number;
    /** The same per UTC day of the events read (sums to `requests`). */
    days?: Record<string, { requests: number; served: number; refused: number }>;
  };
  /** Events read from the event store for the case, and whether a bound cut the reading short. */
  events_read: number;
  events_truncated: boolean;
  /** Events of the campaign's days (from a day before it was first seen) read to count other accounts' use of its values. */
  window_events_scanned: number;
  window_truncated: boolean;
  ledger: LedgerAnchor | null;
  /** Operator decisions on the campaign's accounts when the case was built (absent from older case files). */
  decisions?: CaseDecision[];
  /** Operator verdicts on the campaign's cluster when the case was built (absent from older case files). */
  cluster_decisions?: CaseClusterDecision[];
  notes: CaseNote[];
}

export interface CaseSummary extends CaseHead {
  members: number;
  level: VerdictLevel;
}

export function summariseCase(c: CaseFile): CaseSummary {
  return { id: c.id, title: c.title, status: c.status, campaign_id: c.campaign_id, cluster_id: c.cluster_id, opened_at: c.opened_at, updated_at: c.updated_at, members: c.members.length, level: c.campaign.level };
}
