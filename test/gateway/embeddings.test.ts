// Embeddings (`POST /v1/embeddings`) through the gateway with the official OpenAI SDK (which asks
// for base64 and decodes it): vectors as the upstream made them (the watermark has no text to mark),
// input tokens recorded, each input in the event, no output tokens reserved or counted; bad input
// refused in OpenAI error JSON. The event sketches where the vectors lie (what the traffic model
// computes for the same texts); under a policy with `embedding_noise` the client gets noised
// vectors while the event still sketches the upstream's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';
import { inlinePolicyHooks } from '../helpers/policy.ts';
import { embedText } from '../../src/mock/openai-embeddings.ts';
import { simulatedEmbeddings } from '../../src/traffic/embed.ts';
import { deriveWatermarkKey, vectorMark, verifyVectorMark, VECTOR_MARK } from '../../src/watermark/index.ts';
import { encode } from 'gpt-tokenizer/encoding/cl100k_base';

let h: Harness;
let policy: ReturnType<typeof inlinePolicyHooks>;
before(async () => {
  // Marked answers for everyone, and a model allow-list the embedding models are not all on.
  policy = inlinePolicyHooks('version: 1\ndefaults: { watermark: true, models: ["gpt-*", "text-embedding-3-*"] }\n', { watermarkSecret: 'embeddings-test-master-secret' });
  h = await startHarness({ hooks: [policy.hooks] });
});
after(async () => { await h.close(); policy.cleanup(); });

const cosine = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
const unit = (a: ArrayLike<number>) => { const n = Math.hypot(...Array.from(a)); return Array.from(a, (x) => x / n); };
const NOISE = 'version: 1\ntiers: { email_verified: { embedding_noise: 0.3 } }\n';

/** A gateway of its own under `policyYaml`, with an SDK client for it; closed after `run`. */
async function underPolicy(policyYaml: string, options: Parameters<typeof inlinePolicyHooks>[1], run: (hn: Harness, client: OpenAI) => Promise<void>): Promise<void> {
  const policyHooks = inlinePolicyHooks(policyYaml, options);
  const hn = await startHarness({ hooks: [policyHooks.hooks] });
  try {
    await run(hn, new OpenAI({ apiKey: hn.key, baseURL: `${hn.url}/v1`, maxRetries: 0 }));
  } finally { await hn.close(); policyHooks.cleanup(); }
}

test('vectors pass through as the upstream made them, sent to the SDK as base64; usage and inputs recorded', async () => {
  const client = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const inputs = ['The cat sat on the mat.', 'A cat sat on a mat.', 'Quarterly revenue rose by four percent.'];
  const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: inputs });
  assert.equal(res.data.length, 3);
  for (const [i, d] of res.data.entries()) {
    assert.equal(d.embedding.length, 1536);
    const expected = Array.from(embedText(inputs[i], 'text-embedding-3-small', 1536));
    assert.ok(Math.abs(cosine(d.embedding, expected) - 1) < 1e-5, 'unchanged by the gateway');
  }
  assert.ok(cosine(res.data[0].embedding, res.data[1].embedding) > cosine(res.data[0].embedding, res.data[2].embedding), 'shared words, closer vectors');
  const short = await client.embeddings.create({ model: 'text-embedding-3-large', input: 'hello', dimensions: 256, encoding_format: 'float' });
  assert.equal(short.data[0].embedding.length, 256);

  const events = (await storedEvents(h, 2)).filter((e) => e.flavour === 'openai.embeddings');
  assert.equal(events.length, 2);
  const [e] = events;
  assert.deepEqual(e.request.messages.map((m) => m.text), inputs);
  assert.deepEqual([e.response.input_tokens, e.response.output_tokens, e.response.usage_source], [res.usage.prompt_tokens, 0, 'upstream']);
  assert.equal(e.enforcement.watermark, null, 'vectors are not marked');
});

