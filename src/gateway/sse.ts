/**
 * Incremental Server-Sent Events parsing (WHATWG EventSource rules, the subset model APIs use):
 * events are separated by a blank line; `event:` and `data:` fields; multi-line data joined by
 * newlines; comments (`:`) are not events. Works on bytes: each parsed event keeps its raw bytes so
 * an unchanged event is forwarded exactly as received, without re-encoding. The gateway forwards
 * blocks that are not events too (an upstream's `: keep-alive` or `: OPENROUTER PROCESSING`
 * comments): they keep the idle timers of proxies between Warden and the client from cutting a
 * stream while a model thinks, and clients' parsers skip them.
 */
import type { SseEvent } from './lifecycle.ts';

export interface ParsedSse extends SseEvent {
  /** The event exactly as received, including its terminating blank line. */
  raw: Buffer;
  /** A block that is not an event (comments only, or `id:`/`retry:` fields only): `data` is empty, forward `raw` as it is. */
  comment?: true;
}

const LF = 0x0a;
const CR = 0x0d;

export class SseParser {
  private pending: Buffer | null = null;

  /** `comments`: also hand back the blocks that are not events (`comment: true`), to forward them. */
  constructor(private readonly opts: { comments?: boolean } = {}) {}

  /** Feed a chunk of bytes; returns the complete events it finished. */
  push(chunk: Buffer): ParsedSse[] {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: ParsedSse[] = [];
    let start = 0;
    // Scan for a blank line: LF LF, or CR LF CR LF.
    for (let i = buf.indexOf(LF, start); i !== -1 && i < buf.length; i = buf.indexOf(LF, i + 1)) {
      let end = -1;
      if (buf[i + 1] === LF) end = i + 2;
      else if (buf[i + 1] === CR && buf[i + 2] === LF) end = i + 3;
      if (end === -1) continue;
      const ev = parseBlock(buf.toString('utf8', start, end)) as ParsedSse | null;
      if (ev) { ev.raw = buf.subarray(start, end); out.push(ev); }
      else if (this.opts.comments) out.push({ data: '', raw: buf.subarray(start, end), comment: true });
      start = end;
      i = end - 1;
    }
    this.pending = start < buf.length ? buf.subarray(start) : null;
    return out;
  }

  /** Whatever is left when the stream ends (an unterminated last event). */
  flush(): ParsedSse[] {
    const rest = this.pending;
    this.pending = null;
    if (!rest || rest.toString('utf8').trim() === '') return [];
    const text = rest.toString('utf8');
    const ev = parseBlock(text);
    const raw = Buffer.from(text.endsWith('\n') ? text + '\n' : text + '\n\n');
    if (ev) return [Object.assign(ev, { raw })];
    return this.opts.comments ? [{ data: '', raw, comment: true }] : [];
  }
}

/**
 * One chunk of a stream as the scanner sees it: `text` is `buf` decoded as latin1, so a character
 * index in `text` is a byte offset in `buf`. ASCII syntax (field names, quotes, separators) is
 * found in `text` with the engine's string search; values that may hold UTF-8 are decoded from
 * `buf`. `gen` is unique to the chunk (across all streams), so needles can be shared.
 */
export interface ScanChunk {
  buf: Buffer;
  text: string;
  gen: number;
}

let lastGen = 0;

/**
 * A fixed ASCII needle searched for in a chunk, event after event. Each search covers one event's
 * range only (a needle absent from a long chunk is not looked for beyond the event asked about), and
 * its answer is remembered for the later questions it settles. A chunk is scanned from start to end
 * without yielding, so one needle can serve every stream.
 */
export class Needle {
  // The last search: chunk, range, and the first occurrence in it (-1: none).
  private gen = -1;
  private from = 0;
  private to = 0;
  private at = -1;
  private readonly core: string;

  /**
   * `skip`: how many leading characters to leave out of the engine's search. Every needle starts
   * with a quote, the most frequent character of JSON, and a search stops at each occurrence of the
   * needle's first character: searching from a rarer one (then checking the prefix) is faster.
   */
  constructor(readonly text: string, private readonly skip = 0) {
    this.core = text.slice(skip);
  }

  /** Where the needle first occurs within [from, to) of the chunk, or -1. Calls on a chunk must not go backwards. */
  within(c: ScanChunk, from: number, to: number): number {
    if (this.gen === c.gen && from >= this.from) {
      // The last search's first occurrence is also this range's first, if it is in it; none in a
      // range that held none is none in a range inside it.
      if (this.at !== -1 ? this.at >= from : to <= this.to) return this.at !== -1 && this.at + this.text.length <= to ? this.at : -1;
    }
    const i = this.find(c.text.substring(from, to), 0);
    this.gen = c.gen;
    this.from = from;
    this.to = to;
    this.at = i === -1 ? -1 : from + i;
    return this.at;
  }

