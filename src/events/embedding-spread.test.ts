// The embeddings sketch the gateway records: the same numbers from floats and from base64, a few
// vectors evenly spaced out of a large batch, and lengths kept in expectation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMBEDDING_DIRECTIONS, EMBEDDING_SAMPLE, readEmbedding, sampledIndices, summariseEmbeddings } from './index.ts';

function unit(seed: number, d: number): Float32Array {
  const v = new Float32Array(d);
  let h = seed >>> 0 || 1;
  for (let k = 0; k < d; k++) { h ^= h << 13; h >>>= 0; h ^= h >>> 17; h ^= h << 5; h >>>= 0; v[k] = h / 4294967296 - 0.5; }
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}
const base64 = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');

test('floats and base64 give the same sketch; scale does not matter', () => {
  const vs = [unit(1, 256), unit(2, 256), unit(3, 256)];
  const floats = summariseEmbeddings(vs.map((v) => ({ embedding: Array.from(v) })))!;
  const b64 = summariseEmbeddings(vs.map((v) => ({ embedding: base64(v) })))!;
  assert.deepEqual(b64, floats);
  const scaled = summariseEmbeddings(vs.map((v) => ({ embedding: Array.from(v, (x) => x * 7) })))!;
  assert.deepEqual(scaled.sum.map((x) => x.toFixed(3)), floats.sum.map((x) => x.toFixed(3)), 'vectors are normalised first');
  assert.deepEqual([floats.vectors, floats.dimensions, floats.sampled, floats.sum.length], [3, 256, 3, EMBEDDING_DIRECTIONS]);
});

test('a large batch is sketched from evenly spaced vectors; squared lengths are kept in expectation', () => {
  assert.deepEqual(sampledIndices(3), [0, 1, 2]);
  const idx = sampledIndices(2048);
  assert.equal(idx.length, EMBEDDING_SAMPLE);
  assert.deepEqual([idx[0], idx[1], idx.at(-1)], [0, 256, 1792]);
  const data = Array.from({ length: 2048 }, (_, k) => ({ embedding: Array.from(unit(k + 10, 512)) }));
  const s = summariseEmbeddings(data)!;
  assert.deepEqual([s.vectors, s.sampled], [2048, EMBEDDING_SAMPLE]);
  // Unit vectors keep a squared length of about 1 each after projection (over many vectors).
  const many = Array.from({ length: 400 }, (_, k) => summariseEmbeddings([{ embedding: Array.from(unit(k + 5000, 512)) }])!.sq);
  const mean = many.reduce((a, b) => a + b, 0) / many.length;
  assert.ok(Math.abs(mean - 1) < 0.15, `mean squared length ${mean}`);
});

test('what is not a vector is skipped, and an answer with none has no sketch', () => {
  assert.equal(readEmbedding('not base64 of floats!'), null);
  assert.equal(readEmbedding([1, 'x']), null);
  assert.equal(readEmbedding([]), null);
  assert.equal(summariseEmbeddings([]), null);
  assert.equal(summariseEmbeddings([{ embedding: null }, { object: 'embedding' }]), null);
  assert.equal(summariseEmbeddings({ data: [] }), null);
  const mixed = summariseEmbeddings([{ embedding: Array.from(unit(5, 64)) }, { embedding: Array.from(unit(6, 32)) }, { embedding: Array(64).fill(0) }])!;
  assert.deepEqual([mixed.vectors, mixed.dimensions, mixed.sampled], [3, 64, 1], 'another size and a zero vector are skipped');
});
