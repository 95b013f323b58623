/**
 * Stored Chat Completions (those created with `store: true`): `GET /v1/chat/completions` (the
 * SDK's `chat.completions.list`), `GET`/`POST`/`DELETE /v1/chat/completions/{id}` (`retrieve`,
 * `update`, `delete`) and `GET /v1/chat/completions/{id}/messages` (`messages.list`).
 *
 * The upstream keeps every customer's completions under Warden's one credential, so each is
 * served only to the account (or organisation) that created it, as stored responses are
 * (`storedAnswer`; another customer's id reads as one that does not exist). The upstream's list
 * holds everyone's: Warden pages through it and keeps the caller's (`storedAnswers`), scanning at
 * most LIST_SCAN of the upstream's completions per page it answers. A page may then hold fewer than
 * `limit`, even none, with `has_more` true: its `last_id` is where to continue. A completion read
 * back is governed as the answer was: policy runs with its model (a suspended account reads
 * nothing) and the output phase rewrites it (its text watermarked as when it was answered).
 * Path: identity -> barred -> storedAnswer(s) -> countLimits -> forward -> (reads) policy -> output.
 * Nothing is generated, so no interaction event; requests are counted in the metrics.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ulid } from '../events/index.ts';
import { WardenError } from '../errors/index.ts';
import { Context, type PipelineDeps } from './interaction-state.ts';
import { authenticateRequest, refuseBarred } from './admission.ts';
import { answerSideRequest } from './error-answer.ts';
import { clientAddress } from './client-address.ts';
import { askUpstream, type StoredReply } from './stored-upstream.ts';
import type { Upstream } from './upstreams.ts';

export type StoredChatOp = 'list' | 'retrieve' | 'update' | 'delete' | 'messages';
const LABEL: Record<StoredChatOp, string> = {
  list: 'openai.chat.list', retrieve: 'openai.chat.retrieve', update: 'openai.chat.update', delete: 'openai.chat.delete', messages: 'openai.chat.messages',
};
/** The upstream's completions looked at, at most, to answer one list page. */
export const LIST_SCAN = 1_000;
/** Completions asked of the upstream per page while scanning (its most). */
const SCAN_PAGE = 100;

type Params = { id?: string };

/** A list query's own parameters, checked: OpenAI's `limit` (1-100, default 20) and `order` (asc, desc; default asc). */
function listQuery(query: URLSearchParams): { limit: number; order: string; after: string | null; model: string | null; metadata: [string, string][] } {
  const rawLimit = query.get('limit');
  const limit = rawLimit === null ? 20 : Number(rawLimit);
  if (!/^\d{1,3}$/.test(rawLimit ?? '20') || limit < 1 || limit > 100) {
    throw new WardenError('WARDEN_INVALID_REQUEST', `Invalid 'limit': expected an integer between 1 and 100, got '${String(rawLimit).slice(0, 40)}'.`, { param: 'limit' });
  }
  const order = query.get('order') ?? 'asc';
  if (order !== 'asc' && order !== 'desc') throw new WardenError('WARDEN_INVALID_REQUEST', `Invalid 'order': expected 'asc' or 'desc', got '${order.slice(0, 40)}'.`, { param: 'order' });
  const metadata: [string, string][] = [];
  for (const [k, v] of query) if (/^metadata\[.+\]$/.test(k)) metadata.push([k, v]);
  return { limit, order, after: query.get('after') || null, model: query.get('model') || null, metadata };
}

/** What policy decides a read completion on: its model, and the log-probabilities it holds. */
function settingsOf(completion: Record<string, unknown>): Record<string, unknown> {
  const settings: Record<string, unknown> = { model: completion.model };
  const choices = Array.isArray(completion.choices) ? completion.choices as { logprobs?: { content?: { top_logprobs?: unknown[] }[] | null } | null }[] : [];
  const withLogprobs = choices.find((c) => c?.logprobs);
  if (withLogprobs) {
    settings.logprobs = true;
    const top = withLogprobs.logprobs?.content?.[0]?.top_logprobs;
    if (Array.isArray(top) && top.length > 0) settings.top_logprobs = top.length;
  }
  return settings;
}

