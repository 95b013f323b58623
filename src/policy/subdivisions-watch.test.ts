// The subdivision range files are watched as the policy file is: replacing one puts the new data
// in force without SIGHUP or the admin route; a bad one is refused, the policy and data in force stay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPolicyRuntime, explainRequest, type PolicyRuntime } from './hooks.ts';
import { policyConfigSchema } from './config.ts';
import { watermarkConfigSchema } from '../watermark/config.ts';
import { parseIp } from './ip.ts';

const fx = (name: string) => new URL(`../../test/fixtures/policy/${name}`, import.meta.url).pathname;
const POLICY = 'version: 1\nregions:\n  sanctioned_ua: [UA-43, UA-40, UA-14, UA-09]\nrules:\n  - { id: sanctioned-regions, when: { region: sanctioned_ua }, action: deny, code: region_blocked }\n';
const ORIGINAL = readFileSync(fx('subdivisions-ua.csv'), 'utf8');
const KYIV_AS_CRIMEA = ORIGINAL.replace('192.0.2.160,192.0.2.191,UA-30,Kyiv', '192.0.2.160,192.0.2.191,UA-43,moved');

function replace(file: string, text: string): void {
  writeFileSync(`${file}.new`, text);
  renameSync(`${file}.new`, file);
}
const ask = (rt: PolicyRuntime, ip: string) => explainRequest(rt, {
  ip: parseIp(ip), tier: 'unverified', accountTier: 'unverified', programme: 'none', accountId: null, orgId: null,
  model: '', flavour: 'openai.chat', claimedCountry: null, claimedSubdivision: null, verdict: 'none',
});
async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !ok();) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a replaced subdivision range file is reloaded on its own (policy.watch); a bad one is refused and the data in force stays', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-subdiv-watch-'));
  // The range files in a folder of their own, as a data pipeline would keep them.
  mkdirSync(join(dir, 'geo'));
  const data = join(dir, 'geo', 'subdivisions.csv');
  const policy = join(dir, 'policy.yaml');
  writeFileSync(data, ORIGINAL);
  writeFileSync(policy, POLICY);
  const rejected: string[] = [];
  const log = { info: () => {}, warn: () => {}, error: (o: object, m: string) => { rejected.push(`${m} ${JSON.stringify(o)}`); } };
  const rt = createPolicyRuntime({
    policy: policyConfigSchema.parse({ file: policy, watch: true, reload_debounce_ms: 20, geo: { country_files: [fx('country-ua.csv')], asn_files: [fx('asn-v4.csv')], subdivision_files: [data] } }),
    watermark: watermarkConfigSchema.parse({}),
  }, { log });
  try {
    assert.equal(ask(rt, '192.0.2.170').refusal, null, 'Kyiv is served');
    replace(data, KYIV_AS_CRIMEA);
    await until('the new ranges decide requests without a reload asked for', () => ask(rt, '192.0.2.170').refusal?.kind === 'region_blocked');
    const inForce = rt.subdivisions!.version.digest;

    replace(data, `${KYIV_AS_CRIMEA}203.0.113.0,203.0.113.9,Crimea\n`);
    await until('the bad file is refused', () => rt.store.lastError !== null);
    assert.ok(rejected.some((m) => m.startsWith('policy reload rejected') && m.includes('policy.geo.subdivision_files')), `the rejection is logged with why: ${rejected}`);
    assert.equal(rt.subdivisions!.version.digest, inForce, 'the data in force stays');
    assert.equal(ask(rt, '192.0.2.170').refusal?.kind, 'region_blocked', 'and decides as before');
  } finally {
    rt.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
