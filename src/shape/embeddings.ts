/**
 * Noise on embedding vectors: the answer filter for `embedding_noise` (policy capability).
 *
 * Why noise and how much: an encoder is stolen by regressing a copy onto the API's vectors over a
 * broad corpus; vectors moved at random make those targets worse, while an account's own uses
 * (nearest-neighbour search among its texts, clustering, classification) depend on relative
 * positions, which small noise keeps (B4B, Dubiński et al., NeurIPS 2023, scale noise with how
 * much of the space an account covers; here the detector's verdict decides, and the policy sets
 * the amount per verdict and tier). Each vector is moved by a Gaussian vector of `level` times
 * its length and scaled back to its length, so the cosine with the original is about
 * 1/sqrt(1 + level²) (0.96 at 0.3).
 *
 * The noise is seeded by the account and the vector itself: asking for the same text again gives
 * the same answer, so repetition does not average the noise away (a fleet can still average
 * across its accounts, at the price of asking every text once per account).
 */
import { readEmbedding } from '../events/index.ts';
import type { OutputTransformer } from '../gateway/lifecycle.ts';

type Json = Record<string, unknown>;

/** FNV-1a over a string, then over 32-bit words. */
function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < s.length; k++) h = Math.imul(h ^ s.charCodeAt(k), 0x01000193);
  return h >>> 0;
}

/** The vector moved by seeded Gaussian noise of `level` times its length, scaled back to its length. */
export function noisyVector(v: Float32Array, level: number, accountSeed: number): Float32Array {
  const d = v.length;
  // Seed: the account and the vector's own bits (its first 16 coordinates and its size).
  const bits = new Uint32Array(v.buffer, v.byteOffset, d);
  let h = Math.imul(accountSeed ^ d, 0x01000193) >>> 0;
  for (let k = 0; k < Math.min(16, d); k++) h = Math.imul(h ^ bits[k], 0x01000193) >>> 0;
  h = h || 0x9e3779b9;
  const next = (): number => { h ^= h << 13; h >>>= 0; h ^= h >>> 17; h ^= h << 5; h >>>= 0; return (h + 0.5) / 4294967296; };
  let norm = 0;
  for (let k = 0; k < d; k++) norm += v[k] * v[k];
  norm = Math.sqrt(norm);
  const out = new Float32Array(d);
  if (!(norm > 0)) return out;
  const sigma = (level * norm) / Math.sqrt(d);
  for (let k = 0; k < d; k += 2) {
    // Box-Muller: two normal draws per pair of uniforms.
    const r = Math.sqrt(-2 * Math.log(next()));
    const t = 2 * Math.PI * next();
    out[k] = v[k] + sigma * r * Math.cos(t);
    if (k + 1 < d) out[k + 1] = v[k + 1] + sigma * r * Math.sin(t);
  }
  let n2 = 0;
  for (let k = 0; k < d; k++) n2 += out[k] * out[k];
  const scale = norm / Math.sqrt(n2);
  for (let k = 0; k < d; k++) out[k] *= scale;
  return out;
}

/**
 * The filter for an OpenAI embeddings answer: every vector in `data` noised, in the format it
 * came in (numbers or base64). The upstream's answer object is not modified (the gateway sketches
 * the original vectors for the event after the answer is sent).
 */
export function embeddingNoiseFilter(level: number, accountId: string, note?: (action: string) => void): OutputTransformer {
  const seed = fnv(accountId);
  return {
    json(body: Json): Json {
      if (!Array.isArray(body.data)) return body;
      let changed = 0;
      const data = body.data.map((item: unknown) => {
        const it = item as Json | null;
        const v = readEmbedding(it?.embedding);
        if (!it || !v) return item;
        const noisy = noisyVector(v, level, seed);
        changed++;
        const embedding = typeof it.embedding === 'string' ? Buffer.from(noisy.buffer, noisy.byteOffset, noisy.byteLength).toString('base64') : Array.from(noisy);
        return { ...it, embedding };
      });
      if (changed > 0) note?.('embeddings:noised');
      return { ...body, data };
    },
  };
}
