/**
 * Usage accounting: read what the upstream says about tokens, tool calls and finish reason from
 * the answer (whole JSON, or SSE events one at a time), and count with a real tokenizer
 * (gpt-tokenizer, o200k) whatever the upstream leaves out.
 */
import { countTokens } from '../tokens/index.ts';
import { answerFingerprint, summariseEmbeddings, type ApiFlavour, type EmbeddingSummary, type EventResponse } from '../events/index.ts';
import { Needle, type ScanChunk } from './sse.ts';
import { chatReasoningText } from '../shape/chat-reasoning.ts';

type Json = Record<string, any>;

/** Text kept for tokenizer fallback is capped; beyond it we extrapolate from characters. */
const MAX_KEPT_CHARS = 256 * 1024;
/** Longest service tier name kept (OpenAI's and Anthropic's are a word: `flex`, `priority`, `standard`). */
const SERVICE_TIER_MAX_CHARS = 32;
/**
 * Ids of stored objects kept of one answer (Responses' output items, Chat's audio): each is
 * recorded as its owner's, who alone may name it later. Agent runs make tens to hundreds of items;
 * this bounds only what a runaway answer costs.
 */
export const MAX_ITEM_IDS = 4_096;
/**
 * Characters of the answer's visible text kept for its fingerprint (`answer_fp`, the hash of its
 * first 64 visible characters): enough for those behind an answer's opening whitespace and markup.
 */
const HEAD_CHARS = 256;

export type AnswerSummary = Pick<EventResponse,
  'input_tokens' | 'output_tokens' | 'reasoning_tokens' | 'usage_source' | 'tool_calls' | 'finish_reason' | 'output_chars' | 'reasoning_chars' | 'answer_id' | 'container_id' | 'item_ids' | 'answer_fp' | 'cached_input_tokens' | 'cache_write_tokens' | 'service_tier'> & { embeddings?: EmbeddingSummary | null };

/** Count tokens of text, extrapolating from a prefix for very long text. */
export function countTextTokens(text: string, totalChars = text.length): number {
  if (!text) return 0;
  const n = countTokens(text);
  return totalChars > text.length ? Math.round((n * totalChars) / text.length) : n;
}

/**
 * The raw (still escaped) value of the first string field `key` (given with its quotes and
 * colon, e.g. '"text":'), or null if absent or not a string. Whitespace after the colon allowed.
 */
export function jsonStringField(json: string, key: string | Needle): string | null {
  const at = typeof key === 'string' ? json.indexOf(key) : key.indexIn(json);
  if (at === -1) return null;
  let i = at + (typeof key === 'string' ? key : key.text).length;
  while (json.charCodeAt(i) === 32) i++;
  if (json.charCodeAt(i) !== 34) return null;
  const start = ++i;
  for (; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 92) { i++; continue; }
    if (c === 34) return json.slice(start, i);
  }
  return null;
}

/** Where OpenAI's padding starts in a chunk's tail (`"obfuscation":"` and its random letters). */
const PADDING_KEY = ',"obfuscation":"';

function unescapeJsonString(raw: string): string {
  try { return JSON.parse(`"${raw}"`) as string; } catch { return raw; }
}

/** The needles of `scanDelta` (each remembers its place in the chunk being scanned). */
const NEEDLES = {
  usage: new Needle('"usage":{', 4), toolCalls: new Needle('"tool_calls"', 8), reasoning: new Needle('"reasoning', 4), thinkingKey: new Needle('"thinking', 4),
  finishNull: new Needle('"finish_reason":null', 7), contentKey: new Needle('"content":', 1), content: new Needle('"content"', 1),
  textDelta: new Needle('"text_delta"', 5), text: new Needle('"text":', 3), thinkingDelta: new Needle('"thinking_delta"', 9),
  thinking: new Needle('"thinking":', 4), signatureDelta: new Needle('"signature_delta"', 10), delta: new Needle('"delta":', 1),
  refusal: new Needle('"refusal":', 2), audio: new Needle('"audio":{', 2),
};

/**
 * Whether a streamed image's or speech's event at `at` of `s` is a draft or a piece of audio
 * (nothing to count: only the finished image's and the closing event's usage is): by its SSE name,
 * or its `type` first in its data, as the API sends it. Anything else takes the full parse.
 */
function mediaDelta(s: string, at: number, eventName: string | undefined): boolean {
  if (eventName === 'image_generation.partial_image' || eventName === 'image_edit.partial_image' || eventName === 'speech.audio.delta') return true;
  return s.startsWith('{"type":"speech.audio.delta"', at) || s.startsWith('{"type":"image_generation.partial_image"', at) || s.startsWith('{"type":"image_edit.partial_image"', at);
}

/** Whether a Chat event's `"refusal":` at `at` (or -1) holds a string (`null` in most deltas). */
function refusalText(s: string, at: number): boolean {
  if (at === -1) return false;
  let i = at + 10;
  while (s.charCodeAt(i) === 32) i++;
  return s.charCodeAt(i) === 34;
}


/** The HTTP status an API gives with each error type (Anthropic's types, OpenAI's types and codes). */
const ERROR_TYPE_STATUS: Record<string, number> = {
  invalid_request_error: 400, invalid_prompt: 400, authentication_error: 401, permission_error: 403, not_found_error: 404,
  request_too_large: 413, rate_limit_error: 429, rate_limit_exceeded: 429, insufficient_quota: 429, requests: 429, tokens: 429,
  api_error: 500, server_error: 500, overloaded_error: 529,
};

