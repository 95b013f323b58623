import { test } from 'node:test';
import assert from 'node:assert/strict';
import { largestSignedSize } from './verify.ts';

test('the largest signed size is found among more checkpoints than a call can take as arguments', () => {
  // A log signs a checkpoint every checkpoint_interval_ms (500 ms by default): 172,800 a day.
  const count = 300_000;
  const cps = Array.from({ length: count }, (_, i) => ({ size: i + 1, valid: i !== count - 1 }));
  assert.equal(largestSignedSize(cps), count - 1, 'the invalid last checkpoint is skipped, the largest valid one counts');
  assert.equal(largestSignedSize([]), 0, 'no checkpoint: nothing is signed');
  assert.equal(largestSignedSize([{ size: 5, valid: false }]), 0, 'an invalid checkpoint signs nothing');
});
