// Usage fields the providers return reach the client through Warden unchanged, and the event meters
// what the upstream billed: Anthropic's newer usage keys, and a Responses chain's earlier turns.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';

let h: Harness;
before(async () => { h = await startHarness(); });
after(async () => { await h.close(); });

test('Anthropic usage keys (server_tool_use, inference_geo, service_tier) and message fields pass through, streamed or not', async () => {
  const client = new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries: 0 });
  const req = { model: 'claude-sonnet-5', max_tokens: 64, tools: [{ type: 'web_search_20250305', name: 'web_search', max_uses: 2 }], messages: [{ role: 'user', content: 'Say hello' }] } as any;
  const msg = await client.messages.create(req);
  assert.deepEqual(msg.usage.server_tool_use, { web_search_requests: 0, web_fetch_requests: 0 }, 'server_tool_use reaches the client');
  assert.equal(msg.usage.inference_geo, 'not_available');
  assert.equal(msg.usage.service_tier, 'standard');
  assert.equal(msg.container, null);
  assert.equal(msg.stop_details, null);
  const streamed = await client.messages.stream(req).finalMessage();
  assert.deepEqual(streamed.usage.server_tool_use, { web_search_requests: 0, web_fetch_requests: 0 }, 'streamed: message_delta usage reaches the client');
  assert.equal(streamed.usage.inference_geo, 'not_available', 'streamed: message_start usage reaches the client');
  const events = await storedEvents(h, 2);
  const metered = events.filter((e) => e.flavour.startsWith('anthropic') && e.response.status === 200).map((e) => e.response.input_tokens);
  assert.deepEqual(metered.sort(), [msg.usage.input_tokens, streamed.usage.input_tokens].sort(), 'input metered as the upstream reported it');
});

test('a Responses turn continued with previous_response_id is metered with its earlier turns, as the upstream bills it', async () => {
  const client = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const first = await client.responses.create({ model: 'gpt-4.1', input: 'Name three rivers in Europe.' });
  const alone = await client.responses.create({ model: 'gpt-4.1', input: 'Which is longest?', store: false });
  const next = await client.responses.create({ model: 'gpt-4.1', input: 'Which is longest?', previous_response_id: first.id });
  assert.ok(next.usage!.input_tokens > alone.usage!.input_tokens, `the earlier turn is counted: ${next.usage!.input_tokens} vs ${alone.usage!.input_tokens}`);
  const events = await storedEvents(h, 5);
  const e = events.find((x) => x.flavour === 'openai.responses' && x.response.answer_id === next.id);
  assert.ok(e, `the continued turn is recorded (${events.map((x) => `${x.flavour}:${x.response.answer_id}`).join(', ')})`);
  assert.equal(e.response.input_tokens, next.usage!.input_tokens, 'the event meters what the upstream billed');
});
