/**
 * Items asked in pairs across accounts (preference-pair harvest): a single-account test whose
 * evidence is read across accounts.
 *
 * Preference data (DPO pairs) needs two answers to one prompt. A campaign that spreads its accounts
 * so that nothing links them can still not hide that each item it asks is asked again, word for
 * word, by one other account, one asking at a low temperature and the other at a high one. The
 * accounts of a fleet pair up at random: each of them shares items with many of the others.
 * `ItemOwners` remembers which account first asked each recent single-shot question (its whole
 * text hashed, with the temperature it was asked at); the next account to ask it word for word
 * makes a pair, counted on both sides; a third asker marks it common (a class's homework, a
 * popular benchmark item), and it counts for no one after.
 *
 * What does not pass: a researcher comparing temperatures on one account (its own items are not
 * counted), two researchers running the same public benchmark (one partner each), a class doing
 * the same problems (each problem a pair once, then common), a developer sending the same test
 * prompts from a staging and a production account (one partner), people who leave the temperature
 * unset (no temperature split).
 */
import { charCodeAt } from '../events/index.ts';
import { round } from './scoring.ts';
import { accountBit, popcount } from './pasted-answers.ts';
import type { VerdictReason } from './verdict.ts';

/** An owner slot whose item was asked by two accounts already (paired, or common): no more pairs from it. */
const TAKEN = -2;
/** A temperature not set on the request (the provider's default, unknown here). */
const UNSET = -1;
/** Shortest question read (characters): shorter ones collide by chance ("hello", "thanks"). */
export const ITEM_FP_MIN_CHARS = 64;
const MIN_CHARS = ITEM_FP_MIN_CHARS;
/** Characters of a turn hashed. */
export const ITEM_FP_MAX_READ = 8000;
const MAX_READ = ITEM_FP_MAX_READ;

/**
 * Which account first asked each recent single-shot question: a direct-mapped table of 2^slotsLog2
 * entries (the question's hash, the account's index, a hash of its id and the temperature, in
 * tenths, it was asked at: 13 bytes an entry, 1.6 MiB at the default 2^17), a newer question taking
 * the slot of an older one.
 */
export class ItemOwners {
  private fps: Uint32Array;
  private owners: Int32Array;
  private keys: Uint32Array;
  private temps: Int8Array;
  private shift: number;
  size = 0;

  constructor(slotsLog2 = 17) {
    const n = 2 ** slotsLog2;
    this.fps = new Uint32Array(n);
    this.owners = new Int32Array(n);
    this.keys = new Uint32Array(n);
    this.temps = new Int8Array(n);
    this.shift = 32 - slotsLog2;
  }

  get bytes(): number { return this.fps.byteLength + this.owners.byteLength + this.keys.byteLength + this.temps.byteLength; }

  private slot(fp: number): number { return Math.imul(fp, 0x9e3779b1) >>> this.shift; }

  /**
   * Account `i` (its id hashed to `key`) asks the question `fp` at temperature `temp` (tenths, or
   * UNSET). Returns the account it pairs with and the temperature that one asked at, or null: a new
   * question (now `i`'s), `i`'s own again, or one already asked by two accounts.
   */
  ask(fp: number, i: number, key: number, temp: number): { i: number; key: number; temp: number } | null {
    const s = this.slot(fp);
    if (this.fps[s] === fp) {
      const o = this.owners[s];
      if (o === TAKEN || (o === i && this.keys[s] === key)) return null;
      const pair = { i: o, key: this.keys[s], temp: this.temps[s] };
      this.owners[s] = TAKEN;
      return pair;
    }
    if (this.fps[s] === 0) this.size++;
    this.fps[s] = fp; this.owners[s] = i; this.keys[s] = key; this.temps[s] = temp;
    return null;
  }
}

/**
 * Hash of a single-shot question's text (its visible characters, first MAX_READ, and its full
 * length), or 0 when too short to tell apart. A question read by question-pass.ts has it there already.
 */
export function itemFp(text: string, chars: number): number {
  if (chars < MIN_CHARS || text.length < MIN_CHARS) return 0;
  let h = 0x811c9dc5;
  const end = Math.min(text.length, MAX_READ);
  for (let k = 0; k < end; k++) {
    const c = charCodeAt(text, k);
    if (c <= 32 && (c === 32 || c === 9 || c === 10 || c === 13)) continue;
    h ^= c; h = Math.imul(h, 0x01000193);
  }
  h ^= chars; h = Math.imul(h, 0x01000193);
  return (h >>> 0) || 1;
}

