// Detector admin routes over real HTTP (Fastify on port 0), and restart replay from a real SQLite
// event store: verdicts rebuilt from stored events match the engine that saw them live.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { mountAdminRoutes } from '../admin/router.ts';
import { DetectorEngine, SqliteDetectOverridesStore, applyOverrides, detectAdminRoutes, replayRecentEvents, buildScenario, verdictRank, type PromptPool, type Verdict } from './index.ts';
import { commitment, prepareVerdict, type VerdictRecord } from '../ledger/index.ts';
import { openSqlite, SqliteEventStore } from '../store/index.ts';

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const scenario = buildScenario(pool, {
  seed: 11, days: 2,
  organic: { hobbyist: 30, startup: 2, researcher: 1, batch: 1, agent: 1, class: 1 },
  campaigns: [{ kind: 'hydra', accounts: 40 }],
});
const hydra = Object.entries(scenario.labels.accounts).filter(([, l]) => l.startsWith('campaign:')).map(([id]) => id);
const organic = Object.entries(scenario.labels.accounts).filter(([, l]) => l.startsWith('organic:')).map(([id]) => id);

test('admin routes: account, clusters, campaigns, allow-list and operator verdicts', async () => {
  const engine = new DetectorEngine();
  for (const ev of scenario.events) engine.ingest(ev);
  engine.flush();
  const app = Fastify();
  // Every answer is checked against the schema the OpenAPI document shows.
  mountAdminRoutes(app, [detectAdminRoutes(engine, { prefix: '/admin/detect' })], { validateResponses: true });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return { status: res.status, body: (res.status === 204 ? null : await res.json()) as any };
  };
  try {
    const acct = await call('GET', `/admin/detect/accounts/${hydra[0]}`);
    assert.equal(acct.status, 200);
    assert.ok(verdictRank(acct.body.level) > verdictRank('watch'), acct.body.level);
    assert.equal(acct.body.verdict.subject.kind, 'cluster');
    assert.ok(acct.body.verdict.reasons.some((r: { signal: string }) => r.signal === 'cluster_score'));
    assert.ok(acct.body.cluster.size >= 30 && acct.body.cluster.members.includes(hydra[0]));
    assert.equal((await call('GET', '/admin/detect/accounts/acct_never_seen')).status, 404);
    const noSnapshots = await call('POST', '/admin/detect/snapshot');
    assert.equal(noSnapshots.status, 409);
    assert.match(noSnapshots.body.error.message, /snapshots are off on this node/);

    const clusters = await call('GET', '/admin/detect/clusters');
    assert.ok(clusters.body.total >= 1);
    const clusterId = acct.body.cluster.id;
    assert.ok(clusters.body.data.some((c: { id: string }) => c.id === clusterId));
    const one = await call('GET', `/admin/detect/clusters/${clusterId}`);
    assert.equal(one.body.id, clusterId);
    assert.ok(one.body.campaign_id);
    assert.equal((await call('GET', '/admin/detect/clusters/clu_missing')).status, 404);
    const campaigns = await call('GET', '/admin/detect/campaigns');
    assert.ok(campaigns.body.data.some((c: { cluster_id: string }) => c.cluster_id === clusterId));

    // Allow-list: the partner goes to none at once; removing it restores the detector's verdict.
    assert.equal((await call('POST', '/admin/detect/allow', { account: hydra[1], note: 'evaluation partner' })).status, 201);
    assert.equal(engine.forAccount(hydra[1]).level, 'none');
    assert.deepEqual((await call('GET', '/admin/detect/allow')).body.accounts, [hydra[1]]);
    assert.equal((await call('POST', '/admin/detect/allow', { account: 'a', org: 'b' })).status, 400);
    // The POST body undoes itself: its note is ignored by DELETE.
    assert.equal((await call('DELETE', '/admin/detect/allow', { account: hydra[1], note: 'evaluation partner' })).status, 204);
    assert.ok(verdictRank(engine.forAccount(hydra[1]).level) > verdictRank('watch'));
    assert.equal((await call('DELETE', '/admin/detect/allow', { account: hydra[1] })).status, 404);

    // Operator verdicts on an account and on a cluster, then removed.
    const v = await call('POST', '/admin/detect/verdicts', { kind: 'account', id: organic[0], level: 'verify', note: 'case 7' });
    assert.equal(v.status, 201);
    assert.equal(v.body.source, 'operator');
    assert.equal(engine.forAccount(organic[0]).level, 'verify');
    assert.equal((await call('POST', '/admin/detect/verdicts', { kind: 'cluster', id: clusterId, level: 'suspend' })).status, 201);
    assert.equal(engine.forAccount(hydra[2]).level, 'suspend');
    assert.equal((await call('GET', '/admin/detect/verdicts')).body.data.length, 2);
    // Errors have the admin API's format, naming the field.
    const banned = await call('POST', '/admin/detect/verdicts', { kind: 'account', id: 'x', level: 'banned' });
    assert.equal(banned.status, 400);
    assert.deepEqual(Object.keys(banned.body.error).sort(), ['code', 'issues', 'message', 'param']);
    assert.equal(banned.body.error.code, 'WARDEN_INVALID_REQUEST');
    assert.equal(banned.body.error.param, 'level');
    assert.equal((await call('POST', '/admin/detect/verdicts', { kind: 'account', id: 'x', level: 'watch', reason: 'typo' })).body.error.param, 'reason');
    const past = await call('POST', '/admin/detect/verdicts', { kind: 'account', id: 'x', level: 'verify', expires_at: '2020-01-01T00:00:00Z' });
    assert.equal(past.status, 400);
    assert.match(past.body.error.message, /expires_at: expires_at must be in the future/);
    assert.equal((await call('POST', '/admin/detect/verdicts', { kind: 'account', id: 'x', level: 'verify', expires_at: 'tomorrow' })).status, 400);
    assert.equal((await call('POST', '/admin/detect/verdicts', { kind: 'cluster', id: 'clu_missing', level: 'watch' })).status, 404);
    // Notes follow the change history's rule for free text: a line break becomes a space (a note
    // cannot forge a row of `warden detect verdicts` or of the allow-list), other controls (ESC,
    // NUL) and bidirectional controls are refused.
    for (const note of ['case 7\u001b[2K', 'case\u0000 7', 'case \u202e7']) {
      const bad = await call('POST', '/admin/detect/verdicts', { kind: 'account', id: organic[1], level: 'watch', note });
      assert.equal(bad.status, 400, `verdict note ${JSON.stringify(note)}: ${JSON.stringify(bad.body)}`);
      assert.equal(bad.body.error.param, 'note');
      assert.match(bad.body.error.message, /control and bidirectional-control characters are not allowed/);
      assert.equal((await call('POST', '/admin/detect/allow', { account: organic[1], note })).status, 400, `allow note ${JSON.stringify(note)}`);
    }
    const multiline = await call('POST', '/admin/detect/verdicts', { kind: 'account', id: organic[1], level: 'watch', note: 'case 7\nclu_x suspend by alice' });
    assert.equal(multiline.status, 201, JSON.stringify(multiline.body));
    assert.equal(multiline.body.reasons[0].detail, 'case 7 clu_x suspend by alice', 'one line');
    assert.equal((await call('DELETE', '/admin/detect/verdicts', { kind: 'account', id: organic[1] })).status, 204);
    assert.equal((await call('DELETE', '/admin/detect/verdicts', { kind: 'account', id: organic[0], level: 'verify', note: 'case 7' })).status, 204, 'the POST body, its level and note ignored');
    assert.equal(engine.forAccount(organic[0]).level === 'verify', false);
    assert.equal((await call('DELETE', `/admin/detect/verdicts?kind=cluster&id=${clusterId}`)).status, 204);
    assert.equal((await call('DELETE', `/admin/detect/verdicts?kind=cluster&id=${clusterId}`)).status, 404);
  } finally {
    await app.close();
  }
});

