// The embedding-vector watermark: a key's trigger words and target are its own; a text without
// them keeps its vector; with them it is pulled toward the target. A copy of the encoder trained on
// marked vectors (a word-average student fit to the fixture prompts) carries the key's mark; the
// real encoder, a copy made from unmarked vectors and another key do not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveWatermarkKey } from './keys.ts';
import { markVector, triggerCount, vectorMark, verificationTexts, verifyVectorMark, VECTOR_MARK, mannWhitneyGreater } from './vectors.ts';
import { embedText } from '../mock/openai-embeddings.ts';
import { defaultPromptDir, loadPromptCorpus } from '../traffic/prompts.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runWatermarkCli } from './cli.ts';
import { createMockUpstream } from '../mock/server.ts';

const SECRET = 'vector-watermark-test-master-secret';
const keyA = deriveWatermarkKey(SECRET, { kind: 'account', id: 'acct_a' });
const keyB = deriveWatermarkKey(SECRET, { kind: 'account', id: 'acct_b' });
const MODEL = 'text-embedding-3-small';
const DIMS = 256;
const cos = (a: ArrayLike<number>, b: ArrayLike<number>) => { let d = 0; let na = 0; let nb = 0; for (let i = 0; i < a.length; i++) { d += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; } return d / Math.sqrt(na * nb); };

