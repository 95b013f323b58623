import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicy, parsePolicyText, loadPolicyFile, PolicyFileError, type RequestFacts } from './policy-file.ts';
import { shippedFile } from './hooks.ts';
import { modelAllowed, writtenModels } from './capabilities.ts';

/** One request's facts; the account's own tier is its effective tier unless given (no organisation raises it). */
const facts = (over: Partial<RequestFacts> = {}): RequestFacts => ({
  tier: 'unverified', programme: 'none', accountId: 'acc_1', orgId: 'org_1', model: 'gpt-4o', flavour: 'openai.chat',
  country: 'DE', claimedCountry: 'DE', asn: 3320, networks: [], verdict: 'none', ...over, accountTier: over.accountTier ?? over.tier ?? 'unverified',
});
const policy = (yaml: string) => compilePolicy(parsePolicyText(yaml, 'inline.yaml'), 'inline.yaml');

test('the shipped default policy loads and behaves as documented', () => {
  const p = loadPolicyFile(shippedFile('policy/default.yaml'));
  const unverified = p.evaluate(facts());
  assert.equal(unverified.refusal, null);
  assert.equal(unverified.capabilities.reasoning, 'summary');
  assert.equal(unverified.capabilities.logprobs, false);
  assert.equal(unverified.capabilities.max_tokens_ceiling, 4096);
  const verified = p.evaluate(facts({ tier: 'identity_verified' }));
  assert.equal(verified.capabilities.reasoning, 'full');
  assert.equal(verified.capabilities.logprobs, true);
  assert.equal(p.evaluate(facts({ country: 'KP' })).refusal?.kind, 'region_blocked');
  assert.equal(p.evaluate(facts({ claimedCountry: 'IR' })).refusal?.kind, 'region_blocked');
  const hosting = p.evaluate(facts({ networks: ['hosting'] }));
  assert.equal(hosting.refusal?.kind, 'verify');
  assert.match(hosting.refusal!.message, /https:\/\/example\.com\/account\/verify/);
  assert.equal(p.evaluate(facts({ networks: ['hosting'], tier: 'enterprise' })).refusal, null, 'enterprise exemption');
  assert.equal(p.evaluate(facts({ networks: ['vpn'] })).capabilities.reasoning, 'none');
  assert.equal(p.evaluate(facts({ verdict: 'suspend' })).refusal?.kind, 'suspend');
  assert.equal(p.evaluate(facts({ verdict: 'verify' })).refusal?.kind, 'verify');
  assert.equal(p.verdictRefusal({ accountTier: 'email_verified', verdict: 'verify' })?.kind, 'verify');
  // Verification done: verify no longer refuses, and serves no more than shape does.
  for (const tier of ['identity_verified', 'enterprise'] as const) {
    const verifiedVerify = p.evaluate(facts({ tier, verdict: 'verify' }));
    assert.equal(verifiedVerify.refusal, null, tier);
    assert.equal(p.verdictRefusal({ accountTier: tier, verdict: 'verify' }), null, tier);
    assert.deepEqual([verifiedVerify.capabilities.reasoning, verifiedVerify.capabilities.max_tokens_ceiling, verifiedVerify.capabilities.logprobs], ['none', 2048, false]);
    assert.equal(p.evaluate(facts({ tier, verdict: 'suspend' })).refusal?.kind, 'suspend', 'suspend holds whatever the tier');
  }
  // The verification is the account's own: an organisation's tier raises the effective tier, not that.
  for (const accountTier of ['unverified', 'email_verified'] as const) {
    const inEnterpriseOrg = p.evaluate(facts({ tier: 'enterprise', accountTier, verdict: 'verify' }));
    assert.equal(inEnterpriseOrg.refusal?.kind, 'verify', accountTier);
    assert.equal(p.verdictRefusal({ accountTier, verdict: 'verify' })?.kind, 'verify', accountTier);
  }
  assert.equal(p.evaluate(facts({ tier: 'enterprise', accountTier: 'identity_verified', verdict: 'verify' })).refusal, null);
  const shaped = p.evaluate(facts({ tier: 'enterprise', verdict: 'shape' }));
  assert.equal(shaped.capabilities.reasoning, 'none');
  assert.equal(shaped.capabilities.max_tokens_ceiling, 2048);
  assert.ok(shaped.matched.includes('verdict:shape'));
  // logit_bias: alone below identity verification, with logprobs above it, not at all when shaped
  assert.equal(unverified.capabilities.logit_bias, 'without_logprobs');
  assert.equal(verified.capabilities.logit_bias, 'allow');
  assert.equal(shaped.capabilities.logit_bias, 'none');
  // Embedding vectors: untouched for every tier, noised under the shape verdict
  assert.equal(verified.capabilities.embedding_noise, 0);
  assert.equal(shaped.capabilities.embedding_noise, 0.3);
});

