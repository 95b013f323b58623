// A client with no valid key can send as many requests as it likes, each with a 16 KiB
// User-Agent: what Warden keeps of them is bounded. A recorded user agent is cut to 1024
// characters, and past `events.refused_anonymous_per_minute` refusals from one address in a
// minute only one in 100 more is recorded; the rest are counted in a metric.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestWarden } from '../helpers/warden.ts';
import { createMockUpstream } from '../../src/mock/index.ts';
import { parseConfig } from '../../src/config/index.ts';
import { openSqlite, SqliteEventStore } from '../../src/store/index.ts';
import { createGateway } from '../../src/gateway/index.ts';
import { WardenError } from '../../src/errors/index.ts';

test('anonymous refusals are recorded with a user agent of 1024 characters at most, and at a bounded rate per address', { timeout: 120_000 }, async () => {
  const tw = await startTestWarden({ events: { refused_anonymous_per_minute: 20 } });
  try {
    const longAgent = 'ua-' + 'Z'.repeat(8000);
    const sent = 250;
    const statuses = new Map<number, number>();
    let i = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (i < sent) {
        i++;
        const r = await fetch(`${tw.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: 'Bearer wk_live_AAAAAAAAAAAA_' + 'x'.repeat(40), 'content-type': 'application/json', 'user-agent': longAgent },
          body: '{}',
        });
        await r.arrayBuffer();
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      }
    }));
    assert.deepEqual([...statuses], [[401, sent]], 'every one is answered 401 as before');
    // 20 in full, then one in 100 of the other 230
    const events = await tw.events((e) => e.account_id === null && e.response.status === 401, 22, 3000);
    assert.ok(events.length >= 20 && events.length <= 23, `about 22 of ${sent} refusals recorded, not each: ${events.length}`);
    for (const e of events) assert.ok((e.client.user_agent ?? '').length <= 1024, `a recorded user agent is cut to 1024 characters: ${e.client.user_agent?.length}`);
    assert.equal(events[0].client.user_agent, longAgent.slice(0, 1024), 'its start is kept');
    const metrics = await (await fetch(`${tw.url}/metrics`)).text();
    const unrecorded = Number(/^warden_refused_requests_unrecorded_total (\d+)/m.exec(metrics)?.[1]);
    assert.equal(unrecorded, sent - events.length, `the refusals not recorded are counted: ${unrecorded}`);

    // A customer's own requests are recorded each, with the same cut of the user agent.
    const { key } = await tw.account('customer', 'email_verified');
    const r = await fetch(`${tw.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'user-agent': longAgent },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(r.status, 200);
    const [served] = await tw.events((e) => e.account_id !== null && e.response.status === 200, 1);
    assert.equal(served?.client.user_agent?.length, 1024, 'a served request\'s user agent is cut to 1024 characters too');
  } finally {
    await tw.close();
  }
});

// A key store outage: every request carries a key that could not be checked. Those 503s are the
// outage's customer impact (the post-mortem counts them), not a client guessing keys: each is
// recorded, and no warning blames "requests without a valid key".
test('503 WARDEN_STORE_UNAVAILABLE refusals are recorded each, not sampled as keyless, and not logged as requests without a valid key', { timeout: 60_000 }, async () => {
  const mock = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'warden-test-'));
  const config = parseConfig({
    store: { sqlite_path: join(dir, 'warden.db') }, upstreams: [{ name: 'mock', base_url: mock.url, models: ['*'] }],
    events: { flush_interval_ms: 20, refused_anonymous_per_minute: 2 },
  });
  const db = openSqlite(config.store.sqlite_path);
  const store = new SqliteEventStore(db);
  const lines: string[] = [];
  const unreachable = {
    authenticate(): never {
      throw new WardenError('WARDEN_STORE_UNAVAILABLE', 'API keys cannot be checked right now (the key store is unreachable); retry shortly.', { headers: { 'retry-after': '1' } });
    },
  };
  const gateway = await createGateway({ config, authenticator: unreachable, eventStore: store, logger: { level: 'warn', stream: { write: (s: string) => { lines.push(s); } } } as never });
  const url = await gateway.listen('127.0.0.1', 0);
  try {
    for (let i = 0; i < 6; i++) {
      const r = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST', headers: { authorization: `Bearer wk_live_AAAAAAAAAAAA_${'k'.repeat(40)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
      });
      await r.arrayBuffer();
      assert.equal(r.status, 503);
    }
    await gateway.recorder.flush();
    const events = [];
    for await (const e of store.iterate()) events.push(e);
    assert.equal(events.filter((e) => e.response.error_code === 'WARDEN_STORE_UNAVAILABLE').length, 6, `each of the 6 refusals is recorded: ${events.length}`);
    assert.ok(!lines.some((l) => /without a valid key/.test(l)), `no warning about keyless requests: ${lines.join('')}`);
  } finally {
    await gateway.close();
    await mock.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
