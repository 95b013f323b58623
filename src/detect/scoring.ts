/**
 * Behaviour windows and the harvest score. A window is a small vector of counters (decayed with a
 * half-life, so it describes recent behaviour) kept per account and summed per cluster; the
 * harvest score turns a window into explainable indicators (value, threshold, contribution).
 */
import type { VerdictReason } from './verdict.ts';

/** Counter columns. Columns before `DECAYED` decay with the window half-life; the rest do not. */
export const C = {
  N: 0, ELICIT: 1, COT: 2, RUBRIC: 3, REWRITE: 4, TOOLS: 5, AGENTIC: 6, CODE: 7, MATH: 8,
  CAPABILITY: 9, SINGLE: 10, DISTILL_PARAMS: 11, IN_TOK: 12, OUT_TOK: 13, SYSTEM: 14, ERROR: 15,
  NEW_MODEL: 16, TEMPLATE_HIT: 17, REASON_PARAM: 18,
  HOUR0: 19, // 8 bins of 3 hours: 19..26
  /** Requests from another network (ASN) than the account's previous request. */
  NET_CHANGE: 27,
  /** Requests in none of the task topics below (conversation, writing, everything else). */
  OTHER: 28,
  /** Requests whose text hides words (invisible characters, look-alike letters; FLAG.obfuscated). */
  OBFUSCATED: 29,
  /** Logit probes (FLAG.logitProbe): a bias map applied and the logits read (see logit-probe.ts). */
  PROBE: 30,
  /** Requests with a document that could not be read because of what it is (FLAG.unreadableDocument). */
  UNREADABLE: 31,
  /** Requests that are closed-form tasks written as a dataset item is (FLAG.closedTask). */
  CLOSED_TASK: 32,
  /** Opening questions keyed for sharing (shared-problems.ts), and those another account asked first. */
  OPENERS: 33,
  SHARED_OPENERS: 34,
  DECAYED: 35,
  // not decayed
  TOTAL: 35, GAP_N: 36, GAP_SUM: 37, GAP_SUMSQ: 38, FIRST_TS: 39, LAST_TS: 40, DECAY_TS: 41,
  /** Output tokens (reasoning included) of every request: a campaign's volume. */
  OUT_TOTAL: 42,
  SIZE: 43,
} as const;
export const HOUR_BINS = 8;
/** Task topics of the topic-shift test: a request counts in each it touches (OTHER: none of them). */
export const TOPIC_COLUMNS = [C.COT, C.RUBRIC, C.REWRITE, C.TOOLS, C.CODE, C.MATH, C.OTHER] as const;
export const STRIDE = C.SIZE;

/** One indicator: a named, thresholded reading of a window. */
export interface Indicator {
  signal: string;
  value: number;
  /** Below this the indicator contributes nothing. */
  threshold: number;
  /** At or above this it contributes its full weight. */
  saturation: number;
  weight: number;
  /** Contribution in [0, weight]. */
  contribution: number;
  /** What the value was compared with, when that is not a constant (peer medians, baselines). */
  detail?: string;
}

/**
 * Indicator definitions. Thresholds sit above what organic traffic shows (see docs/detector.md for
 * the organic baseline they were read from); saturation is where the evidence is unambiguous.
 */