test('tiers and programmes override defaults; rules and verdicts only restrict', () => {
  const p = policy(`
version: 1
defaults: { reasoning: summary, logprobs: false, n_max: 1, max_tokens_ceiling: 1000, models: ["gpt-*"] }
tiers:
  enterprise: { reasoning: full, logprobs: true, n_max: 8, max_tokens_ceiling: null }
programmes:
  research: { reasoning: none }
verdicts:
  shape: { capabilities: { reasoning: full, n_max: 2, max_tokens_ceiling: 500 } }
rules:
  - id: try-to-grant
    action: restrict
    capabilities: { logprobs: true, n_max: 50 }
`);
  const ent = p.evaluate(facts({ tier: 'enterprise' })).capabilities;
  assert.deepEqual([ent.reasoning, ent.logprobs, ent.n_max, ent.max_tokens_ceiling], ['full', true, 8, null]);
  assert.equal(p.evaluate(facts({ tier: 'enterprise', programme: 'research' })).capabilities.reasoning, 'none');
  const low = p.evaluate(facts()).capabilities;
  assert.deepEqual([low.logprobs, low.n_max], [false, 1], 'a restrict rule cannot grant');
  const shaped = p.evaluate(facts({ tier: 'enterprise', verdict: 'shape' })).capabilities;
  assert.deepEqual([shaped.reasoning, shaped.n_max, shaped.max_tokens_ceiling], ['full', 2, 500]);
  assert.equal(modelAllowed(low, 'gpt-4o'), true);
  assert.equal(modelAllowed(low, 'claude-3'), false);
});

test('each condition works on its own', () => {
  const cases: [string, Partial<RequestFacts>, Partial<RequestFacts>][] = [
    ['country: [RU]', { country: 'RU' }, { country: 'DE' }],
    ['country: [unknown]', { country: null }, { country: 'DE' }],
    ['country_not: [DE, FR]', { country: 'US' }, { country: 'DE' }],
    ['region: eu', { country: 'FR' }, { country: 'US' }],
    ['region_not: eu', { country: 'US' }, { country: 'FR' }],
    ['claimed_country: [BR]', { claimedCountry: 'BR' }, { claimedCountry: 'DE' }],
    ['claimed_region: eu', { claimedCountry: 'FR' }, { claimedCountry: 'US' }],
    ['country_mismatch: true', { country: 'US', claimedCountry: 'DE' }, { country: 'DE', claimedCountry: 'DE' }],
    ['network: tor', { networks: ['tor'] }, { networks: ['vpn'] }],
    ['asn: [16509]', { asn: 16509 }, { asn: 3320 }],
    ['tier: [email_verified]', { tier: 'email_verified' }, { tier: 'unverified' }],
    ['tier_below: email_verified', { tier: 'unverified' }, { tier: 'email_verified' }],
    ['programme: education', { programme: 'education' }, { programme: 'none' }],
    ['verdict_at_least: shape', { verdict: 'verify' }, { verdict: 'throttle' }],
    ['model: ["o3*"]', { model: 'o3-mini' }, { model: 'gpt-4o' }],
    ['flavour: anthropic.messages', { flavour: 'anthropic.messages' }, { flavour: 'openai.chat' }],
    ['account: [acc_9]', { accountId: 'acc_9' }, { accountId: 'acc_1' }],
    ['org: [org_9]', { orgId: 'org_9' }, { orgId: 'org_1' }],
  ];
  for (const [when, hit, miss] of cases) {
    const p = policy(`version: 1\nregions: { eu: [FR, DE] }\nrules:\n  - id: r\n    when: { ${when} }\n    action: deny\n`);
    assert.equal(p.evaluate(facts(hit)).refusal?.kind, 'deny', `${when} should match ${JSON.stringify(hit)}`);
    assert.equal(p.evaluate(facts(miss)).refusal, null, `${when} should not match ${JSON.stringify(miss)}`);
  }
});

