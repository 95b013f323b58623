// A node killed (SIGKILL, out of memory) in the middle of a streamed answer: docs/operations.md
// says what it held in memory is lost. An interaction's event is written when its answer ends, so
// the one streaming at the kill is not recorded; the interactions that ended before it are, and
// the node starts again on the same data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServe, until } from '../helpers/serve-process.ts';
import { runWarden } from '../helpers/warden-cli.ts';

const CONFIG = 'server: {port: 0}\nstore: {sqlite_path: ./data/warden.db}\nmock: {latency_ms: 0, tokens_per_second: 4}\nlog: {level: error}\n';

test('SIGKILL mid-stream: the streaming interaction is not recorded, those that ended before it are, and the node starts again', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-killed-stream-'));
  writeFileSync(join(dir, 'w.yaml'), CONFIG);
  const env = { WARDEN_LOG_LEVEL: '' };
  const exported = async () => {
    const r = await runWarden(['events', 'export', '-c', 'w.yaml'], { cwd: dir, timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { request: { stream: boolean }; response: { status: number } });
  };
  let first = spawnServe(['-c', 'w.yaml', '--demo'], { cwd: dir, env });
  try {
    const url = await first.listening();
    const key = await first.demoKey();
    const call = (body: object) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Tell me a long story.' }], ...body }) });
    const done = await call({ max_tokens: 4 });
    assert.equal(done.status, 200, await done.clone().text());
    await done.text();
    // The finished one is written within a flush interval: wait for it before the kill.
    await until('the finished interaction in the event store', async () => (await exported()).length === 1 || undefined, 60_000);
    const streaming = await call({ stream: true, max_tokens: 400 });
    assert.equal(streaming.status, 200);
    const reader = streaming.body!.getReader();
    const firstChunk = await reader.read();
    assert.ok(!firstChunk.done && /data: /.test(new TextDecoder().decode(firstChunk.value)), 'the stream has begun');
    const exited = new Promise((r) => first.proc.once('exit', r));
    first.proc.kill('SIGKILL');
    await exited;
    await assert.rejects(async () => { for (;;) { if ((await reader.read()).done) throw new Error('ended without an error'); } }, 'the client sees its stream cut, not a clean end');
    // Started again on the same data: it serves, and the store holds the finished interaction only.
    first = spawnServe(['-c', 'w.yaml', '--demo'], { cwd: dir, env });
    await first.listening();
    await first.stop();
    const events = await exported();
    assert.equal(events.length, 1, `only the interaction that ended before the kill: ${JSON.stringify(events.map((e) => e.request.stream))}`);
    assert.equal(events[0].request.stream, false, 'the recorded one is the finished, non-streamed one');
  } finally {
    await first.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
