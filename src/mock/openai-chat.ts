/**
 * OpenAI `POST /v1/chat/completions`: validation, the `chat.completion` object, and the
 * `chat.completion.chunk` SSE stream ending in `data: [DONE]`.
 */
import { checkInteger, checkNumber, contentText, EFFORT_MULTIPLIER, isRecord, mixSeed, REPLY_PRIMER_TOKENS, servedTier, TOKENS_PER_MESSAGE, type HandlerContext, type Reply } from './context.ts';
import { reasoningStyle } from './models.ts';
import type { Frame } from './pacer.ts';
import { buildPlan, decideTools, type Plan, type ToolChoice, type ToolSpec } from './plan.ts';
import { hashString, Rng, WORDS } from './text.ts';
import { countTokens } from './tokens.ts';
import { ids, MockApiError, obfuscationPad, obfuscationSource, SSE_DONE, sseData } from './wire.ts';

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

/** The parts of a chat request that shape the answer, shared with nothing else. */
interface ChatPrompt {
  promptTokens: number;
  hashText: string;
  lastUserText: string;
  endsWithToolResult: boolean;
}

function readMessages(messages: unknown[], tools: unknown): ChatPrompt {
  const texts: string[] = [];
  const roles: string[] = [];
  let extra = 0;
  let lastUserText = '';
  messages.forEach((m, i) => {
    if (!isRecord(m)) {
      throw new MockApiError(400, `Invalid type for 'messages[${i}]': expected an object, but got ${typeof m} instead.`, { param: `messages[${i}]`, code: 'invalid_type' });
    }
    const role = m.role;
    if (typeof role !== 'string') {
      throw new MockApiError(400, `Missing required parameter: 'messages[${i}].role'.`, { param: `messages[${i}].role`, code: 'missing_required_parameter' });
    }
    if (!ROLES.has(role)) {
      throw new MockApiError(400, `Invalid value: '${role.slice(0, 40)}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`, {
        param: `messages[${i}].role`,
        code: 'invalid_value',
      });
    }
    roles.push(role);
    const before = texts.length;
    extra += TOKENS_PER_MESSAGE + contentText(m.content, texts);
    if (role === 'user') lastUserText = texts.slice(before).join('\n');
    if (typeof m.name === 'string') texts.push(m.name);
    if (Array.isArray(m.tool_calls)) {
      for (const call of m.tool_calls) {
        if (isRecord(call) && isRecord(call.function)) {
          if (typeof call.function.name === 'string') texts.push(call.function.name);
          if (typeof call.function.arguments === 'string') texts.push(call.function.arguments);
        }
      }
    }
  });
  if (Array.isArray(tools) && tools.length > 0) texts.push(JSON.stringify(tools));
  const joined = texts.join('\n');
  const last = roles[roles.length - 1];
  return {
    promptTokens: countTokens(joined) + extra + REPLY_PRIMER_TOKENS,
    hashText: `${roles.join(',')}\u0001${joined}`,
    lastUserText,
    endsWithToolResult: last === 'tool' || last === 'function',
  };
}

/**
 * Tool messages must answer the calls of the assistant message just before them, each call once,
 * before the conversation goes on: the API refuses a `tool` message that answers no call, one that
 * names a call the previous message did not make, and a turn that moves on with calls unanswered.
 * (A conversation may end on unanswered calls; legacy `function` messages are not checked.)
 */
function checkToolMessages(messages: unknown[]): void {
  let calls: Set<string> | null = null; // the calls of the last assistant message with tool_calls, until a non-tool message
  const pending = new Set<string>();
  messages.forEach((m, i) => {
    if (!isRecord(m)) return;
    if (m.role === 'tool') {
      if (!calls) {
        throw new MockApiError(400, "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.", { param: `messages.[${i}].role` });
      }
      const id = typeof m.tool_call_id === 'string' ? m.tool_call_id : '';
      if (!calls.has(id)) {
        throw new MockApiError(400, `Invalid parameter: 'tool_call_id' of '${id.slice(0, 200)}' not found in 'tool_calls' of previous message.`, { param: `messages.[${i}].tool_call_id` });
      }
      pending.delete(id);
      return;
    }
    if (pending.size > 0) {
      throw new MockApiError(
        400,
        `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...pending].join(', ').slice(0, 2000)}`,
        { param: `messages.[${i}].role` },
      );
    }
    calls = null;
    if (m.role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length > 0) {
      calls = new Set();
      for (const call of m.tool_calls) if (isRecord(call) && typeof call.id === 'string') calls.add(call.id);
      for (const id of calls) pending.add(id);
    }
  });
}