export const INDICATORS = {
  reasoning_elicitation_share: { threshold: 0.2, saturation: 0.6, weight: 3, minN: 10 },
  rubric_share: { threshold: 0.05, saturation: 0.3, weight: 1.5, minN: 10 },
  sensitive_rewrite_share: { threshold: 0.03, saturation: 0.2, weight: 1.5, minN: 10 },
  capability_share: { threshold: 0.45, saturation: 0.85, weight: 1.5, minN: 10 },
  single_shot_share: { threshold: 0.75, saturation: 0.97, weight: 1, minN: 10 },
  distiller_params_share: { threshold: 0.03, saturation: 0.3, weight: 2, minN: 10 },
  output_input_ratio: { threshold: 4, saturation: 15, weight: 0.5, minN: 10 },
  template_reuse_share: { threshold: 0.3, saturation: 0.8, weight: 1, minN: 20 },
  timing_regularity: { threshold: 0.35, saturation: 0.8, weight: 1, minN: 20 },
  round_the_clock_activity: { threshold: 0.88, saturation: 0.98, weight: 1, minN: 24 },
  new_model_rush_share: { threshold: 0.25, saturation: 0.7, weight: 0.5, minN: 20 },
  // Requests that arrive from another network (ASN) than the account's previous one. People move
  // between home, office and a phone network at session boundaries; a rotating proxy pool changes
  // network on almost every request.
  network_hopping_share: { threshold: 0.5, saturation: 0.9, weight: 1.5, minN: 10 },
  // Windowed requests as a multiple of the median of the account's verification-tier peers. For a
  // cluster, its total against the median of all accounts: linked accounts are one customer, and a
  // fleet spreads one customer's volume over many accounts that each look typical. Heavy users
  // exist in every tier (batch jobs, evaluation runs), so it only adds to other evidence.
  volume_vs_tier_peers: { threshold: 10, saturation: 50, weight: 0.5, minN: 10 },
  // Window-vs-baseline distribution test (in the spirit of MMD / PRADA): Jensen-Shannon divergence
  // (bits) between the window's task-topic mix and the mix of accounts with no verdict. Specialists
  // (a developer asks mostly code) diverge too, so it is weak evidence on its own.
  topic_shift: { threshold: 0.3, saturation: 0.7, weight: 0.5, minN: 10 },
  // Requests whose words are disguised from text matching: zero-width characters inside words,
  // Cyrillic look-alikes among Latin letters. The disguised phrases are matched anyway (folded);
  // this is the disguise itself, which people do not type (0 of the 2,650 organic prompts of the
  // real prompt sets; a copied web page may carry a zero-width space between words, not inside one).
  obfuscated_text_share: { threshold: 0.05, saturation: 0.3, weight: 1.5, minN: 10 },
  // Requests carrying a document the reader could not read because of what it is: a PDF built to
  // be slow or huge to parse, unparseable, an image too large to decode. Its text (a prompt,
  // perhaps) is hidden from every lexical signal. A customer's odd PDF fails now and then; an
  // account whose documents fail again and again is hiding them. Evidence only: it adds to other
  // signals, never flags alone (weight 1 of the 5 that saturate).
  unreadable_documents_share: { threshold: 0.1, saturation: 0.5, weight: 1, minN: 10 },
  // Requests that are closed-form coding or maths tasks worded as a dataset item is: impersonal,
  // an instruction or a question (FLAG.closedTask). Read by the harvest-yield test only (weight 0):
  // developers and students ask such things too, so on its own it is no evidence; with every other
  // condition of that test it stands in for reasoning elicitation (docs/detector.md).
  closed_task_share: { threshold: 0.5, saturation: 0.9, weight: 0, minN: 10 },
} as const;
export type IndicatorName = keyof typeof INDICATORS;

/** Weighted evidence that saturates the harvest score at 1. */
export const HARVEST_FULL_EVIDENCE = 5;

/**
 * Pseudo-requests of prior behaviour mixed into every share: small windows are pulled towards an
 * unremarkable rate (half the threshold) so a handful of requests cannot look extreme.
 */
export const PRIOR_REQUESTS = 20;

/** Indicator names in a fixed order: the index of each in an IndicatorValues array. */
export const INDICATOR_NAMES = Object.keys(INDICATORS) as IndicatorName[];
const IX = Object.fromEntries(INDICATOR_NAMES.map((k, i) => [k, i])) as Record<IndicatorName, number>;
const SPECS = INDICATOR_NAMES.map((k) => INDICATORS[k]);

/**
 * One window's indicator values by INDICATOR_NAMES index (NaN: not read, too few requests or not
 * applicable) and their total contribution. Scoring reads these numbers on every tick; the
 * Indicator objects of an explanation are built from them only when a verdict needs one.
 */
export class IndicatorValues {
  readonly value = new Float64Array(INDICATOR_NAMES.length);
  /** Sum of the contributions (harvest evidence). */
  total = 0;
  get(name: IndicatorName): number { return this.value[IX[name]]; }
}

/** Contribution in [0, weight] of indicator k's value: nothing up to the threshold, all of it from saturation. */
function contribution(k: number, value: number): number {
  const d = SPECS[k];
  const c = value <= d.threshold ? 0 : value >= d.saturation ? 1 : (value - d.threshold) / (d.saturation - d.threshold);
  return c * d.weight;
}

