/**
 * Per-request features: what one interaction says about itself, computed in one pass over a
 * bounded part of the prompt (at most `READ_BUDGET` characters an event in all: turn, system
 * prompt, tool results and documents), so an event costs microseconds, about 100 at the most.
 * Nothing here knows about accounts or time; the engine aggregates these into windows.
 */
import { enumeratedItems } from './items.ts';
import { problemKeys } from './shared-problems.ts';
import { answerFpOf, charCodeAt, saysNothing, type EventMessage, type InteractionEvent } from '../events/index.ts';
export { parseIsoMs } from '../events/index.ts';
import { FOLDED, HIT, foldText, lexiconHits, lowerText, personWords } from './lexicon.ts';
import { inputBeyondStanding } from './standing-input.ts';
import { question, readQuestion } from './question-pass.ts';

/** Bits of `RequestFeatures.flags`. Stable: they index counters and appear in explanations. */
export const FLAG = {
  /** Prompt text asks for step-by-step reasoning / chain of thought. */
  cot: 1 << 0,
  /**
   * Client asked the model to reason more than by default: an OpenAI reasoning effort of medium or
   * above, an Anthropic thinking budget or thinking on at a high effort (see `asksForReasoning`).
   */
  reasoningParam: 1 << 1,
  /** Rubric / grading / preference-judging task (reward-model data). */
  rubric: 1 << 2,
  /** Rewrite/paraphrase request on a sensitive topic. */
  sensitiveRewrite: 1 << 3,
  /** Tools offered or tool calls / tool results present. */
  tools: 1 << 4,
  /** Looks like a coding request. */
  code: 1 << 5,
  /** Looks like a maths / quantitative word problem. */
  math: 1 << 6,
  /**
   * One user turn, no assistant answer it follows: no conversation. A trailing assistant prefill
   * (the answer's start) and short assistant lines anywhere (a greeting, "OK.", a tool call with no
   * text: `GREETING_CHARS` of history in all) are not answers; each prompt of a legacy completions
   * prompt array is a request of its own.
   */
  singleShot: 1 << 7,
  /** Parameters only distillers need: logprobs, top_logprobs, n > 1. */
  distillParams: 1 << 8,
  /** Multi-turn trace with tool results fed back (agentic trajectory). */
  agenticTrace: 1 << 9,
  /** A system prompt is present. */
  system: 1 << 10,
  /** Upstream or gateway error (status >= 400). */
  error: 1 << 11,
  /**
   * The user's turn hides words from a reader that matches text: an invisible character inside a
   * word, or Latin letters mixed with Cyrillic look-alikes in one word (see `foldText`).
   */
  obfuscated: 1 << 12,
  /**
   * Tokens pushed up with `logit_bias` and the answer read through log-probabilities or cut to a
   * few tokens: how logits are read through the API, one bias map at a time (see logit-probe.ts).
   */
  logitProbe: 1 << 13,
  /**
   * A document of the request could not be read because of what it is (a PDF too slow or too
   * large to parse, unparseable, a bomb; an image too large to decode): its text, a prompt
   * perhaps, is hidden from the signals above. The gateway's reader says which (`documents_unreadable`).
   */
  unreadableDocument: 1 << 14,
  /**
   * A closed-form task written as a dataset item is: a coding or maths request phrased as an
   * instruction or a question, with no one speaking or addressed (no I, my, you, please, thanks,
   * hello, and their counterparts in seventeen other languages). People write to someone about their own
   * work; benchmark and instruction sets are written to stand alone, so they can be answered and
   * checked without context. Task verbs are read in English and the languages of `TASK_VERB_OTHER`,
   * `TASK_VERB_AR`, `OPENING_IMPERATIVE` and `IMPERATIVE_END`.
   */
  closedTask: 1 << 15,
  /**
   * A reasoning trace went back to the client (`response.reasoning_chars` > 0: an OpenAI reasoning
   * summary, Anthropic thinking text), asked for or not: on a reasoning model the trace is the
   * answer a distiller wants. Hidden reasoning tokens (billed, never shown) are not a trace.
   */
  reasoningTrace: 1 << 16,
  /**
   * A conversation's turn that is a new question, not a follow-up: a coding or maths question
   * asking for reasoning, of NEW_ITEM_WORDS words or more, most of them not in the user's previous
   * turn. A harvester asking its dataset one question a turn; a student working through a problem
   * set in one chat too. Read by the harvest part of the yield test only (harvest-yield.ts: ITEMS).
   */
  newItemTurn: 1 << 17,
  /**
   * A conversation's turn of the user's own words that asks something new, whatever it is about
   * (NEW_ITEM_WORDS words or more, most of them not in the user's previous turn): not a follow-up
   * on the answer before it. A harvest moving on to its next item, a person changing the subject.
   * Read by the harvest part's follow-up reading (harvest-yield.ts: observeFollowUp), which
   * credits a follow-up only to a turn that is not new.
   */
  newTurn: 1 << 18,
  /**
   * An opening question (`problem` keyed) another account asked first (shared-problems.ts): set by
   * the engine, which holds the table of who asked what, before the request reaches the windows.
   */
  sharedProblem: 1 << 19,
} as const;
export type FlagName = keyof typeof FLAG;

export interface RequestFeatures {
  flags: number;
  /** Wrapper-template fingerprint: hash of normalised first and last words (0 if too short). */
  template: number;
  /** Hash of the normalised system prompt (0 if none). */
  systemHash: number;
  /** Hash of the sorted tool names (0 if none). */
  toolsHash: number;
  /** Hash of the non-default sampling parameters plus model (0 if all defaults). */
  paramsHash: number;
  /** Input tokens, less a standing system prompt of up to a persona's length (standing-input.ts). */
  inputTokens: number;
  /** Output tokens, reasoning included (the event contract). */
  outputTokens: number;
  /** Logit probes only (else 0): the bias map's fingerprint, and a hash of the prompt it was applied to. */
  biasMap: number;
  promptKey: number;
  /**
   * An opening question's two near-duplicate keys (shared-problems.ts), else 0: a single-shot
   * request's, or a conversation turn's that moves on to a new question.
   */
  problem: number;
  problem2: number;
}

const PROBLEM_KEYS = new Uint32Array(2);

