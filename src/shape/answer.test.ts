import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { answerFilter, composeTransformers, type AnswerFilterOptions } from './answer.ts';
import { restoreSealedThinking } from './answer-anthropic.ts';
import { responsesResequencer } from './answer-openai.ts';
import { ReasoningSeal } from './seal.ts';
import { extractiveSummary } from './summary.ts';
import { readSseFixture, runTransformer, serialiseSse, serveOnce } from '../../test/helpers/sse-fixtures.ts';
import type { SseEvent } from '../gateway/lifecycle.ts';
import { dropUsageNull } from '../gateway/sse.ts';

const seal = new ReasoningSeal('test-secret');
function opts(over: Partial<AnswerFilterOptions> = {}): AnswerFilterOptions & { notes: Set<string> } {
  const notes = new Set<string>();
  return { reasoning: 'none', logprobs: false, seal, summarise: extractiveSummary, summaryMaxChars: 120, anthropicWithheld: 'redacted', note: (a) => notes.add(a), notes, ...over };
}
const datas = (evs: SseEvent[]) => evs.map((e) => e.data).join('\n');

async function anthropicFinal(events: SseEvent[]) {
  const { url, server } = await serveOnce(serialiseSse(events), 'text/event-stream');
  try {
    const client = new Anthropic({ baseURL: url, apiKey: 'k', maxRetries: 0 });
    return await client.messages.stream({ model: 'claude-test', max_tokens: 1024, messages: [{ role: 'user', content: 'hi' }] }).finalMessage();
  } finally { server.close(); }
}
async function chatFinal(events: SseEvent[]) {
  const { url, server } = await serveOnce(serialiseSse(events), 'text/event-stream');
  try {
    const client = new OpenAI({ baseURL: url + '/v1', apiKey: 'k', maxRetries: 0 });
    return await client.chat.completions.stream({ model: 'deepseek-reasoner', messages: [{ role: 'user', content: 'hi' }] }).finalChatCompletion();
  } finally { server.close(); }
}
async function responsesFinal(events: SseEvent[]) {
  const { url, server } = await serveOnce(serialiseSse(events), 'text/event-stream');
  try {
    const client = new OpenAI({ baseURL: url + '/v1', apiKey: 'k', maxRetries: 0 });
    return await client.responses.stream({ model: 'o4-mini', input: 'hi' }).finalResponse();
  } finally { server.close(); }
}

test('anthropic stream: thinking withheld as a sealed redacted_thinking block; SDK message valid; restorable', async () => {
  const o = opts();
  const out = runTransformer(answerFilter('anthropic.messages', o), readSseFixture('anthropic-thinking-tool.sse'));
  assert.doesNotMatch(datas(out), /thinking_delta|Paris, France\\" is enough|weather tool for/);
  const msg = await anthropicFinal(out);
  assert.deepEqual(msg.content.map((b) => b.type), ['redacted_thinking', 'text', 'tool_use']);
  const tool = msg.content[2] as Anthropic.ToolUseBlock;
  assert.deepEqual(tool.input, { location: 'Paris, France' });
  assert.equal((msg.content[1] as Anthropic.TextBlock).text, "I'll check the current weather in Paris for you. It is usually important to pack for a large range of temperatures.");
  assert.ok(o.notes.has('reasoning:withheld'));
  // Next turn: the client hands the redacted block back; Warden restores the original.
  const next: Record<string, unknown> = { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: msg.content }] };
  assert.equal(restoreSealedThinking(next, seal, () => { throw new Error('bad'); }), 1);
  const restored = ((next.messages as any[])[1].content as any[])[0];
  assert.equal(restored.type, 'thinking');
  assert.match(restored.thinking, /^The user wants the weather in Paris/);
  assert.equal(restored.signature, 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds4Zp5oFxM3sq4g==');
});

test('anthropic stream: drop mode removes the block and re-indexes later blocks', async () => {
  const out = runTransformer(answerFilter('anthropic.messages', opts({ anthropicWithheld: 'drop' })), readSseFixture('anthropic-thinking-tool.sse'));
  const indices = out.filter((e) => e.event?.startsWith('content_block')).map((e) => JSON.parse(e.data).index);
  assert.deepEqual([...new Set(indices)], [0, 1]);
  const msg = await anthropicFinal(out);
  assert.deepEqual(msg.content.map((b) => b.type), ['text', 'tool_use']);
  assert.deepEqual((msg.content[1] as Anthropic.ToolUseBlock).input, { location: 'Paris, France' });
});

