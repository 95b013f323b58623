// Signatures on what partners push and operators import, over real sockets: a partner whose
// public key is pinned (cases.partners[].public_key) has its inbox posts taken in only when it
// signed them; forged, altered and unsigned objects are refused with the reason in the TAXII
// status. A partner with nothing pinned is taken as before, with a warning. An operator's import
// given a public key takes in only what that key signed. A pin may list two keys, so a partner
// rotates its signing key without a gap.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { SharedIndicators, DetectorEngine, keyedHash } from '../detect/index.ts';
import { checkSigned, DEFAULT_CASE_LIMITS, IntelPublicKey, IntelSigner, MemoryCaseStore, Partners, registerCasesAdminRoutes, registerTaxiiServer, stixId, TAXII_MEDIA_TYPE } from './index.ts';
import { casesConfigSchema } from './config.ts';
import { systemPromptIndicator } from '../../test/helpers/intel.ts';

const KEY = 'shared-intel-key-0123456789abcdef';
const signerA = IntelSigner.generate();
const rotatedA = IntelSigner.generate();
const mallory = IntelSigner.generate();
const pin = (...s: IntelSigner[]) => s.map((x) => IntelPublicKey.parse(x.publicKey.toString()));

const indicator = (value: string) => systemPromptIndicator(KEY, value);

/** This provider (B): its inbox, its admin import; Provider A pinned (two keys: before and after its rotation), Provider C not. */
const store = new MemoryCaseStore();
const intel = new SharedIndicators(KEY);
const said: string[] = [];
const partners = new Partners({
  store, intel, sharedKey: KEY, provider: 'Provider B', validDays: 90,
  partners: [
    { name: 'Provider A', key: null, trust: 'high', hold: 'none', publicKeys: pin(signerA, rotatedA) },
    { name: 'Provider C', key: null, trust: 'high', hold: 'none', publicKeys: [] },
  ],
});
await partners.load();
const app = Fastify();
await app.register(async (s) => registerTaxiiServer(s, {
  store, intel, sharingKey: KEY, partners, provider: 'Provider B', importLevel: 'throttle', maxContentLength: 256 * 1024, requestsPerMinute: 6000,
  authenticate: async (secret) => ({ key: { id: secret, scopes: ['intel:write'] }, account: { id: `acct_${secret}`, name: null }, org: { name: secret === 'key-a' ? 'Provider A' : 'Provider C' } }),
  say: (l) => said.push(l),
}), { prefix: '/taxii2' });
await app.register(async (s) => registerCasesAdminRoutes(s, {
  store, intel, sharingKey: KEY, partners, provider: 'Provider B', importLevel: 'throttle', exportValidDays: 90,
  sources: { engine: new DetectorEngine({ intel, config: { tick_seconds: 5 } }), events: null as never }, limits: DEFAULT_CASE_LIMITS,
}), { prefix: '/admin' });
const url = await app.listen({ port: 0, host: '127.0.0.1' });
after(() => app.close());

const inbox = `${url}/taxii2/intel/collections/${stixId('collection', 'Provider B', 'inbox').slice('collection--'.length)}/objects/`;
async function push(key: string, objects: object[]) {
  const res = await fetch(inbox, { method: 'POST', headers: { accept: TAXII_MEDIA_TYPE, 'content-type': TAXII_MEDIA_TYPE, authorization: `Bearer ${key}` }, body: JSON.stringify({ objects }) });
  type Status = { success_count: number; failures: Array<{ id: string; message: string }> };
  const body = await res.json() as Status & { details?: { status: Status } };
  // Nothing taken in is TAXII's 422, the status in its details; anything taken in, a 202 status.
  if (res.status === 422) return body.details!.status;
  assert.equal(res.status, 202, JSON.stringify(body));
  return body;
}
const held = () => new Set(intel.list().map((i) => i.id));

test('a pinned partner\'s inbox post: what it signed is taken in; unsigned, forged and altered objects are refused with the reason', async () => {
  const good = signerA.sign(indicator('harvester prompt one'));
  const unsigned = indicator('forged by a sharing-key holder');
  const forged = mallory.sign(indicator('signed by someone else'));
  const altered = signerA.sign(indicator('original'));
  altered.pattern = `[x-warden-keyed-hash:kind = 'system_prompt' AND x-warden-keyed-hash:hmac = '${keyedHash(KEY, 'system_prompt', 'an innocent customer prompt')}']`;
  const status = await push('key-a', [good, unsigned, forged, altered]);
  assert.equal(status.success_count, 1, JSON.stringify(status));
  const why = new Map(status.failures.map((f) => [f.id, f.message]));
  assert.match(why.get(unsigned.id) ?? '', /unsigned, and ed25519:\w+, ed25519:\w+ are pinned for this source/, JSON.stringify(status.failures));
  assert.match(why.get(forged.id) ?? '', new RegExp(`signed with key ${mallory.keyId}, not a key pinned for this source \\(${signerA.keyId}, ${rotatedA.keyId}\\)`), JSON.stringify(status.failures));
  assert.match(why.get(altered.id) ?? '', new RegExp(`its signature by key ${signerA.keyId} does not match its content`), JSON.stringify(status.failures));
  const now = held();
  assert.ok(now.has(good.id), `the signed indicator is matched: ${[...now]}`);
  for (const o of [unsigned, forged, altered]) assert.ok(!now.has(o.id), `refused ${o.id} is not matched: ${[...now]}`);
  assert.ok(said.some((l) => /^intel inbox Provider A: 3 of 4 objects refused/.test(l)), `logged: ${said.join(' | ')}`);
});

