// The subdivision range files are watched as the policy file is: replacing one puts the new data
// in force without SIGHUP or the admin route; a bad one is refused, the policy and data in force stay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPolicyRuntime } from './hooks.ts';
import { policyConfigSchema } from './config.ts';
import { watermarkConfigSchema } from '../watermark/config.ts';
import { KYIV_AS_CRIMEA, SANCTIONED_UA_POLICY, UA_SUBDIVISIONS, askFrom, policyFixture, replaceFile } from '../../test/helpers/subdivisions.ts';
import { until } from '../../test/helpers/until.ts';

test('a replaced subdivision range file is reloaded on its own (policy.watch); a bad one is refused and the data in force stays', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-subdiv-watch-'));
  // The range files in a folder of their own, as a data pipeline would keep them.
  mkdirSync(join(dir, 'geo'));
  const data = join(dir, 'geo', 'subdivisions.csv');
  const policy = join(dir, 'policy.yaml');
  writeFileSync(data, UA_SUBDIVISIONS);
  writeFileSync(policy, SANCTIONED_UA_POLICY);
  const rejected: string[] = [];
  const log = { info: () => {}, warn: () => {}, error: (o: object, m: string) => { rejected.push(`${m} ${JSON.stringify(o)}`); } };
  const rt = createPolicyRuntime({
    policy: policyConfigSchema.parse({ file: policy, watch: true, reload_debounce_ms: 20, geo: { country_files: [policyFixture('country-ua.csv')], asn_files: [policyFixture('asn-v4.csv')], subdivision_files: [data] } }),
    watermark: watermarkConfigSchema.parse({}),
  }, { log });
  try {
    assert.equal(askFrom(rt, '192.0.2.170').refusal, null, 'Kyiv is served');
    replaceFile(data, KYIV_AS_CRIMEA);
    await until('the new ranges decide requests without a reload asked for', () => askFrom(rt, '192.0.2.170').refusal?.kind === 'region_blocked');
    const inForce = rt.subdivisions!.version.digest;

    replaceFile(data, `${KYIV_AS_CRIMEA}203.0.113.0,203.0.113.9,Crimea\n`);
    await until('the bad file is refused', () => rt.store.lastError !== null);
    assert.ok(rejected.some((m) => m.startsWith('policy reload rejected') && m.includes('policy.geo.subdivision_files')), `the rejection is logged with why: ${rejected}`);
    assert.equal(rt.subdivisions!.version.digest, inForce, 'the data in force stays');
    assert.equal(askFrom(rt, '192.0.2.170').refusal?.kind, 'region_blocked', 'and decides as before');
  } finally {
    rt.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
