/**
 * OpenAI `POST /v1/responses`: the `response` object with `reasoning`, `message` and
 * `function_call` output items, and the semantic SSE stream (`response.created` ...
 * `response.completed`), every event with `event:`/`data:` lines and a `sequence_number`.
 */
import { createHash } from 'node:crypto';
import { checkInteger, checkNumber, contentText, EFFORT_MULTIPLIER, isRecord, mixSeed, REPLY_PRIMER_TOKENS, servedTier, TOKENS_PER_MESSAGE, type HandlerContext, type Reply } from './context.ts';
import { logprobsFor } from './openai-chat.ts';
import { reasoningStyle } from './models.ts';
import type { Frame } from './pacer.ts';
import { buildPlan, decideTools, type ToolChoice, type ToolSpec } from './plan.ts';
import { answerPieces, hashString, Rng, summaryText, wordChunks } from './text.ts';
import { countTokens } from './tokens.ts';
import { ids, MockApiError, obfuscationPad, obfuscationSource, obfuscationText, sseEvent } from './wire.ts';

interface ResponsesPrompt {
  inputTokens: number;
  hashText: string;
  lastUserText: string;
  endsWithToolResult: boolean;
}

function readInput(input: unknown, instructions: unknown, tools: unknown): ResponsesPrompt {
  const texts: string[] = [];
  let extra = 0;
  let lastUserText = '';
  let lastKind = '';
  if (typeof instructions === 'string') {
    texts.push(instructions);
    extra += TOKENS_PER_MESSAGE;
  }
  if (typeof input === 'string') {
    texts.push(input);
    extra += TOKENS_PER_MESSAGE;
    lastUserText = input;
    lastKind = 'user';
  } else if (Array.isArray(input)) {
    input.forEach((item, i) => {
      if (!isRecord(item)) {
        throw new MockApiError(400, `Invalid type for 'input[${i}]': expected an object, but got ${typeof item} instead.`, { param: `input[${i}]`, code: 'invalid_type' });
      }
      const type = typeof item.type === 'string' ? item.type : 'message';
      extra += TOKENS_PER_MESSAGE;
      if (type === 'message') {
        const before = texts.length;
        extra += contentText(item.content, texts);
        lastKind = typeof item.role === 'string' ? item.role : 'user';
        if (lastKind === 'user') lastUserText = texts.slice(before).join('\n');
      } else if (type === 'function_call') {
        if (typeof item.name === 'string') texts.push(item.name);
        if (typeof item.arguments === 'string') texts.push(item.arguments);
        lastKind = 'function_call';
      } else if (type === 'function_call_output') {
        if (typeof item.output === 'string') texts.push(item.output);
        else extra += contentText(item.output, texts);
        lastKind = 'function_call_output';
      } else if (type === 'reasoning') {
        // Earlier reasoning passed back: its summary is part of the context.
        if (Array.isArray(item.summary)) for (const s of item.summary) if (isRecord(s) && typeof s.text === 'string') texts.push(s.text);
      }
    });
  }
  if (Array.isArray(tools) && tools.length > 0) texts.push(JSON.stringify(tools));
  const joined = texts.join('\n');
  return {
    inputTokens: countTokens(joined) + extra + REPLY_PRIMER_TOKENS,
    hashText: joined,
    lastUserText,
    endsWithToolResult: lastKind === 'function_call_output',
  };
}

function readTools(tools: unknown): ToolSpec[] {
  if (!Array.isArray(tools)) return [];
  const out: ToolSpec[] = [];
  // Responses tools are flat: {type:"function", name, parameters}. Built-in tools (web_search ...) are not simulated.
  for (const t of tools) if (isRecord(t) && t.type === 'function' && typeof t.name === 'string') out.push({ name: t.name, schema: t.parameters });
  return out;
}

function readToolChoice(choice: unknown): ToolChoice {
  if (choice === 'none') return { mode: 'none' };
  if (choice === 'required') return { mode: 'required' };
  if (isRecord(choice) && choice.type === 'function' && typeof choice.name === 'string') return { mode: 'named', name: choice.name };
  return { mode: 'auto' };
}

/** An opaque, deterministic stand-in for `encrypted_content` (base64, like the real one). */
function encryptedContent(text: string, seed: number): string {
  const parts: Buffer[] = [];
  let block = createHash('sha256').update(`${seed}:${text}`).digest();
  for (let i = 0; i < 12; i++) {
    parts.push(block);
    block = createHash('sha256').update(block).digest();
  }
  return 'gAAAAA' + Buffer.concat(parts).toString('base64');
}

