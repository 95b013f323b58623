// An app built on LangChain JS (ChatOpenAI on Chat Completions and on Responses, ChatAnthropic)
// changes only the base URL and the key to go through Warden. It must get what the upstream gave
// it: the same text and usage, tool calls from bindTools, objects from withStructuredOutput, a
// thinking tool loop, and Warden's refusals read as LangChain reads the provider's.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ChatOpenAI } from '@langchain/openai';
import { ChatAnthropic } from '@langchain/anthropic';
import { tool } from '@langchain/core/tools';
import { HumanMessage, type AIMessage, type AIMessageChunk, type BaseMessage } from '@langchain/core/messages';
import { z } from 'zod';
import { startFrameworkWarden } from '../helpers/frameworks.ts';

const { mock, t, key, close } = await startFrameworkWarden();
after(close);

type Options = { model?: string; fetch?: typeof fetch; maxRetries?: number; thinking?: boolean };
function chatModels(root: string, apiKey: string, o: Options = {}) {
  const configuration = { baseURL: `${root}/v1`, ...(o.fetch ? { fetch: o.fetch } : {}) };
  const retries = o.maxRetries === undefined ? {} : { maxRetries: o.maxRetries };
  return {
    chat: new ChatOpenAI({ model: o.model ?? 'gpt-4o-mini', apiKey, configuration, ...retries }),
    responses: new ChatOpenAI({ model: o.model ?? 'gpt-4o-mini', apiKey, useResponsesApi: true, configuration, ...retries }),
    anthropic: new ChatAnthropic({
      model: 'claude-sonnet-4-5', apiKey, anthropicApiUrl: root, ...retries,
      ...(o.fetch ? { clientOptions: { fetch: o.fetch } } : {}),
      ...(o.thinking ? { maxTokens: 3000, thinking: { type: 'enabled', budget_tokens: 1024 } } : {}),
    }),
  };
}
const FORMATS = ['chat', 'responses', 'anthropic'] as const;
const text = (m: BaseMessage) => typeof m.content === 'string' ? m.content : m.content.map((p) => (p.type === 'text' ? (p as { text: string }).text : '')).join('');

const weather = tool(async ({ city }: { city: string }) => JSON.stringify({ city, temperatureC: 21 }), {
  name: 'weather', description: 'Get the weather in a city', schema: z.object({ city: z.string() }),
});

async function streamWhole(model: ChatOpenAI | ChatAnthropic): Promise<AIMessageChunk> {
  let whole: AIMessageChunk | undefined;
  for await (const chunk of await model.stream('Hello there')) whole = whole ? whole.concat(chunk) : chunk;
  return whole!;
}

test('invoke and stream: the upstream\'s text and usage through Warden, in all three formats', { timeout: 60_000 }, async () => {
  for (const f of FORMATS) {
    const want = await chatModels(mock.url, 'upstream-needs-no-key')[f].invoke('Hello there');
    const got = await chatModels(t.url, key)[f].invoke('Hello there');
    assert.ok(text(got).length > 20, `${f}: an answer`);
    assert.equal(text(got), text(want), `${f}: the upstream's text`);
    assert.equal(got.usage_metadata?.output_tokens, want.usage_metadata?.output_tokens, `${f}: output tokens`);
    assert.equal(got.usage_metadata?.input_tokens, want.usage_metadata?.input_tokens, `${f}: input tokens`);

    const streamed = await streamWhole(chatModels(t.url, key)[f]);
    assert.equal(text(streamed), text(want), `${f}: streamed, the same text`);
    // Compared with the upstream streamed: LangChain adds Anthropic's message_start output count
    // to message_delta's, one more than the non-streamed figure, against the provider too.
    const upstreamStreamed = await streamWhole(chatModels(mock.url, 'upstream-needs-no-key')[f]);
    assert.deepEqual(streamed.usage_metadata, upstreamStreamed.usage_metadata, `${f}: streamed, the upstream's usage`);
  }
});

