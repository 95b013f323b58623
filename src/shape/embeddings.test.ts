// Noise on embedding vectors: about the cosine the level promises, the same noise for the same
// text and account (so asking again does not average it away), another account's noise different,
// the format kept, and an account's own nearest neighbours mostly kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { embeddingNoiseFilter, noiseSeed, noisyVector, shortened, shortenedUnderNoise } from './embeddings.ts';
import { embedText } from '../mock/openai-embeddings.ts';

const cos = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0; let na = 0; let nb = 0;
  for (let k = 0; k < a.length; k++) { d += a[k] * b[k]; na += a[k] * a[k]; nb += b[k] * b[k]; }
  return d / Math.sqrt(na * nb);
};
const KEY = Buffer.from('embedding-noise-test-key');
const TEXTS = Array.from({ length: 60 }, (_, k) => `Document ${k} about ${['billing', 'shipping', 'returns', 'accounts', 'security', 'pricing'][k % 6]} and ${['orders', 'refunds', 'passwords', 'invoices', 'carriers'][k % 5]} for customer ${k % 7}`);

test('the level sets the cosine with the original; lengths are kept', () => {
  for (const [level, expected] of [[0.1, 0.995], [0.3, 0.958], [0.6, 0.857]] as const) {
    const v = embedText('The quick brown fox jumps over the lazy dog', 'text-embedding-3-small', 1536).map((x) => x * 2);
    const n = noisyVector(v, level, 42);
    assert.ok(Math.abs(cos(v, n) - expected) < 0.01, `level ${level}: cosine ${cos(v, n)}`);
    assert.ok(Math.abs(Math.hypot(...n) - 2) < 1e-3, 'length kept');
  }
});

test('the same text and account get the same noise; another account other noise', () => {
  const v = embedText('hello world', 'text-embedding-3-small', 256);
  assert.deepEqual(noisyVector(v, 0.3, 1), noisyVector(Float32Array.from(v), 0.3, 1));
  assert.ok(cos(noisyVector(v, 0.3, 1), noisyVector(v, 0.3, 2)) < 0.95);
});

test('the seed is the account\'s (or cluster\'s) and the text\'s, whatever its case, spacing or invisible characters, under the deployment\'s key', () => {
  const seed = noiseSeed(KEY, 'account:acct_1', 'Where is my parcel?');
  for (const variant of ['where is my parcel?', ' Where  is my\nparcel? ', 'WHERE IS MY PARCEL?', 'Where is\u200b my parcel?', 'Ｗhere is my parcel?']) {
    assert.equal(noiseSeed(KEY, 'account:acct_1', variant), seed, `${JSON.stringify(variant)} gets the same noise`);
  }
  assert.notEqual(noiseSeed(KEY, 'account:acct_2', 'Where is my parcel?'), seed, 'another account, other noise');
  assert.notEqual(noiseSeed(KEY, 'account:acct_1', 'Where is my order?'), seed, 'another text, other noise');
  assert.notEqual(noiseSeed(Buffer.from('another deployment'), 'account:acct_1', 'Where is my parcel?'), seed, 'a client cannot compute it without the key');
});

test('under noise, `dimensions` of a model that shortens by prefix is cut by Warden after the noise; other models\' refused', () => {
  const body: Record<string, unknown> = { model: 'text-embedding-3-small', input: 'x', dimensions: 256 };
  assert.deepEqual(shortenedUnderNoise(body, 'text-embedding-3-small'), { keep: 256 });
  assert.equal(body.dimensions, undefined, 'the upstream is asked for the full size');
  assert.equal(shortenedUnderNoise({ dimensions: 5000 }, 'text-embedding-3-small'), null, 'a size the upstream refuses is left for it to refuse');
  assert.equal(shortenedUnderNoise({}, 'text-embedding-3-large'), null);
  assert.equal(shortenedUnderNoise({ dimensions: 256 }, 'some-other-embedder'), 'refuse');
  // Two sizes of one text: one noised vector's prefixes, so between them they say nothing more.
  const noised = noisyVector(embedText('hello world', 'text-embedding-3-small', 1536), 0.3, 9);
  const [a, b] = [shortened(noised, 512), shortened(noised, 256)];
  assert.ok(Math.abs(cos(a.slice(0, 256), b) - 1) < 1e-6, 'the shorter is the longer one\'s prefix');
  assert.ok(Math.abs(Math.hypot(...b) - 1) < 1e-5, 'scaled back to the full vector\'s length');
});

test('the filter noises every vector in its own format and says so; the upstream answer is untouched', () => {
  const v = embedText('some text', 'text-embedding-3-small', 64);
  const b64 = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  const answer = { object: 'list', model: 'text-embedding-3-small', data: [{ object: 'embedding', index: 0, embedding: Array.from(v) }, { object: 'embedding', index: 1, embedding: b64 }], usage: { prompt_tokens: 4, total_tokens: 4 } };
  const notes: string[] = [];
  const out = embeddingNoiseFilter(0.3, KEY, 'account:acct_1', ['some text', 'some text'], (a) => notes.push(a)).json!(answer) as typeof answer;
  assert.deepEqual([...new Set(notes)], ['embeddings:noised']);
  assert.equal(answer.data[1].embedding, b64, 'the upstream answer object is not modified');
  assert.ok(Array.isArray(out.data[0].embedding) && typeof out.data[1].embedding === 'string');
  const fromB64 = new Float32Array(new Uint8Array(Buffer.from(out.data[1].embedding as string, 'base64')).buffer);
  assert.ok(cos(out.data[0].embedding as number[], v) < 0.999 && cos(out.data[0].embedding as number[], v) > 0.9);
  assert.deepEqual(Array.from(fromB64), out.data[0].embedding, 'the same vector gets the same noise in either format');
  assert.deepEqual([out.usage, out.model, out.data[1].index], [answer.usage, answer.model, 1]);
});

test('at the shipped shape level an account\'s own nearest neighbours are mostly kept', () => {
  const clean = TEXTS.map((t) => embedText(t, 'text-embedding-3-small', 512));
  const noisy = clean.map((v) => noisyVector(v, 0.3, 7));
  let kept = 0; let total = 0;
  for (let q = 0; q < TEXTS.length; q++) {
    const top = (vs: Float32Array[]) => vs.map((v, k) => [k, k === q ? -2 : cos(vs[q], v)] as const).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k]) => k);
    const a = new Set(top(clean));
    for (const k of top(noisy)) if (a.has(k)) kept++;
    total += 5;
  }
  assert.ok(kept / total >= 0.7, `top-5 neighbours kept: ${kept}/${total}`);
});
