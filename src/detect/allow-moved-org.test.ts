// Support puts a customer's accounts into its organisation and allow-lists the organisation: the
// allow-list reaches every account the org holds now, not only those that were in it when the
// detector first saw them, and stops reaching an account moved out.
import test from 'node:test';
import assert from 'node:assert/strict';
import { DetectorEngine } from './index.ts';
import { sampleEvent } from '../../test/helpers/synthetic-events.ts';

const ACCOUNT = 'acct_new_hire';
let n = 0;
const request = (org: string | null) => sampleEvent(n++, { account_id: ACCOUNT, org_id: org });

test('an org allow-list entry reaches an account moved into the org, before or after the entry, and no longer one moved out', () => {
  const engine = new DetectorEngine({ config: {} });
  engine.ingest(request(null));
  engine.setManualVerdict({ kind: 'account', id: ACCOUNT }, 'suspend', 'shared the company card with a flagged cluster');
  assert.equal(engine.forAccount(ACCOUNT).level, 'suspend', 'held by the operator verdict');

  // Moved into the org, then the org allow-listed.
  engine.ingest(request('org_acme'));
  engine.allow({ org: 'org_acme' });
  assert.equal(engine.forAccount(ACCOUNT).level, 'none', 'the org entry reaches the account the org holds now');
  assert.deepEqual(engine.exemption(ACCOUNT), { kind: 'org', id: 'org_acme' }, 'the exemption names the org');

  // Moved out again: the entry no longer reaches it.
  engine.ingest(request(null));
  assert.equal(engine.forAccount(ACCOUNT).level, 'suspend', 'an account moved out of the org is not exempt');

  // The org's entry removed, the account moved back, then the entry added again.
  engine.disallow({ org: 'org_acme' });
  engine.ingest(request('org_acme'));
  assert.equal(engine.forAccount(ACCOUNT).level, 'suspend', 'no entry, no exemption');
  engine.allow({ org: 'org_acme' });
  assert.equal(engine.forAccount(ACCOUNT).level, 'none', 'the entry added after the move reaches it');
  engine.disallow({ org: 'org_acme' });
  assert.equal(engine.forAccount(ACCOUNT).level, 'suspend', 'removing the entry reaches it too');
});

test('an account first seen in an allow-listed org and moved out loses the exemption', () => {
  const engine = new DetectorEngine({ config: {} });
  engine.allow({ org: 'org_partner' });
  engine.ingest(sampleEvent(0, { account_id: 'acct_left', org_id: 'org_partner' }));
  engine.setManualVerdict({ kind: 'account', id: 'acct_left' }, 'throttle', 'review');
  assert.equal(engine.forAccount('acct_left').level, 'none', 'exempt while in the org');
  engine.ingest(sampleEvent(1, { account_id: 'acct_left', org_id: 'org_other' }));
  assert.equal(engine.forAccount('acct_left').level, 'throttle', 'moved to another org, it is not exempt');
  assert.equal(engine.exemption('acct_left'), null, 'no exemption is named');
});
