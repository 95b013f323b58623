/**
 * One pass over a single-shot question for the three parts of the detector that read its text a
 * character at a time: the opening question's keys (shared-problems.ts: `problemKeys`), the
 * question's fingerprint for pairs across accounts (paired-items.ts: `itemFp`), the hashes of
 * its lead-in for the input it sends alike with earlier requests (standing-input.ts:
 * `leadHashes`) and the key of the payload it sends (harvest-yield.ts: `textKey`, read by
 * `payloadKey`). Each read the same text again, four passes where one does; a single-shot
 * request of one user message, most of a harvest's and many of everyone's, is read once here
 * (`readQuestion`, from features.ts), and the other two parts take what it found when they are
 * handed the same text (`question`), else read it themselves as before. The values are those of
 * the three functions (src/detect/question-pass.test.ts holds them equal).
 */
import { charCodeAt } from '../events/index.ts';
import { ITEM_FP_MAX_READ, ITEM_FP_MIN_CHARS } from './paired-items.ts';
import { PROBLEM_MIN_TRIGRAMS, PROBLEM_READ_CHARS } from './shared-problems.ts';

/** Characters of a lead-in hashed (standing-input.ts: the last of LEAD_MARKS). */
export const LEAD_CHARS = 8192;
/**
 * The hash of the first k characters of a request's lead-in, at index k: standing-input.ts's
 * scratch, filled by its `leadHashes` or by `readQuestion` (whichever ran last for the request).
 */
export const leadPrefix = new Uint32Array(LEAD_CHARS + 1);

const FNV_PRIME = 0x01000193;
/** Characters of a text its key reads (harvest-yield.ts: `textKey`), spread evenly over it. */
export const TEXT_KEY_SAMPLES = 128;
/** A role mixed into a lead-in's hash before its message's text (standing-input.ts). */
export const roleMix = (h: number, role: string) => Math.imul(h ^ (0x100 + role.length + charCodeAt(role, 0)), FNV_PRIME);
const USER_SEED = roleMix(0x811c9dc5, 'user');

/**
 * What `readQuestion` found for `text` (null: nothing, or what it found is no longer in
 * `leadPrefix`): the opening question's two keys, the item fingerprint (with `chars`, the
 * message's length as recorded), how many lead-in hashes `leadPrefix` holds and the text's key.
 */
export const question = { text: null as string | null, chars: 0, problem: 0, problem2: 0, fp: 0, lead: 0, textKey: 0 };

/** `leadPrefix` is about to hold another request's lead-in: what `question` found is gone. */
export function forgetQuestion(): void {
  question.text = null;
}

/**
 * Read a one-message single-shot question (a user message's `text`, `chars` long as recorded) in
 * one pass: `problemKeys(text)`, `itemFp(text, chars)`, `textKey(text)` and the lead-in hashes
 * `leadHashes` makes of a request of that one user message, into `question` and `leadPrefix`.
 */
export function readQuestion(text: string, chars: number): void {
  const n = text.length;
  const problemEnd = Math.min(n, PROBLEM_READ_CHARS);
  const fpEnd = Math.min(n, ITEM_FP_MAX_READ);
  const leadEnd = Math.min(n, LEAD_CHARS);
  const prefix = leadPrefix;
  // problemKeys' state: the word being hashed, the two before it, the four minimums.
  let w0 = 0, w1 = 0, h = 0x811c9dc5, inWord = false, words = 0, trigrams = 0;
  let m0 = 0xffffffff, m1 = 0xffffffff, m2 = 0xffffffff, m3 = 0xffffffff;
  // itemFp's hash (white space left out) and the lead-in's (every character).
  let fp = 0x811c9dc5;
  let lead = USER_SEED;
  // textKey's (harvest-yield.ts: the payload's key): its length, then every `step`th character.
  const step = n <= TEXT_KEY_SAMPLES ? 1 : Math.floor(n / TEXT_KEY_SAMPLES);
  let key = (0x811c9dc5 ^ n) >>> 0; let sample = 0;
  let i = 0;
  for (; i <= problemEnd; i++) {
    // Past the question's part problemKeys reads, a space closes its last word (as problemKeys does).
    const c = i < problemEnd ? charCodeAt(text, i) : 0x20;
    if (i < problemEnd) {
      if (i === sample) { key = Math.imul(key ^ c, FNV_PRIME); sample += step; }
      lead = Math.imul(lead ^ c, FNV_PRIME);
      prefix[i + 1] = (lead >>> 0) || 1;
      if (c > 32 || (c !== 32 && c !== 9 && c !== 10 && c !== 13)) fp = Math.imul(fp ^ c, FNV_PRIME);
    }
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c > 0x7f) {
      h = Math.imul(h ^ (c >= 0x41 && c <= 0x5a ? c + 32 : c), FNV_PRIME);
      inWord = true;
      continue;
    }
    if (!inWord) continue;
    inWord = false;
    words++;
    if (words >= 3) {
      const t = Math.imul(w0 ^ Math.imul(w1, 0x5bd1e995) ^ Math.imul(h, 0x1b873593), FNV_PRIME);
      trigrams++;
      const a = Math.imul(t ^ 0x9e3779b1, 0x85ebca6b) >>> 0; if (a < m0) m0 = a;
      const b = Math.imul(t ^ 0x85ebca6b, 0xc2b2ae35) >>> 0; if (b < m1) m1 = b;
      const d = Math.imul(t ^ 0xc2b2ae35, 0x27d4eb2f) >>> 0; if (d < m2) m2 = d;
      const e = Math.imul(t ^ 0x27d4eb2f, 0x165667b1) >>> 0; if (e < m3) m3 = e;
    }
    w0 = w1; w1 = h; h = 0x811c9dc5;
  }
  // The rest: the fingerprint's and the lead-in's characters past problemKeys' part.
  for (i = problemEnd; i < leadEnd; i++) {
    const c = charCodeAt(text, i);
    if (i === sample) { key = Math.imul(key ^ c, FNV_PRIME); sample += step; }
    lead = Math.imul(lead ^ c, FNV_PRIME);
    prefix[i + 1] = (lead >>> 0) || 1;
    if (i < fpEnd && (c > 32 || (c !== 32 && c !== 9 && c !== 10 && c !== 13))) fp = Math.imul(fp ^ c, FNV_PRIME);
  }
  // A text longer than the lead-in: the key's samples past it.
  for (; sample < n; sample += step) key = Math.imul(key ^ charCodeAt(text, sample), FNV_PRIME);
  question.text = text;
  question.textKey = (key >>> 0) || 1;
  question.chars = chars;
  question.problem = trigrams < PROBLEM_MIN_TRIGRAMS ? 0 : (Math.imul(m0, FNV_PRIME) ^ m1) >>> 0 || 1;
  question.problem2 = trigrams < PROBLEM_MIN_TRIGRAMS ? 0 : (Math.imul(m2, FNV_PRIME) ^ m3) >>> 0 || 1;
  question.fp = chars < ITEM_FP_MIN_CHARS || n < ITEM_FP_MIN_CHARS ? 0 : (Math.imul(fp ^ chars, FNV_PRIME) >>> 0) || 1;
  question.lead = leadEnd;
}
