/**
 * Verdict explanations and reports built from what the engine hands over (no engine state): the
 * conditions of a passed logit-probe or embedding-spread test, a level held by hysteresis, what a
 * cluster's coordination is made of, a campaign's description, and the verdict precedence (which
 * verdict decided an account's level and why the others did not).
 */
import { EMBEDDING_SPREAD, type SpreadReadings } from './embedding-spread.ts';
import { LOGIT_PROBE, type ProbeReadings } from './logit-probe.ts';
import { C, INDICATORS, round } from './scoring.ts';
import { LINK_TYPES, NLINK } from './linking.ts';
import { VERDICT_LEVELS, verdictRank, type Verdict, type VerdictLevel, type VerdictReason } from './verdict.ts';
import type { DetectConfig } from './config.ts';
import type { Campaign, ClusterState, LevelState, OutrankedVerdict, VerdictPrecedence, VerdictSource, WeighedVerdict } from './engine-types.ts';

/** The explanation of a passed embedding-spread test: each condition with its value and threshold. */
export function embeddingSpreadReasons(r: SpreadReadings, maxConcentration: number, fresh: boolean | null): VerdictReason[] {
  return [
    ...(fresh === null ? [] : [{
      signal: 'fresh_account', value: fresh ? 'yes' : 'no', threshold: null,
      detail: fresh ? 'put to use within 7 days of signup, or first used within the last 7 days: alone it may reach shape' : 'an established customer: alone it is held at watch (a broad public dataset embedded looks the same)',
    }]),
    { signal: 'embedding_spread_test', value: 'pass', threshold: null, detail: 'many texts embedded, spread over the encoder\'s space like all other customers\' together: a broad corpus embedded, as an encoder is stolen' },
    { signal: 'embedded_texts', value: Math.round(r.texts), threshold: EMBEDDING_SPREAD.minTexts, detail: 'windowed texts embedded' },
    { signal: 'embedding_sample', value: Math.round(r.sampled), threshold: EMBEDDING_SPREAD.minSampled, detail: 'windowed vectors sketched' },
    { signal: 'embedding_share', value: round(r.share, 3), threshold: EMBEDDING_SPREAD.minEmbeddingShare, detail: 'texts embedded over texts embedded plus other windowed requests' },
    { signal: 'embedding_concentration', value: round(r.concentration!, 4), threshold: maxConcentration, detail: 'mean similarity of its vectors once the other accounts\' mean is removed, over their spread (each account counted once; at most the threshold: 0 is spread like them all, one subject sits well above)' },
  ];
}

/** The explanation of a passed logit-probe test: each condition with its value and threshold. */
export function logitProbeReasons(r: ProbeReadings): VerdictReason[] {
  return [
    { signal: 'logit_probe_test', value: 'pass', threshold: null, detail: 'each prompt read with many logit_bias maps, the answer read token by token: the model\'s logits read through the API' },
    { signal: 'logit_probes', value: round(r.probes, 1), threshold: LOGIT_PROBE.minProbes, detail: 'windowed requests that push tokens up with logit_bias and read log-probabilities or a few tokens' },
    { signal: 'logit_bias_maps', value: Math.round(r.maps), threshold: LOGIT_PROBE.minMaps, detail: 'distinct bias maps (estimated)' },
    { signal: 'logit_bias_maps_per_prompt', value: round(r.mapsPerPrompt, 2), threshold: LOGIT_PROBE.minMapsPerPrompt, detail: `distinct (prompt, map) pairs over ${Math.round(r.prompts)} distinct prompts (estimated)` },
  ];
}

/** Coordination's factors (coordination()): mean link evidence for the full evidence factor, and how member shares scale it. */
export const COORD_FULL_EVIDENCE = 1.5;
export const COORD_VERIFIED = 0.6;
export const COORD_DISPOSABLE = 0.3;
export const COORD_FRESH = 0.25;

/**
 * Households: people change network at session boundaries (home, office, phone); in the development
 * data organic accounts with 10+ requests do so on at most 44% of their requests. At the
 * network-hopping threshold (0.5) a cluster's traffic is not a household's.
 */
export const HOUSEHOLD_MAX_HOPPING = INDICATORS.network_hopping_share.threshold;

/** What coordination is made of, in words: it is a factor of the cluster score, with no threshold of its own. */
export function coordinationDetail(c: { actors: number; sizeFactor: number; evidenceFactor: number; halved: boolean }, minActors: number): string {
  return `cluster_score = coordination × harvest, so no threshold of its own: ${c.actors} actors (size factor ${round(c.sizeFactor)}) × mean link evidence (factor ${round(c.evidenceFactor)}, 1 at ${COORD_FULL_EVIDENCE}) × the member shares below${c.halved ? `, halved: fewer than ${minActors} actors (detect.min_cluster_actors)` : ''}, at most 1`;
}

