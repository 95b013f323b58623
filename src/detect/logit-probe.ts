/**
 * Logit probing: reading a model's logits through the API, one bias map at a time.
 *
 * With `logit_bias` a client pushes chosen tokens into the answer's top log-probabilities (or, with
 * a one-token answer, makes the model choose among them); sweeping maps across the vocabulary for
 * the same prompts reads those prompts' whole logit vectors, and enough such vectors give away the
 * model's hidden size and final projection layer (Carlini et al. 2024, "Stealing Part of a
 * Production Language Model"; Finlayson et al. 2024). Three uses of `logit_bias` look alike
 * request by request and differ over an account's requests:
 *
 * - a classifier (or a multiple-choice evaluation) biases the same label tokens every time: one
 *   map, many prompts;
 * - client-side constrained decoding (a library forcing a choice among options) biases new tokens
 *   at each step of a growing prompt: a new map and a new prompt every request;
 * - an extraction biases new tokens on the same prompts again and again: many maps, and each
 *   prompt asked with many of them.
 *
 * So each probing account keeps three HyperLogLog sketches (64 registers: 13% error, any count): of
 * its bias maps, of its prompts and of its (prompt, map) pairs. Pairs per prompt is how many maps
 * each prompt was read with: 1 for a classifier, a constrained decoder, and a researcher who runs
 * the same multiple-choice benchmark again (the same question, the same answer letters). Only
 * accounts that probe have sketches: the map is sparse.
 */

const REGISTERS = 64;

/** One probing account: distinct-count sketches of its bias maps and of its prompts, and the probes they saw. */
export interface ProbeSketch { maps: Uint8Array; prompts: Uint8Array; pairs: Uint8Array; probes: number }
export type ProbeSketches = Map<number, ProbeSketch>;

/** The test's bounds, reported with every verdict it passes. */
export const LOGIT_PROBE = {
  /** Windowed probes (decayed like every window count). */
  minProbes: 20,
  /** Distinct bias maps: a classifier has one, a few label sets a few. */
  minMaps: 4,
  /** Distinct maps per prompt (distinct pairs over distinct prompts): 1 for every legitimate use above. */
  minMapsPerPrompt: 3,
} as const;

/** A well-mixed 32-bit hash (the fingerprints are FNV, whose low bits are weak). */
function fmix(h: number): number {
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0;
}

function add(registers: Uint8Array, value: number): void {
  const h = fmix(value);
  const r = h & (REGISTERS - 1);
  const rank = Math.min(26, Math.clz32(h >>> 6) - 5); // leading zeros of the remaining 26 bits, plus one
  if (rank > registers[r]) registers[r] = rank;
}

/** HyperLogLog estimate, with linear counting while registers are empty (small counts). */
function estimate(registers: Uint8Array): number {
  let sum = 0; let zeros = 0;
  for (let k = 0; k < REGISTERS; k++) { sum += 2 ** -registers[k]; if (registers[k] === 0) zeros++; }
  const raw = (0.709 * REGISTERS * REGISTERS) / sum;
  if (raw <= 2.5 * REGISTERS && zeros > 0) return REGISTERS * Math.log(REGISTERS / zeros);
  return raw;
}

/**
 * Record one probe of account i. `windowProbes` is the account's decayed probe count before this
 * one: when it has decayed to nothing, the sketches describe another episode and start again.
 */
export function observeProbe(sketches: ProbeSketches, i: number, biasMap: number, promptKey: number, windowProbes: number): void {
  let s = sketches.get(i);
  if (!s) { s = { maps: new Uint8Array(REGISTERS), prompts: new Uint8Array(REGISTERS), pairs: new Uint8Array(REGISTERS), probes: 0 }; sketches.set(i, s); }
  else if (windowProbes < 0.5) { s.maps.fill(0); s.prompts.fill(0); s.pairs.fill(0); s.probes = 0; }
  add(s.maps, biasMap);
  add(s.prompts, promptKey);
  add(s.pairs, Math.imul(biasMap ^ 0x5bd1e995, 0x01000193) ^ promptKey);
  s.probes++;
}

export interface ProbeReadings { probes: number; maps: number; prompts: number; mapsPerPrompt: number }

/** What the test reads for account i (`windowProbes`: its decayed probe count), or null if it never probed. */
export function probeReadings(sketches: ProbeSketches, i: number, windowProbes: number): ProbeReadings | null {
  const s = sketches.get(i);
  if (!s) return null;
  const maps = Math.min(s.probes, estimate(s.maps));
  const prompts = Math.max(1, Math.min(s.probes, estimate(s.prompts)));
  const pairs = Math.min(s.probes, estimate(s.pairs));
  return { probes: windowProbes, maps, prompts, mapsPerPrompt: pairs / prompts };
}

/** Does the account read its prompts with many bias maps each? */
export function logitProbeTest(r: ProbeReadings | null): boolean {
  return r !== null && r.probes >= LOGIT_PROBE.minProbes && r.maps >= LOGIT_PROBE.minMaps && r.mapsPerPrompt >= LOGIT_PROBE.minMapsPerPrompt;
}
