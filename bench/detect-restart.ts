/**
 * Restarting the detector: rebuilding its state by replaying stored events (what `warden serve`
 * does without a snapshot) against reading a snapshot (src/detect/snapshot.ts), on the same state.
 *   node --expose-gc --max-old-space-size=6000 --import tsx bench/detect-restart.ts [--accounts N]
 * N accounts (default 250,000), two events each, spread over 60 hours and stored in a SQLite event
 * store (as `warden serve` keeps them); the engine that ingested them writes a snapshot. Then, each in
 * a fresh engine: replay of the last 72 hours from the store, and the snapshot read back.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DetectorEngine, readSnapshot, replayRecentEvents, writeSnapshot } from '../src/detect/index.ts';
import { openSqlite, SqliteEventStore } from '../src/store/index.ts';
import type { InteractionEvent } from '../src/events/index.ts';

const args = process.argv.slice(2);
const N = args.includes('--accounts') ? Number(args[args.indexOf('--accounts') + 1]) : 250_000;
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-restart-'));
const db = openSqlite(join(dir, 'warden.db'));
const store = new SqliteEventStore(db);

const template: InteractionEvent = {
  schema: 'warden.interaction/1', id: '', ts: '', duration_ms: 800, flavour: 'openai.chat', model: 'gpt-large', upstream: 'up',
  account_id: null, org_id: null, key_id: 'key_1', client: { ip: '', user_agent: 'python-requests/2.32', country: 'US', asn: 8854 },
  request: {
    stream: false, system: null, messages: [{ role: 'user', text: 'Question: how many apples are left if I eat 3 of 12? Think step by step.', chars: 72 }], tools: [], tool_choice: null,
    params: { max_tokens: 1024, temperature: 0, top_p: null, n: null, logprobs: null, top_logprobs: null, reasoning_effort: null, thinking_budget: null, stop: false, seed: null, response_format: null }, bytes: 300,
  },
  response: { status: 200, error_code: null, input_tokens: 37, output_tokens: 500, reasoning_tokens: 0, usage_source: 'upstream', tool_calls: 0, finish_reason: 'stop', ttfb_ms: 300, output_chars: 1000, reasoning_chars: 0 },
  account: { created_at: '', tier: 'email_verified', programme: 'none', email_domain: 'example.com', payment_fp: null, signup_ip: null, claimed_country: 'US' },
  enforcement: { limit: null, verdict: null, shaping: [], policy: [], watermark: null },
};
const t0 = Date.parse('2026-03-02T00:00:00Z');
const spanMs = 60 * 3_600_000;
function* events(): Generator<InteractionEvent> {
  for (let i = 0; i < N; i++) {
    const ip = `${10 + (i >>> 16) % 200}.${(i >>> 8) & 255}.${i & 255}.${1 + (i % 250)}`;
    const account = { ...template.account!, payment_fp: `pf_${i % 50 === 0 ? 'shared' + (i % 1000) : i}`, signup_ip: ip, created_at: new Date(t0 - (i % 10_000) * 60_000).toISOString() };
    for (let k = 0; k < 2; k++) {
      const ts = new Date(t0 + (i * spanMs) / N + k * 7).toISOString();
      yield { ...template, id: `e${String(i).padStart(9, '0')}_${k}`, ts, account_id: `acct_${i}`, client: { ...template.client, ip }, account };
    }
  }
}

const live = new DetectorEngine({ rememberEventIdsSeconds: 660 });
let batch: InteractionEvent[] = [];
let lastTs = 0;
for (const ev of events()) {
  live.ingest(ev);
  lastTs = Date.parse(ev.ts);
  batch.push(ev);
  if (batch.length === 5000) { await store.appendBatch(batch); batch = []; }
}
if (batch.length) await store.appendBatch(batch);
live.flush();
const path = join(dir, 'warden.db.detector');
const w0 = performance.now();
const header = await writeSnapshot(live, path, 660);
const writeS = (performance.now() - w0) / 1000;
// The synchronous part (serialising) is what holds the event loop: time it alone.
const s0 = performance.now();
const { serialize } = await import('node:v8');
serialize({ state: live.snapshotState() });
const serialiseS = (performance.now() - s0) / 1000;
const stats = live.stats();

globalThis.gc?.();
let replayed: DetectorEngine | null = new DetectorEngine();
const r = await replayRecentEvents(replayed, store, { hours: 72, nowMs: lastTs + 60_000 });
const replayStats = replayed.stats();
replayed = null;
globalThis.gc?.();

const restored = new DetectorEngine();
const q0 = performance.now();
const read = await readSnapshot(restored, path);
if (!read.restored) throw new Error(read.reason);
const after = await replayRecentEvents(restored, store, { hours: 72, nowMs: lastTs + 60_000, afterSnapshot: { fromMs: read.overlapFromMs, seen: read.seen } });
const readS = (performance.now() - q0) / 1000;
const restoredStats = restored.stats();
for (const k of ['events', 'accounts', 'clusters', 'linkKeys'] as const) {
  if (replayStats[k] !== stats[k] || restoredStats[k] !== stats[k]) throw new Error(`${k}: live ${stats[k]}, replayed ${replayStats[k]}, restored ${restoredStats[k]}`);
}
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
console.log(`\n### Restarting the detector (${N.toLocaleString('en')} accounts, ${stats.events.toLocaleString('en')} events over 60 hours, ${stats.clusters.toLocaleString('en')} clusters)\n`);
console.log('| restart | seconds | ratio to replay |');
console.log('|---|---|---|');
console.log(`| replay the last 72 h from the SQLite event store (no snapshot) | ${r.seconds.toFixed(1)} | 1.00 |`);
console.log(`| read the snapshot, then replay what was stored after it (${after.events} events) | ${readS.toFixed(1)} | ${(readS / r.seconds).toFixed(2)} |`);
console.log(`\nSnapshot: ${mib(statSync(path).size)} (${header.accounts.toLocaleString('en')} accounts); written in ${writeS.toFixed(1)} s, of which serialising (the part that holds the event loop) ${serialiseS.toFixed(1)} s.`);
await store.close();
db.close();
rmSync(dir, { recursive: true, force: true });
