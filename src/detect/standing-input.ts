/**
 * The input a request's output/input ratio reads. The ratio tells a conversation, which carries its
 * history as input, from independent questions with long answers; what a client sends alike with
 * every request is neither. A persona or an application's instructions, tool definitions, a fixed
 * preamble or closing around each question: sent alike (and cached by providers as a prefix, so
 * nearly free), they would otherwise lower the ratio of any harvest behind them below the
 * harvest-yield test's.
 *
 * - Stateless (`inputBeyondStanding`): up to `STANDING_SYSTEM_CHARS` of system prompt are left out
 *   of every request's input, a persona's length.
 * - Per account (`freshInput`, what the engine counts): what the request sends that the account's
 *   previous requests did not. A system prompt the same as the previous request's is left out
 *   whole; a tool set the same as the previous request's leaves out the input the event shows no
 *   text for (the tool definitions), at most what the previous request had of it; and in a
 *   single-shot request (no conversation before its turn), its lead-in and closing the same as
 *   one of the last `PADDING_SLOTS` different ones the account sent (a preamble, several taken in
 *   turn, a made-up exchange, an instruction before a tool result, a closing sentence). A
 *   conversation's history is never left out: it grows with each turn (the previous turn and its
 *   answer appended), and that is what a conversation's input is; every chat user would otherwise
 *   read as a harvester. A request goes on from earlier ones only when the account sent what it
 *   goes on from (`SentRequests`): a trajectory of tool calls and results written into a
 *   single-shot question is no conversation, it is padding.
 *
 * A different system prompt counts beyond `STANDING_SYSTEM_CHARS`: material (retrieved passages, a
 * pasted file) that changes is input, as a conversation's history is.
 */
import type { InteractionEvent } from '../events/index.ts';
import { charCodeAt } from '../events/index.ts';
import { LEAD_CHARS, forgetQuestion, leadPrefix, question, roleMix } from './question-pass.ts';

/** System prompt characters left out of a request's input, about 512 tokens: a persona's length. */
export const STANDING_SYSTEM_CHARS = 2048;
/** Characters a token: English prose runs a little over 4, code and most other scripts under it, so this leaves out no more than the prompt took. */
const CHARS_PER_TOKEN = 4;

/** The request's input tokens without its standing system prompt (at least 1 when it had any input). */
export function inputBeyondStanding(ev: InteractionEvent): number {
  const input = ev.response.input_tokens;
  const system = ev.request.system;
  if (!system || input <= 0) return input;
  return Math.max(1, input - Math.floor(Math.min(system.length, STANDING_SYSTEM_CHARS) / CHARS_PER_TOKEN));
}

/**
 * Lengths at which a single-shot request's lead-in (its messages' text from the start, in order)
 * is compared with the previous one's: the hash of the first that many characters each, up to
 * `SCAN_CHARS` of features.ts (what an event keeps of one message by default). Between the longest
 * length at which both agree and the next, `FINE` more hashes are kept at positions spread evenly
 * over that stretch, found from the previous pair of requests: a lead-in sent alike is found to
 * within a few characters after four or five requests, as in a search, with a fixed memory.
 */
export const LEAD_MARKS = [32, 64, 128, 256, 512, 1024, 2048, 4096, 8192] as const;
/** Lengths at which the closing of a single-shot request's last message is compared (an event keeps a long turn's last 400 characters). */
export const TAIL_MARKS = [16, 32, 64, 128, 256, 384] as const;
/** Hashes kept between two marks, and the stretch they cover (its start, and the step between them). */
const FINE = 6;
/**
 * Lead-ins (and, apart, closings) of single-shot requests kept per account: a request is compared
 * with each and its agreement is the best of them, so preambles taken in turn are found as one
 * sent alike is, as long as there are no more of them than this. A request that agrees with none
 * takes the place of the one kept longest.
 */
export const PADDING_SLOTS = 4;
const LEAD_SLOTS = LEAD_MARKS.length + 2 + FINE;
const TAIL_SLOTS = TAIL_MARKS.length + 2 + FINE;
const TAILS_AT = PADDING_SLOTS * LEAD_SLOTS;
const SYSTEM_SLOT = TAILS_AT + PADDING_SLOTS * TAIL_SLOTS;
/** After the system prompt key: tool-set hash, input tokens shown no text for, last message key, and which lead-in slot (low byte) and closing slot (next byte) a request agreeing with none takes next. */
const NEXT_SLOT = SYSTEM_SLOT + 4;
/**
 * Entries of a per-account sketch as a snapshot stores it (`FreshSketches.dense`): the lead-in and
 * closing hashes of its last `PADDING_SLOTS` different single-shot requests that continued
 * nothing, then its last request's system prompt key, tool-set hash, the tokens of its input the
 * event shows no text for, the key of its last message and which slots are taken next (129
 * numbers, 516 bytes).
 */