test('rotation: objects signed with either pinned key (before and after the partner\'s rotation) are taken in', async () => {
  const old = signerA.sign(indicator('signed before the rotation'));
  const fresh = rotatedA.sign(indicator('signed after the rotation'));
  const status = await push('key-a', [old, fresh]);
  assert.equal(status.success_count, 2, JSON.stringify(status));
  assert.ok(held().has(old.id) && held().has(fresh.id), 'both matched');
  // The same list applies to a feed's pin and to checkSigned directly.
  const r = await checkSigned([old, fresh, mallory.sign(indicator('x'))], pin(signerA, rotatedA));
  assert.equal(r.kept.length, 2, JSON.stringify(r.refused));
  assert.equal(r.refused.length, 1);
});

test('a partner with no key pinned is taken in unsigned, with a warning once', async () => {
  const before = said.length;
  const a = await push('key-c', [indicator('unpinned partner one')]);
  const b = await push('key-c', [indicator('unpinned partner two')]);
  assert.equal(a.success_count + b.success_count, 2, JSON.stringify([a, b]));
  const warned = said.slice(before).filter((l) => /intel inbox Provider C: WARNING no public key is pinned \(cases\.partners\[\]\.public_key\)/.test(l));
  assert.equal(warned.length, 1, said.join(' | '));
});

