/**
 * Which answers Warden served to which account: a Bloom filter over (account, answer fingerprint)
 * pairs in two generations of fixed size, so memory does not grow with accounts or events. New
 * pairs go into the current generation; once it holds `capacity` pairs the older one is cleared
 * and becomes the current one, so a pair is remembered for between one and two generations' worth
 * of served answers (all accounts together). A lookup may say yes to a pair never added (the
 * false-positive rate, below 1% at the default sizes), never no to one added in either generation.
 *
 * Besides the answers, each account whose events carry fingerprints has a marker pair (answer 0):
 * only for those is assistant text matching no served answer read as made up (older logs, and
 * gateways that do not record `answer_fp`, behave as before).
 */
import { fnv1a, type ServedAnswerLookup } from './features.ts';
import type { SentRequests } from './standing-input.ts';

/** Bit positions set for each pair. */
const PROBES = 4;
/**
 * Requests one serving of an answer may come before, as the last answer of their history, and
 * still make them conversations: a person sends a follow-up, edits the question a few times; a
 * client retries. A harvester replaying one answer before every question sends it back hundreds
 * of times. Each time the same answer is served again (a model that greets every new chat alike)
 * it may be followed as often again.
 */
export const FOLLOW_MAX = 8;
/** Servings of one answer counted; an answer served this often is read by length. */
const SERVES_MAX = 64;

export class ServedAnswers implements ServedAnswerLookup, SentRequests {
  private current: Uint32Array;
  private older: Uint32Array;
  private mask: number;
  private added = 0;
  /** Pairs a generation holds before it is retired. */
  readonly capacity: number;
  /** The account `select` chose, hashed, and whether it carries fingerprints. */
  private account = 0;
  carries = false;

  /**
   * `bitsLog2`: bits of each generation (2^23 = 1 MiB). `capacity`: pairs a generation takes
   * before rotating (default: one for every 16 bits, about 0.24% false positives a generation,
   * 0.5% for the two).
   */
  constructor(bitsLog2 = 23, capacity?: number) {
    if (!Number.isInteger(bitsLog2) || bitsLog2 < 10 || bitsLog2 > 31) throw new RangeError('bitsLog2 must be an integer from 10 to 31');
    const words = 2 ** (bitsLog2 - 5);
    this.current = new Uint32Array(words);
    this.older = new Uint32Array(words);
    this.mask = 2 ** bitsLog2 - 1;
    this.capacity = capacity ?? 2 ** (bitsLog2 - 4);
  }

  /** Bytes held: both generations, whatever was added. */
  get bytes(): number { return this.current.byteLength + this.older.byteLength; }

  /** Pairs in the current generation. */
  get size(): number { return this.added; }

  /** Hash of an account id, the `account` argument of the methods below. */
  static accountKey(accountId: string): number { return fnv1a(accountId) || 1; }

  /** Make `has` and `carries` answer for this account; returns the lookup. */
  select(account: number): ServedAnswerLookup {
    this.account = account;
    this.carries = this.contains(account, 0);
    return this;
  }

  has(fp: number): boolean { return fp !== 0 && this.contains(this.account, fp); }

  /**
   * Count one more request after answer `fp` of the selected account: pairs (account, k-th
   * follow-up of fp's latest serving) for k up to FOLLOW_MAX, in the same filter. False once all
   * are there; null for an answer served SERVES_MAX times or more (the account's habitual line,
   * read by length as before the record).
   */
  follow(fp: number): boolean | null {
    const serving = this.servings(this.account, fp);
    // Served to the account this often (an agent's "Let me check."): a line of its own, by length.
    if (serving >= SERVES_MAX) return null;
    for (let k = 1; k <= FOLLOW_MAX; k++) {
      const key = derivedKey(fp, serving * FOLLOW_MAX + k, 0);
      if (!this.contains(this.account, key)) { this.insert(this.account, key); return true; }
    }
    return false;
  }

  /** Record that `fp` was served to `account` (and that its events carry fingerprints). */
  add(account: number, fp: number): void {
    if (!this.containsIn(this.current, account, 0)) this.insert(account, 0);
    if (fp !== 0) this.remember(account, fp);
  }

