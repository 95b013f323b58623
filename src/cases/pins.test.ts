// Pins reloaded from a configuration read again (SIGHUP, POST /admin/intel/pins/reload): a feed
// without a pin of its own follows its partner's new pin, a feed with its own takes that; a bad
// pin anywhere changes nothing; partners and feeds the configuration adds or drops are named, not applied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SharedIndicators } from '../detect/index.ts';
import { FeedPoller, IntelSigner, MemoryCaseStore, Partners, reloadPins } from './index.ts';

const KEY = 'pins-unit-sharing-key-0123456789';
const [a1, a2, d1, d2] = [IntelSigner.generate(), IntelSigner.generate(), IntelSigner.generate(), IntelSigner.generate()];
const store = new MemoryCaseStore();
const intel = new SharedIndicators(KEY);
const partners = new Partners({ store, intel, sharedKey: KEY, provider: 'B', validDays: 90, partners: [{ name: 'Provider A', key: null, trust: 'high', hold: 'none', publicKeys: [a1.publicKey] }] });
const feed = (name: string, publicKey: IntelSigner['publicKey'][]) => ({ name, url: 'https://x.example/c/', token: 't', level: 'throttle' as const, everyMs: 60_000, timeoutMs: 1000, publicKey });
const feeds = new FeedPoller({ store, intel, sharingKey: KEY }, [feed('Provider A', [a1.publicKey]), feed('Provider D', [d1.publicKey])], () => {});
const ids = (name: string) => feeds.pinsOf(name).map((k) => k.keyId);

test('a reload pins the partner and its feed anew, a feed with its own pin takes that; a bad pin changes nothing', () => {
  assert.throws(() => reloadPins(partners, feeds, { partners: [{ name: 'Provider A', public_key: a2.publicKey.toString() }], feeds: [{ name: 'Provider D', public_key: 'ed25519:bad' }] }), /cases\.feeds\.0\.public_key/);
  assert.deepEqual([partners.publicKeysFor('Provider A').map((k) => k.keyId), ids('Provider A'), ids('Provider D')], [[a1.keyId], [a1.keyId], [d1.keyId]], 'nothing changed');

  const r = reloadPins(partners, feeds, {
    partners: [{ name: 'Provider A', public_key: [a1.publicKey.toString(), a2.publicKey.toString()] }, { name: 'Provider New' }],
    feeds: [{ name: 'Provider A' }, { name: 'Provider D', public_key: d2.publicKey.toString() }],
  });
  assert.deepEqual(partners.publicKeysFor('Provider A').map((k) => k.keyId), [a1.keyId, a2.keyId]);
  assert.deepEqual(ids('Provider A'), [a1.keyId, a2.keyId], 'the feed without its own pin follows its partner\'s');
  assert.deepEqual(ids('Provider D'), [d2.keyId]);
  assert.equal(r.changed.length, 3, JSON.stringify(r));
  assert.deepEqual(r.ignored, ['Provider New'], 'a partner added takes effect at restart');
});
