/**
 * Served-answer fingerprints (`response.answer_fp`): a short hash of the start of the answer text
 * the client received, so a later request that sends that answer back in its history can be told
 * from one carrying text the model never gave this account. The gateway hashes the answer it
 * served, the detector hashes a request's assistant messages, the same way.
 *
 * What is hashed is the first `ANSWER_FP_CHARS` visible characters: whitespace and invisible
 * format characters are skipped, so a client that trims the answer, re-wraps it or joins its
 * text blocks with other line breaks sends back the same fingerprint; the start is what an event
 * keeps of a long message. A plain hash, not a keyed one: `warden scan` computes it from exported
 * events with no secret, and the event already holds the answer's text in the next turn.
 */
import { charCodeAt } from './chars.ts';

/** Visible characters of an answer's start that its fingerprint covers. */
export const ANSWER_FP_CHARS = 64;

/** Whitespace and invisible format characters (zero-width, joiners, BOM, soft hyphen): not hashed. */
function invisible(c: number): boolean {
  if (c <= 32) return true;
  if (c < 0x85) return false;
  return c === 0x85 || c === 0xa0 || c === 0xad || c === 0x1680 || (c >= 0x2000 && c <= 0x200f) || c === 0x2028 || c === 0x2029
    || c === 0x202f || c === 0x205f || (c >= 0x2060 && c <= 0x2064) || c === 0x3000 || c === 0xfeff;
}

/**
 * The fingerprint of an answer's text as a 32-bit number: FNV-1a over its first `ANSWER_FP_CHARS`
 * visible characters (from `start`: an answer pasted inside a longer text). 0 when there is
 * nothing visible, or when `text` was cut from a longer message (`chars`, its full length) before
 * that many: its start cannot be compared then.
 */
export function answerFpOf(text: string, chars = text.length, start = 0): number {
  let h = 0x811c9dc5;
  let seen = 0;
  for (let i = start; i < text.length && seen < ANSWER_FP_CHARS; i++) {
    const c = charCodeAt(text, i);
    if (invisible(c)) continue;
    h ^= c; h = Math.imul(h, 0x01000193);
    seen++;
  }
  if (seen === 0 || (seen < ANSWER_FP_CHARS && chars > text.length)) return 0;
  return (h >>> 0) || 1;
}

/** `response.answer_fp` of an answer's text: 8 hex digits, or null when it has no visible text. */
export function answerFingerprint(text: string): string | null {
  const h = answerFpOf(text);
  return h === 0 ? null : h.toString(16).padStart(8, '0');
}

/** The number of a recorded `answer_fp` (0 when absent or malformed). */
export function parseAnswerFp(fp: string | null | undefined): number {
  if (!fp) return 0;
  const h = parseInt(fp, 16);
  return Number.isFinite(h) ? h >>> 0 : 0;
}
