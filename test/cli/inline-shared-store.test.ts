// A node on a shared PostgreSQL store left at `detect.mode: inline` runs a detector of its own and
// never reads the worker's verdicts. Beside a running worker it is refused at start unless the mode
// was written; with no worker visible it starts with a warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import { withPgSchema, TEST_POSTGRES_URL } from '../helpers/postgres.ts';

const REDIS = process.env.WARDEN_TEST_REDIS ?? 'redis://127.0.0.1:6379';

test('inline on a shared store: warned alone, refused beside a worker unless written, warned when written', async () => {
  await withPgSchema('inline_shared', async (pool) => {
    const schema = (await pool.query<{ s: string }>('SELECT current_schema() AS s')).rows[0].s;
    const prefix = `warden:test:${schema}:${randomBytes(3).toString('hex')}:`;
    const base = {
      server: { port: 0 }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 }, ledger: { enabled: false },
      admin: { token: 'adm_inline_shared_test_0123' }, redis: { url: REDIS },
      store: { driver: 'postgres', postgres_url: `${TEST_POSTGRES_URL}${TEST_POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}` },
    };
    const shared = { key_prefix: `${prefix}detect:`, publish_ms: 200 };

    // Alone on the shared store: starts, and says what inline means there.
    const alone: string[] = [];
    const first = await startWarden(parseConfig({ ...base, detect: { shared } }), { log: (l) => alone.push(l) });
    await first.close();
    assert.ok(alone.some((l) => /detect: WARNING detect\.mode is inline \(the default\) on a shared PostgreSQL store/.test(l)), `a warning at start: ${alone.join('\n')}`);

    const worker = await startWarden(parseConfig({ ...base, detect: { mode: 'worker', shared } }), { log: () => {} });
    try {
      await assert.rejects(
        startWarden(parseConfig({ ...base, detect: { shared } }), { log: () => {} }),
        (err: Error) => /detect\.mode is inline \(the default\) on a shared PostgreSQL store, and a detector worker .* holds its lease/.test(err.message) && /detect\.mode: replica/.test(err.message),
        'a node left at the default beside a worker is refused, naming the fix',
      );
      const written: string[] = [];
      const inline = await startWarden(parseConfig({ ...base, detect: { mode: 'inline', shared } }), { log: (l) => written.push(l) });
      await inline.close();
      assert.ok(written.some((l) => /detect: WARNING detect\.mode is inline on a shared PostgreSQL store, and a detector worker/.test(l)), `written inline starts with a warning: ${written.join('\n')}`);
    } finally {
      await worker.close();
      const redis = new Redis(REDIS);
      const left = await redis.keys(`${prefix}*`);
      if (left.length) await redis.del(...left);
      redis.disconnect();
    }
  });
});
