// A customer verifies its identity, is raised to enterprise or admitted to a programme (or loses
// one of these) after the detector first saw its accounts: the detector's score follows the change,
// as the gateway's policy and limits do, instead of keeping what the first event said.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DetectorEngine, buildLabelledEvents, readSnapshot, verdictRank, writeSnapshot, type PromptPool, type VerdictLevel } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const HOUR = 3_600_000;
type Facts = NonNullable<InteractionEvent['account']>;

/** A four-account fleet (and a few hobbyists) over a day: the fleet is linked and held at `verify` or above. */
function fleetDay(facts: (f: Facts) => Facts = (f) => f, org: string | null = null) {
  const s = buildLabelledEvents(pool, { seed: 5, days: 1, organic: { hobbyist: 5 }, campaigns: [{ kind: 'hydra', accounts: 4 }] });
  const members = Object.values(s.labels.campaigns)[0].accounts;
  const fleet = new Set(members);
  const events = s.events.map((x) => (fleet.has(x.account_id!) ? { ...x, org_id: org ?? x.org_id, account: facts(x.account!) } : x));
  const own = events.filter((x) => fleet.has(x.account_id!));
  const startMs = Date.parse(own[0].ts);
  const endMs = Date.parse(events.at(-1)!.ts);
  /** The fleet's day again, `days` times after the first, each of its events carrying the facts `facts` gives. */
  const again = (days: number, next: (f: Facts) => Facts) => Array.from({ length: days }, (_, d) => own.map((x) => ({
    ...x, id: `${x.id}-again${d}`, account: next(x.account!),
    ts: new Date(endMs + 1000 + d * (endMs - startMs) + Date.parse(x.ts) - startMs).toISOString(),
  }))).flat();
  return { events, members, again };
}

/** Each level the account is held at, in turn, from the first of `events`, with when it was first held (event time, ms). */
function levelsFollowed(e: DetectorEngine, events: InteractionEvent[], account: string): Array<{ level: VerdictLevel; atMs: number }> {
  const out = [{ level: e.forAccount(account).level, atMs: Date.parse(events[0].ts) }];
  for (const ev of events) {
    e.ingest(ev);
    const level = e.forAccount(account).level;
    if (level !== out.at(-1)!.level) out.push({ level, atMs: Date.parse(ev.ts) });
  }
  return out;
}

const verified = (f: Facts): Facts => ({ ...f, tier: 'identity_verified' });
const emailOnly = (f: Facts): Facts => ({ ...f, tier: 'email_verified' });

test('a fleet held at verify whose members then verify their identity steps down one rung per cool-down, its score reading them as verified', () => {
  const { events, members, again } = fleetDay();
  const e = new DetectorEngine();
  for (const ev of events) e.ingest(ev);
  const first = e.forAccount(members[0]).level;
  assert.ok(verdictRank(first) >= verdictRank('verify'), `the fleet is held at verify or above before verifying (${first})`);
  assert.equal(e.accountTier(members[0]), 'email_verified');

  const path = levelsFollowed(e, again(2, verified), members[0]);
  const after = e.forAccount(members[0]);
  assert.equal(e.accountTier(members[0]), 'identity_verified', 'the detector holds the tier its latest event carried');
  const share = after.verdict?.reasons.find((r) => r.signal === 'identity_verified_share');
  assert.ok(share && share.value === 1, `the cluster's score counts every member verified (${JSON.stringify(share)})`);
  assert.ok(verdictRank(after.level) < verdictRank('verify'), `the verify rung is lifted (${JSON.stringify(path)})`);
  // Hysteresis: down one rung at a time, each only after the cool-down (6 h of event time), to
  // the level the score reaches or, within the margin below its threshold, the level held.
  for (let k = 1; k < path.length; k++) {
    assert.equal(verdictRank(path[k].level), verdictRank(path[k - 1].level) - 1, `one rung at a time: ${JSON.stringify(path)}`);
    assert.ok(path[k].atMs - path[k - 1].atMs >= 6 * HOUR, `each rung held for the cool-down: ${JSON.stringify(path)}`);
  }
  const score = after.verdict?.reasons.find((r) => r.signal === 'cluster_score');
  const held = after.verdict?.reasons.find((r) => r.signal === 'held_by_hysteresis');
  assert.ok(score && (held || Number(score.value) >= Number(score.threshold)), `the level left is the score's own or says it is held (${JSON.stringify(after.verdict?.reasons.slice(0, 2))})`);
});

test('a verified fleet whose verification is withdrawn is scored as unverified at once', () => {
  const { events, members, again } = fleetDay(verified);
  const e = new DetectorEngine();
  for (const ev of events) e.ingest(ev);
  const before = e.forAccount(members[0]).level;
  assert.ok(verdictRank(before) < verdictRank('verify'), `verified, the fleet is held below verify (${before})`);
  const path = levelsFollowed(e, again(1, emailOnly), members[0]);
  const after = e.forAccount(members[0]);
  assert.equal(e.accountTier(members[0]), 'email_verified');
  assert.ok(verdictRank(after.level) >= verdictRank('verify'), `tier lowered, the fleet reaches verify (${JSON.stringify(path)})`);
  assert.equal(after.verdict?.reasons.find((r) => r.signal === 'identity_verified_share'), undefined, 'no member counts as verified');
});

test('a small free-mail org whose programme admission is withdrawn stops counting as one customer', () => {
  const admitted = (f: Facts): Facts => ({ ...f, programme: 'startup' });
  const { events, members, again } = fleetDay(admitted, 'org_founders');
  const e = new DetectorEngine();
  for (const ev of events) e.ingest(ev);
  const before = e.forAccount(members[0]);
  assert.ok(verdictRank(before.level) < verdictRank('throttle'), `admitted, the org is one customer (${before.level})`);
  assert.equal(e.cluster(before.clusterId!)?.actors, 1, 'its cluster counts one actor');
  const path = levelsFollowed(e, again(1, (f) => ({ ...f, programme: 'none' })), members[0]);
  const after = e.forAccount(members[0]);
  assert.equal(e.cluster(after.clusterId!)?.actors, members.length, 'without the admission each member counts as an actor');
  assert.ok(verdictRank(after.level) >= verdictRank('throttle'), `and nothing exempts its harvest any longer (${JSON.stringify(path)})`);
});

test('an engine restored from a snapshot taken after a member verified keeps the new tier and goes on as the live one', async () => {
  const { events, members, again } = fleetDay();
  const later = again(2, verified);
  const cut = Math.floor(later.length / 4);
  const live = new DetectorEngine();
  for (const ev of [...events, ...later.slice(0, cut)]) live.ingest(ev);
  const path = join(mkdtempSync(join(tmpdir(), 'warden-retier-')), 'retier.detector');
  await writeSnapshot(live, path, 0);
  const restarted = new DetectorEngine();
  const read = await readSnapshot(restarted, path);
  assert.ok(read.restored, read.restored ? '' : read.reason);
  assert.equal(restarted.accountTier(members[0]), 'identity_verified', 'the restored engine holds the new tier');
  for (const ev of later.slice(cut)) { live.ingest(ev); restarted.ingest(ev); }
  for (const id of members) assert.equal(restarted.forAccount(id).level, live.forAccount(id).level, `${id}: the same level as the engine that never stopped`);
  assert.deepEqual(restarted.snapshotState(), live.snapshotState(), 'and the same state');
});
