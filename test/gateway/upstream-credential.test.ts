// An upstream that refuses Warden's own credential (`upstreams[].api_key`: revoked, mistyped, out
// of credit for a model) answers 401 or 403. The client's key is never forwarded, so that refusal is
// never about the customer: the customer gets Warden's 502 `WARDEN_UPSTREAM_AUTH`, not the
// provider's "Incorrect API key provided: sk-proj-****wxyz" (a fragment of the operator's
// credential, the provider's name, and an `invalid_api_key` the SDKs raise as an error about the
// customer's own key). The operator is told in the log, without the credential.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startHarness, storedEvents, type Harness } from '../helpers/gateway.ts';
import { startRawUpstream, CHAT_COMPLETION, type RawUpstream } from '../helpers/raw-upstream.ts';
import { startTestWarden } from '../helpers/warden.ts';

const CREDENTIAL = 'sk-proj-OPERATORSECRETabcdefghijklmnopqrstuvwxyz';
const MASKED = `${CREDENTIAL.slice(0, 8)}**********${CREDENTIAL.slice(-4)}`;

const open: { close(): Promise<void> }[] = [];
after(async () => { for (const o of open.reverse()) await o.close(); });

/** Warden in front of a provider that refuses its credential (401 for `gpt-*` and `claude-*`, 403 for `*-forbidden`), with its log captured. */
async function setup(): Promise<{ h: Harness; upstream: RawUpstream; log: () => string }> {
  const upstream = await startRawUpstream((req, res, body) => {
    const model = req.method === 'GET' ? 'gpt' : String(JSON.parse(body).model ?? '');
    const anthropic = req.url?.startsWith('/v1/messages');
    if (model === 'gpt-stored') {
      // Its answer is kept upstream (`store: true`): reading it back goes to the provider again.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...CHAT_COMPLETION, id: 'chatcmpl-stored1', model }));
      return;
    }
    if (model === 'gpt-busy') {
      // OpenAI's own words for the operator's organisation-wide limit: they name the organisation.
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error: { message: 'Rate limit reached for gpt-busy in organization org-OPERATORORG123abc on tokens per min (TPM): Limit 30000, Used 29500, Requested 800. Visit https://platform.openai.com/account/rate-limits to learn more.', type: 'tokens', param: null, code: 'rate_limit_exceeded' } }));
      return;
    }
    if (model.endsWith('-forbidden')) {
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify(anthropic
        ? { type: 'error', error: { type: 'permission_error', message: 'Your API key does not have permission to use the specified resource.' } }
        : { error: { message: `Project proj_OPERATOR123 does not have access to model ${model}`, type: 'invalid_request_error', param: null, code: 'model_not_found' } }));
      return;
    }
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(anthropic
      ? { type: 'error', error: { type: 'authentication_error', message: `invalid x-api-key ${MASKED}` } }
      : { error: { message: `Incorrect API key provided: ${MASKED}. You can find your API key at https://platform.openai.com/account/api-keys.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } }));
  });
  open.push(upstream);
  let logged = '';
  const stream = new Writable({ write(chunk, _enc, done) { logged += String(chunk); done(); } });
  const h = await startHarness({
    upstreamOverride: () => [{ name: 'provider', base_url: upstream.url, models: ['*'], api_key: CREDENTIAL }],
    logger: { level: 'warn', stream },
  });
  open.push(h);
  return { h, upstream, log: () => logged };
}

/** What a client must never see of the operator's credential or account with the provider. */
function assertNothingOfTheCredential(text: string, where: string): void {
  for (const s of [CREDENTIAL.slice(0, 14), CREDENTIAL.slice(-4), '*****', 'Incorrect API key', 'x-api-key', 'proj_OPERATOR123', 'platform.openai.com']) {
    assert.ok(!text.includes(s), `${where} shows the client "${s}" of the operator's credential or provider account: ${text}`);
  }
}

test('the provider refusing Warden\'s credential is a 502 to the OpenAI SDK, not an error about the customer\'s key, and shows none of the credential', async () => {
  const { h, upstream, log } = await setup();
  const openai = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const err = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof OpenAI.APIError, `an API error, got ${String(err)}`);
  assert.ok(!(err instanceof OpenAI.AuthenticationError), `the SDK raised an AuthenticationError (status ${err.status}): the customer is told their own key is wrong`);
  assert.equal(err.status, 502, `status ${err.status}, expected 502 (the gateway's upstream failed)`);
  assert.equal(err.headers?.get('x-warden-error'), 'WARDEN_UPSTREAM_AUTH', 'Warden\'s own error code names the cause');
  assertNothingOfTheCredential(JSON.stringify(err.error ?? {}) + err.message, 'the chat completion error');
  assert.ok(upstream.requests.some((r) => r.headers.authorization === `Bearer ${CREDENTIAL}`), 'the provider was asked with the configured credential');

  // The same inside a stream request (the refusal comes before any event).
  const streamErr = await openai.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e: unknown) => e);
  assert.ok(streamErr instanceof OpenAI.APIError && streamErr.status === 502, `a stream request got ${String(streamErr)}`);
  assertNothingOfTheCredential(JSON.stringify(streamErr.error ?? {}), 'the stream request error');

  // A 403 about the provider's project (which names it) is the operator's too.
  const forbidden = await openai.chat.completions.create({ model: 'gpt-5-forbidden', messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e: unknown) => e);
  assert.ok(forbidden instanceof OpenAI.APIError && forbidden.status === 502, `a 403 from the provider reached the client as ${String(forbidden)}`);
  assertNothingOfTheCredential(JSON.stringify(forbidden.error ?? {}), 'the 403 error');

  const events = await storedEvents(h, 3);
  const refused = events.find((e) => e.model === 'gpt-4o-mini');
  assert.ok(refused, 'the refused request was recorded');
  assert.equal(refused.response.status, 502, `recorded with status ${refused.response.status}`);
  assert.equal(refused.response.error_code, 'WARDEN_UPSTREAM_AUTH', `recorded with code ${refused.response.error_code}`);

  const text = log();
  assert.match(text, /upstream provider refused/, `the operator is told which upstream refused the credential: ${text}`);
  assert.match(text, /upstreams\[\]\.api_key/, 'the log names the setting to check');
  assert.ok(!text.includes(CREDENTIAL.slice(0, 14)) && !text.includes(CREDENTIAL.slice(-6)) && !text.includes('*****'), `the log carries the credential or its masked form: ${text}`);
});

