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
 * the detector adds them up over the window. Per model it keeps a reference: the other accounts
 * embedding with it, each counted once (by volume, the reference would be whoever embeds most: a
 * campaign in full flow, or one big index). The account's concentration is the mean similarity
 * between its vectors once the reference's mean is taken away, as a share of the reference's
 * spread:
 *
 *   concentration = (|S - n·m|² - Σ|x - m|²) / (n(n-1)·σ²)
 *
 * with S the account's summed projections, n their number, m and σ² the reference's mean and
 * variance (the account itself left out). Texts drawn like the reference give 0 (within about
 * 0.35/n); a corpus on one subject gives its texts' mutual similarity, well above. An account
 * passes with many texts embedded, enough of them sketched, most of what it sends embedded and a
 * concentration at most the threshold: it spreads over the space like all customers together do.
 * Only accounts that embed have a sketch: the map is sparse.
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
  /** Other accounts embedding with the same model needed before an account is judged against them. */
  minReferenceAccounts: 5,
} as const;

/**
 * Decayed sums of one account's projections on one model (`key`), and its contribution to that
 * model's reference: the mean of its vectors' projections (`mu`) and of their squared length (`q`).
 */
export interface SpreadSums { key: number; requests: number; texts: number; n: number; sum: Float64Array; sq: number; ts: number; mu: Float64Array; q: number }
export type SpreadSketches = Map<number, SpreadSums>;

/**
 * The reference of one model: every embedding account's mean counted once, whatever its volume.
 * Weighted by vectors, the reference would be whoever embeds most (a campaign in full flow, or one
 * big index), and an account would be measured against its own kind.
 */
interface Reference { accounts: number; mu: Float64Array; q: number }

function fresh(key: number, ts: number): SpreadSums {
  return { key, requests: 0, texts: 0, n: 0, sum: new Float64Array(K), sq: 0, ts, mu: new Float64Array(K), q: 0 };
}

function decayTo(s: SpreadSums, now: number, halfLifeS: number): void {
  if (now <= s.ts) return;
  const f = Math.pow(2, -(now - s.ts) / halfLifeS);
  s.requests *= f; s.texts *= f; s.n *= f; s.sq *= f;
  for (let j = 0; j < K; j++) s.sum[j] *= f;
  s.ts = now;
}

/** Keeps the per-account sums and per-model references. `key` names model and vector size (the projection depends on both). */
export class EmbeddingSpread {
  readonly accounts: SpreadSketches = new Map();
  private readonly references = new Map<number, Reference>();

  constructor(private readonly halfLifeS: number) {}

  static key(modelId: number, dims: number): number { return modelId * 65536 + (dims & 0xffff); }

  observe(i: number, modelId: number, e: EmbeddingSummary, now: number): void {
    if (!Array.isArray(e.sum) || e.sum.length !== K || !(e.sampled > 0) || !(e.vectors >= e.sampled)) return;
    const key = EmbeddingSpread.key(modelId, e.dimensions);
    let a = this.accounts.get(i);
    // Another model (or size) starts the account's sketch again: its vectors live in another space.
    if (a && a.key !== key) { this.withdraw(a); a = undefined; }
    if (!a) { a = fresh(key, now); this.accounts.set(i, a); }
    else this.withdraw(a);
    decayTo(a, now, this.halfLifeS);
    a.requests += 1; a.texts += e.vectors; a.n += e.sampled; a.sq += e.sq;
    for (let j = 0; j < K; j++) a.sum[j] += e.sum[j];
    // The account's contribution to the reference (means: unchanged by decay).
    for (let j = 0; j < K; j++) a.mu[j] = a.sum[j] / a.n;
    a.q = a.sq / a.n;
    let r = this.references.get(key);
    if (!r) { r = { accounts: 0, mu: new Float64Array(K), q: 0 }; this.references.set(key, r); }
    r.accounts++; r.q += a.q;
    for (let j = 0; j < K; j++) r.mu[j] += a.mu[j];
  }

  /** Take the account's contribution out of its model's reference. */
  private withdraw(a: SpreadSums): void {
    const r = this.references.get(a.key);
    if (!r || a.n === 0) return;
    r.accounts--; r.q -= a.q;
    for (let j = 0; j < K; j++) r.mu[j] -= a.mu[j];
  }

  forget(i: number): void {
    const a = this.accounts.get(i);
    if (a) this.withdraw(a);
    this.accounts.delete(i);
  }