async function importBundle(objects: object[], query: string) {
  const res = await fetch(`${url}/admin/intel/import${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'bundle', id: `bundle--${randomUUID()}`, objects }) });
  return { status: res.status, body: await res.json() as { imported: number; skipped: Array<{ id: string; reason: string }>; error?: { message: string } } };
}

test('an operator\'s import with public_key takes in only what that key signed; without it, as before', async () => {
  const good = signerA.sign(indicator('operator import signed'));
  const unsigned = indicator('operator import unsigned');
  const forged = mallory.sign(indicator('operator import forged'));
  const r = await importBundle([good, unsigned, forged], `?source=Provider%20D&public_key=${encodeURIComponent(signerA.publicKey.toString())}`);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.imported, 1, JSON.stringify(r.body));
  const why = new Map(r.body.skipped.map((s) => [s.id, s.reason]));
  assert.match(why.get(unsigned.id) ?? '', /unsigned/, JSON.stringify(r.body.skipped));
  assert.match(why.get(forged.id) ?? '', new RegExp(`signed with key ${mallory.keyId}`), JSON.stringify(r.body.skipped));
  assert.ok(held().has(good.id) && !held().has(unsigned.id) && !held().has(forged.id), 'only the signed one is matched');
  // A malformed key is refused before anything is taken in.
  const bad = await importBundle([indicator('never')], '?public_key=ed25519:short');
  assert.equal(bad.status, 400, JSON.stringify(bad.body));
  // Without a key: taken in signed or not.
  const plain = await importBundle([indicator('operator import, no key given')], '?source=Provider%20D');
  assert.equal(plain.body.imported, 1, JSON.stringify(plain.body));
});

test('an operator\'s import in a pinned partner\'s name is checked against its pin', async () => {
  const unsigned = indicator('in Provider A\'s name, unsigned');
  const r = await importBundle([unsigned, rotatedA.sign(indicator('in A\'s name, signed'))], '?source=Provider%20A');
  assert.equal(r.body.imported, 1, JSON.stringify(r.body));
  assert.match(r.body.skipped.find((s) => s.id === unsigned.id)?.reason ?? '', /unsigned, and ed25519:\w+, ed25519:\w+ are pinned/, JSON.stringify(r.body.skipped));
});

test('an operator\'s import with no source, whose bundle names a pinned partner as its maker, is checked against that partner\'s pin', async () => {
  // Without ?source= each indicator comes under the name of the identity that made it: a file
  // handed to an operator must not act in a pinned partner's name (and with its trust) unsigned.
  const identityA = { type: 'identity', spec_version: '2.1', id: stixId('identity', 'Provider A'), created: '2026-01-01T00:00:00.000Z', modified: '2026-01-01T00:00:00.000Z', name: 'Provider A', identity_class: 'organization' };
  const unsigned = indicator('claims to be from Provider A, unsigned');
  const signed = signerA.sign(indicator('really from Provider A'));
  const r = await importBundle([identityA, unsigned, signed], '');
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.imported, 1, JSON.stringify(r.body));
  assert.match(r.body.skipped.find((s) => s.id === unsigned.id)?.reason ?? '', /unsigned, and ed25519:\w+, ed25519:\w+ are pinned for this source \(Provider A, the maker the bundle names\)/, JSON.stringify(r.body.skipped));
  assert.ok(held().has(signed.id) && !held().has(unsigned.id), 'only what Provider A signed is matched in its name');
  // A key given does not let another signer speak for a pinned partner either.
  const byMallory = mallory.sign(indicator('signed by Mallory, claims Provider A'));
  const m = await importBundle([mallory.sign(identityA), byMallory], `?public_key=${encodeURIComponent(mallory.publicKey.toString())}`);
  assert.equal(m.body.imported, 0, JSON.stringify(m.body));
  assert.match(m.body.skipped.find((s) => s.id === byMallory.id)?.reason ?? '', new RegExp(`signed with key ${mallory.keyId}, not a key pinned for this source`), JSON.stringify(m.body.skipped));
  // A revocation in the pinned partner's name needs its signature too.
  const revoke = { ...indicator('x'), id: signed.id, revoked: true };
  const v = await importBundle([identityA, revoke], '');
  assert.equal(v.body.skipped.length, 1, JSON.stringify(v.body));
  assert.ok(held().has(signed.id), 'Provider A\'s indicator is still matched');
});

test('objects whose fields are objects where text is expected (a "toString" key) are skipped with a reason, never a server error', async () => {
  // JSON cannot make a function, but an object with a "toString" or "valueOf" key breaks String(x).
  const odd = { toString: 'x', valueOf: 'y' };
  const identityA = { type: 'identity', spec_version: '2.1', id: stixId('identity', 'Provider A'), name: 'Provider A' };
  const objects = () => [
    identityA,
    { ...indicator('odd id'), id: odd },
    { ...indicator('odd maker'), created_by_ref: odd },
    { ...indicator('odd pattern type'), pattern_type: odd },
    { ...indicator('odd key id'), x_warden_key_id: odd },
    { ...indicator('odd signature key id'), x_warden_signature: { alg: 'ed25519', key_id: odd, value: 'AAAA' } },
  ];
  const r = await importBundle(objects(), '?source=Provider%20D');
  assert.equal(r.status, 201, `an operator's import: ${JSON.stringify(r.body)}`);
  assert.ok(r.body.skipped.length >= 3, JSON.stringify(r.body.skipped));
  const unnamed = await importBundle(objects(), '');
  assert.equal(unnamed.status, 201, `an operator's import without a source: ${JSON.stringify(unnamed.body)}`);
  const res = await fetch(inbox, { method: 'POST', headers: { accept: TAXII_MEDIA_TYPE, 'content-type': TAXII_MEDIA_TYPE, authorization: 'Bearer key-a' }, body: JSON.stringify({ objects: objects() }) });
  assert.ok(res.status === 202 || res.status === 422, `a pinned partner's inbox post: ${res.status} ${await res.text()}`);
  const unpinned = await fetch(inbox, { method: 'POST', headers: { accept: TAXII_MEDIA_TYPE, 'content-type': TAXII_MEDIA_TYPE, authorization: 'Bearer key-c' }, body: JSON.stringify({ objects: objects() }) });
  assert.ok(unpinned.status === 202 || unpinned.status === 422, `an unpinned partner's inbox post: ${unpinned.status} ${await unpinned.text()}`);
});

test('cases.partners[].public_key and cases.feeds[].public_key take one key or a list (rotation)', () => {
  const one = signerA.publicKey.toString();
  const two = [one, rotatedA.publicKey.toString()];
  assert.deepEqual(casesConfigSchema.parse({ partners: [{ name: 'A', public_key: one }] }).partners[0].public_key, one);
  assert.deepEqual(casesConfigSchema.parse({ partners: [{ name: 'A', public_key: two }] }).partners[0].public_key, two);
  assert.deepEqual(casesConfigSchema.parse({ feeds: [{ name: 'A', url: 'https://a.example/c/', public_key: two }] }).feeds[0].public_key, two);
  assert.throws(() => casesConfigSchema.parse({ partners: [{ name: 'A', public_key: ['not-a-key'] }] }), /ed25519 public key/);
  assert.throws(() => casesConfigSchema.parse({ partners: [{ name: 'A', public_key: [] }] }), /at least one/);
});