/** FNV-1a over a string, 32-bit, as an unsigned integer. */
export function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0, n = s.length; i < n; i++) {
    h ^= charCodeAt(s, i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Mix two 32-bit hashes into one. */
export function mix(a: number, b: number): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;
  return h >>> 0;
}

const PREFIX_WORDS = 6;
const SUFFIX_WORDS = 6;
/**
 * What the lexicons read of a turn: all of it up to SCAN_CHARS (as much as an event keeps of one
 * message by default, `events.max_message_chars`), else its first and last characters. Ordinary
 * words around a prompt hide it only past this, at about 2,000 input tokens a request, which also
 * takes the request out of the harvest-yield test's output/input ratio.
 */
const SCAN_CHARS = 8000;
const TURN_HEAD = 6000;
const TURN_TAIL = 2000;
/** What `closedTaskForm` reads of a longer turn: its opening and its close, where its form shows. */
const FORM_CHARS = 1500;
const FORM_HEAD = 900;
const FORM_TAIL = 400;
/**
 * What the lexicons read of one event in all: the turn first (up to SCAN_CHARS), then what is left
 * for the system prompt (when it is not cached), the tool results (from the last back) and the
 * system documents, each whole or its start and end. An agent step with large tool results costs
 * about what a long chat turn costs, not one turn per result.
 */
const READ_BUDGET = 10_000;
/** Of a part read in part: the share of its window taken from its start (the rest from its end). */
const HEAD_SHARE = 0.75;
/** Less than this left of the budget reads no further tool result or document. */
const PART_MIN = 200;
/**
 * A system prompt's edges: its first and last characters, read whatever the rest of the request
 * took of the budget (cached, a system prompt is read once). Past them, what is left of the budget
 * reads the rest (up to SCAN_CHARS).
 */
const SYSTEM_HEAD = 600;
const SYSTEM_TAIL = 400;
/**
 * A single-shot turn this short, with no flag of its own ("Answer the question in your
 * instructions."), points the model at the system prompt: what the system prompt's middle says
 * counts then. Behind any other turn, a long system prompt's middle is an application's standing
 * guidance (agent tools write "step by step" or "calculate" there, for every request of every
 * user) and only its edges count: read whole, this repository's docs as system prompts gave
 * `cot` to 15 of 68 (2 from the edges), a README `math` to 90 of 219 (30).
 */
const POINTER_TURN_CHARS = 200;
/**
 * History before the current turn (the model's answers, earlier tool results) no longer than this
 * in all is a few lines (a greeting, "OK.", a tool call with no text), however placed, not a
 * conversation the user turned back to.
 */
export const GREETING_CHARS = 160;
/**
 * Assistant text matching no answer served to the account (when its events carry answer
 * fingerprints) is not counted toward `GREETING_CHARS`; a history longer than this, made-up
 * answers included, is still a conversation: a chat continued from answers served elsewhere
 * (another provider, before Warden, another account of the team) stays one, and faking it costs
 * some 500 input tokens a request.
 */
const UNSERVED_HISTORY_CHARS = 2000;

/** Served answers of the request's account (see served-answers.ts); none: history is read by length alone. */
export interface ServedAnswerLookup {
  /** The account's events carry answer fingerprints (recently enough to be remembered). */
  readonly carries: boolean;
  /** The answer with this fingerprint (`answerFpOf`) was served to the account. */
  has(fp: number): boolean;
  /**
   * Count one more request sent after this served answer; false once it has been followed more
   * than a person does (a question edited, a retry): an answer replayed before question after
   * question. Null: an answer served to the account so often that it is read by length.
   */
  follow(fp: number): boolean | null;
}
/**
 * Whether a request's parameters ask for more reasoning than the API gives by default. OpenAI: an
 * effort of medium or above. Anthropic: a thinking budget, or thinking on at a high effort; its
 * effort defaults to high and applies with thinking off, so an effort alone, adaptive thinking
 * alone or a medium effort is how ordinary apps call it. Effort names are read case-blind; a name
 * not known (`auto`, a typo) asks for nothing, unless it says high or max.
 */
function asksForReasoning(p: InteractionEvent['request']['params'], flavour: InteractionEvent['flavour']): boolean {
  if ((p.thinking_budget ?? 0) > 0) return true;
  const effort = p.reasoning_effort?.toLowerCase();
  if (!effort) return false;
  const high = effort.includes('high') || effort.includes('max');
  if (flavour === 'anthropic.messages') return high && p.thinking != null && p.thinking !== 'disabled';
  return high || effort === 'medium';
}

/**
 * Normalised words of a bounded part of the text: lowercased, digits folded to '0', punctuation
 * dropped. Returns the hashes of the first and last few words (the template skeleton).
 */
function skeleton(text: string): number {
  // Template = wrapper text: the same opening and closing words around a varying payload.
  const front = leadingWords(text, PREFIX_WORDS, PREFIX_WORDS + SUFFIX_WORDS + 4);
  if (front < 0) return 0;
  return mix(front, words(text, SUFFIX_WORDS, true)) || 1;
}

/**
 * Chinese and Japanese are written without spaces: each ideograph or kana counts as a word of its
 * own, or a whole sentence would be one "word" and a templated campaign in those languages would
 * have no template.
 */
const isCjk = (c: number) => (c >= 0x3040 && c <= 0x30ff) || (c >= 0x3400 && c <= 0x9fff) || (c >= 0xf900 && c <= 0xfaff);

/**
 * `words(s, k, false)` when `s` holds `min` words or more, else -1: the words counted and the
 * first `k` hashed in one pass over the text's start (a word is counted where it starts, hashed
 * up to where it ends; `min` > `k`, so the count outlasts the hashing).
 */
function leadingWords(s: string, k: number, min: number): number {
  let h = 0x811c9dc5; let taken = 0; let count = 0; let inWord = false;
  for (let i = 0, n = s.length; i < n && (count < min || taken < k); i++) {
    let c = charCodeAt(s, i);
    if (c > 0x303f && isCjk(c)) {
      // A word of its own: close the word before it, then hash this one and a separator (as `words`).
      count++;
      if (taken < k && inWord) { h ^= 32; h = Math.imul(h, 0x01000193); taken++; }
      if (taken < k) { h ^= c; h = Math.imul(h, 0x01000193); h ^= 32; h = Math.imul(h, 0x01000193); taken++; }
      inWord = false;
      continue;
    }
    const isDigit = c > 47 && c < 58;
    const isAlpha = c > 64 && c < 91 || c > 96 && c < 123 || c > 127;
    if (isDigit || isAlpha) {
      if (!inWord) count++;
      if (taken < k) {
        if (c > 64 && c < 91) c += 32;
        if (isDigit) c = 48;
        h ^= c; h = Math.imul(h, 0x01000193);
      }
      inWord = true;
    } else {
      if (inWord && taken < k) { h ^= 32; h = Math.imul(h, 0x01000193); taken++; }
      inWord = false;
    }
  }
  return count >= min ? h >>> 0 : -1;
}

/** Hash of the first (or last, when `fromEnd`) `k` normalised words of `s`. */
function words(s: string, k: number, fromEnd: boolean): number {
  let h = 0x811c9dc5; let taken = 0; let inWord = false;
  const len = s.length;
  for (let j = 0; j < len && taken < k; j++) {
    const i = fromEnd ? len - 1 - j : j;
    let c = charCodeAt(s, i);
    if (c > 0x303f && isCjk(c)) {
      // A word of its own: close the word before it, then hash this one and a separator.
      if (inWord) { h ^= 32; h = Math.imul(h, 0x01000193); inWord = false; if (++taken >= k) break; }
      h ^= c; h = Math.imul(h, 0x01000193); h ^= 32; h = Math.imul(h, 0x01000193);
      taken++;
      continue;
    }
    const isDigit = c > 47 && c < 58;
    const isAlpha = c > 64 && c < 91 || c > 96 && c < 123 || c > 127;
    if (isDigit || isAlpha) {
      if (c > 64 && c < 91) c += 32;
      if (isDigit) c = 48;
      h ^= c; h = Math.imul(h, 0x01000193);
      inWord = true;
    } else if (inWord) {
      h ^= 32; h = Math.imul(h, 0x01000193);
      inWord = false; taken++;
    }
  }
  return h >>> 0;
}

function normalisedHash(s: string): number {
  const t = s.length > 2000 ? s.slice(0, 2000) : s;
  return fnv1a(t.toLowerCase().replace(/\d+/g, '0').replace(/\s+/g, ' ').trim()) || 1;
}

const SYSTEM_CACHE_MAX = 4096;
/**
 * A system prompt's flags read from its edges and from as much of it as was read (`read`
 * characters, edges included), and its hash.
 */
const systemCache = new Map<string, { edge: number; whole: number; hash: number; read: number }>();

/** At most `chars` characters of `text`: all of it, else its start and end (HEAD_SHARE of them from its start). */
function window(text: string, chars: number): string {
  if (text.length <= chars) return text;
  const head = Math.round(chars * HEAD_SHARE);
  return ends(text, head, chars - head);
}

/**
 * The first `head` and last `tail` characters of `text` (longer than both), a line apart. One
 * helper for every such cut: its calls have run (on system prompts, tool results) by the time a
 * long user turn is first cut, so that turn does not throw away the compiled code of
 * `extractFeatures` (a call it had not seen run) and have it compiled again.
 */
function ends(text: string, head: number, tail: number): string {
  return text.slice(0, head) + '\n' + text.slice(text.length - tail);
}
/** Internal markers (cleared before returning): a rewrite verb / a sensitive topic was seen; the text was folded. */
const REWRITE_SEEN = 1 << 20;
const SENSITIVE_SEEN = 1 << 21;
const FOLD_SEEN = 1 << 22;

/**
 * Flags read from one piece of lowercased text. A sensitive topic is only a marker: it counts once
 * a rewrite is asked for in any part of the request (see extractFeatures).
 */
/** Characters the lexicons have read in this process: what the reading budget bounds (tests read it). */
let charactersRead = 0;
export const lexiconCharactersRead = (): number => charactersRead;

function lexicalFlags(probe: string): number {
  charactersRead += probe.length;
  const hits = lexiconHits(probe);
  let flags = 0;
  if (hits & HIT.cot) flags |= FLAG.cot;
  if (hits & HIT.rubric) flags |= FLAG.rubric;
  if (hits & HIT.rewrite) flags |= REWRITE_SEEN;
  if (hits & HIT.sensitive) flags |= SENSITIVE_SEEN;
  if (hits & HIT.code) flags |= FLAG.code;
  if (hits & HIT.maths) flags |= FLAG.math;
  if (hits & FOLDED) flags |= FOLD_SEEN;
  return flags;
}

/**
 * The coding and maths flags of a user's own words alone (FLAG.code, FLAG.math): read as a turn is
 * (its start and end when long), without the system prompt, tool results or documents that
 * extractFeatures reads with it. The engine reads it once per tool trajectory, at its opening.
 */
export function userTaskFlags(text: string): number {
  const head = text.length > SCAN_CHARS ? ends(text, TURN_HEAD, TURN_TAIL) : text;
  return lexicalFlags(head.toLowerCase()) & (FLAG.code | FLAG.math);
}

/** Extract the per-request features of one event. Pure (apart from a bounded cache) and allocation-light. */
export function extractFeatures(ev: InteractionEvent, served?: ServedAnswerLookup): RequestFeatures {
  const req = ev.request;
  const msgs = req.messages;
  let flags = 0;
  let lastUser = '';
  let userTurns = 0; let assistantTurns = 0; let toolParts = 0;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    if (m.role === 'user') { userTurns++; if (m.text) lastUser = m.text; }
    else if (m.role === 'assistant') assistantTurns++;
    else if (m.role === 'tool') toolParts++;
    if (m.parts) toolParts += (m.parts.tool_result ?? 0) + (m.parts.tool_use ?? 0) + (m.parts.function_call_output ?? 0);
  }
  // The messages a long request's event left out still count as turns and tool steps.
  const omitted = req.messages_omitted;
  if (omitted) {
    userTurns += omitted.roles.user ?? 0;
    assistantTurns += omitted.roles.assistant ?? 0;
    toolParts += omitted.roles.tool ?? 0;
    if (omitted.parts) toolParts += (omitted.parts.tool_result ?? 0) + (omitted.parts.tool_use ?? 0) + (omitted.parts.function_call_output ?? 0);
  }
  // Unreadable documents of this turn only: a conversation resends its history, and one broken
  // PDF must not mark every later request. This turn: past a trailing assistant prefill, back to
  // the previous assistant message; when it ends in tool results, only those (an agent loop on
  // the Responses API has no assistant messages between its steps).
  let end = msgs.length - 1;
  while (end >= 0 && msgs[end].role === 'assistant') end--;
  let start = end;
  while (start > 0 && msgs[start - 1].role !== 'assistant') start--;
  const toolStep = end >= 0 && msgs[end].role === 'tool';
  for (let i = end; i >= 0 && msgs[i].role !== 'assistant' && (!toolStep || msgs[i].role === 'tool'); i--) {
    if (msgs[i].documents_unreadable) { flags |= FLAG.unreadableDocument; break; }
  }
  // The system and developer messages' documents are sent with every request: an unreadable one
  // counts in each.
  const systemDocs = req.system_documents;
  if (systemDocs?.documents_unreadable) flags |= FLAG.unreadableDocument;
  // A conversation is history the model wrote or read: its own answers and earlier steps' tool
  // results, before this turn. Not a trailing prefill (past `end`), nor a few short lines however
  // placed: a greeting, "OK.", a tool call with no text cost a few tokens, and a real
  // conversation's answers are long. Messages left out of the event are a long conversation.
  // When the account's events carry answer fingerprints, an answer Warden served it makes a
  // conversation however short, and assistant text matching none is not an answer (a made-up
  // greeting): it counts only toward the longer UNSERVED_HISTORY_CHARS, as does a served answer
  // replayed before request after request. Read from the last back: the last answer is the one
  // most likely served.
  const provenance = served !== undefined && served.carries;
  let history = 0; let unserved = 0; let servedAnswer = false;
  for (let i = start - 1; i >= 0 && history <= GREETING_CHARS; i--) {
    const m = msgs[i];
    if (m.role === 'assistant') {
      // A message cut short of the fingerprint's span, or not recorded, cannot be compared: it counts as before.
      const fp = provenance && m.text ? answerFpOf(m.text, m.chars) : 0;
      const followed = fp !== 0 && served!.has(fp) ? served!.follow(fp) : false;
      if (fp === 0 || followed === null) history += m.chars;
      else if (followed) { servedAnswer = true; break; }
      else unserved += m.chars;
    } else if (m.role === 'tool' || (m.parts?.tool_result ?? 0) > 0 || (m.parts?.function_call_output ?? 0) > 0) history += m.chars;
  }
  const conversation = servedAnswer || (omitted?.roles.assistant ?? 0) > 0 || history > GREETING_CHARS || history + unserved > UNSERVED_HISTORY_CHARS;
  // With no answer, a conversation's user messages are one turn to the model (padding after a
  // prompt, an instruction before an "OK.", is no conversation); a legacy completions or
  // embeddings request's are separate prompts.
  if (!conversation && (userTurns <= 1 || CONVERSATIONAL.has(ev.flavour))) flags |= FLAG.singleShot;
  if (!conversation) start = 0;
  if (req.tools.length > 0 || ev.response.tool_calls > 0 || toolParts > 0) flags |= FLAG.tools;
  if (toolParts > 0 && assistantTurns > 0) flags |= FLAG.agenticTrace;
  const sys = req.system;
  if (sys) flags |= FLAG.system;
  if (ev.response.status >= 400) flags |= FLAG.error;

  const p = req.params;
  if (p.logprobs === true || (p.top_logprobs ?? 0) > 0 || (p.n ?? 1) > 1) flags |= FLAG.distillParams;
  if (asksForReasoning(p, ev.flavour)) flags |= FLAG.reasoningParam;
  if (ev.response.reasoning_chars > 0) flags |= FLAG.reasoningTrace;
  let biasMap = 0;
  let promptKey = 0;
  const bias = p.logit_bias;
  if (bias && bias.positive > 0 && (p.logprobs === true || (p.top_logprobs ?? 0) > 0 || (p.max_tokens !== null && p.max_tokens <= PROBE_MAX_TOKENS))) {
    flags |= FLAG.logitProbe;
    biasMap = (parseInt(bias.set, 16) >>> 0) || 1;
    promptKey = bias.prompt ? (parseInt(bias.prompt, 16) >>> 0) || 1 : promptFingerprint(req);
  }

  // Lexical signals look at the user's last turn first, then, within what is left of one budget
  // an event, the system prompt (where wrappers hide), the tool results and documents.
  // A legacy completions or embeddings request's inputs are separate texts, not a turn: its last one is read.
  // The user's messages of this turn, as the model reads them: a prompt padded with more user
  // messages after it is still the prompt. A turn with none (a tool step) reads the last user
  // text before it: the task the agent works on.
  const turn = (CONVERSATIONAL.has(ev.flavour) && turnText(msgs, start, end)) || lastUser;
  // A bounded part of the turn: its start and end (where a wrapper template's words are).
  const head = turn.length > SCAN_CHARS ? ends(turn, TURN_HEAD, TURN_TAIL) : turn;
  const probe = lowerText(head);
  const userFlags = lexicalFlags(probe);
  let budget = READ_BUDGET - Math.min(turn.length, SCAN_CHARS);
  // System prompts repeat across a session or a product, so theirs are cached, with how much of
  // each was read: only a prompt not read as far as this request could read it is read again.
  let systemHash = 0;
  let sysFlags = 0;
  if (sys) {
    const edges = SYSTEM_HEAD + SYSTEM_TAIL;
    let cached = systemCache.get(sys);
    const reach = Math.min(sys.length, SCAN_CHARS, Math.max(budget, edges));
    if (cached === undefined || cached.read < reach) {
      const edge = cached?.edge ?? lexicalFlags(lowerText(sys.length > edges ? ends(sys, SYSTEM_HEAD, SYSTEM_TAIL) : sys));
      const whole = reach > edges ? lexicalFlags(lowerText(window(sys, reach))) : edge;
      cached = { edge, whole, hash: cached?.hash ?? normalisedHash(sys), read: reach };
      if (systemCache.size >= SYSTEM_CACHE_MAX) systemCache.clear();
      systemCache.set(sys, cached);
      budget -= reach;
    }
    sysFlags = (flags & FLAG.singleShot) !== 0 && turn.length <= POINTER_TURN_CHARS && (userFlags & ~FOLD_SEEN) === 0 ? cached.edge | cached.whole : cached.edge;
    systemHash = cached.hash;
  }
  // The tool results this request answers (an OpenAI `tool` message, a Responses
  // `function_call_output`) are read as the turn is: Anthropic's are inside its user message. So
  // are those of the turn a user message follows with no answer between ("go"): the model reads
  // them with it. From the end of the turn back, those that say something, while the budget lasts.
  let toolFlags = 0;
  for (let i = end; i >= start && budget >= PART_MIN; i--) {
    if (msgs[i].role !== 'tool') { if (toolStep) break; continue; }
    const t = msgs[i].text;
    if (!t || saysNothing(t)) continue;
    const reach = Math.min(t.length, SCAN_CHARS, budget);
    toolFlags |= lexicalFlags(lowerText(window(t, reach)));
    budget -= reach;
  }
  // What the system and developer messages' documents say is read as the turn is (a prompt put
  // in a developer message's PDF is a prompt), with what is left; not cached like the system
  // prompt: it can change with every request.
  const docText = systemDocs?.text;
  let docFlags = 0;
  if (docText && budget >= PART_MIN) docFlags = lexicalFlags(lowerText(window(docText, Math.min(SCAN_CHARS, budget))));
  flags |= (sysFlags & ~FOLD_SEEN) | (docFlags & ~FOLD_SEEN) | (toolFlags & ~FOLD_SEEN) | userFlags;
  // A sensitive rewrite may put the instruction in one place and the topic in another.
  if ((flags & REWRITE_SEEN) && (flags & SENSITIVE_SEEN)) flags |= FLAG.sensitiveRewrite;
  flags &= ~(REWRITE_SEEN | SENSITIVE_SEEN | FOLD_SEEN);
  // A tool step's turn is the task the agent works on read again, not words the user sent now: never newTurn.
  const reasoningItem = (userFlags & (FLAG.code | FLAG.math)) !== 0 && ((userFlags & FLAG.cot) !== 0 || (flags & (FLAG.reasoningParam | FLAG.reasoningTrace)) !== 0);
  if (conversation && (reasoningItem || !toolStep) && newQuestion(head, previousUserText(msgs, start))) {
    if (!toolStep) flags |= FLAG.newTurn;
    if (reasoningItem) flags |= FLAG.newItemTurn;
  }
  if ((userFlags & (FLAG.code | FLAG.math)) !== 0 && closedTaskForm(turn.length > FORM_CHARS ? lowerText(ends(turn, FORM_HEAD, FORM_TAIL)) : probe)) flags |= FLAG.closedTask;

  // A template whose words are disguised differently in each request is still one template
  // (folded within the bounded part, so a huge prompt costs no more than a short one).
  let template = 0;
  if ((userFlags & FOLD_SEEN) !== 0) {
    const folded = foldText(head);
    if (folded.obfuscated) flags |= FLAG.obfuscated;
    template = skeleton(folded.text);
  } else if (turn) template = skeleton(turn);
  // An opening question's keys: whether other members of its cluster ask it too (a class's sheet).
  // A single-shot question of one user message is read once for its keys, its fingerprint and its
  // lead-in hashes, which the engine's parts after this take from there (question-pass.ts).
  let problem = 0, problem2 = 0;
  if ((flags & (FLAG.singleShot | FLAG.newItemTurn)) !== 0 && turn) {
    const only = msgs.length === 1 ? msgs[0] : null;
    if ((flags & FLAG.singleShot) !== 0 && only !== null && only.role === 'user' && only.text === turn) {
      readQuestion(turn, only.chars ?? turn.length);
      problem = question.problem; problem2 = question.problem2;
    } else {
      problemKeys(turn, PROBLEM_KEYS);
      problem = PROBLEM_KEYS[0]; problem2 = PROBLEM_KEYS[1];
    }
  }
  let toolsHash = 0;
  if (req.tools.length) toolsHash = fnv1a(req.tools.length === 1 ? req.tools[0] : [...req.tools].sort().join('\u0000')) || 1;
  let paramsHash = 0;
  if (p.max_tokens !== null || p.temperature !== null || p.top_p !== null || p.n !== null || p.logprobs !== null
    || p.top_logprobs !== null || p.reasoning_effort !== null || p.thinking_budget !== null || p.seed !== null || p.response_format !== null) {
    // Mixed as numbers (no string building per event); null and 0 differ (-1 vs 0).
    let h = fnv1a(ev.model);
    h = mix(h, p.max_tokens ?? -1); h = mix(h, p.temperature === null ? -1 : Math.round(p.temperature * 1000));
    h = mix(h, p.top_p === null ? -1 : Math.round(p.top_p * 1000)); h = mix(h, p.n ?? -1);
    h = mix(h, p.logprobs === null ? -1 : p.logprobs ? 1 : 0); h = mix(h, p.top_logprobs ?? -1);
    h = mix(h, p.reasoning_effort === null ? 0 : fnv1a(p.reasoning_effort)); h = mix(h, p.thinking_budget ?? -1);
    h = mix(h, p.seed !== null ? 1 : 0); h = mix(h, p.response_format === null ? 0 : fnv1a(p.response_format));
    paramsHash = h || 1;
  }
  // Built with the `weight` a prompt's features carry (extractPromptFeatures sets it), so that every
  // features object has one shape: added afterwards, it gave them two, and the engine's code that
  // reads them was compiled for both.
  const features: PromptFeatures = {
    flags,
    template,
    systemHash,
    toolsHash,
    paramsHash,
    inputTokens: inputBeyondStanding(ev),
    outputTokens: ev.response.output_tokens,
    biasMap,
    promptKey,
    problem,
    problem2,
    weight: 1,
  };
  return features;
}

