import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { FRESH_SKETCH, FRESH_SKETCH_6, FreshSketches } from './standing-input.ts';
import { DetectorEngine, SharedIndicators, buildLabelledEvents, buildReport, periodicSnapshots, readSnapshot, replayRecentEvents, scanEvents, writeSnapshot, type PromptPool } from './index.ts';
import type { InteractionEvent } from '../events/index.ts';

const pool = JSON.parse(readFileSync(new URL('../../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const { events, labels } = buildLabelledEvents(pool, {
  seed: 9, days: 3,
  organic: { hobbyist: 50, startup: 3, enterprise: 1, researcher: 2, batch: 2, agent: 2, class: 1 },
  campaigns: [{ kind: 'hydra', accounts: 40 }, { kind: 'surgical', accounts: 10 }, { kind: 'agentic', accounts: 12 }],
});
const half = Math.floor(events.length / 2);
const dir = mkdtempSync(join(tmpdir(), 'warden-snapshot-'));

/** Everything a user can read from an engine: every account's verdict, clusters, campaigns, the scan report, stats. */
function observable(e: DetectorEngine) {
  const accounts = Object.keys(labels.accounts).map((id) => {
    const v = e.forAccount(id);
    return [id, v.level, v.clusterId, v.verdict?.reasons.map((r) => `${r.signal}=${r.value}`).join(';') ?? null, e.servedByLevel(id).join(',')];
  });
  const report = { ...buildReport(e, { detector: 'warden' }), generated_at: null };
  return { accounts, clusters: e.clusterSummaries(), campaigns: e.campaigns(), report, stats: e.stats() };
}

/**
 * A snapshot of the first half of the events, rewritten as an older build wrote it: `edit` gets its
 * layout's fields (format aside) and its state, changes the state in place and returns the layout.
 */
async function olderSnapshot(name: string, edit: (fields: string[], state: Record<string, unknown>) => string): Promise<{ live: DetectorEngine; path: string; written: Record<string, unknown> }> {
  const { serialize, deserialize } = await import('node:v8');
  const live = new DetectorEngine();
  for (const ev of events.slice(0, half)) live.ingest(ev);
  const path = join(dir, name);
  await writeSnapshot(live, path, 0);
  const data = readFileSync(path);
  const eol = data.indexOf(10);
  const header = JSON.parse(data.subarray(0, eol).toString('utf8'));
  const body = deserialize(data.subarray(eol + 1)) as { state: Record<string, unknown>; recentIds: string[] };
  const written = { ...body.state };
  const [format, fields] = String(header.layout).split(';');
  assert.equal(format, '7', 'this build writes format 7');
  header.layout = edit(fields.split(','), body.state);
  const payload = serialize(body);
  header.bytes = payload.length;
  writeFileSync(path, Buffer.concat([Buffer.from(JSON.stringify(header) + '\n'), payload]));
  return { live, path, written };
}

/** Both engines read the second half: the same accounts are flagged above watch. */
function assertSameFlaggedAfterTheRest(live: DetectorEngine, restarted: DetectorEngine): void {
  for (const ev of events.slice(half)) { live.ingest(ev); restarted.ingest(ev); }
  live.flush(); restarted.flush();
  const flagged = (e: DetectorEngine) => Object.keys(labels.accounts).filter((id) => e.forAccount(id).level !== 'none' && e.forAccount(id).level !== 'watch').sort();
  assert.ok(flagged(live).length > 40, 'the comparison covers flagged accounts');
  assert.deepEqual(flagged(restarted), flagged(live), 'the same accounts flagged once the rest is read');
}

/** The restored engine, failing with the reason when the snapshot was not used. */
async function restored(path: string): Promise<DetectorEngine> {
  const restarted = new DetectorEngine();
  const read = await readSnapshot(restarted, path);
  assert.ok(read.restored, read.restored ? '' : read.reason);
  return restarted;
}

test('an engine read back from a snapshot goes on exactly as the one that never stopped', async () => {
  const live = new DetectorEngine({ trackFirstFlags: true });
  for (const ev of events.slice(0, half)) live.ingest(ev);
  const path = join(dir, 'same.detector');
  const header = await writeSnapshot(live, path, 0);
  assert.equal(header.events, half);
  assert.ok(header.bytes > 0 && statSync(path).size > header.bytes);
  const restarted = new DetectorEngine({ trackFirstFlags: true });
  const read = await readSnapshot(restarted, path);
  assert.ok(read.restored, read.restored ? '' : read.reason);
  assert.equal(restarted.stats().events, half);
  // Inside: every field the engine has (listeners and scratch space aside), whether the snapshot keeps it or not;
  // the fresh-input sketches as what they hold (which account got which row of their store is no state).
  const scratch = new Set(['listeners', 'indicatorScratch', 'placeScratch', 'placeValues', 'placeCounts']);
  const everyField = (e: DetectorEngine) => Object.fromEntries(Object.entries(e).filter(([k]) => !scratch.has(k))
    .map(([k, v]) => [k, v instanceof FreshSketches ? v.dense() : v]));
  assert.deepEqual(everyField(restarted), everyField(live));

  for (const ev of events.slice(half)) live.ingest(ev);
  live.flush();
  for (const ev of events.slice(half)) restarted.ingest(ev);
  restarted.flush();
  const a = observable(live); const b = observable(restarted);
  assert.ok(a.campaigns.length >= 1 && a.clusters.length >= 2, `the comparison covers campaigns (${a.campaigns.length}) and clusters (${a.clusters.length})`);
  assert.ok(a.accounts.filter((x) => x[1] !== 'none' && x[1] !== 'watch').length > 40, 'and flagged accounts');
  assert.deepEqual(b, a);
  assert.deepEqual(everyField(restarted), everyField(live));
  assert.deepEqual(restarted.snapshotState(), live.snapshotState());
});

test('a snapshot stores the link-key index as one map by key (link type times 2^32 plus the unsigned hash) in the order keys were first held, and a restored engine goes on writing the same', async () => {
  const { serialize, deserialize } = await import('node:v8');
  const keyIndexOf = (e: DetectorEngine) => [...(e.snapshotState().keyIndex as Map<number, number>)];
  const live = new DetectorEngine();
  for (const ev of events.slice(0, half)) live.ingest(ev);
  const stored = keyIndexOf(live);
  assert.equal(stored.length, live.stats().linkKeys, 'one entry per key held');
  assert.ok(stored.every(([k]) => Number.isInteger(k) && k >= 0 && k < 64 * 2 ** 32), `keys are type * 2^32 + unsigned hash: ${stored.slice(0, 4).join(' ')}`);
  assert.ok(stored.some(([k]) => k % 2 ** 32 >= 2 ** 31) && stored.some(([k]) => k % 2 ** 32 < 2 ** 31), 'hashes on both sides of 2^31 are covered');
  // No account was forgotten, so slots were handed out one after another as keys were first held:
  // the order of the index is the order of its slots.
  const inSlotOrder = (index: [number, number][]) => index.every(([, slot], n) => n === 0 || slot > index[n - 1][1]);
  assert.equal((live.snapshotState().freeKeySlots as number[]).length, 0, 'no slot was freed');
  assert.ok(inSlotOrder(stored), `keys are listed in the order they were first held: slots ${stored.slice(0, 12).map(([, s]) => s).join(' ')}`);
  const restarted = new DetectorEngine();
  restarted.restoreState(deserialize(serialize(live.snapshotState())) as Record<string, unknown>);
  assert.deepEqual(keyIndexOf(restarted), stored, 'the restored engine writes the same index, in the same order');
  for (const ev of events.slice(half)) { live.ingest(ev); restarted.ingest(ev); }
  live.flush(); restarted.flush();
  const after = keyIndexOf(live);
  assert.ok(after.length > stored.length, `keys first held after the snapshot are in it too (${stored.length} -> ${after.length})`);
  assert.ok(inSlotOrder(after), 'keys first held after the snapshot come after those held before it');
  assert.deepEqual(keyIndexOf(restarted), after, 'and the restored engine indexes them as the one that never stopped');
});

test('after a snapshot, a restart replays only the stored events it does not hold, each once', async () => {
  // The store holds every event; the snapshot was taken half-way, remembering the ids of its last 10 minutes.
  const store = { async *iterate(q: { from?: string } = {}) { for (const ev of events) if (!q.from || ev.ts >= q.from) yield ev; } };
  const live = new DetectorEngine({ rememberEventIdsSeconds: 600 });
  for (const ev of events.slice(0, half)) live.ingest(ev);
  const path = join(dir, 'replay.detector');
  const header = await writeSnapshot(live, path, 600);
  assert.equal(Date.parse(header.event_time) - Date.parse(header.overlap_from), 600_000);
  for (const ev of events.slice(half)) live.ingest(ev);
  live.flush();

  const restarted = new DetectorEngine();
  const read = await readSnapshot(restarted, path);
  assert.ok(read.restored);
  const lastTs = Date.parse(events[events.length - 1].ts);
  const replay = await replayRecentEvents(restarted, store, { nowMs: lastTs, hours: 24 * 30, afterSnapshot: { fromMs: read.overlapFromMs, seen: read.seen } });
  assert.ok(read.seen.size > 0, 'the overlap is not empty');
  assert.equal(replay.events, events.length - half, 'each event is read once: the overlap is skipped');
  assert.deepEqual(observable(restarted).accounts, observable(live).accounts);
});

test('restarted twice within the overlap, from a snapshot written by an engine read from one, each event is still read once', async () => {
  const store = { async *iterate(q: { from?: string } = {}) { for (const ev of events.slice(0, half)) if (!q.from || ev.ts >= q.from) yield ev; } };
  const live = new DetectorEngine({ rememberEventIdsSeconds: 600 });
  for (const ev of events.slice(0, half)) live.ingest(ev);
  const first = join(dir, 'first.detector');
  await writeSnapshot(live, first, 600);
  // Read back, nothing new stored, stopped again at once: its snapshot holds what the first held.
  const once = new DetectorEngine({ rememberEventIdsSeconds: 600 });
  const readOnce = await readSnapshot(once, first);
  assert.ok(readOnce.restored);
  assert.equal((await replayRecentEvents(once, store, { hours: 24 * 365, afterSnapshot: { fromMs: readOnce.overlapFromMs, seen: readOnce.seen } })).events, 0);
  const second = join(dir, 'second.detector');
  await writeSnapshot(once, second, 600);
  const twice = new DetectorEngine({ rememberEventIdsSeconds: 600 });
  const readTwice = await readSnapshot(twice, second);
  assert.ok(readTwice.restored);
  assert.deepEqual([...readTwice.seen].sort(), [...readOnce.seen].sort());
  const replay = await replayRecentEvents(twice, store, { hours: 24 * 365, afterSnapshot: { fromMs: readTwice.overlapFromMs, seen: readTwice.seen } });
  assert.equal(replay.events, 0, 'nothing is read a second time');
  assert.equal(twice.stats().events, half);
});

test('a snapshot keeps no operator decision: one lifted after it stays lifted', async () => {
  const hydra = Object.entries(labels.accounts).filter(([, l]) => l.startsWith('campaign:camp_hydra')).map(([id]) => id);
  const live = new DetectorEngine();
  for (const ev of events) live.ingest(ev);
  live.flush();
  const flagged = live.forAccount(hydra[0]).level;
  assert.ok(flagged !== 'none' && flagged !== 'watch');
  live.allow({ account: hydra[0] });
  live.setManualVerdict({ kind: 'account', id: hydra[1] }, 'suspend', 'test');
  assert.equal(live.forAccount(hydra[0]).level, 'none');
  const path = join(dir, 'overrides.detector');
  await writeSnapshot(live, path, 0);
  // Restarted with neither (the overrides store no longer holds them): the detector's own verdicts.
  const restarted = new DetectorEngine();
  assert.ok((await readSnapshot(restarted, path)).restored);
  assert.equal(restarted.forAccount(hydra[0]).level, flagged);
  assert.equal(restarted.forAccount(hydra[1]).verdict?.source, 'detector');
  // Restarted with the allow-list entry still configured: allowed.
  const allowing = new DetectorEngine({ config: { allow: { accounts: [hydra[0]] } } });
  assert.ok((await readSnapshot(allowing, path)).restored, 'the allow-list is not a detection setting');
  assert.equal(allowing.forAccount(hydra[0]).level, 'none');
});

test('a snapshot that does not fit is left unused, saying why', async () => {
  const live = new DetectorEngine();
  for (const ev of events.slice(0, 2000)) live.ingest(ev);
  const path = join(dir, 'misfit.detector');
  await writeSnapshot(live, path, 0);
  const reason = async (engine: DetectorEngine, p = path) => { const r = await readSnapshot(engine, p); return r.restored ? 'restored' : r.reason; };
  assert.equal(await reason(new DetectorEngine(), join(dir, 'none.detector')), 'no snapshot yet');
  assert.match(await reason(new DetectorEngine({ config: { link_threshold: 1.2 } })), /detection settings .* changed/);
  const other = new DetectorEngine();
  (other as unknown as { snapshotLayout: () => string }).snapshotLayout = () => 'another layout';
  assert.match(await reason(other), /another version of the detector/);
  // What differs is said: a build with another format and fields this one does not have.
  const [format, fields] = live.snapshotLayout().split(';');
  const newer = new DetectorEngine();
  (newer as unknown as { snapshotLayout: () => string }).snapshotLayout = () => `${Number(format) + 1};${fields},phrases`;
  assert.equal(await reason(newer), `it was written by another version of the detector (format ${format}, this one ${Number(format) + 1}; fields it lacks: phrases)`);
  writeFileSync(join(dir, 'garbage.detector'), 'not a snapshot\n\u0000\u0001');
  assert.match(await reason(new DetectorEngine(), join(dir, 'garbage.detector')), /is not a detector snapshot/);
  truncateSync(path, statSync(path).size - 10);
  const fresh = new DetectorEngine();
  assert.match(await reason(fresh), /truncated/);
  assert.equal(fresh.stats().events, 0, 'nothing was read into the engine');
});

test('a snapshot written before the format changed is not used, and says why; the engine starts empty and rebuilds', async () => {
  // Written by 0.1.0 (test/fixtures/detect/README.md), in format 2. Formats 3 to 6 changed what a
  // cluster, a linked account and a client address keep (campus members, the link that brought an
  // account in, the accounts seen on an address):
  // such a snapshot is left unused with the reason, and the state is rebuilt by replay.
  const path = join(dir, 'release-before.detector');
  writeFileSync(path, gunzipSync(readFileSync(new URL('../../test/fixtures/detect/snapshot-0.1.0-format2.detector.gz', import.meta.url))));
  const engine = new DetectorEngine();
  const read = await readSnapshot(engine, path);
  assert.equal(read.restored, false, 'not used');
  assert.match(read.restored ? '' : read.reason, /another version of the detector \(format 2, this one 7/);
  assert.equal(engine.campaigns().length, 0, 'nothing half-read');
  // A snapshot written now reads back.
  await writeSnapshot(engine, path, 0);
  assert.ok((await readSnapshot(new DetectorEngine(), path)).restored, 'written again and read back');
});

test('a snapshot written before the fresh-input sketch (format 5) is read back: its accounts start with an empty sketch and go on', async () => {
  // The same state as format 5 wrote it: no `freshSketch` nor harvest part, the layout without them.
  const { live, path } = await olderSnapshot('format5.detector', (fields, state) => {
    delete state.freshSketch; delete state.harvestItems;
    return `5;${fields.filter((f) => !f.startsWith('freshSketch/') && !f.startsWith('harvestItems/')).join(',')}`;
  });
  const restarted = await restored(path);
  assert.equal(restarted.stats().events, half, 'every event it held');
  const without = (e: DetectorEngine) => { const { freshSketch: _s, harvestItems: _h, ...rest } = e.snapshotState(); return rest; };
  assert.deepEqual(without(restarted), without(live), 'everything but the sketch and the harvest part as written');
  const sketch = restarted.snapshotState().freshSketch as Uint32Array;
  assert.ok(sketch.length > 0 && sketch.every((x) => x === 0), 'an empty sketch for every account slot');
  assertSameFlaggedAfterTheRest(live, restarted);
});

test('a snapshot written with one lead-in slot an account (format 6) is read back: its lead-in, closing and the rest in the first slots', async () => {
  // Format 6's sketch: the first lead-in slot (17 numbers), the first closing slot (14), then system, tools, tool input and last message; no harvest part.
  const tailsAt = FRESH_SKETCH - 5 - 4 * 14;
  const { live, path, written } = await olderSnapshot('format6.detector', (fields, state) => {
    const now = state.freshSketch as Uint32Array;
    const old = new Uint32Array((now.length / FRESH_SKETCH) * FRESH_SKETCH_6);
    for (let i = 0; i < now.length / FRESH_SKETCH; i++) {
      const a = i * FRESH_SKETCH; const b = i * FRESH_SKETCH_6;
      old.set(now.subarray(a, a + 17), b);
      old.set(now.subarray(a + tailsAt, a + tailsAt + 14), b + 17);
      old.set(now.subarray(a + FRESH_SKETCH - 5, a + FRESH_SKETCH - 1), b + 31);
    }
    state.freshSketch = old;
    delete state.harvestItems;
    return `6;${fields.filter((f) => !f.startsWith('harvestItems/')).map((f) => (f.startsWith('freshSketch/') ? `freshSketch/${FRESH_SKETCH_6}` : f)).sort().join(',')}`;
  });
  const now = written.freshSketch as Uint32Array;
  const restarted = await restored(path);
  const sketch = restarted.snapshotState().freshSketch as Uint32Array;
  assert.equal(sketch.length, now.length, 'the sketch in this layout');
  let kept = 0;
  for (let i = 0; i < now.length / FRESH_SKETCH; i++) {
    const a = i * FRESH_SKETCH;
    for (const [from, n] of [[a, 17], [a + tailsAt, 14], [a + FRESH_SKETCH - 5, 4]]) {
      for (let k = from; k < from + n; k++) { assert.equal(sketch[k], now[k], `account slot ${i}, entry ${k - a}`); if (sketch[k] !== 0) kept++; }
    }
  }
  assert.ok(kept > 100, `what format 6 held is kept (${kept} numbers)`);
  assertSameFlaggedAfterTheRest(live, restarted);
});

test('a snapshot without the harvest part (`harvestItems`, new in format 7) is read back: its accounts start with an empty one and go on', async () => {
  const { live, path } = await olderSnapshot('no-items.detector', (fields, state) => {
    delete state.harvestItems;
    return `7;${fields.filter((f) => !f.startsWith('harvestItems/')).join(',')}`;
  });
  const restarted = await restored(path);
  assert.equal(restarted.stats().events, half, 'every event it held');
  const without = (e: DetectorEngine) => { const { harvestItems: _h, ...rest } = e.snapshotState(); return rest; };
  assert.deepEqual(without(restarted), without(live), 'everything but the harvest part as written');
  const items = restarted.snapshotState().harvestItems as Float32Array;
  assert.ok(items.length > 0 && items.every((x) => x === 0), 'an empty harvest part for every account slot');
  for (const ev of events.slice(half)) restarted.ingest(ev);
  restarted.flush();
  assert.ok((restarted.snapshotState().harvestItems as Float32Array).some((x) => x > 0), 'the harvest part fills again as accounts ask');
});

test('a snapshot\'s layout depends on the build only: not on the configuration, the options or the traffic', async () => {
  const layout = new DetectorEngine().snapshotLayout();
  // Other settings, allow-lists, shared indicators, remembered ids, report columns.
  const configured = [
    new DetectorEngine({ config: { link_threshold: 1.2, thresholds: { watch: 0.3 }, allow: { accounts: ['acct_partner'], orgs: ['org_partner'] } } }),
    new DetectorEngine({ intel: new SharedIndicators('k'.repeat(32)), rememberEventIdsSeconds: 660 }),
    new DetectorEngine({ trackFirstFlags: true }),
  ];
  for (const e of configured) assert.equal(e.snapshotLayout(), layout);
  // After traffic: campaigns flagged, operator decisions, more accounts than the first columns hold.
  const busy = new DetectorEngine({ rememberEventIdsSeconds: 660 });
  for (const ev of events) busy.ingest(ev);
  for (let k = 0; k < 1500; k++) busy.ingest({ ...events[k], id: `many-${k}`, account_id: `acct_many_${k}`, ts: events[events.length - 1].ts });
  busy.flush();
  const hydra = Object.entries(labels.accounts).find(([, l]) => l.startsWith('campaign:'))![0];
  busy.setManualVerdict({ kind: 'cluster', id: busy.forAccount(hydra).clusterId! }, 'none');
  busy.allow({ account: hydra });
  assert.ok(busy.stats().accounts > 1500 && busy.stats().campaigns >= 1);
  assert.equal(busy.snapshotLayout(), layout);
  // Written by one, read by an engine configured otherwise (outside detection settings), and written again.
  const path = join(dir, 'layout.detector');
  await writeSnapshot(busy, path, 660);
  const other = new DetectorEngine({ config: { allow: { orgs: ['org_partner'] }, replay_hours: 12 }, intel: new SharedIndicators('k'.repeat(32)) });
  const read = await readSnapshot(other, path);
  assert.ok(read.restored, read.restored ? '' : read.reason);
  assert.equal(other.snapshotLayout(), layout);
  await writeSnapshot(other, path, 0);
  assert.ok((await readSnapshot(new DetectorEngine({ trackFirstFlags: true }), path)).restored);
});

test('periodic snapshots are written on their own, and a failure is told and counted, not thrown', async () => {
  const live = new DetectorEngine();
  for (const ev of events.slice(0, 1000)) live.ingest(ev);
  const path = join(dir, 'periodic.detector');
  const errors: string[] = [];
  const snaps = periodicSnapshots(live, path, { everyMs: 30, overlapSeconds: 0, onError: (e) => errors.push(e.message) });
  for (let t = 0; t < 100 && !snaps.last(); t++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(snaps.last()!.bytes > 0 && statSync(path).size > snaps.last()!.bytes);
  for (const ev of events.slice(1000, 2000)) live.ingest(ev);
  await snaps.stop();
  const back = new DetectorEngine();
  assert.ok((await readSnapshot(back, path)).restored);
  assert.equal(back.stats().events, 2000, 'the last one, written at stop, holds every event');
  // A missing folder is made; a file where the folder should be is a failure.
  const nested = periodicSnapshots(live, join(dir, 'made', 'for', 'it.detector'), { everyMs: 0, overlapSeconds: 0, onError: (e) => errors.push(e.message) });
  await nested.stop();
  assert.ok(nested.last() && statSync(join(dir, 'made', 'for', 'it.detector')).isFile());
  const broken = periodicSnapshots(live, join(path, 'x.detector'), { everyMs: 0, overlapSeconds: 0, onError: (e) => errors.push(e.message) });
  await broken.stop();
  assert.equal(broken.failures(), 1);
  assert.match(errors.join('\n'), /ENOTDIR|EEXIST/);
  assert.equal(errors.length, 1);
  // On demand (the admin API's route), a failure is thrown to the caller, and counted.
  await assert.rejects(broken.saveNow(), /ENOTDIR|EEXIST/);
  assert.equal(broken.failures(), 2);
  assert.equal((await nested.saveNow()).events, 2000);
});

test('a gateway\'s snapshot can be resumed by a scan, which counts what is served from there on', async () => {
  const gateway = new DetectorEngine();
  for (const ev of events.slice(0, half)) gateway.ingest(ev);
  const path = join(dir, 'gateway.detector');
  await writeSnapshot(gateway, path, 0);
  const rest = events.slice(half);
  const { report, state } = await scanEvents(rest.map((e) => ({ ...e })), { statePath: path });
  assert.equal(state?.eventsBefore, half);
  const id = rest[rest.length - 1].account_id!;
  const row = report.accounts.find((a) => a.account_id === id)!;
  assert.equal(row.served.reduce((a, b) => a + b, 0), rest.filter((e) => e.account_id === id).length);
});
