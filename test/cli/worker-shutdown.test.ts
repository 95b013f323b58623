// A detector worker (`detect.mode: worker`, PostgreSQL store, Redis for limits and the shared
// detector) stopped while its Redis is away: an operator's SIGTERM must end the process, with the
// events it accepted in PostgreSQL and a STOPPED line saying what it saved, rather than leave it
// waiting on Redis for good (SIGKILL was the only way out). Redis refusing connections (stopped)
// and Redis accepting them and answering nothing (a black-holed network path) both; and a replica
// holding events for the stream when its Redis is black-holed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startRedis, stopRedis } from '../helpers/redis-server.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { withPgSchema, TEST_POSTGRES_URL } from '../helpers/postgres.ts';
import { spawnServe, until } from '../helpers/serve-process.ts';

/** Far beyond shutdown_timeout_ms (2 s here) and the stop's own bounds: past it the process is hung. */
const HUNG_MS = 60_000;

const cases = [['worker', 'stopped'], ['worker', 'black-holed'], ['replica', 'black-holed']] as const;
for (const [mode, outage] of cases) {
  test(`a detector ${mode} whose Redis is ${outage} stops on SIGTERM, with its events in PostgreSQL`, { timeout: 150_000 }, async (t) => {
    const redisPort = await freePort();
    const redis = await startRedis(redisPort);
    const proxy = await startTcpProxy(redisPort);
    const dir = mkdtempSync(join(tmpdir(), 'warden-worker-stop-'));
    try {
      await withPgSchema('worker_stop', async (pool) => {
        const schema = (await pool.query<{ s: string }>('SELECT current_schema() AS s')).rows[0].s;
        const config = join(dir, 'warden.yaml');
        writeFileSync(config, JSON.stringify({
          server: { port: 0, shutdown_timeout_ms: 2_000 }, log: { level: 'info' },
          store: { driver: 'postgres', postgres_url: `${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}` },
          redis: { url: `redis://127.0.0.1:${proxy.port}` }, limits: { backend: 'redis' },
          detect: { mode, shared: { key_prefix: `warden:test:${schema}:`, publish_ms: 200 } },
          ledger: { postgres_schema: `${schema}_ledger`, key_file: join(dir, 'ledger.key') },
          mock: { latency_ms: 0, tokens_per_second: 0 },
        }));
        const s = spawnServe(['--config', config, '--demo'], { cwd: dir });
        const { proc, out, err } = s;
        const json = s.json;
        const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
        try {
          const url = await s.listening();
          const key = await s.demoKey();
          const ask = async (i: number) => {
            const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `hi ${i}` }] }) });
            assert.equal(r.status, 200, 'served (limits.on_backend_failure: local while Redis is away)');
          };
          // A replica's events reach the worker through Redis: those of the outage are held by the node.
          const before = mode === 'replica' ? 1 : 3;
          for (let i = 0; i < before; i++) await ask(i);
          if (outage === 'stopped') await proxy.stop();
          else await proxy.stall();
          for (let i = before; i < 3; i++) await ask(i);
          // The worker has seen the outage (its stream read or its lease renewal failed) before the signal.
          if (outage === 'stopped') await until('the worker\'s outage line', () => json().find((l) => l.code === 'DETECT_WORKER_REDIS_UNREACHABLE'), 30_000);
          else await new Promise((r) => setTimeout(r, 1_500));
          proc.kill('SIGTERM');
          const timer = setTimeout(() => proc.kill('SIGKILL'), HUNG_MS);
          const end = await exited;
          clearTimeout(timer);
          assert.ok(end.signal === null, `the process ended on its own after SIGTERM, not killed ${HUNG_MS / 1000} s later: ${JSON.stringify(end)}\n${out.slice(-15).join('\n')}`);
          const stopLines = json().filter((l) => ['SHUTTING_DOWN', 'STOP_STEP_GAVE_UP', 'DETECT_WORKER_REDIS_UNREACHABLE', 'STOPPED', 'STOP_GAVE_UP'].includes(l.code));
          t.diagnostic(stopLines.map((l) => `${l.code}: ${l.msg}`).join('\n'));
          const stopped = json().find((l) => l.code === 'STOPPED');
          assert.ok(stopped, `the STOPPED line is logged:\n${out.slice(-15).join('\n')}`);
          assert.equal(stopped.events_written, 3, 'the three interactions were written');
          assert.equal(stopped.events_dropped, 0, 'no event lost');
          const rows = (await pool.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0].n;
          assert.equal(Number(rows), 3, 'the three events are in PostgreSQL');
          // What the stop gave up on is said, not left to guess (verdicts not published, lease not released).
          const gaveUp = json().filter((l) => l.code === 'STOP_STEP_GAVE_UP');
          assert.ok(gaveUp.length > 0 || outage === 'stopped', `a black-holed Redis makes the stop give up on something, and say so:\n${out.slice(-15).join('\n')}`);
          for (const l of gaveUp) assert.ok(typeof l.step === 'string' && l.step.length > 0, `a give-up line names its step: ${JSON.stringify(l)}`);
        } finally {
          if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGKILL'); await exited; }
          await pool.query(`DROP SCHEMA IF EXISTS ${schema}_ledger CASCADE`);
        }
      });
    } finally {
      await proxy.stop();
      await stopRedis(redis);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
