/**
 * The interaction's first phase, admission: who is calling (the API key), then whether the request
 * can be served at all (a JSON object, not too many items, a model that is routed, the fields each
 * API requires), and the request as its event will describe it.
 */
import type { FastifyRequest } from 'fastify';
import { WardenError } from '../errors/index.ts';
import type { ApiFlavour } from '../events/index.ts';
import type { AuthContext, KeyScope } from '../identity/types.ts';
import { apiKeyFromHeaders, missingKeyError } from '../identity/headers.ts';
import { MAX_REQUEST_ITEMS, extractRequestFeatures, requestItems } from './request-features.ts';
import type { PipelineDeps, Run } from './interaction-state.ts';
import type { ClientNetwork } from './lifecycle.ts';
import { describeUpload } from './upload-body.ts';

/** The API key from `Authorization: Bearer` (OpenAI) or `x-api-key` (Anthropic); throws when they differ. */
export const extractApiKey = apiKeyFromHeaders;
/** The refusal of a request without a key, naming an Authorization header sent without "Bearer". */
export const missingApiKeyError = missingKeyError;

export async function authenticateRequest(deps: Pick<PipelineDeps, 'authenticator'>, headers: FastifyRequest['headers'], scope: KeyScope): Promise<AuthContext> {
  const secret = extractApiKey(headers);
  if (!secret) throw missingKeyError(headers);
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

/** The client's network as the hooks find it (its ASN: `clientNetwork`), for limits decided outside the pipeline. */
export function clientNetworkOf(deps: Pick<PipelineDeps, 'hooks'>, clientIp: string): ClientNetwork {
  for (const h of deps.hooks) {
    const n = h.clientNetwork?.(clientIp);
    if (n) return n;
  }
  return { asn: null };
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

/** Identity, then the request's own checks, then its upstream: refuses (throws) what cannot be served. */
export async function admitRequest(deps: PipelineDeps, run: Run, req: FastifyRequest): Promise<void> {
  const { ctx } = run;
  const { flavour, wire, body } = ctx;
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
  run.request = extractRequestFeatures(flavour, body, run.bodyBytes, deps.features, run.docs);
  if (run.upload) describeUpload(run.request, run.upload, flavour);
  if (!ctx.model) throw new WardenError('WARDEN_MODEL_REQUIRED', 'You must provide a model parameter.', { param: 'model' });
  refuseLongModel(body);
  validateShape(flavour, body);
  // A compaction answers at once, whole: it has no stream, no background mode and no output budget
  // (the API refuses them as unknown parameters; refused here as it does, before any quota is spent).
  if (ctx.compaction) {
    run.request.compaction = true;
    for (const param of ['stream', 'background', 'max_output_tokens'] as const) {
      if (body[param] !== undefined && body[param] !== null) throw new WardenError('WARDEN_INVALID_REQUEST', `Unknown parameter: '${param}'.`, { param });
    }
  }
  run.upstream = deps.router.route(ctx.model, wire);
  if (!run.upstream) {
    throw new WardenError('WARDEN_MODEL_NOT_FOUND', `The model \`${ctx.model}\` does not exist or you do not have access to it.`, { param: 'model' });
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
  'openai.images': ['n', 'partial_images', 'output_compression'],
  'openai.image_edits': ['n', 'partial_images', 'output_compression'],
  'openai.image_variations': ['n'],
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
  } else if (flavour === 'openai.embeddings' || flavour === 'openai.moderations') {
    if (body.input === undefined || body.input === null) throw new WardenError('WARDEN_INVALID_REQUEST', "Missing required parameter: 'input'.", { param: 'input' });
  } else if (flavour === 'openai.speech') {
    if (typeof body.input !== 'string' || body.input === '') throw new WardenError('WARDEN_INVALID_REQUEST', "Missing required parameter: 'input'.", { param: 'input' });
  } else if (flavour === 'openai.images' || flavour === 'openai.image_edits') {
    if (typeof body.prompt !== 'string' || body.prompt === '') throw new WardenError('WARDEN_INVALID_REQUEST', "Missing required parameter: 'prompt'.", { param: 'prompt' });
  } else if (flavour === 'openai.transcriptions' || flavour === 'openai.translations' || flavour === 'openai.image_variations') {
    // The file was checked as it was read (src/gateway/uploads.ts); the rest is the upstream's to judge.
  } else if (flavour === 'anthropic.messages') {
    if (!Array.isArray(body.messages)) throw new WardenError('WARDEN_INVALID_REQUEST', 'messages: Field required', { param: 'messages' });
    if (body.max_tokens === undefined) throw new WardenError('WARDEN_INVALID_REQUEST', 'max_tokens: Field required', { param: 'max_tokens' });
    if (!Number.isInteger(body.max_tokens)) throw new WardenError('WARDEN_INVALID_REQUEST', 'max_tokens: Input should be a valid integer', { param: 'max_tokens' });
    const thinking = body.thinking;
    if (thinking && typeof thinking === 'object' && 'budget_tokens' in thinking && !Number.isInteger((thinking as Record<string, unknown>).budget_tokens)) {
      throw new WardenError('WARDEN_INVALID_REQUEST', 'thinking.budget_tokens: Input should be a valid integer', { param: 'thinking.budget_tokens' });
    }
  } else if (body.input == null && body.previous_response_id == null && body.prompt == null && body.conversation == null) {
    // A stored prompt's template holds the messages (and a conversation its items): the API then takes no input.
    throw new WardenError('WARDEN_INVALID_REQUEST', "Missing required parameter: 'input'.", { param: 'input' });
  }
}