test('anthropic stream: summary mode keeps a thinking block with a short summary and a sealed signature', async () => {
  const o = opts({ reasoning: 'summary' });
  const out = runTransformer(answerFilter('anthropic.messages', o), readSseFixture('anthropic-thinking-tool.sse'));
  const msg = await anthropicFinal(out);
  const block = msg.content[0] as Anthropic.ThinkingBlock;
  assert.equal(block.type, 'thinking');
  assert.ok(block.thinking.length <= 120 && block.thinking.length > 0, block.thinking);
  assert.equal(block.thinking, 'The user wants the weather in Paris and a short packing suggestion.');
  assert.match(block.signature, /^wdn1\./);
  assert.ok(o.notes.has('reasoning:summarised'));
});

test('anthropic json: thinking replaced; a tampered envelope is refused on the way back', () => {
  const body = { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 1, output_tokens: 2 },
    content: [{ type: 'thinking', thinking: 'secret chain of thought', signature: 'sig' }, { type: 'text', text: 'Answer.' }] };
  const out = answerFilter('anthropic.messages', opts())!.json!(structuredClone(body)) as any;
  assert.equal(out.content[0].type, 'redacted_thinking');
  assert.doesNotMatch(JSON.stringify(out), /secret chain/);
  assert.equal(out.content[1].text, 'Answer.');
  const tampered = out.content[0].data.slice(0, -4) + 'AAAA';
  const next = { messages: [{ role: 'assistant', content: [{ type: 'redacted_thinking', data: tampered }] }] };
  assert.throws(() => restoreSealedThinking(next, seal, () => { throw new Error('tampered'); }), /tampered/);
  // Full exposure leaves everything alone.
  assert.equal(answerFilter('anthropic.messages', opts({ reasoning: 'full', logprobs: true })), null);
});

test('chat stream: reasoning_content and logprobs removed; SDK accumulates the same answer', async () => {
  const events = readSseFixture('openai-chat-reasoning.sse');
  const o = opts();
  const out = runTransformer(answerFilter('openai.chat', o), events);
  assert.doesNotMatch(datas(out), /reasoning_content|Euclidean algorithm\.|"logprob"/);
  assert.equal(out.at(-1)!.data, '[DONE]');
  const completion = await chatFinal(out);
  assert.equal(completion.choices[0].message.content, 'The greatest common divisor is 21. It is often found with the Euclidean algorithm, which is especially quick.');
  assert.equal(completion.choices[0].finish_reason, 'stop');
  assert.deepEqual([...o.notes].sort(), ['logprobs:stripped', 'reasoning:withheld']);
});

test('chat stream: summary mode sends one summarised reasoning chunk before the answer', async () => {
  const out = runTransformer(answerFilter('openai.chat', opts({ reasoning: 'summary', logprobs: true })), readSseFixture('openai-chat-reasoning.sse'));
  const reasoning = out.map((e) => e.data).filter((d) => d.includes('reasoning_content')).map((d) => JSON.parse(d).choices[0].delta.reasoning_content);
  assert.deepEqual(reasoning, ['We need 1071 and 462. 1071 = 2*462 + 147. So the GCD is 21.']);
  const firstContent = out.findIndex((e) => e.data.includes('"content":"The greatest'));
  const summaryAt = out.findIndex((e) => e.data.includes('reasoning_content'));
  assert.ok(summaryAt >= 0 && summaryAt < firstContent);
  assert.match(datas(out), /"logprob"/); // logprobs allowed here
  const completion = await chatFinal(out);
  assert.match(completion.choices[0].message.content!, /^The greatest common divisor is 21/);
});