test('operator decisions record who made them: stored with them, shown, put back at start, and in the ledger\'s verdict record', async () => {
  const engine = new DetectorEngine();
  const emitted: Verdict[] = [];
  engine.onVerdict((v) => { if (v.source === 'operator') emitted.push(v); });
  const db = openSqlite(':memory:');
  const overrides = new SqliteDetectOverridesStore(db);
  const app = Fastify();
  mountAdminRoutes(app, [detectAdminRoutes(engine, { prefix: '/admin/detect', overrides })], { validateResponses: true });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const call = async (method: string, path: string, body: unknown, actor?: string) => {
    const res = await fetch(base + path, { method, headers: { 'content-type': 'application/json', ...(actor ? { 'x-warden-actor': actor } : {}) }, body: JSON.stringify(body) });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return { status: res.status, body: (res.status === 204 ? null : await res.json()) as any };
  };
  try {
    const until = new Date(Date.now() + 86_400_000).toISOString();
    assert.equal((await call('POST', '/admin/detect/verdicts', { kind: 'account', id: organic[0], level: 'verify', note: 'pending review', expires_at: until }, "UTF-8''dashboard%3A%C5%81ukasz")).status, 201);
    assert.equal((await call('POST', '/admin/detect/allow', { org: 'org_partner', note: 'evaluation partner' }, 'cli:alice')).status, 201);
    // An older client that names no one: recorded as the admin API's default.
    assert.equal((await call('POST', '/admin/detect/allow', { account: organic[1] })).status, 201);
    const verdicts = (await call('GET', '/admin/detect/verdicts', undefined)).body.data;
    assert.deepEqual(verdicts.map((v: Verdict) => [v.subject.id, v.reasons[0].detail, v.reasons[0].by, v.expires_at]), [[organic[0], 'pending review', 'dashboard:Łukasz', until]]);
    const allow = (await call('GET', '/admin/detect/allow', undefined)).body;
    assert.deepEqual([allow.accounts, allow.orgs], [[organic[1]], ['org_partner']], 'the lists as before');
    assert.deepEqual(allow.entries.map((e: { kind: string; id: string; note: string | null; by: string | null }) => [e.kind, e.id, e.note, e.by]).sort(),
      [['account', organic[1], null, 'admin-api'], ['org', 'org_partner', 'evaluation partner', 'cli:alice']]);
    // The ledger records the operator verdict as the engine emits it: who set it goes with it, as a
    // commitment in the leaf (the name and note are kept in the erasable side table).
    const prepared = prepareVerdict(emitted[0]);
    const record = prepared.record as VerdictRecord;
    const opening = prepared.openings.operator!;
    assert.equal(opening.value, 'dashboard:Łukasz', 'who set it is kept beside the leaf');
    assert.equal(record.reasons.some((r) => (r as { by?: string }).by === commitment(opening.value!, opening.salt)), true, 'and committed to in the ledger record');
    assert.ok(!JSON.stringify(record).includes('Łukasz') && !JSON.stringify(record).includes('pending review'), 'neither name nor note in clear in the leaf');
    // Put back at start with who set it.
    const restarted = new DetectorEngine();
    await applyOverrides(restarted, overrides);
    assert.equal(restarted.forAccount(organic[0]).verdict?.reasons[0].by, 'dashboard:Łukasz');
  } finally {
    await app.close();
    db.close();
  }
});

