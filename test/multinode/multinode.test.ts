// Multi-node mode for real: two gateway processes sharing PostgreSQL (identity, events) and Redis
// (limits, the detector). A key created through one node's admin API works on the other; the
// account's rate limit holds across both nodes together; both nodes' events land in one store;
// node A runs the detector for both (detect.mode worker), node B enforces its verdicts (replica).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startChild, type ChildServer } from '../../bench/lib.ts';
import { exchangeValue, keyedHash } from '../../src/detect/index.ts';
import { createMockUpstream, type MockUpstream } from '../../src/mock/index.ts';

const PG = process.env.WARDEN_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS = process.env.WARDEN_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const schema = `mn_${randomBytes(4).toString('hex')}`;
const token = `adm_${randomBytes(16).toString('hex')}`;
const nodes: ChildServer[] = [];
const SHARING_KEY = 'multinode-test-sharing-key';
const admin = new pg.Client({ connectionString: PG });
// One upstream for both nodes, as a provider is one API: a response stored through one node is there for the other.
let upstream: MockUpstream;

before(async () => {
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  upstream = await createMockUpstream({ host: '127.0.0.1', port: 0, latencyMs: 0, tokensPerSecond: 0 });
  const config = {
    server: { port: 0 },
    store: { driver: 'postgres', postgres_url: `${PG}?options=${encodeURIComponent(`-c search_path=${schema}`)}` },
    redis: { url: REDIS },
    admin: { token },
    log: { level: 'silent' },
    upstreams: [{ name: 'provider', base_url: upstream.url, api_key: null, models: ['*'] }],
    ledger: { enabled: false },
    limits: { backend: 'redis', redis: { key_prefix: `warden:test:${schema}:` }, tiers: { email_verified: { account: { rpm: 6, burst: 4 } } } },
    cases: { sharing_key: SHARING_KEY },
  };
  const script = new URL('./node.ts', import.meta.url).pathname;
  const detect = (mode: string) => ({ mode, shared: { key_prefix: `warden:test:${schema}:detect:`, publish_ms: 200 } });
  for (const mode of ['worker', 'replica']) nodes.push(await startChild(script, [JSON.stringify({ ...config, detect: detect(mode) })]));
});

after(async () => {
  // Each node closes its connections before it exits: the schema is dropped once they have (bounded, should one hang).
  const exited = nodes.map((n) => (n.proc.exitCode !== null || n.proc.signalCode !== null ? Promise.resolve() : new Promise((r) => n.proc.once('exit', r))));
  for (const n of nodes) n.proc.kill('SIGTERM');
  await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 5000))]);
  await admin.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => {});
  await admin.end();
  await upstream.close();
});

async function adminPost(url: string, path: string, body: object) {
  const r = await fetch(`${url}/admin${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.ok(r.status < 300, `${path}: ${r.status} ${await r.clone().text()}`);
  return (await r.json()) as any;
}

/**
 * The account's events in the shared store, once `expected` are there (each node writes its events
 * off the request path, a batch at a time) and a moment after, so that one written twice would show.
 */
async function storedEventCount(accountId: string, expected: number): Promise<number> {
  const count = async () => (await admin.query(`SELECT COUNT(*)::int AS n FROM ${schema}.events WHERE account_id = $1`, [accountId])).rows[0].n as number;
  for (const deadline = Date.now() + 5000; (await count()) < expected && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 300));
  return count();
}

test('two nodes share identity, limits and events', async () => {
  const [a, b] = nodes;
  const account = await adminPost(a.url, '/accounts', { name: 'multi', email: 'm@example.org', tier: 'email_verified' });
  const created = await adminPost(a.url, `/accounts/${account.id}/keys`, { name: 'k' });
  const secret: string = created.secret;
  assert.ok(secret);

  const call = (url: string) => fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
  }).then(async (r) => { await r.arrayBuffer(); return r.status; });

  // 10 requests alternating between nodes: the shared burst of 4 admits 4 in total (plus at most
  // one token refilled at 6 rpm during the test), wherever they land.
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) statuses.push(await call(i % 2 === 0 ? a.url : b.url));
  const admitted = statuses.filter((s) => s === 200).length;
  assert.ok(admitted >= 4 && admitted <= 5, `admitted ${admitted} of 10: ${statuses}`);
  assert.ok(statuses.slice(0, 4).every((s) => s === 200), 'the first four are within the burst');
  assert.ok(statuses.filter((s) => s === 429).length >= 5);

  // both nodes' events are in the shared store
  assert.equal(await storedEventCount(account.id, 10), 10, 'all ten interactions recorded, from both nodes');

  // revoking on node B is honoured by node A (PostgreSQL NOTIFY, or the short cache TTL at worst)
  await adminPost(b.url, `/keys/${created.key.id}/revoke`, {});
  let status = 0;
  const until = Date.now() + 7000;
  while (Date.now() < until) {
    const r = await fetch(`${a.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } });
    status = r.status;
    await r.arrayBuffer();
    if (status === 401) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, 401);
});

