// `warden detect` against a running Warden: an operator reads why an account has its verdict,
// sets and clears operator verdicts and allow-list entries; bad usage and bad tokens say why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { startWarden } from '../../src/cli/serve.ts';
import { runDetectCli } from '../../src/cli/detect-cmd.ts';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { startTestWarden, TEST_ADMIN_TOKEN } from '../helpers/warden.ts';

test('warden detect: verdicts, explanations and the allow-list from the command line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-detect-cli-'));
  const w = await startWarden(parseConfig({ server: { port: 0 }, store: { sqlite_path: join(dir, 'warden.db') }, log: { level: 'silent' }, mock: { latency_ms: 0, tokens_per_second: 0 } }), { log: () => {} });
  try {
    // The token comes from the file `warden serve` keeps beside its database, found through the config.
    const env = { ...process.env, WARDEN_STORE__SQLITE_PATH: join(dir, 'warden.db'), WARDEN_ADMIN_URL: w.url, WARDEN_ADMIN_TOKEN: '' };
    const run = async (...argv: string[]) => {
      let out = ''; let err = '';
      const code = await runDetectCli(argv, { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; }, env });
      return { code, out, err };
    };
    const accounts = await (await fetch(`${w.url}/admin/accounts`, { headers: { authorization: `Bearer ${w.adminToken}` } })).json() as { data: Array<{ id: string }> };
    const id = accounts.data[0].id;
    // One interaction, so the detector knows the account.
    const chat = await fetch(`${w.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${w.demoKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] }) });
    assert.equal(chat.status, 200);
    await chat.arrayBuffer();
    for (let t = 0; t < 100 && (await run('account', id)).code !== 0; t++) await new Promise((res) => setTimeout(res, 20));

    let r = await run('verdict', 'set', '--account', id, '--level', 'suspend', '--note', 'card testing');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^account ${id}: suspend \\(operator, since \\d{4}-`));
    r = await run('verdicts');
    assert.match(r.out, /^KIND\s+ID\s+LEVEL\s+SINCE\s+UNTIL\s+BY\s+NOTE$/m);
    assert.match(r.out, new RegExp(`^account\\s+${id}\\s+suspend\\s+\\S+\\s+-\\s+cli:\\S+\\s+card testing$`, 'm'), 'who set it');
    r = await run('account', id);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^${id}: suspend$`, 'm'));
    assert.match(r.out, /^operator_verdict\s+suspend\s+-\s+-\s+card testing$/m, 'the explanation: signal, value, threshold, weight, detail');
    r = await run('account', id, '--json');
    assert.equal(JSON.parse(r.out).verdict.source, 'operator');
    r = await run('verdict', 'clear', '--account', id, '--reason', 'card was the customer\'s own');
    assert.equal(r.code, 0, r.err);
    assert.match((await run('verdicts')).out, /^\(none\)$/m);
    // Who cleared it and why are in the change log, as who set it and why.
    r = await run('changes');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`^\\S+\\s+clear\\s+verdict_account\\s+${id}\\s+suspend\\s+cli:\\S+\\s+card was the customer's own$`, 'm'), 'who cleared it, and why');
    assert.match(r.out, new RegExp(`^\\S+\\s+set\\s+verdict_account\\s+${id}\\s+suspend\\s+cli:\\S+\\s+card testing$`, 'm'), 'who set it, and why');

    // A verdict set for a time lapses by itself.
    r = await run('verdict', 'set', '--account', id, '--level', 'verify', '--for', '2s', '--note', 'pending review');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /, until \d{4}-/);
    assert.equal(JSON.parse((await run('account', id, '--json')).out).level, 'verify');
    await new Promise((res) => setTimeout(res, 2100));
    assert.equal(JSON.parse((await run('account', id, '--json')).out).level, 'none', 'lapsed');
    assert.match((await run('verdicts')).out, /^\(none\)$/m);
    assert.equal((await run('verdict', 'set', '--account', id, '--level', 'verify', '--for', 'soon')).code, 2);

    // Overrides name existing accounts and organisations: a mistyped id is refused, not stored.
    const org = await (await fetch(`${w.url}/admin/orgs`, { method: 'POST', headers: { authorization: `Bearer ${w.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Partner' }) })).json() as { id: string };
    assert.equal((await run('allow', 'add', '--org', org.id, '--note', 'evaluation partner')).code, 0);
    assert.match((await run('allow')).out, new RegExp(`^orgs: ${org.id}$`, 'm'));
    assert.match((await run('allow')).out, new RegExp(`^org ${org.id}: added \\S+ by cli:\\S+: evaluation partner$`, 'm'), 'who added it, and why');
    // Added again for a time: the expiry is kept and said, and so is what an org entry does not cover.
    r = await run('allow', 'add', '--org', org.id, '--note', 'evaluation partner', '--for', '30d');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /allow-listed \(never above none\) until \d{4}-/, `the expiry is said: ${r.out}`);
    assert.match(r.out, /accounts created in or moved into it later are not covered/, `what the entry does not cover is said: ${r.out}`);
    assert.match((await run('allow')).out, new RegExp(`^org ${org.id}: added \\S+ by cli:\\S+, until \\S+: evaluation partner$`, 'm'), 'the listing says until when');
    r = await run('allow', 'remove', '--org', org.id, '--for', '30d');
    assert.equal(r.code, 2, `an option remove does not take is refused, not dropped: ${r.err}`);
    assert.equal((await run('allow', 'remove', '--org', org.id, '--reason', 'contract ended')).code, 0);
    assert.match((await run('allow')).out, /^orgs: -$/m);
    assert.match((await run('changes', '--limit', '1')).out, new RegExp(`^\\S+\\s+clear\\s+allow_org\\s+${org.id}\\s+-\\s+cli:\\S+\\s+contract ended$`, 'm'), 'who removed it, and why');
    // An option naming something that does not exist is bad input (exit 2, docs/admin-api.md).
    r = await run('allow', 'add', '--org', 'org_nope');
    assert.equal(r.code, 2, 'an organisation that does not exist is a usage error');
    assert.match(r.err, /no organisation org_nope .*\(WARDEN_NOT_FOUND\)/);
    r = await run('verdict', 'set', '--account', 'acct_nope', '--level', 'throttle');
    assert.equal(r.code, 2, 'an account that does not exist is a usage error');
    assert.match(r.err, /no account acct_nope .*\(WARDEN_NOT_FOUND\)/);
    assert.match((await run('verdicts')).out, /^\(none\)$/m, 'nothing was stored');
    assert.match((await run('allow')).out, /^orgs: -$/m);
    // Filters are checked: a bad level or limit is a usage error, not an empty list.
    r = await run('clusters', '--level', 'bogus');
    assert.equal(r.code, 2);
    assert.match(r.err, /--level is one of none, watch/);
    assert.equal((await run('clusters', '--limit', 'abc')).code, 2);
    const bogus = await fetch(`${w.url}/admin/detect/clusters?level=bogus`, { headers: { authorization: `Bearer ${w.adminToken}` } });
    assert.equal(bogus.status, 400);
    assert.equal(((await bogus.json()) as { error: { param: string } }).error.param, 'level');
    assert.match((await run('campaigns')).out, /^\(none\)$/m);
    assert.match((await run('clusters')).out, /^\(none\)$/m);
    const stats = JSON.parse((await run('stats', '--json')).out);
    assert.deepEqual([stats.accounts, stats.events, stats.forgotten, stats.evict_idle_hours, stats.operator_verdicts], [1, 1, 0, 336, 0]);
    assert.match((await run('stats')).out, /^accounts\s+1$/m);
    // A snapshot on demand, beside the database.
    r = await run('snapshot');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^snapshot written: .*warden\.db\.detector \(1 accounts, 1 events to \d{4}-.*; \d+ bytes; the event loop held \d+ ms\)$/m);
    assert.ok(statSync(join(dir, 'warden.db.detector')).size > 0);

    // Bad input: usage errors exit 2, refusals from the server exit 1, each saying why.
    r = await run('verdict', 'set', '--account', id);
    assert.equal(r.code, 2);
    assert.match(r.err, /--level is one of none, watch, throttle, shape, verify, suspend/);
    r = await run('verdict', 'set', '--account', id, '--cluster', 'clu_x', '--level', 'watch');
    assert.equal(r.code, 2);
    assert.match(r.err, /exactly one of --account or --cluster/);
    assert.equal((await run('bogus')).code, 2);
    r = await run('account');
    assert.equal(r.code, 2);
    assert.match(r.err, /account: give the account id/);
    assert.equal((await run('account', id, '--frobnicate')).code, 2);
    r = await run('account', 'acct_never_seen');
    assert.equal(r.code, 1);
    assert.match(r.err, /the detector has not seen account acct_never_seen \(WARDEN_NOT_FOUND\)/);
    r = await run('verdicts', '--token', 'wrong-token-wrong-token-wrong');
    assert.equal(r.code, 1);
    assert.match(r.err, /WARDEN_ADMIN_UNAUTHORIZED/);
  } finally {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('warden detect pointed at a detector replica: 421, naming the worker the lease names', async () => {
  const redisUrl = process.env.WARDEN_TEST_REDIS ?? 'redis://127.0.0.1:6379';
  const prefix = `warden:test:replica-admin:${randomBytes(4).toString('hex')}:`;
  const redis = new Redis(redisUrl);
  const replica = await startTestWarden({ redis: { url: redisUrl }, detect: { mode: 'replica', shared: { key_prefix: prefix } } });
  try {
    const run = async (...argv: string[]) => {
      let out = ''; let err = '';
      const code = await runDetectCli([...argv, '--url', replica.url, '--token', TEST_ADMIN_TOKEN], { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; }, env: {} });
      return { code, out, err };
    };
    let r = await run('stats');
    assert.equal(r.code, 1);
    assert.equal(r.err, 'error: this node is a detector replica (detect.mode: replica): the detector, cases and intel admin routes (and account erasure) are served by the detector worker node (none holds the worker lease now: is it running?); call its admin API (e.g. warden detect --url http://<worker>:<port>) (WARDEN_DETECTOR_REPLICA)\n');
    await redis.set(`${prefix}worker`, 'gw-worker-1.internal:4242:0123abcd', 'PX', 60_000);
    r = await run('verdict', 'set', '--account', 'acct_x', '--level', 'suspend');
    assert.equal(r.code, 1);
    assert.match(r.err, /^error: this node is a detector replica \(detect\.mode: replica\): .* served by the detector worker node \(host gw-worker-1\.internal, pid 4242\); call its admin API .*\(WARDEN_DETECTOR_REPLICA\)$/m);
    // A worker that knows its port puts it in the lease: the message then says which URL to call,
    // which host and pid alone do not (two nodes on one host; containers, all pid 1).
    await redis.set(`${prefix}worker`, 'gw-worker-1.internal:4242:0123abcd port=8080', 'PX', 60_000);
    r = await run('stats');
    assert.equal(r.code, 1);
    assert.ok(r.err.includes('served by the detector worker node (host gw-worker-1.internal, pid 4242, port 8080); call its admin API (e.g. warden detect --url http://gw-worker-1.internal:8080)'), `the message names the worker's URL: ${r.err}`);
    // Every route of the worker's, whatever the body's media type; the token is checked first.
    const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    for (const [method, path, type] of [['GET', '/admin/detect/accounts/acct_x', null], ['DELETE', '/admin/detect/verdicts?kind=account&id=acct_x', null], ['GET', '/admin/cases', null], ['POST', '/admin/intel/import', 'application/stix+json'], ['POST', '/admin/accounts/acct_x/erase', 'application/json']] as const) {
      const res = await fetch(`${replica.url}${path}`, { method, headers: { ...auth, ...(type ? { 'content-type': type } : {}) }, body: type ? '{"type":"bundle"}' : undefined });
      assert.equal(res.status, 421, `${method} ${path}`);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'WARDEN_DETECTOR_REPLICA');
    }
    assert.equal((await fetch(`${replica.url}/admin/detect/stats`)).status, 401);
    // The dashboard offers no detector, cases or intel views on this node.
    const features = await (await fetch(`${replica.url}/admin/dashboard/features`, { headers: auth })).json() as any;
    assert.deepEqual([features.detect.routes, features.cases], [[], { list: null, intel: null }]);
    // ... and says where they are, as the 421 does, so that its pages can send the operator there.
    assert.ok(typeof features.detect.replica === 'string' && features.detect.replica.includes('(host gw-worker-1.internal, pid 4242, port 8080)'), `the dashboard is told where the worker is: ${JSON.stringify(features.detect)}`);
    assert.equal((await fetch(`${replica.url}/admin/nothing-here`, { headers: auth })).status, 404, 'other unknown routes are still 404');
  } finally {
    await replica.close();
    const found = await redis.keys(`${prefix}*`);
    if (found.length) await redis.del(...found);
    redis.disconnect();
  }
});
