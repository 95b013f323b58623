/**
 * Wire-level helpers shared by the mock's endpoints: provider-style ids, error bodies in each
 * API's own format, and SSE framing.
 */
import { randomBytes } from 'node:crypto';
import { Rng } from './text.ts';

export type Flavour = 'openai' | 'anthropic';

// Ids are random (like the real APIs); only generated content is deterministic. Random bytes
// are drawn from a pooled buffer so an id costs no system call.
const POOL_SIZE = 8192;
let pool = randomBytes(POOL_SIZE);
let poolOffset = 0;
function nextByte(): number {
  if (poolOffset >= POOL_SIZE) {
    pool = randomBytes(POOL_SIZE);
    poolOffset = 0;
  }
  return pool[poolOffset++];
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const HEX = '0123456789abcdef';

function randomFrom(alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[nextByte() % alphabet.length];
  return out;
}

/** Id formats as the real APIs issue them (prefix and length). */
export const ids = {
  /** `chatcmpl-` + 29 alphanumerics. */
  chatCompletion: () => 'chatcmpl-' + randomFrom(ALNUM, 29),
  /** `call_` + 24 alphanumerics (Chat Completions and Responses tool calls). */
  toolCall: () => 'call_' + randomFrom(ALNUM, 24),
  /** `resp_` + 48 hex. */
  response: () => 'resp_' + randomFrom(HEX, 48),
  /** Responses API output items: `msg_`, `rs_`, `fc_`, `cmp_` (a compaction) + 48 hex. */
  outputItem: (prefix: 'msg' | 'rs' | 'fc' | 'cmp') => `${prefix}_` + randomFrom(HEX, 48),
  /** Anthropic `msg_01` + 22 alphanumerics. */
  anthropicMessage: () => 'msg_01' + randomFrom(ALNUM, 22),
  /** Anthropic `toolu_01` + 22 alphanumerics. */
  anthropicToolUse: () => 'toolu_01' + randomFrom(ALNUM, 22),
  /** OpenAI `x-request-id`: `req_` + 32 hex. */
  openaiRequest: () => 'req_' + randomFrom(HEX, 32),
  /** Anthropic `request-id`: `req_011` + 21 alphanumerics. */
  anthropicRequest: () => 'req_011' + randomFrom(ALNUM, 21),
};

/** An error the mock answers with, rendered in the calling API's own JSON format. */
export class MockApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly opts: {
      /** OpenAI `error.type`; defaults by status. */
      openaiType?: string;
      /** OpenAI `error.code`. */
      code?: string | null;
      /** OpenAI `error.param`. */
      param?: string | null;
      /** Anthropic `error.type`; defaults by status. */
      anthropicType?: string;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(message);
  }
}

function defaultOpenAIType(status: number): string {
  if (status === 429) return 'requests';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** Anthropic's documented error type for each status. */
export function anthropicTypeForStatus(status: number): string {
  switch (status) {
    case 400: return 'invalid_request_error';
    case 401: return 'authentication_error';
    case 402: return 'billing_error';
    case 403: return 'permission_error';
    case 404: return 'not_found_error';
    case 413: return 'request_too_large';
    case 429: return 'rate_limit_error';
    case 504: return 'timeout_error';
    case 529: return 'overloaded_error';
    default: return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

/** The error body: OpenAI `{error:{message,type,param,code}}`, Anthropic `{type:"error",error:{type,message},request_id}`. */
export function errorBody(err: MockApiError, flavour: Flavour, requestId: string): string {
  if (flavour === 'anthropic') {
    return JSON.stringify({
      type: 'error',
      error: { type: err.opts.anthropicType ?? anthropicTypeForStatus(err.status), message: err.message },
      request_id: requestId,
    });
  }
  return JSON.stringify({
    error: {
      message: err.message,
      type: err.opts.openaiType ?? defaultOpenAIType(err.status),
      param: err.opts.param ?? null,
      code: err.opts.code ?? null,
    },
  });
}

/** Canonical messages the real APIs use for injected statuses. */
export function injectedError(status: number, flavour: Flavour): MockApiError {
  const headers: Record<string, string> = {};
  if (status === 429 || status === 503 || status === 529) headers['retry-after'] = '1';
  // A 429 carries the rate-limit headers with the meter that refused at 0 and its reset a second
  // away, as both APIs send them (they override the mock's everyday values).
  if (status === 429 && flavour === 'anthropic') {
    headers['anthropic-ratelimit-input-tokens-remaining'] = '0';
    headers['anthropic-ratelimit-tokens-remaining'] = '0';
    const reset = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000).toISOString().replace('.000Z', 'Z');
    headers['anthropic-ratelimit-input-tokens-reset'] = reset;
    headers['anthropic-ratelimit-tokens-reset'] = reset;
  } else if (status === 429) {
    headers['x-ratelimit-remaining-requests'] = '0';
    headers['x-ratelimit-reset-requests'] = '1s';
  }
  if (flavour === 'anthropic') {
    const messages: Record<number, string> = {
      429: 'Number of request tokens has exceeded your per-minute rate limit',
      500: 'Internal server error',
      529: 'Overloaded',
    };
    return new MockApiError(status, messages[status] ?? `Injected upstream failure (status ${status})`, { headers });
  }
  const openai: Record<number, [string, string, string | null]> = {
    429: ['Rate limit reached for requests. Please try again in 1s.', 'requests', 'rate_limit_exceeded'],
    500: ['The server had an error while processing your request. Sorry about that!', 'server_error', null],
    502: ['Bad gateway.', 'server_error', null],
    503: ['The engine is currently overloaded, please try again later.', 'server_error', null],
  };
  const [message, type, code] = openai[status] ?? [`Injected upstream failure (status ${status}).`, defaultOpenAIType(status), null];
  return new MockApiError(status, message, { openaiType: type, code, headers });
}

/** One SSE message with an `event:` line (Anthropic, Responses API). */
export function sseEvent(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** One SSE message with only a `data:` line (Chat Completions). */
export function sseData(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}

export const SSE_DONE = 'data: [DONE]\n\n';

const PAD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * OpenAI's stream obfuscation (`stream_options.include_obfuscation`, on unless the request sets it
 * false): each streamed delta carries `"obfuscation"`, random letters and digits that pad its text
 * to the next multiple of 16 characters (captured streams: `"Hello"` with 11, `"!"` with 15), so
 * an observer of encrypted traffic cannot read token lengths off the record sizes. Returns the
 * JSON member to splice before the event's closing brace (with its comma), or '' when off.
 */
export function obfuscationPad(next: (() => number) | null, textLength: number): string {
  return next === null ? '' : `,"obfuscation":"${obfuscationText(next, textLength)}"`;
}

/** The padding itself (see obfuscationPad). */
export function obfuscationText(next: () => number, textLength: number): string {
  const n = 16 - (textLength % 16);
  let pad = '';
  for (let i = 0; i < n; i++) pad += PAD_ALPHABET[next() % PAD_ALPHABET.length];
  return pad;
}

/** The random source of a stream's obfuscation (seeded: the mock's output is deterministic), or null when the request turned it off. */
export function obfuscationSource(streamOptions: unknown, seed: number): (() => number) | null {
  const off = streamOptions !== null && typeof streamOptions === 'object' && (streamOptions as Record<string, unknown>).include_obfuscation === false;
  if (off) return null;
  const rng = new Rng(seed ^ 0x0bf05ca7);
  return () => rng.nextU32();
}
