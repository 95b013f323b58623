// Limits through the real gateway: a burst over the account's rate gets 429 in the caller's wire
// format with retry-after and the rate-limit headers each SDK reads; the refusal is on the event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { limitsConfigSchema, limitsHooks } from '../../src/limits/index.ts';
import { startHarness, storedEvents, GOOD_KEY } from '../helpers/gateway.ts';

test('over the account rate: 429 with retry-after and rate-limit headers, recorded on the event', async () => {
  const config = limitsConfigSchema.parse({ tiers: { email_verified: { account: { rpm: 60, burst: 3 } } } });
  const hooks = limitsHooks({ config });
  await hooks.limiter.ready();
  const h = await startHarness({ hooks: [hooks] });
  try {
    const send = (wire: 'openai' | 'anthropic') => fetch(`${h.url}${wire === 'openai' ? '/v1/chat/completions' : '/v1/messages'}`, {
      method: 'POST',
      headers: wire === 'openai'
        ? { 'content-type': 'application/json', authorization: `Bearer ${GOOD_KEY}` }
        : { 'content-type': 'application/json', 'x-api-key': GOOD_KEY, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify(wire === 'openai'
        ? { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 10 }
        : { model: 'claude-x', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const statuses: number[] = [];
    let refused: Response | null = null;
    for (let i = 0; i < 6; i++) {
      const r = await send('openai');
      statuses.push(r.status);
      if (r.status === 200) assert.ok(r.headers.get('x-ratelimit-limit-requests'), 'OpenAI rate-limit headers on success');
      if (r.status === 429 && !refused) refused = r; else await r.arrayBuffer();
    }
    assert.deepEqual(statuses.slice(0, 3), [200, 200, 200]);
    assert.ok(refused, `a refusal after the burst (${statuses})`);
    assert.ok(Number(refused!.headers.get('retry-after')) >= 1);
    const body = (await refused!.json()) as any;
    assert.equal(body.error.code, 'WARDEN_RATE_LIMITED');
    assert.equal(body.error.type, 'rate_limit_error');

    const a = await send('anthropic');
    assert.equal(a.status, 429);
    assert.ok(a.headers.get('anthropic-ratelimit-requests-limit'));
    const ab = (await a.json()) as any;
    assert.equal(ab.type, 'error');
    assert.equal(ab.error.type, 'rate_limit_error');

    const events = await storedEvents(h, 7);
    const limited = events.filter((e) => e.response.status === 429);
    assert.ok(limited.length >= 2);
    assert.equal(limited[0].enforcement.limit?.allowed, false);
    assert.ok(limited[0].enforcement.limit?.scope);
  } finally {
    await h.close();
  }
});
