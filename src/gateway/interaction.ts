/**
 * One model interaction, phase by phase: identity -> policy -> limits -> forward -> output
 * governance -> record. The Fastify routes in server.ts call `handleModelCall`; everything the
 * phases share lives on the InteractionContext.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors as undiciErrors } from 'undici';
import { HeaderPick, UpstreamCall, type BodyConsumer, type UpstreamHead } from './upstream-call.ts';
import type { AnonymousRefusals } from './anonymous-refusals.ts';
import { EVENT_SCHEMA, emptyEnforcement, ulid, type ApiFlavour, type InteractionEvent, type EventRequest } from '../events/index.ts';
import { WardenError, renderErrorBody, requestIdHeaders, toWardenError, type WireFlavour } from '../errors/index.ts';
import type { AuthContext, KeyScope } from '../identity/types.ts';
import { eventAccountFacts } from '../identity/facts.ts';
import { apiKeyFromHeaders } from '../identity/headers.ts';
import type { KeylessFailures } from './keyless-failures.ts';
import { CLIENT_CUT, type ClientCut, type GatewayHooks, type InteractionContext, type OutputTransformer, type SseEvent } from './lifecycle.ts';
import { MAX_REQUEST_ITEMS, addDocumentText, extractRequestFeatures, namesDocuments, promptChars, promptText, requestItems, type FeatureOptions, type PendingDocument } from './request-features.ts';
import type { DocumentReader, DocumentTurn } from '../documents/index.ts';
import { AnswerMeter, upstreamErrorReport, type AnswerSummary } from './usage.ts';
import { SseEventFailed, SseParser, SseScanner, dropUsageNull, formatSse, type ParsedSse, type SseSink } from './sse.ts';
import type { Upstream, UpstreamRouter } from './upstreams.ts';
import type { GatewayMetrics } from './metrics.ts';
import { mergeHeaders } from './headers.ts';
import { clientAddress } from './client-address.ts';
import { ClientWriteWatch } from './client-write-watch.ts';

/** Resolves an API key secret to who is calling; throws WardenError for bad keys. */
export interface Authenticator {
  authenticate(secret: string): Promise<AuthContext> | AuthContext;
}

export interface PipelineDeps {
  authenticator: Authenticator;
  router: UpstreamRouter;
  hooks: readonly GatewayHooks[];
  metrics: GatewayMetrics;
  features: FeatureOptions;
  /** Most messages, input items, content parts and tools one request may hold (`server.max_request_items`). */
  maxRequestItems?: number;
  /** Which refusals of anonymous requests are recorded (`events.refused_anonymous_per_minute`); all when absent. */
  anonymousRefusals?: AnonymousRefusals;
  /** The limit of requests refused for their key, per address (`limits.keyless_failures_per_minute`). */
  keyless?: KeylessFailures;
  streamMaxDurationMs: number;
  /** How long a client may take none of the answer bytes waiting for it before its connection is closed, ms. */
  writeIdleTimeoutMs: number;
  /** Receives every finished event (the recorder). */
  record(event: InteractionEvent): void;
  /** Reads the PDFs requests carry, for their events (null: PDFs are counted, not read). */
  documents: DocumentReader | null;
  /** The linked cluster an account belongs to (the detector's), for turns at the document reader. */
  clusterOf?: (accountId: string) => string | null;
  /** Events waiting for their PDFs to be read; close() waits for them before the recorder closes. */
  deferred: Set<Promise<void>>;
  /** Interactions not yet recorded; close() waits for them (see `settleInFlight`) before the recorder closes. */
  running: Set<InFlight>;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export const WIRE_OF: Record<ApiFlavour, WireFlavour> = {
  'openai.chat': 'openai',
  'openai.responses': 'openai',
  'anthropic.messages': 'anthropic',
  'openai.completions': 'openai',
  'openai.embeddings': 'openai',
};

const UPSTREAM_PATH: Record<ApiFlavour, string> = {
  'openai.chat': '/v1/chat/completions',
  'openai.responses': '/v1/responses',
  'anthropic.messages': '/v1/messages',
  'openai.completions': '/v1/completions',
  'openai.embeddings': '/v1/embeddings',
};

/** Client request headers passed on to the upstream (everything else, credentials first, stays here). */
const FORWARDED_HEADERS = ['anthropic-version', 'anthropic-beta', 'openai-beta', 'accept-language'];

/**
 * Upstream response headers passed back to the client. `x-should-retry` and `retry-after-ms` are
 * what the official SDKs read first to decide whether and when to retry (then `retry-after`,
 * which is passed on errors only). The upstream's rate-limit headers are not: they describe
 * Warden's upstream account, and Warden's limits send the client's own.
 */
const RETRY_HEADERS = ['x-should-retry', 'retry-after-ms'] as const;
const RETURNED_HEADERS = new HeaderPick(['request-id', 'x-request-id', 'openai-processing-ms', 'openai-version', ...RETRY_HEADERS]);

/** The upstream's retry advice from its response head, for an error Warden answers in its stead. */
function upstreamRetryHeaders(head: UpstreamHead): Record<string, string> {
  const h: Record<string, string> = {};
  if (head.retryAfter !== null) h['retry-after'] = head.retryAfter;
  for (const name of RETRY_HEADERS) if (head.passed[name] !== undefined) h[name] = head.passed[name];
  return h;
}

/** The API key from `Authorization: Bearer` (OpenAI) or `x-api-key` (Anthropic); throws when they differ. */
export const extractApiKey = apiKeyFromHeaders;

export async function authenticateRequest(deps: Pick<PipelineDeps, 'authenticator'>, headers: FastifyRequest['headers'], scope: KeyScope): Promise<AuthContext> {
  const secret = extractApiKey(headers);
  if (!secret) throw new WardenError('WARDEN_MISSING_API_KEY', 'Missing API key. Send it as "Authorization: Bearer <key>" or "x-api-key: <key>".');
  const auth = await deps.authenticator.authenticate(secret);
  const scopes = auth.key.scopes;
  const ok = scopes.includes(scope) || (scope === 'models:read' && scopes.includes('inference'));
  if (!ok) throw new WardenError('WARDEN_INSUFFICIENT_SCOPE', `This API key lacks the "${scope}" scope.`);
  return auth;
}

/**
 * The policy's refusal of an account its verdict bars (suspend, verify), thrown by the `barred`
 * hooks: for routes that answer without running policy (stored responses, the model list), so a
 * barred account is refused on them as on the model endpoints.
 */
export function refuseBarred(deps: Pick<PipelineDeps, 'hooks'>, auth: AuthContext): void {
  for (const h of deps.hooks) h.barred?.(auth);
}

function emptyRequest(bytes: number): EventRequest {
  return {
    stream: false, system: null, messages: [], tools: [], tool_choice: null, bytes,
    params: { max_tokens: null, temperature: null, top_p: null, n: null, logprobs: null, top_logprobs: null, reasoning_effort: null, thinking_budget: null, stop: false, seed: null, response_format: null },
  };
}

/**
 * What hooks see of one interaction. A class, not an object literal: its `signal` is made on first
 * use (an AbortController per request costs measurable time, and no hook reads it so far), and a
 * getter on a literal made every context a slow object.
 */
export class Context implements InteractionContext {
  auth: AuthContext | null = null;
  enforcement = emptyEnforcement();
  readonly responseHeaders: Record<string, string>;
  clientGeo: { country: string | null; asn: number | null } = { country: null, asn: null };
  readonly locals = new Map<string, unknown>();
  batchId: string | null = null;
  /** Why the interaction was aborted (client gone, stream too long, over with the answer unread); null if it was not. */
  abortReason: Error | null = null;
  private controller: AbortController | null = null;

