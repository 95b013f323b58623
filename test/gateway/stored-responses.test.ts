// Stored responses read back through the gateway with the official OpenAI SDK (`responses.retrieve`,
// `responses.inputItems.list`, `responses.delete`): only by the account that created them, and
// governed as the answer was (reasoning withheld, text watermarked the same); another customer's id
// reads as one that does not exist.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startHarness, type Harness } from '../helpers/gateway.ts';
import { answerOwnershipHooks, MemoryAnswerOwnersStore } from '../../src/identity/index.ts';
import { inlinePolicyHooks } from '../helpers/policy.ts';

const ALICE = 'wk_test_alice_0123456789abcdefghijkaaaaaa';
const BOB = 'wk_test_bob_0123456789abcdefghijklmbbbbbb';

let h: Harness;
let bare: Harness;
const owners = new MemoryAnswerOwnersStore();
let policy: ReturnType<typeof inlinePolicyHooks>;
before(async () => {
  policy = inlinePolicyHooks('version: 1\ntiers:\n  email_verified: { reasoning: none, watermark: true }\n', { watermarkSecret: 'stored-responses-test-master-secret' });
  h = await startHarness({
    keys: [{ secret: ALICE, accountId: 'acc_alice' }, { secret: BOB, accountId: 'acc_bob' }],
    hooks: [answerOwnershipHooks(owners, { retentionDays: 30 }), policy.hooks],
  });
  bare = await startHarness({ keys: [{ secret: ALICE, accountId: 'acc_alice' }] });
});
after(async () => { await h.close(); await bare.close(); policy.cleanup(); });

const client = (key: string, harness = h) => new OpenAI({ apiKey: key, baseURL: `${harness.url}/v1`, maxRetries: 0 });
const notFound = (id: string) => (e: any) => e.status === 404 && e.error.warden_code === 'WARDEN_NOT_FOUND' && e.error.message === `Response with id '${id}' not found.`;

