// The batch store on SQLite and PostgreSQL: requests are claimed once (even by two nodes at the
// same moment), retried when due, cancelled, expired, paged newest first, and deleted with their results.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from '../store/index.ts';
import { withPgSchema } from '../../test/helpers/postgres.ts';
import { PostgresBatchStore, SqliteBatchStore, type BatchRecord, type BatchStore } from './store.ts';

async function eachStore(run: (name: string, open: () => BatchStore) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-batches-'));
  const db = openSqlite(join(dir, 'w.db'));
  try { await run('sqlite', () => new SqliteBatchStore(db)); } finally { db.close(); rmSync(dir, { recursive: true, force: true }); }
  await withPgSchema('batches_test', async (pool) => {
    const store = new PostgresBatchStore(pool);
    await store.migrate();
    await run('postgres', () => store);
  }, 6);
}

function batch(id: string, created: number, over: Partial<BatchRecord> = {}): BatchRecord {
  return {
    id, account_id: 'acc_a', org_id: 'org_1', key_id: 'key_a', client_ip: '203.0.113.7', user_agent: 'sdk/1', anthropic_version: '2023-06-01',
    anthropic_beta: null, status: 'in_progress', created_at: created, expires_at: created + 86_400_000, ended_at: null, cancel_initiated_at: null, ...over,
  };
}
const finish = (s: BatchStore, batchId: string, idx: number, state: 'succeeded' | 'errored', result: string) => s.finish([{ batchId, idx, state, result }]);
const items = (n: number) => Array.from({ length: n }, (_, i) => ({ custom_id: `r${i}`, params: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: `q${i}` }] }) }));

test('claims, retries, results and the end of a batch', async () => {
  await eachStore(async (name, open) => {
    const s = open();
    const t0 = 1_000_000;
    await s.create(batch('b1', t0), items(5));
    assert.deepEqual(await s.counts('b1'), { pending: 5, running: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 }, name);
    assert.equal(await s.queued('acc_a'), 5, `${name}: waiting to run`);
    assert.equal(await s.queued('acc_other'), 0, name);
    const first = await s.claim(t0, 3, 60_000);
    assert.deepEqual(first.map((c) => c.custom_id), ['r0', 'r1', 'r2'], name);
    assert.equal(first[0].batch.client_ip, '203.0.113.7');
    assert.equal(first[0].attempts, 1);
    assert.deepEqual(JSON.parse(first[0].params).messages[0].content, 'q0');
    await finish(s, 'b1', 0, 'succeeded', JSON.stringify({ type: 'succeeded', message: { id: 'msg_1' } }));
    await finish(s, 'b1', 1, 'errored', JSON.stringify({ type: 'errored', error: { type: 'error', error: { type: 'invalid_request_error', message: 'x' } } }));
    await s.retryLater('b1', 2, t0 + 5_000);
    // r2 waits until it is due; r3 and r4 go first
    assert.deepEqual((await s.claim(t0 + 1, 10, 60_000)).map((c) => c.custom_id), ['r3', 'r4'], name);
    assert.deepEqual(await s.claim(t0 + 2, 10, 60_000), [], name);
    const again = await s.claim(t0 + 5_000, 10, 60_000);
    assert.deepEqual(again.map((c) => [c.custom_id, c.attempts]), [['r2', 2]], name);
    // r3's node stopped: its lease runs out and another claim takes it up
    await finish(s, 'b1', 2, 'succeeded', '{"type":"succeeded","message":{}}');
    await finish(s, 'b1', 4, 'succeeded', '{"type":"succeeded","message":{}}');
    assert.deepEqual((await s.claim(t0 + 70_000, 10, 60_000)).map((c) => c.custom_id), ['r3'], name);
    assert.deepEqual(await s.settle(t0 + 70_001), [], `${name}: r3 still running`);
    await finish(s, 'b1', 3, 'succeeded', '{"type":"succeeded","message":{}}');
    // a result recorded twice (a late node) is not overwritten once finished
    await finish(s, 'b1', 3, 'errored', '{"type":"errored"}');
    assert.deepEqual(await s.settle(t0 + 80_000), ['b1'], name);
    assert.equal(await s.queued('acc_a'), 0, `${name}: nothing waits once ended`);
    const ended = (await s.get('b1'))!;
    assert.equal(ended.status, 'ended');
    assert.equal(ended.ended_at, t0 + 80_000);
    const results = await s.outcomes('b1');
    assert.deepEqual(results.map((r) => [r.custom_id, JSON.parse(r.result!).type]), [['r0', 'succeeded'], ['r1', 'errored'], ['r2', 'succeeded'], ['r3', 'succeeded'], ['r4', 'succeeded']], name);
  });
});

test('two nodes claiming at once never get the same request (PostgreSQL row locks)', async () => {
  await eachStore(async (name, open) => {
    if (name !== 'postgres') return;
    const a = open();
    await a.create(batch('b2', 5), items(60));
    const claims = await Promise.all([a.claim(10, 25, 60_000), a.claim(10, 25, 60_000), a.claim(10, 25, 60_000)]);
    const ids = claims.flat().map((c) => c.custom_id);
    assert.equal(ids.length, 60);
    assert.equal(new Set(ids).size, 60, 'each request claimed once');
  });
});