test('chat json: reasoning removed or summarised, logprobs nulled', () => {
  const body = { id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'Answer', reasoning_content: 'Long thought. More.\n\nSecond paragraph.' }, logprobs: { content: [] }, finish_reason: 'stop' }] };
  const none = answerFilter('openai.chat', opts())!.json!(structuredClone(body)) as any;
  assert.equal(none.choices[0].message.reasoning_content, undefined);
  assert.equal(none.choices[0].logprobs, null);
  const summary = answerFilter('openai.chat', opts({ reasoning: 'summary' }))!.json!(structuredClone(body)) as any;
  assert.equal(summary.choices[0].message.reasoning_content, 'Long thought. Second paragraph.');
});

test('responses stream: reasoning summary withheld, logprobs stripped, sequence numbers contiguous, SDK valid', async () => {
  const o = opts();
  const t = composeTransformers([answerFilter('openai.responses', o), responsesResequencer()]);
  const out = runTransformer(t, readSseFixture('openai-responses-reasoning.sse'));
  assert.doesNotMatch(datas(out), /Applying the Euclidean|reasoning_summary|"logprob"/);
  assert.deepEqual(out.map((e) => JSON.parse(e.data).sequence_number), out.map((_, i) => i));
  const response = await responsesFinal(out);
  assert.equal(response.output[0].type, 'reasoning');
  assert.deepEqual((response.output[0] as any).summary, []);
  assert.equal(response.output_text, 'The greatest common divisor of 1071 and 462 is 21. This method is usually the quickest way, especially for large numbers.');
});

test('responses stream: raw reasoning_text (vLLM) summarised into a summary part', async () => {
  const t = composeTransformers([answerFilter('openai.responses', opts({ reasoning: 'summary', logprobs: true })), responsesResequencer()]);
  const out = runTransformer(t, readSseFixture('openai-responses-raw-reasoning.sse'));
  assert.doesNotMatch(datas(out), /reasoning_text|Many people guess/);
  assert.deepEqual(out.map((e) => JSON.parse(e.data).sequence_number), out.map((_, i) => i));
  const response = await responsesFinal(out);
  const item = response.output[0] as any;
  assert.deepEqual(item.summary, [{ type: 'summary_text', text: 'User asks for the capital of Australia. The capital is Canberra.' }]);
  assert.deepEqual(item.content, []);
  assert.equal(response.output_text, 'The capital of Australia is Canberra.');
});

