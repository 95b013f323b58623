// A client that stops reading its answer (a stream, or a large answer in one piece) is cut off
// after `server.write_idle_timeout_ms`: its interaction is recorded then (499
// WARDEN_CLIENT_NOT_READING), its concurrency slot is free for the next request, and while it
// held the connection the upstream was paused rather than read into memory.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import { startHarness, storedEvents, GOOD_KEY, type Harness } from '../helpers/gateway.ts';
import { startRawUpstream, CHAT_COMPLETION } from '../helpers/raw-upstream.ts';
import { limitsConfigSchema, limitsHooks } from '../../src/limits/index.ts';

const open: { close(): Promise<void> }[] = [];
after(async () => { for (const o of open.reverse()) await o.close(); });

const IDLE_MS = 300;

/** What the upstream has written, and whether it is waiting for the gateway to read on. */
const upstreamState = { bytes: 0, blocked: false };

/** Streams: chunks of 16 KiB of text, written as fast as the gateway takes them, without end. Non-streaming: a 24 MB answer. */
const BIG_TEXT = 'x'.repeat(24 * 1024 * 1024);
const SSE_CHUNK = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content: 'y'.repeat(16 * 1024) }, finish_reason: null }] })}\n\n`;

function endless(res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const pump = () => {
    upstreamState.blocked = false;
    while (!res.destroyed) {
      upstreamState.bytes += SSE_CHUNK.length;
      if (!res.write(SSE_CHUNK)) { upstreamState.blocked = true; res.once('drain', pump); return; }
    }
  };
  pump();
}

async function setup(idleMs = IDLE_MS, capMs?: number): Promise<Harness> {
  const u = await startRawUpstream((_req, res, body) => {
    const req = JSON.parse(body);
    if (req.stream) return endless(res);
    const content = req.messages[0].content === 'big' ? BIG_TEXT : 'ok';
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...CHAT_COMPLETION, choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }] }));
  });
  open.push(u);
  // One request at a time for the caller's account: a slot held by the stalled client refuses the next.
  const unlimited = { rpm: null, burst: null, tpm: null, tpd: null, concurrency: null };
  const limits = limitsHooks({
    config: limitsConfigSchema.parse({
      tiers: { email_verified: { key: unlimited, org: unlimited, account: { ...unlimited, concurrency: 1 } } },
      network: { ip: { rpm: null, burst: null, concurrency: null }, subnet: { rpm: null, burst: null, concurrency: null } },
    }),
  });
  await limits.limiter.ready();
  const h = await startHarness({
    hooks: [limits],
    upstreamOverride: () => [{ name: 'raw', base_url: u.url, models: ['*'] }],
    config: { server: { write_idle_timeout_ms: idleMs, ...(capMs ? { stream_max_duration_ms: capMs } : {}) } },
  });
  open.push(h);
  return h;
}

/** A client that sends its request and never reads a byte of the answer (its socket paused, kept open). */
function stalledClient(url: string, body: object): net.Socket {
  return rawClient(url, body);
}

/** A client that sends its request, then reads its answer at `bytesPerSecond`, a tenth every 100 ms. */
function steadyReader(url: string, body: object, bytesPerSecond: number): { socket: net.Socket; read: () => number } {
  const socket = rawClient(url, body);
  let read = 0;
  const perTick = Math.round(bytesPerSecond / 10);
  const tick = setInterval(() => {
    for (let n = 0, chunk: Buffer | null; n < perTick && (chunk = socket.read(Math.min(perTick - n, socket.readableLength || perTick))); n += chunk.length) read += chunk.length;
  }, 100);
  socket.on('close', () => clearInterval(tick));
  return { socket, read: () => read };
}

function rawClient(url: string, body: object): net.Socket {
  const { port } = new URL(url);
  const payload = JSON.stringify(body);
  const socket = net.connect(Number(port), '127.0.0.1');
  socket.pause();
  socket.on('error', () => {});
  socket.write([
    'POST /v1/chat/completions HTTP/1.1', 'host: 127.0.0.1', 'content-type: application/json',
    `authorization: Bearer ${GOOD_KEY}`, `content-length: ${Buffer.byteLength(payload)}`, '', payload,
  ].join('\r\n'));
  open.push({ close: async () => { socket.destroy(); } });
  return socket;
}

const chat = (content: string, stream: boolean) => ({ model: 'gpt-4o-mini', stream, messages: [{ role: 'user', content }] });

async function nextRequestServed(h: Harness): Promise<void> {
  const r = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}` }, body: JSON.stringify(chat('hi', false)),
  });
  assert.equal(r.status, 200, `the slot of the stalled client is free: ${await r.clone().text()}`);
  await r.text();
}

