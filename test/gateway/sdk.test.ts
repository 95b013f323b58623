// The official OpenAI and Anthropic SDKs, pointed at Warden's base URL, work unchanged (streaming too),
// and every interaction is recorded as one event with its usage.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { parseEvent } from '../../src/events/index.ts';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';

let h: Harness;
before(async () => { h = await startHarness(); });
after(async () => { await h.close(); });

const openai = () => new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
const anthropic = () => new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries: 0 });

test('OpenAI chat completion (non-streaming) through Warden, with usage recorded', async () => {
  const before = (await storedEvents(h, 0)).length;
  const res = await openai().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello' }], max_tokens: 40 });
  assert.equal(res.object, 'chat.completion');
  assert.ok(res.choices[0].message.content && res.choices[0].message.content.length > 0);
  assert.ok(res.usage && res.usage.prompt_tokens > 0);
  const events = await storedEvents(h, before + 1);
  const e = events.find((x) => x.response.output_tokens === res.usage!.completion_tokens && x.flavour === 'openai.chat' && !x.request.stream)!;
  assert.ok(e, 'event recorded');
  parseEvent(e);
  assert.equal(e.account_id, 'acc_test');
  // Signup facts are copied into the event for the detector (email pattern included).
  assert.deepEqual({ ...e.account, created_at: undefined }, { created_at: undefined, tier: 'email_verified', programme: 'none', email_domain: 'example.com', payment_fp: 'pf_test', signup_ip: '198.51.100.1', claimed_country: 'GB', email_pattern: 'ep_test', first_used_at: null });
  assert.equal(e.request.system, 'Be brief.');
  assert.equal(e.request.messages[0].text, 'Say hello');
  assert.equal(e.request.params.max_tokens, 40);
  assert.equal(e.response.status, 200);
  assert.equal(e.response.input_tokens, res.usage!.prompt_tokens);
  assert.equal(e.response.usage_source, 'upstream');
});

test('OpenAI chat completion streaming: chunks arrive, usage chunk only when asked for', async () => {
  const stream = await openai().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Tell me a story' }], stream: true, max_tokens: 60 });
  let text = '';
  let chunks = 0;
  let sawUsage = false;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) sawUsage = true;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.ok(chunks > 3, `several chunks (${chunks})`);
  assert.ok(text.length > 0);
  assert.equal(sawUsage, false, 'client did not ask for usage, so the injected usage chunk is hidden');

  const withUsage = await openai().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Tell me a story' }], stream: true, max_tokens: 60, stream_options: { include_usage: true } });
  let usage = null;
  for await (const chunk of withUsage) if (chunk.usage) usage = chunk.usage;
  assert.ok(usage && usage.completion_tokens > 0);

  const events = await storedEvents(h, 3);
  const streamed = events.filter((e) => e.request.stream && e.flavour === 'openai.chat');
  assert.ok(streamed.length >= 2);
  for (const e of streamed) {
    assert.equal(e.response.usage_source, 'upstream');
    assert.ok(e.response.output_tokens > 0);
    assert.ok(e.response.ttfb_ms !== null);
  }
});

