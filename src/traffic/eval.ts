/**
 * `warden eval`: score a detector's output against ground truth. Takes a DetectionResult (what
 * the detector decided, per account and per cluster, over time), the labels of a simulated or
 * red-team run, and its events (for volume and tokens), and reports per campaign how fast it was
 * flagged and contained and how much it got before that, and per organic kind how many accounts
 * and requests were wrongly flagged, throttled or refused. Adaptive campaigns are reported apart.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { LATE_EVENT_TOLERANCE_MS, parseIsoMs, readEventsJsonl, type InteractionEvent } from '../events/index.ts';
import { VERDICT_LEVELS, verdictRank, type VerdictLevel } from '../detect/verdict.ts';
import type { AccountLabel } from './population.ts';
import type { CampaignLabel, LabelLine } from './generator.ts';

export const DETECTION_SCHEMA = 'warden.detection/1' as const;

const Level = z.enum(VERDICT_LEVELS);
const LevelChange = z.object({
  /** ISO time from which this level applies (until the next change). */
  ts: z.string(),
  level: Level,
  /** Free-form explanation (signals, values, thresholds); carried, not scored. */
  reasons: z.unknown().optional(),
});
export type LevelChange = z.infer<typeof LevelChange>;

export const DetectionAccount = z.object({
  account_id: z.string(),
  /** Cluster the detector put the account in (also derivable from clusters[].members). */
  cluster_id: z.string().nullable().optional(),
  /** Campaign the detector attributed the account to, if it names campaigns. */
  campaign_id: z.string().nullable().optional(),
  /** First time and level the account was flagged (derived from the timeline when absent). */
  first_flag: z.object({ ts: z.string(), level: Level }).nullable().optional(),
  /** Level changes of the account's own verdict, any order (sorted on load). */
  timeline: z.array(LevelChange).default([]),
});
export type DetectionAccount = z.infer<typeof DetectionAccount>;

export const DetectionCluster = z.object({
  cluster_id: z.string(),
  members: z.array(z.string()),
  campaign_id: z.string().nullable().optional(),
  timeline: z.array(LevelChange).default([]),
});
export type DetectionCluster = z.infer<typeof DetectionCluster>;

/**
 * What a detector run (`warden scan`, the online detector, a baseline, or the red-team's own
 * observation of enforcement) produces for evaluation. An account's effective level at time t is
 * the higher of its own timeline and its cluster's timeline at t.
 */
export const DetectionResult = z.object({
  schema: z.literal(DETECTION_SCHEMA),
  /** Who produced it: `warden scan`, `baseline:volume`, `redteam:observed`... */
  source: z.string(),
  generated_at: z.string().optional(),
  /** Simulated seconds per wall-clock second when the run was time-compressed (redteam); 1 otherwise. */
  time_scale: z.number().positive().optional(),
  accounts: z.array(DetectionAccount),
  clusters: z.array(DetectionCluster).optional(),
});
export type DetectionResult = z.infer<typeof DetectionResult>;

/**
 * Load a detection result: a JSON document in the format above, or a JSONL verdict log whose lines
 * are verdicts (`{subject: {kind, id}, level, since}` as in src/detect/verdict.ts), account level
 * changes (`{account_id, ts, level}`), or cluster memberships (`{type: "cluster", cluster_id, members}`).
 */