export const FRESH_SKETCH = NEXT_SLOT + 1;
/** Entries an account holds in place (`FreshSketches.inline`): its first lead-in and closing slots, then the five of its last request. */
const FRESH_INLINE = LEAD_SLOTS + TAIL_SLOTS + 5;
const I_TAIL = LEAD_SLOTS;
const I_SYSTEM = LEAD_SLOTS + TAIL_SLOTS;
const I_TOOLS = I_SYSTEM + 1;
const I_TOOL_INPUT = I_SYSTEM + 2;
const I_LAST = I_SYSTEM + 3;
const I_NEXT = I_SYSTEM + 4;
/** Entries of a row of `FreshSketches.more`: an account's other lead-in slots, then its other closing slots. */
const MORE_ROW = (PADDING_SLOTS - 1) * (LEAD_SLOTS + TAIL_SLOTS);
const MORE_TAILS = (PADDING_SLOTS - 1) * LEAD_SLOTS;

/**
 * The accounts' sketches (`freshInput`). Each account holds its first lead-in and closing slots and
 * its last request's entries in place (`FRESH_INLINE` numbers, 144 bytes); its other
 * `PADDING_SLOTS - 1` lead-in and closing slots (372 bytes) take a row of `more` only once it sends
 * a second single-shot lead-in or closing unlike the first. Most accounts never do (one question,
 * or the same preamble each time), and a slot never written reads as an empty one, which agrees
 * with nothing: what a request counts is the same as with every slot in place.
 */
export class FreshSketches {
  /** Accounts held (entries of `inline` and `row` per FRESH_INLINE and 1). */
  cap = 0;
  inline = new Uint32Array(0);
  /** Per account, its row of `more` plus one (0: none yet). */
  row = new Int32Array(0);
  more = new Uint32Array(0);
  /** Rows handed out; those of forgotten accounts (`clear`) are reused first. */
  rows = 0;
  readonly freeRows: number[] = [];

  constructor(cap = 0) { this.grow(cap); }

  /** Room for `cap` accounts. */
  grow(cap: number): void {
    if (cap <= this.cap) return;
    const inline = new Uint32Array(cap * FRESH_INLINE); inline.set(this.inline); this.inline = inline;
    const row = new Int32Array(cap); row.set(this.row); this.row = row;
    this.cap = cap;
  }

  /** Account i's row of `more` (made when it has none). */
  rowOf(i: number): number {
    const r = this.row[i] - 1;
    if (r >= 0) return r;
    const made = this.freeRows.length > 0 ? this.freeRows.pop()! : this.rows++;
    if ((made + 1) * MORE_ROW > this.more.length) {
      // Grown by half: rows are made one account at a time, over the whole life of the engine.
      const b = new Uint32Array(Math.max(made + 1, Math.ceil(this.more.length / MORE_ROW * 1.5), 256) * MORE_ROW);
      b.set(this.more); this.more = b;
    }
    this.row[i] = made + 1;
    return made;
  }

  /** Forget account i's sketch (its index is reused by another account). */
  clear(i: number): void {
    this.inline.fill(0, i * FRESH_INLINE, (i + 1) * FRESH_INLINE);
    const r = this.row[i] - 1;
    if (r >= 0) { this.more.fill(0, r * MORE_ROW, (r + 1) * MORE_ROW); this.freeRows.push(r); this.row[i] = 0; }
  }

  /** Accounts holding a row of `more`. */
  get withRow(): number { return this.rows - this.freeRows.length; }

  /** The sketches of the first `cap` accounts, `FRESH_SKETCH` entries each, every slot in place (what a snapshot stores). */
  dense(cap = this.cap): Uint32Array {
    const out = new Uint32Array(cap * FRESH_SKETCH);
    for (let i = 0; i < Math.min(cap, this.cap); i++) {
      const to = i * FRESH_SKETCH; const from = i * FRESH_INLINE;
      out.set(this.inline.subarray(from, from + LEAD_SLOTS), to);
      out.set(this.inline.subarray(from + I_TAIL, from + I_TAIL + TAIL_SLOTS), to + TAILS_AT);
      out.set(this.inline.subarray(from + I_SYSTEM, from + FRESH_INLINE), to + SYSTEM_SLOT);
      const r = this.row[i] - 1;
      if (r < 0) continue;
      const m = r * MORE_ROW;
      out.set(this.more.subarray(m, m + MORE_TAILS), to + LEAD_SLOTS);
      out.set(this.more.subarray(m + MORE_TAILS, m + MORE_ROW), to + TAILS_AT + TAIL_SLOTS);
    }
    return out;
  }