  constructor(
    readonly id: string, readonly startedAt: number, readonly flavour: ApiFlavour, readonly wire: WireFlavour,
    readonly clientIp: string, readonly userAgent: string | null, readonly headers: InteractionContext['headers'],
    public model: string, public body: Record<string, unknown>, readonly stream: boolean,
  ) {
    this.responseHeaders = { 'x-warden-request-id': id };
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  abort(reason: Error): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}

/** An interaction under way, as close() sees it. */
export type InFlight = Run;

/** State of one interaction beyond what hooks see. */
interface Run {
  ctx: Context;
  /** The upstream request, once dispatched (its `sentAt`: once written to the upstream). */
  call: UpstreamCall | null;
  request: EventRequest;
  upstream: Upstream | null;
  meter: AnswerMeter;
  status: number;
  errorCode: string | null;
  ttfbMs: number | null;
  finished: boolean;
  /** The PDFs of the request being read: resolves to what adds their text to the event (before it is recorded). */
  documents: Promise<() => void> | null;
  /** The PDFs the request carries, as described (read once the limits let the request through). */
  docs: PendingDocument[] | null;
  /** Stream events forwarded to the client (a Responses error event is numbered after them). */
  eventsSent: number;
  /** The upstream's closing event was seen but could not be forwarded (an output transformer failed on it). */
  closingFailed: boolean;
  /** Closes the connection of a client that stops taking its answer. */
  watch: ClientWriteWatch;
  /** The upstream's id of the request (`x-request-id` / `request-id`), which the SDKs show the app for an answer the upstream made. */
  upstreamRequestId: string | null;
}

/** Abort the interaction: the upstream call if one is in flight, and `ctx.signal` if a hook holds it. */
function abortRun(run: Run, reason: Error): void {
  if (run.ctx.abortReason) return;
  run.ctx.abort(reason);
  run.call?.abort(reason);
}

/**
 * Longest model name taken. Real names are far shorter; a customer's megabyte-long name would
 * otherwise be matched against every policy pattern and recorded whole in the event and ledger.
 */
export const MAX_MODEL_CHARS = 256;

/** The request's model name, cut to MAX_MODEL_CHARS (what is recorded when it is refused as too long). */
export function modelField(body: unknown): string {
  const m = body && typeof body === 'object' ? (body as Record<string, unknown>).model : undefined;
  return typeof m !== 'string' ? '' : m.length > MAX_MODEL_CHARS ? m.slice(0, MAX_MODEL_CHARS) : m;
}

/** Refuse a model name longer than MAX_MODEL_CHARS (400), before routing and policy read it. */
export function refuseLongModel(body: Record<string, unknown>): void {
  const m = body.model;
  if (typeof m === 'string' && m.length > MAX_MODEL_CHARS) {
    throw new WardenError('WARDEN_INVALID_REQUEST', `The model name is ${m.length} characters long; at most ${MAX_MODEL_CHARS} are accepted.`, { param: 'model' });
  }
}

/** Handle POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses or /v1/messages end to end. */
export async function handleModelCall(deps: PipelineDeps, flavour: ApiFlavour, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const startedAt = Date.now();
  const wire = WIRE_OF[flavour];
  const body = (req.body ?? {}) as Record<string, unknown>;
  const bytes = (req as FastifyRequest & { rawBodyBytes?: number }).rawBodyBytes ?? 0;
  const userAgent = req.headers['user-agent'];
  const ctx = new Context(
    ulid(startedAt), startedAt, flavour, wire, clientAddress(req), typeof userAgent === 'string' ? userAgent : null, req.headers,
    modelField(body), body, body.stream === true,
  );
  // A client that stops reading is cut off: recorded as such, its upstream call stopped, and its
  // slot freed by the close handler below, whenever it would have left.
  const watch = new ClientWriteWatch(reply.raw, deps.writeIdleTimeoutMs, () => {
    // An answer handed over whole (a stream ended normally, or by its duration cap) keeps the
    // status and error it was recorded with: only its delivery was cut short.
    if (!reply.raw.writableEnded || !run.status) {
      run.status = 499;
      run.errorCode = 'WARDEN_CLIENT_NOT_READING';
    }
    abortRun(run, new WardenError('WARDEN_CLIENT_NOT_READING', `The client took none of its answer for ${deps.writeIdleTimeoutMs} ms; the connection was closed.`));
  });
  const run: Run = {
    ctx, call: null, request: emptyRequest(bytes), upstream: null, meter: new AnswerMeter(flavour),
    status: 0, errorCode: null, ttfbMs: null, finished: false, documents: null, docs: null, eventsSent: 0, closingFailed: false, watch, upstreamRequestId: null,
  };
  const inflight = deps.metrics.counts.inflight;
  inflight[flavour] = (inflight[flavour] ?? 0) + 1;
  deps.running.add(run);

  // The client going away aborts the upstream request; the interaction is still recorded.
  // Ended by the gateway (`writableEnded`: the whole answer or refusal handed to the socket) is not
  // a disconnect, also where no socket ever flushes it (requests run in process for batches).
  reply.raw.on('close', () => {
    if (!reply.raw.writableEnded && !run.finished) {
      run.status = 499;
      run.errorCode = run.errorCode ?? 'WARDEN_CLIENT_DISCONNECTED';
      abortRun(run, new Error('client disconnected'));
    }
    finish(deps, run);
  });

  try {
    // identity first: a request without a valid key is refused as such, whatever its body
    // (checked before the body was read, on the gateway's routes: src/gateway/server.ts)
    ctx.auth = (req as FastifyRequest & { wardenAuth?: AuthContext }).wardenAuth ?? await authenticateRequest(deps, req.headers, 'inference');
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new WardenError('WARDEN_INVALID_REQUEST', 'The request body must be a JSON object.');
    }
    // Refused before anything is built from it: the work per request grows with its items.
    const items = requestItems(body);
    const maxItems = deps.maxRequestItems ?? MAX_REQUEST_ITEMS;
    if (items > maxItems) {
      const param = Array.isArray(body.messages) ? 'messages' : Array.isArray(body.input) ? 'input' : Array.isArray(body.prompt) ? 'prompt' : 'tools';
      throw new WardenError('WARDEN_INVALID_REQUEST', `The request holds ${items} messages, input items, content parts and tools; at most ${maxItems} are accepted in one request.`, { param });
    }
    // the request, as the event will describe it
    run.docs = deps.documents ? [] : null;
    run.request = extractRequestFeatures(flavour, body, bytes, deps.features, run.docs);
    if (!ctx.model) throw new WardenError('WARDEN_MODEL_REQUIRED', 'You must provide a model parameter.', { param: 'model' });
    refuseLongModel(body);
    validateShape(flavour, body);
    run.upstream = deps.router.route(ctx.model, wire);
    if (!run.upstream) {
      throw new WardenError('WARDEN_MODEL_NOT_FOUND', `The model \`${ctx.model}\` does not exist or you do not have access to it.`, { param: 'model' });
    }
    // policy, then limits
    // A hook that decides at once returns nothing and costs no turn of the microtask queue.
    for (const h of deps.hooks) {
      const pending = h.policy?.(ctx);
      if (pending) await pending;
    }
    // A continued background response names the upstream's answer now (src/batches): the event
    // names the answer the model reads, as that answer's own event does.
    const previous = ctx.body.previous_response_id;
    if (run.request.previous_response_id !== undefined && typeof previous === 'string' && previous.length <= 256) run.request.previous_response_id = previous;
    // Files named by id are in place now (sent inline): the event describes the request as sent.
    if (namesDocuments(run.request)) {
      run.docs = deps.documents ? [] : null;
      run.request = extractRequestFeatures(flavour, ctx.body, bytes, deps.features, run.docs);
    }
    for (const h of deps.hooks) {
      const pending = h.limits?.(ctx);
      if (pending) await pending;
    }
    // PDFs and images are read while the upstream answers; the event waits for their text. (Not for a
    // request refused, nor one whose client has gone: its event is already recorded.)
    if (run.docs && run.docs.length && !run.finished && !ctx.abortReason && !ctx.locals.has('__finished')) {
      run.documents = readDocuments(deps, run.docs, ctx.auth, run.request);
    }
    // forward + output governance
    const transformers: OutputTransformer[] = [];
    for (const h of deps.hooks) {
      const t = h.output?.(ctx);
      if (t) transformers.push(t);
    }
    await forward(deps, run, reply, transformers);
  } catch (err) {
    handleError(deps, run, reply, err);
  }
}

/**
 * The integer fields of each OpenAI flavour that shaping caps and the token reservation reads. A
 * numeric string there would pass both untouched and an upstream that coerces it (vLLM, SGLang)
 * would obey it: such a request is refused, as OpenAI refuses it.
 */
const INTEGER_FIELDS: Partial<Record<ApiFlavour, readonly string[]>> = {
  'openai.chat': ['max_tokens', 'max_completion_tokens', 'n', 'top_logprobs'],
  'openai.completions': ['max_tokens', 'n', 'best_of', 'logprobs'],
  'openai.responses': ['max_output_tokens', 'top_logprobs'],
};

/** What a JSON value is, in the words of OpenAI's type errors ("a string", "a decimal number"). */
function jsonKind(v: unknown): string {
  if (typeof v === 'number') return 'a decimal number';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'a boolean';
  return Array.isArray(v) ? 'an array' : 'an object';
}

/** Refuse a request whose integer fields hold anything else (null is "not given"). */
export function validateIntegerFields(flavour: ApiFlavour, body: Record<string, unknown>): void {
  for (const f of INTEGER_FIELDS[flavour] ?? []) {
    const v = body[f];
    if (v === undefined || v === null || Number.isInteger(v)) continue;
    throw new WardenError('WARDEN_INVALID_REQUEST', `Invalid type for '${f}': expected an integer, but got ${jsonKind(v)} instead.`, { param: f });
  }
}

/** Minimal structural checks, so obviously broken requests fail here with a clear message. */
function validateShape(flavour: ApiFlavour, body: Record<string, unknown>): void {
  validateIntegerFields(flavour, body);
  if (flavour === 'openai.chat') {
    if (!Array.isArray(body.messages) || body.messages.length === 0) {
      throw new WardenError('WARDEN_INVALID_REQUEST', "'messages' must be a non-empty array.", { param: 'messages' });
    }
  } else if (flavour === 'openai.completions') {
    if (body.prompt === undefined || body.prompt === null) throw new WardenError('WARDEN_INVALID_REQUEST', "Missing required parameter: 'prompt'.", { param: 'prompt' });
  } else if (flavour === 'openai.embeddings') {
    if (body.input === undefined || body.input === null) throw new WardenError('WARDEN_INVALID_REQUEST', "Missing required parameter: 'input'.", { param: 'input' });
  } else if (flavour === 'anthropic.messages') {
    if (!Array.isArray(body.messages)) throw new WardenError('WARDEN_INVALID_REQUEST', 'messages: Field required', { param: 'messages' });
    if (body.max_tokens === undefined) throw new WardenError('WARDEN_INVALID_REQUEST', 'max_tokens: Field required', { param: 'max_tokens' });
    if (!Number.isInteger(body.max_tokens)) throw new WardenError('WARDEN_INVALID_REQUEST', 'max_tokens: Input should be a valid integer', { param: 'max_tokens' });
    const thinking = body.thinking;
    if (thinking && typeof thinking === 'object' && 'budget_tokens' in thinking && !Number.isInteger((thinking as Record<string, unknown>).budget_tokens)) {
      throw new WardenError('WARDEN_INVALID_REQUEST', 'thinking.budget_tokens: Input should be a valid integer', { param: 'thinking.budget_tokens' });
    }
  } else if (body.input === undefined && body.previous_response_id === undefined) {
    throw new WardenError('WARDEN_INVALID_REQUEST', "'input' is required.", { param: 'input' });
  }
}

/** Headers of the request to the upstream: the client's API headers, the upstream's own credentials. */
export function upstreamHeaders(ctx: InteractionContext, upstream: Upstream | null): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', accept: ctx.stream ? 'text/event-stream' : 'application/json' };
  for (const name of FORWARDED_HEADERS) {
    const v = ctx.headers[name];
    if (typeof v === 'string') h[name] = v;
  }
  if (ctx.wire === 'anthropic' && !h['anthropic-version']) h['anthropic-version'] = '2023-06-01';
  if (upstream?.apiKey) {
    if (ctx.wire === 'anthropic') h['x-api-key'] = upstream.apiKey;
    else h.authorization = `Bearer ${upstream.apiKey}`;
  }
  return h;
}

