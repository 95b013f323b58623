/**
 * The event's summary of an embeddings answer, computed the same way by the gateway (from the
 * vectors it passes back) and by the traffic model (from the vectors the mock would return).
 *
 * Why a summary of the vectors and not of the texts: what an encoder-stealing account wants is
 * the encoder's map over the whole space of texts, so it embeds a broad public corpus; a customer
 * indexing its own documents, or embedding its users' queries, stays in its own region of that
 * space (Dubiński et al., "Bucks for Buckets (B4B): Active Defenses Against Stealing Encoders",
 * NeurIPS 2023, measure the same thing as coverage of hashed buckets). Only the provider's own
 * vectors say where a text lies, in any language and for any subject.
 *
 * A few vectors of each answer (evenly spaced, at most SAMPLE) are normalised and projected onto
 * DIRECTIONS fixed pseudo-random sparse directions (a Johnson-Lindenstrauss sketch: sums and
 * squared lengths are kept in expectation). The event keeps the projections' sum and summed squared
 * length: the detector adds them up per account, and their spread against the whole traffic's is
 * the signal (src/detect/embedding-spread.ts). 16 numbers per event, whatever the batch size.
 */
import type { EventResponse } from './schema.ts';

export type EmbeddingSummary = NonNullable<EventResponse['embeddings']>;

/** Directions of the sketch. */
export const EMBEDDING_DIRECTIONS = 16;
/** Vectors of one answer projected (evenly spaced when it has more): a harvest sends many answers, and the detector needs about a hundred vectors of an account. */
export const EMBEDDING_SAMPLE = 8;

/** One direction of the projection for one vector size: its non-zero coordinates and their values. */
interface Direction { index: Int32Array; value: Float32Array }
const directionCache = new Map<number, Direction[]>();

/**
 * The projection for vectors of `dims` coordinates: a very sparse random projection (Li, Hastie
 * and Church, KDD 2006): each coordinate of a direction is ±sqrt(s) with probability 1/s and 0
 * otherwise, s = sqrt(dims)/4, scaled by 1/sqrt(DIRECTIONS), so squared lengths and inner
 * products are kept in expectation at 4·sqrt(dims) coordinates per direction instead of dims
 * (about 2,500 multiply-adds per vector of 1,536 instead of 25,000). Sparser (s = sqrt(dims))
 * blurred the mock's subjects into broad corpora in the tests.
 */
function directions(dims: number): Direction[] {
  const hit = directionCache.get(dims);
  if (hit) return hit;
  const s = Math.max(1, Math.sqrt(dims) / 4);
  const value = Math.sqrt(s / EMBEDDING_DIRECTIONS);
  // xorshift32 seeded by the size alone: every node, and the traffic model, project alike.
  let h = (0x9e3779b9 ^ Math.imul(dims, 0x85ebca6b)) >>> 0 || 1;
  const next = () => { h ^= h << 13; h >>>= 0; h ^= h >>> 17; h ^= h << 5; h >>>= 0; return h; };
  const out: Direction[] = [];
  for (let j = 0; j < EMBEDDING_DIRECTIONS; j++) {
    const idx: number[] = []; const val: number[] = [];
    for (let k = 0; k < dims; k++) {
      const u = next();
      if ((u >>> 1) / 2147483648 < 1 / s) { idx.push(k); val.push(u & 1 ? value : -value); }
    }
    out.push({ index: Int32Array.from(idx), value: Float32Array.from(val) });
  }
  if (directionCache.size > 16) directionCache.clear();
  directionCache.set(dims, out);
  return out;
}

/** A vector as the API returns it (an array of numbers, or base64 little-endian float32), or null. */
export function readEmbedding(value: unknown): Float32Array | null {
  if (Array.isArray(value)) {
    const v = new Float32Array(value.length);
    for (let k = 0; k < value.length; k++) {
      const x = value[k];
      if (typeof x !== 'number') return null;
      v[k] = x;
    }
    return v.length > 0 ? v : null;
  }
  if (typeof value === 'string' && value.length > 0 && value.length % 4 === 0) {
    const bytes = Buffer.from(value, 'base64');
    // Node skips what is not base64: a decoded length other than the text's says it was not.
    const pad = value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0;
    if (bytes.length === 0 || bytes.length % 4 !== 0 || bytes.length !== (value.length / 4) * 3 - pad) return null;
    if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    // Copy into an aligned buffer: the decoded bytes may start at any offset.
    const v = new Float32Array(bytes.length / 4);
    new Uint8Array(v.buffer).set(bytes);
    return v;
  }
  return null;
}

/** Accumulates the sketch over an answer's vectors. */
export class EmbeddingSketch {
  readonly sum = new Float64Array(EMBEDDING_DIRECTIONS);
  sq = 0;
  sampled = 0;
  dims = 0;

  /** Project one vector (normalised first; a zero or wrongly sized vector is skipped). */
  add(v: Float32Array): void {
    const d = v.length;
    if (this.dims === 0) this.dims = d;
    if (d !== this.dims) return;
    let norm = 0;
    for (let k = 0; k < d; k++) norm += v[k] * v[k];
    if (!(norm > 0) || !Number.isFinite(norm)) return;
    const inv = 1 / Math.sqrt(norm);
    const dirs = directions(d);
    let sq = 0;
    for (let j = 0; j < EMBEDDING_DIRECTIONS; j++) {
      const { index, value } = dirs[j];
      let p = 0;
      for (let k = 0; k < index.length; k++) p += value[k] * v[index[k]];
      p *= inv;
      this.sum[j] += p;
      sq += p * p;
    }
    this.sq += sq;
    this.sampled++;
  }

  summary(vectors: number): EmbeddingSummary | null {
    if (this.sampled === 0) return null;
    return {
      vectors, dimensions: this.dims, sampled: this.sampled,
      sum: Array.from(this.sum, (x) => Math.round(x * 1e4) / 1e4),
      sq: Math.round(this.sq * 1e4) / 1e4,
    };
  }
}

/** Which of `count` vectors are projected: all up to SAMPLE, else SAMPLE evenly spaced. */
export function sampledIndices(count: number): number[] {
  if (count <= EMBEDDING_SAMPLE) return Array.from({ length: count }, (_, k) => k);
  return Array.from({ length: EMBEDDING_SAMPLE }, (_, k) => Math.floor((k * count) / EMBEDDING_SAMPLE));
}

/** The summary of an OpenAI embeddings answer's `data` (null when it holds no readable vector). */
export function summariseEmbeddings(data: unknown): EmbeddingSummary | null {
  if (!Array.isArray(data) || data.length === 0) return null;
  const sketch = new EmbeddingSketch();
  for (const k of sampledIndices(data.length)) {
    const v = readEmbedding((data[k] as { embedding?: unknown } | null)?.embedding);
    if (v) sketch.add(v);
  }
  return sketch.summary(data.length);
}