  /** Sketches of `cap` accounts from `dense` (`FRESH_SKETCH` entries each; null: all empty), a row only for those using more than the first slots. */
  static fromDense(dense: Uint32Array | null, cap: number): FreshSketches {
    const out = new FreshSketches(cap);
    if (dense === null) return out;
    for (let i = 0; i < cap && (i + 1) * FRESH_SKETCH <= dense.length; i++) {
      const from = i * FRESH_SKETCH; const to = i * FRESH_INLINE;
      out.inline.set(dense.subarray(from, from + LEAD_SLOTS), to);
      out.inline.set(dense.subarray(from + TAILS_AT, from + TAILS_AT + TAIL_SLOTS), to + I_TAIL);
      out.inline.set(dense.subarray(from + SYSTEM_SLOT, from + FRESH_SKETCH), to + I_SYSTEM);
      const leads = dense.subarray(from + LEAD_SLOTS, from + TAILS_AT);
      const tails = dense.subarray(from + TAILS_AT + TAIL_SLOTS, from + SYSTEM_SLOT);
      if (!leads.some((x) => x !== 0) && !tails.some((x) => x !== 0)) continue;
      const m = out.rowOf(i) * MORE_ROW;
      out.more.set(leads, m);
      out.more.set(tails, m + MORE_TAILS);
    }
    return out;
  }
}

/** Entries of the sketch before `PADDING_SLOTS` (snapshot format 6): one lead-in and one closing. */
export const FRESH_SKETCH_6 = LEAD_SLOTS + TAIL_SLOTS + 4;

/**
 * A format-6 sketch (`FRESH_SKETCH_6` entries an account) in this layout: its lead-in and closing
 * in the first slots, the rest as it was.
 */
export function sketchFromFormat6(old: Uint32Array, accounts: number) {
  const out = new Uint32Array(accounts * FRESH_SKETCH);
  for (let i = 0; i * FRESH_SKETCH_6 < old.length && i < accounts; i++) {
    const from = i * FRESH_SKETCH_6; const to = i * FRESH_SKETCH;
    out.set(old.subarray(from, from + LEAD_SLOTS), to);
    out.set(old.subarray(from + LEAD_SLOTS, from + LEAD_SLOTS + TAIL_SLOTS), to + TAILS_AT);
    out.set(old.subarray(from + LEAD_SLOTS + TAIL_SLOTS, from + FRESH_SKETCH_6), to + SYSTEM_SLOT);
  }
  return out;
}

/**
 * What the account sent before, by the hash of a request's messages (all of them, in order): a
 * request that goes on from earlier ones holds, before its last message, all the messages of one
 * the account sent. Kept in the served-answers record's filter (served-answers.ts), in fixed memory.
 */
export interface SentRequests {
  /**
   * One more request going on from the request whose messages hash to `key`: null when the
   * account sent none such (recently enough to be remembered); false once as many went on from
   * it as a person's edits and retries make (then a prefix re-sent before question after question).
   */
  followSent(key: number): boolean | null;
  /** The account sent a request whose messages hash to `key`. */
  recordSent(key: number): void;
}
/** Messages before the last one searched for the previous request's last message, and for the end of a request the account sent. */
const CONTINUED_WITHIN = 16;

/**
 * Hash of the first k characters read, at index k (scratch: one pass fills what a request has;
 * question-pass.ts's, which a single-shot question's one pass fills too).
 */
const prefix = leadPrefix;
if (LEAD_MARKS[LEAD_MARKS.length - 1] !== LEAD_CHARS) throw new Error('standing-input: the lead-in marks end where question-pass.ts reads to');
const suffix = new Uint32Array(TAIL_MARKS[TAIL_MARKS.length - 1] + 1);
const FNV_PRIME = 0x01000193;

/**
 * Hashes of the first characters of `msgs`' text (each message's role mixed in before it, so the
 * same words in another message differ) into `prefix`; returns how many were read (up to the last
 * mark, or to a message whose text was not recorded).
 */
