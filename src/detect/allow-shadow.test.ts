// A partner's organisation is allow-listed while its accounts run a harness the detector flags.
// The operator must still see what the detector would decide without the entry: on an account's
// page (level, the verdict that would decide, its signals, values and thresholds, the cluster) and
// for the whole entry (which of its accounts would be flagged, at what level), to renew the entry
// or let it lapse. The allow-list verdict itself names the entry, its note, who made it and when.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { mountAdminRoutes } from '../admin/router.ts';
import { DetectorEngine, MemoryDetectOverridesStore, applyOverrides, buildLabelledEvents, detectAdminRoutes, type PromptPool } from './index.ts';
import { runDetectCli } from '../cli/detect-cmd.ts';

const ORG = 'org_partner';

/** A small hydra whose 12 accounts are in the partner's org, among hobbyists. */
function partnerFixture() {
  const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
  const scenario = buildLabelledEvents(pool, { seed: 5, days: 2, organic: { hobbyist: 10 }, campaigns: [{ kind: 'hydra', accounts: 12 }] });
  const harness = new Set(scenario.labels.campaigns.camp_hydra_1.accounts);
  const organic = Object.keys(scenario.labels.accounts).filter((a) => !harness.has(a)).sort()[0];
  const engine = new DetectorEngine();
  for (const ev of scenario.events) engine.ingest(harness.has(ev.account_id!) ? { ...ev, org_id: ORG } : ev);
  engine.flush();
  return { engine, harness: [...harness].sort(), organic };
}