/**
 * The explanation of a cluster score held at the watch threshold because the cluster has not sent
 * the requests its coordination needs before a verdict above watch (detect.min_cluster_requests):
 * without it, coordination x harvest in the reasons would not add up to the score recorded.
 */
export function requestsCapReasons(requests: number, needed: number, uncapped: number, score: number, watch: number): VerdictReason[] {
  if (!(score < uncapped)) return [];
  const need = Math.ceil(needed);
  return [{
    signal: 'min_cluster_requests', value: Math.floor(requests), threshold: need,
    detail: `cluster_score held at the watch threshold ${watch} (coordination × harvest is ${round(uncapped)}) until the cluster has sent ${need} requests: detect.min_cluster_requests × max(1/3, 1.3 − coordination)`,
  }];
}

const SOURCE_OF: Record<VerdictSource, WeighedVerdict['source']> = {
  allow: 'allow_list', manual_account: 'operator_account', manual_cluster: 'operator_cluster', cluster: 'detector_cluster', own: 'detector_account',
};
const WHY_TEXT: Record<OutrankedVerdict['why'], string> = {
  less_severe: 'less severe', tie: 'as severe; a tie goes to an operator\'s verdict, then to the account\'s',
  replaced: 'replaced by the operator\'s verdict on the same subject', allow_listed: 'the allow-list exempts the account',
  exempted: 'the operator\'s `none` on the account exempts it, as an allow-list entry does',
};
function sayWeighed(v: WeighedVerdict): string {
  const on = `${v.subject.kind} ${v.subject.id}`;
  switch (v.source) {
    case 'allow_list': return `the allow-list (${on})`;
    case 'operator_account': return `the operator's verdict on the account (${v.level})`;
    case 'operator_cluster': return `the operator's verdict on ${on} (${v.level})`;
    case 'detector_account': return `the detector's verdict on the account (${v.level})`;
    case 'detector_cluster': return `the detector's verdict on ${on} (${v.level})`;
  }
}

/**
 * The explanation of a level held by hysteresis: the score, the exit line it must stay below for
 * the cool-down before the level steps down, and since when the level stands.
 */
export function heldReasons(st: LevelState, score: number, thresholds: readonly number[], config: DetectConfig): VerdictReason[] {
  if (!(st.level > 0 && score < thresholds[st.level])) return [];
  const exit = round(thresholds[st.level] - config.hysteresis_margin);
  const cooldownH = round(config.cooldown_seconds / 3600);
  return [{
    signal: 'held_by_hysteresis', value: round(score), threshold: exit,
    detail: `held at ${VERDICT_LEVELS[st.level]} (reached ${new Date(st.since * 1000).toISOString()}) with its score below the level's threshold ${thresholds[st.level]}: it steps down one level once the score has stayed below ${exit} for ${cooldownH} h`,
  }];
}

/**
 * The explanation of a cluster's coordination value (built only when its verdict is explained):
 * its actors, the proxy-pool reading, the heaviest kinds of link evidence and the member shares.
 * `uncorroborated`: its members in uncorroborated orgs.
 */
export function coordinationReasons(c: ClusterState, coord: { actors: number; proxied: number | null }, uncorroborated: number, config: DetectConfig): VerdictReason[] {
  const { actors, proxied } = coord;
  const reasons: VerdictReason[] = [];
  if (actors < 2 || c.joins === 0) return reasons;
  reasons.push({ signal: 'linked_actors', value: actors, threshold: config.min_cluster_actors, detail: `${c.members} accounts in ${actors} undeclared actors` });
  if (proxied !== null) reasons.push({ signal: 'not_a_household', value: round(proxied), threshold: HOUSEHOLD_MAX_HOPPING, detail: `unaccountable members that each change network on most requests (rotating proxies), not a household sharing a home: scored as ${config.min_cluster_actors} actors` });
  if (c.fleetJoins > 0) reasons.push({ signal: 'fleet_software', value: c.fleetJoins, threshold: null, detail: `links made through a system prompt that only unaccountable accounts use (${config.fleet_min_holders} or more, none established, verified or in an org), with the rest of their shared software; a count of links, no threshold: it weighs through the link evidence` });
  if (c.apart > 0) reasons.push({ signal: 'moved_while_flagged', value: c.apart, threshold: null, detail: 'members moved into another org while held at throttle or above: each still counted as its own actor (in linked_actors), and the new org does not make them accountable; a count, no threshold' });
  if (uncorroborated > 0) reasons.push({ signal: 'uncorroborated_org_members', value: uncorroborated, threshold: null, detail: 'members of a declared org whose accounts mostly use personal free-mail or disposable addresses: counted as separate actors (in linked_actors); a count, no threshold' });
  const byType: Array<[string, number]> = [];
  for (let t = 0; t < NLINK; t++) if (c.evidence[t] > 0 && !LINK_TYPES[t].declared) byType.push([LINK_TYPES[t].name, c.evidence[t]]);
  byType.sort((x, y) => y[1] - x[1]);
  for (const [name, total] of byType.slice(0, 6)) {
    // A mean per link, not a contribution to the score, and no kind is meant to reach the link
    // threshold alone: no threshold or weight; the total and the links it is spread over in words.
    reasons.push({ signal: `shared_${name}`, value: round(total / c.joins), threshold: null, detail: `mean evidence per link from shared ${name.replace(/_/g, ' ')} (${round(total)} over the cluster's ${c.joins} links; a link needs ${config.link_threshold} from all kinds together, so no threshold of its own: no kind is meant to link accounts alone)` });
  }
  const verifiedShare = c.verified / c.members;
  const disposableShare = c.disposable / c.members;
  const freshShare = c.fresh / c.members;
  // Shares scale coordination (coordination()): a factor each, said as such, not a threshold.
  const factor = (x: number) => `multiplies coordination by ${round(x)}`;
  if (verifiedShare > 0) reasons.push({ signal: 'identity_verified_share', value: round(verifiedShare), threshold: null, detail: `mitigating: ${factor(1 - COORD_VERIFIED * verifiedShare)} (1 − ${COORD_VERIFIED} × share); a factor, no threshold` });
  if (disposableShare > 0) reasons.push({ signal: 'disposable_email_share', value: round(disposableShare), threshold: null, detail: `members on disposable mail domains: ${factor(1 + COORD_DISPOSABLE * disposableShare)} (1 + ${COORD_DISPOSABLE} × share); a factor, no threshold` });
  if (freshShare > 0) reasons.push({ signal: 'fresh_account_share', value: round(freshShare), threshold: null, detail: `members first used within 7 days of signup, or first used at all within the last 7 days: ${factor(1 + COORD_FRESH * freshShare)} (1 + ${COORD_FRESH} × share); a factor, no threshold` });
  return reasons;
}