test('responses json: reasoning items emptied, message logprobs stripped', () => {
  const body = { id: 'r', object: 'response', output: [
    { id: 'rs', type: 'reasoning', summary: [{ type: 'summary_text', text: 'thinking out loud' }], encrypted_content: 'opaque' },
    { id: 'm', type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hi', annotations: [], logprobs: [{ token: 'Hi', logprob: -1 }] }] },
  ] };
  const o = opts();
  const out = answerFilter('openai.responses', o)!.json!(structuredClone(body)) as any;
  assert.deepEqual(out.output[0].summary, []);
  assert.equal(out.output[0].encrypted_content, 'opaque');
  assert.deepEqual(out.output[1].content[0].logprobs, []);
  assert.ok(o.notes.has('reasoning:withheld'));
});

// Vendors' other spellings of Chat reasoning: OpenRouter's `reasoning_details`, LiteLLM's
// `thinking_blocks` (also under `provider_specific_fields`), Mistral's thinking content parts.
const OPENROUTER_TRACE = /Check the year|Münster|Second thought/;
const LITELLM_TRACE = /asks about Westphalia|thirty years/;

test('chat stream, OpenRouter: reasoning and reasoning_details withheld; encrypted reasoning kept; SDK valid', async () => {
  const o = opts({ logprobs: true });
  const out = runTransformer(answerFilter('openai.chat', o), readSseFixture('openai-chat-openrouter.sse'));
  assert.doesNotMatch(datas(out), OPENROUTER_TRACE);
  assert.doesNotMatch(datas(out), /reasoning\.text/);
  assert.match(datas(out), /"reasoning\.encrypted","data":"gAAAAABoOpaque=="/, 'opaque reasoning still round-trips');
  assert.ok(o.notes.has('reasoning:withheld'), 'the withholding is noted');
  const completion = await chatFinal(out);
  assert.equal(completion.choices[0].message.content, 'The Peace of Westphalia was signed in 1648.');
});

test('chat stream, OpenRouter summary: one summary of all the reasoning chunks (their "content":"" does not end it), before the answer', () => {
  const out = runTransformer(answerFilter('openai.chat', opts({ reasoning: 'summary', summaryMaxChars: 400 })), readSseFixture('openai-chat-openrouter.sse'));
  const texts = out.map((e) => e.data).filter((d) => d !== '[DONE]').map((d) => JSON.parse(d).choices[0]?.delta ?? {});
  const summaries = texts.filter((d) => typeof d.reasoning_content === 'string').map((d) => d.reasoning_content);
  assert.deepEqual(summaries, ['Check the year first. Second thought: mention both cities.']);
  assert.doesNotMatch(datas(out), /Münster|reasoning\.text|"reasoning":"/);
  const summaryAt = out.findIndex((e) => e.data.includes('reasoning_content'));
  const answerAt = out.findIndex((e) => e.data.includes('"content":"The Peace'));
  assert.ok(summaryAt >= 0 && summaryAt < answerAt, `summary at ${summaryAt}, answer at ${answerAt}`);
});

test('chat stream, LiteLLM: thinking_blocks withheld (top level and provider_specific_fields), and summarised from them', async () => {
  const none = runTransformer(answerFilter('openai.chat', opts()), readSseFixture('openai-chat-litellm.sse'));
  assert.doesNotMatch(datas(none), LITELLM_TRACE);
  assert.equal((await chatFinal(none)).choices[0].message.content, 'It was signed in 1648.');
  const summary = runTransformer(answerFilter('openai.chat', opts({ reasoning: 'summary' })), readSseFixture('openai-chat-litellm.sse'));
  assert.doesNotMatch(datas(summary), /thirty years/);
  const summaries = summary.map((e) => e.data).filter((d) => d.includes('reasoning_content":"T')).map((d) => JSON.parse(d).choices[0].delta.reasoning_content);
  assert.deepEqual(summaries, ['The user asks about Westphalia.']);
});

test('chat json: every spelling of reasoning removed under none, summarised once under summary', () => {
  const trace = 'First line of thought. Hidden detail.\n\nNext step. More hidden detail.';
  const body = { id: 'c', object: 'chat.completion', created: 1, model: 'm', choices: [
    { index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'A', reasoning: trace, reasoning_details: [{ type: 'reasoning.text', text: trace, format: 'unknown', index: 0 }, { type: 'reasoning.encrypted', data: 'opaque', index: 1 }] } },
    { index: 1, finish_reason: 'stop', message: { role: 'assistant', content: 'B', reasoning_content: trace, thinking_blocks: [{ type: 'thinking', thinking: trace, signature: 'sig' }], provider_specific_fields: { thinking_blocks: [{ type: 'thinking', thinking: trace, signature: 'sig' }] } } },
    { index: 2, finish_reason: 'stop', message: { role: 'assistant', content: [{ type: 'thinking', thinking: [{ type: 'text', text: trace }] }, { type: 'text', text: 'C' }] } },
  ] };
  const o = opts();
  const none = answerFilter('openai.chat', o)!.json!(structuredClone(body)) as any;
  assert.doesNotMatch(JSON.stringify(none), /hidden detail/i);
  assert.deepEqual(none.choices[0].message.reasoning_details, [{ type: 'reasoning.encrypted', data: 'opaque', index: 1 }]);
  assert.deepEqual(none.choices[2].message.content, [{ type: 'text', text: 'C' }]);
  assert.ok(o.notes.has('reasoning:withheld'), 'noted');
  const summary = answerFilter('openai.chat', opts({ reasoning: 'summary' }))!.json!(structuredClone(body)) as any;
  assert.doesNotMatch(JSON.stringify(summary), /hidden detail/i);
  for (const c of summary.choices) assert.equal(c.message.reasoning_content, 'First line of thought. Next step.');
});

test('chat stream summary chunk keeps the upstream key order, so the gateway drops its "usage":null like any chunk\'s', () => {
  const env = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm' };
  const chunk = (delta: object, finish: string | null = null) => ({ data: JSON.stringify({ ...env, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null, obfuscation: 'pAd' }) });
  const events = [chunk({ role: 'assistant', reasoning_content: 'Thinking hard.' }), chunk({ content: 'Hi' }), chunk({}, 'stop')];
  const out = runTransformer(answerFilter('openai.chat', opts({ reasoning: 'summary' })), events);
  const summary = JSON.parse(out[0].data);
  assert.deepEqual(Object.keys(summary), ['id', 'object', 'created', 'model', 'choices', 'usage', 'obfuscation']);
  assert.doesNotMatch(dropUsageNull(Buffer.from(serialiseSse(out))).toString(), /"usage":null/);
});

test('responses stream: reasoning events of other names (response.reasoning.delta) are withheld, and summarised from', () => {
  const renamed = readSseFixture('openai-responses-raw-reasoning.sse').map((e) => ({
    event: e.event?.replace('response.reasoning_text.', 'response.reasoning.'),
    data: e.data.replace(/"response\.reasoning_text\./g, '"response.reasoning.'),
  }));
  assert.ok(renamed.some((e) => e.event === 'response.reasoning.delta'), 'the fixture has raw reasoning deltas');
  const none = runTransformer(composeTransformers([answerFilter('openai.responses', opts({ logprobs: true })), responsesResequencer()]), renamed);
  assert.doesNotMatch(datas(none), /Many people guess|response\.reasoning\./);
  const summary = runTransformer(composeTransformers([answerFilter('openai.responses', opts({ reasoning: 'summary', logprobs: true })), responsesResequencer()]), renamed);
  assert.doesNotMatch(datas(summary), /Many people guess|response\.reasoning\./);
  assert.match(datas(summary), /"response\.reasoning_summary_text\.done".*"text":"User asks for the capital of Australia\. The capital is Canberra\."/);
});

test('Chat JSON, reasoning withheld, logprobs allowed: only the entries spelling the visible answer stay; a reasoning field of logprobs goes', () => {
  const entry = (token: string) => ({ token, logprob: -0.5, bytes: [...Buffer.from(token)], top_logprobs: [] });
  const body = (content: string, tokens: string[]) => ({
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content, reasoning: 'Hidden step.' }, logprobs: { content: tokens.map(entry), reasoning: [entry('Hidden'), entry(' step.')] } }],
  });
  const filter = answerFilter('openai.chat', opts({ logprobs: true }))!;
  const spelled = filter.json!(body('Yes, Paris', ['Hidden', ' step.', 'Yes', ',', ' Paris'])) as any;
  assert.deepEqual(spelled.choices[0].logprobs.content.map((e: any) => e.token), ['Yes', ',', ' Paris'], 'the answer\'s entries kept');
  assert.ok(!('reasoning' in spelled.choices[0].logprobs), 'the reasoning logprobs field removed');
  // The tokens do not spell the answer (the `</think>` tag and newline in between): keep none.
  const unspelled = filter.json!(body('Paris', ['Hidden', ' step.', '</think>', '\n\n', 'Par', 'is!'])) as any;
  assert.equal(unspelled.choices[0].logprobs.content, null);
  assert.doesNotMatch(JSON.stringify(unspelled), /Hidden/, 'nothing of the trace');
});

