/**
 * The watermark as an output transformer: marks answer text in every wire format, streaming
 * included, and keeps the text repeated in "done"/final events identical to what was streamed.
 */
import { randomBytes } from 'node:crypto';
import type { ApiFlavour } from '../events/index.ts';
import type { OutputTransformer, SseEvent } from '../gateway/lifecycle.ts';
import { StreamingWatermarker, watermarkText, type EmbedStats } from './embed.ts';
import { StreamingJsonWatermarker, watermarkJson, watermarkJsonValue, type TextMarker } from './json.ts';

/** Totals across all texts of one answer (for events and metrics). */
export interface WatermarkTally extends EmbedStats {}

/** How an answer is marked beyond its plain text. */
export interface WatermarkOptions {
  /** The answer text is JSON (JSON mode, structured output): the prose in its string values is marked. */
  json?: boolean;
  /** JSON the answer continues (an Anthropic prefill): read as context, never sent. */
  prefill?: string;
  /** Tool-call arguments are marked too (the prose in their string values). */
  toolArguments?: boolean;
  /** String values never changed in JSON answers and tool arguments: the request schemas' `enum`/`const` strings. */
  keep?: ReadonlySet<string>;
}

/** Build the watermark transformer for one answer. */
export function watermarkTransformer(flavour: ApiFlavour, key: Uint8Array, tally?: WatermarkTally, opts: WatermarkOptions = {}): OutputTransformer {
  const add = (s: EmbedStats) => { if (tally) { tally.words += s.words; tally.slots += s.slots; tally.changed += s.changed; } };
  // The prefill is continued by the first text of the answer only.
  let prefill = opts.json ? opts.prefill : undefined;
  const takePrefill = () => { const p = prefill; prefill = undefined; return p; };
  const keep = opts.keep;
  const wholeText = (text: string) => (opts.json ? watermarkJson(text, key, takePrefill(), keep) : watermarkText(text, key));
  const mark = (text: string): string => { const r = wholeText(text); add(r.stats); return r.text; };
  const newText = (): TextMarker => (opts.json ? new StreamingJsonWatermarker(key, takePrefill(), keep) : new StreamingWatermarker(key));
  const streams = new Map<string, TextMarker>();
  const stream = (id: string, make: () => TextMarker = newText) => {
    let w = streams.get(id);
    if (!w) { w = make(); streams.set(id, w); }
    return w;
  };
  /** Finished texts that can still be cited (a citation may come after its text ends). */
  const ended = new Map<string, TextMarker>();
  const finish = (id: string): string => {
    const w = streams.get(id);
    if (!w) return '';
    streams.delete(id);
    const rest = w.end();
    add(w.stats);
    if (w.mapOffset) ended.set(id, w);
    return rest;
  };
  const cites: Citations = {
    streamed: (id) => {
      const w = streams.get(id) ?? ended.get(id);
      return w?.mapOffset ? (p) => w.mapOffset!(p) : null;
    },
    whole: (text, count) => {
      const w = newText();
      const out = w.push(text) + w.end();
      if (count) add(w.stats);
      return { text: out, map: w.mapOffset ? (p) => w.mapOffset!(p) : null };
    },
  };
  const args: ArgsMarker | null = opts.toolArguments ? {
    stream: (id) => stream(`args:${id}`, () => new StreamingJsonWatermarker(key, undefined, keep)),
    finish: (id) => finish(`args:${id}`),
    mark: (text) => { const r = watermarkJson(text, key, undefined, keep); add(r.stats); return r.text; },
    silent: (text) => watermarkJson(text, key, undefined, keep).text,
    value: (v) => { const s = { words: 0, slots: 0, changed: 0 }; const out = watermarkJsonValue(v, key, s, keep); add(s); return out; },
  } : null;
  if (flavour === 'anthropic.messages') return anthropicWatermark(stream, finish, mark, args);
  if (flavour === 'openai.chat') return chatWatermark(stream, finish, mark, args, cites);
  if (flavour === 'openai.completions') return completionsWatermark(stream, finish, mark);
  if (flavour === 'openai.transcriptions' || flavour === 'openai.translations') return transcriptWatermark(stream, finish, mark);
  return responsesWatermark(stream, finish, mark, (t) => wholeText(t).text, args, cites);
}

