import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetectorEngine, verdictRank } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';
import { APP, T0, customers, highestLevels, item, placeSender, wrap } from '../../test/helpers/place-fixtures.ts';

/**
 * A cluster linked by its place whose evidence comes from one member: a lab's busy researcher
 * running an evaluation (hundreds of items through the lab's wrapper, logprobs read on a third of
 * them) beside a class of new students on the same campus who sent a few questions each. The
 * cluster's readings (volume a member, and every indicator: distiller parameters, rubrics, shares)
 * are the researcher's; the class must not be lifted above watch by them, and the researcher
 * stands on its own account's evidence. A fleet behind one address whose members each harvest is
 * still held, with or without one busier head among them.
 */

test('one busy researcher beside a class that sent a few questions each lifts neither the class by its volume nor by its own asks (logprobs)', () => {
  const e = new DetectorEngine();
  const make = placeSender();
  customers(e, make);
  const highest = highestLevels(e);
  // The lab's address and domain, the course's tool: one researcher running 300 items through the
  // wrapper, reading logprobs on every third; eight students who each asked three questions the same
  // way. They signed up over the term (no signup burst), each when they first needed it.
  const place = { net: 77, domain: 'uni-heidelberg.de', signupIp: '77.20.30.1', out: 160, system: APP };
  for (let k = 0; k < 300; k++) e.ingest(make('acct_researcher', 100 + k * 20, { ...place, createdHoursAgo: 20 * 24, logprobs: k % 3 === 0 }, k));
  for (let s = 0; s < 8; s++) for (let k = 0; k < 3; k++) e.ingest(make(`acct_student${s}`, 400 + s * 500 + k * 120, { ...place, createdHoursAgo: 30 + s * 41 }, 300 + s * 3 + k));
  e.advance(T0 + 7_200_000);
  e.flush();
  const student = e.forAccount('acct_student0');
  const researcher = e.forAccount('acct_researcher');
  assert.ok(student.clusterId !== null && student.clusterId === researcher.clusterId, `the class and the researcher are one place's cluster: ${JSON.stringify(e.accountLink('acct_student0'))}`);
  for (let s = 0; s < 8; s++) {
    const id = `acct_student${s}`;
    const at = Math.max(highest.get(id) ?? 0, verdictRank(e.forAccount(id).level));
    assert.ok(at <= verdictRank('watch'), `${id} was held above watch (rank ${at}): ${e.forAccount(id).level} ${JSON.stringify(e.forAccount(id).verdict?.reasons.slice(0, 3))}`);
  }
  // The cluster's verdict says whose evidence it set apart, beside its threshold.
  const reasons = student.verdict?.reasons ?? [];
  const apart = reasons.find((r) => r.signal === 'place_busiest_member_ratio');
  assert.ok(apart && Number(apart.value) >= Number(apart.threshold) && /set apart/.test(apart.detail ?? '') && /acct_researcher/.test(apart.detail ?? ''), `the cluster verdict names the member set apart and how busy it is against the median member: ${JSON.stringify(apart)}`);
  // The researcher is held by its own account's evidence, not by the class's cluster.
  if (verdictRank(researcher.level) > verdictRank('watch')) {
    assert.equal(researcher.verdict?.subject.kind, 'account', `the researcher above watch stands on its own verdict: ${JSON.stringify(researcher.verdict?.reasons.slice(0, 3))}`);
  }
});

test('a fleet of eight behind one address, each harvesting, is still held when one head sends ten times what each of the others does', () => {
  const e = new DetectorEngine();
  const make = placeSender();
  customers(e, make);
  const highest = highestLevels(e);
  // One exit address and signup address, free-mail, no card, no system prompt: linked by the place
  // alone. Every head asks for the working of dataset items and takes answers many times the item.
  // Signed up a day or two apart (no signup burst, which would make the cluster any cluster).
  const exit = (a: number) => ({ net: 45, domain: 'gmail.com', signupIp: '45.20.30.1', out: 2_400, system: null, createdHoursAgo: 30 + a * 19 });
  for (let k = 0; k < 400; k++) e.ingest(make('acct_fleet0', 100 + k * 15, exit(0), k));
  for (let a = 1; a < 8; a++) for (let k = 0; k < 30; k++) e.ingest(make(`acct_fleet${a}`, 100 + k * 190 + a * 13, exit(a), 1000 + a * 30 + k));
  e.advance(T0 + 7_200_000);
  e.flush();
  const v = e.forAccount('acct_fleet3').verdict;
  const place = v?.reasons.find((r) => r.signal === 'place_links_only');
  assert.ok(v?.subject.kind === 'cluster' && place?.value === 'corroborated', `the fleet's cluster is corroborated by what its other heads ask: ${JSON.stringify(v?.reasons.slice(0, 4))}`);
  for (let a = 0; a < 8; a++) {
    const id = `acct_fleet${a}`;
    const at = Math.max(highest.get(id) ?? 0, verdictRank(e.forAccount(id).level));
    assert.ok(at >= verdictRank('throttle'), `${id} is held at throttle or above (rank ${at}): ${JSON.stringify(e.forAccount(id).verdict?.reasons.slice(0, 3))}`);
  }
});