/** An error the upstream reported inside a stream (or an answer) it had begun with 200. */
export interface UpstreamErrorReport {
  /** Its type or code as the upstream named it (`overloaded_error`, `server_error`...), null if it named none. */
  type: string | null;
  /** The status the API gives that error (502 when it is not known). */
  status: number;
}

/** Read an upstream error object (`{type, code, message}`, or a Responses error event's own fields). */
export function upstreamErrorReport(e: Json): UpstreamErrorReport {
  const named = [e.type, e.code].find((v) => typeof v === 'string' && v !== 'error' && v.length > 0) as string | undefined;
  const numeric = [e.status, e.code].find((v) => typeof v === 'number' && v >= 400 && v <= 599) as number | undefined;
  return { type: named ?? (numeric !== undefined ? String(numeric) : null), status: numeric ?? (named !== undefined ? ERROR_TYPE_STATUS[named] : undefined) ?? 502 };
}

export class AnswerMeter {
  private inputTokens: number | null = null;
  /** Of the input: read from the provider's prompt cache, and written to it (Anthropic). */
  private cachedInputTokens = 0;
  private cacheWriteTokens = 0;
  private outputTokens: number | null = null;
  private reasoningTokens: number | null = null;
  private toolCalls = 0;
  private toolCallIds = new Set<string>();
  private finishReason: string | null = null;
  /** The upstream's id of the answer (`resp_...`, `msg_...`, `chatcmpl-...`), from an event that was parsed anyway. */
  private answerId: string | null = null;
  /** The code-execution container the answer used (reusable by id in later requests): Anthropic's, or OpenAI's code interpreter's. */
  private containerId: string | null = null;
  /** Responses: the ids of the answer's output items; Chat: its audio's (later requests may name them). */
  private itemIds = new Set<string>();
  /** An embeddings answer's `data`, sketched when the summary is made (after the answer went out). */
  private embeddingData: unknown = null;
  private outputText = '';
  private outputChars = 0;
  private serviceTier: string | null = null;
  /** Tokens of the text counted by the checkpoints so far, and how much of the text (`progress`). */
  private counted: { output: number; outputLength: number; reasoning: number; reasoningLength: number } | undefined;
  private reasoningText = '';
  private reasoningChars = 0;
  /** The start of the answer's visible text (no reasoning, refusal or tool call): what `answer_fp` hashes. */
  private head = '';
  /**
   * The answer as sent, when output transformers (watermarking) rewrote it: its start is read
   * from the events and body that go out (`observeSentEvent`, `observeSentBody`), not the upstream's.
   */
  private sent: AnswerMeter | null = null;
  /**
   * The envelope of the last text delta counted from the stream's bytes: from the event's start to
   * its text's opening quote (id, model, fingerprint, choice, key), and from its closing quote to
   * the end. The deltas of one stream repeat it byte for byte (see `sameShape`).
   */
  private shapeHead: string | null = null;
  private shapeTail = '';
  /** `shapeTail` up to and including the opening quote of OpenAI's `"obfuscation"` padding, if it has one. */
  private shapePadHead: string | null = null;
  private shapeReasoning = false;
  // What the last `closingQuote` saw in the string: escapes, and bytes beyond ASCII.
  private textEscaped = false;
  private textWide = false;

  /**
   * An error the upstream sent in the stream (Anthropic `event: error`, a Chat or legacy
   * completion chunk with `error`, a Responses `error` event or `response.failed`): the first one.
   */
  upstreamError: UpstreamErrorReport | null = null;

  /** The length of an uploaded recording, s, as the upstream gave it (a transcript's `duration`, or Whisper's usage); null if it did not. */
  audioSeconds: number | null = null;

  /** Responses streams: the `sequence_number` of the first event (numbering goes on from it). */
  firstSequence: number | null = null;
  /**
   * The answer showed thinking or reasoning: reasoning text, an Anthropic thinking block (also with
   * `display: "omitted"`), a Responses reasoning item. What a cut answer is charged depends on it.
   */
  reasoningShown = false;

  /**
   * The stream's closing event was seen: Responses `response.completed`, `.incomplete` or
   * `.failed`; Anthropic `message_stop`; Chat and legacy completions `[DONE]`, or a finish reason
   * and the final usage chunk when usage was asked for (`usageAsked`). The answer is then whole,
   * whatever becomes of the connection after it.
   */
  closed = false;
  /** Chat and legacy completion streams: usage was asked for, so the usage chunk closes the answer. */
  usageAsked = false;
  private sawFinish = false;
  private sawFinalUsage = false;
  /** Chat and legacy completions: the choices asked for (`n`), and the indices that gave a finish reason. */
  expectedChoices = 1;
  private finishedChoices = new Set<number>();

  constructor(readonly flavour: ApiFlavour) {}

  /** The upstream's id of the answer, once seen. */
  get answer(): string | null { return this.answerId; }

  private addOutput(s: unknown): void {
    if (typeof s !== 'string' || !s) return;
    this.outputChars += s.length;
    if (this.outputText.length < MAX_KEPT_CHARS) this.outputText += s;
  }

  /** Answer text the client sees: counted as output, and its start kept for the fingerprint. */
  private addText(s: unknown): void {
    if (typeof s !== 'string' || !s) return;
    this.addOutput(s);
    if (this.head.length < HEAD_CHARS) this.head += s.length > HEAD_CHARS ? s.slice(0, HEAD_CHARS) : s;
  }

