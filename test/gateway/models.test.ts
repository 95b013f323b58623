// GET /v1/models and /v1/models/{id} through Warden, with both SDKs: upstreams configured with
// patterns list what the upstream itself lists (as far as the patterns route it), retrieve works
// for any model routed and known, and ids may hold slashes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, type Harness } from '../helpers/gateway.ts';

const open: Harness[] = [];
after(async () => { for (const h of open) await h.close(); });
async function harness(opts: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const h = await startHarness(opts);
  open.push(h);
  return h;
}
const openai = (h: Harness) => new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
const anthropic = (h: Harness) => new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries: 0 });

test('an upstream routed by `*` has its own model list listed and retrievable, in each API format', async () => {
  const h = await harness(); // upstream `mock`, models: ['*'] (as the embedded default)
  const oa = openai(h);
  const ids = (await oa.models.list()).data.map((m) => m.id);
  assert.ok(ids.includes('gpt-4o-mini'), ids.join());
  assert.ok(ids.includes('claude-haiku-4-5'), ids.join());
  const m = await oa.models.retrieve('gpt-4o-mini');
  assert.equal(m.id, 'gpt-4o-mini');
  assert.equal(m.object, 'model');
  // Not in the upstream's list, but the upstream resolves it: asked (within a budget a minute).
  assert.equal((await oa.models.retrieve('gpt-4o-2024-08-06')).id, 'gpt-4o-2024-08-06');
  await assert.rejects(oa.models.retrieve('no-such-model'), (err: any) => err.status === 404 && err.code === 'model_not_found' && err.error.warden_code === 'WARDEN_MODEL_NOT_FOUND');

  const an = anthropic(h);
  const anIds: string[] = [];
  for await (const model of an.models.list()) {
    assert.equal(model.type, 'model');
    assert.equal(typeof model.display_name, 'string');
    assert.equal(typeof model.created_at, 'string');
    anIds.push(model.id);
  }
  assert.ok(anIds.includes('claude-sonnet-5'), anIds.join());
  assert.equal((await an.models.retrieve('claude-haiku-4-5')).id, 'claude-haiku-4-5');
  await assert.rejects(an.models.retrieve('no-such-model'), (err: any) => err.status === 404);
});

test('patterns list only what they route, with the upstream credentials, and Anthropic pages are walked', async () => {
  const listed = [...Array.from({ length: 1500 }, (_, i) => `claude-test-${String(i).padStart(4, '0')}`), 'gpt-4o-mini', 'mock-model', 'deepseek-reasoner'];
  const h = await harness({
    mock: { apiKey: 'sk-upstream-secret', listedModels: listed },
    upstreamOverride: (url) => [
      { name: 'oa', base_url: url, flavours: ['openai'], api_key: 'sk-upstream-secret', models: ['gpt-*', 'o*'] },
      { name: 'an', base_url: url, flavours: ['anthropic'], api_key: 'sk-upstream-secret', models: ['claude-*'] },
    ],
  });
  const ids = (await openai(h).models.list()).data.map((m) => m.id);
  assert.deepEqual(ids, ['gpt-4o-mini']);
  const anIds: string[] = [];
  for await (const model of anthropic(h).models.list()) anIds.push(model.id);
  assert.equal(anIds.length, 1500);
  assert.equal(anIds[1499], 'claude-test-1499');
  // A page as the Anthropic API gives one.
  const page = (await (await fetch(`${h.url}/v1/models?limit=2&after_id=claude-test-0009`, { headers: { 'x-api-key': h.key, 'anthropic-version': '2023-06-01' } })).json()) as any;
  assert.deepEqual(page.data.map((x: any) => x.id), ['claude-test-0010', 'claude-test-0011']);
  assert.equal(page.has_more, true);
  assert.equal(page.first_id, 'claude-test-0010');
  assert.equal(page.last_id, 'claude-test-0011');
  // A cursor naming no listed model: 400, in the Anthropic format, as the API answers.
  for (const q of ['after_id=claude-none', 'before_id=claude-none']) {
    const r = await fetch(`${h.url}/v1/models?${q}`, { headers: { 'x-api-key': h.key, 'anthropic-version': '2023-06-01' } });
    assert.equal(r.status, 400, q);
    const body = (await r.json()) as any;
    assert.equal(body.type, 'error');
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(body.error.message, 'Invalid pagination cursor');
  }
});

test('a model id with a slash is retrieved, sent raw or encoded', async () => {
  const h = await harness({
    mock: { models: ['meta-llama/*'], listedModels: ['meta-llama/Llama-3.1-8B'] },
    upstreamOverride: (url) => [{ name: 'vllm', base_url: url, flavours: ['openai'], models: ['meta-llama/*'] }],
  });
  const raw = await fetch(`${h.url}/v1/models/meta-llama/Llama-3.1-8B`, { headers: { authorization: `Bearer ${h.key}` } });
  assert.equal(raw.status, 200);
  assert.equal(((await raw.json()) as any).id, 'meta-llama/Llama-3.1-8B');
  assert.equal((await openai(h).models.retrieve('meta-llama/Llama-3.1-8B')).id, 'meta-llama/Llama-3.1-8B');
  const missing = await fetch(`${h.url}/v1/models/other-org/x`, { headers: { authorization: `Bearer ${h.key}` } });
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as any).error.warden_code, 'WARDEN_MODEL_NOT_FOUND');
  // Ids that could name a path upstream: unknown.
  // Sent as is (fetch would resolve the dots in the URL).
  const get = (path: string) => new Promise<{ status: number; body: any }>((resolve, reject) => {
    const { hostname, port } = new URL(h.url);
    http.get({ hostname, port, path: `/v1/models/${path}`, headers: { authorization: `Bearer ${h.key}` } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    }).on('error', reject);
  });
  for (const path of ['..', '%2E%2E', 'meta-llama/..', 'meta-llama%2F..%2F..%2Fv1', 'meta-llama/%2e%2e', 'meta-llama/../x']) {
    const r = await get(path);
    assert.equal(r.status, 404, path);
    assert.equal(r.body.error.warden_code, 'WARDEN_MODEL_NOT_FOUND', path);
  }
});

test('an upstream whose list cannot be fetched still lets the exact names be listed', async () => {
  const h = await harness({
    upstreamOverride: () => [{ name: 'down', base_url: 'http://127.0.0.1:9', models: ['gpt-4o-mini', 'gpt-*'] }],
  });
  const res = await fetch(`${h.url}/v1/models`, { headers: { authorization: `Bearer ${h.key}` } });
  assert.equal(res.status, 200);
  assert.deepEqual(((await res.json()) as any).data.map((m: any) => m.id), ['gpt-4o-mini']);
});
