// Usage of streams cut short: the upstream's count is taken only from the event that closes the
// answer; before it, what was streamed is counted, so a client that hangs up early is charged for
// what it received.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseScanner, SseParser, type SseSink } from './sse.ts';
import type { SseEvent } from './lifecycle.ts';
import { AnswerMeter, countTextTokens } from './usage.ts';
import type { ApiFlavour } from '../events/index.ts';

const ev = (event: string | null, data: object) => `${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`;

/** The meter's summary of `stream`, read both ways the gateway reads streams (bytes scanned in place, and events parsed). */
function measure(flavour: ApiFlavour, stream: string) {
  const scanned = new AnswerMeter(flavour);
  const other = (m: AnswerMeter) => (e: SseEvent) => {
    try { m.observeEvent(JSON.parse(e.data), e.event); } catch { /* not JSON */ }
    return true;
  };
  const sink: SseSink = { simple: (c, ds, de, name) => scanned.scanDelta(c, ds, de, name), other: other(scanned) };
  const scanner = new SseScanner();
  scanner.push(Buffer.from(stream), sink);
  scanner.flush(sink);
  const parsed = new AnswerMeter(flavour);
  const o = other(parsed);
  for (const e of new SseParser().push(Buffer.from(stream))) if (!parsed.observeDeltaFast(e.data, e.event)) o(e);
  const a = scanned.summary('');
  assert.deepEqual(parsed.summary(''), a, 'both ways of reading a stream measure it the same');
  return a;
}

const TEXT = ['The quick brown fox ', 'jumps over the lazy dog, ', 'then writes a long essay about ', 'why it did so, in three parts.'];
const anthropicStart = ev('message_start', { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'claude-sonnet-4-5', stop_reason: null, stop_sequence: null, usage: { input_tokens: 12, cache_read_input_tokens: 3, output_tokens: 1 } } });
const anthropicText = ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })
  + TEXT.map((t) => ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } })).join('');

test('Anthropic stream cut before message_delta: the streamed text is counted, not message_start\'s placeholder', () => {
  const s = measure('anthropic.messages', anthropicStart + anthropicText);
  assert.equal(s.output_tokens, countTextTokens(TEXT.join('')));
  assert.ok(s.output_tokens > 10);
  assert.equal(s.input_tokens, 15, 'input (cache reads included) is message_start\'s');
  assert.equal(s.usage_source, 'tokenizer');
});

test('Anthropic stream to its end: message_delta\'s count is final', () => {
  const end = ev('content_block_stop', { type: 'content_block_stop', index: 0 })
    + ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 23 } })
    + ev('message_stop', { type: 'message_stop' });
  const s = measure('anthropic.messages', anthropicStart + anthropicText + end);
  assert.equal(s.output_tokens, 23);
  assert.equal(s.input_tokens, 15);
  assert.equal(s.usage_source, 'upstream');
  assert.equal(s.finish_reason, 'end_turn');
});

test('Anthropic stream cut in a tool call after thinking: thinking and tool input are counted, output includes reasoning', () => {
  const thinking = 'Let me think about which tool fits this request best, step by step.';
  const stream = anthropicStart
    + ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } })
    + ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking } })
    + ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'c2lnbmF0dXJl' } })
    + ev('content_block_stop', { type: 'content_block_stop', index: 0 })
    + ev('content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } })
    + ev('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city": "Paris", "unit": "celsius"' } });
  const s = measure('anthropic.messages', stream);
  assert.equal(s.reasoning_tokens, countTextTokens(thinking));
  assert.equal(s.output_tokens, countTextTokens(thinking) + countTextTokens('{"city": "Paris", "unit": "celsius"'));
  assert.ok(s.output_tokens >= s.reasoning_tokens);
  assert.equal(s.tool_calls, 1);
  assert.equal(s.usage_source, 'tokenizer');
});

