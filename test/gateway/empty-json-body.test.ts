// A request with no body but a JSON Content-Type (an HTTP client that sets it on every call, a
// generated admin client following the OpenAPI document) is answered as the same request without
// the header on the routes that read no body or an optional one: unknown routes, DELETE, the
// cancel routes, admin routes whose body is optional. Routes that need a body still say it is empty.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden, TEST_ADMIN_TOKEN, type TestWarden } from '../helpers/warden.ts';

let t: TestWarden;
let key: string;
before(async () => {
  t = await startTestWarden();
  key = (await t.account('empty-body', 'identity_verified')).key;
});
after(async () => { await t.close(); });

async function call(method: string, path: string, headers: Record<string, string>): Promise<{ status: number; code: string | null; text: string }> {
  const r = await fetch(`${t.url}${path}`, { method, headers });
  const text = await r.text();
  let code: string | null = null;
  try { const body = JSON.parse(text); code = body.error?.warden_code ?? body.error?.code ?? null; } catch { /* not JSON: a success with another body */ }
  return { status: r.status, code, text };
}

const openai = () => ({ authorization: `Bearer ${key}` });
const anthropic = () => ({ 'x-api-key': key, 'anthropic-version': '2023-06-01' });
const admin = () => ({ authorization: `Bearer ${TEST_ADMIN_TOKEN}` });

const BODYLESS: [string, string, () => Record<string, string>][] = [
  ['DELETE', '/v1/models/ft:gpt-4o-mini:acme::abc123', openai],
  ['DELETE', '/v1/models/claude-sonnet-4-5', anthropic],
  ['GET', '/v1/models', openai],
  ['GET', '/v1/files/file-missing', openai],
  ['DELETE', '/v1/files/file-missing', openai],
  ['GET', '/v1/batches/batch_missing', openai],
  ['POST', '/v1/batches/batch_missing/cancel', openai],
  ['GET', '/v1/responses/resp_missing', openai],
  ['DELETE', '/v1/responses/resp_missing', openai],
  ['POST', '/v1/responses/resp_missing/cancel', openai],
  ['DELETE', '/v1/chat/completions/chatcmpl_missing', openai],
  ['DELETE', '/v1/messages/batches/msgbatch_missing', anthropic],
  ['POST', '/v1/messages/batches/msgbatch_missing/cancel', anthropic],
  ['POST', '/v1/fine_tuning/jobs', openai],
  ['DELETE', '/admin/limits/overrides/missing', admin],
  ['POST', '/admin/keys/missing/revoke', admin],
];

for (const [method, path, headers] of BODYLESS) {
  test(`${method} ${path} with no body: the same answer with or without Content-Type: application/json`, async () => {
    const bare = await call(method, path, headers());
    const labelled = await call(method, path, { ...headers(), 'content-type': 'application/json' });
    assert.notEqual(labelled.code, 'WARDEN_INVALID_JSON', `an absent body is not invalid JSON: ${labelled.text}`);
    assert.equal(labelled.status, bare.status, `same status as without the header: ${labelled.text}`);
    assert.equal(labelled.code, bare.code, 'same error code as without the header');
  });
}

test('DELETE /v1/models/{id} with Content-Type: application/json and no body: the documented 404 Unknown route', async () => {
  const r = await call('DELETE', '/v1/models/x', { ...openai(), 'content-type': 'application/json' });
  assert.equal(r.status, 404, r.text);
  assert.equal(r.code, 'WARDEN_NOT_FOUND');
  assert.match(r.text, /Unknown route: DELETE \/v1\/models\/x\./);
});

test('a route that reads a JSON body still refuses an empty one as such', async () => {
  for (const [path, headers] of [['/v1/chat/completions', openai], ['/v1/messages', anthropic], ['/admin/orgs', admin]] as const) {
    const r = await call('POST', path, { ...headers(), 'content-type': 'application/json' });
    assert.equal(r.status, 400, `${path}: ${r.text}`);
    assert.equal(r.code, 'WARDEN_INVALID_JSON', `${path}: ${r.text}`);
    assert.match(r.text, /The request body is empty; expected a JSON object\./, path);
  }
});