test('the Anthropic SDK and token counting get the same 502 for a refused credential', async () => {
  const { h } = await setup();
  const anthropic = new Anthropic({ apiKey: h.key, baseURL: h.url, maxRetries: 0 });
  const err = await anthropic.messages.create({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof Anthropic.APIError, `an API error, got ${String(err)}`);
  assert.ok(!(err instanceof Anthropic.AuthenticationError), `the SDK raised an AuthenticationError (status ${err.status})`);
  assert.equal(err.status, 502, `status ${err.status}, expected 502`);
  assertNothingOfTheCredential(JSON.stringify(err.error ?? {}), 'the message error');

  const forbidden = await anthropic.messages.create({ model: 'claude-forbidden', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e: unknown) => e);
  assert.ok(forbidden instanceof Anthropic.APIError && !(forbidden instanceof Anthropic.PermissionDeniedError) && forbidden.status === 502, `a 403 from the provider reached the client as ${String(forbidden)}`);

  const count = await anthropic.messages.countTokens({ model: 'claude-test', messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e: unknown) => e);
  assert.ok(count instanceof Anthropic.APIError && count.status === 502, `token counting got ${String(count)}`);
  assertNothingOfTheCredential(JSON.stringify(count.error ?? {}), 'the token count error');
});

test('reading back a stored answer the provider keeps gets the same 502 when the provider refuses the credential', async () => {
  const { upstream } = await setup();
  const t = await startTestWarden({ upstreams: [{ name: 'provider', base_url: upstream.url, models: ['*'], api_key: CREDENTIAL }] });
  open.push(t);
  const openai = new OpenAI({ apiKey: (await t.account('stored-reader', 'email_verified')).key, baseURL: `${t.url}/v1`, maxRetries: 0 });
  const stored = await openai.chat.completions.create({ model: 'gpt-stored', store: true, messages: [{ role: 'user', content: 'hi' }] });
  const read = await openai.chat.completions.retrieve(stored.id).then(() => null, (e: unknown) => e);
  assert.ok(read instanceof OpenAI.APIError && read.status === 502, `reading a stored completion back got ${String(read)}`);
  assertNothingOfTheCredential(JSON.stringify(read.error ?? {}), 'the stored completion read error');
});

test('other upstream errors are passed on, without the provider\'s organisation or project ids', async () => {
  const { h } = await setup();
  const openai = new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1`, maxRetries: 0 });
  const err = await openai.chat.completions.create({ model: 'gpt-busy', messages: [{ role: 'user', content: 'hi' }] }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof OpenAI.RateLimitError, `the upstream's 429 is passed on as a 429, got ${String(err)}`);
  const message = String((err.error as { message?: unknown } | undefined)?.message);
  assert.ok(!message.includes('OPERATORORG123'), `the client is shown the operator's organisation at the provider: ${message}`);
  assert.match(message, /^Rate limit reached for gpt-busy in organization org-\S+ on tokens per min/, `the rest of the upstream's message is kept: ${message}`);
  assert.equal((err.error as { code?: unknown }).code, 'rate_limit_exceeded', 'the upstream\'s code is kept');
});
