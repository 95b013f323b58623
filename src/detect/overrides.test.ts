import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite, openPostgres } from '../store/index.ts';
import { DetectorEngine, SqliteDetectOverridesStore, PostgresDetectOverridesStore, applyOverrides, type DetectOverridesStore } from './index.ts';

/** Runs `check` on the SQLite store (in a fresh folder named from `prefix`), then on the PostgreSQL one. */
async function forBothStores(prefix: string, check: (store: DetectOverridesStore) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const db = openSqlite(join(dir, 'w.db'));
  const pg = openPostgres(process.env.WARDEN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test', { max: 2 });
  try {
    const postgres = new PostgresDetectOverridesStore(pg);
    await postgres.migrate();
    for (const store of [new SqliteDetectOverridesStore(db), postgres]) await check(store);
  } finally {
    await pg.end();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('stored overrides come back at start with their time and note; those whose time ran out are deleted, not applied', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-overrides-'));
  const db = openSqlite(join(dir, 'w.db'));
  try {
    const store = new SqliteDetectOverridesStore(db);
    const hour = 3_600_000;
    await store.put({ kind: 'verdict_account', subject: 'acct_review', level: 'verify', note: 'pending review', created_at: '2026-12-01T10:00:00.000Z', expires_at: new Date(Date.now() + hour).toISOString() });
    await store.put({ kind: 'verdict_account', subject: 'acct_lapsed', level: 'suspend', note: 'a week', created_at: '2026-11-01T10:00:00.000Z', expires_at: new Date(Date.now() - hour).toISOString() });
    await store.put({ kind: 'verdict_cluster', subject: 'clu_abc', level: 'shape', note: null, created_at: '2026-12-01T10:00:00.000Z' });
    await store.put({ kind: 'allow_org', subject: 'org_partner', level: null, note: 'evaluation partner', created_at: '2026-12-01T10:00:00.000Z' });
    // A second put replaces the first.
    await store.put({ kind: 'allow_org', subject: 'org_partner', level: null, note: 'renewed', created_at: '2026-12-02T10:00:00.000Z' });

    const engine = new DetectorEngine();
    const started = await applyOverrides(engine, store);
    assert.equal(started.applied, 3, 'three overrides applied');
    // The engine holds no cluster yet: the cluster verdict reaches nobody, and start-up says so.
    assert.deepEqual(started.dormant.map((v) => [v.subject.id, v.level]), [['clu_abc', 'shape']], 'a cluster verdict whose cluster the engine does not hold is reported dormant');
    const review = engine.forAccount('acct_review');
    assert.deepEqual([review.level, review.verdict?.since, review.verdict?.reasons[0].detail], ['verify', '2026-12-01T10:00:00.000Z', 'pending review']);
    assert.ok(review.verdict?.expires_at);
    assert.equal(engine.forAccount('acct_lapsed').level, 'none');
    assert.deepEqual(engine.allowList().orgs, ['org_partner']);
    assert.deepEqual((await store.list()).map((o) => [o.kind, o.subject, o.note]).sort(), [['allow_org', 'org_partner', 'renewed'], ['verdict_account', 'acct_review', 'pending review'], ['verdict_cluster', 'clu_abc', null]]);
    assert.equal(await store.remove('verdict_cluster', 'clu_abc'), true);
    assert.equal(await store.remove('verdict_cluster', 'clu_abc'), false);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('who set an override is stored with it: SQLite and PostgreSQL', async () => {
    const subject = `acct_by_${process.pid}_${Date.now().toString(36)}`;
  await forBothStores('warden-overrides-', async (store) => {
    await store.put({ kind: 'verdict_account', subject, level: 'verify', note: 'pending review', created_at: '2026-12-01T10:00:00.000Z', by: 'dashboard:Łukasz' });
    await store.put({ kind: 'allow_account', subject, level: null, note: null, created_at: '2026-12-01T10:00:00.000Z' });
    const mine = (await store.list()).filter((o) => o.subject === subject).map((o) => [o.kind, o.by]).sort();
    assert.deepEqual(mine, [['allow_account', null], ['verdict_account', 'dashboard:Łukasz']], store.constructor.name);
    await store.remove('verdict_account', subject);
    await store.remove('allow_account', subject);
  });
});

test('the change log and where a cluster verdict merged are stored: SQLite and PostgreSQL', async () => {
    const subject = `clu_log_${process.pid}_${Date.now().toString(36)}`;
  await forBothStores('warden-overrides-log-', async (store) => {
    await store.put({ kind: 'verdict_cluster', subject, level: 'throttle', note: 'case 12', created_at: '2026-12-01T10:00:00.000Z', by: 'alice', merged_into: 'clu_other' });
    assert.equal((await store.list()).find((o) => o.subject === subject)?.merged_into, 'clu_other', `${store.constructor.name}: where it merged`);
    await store.record({ at: '2026-12-01T10:00:00.000Z', action: 'set', kind: 'verdict_cluster', subject, level: 'throttle', note: 'case 12', by: 'alice' });
    await store.record({ at: '2026-12-01T11:00:00.000Z', action: 'clear', kind: 'verdict_cluster', subject, level: 'throttle', note: 'appeal upheld', by: 'dashboard:Łukasz' });
    const mine = (await store.changes(1000)).filter((c) => c.subject === subject).map((c) => [c.action, c.note, c.by, c.at]);
    assert.deepEqual(mine, [['clear', 'appeal upheld', 'dashboard:Łukasz', '2026-12-01T11:00:00.000Z'], ['set', 'case 12', 'alice', '2026-12-01T10:00:00.000Z']], `${store.constructor.name}: newest first, with who and why`);
    // Where it merged is noted on the stored row only: a verdict cleared first is not stored again.
    assert.equal(await store.setMergedInto(subject, 'clu_third'), true, `${store.constructor.name}: noted on the stored verdict`);
    assert.equal((await store.list()).find((o) => o.subject === subject)?.merged_into, 'clu_third', `${store.constructor.name}: where it merged now`);
    await store.remove('verdict_cluster', subject);
    assert.equal(await store.setMergedInto(subject, 'clu_fourth'), false, `${store.constructor.name}: nothing to note once cleared`);
    assert.ok(!(await store.list()).some((o) => o.subject === subject), `${store.constructor.name}: a cleared verdict stays cleared`);
  });
});
