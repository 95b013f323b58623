// GET /v1/warden/usage: a customer reads its own usage (by UTC day and model) and limits with its
// own API key, through a whole `warden serve`, plainly and with the official SDKs; no other
// account's data, no detector internals, errors in the caller's wire format, and a rate of its own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startTestWarden, type TestWarden } from '../helpers/warden.ts';

let t: TestWarden;
let org: string;
let alice: { id: string; key: string };
let bob: { id: string; key: string };
let stranger: { id: string; key: string };
let bobOrgKey: string;
let aliceUsageKey: string;

before(async () => {
  t = await startTestWarden({
    // An account rate of one request a minute in bursts of 10: what is used stays put between two reads.
    limits: { tiers: { email_verified: { account: { rpm: 1, burst: 10 } } }, usage_view: { requests_per_minute: 20 } },
  });
  org = (await t.admin('/orgs', { name: 'Acme', tier: 'email_verified' })).id;
  const member = async (name: string, orgId: string | null) => {
    const account = await t.admin('/accounts', { name, email: `${name}@example.org`, tier: 'email_verified', ...(orgId ? { org_id: orgId } : {}) });
    return { id: account.id as string, key: (await t.admin(`/accounts/${account.id}/keys`, { name: 'k' })).secret as string };
  };
  alice = await member('alice', org);
  bob = await member('bob', org);
  stranger = await member('stranger', null);
  bobOrgKey = (await t.admin(`/accounts/${bob.id}/keys`, { name: 'billing', scopes: ['usage:read:org'] })).secret;
  aliceUsageKey = (await t.admin(`/accounts/${alice.id}/keys`, { name: 'dashboard', scopes: ['usage:read'] })).secret;
  const chat = (key: string, model: string) => new OpenAI({ apiKey: key, baseURL: `${t.url}/v1`, maxRetries: 0 }).chat.completions.create({ model, messages: [{ role: 'user', content: 'hello there' }], max_tokens: 20 });
  await chat(alice.key, 'gpt-4o-mini');
  await chat(alice.key, 'gpt-4o-mini');
  await new Anthropic({ apiKey: alice.key, baseURL: t.url, maxRetries: 0 }).messages.create({ model: 'claude-sonnet-4-5', max_tokens: 20, messages: [{ role: 'user', content: 'hello' }] });
  await chat(bob.key, 'gpt-4o');
  await chat(stranger.key, 'gpt-4.1');
  await t.events(() => true, 5);
});
after(async () => { await t.close(); });

const usage = (key: string, query = '', headers: Record<string, string> = {}) =>
  fetch(`${t.url}/v1/warden/usage${query}`, { headers: { authorization: `Bearer ${key}`, ...headers } });

test('a customer\'s key reads its account\'s requests and tokens by day and model, and nobody else\'s', async () => {
  const r = await usage(alice.key);
  assert.equal(r.status, 200, await r.clone().text());
  assert.ok(r.headers.get('x-warden-request-id'), 'a request id');
  const body = (await r.json()) as any;
  assert.equal(body.account_id, alice.id);
  assert.equal(body.usage.org, null, 'no organisation view without the usage:read:org scope');
  const rows = body.usage.account.data as any[];
  const today = new Date().toISOString().slice(0, 10);
  assert.deepEqual(rows.map((d) => [d.date, d.model, d.requests]).sort(), [[today, 'claude-sonnet-4-5', 1], [today, 'gpt-4o-mini', 2]], `alice's own rows only: ${JSON.stringify(rows)}`);
  const events = await t.events((e) => e.account_id === alice.id, 3);
  const sum = (k: 'input_tokens' | 'output_tokens') => events.reduce((s, e) => s + (e.response[k] ?? 0), 0);
  assert.equal(body.usage.account.totals.requests, 3);
  assert.equal(body.usage.account.totals.input_tokens, sum('input_tokens'), 'input tokens as recorded');
  assert.equal(body.usage.account.totals.output_tokens, sum('output_tokens'), 'output tokens as recorded');
  assert.ok(body.usage.account.totals.output_tokens > 0);
  for (const k of ['reasoning_tokens', 'cached_input_tokens', 'cache_write_tokens', 'refused', 'errors']) assert.equal(typeof body.usage.account.totals[k], 'number', `${k} is given`);
});

test('the limits are the key\'s and account\'s meters as they stand, read without charging, with nothing of the detector or the network', async () => {
  const read = async () => ((await (await usage(alice.key)).json()) as any).limits;
  const first = await read();
  const rpm = first.meters.find((m: any) => m.scope === 'account' && m.meter === 'rpm');
  assert.ok(rpm, `the account's request rate: ${JSON.stringify(first.meters)}`);
  assert.equal(rpm.limit, 1);
  assert.equal(rpm.used, 3, 'three requests taken of the burst of 10');
  assert.equal(rpm.remaining, 7);
  assert.ok(Date.parse(rpm.resets_at) > Date.now(), 'when it is full again');
  const again = (await read()).meters.find((m: any) => m.scope === 'account' && m.meter === 'rpm');
  assert.equal(again.used, 3, 'reading the usage charges no request');
  const scopes = new Set(first.meters.map((m: any) => m.scope));
  assert.ok([...scopes].every((s) => s === 'key' || s === 'account'), `only key and account meters (no org without the scope, no ip/subnet/asn/cluster): ${[...scopes]}`);
  const text = JSON.stringify(first);
  for (const word of ['verdict', 'cluster', 'multiplier', 'subnet', 'explanation']) assert.ok(!text.includes(word), `no ${word} in a customer's view`);
});