  /** Windowed embedding requests of these accounts (as of `now`): a campaign's share of them is a target. */
  requestsOf(members: Iterable<number>, now: number): number {
    let n = 0;
    for (const j of members) {
      const a = this.accounts.get(j);
      if (a) { decayTo(a, now, this.halfLifeS); n += a.requests; }
    }
    return n;
  }

  /**
   * What the test reads for account i, whose windowed requests (all APIs) number `windowRequests`
   * as of `windowTs`; null if it embeds nothing.
   */
  readings(i: number, windowRequests: number, windowTs: number): SpreadReadings | null {
    const a = this.accounts.get(i);
    if (!a) return null;
    decayTo(a, windowTs, this.halfLifeS);
    return this.read(a, [a], textShare(a, windowRequests));
  }

  /**
   * The same for linked accounts read as one actor (`members`: their indexes): their sketches on
   * the model most of their vectors came from, added up. A harvest split by subject across
   * accounts (each alone a narrow corpus) is broad again here.
   */
  clusterReadings(members: Iterable<number>, windowRequests: number, now: number): SpreadReadings | null {
    const byKey = new Map<number, { sums: SpreadSums; parts: SpreadSums[] }>();
    for (const j of members) {
      const a = this.accounts.get(j);
      if (!a) continue;
      decayTo(a, now, this.halfLifeS);
      let g = byKey.get(a.key);
      if (!g) { g = { sums: fresh(a.key, now), parts: [] }; byKey.set(a.key, g); }
      const s = g.sums;
      s.requests += a.requests; s.texts += a.texts; s.n += a.n; s.sq += a.sq;
      for (let k = 0; k < K; k++) s.sum[k] += a.sum[k];
      g.parts.push(a);
    }
    let best: { sums: SpreadSums; parts: SpreadSums[] } | null = null;
    for (const g of byKey.values()) if (!best || g.sums.n > best.sums.n) best = g;
    return best ? this.read(best.sums, best.parts, textShare(best.sums, windowRequests)) : null;
  }

  /**
   * The account's (or linked accounts') concentration against the other accounts of the same
   * model (its own left out, or a customer whose index is most of the traffic would be measured
   * against itself and look spread).
   */
  private read(a: SpreadSums, own: SpreadSums[], share: number): SpreadReadings {
    const texts = a.texts; const sampled = a.n;
    const r = this.references.get(a.key);
    if (!r || a.n < 2) return { texts, sampled, share, concentration: null };
    const others = r.accounts - own.length;
    if (others < EMBEDDING_SPREAD.minReferenceAccounts) return { texts, sampled, share, concentration: null };
    const m = Float64Array.from(r.mu);
    let q = r.q;
    for (const o of own) { q -= o.q; for (let j = 0; j < K; j++) m[j] -= o.mu[j]; }
    let mm = 0;
    for (let j = 0; j < K; j++) { m[j] /= others; mm += m[j] * m[j]; }
    return { texts, sampled, share, concentration: concentration(a, m, q / others - mm) };
  }
}

/** Texts embedded over texts embedded plus other requests (`windowRequests` counts every request, embeddings included). */
function textShare(a: SpreadSums, windowRequests: number): number {
  const other = Math.max(0, windowRequests - a.requests);
  return a.texts > 0 ? a.texts / (a.texts + other) : 0;
}

/**
 * Mean centred similarity of the account's vectors over the reference's variance (see the module
 * comment): `m` the reference's mean, `variance` its mean squared distance from it.
 */
export function concentration(a: { n: number; sum: Float64Array; sq: number }, m: Float64Array, variance: number): number {
  if (!(variance > 0) || a.n < 2) return 0;
  let mS = 0; let mm = 0; let dev = 0;
  for (let j = 0; j < K; j++) {
    mS += m[j] * a.sum[j]; mm += m[j] * m[j];
    const d = a.sum[j] - a.n * m[j];
    dev += d * d;
  }
  const self = a.sq - 2 * mS + a.n * mm;
  return (dev - self) / (a.n * (a.n - 1) * variance);
}

export interface SpreadReadings { texts: number; sampled: number; share: number; concentration: number | null }

/** Does the account embed a broad corpus, spread like the other accounts together (concentration at most `maxConcentration`)? */
export function embeddingSpreadTest(r: SpreadReadings | null, maxConcentration: number): boolean {
  return r !== null && r.concentration !== null && r.texts >= EMBEDDING_SPREAD.minTexts && r.sampled >= EMBEDDING_SPREAD.minSampled
    && r.share >= EMBEDDING_SPREAD.minEmbeddingShare && r.concentration <= maxConcentration;
}
