/**
 * The interaction's forward phase: the body sent to the upstream the model is routed to (usage
 * asked for in OpenAI streams), then its answer handed to the relay that fits it: an error, a
 * stream, or one JSON body.
 */
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { ApiFlavour } from '../events/index.ts';
import { UpstreamCall } from './upstream-call.ts';
import type { OutputTransformer } from './lifecycle.ts';
import { RETURNED_HEADERS, mapUpstreamFailure, upstreamHeaders } from './upstream-request.ts';
import { relayBinaryAnswer, relayJsonAnswer, relayUpstreamError } from './relay.ts';
import { streamAnswer } from './relay-stream.ts';
import type { PipelineDeps, Run } from './interaction-state.ts';
import { RESPONSES_COMPACT_PATH } from './wire.ts';

const UPSTREAM_PATH: Record<ApiFlavour, string> = {
  'openai.chat': '/v1/chat/completions',
  'openai.responses': '/v1/responses',
  'anthropic.messages': '/v1/messages',
  'openai.completions': '/v1/completions',
  'openai.embeddings': '/v1/embeddings',
  'openai.moderations': '/v1/moderations',
  'openai.images': '/v1/images/generations',
  'openai.speech': '/v1/audio/speech',
  'openai.transcriptions': '/v1/audio/transcriptions',
  'openai.translations': '/v1/audio/translations',
  'openai.image_edits': '/v1/images/edits',
  'openai.image_variations': '/v1/images/variations',
};

/** The APIs whose answer may be other than JSON or a stream: audio, or a transcript as text, SRT or WebVTT. */
const NOT_JSON_ANSWERS: ReadonlySet<ApiFlavour> = new Set<ApiFlavour>(['openai.speech', 'openai.transcriptions', 'openai.translations']);

/** Prompts in a legacy completion's `prompt`: a string or one token-id list is one; a list of strings or of token-id lists, each. */
function promptCount(prompt: unknown): number {
  if (!Array.isArray(prompt) || prompt.length === 0) return 1;
  return typeof prompt[0] === 'number' ? 1 : prompt.length;
}

/** Send the request to its upstream and hand the answer to its relay. */
export async function forward(deps: PipelineDeps, run: Run, reply: FastifyReply, transformers: OutputTransformer[]): Promise<void> {
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
  if (ctx.flavour === 'openai.chat' || ctx.flavour === 'openai.completions' || ctx.flavour === 'openai.images' || ctx.flavour === 'openai.image_edits') {
    const n = typeof body.n === 'number' && Number.isInteger(body.n) && body.n > 1 ? body.n : 1;
    run.meter.expectedChoices = n * (ctx.flavour === 'openai.completions' ? promptCount(body.prompt) : 1);
  }
  const call = new UpstreamCall(RETURNED_HEADERS);
  run.call = call;
  const headers = upstreamHeaders(ctx, upstream);
  // An upload goes on as the multipart body it came as, its files streamed from where they wait.
  // Its fields as policy left them (a field it removed is not sent: `include[]=logprobs`).
  const upload = run.upload?.encode(body);
  if (upload) {
    headers['content-type'] = upload.contentType;
    headers['content-length'] = String(upload.length);
  }
  upstream.pool.dispatch({
    path: upstream.basePath + (ctx.compaction ? RESPONSES_COMPACT_PATH : UPSTREAM_PATH[ctx.flavour]),
    method: 'POST',
    headers,
    body: upload ? Readable.from(upload.body, { objectMode: false }) : JSON.stringify(body),
    headersTimeout: upstream.headersTimeoutMs,
    bodyTimeout: upstream.bodyTimeoutMs,
  }, call);
  const res = await call.head;
  if (res instanceof Error) throw mapUpstreamFailure(res, run.ctx);
  run.upstreamStatus = res.statusCode;
  const passHeaders = res.passed;
  run.upstreamRequestId = passHeaders['x-request-id'] ?? passHeaders['request-id'] ?? null;
  const contentType = res.contentType;
  const isStream = contentType.includes('text/event-stream');

  // Speech is audio, and a transcript may be plain text or subtitles: passed on as the upstream sent them.
  if (NOT_JSON_ANSWERS.has(ctx.flavour) && res.statusCode < 400 && !isStream && !contentType.includes('json')) {
    await relayBinaryAnswer(run, reply, call, res, deps.streamMaxDurationMs);
    return;
  }
  if (res.statusCode >= 400 || (!isStream && !contentType.includes('json'))) {
    await relayUpstreamError(deps, run, reply, call, res);
    return;
  }

  if (isStream) {
    await streamAnswer(deps, run, reply, call, transformers, stripUsageChunk, passHeaders);
    return;
  }

  await relayJsonAnswer(run, reply, call, res, transformers, deps.streamMaxDurationMs);
}