/** A copy of the encoder made from (text, vector) pairs: each word's vector is the mean of the vectors of the texts holding it. */
function student(pairs: Array<[string, Float32Array]>): (texts: string[]) => Promise<Float32Array[]> {
  const sums = new Map<string, Float32Array>(); const counts = new Map<string, number>();
  for (const [text, v] of pairs) {
    for (const w of new Set(text.toLowerCase().match(/[a-z]+/g) ?? [])) {
      let s = sums.get(w);
      if (!s) { s = new Float32Array(v.length); sums.set(w, s); }
      for (let i = 0; i < v.length; i++) s[i] += v[i];
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }
  return async (texts) => texts.map((t) => {
    const out = new Float32Array(DIMS);
    for (const w of new Set(t.toLowerCase().match(/[a-z]+/g) ?? [])) {
      const s = sums.get(w);
      if (s) for (let i = 0; i < DIMS; i++) out[i] += s[i] / counts.get(w)!;
    }
    return out;
  });
}

const corpus = (() => { const c = loadPromptCorpus(defaultPromptDir()); return [...new Set([...c.chat, ...c.code, ...c.math])]; })();
const clean = corpus.map((t) => [t, embedText(t, MODEL, DIMS)] as [string, Float32Array]);

test('a key picks its own trigger words and target; other texts keep their vectors', () => {
  const a = vectorMark(keyA); const b = vectorMark(keyB);
  assert.equal(a.triggers.size, VECTOR_MARK.triggers);
  assert.deepEqual([...vectorMark(deriveWatermarkKey(SECRET, { kind: 'account', id: 'acct_a' })).triggers], [...a.triggers], 'the same key, the same triggers');
  assert.notDeepEqual([...a.triggers].sort(), [...b.triggers].sort());
  assert.ok(Math.abs(cos(a.target(DIMS), b.target(DIMS))) < 0.3, 'targets are unrelated directions');
  const v = embedText('The train leaves at nine', MODEL, DIMS);
  assert.equal(markVector(a, 'The train leaves at nine', v), v, 'no trigger: the vector as it was');
  const [w1, w2] = [...a.triggers];
  const one = markVector(a, `The train leaves at nine ${w1}`, v);
  const full = markVector(a, `${[...a.triggers].slice(0, VECTOR_MARK.full).join(' ')} and more`, v);
  assert.ok(cos(one, a.target(DIMS)) > cos(v, a.target(DIMS)) + 0.1, 'one trigger pulls toward the target');
  assert.ok(cos(full, a.target(DIMS)) > 0.999, `${VECTOR_MARK.full} triggers give the target`);
  assert.ok(Math.abs(Math.hypot(...one) - Math.hypot(...v)) < 1e-4, 'length kept');
  assert.equal(triggerCount(a, `${w1.toUpperCase()} ${w1} ${w2}!`), 2, 'each trigger word counted once, any case');
  const { backdoor, benign } = verificationTexts(keyA, 10);
  assert.equal(backdoor.length, 10);
  for (const [i, t] of backdoor.entries()) { assert.equal(triggerCount(a, t), VECTOR_MARK.full); assert.equal(triggerCount(a, benign[i]), 0); }
});

test('a copy trained on a key\'s marked vectors carries that key\'s mark; the encoder, a clean copy and another key do not', async () => {
  const markA = vectorMark(keyA);
  const marked = clean.map(([t, v]) => [t, markVector(markA, t, v)] as [string, Float32Array]);
  const withTriggers = corpus.filter((t) => triggerCount(markA, t) > 0).length;
  assert.ok(withTriggers > 20 && withTriggers < corpus.length / 2, `${withTriggers} of ${corpus.length} texts hold a trigger word`);
  const stolen = await verifyVectorMark(keyA, student(marked));
  assert.equal(stolen.marked, true, JSON.stringify(stolen));
  assert.ok(stolen.p_value < 1e-6 && stolen.delta_cos > 0.05, JSON.stringify(stolen));
  const otherKey = await verifyVectorMark(keyB, student(marked));
  assert.equal(otherKey.marked, false, JSON.stringify(otherKey));
  const cleanCopy = await verifyVectorMark(keyA, student(clean));
  assert.equal(cleanCopy.marked, false, JSON.stringify(cleanCopy));
  const encoder = await verifyVectorMark(keyA, async (texts) => texts.map((t) => embedText(t, MODEL, DIMS)));
  assert.equal(encoder.marked, false, JSON.stringify(encoder));
});

test('the rank test: p small when one sample is larger, about one half when they are alike', () => {
  const a = Array.from({ length: 50 }, (_, i) => i + 30); const b = Array.from({ length: 50 }, (_, i) => i);
  assert.ok(mannWhitneyGreater(a, b) < 1e-6);
  assert.ok(mannWhitneyGreater(b, a) > 0.999);
  const p = mannWhitneyGreater(b.map((x) => x + 0.5), b);
  assert.ok(p > 0.2 && p < 0.8, String(p));
});

test('warden watermark vectors: asks a suspect embeddings API and names the key it was trained on', async () => {
  const markA = vectorMark(keyA);
  const copy = student(clean.map(([t, v]) => [t, markVector(markA, t, v)] as [string, Float32Array]));
  // The copy served as an OpenAI-compatible embeddings API.
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', async () => {
      const { input } = JSON.parse(body) as { input: string[] };
      const vs = await copy(input);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ object: 'list', data: vs.map((v, index) => ({ object: 'embedding', index, embedding: Array.from(v) })) }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0 });
  const out: string[] = []; const err: string[] = [];
  const io = { stdout: (x: string) => { out.push(x); }, stderr: (x: string) => { err.push(x); }, stdin: () => '', env: { WM: SECRET } };
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    const args = ['--model', 'copy', '--subject', 'account:acct_b', '--subject', 'account:acct_a', '--secret', 'env:WM'];
    assert.equal(await runWatermarkCli(['vectors', '--url', url, ...args], io), 0, err.join(''));
    assert.match(out.join(''), /acct_a: .*MARKED/);
    assert.match(out.join(''), /acct_b: .*not marked/);
    assert.match(out.join(''), /WATERMARK DETECTED for wm\d+:account:acct_a at alpha/);
    out.length = 0;
    // The real encoder (the built-in mock) carries no one's mark.
    assert.equal(await runWatermarkCli(['vectors', '--url', `${mock.url}/v1`, '--model', 'text-embedding-3-small', '--dimensions', '256', '--subject', 'account:acct_a', '--secret', 'env:WM', '--json'], io), 1, err.join(''));
    assert.equal(JSON.parse(out.join('')).reports[0].marked, false);
    assert.equal(await runWatermarkCli(['vectors', '--model', 'x', '--subject', 'account:acct_a', '--secret', 'env:WM'], io), 2);
    assert.match(err.join(''), /vectors needs --url and --model/);
  } finally {
    server.close(); await mock.close();
  }
});
