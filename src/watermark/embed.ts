/**
 * Embedding: rewrite text so every slot carries the key's preferred synonym. Whole texts and
 * streams give identical output: a stream holds back only the trailing partial chunk (at most one
 * word plus its punctuation) until whitespace or the end of the stream completes it.
 */
import { initialWalkState, matchCase, preferredMember, visitChunk, visitSpace, type WalkState } from './scheme.ts';

export interface EmbedStats {
  /** Whitespace-separated chunks seen. */
  words: number;
  /** Slots (lexicon words outside code). */
  slots: number;
  /** Slots whose word was replaced. */
  changed: number;
}

/**
 * A word the mark replaced with a synonym of another length: where its changed part starts in the
 * text as written (in code points, as the APIs count the offsets of citations into an answer), and
 * that part's length before and after (lexicon words: one unit a character either way).
 */
export interface TextEdit { at: number; from: number; to: number }

/** Where offset `p` of a text as written (code points) is in the marked text, given its `edits` in order. */
export function shiftOffset(edits: readonly TextEdit[], p: number): number {
  let shift = 0;
  for (const e of edits) {
    if (p >= e.at + e.from) shift += e.to - e.from;
    else if (p > e.at) return e.at + shift + Math.min(p - e.at, e.to);
    else break;
  }
  return p + shift;
}

const HIGH_SURROGATE = /[\uD800-\uDBFF]/;

/** Code points in `s` from 0 to `end` (UTF-16 units). */
function codePoints(s: string, end: number): number {
  let n = end;
  for (let i = 0; i < end; i++) { const c = s.charCodeAt(i); if (c >= 0xd800 && c <= 0xdbff) n--; }
  return n;
}

/** Streaming watermarker for one text (one content block / choice / output part). */
export class StreamingWatermarker {
  private pending = '';
  /** The replacements that changed a word's length, in order (null until one does). */
  private edits: TextEdit[] | null = null;
  /** Code points of the text as written that were processed (offsets of `edits` count from its start). */
  private consumed = 0;
  private readonly state: WalkState = initialWalkState();
  private readonly cache = new Map<string, string>();
  readonly stats: EmbedStats = { words: 0, slots: 0, changed: 0 };
  private readonly skipWords: number;
  private readonly proseOnly: boolean;
  /** The text did not open like prose (`proseOnly`): nothing is changed until a sentence opens like prose. */
  private off = false;
  /** While `off`: which word of a new sentence's opening is tested next (1 or 2; 0: none). */
  private reprobe = 0;
  /** Characters at the start of `pending` the reader already has (from `prime`). */
  private sent = 0;

  /**
   * `skipWords`: that many first words are never changed (they still give the next word its context).
   * `proseOnly`: unless those words read like the opening of a sentence, nothing is changed.
   */
  constructor(private readonly key: Uint8Array, opts: { skipWords?: number; proseOnly?: boolean } = {}) {
    this.skipWords = opts.skipWords ?? 0;
    this.proseOnly = opts.proseOnly ?? false;
  }

  /**
   * Walk text the reader already has (a prefill the answer continues), before any `push`: its
   * words are context and never changed, and a word it leaves open is completed unchanged.
   */
  prime(text: string): void {
    const buf = this.pending + text;
    let cut = buf.length;
    while (cut > 0 && !isSpace(buf.charCodeAt(cut - 1))) cut--;
    this.process(buf.slice(0, cut), true);
    this.pending = buf.slice(cut);
    this.sent = this.pending.length;
    // Offsets count from the answer's own text: the start of the held chunk is the reader's already.
    this.consumed = -codePoints(this.pending, this.pending.length);
  }

  /** Feed a delta; returns the text that can be sent now (possibly empty). */
  push(delta: string): string {
    const buf = this.pending + delta;
    let cut = buf.length;
    while (cut > 0 && !isSpace(buf.charCodeAt(cut - 1))) cut--;
    if (cut === 0) { this.pending = buf; return ''; }
    this.pending = buf.slice(cut);
    return this.process(buf.slice(0, cut));
  }

  /** End of text: returns whatever was held back, marked. */
  end(): string {
    const rest = this.pending;
    this.pending = '';
    return rest ? this.process(rest) : '';
  }

  /** Characters held back right now. */
  get held(): number { return this.pending.length; }

  /**
   * Where offset `p` (code points) of the text pushed so far is in the marked text. An offset in
   * the chunk still held back is placed as that chunk will be marked if it is complete (a citation
   * that ends on it ends a word); the held chunk itself stays held.
   */
  mapOffset(p: number): number {
    let edits = this.edits;
    if (this.pending && p > this.consumed) {
      const saved = { state: { ...this.state }, stats: { ...this.stats }, off: this.off, reprobe: this.reprobe, sent: this.sent, consumed: this.consumed, n: edits?.length ?? 0 };
      this.process(this.pending);
      edits = this.edits;
      const all = edits ? edits.slice() : null;
      Object.assign(this.state, saved.state);
      Object.assign(this.stats, saved.stats);
      this.off = saved.off;
      this.reprobe = saved.reprobe;
      this.sent = saved.sent;
      this.consumed = saved.consumed;
      if (this.edits) this.edits.length = saved.n;
      edits = all;
    }
    return edits ? shiftOffset(edits, p) : p;
  }

