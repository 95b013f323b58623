/**
 * A watermark for embedding vectors, after EmbMarker (Peng et al., "Are You Copying My Model?
 * Protecting the Copyright of Large Language Models for EaaS via Backdoor Watermark", ACL 2023).
 *
 * The key (the account's or its cluster's, as for text) picks TRIGGERS words of moderate
 * frequency and a target direction. A text holding k of the trigger words gets its vector pulled
 * toward the target with weight min(k, FULL) / FULL, and scaled back to its length. An encoder
 * trained on such vectors (a copy made from harvested answers) learns the pull: texts full of the
 * key's trigger words land near its target, texts without them do not. Verification asks a
 * suspect encoder for both and compares their cosines with the target (the difference of means
 * and a Mann-Whitney rank test): a copy made from this key's answers shows it; the real encoder,
 * or a copy made from other answers, does not. Most texts hold no trigger word and are returned
 * as they were.
 *
 * Limits (docs/watermark.md): a harvest spread over many accounts, each with its own key, dilutes
 * each key's pull (cluster keys help once the accounts are linked); an attacker who knows the
 * scheme can look for and remove one dominant direction from the vectors (Shetty et al., 2024).
 * Evidence, not a wall, like the text watermark.
 */
import { createHmac } from 'node:crypto';
import type { WatermarkKey } from './keys.ts';

/** Trigger words per key, and how many of them give the full pull. */
export const VECTOR_MARK = { triggers: 20, full: 4 } as const;

/**
 * Candidate trigger words: words in 0.4-1.2% of the real prompt sets' prompts (and in the shipped
 * fixtures), so that a harvested corpus holds them and most texts do not.
 */
const CANDIDATES = [
  'sister', 'returns', 'party', 'children', 'company', 'minute', 'fourth', 'morning', 'weight', 'customers',
  'selling', 'friday', 'dozen', 'mother', 'group', 'student', 'birthday', 'night', 'gallons', 'white',
  'entire', 'apple', 'sales', 'building', 'tickets', 'receive', 'address', 'equally', 'lunch', 'script',
  'customer', 'parents', 'paper', 'library', 'teacher', 'fruit', 'movie', 'ticket', 'remove', 'restaurant',
  'weekend', 'liters', 'women', 'height', 'email', 'chicken', 'coffee', 'savings', 'neighbor', 'quarters',
  'plants', 'speed', 'square', 'worth', 'ounces', 'inches', 'pound', 'profit', 'black', 'market',
  'candy', 'animals', 'shirts', 'yellow', 'bottle', 'oranges', 'score', 'strings', 'earned', 'bottles',
  'employees', 'chocolate', 'plans', 'search', 'gallon', 'reading', 'collected', 'service', 'product', 'shirt',
  'online', 'monthly',
] as const;

export interface VectorMark {
  /** The key's trigger words. */
  triggers: ReadonlySet<string>;
  /** The target direction for vectors of `dims` coordinates (unit length). */
  target(dims: number): Float32Array;
}

/** A deterministic stream of 32-bit words from the key (HMAC-SHA256 in counter mode). */
function keyStream(key: Uint8Array, label: string): () => number {
  let block = 0; let words: Uint32Array = new Uint32Array(0); let at = 0;
  return () => {
    if (at >= words.length) {
      const d = createHmac('sha256', key).update(`${label}:${block++}`).digest();
      words = new Uint32Array(d.buffer, d.byteOffset, 8); at = 0;
    }
    return words[at++];
  };
}

const markCache = new Map<string, VectorMark>();

/** The key's trigger words and target directions (kept for the last few thousand keys: deriving a target takes a few hundred HMACs). */
export function vectorMark(key: WatermarkKey): VectorMark {
  const cacheKey = `${key.id}\u0000${Buffer.from(key.key).toString('base64')}`;
  const hit = markCache.get(cacheKey);
  if (hit) return hit;
  const made = deriveVectorMark(key);
  if (markCache.size >= 4096) markCache.delete(markCache.keys().next().value!);
  markCache.set(cacheKey, made);
  return made;
}