  /** Output transformers rewrote a streamed event: read the start of the answer from it as sent. */
  observeSentEvent(data: string, eventName?: string): void {
    const m = this.sent ??= new AnswerMeter(this.flavour);
    if (m.head.length >= HEAD_CHARS || !data || data === '[DONE]') return;
    // A plain text delta (most of a marked stream) is read without parsing, as the upstream's are.
    if (m.observeDeltaFast(data, eventName)) return;
    let parsed: unknown;
    try { parsed = JSON.parse(data); } catch { return; }
    if (parsed && typeof parsed === 'object') m.observeEvent(parsed as Json, eventName);
  }

  /** Whether `observeSentEvent` still reads events: the start of the answer as sent is not yet whole. */
  get readsSentHead(): boolean {
    return this.sent === null || this.sent.head.length < HEAD_CHARS;
  }

  /** Output transformers rewrote the whole answer: read its start as sent. */
  observeSentBody(body: Json): void {
    (this.sent ??= new AnswerMeter(this.flavour)).observeBody(body);
  }

  private addReasoning(s: unknown): void {
    if (typeof s !== 'string' || !s) return;
    this.reasoningShown = true;
    this.reasoningChars += s.length;
    if (this.reasoningText.length < MAX_KEPT_CHARS) this.reasoningText += s;
  }

  /**
   * A transcript or translation as JSON: its text, and its usage: tokens (the GPT-4o transcribe
   * models), or the audio's seconds (Whisper, which bills by the second and counts no tokens).
   */
  private transcript(body: Json): void {
    this.addText(body.text);
    this.transcriptUsage(body.usage);
    if (typeof body.duration === 'number' && body.duration >= 0) this.audioSeconds = body.duration;
  }

  private transcriptUsage(u: Json | undefined | null): void {
    this.reasoningTokens = 0;
    if (!u) return;
    if (u.type === 'duration' && typeof u.seconds === 'number' && u.seconds >= 0) this.audioSeconds = u.seconds;
    else this.responsesUsage(u);
  }

  /**
   * An answer in plain text (a transcript as `text`, `srt` or `vtt`): its words are the output;
   * subtitles' cue numbers, times and header are not.
   */
  observeText(text: string): void {
    this.reasoningTokens = 0;
    const words = text.split('\n').filter((line) => !/^(WEBVTT.*|\d+|[\d:.,]+ --> [\d:.,]+.*)\s*$/.test(line.trim()));
    this.addText(words.join('\n').trim());
  }

  /** A stream's `[DONE]`. */
  done(): void { this.closed = true; }

  /**
   * Chat and legacy completions: whether a streamed chunk closes its answer: the usage-only chunk,
   * or one that gives the finish reason of the last of the `n` choices asked for (servers that
   * report a running usage on every chunk put one on each choice's finish too).
   */
  private lastChunk(data: Json): boolean {
    const choices = data.choices;
    if (!Array.isArray(choices) || choices.length === 0) return true;
    for (const c of choices) if (c?.finish_reason != null) this.finishedChoices.add(typeof c.index === 'number' ? c.index : 0);
    return this.finishedChoices.size >= this.expectedChoices;
  }

  /** Chat and legacy completions: a chunk gave a finish reason or the final usage. */
  private chunkClosing(finish: boolean, finalUsage: boolean): void {
    if (finish && this.finishedChoices.size >= this.expectedChoices) this.sawFinish = true;
    if (finalUsage) this.sawFinalUsage = true;
    if (this.usageAsked && this.sawFinish && this.sawFinalUsage) this.closed = true;
  }

  /** Whole (non-streaming) answer. */
  observeBody(body: Json): void {
    if (typeof body.id === 'string') this.answerId = body.id;
    this.noteTier(body.service_tier ?? body.usage?.service_tier);
    if (this.flavour === 'openai.chat') {
      this.chatUsage(body.usage);
      for (const c of body.choices ?? []) {
        const m = c?.message ?? {};
        this.itemId(m.audio?.id);
        this.addText(m.content);
        this.addOutput(m.refusal);
        this.addReasoning(chatReasoningText(m));
        if (Array.isArray(m.tool_calls)) {
          this.toolCalls += m.tool_calls.length;
          for (const tc of m.tool_calls) this.addOutput(tc?.function?.arguments);
        }
        if (c?.finish_reason && !this.finishReason) this.finishReason = c.finish_reason;
      }
    } else if (this.flavour === 'openai.responses') {
      this.responsesObject(body);
    } else if (this.flavour === 'openai.completions') {
      this.completionChoices(body);
    } else if (this.flavour === 'openai.embeddings') {
      // Vectors, not text: the input is all there is to count.
      if (body.usage && typeof body.usage.prompt_tokens === 'number') { this.inputTokens = body.usage.prompt_tokens; this.outputTokens = 0; this.reasoningTokens = 0; }
      this.embeddingData = body.data;
    } else if (this.flavour === 'openai.transcriptions' || this.flavour === 'openai.translations') {
      this.transcript(body);
    } else if (this.flavour === 'openai.images' || this.flavour === 'openai.image_edits' || this.flavour === 'openai.image_variations') {
      // Pictures, not text: the GPT image models report tokens (input and the images'), DALL-E none (its output counted 0).
      this.responsesUsage(body.usage);
      if (this.outputTokens === null) this.outputTokens = 0;
      this.reasoningTokens = 0;
    } else if (this.flavour === 'openai.moderations') {
      // Scores, not text: nothing is generated, and the upstream reports no usage (the input is counted here).
      this.outputTokens = 0;
      this.reasoningTokens = 0;
      const results = Array.isArray(body.results) ? body.results : [];
      this.finishReason = results.some((r: Json) => r?.flagged === true) ? 'flagged' : 'not_flagged';
    } else {
      this.anthropicUsage(body.usage);
      if (typeof body.container?.id === 'string') this.containerId = body.container.id;
      for (const b of body.content ?? []) {
        if (b?.type === 'text') this.addText(b.text);
        else if (b?.type === 'thinking') this.addReasoning(b.thinking);
        else if (b?.type === 'tool_use' || b?.type === 'server_tool_use') { this.toolCalls++; this.addOutput(JSON.stringify(b.input ?? {})); }
      }
      if (body.stop_reason) this.finishReason = body.stop_reason;
    }
  }

