/**
 * OpenAI answers: withhold or summarise reasoning and strip log-probabilities.
 *
 * - Chat Completions: reasoning on `choices[].delta` / `choices[].message` in every vendor's
 *   spelling (`reasoning_content`, `reasoning`, `reasoning_details`, `thinking_blocks`, thinking
 *   content parts: see chat-reasoning.ts); `choices[].logprobs`.
 * - Responses: `reasoning` output items (their `summary` and raw `content`), the
 *   `response.reasoning_summary_*` and `response.reasoning_text.*` events, `logprobs` on
 *   output_text deltas/parts; the response object in lifecycle events (`response.completed`...).
 *   Reasoning items themselves stay (with an empty summary) so `output_index` never shifts and
 *   `encrypted_content` still round-trips; dropped events are re-numbered (`sequence_number`).
 */
import type { OutputTransformer, SseEvent } from '../gateway/lifecycle.ts';
import type { AnswerFilterOptions } from './answer.ts';
import { isReasoningKey, reasoningValueText, takeChatReasoning } from './chat-reasoning.ts';

// The searches below start after the opening quote: the quote is JSON's most frequent character,
// and a string search stops at every occurrence of the pattern's first character.

/** Whether a chunk's JSON text carries log-probabilities (`"logprobs":` followed by anything but null). */
function carriesLogprobs(d: string): boolean {
  for (let k = d.indexOf('logprobs"'); k >= 0; k = d.indexOf('logprobs"', k + 9)) {
    if (k === 0 || d.charCodeAt(k - 1) !== 34) continue;
    let i = k + 9;
    while (d.charCodeAt(i) === 32) i++;
    if (d.charCodeAt(i) !== 58) continue; // ':'
    i++;
    while (d.charCodeAt(i) === 32) i++;
    if (!d.startsWith('null', i)) return true;
  }
  return false;
}

/** `d.includes('"reasoning') || d.includes('"thinking')`, searched from rarer characters. */
function mentionsReasoning(d: string): boolean {
  for (let k = d.indexOf('soning'); k >= 0; k = d.indexOf('soning', k + 6)) if (d.startsWith('"reasoning', k - 4)) return true;
  for (let k = d.indexOf('nking'); k >= 0; k = d.indexOf('nking', k + 5)) if (d.startsWith('"thinking', k - 4)) return true;
  return false;
}

/**
 * Whether a Chat delta field carries part of the answer: OpenRouter sends `"content":""` with its
 * reasoning, and some servers `"tool_calls":[]`; empty strings and arrays carry nothing.
 */
function carriesAnswer(value: unknown): boolean {
  return typeof value === 'string' || Array.isArray(value) ? value.length > 0 : value != null;
}

/**
 * A non-streamed Chat choice's log-probabilities without the reasoning's: upstreams such as vLLM
 * list every output token, the reasoning's first, and a `reasoning*` / `thinking*` field may hold
 * their own. Keeps the trailing `content` entries whose tokens spell exactly the visible answer;
 * when they do not (tags, whitespace or byte tokens in between), none are kept rather than risk
 * a reasoning token.
 */
function answerOnlyLogprobs(logprobs: unknown, answer: unknown): Record<string, unknown> | null {
  if (!logprobs || typeof logprobs !== 'object') return null;
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(logprobs)) if (!isReasoningKey(k)) kept[k] = v;
  const entries = kept.content;
  if (!Array.isArray(entries)) return kept;
  if (answer != null && typeof answer !== 'string') { kept.content = null; return kept; }
  const text = answer ?? '';
  let spelled = '';
  let start = entries.length;
  while (start > 0 && spelled.length < text.length) {
    const token = (entries[start - 1] as { token?: unknown } | null)?.token;
    if (typeof token !== 'string') break;
    spelled = token + spelled;
    start--;
  }
  kept.content = spelled === text ? entries.slice(start) : null;
  return kept;
}