test('a stream is sent as the upstream sends it when the client did not ask for usage: no "usage":null on each chunk', async () => {
  const stream = async (path: string, body: object) => {
    const res = await fetch(`${h.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true, max_tokens: 30 }) });
    assert.equal(res.status, 200);
    return res.text();
  };
  for (const [path, body] of [['/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }], ['/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'hi' }]] as const) {
    const plain = await stream(path, body);
    assert.ok(plain.includes('"choices"') && plain.endsWith('data: [DONE]\n\n'), path);
    assert.ok(!plain.includes('"usage"'), `${path}: ${plain.slice(0, 300)}`);
    // Asked for: every chunk has it, as the upstream sends it, and the usage chunk comes.
    const asked = await stream(path, { ...body, stream_options: { include_usage: true } });
    const chunks = asked.split('\n\n').filter((e) => e.startsWith('data: {'));
    // (Chat chunks end with OpenAI's obfuscation padding after it.)
    assert.ok(chunks.slice(0, -1).every((c) => /,"usage":null(,"obfuscation":"[A-Za-z0-9]*")?\}$/.test(c)), path);
    assert.match(chunks[chunks.length - 1], /"usage":\{"prompt_tokens"/);
  }
  // Recorded usage is the upstream's either way.
  const events = await storedEvents(h, 4);
  assert.ok(events.filter((e) => e.request.stream && e.flavour !== 'openai.responses').slice(-4).every((e) => e.response.usage_source === 'upstream'));
});

test('OpenAI Responses API, non-streaming and streaming', async () => {
  const client = openai();
  const r = await client.responses.create({ model: 'gpt-4o-mini', input: 'Write a haiku about rivers', max_output_tokens: 50 });
  assert.ok(r.output_text.length > 0);
  const stream = await client.responses.create({ model: 'gpt-4o-mini', input: 'Write a haiku about rivers', stream: true, max_output_tokens: 50 });
  let deltas = '';
  let completed = false;
  for await (const ev of stream) {
    if (ev.type === 'response.output_text.delta') deltas += ev.delta;
    if (ev.type === 'response.completed' || ev.type === 'response.incomplete') completed = true;
  }
  assert.ok(completed);
  assert.ok(deltas.length > 0);
  const events = await storedEvents(h, 2);
  const resp = events.filter((e) => e.flavour === 'openai.responses');
  assert.ok(resp.length >= 2);
  assert.ok(resp.every((e) => e.response.output_tokens > 0 && e.response.input_tokens > 0));
});

test('Anthropic messages with thinking, streaming, through the SDK stream helper', async () => {
  const client = anthropic();
  const stream = client.messages.stream({
    model: 'claude-sonnet-4-6',
    max_tokens: 2000,
    thinking: { type: 'enabled', budget_tokens: 1024 },
    messages: [{ role: 'user', content: 'Think step by step: what is 17 * 23?' }],
  });
  const msg = await stream.finalMessage();
  assert.equal(msg.type, 'message');
  assert.ok(msg.content.some((b) => b.type === 'thinking'), 'a thinking block');
  assert.ok(msg.content.some((b) => b.type === 'text'), 'a text block');
  const events = await storedEvents(h, 1);
  const e = events.filter((x) => x.flavour === 'anthropic.messages').pop()!;
  assert.equal(e.request.params.thinking_budget, 1024);
  assert.ok(e.response.reasoning_tokens > 0, 'reasoning tokens counted from the thinking text');
  assert.equal(e.response.input_tokens, msg.usage.input_tokens);
  assert.equal(e.response.output_tokens, msg.usage.output_tokens);
});

test('Anthropic tool use (non-streaming and streaming)', async () => {
  const client = anthropic();
  const tools = [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } }];
  const msg = await client.messages.create({ model: 'claude-sonnet-4-6', max_tokens: 500, tools, messages: [{ role: 'user', content: 'Use the get_weather tool for Paris' }] });
  assert.equal(msg.stop_reason, 'tool_use');
  assert.ok(msg.content.some((b) => b.type === 'tool_use'));
  const streamed = await client.messages.stream({ model: 'claude-sonnet-4-6', max_tokens: 500, tools, messages: [{ role: 'user', content: 'Use the get_weather tool for Paris' }] }).finalMessage();
  assert.equal(streamed.stop_reason, 'tool_use');
  const tu = streamed.content.find((b) => b.type === 'tool_use');
  assert.ok(tu && tu.type === 'tool_use' && typeof tu.input === 'object');
  const events = await storedEvents(h, 2);
  const toolEvents = events.filter((e) => e.request.tools.includes('get_weather'));
  assert.ok(toolEvents.length >= 2);
  assert.ok(toolEvents.every((e) => e.response.tool_calls >= 1 && e.response.finish_reason === 'tool_use'));
});

test('OpenAI tool calls stream through', async () => {
  const stream = await openai().chat.completions.create({
    model: 'gpt-4o-mini', stream: true,
    tools: [{ type: 'function', function: { name: 'lookup', description: 'look up', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }],
    messages: [{ role: 'user', content: 'Use the lookup tool to find cats' }],
  });
  let finish = null;
  let args = '';
  for await (const c of stream) {
    for (const tc of c.choices[0]?.delta?.tool_calls ?? []) args += tc.function?.arguments ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, 'tool_calls');
  assert.doesNotThrow(() => JSON.parse(args));
});

test('models are listed in each API format', async () => {
  const res = await fetch(`${h.url}/v1/models`, { headers: { authorization: `Bearer ${h.key}` } });
  assert.equal(res.status, 200);
  const body = (await res.json()) as any;
  assert.equal(body.object, 'list');
  const a = await fetch(`${h.url}/v1/models`, { headers: { 'x-api-key': h.key, 'anthropic-version': '2023-06-01' } });
  const ab = (await a.json()) as any;
  assert.ok(Array.isArray(ab.data));
  assert.equal(typeof ab.has_more, 'boolean');
});

test('unknown request fields pass through untouched to the upstream', async () => {
  // The mock echoes nothing of it, but must not reject it, and Warden must not strip it: the
  // request succeeds and the event records the known parameters only.
  const res = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], some_future_field: { x: 1 }, metadata: { a: 'b' } }),
  });
  assert.equal(res.status, 200);
});
