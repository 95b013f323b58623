/**
 * Answers pasted across accounts, and grading without reasoning: single-account tests whose
 * evidence is read across accounts or from the requests' form.
 *
 * - **Answers checked across accounts** (a question/verify split): one set of accounts asks the
 *   questions, another sends the answers the first were served back for a check, so that no
 *   account shows both halves. Warden sees both: the answers it served (their `answer_fp`, the
 *   start of each answer's text) and the requests' text. `AnswerOwners` remembers which account
 *   each recent answer was served to (a fixed table, newer answers taking older ones' slots). A
 *   request whose current turn has one of them pasted in (at the start of a line, or after a
 *   label such as "Answer:") while it was served to another account counts on both sides: the
 *   account that pasted it (`verifyingPass`) and the account it was served to (`askedPass`).
 *   There are three tests in all, each letting one account reach throttle (the engine's
 *   `scoreAccount`): these two and the grading test.
 * - **Grading without reasoning** (reward-model data): items scored against a rubric, the score
 *   taken back and nothing else: most requests single-shot with a rubric, their answers a score
 *   and a sentence (no feedback, no reasoning).
 */
import { answerFpOf, charCodeAt, type InteractionEvent } from '../events/index.ts';
import { round } from './scoring.ts';
import type { VerdictReason } from './verdict.ts';

/** An owner slot whose answer was served to two accounts or more (a common answer: not evidence). */
const SHARED = -2;
/** Line starts (and labelled starts) of a turn read for pasted answers; the turn's first 8,000 characters. */
const MAX_STARTS = 48;
const MAX_READ = 8000;
/** A label before a pasted answer on its own line ("Answer: ...", "Model's answer: ..."): its colon within this many characters of the line's start. */
const LABEL_MAX = 40;

/**
 * Which account each recent answer was served to: a direct-mapped table of 2^slotsLog2 entries (the answer fingerprint, the account's index and a
 * hash of its id, 12 bytes an entry, 3 MiB at the default 2^18), a newer answer taking the slot of
 * an older one. An answer served to two accounts (a common opening) is marked shared and read as
 * no one's.
 */
export class AnswerOwners {
  private fps: Uint32Array;
  private owners: Int32Array;
  private keys: Uint32Array;
  private shift: number;
  size = 0;

  constructor(slotsLog2 = 18) {
    const n = 2 ** slotsLog2;
    this.fps = new Uint32Array(n);
    this.owners = new Int32Array(n);
    this.keys = new Uint32Array(n);
    this.shift = 32 - slotsLog2;
  }

  get bytes(): number { return this.fps.byteLength + this.owners.byteLength + this.keys.byteLength; }

  private slot(fp: number): number { return Math.imul(fp, 0x9e3779b1) >>> this.shift; }

  /** `fp` was served to account `i` (whose id hashes to `key`). */
  record(fp: number, i: number, key: number): void {
    const s = this.slot(fp);
    if (this.fps[s] === fp) {
      if (this.owners[s] !== i || this.keys[s] !== key) this.owners[s] = SHARED;
      return;
    }
    if (this.fps[s] === 0) this.size++;
    this.fps[s] = fp; this.owners[s] = i; this.keys[s] = key;
  }

  /** The account `fp` was served to and its id's hash, or null (not held, or served to several). */
  owner(fp: number): { i: number; key: number } | null {
    const s = this.slot(fp);
    if (this.fps[s] !== fp || this.owners[s] < 0) return null;
    return { i: this.owners[s], key: this.keys[s] };
  }
}

/**
 * Fingerprints of the texts starting in the current turn of `ev` where a pasted answer may start:
 * the turn's start, each line's first visible character, and the text after a short label ending
 * in a colon or a bracket at a line's start. At most MAX_STARTS, over its first MAX_READ characters.
 */
