// The Responses API's WebSocket mode through Warden with the openai SDK's own `ResponsesWS`: the
// key is checked at the handshake, each `response.create` is one governed streamed response
// (metered, recorded, refused by policy and limits as over HTTP, as an `error` event), a client
// closing mid-response stops the upstream call, and malformed client messages get `error` events.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { ResponsesWS } from 'openai/resources/responses/ws';
import { WebSocket } from 'ws';
import { createMockUpstream, type MockUpstream } from '../../src/mock/index.ts';
import { startTestWarden, TEST_ADMIN_TOKEN, type TestWarden } from '../helpers/warden.ts';
import type { InteractionEvent } from '../../src/events/index.ts';
import { startHarness } from '../helpers/gateway.ts';
import { inlinePolicyHooks } from '../helpers/policy.ts';
import { until } from '../helpers/until.ts';

let t: TestWarden;
let mock: MockUpstream;
before(async () => {
  // Paced, so that a long answer is still streaming when the client leaves; short ones ask for 16 tokens.
  mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 200, answerTokens: [600, 600] });
  t = await startTestWarden({
    upstreams: [{ name: 'mock', base_url: mock.url, models: ['*'] }], events: { flush_interval_ms: 20 },
    // A key of the `unverified` tier has a daily quota two long answers spend.
    limits: { tiers: { unverified: { key: { tpd: 1000 } } } },
  });
});
after(async () => { await t.close(); await mock.close(); });

const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 });

/** A socket opened with the SDK, and every event and error it reported, in order. */
async function connect(key: string) {
  const ws = new ResponsesWS(client(key));
  const events: any[] = [];
  const errors: any[] = [];
  let closed: { code: number; reason: string } | null = null;
  ws.on('event', (e: any) => events.push(e));
  ws.on('error', (e: any) => errors.push(e));
  ws.on('close', (code: number, reason: string) => { closed = { code, reason: String(reason) }; });
  return { ws, events, errors, closed: () => closed };
}

/** Responses ended: completed, or incomplete at their `max_output_tokens` (the mock's answers run longer). */
const ENDED = new Set(['response.completed', 'response.incomplete']);
const completedCount = (events: any[]) => events.filter((e) => ENDED.has(e.type)).length;
const errorEvents = (events: any[]) => events.filter((e) => e.type === 'error');

