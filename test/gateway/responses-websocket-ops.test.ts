// The Responses API's WebSocket mode as an operator sees it: a key revoked while a connection is
// open closes it at the next response.create (1008), refusals at the handshake (an address past
// its keyless failures, a connection cap) and their count in /metrics, the open connections and
// responses served in /metrics, and one access-log line per response with the connection's id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { createMockUpstream } from '../../src/mock/index.ts';
import { startTestWarden, TEST_ADMIN_TOKEN } from '../helpers/warden.ts';
import { WARDEN } from '../helpers/node-args.ts';
import { until } from '../helpers/until.ts';

/** A raw WebSocket to `url`'s /v1/responses and what it saw: messages, its close, a refused handshake's status and body. */
function open(url: string, key: string) {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/responses`, { headers: { authorization: `Bearer ${key}` } });
  const seen = { messages: [] as any[], close: null as null | { code: number; reason: string }, status: 0, body: '', failed: false };
  ws.on('message', (d) => seen.messages.push(JSON.parse(String(d))));
  ws.on('close', (code, reason) => { seen.close = { code, reason: String(reason) }; });
  ws.on('unexpected-response', (_req, res) => {
    res.on('data', (d) => { seen.body += d; });
    res.on('end', () => { seen.status = res.statusCode ?? 0; });
  });
  ws.on('error', () => { seen.failed = true; });
  return { ws, seen };
}

const ended = (messages: any[]) => messages.filter((m) => m.type === 'response.completed' || m.type === 'response.incomplete').length;

test('a key revoked while the connection is open: the next response.create is refused (401) and the connection closed with 1008', { timeout: 30_000 }, async () => {
  const t = await startTestWarden({ identity: { auth_cache: { ttl_ms: 0 } } });
  try {
    const account = await t.admin('/accounts', { name: 'ws-revoked', email: 'ws-revoked@example.org', tier: 'identity_verified' });
    const key = await t.admin(`/accounts/${account.id}/keys`, { name: 'k' });
    const c = open(t.url, key.secret);
    await until('the connection to open', () => c.ws.readyState === c.ws.OPEN);
    c.ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-4o-mini', input: 'First.', max_output_tokens: 16 }));
    await until(`the first response: ${JSON.stringify(c.seen.messages).slice(0, 600)}`, () => ended(c.seen.messages) === 1);
    await t.admin(`/keys/${key.key.id}/revoke`, { reason: 'test' });
    c.ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-4o-mini', input: 'Second.', max_output_tokens: 16 }));
    await until('the connection to be closed', () => c.seen.close);
    const err = c.seen.messages.find((m) => m.type === 'error');
    assert.ok(err, `an error event before the close: ${JSON.stringify(c.seen.messages.slice(-2))}`);
    assert.equal(err.status, 401, JSON.stringify(err));
    assert.equal(c.seen.close!.code, 1008, `closed as a policy violation: ${JSON.stringify(c.seen.close)}`);
    assert.equal(ended(c.seen.messages), 1, 'no second answer');
  } finally {
    await t.close();
  }
});

test('handshake refusals: an address past its keyless failures gets 429 with the HTTP route\'s body; counted in /metrics', { timeout: 30_000 }, async () => {
  const t = await startTestWarden({ limits: { keyless_failures_per_minute: 2 } });
  try {
    const bad = 'wk_not_a_key_0123456789abcdefghij';
    const statuses: number[] = [];
    let last = null as unknown as ReturnType<typeof open>;
    for (let i = 0; i < 3; i++) {
      last = open(t.url, bad);
      await until('the refusal', () => last.seen.status);
      statuses.push(last.seen.status);
    }
    assert.deepEqual(statuses, [401, 401, 429], 'refused for the key twice, then for the address');
    const body = JSON.parse(last.seen.body);
    assert.equal(body.error.warden_code, 'WARDEN_RATE_LIMITED', last.seen.body);
    const metrics = await t.w.gateway.metrics.registry.metrics();
    assert.match(metrics, /warden_websocket_handshakes_refused_total\{status="401",code="WARDEN_INVALID_API_KEY"\} 2/, metrics.split('\n').filter((l) => l.includes('websocket')).join('\n'));
    assert.match(metrics, /warden_websocket_handshakes_refused_total\{status="429",code="WARDEN_RATE_LIMITED"\} 1/);
  } finally {
    await t.close();
  }
});

test('a WebSocket counts toward server.max_connections_per_ip: past it the connection is closed unanswered', { timeout: 30_000 }, async () => {
  const t = await startTestWarden({ server: { port: 0, max_connections_per_ip: 3 } });
  try {
    // Connections from this address past `server.max_connections_per_ip` are closed unanswered,
    // a WebSocket's as any other (the admin calls' pooled connections hold some of the three).
    const acct = await t.account('ws-capped', 'identity_verified');
    const sockets: ReturnType<typeof open>[] = [];
    for (let i = 0; i < 4; i++) {
      const s = open(t.url, acct.key);
      sockets.push(s);
      await until('the connection to open or fail', () => s.ws.readyState === s.ws.OPEN || s.seen.failed || s.seen.close || s.seen.status);
    }
    const opened = sockets.filter((s) => s.ws.readyState === s.ws.OPEN).length;
    assert.ok(opened >= 1 && opened <= 3, `at least one and at most three opened under the cap of 3 (pooled admin connections count too): ${opened}`);
    assert.ok(sockets.slice(opened).every((s) => s.ws.readyState !== s.ws.OPEN), 'those past the cap are not opened');
    const after = await t.w.gateway.metrics.registry.metrics();
    assert.match(after, /warden_connections_refused_total\{reason="per_ip"\} [1-9]/, 'counted as refused connections');
    assert.ok(after.includes(`warden_websocket_connections_open ${opened}`), `the open WebSocket connections counted: ${after.split('\n').filter((l) => l.startsWith('warden_websocket_connections_open')).join(' ')}`);
    for (const s of sockets) s.ws.close();
  } finally {
    await t.close();
  }
});

test('with log.access, each response on a connection is one access line naming the connection; /metrics counts connections and responses', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ws-access-'));
  const config = join(dir, 'warden.yaml');
  writeFileSync(config, JSON.stringify({
    server: { port: 0 }, store: { sqlite_path: join(dir, 'w.db') }, log: { level: 'info', access: true },
    mock: { latency_ms: 0, tokens_per_second: 0 },
  }));
  const proc = spawn(process.execPath, [...WARDEN, 'serve', '--config', config, '--demo'], {
    env: { ...process.env, NODE_OPTIONS: '', WARDEN_CONFIG: '', WARDEN_LOG_LEVEL: '' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  const err: string[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => out.push(l));
  createInterface({ input: proc.stderr! }).on('line', (l) => err.push(l));
  const access = () => out.map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter((l) => l?.component === 'access' && l.method === 'WEBSOCKET');
  try {
    const url = await until('listening', () => err.map((l) => /^Warden listening on (\S+)/.exec(l)?.[1]).find(Boolean), 60_000);
    const key = await until('the demo key', () => err.map((l) => /demo API key .*: (wk_live_\S+)/.exec(l)?.[1]).find(Boolean));
    const c = open(url, key);
    await until('the connection to open', () => c.ws.readyState === c.ws.OPEN);
    c.ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-4o-mini', input: 'One.', max_output_tokens: 16 }));
    await until(`the first response: ${JSON.stringify(c.seen.messages).slice(0, 600)}`, () => ended(c.seen.messages) === 1);
    c.ws.send(JSON.stringify({ type: 'response.create', model: 'no-such-model-here', input: 'Two.' }));
    await until('the refusal', () => c.seen.messages.some((m) => m.type === 'error'));
    const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).text();
    assert.match(metrics, /warden_websocket_connections_open 1/, 'one connection open');
    assert.match(metrics, /warden_websocket_responses_total\{status="200"\} 1/, 'one response served');
    const lines = await until('two access lines', () => (access().length >= 2 ? access() : null));
    assert.equal(lines.length, 2, `one line per response: ${JSON.stringify(lines)}`);
    const [ok, refused] = lines;
    assert.equal(ok.status, 200);
    assert.equal(ok.path, '/v1/responses');
    assert.equal(ok.flavour, 'openai.responses');
    assert.match(ok.account_id, /^acct_/, 'the account');
    assert.ok(typeof ok.key_prefix === 'string' && key.startsWith(ok.key_prefix) && ok.key_prefix.length < key.length, `a prefix of the key: ${ok.key_prefix}`);
    assert.ok(typeof ok.request_id === 'string' && ok.request_id.length > 0, 'a request id');
    assert.ok(ok.bytes_in > 0 && ok.bytes_out > 0, `bytes in and out: ${ok.bytes_in} ${ok.bytes_out}`);
    assert.ok(typeof ok.connection_id === 'string' && ok.connection_id === refused.connection_id, 'both lines name the same connection');
    assert.ok(refused.status >= 400, `the refusal's status: ${refused.status}`);
    assert.ok(!out.join('\n').includes(key), 'the key is never logged');
    c.ws.close();
  } finally {
    proc.kill();
    await new Promise((r) => proc.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no subprotocol is chosen: a client that asks for one fails its handshake; one that asks for none connects', { timeout: 30_000 }, async () => {
  const t = await startTestWarden();
  try {
    const acct = await t.account('ws-protocol', 'identity_verified');
    const url = `${t.url.replace('http', 'ws')}/v1/responses`;
    const asking = new WebSocket(url, ['realtime'], { headers: { authorization: `Bearer ${acct.key}` } });
    const outcome = await new Promise<string>((resolve) => {
      asking.on('open', () => resolve(`opened with protocol ${JSON.stringify(asking.protocol)}`));
      asking.on('error', (e) => resolve(`failed: ${e.message}`));
    });
    asking.terminate();
    assert.match(outcome, /^failed: .*subprotocol/i, `the handshake does not claim a protocol Warden does not speak: ${outcome}`);
    const plain = open(t.url, acct.key);
    await until('the plain connection to open', () => plain.ws.readyState === plain.ws.OPEN);
    plain.ws.close();
  } finally {
    await t.close();
  }
});

