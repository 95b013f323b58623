// Message batches through a running Warden, read with the official Anthropic SDK: each request runs
// as a governed interaction of the key that sent the batch (recorded, limited, shaped), results come
// back as JSONL, other customers see nothing of it, and bad batches get Anthropic error JSON.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { BatchCredentials } from './credentials.ts';
import { SqliteIdentityStore } from '../identity/index.ts';
import { openSqlite } from '../store/index.ts';
import { TEST_ADMIN_TOKEN as TOKEN, type TestWarden } from '../../test/helpers/warden.ts';
import { startBatchWarden, untilSettled } from '../../test/helpers/batches.ts';

const { t, alice, bob, paced } = await startBatchWarden();
const w = t.w;
after(async () => { await t.close(); });
const events: TestWarden['events'] = (keep, n, ms) => t.events(keep, n, ms);

const sdk = (key: string) => new Anthropic({ apiKey: key, baseURL: w.url, maxRetries: 0 });
const ask = (id: string, content: string, extra: object = {}) => ({ custom_id: id, params: { model: 'claude-sonnet-5', max_tokens: 40, messages: [{ role: 'user' as const, content }], ...extra } });

async function untilEnded(client: Anthropic, id: string, ms = 20_000) {
  return untilSettled(() => client.messages.batches.retrieve(id), (b) => b.processing_status === 'ended', (b) => `batch ${id} not ended: ${JSON.stringify(b.request_counts)}`, ms);
}


test('a batch runs each request through the pipeline as its key; results read back with the SDK', async () => {
  const client = sdk(alice);
  const created = await client.messages.batches.create({
    requests: [ask('first', 'Name three rivers.'), ask('second', 'Name three mountains.'), { custom_id: 'broken', params: { model: 'claude-sonnet-5', messages: [{ role: 'user', content: 'no max_tokens' }] } as never }],
  });
  assert.match(created.id, /^msgbatch_/);
  assert.equal(created.type, 'message_batch');
  assert.equal(created.results_url, null);
  const ended = await untilEnded(client, created.id);
  assert.deepEqual(ended.request_counts, { processing: 0, succeeded: 2, errored: 1, canceled: 0, expired: 0 });
  assert.ok(ended.ended_at && ended.results_url);

  const results = new Map<string, any>();
  for await (const line of await client.messages.batches.results(created.id)) results.set(line.custom_id, line.result);
  assert.equal(results.get('first').type, 'succeeded');
  assert.equal(results.get('first').message.type, 'message');
  assert.ok(results.get('second').message.content[0].text.length > 0);
  assert.equal(results.get('broken').type, 'errored');
  assert.equal(results.get('broken').error.error.type, 'invalid_request_error');
  assert.equal(results.get('broken').error.error.message, 'max_tokens: Field required');

  // Each request is an interaction of Alice's account, from the address that sent the batch, with its answer's id.
  const mine = await events((e) => e.account_id !== null && results.get('first').message.id === e.response.answer_id);
  assert.equal(mine.length, 1);
  assert.equal(mine[0].client.ip, '127.0.0.1');
  assert.equal(mine[0].client.batch_id, created.id, 'marked as run by Warden for the batch');
  assert.equal(mine[0].flavour, 'anthropic.messages');
  assert.match(mine[0].client.user_agent ?? '', /Anthropic\/JS/);

  // Listed for Alice; unseen by Bob, whose every request reads as for a batch that does not exist.
  const listed = [];
  for await (const b of client.messages.batches.list()) listed.push(b.id);
  assert.ok(listed.includes(created.id));
  const other = sdk(bob);
  const bobs = [];
  for await (const b of other.messages.batches.list()) bobs.push(b.id);
  assert.deepEqual(bobs, []);
  for (const call of [() => other.messages.batches.retrieve(created.id), () => other.messages.batches.results(created.id), () => other.messages.batches.cancel(created.id), () => other.messages.batches.delete(created.id)]) {
    await assert.rejects(call(), (e: any) => e.status === 404 && e.error.error.type === 'not_found_error');
  }
  const deleted = await client.messages.batches.delete(created.id);
  assert.deepEqual(deleted, { id: created.id, type: 'message_batch_deleted' });
  await assert.rejects(client.messages.batches.retrieve(created.id), (e: any) => e.status === 404);
});