/**
 * POST /v1/responses/input_tokens: the input tokens a response to this request would be billed
 * for (the same count as its `usage.input_tokens`), without generating it.
 */
export function handleInputTokens(ctx: HandlerContext): Reply {
  const body = ctx.body;
  const model = body.model;
  if (model !== undefined && model !== null && (typeof model !== 'string' || !ctx.catalogue.accepts(model))) {
    throw new MockApiError(400, `The requested model '${String(model).slice(0, 200)}' does not exist.`, { param: 'model', code: 'model_not_found' });
  }
  const input = body.input;
  if (input !== undefined && input !== null && typeof input !== 'string' && !Array.isArray(input)) {
    throw new MockApiError(400, `Invalid type for 'input': expected one of a string or array of input items, but got ${typeof input} instead.`, { param: 'input', code: 'invalid_type' });
  }
  const prompt = readInput(withEarlierTurns(ctx, input), body.instructions, body.tools);
  return { body: JSON.stringify({ object: 'response.input_tokens', input_tokens: prompt.inputTokens }), outputTokens: 0 };
}

/** Parameters of `POST /v1/responses/compact` (the SDK's `ResponseCompactParams`); any other is refused as the API refuses it. */
const COMPACT_PARAMS = new Set(['model', 'input', 'instructions', 'previous_response_id', 'prompt_cache_key', 'prompt_cache_options', 'prompt_cache_retention', 'service_tier']);

/**
 * POST /v1/responses/compact: the conversation (the request's input after, with
 * `previous_response_id`, the stored chain's) compacted into a `response.compaction`: every user
 * message, then one `compaction` item whose `encrypted_content` stands for the model's summary of
 * the rest. Billed as a response is: the whole conversation as input, the summary as output.
 * Nothing is stored, and it does not stream.
 */
export function handleCompact(ctx: HandlerContext): Reply {
  const body = ctx.body;
  for (const key of Object.keys(body)) {
    if (!COMPACT_PARAMS.has(key)) throw new MockApiError(400, `Unknown parameter: '${key.slice(0, 200)}'.`, { param: key.slice(0, 200), code: 'unknown_parameter' });
  }
  const model = requiredModel(ctx);
  const input = body.input;
  if ((input === undefined || input === null) && body.previous_response_id == null) {
    throw new MockApiError(400, "Missing required parameter: 'input'.", { param: 'input', code: 'missing_required_parameter' });
  }
  if (input !== undefined && input !== null && typeof input !== 'string' && !Array.isArray(input)) {
    throw new MockApiError(400, `Invalid type for 'input': expected one of a string or array of input items, but got ${typeof input} instead.`, { param: 'input', code: 'invalid_type' });
  }
  const previous = body.previous_response_id;
  if (typeof previous === 'string' && ctx.isStoredResponse && !ctx.isStoredResponse(previous)) {
    throw new MockApiError(400, `Previous response with id '${previous.slice(0, 200)}' not found.`, { param: 'previous_response_id', code: 'previous_response_not_found' });
  }
  const whole = withEarlierTurns(ctx, input);
  const prompt = readInput(whole, body.instructions, undefined);
  const seed = hashString(`compact\u0000${model}\u0000${prompt.hashText}`, ctx.seed);
  const rng = new Rng(seed);
  const summary = answerPieces(ctx.answerTokensOverride ?? rng.range(ctx.answerTokens[0], ctx.answerTokens[1]), rng).join('');
  const outputTokens = countTokens(summary);
  const userMessages = inputItems(whole).filter((item) => item.type === 'message' && (item.role ?? 'user') === 'user')
    .map((item) => ({ id: item.id, type: 'message', status: 'completed', content: item.content, role: 'user' }));
  const output = [...userMessages, { id: ids.outputItem('cmp'), type: 'compaction', encrypted_content: encryptedContent(summary, seed) }];
  const usage = {
    input_tokens: prompt.inputTokens,
    input_tokens_details: { cached_tokens: ctx.promptCache?.openaiRequest(model, prompt.hashText, prompt.inputTokens) ?? 0 },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: prompt.inputTokens + outputTokens,
  };
  const compacted: Record<string, unknown> = { id: ids.response(), object: 'response.compaction', created_at: Math.floor(Date.now() / 1000), output, usage };
  if (ctx.omitUsage) delete compacted.usage;
  return { body: JSON.stringify(compacted), outputTokens };
}

