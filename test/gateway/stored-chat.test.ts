// Chat Completions created with `store: true` read back through Warden with the official OpenAI SDK
// (`chat.completions.retrieve`, `list`, `update`, `delete`, `messages.list`): each account sees only
// its own, a list pages through the SDK's auto-paging over the caller's completions only, and a
// suspended account reads nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestWarden, TEST_ADMIN_TOKEN, type TestWarden } from '../helpers/warden.ts';

let t: TestWarden;
before(async () => { t = await startTestWarden(); });
after(async () => { await t.close(); });

const sdk = (key: string) => new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });
const notFound = (id: string) => (e: any) => e.status === 404 && e.error.warden_code === 'WARDEN_NOT_FOUND' && e.error.message === `Chat completion with id '${id}' not found.`;
const ask = (client: OpenAI, text: string, extra: Record<string, unknown> = {}) =>
  client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: text }], store: true, ...extra } as any) as Promise<OpenAI.ChatCompletion>;

test('the owner reads, updates, lists the messages of and deletes its stored completion; another account finds none of it', async () => {
  const alice = sdk((await t.account('alice-chat', 'email_verified')).key);
  const bob = sdk((await t.account('bob-chat', 'email_verified')).key);
  const made = await ask(alice, 'Why is the sea salty?', { metadata: { topic: 'sea' } });

  const read = await alice.chat.completions.retrieve(made.id);
  assert.equal(read.id, made.id);
  assert.equal(read.choices[0].message.content, made.choices[0].message.content, 'read back as it was answered');
  assert.deepEqual((read as any).metadata, { topic: 'sea' });

  const messages = await alice.chat.completions.messages.list(made.id);
  assert.deepEqual(messages.data.map((m) => [m.role, m.content]), [['system', 'Be brief.'], ['user', 'Why is the sea salty?']]);
  assert.ok(messages.data.every((m) => typeof m.id === 'string' && m.id.length > 0), 'each stored message has an id');

  const attempts = [() => bob.chat.completions.retrieve(made.id), () => bob.chat.completions.messages.list(made.id), () => bob.chat.completions.update(made.id, { metadata: { x: '1' } }), () => bob.chat.completions.delete(made.id)];
  for (const attempt of attempts) await assert.rejects(attempt(), notFound(made.id), "another account's completion reads as one that does not exist");
  await assert.rejects(alice.chat.completions.retrieve('chatcmpl-unknown'), notFound('chatcmpl-unknown'));

  const updated = await alice.chat.completions.update(made.id, { metadata: { topic: 'ocean' } });
  assert.deepEqual((updated as any).metadata, { topic: 'ocean' });
  assert.equal(updated.choices[0].message.content, made.choices[0].message.content);

  const bad = await fetch(`${t.url}/v1/chat/completions/${made.id}`, { method: 'POST', headers: { authorization: `Bearer ${alice.apiKey}`, 'content-type': 'application/json' }, body: '{}' });
  const badBody = await bad.json() as any;
  assert.equal(bad.status, 400, 'an update without metadata is refused');
  assert.equal(badBody.error.param, 'metadata');
  assert.equal(badBody.error.type, 'invalid_request_error');

  const deleted = await alice.chat.completions.delete(made.id);
  assert.deepEqual([deleted.id, deleted.deleted, deleted.object], [made.id, true, 'chat.completion.deleted']);
  await assert.rejects(alice.chat.completions.retrieve(made.id), (e: any) => e.status === 404, 'gone upstream');
});

test("a list holds only the caller's stored completions, filtered by model and metadata, and pages through the SDK's auto-paging", async () => {
  const carol = sdk((await t.account('carol-chat', 'email_verified')).key);
  const dave = sdk((await t.account('dave-chat', 'email_verified')).key);
  const mine: string[] = [];
  for (let i = 0; i < 5; i++) {
    mine.push((await ask(carol, `Question ${i} of carol`, { metadata: { batch: i < 3 ? 'first' : 'second' } })).id);
    await ask(dave, `Question ${i} of dave`, { metadata: { batch: 'first' } });
  }
  await carol.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Not kept.' }] });
  const streamed = await carol.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'Streamed and kept.' }], store: true, stream: true });
  let streamedId = '';
  let streamedText = '';
  for await (const chunk of streamed) { streamedId = chunk.id; streamedText += chunk.choices[0]?.delta?.content ?? ''; }
  mine.push(streamedId);

  const seen: string[] = [];
  for await (const c of carol.chat.completions.list({ limit: 2 })) seen.push(c.id);
  assert.deepEqual(seen, mine, 'all of hers, oldest first, none of dave\'s or of those not kept');
  const firstPage = await carol.chat.completions.list({ limit: 2 });
  assert.deepEqual([firstPage.data.length, firstPage.has_more], [2, true]);
  assert.equal((firstPage as any).body.first_id, mine[0]);

  const newest = await carol.chat.completions.list({ order: 'desc', limit: 1 });
  assert.deepEqual(newest.data.map((c) => c.id), [streamedId]);
  assert.equal(newest.data[0].choices[0].message.content, streamedText, 'a streamed answer is kept as it was sent');

  const second: string[] = [];
  for await (const c of carol.chat.completions.list({ metadata: { batch: 'second' } })) second.push(c.id);
  assert.deepEqual(second, mine.slice(3, 5), 'filtered by metadata');
  const byModel = await carol.chat.completions.list({ model: 'gpt-4.1' });
  assert.deepEqual(byModel.data.map((c) => c.id), [streamedId], 'filtered by model');

  const daves: string[] = [];
  for await (const c of dave.chat.completions.list()) daves.push(c.id);
  assert.equal(daves.length, 5);
  assert.ok(daves.every((id) => !mine.includes(id)), "dave's list holds none of carol's");

  const badLimit = await fetch(`${t.url}/v1/chat/completions?limit=500`, { headers: { authorization: `Bearer ${carol.apiKey}` } });
  assert.equal(badLimit.status, 400);
  assert.equal(((await badLimit.json()) as any).error.param, 'limit');
});

test('a suspended account is refused on every stored-completion route', async () => {
  const erin = await t.account('erin-chat', 'email_verified');
  const made = await ask(sdk(erin.key), 'Keep this.');
  await t.admin('/detect/verdicts', { kind: 'account', id: erin.id, level: 'suspend', note: 'test' });
  const routes: Array<[string, string, object?]> = [
    ['GET', '/v1/chat/completions'], ['GET', `/v1/chat/completions/${made.id}`], ['GET', `/v1/chat/completions/${made.id}/messages`],
    ['POST', `/v1/chat/completions/${made.id}`, { metadata: {} }], ['DELETE', `/v1/chat/completions/${made.id}`],
  ];
  for (const [method, path, body] of routes) {
    const r = await fetch(`${t.url}${path}`, { method, headers: { authorization: `Bearer ${erin.key}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const json = await r.json() as any;
    assert.equal(r.status, 403, `${method} ${path}: ${JSON.stringify(json)}`);
    assert.equal(json.error.warden_code, 'WARDEN_ACCOUNT_SUSPENDED', `${method} ${path}`);
  }
  const lifted = await fetch(`${t.url}/admin/detect/verdicts`, { method: 'DELETE', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'account', id: erin.id }) });
  assert.equal(lifted.status, 204);
  assert.equal((await sdk(erin.key).chat.completions.retrieve(made.id)).id, made.id, 'readable again once lifted');
});
