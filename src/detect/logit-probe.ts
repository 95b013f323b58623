/**
 * Logit probing: reading a model's logits through the API, one bias map at a time.
 *
 * With `logit_bias` a client pushes chosen tokens into the answer's top log-probabilities (or, with
 * a one-token answer, makes the model choose among them); sweeping maps across the vocabulary for
 * the same prompt reads that prompt's whole logit vector, and enough such vectors give away the
 * model's hidden size and final projection layer (Carlini et al. 2024, "Stealing Part of a
 * Production Language Model"; Finlayson et al. 2024). Three uses of `logit_bias` look alike
 * request by request and differ over an account's requests:
 *
 * - a classifier biases the same label tokens on every request: one map, many prompts;
 * - client-side constrained decoding (e.g. a library forcing a choice among options) biases new
 *   tokens at each step of a growing prompt: about as many prompts as maps;
 * - an extraction biases new tokens on the same prompts again and again: many maps per prompt.
 *
 * So each probing account keeps two small distinct-count sketches (linear counting over 512 bits:
 * accurate to a few percent up to a few hundred values, bounded above 3,000), one of bias maps and
 * one of prompts. Only accounts that probe have one: the map is sparse.
 */

/** 512-bit sketch of bias maps, then 512-bit sketch of prompts. */
const WORDS = 16;
const BITS = WORDS * 32;

export type ProbeSketches = Map<number, Uint32Array>;

/** The test's bounds, reported with every verdict it passes. */
export const LOGIT_PROBE = {
  /** Windowed probes (decayed like every window count). */
  minProbes: 20,
  /** Distinct bias maps: a classifier has one, a handful of label sets a few. */
  minMaps: 16,
  /** Distinct maps per distinct prompt: constrained decoding is near 1 (a new prompt each step). */
  minMapsPerPrompt: 4,
} as const;

function setBit(words: Uint32Array, base: number, hash: number): void {
  const bit = (hash >>> 0) % BITS;
  words[base + (bit >>> 5)] |= 1 << (bit & 31);
}

function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Linear-counting estimate of the distinct values set in one sketch. */
function distinct(words: Uint32Array, base: number): number {
  let set = 0;
  for (let k = 0; k < WORDS; k++) set += popcount32(words[base + k]);
  const zeros = BITS - set;
  // All bits set: at least this many (the estimate's bound).
  return zeros === 0 ? BITS * Math.log(BITS) : -BITS * Math.log(zeros / BITS);
}

/**
 * Record one probe of account i. `windowProbes` is the account's decayed probe count before this
 * one: when it has decayed to nothing, old sketches describe another episode and start again.
 */
export function observeProbe(sketches: ProbeSketches, i: number, biasMap: number, promptKey: number, windowProbes: number): void {
  let s = sketches.get(i);
  if (!s) { s = new Uint32Array(2 * WORDS); sketches.set(i, s); }
  else if (windowProbes < 0.5) s.fill(0);
  setBit(s, 0, biasMap);
  setBit(s, WORDS, promptKey);
}

export interface ProbeReadings { probes: number; maps: number; prompts: number; mapsPerPrompt: number }

export function probeReadings(sketches: ProbeSketches, i: number, windowProbes: number): ProbeReadings | null {
  const s = sketches.get(i);
  if (!s) return null;
  const maps = distinct(s, 0);
  const prompts = Math.max(1, distinct(s, WORDS));
  return { probes: windowProbes, maps, prompts, mapsPerPrompt: maps / prompts };
}

/** Does account i sweep bias maps over the same prompts? */
export function logitProbeTest(r: ProbeReadings | null): boolean {
  return r !== null && r.probes >= LOGIT_PROBE.minProbes && r.maps >= LOGIT_PROBE.minMaps && r.mapsPerPrompt >= LOGIT_PROBE.minMapsPerPrompt;
}
