// Which account owns each stored response: the store on memory, SQLite and PostgreSQL, and the
// hook that refuses to continue another customer's response, across a restart and across nodes,
// and answers 503 when PostgreSQL does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPostgres, openSqlite } from '../store/index.ts';
import { TEST_POSTGRES_URL, withPgSchema } from '../../test/helpers/postgres.ts';
import { startTcpProxy } from '../../test/helpers/tcp-proxy.ts';
import type { InteractionContext } from '../gateway/lifecycle.ts';
import type { InteractionEvent } from '../events/index.ts';
import { emptyEnforcement } from '../events/index.ts';
import {
  answerOwnershipHooks, MemoryAnswerOwnersStore, PostgresAnswerOwnersStore, SqliteAnswerOwnersStore, type AnswerOwnersStore,
} from './answer-owners.ts';

async function withStores(run: (name: string, open: () => Promise<AnswerOwnersStore>) => Promise<void>): Promise<void> {
  const memory = new MemoryAnswerOwnersStore();
  await run('memory', async () => memory);
  const dir = mkdtempSync(join(tmpdir(), 'warden-owners-'));
  const db = openSqlite(join(dir, 'w.db'));
  try {
    await run('sqlite', async () => new SqliteAnswerOwnersStore(db));
  } finally { db.close(); rmSync(dir, { recursive: true, force: true }); }
  await withPgSchema('owners_test', (pool) => run('postgres', async () => { const s = new PostgresAnswerOwnersStore(pool); await s.migrate(); return s; }));
}

test('the store: an answer has one owner (the first recorded), and old answers are pruned', async () => {
  await withStores(async (name, open) => {
    const s = await open();
    await s.record([
      { id: 'resp_1', accountId: 'acc_a', orgId: 'org_1', at: '2026-11-01T00:00:00.000Z', model: 'gpt-5' },
      { id: 'resp_2', accountId: 'acc_b', orgId: null, at: '2026-12-01T00:00:00.000Z' },
    ]);
    await s.record([{ id: 'resp_1', accountId: 'acc_x', orgId: null, at: '2026-12-02T00:00:00.000Z' }]);
    assert.deepEqual(await s.ownerOf('resp_1'), { accountId: 'acc_a', orgId: 'org_1', model: 'gpt-5' }, name);
    assert.deepEqual(await s.ownerOf('resp_2'), { accountId: 'acc_b', orgId: null, model: null }, name);
    assert.equal(await s.ownerOf('resp_3'), null, name);
    assert.equal(await s.prune('2026-11-15T00:00:00.000Z'), 1, name);
    assert.equal(await s.ownerOf('resp_1'), null, name);
    assert.ok(await s.ownerOf('resp_2'), name);
    // opened again on the same database: the migration runs once, the rows stay
    const again = await open();
    assert.ok(await again.ownerOf('resp_2'), name);
  });
});

function ctxFor(accountId: string, orgId: string | null, body: Record<string, unknown>): InteractionContext {
  return {
    flavour: 'openai.responses', body, enforcement: emptyEnforcement(), locals: new Map(),
    auth: { account: { id: accountId, org_id: orgId }, org: orgId ? { id: orgId } : null } as unknown as InteractionContext['auth'],
  } as unknown as InteractionContext;
}

function answered(id: string, accountId: string, orgId: string | null): InteractionEvent {
  return { flavour: 'openai.responses', account_id: accountId, org_id: orgId, ts: new Date().toISOString(), response: { status: 200, answer_id: id } } as unknown as InteractionEvent;
}

const refusal = (code: string) => (e: unknown) => (e as { code?: string }).code === code;

