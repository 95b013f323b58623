// What an application moving onto Warden with the official SDKs sees of request shaping: output
// budgets it never set, reasoning budgets under a tier's ceiling, and the `x-warden-shaping` header.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createMockUpstream, type MockUpstream } from '../../src/mock/index.ts';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';

let mock: MockUpstream;
let t: TestWarden;
let key: string;

before(async () => {
  mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0 });
  t = await startTestWarden({
    upstreams: [{ name: 'mock', base_url: mock.url, models: ['*'] }],
    policy: { model_output_limits: [{ model: 'gpt-4.1-mini', max_output_tokens: 2048 }] },
  });
  key = (await t.account('dev', 'email_verified')).key; // default policy: ceiling 8192, n_max 2, no logprobs
});
after(async () => { await t.close(); await mock.close(); });

const lastBody = (path: string) => [...mock.received].reverse().find((r) => r.path === path)?.body as Record<string, any>;

async function post(path: string, body: object, anthropic = false) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (anthropic) { headers['x-api-key'] = key; headers['anthropic-version'] = '2023-06-01'; } else headers.authorization = `Bearer ${key}`;
  const r = await fetch(`${t.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  return { headers: r.headers, text, json: () => JSON.parse(text) };
}

test('a chat request naming no budget, to a model whose own limit is below the ceiling, goes upstream without one', async () => {
  const r = await post('/v1/chat/completions', { model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: 'hi' }] });
  const sent = lastBody('/v1/chat/completions');
  assert.equal(sent.max_completion_tokens, undefined, `upstream body: ${JSON.stringify(sent)}`);
  assert.equal(sent.max_tokens, undefined, 'no budget written for gpt-3.5-turbo (4,096-token limit)');
  assert.equal(r.headers.get('x-warden-shaping'), null, 'nothing was shaped');
  // an operator-listed model is treated the same
  await post('/v1/chat/completions', { model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(lastBody('/v1/chat/completions').max_completion_tokens, undefined, 'the operator says gpt-4.1-mini writes 2,048 at most: under the ceiling');
});

test('a model that could write more than the ceiling gets the ceiling, and the header says so', async () => {
  const r = await post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(lastBody('/v1/chat/completions').max_completion_tokens, 8192, 'gpt-4o-mini writes up to 16,384: the tier ceiling applies');
  assert.equal(r.headers.get('x-warden-shaping'), 'max_tokens:set');
});

test('a Responses call naming no budget reports max_output_tokens: null, streamed or not', async () => {
  const r = await post('/v1/responses', { model: 'gpt-4o-mini', input: 'hi' });
  assert.equal(lastBody('/v1/responses').max_output_tokens, 8192, 'the ceiling still bounds the upstream');
  assert.equal(r.json().max_output_tokens, null, 'the client never set a limit');
  const s = await post('/v1/responses', { model: 'gpt-4o-mini', input: 'hi', stream: true });
  const responses = s.text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6))).filter((m) => m.response);
  assert.ok(responses.length >= 2, `response lifecycle events: ${responses.length}`);
  for (const m of responses) assert.equal(m.response.max_output_tokens, null, `${m.type} echoes no limit`);
  // a limit the client set is echoed as set
  const own = await post('/v1/responses', { model: 'gpt-4o-mini', input: 'hi', max_output_tokens: 100 });
  assert.equal(own.json().max_output_tokens, 100, 'the client\'s own limit is kept');
});

test('an Anthropic thinking budget shrinks with a capped max_tokens, keeping the answer\'s share', async () => {
  const r = await post('/v1/messages', {
    model: 'claude-sonnet-4-5', max_tokens: 16000, thinking: { type: 'enabled', budget_tokens: 8000 },
    messages: [{ role: 'user', content: 'hi' }],
  }, true);
  const sent = lastBody('/v1/messages');
  assert.equal(sent.max_tokens, 8192);
  assert.equal(sent.thinking.budget_tokens, 4096, `half the total stays for thinking: ${JSON.stringify(sent.thinking)}`);
  assert.ok(sent.thinking.budget_tokens < sent.max_tokens, 'budget below max_tokens, as Anthropic requires');
  assert.equal(r.headers.get('x-warden-shaping'), 'max_tokens:capped,thinking_budget:lowered');
});

test('an OpenAI reasoning effort is lowered with the capped budget, so the answer is not crowded out', async () => {
  const r = await post('/v1/chat/completions', { model: 'o4-mini', reasoning_effort: 'high', max_completion_tokens: 20000, messages: [{ role: 'user', content: 'hi' }] });
  const sent = lastBody('/v1/chat/completions');
  assert.equal(sent.max_completion_tokens, 8192);
  assert.equal(sent.reasoning_effort, 'low', '20,000 -> 8,192 scales high (2) to 0.82: low (0.5) is the highest level under it');
  assert.equal(r.headers.get('x-warden-shaping'), 'max_tokens:capped,reasoning_effort:lowered');
  await post('/v1/responses', { model: 'o4-mini', reasoning: { effort: 'high' }, max_output_tokens: 40000, input: 'hi' });
  assert.equal(lastBody('/v1/responses').reasoning.effort, 'low', '40,000 -> 8,192: never below low');
  await post('/v1/responses', { model: 'o4-mini', reasoning: { effort: 'high' }, max_output_tokens: 10000, input: 'hi' });
  assert.equal(lastBody('/v1/responses').reasoning.effort, 'medium', '10,000 -> 8,192 scales high to 1.64: medium');
});

test('logprobs stripped and n capped are named in the header; a legacy completion answers logprobs: null', async () => {
  const r = await post('/v1/chat/completions', { model: 'gpt-4o-mini', n: 3, logprobs: true, top_logprobs: 2, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(r.headers.get('x-warden-shaping'), 'n:capped,logprobs:stripped');
  assert.equal(r.json().choices.length, 2);
  const s = await post('/v1/chat/completions', { model: 'gpt-4o-mini', stream: true, logprobs: true, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(s.headers.get('x-warden-shaping'), 'logprobs:stripped', 'streamed answers carry it too');
  const c = await post('/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'hello there', echo: true, logprobs: 2, max_tokens: 5 });
  assert.equal(c.headers.get('x-warden-shaping'), 'logprobs:stripped');
  const choice = c.json().choices[0];
  assert.ok('logprobs' in choice, `choice keys: ${Object.keys(choice)}`);
  assert.equal(choice.logprobs, null, 'as the API answers when no log-probabilities are given');
  assert.equal(typeof choice.text, 'string');
});
