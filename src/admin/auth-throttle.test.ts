// The wrong-token throttle's window, block and reset, on a clock the test moves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdminAuthThrottle, type AuthBlock } from './auth-throttle.ts';

function throttle(limit = 3) {
  let now = 1_000_000;
  const blocks: AuthBlock[] = [];
  const t = new AdminAuthThrottle({ limit, windowS: 60, blockS: 300 }, { now: () => now, onBlock: (b) => blocks.push(b) });
  return { t, blocks, advance: (s: number) => { now += s * 1000; } };
}

test('the limit within the window blocks the address for block_s; the block then ends', () => {
  const { t, blocks, advance } = throttle();
  t.failed('a'); t.failed('a');
  assert.equal(t.retryAfter('a'), 0, 'below the limit: not blocked');
  t.failed('a');
  assert.equal(t.retryAfter('a'), 300, 'at the limit: blocked for block_s');
  assert.equal(t.retryAfter('b'), 0, 'another address is not');
  assert.deepEqual(blocks.map((b) => [b.address, b.failures]), [['a', 3]]);
  advance(299.5);
  assert.equal(t.retryAfter('a'), 1, 'retry-after counts down, at least 1');
  advance(1);
  assert.equal(t.retryAfter('a'), 0, 'the block is over');
  t.failed('a');
  assert.equal(t.retryAfter('a'), 0, 'a new window starts after a block');
});

test('failures spread wider than the window do not block; an accepted token clears the count', () => {
  const { t, advance } = throttle();
  t.failed('a'); t.failed('a');
  advance(61);
  t.failed('a');
  assert.equal(t.retryAfter('a'), 0, 'the window restarted');
  t.failed('a');
  t.succeeded('a');
  t.failed('a'); t.failed('a');
  assert.equal(t.retryAfter('a'), 0, 'the success forgot the earlier failures');
  t.failed('a');
  assert.ok(t.retryAfter('a') > 0);
  t.succeeded('a');
  assert.ok(t.retryAfter('a') > 0, 'a success does not lift a block (it is not checked while blocked anyway)');
  assert.equal(t.blockedCount(), 1);
});

test('limit 0: never blocks, still counts', () => {
  const { t } = throttle(0);
  for (let i = 0; i < 50; i++) t.failed('a');
  assert.equal(t.retryAfter('a'), 0);
  assert.equal(t.stats.failures, 50);
});
