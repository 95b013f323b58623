/**
 * Verdict types: the detector's output and the contract with enforcement (limits, shaping,
 * gateway). Kept free of any detector internals so consumers import only this.
 */

/** The ladder, in increasing severity. Enforcement compares positions in this list. */
export const VERDICT_LEVELS = ['none', 'watch', 'throttle', 'shape', 'verify', 'suspend'] as const;
export type VerdictLevel = (typeof VERDICT_LEVELS)[number];

export function verdictRank(level: VerdictLevel): number {
  return VERDICT_LEVELS.indexOf(level);
}

/** One piece of explanation: which signal, its value, the threshold it crossed. */
export interface VerdictReason {
  signal: string;
  value: number | string;
  threshold: number | string | null;
  /** Contribution to the score, when the signal is weighted. */
  weight?: number;
  detail?: string;
  /** Who set an operator verdict (`operator_verdict`): the operator the admin request named (`x-warden-actor`). */
  by?: string;
}

export interface Verdict {
  subject: { kind: 'account' | 'cluster'; id: string };
  level: VerdictLevel;
  /** Overall score that placed it on the ladder (0..1), null for operator verdicts. */
  score: number | null;
  reasons: VerdictReason[];
  /** `detector` or `operator` (manual verdicts and allow-list entries win over the detector). */
  source: 'detector' | 'operator';
  /** ISO time the level was reached. */
  since: string;
  /** Campaign id when the subject belongs to a named campaign. */
  campaign_id?: string | null;
  /** An operator verdict set for a time: when it lapses (ISO). */
  expires_at?: string | null;
  /**
   * An operator cluster verdict whose cluster merged into another: the cluster it now belongs to
   * (the strictest operator verdict a merged cluster carries applies; the others are kept).
   */
  merged_into?: string | null;
}

/**
 * What hears the detector's verdict changes (the ledger, notifications): each verdict and, for a
 * cluster's, the accounts it covers as the change was made (the ledger records them, so that the
 * signed log says whom a cluster verdict held, and its query by cluster finds their traffic).
 */
export type VerdictListener = (verdict: Verdict, accounts?: readonly string[]) => void;

/**
 * What enforcement reads on the request path: the effective verdict for an account (the more
 * severe of its own and its cluster's, unless an operator override applies) and its cluster id.
 * `orgCluster`: the account is served at the enterprise tier and every member of that cluster is in
 * its organisation, a corroborated one (one customer, see docs/detector.md "Uncorroborated orgs").
 * Must answer from memory: it is called for every request.
 */
export interface VerdictView {
  forAccount(accountId: string): { level: VerdictLevel; verdict: Verdict | null; clusterId: string | null; orgCluster?: boolean };
}

/**
 * The cluster whose shared budget the limits charge, if any. An enterprise account whose cluster
 * is its corroborated organisation is pooled by the org's own limit (its tier's, or the operator's
 * override), so the flat cluster budget, sized for linked strangers, would only cap that customer
 * below what it was sold (a 2,000-person company's accounts all link through its card and office).
 * Once a verdict at throttle or above holds it, the cluster budget applies again, scaled by it.
 */
export function budgetClusterOf(view: { level: VerdictLevel; clusterId: string | null; orgCluster?: boolean; verdict?: Verdict | null }): string | null {
  if (isAllowListed(view)) return null;
  return view.orgCluster === true && verdictRank(view.level) < verdictRank('throttle') ? null : view.clusterId;
}

/** The reason an allow-listed account's verdict carries (the engine's, and as replicas publish it). */
export const ALLOW_LIST_SIGNAL = 'operator_allow_list';

/**
 * The account is on the allow-list (its own entry or its organisation's). An operator decided it
 * is a known partner, not a stranger linked to others: the cluster budget, sized for linked
 * strangers, is not charged (budgetClusterOf); its account and org limits still are. Without this
 * a partner allow-listed after its harness was linked into one cluster stayed refused with 429 on
 * the cluster scope.
 */
export function isAllowListed(view: { verdict?: Verdict | null }): boolean {
  return view.verdict?.source === 'operator' && view.verdict.reasons[0]?.signal === ALLOW_LIST_SIGNAL;
}

/** A VerdictView that knows nothing: every account is `none`, in no cluster. */
export const EMPTY_VERDICT_VIEW: VerdictView = {
  forAccount: () => ({ level: 'none', verdict: null, clusterId: null }),
};
