// Refusals decided before a request reaches the pipeline: the key is judged before the body,
// the refusal is recorded under the caller's account, and what the HTTP parser refuses (headers
// too large) or what arrives while the gateway shuts down is answered in the format of the path.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Socket } from 'node:net';
import { startHarness, storedEvents, GOOD_KEY, type Harness } from '../helpers/gateway.ts';
import { answerClientError } from '../../src/gateway/early-refusals.ts';

const open: Harness[] = [];
after(async () => { for (const h of open) await h.close().catch(() => {}); });
async function harness(opts: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const h = await startHarness(opts);
  open.push(h);
  return h;
}
const send = (url: string, path: string, body: string, headers: Record<string, string>) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

test('a missing or invalid key is refused with 401 before any complaint about the body', async () => {
  const h = await harness();
  for (const [body, type] of [['[]', 'application/json'], ['{"model":', 'application/json'], ['x', 'text/plain']]) {
    for (const headers of [{}, { authorization: 'Bearer wk_test_wrong' }] as Record<string, string>[]) {
      const r = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': type, ...headers }, body });
      assert.equal(r.status, 401, `${body} ${JSON.stringify(headers)}`);
      const a = await fetch(`${h.url}/v1/messages`, { method: 'POST', headers: { 'content-type': type, 'anthropic-version': '2023-06-01', ...headers }, body });
      assert.equal(a.status, 401);
      assert.equal(((await a.json()) as any).error.type, 'authentication_error');
    }
  }
});

test('body refusals of a valid key are recorded under its account and key', async () => {
  const h = await harness({ config: { server: { body_limit_bytes: 1024 } } });
  const auth = { authorization: `Bearer ${GOOD_KEY}` };
  const statuses = [
    (await send(h.url, '/v1/chat/completions', '{"model":', auth)).status,
    (await send(h.url, '/v1/chat/completions', '[1,2]', auth)).status,
    (await send(h.url, '/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }), auth)).status,
    (await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'text/plain', ...auth }, body: 'hi' })).status,
  ];
  assert.deepEqual(statuses, [400, 400, 413, 415]);
  const events = await storedEvents(h, 4);
  assert.equal(events.length, 4);
  for (const e of events) {
    assert.equal(e.account_id, 'acc_test', e.response.error_code ?? '');
    assert.equal(e.key_id, `key_${GOOD_KEY.slice(-6)}`);
    assert.equal(e.account?.tier, 'email_verified');
    assert.ok(!JSON.stringify(e).includes(GOOD_KEY));
  }
});

/** Send raw bytes; resolve with what came back before the server closed the connection. */
function raw(url: string, data: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), '127.0.0.1');
    let got = '';
    s.on('data', (c) => { got += c.toString('latin1'); });
    s.on('close', () => resolve(got));
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? resolve(got) : reject(e)));
    s.write(data);
  });
}
const parse = (answer: string) => {
  const [head, body] = answer.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), head: head.toLowerCase(), body: JSON.parse(body) };
};

test('headers over the limit get 431 in the format of the path, and a model endpoint records an event', async () => {
  const h = await harness({ config: { server: { header_limit_bytes: 2048 } } });
  const big = 'a'.repeat(8000);
  const o = parse(await raw(h.url, `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${GOOD_KEY}\r\nuser-agent: big-client/1\r\ncontent-type: application/json\r\nx-big: ${big}\r\ncontent-length: 2\r\n\r\n{}`));
  assert.equal(o.status, 431);
  assert.equal(o.body.error.warden_code, 'WARDEN_HEADERS_TOO_LARGE');
  assert.equal(o.body.error.type, 'invalid_request_error');
  const id = /\r?\nrequest-id: (\S+)/.exec(`\n${o.head}`)?.[1];
  assert.ok(id);
  assert.ok(o.head.includes(`x-request-id: ${id}`));
  const a = parse(await raw(h.url, `POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: ${GOOD_KEY}\r\nx-big: ${big}\r\n\r\n`));
  assert.equal(a.status, 431);
  assert.equal(a.body.type, 'error');
  assert.equal(a.body.error.warden_code, 'WARDEN_HEADERS_TOO_LARGE');
  assert.ok(a.body.request_id);
  const events = await storedEvents(h, 2);
  const e = events.find((x) => x.id.toLowerCase() === id);
  assert.ok(e, 'an event under the id of the answer');
  assert.equal(e.flavour, 'openai.chat');
  assert.equal(e.response.status, 431);
  assert.equal(e.account_id, 'acc_test');
  assert.equal(e.client.user_agent, 'big-client/1');
  assert.equal(e.client.ip, '127.0.0.1');
  assert.ok(events.some((x) => x.flavour === 'anthropic.messages' && x.response.error_code === 'WARDEN_HEADERS_TOO_LARGE'));
  // Not a model endpoint: answered, not recorded.
  assert.equal(parse(await raw(h.url, `GET /v1/models HTTP/1.1\r\nhost: x\r\nx-big: ${big}\r\n\r\n`)).status, 431);
});

