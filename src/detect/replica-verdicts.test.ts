// What a worker publishes for replicas names every cluster verdict under the cluster it holds now:
// a verdict an operator set on a cluster that has since merged into another is found by the
// replicas under the live cluster's id, as the worker finds it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DetectorEngine, buildLabelledEvents, type PromptPool } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;

test('a cluster verdict set on a merged-away id is published under the live cluster, so replicas enforce and explain it', () => {
  const scenario = buildLabelledEvents(pool, { seed: 11, days: 2, organic: { hobbyist: 30, startup: 2, researcher: 1, batch: 1, agent: 1, class: 1 }, campaigns: [{ kind: 'hydra', accounts: 40 }] });
  const endMs = Date.parse(scenario.events.at(-1)!.ts);
  const e = new DetectorEngine();
  for (const ev of scenario.events) e.ingest(ev);
  e.flush();
  const member = 'acct_000031';
  const hydra = e.forAccount('acct_000080').clusterId;
  const other = e.forAccount(member).clusterId;
  assert.ok(hydra && other && hydra !== other, `two clusters to start with: ${hydra}, ${other}`);
  e.setManualVerdict({ kind: 'cluster', id: hydra }, 'suspend', 'case a', undefined, null, 'alice');
  e.setManualVerdict({ kind: 'cluster', id: other }, 'throttle', 'case b', undefined, null, 'bob');
  // An account that sends as one of the hydra's and from the other's organisation links the two.
  const bridge = scenario.events.filter((x) => x.account_id === 'acct_000080').slice(-12)
    .map((x, n) => ({ ...x, id: `${x.id}-bridge`, account_id: 'acct_bridge', org_id: 'org_s0', key_id: 'key_bridge', ts: new Date(endMs + (n + 1) * 60_000).toISOString() }) as InteractionEvent);
  for (const ev of bridge) e.ingest(ev);
  e.flush();
  const merged = e.forAccount(member).clusterId!;
  // Lowered on the live cluster, the verdict kept from the merged-away side is the one in force.
  e.setManualVerdict({ kind: 'cluster', id: merged }, 'watch', 'lowered', undefined, null, 'carol');
  const worker = e.forAccount(member);
  const { accounts, clusters } = e.effectiveVerdicts();
  const shared = accounts.get(member);
  assert.ok(shared?.fromCluster, `published as a cluster verdict: ${JSON.stringify(shared)}`);
  const replicaVerdict = clusters.get(shared.clusterId!) ?? null;
  assert.ok(replicaVerdict, `a replica finds the verdict in force under ${shared.clusterId} (published: ${[...clusters.keys()].join(', ')})`);
  assert.equal(replicaVerdict.level, worker.level, 'at the level the worker enforces');
});

test('a cluster verdict names the members an operator\'s `none` keeps it from (not_reached), as it names allow-listed ones', () => {
  const scenario = buildLabelledEvents(pool, { seed: 11, days: 2, organic: { hobbyist: 30, startup: 2, researcher: 1, batch: 1, agent: 1, class: 1 }, campaigns: [{ kind: 'hydra', accounts: 40 }] });
  const hydra = Object.entries(scenario.labels.accounts).filter(([, l]) => l.startsWith('campaign:')).map(([id]) => id);
  const e = new DetectorEngine();
  for (const ev of scenario.events) e.ingest(ev);
  e.flush();
  const cluster = e.forAccount(hydra[3]).clusterId!;
  assert.ok(cluster, 'the campaign is one cluster');
  e.setManualVerdict({ kind: 'account', id: hydra[3] }, 'none', 'cleared earlier');
  e.setManualVerdict({ kind: 'cluster', id: cluster }, 'suspend', 'campaign confirmed');
  assert.equal(e.forAccount(hydra[4]).level, 'suspend', 'the cluster is suspended');
  assert.equal(e.forAccount(hydra[3]).level, 'none', 'the member the operator cleared is still served');
  assert.deepEqual(e.clusterExemptions(cluster), [{ account: hydra[3], exempt_by: { kind: 'operator_none', id: hydra[3] } }], 'and the verdict says it does not reach it');
});
