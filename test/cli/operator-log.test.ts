// What an operator alerts on while `warden serve` runs (a rejected policy reload, the limits
// backend unreachable, the stop) is in its JSON log on stdout, with a level and a stable code, not
// plain text on stderr; the start-up lines are on stderr, so that stdout holds JSON lines only (a
// log shipper parsing it as JSON gets no line it cannot read).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/redis-server.ts';
import { spawnServe, until } from '../helpers/serve-process.ts';

test('a rejected policy reload and an unreachable Redis are JSON log lines on stdout with a level and a code', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-oplog-'));
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, 'version: 1\ndefaults: { reasoning: full, n_max: 4 }\n');
  const config = join(dir, 'warden.yaml');
  // Redis on a port nothing listens on: the limits backend is unreachable from the first request.
  writeFileSync(config, JSON.stringify({
    server: { port: 0 }, store: { sqlite_path: join(dir, 'w.db') }, log: { level: 'info' },
    mock: { latency_ms: 0, tokens_per_second: 0 }, policy: { file: policy },
    redis: { url: `redis://127.0.0.1:${await freePort()}` }, limits: { backend: 'redis' },
  }));
  const s = spawnServe(['--config', config]);
  const { proc, out, err } = s;
  const json = s.json;
  try {
    const url = await s.listening();
    const key = await s.demoKey();
    const stderrAtStart = err.length;

    writeFileSync(policy, 'version: 1\ndefaults: { reasoning: full, n_max: 4 }\ntiers:\n  unverified:\n    max_token_ceiling: 100\n');
    const rejected = await until('the rejection in the JSON log', () => json().find((l) => l.code === 'POLICY_RELOAD_REJECTED'));
    assert.equal(rejected.level, 50, 'an error');
    assert.equal(rejected.msg, 'policy reload rejected; previous policy stays in force', 'a stable message');
    assert.equal(rejected.component, 'policy');
    assert.ok(JSON.stringify(rejected.problems).includes('max_token_ceiling'), `the problem is named: ${JSON.stringify(rejected)}`);

    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
      assert.equal(r.status, 200, 'served on the node\'s own counters (limits.on_backend_failure: local)');
    }
    const unreachable = await until('the limits outage in the JSON log', () => {
      const lines = json().filter((l) => l.code === 'LIMITS_BACKEND_UNREACHABLE');
      return lines.length ? lines : null;
    });
    assert.equal(unreachable.length, 1, 'once per outage, not per request');
    assert.equal(unreachable[0].level, 40, 'a warning');
    assert.equal(unreachable[0].component, 'limits');
    assert.deepEqual(err.slice(stderrAtStart), [], 'nothing on stderr once serving');

    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await exited;
    const stopping = json().find((l) => l.code === 'SHUTTING_DOWN');
    assert.ok(stopping && stopping.level === 30 && stopping.signal === 'SIGTERM', `the stop is an info line in the JSON log: ${JSON.stringify(stopping)}`);
    // Its end too: an operator rolling the fleet reads that the node stopped and lost nothing.
    const stopped = json().find((l) => l.code === 'STOPPED');
    assert.ok(stopped && stopped.level === 30 && stopped.signal === 'SIGTERM', `the end of the stop is an info line: ${JSON.stringify(stopped)}\n${out.join('\n')}`);
    assert.equal(stopped.events_written, 3, 'the three interactions were recorded');
    assert.equal(stopped.events_dropped, 0, 'no event lost');
    assert.equal(stopped.ledger_dropped, 0, 'no ledger entry lost');
    assert.match(stopped.msg, /^SIGTERM: stopped after \d+\.\d s; 3 events recorded, none lost; ledger: none lost$/);
    const notJson = out.filter((l) => { try { JSON.parse(l); return false; } catch { return true; } });
    assert.deepEqual(notJson, [], 'every line on stdout is JSON, from start to stop');
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
