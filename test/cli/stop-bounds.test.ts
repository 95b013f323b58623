// The bounds of a stop are settings: how long a step waiting on Redis may take
// (`server.shutdown_step_timeout_ms`, then STOP_STEP_GAVE_UP and the stop goes on), and the last
// resort's margin (`server.shutdown_grace_ms`: past shutdown_delay_ms + shutdown_timeout_ms + it,
// STOP_GAVE_UP naming the step it was waiting on, and exit status 1 rather than a wait for SIGKILL).
// A detector replica on SQLite whose Redis is black-holed (accepts connections, answers nothing)
// holds an event for the stream when SIGTERM comes: the stop waits on Redis to take it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startRedis, stopRedis } from '../helpers/redis-server.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { spawnServe, until } from '../helpers/serve-process.ts';
import { parseConfig } from '../../src/config/index.ts';

/** Far beyond every bound set below: a process still running then is hung. */
const HUNG_MS = 90_000;

interface Stop { code: number | null; signal: string | null; lines: Record<string, any>[]; tail: string }

/** Start a replica with these `server` settings, black-hole its Redis with an event held for the stream, send SIGTERM: how it ended. */
async function stopWithRedisBlackHoled(server: Record<string, number>): Promise<Stop> {
  const redisPort = await freePort();
  const redis = await startRedis(redisPort);
  const proxy = await startTcpProxy(redisPort);
  const dir = mkdtempSync(join(tmpdir(), 'warden-stop-bounds-'));
  try {
    const config = join(dir, 'warden.yaml');
    writeFileSync(config, JSON.stringify({
      server: { port: 0, shutdown_delay_ms: 0, shutdown_timeout_ms: 500, ...server }, log: { level: 'info' },
      store: { driver: 'sqlite', sqlite_path: join(dir, 'warden.db') },
      redis: { url: `redis://127.0.0.1:${proxy.port}` },
      detect: { mode: 'replica', shared: { key_prefix: 'warden:test:stop-bounds:' } },
      mock: { latency_ms: 0, tokens_per_second: 0 },
    }));
    const s = spawnServe(['--config', config, '--demo'], { cwd: dir });
    const { proc, out, err } = s;
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    try {
      const url = await s.listening();
      const key = await s.demoKey();
      await proxy.stall();
      const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
      assert.equal(r.status, 200, 'served while Redis answers nothing');
      await r.text();
      // The event is in the store, and held for the stream: Redis has not taken it.
      const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0);
      await until('the event written to the store', async () => await metric('warden_events_written_total') > 0, 60_000);
      await until('the event held for the stream', async () => await metric('warden_detect_stream_backlog_events') > 0, 60_000);
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), HUNG_MS);
      const end = await exited;
      clearTimeout(timer);
      const lines = out.map((l) => { try { return JSON.parse(l); } catch { return null; } }).filter(Boolean);
      return { ...end, lines, tail: out.slice(-12).join('\n') };
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGKILL'); await exited; }
    }
  } finally {
    await proxy.stop();
    await stopRedis(redis);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a step that outlasts shutdown_grace_ms ends the process with status 1 and a STOP_GAVE_UP line naming it', { timeout: 180_000 }, async () => {
  // The step's own bound is far away: only the last resort can end this stop.
  const stop = await stopWithRedisBlackHoled({ shutdown_step_timeout_ms: 60_000, shutdown_grace_ms: 1_000 });
  assert.equal(stop.signal, null, `the process ended on its own, not killed: ${JSON.stringify({ code: stop.code, signal: stop.signal })}\n${stop.tail}`);
  assert.equal(stop.code, 1, `exit status 1: ${stop.code}\n${stop.tail}`);
  const gaveUp = stop.lines.find((l) => l.code === 'STOP_GAVE_UP');
  assert.ok(gaveUp, `a STOP_GAVE_UP line:\n${stop.tail}`);
  assert.match(String(gaveUp.step), /record hooks/, `it names the step it was waiting on (the gateway closing its record hooks, the replica stream among them): ${JSON.stringify(gaveUp)}`);
  assert.match(String(gaveUp.msg), /limit 1\.5 s: server\.shutdown_delay_ms \+ server\.shutdown_timeout_ms \+ server\.shutdown_grace_ms/, `it says the limit and where it comes from: ${gaveUp.msg}`);
  assert.equal(gaveUp.events_written, 1, 'it counts the event written to the store before the stop');
  assert.ok(!stop.lines.some((l) => l.code === 'STOPPED'), 'no STOPPED line: the stop did not end');
  assert.ok(!stop.lines.some((l) => l.code === 'STOP_STEP_GAVE_UP'), 'the step did not reach its own bound');
});

test('a step waiting on Redis gives up after shutdown_step_timeout_ms, says so, and the stop ends normally', { timeout: 180_000 }, async () => {
  const stop = await stopWithRedisBlackHoled({ shutdown_step_timeout_ms: 300 });
  assert.equal(stop.signal, null, `the process ended on its own, not killed: ${JSON.stringify({ code: stop.code, signal: stop.signal })}\n${stop.tail}`);
  const stepGaveUp = stop.lines.find((l) => l.code === 'STOP_STEP_GAVE_UP');
  assert.ok(stepGaveUp, `a STOP_STEP_GAVE_UP line:\n${stop.tail}`);
  assert.equal(stepGaveUp.step, 'detect stream: send held events', `the step: ${JSON.stringify(stepGaveUp)}`);
  assert.equal(stepGaveUp.waited_ms, 300, 'it waited the configured bound');
  assert.match(String(stepGaveUp.msg), /within 300 ms/, `the line says the bound: ${stepGaveUp.msg}`);
  const stopped = stop.lines.find((l) => l.code === 'STOPPED');
  assert.ok(stopped, `the stop went on and ended (STOPPED):\n${stop.tail}`);
  assert.equal(stopped.events_written, 1, 'the event is in the store');
  assert.ok(!stop.lines.some((l) => l.code === 'STOP_GAVE_UP'), 'the last resort was not needed');
});

test('the stop bounds default to 5 s per step and a 45 s margin, and must be whole positive milliseconds', () => {
  const defaults = parseConfig({}).server;
  assert.equal(defaults.shutdown_step_timeout_ms, 5_000, 'a step waits on Redis 5 s by default, as before');
  assert.equal(defaults.shutdown_grace_ms, 45_000, 'the last resort margin is 45 s by default, as before');
  for (const key of ['shutdown_step_timeout_ms', 'shutdown_grace_ms']) {
    for (const bad of [0, -1, 2.5, '5000']) {
      assert.throws(() => parseConfig({ server: { [key]: bad } }), new RegExp(`server\\.${key}`), `server.${key}: ${JSON.stringify(bad)} is refused, naming the key`);
    }
  }
});
