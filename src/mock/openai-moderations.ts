/**
 * OpenAI `POST /v1/moderations`: one result per input string (or one for a list of text and image
 * parts), with every category's flag and score, and for the omni models the input types each
 * category was judged on. Scores are small and deterministic; a category's words in the text
 * (or the word itself) raise its score past the flag.
 */
import { isRecord, type HandlerContext, type Reply } from './context.ts';
import { hashString } from './text.ts';
import { MockApiError } from './wire.ts';
import { randomBytes } from 'node:crypto';

const CATEGORIES = [
  'harassment', 'harassment/threatening', 'hate', 'hate/threatening', 'illicit', 'illicit/violent', 'self-harm',
  'self-harm/instructions', 'self-harm/intent', 'sexual', 'sexual/minors', 'violence', 'violence/graphic',
] as const;
/** Judged on images too by the omni models (the rest on text only). */
const IMAGE_CATEGORIES = new Set(['self-harm', 'self-harm/instructions', 'self-harm/intent', 'sexual', 'violence', 'violence/graphic']);
/** The legacy text models know neither `illicit` category. */
const LEGACY = new Set(['text-moderation-latest', 'text-moderation-stable', 'text-moderation-007']);
/** Words that flag a category (and its parents' words count for it). */
const WORDS: Record<string, readonly string[]> = {
  harassment: ['idiot', 'stupid'],
  hate: ['hate'],
  illicit: ['steal', 'counterfeit'],
  'self-harm': ['hurt myself'],
  sexual: ['explicit'],
  violence: ['kill', 'attack', 'bomb'],
};

type Part = { text: string | null; image: boolean };

/** The request's inputs, each a list of parts judged together; throws as the API refuses. */
function readInputs(input: unknown, legacy: boolean): Part[][] {
  if (typeof input === 'string') return [[{ text: input, image: false }]];
  if (!Array.isArray(input) || input.length === 0) {
    throw new MockApiError(400, input === undefined || input === null ? "Missing required parameter: 'input'." : "Invalid 'input': expected a string, an array of strings or an array of objects.", {
      param: 'input', code: input === undefined || input === null ? 'missing_required_parameter' : 'invalid_type',
    });
  }
  if (input.every((x) => typeof x === 'string')) return input.map((text) => [{ text: text as string, image: false }]);
  const parts = input.map((p, i): Part => {
    if (isRecord(p) && p.type === 'text' && typeof p.text === 'string') return { text: p.text, image: false };
    if (isRecord(p) && p.type === 'image_url' && isRecord(p.image_url) && typeof p.image_url.url === 'string') {
      if (legacy) throw new MockApiError(400, 'This model does not support image inputs.', { param: 'input', code: 'invalid_value' });
      return { text: null, image: true };
    }
    throw new MockApiError(400, `Invalid value for 'input[${i}]': expected an object with type 'text' or 'image_url'.`, { param: `input[${i}]`, code: 'invalid_value' });
  });
  if (parts.filter((p) => p.image).length > 1) throw new MockApiError(400, 'At most one image may be moderated per request.', { param: 'input', code: 'invalid_value' });
  return [parts];
}

function judge(parts: Part[], model: string, seed: number, legacy: boolean): Record<string, unknown> {
  const text = parts.map((p) => p.text ?? '').join('\n').toLowerCase();
  const hasImage = parts.some((p) => p.image);
  const hasText = parts.some((p) => p.text !== null);
  const categories: Record<string, boolean> = {};
  const scores: Record<string, number> = {};
  const applied: Record<string, string[]> = {};
  for (const name of CATEGORIES) {
    if (legacy && name.startsWith('illicit')) continue;
    const root = name.split('/')[0];
    const words = [...(WORDS[name] ?? []), ...(name === root ? [] : WORDS[root] ?? [])];
    const hit = text.includes(name) || words.some((w) => text.includes(w));
    // A small deterministic score per text and category; a hit scores high (a sub-category less).
    const base = (hashString(`${model}\u0000${name}\u0000${text}`, seed) % 1000) / 1_000_000;
    const score = hit ? (name === root ? 0.9 : 0.6) + base * 50 : base;
    scores[name] = Math.round(score * 1e6) / 1e6;
    categories[name] = hit && score > 0.5;
    const types: string[] = [];
    if (hasText) types.push('text');
    if (hasImage && IMAGE_CATEGORIES.has(name)) types.push('image');
    applied[name] = types;
  }
  const result: Record<string, unknown> = { flagged: Object.values(categories).some(Boolean), categories, category_scores: scores };
  if (!legacy) result.category_applied_input_types = applied;
  return result;
}

export function handleModerations(ctx: HandlerContext): Reply {
  const body = ctx.body;
  if (body.model !== undefined && typeof body.model !== 'string') throw new MockApiError(400, "Invalid type for 'model': expected a string.", { param: 'model', code: 'invalid_type' });
  const model = typeof body.model === 'string' ? body.model : 'omni-moderation-latest';
  if (!ctx.catalogue.accepts(model)) throw new MockApiError(404, `The model \`${model.slice(0, 200)}\` does not exist or you do not have access to it.`, { code: 'model_not_found' });
  if (!model.includes('moderation')) throw new MockApiError(400, `The model \`${model.slice(0, 100)}\` is not a moderation model.`, { param: 'model', code: 'invalid_value' });
  const legacy = LEGACY.has(model);
  const results = readInputs(body.input, legacy).map((parts) => judge(parts, model, ctx.seed, legacy));
  // The API names a dated snapshot, not the alias asked for.
  const named = model.endsWith('-latest') ? model.replace(/-latest$/, legacy ? '-007' : '-2024-09-26') : model;
  return { body: JSON.stringify({ id: `modr-${randomBytes(12).toString('hex')}`, model: named, results }), outputTokens: 0 };
}
