// Two different API keys on one request (`Authorization: Bearer` and `x-api-key`) are refused on
// every route, in the route's wire format, so that no route acts for one account and another for
// the other; the same key in both headers is one key.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';

let w: TestWarden;
after(async () => { await w?.close(); });

const json = { 'content-type': 'application/json' };
const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
const message = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });

/** Every kind of route that takes a key: model calls, token counting, stored responses, models, files and batches. */
function routes(): [string, string, Record<string, string>, string | FormData | undefined][] {
  const form = new FormData();
  form.append('purpose', 'user_data');
  form.append('file', new Blob(['note']), 'note.txt');
  return [
    ['POST', '/v1/chat/completions', json, chat],
    ['POST', '/v1/messages', { ...json, 'anthropic-version': '2023-06-01' }, message],
    ['POST', '/v1/messages/count_tokens', { ...json, 'anthropic-version': '2023-06-01' }, message],
    ['GET', '/v1/responses/resp_0123456789', {}, undefined],
    ['GET', '/v1/models', {}, undefined],
    ['POST', '/v1/files', {}, form],
    ['GET', '/v1/batches', {}, undefined],
    ['GET', '/v1/messages/batches', { 'anthropic-version': '2023-06-01' }, undefined],
  ];
}

test('different keys in Authorization and x-api-key: 401 WARDEN_AMBIGUOUS_API_KEY on every route; the same key twice is served', async () => {
  w = await startTestWarden();
  const a = await w.account('alice', 'email_verified');
  const b = await w.account('bob', 'email_verified');
  for (const [method, path, headers, body] of routes()) {
    const r = await fetch(`${w.url}${path}`, { method, headers: { ...headers, authorization: `Bearer ${a.key}`, 'x-api-key': b.key }, body });
    const text = await r.text();
    assert.equal(r.status, 401, `${method} ${path}: ${text.slice(0, 300)}`);
    const err = JSON.parse(text).error;
    assert.equal(err.warden_code, 'WARDEN_AMBIGUOUS_API_KEY', `${method} ${path}: ${text.slice(0, 300)}`);
    // in the route's format: Anthropic's for its routes (and /v1/models, with x-api-key), OpenAI's for the others
    const anthropic = path.startsWith('/v1/messages') || path === '/v1/models';
    assert.equal(JSON.parse(text).type, anthropic ? 'error' : undefined, `${method} ${path}: in the ${anthropic ? 'Anthropic' : 'OpenAI'} error format`);
    if (!anthropic) assert.equal(typeof err.type, 'string', `${method} ${path}: the OpenAI error has a type`);
  }
  for (const [method, path, headers, body] of routes()) {
    if (path === '/v1/responses/resp_0123456789') continue; // (unknown id: 404 either way)
    const r = await fetch(`${w.url}${path}`, { method, headers: { ...headers, authorization: `Bearer ${a.key}`, 'x-api-key': a.key }, body });
    assert.ok(r.status < 300, `${method} ${path} with the same key twice: ${r.status} ${(await r.text()).slice(0, 300)}`);
  }
  const refused = await w.events((e) => e.response.error_code === 'WARDEN_AMBIGUOUS_API_KEY', 2);
  assert.equal(refused.length, 2, 'both model calls are recorded as refused');
  assert.ok(refused.every((e) => e.account_id === null), 'under neither account');
});

test('a front\'s own Bearer token next to a Warden key in x-api-key (or the reverse): the Warden key is used', async () => {
  w ??= await startTestWarden();
  const a = await w.account('carol', 'email_verified');
  const frontToken = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmcm9udCJ9.c2lnbmF0dXJl'; // a JWT, as an IAM front sends
  for (const [method, path, headers, body] of routes()) {
    if (path === '/v1/responses/resp_0123456789') continue; // (unknown id: 404 either way)
    for (const [authorization, xApiKey] of [[`Bearer ${frontToken}`, a.key], [`Bearer ${a.key}`, frontToken]]) {
      const r = await fetch(`${w.url}${path}`, { method, headers: { ...headers, authorization, 'x-api-key': xApiKey }, body });
      assert.ok(r.status < 300, `${method} ${path} (${authorization.slice(0, 20)}...): ${r.status} ${(await r.text()).slice(0, 300)}`);
    }
  }
  // Neither value a Warden key: refused as an invalid key, not served.
  const r = await fetch(`${w.url}/v1/models`, { headers: { authorization: `Bearer ${frontToken}`, 'x-api-key': 'not-a-key' } });
  assert.equal(r.status, 401, 'no Warden key: refused');
  assert.equal(((await r.json()) as { error: { warden_code: string } }).error.warden_code, 'WARDEN_INVALID_API_KEY', 'as an invalid key');
});
