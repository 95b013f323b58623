/**
 * Cost of shared indicators on the detector's path, and of case files.
 *
 * 1. Ingest: the same events through the engine without indicators (baseline) and with N imported
 *    indicators (a campaign's real ones plus random ones), alternating, CPU time per run; the
 *    figure is the ratio to the baseline of the same round.
 * 2. A case on the campaign from a SQLite event store (members' events, then the campaign's days
 *    scanned for other users of its values), and its STIX export and import.
 *
 *   taskset -c 1 node --expose-gc --import tsx bench/intel.ts [--rounds 9] [--indicators 1000] [--partner-keys 0]
 *
 * --partner-keys K: K partners with keys of their own besides the shared key (each distinct value is
 * hashed once per key).
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DetectorEngine, SharedIndicators, buildLabelledEvents, INDICATOR_KINDS, type PromptPool, type SharedIndicator } from '../src/detect/index.ts';
import { openSqlite, SqliteEventStore } from '../src/store/index.ts';
import { buildCaseFile, caseToStix, stixToIndicators } from '../src/cases/index.ts';
import { machine, median } from './lib.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '9' }, indicators: { type: 'string', default: '1000' }, 'partner-keys': { type: 'string', default: '0' } } });
const partnerKeys = Array.from({ length: Number(values['partner-keys']) }, (_, i) => `bench-partner-${i}-own-key-0123456789`);
const rounds = Number(values.rounds);
const extra = Number(values.indicators);
const KEY = 'bench-sharing-key-0123456789';

const pool = JSON.parse(readFileSync(new URL('../test/fixtures/detect/prompts.json', import.meta.url), 'utf8')) as PromptPool;
const scenario = buildLabelledEvents(pool, {
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
  (globalThis as { gc?: () => void }).gc?.();
  const e = new DetectorEngine(intel ? { intel } : {});
  const c0 = process.cpuUsage();
  for (const ev of events) e.ingest(ev);
  e.flush();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

// Three runs per round, in rotating order: no indicators; N random ones (nothing matches: the cost
// of looking); N random plus the campaign's (its accounts are held from their first request, so
// the engine also does the work of flagging them earlier).
const runs = { none: [] as number[], looking: [] as number[], matching: [] as number[] };
const randomOnly = all.slice(imported.length);
ingestCpuMs(null); // warm-up
for (let r = 0; r < rounds; r++) {
  const order = (['none', 'looking', 'matching'] as const).map((_, i, a) => a[(i + r) % 3]);
  for (const which of order) {
    if (which === 'none') { runs.none.push(ingestCpuMs(null)); continue; }
    const intel = new SharedIndicators(KEY, { keys: partnerKeys });
    intel.add(which === 'looking' ? randomOnly : all);
    runs[which].push(ingestCpuMs(intel));
  }
}
const ratio = (xs: number[]) => xs.map((x, i) => x / runs.none[i]);
const show = (label: string, xs: number[]) => console.log(`${label}: median ${median(xs).toFixed(0)} ms CPU; ratio to none per round ${ratio(xs).map((x) => x.toFixed(3)).join(' ')} (median ${median(ratio(xs)).toFixed(3)}); ${((median(xs) - median(runs.none)) / events.length * 1000).toFixed(2)} us per event more`);
console.log(`ingest, ${events.length} events, ${rounds} rounds, ${partnerKeys.length} partner keys besides the shared one: no indicators median ${median(runs.none).toFixed(0)} ms CPU`);
show(`${randomOnly.length} indicators, none matching`, runs.looking);
show(`${all.length} indicators, ${imported.length} of them the campaign's`, runs.matching);
console.log(`case on ${campaign.members.length} accounts: built in ${buildMs.toFixed(0)} ms (${kase.events_read} member events read, ${kase.window_events_scanned} events of its days scanned); ${exported} indicators exported in ${exportMs.toFixed(1)} ms, imported in ${importMs.toFixed(1)} ms`);
await store.close();
rmSync(dir, { recursive: true, force: true });
