// Prompt-cache reads are kept out of `input_tpm` (Anthropic does not count them toward its input
// rate limit), unless `limits.cache.reads_in_input_tpm` says to count them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LIMIT_FIELDS } from './config.ts';
import { Limiter, type LimitRequest } from './limiter.ts';
import { testConfig } from '../../test/helpers/limits.ts';

const unlimited = Object.fromEntries(LIMIT_FIELDS.map((f) => [f, null]));
const tier = { key: unlimited, org: unlimited, account: { ...unlimited, input_tpm: 10_000 } };
const ask = (inputTokens: number): LimitRequest => ({
  keyId: 'k_1', accountId: 'acc_1', orgId: null, tier: 'email_verified', programme: 'none', ip: null, asn: null,
  clusterId: null, model: 'claude-x', verdictLevel: 'none', inputTokens, outputTokens: 10,
});

async function secondFits(readsInInputTpm: boolean): Promise<boolean> {
  const config = testConfig({
    tiers: { unverified: tier, email_verified: tier, identity_verified: tier, enterprise: tier },
    network: { ip: unlimited, subnet: unlimited, asn: unlimited }, cluster: unlimited,
    cache: { reads_in_input_tpm: readsInInputTpm },
  });
  const limiter = new Limiter({ config });
  try {
    const now = 1_000_000_000_000; // one instant: nothing refills between the two decisions
    const first = await limiter.decide(ask(6_000), now);
    assert.equal(first.allowed, true);
    // 6,000 input tokens, 5,000 of them read from the prompt cache
    await limiter.settle(first.reservation!, { inputTokens: 6_000, outputTokens: 10, cachedInputTokens: 5_000 }, now);
    const second = await limiter.decide(ask(6_000), now);
    if (second.reservation) await limiter.settle(second.reservation, null, now);
    return second.allowed;
  } finally {
    await limiter.close();
  }
}

test('cache reads do not use up input_tpm by default', async () => {
  assert.equal(await secondFits(false), true, '1,000 uncached + 6,000 fit in 10,000');
});

test('reads_in_input_tpm: true counts them as the full input', async () => {
  assert.equal(await secondFits(true), false, '6,000 + 6,000 exceed 10,000');
});
