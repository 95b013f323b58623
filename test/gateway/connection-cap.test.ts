// Caps on open connections, over real sockets: past `server.max_connections_per_ip` (or
// `server.max_connections`) a new connection is closed before anything is read from it, and
// counted in /metrics; once one closes, the next is served. A peer that is a trusted proxy is not
// capped per address (its clients share it), only in total.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startHarness, type Harness } from '../helpers/gateway.ts';

const open: { close(): Promise<void> }[] = [];
after(async () => { for (const o of open.reverse()) await o.close(); });

async function harness(server: Record<string, unknown>, logged?: string[]): Promise<Harness> {
  const h = await startHarness({ config: { server }, ...(logged ? { logger: { level: 'warn', stream: { write: (l: string) => { logged.push(l); } } } } : {}) });
  open.push(h);
  return h;
}

/** A keep-alive connection that asked for /healthz: 'served' with the connection still open, or 'closed' unanswered. */
async function connect(url: string): Promise<{ outcome: 'served' | 'closed'; socket: net.Socket }> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.on('error', () => { /* a refused connection may be reset */ });
  return new Promise((resolve) => {
    let text = '';
    socket.on('connect', () => socket.write(`GET /healthz HTTP/1.1\r\nhost: ${hostname}\r\nconnection: keep-alive\r\n\r\n`));
    socket.on('data', (d) => {
      text += d.toString('latin1');
      if (/\r\n\r\n/.test(text)) resolve({ outcome: /^HTTP\/1\.1 200/.test(text) ? 'served' : 'closed', socket });
    });
    socket.on('close', () => resolve({ outcome: 'closed', socket }));
  });
}

async function refusedCount(url: string, reason: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`warden_connections_refused_total{reason="${reason}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

const closeAll = async (sockets: net.Socket[]) => {
  await Promise.all(sockets.map((s) => new Promise<void>((r) => { if (s.destroyed) return r(); s.once('close', () => r()); s.destroy(); })));
  // The server sees the closes on its next turns.
  await new Promise((r) => setTimeout(r, 100));
};

test('past server.max_connections_per_ip a new connection from that address is closed unread and counted; one freed, the next is served', async () => {
  const logged: string[] = [];
  const h = await harness({ max_connections_per_ip: 3 }, logged);
  const held = await Promise.all([1, 2, 3].map(() => connect(h.url)));
  assert.deepEqual(held.map((c) => c.outcome), ['served', 'served', 'served']);
  const fourth = await connect(h.url);
  assert.equal(fourth.outcome, 'closed', 'the fourth connection from one address is closed without an answer');
  await closeAll([held[0].socket]);
  const again = await connect(h.url);
  assert.equal(again.outcome, 'served', 'a place freed is a place for the next connection');
  await closeAll([held[1].socket, held[2].socket, again.socket]);
  assert.equal(await refusedCount(h.url, 'per_ip'), 1, '/metrics counts the refused connection');
  assert.equal(await refusedCount(h.url, 'total'), 0);
  const warning = logged.map((l) => JSON.parse(l)).find((l) => l.code === 'CONNECTIONS_REFUSED');
  assert.ok(warning && warning.reason === 'per_ip' && warning.address === '127.0.0.1' && /server\.max_connections_per_ip \(3\)/.test(warning.msg), `the operator is told which address and setting: ${logged.join('')}`);
});

test('past server.max_connections every new connection is closed unread, whatever its address; counted as total', async () => {
  const h = await harness({ max_connections: 2 });
  const held = await Promise.all([1, 2].map(() => connect(h.url)));
  assert.deepEqual(held.map((c) => c.outcome), ['served', 'served']);
  assert.equal((await connect(h.url)).outcome, 'closed');
  await closeAll(held.map((c) => c.socket));
  assert.equal(await refusedCount(h.url, 'total'), 1);
});

test('a trusted proxy is not capped per address (its clients share it), only by the total', async () => {
  const h = await harness({ max_connections_per_ip: 2, max_connections: 4, trusted_proxies: ['127.0.0.1'] });
  const held = await Promise.all([1, 2, 3, 4].map(() => connect(h.url)));
  assert.deepEqual(held.map((c) => c.outcome), ['served', 'served', 'served', 'served'], 'the per-address cap of 2 does not apply to the proxy');
  assert.equal((await connect(h.url)).outcome, 'closed', 'the total cap does');
  await closeAll(held.map((c) => c.socket));
  assert.equal(await refusedCount(h.url, 'total'), 1);
  assert.equal(await refusedCount(h.url, 'per_ip'), 0);
});

test('by default there is no cap per address, and the open connections are in /metrics', async () => {
  const h = await harness({});
  const held = await Promise.all(Array.from({ length: 20 }, () => connect(h.url)));
  assert.ok(held.every((c) => c.outcome === 'served'), `all served: ${held.map((c) => c.outcome).join(',')}`);
  const text = await (await fetch(`${h.url}/metrics`)).text();
  const openNow = Number(text.split('\n').find((l) => l.startsWith('warden_connections_open '))?.split(' ')[1]);
  assert.ok(openNow >= 21, `the 20 held and the scrape's own are counted: ${openNow}`);
  await closeAll(held.map((c) => c.socket));
});
