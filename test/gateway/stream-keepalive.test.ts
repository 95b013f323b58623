// A stream whose upstream goes quiet (a reasoning model thinking) gets keep-alives from Warden, so
// that a load balancer's idle timeout does not cut it: an SSE comment on the OpenAI routes,
// Anthropic's own `ping` event on the Messages route. Both official SDKs read the streams as if
// the keep-alives were not there.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, type Harness } from '../helpers/gateway.ts';
import { startRawUpstream } from '../helpers/raw-upstream.ts';

const open: { close(): Promise<void> }[] = [];
after(async () => { for (const o of open.reverse()) await o.close(); });

/** How long the upstream stays silent mid-stream, ms: many keep-alive intervals (0.05 s) long. */
const SILENT_MS = 600;

const sse = (event: string | null, data: object | string) => `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;

const CHAT = (content: string | null, finish: string | null) => ({ id: 'chatcmpl-k', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }] });
const ANTHROPIC = [
  sse('message_start', { type: 'message_start', message: { id: 'msg_k', type: 'message', role: 'assistant', model: 'claude-k', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 3, output_tokens: 1 } } }),
  sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'thought ' } }),
  // silent here
  sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'through' } }),
  sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
  sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 2 } }),
  sse('message_stop', { type: 'message_stop' }),
];
const OPENAI = [
  sse(null, CHAT('thought ', null)),
  // silent here
  sse(null, CHAT('through', null)),
  sse(null, CHAT(null, 'stop')),
  sse(null, '[DONE]'),
];

async function setup(keepaliveS: number): Promise<Harness> {
  const upstream = await startRawUpstream((req, res) => {
    const events = req.url?.startsWith('/v1/messages') ? ANTHROPIC : OPENAI;
    const pauseAfter = events === ANTHROPIC ? 3 : 1;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(events.slice(0, pauseAfter).join(''));
    setTimeout(() => res.end(events.slice(pauseAfter).join('')), SILENT_MS);
  });
  open.push(upstream);
  const h = await startHarness({ config: { server: { stream_keepalive_s: keepaliveS } }, upstreamOverride: () => [{ name: 'raw', base_url: upstream.url, models: ['*'] }] });
  open.push(h);
  return h;
}

const post = (h: Harness, path: string, body: object) => fetch(`${h.url}${path}`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', authorization: `Bearer ${h.key}`, 'anthropic-version': '2023-06-01' },
  body: JSON.stringify(body),
});

test('a silent OpenAI stream gets `: keep-alive` comments between events, and the SDK reads it unchanged', async () => {
  const h = await setup(0.05);
  const text = await (await post(h, '/v1/chat/completions', { model: 'gpt-k', stream: true, messages: [{ role: 'user', content: 'think' }] })).text();
  const blocks = text.split('\n\n').filter(Boolean);
  const keepalives = blocks.filter((b) => b === ': keep-alive');
  assert.ok(keepalives.length >= 2, `keep-alive comments while the upstream was silent: ${keepalives.length} in ${JSON.stringify(text)}`);
  const first = blocks.indexOf(': keep-alive');
  assert.ok(blocks[first - 1]?.includes('thought '), 'the keep-alives come after the first event, whole, not inside it');
  assert.ok(blocks.every((b) => b === ': keep-alive' || b.startsWith('data: ')), `every block is an event or a keep-alive: ${JSON.stringify(blocks)}`);

  const openai = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  let content = '';
  let finish: string | null = null;
  for await (const chunk of await openai.chat.completions.create({ model: 'gpt-k', stream: true, messages: [{ role: 'user', content: 'think' }] })) {
    content += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(content, 'thought through', 'the OpenAI SDK reads the content as sent');
  assert.equal(finish, 'stop');
});

test('a silent Anthropic stream gets `ping` events, and the SDK reads it unchanged', async () => {
  const h = await setup(0.05);
  const text = await (await post(h, '/v1/messages', { model: 'claude-k', stream: true, max_tokens: 10, messages: [{ role: 'user', content: 'think' }] })).text();
  const blocks = text.split('\n\n').filter(Boolean);
  const pings = blocks.filter((b) => b === 'event: ping\ndata: {"type": "ping"}');
  assert.ok(pings.length >= 2, `ping events while the upstream was silent: ${pings.length} in ${JSON.stringify(text)}`);
  assert.ok(blocks.every((b) => b.startsWith('event: ')), `every block is a whole event: ${JSON.stringify(blocks)}`);

  const anthropic = new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries: 0 });
  const stream = anthropic.messages.stream({ model: 'claude-k', max_tokens: 10, messages: [{ role: 'user', content: 'think' }] });
  let streamed = '';
  stream.on('text', (t) => { streamed += t; });
  const message = await stream.finalMessage();
  assert.equal(streamed, 'thought through', 'the Anthropic SDK reads the text as sent');
  assert.deepEqual(message.content, [{ type: 'text', text: 'thought through' }]);
  assert.equal(message.stop_reason, 'end_turn');
});

test('0 sends no keep-alives', async () => {
  const h = await setup(0);
  const openaiText = await (await post(h, '/v1/chat/completions', { model: 'gpt-k', stream: true, messages: [{ role: 'user', content: 'think' }] })).text();
  assert.ok(!openaiText.includes(': keep-alive'), 'no comments with keep-alives off');
  const anthropicText = await (await post(h, '/v1/messages', { model: 'claude-k', stream: true, max_tokens: 10, messages: [{ role: 'user', content: 'think' }] })).text();
  assert.ok(!anthropicText.includes('event: ping'), 'no pings with keep-alives off');
});
