/**
 * Embedding harvesting: an account embedding a broad corpus to train a copy of the encoder.
 *
 * Stealing an encoder needs its vectors over texts that cover the space its users care about
 * (Liu et al., "StolenEncoder", CCS 2022; Dziedzic et al., "Sentence Embedding Encoders are Easy
 * to Steal but Hard to Defend", 2023), so a harvest embeds a broad public corpus: many texts, on
 * every subject. Customers embed too, in volume: a search index over a company's documents, a
 * retrieval app's queries, a deduplication job. Their texts stay in their own region of the space
 * (their product, their field, their users' questions): B4B (Dubiński et al., NeurIPS 2023) found
 * legitimate users' queries occupy a small share of an encoder's space while a stealing attack
 * needs most of it.
 *
 * The gateway records, per answer, a sketch of where the vectors lie (src/events/
 * embedding-spread.ts: sums of their projections onto 16 fixed directions). Per account and model
 * the detector adds them up over the window; per model it adds up all traffic. The account's
 * concentration is the mean similarity between its vectors once the rest of the traffic's mean is
 * taken away, as a share of the rest of the traffic's spread:
 *
 *   concentration = (|S - n·m|² - Σ|x - m|²) / (n(n-1)·σ²)
 *
 * with S the account's summed projections, n their number, m and σ² the mean and variance of
 * every other account's. Texts drawn like the rest of the traffic give 0 (within about 0.35/n); a corpus on one
 * subject gives its texts' mutual similarity, well above. An account passes with many texts
 * embedded, enough of them sketched, and a concentration at most the threshold: it spreads over
 * the space like the whole traffic does. Only accounts that embed have a sketch: the map is sparse.
 */
import { EMBEDDING_DIRECTIONS, type EmbeddingSummary } from '../events/index.ts';

const K = EMBEDDING_DIRECTIONS;

/**
 * The test's bounds, reported with every verdict it passes; the concentration bound is the
 * detector's `embedding_max_concentration` setting.
 */
export const EMBEDDING_SPREAD = {
  /** Windowed texts embedded (decayed like every window count): a harvest needs many. */
  minTexts: 500,
  /** Windowed vectors sketched: enough to tell a spread from a subject. */
  minSampled: 100,
  /**
   * Texts embedded as a share of texts embedded plus the account's other requests. A product
   * that embeds its users' questions (retrieval, a chat app's memory) embeds texts as broad as
   * the whole traffic, one at a time, and sends each to the model too (about half); a harvest
   * embeds in batches and asks little else. Counting texts, not requests, makes a harvest that
   * mixes in chat requests pay for one per embedded text to look like a product.
   */
  minEmbeddingShare: 0.8,
  /** The rest of the traffic (without the account judged) must hold this many vectors before the account is judged against it. */
  minTraffic: 2000,
} as const;

/** Decayed sums of projections: one account's on one model, or one model's whole traffic. */
export interface SpreadSums { key: number; requests: number; texts: number; n: number; sum: Float64Array; sq: number; ts: number }
export type SpreadSketches = Map<number, SpreadSums>;

function fresh(key: number, ts: number): SpreadSums {
  return { key, requests: 0, texts: 0, n: 0, sum: new Float64Array(K), sq: 0, ts };
}

function decayTo(s: SpreadSums, now: number, halfLifeS: number): void {
  if (now <= s.ts) return;
  const f = Math.pow(2, -(now - s.ts) / halfLifeS);
  s.requests *= f; s.texts *= f; s.n *= f; s.sq *= f;
  for (let j = 0; j < K; j++) s.sum[j] *= f;
  s.ts = now;
}

function addTo(s: SpreadSums, e: EmbeddingSummary): void {
  s.requests += 1; s.texts += e.vectors; s.n += e.sampled; s.sq += e.sq;
  for (let j = 0; j < K && j < e.sum.length; j++) s.sum[j] += e.sum[j];
}

/** Keeps the per-account and per-model sums. `key` names model and vector size (the projection depends on both). */
export class EmbeddingSpread {
  readonly accounts: SpreadSketches = new Map();
  private readonly traffic = new Map<number, SpreadSums>();

  constructor(private readonly halfLifeS: number) {}

  static key(modelId: number, dims: number): number { return modelId * 65536 + (dims & 0xffff); }

