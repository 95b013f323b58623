// "A customer says they get 429s": the limits of an account explained from its id alone, over real
// HTTP. The account is pushed over one limit (its own requests per minute; its organisation's
// tokens per minute), and the explanation names that scope and meter with its numbers, looked up
// from the account store (tier, organisation) and its latest request (address, model), and counts
// the refusal under the limit that made it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden, TEST_ADMIN_TOKEN, type TestWarden } from '../../test/helpers/warden.ts';
import { runLimitsCli } from '../cli/limits-cmd.ts';

let t: TestWarden;
before(async () => { t = await startTestWarden({ ledger: { enabled: false } }); });
after(async () => { await t.close(); });

const chat = (key: string, maxTokens = 5) => fetch(`${t.url}/v1/chat/completions`, {
  method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: maxTokens }),
});
const get = async (path: string) => {
  const r = await fetch(`${t.url}/admin${path}`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
  return { status: r.status, body: await r.json() as any };
};

test('an account over its own requests per minute: the explanation by account id names the account rpm meter with its numbers, and counts the refusal', async () => {
  const a = await t.account('rpm-customer', 'email_verified');
  await t.admin('/limits/overrides', { scope: 'account', subject: a.id, limits: { rpm: 2, burst: 2 }, note: 'test' });
  assert.equal((await chat(a.key)).status, 200, 'first request served');
  assert.equal((await chat(a.key)).status, 200, 'second request served (burst 2)');
  const refused = await chat(a.key);
  assert.equal(refused.status, 429, 'third request refused by the account limit');
  await t.events((e) => e.account_id === a.id, 3);

  const { status, body: x } = await get(`/limits/accounts/${a.id}`);
  assert.equal(status, 200, JSON.stringify(x));
  assert.equal(x.tier, 'email_verified', 'the tier is looked up from the account store');
  assert.equal(x.ip, '127.0.0.1', `the address is the latest request's: ${x.ip}`);
  assert.equal(x.model, 'gpt-4o-mini', 'the model is the latest request\'s');
  assert.ok(x.from_latest_request?.ip && x.from_latest_request?.model, 'says the address and model came from the latest request');
  assert.ok(x.key && x.key.id.startsWith('key_'), `the account's key is explained: ${JSON.stringify(x.key)}`);
  assert.ok(x.refusing, `a meter would refuse the next request: ${JSON.stringify(x.meters)}`);
  assert.equal(x.refusing.scope, 'account', `the account scope refuses: ${JSON.stringify(x.refusing)}`);
  assert.equal(x.refusing.kind, 'requests', 'its requests meter');
  assert.ok(x.refusing.retry_after_s >= 1 && x.refusing.retry_after_s <= 60, `with a wait: ${x.refusing.retry_after_s}`);
  assert.match(x.refusing.explanation, /rpm=2 burst=2 remaining=0 refused/, 'explained as the event records a refusal');
  const rpm = x.meters.find((m: any) => m.scope === 'account' && m.kind === 'requests');
  assert.deepEqual({ limit: rpm.limit, burst: rpm.burst, capacity: rpm.capacity, used: rpm.used, remaining: rpm.remaining, next: rpm.next_request },
    { limit: 2, burst: 2, capacity: 2, used: 2, remaining: 0, next: 'refused' }, 'the account rpm meter with its numbers');
  assert.ok(rpm.resets_at && Date.parse(rpm.resets_at) > Date.parse(x.read_at), 'it says when it is full again');
  const ip = x.meters.find((m: any) => m.scope === 'ip' && m.kind === 'requests');
  assert.ok(ip && ip.next_request === 'admitted' && ip.subject === '127.0.0.1', 'the address scope is shown and would admit');
  assert.equal(x.refusals.account.last_hour.total, 1, `one refusal counted: ${JSON.stringify(x.refusals.account)}`);
  assert.deepEqual(x.refusals.account.last_hour.by, [{ scope: 'account', kind: 'requests', subject: a.id, model: null, count: 1 }], 'counted under the account rpm limit');
  assert.equal(x.refusals.account.last_day.total, 1, 'and in the last day');

  // The same from the command line: a table for a person, the answer itself with --json.
  const cli = async (...argv: string[]) => {
    let out = ''; let err = '';
    const code = await runLimitsCli([...argv, '--url', t.url, '--token', TEST_ADMIN_TOKEN], { out: (s) => { out += s + '\n'; }, err: (s) => { err += s + '\n'; }, env: {} });
    return { code, out, err };
  };
  const human = await cli('explain', '--account', a.id);
  assert.equal(human.code, 0, human.err);
  assert.match(human.out, new RegExp(`REFUSED: the next request \\(\\d+ tokens\\) would be refused by account ${a.id} rpm: retry after \\d+s`), human.out);
  assert.match(human.out, new RegExp(`account +${a.id} +rpm +2/min burst 2 +2 +0 +\\S+ +REFUSED \\d+s`), `the meter's row: ${human.out}`);
  assert.match(human.out, new RegExp(`refusals of the account's requests: 1 in the last hour[^\\n]*\\n[^\\n]*\\naccount +${a.id} +rpm +1 +1`), human.out);
  const json = await cli('explain', '--account', a.id, '--json');
  assert.equal(json.code, 0, json.err);
  assert.equal(JSON.parse(json.out).refusing.scope, 'account', 'the --json answer is the API\'s');
  const bad = await cli('explain');
  assert.equal(bad.code, 2, 'explain without --account or --key is a usage error');
});

test('an organisation over its tokens per minute: the explanation by key prefix names the org tpm meter, and the org\'s refusals are counted', async () => {
  const org = await t.admin('/orgs', { name: 'Tokens Ltd' });
  const acct = await t.admin('/accounts', { name: 'tok', email: 'tok@tokens.example', tier: 'email_verified', org_id: org.id });
  const key = await t.admin(`/accounts/${acct.id}/keys`, { name: 'k' });
  await t.admin('/limits/overrides', { scope: 'org', subject: org.id, limits: { tpm: 150 } });
  assert.equal((await chat(key.secret, 100)).status, 200, 'a request reserving about 100 tokens is served');
  const refused = await chat(key.secret, 100);
  assert.equal(refused.status, 429, `the next is refused by the organisation's tpm: ${await refused.text()}`);

  const { status, body: x } = await get(`/limits/keys/${key.key.prefix}?tokens=100`);
  assert.equal(status, 200, JSON.stringify(x));
  assert.equal(x.account_id, acct.id, 'the key\'s account');
  assert.equal(x.org_id, org.id, 'its organisation from the account store');
  assert.deepEqual(x.key, { id: key.key.id, prefix: key.key.prefix, status: 'active', chosen: 'given' }, 'the key given');
  assert.equal(x.probe.tokens, 100);
  assert.equal(x.refusing?.scope, 'org', `the org scope refuses: ${JSON.stringify(x.refusing)}`);
  assert.equal(x.refusing.kind, 'tokens_per_minute');
  const tpm = x.meters.find((m: any) => m.scope === 'org' && m.kind === 'tokens_per_minute');
  assert.equal(tpm.limit, 150, 'the limit in force');
  assert.ok(tpm.used > 50 && tpm.used <= 150 && tpm.remaining === 150 - tpm.used && tpm.remaining < 100, `used and left: ${JSON.stringify(tpm)}`);

  // A small request still fits: asked with fewer tokens, nothing refuses.
  const small = (await get(`/limits/accounts/${acct.id}?tokens=1`)).body;
  assert.equal(small.refusing, null, `a 1-token request would be admitted: ${JSON.stringify(small.refusing)}`);
  assert.ok(small.tightest, 'and the meter with least room is named');

  const orgRefusals = await get(`/limits/orgs/${org.id}/refusals`);
  assert.equal(orgRefusals.status, 200);
  assert.deepEqual(orgRefusals.body.last_hour.by.map((r: any) => [r.scope, r.kind, r.subject, r.count]), [['org', 'tokens_per_minute', org.id, 1]], JSON.stringify(orgRefusals.body));
  assert.equal(x.refusals.org.last_hour.total, 1, 'the explanation carries the org\'s refusals too');
});

test('unknown accounts and keys, and a key of another account, are 404', async () => {
  assert.equal((await get('/limits/accounts/acct_nobody')).status, 404);
  assert.equal((await get('/limits/keys/wk_live_nothing')).status, 404);
  const a = await t.account('one', 'unverified');
  const b = await t.account('two', 'unverified');
  const keys = await get(`/keys?account_id=${b.id}`);
  const r = await get(`/limits/accounts/${a.id}?key=${keys.body.data[0].id}`);
  assert.equal(r.status, 404, `another account's key: ${JSON.stringify(r.body)}`);
  assert.equal(r.body.error.param, 'key');
});