test('the hook: owner and organisation may continue; others, unknown ids and conversations are refused alike', async () => {
  const hooks = answerOwnershipHooks(new MemoryAnswerOwnersStore(), { retentionDays: 30 });
  try {
    hooks.onEnd!(ctxFor('acc_a', 'org_1', {}), answered('resp_a', 'acc_a', 'org_1'));
    await hooks.policy!(ctxFor('acc_a', 'org_1', { previous_response_id: 'resp_a' }));
    await hooks.policy!(ctxFor('acc_teammate', 'org_1', { previous_response_id: 'resp_a' }));
    const stranger = ctxFor('acc_b', null, { previous_response_id: 'resp_a' });
    await assert.rejects(async () => hooks.policy!(stranger), refusal('WARDEN_PREVIOUS_RESPONSE_NOT_FOUND'));
    assert.deepEqual(stranger.enforcement.policy, ['refused:previous_response']);
    await assert.rejects(async () => hooks.policy!(ctxFor('acc_a', 'org_1', { previous_response_id: 'resp_never' })), refusal('WARDEN_PREVIOUS_RESPONSE_NOT_FOUND'));
    await assert.rejects(async () => hooks.policy!(ctxFor('acc_a', 'org_1', { previous_response_id: 42 })), refusal('WARDEN_INVALID_REQUEST'));
    await assert.rejects(async () => hooks.policy!(ctxFor('acc_a', 'org_1', { input: 'hi', conversation: 'conv_1' })), refusal('WARDEN_INVALID_REQUEST'));
    // a failed interaction owns nothing
    hooks.onEnd!(ctxFor('acc_a', null, {}), { ...answered('resp_failed', 'acc_a', null), response: { status: 500, answer_id: 'resp_failed' } } as unknown as InteractionEvent);
    await assert.rejects(async () => hooks.policy!(ctxFor('acc_a', null, { previous_response_id: 'resp_failed' })), refusal('WARDEN_PREVIOUS_RESPONSE_NOT_FOUND'));
  } finally { await hooks.close!(); }
});

test('records survive a restart (SQLite), and a node reads another node\'s record written just after the request arrived (PostgreSQL)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-owners-'));
  const db = openSqlite(join(dir, 'w.db'));
  try {
    const first = answerOwnershipHooks(new SqliteAnswerOwnersStore(db), { retentionDays: 30 });
    first.onEnd!(ctxFor('acc_a', null, {}), answered('resp_kept', 'acc_a', null));
    await first.close!();
    const second = answerOwnershipHooks(new SqliteAnswerOwnersStore(db), { retentionDays: 30 });
    await second.policy!(ctxFor('acc_a', null, { previous_response_id: 'resp_kept' }));
    await assert.rejects(async () => second.policy!(ctxFor('acc_b', null, { previous_response_id: 'resp_kept' })), refusal('WARDEN_PREVIOUS_RESPONSE_NOT_FOUND'));
    await second.close!();
  } finally { db.close(); rmSync(dir, { recursive: true, force: true }); }

  await withPgSchema('owners_test', async (pool) => {
    const store = new PostgresAnswerOwnersStore(pool);
    await store.migrate();
    const nodeA = answerOwnershipHooks(store, { retentionDays: 30, flushMs: 150 });
    const nodeB = answerOwnershipHooks(store, { retentionDays: 30, retryMs: 400 });
    const noRetry = answerOwnershipHooks(store, { retentionDays: 30 });
    nodeA.onEnd!(ctxFor('acc_a', null, {}), answered('resp_fresh', 'acc_a', null));
    // Not yet written when node B is asked: a node without the second read refuses, node B waits and finds it.
    await assert.rejects(async () => noRetry.policy!(ctxFor('acc_a', null, { previous_response_id: 'resp_fresh' })), refusal('WARDEN_PREVIOUS_RESPONSE_NOT_FOUND'));
    await nodeB.policy!(ctxFor('acc_a', null, { previous_response_id: 'resp_fresh' }));
    await Promise.all([nodeA.close!(), nodeB.close!(), noRetry.close!()]);
  });
});

test('PostgreSQL not answering when a response is continued: 503 WARDEN_STORE_UNAVAILABLE with retry-after, within the read timeout', { timeout: 30_000 }, async () => {
  const proxy = await startTcpProxy(Number(new URL(TEST_POSTGRES_URL).port || 5432));
  const u = new URL(TEST_POSTGRES_URL);
  u.port = String(proxy.port);
  const pool = openPostgres(u.href, { max: 1 });
  const hooks = answerOwnershipHooks(new PostgresAnswerOwnersStore(pool), { retentionDays: 30 });
  try {
    await pool.query('SELECT 1');
    await proxy.stall();
    const t0 = Date.now();
    await assert.rejects(async () => hooks.policy!(ctxFor('acc_a', null, { previous_response_id: 'resp_elsewhere' })), (e: unknown) => {
      const err = e as { code?: string; status?: number; headers?: Record<string, string> };
      return err.code === 'WARDEN_STORE_UNAVAILABLE' && err.headers?.['retry-after'] === '1';
    });
    assert.ok(Date.now() - t0 < 8000, `answered within the read timeout (${Date.now() - t0} ms)`);
  } finally {
    await hooks.close!();
    await pool.end();
    await proxy.stop();
  }
});