export function leadHashes(msgs: InteractionEvent['request']['messages']): number {
  forgetQuestion();
  let h = 0x811c9dc5; let pos = 0;
  const end = prefix.length - 1;
  for (let m = 0; m < msgs.length && pos < end; m++) {
    const t = msgs[m].text;
    if (t === null || t === undefined) { if (msgs[m].chars > 0) break; continue; }
    h = roleMix(h, msgs[m].role);
    for (let c = 0, n = t.length; c < n && pos < end; c++) {
      h = Math.imul(h ^ charCodeAt(t, c), FNV_PRIME);
      prefix[++pos] = (h >>> 0) || 1;
    }
  }
  return pos;
}

/** Hashes of the last characters of the last message with text, from its end back, into `suffix`; returns how many were read. */
function tailHashes(msgs: InteractionEvent['request']['messages']): number {
  for (let m = msgs.length - 1; m >= 0; m--) {
    const t = msgs[m].text;
    if (!t) continue;
    let h = roleMix(0x811c9dc5, msgs[m].role);
    const end = Math.min(t.length, suffix.length - 1);
    for (let c = 1; c <= end; c++) {
      h = Math.imul(h ^ charCodeAt(t, t.length - c), FNV_PRIME);
      suffix[c] = (h >>> 0) || 1;
    }
    return end;
  }
  return 0;
}

/**
 * How many of the first characters hashed in `hashes` (`read` of them) agree with the request one
 * of account i's `PADDING_SLOTS` lead-in (or, `tail`, closing) slots holds (each: its mark hashes,
 * then the fine stretch's start and step and its hashes), the one agreeing furthest; then stores
 * this request's hashes there (if none agrees, in the slot the byte of its next-slot entry at
 * `nextShift` names, the one kept longest), the fine ones spread over the stretch between the
 * agreement and the next length known to differ.
 */
function agreeAndStore(marks: readonly number[], hashes: Uint32Array, read: number, sketches: FreshSketches, i: number, tail: boolean, nextShift: number): number {
  const width = marks.length + 2 + FINE;
  const first = i * FRESH_INLINE + (tail ? I_TAIL : 0);
  const r = sketches.row[i] - 1;
  const others = tail ? MORE_TAILS : 0;
  // The slot agreeing furthest; none: the one kept longest. Without a row, the other slots are
  // empty: they agree with nothing.
  let best = -1; let same = 0; let differs = Math.min(read + 1, hashes.length);
  for (let s = 0; s < PADDING_SLOTS; s++) {
    if (s > 0 && r < 0) break;
    const a = s === 0 ? agreement(marks, hashes, read, sketches.inline, first) : agreement(marks, hashes, read, sketches.more, r * MORE_ROW + others + (s - 1) * width);
    if (a > same) { best = s; same = a; differs = agreedDiffers; }
  }
  if (best < 0) {
    const inline = sketches.inline; const slot = i * FRESH_INLINE + I_NEXT;
    best = (inline[slot] >>> nextShift) & 0xff;
    inline[slot] = (inline[slot] & ~(0xff << nextShift)) | (((best + 1) % PADDING_SLOTS) << nextShift);
  }
  if (best === 0) store(marks, hashes, read, sketches.inline, first, same, differs);
  else {
    const at = sketches.rowOf(i) * MORE_ROW + others + (best - 1) * width; // may grow `more`: read it after
    store(marks, hashes, read, sketches.more, at, same, differs);
  }
  return same;
}

/** Where the last `agreement` found the request to differ. */
let agreedDiffers = 0;

/** How many of the first characters hashed in `hashes` agree with the request the stretch at `at` holds (sets `agreedDiffers`). */
function agreement(marks: readonly number[], hashes: Uint32Array, read: number, sketch: Uint32Array, at: number): number {
  const lo = sketch[at + marks.length]; const step = sketch[at + marks.length + 1];
  const fine = at + marks.length + 2;
  let same = 0; let differs = Math.min(read + 1, hashes.length);
  for (let k = 0; k < marks.length && marks[k] <= read; k++) {
    if (hashes[marks[k]] !== sketch[at + k]) { differs = Math.min(differs, marks[k]); break; }
    same = marks[k];
  }
  for (let j = 0; j < FINE && step > 0; j++) {
    const p = lo + step * (j + 1);
    if (p > read) break;
    if (hashes[p] === sketch[fine + j]) same = Math.max(same, p);
    else if (p > same) differs = Math.min(differs, p);
  }
  agreedDiffers = differs;
  return same;
}

