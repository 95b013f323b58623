/**
 * Continued responses (the Responses API's `previous_response_id`). The model reads the stored
 * chain before the request's own input, and the event holds only that input: read alone, every
 * continuation looks like a first question, and an instruction stored once at the chain's root
 * ("think step by step ... Reply OK.") is never read. This table remembers, for each answer the
 * detector has seen (`response.answer_id`), what a request continuing it needs: the chain's
 * history (the answers and tool results the model wrote or read before, in characters, as
 * features.ts counts a conversation's) and the elicitation its user turns asked for, OR-ed down
 * the chain, and how many requests have continued it.
 *
 * A continuing request is then read as the same messages sent inline would be: a chain whose
 * history is at most `GREETING_CHARS` (an instruction and its "OK.") is no conversation, and the
 * request stays single-shot and carries the chain's elicitation; a longer chain is a
 * conversation, which inherits nothing (a question asked once does not mark every later turn).
 * Fan-out is read on its own: people continue a chat from its last answer, and go back to one
 * answer a time or two (regenerate, edit); the `FANOUT_BRANCHES`th and later requests continuing
 * one answer are branches of a stored prefix, each a new question with that prefix's elicitation,
 * however long the prefix (a long root would otherwise make every branch a "conversation").
 * An answer the table does not know (never seen, or forgotten) is read as a long chain.
 *
 * Stored items named by id (`item_reference` input items, `request.item_references`): the model
 * reads an earlier answer's output item, whose text the request does not carry. The first
 * `ITEM_IDS_KEPT` output item ids of each answer (`response.item_ids`) are remembered in the same
 * table with that answer's chain, so a request naming one is read as one continuing that chain
 * (its history and elicitation, as with `previous_response_id`). A reference the table cannot
 * resolve (an item of an answer never seen or forgotten, a later item of a long answer, an input
 * item of the upstream's store, or past the 64 an event keeps) is text the model reads and the
 * detector does not: the request is marked as carrying hidden content (`FLAG.unreadableDocument`,
 * scored with unreadable documents) and read as a long chain.
 *
 * Bounded: a fixed table of `CHAIN_ENTRIES` answers (131,072) in sets of four, the least recently
 * used of a set replaced first (continuing an answer uses it again, so a root being fanned out
 * stays). An answer is two 32-bit hashes of its id, a packed value and a use stamp: 16 bytes, 2 MB
 * in all, allocated once; no id string is kept.
 */
import type { InteractionEvent } from '../events/index.ts';
import { FLAG, GREETING_CHARS, fnv1a } from './features.ts';

/** Answers remembered: a table of this many slots (a power of two), in sets of `WAYS`. */
export const CHAIN_ENTRIES = 1 << 17;
/** Slots a set holds: an answer goes to one set, replacing the least recently used of it when full. */
const WAYS = 4;
/** The number of requests continuing one answer from which each is a branch of a shared prefix. */
export const FANOUT_BRANCHES = 3;

/**
 * Output item ids of each answer remembered (of the 64 an event keeps): a message, its reasoning
 * and a few tool calls; more would push answers out of the table.
 */
export const ITEM_IDS_KEPT = 8;

/** The flags a chain carries to the requests continuing it: what its user turns asked for. */
const INHERITED = FLAG.cot | FLAG.rubric | FLAG.sensitiveRewrite;
/** Histories are counted up to this (an unknown chain is this long). */
const HISTORY_CAP = 0xfffff;
const COUNT_CAP = 0xff;

// Packed value (31 bits): history (20 bits) << 11 | continuations (8 bits) << 3 | inherited flags (3 bits).
const pack = (history: number, count: number, flags: number) => ((Math.min(history, HISTORY_CAP) << 11) | (Math.min(count, COUNT_CAP) << 3) | packFlags(flags)) >>> 0;
const historyOf = (v: number) => v >>> 11;
const countOf = (v: number) => (v >>> 3) & 0xff;
const flagsOf = (v: number) => unpackFlags(v & 7);
function packFlags(f: number): number {
  return ((f & FLAG.cot) ? 1 : 0) | ((f & FLAG.rubric) ? 2 : 0) | ((f & FLAG.sensitiveRewrite) ? 4 : 0);
}
function unpackFlags(b: number): number {
  return ((b & 1) ? FLAG.cot : 0) | ((b & 2) ? FLAG.rubric : 0) | ((b & 4) ? FLAG.sensitiveRewrite : 0);
}

/** How a continuing request was read. */
export interface ChainReading {
  /** The chain's history before this request, in characters (HISTORY_CAP when unknown). */
  history: number;
  /** How many requests had continued the same answer before this one. */
  earlier: number;
  /** Read as a branch of a shared prefix (fan-out). */
  fanout: boolean;
  /** Item references (`item_reference`) the table resolved, and those it could not (hidden content). */
  resolvedItems: number;
  unresolvedItems: number;
}

export class ResponseChains {
  /** Per slot: two 32-bit hashes of the answer id (the second never 0: 0 is a free slot), the packed value, when last used. */
  hashA: Uint32Array;
  hashB: Uint32Array;
  value: Uint32Array;
  used: Uint32Array;
  /** Use counter (the least recently used slot of a set is replaced). */
  clock = 0;
  /** Requests read as fan-out branches so far. */
  branches = 0;