/**
 * Which of the verdicts weighed for an account (`all`) decides its effective `level`, coming from
 * `source` (null: none), and why each other one does not, with a sentence saying so. `exempt`: an
 * allow-list entry exempts it; `operatorAccount`/`operatorCluster`: the operator's verdicts on the
 * account and on its cluster, which replace the detector's on the same subject.
 */
export function decidePrecedence(level: VerdictLevel, all: WeighedVerdict[], source: VerdictSource | 'allow_list' | 'operator_account' | null, exempt: boolean, operatorAccount: Verdict | undefined, operatorCluster: Verdict | undefined): VerdictPrecedence {
  const from = source === null || source === 'allow_list' || source === 'operator_account' ? source : SOURCE_OF[source];
  const decided = all.find((v) => v.source === from) ?? null;
  const outranked = all.filter((v) => v !== decided).map((v): OutrankedVerdict => ({
    ...v,
    why: exempt ? 'allow_listed' : operatorAccount?.level === 'none' ? 'exempted'
      : (v.source === 'detector_account' && operatorAccount) || (v.source === 'detector_cluster' && operatorCluster) ? 'replaced'
        : verdictRank(v.level) < verdictRank(level) ? 'less_severe' : 'tie',
  }));
  const summary = !decided ? 'none: no verdict on the account or its cluster'
    : `${level}: decided by ${sayWeighed(decided)}${outranked.length ? `; outranked: ${outranked.map((v) => `${sayWeighed(v)}, ${WHY_TEXT[v.why]}`).join('; ')}` : ''}`;
  return { level, decided_by: decided, outranked, summary };
}

/** A flagged cluster described as a campaign: its members, timeline, volume and the capabilities it targeted. */
export function describeCampaign(c: ClusterState, members: string[], embeddingRequests: number): Campaign {
  const n = c.w[C.N] || 1;
  const share = (k: number) => round(c.w[k] / n);
  const hours = [...c.timeline.entries()].sort((a, b) => a[0] - b[0]);
  return {
    id: c.campaignId!, cluster_id: c.id, level: VERDICT_LEVELS[c.verdict.level], score: round(c.verdict.score),
    members,
    first_seen: new Date(c.firstTs * 1000).toISOString(), last_seen: new Date(c.w[C.LAST_TS] * 1000).toISOString(),
    flagged_at: new Date(c.verdict.since * 1000).toISOString(),
    volume: { requests: c.requests, output_tokens: c.outTokens },
    timeline: hours.map(([h, k]) => [new Date(h * 3600_000).toISOString(), k]),
    targets: {
      coding: share(C.CODE), agentic_tool_use: share(C.TOOLS), reasoning_traces: share(C.COT),
      reasoning_parameters: share(C.REASON_PARAM), reward_model_rubrics: share(C.RUBRIC),
      sensitive_rewrites: share(C.REWRITE), maths: share(C.MATH), logits: share(C.PROBE),
      embeddings: round(Math.min(1, embeddingRequests / n)),
    },
    evidence: c.verdict.verdict?.reasons ?? [],
  };
}