  observe(i: number, modelId: number, e: EmbeddingSummary, now: number): void {
    if (!Array.isArray(e.sum) || e.sum.length !== K || !(e.sampled > 0) || !(e.vectors >= e.sampled)) return;
    const key = EmbeddingSpread.key(modelId, e.dimensions);
    let t = this.traffic.get(key);
    if (!t) { t = fresh(key, now); this.traffic.set(key, t); }
    decayTo(t, now, this.halfLifeS);
    addTo(t, e);
    let a = this.accounts.get(i);
    // Another model (or size) starts the account's sketch again: its vectors live in another space.
    if (!a || a.key !== key) { a = fresh(key, now); this.accounts.set(i, a); }
    decayTo(a, now, this.halfLifeS);
    addTo(a, e);
  }

  forget(i: number): void { this.accounts.delete(i); }

  /**
   * What the test reads for account i, whose windowed requests (all APIs) number `windowRequests`
   * as of `windowTs`; null if it embeds nothing.
   */
  readings(i: number, windowRequests: number, windowTs: number): SpreadReadings | null {
    const a = this.accounts.get(i);
    if (!a) return null;
    decayTo(a, windowTs, this.halfLifeS);
    return this.read(a, textShare(a, windowRequests));
  }

  /**
   * The same for linked accounts read as one actor (`members`: their indexes): their sketches on
   * the model most of their vectors came from, added up. A harvest split by subject across
   * accounts (each alone a narrow corpus) is broad again here.
   */
  clusterReadings(members: Iterable<number>, windowRequests: number, now: number): SpreadReadings | null {
    const byKey = new Map<number, SpreadSums>();
    for (const j of members) {
      const a = this.accounts.get(j);
      if (!a) continue;
      decayTo(a, now, this.halfLifeS);
      let s = byKey.get(a.key);
      if (!s) { s = fresh(a.key, now); byKey.set(a.key, s); }
      s.requests += a.requests; s.texts += a.texts; s.n += a.n; s.sq += a.sq;
      for (let k = 0; k < K; k++) s.sum[k] += a.sum[k];
    }
    let best: SpreadSums | null = null;
    for (const s of byKey.values()) if (!best || s.n > best.n) best = s;
    return best ? this.read(best, textShare(best, windowRequests)) : null;
  }

  /**
   * The account's (or cluster's) concentration against the rest of the traffic: its own vectors
   * taken out of the reference, or a customer whose index is most of the traffic would be
   * measured against itself and look spread.
   */
  private read(a: SpreadSums, share: number): SpreadReadings {
    const t = this.traffic.get(a.key);
    const texts = a.texts; const sampled = a.n;
    if (!t || a.n < 2) return { texts, sampled, share, concentration: null };
    const now = Math.max(a.ts, t.ts);
    decayTo(t, now, this.halfLifeS);
    const own = a.ts === now ? a : { ...a, sum: Float64Array.from(a.sum) };
    decayTo(own, now, this.halfLifeS);
    const rest = fresh(t.key, now);
    rest.n = t.n - own.n; rest.sq = t.sq - own.sq;
    for (let j = 0; j < K; j++) rest.sum[j] = t.sum[j] - own.sum[j];
    if (rest.n < EMBEDDING_SPREAD.minTraffic) return { texts, sampled, share, concentration: null };
    return { texts, sampled, share, concentration: concentration(own, rest) };
  }
}

/** Texts embedded over texts embedded plus other requests (`windowRequests` counts every request, embeddings included). */
function textShare(a: SpreadSums, windowRequests: number): number {
  const other = Math.max(0, windowRequests - a.requests);
  return a.texts > 0 ? a.texts / (a.texts + other) : 0;
}

/** Mean centred similarity of the account's vectors over the traffic's variance (see the module comment). */
export function concentration(a: SpreadSums, t: SpreadSums): number {
  let mm = 0; let mS = 0; let dev = 0;
  const m = new Float64Array(K);
  for (let j = 0; j < K; j++) { m[j] = t.sum[j] / t.n; mm += m[j] * m[j]; mS += m[j] * a.sum[j]; }
  const variance = t.sq / t.n - mm;
  if (!(variance > 0)) return 0;
  for (let j = 0; j < K; j++) { const d = a.sum[j] - a.n * m[j]; dev += d * d; }
  const self = a.sq - 2 * mS + a.n * mm;
  return (dev - self) / (a.n * (a.n - 1) * variance);
}

export interface SpreadReadings { texts: number; sampled: number; share: number; concentration: number | null }

/** Does the account embed a broad corpus, spread like the whole traffic (concentration at most `maxConcentration`)? */
export function embeddingSpreadTest(r: SpreadReadings | null, maxConcentration: number): boolean {
  return r !== null && r.concentration !== null && r.texts >= EMBEDDING_SPREAD.minTexts && r.sampled >= EMBEDDING_SPREAD.minSampled
    && r.share >= EMBEDDING_SPREAD.minEmbeddingShare && r.concentration <= maxConcentration;
}