export function parseDetectionResult(text: string, source = 'file'): DetectionResult {
  const trimmed = text.trim();
  if (trimmed.startsWith('{') && !trimmed.includes('\n{')) {
    const obj = JSON.parse(trimmed);
    if (obj && obj.schema === DETECTION_SCHEMA) return DetectionResult.parse(obj);
  }
  const accounts = new Map<string, DetectionAccount>();
  const clusters = new Map<string, DetectionCluster>();
  const acct = (id: string) => {
    let a = accounts.get(id);
    if (!a) { a = { account_id: id, timeline: [] }; accounts.set(id, a); }
    return a;
  };
  const cluster = (id: string) => {
    let c = clusters.get(id);
    if (!c) { c = { cluster_id: id, members: [], timeline: [] }; clusters.set(id, c); }
    return c;
  };
  let lineNo = 0;
  for (const line of trimmed.split('\n')) {
    lineNo++;
    if (!line.trim()) continue;
    const o = JSON.parse(line) as Record<string, unknown>;
    if (o.type === 'cluster' && typeof o.cluster_id === 'string') {
      const c = cluster(o.cluster_id);
      for (const m of (o.members as string[]) ?? []) if (!c.members.includes(m)) c.members.push(m);
      continue;
    }
    const subject = o.subject as { kind?: string; id?: string } | undefined;
    const level = Level.safeParse(o.level);
    const ts = (o.since ?? o.ts) as string | undefined;
    if (!level.success || typeof ts !== 'string') throw new Error(`detection line ${lineNo}: expected a verdict with level and since/ts`);
    if (subject && subject.kind === 'cluster' && subject.id) cluster(subject.id).timeline.push({ ts, level: level.data });
    else {
      const id = subject?.id ?? (o.account_id as string | undefined);
      if (!id) throw new Error(`detection line ${lineNo}: no subject`);
      const a = acct(id);
      a.timeline.push({ ts, level: level.data });
      if (typeof o.cluster_id === 'string') a.cluster_id = o.cluster_id;
    }
  }
  return { schema: DETECTION_SCHEMA, source, accounts: [...accounts.values()], clusters: [...clusters.values()] };
}

export function loadDetectionResult(path: string): DetectionResult {
  return parseDetectionResult(readFileSync(path, 'utf8'), path);
}

// ---------------------------------------------------------------------------------------------
// Level lookup

interface Timeline { t: Float64Array; r: Int8Array; max: number; firstAt: (rank: number) => number }

function compile(changes: LevelChange[]): Timeline {
  const sorted = [...changes].map((c) => ({ t: Date.parse(c.ts), r: verdictRank(c.level) })).filter((c) => Number.isFinite(c.t)).sort((a, b) => a.t - b.t);
  const t = Float64Array.from(sorted.map((c) => c.t));
  const r = Int8Array.from(sorted.map((c) => c.r));
  let max = 0;
  for (const v of r) max = Math.max(max, v);
  return {
    t, r, max,
    firstAt(rank: number) {
      for (let i = 0; i < r.length; i++) if (r[i] >= rank) return t[i];
      return Infinity;
    },
  };
}

function levelAt(tl: Timeline | undefined, ms: number): number {
  if (!tl || tl.t.length === 0 || ms < tl.t[0]) return 0;
  let lo = 0, hi = tl.t.length - 1;
  while (lo < hi) { const mid = (lo + hi + 1) >>> 1; if (tl.t[mid] <= ms) lo = mid; else hi = mid - 1; }
  return tl.r[lo];
}

/** Effective levels: own timeline and cluster timeline, combined. */
export class LevelIndex {
  private own = new Map<string, Timeline>();
  private clusterOf = new Map<string, string>();
  private clusters = new Map<string, Timeline>();

  constructor(det: DetectionResult) {
    for (const c of det.clusters ?? []) {
      this.clusters.set(c.cluster_id, compile(c.timeline));
      for (const m of c.members) this.clusterOf.set(m, c.cluster_id);
    }
    for (const a of det.accounts) {
      const changes = [...a.timeline];
      if (a.first_flag && !changes.some((c) => c.ts === a.first_flag!.ts)) changes.push({ ts: a.first_flag.ts, level: a.first_flag.level });
      this.own.set(a.account_id, compile(changes));
      if (a.cluster_id) this.clusterOf.set(a.account_id, a.cluster_id);
    }
  }

  /** Effective level rank of an account at a time (ms). */
  at(accountId: string, ms: number): number {
    const own = levelAt(this.own.get(accountId), ms);
    const cid = this.clusterOf.get(accountId);
    return cid ? Math.max(own, levelAt(this.clusters.get(cid), ms)) : own;
  }

  /** Highest effective level an account ever reached. */
  max(accountId: string): number {
    const own = this.own.get(accountId)?.max ?? 0;
    const cid = this.clusterOf.get(accountId);
    return cid ? Math.max(own, this.clusters.get(cid)?.max ?? 0) : own;
  }