const chunk = (delta: object, finish: string | null, usage?: object) => ev(null, {
  id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }], ...(usage ? { usage } : {}),
});

test('Chat stream with a running usage on every chunk, cut: the output is counted, the input kept', () => {
  // Servers with continuous usage stats report the count so far on each chunk (here a stale 0).
  const stream = chunk({ role: 'assistant', content: '' }, null, { prompt_tokens: 9, completion_tokens: 0, total_tokens: 9 })
    + TEXT.map((t) => chunk({ content: t }, null, { prompt_tokens: 9, completion_tokens: 0, total_tokens: 9 })).join('');
  const s = measure('openai.chat', stream);
  assert.equal(s.output_tokens, countTextTokens(TEXT.join('')));
  assert.equal(s.input_tokens, 9);
  assert.equal(s.usage_source, 'tokenizer');
});

test('Chat stream to its end: the usage chunk\'s count is final', () => {
  const stream = TEXT.map((t) => chunk({ content: t }, null)).join('') + chunk({}, 'stop')
    + ev(null, { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 9, completion_tokens: 31, total_tokens: 40 } })
    + 'data: [DONE]\n\n';
  const s = measure('openai.chat', stream);
  assert.equal(s.output_tokens, 31);
  assert.equal(s.usage_source, 'upstream');
});

test('Anthropic stream cut before message_delta: message_start\'s cache reads and writes stay split out of its input', () => {
  // The input (12 + 3,000 read + 1,000 written) is the upstream's; so is its split, which prices
  // and bills the cache's share as the provider bills it, not as full input.
  const start = ev('message_start', { type: 'message_start', message: { id: 'msg_2', type: 'message', role: 'assistant', content: [], model: 'claude-sonnet-4-5', stop_reason: null, stop_sequence: null, usage: { input_tokens: 12, cache_creation_input_tokens: 1000, cache_read_input_tokens: 3000, output_tokens: 1 } } });
  const s = measure('anthropic.messages', start + anthropicText);
  assert.equal(s.usage_source, 'tokenizer', 'the output is counted from the streamed text');
  assert.equal(s.input_tokens, 4012, 'the input is message_start\'s, cache included');
  assert.equal(s.cached_input_tokens, 3000, 'the cache reads message_start reported are kept');
  assert.equal(s.cache_write_tokens, 1000, 'the cache writes message_start reported are kept');
});

test('Anthropic message_delta whose cache fields are null or absent keeps message_start\'s cache counts', () => {
  // The SDK types message_delta's cache fields as nullable; a relay that sends only input and output
  // counts there must not shrink the input to its uncached part.
  const start = ev('message_start', { type: 'message_start', message: { id: 'msg_3', type: 'message', role: 'assistant', content: [], model: 'claude-sonnet-4-5', stop_reason: null, stop_sequence: null, usage: { input_tokens: 12, cache_creation_input_tokens: 1000, cache_read_input_tokens: 3000, output_tokens: 1 } } });
  for (const usage of [{ input_tokens: 12, cache_creation_input_tokens: null, cache_read_input_tokens: null, output_tokens: 40 }, { input_tokens: 12, output_tokens: 40 }]) {
    const end = ev('content_block_stop', { type: 'content_block_stop', index: 0 })
      + ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage })
      + ev('message_stop', { type: 'message_stop' });
    const s = measure('anthropic.messages', start + anthropicText + end);
    assert.equal(s.usage_source, 'upstream');
    assert.equal(s.input_tokens, 4012, `the input keeps the cache's share (${JSON.stringify(usage)})`);
    assert.equal(s.cached_input_tokens, 3000, 'cache reads kept');
    assert.equal(s.cache_write_tokens, 1000, 'cache writes kept');
    assert.equal(s.output_tokens, 40);
  }
});