type OffsetMap = (p: number) => number;

/**
 * Citations into an answer's text (Chat `annotations[].url_citation`, Responses
 * `output_text.annotations`): their character offsets are moved with the marked text.
 */
interface Citations {
  /** The offsets of a streamed text (by its stream id) as marked so far; null when they do not move. */
  streamed(id: string): OffsetMap | null;
  /** A whole text marked, with its offsets; `count` adds it to the tally (false for a final copy of streamed text). */
  whole(text: string, count: boolean): { text: string; map: OffsetMap | null };
}

/**
 * Moves the offsets of `annotations` (a list of citations; Chat nests them in `url_citation`) with
 * the marked text. Returns whether any changed.
 */
function moveCitations(annotations: unknown, map: OffsetMap | null): boolean {
  if (!map || !Array.isArray(annotations)) return false;
  let changed = false;
  for (const a of annotations as Record<string, any>[]) {
    const at = a && typeof a.url_citation === 'object' && a.url_citation !== null ? a.url_citation : a;
    if (!at || typeof at !== 'object') continue;
    for (const k of ['start_index', 'end_index', 'index']) {
      const v = at[k];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) continue;
      const moved = map(v);
      if (moved !== v) { at[k] = moved; changed = true; }
    }
  }
  return changed;
}

/** Whether a list of citations holds one to move. */
const hasCitations = (annotations: unknown): boolean => Array.isArray(annotations) && annotations.length > 0;

type StreamFn = (id: string) => TextMarker;
type FinishFn = (id: string) => string;
type MarkFn = (text: string) => string;

/** Marking of tool-call arguments (JSON text, streamed or whole; Anthropic's parsed `input`). */
interface ArgsMarker {
  stream: StreamFn;
  finish: FinishFn;
  mark: MarkFn;
  /** Marks final copies of streamed arguments without counting them again. */
  silent: MarkFn;
  value: (v: unknown) => unknown;
}

/**
 * Where the one JSON string that starts at `i` (just after its opening quote) of `s` ends: the
 * index of its closing quote, or -1.
 */
function closingQuote(s: string, i: number): number {
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 92) i++;
    else if (c === 34) return i;
  }
  return -1;
}

/**
 * A text delta as received: its bytes before the text's opening quote (`head`: the envelope, the
 * choice or block, the key) and from its closing quote (`tail`). The deltas of one stream repeat
 * both byte for byte, so the next delta with the same head and tail is the same delta with other
 * text: its text is marked and put back in place, without parsing and re-serialising the event
 * (which was most of a marked stream's cost).
 */
interface TextShape { head: string; tail: string; index: number }

/** The shape of `data` around the string value of `key` (with its quotes and colon), if the key occurs once. */
function textShape(data: string, key: string, index: number): TextShape | null {
  // In valid JSON a quoted name followed by a colon is always a key (quotes inside strings are
  // escaped): occurring once, it is the one the caller parsed.
  const at = data.indexOf(key);
  if (at === -1 || data.indexOf(key, at + 1) !== -1) return null;
  let i = at + key.length;
  while (data.charCodeAt(i) === 32) i++;
  if (data.charCodeAt(i) !== 34) return null;
  const end = closingQuote(data, i + 1);
  if (end === -1) return null;
  return { head: data.slice(0, i + 1), tail: data.slice(end), index };
}

/** The (non-empty) text of `data` if it is `shape` around one string, unescaped; null if not. */
function textInShape(data: string, shape: TextShape): string | null {
  const { head, tail } = shape;
  const end = data.length - tail.length;
  if (end <= head.length || data.substring(0, head.length) !== head || data.substring(end) !== tail || closingQuote(data, head.length) !== end) return null;
  const raw = data.slice(head.length, end);
  return raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
}