  /**
   * Cheap path for the bulk of a stream: plain text deltas are measured by scanning for their
   * one string field instead of parsing the whole JSON. Returns false when the event needs a full
   * parse (usage, finish reasons, tool calls, block starts...), which the caller then does.
   */
  observeDeltaFast(data: string, eventName?: string): boolean {
    // The needles of scanDelta: searched from a rarer character than their opening quote.
    // Legacy completions: every event takes the full parse (a legacy endpoint, not a hot path).
    if (this.flavour === 'openai.completions') return false;
    if (this.flavour === 'openai.images' || this.flavour === 'openai.image_edits' || this.flavour === 'openai.speech') return mediaDelta(data, 0, eventName);
    const n = NEEDLES;
    const head = this.shapeHead;
    if (head !== null && data.substring(0, head.length) === head && this.sameShapeIn(data, eventName)) return true;
    if (this.flavour === 'openai.chat') {
      if (n.usage.indexIn(data) !== -1 || n.toolCalls.indexIn(data) !== -1 || n.reasoning.indexIn(data) !== -1 || n.thinkingKey.indexIn(data) !== -1 || n.finishNull.indexIn(data) === -1) return false;
      if (this.audioUnseen(n.audio.indexIn(data))) return false;
      if (refusalText(data, n.refusal.indexIn(data))) return false;
      return this.textIn(data, n.contentKey, false) || n.content.indexIn(data) === -1;
    }
    if (this.flavour === 'anthropic.messages') {
      if (eventName !== 'content_block_delta') return eventName === 'ping';
      if (n.textDelta.indexIn(data) !== -1) return this.textIn(data, n.text, false);
      if (n.thinkingDelta.indexIn(data) !== -1) return this.textIn(data, n.thinking, true);
      return n.signatureDelta.indexIn(data) !== -1;
    }
    if (eventName === 'response.output_text.delta') {
      const v = jsonStringField(data, n.delta);
      if (v === null) return false;
      this.addOutputEscaped(v);
      return true;
    }
    return false;
  }

  /**
   * The string value of `key` in an event's (decoded) data: count it, and make the event's envelope
   * the stream's shape. False if there is none. (A meter reads its stream one way, decoded events
   * here or bytes in `scanDelta`, so the two never share a shape.)
   */
  private textIn(data: string, key: Needle, reasoning: boolean): boolean {
    const at = key.indexIn(data);
    if (at === -1) return false;
    let i = at + key.text.length;
    while (data.charCodeAt(i) === 32) i++;
    if (data.charCodeAt(i) !== 34) return false;
    const q = this.closingQuote(data, i + 1, data.length);
    // A second text after this one (another choice) is for the full parse.
    if (q === -1 || (this.flavour === 'openai.chat' && NEEDLES.content.indexIn(data, q) !== -1)) return false;
    this.countString(data.slice(i + 1, q), reasoning);
    this.shapeHead = data.slice(0, i + 1);
    this.setShapeTail(data.slice(q));
    this.shapeReasoning = reasoning;
    return true;
  }

  /** `sameShape` for decoded data that starts with the stream's shape. */
  private sameShapeIn(data: string, eventName: string | undefined): boolean {
    const q = this.closingQuote(data, this.shapeHead!.length, data.length);
    if (q === -1) return false;
    if (this.flavour === 'openai.chat' ? !this.plainChatTail(data, q, data.length) : eventName !== 'content_block_delta') return false;
    this.countString(data.slice(this.shapeHead!.length, q), this.shapeReasoning);
    return true;
  }

  /**
   * Whether a chat delta's end, [q, end) of `s` from its text's closing quote, is a plain delta's:
   * the last one's, byte for byte, or one with none of the needles but `"finish_reason":null`.
   */
  private plainChatTail(s: string, q: number, end: number): boolean {
    const tail = this.shapeTail;
    if (end - q === tail.length && s.substring(q, end) === tail) return true;
    if (this.paddingOnly(s, q, end)) return true;
    const rest = s.substring(q, end);
    const n = NEEDLES;
    return n.usage.indexIn(rest) === -1 && n.toolCalls.indexIn(rest) === -1 && n.reasoning.indexIn(rest) === -1 && n.thinkingKey.indexIn(rest) === -1
      && n.content.indexIn(rest) === -1 && n.finishNull.indexIn(rest) !== -1 && !refusalText(rest, n.refusal.indexIn(rest));
  }

  private setShapeTail(tail: string): void {
    this.shapeTail = tail;
    const at = tail.lastIndexOf(PADDING_KEY);
    this.shapePadHead = at === -1 ? null : tail.slice(0, at + PADDING_KEY.length);
  }

  /**
   * Whether a chat delta's end, [q, end) of `s`, is the last plain delta's but for its
   * `"obfuscation"` padding, which OpenAI draws afresh (random letters, a varying length) for every
   * delta: the same bytes up to the padding, then a plain string closing the object. Nothing that
   * the needles look for fits in such a string, so the decision is theirs, without the searches.
   */
  private paddingOnly(s: string, q: number, end: number): boolean {
    const head = this.shapePadHead;
    if (head === null || end - q <= head.length + 1 || s.charCodeAt(end - 1) !== 125 || !s.startsWith(head, q)) return false;
    for (let i = q + head.length; i < end - 2; i++) {
      const ch = s.charCodeAt(i);
      if (ch === 34 || ch === 92) return false;
    }
    return s.charCodeAt(end - 2) === 34;
  }

