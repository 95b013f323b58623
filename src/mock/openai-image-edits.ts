/**
 * OpenAI `POST /v1/images/edits` (multipart: `image` or `image[]`, optional `mask`, `prompt`,
 * `model`, `n`, ...) and `POST /v1/images/variations` (DALL·E 2: `image`, `n`): `n` small real
 * PNGs drawn from the images' SHA-256 and the prompt, in `b64_json` (the GPT image models, or
 * DALL·E with `response_format: b64_json`) or as a `data:` URL in `url` (DALL·E's default). DALL·E 2
 * takes one square PNG under 4 MB (and a PNG mask); the GPT image models up to 16 PNG, WebP or
 * JPEG images, and report usage: the prompt's text tokens and each input image's; they also
 * stream (`stream=true`, `partial_images`) as generations do, as `image_edit.*` events.
 */
import { checkInteger, type HandlerContext, type Reply } from './context.ts';
import { isMockFile, type MockFile } from './form.ts';
import { gradientPng } from './png.ts';
import { streamImages } from './openai-images.ts';
import { hashString } from './text.ts';
import { countTokens } from './tokens.ts';
import { MockApiError } from './wire.ts';

/** Output tokens of one 1024 x 1024 image at medium quality, and input tokens of one input image (the mock's figure). */
const IMAGE_OUTPUT_TOKENS = 1056;
const IMAGE_INPUT_TOKENS = 323;
const DALLE_MAX_BYTES = 4 * 1024 * 1024;
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
const isPng = (f: MockFile) => f.head.subarray(0, 4).equals(PNG);
const isWebpOrJpeg = (f: MockFile) => (f.head[0] === 0xff && f.head[1] === 0xd8) || (f.head.toString('latin1', 0, 4) === 'RIFF' && f.head.toString('latin1', 8, 12) === 'WEBP');

const invalid = (message: string, param: string, code = 'invalid_value') => new MockApiError(400, message, { param, code });

function imageModel(ctx: HandlerContext, allowed: RegExp): string {
  const model = ctx.body.model === undefined || ctx.body.model === null || ctx.body.model === '' ? 'dall-e-2' : ctx.body.model;
  if (typeof model !== 'string') throw invalid("Invalid type for 'model': expected a string.", 'model', 'invalid_type');
  if (!ctx.catalogue.accepts(model)) throw new MockApiError(404, `The model \`${model.slice(0, 200)}\` does not exist or you do not have access to it.`, { code: 'model_not_found' });
  if (!allowed.test(model)) throw invalid(`Invalid value: '${model.slice(0, 100)}'. Value must be one of the image models this endpoint supports.`, 'model');
  return model;
}

/** The answer: `n` PNGs drawn from `key`, as the model gives them. */
function images(ctx: HandlerContext, model: string, key: string, n: number, inputTokens: number): Reply {
  const gpt = model.startsWith('gpt-image');
  const format = ctx.body.response_format;
  if (gpt && format !== undefined) throw invalid("Unknown parameter: 'response_format'.", 'response_format', 'unknown_parameter');
  const asUrl = !gpt && format !== 'b64_json';
  const data = Array.from({ length: n }, (_, i) => {
    const png = gradientPng(hashString(`${key}\u0000${i}`, ctx.seed)).toString('base64');
    return asUrl ? { url: `data:image/png;base64,${png}` } : { b64_json: png };
  });
  const answer: Record<string, unknown> = { created: Math.floor(Date.now() / 1000), data };
  if (gpt) {
    const output = n * IMAGE_OUTPUT_TOKENS;
    Object.assign(answer, {
      background: 'opaque', output_format: 'png', quality: 'medium', size: '1024x1024',
      usage: { input_tokens: inputTokens, input_tokens_details: { text_tokens: inputTokens - countInputImages(ctx) * IMAGE_INPUT_TOKENS, image_tokens: countInputImages(ctx) * IMAGE_INPUT_TOKENS }, output_tokens: output, total_tokens: inputTokens + output },
    });
  }
  return { body: JSON.stringify(answer), outputTokens: 0 };
}

function inputImages(ctx: HandlerContext): MockFile[] {
  const v = ctx.body.image;
  return (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter(isMockFile);
}
const countInputImages = (ctx: HandlerContext) => inputImages(ctx).length + (isMockFile(ctx.body.mask) ? 1 : 0);

export function handleImageEdits(ctx: HandlerContext): Reply {
  const body = ctx.body;
  const model = imageModel(ctx, /^(dall-e-2|gpt-image)/);
  const list = inputImages(ctx);
  if (list.length === 0) throw invalid("Missing required parameter: 'image'.", 'image', 'missing_required_parameter');
  if (typeof body.prompt !== 'string' || body.prompt === '') throw invalid("Missing required parameter: 'prompt'.", 'prompt', 'missing_required_parameter');
  const mask = body.mask;
  if (mask !== undefined && (!isMockFile(mask) || !isPng(mask))) throw invalid('Invalid mask: it must be a PNG image.', 'mask');
  const gpt = model.startsWith('gpt-image');
  if (gpt) {
    if (list.length > 16) throw invalid('Too many images: at most 16 may be edited at once.', 'image');
    if (!list.every((f) => isPng(f) || isWebpOrJpeg(f))) throw invalid('Invalid image file: images must be PNG, WebP or JPEG.', 'image');
  } else if (list.length > 1 || !isPng(list[0]) || list[0].size >= DALLE_MAX_BYTES) {
    throw invalid('Invalid image: dall-e-2 edits one square PNG image of less than 4 MB.', 'image');
  }
  const n = checkInteger(body.n === undefined ? undefined : Number(body.n), 'n', 1, 10) ?? 1;
  const imageTokens = countInputImages(ctx) * IMAGE_INPUT_TOKENS;
  const inputs = countTokens(body.prompt) + imageTokens;
  const key = `${model}\u0000${body.prompt}\u0000${list.map((f) => f.sha256).join(',')}`;
  if (body.stream === 'true') {
    // As generations stream (the GPT image models only), under the `image_edit.*` event names.
    if (!gpt) throw invalid(`Streaming is not supported for the model \`${model.slice(0, 100)}\`.`, 'stream');
    const partials = checkInteger(body.partial_images === undefined ? undefined : Number(body.partial_images), 'partial_images', 0, 3) ?? 0;
    return streamImages(ctx, model, n, partials, 'image_edit', key, inputs, imageTokens);
  }
  return images(ctx, model, key, n, inputs);
}

export function handleImageVariations(ctx: HandlerContext): Reply {
  const model = imageModel(ctx, /^dall-e-2$/);
  const [image] = inputImages(ctx);
  if (!image) throw invalid("Missing required parameter: 'image'.", 'image', 'missing_required_parameter');
  if (!isPng(image) || image.size >= DALLE_MAX_BYTES) throw invalid('Invalid image: variations are made of one square PNG image of less than 4 MB.', 'image');
  const n = checkInteger(ctx.body.n === undefined ? undefined : Number(ctx.body.n), 'n', 1, 10) ?? 1;
  return images(ctx, model, `${model}\u0000variation\u0000${image.sha256}`, n, 0);
}
