/**
 * The lexical watermark scheme, shared by embedding and detection.
 *
 * Text is read as whitespace-separated chunks. A chunk whose core (punctuation stripped) is a
 * lexicon word, outside code, is a *slot*. Its context is the previous chunk's word. For each
 * (key, context, group) the key picks one preferred member:
 *
 *     preferred = group.members[ HMAC-SHA256(key, context || 0x00 || group.id)[0..4] mod |group| ]
 *
 * Embedding writes the preferred member into every slot; detection counts, over distinct
 * (context, group, word) slots, how often the word is the preferred one. Without the key a
 * slot matches with probability 1/|group|, so the count has a known null distribution
 * (a sum of Bernoulli variables) and a p-value follows. Conditioning on the context word is what
 * an n-gram student learns, which is why the mark survives distillation (CATER, NeurIPS 2022).
 */
import { createHmac } from 'node:crypto';
import { LEXICON, type LexiconGroup } from './lexicon.ts';

/** State carried from one chunk to the next (so streaming and whole-text processing agree). */
export interface WalkState {
  /** Lower-case word of the previous chunk, '' when it was not a plain word. */
  prev: string;
  /** The open fence's run (```, ````, ~~~...), '' outside fences: only a run of its character at least as long closes it. */
  fence: string;
  /** Still on the line a backtick fence opened: a backtick here makes it an inline span instead (```npm test```). */
  fenceOpening: boolean;
  /** The chunks of this line so far are container markers (a list item's `-` or `1.`, a quote's `>`): a fence may open here. */
  blockStart: boolean;
  inInline: boolean;
  /** Inside <pre>...</pre> or <code>...</code>. */
  inPre: boolean;
  inCodeTag: boolean;
  /** Inside an indented code block (4 columns, opened after a blank line). */
  inIndented: boolean;
  /** The current line or paragraph belongs to a list item. */
  inList: boolean;
  /** The text began like code or JSON: code until a line opens with a Capitalised word. */
  allCode: boolean;
  /** A chunk of this paragraph had code punctuation: code until the paragraph ends or prose resumes. */
  codeParagraph: boolean;
  /** Plain words in a row since the last code-looking chunk of a code paragraph. */
  plainRun: number;
  /** Chunks seen so far. */
  chunks: number;
  /** Line breaks in the whitespace since the previous chunk, and the columns after the last one. */
  breaks: number;
  indent: number;
}

export function initialWalkState(): WalkState {
  return { prev: '', fence: '', fenceOpening: false, blockStart: true, inInline: false, inPre: false, inCodeTag: false, inIndented: false, inList: false, allCode: false, codeParagraph: false, plainRun: 0, chunks: 0, breaks: 0, indent: 0 };
}

/** Record the whitespace between chunks (line starts, blank lines and indentation are code markers). */
export function visitSpace(space: string, state: WalkState): void {
  for (let i = 0; i < space.length; i++) {
    const c = space.charCodeAt(i);
    if (c === 10) { state.breaks++; state.indent = 0; }
    else if (c === 9) state.indent += 4 - (state.indent % 4);
    else if (c !== 13) state.indent++;
  }
}

/** One chunk seen by the walker. */
export interface Slot {
  group: LexiconGroup;
  context: string;
  /** The word as written (lower case). */
  word: string;
  /** Offsets of the core word within the chunk. */
  coreStart: number;
  coreEnd: number;
}

const LEADING = new Set(['(', '[', '"', "'", '“', '‘', '*', '_']);
const TRAILING = new Set(['.', ',', ';', ':', '!', '?', ')', ']', '"', "'", '”', '’', '*', '_']);

function isLetters(s: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) | 32;
    if (c < 97 || c > 122) return false;
  }
  return true;
}

/**
 * A text whose first chunk opens JSON, markup or a program is code (answers asked to be "only JSON"
 * or "only the code" come without fences) until a line opens like prose. Keywords are lower case:
 * prose starts capitalised. JSON opens with `{` then `"`, or `[` then a value (`[A]` does not).
 */