test('a batch beyond the account\'s burst is paced by its rate limit, and every request still succeeds', async () => {
  const client = sdk(paced);
  const requests = Array.from({ length: 18 }, (_, i) => ask(`q${i}`, `Question number ${i}?`));
  const started = Date.now();
  const created = await client.messages.batches.create({ requests });
  const ended = await untilEnded(client, created.id, 30_000);
  assert.deepEqual(ended.request_counts, { processing: 0, succeeded: 18, errored: 0, canceled: 0, expired: 0 });
  assert.ok(Date.now() - started >= 1500, 'requests past the burst waited for the limit');
  const refused = await events((e) => e.response.error_code === 'WARDEN_RATE_LIMITED');
  assert.ok(refused.length >= 1, 'the limit refused some attempts, which were tried again');
  const metrics = await (await fetch(`${w.url}/metrics`)).text();
  assert.ok(Number(/^warden_batch_requests_total\{outcome="retried"\} (\d+)$/m.exec(metrics)?.[1]) >= refused.length, 'each wait is counted');
  assert.match(metrics, /^warden_batch_requests_total\{outcome="succeeded"\} \d+$/m);
});

test('cancelling: what has not run is canceled, and the batch ends', async () => {
  const client = sdk(alice);
  const created = await client.messages.batches.create({ requests: Array.from({ length: 40 }, (_, i) => ask(`c${i}`, `Item ${i}`)) });
  // 40 waiting: 40 more would pass the account's queue of 60 (batches.max_queued_per_account)
  await assert.rejects(client.messages.batches.create({ requests: Array.from({ length: 40 }, (_, i) => ask(`d${i}`, `Item ${i}`)) }),
    (e: any) => e.status === 429 && e.error.error.type === 'rate_limit_error' && /waiting to run/.test(e.error.error.message));
  const canceling = await client.messages.batches.cancel(created.id);
  assert.ok(canceling.processing_status === 'canceling' || canceling.processing_status === 'ended');
  assert.ok(canceling.cancel_initiated_at);
  const ended = await untilEnded(client, created.id);
  assert.ok(ended.request_counts.canceled >= 30, JSON.stringify(ended.request_counts));
  assert.equal(ended.request_counts.canceled + ended.request_counts.succeeded, 40);
  const types = new Set<string>();
  for await (const line of await client.messages.batches.results(created.id)) types.add(line.result.type);
  assert.ok(types.has('canceled'));
  // nothing waits any more: a new batch is taken
  const next = await client.messages.batches.create({ requests: [ask('after', 'x')] });
  await untilEnded(client, next.id);
});

test('bad batches are refused whole, in Anthropic error JSON', async () => {
  const post = async (body: unknown, key: string | null = alice) => {
    const r = await fetch(`${w.url}/v1/messages/batches`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...(key ? { 'x-api-key': key } : {}) }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: r.status, body: await r.json() as any };
  };
  const cases: [unknown, string | null, number, RegExp][] = [
    [{ requests: [] }, alice, 400, /at least 1/],
    [{}, alice, 400, /requests: Field required/],
    [{ requests: [ask('a', 'x'), ask('a', 'y')] }, alice, 400, /used by another request/],
    [{ requests: [ask('has space', 'x')] }, alice, 400, /custom_id/],
    [{ requests: [ask('s', 'x', { stream: true })] }, alice, 400, /do not stream/],
    [{ requests: Array.from({ length: 51 }, (_, i) => ask(`n${i}`, 'x')) }, alice, 400, /at most 50 requests/],
    ['{"requests": [', alice, 400, /not valid JSON/],
    [{ requests: [ask('a', 'x')] }, null, 401, /Missing API key/],
    [{ requests: [ask('a', 'x')] }, 'wk_live_not_a_real_key_00000000000000', 401, /./],
    [{ requests: [ask('big', 'x'.repeat(250_000))] }, alice, 413, /larger than the configured limit/],
  ];
  for (const [body, key, status, message] of cases) {
    const r = await post(body, key);
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.type, 'error');
    assert.match(r.body.error.message, message);
  }
  const unfinished = await sdk(alice).messages.batches.create({ requests: [ask('u', 'x')] });
  // results and deletion wait for the end; an unknown id is a 404
  await untilEnded(sdk(alice), unfinished.id);
  await assert.rejects(sdk(alice).messages.batches.retrieve('msgbatch_nope'), (e: any) => e.status === 404);
});

/** An identity store in its own SQLite file with one key, and batch credentials over it; removed after `run`. */
async function withBatchIdentity(run: (s: {
  identity: SqliteIdentityStore; org: { id: string }; account: { id: string }; key: { id: string };
  credentials: BatchCredentials; auth: ReturnType<BatchCredentials['authenticator']>;
}) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-batch-credentials-'));
  const db = openSqlite(join(dir, 'ids.db'));
  const identity = new SqliteIdentityStore(db, { fingerprintSecret: 'x' });
  try {
    const org = await identity.createOrg({ name: 'o', tier: 'email_verified' });
    const account = await identity.createAccount({ org_id: org.id, name: 'a', email: 'a@example.org', tier: 'email_verified' });
    const { key } = await identity.createKey(account.id, { name: 'k' });
    const credentials = new BatchCredentials(identity);
    const auth = credentials.authenticator({ authenticate: () => { throw new Error('not a batch credential'); } });
    await run({ identity, org, account, key, credentials, auth });
  } finally { await identity.close(); db.close(); rmSync(dir, { recursive: true, force: true }); }
}

