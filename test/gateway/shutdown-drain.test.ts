// Graceful shutdown with a stream in flight: its client leaves after the gateway began closing,
// and its interaction is still recorded, in the event store and by the hooks (the ledger), before
// either closes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { startHarness, GOOD_KEY } from '../helpers/gateway.ts';
import { startRawUpstream } from '../helpers/raw-upstream.ts';
import type { GatewayHooks } from '../../src/gateway/lifecycle.ts';
import type { InteractionEvent } from '../../src/events/index.ts';

const open: { close(): Promise<void> }[] = [];
after(async () => { for (const o of open.reverse()) await o.close(); });

const CHUNK = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: 'word ' }, finish_reason: null }] })}\n\n`;

test('a stream whose client leaves while the gateway closes is recorded before the store and the ledger close', async () => {
  // An upstream that streams a chunk every 20 ms, without end.
  const u = await startRawUpstream((_req, res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const t = setInterval(() => { if (res.destroyed) clearInterval(t); else res.write(CHUNK); }, 20);
  });
  open.push(u);
  // A hook standing for the ledger: what it was given, and whether that came after it was closed.
  let hookClosed = false;
  const seen: { event: InteractionEvent; afterClose: boolean }[] = [];
  const ledger: GatewayHooks = { name: 'ledger-probe', onEvent: (event) => { seen.push({ event, afterClose: hookClosed }); }, close: () => { hookClosed = true; } };
  const h = await startHarness({ hooks: [ledger], upstreamOverride: () => [{ name: 'endless', base_url: u.url, models: ['*'] }] });

  const client = new AbortController();
  const r = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST', signal: client.signal,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}` },
    body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'go on' }] }),
  });
  assert.equal(r.status, 200, 'the stream started');
  const reader = r.body!.getReader();
  const reading = (async () => { try { for (;;) if ((await reader.read()).done) return; } catch { /* aborted */ } })();
  await new Promise((res) => setTimeout(res, 100));

  // The store is read after the gateway closed: its recorder's writes are all in by then.
  const store = h.store;
  const closing = h.gateway.close();
  await new Promise((res) => setTimeout(res, 200));
  client.abort();
  await reading;
  await closing;

  const stored: InteractionEvent[] = [];
  for await (const e of store.iterate()) stored.push(e);
  assert.equal(stored.length, 1, 'the interaction is in the event store');
  assert.equal(stored[0].response.status, 499);
  assert.equal(stored[0].response.error_code, 'WARDEN_CLIENT_DISCONNECTED');
  assert.equal(seen.length, 1, 'the hooks (the ledger) were given the interaction');
  assert.equal(seen[0].afterClose, false, 'before they were closed');
  assert.equal(seen[0].event.id, stored[0].id, 'the same interaction');
  await h.close().catch(() => { /* the gateway is closed already */ });
});

test('streams and answers still under way at the shutdown deadline are ended, with the error in their own form, and recorded', async () => {
  // An upstream that streams without end, and one that never answers.
  const u = await startRawUpstream((_req, res: http.ServerResponse, body: string) => {
    if (JSON.parse(body).stream === true) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const t = setInterval(() => { if (res.destroyed) clearInterval(t); else res.write(CHUNK); }, 20);
    }
  });
  open.push(u);
  const h = await startHarness({
    config: { server: { port: 0, shutdown_timeout_ms: 300, shutdown_delay_ms: 200 } },
    upstreamOverride: () => [{ name: 'endless', base_url: u.url, models: ['*'] }],
  });
  const post = (path: string, body: object, headers: Record<string, string> = {}) => fetch(`${h.url}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}`, ...headers }, body: JSON.stringify(body),
  });
  const stream = await post('/v1/chat/completions', { model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'go on' }] });
  assert.equal(stream.status, 200, 'the stream started');
  const streamed = stream.text();
  const waiting = post('/v1/chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'never answered' }] });
  await new Promise((res) => setTimeout(res, 100));

  const store = h.store;
  const began = Date.now();
  const closing = h.gateway.close();
  // While the delay lasts the node says it is not ready, and still serves.
  await new Promise((res) => setTimeout(res, 50));
  assert.equal((await fetch(`${h.url}/readyz`)).status, 503, 'not ready while stopping');
  await closing;
  assert.ok(Date.now() - began < 3000, `closed within the delay, the deadline and a little: ${Date.now() - began} ms`);

  const text = await streamed;
  assert.match(text, /"warden_code":"WARDEN_SHUTTING_DOWN"/, 'the stream ends with the error in its own form');
  const answer = await waiting;
  assert.equal(answer.status, 503);
  assert.equal(((await answer.json()) as any).error.warden_code, 'WARDEN_SHUTTING_DOWN');
  const stored: InteractionEvent[] = [];
  for await (const e of store.iterate()) stored.push(e);
  assert.equal(stored.length, 2, 'both are recorded');
  for (const e of stored) assert.equal(e.response.error_code, 'WARDEN_SHUTTING_DOWN', `${e.id}: ${e.response.status}`);
  await h.close().catch(() => { /* the gateway is closed already */ });
});

