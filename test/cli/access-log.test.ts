// `log.access: true`: one JSON line per request in the log on stdout, beside the other log lines,
// naming the request (method, path, status, duration, bytes, request id, client address), who
// made it (account id and key prefix) and what the upstream answered, never the key or the prompt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { spawnServe, until } from '../helpers/serve-process.ts';

const PROMPT = 'a very particular prompt about the access log';

test('the access log is off unless log.access is set', () => {
  assert.equal(parseConfig({}).log.access, false);
});

test('with log.access, each request is one JSON line with who, what and how it went, and no key or prompt', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-access-'));
  const config = join(dir, 'warden.yaml');
  writeFileSync(config, JSON.stringify({
    server: { port: 0 }, store: { sqlite_path: join(dir, 'w.db') }, log: { level: 'info', access: true },
    mock: { latency_ms: 0, tokens_per_second: 0 },
  }));
  const s = spawnServe(['--config', config, '--demo']);
  const { proc, out, err } = s;
  const access = () => out.map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter((l) => l?.component === 'access');
  try {
    const url = await s.listening();
    const key = await s.demoKey();
    const chat = (k: string) => fetch(`${url}/v1/chat/completions?trace=1`, { method: 'POST', headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.9' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] }) });
    const served = await chat(key);
    assert.equal(served.status, 200);
    const answer = await served.text();
    const refused = await chat('wk_live_notakey0000000000000000000000');
    assert.equal(refused.status, 401);
    await refused.text();
    assert.equal((await fetch(`${url}/healthz`)).status, 200);

    const lines = await until('three access lines', () => (access().length >= 3 ? access() : null));
    assert.equal(lines.length, 3, `one line per request: ${JSON.stringify(lines)}`);
    const [ok, unauth, health] = lines;
    assert.equal(ok.level, 30, 'info');
    assert.equal(ok.msg, 'request');
    assert.equal(ok.method, 'POST');
    assert.equal(ok.path, '/v1/chat/completions', 'the path without its query string');
    assert.equal(ok.status, 200);
    assert.equal(ok.flavour, 'openai.chat');
    assert.equal(ok.upstream_status, 200, "the upstream's status");
    assert.match(ok.account_id, /^acct_/, 'the account');
    assert.ok(typeof ok.key_prefix === 'string' && key.startsWith(ok.key_prefix) && ok.key_prefix.length < key.length, `a prefix of the key, not the key: ${ok.key_prefix}`);
    assert.equal(ok.request_id, served.headers.get('x-warden-request-id'), 'the id Warden gave the client');
    assert.equal(ok.ip, '127.0.0.1', 'the socket peer (no trusted proxies): X-Forwarded-For is not believed');
    assert.ok(ok.bytes_in > 0 && ok.bytes_out > answer.length, `bytes in and out: ${ok.bytes_in} ${ok.bytes_out}`);
    assert.ok(typeof ok.duration_ms === 'number' && ok.duration_ms >= 0);

    assert.equal(unauth.status, 401);
    assert.equal(unauth.account_id, null, 'no account for an unknown key');
    assert.equal(unauth.upstream_status, null, 'not forwarded');
    assert.equal(unauth.request_id, refused.headers.get('x-warden-request-id'), 'read from the answer written');
    assert.equal(health.path, '/healthz');
    assert.equal(health.status, 200);

    const all = out.join('\n');
    assert.ok(!all.includes(key) && !all.includes('wk_live_notakey'), 'no key in the log');
    assert.ok(!all.includes(PROMPT), 'no prompt in the log');
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
