// Support moves an account into another organisation, a company is acquired, a fleet's operator
// moves its accounts out of the throwaway org it was flagged in: the detector scores each account
// in the org its latest event names, with the org's counts and corroboration following the move.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DetectorEngine, buildLabelledEvents, readSnapshot, verdictRank, writeSnapshot, type PromptPool } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
type Facts = NonNullable<InteractionEvent['account']>;

/**
 * A day of traffic (seed 5: hobbyists, `enterprise` orgs of 24 to 25 accounts, a hydra fleet of
 * `fleet` accounts in org `fleetOrg` with facts `facts`), and `more(days, orgOf)`: the same day again
 * `days` times after it, each event naming the org `orgOf` gives its account (null: none).
 */
function scenario(o: { fleet: number; enterprise: number; fleetOrg: string; facts: (f: Facts) => Facts }) {
  const s = buildLabelledEvents(pool, { seed: 5, days: 1, organic: { hobbyist: 5, enterprise: o.enterprise }, campaigns: [{ kind: 'hydra', accounts: o.fleet }] });
  const fleet = Object.values(s.labels.campaigns)[0].accounts;
  const inFleet = new Set(fleet);
  const events = s.events.map((x) => (inFleet.has(x.account_id!) ? { ...x, org_id: o.fleetOrg, account: o.facts(x.account!) } : x));
  const of = (label: string) => Object.keys(s.labels.accounts).filter((a) => s.labels.accounts[a] === label && events.some((x) => x.account_id === a));
  const startMs = Date.parse(events[0].ts);
  const endMs = Date.parse(events.at(-1)!.ts);
  const more = (days: number, orgOf: (ev: InteractionEvent) => string | null) => Array.from({ length: days }, (_, d) => events.map((x) => ({
    ...x, id: `${x.id}-day${d + 2}`, org_id: orgOf(x),
    ts: new Date(endMs + 1000 + d * (endMs - startMs) + Date.parse(x.ts) - startMs).toISOString(),
  }))).flat();
  return { events, fleet, hobbyists: of('organic:hobbyist'), enterprise: of('organic:enterprise'), more };
}

const noProgramme = (f: Facts): Facts => ({ ...f, programme: 'none' });

test('a fleet flagged in a throwaway org and moved into a reputable one keeps its verdict, and does not bring it onto the org', () => {
  const { events, fleet, enterprise, more } = scenario({ fleet: 8, enterprise: 1, fleetOrg: 'org_throwaway', facts: noProgramme });
  const e = new DetectorEngine();
  for (const ev of events) e.ingest(ev);
  e.flush();
  const before = e.forAccount(fleet[0]);
  assert.ok(verdictRank(before.level) >= verdictRank('throttle'), `flagged in its throwaway org first (${before.level})`);

  // Moved into the enterprise's org (corroborated: 24 members on its own domain) for two days.
  const inFleet = new Set(fleet);
  for (const ev of more(2, (x) => (inFleet.has(x.account_id!) ? 'org_e0' : x.org_id))) e.ingest(ev);
  e.flush();
  for (const id of fleet) {
    const v = e.forAccount(id);
    assert.ok(verdictRank(v.level) >= verdictRank('throttle'), `${id}: still held at throttle or above after the move (${v.level})`);
  }
  const v = e.forAccount(fleet[0]);
  const cluster = e.cluster(v.clusterId!);
  assert.equal(cluster?.actors, fleet.length, `each member still counts as an actor (${cluster?.actors})`);
  const moved = v.verdict?.reasons.find((r) => r.signal === 'moved_while_flagged');
  assert.ok(moved && moved.value === fleet.length, `the verdict says why: ${JSON.stringify(moved ?? v.verdict?.reasons.map((r) => r.signal))}`);
  for (const id of enterprise) {
    const w = e.forAccount(id);
    assert.equal(w.level, 'none', `${id}, a member of the org the fleet moved into, is not flagged (${w.level})`);
    assert.notEqual(w.clusterId, v.clusterId, `${id} is not linked into the fleet's cluster by the move`);
  }
});

test('an org that accounts moved into leaves mostly on personal mail stops vouching for its members', () => {
  // Four accounts on the org's own domain: a corroborated org, one customer, whose pipeline-shaped
  // traffic is a named customer's (held at watch alone). Four free-mail accounts moved into it
  // make it mostly personal addresses: it no longer vouches for anyone, so each member is an actor
  // of its own and nothing exempts the harvest any longer.
  const ownDomain = (f: Facts): Facts => ({ ...f, programme: 'none', email_domain: 'acme-labs.example' });
  const { events, fleet, hobbyists, more } = scenario({ fleet: 4, enterprise: 0, fleetOrg: 'org_acme', facts: ownDomain });
  const e = new DetectorEngine();
  for (const ev of events) e.ingest(ev);
  e.flush();
  const before = e.forAccount(fleet[0]);
  assert.ok(verdictRank(before.level) < verdictRank('throttle'), `one named customer, below throttle (${before.level})`);
  assert.equal(e.cluster(before.clusterId!)?.actors, 1, 'its cluster counts one actor');

  const joining = new Set(hobbyists.slice(0, 4));
  assert.equal(joining.size, 4, 'four accounts to move in');
  for (const ev of more(1, (x) => (joining.has(x.account_id!) ? 'org_acme' : x.org_id))) e.ingest(ev);
  e.flush();
  const after = e.forAccount(fleet[0]);
  assert.equal(e.cluster(after.clusterId!)?.actors, fleet.length, `each of its accounts counts as an actor (${e.cluster(after.clusterId!)?.actors})`);
  for (const id of fleet) assert.ok(verdictRank(e.forAccount(id).level) >= verdictRank('throttle'), `${id}: nothing exempts its harvest any longer (${e.forAccount(id).level})`);
  for (const id of joining) assert.equal(e.forAccount(id).level, 'none', `${id}, moved in, is not flagged`);
});