/** Stores the request's hashes at `at`, the fine ones spread over the stretch between its agreement `same` and `differs`. */
function store(marks: readonly number[], hashes: Uint32Array, read: number, sketch: Uint32Array, at: number, same: number, differs: number): void {
  const fine = at + marks.length + 2;
  for (let k = 0; k < marks.length; k++) sketch[at + k] = marks[k] <= read ? hashes[marks[k]] : 0;
  // The next request is compared within (same, differs): the boundary of what is sent alike lies there.
  const top = Math.min(differs, read + 1);
  const nextStep = Math.max(1, Math.floor((top - same) / (FINE + 1)));
  sketch[at + marks.length] = same; sketch[at + marks.length + 1] = top - same > 1 ? nextStep : 0;
  for (let j = 0; j < FINE; j++) {
    const p = same + nextStep * (j + 1);
    sketch[fine + j] = p < top && p <= read ? hashes[p] : 0;
  }
}

/**
 * Key of a system prompt: its length, up to 256 of its characters spread evenly over it and its
 * last 64 (0: none). Retrieved passages that change between requests change it; reading a bounded
 * part keeps its cost flat, and a prompt that differs in a character or two reads as the same,
 * which it is for the ratio.
 */
function systemKey(s: string | null): number {
  if (!s) return 0;
  const n = s.length;
  const step = n <= 256 ? 1 : Math.floor(n / 256);
  let h = (0x811c9dc5 ^ n) >>> 0;
  for (let c = 0; c < n; c += step) h = Math.imul(h ^ charCodeAt(s, c), FNV_PRIME);
  for (let c = Math.max(0, n - 64); c < n; c++) h = Math.imul(h ^ charCodeAt(s, c), FNV_PRIME);
  return (h >>> 0) || 1;
}

/** The message `messageKey` read last, and its key: a request's first message is read as the first and again as itself, a last one again after. */
let keyedText: string | null = null; let keyedRole = ''; let keyed = 0;

/** Key of a message: its role, length and up to 64 of its characters spread evenly over it (0: no text). */
function messageKey(m: InteractionEvent['request']['messages'][number] | undefined): number {
  const t = m?.text;
  if (!t) return 0;
  if (t === keyedText && m.role === keyedRole) return keyed;
  const step = t.length <= 64 ? 1 : Math.floor(t.length / 64);
  let h = roleMix((0x811c9dc5 ^ t.length) >>> 0, m.role);
  for (let c = 0; c < t.length; c += step) h = Math.imul(h ^ charCodeAt(t, c), FNV_PRIME);
  keyedText = t; keyedRole = m.role; keyed = (h >>> 0) || 1;
  return keyed;
}

/** Keys of the request's messages up to each of its last `CONTINUED_WITHIN + 1` (scratch of `sentKeys`). */
const upTo = new Uint32Array(CONTINUED_WITHIN + 1);

/**
 * Keys of the request's messages from the first up to each of the last `CONTINUED_WITHIN + 1`
 * (into `upTo`, the last message's at `upTo[n - 1]`); returns n. A key holds the roles and
 * lengths of every message up to it and the text keys of the first and of that one: what a
 * request sends again of one it goes on from, read without reading the middle messages' text.
 */
function sentKeys(msgs: InteractionEvent['request']['messages']): number {
  const from = Math.max(0, msgs.length - 1 - CONTINUED_WITHIN);
  const first = messageKey(msgs[0]);
  let shape = 0x811c9dc5;
  for (let m = 0; m < msgs.length; m++) {
    shape = Math.imul(roleMix(shape, msgs[m].role) ^ msgs[m].chars, FNV_PRIME);
    if (m < from) continue;
    let h = Math.imul(shape ^ first, FNV_PRIME);
    h = Math.imul(h ^ messageKey(msgs[m]), FNV_PRIME);
    h ^= h >>> 15; h = Math.imul(h, 0x2c1b3c6d); h ^= h >>> 12;
    upTo[m - from] = (h >>> 0) || 1;
  }
  return msgs.length - from;
}