test('bindTools: the tool call, its result sent back, and the answer; withStructuredOutput: the schema\'s object', { timeout: 60_000 }, async () => {
  const schema = z.object({ name: z.string(), age: z.number() });
  for (const f of FORMATS) {
    const model = chatModels(t.url, key)[f].bindTools([weather]);
    const messages: BaseMessage[] = [new HumanMessage('What is the weather in Paris? use the weather tool')];
    const call = await model.invoke(messages) as AIMessage;
    assert.equal(call.tool_calls?.length, 1, `${f}: one tool call`);
    assert.equal(call.tool_calls![0].name, 'weather', `${f}: the weather tool`);
    assert.equal(typeof call.tool_calls![0].args.city, 'string', `${f}: with the schema's arguments`);
    const upstream = await chatModels(mock.url, 'upstream-needs-no-key')[f].bindTools([weather]).invoke(messages) as AIMessage;
    assert.deepEqual(call.tool_calls![0].args, upstream.tool_calls![0].args, `${f}: the upstream's arguments`);
    messages.push(call, await weather.invoke(call.tool_calls![0]));
    const answer = await model.invoke(messages);
    assert.ok(text(answer).length > 0, `${f}: answered after the tool's result`);

    const object = await chatModels(t.url, key)[f].withStructuredOutput(schema).invoke('Make a person');
    assert.ok(schema.safeParse(object).success, `${f}: valid against the schema (${JSON.stringify(object)})`);
    assert.deepEqual(object, await chatModels(mock.url, 'upstream-needs-no-key')[f].withStructuredOutput(schema).invoke('Make a person'), `${f}: the upstream's object`);
  }
});

test('a ChatAnthropic thinking tool loop goes on when Warden summarises and seals the thinking', { timeout: 60_000 }, async () => {
  const summarised = (await t.account('summarised', 'email_verified')).key;
  const model = chatModels(t.url, summarised, { thinking: true }).anthropic.bindTools([weather]);
  const messages: BaseMessage[] = [new HumanMessage('use the weather tool for Paris')];
  let call: AIMessageChunk | undefined;
  for await (const chunk of await model.stream(messages)) call = call ? call.concat(chunk) : chunk;
  assert.ok(Array.isArray(call!.content) && call!.content.some((p) => p.type === 'thinking'), 'the streamed turn opens with (summarised) thinking');
  assert.equal(call!.tool_calls?.length, 1, 'and calls the tool');
  messages.push(call!, await weather.invoke(call!.tool_calls![0]));
  const answer = await model.invoke(messages);
  assert.ok(text(answer).length > 0, 'the next turn, with the sealed thinking handed back, is answered');
});

test("Warden's refusals as LangChain reads them: a short rate limit retried, a revoked key and a spent quota failing at once with Warden's message", { timeout: 60_000 }, async () => {
  const seen = { requests: 0 };
  const counting = (async (url: string | URL | Request, init?: RequestInit) => { seen.requests++; return fetch(url, init); }) as typeof fetch;

  const limited = (await t.account('limited', 'identity_verified')).key;
  await chatModels(t.url, limited).chat.invoke('Hi');
  seen.requests = 0;
  const waited = await chatModels(t.url, limited, { fetch: counting }).anthropic.invoke('Hi');
  assert.ok(text(waited).length > 0, 'over the burst, served after LangChain waited');
  assert.ok(seen.requests >= 2, `the 429 was retried (${seen.requests} requests)`);

  const account = await t.admin('/accounts', { name: 'revoked', email: 'revoked@example.org', tier: 'enterprise' });
  const revoked = await t.admin(`/accounts/${account.id}/keys`, { name: 'k' });
  await t.admin(`/keys/${revoked.key.id}/revoke`, { reason: 'leaked' });
  for (const f of FORMATS) {
    seen.requests = 0;
    const err = await chatModels(t.url, revoked.secret, { fetch: counting })[f].invoke('Hi').then(() => null, (e: Error & { status?: number }) => e);
    assert.equal(err?.status, 401, `${f}: 401 (${err})`);
    assert.match(err!.message, /this API key has been revoked/, `${f}: Warden's message`);
    assert.equal(seen.requests, 1, `${f}: not retried`);
  }

  const quota = (await t.account('quota', 'unverified')).key;
  let err: (Error & { status?: number }) | null = null;
  for (let i = 0; i < 40 && err === null; i++) {
    seen.requests = 0;
    err = await new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: quota, maxTokens: 900, configuration: { baseURL: `${t.url}/v1`, fetch: counting } })
      .invoke('Hi').then(() => null, (e: Error & { status?: number }) => e);
  }
  assert.equal(err?.status, 429, `the spent quota: 429 (${err})`);
  assert.match(err!.message, /Daily token quota of 1000 exhausted for this API key\. Retry after \d+s\./, "Warden's message, with the wait");
  assert.equal(seen.requests, 1, 'LangChain did not retry a wait of hours (insufficient_quota)');
});