test('actions: allow stops evaluation, deny codes, custom messages, verify link', () => {
  const p = policy(`
version: 1
messages: { verify: "Please verify.", verify_url: "https://id.example/verify", region_blocked: "Not here." }
rules:
  - { id: exempt, when: { account: [vip] }, action: allow }
  - { id: blocked, when: { country: [RU] }, action: deny, code: region_blocked }
  - { id: custom, when: { country: [BY] }, action: deny, message: "Custom refusal." }
  - { id: needs-id, when: { network: hosting }, action: verify }
  - { id: gone, when: { asn: [1] }, action: suspend }
`);
  assert.equal(p.evaluate(facts({ accountId: 'vip', country: 'RU' })).refusal, null);
  assert.deepEqual(p.evaluate(facts({ country: 'RU' })).refusal, { kind: 'region_blocked', source: 'rule:blocked', message: 'Not here.' });
  assert.equal(p.evaluate(facts({ country: 'BY' })).refusal?.message, 'Custom refusal.');
  assert.equal(p.evaluate(facts({ networks: ['hosting'] })).refusal?.message, 'Please verify. Verify at https://id.example/verify');
  assert.equal(p.evaluate(facts({ asn: 1 })).refusal?.kind, 'suspend');
});

test('bad policies are rejected with file, path and message', () => {
  const expectProblem = (yaml: string, path: string, message: RegExp) => {
    assert.throws(() => parsePolicyText(yaml, 'p.yaml'), (err: unknown) => {
      assert.ok(err instanceof PolicyFileError);
      assert.equal(err.file, 'p.yaml');
      assert.ok(err.problems.some((p) => p.path === path && message.test(p.message)), JSON.stringify(err.problems));
      assert.match(err.message, /^invalid policy file p\.yaml:/);
      return true;
    });
  };
  expectProblem('version: 2', 'version', /1/);
  expectProblem('version: 1\ntiers: { unverified: { max_token_ceiling: 5 } }', 'tiers.unverified', /max_token_ceiling/);
  expectProblem('version: 1\ntiers: { gold: {} }', 'tiers', /gold/);
  expectProblem('version: 1\ndefaults: { reasoning: partial }', 'defaults.reasoning', /./);
  expectProblem('version: 1\nverdicts: { shape: { action: restrict, capabilities: { embedding_noise: 2 } } }', 'verdicts.shape.capabilities.embedding_noise', /1/);
  expectProblem('version: 1\ntiers: { unverified: { logit_bias: sometimes } }', 'tiers.unverified.logit_bias', /allow|without_logprobs|none/);
  expectProblem('version: 1\nrules: [{ id: a, when: { country: [germany] }, action: deny }]', 'rules.0.when.country.0', /alpha-2/);
  expectProblem('version: 1\nrules: [{ id: a, when: { region: nowhere }, action: deny }]', 'rules.0.when.region', /unknown region "nowhere"/);
  expectProblem('version: 1\nrules: [{ id: a, action: deny }, { id: a, action: deny }]', 'rules.1.id', /duplicate/);
  expectProblem('version: 1\nrules: [{ id: a, action: restrict }]', 'rules.0.capabilities', /needs capabilities/);
  expectProblem('version: 1\nrules: [{ id: a, action: verify, code: region_blocked }]', 'rules.0.code', /only applies to deny/);
  expectProblem('version: 1\nmessages: { verify_url: not-a-url }', 'messages.verify_url', /./);
  expectProblem('version: 1\ntiers: [1, 2', '', /YAML/);
  expectProblem('- a\n- b', '', /mapping/);
  expectProblem('version: 1\nversion: 1', '', /YAML/);
  assert.throws(() => loadPolicyFile('/nonexistent/policy.yaml'), /cannot read/);
  assert.throws(() => loadPolicyFile(new URL('../../test/fixtures/policy/bad-policy-unknown-key.yaml', import.meta.url).pathname), /tiers\.unverified: .*max_token_ceiling/);
});