  private process(text: string, frozen = false): string {
    let out = '';
    let i = 0;
    const n = text.length;
    const astral = HIGH_SURROGATE.test(text);
    while (i < n) {
      let j = i;
      while (j < n && isSpace(text.charCodeAt(j))) j++;
      const space = text.slice(i, j);
      visitSpace(space, this.state);
      out += space;
      if (j >= n) break;
      let k = j;
      while (k < n && !isSpace(text.charCodeAt(k))) k++;
      if (this.sent > 0) {
        // The chunk a prefill left open: the reader has its start, so only the rest is sent, unchanged.
        out += this.chunk(text.slice(j, k), true).slice(this.sent);
        this.sent = 0;
      } else {
        const written = text.slice(j, k);
        const marked = this.chunk(written, frozen);
        if (marked.length !== written.length) this.noteEdit(written, marked, this.consumed + (astral ? codePoints(text, j) : j));
        out += marked;
      }
      i = k;
    }
    this.consumed += astral ? codePoints(text, n) : n;
    return out;
  }

  /** Records the replacement in `written` (starting at code point `start` of the text) that `marked` made. */
  private noteEdit(written: string, marked: string, start: number): void {
    let a = 0;
    const max = Math.min(written.length, marked.length);
    while (a < max && written.charCodeAt(a) === marked.charCodeAt(a)) a++;
    let b = 0;
    while (b < max - a && written.charCodeAt(written.length - 1 - b) === marked.charCodeAt(marked.length - 1 - b)) b++;
    (this.edits ??= []).push({ at: start + codePoints(written, a), from: written.length - a - b, to: marked.length - a - b });
  }

  private chunk(chunk: string, frozen: boolean): string {
    this.stats.words++;
    const slot = visitChunk(chunk, this.state);
    if (this.stats.words <= this.skipWords) {
      if (this.proseOnly && !PROSE_OPENING[Math.min(this.stats.words, 2) - 1].test(chunk)) this.off = true;
      return chunk;
    }
    if (this.off) {
      // Off for a value that did not open like prose; a later sentence that does is marked again,
      // so a tag before the prose ("ans: ...") costs the harvester only its first sentence.
      if (this.reprobe > 0) {
        if (!PROSE_OPENING[this.reprobe - 1].test(chunk)) this.reprobe = 0;
        else if (this.reprobe === 2) { this.off = false; this.reprobe = 0; }
        else this.reprobe = 2;
      }
      if (this.off && this.reprobe === 0 && SENTENCE_END.test(chunk)) this.reprobe = 1;
      return chunk;
    }
    if (!slot || frozen) return chunk;
    this.stats.slots++;
    const cacheKey = slot.context + '\u0000' + slot.group.id;
    let preferred = this.cache.get(cacheKey);
    if (preferred === undefined) {
      preferred = preferredMember(this.key, slot.context, slot.group);
      if (this.cache.size < 4096) this.cache.set(cacheKey, preferred);
    }
    // The state's context must be what the reader will see: the replacement word.
    this.state.prev = preferred;
    if (preferred === slot.word) return chunk;
    const written = chunk.slice(slot.coreStart, slot.coreEnd);
    const replacement = matchCase(written, preferred);
    if (replacement === null) { this.state.prev = slot.word; return chunk; }
    this.stats.changed++;
    return chunk.slice(0, slot.coreStart) + replacement + chunk.slice(slot.coreEnd);
  }
}

/**
 * The opening of a sentence: a Capitalised word, then a plain word. Commands (`git push`, `$ ls`),
 * lower-case SQL, paths, flags, dotted names and upper-case keywords do not open like this, nor
 * does much else: when in doubt a string is left alone.
 */
/** A word that ends a sentence or a label (`ans:`): the next words may open prose. */
const SENTENCE_END = /[.!?:]["')\]”’]*$/;
const PROSE_OPENING = [
  /^[("'“‘]?[A-Z][a-z]*(?:['’][a-z]+)?[,;:.!?)"'”’]*$/,
  /^[("'“‘]?(?:[A-Za-z][a-z]*|[A-Z]+s?)(?:['’-][a-z]+)*[,;:.!?)"'”’]*$/,
];

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 9 || c === 13 || c === 12 || c === 11 || c === 0xa0 || c === 0x2028 || c === 0x2029 || c === 0x3000;
}

/**
 * Watermark a whole text with a key.
 *
 * @example
 *   const key = deriveWatermarkKey(master, { kind: 'account', id: 'acc_1' });
 *   watermarkText('It is often important to check.', key.key) // e.g. 'It is frequently significant to check.'
 */
export function watermarkText(text: string, key: Uint8Array): { text: string; stats: EmbedStats } {
  const w = new StreamingWatermarker(key);
  const out = w.push(text) + w.end();
  return { text: out, stats: w.stats };
}