test('cancelling, expiring, paging newest first, deleting and pruning', async () => {
  await eachStore(async (name, open) => {
    const s = open();
    await s.create(batch('c1', 100), items(4));
    await s.claim(100, 1, 60_000);
    assert.equal(await s.cancel('c1', 200), true, name);
    assert.equal(await s.cancel('c1', 201), false, `${name}: only once`);
    assert.deepEqual(await s.claim(300, 10, 60_000), [], `${name}: nothing more runs`);
    assert.deepEqual(await s.counts('c1'), { pending: 0, running: 1, succeeded: 0, errored: 0, canceled: 3, expired: 0 }, name);
    await finish(s, 'c1', 0, 'succeeded', '{"type":"succeeded","message":{}}');
    assert.deepEqual(await s.settle(400), ['c1'], name);
    assert.equal((await s.get('c1'))!.cancel_initiated_at, 200);
    assert.deepEqual((await s.outcomes('c1')).map((r) => (r.result === null ? r.state : JSON.parse(r.result).type)), ['succeeded', 'canceled', 'canceled', 'canceled'], name);

    await s.create(batch('e1', 500, { expires_at: 1_000 }), items(3));
    await s.claim(500, 1, 100_000); // running past its expiry, on a node that will not come back
    assert.deepEqual(await s.settle(1_000), [], `${name}: the running one's lease holds`);
    assert.deepEqual(await s.counts('e1'), { pending: 0, running: 1, succeeded: 0, errored: 0, canceled: 0, expired: 2 }, name);
    assert.deepEqual(await s.settle(200_000), ['e1'], name);
    assert.equal((await s.counts('e1')).expired, 3);

    // another account's batch, same organisation; and one of a stranger
    await s.create(batch('o1', 600, { account_id: 'acc_b' }), items(1));
    await s.create(batch('x1', 700, { account_id: 'acc_x', org_id: null }), items(1));
    const mine = { accountId: 'acc_a', orgId: 'org_1' };
    assert.deepEqual((await s.list(mine, { limit: 10 })).map((b) => b.id), ['o1', 'e1', 'c1'], name);
    assert.deepEqual((await s.list(mine, { limit: 2, after_id: 'o1' })).map((b) => b.id), ['e1', 'c1'], name);
    assert.deepEqual((await s.list(mine, { limit: 1, before_id: 'c1' })).map((b) => b.id), ['e1'], `${name}: the nearest newer one`);
    assert.deepEqual((await s.list({ accountId: 'acc_x', orgId: null }, { limit: 10 })).map((b) => b.id), ['x1'], name);

    assert.equal(await s.delete('c1'), true);
    assert.equal(await s.get('c1'), null);
    assert.deepEqual(await s.outcomes('c1'), [], `${name}: its results went with it`);
    assert.equal(await s.prune(300_000), 1, `${name}: e1 ended long ago`);
    assert.equal(await s.get('e1'), null);
    assert.ok(await s.get('o1'), `${name}: in progress, kept`);
  });
});

test('the events of a streamed background response: kept once each, read from any point, deleted and pruned with it', async () => {
  await eachStore(async (name, open) => {
    const s = open();
    await s.create(batch('s1', 1_000, { background: true }), items(1));
    assert.equal(await s.lastStreamSeq('s1'), -1, `${name}: none yet`);
    await s.appendStream('s1', 0, ['f0', 'f1']);
    await s.appendStream('s1', 2, Array.from({ length: 8 }, (_, i) => `f${i + 2}`));
    await s.appendStream('s1', 1, ['again']);
    assert.equal(await s.lastStreamSeq('s1'), 9, name);
    assert.deepEqual((await s.streamEvents('s1', -1, 3)).map((e) => [e.seq, e.frame]), [[0, 'f0'], [1, 'f1'], [2, 'f2']], `${name}: an event kept is not written over`);
    assert.deepEqual((await s.streamEvents('s1', 6, 100)).map((e) => e.seq), [7, 8, 9], name);
    assert.deepEqual(await s.streamEvents('s1', 9, 100), [], name);
    assert.deepEqual(await s.streamEvents('other', -1, 100), [], name);

    await s.create(batch('s2', 2_000, { background: true }), items(1), ['g0', 'g1']);
    assert.deepEqual((await s.streamEvents('s2', -1, 10)).map((e) => e.frame), ['g0', 'g1'], `${name}: first events written with the response`);
    assert.equal(await s.delete('s1'), true);
    assert.equal(await s.lastStreamSeq('s1'), -1, `${name}: its events went with it`);
    await s.claim(2_000, 1, 60_000);
    await s.finish([{ batchId: 's2', idx: 0, state: 'succeeded', result: '{}', at: 2_500 }]);
    assert.equal((await s.get('s2'))!.status, 'ended', `${name}: a background response ends with its request`);
    assert.equal((await s.get('s2'))!.ended_at, 2_500);
    assert.deepEqual(await s.settle(3_000), [], `${name}: nothing left for the settle`);
    await s.prune(10_000);
    assert.equal(await s.lastStreamSeq('s2'), -1, `${name}: pruned with the response`);
  });
});

