/**
 * Anthropic `POST /v1/messages` (and `/v1/messages/count_tokens`): validation, the `message`
 * object with `thinking`, `text` and `tool_use` blocks, and the SSE stream `message_start`,
 * `content_block_start`, `ping`, `content_block_delta`, `content_block_stop`, `message_delta`,
 * `message_stop`.
 */
import { isRecord, REPLY_PRIMER_TOKENS, TOKENS_PER_MESSAGE, type HandlerContext, type Reply } from './context.ts';
import type { Frame } from './pacer.ts';
import { buildPlan, decideTools, type Plan, type ToolChoice, type ToolSpec } from './plan.ts';
import { hashString, Rng } from './text.ts';
import { sealThinking, verifyThinking } from './thinking-seal.ts';
import { countTokens } from './tokens.ts';
import { ids, MockApiError, sseEvent } from './wire.ts';

/** Flat token charge for an image block. */
const ANTHROPIC_IMAGE_TOKENS = 1600;

function invalid(message: string): MockApiError {
  return new MockApiError(400, message);
}

interface AnthropicPrompt {
  inputTokens: number;
  hashText: string;
  lastUserText: string;
  endsWithToolResult: boolean;
}

function blockTexts(content: unknown, out: string[]): { images: number; toolResults: number; userText: string[] } {
  const userText: string[] = [];
  let images = 0;
  let toolResults = 0;
  if (typeof content === 'string') {
    out.push(content);
    userText.push(content);
    return { images, toolResults, userText };
  }
  if (!Array.isArray(content)) return { images, toolResults, userText };
  for (const block of content) {
    if (!isRecord(block)) continue;
    switch (block.type) {
      case 'text':
        if (typeof block.text === 'string') {
          out.push(block.text);
          userText.push(block.text);
        }
        break;
      case 'thinking':
        if (typeof block.thinking === 'string') out.push(block.thinking);
        break;
      case 'tool_use':
        if (typeof block.name === 'string') out.push(block.name);
        out.push(JSON.stringify(block.input ?? {}));
        break;
      case 'tool_result':
        toolResults++;
        if (typeof block.content === 'string') out.push(block.content);
        else images += blockTexts(block.content, out).images;
        break;
      case 'image':
      case 'document':
        images++;
        break;
    }
  }
  return { images, toolResults, userText };
}

