// Detector admin routes over real HTTP (Fastify on port 0), and restart replay from a real SQLite
// event store: verdicts rebuilt from stored events match the engine that saw them live.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { mountAdminRoutes } from '../admin/router.ts';
import { DetectorEngine, MemoryDetectOverridesStore, SqliteDetectOverridesStore, applyOverrides, detectAdminRoutes, replayRecentEvents, buildLabelledEvents, verdictRank, type PromptPool, type Verdict, type DetectOverridesStore } from './index.ts';
import { commitment, prepareVerdict, type VerdictRecord } from '../ledger/index.ts';
import { openSqlite, SqliteEventStore } from '../store/index.ts';

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const scenario = buildLabelledEvents(pool, {
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

/**
 * An engine fed the scenario, its admin routes on a socket (with `overrides` if given), and a
 * caller of them; `emitted` collects the operator verdicts the engine says.
 */
async function operatorRoutes(overrides?: DetectOverridesStore) {
  const engine = new DetectorEngine();
  for (const ev of scenario.events) engine.ingest(ev);
  engine.flush();
  const emitted: Verdict[] = [];
  engine.onVerdict((v) => { if (v.source === 'operator') emitted.push(v); });
  const app = Fastify();
  mountAdminRoutes(app, [detectAdminRoutes(engine, { prefix: '/admin/detect', overrides })], { validateResponses: true });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const call = async (method: string, path: string, body?: unknown, actor?: string) => {
    const res = await fetch(base + path, { method, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(actor ? { 'x-warden-actor': actor } : {}) }, body: body ? JSON.stringify(body) : undefined });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return { status: res.status, body: (res.status === 204 ? null : await res.json()) as any };
  };
  return { engine, emitted, app, call };
}

test('two clusters that both carry an operator verdict merge: the stricter applies to every member, both are kept, logged and in the ledger', async () => {
  const db = openSqlite(':memory:');
  const overrides = new SqliteDetectOverridesStore(db);
  const { engine, emitted, app, call } = await operatorRoutes(overrides);
  try {
    // The campaign's cluster is throttled by one operator, a small organisation's cluster suspended by another.
    const startup = Object.entries(scenario.labels.accounts).filter(([, l]) => l === 'organic:startup').map(([id]) => id).find((id) => engine.forAccount(id).clusterId)!;
    const campaignCluster = engine.forAccount(hydra[2]).clusterId!;
    const orgCluster = engine.forAccount(startup).clusterId!;
    assert.ok(campaignCluster && orgCluster && campaignCluster !== orgCluster, 'two clusters to start with');
    assert.equal((await call('POST', '/admin/detect/verdicts', { kind: 'cluster', id: campaignCluster, level: 'throttle', note: 'case 12' }, 'alice')).status, 201);
    assert.equal((await call('POST', '/admin/detect/verdicts', { kind: 'cluster', id: orgCluster, level: 'suspend', note: 'case 13' }, 'bob')).status, 201);
    // A new account of the organisation's that behaves as a campaign member links the two.
    const orgId = scenario.events.find((x) => x.account_id === startup)!.org_id;
    const endMs = Date.parse(scenario.events.at(-1)!.ts);
    scenario.events.filter((x) => x.account_id === hydra[2]).slice(-12).forEach((x, n) =>
      engine.ingest({ ...x, id: `${x.id}-bridge`, account_id: 'acct_bridge', org_id: orgId, key_id: 'key_bridge', ts: new Date(endMs + (n + 1) * 60_000).toISOString() }));
    engine.flush();
    const merged = engine.forAccount('acct_bridge').clusterId!;
    assert.ok(merged === engine.forAccount(hydra[2]).clusterId && merged === engine.forAccount(startup).clusterId, 'the two clusters merged');

    // The stricter verdict (suspend) holds every member, campaign's and organisation's alike.
    for (const id of [hydra[0], hydra[2], startup, 'acct_bridge']) {
      const a = await call('GET', `/admin/detect/accounts/${id}`);
      assert.equal(a.body.level, 'suspend', `${id} is held by the stricter operator verdict`);
      assert.equal(a.body.verdict.source, 'operator', `${id}: an operator verdict`);
    }
    // Both verdicts are still listed; the one whose cluster merged away says where it applies now.
    const listed = (await call('GET', '/admin/detect/verdicts')).body.data as Verdict[];
    assert.deepEqual(listed.map((v) => [v.subject.id, v.level, v.reasons[0].by, v.merged_into ?? null]).sort(),
      [[campaignCluster, 'throttle', 'alice', merged], [orgCluster, 'suspend', 'bob', null]].sort(), 'both operator decisions are kept');
    // The merge is said as an operator verdict on the merged cluster, naming both (the ledger records it with the members).
    const said = emitted.find((v) => v.reasons.some((r) => r.signal === 'operator_verdicts_merged'));
    assert.ok(said, 'the merge is emitted as an operator verdict');
    const record = prepareVerdict(said, { accounts: engine.clusterMembers('acct_bridge') }).record as VerdictRecord;
    assert.equal(record.subject.id, merged, 'recorded on the merged cluster');
    assert.equal(record.level, 'suspend', 'at the stricter level');
    const explained = JSON.stringify(record.reasons);
    for (const part of [campaignCluster, orgCluster, 'throttle']) assert.ok(explained.includes(part), `the ledger record names ${part}`);
    // Notes and operators are personal data: only as commitments in the leaf, opened by the audit query.
    for (const part of ['alice', 'bob', 'case 12', 'case 13']) assert.ok(!explained.includes(part), `the ledger leaf does not hold ${part} in clear`);
    const opened = prepareVerdict(said);
    assert.equal(opened.openings.operator?.value, 'bob', 'the operator of the verdict in force is committed to and can be opened');
    assert.ok(record.accounts.includes(hydra[0]) && record.accounts.includes(startup), 'with the members it covers');
    // The change log says so, and the store keeps where the other verdict went (put back there at start).
    await new Promise((r) => setTimeout(r, 50));
    const changes = (await call('GET', '/admin/detect/changes')).body.data;
    assert.equal(changes[0].action, 'merge', 'the merge is in the change log');
    assert.equal(changes[0].subject, campaignCluster);
    assert.ok(changes[0].note.includes(merged), 'naming the cluster it merged into');
    assert.equal((await overrides.list()).find((o) => o.subject === campaignCluster)?.merged_into, merged, 'stored with where it went');

    // A restart rebuilt from the same events (merged with no verdicts in force, so named otherwise) puts both back on the merged cluster.
    const restarted = new DetectorEngine();
    for (const ev of scenario.events) restarted.ingest(ev);
    scenario.events.filter((x) => x.account_id === hydra[2]).slice(-12).forEach((x, n) =>
      restarted.ingest({ ...x, id: `${x.id}-bridge`, account_id: 'acct_bridge', org_id: orgId, key_id: 'key_bridge', ts: new Date(endMs + (n + 1) * 60_000).toISOString() }));
    restarted.flush();
    await applyOverrides(restarted, overrides);
    for (const id of [hydra[0], startup, 'acct_bridge']) assert.equal(restarted.forAccount(id).level, 'suspend', `${id}: after a restart the stricter verdict still holds`);
    assert.equal(restarted.manualVerdicts().length, 2, 'both kept after a restart');

    // Clearing the stricter verdict leaves the other in force over the whole merged cluster.
    assert.equal((await call('DELETE', '/admin/detect/verdicts', { kind: 'cluster', id: orgCluster, reason: 'appeal upheld' }, 'carol')).status, 204);
    for (const id of [hydra[0], startup, 'acct_bridge']) assert.equal(engine.forAccount(id).level, 'throttle', `${id}: the other operator verdict now applies`);
    // Cleared too, it lets the detector's verdict apply.
    assert.equal((await call('DELETE', `/admin/detect/verdicts?kind=cluster&id=${campaignCluster}`, undefined, 'carol')).status, 204);
    assert.equal(engine.forAccount(hydra[0]).verdict?.source, 'detector', 'no operator verdict left');
  } finally {
    await app.close();
    db.close();
  }
});

test('restart without a snapshot: a cluster verdict holds after its cluster merged with one that carried none', async () => {
  // Two small organisations' clusters; the operator suspends one, a new account links it to the other.
  const startups = Object.entries(scenario.labels.accounts).filter(([, l]) => l === 'organic:startup').map(([id]) => id);
  const orgOf = (id: string) => scenario.events.find((x) => x.account_id === id)!.org_id;
  const live = new DetectorEngine();
  for (const ev of scenario.events) live.ingest(ev);
  live.flush();
  const clustered = startups.filter((id) => live.forAccount(id).clusterId);
  const suspended = clustered.filter((id) => orgOf(id) === orgOf(clustered.at(-1)!));
  const other = clustered.find((id) => orgOf(id) !== orgOf(suspended[0]))!;
  assert.ok(suspended.length > 0 && other, 'two organisations\' clusters to start with');
  const cluster = live.forAccount(suspended[0]).clusterId!;
  const db = openSqlite(':memory:');
  const overrides = new SqliteDetectOverridesStore(db);
  const events = new SqliteEventStore(db);
  try {
    detectAdminRoutes(live, { prefix: '/admin/detect', overrides });
    await overrides.put({ kind: 'verdict_cluster', subject: cluster, level: 'suspend', note: 'case 21', created_at: new Date().toISOString(), expires_at: null, by: 'alice' });
    live.setManualVerdict({ kind: 'cluster', id: cluster }, 'suspend', 'case 21', undefined, null, 'alice');
    const endMs = Date.parse(scenario.events.at(-1)!.ts);
    const bridge = scenario.events.filter((x) => x.account_id === suspended[0]).slice(-12)
      .map((x, n) => ({ ...x, id: `${x.id}-bridge`, account_id: 'acct_bridge', org_id: orgOf(other), key_id: 'key_bridge', ts: new Date(endMs + (n + 1) * 60_000).toISOString() }));
    for (const ev of bridge) live.ingest(ev);
    live.flush();
    assert.equal(live.forAccount(other).clusterId, live.forAccount(suspended[0]).clusterId, 'the bridge merged the two clusters');
    const members = [...suspended, other, 'acct_bridge'];
    for (const id of members) assert.equal(live.forAccount(id).level, 'suspend', `${id} is suspended live`);
    await new Promise((r) => setTimeout(r, 50));

    // Restart: no snapshot, the stored events replayed, then the stored overrides applied.
    await events.appendBatch([...scenario.events, ...bridge]);
    const restarted = new DetectorEngine({ config: { replay_hours: 72 } });
    await replayRecentEvents(restarted, events, { nowMs: endMs + 60 * 60_000 });
    assert.deepEqual((await applyOverrides(restarted, overrides)).dormant, [], 'the verdict found its cluster again: none reported dormant');
    for (const id of members) assert.equal(restarted.forAccount(id).level, 'suspend', `${id} is still suspended after the restart`);
    const listed = restarted.manualVerdicts().find((v) => v.subject.id === cluster);
    assert.equal(listed?.merged_into ?? listed?.subject.id, restarted.forAccount(other).clusterId, 'the verdict is listed on the cluster it applies to');
  } finally {
    await events.close();
    db.close();
  }
});

test('a merged-away cluster verdict cleared right after the merge stays cleared in the store (reads take a round trip, as on PostgreSQL)', async () => {
  class SlowStore extends MemoryDetectOverridesStore {
    override async list() { const l = await super.list(); await new Promise((r) => setTimeout(r, 40)); return l; }
  }
  const engine = new DetectorEngine();
  for (const ev of scenario.events) engine.ingest(ev);
  engine.flush();
  const store = new SlowStore();
  const app = Fastify();
  mountAdminRoutes(app, [detectAdminRoutes(engine, { prefix: '/admin/detect', overrides: store })], { validateResponses: true });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const call = async (method: string, path: string, body?: unknown) =>
    (await fetch(base + path, { method, headers: { ...(body ? { 'content-type': 'application/json' } : {}), 'x-warden-actor': 'carol' }, body: body ? JSON.stringify(body) : undefined })).status;
  try {
    const startup = Object.entries(scenario.labels.accounts).filter(([, l]) => l === 'organic:startup').map(([id]) => id).find((id) => engine.forAccount(id).clusterId)!;
    const campaignCluster = engine.forAccount(hydra[2]).clusterId!;
    const orgCluster = engine.forAccount(startup).clusterId!;
    assert.equal(await call('POST', '/admin/detect/verdicts', { kind: 'cluster', id: campaignCluster, level: 'suspend', note: 'campaign' }), 201);
    assert.equal(await call('POST', '/admin/detect/verdicts', { kind: 'cluster', id: orgCluster, level: 'throttle', note: 'under review' }), 201);
    const orgId = scenario.events.find((x) => x.account_id === startup)!.org_id;
    const endMs = Date.parse(scenario.events.at(-1)!.ts);
    scenario.events.filter((x) => x.account_id === hydra[2]).slice(-12).forEach((x, n) =>
      engine.ingest({ ...x, id: `${x.id}-bridge`, account_id: 'acct_bridge', org_id: orgId, key_id: 'key_bridge', ts: new Date(endMs + (n + 1) * 60_000).toISOString() }));
    engine.flush(); // the clusters merge: the store is told where the throttle went
    assert.equal(engine.forAccount(startup).clusterId, campaignCluster, 'merged under the suspended campaign\'s id');
    assert.equal(await call('DELETE', `/admin/detect/verdicts?kind=cluster&id=${orgCluster}`), 204);
    await new Promise((r) => setTimeout(r, 150));
    const stored = (await store.list()).map((o) => o.subject);
    assert.ok(!stored.includes(orgCluster), `the cleared verdict is not stored again: ${JSON.stringify(stored)}`);
    assert.ok(stored.includes(campaignCluster), 'the other verdict is kept');
  } finally {
    await app.close();
  }
});

test('clearing an operator verdict or an allow-list entry records who and why: in the change log and the ledger record', async () => {
  const db = openSqlite(':memory:');
  const overrides = new SqliteDetectOverridesStore(db);
  const { engine, emitted, app, call } = await operatorRoutes(overrides);
  try {
    assert.equal((await call('POST', '/admin/detect/verdicts', { kind: 'account', id: organic[0], level: 'suspend', note: 'case 9' }, 'alice')).status, 201);
    assert.equal((await call('POST', '/admin/detect/allow', { org: 'org_partner', note: 'evaluation partner' }, 'alice')).status, 201);
    // Cleared with a reason in the body, and in the query string.
    assert.equal((await call('DELETE', '/admin/detect/verdicts', { kind: 'account', id: organic[0], reason: 'false positive: a teacher' }, "UTF-8''dashboard%3A%C5%81ukasz")).status, 204);
    assert.equal((await call('DELETE', `/admin/detect/allow?org=org_partner&reason=${encodeURIComponent('contract ended')}`, undefined, 'cli:bob')).status, 204);
    const bad = await call('DELETE', '/admin/detect/allow', { account: organic[1], reason: 'x\u001b[2K' }, 'cli:bob');
    assert.equal(bad.status, 400, 'a reason follows the note\'s rule');
    assert.equal(bad.body.error.param, 'reason');

    const changes = (await call('GET', '/admin/detect/changes')).body.data;
    assert.deepEqual(changes.map((c: { action: string; kind: string; subject: string; level: string | null; note: string | null; by: string | null }) => [c.action, c.kind, c.subject, c.level, c.note, c.by]), [
      ['clear', 'allow_org', 'org_partner', null, 'contract ended', 'cli:bob'],
      ['clear', 'verdict_account', organic[0], 'suspend', 'false positive: a teacher', 'dashboard:Łukasz'],
      ['set', 'allow_org', 'org_partner', null, 'evaluation partner', 'alice'],
      ['set', 'verdict_account', organic[0], 'suspend', 'case 9', 'alice'],
    ], 'the change log names who cleared each and why, newest first');
    // The ledger records the clearing as it recorded the setting: who, why, and the level cleared.
    const cleared = emitted.at(-1)!;
    const prepared = prepareVerdict(cleared);
    const record = prepared.record as VerdictRecord;
    assert.equal(record.subject.id, organic[0]);
    assert.equal(record.level, engine.forAccount(organic[0]).level, 'the level now in force');
    const reason = record.reasons[0] as { signal: string; value: unknown; detail: unknown; by: unknown };
    assert.deepEqual([reason.signal, reason.value], ['operator_verdict_cleared', 'suspend'], 'the ledger record says the level cleared');
    assert.ok(typeof reason.detail === 'string' && /^[0-9a-f]{64}$/.test(reason.detail) && typeof reason.by === 'string' && /^[0-9a-f]{64}$/.test(reason.by),
      `why and who are commitments in the leaf, not clear text: ${JSON.stringify(reason)}`);
    assert.deepEqual([prepared.openings.operator_note?.value, prepared.openings.operator?.value], ['false positive: a teacher', 'dashboard:Łukasz'],
      'the ledger keeps why and who, to be opened by the audit query');
  } finally {
    await app.close();
    db.close();
  }
});

test('a cluster verdict reaches members with a milder operator verdict of their own; the allow-list exempts, and the answer names whom', async () => {
  const { engine, app, call } = await operatorRoutes();
  try {
    const cluster = engine.forAccount(hydra[0]).clusterId!;
    const members = hydra.filter((id) => engine.forAccount(id).clusterId === cluster);
    const detectorLevel = engine.cluster(cluster)!.level;
    assert.ok(members.length >= 4 && verdictRank(detectorLevel) > verdictRank('watch'), `the campaign is one cluster the detector holds above watch (${detectorLevel})`);
    const [singled, watched, partner] = members;

    // An operator's first look at one member, then a suspension of the whole campaign: it reaches that member too.
    assert.equal((await call('POST', '/admin/detect/verdicts', { kind: 'account', id: singled, level: 'shape', note: 'first look' })).status, 201);
    const fleet = await call('POST', '/admin/detect/verdicts', { kind: 'cluster', id: cluster, level: 'suspend', note: 'whole fleet' });
    assert.equal(fleet.status, 201, JSON.stringify(fleet.body));
    assert.deepEqual(fleet.body.not_reached, [], 'no member is exempt');
    assert.equal(engine.forAccount(singled).level, 'suspend', 'the member with its own milder verdict is suspended with its cluster');
    let view = (await call('GET', `/admin/detect/accounts/${singled}`)).body;
    assert.equal(view.level, 'suspend');
    assert.equal(view.verdict.subject.id, cluster, 'the cluster verdict is the one in force');
    assert.deepEqual(view.precedence.decided_by, { source: 'operator_cluster', subject: { kind: 'cluster', id: cluster }, level: 'suspend' }, 'it says what decided');
    assert.ok(view.precedence.outranked.some((v: any) => v.source === 'operator_account' && v.level === 'shape' && v.why === 'less_severe'), `it says the account verdict was outranked: ${JSON.stringify(view.precedence)}`);
    assert.ok(view.precedence.outranked.some((v: any) => v.source === 'detector_cluster' && v.why === 'replaced'), 'and that the operator replaced the detector\'s cluster verdict');
    assert.match(view.precedence.summary, /^suspend: decided by the operator's verdict on cluster \S+ \(suspend\); outranked: the operator's verdict on the account \(shape\), less severe/);

    // Without the operator's cluster verdict, the detector's still holds the member: an operator's
    // milder account verdict does not freeze it below what its cluster reaches.
    assert.equal((await call('DELETE', `/admin/detect/verdicts?kind=cluster&id=${cluster}`)).status, 204);
    assert.equal((await call('POST', '/admin/detect/verdicts', { kind: 'account', id: watched, level: 'watch', note: 'keep an eye' })).status, 201);
    assert.equal(engine.forAccount(watched).level, detectorLevel, 'held at its cluster\'s detector level, not at the operator\'s watch');
    view = (await call('GET', `/admin/detect/accounts/${watched}`)).body;
    assert.equal(view.precedence.decided_by.source, 'detector_cluster');
    assert.ok(view.precedence.outranked.some((v: any) => v.source === 'operator_account' && v.level === 'watch' && v.why === 'less_severe'), JSON.stringify(view.precedence));

    // The allow-list is the exemption: a cluster verdict set afterwards says whom it does not reach.
    assert.equal((await call('POST', '/admin/detect/allow', { account: partner, note: 'evaluation partner' })).status, 201);
    const again = await call('POST', '/admin/detect/verdicts', { kind: 'cluster', id: cluster, level: 'suspend', note: 'whole fleet' });
    assert.deepEqual(again.body.not_reached, [{ account: partner, exempt_by: { kind: 'account', id: partner } }], 'the answer names the allow-listed member');
    assert.equal(engine.forAccount(partner).level, 'none');
    assert.equal(engine.forAccount(watched).level, 'suspend');
    view = (await call('GET', `/admin/detect/accounts/${partner}`)).body;
    assert.equal(view.precedence.decided_by.source, 'allow_list');
    assert.ok(view.precedence.outranked.every((v: any) => v.why === 'allow_listed') && view.precedence.outranked.some((v: any) => v.source === 'operator_cluster'), JSON.stringify(view.precedence));
    const onPartner = await call('POST', '/admin/detect/verdicts', { kind: 'account', id: partner, level: 'verify' });
    assert.deepEqual(onPartner.body.not_reached, [{ account: partner, exempt_by: { kind: 'account', id: partner } }], 'an account verdict on an allow-listed account says it does not reach it');
  } finally {
    await app.close();
  }
});

test('a verify verdict on an account already identity verified is answered with a warning that it will not refuse it', async () => {
  const { engine, app, call } = await operatorRoutes();
  try {
    const tierOf = (id: string) => scenario.events.findLast((e) => e.account_id === id)?.account?.tier;
    const verified = organic.find((id) => tierOf(id) === 'identity_verified' || tierOf(id) === 'enterprise');
    const unverified = organic.find((id) => tierOf(id) === 'email_verified' || tierOf(id) === 'unverified');
    assert.ok(verified && unverified, 'the scenario has both kinds of account');
    assert.equal(engine.accountTier(verified), tierOf(verified), 'the detector knows its tier');
    const set = await call('POST', '/admin/detect/verdicts', { kind: 'account', id: verified, level: 'verify', note: 'Require KYC before more agent traffic' }, 'dashboard:Op Bob');
    assert.equal(set.status, 201);
    assert.equal(set.body.not_enforced?.[0]?.account, verified, 'the answer warns that verify does not refuse this account');
    assert.match(set.body.not_enforced[0].detail, /verify: account is (identity_verified|enterprise).*suspend/, 'saying why and what would');
    const other = await call('POST', '/admin/detect/verdicts', { kind: 'account', id: unverified, level: 'verify', note: 'KYC' });
    assert.equal(other.body.not_enforced, undefined, 'no warning where verify refuses');
    const suspend = await call('POST', '/admin/detect/verdicts', { kind: 'account', id: verified, level: 'suspend', note: 'KYC refused' });
    assert.equal(suspend.body.not_enforced, undefined, 'no warning for another level');
  } finally { await app.close(); }
});
