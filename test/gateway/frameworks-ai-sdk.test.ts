// An app built on the Vercel AI SDK (`ai` with `@ai-sdk/openai` and `@ai-sdk/anthropic`) changes
// only the base URL and the key to go through Warden. What it gets must be what it got from the
// upstream itself: the same text, tool calls, structured objects and usage, in all three wire
// formats (Responses, the openai provider's default; Chat Completions; Anthropic Messages), with
// the multi-step tool loops, reasoning and abort it uses, and Warden's own errors read as the app
// reads the provider's (message, status, the retry the SDK makes).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateText, streamText, generateObject, tool, stepCountIs, APICallError, RetryError, type LanguageModel } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { createAnthropic } from '@ai-sdk/anthropic';
import { z } from 'zod';
import { createMockUpstream } from '../../src/mock/index.ts';
import { startTestWarden } from '../helpers/warden.ts';
import { startFrameworkWarden } from '../helpers/frameworks.ts';

const { mock, t, key, close } = await startFrameworkWarden();
after(close);

/** The app's three models, built against `root` (Warden or the upstream), as the AI SDK's docs build them. */
function models(root: string, apiKey: string, fetch?: typeof globalThis.fetch) {
  const openai = createOpenAI({ baseURL: `${root}/v1`, apiKey, fetch });
  const anthropic = createAnthropic({ baseURL: `${root}/v1`, apiKey, fetch });
  return {
    responses: openai('gpt-4o-mini'),
    chat: openai.chat('gpt-4o-mini'),
    anthropic: anthropic('claude-sonnet-4-5'),
    reasoning: openai('o4-mini'),
  } satisfies Record<string, LanguageModel>;
}
const viaWarden = () => models(t.url, key);
const direct = () => models(mock.url, 'upstream-needs-no-key');
const FORMATS = ['responses', 'chat', 'anthropic'] as const;

const weather = tool({
  description: 'Get the weather in a city',
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => ({ city, temperatureC: 21 }),
});

test('generateText and streamText: the same text and usage through Warden as from the upstream, in all three formats', { timeout: 60_000 }, async () => {
  for (const f of FORMATS) {
    const want = await generateText({ model: direct()[f], prompt: 'Hello there' });
    const got = await generateText({ model: viaWarden()[f], prompt: 'Hello there' });
    assert.ok(got.text.length > 20, `${f}: an answer (${got.text})`);
    assert.equal(got.text, want.text, `${f}: the upstream's text`);
    assert.equal(got.finishReason, 'stop', `${f}: finished`);
    assert.equal(got.usage.inputTokens, want.usage.inputTokens, `${f}: input tokens as the upstream counted them`);
    assert.equal(got.usage.outputTokens, want.usage.outputTokens, `${f}: output tokens as the upstream counted them`);

    const stream = streamText({ model: viaWarden()[f], prompt: 'Hello there' });
    let streamed = '';
    for await (const delta of stream.textStream) streamed += delta;
    assert.equal(streamed, want.text, `${f}: streamed, the same text`);
    assert.equal((await stream.usage).outputTokens, want.usage.outputTokens, `${f}: streamed, the usage reaches the app`);
  }
});

test('a multi-step tool loop (generateText and streamText with stopWhen) calls the tool and answers, as against the upstream', { timeout: 60_000 }, async () => {
  const prompt = 'What is the weather in Paris? use the weather tool';
  for (const f of FORMATS) {
    const want = await generateText({ model: direct()[f], tools: { weather }, stopWhen: stepCountIs(3), prompt });
    const got = await generateText({ model: viaWarden()[f], tools: { weather }, stopWhen: stepCountIs(3), prompt });
    const calls = got.steps.flatMap((s) => s.toolCalls.map((c) => ({ name: c.toolName, input: c.input })));
    assert.equal(calls.length, 1, `${f}: one tool call (${JSON.stringify(calls)})`);
    assert.equal(calls[0].name, 'weather', `${f}: the weather tool`);
    assert.equal(typeof (calls[0].input as { city: unknown }).city, 'string', `${f}: with the schema's input`);
    assert.deepEqual(calls, want.steps.flatMap((s) => s.toolCalls.map((c) => ({ name: c.toolName, input: c.input }))), `${f}: the upstream's call`);
    assert.equal(got.steps.length, 2, `${f}: the tool's result was sent back and answered`);
    assert.equal(got.text, want.text, `${f}: the upstream's final answer`);
    assert.equal(got.totalUsage.totalTokens, want.totalUsage.totalTokens, `${f}: usage over both steps`);

    const stream = streamText({ model: viaWarden()[f], tools: { weather }, stopWhen: stepCountIs(3), prompt });
    let text = '';
    for await (const delta of stream.textStream) text += delta;
    const steps = await stream.steps;
    assert.equal(steps.length, 2, `${f}: streamed, both steps`);
    assert.equal(steps[0].toolCalls[0]?.toolName, 'weather', `${f}: streamed, the tool call`);
    assert.ok(text.length > 0, `${f}: streamed, the final answer`);
  }
});

test('generateObject: the structured object the schema asks for, in all three formats', { timeout: 60_000 }, async () => {
  const schema = z.object({ name: z.string(), age: z.number().int(), tags: z.array(z.string()) });
  for (const f of FORMATS) {
    const want = await generateObject({ model: direct()[f], schema, prompt: 'Make a person' });
    const got = await generateObject({ model: viaWarden()[f], schema, prompt: 'Make a person' });
    assert.ok(schema.safeParse(got.object).success, `${f}: valid against the schema (${JSON.stringify(got.object)})`);
    assert.deepEqual(got.object, want.object, `${f}: the upstream's object`);
  }
});

