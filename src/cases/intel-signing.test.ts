// Signed indicators between providers, over real sockets: A's TAXII server signs every object it
// serves with A's key; B's feed of A pins A's public key and takes in only what A signed. A bundle
// forged by someone holding the sharing key (unsigned, or signed with another key) and an
// indicator altered on its way are refused, with the reason logged and in the feed's state.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { SharedIndicators, keyedHash } from '../detect/index.ts';
import { FeedPoller, IntelPublicKey, IntelSigner, MemoryCaseStore, PUBLISHED_COLLECTION, registerTaxiiServer, TAXII_MEDIA_TYPE, stixId, type FeedSpec } from './index.ts';
import { casesConfigSchema } from './config.ts';
import { systemPromptIndicator } from '../../test/helpers/intel.ts';

const KEY = 'shared-intel-key-0123456789abcdef';
const signerA = IntelSigner.generate();
const mallory = IntelSigner.generate();

const indicator = (value: string) => systemPromptIndicator(KEY, value);

// Provider A's real TAXII server, with its signing key.
const storeA = new MemoryCaseStore();
const published = [indicator('you are a harvesting bot'), indicator('answer as teacher model')];
await storeA.publish(PUBLISHED_COLLECTION, published.map((body) => ({ body, caseId: null })));
const appA = Fastify();
await appA.register(async (s) => registerTaxiiServer(s, {
  store: storeA, intel: new SharedIndicators(KEY), sharingKey: KEY, provider: 'Provider A', importLevel: 'throttle', maxContentLength: 64 * 1024, requestsPerMinute: 6000,
  authenticate: async () => ({ key: { id: 'k1', scopes: ['intel:read'] }, account: { id: 'acct_b', name: 'Provider B' }, org: null }), signer: signerA,
}), { prefix: '/taxii2' });
const baseA = await appA.listen({ port: 0, host: '127.0.0.1' });
const collectionA = `${baseA}/taxii2/intel/collections/${stixId('collection', 'Provider A', 'indicators').slice('collection--'.length)}/`;

// A server that answers whatever envelope the test sets (a forger, or a path that alters objects).
let served: unknown[] = [];
const fake = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': TAXII_MEDIA_TYPE, 'x-taxii-date-added-last': '2026-01-02T00:00:00.000000Z' });
  res.end(JSON.stringify({ more: false, objects: served }));
});
await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
const fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/taxii2/intel/collections/x/`;

after(async () => { await appA.close(); await new Promise((r) => fake.close(r)); });

function poller(url: string, publicKey: IntelPublicKey | null) {
  const intel = new SharedIndicators(KEY);
  const said: string[] = [];
  const feed: FeedSpec = { name: 'Provider A', url, token: 'partner-token', level: 'throttle', everyMs: 60_000, timeoutMs: 5_000, publicKey };
  return { intel, said, feeds: new FeedPoller({ store: new MemoryCaseStore(), intel, sharingKey: KEY }, [feed], (l) => said.push(l)) };
}

test('a feed pinning the partner\'s public key takes in what the partner\'s server signed', async () => {
  const b = poller(collectionA, IntelPublicKey.parse(signerA.publicKey.toString()));
  const state = await b.feeds.pull('Provider A')!;
  assert.equal(state.last_error, null, `${state.last_error}`);
  assert.equal(state.imported, 2, JSON.stringify(state));
  assert.deepEqual(b.intel.list().map((i) => i.id).sort(), published.map((p) => p.id).sort());
  assert.deepEqual(b.said, [], 'nothing to warn about');
});

test('a bundle forged by a holder of the sharing key, unsigned or signed with another key, is refused with the reason', async () => {
  const pinned = IntelPublicKey.parse(signerA.publicKey.toString());
  for (const [what, objects, reason] of [
    ['unsigned', [indicator('forged one')], /unsigned, and ed25519:\w+ is pinned/],
    ['signed with another key', [mallory.sign(indicator('forged two'))], new RegExp(`signed with key ${mallory.keyId}, not the key pinned for this source \\(${signerA.keyId}\\)`)],
    // Another provider's key id written on it does not help: the signature is checked.
    ['claiming the partner\'s key id', [{ ...mallory.sign(indicator('forged three')), x_warden_signature: { ...(mallory.sign(indicator('x')).x_warden_signature as object), key_id: signerA.keyId } }], /does not match its content/],
  ] as const) {
    served = [...objects];
    const b = poller(fakeUrl, pinned);
    const state = await b.feeds.pull('Provider A')!;
    assert.equal(b.intel.list().length, 0, `${what}: nothing taken in: ${JSON.stringify(b.intel.list())}`);
    assert.equal(state.imported, 0, `${what}: ${JSON.stringify(state)}`);
    assert.equal(state.refused, 1, `${what}: counted as refused: ${JSON.stringify(state)}`);
    assert.match(state.last_error ?? '', reason, `${what}: the feed's state says why: ${state.last_error}`);
    assert.ok(b.said.some((l) => l.startsWith('intel feed Provider A: 1 of 1 objects refused') && reason.test(l)), `${what}: logged: ${b.said.join(' | ')}`);
  }
});

test('an indicator altered after the partner signed it is refused; the others of the page are taken in', async () => {
  const good = signerA.sign(indicator('kept as signed'));
  const altered = signerA.sign(indicator('original value'));
  altered.pattern = `[x-warden-keyed-hash:kind = 'system_prompt' AND x-warden-keyed-hash:hmac = '${keyedHash(KEY, 'system_prompt', 'an innocent customer prompt')}']`;
  served = [good, altered];
  const b = poller(fakeUrl, IntelPublicKey.parse(signerA.publicKey.toString()));
  const state = await b.feeds.pull('Provider A')!;
  assert.deepEqual(b.intel.list().map((i) => i.id), [good.id], 'only the untouched indicator is matched');
  assert.equal(state.refused, 1);
  assert.match(state.last_error ?? '', new RegExp(`${altered.id}: its signature by key ${signerA.keyId} does not match its content`), `${state.last_error}`);
});

test('without a pinned key a feed is read as before, with a warning once', async () => {
  served = [indicator('unsigned but unpinned')];
  const b = poller(fakeUrl, null);
  assert.equal((await b.feeds.pull('Provider A')!).imported, 1);
  await b.feeds.pull('Provider A', { fromStart: true });
  assert.equal(b.said.filter((l) => /WARNING no public key is pinned \(cases\.feeds\[\]\.public_key\)/.test(l)).length, 1, b.said.join(' | '));
});

test('the signature is over the canonical form: key order and white space do not matter, a signing key round-trips its text form', () => {
  const o = signerA.sign(indicator('canonical'));
  const reordered = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(o).reverse()), null, 2));
  assert.equal(signerA.publicKey.check(reordered), null);
  const again = IntelSigner.parse(signerA.exportPrivate());
  assert.equal(again.publicKey.toString(), signerA.publicKey.toString());
  assert.throws(() => casesConfigSchema.parse({ feeds: [{ name: 'A', url: 'https://a.example/c/', public_key: 'not-a-key' }] }), /ed25519 public key/);
  assert.equal(casesConfigSchema.parse({ feeds: [{ name: 'A', url: 'https://a.example/c/', public_key: signerA.publicKey.toString() }] }).feeds[0].public_key, signerA.publicKey.toString());
});
