// Sub-national regions: policy rules naming ISO 3166-2 subdivisions (the sanctioned regions of
// Ukraine) decided from a subdivision range file, refused at load when nothing can decide them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPolicyRuntime, explainRequest, type PolicyRuntime } from './hooks.ts';
import { policyConfigSchema } from './config.ts';
import { watermarkConfigSchema } from '../watermark/config.ts';
import { IpDatabaseError } from './geo.ts';
import { parseIp } from './ip.ts';
import { PolicyFileError } from './policy-file.ts';
import { loadSubdivisions } from './subdivisions.ts';
import { ScreeningInputError } from './screening.ts';

const fx = (name: string) => new URL(`../../test/fixtures/policy/${name}`, import.meta.url).pathname;

const SANCTIONED_UA = `version: 1
regions:
  # US/EU/UK: Crimea, Sevastopol and the so-called DNR and LNR; the rest of Ukraine is not sanctioned.
  sanctioned_ua: [UA-43, UA-40, UA-14, UA-09]
  embargoed: [CU, IR, KP, SY]
rules:
  - id: sanctioned-regions
    when: { region: [embargoed, sanctioned_ua] }
    action: deny
    code: region_blocked
  - id: sanctioned-claimed
    when: { claimed_region: sanctioned_ua }
    action: deny
    code: region_blocked
`;

