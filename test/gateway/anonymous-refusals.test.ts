// A client with no valid key can send as many requests as it likes, each with a 16 KiB
// User-Agent: what Warden keeps of them is bounded. A recorded user agent is cut to 1024
// characters, and past `events.refused_anonymous_per_minute` refusals from one address in a
// minute only one in 100 more is recorded; the rest are counted in a metric.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden } from '../helpers/warden.ts';

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