  /** Where the needle first occurs in `s` at or after `from`, or -1 (no memory: for one-off strings). */
  indexIn(s: string, from = 0): number {
    return this.find(s, from);
  }

  private find(s: string, from: number): number {
    const skip = this.skip;
    let i = s.indexOf(this.core, from + skip);
    if (skip === 0) return i;
    while (i !== -1 && !s.startsWith(this.text, i - skip)) i = s.indexOf(this.core, i + 1);
    return i === -1 ? -1 : i - skip;
  }
}

/** What a scanner does with each event it finds. */
export interface SseSink {
  /**
   * A single-line `data:` event, possibly after one `event:` line, LF line ends: the data is
   * `c.text` from `ds` to `de`. Return true if it was fully handled; false sends it to `other`.
   * (`event` comes from the latin1 text: a name with non-ASCII bytes will match no known name.)
   */
  simple(c: ScanChunk, ds: number, de: number, event: string | undefined): boolean;
  /**
   * Any other event, decoded. Return false to leave it out of the bytes forwarded, or the events to
   * forward in its place (re-encoded). (Blocks that are not events are forwarded without a call.)
   */
  other(ev: SseEvent): boolean | SseEvent | SseEvent[];
}

const EMPTY = Buffer.alloc(0);

/**
 * An event could not be read (a sink threw on it): `cause` is why, `before` the bytes of the
 * complete events that preceded it in the same chunk, already accepted and still to be forwarded.
 */