/** A request's temperature in tenths (0-20), or UNSET. */
export function tempTenths(t: number | null | undefined): number {
  return typeof t === 'number' && Number.isFinite(t) ? Math.max(0, Math.min(20, Math.round(t * 10))) : UNSET;
}

/** Whether two askings' temperatures are both set and PAIRED.tempSplit or more apart. */
export function temperatureSplit(a: number, b: number): boolean {
  return a !== UNSET && b !== UNSET && Math.abs(a - b) >= PAIRED.tempSplit * 10;
}

/** Columns an account holds: [requests counted, its questions paired with another account's, those pairs asked at split temperatures]. */
export const PAIR_COLUMNS = 3;
/** Bit sets of the distinct accounts it paired with (32 hashed bins), in two generations (the current span's and the one before). */
export const PAIR_BITS = 2;
/** Requests over which the shares are counted: halved past this many, so they follow what the account does now. */
const PAIR_SPAN = 64;

export const PAIRED = {
  /** Requests counted; share of them asked word for word by one other account too; distinct partner accounts; share of the pairs at split temperatures; the split. */
  minRequests: 25, pairedShare: 0.5, minPartners: 5, splitShare: 0.5, tempSplit: 0.5,
};

/** Count one request of account i: `partner` the account hashed key it paired with (0: none), `split` whether the pair's temperatures were split. */
export function observePair(count: Float32Array, bits: Uint32Array, i: number, partner: number, split: boolean): void {
  const c = i * PAIR_COLUMNS;
  const b = i * PAIR_BITS;
  count[c] += 1;
  if (partner !== 0) { count[c + 1] += 1; if (split) count[c + 2] += 1; bits[b] |= accountBit(partner); }
  if (count[c] >= PAIR_SPAN) {
    for (let k = 0; k < PAIR_COLUMNS; k++) count[c + k] /= 2;
    bits[b + 1] = bits[b]; bits[b] = 0;
  }
}

/** Account o's earlier question was asked again by the account hashed to `by` (a pair on its side; no request of its own counted). */
export function observePaired(count: Float32Array, bits: Uint32Array, o: number, by: number, split: boolean): void {
  const c = o * PAIR_COLUMNS;
  count[c + 1] += 1;
  if (split) count[c + 2] += 1;
  bits[o * PAIR_BITS] |= accountBit(by);
}

export interface PairReadings { requests: number; paired: number; split: number; partners: number }

export function pairReadings(count: Float32Array, bits: Uint32Array, i: number): PairReadings {
  const c = i * PAIR_COLUMNS;
  const b = i * PAIR_BITS;
  // An account's questions asked again while it is idle count for it without requests of its own:
  // read at most one pair a request.
  const paired = Math.min(count[c + 1], count[c]);
  const split = count[c + 1] > 0 ? count[c + 2] * (paired / count[c + 1]) : 0;
  return { requests: count[c], paired, split, partners: popcount(bits[b] | bits[b + 1]) };
}

export function pairedPass(r: PairReadings): boolean {
  return r.requests >= PAIRED.minRequests && r.paired / r.requests >= PAIRED.pairedShare && r.partners >= PAIRED.minPartners
    && r.paired > 0 && r.split / r.paired >= PAIRED.splitShare;
}

export function pairedReasons(r: PairReadings): VerdictReason[] {
  return [
    { signal: 'paired_items_test', value: 'pass', threshold: null, detail: 'its questions asked word for word by one other account each, one at a low temperature and one at a high one: preference pairs harvested across accounts, from an account with no programme, campus domain, enterprise contract or corroborated org' },
    { signal: 'paired_item_requests', value: round(r.requests), threshold: PAIRED.minRequests },
    { signal: 'paired_item_share', value: round(r.paired / r.requests), threshold: PAIRED.pairedShare, detail: 'questions of its own (64 characters or more, single-shot) asked word for word by exactly one other account too, per request' },
    { signal: 'paired_item_partners', value: r.partners, threshold: PAIRED.minPartners, detail: 'distinct accounts it shares its questions with (32 hashed bins: a lower bound)' },
    { signal: 'paired_item_temperature_split', value: round(r.split / r.paired), threshold: PAIRED.splitShare, detail: `share of the pairs asked at temperatures ${PAIRED.tempSplit} or more apart, both set` },
  ];
}
