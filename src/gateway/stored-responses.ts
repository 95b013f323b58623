/**
 * Stored responses: `GET /v1/responses/{id}` (the SDK's `responses.retrieve`),
 * `GET /v1/responses/{id}/input_items` (`responses.inputItems.list`), `DELETE /v1/responses/{id}`
 * (`responses.delete`) and `POST /v1/responses/{id}/cancel` (`responses.cancel`); and responses
 * created with `background: true`, which a `background` hook keeps and runs later through the
 * pipeline (its ids are its own: those requests go to it). One created with `stream: true` too is
 * streamed to its client, and read again with `GET ?stream=true&starting_after=N`.
 *
 * The upstream keeps every customer's responses under Warden's one credential, so each is served
 * only to the account (or organisation) that created it: `storedAnswer` hooks know (the identity
 * capability records each answer's owner and model). Another customer's id reads as one that does
 * not exist. A retrieved response is governed as a fresh answer would be: policy runs with the
 * response's own settings (a suspended account reads nothing; reasoning the caller may not see is
 * withheld, its text watermarked as it was when answered) and the output phase's JSON transformers
 * rewrite it. An account its verdict bars (suspend, verify) is refused on every one of these routes
 * first, and a background response of one is refused rather than queued. Path: identity -> barred
 * -> storedAnswer -> countLimits -> forward -> (retrieval) policy -> output. Nothing is generated, so no interaction event; requests are counted in the metrics.
 * A background response, kept as it was governed when it ran, is read (and its stream read again)
 * through policy and the `keptOutput` transformers: the reader's capabilities of now decide, as
 * for a stored one; its text keeps its owner's watermark.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ulid } from '../events/index.ts';
import { WardenError, requestIdHeaders } from '../errors/index.ts';
import { Context, type PipelineDeps } from './interaction-state.ts';
import { authenticateRequest, refuseBarred, refuseLongModel, validateIntegerFields } from './admission.ts';
import { askUpstream } from './stored-upstream.ts';
import { SSE_HEADERS } from './relay-stream.ts';
import { answerSideRequest } from './error-answer.ts';
import { mergeHeaders } from './headers.ts';
import { clientAddress } from './client-address.ts';
import type { BackgroundResponses, OutputTransformer, SseEvent } from './lifecycle.ts';
import { composeTransformers } from '../shape/answer.ts';
import type { AuthContext } from '../identity/types.ts';

type Op = 'retrieve' | 'input_items' | 'delete' | 'cancel';
const LABEL: Record<Op, string> = { retrieve: 'openai.responses.retrieve', input_items: 'openai.responses.input_items', delete: 'openai.responses.delete', cancel: 'openai.responses.cancel' };
/** Query parameters passed on to the upstream (the rest are dropped). */
const PASSED_QUERY: Record<Op, readonly string[]> = { retrieve: ['include', 'include[]'], input_items: ['limit', 'order', 'after', 'before', 'include', 'include[]'], delete: [], cancel: [] };

const backgroundOf = (deps: PipelineDeps): BackgroundResponses | null => deps.hooks.find((h) => h.background)?.background ?? null;

/**
 * `POST /v1/responses` with `background: true`: kept by the background hook and answered at once
 * with the response, `queued`. Refusals are thrown to the server's error handler, which records
 * them as any refused model call. Without a background hook the request goes through the pipeline,
 * where background mode is refused.
 */
export async function handleBackgroundResponse(deps: PipelineDeps, req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  const background = backgroundOf(deps);
  const body = req.body as Record<string, unknown> | null;
  if (!background || !body || typeof body !== 'object' || Array.isArray(body) || body.background !== true) return false;
  const auth = await authenticateRequest(deps, req.headers, 'inference');
  // A suspended account (or one asked to verify) is refused now, not queued to fail later.
  refuseBarred(deps, auth);
  if (body.store === false) throw new WardenError('WARDEN_INVALID_REQUEST', 'Background mode requires `store: true`.', { param: 'store' });
  const model = typeof body.model === 'string' ? body.model : '';
  if (!model) throw new WardenError('WARDEN_MODEL_REQUIRED', 'You must provide a model parameter.', { param: 'model' });
  refuseLongModel(body);
  if (!deps.router.route(model, 'openai')) throw new WardenError('WARDEN_MODEL_NOT_FOUND', `The model \`${model}\` does not exist or you do not have access to it.`, { param: 'model' });
  // refused now, as the pipeline would refuse it when it runs
  validateIntegerFields('openai.responses', body);
  const userAgent = req.headers['user-agent'];
  const created = await background.create(auth, body, { ip: clientAddress(req), userAgent: typeof userAgent === 'string' ? userAgent : null });
  deps.metrics.counts.request('openai.responses.background', 200, '');
  // Warden's own answer: named with a request id, as its refusals are.
  const named = requestIdHeaders(ulid(Date.now()));
  if (body.stream !== true) {
    reply.code(200).headers(mergeHeaders(named, JSON_CONTENT)).send(JSON.stringify(created));
    return true;
  }
  // Streamed: the client reads its events as they come. Going away does not stop the response
  // (that is what background mode is for); it reads on with GET ?stream=true&starting_after=N.
  const ac = new AbortController();
  reply.raw.on('close', () => ac.abort());
  await sendEvents(deps, reply, await background.events(auth, String(created.id), -1, ac.signal, { creating: true }), ac, named);
  return true;
}