test('each node serves how far its clock is from the database\'s (the same machine here: within a second)', async () => {
  for (const node of nodes) {
    let offset = Number.NaN;
    for (const deadline = Date.now() + 10_000; Number.isNaN(offset) && Date.now() < deadline;) {
      const line = (await (await fetch(`${node.url}/metrics`)).text()).split('\n').find((l) => l.startsWith('warden_clock_offset_seconds '));
      offset = Number(line?.split(' ')[1] ?? Number.NaN);
      if (Number.isNaN(offset)) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(Math.abs(offset) < 1, `${node.url}: warden_clock_offset_seconds ${offset}`);
  }
});

test('one detector for both nodes: the worker learns from the replica\'s traffic, the replica enforces the worker\'s verdicts', async () => {
  const [worker, replica] = nodes;
  const account = await adminPost(worker.url, '/accounts', { name: 'shared-detector', email: 'sd@example.org', tier: 'email_verified' });
  const { secret } = await adminPost(worker.url, `/accounts/${account.id}/keys`, { name: 'k' });
  const call = async (url: string) => {
    const r = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }),
    });
    return { status: r.status, body: await r.text() };
  };
  const metric = async (url: string, name: string) => Number(/^(\S+) (\d+)$/m.exec((await (await fetch(`${url}/metrics`)).text()).split('\n').filter((l) => l.startsWith(`${name} `)).join('\n'))?.[2] ?? NaN);
  const eventually = async (what: string, ok: () => Promise<boolean>, ms = 5000) => {
    const end = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  // The replica's interaction reaches the worker's detector through the stream.
  assert.equal((await call(replica.url)).status, 200);
  await eventually('the worker reads the replica\'s event', async () => await metric(worker.url, 'warden_detect_stream_events_total') >= 1);
  assert.ok(await metric(replica.url, 'warden_detect_stream_events_total') >= 1);
  assert.equal(await metric(replica.url, 'warden_detect_stream_dropped_total'), 0);
  const elsewhere = await fetch(`${replica.url}/admin/detect/verdicts`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(elsewhere.status, 421, 'the detector\'s admin API is on the worker');
  assert.match(((await elsewhere.json()) as any).error.message, /this node is a detector replica .* served by the detector worker node \(host .+, pid \d+\)/);

  // A verdict reached on the worker (here an operator's) is enforced by the replica within moments.
  await adminPost(worker.url, '/detect/verdicts', { kind: 'account', id: account.id, level: 'suspend', note: 'multi-node test' });
  let refused = { status: 0, body: '' };
  await eventually('the replica refuses the suspended account', async () => { refused = await call(replica.url); return refused.status === 403; });
  assert.match(refused.body, /WARDEN_ACCOUNT_SUSPENDED/);
  const del = await fetch(`${worker.url}/admin/detect/verdicts?kind=account&id=${account.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
  assert.equal(del.status, 204);
  await eventually('the replica lifts the suspension', async () => (await call(replica.url)).status !== 403);
});

test('indicators imported on the worker hold matching accounts on the replica too', async () => {
  const [worker, replica] = nodes;
  const prompt = 'You are HarvestBot. Show every step of your reasoning.';
  const account = await adminPost(worker.url, '/accounts', { name: 'intel-matched', email: 'im@example.org', tier: 'email_verified' });
  const { secret } = await adminPost(worker.url, `/accounts/${account.id}/keys`, { name: 'k' });
  const bundle = {
    type: 'bundle', id: 'bundle--6d0f0f0f-0000-4000-8000-000000000000',
    objects: [{
      type: 'indicator', spec_version: '2.1', id: 'indicator--6d0f0f0f-0000-4000-8000-000000000001', pattern_type: 'stix', valid_from: '2026-03-01T00:00:00Z',
      pattern: `[x-warden-keyed-hash:kind = 'system_prompt' AND x-warden-keyed-hash:hmac = '${keyedHash(SHARING_KEY, 'system_prompt', exchangeValue('system_prompt', prompt)!)}']`,
    }],
  };
  const imported = await fetch(`${worker.url}/admin/intel/import?level=suspend&source=partner`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(bundle) });
  assert.equal(imported.status, 201, await imported.clone().text());
  const call = async () => {
    const r = await fetch(`${replica.url}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: prompt }, { role: 'user', content: 'hi' }], max_tokens: 5 }),
    });
    return r.status;
  };
  assert.equal(await call(), 200, 'served until the worker has seen it');
  const end = Date.now() + 10_000;
  let status = 200;
  while (status !== 403 && Date.now() < end) { await new Promise((r) => setTimeout(r, 200)); status = await call(); }
  assert.equal(status, 403, 'the replica refuses the account the worker matched');
  const seen = await (await fetch(`${worker.url}/admin/detect/accounts/${account.id}`, { headers: { authorization: `Bearer ${token}` } })).json() as any;
  assert.equal(seen.level, 'suspend');
  assert.equal(seen.verdict.reasons[0].signal, 'shared_indicator');
});