test('a request written on a kept-alive connection as the gateway begins closing is answered 503 WARDEN_SHUTTING_DOWN (connection: close) and recorded, not reset', async () => {
  const { connect } = await import('node:net');
  const h = await startHarness({ config: { server: { port: 0, shutdown_delay_ms: 0 } } });
  const port = Number(new URL(h.url).port);
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  const request = `POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${GOOD_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const sock = connect(port, '127.0.0.1');
  let received = '';
  let failure: Error | null = null;
  sock.on('data', (d) => { received += d.toString(); });
  sock.on('error', (err) => { failure = err; });
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(request);
  for (let i = 0; i < 200 && !/\r\n\r\n\{.*\}$/s.test(received); i++) await new Promise((r) => setTimeout(r, 10));
  assert.match(received, /^HTTP\/1\.1 200/, 'the first request is answered, the connection kept alive');
  received = '';
  // The client reuses its idle connection just as the node is told to stop (a rolling restart).
  sock.write(request);
  const closing = h.gateway.close();
  await closed;
  await closing;
  assert.equal(failure, null, `the connection is not reset (${failure})`);
  assert.match(received, /^HTTP\/1\.1 503/, `answered 503: ${received.slice(0, 200)}`);
  assert.match(received, /connection: close/i, 'and told to close the connection');
  assert.match(received, /WARDEN_SHUTTING_DOWN/);
  const stored: InteractionEvent[] = [];
  for await (const e of h.store.iterate()) stored.push(e);
  assert.ok(stored.some((e) => e.response.error_code === 'WARDEN_SHUTTING_DOWN'), 'the refused request is recorded');
  await h.close().catch(() => { /* the gateway is closed already */ });
});

test('answers under way when the gateway begins closing end their kept-alive connections, so the stop does not wait for idle timeouts', async () => {
  const h = await startHarness({ config: { server: { port: 0, shutdown_delay_ms: 0 } }, mock: { latencyMs: 300, tokensPerSecond: 50 } });
  const post = (stream: boolean) => fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}` },
    body: JSON.stringify({ model: 'gpt-4o-mini', stream, max_tokens: 40, messages: [{ role: 'user', content: 'hi' }] }),
  });
  // One answer whose head is not written yet when the stop begins, one stream already under way.
  const streaming = await post(true);
  assert.equal(streaming.status, 200, 'the stream started');
  const buffered = post(false);
  for (let i = 0; i < 200 && !(h.gateway.metrics.counts.inflight['openai.chat'] > 1); i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(h.gateway.metrics.counts.inflight['openai.chat'], 2, 'both answers are under way when the stop begins');
  const started = Date.now();
  const closing = h.gateway.close();
  const [answer, streamed] = await Promise.all([buffered, streaming.text()]);
  assert.equal(answer.status, 200, 'the answer under way is given');
  assert.equal(answer.headers.get('connection'), 'close', 'with its connection closed after it');
  await answer.text();
  assert.match(streamed, /data: \[DONE\]/, 'the stream under way ends whole');
  await closing;
  // Before, each kept-alive connection whose answer ended after the idle ones were closed held
  // the stop until Node's header timeout (about 60 s).
  assert.ok(Date.now() - started < 10_000, `the gateway closed ${Date.now() - started} ms after the stop began`);
  await h.close().catch(() => { /* the gateway is closed already */ });
});

test('a connection opened ahead and never used (a client\'s pool, a load balancer) does not hold the stop until its deadline', async () => {
  const h = await startHarness({ config: { server: { port: 0, shutdown_delay_ms: 0, shutdown_timeout_ms: 15_000 } } });
  const socket = connect(Number(new URL(h.url).port), '127.0.0.1');
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => { /* reset by the server: what is asserted below */ });
  const started = Date.now();
  await h.gateway.close();
  await ended;
  // Before, app.close() waited for it until the shutdown deadline and the forced close (17 s).
  assert.ok(Date.now() - started < 10_000, `the gateway closed ${Date.now() - started} ms after the stop began`);
  await h.close().catch(() => { /* the gateway is closed already */ });
});

