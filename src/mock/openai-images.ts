/**
 * OpenAI `POST /v1/images/generations`: `n` small real PNGs (16 x 16, drawn from the prompt),
 * base64 in `b64_json` (the GPT image models always; DALL·E when `response_format: b64_json`) or
 * as a `data:` URL in `url` (DALL·E's default: the mock hosts no files). The GPT image models
 * report usage in tokens, DALL·E none. The GPT image models also stream (`stream: true`): for each
 * image, `partial_images` (0-3) `image_generation.partial_image` events of coarser drafts, then
 * `image_generation.completed` with the image and its usage (openai `ImageGenStreamEvent`).
 */
import { checkInteger, type HandlerContext, type Reply } from './context.ts';
import { gradientPng } from './png.ts';
import { hashString } from './text.ts';
import { countTokens } from './tokens.ts';
import { MockApiError, sseEvent } from './wire.ts';
import type { Frame } from './pacer.ts';

/** Output tokens of one image of the GPT image models at medium quality, square (OpenAI's published table). */
const IMAGE_OUTPUT_TOKENS = 1056;

export function handleImageGenerations(ctx: HandlerContext): Reply {
  const body = ctx.body;
  const model = body.model === undefined || body.model === null ? 'dall-e-2' : body.model;
  if (typeof model !== 'string') throw new MockApiError(400, "Invalid type for 'model': expected a string.", { param: 'model', code: 'invalid_type' });
  if (!ctx.catalogue.accepts(model)) throw new MockApiError(404, `The model \`${model.slice(0, 200)}\` does not exist or you do not have access to it.`, { code: 'model_not_found' });
  if (!/^(dall-e|gpt-image)/.test(model)) throw new MockApiError(400, `The model \`${model.slice(0, 100)}\` does not generate images.`, { param: 'model', code: 'invalid_value' });
  if (typeof body.prompt !== 'string' || body.prompt === '') throw new MockApiError(400, "Missing required parameter: 'prompt'.", { param: 'prompt', code: 'missing_required_parameter' });
  const n = checkInteger(body.n, 'n', 1, model === 'dall-e-3' ? 1 : 10) ?? 1;
  const gpt = model.startsWith('gpt-image');
  if (body.stream === true && !gpt) throw new MockApiError(400, `Streaming is not supported for the model \`${model.slice(0, 100)}\`.`, { param: 'stream', code: 'invalid_value' });
  const partials = checkInteger(body.partial_images, 'partial_images', 0, 3) ?? 0;
  if (body.stream === true) return streamImages(ctx, model, n, partials);
  if (gpt && body.response_format !== undefined && body.response_format !== null) throw new MockApiError(400, "Unknown parameter: 'response_format'.", { param: 'response_format', code: 'unknown_parameter' });
  const asUrl = !gpt && body.response_format !== 'b64_json';
  const data = Array.from({ length: n }, (_, i) => {
    const png = gradientPng(hashString(`${model}\u0000${body.prompt}\u0000${i}`, ctx.seed)).toString('base64');
    const image: Record<string, unknown> = asUrl ? { url: `data:image/png;base64,${png}` } : { b64_json: png };
    if (model === 'dall-e-3') image.revised_prompt = body.prompt;
    return image;
  });
  const answer: Record<string, unknown> = { created: Math.floor(Date.now() / 1000), data };
  if (gpt) {
    const input = countTokens(body.prompt as string);
    Object.assign(answer, {
      background: 'opaque', output_format: 'png', quality: 'medium', size: '1024x1024',
      usage: { input_tokens: input, input_tokens_details: { text_tokens: input, image_tokens: 0 }, output_tokens: n * IMAGE_OUTPUT_TOKENS, total_tokens: input + n * IMAGE_OUTPUT_TOKENS },
    });
  }
  return { body: JSON.stringify(answer), outputTokens: 0 };
}

/**
 * The streamed answer: per image, its drafts (smaller pictures of the same colours), then the image
 * with its usage. Edits stream the same under `image_edit.*` names, their input images counted in
 * `input` and in `key` (what the pictures are drawn from).
 */
export function streamImages(ctx: HandlerContext, model: string, n: number, partials: number, kind: 'image_generation' | 'image_edit' = 'image_generation', key = `${model}\u0000${ctx.body.prompt as string}`, input = countTokens(ctx.body.prompt as string), imageTokens = 0): Reply {
  const createdAt = Math.floor(Date.now() / 1000);
  const settings = { background: 'opaque', created_at: createdAt, output_format: 'png', quality: 'medium', size: '1024x1024' };
  const frames: Frame[] = [];
  // Pacing: an image's output tokens are spread over its drafts and the finished picture.
  const share = Math.floor(IMAGE_OUTPUT_TOKENS / (partials + 1));
  for (let i = 0; i < n; i++) {
    const seed = hashString(`${key}\u0000${i}`, ctx.seed);
    for (let p = 0; p < partials; p++) {
      frames.push({ data: sseEvent(`${kind}.partial_image`, { type: `${kind}.partial_image`, b64_json: gradientPng(seed, 4 << p).toString('base64'), ...settings, partial_image_index: p }), tokens: share });
    }
    // Each image's event counts the prompt once it is read, and the image's own output.
    const usage = { input_tokens: i === 0 ? input : 0, input_tokens_details: { text_tokens: i === 0 ? input - imageTokens : 0, image_tokens: i === 0 ? imageTokens : 0 }, output_tokens: IMAGE_OUTPUT_TOKENS, total_tokens: (i === 0 ? input : 0) + IMAGE_OUTPUT_TOKENS };
    frames.push({ data: sseEvent(`${kind}.completed`, { type: `${kind}.completed`, b64_json: gradientPng(seed).toString('base64'), ...settings, usage }), tokens: IMAGE_OUTPUT_TOKENS - share * partials });
  }
  return { frames, outputTokens: n * IMAGE_OUTPUT_TOKENS };
}