test('Chat stream cut after a running usage with cached tokens: the cached share of the upstream\'s input is kept', () => {
  const usage = { prompt_tokens: 3000, completion_tokens: 0, total_tokens: 3000, prompt_tokens_details: { cached_tokens: 2048 } };
  const stream = TEXT.map((t) => chunk({ content: t }, null, usage)).join('');
  const s = measure('openai.chat', stream);
  assert.equal(s.usage_source, 'tokenizer', 'the output is counted from the streamed text');
  assert.equal(s.input_tokens, 3000);
  assert.equal(s.cached_input_tokens, 2048, 'the cached share the upstream reported is kept');
});

test('a stream with no upstream count at all has no cache counts', () => {
  const s = measure('openai.chat', TEXT.map((t) => chunk({ content: t }, null)).join(''));
  assert.equal(s.usage_source, 'tokenizer');
  assert.ok(!('cached_input_tokens' in s) && !('cache_write_tokens' in s), 'no cache split is made up for a counted input');
});

test('Responses stream cut: the streamed text and refusal are counted', () => {
  let seq = 0;
  const r = (type: string, extra: object) => ev(type, { type, sequence_number: seq++, ...extra });
  const stream = r('response.created', { response: { id: 'resp_1', object: 'response', status: 'in_progress', usage: null } })
    + TEXT.map((t) => r('response.output_text.delta', { item_id: 'msg_1', output_index: 0, content_index: 0, delta: t })).join('')
    + r('response.refusal.delta', { item_id: 'msg_2', output_index: 1, content_index: 0, delta: 'I cannot help with that.' });
  const s = measure('openai.responses', stream);
  assert.equal(s.output_tokens, countTextTokens(TEXT.join('') + 'I cannot help with that.'));
  assert.equal(s.usage_source, 'tokenizer');
  assert.equal(s.answer_id, 'resp_1');
});

const REFUSAL = ['I\'m sorry, ', 'but I can\'t help ', 'with "that" request.'];

test('Chat refusal stream cut: the refusal\'s text is counted, read either way', () => {
  // As OpenAI sends them (the opening delta with `"refusal":null`, then refusal deltas), after
  // text deltas (which teach the scanner the stream's shape), and with `"content":null` before.
  const streams = [
    chunk({ role: 'assistant', content: '', refusal: null }, null) + REFUSAL.map((t) => chunk({ refusal: t }, null)).join(''),
    TEXT.map((t) => chunk({ content: t }, null)).join('') + REFUSAL.map((t) => chunk({ refusal: t }, null)).join(''),
    REFUSAL.map((t) => chunk({ content: null, refusal: t }, null)).join(''),
    TEXT.map((t) => chunk({ content: t, refusal: null }, null)).join('') + REFUSAL.map((t) => chunk({ content: '', refusal: t }, null)).join(''),
  ];
  const expected = [REFUSAL.join(''), TEXT.join('') + REFUSAL.join(''), REFUSAL.join(''), TEXT.join('') + REFUSAL.join('')];
  streams.forEach((stream, i) => {
    const s = measure('openai.chat', stream);
    assert.equal(s.output_chars, expected[i].length, `stream ${i}`);
    assert.equal(s.output_tokens, countTextTokens(expected[i]), `stream ${i}`);
    assert.ok(s.output_tokens > 0);
  });
  // A refusal of `null` alone changes nothing (the deltas stay on the fast path).
  const plain = TEXT.map((t) => chunk({ content: t, refusal: null }, null)).join('');
  assert.equal(measure('openai.chat', plain).output_tokens, countTextTokens(TEXT.join('')));
});

