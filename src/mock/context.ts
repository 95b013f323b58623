/**
 * What an endpoint handler gets and returns: the parsed request with per-request settings, and
 * either a JSON body or a list of SSE frames for the server to pace.
 */
import type { Frame } from './pacer.ts';
import type { ModelCatalogue } from './models.ts';
import type { PromptCache } from './prompt-cache.ts';
import { MockApiError } from './wire.ts';

export interface HandlerContext {
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  catalogue: ModelCatalogue;
  /** Server seed, mixed into every content hash. */
  seed: number;
  /** Natural answer length range, tokens. */
  answerTokens: readonly [number, number];
  /** Natural reasoning length range at medium effort, tokens. */
  reasoningTokens: readonly [number, number];
  /** Per-request override of the natural answer length (x-mock-output-tokens). */
  answerTokensOverride: number | null;
  /** Per-request override of the reasoning length, effort already in it (x-mock-reasoning-tokens); only where the model reasons. */
  reasoningTokensOverride: number | null;
  /** Leave usage out of the response (x-mock-omit-usage), to exercise tokenizer fallbacks downstream. */
  omitUsage: boolean;
  /** The server's prompt cache (cache counts in usage); absent: none reported. */
  promptCache?: PromptCache;
  /** Whether a Responses id is stored here (for `previous_response_id`); absent: not checked. */
  isStoredResponse?: (id: string) => boolean;
  /** The conversation a stored Responses id ends (its chain's input and output items, in order); absent or undefined: none kept. */
  responseContext?: (id: string) => readonly Record<string, unknown>[] | undefined;
}

export interface Reply {
  /** Non-streaming JSON body. */
  body?: string;
  /** An answer that is not JSON (speech audio), sent as is. */
  binary?: { contentType: string; data: Buffer };
  /** Streaming SSE frames. */
  frames?: Frame[];
  /** SSE text for an injected in-stream error, given the index of the first frame not sent. */
  errorFrame?: (nextFrame: number) => string;
  /** Output tokens, for pacing non-streaming answers. */
  outputTokens: number;
  /** Responses with `store` (the default): the final response object and its input items, kept for `GET /v1/responses/{id}`. */
  stored?: {
    id: string;
    response: Record<string, unknown>;
    input: Record<string, unknown>[];
    /** The conversation up to and including this response (earlier turns, this input, this output): what `previous_response_id` continues. */
    context: readonly Record<string, unknown>[];
  };
  /** Chat Completions with `store: true`: the completion as it is read back, and the request's messages. */
  storedChat?: { completion: Record<string, unknown>; messages: unknown[] };
}

/** The `service_tier` an OpenAI answer names: the tier asked for when it is one the API serves on request (`flex`, `priority`), else `default` (`auto` included). */
export function servedTier(asked: unknown): string {
  return asked === 'flex' || asked === 'priority' ? asked : 'default';
}

/** Real-API effort levels as multipliers of the medium reasoning length. */
export const EFFORT_MULTIPLIER: Record<string, number> = {
  none: 0,
  minimal: 0.25,
  low: 0.5,
  medium: 1,
  high: 2,
  xhigh: 3,
};

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Mixes a choice index into a seed. */
export function mixSeed(seed: number, salt: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(salt + 1, 0xc2b2ae35)) >>> 0;
}

/** OpenAI-style validation error for an integer parameter. */
export function checkInteger(value: unknown, param: string, min: number, max: number | null): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new MockApiError(400, `Invalid type for '${param}': expected an integer, but got ${typeof value === 'number' ? 'a decimal' : typeof value} instead.`, {
      param,
      code: 'invalid_type',
    });
  }
  if (value < min) {
    throw new MockApiError(400, `Invalid '${param}': integer below minimum value. Expected a value >= ${min}, but got ${value} instead.`, {
      param,
      code: 'integer_below_min_value',
    });
  }
  if (max !== null && value > max) {
    throw new MockApiError(400, `Invalid '${param}': integer above maximum value. Expected a value <= ${max}, but got ${value} instead.`, {
      param,
      code: 'integer_above_max_value',
    });
  }
  return value;
}

/**
 * An OpenAI number parameter (`temperature`, `top_p`, penalties) checked as the API checks it:
 * absent or null passes, anything else must be a number within [min, max].
 */
export function checkNumber(value: unknown, param: string, min: number, max: number): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new MockApiError(400, `Invalid type for '${param}': expected a decimal, but got ${typeof value} instead.`, { param, code: 'invalid_type' });
  }
  if (value < min) {
    throw new MockApiError(400, `Invalid '${param}': decimal below minimum value. Expected a value >= ${min}, but got ${value} instead.`, { param, code: 'decimal_below_min_value' });
  }
  if (value > max) {
    throw new MockApiError(400, `Invalid '${param}': decimal above maximum value. Expected a value <= ${max}, but got ${value} instead.`, { param, code: 'decimal_above_max_value' });
  }
}

/** Text of OpenAI-style content: a string or an array of parts with `text`. Images count as fixed tokens. */
export function contentText(content: unknown, out: string[]): number {
  if (typeof content === 'string') {
    out.push(content);
    return 0;
  }
  let imageTokens = 0;
  if (Array.isArray(content)) {
    for (const part of content) {
      if (!isRecord(part)) continue;
      if (typeof part.text === 'string') out.push(part.text);
      else if (typeof part.refusal === 'string') out.push(part.refusal);
      else if (part.type === 'image_url' || part.type === 'input_image' || part.type === 'image') imageTokens += IMAGE_TOKENS;
    }
  }
  return imageTokens;
}

/** Flat token charge for an image part (OpenAI's low-detail figure). */
export const IMAGE_TOKENS = 85;

/** Per-message framing tokens, and the reply primer, in the style of OpenAI's published counting recipe. */
export const TOKENS_PER_MESSAGE = 3;
export const REPLY_PRIMER_TOKENS = 3;
