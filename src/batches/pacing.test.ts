// A batch far larger than its account's burst is paced by the rate limit, not failed: a 429 pauses
// the whole batch until its Retry-After, so its requests do not all meet the limit in turn and
// spend their attempts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startTestWarden } from '../../test/helpers/warden.ts';

const ask = (i: number) => ({ custom_id: `r${i}`, params: { model: 'claude-sonnet-5', max_tokens: 8, messages: [{ role: 'user' as const, content: `item ${i}` }] } });

/** A Warden where the email-verified account `slow` is held to `limit` and the enterprise account `fast` is not; closed after `run`. */
async function withSlowAndFast(limit: { rpm: number; burst: number }, run: (slow: Anthropic, fast: Anthropic) => Promise<void>): Promise<void> {
  const tw = await startTestWarden({ limits: { tiers: { email_verified: { account: limit } } } });
  try {
    const client = async (name: string, tier: string) => new Anthropic({ apiKey: (await tw.account(name, tier)).key, baseURL: tw.w.url, maxRetries: 0 });
    await run(await client('slow', 'email_verified'), await client('fast', 'enterprise'));
  } finally {
    await tw.close();
  }
}

test('60 requests against a burst of 5 at 10 a second: every one succeeds, few are refused on the way', { timeout: 60_000 }, async (t) => {
  const tw = await startTestWarden({ limits: { tiers: { email_verified: { account: { rpm: 600, burst: 5 } } } } });
  const w = tw.w;
  try {
    const account = await tw.account('bulk', 'email_verified');
    const client = new Anthropic({ apiKey: account.key, baseURL: w.url, maxRetries: 0 });
    const started = Date.now();
    const created = await client.messages.batches.create({ requests: Array.from({ length: 60 }, (_, i) => ask(i)) });
    let b = created;
    for (let t = 0; t < 400 && b.processing_status !== 'ended'; t++) {
      await new Promise((r) => setTimeout(r, 100));
      b = await client.messages.batches.retrieve(created.id);
    }
    assert.deepEqual(b.request_counts, { processing: 0, succeeded: 60, errored: 0, canceled: 0, expired: 0 });
    assert.ok(Date.now() - started >= 4000, 'paced by the limit: 55 requests past the burst at 10 a second');
    await w.gateway.recorder.flush();
    let refused = 0;
    for await (const e of w.stores.events.iterate()) if (e.account_id === account.id && e.response.status === 429) refused++;
    t.diagnostic(`${refused} attempts refused, ${Date.now() - started} ms`);
    assert.ok(refused <= 30, `${refused} attempts refused by the limit: about one a pause, not one per waiting request`);
  } finally {
    await tw.close();
  }
});

test('a batch paced by a slow limit does not hold up other customers\' batches on the node', { timeout: 60_000 }, async () => {
  await withSlowAndFast({ rpm: 6, burst: 1 }, async (slow, fast) => {
    const paced = await slow.messages.batches.create({ requests: Array.from({ length: 30 }, (_, i) => ask(i)) });
    await new Promise((r) => setTimeout(r, 500)); // the slow batch meets its limit and is paced (one every 10 s)
    const started = Date.now();
    const quick = await fast.messages.batches.create({ requests: Array.from({ length: 40 }, (_, i) => ask(i)) });
    let b = quick;
    while (b.processing_status !== 'ended' && Date.now() - started < 15_000) {
      await new Promise((r) => setTimeout(r, 50));
      b = await fast.messages.batches.retrieve(quick.id);
    }
    assert.equal(b.processing_status, 'ended', 'the other customer\'s batch ran');
    assert.ok(Date.now() - started < 5_000, `in ${Date.now() - started} ms, not behind the paced one`);
    assert.equal(b.request_counts.succeeded, 40);
    const p = await slow.messages.batches.retrieve(paced.id);
    assert.equal(p.processing_status, 'in_progress');
    assert.ok(p.request_counts.processing >= 25, JSON.stringify(p.request_counts));
    await slow.messages.batches.cancel(paced.id);
  });
});

test('several paced batches of one account do not hold up another customer\'s batch', { timeout: 90_000 }, async (t) => {
  // One request a second: each paced request is due within the few seconds a node holds one for.
  await withSlowAndFast({ rpm: 60, burst: 1 }, async (slow, fast) => {
    const paced: Anthropic.Messages.Batches.MessageBatch[] = [];
    // A creation is charged as a request: past the burst it is refused, and retried after its
    // retry-after as the SDKs do by default (the runner paces the batches a little under the limit).
    const creator = new Anthropic({ apiKey: slow.apiKey, baseURL: slow.baseURL, maxRetries: 5 });
    for (let b = 0; b < 6; b++) paced.push(await creator.messages.batches.create({ requests: Array.from({ length: 20 }, (_, i) => ask(i)) }));
    await new Promise((r) => setTimeout(r, 3_000)); // the slow account's batches meet its limit and are paced
    const succeededOfSlow = async () => {
      let n = 0;
      for (const p of paced) n += (await slow.messages.batches.retrieve(p.id)).request_counts.succeeded;
      return n;
    };
    const before = await succeededOfSlow();
    const started = Date.now();
    const quick = await fast.messages.batches.create({ requests: Array.from({ length: 20 }, (_, i) => ask(i)) });
    let b = quick;
    for (let i = 0; i < 600 && b.processing_status !== 'ended'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      b = await fast.messages.batches.retrieve(quick.id);
    }
    const after = await succeededOfSlow();
    t.diagnostic(`other batch: ${Date.now() - started} ms; paced account ran ${after - before}`);
    assert.equal(b.processing_status, 'ended', 'the other customer\'s batch ran');
    assert.equal(b.request_counts.succeeded, 20);
    // The paced account runs one request a second: the other batch ended while it ran a few at most.
    assert.ok(after - before <= 3, `the paced account ran ${after - before} requests while the other customer's batch waited`);
    for (const p of paced) await slow.messages.batches.cancel(p.id);
  });
});
