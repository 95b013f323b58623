// Background responses through a running Warden, with the official OpenAI SDK: kept and run
// through the pipeline as the key that sent them (recorded, before any batch), read back while
// queued, running and done, continued, cancelled and deleted by their owner only; bad requests get
// OpenAI error JSON.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startTestWarden, type TestWarden } from '../../test/helpers/warden.ts';
import { untilDone } from '../../test/helpers/responses.ts';

let t: TestWarden;
let w: TestWarden['w'];
let alice: string;
let bob: string;

before(async () => {
  // One request at a time, each held 150 ms by the mock: what waits can be seen waiting.
  t = await startTestWarden({ mock: { latency_ms: 150, tokens_per_second: 0 }, batches: { concurrency: 1 } });
  w = t.w;
  alice = (await t.account('alice', 'enterprise')).key;
  bob = (await t.account('bob', 'enterprise')).key;
});
after(async () => { await t.close(); });
const events: TestWarden['events'] = (keep, n, ms) => t.events(keep, n, ms);

const sdk = (key: string) => new OpenAI({ apiKey: key, baseURL: `${w.url}/v1`, maxRetries: 0 });

test('a background response is kept, run through the pipeline, read back, continued and deleted', async () => {
  const client = sdk(alice);
  const created = await client.responses.create({ model: 'gpt-5', input: 'Explain tides in two sentences.', background: true, max_output_tokens: 4000, metadata: { job: 't1' } });
  assert.match(created.id, /^resp_bg_/);
  assert.equal(created.status, 'queued');
  assert.equal(created.background, true);
  assert.equal(created.max_output_tokens, 4000, 'the request\'s fields are echoed while it waits');
  assert.deepEqual(created.metadata, { job: 't1' });

  const done = await untilDone(client, created.id);
  assert.equal(done.status, 'completed');
  assert.equal(done.id, created.id, 'read back under the id the client was given');
  assert.equal(done.background, true);
  assert.ok(done.output_text.length > 0);
  assert.ok(done.usage && done.usage.output_tokens > 0);

  // One ordinary interaction of Alice's, marked as run by Warden (no timing taken from it).
  const [event] = await events((e) => e.client.batch_id === created.id);
  assert.equal(event.flavour, 'openai.responses');
  assert.equal(event.response.status, 200, JSON.stringify(event.response));
  assert.equal(event.client.ip, '127.0.0.1');
  assert.match(event.client.user_agent ?? '', /OpenAI\/JS/);

  // Continued by its id: the upstream is asked to continue its own answer.
  const next = await client.responses.create({ model: 'gpt-5', input: 'Now in one sentence.', previous_response_id: created.id });
  assert.equal(next.status, 'completed');
  assert.equal(next.previous_response_id, event.response.answer_id, 'the upstream continued the answer it made');
  // Its event names that answer too, as the background run's event does: the detector reads the chain from there.
  const [continued] = await events((e) => e.response.answer_id === next.id);
  assert.equal(continued.request.previous_response_id, event.response.answer_id, 'the event names the answer the model continued, not the background id');
  const items = await client.responses.inputItems.list(created.id);
  assert.ok(items.data.length >= 1, 'its input items are listed');

  // Bob sees nothing of it: every call reads as for an id that does not exist.
  const other = sdk(bob);
  for (const call of [() => other.responses.retrieve(created.id), () => other.responses.cancel(created.id), () => other.responses.delete(created.id), () => other.responses.inputItems.list(created.id)]) {
    await assert.rejects(call(), (e: any) => e.status === 404 && e.error.type === 'invalid_request_error');
  }
  await assert.rejects(other.responses.create({ model: 'gpt-5', input: 'x', previous_response_id: created.id }), (e: any) => e.status === 400 && e.error.warden_code === 'WARDEN_PREVIOUS_RESPONSE_NOT_FOUND');

  await assert.rejects(client.responses.cancel(created.id), (e: any) => e.status === 400 && /already completed/.test(e.error.message));
  await client.responses.delete(created.id);
  await assert.rejects(client.responses.retrieve(created.id), (e: any) => e.status === 404);
});

