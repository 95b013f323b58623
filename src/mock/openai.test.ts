// The official `openai` SDK against the mock over real sockets: Chat Completions, Responses, Models.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { encode as encodeCl100k, decode as decodeCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { createMockUpstream, type MockUpstream } from './index.ts';

const tokens = (s: string) => encode(s, { disallowedSpecial: new Set() }).length;

let mock: MockUpstream;
let client: OpenAI;

before(async () => {
  mock = await createMockUpstream({ port: 0, seed: 7 });
  client = new OpenAI({ baseURL: `${mock.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
});
after(async () => {
  await mock.close();
});

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { location: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, required: ['location'] },
  },
};

/** Raw SSE lines of a request, for checks below the SDK. */
async function rawSse(path: string, body: unknown): Promise<string> {
  const res = await fetch(`${mock.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer x' }, body: JSON.stringify(body) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  return res.text();
}

describe('chat completions', () => {
  test('non-streaming: object shape, ids, usage counted with the real tokenizer', async () => {
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello there' }] });
    assert.match(res.id, /^chatcmpl-[A-Za-z0-9]{29}$/);
    assert.equal(res.object, 'chat.completion');
    assert.equal(res.model, 'gpt-4o-mini');
    assert.match(res.system_fingerprint ?? '', /^fp_[0-9a-f]{10}$/);
    assert.equal(res.choices.length, 1);
    const choice = res.choices[0];
    assert.equal(choice.finish_reason, 'stop');
    assert.equal(choice.message.role, 'assistant');
    assert.equal(choice.message.refusal, null);
    assert.ok((choice.message.content ?? '').length > 0);
    const usage = res.usage!;
    assert.equal(usage.prompt_tokens, tokens('Hello there') + 3 + 3);
    assert.equal(usage.completion_tokens, tokens(choice.message.content!));
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    assert.equal(usage.completion_tokens_details?.reasoning_tokens, 0);
  });

  test('deterministic: same request, same answer; streaming and non-streaming agree', async () => {
    const req = { model: 'gpt-4.1', messages: [{ role: 'user' as const, content: 'Describe a river.' }] };
    const a = await client.chat.completions.create(req);
    const b = await client.chat.completions.create(req);
    assert.equal(a.choices[0].message.content, b.choices[0].message.content);
    const other = await client.chat.completions.create({ ...req, messages: [{ role: 'user', content: 'Describe a mountain.' }] });
    assert.notEqual(other.choices[0].message.content, a.choices[0].message.content);
    const stream = await client.chat.completions.create({ ...req, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(text, a.choices[0].message.content);
  });

  test('a different server seed gives a different answer', async () => {
    const other = await createMockUpstream({ port: 0, seed: 8 });
    try {
      const c2 = new OpenAI({ baseURL: `${other.url}/v1`, apiKey: 'x', maxRetries: 0 });
      const req = { model: 'gpt-4.1', messages: [{ role: 'user' as const, content: 'Describe a river.' }] };
      const [a, b] = await Promise.all([client.chat.completions.create(req), c2.chat.completions.create(req)]);
      assert.notEqual(a.choices[0].message.content, b.choices[0].message.content);
    } finally {
      await other.close();
    }
  });

  test('max_tokens and max_completion_tokens are honoured with finish_reason "length"', async () => {
    const res = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Write a long essay' }], max_tokens: 7 });
    assert.equal(res.choices[0].finish_reason, 'length');
    assert.equal(res.usage!.completion_tokens, 7);
    assert.equal(tokens(res.choices[0].message.content!), 7);
    const res2 = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Write a long essay' }], max_completion_tokens: 5 });
    assert.equal(res2.usage!.completion_tokens, 5);
  });

  test('streaming: every chunk with a choice carries obfuscation padding, unless include_obfuscation is false', async () => {
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Tell me about rivers' }], stream: true, stream_options: { include_usage: true } };
    const chunks = (await rawSse('/v1/chat/completions', body)).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
    const withChoice = chunks.filter((c) => c.choices.length > 0);
    assert.ok(withChoice.length > 3, `chunks: ${withChoice.length}`);
    for (const c of withChoice) {
      assert.equal(typeof c.obfuscation, 'string', `padded: ${JSON.stringify(c)}`);
      assert.match(c.obfuscation, /^[A-Za-z0-9]+$/);
      assert.equal(((c.choices[0].delta.content ?? '').length + c.obfuscation.length) % 16, 0, 'text and padding fill 16 characters');
      assert.deepEqual(Object.keys(c).slice(-2), ['usage', 'obfuscation'], 'after usage, as the API orders them');
    }
    const bare = (await rawSse('/v1/chat/completions', { ...body, stream_options: { include_usage: true, include_obfuscation: false } })).split('\n\n').filter((e) => e.startsWith('data: {'));
    assert.ok(bare.every((e) => !e.includes('"obfuscation"')), 'include_obfuscation: false turns it off');
    const events = (await rawSse('/v1/responses', { model: 'gpt-4o-mini', input: 'Tell me about rivers', stream: true })).split('\n\n').filter((e) => e.includes('data: {')).map((e) => JSON.parse(e.slice(e.indexOf('data: ') + 6)));
    const deltas = events.filter((e) => e.type.endsWith('.delta'));
    assert.ok(deltas.length > 3 && deltas.every((e) => typeof e.obfuscation === 'string' && (e.delta.length + e.obfuscation.length) % 16 === 0), 'Responses delta events are padded');
    assert.ok(events.filter((e) => !e.type.endsWith('.delta')).every((e) => !('obfuscation' in e)), 'other events are not');
  });

  test('streaming: role chunk, content deltas, finish chunk, usage chunk, [DONE]', async () => {
    const raw = await rawSse('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true } });
    const events = raw.split('\n\n').filter((e) => e.length > 0);
    assert.equal(events[events.length - 1], 'data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => {
      assert.ok(e.startsWith('data: '));
      return JSON.parse(e.slice(6));
    });
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id));
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '', refusal: null });
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === null), 'usage: null on every chunk before the last');
    const finish = chunks[chunks.length - 2];
    assert.deepEqual(finish.choices[0].delta, {});
    assert.equal(finish.choices[0].finish_reason, 'stop');
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, []);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(last.usage.completion_tokens, tokens(text));
    assert.equal(last.usage.prompt_tokens, tokens('Hi') + 6);
    // One token per content chunk, like the real API.
    assert.equal(chunks.filter((c) => c.choices[0]?.delta?.content).length, last.usage.completion_tokens);
  });

  test('streaming without include_usage sends no usage', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], stream: true });
    for await (const chunk of stream) assert.equal(chunk.usage, undefined);
  });

  test('n > 1 gives n choices, streamed interleaved', async () => {
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Name a colour' }], n: 3 });
    assert.deepEqual(res.choices.map((c) => c.index), [0, 1, 2]);
    assert.equal(new Set(res.choices.map((c) => c.message.content)).size, 3);
    assert.equal(res.usage!.completion_tokens, res.choices.reduce((s, c) => s + tokens(c.message.content!), 0));
    const stream = client.chat.completions.stream({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Name a colour' }], n: 3 });
    const final = await stream.finalChatCompletion();
    assert.deepEqual(final.choices.map((c) => c.message.content), res.choices.map((c) => c.message.content));
  });

  test('logprobs and top_logprobs', async () => {
    const res = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], logprobs: true, top_logprobs: 3, max_tokens: 12 });
    const content = res.choices[0].logprobs!.content!;
    assert.equal(content.length, 12);
    assert.equal(content.map((t) => t.token).join(''), res.choices[0].message.content);
    for (const t of content) {
      assert.ok(t.logprob <= 0);
      assert.deepEqual(t.bytes, [...Buffer.from(t.token)]);
      assert.equal(t.top_logprobs.length, 3);
      assert.equal(t.top_logprobs[0].token, t.token);
      assert.ok(t.top_logprobs[1].logprob < t.top_logprobs[0].logprob);
    }
    const stream = client.chat.completions.stream({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], logprobs: true, top_logprobs: 3, max_tokens: 12 });
    const final = await stream.finalChatCompletion();
    assert.deepEqual(final.choices[0].logprobs!.content, content);
  });

  test('tool calls: non-streaming and streamed as argument fragments', async () => {
    const req = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'What is the weather in Paris? Use get_weather.' }], tools: [weatherTool] };
    const res = await client.chat.completions.create(req);
    const choice = res.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    const call = choice.message.tool_calls![0];
    assert.match(call.id, /^call_[A-Za-z0-9]{24}$/);
    assert.equal(call.type, 'function');
    assert.ok(call.type === 'function');
    assert.equal(call.function.name, 'get_weather');
    const args = JSON.parse(call.function.arguments);
    assert.equal(typeof args.location, 'string');
    assert.equal(res.usage!.completion_tokens, tokens('get_weather') + tokens(call.function.arguments));

    const raw = await rawSse('/v1/chat/completions', { ...req, stream: true });
    const chunks = raw.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
    const first = chunks[0].choices[0].delta;
    assert.equal(first.role, 'assistant');
    assert.equal(first.content, null);
    assert.equal(first.tool_calls[0].index, 0);
    assert.equal(first.tool_calls[0].function.name, 'get_weather');
    assert.equal(first.tool_calls[0].function.arguments, '');
    const fragments = chunks.slice(1, -1).map((c) => c.choices[0].delta.tool_calls[0].function.arguments);
    assert.ok(fragments.length > 3, 'arguments arrive in several fragments');
    assert.equal(fragments.join(''), call.function.arguments);
    assert.equal(chunks[chunks.length - 1].choices[0].finish_reason, 'tool_calls');

    const stream = client.chat.completions.stream({ ...req });
    const final = await stream.finalChatCompletion();
    const streamed = final.choices[0].message.tool_calls![0];
    assert.ok(streamed.type === 'function');
    assert.equal(streamed.function.arguments, call.function.arguments);
    assert.equal(final.choices[0].finish_reason, 'tool_calls');
  });

  test('no tool call when the prompt does not ask for one, or after a tool result', async () => {
    const plain = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Tell me a joke' }], tools: [weatherTool] });
    assert.equal(plain.choices[0].finish_reason, 'stop');
    const afterTool = await client.chat.completions.create({
      model: 'gpt-4o',
      tools: [weatherTool],
      messages: [
        { role: 'user', content: 'Use get_weather for Paris' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
      ],
    });
    assert.equal(afterTool.choices[0].finish_reason, 'stop');
    assert.ok(afterTool.choices[0].message.content);
    const forced = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }], tools: [weatherTool], tool_choice: 'required' });
    assert.equal(forced.choices[0].finish_reason, 'tool_calls');
  });

  test('reasoning models: hidden reasoning tokens (o-series) and reasoning_content (DeepSeek-style)', async () => {
    const res = await client.chat.completions.create({ model: 'o4-mini', messages: [{ role: 'user', content: 'Prove it' }] });
    const reasoning = res.usage!.completion_tokens_details!.reasoning_tokens!;
    assert.ok(reasoning > 0);
    assert.equal(res.usage!.completion_tokens, reasoning + tokens(res.choices[0].message.content!));
    assert.equal((res.choices[0].message as unknown as Record<string, unknown>).reasoning_content, undefined);
    const low = await client.chat.completions.create({ model: 'o4-mini', messages: [{ role: 'user', content: 'Prove it' }], reasoning_effort: 'low' });
    assert.ok(low.usage!.completion_tokens_details!.reasoning_tokens! < reasoning);

    const ds = await client.chat.completions.create({ model: 'deepseek-reasoner', messages: [{ role: 'user', content: 'Prove it' }] });
    const rc = (ds.choices[0].message as unknown as { reasoning_content: string }).reasoning_content;
    assert.ok(rc.length > 0);
    assert.equal(ds.usage!.completion_tokens_details!.reasoning_tokens, tokens(rc));
    const raw = await rawSse('/v1/chat/completions', { model: 'deepseek-reasoner', messages: [{ role: 'user', content: 'Prove it' }], stream: true });
    const deltas = raw.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)).choices[0].delta);
    assert.equal(deltas.map((d) => d.reasoning_content ?? '').join(''), rc);
    assert.equal(deltas.map((d) => d.content ?? '').join(''), ds.choices[0].message.content);
    const firstContent = deltas.findIndex((d) => d.content);
    const lastReasoning = deltas.findLastIndex((d) => d.reasoning_content);
    assert.ok(lastReasoning < firstContent, 'reasoning streams before the answer');
  });

  test('stop sequences end the answer with finish_reason "stop"', async () => {
    const base = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'stop test' }] });
    const text = base.choices[0].message.content!;
    const stopAt = text.indexOf('.');
    const res = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'stop test' }], stop: ['.'] });
    assert.equal(res.choices[0].message.content, text.slice(0, stopAt));
    assert.equal(res.choices[0].finish_reason, 'stop');
  });

  test('structured outputs: json_schema and json_object answers are JSON', async () => {
    const schema = {
      type: 'object',
      properties: { city: { type: 'string' }, population: { type: 'integer', minimum: 1 }, tags: { type: 'array', items: { type: 'string' } }, size: { type: 'string', enum: ['small', 'large'] } },
      required: ['city', 'population', 'tags', 'size'],
      additionalProperties: false,
    };
    const res = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Describe a city' }],
      response_format: { type: 'json_schema', json_schema: { name: 'city', schema, strict: true } },
    });
    const value = JSON.parse(res.choices[0].message.content!);
    assert.deepEqual(Object.keys(value).sort(), ['city', 'population', 'size', 'tags']);
    assert.ok(Number.isInteger(value.population) && value.population >= 1);
    assert.ok(['small', 'large'].includes(value.size));
    assert.equal(res.usage!.completion_tokens, tokens(res.choices[0].message.content!));
    const obj = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'JSON please' }], response_format: { type: 'json_object' } });
    assert.equal(typeof JSON.parse(obj.choices[0].message.content!).answer, 'string');
    const resp = await client.responses.create({ model: 'gpt-4.1', input: 'Describe a city', text: { format: { type: 'json_schema', name: 'city', schema, strict: true } } });
    assert.deepEqual(Object.keys(JSON.parse(resp.output_text)).sort(), ['city', 'population', 'size', 'tags']);
  });

  test('errors in OpenAI format', async () => {
    await assert.rejects(client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError);
      assert.equal(err.code, 'model_not_found');
      assert.equal(err.type, 'invalid_request_error');
      return true;
    });
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.BadRequestError);
      assert.equal(err.param, 'messages');
      assert.equal(err.code, 'empty_array');
      return true;
    });
    const missing = await fetch(`${mock.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"gpt-4o"}' });
    assert.equal(missing.status, 400);
    assert.deepEqual(await missing.json(), {
      error: { message: "Missing required parameter: 'messages'.", type: 'invalid_request_error', param: 'messages', code: 'missing_required_parameter' },
    });
    const bad = await fetch(`${mock.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": "gpt-4o", ' });
    assert.equal(bad.status, 400);
    const body = (await bad.json()) as { error: Record<string, unknown> };
    assert.match(body.error.message as string, /could not parse the JSON body/);
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    await assert.rejects(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], max_tokens: 0 }), /integer below minimum value/);
  });
});

