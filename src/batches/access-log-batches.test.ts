// With the access log on (`log.access`), a Message Batch's requests, which Warden runs in process
// and which reach no socket, are served as without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden } from '../../test/helpers/warden.ts';
import { untilSettled } from '../../test/helpers/batches.ts';

const headers = (key: string) => ({ 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': key });

test('a batch runs its requests with log.access on', { timeout: 60_000 }, async () => {
  const t = await startTestWarden({ log: { level: 'silent', access: true } });
  try {
    const { key } = await t.account('alice', 'identity_verified');
    const requests = [0, 1].map((i) => ({ custom_id: `r${i}`, params: { model: 'claude-sonnet-4-5', max_tokens: 16, messages: [{ role: 'user', content: `hello ${i}` }] } }));
    const created = await fetch(`${t.url}/v1/messages/batches`, { method: 'POST', headers: headers(key), body: JSON.stringify({ requests }) });
    assert.equal(created.status, 200, await created.clone().text());
    const { id } = await created.json() as { id: string };
    const ended = await untilSettled(
      async () => (await fetch(`${t.url}/v1/messages/batches/${id}`, { headers: headers(key) })).json() as Promise<{ processing_status: string; request_counts: Record<string, number> }>,
      (b) => b.processing_status === 'ended', (b) => `not ended: ${JSON.stringify(b.request_counts)}`, 30_000);
    assert.equal(ended.request_counts.succeeded, 2, `every request served: ${JSON.stringify(ended.request_counts)}`);
  } finally {
    await t.close();
  }
});