test('a fleet of eight behind one address, each harvesting alike, is held', () => {
  const e = new DetectorEngine();
  const make = placeSender();
  customers(e, make);
  const highest = highestLevels(e);
  const exit = (a: number) => ({ net: 45, domain: 'gmail.com', signupIp: '45.20.30.1', out: 2_400, system: null, createdHoursAgo: 30 + a * 19 });
  for (let a = 0; a < 8; a++) for (let k = 0; k < 40; k++) e.ingest(make(`acct_fleet${a}`, 100 + k * 150 + a * 13, exit(a), a * 40 + k));
  e.advance(T0 + 7_200_000);
  e.flush();
  const v = e.forAccount('acct_fleet0').verdict;
  const busiest = v?.reasons.find((r) => r.signal === 'place_busiest_member_ratio');
  assert.ok(busiest && Number(busiest.value) < Number(busiest.threshold) && /whole cluster/.test(busiest.detail ?? ''), `no member is set apart when none sends ten times what the median member does: ${JSON.stringify(busiest)}`);
  for (let a = 0; a < 8; a++) {
    const id = `acct_fleet${a}`;
    const at = Math.max(highest.get(id) ?? 0, verdictRank(e.forAccount(id).level));
    assert.ok(at >= verdictRank('throttle'), `${id} is held at throttle or above (rank ${at}): ${JSON.stringify(e.forAccount(id).verdict?.reasons.slice(0, 3))}`);
  }
});

test('a lab whose busiest researcher converses beside five running evaluations is held by the place rule as the whole lab reads (setting the busiest apart holds a cluster less, never more) and takes in no other user of its application', () => {
  const e = new DetectorEngine();
  const make = placeSender();
  customers(e, make);
  const highest = highestLevels(e);
  // The lab's address and domain, the course's tool. The busiest researcher works through problems
  // in conversation (the item, an answer, a question on a step); five colleagues run 30 items each
  // through the wrapper, single questions with the working written out at length.
  const labAt = (k: number) => ({ net: 77, domain: 'uni-heidelberg.de', signupIp: '77.20.30.1', system: APP, createdHoursAgo: 30 + k * 37 });
  const ANSWER = 'Step 1: name the quantities the problem gives and the one it asks for, with their units. Step 2: write the equation that relates them, one sentence of the problem at a time. Step 3: solve it for the unknown and check the result against the problem.';
  const talk = (id: string, sec: number, k: number): InteractionEvent => {
    const ev = make(id, sec, { ...labAt(0), out: 300 }, k);
    const first = wrap(item(k));
    const messages = [{ role: 'user' as const, text: first, chars: first.length }, { role: 'assistant' as const, text: ANSWER, chars: ANSWER.length }, { role: 'user' as const, text: 'Why does step 2 divide rather than multiply?', chars: 44 }];
    return { ...ev, request: { ...ev.request, messages }, response: { ...ev.response, input_tokens: 160 } };
  };
  for (let k = 0; k < 400; k++) e.ingest(talk('acct_talker', 100 + k * 15, k));
  for (let a = 1; a <= 5; a++) for (let k = 0; k < 30; k++) e.ingest(make(`acct_eval${a}`, 150 + k * 200 + a * 7, { ...labAt(a), out: 700 }, 500 + a * 30 + k));
  e.advance(T0 + 7_200_000);
  e.flush();
  const held = e.forAccount('acct_eval1');
  const lab = held.clusterId === null ? null : e.cluster(held.clusterId, 0);
  const place = lab?.reasons.find((r) => r.signal === 'place_links_only');
  assert.ok(held.clusterId !== null && held.clusterId === e.forAccount('acct_talker').clusterId, `the lab is one place's cluster: ${JSON.stringify(e.accountLink('acct_eval1'))}`);
  for (const id of ['acct_talker', 'acct_eval1', 'acct_eval2', 'acct_eval3', 'acct_eval4', 'acct_eval5']) {
    const at = Math.max(highest.get(id) ?? 0, verdictRank(e.forAccount(id).level));
    assert.ok(at <= verdictRank('verify'), `${id} is held at verify at most (rank ${at}): ${JSON.stringify(e.forAccount(id).verdict?.reasons.slice(0, 3))}`);
  }
  // Read without the busy researcher, the five evaluation runs show the harvest shape; read whole,
  // the lab does not. Its cluster stays where the whole lab reads: not a campaign.
  assert.ok(lab !== null && verdictRank(lab.level) <= verdictRank('verify') && lab.campaign_id === null, `the lab's cluster is held at verify at most, no campaign: ${lab?.level} ${JSON.stringify(lab?.reasons.slice(0, 3))}`);
  if (lab.level !== 'none') {
    const heldByPlace = place !== undefined && (place.value !== 'corroborated' || /at most verify/.test(place.detail ?? ''));
    assert.ok(heldByPlace, `held by the place rule: ${JSON.stringify(lab.reasons.slice(0, 3))}`);
  }
  // Another user of the application, its own network, card and free-mail, later the same day.
  for (let k = 0; k < 3; k++) {
    const ev = make('acct_user201', 8_000 + k * 300, { net: 201, domain: 'gmail.com', signupIp: '201.9.9.9', out: 900, system: APP, createdHoursAgo: 30 }, 900 + k);
    e.ingest({ ...ev, account: { ...ev.account!, payment_fp: 'card-new201' } });
  }
  e.flush();
  assert.notEqual(e.forAccount('acct_user201').clusterId, held.clusterId, `the newcomer was not linked into the lab: ${JSON.stringify(e.accountLink('acct_user201'))}`);
});

