import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import canonicalize from 'canonicalize';
import { canonicalBytes, canonicalJson, commitment, prepareInteraction, prepareVerdict, parseLeaf } from './records.ts';
import { sampleEvent, sampleVerdict } from '../../test/helpers/synthetic-events.ts';

test('canonicalJson equals the canonicalize package (RFC 8785) on arbitrary JSON', () => {
  fc.assert(fc.property(fc.jsonValue(), (v) => {
    assert.equal(canonicalJson(v), canonicalize(v));
  }), { numRuns: 3000 });
  // RFC 8785 section 3.2.3 sorting example keys, and number forms.
  assert.equal(canonicalJson({ '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' }),
    canonicalize({ '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' }));
  assert.equal(canonicalJson([1e21, 1e-7, -0, 0.000001, 333333333.33333329]), '[1e+21,1e-7,0,0.000001,333333333.3333333]');
  assert.throws(() => canonicalJson({ a: '\ud800' }));
  assert.throws(() => canonicalJson({ a: NaN }));
  // Leaves never fail on a non-finite number: it is recorded as its string form.
  assert.equal(new TextDecoder().decode(canonicalBytes({ b: NaN, a: [Infinity, undefined, -Infinity], c: undefined, d: { z: 1, y: 2 } })),
    '{"a":["Infinity",null,"-Infinity"],"b":"NaN","d":{"y":2,"z":1}}');
  assert.throws(() => canonicalBytes({ a: 'x\udc00' }), /lone surrogates/);
});

test('interaction leaves: personal fields are per-field salted commitments that open with the kept salt', () => {
  const ev = sampleEvent(3);
  const a = prepareInteraction(ev, { keepPromptText: true });
  const b = prepareInteraction(ev, { keepPromptText: true });
  const ra = parseLeaf(a.leaf);
  const rb = parseLeaf(b.leaf);
  assert.ok(ra.kind === 'interaction' && rb.kind === 'interaction');
  assert.notEqual(ra.client.ip, rb.client.ip, 'fresh salts: the same IP commits differently each time');
  assert.equal(ra.client.ip, commitment(ev.client.ip, a.openings.client_ip!.salt));
  assert.equal(ra.request.prompt, commitment(a.openings.prompt!.value!, a.openings.prompt!.salt));
  const salts = Object.values(a.openings).map((o) => o.salt);
  assert.equal(new Set(salts).size, salts.length, 'each field has its own salt');
  assert.equal(ra.account_id, ev.account_id);
  assert.equal(ra.response.input_tokens, ev.response.input_tokens);
  // What a developer message attaches is committed with the prompt, and counted in its characters.
  const attached = { ...ev, request: { ...ev.request, system_documents: { role: 'system', text: 'Attached task.', chars: 14, parts: { input_file: 1 } } } };
  const c = prepareInteraction(attached, { keepPromptText: true });
  const rc = parseLeaf(c.leaf);
  assert.ok(rc.kind === 'interaction');
  assert.match(c.openings.prompt!.value!, /"system_documents":"Attached task\."/);
  assert.equal(rc.request.chars, ra.request.chars + 14);
  const v = parseLeaf(prepareVerdict(sampleVerdict({ kind: 'cluster', id: 'c1' }), { accounts: ['b', 'a'] }).leaf);
  assert.ok(v.kind === 'verdict');
  assert.deepEqual(v.accounts, ['a', 'b']);
  assert.equal((v.reasons[0] as { threshold: number }).threshold, 0.8);
});

test('an interaction leaf counts the messages and characters its event left out', () => {
  const ev = sampleEvent(4);
  const kept = ev.request.messages.length;
  const keptChars = ev.request.messages.reduce((s, m) => s + m.chars, 0) + (ev.request.system?.length ?? 0);
  const long = { ...ev, request: { ...ev.request, messages_omitted: { count: 190, chars: 1_520_000, roles: { user: 95, assistant: 95 } } } };
  const r = parseLeaf(prepareInteraction(long).leaf);
  assert.ok(r.kind === 'interaction');
  assert.equal(r.request.messages, kept + 190, 'the signed record says how many messages the request held');
  assert.equal(r.request.chars, keptChars + 1_520_000, 'and how many characters');
});
