// The policy admin routes inside `warden serve`: signup screening and policy explanations an
// operator (or a signup service) calls over HTTP with the admin token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../config/schema.ts';
import { startWarden } from '../cli/serve.ts';
import { openIdentityStore } from '../identity/index.ts';

const TOKEN = 'policy-admin-test-token-0123456789abcdef';
let w: Awaited<ReturnType<typeof startWarden>>;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'warden-policy-admin-'));
  const config = configSchema.parse({ server: { port: 0 }, store: { sqlite_path: join(dir, 'w.db') }, admin: { token: TOKEN }, log: { level: 'silent' }, ledger: { enabled: false } });
  w = await startWarden(config, { demo: false, log: () => {} });
});
after(async () => { await w.close(); rmSync(dir, { recursive: true, force: true }); });

const call = async (method: string, path: string, body?: unknown, token = TOKEN) => {
  const res = await fetch(`${w.url}/admin${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, body: await res.json() as any };
};

test('screening a signup names each finding; an embargoed signup IP is a block', async () => {
  const risky = await call('POST', '/policy/screen', { email: 'x@mailinator.com', signup_ip: '8.8.8.8', claimed_country: 'de' });
  assert.equal(risky.status, 200);
  assert.equal(risky.body.decision, 'review');
  assert.ok(risky.body.findings.some((f: any) => f.check === 'disposable_email' && /mailinator\.com/.test(f.explanation)));
  assert.ok(risky.body.findings.some((f: any) => f.check === 'country_mismatch'));
  assert.equal(risky.body.ip.country, 'US');
  const clean = await call('POST', '/policy/screen', { email: 'ana@gmail.com', signup_ip: '81.2.69.160', claimed_country: 'GB' });
  assert.equal(clean.body.decision, 'allow');
  const embargoed = await call('POST', '/policy/screen', { signup_ip: '175.45.176.10' });
  assert.equal(embargoed.body.decision, 'block');
});

test('screening and explain refuse a signup IP that is not an IP address (400 naming the field), never "allow"', async () => {
  for (const signup_ip of ['nope', '999.1.1.1', '']) {
    const r = await call('POST', '/policy/screen', { email: 'a@b.example', signup_ip });
    assert.equal(r.status, 400, `${signup_ip}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.code, 'WARDEN_INVALID_REQUEST');
    assert.match(JSON.stringify(r.body.error), /signup_ip/);
    assert.equal(r.body.decision, undefined);
  }
  const explain = await call('POST', '/policy/explain', { tier: 'email_verified', ip: 'notanip' });
  assert.equal(explain.status, 400);
  assert.match(JSON.stringify(explain.body.error), /"ip"|ip:/);
  assert.equal((await call('POST', '/policy/screen', { email: 'a@b.example', signup_ip: '2001:db8::1' })).status, 200);
});

test('explain: capabilities and the rules behind them; bad input is a 400; the admin token is required', async () => {
  const cloud = await call('POST', '/policy/explain', { tier: 'email_verified', ip: '52.95.1.1' });
  assert.equal(cloud.status, 200);
  assert.equal(cloud.body.refusal, null);
  assert.equal(cloud.body.capabilities.reasoning, 'none');
  assert.ok(cloud.body.matched.includes('rule:hosting-no-raw-reasoning'), cloud.body.matched.join(','));
  const unverified = await call('POST', '/policy/explain', { tier: 'unverified', ip: '52.95.1.1' });
  assert.equal(unverified.body.refusal.kind, 'verify');
  const suspended = await call('POST', '/policy/explain', { tier: 'enterprise', verdict: 'suspend' });
  assert.equal(suspended.body.refusal.kind, 'suspend');
  // Models as the policy file writes them, and a model outside them refused as the gateway refuses it.
  assert.deepEqual(cloud.body.capabilities.models, ['*']);
  assert.equal((await call('POST', '/policy/explain', { tier: 'enterprise', model: 'gpt-4o' })).body.refusal, null);
  assert.equal((await call('POST', '/policy/explain', { tier: 'gold' })).status, 400);
  assert.equal((await call('POST', '/policy/explain', { tier: 'unverified' }, 'wrong-token-wrong-token-wrong-token')).status, 401);
  const info = await call('GET', '/policy');
  assert.match(info.body.file, /policy\/default\.yaml$/);
  assert.equal(info.body.digest.length, 64);
});

