// A batch or file route that takes a body checks the caller's key from the headers, before any
// byte of the body is read: a client with no valid key cannot make the gateway hold (or parse)
// the tens of megabytes a batch may be.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startTestWarden } from '../../test/helpers/warden.ts';

/**
 * A POST announcing `announced` bytes of which only the first KiB is sent: its answer, if one comes
 * while the rest is still owed, and whether the server closed the connection.
 */
function postWithBodyOwed(url: string, path: string, announced: number, headers: Record<string, string> = {}): Promise<{ status: number | null; body: string; closed: boolean }> {
  const u = new URL(url);
  return new Promise((resolve) => {
    let answered: { status: number; body: string } | null = null;
    const req = http.request({ host: u.hostname, port: u.port, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(announced), ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => { answered = { status: res.statusCode!, body }; });
    });
    req.on('error', () => {});
    req.on('close', () => resolve({ status: answered?.status ?? null, body: answered?.body ?? '', closed: true }));
    req.write('{"requests":[' + ' '.repeat(1010));
    // Never sends the rest: an answer must come from the headers alone.
    setTimeout(() => { resolve({ status: answered?.status ?? null, body: answered?.body ?? '', closed: false }); req.destroy(); }, 3000);
  });
}

test('batch and file routes answer 401 from the headers, without waiting for the body', { timeout: 60_000 }, async () => {
  const tw = await startTestWarden();
  try {
    const big = 60 * 1024 * 1024;
    for (const path of ['/v1/messages/batches', '/v1/batches', '/v1/files', '/v1/batches/batch_x/cancel', '/v1/messages/batches/msgbatch_x/cancel']) {
      const r = await postWithBodyOwed(tw.url, path, big, path === '/v1/messages/batches' || path.startsWith('/v1/messages') ? { 'anthropic-version': '2023-06-01' } : {});
      assert.equal(r.status, 401, `${path}: answered before its 60 MiB body arrived (got ${r.status}, ${r.body.slice(0, 200)})`);
      assert.ok(r.closed, `${path}: the connection whose large body is still owed is closed, not read to its end`);
    }
    // A wrong key is refused the same way, in the route's own error format.
    const r = await postWithBodyOwed(tw.url, '/v1/messages/batches', big, { 'x-api-key': 'wk_live_AAAAAAAAAAAA_' + 'x'.repeat(40), 'anthropic-version': '2023-06-01' });
    assert.equal(r.status, 401, `a wrong key is refused from the headers: ${r.status}`);
    assert.equal(JSON.parse(r.body).type, 'error', `Anthropic's error format on the Message Batches route: ${r.body}`);
  } finally {
    await tw.close();
  }
});

test('a keyed batch creation still reads its body, and a small unkeyed one leaves the connection usable', { timeout: 60_000 }, async () => {
  const tw = await startTestWarden();
  try {
    const { key } = await tw.account('batcher', 'email_verified');
    const body = JSON.stringify({ requests: [{ custom_id: 'a', params: { model: 'claude-sonnet-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] } }] });
    const ok = await fetch(`${tw.url}/v1/messages/batches`, { method: 'POST', headers: { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, body });
    assert.equal(ok.status, 200, `a keyed batch is created: ${await ok.clone().text()}`);
    assert.equal((await ok.json() as any).type, 'message_batch');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    for (let i = 0; i < 2; i++) {
      const status = await new Promise<number>((resolve, reject) => {
        const u = new URL(tw.url);
        const req = http.request({ agent, host: u.hostname, port: u.port, path: '/v1/batches', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)); });
        req.on('socket', (s) => sockets.add(s));
        req.on('error', reject);
        req.end('{"input_file_id":"file-x","endpoint":"/v1/chat/completions","completion_window":"24h"}');
      });
      assert.equal(status, 401, 'a small body without a key is refused');
    }
    assert.equal(sockets.size, 1, 'the kept-alive connection serves the next request after a small refused one');
    agent.destroy();
  } finally {
    await tw.close();
  }
});

test('Expect: 100-continue on a batch route: the body is asked for only once the key is checked', { timeout: 60_000 }, async () => {
  const tw = await startTestWarden();
  try {
    const { key } = await tw.account('continuer', 'email_verified');
    const body = JSON.stringify({ requests: [{ custom_id: 'a', params: { model: 'claude-sonnet-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] } }] });
    const ask = (headers: Record<string, string>) => new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
      const u = new URL(tw.url);
      let continued = false;
      const req = http.request({ host: u.hostname, port: u.port, path: '/v1/messages/batches', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(body.length), expect: '100-continue', 'anthropic-version': '2023-06-01', ...headers } }, (res) => {
        res.resume(); res.on('end', () => resolve({ status: res.statusCode!, continued }));
      });
      req.on('continue', () => { continued = true; req.end(body); });
      req.on('error', reject);
      req.flushHeaders();
    });
    const refused = await ask({});
    assert.deepEqual(refused, { status: 401, continued: false }, 'no key: refused without being asked for the body');
    const served = await ask({ 'x-api-key': key });
    assert.deepEqual(served, { status: 200, continued: true }, 'a valid key is asked for its body, and the batch created');
  } finally {
    await tw.close();
  }
});