/** `shape` around `text`. */
function inShape(shape: TextShape, text: string): string {
  return shape.head + JSON.stringify(text).slice(1, -1) + shape.tail;
}

const PAD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * OpenAI's `obfuscation` padding (random letters and digits) refitted to a delta whose text went
 * from `before` to `after` characters: text and padding keep their total modulo 16, as the API
 * sizes them (1 to 16 characters). Left as it was, a marked delta's sizes would no longer add up,
 * which tells the reader that its answers are rewritten (and so, when marking follows a verdict,
 * that it is flagged).
 */
export function refitPadding(padding: string, before: number, after: number): string {
  return before === after ? padding : randomPadding((((before + padding.length - after) % 16) + 16) % 16 || 16);
}

/** `n` random letters and digits. */
function randomPadding(n: number): string {
  const bytes = randomBytes(n);
  let out = '';
  for (let i = 0; i < n; i++) out += PAD_ALPHABET[bytes[i] % PAD_ALPHABET.length];
  return out;
}

const PADDING_KEY = '"obfuscation":"';

/** A delta's trailing bytes (`shape.tail`) with its padding refitted (see refitPadding); as they were without one. */
function refitTail(tail: string, before: number, after: number): string {
  const at = tail.indexOf(PADDING_KEY);
  if (at === -1 || before === after) return tail;
  const start = at + PADDING_KEY.length;
  const end = tail.indexOf('"', start);
  if (end === -1) return tail;
  return tail.slice(0, start) + refitPadding(tail.slice(start, end), before, after) + tail.slice(end);
}

/** The shape of a chat chunk's data if it is a plain text delta (one choice, `delta` only `content`, no finish). */
function plainDelta(data: string, chunk: Record<string, any>): TextShape | null {
  const choice = chunk.choices.length === 1 ? chunk.choices[0] : null;
  const delta = choice?.delta;
  if (!delta || typeof delta.content !== 'string' || !delta.content || choice.finish_reason != null || Object.keys(delta).length !== 1) return null;
  return textShape(data, '"content":', choice.index);
}

function anthropicWatermark(stream: StreamFn, finish: FinishFn, mark: MarkFn, args: ArgsMarker | null): OutputTransformer {
  const textBlocks = new Set<number>();
  const toolBlocks = new Set<number>();
  let plain: TextShape | null = null;
  return {
    sse(ev) {
      if (ev.event !== 'content_block_start' && ev.event !== 'content_block_delta' && ev.event !== 'content_block_stop') return ev;
      const text = ev.event === 'content_block_delta' && plain && textBlocks.has(plain.index) && textInShape(ev.data, plain);
      if (text) {
        const out = stream(String(plain!.index)).push(text);
        return out === '' ? null : { event: ev.event, data: inShape(plain!, out) };
      }
      let msg: Record<string, any>;
      try { msg = JSON.parse(ev.data); } catch { return ev; }
      const index: number = msg.index;
      if (ev.event === 'content_block_start') {
        if (args && msg.content_block?.type === 'tool_use') toolBlocks.add(index);
        if (msg.content_block?.type === 'text') {
          textBlocks.add(index);
          const initial = msg.content_block.text;
          if (typeof initial === 'string' && initial) { msg.content_block.text = stream(String(index)).push(initial); return { event: ev.event, data: JSON.stringify(msg) }; }
        }
        return ev;
      }
      if (args && toolBlocks.has(index)) {
        // Tool input streams as pieces of its JSON text (the client parses their concatenation).
        if (ev.event === 'content_block_delta') {
          if (msg.delta?.type !== 'input_json_delta' || typeof msg.delta.partial_json !== 'string') return ev;
          msg.delta.partial_json = args.stream(String(index)).push(msg.delta.partial_json);
          return { event: ev.event, data: JSON.stringify(msg) };
        }
        toolBlocks.delete(index);
        const rest = args.finish(String(index));
        if (!rest) return ev;
        return [{ event: 'content_block_delta', data: JSON.stringify({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: rest } }) }, ev];
      }
      if (!textBlocks.has(index)) return ev;
      if (ev.event === 'content_block_delta') {
        if (msg.delta?.type !== 'text_delta') return ev;
        plain = typeof msg.delta.text === 'string' && Object.keys(msg.delta).length === 2 ? textShape(ev.data, '"text":', index) : null;
        const out = stream(String(index)).push(msg.delta.text ?? '');
        if (out === '') return null;
        msg.delta.text = out;
        return { event: ev.event, data: JSON.stringify(msg) };
      }
      textBlocks.delete(index);
      const rest = finish(String(index));
      if (!rest) return ev;
      return [{ event: 'content_block_delta', data: JSON.stringify({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: rest } }) }, ev];
    },
    json(body) {
      if (Array.isArray(body.content)) {
        for (const b of body.content as Record<string, any>[]) {
          if (b?.type === 'text' && typeof b.text === 'string') b.text = mark(b.text);
          else if (args && b?.type === 'tool_use' && b.input && typeof b.input === 'object') b.input = args.value(b.input);
        }
      }
      return body;
    },
  };
}