/** Chat Completions filter. */
export function chatAnswerFilter(opts: AnswerFilterOptions): OutputTransformer {
  const reasoningOff = opts.reasoning !== 'full';
  const stripLogprobs = !opts.logprobs;
  // Summary mode: reasoning per choice index, held until the choice moves on to its answer.
  const held = new Map<number, string>();
  const summarised = new Set<number>();
  // The last chunk parsed: the summary chunk copies its keys, in their order.
  let envelope: Record<string, unknown> = {};
  const noteReasoning = () => opts.note?.(opts.reasoning === 'summary' ? 'reasoning:summarised' : 'reasoning:withheld');

  const summaryChunk = (index: number): SseEvent => {
    const text = opts.summarise(held.get(index) ?? '', opts.summaryMaxChars);
    held.delete(index);
    summarised.add(index);
    // The upstream's key order (`choices` before `usage` and `obfuscation`), so that the
    // `"usage":null` the gateway takes out of chunks when the client did not ask for usage is
    // found here too; a usage count stays with the chunk that carried it.
    const chunk: Record<string, unknown> = {};
    for (const k in envelope) {
      chunk[k] = k === 'choices' ? [{ index, delta: { reasoning_content: text }, logprobs: null, finish_reason: null }] : k === 'usage' ? null : envelope[k];
    }
    return { data: JSON.stringify(chunk) };
  };

  /**
   * Most chunks carry neither reasoning nor log-probabilities: they pass on as they are, unparsed.
   * (Only ASCII is looked for: the gateway may ask this of a chunk's bytes read as latin1.)
   */
  const passes = (d: string): boolean => (!reasoningOff && !stripLogprobs) || d === '[DONE]'
    || !(mentionsReasoning(d) || (stripLogprobs && carriesLogprobs(d)) || held.size > 0);

  return {
    passes,
    sse(ev: SseEvent): SseEvent | SseEvent[] | null {
      if (passes(ev.data)) return ev;
      const d = ev.data;
      let chunk: Record<string, any>;
      try { chunk = JSON.parse(d); } catch { return ev; }
      if (!Array.isArray(chunk.choices)) return ev;
      const choices: Record<string, any>[] = chunk.choices;
      envelope = chunk;
      const before: SseEvent[] = [];
      let changed = false;
      let emptied = 0;
      for (const choice of choices) {
        const delta = choice.delta;
        if (stripLogprobs && choice.logprobs != null) { choice.logprobs = null; changed = true; opts.note?.('logprobs:stripped'); }
        if (!delta || typeof delta !== 'object') continue;
        if (reasoningOff) {
          const reasoning = takeChatReasoning(delta);
          if (reasoning !== null) {
            if (opts.reasoning === 'summary' && !summarised.has(choice.index)) held.set(choice.index, (held.get(choice.index) ?? '') + reasoning);
            changed = true;
            noteReasoning();
            // vLLM puts the reasoning tokens' log-probabilities on the reasoning deltas: their
            // tokens spell the trace out. (A delta mixing reasoning and answer loses both's.)
            if (choice.logprobs != null) choice.logprobs = null;
          }
          const movesOn = carriesAnswer(delta.content) || carriesAnswer(delta.tool_calls) || choice.finish_reason != null;
          if (movesOn && held.has(choice.index)) before.push(summaryChunk(choice.index));
        }
        if (Object.keys(delta).length === 0 && choice.finish_reason == null && choice.logprobs == null) emptied++;
      }
      if (!changed && before.length === 0) return ev;
      // A chunk that carried only withheld reasoning is dropped rather than sent empty.
      const keep = !(choices.length > 0 && emptied === choices.length && chunk.usage == null);
      const out = keep ? [...before, { event: ev.event, data: JSON.stringify(chunk) }] : before;
      return out.length === 1 ? out[0] : out.length === 0 ? null : out;
    },
    json(body: Record<string, unknown>): Record<string, unknown> {
      if (!Array.isArray(body.choices)) return body;
      for (const choice of body.choices as Record<string, any>[]) {
        if (stripLogprobs && choice.logprobs != null) { choice.logprobs = null; opts.note?.('logprobs:stripped'); }
        const message = choice.message;
        if (!reasoningOff || !message || typeof message !== 'object') continue;
        const text = takeChatReasoning(message);
        if (text !== null) {
          noteReasoning();
          if (opts.reasoning === 'summary' && text) message.reasoning_content = opts.summarise(text, opts.summaryMaxChars);
          if (choice.logprobs != null) choice.logprobs = answerOnlyLogprobs(choice.logprobs, message.content);
        }
      }
      return body;
    },
    flush(): SseEvent[] {
      // Reasoning that never reached an answer (the stream ended first): send its summary.
      return [...held.keys()].map((i) => summaryChunk(i));
    },
  };
}