export function pastedCandidates(ev: InteractionEvent, out: number[]): number[] {
  out.length = 0;
  const msgs = ev.request.messages;
  let text: string | null = null;
  let chars = 0;
  for (let k = msgs.length - 1; k >= 0; k--) {
    if (msgs[k].role === 'assistant') break;
    if (msgs[k].role === 'user' && msgs[k].text) { text = msgs[k].text!; chars = msgs[k].chars ?? text.length; break; }
  }
  if (!text || text.length < 64) return out;
  const end = Math.min(text.length, MAX_READ);
  const full = end < text.length ? end : chars;
  const body = end < text.length ? text.slice(0, end) : text;
  const add = (at: number) => { const fp = answerFpOf(body, full, at); if (fp !== 0 && !out.includes(fp)) out.push(fp); };
  let line = 0;
  while (line < end && out.length < MAX_STARTS) {
    let p = line;
    while (p < end && (charCodeAt(text, p) === 32 || charCodeAt(text, p) === 9)) p++;
    const nl = text.indexOf('\n', p);
    const stop = nl < 0 || nl > end ? end : nl;
    if (stop - p >= 8) {
      add(p);
      // "Answer: To solve...", "[Answer] To solve...": the text after a short label.
      for (let q = p; q < Math.min(stop, p + LABEL_MAX); q++) {
        const c = charCodeAt(text, q);
        if ((c === 58 || c === 93) && q + 1 < stop) { add(q + 1); break; }
      }
    }
    line = stop + 1;
  }
  return out;
}

/**
 * Columns an account holds: [turns with another account's answer pasted, requests, own answers
 * pasted by others, single-shot rubric requests (graded items), their output tokens].
 */
export const PASTE_COLUMNS = 5;
/**
 * Bit sets of distinct accounts (hashed to 32 bins), each in two generations (the current span's
 * and the one before): [whose answers it pasted, before; who pasted its answers, before].
 */
export const PASTE_BITS = 4;
/** Requests over which the shares are counted: halved past this many, so they follow what the account does now. */
const PASTE_SPAN = 64;

export const PASTED = {
  /** Requests read, and the share of them carrying an answer served to another account. */
  minRequests: 25, verifyShare: 0.5, minSources: 5,
  /** An account's answers pasted by others: how many (in its counted span), their share of its requests, and distinct accounts that pasted them. */
  minAsked: 10, askedShare: 0.25, minPasters: 3,
};

/** Bit of an account's id hash in a distinct-accounts set. */
export function accountBit(key: number): number { return 1 << (Math.imul(key, 0x45d9f3b) >>> 27); }

export function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

/**
 * Count one request of account i (pasted: whether it carries another account's answer, from the
 * account hashed to `from`; graded: whether it is a single-shot rubric request, `output` its
 * output tokens).
 */
export function observePasting(count: Float32Array, bits: Uint32Array, i: number, pasted: boolean, from: number, graded: boolean, output: number): void {
  const c = i * PASTE_COLUMNS;
  const b = i * PASTE_BITS;
  if (pasted) { count[c] += 1; bits[b] |= accountBit(from); }
  if (graded) { count[c + 3] += 1; count[c + 4] += output; }
  count[c + 1] += 1;
  if (count[c + 1] >= PASTE_SPAN) {
    for (let k = 0; k < PASTE_COLUMNS; k++) count[c + k] /= 2;
    bits[b + 1] = bits[b]; bits[b] = 0; bits[b + 3] = bits[b + 2]; bits[b + 2] = 0;
  }
}

/** Account o's answer was pasted by the account hashed to `by`. */
export function observePasted(count: Float32Array, bits: Uint32Array, o: number, by: number): void {
  count[o * PASTE_COLUMNS + 2] += 1;
  bits[o * PASTE_BITS + 2] |= accountBit(by);
}

export interface PasteReadings { requests: number; pasted: number; sources: number; asked: number; pasters: number }

export function pasteReadings(count: Float32Array, bits: Uint32Array, i: number): PasteReadings {
  const c = i * PASTE_COLUMNS;
  const b = i * PASTE_BITS;
  return { requests: count[c + 1], pasted: count[c], sources: popcount(bits[b] | bits[b + 1]), asked: count[c + 2], pasters: popcount(bits[b + 2] | bits[b + 3]) };
}

/** The verifying half: most of its requests check answers served to several other accounts. */
export function verifyingPass(r: PasteReadings): boolean {
  return r.requests >= PASTED.minRequests && r.pasted / r.requests >= PASTED.verifyShare && r.sources >= PASTED.minSources;
}