export class SseEventFailed extends Error {
  constructor(cause: unknown, readonly before: Buffer | null) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/** The bytes of `buf` before `upTo`, less the parts left out (`parts`, `kept`: see SseScanner.push). */
function forwardable(buf: Buffer, parts: Buffer[] | null, kept: number, upTo: number): Buffer | null {
  if (parts === null) return upTo > 0 ? (upTo === buf.length ? buf : buf.subarray(0, upTo)) : null;
  if (upTo > kept) parts.push(buf.subarray(kept, upTo));
  return parts.length === 0 ? null : parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/**
 * The stream path when no transformer rewrites events: finds event boundaries in the upstream's
 * bytes without decoding them, lets the sink look at each event in place (the common one-line
 * `data:` event is never turned into its own string), and hands back the bytes to forward, as
 * slices of what was received. Same event rules as `SseParser`.
 */
export class SseScanner {
  private pending: Buffer | null = null;
  private readonly chunk: ScanChunk = { buf: EMPTY, text: '', gen: 0 };

  /**
   * Feed a chunk of bytes; returns the complete events' bytes to forward (or null for none). If the
   * sink throws on an event, throws SseEventFailed carrying the bytes of the events before it.
   */
  push(bytes: Buffer, sink: SseSink): Buffer | null {
    const buf = this.pending ? Buffer.concat([this.pending, bytes]) : bytes;
    const c = this.chunk;
    c.buf = buf;
    c.text = buf.toString('latin1');
    c.gen = ++lastGen;
    const s = c.text;
    let start = 0;
    let kept = 0;
    let parts: Buffer[] | null = null;
    // -1: no line break yet in this event; >= 0: its one inner line break; -2: several.
    let inner = -1;
    for (let i = s.indexOf('\n'); i !== -1; i = s.indexOf('\n', i + 1)) {
      let end: number;
      const next = s.charCodeAt(i + 1);
      if (next === LF) end = i + 2;
      else if (next === CR && s.charCodeAt(i + 2) === LF) end = i + 3;
      else {
        inner = inner === -1 ? i : -2;
        continue;
      }
      let keep: boolean | SseEvent | SseEvent[];
      try {
        keep = this.event(c, start, inner, i, end, sink);
      } catch (err) {
        this.pending = null;
        throw new SseEventFailed(err, forwardable(buf, parts, kept, start));
      }
      if (keep !== true) {
        parts ??= [];
        if (start > kept) parts.push(buf.subarray(kept, start));
        if (keep !== false) parts.push(Buffer.from(formatSseEvents(keep)));
        kept = end;
      }
      start = end;
      i = end - 1;
      inner = -1;
    }
    this.pending = start < buf.length ? buf.subarray(start) : null;
    return forwardable(buf, parts, kept, start);
  }

  /** Whatever is left when the stream ends (an unterminated last event), to forward, or null. */
  flush(sink: SseSink): Buffer | null {
    const rest = this.pending;
    this.pending = null;
    if (!rest) return null;
    const text = rest.toString('utf8');
    if (text.trim() === '') return null;
    const ev = parseBlock(text);
    const keep = ev ? sink.other(ev) : true;
    if (keep === false) return null;
    if (keep !== true) return Buffer.from(formatSseEvents(keep));
    return Buffer.from(text.endsWith('\n') ? text + '\n' : text + '\n\n');
  }

  /** One event: [start, end) of the chunk, its last line ending at `last`. False: leave it out; events: send them instead. */
  private event(c: ScanChunk, start: number, inner: number, last: number, end: number, sink: SseSink): boolean | SseEvent | SseEvent[] {
    const s = c.text;
    if (end === last + 2 && s.charCodeAt(last - 1) !== CR) {
      if (inner === -1) {
        if (s.startsWith('data: ', start) && sink.simple(c, start + 6, last, undefined)) return true;
      } else if (inner >= 0 && s.charCodeAt(inner - 1) !== CR && s.startsWith('event: ', start) && s.startsWith('data: ', inner + 1)) {
        if (sink.simple(c, inner + 7, last, s.slice(start + 7, inner))) return true;
      }
    }
    const ev = parseBlock(c.buf.toString('utf8', start, end));
    // A block of comments only is not an event: forwarded as it is, unseen by the sink.
    return ev === null || sink.other(ev);
  }
}

function parseBlock(block: string): SseEvent | null {
  // Fast path: the common single-line `data: ...` event.
  if (block.startsWith('data: ') && block.indexOf('\n') === block.length - 2) {
    return { data: block.slice(6, block.length - 2) };
  }
  let event: string | undefined;
  let data: string | null = null;
  for (const rawLine of block.split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data = data === null ? value : data + '\n' + value;
  }
  if (data === null && event === undefined) return null;
  return event === undefined ? { data: data ?? '' } : { event, data: data ?? '' };
}

/** Serialise an event for the wire. */
export function formatSse(ev: SseEvent): string {
  const lines = ev.data.split('\n').map((l) => `data: ${l}`).join('\n');
  return ev.event !== undefined ? `event: ${ev.event}\n${lines}\n\n` : `${lines}\n\n`;
}

/** Serialise one event or several, one after the other. */
function formatSseEvents(evs: SseEvent | SseEvent[]): string {
  if (!Array.isArray(evs)) return formatSse(evs);
  let out = '';
  for (const ev of evs) out += formatSse(ev);
  return out;
}

const USAGE_NULL = Buffer.from(',"usage":null');
const OBFUSCATION = Buffer.from(',"obfuscation":"');

/**
 * Whether an event's top-level object closes at `at`: `}` and then the blank line ending the
 * event, possibly after OpenAI's `"obfuscation"` padding (a plain string). Nothing else fits: a
 * `}` followed by the end of the event is the JSON's last character.
 */
function closesEvent(buf: Buffer, at: number): boolean {
  if (buf[at] === 0x2c && at + OBFUSCATION.length <= buf.length && buf.compare(OBFUSCATION, 0, OBFUSCATION.length, at, at + OBFUSCATION.length) === 0) {
    at += OBFUSCATION.length;
    while (at < buf.length && buf[at] !== 0x22 && buf[at] !== 0x5c) at++;
    if (buf[at] !== 0x22) return false;
    at++;
  }
  if (buf[at] !== 0x7d) return false;
  const a = buf[at + 1];
  const b = buf[at + 2];
  return (a === LF && (b === LF || (b === CR && buf[at + 3] === LF))) || (a === CR && b === LF && buf[at + 3] === CR && buf[at + 4] === LF);
}

/**
 * Complete events' bytes less the top-level `"usage":null` of each OpenAI chunk: the key the
 * upstream adds to every chunk when Warden asked for usage and the client did not. One native
 * search per write, and a copy only of writes that hold the key; no event is parsed.
 */
export function dropUsageNull(buf: Buffer): Buffer {
  let i = buf.indexOf(USAGE_NULL);
  if (i === -1) return buf;
  let parts: Buffer[] | null = null;
  let kept = 0;
  for (; i !== -1; i = buf.indexOf(USAGE_NULL, i + USAGE_NULL.length)) {
    if (!closesEvent(buf, i + USAGE_NULL.length)) continue;
    (parts ??= []).push(buf.subarray(kept, i));
    kept = i + USAGE_NULL.length;
  }
  if (parts === null) return buf;
  parts.push(buf.subarray(kept));
  return Buffer.concat(parts);
}