  /**
   * Chat audio (at `at`, -1 if none) before its id was read: for the full parse (the id comes in
   * the first audio delta; later ones carry the sound, measured by nothing here).
   */
  private audioUnseen(at: number): boolean {
    return at !== -1 && this.itemIds.size === 0;
  }

  /** Count a JSON string's raw (still escaped) contents just read by `closingQuote`. */
  private countString(raw: string, reasoning: boolean): void {
    const v = this.textEscaped ? unescapeJsonString(raw) : raw;
    if (reasoning) this.addReasoning(v); else this.addText(v);
  }

  /**
   * `observeDeltaFast` for an event still in the stream's bytes: its data is `c.text` from `ds`
   * to `de` (see SseScanner). Same decisions, same figures; nothing is decoded but the text delta.
   * Returns false when the event needs a full parse.
   */
  scanDelta(c: ScanChunk, ds: number, de: number, eventName: string | undefined): boolean {
    const n = NEEDLES;
    const s = c.text;
    if (ds === de) return true;
    if (de - ds === 6 && s.startsWith('[DONE]', ds)) { this.closed = true; return true; }
    if (this.flavour === 'openai.completions') return false;
    if (this.flavour === 'openai.images' || this.flavour === 'openai.image_edits' || this.flavour === 'openai.speech') return mediaDelta(s, ds, eventName);
    const head = this.shapeHead;
    if (head !== null && s.substring(ds, ds + head.length) === head && this.sameShape(c, ds + head.length, de, eventName)) return true;
    if (this.flavour === 'openai.chat') {
      if (n.usage.within(c, ds, de) !== -1 || n.toolCalls.within(c, ds, de) !== -1 || n.reasoning.within(c, ds, de) !== -1 || n.thinkingKey.within(c, ds, de) !== -1) return false;
      if (this.audioUnseen(n.audio.within(c, ds, de))) return false;
      // A refusal's text is for the full parse (`"refusal":null`, in most deltas, is not).
      if (refusalText(s, n.refusal.within(c, ds, de))) return false;
      const at = n.contentKey.within(c, ds, de);
      if (at === -1) return n.content.within(c, ds, de) === -1 && n.finishNull.within(c, ds, de) !== -1;
      // `"finish_reason":null` is looked for after the text only (it follows the delta in every
      // upstream seen; an event where it does not goes to the full parse, measured the same).
      return this.stringAt(c, ds, at + 10, de, false, n.finishNull);
    }
    if (this.flavour === 'anthropic.messages') {
      if (eventName !== 'content_block_delta') return eventName === 'ping';
      if (n.textDelta.within(c, ds, de) !== -1) {
        const at = n.text.within(c, ds, de);
        return at !== -1 && this.stringAt(c, ds, at + 7, de, false);
      }
      if (n.thinkingDelta.within(c, ds, de) !== -1) {
        const at = n.thinking.within(c, ds, de);
        return at !== -1 && this.stringAt(c, ds, at + 11, de, true);
      }
      return n.signatureDelta.within(c, ds, de) !== -1;
    }
    if (eventName === 'response.output_text.delta') {
      const at = n.delta.within(c, ds, de);
      return at !== -1 && this.stringAt(c, ds, at + 8, de, false);
    }
    return false;
  }

  /**
   * The JSON string value at `i` (spaces allowed before it) of the event starting at `ds`, ending
   * before `end`: count it. False if there is none, or if `then` does not occur between it and
   * `end` (then nothing is counted). Counted, the event's envelope becomes the stream's shape.
   */
  private stringAt(c: ScanChunk, ds: number, i: number, end: number, reasoning: boolean, then?: Needle): boolean {
    const s = c.text;
    while (s.charCodeAt(i) === 32) i++;
    if (s.charCodeAt(i) !== 34) return false;
    const start = i + 1;
    const q = this.closingQuote(s, start, end);
    if (q === -1) return false;
    if (then && then.within(c, q, end) === -1) return false;
    // A second text after this one (another choice) is for the full parse.
    if (this.flavour === 'openai.chat' && NEEDLES.content.within(c, q, end) !== -1) return false;
    this.countText(c, start, q, reasoning);
    // Shapes are learnt from deltas only (Responses events number themselves, so no two share one).
    if (this.flavour !== 'openai.responses') {
      this.shapeHead = c.buf.toString('latin1', ds, start);
      this.setShapeTail(c.buf.toString('latin1', q, end));
      this.shapeReasoning = reasoning;
    }
    return true;
  }

  /**
   * An event that starts with the stream's shape (`shapeHead`): its text starts at `i`, at the
   * place of the last delta's, which was found by the needles. The same decision as theirs, without
   * the search: what follows the text is the last delta's (`shapeTail`), or is checked for them.
   */
  private sameShape(c: ScanChunk, i: number, end: number, eventName: string | undefined): boolean {
    const s = c.text;
    const q = this.closingQuote(s, i, end);
    if (q === -1) return false;
    if (this.flavour === 'openai.chat' ? !this.plainChatTail(s, q, end) : eventName !== 'content_block_delta') return false;
    this.countText(c, i, q, this.shapeReasoning);
    return true;
  }