test('chat stream summary: reasoning chunks with an empty "tool_calls":[] do not end the reasoning; one summary of all of it, before the answer', async () => {
  const chunk = (delta: object, finish: string | null = null) => ({ data: JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] }) });
  const events = [
    chunk({ role: 'assistant', content: '', reasoning: 'First thought here.', tool_calls: [] }),
    chunk({ content: '', reasoning: ' More of it.\n\nSecond paragraph starts.', tool_calls: [] }),
    chunk({ content: '', reasoning: ' And goes on.', tool_calls: [] }),
    chunk({ content: 'Answer.' }),
    chunk({}, 'stop'),
    { data: '[DONE]' },
  ];
  const out = runTransformer(answerFilter('openai.chat', opts({ reasoning: 'summary' })), events);
  const summaries = out.map((e) => e.data).filter((d) => d.includes('reasoning_content')).map((d) => JSON.parse(d).choices[0].delta.reasoning_content);
  assert.deepEqual(summaries, ['First thought here. Second paragraph starts.'], 'one summary, of the whole trace');
  assert.ok(out.findIndex((e) => e.data.includes('reasoning_content')) < out.findIndex((e) => e.data.includes('"content":"Answer."')), 'the summary comes before the answer');
  assert.equal((await chatFinal(out)).choices[0].message.content, 'Answer.');
});
