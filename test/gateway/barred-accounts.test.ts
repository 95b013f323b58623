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
  return { status: r.status, retryAfter: r.headers.get('retry-after'), type: json.error?.type, code: json.error?.warden_code, message: json.error?.message as string | undefined, body: json };
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

test('a barred account is refused the model list and a model\'s card with the body a model call gets, in its own API\'s format', async () => {
  const frank = await t.account('frank-models', 'email_verified');
  const other = await t.account('gina-models', 'email_verified');
  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
  const anthropicHeaders = (key: string) => ({ 'x-api-key': key, 'anthropic-version': '2023-06-01' });
  for (const level of ['suspend', 'verify']) {
    await verdict(frank.id, level);
    const refused = await call(frank.key, 'POST', '/v1/chat/completions', chat);
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    const { id: _id, ...expected } = refused.body.error;
    for (const path of ['/v1/models', '/v1/models/gpt-4o-mini']) {
      const r = await call(frank.key, 'GET', path);
      assert.equal(r.status, 403, `${level}: GET ${path}: ${JSON.stringify(r.body)}`);
      const { id: _rid, ...error } = r.body.error;
      assert.deepEqual(error, expected, `${level}: GET ${path} answers as the chat completion did`);
      assert.equal(r.retryAfter, null, `${level}: GET ${path}: nothing to wait for`);
      const anthropic = await fetch(`${t.url}${path}`, { headers: anthropicHeaders(frank.key) });
      const body = await anthropic.json() as any;
      assert.equal(anthropic.status, 403, `${level}: GET ${path} (Anthropic)`);
      assert.deepEqual([body.type, body.error.type, body.error.message], ['error', 'permission_error', expected.message], `${level}: GET ${path} (Anthropic)`);
    }
  }
  // Another account's key lists and reads the models; lifted, so does this one's.
  const listed = await call(other.key, 'GET', '/v1/models');
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  assert.ok(listed.body.data.some((m: any) => m.id === 'gpt-4o-mini'), 'an unbarred key lists the models');
  assert.equal((await call(other.key, 'GET', '/v1/models/gpt-4o-mini')).status, 200);
  await verdict(frank.id, null);
  assert.equal((await call(frank.key, 'GET', '/v1/models')).status, 200);
  assert.equal((await call(frank.key, 'GET', '/v1/models/gpt-4o-mini')).status, 200);
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

test('a verify verdict refuses an unverified account of an enterprise organisation: the verification asked for is the account\'s own', async () => {
  const org = await t.admin('/orgs', { name: 'Big Co', tier: 'enterprise' });
  const fresh = await t.admin('/accounts', { name: 'erin-new', email: 'erin-new@example.org', tier: 'unverified', org_id: org.id });
  const key = (await t.admin(`/accounts/${fresh.id}/keys`, { name: 'k' })).secret as string;
  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
  assert.equal((await call(key, 'POST', '/v1/chat/completions', chat)).status, 200, 'served at the organisation\'s tier before the verdict');
  await verdict(fresh.id, 'verify');
  for (const [method, path, body] of [['POST', '/v1/chat/completions', chat], ['GET', '/v1/batches'], ['POST', '/v1/responses', { model: 'gpt-4o-mini', input: 'x', background: true }]] as Array<[string, string, object?]>) {
    const r = await call(key, method, path, body);
    assert.equal(r.status, 403, `${method} ${path}: ${JSON.stringify(r.body)}`);
    assert.equal(r.code, 'WARDEN_VERIFICATION_REQUIRED', `${method} ${path}`);
  }
  // Verified itself: served (as under shape).
  await t.admin(`/accounts/${fresh.id}/tier`, { tier: 'identity_verified', reason: 'passport checked' });
  assert.equal((await call(key, 'POST', '/v1/chat/completions', chat)).status, 200);
  assert.equal((await call(key, 'GET', '/v1/batches')).status, 200);
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

/** Until an OpenAI batch has finished, or an Anthropic one ended. */
async function batchDone(key: string, path: string, done: (b: any) => boolean): Promise<any> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await call(key, 'GET', path);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    if (done(r.body)) return r.body;
    if (Date.now() > deadline) throw new Error(`${path} not done: ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}
/** The answer to one call with an Anthropic client's headers (a JSON or a multipart body). */
async function anthropicCall(key: string, method: string, path: string, body?: object | FormData) {
  const r = await fetch(`${t.url}${path}`, {
    method,
    headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'files-api-2025-04-14', ...(body && !(body instanceof FormData) ? { 'content-type': 'application/json' } : {}) },
    body: body instanceof FormData ? body : body ? JSON.stringify(body) : undefined,
  });
  const json = await r.json() as any;
  return { status: r.status, retryAfter: r.headers.get('retry-after'), body: json };
}
const batchLine = (id: string) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content: 'Name a river.' }] } });
const fileForm = (purpose: string | null, text: string) => {
  const form = new FormData();
  if (purpose) form.append('purpose', purpose);
  form.append('file', new Blob([text]), 'input.jsonl');
  return form;
};
async function upload(key: string, text: string): Promise<any> {
  const r = await fetch(`${t.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: fileForm('batch', text) });
  assert.equal(r.status, 200);
  return r.json();
}

test('a barred account gets the policy\'s refusal on every batch and files route: nothing read back, nothing uploaded, nothing queued', async () => {
  const dana = await t.account('dana-batches', 'email_verified');
  // Before the verdict: an OpenAI batch with its output file, an Anthropic batch with its results, an input file of each API.
  const input = await upload(dana.key, batchLine('one') + '\n');
  const created = await call(dana.key, 'POST', '/v1/batches', { input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  const batch = await batchDone(dana.key, `/v1/batches/${created.body.id}`, (b) => b.status === 'completed');
  assert.ok(batch.output_file_id);
  const msgBatch = await anthropicCall(dana.key, 'POST', '/v1/messages/batches', { requests: [{ custom_id: 'one', params: { model: 'claude-sonnet-5', max_tokens: 20, messages: [{ role: 'user', content: 'Name a lake.' }] } }] });
  assert.equal(msgBatch.status, 200, JSON.stringify(msgBatch.body));
  const ended = await batchDone(dana.key, `/v1/messages/batches/${msgBatch.body.id}`, (b) => b.processing_status === 'ended');
  const anthropicFile = await anthropicCall(dana.key, 'POST', '/v1/files', fileForm(null, 'Some notes.\n'));
  assert.equal(anthropicFile.status, 200, JSON.stringify(anthropicFile.body));

  for (const [level, code, message] of [
    ['suspend', 'WARDEN_ACCOUNT_SUSPENDED', /suspended .*To appeal, contact trust@example\.com\./],
    ['verify', 'WARDEN_VERIFICATION_REQUIRED', /identity verification .*Verify at https:\/\/example\.com\/account\/verify/],
  ] as const) {
    await verdict(dana.id, level);
    const openaiRoutes: Array<[string, string, object?]> = [
      ['GET', '/v1/files'], ['GET', `/v1/files/${input.id}`], ['GET', `/v1/files/${input.id}/content`],
      ['GET', `/v1/files/${batch.output_file_id}`], ['GET', `/v1/files/${batch.output_file_id}/content`], ['DELETE', `/v1/files/${batch.output_file_id}`],
      ['POST', '/v1/batches', { input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' }],
      ['GET', '/v1/batches'], ['GET', `/v1/batches/${batch.id}`], ['POST', `/v1/batches/${batch.id}/cancel`],
    ];
    for (const [method, path, body] of openaiRoutes) {
      const r = await call(dana.key, method, path, body);
      assert.equal(r.status, 403, `${level}: ${method} ${path}: ${JSON.stringify(r.body)}`);
      assert.deepEqual([r.type, r.code], ['permission_error', code], `${level}: ${method} ${path}`);
      assert.match(r.message!, message, `${level}: ${method} ${path}`);
      assert.equal(r.retryAfter, null, `${level}: ${method} ${path}: nothing to wait for`);
    }
    const uploaded = await fetch(`${t.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${dana.key}` }, body: fileForm('batch', batchLine('two') + '\n') });
    const uploadedBody = await uploaded.json() as any;
    assert.deepEqual([uploaded.status, uploadedBody.error?.warden_code], [403, code], `${level}: POST /v1/files`);

    const anthropicRoutes: Array<[string, string, (object | FormData)?]> = [
      ['POST', '/v1/messages/batches', { requests: [{ custom_id: 'two', params: { model: 'claude-sonnet-5', max_tokens: 20, messages: [{ role: 'user', content: 'x' }] } }] }],
      ['GET', '/v1/messages/batches'], ['GET', `/v1/messages/batches/${ended.id}`], ['GET', `/v1/messages/batches/${ended.id}/results`],
      ['POST', `/v1/messages/batches/${ended.id}/cancel`], ['DELETE', `/v1/messages/batches/${ended.id}`],
      ['POST', '/v1/files', fileForm(null, 'More notes.\n')], ['GET', '/v1/files'], ['GET', `/v1/files/${anthropicFile.body.id}`], ['DELETE', `/v1/files/${anthropicFile.body.id}`],
    ];
    for (const [method, path, body] of anthropicRoutes) {
      const r = await anthropicCall(dana.key, method, path, body);
      assert.equal(r.status, 403, `${level}: ${method} ${path} (Anthropic): ${JSON.stringify(r.body)}`);
      assert.deepEqual([r.body.type, r.body.error?.type], ['error', 'permission_error'], `${level}: ${method} ${path} (Anthropic)`);
      assert.match(r.body.error.message, message, `${level}: ${method} ${path} (Anthropic)`);
      assert.equal(r.retryAfter, null);
    }
  }

  // Lifted: everything is there as it was, and the refused creations stored and queued nothing.
  await verdict(dana.id, null);
  assert.equal((await call(dana.key, 'GET', `/v1/files/${batch.output_file_id}`)).status, 200);
  assert.equal((await call(dana.key, 'GET', `/v1/messages/batches/${ended.id}`)).status, 200);
  assert.equal((await anthropicCall(dana.key, 'GET', `/v1/files/${anthropicFile.body.id}`)).status, 200);
  assert.deepEqual((await call(dana.key, 'GET', '/v1/batches')).body.data.map((b: any) => b.id), [batch.id]);
  assert.deepEqual((await anthropicCall(dana.key, 'GET', '/v1/messages/batches')).body.data.map((b: any) => b.id), [ended.id]);
  const files = (await call(dana.key, 'GET', '/v1/files')).body.data.map((f: any) => f.id).sort();
  assert.deepEqual(files, [anthropicFile.body.id, batch.output_file_id, input.id].sort());
});