/** A POST on a kept-alive `node:http` agent (as SDKs built on it send), its body written `chunk` bytes at a time with a pause: the answer, or the socket error the client saw. */
function paced(agent: import('node:http').Agent, url: string, body: Buffer, chunk: number, onWritingHeaders?: () => void): Promise<{ status: number; connection: string | undefined; text: string; reused: boolean; localPort?: number } | { error: string; reused: boolean }> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}`, 'content-length': body.length } }, (res) => {
      let text = '';
      const localPort = res.socket.localPort;
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, text, reused: req.reusedSocket, localPort }));
      res.on('error', (err) => resolve({ error: `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`, reused: req.reusedSocket }));
    });
    req.on('error', (err) => resolve({ error: `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`, reused: req.reusedSocket }));
    onWritingHeaders?.();
    let at = 0;
    const next = () => {
      if (req.destroyed) return;
      if (at >= body.length) { req.end(); return; }
      req.write(body.subarray(at, at + chunk));
      at += chunk;
      setTimeout(next, 5);
    };
    next();
  });
}

test('a request whose body is still arriving on a kept-alive connection when the gateway begins closing gets its 503, not a connection reset', async () => {
  const h = await startHarness({ config: { server: { port: 0, shutdown_delay_ms: 0 } } });
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  open.push({ async close() { agent.destroy(); await h.close().catch(() => { /* closed already */ }); } });
  const url = `${h.url}/v1/chat/completions`;
  const small = Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }));
  const first = await paced(agent, url, small, small.length);
  assert.ok('status' in first && first.status === 200 && first.connection === 'keep-alive', `the first request is answered and its connection kept: ${JSON.stringify(first)}`);
  // The agent hands its connection back to its pool once both the answer and the request have
  // ended; the answer can end first (the request ends a few ms after its body). A request made
  // before that waits in the agent queue and is given the same connection, but is not flagged
  // reusedSocket. Wait for the connection to be idle in the pool, as between two calls of a client.
  const idle = () => Object.values(agent.freeSockets).reduce((n, list) => n + (list?.length ?? 0), 0);
  for (let i = 0; i < 500 && idle() === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(idle(), 1, 'the first connection is idle in the agent pool');
  // A long prompt, still being sent when the node is told to stop: the 503 is answered from its
  // headers, and the connection must stay readable until the client has sent the rest.
  const big = Buffer.from(JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'long prompt '.repeat(400_000) }] }));
  let closing: Promise<void> | null = null;
  const second = await paced(agent, url, big, 64 * 1024, () => { closing = h.gateway.close(); });
  await closing;
  assert.ok(!('error' in second), `the client got a connection error instead of the answer: ${JSON.stringify(second)}`);
  assert.equal(second.reused, true, 'sent on the kept-alive connection');
  assert.equal(second.localPort, first.localPort, 'the same connection as the first request');
  assert.equal(second.status, 503);
  assert.equal(second.connection, 'close', 'told to close the connection');
  assert.match(second.text, /WARDEN_SHUTTING_DOWN/);
  const stored: InteractionEvent[] = [];
  for await (const e of h.store.iterate()) stored.push(e);
  assert.ok(stored.some((e) => e.response.error_code === 'WARDEN_SHUTTING_DOWN'), 'the refused request is recorded');
});

test('while the node drains (shutdown_delay_ms) it still serves, answers with connection: close, and closes idle kept-alive connections at once so clients reconnect elsewhere', async () => {
  const h = await startHarness({ config: { server: { port: 0, shutdown_delay_ms: 3000 } }, mock: { latencyMs: 300 } });
  open.push({ close: () => h.close().catch(() => { /* closed already */ }) });
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  const request = `POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${GOOD_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  // An idle kept-alive connection, as a client's pool or a load balancer holds.
  const sock = connect(Number(new URL(h.url).port), '127.0.0.1');
  let received = '';
  sock.on('data', (d) => { received += d.toString(); });
  sock.on('error', () => { /* asserted through its close */ });
  const idleClosed = new Promise<void>((r) => sock.once('close', () => r()));
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(request);
  for (let i = 0; i < 500 && !/\r\n\r\n\{.*\}$/s.test(received); i++) await new Promise((r) => setTimeout(r, 10));
  assert.match(received, /^HTTP\/1\.1 200/, 'the first request is answered');
  assert.match(received, /connection: keep-alive/i, 'and its connection kept alive');
  // One request under way when the drain begins.
  const post = () => fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}` }, body });
  const underWay = post();
  for (let i = 0; i < 200 && !(h.gateway.metrics.counts.inflight['openai.chat'] > 0); i++) await new Promise((r) => setTimeout(r, 5));
  const closing = h.gateway.close();
  let closed = false;
  void closing.then(() => { closed = true; });
  await idleClosed;
  assert.equal(closed, false, 'the idle connection is closed while the node still drains');
  // A client reconnecting during the drain (the load balancer has not yet seen /readyz) is still served, once.
  const during = await post().catch((err: Error) => err);
  assert.ok(during instanceof Response, `a request during the drain is answered: ${during}`);
  assert.equal(during.status, 200, 'a request during the drain is served');
  assert.equal(during.headers.get('connection'), 'close', 'with its connection closed after the answer');
  await during.text();
  const answer = await underWay;
  assert.equal(answer.status, 200, 'the request under way is answered');
  assert.equal(answer.headers.get('connection'), 'close', 'and its connection closed after it');
  await answer.text();
  assert.equal((await fetch(`${h.url}/readyz`)).status, 503, 'not ready while draining');
  await closing;
});
