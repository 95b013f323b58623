/**
 * Warden's own refusal or failure of a request, as the client gets it: a JSON error in its API's
 * format, or an in-stream error when the answer was already under way.
 */
import type { FastifyReply } from 'fastify';
import { WardenError, renderErrorBody, requestIdHeaders, toWardenError } from '../errors/index.ts';
import { mergeHeaders } from './headers.ts';
import { JSON_CONTENT } from './relay.ts';
import { streamErrorEvent } from './relay-stream.ts';
import type { Context, PipelineDeps, Run } from './interaction-state.ts';
import type { UpstreamHead } from './upstream-call.ts';
import { passUpstreamRateLimit, unreadableUpstreamError, upstreamRetryHeaders } from './upstream-request.ts';
import { DEFAULT_MAX_RETRY_ADVICE_S, adviseAgainstLongWait } from './retry-advice.ts';

/** A phase refused or failed the interaction: the client is told (unless it has gone), the event notes it. */
export function handleError(deps: PipelineDeps, run: Run, reply: FastifyReply, err: unknown): void {
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

/** How a request that records no interaction answers, so its status reaches the metrics. */
export interface SideAnswer {
  /** Sends a JSON body (the upstream's own, errors included) with the request's headers; `headers` add to or override them. */
  json(status: number, body: string, headers?: Readonly<Record<string, string>>): void;
  /**
   * Passes the upstream's error (`head`, and `body` as given; null: not the API's, and Warden's
   * own error is thrown in its stead) as the model routes do: with the upstream's retry advice and, on a 429, its
   * rate-limit headers (`limits.upstream_rate_limit_headers`). `headers` add to them.
   */
  upstreamError(head: UpstreamHead, body: string | null, headers?: Readonly<Record<string, string>>): void;
  /** Notes the status of an answer the handler sends itself (a stream). */
  sent(status: number): void;
}

/**
 * Runs a request that records no interaction (token counting, stored answers): a thrown refusal is
 * sent in the caller's wire format, and the request is counted under `label` with its status and code.
 */
export async function answerSideRequest(
  deps: PipelineDeps, ctx: Context, reply: FastifyReply, label: string, handle: (answer: SideAnswer) => Promise<void>,
): Promise<void> {
  let status = 500;
  let code = '';
  const answer: SideAnswer = {
    json(statusCode, body, headers = JSON_CONTENT) {
      status = statusCode;
      if (statusCode >= 400) code = 'WARDEN_UPSTREAM_ERROR';
      reply.code(statusCode).headers(mergeHeaders(ctx.responseHeaders, requestIdHeaders(ctx.id), headers)).send(body);
    },
    upstreamError(head, body, headers = {}) {
      const maxRetryAdviceS = deps.maxRetryAdviceS ?? DEFAULT_MAX_RETRY_ADVICE_S;
      passUpstreamRateLimit(head, ctx.responseHeaders, deps.upstreamRateLimitHeaders);
      if (body === null) throw unreadableUpstreamError(head, maxRetryAdviceS);
      answer.json(head.statusCode, body, adviseAgainstLongWait(mergeHeaders(upstreamRetryHeaders(head), headers, JSON_CONTENT), maxRetryAdviceS));
    },
    sent(statusCode) { status = statusCode; },
  };
  try {
    await handle(answer);
  } catch (err) {
    const werr = refuseSideRequest(deps, ctx, reply, err);
    status = werr.status;
    code = werr.code;
  } finally {
    deps.metrics.counts.request(label, status, code);
  }
}
