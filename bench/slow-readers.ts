/**
 * Clients that stop reading a stream: what the gateway holds for them while they stall, and what
 * is left once the write watch has cut them off. N raw clients (their sockets paused, kept open)
 * ask an upstream that writes 16 KiB SSE chunks as fast as it is read, without end. Reported:
 * the gateway's own backlog per stream (its response's writableLength), its heap and buffers
 * after a collection, what the kernel holds on the gateway's side of those connections (Linux:
 * /proc/self/net/tcp), what the upstream wrote, and the same a second after the cut.
 *
 *   node --expose-gc --import tsx bench/slow-readers.ts [--clients 8] [--stall-ms 4000]
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type http from 'node:http';
import { startHarness, storedEvents, GOOD_KEY } from '../test/helpers/gateway.ts';
import { startRawUpstream } from '../test/helpers/raw-upstream.ts';
import { machine } from './lib.ts';

const { values } = parseArgs({ options: { clients: { type: 'string', default: '8' }, 'stall-ms': { type: 'string', default: '4000' } } });
const clients = Number(values.clients);
const stallMs = Number(values['stall-ms']);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const CHUNK = `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: 'y'.repeat(16 * 1024) }, finish_reason: null }] })}\n\n`;
let upstreamBytes = 0;
const upstream = await startRawUpstream((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const pump = () => {
    while (!res.destroyed) {
      upstreamBytes += CHUNK.length;
      if (!res.write(CHUNK)) { res.once('drain', pump); return; }
    }
  };
  pump();
});
// The write timeout outlasts the stall measured, so the clients are cut only after it.
const h = await startHarness({
  upstreamOverride: () => [{ name: 'endless', base_url: upstream.url, models: ['*'] }],
  config: { server: { write_idle_timeout_ms: stallMs * 2 } },
});
const responses: http.ServerResponse[] = [];
h.gateway.app.server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => responses.push(res));
const port = Number(new URL(h.url).port);

/** Connections of the gateway's port (not its listener), and the bytes the kernel holds to send on them. */
function kernel(): { connections: number; queuedMB: number } {
  let queued = 0;
  let connections = 0;
  for (const line of readFileSync('/proc/self/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || parseInt(f[1].split(':')[1], 16) !== port || f[3] === '0A') continue;
    connections++;
    queued += parseInt(f[4].split(':')[0], 16);
  }
  return { connections, queuedMB: +(queued / 1e6).toFixed(2) };
}
function memory(): { heapMB: number; buffersMB: number } {
  gc!();
  const m = process.memoryUsage();
  return { heapMB: +(m.heapUsed / 1e6).toFixed(1), buffersMB: +(m.arrayBuffers / 1e6).toFixed(1) };
}

console.log(machine());
await new Promise((r) => setTimeout(r, 300));
console.log('before', memory(), kernel());
const sockets: net.Socket[] = [];
for (let i = 0; i < clients; i++) {
  const payload = JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: `go on ${i}` }] });
  const s = net.connect(port, '127.0.0.1');
  s.pause();
  s.on('error', () => {});
  s.write(['POST /v1/chat/completions HTTP/1.1', 'host: bench', 'content-type: application/json', `authorization: Bearer ${GOOD_KEY}`, `content-length: ${Buffer.byteLength(payload)}`, '', payload].join('\r\n'));
  sockets.push(s);
}
await new Promise((r) => setTimeout(r, stallMs));
console.log('stalled', memory(), {
  backlogKB: responses.map((r) => Math.round(r.writableLength / 1024)).join(','),
  ...kernel(),
  upstreamWroteMB: +(upstreamBytes / 1e6).toFixed(1),
});
const events = await storedEvents(h, clients, stallMs * 6);
console.log('recorded', events.length, [...new Set(events.map((e) => `${e.response.status} ${e.response.error_code}`))].join(', '));
await new Promise((r) => setTimeout(r, 1000));
console.log('1 s after the cut', memory(), kernel());
for (const s of sockets) s.destroy();
await h.close();
await upstream.close();