/**
 * Legacy completions: `choices[].text`, whole or streamed chunk by chunk (every chunk parsed: a
 * legacy endpoint, not a hot path). The policy skips marking when `echo` returns the prompt.
 */
/**
 * A transcript or translation: `text` of the JSON answer (and of `verbose_json`'s segments, each
 * on its own), and the GPT-4o transcribe models' streamed `transcript.text.delta` events, whose
 * `transcript.text.done` repeats the text as the deltas made it (what the stream's marker held
 * back is sent as one more delta before it).
 */
function transcriptWatermark(stream: StreamFn, finish: FinishFn, mark: MarkFn): OutputTransformer {
  let sent = '';
  let marked = '';
  return {
    sse(ev) {
      if (!ev.data.includes('"transcript.text.')) return ev;
      let chunk: Record<string, any>;
      try { chunk = JSON.parse(ev.data); } catch { return ev; }
      if (chunk.type === 'transcript.text.delta' && typeof chunk.delta === 'string') {
        sent += chunk.delta;
        chunk.delta = stream('transcript').push(chunk.delta);
        marked += chunk.delta;
        return { event: ev.event, data: JSON.stringify(chunk) };
      }
      if (chunk.type === 'transcript.text.done' && typeof chunk.text === 'string') {
        const tail = finish('transcript');
        marked += tail;
        chunk.text = chunk.text === sent ? marked : mark(chunk.text);
        const done = { event: ev.event, data: JSON.stringify(chunk) };
        return tail ? [{ event: ev.event, data: JSON.stringify({ type: 'transcript.text.delta', delta: tail }) }, done] : done;
      }
      return ev;
    },
    json(body) {
      if (typeof body.text === 'string') body.text = mark(body.text);
      if (Array.isArray(body.segments)) for (const s of body.segments as Record<string, any>[]) if (typeof s?.text === 'string') s.text = mark(s.text);
      return body;
    },
    flush(): SseEvent[] {
      const tail = finish('transcript');
      return tail ? [{ data: JSON.stringify({ type: 'transcript.text.delta', delta: tail }) }] : [];
    },
  };
}

