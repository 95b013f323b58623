import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jaroWinkler, loadSanctions, nameTokens, SanctionsListError } from './sanctions.ts';
import { createPolicyRuntime, shippedFile, screenSignup } from './hooks.ts';
import { ScreeningInputError } from './screening.ts';
import { policyConfigSchema } from './config.ts';
import { watermarkConfigSchema } from '../watermark/config.ts';
import { DisposableDomains } from './screening.ts';
import type { SanctionsSource } from './config.ts';

const sample = (f: string) => shippedFile(`policy/samples/${f}`);
const fx = (name: string) => new URL(`../../test/fixtures/policy/${name}`, import.meta.url).pathname;
const ALL: SanctionsSource[] = [
  { format: 'ofac_sdn', path: sample('ofac-sdn.sample.csv') }, { format: 'ofac_alt', path: sample('ofac-alt.sample.csv') },
  { format: 'eu', path: sample('eu-consolidated.sample.csv') }, { format: 'uk', path: sample('uk-ofsi.sample.csv') },
  { format: 'un', path: sample('un-consolidated.sample.xml') },
];

test('string similarity and name folding', () => {
  assert.ok(Math.abs(jaroWinkler('martha', 'marhta') - 0.961) < 0.001);
  assert.equal(jaroWinkler('abc', 'abc'), 1);
  assert.equal(jaroWinkler('abc', 'xyz'), 0);
  assert.deepEqual(nameTokens('PETROVSKY, Ivan  Sergeyevich'), ['petrovsky', 'ivan', 'sergeyevich']);
  assert.deepEqual(nameTokens('Société Générale S.A.'), ['societe', 'generale']);
  assert.deepEqual(nameTokens('OOO "Severnaya Zvezda"'), ['severnaya', 'zvezda']);
});

test('every list format loads; fuzzy matches find people and organisations in any order, with aliases', () => {
  const idx = loadSanctions(ALL);
  assert.equal(idx.size.entries, 10);
  const top = (q: string) => idx.search(q, 0.88)[0]?.entry.id ?? null;
  assert.equal(top('Ivan Petrovsky'), 'ofac:9001');           // surname-first listing, patronymic omitted
  assert.equal(top('Ivan Petrovskiy'), 'ofac:9001');          // transliteration
  assert.equal(top('Banco Nacional de Cuba S.A.'), 'ofac:306');
  assert.equal(top('BNC'), 'ofac:306');                       // OFAC alias from alt.csv
  assert.equal(top('Oksana Kovalenko'), 'eu:70001');
  assert.equal(top('Hamed Testiri'), 'uk:99001');             // UK alias row
  assert.equal(top('Blue Harbor Shipping Limited'), 'uk:99002');
  assert.equal(top('Sample Designated Personov'), 'un:KPi.999');
  assert.equal(top('KSMTC'), 'un:KPe.999');
  for (const clean of ['Ivan', 'Ivan Smirnov', 'John Smith', 'Acme Trading Ltd', 'Blue Ocean Consulting']) assert.equal(top(clean), null, clean);
  const m = idx.search('ivan petrovsky', 0.88)[0];
  assert.ok(m.pairs.some((p) => p.query === 'petrovsky' && p.listed === 'petrovsky'));
});

test('malformed sanctions files are rejected with file and line', () => {
  assert.throws(() => loadSanctions([{ format: 'ofac_sdn', path: fx('bad-sdn.csv') }]), (e: unknown) => e instanceof SanctionsListError && /bad-sdn\.csv:2: ent_num must be a number/.test(e.message));
  assert.throws(() => loadSanctions([{ format: 'eu', path: sample('uk-ofsi.sample.csv') }]), /missing column\(s\): Entity_LogicalId, NameAlias_WholeName/);
  assert.throws(() => loadSanctions([{ format: 'uk', path: sample('eu-consolidated.sample.csv') }]), /header row with "Name 6"/);
  assert.throws(() => loadSanctions([{ format: 'un', path: sample('ofac-sdn.sample.csv') }]), /not a UN consolidated list/);
  assert.throws(() => loadSanctions([{ format: 'generic', path: '/nonexistent.csv' }]), /cannot read/);
});