test('partners reach TAXII on the worker, with a key created on either node; the replica serves none', async () => {
  const [worker, replica] = nodes;
  const org = await adminPost(replica.url, '/orgs', { name: 'Partner Provider' });
  const account = await adminPost(replica.url, '/accounts', { org_id: org.id, name: 'intel desk' });
  const { secret } = await adminPost(replica.url, `/accounts/${account.id}/keys`, { scopes: ['intel:read', 'intel:write'] });
  const taxii = (url: string, path: string, init: RequestInit = {}) => fetch(`${url}/taxii2${path}`, { ...init, headers: { authorization: `Bearer ${secret}`, accept: 'application/taxii+json;version=2.1', ...(init.body ? { 'content-type': 'application/taxii+json;version=2.1' } : {}) } });
  const cols = (await (await taxii(worker.url, '/intel/collections/')).json() as any).collections;
  assert.deepEqual(cols.map((c: any) => c.title.split(': ')[1]), ['distillation campaign indicators', 'sightings of your indicators', 'inbox']);
  const posted = await taxii(worker.url, `/intel/collections/${cols[2].id}/objects/`, { method: 'POST', body: JSON.stringify({ objects: [{
    type: 'indicator', spec_version: '2.1', id: 'indicator--6e0f0f0f-0000-4000-8000-000000000001', pattern_type: 'stix', valid_from: '2026-03-01T00:00:00Z',
    pattern: `[x-warden-keyed-hash:kind = 'user_agent' AND x-warden-keyed-hash:hmac = '${keyedHash(SHARING_KEY, 'user_agent', exchangeValue('user_agent', 'fleet-client/9.9')!)}']`,
  }] }) });
  assert.equal(posted.status, 202, await posted.clone().text());
  const intel = await (await fetch(`${worker.url}/admin/intel`, { headers: { authorization: `Bearer ${token}` } })).json() as any;
  assert.ok(intel.indicators.some((i: any) => i.id === 'indicator--6e0f0f0f-0000-4000-8000-000000000001' && i.source === 'Partner Provider'), 'stored in PostgreSQL and matched, under the partner\'s name');
  assert.equal((await taxii(replica.url, '/')).status, 404, 'the replica holds no cases and serves no TAXII');
});

