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
import { JSON_PROSE_FROM_WORD } from './json.ts';

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

/** Cyrillic and Greek letters drawn like Latin ones (Unicode confusables), as the Latin letter. */
const LOOKALIKES: Record<string, string> = {
  а: 'a', е: 'e', о: 'o', р: 'p', с: 'c', у: 'y', х: 'x', і: 'i', ј: 'j', ѕ: 's', һ: 'h', ԁ: 'd', ԛ: 'q', ԝ: 'w', ӏ: 'l',
  А: 'A', В: 'B', Е: 'E', К: 'K', М: 'M', Н: 'H', О: 'O', Р: 'P', С: 'C', Т: 'T', У: 'Y', Х: 'X', І: 'I', Ј: 'J', Ѕ: 'S', Һ: 'H', Ԛ: 'Q', Ԝ: 'W',
  ο: 'o', α: 'a', ι: 'i', κ: 'k', ν: 'v', ρ: 'p', υ: 'u', χ: 'x', γ: 'y',
  Α: 'A', Β: 'B', Ε: 'E', Ζ: 'Z', Η: 'H', Ι: 'I', Κ: 'K', Μ: 'M', Ν: 'N', Ο: 'O', Ρ: 'P', Τ: 'T', Υ: 'Y', Χ: 'X',
};
const LOOKALIKE = new RegExp(`[${Object.keys(LOOKALIKES).join('')}]`, 'g');

/**
 * The text as a reader sees it: invisible characters (zero-width spaces, soft hyphens, joiners,
 * byte-order marks: anything default-ignorable or a format control) removed, compatibility forms
 * folded (NFKC: fullwidth letters, ligatures, no-break spaces), look-alike Cyrillic and Greek
 * letters read as Latin. Published harvests pass through such changes, deliberate or not.
 */
export function readableText(text: string): string {
  return text.replace(/[\p{Default_Ignorable_Code_Point}\p{Cf}]/gu, '').normalize('NFKC').replace(LOOKALIKE, (c) => LOOKALIKES[c]);
}

/**
 * Distinct slots of a text (as read by `readableText`), in order of first appearance. A JSON text
 * (or JSON Lines) is read as its string values, each on its own and from its third word, as JSON
 * answers are marked; keys, numbers and lines that are not JSON are read as before.
 */
export function collectSlots(raw: string): { slots: Slot[]; words: number } {
  const text = readableText(raw);
  const acc: SlotAccumulator = { seen: new Set(), slots: [], words: 0 };
  for (const part of jsonParts(text) ?? [{ text, skipWords: 0 }]) walkSlots(part.text, part.skipWords, acc);
  return { slots: acc.slots, words: acc.words };
}

interface SlotAccumulator { seen: Set<string>; slots: Slot[]; words: number }

function walkSlots(text: string, skipWords: number, acc: SlotAccumulator): void {
  const state = initialWalkState();
  let n = 0;
  for (const [, space, chunk] of text.matchAll(/(\s*)(\S+)/g)) {
    acc.words++;
    n++;
    visitSpace(space, state);
    const slot = visitChunk(chunk, state);
    // The first words of a JSON string value are never marked (enum-like values): not evidence either way.
    if (!slot || n <= skipWords) continue;
    const k = slot.context + '\u0000' + slot.group.id + '\u0000' + slot.word;
    if (acc.seen.has(k)) continue;
    acc.seen.add(k);
    acc.slots.push(slot);
  }
}

/** A text that is JSON, or JSON Lines, as its string values (lines that are not JSON as text); null when it is not JSON. */
function jsonParts(text: string): { text: string; skipWords: number }[] | null {
  if (!/^\s*[{[]/.test(text)) return null;
  const parts: { text: string; skipWords: number }[] = [];
  const strings = (v: unknown): void => {
    if (typeof v === 'string') parts.push({ text: v, skipWords: JSON_PROSE_FROM_WORD });
    else if (Array.isArray(v)) v.forEach(strings);
    else if (v && typeof v === 'object') Object.values(v).forEach(strings);
  };
  try { strings(JSON.parse(text)); return parts; } catch { /* JSON Lines, or not JSON */ }
  let json = false;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try { strings(JSON.parse(line)); json = true; } catch { parts.push({ text: line, skipWords: 0 }); }
  }
  return json ? parts : null;
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
