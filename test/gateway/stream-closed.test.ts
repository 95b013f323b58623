// An upstream that sends its answer's closing event (Responses `response.completed`, Anthropic
// `message_stop`, Chat `[DONE]` or the finish and usage chunks) and then drops the connection, or
// lets the stream run past the duration cap: the answer is whole, so the client's stream ends
// cleanly, with no error event after the closing one, and the interaction is recorded as completed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, storedEvents, GOOD_KEY, type Harness } from '../helpers/gateway.ts';
import { startRawUpstream } from '../helpers/raw-upstream.ts';
import type { GatewayHooks } from '../../src/gateway/lifecycle.ts';

const open: { close(): Promise<void> }[] = [];
after(async () => { for (const o of open.reverse()) await o.close(); });

const sse = (event: string | null, data: object | string) =>
  `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

const RESPONSES = [
  sse('response.created', { type: 'response.created', sequence_number: 0, response: { id: 'resp_1', object: 'response', status: 'in_progress', output: [] } }),
  sse('response.output_text.delta', { type: 'response.output_text.delta', sequence_number: 1, item_id: 'msg_1', output_index: 0, content_index: 0, delta: 'Hello there' }),
  sse('response.completed', { type: 'response.completed', sequence_number: 2, response: { id: 'resp_1', object: 'response', status: 'completed', output: [], usage: { input_tokens: 7, output_tokens: 2, total_tokens: 9 } } }),
].join('');

const ANTHROPIC = [
  sse('message_start', { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'm', stop_reason: null, stop_sequence: null, usage: { input_tokens: 7, output_tokens: 1 } } }),
  sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello there' } }),
  sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
  sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 2 } }),
  sse('message_stop', { type: 'message_stop' }),
].join('');

const chunk = (choices: object[], usage: object | null = null) => ({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices, usage });
const CHAT_BODY = [
  sse(null, chunk([{ index: 0, delta: { role: 'assistant', content: 'Hello there' }, finish_reason: null }])),
  sse(null, chunk([{ index: 0, delta: {}, finish_reason: 'stop' }])),
  sse(null, chunk([], { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 })),
].join('');
const CHAT_DONE = CHAT_BODY + sse(null, '[DONE]');

/** An upstream that sends `body` in one write, then destroys the socket (`drop`) or holds it open. */
async function upstream(body: string, drop: boolean) {
  const u = await startRawUpstream((_req, res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(body);
    if (drop) setTimeout(() => res.socket?.destroy(), 50);
  });
  open.push(u);
  return u;
}

interface Case { drop: boolean; capMs?: number; hooks?: GatewayHooks[] }

async function harness(url: string, opts: Partial<Case> = {}): Promise<Harness> {
  const h = await startHarness({
    upstreamOverride: () => [{ name: 'closing', base_url: url, models: ['*'] }],
    hooks: opts.hooks,
    ...(opts.capMs ? { config: { server: { stream_max_duration_ms: opts.capMs } } } : {}),
  });
  open.push(h);
  return h;
}

const passThrough: GatewayHooks[] = [{ name: 'pass-through', output: () => ({ sse: (ev) => ({ ...ev }) }) }];
const CASES: [string, Case][] = [
  ['upstream drop', { drop: true }],
  ['upstream drop, events through an output transformer', { drop: true, hooks: passThrough }],
  ['duration cap', { drop: false, capMs: 300 }],
];

async function assertCompleted(h: Harness) {
  const [e] = await storedEvents(h, 1);
  assert.equal(e.response.status, 200);
  assert.equal(e.response.error_code, null);
  assert.equal(e.response.usage_source, 'upstream');
  assert.equal(e.response.output_tokens, 2);
  return e;
}

for (const [what, opts] of CASES) {
  test(`Responses, ${what} after response.completed: the stream ends with it, recorded as completed`, async () => {
    const h = await harness((await upstream(RESPONSES, opts.drop)).url, opts);
    const client = new OpenAI({ apiKey: GOOD_KEY, baseURL: `${h.url}/v1`, maxRetries: 0 });
    const types: string[] = [];
    for await (const e of await client.responses.create({ model: 'gpt-4o-mini', input: 'hi', stream: true })) types.push(e.type);
    assert.deepEqual(types, ['response.created', 'response.output_text.delta', 'response.completed']);
    const e = await assertCompleted(h);
    assert.equal(e.response.finish_reason, 'completed');
  });

  test(`Anthropic Messages, ${what} after message_stop: no error event, recorded as completed`, async () => {
    const h = await harness((await upstream(ANTHROPIC, opts.drop)).url, opts);
    const client = new Anthropic({ apiKey: GOOD_KEY, baseURL: h.url, maxRetries: 0 });
    const types: string[] = [];
    for await (const e of await client.messages.create({ model: 'claude-x', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }], stream: true })) types.push(e.type);
    assert.equal(types.at(-1), 'message_stop');
    const r = await fetch(`${h.url}/v1/messages`, {
      method: 'POST', headers: { 'x-api-key': GOOD_KEY, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-x', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }], stream: true }),
    });
    const text = await r.text();
    assert.ok(text.endsWith('event: message_stop\ndata: {"type":"message_stop"}\n\n'), text.slice(-200));
    const events = await storedEvents(h, 2);
    for (const ev of events) {
      assert.equal(ev.response.status, 200);
      assert.equal(ev.response.error_code, null);
      assert.equal(ev.response.finish_reason, 'end_turn');
    }
  });

  for (const [closing, body] of [['[DONE]', CHAT_DONE], ['the finish and usage chunks', CHAT_BODY]] as const) {
    test(`Chat Completions, ${what} after ${closing}: the SDK reads the whole answer, recorded as completed`, async () => {
      const h = await harness((await upstream(body, opts.drop)).url, opts);
      const client = new OpenAI({ apiKey: GOOD_KEY, baseURL: `${h.url}/v1`, maxRetries: 0 });
      let text = '';
      for await (const c of await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true })) text += c.choices[0]?.delta?.content ?? '';
      assert.equal(text, 'Hello there');
      const e = await assertCompleted(h);
      assert.equal(e.response.finish_reason, 'stop');
    });
  }
}

test('Chat Completions, a drop after the finish chunk but before the usage chunk is still an error', async () => {
  const cut = CHAT_BODY.slice(0, CHAT_BODY.lastIndexOf('data: '));
  const h = await harness((await upstream(cut, true)).url);
  const r = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${GOOD_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true }),
  });
  assert.match(await r.text(), /WARDEN_UPSTREAM_(UNAVAILABLE|ERROR)/);
  const [e] = await storedEvents(h, 1);
  assert.equal(e.response.status, 502);
});

test('Chat Completions with n = 2 and a running usage on every chunk: a drop after the first choice finished is an error', async () => {
  // Servers with continuous usage stats put a usage on every chunk, the first choice's finish included.
  const running = { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 };
  const cut = [
    sse(null, chunk([{ index: 0, delta: { role: 'assistant', content: 'Hello' }, finish_reason: null }], running)),
    sse(null, chunk([{ index: 1, delta: { role: 'assistant', content: 'Hi' }, finish_reason: null }], running)),
    sse(null, chunk([{ index: 0, delta: {}, finish_reason: 'stop' }], running)),
    sse(null, chunk([{ index: 1, delta: { content: ' and more' }, finish_reason: null }], running)),
  ].join('');
  const h = await harness((await upstream(cut, true)).url);
  const r = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${GOOD_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', n: 2, messages: [{ role: 'user', content: 'hi' }], stream: true }),
  });
  assert.match(await r.text(), /WARDEN_UPSTREAM_(UNAVAILABLE|ERROR)/, 'the second choice was cut: the client is told');
  const [e] = await storedEvents(h, 1);
  assert.equal(e.response.status, 502);
  assert.equal(e.response.usage_source, 'tokenizer', 'the running count is not taken as final');
});

test('a legacy completion of two prompts with a running usage on every chunk: a drop after the first prompt\'s finish is an error', async () => {
  // One choice per prompt: choice 0 answers "a", choice 1 answers "b".
  const running = { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 };
  const c = (choices: object[]) => ({ id: 'cmpl-1', object: 'text_completion', created: 1, model: 'm', choices, usage: running });
  const cut = [
    sse(null, c([{ index: 0, text: 'Hello', logprobs: null, finish_reason: null }])),
    sse(null, c([{ index: 1, text: 'Hi', logprobs: null, finish_reason: null }])),
    sse(null, c([{ index: 0, text: '', logprobs: null, finish_reason: 'stop' }])),
    sse(null, c([{ index: 1, text: ' and more', logprobs: null, finish_reason: null }])),
  ].join('');
  const h = await harness((await upstream(cut, true)).url);
  const r = await fetch(`${h.url}/v1/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${GOOD_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-3.5-turbo-instruct', prompt: ['a', 'b'], max_tokens: 20, stream: true }),
  });
  assert.match(await r.text(), /WARDEN_UPSTREAM_(UNAVAILABLE|ERROR)/, 'the second prompt\'s answer was cut: the client is told');
  const [e] = await storedEvents(h, 1);
  assert.equal(e.response.status, 502);
  assert.equal(e.response.usage_source, 'tokenizer');
});