/**
 * Write a background response's events to the client as SSE, with backpressure. A stream is held
 * open at most `stream_max_duration_ms`, as any answer's; the client reads on from where it was.
 * `ac` is aborted when it ends, however it ends (the events' source lets go of what it holds).
 */
async function sendEvents(deps: PipelineDeps, reply: FastifyReply, events: AsyncIterable<string>, ac: AbortController, headers: Record<string, string>): Promise<void> {
  const res = reply.raw;
  reply.hijack();
  const timer = setTimeout(() => ac.abort(), deps.streamMaxDurationMs);
  timer.unref();
  try {
    res.writeHead(200, mergeHeaders(headers, SSE_HEADERS));
    res.flushHeaders();
    for await (const frame of events) {
      if (res.destroyed) break;
      if (!res.write(frame)) {
        await new Promise<void>((resolve) => {
          const done = () => { res.off('drain', done); res.off('close', done); resolve(); };
          res.once('drain', done);
          res.once('close', done);
        });
      }
    }
  } catch (err) {
    deps.log.error({ err }, 'background response stream failed');
  } finally {
    clearTimeout(timer);
    ac.abort();
    if (!res.destroyed) res.end();
  }
}

/** `starting_after` of a streamed retrieval: a sequence number, else -1 (from the first event). */
function startingAfter(query: URLSearchParams): number {
  const raw = query.get('starting_after');
  if (raw === null || raw === '') return -1;
  if (!/^\d{1,15}$/.test(raw)) throw new WardenError('WARDEN_INVALID_REQUEST', `Invalid 'starting_after': expected a non-negative integer (an event's sequence_number), got '${raw.slice(0, 40)}'.`, { param: 'starting_after' });
  return Number(raw);
}
const JSON_CONTENT = { 'content-type': 'application/json' } as const;

/** The policy phase for a response read again, with the response's own settings (refuses as a call would). */
async function governRead(deps: PipelineDeps, ctx: Context, response: Record<string, unknown>): Promise<void> {
  ctx.model = typeof response.model === 'string' ? response.model : ctx.model;
  const settings: Record<string, unknown> = { model: ctx.model };
  for (const k of ['text', 'reasoning', 'top_logprobs', 'include', 'tools']) if (response[k] !== undefined && response[k] !== null) settings[k] = response[k];
  if (Array.isArray(settings.tools) && settings.tools.length === 0) delete settings.tools;
  ctx.body = settings;
  for (const h of deps.hooks) {
    const pending = h.policy?.(ctx);
    if (pending) await pending;
  }
}

/**
 * A background response's kept events through `filter`. Each event sent carries the number it was
 * kept under (one the filter adds, that of the event it came from), so `starting_after` names the
 * same point for every reader; events withheld leave gaps.
 */
async function* governedFrames(frames: AsyncIterable<string>, filter: OutputTransformer): AsyncGenerator<string> {
  let seq = -1;
  const framed = (ev: SseEvent): string => {
    let data = ev.data;
    const msg = JSON.parse(data) as Record<string, unknown>;
    if (typeof msg.sequence_number === 'number' && msg.sequence_number !== seq && seq >= 0) {
      msg.sequence_number = seq;
      data = JSON.stringify(msg);
    }
    return `${ev.event ? `event: ${ev.event}\n` : ''}data: ${data}\n\n`;
  };
  for await (const frame of frames) {
    // Frames are written by `sseFrame`: one `event:` line, one `data:` line.
    const m = /^event: ([^\n]*)\ndata: ([^\n]*)\n\n$/.exec(frame);
    if (!m) { yield frame; continue; }
    try { seq = (JSON.parse(m[2]) as { sequence_number?: number }).sequence_number ?? seq; } catch { yield frame; continue; }
    const out = filter.sse ? filter.sse({ event: m[1], data: m[2] }) : { event: m[1], data: m[2] };
    for (const ev of out === null ? [] : Array.isArray(out) ? out : [out]) yield framed(ev);
  }
  for (const ev of filter.flush?.() ?? []) yield framed(ev);
}

