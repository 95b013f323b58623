// The SDK calls customers make beyond a plain message: token counts, stream helpers, betas, prompt
// caching, structured outputs parsed with zod, stored and unstored Responses and the SDKs' own
// retries; each works through Warden unchanged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { zodResponseFormat, zodTextFormat } from 'openai/helpers/zod';
import Anthropic from '@anthropic-ai/sdk';
import { zodOutputFormat } from '@anthropic-ai/sdk/helpers/zod';
import * as z from 'zod/v4';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';

let h: Harness;
before(async () => { h = await startHarness(); });
after(async () => { await h.close(); });

const openai = (maxRetries = 0) => new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries });
const anthropic = (maxRetries = 0) => new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries });
const lastReceived = (path: string) => [...h.mock.received].reverse().find((r) => r.path === path)!;

const Answer = z.object({ city: z.string(), population: z.number().int() });

test('Anthropic messages.countTokens through the SDK', async () => {
  const count = await anthropic().messages.countTokens({ model: 'claude-sonnet-4-5', system: 'Be brief.', messages: [{ role: 'user', content: 'How many tokens is this?' }] });
  assert.ok(Number.isInteger(count.input_tokens) && count.input_tokens > 0, `input_tokens: ${JSON.stringify(count)}`);
});

test('Anthropic messages.stream: thinking deltas, tool input JSON deltas and finalMessage', async () => {
  const stream = anthropic().messages.stream({
    model: 'claude-sonnet-4-5', max_tokens: 2000, thinking: { type: 'enabled', budget_tokens: 1024 },
    tools: [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }],
    tool_choice: { type: 'auto' },
    messages: [{ role: 'user', content: 'Use the tool get_weather for Paris.' }],
  });
  let thinking = '';
  let json = '';
  stream.on('thinking', (delta) => { thinking += delta; });
  stream.on('inputJson', (delta) => { json += delta; });
  const message = await stream.finalMessage();
  assert.ok(thinking.length > 0, 'thinking deltas arrive through the helper');
  const thinkingBlock = message.content.find((b) => b.type === 'thinking');
  assert.ok(thinkingBlock && thinkingBlock.type === 'thinking' && thinkingBlock.signature, 'the final message keeps the thinking block with its signature');
  const tool = message.content.find((b) => b.type === 'tool_use');
  assert.ok(tool && tool.type === 'tool_use', `a tool call: ${JSON.stringify(message.content)}`);
  assert.ok(json.length > 0, 'tool input arrives as JSON deltas');
  assert.deepEqual(tool.input, JSON.parse(json), 'the helper assembles the input from the deltas');
  assert.equal(message.stop_reason, 'tool_use');
});

test('Anthropic beta headers and prompt caching pass through to the upstream', async () => {
  const msg = await anthropic().beta.messages.create({
    model: 'claude-sonnet-4-5', max_tokens: 100, betas: ['interleaved-thinking-2025-05-14', 'context-1m-2025-08-07'],
    system: [{ type: 'text', text: 'A long, stable system prompt worth caching.', cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: 'hello' }],
  });
  assert.equal(msg.type, 'message');
  const seen = lastReceived('/v1/messages');
  assert.equal(seen.headers['anthropic-beta'], 'interleaved-thinking-2025-05-14,context-1m-2025-08-07', 'betas reach the upstream');
  const system = (seen.body as { system: Array<{ cache_control?: unknown }> }).system;
  assert.deepEqual(system[0].cache_control, { type: 'ephemeral' }, 'cache_control reaches the upstream');
});

test('Anthropic structured outputs: messages.parse with a zod schema', async () => {
  const msg = await anthropic().messages.parse({
    model: 'claude-sonnet-4-5', max_tokens: 400,
    messages: [{ role: 'user', content: 'The largest city of France?' }],
    output_config: { format: zodOutputFormat(Answer) },
  });
  assert.ok(msg.parsed_output, `parsed: ${JSON.stringify(msg.content)}`);
  assert.equal(typeof msg.parsed_output.city, 'string');
});

