/**
 * The scan report (what `warden scan --report` writes) and a scorer that compares it with ground
 * truth labels. The report carries, per account, its final verdict, the first event time it was
 * served under each level and how many of its requests were served under each level, which is
 * what detection quality and containment are computed from.
 */
import { VERDICT_LEVELS, verdictRank, type VerdictLevel, type VerdictReason } from './verdict.ts';
import type { Campaign, ClusterSummary, DetectorEngine } from './engine.ts';

export const REPORT_SCHEMA = 'warden.detection/1' as const;

export interface AccountResult {
  account_id: string;
  /** First time and level the account was served above none (null if never). */
  first_flag: { ts: string; level: VerdictLevel } | null;
  /** Level changes (ISO time from which a level applied), ascending; escalations as served. */
  timeline: Array<{ ts: string; level: VerdictLevel }>;
  /** Effective level at the end of the scan. */
  level: VerdictLevel;
  /** Highest effective level the account was ever served under (or holds at the end). */
  max_level: VerdictLevel;
  cluster_id: string | null;
  campaign_id: string | null;
  score: number | null;
  /** First time (ISO) a request of the account was served under each level. */
  first: Partial<Record<VerdictLevel, string>>;
  /** Requests served under each level, indexed by rank (none, watch, throttle, shape, verify, suspend). */
  served: number[];
  reasons?: VerdictReason[];
}

/**
 * The DetectionResult document read by `warden eval` (src/traffic/eval.ts), with the detector's
 * own extra fields (levels served, reasons, campaigns).
 */
export interface DetectionReport {
  schema: typeof REPORT_SCHEMA;
  /** Who produced it: `warden scan` or `baseline:<name>`. */
  source: string;
  /** Which detector produced it: `warden` or a baseline name. */
  detector: string;
  generated_at: string;
  events: number;
  event_time: { from: string | null; to: string | null };
  accounts: AccountResult[];
  clusters: Array<ClusterSummary & { cluster_id: string; flagged_at: string | null; timeline: Array<{ ts: string; level: VerdictLevel }> }>;
  campaigns: Campaign[];
}

/** What a report is built from: the engine, or a baseline detector run in the same harness. */
export interface ReportSource {
  accountIds(): readonly string[];
  forAccount(accountId: string): ReturnType<DetectorEngine['forAccount']>;
  servedByLevel(accountId: string): number[];
  firstFlags(accountId: string): Partial<Record<VerdictLevel, number>>;
  stats(): { events: number };
  /** Event time of the latest event (ms), when the source tracks it. */
  readonly eventTimeMs?: number;
  clusterSummaries?(minMembers?: number): ClusterSummary[];
  campaigns?(): Campaign[];
}

/** Build the report from an engine that ran with `trackFirstFlags: true` (or a baseline). */
export function buildReport(engine: ReportSource, meta: { detector?: string; from?: string | null; to?: string | null } = {}): DetectionReport {
  const accounts: AccountResult[] = [];
  for (const id of engine.accountIds()) {
    const v = engine.forAccount(id);
    const served = engine.servedByLevel(id);
    const firstMs = engine.firstFlags(id);
    const first: Partial<Record<VerdictLevel, string>> = {};
    for (const [l, t] of Object.entries(firstMs)) first[l as VerdictLevel] = new Date(t).toISOString();
    let max = verdictRank(v.level);
    for (let l = served.length - 1; l > max; l--) if (served[l] > 0) { max = l; break; }
    const timeline: Array<{ ts: string; level: VerdictLevel }> = [];
    for (let l = 1; l < VERDICT_LEVELS.length; l++) {
      const ts = first[VERDICT_LEVELS[l]];
      if (ts) timeline.push({ ts, level: VERDICT_LEVELS[l] });
    }
    const res: AccountResult = {
      account_id: id, first_flag: timeline[0] ?? null, timeline,
      level: v.level, max_level: VERDICT_LEVELS[max], cluster_id: v.clusterId, campaign_id: v.verdict?.campaign_id ?? null,
      score: v.verdict?.score ?? null, first, served,
    };
    if (v.verdict && v.level !== 'none') res.reasons = v.verdict.reasons;
    accounts.push(res);
  }
  const detector = meta.detector ?? 'warden';
  const campaigns = engine.campaigns?.() ?? [];
  const flaggedAt = new Map(campaigns.map((c) => [c.cluster_id, c.flagged_at]));
  return {
    schema: REPORT_SCHEMA, source: detector === 'warden' ? 'warden scan' : `baseline:${detector}`, detector,
    generated_at: new Date().toISOString(), events: engine.stats().events,
    event_time: { from: meta.from ?? null, to: meta.to ?? null },
    accounts,
    // A cluster's members are known only at the end (accounts join as evidence arrives), so the
    // cluster timeline carries its final level at the end of the scan: it names the accounts as
    // flagged without crediting requests served before an account joined. What each account was
    // actually served under is in its own timeline (`first`, `served`).
    // Every linked cluster is listed, those at none too: accounts name their cluster whatever its level.
    clusters: (engine.clusterSummaries?.(2) ?? []).map((c) => ({
      ...c, cluster_id: c.id, flagged_at: flaggedAt.get(c.id) ?? null,
      timeline: c.level === 'none' ? [] : [{ ts: meta.to ?? new Date(engine.eventTimeMs || Date.now()).toISOString(), level: c.level }],
    })),
    campaigns,
  };
}

