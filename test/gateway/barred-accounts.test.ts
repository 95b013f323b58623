// An account a verdict bars (suspend, verify) is refused on every route with the policy's own
// refusal, as on the model endpoints: its stored responses are neither read, listed nor deleted, a
// background response is refused rather than queued, and polling one never turns into a 429 an
// SDK retries for ever. A `verify` verdict stops refusing once the account is identity verified;
// a suspension in identity names the same appeal contact as a suspending verdict.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startTestWarden, TEST_ADMIN_TOKEN, type TestWarden } from '../helpers/warden.ts';
import { untilDone } from '../helpers/responses.ts';

let t: TestWarden;
before(async () => { t = await startTestWarden(); });
after(async () => { await t.close(); });

const sdk = (key: string) => new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });
/** Set (or, with null, lift) an operator verdict on an account. */
async function verdict(id: string, level: string | null): Promise<void> {
  if (level !== null) { await t.admin('/detect/verdicts', { kind: 'account', id, level, note: 'test' }); return; }
  const r = await fetch(`${t.url}/admin/detect/verdicts`, { method: 'DELETE', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'account', id }) });
  assert.equal(r.status, 204);
}
/** The answer to one raw call: status, retry-after and the error. */
async function call(key: string, method: string, path: string, body?: object) {
  const r = await fetch(`${t.url}${path}`, {
    method, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
  });
  const json = await r.json() as any;
  return { status: r.status, retryAfter: r.headers.get('retry-after'), type: json.error?.type, code: json.error?.code, message: json.error?.message as string | undefined, body: json };
}

test('a suspended account gets the suspension, with the appeal contact, on every stored-response route and for a background response', async () => {
  const alice = await t.account('alice-barred', 'email_verified');
  const client = sdk(alice.key);
  const stored = await client.responses.create({ model: 'gpt-4o-mini', input: 'Keep this.', max_output_tokens: 20 });
  const background = await client.responses.create({ model: 'gpt-4o-mini', input: 'Later.', background: true, max_output_tokens: 20 });
  const finished = (await untilDone(client, background.id)).status;

  await verdict(alice.id, 'suspend');
  const routes: Array<[string, string, object?]> = [
    ['GET', `/v1/responses/${stored.id}`], ['GET', `/v1/responses/${stored.id}/input_items`], ['DELETE', `/v1/responses/${stored.id}`],
    ['GET', `/v1/responses/${background.id}`], ['GET', `/v1/responses/${background.id}/input_items`], ['POST', `/v1/responses/${background.id}/cancel`],
    ['GET', `/v1/responses/${background.id}?stream=true`],
    ['POST', '/v1/responses', { model: 'gpt-4o-mini', input: 'More.', background: true }],
    ['POST', '/v1/responses', { model: 'gpt-4o-mini', input: 'More.' }],
  ];
  for (const [method, path, body] of routes) {
    const r = await call(alice.key, method, path, body);
    assert.equal(r.status, 403, `${method} ${path}: ${JSON.stringify(r.body)}`);
    assert.equal(r.type, 'permission_error');
    assert.equal(r.code, 'WARDEN_ACCOUNT_SUSPENDED');
    assert.match(r.message!, /suspended .*To appeal, contact trust@example\.com\./, `${method} ${path}`);
    assert.equal(r.retryAfter, null, `${method} ${path}: nothing to wait for`);
  }

  // Lifted: everything is there again (the refused background request queued nothing).
  await verdict(alice.id, null);
  assert.equal((await client.responses.retrieve(stored.id)).id, stored.id);
  assert.equal((await client.responses.retrieve(background.id)).status, finished);
  assert.ok((await client.responses.inputItems.list(stored.id)).data.length >= 1);
});

test('a verify verdict refuses with the verification message until the account is identity verified, then its keys keep working', async () => {
  const bob = await t.account('bob-verify', 'email_verified');
  const client = sdk(bob.key);
  const stored = await client.responses.create({ model: 'gpt-4o-mini', input: 'Keep this too.', max_output_tokens: 20 });
  await verdict(bob.id, 'verify');
  for (const [method, path, body] of [
    ['GET', `/v1/responses/${stored.id}`], ['DELETE', `/v1/responses/${stored.id}`],
    ['POST', '/v1/responses', { model: 'gpt-4o-mini', input: 'x', background: true }],
    ['POST', '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }],
  ] as Array<[string, string, object?]>) {
    const r = await call(bob.key, method, path, body);
    assert.equal(r.status, 403, `${method} ${path}: ${JSON.stringify(r.body)}`);
    assert.equal(r.code, 'WARDEN_VERIFICATION_REQUIRED');
    assert.match(r.message!, /identity verification .*keep working once it is done\. Verify at https:\/\/example\.com\/account\/verify/);
  }

  // Verified: what the message promised. Served, and no more openly than under the levels below (no raw reasoning).
  await t.admin(`/accounts/${bob.id}/tier`, { tier: 'identity_verified', reason: 'passport checked' });
  assert.equal((await client.responses.retrieve(stored.id)).id, stored.id);
  const chat = await call(bob.key, 'POST', '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(chat.status, 200, JSON.stringify(chat.body));
  const [event] = await t.events((e) => e.account_id === bob.id && e.flavour === 'openai.chat' && e.response.status === 200);
  assert.equal(event.enforcement.verdict, 'verify');
  assert.ok(event.enforcement.policy.includes('verdict:verify'), JSON.stringify(event.enforcement));
  const explained = await t.admin('/policy/explain', { tier: 'identity_verified', verdict: 'verify' });
  assert.equal(explained.refusal, null);
  assert.equal(explained.capabilities.reasoning, 'none', 'the shape verdict\'s restrictions hold');
});

test('an account suspended in identity is told the appeal contact, as a suspending verdict says it', async () => {
  const carol = await t.account('carol-suspended', 'email_verified');
  await t.admin(`/accounts/${carol.id}/suspend`, { reason: 'chargebacks' });
  for (const [method, path, body] of [
    ['POST', '/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }],
    ['GET', '/v1/models'],
  ] as Array<[string, string, object?]>) {
    const r = await call(carol.key, method, path, body);
    assert.equal(r.status, 403, `${method} ${path}: ${JSON.stringify(r.body)}`);
    assert.equal(r.code, 'WARDEN_ACCOUNT_SUSPENDED');
    assert.equal(r.message, 'This account is suspended. To appeal, contact trust@example.com.');
  }
  const anthropic = await fetch(`${t.url}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': carol.key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-sonnet-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const body = await anthropic.json() as any;
  assert.equal(anthropic.status, 403);
  assert.deepEqual([body.type, body.error.type, body.error.message], ['error', 'permission_error', 'This account is suspended. To appeal, contact trust@example.com.']);
});