/** Legacy completions: log-probabilities removed from the answer (defensively: the request's were stripped). */
export function completionsAnswerFilter(opts: AnswerFilterOptions): OutputTransformer {
  const strip = (body: Record<string, any>): boolean => {
    let changed = false;
    for (const choice of Array.isArray(body.choices) ? body.choices : []) {
      if (choice && choice.logprobs != null) { choice.logprobs = null; changed = true; opts.note?.('logprobs:stripped'); }
    }
    return changed;
  };
  return {
    sse(ev: SseEvent): SseEvent {
      if (ev.data === '[DONE]' || !carriesLogprobs(ev.data)) return ev;
      let chunk: Record<string, any>;
      try { chunk = JSON.parse(ev.data); } catch { return ev; }
      return strip(chunk) ? { event: ev.event, data: JSON.stringify(chunk) } : ev;
    },
    json(body: Record<string, unknown>): Record<string, unknown> {
      strip(body);
      return body;
    },
  };
}

/** Apply the reasoning/logprobs rules to one Responses output item (non-streaming and lifecycle events). */
function filterResponseItem(item: Record<string, any>, opts: AnswerFilterOptions): boolean {
  let changed = false;
  if (item.type === 'reasoning' && opts.reasoning !== 'full') {
    const raw = Array.isArray(item.content) ? item.content.map((c: any) => c?.text ?? '').join('\n\n') : '';
    const hadSummary = Array.isArray(item.summary) && item.summary.length > 0;
    if ('content' in item && (item.content?.length ?? 0) > 0) { item.content = []; changed = true; }
    if (opts.reasoning === 'none') {
      if (hadSummary) { item.summary = []; changed = true; }
    } else if (!hadSummary && raw) {
      item.summary = [{ type: 'summary_text', text: opts.summarise(raw, opts.summaryMaxChars) }];
      changed = true;
    }
  }
  if (!opts.logprobs && item.type === 'message' && Array.isArray(item.content)) {
    for (const part of item.content) {
      if (part && Array.isArray(part.logprobs) && part.logprobs.length > 0) { part.logprobs = []; changed = true; }
    }
  }
  return changed;
}

/** Responses API filter. */
export function responsesAnswerFilter(opts: AnswerFilterOptions): OutputTransformer {
  const reasoningOff = opts.reasoning !== 'full';
  const stripLogprobs = !opts.logprobs;
  const reasoningItems = new Set<number>(); // output_index of reasoning items
  const rawText = new Map<number, string>(); // summary mode: raw reasoning per output_index
  const summaryParts = new Map<number, number>(); // summary parts seen per output_index
  const noteReasoning = () => opts.note?.(opts.reasoning === 'summary' ? 'reasoning:summarised' : 'reasoning:withheld');

  const filterResponseObject = (response: Record<string, any> | undefined) => {
    if (!response || !Array.isArray(response.output)) return false;
    let changed = false;
    for (const item of response.output) if (item && filterResponseItem(item, opts)) changed = true;
    return changed;
  };

  return {
    sse(ev: SseEvent): SseEvent | SseEvent[] | null {
      if (!reasoningOff && !stripLogprobs) return ev;
      let msg: Record<string, any>;
      try { msg = JSON.parse(ev.data); } catch { return ev; }
      const type: string = msg.type ?? ev.event ?? '';
      const out = (m: Record<string, any>): SseEvent => ({ event: ev.event, data: JSON.stringify(m) });
      const oi: number = msg.output_index;
      switch (type) {
        case 'response.created': case 'response.in_progress': case 'response.completed':
        case 'response.incomplete': case 'response.failed': case 'response.queued':
          return filterResponseObject(msg.response) ? out(msg) : ev;
        case 'response.output_item.added':
          if (msg.item?.type === 'reasoning') reasoningItems.add(oi);
          return filterResponseItem(msg.item ?? {}, opts) ? out(msg) : ev;
        case 'response.output_item.done': {
          if (msg.item?.type !== 'reasoning' || !reasoningOff) return filterResponseItem(msg.item ?? {}, opts) ? out(msg) : ev;
          const pre: SseEvent[] = [];
          if (opts.reasoning === 'summary' && !summaryParts.has(oi) && rawText.get(oi)) {
            // Raw reasoning only (vLLM, gpt-oss): announce a summary part like OpenAI's own.
            const text = opts.summarise(rawText.get(oi)!, opts.summaryMaxChars);
            const summaryEvent = (type: string, fields: Record<string, unknown>): SseEvent => ({
              event: type,
              data: JSON.stringify(Object.assign({ type, item_id: msg.item.id, output_index: oi, summary_index: 0 }, fields, { sequence_number: 0 })),
            });
            pre.push(
              summaryEvent('response.reasoning_summary_part.added', { part: { type: 'summary_text', text: '' } }),
              summaryEvent('response.reasoning_summary_text.delta', { delta: text }),
              summaryEvent('response.reasoning_summary_text.done', { text }),
              summaryEvent('response.reasoning_summary_part.done', { part: { type: 'summary_text', text } }),
            );
          }
          if (filterResponseItem(msg.item, opts)) noteReasoning();
          rawText.delete(oi);
          return [...pre, out(msg)];
        }
        case 'response.reasoning_summary_part.added': case 'response.reasoning_summary_part.done':
        case 'response.reasoning_summary_text.delta': case 'response.reasoning_summary_text.done':
          if (opts.reasoning !== 'none') { summaryParts.set(oi, (summaryParts.get(oi) ?? 0) + 1); return ev; }
          noteReasoning();
          return null;
        case 'response.reasoning_text.delta':
          if (!reasoningOff) return ev;
          if (opts.reasoning === 'summary') rawText.set(oi, (rawText.get(oi) ?? '') + (msg.delta ?? ''));
          noteReasoning();
          return null;
        case 'response.reasoning_text.done':
          return reasoningOff ? null : ev;
        case 'response.content_part.added': case 'response.content_part.done':
          if (reasoningOff && (msg.part?.type === 'reasoning_text' || reasoningItems.has(oi))) return null;
          if (stripLogprobs && Array.isArray(msg.part?.logprobs) && msg.part.logprobs.length > 0) { msg.part.logprobs = []; opts.note?.('logprobs:stripped'); return out(msg); }
          return ev;
        case 'response.output_text.delta': case 'response.output_text.done':
          if (stripLogprobs && Array.isArray(msg.logprobs) && msg.logprobs.length > 0) { msg.logprobs = []; opts.note?.('logprobs:stripped'); return out(msg); }
          return ev;
        default:
          // Reasoning events of other names (earlier drafts of the API, other servers): raw
          // reasoning unless it says it is a summary; withheld like the known ones.
          if (!reasoningOff || !type.startsWith('response.reasoning')) return ev;
          if (opts.reasoning === 'summary') {
            if (type.includes('summary')) { summaryParts.set(oi, (summaryParts.get(oi) ?? 0) + 1); return ev; }
            if (type.endsWith('.delta')) rawText.set(oi, (rawText.get(oi) ?? '') + reasoningValueText(msg.delta));
          }
          noteReasoning();
          return null;
      }
    },
    json(body: Record<string, unknown>): Record<string, unknown> {
      const changed = filterResponseObject(body as Record<string, any>);
      if (changed && reasoningOff && (body.output as any[]).some((i) => i?.type === 'reasoning')) noteReasoning();
      return body;
    },
  };
}

