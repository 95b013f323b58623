/**
 * Marking JSON answers (JSON mode, structured outputs, tool-call arguments): only the prose inside
 * string values is marked, never keys, numbers or the structure, so the answer stays valid JSON
 * with the same keys. A string value is prose from its third word on: one- and two-word values
 * (enum-like labels, names, identifiers) are never changed, nor is a value equal to a `keep` string
 * (the request schema's `enum`/`const` strings), and the scheme's own code rules apply
 * inside each value (code-looking strings, URLs). Each string value is marked as a text of its own,
 * so a parsed object marks exactly as its JSON text does.
 *
 * Streams are walked as they arrive: the structure goes out at once; inside a string value only
 * the trailing partial word is held back (and an escape sequence cut by the delta), as for plain
 * text, so streamed and whole-text output are identical.
 */
import { StreamingWatermarker, type EmbedStats } from './embed.ts';

/** Words of a string value that are never changed: a value is prose from its third word on. */
export const JSON_PROSE_FROM_WORD = 2;

/** A streaming marker of one text: plain (`StreamingWatermarker`) or JSON. */
export interface TextMarker {
  push(delta: string): string;
  end(): string;
  readonly stats: EmbedStats;
  /** Where an offset into the text pushed is in the marked text (plain text only; JSON answers carry no citations). */
  mapOffset?(p: number): number;
}

/** The marker of one JSON string value's (decoded) text: only a value that opens like a sentence is marked. */
export function proseMarker(key: Uint8Array): StreamingWatermarker {
  return new StreamingWatermarker(key, { skipWords: JSON_PROSE_FROM_WORD, proseOnly: true });
}

const NO_STRINGS: ReadonlySet<string> = new Set();

function startsAKept(keep: ReadonlySet<string>, text: string): boolean {
  for (const k of keep) if (k.startsWith(text)) return true;
  return false;
}

type Mode =
  | 'start' // before the first value: decides JSON or not
  | 'value' // expecting a value
  | 'key' // in an object, expecting a key or '}'
  | 'colon' // after a key
  | 'after' // after a value: ',' or a closing bracket (or, at the top, another value)
  | 'keystr' | 'str' // inside a key / a string value
  | 'lit' // inside a number, true, false or null
  | 'raw' // the answer ended inside a string: nothing follows
  | 'text'; // not JSON (from the start, or from where it stopped being JSON): marked as plain text

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** The length of the escape sequence `seq` starts (known from its second character). */
function escapeLength(seq: string): number {
  return seq.length >= 2 && seq[1] === 'u' ? 6 : 2;
}