/** One request's share of an event: a legacy completions prompt array is as many requests as prompts. */
export interface PromptFeatures extends RequestFeatures {
  /** How many requests these features stand for (1, or the prompts of an array they were read for). */
  weight: number;
}

/** Prompts of one legacy completions array whose text is read; each stands for its share of the others. */
const PROMPTS_READ = 16;

/**
 * The features of each request an event holds. An event is one request, except a legacy
 * completions prompt array (`openai.completions` with several `user` messages): each prompt asks
 * for an answer of its own, generated independently of the others, so each is a single-shot
 * request. Up to `PROMPTS_READ` prompts are read, one drawn from each of as many equal stretches
 * of the array, each standing for its stretch (its `weight`, which sum to the prompts, those the
 * event left out included); the request's tokens are split among them. Which prompt of a stretch
 * is drawn follows from the event id: a client cannot put a neutral prompt where the reads fall,
 * and a scan of the same events reads the same prompts.
 */
export function extractPromptFeatures(ev: InteractionEvent, served?: ServedAnswerLookup): PromptFeatures[] {
  const req = ev.request;
  const msgs = req.messages;
  const prompts = msgs.length + (req.messages_omitted?.count ?? 0);
  if (ev.flavour !== 'openai.completions' || prompts <= 1 || msgs.length === 0) {
    const f = extractFeatures(ev, served) as PromptFeatures;
    // Numbered questions in one single-shot turn ask for as many answers (see items.ts).
    f.weight = (f.flags & FLAG.singleShot) !== 0 && CONVERSATIONAL.has(ev.flavour) ? enumeratedItems(lastUserText(msgs)) : 1;
    return [f];
  }
  const read = Math.min(msgs.length, PROMPTS_READ);
  const { messages_omitted: _left, ...rest } = req;
  const out: PromptFeatures[] = [];
  const input = ev.response.input_tokens;
  const output = ev.response.output_tokens;
  const seed = fnv1a(ev.id);
  for (let k = 0; k < read; k++) {
    const lo = Math.floor((k * msgs.length) / read);
    const span = Math.floor(((k + 1) * msgs.length) / read) - lo;
    const m = msgs[lo + (span > 1 ? (mix(seed, k) >>> 0) % span : 0)];
    const from = Math.floor((k * prompts) / read);
    const to = Math.floor(((k + 1) * prompts) / read);
    const f = extractFeatures({ ...ev, request: { ...rest, messages: [m] } }) as PromptFeatures;
    f.weight = to - from;
    // Integer shares that add up to the request's own counts.
    f.inputTokens = Math.floor((to * input) / prompts) - Math.floor((from * input) / prompts);
    f.outputTokens = Math.floor((to * output) / prompts) - Math.floor((from * output) / prompts);
    out.push(f);
  }
  return out;
}

