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