test('a running request\'s claim is renewed: it is not taken up again while it runs', async () => {
  await eachStore(async (name, open) => {
    const s = open();
    await s.create(batch('l1', 1_000, { background: true }), items(1));
    const [c] = await s.claim(1_000, 1, 10_000);
    assert.ok(c, name);
    await s.renewLease('l1', 0, 30_000);
    assert.deepEqual(await s.claim(20_000, 1, 10_000), [], `${name}: past the first lease, the renewed one holds`);
    assert.equal((await s.claim(31_000, 1, 10_000)).length, 1, `${name}: past the renewed one, taken up again`);
  });
});

test('nothing of a batch past its expiry is claimed: the settle expires what it has not run', async () => {
  await eachStore(async (name, open) => {
    const s = open();
    await s.create(batch('x9', 1_000, { expires_at: 2_000 }), items(3));
    assert.equal((await s.claim(1_500, 1, 60_000)).length, 1, `${name}: before its expiry`);
    assert.deepEqual(await s.claim(2_000, 5, 60_000), [], `${name}: at its expiry, nothing more`);
    await s.settle(2_500);
    assert.deepEqual(await s.counts('x9'), { pending: 0, running: 1, succeeded: 0, errored: 0, canceled: 0, expired: 2 }, name);
  });
});

test('claims take the accounts waiting in turn, each its oldest batch first, within the caps asked', async () => {
  await eachStore(async (name, open) => {
    const s = open();
    // acc_a's two big batches are older than acc_b's small one
    await s.create(batch('a1', 10), items(6));
    await s.create(batch('a2', 20), items(6));
    await s.create(batch('b1', 30, { account_id: 'acc_b', key_id: 'key_b' }), items(2));
    const first = await s.claim(100, 4, 60_000);
    assert.deepEqual(first.map((c) => `${c.batch.id}/${c.custom_id}`), ['a1/r0', 'b1/r0', 'a1/r1', 'b1/r1'], `${name}: the other account's batch is not behind the older ones`);
    // acc_a runs one request at a time on this node: one at most, and none while one waits
    assert.deepEqual((await s.claim(100, 4, 60_000, new Map([['acc_a', 1]]))).map((c) => `${c.batch.id}/${c.custom_id}`), ['a1/r2'], name);
    assert.deepEqual(await s.claim(100, 4, 60_000, new Map([['acc_a', 0]])), [], name);
    // a limit refused acc_a: none of its batches is claimed until the pause is over
    await s.pauseAccount('acc_a', 500);
    await s.create(batch('c1', 40, { account_id: 'acc_c', key_id: 'key_c' }), items(1));
    assert.deepEqual((await s.claim(200, 10, 60_000)).map((c) => c.batch.id), ['c1'], name);
    assert.deepEqual((await s.claim(500, 5, 60_000)).map((c) => `${c.batch.id}/${c.custom_id}`), ['a1/r3', 'a1/r4', 'a1/r5', 'a2/r0', 'a2/r1'], `${name}: oldest batch first, in the order sent`);
  });
});

test('when a claim cannot serve every account waiting, the next serves the others first', async () => {
  await eachStore(async (name, open) => {
    const s = open();
    for (const a of ['acc_1', 'acc_2', 'acc_3']) await s.create(batch(`b_${a}`, 10, { account_id: a }), items(3));
    const accounts = [];
    for (let i = 0; i < 6; i++) accounts.push(...(await s.claim(100, 1, 60_000)).map((c) => c.batch.account_id));
    assert.deepEqual(accounts, ['acc_1', 'acc_2', 'acc_3', 'acc_1', 'acc_2', 'acc_3'], name);
  });
});

test('a large batch is cancelled and expired whole (a few requests at a time on SQLite)', async () => {
  await eachStore(async (name, open) => {
    const s = open();
    await s.create(batch('big1', 10), items(450));
    await s.create(batch('big2', 20, { expires_at: 1_000 }), items(450));
    assert.equal(await s.cancel('big1', 100), true);
    assert.deepEqual(await s.counts('big1'), { pending: 0, running: 0, succeeded: 0, errored: 0, canceled: 450, expired: 0 }, name);
    assert.equal((await s.claim(500, 3, 60_000)).length, 3, name);
    assert.deepEqual((await s.settle(2_000)).sort(), ['big1'], `${name}: the claimed ones of the expired batch still hold their lease`);
    assert.deepEqual(await s.counts('big2'), { pending: 0, running: 3, succeeded: 0, errored: 0, canceled: 0, expired: 447 }, name);
    assert.deepEqual(await s.settle(100_000), ['big2'], name);
    assert.equal((await s.counts('big2')).expired, 450, name);
  });
});
