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
  inFence: boolean;
  inInline: boolean;
}

export function initialWalkState(): WalkState { return { prev: '', inFence: false, inInline: false }; }

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
 * Examine one whitespace-free chunk, update the state, and return its slot (or null).
 * Code (``` fences and `inline` spans) is never a slot and resets the context.
 */
export function visitChunk(chunk: string, state: WalkState): Slot | null {
  if (chunk.startsWith('```')) { state.inFence = !state.inFence; state.prev = ''; return null; }
  if (state.inFence) { state.prev = ''; return null; }
  let ticks = 0;
  for (let i = 0; i < chunk.length; i++) if (chunk.charCodeAt(i) === 96) ticks++;
  if (ticks > 0 || state.inInline) {
    if (ticks % 2 === 1) state.inInline = !state.inInline;
    state.prev = '';
    return null;
  }
  let a = 0, b = chunk.length;
  while (a < b && LEADING.has(chunk[a])) a++;
  while (b > a && TRAILING.has(chunk[b - 1])) b--;
  if (!isLetters(chunk, a, b)) { state.prev = ''; return null; }
  const word = chunk.slice(a, b).toLowerCase();
  const context = state.prev;
  state.prev = word;
  const group = LEXICON.get(word);
  if (!group) return null;
  if (group.after && !group.after.has(context)) return null;
  if (group.notAfter && group.notAfter.has(context)) return null;
  if (group.mixedInitial && (context === 'a' || context === 'an')) return null;
  return { group, context, word, coreStart: a, coreEnd: b };
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
