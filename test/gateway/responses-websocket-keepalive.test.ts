// The Responses API's WebSocket mode on long-lived and misbehaving connections: idle sockets get
// protocol pings (so that a load balancer's idle timeout does not cut them), the openai SDK answers
// them on its own and pings never count as the client's activity; a peer that does not answer is
// cut off; a client that floods refused messages without reading their replies, or sends more
// refused messages a minute than allowed, is closed with 1008 and counted in /metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { ResponsesWS } from 'openai/resources/responses/ws';
import { WebSocket } from 'ws';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';
import { until } from '../helpers/until.ts';

/** A raw `ws` client on /v1/responses and what it saw. */
function open(url: string, key: string, options: { autoPong?: boolean } = {}) {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/responses`, { headers: { authorization: `Bearer ${key}` }, ...options });
  const seen = { messages: [] as any[], pings: 0, close: null as null | { code: number; reason: string } };
  ws.on('message', (d) => seen.messages.push(JSON.parse(String(d))));
  ws.on('ping', () => { seen.pings++; });
  ws.on('close', (code, reason) => { seen.close = { code, reason: String(reason) }; });
  ws.on('error', () => {});
  return { ws, seen };
}

const closedFor = async (t: TestWarden, reason: string): Promise<number> => {
  const metrics = await t.w.gateway.metrics.registry.metrics();
  const m = new RegExp(`^warden_websocket_closed_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(metrics);
  return m ? Number(m[1]) : 0;
};

test('idle sockets get pings the openai SDK answers on its own; pings do not keep an idle socket open', { timeout: 30_000 }, async () => {
  const t = await startTestWarden({ server: { port: 0, websocket: { ping_interval_ms: 200, idle_timeout_ms: 4000 } } });
  try {
    const acct = await t.account('ws-pinged', 'identity_verified');
    const ws = new ResponsesWS(new OpenAI({ apiKey: acct.key, baseURL: `${t.url}/v1`, maxRetries: 0 }));
    let closed: { code: number; reason: string } | null = null;
    ws.on('error', () => {});
    ws.on('close', (code: number, reason: string) => { closed = { code, reason: String(reason) }; });
    const socket = (ws as unknown as { socket: { platformSocket: WebSocket } }).socket.platformSocket;
    let pings = 0;
    socket.on('ping', () => { pings++; });
    await until('five pings', () => pings >= 5);
    assert.equal(closed, null, 'answered by the SDK: the socket stays open over many ping intervals');
    assert.equal(await closedFor(t, 'ping_timeout'), 0, 'no socket cut for a missing pong');
    // Idle means no client message: the pongs do not count, the idle timeout still closes it.
    await until('the idle timeout', () => closed);
    assert.equal(closed!.code, 1000, JSON.stringify(closed));
    assert.match(closed!.reason, /idle timeout/);
    assert.equal(await closedFor(t, 'idle_timeout'), 1, 'counted as an idle close');
  } finally {
    await t.close();
  }
});

test('a peer that does not answer pings is cut off and counted', { timeout: 30_000 }, async () => {
  const t = await startTestWarden({ server: { port: 0, websocket: { ping_interval_ms: 200 } } });
  try {
    const acct = await t.account('ws-silent-peer', 'identity_verified');
    const answering = open(t.url, acct.key);
    const silent = open(t.url, acct.key, { autoPong: false });
    await until('the silent peer to be cut off', () => silent.seen.close);
    assert.ok(silent.seen.pings >= 1, 'it was pinged first');
    assert.equal(await closedFor(t, 'ping_timeout'), 1, 'counted as a ping timeout');
    assert.equal(answering.seen.close, null, 'the peer that answers stays connected');
    assert.equal(answering.ws.readyState, answering.ws.OPEN);
    answering.ws.close();
  } finally {
    await t.close();
  }
});