  /**
   * The selected account sent a request whose messages hash to `key` (standing-input.ts): a pair
   * of its own in the same filter, counted as answers are (servings and follow-ups), without the
   * fingerprint marker.
   */
  recordSent(key: number): void { this.remember(this.account, derivedKey(key, SENT_TAG, 0)); }

  /** One more request of the selected account going on from the one whose messages hash to `key` (see `SentRequests`). */
  followSent(key: number): boolean | null {
    const k = derivedKey(key, SENT_TAG, 0);
    if (!this.contains(this.account, k)) return null;
    // Sent that often (an application's fixed first message): what follows it is not read as going on.
    return this.follow(k) === true;
  }

  /** One more serving of `fp` to `account` (the first: the pair itself). */
  private remember(account: number, fp: number): void {
    if (!this.contains(account, fp)) { this.insert(account, fp); return; }
    if (!this.containsIn(this.current, account, fp)) this.insert(account, fp);
    // Served again: one more serving, and as many follow-ups again.
    const n = this.servings(account, fp);
    if (n < SERVES_MAX) this.insert(account, derivedKey(fp, SERVE_TAG, n + 1));
  }

  /** How many times more than once `fp` was served to `account` (up to SERVES_MAX). */
  private servings(account: number, fp: number): number {
    let n = 0;
    while (n < SERVES_MAX && this.contains(account, derivedKey(fp, SERVE_TAG, n + 1))) n++;
    return n;
  }

  private insert(account: number, fp: number): void {
    if (this.added >= this.capacity) {
      const t = this.older; this.older = this.current; this.current = t;
      this.current.fill(0);
      this.added = 0;
    }
    let h1 = pairHash(account, fp); const h2 = secondHash(h1);
    const bits = this.current;
    for (let k = 0; k < PROBES; k++, h1 = (h1 + h2) >>> 0) {
      const b = h1 & this.mask;
      bits[b >>> 5] |= 1 << (b & 31);
    }
    this.added++;
  }

  private contains(account: number, fp: number): boolean {
    return this.containsIn(this.current, account, fp) || this.containsIn(this.older, account, fp);
  }

  private containsIn(bits: Uint32Array, account: number, fp: number): boolean {
    let h1 = pairHash(account, fp); const h2 = secondHash(h1);
    for (let k = 0; k < PROBES; k++, h1 = (h1 + h2) >>> 0) {
      const b = h1 & this.mask;
      if ((bits[b >>> 5] & (1 << (b & 31))) === 0) return false;
    }
    return true;
  }
}

/** `derivedKey`'s tag for servings (follow-ups use 0). */
const SERVE_TAG = 0x7fffffff;
/** `derivedKey`'s tag for the requests an account sent (standing-input.ts), apart from the answers it was served. */
const SENT_TAG = 0x7ffffffe;

/**
 * The pseudo-fingerprint of answer `fp`'s n-th serving (`derivedKey(fp, SERVE_TAG, n)`) or of a
 * follow-up (`derivedKey(fp, slot, 0)`); never 0, the marker.
 */
function derivedKey(fp: number, a: number, b: number): number {
  let h = Math.imul(fp ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(a, 0x7feb352d) ^ Math.imul(b + 0x3c6ef372, 0x2c1b3c6d);
  h ^= h >>> 15; h = Math.imul(h, 0x846ca68b); h ^= h >>> 16;
  return (h >>> 0) || 1;
}

/** A well-mixed 32-bit hash of the pair (murmur3's finaliser over both words). */
function pairHash(account: number, fp: number): number {
  let h = Math.imul(account ^ 0x9e3779b9, 0x85ebca6b) ^ fp;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h ^ Math.imul(fp, 0x27d4eb2d), 0x165667b1);
  h ^= h >>> 15;
  return h >>> 0;
}

/** The step between probes: odd, from other bits of the first hash. */
function secondHash(h: number): number {
  let x = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  x ^= x >>> 12; x = Math.imul(x, 0x297a2d39);
  x ^= x >>> 15;
  return (x | 1) >>> 0;
}