  /** Where the JSON string whose contents start at `i` ends (its closing quote) before `end`, or -1. */
  private closingQuote(s: string, i: number, end: number): number {
    let escaped = false;
    let wide = false;
    for (; i < end; i++) {
      const ch = s.charCodeAt(i);
      if (ch === 92) { escaped = true; i++; continue; }
      if (ch === 34) { this.textEscaped = escaped; this.textWide = wide; return i; }
      if (ch > 127) wide = true;
    }
    return -1;
  }

  /** Count the string [start, q) just read by `closingQuote`. */
  private countText(c: ScanChunk, start: number, q: number, reasoning: boolean): void {
    let v = this.textWide ? c.buf.toString('utf8', start, q) : c.text.slice(start, q);
    if (this.textEscaped) v = unescapeJsonString(v);
    if (reasoning) this.addReasoning(v); else this.addText(v);
  }

  private addOutputEscaped(raw: string): void {
    this.addText(raw.includes('\\') ? unescapeJsonString(raw) : raw);
  }

  /** One streamed event's parsed data (and the SSE event name, for Anthropic/Responses). */
  observeEvent(data: Json, eventName?: string): void {
    if (this.upstreamError === null) this.noteStreamError(data, eventName);
    // Chat's chunks carry it (the finishing and usage chunks are parsed), Responses' final response, Anthropic's usage.
    this.noteTier(data.service_tier ?? data.response?.service_tier ?? data.message?.usage?.service_tier ?? data.usage?.service_tier);
    if (this.flavour === 'openai.chat') {
      if (this.answerId === null && typeof data.id === 'string') this.answerId = data.id;
      const finalUsage = this.lastChunk(data) && Boolean(data.usage);
      if (data.usage) this.chatUsage(data.usage, finalUsage);
      let finish = false;
      for (const c of data.choices ?? []) {
        const d = c?.delta ?? {};
        this.itemId(d.audio?.id);
        this.addText(d.content);
        this.addOutput(d.refusal);
        this.addReasoning(chatReasoningText(d));
        if (Array.isArray(d.tool_calls)) {
          for (const tc of d.tool_calls) {
            const key = `${c.index ?? 0}:${tc.index ?? 0}`;
            if (!this.toolCallIds.has(key)) { this.toolCallIds.add(key); this.toolCalls++; }
            this.addOutput(tc.function?.arguments);
          }
        }
        if (c?.finish_reason) { this.finishReason = c.finish_reason; finish = true; }
      }
      this.chunkClosing(finish, finalUsage);
    } else if (this.flavour === 'openai.completions') {
      this.completionChoices(data, true);
    } else if (this.flavour === 'openai.transcriptions' || this.flavour === 'openai.translations') {
      // `transcript.text.delta` events, then `transcript.text.done` with the whole text (already counted) and the usage.
      if (data.type === 'transcript.text.delta') this.addText(data.delta);
      else if (data.type === 'transcript.text.done') { this.transcriptUsage(data.usage); this.closed = true; }
    } else if (this.flavour === 'openai.images' || this.flavour === 'openai.image_edits') {
      // Each finished image's event has its usage (the prompt counted once, or again on each: the
      // largest input count is the prompt's); the stream is whole after the last of the `n`.
      const type = data.type ?? eventName;
      if (type === 'image_generation.completed' || type === 'image_edit.completed') {
        const u = data.usage ?? {};
        if (typeof u.input_tokens === 'number') this.inputTokens = Math.max(this.inputTokens ?? 0, u.input_tokens);
        this.outputTokens = (this.outputTokens ?? 0) + (typeof u.output_tokens === 'number' ? u.output_tokens : 0);
        this.reasoningTokens = 0;
        this.finishedChoices.add(this.finishedChoices.size);
        if (this.finishedChoices.size >= this.expectedChoices) { this.closed = true; this.finishReason = 'completed'; }
      }
    } else if (this.flavour === 'openai.speech') {
      // Audio, not text: only the closing event's usage counts.
      if ((data.type ?? eventName) === 'speech.audio.done') {
        this.responsesUsage(data.usage);
        this.reasoningTokens = 0;
        this.finishReason = 'completed';
        this.closed = true;
      }
    } else if (this.flavour === 'openai.responses') {
      const type = data.type ?? eventName;
      if (this.firstSequence === null && typeof data.sequence_number === 'number') this.firstSequence = data.sequence_number;
      if (type === 'response.output_text.delta') this.addText(data.delta);
      else if (type === 'response.reasoning_summary_text.delta' || type === 'response.reasoning_text.delta') this.addReasoning(data.delta);
      else if (type === 'response.function_call_arguments.delta' || type === 'response.refusal.delta') this.addOutput(data.delta);
      else if (type === 'response.output_item.added' || type === 'response.output_item.done') {
        if (type === 'response.output_item.added' && data.item?.type === 'function_call') this.toolCalls++;
        if (data.item?.type === 'reasoning') this.reasoningShown = true;
        this.outputItem(data.item);
      }
      else if (type === 'response.created') { if (typeof data.response?.id === 'string') this.answerId = data.response.id; }
      else if (type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed') {
        const r = data.response ?? {};
        if (typeof r.id === 'string') this.answerId = r.id;
        if (Array.isArray(r.output)) for (const item of r.output) this.outputItem(item);
        this.responsesUsage(r.usage);
        this.finishReason = r.status ?? type.slice('response.'.length);
        if (r.incomplete_details?.reason) this.finishReason = r.incomplete_details.reason;
        this.closed = true;
      }
    } else {
      const type = data.type ?? eventName;
      if (type === 'message_start') {
        // Its output_tokens is a placeholder (1 or so): only message_delta's count is final.
        this.anthropicUsage(data.message?.usage, false);
        if (typeof data.message?.id === 'string') this.answerId = data.message.id;
        if (typeof data.message?.container?.id === 'string') this.containerId = data.message.container.id;
      }
      else if (type === 'content_block_start') {
        const b = data.content_block ?? {};
        if (b.type === 'tool_use' || b.type === 'server_tool_use') this.toolCalls++;
        if (b.type === 'text') this.addText(b.text);
        if (b.type === 'thinking' || b.type === 'redacted_thinking') this.reasoningShown = true;
      } else if (type === 'content_block_delta') {
        const d = data.delta ?? {};
        if (d.type === 'text_delta') this.addText(d.text);
        else if (d.type === 'thinking_delta') this.addReasoning(d.thinking);
        else if (d.type === 'input_json_delta') this.addOutput(d.partial_json);
      } else if (type === 'message_delta') {
        if (data.delta?.stop_reason) this.finishReason = data.delta.stop_reason;
        if (typeof data.delta?.container?.id === 'string') this.containerId = data.delta.container.id;
        if (data.usage) this.anthropicUsage(data.usage, true);
      } else if (type === 'message_stop') this.closed = true;
    }
  }