test('a company acquired: its accounts moved into the acquirer\'s org keep flowing, none flagged, each org one actor', () => {
  const { events, enterprise, more } = scenario({ fleet: 0, enterprise: 2, fleetOrg: 'org_none', facts: (f) => f });
  const acquired = new Set(events.filter((x) => x.org_id === 'org_e0').map((x) => x.account_id!));
  const acquirer = events.find((x) => x.org_id === 'org_e1')!;
  assert.ok(acquired.size >= 20, `the acquired company's accounts (${acquired.size})`);
  // After the acquisition its people use the acquirer's network and internal assistant.
  const moved = more(2, (x) => (acquired.has(x.account_id!) ? 'org_e1' : x.org_id)).map((x) => (acquired.has(x.account_id!)
    ? { ...x, client: { ...x.client, ip: acquirer.client.ip, asn: acquirer.client.asn }, request: { ...x.request, system: acquirer.request.system } }
    : x));
  const e = new DetectorEngine();
  const flagged = new Set<string>();
  for (const ev of [...events, ...moved]) {
    e.ingest(ev);
    if (e.forAccount(ev.account_id!).level !== 'none') flagged.add(ev.account_id!);
  }
  e.flush();
  for (const id of enterprise) if (e.forAccount(id).level !== 'none') flagged.add(id);
  assert.deepEqual([...flagged], [], 'no account of either company is flagged at any point');
  for (const id of enterprise) {
    const c = e.forAccount(id).clusterId;
    const actors = c ? e.cluster(c)?.actors : 1;
    assert.ok(actors === 1, `${id}: its cluster counts one actor (${actors})`);
  }
});

test('an engine read back from a snapshot taken amid moves, or from one written before moves were followed, goes on as the live one', async () => {
  const { events, fleet, enterprise, more } = scenario({ fleet: 8, enterprise: 1, fleetOrg: 'org_throwaway', facts: noProgramme });
  const inFleet = new Set(fleet);
  const halfEnterprise = new Set(enterprise.slice(0, 12));
  // The fleet moves into the enterprise's org, half the enterprise's people into a new one.
  const later = more(1, (x) => (inFleet.has(x.account_id!) ? 'org_e0' : halfEnterprise.has(x.account_id!) ? 'org_new' : x.org_id));
  const cut = Math.floor(later.length / 2);
  const live = new DetectorEngine();
  for (const ev of [...events, ...later.slice(0, cut)]) live.ingest(ev);
  const path = join(mkdtempSync(join(tmpdir(), 'warden-org-move-')), 'moves.detector');
  await writeSnapshot(live, path, 0);
  const restarted = new DetectorEngine();
  const read = await readSnapshot(restarted, path);
  assert.ok(read.restored, read.restored ? '' : read.reason);
  // A state as a release before this one wrote it: no org member lists, no members apart.
  const oldState = live.snapshotState();
  for (const k of ['orgHead', 'orgNext', 'orgPrev']) delete oldState[k];
  oldState.clusters = new Map([...(oldState.clusters as Map<number, Record<string, unknown>>)].map(([r, c]) => { const { apart: _apart, ...rest } = c; return [r, { ...rest, orgs: new Map(c.orgs as Map<number, number>), campus: new Map(c.campus as Map<number, number>) }]; }));
  const oldLayout = live.snapshotLayout().replace(/,orgHead|,orgNext\/1|,orgPrev\/1/g, '');
  const older = new DetectorEngine();
  assert.ok(older.readsLayout(oldLayout), `the older layout is read (${oldLayout.slice(0, 60)}...)`);
  older.restoreState(structuredClone(oldState));
  for (const ev of later.slice(cut)) { live.ingest(ev); restarted.ingest(ev); older.ingest(ev); }
  live.flush(); restarted.flush(); older.flush();
  for (const id of [...fleet, ...enterprise]) {
    assert.equal(restarted.forAccount(id).level, live.forAccount(id).level, `${id}: the same level as the engine that never stopped`);
    assert.equal(older.forAccount(id).level, live.forAccount(id).level, `${id}: the same level from the older state`);
  }
  assert.deepEqual(restarted.snapshotState(), live.snapshotState(), 'and the same state');
});
