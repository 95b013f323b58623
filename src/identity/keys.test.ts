import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mintSecret, parseSecret, randomBase62, secretMatches, constantTimeEqual, LOOKUP_ID_LENGTH } from './keys.ts';
import { emailDomain, normaliseIp, normaliseCountry, paymentFingerprint } from './facts.ts';
import { apiKeyFromHeaders } from './headers.ts';

describe('key secrets', () => {
  it('have the documented shape and parse back to their lookup id', () => {
    const m = mintSecret('wk_test');
    assert.match(m.secret, /^wk_test_[0-9A-Za-z]{12}_[0-9A-Za-z]{40}$/);
    assert.equal(m.prefix, `wk_test_${m.lookupId}`);
    assert.equal(m.hash, createHash('sha256').update(m.secret).digest('hex'));
    assert.deepEqual(parseSecret(m.secret), { lookupId: m.lookupId });
    assert.equal(m.lookupId.length, LOOKUP_ID_LENGTH);
  });

  it('are unique and use the whole base62 alphabet evenly', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) seen.add(mintSecret('wk_live').secret);
    assert.equal(seen.size, 2000);
    const counts = new Map<string, number>();
    const s = randomBase62(62_000);
    for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
    assert.equal(counts.size, 62);
    for (const n of counts.values()) assert.ok(n > 800 && n < 1200, `skewed count ${n}`);
  });

  it('reject strings that cannot be keys', () => {
    for (const bad of ['', 'sk-abc', 'wk_live__' + 'a'.repeat(40), 'wk_live_short_' + 'a'.repeat(40), 'wk_live_AAAAAAAAAAAA_tooshort', 'wk_live_AAAAAAAAAAA!_' + 'a'.repeat(40), 'x'.repeat(300)]) {
      assert.equal(parseSecret(bad), null, bad);
    }
  });

  it('match only their own hash', () => {
    const a = mintSecret('wk_live');
    const b = mintSecret('wk_live');
    assert.equal(secretMatches(a.secret, a.hash), true);
    assert.equal(secretMatches(b.secret, a.hash), false);
    assert.equal(secretMatches(a.secret, 'abcd'), false);
    assert.equal(constantTimeEqual('token-1', 'token-1'), true);
    assert.equal(constantTimeEqual('token-1', 'token-12'), false);
  });
});

describe('signup facts', () => {
  it('normalise emails, IPs and countries', () => {
    assert.equal(emailDomain('Bob@Example.COM'), 'example.com');
    assert.equal(emailDomain('a@b@münchen.de'), 'xn--mnchen-3ya.de');
    assert.equal(emailDomain('nobody'), null);
    assert.equal(normaliseIp('::ffff:10.0.0.1'), '10.0.0.1');
    assert.equal(normaliseIp('::FFFF:a00:1'), '10.0.0.1');
    assert.equal(normaliseIp('2001:0DB8:0000::0001'), '2001:db8::1');
    assert.equal(normaliseIp('[::1]'), '::1');
    assert.equal(normaliseIp('not-ip'), null);
    assert.equal(normaliseCountry(' fr '), 'FR');
    assert.equal(normaliseCountry('FRA'), null);
  });

  it('fingerprint payment instruments with a keyed hash', () => {
    const a = paymentFingerprint('4000 0000 0000 0002', 'k1');
    assert.equal(a, paymentFingerprint('4000-0000-0000-0002', 'k1'));
    assert.notEqual(a, paymentFingerprint('4000 0000 0000 0002', 'k2'), 'the key matters');
    assert.notEqual(a, createHash('sha256').update('4000000000000002').digest('hex'), 'not a plain hash');
    assert.throws(() => paymentFingerprint('x', ''));
  });
});

describe('apiKeyFromHeaders', () => {
  it('reads OpenAI and Anthropic style headers', () => {
    assert.equal(apiKeyFromHeaders({ authorization: 'Bearer wk_live_x' }), 'wk_live_x');
    assert.equal(apiKeyFromHeaders({ authorization: 'bearer  wk_live_y ' }), 'wk_live_y');
    assert.equal(apiKeyFromHeaders({ 'x-api-key': 'wk_live_z' }), 'wk_live_z');
    assert.equal(apiKeyFromHeaders({ authorization: 'Basic abc' }), null);
    assert.equal(apiKeyFromHeaders({}), null);
  });
  it('takes both headers with one key, refuses two different keys', () => {
    assert.equal(apiKeyFromHeaders({ authorization: 'Bearer wk_live_x', 'x-api-key': ' wk_live_x' }), 'wk_live_x');
    assert.equal(apiKeyFromHeaders({ authorization: 'Basic abc', 'x-api-key': 'wk_live_z' }), 'wk_live_z', 'not a Bearer key: no conflict');
    assert.equal(apiKeyFromHeaders({ authorization: 'Bearer wk_live_x', 'x-api-key': '' }), 'wk_live_x', 'an empty x-api-key is no key');
    // Two Warden keys (the key format) are ambiguous; a proxy's own bearer token beside a Warden key is not.
    const keyA = `wk_live_${'a'.repeat(LOOKUP_ID_LENGTH)}_${'A'.repeat(32)}`;
    const keyB = `wk_live_${'b'.repeat(LOOKUP_ID_LENGTH)}_${'B'.repeat(32)}`;
    assert.throws(() => apiKeyFromHeaders({ authorization: `Bearer ${keyA}`, 'x-api-key': keyB }), (err: any) => err.code === 'WARDEN_AMBIGUOUS_API_KEY');
    assert.equal(apiKeyFromHeaders({ authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.proxy.token', 'x-api-key': keyB }), keyB);
    assert.equal(apiKeyFromHeaders({ authorization: `Bearer ${keyA}`, 'x-api-key': 'not-a-key' }), keyA);
  });
});
