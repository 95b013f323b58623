/**
 * The interaction's relay phase for answers that are not streams: the output hooks' transformers
 * (output governance), an upstream's error passed on, and a JSON answer metered, transformed and
 * written as the client takes it.
 */
import type { FastifyReply } from 'fastify';
import { WardenError } from '../errors/index.ts';
import { DEFAULT_MAX_RETRY_ADVICE_S, adviseAgainstLongWait } from './retry-advice.ts';
import type { InteractionContext, OutputTransformer } from './lifecycle.ts';
import type { UpstreamCall, UpstreamHead } from './upstream-call.ts';
import { upstreamErrorReport } from './usage.ts';
import { mergeHeaders } from './headers.ts';
import { credentialRefusal, mapUpstreamFailure, passUpstreamRateLimit, unreadableUpstreamError, withoutProviderAccount } from './upstream-request.ts';
import type { PipelineDeps, Run } from './interaction-state.ts';

export const JSON_CONTENT = { 'content-type': 'application/json' } as const;
/**
 * How much of an answer may wait in the client's socket buffer before the upstream is paused.
 * Above Node's 16 KiB mark so that an upstream that sends a short answer at once has it forwarded
 * and ended in one write, rather than paused and resumed on 'drain' in between; small enough to
 * bound what a slow reader makes the gateway hold.
 */
export const STREAM_BUFFER_BYTES = 64 * 1024;

/** The output hooks' transformers of this answer (SSE event by event, or the whole JSON body). */
export function outputTransformers(deps: PipelineDeps, ctx: InteractionContext): OutputTransformer[] {
  const transformers: OutputTransformer[] = [];
  for (const h of deps.hooks) {
    const t = h.output?.(ctx);
    if (t) transformers.push(t);
  }
  return transformers;
}

/** The upstream refused or failed (or answered neither JSON nor a stream): its status and body to the client. */
export async function relayUpstreamError(deps: PipelineDeps, run: Run, reply: FastifyReply, call: UpstreamCall, res: UpstreamHead): Promise<void> {
  const { ctx } = run;
  const passHeaders = res.passed;
  const contentType = res.contentType;
  // Upstream error: pass its status and body through (it is already in the right wire format
  // when the upstream speaks the client's API), and note it on the event.
  let text: string;
  try { text = await call.text(); } catch (err) { throw mapUpstreamFailure(err, run.ctx); }
  run.ttfbMs = Date.now() - ctx.startedAt;
  if (res.statusCode < 400) throw new WardenError('WARDEN_UPSTREAM_ERROR', `The upstream model API answered with an unexpected content type (${contentType || 'none'}).`);
  // The upstream refusing Warden's own credential: the operator's problem, none of the client's business.
  const refused = run.upstream ? credentialRefusal(run.upstream, res.statusCode, text, deps.log) : null;
  if (refused) throw refused;
  run.status = res.statusCode;
  run.errorCode = 'WARDEN_UPSTREAM_ERROR';
  // An upstream 429: the client sees the provider's rate-limit headers, not Warden's (either body below).
  passUpstreamRateLimit(res, ctx.responseHeaders, deps.upstreamRateLimitHeaders);
  let parsed: unknown = null;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  // Not the API's error body (a load balancer's text, or none): Warden's own error in the client's format.
  if (parsed === null) throw unreadableUpstreamError(res, deps.maxRetryAdviceS ?? DEFAULT_MAX_RETRY_ADVICE_S);
  const reported = (parsed as Record<string, unknown>).error;
  if (reported && typeof reported === 'object') run.meter.upstreamError = { type: upstreamErrorReport(reported).type, status: res.statusCode };
  const headers = mergeHeaders(passHeaders, ctx.responseHeaders, JSON_CONTENT);
  if (res.retryAfter !== null) headers['retry-after'] = res.retryAfter;
  adviseAgainstLongWait(headers, deps.maxRetryAdviceS ?? DEFAULT_MAX_RETRY_ADVICE_S);
  reply.code(res.statusCode).headers(headers).send(withoutProviderAccount(text, run.upstream?.apiKey ?? null));
}

/**
 * The answer, read whole: metered, rewritten by the output transformers as one JSON object, sent.
 * `maxMs` (`server.stream_max_duration_ms`): the longest a large answer's delivery may take.
 */
export async function relayJsonAnswer(run: Run, reply: FastifyReply, call: UpstreamCall, res: UpstreamHead, transformers: OutputTransformer[], maxMs: number): Promise<void> {
  const { ctx } = run;
  const passHeaders = res.passed;
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
  sendInSlices(run, reply, res.statusCode, headers, typeof out === 'string' ? Buffer.from(out) : out, maxMs);
}

/** An answer that is not JSON (speech's audio, a transcript as text or subtitles): the upstream's bytes, with its content type, as sent. */
export async function relayBinaryAnswer(run: Run, reply: FastifyReply, call: UpstreamCall, res: UpstreamHead, maxMs: number): Promise<void> {
  const { ctx } = run;
  let raw: Buffer;
  try { raw = await call.bytes(); } catch (err) { throw mapUpstreamFailure(err, run.ctx); }
  // Text is metered as the answer's words; audio counts no output tokens.
  if (res.contentType.startsWith('text/')) run.meter.observeText(raw.toString('utf8'));
  run.ttfbMs = Date.now() - ctx.startedAt;
  run.status = res.statusCode;
  const headers = mergeHeaders(res.passed, ctx.responseHeaders, { 'content-type': res.contentType || 'application/octet-stream' });
  if (raw.length <= STREAM_BUFFER_BYTES) {
    reply.code(res.statusCode).headers(headers).send(raw);
    return;
  }
  sendInSlices(run, reply, res.statusCode, headers, raw, maxMs);
}

/**
 * A large answer, written a slice at a time as the client takes it: the socket holds no more than
 * a slice beyond its buffer mark, and a client that stops reading is seen by the write watch
 * (which sees progress slice by slice, where one large write would show none until it is all out).
 * A client that reads on, but so slowly that its answer takes longer than a stream may last
 * (`maxMs`), must have it within the write timeout from then, as a stream's end at its cap must
 * go out: else its connection is closed (499 `WARDEN_CLIENT_NOT_READING`). Without this a
 * trickle of reads would hold the answer in memory, and its concurrency slot, indefinitely.
 */
function sendInSlices(run: Run, reply: FastifyReply, status: number, headers: Record<string, string>, body: Buffer, maxMs: number): void {
  const res = reply.raw;
  reply.hijack();
  res.writeHead(status, { ...headers, 'content-length': String(body.length) });
  const cap = setTimeout(() => run.watch.endWithin(), maxMs);
  cap.unref();
  res.once('close', () => clearTimeout(cap));
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
