// OpenAI-format errors Warden makes carry OpenAI's own `code` values (lower-case snake, or null),
// as an app written against OpenAI matches them; Warden's code rides beside them in `warden_code`
// and the `x-warden-error` header. Anthropic-format errors keep their `type` taxonomy.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness } from '../helpers/gateway.ts';

const h = await startHarness({ upstreamOverride: (mockUrl) => [{ name: 'mock', base_url: mockUrl, models: ['gpt-*', 'claude-*'] }] });
after(() => h.close());

test('the OpenAI SDK sees OpenAI codes: invalid_api_key, model_not_found, null for a missing key', async () => {
  const bad = new OpenAI({ apiKey: 'wk_test_bad_0123456789abcdefghijklmnop', baseURL: `${h.url}/v1`, maxRetries: 0 });
  const invalid: any = await bad.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
  assert.ok(invalid instanceof OpenAI.AuthenticationError, `a 401: ${invalid}`);
  assert.equal(invalid.code, 'invalid_api_key', 'OpenAI\'s code for a wrong key');
  assert.equal(invalid.type, 'invalid_request_error');
  assert.equal((invalid as any).error.warden_code, 'WARDEN_INVALID_API_KEY', 'Warden\'s own code beside it');
  assert.equal(invalid.headers.get('x-warden-error'), 'WARDEN_INVALID_API_KEY', 'and in the header');

  const good = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const unknown: any = await good.chat.completions.create({ model: 'llama-unrouted', messages: [{ role: 'user', content: 'hi' }] }).catch((e) => e);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.code, 'model_not_found');
  assert.equal(unknown.error.warden_code, 'WARDEN_MODEL_NOT_FOUND');

  const r = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const body = (await r.json()) as any;
  assert.equal(r.status, 401);
  assert.equal(body.error.code, null, 'OpenAI sends no code for a missing key');
  assert.equal(body.error.warden_code, 'WARDEN_MISSING_API_KEY');
  assert.ok(!JSON.stringify(body.error.code).includes('WARDEN_'), 'no Warden code where OpenAI\'s go');
});

test('Anthropic errors keep their type, and say Warden\'s code in the header too', async () => {
  const bad = new Anthropic({ apiKey: 'wk_test_bad_0123456789abcdefghijklmnop', baseURL: h.url, maxRetries: 0 });
  const e: any = await bad.messages.create({ model: 'claude-test', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).catch((x) => x);
  assert.ok(e instanceof Anthropic.AuthenticationError, `a 401: ${e}`);
  assert.equal((e as any).error.error.type, 'authentication_error');
  assert.equal(e.headers.get('x-warden-error'), 'WARDEN_INVALID_API_KEY');
});