/** The asking half: many of its answers sent back for a check by several other accounts. */
export function askedPass(r: PasteReadings): boolean {
  return r.asked >= PASTED.minAsked && r.requests > 0 && r.asked / r.requests >= PASTED.askedShare && r.pasters >= PASTED.minPasters;
}

export function verifyingReasons(r: PasteReadings): VerdictReason[] {
  return [
    { signal: 'answers_checked_test', value: 'pass', threshold: null, detail: 'most requests send back answers Warden served to other accounts, for a check: the verifying half of a question/verify split, from an account with no programme, campus domain, enterprise contract or corroborated org' },
    { signal: 'pasted_answer_requests', value: round(r.requests), threshold: PASTED.minRequests },
    { signal: 'pasted_answer_share', value: round(r.pasted / r.requests), threshold: PASTED.verifyShare, detail: 'share of its requests whose turn carries an answer served to another account (the answer\'s first 64 visible characters)' },
    { signal: 'pasted_answer_sources', value: r.sources, threshold: PASTED.minSources, detail: 'distinct accounts whose answers it sent back (counted in 32 hashed bins: a lower bound)' },
  ];
}

export function askedReasons(r: PasteReadings): VerdictReason[] {
  return [
    { signal: 'answers_checked_elsewhere_test', value: 'pass', threshold: null, detail: 'many of the answers this account was served were sent back for a check by other accounts: the asking half of a question/verify split, from an account with no programme, campus domain, enterprise contract or corroborated org' },
    { signal: 'answers_pasted_elsewhere', value: round(r.asked), threshold: PASTED.minAsked },
    { signal: 'answers_pasted_elsewhere_share', value: round(r.requests > 0 ? r.asked / r.requests : 0), threshold: PASTED.askedShare, detail: 'answers pasted by other accounts, per request of its own' },
    { signal: 'answers_pasted_by_accounts', value: r.pasters, threshold: PASTED.minPasters, detail: 'distinct accounts that pasted them (32 hashed bins: a lower bound)' },
  ];
}

/**
 * Grading without reasoning: requests counted (PASTE_SPAN), the share of them that are single-shot
 * rubric requests (graded items), and the most output a graded item may take on average (a score
 * and a sentence, not feedback). A teacher's rubric with feedback for the student, an evaluation
 * run's judge that explains first, take more.
 */
export const GRADING = { minRequests: 25, gradedShare: 0.6, maxOutputTokens: 100, maxResent: 0.5 };

export interface GradingReadings { requests: number; graded: number; output: number }

/** The readings of the grading test for account i: `output`, output tokens per graded item. */
export function gradingReadings(count: Float32Array, i: number): GradingReadings {
  const c = i * PASTE_COLUMNS;
  return { requests: count[c + 1], graded: count[c + 3], output: count[c + 3] > 0 ? count[c + 4] / count[c + 3] : 0 };
}

export function gradingPass(g: GradingReadings): boolean {
  return g.requests >= GRADING.minRequests && g.graded / g.requests >= GRADING.gradedShare && g.output <= GRADING.maxOutputTokens;
}

export function gradingReasons(g: GradingReadings, resent: number): VerdictReason[] {
  return [
    { signal: 'grading_test', value: 'pass', threshold: null, detail: 'item after item scored against a rubric, single-shot, a score taken back without feedback or reasoning: reward-model data, from an account with no programme, campus domain, enterprise contract or corroborated org, re-sending no items' },
    { signal: 'grading_requests', value: round(g.requests), threshold: GRADING.minRequests },
    { signal: 'grading_share', value: round(g.graded / g.requests), threshold: GRADING.gradedShare, detail: 'single-shot requests with a rubric (the rubric lexicon), per request' },
    { signal: 'grading_output_tokens', value: round(g.output), threshold: GRADING.maxOutputTokens, detail: 'at most, per graded request: a score and a sentence, not feedback' },
    { signal: 'grading_resent_share', value: round(resent), threshold: GRADING.maxResent, detail: 'below: each request a new item (an evaluation run re-sends its items)' },
  ];
}
