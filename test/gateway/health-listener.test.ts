// The probes' own listener (`server.health_listen`), over real sockets: a node whose API port is
// at `server.max_connections` still answers /healthz, /readyz and /metrics there; no API route is
// served on it; it has its own cap; it says not ready when the node drains and closes when it stops.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startHarness, type Harness } from '../helpers/gateway.ts';
import { parseConfig } from '../../src/config/index.ts';

const open: { close(): Promise<void> }[] = [];
after(async () => { for (const o of open.reverse()) await o.close(); });

async function harness(server: Record<string, unknown>): Promise<Harness & { healthUrl: string }> {
  const h = await startHarness({ config: { server: { health_listen: '127.0.0.1:0', ...server } } });
  open.push(h);
  assert.ok(h.gateway.healthUrl, 'the gateway says where its probes listen');
  assert.notEqual(h.gateway.healthUrl, h.url, 'a port apart from the API\'s');
  return Object.assign(h, { healthUrl: h.gateway.healthUrl });
}

/** A keep-alive connection that asked for `path`: 'served' (any answer) with the connection still open, or 'closed' unanswered. */
async function connect(url: string, path = '/healthz'): Promise<{ outcome: 'served' | 'closed'; status: number; socket: net.Socket }> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.on('error', () => { /* a refused connection may be reset */ });
  return new Promise((resolve) => {
    let text = '';
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nhost: ${hostname}\r\nconnection: keep-alive\r\n\r\n`));
    socket.on('data', (d) => {
      text += d.toString('latin1');
      if (/\r\n\r\n/.test(text)) resolve({ outcome: 'served', status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]), socket });
    });
    socket.on('close', () => resolve({ outcome: 'closed', status: 0, socket }));
  });
}

const closeAll = async (sockets: net.Socket[]) => {
  await Promise.all(sockets.map((s) => new Promise<void>((r) => { if (s.destroyed) return r(); s.once('close', () => r()); s.destroy(); })));
  await new Promise((r) => setTimeout(r, 100));
};

const metric = (text: string, name: string) => Number(text.split('\n').find((l) => l.startsWith(name))?.split(' ').at(-1) ?? NaN);

test('at the API listener\'s connection cap, the probes\' listener still answers /healthz, /readyz and /metrics', async () => {
  const h = await harness({ max_connections: 2 });
  const held = await Promise.all([1, 2].map(() => connect(h.url)));
  assert.deepEqual(held.map((c) => c.outcome), ['served', 'served']);
  assert.equal((await connect(h.url)).outcome, 'closed', 'the API port is at its cap: a probe there is closed unanswered');
  const healthz = await fetch(`${h.healthUrl}/healthz`);
  assert.equal(healthz.status, 200, 'liveness answers at the cap');
  assert.deepEqual(await healthz.json(), { status: 'ok' });
  const readyz = await fetch(`${h.healthUrl}/readyz`);
  assert.equal(readyz.status, 200, 'readiness answers at the cap');
  assert.deepEqual(await readyz.json(), { status: 'ready' });
  const scrape = await fetch(`${h.healthUrl}/metrics`);
  assert.equal(scrape.status, 200);
  assert.match(scrape.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await scrape.text();
  assert.equal(metric(text, 'warden_connections_refused_total{reason="total"}'), 1, `the scrape shows the connection the API port refused:\n${text.slice(0, 300)}`);
  assert.equal(metric(text, 'warden_connections_open '), 2, 'the open connections counted are the API port\'s, the scrape\'s own not among them');
  await closeAll(held.map((c) => c.socket));
});

test('the probes\' listener serves no API route, no admin and no dashboard: 404; other methods on a probe are 405', async () => {
  const h = await harness({});
  const chat = await fetch(`${h.healthUrl}/v1/chat/completions`, {
    method: 'POST', headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(chat.status, 404, 'a model call with a valid key is not served here');
  const body = await chat.json() as { error: { warden_code: string; message: string } };
  assert.equal(body.error.warden_code, 'WARDEN_NOT_FOUND');
  assert.match(body.error.message, /\/healthz, \/readyz, \/metrics only/, 'the answer says what this port serves');
  assert.equal(h.mock.stats.requests, 0, 'nothing reached the upstream');
  for (const path of ['/v1/models', '/admin/accounts', '/dashboard', '/ledger/v1/entries', '/']) {
    assert.equal((await fetch(`${h.healthUrl}${path}`, { headers: { authorization: `Bearer ${h.key}` } })).status, 404, `${path} is 404 on the probes' port`);
  }
  const post = await fetch(`${h.healthUrl}/readyz`, { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
  const head = await fetch(`${h.healthUrl}/healthz`, { method: 'HEAD' });
  assert.equal(head.status, 200, 'HEAD is answered as GET (probes that send HEAD)');
  // The API port still serves the probes too.
  assert.equal((await fetch(`${h.url}/healthz`)).status, 200);
});

test('the probes\' listener has its own cap (server.health_max_connections), counted apart', async () => {
  const h = await harness({ health_max_connections: 2 });
  const held = await Promise.all([1, 2].map(() => connect(h.healthUrl)));
  assert.deepEqual(held.map((c) => [c.outcome, c.status]), [['served', 200], ['served', 200]]);
  assert.equal((await connect(h.healthUrl)).outcome, 'closed', 'the third connection to the probes\' port is closed unanswered');
  const text = await (await fetch(`${h.url}/metrics`)).text();
  assert.equal(metric(text, 'warden_connections_refused_total{reason="health"}'), 1, 'counted as refused past the probes\' cap');
  assert.ok(!(metric(text, 'warden_connections_refused_total{reason="total"}') > 0), 'not as refused past the API cap');
  await closeAll(held.map((c) => c.socket));
});

test('stopping: the probes\' /readyz is 503 while the node drains, /healthz 200; once stopped its port takes no connection', async () => {
  const h = await startHarness({ config: { server: { health_listen: '127.0.0.1:0', shutdown_delay_ms: 1500 } } });
  const healthUrl = h.gateway.healthUrl!;
  const kept = await connect(healthUrl, '/readyz');
  assert.equal(kept.status, 200);
  const keptClosed = new Promise<boolean>((resolve) => {
    kept.socket.once('close', () => resolve(true));
    setTimeout(() => resolve(false), 5000).unref();
  });
  const closing = h.close();
  await new Promise((r) => setTimeout(r, 200));
  const readyz = await fetch(`${healthUrl}/readyz`);
  assert.equal(readyz.status, 503, 'not ready from the start of the drain, as the API port\'s /readyz');
  assert.deepEqual(await readyz.json(), { status: 'not ready' });
  assert.equal((await fetch(`${healthUrl}/healthz`)).status, 200, 'still live while draining');
  await closing;
  assert.ok(await keptClosed, 'a kept-alive connection to the probes\' port is closed by the stop');
  const refused = await new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(healthUrl);
    const s = net.connect(Number(port), hostname);
    s.on('connect', () => { s.destroy(); resolve(false); });
    s.on('error', () => resolve(true));
  });
  assert.ok(refused, 'the probes\' port is closed once the node has stopped');
});

test('server.health_listen takes host:port, [v6]:port or :port; anything else is refused at start', () => {
  const at = (v: string) => parseConfig({ server: { health_listen: v } }).server.health_listen;
  assert.equal(at('0.0.0.0:9090'), '0.0.0.0:9090');
  assert.equal(at('[::]:9090'), '[::]:9090');
  assert.equal(at(':9090'), ':9090');
  assert.equal(parseConfig({}).server.health_listen, null, 'off by default');
  for (const bad of ['9090', '0.0.0.0', 'host:99999', '[10.0.0.1]:80', 'a b:80', '::1:9090']) {
    assert.throws(() => parseConfig({ server: { health_listen: bad } }), /health_listen/, `"${bad}" is refused`);
  }
});
