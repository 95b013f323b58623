/**
 * Cost of shared indicators on the detector's path, and of case files.
 *
 * 1. Ingest: the same events through the engine without indicators (baseline) and with N imported
 *    indicators (a campaign's real ones plus random ones), alternating, CPU time per run; the
 *    figure is the ratio to the baseline of the same round.
 * 2. A case on the campaign from a SQLite event store (members' events, then the campaign's days
 *    scanned for other users of its values), and its STIX export and import.
 *
 *   node --import tsx bench/intel.ts [--rounds 5] [--indicators 1000]
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DetectorEngine, SharedIndicators, buildScenario, INDICATOR_KINDS, type PromptPool, type SharedIndicator } from '../src/detect/index.ts';
import { openSqlite, SqliteEventStore } from '../src/store/index.ts';
import { buildCaseFile, caseToStix, stixToIndicators } from '../src/cases/index.ts';
import { machine, median } from './lib.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, indicators: { type: 'string', default: '1000' } } });
const rounds = Number(values.rounds);
const extra = Number(values.indicators);
const KEY = 'bench-sharing-key-0123456789';

const pool = JSON.parse(readFileSync(new URL('../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const scenario = buildScenario(pool, {
  seed: 21, days: 3,
  organic: { hobbyist: 400, startup: 20, enterprise: 4, researcher: 6, batch: 4, agent: 10, class: 4 },
  campaigns: [{ kind: 'hydra', accounts: 120 }, { kind: 'surgical', accounts: 20 }],
});
const events = scenario.events;
console.log(`# ${events.length} events, ${Object.keys(scenario.labels.accounts).length} accounts; ${machine()}; ${new Date().toISOString()}`);

// The campaign's own indicators, from a case built on a first pass.
const dir = mkdtempSync(join(tmpdir(), 'warden-bench-intel-'));
const seed = new DetectorEngine();
for (const ev of events) seed.ingest(ev);
seed.flush();
const store = new SqliteEventStore(openSqlite(join(dir, 'events.db')));
await store.appendBatch(events);
const campaign = seed.campaigns().sort((a, b) => b.members.length - a.members.length)[0];
let t = performance.now();
const kase = (await buildCaseFile({ engine: seed, events: store }, campaign.id))!;
const buildMs = performance.now() - t;
t = performance.now();
const { bundle, indicators: exported } = caseToStix(kase, { provider: 'bench', sharingKey: KEY, validDays: 90 });
const exportMs = performance.now() - t;
const random = (i: number): SharedIndicator => ({ id: `indicator--r${i}`, kind: INDICATOR_KINDS[i % INDICATOR_KINDS.length], hmac: randomBytes(32).toString('hex'), level: 'throttle', source: 'bench', campaign: null, confidence: null, valid_until: null, created_at: new Date().toISOString() });
const bigBundle = { ...bundle, objects: [...bundle.objects] };
t = performance.now();
const imported = stixToIndicators(bigBundle, { sharingKey: KEY, level: 'throttle' }).indicators;
const importMs = performance.now() - t;
const all = [...imported, ...Array.from({ length: extra }, (_, i) => random(i))];

function ingestCpuMs(intel: SharedIndicators | null): number {
  const e = new DetectorEngine(intel ? { intel } : {});
  const c0 = process.cpuUsage();
  for (const ev of events) e.ingest(ev);
  e.flush();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

const base: number[] = [];
const withIntel: number[] = [];
ingestCpuMs(null); // warm-up
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? [false, true] : [true, false];
  for (const on of order) {
    if (on) { const intel = new SharedIndicators(KEY); intel.add(all); withIntel.push(ingestCpuMs(intel)); } else base.push(ingestCpuMs(null));
  }
}
const ratios = base.map((b, i) => withIntel[i] / b);
console.log(`ingest, ${events.length} events: no indicators median ${median(base).toFixed(0)} ms CPU; with ${all.length} indicators (${imported.length} of the campaign's) median ${median(withIntel).toFixed(0)} ms`);
console.log(`ratio with/without per round: ${ratios.map((x) => x.toFixed(3)).join(' ')} (median ${median(ratios).toFixed(3)})`);
console.log(`per event: ${((median(withIntel) - median(base)) / events.length * 1000).toFixed(2)} us more`);
console.log(`case on ${campaign.members.length} accounts: built in ${buildMs.toFixed(0)} ms (${kase.events_read} member events read, ${kase.window_events_scanned} events of its days scanned); ${exported} indicators exported in ${exportMs.toFixed(1)} ms, imported in ${importMs.toFixed(1)} ms`);
await store.close();
rmSync(dir, { recursive: true, force: true });
