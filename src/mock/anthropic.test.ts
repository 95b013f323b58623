// The official `@anthropic-ai/sdk` against the mock over real sockets: Messages, thinking, tool use, streaming.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { encode } from 'gpt-tokenizer/encoding/o200k_base';
import { createMockUpstream, type MockUpstream } from './index.ts';

const tokens = (s: string) => encode(s, { disallowedSpecial: new Set() }).length;
const MODEL = 'claude-sonnet-5';

let mock: MockUpstream;
let client: Anthropic;

before(async () => {
  mock = await createMockUpstream({ port: 0 });
  client = new Anthropic({ baseURL: mock.url, apiKey: 'sk-ant-test', maxRetries: 0 });
});
after(async () => {
  await mock.close();
});

const weatherTool = {
  name: 'get_weather',
  description: 'Current weather for a city',
  input_schema: { type: 'object' as const, properties: { location: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, required: ['location'] },
};

interface SseEvent {
  event: string;
  data: Record<string, any>;
}

async function rawEvents(body: unknown, headers: Record<string, string> = {}): Promise<SseEvent[]> {
  const res = await fetch(`${mock.url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'k', ...headers },
    body: JSON.stringify({ ...(body as object), stream: true }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((e) => e.length > 0)
    .map((e) => {
      const [eventLine, dataLine] = e.split('\n');
      assert.ok(eventLine.startsWith('event: ') && dataLine.startsWith('data: '), e.slice(0, 80));
      return { event: eventLine.slice(7), data: JSON.parse(dataLine.slice(6)) };
    });
}

describe('messages', () => {
  test('rate-limit headers as the API sends them: limit, remaining and an RFC 3339 reset for requests, input, output and all tokens', async () => {
    const { response } = await client.messages.create({ model: MODEL, max_tokens: 20, messages: [{ role: 'user', content: 'Hello' }] }).withResponse();
    for (const meter of ['requests', 'tokens', 'input-tokens', 'output-tokens']) {
      const limit = Number(response.headers.get(`anthropic-ratelimit-${meter}-limit`));
      const remaining = Number(response.headers.get(`anthropic-ratelimit-${meter}-remaining`));
      const reset = response.headers.get(`anthropic-ratelimit-${meter}-reset`) ?? '';
      assert.ok(limit > 0 && remaining >= 0 && remaining <= limit, `${meter}: limit ${limit}, remaining ${remaining}`);
      assert.match(reset, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/, `${meter} reset: ${reset}`);
      assert.ok(Date.parse(reset) >= Date.now() - 2000, `${meter} reset is now or later: ${reset}`);
    }
  });

  test('non-streaming text message: shape, ids, usage counted with the real tokenizer', async () => {
    const msg = await client.messages.create({ model: MODEL, max_tokens: 1024, system: 'Be kind.', messages: [{ role: 'user', content: 'Hello' }] });
    assert.match(msg.id, /^msg_01[A-Za-z0-9]{22}$/);
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    assert.equal(msg.model, MODEL);
    assert.equal(msg.stop_reason, 'end_turn');
    assert.equal(msg.stop_sequence, null);
    assert.equal(msg.content.length, 1);
    const block = msg.content[0];
    assert.ok(block.type === 'text');
    assert.equal(msg.usage.input_tokens, tokens('Be kind.\nHello') + 3 + 3);
    assert.equal(msg.usage.output_tokens, tokens(block.text));
    assert.equal(msg.usage.cache_read_input_tokens, 0);
  });

  test('deterministic, and streaming agrees with non-streaming', async () => {
    const req = { model: MODEL, max_tokens: 512, messages: [{ role: 'user' as const, content: 'Tell me about bridges' }] };
    const a = await client.messages.create(req);
    const b = await client.messages.create(req);
    assert.deepEqual(a.content, b.content);
    const stream = client.messages.stream(req);
    let text = '';
    stream.on('text', (delta) => (text += delta));
    const final = await stream.finalMessage();
    assert.deepEqual(final.content.map((c) => c.type), ['text']);
    const block = a.content[0];
    assert.ok(block.type === 'text');
    assert.equal(text, block.text);
    assert.equal(final.usage.output_tokens, a.usage.output_tokens);
    assert.equal(final.usage.input_tokens, a.usage.input_tokens);
  });

  test('max_tokens honoured with stop_reason "max_tokens"', async () => {
    const msg = await client.messages.create({ model: MODEL, max_tokens: 6, messages: [{ role: 'user', content: 'Write an essay' }] });
    assert.equal(msg.stop_reason, 'max_tokens');
    assert.equal(msg.usage.output_tokens, 6);
    const block = msg.content[0];
    assert.ok(block.type === 'text');
    assert.equal(tokens(block.text), 6);
  });

  test('stop_sequences give stop_reason "stop_sequence"', async () => {
    const full = await client.messages.create({ model: MODEL, max_tokens: 512, messages: [{ role: 'user', content: 'stops' }] });
    const text = (full.content[0] as Anthropic.TextBlock).text;
    const msg = await client.messages.create({ model: MODEL, max_tokens: 512, messages: [{ role: 'user', content: 'stops' }], stop_sequences: ['.'] });
    assert.equal(msg.stop_reason, 'stop_sequence');
    assert.equal(msg.stop_sequence, '.');
    assert.equal((msg.content[0] as Anthropic.TextBlock).text, text.slice(0, text.indexOf('.')));
  });

  test('extended thinking: thinking block with signature, then text; thinking tokens in usage', async () => {
    const msg = await client.messages.create({
      model: MODEL,
      max_tokens: 4096,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [{ role: 'user', content: 'Why is the sky blue?' }],
    });
    assert.deepEqual(msg.content.map((c) => c.type), ['thinking', 'text']);
    const [thinking, text] = msg.content;
    assert.ok(thinking.type === 'thinking' && text.type === 'text');
    assert.ok(thinking.thinking.length > 0);
    assert.match(thinking.signature, /^[A-Za-z0-9+/]+=*$/);
    assert.ok(thinking.signature.length > 100);
    assert.equal(msg.usage.output_tokens, tokens(thinking.thinking) + tokens(text.text));
    assert.equal(msg.usage.output_tokens_details?.thinking_tokens, tokens(thinking.thinking));
    // The answer does not depend on whether thinking was requested.
    const plain = await client.messages.create({ model: MODEL, max_tokens: 4096, messages: [{ role: 'user', content: 'Why is the sky blue?' }] });
    assert.equal((plain.content[0] as Anthropic.TextBlock).text, text.text);
  });

  test('thinking with display "omitted" returns an empty thinking text but a signature', async () => {
    const msg = await client.messages.create({
      model: MODEL,
      max_tokens: 4096,
      thinking: { type: 'enabled', budget_tokens: 2048, display: 'omitted' },
      messages: [{ role: 'user', content: 'Why is the sky blue?' }],
    });
    const thinking = msg.content[0];
    assert.ok(thinking.type === 'thinking');
    assert.equal(thinking.thinking, '');
    assert.ok(thinking.signature.length > 0);
    assert.ok((msg.usage.output_tokens_details?.thinking_tokens ?? 0) > 0);
  });

  test('thinking stream: exact event sequence and deltas', async () => {
    const events = await rawEvents({ model: MODEL, max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'Why is the sky blue?' }] });
    const names = events.map((e) => (e.event === 'content_block_delta' ? `delta:${e.data.delta.type}` : e.event));
    const collapsed = names.filter((n, i) => n !== names[i - 1]);
    assert.deepEqual(collapsed, [
      'message_start',
      'content_block_start',
      'ping',
      'delta:thinking_delta',
      'delta:signature_delta',
      'content_block_stop',
      'content_block_start',
      'delta:text_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    for (const e of events) assert.equal(e.data.type, e.event);
    const start = events[0].data.message;
    assert.deepEqual(start.content, []);
    assert.equal(start.stop_reason, null);
    assert.ok(start.usage.input_tokens > 0);
    assert.deepEqual(events[1].data.content_block, { type: 'thinking', thinking: '', signature: '' });
    const delta = events[events.length - 2].data;
    assert.equal(delta.delta.stop_reason, 'end_turn');
    const thinking = events.filter((e) => e.data.delta?.type === 'thinking_delta').map((e) => e.data.delta.thinking).join('');
    const text = events.filter((e) => e.data.delta?.type === 'text_delta').map((e) => e.data.delta.text).join('');
    assert.equal(delta.usage.output_tokens, tokens(thinking) + tokens(text));
  });

  test('tool use: text, then tool_use block, stop_reason "tool_use"; streamed with input_json_delta', async () => {
    const req = { model: MODEL, max_tokens: 1024, tools: [weatherTool], messages: [{ role: 'user' as const, content: "What's the weather in Tokyo? Use the tool." }] };
    const msg = await client.messages.create(req);
    assert.equal(msg.stop_reason, 'tool_use');
    assert.deepEqual(msg.content.map((c) => c.type), ['text', 'tool_use']);
    const use = msg.content[1];
    assert.ok(use.type === 'tool_use');
    assert.match(use.id, /^toolu_01[A-Za-z0-9]{22}$/);
    assert.equal(use.name, 'get_weather');
    assert.equal(typeof (use.input as { location: unknown }).location, 'string');
    const text = (msg.content[0] as Anthropic.TextBlock).text;
    assert.equal(msg.usage.output_tokens, tokens(text) + tokens('get_weather') + tokens(JSON.stringify(use.input)));

    const events = await rawEvents(req);
    const toolStart = events.find((e) => e.event === 'content_block_start' && e.data.content_block.type === 'tool_use')!;
    assert.deepEqual(toolStart.data.content_block, { type: 'tool_use', id: toolStart.data.content_block.id, caller: { type: 'direct' }, name: 'get_weather', input: {} });
    const partials = events.filter((e) => e.data.delta?.type === 'input_json_delta').map((e) => e.data.delta.partial_json);
    assert.equal(partials[0], '');
    assert.ok(partials.length > 3);
    assert.deepEqual(JSON.parse(partials.join('')), use.input);
    assert.equal(events.find((e) => e.event === 'message_delta')!.data.delta.stop_reason, 'tool_use');

    const stream = client.messages.stream(req);
    const jsonSnapshots: unknown[] = [];
    stream.on('inputJson', (_partial, snapshot) => jsonSnapshots.push(snapshot));
    const final = await stream.finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    const streamedUse = final.content[1];
    assert.ok(streamedUse.type === 'tool_use');
    assert.deepEqual(streamedUse.input, use.input);
    assert.ok(jsonSnapshots.length > 0);
  });

  test('thinking and tool use together, streamed through the SDK helper', async () => {
    const stream = client.messages.stream({
      model: MODEL,
      max_tokens: 4096,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      tools: [weatherTool],
      messages: [{ role: 'user', content: 'Check get_weather for Seoul' }],
    });
    let thinkingText = '';
    stream.on('thinking', (delta) => (thinkingText += delta));
    const final = await stream.finalMessage();
    assert.deepEqual(final.content.map((c) => c.type), ['thinking', 'text', 'tool_use']);
    const thinking = final.content[0];
    assert.ok(thinking.type === 'thinking');
    assert.equal(thinking.thinking, thinkingText);
    assert.ok(thinking.signature.length > 100);
    assert.equal(final.stop_reason, 'tool_use');
    assert.equal(final.usage.output_tokens_details?.thinking_tokens, tokens(thinkingText));
  });

  test('thinking blocks sent back in a tool-use loop are verified: unchanged ones pass, modified or unsigned ones get 400', async () => {
    const thinkingOn = { type: 'enabled' as const, budget_tokens: 1024 };
    const first = await client.messages.create({ model: MODEL, max_tokens: 4096, thinking: thinkingOn, tools: [weatherTool], messages: [{ role: 'user', content: 'Check get_weather for Seoul' }] });
    const use = first.content.find((b) => b.type === 'tool_use')!;
    assert.ok(use.type === 'tool_use');
    const loop = (assistant: unknown[]) => ({
      model: MODEL, max_tokens: 4096, thinking: thinkingOn, tools: [weatherTool],
      messages: [
        { role: 'user', content: 'Check get_weather for Seoul' },
        { role: 'assistant', content: assistant },
        // Answers the call of the turn handed back (each answer's call has its own id).
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: (assistant.find((b) => (b as { type: string }).type === 'tool_use') as { id: string } | undefined)?.id ?? use.id, content: '18 degrees' }] },
      ],
    });
    const post = async (body: unknown) => {
      const res = await fetch(`${mock.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as any };
    };
    const ok = await post(loop(first.content));
    assert.equal(ok.status, 200, `the blocks exactly as returned are accepted: ${JSON.stringify(ok.body).slice(0, 300)}`);
    const [thinking, ...rest] = first.content;
    assert.ok(thinking.type === 'thinking');
    const edited = await post(loop([{ ...thinking, thinking: thinking.thinking + ' And one more thought.' }, ...rest]));
    assert.equal(edited.status, 400, 'edited thinking text is refused');
    assert.deepEqual(edited.body.error, { type: 'invalid_request_error', message: 'messages.1.content.0: Invalid `signature` in `thinking` block' });
    assert.equal(edited.body.type, 'error');
    const flipped = thinking.signature.slice(0, 40) + (thinking.signature[40] === 'A' ? 'B' : 'A') + thinking.signature.slice(41);
    assert.equal((await post(loop([{ ...thinking, signature: flipped }, ...rest]))).status, 400, 'a changed signature is refused');
    assert.equal((await post(loop([{ ...thinking, signature: 'c2lnbmF0dXJl' }, ...rest]))).status, 400, 'a made-up signature is refused');
    const unsigned = await post(loop([{ type: 'thinking', thinking: thinking.thinking }, ...rest]));
    assert.equal(unsigned.status, 400);
    assert.equal(unsigned.body.error.message, 'messages.1.content.0.thinking.signature: Field required');
    // A signature from another deployment (another key) does not verify here.
    const other = await createMockUpstream({ port: 0, seed: 99 });
    try {
      const foreign = await new Anthropic({ baseURL: other.url, apiKey: 'x', maxRetries: 0 }).messages.create({ model: MODEL, max_tokens: 4096, thinking: thinkingOn, tools: [weatherTool], messages: [{ role: 'user', content: 'Check get_weather for Seoul' }] });
      assert.equal((await post(loop(foreign.content))).status, 400, 'another server\'s signature is refused');
    } finally {
      await other.close();
    }
    // Omitted thinking comes back with its empty text and still verifies; streamed signatures verify too.
    const omitted = await client.messages.create({ model: MODEL, max_tokens: 4096, thinking: { ...thinkingOn, display: 'omitted' }, tools: [weatherTool], messages: [{ role: 'user', content: 'Check get_weather for Seoul' }] });
    assert.equal((await post(loop(omitted.content))).status, 200, 'omitted thinking sent back unchanged is accepted');
    const streamed = await client.messages.stream({ model: MODEL, max_tokens: 4096, thinking: thinkingOn, tools: [weatherTool], messages: [{ role: 'user', content: 'Check get_weather for Seoul' }] }).finalMessage();
    assert.equal((await post(loop(streamed.content))).status, 200, 'a streamed thinking block sent back is accepted');
  });

  test('redacted thinking: the documented trigger string gives a redacted_thinking block whose data is verified when sent back', async () => {
    const trigger = 'ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_46C9A13E193C177646C7398A98432ECCCE4C1253D5E2D82641AC0E52CC2876CB';
    const ask = { model: MODEL, max_tokens: 4096, thinking: { type: 'enabled' as const, budget_tokens: 1024 }, messages: [{ role: 'user' as const, content: trigger }] };
    const first = await client.messages.create(ask);
    const redacted = first.content.find((b) => b.type === 'redacted_thinking');
    assert.ok(redacted && redacted.type === 'redacted_thinking', `content: ${first.content.map((b) => b.type).join()}`);
    assert.match(redacted.data, /^[A-Za-z0-9+/]+=*$/);
    const next = (assistant: unknown[]) => fetch(`${mock.url}/v1/messages`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ ...ask, messages: [...ask.messages, { role: 'assistant', content: assistant }, { role: 'user', content: 'Go on.' }] }),
    });
    assert.equal((await next(first.content)).status, 200);
    const idx = first.content.indexOf(redacted);
    const tampered = first.content.map((b, i) => (i === idx ? { type: 'redacted_thinking', data: 'QUJD' + redacted.data.slice(4) } : b));
    const res = await next(tampered);
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as any).error.message, `messages.1.content.${idx}: Invalid \`data\` in \`redacted_thinking\` block`);
  });

  test('after a tool_result the model answers in text', async () => {
    const msg = await client.messages.create({
      model: MODEL,
      max_tokens: 1024,
      tools: [weatherTool],
      messages: [
        { role: 'user', content: 'Use get_weather for Lima' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01x', name: 'get_weather', input: { location: 'Lima' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01x', content: '21 degrees' }] },
      ],
    });
    assert.equal(msg.stop_reason, 'end_turn');
    assert.deepEqual(msg.content.map((c) => c.type), ['text']);
  });

  test('structured output (output_config.format) answers with JSON matching the schema', async () => {
    const msg = await client.messages.create({
      model: MODEL,
      max_tokens: 1024,
      messages: [{ role: 'user', content: 'Give me a person' }],
      output_config: { format: { type: 'json_schema', schema: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0, maximum: 120 } }, required: ['name', 'age'] } } },
    });
    const block = msg.content[0];
    assert.ok(block.type === 'text');
    const value = JSON.parse(block.text);
    assert.equal(typeof value.name, 'string');
    assert.ok(value.age >= 0 && value.age <= 120);
    assert.equal(msg.usage.output_tokens, tokens(block.text));
  });

  test('prompt caching: cache writes are split by the breakpoint\'s ttl (5m default, 1h when asked)', async () => {
    const long = Array.from({ length: 400 }, (_, i) => `Rule ${i}: answer politely.`).join(' ');
    const ask = (ttl: '5m' | '1h' | undefined, salt: string) => client.messages.create({
      model: MODEL, max_tokens: 64,
      system: [{ type: 'text', text: `${salt} ${long}`, cache_control: ttl ? { type: 'ephemeral', ttl } : { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: 'Hello' }],
    });
    const plain = await ask(undefined, 'A');
    assert.ok((plain.usage.cache_creation_input_tokens ?? 0) >= 1024);
    assert.deepEqual(plain.usage.cache_creation, { ephemeral_5m_input_tokens: plain.usage.cache_creation_input_tokens, ephemeral_1h_input_tokens: 0 });
    const hour = await ask('1h', 'B');
    assert.deepEqual(hour.usage.cache_creation, { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: hour.usage.cache_creation_input_tokens }, 'a 1h breakpoint writes a 1h entry');
    const again = await ask('1h', 'B');
    assert.equal(again.usage.cache_read_input_tokens, hour.usage.cache_creation_input_tokens);
    assert.deepEqual(again.usage.cache_creation, { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 });
  });

  test('count_tokens matches the input_tokens of a real call', async () => {
    const params = { model: MODEL, system: 'S', messages: [{ role: 'user' as const, content: 'Count me' }], tools: [weatherTool] };
    const counted = await client.messages.countTokens(params);
    const msg = await client.messages.create({ ...params, max_tokens: 100 });
    assert.equal(counted.input_tokens, msg.usage.input_tokens);
  });

  test('errors in Anthropic format', async () => {
    await assert.rejects(client.messages.create({ model: 'no-such-model', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.NotFoundError);
      assert.equal((err.error as any).error.type, 'not_found_error');
      return true;
    });
    await assert.rejects(
      client.messages.create({ model: MODEL, max_tokens: 1000, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'x' }] }),
      /must be greater than `thinking.budget_tokens`/,
    );
    await assert.rejects(
      client.messages.create({ model: MODEL, max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 100 }, messages: [{ role: 'user', content: 'x' }] }),
      /greater than or equal to 1024/,
    );
    const post = (body: string, headers: Record<string, string> = { 'anthropic-version': '2023-06-01' }) =>
      fetch(`${mock.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    const noMax = await post(JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }));
    assert.equal(noMax.status, 400);
    const noMaxBody = (await noMax.json()) as any;
    assert.deepEqual(noMaxBody.error, { type: 'invalid_request_error', message: 'max_tokens: Field required' });
    assert.equal(noMaxBody.type, 'error');
    assert.match(noMaxBody.request_id, /^req_/);
    const noVersion = await post(JSON.stringify({ model: MODEL, max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }), {});
    assert.equal(noVersion.status, 400);
    assert.deepEqual(((await noVersion.json()) as any).error, { type: 'invalid_request_error', message: 'anthropic-version: header is required' });
    const badJson = await post('{"model":');
    assert.equal(badJson.status, 400);
    assert.equal(((await badJson.json()) as any).error.type, 'invalid_request_error');
    const systemRole = await post(JSON.stringify({ model: MODEL, max_tokens: 5, messages: [{ role: 'system', content: 'x' }] }));
    assert.equal(systemRole.status, 400);
    assert.match(((await systemRole.json()) as any).error.message, /Unexpected role "system"/);
  });

  test('models list in Anthropic format when anthropic-version is sent', async () => {
    const page = await client.models.list();
    assert.ok(page.data.length > 0);
    for (const m of page.data) {
      assert.equal(m.type, 'model');
      assert.equal(typeof m.display_name, 'string');
    }
    const one = await client.models.retrieve('claude-haiku-4-5');
    assert.equal(one.id, 'claude-haiku-4-5');
  });

  test('models without anthropic-version get the 400 the API gives, for the list and for one model', async () => {
    for (const path of ['/v1/models', '/v1/models/claude-sonnet-5']) {
      const res = await fetch(`${mock.url}${path}`, { headers: { 'x-api-key': 'k' } });
      assert.equal(res.status, 400, `${path} without anthropic-version`);
      const body = (await res.json()) as any;
      assert.deepEqual(body.error, { type: 'invalid_request_error', message: 'anthropic-version: header is required' }, `${path}: ${JSON.stringify(body)}`);
      assert.match(body.request_id, /^req_/);
    }
  });
});

describe('usage and message fields the API returns', () => {
  const webSearch = { type: 'web_search_20250305', name: 'web_search', max_uses: 3 };

  test('a message carries container, stop_details and diagnostics, and usage its tier, region and cache breakdown', async () => {
    const msg = await client.messages.create({ model: MODEL, max_tokens: 256, messages: [{ role: 'user', content: 'Hello there' }] });
    assert.equal(msg.container, null, 'container is null when no container tool ran');
    assert.equal(msg.stop_details, null, 'stop_details is null for an ordinary stop');
    assert.equal(msg.diagnostics, null, 'diagnostics is null when none were asked for');
    assert.equal(msg.usage.service_tier, 'standard');
    assert.equal(msg.usage.inference_geo, 'not_available', 'no inference_geo asked: the API reports not_available');
    assert.deepEqual(msg.usage.cache_creation, { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 });
    assert.ok(!('server_tool_use' in msg.usage), 'no server tools offered: no server_tool_use');
    const geo = await client.messages.create({ model: MODEL, max_tokens: 256, inference_geo: 'us', messages: [{ role: 'user', content: 'Hello there' }] });
    assert.equal(geo.usage.inference_geo, 'us', 'a requested region is reported back');
  });

  test('with a server tool offered, usage counts its requests (none: the mock runs no server tools), streamed too', async () => {
    const req = { model: MODEL, max_tokens: 256, tools: [webSearch, weatherTool], messages: [{ role: 'user' as const, content: 'Hello there' }] } as any;
    const msg = await client.messages.create(req);
    assert.deepEqual(msg.usage.server_tool_use, { web_search_requests: 0, web_fetch_requests: 0 });
    const events = await rawEvents(req);
    const delta = events.find((e) => e.event === 'message_delta')!.data;
    assert.deepEqual(delta.usage.server_tool_use, { web_search_requests: 0, web_fetch_requests: 0 }, 'message_delta usage carries server_tool_use');
    assert.equal(delta.delta.container, null, 'message_delta.delta has container');
    assert.equal(delta.delta.stop_details, null, 'message_delta.delta has stop_details');
    const start = events[0].data.message;
    assert.equal(start.container, null);
    assert.equal(start.stop_details, null);
    assert.equal(start.usage.service_tier, 'standard');
    assert.equal(start.usage.inference_geo, 'not_available');
    const final = await client.messages.stream(req).finalMessage();
    assert.deepEqual(final.usage.server_tool_use, { web_search_requests: 0, web_fetch_requests: 0 }, 'the SDK\'s accumulated message has it');
  });

  test('tool_use blocks say who called the tool, in the message and in the stream', async () => {
    const req = { model: MODEL, max_tokens: 1024, tools: [weatherTool], messages: [{ role: 'user' as const, content: 'Use get_weather for Oslo' }] };
    const msg = await client.messages.create(req);
    const use = msg.content.find((b) => b.type === 'tool_use');
    assert.ok(use && use.type === 'tool_use');
    assert.deepEqual(use.caller, { type: 'direct' });
    const events = await rawEvents(req);
    const start = events.find((e) => e.event === 'content_block_start' && e.data.content_block.type === 'tool_use')!;
    assert.deepEqual(start.data.content_block.caller, { type: 'direct' });
  });
});

describe('thinking and the assistant turn of a tool-use loop', () => {
  const thinkingOn = { type: 'enabled' as const, budget_tokens: 1024 };
  const post = async (body: unknown) => {
    const res = await fetch(`${mock.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };
  const toolTurn = (assistant: unknown[], id: string) => [
    { role: 'assistant', content: assistant },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: '18 degrees' }] },
  ];

  test('an assistant turn with tool_use but no leading thinking block gets the API\'s 400 when thinking is on', async () => {
    const first = await client.messages.create({ model: MODEL, max_tokens: 4096, thinking: thinkingOn, tools: [weatherTool], messages: [{ role: 'user', content: 'Check get_weather for Seoul' }] });
    const use = first.content.find((b) => b.type === 'tool_use')!;
    assert.ok(use.type === 'tool_use');
    const stripped = first.content.filter((b) => b.type !== 'thinking');
    const res = await post({ model: MODEL, max_tokens: 4096, thinking: thinkingOn, tools: [weatherTool], messages: [{ role: 'user', content: 'Check get_weather for Seoul' }, ...toolTurn(stripped, use.id)] });
    assert.equal(res.status, 400, `thinking dropped from the loop's assistant turn: ${JSON.stringify(res.body).slice(0, 200)}`);
    assert.equal(res.body.error.type, 'invalid_request_error');
    assert.equal(
      res.body.error.message,
      `messages.1.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${stripped[0].type}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable \`thinking\`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking`,
    );
    const off = await post({ model: MODEL, max_tokens: 4096, tools: [weatherTool], messages: [{ role: 'user', content: 'Check get_weather for Seoul' }, ...toolTurn(stripped, use.id)] });
    assert.equal(off.status, 200, 'without thinking the same conversation is fine');
  });

  test('only the trailing loop is checked: earlier turns may drop their thinking, and later steps of the loop need none', async () => {
    const bare = (id: string) => [{ type: 'tool_use', id, name: 'get_weather', input: { location: 'Seoul' } }];
    const first = await client.messages.create({ model: MODEL, max_tokens: 4096, thinking: thinkingOn, tools: [weatherTool], messages: [{ role: 'user', content: 'Check get_weather for Seoul' }] });
    const use = first.content.find((b) => b.type === 'tool_use')!;
    assert.ok(use.type === 'tool_use');
    const earlier = [{ role: 'user', content: 'Check get_weather for Lima' }, ...toolTurn(bare('toolu_01old'), 'toolu_01old'), { role: 'assistant', content: 'It is 21 degrees in Lima.' }];
    const oldLoop = await post({ model: MODEL, max_tokens: 4096, thinking: thinkingOn, tools: [weatherTool], messages: [...earlier, { role: 'user', content: 'Check get_weather for Seoul' }, ...toolTurn(first.content, use.id)] });
    assert.equal(oldLoop.status, 200, `a finished earlier loop without thinking is accepted: ${JSON.stringify(oldLoop.body).slice(0, 200)}`);
    const secondStep = await post({ model: MODEL, max_tokens: 4096, thinking: thinkingOn, tools: [weatherTool], messages: [{ role: 'user', content: 'Check get_weather for Seoul' }, ...toolTurn(first.content, use.id), ...toolTurn(bare('toolu_01two'), 'toolu_01two')] });
    assert.equal(secondStep.status, 200, `a later step of the loop without its own thinking is accepted: ${JSON.stringify(secondStep.body).slice(0, 200)}`);
    const noUser = await post({ model: MODEL, max_tokens: 4096, thinking: thinkingOn, tools: [weatherTool], messages: [...earlier, { role: 'user', content: 'Thanks' }] });
    assert.equal(noUser.status, 200, 'a conversation that is not inside a tool-use loop is not checked');
  });
});
