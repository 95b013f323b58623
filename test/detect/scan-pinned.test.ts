// What the detector decides on a committed log is pinned: `warden scan` of
// test/fixtures/detect/scan-smoke-1000.jsonl.gz must give the committed report (every account's
// level, score, timeline, requests served at each level and reasons; clusters and campaigns) and
// the same score for every account, those below watch too (the report leaves theirs out).
// Work that only makes the scan faster must leave it as it is (BENCHMARKS.md, "Offline scan").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { scanEvents } from '../../src/detect/index.ts';
import type { DetectionReport } from '../../src/detect/report.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures/detect');

test('a scan of the committed smoke log gives the committed report, score for score', async () => {
  const r = await scanEvents(join(FIXTURES, 'scan-smoke-1000.jsonl.gz'));
  const pinned = JSON.parse(gunzipSync(readFileSync(join(FIXTURES, 'scan-smoke-1000.report.json.gz'))).toString('utf8')) as { report: Omit<DetectionReport, 'generated_at'>; account_scores: Record<string, number> };
  const expected = pinned.report;
  // The report as written (`--report`), without the time it was written at.
  const { generated_at: _written, ...got } = JSON.parse(JSON.stringify(r.report)) as DetectionReport;
  assert.equal(r.events, 1000, 'every event of the log is read');
  assert.equal(r.skipped.events, 0, 'no event of the log is skipped');
  assert.ok(expected.accounts.some((a) => a.level === 'suspend') && expected.accounts.some((a) => a.level === 'none'), 'the pinned log holds flagged and unflagged accounts');
  // Account by account first, so that a difference names the account and what moved.
  const byId = new Map(got.accounts.map((a) => [a.account_id, a]));
  assert.deepEqual([...byId.keys()].sort(), expected.accounts.map((a) => a.account_id).sort(), 'the same accounts');
  for (const want of expected.accounts) assert.deepEqual(byId.get(want.account_id), want, `account ${want.account_id}: level, score, timeline, served and reasons as pinned`);
  assert.deepEqual(got.clusters, expected.clusters, 'the same clusters, scores and reasons');
  assert.deepEqual(got.campaigns, expected.campaigns, 'the same campaigns');
  assert.deepEqual(got, expected, 'the whole report as pinned');
  // Every account's score as the engine holds it (float32), flagged or not.
  const state = r.engine!.snapshotState() as { ids: Array<string | null>; accScore: Float32Array };
  const scores: Record<string, number> = {};
  state.ids.forEach((id, i) => { if (id) scores[id] = state.accScore[i]; });
  assert.deepEqual(scores, pinned.account_scores, 'every account scored as pinned, to the last bit');
});
