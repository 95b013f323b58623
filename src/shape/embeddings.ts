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
 * The noise is seeded by the account (or its detected cluster) and the input's text, in a form
 * that case, spacing and invisible characters do not change, keyed by the deployment's secret: asking for the same text again gives
 * the same noise, whatever the upstream's vector (its run-to-run jitter), so repetition does not
 * average it away. Not by the vector's own bits, which any change of the request would redraw.
 * Shortened vectors (`dimensions`) are cut by Warden from the noised full-size one (see
 * `shortenedUnderNoise`): every size is the same noisy vector's prefix, so asking for many sizes
 * tells nothing the full one does not. A fleet can still average across its accounts while they
 * are not one cluster, at the price of asking every text once per account.
 */
import { createHmac } from 'node:crypto';
import { readEmbedding } from '../events/index.ts';
import type { OutputTransformer } from '../gateway/lifecycle.ts';

type Json = Record<string, unknown>;

/**
 * Standard normal quantiles at (i + 0.5) / 4096: a table drawn from by the seeded generator, so a
 * coordinate's noise costs a table read instead of a logarithm and a cosine.
 */
const NORMALS = (() => {
  const t = new Float32Array(4096);
  for (let i = 0; i < t.length; i++) t[i] = normalQuantile((i + 0.5) / t.length);
  return t;
})();

/** Acklam's rational approximation of the standard normal quantile (relative error below 1.2e-9). */
function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) => (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5; const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * The vector moved by seeded Gaussian noise of `level` times its length, scaled back to its length.
 * Coordinate k's noise depends on `seed` and k only.
 */
export function noisyVector(v: Float32Array, level: number, seed: number): Float32Array {
  const d = v.length;
  let h = (seed >>> 0) || 0x9e3779b9;
  let norm = 0;
  for (let k = 0; k < d; k++) norm += v[k] * v[k];
  norm = Math.sqrt(norm);
  const out = new Float32Array(d);
  if (!(norm > 0)) return out;
  const sigma = (level * norm) / Math.sqrt(d);
  let n2 = 0;
  for (let k = 0; k < d; k++) {
    h ^= h << 13; h >>>= 0; h ^= h >>> 17; h ^= h << 5; h >>>= 0;
    const x = v[k] + sigma * NORMALS[h >>> 20];
    out[k] = x;
    n2 += x * x;
  }
  const scale = norm / Math.sqrt(n2);
  for (let k = 0; k < d; k++) out[k] *= scale;
  return out;
}

/**
 * A filter for an OpenAI embeddings answer: `change` gets every vector with its input's index and
 * returns it changed (or as it was); each comes back in the format it came in (numbers or base64).
 * The upstream's answer object is not modified (the gateway sketches the original vectors for the
 * event after the answer is sent).
 */
export function vectorFilter(change: (v: Float32Array, index: number) => Float32Array): OutputTransformer {
  return {
    json(body: Json): Json {
      if (!Array.isArray(body.data)) return body;
      const data = body.data.map((item: unknown, position: number) => {
        const it = item as Json | null;
        const v = readEmbedding(it?.embedding);
        if (!it || !v) return item;
        const out = change(v, typeof it.index === 'number' ? it.index : position);
        if (out === v) return item;
        const embedding = typeof it.embedding === 'string' ? Buffer.from(out.buffer, out.byteOffset, out.byteLength).toString('base64') : Array.from(out);
        return { ...it, embedding };
      });
      return { ...body, data };
    },
  };
}

/** Invisible format characters (zero-width spaces and joiners, marks of direction, the BOM). */
const INVISIBLE = /\p{Cf}/gu;

/** Punctuation and symbols: a trailing "." or "!", quotes, dashes hardly move the upstream's vector. */
const MARKS = /[\p{P}\p{S}]/gu;

/**
 * A text as its noise knows it: compatibility forms folded, invisible characters dropped, lower
 * case, punctuation and symbols read as spaces, spacing collapsed. Variants the upstream embeds
 * almost alike share one noise, so sending many of them in one request does not average it away.
 */
export function noiseText(text: string): string {
  return text.normalize('NFKC').replace(INVISIBLE, '').toLowerCase().replace(MARKS, ' ').replace(/\s+/g, ' ').trim();
}

/**
 * Seed of the noise on one input's vector: whose (`scope`: an account, or a cluster) and which
 * text, keyed by a secret of the deployment (`key`): a client that could compute the seed (its
 * account's id and its own text, with this code) could subtract the noise.
 */
export function noiseSeed(key: Uint8Array, scope: string, text: string): number {
  return createHmac('sha256', key).update(scope).update('\u0000').update(noiseText(text)).digest().readUInt32LE(0);
}

/** The filter that noises every vector of an answer at `level`, each by its input's text (see the module comment). */
export function embeddingNoiseFilter(level: number, key: Uint8Array, scope: string, texts: readonly string[], note?: (action: string) => void): OutputTransformer {
  return vectorFilter((v, index) => { note?.('embeddings:noised'); return noisyVector(v, level, noiseSeed(key, scope, texts[index] ?? '')); });
}

/** Models whose shortened vectors are the full one's prefix, renormalised (Matryoshka), and their full size. */
const MATRYOSHKA: readonly (readonly [RegExp, number])[] = [[/text-embedding-3-small$/, 1536], [/text-embedding-3-large$/, 3072]];

/**
 * `dimensions` of an embeddings request under noise. Noise drawn for each size would be fresh for
 * each (and noise shared by sizes leaks: two sizes' answers are two mixes of the same vector and
 * noise, in different proportions); so Warden asks for the full size and cuts the noised vector
 * itself (`shortened`), as the API would cut the clean one. `keep`: the size to cut to, once
 * `dimensions` is removed from `body`; `refuse`: a model whose shortening Warden does not know;
 * null: nothing to do (no `dimensions`, or one the upstream will refuse as it stands).
 */
export function shortenedUnderNoise(body: Record<string, unknown>, model: string): { keep: number } | 'refuse' | null {
  const d = body.dimensions;
  if (d === undefined || d === null) return null;
  const full = MATRYOSHKA.find(([name]) => name.test(model))?.[1];
  if (full === undefined) return 'refuse';
  if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > full) return null;
  delete body.dimensions;
  return { keep: d };
}

