/**
 * Detection: does a text carry the watermark of one of several candidate keys?
 *
 * Observations are the distinct (context, group, word) slots of the text. Without the key, a slot
 * matches the key's preferred member with probability 1/|group|, independently across distinct
 * (context, group) pairs (the preference is a PRF output). The number of matches therefore has a
 * Poisson-binomial null distribution, computed exactly here; the p-value is its upper tail.
 * With K candidate keys the smallest p-value is Bonferroni-corrected (x K) before comparing it
 * with alpha, so testing more keys never inflates false accusations.
 */
import { initialWalkState, preferredMember, visitChunk, visitSpace, type Slot } from './scheme.ts';
import type { WatermarkKey } from './keys.ts';

export interface KeyScore {
  keyId: string;
  /** Distinct slots that matched the key's preferred member. */
  matches: number;
  /** Expected matches without the watermark. */
  expected: number;
  z: number;
  /** One-sided exact p-value for this key alone. */
  pValue: number;
}

export interface DetectionReport {
  /** Whitespace-separated words in the text. */
  words: number;
  /** Distinct slots scored. */
  slots: number;
  candidates: number;
  alpha: number;
  /** The best-scoring key, its p-value corrected for the number of candidates. */
  best: (KeyScore & { correctedP: number }) | null;
  detected: boolean;
  /** Every candidate, best first. */
  scores: KeyScore[];
}

/** Distinct slots of a text, in order of first appearance. */
export function collectSlots(text: string): { slots: Slot[]; words: number } {
  const state = initialWalkState();
  const seen = new Set<string>();
  const slots: Slot[] = [];
  let words = 0;
  for (const [, space, chunk] of text.matchAll(/(\s*)(\S+)/g)) {
    words++;
    visitSpace(space, state);
    const slot = visitChunk(chunk, state);
    if (!slot) continue;
    const k = slot.context + '\u0000' + slot.group.id + '\u0000' + slot.word;
    if (seen.has(k)) continue;
    seen.add(k);
    slots.push(slot);
  }
  return { slots, words };
}

/** Upper-tail probabilities P(X >= k) of a sum of independent Bernoulli(p_i), exact. */
export function poissonBinomialTail(ps: number[]): Float64Array {
  let pmf = new Float64Array(ps.length + 1);
  pmf[0] = 1;
  let n = 0;
  for (const p of ps) {
    const next = new Float64Array(ps.length + 1);
    for (let k = 0; k <= n; k++) {
      next[k] += pmf[k] * (1 - p);
      next[k + 1] += pmf[k] * p;
    }
    pmf = next;
    n++;
  }
  const tail = new Float64Array(ps.length + 2);
  for (let k = ps.length; k >= 0; k--) tail[k] = tail[k + 1] + pmf[k];
  return tail;
}

/**
 * Score a text against candidate keys.
 *
 * @example
 *   const report = detectWatermark(suspectText, [keyA, keyB], 1e-3);
 *   if (report.detected) console.log(report.best!.keyId, report.best!.correctedP);
 */
export function detectWatermark(text: string, keys: WatermarkKey[], alpha = 1e-3): DetectionReport {
  const { slots, words } = collectSlots(text);
  const ps = slots.map((s) => 1 / s.group.members.length);
  const tail = poissonBinomialTail(ps);
  const expected = ps.reduce((a, p) => a + p, 0);
  const variance = ps.reduce((a, p) => a + p * (1 - p), 0);
  const scores: KeyScore[] = keys.map((k) => {
    let matches = 0;
    for (const s of slots) if (preferredMember(k.key, s.context, s.group) === s.word) matches++;
    return {
      keyId: k.id, matches, expected,
      z: variance > 0 ? (matches - expected) / Math.sqrt(variance) : 0,
      pValue: Math.min(1, tail[matches]),
    };
  });
  scores.sort((a, b) => a.pValue - b.pValue || b.matches - a.matches);
  const top = scores[0];
  const best = top ? { ...top, correctedP: Math.min(1, top.pValue * keys.length) } : null;
  return { words, slots: slots.length, candidates: keys.length, alpha, best, detected: !!best && best.correctedP <= alpha, scores };
}