test('shutdown: the response under way finishes, then its connection is closed with 1001; an idle one is closed at once; /readyz is not ready', { timeout: 60_000 }, async () => {
  // Paced: an answer of 300 tokens takes about 1.5 s, so the stop begins while it streams.
  const mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 200, answerTokens: [600, 600] });
  const t = await startTestWarden({ upstreams: [{ name: 'mock', base_url: mock.url, models: ['*'] }], server: { port: 0, shutdown_delay_ms: 0, shutdown_timeout_ms: 20_000 } });
  let closing: Promise<void> | null = null;
  try {
    const acct = await t.account('ws-shutdown', 'identity_verified');
    const busy = open(t.url, acct.key);
    const idle = open(t.url, acct.key);
    await until('both connections to open', () => busy.ws.readyState === busy.ws.OPEN && idle.ws.readyState === idle.ws.OPEN);
    busy.ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-4o-mini', input: 'A long answer.', max_output_tokens: 300 }));
    await until('the first delta', () => busy.seen.messages.some((m) => m.type === 'response.output_text.delta'));
    const readyBefore = (await fetch(`${t.url}/readyz`)).status;
    assert.equal(readyBefore, 200, 'ready before the stop');
    closing = t.close();
    await until('the idle connection to be closed', () => idle.seen.close);
    assert.equal(idle.seen.close!.code, 1001, `idle: closed as going away: ${JSON.stringify(idle.seen.close)}`);
    assert.equal(busy.seen.close, null, 'the busy connection stays open while its response streams');
    const ready = await fetch(`${t.url}/readyz`).then((r) => r.status, () => 0);
    assert.notEqual(ready, 200, `not ready while stopping: ${ready}`);
    await until('the busy connection to be closed', () => busy.seen.close, 30_000);
    assert.equal(ended(busy.seen.messages), 1, `the response under way finished first: ${JSON.stringify(busy.seen.messages.slice(-2)).slice(0, 400)}`);
    assert.equal(busy.seen.close!.code, 1001, JSON.stringify(busy.seen.close));
    await closing;
  } finally {
    await (closing ?? t.close());
    await mock.close();
  }
});