const CODE_START = /^(?:\{(?:$|["{}\[])|\[(?:$|["{[\]\d-]|true|false|null)|<[?!]|<\/?(?:html|head|body|div|span|section|table|ul|ol|li|p|a|svg|template|script|style|xml)\b|#!|#include|\/\/|\/\*|(?:import|from|def|class|function|const|let|var|package|using|namespace|public|private|fn|pub|func|async|export|module|struct|enum|interface|int|void|return|if|for|select|SELECT|CREATE|INSERT|UPDATE|DELETE|WITH)$)/;
/** Punctuation prose does not have ("item(s)" excepted); URLs are not counted (query strings have "="). */
const CODE_MARKS = /[={}]|;\S|->|::|&&|\|\||<\/|\/>|\w\((?!(?:s|es)\)[.,;:!?]*$)/;
/** A line opening with a Capitalised word is prose, not the JSON or code the text opened with. */
const PROSE_LINE = /^[A-Z][a-z]+$/;
/**
 * Plain words in a row that end a code paragraph: code lines rarely run this long without
 * punctuation, so a strippable `§=` or `{1}` in front of prose costs a harvester only these words.
 */
const PROSE_RUN = 8;
const LIST_MARKER = /^(?:[-*+]|\d{1,9}[.)])$/;
const HTML_CODE = /<(\/?)(pre|code)(?:>|$)/gi;

/**
 * Examine one whitespace-free chunk, update the state, and return its slot (or null).
 * Code is never a slot and resets the context: ``` and ~~~ fences, `inline` spans, indented blocks
 * (after a blank line), <pre> and <code>, a text that starts like code or JSON (until a line opens
 * with a Capitalised word), and the rest of a paragraph from a chunk with code punctuation (`=`,
 * `{`, `f(x)`, `->`...) until PROSE_RUN plain words in a row. Decided from what came before only,
 * so a stream is marked as it arrives.
 */
export function visitChunk(chunk: string, state: WalkState): Slot | null {
  const first = state.chunks++ === 0;
  const lineStart = first || state.breaks > 0;
  const afterBlank = first || state.breaks > 1;
  const indent = state.indent;
  state.breaks = 0;
  state.indent = 0;
  if (first && CODE_START.test(chunk)) state.allCode = true;
  else if (state.allCode && lineStart && PROSE_LINE.test(chunk)) state.allCode = false;
  if (state.allCode) { state.prev = ''; return null; }
  if (afterBlank) state.codeParagraph = false;
  if (lineStart && !state.fence) {
    // A list item's paragraphs are indented too: inside one, code needs 4 more columns.
    if (indent < 4) { state.inIndented = false; state.inList = LIST_MARKER.test(chunk) || (indent > 0 && state.inList); }
    else if (afterBlank && indent >= (state.inList ? 8 : 4)) state.inIndented = true;
  }
  if (state.inIndented) { state.prev = ''; return null; }
  // A fence opens and closes a line (after a list item's or a quote's marker, for an opening one):
  // three backticks inside a line start an inline span. It closes with a run of its character at
  // least as long and nothing else (a four-backtick fence holds ``` blocks; ```bash inside a fence is code).
  if (state.fenceOpening) {
    state.fenceOpening = !lineStart;
    if (!lineStart && chunk.includes('`')) {
      // The rest of the opening line holds a backtick: not a fence but an inline span, as if read as one.
      let ticks = state.fence.length;
      for (let i = 0; i < chunk.length; i++) if (chunk.charCodeAt(i) === 96) ticks++;
      state.inInline = ticks % 2 === 1;
      state.fence = '';
      state.fenceOpening = false;
      state.prev = '';
      return null;
    }
  }
  const blockStart = lineStart || state.blockStart;
  state.blockStart = false;
  if (blockStart && !state.inPre && !state.inCodeTag) {
    const run = fenceRun(chunk);
    if (state.fence) {
      if (run === chunk && run[0] === state.fence[0] && run.length >= state.fence.length) state.fence = '';
      state.prev = '';
      return null;
    }
    // An opening backtick fence's info string holds no backtick (```npm test``` is a span).
    if (run && !(run[0] === '`' && chunk.indexOf('`', run.length) >= 0)) {
      state.fence = run;
      state.fenceOpening = run[0] === '`';
      state.prev = '';
      return null;
    }
    if (!state.fence && (LIST_MARKER.test(chunk) || chunk === '>')) state.blockStart = true;
  }
  if (state.fence) { state.prev = ''; return null; }
  if (chunk.includes('<')) {
    let tagged = false;
    for (const m of chunk.matchAll(HTML_CODE)) {
      tagged = true;
      if (m[2].toLowerCase() === 'pre') state.inPre = m[1] === ''; else state.inCodeTag = m[1] === '';
    }
    if (tagged) { state.prev = ''; return null; }
  }
  if (state.inPre || state.inCodeTag) { state.prev = ''; return null; }
  let ticks = 0;
  for (let i = 0; i < chunk.length; i++) if (chunk.charCodeAt(i) === 96) ticks++;
  if (ticks > 0 || state.inInline) {
    if (ticks % 2 === 1) state.inInline = !state.inInline;
    state.prev = '';
    return null;
  }
  const marks = CODE_MARKS.test(chunk) && !chunk.includes('://') && !chunk.startsWith('www.');
  let a = 0, b = chunk.length;
  while (a < b && LEADING.has(chunk[a])) a++;
  while (b > a && TRAILING.has(chunk[b - 1])) b--;
  const plain = isLetters(chunk, a, b);
  if (marks) { state.codeParagraph = true; state.plainRun = 0; }
  if (state.codeParagraph) {
    // This chunk is still code; after enough plain words the next one is prose again.
    if (!plain) state.plainRun = 0;
    else if (++state.plainRun >= PROSE_RUN) state.codeParagraph = false;
    state.prev = '';
    return null;
  }
  if (!plain) { state.prev = ''; return null; }
  const word = chunk.slice(a, b).toLowerCase();
  const context = state.prev;
  state.prev = word;
  const group = LEXICON.get(word);
  if (!group) return null;
  if (group.after && !group.after.has(context)) return null;
  if (group.notAfter && group.notAfter.has(context)) return null;
  if (group.mixedInitial && (context === 'a' || context === 'an')) return null;
  if (group.notLineStart && lineStart) return null;
  return { group, context, word, coreStart: a, coreEnd: b };
}

/** The run of three or more backticks or tildes `chunk` opens with, '' if none. */
function fenceRun(chunk: string): string {
  const c = chunk.charCodeAt(0);
  if (c !== 96 && c !== 126) return '';
  let n = 1;
  while (n < chunk.length && chunk.charCodeAt(n) === c) n++;
  return n >= 3 ? chunk.slice(0, n) : '';
}

/** The member the key prefers for this context and group. */
export function preferredMember(key: Uint8Array, context: string, group: LexiconGroup): string {
  const mac = createHmac('sha256', key).update(context).update('\u0000').update(group.id).digest();
  return group.members[mac.readUInt32BE(0) % group.members.length];
}

/** Re-case `word` like `model` (lower, Capitalised or UPPER); null when the model's casing is mixed. */
export function matchCase(model: string, word: string): string | null {
  if (model === model.toLowerCase()) return word;
  if (model.length > 1 && model === model.toUpperCase()) return word.toUpperCase();
  if (model[0] === model[0].toUpperCase() && model.slice(1) === model.slice(1).toLowerCase()) return word[0].toUpperCase() + word.slice(1);
  return null;
}
