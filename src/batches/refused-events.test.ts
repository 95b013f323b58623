// Every request Warden runs for a batch is an event of the batch's owner, with `client.batch_id`,
// refused ones included: one too large for the gateway (refused before anyone is authenticated
// again) and those refused because the key that sent the batch was revoked while it ran. An
// operator looking for whose batch they were finds them under the account.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startTestWarden, TEST_ADMIN_TOKEN } from '../../test/helpers/warden.ts';

test('requests of a batch refused when they run are recorded with the batch and its owner', { timeout: 60_000 }, async () => {
  // Two requests a second after the first: the key is revoked while the batch runs.
  const tw = await startTestWarden({
    server: { port: 0, body_limit_bytes: 4096 },
    limits: { tiers: { email_verified: { account: { rpm: 120, burst: 1 } } } },
  });
  try {
    const account = await tw.admin('/accounts', { name: 'owner', email: 'owner@example.org', tier: 'email_verified' });
    const { key, secret } = await tw.admin(`/accounts/${account.id}/keys`, { name: 'k' });
    const client = new Anthropic({ apiKey: secret, baseURL: tw.url, maxRetries: 0 });
    const ask = (id: string, content: string) => ({ custom_id: id, params: { model: 'claude-sonnet-5', max_tokens: 8, messages: [{ role: 'user' as const, content }] } });
    // The first request's body is larger than the gateway accepts (413); the batch's body is not.
    const created = await client.messages.batches.create({ requests: [ask('big', 'x'.repeat(6000)), ...Array.from({ length: 19 }, (_, i) => ask(`r${i}`, `item ${i}`))] });
    let b = created;
    for (let i = 0; i < 200 && b.request_counts.succeeded < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      b = await client.messages.batches.retrieve(created.id);
    }
    assert.ok(b.request_counts.succeeded >= 2, JSON.stringify(b.request_counts));
    await tw.admin(`/keys/${key.id}/revoke`, { reason: 'test' });
    // The key is refused from now on: the batch is read as an operator reads it.
    let ended: any = null;
    for (let i = 0; i < 400; i++) {
      const list = await (await fetch(`${tw.url}/admin/batches?account=${account.id}`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).json() as any;
      ended = list.data.find((x: any) => x.id === created.id);
      if (ended?.processing_status === 'ended') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(ended?.processing_status, 'ended');

    const events = await tw.events((e) => e.client.batch_id === created.id, 20);
    const revoked = events.filter((e) => e.response.error_code === 'WARDEN_REVOKED_API_KEY');
    assert.ok(revoked.length >= 1, `some requests were refused for the revoked key: ${events.map((e) => e.response.status).join(',')}`);
    for (const e of revoked) {
      assert.equal(e.account_id, account.id, 'a request refused for its revoked key is the batch owner\'s');
      assert.equal(e.key_id, key.id);
      assert.equal(e.response.status, 401);
    }
    const tooLarge = events.filter((e) => e.response.status === 413);
    assert.equal(tooLarge.length, 1, 'the request too large is marked with its batch');
    assert.equal(tooLarge[0].account_id, account.id);
    assert.equal(tooLarge[0].key_id, key.id);
    // None of the batch's requests is recorded without its owner.
    const anonymous = await tw.events((e) => e.account_id === null && (e.response.status === 401 || e.response.status === 413), 1, 200);
    assert.deepEqual(anonymous.map((e) => e.response.error_code), []);
    const succeeded = events.filter((e) => e.response.status === 200).length;
    const refused = events.filter((e) => e.response.status !== 200 && e.response.status !== 429).length;
    assert.equal(succeeded + refused, 20, 'each request of the batch is recorded once with it (besides the limit\'s refusals)');
  } finally {
    await tw.close();
  }
});