  /** An event that reports an error: Anthropic and Responses `error` events, OpenAI chunks with an `error` object, `response.failed`. */
  private noteStreamError(data: Json, eventName: string | undefined): void {
    const type = data.type ?? eventName;
    if (this.flavour === 'anthropic.messages') {
      if (type === 'error') this.upstreamError = upstreamErrorReport(data.error ?? {});
    } else if (this.flavour === 'openai.responses') {
      if (type === 'error') this.upstreamError = upstreamErrorReport(data.error ?? data);
      else if (type === 'response.failed') this.upstreamError = upstreamErrorReport(data.response?.error ?? {});
    } else if (data.error && typeof data.error === 'object') {
      this.upstreamError = upstreamErrorReport(data.error);
    }
  }

  /** A legacy `text_completion` (whole, or one streamed chunk): choices' text, usage, finish. */
  private completionChoices(body: Json, streamed = false): void {
    if (this.answerId === null && typeof body.id === 'string') this.answerId = body.id;
    const finalUsage = (!streamed || this.lastChunk(body)) && Boolean(body.usage);
    if (body.usage) this.chatUsage(body.usage, finalUsage);
    let finish = false;
    for (const c of body.choices ?? []) {
      this.addText(c?.text);
      if (c?.finish_reason) { this.finishReason = c.finish_reason; finish = true; }
    }
    if (streamed) this.chunkClosing(finish, finalUsage);
  }

  /**
   * `final`: the answer's own count. A running count on a chunk mid-stream (servers that report
   * usage on every chunk) gives the input only: if the stream is cut, the output is counted.
   */
  private chatUsage(u: Json | undefined | null, final = true): void {
    if (!u) return;
    if (typeof u.prompt_tokens === 'number') this.inputTokens = u.prompt_tokens;
    const cached = u.prompt_tokens_details?.cached_tokens;
    if (typeof cached === 'number') this.cachedInputTokens = cached;
    if (!final) return;
    if (typeof u.completion_tokens === 'number') this.outputTokens = u.completion_tokens;
    const r = u.completion_tokens_details?.reasoning_tokens;
    if (typeof r === 'number') this.reasoningTokens = r;
  }

  private responsesUsage(u: Json | undefined | null): void {
    if (!u) return;
    if (typeof u.input_tokens === 'number') this.inputTokens = u.input_tokens;
    const cached = u.input_tokens_details?.cached_tokens;
    if (typeof cached === 'number') this.cachedInputTokens = cached;
    if (typeof u.output_tokens === 'number') this.outputTokens = u.output_tokens;
    const r = u.output_tokens_details?.reasoning_tokens;
    if (typeof r === 'number') this.reasoningTokens = r;
  }

  private itemId(id: unknown): void {
    if (typeof id === 'string' && this.itemIds.size < MAX_ITEM_IDS) this.itemIds.add(id);
  }

  /** A Responses output item: its id, and the code interpreter's container (seen again in a stream: kept once). */
  private outputItem(item: Json | null | undefined): void {
    if (!item || typeof item !== 'object') return;
    this.itemId(item.id);
    if (this.containerId === null && item.type === 'code_interpreter_call' && typeof item.container_id === 'string') this.containerId = item.container_id;
  }

  private responsesObject(r: Json): void {
    this.responsesUsage(r.usage);
    for (const item of r.output ?? []) {
      this.outputItem(item);
      // A compaction's output holds the conversation's user messages: the caller's words, not the answer.
      if (item?.type === 'message' && item.role !== 'user') for (const c of item.content ?? []) { if (c?.type === 'refusal') this.addOutput(c.refusal); else this.addText(c?.text); }
      else if (item?.type === 'reasoning') {
        for (const s of item.summary ?? []) this.addReasoning(s?.text);
        for (const c of item.content ?? []) this.addReasoning(c?.text);
      } else if (item?.type === 'function_call') { this.toolCalls++; this.addOutput(item.arguments); }
    }
    this.finishReason = r.incomplete_details?.reason ?? r.status ?? (r.object === 'response.compaction' ? 'completed' : null);
  }