function completionsWatermark(stream: StreamFn, finish: FinishFn, mark: MarkFn): OutputTransformer {
  let envelope: Record<string, unknown> = {};
  const open = new Set<number>();
  return {
    sse(ev) {
      if (ev.data === '[DONE]' || !ev.data.includes('"choices"')) return ev;
      let chunk: Record<string, any>;
      try { chunk = JSON.parse(ev.data); } catch { return ev; }
      if (!Array.isArray(chunk.choices)) return ev;
      const { choices, ...rest } = chunk;
      envelope = rest;
      let changed = false;
      const textBefore = chatTextLength(choices);
      for (const choice of choices) {
        const id = String(choice.index);
        if (typeof choice.text === 'string' && choice.text) {
          open.add(choice.index);
          choice.text = stream(id).push(choice.text);
          changed = true;
        }
        if (open.has(choice.index) && choice.finish_reason != null) {
          open.delete(choice.index);
          const tail = finish(id);
          if (tail) { choice.text = (typeof choice.text === 'string' ? choice.text : '') + tail; changed = true; }
        }
      }
      if (changed && typeof chunk.obfuscation === 'string') chunk.obfuscation = refitPadding(chunk.obfuscation, textBefore, chatTextLength(choices));
      return changed ? { event: ev.event, data: JSON.stringify(chunk) } : ev;
    },
    json(body) {
      if (Array.isArray(body.choices)) {
        for (const c of body.choices as Record<string, any>[]) if (typeof c?.text === 'string') c.text = mark(c.text);
      }
      return body;
    },
    flush(): SseEvent[] {
      const out: SseEvent[] = [];
      for (const index of open) {
        const tail = finish(String(index));
        // Object.assign, not `{ ...envelope, choices }`: see src/gateway/headers.ts.
        if (tail) out.push({ data: JSON.stringify(Object.assign({}, envelope, { choices: [{ text: tail, index, logprobs: null, finish_reason: null }] })) });
      }
      open.clear();
      return out;
    },
  };
}

function chatWatermark(stream: StreamFn, finish: FinishFn, mark: MarkFn, args: ArgsMarker | null, cites: Citations): OutputTransformer {
  let envelope: Record<string, unknown> = {};
  const open = new Set<number>();
  /** Streamed tool calls with marked arguments, as "choice/call". */
  const openCalls = new Set<string>();
  /** The held end of each of a choice's calls' arguments, as tool-call deltas. */
  const finishCalls = (choice: number): Record<string, unknown>[] => {
    const out: Record<string, unknown>[] = [];
    for (const id of [...openCalls]) {
      const [c, t] = id.split('/').map(Number);
      if (c !== choice) continue;
      openCalls.delete(id);
      const rest = args!.finish(id);
      if (rest) out.push({ index: t, function: { arguments: rest } });
    }
    return out;
  };
  let plain: TextShape | null = null;
  return {
    sse(ev) {
      if (ev.data === '[DONE]' || !ev.data.includes('"choices"')) return ev;
      const d = ev.data;
      const text = plain && textInShape(d, plain);
      if (text) {
        open.add(plain!.index);
        const marked = stream(String(plain!.index)).push(text);
        return { event: ev.event, data: inShape({ ...plain!, tail: refitTail(plain!.tail, text.length, marked.length) }, marked) };
      }
      let chunk: Record<string, any>;
      try { chunk = JSON.parse(d); } catch { return ev; }
      if (!Array.isArray(chunk.choices)) return ev;
      plain = plainDelta(d, chunk);
      const { choices, ...rest } = chunk;
      envelope = rest;
      let changed = false;
      const textBefore = chatTextLength(choices);
      for (const choice of choices) {
        const delta = choice.delta;
        if (!delta || typeof delta !== 'object') continue;
        const id = String(choice.index);
        if (typeof delta.content === 'string' && delta.content) {
          open.add(choice.index);
          delta.content = stream(id).push(delta.content);
          changed = true;
        }
        // Citations of the text so far (search models), before its held end is let go.
        if (hasCitations(delta.annotations) && moveCitations(delta.annotations, cites.streamed(id))) changed = true;
        // The text ends when the choice finishes or switches to tool calls.
        if (open.has(choice.index) && (choice.finish_reason != null || delta.tool_calls != null)) {
          open.delete(choice.index);
          const tail = finish(id);
          if (tail) { delta.content = (typeof delta.content === 'string' ? delta.content : '') + tail; changed = true; }
        }
        if (args && Array.isArray(delta.tool_calls)) {
          for (const call of delta.tool_calls) {
            const piece = call?.function?.arguments;
            if (typeof piece !== 'string' || typeof call.index !== 'number') continue;
            const callId = `${choice.index}/${call.index}`;
            openCalls.add(callId);
            call.function.arguments = args.stream(callId).push(piece);
            changed = true;
          }
        }
        if (args && choice.finish_reason != null) {
          const tails = finishCalls(choice.index);
          if (tails.length > 0) { delta.tool_calls = [...(Array.isArray(delta.tool_calls) ? delta.tool_calls : []), ...tails]; changed = true; }
        }
      }
      if (changed && typeof chunk.obfuscation === 'string') chunk.obfuscation = refitPadding(chunk.obfuscation, textBefore, chatTextLength(choices));
      return changed ? { event: ev.event, data: JSON.stringify(chunk) } : ev;
    },
    json(body) {
      if (Array.isArray(body.choices)) {
        for (const c of body.choices as Record<string, any>[]) {
          if (typeof c?.message?.content === 'string') {
            if (hasCitations(c.message.annotations)) {
              const marked = cites.whole(c.message.content, true);
              c.message.content = marked.text;
              moveCitations(c.message.annotations, marked.map);
            } else c.message.content = mark(c.message.content);
          }
          if (args && Array.isArray(c?.message?.tool_calls)) {
            for (const call of c.message.tool_calls) if (typeof call?.function?.arguments === 'string') call.function.arguments = args.mark(call.function.arguments);
          }
        }
      }
      return body;
    },
    flush(): SseEvent[] {
      const out: SseEvent[] = [];
      for (const index of open) {
        const tail = finish(String(index));
        // Object.assign, not `{ ...envelope, choices }`: see src/gateway/headers.ts.
        if (tail) out.push({ data: JSON.stringify(padded(Object.assign({}, envelope, { choices: [{ index, delta: { content: tail }, logprobs: null, finish_reason: null }] }), tail.length)) });
      }
      open.clear();
      for (const index of new Set([...openCalls].map((id) => Number(id.split('/')[0])))) {
        const tails = finishCalls(index);
        if (tails.length > 0) out.push({ data: JSON.stringify(padded(Object.assign({}, envelope, { choices: [{ index, delta: { tool_calls: tails }, logprobs: null, finish_reason: null }] }), 0)) });
      }
      return out;
    },
  };
}