test('a user-agent recorded from an unparsed request is cut to 1 KiB', async () => {
  const h = await harness({ config: { server: { header_limit_bytes: 2048 } } });
  const ua = 'u'.repeat(20000);
  const o = parse(await raw(h.url, `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nuser-agent: ${ua}\r\ncontent-length: 2\r\n\r\n{}`));
  assert.equal(o.status, 431);
  const [e] = await storedEvents(h, 1);
  assert.ok(o.head.includes(`\r\nrequest-id: ${e.id.toLowerCase()}`));
  assert.equal(e.client.user_agent?.length, 1024);
  assert.ok(ua.startsWith(e.client.user_agent));
  assert.equal(e.client.ip, '127.0.0.1');
});

test('no raw answer is written into a connection still answering an earlier request, whether or not its answer has begun', () => {
  const socket = (inFlight: { _headerSent: boolean } | null) => {
    const s = { destroyed: false, writable: true, remoteAddress: '127.0.0.1', written: '', _httpMessage: inFlight,
      write(d: string) { s.written += d; return true; }, destroy() { s.destroyed = true; s.writable = false; } };
    return s;
  };
  // Nothing may be recorded either: the bytes refused begin with the earlier, valid request.
  const deps = { log: { error: () => { throw new Error('nothing is recorded'); } } } as unknown as Parameters<typeof answerClientError>[0];
  const err = Object.assign(new Error('Parse Error'), { code: 'HPE_INVALID_METHOD', rawPacket: Buffer.from('POST /v1/chat/completions HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}XX / HTTP/1.1\r\n\r\n') });
  for (const headerSent of [true, false]) {
    const busy = socket({ _headerSent: headerSent });
    answerClientError(deps, err, busy as unknown as Socket);
    assert.equal(busy.written, '', `answer begun: ${headerSent}`);
    assert.ok(busy.destroyed);
  }
  const bare = Object.assign(new Error('Parse Error'), { code: 'HPE_INVALID_METHOD', rawPacket: Buffer.from('XX / HTTP/1.1\r\n\r\n') });
  const idle = socket(null);
  answerClientError(deps, bare, idle as unknown as Socket);
  assert.match(idle.written, /^HTTP\/1\.1 400 /);
  assert.ok(idle.destroyed);
});

/**
 * A Messages request whose headers are half sent when the gateway begins to shut down (a chat
 * request in flight keeps it closing), the rest sent once it is closing; resolves, once the
 * gateway has closed, with what it wrote back to that request.
 */
async function requestWhileClosing(h: Harness, headerLines = '', requestLine = 'POST /v1/messages HTTP/1.1'): Promise<string> {
  const { port } = new URL(h.url);
  const inflight = send(h.url, '/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }), { authorization: `Bearer ${GOOD_KEY}` });
  const s = net.connect(Number(port), '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  s.write(`${requestLine}\r\nhost: x\r\n${headerLines}`);
  // closing begins once the other request is being served, which keeps the gateway closing
  while (!(h.gateway.metrics.counts.inflight['openai.chat'] > 0)) await new Promise((r) => setTimeout(r, 10));
  const closing = h.gateway.app.close();
  await new Promise((r) => setTimeout(r, 20));
  let got = '';
  s.on('data', (c) => { got += c.toString('latin1'); });
  const ended = new Promise((r) => s.on('close', r));
  s.write(`x-api-key: ${GOOD_KEY}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`);
  await ended;
  assert.equal((await inflight).status, 200, 'the request in flight is still answered');
  await closing;
  return got;
}

test('a request arriving while the gateway shuts down gets 503 in the format of the path', async () => {
  const h = await harness({ mock: { latencyMs: 300 } });
  const a = parse(await requestWhileClosing(h));
  assert.equal(a.status, 503);
  assert.equal(a.body.type, 'error');
  assert.equal(a.body.error.warden_code, 'WARDEN_SHUTTING_DOWN');
  assert.ok(a.head.includes('retry-after: 1'));
  const events = await storedEvents(h, 2);
  assert.ok(events.some((e) => e.flavour === 'anthropic.messages' && e.response.status === 503 && e.id.toLowerCase() === a.body.request_id.toLowerCase()));
});

// Probes parse the documented body: /readyz says not ready in its own form to the end.
test('/readyz asked while the gateway sheds requests answers 503 {"status":"not ready"}, not the model API\'s error body', async () => {
  const h = await harness({ mock: { latencyMs: 300 } });
  const a = parse(await requestWhileClosing(h, '', 'GET /readyz HTTP/1.1'));
  assert.equal(a.status, 503);
  assert.deepEqual(a.body, { status: 'not ready' });
});

test('a request shed while the gateway shuts down is recorded under the client behind a trusted proxy, not the proxy', async () => {
  const h = await harness({ config: { server: { trusted_proxies: ['127.0.0.1'] } }, mock: { latencyMs: 300 } });
  assert.equal(parse(await requestWhileClosing(h, 'x-forwarded-for: 198.51.100.23:5000, 127.0.0.1\r\n')).status, 503);
  const events = await storedEvents(h, 2);
  const shed = events.find((e) => e.response.status === 503);
  assert.equal(shed?.client.ip, '198.51.100.23');
});

/** Send a request's headers and the first bytes of its body, then nothing; resolves with what the server wrote back before it closed. */
function stalledBody(url: string, path: string, headers: Record<string, string>): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let got = '';
    socket.on('data', (d) => { got += d.toString('latin1'); });
    socket.on('error', () => {});
    socket.on('close', () => resolve(got));
    const head = [`POST ${path} HTTP/1.1`, 'host: 127.0.0.1', 'content-type: application/json', 'content-length: 100', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
    socket.write(`${head.join('\r\n')}\r\n\r\n{"model":"gpt-`);
  });
}