test('the hook: items and code-interpreter containers of an answer are its owner\'s; the operator\'s prompts and vector stores only when shared', async () => {
  const hooks = answerOwnershipHooks(new MemoryAnswerOwnersStore(), { retentionDays: 30, shared: { prompts: ['pmpt_shared'], vectorStores: ['vs_shared'] } });
  try {
    const event = answered('resp_a', 'acc_a', 'org_1');
    Object.assign(event.response, { item_ids: ['rs_a', 'msg_a'], container_id: 'cntr_a' });
    hooks.onEnd!(ctxFor('acc_a', 'org_1', {}), event);
    const ref = (id: string) => ({ input: [{ type: 'item_reference', id }, { role: 'user', content: 'go on' }] });
    const ci = (container: unknown) => ({ input: 'ls', tools: [{ type: 'code_interpreter', container }] });
    await hooks.policy!(ctxFor('acc_a', 'org_1', ref('msg_a')));
    await hooks.policy!(ctxFor('acc_teammate', 'org_1', { input: [{ type: 'reasoning', id: 'rs_a', summary: [] }] }));
    await hooks.policy!(ctxFor('acc_a', 'org_1', ci('cntr_a')));
    await hooks.policy!(ctxFor('acc_b', null, ci({ type: 'auto' })));
    assert.equal(hooks.policy!(ctxFor('acc_b', null, { input: [{ role: 'user', content: 'hi' }] })), undefined, 'nothing stored named: no promise');

    const stranger = ctxFor('acc_b', null, ref('msg_a'));
    await assert.rejects(async () => hooks.policy!(stranger), (e: any) => e.code === 'WARDEN_NOT_FOUND' && e.status === 404 && e.param === 'input[0]' && e.message === "Item with id 'msg_a' not found.", 'another customer\'s item reads as missing');
    assert.deepEqual(stranger.enforcement.policy, ['refused:input_item']);
    await assert.rejects(async () => hooks.policy!(ctxFor('acc_b', null, { input: [{ role: 'user', content: 'x' }, { type: 'reasoning', id: 'rs_a', summary: [] }] })), (e: any) => e.param === 'input[1]', 'an item handed back with its id');
    const container = ctxFor('acc_b', null, ci('cntr_a'));
    await assert.rejects(async () => hooks.policy!(container), (e: any) => e.code === 'WARDEN_NOT_FOUND' && e.param === 'tools[0].container', 'another customer\'s container');
    assert.deepEqual(container.enforcement.policy, ['refused:container']);

    await hooks.policy!(ctxFor('acc_b', null, { prompt: { id: 'pmpt_shared' } }));
    const prompt = ctxFor('acc_b', null, { prompt: { id: 'pmpt_other', version: '2' } });
    await assert.rejects(async () => hooks.policy!(prompt), (e: any) => e.code === 'WARDEN_INVALID_REQUEST' && e.param === 'prompt.id', 'an operator prompt not shared');
    assert.deepEqual(prompt.enforcement.policy, ['refused:prompt']);
    await hooks.policy!(ctxFor('acc_b', null, { tools: [{ type: 'file_search', vector_store_ids: ['vs_shared'] }] }));
    const store = ctxFor('acc_b', null, { tools: [{ type: 'web_search' }, { type: 'file_search', vector_store_ids: ['vs_shared', 'vs_other'] }] });
    await assert.rejects(async () => hooks.policy!(store), (e: any) => e.code === 'WARDEN_INVALID_REQUEST' && e.param === 'tools[1].vector_store_ids', 'a vector store not shared');
    assert.deepEqual(store.enforcement.policy, ['refused:vector_store']);
    await assert.rejects(async () => hooks.policy!(ctxFor('acc_a', null, ci({ type: 'auto', file_ids: ['file-abc'] }))), (e: any) => e.param === 'tools[0].container.file_ids', 'upstream files not shared');
  } finally { await hooks.close!(); }
});