function markResponseOutput(response: Record<string, any> | undefined, mark: MarkFn, markArgs: MarkFn | null, cite: CiteFn): boolean {
  if (!response || !Array.isArray(response.output)) return false;
  let changed = false;
  for (const item of response.output) changed = markMessageItem(item, mark, cite) || (markArgs !== null && markFunctionCall(item, markArgs)) || changed;
  return changed;
}

/** Marks an output text part with citations, moving their offsets. */
type CiteFn = (part: Record<string, any>) => void;

function markFunctionCall(item: Record<string, any> | undefined, markArgs: MarkFn): boolean {
  if (item?.type !== 'function_call' || typeof item.arguments !== 'string' || !item.arguments) return false;
  item.arguments = markArgs(item.arguments);
  return true;
}

function markMessageItem(item: Record<string, any> | undefined, mark: MarkFn, cite: CiteFn): boolean {
  if (!item || item.type !== 'message' || !Array.isArray(item.content)) return false;
  let changed = false;
  for (const part of item.content) if (part?.type === 'output_text' && typeof part.text === 'string' && part.text) { markPart(part, mark, cite); changed = true; }
  return changed;
}

function markPart(part: Record<string, any>, mark: MarkFn, cite: CiteFn): void {
  if (hasCitations(part.annotations)) cite(part);
  else part.text = mark(part.text);
}

