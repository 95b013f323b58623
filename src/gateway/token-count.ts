/**
 * Token counting: Anthropic's `POST /v1/messages/count_tokens` and OpenAI's
 * `POST /v1/responses/input_tokens`, which the official SDKs call (`messages.countTokens`,
 * `responses.inputTokens.count`) and agents call before every turn to fit their context.
 *
 * The path is identity -> policy -> countLimits -> forward (lifecycle.ts): a suspended account, a
 * blocked region or a key without the inference scope is refused as on the model endpoints, but
 * counting spends no model quota and records no interaction event, since nothing is generated.
 * When the upstream has no such endpoint (404, 405, 501: most OpenAI-compatible servers), Warden
 * answers with its own tokenizer's count and says so in `x-warden-token-count: estimated`. A 404
 * whose error is about the model (it does not exist) is the upstream's answer, not a missing
 * endpoint: it goes to the client, in its API's error format.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ulid, type ApiFlavour } from '../events/index.ts';
import { WardenError, type WireFlavour } from '../errors/index.ts';
import { Context, WIRE_OF, type PipelineDeps } from './interaction-state.ts';
import { authenticateRequest, modelField, refuseLongModel } from './admission.ts';
import { credentialRefusal, headOfAnswer, mapUpstreamFailure, upstreamHeaders, withoutProviderAccount } from './upstream-request.ts';
import type { UpstreamHead } from './upstream-call.ts';
import { answerSideRequest } from './error-answer.ts';
import { clientAddress } from './client-address.ts';
import { countTextTokens } from './usage.ts';

export interface TokenCountRoute {
  /** The API whose requests are counted: what policy sees as the flavour. */
  api: ApiFlavour;
  /** Label of `warden_requests_total{flavour}`. */
  label: string;
  upstreamPath: string;
}

export const TOKEN_COUNT_ROUTES: Record<string, TokenCountRoute> = {
  '/v1/messages/count_tokens': { api: 'anthropic.messages', label: 'anthropic.count_tokens', upstreamPath: '/v1/messages/count_tokens' },
  '/v1/responses/input_tokens': { api: 'openai.responses', label: 'openai.input_tokens', upstreamPath: '/v1/responses/input_tokens' },
};

/** Upstream statuses that mean "no such endpoint here", answered with Warden's own count (a 404 unless it is about the model). */
const NO_ENDPOINT = new Set([404, 405, 501]);
/** Request fields whose text is counted when Warden estimates. */
const COUNTED_FIELDS = ['system', 'messages', 'instructions', 'input', 'tools', 'tool_choice'];
/** Beyond this much text the estimate extrapolates from a prefix (long text is counted from samples anyway: src/tokens). */
const MAX_COUNTED_CHARS = 512 * 1024;