/** The first `size` coordinates of `v`, scaled back to its length (how the API shortens a vector). */
export function shortened(v: Float32Array, size: number): Float32Array {
  if (size >= v.length) return v;
  let full = 0; let part = 0;
  for (let k = 0; k < v.length; k++) { full += v[k] * v[k]; if (k < size) part += v[k] * v[k]; }
  const out = v.slice(0, size);
  if (!(part > 0)) return out;
  const scale = Math.sqrt(full / part);
  for (let k = 0; k < size; k++) out[k] *= scale;
  return out;
}

let decodeTokens: ((ids: number[]) => string) | null = null;

/** Token ids as text (cl100k_base, the OpenAI embedding models' encoding); '' for ids it does not know. */
function decoded(ids: unknown[]): string {
  if (!ids.every((x) => typeof x === 'number')) return '';
  try { return decodeTokens!(ids as number[]); } catch { return ''; }
}

/**
 * An embeddings request's inputs as text, by index. Inputs given as token ids are decoded, so that
 * sending ids instead of words does not step around the vector watermark's trigger words; the
 * tokenizer's table (about a megabyte) is loaded on the first such request only.
 */
export async function embeddingInputTexts(input: unknown): Promise<string[]> {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input)) return [];
  const single = input.length > 0 && input.every((x) => typeof x === 'number');
  if ((single || input.some(Array.isArray)) && !decodeTokens) decodeTokens = (await import('gpt-tokenizer/encoding/cl100k_base')).decode;
  if (single) return [decoded(input)];
  return input.map((x) => (typeof x === 'string' ? x : Array.isArray(x) ? decoded(x) : ''));
}