/** A completion read back, governed as a fresh answer would be: policy (may refuse), then the output phase. */
async function governed(deps: PipelineDeps, ctx: Context, completion: Record<string, unknown>): Promise<Record<string, unknown>> {
  ctx.model = typeof completion.model === 'string' ? completion.model : ctx.model;
  ctx.body = settingsOf(completion);
  for (const h of deps.hooks) {
    const pending = h.policy?.(ctx);
    if (pending) await pending;
  }
  let answer = completion;
  for (const h of deps.hooks) {
    const t = h.output?.(ctx);
    if (t?.json) answer = t.json(answer);
  }
  return answer;
}

/** The upstream holding the caller's stored completions of `model`, or, with no model, the one upstream of the OpenAI format. */
function listUpstream(deps: PipelineDeps, model: string | null): Upstream | null {
  if (model !== null) return deps.router.route(model, 'openai');
  const openai = deps.router.upstreams.filter((u) => u.flavours.includes('openai'));
  if (openai.length > 1) {
    throw new WardenError('WARDEN_INVALID_REQUEST', 'This gateway sends OpenAI models to several upstreams: name a `model` to list stored chat completions.', { param: 'model' });
  }
  return openai[0] ?? null;
}

/** One page of the caller's stored completions: the upstream's list, paged through and kept to the caller's. */
async function listPage(deps: PipelineDeps, ctx: Context, query: URLSearchParams): Promise<{ status: number; body: string } | StoredReply> {
  const q = listQuery(query);
  const upstream = listUpstream(deps, q.model);
  const empty = { object: 'list', data: [], first_id: null, last_id: null, has_more: false };
  if (!upstream) return { status: 200, body: JSON.stringify(empty) };
  for (const h of deps.hooks) if (h.countLimits) await h.countLimits(ctx);
  const ownership = deps.hooks.find((h) => h.storedAnswers);
  if (!ownership) return { status: 200, body: JSON.stringify(empty) };

  const found: Record<string, unknown>[] = [];
  let cursor = q.after;
  let upstreamMore = true;
  let scanned = 0;
  // One more than asked is looked for: whether there is a next page.
  while (found.length <= q.limit && upstreamMore && scanned < LIST_SCAN) {
    const ask = new URLSearchParams({ limit: String(Math.min(SCAN_PAGE, LIST_SCAN - scanned)), order: q.order });
    if (q.model) ask.set('model', q.model);
    if (cursor) ask.set('after', cursor);
    for (const [k, v] of q.metadata) ask.append(k, v);
    const reply = await askUpstream(ctx, upstream, 'GET', `/v1/chat/completions?${ask}`, undefined, deps.log);
    if (reply.errorBody !== undefined) return reply;
    const parsed = reply.parsed;
    const data = (Array.isArray(parsed.data) ? parsed.data : []).filter((c): c is Record<string, unknown> => !!c && typeof c === 'object' && typeof (c as { id?: unknown }).id === 'string');
    upstreamMore = parsed.has_more === true && data.length > 0;
    scanned += data.length;
    const mine = await ownership.storedAnswers!(ctx, data.map((c) => c.id as string));
    for (const c of data) {
      cursor = c.id as string;
      if (!mine.has(cursor)) continue;
      found.push(c);
      if (found.length > q.limit) break;
    }
  }
  const page = found.slice(0, q.limit);
  const data: Record<string, unknown>[] = [];
  for (const c of page) {
    // Each read under the policy of now: one of a model the caller may no longer use is left out.
    const one = new Context(ctx.id, ctx.startedAt, 'openai.chat', 'openai', ctx.clientIp, ctx.userAgent, ctx.headers, '', {}, false);
    one.auth = ctx.auth;
    try { data.push(await governed(deps, one, c)); } catch (err) { if (!(err instanceof WardenError) || err.status >= 500) throw err; }
  }
  const hasMore = found.length > q.limit || upstreamMore;
  // With nothing of the caller's in the scanned stretch, the last completion scanned is where to go on from.
  const lastId = (page.at(-1)?.id as string | undefined) ?? (hasMore ? cursor : null);
  return { status: 200, body: JSON.stringify({ object: 'list', data, first_id: data[0]?.id ?? null, last_id: lastId ?? null, has_more: hasMore }) };
}