test('the hook: a request naming several foreign objects is marked with the refusal it is told, only', async () => {
  const hooks = answerOwnershipHooks(new MemoryAnswerOwnersStore(), { retentionDays: 30 });
  try {
    const event = answered('resp_a', 'acc_a', null);
    Object.assign(event.response, { item_ids: ['msg_a'], container_id: 'cntr_a' });
    hooks.onEnd!(ctxFor('acc_a', null, {}), event);
    const ctx = ctxFor('acc_b', null, { input: [{ type: 'item_reference', id: 'msg_a' }], tools: [{ type: 'code_interpreter', container: 'cntr_a' }] });
    await assert.rejects(async () => hooks.policy!(ctx), (e: any) => e.param === 'tools[0].container', 'the container is reported');
    assert.deepEqual(ctx.enforcement.policy, ['refused:container'], 'and only its refusal is on the event');
  } finally { await hooks.close!(); }
});

test('the hook: during a store outage, answers with many items do not crowd out other answers; all are stored on recovery', async () => {
  const inner = new MemoryAnswerOwnersStore();
  let down = true;
  const store: AnswerOwnersStore = {
    record: async (e) => { if (down) throw new Error('connection refused'); return inner.record(e); },
    ownerOf: (id) => inner.ownerOf(id),
    ownersOf: (ids) => inner.ownersOf(ids),
    prune: (b) => inner.prune(b),
  };
  const logs: string[] = [];
  const hooks = answerOwnershipHooks(store, { retentionDays: 30, recentMax: 100, flushMs: 60_000, log: (m) => logs.push(m) });
  try {
    for (let i = 0; i < 50; i++) {
      const e = answered(`resp_${i}`, 'acc_a', null);
      Object.assign(e.response, { item_ids: Array.from({ length: 9 }, (_, k) => `fc_${i}_${k}`) });
      hooks.onEnd!(ctxFor('acc_a', null, {}), e);
      await hooks.flush();
    }
    down = false;
    await hooks.flush();
    // A node restarted after recovery knows only what was stored.
    const fresh = answerOwnershipHooks(inner, { retentionDays: 30 });
    let refused = 0;
    for (let i = 0; i < 50; i++) {
      try { await fresh.policy!(ctxFor('acc_a', null, { previous_response_id: `resp_${i}`, input: [{ type: 'item_reference', id: `fc_${i}_8` }] })); } catch { refused++; }
    }
    await fresh.close!();
    assert.equal(refused, 0, `every answer made during the outage is its owner's afterwards (${refused} of 50 refused)`);
    assert.ok(logs.some((l) => l.includes('stored again')), `recovery is logged: ${logs.join(' | ')}`);
  } finally { await hooks.close!(); }
});

test('the store: many ids are looked up at once, and a large prune is done in batches', async () => {
  await withStores(async (name, open) => {
    const s = await open();
    const old = '2026-01-01T00:00:00.000Z';
    await s.record(Array.from({ length: 25_000 }, (_, i) => ({ id: `old_${name}_${i}`, accountId: 'acc_a', orgId: null, at: old })));
    await s.record([{ id: `new_${name}`, accountId: 'acc_b', orgId: 'org_1', at: '2026-12-01T00:00:00.000Z' }]);
    const found = await s.ownersOf([`old_${name}_7`, `new_${name}`, 'missing', `old_${name}_24999`]);
    assert.deepEqual([...found.keys()].sort(), [`new_${name}`, `old_${name}_24999`, `old_${name}_7`], `${name}: the recorded ones`);
    assert.deepEqual(found.get(`new_${name}`), { accountId: 'acc_b', orgId: 'org_1', model: null }, name);
    assert.equal(await s.prune('2026-06-01T00:00:00.000Z'), 25_000, `${name}: every old row pruned`);
    assert.equal(await s.ownerOf(`old_${name}_24999`), null, name);
    assert.ok(await s.ownerOf(`new_${name}`), name);
  });
});