test('whole answers: a Chat message\'s refusal and a Responses refusal part are counted', () => {
  const chat = new AnswerMeter('openai.chat');
  chat.observeBody({ id: 'chatcmpl-1', choices: [{ index: 0, message: { role: 'assistant', content: null, refusal: REFUSAL.join('') }, finish_reason: 'stop' }] });
  assert.equal(chat.summary('').output_tokens, countTextTokens(REFUSAL.join('')));
  const responses = new AnswerMeter('openai.responses');
  responses.observeBody({
    id: 'resp_1', status: 'completed',
    output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Well. ' }, { type: 'refusal', refusal: REFUSAL.join('') }] }],
  });
  const s = responses.summary('');
  assert.equal(s.output_chars, 'Well. '.length + REFUSAL.join('').length);
  assert.equal(s.output_tokens, countTextTokens('Well. ' + REFUSAL.join('')));
});

test('the closing event of each API closes the meter; a stream cut before it does not', () => {
  const read = (flavour: ApiFlavour, stream: string, usageAsked = false) => {
    const scanned = new AnswerMeter(flavour);
    scanned.usageAsked = usageAsked;
    const sink: SseSink = {
      simple: (c, ds, de, name) => scanned.scanDelta(c, ds, de, name),
      other: (e) => { if (e.data === '[DONE]') scanned.done(); else scanned.observeEvent(JSON.parse(e.data), e.event); return true; },
    };
    new SseScanner().push(Buffer.from(stream), sink);
    return scanned.closed;
  };
  const usage = ev(null, { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 9, completion_tokens: 31, total_tokens: 40 } });
  const text = TEXT.map((t) => chunk({ content: t }, null)).join('');
  assert.equal(read('openai.chat', text + chunk({}, 'stop') + usage + 'data: [DONE]\n\n'), true);
  assert.equal(read('openai.chat', text + chunk({}, 'stop') + usage, true), true, 'finish and usage, when usage was asked for');
  assert.equal(read('openai.chat', text + chunk({}, 'stop') + usage), false, 'finish and usage, not asked for: [DONE] is awaited');
  assert.equal(read('openai.chat', text + chunk({}, 'stop'), true), false, 'the usage chunk is still to come');
  assert.equal(read('openai.chat', text + usage, true), false);
  // n = 2 from a server that reports a running usage on every chunk: the first choice's finish
  // carries a usage too, but the second choice is still streaming.
  const running = { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21 };
  const two = (index: number, delta: object, finish: string | null) => ev(null, {
    id: 'chatcmpl-2', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index, delta, finish_reason: finish }], usage: running,
  });
  const firstDone = two(0, { content: 'A' }, null) + two(1, { content: 'B' }, null) + two(0, {}, 'stop') + two(1, { content: 'more' }, null);
  const readN = (stream: string) => {
    const m = new AnswerMeter('openai.chat');
    m.usageAsked = true; m.expectedChoices = 2;
    const sink: SseSink = { simple: (c, ds, de, name) => m.scanDelta(c, ds, de, name), other: (e) => { m.observeEvent(JSON.parse(e.data), e.event); return true; } };
    new SseScanner().push(Buffer.from(stream), sink);
    return m;
  };
  assert.equal(readN(firstDone).closed, false, 'one of two choices finished: the answer is not whole');
  assert.equal(readN(firstDone).summary('').usage_source, 'tokenizer', 'a running count is not the final one while a choice streams');
  assert.equal(readN(firstDone + two(1, {}, 'stop')).closed, true, 'both finished, with the usage');
  const end = ev('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 23 } });
  assert.equal(read('anthropic.messages', anthropicStart + anthropicText + end), false);
  assert.equal(read('anthropic.messages', anthropicStart + anthropicText + end + ev('message_stop', { type: 'message_stop' })), true);
  const created = ev('response.created', { type: 'response.created', sequence_number: 0, response: { id: 'resp_1' } });
  assert.equal(read('openai.responses', created), false);
  for (const type of ['response.completed', 'response.incomplete', 'response.failed']) {
    assert.equal(read('openai.responses', created + ev(type, { type, sequence_number: 1, response: { id: 'resp_1', status: type.slice(9) } })), true, type);
  }
});