test('a class that joins a lab held at verify by its researchers volume drops to watch once it outnumbers the lab: the busy researchers are set apart, and hysteresis does not keep the class at verify', () => {
  const e = new DetectorEngine({ trackFirstFlags: true });
  const make = placeSender();
  customers(e, make);
  // Six researchers, the lab's address and domain, 60 items each through the wrapper: held at
  // verify by the volume of working they ask for (the place rule's ceiling).
  const place = { net: 77, domain: 'uni-heidelberg.de', signupIp: '77.20.30.1', system: APP };
  for (let k = 0; k < 60; k++) for (let a = 0; a < 6; a++) e.ingest(make(`acct_lab${a}`, 100 + k * 90 + a * 11, { ...place, out: 160, createdHoursAgo: 30 + a * 37 }, k * 6 + a));
  e.advance(T0 + 5_600_000);
  e.flush();
  const lab = e.forAccount('acct_lab0');
  assert.equal(lab.level, 'verify', `the lab is held at verify first: ${lab.level} ${JSON.stringify(lab.verdict?.reasons.slice(0, 3))}`);
  // Eight students of the same campus, through the same course tool, from the lab's address, four
  // questions each later that day, one after another: linked into the lab's cluster. While the
  // researchers are the median member none of them is busier than ten times it, and the first
  // six students are served at the lab's verify; from the seventh the class outnumbers the lab.
  for (let s = 0; s < 8; s++) for (let k = 0; k < 4; k++) e.ingest(make(`acct_student${s}`, 6_000 + s * 400 + k * 90, { ...place, out: 160, createdHoursAgo: 20 + s * 29 }, 400 + s * 4 + k));
  e.advance(T0 + 12_000_000);
  e.flush();
  assert.equal(e.forAccount('acct_student0').clusterId, lab.clusterId, `the class joined the lab's cluster: ${JSON.stringify(e.accountLink('acct_student0'))}`);
  for (let s = 0; s < 8; s++) {
    const id = `acct_student${s}`;
    const v = e.forAccount(id);
    assert.ok(verdictRank(v.level) <= verdictRank('watch') && !v.verdict?.reasons.some((r) => r.signal === 'held_by_hysteresis'), `${id} is at watch at most, not held by hysteresis: ${v.level} ${JSON.stringify(v.verdict?.reasons.slice(0, 3))}`);
  }
  for (const id of ['acct_student6', 'acct_student7']) {
    const above = e.servedByLevel(id).slice(2).reduce((x, y) => x + y, 0);
    assert.equal(above, 0, `${id}, joining a class that outnumbers the lab, was served ${above} requests above watch`);
  }
  const apart = e.forAccount('acct_student0').verdict?.reasons.find((r) => r.signal === 'place_busiest_member_ratio');
  assert.ok(apart && /busy 6 members/.test(apart.detail ?? ''), `the six researchers are set apart: ${JSON.stringify(apart)}`);
});