/** Record indicator k's value read over n requests (not read below its minimum n). */
function put(out: IndicatorValues, k: number, value: number, n: number): void {
  if (n < SPECS[k].minN || !Number.isFinite(value)) return;
  out.value[k] = value;
  out.total += contribution(k, value);
}

/**
 * Record indicator k as a share of n requests, `count` of them, pulled towards half its threshold
 * by PRIOR_REQUESTS pseudo-requests. By index, not by name: read for every account at every tick,
 * a lookup by name cost a keyed load and a boxed number each time it was not inlined.
 */
function putShare(out: IndicatorValues, k: number, count: number, n: number): void {
  const prior = SPECS[k].threshold * 0.5;
  put(out, k, (count + prior * PRIOR_REQUESTS) / (n + PRIOR_REQUESTS), n);
}

/** What a window is compared with: the median windowed requests of its peers, and how many members it sums. */
export interface PeerContext {
  /** Median windowed requests of the peers (0: too few peers to compare). */
  peerMedian: number;
  /** Divide the window's volume by this before comparing (1: compare the window as a whole). */
  members: number;
  /** Task-topic mix of the baseline population (TOPIC_COLUMNS order, summing to 1), or null. */
  topicBaseline?: Float64Array | null;
}

/**
 * Read every indicator from a window `w` starting at `off` into `out` (values and total evidence).
 * `perAccount` enables template reuse; `peers` enables the volume comparison.
 */
export function scoreIndicators(w: Float64Array, off: number, perAccount: boolean, peers: PeerContext | undefined, out: IndicatorValues): IndicatorValues {
  out.value.fill(NaN);
  out.total = 0;
  const n = w[off + C.N];
  if (n <= 0) return out;
  putShare(out, IX.reasoning_elicitation_share, w[off + C.ELICIT], n);
  putShare(out, IX.rubric_share, w[off + C.RUBRIC], n);
  putShare(out, IX.sensitive_rewrite_share, w[off + C.REWRITE], n);
  putShare(out, IX.capability_share, w[off + C.CAPABILITY], n);
  putShare(out, IX.single_shot_share, w[off + C.SINGLE], n);
  putShare(out, IX.distiller_params_share, w[off + C.DISTILL_PARAMS], n);
  const inTok = w[off + C.IN_TOK];
  if (inTok > 0) put(out, IX.output_input_ratio, w[off + C.OUT_TOK] / inTok, n);
  if (perAccount) putShare(out, IX.template_reuse_share, w[off + C.TEMPLATE_HIT], n);
  // Timing regularity: 1 - spread of log10 inter-arrival gaps (people are bursty, fleets are not).
  const gn = w[off + C.GAP_N];
  if (gn >= 20) {
    const mean = w[off + C.GAP_SUM] / gn;
    const sd = Math.sqrt(Math.max(0, w[off + C.GAP_SUMSQ] / gn - mean * mean));
    put(out, IX.timing_regularity, Math.max(0, 1 - sd), gn);
  }
  // Round-the-clock: normalised entropy of activity over 8 three-hour bins, only once the
  // window spans more than a day (a short burst says nothing about rhythm).
  const span = w[off + C.LAST_TS] - w[off + C.FIRST_TS];
  if (span >= 30 * 3600) {
    let h = 0;
    for (let b = 0; b < HOUR_BINS; b++) {
      const p = w[off + C.HOUR0 + b] / n;
      if (p > 0) h -= p * Math.log(p);
    }
    put(out, IX.round_the_clock_activity, h / Math.log(HOUR_BINS), n);
  }
  putShare(out, IX.new_model_rush_share, w[off + C.NEW_MODEL], n);
  putShare(out, IX.network_hopping_share, w[off + C.NET_CHANGE], n);
  putShare(out, IX.obfuscated_text_share, w[off + C.OBFUSCATED], n);
  putShare(out, IX.unreadable_documents_share, w[off + C.UNREADABLE], n);
  putShare(out, IX.closed_task_share, w[off + C.CLOSED_TASK], n);
  if (peers && peers.peerMedian > 0) put(out, IX.volume_vs_tier_peers, n / Math.max(1, peers.members) / peers.peerMedian, n);
  if (peers?.topicBaseline) put(out, IX.topic_shift, topicShift(w, off, peers.topicBaseline), n);
  return out;
}

