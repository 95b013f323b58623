// The per-address count of requests refused for their key: its minute, what it holds back, and
// the keys it lets through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeylessFailures } from './keyless-failures.ts';
import { CachedAuthenticator } from '../identity/cache.ts';
import { acceptedSecretHash, hashSecret } from '../identity/keys.ts';

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

test('a key the cached authenticator accepts is remembered by the hash it checked, and passes a held-back address; a wrong secret of the same key does not', async () => {
  const secret = 'wk_live_AbCdEf123456_' + 'Z'.repeat(40);
  const record = {
    key: { id: 'key_1', account_id: 'acc_1', prefix: 'wk_live_AbCdEf123456', name: null, scopes: ['inference'], created_at: '2026-01-01T00:00:00.000Z', expires_at: null, revoked_at: null, last_used_at: null },
    account: { id: 'acc_1', org_id: null, name: null, tier: 'email_verified', programme: 'none', status: 'active', created_at: '2026-01-01T00:00:00.000Z', first_used_at: '2026-01-01T00:00:00.000Z', email: 'a@example.com', email_domain: 'example.com', signup_ip: null, claimed_country: null, payment_fp: null, email_pattern: null },
    org: null,
    hash: hashSecret(secret),
  };
  const store = { lookupKey: async (id: string) => (id === 'AbCdEf123456' ? record : null), onChange: () => () => {}, touchKeys: async () => {} } as any;
  const cached = new CachedAuthenticator(store, { flushMs: 3_600_000 });
  const k = new KeylessFailures(1);
  const auth = await k.authenticator(cached).authenticate(secret);
  assert.equal(acceptedSecretHash(auth), hashSecret(secret), 'the authenticator hands over the hash it checked');
  const now = Date.now();
  k.failed('198.51.100.9', now);
  k.check('198.51.100.9', bearer(secret), now + 1);
  assert.throws(() => k.check('198.51.100.9', bearer('wk_live_AbCdEf123456_' + 'Y'.repeat(40)), now + 1), /Too many requests without a valid API key/, 'the same lookup id with another secret is held back');
  await (cached as any).close?.();
});
