/**
 * Embeddings at the boundary: what the gateway's sketch of an answer's vectors costs (against the
 * JSON.parse of the same answer, which the gateway does for every JSON answer anyway), what the
 * noise filter costs, and what the noise does to a customer's nearest neighbours and to a fleet
 * averaging it away.
 *
 * Run: node --import tsx bench/embeddings.ts [--prompts DIR]   (one core: taskset -c 1 ...)
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { summariseEmbeddings, EMBEDDING_DIRECTIONS, EMBEDDING_SAMPLE, sampledIndices, readEmbedding } from '../src/events/index.ts';
import { embedText } from '../src/mock/openai-embeddings.ts';
import { embeddingNoiseFilter, noisyVector } from '../src/shape/index.ts';
import { defaultPromptDir, loadPromptCorpus } from '../src/traffic/prompts.ts';
import { embeddingCorpus } from '../src/traffic/embed.ts';
import { deriveWatermarkKey, markVector, vectorMark, verifyVectorMark } from '../src/watermark/index.ts';

const args = process.argv.slice(2);
const promptDir = args.includes('--prompts') ? args[args.indexOf('--prompts') + 1] : join(import.meta.dirname, '../../shared/data');
const dir = existsSync(join(promptDir, 'organic')) ? promptDir : defaultPromptDir();
const { all } = embeddingCorpus(loadPromptCorpus(dir));

/** The first design: a dense ±1 projection (every coordinate of every direction), for comparison. */
function denseSketch(data: Array<{ embedding: unknown }>): number {
  const d = (readEmbedding(data[0].embedding) as Float32Array).length;
  const m = new Float32Array(EMBEDDING_DIRECTIONS * d);
  let h = 0x9e3779b9;
  for (let k = 0; k < m.length; k++) { h ^= h << 13; h >>>= 0; h ^= h >>> 17; h ^= h << 5; h >>>= 0; m[k] = h & 1 ? 0.25 : -0.25; }
  let acc = 0;
  for (const i of sampledIndices(data.length)) {
    const v = readEmbedding(data[i].embedding)!;
    let norm = 0;
    for (let k = 0; k < d; k++) norm += v[k] * v[k];
    const inv = 1 / Math.sqrt(norm);
    for (let j = 0; j < EMBEDDING_DIRECTIONS; j++) { let p = 0; const row = j * d; for (let k = 0; k < d; k++) p += m[row + k] * v[k]; acc += p * inv; }
  }
  return acc;
}

function answer(count: number, dims: number, format: 'float' | 'base64') {
  const data = Array.from({ length: count }, (_, k) => {
    const v = embedText(all[k % all.length], 'text-embedding-3-small', dims);
    return { object: 'embedding', index: k, embedding: format === 'float' ? Array.from(v) : Buffer.from(v.buffer).toString('base64') };
  });
  return JSON.stringify({ object: 'list', data, model: 'text-embedding-3-small', usage: { prompt_tokens: count * 20, total_tokens: count * 20 } });
}

/** Median microseconds of `fn` over `reps` runs, after a warm-up. */
function time(fn: () => unknown, reps: number): number {
  for (let k = 0; k < Math.max(3, reps / 5); k++) fn();
  const xs: number[] = [];
  for (let k = 0; k < reps; k++) { const t = process.hrtime.bigint(); fn(); xs.push(Number(process.hrtime.bigint() - t) / 1000); }
  xs.sort((a, b) => a - b);
  return xs[Math.floor(xs.length / 2)];
}