test('a key with usage:read:org reads its organisation\'s usage and meters too; a usage:read key reads but cannot call models', async () => {
  const body = (await (await usage(bobOrgKey)).json()) as any;
  assert.equal(body.account_id, bob.id);
  assert.equal(body.org_id, org);
  assert.equal(body.usage.account.totals.requests, 1, 'bob\'s own');
  assert.equal(body.usage.org.totals.requests, 4, 'alice\'s and bob\'s, not the stranger\'s');
  assert.ok(!body.usage.org.data.some((d: any) => d.model === 'gpt-4.1'), 'nothing of an account outside the organisation');

  const own = await usage(aliceUsageKey);
  assert.equal(own.status, 200);
  assert.equal(((await own.json()) as any).usage.account.totals.requests, 3);
  const refused = await fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${aliceUsageKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }) });
  assert.equal(refused.status, 403, 'a usage:read key runs no model');
  await refused.arrayBuffer();
});

test('the official SDKs read it at the base URL they already have', async () => {
  const openai = new OpenAI({ apiKey: stranger.key, baseURL: `${t.url}/v1`, maxRetries: 0 });
  const viaOpenAI = (await openai.get('/warden/usage')) as any;
  assert.equal(viaOpenAI.usage.account.data[0].model, 'gpt-4.1');
  const anthropic = new Anthropic({ apiKey: stranger.key, baseURL: t.url, maxRetries: 0 });
  const viaAnthropic = (await anthropic.get('/v1/warden/usage', { query: { from: new Date().toISOString().slice(0, 10) } })) as any;
  assert.equal(viaAnthropic.usage.account.totals.requests, 1);
});

test('errors in the caller\'s wire format: a window too long, an unknown parameter, no key', async () => {
  const long = await usage(stranger.key, '?from=2026-01-01&to=2026-03-01');
  assert.equal(long.status, 400);
  const lb = (await long.json()) as any;
  assert.equal(lb.error.warden_code, 'WARDEN_INVALID_REQUEST');
  assert.equal(lb.error.type, 'invalid_request_error');
  assert.match(lb.error.message, /31 days/);
  const anthropic = await fetch(`${t.url}/v1/warden/usage?acount=x`, { headers: { 'x-api-key': stranger.key, 'anthropic-version': '2023-06-01' } });
  assert.equal(anthropic.status, 400);
  const ab = (await anthropic.json()) as any;
  assert.equal(ab.type, 'error', 'Anthropic\'s error format');
  assert.match(ab.error.message, /acount/);
  const none = await fetch(`${t.url}/v1/warden/usage`);
  assert.equal(none.status, 401);
  assert.equal(((await none.json()) as any).error.warden_code, 'WARDEN_MISSING_API_KEY');
});

test('the route has a rate of its own per key (limits.usage_view.requests_per_minute)', async () => {
  const key = (await t.admin(`/accounts/${stranger.id}/keys`, { name: 'poller' })).secret as string;
  const statuses: number[] = [];
  let limited: Response | null = null;
  for (let i = 0; i < 12; i++) {
    const r = await usage(key);
    statuses.push(r.status);
    if (r.status === 429 && !limited) limited = r; else await r.arrayBuffer();
  }
  assert.ok(limited, `a poller past 20 a minute (bursts of 10) is refused: ${statuses}`);
  assert.ok(Number(limited!.headers.get('retry-after')) >= 1, 'with retry-after');
  assert.equal(((await limited!.json()) as any).error.warden_code, 'WARDEN_RATE_LIMITED');
  const other = await usage(alice.key);
  assert.equal(other.status, 200, 'another key is not held back');
  await other.arrayBuffer();
});

test('an account its verdict suspends is refused as on the model routes, and learns nothing from the view', async () => {
  const suspect = (await t.admin('/accounts', { name: 'suspect', email: 'suspect@example.org', tier: 'email_verified' })).id as string;
  const key = (await t.admin(`/accounts/${suspect}/keys`, { name: 'k' })).secret as string;
  const before = await usage(key);
  assert.equal(before.status, 200);
  await before.arrayBuffer();
  await t.admin('/detect/verdicts', { kind: 'account', id: suspect, level: 'suspend', note: 'test' });
  const after = await usage(key);
  assert.equal(after.status, 403);
  const body = (await after.json()) as any;
  assert.equal(body.error.warden_code, 'WARDEN_ACCOUNT_SUSPENDED');
  assert.ok(!('usage' in body) && !('limits' in body), 'no usage or limits with the refusal');
});