  /** First time the account's effective level reached `rank` (Infinity if never). */
  firstAt(accountId: string, rank: number): number {
    const own = this.own.get(accountId)?.firstAt(rank) ?? Infinity;
    const cid = this.clusterOf.get(accountId);
    return cid ? Math.min(own, this.clusters.get(cid)?.firstAt(rank) ?? Infinity) : own;
  }

  clusterIdOf(accountId: string): string | null {
    return this.clusterOf.get(accountId) ?? null;
  }

  clusterMax(clusterId: string): number {
    return this.clusters.get(clusterId)?.max ?? 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Report

export interface EvalOptions {
  /** Level that counts as "flagged" for campaign detection (default watch). */
  flagLevel?: VerdictLevel;
  /** Level that counts against organic accounts (default throttle: anything above watch). */
  fpLevel?: VerdictLevel;
  /** Level at which a request counts as not served to a campaign (default throttle). */
  containLevel?: VerdictLevel;
  /** Share of a campaign's remaining requests that must hit contained accounts (default 0.95). */
  coverage?: number;
}

export interface CampaignReport {
  campaign_id: string;
  kind: string;
  adaptive: boolean;
  accounts_total: number;
  accounts_active: number;
  accounts_flagged: number;
  account_recall: number;
  accounts_contained: number;
  /** Clusters (as the detector formed them) that hold this campaign's accounts and were flagged. */
  clusters_flagged: number;
  /** Share of active accounts in a flagged cluster. */
  cluster_coverage: number;
  /** Share of the campaign's accounts in its largest detector cluster (1: the cluster is the campaign). */
  largest_cluster_share: number;
  requests: number;
  tokens: number;
  first_request_at: string | null;
  first_flag_at: string | null;
  time_to_first_flag_s: number | null;
  requests_before_first_flag: number;
  contained: boolean;
  contained_at: string | null;
  time_to_containment_s: number | null;
  requests_before_containment: number;
  share_requests_before_containment: number;
  share_tokens_before_containment: number;
  /** Requests and tokens served at any time (never contained accounts leak). */
  served_requests: number;
  served_share: number;
  served_tokens_share: number;
}

export interface OrganicReport {
  kind: string;
  accounts: number;
  requests: number;
  accounts_flagged_any: number;
  accounts_flagged: number;
  accounts_throttled: number;
  accounts_shaped: number;
  accounts_refused: number;
  requests_throttled: number;
  requests_shaped: number;
  requests_refused: number;
  account_fp_rate: number;
  request_fp_rate: number;
}

export interface EvalReport {
  schema: 'warden.eval/1';
  source: string;
  generated_at: string;
  options: Required<EvalOptions>;
  time_scale: number;
  campaigns: CampaignReport[];
  adaptive: CampaignReport[];
  organic: OrganicReport[];
  totals: {
    campaign_accounts: number;
    campaign_accounts_flagged: number;
    campaign_account_recall: number;
    campaigns: number;
    campaigns_contained: number;
    /** Contained before 1% of their requests had been served (the detector's quality goal). */
    campaigns_contained_within_1pct: number;
    adaptive_accounts: number;
    adaptive_accounts_flagged: number;
    adaptive_account_recall: number;
    organic_accounts: number;
    organic_accounts_flagged: number;
    organic_account_fp_rate: number;
    organic_requests: number;
    organic_requests_affected: number;
  };
}

interface CampaignAcc {
  label: CampaignLabel | null;
  accounts: Set<string>;
  active: Set<string>;
  requests: number;
  tokens: number;
  unserved: number;
  servedTokens: number;
  firstMs: number;
  flagMs: number;
  beforeFlag: number;
  // pass 2
  prefixN: number;
  prefixU: number;
  prefixServedTokens: number;
  containMs: number;
  beforeContain: number;
  tokensBeforeContain: number;
}

interface OrganicAcc {
  accounts: Set<string>;
  requests: number;
  throttled: number;
  shaped: number;
  refused: number;
}

/** The event's account is identity verified (or enterprise): what a verify verdict asks for is done. */
function verifiedTier(ev: InteractionEvent): boolean {
  const tier = ev.account?.tier;
  return tier === 'identity_verified' || tier === 'enterprise';
}

function tokensOf(ev: InteractionEvent): number {
  return ev.response.output_tokens; // reasoning included (the event contract)
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);

/**
 * Evaluate. `events` is a factory so the events can be streamed twice (containment needs the
 * campaign totals first); events are expected in time order (as simulate and export write them).
 */
export async function evaluate(det: DetectionResult, labels: LabelLine[], events: () => AsyncIterable<InteractionEvent> | Iterable<InteractionEvent>, opts: EvalOptions = {}): Promise<EvalReport> {
  const o: Required<EvalOptions> = { flagLevel: opts.flagLevel ?? 'watch', fpLevel: opts.fpLevel ?? 'throttle', containLevel: opts.containLevel ?? 'throttle', coverage: opts.coverage ?? 0.95 };
  if (!(o.coverage > 0 && o.coverage <= 1)) throw new RangeError(`coverage is a share of requests, above 0 and at most 1 (got ${o.coverage})`);
  if (!labels.some((l) => l.type === 'account')) throw new RangeError('the labels hold no account rows ({"type":"account", ...}, as warden simulate and redteam write them)');
  const flagRank = verdictRank(o.flagLevel), fpRank = verdictRank(o.fpLevel), containRank = verdictRank(o.containLevel);
  const throttleRank = verdictRank('throttle'), shapeRank = verdictRank('shape'), refuseRank = verdictRank('verify');
  const idx = new LevelIndex(det);
  // A verify verdict stops refusing an identity-verified account: the gateway serves it as under
  // shape (docs/policy.md). Levels are read as enforced, from the tier each event records; an
  // account counts as verified when every event of it that names a tier says so.
  const verifiedAccount = new Map<string, boolean>();
  const asEnforced = (level: number, verified: boolean) => (level === refuseRank && verified ? shapeRank : level);
  const enforcedAt = (ev: InteractionEvent, id: string, ms: number) => asEnforced(idx.at(id, ms), verifiedTier(ev));
  const enforcedMax = (id: string) => asEnforced(idx.max(id), verifiedAccount.get(id) === true);
  const acctLabel = new Map<string, AccountLabel>();
  const campaigns = new Map<string, CampaignAcc>();
  const organic = new Map<string, OrganicAcc>();
  const newCampaign = (label: CampaignLabel | null): CampaignAcc => ({ label, accounts: new Set(), active: new Set(), requests: 0, tokens: 0, unserved: 0, servedTokens: 0, firstMs: Infinity, flagMs: Infinity, beforeFlag: 0, prefixN: 0, prefixU: 0, prefixServedTokens: 0, containMs: Infinity, beforeContain: 0, tokensBeforeContain: 0 });
  for (const l of labels) if (l.type === 'campaign') campaigns.set(l.campaign_id, newCampaign(l));
  for (const l of labels) {
    if (l.type !== 'account') continue;
    acctLabel.set(l.account_id, l);
    if (l.population === 'campaign' && l.campaign_id) {
      let c = campaigns.get(l.campaign_id);
      if (!c) { c = newCampaign(null); campaigns.set(l.campaign_id, c); }
      c.accounts.add(l.account_id);
    } else {
      const k = l.organic_kind ?? 'unknown';
      if (!organic.has(k)) organic.set(k, { accounts: new Set(), requests: 0, throttled: 0, shaped: 0, refused: 0 });
    }
  }
  // First flag of each campaign: the earliest any of its accounts reached the flag level.
  for (const c of campaigns.values()) for (const a of c.accounts) c.flagMs = Math.min(c.flagMs, idx.firstAt(a, flagRank));

  const orgFlagged = new Map<string, { any: boolean; fp: boolean; thr: boolean; shp: boolean }>();
  // Pass 1: volumes, what was served, organic collateral. Containment is read off the order of
  // events: a log out of time order (beyond a gateway's late document events) is refused.
  let latestMs = -Infinity; let position = 0;
  for await (const ev of events()) {
    position++;
    const ms = parseIsoMs(ev.ts);
    if (Number.isNaN(ms)) throw new RangeError(`event ${position}: ts is not a time (${JSON.stringify(ev.ts)})`);
    if (ms < latestMs - LATE_EVENT_TOLERANCE_MS) throw new RangeError(`event ${position} is ${Math.round((latestMs - ms) / 1000)} s older than an event before it: evaluation needs the events in time order (sort them by ts)`);
    if (ms > latestMs) latestMs = ms;
    const id = ev.account_id;
    if (!id) continue;
    const l = acctLabel.get(id);
    if (!l) continue;
    if (ev.account) verifiedAccount.set(id, (verifiedAccount.get(id) ?? true) && verifiedTier(ev));
    const lvl = enforcedAt(ev, id, ms);
    if (l.population === 'campaign' && l.campaign_id) {
      const c = campaigns.get(l.campaign_id)!;
      c.active.add(id);
      c.requests++;
      const tok = tokensOf(ev);
      c.tokens += tok;
      if (lvl >= containRank) c.unserved++; else c.servedTokens += tok;
      if (ms < c.firstMs) c.firstMs = ms;
      if (ms < c.flagMs) c.beforeFlag++;
    } else {
      const k = l.organic_kind ?? 'unknown';
      const g = organic.get(k)!;
      g.accounts.add(id);
      g.requests++;
      if (lvl >= throttleRank) g.throttled++;
      if (lvl >= shapeRank) g.shaped++;
      if (lvl >= refuseRank) g.refused++;
      if (!orgFlagged.has(id)) {
        const m = idx.max(id);
        orgFlagged.set(id, { any: m >= verdictRank('watch'), fp: m >= fpRank, thr: m >= throttleRank, shp: m >= shapeRank });
      }
    }
  }
  // Pass 2: containment = earliest time after which >= coverage of the campaign's requests were not served.
  for await (const ev of events()) {
    const id = ev.account_id;
    if (!id) continue;
    const l = acctLabel.get(id);
    if (!l || l.population !== 'campaign' || !l.campaign_id) continue;
    const c = campaigns.get(l.campaign_id)!;
    if (c.containMs !== Infinity) continue;
    const restN = c.requests - c.prefixN;
    const restU = c.unserved - c.prefixU;
    const ms = parseIsoMs(ev.ts);
    if (restN > 0 && restU >= o.coverage * restN) {
      c.containMs = ms;
      c.beforeContain = c.prefixN - c.prefixU;
      c.tokensBeforeContain = c.prefixServedTokens;
      continue;
    }
    const unserved = enforcedAt(ev, id, ms) >= containRank;
    c.prefixN++;
    if (unserved) c.prefixU++; else c.prefixServedTokens += tokensOf(ev);
  }

  const timeScale = det.time_scale ?? 1;
  const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : null);
  const secs = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) ? Math.max(0, (a - b) / 1000) * timeScale : null);
  const campaignReports: CampaignReport[] = [];
  for (const [id, c] of campaigns) {
    if (c.containMs === Infinity) { c.beforeContain = c.requests - c.unserved; c.tokensBeforeContain = c.servedTokens; }
    const active = [...c.active];
    const flagged = active.filter((a) => idx.max(a) >= flagRank).length;
    const contained = active.filter((a) => enforcedMax(a) >= containRank).length;
    const clusterCount = new Map<string, number>();
    let inFlaggedCluster = 0;
    for (const a of active) {
      const cid = idx.clusterIdOf(a);
      if (!cid) continue;
      clusterCount.set(cid, (clusterCount.get(cid) ?? 0) + 1);
      if (idx.clusterMax(cid) >= flagRank) inFlaggedCluster++;
    }
    const flaggedClusters = [...clusterCount.keys()].filter((cid) => idx.clusterMax(cid) >= flagRank).length;
    let largest = 0;
    for (const n of clusterCount.values()) if (n > largest) largest = n;
    campaignReports.push({
      campaign_id: id, kind: c.label?.campaign_kind ?? 'unknown', adaptive: c.label?.adaptive ?? false,
      accounts_total: c.accounts.size, accounts_active: active.length, accounts_flagged: flagged, account_recall: ratio(flagged, active.length),
      accounts_contained: contained, clusters_flagged: flaggedClusters, cluster_coverage: ratio(inFlaggedCluster, active.length),
      largest_cluster_share: ratio(largest, active.length),
      requests: c.requests, tokens: c.tokens,
      first_request_at: iso(c.firstMs), first_flag_at: iso(c.flagMs), time_to_first_flag_s: secs(c.flagMs, c.firstMs),
      requests_before_first_flag: c.beforeFlag,
      contained: c.containMs !== Infinity, contained_at: iso(c.containMs), time_to_containment_s: secs(c.containMs, c.firstMs),
      requests_before_containment: c.beforeContain, share_requests_before_containment: ratio(c.beforeContain, c.requests),
      share_tokens_before_containment: ratio(c.tokensBeforeContain, c.tokens),
      served_requests: c.requests - c.unserved, served_share: ratio(c.requests - c.unserved, c.requests), served_tokens_share: ratio(c.servedTokens, c.tokens),
    });
  }
  campaignReports.sort((a, b) => a.campaign_id.localeCompare(b.campaign_id));
  const organicReports: OrganicReport[] = [];
  for (const [kind, g] of organic) {
    let any = 0, fp = 0, thr = 0, shp = 0, ref = 0;
    for (const a of g.accounts) {
      const f = orgFlagged.get(a)!;
      if (f.any) any++;
      if (f.fp) fp++;
      if (f.thr) thr++;
      if (f.shp) shp++;
      // Refused: the account's verdict refuses it (decided once all its events are read).
      if (enforcedMax(a) >= refuseRank) ref++;
    }
    organicReports.push({
      kind, accounts: g.accounts.size, requests: g.requests, accounts_flagged_any: any, accounts_flagged: fp, accounts_throttled: thr,
      accounts_shaped: shp, accounts_refused: ref, requests_throttled: g.throttled, requests_shaped: g.shaped, requests_refused: g.refused,
      account_fp_rate: ratio(fp, g.accounts.size), request_fp_rate: ratio(g.throttled, g.requests),
    });
  }
  organicReports.sort((a, b) => a.kind.localeCompare(b.kind));
  const main = campaignReports.filter((c) => !c.adaptive);
  const adaptive = campaignReports.filter((c) => c.adaptive);
  const sum = (xs: CampaignReport[] | OrganicReport[], f: (x: never) => number) => (xs as never[]).reduce((s, x) => s + f(x), 0);
  const campaignAccounts = sum(main, (c: CampaignReport) => c.accounts_active);
  const campaignFlagged = sum(main, (c: CampaignReport) => c.accounts_flagged);
  const adaptiveAccounts = sum(adaptive, (c: CampaignReport) => c.accounts_active);
  const adaptiveFlagged = sum(adaptive, (c: CampaignReport) => c.accounts_flagged);
  const orgAccounts = sum(organicReports, (g: OrganicReport) => g.accounts);
  const orgFlaggedN = sum(organicReports, (g: OrganicReport) => g.accounts_flagged);
  return {
    schema: 'warden.eval/1', source: det.source, generated_at: new Date().toISOString(), options: o, time_scale: timeScale,
    campaigns: main, adaptive, organic: organicReports,
    totals: {
      campaign_accounts: campaignAccounts, campaign_accounts_flagged: campaignFlagged, campaign_account_recall: ratio(campaignFlagged, campaignAccounts),
      campaigns: main.length, campaigns_contained: main.filter((c) => c.contained).length,
      campaigns_contained_within_1pct: main.filter((c) => c.contained && c.share_requests_before_containment <= 0.01).length,
      adaptive_accounts: adaptiveAccounts, adaptive_accounts_flagged: adaptiveFlagged, adaptive_account_recall: ratio(adaptiveFlagged, adaptiveAccounts),
      organic_accounts: orgAccounts, organic_accounts_flagged: orgFlaggedN, organic_account_fp_rate: ratio(orgFlaggedN, orgAccounts),
      organic_requests: sum(organicReports, (g: OrganicReport) => g.requests), organic_requests_affected: sum(organicReports, (g: OrganicReport) => g.requests_throttled),
    },
  };
}

/** Evaluate from files: detection result, labels JSONL, events JSONL (read twice, streamed). */
export async function evaluateFiles(detectionPath: string, labelsPath: string, eventsPath: string, opts: EvalOptions = {}): Promise<EvalReport> {
  const det = loadDetectionResult(detectionPath);
  const labels = readFileSync(labelsPath, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as LabelLine);
  return evaluate(det, labels, () => readEventsJsonl(eventsPath, { validate: false }), opts);
}
