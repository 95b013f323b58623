import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetectorEngine } from './index.ts';
import { accountEvent } from '../../test/helpers/detect-fixtures.ts';

// A deletion request in the detector: what was derived from the account's personal data (its link
// keys: hashes of its card, addresses, agent) goes; an account linked to nobody, without a verdict,
// is forgotten whole; a linked one keeps its cluster and verdict. A second erase changes nothing.

const T0 = Date.parse('2026-05-04T08:00:00.000Z');

const event = (account: string, ms: number, ip: string, card?: string) => accountEvent(T0, account, ms, ip, { card });

function engine(): DetectorEngine {
  const e = new DetectorEngine();
  for (const id of ['acct_pair_a', 'acct_pair_b']) for (let k = 0; k < 3; k++) e.ingest(event(id, k * 60_000, '81.2.69.10', 'card-shared'));
  for (let k = 0; k < 3; k++) e.ingest(event('acct_alone', k * 60_000, '81.2.70.1'));
  e.flush();
  return e;
}

test('erasing an account in the detector: link keys go, a lone account is forgotten, a linked one keeps its cluster', () => {
  const e = engine();
  const cluster = e.forAccount('acct_pair_a').clusterId;
  assert.ok(cluster && cluster === e.forAccount('acct_pair_b').clusterId, 'the pair is linked');
  const before = e.stats();

  const alone = e.eraseAccount('acct_alone');
  assert.ok(alone && alone.forgotten && alone.linkKeys > 0, `the lone account is forgotten with its keys: ${JSON.stringify(alone)}`);
  assert.equal(e.stats().accounts, before.accounts - 1, 'it is no longer held');
  assert.equal(e.accountIndicators('acct_alone').length, 0, 'no window left');

  const a = e.eraseAccount('acct_pair_a');
  assert.ok(a && !a.forgotten && a.linkKeys > 0, `a linked account keeps its place, without keys: ${JSON.stringify(a)}`);
  assert.equal(e.forAccount('acct_pair_a').clusterId, cluster, 'its cluster stays (a campaign member is not released)');
  assert.ok(e.stats().linkKeys < before.linkKeys - alone.linkKeys, `its own keys are gone: ${e.stats().linkKeys} < ${before.linkKeys - alone.linkKeys}`);
  assert.ok(e.accountLink('acct_pair_a'), 'the record of why it was linked (kinds and weights, no values) stays');

  const keysNow = e.stats().linkKeys;
  assert.deepEqual(e.eraseAccount('acct_pair_a'), { linkKeys: 0, pairs: 0, forgotten: false }, 'a second erase changes nothing');
  assert.equal(e.eraseAccount('acct_alone'), null, 'a forgotten account is unknown');
  assert.equal(e.stats().linkKeys, keysNow, 'nothing else changed');

  // The snapshot's state is the erased one.
  const copy = new DetectorEngine();
  copy.restoreState(e.snapshotState());
  assert.equal(copy.stats().linkKeys, keysNow, 'a snapshot restores the engine without the erased keys');
  assert.equal(copy.forAccount('acct_pair_a').clusterId, cluster, 'and with the cluster');
});
