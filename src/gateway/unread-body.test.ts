// A refused request's unread body: after an answer that closes the connection, the gateway reads on
// (so a client still sending reads its answer rather than a reset), but only within its bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { dropUnreadBody } from './unread-body.ts';

const LIMIT = 64 * 1024;
const LINGER_BYTES = 256 * 1024;

/** A server that refuses every request at once (401) with its body unread, counting what it reads of each body. */
async function refusingServer(lingerMs: number) {
  const read: number[] = [];
  const server = http.createServer((req, res) => {
    const at = read.push(0) - 1;
    req.on('data', (c: Buffer) => { read[at] += c.length; });
    const headers = dropUnreadBody(req, res, LIMIT, { ms: lingerMs, minBytes: LINGER_BYTES });
    res.writeHead(401, { ...headers, 'content-type': 'application/json' }).end('{"error":"no"}');
  });
  const connectionClosed = new Promise<void>((r) => server.once('connection', (socket: Socket) => socket.once('close', () => r())));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { port, read, connectionClosed, close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

/** A client that goes on sending after the server's side closed (a half-open socket), as some do. */
async function stubbornClient(port: number, contentLength: number) {
  const socket: Socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await new Promise((r) => socket.once('connect', r));
  const state = { answer: '', error: null as string | null, closed: false };
  socket.on('data', (d) => { state.answer += d; });
  socket.on('error', (e: NodeJS.ErrnoException) => { state.error = e.code ?? e.message; });
  const closed = new Promise<void>((r) => socket.once('close', () => { state.closed = true; r(); }));
  socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${contentLength}\r\n\r\n`);
  return { socket, state, closed };
}

test('a client that keeps sending after a closing answer reads the answer, and is cut off within the bounds', async () => {
  const s = await refusingServer(60_000);
  try {
    const c = await stubbornClient(s.port, 1_000_000_000);
    const piece = Buffer.alloc(16 * 1024, 'a');
    for (let i = 0; i < 20_000 && !c.state.closed && !c.state.error; i++) {
      if (!c.socket.write(piece)) await Promise.race([new Promise((r) => c.socket.once('drain', r)), c.closed]);
    }
    assert.ok(c.state.closed || c.state.error, 'the connection was closed before the client sent 320 MB');
    await c.closed;
    assert.match(c.state.answer, /^HTTP\/1\.1 401 /, 'the answer was read');
    assert.match(c.state.answer, /\r\nconnection: close\r\n/i, 'announced as closing');
    assert.ok(s.read[0] <= LIMIT + LINGER_BYTES + 64 * 1024, `read ${s.read[0]} bytes of the endless body: about the bound`);
  } finally {
    await s.close();
  }
});

test('a client that stops sending but keeps its connection open is closed after the linger time', async () => {
  const s = await refusingServer(200);
  try {
    const c = await stubbornClient(s.port, 10_000_000);
    c.socket.write(Buffer.alloc(1000));
    let closed = false;
    await Promise.race([s.connectionClosed.then(() => { closed = true; }), new Promise((r) => setTimeout(r, 20_000))]);
    assert.ok(closed, 'the connection was closed by the server');
    assert.match(c.state.answer, /^HTTP\/1\.1 401 /, 'after its answer');
  } finally {
    await s.close();
  }
});

test('a body within the limit is read to its end and the connection serves the next request', async () => {
  const s = await refusingServer(60_000);
  try {
    const c = await stubbornClient(s.port, 50_000);
    c.socket.write(Buffer.alloc(50_000));
    c.socket.write('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    for (let i = 0; i < 500 && (c.state.answer.match(/HTTP\/1\.1 401/g)?.length ?? 0) < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(c.state.answer.match(/HTTP\/1\.1 401/g)?.length, 2, 'both requests answered on the one connection');
    assert.ok(!/connection: close/i.test(c.state.answer), 'neither answer closes it');
    c.socket.destroy();
  } finally {
    await s.close();
  }
});