test('a stream whose client stops reading: upstream paused, then the client cut off, recorded, and its slot freed', async () => {
  const h = await setup();
  upstreamState.bytes = 0;
  stalledClient(h.url, chat('go on', true));
  // The client's buffers fill up, then the gateway stops reading the upstream.
  const deadline = Date.now() + 5000;
  while (!upstreamState.blocked && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(upstreamState.blocked, 'the upstream is waiting for the gateway to read on');
  const [e] = await storedEvents(h, 1, 5000);
  assert.ok(e, 'the interaction is recorded without the client leaving');
  assert.equal(e.response.status, 499);
  assert.equal(e.response.error_code, 'WARDEN_CLIENT_NOT_READING');
  assert.ok(e.response.output_chars > 0, 'what was streamed is counted');
  // Socket buffers on both sides of the gateway, and a 64 KiB backlog: far less than the upstream would have sent.
  assert.ok(upstreamState.bytes < 48 * 1024 * 1024, `the upstream was paused, not read into memory: ${upstreamState.bytes} bytes written`);
  assert.equal(h.gateway.metrics.counts.inflight['openai.chat'], 0, 'no interaction in flight');
  await nextRequestServed(h);
});

test('a large answer whose client does not read it: cut off, recorded, and its slot freed', async () => {
  const h = await setup();
  stalledClient(h.url, chat('big', false));
  const [e] = await storedEvents(h, 1, 5000);
  assert.ok(e, 'the interaction is recorded without the client leaving');
  assert.equal(e.response.status, 499);
  assert.equal(e.response.error_code, 'WARDEN_CLIENT_NOT_READING');
  assert.equal(e.response.output_tokens, CHAT_COMPLETION.usage.completion_tokens, 'the answer was metered');
  // Recorded while the client still holds its connection open: the write timeout cut it off.
  await nextRequestServed(h);
});

test('a client that reads slowly but steadily is not cut off, however long its kernel buffers take to drain', async () => {
  // Over loopback the client's TCP window reopens about every 100 KB it reads; the kernel's send
  // buffer (MBs) would take it tens of seconds to drain a third of, which is all Node itself sees.
  const idleMs = 2000;
  const h = await setup(idleMs);
  upstreamState.bytes = 0;
  upstreamState.blocked = false;
  const reader = steadyReader(h.url, chat('go on', true), 150 * 1024);
  const deadline = Date.now() + 5000;
  while (!upstreamState.blocked && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.ok(upstreamState.blocked, 'the buffers between the gateway and the client are full');
  const readBefore = reader.read();
  await new Promise((r) => setTimeout(r, 3 * idleMs));
  assert.ok(!reader.socket.destroyed && reader.socket.readyState === 'open', 'the reading client is still connected');
  assert.ok(reader.read() > readBefore, `the client read on: ${readBefore} then ${reader.read()} bytes`);
  assert.equal((await storedEvents(h, 1, 0)).length, 0, 'nothing recorded: the stream is still going');
  assert.equal(h.gateway.metrics.counts.inflight['openai.chat'], 1, 'the stream is in flight');
});

test('a large answer read so slowly it would take minutes is cut off after the duration cap and the write timeout, and recorded', async () => {
  // 24 MB at 300 KB/s: over a minute, each read showing progress to the write watch.
  const idleMs = 2000;
  const capMs = 1500;
  const h = await setup(idleMs, capMs);
  const reader = steadyReader(h.url, chat('big', false), 300 * 1024);
  const closed = new Promise<void>((r) => reader.socket.once('close', () => r()));
  reader.socket.on('readable', () => {}); // a reset is seen while reading
  const [e] = await storedEvents(h, 1, 4 * (capMs + idleMs));
  assert.ok(e, 'the interaction is recorded though the client is still reading');
  assert.equal(e.response.status, 499);
  assert.equal(e.response.error_code, 'WARDEN_CLIENT_NOT_READING');
  assert.ok(reader.read() > 0 && reader.read() < BIG_TEXT.length, `the client had read part of the answer: ${reader.read()} bytes`);
  await closed;
  assert.equal(h.gateway.metrics.counts.inflight['openai.chat'], 0, 'no interaction in flight');
  await nextRequestServed(h);
});

/**
 * Bytes the kernel holds on the gateway's side of a client's connection, a second after it was
 * closed (null: the connection is gone, or nothing is queued); undefined where /proc cannot be read.
 */
async function gatewaySideQueue(h: Harness, client: net.Socket): Promise<number | null | undefined> {
  const hex = (port: number) => `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const local = hex(Number(new URL(h.url).port));
  const remote = hex(client.localPort!);
  await new Promise((r) => setTimeout(r, 1000));
  let table: string;
  try { table = await readFile('/proc/self/net/tcp', 'utf8'); } catch { return undefined; }
  for (const line of table.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1]?.endsWith(local) && f[2]?.endsWith(remote)) {
      const queued = parseInt(f[4].slice(0, f[4].indexOf(':')), 16);
      return queued > 0 ? queued : null;
    }
  }
  return null;
}

/** The gateway's own responses, as the HTTP server hands them out (to read what each holds for its client). */
function responsesOf(h: Harness): http.ServerResponse[] {
  const out: http.ServerResponse[] = [];
  h.gateway.app.server.on('request', (_req: http.IncomingMessage, res: http.ServerResponse) => out.push(res));
  return out;
}

test('a stream from the mock, much larger than the socket buffers, to a client that stops reading: bounded in the gateway, ended by the duration cap, recorded with what was sent, upstream aborted', async () => {
  // ~300 bytes of SSE a token: 100,000 tokens are ~30 MB, sent by the mock at ~1.5 MB/s for 20 s,
  // more than the kernel's buffers between the gateway and the client hold (a few MB), and still
  // sending when the cap ends the stream. The write timeout is the cap's, so that the cap (not
  // the write watch) ends it.
  const capMs = 8000;
  const h = await startHarness({
    mock: { answerTokens: [100_000, 100_000], tokensPerSecond: 5_000 },
    config: { server: { stream_max_duration_ms: capMs, write_idle_timeout_ms: capMs } },
  });
  open.push(h);
  const responses = responsesOf(h);
  const client = stalledClient(h.url, chat('tell me everything', true));
  const closed = new Promise<void>((r) => client.once('close', () => r()));
  // What the gateway holds for the client in its own memory, and what it handed the kernel, until
  // the kernel took nothing more for 400 ms (the buffers to the client are full).
  let maxHeld = 0;
  let written = -1;
  let stableSince = Date.now();
  const started = Date.now();
  while (Date.now() - started < capMs) {
    const res = responses[0];
    const now = res?.socket?.bytesWritten ?? 0;
    if (res) maxHeld = Math.max(maxHeld, res.writableLength);
    if (now !== written) { written = now; stableSince = Date.now(); } else if (now > 0 && Date.now() - stableSince >= 400) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(h.mock.stats.inFlight, 1, 'the mock is still sending');
  assert.ok(written > 0 && Date.now() - stableSince >= 400, `the client's buffers filled and the gateway stopped writing to it (${written} bytes handed to the kernel)`);
  assert.ok(written < 15_000_000, `far less than the answer went to the client's socket: ${written} bytes`);
  // What the gateway keeps for a client that does not read: its 64 KiB mark and one more upstream read.
  assert.ok(maxHeld <= 256 * 1024, `the gateway's own backlog for the stalled client is bounded: at most ${maxHeld} bytes`);

  const [e] = await storedEvents(h, 1, 3 * capMs);
  assert.ok(e, 'the interaction is recorded though the client neither read nor left');
  assert.equal(e.response.status, 504);
  assert.equal(e.response.error_code, 'WARDEN_STREAM_TOO_LONG');
  assert.ok(e.response.output_tokens > 0 && e.response.output_tokens < 100_000, `the tokens sent so far are counted, not the whole answer: ${e.response.output_tokens}`);
  // Closing the connection gracefully would leave what the kernel holds for the client (MBs) queued
  // behind its closed window until the kernel gives up on it (a minute or more): it is reset instead.
  const queued = await gatewaySideQueue(h, client);
  if (queued !== undefined) assert.equal(queued, null, `nothing is left queued in the kernel for the cut-off client: ${queued} bytes`);
  client.resume();
  await closed;
  const deadline = Date.now() + 3000;
  while (h.mock.stats.aborted === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(h.mock.stats.aborted, 1, 'the upstream request was aborted, not read to its end');
  assert.equal(h.gateway.metrics.counts.inflight['openai.chat'], 0, 'no interaction in flight');
});