test('a client that stops reading is cut off after server.write_idle_timeout_ms; the interaction is recorded as a disconnect', { timeout: 90_000 }, async () => {
  // An answer of many megabytes, unpaced: far more than the kernel's buffers and the 1 MiB backlog hold.
  const mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0, answerTokens: [60_000, 60_000] });
  const t = await startTestWarden({ upstreams: [{ name: 'mock', base_url: mock.url, models: ['*'] }], events: { flush_interval_ms: 20 }, server: { port: 0, write_idle_timeout_ms: 1000 } });
  try {
    const acct = await t.account('ws-stalled', 'identity_verified');
    const c = open(t.url, acct.key);
    await until('the connection to open', () => c.ws.readyState === c.ws.OPEN);
    c.ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-4o-mini', input: 'Everything, at length.', max_output_tokens: 60_000 }));
    await until('the first message', () => c.seen.messages.length > 0);
    // The client stops reading: nothing more is taken from its socket.
    (c.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const [e] = await t.events((ev) => ev.account_id === acct.id, 1, 20_000);
    assert.equal(e.response.status, 499, `recorded as a client gone: ${JSON.stringify(e.response)}`);
    assert.equal(e.response.error_code, 'WARDEN_CLIENT_DISCONNECTED');
    assert.ok(e.response.output_tokens > 0 && e.response.output_tokens < 60_000, `the tokens passed on are metered, not the whole answer: ${e.response.output_tokens}`);
    c.ws.terminate();
  } finally {
    await t.close();
    await mock.close();
  }
});