function withPolicy<T>(yaml: string, geo: Record<string, unknown>, run: (rt: PolicyRuntime, file: string) => T, logs?: string[]): T {
  const dir = mkdtempSync(join(tmpdir(), 'warden-subdiv-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, yaml);
  const log = { info: () => {}, warn: (_o: object, m: string) => { logs?.push(m); }, error: (_o: object, m: string) => { logs?.push(m); } };
  try {
    const rt = createPolicyRuntime({
      policy: policyConfigSchema.parse({ file, watch: false, geo: { country_files: [fx('country-ua.csv')], asn_files: [fx('asn-v4.csv')], ...geo } }),
      watermark: watermarkConfigSchema.parse({}),
    }, { log });
    try { return run(rt, file); } finally { rt.close(); }
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

const ask = (rt: PolicyRuntime, ip: string, claimed: { country?: string; subdivision?: string } = {}) => explainRequest(rt, {
  ip: parseIp(ip), tier: 'unverified', accountTier: 'unverified', programme: 'none', accountId: null, orgId: null,
  model: '', flavour: 'openai.chat', claimedCountry: claimed.country ?? null, claimedSubdivision: claimed.subdivision ?? null, verdict: 'none',
});

test('subdivision range files: IPv4, IPv6 and IPv4-mapped lookups, the files\' hashes and countries; a bad code is refused with file and line', () => {
  const idx = loadSubdivisions([fx('subdivisions-ua.csv')]);
  assert.equal(idx.lookupParsed(parseIp('192.0.2.10')), 'UA-43');
  assert.equal(idx.lookupParsed(parseIp('::ffff:192.0.2.70')), 'UA-40');
  assert.equal(idx.lookupParsed(parseIp('192.0.2.100')), 'UA-14');
  assert.equal(idx.lookupParsed(parseIp('192.0.2.130')), 'UA-09');
  assert.equal(idx.lookupParsed(parseIp('192.0.2.170')), 'UA-30');
  assert.equal(idx.lookupParsed(parseIp('192.0.2.200')), null, 'an address in no range has no known subdivision');
  assert.equal(idx.lookupParsed(parseIp('2001:db8:0:43::1')), 'UA-43');
  assert.equal(idx.lookupParsed(parseIp('2001:db8:0:44::1')), null);
  assert.deepEqual(idx.version.countries, ['UA']);
  assert.match(idx.version.files[0].sha256, /^[0-9a-f]{64}$/);
  assert.equal(idx.version.files[0].ranges, 8);
  assert.throws(() => loadSubdivisions([fx('bad-subdivision-code.csv')]), (err: unknown) => err instanceof IpDatabaseError && /bad-subdivision-code\.csv:2/.test(err.message) && /ISO 3166-2/.test(err.message),
    'a name where the ISO 3166-2 code belongs must be refused with file and line');
});

test('a rule naming the sanctioned subdivisions of Ukraine refuses Crimea, Sevastopol, Donetsk and Luhansk, serves Kyiv, and says which subdivision, from which data', () => {
  withPolicy(SANCTIONED_UA, { subdivision_files: [fx('subdivisions-ua.csv')] }, (rt) => {
    const digest = rt.subdivisions!.version.digest.slice(0, 12);
    for (const [ip, code] of [['192.0.2.10', 'UA-43'], ['192.0.2.70', 'UA-40'], ['192.0.2.100', 'UA-14'], ['192.0.2.130', 'UA-09'], ['2001:db8:0:43::7', 'UA-43']] as const) {
      const e = ask(rt, ip);
      assert.equal(e.refusal?.kind, 'region_blocked', `${ip} (${code}) must be refused`);
      assert.equal(e.refusal?.source, 'rule:sanctioned-regions');
      assert.equal(e.subdivision, code);
      assert.ok(e.matched.includes(`subdivision:${code}@data:${digest}`), `the decision names the subdivision and the data: ${e.matched}`);
      assert.equal(e.subdivisionData?.digest, rt.subdivisions!.version.digest);
    }
    const kyiv = ask(rt, '192.0.2.170');
    assert.equal(kyiv.refusal, null, 'the rest of Ukraine is not sanctioned: Kyiv is served');
    assert.equal(kyiv.geo.country, 'UA');
    assert.equal(kyiv.subdivision, 'UA-30');
    assert.equal(ask(rt, '2001:db8:0:30::1').refusal, null);
    // The country data places this Crimean network in Russia: the subdivision data decides.
    const ru = ask(rt, '198.51.100.9');
    assert.equal(ru.geo.country, 'RU');
    assert.equal(ru.refusal?.kind, 'region_blocked', 'an address the subdivision data puts in Crimea is refused whatever country the country data gives');
    assert.equal(ask(rt, '198.51.100.200').refusal, null, 'the rest of RU is not named by the rule');
    assert.equal(ask(rt, '203.0.113.5').refusal, null);
  });
});

test('unknown_subdivision: a Ukrainian address the data has no subdivision for is refused under inside (the default, fail closed) and served under outside, and the decision says so', () => {
  withPolicy(SANCTIONED_UA, { subdivision_files: [fx('subdivisions-ua.csv')] }, (rt) => {
    const e = ask(rt, '192.0.2.200');
    assert.equal(e.subdivision, null);
    assert.equal(e.refusal?.kind, 'region_blocked', 'fail closed: an address in UA of unknown subdivision may be in Crimea');
    assert.ok(e.matched.some((m) => m.startsWith('subdivision:unknown(UA)->inside@data:')), `the decision says the subdivision was unknown and counted inside: ${e.matched}`);
  });
  const logs: string[] = [];
  withPolicy(SANCTIONED_UA, { subdivision_files: [fx('subdivisions-ua.csv')] }, (rt) => {
    // An account that declared UA and no subdivision: under inside, a claimed_region naming UA-43 counts it as possibly in Crimea.
    const e = ask(rt, '192.0.2.170', { country: 'UA' });
    assert.equal(e.refusal?.source, 'rule:sanctioned-claimed');
    assert.ok(e.matched.includes('claimed_subdivision:unknown(UA)->inside'), `${e.matched}`);
  }, logs);
  assert.ok(logs.some((m) => /sanctioned-claimed/.test(m) && /every account that declared UA/.test(m)), `the load says so: ${logs}`);
  withPolicy(SANCTIONED_UA, { subdivision_files: [fx('subdivisions-ua.csv')], unknown_subdivision: 'outside' }, (rt) => {
    assert.equal(ask(rt, '192.0.2.170', { country: 'UA' }).refusal, null, 'outside: a declared UA without a region is not counted in Crimea');
    assert.equal(ask(rt, '192.0.2.200').refusal, null, 'fail open: not known to be in a named subdivision');
    assert.equal(ask(rt, '192.0.2.10').refusal?.kind, 'region_blocked', 'a known Crimean address is refused either way');
  });
  assert.equal(policyConfigSchema.parse({}).geo.unknown_subdivision, 'inside');
});

test('without subdivision data a policy naming a subdivision is refused at load, naming the rule; require_subdivision_data: false loads it with a warning and lets unknown_subdivision decide for the whole country', () => {
  assert.throws(() => withPolicy(SANCTIONED_UA, {}, () => null), (err: unknown) => err instanceof PolicyFileError
    && /rules\.0\.when/.test(err.message) && /sanctioned-regions/.test(err.message) && /UA-43/.test(err.message) && /no subdivision data is configured/.test(err.message),
    'a subdivision rule nothing can decide must never be silently ignored');
  // Data that does not cover the subdivision's country is no data for it.
  assert.throws(() => withPolicy('version: 1\nrules:\n  - { id: abkhazia, when: { subdivision: GE-AB }, action: deny }\n', { subdivision_files: [fx('subdivisions-ua.csv')] }, () => null),
    (err: unknown) => err instanceof PolicyFileError && /GE-AB/.test(err.message) && /has no range for GE/.test(err.message));
  const logs: string[] = [];
  withPolicy(SANCTIONED_UA, { require_subdivision_data: false }, (rt) => {
    assert.equal(ask(rt, '192.0.2.170').refusal?.kind, 'region_blocked', 'no data, inside: every client in UA is refused');
    assert.equal(ask(rt, '203.0.113.5').refusal, null);
  }, logs);
  assert.ok(logs.some((m) => /WARNING/.test(m) && /UA-43/.test(m) && /inside/.test(m)), `the load is reported: ${logs}`);
  withPolicy(SANCTIONED_UA, { require_subdivision_data: false, unknown_subdivision: 'outside' }, (rt) => {
    assert.equal(ask(rt, '192.0.2.10').refusal, null, 'no data, outside: the rule matches nobody (as the warning says)');
  });
});

test('a reload to a policy naming a subdivision the data cannot decide is rejected and the policy in force stays', () => {
  withPolicy(SANCTIONED_UA, { subdivision_files: [fx('subdivisions-ua.csv')] }, (rt, file) => {
    writeFileSync(file, `${SANCTIONED_UA}  - { id: abkhazia, when: { subdivision: GE-AB }, action: deny }\n`);
    assert.equal(rt.store.reload(), false, 'the reload must be refused');
    assert.match(rt.store.lastError?.message ?? '', /GE-AB/);
    assert.equal(ask(rt, '192.0.2.10').refusal?.source, 'rule:sanctioned-regions', 'the previous policy is still in force');
  });
});

test('policy file: subdivision codes are checked; subdivision_not and claimed_subdivision conditions', () => {
  assert.throws(() => withPolicy('version: 1\nregions: { r: [UA-Crimea] }\n', {}, () => null), (err: unknown) => err instanceof PolicyFileError && /regions\.r\.0/.test(err.message));
  assert.throws(() => withPolicy('version: 1\nrules:\n  - { id: x, when: { subdivision: ua-43 }, action: deny }\n', {}, () => null), (err: unknown) => err instanceof PolicyFileError && /ISO 3166-2/.test(err.message));
  const yaml = 'version: 1\nrules:\n  - { id: ua-elsewhere, when: { country: UA, subdivision_not: [UA-43] }, action: restrict, capabilities: { reasoning: none } }\n  - { id: claimed-crimea, when: { claimed_subdivision: UA-43 }, action: deny, code: region_blocked }\n';
  withPolicy(yaml, { subdivision_files: [fx('subdivisions-ua.csv')] }, (rt) => {
    assert.ok(ask(rt, '192.0.2.170').matched.includes('rule:ua-elsewhere'));
    assert.ok(!ask(rt, '192.0.2.10').matched.includes('rule:ua-elsewhere'));
    assert.ok(!ask(rt, '192.0.2.200').matched.includes('rule:ua-elsewhere'), 'unknown counted inside: not known to be elsewhere');
    const claimed = ask(rt, '203.0.113.5', { country: 'UA', subdivision: 'UA-43' });
    assert.equal(claimed.refusal?.source, 'rule:claimed-crimea');
    assert.ok(claimed.matched.includes('claimed_subdivision:UA-43'));
    assert.equal(ask(rt, '203.0.113.5', { country: 'UA', subdivision: 'UA-30' }).refusal, null);
  });
});

test('signup screening reads the signup IP\'s subdivision and the claimed one: a block naming the rule and subdivision', () => {
  withPolicy(SANCTIONED_UA, { subdivision_files: [fx('subdivisions-ua.csv')] }, (rt) => {
    const r = rt.screener.screen({ signup_ip: '192.0.2.70' });
    assert.equal(r.decision, 'block');
    assert.equal(r.ip?.subdivision, 'UA-40');
    const f = r.findings.find((x) => x.check === 'region')!;
    assert.match(f.explanation, /rule:sanctioned-regions/);
    assert.match(f.explanation, /subdivision:UA-40@data:/);
    assert.equal(rt.screener.screen({ signup_ip: '192.0.2.170' }).decision, 'allow', 'Kyiv signs up');
    const claimed = rt.screener.screen({ signup_ip: '203.0.113.5', claimed_country: 'UA', claimed_subdivision: 'UA-14' });
    assert.equal(claimed.decision, 'block', 'a customer declaring Donetsk is refused');
    assert.match(claimed.findings.find((x) => x.check === 'region')!.explanation, /claimed_subdivision:UA-14/);
    assert.equal(rt.screener.screen({ signup_ip: '203.0.113.5', claimed_subdivision: 'ua-30' }).decision, 'allow');
    assert.throws(() => rt.screener.screen({ claimed_country: 'DE', claimed_subdivision: 'UA-43' }), ScreeningInputError);
    assert.throws(() => rt.screener.screen({ claimed_subdivision: 'Crimea' }), ScreeningInputError);
  });
});