test('server.websocket.ping_interval_ms: 0 sends no pings', { timeout: 30_000 }, async () => {
  const t = await startTestWarden({ server: { port: 0, websocket: { ping_interval_ms: 0, idle_timeout_ms: 1000 } } });
  try {
    const acct = await t.account('ws-no-pings', 'identity_verified');
    const c = open(t.url, acct.key, { autoPong: false });
    await until('the idle timeout', () => c.seen.close);
    assert.equal(c.seen.close!.code, 1000, 'closed for being idle, not for a missing pong');
    assert.equal(c.seen.pings, 0, 'never pinged');
  } finally {
    await t.close();
  }
});

test('a client that floods refused messages without reading their replies is closed with 1008', { timeout: 60_000 }, async () => {
  const t = await startTestWarden({ server: { port: 0, websocket: { max_refused_messages_per_minute: 0 } } });
  try {
    const acct = await t.account('ws-flood', 'identity_verified');
    const c = open(t.url, acct.key);
    await until('the socket to open', () => c.ws.readyState === c.ws.OPEN);
    // The client stops reading, then sends message after message the gateway refuses.
    const raw = (c.ws as unknown as { _socket: import('node:net').Socket })._socket;
    raw.pause();
    const junk = `not json ${'x'.repeat(200)}`;
    let sent = 0;
    await until('the gateway to close the flood', async () => {
      for (let i = 0; i < 2000; i++) c.ws.send(junk);
      sent += 2000;
      await new Promise((r) => setTimeout(r, 5));
      return (await closedFor(t, 'unread_replies')) > 0 || sent >= 400_000;
    }, 45_000);
    assert.equal(await closedFor(t, 'unread_replies'), 1, `closed and counted after ${sent} refused messages`);
    // Reading again, the client gets the replies that waited, then the close.
    raw.resume();
    await until('the close', () => c.seen.close);
    assert.equal(c.seen.close!.code, 1008, JSON.stringify(c.seen.close));
    assert.match(c.seen.close!.reason, /not read/);
    assert.ok(c.seen.messages.length > 0 && c.seen.messages.length < sent, `only some of the ${sent} replies were kept for it: ${c.seen.messages.length}`);
  } finally {
    await t.close();
  }
});

test('past server.websocket.max_refused_messages_per_minute refused messages the socket is closed with 1008', { timeout: 30_000 }, async () => {
  const t = await startTestWarden({ server: { port: 0, websocket: { max_refused_messages_per_minute: 5 } } });
  try {
    const acct = await t.account('ws-refused-cap', 'identity_verified');
    const c = open(t.url, acct.key);
    await until('the socket to open', () => c.ws.readyState === c.ws.OPEN);
    for (let i = 0; i < 8; i++) c.ws.send(JSON.stringify({ type: 'response.cancel' }));
    await until('the close', () => c.seen.close);
    assert.equal(c.seen.messages.filter((m) => m.type === 'error').length, 5, `five refusals answered: ${JSON.stringify(c.seen.messages).slice(0, 400)}`);
    assert.equal(c.seen.close!.code, 1008, JSON.stringify(c.seen.close));
    assert.match(c.seen.close!.reason, /max_refused_messages_per_minute/);
    assert.equal(await closedFor(t, 'refused_messages'), 1, 'counted');
    // A client under the cap keeps its socket.
    const calm = open(t.url, acct.key);
    await until('the socket to open', () => calm.ws.readyState === calm.ws.OPEN);
    for (let i = 0; i < 5; i++) calm.ws.send('nope');
    await until('five refusals', () => calm.seen.messages.length === 5);
    calm.ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-4o-mini', input: 'Still here?', max_output_tokens: 16 }));
    await until('an answer', () => calm.seen.messages.some((m) => m.type === 'response.completed' || m.type === 'response.incomplete'));
    assert.equal(calm.seen.close, null, 'still open');
    calm.ws.close();
  } finally {
    await t.close();
  }
});