test('a response stored through one node is continued through the other at once, and by nobody else', async () => {
  const [worker, replica] = nodes;
  const keyFor = async (name: string) => {
    const account = await adminPost(worker.url, '/accounts', { name, email: `${name}@example.org`, tier: 'identity_verified' });
    return (await adminPost(worker.url, `/accounts/${account.id}/keys`, { name: 'k' })).secret as string;
  };
  const [alice, bob] = [await keyFor('alice'), await keyFor('bob')];
  const respond = async (url: string, key: string, body: object) => {
    const r = await fetch(`${url}/v1/responses`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', max_output_tokens: 16, ...body }) });
    return { status: r.status, body: (await r.json()) as any };
  };
  const first = await respond(replica.url, alice, { input: 'Remember: heliotrope.' });
  assert.equal(first.status, 200);
  // straight to the other node, before the replica's batch of owners is written
  const next = await respond(worker.url, alice, { input: 'Which word?', previous_response_id: first.body.id });
  assert.equal(next.status, 200, JSON.stringify(next.body));
  const stolen = await respond(worker.url, bob, { input: 'Repeat it all.', previous_response_id: first.body.id });
  assert.equal(stolen.status, 400);
  assert.equal(stolen.body.error.warden_code, 'WARDEN_PREVIOUS_RESPONSE_NOT_FOUND');
  const owners = await admin.query(`SELECT a.name FROM ${schema}.answer_owners o JOIN ${schema}.accounts a ON a.id = o.account_id WHERE o.id = $1`, [first.body.id]);
  assert.deepEqual(owners.rows, [{ name: 'alice' }]);
});

test('a batch sent to one node runs on the nodes sharing its store, each request once, and reads back from either', async () => {
  const [worker, replica] = nodes;
  const account = await adminPost(worker.url, '/accounts', { name: 'batcher', email: 'batcher@example.org', tier: 'identity_verified' });
  const key = (await adminPost(worker.url, `/accounts/${account.id}/keys`, { name: 'k' })).secret as string;
  const headers = { 'x-api-key': key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
  const requests = Array.from({ length: 24 }, (_, i) => ({ custom_id: `r${i}`, params: { model: 'claude-sonnet-5', max_tokens: 8, messages: [{ role: 'user', content: `item ${i}` }] } }));
  const created = await (await fetch(`${replica.url}/v1/messages/batches`, { method: 'POST', headers, body: JSON.stringify({ requests }) })).json() as any;
  assert.equal(created.processing_status, 'in_progress');
  let batch: any = created;
  for (const deadline = Date.now() + 20_000; batch.processing_status !== 'ended' && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 200));
    batch = await (await fetch(`${worker.url}/v1/messages/batches/${created.id}`, { headers })).json();
  }
  assert.deepEqual(batch.request_counts, { processing: 0, succeeded: 24, errored: 0, canceled: 0, expired: 0 });
  const lines = (await (await fetch(`${replica.url}/v1/messages/batches/${created.id}/results`, { headers })).text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.custom_id), requests.map((r) => r.custom_id));
  // each request ran once, as one interaction of the account
  assert.equal(await storedEventCount(account.id, 24), 24);
});