/** The text of the last user message that has any. */
function lastUserText(msgs: EventMessage[]): string {
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i].role === 'user' && msgs[i].text) return msgs[i].text!;
  return '';
}

/** The APIs whose messages are a conversation (consecutive user messages are one turn). */
const CONVERSATIONAL = new Set(['openai.chat', 'openai.responses', 'anthropic.messages']);

/** A user message of the turn that says something (not padding). */
const said = (m: EventMessage) => m.role === 'user' && !!m.text && !saysNothing(m.text);

/**
 * The text of the user messages of `msgs[start..end]` (a turn), padding left out, joined by line
 * breaks as the model reads them: whole up to `SCAN_CHARS`, else its first `TURN_HEAD` characters
 * from the first message on and its last `TURN_TAIL` from the last back, so a long turn costs no
 * more than a short one and text at either end is read. One message's text is returned as it is.
 * Empty when the turn has no such message.
 */
/** Words a new question's turn has at least (of four letters or more, in its first NEW_ITEM_CHARS characters). */
const NEW_ITEM_WORDS = 8;
const NEW_ITEM_CHARS = 600;
/** Share of them the previous turn may hold for the turn to be a new question. */
const NEW_ITEM_SHARED = 0.3;
/** Letters with their combining marks: Devanagari and Thai vowel signs are marks, which would cut a Hindi or Thai word in pieces. */
const WORDS = /[\p{L}\p{M}\p{N}]{4,}/gu;
/**
 * Chinese and Japanese are written without spaces, Korean words are mostly of two or three
 * syllables: a question in those languages has few "words" of four letters or more (a Chinese
 * sentence is one), and a new question in them read as a follow-up. There each pair of adjacent
 * ideographs or kana is a word, and each Hangul word of two syllables or more.
 */
