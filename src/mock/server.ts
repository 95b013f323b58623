/**
 * The mock upstream's HTTP server: routing, credentials, the `anthropic-version` check, latency,
 * token-rate pacing, failure injection and request recording. Endpoint bodies come from the
 * per-API handlers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { handleCountTokens, handleMessages } from './anthropic-messages.ts';
import { isRecord, type HandlerContext, type Reply } from './context.ts';
import { anthropicModelObject, isAnthropicModel, ModelCatalogue } from './models.ts';
import { PromptCache } from './prompt-cache.ts';
import { handleChatCompletions } from './openai-chat.ts';
import { handleCompletions } from './openai-completions.ts';
import { handleEmbeddings, loadEmbeddingTokenizer } from './openai-embeddings.ts';
import { handleCompact, handleInputTokens, handleResponses } from './openai-responses.ts';
import { handleModerations } from './openai-moderations.ts';
import { handleImageGenerations } from './openai-images.ts';
import { handleSpeech } from './openai-speech.ts';
import { handleTranscriptions, handleTranslations } from './openai-audio.ts';
import { handleImageEdits, handleImageVariations } from './openai-image-edits.ts';
import { parseForm } from './form.ts';
import { paceStream, type StreamFault } from './pacer.ts';
import { StoredChatCompletions } from './stored-chat.ts';
import { errorBody, ids, injectedError, MockApiError, type Flavour } from './wire.ts';

export interface MockUpstreamOptions {
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** Port; 0 (the default) lets the OS choose. */
  port?: number;
  /** Delay before the first byte of every API response, ms. Default 0. */
  latencyMs?: number;
  /**
   * Output tokens per second. Streams are paced at this rate; non-streaming answers are held
   * back for as long as generating them would take. 0 (the default): as fast as possible.
   */
  tokensPerSecond?: number;
  /** Mixed into every content hash: another seed, other (equally deterministic) answers. Default 0. */
  seed?: number;
  /**
   * Credential the mock requires (OpenAI `Authorization: Bearer`, Anthropic `x-api-key` or
   * Bearer), to test that a gateway forwards upstream credentials. Default: none required.
   */
  apiKey?: string | null;
  /** Accepted model names: exact names or `*` patterns. Default: DEFAULT_MODEL_PATTERNS. */
  models?: readonly string[];
  /** What `GET /v1/models` lists. Default: the exact names of `models`, else DEFAULT_LISTED_MODELS. */
  listedModels?: readonly string[];
  /** Natural answer length range, tokens (before max_tokens). Default [16, 96]. */
  answerTokens?: readonly [number, number];
  /** Natural reasoning length range at medium effort, tokens. Default [64, 192]. */
  reasoningTokens?: readonly [number, number];
  /** Honour the per-request `x-mock-*` control headers. Default true. */
  controlHeaders?: boolean;
  /** How many recent requests to keep in `received`. Default 100; 0 disables recording. */
  recordRequests?: number;
  /** Largest request body accepted, bytes. Default 32 MiB. */
  bodyLimitBytes?: number;
}

/** Live counters; read them at any time. */
export interface MockUpstreamStats {
  /** Requests received (any route). */
  requests: number;
  /** Requests whose response has not closed yet. */
  inFlight: number;
  /** Responses sent completely. */
  completed: number;
  /** Responses closed before they were complete: client disconnects, and injected hangs, drops and resets. */
  aborted: number;
  /** SSE streams started. */
  streams: number;
  /** Requests that carried a failure directive. */
  faultsInjected: number;
}

/** A request as the mock received it. Credential headers are redacted. */
export interface ReceivedRequest {
  at: number;
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body (or the raw text if it did not parse; undefined for GET). */
  body: unknown;
  /** Whether the credential matched (null when none is required). */
  authorized: boolean | null;
}

export interface MockUpstream {
  /** Base URL without path, e.g. http://127.0.0.1:41234. SDK base URLs: `${url}/v1` (OpenAI), `url` (Anthropic). */
  url: string;
  host: string;
  port: number;
  stats: MockUpstreamStats;
  /** The most recent requests, oldest first. */
  received: ReceivedRequest[];
  server: Server;
  /** Stops listening, cancels timers and closes every connection (hung ones included). */
  close(): Promise<void>;
}

