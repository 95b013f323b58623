/**
 * Which API a path belongs to: the model endpoints' flavours, and the wire format (OpenAI or
 * Anthropic) a request's errors are rendered in.
 */
import type { WireFlavour } from '../errors/index.ts';
import type { ApiFlavour } from '../events/index.ts';

/** The model routes whose body is a multipart upload (src/gateway/uploads.ts), not JSON. */
export const UPLOAD_ROUTES: Record<string, ApiFlavour> = {
  '/v1/audio/transcriptions': 'openai.transcriptions',
  '/v1/audio/translations': 'openai.translations',
  '/v1/images/edits': 'openai.image_edits',
  '/v1/images/variations': 'openai.image_variations',
};

/**
 * The model of an upload route that the route alone names, known before its body is read (its
 * limits for that model are asked then: uploads.ts). OpenAI makes image variations with dall-e-2
 * only (the `model` field is optional, and any other is refused). The other upload routes name
 * their model in the body: a transcription's and a translation's `model` is required, and an
 * image edit's may be dall-e-2 or a GPT image model.
 */
export const ROUTE_MODEL: Partial<Record<ApiFlavour, string>> = { 'openai.image_variations': 'dall-e-2' };

export const ROUTE_FLAVOUR: Record<string, ApiFlavour> = {
  ...UPLOAD_ROUTES,
  '/v1/chat/completions': 'openai.chat',
  '/v1/completions': 'openai.completions',
  '/v1/embeddings': 'openai.embeddings',
  '/v1/moderations': 'openai.moderations',
  '/v1/images/generations': 'openai.images',
  '/v1/audio/speech': 'openai.speech',
  '/v1/responses': 'openai.responses',
  // The conversation compacted (`client.responses.compact`): a Responses request through the whole
  // pipeline whose answer is a `response.compaction`, not a response (RESPONSES_COMPACT_PATH).
  '/v1/responses/compact': 'openai.responses',
  '/v1/messages': 'anthropic.messages',
};

/**
 * The Responses API's compaction: the request is a Responses request (a model, its input or
 * `previous_response_id`, `instructions`) with no output budget, no stream and no background mode,
 * and the answer is `{object: "response.compaction", output: [the user messages..., a compaction
 * item], usage}`, whose `encrypted_content` only the upstream can read.
 */
export const RESPONSES_COMPACT_PATH = '/v1/responses/compact';

/** Which error format a request expects: Anthropic for /v1/messages or Anthropic headers, else OpenAI. */
export function wireOf(req: { url: string; headers: Record<string, string | string[] | undefined> }): WireFlavour {
  const path = req.url.split('?')[0];
  if (path.startsWith('/v1/messages')) return 'anthropic';
  // The Files API has both flavours: the Anthropic SDK always sends its version header.
  if (path.startsWith('/v1/files') && req.headers['anthropic-version'] !== undefined) return 'anthropic';
  if (path.startsWith('/v1/chat') || path.startsWith('/v1/responses') || path.startsWith('/v1/completions') || path.startsWith('/v1/embeddings') || path.startsWith('/v1/moderations') || path.startsWith('/v1/images') || path.startsWith('/v1/audio')
    || path.startsWith('/v1/batches') || path.startsWith('/v1/files')) return 'openai';
  if (req.headers['anthropic-version'] !== undefined || req.headers['x-api-key'] !== undefined) return 'anthropic';
  return 'openai';
}


/** Whether a request asks for its answer streamed: `stream: true`, or speech with `stream_format: "sse"`. */
export function streamRequested(flavour: ApiFlavour, body: Record<string, unknown>): boolean {
  return body.stream === true || (flavour === 'openai.speech' && body.stream_format === 'sse');
}