  /** `final`: a whole message's or a `message_delta`'s usage, whose output count is the answer's. */
  private anthropicUsage(u: Json | undefined | null, final = true): void {
    if (!u) return;
    // Counts are cumulative: a cache field a later event leaves null or out (message_delta's are
    // nullable) keeps message_start's, so the input does not shrink to its uncached part.
    if (typeof u.cache_read_input_tokens === 'number') this.cachedInputTokens = u.cache_read_input_tokens;
    if (typeof u.cache_creation_input_tokens === 'number') this.cacheWriteTokens = u.cache_creation_input_tokens;
    // Input tokens seen are all of them; the cache's share is kept apart for metering and pricing.
    if (typeof u.input_tokens === 'number') this.inputTokens = u.input_tokens + this.cacheWriteTokens + this.cachedInputTokens;
    if (final && typeof u.output_tokens === 'number') this.outputTokens = u.output_tokens;
  }

  /** The service tier the upstream answered with (OpenAI `service_tier`, Anthropic `usage.service_tier`), as it named it. */
  private noteTier(v: unknown): void {
    if (typeof v === 'string' && v.length > 0 && v.length <= SERVICE_TIER_MAX_CHARS) this.serviceTier = v;
  }

  /** Input tokens as the upstream counted them, once it said (null: not yet, or never). */
  get upstreamInputTokens(): number | null { return this.inputTokens; }

  /**
   * What a stream under way has sent so far, for its checkpoint (src/store/open-interactions.ts):
   * the upstream's counts where it gave them, else counted from the text sent, as `summary` counts
   * a cut stream. Only the text added since the previous checkpoint is counted (a checkpoint of a
   * long answer costs what its new text does), so a count may differ from `summary`'s by a token
   * per checkpoint where the text was cut. Input null while the upstream has not said it.
   */
  progress(): { input_tokens: number | null; output_tokens: number; reasoning_tokens: number; output_chars: number; reasoning_chars: number } {
    const c = (this.counted ??= { output: 0, outputLength: 0, reasoning: 0, reasoningLength: 0 });
    if (this.outputText.length > c.outputLength) { c.output += countTokens(this.outputText.slice(c.outputLength)); c.outputLength = this.outputText.length; }
    if (this.reasoningText.length > c.reasoningLength) { c.reasoning += countTokens(this.reasoningText.slice(c.reasoningLength)); c.reasoningLength = this.reasoningText.length; }
    // Past the text kept (MAX_KEPT_CHARS), scaled to the characters sent, as countTextTokens does.
    const scaled = (tokens: number, kept: number, chars: number) => (chars > kept && kept > 0 ? Math.round((tokens * chars) / kept) : tokens);
    const reasoning = this.reasoningTokens ?? scaled(c.reasoning, c.reasoningLength, this.reasoningChars);
    let counted = scaled(c.output, c.outputLength, this.outputChars);
    if (this.flavour === 'anthropic.messages' || this.reasoningTokens === null) counted += reasoning;
    const output = Math.max(this.outputTokens ?? 0, counted);
    return { input_tokens: this.inputTokens, output_tokens: output, reasoning_tokens: Math.min(reasoning, output), output_chars: this.outputChars, reasoning_chars: this.reasoningChars };
  }

  /**
   * Final figures. `promptText` is used to count input tokens if the upstream reported none,
   * scaled to `promptChars` when it is a part of a longer prompt.
   * Anthropic does not report thinking tokens separately: they are counted from the thinking text.
   * A stream cut before the upstream's final count (client gone, Warden's duration cap, upstream
   * failure) has what was streamed counted: text, thinking and tool input.
   */
  summary(promptText: string, promptChars = promptText.length): AnswerSummary {
    let source: AnswerSummary['usage_source'] = 'upstream';
    let input = this.inputTokens;
    const fromUpstream = input !== null;
    let output = this.outputTokens;
    let reasoning = this.reasoningTokens;
    if (input === null || output === null) source = 'tokenizer';
    if (input === null) input = countTextTokens(promptText, promptChars);
    if (reasoning === null) reasoning = countTextTokens(this.reasoningText, this.reasoningChars);
    if (output === null) {
      output = countTextTokens(this.outputText, this.outputChars) + (this.flavour === 'anthropic.messages' ? reasoning : 0);
      if (this.flavour !== 'anthropic.messages') output += this.reasoningTokens === null ? reasoning : 0;
    }
    if (source === 'tokenizer' && input === 0 && output === 0) source = 'none';
    // Several choices: which one the client keeps is not known.
    const fp = this.expectedChoices > 1 ? null : answerFingerprint((this.sent ?? this).head);
    return {
      input_tokens: input,
      output_tokens: output,
      reasoning_tokens: Math.min(reasoning, Math.max(output, reasoning)),
      usage_source: source,
      tool_calls: this.toolCalls,
      finish_reason: this.finishReason,
      output_chars: this.outputChars,
      reasoning_chars: this.reasoningChars,
      answer_id: this.answerId,
      container_id: this.containerId,
      ...(this.itemIds.size > 0 ? { item_ids: [...this.itemIds] } : {}),
      ...(fp !== null ? { answer_fp: fp } : {}),
      // Only from the upstream's own count, and within the input it reported: the split comes with
      // the input count (Anthropic's message_start, a Chat running usage), so a stream cut before
      // the final count keeps it as it keeps that input.
      ...(fromUpstream && this.cachedInputTokens > 0 ? { cached_input_tokens: Math.min(this.cachedInputTokens, input) } : {}),
      ...(fromUpstream && this.cacheWriteTokens > 0 ? { cache_write_tokens: Math.min(this.cacheWriteTokens, input - Math.min(this.cachedInputTokens, input)) } : {}),
      ...(this.embeddingData !== null ? { embeddings: summariseEmbeddings(this.embeddingData) } : {}),
      ...(this.serviceTier !== null ? { service_tier: this.serviceTier } : {}),
    };
  }
}
