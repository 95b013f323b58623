// Browser apps calling the model API through Warden: with `server.cors.allowed_origins` set, a
// preflight from an allowed origin is answered (before any key is asked for), and answers carry
// `Access-Control-Allow-Origin` with the headers the SDKs read exposed. Off by default, and never
// on the routes outside `/v1/`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, type Harness } from '../helpers/gateway.ts';

const APP = 'https://app.example.com';
const open: Harness[] = [];
after(async () => { for (const h of open) await h.close(); });
const harness = async (config?: Record<string, unknown>) => { const h = await startHarness({ config }); open.push(h); return h; };

const preflight = (h: Harness, path: string, origin: string) => fetch(`${h.url}${path}`, {
  method: 'OPTIONS',
  headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, x-stainless-os, x-stainless-retry-count, openai-organization, anthropic-version, x-api-key' },
});

test('an allowed origin\'s preflight is answered, and its calls (streams too) carry the CORS headers', async () => {
  const h = await harness({ server: { cors: { allowed_origins: [APP] } } });
  const pre = await preflight(h, '/v1/chat/completions', APP);
  assert.equal(pre.status, 204, 'the preflight is answered without a key');
  assert.equal(pre.headers.get('access-control-allow-origin'), APP);
  assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
  const allowed = (pre.headers.get('access-control-allow-headers') ?? '').split(/,\s*/);
  for (const name of ['authorization', 'content-type', 'x-stainless-os', 'x-stainless-retry-count', 'openai-organization', 'anthropic-version', 'x-api-key']) {
    assert.ok(allowed.includes(name), `the SDKs' ${name} header is allowed: ${allowed}`);
  }
  assert.match(pre.headers.get('vary') ?? '', /Origin/);

  const call = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { origin: APP, 'content-type': 'application/json', authorization: `Bearer ${h.key}` }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
  assert.equal(call.status, 200);
  assert.equal(call.headers.get('access-control-allow-origin'), APP);
  const exposed = (call.headers.get('access-control-expose-headers') ?? '').split(/,\s*/);
  for (const name of ['x-request-id', 'request-id', 'retry-after', 'x-should-retry', 'x-ratelimit-remaining-requests', 'anthropic-ratelimit-requests-remaining']) {
    assert.ok(exposed.includes(name), `${name} is readable by the app: ${exposed}`);
  }
  await call.text();

  const stream = await fetch(`${h.url}/v1/messages`, { method: 'POST', headers: { origin: APP, 'content-type': 'application/json', 'x-api-key': h.key, 'anthropic-version': '2023-06-01' }, body: JSON.stringify({ model: 'claude-test', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  assert.equal(stream.status, 200);
  assert.equal(stream.headers.get('access-control-allow-origin'), APP, 'a stream\'s head carries it too');
  await stream.text();

  const refused = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { origin: APP, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get('access-control-allow-origin'), APP, 'the app can read a refusal too');
  await refused.text();

  const other = await preflight(h, '/v1/chat/completions', 'https://evil.example.net');
  assert.equal(other.headers.get('access-control-allow-origin'), null, 'another origin gets nothing');
  await other.text();
  for (const path of ['/metrics', '/healthz', '/admin/accounts']) {
    const r = await preflight(h, path, APP);
    assert.equal(r.headers.get('access-control-allow-origin'), null, `${path} answers no CORS`);
    await r.text();
  }
});

test('"*" allows any origin; none configured, no CORS at all', async () => {
  const h = await harness({ server: { cors: { allowed_origins: ['*'] } } });
  const pre = await preflight(h, '/v1/messages', 'http://localhost:5173');
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');

  const off = await harness();
  const r = await preflight(off, '/v1/chat/completions', APP);
  assert.notEqual(r.status, 204);
  assert.equal(r.headers.get('access-control-allow-origin'), null);
  await r.text();
});