test('the one-use credential: accepted once, refused again, and refused once the key is revoked', async () => {
  await withBatchIdentity(async ({ identity, org, account, key, credentials, auth }) => {
    const c = credentials.issue({ batchId: 'msgbatch_1', keyId: key.id, accountId: account.id, orgId: org.id });
    const ctx = await auth.authenticate(c);
    assert.equal(ctx.account.id, account.id);
    assert.equal(credentials.batchOf(ctx), 'msgbatch_1', 'the request is known to run for its batch');
    await assert.rejects(async () => auth.authenticate(c), (e: any) => e.code === 'WARDEN_INVALID_API_KEY');
    await identity.revokeKey(key.id);
    // a new credential for the same key: the cached context is re-checked against the revocation time
    const fresh = new BatchCredentials(identity);
    await assert.rejects(async () => fresh.authenticator({ authenticate: () => { throw new Error('x'); } }).authenticate(fresh.issue({ batchId: 'msgbatch_1', keyId: key.id, accountId: account.id, orgId: org.id })), (e: any) => e.code === 'WARDEN_REVOKED_API_KEY');
    await assert.rejects(async () => auth.authenticate('wk_live_other'), /not a batch credential/);
  });
});

test('a batch\'s remaining requests see a suspension, reactivation or tier change made on this node at once', async () => {
  await withBatchIdentity(async ({ identity, org, account, key, credentials, auth }) => {
    const next = async () => auth.authenticate(credentials.issue({ batchId: 'msgbatch_1', keyId: key.id, accountId: account.id, orgId: org.id }));
    assert.equal((await next()).account.status, 'active', 'the batch\'s first request runs');
    await identity.setAccountStatus(account.id, 'suspended', { by: 'admin-api', reason: 'fleet' });
    await assert.rejects(next(), (e: any) => e.code === 'WARDEN_ACCOUNT_SUSPENDED', 'the next request after the suspension is refused, not served from a cached context');
    await identity.setAccountStatus(account.id, 'active', { by: 'admin-api', reason: 'appeal upheld' });
    assert.equal((await next()).account.status, 'active', 'a reactivated account\'s batch runs again at once');
    await identity.setOrgTier(org.id, 'identity_verified', { by: 'admin-api', reason: 'documents checked' });
    assert.equal((await next()).tier, 'identity_verified', 'a tier change applies to the next request');
    await identity.revokeKey(key.id);
    await assert.rejects(next(), (e: any) => e.code === 'WARDEN_REVOKED_API_KEY', 'a revoked key\'s batch stops at once');
    credentials.close();
  });
});

test('operators see every customer\'s batches with who sent them, and cancel one (admin API and CLI)', async () => {
  const { runBatchesCli } = await import('../cli/batches-cmd.ts');
  const created = await sdk(bob).messages.batches.create({ requests: Array.from({ length: 30 }, (_, i) => ask(`b${i}`, `Bob's item ${i}`)) });
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t), env: { WARDEN_ADMIN_URL: w.url, WARDEN_ADMIN_TOKEN: TOKEN } };
  assert.equal(await runBatchesCli(['cancel', created.id], io), 0, err.join('\n'));
  assert.match(out.join('\n'), new RegExp(`${created.id}: (canceling|ended)`));
  const ended = await untilEnded(sdk(bob), created.id);
  assert.ok(ended.request_counts.canceled > 0, JSON.stringify(ended.request_counts));

  const list = await (await fetch(`${w.url}/admin/batches?status=ended`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as any;
  const mine = list.data.find((b: any) => b.id === created.id);
  assert.ok(mine, 'listed');
  assert.equal(mine.client_ip, '127.0.0.1');
  assert.match(mine.user_agent, /Anthropic\/JS/);
  const bobsAccount = mine.account_id;
  const onlyBob = await (await fetch(`${w.url}/admin/batches?account=${bobsAccount}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as any;
  assert.ok(onlyBob.data.length >= 1 && onlyBob.data.every((b: any) => b.account_id === bobsAccount));
  out.length = 0;
  assert.equal(await runBatchesCli(['list', '--account', bobsAccount], io), 0, err.join('\n'));
  assert.match(out.join('\n'), new RegExp(created.id));
  // bad filters and unknown ids are refused; the admin token is required
  assert.equal((await fetch(`${w.url}/admin/batches?status=nope`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 400);
  assert.equal((await fetch(`${w.url}/admin/batches/msgbatch_nope/cancel`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })).status, 404);
  assert.equal((await fetch(`${w.url}/admin/batches`)).status, 401);
});