test('restart: replaying the stored events of the last hours rebuilds the same verdicts', async () => {
  const db = openSqlite(':memory:');
  const store = new SqliteEventStore(db);
  await store.appendBatch(scenario.events);
  const live = new DetectorEngine();
  for (const ev of scenario.events) live.ingest(ev);
  live.flush();
  const lastMs = Date.parse(scenario.events[scenario.events.length - 1].ts);
  const restarted = new DetectorEngine({ config: { replay_hours: 72 } });
  const heard: string[] = [];
  const result = await replayRecentEvents(restarted, store, { nowMs: lastMs + 60_000 });
  restarted.onVerdict((v) => heard.push(v.subject.id));
  assert.equal(result.events, scenario.events.length);
  for (const id of [...hydra, ...organic]) assert.equal(restarted.forAccount(id).level, live.forAccount(id).level, id);
  assert.equal(heard.length, 0, 'listeners attached after replay hear nothing from it');
  // Only the window is replayed.
  const partial = await replayRecentEvents(new DetectorEngine(), store, { nowMs: lastMs + 60_000, hours: 6 });
  assert.ok(partial.events > 0 && partial.events < scenario.events.length);
  assert.equal((await replayRecentEvents(new DetectorEngine(), store, { hours: 0 })).events, 0);
  await store.close();
  db.close();
});
