// The upstream's retry advice, passed on by the gateway, governs the batch runner's retries as it
// does the SDKs': `x-should-retry: false` ends a request with its error at once (no second upstream
// call, charged as a new one), `true` retries it whatever the status, after its `retry-after-ms`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startRawUpstream } from '../../test/helpers/raw-upstream.ts';
import { startTestWarden } from '../../test/helpers/warden.ts';

const open: { close(): Promise<void> }[] = [];
after(async () => { for (const o of open.reverse()) await o.close(); });

test('a batch request honours the upstream\'s x-should-retry and retry-after-ms', async () => {
  const calls = new Map<string, number>();
  const upstream = await startRawUpstream((_req, res, body) => {
    const { model } = JSON.parse(body) as { model: string };
    const n = (calls.get(model) ?? 0) + 1;
    calls.set(model, n);
    const error = (status: number, headers: Record<string, string>, type: string) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify({ type: 'error', error: { type, message: `${type} from the upstream` } }));
    };
    if (model === 'claude-final') return error(500, { 'x-should-retry': 'false' }, 'api_error');
    if (model === 'claude-again' && n === 1) return error(409, { 'x-should-retry': 'true', 'retry-after-ms': '50' }, 'invalid_request_error');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: `msg_${n}`, type: 'message', role: 'assistant', model, content: [{ type: 'text', text: 'done' }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 3, output_tokens: 1 } }));
  });
  open.push(upstream);
  const t = await startTestWarden({ upstreams: [{ name: 'raw', base_url: upstream.url, models: ['*'], flavours: ['anthropic'] }] });
  open.push(t);
  const client = new Anthropic({ apiKey: (await t.account('alice', 'identity_verified')).key, baseURL: t.url, maxRetries: 0 });
  const ask = (custom_id: string, model: string) => ({ custom_id, params: { model, max_tokens: 10, messages: [{ role: 'user' as const, content: 'hi' }] } });
  const created = await client.messages.batches.create({ requests: [ask('final', 'claude-final'), ask('again', 'claude-again')] });
  const deadline = Date.now() + 20_000;
  let batch = await client.messages.batches.retrieve(created.id);
  while (batch.processing_status !== 'ended') {
    assert.ok(Date.now() < deadline, `batch not ended: ${JSON.stringify(batch.request_counts)}`);
    await new Promise((r) => setTimeout(r, 50));
    batch = await client.messages.batches.retrieve(created.id);
  }
  const results = new Map<string, any>();
  for await (const line of await client.messages.batches.results(created.id)) results.set(line.custom_id, line.result);
  assert.equal(results.get('final').type, 'errored');
  assert.equal(results.get('final').error.error.type, 'api_error');
  assert.equal(calls.get('claude-final'), 1, 'x-should-retry: false: not tried again');
  assert.equal(results.get('again').type, 'succeeded', 'x-should-retry: true: tried again, and answered');
  assert.equal(calls.get('claude-again'), 2);
});
