import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetectorEngine, verdictRank } from './index.ts';
import { T0, customers, placeSender, type PlaceSender } from '../../test/helpers/place-fixtures.ts';

/**
 * One lab's researchers, new and unverified, on the university's domain, signed up from the lab's
 * address and sending from it, run evaluation pipelines through one application (its system
 * prompt, the lab's benchmark wrapper): a cluster linked by its place, flagged at verify by the
 * volume of working it asks for (the place rule's ceiling). Other new users of that application,
 * elsewhere, share its system prompt, the wrapper and the client with the lab, and nothing else:
 * the lab's cluster must not take them in as a campaign's replacement heads. A fleet linked beyond
 * its software (one card) still takes its new heads in by the software they share.
 */

/** A newcomer of the application: its system prompt, the lab's wrapper and client, a network, card and mail of its own. */
const newcomer = (net: number): PlaceSender => ({ net, domain: 'gmail.com', card: `card-new${net}`, signupIp: `${net}.9.9.9`, out: 900 });

test('a lab flagged at verify by the volume of its evaluation runs takes in no other user of its application as a replacement head', () => {
  const e = new DetectorEngine();
  const make = placeSender();
  customers(e, make);
  // Six researchers, the lab's address and domain, 60 items each at a pipeline's pace; answers
  // about four times the item (the working written out), so the shape is volume, not a harvest's yield.
  const lab: PlaceSender = { net: 77, domain: 'uni-heidelberg.de', card: null, signupIp: '77.20.30.1', out: 160 };
  for (let k = 0; k < 60; k++) for (let a = 0; a < 6; a++) e.ingest(make(`acct_lab${a}`, 100 + k * 90 + a * 11, lab, k * 6 + a));
  e.advance(T0 + 7_200_000);
  e.flush();
  const held = e.forAccount('acct_lab0');
  const place = held.verdict?.reasons.find((r) => r.signal === 'place_links_only');
  assert.equal(held.level, 'verify', `the lab is held at verify: ${held.level} ${JSON.stringify(held.verdict?.reasons.slice(0, 4))}`);
  assert.ok(place?.value === 'corroborated' && /at most verify/.test(place.detail ?? ''), `by the place rule, volume alone: ${JSON.stringify(place)}`);
  // Two other users of the application, each on its own network, card and free-mail, later the same day.
  for (const net of [201, 202]) for (let k = 0; k < 3; k++) e.ingest(make(`acct_user${net}`, 8_000 + net + k * 300, newcomer(net), 500 + net + k));
  e.flush();
  for (const net of [201, 202]) {
    const id = `acct_user${net}`;
    assert.notEqual(e.forAccount(id).clusterId, held.clusterId, `${id} was not linked into the lab: ${JSON.stringify(e.accountLink(id))}`);
    assert.ok(verdictRank(e.forAccount(id).level) <= verdictRank('watch'), `${id}: ${e.forAccount(id).level}`);
  }
});

test('a fleet linked beyond its software (one card) still takes in a new head that shares its system prompt, wrapper and client', () => {
  const e = new DetectorEngine();
  const make = placeSender();
  customers(e, make);
  // Six fresh accounts on one card, each its own network: linked by the card, harvesting (answers many times the item).
  for (let k = 0; k < 12; k++) for (let a = 0; a < 6; a++) e.ingest(make(`acct_fleet${a}`, 100 + k * 60 + a * 7, { net: 30 + a, domain: 'gmail.com', card: 'card-fleet', signupIp: `${30 + a}.9.9.9`, out: 2_400 }, k * 6 + a));
  e.advance(T0 + 1_000_000);
  e.flush();
  const fleet = e.forAccount('acct_fleet0');
  assert.ok(verdictRank(fleet.level) >= verdictRank('throttle'), `the fleet is flagged: ${fleet.level}`);
  assert.ok(!fleet.verdict?.reasons.some((r) => r.signal === 'place_links_only'), 'not by the place rule');
  e.ingest(make('acct_head', 2_000, newcomer(90), 900));
  e.flush();
  assert.equal(e.forAccount('acct_head').clusterId, fleet.clusterId, `the new head joined the fleet: ${JSON.stringify(e.accountLink('acct_head'))}`);
  assert.equal(e.accountLink('acct_head')?.rule, 'replacement_head');
});

test('a small cluster flagged beyond its software takes in no user of an application many others run: the prompt is not its own', () => {
  const e = new DetectorEngine();
  const make = placeSender();
  customers(e, make);
  // Ninety new users of the application, each on a network, card and mail of their own, a few questions each.
  for (let u = 0; u < 90; u++) for (let k = 0; k < 2; k++) e.ingest(make(`acct_app${u}`, 20 + u * 3 + k, { ...newcomer(100 + u), ip: `10.${u}.7.7`, signupIp: `10.${u}.9.9` }, 300 + u * 2 + k));
  // Four fresh accounts on one card, the same application: linked by the card, harvesting.
  for (let k = 0; k < 12; k++) for (let a = 0; a < 4; a++) e.ingest(make(`acct_small${a}`, 200 + k * 60 + a * 7, { net: 30 + a, domain: 'gmail.com', card: 'card-small', signupIp: `${30 + a}.9.9.9`, out: 2_400 }, k * 4 + a));
  e.advance(T0 + 1_000_000);
  e.flush();
  const small = e.forAccount('acct_small0');
  assert.ok(verdictRank(small.level) >= verdictRank('throttle'), `the small cluster is flagged: ${small.level}`);
  // Another new user of the application, later: the prompt, wrapper and client it shares with the
  // cluster are shared with 90 accounts outside it.
  e.ingest(make('acct_later', 2_000, newcomer(90), 900));
  e.flush();
  assert.notEqual(e.forAccount('acct_later').clusterId, small.clusterId, `the later user was not linked into the cluster: ${JSON.stringify(e.accountLink('acct_later'))}`);
  assert.ok(verdictRank(e.forAccount('acct_later').level) <= verdictRank('watch'), `acct_later: ${e.forAccount('acct_later').level}`);
});