/** A failed upstream call as the error the client gets (timeout, unavailable, failed, or why it was aborted). */
export function mapUpstreamFailure(err: unknown, ctx: Pick<Context, 'abortReason'>): WardenError {
  if (ctx.abortReason) {
    const reason = ctx.abortReason;
    if (reason instanceof WardenError) return reason;
    return new WardenError('WARDEN_UPSTREAM_ERROR', 'request aborted', { cause: err });
  }
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    // The upstream had the request and was generating: an SDK's retry (every 5xx is retried
    // otherwise) would start the same long generation again, billed again, and time out again.
    const message = err instanceof undiciErrors.HeadersTimeoutError
      ? "The upstream model API did not answer within this gateway's upstreams[].headers_timeout_ms; not worth retrying as is: stream the answer, or ask the operator to raise the timeout."
      : "The upstream model API went silent mid-answer for longer than this gateway's upstreams[].body_timeout_ms; not worth retrying as is: ask the operator to raise the timeout.";
    return new WardenError('WARDEN_UPSTREAM_TIMEOUT', message, { cause: err, headers: { 'x-should-retry': 'false' } });
  }
  if (err instanceof undiciErrors.ConnectTimeoutError) {
    // Nothing reached the upstream: a retry starts nothing twice.
    return new WardenError('WARDEN_UPSTREAM_TIMEOUT', 'The upstream model API did not answer in time.', { cause: err });
  }
  const code = (err as { code?: string })?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EHOSTUNREACH') {
    return new WardenError('WARDEN_UPSTREAM_UNAVAILABLE', 'The upstream model API is unavailable.', { cause: err });
  }
  return new WardenError('WARDEN_UPSTREAM_ERROR', 'The upstream model API failed.', { cause: err });
}

