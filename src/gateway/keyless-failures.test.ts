// The per-address count of requests refused for their key: its minute, what it holds back, and
// the keys it lets through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeylessFailures } from './keyless-failures.ts';

const bearer = (k: string) => ({ authorization: `Bearer ${k}` });

test('past N failures an address is held back until its minute is over, with the seconds left', () => {
  const k = new KeylessFailures(3);
  const t0 = 1_000_000;
  for (let i = 0; i < 3; i++) { k.check('198.51.100.7', bearer('bad'), t0 + i); k.failed('198.51.100.7', t0 + i); }
  assert.throws(() => k.check('198.51.100.7', bearer('bad'), t0 + 20_000), (e: any) => e.status === 429 && e.headers['retry-after'] === '40', 'held back, 40 s left of the minute');
  assert.throws(() => k.check('198.51.100.7', {}, t0 + 20_000), (e: any) => e.status === 429, 'no key at all too');
  k.check('198.51.100.8', bearer('bad'), t0 + 20_000); // another address is not
  k.check('198.51.100.7', bearer('bad'), t0 + 60_000); // the minute is over
});

test('an IPv6 /64 is one address; a key accepted lately passes', () => {
  const k = new KeylessFailures(2);
  const now = Date.now();
  k.accept('good', now);
  k.failed('2001:db8::1', now); k.failed('2001:db8::2', now);
  assert.throws(() => k.check('2001:db8::3', bearer('bad'), now + 1), /Too many requests without a valid API key/);
  k.check('2001:db8::3', bearer('good'), now + 1);
  k.check('2001:db8:0:1::3', bearer('bad'), now + 1); // another /64
});

test('0 is no limit', () => {
  const k = new KeylessFailures(0);
  for (let i = 0; i < 100; i++) k.failed('198.51.100.7');
  k.check('198.51.100.7', bearer('bad'));
  assert.equal(k.enabled, false);
});