/** The indicators read from a window, as objects (for explanations); see scoreIndicators. */
export function readIndicators(w: Float64Array, off: number, perAccount: boolean, peers?: PeerContext, values: IndicatorValues = new IndicatorValues()): Indicator[] {
  scoreIndicators(w, off, perAccount, peers, values);
  return indicatorsOf(values, w, off, peers);
}

/** Objects for the indicators read into `values` (from the window at `w`/`off`, for the detail texts). */
export function indicatorsOf(values: IndicatorValues, w: Float64Array, off: number, peers?: PeerContext): Indicator[] {
  const out: Indicator[] = [];
  const n = w[off + C.N];
  for (let k = 0; k < INDICATOR_NAMES.length; k++) {
    const value = values.value[k];
    if (Number.isNaN(value)) continue;
    const d = SPECS[k];
    const name = INDICATOR_NAMES[k];
    const x: Indicator = { signal: name, value, threshold: d.threshold, saturation: d.saturation, weight: d.weight, contribution: contribution(k, value) };
    // Only explained when it counts.
    if (x.contribution > 0 && name === 'volume_vs_tier_peers' && peers) x.detail = `${round(n, 1)} windowed requests against a peer median of ${round(peers.peerMedian, 1)}`;
    if (x.contribution > 0 && name === 'topic_shift' && peers?.topicBaseline) x.detail = topicDetail(w, off, peers.topicBaseline);
    out.push(x);
  }
  return out;
}

/**
 * Jensen-Shannon divergence (bits, 0..1) between a window's topic mix and the baseline `q`. The
 * window's counts are shrunk towards the baseline with PRIOR_REQUESTS pseudo-requests, like shares.
 */
export function topicShift(w: Float64Array, off: number, q: Float64Array): number {
  let total = 0;
  for (let k = 0; k < TOPIC_COLUMNS.length; k++) total += w[off + TOPIC_COLUMNS[k]];
  if (total <= 0) return 0;
  let jsd = 0;
  for (let k = 0; k < TOPIC_COLUMNS.length; k++) {
    const p = (w[off + TOPIC_COLUMNS[k]] + PRIOR_REQUESTS * q[k]) / (total + PRIOR_REQUESTS);
    const m = (p + q[k]) / 2;
    if (p > 0) jsd += 0.5 * p * Math.log2(p / m);
    if (q[k] > 0) jsd += 0.5 * q[k] * Math.log2(q[k] / m);
  }
  return Math.max(0, jsd);
}

const TOPIC_NAMES = ['chain-of-thought', 'rubric', 'sensitive rewrite', 'tools', 'code', 'maths', 'other'] as const;

/** The topic whose share differs most from the baseline, e.g. "code 0.62 vs 0.21 among accounts with no verdict". */
function topicDetail(w: Float64Array, off: number, q: Float64Array): string {
  let total = 0;
  for (let k = 0; k < TOPIC_COLUMNS.length; k++) total += w[off + TOPIC_COLUMNS[k]];
  let best = 0; let gap = -1;
  for (let k = 0; k < TOPIC_COLUMNS.length; k++) {
    const d = Math.abs(w[off + TOPIC_COLUMNS[k]] / total - q[k]);
    if (d > gap) { gap = d; best = k; }
  }
  return `${TOPIC_NAMES[best]} ${(w[off + TOPIC_COLUMNS[best]] / total).toFixed(2)} vs ${q[best].toFixed(2)} among accounts with no verdict`;
}

/** Harvest score in [0, 1]: weighted evidence over the full-evidence constant. */
export function harvestScore(values: IndicatorValues): number {
  return Math.min(1, values.total / HARVEST_FULL_EVIDENCE);
}

/** Explanation entries for the indicators that contributed. */
export function indicatorReasons(inds: Indicator[]): VerdictReason[] {
  return inds
    .filter((i) => i.contribution > 0)
    .sort((a, b) => b.contribution - a.contribution)
    .map((i) => (i.detail === undefined
      ? { signal: i.signal, value: round(i.value), threshold: i.threshold, weight: round(i.contribution) }
      : { signal: i.signal, value: round(i.value), threshold: i.threshold, weight: round(i.contribution), detail: i.detail }));
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