test('model allow-lists read as written: one list, or all_of when several layers narrowed them', () => {
  assert.deepEqual(writtenModels([]), ['*']);
  assert.deepEqual(writtenModels([['*']]), ['*']);
  assert.deepEqual(writtenModels([['*'], ['gpt-4o*', 'claude-*']]), ['gpt-4o*', 'claude-*']);
  assert.deepEqual(writtenModels([['gpt-*'], ['*-mini']]), { all_of: [['gpt-*'], ['*-mini']] });
  assert.deepEqual(writtenModels([[]]), [], 'an empty list allows no model');
});

test('a verified account at a verify verdict is served no more openly than at any level below, whatever those levels\' actions', () => {
  // shape asks for verification too, and says how a verified account is served; verify adds nothing of its own.
  const p = policy(`
version: 1
defaults: { reasoning: full, logprobs: true, max_tokens_ceiling: 8000 }
verdicts:
  throttle: { capabilities: { logprobs: false } }
  shape: { action: verify, capabilities: { reasoning: none, max_tokens_ceiling: 500 } }
  verify: { action: verify }
`);
  const verified = (verdict: 'shape' | 'verify') => p.evaluate(facts({ tier: 'identity_verified', verdict }));
  for (const verdict of ['shape', 'verify'] as const) {
    const d = verified(verdict);
    assert.equal(d.refusal, null, verdict);
    assert.deepEqual([d.capabilities.reasoning, d.capabilities.max_tokens_ceiling], ['none', 500], `${verdict}: shape's capabilities hold`);
  }
  assert.equal(verified('verify').capabilities.logprobs, false, 'throttle\'s too');
  assert.equal(p.evaluate(facts({ tier: 'email_verified', verdict: 'shape' })).refusal?.kind, 'verify', 'unverified: refused at shape already');
});

test('what the client is told: tiers and rules disclosed by default, verdicts not, each settable', () => {
  const p = policy([
    'version: 1',
    'defaults: { max_tokens_ceiling: 8192, reasoning: full }',
    'verdicts:',
    '  watch: { action: restrict, capabilities: { max_tokens_ceiling: 4096 }, disclose: true }',
    '  shape: { action: restrict, capabilities: { max_tokens_ceiling: 2048, reasoning: none } }',
    'rules:',
    '  - { id: vpn, when: { network: vpn }, action: restrict, capabilities: { reasoning: summary } }',
    '  - { id: quiet, when: { asn: 64500 }, action: restrict, disclose: false, capabilities: { max_tokens_ceiling: 1000 } }',
  ].join('\n'));
  const plain = p.evaluate(facts({ networks: ['vpn'] }));
  assert.equal(plain.disclosed, plain.capabilities, 'a disclosed rule: the client is told all');
  const shaped = p.evaluate(facts({ networks: ['vpn'], verdict: 'shape' }));
  assert.equal(shaped.capabilities.max_tokens_ceiling, 2048);
  assert.equal(shaped.disclosed.max_tokens_ceiling, 8192, 'the verdict\'s ceiling is not disclosed');
  assert.equal(shaped.disclosed.reasoning, 'summary', 'the rule\'s narrowing still is');
  assert.equal(p.evaluate(facts({ verdict: 'watch' })).disclosed.max_tokens_ceiling, 4096, 'disclose: true on a verdict entry');
  assert.equal(p.evaluate(facts({ asn: 64500 })).disclosed.max_tokens_ceiling, 8192, 'disclose: false on a rule');
  assert.equal(plain.refuseShaping, null);
  assert.throws(() => policy('version: 1\nrules:\n  - { id: d, action: deny, disclose: false }\n'), (e: unknown) => e instanceof PolicyFileError && /disclose only applies to restrict rules/.test(e.message));
  assert.throws(() => policy('version: 1\nrules:\n  - { id: d, action: deny, on_shape: refuse }\n'), (e: unknown) => e instanceof PolicyFileError && /on_shape only applies to restrict rules/.test(e.message));
});