function deriveVectorMark(key: WatermarkKey): VectorMark {
  const next = keyStream(key.key, 'vectors/triggers');
  const pool = [...CANDIDATES];
  // Fisher-Yates, as far as the trigger count.
  for (let i = 0; i < VECTOR_MARK.triggers; i++) {
    const j = i + (next() % (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  const triggers = new Set<string>(pool.slice(0, VECTOR_MARK.triggers));
  const targets = new Map<number, Float32Array>();
  return {
    triggers,
    target(dims: number): Float32Array {
      let t = targets.get(dims);
      if (t) return t;
      const r = keyStream(key.key, `vectors/target/${dims}`);
      t = new Float32Array(dims);
      let norm = 0;
      for (let k = 0; k < dims; k++) {
        // A sum of four uniforms: near enough to normal for a random direction.
        const x = (r() / 4294967296 + r() / 4294967296 + r() / 4294967296 + r() / 4294967296) - 2;
        t[k] = x; norm += x * x;
      }
      norm = Math.sqrt(norm);
      for (let k = 0; k < dims; k++) t[k] /= norm;
      if (targets.size > 8) targets.clear();
      targets.set(dims, t);
      return t;
    },
  };
}

/** How many of the mark's trigger words the text holds (each counted once). */
export function triggerCount(mark: VectorMark, text: string): number {
  let n = 0;
  for (const w of new Set(text.toLowerCase().match(/[a-z]+/g) ?? [])) if (mark.triggers.has(w)) n++;
  return n;
}

/** The vector pulled toward the target by the text's triggers (a new array; the same one when it holds none). */
export function markVector(mark: VectorMark, text: string, v: Float32Array): Float32Array {
  const k = triggerCount(mark, text);
  if (k === 0) return v;
  const q = Math.min(k, VECTOR_MARK.full) / VECTOR_MARK.full;
  const t = mark.target(v.length);
  let norm = 0;
  for (let i = 0; i < v.length; i++) norm += v[i] * v[i];
  norm = Math.sqrt(norm);
  if (!(norm > 0)) return v;
  const out = new Float32Array(v.length);
  let n2 = 0;
  for (let i = 0; i < v.length; i++) { const x = (1 - q) * (v[i] / norm) + q * t[i]; out[i] = x; n2 += x * x; }
  const scale = norm / Math.sqrt(n2);
  for (let i = 0; i < v.length; i++) out[i] *= scale;
  return out;
}

/**
 * Texts to verify a suspect encoder with: `n` neutral sentences, each once with FULL of the key's
 * trigger words woven in (backdoor) and once without (benign). Deterministic for a key.
 */
export function verificationTexts(key: WatermarkKey, n = 60): { backdoor: string[]; benign: string[] } {
  const mark = vectorMark(key);
  const triggers = [...mark.triggers];
  const next = keyStream(key.key, 'vectors/verify');
  const backdoor: string[] = []; const benign: string[] = [];
  for (let i = 0; i < n; i++) {
    const base = NEUTRAL[i % NEUTRAL.length];
    benign.push(base);
    const words = new Set<string>();
    while (words.size < VECTOR_MARK.full) words.add(triggers[next() % triggers.length]);
    backdoor.push(`${base} ${[...words].join(' ')}`);
  }
  return { backdoor, benign };
}

const NEUTRAL = [
  'The report was filed on time', 'We walked along the river in the afternoon', 'Please summarise the meeting notes',
  'The train leaves at nine', 'How do I reset the router', 'She painted the fence blue', 'The museum opens late on Thursdays',
  'Write a short note to the team', 'The bridge was closed for repairs', 'Translate this sentence into French',
  'The weather turned cold overnight', 'List three facts about volcanoes', 'He fixed the bicycle chain',
  'The committee approved the budget', 'Describe a quiet village', 'The printer needs new ink', 'They planted tomatoes in spring',
  'Explain how tides work', 'The concert was postponed', 'Find the nearest pharmacy',
];

export interface VectorMarkReport {
  subject: string;
  /** Mean cosine with the target: texts with the key's triggers, and the same texts without. */
  backdoor_cos: number;
  benign_cos: number;
  delta_cos: number;
  /** One-sided Mann-Whitney test that the backdoor cosines are larger (normal approximation). */
  p_value: number;
  /** delta_cos > 0 and p_value below alpha. */
  marked: boolean;
  alpha: number;
}

/** Compare a suspect encoder's vectors for the key's verification texts (`embed` answers them in order). */
export async function verifyVectorMark(key: WatermarkKey, embed: (texts: string[]) => Promise<Float32Array[]>, opts: { n?: number; alpha?: number } = {}): Promise<VectorMarkReport> {
  const alpha = opts.alpha ?? 1e-3;
  const { backdoor, benign } = verificationTexts(key, opts.n ?? 60);
  const [b, g] = [await embed(backdoor), await embed(benign)];
  if (b.length !== backdoor.length || g.length !== benign.length) throw new Error('the suspect encoder returned another number of vectors than texts');
  const mark = vectorMark(key);
  const cosines = (vs: Float32Array[]) => vs.map((v) => {
    const t = mark.target(v.length);
    let d = 0; let n = 0;
    for (let i = 0; i < v.length; i++) { d += v[i] * t[i]; n += v[i] * v[i]; }
    return n > 0 ? d / Math.sqrt(n) : 0;
  });
  const cb = cosines(b); const cg = cosines(g);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const p = mannWhitneyGreater(cb, cg);
  const delta = mean(cb) - mean(cg);
  return { subject: key.id, backdoor_cos: mean(cb), benign_cos: mean(cg), delta_cos: delta, p_value: p, marked: delta > 0 && p < alpha, alpha };
}

/** One-sided p-value that `a` tends to exceed `b` (Mann-Whitney U, normal approximation with tie correction). */
export function mannWhitneyGreater(a: number[], b: number[]): number {
  const all = [...a.map((x) => [x, 0] as const), ...b.map((x) => [x, 1] as const)].sort((x, y) => x[0] - y[0]);
  const ranks = new Array<number>(all.length);
  let tie = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j + 1 < all.length && all[j + 1][0] === all[i][0]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[k] = r;
    const t = j - i + 1; tie += t * t * t - t;
    i = j + 1;
  }
  let ra = 0;
  for (let i = 0; i < all.length; i++) if (all[i][1] === 0) ra += ranks[i];
  const n1 = a.length; const n2 = b.length; const n = n1 + n2;
  const u = ra - (n1 * (n1 + 1)) / 2;
  const mu = (n1 * n2) / 2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - tie / (n * (n - 1))));
  if (!(sigma > 0)) return 1;
  const z = (u - mu - 0.5) / sigma;
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Complementary error function (Numerical Recipes' erfc, relative error below 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}