test('a streamed background response made on one node is read as it comes on both, from the shared store', async () => {
  const [worker, replica] = nodes;
  const account = await adminPost(worker.url, '/accounts', { name: 'streamer', email: 'streamer@example.org', tier: 'identity_verified' });
  const key = (await adminPost(worker.url, `/accounts/${account.id}/keys`, { name: 'k' })).secret as string;
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const frames = async (res: Response) => (await res.text()).split('\n\n').filter((f) => f.includes('data: ')).map((f) => JSON.parse(f.slice(f.indexOf('data: ') + 6)) as any);
  const created = await fetch(`${replica.url}/v1/responses`, { method: 'POST', headers, body: JSON.stringify({ model: 'gpt-5', input: 'Explain tides.', background: true, stream: true }) });
  assert.equal(created.status, 200);
  assert.match(created.headers.get('content-type') ?? '', /text\/event-stream/);
  const reader = created.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  const id = JSON.parse(first.slice(first.indexOf('data: ') + 6, first.indexOf('\n\n'))).response.id as string;
  // Whichever node runs it, one of the two readers reads it from the other node's writes.
  const [onWorker, rest] = await Promise.all([
    fetch(`${worker.url}/v1/responses/${id}?stream=true`, { headers }).then(frames),
    (async () => { let text = first; for (let r = await reader.read(); !r.done; r = await reader.read()) text += new TextDecoder().decode(r.value); return frames(new Response(text)); })(),
  ]);
  assert.equal(rest.at(-1).type, 'response.completed', rest.map((e) => e.type).join(' '));
  assert.deepEqual(onWorker.map((e) => e.sequence_number), rest.map((e) => e.sequence_number));
  assert.deepEqual(rest.map((e) => e.sequence_number), rest.map((_, i) => i));
  const stored = await admin.query(`SELECT COUNT(*)::int AS n FROM ${schema}.background_stream_events WHERE response_id = $1`, [id]);
  assert.equal(stored.rows[0].n, rest.length, 'each event kept once');
  const resumed = await fetch(`${worker.url}/v1/responses/${id}?stream=true&starting_after=${rest.length - 3}`, { headers }).then(frames);
  assert.deepEqual(resumed.map((e) => e.sequence_number), [rest.length - 2, rest.length - 1]);
});

test('an OpenAI batch: its file uploaded to one node, the batch made on the other, outputs read from either', async () => {
  const [worker, replica] = nodes;
  const account = await adminPost(worker.url, '/accounts', { name: 'openai-batcher', email: 'openai-batcher@example.org', tier: 'identity_verified' });
  const key = (await adminPost(worker.url, `/accounts/${account.id}/keys`, { name: 'k' })).secret as string;
  const auth = { authorization: `Bearer ${key}` };
  const lines = Array.from({ length: 12 }, (_, i) => JSON.stringify({ custom_id: `o${i}`, method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: `item ${i}` }] } }));
  const form = new FormData();
  form.append('purpose', 'batch');
  form.append('file', new Blob([lines.join('\n')]), 'in.jsonl');
  const file = await (await fetch(`${worker.url}/v1/files`, { method: 'POST', headers: auth, body: form })).json() as any;
  assert.match(file.id, /^file-/, JSON.stringify(file));
  const created = await (await fetch(`${replica.url}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' }) })).json() as any;
  assert.equal(created.status, 'in_progress', JSON.stringify(created));
  let batch: any = created;
  for (const deadline = Date.now() + 20_000; batch.status !== 'completed' && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 200));
    batch = await (await fetch(`${worker.url}/v1/batches/${created.id}`, { headers: auth })).json();
  }
  assert.deepEqual(batch.request_counts, { total: 12, completed: 12, failed: 0 });
  for (const node of [worker, replica]) {
    const out = (await (await fetch(`${node.url}/v1/files/${batch.output_file_id}/content`, { headers: auth })).text()).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(out.map((l) => l.custom_id), lines.map((_, i) => `o${i}`));
    assert.ok(out.every((l) => l.response.status_code === 200));
  }
  assert.equal(await storedEventCount(account.id, 12), 12, 'each request ran once');
});
