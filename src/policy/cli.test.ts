import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPolicyCli } from './cli.ts';

function io() {
  const o = { out: '', err: '' };
  return { o, io: { stdout: (s: string) => { o.out += s; }, stderr: (s: string) => { o.err += s; }, env: {} } };
}
const fx = (name: string) => new URL(`../../test/fixtures/policy/${name}`, import.meta.url).pathname;

test('policy check: valid default, invalid file with path and message', async () => {
  let t = io();
  assert.equal(await runPolicyCli(['check'], t.io), 0);
  assert.match(t.o.out, /default\.yaml: valid \(\d+ rules/);
  t = io();
  assert.equal(await runPolicyCli(['check', fx('bad-policy-unknown-key.yaml')], t.io), 1);
  assert.match(t.o.err, /tiers\.unverified: Unrecognized key: "max_token_ceiling"/);
});

test('policy explain: decision and reasons for one request', async () => {
  let t = io();
  assert.equal(await runPolicyCli(['explain', '--tier', 'unverified', '--ip', '8.8.8.8'], t.io), 1);
  assert.match(t.o.out, /country US, ASN 15169 \(Google LLC\), hosting:AS15169 Google/);
  assert.match(t.o.out, /refused: verify by rule:hosting-needs-verified/);
  t = io();
  assert.equal(await runPolicyCli(['explain', '--tier', 'identity_verified', '--verdict', 'shape', '--json'], t.io), 0);
  assert.equal(JSON.parse(t.o.out).capabilities.reasoning, 'none');
  t = io();
  assert.equal(await runPolicyCli(['explain', '--tier', 'gold'], t.io), 2);
  assert.match(t.o.err, /--tier must be one of/);
});

test('policy screen: findings for one applicant', async () => {
  const t = io();
  assert.equal(await runPolicyCli(['screen', '--email', 'x@mailinator.com', '--name', 'Jane Doe'], t.io), 1);
  assert.match(t.o.out, /decision: review/);
  assert.match(t.o.out, /\[review\] disposable_email/);
  assert.equal(await runPolicyCli(['nope'], io().io), 2);
});

test('policy screen: an --ip that is not an IP address is a usage error, as for explain, not "allow"', async () => {
  for (const cmd of [['screen', '--email', 'a@b.example'], ['explain', '--tier', 'email_verified']]) {
    const t = io();
    assert.equal(await runPolicyCli([...cmd, '--ip', 'nope'], t.io), 2, cmd[0]);
    assert.doesNotMatch(t.o.out, /decision: allow/);
    assert.match(t.o.err, /--ip "nope" is not an IP address/);
    const empty = io();
    assert.equal(await runPolicyCli([...cmd, '--ip', ''], empty.io), 2, `${cmd[0]} --ip ''`);
    assert.doesNotMatch(empty.o.out, /decision: allow/);
    assert.match(empty.o.err, /--ip "" is not an IP address/);
  }
});