  constructor(readonly slots = CHAIN_ENTRIES) {
    this.hashA = new Uint32Array(slots);
    this.hashB = new Uint32Array(slots);
    this.value = new Uint32Array(slots);
    this.used = new Uint32Array(slots);
  }

  /** Answers remembered now. */
  get size(): number {
    let n = 0;
    for (let i = 0; i < this.slots; i++) if (this.hashB[i] !== 0) n++;
    return n;
  }

  /**
   * A Responses request's flags read with its chain, and its own answer remembered. `flags` are
   * the request's own (extractFeatures); returns them as the chain's messages sent inline would
   * have made them. Requests continuing nothing only have their answer remembered.
   */
  read(ev: InteractionEvent, flags: number, out?: { reading?: ChainReading }): number {
    if (ev.flavour !== 'openai.responses') return flags;
    const prev = ev.request.previous_response_id;
    const refs = ev.request.item_references ?? [];
    const omitted = ev.request.item_references_omitted ?? 0;
    let history = 0;
    let chainFlags = 0;
    let earlier = 0;
    let fanout = false;
    if (prev) {
      const found = this.slotOf(prev);
      const known = found >= 0;
      const slot = known ? found : ~found;
      const v = this.value[slot];
      earlier = known ? countOf(v) : 0;
      history = known ? historyOf(v) : HISTORY_CAP;
      chainFlags = known ? flagsOf(v) : 0;
      fanout = earlier + 1 >= FANOUT_BRANCHES;
      // Used again, one more continuation counted (not a refused one: a client retrying after a 429
      // goes back to the same answer); an unknown answer is remembered as a long chain.
      this.value[slot] = pack(history, ev.response.status < 400 ? earlier + 1 : earlier, chainFlags);
      if (fanout) this.branches++;
    }
    let resolvedItems = 0;
    let unresolvedItems = omitted;
    for (const ref of refs) {
      // Looked up, never added: an unknown id takes no slot.
      const slot = this.find(ref);
      if (slot < 0) { unresolvedItems++; continue; }
      resolvedItems++;
      const v = this.value[slot];
      history = Math.max(history, historyOf(v));
      chainFlags |= flagsOf(v);
    }
    // Text the model reads that no event seen holds: hidden from the detector, as an unreadable
    // document's is; and the chain it belongs to is unknown (a long one, as an unknown answer).
    if (unresolvedItems > 0) {
      flags |= FLAG.unreadableDocument;
      history = HISTORY_CAP;
    }
    if ((prev || refs.length || omitted) && (flags & FLAG.singleShot) !== 0) {
      if (fanout || history <= GREETING_CHARS) flags |= chainFlags;
      else flags &= ~FLAG.singleShot;
    }
    if (out && (prev || refs.length || omitted)) out.reading = { history, earlier, fanout, resolvedItems, unresolvedItems };
    const id = ev.response.answer_id;
    if (id && ev.response.status < 400) {
      // This answer's chain: what came before, what this request's own messages hold of the
      // model's answers and tool results, and the answer itself.
      let own = ev.response.output_chars;
      for (const m of ev.request.messages) if (m.role === 'assistant' || m.role === 'tool') own += m.chars;
      // The request's system text is in its flags too: Responses `instructions` are not carried
      // down a chain, but developer messages of the input are, and the event holds both as one.
      const value = pack(history + own, 0, chainFlags | (flags & INHERITED));
      const found = this.slotOf(id);
      this.value[found >= 0 ? found : ~found] = value;
      // Its output items, which later requests may name: each stands for this chain.
      const items = ev.response.item_ids ?? [];
      for (let i = 0; i < items.length && i < ITEM_IDS_KEPT; i++) {
        if (items[i] === id) continue;
        const at = this.slotOf(items[i]);
        this.value[at >= 0 ? at : ~at] = value;
      }
    }
    return flags;
  }

  /** The slot of an id, marked used, or -1 when the table does not hold it (nothing is added). */
  private find(id: string): number {
    const a = fnv1a(id);
    const b = fnv1a(id, 0x2545f491) || 1;
    const base = (a & (this.slots / WAYS - 1)) * WAYS;
    for (let s = base; s < base + WAYS; s++) {
      if (this.hashB[s] === b && this.hashA[s] === a) {
        if (this.clock >= 0xfffffffe) this.age();
        this.used[s] = ++this.clock;
        return s;
      }
    }
    return -1;
  }

  /**
   * The slot of an answer id, marked used: where it is (>= 0), or `~slot` for the one it now takes
   * (a free one, else its set's least recently used), which then holds nothing of its own.
   */
  private slotOf(id: string): number {
    const a = fnv1a(id);
    const b = fnv1a(id, 0x2545f491) || 1;
    const base = (a & (this.slots / WAYS - 1)) * WAYS;
    if (this.clock >= 0xfffffffe) this.age();
    let take = base;
    for (let s = base; s < base + WAYS; s++) {
      if (this.hashB[s] === b && this.hashA[s] === a) { this.used[s] = ++this.clock; return s; }
      if (this.hashB[take] !== 0 && (this.hashB[s] === 0 || this.used[s] < this.used[take])) take = s;
    }
    this.hashA[take] = a; this.hashB[take] = b; this.value[take] = 0; this.used[take] = ++this.clock;
    return ~take;
  }

  /** Halve every use stamp (the counter is 32-bit): their order stays. */
  private age(): void {
    for (let i = 0; i < this.slots; i++) this.used[i] >>>= 1;
    this.clock = 0x80000000;
  }
}
