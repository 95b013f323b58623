// Stored responses through the gateway: a customer continues its own response with
// `previous_response_id` (streamed or not, at once), another customer naming it is refused before
// anything reaches the upstream, and every answer's id is on its event.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';
import { answerOwnershipHooks, MemoryAnswerOwnersStore } from '../../src/identity/index.ts';

const ALICE = 'wk_test_alice_0123456789abcdefghijkaaaaaa';
const BOB = 'wk_test_bob_0123456789abcdefghijklmbbbbbb';

let h: Harness;
before(async () => {
  h = await startHarness({
    keys: [{ secret: ALICE, accountId: 'acc_alice' }, { secret: BOB, accountId: 'acc_bob' }],
    hooks: [answerOwnershipHooks(new MemoryAnswerOwnersStore(), { retentionDays: 30 })],
  });
});
after(async () => { await h.close(); });

const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${h.url}/v1`, maxRetries: 0 });

test('a customer continues its own response; another customer naming it is refused, and the upstream never sees it', async () => {
  const first = await client(ALICE).responses.create({ model: 'gpt-4o-mini', input: 'Remember the word: heliotrope.', max_output_tokens: 30 });
  const second = await client(ALICE).responses.create({ model: 'gpt-4o-mini', previous_response_id: first.id, input: 'Which word?', max_output_tokens: 30 });
  assert.equal(second.previous_response_id, first.id);

  await assert.rejects(
    client(BOB).responses.create({ model: 'gpt-4o-mini', previous_response_id: first.id, input: 'Repeat everything said so far.' }),
    (e: any) => e.status === 400 && e.error.code === 'WARDEN_PREVIOUS_RESPONSE_NOT_FOUND' && e.error.param === 'previous_response_id' && e.error.message === `Previous response with id '${first.id}' not found.`,
  );
  // an id nobody was given reads the same
  await assert.rejects(client(BOB).responses.create({ model: 'gpt-4o-mini', previous_response_id: 'resp_0000', input: 'x' }), (e: any) => e.status === 400 && e.error.code === 'WARDEN_PREVIOUS_RESPONSE_NOT_FOUND');

  const events = await storedEvents(h, 4);
  const byBob = events.filter((e) => e.account_id === 'acc_bob');
  assert.equal(byBob.length, 2);
  for (const e of byBob) {
    assert.equal(e.upstream, null, 'not forwarded');
    assert.equal(e.response.error_code, 'WARDEN_PREVIOUS_RESPONSE_NOT_FOUND');
    assert.deepEqual(e.enforcement.policy, ['refused:previous_response']);
  }
  const byAlice = events.filter((e) => e.account_id === 'acc_alice');
  assert.deepEqual(byAlice.map((e) => e.response.answer_id).sort(), [first.id, second.id].sort(), 'each answer id is on its event');
});

test('a streamed response can be continued the moment it ends; its id is on the event', async () => {
  const stream = await client(ALICE).responses.create({ model: 'gpt-4o-mini', input: 'Name a colour.', stream: true, max_output_tokens: 30 });
  let id = '';
  for await (const ev of stream) if (ev.type === 'response.created') id = ev.response.id;
  assert.match(id, /^resp_/);
  const next = await client(ALICE).responses.create({ model: 'gpt-4o-mini', previous_response_id: id, input: 'Another.', max_output_tokens: 30 });
  assert.equal(next.previous_response_id, id);
  await assert.rejects(client(BOB).responses.create({ model: 'gpt-4o-mini', previous_response_id: id, input: 'x' }), (e: any) => e.status === 400);
  const events = await storedEvents(h, 7);
  const streamed = events.find((e) => e.request.stream && e.flavour === 'openai.responses');
  assert.equal(streamed?.response.answer_id, id);
});

test('conversations cannot be named (they cannot be created here), nor background mode asked for (it cannot be fetched here); other APIs carry their answer ids too', async () => {
  await assert.rejects(
    client(ALICE).responses.create({ model: 'gpt-4o-mini', background: true, input: 'A long essay, please.' }),
    (e: any) => e.status === 400 && e.error.param === 'background',
  );
  await assert.rejects(
    client(ALICE).responses.create({ model: 'gpt-4o-mini', conversation: 'conv_123', input: 'hi' }),
    (e: any) => e.status === 400 && e.error.param === 'conversation',
  );
  const chat = await client(ALICE).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 });
  const streamed = await client(ALICE).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi there' }], max_tokens: 10, stream: true });
  let streamId = '';
  for await (const c of streamed) streamId = c.id;
  const events = await storedEvents(h, 12);
  const ids = new Set(events.filter((e) => e.flavour === 'openai.chat').map((e) => e.response.answer_id));
  assert.ok(ids.has(chat.id) && ids.has(streamId), [...ids].join(','));
});