test('Chat reasoning in OpenRouter\'s and LiteLLM\'s spellings is counted once, streamed and not', () => {
  const text = ['Secret step one. ', 'Secret step two.'];
  const env = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm' };
  const chunk = (delta: object) => ev(null, { ...env, choices: [{ index: 0, delta, logprobs: null, finish_reason: null }] });
  const openrouter = text.map((r) => chunk({ role: 'assistant', content: '', reasoning: r, reasoning_details: [{ type: 'reasoning.text', text: r, format: 'unknown', index: 0 }] })).join('');
  const litellm = text.map((r) => chunk({ thinking_blocks: [{ type: 'thinking', thinking: r, signature: 'SIG' }], provider_specific_fields: { thinking_blocks: [{ type: 'thinking', thinking: r, signature: 'SIG' }] } })).join('');
  const answer = chunk({ content: 'Done.' });
  for (const stream of [openrouter, litellm]) {
    const s = measure('openai.chat', stream + answer);
    assert.equal(s.reasoning_chars, text.join('').length);
    assert.equal(s.output_chars, 'Done.'.length);
  }
  const m = new AnswerMeter('openai.chat');
  m.observeBody({ id: 'c', choices: [{ index: 0, message: { role: 'assistant', content: 'Done.', reasoning: text.join(''), reasoning_details: [{ type: 'reasoning.text', text: text.join('') }] }, finish_reason: 'stop' }] });
  assert.equal(m.summary('').reasoning_chars, text.join('').length);
});

test('Chat tool-call arguments count as output the same streamed and not', () => {
  const args = ['{"city":', '"Paris"}'];
  const env = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm' };
  const chunk = (tc: object, finish: string | null = null) => ev(null, { ...env, choices: [{ index: 0, delta: { tool_calls: [tc] }, logprobs: null, finish_reason: finish }] });
  const streamed = measure('openai.chat', chunk({ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } })
    + args.map((a) => chunk({ index: 0, function: { arguments: a } })).join(''));
  const whole = new AnswerMeter('openai.chat');
  whole.observeBody({ id: 'c', choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: args.join('') } }] }, finish_reason: 'tool_calls' }] });
  const s = whole.summary('');
  assert.equal(streamed.output_chars, args.join('').length);
  assert.equal(s.output_chars, streamed.output_chars);
  assert.equal(s.tool_calls, 1);
});

/** Whether the meter, reading `stream` both ways, finds that it showed thinking or reasoning. */
function showsReasoning(flavour: ApiFlavour, stream: string): boolean {
  const scanned = new AnswerMeter(flavour);
  const sink: SseSink = { simple: (c, ds, de, name) => scanned.scanDelta(c, ds, de, name), other: (e) => { try { scanned.observeEvent(JSON.parse(e.data), e.event); } catch { /* [DONE] */ } return true; } };
  const scanner = new SseScanner();
  scanner.push(Buffer.from(stream), sink);
  scanner.flush(sink);
  const parsed = new AnswerMeter(flavour);
  for (const e of new SseParser().push(Buffer.from(stream))) {
    if (parsed.observeDeltaFast(e.data, e.event)) continue;
    try { parsed.observeEvent(JSON.parse(e.data), e.event); } catch { /* [DONE] */ }
  }
  assert.equal(parsed.reasoningShown, scanned.reasoningShown, 'both ways of reading a stream see the same');
  return scanned.reasoningShown;
}

test('reasoning shown: an omitted or summarised thinking block, a Responses reasoning item; not plain text', () => {
  const omitted = ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } })
    + ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'c2ln' } });
  assert.ok(showsReasoning('anthropic.messages', anthropicStart + omitted), 'an Anthropic thinking block with display "omitted" is reasoning');
  const summarised = omitted + ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Summary.' } });
  assert.ok(showsReasoning('anthropic.messages', anthropicStart + summarised), 'summarised thinking is reasoning');
  assert.ok(!showsReasoning('anthropic.messages', anthropicStart + anthropicText), 'plain Anthropic text is not');
  const item = ev('response.output_item.added', { type: 'response.output_item.added', output_index: 0, item: { id: 'rs_1', type: 'reasoning', summary: [] } });
  assert.ok(showsReasoning('openai.responses', item), 'a Responses reasoning item with no summary is reasoning');
  const chat = TEXT.map((t) => ev(null, { id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: t }, finish_reason: null }] })).join('');
  assert.ok(!showsReasoning('openai.chat', chat), 'Chat text is not');
});

