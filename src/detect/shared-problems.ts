/**
 * Problems members of a cluster ask each other's: whether the opening questions of an
 * institution's cluster repeat across its members.
 *
 * A class works the same few problems (a course's exercise sheet, the same for everyone): across
 * its members the questions that open a conversation repeat, pasted as printed, retyped with a
 * typo, or wrapped in "can you help me with this". A harvest needs distinct items (a dataset is
 * worth its diversity): across a fleet's members the opening questions rarely repeat. Each opening
 * question (a single-shot request, or a conversation's turn that moves on to a new reasoning item) is
 * keyed by two bands of a MinHash of its word trigrams (two minimum hashes each, over its first
 * READ_CHARS characters), so a wrapper or a typo keeps most variants on one key while two
 * different problems that share a phrase ("explain step by step") rarely share both minimums.
 * `ProblemOwners` remembers which account asked each recent key; an opening question is shared
 * when either of its keys is held by another member of the asking account's cluster or another
 * account of its email domain (a class's first lab asks before its links are made; the engine's
 * sharedProblem). A key held by any other account passes to the asker: an item a class and a stranger both ask
 * (a popular benchmark question, a textbook exercise) counts for the class from its second member
 * on, and for a fleet only when two of its own members ask it. The share is read over a
 * cluster's window (C.OPENERS, C.SHARED_OPENERS, summed as every counter is), bounded memory per
 * cluster; the table is one fixed size for the whole detector.
 */
import { charCodeAt } from '../events/index.ts';

/** Characters of an opening question read for its keys: a problem's statement, not a pasted document. */
export const PROBLEM_READ_CHARS = 600;
const READ_CHARS = PROBLEM_READ_CHARS;
/** Fewest word trigrams for a key: shorter questions ("hi", "what is 2+2") collide by chance. */
export const PROBLEM_MIN_TRIGRAMS = 6;
const MIN_TRIGRAMS = PROBLEM_MIN_TRIGRAMS;
/** Seeds of the four minimum hashes (two bands of two; question-pass.ts reads a question with the same). */
const SCRAMBLE = [0x9e3779b1, 0x85ebca6b, 0xc2b2ae35, 0x27d4eb2f];

const isWordChar = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c > 0x7f;

/**
 * The two band keys of an opening question (0, 0 when it has fewer than MIN_TRIGRAMS word
 * trigrams), written into `out`. Words are letters and digits, case folded.
 */
export function problemKeys(text: string, out: Uint32Array): void {
  out[0] = 0; out[1] = 0;
  const n = Math.min(text.length, READ_CHARS);
  let w0 = 0, w1 = 0, h = 0x811c9dc5, inWord = false, words = 0, trigrams = 0;
  let m0 = 0xffffffff, m1 = 0xffffffff, m2 = 0xffffffff, m3 = 0xffffffff;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? charCodeAt(text, i) : 0x20;
    if (isWordChar(c)) {
      h = Math.imul(h ^ (c >= 0x41 && c <= 0x5a ? c + 32 : c), 0x01000193);
      inWord = true;
      continue;
    }
    if (!inWord) continue;
    inWord = false;
    words++;
    if (words >= 3) {
      const t = Math.imul(w0 ^ Math.imul(w1, 0x5bd1e995) ^ Math.imul(h, 0x1b873593), 0x01000193);
      trigrams++;
      const a = Math.imul(t ^ SCRAMBLE[0], 0x85ebca6b) >>> 0; if (a < m0) m0 = a;
      const b = Math.imul(t ^ SCRAMBLE[1], 0xc2b2ae35) >>> 0; if (b < m1) m1 = b;
      const d = Math.imul(t ^ SCRAMBLE[2], 0x27d4eb2f) >>> 0; if (d < m2) m2 = d;
      const e = Math.imul(t ^ SCRAMBLE[3], 0x165667b1) >>> 0; if (e < m3) m3 = e;
    }
    w0 = w1; w1 = h; h = 0x811c9dc5;
  }
  if (trigrams < MIN_TRIGRAMS) return;
  out[0] = (Math.imul(m0, 0x01000193) ^ m1) >>> 0 || 1;
  out[1] = (Math.imul(m2, 0x01000193) ^ m3) >>> 0 || 1;
}

/**
 * Which account first asked each recent opening-question key: a direct-mapped table of
 * 2^slotsLog2 entries (the key and the account's index: 8 bytes an entry, 512 KiB at the default
 * 2^16), a newer key taking the slot of an older one.
 */
export class ProblemOwners {
  private keys: Uint32Array;
  private owners: Int32Array;
  private shift: number;

  constructor(slotsLog2 = 16) {
    this.keys = new Uint32Array(2 ** slotsLog2);
    this.owners = new Int32Array(2 ** slotsLog2);
    this.shift = 32 - slotsLog2;
  }

  get bytes(): number { return this.keys.byteLength + this.owners.byteLength; }

  /** The account that asked key `k` first (or last took it over), -1 when none is remembered. */
  ownerOf(k: number): number {
    const s = Math.imul(k, 0x9e3779b1) >>> this.shift;
    return this.keys[s] === k ? this.owners[s] : -1;
  }

  /** Make account `i` the owner of key `k` (a newer key taking the slot of an older one). */
  claim(k: number, i: number): void {
    const s = Math.imul(k, 0x9e3779b1) >>> this.shift;
    this.keys[s] = k;
    this.owners[s] = i;
  }
}