/**
 * Whether the request goes on from earlier ones: a continued Responses chain, messages of a long
 * request left out of the event with answers among them, or, with `sent`, messages before its
 * last one that are all those of a request the account sent (the next turn or step: the earlier
 * request's messages, its answer and the new turn), the latest such followed by no more requests
 * than a person's edits and retries make. Without `sent`: two or more answers or tool calls
 * before its last message, or the previous request's last message among those before its own.
 * What it re-sends is then the conversation's input, counted as such; only a request that starts
 * anew (a new question, a trajectory's first step, or a trajectory the account never sent the
 * steps of: made up) is read for what it sends alike with earlier ones. Records the request as
 * sent.
 */
function continues(req: InteractionEvent['request'], previousLast: number, sent: SentRequests | undefined): boolean {
  if (req.previous_response_id || (req.item_references?.length ?? 0) > 0) return true;
  if ((req.messages_omitted?.roles.assistant ?? 0) > 0) return true;
  const msgs = req.messages;
  if (sent !== undefined) {
    if (msgs.length === 0) return false;
    const n = sentKeys(msgs);
    let goesOn = false;
    for (let k = n - 2; k >= 0; k--) {
      const followed = sent.followSent(upTo[k]);
      if (followed !== null) { goesOn = followed; break; }
    }
    sent.recordSent(upTo[n - 1]);
    return goesOn;
  }
  let answers = 0;
  for (let m = msgs.length - 2; m >= 0; m--) {
    if (msgs[m].role === 'assistant' && ++answers >= 2) return true;
    if (previousLast !== 0 && m >= msgs.length - 1 - CONTINUED_WITHIN && messageKey(msgs[m]) === previousLast) return true;
  }
  return false;
}

/**
 * The request's input tokens the ratio reads: those it sent that the account's previous requests
 * did not (see the module comment), at least 1 when it had any input. Updates account `i`'s
 * sketch (in `sketches`). `singleShot`: the request has
 * no conversation before its turn (FLAG.singleShot); `toolsHash`: its tool set's (0: none).
 */
export function freshInput(sketches: FreshSketches, i: number, ev: InteractionEvent, singleShot: boolean, toolsHash: number, sent?: SentRequests): number {
  const input = ev.response.input_tokens;
  const req = ev.request;
  const msgs = req.messages;
  const sketch = sketches.inline;
  const base = i * FRESH_INLINE;
  const system = req.system;
  const sysKey = systemKey(system);
  const anew = !continues(req, sketch[base + I_LAST], sent);
  // The input the event shows no text for: tool definitions, and the rest of what the count holds
  // beyond the text at CHARS_PER_TOKEN (message framing, text in scripts of fewer characters a
  // token). With the same tools as the previous request, as much of it as that request had is the
  // tool definitions sent again.
  let shown = (system?.length ?? 0) + (req.system_documents?.chars ?? 0) + (req.messages_omitted?.chars ?? 0);
  for (let m = 0; m < msgs.length; m++) shown += msgs[m].chars;
  const unshown = Math.max(0, input - Math.ceil(shown / CHARS_PER_TOKEN));

  let repeated = 0;
  if (system) repeated += Math.floor((anew && sysKey === sketch[base + I_SYSTEM] ? system.length : Math.min(system.length, STANDING_SYSTEM_CHARS)) / CHARS_PER_TOKEN);
  if (anew && toolsHash !== 0 && toolsHash === sketch[base + I_TOOLS]) repeated += Math.min(unshown, sketch[base + I_TOOL_INPUT]);
  // A single-shot request's lead-in and closing, against the last few such requests'.
  if (anew && singleShot && msgs.length > 0) {
    let text = 0;
    for (let m = 0; m < msgs.length; m++) text += msgs[m].text?.length ?? 0;
    // A question of one user message was read already (question-pass.ts), its lead-in hashes with it.
    const only = msgs.length === 1 && msgs[0].role === 'user' ? msgs[0].text : null;
    const read = only && question.text !== null && question.text === only ? question.lead : leadHashes(msgs);
    const head = agreeAndStore(LEAD_MARKS, prefix, read, sketches, i, false, 0);
    const end = agreeAndStore(TAIL_MARKS, suffix, tailHashes(msgs), sketches, i, true, 8);
    repeated += Math.floor(Math.min(text, head + end) / CHARS_PER_TOKEN);
  }
  sketch[base + I_SYSTEM] = sysKey;
  if (input > 0) { sketch[base + I_TOOLS] = toolsHash; sketch[base + I_TOOL_INPUT] = unshown; }
  let last = msgs.length - 1;
  while (last > 0 && !msgs[last].text) last--;
  sketch[base + I_LAST] = messageKey(msgs[last]);
  if (input <= 0) return input;
  return Math.max(1, input - repeated);
}