/** Tool calls and the item types that answer them (hosted tools that run on their own have no outputs). */
const CALL_OUTPUTS: Record<string, string> = { function_call: 'function_call_output', custom_tool_call: 'custom_tool_call_output' };

/**
 * Every tool output must answer a call made earlier in the conversation (the input, or the stored
 * chain `previous_response_id` continues), and every call must be answered, as the API checks
 * before it runs the model. Items named by reference only (`item_reference`) are not known here,
 * so a conversation holding one is not checked.
 */
function checkToolOutputs(items: readonly unknown[]): void {
  if (items.some((item) => isRecord(item) && item.type === 'item_reference')) return;
  const calls = new Map<string, string>(); // call_id -> output type
  const answered = new Set<string>();
  for (const item of items) {
    if (!isRecord(item) || typeof item.call_id !== 'string') continue;
    const outputType = typeof item.type === 'string' ? CALL_OUTPUTS[item.type] : undefined;
    if (outputType) calls.set(item.call_id, outputType);
  }
  for (const item of items) {
    if (!isRecord(item) || typeof item.type !== 'string' || !Object.values(CALL_OUTPUTS).includes(item.type)) continue;
    const id = typeof item.call_id === 'string' ? item.call_id : '';
    if (calls.get(id) !== item.type) {
      throw new MockApiError(400, `No tool call found for ${item.type === 'function_call_output' ? 'function call' : 'custom tool call'} output with call_id ${id.slice(0, 200)}.`, { param: 'input' });
    }
    answered.add(id);
  }
  for (const [id, outputType] of calls) {
    if (!answered.has(id)) throw new MockApiError(400, `No tool output found for ${outputType === 'function_call_output' ? 'function call' : 'custom tool call'} ${id.slice(0, 200)}.`, { param: 'input' });
  }
}

/** A request's `input` as items: a string is one user message. */
function asItems(input: unknown): Record<string, unknown>[] {
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  return Array.isArray(input) ? (input as Record<string, unknown>[]) : [];
}

/**
 * The model's whole input: with `previous_response_id`, the stored chain's input and output come
 * before the new input, and count as input tokens, as the API bills them (its instructions do not
 * carry over). Without one (or for an id not kept), the request's own input.
 */
function withEarlierTurns(ctx: HandlerContext, input: unknown): unknown {
  const previous = ctx.body.previous_response_id;
  const earlier = typeof previous === 'string' ? ctx.responseContext?.(previous) : undefined;
  return earlier ? [...earlier, ...asItems(input)] : input;
}

/** The input items of a request as `GET /v1/responses/{id}/input_items` lists them (each with an id). */
function inputItems(input: unknown): Record<string, unknown>[] {
  const items = typeof input === 'string' ? [{ type: 'message', role: 'user', content: input }] : Array.isArray(input) ? input.filter(isRecord) : [];
  return items.map((item) => {
    const content = typeof item.content === 'string' ? [{ type: 'input_text', text: item.content }] : item.content;
    return { id: ids.outputItem('msg'), type: item.type ?? 'message', ...item, ...(content === undefined ? {} : { content }) };
  });
}

/** The request's `model`, refused as the Responses API refuses it: missing, not a string, or not one the mock serves. */
function requiredModel(ctx: HandlerContext): string {
  const model = ctx.body.model;
  if (model === undefined || model === null || model === '') {
    throw new MockApiError(400, "Missing required parameter: 'model'.", { param: 'model', code: 'missing_required_parameter' });
  }
  if (typeof model !== 'string') throw new MockApiError(400, "Invalid type for 'model': expected a string.", { param: 'model', code: 'invalid_type' });
  if (!ctx.catalogue.accepts(model)) {
    throw new MockApiError(400, `The requested model '${model.slice(0, 200)}' does not exist.`, { param: 'model', code: 'model_not_found' });
  }
  return model;
}

