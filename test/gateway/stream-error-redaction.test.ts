// An upstream's own error event inside a stream names Warden's account with the provider (its
// organisation and project ids) and may echo Warden's credential, as its error bodies do: the
// client gets it without them, as it gets a non-streamed error body, with or without output
// shaping; an error event with nothing to replace goes out byte for byte.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startHarness, type Harness } from '../helpers/gateway.ts';
import { startRawUpstream } from '../helpers/raw-upstream.ts';
import { inlinePolicyHooks } from '../helpers/policy.ts';
import type { GatewayHooks } from '../../src/gateway/lifecycle.ts';

const open: { close(): Promise<void> }[] = [];
after(async () => { for (const o of open.reverse()) await o.close(); });

/** The credential Warden holds for the upstream (`upstreams[].api_key`). */
const CREDENTIAL = 'sk-proj-OPERATORKEY0123456789abcdefXYZ';
const ORG = 'org-OPERATORORG123abc';
const PROJECT = 'proj_OPERATORPROJECT99';
const LEAK = `Rate limit reached in organization ${ORG} (project ${PROJECT}) for key ${CREDENTIAL}; earlier key sk-proj-ab*****wxyz`;

const sse = (event: string | null, data: object) => `${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`;
const chunk = (content: string) => sse(null, { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }] });
const claudeHead = sse('message_start', { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'claude-x', stop_reason: null, stop_sequence: null, usage: { input_tokens: 5, output_tokens: 1 } } })
  + sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })
  + sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hel' } });
const PLAIN = 'The server had an error while processing your request.';

const STREAMS: Record<string, string> = {
  'chat-leak': chunk('Hel') + sse(null, { error: { message: LEAK, type: 'tokens', param: null, code: 'rate_limit_exceeded' } }),
  'claude-leak': claudeHead + sse('error', { type: 'error', error: { type: 'rate_limit_error', message: LEAK }, request_id: 'req_upstream_1' }),
  'responses-leak': sse('response.created', { type: 'response.created', sequence_number: 0, response: { id: 'resp_1', object: 'response', status: 'in_progress', output: [] } })
    + sse('error', { type: 'error', code: 'rate_limit_exceeded', message: LEAK, param: null, sequence_number: 1 })
    + sse('response.failed', { type: 'response.failed', sequence_number: 2, response: { id: 'resp_1', object: 'response', status: 'failed', error: { code: 'rate_limit_exceeded', message: LEAK }, output: [], usage: null } }),
  'chat-plain': chunk('Hel') + sse(null, { error: { message: PLAIN, type: 'server_error', param: null, code: null } }),
  'claude-plain': claudeHead + sse('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: 'req_upstream_1' }),
};

async function gateway(hooks: GatewayHooks[] = []): Promise<Harness> {
  const upstream = await startRawUpstream((_req, res, body) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    // Sent in two writes: the answer's first events, then the error a moment later (mid-stream).
    const all = STREAMS[JSON.parse(body).model as string];
    const cut = all.lastIndexOf('event: error') !== -1 ? all.lastIndexOf('event: error') : all.lastIndexOf('data: {"error"');
    res.write(all.slice(0, cut));
    setTimeout(() => res.end(all.slice(cut)), 30);
  });
  open.push(upstream);
  const h = await startHarness({ hooks, upstreamOverride: () => [{ name: 'raw', base_url: upstream.url, api_key: CREDENTIAL, models: ['*'] }] });
  open.push(h);
  return h;
}

async function raw(h: Harness, path: string, body: object): Promise<string> {
  const res = await fetch(`${h.url}${path}`, {
    method: 'POST', headers: { authorization: `Bearer ${h.key}`, 'x-api-key': h.key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
  });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res.text();
}

function assertClean(text: string, what: string): void {
  for (const secret of [ORG, PROJECT, CREDENTIAL, CREDENTIAL.slice(8), 'ab*****wxyz']) {
    assert.ok(!text.includes(secret), `${what}: "${secret}" reached the client: ${text}`);
  }
  assert.ok(text.includes('org-[redacted]') && text.includes('proj_[redacted]'), `${what}: the ids are marked as removed: ${text}`);
  assert.ok(text.includes('[credential]'), `${what}: the credential is marked as removed: ${text}`);
  assert.ok(text.includes('Rate limit reached in organization'), `${what}: the rest of the upstream's message is kept: ${text}`);
}

const shaping = (): GatewayHooks => {
  const policy = inlinePolicyHooks('version: 1\ndefaults: { reasoning: none }\n');
  open.push({ close: async () => policy.cleanup() });
  return policy.hooks;
};

for (const [label, hooks] of [['as received', () => []], ['with output shaping', () => [shaping()]]] as const) {
  test(`an upstream's error event mid-stream reaches the client without Warden's provider account ids or credential (${label})`, async () => {
    const h = await gateway(hooks());
    const chat = await raw(h, '/v1/chat/completions', { model: 'chat-leak', messages: [{ role: 'user', content: 'hi' }] });
    assertClean(chat, 'chat');
    assert.match(chat, /"content":"Hel"/, 'the answer before the error is passed on');
    const claude = await raw(h, '/v1/messages', { model: 'claude-leak', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    assertClean(claude, 'messages');
    assert.match(claude, /event: error\ndata: \{"type":"error","error":\{"type":"rate_limit_error"/, `still the API's own error event: ${claude}`);
    const responses = await raw(h, '/v1/responses', { model: 'responses-leak', input: 'hi' });
    assertClean(responses, 'responses');
    assert.equal(responses.split('[redacted]').length - 1, 4, `both the error event and response.failed are cleaned: ${responses}`);

    // The SDKs read the cleaned events as the upstream's error, message and all.
    const openai = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
    await assert.rejects(async () => {
      for await (const _ of await openai.chat.completions.create({ model: 'chat-leak', messages: [{ role: 'user', content: 'hi' }], stream: true })) { /* read */ }
    }, (e: any) => String(e?.message).includes(`organization org-[redacted] (project proj_[redacted]) for key [credential]`) || assert.fail(String(e?.message)));
    const anthropic = new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries: 0 });
    await assert.rejects(anthropic.messages.stream({ model: 'claude-leak', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).finalMessage(),
      (e: any) => (String(e?.message).includes('org-[redacted]') && !String(e?.message).includes(ORG)) || assert.fail(String(e?.message)));
  });

  test(`an upstream's error event with nothing to remove goes out byte for byte (${label})`, async () => {
    const h = await gateway(hooks());
    const chat = await raw(h, '/v1/chat/completions', { model: 'chat-plain', messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(chat.endsWith(sse(null, { error: { message: PLAIN, type: 'server_error', param: null, code: null } })), chat);
    const claude = await raw(h, '/v1/messages', { model: 'claude-plain', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    assert.ok(claude.endsWith(sse('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: 'req_upstream_1' })), claude);
  });
}