test('explain with an account reads it as the gateway reads its caller: its organisation\'s rules, its claimed country, its own tier under verify, its verdict in force', async () => {
  const home = mkdtempSync(join(tmpdir(), 'warden-policy-explain-'));
  const base = { server: { port: 0 }, store: { sqlite_path: join(home, 'w.db') }, admin: { token: TOKEN }, log: { level: 'silent' }, ledger: { enabled: false } } as const;
  // The accounts exist before the gateway starts, so that the policy file can name the organisation.
  const identity = openIdentityStore(configSchema.parse(base));
  const blockedOrg = await identity.createOrg({ name: 'Blocked Co', tier: 'enterprise' });
  const bigOrg = await identity.createOrg({ name: 'Big Co', tier: 'enterprise' });
  const inBlocked = await identity.createAccount({ org_id: blockedOrg.id, tier: 'email_verified' });
  const fresh = await identity.createAccount({ org_id: bigOrg.id, tier: 'unverified' });
  const abroad = await identity.createAccount({ tier: 'email_verified', claimed_country: 'IR' });
  const keyOf = async (id: string) => (await identity.createKey(id, { name: 'k' })).secret;
  const keys = { inBlocked: await keyOf(inBlocked.id), abroad: await keyOf(abroad.id), fresh: await keyOf(fresh.id) };
  await identity.close();
  const policy = join(home, 'policy.yaml');
  writeFileSync(policy, readFileSync(new URL('../../policy/default.yaml', import.meta.url), 'utf8')
    .replace(/^rules:\n/m, `rules:\n  - id: blocked-org\n    when: { org: ["${blockedOrg.id}"] }\n    action: deny\n`));
  const g = await startWarden(configSchema.parse({ ...base, policy: { file: policy } }), { demo: false, log: () => {} });
  const at = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${g.url}/admin${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() as any };
  };
  const chat = async (key: string) => {
    const res = await fetch(`${g.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });
    return { status: res.status, body: await res.json() as any };
  };
  try {
    // An organisation's rule: the gateway refuses the account, and explain says so (and why).
    const org = await at('POST', '/policy/explain', { account_id: inBlocked.id });
    assert.equal(org.status, 200, JSON.stringify(org.body));
    assert.deepEqual(org.body.refusal && [org.body.refusal.kind, org.body.refusal.source], ['deny', 'rule:blocked-org']);
    assert.deepEqual(org.body.subject, { account_id: inBlocked.id, org_id: blockedOrg.id, tier: 'enterprise', account_tier: 'email_verified', programme: 'none', claimed_country: null, claimed_subdivision: null, verdict: 'none' });
    assert.deepEqual([(await chat(keys.inBlocked)).status, (await chat(keys.inBlocked)).body.error.warden_code], [403, 'WARDEN_POLICY_DENIED']);
    // Without an account, the organisation named.
    assert.equal((await at('POST', '/policy/explain', { tier: 'email_verified', org_id: blockedOrg.id })).body.refusal?.source, 'rule:blocked-org');
    assert.equal((await at('POST', '/policy/explain', { tier: 'email_verified' })).body.refusal, null);
    // The claimed country of the account's record.
    const claimed = await at('POST', '/policy/explain', { account_id: abroad.id });
    assert.equal(claimed.body.refusal?.kind, 'region_blocked', JSON.stringify(claimed.body));
    assert.equal((await chat(keys.abroad)).status, 403);
    // Under verify, the account's own tier: an unverified account of an enterprise organisation is refused.
    const verify = await at('POST', '/policy/explain', { account_id: fresh.id, verdict: 'verify' });
    assert.equal(verify.body.refusal?.kind, 'verify', JSON.stringify(verify.body));
    assert.deepEqual([verify.body.subject.tier, verify.body.subject.account_tier], ['enterprise', 'unverified']);
    assert.equal((await at('POST', '/policy/explain', { account_id: fresh.id, tier: 'identity_verified', verdict: 'verify' })).body.refusal, null, 'what if it verified');
    // The verdict in force, unless one is given.
    assert.equal((await at('POST', '/detect/verdicts', { kind: 'account', id: fresh.id, level: 'suspend', note: 'test' })).status < 300, true);
    const suspended = await at('POST', '/policy/explain', { account_id: fresh.id });
    assert.deepEqual([suspended.body.refusal?.kind, suspended.body.subject.verdict], ['suspend', 'suspend']);
    assert.equal((await chat(keys.fresh)).body.error.warden_code, 'WARDEN_ACCOUNT_SUSPENDED');
    // Ids with no record, and facts that contradict each other.
    const unknown = await at('POST', '/policy/explain', { account_id: 'acct_nope' });
    assert.deepEqual([unknown.status, unknown.body.error.code], [404, 'WARDEN_NOT_FOUND']);
    assert.equal((await at('POST', '/policy/explain', { tier: 'unverified', org_id: 'org_nope' })).status, 404);
    assert.equal((await at('POST', '/policy/explain', { account_id: fresh.id, org_id: bigOrg.id })).status, 400);
    assert.equal((await at('POST', '/policy/explain', { ip: '8.8.8.8' })).status, 400, 'a tier or an account');
  } finally {
    await g.close();
    rmSync(home, { recursive: true, force: true });
  }
});