/** Ground truth: account -> `organic:<kind>` or `campaign:<id>`; campaign ids -> adaptive or not. */
export interface GroundTruth {
  accounts: Record<string, string>;
  campaigns?: Record<string, { adaptive?: boolean; kind?: string }>;
}

export interface QualityFigures {
  /** Organic accounts ever above watch / organic accounts in the log (labelled accounts that sent nothing are not counted). */
  organic_flag_rate: number;
  organic_accounts: number;
  organic_flagged: number;
  organic_by_kind: Record<string, { accounts: number; flagged: number; watched: number }>;
  /** Non-adaptive campaign accounts ever above watch / all of them. */
  campaign_account_recall: number;
  /** Campaigns (non-adaptive) with a majority of accounts above watch / all. */
  campaign_cluster_recall: number;
  adaptive_account_recall: number | null;
  /** Worst and mean share of a campaign's requests served before its accounts were contained. */
  served_before_containment: { worst: number; mean: number };
  per_campaign: Record<string, { kind: string; adaptive: boolean; accounts: number; flagged: number; requests: number; served_uncontained: number }>;
}

/**
 * Score a report against labels. "Flagged" means above watch (throttle or higher); "contained"
 * means served at `containLevel` or higher (default shape: reasoning withheld, tokens capped).
 */
export function scoreReport(report: DetectionReport, truth: GroundTruth, containLevel: VerdictLevel = 'shape'): QualityFigures {
  const above = verdictRank('watch');
  const contain = verdictRank(containLevel);
  const byKind: QualityFigures['organic_by_kind'] = {};
  const perCampaign: QualityFigures['per_campaign'] = {};
  let orgN = 0; let orgF = 0;
  const byId = new Map(report.accounts.map((a) => [a.account_id, a]));
  for (const [id, label] of Object.entries(truth.accounts)) {
    // An account that sent nothing in the log was neither flagged nor missed.
    const res = byId.get(id);
    if (!res) continue;
    const max = verdictRank(res.max_level);
    if (label.startsWith('organic')) {
      const kind = label.split(':')[1] ?? 'organic';
      const k = (byKind[kind] ??= { accounts: 0, flagged: 0, watched: 0 });
      k.accounts++; orgN++;
      if (max > above) { k.flagged++; orgF++; } else if (max === above) k.watched++;
    } else {
      const cid = label.slice(label.indexOf(':') + 1);
      const meta = truth.campaigns?.[cid];
      const c = (perCampaign[cid] ??= { kind: meta?.kind ?? 'unknown', adaptive: !!meta?.adaptive, accounts: 0, flagged: 0, requests: 0, served_uncontained: 0 });
      c.accounts++;
      if (max > above) c.flagged++;
      for (let l = 0; l < res.served.length; l++) { c.requests += res.served[l]; if (l < contain) c.served_uncontained += res.served[l]; }
    }
  }
  let ca = 0; let cf = 0; let aa = 0; let af = 0; let clusters = 0; let clustersFlagged = 0; let worst = 0; let sum = 0;
  for (const c of Object.values(perCampaign)) {
    if (c.adaptive) { aa += c.accounts; af += c.flagged; continue; }
    ca += c.accounts; cf += c.flagged; clusters++;
    if (c.flagged * 2 > c.accounts) clustersFlagged++;
    const share = c.requests ? c.served_uncontained / c.requests : 0;
    worst = Math.max(worst, share); sum += share;
  }
  return {
    organic_flag_rate: orgN ? orgF / orgN : 0, organic_accounts: orgN, organic_flagged: orgF, organic_by_kind: byKind,
    campaign_account_recall: ca ? cf / ca : 0, campaign_cluster_recall: clusters ? clustersFlagged / clusters : 0,
    adaptive_account_recall: aa ? af / aa : null,
    served_before_containment: { worst, mean: clusters ? sum / clusters : 0 }, per_campaign: perCampaign,
  };
}