/**
 * Renumbers `sequence_number` on Responses events so they stay contiguous after events were
 * dropped or added. Put it last in the chain.
 */
export function responsesResequencer(): OutputTransformer {
  let next = -1;
  return {
    sse(ev: SseEvent): SseEvent {
      if (!ev.data.includes('"sequence_number"')) return ev;
      let msg: Record<string, unknown>;
      try { msg = JSON.parse(ev.data); } catch { return ev; }
      if (typeof msg.sequence_number !== 'number') return ev;
      if (next < 0) next = msg.sequence_number;
      if (msg.sequence_number === next) { next++; return ev; }
      msg.sequence_number = next++;
      return { event: ev.event, data: JSON.stringify(msg) };
    },
  };
}

/**
 * What a Responses answer echoes of the request (`max_output_tokens`, `top_logprobs`, the
 * `reasoning` settings) put back as the client would see it: `max_output_tokens: null` where the
 * gateway set a budget the client never named, and the client's own values where a change it is
 * not told of (a verdict's) was made. `reasoning` keys are merged into the echoed object.
 */
export function responsesEcho(fields: Record<string, unknown>, reasoning: Record<string, unknown> | null = null): OutputTransformer {
  const keys = Object.keys(fields);
  const restore = (r: unknown) => {
    if (!r || typeof r !== 'object') return;
    const o = r as Record<string, unknown>;
    for (const k of keys) if (k in o) o[k] = fields[k];
    if (reasoning && o.reasoning && typeof o.reasoning === 'object') Object.assign(o.reasoning, reasoning);
  };
  const needles = [...keys, ...(reasoning ? ['reasoning'] : [])].map((k) => `"${k}"`);
  return {
    sse(ev: SseEvent): SseEvent {
      if (!needles.some((n) => ev.data.includes(n))) return ev;
      let msg: Record<string, unknown>;
      try { msg = JSON.parse(ev.data); } catch { return ev; }
      if (!msg.response || typeof msg.response !== 'object') return ev;
      restore(msg.response);
      return { event: ev.event, data: JSON.stringify(msg) };
    },
    json(body: Record<string, unknown>): Record<string, unknown> { restore(body); return body; },
  };
}