const CJK_PAIRS = /[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]{2,}/gu;
const HANGUL_WORDS = /[\uac00-\ud7af]{2,}/gu;

/**
 * Thai is written without spaces too, and its words are of any length: there the words are those
 * `Intl.Segmenter` finds (made once, used only for text that holds Thai, about 10-20 µs a question).
 */
const THAI = /[\u0e00-\u0e7f]/;
const THAI_RUNS = /[\u0e00-\u0e7f]+/g;
let thaiSegmenter: Intl.Segmenter | undefined;
function thaiWords(text: string, out: string[]): void {
  thaiSegmenter ??= new Intl.Segmenter('th', { granularity: 'word' });
  for (const run of text.match(THAI_RUNS) ?? []) {
    for (const s of thaiSegmenter.segment(run)) if (s.isWordLike && s.segment.length >= 2) out.push(s.segment);
  }
}

/** The words `newQuestion` compares: those of WORDS, and in CJK text the pairs and Hangul words above, in Thai text its words. */
function itemWords(text: string): string[] {
  if (THAI.test(text)) {
    const out = (text.match(WORDS) ?? []).filter((w) => !THAI.test(w));
    thaiWords(text, out);
    return out;
  }
  const words = text.match(WORDS) ?? [];
  if (!/[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af]/.test(text)) return words;
  const out = words.filter((w) => !/[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af]/.test(w));
  for (const run of text.match(CJK_PAIRS) ?? []) for (let i = 0; i + 1 < run.length; i++) out.push(run.slice(i, i + 2));
  for (const w of text.match(HANGUL_WORDS) ?? []) out.push(w);
  return out;
}

/** The text of the last user message before the turn starting at `start` (its history's last question), or ''. */
function previousUserText(msgs: EventMessage[], start: number): string {
  for (let i = start - 1; i >= 0; i--) if (msgs[i].role === 'user' && msgs[i].text) return msgs[i].text!;
  return '';
}

/**
 * Whether `turn` asks something new rather than following up on `previous`: NEW_ITEM_WORDS or more
 * words of its start, under NEW_ITEM_SHARED of them in the previous turn's start. A follow-up
 * ("why divide by 3 in step 2?") is short or repeats the question's words.
 */
function newQuestion(turn: string, previous: string): boolean {
  const words = itemWords(turn.slice(0, NEW_ITEM_CHARS).toLowerCase());
  if (words.length < NEW_ITEM_WORDS) return false;
  const before = new Set(itemWords(previous.slice(0, NEW_ITEM_CHARS).toLowerCase()));
  const mine = new Set(words);
  let shared = 0;
  for (const w of mine) if (before.has(w)) shared++;
  return shared < NEW_ITEM_SHARED * mine.size;
}