/** A failure to inject, from the `x-mock-fail` header or a `mock-fail-*` model name. */
export type FaultDirective = { kind: 'status'; status: number } | { kind: 'hang' } | { kind: 'reset' } | StreamFault;

const DEFAULT_FAULT_AFTER = 3;

/**
 * Parses a failure directive: `500` / `status:500`, `hang`, `reset`, `stall[:N]`, `drop[:N]`,
 * `error[:N]` (N token events are sent first; default 3). Throws on anything else.
 */
export function parseFaultDirective(text: string): FaultDirective {
  const [kindRaw, arg] = text.trim().toLowerCase().split(':', 2);
  const kind = kindRaw ?? '';
  const count = (value: string | undefined): number => {
    if (value === undefined || value === '') return DEFAULT_FAULT_AFTER;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new Error(`invalid event count "${value}"`);
    return n;
  };
  if (/^\d{3}$/.test(kind)) return { kind: 'status', status: Number(kind) };
  if (kind === 'status' && arg !== undefined && /^\d{3}$/.test(arg)) return { kind: 'status', status: Number(arg) };
  if (kind === 'hang') return { kind: 'hang' };
  if (kind === 'reset') return { kind: 'reset' };
  if (kind === 'stall' || kind === 'drop' || kind === 'error') return { kind, after: count(arg) };
  throw new Error(`unknown failure directive "${text.slice(0, 40)}"`);
}

/** `mock-fail-500` -> `500`, `mock-fail-drop-5` -> `drop:5`; null for other names. */
function faultFromModel(model: unknown): string | null {
  if (typeof model !== 'string' || !model.startsWith('mock-fail-')) return null;
  const rest = model.slice('mock-fail-'.length);
  const dash = rest.indexOf('-');
  return dash < 0 ? rest : `${rest.slice(0, dash)}:${rest.slice(dash + 1)}`;
}

const REDACTED_HEADERS = new Set(['authorization', 'x-api-key', 'api-key', 'proxy-authorization', 'cookie']);

function redact(headers: IncomingMessage['headers']): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = REDACTED_HEADERS.has(k) ? '[redacted]' : v;
  return out;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

type Handler = (ctx: HandlerContext) => Reply;

interface Route {
  /** Something the handler needs, loaded on first use: a promise until it is ready, then nothing. */
  ready?: () => Promise<void> | undefined;
  flavour: Flavour;
  handler: Handler;
  /** The body is a multipart form (src/mock/form.ts), not JSON. */
  form?: boolean;
}

const POST_ROUTES: Record<string, Route> = {
  '/v1/chat/completions': { flavour: 'openai', handler: handleChatCompletions },
  '/v1/completions': { flavour: 'openai', handler: handleCompletions },
  '/v1/embeddings': { flavour: 'openai', handler: handleEmbeddings, ready: loadEmbeddingTokenizer },
  '/v1/moderations': { flavour: 'openai', handler: handleModerations },
  '/v1/images/generations': { flavour: 'openai', handler: handleImageGenerations },
  '/v1/audio/speech': { flavour: 'openai', handler: handleSpeech },
  '/v1/audio/transcriptions': { flavour: 'openai', handler: handleTranscriptions, form: true },
  '/v1/audio/translations': { flavour: 'openai', handler: handleTranslations, form: true },
  '/v1/images/edits': { flavour: 'openai', handler: handleImageEdits, form: true },
  '/v1/images/variations': { flavour: 'openai', handler: handleImageVariations, form: true },
  '/v1/responses': { flavour: 'openai', handler: handleResponses },
  '/v1/messages': { flavour: 'anthropic', handler: handleMessages },
  '/v1/messages/count_tokens': { flavour: 'anthropic', handler: handleCountTokens },
  '/v1/responses/input_tokens': { flavour: 'openai', handler: handleInputTokens },
  '/v1/responses/compact': { flavour: 'openai', handler: handleCompact },
};