test('OpenAI chat.completions.parse with a zod schema, and streamed', async () => {
  const res = await openai().chat.completions.parse({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'The largest city of France?' }], response_format: zodResponseFormat(Answer, 'answer') });
  const parsed = res.choices[0].message.parsed;
  assert.ok(parsed && typeof parsed.city === 'string' && Number.isInteger(parsed.population), `parsed: ${JSON.stringify(res.choices[0].message)}`);

  const stream = openai().chat.completions.stream({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'The largest city of France?' }], response_format: zodResponseFormat(Answer, 'answer') });
  const done = await stream.finalChatCompletion();
  assert.ok(done.choices[0].message.parsed, 'the stream helper parses the streamed JSON');
});

test('OpenAI responses.parse and responses.stream with a zod text format', async () => {
  const res = await openai().responses.parse({ model: 'gpt-4o-mini', input: 'The largest city of France?', text: { format: zodTextFormat(Answer, 'answer') } });
  assert.ok(res.output_parsed && typeof res.output_parsed.city === 'string', `parsed: ${res.output_text}`);

  const stream = openai().responses.stream({ model: 'gpt-4o-mini', input: 'The largest city of France?', text: { format: zodTextFormat(Answer, 'answer') } });
  let deltas = '';
  stream.on('response.output_text.delta', (e) => { deltas += e.delta; });
  const final = await stream.finalResponse();
  assert.ok(final.output_parsed, 'the final streamed response is parsed');
  assert.equal(deltas, final.output_text, 'text deltas add up to the output text');
});

test('OpenAI Responses: store false with encrypted reasoning, and previous_response_id', async () => {
  const unstored = await openai().responses.create({ model: 'o4-mini', input: 'Think, then say hi', store: false, include: ['reasoning.encrypted_content'], reasoning: { effort: 'low' } });
  assert.equal(unstored.status, 'completed');
  const reasoning = unstored.output.find((o) => o.type === 'reasoning');
  assert.ok(reasoning && reasoning.type === 'reasoning', `a reasoning item: ${JSON.stringify(unstored.output.map((o) => o.type))}`);
  assert.ok(typeof reasoning.encrypted_content === 'string' && reasoning.encrypted_content.length > 0, 'encrypted reasoning is handed back when asked for');

  const first = await openai().responses.create({ model: 'gpt-4o-mini', input: 'My name is Ada.' });
  const second = await openai().responses.create({ model: 'gpt-4o-mini', input: 'What is my name?', previous_response_id: first.id });
  assert.equal(second.previous_response_id, first.id, 'the continuation names the answer it continues');
});

test('OpenAI Responses with a stored prompt and no input (the template holds the messages), streamed or not, as the API takes it', async () => {
  const prompt = { id: 'pmpt_weather_0123', version: '2', variables: { city: 'Paris' } };
  const answer = await openai().responses.create({ model: 'gpt-4o-mini', prompt });
  assert.equal(answer.status, 'completed', `answered: ${JSON.stringify(answer).slice(0, 300)}`);
  assert.deepEqual((lastReceived('/v1/responses').body as { prompt?: unknown }).prompt, prompt, 'the prompt reaches the upstream');
  const streamed = await openai().responses.stream({ model: 'gpt-4o-mini', prompt }).finalResponse();
  assert.equal(streamed.status, 'completed');
  const recorded = (await storedEvents(h, 1)).filter((e) => e.flavour === 'openai.responses' && JSON.stringify(e.request.messages).includes('Paris'));
  assert.equal(recorded.length, 2, `the variables are what the caller asked, recorded as its message: ${JSON.stringify((await storedEvents(h, 1)).at(-1)?.request.messages)}`);
  const refused = await openai().responses.create({ model: 'gpt-4o-mini' }).then(() => null, (e: unknown) => e);
  assert.ok(refused instanceof OpenAI.BadRequestError && refused.param === 'input', `with neither input nor prompt: ${String(refused)}`);
  assert.match(refused.message, /Missing required parameter: 'input'/, 'in the API\'s words');
});