test('the owner reads its response back as it was answered: reasoning withheld, the same marked text', async () => {
  const alice = client(ALICE);
  const made = await alice.responses.create({ model: 'gpt-5', input: 'Explain in detail why the sea is salty.', reasoning: { effort: 'low', summary: 'auto' } });
  const read = await alice.responses.retrieve(made.id);
  assert.equal(read.id, made.id);
  assert.equal(read.output_text, made.output_text, 'marked the same as the answer was');
  assert.ok(made.output_text.length > 0);
  const reasoning = read.output.filter((o) => o.type === 'reasoning') as any[];
  assert.ok(reasoning.length > 0, 'the mock reasons on gpt-5');
  for (const r of reasoning) { assert.deepEqual(r.summary, []); assert.equal(r.content, undefined); }

  // What the upstream keeps is not what the caller may see: read past Warden, the text is unmarked.
  const upstream = await (await fetch(`${h.mockUrl}/v1/responses/${made.id}`)).json() as any;
  assert.notEqual(upstream.output.find((o: any) => o.type === 'message').content[0].text, read.output_text, 'the upstream holds the unmarked text');

  const items = await alice.responses.inputItems.list(made.id);
  assert.equal((items.data[0] as any).content[0].text, 'Explain in detail why the sea is salty.');

  // A response made when the account could see reasoning summaries (here: straight at the
  // upstream, recorded as Alice's) is read back under today's policy: the summary is withheld.
  const earlier = await (await fetch(`${h.mockUrl}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-5', input: 'Why is the sky blue?', reasoning: { effort: 'low', summary: 'auto' } }) })).json() as any;
  assert.ok(earlier.output.some((o: any) => o.type === 'reasoning' && o.summary.length > 0), 'the upstream wrote a summary');
  await owners.record([{ id: earlier.id, accountId: 'acc_alice', orgId: null, at: new Date().toISOString(), model: 'gpt-5' }]);
  const reread = await alice.responses.retrieve(earlier.id);
  for (const r of reread.output.filter((o) => o.type === 'reasoning') as any[]) assert.deepEqual(r.summary, []);
  assert.notEqual(reread.output_text, earlier.output.find((o: any) => o.type === 'message').content[0].text, 'and its text marked');
});

test('another customer, an unknown id, a gateway that keeps no owners: all read as not found; the owner deletes', async () => {
  const alice = client(ALICE);
  const bob = client(BOB);
  const made = await alice.responses.create({ model: 'gpt-4o-mini', input: 'My account number is 12345.', max_output_tokens: 20 });
  await assert.rejects(bob.responses.retrieve(made.id), notFound(made.id));
  await assert.rejects(bob.responses.inputItems.list(made.id), notFound(made.id));
  await assert.rejects(bob.responses.delete(made.id), notFound(made.id));
  await assert.rejects(bob.responses.retrieve('resp_0000'), notFound('resp_0000'));
  await assert.rejects(client(ALICE, bare).responses.retrieve(made.id), notFound(made.id), 'without an owner record nothing is served');
  assert.equal((await alice.responses.retrieve(made.id)).id, made.id, 'still there for its owner');

  const stream = await fetch(`${h.url}/v1/responses/${made.id}?stream=true`, { headers: { authorization: `Bearer ${ALICE}` } });
  assert.equal(stream.status, 400);
  assert.equal(((await stream.json()) as any).error.param, 'stream');

  const deleted = await alice.responses.delete(made.id) as unknown as { id: string; deleted: boolean };
  assert.deepEqual([deleted.id, deleted.deleted], [made.id, true]);
  await assert.rejects(alice.responses.retrieve(made.id), (e: any) => e.status === 404, 'gone upstream');
  const noKey = await fetch(`${h.url}/v1/responses/${made.id}`);
  assert.equal(noKey.status, 401);
  // A hostile id is an id like any other: nobody's, so not found (and never a path upstream).
  const hostile = await fetch(`${h.url}/v1/responses/x%2F..%2F..%2Fv1%2Fmodels`, { headers: { authorization: `Bearer ${ALICE}` } });
  assert.equal(hostile.status, 404);
  assert.equal(((await hostile.json()) as any).error.message, "Response with id 'x/../../v1/models' not found.");
});

test('every answer on a stored response names the request: input items, delete, and the upstream\'s 404 after the delete', async () => {
  const alice = client(ALICE);
  const made = await alice.responses.create({ model: 'gpt-4o-mini', input: 'Name a river.' });
  const listed = await alice.responses.inputItems.list(made.id).withResponse();
  assert.ok(listed.request_id, 'inputItems.list has a request id the app can log');
  assert.equal(listed.response.headers.get('x-warden-request-id'), listed.request_id, 'the id is Warden\'s, findable in its events');
  const deleted = await alice.responses.delete(made.id).withResponse();
  assert.ok(deleted.request_id, 'delete has a request id');
  const err = await alice.responses.retrieve(made.id).catch((e) => e);
  assert.equal(err.status, 404, `the upstream's 404 after the delete (${err})`);
  assert.ok(err.requestID, 'the SDK error names the request');
});

test('a response made with `store: false` is not kept: reading it back is 404 and continuing it 400, as the API answers', async () => {
  const alice = client(ALICE);
  const made = await alice.responses.create({ model: 'gpt-4.1', input: 'Do not keep this.', store: false });
  assert.equal((made as any).store, false);
  // The owner is recorded, so the request reaches the upstream, which keeps nothing: its answer is passed on.
  await assert.rejects(alice.responses.retrieve(made.id), (e: any) => e.status === 404 && e.error.message === `Response with id '${made.id}' not found.`, 'nothing to read back');
  await assert.rejects(
    alice.responses.create({ model: 'gpt-4.1', input: 'And then?', previous_response_id: made.id }),
    (e: any) => e.status === 400 && e.error.code === 'previous_response_not_found' && e.error.param === 'previous_response_id',
    'nothing to continue',
  );
  const kept = await alice.responses.create({ model: 'gpt-4.1', input: 'Keep this.' });
  assert.equal((await alice.responses.retrieve(kept.id)).id, kept.id, 'the default keeps it');
});
