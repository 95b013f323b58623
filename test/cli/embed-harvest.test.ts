// An embedding harvest through the whole of `warden serve` (default policy, online detector):
// among customers indexing their own subjects and retrieval products embedding their users'
// questions, an account embedding a broad corpus is shaped within seconds of its 500th text; from
// then on its vectors carry noise (the same text, the same noise) and its events say so, while
// the customers' vectors stay exactly the upstream's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestWarden } from '../helpers/warden.ts';
import { embedText } from '../../src/mock/openai-embeddings.ts';
import { embeddingCorpus } from '../../src/traffic/embed.ts';
import { defaultPromptDir, loadPromptCorpus } from '../../src/traffic/prompts.ts';

const MODEL = 'text-embedding-3-small';
const cosine = (a: ArrayLike<number>, b: ArrayLike<number>) => { let s = 0; for (let k = 0; k < a.length; k++) s += a[k] * b[k]; return s; };

function picker(seed: number) {
  let h = seed >>> 0 || 1;
  return (list: string[], n: number) => Array.from({ length: n }, () => { h ^= h << 13; h >>>= 0; h ^= h >>> 17; h ^= h << 5; h >>>= 0; return list[h % list.length]; });
}

test('an account embedding a broad corpus is shaped within seconds and gets noised vectors; customers do not', { timeout: 120_000 }, async () => {
  // Each customer from its own address (through a trusted proxy), as customers are.
  const h = await startTestWarden({ server: { port: 0, trusted_proxies: ['127.0.0.1'] } });
  try {
    const { subjects, all } = embeddingCorpus(loadPromptCorpus(defaultPromptDir()));
    let accounts = 0;
    const sdk = async (name: string) => {
      // Identity-verified: a shaped account is throttled too (a quarter of its rate), and at this
      // tier's rate it can still be asked again within the minute.
      // Unrelated customers: each its own domain, address and card. (A shaped account is throttled
      // too: the SDK waits out the limiter's retry-after-ms, as a client would.)
      const n = ++accounts;
      const ip = `203.0.${n}.10`;
      const account = await h.admin('/accounts', { name, email: `ops@${name}-${'abcdefghijklmnopqrstuvwxyz'[n]}.example`, tier: 'identity_verified', signup_ip: ip });
      const key = (await h.admin(`/accounts/${account.id}/keys`, { name: 'k' })).secret as string;
      return { id: account.id as string, client: new OpenAI({ apiKey: key, baseURL: `${h.url}/v1`, maxRetries: 4, defaultHeaders: { 'x-forwarded-for': ip } }) };
    };
    const embed = (c: OpenAI, input: string[]) => c.embeddings.create({ model: MODEL, input, dimensions: 256 });

    // The traffic every account is measured against: customers indexing their own subject, and
    // retrieval products embedding their users' questions (and asking the model about them).
    const customers = await Promise.all(Array.from({ length: 8 }, (_, k) => sdk(`index${'abcdefgh'[k]}`)));
    const products = await Promise.all(Array.from({ length: 4 }, (_, k) => sdk(`product${'abcd'[k]}`)));
    const pick = picker(7);
    for (let round = 0; round < 10; round++) {
      await Promise.all(customers.map((c, k) => embed(c.client, pick(subjects[k % subjects.length].texts, 32))));
      for (let q = 0; q < 12; q++) {
        const p = products[q % products.length];
        const [question] = pick(all, 1);
        await embed(p.client, [question]);
        await p.client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: question }], max_tokens: 16 });
      }
    }

    const harvester = await sdk('harvest');
    const firstTexts = pick(all, 32);
    const first = await embed(harvester.client, firstTexts);
    assert.ok(cosine(first.data[0].embedding, embedText(firstTexts[0], MODEL, 256)) > 0.99999, 'before any verdict: the upstream\'s vectors');
    for (let n = 1; n < 20; n++) await embed(harvester.client, pick(all, 32));

    let level = 'none';
    for (let t = 0; t < 100 && level !== 'shape'; t++) {
      await new Promise((r) => setTimeout(r, 100));
      const r = await fetch(`${h.url}/admin/detect/accounts/${harvester.id}`, { headers: { authorization: `Bearer ${h.w.adminToken}` } });
      if (r.status === 200) level = ((await r.json()) as { level: string }).level;
    }
    assert.equal(level, 'shape');
    const why = (await (await fetch(`${h.url}/admin/detect/accounts/${harvester.id}`, { headers: { authorization: `Bearer ${h.w.adminToken}` } })).json() as any).verdict.reasons as Array<{ signal: string; value: unknown; threshold: unknown }>;
    assert.ok(why.some((r) => r.signal === 'embedding_spread_test' && r.value === 'pass'), why.map((r) => r.signal).join());
    assert.ok(why.some((r) => r.signal === 'embedding_concentration' && typeof r.value === 'number' && typeof r.threshold === 'number' && r.value <= r.threshold));

    // Shaped: the same texts again come back moved, and moved the same way twice.
    const texts = all.slice(0, 8);
    const a = await embed(harvester.client, texts);
    const b = await embed(harvester.client, texts);
    for (const [i, d] of a.data.entries()) {
      const c = cosine(d.embedding, embedText(texts[i], MODEL, 256));
      assert.ok(c > 0.9 && c < 0.99, `cosine with the upstream's vector ${c}`);
      assert.ok(Math.abs(cosine(d.embedding, b.data[i].embedding) - 1) < 1e-6);
    }
    // A customer's vectors are the upstream's.
    const own = await embed(customers[0].client, texts);
    for (const [i, d] of own.data.entries()) assert.ok(cosine(d.embedding, embedText(texts[i], MODEL, 256)) > 0.99999);
    for (const c of [...customers, ...products]) {
      const r = await fetch(`${h.url}/admin/detect/accounts/${c.id}`, { headers: { authorization: `Bearer ${h.w.adminToken}` } });
      const lvl = r.status === 200 ? ((await r.json()) as { level: string }).level : 'none';
      assert.ok(lvl === 'none' || lvl === 'watch', `customer at ${lvl}`);
    }

    const events = await h.events((e) => e.account_id === harvester.id, 23);
    const last = events.at(-1)!;
    assert.equal(last.enforcement.verdict, 'shape');
    assert.ok(last.enforcement.shaping.includes('embeddings:noised'), last.enforcement.shaping.join());
    assert.deepEqual(events[0].enforcement.shaping, []);
  } finally {
    await h.close();
  }
});
