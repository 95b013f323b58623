// An evaluation partner's organisation is allow-listed after its benchmark harness was flagged.
// The entry must cover the accounts the operator decided about, not an account someone adds to the
// organisation afterwards (a leaked admin action, a new "runner" created by an attacker), unless the
// operator asks for that; and an entry made for a time lapses by itself, saying so.
import test from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { mountAdminRoutes } from '../admin/router.ts';
import { DetectorEngine, MemoryDetectOverridesStore, applyOverrides, detectAdminRoutes } from './index.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const ORG = 'org_evalco';
let n = 0;
const request = (account: string, org: string | null = ORG) => sampleEvent(n++, { account_id: account, org_id: org });

async function server(engine: DetectorEngine, orgMembers: Map<string, string[]>) {
  const overrides = new MemoryDetectOverridesStore();
  const app = Fastify();
  mountAdminRoutes(app, [detectAdminRoutes(engine, {
    prefix: '/admin/detect', overrides,
    exists: async () => true,
    orgAccounts: async (org) => orgMembers.get(org) ?? [],
  })], { validateResponses: true });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, { method, headers: body ? { 'content-type': 'application/json', 'x-warden-actor': 'cli:oncall' } : { 'x-warden-actor': 'cli:oncall' }, body: body ? JSON.stringify(body) : undefined });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return { status: res.status, body: (res.status === 204 ? null : await res.json()) as any };
  };
  return { app, call, overrides };
}

test('an org allow-list entry covers the accounts the org held when it was made, not accounts added later, unless asked', async () => {
  const engine = new DetectorEngine({ config: {} });
  // Two runners have been seen; a third exists in identity but has not sent a request yet.
  engine.ingest(request('acct_runner1'));
  engine.ingest(request('acct_runner2'));
  const members = new Map([[ORG, ['acct_runner1', 'acct_runner2', 'acct_runner3']]]);
  const { app, call, overrides } = await server(engine, members);
  try {
    for (const a of ['acct_runner1', 'acct_runner2', 'acct_runner3', 'acct_added_later', 'acct_moved_in']) {
      engine.setManualVerdict({ kind: 'account', id: a }, 'shape', 'harness traffic under review');
    }
    const added = await call('POST', '/admin/detect/allow', { org: ORG, note: 'EvalCo benchmark harness, ticket T-4411' });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.deepEqual(added.body.covers, { accounts: ['acct_runner1', 'acct_runner2', 'acct_runner3'], new_accounts: false, expires_at: null },
      `the answer says which accounts the entry covers: ${JSON.stringify(added.body.covers)}`);
    assert.equal(engine.forAccount('acct_runner1').level, 'none', 'a runner seen before the decision is exempt');
    engine.ingest(request('acct_runner3'));
    assert.equal(engine.forAccount('acct_runner3').level, 'none', 'a runner the org held (not yet seen) is exempt from its first request');

    // After the decision: an account created in the org, and one moved into it.
    engine.ingest(request('acct_added_later'));
    engine.ingest(request('acct_moved_in', null));
    engine.ingest(request('acct_moved_in'));
    for (const a of ['acct_added_later', 'acct_moved_in']) {
      assert.equal(engine.forAccount(a).level, 'shape', `${a}, added to the org after the decision, is not covered (got ${engine.forAccount(a).level})`);
      assert.equal(engine.exemption(a), null, `no exemption is named for ${a}`);
    }
    const listed = (await call('GET', '/admin/detect/allow')).body;
    const entry = listed.entries.find((e: { id: string }) => e.id === ORG);
    assert.ok(entry && entry.new_accounts === false && entry.accounts.length === 3, `the listing says what the entry covers: ${JSON.stringify(entry)}`);

    // Kept across a restart.
    const rebuilt = new DetectorEngine({ config: {} });
    await applyOverrides(rebuilt, overrides);
    rebuilt.ingest(request('acct_runner2'));
    rebuilt.ingest(request('acct_added_later'));
    assert.equal(rebuilt.forAccount('acct_runner2').level, 'none', 'a covered runner stays exempt after a restart');
    assert.equal(rebuilt.exemption('acct_added_later'), null, 'an account added later stays uncovered after a restart');

    // The operator asks for later accounts too.
    const all = await call('POST', '/admin/detect/allow', { org: ORG, note: 'whole org, contract signed', new_accounts: true });
    assert.equal(all.status, 201);
    assert.deepEqual(all.body.covers, { accounts: null, new_accounts: true, expires_at: null }, JSON.stringify(all.body.covers));
    assert.equal(engine.forAccount('acct_added_later').level, 'none', 'with new_accounts, an account added later is covered');
    assert.equal((await call('POST', '/admin/detect/allow', { account: 'acct_runner1', new_accounts: true })).status, 400, 'new_accounts is for an org entry');
  } finally {
    await app.close();
  }
});