const JSON_CONTENT = { 'content-type': 'application/json' } as const;
/**
 * How much of an answer may wait in the client's socket buffer before the upstream is paused.
 * Above Node's 16 KiB mark so that an upstream that sends a short answer at once has it forwarded
 * and ended in one write, rather than paused and resumed on 'drain' in between; small enough to
 * bound what a slow reader makes the gateway hold.
 */
const STREAM_BUFFER_BYTES = 64 * 1024;
export const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' } as const;

/** Prompts in a legacy completion's `prompt`: a string or one token-id list is one; a list of strings or of token-id lists, each. */
function promptCount(prompt: unknown): number {
  if (!Array.isArray(prompt) || prompt.length === 0) return 1;
  return typeof prompt[0] === 'number' ? 1 : prompt.length;
}

async function forward(deps: PipelineDeps, run: Run, reply: FastifyReply, transformers: OutputTransformer[]): Promise<void> {
  const { ctx, upstream } = run;
  if (!upstream) return;
  const body = ctx.body;
  // Ask for usage in OpenAI streams; hide the extra usage chunk if the client did not ask for it.
  let stripUsageChunk = false;
  if ((ctx.flavour === 'openai.chat' || ctx.flavour === 'openai.completions') && ctx.stream) {
    const so = (body.stream_options ?? {}) as Record<string, unknown>;
    if (so.include_usage !== true) {
      body.stream_options = Object.assign({}, so, { include_usage: true }); // not a spread: see headers.ts
      stripUsageChunk = true;
    }
    run.meter.usageAsked = true;
  }
  // Each choice gives its own finish reason (n per prompt, and a legacy completion may send
  // several prompts); a stream is whole after the last. Several answers have no one fingerprint.
  if (ctx.flavour === 'openai.chat' || ctx.flavour === 'openai.completions') {
    const n = typeof body.n === 'number' && Number.isInteger(body.n) && body.n > 1 ? body.n : 1;
    run.meter.expectedChoices = n * (ctx.flavour === 'openai.completions' ? promptCount(body.prompt) : 1);
  }
  const call = new UpstreamCall(RETURNED_HEADERS);
  run.call = call;
  upstream.pool.dispatch({
    path: upstream.basePath + UPSTREAM_PATH[ctx.flavour],
    method: 'POST',
    headers: upstreamHeaders(ctx, upstream),
    body: JSON.stringify(body),
    headersTimeout: upstream.headersTimeoutMs,
    bodyTimeout: upstream.bodyTimeoutMs,
  }, call);
  const res = await call.head;
  if (res instanceof Error) throw mapUpstreamFailure(res, run.ctx);
  const passHeaders = res.passed;
  run.upstreamRequestId = passHeaders['x-request-id'] ?? passHeaders['request-id'] ?? null;
  const contentType = res.contentType;
  const isStream = contentType.includes('text/event-stream');

  if (res.statusCode >= 400 || (!isStream && !contentType.includes('json'))) {
    // Upstream error: pass its status and body through (it is already in the right wire format
    // when the upstream speaks the client's API), and note it on the event.
    let text: string;
    try { text = await call.text(); } catch (err) { throw mapUpstreamFailure(err, run.ctx); }
    run.ttfbMs = Date.now() - ctx.startedAt;
    if (res.statusCode < 400) throw new WardenError('WARDEN_UPSTREAM_ERROR', `The upstream model API answered with an unexpected content type (${contentType || 'none'}).`);
    run.status = res.statusCode;
    run.errorCode = 'WARDEN_UPSTREAM_ERROR';
    let parsed: unknown = null;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    if (parsed === null) {
      // Not the API's error body (a load balancer's text, or none): Warden's own error in the
      // client's format, keeping what the SDKs act on: a 429 or 503 status and the retry headers.
      const headers = upstreamRetryHeaders(res);
      const message = `The upstream model API failed with status ${res.statusCode}.`;
      if (res.statusCode === 429) throw new WardenError('WARDEN_UPSTREAM_RATE_LIMITED', message, { headers });
      throw new WardenError('WARDEN_UPSTREAM_ERROR', message, { status: res.statusCode >= 500 && res.statusCode !== 503 ? 502 : res.statusCode, headers });
    }
    const reported = (parsed as Record<string, unknown>).error;
    if (reported && typeof reported === 'object') run.meter.upstreamError = { type: upstreamErrorReport(reported).type, status: res.statusCode };
    const headers = mergeHeaders(passHeaders, ctx.responseHeaders, JSON_CONTENT);
    if (res.retryAfter !== null) headers['retry-after'] = res.retryAfter;
    reply.code(res.statusCode).headers(headers).send(text);
    return;
  }

  if (isStream) {
    await streamAnswer(deps, run, reply, call, transformers, stripUsageChunk, passHeaders);
    return;
  }

  // The answer is read whole: it is metered, and output transformers rewrite it, as one JSON object.
  let raw: Buffer;
  try { raw = await call.bytes(); } catch (err) { throw mapUpstreamFailure(err, run.ctx); }
  run.ttfbMs = Date.now() - ctx.startedAt;
  const text = raw.toString('utf8');
  let answer: Record<string, unknown>;
  try { answer = JSON.parse(text); } catch (err) {
    throw new WardenError('WARDEN_UPSTREAM_ERROR', 'The upstream model API returned malformed JSON.', { cause: err });
  }
  run.meter.observeBody(answer);
  let out: string | Buffer = text;
  if (transformers.length) {
    for (const t of transformers) if (t.json) answer = t.json(answer);
    run.meter.observeSentBody(answer);
    out = JSON.stringify(answer);
  } else if (raw.length > STREAM_BUFFER_BYTES) {
    out = raw; // the upstream's own bytes: no second copy of a large answer
  }
  run.status = res.statusCode;
  const headers = mergeHeaders(passHeaders, ctx.responseHeaders, JSON_CONTENT);
  if (out.length <= STREAM_BUFFER_BYTES) {
    reply.code(res.statusCode).headers(headers).send(out);
    return;
  }
  sendInSlices(run, reply, res.statusCode, headers, typeof out === 'string' ? Buffer.from(out) : out);
}

