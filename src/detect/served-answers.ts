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

/** Bit positions set for each pair. */
const PROBES = 4;

export class ServedAnswers implements ServedAnswerLookup {
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

  /** Record that `fp` was served to `account` (and that its events carry fingerprints). */
  add(account: number, fp: number): void {
    if (!this.containsIn(this.current, account, 0)) this.insert(account, 0);
    if (fp !== 0 && !this.containsIn(this.current, account, fp)) this.insert(account, fp);
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
