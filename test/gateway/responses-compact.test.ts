// The Responses API's compaction (`client.responses.compact`, POST /v1/responses/compact) through a
// whole `warden serve` with the official OpenAI SDK: served as a governed Responses request (the
// caller's key, limits and event; no output budget written in, which the API would refuse), its
// compacted window handed back in the next request, and another customer's response or items
// refused. Before, the path was taken for a stored response's id: 405 "Method POST is not allowed"
// with `Allow: GET, HEAD, DELETE`, a bare APIError.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';

let t: TestWarden;
let alice: { id: string; key: string };
let bob: { id: string; key: string };
before(async () => {
  t = await startTestWarden();
  alice = await t.account('compact-alice', 'email_verified');
  bob = await t.account('compact-bob', 'email_verified');
});
after(async () => { await t.close(); });

const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });

const conversation: OpenAI.Responses.ResponseInput = [
  { role: 'user', content: 'Plan a three-day walking tour of Rome for a first visit.' },
  { role: 'assistant', content: 'Day one: the Colosseum, the Forum and the Palatine Hill.' },
  { role: 'user', content: 'What about day two?' },
];

test('responses.compact: the conversation compacted, metered and recorded as the caller\'s; no output budget sent', async () => {
  const { data: compacted, response } = await client(alice.key).responses.compact({ model: 'gpt-5', input: conversation }).withResponse();
  assert.equal(compacted.object, 'response.compaction', `a compaction, not a response: ${JSON.stringify(compacted).slice(0, 300)}`);
  const types = compacted.output.map((o) => `${o.type}${'role' in o ? `:${o.role}` : ''}`);
  assert.deepEqual(types, ['message:user', 'message:user', 'compaction'], `the user messages, then one compaction item: ${types}`);
  const item = compacted.output.at(-1) as OpenAI.Responses.ResponseCompactionItem;
  assert.ok(item.encrypted_content.length > 0 && item.id.startsWith('cmp_'), `an encrypted compaction item: ${JSON.stringify(item).slice(0, 120)}`);
  assert.ok(compacted.usage.input_tokens > 0 && compacted.usage.output_tokens > 0, `usage as billed: ${JSON.stringify(compacted.usage)}`);
  // The tier's output ceiling is not written in: the API takes no `max_output_tokens` here.
  assert.equal(response.headers.get('x-warden-shaping'), null, `nothing shaped: ${response.headers.get('x-warden-shaping')}`);

  const [event] = await t.events((e) => e.response.answer_id === compacted.id);
  assert.ok(event, 'the compaction is recorded');
  assert.equal(event.account_id, alice.id);
  assert.equal(event.flavour, 'openai.responses');
  assert.equal(event.request.compaction, true, 'marked as a compaction');
  assert.equal(event.response.status, 200);
  assert.equal(event.response.input_tokens, compacted.usage.input_tokens, 'metered from the upstream\'s usage');
  assert.equal(event.response.output_tokens, compacted.usage.output_tokens);
  assert.equal(event.response.output_chars, 0, 'the user messages echoed back are not the answer\'s text');
  assert.ok(event.response.item_ids?.includes(item.id), `its items are the caller's to hand back: ${event.response.item_ids}`);
});

test('the compacted window carries the conversation on; another customer cannot use it or the response it compacts', async () => {
  const a = client(alice.key);
  const compacted = await a.responses.compact({ model: 'gpt-5', input: conversation });
  const next = await a.responses.create({ model: 'gpt-5', input: [...compacted.output as OpenAI.Responses.ResponseInputItem[], { role: 'user', content: 'And day three?' }] });
  assert.ok(next.status === 'completed' || next.status === 'incomplete', `the next turn is answered: ${next.status}`);

  // Bob handing back Alice's compacted items (with their ids) is refused before the upstream.
  await assert.rejects(
    client(bob.key).responses.create({ model: 'gpt-5', input: [...compacted.output as OpenAI.Responses.ResponseInputItem[], { role: 'user', content: 'And day three?' }] }),
    (e: unknown) => e instanceof OpenAI.APIError && e.status !== undefined && e.status >= 400 && e.status < 500 && /not found|not available/i.test(e.message),
  );

  // A stored response continued by compaction: its owner may, another customer reads it as unknown.
  const first = await a.responses.create({ model: 'gpt-4.1-mini', input: 'Remember the number 42.' });
  const own = await a.responses.compact({ model: 'gpt-4.1-mini', previous_response_id: first.id, input: 'What was the number?' });
  assert.equal(own.output.filter((o) => o.type === 'message').length, 2, 'the earlier turn\'s user message and the new one');
  await assert.rejects(client(bob.key).responses.compact({ model: 'gpt-4.1-mini', previous_response_id: first.id }), (e: unknown) => {
    assert.ok(e instanceof OpenAI.BadRequestError, `the SDK's BadRequestError: ${String(e)}`);
    assert.equal((e.error as { warden_code?: string }).warden_code, 'WARDEN_PREVIOUS_RESPONSE_NOT_FOUND');
    return true;
  });
});

test('a compaction asked to stream, run in the background or given an output budget: 400 naming the parameter, as the API answers', async () => {
  for (const [param, extra] of [['stream', { stream: true }], ['background', { background: true }], ['max_output_tokens', { max_output_tokens: 500 }]] as const) {
    await assert.rejects(client(alice.key).responses.compact({ model: 'gpt-5', input: 'Compact me.', ...extra } as OpenAI.Responses.ResponseCompactParams), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `${param}: the SDK's BadRequestError, not ${String(e)}`);
      assert.equal(e.param, param);
      assert.equal(e.message, `400 Unknown parameter: '${param}'.`);
      return true;
    });
  }
});