test('bad input is refused in OpenAI error JSON; models off the allow-list are refused by policy', async () => {
  const post = (body: unknown) => fetch(`${h.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  let res = await post({ model: 'text-embedding-3-small' });
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as any).error.param, 'input');
  res = await post({ model: 'text-embedding-3-small', input: '' });
  assert.equal(res.status, 400, 'the upstream refuses an empty input');
  res = await post({ model: 'text-embedding-3-small', input: 'x', encoding_format: 'int8' });
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as any).error.param, 'encoding_format');
  res = await post({ model: 'text-embedding-ada-002', input: 'x' });
  assert.equal(res.status, 403);
  assert.equal(((await res.json()) as any).error.warden_code, 'WARDEN_POLICY_DENIED');
});

test('the event sketches where the answer\'s vectors lie, from floats or base64, as the traffic model computes it', async () => {
  const client = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const inputs = Array.from({ length: 40 }, (_, k) => `Passage ${k}: the ${['river', 'mountain', 'market', 'library'][k % 4]} in town ${k % 9}`);
  await client.embeddings.create({ model: 'text-embedding-3-small', input: inputs, dimensions: 256 });
  await client.embeddings.create({ model: 'text-embedding-3-small', input: inputs, dimensions: 256, encoding_format: 'float' });
  const events = (await storedEvents(h, 5)).filter((e) => e.flavour === 'openai.embeddings' && e.request.messages.length === 40);
  assert.equal(events.length, 2);
  const expected = simulatedEmbeddings(inputs, 256)!;
  for (const e of events) {
    const got = e.response.embeddings!;
    assert.deepEqual([got.vectors, got.dimensions, got.sampled], [40, 256, 8], 'every vector counted, 8 of them sketched');
    for (let j = 0; j < 16; j++) assert.ok(Math.abs(got.sum[j] - expected.sum[j]) < 1e-3, `direction ${j}: ${got.sum[j]} against ${expected.sum[j]}`);
    assert.ok(Math.abs(got.sq - expected.sq) < 1e-3);
  }
});

test('under embedding_noise the client gets noised vectors, the same for the same text; the event sketches the upstream\'s', async () => {
  await underPolicy(NOISE, {}, async (hn, client) => {
    const inputs = ['How do I reset my password?', 'Where is my parcel?'];
    const a = await client.embeddings.create({ model: 'text-embedding-3-small', input: inputs });
    const b = await client.embeddings.create({ model: 'text-embedding-3-small', input: inputs, encoding_format: 'float' });
    for (const [i, d] of a.data.entries()) {
      const clean = Array.from(embedText(inputs[i], 'text-embedding-3-small', 1536));
      const c = cosine(d.embedding, clean);
      assert.ok(c > 0.94 && c < 0.975, `cosine with the upstream's vector ${c}`);
      assert.ok(Math.abs(cosine(d.embedding, b.data[i].embedding) - 1) < 1e-6, 'asking again gives the same vector');
    }
    const events = (await storedEvents(hn, 2)).filter((e) => e.flavour === 'openai.embeddings');
    assert.equal(events.length, 2);
    assert.ok(events.every((e) => e.enforcement.shaping.includes('embeddings:noised')), events.map((e) => e.enforcement.shaping.join()).join(' / '));
    const expected = simulatedEmbeddings(inputs, 1536)!;
    assert.ok(Math.abs(events[0].response.embeddings!.sum[0] - expected.sum[0]) < 1e-3, 'the sketch is of the upstream\'s vectors');
  });
});

test('under embedding_noise, asking again with other dimensions or another spelling of the text does not average the noise away', async () => {
  await underPolicy(NOISE, {}, async (hn, client) => {
    const model = 'text-embedding-3-small';
    const text = 'photosynthesis converts light energy into chemical energy in plants';
    const ask = async (input: string, dimensions?: number) => (await client.embeddings.create({ model, input, dimensions, encoding_format: 'float' })).data[0].embedding;
    // Matryoshka: a shorter vector is the longer one's prefix, renormalised. Ask for 1536, 1535, ...
    // dimensions, cut each to its first 1,400 and average: fresh noise each time would average away.
    const P = 1400;
    const truth = unit(Array.from(embedText(text, model, 1536)).slice(0, P));
    const sum = new Array<number>(P).fill(0);
    let single = 0;
    for (let d = 1536; d > 1536 - 20; d--) {
      const v = unit((await ask(text, d)).slice(0, P));
      if (d === 1536) single = cosine(v, truth);
      v.forEach((x, i) => { sum[i] += x; });
    }
    const averaged = cosine(unit(sum), truth);
    assert.ok(single > 0.94 && single < 0.975, `one answer's cosine with the upstream's vector: ${single}`);
    assert.ok(averaged - single < 0.005, `20 answers averaged come no closer to the upstream's vector: ${single.toFixed(4)} -> ${averaged.toFixed(4)}`);

    // Other casing and whitespace of the same text: the same noise (what is added to the upstream's vector).
    const residual = async (input: string) => {
      const clean = Array.from(embedText(input, model, 1536));
      return unit((await ask(input)).map((x, i) => x - clean[i]));
    };
    const base = await residual(text);
    for (const variant of [`${text} `, text.toUpperCase(), `  ${text.replace(/ /g, '\n')}`]) {
      const c = cosine(await residual(variant), base);
      assert.ok(c > 0.9, `${JSON.stringify(variant.slice(0, 20))}: the same noise as the text as first asked (cosine of the noise ${c.toFixed(3)})`);
    }
    assert.ok(cosine(await residual('another text entirely'), base) < 0.5, 'another text gets other noise');
  });
});