function readTools(tools: unknown): ToolSpec[] {
  if (!Array.isArray(tools)) return [];
  const out: ToolSpec[] = [];
  for (const t of tools) {
    if (!isRecord(t)) continue;
    // Chat Completions nests the function: {type:"function", function:{name, parameters}}.
    const fn = isRecord(t.function) ? t.function : null;
    if (fn && typeof fn.name === 'string') out.push({ name: fn.name, schema: fn.parameters });
  }
  return out;
}

function readToolChoice(choice: unknown): ToolChoice {
  if (choice === 'none') return { mode: 'none' };
  if (choice === 'required') return { mode: 'required' };
  if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') return { mode: 'named', name: choice.function.name };
  return { mode: 'auto' };
}

function readStop(stop: unknown): string[] {
  if (typeof stop === 'string') return [stop];
  if (Array.isArray(stop)) return stop.filter((s): s is string => typeof s === 'string').slice(0, 4);
  return [];
}

/** `response_format`: `json_schema` (answer satisfies the schema) or `json_object`. */
function readResponseFormat(format: unknown): { schema: unknown } | undefined {
  if (!isRecord(format)) return undefined;
  if (format.type === 'json_object') return { schema: null };
  if (format.type === 'json_schema' && isRecord(format.json_schema)) return { schema: format.json_schema.schema ?? {} };
  return undefined;
}

export interface TokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

function utf8Bytes(text: string): number[] {
  return Array.from(Buffer.from(text, 'utf8'));
}

/**
 * Deterministic log-probabilities for emitted tokens. The emitted token is always the most
 * likely one (as at temperature 0), so it heads its own `top_logprobs` list.
 */
export function logprobsFor(pieces: string[], topN: number, seed: number): TokenLogprob[] {
  const rng = new Rng(seed ^ 0x10b9);
  return pieces.map((token) => {
    const logprob = -Math.round(rng.next() * rng.next() * 1.5 * 1e6) / 1e6;
    const top: TokenLogprob['top_logprobs'] = [];
    if (topN > 0) {
      top.push({ token, logprob, bytes: utf8Bytes(token) });
      const seen = new Set([token]);
      let lp = logprob;
      for (let k = 1; k < topN; k++) {
        lp -= 0.5 + Math.round(rng.next() * 2.5 * 1e6) / 1e6;
        // Alternatives are distinct tokens (the legacy format keys them by token).
        let alt = ' ' + rng.pick(WORDS.noun);
        for (let tries = 0; seen.has(alt) && tries < 8; tries++) alt = ' ' + rng.pick(tries % 2 ? WORDS.noun : WORDS.adj);
        seen.add(alt);
        top.push({ token: alt, logprob: Math.round(lp * 1e6) / 1e6, bytes: utf8Bytes(alt) });
      }
    }
    return { token, logprob, bytes: utf8Bytes(token), top_logprobs: top };
  });
}

/**
 * `logit_bias` is validated as the API does (an object of token ids to biases in [-100, 100]); the
 * mock's text does not follow it (its answers are planned, not sampled from logits).
 */