/** `silent` marks the final copies of streamed text without counting them again. */
function responsesWatermark(stream: StreamFn, finish: FinishFn, mark: MarkFn, silent: MarkFn, args: ArgsMarker | null, cites: Citations): OutputTransformer {
  const silentArgs = args ? args.silent : null;
  const citing = (count: boolean): CiteFn => (part) => { const marked = cites.whole(part.text, count); part.text = marked.text; moveCitations(part.annotations, marked.map); };
  const citeCounted = citing(true);
  const citeSilent = citing(false);
  /** The upstream pads its deltas: a delta Warden adds is padded too. */
  let paddedStream = false;
  return {
    sse(ev) {
      let msg: Record<string, any>;
      try { msg = JSON.parse(ev.data); } catch { return ev; }
      const out = (m: Record<string, any>): SseEvent => ({ event: ev.event, data: JSON.stringify(m) });
      const id = `${msg.output_index}/${msg.content_index}`;
      switch (msg.type) {
        case 'response.output_text.delta': {
          const before = typeof msg.delta === 'string' ? msg.delta.length : 0;
          const text = stream(id).push(msg.delta ?? '');
          if (text === '') return null;
          if (typeof msg.obfuscation === 'string') { paddedStream = true; msg.obfuscation = refitPadding(msg.obfuscation, before, text.length); }
          msg.delta = text;
          return out(msg);
        }
        case 'response.output_text.done': {
          const tail = finish(id);
          msg.text = silent(msg.text ?? '');
          const done = out(msg);
          if (!tail) return done;
          const { text: _t, logprobs: _l, ...base } = msg;
          return [{ event: 'response.output_text.delta', data: JSON.stringify(padded(Object.assign(base, { type: 'response.output_text.delta', delta: tail, logprobs: [] }), paddedStream ? tail.length : null)) }, done];
        }
        case 'response.function_call_arguments.delta': {
          if (!args || typeof msg.delta !== 'string') return ev;
          const before = msg.delta.length;
          msg.delta = args.stream(String(msg.output_index)).push(msg.delta);
          if (typeof msg.obfuscation === 'string') { paddedStream = true; msg.obfuscation = refitPadding(msg.obfuscation, before, msg.delta.length); }
          return out(msg);
        }
        case 'response.function_call_arguments.done': {
          if (!args) return ev;
          const tail = args.finish(String(msg.output_index));
          if (typeof msg.arguments === 'string') msg.arguments = args.silent(msg.arguments);
          const done = out(msg);
          if (!tail) return done;
          const { arguments: _a, ...base } = msg;
          return [{ event: 'response.function_call_arguments.delta', data: JSON.stringify(padded(Object.assign(base, { type: 'response.function_call_arguments.delta', delta: tail }), paddedStream ? tail.length : null)) }, done];
        }
        case 'response.output_text.annotation.added':
          return moveCitations([msg.annotation], cites.streamed(id)) ? out(msg) : ev;
        case 'response.content_part.done':
          if (msg.part?.type === 'output_text' && typeof msg.part.text === 'string') { markPart(msg.part, silent, citeSilent); return out(msg); }
          return ev;
        case 'response.output_item.done':
          return markMessageItem(msg.item, silent, citeSilent) || (silentArgs !== null && markFunctionCall(msg.item, silentArgs)) ? out(msg) : ev;
        case 'response.completed': case 'response.incomplete': case 'response.failed':
          return markResponseOutput(msg.response, silent, silentArgs, citeSilent) ? out(msg) : ev;
        default:
          return ev;
      }
    },
    json(body) { markResponseOutput(body as Record<string, any>, mark, args ? args.mark : null, citeCounted); return body; },
  };
}

/** Characters of answer text in a chat chunk's choices (what its padding is sized against). */
function chatTextLength(choices: Record<string, any>[]): number {
  let n = 0;
  for (const c of choices) if (typeof c?.delta?.content === 'string') n += c.delta.content.length;
  return n;
}

/**
 * An event Warden adds (the held end of a marked text) padded as the upstream pads its deltas: a
 * chat chunk when the envelope it copies had padding, a Responses delta when `text` is given
 * (null: the stream has none). The padding goes last, where the API puts it.
 */
function padded(event: Record<string, unknown>, text: number | null): Record<string, unknown> {
  if (text === null || (!('obfuscation' in event) && !('type' in event))) return event;
  const { obfuscation: _o, ...rest } = event;
  return Object.assign(rest, { obfuscation: randomPadding(16 - (text % 16)) });
}
