// Tool loops through Warden with the official SDKs, against the built-in mock: a loop built as the
// APIs want it runs, and one the providers refuse (a tool output answering no call, a call left
// unanswered) is refused here too, with the provider's 400 and words, so that an app developed
// against `npm start` does not first meet these errors in production.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, type Harness } from '../helpers/gateway.ts';

let h: Harness;
before(async () => { h = await startHarness(); });
after(async () => { await h.close(); });

const openai = () => new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
const anthropic = () => new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries: 0 });
const refusal = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e);

const chatTools = [
  { type: 'function' as const, function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } },
  { type: 'function' as const, function: { name: 'get_time', description: 'Time in a zone', parameters: { type: 'object', properties: { tz: { type: 'string' } }, required: ['tz'] } } },
];
const claudeTools = [
  { name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } },
  { name: 'get_time', description: 'Time in a zone', input_schema: { type: 'object' as const, properties: { tz: { type: 'string' } }, required: ['tz'] } },
];
const ask = 'Use get_weather for Paris and get_time for Tokyo';

test('Chat Completions: a parallel tool loop runs; tool messages answering no call, or calls left unanswered, are refused as OpenAI refuses them', async () => {
  const first = await openai().chat.completions.create({ model: 'gpt-4o', tools: chatTools, messages: [{ role: 'user', content: ask }] });
  const calls = first.choices[0].message.tool_calls ?? [];
  assert.ok(calls.length === 2, `two parallel calls: ${JSON.stringify(first.choices[0].message)}`);
  const assistant = first.choices[0].message;
  const outputs = calls.map((c) => ({ role: 'tool' as const, tool_call_id: c.id, content: '{"ok":true}' }));
  const done = await openai().chat.completions.create({ model: 'gpt-4o', tools: chatTools, messages: [{ role: 'user', content: ask }, assistant, ...outputs] });
  assert.equal(done.choices[0].finish_reason, 'stop', 'the loop ends with an answer');

  const orphan = await refusal(openai().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }, { role: 'tool', tool_call_id: 'call_nothing', content: 'x' }] }));
  assert.ok(orphan instanceof OpenAI.BadRequestError, `a tool message with no call before it: ${String(orphan)}`);
  assert.equal(orphan.param, 'messages.[1].role');
  assert.match(orphan.message, /messages with role 'tool' must be a response to a preceeding message with 'tool_calls'/);

  const unanswered = await refusal(openai().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: ask }, assistant, outputs[0], { role: 'user', content: 'and now?' }] }));
  assert.ok(unanswered instanceof OpenAI.BadRequestError, `one call left unanswered: ${String(unanswered)}`);
  assert.equal(unanswered.param, 'messages.[3].role');
  assert.match(unanswered.message, new RegExp(`did not have response messages: ${calls[1].id}$`));

  const wrongId = await refusal(openai().chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: ask }, assistant, { ...outputs[0], tool_call_id: 'call_other' }, outputs[1]] }));
  assert.ok(wrongId instanceof OpenAI.BadRequestError, `an output naming another call: ${String(wrongId)}`);
  assert.equal(wrongId.param, 'messages.[2].tool_call_id');
});