export function checkLogitBias(value: unknown): void {
  if (value === undefined || value === null) return;
  if (!isRecord(value)) {
    throw new MockApiError(400, `Invalid type for 'logit_bias': expected an object, but got ${Array.isArray(value) ? 'an array' : typeof value} instead.`, { param: 'logit_bias', code: 'invalid_type' });
  }
  for (const [token, bias] of Object.entries(value)) {
    if (!/^\d{1,7}$/.test(token)) {
      throw new MockApiError(400, `Invalid key in 'logit_bias': ${token.slice(0, 40)}. You should only be submitting non-negative integers.`, { param: 'logit_bias', code: 'invalid_value' });
    }
    if (typeof bias !== 'number' || !Number.isFinite(bias) || bias < -100 || bias > 100) {
      throw new MockApiError(400, `Invalid value for 'logit_bias': the bias of token ${token} must be a number from -100 to 100.`, { param: 'logit_bias', code: 'invalid_value' });
    }
  }
}

const fingerprints = new Map<number, string>();

/** A stable `system_fingerprint` per server seed. */
function systemFingerprint(seed: number): string {
  let fp = fingerprints.get(seed);
  if (fp === undefined) {
    fp = 'fp_' + (hashString('fingerprint', seed) % 0xffffffffff).toString(16).padStart(10, '0');
    if (fingerprints.size < 64) fingerprints.set(seed, fp);
  }
  return fp;
}

const FINISH: Record<Plan['finish'], string> = { stop: 'stop', stop_sequence: 'stop', length: 'length', tool_calls: 'tool_calls' };

/** The request's model, as Chat Completions and legacy completions check it (missing, not a string, unknown). */
export function openaiModel(ctx: HandlerContext): string {
  const model = ctx.body.model;
  if (model === undefined || model === null || model === '') throw new MockApiError(400, 'you must provide a model parameter');
  if (typeof model !== 'string') throw new MockApiError(400, "Invalid type for 'model': expected a string.", { param: 'model', code: 'invalid_type' });
  if (!ctx.catalogue.accepts(model)) {
    throw new MockApiError(404, `The model \`${model.slice(0, 200)}\` does not exist or you do not have access to it.`, { code: 'model_not_found' });
  }
  return model;
}