test('reasoning: the Responses reasoning summary and its token count reach the app; an Anthropic thinking tool loop goes on when Warden summarises and seals the thinking', { timeout: 60_000 }, async () => {
  const options = { openai: { reasoningEffort: 'low', reasoningSummary: 'auto' } };
  const want = await generateText({ model: direct().reasoning, prompt: 'Think about it', providerOptions: options });
  const got = await generateText({ model: viaWarden().reasoning, prompt: 'Think about it', providerOptions: options });
  assert.ok(got.reasoningText && got.reasoningText.length > 0, 'the reasoning summary');
  assert.equal(got.reasoningText, want.reasoningText, "the upstream's summary");
  assert.equal(got.usage.outputTokenDetails.reasoningTokens, want.usage.outputTokenDetails.reasoningTokens, 'reasoning tokens reported');
  assert.equal(got.text, want.text, "the upstream's answer");

  // email_verified: the default policy summarises thinking and hands the client a sealed block,
  // which the AI SDK sends back on the loop's next step.
  const summarised = (await t.account('summarised', 'email_verified')).key;
  const anthropic = createAnthropic({ baseURL: `${t.url}/v1`, apiKey: summarised });
  const loop = await generateText({
    model: anthropic('claude-sonnet-4-5'), tools: { weather }, stopWhen: stepCountIs(3), maxOutputTokens: 2000,
    prompt: 'use the weather tool for Paris', providerOptions: { anthropic: { thinking: { type: 'enabled', budgetTokens: 1024 } } },
  });
  assert.equal(loop.steps.length, 2, 'the thinking tool loop ran both steps');
  assert.ok(loop.steps[0].reasoningText && loop.steps[0].reasoningText.length > 0, 'the first step showed (summarised) thinking');
  assert.ok(loop.text.length > 0, 'and answered after the tool result');
});

test('abort: an AbortController that stops a stream mid-way ends the call, and Warden records the request as cut by the client', { timeout: 60_000 }, async () => {
  const slow = await createMockUpstream({ host: '127.0.0.1', port: 0, tokensPerSecond: 20, answerTokens: [200, 200] });
  const w = await startTestWarden({ upstreams: [{ name: 'slow', base_url: slow.url, api_key: null, models: ['*'] }] });
  try {
    const k = (await w.account('aborts', 'enterprise')).key;
    for (const f of FORMATS) {
      const controller = new AbortController();
      const stream = streamText({ model: models(w.url, k)[f], prompt: 'Tell me a long story', abortSignal: controller.signal, onError: () => {} });
      let deltas = 0;
      for await (const _ of stream.textStream) if (++deltas === 2) controller.abort();
      assert.equal(deltas, 2, `${f}: no more text after the abort`);
    }
    const cut = await w.events((e) => e.response.status === 499, 3);
    assert.equal(cut.length, 3, `each aborted stream is recorded as the client's cut (${cut.length})`);
  } finally {
    await w.close();
    await slow.close();
  }
});

/** A fetch that counts the HTTP requests the AI SDK makes, retries included. */
function counting() {
  const seen = { requests: 0 };
  const f = (async (url: string | URL | Request, init?: RequestInit) => { seen.requests++; return fetch(url, init); }) as typeof fetch;
  return { seen, fetch: f };
}

test("Warden's refusals reach the app as the provider's: a short rate limit retried after retry-after, a revoked key and a spent quota with Warden's message", { timeout: 60_000 }, async () => {
  const limited = (await t.account('limited', 'identity_verified')).key;
  const c = counting();
  const first = await generateText({ model: models(t.url, limited, c.fetch).chat, prompt: 'Hi', maxOutputTokens: 20 });
  assert.ok(first.text.length > 0, 'the first request is served');
  c.seen.requests = 0;
  const second = await generateText({ model: models(t.url, limited, c.fetch).anthropic, prompt: 'Hi', maxOutputTokens: 20 });
  assert.ok(second.text.length > 0, 'the second, over the burst, is served after the SDK waited');
  assert.equal(c.seen.requests, 2, 'the SDK retried the 429 once, after its retry-after (one request every 5 s)');

  const account = await t.admin('/accounts', { name: 'revoked', email: 'revoked@example.org', tier: 'enterprise' });
  const revoked = await t.admin(`/accounts/${account.id}/keys`, { name: 'k' });
  await t.admin(`/keys/${revoked.key.id}/revoke`, { reason: 'leaked' });
  for (const f of FORMATS) {
    const r = counting();
    const err = await generateText({ model: models(t.url, revoked.secret, r.fetch)[f], prompt: 'Hi' }).catch((e: unknown) => e);
    assert.ok(APICallError.isInstance(err), `${f}: an APICallError (${(err as Error).stack ?? JSON.stringify(err)})`);
    assert.equal(err.statusCode, 401, `${f}: 401`);
    assert.match(err.message, /this API key has been revoked/, `${f}: Warden's message`);
    assert.equal(r.seen.requests, 1, `${f}: not retried`);
  }

  const quota = (await t.account('quota', 'unverified')).key;
  // Each answer is settled to what it used: the day's 1,000 tokens last a few calls.
  let err: unknown = null;
  for (let i = 0; i < 40 && err === null; i++) {
    err = await generateText({ model: models(t.url, quota).chat, prompt: 'Hi', maxOutputTokens: 900, maxRetries: 0 }).then(() => null, (e: unknown) => e);
  }
  assert.ok(APICallError.isInstance(err) && !RetryError.isInstance(err), `the spent quota is an APICallError (${err})`);
  assert.equal(err.statusCode, 429, '429');
  assert.match(err.message, /Daily token quota of 1000 exhausted for this API key\. Retry after \d+s\./, "Warden's message, with the wait");
});