test('two responses on one socket: each streamed, metered and recorded as a streamed Responses request', { timeout: 30_000 }, async () => {
  const acct = await t.account('ws-two', 'identity_verified');
  const c = await connect(acct.key);
  c.ws.send({ type: 'response.create', model: 'gpt-4o-mini', input: 'Say hello.', max_output_tokens: 16 });
  await until('the first response to complete', () => completedCount(c.events) === 1);
  c.ws.send({ type: 'response.create', model: 'gpt-4o-mini', input: 'Say goodbye.', max_output_tokens: 16 });
  await until('the second response to complete', () => completedCount(c.events) === 2);
  assert.deepEqual(c.errors, [], 'no error on the socket');
  const created = c.events.filter((e) => e.type === 'response.created').map((e) => e.response.id);
  assert.equal(created.length, 2, 'two responses created');
  assert.notEqual(created[0], created[1], 'two distinct responses');
  assert.ok(c.events.some((e) => e.type === 'response.output_text.delta'), 'the answer streamed as deltas, one event per message');
  const completed = c.events.filter((e) => ENDED.has(e.type));
  for (const e of completed) assert.ok(e.response.usage.output_tokens > 0, `the usage reached the client: ${JSON.stringify(e.response.usage)}`);
  c.ws.close();

  const recorded = await t.events((e) => e.account_id === acct.id, 2);
  assert.equal(recorded.length, 2, 'each response.create recorded as one interaction');
  for (const e of recorded) {
    assert.equal(e.flavour, 'openai.responses');
    assert.equal(e.request.stream, true, 'recorded as a streamed request');
    assert.equal(e.response.status, 200);
    assert.ok(e.response.output_tokens > 0 && e.response.input_tokens > 0, `tokens metered: ${JSON.stringify({ in: e.response.input_tokens, out: e.response.output_tokens })}`);
  }
  const summed = completed.reduce((a, e) => a + e.response.usage.output_tokens, 0);
  assert.equal(recorded.reduce((a, e) => a + e.response.output_tokens, 0), summed, 'the recorded output tokens are the ones the client was told');
  const top = await (await fetch(`${t.url}/admin/usage/top?by=account&range=24h`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).json() as any;
  const row = top.data.find((r: any) => r.key === acct.id);
  assert.ok(row, `the account is in the usage view: ${JSON.stringify(top.data)}`);
  assert.equal(row.requests, 2, `both responses counted in the usage view: ${JSON.stringify(row)}`);
});

test('a bad key is refused at the handshake with 401 and an OpenAI error body', { timeout: 15_000 }, async () => {
  const raw = new WebSocket(`${t.url.replace('http', 'ws')}/v1/responses`, { headers: { authorization: 'Bearer wk_not_a_key_0123456789abcdefghij' } });
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    raw.on('open', () => reject(new Error('the handshake was accepted')));
    raw.on('error', () => {});
    raw.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
  assert.equal(answer.status, 401, 'refused at the handshake');
  const body = JSON.parse(answer.body);
  assert.equal(body.error.type, 'invalid_request_error');
  assert.equal(body.error.code, 'invalid_api_key', `OpenAI's code: ${answer.body}`);

  // The SDK sees the refusal as an error and a closed socket, never an open one.
  const c = await connect('wk_not_a_key_0123456789abcdefghij');
  await until('the SDK to report the refusal', () => c.errors.length > 0 && c.closed());
  assert.match(String(c.errors[0].message), /401/, `the SDK's error names the status: ${c.errors[0].message}`);
});

test('a suspension while the socket is open refuses the next response.create with an error event', { timeout: 20_000 }, async () => {
  const acct = await t.account('ws-suspended', 'identity_verified');
  const c = await connect(acct.key);
  c.ws.send({ type: 'response.create', model: 'gpt-4o-mini', input: 'First.', max_output_tokens: 16 });
  await until('the first response', () => completedCount(c.events) === 1);
  await t.admin('/detect/verdicts', { kind: 'account', id: acct.id, level: 'suspend', note: 'test' });
  c.ws.send({ type: 'response.create', model: 'gpt-4o-mini', input: 'Second.', max_output_tokens: 16 });
  const [err] = await until('the refusal', () => errorEvents(c.events).length === 1 && errorEvents(c.events));
  assert.equal(err.status, 403, JSON.stringify(err));
  assert.equal(err.error.type, 'permission_error');
  assert.equal(err.error.warden_code, 'WARDEN_ACCOUNT_SUSPENDED', 'the same code as over HTTP');
  assert.match(err.error.message, /suspended/, 'the same message as over HTTP');
  assert.equal(completedCount(c.events), 1, 'no second answer');
  assert.equal(c.closed(), null, 'the socket stays open: the key is still valid');
  const refused = await t.events((e) => e.account_id === acct.id && e.response.status === 403);
  assert.equal(refused.length, 1, 'the refusal is recorded');
  c.ws.close();
});

test('a spent quota is an error event with the HTTP route\'s code and message', { timeout: 30_000 }, async () => {
  const acct = await t.account('ws-quota', 'unverified');
  const c = await connect(acct.key);
  for (let i = 0; i < 6 && errorEvents(c.events).length === 0; i++) {
    const before = completedCount(c.events);
    c.ws.send({ type: 'response.create', model: 'gpt-4o-mini', input: 'A long answer please.', max_output_tokens: 900 });
    await until('an answer or a refusal', () => completedCount(c.events) > before || errorEvents(c.events).length > 0, 20_000);
  }
  const [err] = errorEvents(c.events);
  assert.ok(err, 'the quota refused a response.create');
  assert.equal(err.status, 429, JSON.stringify(err));
  assert.equal(err.error.type, 'insufficient_quota');
  assert.equal(err.error.warden_code, 'WARDEN_QUOTA_EXCEEDED');
  assert.match(err.error.message, /quota .* exhausted/i, err.error.message);
  assert.equal(c.closed(), null, 'the socket stays open');
  c.ws.close();
});

test('the client closing mid-response stops the upstream call; the interaction is recorded as a disconnect', { timeout: 30_000 }, async () => {
  const acct = await t.account('ws-abort', 'identity_verified');
  const c = await connect(acct.key);
  const abortedBefore = mock.stats.aborted;
  c.ws.send({ type: 'response.create', model: 'gpt-4o-mini', input: 'Tell me a long story.', max_output_tokens: 600 });
  await until('a few deltas', () => c.events.filter((e) => e.type === 'response.output_text.delta').length >= 3);
  c.ws.close();
  await until('the upstream call to be stopped', () => mock.stats.aborted === abortedBefore + 1);
  const [e] = await t.events((ev: InteractionEvent) => ev.account_id === acct.id);
  assert.ok(e, 'recorded');
  assert.equal(e.response.status, 499, 'recorded as a client disconnect');
  assert.equal(e.response.error_code, 'WARDEN_CLIENT_DISCONNECTED');
  assert.ok(e.response.output_tokens > 0 && e.response.output_tokens < 600, `the tokens passed on are metered, not the whole answer: ${e.response.output_tokens}`);
});

test('frames that are not a known JSON client event get error events; the socket stays usable', { timeout: 20_000 }, async () => {
  const acct = await t.account('ws-garbage', 'identity_verified');
  const c = await connect(acct.key);
  c.ws.sendRaw('this is not json');
  c.ws.send({ type: 'response.cancel' } as any);
  c.ws.send({ type: 'response.create', model: 'gpt-4o-mini', input: 'Later.', background: true } as any);
  const errs = await until('three error events', () => errorEvents(c.events).length === 3 && errorEvents(c.events));
  assert.equal(errs[0].error.warden_code, 'WARDEN_INVALID_JSON', JSON.stringify(errs[0]));
  assert.equal(errs[0].status, 400);
  assert.equal(errs[1].error.warden_code, 'WARDEN_INVALID_REQUEST');
  assert.match(errs[1].error.message, /Unknown client event type "response\.cancel"/);
  assert.match(errs[2].error.message, /background/);
  c.ws.send({ type: 'response.create', model: 'gpt-4o-mini', input: 'Now.', max_output_tokens: 16 });
  await until('an answer after the errors', () => completedCount(c.events) === 1);
  c.ws.close();
});

test('one response at a time: a second response.create while one streams is refused', { timeout: 30_000 }, async () => {
  const acct = await t.account('ws-one-at-a-time', 'identity_verified');
  const c = await connect(acct.key);
  c.ws.send({ type: 'response.create', model: 'gpt-4o-mini', input: 'A long one.', max_output_tokens: 200 });
  await until('the first delta', () => c.events.some((e) => e.type === 'response.output_text.delta'));
  c.ws.send({ type: 'response.create', model: 'gpt-4o-mini', input: 'Another.', max_output_tokens: 16 });
  const [err] = await until('the refusal', () => errorEvents(c.events).length === 1 && errorEvents(c.events));
  assert.equal(err.error.warden_code, 'WARDEN_CONFLICT', JSON.stringify(err));
  await until('the first response to complete', () => completedCount(c.events) === 1);
  c.ws.close();
});

test('connection bounds: idle timeout, lifetime, message size and browser origin', { timeout: 60_000 }, async () => {
  const b = await startTestWarden({
    upstreams: [{ name: 'mock', base_url: mock.url, models: ['*'] }],
    server: { port: 0, body_limit_bytes: 20_000, websocket: { idle_timeout_ms: 1000, max_lifetime_ms: 3000 }, cors: { allowed_origins: ['https://app.example.com'] } },
  });
  try {
    const acct = await b.account('ws-bounds', 'identity_verified');
    const open = (headers: Record<string, string> = {}) => {
      const ws = new WebSocket(`${b.url.replace('http', 'ws')}/v1/responses`, { headers: { authorization: `Bearer ${acct.key}`, ...headers } });
      const seen = { messages: [] as any[], close: null as null | { code: number; reason: string }, status: 0 };
      ws.on('message', (d) => seen.messages.push(JSON.parse(String(d))));
      ws.on('close', (code, reason) => { seen.close = { code, reason: String(reason) }; });
      ws.on('unexpected-response', (_req, res) => { seen.status = res.statusCode ?? 0; res.resume(); });
      ws.on('error', () => {});
      return { ws, seen };
    };

    // Silent: closed once idle for `server.websocket.idle_timeout_ms`.
    const idle = open();
    await until('the idle connection to be closed', () => idle.seen.close);
    assert.equal(idle.seen.close!.code, 1000);
    assert.match(idle.seen.close!.reason, /idle timeout/);

    // Never idle (a message every 200 ms), but closed at `server.websocket.max_lifetime_ms` with 1001.
    const busy = open();
    const ticker = setInterval(() => { if (busy.ws.readyState === busy.ws.OPEN) busy.ws.send('{"type":"ping?"}'); }, 200);
    try {
      await until('the long-lived connection to be closed', () => busy.seen.close, 20_000);
    } finally { clearInterval(ticker); }
    assert.equal(busy.seen.close!.code, 1001, JSON.stringify(busy.seen.close));
    assert.match(busy.seen.close!.reason, /lifetime/);
    assert.ok(busy.seen.messages.length > 0 && busy.seen.messages.every((m) => m.type === 'error'), 'each unknown event got its error event meanwhile');

    // A body over `server.body_limit_bytes` is refused as over HTTP (413, as an error event); a message far over it closes the socket (1009).
    const big = open();
    await until('the socket to open', () => big.ws.readyState === big.ws.OPEN);
    big.ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-4o-mini', input: 'x'.repeat(19_990) }));
    const [tooLarge] = await until('the 413', () => big.seen.messages.length === 1 && big.seen.messages);
    assert.equal(tooLarge.type, 'error');
    assert.equal(tooLarge.status, 413, JSON.stringify(tooLarge));
    assert.equal(tooLarge.error.warden_code, 'WARDEN_BODY_TOO_LARGE');
    big.ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-4o-mini', input: 'x'.repeat(40_000) }));
    await until('the socket to be closed', () => big.seen.close);
    assert.equal(big.seen.close!.code, 1009, 'closed as a message too big');

    // A browser page's origin: refused at the handshake unless `server.cors.allowed_origins` lists it.
    const foreign = open({ origin: 'https://evil.example' });
    await until('the refusal', () => foreign.seen.status);
    assert.equal(foreign.seen.status, 403);
    const listed = open({ origin: 'https://app.example.com' });
    await until('the listed origin to connect', () => listed.ws.readyState === listed.ws.OPEN);
    listed.ws.close();
  } finally {
    await b.close();
  }
});

test('shaping applies as over HTTP: the upstream gets the capped request, the first event names the change', { timeout: 30_000 }, async () => {
  const policy = inlinePolicyHooks('version: 1\ndefaults: { reasoning: full, logprobs: true, n_max: 4, max_tokens_ceiling: 40 }\n');
  const h = await startHarness({ hooks: [policy.hooks] });
  try {
    const ws = new ResponsesWS(new OpenAI({ apiKey: h.key, baseURL: `${h.url}/v1` }));
    const events: any[] = [];
    ws.on('event', (e: any) => events.push(e));
    ws.on('error', () => {});
    ws.send({ type: 'response.create', model: 'gpt-4o-mini', input: 'Hello.', max_output_tokens: 500 });
    await until('the response to end', () => completedCount(events) === 1);
    ws.close();
    const sent = [...h.mock.received].reverse().find((r) => r.path === '/v1/responses')?.body as Record<string, any>;
    assert.equal(sent.max_output_tokens, 40, `the upstream got the capped budget: ${JSON.stringify(sent)}`);
    assert.equal(sent.stream, true, 'forwarded as a streamed HTTP request');
    assert.equal(events[0].type, 'response.created');
    assert.match(String(events[0].warden_shaping), /max_tokens/, `the change is disclosed on the first event: ${JSON.stringify(events[0]).slice(0, 300)}`);
    assert.equal(events.filter((e) => 'warden_shaping' in e).length, 1, 'on the first event only');
  } finally {
    await h.close();
    policy.cleanup();
  }
});