test('an allow-list entry set for a time lapses by itself, and the change log and listing say so', async () => {
  const engine = new DetectorEngine({ config: {} });
  engine.ingest(request('acct_runner1'));
  engine.setManualVerdict({ kind: 'account', id: 'acct_runner1' }, 'throttle', 'review');
  const { app, call } = await server(engine, new Map([[ORG, ['acct_runner1']]]));
  const lapses: unknown[] = [];
  engine.onAllowListChange((c) => { if (c.lapsed) lapses.push(c); });
  try {
    // Five seconds: the checks while the entry runs are HTTP calls a loaded machine can make slow.
    const until = new Date(Date.now() + 5000).toISOString();
    const added = await call('POST', '/admin/detect/allow', { org: ORG, note: 'trial week', expires_at: until });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.equal(added.body.covers.expires_at, until, 'the answer says until when');
    assert.equal(engine.forAccount('acct_runner1').level, 'none', 'exempt while the entry runs');
    assert.equal((await call('GET', '/admin/detect/allow')).body.entries[0].expires_at, until, 'the listing says until when');
    assert.equal((await call('POST', '/admin/detect/allow', { org: ORG, expires_at: '2020-01-01T00:00:00Z' })).status, 400, 'an expiry in the past is refused');

    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(until) - Date.now()) + 150));
    assert.equal(engine.forAccount('acct_runner1').level, 'throttle', 'the entry lapsed: the operator verdict applies again');
    assert.equal(lapses.length, 1, `the lapse is told once to the listeners (the ledger records it): ${JSON.stringify(lapses)}`);
    const listed = (await call('GET', '/admin/detect/allow')).body;
    assert.deepEqual([listed.orgs, listed.entries], [[], []], `a lapsed entry is not listed: ${JSON.stringify(listed)}`);
    const changes = (await call('GET', '/admin/detect/changes')).body.data;
    assert.equal(changes[0].action, 'clear', `the change log records the lapse: ${JSON.stringify(changes[0])}`);
    assert.match(changes[0].note, /lapsed/, 'and says why');
  } finally {
    await app.close();
  }
});

test('an allow-listed account is not charged its cluster\'s shared budget; the other members still are', async () => {
  const { budgetClusterOf } = await import('./verdict.ts');
  const engine = new DetectorEngine({ config: {} });
  // Two benchmark runners of one org, linked into one cluster by their declared org.
  for (let i = 0; i < 40; i++) engine.ingest(request(i % 2 ? 'acct_runner1' : 'acct_runner2'));
  engine.flush();
  const cluster = engine.forAccount('acct_runner1').clusterId;
  assert.ok(cluster && engine.forAccount('acct_runner2').clusterId === cluster, `the runners are one cluster (${cluster})`);
  assert.equal(budgetClusterOf(engine.forAccount('acct_runner1')), cluster, 'before the decision both share the cluster budget');

  engine.allow({ account: 'acct_runner1' });
  assert.equal(budgetClusterOf(engine.forAccount('acct_runner1')), null, 'the allow-listed runner is not charged the cluster budget');
  assert.equal(budgetClusterOf(engine.forAccount('acct_runner2')), cluster, 'a member not on the allow-list still is');
  engine.disallow({ account: 'acct_runner1' });
  assert.equal(budgetClusterOf(engine.forAccount('acct_runner1')), cluster, 'removed from the allow-list, it is charged again');
});
