// The policy hooks inside a real gateway, in front of the built-in mock upstream, read through the
// official SDKs: reasoning withheld in every wire format (streaming and not), logprobs stripped,
// answers watermarked exactly as `watermarkText` would mark the upstream's answer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, storedEvents, type Harness } from '../../test/helpers/gateway.ts';
import { createMockUpstream, type MockUpstream } from '../mock/index.ts';
import { inlinePolicyHooks } from '../../test/helpers/policy.ts';
import { deriveWatermarkKey } from '../watermark/keys.ts';
import { watermarkText } from '../watermark/embed.ts';
import { parseSse } from '../../test/helpers/sse-fixtures.ts';

const MASTER = 'gateway-test-watermark-master-secret';
const key = deriveWatermarkKey(MASTER, { kind: 'account', id: 'acc_test' }).key;
let h: Harness;
let mock: MockUpstream;
let policy: ReturnType<typeof inlinePolicyHooks>;

before(async () => {
  policy = inlinePolicyHooks(
    'version: 1\ndefaults: { reasoning: full, logprobs: true }\ntiers:\n  email_verified: { reasoning: none, logprobs: false, max_tokens_ceiling: 3000, watermark: true }\n',
    { watermarkSecret: MASTER, policy: { reasoning_seal_secret: 'seal-secret-for-tests' } },
  );
  mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0 });
  h = await startHarness({ hooks: [policy.hooks], upstreamOverride: () => [{ name: 'mock', base_url: mock.url, models: ['*'] }] });
});
after(async () => { await h.close(); await mock.close(); policy.cleanup(); });

/** Send the body the gateway forwarded straight to the mock again: the unshaped upstream answer. */
async function replayToMock(path: string, headers: Record<string, string> = {}) {
  const forwarded = mock.received.filter((r) => r.path === path).at(-1)!;
  const res = await fetch(mock.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(forwarded.body) });
  const text = await res.text();
  return { forwarded: forwarded.body as Record<string, any>, text };
}

test('chat stream (visible reasoning model): reasoning withheld, text watermarked, SDK reads it', async () => {
  const client = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const stream = client.chat.completions.stream({ model: 'deepseek-reasoner', messages: [{ role: 'user', content: 'Explain why the sky is blue, in detail.' }] });
  let sawReasoning = false;
  for await (const chunk of stream) if ((chunk.choices[0]?.delta as any)?.reasoning_content) sawReasoning = true;
  const final = await stream.finalChatCompletion();
  assert.equal(sawReasoning, false);
  const { forwarded, text } = await replayToMock('/v1/chat/completions');
  assert.equal(forwarded.max_completion_tokens, 3000);
  const upstream = parseSse(text).filter((e) => e.data.startsWith('{')).map((e) => JSON.parse(e.data));
  assert.ok(upstream.some((c) => c.choices?.[0]?.delta?.reasoning_content), 'the upstream did send reasoning');
  const original = upstream.map((c) => c.choices?.[0]?.delta?.content ?? '').join('');
  assert.ok(original.length > 0);
  assert.equal(final.choices[0].message.content, watermarkText(original, key).text);
  const events = await storedEvents(h, 1);
  const e = events.find((x) => x.model === 'deepseek-reasoner')!;
  assert.equal(e.enforcement.watermark, 'wm1:account:acc_test');
  assert.ok(e.enforcement.shaping.includes('reasoning:withheld'));
  assert.ok(e.enforcement.shaping.includes('max_tokens:set'));
});

test('chat non-streaming: logprobs stripped from the request, reasoning_content removed', async () => {
  const client = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const res = await client.chat.completions.create({ model: 'deepseek-reasoner', messages: [{ role: 'user', content: 'Name three rivers.' }], logprobs: true, top_logprobs: 3 });
  assert.equal((res.choices[0].message as any).reasoning_content, undefined);
  assert.equal(res.choices[0].logprobs ?? null, null);
  const { forwarded, text } = await replayToMock('/v1/chat/completions');
  assert.equal(forwarded.logprobs, undefined);
  assert.equal(forwarded.top_logprobs, undefined);
  assert.equal(res.choices[0].message.content, watermarkText(JSON.parse(text).choices[0].message.content, key).text);
});