describe('responses', () => {
  test('non-streaming: reasoning item with summary, message item, usage', async () => {
    const res = await client.responses.create({ model: 'o4-mini', input: 'Explain tides.', reasoning: { effort: 'medium', summary: 'auto' } });
    assert.match(res.id, /^resp_[0-9a-f]{48}$/);
    assert.equal(res.object, 'response');
    assert.equal(res.status, 'completed');
    assert.equal(res.output.length, 2);
    const [reasoning, message] = res.output;
    assert.ok(reasoning.type === 'reasoning');
    assert.match(reasoning.id, /^rs_/);
    assert.equal(reasoning.summary.length, 1);
    assert.equal(reasoning.summary[0].type, 'summary_text');
    assert.match(reasoning.summary[0].text, /^\*\*.+\*\*\n\n/);
    assert.ok(message.type === 'message');
    assert.match(message.id, /^msg_/);
    assert.equal(message.status, 'completed');
    const part = message.content[0];
    assert.ok(part.type === 'output_text');
    assert.equal(res.output_text, part.text);
    const usage = res.usage!;
    assert.equal(usage.input_tokens, tokens('Explain tides.') + 6);
    assert.ok(usage.output_tokens_details.reasoning_tokens > 0);
    assert.equal(usage.output_tokens, usage.output_tokens_details.reasoning_tokens + tokens(part.text));
    assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
  });

  test('non-reasoning model: message only; no summary unless asked', async () => {
    const res = await client.responses.create({ model: 'gpt-4.1', input: [{ role: 'user', content: 'Hello' }], instructions: 'Be brief.' });
    assert.deepEqual(res.output.map((o) => o.type), ['message']);
    assert.equal(res.instructions, 'Be brief.');
    assert.equal(res.usage!.input_tokens, tokens('Be brief.\nHello') + 9);
    const r2 = await client.responses.create({ model: 'o3', input: 'Hello' });
    assert.ok(r2.output[0].type === 'reasoning' && r2.output[0].summary.length === 0);
  });

  test('streaming: semantic events in order, sequence numbers, final response matches', async () => {
    const raw = await rawSse('/v1/responses', { model: 'o4-mini', input: 'Explain tides.', reasoning: { summary: 'auto' }, stream: true });
    const events = raw.split('\n\n').filter((e) => e.length > 0).map((e) => {
      const [eventLine, dataLine] = e.split('\n');
      assert.ok(eventLine.startsWith('event: ') && dataLine.startsWith('data: '), e.slice(0, 80));
      const data = JSON.parse(dataLine.slice(6));
      assert.equal(data.type, eventLine.slice(7));
      return data;
    });
    assert.deepEqual(events.map((e) => e.sequence_number), events.map((_, i) => i));
    const types = events.map((e) => e.type);
    const collapsed = types.filter((t, i) => t !== types[i - 1]);
    assert.deepEqual(collapsed, [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    assert.equal(events[0].response.status, 'in_progress');
    const completed = events[events.length - 1].response;
    const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
    assert.equal(completed.output[1].content[0].text, text);
    assert.equal(completed.usage.output_tokens, completed.usage.output_tokens_details.reasoning_tokens + tokens(text));

    const nonStream = await client.responses.create({ model: 'o4-mini', input: 'Explain tides.', reasoning: { summary: 'auto' } });
    assert.equal(nonStream.output_text, text);
    const stream = client.responses.stream({ model: 'o4-mini', input: 'Explain tides.', reasoning: { summary: 'auto' } });
    let deltas = '';
    stream.on('response.output_text.delta', (e) => (deltas += e.delta));
    const final = await stream.finalResponse();
    assert.equal(final.output_text, text);
    assert.equal(deltas, text);
  });

  test('function calls, non-streaming and streaming', async () => {
    const tools = [{ type: 'function' as const, name: 'get_weather', strict: true, parameters: weatherTool.function.parameters }];
    const res = await client.responses.create({ model: 'gpt-4.1', input: 'Call get_weather for Lima', tools });
    assert.equal(res.output.length, 1);
    const call = res.output[0];
    assert.ok(call.type === 'function_call');
    assert.match(call.call_id, /^call_/);
    assert.match(call.id!, /^fc_/);
    assert.equal(call.name, 'get_weather');
    assert.equal(typeof JSON.parse(call.arguments).location, 'string');
    const stream = client.responses.stream({ model: 'gpt-4.1', input: 'Call get_weather for Lima', tools });
    const seen: string[] = [];
    stream.on('response.function_call_arguments.delta', (e) => seen.push(e.delta));
    const final = await stream.finalResponse();
    const streamed = final.output[0];
    assert.ok(streamed.type === 'function_call');
    assert.equal(streamed.arguments, call.arguments);
    assert.ok(seen.length > 3);
    assert.equal(seen.join(''), call.arguments);
  });

  test('max_output_tokens gives status "incomplete"', async () => {
    const res = await client.responses.create({ model: 'gpt-4.1', input: 'Write a lot', max_output_tokens: 16 });
    assert.equal(res.status, 'incomplete');
    assert.deepEqual(res.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(res.usage!.output_tokens, 16);
    const stream = client.responses.stream({ model: 'gpt-4.1', input: 'Write a lot', max_output_tokens: 16 });
    const final = await stream.finalResponse();
    assert.equal(final.status, 'incomplete');
    assert.equal(final.output_text, res.output_text);
    await assert.rejects(client.responses.create({ model: 'gpt-4.1', input: 'x', max_output_tokens: 4 }), /Expected a value >= 16/);
  });

  test('logprobs and encrypted reasoning when included', async () => {
    const res = await client.responses.create({
      model: 'o3',
      input: 'Hi',
      include: ['message.output_text.logprobs', 'reasoning.encrypted_content'],
      top_logprobs: 2,
    });
    const reasoning = res.output[0];
    assert.ok(reasoning.type === 'reasoning' && typeof reasoning.encrypted_content === 'string' && reasoning.encrypted_content.length > 100);
    const message = res.output[1];
    assert.ok(message.type === 'message' && message.content[0].type === 'output_text');
    const part = message.content[0];
    assert.ok(part.type === 'output_text');
    assert.equal(part.logprobs!.map((l) => l.token).join(''), part.text);
  });

  test('stored responses: kept by default and read back; `store: false` ones are not, and cannot be continued', async () => {
    const kept = await client.responses.create({ model: 'gpt-4.1', input: 'Keep this one.' });
    assert.equal((kept as any).store, true);
    assert.equal((await client.responses.retrieve(kept.id)).id, kept.id, 'a stored response is read back');
    const notFound = async (id: string) => {
      const res = await fetch(`${mock.url}/v1/responses/${id}`, { headers: { authorization: 'Bearer x' } });
      return { status: res.status, body: (await res.json()) as any };
    };
    for (const stream of [false, true]) {
      let id: string;
      if (stream) {
        const s = client.responses.stream({ model: 'gpt-4.1', input: 'Do not keep this one.', store: false });
        const final = await s.finalResponse();
        assert.equal((final as any).store, false);
        id = final.id;
      } else {
        const unstored = await client.responses.create({ model: 'gpt-4.1', input: 'Do not keep this one.', store: false });
        assert.equal((unstored as any).store, false);
        id = unstored.id;
      }
      const got = await notFound(id);
      assert.equal(got.status, 404, `an unstored response (stream: ${stream}) cannot be read back`);
      assert.deepEqual(got.body.error, { message: `Response with id '${id}' not found.`, type: 'invalid_request_error', param: null, code: null });
      assert.equal((await fetch(`${mock.url}/v1/responses/${id}/input_items`, { headers: { authorization: 'Bearer x' } })).status, 404);
      // Continuing it is refused as the API refuses it.
      const cont = await fetch(`${mock.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer x' }, body: JSON.stringify({ model: 'gpt-4.1', input: 'And then?', previous_response_id: id }) });
      assert.equal(cont.status, 400, 'an unstored response cannot be continued');
      assert.deepEqual(((await cont.json()) as any).error, { message: `Previous response with id '${id}' not found.`, type: 'invalid_request_error', param: 'previous_response_id', code: 'previous_response_not_found' });
    }
    const next = await client.responses.create({ model: 'gpt-4.1', input: 'And then?', previous_response_id: kept.id });
    assert.equal(next.previous_response_id, kept.id, 'a stored response can be continued');
  });

  test('previous_response_id: the earlier turns count as input, as if the whole conversation were sent again', async () => {
    const model = 'o4-mini';
    const reasoning = { effort: 'low' as const, summary: 'auto' as const };
    const first = await client.responses.create({ model, reasoning, input: 'Name three rivers in Europe.' });
    const second = await client.responses.create({ model, reasoning, input: 'Which is longest?', previous_response_id: first.id });
    const resent = await client.responses.create({
      model, reasoning, store: false,
      input: [{ role: 'user', content: 'Name three rivers in Europe.' }, ...(first.output as any[]), { role: 'user', content: 'Which is longest?' }],
    });
    const alone = await client.responses.create({ model, reasoning, store: false, input: 'Which is longest?' });
    assert.ok(second.usage!.input_tokens > alone.usage!.input_tokens, `the chain adds to the new input: ${second.usage!.input_tokens} vs ${alone.usage!.input_tokens}`);
    assert.equal(second.usage!.input_tokens, resent.usage!.input_tokens, 'continuing counts what resending the conversation counts');
    assert.equal(second.usage!.total_tokens, second.usage!.input_tokens + second.usage!.output_tokens);

    // A third turn carries both earlier turns; streamed, the final usage says the same.
    const third = await client.responses.stream({ model, reasoning, input: 'And the shortest?', previous_response_id: second.id }).finalResponse();
    const resentAll = await client.responses.create({
      model, reasoning, store: false,
      input: [
        { role: 'user', content: 'Name three rivers in Europe.' }, ...(first.output as any[]),
        { role: 'user', content: 'Which is longest?' }, ...(second.output as any[]),
        { role: 'user', content: 'And the shortest?' },
      ],
    });
    assert.equal(third.usage!.input_tokens, resentAll.usage!.input_tokens, 'a chain of three counts all three turns');

    const counted = await fetch(`${mock.url}/v1/responses/input_tokens`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer x' },
      body: JSON.stringify({ model, input: 'And the shortest?', previous_response_id: second.id }),
    });
    assert.equal(((await counted.json()) as any).input_tokens, third.usage!.input_tokens, 'input_tokens counts the chain too');
  });

  test('usage details carry every key the SDK types declare', async () => {
    const res = await client.responses.create({ model: 'gpt-4.1', input: 'Hello' });
    assert.deepEqual(Object.keys(res.usage!.input_tokens_details).sort(), ['cache_write_tokens', 'cached_tokens']);
    assert.equal(res.usage!.input_tokens_details.cache_write_tokens, 0);
    assert.deepEqual(Object.keys(res.usage!.output_tokens_details), ['reasoning_tokens']);
  });
});

describe('models', () => {
  test('list and retrieve in OpenAI format', async () => {
    const page = await client.models.list();
    const ids = page.data.map((m) => m.id);
    assert.ok(ids.includes('gpt-4o-mini') && ids.includes('claude-sonnet-5'));
    for (const m of page.data) assert.equal(m.object, 'model');
    const one = await client.models.retrieve('gpt-4.1');
    assert.equal(one.id, 'gpt-4.1');
    await assert.rejects(client.models.retrieve('no-such-model'), (err: unknown) => err instanceof OpenAI.NotFoundError);
  });
});

describe('legacy completions', () => {
  test('prompts as text or token ids; legacy logprobs with echo; usage counted with the real tokenizer; 16 tokens by default', async () => {
    const res = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Once upon a time', logprobs: 3, echo: true });
    assert.equal(res.object, 'text_completion');
    assert.match(res.id, /^cmpl-[A-Za-z0-9]{29}$/);
    const c = res.choices[0];
    assert.ok(c.text.startsWith('Once upon a time'));
    const lp = c.logprobs!;
    assert.equal(lp.tokens!.join(''), c.text, 'the tokens spell the text, the echoed prompt first');
    assert.equal(lp.token_logprobs![0], null, 'the first prompt token has no log-probability');
    assert.equal(lp.text_offset![1], lp.tokens![0].length);
    assert.deepEqual(lp.top_logprobs!.slice(1).map((t) => Object.keys(t ?? {}).length), lp.tokens!.slice(1).map(() => 3), 'three alternatives per token, keyed by token');
    assert.equal(res.usage!.prompt_tokens, tokens('Once upon a time'));
    assert.equal(res.usage!.completion_tokens, 16);
    assert.equal(c.finish_reason, 'length');
    const ids = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: [[7454, 2402], [7454]], max_tokens: 3 });
    assert.deepEqual(ids.choices.map((x) => x.index), [0, 1]);
    assert.equal(ids.usage!.prompt_tokens, 3);
  });

  test('streamed: text chunks, a finish chunk, usage when asked, [DONE]; refusals as the API words them', async () => {
    const sse = await rawSse('/v1/completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi', max_tokens: 4, stream: true, stream_options: { include_usage: true } });
    const events = sse.trim().split('\n\n');
    assert.equal(events.at(-1), 'data: [DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)));
    assert.ok(chunks.every((x) => x.object === 'text_completion'));
    assert.equal(chunks.at(-1).usage.completion_tokens, 4);
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'length');
    assert.notEqual(chunks.slice(0, -2).map((x) => x.choices[0].text).join(''), '');
    await assert.rejects(client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', n: 3, best_of: 2 }), /best_of must be greater than or equal to n/);
    await assert.rejects(client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', best_of: 3, stream: true }), /Cannot stream results with best_of greater than n/);
    await assert.rejects(client.completions.create({ model: 'gpt-3.5-turbo-instruct' } as never), /Missing required parameter: 'prompt'/);
    await assert.rejects(client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'x', logit_bias: { x: 1 } as never }), /logit_bias/);
  });
});

describe('embeddings', () => {
  test('unit vectors, the same for the same text, closer for shared words; base64 as the SDK asks; dimensions; usage', async () => {
    const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['red apples and pears', 'green apples and pears', 'the stock market fell'] });
    const [a, b, c] = res.data.map((d) => d.embedding);
    const dot = (x: number[], y: number[]) => x.reduce((s, v, i) => s + v * y[i], 0);
    assert.equal(a.length, 1536);
    assert.ok(Math.abs(dot(a, a) - 1) < 1e-5, 'unit length');
    assert.ok(dot(a, b) > 0.5 && dot(a, c) < 0.3, `shared words: ${dot(a, b)}, none: ${dot(a, c)}`);
    // Embedding models count (and read token ids) with cl100k_base, not the chat models' o200k_base.
    const cl = (t: string) => encodeCl100k(t).length;
    assert.equal(res.usage.prompt_tokens, cl('red apples and pears') + cl('green apples and pears') + cl('the stock market fell'));
    const asIds = await client.embeddings.create({ model: 'text-embedding-3-small', input: [encodeCl100k('red apples and pears')], encoding_format: 'float' });
    assert.ok(Math.abs(dot(asIds.data[0].embedding, a) - 1) < 1e-5, 'token ids read as cl100k_base: the same text, the same vector');
    assert.equal(decodeCl100k(encodeCl100k('red apples and pears')), 'red apples and pears');
    await assert.rejects(client.embeddings.create({ model: 'text-embedding-3-small', input: [[150_000]] }), /'\$\.input' is invalid/);
    const again = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'red apples and pears', encoding_format: 'float' });
    assert.ok(Math.abs(dot(again.data[0].embedding, a) - 1) < 1e-5, 'deterministic; floats and base64 agree');
    const short = await client.embeddings.create({ model: 'text-embedding-3-large', input: [[7454, 2402]], dimensions: 64 });
    assert.equal(short.data[0].embedding.length, 64);
    await assert.rejects(client.embeddings.create({ model: 'text-embedding-ada-002', input: 'x', dimensions: 64 }), /does not support specifying dimensions/);
    await assert.rejects(client.embeddings.create({ model: 'text-embedding-3-small', input: '' }), /'\$\.input' is invalid/);
    await assert.rejects(client.embeddings.create({ model: 'text-embedding-3-small', input: 'x', dimensions: 5000 }), /dimensions/);
  });
});

describe('streamed images and speech', () => {
  const post = (path: string, body: unknown) => fetch(`${mock.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer x' }, body: JSON.stringify(body) });

  test('the GPT image models stream drafts then each image; DALL-E and a bad partial_images are refused', async () => {
    const events: any[] = [];
    for await (const ev of await client.images.generate({ model: 'gpt-image-1', prompt: 'A quiet lake', stream: true, partial_images: 3 })) events.push(ev);
    assert.deepEqual(events.map((e) => e.type), [...Array(3).fill('image_generation.partial_image'), 'image_generation.completed']);
    assert.deepEqual(events.slice(0, 3).map((e) => e.partial_image_index), [0, 1, 2]);
    const done = events[3];
    assert.equal(done.usage.output_tokens, 1056);
    assert.equal(done.usage.total_tokens, done.usage.input_tokens + done.usage.output_tokens);
    const whole = await client.images.generate({ model: 'gpt-image-1', prompt: 'A quiet lake' });
    assert.equal(done.b64_json, whole.data![0].b64_json, 'the finished image is the one a whole answer gives');
    const dalle = await post('/v1/images/generations', { model: 'dall-e-3', prompt: 'x', stream: true });
    assert.equal(dalle.status, 400);
    assert.equal(((await dalle.json()) as any).error.param, 'stream');
    const tooMany = await post('/v1/images/generations', { model: 'gpt-image-1', prompt: 'x', stream: true, partial_images: 4 });
    assert.equal(tooMany.status, 400);
  });

  test('speech with stream_format "sse" sends the same audio as events, then its usage; tts-1 cannot', async () => {
    const body = { model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'Read this sentence aloud for the test, slowly.', response_format: 'wav' };
    const whole = Buffer.from(await (await post('/v1/audio/speech', body)).arrayBuffer());
    const res = await post('/v1/audio/speech', { ...body, stream_format: 'sse' });
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = (await res.text()).split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => JSON.parse(e.slice(6)));
    const audio = Buffer.concat(events.filter((e) => e.type === 'speech.audio.delta').map((e) => Buffer.from(e.audio, 'base64')));
    assert.ok(audio.equals(whole), 'the pieces are the file');
    const done = events.at(-1);
    assert.equal(done.type, 'speech.audio.done');
    assert.equal(done.usage.input_tokens, tokens(body.input));
    assert.ok(done.usage.output_tokens > 0);
    for (const model of ['tts-1', 'tts-1-hd']) {
      const refused = await post('/v1/audio/speech', { ...body, model, stream_format: 'sse' });
      assert.ok(refused.status === 400 || refused.status === 404, `${model}: ${refused.status}`);
    }
  });
});