test('the SDKs retry a 429 on the retry advice Warden passes on', async () => {
  const before = h.mock.stats.requests;
  await assert.rejects(
    openai(1).chat.completions.create({ model: 'mock-fail-status-429', messages: [{ role: 'user', content: 'hi' }] }),
    (e: unknown) => e instanceof OpenAI.RateLimitError,
  );
  assert.equal(h.mock.stats.requests - before, 2, 'the OpenAI SDK retried once');
  const mid = h.mock.stats.requests;
  await assert.rejects(
    anthropic(1).messages.create({ model: 'mock-fail-status-529', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
    (e: unknown) => e instanceof Anthropic.APIError && e.status === 529,
  );
  assert.equal(h.mock.stats.requests - mid, 2, 'the Anthropic SDK retried once');
});

test('Responses: the identifiers an app sets (safety_identifier, prompt_cache_key) reach the upstream and are echoed on the response', async () => {
  const r = await openai().responses.create({ model: 'gpt-4.1-mini', input: 'Hello there.', safety_identifier: 'user-4821', prompt_cache_key: 'support-bot-v2' });
  assert.equal(r.safety_identifier, 'user-4821', `echoed: ${r.safety_identifier}`);
  assert.equal(r.prompt_cache_key, 'support-bot-v2');
  const sent = lastReceived('/v1/responses').body as Record<string, unknown>;
  assert.equal(sent.safety_identifier, 'user-4821', 'passed on to the upstream as sent');
  assert.equal(sent.prompt_cache_key, 'support-bot-v2');
});

test('Anthropic prompt caching: at most four cache_control breakpoints, a fifth refused with the API\'s 400', async () => {
  const mark = (text: string) => ({ type: 'text' as const, text, cache_control: { type: 'ephemeral' as const } });
  const four = await anthropic().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 20, system: [mark('Rules.'), mark('More rules.')], messages: [{ role: 'user', content: [mark('Context.'), mark('Question?')] }] });
  assert.equal(four.type, 'message', 'four breakpoints are accepted');
  const five = await anthropic().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 20, tools: [{ name: 'lookup', description: 'look up', input_schema: { type: 'object' }, cache_control: { type: 'ephemeral' } }], system: [mark('Rules.'), mark('More rules.')], messages: [{ role: 'user', content: [mark('Context.'), mark('Question?')] }] }).then(() => null, (e: unknown) => e);
  assert.ok(five instanceof Anthropic.BadRequestError, `a fifth breakpoint (on a tool): ${String(five)}`);
  assert.match(five.message, /A maximum of 4 blocks with cache_control may be provided\. Found 5\./);
});

test('OpenAI service_tier: the answer names the tier asked for (flex, priority), default otherwise, streamed or not', async () => {
  const flex = await openai().responses.create({ model: 'o4-mini', input: 'hi', service_tier: 'flex' });
  assert.equal(flex.service_tier, 'flex');
  const priority = await openai().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], service_tier: 'priority' });
  assert.equal(priority.service_tier, 'priority');
  const streamed = await openai().chat.completions.stream({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], service_tier: 'flex' }).finalChatCompletion();
  assert.equal(streamed.service_tier, 'flex', 'streamed chunks name it too');
  const auto = await openai().responses.stream({ model: 'gpt-4o-mini', input: 'hi', service_tier: 'auto' }).finalResponse();
  assert.equal(auto.service_tier, 'default', 'auto is served by the default tier');
});

test('sampling parameters out of OpenAI\'s ranges get its 400s: temperature 0-2, top_p 0-1', async () => {
  const hot = await openai().chat.completions.create({ model: 'gpt-4o-mini', temperature: 2.5, messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e: unknown) => e);
  assert.ok(hot instanceof OpenAI.BadRequestError && hot.param === 'temperature' && hot.code === 'decimal_above_max_value', `Chat temperature 2.5: ${String(hot)}`);
  assert.match(hot.message, /Invalid 'temperature': decimal above maximum value\. Expected a value <= 2, but got 2\.5 instead\./);
  const topP = await openai().responses.create({ model: 'gpt-4o-mini', top_p: -0.1, input: 'hi' }).then(() => null, (e: unknown) => e);
  assert.ok(topP instanceof OpenAI.BadRequestError && topP.param === 'top_p' && topP.code === 'decimal_below_min_value', `Responses top_p -0.1: ${String(topP)}`);
  assert.equal((await openai().chat.completions.create({ model: 'gpt-4o-mini', temperature: 2, top_p: 1, max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] })).object, 'chat.completion', 'the bounds themselves are accepted');
});