test('a body that does not arrive within server.request_timeout_ms: 408 WARDEN_REQUEST_TIMEOUT in the format of the path, recorded as such, connection closed', async () => {
  const h = await harness({ config: { server: { request_timeout_ms: 400 } } });
  const started = Date.now();
  const [openai, anthropic] = await Promise.all([
    stalledBody(h.url, '/v1/chat/completions', { authorization: `Bearer ${GOOD_KEY}` }),
    stalledBody(h.url, '/v1/messages', { 'x-api-key': GOOD_KEY, 'anthropic-version': '2023-06-01' }),
  ]);
  assert.ok(Date.now() - started < 3000, `answered after the configured time: ${Date.now() - started} ms`);
  for (const [raw, format] of [[openai, 'openai'], [anthropic, 'anthropic']] as const) {
    assert.match(raw, /^HTTP\/1\.1 408 /, `${format}: ${raw.slice(0, 200)}`);
    assert.match(raw, /\r\nconnection: close\r\n/i, `${format}: the connection is closed`);
    const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
    assert.equal(body.error.warden_code, 'WARDEN_REQUEST_TIMEOUT', `${format}: ${JSON.stringify(body)}`);
    if (format === 'anthropic') assert.equal(body.type, 'error', 'the Anthropic error shape');
  }
  const events = await storedEvents(h, 2);
  assert.deepEqual(events.map((e) => [e.response.status, e.response.error_code]), [[408, 'WARDEN_REQUEST_TIMEOUT'], [408, 'WARDEN_REQUEST_TIMEOUT']]);
  assert.ok(events.every((e) => e.key_id !== null), 'recorded under the caller\'s key');
});

test('a body that breaks chunked framing gets 400 WARDEN_BAD_HTTP_REQUEST in the format of the path, recorded as such, not a reset', { timeout: 60_000 }, async () => {
  const h = await harness({ config: { server: { request_timeout_ms: 600_000 } } });
  const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  const messages = JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  const head = (path: string, auth: string) => `POST ${path} HTTP/1.1\r\nhost: x\r\n${auth}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`;
  const bodies = [
    (b: string) => `zz\r\n${b}\r\n0\r\n\r\n`, // not a chunk size
    (b: string) => `${b.length.toString(16)};${'e'.repeat(20_000)}\r\n${b}\r\n0\r\n\r\n`, // a chunk extension over Node's 16 KiB
  ];
  for (const body of bodies) {
    const o = parse(await raw(h.url, head('/v1/chat/completions', `authorization: Bearer ${GOOD_KEY}`) + body(chat)));
    assert.equal(o.status, 400, 'answered, not reset');
    assert.equal(o.body.error.warden_code, 'WARDEN_BAD_HTTP_REQUEST');
    assert.equal(o.body.error.type, 'invalid_request_error');
    assert.ok(o.head.includes('connection: close'), 'the connection is closed after the answer');
    const a = parse(await raw(h.url, head('/v1/messages', `x-api-key: ${GOOD_KEY}\r\nanthropic-version: 2023-06-01`) + body(messages)));
    assert.equal(a.status, 400);
    assert.equal(a.body.type, 'error', 'the Anthropic error shape');
    assert.equal(a.body.error.warden_code, 'WARDEN_BAD_HTTP_REQUEST');
  }
  const events = await storedEvents(h, 4);
  assert.deepEqual(events.map((e) => [e.response.status, e.response.error_code]), Array(4).fill([400, 'WARDEN_BAD_HTTP_REQUEST']), 'recorded with the answer the client got');
  assert.ok(events.every((e) => e.account_id === 'acc_test'), 'under the caller\'s account');
  // A key refused before the body is read: its 401 goes out, and the connection, which can carry
  // nothing more, is closed after it rather than held until the request timeout.
  const refused = parse(await raw(h.url, head('/v1/chat/completions', 'authorization: Bearer wk_test_wrong') + bodies[0](chat)));
  assert.equal(refused.status, 401);
  assert.ok(refused.head.includes('connection: close'), 'closed after the refusal');
});