function turnText(msgs: EventMessage[], start: number, end: number): string {
  let first = -1; let last = -1; let total = 0;
  for (let i = start; i <= end; i++) {
    if (!said(msgs[i])) continue;
    if (first < 0) first = i;
    last = i;
    total += (total ? 1 : 0) + msgs[i].text!.length;
  }
  if (first < 0) return '';
  if (first === last) return msgs[first].text!;
  if (total <= SCAN_CHARS) {
    let all = '';
    for (let i = first; i <= last; i++) if (said(msgs[i])) all += (all ? '\n' : '') + msgs[i].text!;
    return all;
  }
  let head = '';
  for (let i = first; i <= last && head.length < TURN_HEAD; i++) {
    if (said(msgs[i])) head += (head ? '\n' : '') + msgs[i].text!.slice(0, TURN_HEAD - head.length);
  }
  let tail = '';
  for (let i = last; i >= first && tail.length < TURN_TAIL; i--) {
    if (said(msgs[i])) tail = msgs[i].text!.slice(-(TURN_TAIL - tail.length)) + (tail ? '\n' + tail : '');
  }
  return head + '\n' + tail;
}

/** An instruction: the text opens with a task verb. */
const TASK_VERB = /^\s*(?:write|create|generate|construct|design|develop|implement|edit|modify|rewrite|compute|calculate|convert|classify|compose|output|sort|fix|debug|parse|build|make|formulate|produce|update|change|add|remove|replace|count|print|return|determine|reverse|transform|find|identify|explain|describe|suggest|list|give|provide|summari[sz]e|translate|name|analy[sz]e|compare|evaluate|categori[sz]e|insert|delete|select|use|train|define|declare|initiali[sz]e|assign|extract|split|merge|combine|check|validate|detect|search|retrieve|query|format|refactor|optimi[sz]e|improve|complete|fill|propose|tell|solve|prove|simplify)\b/;

/**
 * The same instruction opening in other languages: Spanish, Portuguese, French, German, Polish,
 * Italian, Indonesian, Vietnamese, Hebrew, Russian, Chinese, Thai and Arabic put the imperative (or
 * the infinitive, or "given ...") first, as English does. Thai verbs are prefixes, as Chinese ones.
 * Latin and Cyrillic verbs are whole words (no letter of theirs after them); Chinese verbs are
 * prefixes (an optional 请 before them: dataset instructions use it as a plain imperative; 用 and 设
 * only before a Latin letter or digit, "用Python", "设x", not "用于", used for, or "设置", settings). Person
 * forms ("дай мне", "gib mir") are the person words' to rule out. Arabic is read after `arabicHead`.
 */
