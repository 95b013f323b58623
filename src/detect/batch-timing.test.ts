// Requests that Warden itself sent for a Message Batch (`client.batch_id` on the event) run at the
// batch runner's pace, not the customer's: they must not read as a pipeline's machine timing, nor
// as activity synchronised with the other customers whose batches run in the same minutes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetectorEngine } from './index.ts';
import { accountEvent } from '../../test/helpers/detect-fixtures.ts';

const T0 = Date.parse('2026-05-04T00:00:00.000Z');

const event = (account: string, ms: number, ip: string, batchId: string | null) => accountEvent(T0, account, ms, ip, { batchId });

/** Three unrelated customers, each request every 5 minutes within seconds of the others', as a batch runner would send them. */
function run(marked: boolean): DetectorEngine {
  const e = new DetectorEngine();
  const customers = [['acct_a', '81.2.69.10'], ['acct_b', '92.1.5.7'], ['acct_c', '100.3.3.3']] as const;
  for (let k = 0; k < 30; k++) {
    customers.forEach(([id, ip], c) => e.ingest(event(id, k * 300_000 + c * 2000, ip, marked ? `msgbatch_${id}` : null)));
  }
  e.advance(T0 + 7 * 3_600_000); // past the synchrony epoch
  return e;
}

const timing = (e: DetectorEngine, id: string) => e.accountIndicators(id).filter((x) => x.signal === 'timing_regularity');

test('batch-run requests carry no timing evidence (regularity, synchrony); the same requests sent by the customers do', () => {
  const sent = run(false);
  for (const id of ['acct_a', 'acct_b', 'acct_c']) {
    assert.equal(timing(sent, id).length, 1, `${id}: machine timing read from its own requests`);
    assert.ok(timing(sent, id)[0].value > 0.9);
  }
  const batched = run(true);
  for (const id of ['acct_a', 'acct_b', 'acct_c']) assert.deepEqual(timing(batched, id), [], id);
  // still followed as active accounts (their requests count; only their timing does not)
  for (const id of ['acct_a', 'acct_b', 'acct_c']) assert.deepEqual(batched.clusterMembers(id), [id], id);
});