export function handleResponses(ctx: HandlerContext): Reply {
  const body = ctx.body;
  const model = requiredModel(ctx);
  const input = body.input;
  if ((input === undefined || input === null) && body.previous_response_id == null && body.prompt == null && body.conversation == null) {
    throw new MockApiError(400, "Missing required parameter: 'input'.", { param: 'input', code: 'missing_required_parameter' });
  }
  if (input !== undefined && input !== null && typeof input !== 'string' && !Array.isArray(input)) {
    throw new MockApiError(400, `Invalid type for 'input': expected one of a string or array of input items, but got ${typeof input} instead.`, { param: 'input', code: 'invalid_type' });
  }
  // Only a stored response can be continued: one made with `store: false`, deleted or never made is refused as the API refuses it.
  const previous = body.previous_response_id;
  if (typeof previous === 'string' && ctx.isStoredResponse && !ctx.isStoredResponse(previous)) {
    throw new MockApiError(400, `Previous response with id '${previous.slice(0, 200)}' not found.`, { param: 'previous_response_id', code: 'previous_response_not_found' });
  }
  // Checked over the whole conversation when all of it is known here (not a stored prompt's or conversation's items).
  if (body.conversation == null && body.prompt == null && (typeof previous !== 'string' || ctx.responseContext?.(previous))) {
    checkToolOutputs(asItems(withEarlierTurns(ctx, input)));
  }
  const maxOutputTokens = checkInteger(body.max_output_tokens, 'max_output_tokens', 16, null);
  checkNumber(body.temperature, 'temperature', 0, 2);
  checkNumber(body.top_p, 'top_p', 0, 1);
  const topLogprobs = checkInteger(body.top_logprobs, 'top_logprobs', 0, 20) ?? 0;
  const include = Array.isArray(body.include) ? body.include : [];
  const wantLogprobs = include.includes('message.output_text.logprobs');
  const wantEncrypted = include.includes('reasoning.encrypted_content');
  const stream = body.stream === true;

  // The answer, like the count, follows the whole conversation: continuing equals resending it.
  const prompt = readInput(withEarlierTurns(ctx, input), body.instructions, body.tools);
  const seed = hashString(`${model}\u0000${prompt.hashText}`, ctx.seed);
  const rng = new Rng(seed);
  const style = reasoningStyle(model);
  const reasoningParam = isRecord(body.reasoning) ? body.reasoning : {};
  const effortName = typeof reasoningParam.effort === 'string' ? reasoningParam.effort : 'medium';
  const effort = EFFORT_MULTIPLIER[effortName] ?? 1;
  const summaryMode = typeof reasoningParam.summary === 'string' ? reasoningParam.summary : typeof reasoningParam.generate_summary === 'string' ? reasoningParam.generate_summary : null;
  const reasoningTarget = style === 'none' ? 0 : ctx.reasoningTokensOverride ?? Math.round(rng.range(ctx.reasoningTokens[0], ctx.reasoningTokens[1]) * effort);
  const answer = ctx.answerTokensOverride ?? rng.range(ctx.answerTokens[0], ctx.answerTokens[1]);
  const tools = readTools(body.tools);
  const chosen = decideTools(
    { tools, choice: readToolChoice(body.tool_choice), lastUserText: prompt.lastUserText, endsWithToolResult: prompt.endsWithToolResult, parallel: body.parallel_tool_calls !== false },
    rng,
  );
  const format = isRecord(body.text) && isRecord(body.text.format) ? body.text.format : null;
  const structured = format?.type === 'json_object' ? { schema: null } : format?.type === 'json_schema' ? { schema: format.schema ?? {} } : undefined;
  const plan = buildPlan({ seed, answerTokens: answer, reasoningTokens: reasoningTarget, maxTokens: maxOutputTokens, tools: chosen, toolPreamble: false, stop: [], structured });
  const incomplete = plan.finish === 'length';
  const hasReasoningItem = style !== 'none' && reasoningTarget > 0;
  const summary = hasReasoningItem && summaryMode !== null && plan.reasoningTokens > 0 ? summaryText(new Rng(mixSeed(seed, 7))) : null;

  const usage = {
    input_tokens: prompt.inputTokens,
    // OpenAI's automatic caching bills no cache writes: cache_write_tokens stays 0.
    input_tokens_details: { cached_tokens: ctx.promptCache?.openaiRequest(String(model), prompt.hashText, prompt.inputTokens) ?? 0, cache_write_tokens: 0 },
    output_tokens: plan.outputTokens,
    output_tokens_details: { reasoning_tokens: plan.reasoningTokens },
    total_tokens: prompt.inputTokens + plan.outputTokens,
  };

  // Output items, in final form.
  const reasoningItem: Record<string, unknown> | null = hasReasoningItem
    ? { id: ids.outputItem('rs'), type: 'reasoning', summary: summary !== null ? [{ type: 'summary_text', text: summary }] : [] }
    : null;
  if (reasoningItem && wantEncrypted) reasoningItem.encrypted_content = encryptedContent(plan.reasoningText, seed);
  const logprobs = wantLogprobs ? logprobsFor(plan.text, topLogprobs, seed) : [];
  const textPart = { type: 'output_text', annotations: [], logprobs, text: plan.answerText };
  const messageItem: Record<string, unknown> | null =
    plan.toolCalls.length === 0 && (plan.text.length > 0 || !incomplete)
      ? { id: ids.outputItem('msg'), type: 'message', status: incomplete ? 'incomplete' : 'completed', content: [textPart], role: 'assistant' }
      : null;
  const callItems = plan.toolCalls.map((c) => ({
    id: ids.outputItem('fc'),
    type: 'function_call',
    status: incomplete ? 'incomplete' : 'completed',
    arguments: c.arguments,
    call_id: ids.toolCall(),
    name: c.name,
  }));
  const output: Record<string, unknown>[] = [];
  if (reasoningItem) output.push(reasoningItem);
  if (messageItem) output.push(messageItem);
  output.push(...callItems);

  const createdAt = Math.floor(Date.now() / 1000);
  const responseId = ids.response();
  const base = (status: string, out: unknown[], withUsage: boolean): Record<string, unknown> => {
    const r: Record<string, unknown> = {
      id: responseId,
      object: 'response',
      created_at: createdAt,
      status,
      background: false,
      completed_at: status === 'completed' ? Math.floor(Date.now() / 1000) : null,
      error: null,
      incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      instructions: typeof body.instructions === 'string' ? body.instructions : null,
      max_output_tokens: maxOutputTokens,
      max_tool_calls: null,
      model,
      output: out,
      parallel_tool_calls: body.parallel_tool_calls !== false,
      previous_response_id: typeof body.previous_response_id === 'string' ? body.previous_response_id : null,
      prompt_cache_key: typeof body.prompt_cache_key === 'string' ? body.prompt_cache_key : null,
      reasoning: style === 'none' ? { effort: null, summary: null } : { effort: effortName, summary: summaryMode },
      safety_identifier: typeof body.safety_identifier === 'string' ? body.safety_identifier : null,
      service_tier: servedTier(body.service_tier),
      store: body.store !== false,
      temperature: typeof body.temperature === 'number' ? body.temperature : 1,
      text: isRecord(body.text) ? body.text : { format: { type: 'text' }, verbosity: 'medium' },
      tool_choice: body.tool_choice ?? 'auto',
      tools: Array.isArray(body.tools) ? body.tools : [],
      top_logprobs: topLogprobs,
      top_p: typeof body.top_p === 'number' ? body.top_p : 1,
      truncation: 'disabled',
      usage: withUsage && !ctx.omitUsage ? usage : null,
      user: typeof body.user === 'string' ? body.user : null,
      metadata: isRecord(body.metadata) ? body.metadata : {},
    };
    return r;
  };
  const finalStatus = incomplete ? 'incomplete' : 'completed';

  // Stored responses can be read back, their input listed, and deleted (`store` defaults to true).
  const stored = body.store !== false ? { id: responseId, response: base(finalStatus, output, true), input: inputItems(body.input), context: [...asItems(withEarlierTurns(ctx, input)), ...output] } : undefined;
  if (!stream) {
    const response = base(finalStatus, output, true);
    if (ctx.omitUsage) delete response.usage;
    return { body: JSON.stringify(response), outputTokens: plan.outputTokens, stored };
  }

  let seq = 0;
  const frames: Frame[] = [];
  // Delta events carry OpenAI's obfuscation padding (see obfuscationPad), after their other fields.
  const pad = obfuscationSource(body.stream_options, seed);
  const emit = (type: string, payload: Record<string, unknown>, tokens = 0) => {
    // sequence_number assigned after the spread, not written after it in the literal (see src/gateway/headers.ts)
    const event: Record<string, unknown> = { type, ...payload };
    event.sequence_number = seq;
    if (pad && typeof payload.delta === 'string') event.obfuscation = obfuscationText(pad, payload.delta.length);
    frames.push({ data: sseEvent(type, event), tokens, seq: seq++ });
  };
  emit('response.created', { response: base('in_progress', [], false) });
  emit('response.in_progress', { response: base('in_progress', [], false) });

  let outputIndex = 0;
  if (reasoningItem) {
    const itemId = reasoningItem.id as string;
    const added: Record<string, unknown> = { id: itemId, type: 'reasoning', summary: [] };
    if (wantEncrypted) added.encrypted_content = null;
    emit('response.output_item.added', { output_index: outputIndex, item: added });
    frames.push({ data: '', tokens: plan.reasoningTokens }); // the model thinks; nothing is sent
    if (summary !== null) {
      emit('response.reasoning_summary_part.added', { item_id: itemId, output_index: outputIndex, summary_index: 0, part: { type: 'summary_text', text: '' } });
      for (const delta of wordChunks(summary)) {
        emit('response.reasoning_summary_text.delta', { item_id: itemId, output_index: outputIndex, summary_index: 0, delta });
      }
      emit('response.reasoning_summary_text.done', { item_id: itemId, output_index: outputIndex, summary_index: 0, text: summary });
      emit('response.reasoning_summary_part.done', { item_id: itemId, output_index: outputIndex, summary_index: 0, part: { type: 'summary_text', text: summary } });
    }
    emit('response.output_item.done', { output_index: outputIndex, item: reasoningItem });
    outputIndex++;
  }
  if (messageItem) {
    const itemId = messageItem.id as string;
    emit('response.output_item.added', { output_index: outputIndex, item: { id: itemId, type: 'message', status: 'in_progress', content: [], role: 'assistant' } });
    emit('response.content_part.added', { item_id: itemId, output_index: outputIndex, content_index: 0, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } });
    // Hot path: text deltas from a fixed prefix.
    const prefix = `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":"${itemId}","output_index":${outputIndex},"content_index":0,"delta":`;
    plan.text.forEach((piece, k) => {
      const lp = wantLogprobs ? JSON.stringify([logprobs[k]]) : '[]';
      frames.push({ data: `${prefix}${JSON.stringify(piece)},"logprobs":${lp},"sequence_number":${seq}${obfuscationPad(pad, piece.length)}}\n\n`, tokens: 1, seq: seq++ });
    });
    emit('response.output_text.done', { item_id: itemId, output_index: outputIndex, content_index: 0, text: plan.answerText, logprobs });
    emit('response.content_part.done', { item_id: itemId, output_index: outputIndex, content_index: 0, part: textPart });
    emit('response.output_item.done', { output_index: outputIndex, item: messageItem });
    outputIndex++;
  }
  plan.toolCalls.forEach((call, k) => {
    const item = callItems[k];
    emit('response.output_item.added', { output_index: outputIndex, item: Object.assign({}, item, { status: 'in_progress', arguments: '' }) }, call.tokens - call.pieces.length);
    for (const delta of call.pieces) {
      emit('response.function_call_arguments.delta', { item_id: item.id, output_index: outputIndex, delta }, 1);
    }
    emit('response.function_call_arguments.done', { item_id: item.id, output_index: outputIndex, name: item.name, arguments: item.arguments });
    emit('response.output_item.done', { output_index: outputIndex, item });
    outputIndex++;
  });
  emit(incomplete ? 'response.incomplete' : 'response.completed', { response: base(finalStatus, output, true) });

  // An injected in-stream failure: an `error` event, then `response.failed`, numbered after the last event sent.
  const errorFrame = (nextFrame: number): string => {
    let failedAt = 0;
    for (let i = Math.min(nextFrame, frames.length) - 1; i >= 0; i--) {
      const s = frames[i].seq;
      if (s !== undefined) {
        failedAt = s + 1;
        break;
      }
    }
    const message = 'The server had an error while processing your request. Sorry about that!';
    const failed = base('failed', [], false);
    failed.error = { code: 'server_error', message };
    return (
      sseEvent('error', { type: 'error', code: 'server_error', message, param: null, sequence_number: failedAt }) +
      sseEvent('response.failed', { type: 'response.failed', response: failed, sequence_number: failedAt + 1 })
    );
  };
  return { frames, errorFrame, outputTokens: plan.outputTokens, stored };
}