const OPENAI_STATIC_HEADERS: Record<string, string> = {
  'openai-version': '2020-10-01',
  'x-ratelimit-limit-requests': '30000',
  'x-ratelimit-remaining-requests': '29999',
  'x-ratelimit-reset-requests': '2ms',
  'x-ratelimit-limit-tokens': '150000000',
  'x-ratelimit-remaining-tokens': '149999000',
  'x-ratelimit-reset-tokens': '0s',
};

const ANTHROPIC_STATIC_HEADERS: Record<string, string> = {
  'anthropic-ratelimit-requests-limit': '4000',
  'anthropic-ratelimit-requests-remaining': '3999',
  'anthropic-ratelimit-input-tokens-limit': '2000000',
  'anthropic-ratelimit-input-tokens-remaining': '1999000',
  'anthropic-ratelimit-output-tokens-limit': '400000',
  'anthropic-ratelimit-output-tokens-remaining': '399000',
  // The most restrictive of the token meters, as the API reports it.
  'anthropic-ratelimit-tokens-limit': '400000',
  'anthropic-ratelimit-tokens-remaining': '399000',
};

/** The API's `-reset` headers (RFC 3339, whole seconds): every meter full again by the next second. */
function anthropicResets(): Record<string, string> {
  const reset = new Date(Math.ceil(Date.now() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
  return {
    'anthropic-ratelimit-requests-reset': reset,
    'anthropic-ratelimit-input-tokens-reset': reset,
    'anthropic-ratelimit-output-tokens-reset': reset,
    'anthropic-ratelimit-tokens-reset': reset,
  };
}

const MISSING_ANTHROPIC_VERSION = () => new MockApiError(400, 'anthropic-version: header is required');

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function numberHeader(req: IncomingMessage, name: string): number | null {
  const v = headerValue(req, name);
  if (v === undefined) return null;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new MockApiError(400, `Invalid ${name} header: expected a non-negative number.`);
  return n;
}

/** Starts the mock upstream and resolves once it is listening. */
export async function createMockUpstream(opts: MockUpstreamOptions = {}): Promise<MockUpstream> {
  const host = opts.host ?? '127.0.0.1';
  const latencyMs = opts.latencyMs ?? 0;
  const tokensPerSecond = opts.tokensPerSecond ?? 0;
  const seed = (opts.seed ?? 0) >>> 0;
  const apiKey = opts.apiKey ?? null;
  const catalogue = new ModelCatalogue(opts.models, opts.listedModels);
  const promptCache = new PromptCache();
  const answerTokens = opts.answerTokens ?? ([16, 96] as const);
  const reasoningTokens = opts.reasoningTokens ?? ([64, 192] as const);
  const controlHeaders = opts.controlHeaders ?? true;
  const recordLimit = opts.recordRequests ?? 100;
  const bodyLimit = opts.bodyLimitBytes ?? 32 * 1024 * 1024;
  if (latencyMs < 0 || tokensPerSecond < 0) throw new RangeError('latencyMs and tokensPerSecond must be >= 0');
  if (answerTokens[0] < 0 || answerTokens[1] < answerTokens[0]) throw new RangeError('answerTokens must be [min, max] with 0 <= min <= max');
  if (reasoningTokens[0] < 0 || reasoningTokens[1] < reasoningTokens[0]) throw new RangeError('reasoningTokens must be [min, max] with 0 <= min <= max');

  const stats: MockUpstreamStats = { requests: 0, inFlight: 0, completed: 0, aborted: 0, streams: 0, faultsInjected: 0 };
  const received: ReceivedRequest[] = [];
  const cancels = new Set<() => void>();
  let closing = false;

  /** Runs `fn` after `ms` unless the response closes first or the server shuts down. */
  const later = (res: ServerResponse, ms: number, fn: () => void): void => {
    if (ms <= 0) return fn();
    const cancel = () => {
      clearTimeout(timer);
      cancels.delete(cancel);
    };
    const timer = setTimeout(() => {
      cancels.delete(cancel);
      res.off('close', cancel);
      if (!res.destroyed) fn();
    }, ms);
    cancels.add(cancel);
    res.once('close', cancel);
  };

  const baseHeaders = (flavour: Flavour, started: number, contentType: string): Record<string, string> => {
    if (flavour === 'anthropic') {
      return { 'content-type': contentType, 'request-id': ids.anthropicRequest(), ...ANTHROPIC_STATIC_HEADERS, ...anthropicResets() };
    }
    return {
      'content-type': contentType,
      'x-request-id': ids.openaiRequest(),
      'openai-processing-ms': String(Math.round(performance.now() - started)),
      ...OPENAI_STATIC_HEADERS,
    };
  };

  const sendError = (res: ServerResponse, err: MockApiError, flavour: Flavour, started: number): void => {
    if (res.headersSent || res.destroyed) return;
    const headers = baseHeaders(flavour, started, 'application/json');
    const body = errorBody(err, flavour, headers['request-id'] ?? ids.anthropicRequest());
    // Assigned, not spread: see src/gateway/headers.ts.
    Object.assign(headers, err.opts.headers);
    headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(err.status, headers);
    res.end(body);
  };

  const sendJson = (res: ServerResponse, status: number, body: string, flavour: Flavour, started: number): void => {
    if (res.destroyed) return;
    const headers = baseHeaders(flavour, started, 'application/json');
    headers['content-length'] = String(Buffer.byteLength(body));
    res.writeHead(status, headers);
    res.end(body);
  };

  const checkAuth = (req: IncomingMessage, flavour: Flavour): MockApiError | null => {
    if (apiKey === null) return null;
    const bearer = headerValue(req, 'authorization');
    const token = bearer?.startsWith('Bearer ') ? bearer.slice(7).trim() : undefined;
    const xApiKey = headerValue(req, 'x-api-key');
    const presented = flavour === 'anthropic' ? (xApiKey ?? token) : (token ?? xApiKey);
    if (flavour === 'anthropic') {
      if (presented === undefined) return new MockApiError(401, 'x-api-key header is required');
      return safeEqual(presented, apiKey) ? null : new MockApiError(401, 'invalid x-api-key');
    }
    if (presented === undefined) {
      return new MockApiError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
      );
    }
    // The real message echoes a masked key; the mock echoes none of it.
    return safeEqual(presented, apiKey)
      ? null
      : new MockApiError(401, 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.', { code: 'invalid_api_key' });
  };

  const record = (entry: ReceivedRequest): void => {
    if (recordLimit <= 0) return;
    received.push(entry);
    if (received.length > recordLimit) received.shift();
  };

  const handleModels = (req: IncomingMessage, res: ServerResponse, path: string, query: string, started: number): void => {
    // The Anthropic SDK sends anthropic-version; an Anthropic-style key alone (no Bearer) asks in that flavour too.
    const anthropicStyle = req.headers['anthropic-version'] !== undefined || (req.headers['x-api-key'] !== undefined && req.headers.authorization === undefined);
    const flavour: Flavour = anthropicStyle ? 'anthropic' : 'openai';
    const authError = checkAuth(req, flavour);
    record({ at: Date.now(), method: 'GET', path, headers: redact(req.headers), body: undefined, authorized: apiKey === null ? null : authError === null });
    later(res, latencyMs, () => {
      if (authError) return sendError(res, authError, flavour, started);
      // As on every Anthropic endpoint, the version header is required (after the key is checked).
      if (flavour === 'anthropic' && req.headers['anthropic-version'] === undefined) return sendError(res, MISSING_ANTHROPIC_VERSION(), flavour, started);
      if (path === '/v1/models') {
        // The Anthropic API lists only Anthropic's own models.
        const body = flavour === 'anthropic' ? anthropicModelPage(catalogue.listed.filter(isAnthropicModel), new URLSearchParams(query)) : {
          object: 'list', data: catalogue.listed.map((id) => ({ id, object: 'model', created: 1735689600, owned_by: 'warden-mock' })),
        };
        if (body instanceof MockApiError) return sendError(res, body, flavour, started);
        return sendJson(res, 200, JSON.stringify(body), flavour, started);
      }
      let id: string;
      try {
        id = decodeURIComponent(path.slice('/v1/models/'.length));
      } catch {
        id = path.slice('/v1/models/'.length);
      }
      // A retrieval of `mock-fail-status-<n>` answers with that status injected (a gateway forwards
      // no `x-mock-fail`, and asks about a model it has no list entry for on its own).
      const fault = faultFromModel(id);
      if (fault !== null) {
        let parsed: FaultDirective | null = null;
        try { parsed = parseFaultDirective(fault); } catch { /* read as any other id */ }
        if (parsed?.kind === 'status') {
          stats.faultsInjected++;
          return sendError(res, injectedError(parsed.status, flavour), flavour, started);
        }
      }
      if (!catalogue.accepts(id) || (flavour === 'anthropic' && !isAnthropicModel(id))) {
        const err =
          flavour === 'anthropic'
            ? new MockApiError(404, `model: ${id.slice(0, 200)}`)
            : new MockApiError(404, `The model '${id.slice(0, 200)}' does not exist`, { code: 'model_not_found', param: 'model' });
        return sendError(res, err, flavour, started);
      }
      const body =
        flavour === 'anthropic'
          ? anthropicModelObject(id)
          : { id, object: 'model', created: 1735689600, owned_by: 'warden-mock' };
      sendJson(res, 200, JSON.stringify(body), flavour, started);
    });
  };

  /** Responses stored by `POST /v1/responses` (bounded: the oldest go first). */
  const storedResponses = new Map<string, { response: Record<string, unknown>; input: Record<string, unknown>[]; context: readonly Record<string, unknown>[] }>();
  const STORED_MAX = 10_000;
  const keepStored = (s: NonNullable<Reply['stored']>): void => {
    if (storedResponses.size >= STORED_MAX) storedResponses.delete(storedResponses.keys().next().value!);
    storedResponses.set(s.id, { response: s.response, input: s.input, context: s.context });
  };

  /**
   * A read of something stored whose id is `mock-fail-<directive>` (`/v1/responses/mock-fail-status-429`):
   * its status, hang or reset injected, as a model name injects it on the model routes (a gateway
   * forwards no `x-mock-fail`, and a read names no model). True when the failure was sent.
   */
  const injectedOnStored = (req: IncomingMessage, res: ServerResponse, path: string, started: number): boolean => {
    const segment = path.split('/').find((s) => s.startsWith('mock-fail-'));
    const directive = segment === undefined ? null : faultFromModel(segment);
    if (directive === null) return false;
    let fault: FaultDirective;
    try { fault = parseFaultDirective(directive); } catch { return false; }
    // A stream's faults mean nothing to a read: the id is read as any other.
    if (fault.kind !== 'status' && fault.kind !== 'reset' && fault.kind !== 'hang') return false;
    stats.faultsInjected++;
    if (fault.kind === 'status') sendError(res, injectedError(fault.status, 'openai'), 'openai', started);
    else if (fault.kind === 'reset') req.socket.destroy();
    return true; // hang: no headers, ever; closed by the client or by close()
  };

  /** `GET /v1/responses/{id}`, `GET /v1/responses/{id}/input_items` (paged: limit, after, order) and `DELETE /v1/responses/{id}`. */
  const handleStoredResponse = (req: IncomingMessage, res: ServerResponse, method: string, path: string, query: string, started: number): void => {
    const authError = checkAuth(req, 'openai');
    record({ at: Date.now(), method, path, headers: redact(req.headers), body: undefined, authorized: apiKey === null ? null : authError === null });
    later(res, latencyMs, () => {
      if (authError) return sendError(res, authError, 'openai', started);
      if (injectedOnStored(req, res, path, started)) return;
      const rest = path.slice('/v1/responses/'.length);
      const [rawId, sub] = rest.split('/', 2) as [string, string | undefined];
      let id = rawId;
      try { id = decodeURIComponent(rawId); } catch { /* as sent */ }
      const found = storedResponses.get(id);
      if (sub !== undefined && (sub !== 'input_items' || method !== 'GET')) return sendError(res, new MockApiError(404, `Invalid URL (${method} ${path.slice(0, 200)})`), 'openai', started);
      if (!found) return sendError(res, new MockApiError(404, `Response with id '${id.slice(0, 200)}' not found.`), 'openai', started);
      const params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
      if (method === 'DELETE') {
        storedResponses.delete(id);
        return sendJson(res, 200, JSON.stringify({ id, object: 'response', deleted: true }), 'openai', started);
      }
      if (sub === undefined) {
        if (params.get('stream') === 'true') return sendError(res, new MockApiError(400, 'Streaming is only available for background responses.', { param: 'stream' }), 'openai', started);
        return sendJson(res, 200, JSON.stringify(found.response), 'openai', started);
      }
      const limit = Math.min(100, Math.max(1, Number(params.get('limit') ?? 20) || 20));
      let items = params.get('order') === 'asc' ? found.input : [...found.input].reverse();
      const after = params.get('after');
      if (after) { const k = items.findIndex((x) => x.id === after); items = k < 0 ? [] : items.slice(k + 1); }
      const page = items.slice(0, limit);
      sendJson(res, 200, JSON.stringify({ object: 'list', data: page, first_id: page[0]?.id ?? null, last_id: page.at(-1)?.id ?? null, has_more: items.length > limit }), 'openai', started);
    });
  };

  const storedChats = new StoredChatCompletions();
  /** Stored Chat Completions (src/mock/stored-chat.ts): list, retrieve, update, delete, messages. */
  const handleStoredChat = (req: IncomingMessage, res: ServerResponse, method: string, path: string, query: string, started: number): void => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => { size += chunk.length; if (size <= 1_000_000) chunks.push(chunk); });
    req.on('end', () => {
      const authError = checkAuth(req, 'openai');
      let body: unknown;
      try { body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined; } catch { body = null; }
      record({ at: Date.now(), method, path, headers: redact(req.headers), body, authorized: apiKey === null ? null : authError === null });
      later(res, latencyMs, () => {
        if (authError) return sendError(res, authError, 'openai', started);
        if (injectedOnStored(req, res, path, started)) return;
        try {
          sendJson(res, 200, JSON.stringify(storedChats.answer(method, path, new URLSearchParams(query), body)), 'openai', started);
        } catch (err) {
          if (!(err instanceof MockApiError)) throw err;
          sendError(res, err, 'openai', started);
        }
      });
    });
  };

  /** `form`: a multipart body as parsed (null: it did not parse); absent: the body is JSON. */
  const respond = (req: IncomingMessage, res: ServerResponse, route: Route, path: string, raw: Buffer, started: number, form?: Record<string, unknown> | null): void => {
    const flavour = route.flavour;
    const authError = checkAuth(req, flavour);
    let parsed: unknown = form;
    let parseFailed = form === null;
    if (form === undefined) {
      const text = raw.toString('utf8');
      try {
        parsed = JSON.parse(text);
      } catch {
        parseFailed = true;
        parsed = text;
      }
    }
    record({ at: Date.now(), method: 'POST', path, headers: redact(req.headers), body: parsed, authorized: apiKey === null ? null : authError === null });

    let fault: FaultDirective | null = null;
    let reply: Reply | null = null;
    let replyError: MockApiError | null = authError;
    let requestLatency = latencyMs;
    let requestRate = tokensPerSecond;
    try {
      if (replyError) throw replyError;
      if (flavour === 'anthropic' && req.headers['anthropic-version'] === undefined) throw MISSING_ANTHROPIC_VERSION();
      if (parseFailed && form === null) throw new MockApiError(400, "Invalid Content-Type header: expected multipart/form-data with the request's fields and file.");
      if (parseFailed) {
        throw flavour === 'anthropic'
          ? new MockApiError(400, 'There was an issue with the format or content of your request. The request body is not valid JSON.')
          : new MockApiError(
              400,
              "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
            );
      }
      if (!isRecord(parsed)) {
        throw flavour === 'anthropic'
          ? new MockApiError(400, 'Input should be a valid dictionary')
          : new MockApiError(400, 'Invalid type for request body: expected an object.', { code: 'invalid_type' });
      }
      const directive = (controlHeaders ? headerValue(req, 'x-mock-fail') : undefined) ?? faultFromModel(parsed.model);
      if (directive !== undefined && directive !== null) {
        try {
          fault = parseFaultDirective(directive);
        } catch (err) {
          throw new MockApiError(400, `Invalid failure directive: ${(err as Error).message}.`);
        }
        stats.faultsInjected++;
      }
      let answerOverride: number | null = null;
      let reasoningOverride: number | null = null;
      let omitUsage = false;
      if (controlHeaders) {
        requestLatency = numberHeader(req, 'x-mock-latency-ms') ?? latencyMs;
        requestRate = numberHeader(req, 'x-mock-tokens-per-second') ?? tokensPerSecond;
        const out = numberHeader(req, 'x-mock-output-tokens');
        answerOverride = out === null ? null : Math.floor(out);
        const thought = numberHeader(req, 'x-mock-reasoning-tokens');
        reasoningOverride = thought === null ? null : Math.floor(thought);
        const omit = headerValue(req, 'x-mock-omit-usage');
        omitUsage = omit !== undefined && omit !== '0' && omit !== 'false';
      }
      if (fault === null || fault.kind !== 'status') {
        reply = route.handler({
          body: parsed,
          headers: req.headers,
          catalogue,
          seed,
          answerTokens,
          reasoningTokens,
          answerTokensOverride: answerOverride,
          reasoningTokensOverride: reasoningOverride,
          omitUsage,
          promptCache,
          isStoredResponse: (id) => storedResponses.has(id),
          responseContext: (id) => storedResponses.get(id)?.context,
        });
      }
    } catch (err) {
      if (!(err instanceof MockApiError)) throw err;
      replyError = err;
    }

    if (reply?.stored && fault === null) keepStored(reply.stored);
    if (reply?.storedChat && fault === null) storedChats.keep(reply.storedChat.completion, reply.storedChat.messages);
    later(res, requestLatency, () => {
      if (replyError) return sendError(res, replyError, flavour, started);
      if (fault?.kind === 'status') return sendError(res, injectedError(fault.status, flavour), flavour, started);
      if (fault?.kind === 'hang') return; // no headers, ever; closed by the client or by close()
      if (fault?.kind === 'reset') return void req.socket.destroy();
      if (!reply) return;
      const streamFault = fault && (fault.kind === 'stall' || fault.kind === 'drop' || fault.kind === 'error') ? fault : null;
      if (reply.frames) {
        stats.streams++;
        const headers = baseHeaders(flavour, started, 'text/event-stream; charset=utf-8');
        headers['cache-control'] = 'no-cache';
        res.writeHead(200, headers);
        let registered: (() => void) | null = null;
        const paced = paceStream(res, reply.frames, {
          tokensPerSecond: requestRate,
          fault: streamFault,
          errorFrame: reply.errorFrame,
          onDone: () => {
            if (registered) cancels.delete(registered);
          },
        });
        // With no rate limit the stream may already be over; otherwise close() must be able to stop it.
        if (!res.writableEnded && !res.destroyed) {
          registered = paced.cancel;
          cancels.add(registered);
        }
        return;
      }
      if (reply.binary) {
        const headers = baseHeaders(flavour, started, reply.binary.contentType);
        headers['content-length'] = String(reply.binary.data.length);
        res.writeHead(200, headers);
        return void res.end(reply.binary.data);
      }
      const body = reply.body ?? '';
      const generationMs = requestRate > 0 ? (reply.outputTokens * 1000) / requestRate : 0;
      later(res, generationMs, () => {
        if (streamFault?.kind === 'error') return sendError(res, injectedError(500, flavour), flavour, started);
        if (streamFault) {
          // Headers promise the whole body; half of it arrives, then the stall or the drop.
          const bytes = Buffer.from(body);
          const headers = baseHeaders(flavour, started, 'application/json');
          headers['content-length'] = String(bytes.length);
          res.writeHead(200, headers);
          const half = bytes.subarray(0, bytes.length >> 1);
          if (streamFault.kind === 'drop') res.write(half, () => res.destroy());
          else res.write(half);
          return;
        }
        sendJson(res, 200, body, flavour, started);
      });
    });
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    stats.requests++;
    stats.inFlight++;
    res.once('close', () => {
      stats.inFlight--;
      if (res.writableFinished) stats.completed++;
      else stats.aborted++;
    });
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const method = req.method ?? 'GET';

    if (closing) {
      res.writeHead(503, { connection: 'close' });
      res.end();
      return;
    }
    if (method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
      return;
    }
    if (method === 'GET' && (path === '/v1/models' || path.startsWith('/v1/models/'))) {
      req.resume();
      return handleModels(req, res, path, q < 0 ? '' : rawUrl.slice(q + 1), started);
    }
    if ((method === 'GET' || method === 'DELETE') && path.startsWith('/v1/responses/')) {
      req.resume();
      return handleStoredResponse(req, res, method, path, rawUrl.slice(path.length), started);
    }
    if ((method === 'GET' && path === '/v1/chat/completions') || path.startsWith('/v1/chat/completions/')) {
      return handleStoredChat(req, res, method, path, q < 0 ? '' : rawUrl.slice(q + 1), started);
    }
    const route = method === 'POST' ? POST_ROUTES[path] : undefined;
    if (!route) {
      req.resume();
      const flavour: Flavour = path.startsWith('/v1/messages') || req.headers['anthropic-version'] !== undefined ? 'anthropic' : 'openai';
      const err = flavour === 'anthropic' ? new MockApiError(404, 'Not Found') : new MockApiError(404, `Invalid URL (${method} ${path.slice(0, 200)})`);
      return sendError(res, err, flavour, started);
    }

    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > bodyLimit) {
        tooLarge = true;
        chunks.length = 0;
        res.setHeader('connection', 'close');
        sendError(res, new MockApiError(413, 'Request exceeds the maximum allowed number of bytes.', { anthropicType: 'request_too_large' }), route.flavour, started);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge || res.destroyed) return;
      const raw = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      const go = (form?: Record<string, unknown> | null) => {
        try {
          respond(req, res, route, path, raw, started, form);
        } catch {
          sendError(res, new MockApiError(500, 'The server had an error while processing your request.'), route.flavour, started);
        }
      };
      if (route.form) {
        const type = headerValue(req, 'content-type') ?? '';
        const parsing = type.startsWith('multipart/form-data') ? parseForm(raw, type) : Promise.resolve(null);
        parsing.then((form) => go(form), () => go(null));
        return;
      }
      // A route that needs something loaded first (a tokenizer) waits for it once.
      const waiting = route.ready?.();
      if (waiting) waiting.then(() => go(), () => go()); else go();
    });
    req.on('error', () => res.destroy());
  };

  const server = createServer({ keepAliveTimeout: 30_000 }, onRequest);
  // Long-lived streams and hung requests are part of the job; only close() ends them.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${urlHost}:${address.port}`,
    host: address.address,
    port: address.port,
    stats,
    received,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        for (const cancel of [...cancels]) cancel();
        cancels.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * One page of the Anthropic model list, as the API pages it: `limit` (1-1000, default 20), and
 * `after_id` or `before_id` to continue from a model id of an earlier page.
 */
export function anthropicModelPage(ids: readonly string[], q: URLSearchParams): object | MockApiError {
  const limit = q.has('limit') ? Number(q.get('limit')) : 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return new MockApiError(400, 'limit: Input should be between 1 and 1000');
  let start = 0;
  let end = ids.length;
  const after = q.get('after_id');
  const before = q.get('before_id');
  if (after !== null) start = ids.indexOf(after) + 1;
  if (before !== null) end = Math.max(0, ids.indexOf(before));
  if ((after !== null && start === 0) || (before !== null && !ids.includes(before))) return new MockApiError(400, 'Invalid pagination cursor');
  // before_id pages backwards: the `limit` models just before it.
  if (before !== null && after === null) start = Math.max(0, end - limit);
  else end = Math.min(end, start + limit);
  const page = ids.slice(start, end);
  return {
    data: page.map(anthropicModelObject),
    has_more: before !== null && after === null ? start > 0 : end < ids.length,
    first_id: page[0] ?? null,
    last_id: page[page.length - 1] ?? null,
  };
}