test('background responses run before batches, and one cancelled while it waits never runs', async () => {
  const client = sdk(alice);
  // A Message Batch of 8 requests takes the single runner slot first.
  const anthropic = new Anthropic({ apiKey: alice, baseURL: w.url, maxRetries: 0 });
  const batch = await anthropic.messages.batches.create({ requests: Array.from({ length: 8 }, (_, i) => ({ custom_id: `b${i}`, params: { model: 'claude-sonnet-5', max_tokens: 8, messages: [{ role: 'user' as const, content: `item ${i}` }] } })) });
  await new Promise((r) => setTimeout(r, 100));
  const first = await client.responses.create({ model: 'gpt-5', input: 'First.', background: true });
  const second = await client.responses.create({ model: 'gpt-5', input: 'Second.', background: true });
  const cancelled = await client.responses.cancel(second.id);
  assert.equal(cancelled.status, 'cancelled');
  assert.equal((await untilDone(client, first.id)).status, 'completed');
  const b = await anthropic.messages.batches.retrieve(batch.id);
  assert.equal(b.processing_status, 'in_progress', 'the background response did not wait for the batch');
  assert.equal((await client.responses.retrieve(second.id)).status, 'cancelled');
  assert.deepEqual(await events((e) => e.client.batch_id === second.id, 1, 500), [], 'the cancelled response never ran');
  assert.deepEqual(await client.responses.cancel(second.id).then((r) => r.status), 'cancelled', 'cancelling again changes nothing');
  await anthropic.messages.batches.cancel(batch.id);

  // A response that did not come from background mode cannot be cancelled.
  const plain = await client.responses.create({ model: 'gpt-5', input: 'Plain.' });
  await assert.rejects(client.responses.cancel(plain.id), (e: any) => e.status === 400 && /Only responses created with `background: true`/.test(e.error.message));
});

test('a background response refused when it runs reads as failed, with the refusal', async () => {
  const client = sdk(alice);
  // no input: the upstream refuses it when it runs
  const r = await client.responses.create({ model: 'gpt-5', background: true } as never);
  const done = await untilDone(client, r.id);
  assert.equal(done.status, 'failed');
  assert.ok(done.error?.message, JSON.stringify(done.error));
});

test('bad background requests get OpenAI error JSON', async () => {
  const post = async (body: object, key: string | null = alice) => {
    const r = await fetch(`${w.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: JSON.stringify(body) });
    return { status: r.status, body: await r.json() as any };
  };
  const cases: [object, string | null, number, RegExp][] = [
    [{ model: 'gpt-5', input: 'x', background: true, store: false }, alice, 400, /requires `store: true`/],
    [{ input: 'x', background: true }, alice, 400, /model/],
    [{ model: 'gpt-5', input: 'x', background: true }, null, 401, /Missing API key/],
  ];
  for (const [body, key, status, message] of cases) {
    const r = await post(body, key);
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.match(r.body.error.message, message);
  }
  const created = await sdk(alice).responses.create({ model: 'gpt-5', input: 'x', background: true });
  const streamed = await fetch(`${w.url}/v1/responses/${created.id}?stream=true`, { headers: { authorization: `Bearer ${alice}` } });
  assert.equal(streamed.status, 400);
  assert.match(((await streamed.json()) as any).error.message, /created without `stream: true`/);
  await assert.rejects(sdk(alice).responses.delete(created.id), (e: any) => e.status === 400 && /cancel it before deleting/.test(e.error.message));

  // Polling counts against the per-key limit on reading stored responses (600 a minute, bursts of 300).
  const mine = await sdk(bob).responses.create({ model: 'gpt-5', input: 'x', background: true });
  let status = 200;
  for (let n = 0; n < 400 && status === 200; n++) {
    status = (await fetch(`${w.url}/v1/responses/${mine.id}`, { headers: { authorization: `Bearer ${bob}` } })).status;
  }
  assert.equal(status, 429, 'polling as fast as it can, a key meets the limit');
});