export async function handleTokenCount(deps: PipelineDeps, route: TokenCountRoute, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const startedAt = Date.now();
  const wire = WIRE_OF[route.api];
  const body = (req.body ?? {}) as Record<string, unknown>;
  const userAgent = req.headers['user-agent'];
  const ctx = new Context(
    ulid(startedAt), startedAt, route.api, wire, clientAddress(req), typeof userAgent === 'string' ? userAgent : null, req.headers,
    modelField(body), body, false,
  );
  reply.raw.on('close', () => { if (!reply.raw.writableFinished) ctx.abort(new Error('client disconnected')); });
  await answerSideRequest(deps, ctx, reply, route.label, async (answer) => {
    // The key first, as on the model endpoints: 401 before any complaint about the body.
    ctx.auth = await authenticateRequest(deps, req.headers, 'inference');
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new WardenError('WARDEN_INVALID_REQUEST', 'The request body must be a JSON object.');
    }
    if (!ctx.model) throw new WardenError('WARDEN_MODEL_REQUIRED', 'You must provide a model parameter.', { param: 'model' });
    refuseLongModel(body);
    if (route.api === 'anthropic.messages' && !Array.isArray(body.messages)) {
      throw new WardenError('WARDEN_INVALID_REQUEST', 'messages: Field required', { param: 'messages' });
    }
    const upstream = deps.router.route(ctx.model, wire);
    if (!upstream) throw new WardenError('WARDEN_MODEL_NOT_FOUND', `The model \`${ctx.model}\` does not exist or you do not have access to it.`, { param: 'model' });
    for (const h of deps.hooks) if (h.policy) await h.policy(ctx);
    for (const h of deps.hooks) if (h.countLimits) await h.countLimits(ctx);

    let statusCode: number;
    let text: string;
    let upstreamIds: Record<string, string> = {};
    let head: UpstreamHead;
    try {
      const res = await upstream.pool.request({
        path: upstream.basePath + route.upstreamPath, method: 'POST', headers: upstreamHeaders(ctx, upstream),
        body: JSON.stringify(ctx.body), headersTimeout: upstream.headersTimeoutMs, bodyTimeout: upstream.bodyTimeoutMs, signal: ctx.signal,
      });
      statusCode = res.statusCode;
      upstreamIds = passedRequestIds(res.headers);
      head = headOfAnswer(statusCode, res.headers);
      text = await res.body.text();
    } catch (err) {
      throw mapUpstreamFailure(err, ctx);
    }
    const refused = credentialRefusal(upstream, statusCode, text, deps.log);
    if (refused) throw refused;
    const modelError = statusCode === 404 ? modelNotFound(text, ctx.model, wire) : null;
    if (modelError instanceof WardenError) throw modelError;
    if (NO_ENDPOINT.has(statusCode) && modelError === null) {
      const inputTokens = estimateInputTokens(ctx.body);
      const count = route.api === 'openai.responses' ? { object: 'response.input_tokens', input_tokens: inputTokens } : { input_tokens: inputTokens };
      answer.json(200, JSON.stringify(count), { 'content-type': 'application/json', 'x-warden-token-count': 'estimated' });
      return;
    }
    let parsed: unknown = null;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    const json = parsed !== null && typeof parsed === 'object';
    // An error, with the upstream's retry advice and (on a 429) its rate-limit headers, as on the model routes.
    if (statusCode >= 400) return answer.upstreamError(head, json ? withoutProviderAccount(text, upstream.apiKey) : null, upstreamIds);
    if (!json) throw new WardenError('WARDEN_UPSTREAM_ERROR', `The upstream model API answered a token count with status ${statusCode} and no JSON.`, { status: 502 });
    // The upstream's own request ids when it gave them (what its support desk asks for), else Warden's.
    answer.json(statusCode, text, { ...upstreamIds, 'content-type': 'application/json' });
  });
}

/** `request-id` and `x-request-id` as the upstream sent them (first value of each). */
function passedRequestIds(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const ids: Record<string, string> = {};
  for (const name of ['request-id', 'x-request-id']) {
    const v = headers[name];
    const first = Array.isArray(v) ? v[0] : v;
    if (typeof first === 'string' && first.length > 0 && first.length <= 200) ids[name] = first;
  }
  return ids;
}

/**
 * A 404 body that is the API's own error about the model, not a route the upstream lacks: 'pass'
 * when it is already in the client's API's format, else the error to answer with; null for
 * anything else (HTML, empty, a generic not-found such as Anthropic's "Not Found" or OpenAI's
 * "Invalid URL"). About the model: OpenAI's `model_not_found` code, `param: "model"`, or a
 * message that names the model (Anthropic's "model: x", vLLM's "The model `x` does not exist.").
 */
export function modelNotFound(text: string, model: string, wire: WireFlavour): 'pass' | WardenError | null {
  let body: unknown;
  try { body = JSON.parse(text); } catch { return null; }
  if (!body || typeof body !== 'object') return null;
  const b = body as Record<string, unknown>;
  // `{error: {...}}` (OpenAI, Anthropic under `type: "error"`), or the error itself at the top (older vLLM).
  const e = (b.error && typeof b.error === 'object' ? b.error : b) as Record<string, unknown>;
  const message = typeof e.message === 'string' ? e.message : '';
  const aboutModel = e.code === 'model_not_found' || e.param === 'model' || /\bmodel\b/i.test(message) || (model.length > 0 && message.includes(model));
  if (!aboutModel) return null;
  const native = wire === 'anthropic' ? b.type === 'error' && e !== b : e !== b && b.type === undefined;
  if (native) return 'pass';
  return new WardenError('WARDEN_MODEL_NOT_FOUND', message || `The model \`${model}\` does not exist or you do not have access to it.`, { param: 'model' });
}

/** Warden's own count of what the model would read: every text in the prompt's fields, with the tokenizer. */
export function estimateInputTokens(body: Record<string, unknown>): number {
  const parts: string[] = [];
  let chars = 0;
  const walk = (v: unknown): void => {
    if (typeof v === 'string') { chars += v.length; if (chars <= MAX_COUNTED_CHARS) parts.push(v); return; }
    if (Array.isArray(v)) { for (const x of v) walk(x); return; }
    if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) { if (k !== 'type' && k !== 'signature' && k !== 'cache_control') walk(x); }
  };
  for (const f of COUNTED_FIELDS) walk(body[f]);
  const text = parts.join('\n');
  return countTextTokens(text, Math.max(chars, text.length));
}