test('Responses: outputs must answer a call of the input or of the previous response, and a call must be answered', async () => {
  const tools = chatTools.map((t) => ({ type: 'function' as const, name: t.function.name, description: t.function.description, parameters: t.function.parameters, strict: false }));
  const first = await openai().responses.create({ model: 'gpt-4.1', tools, input: ask });
  const calls = first.output.filter((o) => o.type === 'function_call');
  assert.ok(calls.length > 0, `calls: ${JSON.stringify(first.output.map((o) => o.type))}`);
  const outputs = calls.map((c) => ({ type: 'function_call_output' as const, call_id: c.call_id, output: '{"ok":true}' }));
  const next = await openai().responses.create({ model: 'gpt-4.1', tools, previous_response_id: first.id, input: outputs });
  assert.equal(next.status, 'completed', 'answered through previous_response_id');
  const stateless = await openai().responses.create({ model: 'gpt-4.1', tools, input: [{ role: 'user', content: ask }, ...calls, ...outputs] });
  assert.equal(stateless.status, 'completed', 'answered with the calls handed back in the input');

  const orphan = await refusal(openai().responses.create({ model: 'gpt-4.1', input: [{ type: 'function_call_output', call_id: 'call_nothing', output: 'x' }] }));
  assert.ok(orphan instanceof OpenAI.BadRequestError, `an output answering no call: ${String(orphan)}`);
  assert.equal(orphan.param, 'input');
  assert.match(orphan.message, /No tool call found for function call output with call_id call_nothing\./);

  const unanswered = await refusal(openai().responses.create({ model: 'gpt-4.1', tools, previous_response_id: first.id, input: 'never mind, just chat' }));
  assert.ok(unanswered instanceof OpenAI.BadRequestError, `the previous response's call left unanswered: ${String(unanswered)}`);
  assert.equal(unanswered.param, 'input');
  assert.match(unanswered.message, new RegExp(`No tool output found for function call ${calls[0].call_id}\\.`));
});

test('Anthropic: a parallel tool loop runs; a tool_result answering no tool_use, or a tool_use left unanswered, is refused as Anthropic refuses it', async () => {
  const first = await anthropic().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 500, tools: claudeTools, messages: [{ role: 'user', content: ask }] });
  const uses = first.content.filter((b) => b.type === 'tool_use');
  assert.ok(uses.length === 2, `two parallel tool calls: ${JSON.stringify(first.content.map((b) => b.type))}`);
  const results = uses.map((u) => ({ type: 'tool_result' as const, tool_use_id: u.id, content: '{"ok":true}' }));
  const done = await anthropic().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 500, tools: claudeTools, messages: [{ role: 'user', content: ask }, { role: 'assistant', content: first.content }, { role: 'user', content: results }] });
  assert.equal(done.stop_reason, 'end_turn', 'the loop ends with an answer');

  const orphan = await refusal(anthropic().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_nothing', content: 'x' }] }] }));
  assert.ok(orphan instanceof Anthropic.BadRequestError, `a tool_result with no tool_use before it: ${String(orphan)}`);
  assert.match(orphan.message, /messages\.0\.content\.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_nothing\. Each `tool_result` block must have a corresponding `tool_use` block in the previous message\./);

  const unanswered = await refusal(anthropic().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 50, tools: claudeTools, messages: [{ role: 'user', content: ask }, { role: 'assistant', content: first.content }, { role: 'user', content: [results[0], { type: 'text', text: 'and now?' }] }] }));
  assert.ok(unanswered instanceof Anthropic.BadRequestError, `one tool_use left unanswered: ${String(unanswered)}`);
  assert.match(unanswered.message, new RegExp(`messages\\.1: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${uses[1].id}\\.`));
});

test('Anthropic tool_choice any or tool: the answer starts with the tool call, no text before it, streamed or not', async () => {
  for (const tool_choice of [{ type: 'any' as const }, { type: 'tool' as const, name: 'get_weather' }]) {
    const msg = await anthropic().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 500, tools: claudeTools, tool_choice, messages: [{ role: 'user', content: ask }] });
    assert.equal(msg.content[0]?.type, 'tool_use', `${tool_choice.type}: ${JSON.stringify(msg.content.map((b) => b.type))}`);
    assert.equal(msg.stop_reason, 'tool_use');
    const streamed = await anthropic().messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 500, tools: claudeTools, tool_choice, messages: [{ role: 'user', content: ask }] }).finalMessage();
    assert.equal(streamed.content[0]?.type, 'tool_use', `${tool_choice.type} streamed: ${JSON.stringify(streamed.content.map((b) => b.type))}`);
  }
  const auto = await anthropic().messages.create({ model: 'claude-sonnet-4-5', max_tokens: 500, tools: claudeTools, messages: [{ role: 'user', content: ask }] });
  assert.equal(auto.content[0]?.type, 'text', 'with tool_choice auto the model may still say what it is about to do');
});