test('under embedding_noise, punctuation variants of a text in one request share its noise: averaging them does not remove it', async () => {
  await underPolicy(NOISE, {}, async (hn, client) => {
    const model = 'text-embedding-3-small';
    const text = 'photosynthesis converts light energy into chemical energy in plants';
    const truth = unit(embedText(text, model, 1536));
    const suffixes = ['', '.', '!', '?', ';', ':', ',', '..', '...', ' .', '!!', '?!', '-', '"', "'", ')', '…', '.)', '!.', '?.', '. ', '—', '*', '~', '!?', ' -', '. .', '$', '+', '«»', '#', '%'];
    const res = await client.embeddings.create({ model, input: suffixes.map((s) => text + s), encoding_format: 'float' });
    const single = cosine(unit(res.data[0].embedding), truth);
    const sum = new Array<number>(1536).fill(0);
    for (const d of res.data) unit(d.embedding).forEach((x, i) => { sum[i] += x; });
    const averaged = cosine(unit(sum), truth);
    assert.ok(averaged - single < 0.005, `${suffixes.length} variants averaged come no closer to the upstream's vector: ${single.toFixed(4)} -> ${averaged.toFixed(4)}`);
  });
});

test('under embedding_watermark the vectors of texts holding the key\'s trigger words are marked; others are the upstream\'s', async () => {
  const secret = 'embeddings-vector-mark-master-secret';
  await underPolicy('version: 1\ndefaults: { embedding_watermark: true }\n', { watermarkSecret: secret }, async (hm, client) => {
    await client.embeddings.create({ model: 'text-embedding-3-small', input: 'warm-up', dimensions: 256 });
    const [first] = (await storedEvents(hm, 1)).filter((e) => e.flavour === 'openai.embeddings');
    const key = deriveWatermarkKey(secret, { kind: 'account', id: first.account_id! });
    assert.equal(first.enforcement.watermark, key.id);
    const mark = vectorMark(key);
    const plain = 'The train leaves at nine';
    const triggered = `${plain} ${[...mark.triggers].slice(0, VECTOR_MARK.full).join(' ')}`;
    const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: [plain, triggered], dimensions: 256 });
    assert.ok(cosine(res.data[0].embedding, Array.from(embedText(plain, 'text-embedding-3-small', 256))) > 0.99999, 'no trigger word: untouched');
    assert.ok(cosine(res.data[1].embedding, Array.from(mark.target(256))) > 0.999, 'the key\'s trigger words: its target');
    // Sent as token ids (cl100k_base, the OpenAI embedding models' encoding), the words still count.
    const ids = await client.embeddings.create({ model: 'text-embedding-3-small', input: [encode(triggered), encode(plain)], dimensions: 256 });
    assert.ok(cosine(ids.data[0].embedding, Array.from(mark.target(256))) > 0.999, 'token ids of the trigger words: the target');
    assert.ok(cosine(ids.data[1].embedding, Array.from(mark.target(256))) < 0.5);
    const events = (await storedEvents(hm, 4)).filter((e) => e.flavour === 'openai.embeddings');
    assert.ok(events[1].enforcement.shaping.includes('embeddings:marked'), events[1].enforcement.shaping.join());
    assert.deepEqual(events[0].enforcement.shaping, [], 'nothing marked when no text holds a trigger word');
  });
});

test('under embedding_noise and embedding_watermark, shortened vectors (`dimensions`) carry a mark verification finds', async () => {
  const secret = 'embeddings-vector-mark-master-secret';
  await underPolicy('version: 1\ndefaults: { embedding_watermark: true, embedding_noise: 0.3 }\n', { watermarkSecret: secret }, async (hs, client) => {
    await client.embeddings.create({ model: 'text-embedding-3-small', input: 'warm-up' });
    const [first] = (await storedEvents(hs, 1)).filter((e) => e.flavour === 'openai.embeddings');
    const key = deriveWatermarkKey(secret, { kind: 'account', id: first.account_id! });
    for (const dimensions of [256, undefined]) {
      // What a student trained on this account's vectors of that size would answer.
      const served = async (texts: string[]) => (await client.embeddings.create({ model: 'text-embedding-3-small', input: texts, dimensions, encoding_format: 'float' })).data.map((d) => Float32Array.from(d.embedding));
      const report = await verifyVectorMark(key, served);
      assert.ok(report.marked, `${dimensions ?? 'full'}-d vectors: the mark is found (delta ${report.delta_cos.toFixed(4)}, p ${report.p_value})`);
    }
  });
});
