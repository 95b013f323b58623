// The subdivision range files (`policy.geo.subdivision_files`) are read again with the policy: a
// reload (a change of the policy file, SIGHUP, POST /admin/policy/reload) puts new data in force
// for the next request; a bad range file, or data the policy in force cannot be decided with, is
// refused with the reason and the policy and data in force stay, both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPolicyRuntime } from './hooks.ts';
import { policyConfigSchema } from './config.ts';
import { watermarkConfigSchema } from '../watermark/config.ts';
import { KYIV_AS_CRIMEA, SANCTIONED_UA_POLICY, UA_SUBDIVISIONS, askFrom, policyFixture, replaceFile } from '../../test/helpers/subdivisions.ts';
import { startTestWarden, TEST_ADMIN_TOKEN } from '../../test/helpers/warden.ts';

test('a policy reload reads the subdivision files again: new ranges decide the next request; a bad file or uncovering data keeps the policy and data in force, saying why', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-subdiv-reload-'));
  const data = join(dir, 'subdivisions.csv');
  const policy = join(dir, 'policy.yaml');
  writeFileSync(data, UA_SUBDIVISIONS);
  writeFileSync(policy, SANCTIONED_UA_POLICY);
  const logs: string[] = [];
  const log = { info: (_o: object, m: string) => { logs.push(m); }, warn: (_o: object, m: string) => { logs.push(m); }, error: (o: object, m: string) => { logs.push(`${m} ${JSON.stringify(o)}`); } };
  const rt = createPolicyRuntime({
    policy: policyConfigSchema.parse({ file: policy, watch: false, geo: { country_files: [policyFixture('country-ua.csv')], asn_files: [policyFixture('asn-v4.csv')], subdivision_files: [data] } }),
    watermark: watermarkConfigSchema.parse({}),
  }, { log });
  try {
    assert.equal(askFrom(rt, '192.0.2.170').refusal, null, 'Kyiv is served');
    const first = rt.subdivisions!.version.digest;

    replaceFile(data, KYIV_AS_CRIMEA);
    assert.equal(rt.store.reload(), true, `the reload succeeds: ${rt.store.lastError?.message}`);
    const second = rt.subdivisions!.version.digest;
    assert.notEqual(second, first, 'the new data is in force');
    const moved = askFrom(rt, '192.0.2.170');
    assert.equal(moved.refusal?.kind, 'region_blocked', 'the re-assigned block is refused from the next request');
    assert.ok(moved.matched.includes(`subdivision:UA-43@data:${second.slice(0, 12)}`), `the decision names the new data: ${moved.matched}`);
    assert.ok(logs.includes('policy subdivision data loaded'), `the load of new data is logged: ${logs}`);

    // An edit of the policy file alone (what the file watch reloads for) keeps the data read, unless its files changed.
    const data2 = rt.subdivisions;
    writeFileSync(policy, `${SANCTIONED_UA_POLICY}# edited\n`);
    assert.equal(rt.store.reload({ reuseData: true }), true);
    assert.equal(rt.subdivisions, data2, 'the range files unchanged: the data in force is kept, not parsed again');
    assert.equal(rt.store.reload(), true);
    assert.notEqual(rt.subdivisions, data2, 'an explicit reload (SIGHUP, the admin route) reads them again');
    assert.equal(rt.subdivisions!.version.digest, second, 'to the same data');

    // A malformed line: refused with file and line; the data and the policy in force stay.
    replaceFile(data, `${KYIV_AS_CRIMEA}203.0.113.0,203.0.113.9,Crimea\n`);
    assert.equal(rt.store.reload(), false, 'a bad range file is refused');
    assert.match(rt.store.lastError?.message ?? '', new RegExp(`${data.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+: subdivision must be an ISO 3166-2 code`), 'the error names the file and line');
    assert.ok(logs.some((m) => m.startsWith('policy reload rejected') && m.includes('policy.geo.subdivision_files')), `the rejection is logged with why: ${logs.at(-1)}`);
    assert.equal(rt.subdivisions!.version.digest, second, 'the data in force is unchanged');
    assert.equal(askFrom(rt, '192.0.2.170').refusal?.kind, 'region_blocked');

    // A policy edit made while the data is bad is refused too (policy and data are reloaded together).
    writeFileSync(policy, `${SANCTIONED_UA_POLICY}  - { id: extra, when: { country: UA }, action: deny }\n`);
    assert.equal(rt.store.reload(), false, 'a policy reload reads the (bad) data as well, and is refused');
    assert.ok(!rt.store.current.document.rules.some((r) => r.id === 'extra'), 'the previous policy stays whole');
    writeFileSync(policy, SANCTIONED_UA_POLICY);

    // Data that no longer covers the policy's subdivisions' country: the policy could not be decided.
    replaceFile(data, '203.0.113.0,203.0.113.255,GE-AB\n');
    assert.equal(rt.store.reload(), false, 'data the policy in force cannot be decided with is refused');
    assert.match(rt.store.lastError?.message ?? '', /UA-43/);
    assert.equal(rt.subdivisions!.version.digest, second, 'and the data in force stays');
    assert.equal(askFrom(rt, '192.0.2.170').refusal?.kind, 'region_blocked');

    replaceFile(data, UA_SUBDIVISIONS);
    assert.equal(rt.store.reload(), true);
    assert.equal(rt.subdivisions!.version.digest, first, 'back to the first data');
    assert.equal(askFrom(rt, '192.0.2.170').refusal, null, 'Kyiv is served again');
  } finally {
    rt.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('warden serve: POST /admin/policy/reload and SIGHUP read the subdivision data again; a bad file is a 409 naming file and line', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-subdiv-reload-serve-'));
  const data = join(dir, 'subdivisions.csv');
  const policy = join(dir, 'policy.yaml');
  writeFileSync(data, UA_SUBDIVISIONS);
  writeFileSync(policy, SANCTIONED_UA_POLICY);
  const t = await startTestWarden({
    server: { port: 0, trusted_proxies: ['127.0.0.1'] },
    policy: { file: policy, watch: false, geo: { country_files: [policyFixture('country-ua.csv')], asn_files: [policyFixture('asn-v4.csv')], subdivision_files: [data] } },
  });
  const admin = async (method: string, path: string) => {
    const r = await fetch(`${t.url}/admin${path}`, { method, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    return { status: r.status, body: await r.json() as any };
  };
  const chat = async (key: string) => {
    const r = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-forwarded-for': '192.0.2.170' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] }),
    });
    await r.text();
    return r.status;
  };
  try {
    const { key } = await t.account('kyiv', 'email_verified');
    assert.equal(await chat(key), 200, 'a client in Kyiv is served');
    const before = (await admin('GET', '/policy')).body.subdivision_data;
    assert.equal(before?.files?.[0]?.path, data, `GET /admin/policy names the data in force: ${JSON.stringify(before)}`);

    replaceFile(data, KYIV_AS_CRIMEA);
    const reloaded = await admin('POST', '/policy/reload');
    assert.equal(reloaded.status, 200, JSON.stringify(reloaded.body));
    assert.notEqual(reloaded.body.subdivision_data.digest, before.digest, 'the answer names the new data');
    assert.equal(await chat(key), 403, 'the next request is decided with the new data');

    replaceFile(data, `${UA_SUBDIVISIONS}203.0.113.0,203.0.113.9,Crimea\n`);
    const refused = await admin('POST', '/policy/reload');
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.match(refused.body.error.message, /subdivisions\.csv:\d+: subdivision must be an ISO 3166-2 code/);
    assert.match(refused.body.error.message, /the policy in force is unchanged/);
    assert.equal((await admin('GET', '/policy')).body.subdivision_data.digest, reloaded.body.subdivision_data.digest, 'the data in force stays');
    assert.equal(await chat(key), 403);

    // What SIGHUP calls.
    replaceFile(data, UA_SUBDIVISIONS);
    assert.equal(t.w.reloadPolicy(), true);
    assert.equal(await chat(key), 200, 'served again after the reload SIGHUP makes');
  } finally {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
