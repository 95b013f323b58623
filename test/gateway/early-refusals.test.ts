// Refusals decided before a request reaches the pipeline: the key is judged before the body,
// and the refusal is recorded under the caller's account.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness, storedEvents, GOOD_KEY, type Harness } from '../helpers/gateway.ts';

const open: Harness[] = [];
after(async () => { for (const h of open) await h.close().catch(() => {}); });
async function harness(opts: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const h = await startHarness(opts);
  open.push(h);
  return h;
}
const send = (url: string, path: string, body: string, headers: Record<string, string>) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

test('a missing or invalid key is refused with 401 before any complaint about the body', async () => {
  const h = await harness();
  for (const [body, type] of [['[]', 'application/json'], ['{"model":', 'application/json'], ['x', 'text/plain']]) {
    for (const headers of [{}, { authorization: 'Bearer wk_test_wrong' }] as Record<string, string>[]) {
      const r = await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': type, ...headers }, body });
      assert.equal(r.status, 401, `${body} ${JSON.stringify(headers)}`);
      const a = await fetch(`${h.url}/v1/messages`, { method: 'POST', headers: { 'content-type': type, 'anthropic-version': '2023-06-01', ...headers }, body });
      assert.equal(a.status, 401);
      assert.equal(((await a.json()) as any).error.type, 'authentication_error');
    }
  }
});

test('body refusals of a valid key are recorded under its account and key', async () => {
  const h = await harness({ config: { server: { body_limit_bytes: 1024 } } });
  const auth = { authorization: `Bearer ${GOOD_KEY}` };
  const statuses = [
    (await send(h.url, '/v1/chat/completions', '{"model":', auth)).status,
    (await send(h.url, '/v1/chat/completions', '[1,2]', auth)).status,
    (await send(h.url, '/v1/chat/completions', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }), auth)).status,
    (await fetch(`${h.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'text/plain', ...auth }, body: 'hi' })).status,
  ];
  assert.deepEqual(statuses, [400, 400, 413, 415]);
  const events = await storedEvents(h, 4);
  assert.equal(events.length, 4);
  for (const e of events) {
    assert.equal(e.account_id, 'acc_test', e.response.error_code ?? '');
    assert.equal(e.key_id, `key_${GOOD_KEY.slice(-6)}`);
    assert.equal(e.account?.tier, 'email_verified');
    assert.ok(!JSON.stringify(e).includes(GOOD_KEY));
  }
});
