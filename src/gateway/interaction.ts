/**
 * One model interaction, phase by phase: identity -> policy -> limits -> forward -> output
 * governance -> record. The Fastify routes in server.ts call `handleModelCall`, which reads as the
 * list of phases; each lives in its own module (admission.ts, policy-limits.ts,
 * request-documents.ts, forward.ts, relay.ts and relay-stream.ts, interaction-record.ts), and what
 * they share in interaction-state.ts.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ulid, type ApiFlavour } from '../events/index.ts';
import { RESPONSES_COMPACT_PATH, streamRequested } from './wire.ts';
import { WardenError } from '../errors/index.ts';
import { AnswerMeter } from './usage.ts';
import { clientAddress } from './client-address.ts';
import { ClientWriteWatch } from './client-write-watch.ts';
import { Context, WIRE_OF, abortRun, emptyRequest, type PipelineDeps, type Run } from './interaction-state.ts';
import { admitRequest, modelField } from './admission.ts';
import { applyPolicyAndLimits } from './policy-limits.ts';
import { startReadingDocuments } from './request-documents.ts';
import { forward } from './forward.ts';
import { outputTransformers } from './relay.ts';
import { handleError } from './error-answer.ts';
import { finishInteraction } from './interaction-record.ts';
import { UPLOADED_FILES, type UploadedFiles } from './lifecycle.ts';
import type { UploadBody } from './upload-body.ts';
import { accessNote } from './access-log.ts';

/**
 * Handle POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses or /v1/messages
 * end to end; a multipart upload's route (src/gateway/uploads.ts) passes its `upload`, whose fields
 * are the request's body and which is forwarded as it came.
 */
export async function handleModelCall(deps: PipelineDeps, flavour: ApiFlavour, req: FastifyRequest, reply: FastifyReply, upload?: UploadBody): Promise<void> {
  const run = openInteraction(deps, flavour, req, reply);
  if (upload) {
    run.upload = upload;
    const kind = flavour === 'openai.transcriptions' || flavour === 'openai.translations' ? 'audio' : 'image';
    const uploaded: UploadedFiles = { kind, files: upload.files.map((f) => ({ bytes: f.bytes, head: f.head, seconds: f.seconds })) };
    run.ctx.locals.set(UPLOADED_FILES, uploaded);
  }
  try {
    await admitRequest(deps, run, req);
    await applyPolicyAndLimits(deps, run);
    startReadingDocuments(deps, run);
    await forward(deps, run, reply, outputTransformers(deps, run.ctx));
  } catch (err) {
    handleError(deps, run, reply, err);
  }
  // The event is recorded when the response closes (finishInteraction, from the close handler).
}

/** The model of an API that names one by default when the request does not (OpenAI's defaults), routed and recorded as such. */
const DEFAULT_MODEL: Partial<Record<ApiFlavour, string>> = {
  'openai.moderations': 'omni-moderation-latest', 'openai.images': 'dall-e-2', 'openai.image_edits': 'dall-e-2', 'openai.image_variations': 'dall-e-2',
};

/**
 * The interaction's state, counted in flight until it is recorded: the client's connection
 * watched (a client that stops reading, one that goes away) and the event recorded on its close.
 */
function openInteraction(deps: PipelineDeps, flavour: ApiFlavour, req: FastifyRequest, reply: FastifyReply): Run {
  const startedAt = Date.now();
  const wire = WIRE_OF[flavour];
  const body = (req.body ?? {}) as Record<string, unknown>;
  const bytes = (req as FastifyRequest & { rawBodyBytes?: number }).rawBodyBytes ?? 0;
  const userAgent = req.headers['user-agent'];
  const ctx = new Context(
    ulid(startedAt), startedAt, flavour, wire, clientAddress(req), typeof userAgent === 'string' ? userAgent : null, req.headers,
    modelField(body) || (body.model === undefined || body.model === null ? DEFAULT_MODEL[flavour] ?? '' : ''), body, streamRequested(flavour, body),
  );
  ctx.compaction = req.url.split('?')[0] === RESPONSES_COMPACT_PATH;
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
    ctx, call: null, request: emptyRequest(bytes), bodyBytes: bytes, upstream: null, meter: new AnswerMeter(flavour),
    status: 0, errorCode: null, ttfbMs: null, finished: false, documents: null, docs: null, eventsSent: 0, closingFailed: false, watch, upstreamRequestId: null, upstreamStatus: null,
  };
  const access = accessNote(req.raw);
  if (access) access.run = run;
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
    finishInteraction(deps, run);
  });
  return run;
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
    finishInteraction(deps, run);
  }
}