test('an allow-listed account shows its entry, and what the detector would decide without it (API, CLI, whole entry)', async () => {
  const { engine, harness, organic } = partnerFixture();
  const member = harness[0];
  const before = engine.forAccount(member);
  assert.ok(before.level !== 'none' && before.clusterId, `the harness is flagged before the entry (got ${before.level})`);
  const overrides = new MemoryDetectOverridesStore();
  const app = Fastify();
  mountAdminRoutes(app, [detectAdminRoutes(engine, { prefix: '/admin/detect', overrides, exists: async () => true })], { validateResponses: true });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, { method, headers: { 'x-warden-actor': 'cli:oncall', ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return { status: res.status, body: (res.status === 204 ? null : await res.json()) as any };
  };
  const cli = async (...argv: string[]) => {
    let out = ''; let err = '';
    const code = await runDetectCli([...argv, '--url', base, '--token', 'not-checked-here'], { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; }, env: {} });
    return { code, out, err };
  };
  try {
    const plain = await call('GET', `/admin/detect/accounts/${member}`);
    assert.equal(plain.body.shadow, null, 'an account no entry exempts has no shadow verdict');

    const until = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const added = await call('POST', '/admin/detect/allow', { org: ORG, note: 'EvalCo harness, ticket T-77', expires_at: until });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const createdAt = (await call('GET', '/admin/detect/allow')).body.entries[0].created_at;

    // The account's page: the allow-list verdict names its entry; the shadow says what would apply.
    const view = (await call('GET', `/admin/detect/accounts/${member}`)).body;
    assert.equal(view.level, 'none', 'the entry exempts the account');
    const reason = view.verdict.reasons[0];
    assert.equal(reason.value, `org:${ORG}`, `the verdict names the entry that exempts it: ${JSON.stringify(reason)}`);
    assert.match(reason.detail, /organisation org_partner.*EvalCo harness, ticket T-77/, `the detail names the org's entry and its note, not a generic text: ${reason.detail}`);
    assert.equal(reason.by, 'cli:oncall', 'and who made it');
    assert.equal(view.verdict.since, createdAt, `since is when the entry was made, not the latest event time (${view.verdict.since} vs ${createdAt})`);
    assert.equal(view.verdict.expires_at, until, 'and it says when the entry lapses');
    const shadow = view.shadow;
    assert.ok(shadow, 'an allow-listed account has a shadow verdict');
    assert.deepEqual(shadow.exempt_by, { kind: 'org', id: ORG }, 'naming the entry');
    assert.equal(shadow.level, before.level, `without the entry it would be held where it was before (${before.level}), got ${shadow.level}`);
    assert.equal(shadow.cluster?.id, before.clusterId, 'its cluster is named');
    assert.equal(shadow.precedence.decided_by?.source, 'detector_cluster', `the detector's cluster verdict would decide: ${shadow.precedence.summary}`);
    assert.ok(shadow.verdict.reasons.some((r: { signal: string; threshold: unknown }) => r.signal === 'cluster_score' && typeof r.threshold === 'number'),
      `the shadow verdict carries its signals with values and thresholds: ${JSON.stringify(shadow.verdict.reasons.slice(0, 2))}`);

    const shown = await cli('account', member);
    assert.equal(shown.code, 0, shown.err);
    assert.match(shown.out, new RegExp(`without the allow-list \\(org ${ORG}'s entry\\): ${before.level}: decided by`), `warden detect account says what would apply:\n${shown.out.slice(0, 600)}`);
    assert.match(shown.out, /cluster_score/, 'with the signals of the verdict that would apply');

    // The whole entry: which of its accounts would be flagged, at what level.
    const one = await call('GET', `/admin/detect/allow/shadow?org=${ORG}`);
    assert.equal(one.status, 200, JSON.stringify(one.body));
    const entry = one.body.data[0];
    assert.equal(entry.covered, harness.length, `the entry covers the org's accounts the detector holds: ${entry.covered}`);
    assert.equal(entry.levels[before.level], harness.length, `every harness account would be at ${before.level}: ${JSON.stringify(entry.levels)}`);
    assert.equal(entry.highest, before.level);
    assert.deepEqual(entry.accounts.map((a: { account_id: string }) => a.account_id).sort(), harness, 'the accounts listed are those that would be flagged');
    assert.ok(entry.accounts.every((a: { decided_by: string; cluster_id: string }) => a.decided_by === 'detector_cluster' && a.cluster_id === before.clusterId), 'each with the verdict that would decide and its cluster');
    assert.deepEqual([entry.expires_at, entry.note, entry.by, entry.created_at], [until, 'EvalCo harness, ticket T-77', 'cli:oncall', createdAt], 'with the entry\'s expiry, note, operator and time');
    assert.equal((await call('GET', '/admin/detect/allow/shadow?org=org_other')).status, 404, 'an org not on the allow-list is a 404');
    assert.equal((await call('GET', '/admin/detect/allow/shadow?limit=3')).body.data[0].accounts.length, 3, 'the listing is bounded by limit');
    assert.equal((await call('POST', '/admin/detect/allow', { account: organic, note: 'customer' })).status, 201);
    const customer = (await call('GET', `/admin/detect/allow/shadow?account=${organic}`)).body.data[0];
    assert.deepEqual([customer.covered, customer.levels.none, customer.highest, customer.accounts], [1, 1, 'none', []], `an entry whose account would not be flagged lists none: ${JSON.stringify(customer)}`);
    assert.equal((await call('GET', `/admin/detect/accounts/${organic}`)).body.shadow.level, 'none', 'and its shadow verdict is none');

    const listed = await cli('allow', '--shadow', '--org', ORG);
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, new RegExp(`org ${ORG}: added .* by cli:oncall, until ${until}`), `warden detect allow --shadow names the entry and its expiry:\n${listed.out.slice(0, 400)}`);
    assert.match(listed.out, new RegExp(`without the entry: ${harness.length} at ${before.level}`), 'and how many accounts would be flagged at which level');
    assert.ok(harness.every((a) => listed.out.includes(a)), 'listing each of them');

    // Put back from the store after a restart: the verdict still names when the entry was made, and by whom.
    const rebuilt = new DetectorEngine();
    await applyOverrides(rebuilt, overrides);
    const stored = (await call('GET', '/admin/detect/allow')).body.entries.find((e: { id: string }) => e.id === organic);
    const restored = rebuilt.forAccount(organic).verdict;
    assert.deepEqual([restored?.since, restored?.reasons[0].value, restored?.reasons[0].by], [stored.created_at, `account:${organic}`, 'cli:oncall'],
      `an entry put back at start keeps its time and operator: ${JSON.stringify(restored)}`);
    assert.deepEqual(rebuilt.allowShadow({ org: ORG })[0].unseen, harness, 'accounts an org entry names that the detector has not seen yet are listed as such');
  } finally {
    await app.close();
  }
});