export function handleChatCompletions(ctx: HandlerContext): Reply {
  const body = ctx.body;
  const model = openaiModel(ctx);
  const messages = body.messages;
  if (messages === undefined || messages === null) {
    throw new MockApiError(400, "Missing required parameter: 'messages'.", { param: 'messages', code: 'missing_required_parameter' });
  }
  if (!Array.isArray(messages)) {
    throw new MockApiError(400, `Invalid type for 'messages': expected an array of objects, but got ${typeof messages} instead.`, { param: 'messages', code: 'invalid_type' });
  }
  if (messages.length === 0) {
    throw new MockApiError(400, "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", { param: 'messages', code: 'empty_array' });
  }
  const n = checkInteger(body.n, 'n', 1, 128) ?? 1;
  const maxTokens = checkInteger(body.max_completion_tokens, 'max_completion_tokens', 1, null) ?? checkInteger(body.max_tokens, 'max_tokens', 1, null);
  const topLogprobs = checkInteger(body.top_logprobs, 'top_logprobs', 0, 20) ?? 0;
  const stream = body.stream === true;
  if (body.stream_options !== undefined && body.stream_options !== null && !stream) {
    throw new MockApiError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", { param: 'stream_options', code: 'invalid_value' });
  }
  const includeUsage = stream && isRecord(body.stream_options) && body.stream_options.include_usage === true && !ctx.omitUsage;
  const wantLogprobs = body.logprobs === true;
  checkLogitBias(body.logit_bias);
  checkNumber(body.temperature, 'temperature', 0, 2);
  checkNumber(body.top_p, 'top_p', 0, 1);
  checkNumber(body.frequency_penalty, 'frequency_penalty', -2, 2);
  checkNumber(body.presence_penalty, 'presence_penalty', -2, 2);

  const prompt = readMessages(messages, body.tools);
  checkToolMessages(messages);
  const requestSeed = typeof body.seed === 'number' ? body.seed : 0;
  const baseSeed = hashString(`${model}\u0000${prompt.hashText}`, (ctx.seed ^ requestSeed) >>> 0);
  const style = reasoningStyle(model);
  const effort = typeof body.reasoning_effort === 'string' ? EFFORT_MULTIPLIER[body.reasoning_effort] ?? 1 : 1;
  const tools = readTools(body.tools);
  const toolChoice = readToolChoice(body.tool_choice);
  const stop = readStop(body.stop);
  const structured = readResponseFormat(body.response_format);

  const plans: Plan[] = [];
  for (let i = 0; i < n; i++) {
    const seed = mixSeed(baseSeed, i);
    const rng = new Rng(seed);
    const reasoning = style === 'none' ? 0 : ctx.reasoningTokensOverride ?? Math.round(rng.range(ctx.reasoningTokens[0], ctx.reasoningTokens[1]) * effort);
    const answer = ctx.answerTokensOverride ?? rng.range(ctx.answerTokens[0], ctx.answerTokens[1]);
    const chosen = decideTools(
      { tools, choice: toolChoice, lastUserText: prompt.lastUserText, endsWithToolResult: prompt.endsWithToolResult, parallel: body.parallel_tool_calls !== false },
      rng,
    );
    plans.push(buildPlan({ seed, answerTokens: answer, reasoningTokens: reasoning, maxTokens, tools: chosen, toolPreamble: false, stop, structured }));
  }

  const completionTokens = plans.reduce((s, p) => s + p.outputTokens, 0);
  const usage = {
    prompt_tokens: prompt.promptTokens,
    completion_tokens: completionTokens,
    total_tokens: prompt.promptTokens + completionTokens,
    // Prompt caching is automatic: a repeated prefix of 1,024 tokens or more is reported cached.
    prompt_tokens_details: { cached_tokens: ctx.promptCache?.openaiRequest(String(model), prompt.hashText, prompt.promptTokens) ?? 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: plans.reduce((s, p) => s + p.reasoningTokens, 0),
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
  const id = ids.chatCompletion();
  const created = Math.floor(Date.now() / 1000);
  const fingerprint = systemFingerprint(ctx.seed);
  const visibleReasoning = style === 'visible';

  // Built for a streamed answer too when it is stored: what `GET /v1/chat/completions/{id}` reads back.
  const choices = plans.map((plan, index) => {
    const message: Record<string, unknown> = {
      role: 'assistant',
      content: plan.toolCalls.length > 0 && plan.text.length === 0 ? null : plan.answerText,
      refusal: null,
      annotations: [],
    };
    if (visibleReasoning) message.reasoning_content = plan.reasoningText;
    if (plan.toolCalls.length > 0) {
      message.tool_calls = plan.toolCalls.map((c) => ({ id: ids.toolCall(), type: 'function', function: { name: c.name, arguments: c.arguments } }));
    }
    return {
      index,
      message,
      logprobs: wantLogprobs ? { content: plan.toolCalls.length > 0 ? null : logprobsFor(plan.text, topLogprobs, mixSeed(baseSeed, index)), refusal: null } : null,
      finish_reason: FINISH[plan.finish],
    };
  });
  const completion: Record<string, unknown> = {
    id,
    object: 'chat.completion',
    created,
    model,
    choices,
    usage,
    service_tier: servedTier(body.service_tier),
    system_fingerprint: fingerprint,
  };
  const storedChat = body.store === true ? { completion: { ...completion, metadata: isRecord(body.metadata) ? body.metadata : {} }, messages } : undefined;
  if (!stream) {
    if (ctx.omitUsage) delete completion.usage;
    return { body: JSON.stringify(completion), outputTokens: completionTokens, storedChat };
  }

  // Streaming. Content deltas are the hot path, so their JSON is assembled from a fixed prefix.
  const usageNull = includeUsage ? ',"usage":null' : '';
  // Every chunk with a choice is padded (its text, or its role or tool-call announcement, counted as its text's length).
  const pad = obfuscationSource(body.stream_options, baseSeed);
  const usageTail = (text: number) => `${usageNull}${obfuscationPad(pad, text)}}`;
  const head = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"service_tier":"${servedTier(body.service_tier)}","system_fingerprint":"${fingerprint}","choices":[`;
  const textOf = (delta: Record<string, unknown>): number => {
    const t = delta.content ?? delta.reasoning_content ?? (delta.tool_calls as { function?: { arguments?: string } }[] | undefined)?.[0]?.function?.arguments;
    return typeof t === 'string' ? t.length : 0;
  };
  const chunk = (index: number, delta: Record<string, unknown>, finish: string | null, logprobs: unknown = null): string =>
    `${head}{"index":${index},"delta":${JSON.stringify(delta)},"logprobs":${JSON.stringify(logprobs)},"finish_reason":${finish === null ? 'null' : `"${finish}"`}}]${usageTail(textOf(delta))}\n\n`;

  const perChoice: Frame[][] = plans.map((plan, index) => {
    const frames: Frame[] = [];
    if (plan.reasoningTokens > 0 && !visibleReasoning) frames.push({ data: '', tokens: plan.reasoningTokens }); // thinking time, nothing sent
    const callIds = (choices[index].message.tool_calls ?? []) as { id: string }[];
    const calls = plan.toolCalls.map((c, k) => ({ ...c, id: callIds[k].id }));
    if (calls.length > 0 && plan.text.length === 0 && !visibleReasoning) {
      const first = calls[0];
      frames.push({
        data: chunk(index, { role: 'assistant', content: null, tool_calls: [{ index: 0, id: first.id, type: 'function', function: { name: first.name, arguments: '' } }], refusal: null }, null),
        tokens: 0,
      });
    } else {
      frames.push({ data: chunk(index, { role: 'assistant', content: '', refusal: null }, null), tokens: 0 });
    }
    if (visibleReasoning) {
      for (const piece of plan.reasoning) frames.push({ data: chunk(index, { content: null, reasoning_content: piece }, null), tokens: 1 });
    }
    const lp = wantLogprobs && plan.text.length > 0 ? logprobsFor(plan.text, topLogprobs, mixSeed(baseSeed, index)) : null;
    plan.text.forEach((piece, k) => {
      const data = lp ? chunk(index, { content: piece }, null, { content: [lp[k]], refusal: null }) : `${head}{"index":${index},"delta":{"content":${JSON.stringify(piece)}},"logprobs":null,"finish_reason":null}]${usageTail(piece.length)}\n\n`;
      frames.push({ data, tokens: 1 });
    });
    calls.forEach((call, k) => {
      const announced = k === 0 && plan.text.length === 0 && !visibleReasoning;
      if (!announced) {
        frames.push({ data: chunk(index, { tool_calls: [{ index: k, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] }, null), tokens: 0 });
      }
      // The name's tokens are spent on the announcing chunk.
      if (frames.length > 0) frames[frames.length - 1] = Object.assign({}, frames[frames.length - 1], { tokens: frames[frames.length - 1].tokens + (call.tokens - call.pieces.length) });
      for (const piece of call.pieces) frames.push({ data: chunk(index, { tool_calls: [{ index: k, function: { arguments: piece } }] }, null), tokens: 1 });
    });
    frames.push({ data: chunk(index, {}, FINISH[plan.finish]), tokens: 0 });
    return frames;
  });

  // With n > 1 the real API interleaves the choices' chunks.
  const frames: Frame[] = perChoice.length === 1 ? perChoice[0] : interleave(perChoice);
  if (includeUsage) {
    frames.push({ data: `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"service_tier":"${servedTier(body.service_tier)}","system_fingerprint":"${fingerprint}","choices":[],"usage":${JSON.stringify(usage)}}\n\n`, tokens: 0 });
  }
  frames.push({ data: SSE_DONE, tokens: 0 });
  return {
    frames,
    errorFrame: () => sseData({ error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null } }),
    outputTokens: completionTokens,
    storedChat,
  };
}

function interleave(lists: Frame[][]): Frame[] {
  const out: Frame[] = [];
  const cursor = lists.map(() => 0);
  let remaining = lists.reduce((s, l) => s + l.length, 0);
  while (remaining > 0) {
    for (let i = 0; i < lists.length; i++) {
      if (cursor[i] < lists[i].length) {
        out.push(lists[i][cursor[i]++]);
        remaining--;
      }
    }
  }
  return out;
}