export async function handleStoredResponse(deps: PipelineDeps, op: Op, req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): Promise<void> {
  const startedAt = Date.now();
  const userAgent = req.headers['user-agent'];
  const ctx = new Context(ulid(startedAt), startedAt, 'openai.responses', 'openai', clientAddress(req), typeof userAgent === 'string' ? userAgent : null, req.headers, '', {}, false);
  reply.raw.on('close', () => { if (!reply.raw.writableFinished) ctx.abort(new Error('client disconnected')); });
  let id = req.params.id;
  await answerSideRequest(deps, ctx, reply, LABEL[op], async (answer) => {
    ctx.auth = await authenticateRequest(deps, req.headers, 'inference');
    // Before anything is read, counted or forwarded: a suspended account reads, lists and deletes nothing.
    refuseBarred(deps, ctx.auth);
    const query = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
    const background = backgroundOf(deps);
    const streamed = op === 'retrieve' && query.get('stream') === 'true';
    if (streamed && !background?.owns(id)) {
      throw new WardenError('WARDEN_INVALID_REQUEST', 'Only a background response created with `stream: true` can be streamed again; retrieve this one without `stream`.', { param: 'stream' });
    }
    if (background?.owns(id)) {
      // Polling a background response counts against the same per-key limit as reading any stored one.
      for (const h of deps.hooks) if (h.countLimits) await h.countLimits(ctx);
      if (op === 'retrieve') {
        // Kept as it was governed when it ran; read under the reader's capabilities now, as a
        // stored response is (a verdict since, or another account of the organisation).
        const after = streamed ? startingAfter(query) : -1;
        const current = await background.retrieve(ctx.auth, id);
        await governRead(deps, ctx, current);
        const filter = composeTransformers(deps.hooks.map((h) => h.keptOutput?.(ctx)));
        if (streamed) {
          const ac = new AbortController();
          ctx.signal.addEventListener('abort', () => ac.abort(), { once: true });
          const events = await background.events(ctx.auth, id, after, ac.signal);
          answer.sent(200);
          await sendEvents(deps, reply, filter ? governedFrames(events, filter) : events, ac, mergeHeaders(ctx.responseHeaders, requestIdHeaders(ctx.id)));
          return;
        }
        answer.json(200, JSON.stringify(filter?.json ? filter.json(current) : current));
        return;
      }
      if (op !== 'input_items') {
        answer.json(200, JSON.stringify(await background[op](ctx.auth, id)));
        return;
      }
      // Its input items are the upstream's, under the id the upstream gave the answer.
      const upstreamId = await background.upstreamId(ctx.auth, id);
      if (!upstreamId) throw new WardenError('WARDEN_NOT_FOUND', `Response with id '${id.slice(0, 200)}' has no input items until it has completed.`);
      id = upstreamId;
    }
    let stored: { model: string | null } | null = null;
    for (const h of deps.hooks) {
      if (!h.storedAnswer) continue;
      stored = await h.storedAnswer(ctx, id);
      break;
    }
    // The same refusal for another customer's response as for one that does not exist.
    const notFound = () => new WardenError('WARDEN_NOT_FOUND', `Response with id '${id.slice(0, 200)}' not found.`);
    if (!stored) throw notFound();
    // Only background responses run after their request; Warden sends none to the upstream.
    if (op === 'cancel') throw new WardenError('WARDEN_INVALID_REQUEST', 'Only responses created with `background: true` can be cancelled.');
    ctx.model = stored.model ?? '';
    const upstream = deps.router.route(ctx.model, 'openai');
    if (!upstream) throw notFound();
    for (const h of deps.hooks) if (h.countLimits) await h.countLimits(ctx);

    const passed = new URLSearchParams();
    for (const [k, v] of query) if (PASSED_QUERY[op].includes(k)) passed.append(k, v);
    const qs = passed.size ? `?${passed}` : '';
    const path = `/v1/responses/${encodeURIComponent(id)}${op === 'input_items' ? '/input_items' : ''}${qs}`;
    const { statusCode, head, text, parsed, errorBody } = await askUpstream(ctx, upstream, op === 'delete' ? 'DELETE' : 'GET', path, undefined, deps.log);
    // An error, with the upstream's retry advice and (on a 429) its rate-limit headers, as on the model routes.
    if (errorBody !== undefined) return answer.upstreamError(head, errorBody);
    if (op !== 'retrieve') {
      answer.json(statusCode, text);
      return;
    }

    // A retrieved response is an answer read again: policy decides on it with its own settings,
    // and the output phase rewrites it as it would the answer.
    await governRead(deps, ctx, parsed);
    let governed = parsed;
    for (const h of deps.hooks) {
      const t = h.output?.(ctx);
      if (t?.json) governed = t.json(governed);
    }
    answer.json(200, JSON.stringify(governed));
  });
}
