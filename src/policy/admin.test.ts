// The policy admin routes inside `warden serve`: signup screening and policy explanations an
// operator (or a signup service) calls over HTTP with the admin token.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../config/schema.ts';
import { startWarden } from '../cli/serve.ts';

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