test('anthropic stream with thinking: redacted, SDK message valid, original restored on the next turn', async () => {
  const client = new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries: 0 });
  const first = await client.messages.stream({ model: 'claude-test', max_tokens: 2500, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'Plan a three-day trip to Lisbon.' }] }).finalMessage();
  assert.equal(first.content[0].type, 'redacted_thinking');
  const textBlock = first.content.find((b) => b.type === 'text') as Anthropic.TextBlock;
  const { text } = await replayToMock('/v1/messages', { 'anthropic-version': '2023-06-01' });
  const upstream = parseSse(text).map((e) => JSON.parse(e.data));
  const thinking = upstream.filter((m) => m.delta?.type === 'thinking_delta').map((m) => m.delta.thinking).join('');
  const signature = upstream.find((m) => m.delta?.type === 'signature_delta')?.delta.signature;
  assert.ok(thinking.length > 0);
  const upstreamText = upstream.filter((m) => m.delta?.type === 'text_delta').map((m) => m.delta.text).join('');
  assert.equal(textBlock.text, watermarkText(upstreamText, key).text);
  await client.messages.create({ model: 'claude-test', max_tokens: 2500, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [
    { role: 'user', content: 'Plan a three-day trip to Lisbon.' },
    { role: 'assistant', content: first.content as any },
    { role: 'user', content: 'Make day two cheaper.' },
  ] });
  const sent = mock.received.filter((r) => r.path === '/v1/messages').at(-1)!.body as any;
  assert.deepEqual(sent.messages[1].content[0], { type: 'thinking', thinking, signature });
});

test('responses stream with a reasoning summary: withheld, sequence valid, SDK final response consistent', async () => {
  const client = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const stream = client.responses.stream({ model: 'o4-mini', input: 'Why do cats purr?', reasoning: { effort: 'medium', summary: 'auto' } });
  const types = new Set<string>();
  for await (const ev of stream) types.add(ev.type);
  const final = await stream.finalResponse();
  assert.ok(![...types].some((t) => t.startsWith('response.reasoning_summary')));
  const { forwarded, text } = await replayToMock('/v1/responses');
  assert.equal(forwarded.reasoning.summary, undefined, 'the summary is not even requested upstream');
  const upstreamText = parseSse(text).map((e) => JSON.parse(e.data)).filter((m) => m.type === 'response.output_text.delta').map((m) => m.delta).join('');
  assert.equal(final.output_text, watermarkText(upstreamText, key).text);
});

test('a marked stream keeps OpenAI\'s padding sizes: text and obfuscation still add up as the upstream sent them', async () => {
  const client = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const check = (delta: string, padding: unknown, where: string) => {
    assert.equal(typeof padding, 'string', `${where} is padded: ${delta}`);
    assert.equal((delta.length + (padding as string).length) % 16, 0, `${where}: "${delta}" + ${(padding as string).length} characters of padding`);
  };
  const chunks: any[] = [];
  for await (const c of await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Explain why the sky is blue, in detail.' }] })) chunks.push(c);
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  const { text: upstreamSse } = await replayToMock('/v1/chat/completions');
  const original = parseSse(upstreamSse).filter((e) => e.data.startsWith('{')).map((e) => JSON.parse(e.data).choices?.[0]?.delta?.content ?? '').join('');
  assert.notEqual(text, original, 'the answer was marked');
  for (const c of chunks) if (c.choices[0]?.delta?.content) check(c.choices[0].delta.content, c.obfuscation, 'chat chunk');

  const stream = client.responses.stream({ model: 'gpt-4o-mini', input: 'Explain why the sky is blue, in detail.' });
  let deltas = 0;
  for await (const ev of stream) if (ev.type === 'response.output_text.delta') { deltas++; check(ev.delta, (ev as any).obfuscation, 'Responses delta'); }
  assert.ok(deltas > 3);
});
