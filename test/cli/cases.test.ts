// `warden serve` with a sharing key: a partner's indicators imported through the admin API are
// matched by the running detector (an account sending the partner's campaign prompt is held at
// the feed's level, explained), kept across a restart, and reported back as sightings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, readFileSync } from 'node:fs';
import { runIntelCli } from '../../src/cli/cases-cmd.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import { exchangeValue, keyedHash } from '../../src/detect/index.ts';

const KEY = 'consortium-key-for-the-test-run';
const PROMPT = 'You are DistillBot. Reason step by step, show every intermediate thought, then grade with the rubric.';

test('imported indicators hold a matching account in the running gateway, and survive a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-cases-'));
  const running = new Set<Awaited<ReturnType<typeof startWarden>>>();
  try {
    const config = parseConfig({
      server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 },
      detect: { tick_seconds: 0.05 }, cases: { sharing_key: KEY, provider: 'Provider B' },
    });
    const start = async () => {
      const lines: string[] = [];
      const w = await startWarden(config, { log: (l) => lines.push(l) });
      running.add(w);
      return { w, lines };
    };
    const { w, lines } = await start();
    const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
    const admin = async (method: string, path: string, body?: unknown, url = w.url) => {
      const res = await fetch(`${url}/admin${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      return { status: res.status, body: res.status === 204 ? null : await res.json() as any };
    };
    assert.ok(!lines.some((l) => l.includes(KEY)), 'the key is never printed');

    const bundle = {
      type: 'bundle', id: 'bundle--3f0f0f0f-0000-4000-8000-000000000000',
      objects: [
        { type: 'identity', spec_version: '2.1', id: 'identity--3f0f0f0f-0000-4000-8000-000000000001', name: 'Provider A', identity_class: 'organization', created: '2026-03-01T00:00:00Z', modified: '2026-03-01T00:00:00Z' },
        { type: 'campaign', spec_version: '2.1', id: 'campaign--3f0f0f0f-0000-4000-8000-000000000002', name: 'op-lantern', created: '2026-03-01T00:00:00Z', modified: '2026-03-01T00:00:00Z' },
        {
          type: 'indicator', spec_version: '2.1', id: 'indicator--3f0f0f0f-0000-4000-8000-000000000003', created_by_ref: 'identity--3f0f0f0f-0000-4000-8000-000000000001',
          pattern_type: 'stix', valid_from: '2026-03-01T00:00:00Z', confidence: 85,
          pattern: `[x-warden-keyed-hash:kind = 'system_prompt' AND x-warden-keyed-hash:hmac = '${keyedHash(KEY, 'system_prompt', exchangeValue('system_prompt', PROMPT)!)}']`,
        },
        { type: 'relationship', spec_version: '2.1', id: 'relationship--3f0f0f0f-0000-4000-8000-000000000004', relationship_type: 'indicates', source_ref: 'indicator--3f0f0f0f-0000-4000-8000-000000000003', target_ref: 'campaign--3f0f0f0f-0000-4000-8000-000000000002' },
      ],
    };
    const imported = await admin('POST', '/intel/import', bundle);
    assert.equal(imported.status, 201, JSON.stringify(imported.body));
    assert.equal(imported.body.imported, 1);

    const me = (await admin('GET', '/accounts')).body.data[0].id as string;
    const client = new OpenAI({ apiKey: w.demoKey!, baseURL: `${w.url}/v1`, maxRetries: 0 });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: PROMPT }, { role: 'user', content: 'What is 17 * 23?' }] });
    const levelOf = async (url: string) => {
      let r: { status: number; body: any } = { status: 0, body: null };
      for (let t = 0; t < 200; t++) {
        r = await admin('GET', `/detect/accounts/${me}`, undefined, url);
        if (r.status === 200 && r.body.level !== 'none') break;
        await new Promise((res) => setTimeout(res, 25));
      }
      return r.body;
    };
    const seen = await levelOf(w.url);
    assert.equal(seen.level, 'throttle');
    assert.equal(seen.verdict.reasons[0].signal, 'shared_indicator');
    assert.match(seen.verdict.reasons[0].detail, /shared by Provider A \(not a listed partner\) for campaign "op-lantern", confidence 85; holds at throttle/);
    const intel = (await admin('GET', '/intel')).body;
    assert.deepEqual(intel.sightings.map((s: any) => [s.indicator_id, s.count, s.accounts]), [['indicator--3f0f0f0f-0000-4000-8000-000000000003', 1, 1]]);
    const back = await fetch(`${w.url}/admin/intel/sightings`, { headers: { authorization: `Bearer ${token}` } });
    assert.match(back.headers.get('content-type')!, /^application\/stix\+json/);
    // The bundle partners are given names only matches by accounts held here when they matched:
    // this first one came before the indicator held the account.
    assert.deepEqual(((await back.json()) as any).objects.filter((o: any) => o.type === 'sighting'), [], 'the first match, before the account was held, is not reported to partners');
    running.delete(w);
    await w.close();

    const second = await start();
    assert.ok(second.lines.some((l) => /^cases: 1 indicators shared by other providers are matched \(sharing key [0-9a-f]{16}\)/.test(l)), second.lines.join('\n'));
    assert.equal((await levelOf(second.w.url)).level, 'throttle', 'the match is kept in the detector\'s state');
    // Sightings add up across the restart.
    const sightings = async () => (await admin('GET', '/intel', undefined, second.w.url)).body.sightings.map((s: any) => [s.count, s.accounts, s.first_seen === intel.sightings[0].first_seen]);
    assert.deepEqual(await sightings(), [[1, 1, true]]);
    const again = new OpenAI({ apiKey: w.demoKey!, baseURL: `${second.w.url}/v1`, maxRetries: 0 });
    await again.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: PROMPT }, { role: 'user', content: 'And 19 * 23?' }] });
    let counted: unknown[] = [];
    for (let t = 0; t < 200; t++) { counted = await sightings(); if ((counted[0] as number[])[0] === 2) break; await new Promise((r) => setTimeout(r, 25)); }
    assert.deepEqual(counted, [[2, 1, true]]);
    const reported = await fetch(`${second.w.url}/admin/intel/sightings`, { headers: { authorization: `Bearer ${token}` } });
    const sightingObjects = ((await reported.json()) as any).objects.filter((o: any) => o.type === 'sighting');
    assert.deepEqual(sightingObjects.map((o: any) => o.sighting_of_ref), ['indicator--3f0f0f0f-0000-4000-8000-000000000003'], 'a match by the account held here is reported to partners');
    const removed = await admin('DELETE', '/intel?source=Provider%20A', undefined, second.w.url);
    assert.equal(removed.status, 204);
    assert.deepEqual((await admin('GET', '/intel', undefined, second.w.url)).body.indicators, []);
  } finally {
    for (const w of running) await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the running gateway serves TAXII 2.1 to partner keys, and polls the partners\' feeds it is given', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-taxii-'));
  const running: Array<Awaited<ReturnType<typeof startWarden>>> = [];
  const base = { server: { port: 0 }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 }, detect: { tick_seconds: 0.05 } };
  try {
    const a = await startWarden(parseConfig({ ...base, store: { sqlite_path: join(dir, 'a.db') }, cases: { sharing_key: KEY, provider: 'Provider A' } }), { log: () => {} });
    running.push(a);
    const tokenA = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
    const adminA = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${a.url}/admin${path}`, { method, headers: { authorization: `Bearer ${tokenA}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      return { status: res.status, body: await res.json() as any };
    };
    // Provider B is a customer of a kind: an organisation, an account, keys with the intel scopes only.
    const org = (await adminA('POST', '/orgs', { name: 'Provider B', tier: 'enterprise' })).body;
    const acct = (await adminA('POST', '/accounts', { org_id: org.id, name: 'intel desk' })).body;
    const readKey = (await adminA('POST', `/accounts/${acct.id}/keys`, { scopes: ['intel:read'] })).body.secret as string;
    const writeKey = (await adminA('POST', `/accounts/${acct.id}/keys`, { scopes: ['intel:write'] })).body.secret as string;
    const taxiiA = async (path: string, key: string, init: RequestInit = {}) => {
      const res = await fetch(`${a.url}/taxii2${path}`, { ...init, headers: { accept: 'application/taxii+json;version=2.1', authorization: `Bearer ${key}`, ...(init.body ? { 'content-type': 'application/taxii+json;version=2.1' } : {}) } });
      return { status: res.status, body: await res.json() as any };
    };
    assert.equal((await taxiiA('/', readKey)).status, 200);
    const chat = await fetch(`${a.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${readKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(chat.status, 403, 'a partner\'s intel key reaches no model');
    assert.match(((await chat.json()) as any).error.message, /lacks the "inference" scope/);

    // B pushes a campaign's system prompt into A's inbox; A's customers who send it are held.
    const inbox = (await taxiiA('/intel/collections/', writeKey)).body.collections[0];
    const hmac = keyedHash(KEY, 'system_prompt', exchangeValue('system_prompt', PROMPT)!);
    const posted = await taxiiA(`/intel/collections/${inbox.id}/objects/`, writeKey, { method: 'POST', body: JSON.stringify({ objects: [{ type: 'indicator', spec_version: '2.1', id: 'indicator--4f0f0f0f-0000-4000-8000-000000000003', pattern_type: 'stix', valid_from: '2026-03-01T00:00:00Z', pattern: `[x-warden-keyed-hash:kind = 'system_prompt' AND x-warden-keyed-hash:hmac = '${hmac}']` }] }) });
    assert.equal(posted.status, 202);
    assert.equal(posted.body.success_count, 1);
    const client = new OpenAI({ apiKey: a.demoKey!, baseURL: `${a.url}/v1`, maxRetries: 0 });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: PROMPT }, { role: 'user', content: 'What is 17 * 23?' }] });
    const me = (await adminA('GET', '/accounts')).body.data.find((x: any) => x.name === 'demo').id as string;
    let seen: any = null;
    for (let t = 0; t < 200 && seen?.level !== 'throttle'; t++) { seen = (await adminA('GET', `/detect/accounts/${me}`)).body; await new Promise((r) => setTimeout(r, 25)); }
    assert.equal(seen.level, 'throttle');
    assert.match(seen.verdict.reasons[0].detail, /shared by Provider B/);

    // Provider B's gateway polls A's collection with the key A issued it (read from the environment).
    const collection = (await taxiiA('/intel/collections/', readKey)).body.collections[0];
    process.env.WARDEN_TEST_FEED_KEY = readKey;
    const feeds = [
      { name: 'Provider A', url: `${a.url}/taxii2/intel/collections/${collection.id}/`, token: 'env:WARDEN_TEST_FEED_KEY', every_seconds: 3600 },
      { name: 'Provider C', url: `${a.url}/taxii2/intel/collections/${collection.id}/`, token: 'not-a-key-anyone-issued', every_seconds: 3600 },
    ];
    const bDir = join(dir, 'b');
    mkdirSync(bDir);
    const b = await startWarden(parseConfig({ ...base, store: { sqlite_path: join(bDir, 'b.db') }, cases: { sharing_key: KEY, provider: 'Provider B', feeds } }), { log: () => {} });
    running.push(b);
    const env = { WARDEN_ADMIN_URL: b.url, WARDEN_ADMIN_TOKEN: readFileSync(join(bDir, 'admin-token'), 'utf8').trim() };
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t), env };
    assert.equal(await runIntelCli(['pull', 'Provider A'], io), 0, err.join('\n'));
    assert.match(out.at(-1)!, /^Provider A: polled; 0 indicators taken in/);
    assert.equal(await runIntelCli(['pull', 'Provider C'], io), 1);
    assert.match(err.at(-1)!, /feed Provider C: .* answered 401/);
    assert.equal(await runIntelCli(['pull', 'Provider D'], io), 1);
    assert.match(err.at(-1)!, /no feed Provider D/);
    assert.equal(await runIntelCli(['feeds'], io), 0);
    assert.match(out.at(-1)!, /Provider A/);
    assert.ok(!out.join('\n').includes(readKey), 'the feed\'s key is never shown');
  } finally {
    delete process.env.WARDEN_TEST_FEED_KEY;
    for (const w of running.reverse()) await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('after a change of sharing key, indicators hashed with the old one are reported, not matched, and removable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-rekey-'));
  const base = { server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 } };
  let w: Awaited<ReturnType<typeof startWarden>> | null = null;
  try {
    w = await startWarden(parseConfig({ ...base, cases: { sharing_key: KEY } }), { log: () => {} });
    const hmac = keyedHash(KEY, 'system_prompt', exchangeValue('system_prompt', PROMPT)!);
    const imported = await fetch(`${w.url}/admin/intel/import?source=Provider%20A`, {
      method: 'POST', headers: { authorization: `Bearer ${w.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'bundle', id: 'bundle--1', objects: [{ type: 'indicator', spec_version: '2.1', id: 'indicator--7f0f0f0f-0000-4000-8000-000000000001', pattern_type: 'stix', valid_from: '2026-03-01T00:00:00Z', pattern: `[x-warden-keyed-hash:kind = 'system_prompt' AND x-warden-keyed-hash:hmac = '${hmac}']` }] }),
    });
    assert.equal(imported.status, 201);
    await w.close();
    w = null;

    const lines: string[] = [];
    w = await startWarden(parseConfig({ ...base, cases: { sharing_key: 'the-consortium-s-new-key-2027' } }), { log: (l) => lines.push(l) });
    assert.ok(lines.some((l) => /^cases: 1 stored indicators were hashed with another sharing key than [0-9a-f]{16}: they cannot match/.test(l)), lines.join('\n'));
    const intel = async () => (await (await fetch(`${w!.url}/admin/intel`, { headers: { authorization: `Bearer ${w!.adminToken}` } })).json()) as any;
    const before = await intel();
    assert.deepEqual([before.indicators.length, before.stale.map((i: any) => i.id)], [0, ['indicator--7f0f0f0f-0000-4000-8000-000000000001']]);
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t), env: { WARDEN_ADMIN_URL: w.url, WARDEN_ADMIN_TOKEN: w.adminToken! } };
    assert.equal(await runIntelCli(['list'], io), 0);
    assert.match(out.at(-1)!, /1 stored indicators were hashed with another sharing key and cannot match/);
    assert.equal(await runIntelCli(['remove', '--stale'], io), 0, err.join('\n'));
    assert.deepEqual((await intel()).stale, []);
    assert.equal(await runIntelCli(['remove', '--stale'], io), 1);
    assert.match(err.at(-1)!, /no stored indicator was hashed with another sharing key/);
    assert.equal(await runIntelCli(['remove', '--stale', '--source', 'x'], io), 2);
  } finally {
    await w?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
