// What an upstream sends in a stream besides the answer: its own in-stream error events (recorded
// as failed answers, with the error's status and type) and keep-alive comments (passed on, so that
// proxies between Warden and the client do not cut a stream while the model thinks).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';
import { startRawUpstream } from '../helpers/raw-upstream.ts';
import { inlinePolicyHooks } from '../helpers/policy.ts';
import type { GatewayHooks } from '../../src/gateway/lifecycle.ts';

const open: { close(): Promise<void> }[] = [];
after(async () => { for (const o of open.reverse()) await o.close(); });

const sse = (event: string | null, data: object | string) => `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
const chunk = (delta: object, finish: string | null = null) => sse(null, { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });

const STREAMS: Record<string, string> = {
  'chat-error': chunk({ role: 'assistant', content: 'Hel' }) + sse(null, { error: { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null } }),
  'claude-overloaded': sse('message_start', { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'claude-x', stop_reason: null, stop_sequence: null, usage: { input_tokens: 5, output_tokens: 1 } } })
    + sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })
    + sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } })
    + sse('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: 'req_upstream_1' }),
  'responses-failed': sse('response.created', { type: 'response.created', sequence_number: 0, response: { id: 'resp_1', object: 'response', status: 'in_progress', output: [] } })
    + sse('error', { type: 'error', code: 'server_error', message: 'An error occurred.', param: null, sequence_number: 1 })
    + sse('response.failed', { type: 'response.failed', sequence_number: 2, response: { id: 'resp_1', object: 'response', status: 'failed', error: { code: 'server_error', message: 'An error occurred.' }, output: [], usage: null } }),
  'chat-comments': ': OPENROUTER PROCESSING\n\n' + chunk({ role: 'assistant', content: 'Hi' }) + ': OPENROUTER PROCESSING\n\n' + chunk({}, 'stop') + sse(null, '[DONE]'),
};

/** Streams sent in parts, with pauses (ms) between them. */
const PAUSED: Record<string, (string | number)[]> = {
  // The error event, then the upstream keeps the connection a while: the SDK hangs up first.
  'chat-error-held': [STREAMS['chat-error'], 300],
  'claude-overloaded-held': [STREAMS['claude-overloaded'], 300],
  // A keep-alive comment at once, the answer's first event later.
  'chat-comment-first': [': OPENROUTER PROCESSING\n\n', 300, STREAMS['chat-comments']],
};

async function gateway(hooks: GatewayHooks[] = []): Promise<Harness> {
  const upstream = await startRawUpstream((_req, res, body) => {
    const model: string = JSON.parse(body).model;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (!PAUSED[model]) { res.end(STREAMS[model]); return; }
    void (async () => {
      for (const part of PAUSED[model]) {
        if (typeof part === 'number') await new Promise((r) => setTimeout(r, part));
        else if (!res.destroyed) res.write(part);
      }
      res.end();
    })();
  });
  open.push(upstream);
  const h = await startHarness({ hooks, upstreamOverride: () => [{ name: 'raw', base_url: upstream.url, models: ['*'] }] });
  open.push(h);
  return h;
}

test('an upstream error inside a stream reaches the SDK and is recorded as a failed answer with its status and type', async () => {
  const h = await gateway();
  const anthropic = new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries: 0 });
  await assert.rejects(anthropic.messages.stream({ model: 'claude-overloaded', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).finalMessage(), (e: any) => /Overloaded/.test(String(e?.message)));
  const openai = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  await assert.rejects(async () => {
    for await (const _ of await openai.chat.completions.create({ model: 'chat-error', messages: [{ role: 'user', content: 'hi' }], stream: true })) { /* read */ }
  }, (e: any) => /server had an error/.test(String(e?.message)));
  const types: string[] = [];
  for await (const e of await openai.responses.create({ model: 'responses-failed', input: 'hi', stream: true })) types.push(e.type);
  assert.deepEqual(types, ['response.created', 'error', 'response.failed']);

  const events = await storedEvents(h, 3);
  const response = (model: string) => {
    const e = events.find((x) => x.model === model);
    assert.ok(e, `event for ${model}`);
    return [e.response.status, e.response.error_code, e.response.upstream_error];
  };
  assert.deepEqual(response('claude-overloaded'), [529, 'WARDEN_UPSTREAM_ERROR', 'overloaded_error']);
  assert.deepEqual(response('chat-error'), [500, 'WARDEN_UPSTREAM_ERROR', 'server_error']);
  assert.deepEqual(response('responses-failed'), [500, 'WARDEN_UPSTREAM_ERROR', 'server_error']);
  assert.equal(events.find((x) => x.model === 'claude-overloaded')!.response.output_chars, 3, 'what was streamed is still counted');
});

test('an upstream error inside a stream stays the upstream\'s failure when the SDK hangs up before the upstream ends', async () => {
  const h = await gateway();
  const anthropic = new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries: 0 });
  await assert.rejects(anthropic.messages.stream({ model: 'claude-overloaded-held', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).finalMessage(), (e: any) => /Overloaded/.test(String(e?.message)));
  const openai = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  await assert.rejects(async () => {
    for await (const _ of await openai.chat.completions.create({ model: 'chat-error-held', messages: [{ role: 'user', content: 'hi' }], stream: true })) { /* read */ }
  }, (e: any) => /server had an error/.test(String(e?.message)));
  const events = await storedEvents(h, 2);
  const response = (model: string) => {
    const e = events.find((x) => x.model === model);
    assert.ok(e, `event for ${model}`);
    return [e.response.status, e.response.error_code, e.response.upstream_error];
  };
  assert.deepEqual(response('claude-overloaded-held'), [529, 'WARDEN_UPSTREAM_ERROR', 'overloaded_error']);
  assert.deepEqual(response('chat-error-held'), [500, 'WARDEN_UPSTREAM_ERROR', 'server_error']);
});

test('keep-alive comments from the upstream are passed on, with or without output shaping', async () => {
  const policy = inlinePolicyHooks('version: 1\ndefaults: { reasoning: none }\n');
  open.push({ close: async () => policy.cleanup() });
  for (const h of [await gateway(), await gateway([policy.hooks])]) {
    const res = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'chat-comments', messages: [{ role: 'user', content: 'hi' }], stream: true }),
    });
    const text = await res.text();
    assert.equal(text.split(': OPENROUTER PROCESSING\n\n').length, 3, text);
    assert.match(text, /"content":"Hi"/);
  }
});

test('ttfb_ms times the answer\'s first event, not a keep-alive comment before it, with or without output shaping', async () => {
  const policy = inlinePolicyHooks('version: 1\ndefaults: { reasoning: none }\n');
  open.push({ close: async () => policy.cleanup() });
  for (const h of [await gateway(), await gateway([policy.hooks])]) {
    const openai = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
    let content = '';
    for await (const c of await openai.chat.completions.create({ model: 'chat-comment-first', messages: [{ role: 'user', content: 'hi' }], stream: true })) content += c.choices[0]?.delta?.content ?? '';
    assert.equal(content, 'Hi');
    const [event] = await storedEvents(h, 1);
    assert.ok(event.response.ttfb_ms !== null && event.response.ttfb_ms >= 280, `ttfb_ms ${event.response.ttfb_ms}: the first event came 300 ms after the comment`);
  }
});