/**
 * A large answer, written a slice at a time as the client takes it: the socket holds no more than
 * a slice beyond its buffer mark, and a client that stops reading is seen by the write watch
 * (which sees progress slice by slice, where one large write would show none until it is all out).
 */
function sendInSlices(run: Run, reply: FastifyReply, status: number, headers: Record<string, string>, body: Buffer): void {
  const res = reply.raw;
  reply.hijack();
  res.writeHead(status, { ...headers, 'content-length': String(body.length) });
  let offset = 0;
  const pump = (): void => {
    while (offset < body.length) {
      if (res.destroyed) return;
      const slice = body.subarray(offset, offset + STREAM_BUFFER_BYTES);
      offset += slice.length;
      if (!res.write(slice) && offset < body.length) {
        run.watch.waiting();
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/**
 * Warden's own error in a stream already under way, framed as the API's own in-stream errors:
 * Chat Completions and legacy completions a bare `data:` error object; Anthropic an `error`
 * event; Responses an `error` event then `response.failed`, numbered on from the events sent.
 */
function streamErrorEvent(run: Run, err: WardenError): string {
  const { ctx } = run;
  if (ctx.flavour === 'openai.responses') {
    const seq = (run.meter.firstSequence ?? 0) + run.eventsSent;
    const error = { code: err.code, message: err.message };
    const response = {
      id: run.meter.answer, object: 'response', created_at: Math.floor(ctx.startedAt / 1000), status: 'failed',
      error, incomplete_details: null, model: ctx.model, output: [], usage: null,
    };
    return `event: error\ndata: ${JSON.stringify({ type: 'error', code: err.code, message: err.message, param: err.param, sequence_number: seq })}\n\n`
      + `event: response.failed\ndata: ${JSON.stringify({ type: 'response.failed', response, sequence_number: seq + 1 })}\n\n`;
  }
  const body = JSON.stringify(renderErrorBody(err, ctx.wire));
  return ctx.wire === 'anthropic' ? `event: error\ndata: ${body}\n\n` : `data: ${body}\n\n`;
}

function streamAnswer(
  deps: PipelineDeps, run: Run, reply: FastifyReply, call: UpstreamCall,
  transformers: OutputTransformer[], stripUsageChunk: boolean, passHeaders: Record<string, string>,
): Promise<void> {
  const { ctx } = run;
  const res = reply.raw;
  reply.hijack();
  run.status = 200;
  res.writeHead(200, mergeHeaders(passHeaders, ctx.responseHeaders, SSE_HEADERS));
  // The headers go out with the first event (one write instead of two); if the upstream is slow to
  // send one, they go out on their own shortly after, so the client sees the stream has started.
  const headerTimer = setTimeout(() => { if (!res.headersSent && !res.destroyed) res.flushHeaders(); }, 20);
  headerTimer.unref();

  const timer = setTimeout(() => {
    abortRun(run, new WardenError('WARDEN_STREAM_TOO_LONG', `The answer exceeded the maximum stream duration of ${deps.streamMaxDurationMs} ms and was ended.`));
    // Its end (the error event) must go out within the write timeout, however slowly the client reads.
    run.watch.endWithin();
  }, deps.streamMaxDurationMs);
  timer.unref();

  // Backpressure: when the client's socket holds more than STREAM_BUFFER_BYTES, the upstream is
  // paused until it drains (or the client goes away, which aborts the call).
  let waiting = false;
  const onDrain = () => { waiting = false; call.resume(); };
  const write = (out: Buffer | string): boolean => {
    if (res.destroyed) return false;
    if (res.write(out) || res.writableLength <= STREAM_BUFFER_BYTES) return true;
    if (!waiting) { waiting = true; res.once('drain', onDrain); }
    run.watch.waiting();
    return false;
  };
  /** Forward events; false: pause the upstream. */
  const send = (out: Buffer): boolean => {
    // Time to the answer's first event: keep-alive comments (OpenRouter's come at once) do not count.
    if (run.ttfbMs === null && run.eventsSent > 0) run.ttfbMs = Date.now() - ctx.startedAt;
    // Usage was asked for on the client's behalf: each chunk's `"usage":null` goes too.
    return write(stripUsageChunk ? dropUsageNull(out) : out);
  };
  // The event-by-event work every stream needs: usage accounting, and hiding the usage chunk we asked for.
  const other = (ev: SseEvent): boolean => {
    if (ev.data === '[DONE]') { run.meter.done(); return true; }
    if (ev.data === '') return true;
    let data: Record<string, any> | null = null;
    try { data = JSON.parse(ev.data); } catch { data = null; }
    if (!data) return true;
    run.meter.observeEvent(data, ev.event);
    return !(stripUsageChunk && data.usage && Array.isArray(data.choices) && data.choices.length === 0);
  };

  let data: (chunk: Buffer) => boolean;
  /** The upstream ended: what is left of the stream. */
  let tail: () => void;
  /** The stream is over before the upstream ended (what output transformers still hold). */
  let rest: () => void = () => {};
  if (transformers.length === 0) {
    // Nothing rewrites events: scan the upstream's bytes in place and forward them as received.
    const scanner = new SseScanner();
    const sink: SseSink = {
      simple: (c, ds, de, name) => run.meter.scanDelta(c, ds, de, name) && ++run.eventsSent > 0,
      other: (ev) => other(ev) && ++run.eventsSent > 0,
    };
    data = (chunk) => {
      const out = scanner.push(chunk, sink);
      return out ? send(out) : !res.destroyed;
    };
    tail = () => {
      const out = scanner.flush(sink);
      if (out) send(out);
    };
  } else {
    const parser = new SseParser({ comments: true });
    const emit = (events: ParsedSse[]): boolean => {
      const out: Buffer[] = [];
      for (const ev of events) {
        const closed = run.meter.closed;
        try {
          emitOne(ev, out);
        } catch (err) {
          if (!closed && run.meter.closed) run.closingFailed = true;
          throw new SseEventFailed(err, out.length === 0 ? null : out.length === 1 ? out[0] : Buffer.concat(out));
        }
      }
      return out.length ? send(out.length === 1 ? out[0] : Buffer.concat(out)) : !res.destroyed;
    };
    const emitOne = (ev: ParsedSse, out: Buffer[]): void => {
      if (ev.comment) { out.push(ev.raw); return; } // keep-alive comments: not events, passed on as they are
      if (ev.data === '[DONE]') run.meter.done();
      const simple = ev.data === '[DONE]' || ev.data === '' || run.meter.observeDeltaFast(ev.data, ev.event);
      if (!simple && !other(ev)) return;
      const original: SseEvent = { event: ev.event, data: ev.data };
      let batch: SseEvent[] = [original];
      for (const t of transformers) {
        if (!t.sse) continue;
        const next: SseEvent[] = [];
        for (const e of batch) {
          const r = t.sse(e);
          if (r === null || r === undefined) continue;
          if (Array.isArray(r)) next.push(...r); else next.push(r);
        }
        batch = next;
      }
      run.eventsSent += batch.length;
      for (const e of batch) run.meter.observeSentEvent(e.data, e.event);
      // An event every transformer passed on untouched goes out as the upstream's own bytes.
      if (batch.length === 1 && batch[0] === original) out.push(ev.raw);
      else for (const e of batch) out.push(Buffer.from(formatSse(e)));
    };
    data = (chunk) => emit(parser.push(chunk));
    rest = () => {
      let out = '';
      for (const t of transformers) if (t.flush) for (const e of t.flush()) { out += formatSse(e); run.eventsSent++; run.meter.observeSentEvent(e.data, e.event); }
      if (out) write(out);
    };
    tail = () => {
      emit(parser.flush());
      rest();
    };
  }

  return new Promise<void>((resolve) => {
    const over = () => {
      clearTimeout(timer);
      clearTimeout(headerTimer);
      if (waiting) res.off('drain', onDrain);
      resolve();
    };
    // An event the meter or a transformer chokes on ends the stream with an error event, as an
    // upstream failure does; the events before it in the same chunk were accepted and go out first.
    const failed = (err: unknown): unknown => {
      if (!(err instanceof SseEventFailed)) return err;
      if (err.before) send(err.before);
      return err.cause;
    };
    // The stream is ended before the upstream's body (the upstream failed or dropped, the duration
    // cap, an event that could not be handled). After the upstream's closing event the answer is
    // whole: it ends as it would have, with what the output transformers still hold, and no error.
    const cut = (err: unknown): void => {
      if (!run.meter.closed || run.closingFailed || res.destroyed || res.writableEnded) {
        streamFailed(deps, run, res, err);
        return;
      }
      try { rest(); } catch { /* the answer went out whole; what a transformer held back is lost */ }
      run.finished = true;
      res.end();
    };
    const consumer: BodyConsumer = {
      // (This also runs from the client socket's 'drain', outside undici.)
      data: (chunk) => {
        try {
          return data(chunk);
        } catch (err) {
          const cause = failed(err);
          cut(cause);
          call.abort(cause instanceof Error ? cause : new Error(String(cause)));
          over();
          return false;
        }
      },
      end: () => {
        try {
          tail();
          run.finished = true;
          res.end();
        } catch (err) {
          cut(failed(err));
        }
        over();
      },
      error: (err) => {
        cut(err);
        over();
      },
    };
    call.consume(consumer);
  });
}

/** The upstream failed mid-stream: tell the client in-band and close. */
function streamFailed(deps: PipelineDeps, run: Run, res: FastifyReply['raw'], err: unknown): void {
  if (res.destroyed || res.writableEnded) return; // client went away: recorded by the close handler
  const werr = mapUpstreamFailure(err, run.ctx);
  run.errorCode = werr.code;
  run.status = werr.status;
  deps.log.warn({ id: run.ctx.id, code: werr.code }, 'stream ended by error');
  res.write(streamErrorEvent(run, werr));
  run.finished = true;
  res.end();
}

function handleError(deps: PipelineDeps, run: Run, reply: FastifyReply, err: unknown): void {
  const werr = toWardenError(err);
  if (werr.code === 'WARDEN_INTERNAL') deps.log.error({ id: run.ctx.id, err }, 'internal error');
  run.errorCode = werr.code;
  if (reply.raw.headersSent || reply.sent) {
    // already streaming: tell the client in-band and close
    if (!reply.raw.destroyed) {
      reply.raw.write(streamErrorEvent(run, werr));
      reply.raw.end();
    }
    return;
  }
  if (reply.raw.destroyed) return;
  run.status = werr.status;
  reply
    .code(werr.status)
    .headers(mergeHeaders(run.ctx.responseHeaders, requestIdHeaders(run.ctx.id), werr.headers, JSON_CONTENT))
    .send(JSON.stringify(renderErrorBody(werr, run.ctx.wire, run.ctx.id)));
}

/** Build the event, run onEnd/onEvent hooks, record. Runs exactly once per interaction. */
function finish(deps: PipelineDeps, run: Run): void {
  if (run.ctx.locals.has('__finished')) return;
  run.ctx.locals.set('__finished', true);
  deps.running.delete(run);
  const { ctx } = run;
  deps.metrics.counts.inflight[ctx.flavour]--;
  // Cancel an upstream answer still in flight (errors, hooks that threw); a fully read answer has
  // nothing to cancel, and aborting costs an event dispatch through undici's listeners.
  if (!run.call?.done) abortRun(run, new Error('interaction over'));
  const forwarded = run.upstream !== null && run.ttfbMs !== null;
  let summary: AnswerSummary;
  try {
    summary = forwarded ? run.meter.summary(promptText(run.request), promptChars(run.request)) : {
      input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, usage_source: 'none', tool_calls: 0, finish_reason: null, output_chars: 0, reasoning_chars: 0, answer_id: null, container_id: null,
    };
  } catch {
    summary = { input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, usage_source: 'none', tool_calls: 0, finish_reason: null, output_chars: 0, reasoning_chars: 0, answer_id: null, container_id: null };
  }
  // An error the upstream sent inside a stream it had begun with 200: the answer failed. The SDKs
  // throw on that event and hang up, often before the upstream ends its body: the failure is
  // still the upstream's, not a client disconnect.
  const upstreamError = run.meter.upstreamError;
  if (upstreamError && (run.errorCode === null || run.errorCode === 'WARDEN_CLIENT_DISCONNECTED')) {
    run.errorCode = 'WARDEN_UPSTREAM_ERROR';
    run.status = upstreamError.status;
  }
  const status = run.status || 500;
  const a = ctx.auth;
  const event: InteractionEvent = {
    schema: EVENT_SCHEMA,
    id: ctx.id,
    ts: new Date(ctx.startedAt).toISOString(),
    duration_ms: Date.now() - ctx.startedAt,
    flavour: ctx.flavour,
    model: ctx.model,
    upstream: forwarded ? run.upstream!.name : null,
    account_id: a?.account.id ?? null,
    org_id: a?.org?.id ?? a?.account.org_id ?? null,
    key_id: a?.key.id ?? null,
    client: { ip: ctx.clientIp, user_agent: eventUserAgent(ctx.userAgent), country: ctx.clientGeo.country, asn: ctx.clientGeo.asn },
    request: run.request,
    response: { status, error_code: run.errorCode, ttfb_ms: run.ttfbMs, ...summary },
    account: a ? eventAccountFacts(a) : null,
    enforcement: ctx.enforcement,
  };
  if (ctx.batchId !== null) event.client.batch_id = ctx.batchId;
  if (upstreamError?.type) event.response.upstream_error = upstreamError.type;
  // What an app logs from the SDK (`err.requestID`, `_request_id`) for an answer the upstream made.
  if (run.upstreamRequestId !== null) event.response.upstream_request_id = run.upstreamRequestId.slice(0, 200);
  const m = deps.metrics;
  m.counts.request(ctx.flavour, status, run.errorCode ?? '');
  m.duration.observe({ flavour: ctx.flavour, stream: String(ctx.stream) }, event.duration_ms / 1000);
  if (summary.input_tokens) m.counts.token(ctx.flavour, 'input', summary.input_tokens);
  if (summary.output_tokens) m.counts.token(ctx.flavour, 'output', summary.output_tokens);
  if (summary.reasoning_tokens) m.counts.token(ctx.flavour, 'reasoning', summary.reasoning_tokens);
  // The client left before the upstream's final count: the limits estimate what it spent.
  if (status === 499 && run.call !== null && summary.usage_source !== 'upstream') {
    const cut: ClientCut = { sentAt: run.call.sentAt, reasoningShown: run.meter.reasoningShown, endedAt: Date.now() };
    ctx.locals.set(CLIENT_CUT, cut);
  }
  for (const h of deps.hooks) {
    if (!h.onEnd) continue;
    try { h.onEnd(ctx, event); } catch (err) { deps.log.error({ err, hook: h.name }, 'onEnd hook failed'); }
  }
  if (run.documents) {
    // Recorded (and seen by the detector and the ledger) once its PDFs' text is in. The text is
    // added only now, so that what came before (token estimates, onEnd hooks) never depends on
    // how fast the reading was.
    const later = run.documents.then((addText) => {
      try { addText(); } catch (err) { deps.log.error({ err }, 'adding documents\' text failed'); }
      try { deliver(deps, event); } catch (err) { deps.log.error({ err }, 'recording an event failed'); }
    });
    deps.deferred.add(later);
    void later.finally(() => deps.deferred.delete(later));
    return;
  }
  deliver(deps, event);
}

/**
 * The shutdown's deadline passed with interactions still under way: end each as the stream cap
 * ends one (a stream gets the error in its API's in-stream form, an answer not begun the 503), with
 * `WARDEN_SHUTTING_DOWN`, its end to go out within the write timeout.
 */
export function cutInFlight(deps: PipelineDeps, waitedMs: number): void {
  for (const run of deps.running) {
    if (run.finished) continue;
    abortRun(run, new WardenError('WARDEN_SHUTTING_DOWN', `The gateway is shutting down and ended this answer after waiting ${waitedMs} ms for it; send the request again.`, { headers: { 'retry-after': '1' } }));
    run.watch.endWithin();
  }
}

/**
 * While the gateway closes: wait up to `ms` for the interactions still under way to be recorded
 * (the server's close resolves once its last connection closed, before those responses' own
 * 'close' handlers, which record them, have run), then record what is left as cut off by the
 * shutdown. The recorder and the hooks (the ledger) close after this, not before.
 */
export async function settleInFlight(deps: PipelineDeps, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (deps.running.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  for (const run of [...deps.running]) {
    if (!run.status) run.status = 503;
    run.errorCode = run.errorCode ?? 'WARDEN_SHUTTING_DOWN';
    finish(deps, run);
  }
}

function deliver(deps: PipelineDeps, event: InteractionEvent): void {
  deps.record(event);
  for (const h of deps.hooks) {
    if (!h.onEvent) continue;
    try { h.onEvent(event); } catch (err) { deps.log.error({ err, hook: h.name }, 'onEvent hook failed'); }
  }
}

/** Tiers whose documents wait in the first lane: accounts whose holder is known. */
const TRUSTED_TIERS: ReadonlySet<string> = new Set(['identity_verified', 'enterprise']);

/**
 * Whose turn a request's documents wait for at the reader: the account's linked cluster (one
 * actor to the detector), else its organisation, else the account; in the first lane for
 * accounts whose holder is known (identity-verified, enterprise), the second for the rest. A
 * fleet of new accounts then shares half the reader, and a linked one a single turn in its lane.
 */
export function documentTurn(auth: AuthContext, clusterOf?: (accountId: string) => string | null): DocumentTurn {
  const cluster = clusterOf?.(auth.account.id) ?? null;
  const orgId = auth.org?.id ?? auth.account.org_id ?? null;
  const group = cluster ? `cluster:${cluster}` : orgId ? `org:${orgId}` : `account:${auth.account.id}`;
  return { group, lane: TRUSTED_TIERS.has(auth.tier) ? 0 : 1 };
}

/**
 * Read a request's PDFs and images. Resolves (never rejects) to what adds their text to their
 * messages, which finish() calls once the interaction is over. Their base64 is let go as soon as
 * the reader has taken it.
 */
function readDocuments(deps: PipelineDeps, docs: PendingDocument[], auth: AuthContext, request: EventRequest): Promise<() => void> {
  // Newest first: a conversation resends its earlier turns' documents, and past
  // `documents.max_per_request` it is the old ones that go unread, not the new turn's. (The
  // system and developer messages' documents are collected last, so they are read first: they
  // are sent anew with every request.)
  const newestFirst = docs.map((d) => ({ data: d.data, kind: d.kind })).reverse();
  const reading = deps.documents!.readAll(newestFirst, auth.account.id, documentTurn(auth, deps.clusterOf));
  const messages = docs.map((d) => ({ message: d.message }));
  docs.length = 0;
  return reading.then(
    // Their text within the event's prompt budget too, as the messages' own.
    (readings) => () => addDocumentText(messages, readings.reverse(), deps.features.maxMessageChars, request, deps.features.maxPromptChars),
    (err) => { deps.log.error({ err }, 'reading documents failed'); return () => {}; },
  );
}

/**
 * A refusal of a request that records no interaction (token counting, stored responses): logged
 * when internal, sent in the caller's wire format unless the answer already went. Returns it.
 */
export function refuseSideRequest(deps: PipelineDeps, ctx: Context, reply: FastifyReply, err: unknown): WardenError {
  const werr = toWardenError(err);
  if (werr.code === 'WARDEN_INTERNAL') deps.log.error({ id: ctx.id, err }, 'internal error');
  if (!reply.sent && !reply.raw.destroyed) {
    reply.code(werr.status).headers(mergeHeaders(ctx.responseHeaders, requestIdHeaders(ctx.id), werr.headers, JSON_CONTENT)).send(JSON.stringify(renderErrorBody(werr, ctx.wire, ctx.id)));
  }
  return werr;
}

/** What is known of a request refused before it reached the pipeline. */
export interface EarlyRequest {
  ip: string;
  userAgent: string | null;
  /** Body bytes, as announced (the body may not have been read). */
  bytes: number;
  /** Who called, when the key could be checked. */
  auth: AuthContext | null;
  /** The request's headers, as far as they were read. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** Characters of a User-Agent an event keeps (every event, refused or served). */
export const EVENT_USER_AGENT_CHARS = 1024;
/** A request's User-Agent as its event keeps it: its first `EVENT_USER_AGENT_CHARS` characters. */
export function eventUserAgent(ua: string | null): string | null {
  return ua !== null && ua.length > EVENT_USER_AGENT_CHARS ? ua.slice(0, EVENT_USER_AGENT_CHARS) : ua;
}

/**
 * An event for a request refused before it reached the pipeline (bad JSON, body or headers too
 * large, shutting down), under the id its answer names. Recorded under the caller's account when
 * the key was checked; without one, within `deps.anonymousRefusals` (src/gateway/anonymous-refusals.ts).
 */
export function recordRejectedRequest(deps: PipelineDeps, flavour: ApiFlavour, req: EarlyRequest, err: WardenError, id: string): void {
  const now = Date.now();
  deps.metrics.counts.request(flavour, err.status, err.code);
  const a = req.auth;
  // A key the store could not check (it is unreachable) is not a keyless client: each is recorded.
  if (!a && err.code !== 'WARDEN_STORE_UNAVAILABLE' && deps.anonymousRefusals && !deps.anonymousRefusals.record(req.ip, now)) return;
  const event: InteractionEvent = {
    schema: EVENT_SCHEMA,
    id,
    ts: new Date(now).toISOString(),
    duration_ms: 0,
    flavour,
    model: '',
    upstream: null,
    account_id: a?.account.id ?? null,
    org_id: a?.org?.id ?? a?.account.org_id ?? null,
    key_id: a?.key.id ?? null,
    client: { ip: req.ip, user_agent: eventUserAgent(req.userAgent), country: null, asn: null },
    request: emptyRequest(req.bytes),
    response: { status: err.status, error_code: err.code, input_tokens: 0, output_tokens: 0, reasoning_tokens: 0, usage_source: 'none', tool_calls: 0, finish_reason: null, ttfb_ms: null, output_chars: 0, reasoning_chars: 0, answer_id: null, container_id: null },
    account: a ? eventAccountFacts(a) : null,
    enforcement: emptyEnforcement(),
  };
  for (const h of deps.hooks) {
    try { h.onRefused?.(req.headers, event); } catch { /* never let a hook break error handling */ }
  }
  deps.record(event);
  for (const h of deps.hooks) {
    try { h.onEvent?.(event); } catch { /* never let a hook break error handling */ }
  }
}
