// Reasoning in the spellings of OpenAI-compatible servers other than OpenAI's (OpenRouter's
// `reasoning_details`, LiteLLM's `thinking_blocks`): withheld through the whole gateway, streamed
// and not, with the official SDK reading the answer and the event recording what was done.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';
import { startRawUpstream } from '../helpers/raw-upstream.ts';
import { inlinePolicyHooks } from '../helpers/policy.ts';

const open: { close(): Promise<void> }[] = [];
after(async () => { for (const o of open.reverse()) await o.close(); });

const OPENROUTER_SSE = readFileSync(new URL('../fixtures/policy/openai-chat-openrouter.sse', import.meta.url), 'utf8');
const TRACE = 'Check the year first. The treaty was signed in 1648, at Münster and Osnabrück.';
const OPENROUTER_JSON = {
  id: 'gen-1', provider: 'DeepInfra', model: 'deepseek/deepseek-r1', object: 'chat.completion', created: 1,
  choices: [{ index: 0, finish_reason: 'stop', logprobs: null, message: { role: 'assistant', content: 'The Peace of Westphalia was signed in 1648.', reasoning: TRACE, reasoning_details: [{ type: 'reasoning.text', text: TRACE, format: 'unknown', index: 0 }] } }],
  usage: { prompt_tokens: 12, completion_tokens: 40, total_tokens: 52 },
};

async function gateway(reasoning: 'none' | 'summary'): Promise<Harness> {
  const upstream = await startRawUpstream((_req, res, body) => {
    if (JSON.parse(body).stream) { res.writeHead(200, { 'content-type': 'text/event-stream' }); res.end(OPENROUTER_SSE); return; }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(OPENROUTER_JSON));
  });
  open.push(upstream);
  const policy = inlinePolicyHooks(`version: 1\ndefaults: { reasoning: ${reasoning} }\n`);
  open.push({ close: async () => policy.cleanup() });
  const h = await startHarness({ hooks: [policy.hooks], upstreamOverride: () => [{ name: 'openrouter', base_url: upstream.url, models: ['*'] }] });
  open.push(h);
  return h;
}

test('OpenRouter reasoning withheld (none): no trace in reasoning_details, streamed or not; the event says so and counts it once', async () => {
  const h = await gateway('none');
  const client = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const raw: string[] = [];
  const stream = await client.chat.completions.create({ model: 'deepseek/deepseek-r1', messages: [{ role: 'user', content: 'When?' }], stream: true });
  let content = '';
  for await (const chunk of stream) { raw.push(JSON.stringify(chunk)); content += chunk.choices[0]?.delta?.content ?? ''; }
  assert.equal(content, 'The Peace of Westphalia was signed in 1648.');
  assert.doesNotMatch(raw.join('\n'), /Check the year|Münster|Second thought|reasoning\.text/);
  const whole = await client.chat.completions.create({ model: 'deepseek/deepseek-r1', messages: [{ role: 'user', content: 'When?' }] });
  assert.doesNotMatch(JSON.stringify(whole), /Check the year|Münster|reasoning\.text/);
  assert.equal(whole.choices[0].message.content, 'The Peace of Westphalia was signed in 1648.');
  const events = await storedEvents(h, 2);
  assert.equal(events.length, 2);
  for (const e of events) {
    assert.ok(e.enforcement.shaping.includes('reasoning:withheld'), `shaping: ${e.enforcement.shaping}`);
  }
  const streamed = events.find((e) => e.request.stream)!;
  assert.equal(streamed.response.reasoning_chars, 'Check the year first. The treaty was signed in 1648, at Münster and Osnabrück.\n\nSecond thought: mention both cities.'.length);
  assert.equal(events.find((e) => !e.request.stream)!.response.reasoning_chars, TRACE.length);
});

test('OpenRouter reasoning summarised: the client gets a summary of the whole trace and none of the rest', async () => {
  const h = await gateway('summary');
  const client = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const final = await client.chat.completions.stream({ model: 'deepseek/deepseek-r1', messages: [{ role: 'user', content: 'When?' }] }).finalChatCompletion();
  const message = final.choices[0].message as unknown as Record<string, unknown>;
  assert.equal(message.reasoning_content, 'Check the year first. Second thought: mention both cities.');
  assert.doesNotMatch(JSON.stringify(final), /Münster|reasoning\.text/);
  assert.equal(message.content, 'The Peace of Westphalia was signed in 1648.');
});

