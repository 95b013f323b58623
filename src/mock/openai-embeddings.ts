/**
 * OpenAI `POST /v1/embeddings`: one unit vector per input (a string, strings, token ids or lists of
 * them), as floats or as base64 little-endian float32 (what the official SDK asks for by default
 * and decodes), `dimensions` for the models that take it, usage in prompt tokens. Token ids and
 * token counts are cl100k_base's, the OpenAI embedding models' encoding (loaded on the first
 * embeddings request: the chat models' o200k_base is what the rest of the mock uses).
 *
 * The vectors are not random: each is a random projection of the input's words, so texts that
 * share words point the same way (cosine similarity follows word overlap) and the same text always
 * gives the same vector, as a real embedding model would for tests that compare them.
 */
import { checkInteger, type HandlerContext, type Reply } from './context.ts';
import { openaiModel } from './openai-chat.ts';
import { hashString } from './text.ts';
import { MockApiError } from './wire.ts';

/** Native sizes; `text-embedding-3-*` may be shortened with `dimensions`. */
const NATIVE: Record<string, number> = { 'text-embedding-3-large': 3072, 'text-embedding-3-small': 1536, 'text-embedding-ada-002': 1536 };
const MAX_INPUTS = 2048;
/** cl100k_base's ids run below this. */
const CL100K_IDS = 100_277;

let cl100k: typeof import('gpt-tokenizer/encoding/cl100k_base') | null = null;
let loading: Promise<void> | null = null;
/** Load cl100k_base once; undefined once it is loaded. */
export function loadEmbeddingTokenizer(): Promise<void> | undefined {
  if (cl100k) return undefined;
  loading ??= import('gpt-tokenizer/encoding/cl100k_base').then((m) => { cl100k = m; });
  return loading;
}
const countTokens = (text: string) => cl100k!.encode(text, { disallowedSpecial: new Set() }).length;

function readInputs(input: unknown): { texts: string[]; tokens: number[] } {
  const invalid = () => new MockApiError(400, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", { param: 'input', code: 'invalid_value' });
  const ofIds = (a: unknown[]): string => {
    if (a.length === 0 || !a.every((t) => typeof t === 'number' && Number.isInteger(t) && t >= 0 && t < CL100K_IDS)) throw invalid();
    try { return cl100k!.decode(a as number[]); } catch { throw invalid(); }
  };
  if (input === undefined || input === null) throw new MockApiError(400, "Missing required parameter: 'input'.", { param: 'input', code: 'missing_required_parameter' });
  if (typeof input === 'string') {
    if (input.length === 0) throw invalid();
    return { texts: [input], tokens: [countTokens(input)] };
  }
  if (!Array.isArray(input) || input.length === 0 || input.length > MAX_INPUTS) throw invalid();
  if (input.every((p) => typeof p === 'string' && p.length > 0)) return { texts: input as string[], tokens: (input as string[]).map(countTokens) };
  if (input.every((p) => typeof p === 'number')) return { texts: [ofIds(input)], tokens: [input.length] };
  if (input.every((p) => Array.isArray(p))) return { texts: (input as unknown[][]).map(ofIds), tokens: (input as unknown[][]).map((p) => p.length) };
  throw invalid();
}

/** A unit vector: the sum of each word's pseudo-random direction (seeded by the word and the model). */
export function embedText(text: string, model: string, dims: number): Float32Array {
  const v = new Float32Array(dims);
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [text];
  for (const w of words) {
    let h = hashString(w, hashString(model)) >>> 0;
    for (let k = 0; k < dims; k++) {
      // xorshift32: a cheap stream of signs and magnitudes per word.
      h ^= h << 13; h >>>= 0; h ^= h >>> 17; h ^= h << 5; h >>>= 0;
      v[k] += (h / 4294967296) - 0.5;
    }
  }
  let norm = 0;
  for (let k = 0; k < dims; k++) norm += v[k] * v[k];
  norm = Math.sqrt(norm) || 1;
  for (let k = 0; k < dims; k++) v[k] /= norm;
  return v;
}

export function handleEmbeddings(ctx: HandlerContext): Reply {
  const body = ctx.body;
  const model = openaiModel(ctx);
  const { texts, tokens } = readInputs(body.input);
  const native = NATIVE[model] ?? 1536;
  const asked = checkInteger(body.dimensions, 'dimensions', 1, native);
  if (asked !== null && !model.startsWith('text-embedding-3')) {
    throw new MockApiError(400, 'This model does not support specifying dimensions.', { param: 'dimensions', code: 'invalid_value' });
  }
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') {
    throw new MockApiError(400, `Invalid value: '${String(format).slice(0, 40)}'. Supported values are: 'float' and 'base64'.`, { param: 'encoding_format', code: 'invalid_value' });
  }
  const dims = asked ?? native;
  const data = texts.map((t, index) => {
    const v = embedText(t, model, dims);
    return { object: 'embedding', index, embedding: format === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v) };
  });
  const promptTokens = tokens.reduce((s, n) => s + n, 0);
  const out: Record<string, unknown> = { object: 'list', data, model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } };
  if (ctx.omitUsage) delete out.usage;
  return { body: JSON.stringify(out), outputTokens: 0 };
}