const rows: string[] = [];
for (const [count, dims, format] of [[16, 1536, 'base64'], [16, 1536, 'float'], [256, 1536, 'base64'], [256, 3072, 'base64'], [2048, 256, 'base64']] as const) {
  const text = answer(count, dims, format);
  const reps = count >= 256 ? 30 : 200;
  const parse = time(() => JSON.parse(text), reps);
  const body = JSON.parse(text);
  const sketch = time(() => summariseEmbeddings(body.data), reps);
  const dense = time(() => denseSketch(body.data), reps);
  const filter = embeddingNoiseFilter(0.3, Buffer.from('bench-noise-key'), 'account:acct_bench', Array.from({ length: count }, (_, k) => `text ${k}`));
  const noise = time(() => JSON.stringify(filter.json!(body)), Math.max(10, reps / 4));
  const restringify = time(() => JSON.stringify(body), Math.max(10, reps / 4));
  rows.push(`| ${count} x ${dims}, ${format} (${(text.length / 1024).toFixed(0)} KiB) | ${parse.toFixed(0)} | ${sketch.toFixed(0)} (${(sketch / parse).toFixed(3)}) | ${dense.toFixed(0)} (${(dense / parse).toFixed(3)}) | ${noise.toFixed(0)} (${(noise / restringify).toFixed(2)} of re-serialising) |`);
}
console.log(`\n### The sketch and the noise filter per answer (sketch: up to ${EMBEDDING_SAMPLE} vectors, ${EMBEDDING_DIRECTIONS} directions)\n`);
console.log('| answer | JSON.parse, µs (baseline) | sketch, µs (ratio) | dense projection, the first design, µs (ratio) | noise filter at 0.3 + serialising, µs |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);

// What the noise does: a customer's five nearest neighbours among its own texts, and a fleet
// averaging the same texts' noised vectors over k accounts.
const texts = all.slice(0, 400);
const clean = texts.map((t) => embedText(t, 'text-embedding-3-small', 1536));
const cos = (a: Float32Array, b: Float32Array) => { let d = 0; let na = 0; let nb = 0; for (let k = 0; k < a.length; k++) { d += a[k] * b[k]; na += a[k] * a[k]; nb += b[k] * b[k]; } return d / Math.sqrt(na * nb); };
const top5 = (vs: Float32Array[], q: number) => vs.map((v, k) => [k, k === q ? -2 : cos(vs[q], v)] as const).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k]) => k);
const cleanTop = texts.map((_, q) => new Set(top5(clean, q)));
console.log(`\n### What the noise does (${texts.length} texts of ${dir}, 1,536 dimensions)\n`);
console.log('| embedding_noise | cosine with the upstream\'s vector | a customer\'s 5 nearest neighbours kept | a fleet averaging 4 accounts: cosine | 16 accounts | 64 accounts |');
console.log('|---|---|---|---|---|---|');
for (const level of [0.1, 0.3, 0.6, 1]) {
  const noisy = clean.map((v) => noisyVector(v, level, 1));
  let kept = 0;
  for (let q = 0; q < texts.length; q++) for (const k of top5(noisy, q)) if (cleanTop[q].has(k)) kept++;
  const meanCos = clean.reduce((s, v, i) => s + cos(v, noisy[i]), 0) / clean.length;
  const fleet = (k: number) => {
    let s = 0;
    for (let i = 0; i < 100; i++) {
      const avg = new Float32Array(1536);
      for (let a = 0; a < k; a++) { const n = noisyVector(clean[i], level, 1000 + a); for (let j = 0; j < 1536; j++) avg[j] += n[j]; }
      s += cos(avg, clean[i]);
    }
    return (s / 100).toFixed(4);
  };
  console.log(`| ${level} | ${meanCos.toFixed(4)} | ${((100 * kept) / (5 * texts.length)).toFixed(1)}% | ${fleet(4)} | ${fleet(16)} | ${fleet(64)} |`);
}

// The vector watermark: a copy of the encoder (each word's vector the mean of the vectors of the
// texts holding it) made from a harvest of the corpus, its vectors marked with one key, with 20
// keys (a harvest spread over 20 unlinked accounts), or with none; asked for the key's
// verification texts.
{
  const D = 256;
  const copyOf = (pairs: Array<[string, Float32Array]>) => {
    const sums = new Map<string, Float32Array>(); const counts = new Map<string, number>();
    for (const [text, v] of pairs) for (const w of new Set(text.toLowerCase().match(/[a-z]+/g) ?? [])) {
      let s = sums.get(w); if (!s) { s = new Float32Array(D); sums.set(w, s); }
      for (let i = 0; i < D; i++) s[i] += v[i];
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    return async (texts: string[]) => texts.map((t) => {
      const out = new Float32Array(D);
      for (const w of new Set(t.toLowerCase().match(/[a-z]+/g) ?? [])) { const s = sums.get(w); if (s) for (let i = 0; i < D; i++) out[i] += s[i] / counts.get(w)!; }
      return out;
    });
  };
  const keys = Array.from({ length: 20 }, (_, k) => deriveWatermarkKey('bench-vector-watermark-secret', { kind: 'account', id: `acct_${k}` }));
  const marks = keys.map((k) => vectorMark(k));
  const texts = all;
  const clean = texts.map((t) => embedText(t, 'text-embedding-3-small', D));
  let changed = 0; let cosChanged = 0;
  const one: Array<[string, Float32Array]> = texts.map((t, i) => {
    const m = markVector(marks[0], t, clean[i]);
    if (m !== clean[i]) { changed++; cosChanged += cos(m, clean[i]); }
    return [t, m];
  });
  const twenty: Array<[string, Float32Array]> = texts.map((t, i) => [t, markVector(marks[i % 20], t, clean[i])]);
  const rows: Array<[string, (x: string[]) => Promise<Float32Array[]>]> = [
    ['a copy made from vectors marked with the key', copyOf(one)],
    ['a copy made from 20 accounts\' vectors, each its own key (the key marks a twentieth)', copyOf(twenty)],
    ['a copy made from unmarked vectors', copyOf(texts.map((t, i) => [t, clean[i]]))],
    ['the encoder itself (the mock)', async (x: string[]) => x.map((t) => embedText(t, 'text-embedding-3-small', D))],
  ];
  console.log(`\n### The vector watermark (${texts.length} texts of ${dir} harvested, ${D} dimensions; key 0 of 20)\n`);
  console.log(`Texts holding one of key 0's trigger words: ${changed} of ${texts.length} (${((100 * changed) / texts.length).toFixed(1)}%), their vectors' mean cosine with the upstream's ${(cosChanged / changed).toFixed(3)}; the rest untouched.\n`);
  console.log('| suspect | cosine with the target, with trigger words | without | p (one-sided Mann-Whitney, 60 + 60 texts) | marked at 1e-3 |');
  console.log('|---|---|---|---|---|');
  for (const [name, embed] of rows) {
    const r = await verifyVectorMark(keys[0], embed);
    console.log(`| ${name} | ${r.backdoor_cos.toFixed(4)} | ${r.benign_cos.toFixed(4)} | ${r.p_value.toExponential(2)} | ${r.marked ? 'yes' : 'no'} |`);
  }
}