test('a stream checkpointed as it goes: the output tokens sent so far rise with it and end near what the summary counts', () => {
  const m = new AnswerMeter('openai.chat');
  const words = 'The tide came in slowly over the flats and the birds rose from the water in a long grey line '.split(' ');
  const seen: number[] = [];
  for (let i = 0; i < 400; i++) {
    m.observeEvent({ id: 'chatcmpl-1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: `${words[i % words.length]} ` }, finish_reason: null }] });
    if (i % 50 === 49) seen.push(m.progress().output_tokens);
  }
  const p = m.progress();
  assert.ok(seen.every((n, i) => i === 0 || n > seen[i - 1]), `each checkpoint counts more than the one before: ${seen.join(', ')}`);
  const total = m.summary('').output_tokens;
  assert.ok(total > 300, `the summary counts the answer (${total})`);
  assert.ok(Math.abs(p.output_tokens - total) <= seen.length + 1, `the checkpoints count what the summary does, within a token a checkpoint (${p.output_tokens} against ${total})`);
  assert.equal(p.input_tokens, null, 'no input count before the upstream gives one');
  assert.ok(p.output_chars > 1000, 'the characters sent');
});

test('the service tier the upstream answered with is recorded (OpenAI flex and priority, Anthropic priority), streamed or not, and none when it gave none', () => {
  const chatTier = (tier: string) => ev(null, { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', service_tier: tier, choices: [{ index: 0, delta: { content: 'Hi' }, finish_reason: null }] })
    + ev(null, { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', service_tier: tier, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })
    + ev(null, { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', service_tier: tier, choices: [], usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 } })
    + 'data: [DONE]\n\n';
  assert.equal(measure('openai.chat', chatTier('flex')).service_tier, 'flex', 'a Chat stream served on flex');
  const start = ev('message_start', { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'claude-sonnet-4-5', stop_reason: null, stop_sequence: null, usage: { input_tokens: 12, output_tokens: 1, service_tier: 'priority' } } });
  assert.equal(measure('anthropic.messages', start + anthropicText).service_tier, 'priority', 'an Anthropic stream on priority');
  const responses = ev('response.completed', { type: 'response.completed', sequence_number: 3, response: { id: 'resp_1', object: 'response', status: 'completed', service_tier: 'priority', output: [], usage: { input_tokens: 5, output_tokens: 2, output_tokens_details: { reasoning_tokens: 0 } } } });
  assert.equal(measure('openai.responses', responses).service_tier, 'priority', 'a Responses stream on priority');
  const body = new AnswerMeter('openai.chat');
  body.observeBody({ id: 'chatcmpl-2', object: 'chat.completion', service_tier: 'default', choices: [{ index: 0, message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } });
  assert.equal(body.summary('').service_tier, 'default', 'a JSON answer on the default tier');
  const anthropicBody = new AnswerMeter('anthropic.messages');
  anthropicBody.observeBody({ id: 'msg_2', type: 'message', content: [{ type: 'text', text: 'Hello' }], stop_reason: 'end_turn', usage: { input_tokens: 3, output_tokens: 1, service_tier: 'standard' } });
  assert.equal(anthropicBody.summary('').service_tier, 'standard', 'an Anthropic JSON answer');
  assert.equal(measure('openai.chat', chunk({ content: 'Hi' }, 'stop')).service_tier, undefined, 'absent when the upstream said none');
});