function readPrompt(body: Record<string, unknown>, messages: unknown[]): AnthropicPrompt {
  const texts: string[] = [];
  let extra = 0;
  const system = body.system;
  if (typeof system === 'string') texts.push(system);
  else if (Array.isArray(system)) for (const b of system) if (isRecord(b) && typeof b.text === 'string') texts.push(b.text);
  let lastUserText = '';
  let endsWithToolResult = false;
  const roles: string[] = [];
  messages.forEach((m, i) => {
    if (!isRecord(m)) throw invalid(`messages.${i}: Input should be a valid dictionary`);
    const role = m.role;
    if (role === 'system') {
      throw invalid('messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.');
    }
    if (role !== 'user' && role !== 'assistant') throw invalid(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    if (m.content === undefined) throw invalid(`messages.${i}.content: Field required`);
    roles.push(role);
    const seen = blockTexts(m.content, texts);
    extra += TOKENS_PER_MESSAGE + seen.images * ANTHROPIC_IMAGE_TOKENS;
    if (role === 'user') {
      lastUserText = seen.userText.join('\n');
      endsWithToolResult = seen.toolResults > 0;
    } else {
      endsWithToolResult = false;
    }
  });
  if (Array.isArray(body.tools) && body.tools.length > 0) texts.push(JSON.stringify(body.tools));
  const joined = texts.join('\n');
  return {
    inputTokens: countTokens(joined) + extra + REPLY_PRIMER_TOKENS,
    hashText: `${roles.join(',')}\u0001${joined}`,
    lastUserText,
    endsWithToolResult,
  };
}

function readTools(tools: unknown): ToolSpec[] {
  if (!Array.isArray(tools)) return [];
  const out: ToolSpec[] = [];
  // Client tools carry `input_schema`; server tools (web_search ...) have a `type` and are not simulated.
  for (const t of tools) if (isRecord(t) && typeof t.name === 'string' && isRecord(t.input_schema)) out.push({ name: t.name, schema: t.input_schema });
  return out;
}

function readToolChoice(choice: unknown): { choice: ToolChoice; parallel: boolean } {
  if (!isRecord(choice)) return { choice: { mode: 'auto' }, parallel: true };
  const parallel = choice.disable_parallel_tool_use !== true;
  switch (choice.type) {
    case 'none':
      return { choice: { mode: 'none' }, parallel };
    case 'any':
      return { choice: { mode: 'required' }, parallel };
    case 'tool':
      return { choice: typeof choice.name === 'string' ? { mode: 'named', name: choice.name } : { mode: 'auto' }, parallel };
    default:
      return { choice: { mode: 'auto' }, parallel };
  }
}

/**
 * The prompt that makes the API return its thinking as a `redacted_thinking` block, documented
 * for testing how clients handle one.
 */
const REDACTED_THINKING_TRIGGER = 'ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253D5E2D82641AC0E52CC2876CB';

/**
 * Thinking blocks sent back (tool-use loops, later turns) must be exactly as the API returned
 * them: the real API verifies each block's `signature` (`data` for redacted thinking) and refuses
 * a changed or missing one with 400.
 */
function verifyReturnedThinking(messages: unknown[], seed: number): void {
  messages.forEach((m, i) => {
    if (!isRecord(m) || !Array.isArray(m.content)) return;
    m.content.forEach((block: unknown, j: number) => {
      if (!isRecord(block)) return;
      const at = `messages.${i}.content.${j}`;
      if (block.type === 'thinking') {
        if (typeof block.thinking !== 'string') throw invalid(`${at}.thinking.thinking: Field required`);
        if (typeof block.signature !== 'string') throw invalid(`${at}.thinking.signature: Field required`);
        if (!verifyThinking(seed, 'thinking', block.thinking, block.signature)) throw invalid(`${at}: Invalid \`signature\` in \`thinking\` block`);
      } else if (block.type === 'redacted_thinking') {
        if (typeof block.data !== 'string') throw invalid(`${at}.redacted_thinking.data: Field required`);
        if (!verifyThinking(seed, 'redacted_thinking', '', block.data)) throw invalid(`${at}: Invalid \`data\` in \`redacted_thinking\` block`);
      }
    });
  });
}

function toolUseIds(content: unknown): string[] {
  if (!Array.isArray(content)) return [];
  return content.filter((b) => isRecord(b) && b.type === 'tool_use' && typeof b.id === 'string').map((b) => (b as { id: string }).id);
}

/**
 * Each `tool_result` must answer a `tool_use` of the assistant message just before it, and every
 * `tool_use` must be answered by the next message, as the API checks. (An assistant message that
 * ends the conversation, a prefill, is not held to the second rule; server tools are not checked.)
 */
function checkToolResults(messages: unknown[]): void {
  messages.forEach((m, i) => {
    if (!isRecord(m)) return;
    const previous = i > 0 && isRecord(messages[i - 1]) && (messages[i - 1] as Record<string, unknown>).role === 'assistant' ? toolUseIds((messages[i - 1] as Record<string, unknown>).content) : [];
    const answered = new Set<string>();
    if (Array.isArray(m.content)) {
      m.content.forEach((block: unknown, j: number) => {
        if (!isRecord(block) || block.type !== 'tool_result') return;
        const id = typeof block.tool_use_id === 'string' ? block.tool_use_id : '';
        if (m.role !== 'user' || !previous.includes(id)) {
          throw invalid(`messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${id.slice(0, 200)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`);
        }
        answered.add(id);
      });
    }
    if (i > 0 && previous.length > 0) {
      const missing = previous.filter((id) => !answered.has(id));
      if (missing.length > 0) {
        throw invalid(`messages.${i - 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ').slice(0, 2000)}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`);
      }
    }
  });
}

const THINKING_FIRST_RULE =
  'When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking';

function hasBlock(content: unknown, type: string): boolean {
  return Array.isArray(content) && content.some((b) => isRecord(b) && b.type === type);
}

/**
 * With thinking on, the assistant turn of a tool-use loop still in progress must start with its
 * thinking block. The loop is what follows the last user message that is more than tool results
 * (a tool-use loop is one assistant turn); only its first assistant message is checked, as the API
 * does: earlier, finished turns may drop their thinking, and later steps of the loop have none
 * unless thinking is interleaved.
 */
function checkLoopStartsWithThinking(messages: unknown[]): void {
  let start = messages.length;
  while (start > 0) {
    const m = messages[start - 1];
    if (isRecord(m) && m.role === 'user' && !(Array.isArray(m.content) && m.content.length > 0 && m.content.every((b) => isRecord(b) && b.type === 'tool_result'))) break;
    start--;
  }
  const loop = messages.slice(start);
  const usesTools = loop.some((m) => isRecord(m) && m.role === 'assistant' && hasBlock(m.content, 'tool_use')) && loop.some((m) => isRecord(m) && m.role === 'user' && hasBlock(m.content, 'tool_result'));
  if (!usesTools) return;
  const at = loop.findIndex((m) => isRecord(m) && m.role === 'assistant');
  const first = loop[at] as Record<string, unknown>;
  const head: unknown = typeof first.content === 'string' ? { type: 'text' } : Array.isArray(first.content) ? first.content[0] : undefined;
  const type = isRecord(head) && typeof head.type === 'string' ? head.type : 'text';
  if (type === 'thinking' || type === 'redacted_thinking') return;
  throw invalid(`messages.${start + at}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${type}\`. ${THINKING_FIRST_RULE}`);
}

/** Server tools whose requests `usage.server_tool_use` counts (the mock runs none, so both stay 0). */
const COUNTED_SERVER_TOOL = /^(web_search|web_fetch)_\d+$/;

/** `output_config.effort` as a multiplier of the medium thinking length. */
const ANTHROPIC_EFFORT: Record<string, number> = { low: 0.5, medium: 1, high: 2, xhigh: 3, max: 4 };

/** `tool_use.caller`: the model called the tool itself (not from inside a server tool). */
const DIRECT_CALLER = { type: 'direct' } as const;

const STOP_REASON: Record<Plan['finish'], string> = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', stop_sequence: 'stop_sequence' };

interface ThinkingRequest {
  display: 'summarized' | 'omitted';
  budget: number | null;
}

function readThinking(thinking: unknown, maxTokens: number, toolChoice: ToolChoice): ThinkingRequest | null {
  if (thinking === undefined || thinking === null) return null;
  if (!isRecord(thinking)) throw invalid('thinking: Input should be a valid dictionary');
  const type = thinking.type;
  if (type === 'disabled') return null;
  if (type !== 'enabled' && type !== 'adaptive' && type !== 'between_tools') {
    throw invalid(`thinking.type: Input should be 'enabled', 'disabled', 'adaptive' or 'between_tools'`);
  }
  const display = thinking.display === 'omitted' ? 'omitted' : 'summarized';
  if (toolChoice.mode === 'required' || toolChoice.mode === 'named') throw invalid('Thinking may not be enabled when tool_choice forces tool use.');
  if (type !== 'enabled') return { display, budget: null };
  const budget = thinking.budget_tokens;
  if (budget === undefined) throw invalid('thinking.enabled.budget_tokens: Field required');
  if (typeof budget !== 'number' || !Number.isInteger(budget)) throw invalid('thinking.enabled.budget_tokens: Input should be a valid integer');
  if (budget < 1024) throw invalid('thinking.enabled.budget_tokens: Input should be greater than or equal to 1024');
  if (maxTokens <= budget) {
    throw invalid(
      '`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size',
    );
  }
  return { display, budget };
}

function validateCommon(ctx: HandlerContext): { model: string; messages: unknown[] } {
  const body = ctx.body;
  if (body.model === undefined || body.model === null) throw invalid('model: Field required');
  if (typeof body.model !== 'string') throw invalid('model: Input should be a valid string');
  const messages = body.messages;
  if (messages === undefined) throw invalid('messages: Field required');
  if (!Array.isArray(messages)) throw invalid('messages: Input should be a valid list');
  if (!ctx.catalogue.accepts(body.model)) throw new MockApiError(404, `model: ${body.model.slice(0, 200)}`);
  return { model: body.model, messages };
}

/** Cache breakpoints a request may set (`cache_control` on tools, system blocks and message blocks). */
const MAX_CACHE_BREAKPOINTS = 4;

function checkCacheBreakpoints(body: Record<string, unknown>): void {
  let found = 0;
  const count = (blocks: unknown) => {
    if (Array.isArray(blocks)) for (const b of blocks) if (isRecord(b) && b.cache_control != null) found++;
  };
  count(body.tools);
  count(body.system);
  if (Array.isArray(body.messages)) for (const m of body.messages) if (isRecord(m)) count(m.content);
  if (found > MAX_CACHE_BREAKPOINTS) throw invalid(`A maximum of ${MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found ${found}.`);
}

/** `POST /v1/messages/count_tokens`. */
export function handleCountTokens(ctx: HandlerContext): Reply {
  const { messages } = validateCommon(ctx);
  checkCacheBreakpoints(ctx.body);
  const prompt = readPrompt(ctx.body, messages);
  return { body: JSON.stringify({ input_tokens: prompt.inputTokens }), outputTokens: 0 };
}

export function handleMessages(ctx: HandlerContext): Reply {
  const body = ctx.body;
  const { model, messages } = validateCommon(ctx);
  const maxTokens = body.max_tokens;
  if (maxTokens === undefined) throw invalid('max_tokens: Field required');
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens)) throw invalid('max_tokens: Input should be a valid integer');
  if (maxTokens < 1) throw invalid('max_tokens: Input should be greater than or equal to 1');
  if (messages.length === 0) throw invalid('messages: at least one message is required');
  const { choice, parallel } = readToolChoice(body.tool_choice);
  const thinking = readThinking(body.thinking, maxTokens, choice);
  const stop = Array.isArray(body.stop_sequences) ? body.stop_sequences.filter((s): s is string => typeof s === 'string') : [];

  verifyReturnedThinking(messages, ctx.seed);
  checkToolResults(messages);
  checkCacheBreakpoints(body);
  if (thinking) checkLoopStartsWithThinking(messages);
  const prompt = readPrompt(body, messages);
  const seed = hashString(`${model}\u0000${typeof body.system === 'string' ? body.system : ''}\u0000${prompt.hashText}`, ctx.seed);
  const rng = new Rng(seed);
  // Drawn in a fixed order so that the answer is the same with and without thinking.
  const answer = ctx.answerTokensOverride ?? rng.range(ctx.answerTokens[0], ctx.answerTokens[1]);
  const chosen = decideTools({ tools: readTools(body.tools), choice, lastUserText: prompt.lastUserText, endsWithToolResult: prompt.endsWithToolResult, parallel }, rng);
  const outputConfig = isRecord(body.output_config) ? body.output_config : {};
  const effort = typeof outputConfig.effort === 'string' ? (ANTHROPIC_EFFORT[outputConfig.effort] ?? 1) : 1;
  const reasoningTarget = thinking ? ctx.reasoningTokensOverride ?? Math.round(rng.range(ctx.reasoningTokens[0], ctx.reasoningTokens[1]) * effort) : 0;
  // Structured outputs: output_config.format, or the earlier top-level output_format.
  const format = isRecord(outputConfig.format) ? outputConfig.format : isRecord(body.output_format) ? body.output_format : null;
  const structured = format?.type === 'json_schema' ? { schema: format.schema ?? {} } : undefined;
  // With tool_choice any or tool the API prefills the turn with the call: no text comes before it.
  const plan = buildPlan({ seed, answerTokens: answer, reasoningTokens: reasoningTarget, reasoningCap: thinking?.budget ?? null, maxTokens, tools: chosen, toolPreamble: choice.mode === 'auto', stop, structured });

  const redacted = thinking !== null && prompt.lastUserText.includes(REDACTED_THINKING_TRIGGER);
  const thinkingText = thinking && !redacted && thinking.display === 'summarized' ? plan.reasoningText : '';
  const signature = thinking ? sealThinking(ctx.seed, redacted ? 'redacted_thinking' : 'thinking', thinkingText, plan.reasoningText) : '';
  const toolIds = plan.toolCalls.map(() => ids.anthropicToolUse());
  // Cached prefix tokens are reported apart from input_tokens, as the API does.
  const cache = ctx.promptCache?.anthropicRequest(body) ?? { write: 0, read: 0, write1h: 0 };
  const uncached = Math.max(0, prompt.inputTokens - cache.write - cache.read);
  const usage: Record<string, unknown> = {
    input_tokens: uncached,
    cache_creation_input_tokens: cache.write,
    cache_read_input_tokens: cache.read,
    cache_creation: { ephemeral_5m_input_tokens: cache.write - cache.write1h, ephemeral_1h_input_tokens: cache.write1h },
    output_tokens: plan.outputTokens,
    service_tier: 'standard',
    // The region asked for, else what the API reports when none was: no region applies.
    inference_geo: typeof body.inference_geo === 'string' ? body.inference_geo : 'not_available',
  };
  if (body.speed === 'standard' || body.speed === 'fast') usage.speed = body.speed;
  if (thinking) usage.output_tokens_details = { thinking_tokens: plan.reasoningTokens };
  const serverTools = Array.isArray(body.tools) && body.tools.some((t) => isRecord(t) && typeof t.type === 'string' && COUNTED_SERVER_TOOL.test(t.type));
  if (serverTools) usage.server_tool_use = { web_search_requests: 0, web_fetch_requests: 0 };
  const stopReason = STOP_REASON[plan.finish];
  const id = ids.anthropicMessage();

  if (body.stream !== true) {
    const content: unknown[] = [];
    if (redacted) content.push({ type: 'redacted_thinking', data: signature });
    else if (thinking) content.push({ type: 'thinking', thinking: thinkingText, signature });
    if (plan.text.length > 0) content.push({ type: 'text', text: plan.answerText });
    plan.toolCalls.forEach((call, k) => {
      let input: unknown = {};
      try {
        input = JSON.parse(call.arguments);
      } catch {
        // Cut off by max_tokens: the real API also returns what it could parse.
      }
      content.push({ type: 'tool_use', id: toolIds[k], caller: DIRECT_CALLER, name: call.name, input });
    });
    const message = { id, type: 'message', role: 'assistant', model, content, container: null, stop_reason: stopReason, stop_sequence: plan.stopSequence, stop_details: null, usage, diagnostics: null };
    return { body: JSON.stringify(message), outputTokens: plan.outputTokens };
  }

  const frames: Frame[] = [];
  const emit = (type: string, payload: Record<string, unknown>, tokens = 0) => frames.push({ data: sseEvent(type, { type, ...payload }), tokens });
  emit('message_start', {
    message: {
      id, type: 'message', role: 'assistant', model, content: [], container: null, stop_reason: null, stop_sequence: null, stop_details: null,
      // Input-side usage only: what the output side spent arrives in message_delta.
      usage: Object.assign({}, usage, { output_tokens: 1, output_tokens_details: undefined, server_tool_use: undefined }),
      diagnostics: null,
    },
  });
  let index = 0;
  let pinged = false;
  const start = (block: Record<string, unknown>, tokens = 0) => {
    emit('content_block_start', { index, content_block: block }, tokens);
    if (!pinged) {
      frames.push({ data: 'event: ping\ndata: {"type": "ping"}\n\n', tokens: 0 });
      pinged = true;
    }
  };
  if (redacted) {
    // A redacted block arrives whole in its content_block_start, with no deltas.
    start({ type: 'redacted_thinking', data: signature });
    frames.push({ data: '', tokens: plan.reasoningTokens });
    emit('content_block_stop', { index });
    index++;
  } else if (thinking) {
    start({ type: 'thinking', thinking: '', signature: '' });
    if (thinking.display === 'summarized') {
      for (const piece of plan.reasoning) emit('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: piece } }, 1);
    } else {
      frames.push({ data: '', tokens: plan.reasoningTokens }); // omitted thinking still takes time
    }
    emit('content_block_delta', { index, delta: { type: 'signature_delta', signature } });
    emit('content_block_stop', { index });
    index++;
  }
  if (plan.text.length > 0) {
    start({ type: 'text', text: '' });
    const prefix = `event: content_block_delta\ndata: {"type":"content_block_delta","index":${index},"delta":{"type":"text_delta","text":`;
    const textWeight = plan.textTokens / plan.text.length; // 1 except after a stop-sequence cut
    for (const piece of plan.text) frames.push({ data: `${prefix}${JSON.stringify(piece)}}}\n\n`, tokens: textWeight });
    emit('content_block_stop', { index });
    index++;
  }
  plan.toolCalls.forEach((call, k) => {
    start({ type: 'tool_use', id: toolIds[k], caller: DIRECT_CALLER, name: call.name, input: {} }, call.tokens - call.pieces.length);
    emit('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: '' } });
    for (const piece of call.pieces) emit('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } }, 1);
    emit('content_block_stop', { index });
    index++;
  });
  const deltaUsage: Record<string, unknown> = { input_tokens: usage.input_tokens, cache_creation_input_tokens: usage.cache_creation_input_tokens, cache_read_input_tokens: usage.cache_read_input_tokens, output_tokens: plan.outputTokens };
  if (thinking) deltaUsage.output_tokens_details = { thinking_tokens: plan.reasoningTokens };
  if (usage.server_tool_use) deltaUsage.server_tool_use = usage.server_tool_use;
  emit('message_delta', { delta: { container: null, stop_reason: stopReason, stop_sequence: plan.stopSequence, stop_details: null }, usage: deltaUsage });
  emit('message_stop', {});
  return {
    frames,
    errorFrame: () => sseEvent('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
    outputTokens: plan.outputTokens,
  };
}

