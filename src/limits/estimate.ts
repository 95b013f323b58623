/**
 * What to reserve before the answer exists: input tokens estimated from the request text (cheap,
 * no tokenizer on the request path) and output tokens from the request's own cap. Settling at the
 * end replaces both with real usage, so the estimate only has to be in the right range.
 */
import type { ApiFlavour } from '../events/index.ts';

/** Keys whose string values are not prompt text (images, files, ids). */
const NON_TEXT_KEYS = new Set(['data', 'image_url', 'url', 'file_data', 'file_id', 'id', 'tool_use_id', 'call_id', 'type', 'role', 'media_type', 'signature']);

function textChars(value: unknown, depth: number): number {
  if (typeof value === 'string') return value.length;
  if (depth > 12 || value === null || typeof value !== 'object') return 0;
  let n = 0;
  if (Array.isArray(value)) {
    for (const v of value) n += textChars(v, depth + 1);
    return n;
  }
  for (const k in value as Record<string, unknown>) {
    if (NON_TEXT_KEYS.has(k)) continue;
    n += textChars((value as Record<string, unknown>)[k], depth + 1);
  }
  return n;
}

/** Estimated input tokens: text characters of messages, system prompt, instructions and tool definitions / chars per token. */
export function estimateInputTokens(body: Record<string, unknown>, charsPerToken: number): number {
  let chars = 0;
  for (const field of ['messages', 'input', 'system', 'instructions', 'tools', 'prompt']) {
    if (body[field] !== undefined) chars += textChars(body[field], 0);
  }
  return Math.ceil(chars / charsPerToken);
}

function positiveInt(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : null;
}

/** Output tokens the request may produce: its own cap (times `n` choices), or the configured default. */
export function outputTokenReserve(body: Record<string, unknown>, flavour: ApiFlavour, defaultMax: number): number {
  if (flavour === 'openai.embeddings') return 0; // vectors: no output tokens
  let cap: number | null;
  if (flavour === 'openai.responses') cap = positiveInt(body.max_output_tokens);
  else if (flavour === 'openai.chat') cap = positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens);
  // Legacy completions default to 16 tokens; `best_of` candidates are generated for each prompt.
  else if (flavour === 'openai.completions') cap = positiveInt(body.max_tokens) ?? 16;
  else cap = positiveInt(body.max_tokens);
  let choices = flavour === 'openai.chat' ? positiveInt(body.n) ?? 1 : 1;
  if (flavour === 'openai.completions') {
    const prompts = Array.isArray(body.prompt) && body.prompt.length > 0 && typeof body.prompt[0] !== 'number' ? body.prompt.length : 1;
    choices = Math.max(positiveInt(body.n) ?? 1, positiveInt(body.best_of) ?? 1) * prompts;
  }
  return (cap ?? defaultMax) * choices;
}