test('warden intel import --public-key (given twice: either key) takes in only what those keys signed, and prints why the rest was skipped', async () => {
  const { runIntelCli } = await import('../cli/cases-cmd.ts');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'warden-intel-pinned-'));
  try {
    const good = rotatedA.sign(indicator('cli import signed with the new key'));
    const forged = mallory.sign(indicator('cli import forged'));
    const file = join(dir, 'bundle.json');
    writeFileSync(file, JSON.stringify({ type: 'bundle', id: `bundle--${randomUUID()}`, objects: [good, forged] }));
    const out: string[] = [];
    const err: string[] = [];
    const code = await runIntelCli(['import', file, '--source', 'Provider E', '--public-key', signerA.publicKey.toString(), '--public-key', rotatedA.publicKey.toString()], { out: (t) => out.push(t), err: (t) => err.push(t), env: { WARDEN_ADMIN_URL: url, WARDEN_ADMIN_TOKEN: 'unused-here' } });
    assert.equal(code, 0, err.join('\n'));
    const text = out.join('\n');
    assert.match(text, /1 indicators imported, 0 revoked, 1 skipped/, text);
    assert.match(text, new RegExp(`skipped ${forged.id}: signed with key ${mallory.keyId}, not a key pinned for this source`), text);
    assert.ok(held().has(good.id) && !held().has(forged.id), 'only the signed one is matched');
    const bad = await runIntelCli(['import', file, '--public-key', 'not-a-key'], { out: () => {}, err: (t) => err.push(t), env: { WARDEN_ADMIN_URL: url, WARDEN_ADMIN_TOKEN: 'unused-here' } });
    assert.equal(bad, 2, `a malformed key is bad input: ${err.join('\n')}`);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('warden intel import prints what a bundle names inert: an object id with ESC, C1 and bidirectional controls is shown as escapes', async () => {
  const { runIntelCli } = await import('../cli/cases-cmd.ts');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'warden-intel-inert-'));
  try {
    const file = join(dir, 'bundle.json');
    writeFileSync(file, JSON.stringify({ type: 'bundle', id: `bundle--${randomUUID()}`, objects: [{ type: 'indicator', id: 'indicator--\u001b]0;pwned\u0007\u009b2J\u202eX' }] }));
    const out: string[] = [];
    const code = await runIntelCli(['import', file, '--source', 'Provider D'], { out: (t) => out.push(t), err: (t) => out.push(t), env: { WARDEN_ADMIN_URL: url, WARDEN_ADMIN_TOKEN: 'unused-here' } });
    assert.equal(code, 0, out.join('\n'));
    const text = out.join('\n');
    assert.ok(!/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/.test(text), `no control character printed: ${JSON.stringify(text)}`);
    assert.match(text, /skipped indicator--\\x1b\]0;pwned\\x07\\x9b2J\\u202eX: not a STIX indicator id/, text);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a partner\'s campaign and maker names reach verdicts without C1 or bidirectional controls', async () => {
  const i = indicator('campaign named to reverse the verdict text');
  const campaign = { type: 'campaign', spec_version: '2.1', id: `campaign--${randomUUID()}`, created: '2026-01-01T00:00:00.000Z', modified: '2026-01-01T00:00:00.000Z', name: 'op\u009b2J\u202elantern\u2028x' };
  const rel = { type: 'relationship', spec_version: '2.1', id: `relationship--${randomUUID()}`, created: '2026-01-01T00:00:00.000Z', modified: '2026-01-01T00:00:00.000Z', relationship_type: 'indicates', source_ref: i.id, target_ref: campaign.id };
  const r = await importBundle([i, campaign, rel], '?source=Provider%20D');
  assert.equal(r.body.imported, 1, JSON.stringify(r.body));
  const stored = intel.list().find((x) => x.id === i.id);
  assert.equal(stored?.campaign, 'op 2J lantern x', 'the campaign name as verdicts quote it: controls made spaces');
});

test('a key id written by the sender is quoted short and on one line in the refusal and the log', async () => {
  const o = mallory.sign(indicator('odd key id'));
  o.x_warden_signature = { ...(o.x_warden_signature as object), key_id: `abc\n\u001b[31mFAKE LOG LINE ${'x'.repeat(500)}` };
  const before = said.length;
  const status = await push('key-a', [o]);
  const message = status.failures[0]?.message ?? '';
  assert.ok(!/[\n\u001b]/.test(message) && message.length < 300, `one short line: ${JSON.stringify(message)}`);
  const logged = said.slice(before);
  assert.ok(logged.length === 1 && !/[\n\u001b]/.test(logged[0]), `one log line: ${JSON.stringify(logged)}`);
});