test('disposable email domains from the installed package, subdomains included', () => {
  const d = DisposableDomains.load();
  assert.ok(d.size > 100_000);
  assert.equal(d.match('mailinator.com'), 'mailinator.com');
  assert.equal(d.match('x.33mail.com'), '33mail.com');
  assert.equal(d.match('gmail.com'), null);
  assert.equal(d.match('example.org'), null);
});

test('signup screening: explained findings and a decision', () => {
  const runtime = createPolicyRuntime({
    policy: policyConfigSchema.parse({
      watch: false,
      geo: { country_files: [fx('country-v4.csv')], asn_files: [fx('asn-v4.csv')] },
      screening: { sanctions: ALL },
    }),
    watermark: watermarkConfigSchema.parse({}),
  });
  try {
    const clean = runtime.screener.screen({ email: 'ana@gmail.com', name: 'Ana Lima', organisation: 'Lima Labs', signup_ip: '81.2.69.160', claimed_country: 'GB' });
    assert.equal(clean.decision, 'allow');
    assert.deepEqual(clean.findings, []);
    assert.deepEqual(clean.ip, { country: 'GB', asn: 20712, asn_name: 'Andrews & Arnold Ltd', networks: [] });

    const risky = runtime.screener.screen({ email: 'x@mailinator.com', name: 'Ivan Petrovsky', organisation: 'Northwind Trading', signup_ip: '8.8.8.8', claimed_country: 'DE' });
    assert.equal(risky.decision, 'review');
    const checks = risky.findings.map((f) => f.check).sort();
    assert.deepEqual(checks, ['country_mismatch', 'disposable_email', 'network', 'region', 'sanctions', 'sanctions']);
    const s = risky.findings.find((f) => f.check === 'sanctions' && f.detail?.field === 'name')!;
    assert.match(s.explanation, /"Ivan Petrovsky" is similar .* to "PETROVSKY, Ivan Sergeyevich" on the OFAC list \(ofac:9001, RUSSIA-EO14024\)/);
    assert.match(risky.findings.find((f) => f.check === 'region')!.explanation, /rule:hosting-needs-verified/);

    const embargoed = runtime.screener.screen({ email: 'a@b.org', signup_ip: '175.45.176.10' });
    assert.equal(embargoed.decision, 'block');
    assert.match(embargoed.findings[0].explanation, /rule:embargoed-regions/);
    assert.equal(runtime.screener.screen({ claimed_country: 'IR' }).decision, 'block');
    assert.equal(runtime.screener.screen({ email: 'no-at-sign' }).findings[0].check, 'email');
  } finally { runtime.close(); }
});

test('screening throws on a signup IP that is not an IP address rather than screening without it', () => {
  assert.throws(() => screenSignup({ email: 'a@b.example', signup_ip: 'nope' }), (e: Error) => e instanceof ScreeningInputError && e.field === 'signup_ip' && /"nope" is not an IP address/.test(e.message));
  assert.equal(screenSignup({ email: 'a@b.example', signup_ip: null }).decision, 'allow');
  // An empty one is not an IP either (as the admin route and `policy screen --ip ''` say); none is null or absent.
  assert.throws(() => screenSignup({ email: 'a@b.example', signup_ip: '' }), (e: Error) => e instanceof ScreeningInputError && e.field === 'signup_ip');
  assert.equal(screenSignup({ email: 'a@b.example' }).decision, 'allow');
});

test('screenSignup works with no setup (default lists; says sanctions are not configured)', () => {
  const r = screenSignup({ email: 'a@mailinator.com', name: 'Someone' });
  assert.equal(r.decision, 'review');
  assert.ok(r.findings.some((f) => f.check === 'sanctions_not_configured'));
});
