// Noise on embedding vectors: about the cosine the level promises, the same noise for the same
// text and account (so asking again does not average it away), another account's noise different,
// the format kept, and an account's own nearest neighbours mostly kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { embeddingNoiseFilter, noisyVector } from './embeddings.ts';
import { embedText } from '../mock/openai-embeddings.ts';

const cos = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0; let na = 0; let nb = 0;
  for (let k = 0; k < a.length; k++) { d += a[k] * b[k]; na += a[k] * a[k]; nb += b[k] * b[k]; }
  return d / Math.sqrt(na * nb);
};
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

test('the filter noises every vector in its own format and says so; the upstream answer is untouched', () => {
  const v = embedText('some text', 'text-embedding-3-small', 64);
  const b64 = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  const answer = { object: 'list', model: 'text-embedding-3-small', data: [{ object: 'embedding', index: 0, embedding: Array.from(v) }, { object: 'embedding', index: 1, embedding: b64 }], usage: { prompt_tokens: 4, total_tokens: 4 } };
  const notes: string[] = [];
  const out = embeddingNoiseFilter(0.3, 'acct_1', (a) => notes.push(a)).json!(answer) as typeof answer;
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