// vLLM gives every output token's log-probabilities, the reasoning's included: on the reasoning
// deltas when streaming, ahead of the answer's in `logprobs.content` otherwise. Their tokens
// spell the trace out, so they go with it.
const VLLM_TRACE = ['Plan it.', ' Secret', ' chain', ' of', ' thought', '.'];
const logprob = (token: string) => ({ token, logprob: -0.1, bytes: [...Buffer.from(token)], top_logprobs: [{ token, logprob: -0.1, bytes: [...Buffer.from(token)] }] });
const vllmChunk = (delta: object, logprobs: object | null, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-v', object: 'chat.completion.chunk', created: 1, model: 'Qwen/QwQ-32B', choices: [{ index: 0, delta, logprobs, finish_reason: finish }] })}\n\n`;
const VLLM_SSE = vllmChunk({ role: 'assistant', content: '' }, null)
  + VLLM_TRACE.map((t) => vllmChunk({ reasoning_content: t }, { content: [logprob(t)] })).join('')
  + vllmChunk({ content: 'Paris' }, { content: [logprob('Paris')] })
  + vllmChunk({}, null, 'stop') + 'data: [DONE]\n\n';
const VLLM_JSON = {
  id: 'chatcmpl-v', object: 'chat.completion', created: 1, model: 'Qwen/QwQ-32B',
  choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Paris', reasoning_content: VLLM_TRACE.join('') }, logprobs: { content: [...VLLM_TRACE, 'Paris'].map(logprob) } }],
};

for (const reasoning of ['none', 'summary'] as const) {
  test(`vLLM reasoning ${reasoning} with logprobs allowed: the reasoning tokens' log-probabilities go with the trace, the answer's stay`, async () => {
    const upstream = await startRawUpstream((_req, res, body) => {
      if (JSON.parse(body).stream) { res.writeHead(200, { 'content-type': 'text/event-stream' }); res.end(VLLM_SSE); return; }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(VLLM_JSON));
    });
    open.push(upstream);
    const policy = inlinePolicyHooks(`version: 1\ndefaults: { reasoning: ${reasoning}, logprobs: true, top_logprobs_max: 5 }\n`);
    open.push({ close: async () => policy.cleanup() });
    const h = await startHarness({ hooks: [policy.hooks], upstreamOverride: () => [{ name: 'vllm', base_url: upstream.url, models: ['*'] }] });
    open.push(h);
    const client = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
    const request = { model: 'Qwen/QwQ-32B', messages: [{ role: 'user' as const, content: 'Capital?' }], logprobs: true, top_logprobs: 1 };

    const stream = await client.chat.completions.create({ ...request, stream: true });
    let tokens = '';
    let content = '';
    const raw: string[] = [];
    for await (const chunk of stream) {
      raw.push(JSON.stringify(chunk));
      content += chunk.choices[0]?.delta?.content ?? '';
      for (const entry of chunk.choices[0]?.logprobs?.content ?? []) tokens += entry.token;
    }
    assert.equal(content, 'Paris');
    assert.equal(tokens, 'Paris', 'streamed: only the answer\'s log-probabilities');
    assert.doesNotMatch(raw.join('\n'), /chain| thought/, 'streamed: nothing of the trace');

    const whole = await client.chat.completions.create(request);
    assert.equal(whole.choices[0].message.content, 'Paris');
    assert.deepEqual(whole.choices[0].logprobs?.content?.map((e) => e.token), ['Paris'], 'JSON: only the answer\'s log-probabilities');
    assert.doesNotMatch(JSON.stringify(whole), /chain| thought/, 'JSON: nothing of the trace');
    const events = await storedEvents(h, 2);
    for (const e of events) assert.ok(e.enforcement.shaping.includes(reasoning === 'none' ? 'reasoning:withheld' : 'reasoning:summarised'), `shaping: ${e.enforcement.shaping}`);
  });
}