/** A string's text as JSON string content (without quotes): quote, backslash and controls escaped. */
function encode(s: string): string {
  return /["\\\u0000-\u001f]/.test(s) ? JSON.stringify(s).slice(1, -1) : s;
}

/**
 * Streaming watermarker of a JSON answer. An answer that does not open with `{`, `[` or `"` is
 * marked as plain text; one that stops being valid JSON (`[1] It is...`, `[Answer] ...`) is marked
 * as plain text from there: an opening that only looks like JSON must not take the answer out of the mark.
 */
export class StreamingJsonWatermarker implements TextMarker {
  readonly stats: EmbedStats = { words: 0, slots: 0, changed: 0 };
  private mode: Mode = 'start';
  private readonly stack: ('{' | '[')[] = [];
  private leading = '';
  private text: StreamingWatermarker | null = null;
  private value: StreamingWatermarker | null = null;
  private escape = '';
  private keyEscaped = false;
  private priming = false;
  /** The open value's text while it may still be one of `keep` (held back until it cannot). */
  private held: string | null = null;

  /**
   * `prefill`: JSON the reader already has and the answer continues (an Anthropic prefill).
   * `keep`: strings never changed (the request schema's `enum`/`const` strings).
   */
  constructor(private readonly key: Uint8Array, prefill?: string, private readonly keep: ReadonlySet<string> = NO_STRINGS) {
    if (prefill) {
      this.priming = true;
      this.push(prefill);
      this.priming = false;
      // An escape the prefill cut: the rest of that string is passed through.
      if (this.escape) { this.escape = ''; this.value = null; this.mode = 'keystr'; this.keyEscaped = true; }
    }
  }

  push(delta: string): string {
    let out = '';
    let i = 0;
    const n = delta.length;
    while (i < n) {
      switch (this.mode) {
        case 'text':
          if (this.priming) { this.text!.prime(delta.slice(i)); return out; }
          return out + this.text!.push(delta.slice(i));
        case 'raw': return out + delta.slice(i);
        case 'str': {
          let j = i;
          if (this.escape) {
            // An escape cut by the previous delta: complete it first.
            while (i < n && this.escape.length < escapeLength(this.escape)) this.escape += delta[i++];
            if (this.escape.length < escapeLength(this.escape)) return out;
            const seq = this.escape;
            this.escape = '';
            out += this.escaped(seq);
            if (this.mode !== 'str') continue;
            j = i;
          }
          while (j < n) { const c = delta.charCodeAt(j); if (c === 34 || c === 92) break; j++; }
          if (j > i) out += this.prose(delta.slice(i, j));
          i = j;
          if (i >= n) break;
          if (delta.charCodeAt(i) === 34) {
            out += this.closeValue() + '"';
            i++;
            this.mode = 'after';
          } else {
            const need = i + 1 < n ? escapeLength(delta.slice(i, i + 2)) : 2;
            const seq = delta.slice(i, i + need);
            i += seq.length;
            if (seq.length < need) { this.escape = seq; return out; }
            out += this.escaped(seq);
          }
          break;
        }
        case 'keystr': {
          let j = i;
          while (j < n) {
            const c = delta.charCodeAt(j);
            if (this.keyEscaped) this.keyEscaped = false;
            else if (c === 92) this.keyEscaped = true;
            else if (c === 34) break;
            j++;
          }
          if (j >= n) return out + delta.slice(i);
          out += delta.slice(i, j + 1);
          i = j + 1;
          this.mode = this.stack.at(-1) === '{' && this.afterKey ? 'colon' : 'after';
          this.afterKey = false;
          break;
        }
        case 'lit': {
          let j = i;
          while (j < n && /[-+.0-9a-zA-Z]/.test(delta[j])) j++;
          out += delta.slice(i, j);
          i = j;
          if (i < n) this.mode = 'after';
          break;
        }
        default: {
          const ch = delta[i];
          if (ch === ' ' || ch === '\n' || ch === '\r' || ch === '\t') {
            if (this.mode === 'start') this.leading += ch;
            out += ch;
            i++;
            break;
          }
          if (this.mode === 'start') {
            if (ch !== '{' && ch !== '[' && ch !== '"') {
              // Not JSON (a refusal, an apology): marked as the plain text it is.
              this.text = new StreamingWatermarker(this.key);
              this.text.push(this.leading);
              this.mode = 'text';
              break;
            }
            this.mode = 'value';
          }
          // Not JSON from this character on: it is the first of the plain text.
          if (!this.structural(ch)) { this.leave(); break; }
          out += ch;
          i++;
        }
      }
    }
    return out;
  }

  end(): string {
    if (this.mode === 'text') { const rest = this.text!.end(); this.add(this.text!.stats); this.text = null; return rest; }
    if (this.mode === 'str') {
      // The answer stopped inside a string (max_tokens): what was held goes out with what is left of an escape.
      const rest = this.closeValue() + this.escape;
      this.escape = '';
      this.mode = 'raw';
      return rest;
    }
    return '';
  }

  private afterKey = false;

  /** Follow one structural character; false if it is not valid JSON here. */
  private structural(ch: string): boolean {
    const mode = this.mode;
    const top = this.stack.at(-1);
    if (mode === 'key') {
      if (ch === '"') { this.mode = 'keystr'; this.afterKey = true; return true; }
      if (ch === '}') { this.close(); return true; }
    } else if (mode === 'colon') {
      if (ch === ':') { this.mode = 'value'; return true; }
    } else if (mode === 'value') {
      if (ch === '{') { this.stack.push('{'); this.mode = 'key'; return true; }
      if (ch === '[') { this.stack.push('['); this.mode = 'value'; return true; }
      if (ch === '"') { this.mode = 'str'; this.value = proseMarker(this.key); this.held = this.keep.size > 0 && !this.priming ? '' : null; return true; }
      if (/[-0-9tfn]/.test(ch)) { this.mode = 'lit'; return true; }
      if (ch === ']' && top === '[') { this.close(); return true; }
    } else if (mode === 'after') {
      if (ch === ',' && top) { this.mode = top === '{' ? 'key' : 'value'; return true; }
      if ((ch === '}' && top === '{') || (ch === ']' && top === '[')) { this.close(); return true; }
      // Several values one after another (JSON Lines).
      if (!top && (ch === '{' || ch === '[' || ch === '"')) { this.mode = 'value'; return this.structural(ch); }
    }
    return false;
  }

  /** The answer stopped being JSON: the rest is marked as the plain text it is. */
  private leave(): void {
    this.stack.length = 0;
    this.text = new StreamingWatermarker(this.key);
    this.mode = 'text';
  }

  private close(): void {
    this.stack.pop();
    this.mode = 'after';
  }

  /** One escape sequence of a string value, decoded and marked with the text around it. */
  private escaped(seq: string): string {
    const decoded = seq[1] === 'u' ? (/^\\u[0-9a-fA-F]{4}$/.test(seq) ? String.fromCharCode(parseInt(seq.slice(2), 16)) : null) : (ESCAPES[seq[1]] ?? null);
    if (decoded !== null) return this.prose(decoded);
    // Not a JSON escape: the answer is not valid JSON from here.
    const rest = this.closeValue() + seq;
    this.leave();
    return rest;
  }

  /** Decoded text of the open string value: marked, and encoded again (unchanged escapes may come back in another spelling). */
  private prose(decoded: string): string {
    if (!decoded) return '';
    if (this.priming) { this.value!.prime(decoded); return ''; }
    if (this.held !== null) {
      // Held while it may still be a kept string; marked as usual once it cannot be.
      const held = this.held + decoded;
      if (startsAKept(this.keep, held)) { this.held = held; return ''; }
      this.held = null;
      return encode(this.value!.push(held));
    }
    return encode(this.value!.push(decoded));
  }

  private closeValue(): string {
    const v = this.value;
    this.value = null;
    if (!v) return '';
    const held = this.held;
    this.held = null;
    if (held !== null && this.keep.has(held)) return encode(held);
    const rest = this.priming ? '' : encode((held !== null ? v.push(held) : '') + v.end());
    this.add(v.stats);
    return rest;
  }

  private add(s: EmbedStats): void {
    this.stats.words += s.words;
    this.stats.slots += s.slots;
    this.stats.changed += s.changed;
  }
}

/**
 * Watermark a whole JSON answer: the prose in its string values.
 *
 * @example
 *   watermarkJson('{"label": "often", "answer": "It is often big and often large."}', key).text
 *   // '{"label": "often", "answer": "It is often big and frequently large."}' (keys and the one-word value kept)
 */
export function watermarkJson(text: string, key: Uint8Array, prefill?: string, keep?: ReadonlySet<string>): { text: string; stats: EmbedStats } {
  const w = new StreamingJsonWatermarker(key, prefill, keep);
  const out = w.push(text) + w.end();
  return { text: out, stats: w.stats };
}

/** Watermark the string values of a parsed JSON value (an Anthropic `tool_use` input) in place, as its JSON text would be. */
export function watermarkJsonValue(value: unknown, key: Uint8Array, stats?: EmbedStats, keep: ReadonlySet<string> = NO_STRINGS): unknown {
  const mark = (s: string): string => {
    if (keep.has(s)) return s;
    const w = proseMarker(key);
    const out = w.push(s) + w.end();
    if (stats) { stats.words += w.stats.words; stats.slots += w.stats.slots; stats.changed += w.stats.changed; }
    return out;
  };
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return mark(v);
    if (Array.isArray(v)) { for (let i = 0; i < v.length; i++) v[i] = walk(v[i]); return v; }
    if (v && typeof v === 'object') { for (const k of Object.keys(v)) (v as Record<string, unknown>)[k] = walk((v as Record<string, unknown>)[k]); return v; }
    return v;
  };
  return walk(value);
}