export async function handleStoredChat(deps: PipelineDeps, op: StoredChatOp, req: FastifyRequest<{ Params: Params }>, reply: FastifyReply): Promise<void> {
  const startedAt = Date.now();
  const userAgent = req.headers['user-agent'];
  const ctx = new Context(ulid(startedAt), startedAt, 'openai.chat', 'openai', clientAddress(req), typeof userAgent === 'string' ? userAgent : null, req.headers, '', {}, false);
  reply.raw.on('close', () => { if (!reply.raw.writableFinished) ctx.abort(new Error('client disconnected')); });
  await answerSideRequest(deps, ctx, reply, LABEL[op], async (answer) => {
    ctx.auth = await authenticateRequest(deps, req.headers, 'inference');
    // Before anything is read, counted or forwarded: a suspended account reads, lists and changes nothing.
    refuseBarred(deps, ctx.auth);
    const query = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
    if (op === 'list') {
      const page = await listPage(deps, ctx, query);
      if ('head' in page) return answer.upstreamError(page.head, page.errorBody ?? null);
      return answer.json(page.status, page.body);
    }
    const id = req.params.id ?? '';
    let body: Record<string, unknown> | undefined;
    if (op === 'update') {
      const sent = req.body as unknown;
      if (!sent || typeof sent !== 'object' || Array.isArray(sent)) throw new WardenError('WARDEN_INVALID_REQUEST', 'The request body must be a JSON object with `metadata`.', { param: 'metadata' });
      body = sent as Record<string, unknown>;
      if (!('metadata' in body)) throw new WardenError('WARDEN_INVALID_REQUEST', "Missing required parameter: 'metadata'.", { param: 'metadata' });
    }
    let stored: { model: string | null } | null = null;
    for (const h of deps.hooks) {
      if (!h.storedAnswer) continue;
      stored = await h.storedAnswer(ctx, id);
      break;
    }
    // The same refusal for another customer's completion as for one that does not exist.
    const notFound = () => new WardenError('WARDEN_NOT_FOUND', `Chat completion with id '${id.slice(0, 200)}' not found.`);
    if (!stored) throw notFound();
    ctx.model = stored.model ?? '';
    const upstream = deps.router.route(ctx.model, 'openai');
    if (!upstream) throw notFound();
    for (const h of deps.hooks) if (h.countLimits) await h.countLimits(ctx);

    const passed = new URLSearchParams();
    if (op === 'messages') for (const [k, v] of query) if (k === 'after' || k === 'limit' || k === 'order') passed.append(k, v);
    const path = `/v1/chat/completions/${encodeURIComponent(id)}${op === 'messages' ? '/messages' : ''}${passed.size ? `?${passed}` : ''}`;
    const method = op === 'delete' ? 'DELETE' : op === 'update' ? 'POST' : 'GET';
    const upstreamAnswer = await askUpstream(ctx, upstream, method, path, body, deps.log);
    // The messages are the caller's own request; a deletion says only that.
    // An error, with the upstream's retry advice and (on a 429) its rate-limit headers, as on the model routes.
    if (upstreamAnswer.errorBody !== undefined) return answer.upstreamError(upstreamAnswer.head, upstreamAnswer.errorBody);
    if (op === 'messages' || op === 'delete') return answer.json(upstreamAnswer.statusCode, upstreamAnswer.text);
    answer.json(200, JSON.stringify(await governed(deps, ctx, upstreamAnswer.parsed)));
  });
}