const TASK_VERB_OTHER = new RegExp('^\\s*(?:(?:' + [
  // Spanish (tú and usted imperatives, the infinitive of instruction sets).
  'escribe|escriba|escribir|crea|cree|crear|genera|genere|construye|construya|diseña|diseñe|desarrolla|desarrolle|implementa|implemente|edita|edite|modifica|modifique|reescribe|reescriba|calcula|calcule|calcular|convierte|convierta|clasifica|ordena|ordene|corrige|corrija|depura|analiza|analice|haz|haga|actualiza|añade|agrega|elimina|reemplaza|cuenta|imprime|devuelve|determina|determine|invierte|transforma|encuentra|encuentre|halla|halle|identifica|explica|explique|describe|sugiere|enumera|proporciona|resume|traduce|compara|evalúa|evalúe|inserta|selecciona|usa|utiliza|utilice|define|defina|declara|inicializa|asigna|extrae|divide|combina|comprueba|verifica|valida|detecta|busca|optimiza|mejora|completa|propón|resuelve|resuelva|resolver|demuestra|demuestre|simplifica|simplifique|redacta|obtén|dado|dada|dados|dadas',
  // Portuguese.
  'escreva|crie|gere|construa|projete|desenvolva|edite|calcule|converta|classifique|corrija|depure|analise|faça|produza|atualize|altere|adicione|remova|substitua|conte|imprima|retorne|inverta|transforme|encontre|identifique|descreva|sugira|liste|forneça|resuma|traduza|avalie|insira|selecione|extraia|verifique|otimize|melhore|complete|proponha|resolva|prove|demonstre|simplifique|redija|obtenha',
  // French (imperatives and the infinitive of exercise sheets).
  'écris|écrivez|écrire|crée|créez|créer|génère|générez|construis|construisez|conçois|concevez|développe|développez|implémente|implémentez|implémenter|modifie|modifiez|calcule|calculez|calculer|convertis|convertissez|trie|triez|corrige|corrigez|analyse|analysez|fais|faites|ajoute|ajoutez|supprime|supprimez|remplace|affiche|affichez|retourne|renvoie|détermine|déterminez|déterminer|inverse|transforme|trouve|trouvez|trouver|identifie|explique|expliquez|décris|décrivez|suggère|donne|donnez|fournis|résume|traduis|compare|évalue|insère|sélectionne|utilise|utilisez|définis|définissez|extrais|vérifie|vérifiez|recherche|optimise|améliore|complète|propose|résous|résolvez|résoudre|démontre|démontrez|démontrer|simplifie|simplifiez|rédige|rédigez|soit|soient',
  // German (du and Sie imperatives).
  'schreibe|schreib|erstelle|erstell|generiere|erzeuge|konstruiere|entwirf|entwickle|implementiere|bearbeite|ändere|berechne|konvertiere|wandle|klassifiziere|sortiere|behebe|korrigiere|analysiere|füge|entferne|lösche|ersetze|zähle|gib|bestimme|kehre|finde|identifiziere|erkläre|beschreibe|nenne|fasse|übersetze|vergleiche|bewerte|definiere|deklariere|initialisiere|extrahiere|kombiniere|prüfe|überprüfe|validiere|suche|formatiere|optimiere|verbessere|vervollständige|löse|beweise|vereinfache|ermittle|gegeben|schreiben sie|erstellen sie|berechnen sie|bestimmen sie|finden sie|lösen sie|beweisen sie|implementieren sie|ermitteln sie',
  // Polish ("dany", "dana", given).
  'napisz|stwórz|utwórz|wygeneruj|zbuduj|zaprojektuj|zaimplementuj|zmodyfikuj|oblicz|policz|wylicz|przekonwertuj|przekształć|zamień|sklasyfikuj|posortuj|popraw|napraw|przeanalizuj|dodaj|usuń|zastąp|wypisz|wyświetl|zwróć|wyznacz|znajdź|zidentyfikuj|wyjaśnij|opisz|zaproponuj|wymień|podaj|streść|podsumuj|przetłumacz|porównaj|oceń|wstaw|wybierz|użyj|zdefiniuj|zadeklaruj|zainicjalizuj|wyodrębnij|podziel|połącz|sprawdź|zweryfikuj|wyszukaj|zoptymalizuj|ulepsz|uzupełnij|rozwiąż|udowodnij|wykaż|uprość|dany|dana',
  // Italian (the tu imperative and the infinitive of exercise sheets; "dato", "data" before an article: "Data la funzione ...").
  'scrivi|scrivere|crea|creare|genera|costruisci|progetta|sviluppa|implementa|implementare|modifica|riscrivi|calcola|calcolare|converti|classifica|ordina|correggi|analizza|aggiungi|rimuovi|elimina|sostituisci|conta|stampa|restituisci|determina|determinare|inverti|trasforma|trova|trovare|identifica|spiega|descrivi|suggerisci|elenca|fornisci|riassumi|traduci|confronta|valuta|inserisci|seleziona|usa|utilizza|definisci|dichiara|inizializza|estrai|dividi|unisci|combina|verifica|controlla|cerca|ottimizza|migliora|completa|proponi|risolvi|risolvere|dimostra|dimostrare|semplifica|semplificare|redigi|dat[oaie](?=\\s+(?:il|lo|la|un|una|uno|i|gli|le)\\s)',
  // Indonesian.
  'tulis|tuliskan|tulislah|buat|buatlah|buatkan|bangun|rancang|kembangkan|implementasikan|terapkan|ubah|ubahlah|modifikasi|hitung|hitunglah|konversi|konversikan|klasifikasikan|urutkan|perbaiki|analisis|analisislah|tambahkan|hapus|ganti|cetak|kembalikan|tentukan|tentukanlah|balikkan|cari|carilah|temukan|identifikasi|jelaskan|uraikan|sarankan|sebutkan|berikan|ringkas|ringkaslah|terjemahkan|bandingkan|evaluasi|sisipkan|pilih|gunakan|definisikan|deklarasikan|inisialisasi|ekstrak|pisahkan|gabungkan|periksa|validasi|optimalkan|tingkatkan|lengkapi|selesaikan|buktikan|sederhanakan|diketahui|diberikan',
  // Vietnamese ("hãy" the imperative's marker; "cho", given, opens a problem; not "tính năng", a feature).
  'viết|hãy|tạo|xây dựng|thiết kế|phát triển|cài đặt|triển khai|sửa|chỉnh sửa|tính(?!\\s+(?:năng|chất|cách))|chuyển|chuyển đổi|phân loại|sắp xếp|gỡ lỗi|phân tích|thêm|xóa|xoá|thay thế|đếm|in ra|trả về|xác định|đảo ngược|biến đổi|tìm|nhận diện|giải thích|mô tả|đề xuất|liệt kê|cung cấp|tóm tắt|dịch|so sánh|đánh giá|chèn|chọn|sử dụng|dùng|định nghĩa|khai báo|khởi tạo|trích xuất|tách|gộp|kết hợp|kiểm tra|xác thực|tìm kiếm|tối ưu|tối ưu hóa|cải thiện|hoàn thành|giải|chứng minh|rút gọn|cho',
  // Hebrew (masculine singular and plural imperatives; "נתון", given).
  'כתוב|כתבו|כתבי|צור|צרו|חשב|חשבו|מצא|מצאו|קבע|קבעו|פתור|פתרו|הוכח|הוכיחו|פשט|פשטו|הסבר|הסבירו|ממש|ממשו|המר|המירו|מיין|מיינו|תקן|תקנו|תכנן|תכננו|הגדר|הגדירו|תרגם|תרגמו|סכם|סכמו|השווה|השוו|הערך|העריכו|בנה|בנו|הדפס|החזר|בדוק|בדקו|נתח|נתחו|תאר|תארו|רשום|רשמו|נתון|נתונה|נתונות',
  // Russian (imperatives, and "дан/дана/дано/даны", given, with which a problem opens).
  'напишите|напиши|создайте|создай|сгенерируйте|сгенерируй|постройте|построй|разработайте|разработай|спроектируйте|реализуйте|реализуй|измените|измени|отредактируйте|перепишите|вычислите|вычисли|посчитайте|посчитай|подсчитайте|рассчитайте|рассчитай|преобразуйте|преобразуй|конвертируйте|классифицируйте|составьте|составь|отсортируйте|отсортируй|исправьте|исправь|отладьте|проанализируйте|сделайте|сделай|обновите|добавьте|добавь|удалите|удали|замените|замени|выведите|выведи|верните|определите|определи|найдите|найди|объясните|объясни|опишите|опиши|предложите|перечислите|приведите|переведите|сравните|оцените|вставьте|выберите|используйте|используя|задайте|объявите|инициализируйте|извлеките|разделите|объедините|проверьте|проверь|оптимизируйте|улучшите|дополните|заполните|решите|реши|докажите|докажи|упростите|упрости|дан|дана|дано|даны',
].join('|') + ')(?![\\p{L}\\p{N}])|请?(?:编写|写一|写出|寫出|編寫|编一|創建|创建|生成|构造|構造|构建|構建|设计|設計|开发|開發|实现|實現|修改|编辑|編輯|重写|重寫|计算|計算|求(?!助|职|職|推荐|推薦|救)|转换|轉換|将|將|把|分类|分類|排序|修复|修復|调试|調試|解析|找出|找到|查找|统计|統計|打印|输出|輸出|返回|判断|判斷|确定|確定|识别|識別|解释|解釋|描述|列出|给出|給出|提供|总结|總結|翻译|翻譯|比较|比較|评估|評估|插入|删除|刪除|选择|選擇|使用|用(?=\\s*[a-z])|定义|定義|声明|聲明|初始化|提取|拆分|合并|合併|检查|檢查|验证|驗證|搜索|查询|查詢|优化|優化|改进|改進|完成|解方程|解下列|证明|證明|化简|化簡|简化|簡化|已知|给定|給定|[设設](?=\\s*[a-z0-9]))'
  // Thai, written without spaces: prefixes ("จง", the imperative of exercises; "กำหนดให้", let).
  + '|(?:จง|เขียน|สร้าง|คำนวณ|หาค่า|หาจำนวน|ค้นหา|แปลง|เรียงลำดับ|จัดเรียง|แก้ไข|วิเคราะห์|อธิบาย|พิสูจน์|กำหนดให้|ออกแบบ|พัฒนา|นิยาม|ระบุ|ตรวจสอบ|เปรียบเทียบ|สรุป|ใช้(?=\\s*[a-z]))' + ')', 'u');
/**
 * Arabic imperatives that open an instruction, read in `arabicHead` (hamza seats and diacritics
 * folded): write, create, design, develop, implement, modify, calculate, convert, classify, sort,
 * fix, analyse, find, search, determine, explain, describe, suggest, give, summarise, translate,
 * compare, evaluate, insert, delete, choose, use, define, extract, merge, check, solve, prove,
 * simplify, print, return; and "given" (معطى). Whole words: no Arabic letter after them.
 */
const TASK_VERB_AR = /^(?:اكتب|انشئ|انشي|صمم|طور|نفذ|عدل|احسب|صنف|رتب|اصلح|حلل|اوجد|جد|ابحث|اعثر|حدد|اشرح|صف|اقترح|اعط|قدم|لخص|ترجم|قارن|قيم|ادرج|احذف|اختر|استخدم|عرف|استخرج|ادمج|تحقق|حل|اثبت|برهن|بسط|اطبع|اعد|ولد|اذا كان|ليكن|لتكن|معطى|بفرض|اعتبر)(?![\u0621-\u064a])/;
/** Arabic diacritics and the tatweel, and the hamza seats of alef, which writers vary: left out or made a bare alef. */
const ARABIC_MARKS = /[\u064b-\u0652\u0640]/g;
const ARABIC_ALEF = /[\u0622\u0623\u0625]/g;
/** The opening of an Arabic text, as `TASK_VERB_AR` reads it; '' if it does not start with an Arabic letter. */
function arabicHead(probe: string): string {
  let i = 0;
  while (i < probe.length && charCodeAt(probe, i) <= 32) i++;
  const c = charCodeAt(probe, i);
  if (c < 0x621 || c > 0x64a) return '';
  return probe.slice(i, i + 48).replace(ARABIC_MARKS, '').replace(ARABIC_ALEF, '\u0627');
}

/**
 * Korean and Japanese put the verb last: a dataset instruction ends (the text or its first line)
 * with the written imperative ("작성하시오", "구하라", "求めよ", "書きなさい"), which people do not use
 * when they ask for themselves (not the polite "-십시오" of software messages and letters, "알려 주십시오").
 */
const IMPERATIVE_END = /(?:(?<!십)시오|하라|구하라|써라|만들어라|찾아라|증명하라|なさい|せよ|求めよ|答えよ|示せ|書け)\s*[.。!！]?\s*$/u;
/**
 * Turkish, Hindi and Persian put the verb last too: the imperative ("yazın", "hesaplayın", "लिखिए",
 * "ज्ञात कीजिए", "بنویسید", "محاسبه کنید") as the last word, read as a word (see `lastWordImperative`).
 */
const LAST_WORD_IMPERATIVES = new Set([
  // Turkish in capitals loses its dotless ı when lowercased ("HESAPLAYIN" gives "hesaplayin"): both spellings.
  ...'yazın|yazınız|yaz|hesaplayın|hesaplayınız|hesapla|bulun|bulunuz|bul|uygulayın|uygulayınız|uygula|oluşturun|oluştur|dönüştürün|dönüştür|çözün|çözünüz|çöz|kanıtlayın|kanıtla|ispatlayın|ispatla|gösterin|gösteriniz|göster|belirleyin|belirle|açıklayın|açıkla|sıralayın|sırala|düzeltin|düzelt|tasarlayın|tasarla|geliştirin|geliştir|tanımlayın|tanımla|sadeleştirin|sadeleştir|çevirin|çevir|listeleyin|listele|karşılaştırın|karşılaştır|özetleyin|özetle|yazdırın|döndürün'.split('|').flatMap((w) => [w, w.replaceAll('\u0131', 'i')]),
  ...'कीजिए|कीजिये|लिखिए|लिखिये|लिखें|लिखो|बताइए|बताइये|बताएँ|बताएं|निकालिए|निकालिये|करें|करो|दिखाइए|दिखाइये'.split('|'),
  ...'بنویسید|بنویس|کنید|کن|بیابید|بیاب|دهید|بده|بدهید|بسازید|بساز|آورید'.split('|'),
]);

/**
 * The formal Hindi and Persian imperatives of instructions and exercises ("लिखिए", "ज्ञात कीजिए";
 * "بنویسید", "محاسبه کنید"), whole words in the text's opening: a relative clause often follows them.
 * Not "करें", "लिखें", nor "کنید" alone (the forms of software messages and of people asking,
 * "पुनः प्रयास करें", "دوباره تلاش کنید", try again).
 */
const OPENING_IMPERATIVE = /(?<![\u0900-\u097f])(?:कीजिए|कीजिये|लिखिए|लिखिये|बताइए|बताइये|निकालिए|निकालिये|दिखाइए|दिखाइये)(?![\u0900-\u097f])|(?<![\u0620-\u06ff])(?:بنویسید|بیابید|(?:محاسبه|پیدا|حل|ثابت|تعیین|پیاده‌سازی|پیاده سازی|پیادهسازی) کنید)(?![\u0620-\u06ff])/;

/**
 * Lowercased text (a request's bounded probe) in the form of a dataset item: impersonal, and an
 * instruction or a question (it ends with a question mark).
 */
export function closedTaskForm(probe: string): boolean {
  // The form first: it reads the text's two ends, the person words (lexicon.ts, `personWords`) all of it.
  return taskForm(probe) && !personWords(probe) && !persianPerson(probe);
}

/**
 * "من" is "I" in Persian and "from" in Arabic: it is a person word in a text written in Persian
 * (one that holds a letter Arabic does not use: پ چ ژ گ ک ی), as a whole word.
 */
const PERSIAN_LETTER = /[\u067e\u0686\u0698\u06af\u06a9\u06cc]/;
const PERSIAN_I = /(?<![\u0620-\u06ff])من(?![\u0620-\u06ff])/;
function persianPerson(probe: string): boolean {
  return PERSIAN_LETTER.test(probe) && PERSIAN_I.test(probe);
}

/** An instruction (it opens with a task verb) or a question (it ends with a question mark). */
function taskForm(probe: string): boolean {
  if (TASK_VERB.test(probe)) return true;
  let end = probe.length - 1;
  while (end >= 0 && charCodeAt(probe, end) <= 32) end--;
  if (end < 0) return false;
  // The fullwidth question mark of Chinese and Japanese text, and the Arabic one, too.
  const last = probe[end];
  if (last === '?' || last === '\uff1f' || last === '\u061f') return true;
  // Other languages' instructions (anchored at the text's start, or its end for verb-last languages).
  // (A Persian text opening with a letter Arabic shares goes on to the Persian forms below.)
  const ar = arabicHead(probe);
  if (ar && TASK_VERB_AR.test(ar)) return true;
  if (!ar && TASK_VERB_OTHER.test(probe.length > 64 ? probe.slice(0, 64) : probe)) return true;
  // A Hindi or Persian instruction puts its formal imperative before the clause it governs ("एक फ़ंक्शन लिखिए जो ...", "یک تابع بنویسید که ...").
  if (opensInArabicOrDevanagari(probe) && OPENING_IMPERATIVE.test(probe.length > 300 ? probe.slice(0, 300) : probe)) return true;
  // The verb-last instruction ends the text or its first line (the data it is about may follow).
  const line = probe.indexOf('\n');
  return endsWithImperative(probe.slice(0, end + 1)) || (line > 0 && line < 300 && endsWithImperative(probe.slice(0, line).trimEnd()));
}

/** The written imperative that ends a verb-last instruction, in a text with no white space at its end. */
function endsWithImperative(trimmed: string): boolean {
  return IMPERATIVE_END.test(trimmed.length > 200 ? trimmed.slice(-200) : trimmed) || lastWordImperative(trimmed);
}

const LETTER_OR_MARK = /[\p{L}\p{M}]/u;
const END_PUNCTUATION = '.。!！।';
/** Whether the last word of a text with no white space at its end, before a full stop or an exclamation mark, is one of LAST_WORD_IMPERATIVES. */
function lastWordImperative(trimmed: string): boolean {
  let e = trimmed.length;
  if (e > 0 && END_PUNCTUATION.includes(trimmed[e - 1])) e--;
  while (e > 0 && charCodeAt(trimmed, e - 1) <= 32) e--;
  let s = e;
  while (s > 0 && e - s <= 16 && LETTER_OR_MARK.test(trimmed[s - 1])) s--;
  return e - s >= 2 && e - s <= 16 && LAST_WORD_IMPERATIVES.has(trimmed.slice(s, e));
}

/** Whether text opens (past white space) with an Arabic-script or Devanagari letter: a Persian or Hindi text, where OPENING_IMPERATIVE is read. */
function opensInArabicOrDevanagari(text: string): boolean {
  let i = 0;
  while (i < text.length && charCodeAt(text, i) <= 32) i++;
  const c = charCodeAt(text, i);
  return (c >= 0x600 && c <= 0x6ff) || (c >= 0x900 && c <= 0x97f);
}


/** A probe's answer: one or a few tokens, whose log-probabilities or identity are what is read. */
const PROBE_MAX_TOKENS = 4;

/**
 * The whole prompt of a request, for events without the gateway's own fingerprint
 * (`logit_bias.prompt`): system and every message, roles and lengths too, so prompts that were not
 * recorded still differ when their lengths do. Only computed for logit probes.
 */
function promptFingerprint(req: InteractionEvent['request']): number {
  let h = fnv1a(req.system ?? '');
  for (const m of req.messages) {
    h = mix(h, fnv1a(m.role));
    h = mix(h, m.chars);
    if (m.text) h = mix(h, fnv1a(m.text));
  }
  return h || 1;
}


/** Names of the flags set in `flags` (for explanations and debugging). */
export function flagNames(flags: number): FlagName[] {
  return (Object.keys(FLAG) as FlagName[]).filter((k) => (flags & FLAG[k]) !== 0);
}
