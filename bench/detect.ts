/**
 * Detector benchmark: quality against the baselines, offline scan throughput, request-path cost
 * and memory at 1M accounts. Run: node --import tsx bench/detect.ts [--prompts DIR] [--quick]
 * Figures are printed as a Markdown table (copied into BENCHMARKS.md) with ratios against
 * baselines measured in the same run.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, readdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLabelledEvents, DetectorEngine, detectHooks, scanEvents, scoreReport, buildReport, VolumeBaseline, PradaBaseline, verdictRank, type PromptPool, type DetectorName } from '../src/detect/index.ts';
import { resolveScenario, generateTraffic, evaluate, loadPromptCorpus, defaultPromptDir, type LabelLine } from '../src/traffic/index.ts';
import { courseWorkload, mergeByTime, type CourseOptions } from '../src/traffic/course.ts';
import type { InteractionEvent } from '../src/events/index.ts';
import { readAccountFacts } from '../src/identity/facts-file.ts';
import { SharedIndicators, VERDICT_LEVELS } from '../src/detect/index.ts';
import { buildCaseFile, caseToStix, stixToIndicators } from '../src/cases/index.ts';
import { openSqlite, SqliteEventStore } from '../src/store/index.ts';
import { REDTEAM_BOUGHT, REDTEAM_STRATEGIES } from './detect-redteam-config.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const promptDir = args[args.indexOf('--prompts') + 1] && args.includes('--prompts') ? args[args.indexOf('--prompts') + 1] : join(import.meta.dirname, '../../shared/data');

function loadPool(): { pool: PromptPool; source: string } {
  if (existsSync(join(promptDir, 'organic'))) {
    const read = (sub: string) => readdirSync(join(promptDir, sub)).filter((f) => f.endsWith('.jsonl'))
      .flatMap((f) => readFileSync(join(promptDir, sub, f), 'utf8').trim().split('\n').map((l) => ({ f, t: JSON.parse(l).text as string })));
    const org = read('organic'); const dis = read('distill');
    return {
      pool: { organic: org.map((x) => x.t), code: dis.filter((x) => /code/.test(x.f)).map((x) => x.t), maths: dis.filter((x) => !/code/.test(x.f)).map((x) => x.t) },
      source: promptDir,
    };
  }
  return { pool: JSON.parse(readFileSync(join(import.meta.dirname, '../test/fixtures/detect/prompts.json'), 'utf8')), source: 'test/fixtures/detect' };
}

const pct = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(2)}%`);
const out: string[] = [];
const log = (s: string) => { console.log(s); out.push(s); };

async function quality() {
  const { pool, source } = loadPool();
  const k = quick ? 1 : 3;
  const { events, labels } = buildLabelledEvents(pool, {
    seed: 42, days: 5,
    organic: { hobbyist: 800 * k, startup: 30 * k, enterprise: 2 * k, researcher: 6 * k, batch: 6 * k, agent: 6 * k, class: 4 * k },
    campaigns: [{ kind: 'hydra', accounts: 400 * k }, { kind: 'surgical', accounts: 25 }, { kind: 'agentic', accounts: 60 }, { kind: 'adaptive', accounts: 80 }],
  });
  log(`\n### Quality (scenario: ${events.length} events, ${Object.keys(labels.accounts).length} accounts, prompts from ${source})\n`);
  log('| detector | campaign accounts flagged | campaigns flagged | adaptive accounts flagged | organic accounts flagged | worst campaign share served before containment |');
  log('|---|---|---|---|---|---|');
  for (const det of ['warden', 'volume', 'prada'] as DetectorName[]) {
    const r = await scanEvents(events, { detector: det });
    const q = scoreReport(r.report, labels);
    log(`| ${r.report.detector} | ${pct(q.campaign_account_recall)} | ${pct(q.campaign_cluster_recall)} | ${pct(q.adaptive_account_recall)} | ${pct(q.organic_flag_rate)} (${q.organic_flagged}/${q.organic_accounts}) | ${pct(q.served_before_containment.worst)} |`);
    if (det === 'warden') {
      const kinds = Object.entries(q.organic_by_kind).map(([kind, v]) => `${kind} ${v.flagged}/${v.accounts}`).join(', ');
      console.log(`  organic flagged by kind: ${kinds}`);
    }
  }
  return { events };
}

async function throughput(all: InteractionEvent[]) {
  const events = all.slice(0, 150_000);
  const dir = mkdtempSync(join(tmpdir(), 'warden-bench-detect-'));
  const file = join(dir, 'events.jsonl');
  const reps = quick ? 1 : 3;
  const lines = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
  writeFileSync(file, '');
  for (let r = 0; r < reps; r++) appendFileSync(file, lines);
  const n = events.length * reps;
  // Reading and scanning run in fresh processes, as `warden scan` does: in this one, the events
  // of the quality runs would stay in the heap, and every major collection would walk them.
  // `oneCore`: the process (every thread of it: V8's collector helpers too) confined to one CPU
  // with taskset, so its wall-clock rate is what one core does, as the goal is stated.
  const child = (mode: string, oneCore = false) => {
    const argv = ['--import', 'tsx', join(import.meta.dirname, 'scan-child.ts'), mode, file];
    const [cmd, args] = oneCore ? ['taskset', ['-c', String(cpus().length - 1), process.execPath, ...argv]] : [process.execPath, argv];
    const out = execFileSync(cmd, args, { encoding: 'utf8', cwd: join(import.meta.dirname, '..') });
    return JSON.parse(out.trim().split('\n').pop()!) as { events: number; wall: number; cpu: number };
  };
  const naive = child('readline');
  const parse = child('reader');
  const scan = child('scan');
  let pinned: { naive: { wall: number }; scan: { wall: number } } | null = null;
  try { execFileSync('taskset', ['-c', '0', 'true']); pinned = { naive: child('readline', true), scan: child('scan', true) }; } catch { pinned = null; }
  const clock = () => { const t = performance.now(); const c = process.cpuUsage(); return () => ({ wall: (performance.now() - t) / 1000, cpu: (() => { const d = process.cpuUsage(c); return (d.user + d.system) / 1e6; })() }); };
  rmSync(dir, { recursive: true, force: true });
  // The detector alone, on events already in memory (the online path: the gateway hands over objects).
  const warm = new DetectorEngine();
  for (const ev of events) warm.ingest(ev);
  const shifted = Array.from({ length: reps }, (_, r) => r === 0 ? events : events.map((ev) => ({ ...ev, ts: new Date(Date.parse(ev.ts) + r * 10 * 86_400_000).toISOString() })));
  const stop = clock();
  const alone = new DetectorEngine();
  for (const evs of shifted) for (const ev of evs) alone.ingest(ev);
  alone.flush();
  const engineT = stop();
  const rate = (x: { wall: number; cpu: number }) => `${Math.round(n / x.wall).toLocaleString('en')} | ${Math.round(n / x.cpu).toLocaleString('en')}`;
  log(`\n### Offline scan (one core, ${n} events from JSONL)\n`);
  log('Each pass over the file runs in a fresh process, as `warden scan` does; the detector alone runs on events already in memory.\n');
  log('| path | events/s (wall) | events per CPU-second | ratio (CPU) |');
  log('|---|---|---|---|');
  log(`| readline + JSON.parse (baseline) | ${rate(naive)} | 1.00 |`);
  log(`| warden's JSONL reader (bytes, per-line decode) + JSON.parse | ${rate(parse)} | ${(naive.cpu / parse.cpu).toFixed(2)} |`);
  log(`| warden scan (read + parse + detect) | ${rate(scan)} | ${(naive.cpu / scan.cpu).toFixed(2)} |`);
  log(`| detector alone (events in memory) | ${rate(engineT)} | ${(naive.cpu / engineT.cpu).toFixed(2)} |`);
  if (pinned) {
    log(`\nOn one core (taskset, every thread of the process on CPU ${cpus().length - 1}), events/s: readline + JSON.parse ${Math.round(n / pinned.naive.wall).toLocaleString('en')}, warden scan ${Math.round(n / pinned.scan.wall).toLocaleString('en')} (${(pinned.naive.wall / pinned.scan.wall).toFixed(2)} times the baseline).`);
  } else log('\n(taskset is not available: no one-core figure.)');

  log(`\nMean event size ${Math.round(lines.length / n * reps)} bytes.`);
  return warm;
}

function requestPath(engine: DetectorEngine, events: InteractionEvent[]) {
  const ids = engine.accountIds();
  const hooks = detectHooks(new DetectorEngine(), { idleFlushMs: 0, maxQueue: 1 << 22 });
  const N = quick ? 100_000 : 400_000;
  const lookup = new Float64Array(N); const enq = new Float64Array(N); const base = new Float64Array(N);
  const m = new Map(ids.map((id, i) => [id, i]));
  let sink = 0;
  for (let i = 0; i < N; i++) {
    const id = ids[(i * 7919) % ids.length];
    let t = process.hrtime.bigint(); sink += m.get(id)!; base[i] = Number(process.hrtime.bigint() - t);
    t = process.hrtime.bigint(); sink += engine.forAccount(id).level.length; lookup[i] = Number(process.hrtime.bigint() - t);
    t = process.hrtime.bigint(); hooks.onEvent(events[i % events.length]); enq[i] = Number(process.hrtime.bigint() - t);
  }
  const q = (a: Float64Array, p: number) => { const s = Float64Array.from(a).sort(); return s[Math.floor(p * (s.length - 1))] / 1000; };
  log('\n### Request path (per request, microseconds)\n');
  log('| operation | p50 | p99 | p99.9 |');
  log('|---|---|---|---|');
  log(`| Map.get + hrtime (baseline) | ${q(base, 0.5).toFixed(2)} | ${q(base, 0.99).toFixed(2)} | ${q(base, 0.999).toFixed(2)} |`);
  log(`| VerdictView.forAccount | ${q(lookup, 0.5).toFixed(2)} | ${q(lookup, 0.99).toFixed(2)} | ${q(lookup, 0.999).toFixed(2)} |`);
  log(`| detectHooks.onEvent (enqueue) | ${q(enq, 0.5).toFixed(2)} | ${q(enq, 0.99).toFixed(2)} | ${q(enq, 0.999).toFixed(2)} |`);
  void sink;
}

/**
 * Heap held by an engine fed `n` synthetic accounts (own card and signup address each, one in 50
 * sharing a card; 2 events each), arriving evenly over `spanMs` of event time.
 */
async function engineMemory(template: InteractionEvent, n: number, spanMs: number, config: object) {
  // Array buffers of an engine measured before are released by a background thread after the
  // collection: wait for it, or the next measure starts from a higher floor.
  const settle = async () => { globalThis.gc?.(); await new Promise((r) => setTimeout(r, 500)); globalThis.gc?.(); };
  await settle();
  const before = process.memoryUsage();
  const engine = new DetectorEngine({ config });
  const t0 = Date.parse('2026-03-02T00:00:00Z');
  const step = spanMs / n;
  for (let i = 0; i < n; i++) {
    const id = `acct_${i}`;
    const ip = `${10 + (i >>> 16) % 200}.${(i >>> 8) & 255}.${i & 255}.${1 + (i % 250)}`;
    const acct = { ...template.account!, payment_fp: `pf_${i % 50 === 0 ? 'shared' + (i % 1000) : i}`, signup_ip: ip, created_at: new Date(t0 - (i % 10_000) * 60_000).toISOString() };
    for (let k = 0; k < 2; k++) {
      engine.ingest({ ...template, id: `e${i}_${k}`, ts: new Date(t0 + i * step + k * 7).toISOString(), account_id: id, org_id: null, client: { ...template.client, ip }, account: acct });
    }
  }
  engine.flush();
  await settle();
  const after = process.memoryUsage();
  const used = (after.heapUsed + after.arrayBuffers) - (before.heapUsed + before.arrayBuffers);
  return { used, stats: engine.stats() };
}

async function memory(template: InteractionEvent) {
  const N = quick ? 200_000 : 1_000_000;
  const { used, stats } = await engineMemory(template, N, N * 20, {});
  log(`\n### Memory at ${N.toLocaleString('en')} accounts (${(2 * N).toLocaleString('en')} events)\n`);
  log('| measure | value |');
  log('|---|---|');
  log(`| heap + typed arrays held by the engine | ${(used / 2 ** 20).toFixed(0)} MiB |`);
  log(`| per account | ${Math.round(used / N)} bytes |`);
  log(`| link keys indexed | ${stats.linkKeys.toLocaleString('en')} |`);
  // Churn: the same accounts arriving over 60 days, each active for a moment; the default forgets
  // accounts idle for 14 days (detect.evict_idle_hours), the baseline keeps every account.
  const DAYS = 60;
  const rows = [['keeps every account (evict_idle_hours: 0)', { evict_idle_hours: 0 }], ['default (forgets after 14 days idle)', {}]] as const;
  const res = [];
  for (const [name, config] of rows) res.push({ name, ...await engineMemory(template, N, DAYS * 86_400_000, config) });
  log(`\n${N.toLocaleString('en')} accounts arriving evenly over ${DAYS} days of event time:\n`);
  log('| engine | accounts in memory | forgotten | link keys | heap + typed arrays | ratio to keeping all |');
  log('|---|---|---|---|---|---|');
  for (const r of res) log(`| ${r.name} | ${r.stats.accounts.toLocaleString('en')} | ${r.stats.forgotten.toLocaleString('en')} | ${r.stats.linkKeys.toLocaleString('en')} | ${(r.used / 2 ** 20).toFixed(0)} MiB | ${(r.used / res[0].used).toFixed(2)} |`);
}

const DETECTORS = ['warden', 'volume-threshold', 'prada'] as const;

/** Run one detector (Warden or a baseline) over the events and evaluate it against the labels; flagged = throttle or above. */
async function scoreDetector(name: (typeof DETECTORS)[number], evs: InteractionEvent[], labels: LabelLine[]) {
  return (await runDetector(name, evs, labels)).evaluation;
}

/** scoreDetector, with the detector's own report (every account's highest level). */
async function runDetector(name: (typeof DETECTORS)[number], evs: InteractionEvent[], labels: LabelLine[]) {
  const det = name === 'warden' ? new DetectorEngine({ trackFirstFlags: true }) : name === 'prada' ? new PradaBaseline() : new VolumeBaseline();
  for (const ev of evs) det.ingest(ev);
  det.flush();
  const report = buildReport(det, { detector: name, to: evs[evs.length - 1].ts });
  return { report, evaluation: await evaluate(report, labels, () => evs, { flagLevel: 'throttle' }) };
}

/** The traffic model's prompts: the real prompt sets when present, else the ones it ships. */
function trafficPrompts() {
  const dir = existsSync(join(promptDir, 'organic')) ? promptDir : defaultPromptDir();
  return { dir, prompts: loadPromptCorpus(dir) };
}

/** The runs of the traffic-model table: `smoke` seeds 1-5 and `default` x0.25 seeds 1-2 (one `smoke` run with --quick). */
function trafficRuns(): Array<{ preset: string; seed: number; scale: number }> {
  return quick
    ? [{ preset: 'smoke', seed: 1, scale: 1 }]
    : [1, 2, 3, 4, 5].map((seed) => ({ preset: 'smoke', seed, scale: 1 })).concat([1, 2].map((seed) => ({ preset: 'default', seed, scale: 0.25 })));
}

/**
 * Quality on the traffic model (src/traffic), scored by its `evaluate` (flagged = throttle or
 * above for campaigns and organic accounts alike; contained = throttle or above, 95% coverage):
 * several presets and seeds, mean and worst per detector.
 */
async function trafficQuality() {
  const { dir, prompts } = trafficPrompts();
  const runs = trafficRuns();
  type Row = { recall: number; clusters: number; adaptive: number; adaptiveFlagged: number; adaptiveAccounts: number; oneDay: boolean; organicFp: number; organicFlagged: number; organic: number; contained1: number; campaigns: number; worstServed: number; meanServed: number };
  const rows: Record<string, Row[]> = { warden: [], 'volume-threshold': [], prada: [] };
  const perCampaign: string[] = [];
  let events = 0;
  for (const r of runs) {
    const run = generateTraffic(resolveScenario(null, { preset: r.preset, seed: r.seed, scale: r.scale }), { prompts });
    const evs = [...run.events];
    events += evs.length;
    for (const name of DETECTORS) {
      const rep = await scoreDetector(name, evs, run.labels as LabelLine[]);
      const served = rep.campaigns.map((c) => c.share_requests_before_containment);
      const clusters = rep.campaigns.filter((c) => c.account_recall > 0.5).length;
      rows[name].push({
        recall: rep.totals.campaign_account_recall, clusters: clusters / Math.max(1, rep.campaigns.length), adaptive: rep.totals.adaptive_account_recall,
        adaptiveFlagged: rep.totals.adaptive_accounts_flagged, adaptiveAccounts: rep.totals.adaptive_accounts, oneDay: r.preset === 'smoke',
        organicFp: rep.totals.organic_account_fp_rate, organicFlagged: rep.totals.organic_accounts_flagged, organic: rep.totals.organic_accounts,
        contained1: rep.totals.campaigns_contained_within_1pct, campaigns: rep.totals.campaigns,
        worstServed: Math.max(...served), meanServed: served.reduce((a, b) => a + b, 0) / served.length,
      });
      if (name === 'warden') for (const c of rep.campaigns) perCampaign.push(`| ${r.preset} ${r.seed} | ${c.campaign_id} | ${c.accounts_flagged}/${c.accounts_active} | ${pct(c.share_requests_before_containment)} |`);
    }
  }
  log(`\n### Quality on the traffic model (${runs.map((r) => `${r.preset}${r.scale !== 1 ? ' x' + r.scale : ''} seed ${r.seed}`).join(', ')}; ${events.toLocaleString('en')} events; prompts from ${dir})\n`);
  log('Flagged and contained = throttle or above. Mean over runs, worst run in brackets.\n');
  log('| detector | campaign accounts flagged | campaigns flagged (majority of accounts) | campaigns contained before 1% served | share served before containment (mean of campaigns) | adaptive accounts flagged | organic accounts flagged |');
  log('|---|---|---|---|---|---|---|');
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  for (const [name, rs] of Object.entries(rows)) {
    const f = (k: keyof Row, worst: 'min' | 'max') => `${pct(mean(rs.map((x) => x[k] as number)))} (${pct(Math[worst](...rs.map((x) => x[k] as number)))})`;
    const cont = `${rs.reduce((a, x) => a + x.contained1, 0)}/${rs.reduce((a, x) => a + x.campaigns, 0)}`;
    const orgF = `${pct(mean(rs.map((x) => x.organicFp)))} (${rs.reduce((a, x) => a + x.organicFlagged, 0)}/${rs.reduce((a, x) => a + x.organic, 0)})`;
    log(`| ${name} | ${f('recall', 'min')} | ${f('clusters', 'min')} | ${cont} | ${f('meanServed', 'max')} | ${f('adaptive', 'min')} | ${orgF} |`);
  }
  // The one-day runs (`smoke`) apart: the `default` runs last several days, long enough for the single-account test.
  const oneDay = (rows.warden ?? []).filter((x) => x.oneDay);
  if (oneDay.length > 0) {
    const f = oneDay.reduce((a, x) => a + x.adaptiveFlagged, 0); const n = oneDay.reduce((a, x) => a + x.adaptiveAccounts, 0);
    log(`\nAdaptive accounts flagged (warden) on the one-day runs alone (\`smoke\`): ${f}/${n} (${pct(f / Math.max(1, n))}; per run ${oneDay.map((x) => `${x.adaptiveFlagged}/${x.adaptiveAccounts}`).join(', ')}).`);
  }
  log('\nPer campaign (warden): run | campaign | accounts flagged | share of requests served before containment\n');
  log('| run | campaign | flagged | served before containment |');
  log('|---|---|---|---|');
  for (const l of perCampaign) log(l);
}

/**
 * Disguised words: the `smoke` runs again with every campaign disguising `DISGUISE` of its prompts
 * (zero-width spaces inside words, Cyrillic look-alikes; see the traffic model's `disguise`), against
 * the same runs undisguised. Warden only; flagged = throttle or above. Also counts the accounts whose
 * verdict names the disguise, and the organic accounts that ever sent a request the detector saw as
 * disguised.
 */
async function disguiseQuality() {
  const DISGUISE = 0.7;
  const { dir, prompts } = trafficPrompts();
  const seeds = quick ? [1] : [1, 2, 3, 4, 5];
  const rows: string[] = [];
  let events = 0;
  for (const disguise of [0, DISGUISE]) {
    let recall = 0; let campaignAccounts = 0; let contained = 0; let campaigns = 0; let adaptive = 0; let adaptiveAccounts = 0;
    let organicFlagged = 0; let organic = 0; let named = 0; let adaptiveNamed = 0; let organicNamed = 0;
    for (const seed of seeds) {
      const sc = resolveScenario(null, { preset: 'smoke', seed, set: [0, 1, 2, 3, 4].map((i) => `campaigns.${i}.disguise=${disguise}`) });
      const run = generateTraffic(sc, { prompts });
      const evs = [...run.events];
      events += evs.length;
      const engine = new DetectorEngine({ trackFirstFlags: true });
      for (const ev of evs) engine.ingest(ev);
      engine.flush();
      const rep = await evaluate(buildReport(engine, { detector: 'warden', to: evs[evs.length - 1].ts }), run.labels as LabelLine[], () => evs, { flagLevel: 'throttle' });
      recall += rep.totals.campaign_accounts_flagged; campaignAccounts += rep.totals.campaign_accounts;
      contained += rep.totals.campaigns_contained_within_1pct; campaigns += rep.totals.campaigns;
      adaptive += rep.totals.adaptive_accounts_flagged; adaptiveAccounts += rep.totals.adaptive_accounts;
      organicFlagged += rep.totals.organic_accounts_flagged; organic += rep.totals.organic_accounts;
      for (const l of run.labels as LabelLine[]) {
        if (l.type !== 'account') continue;
        const names = (engine.forAccount(l.account_id).verdict?.reasons ?? []).some((r) => r.signal === 'obfuscated_text_share');
        if (!names) continue;
        if (l.population === 'organic') organicNamed++; else if (l.adaptive) adaptiveNamed++; else named++;
      }
    }
    rows.push(`| ${disguise === 0 ? 'undisguised' : `disguised (${disguise})`} | ${recall}/${campaignAccounts} | ${contained}/${campaigns} | ${adaptive}/${adaptiveAccounts} | ${organicFlagged}/${organic} | ${named}/${campaignAccounts} | ${adaptiveNamed}/${adaptiveAccounts} | ${organicNamed}/${organic} |`);
  }
  log(`\n### Disguised words (smoke seeds ${seeds.join(', ')}, every campaign disguising ${DISGUISE * 100}% of its prompts; ${events.toLocaleString('en')} events)\n`);
  log('Flagged and contained = throttle or above; "named": accounts whose verdict names obfuscated_text_share.\n');
  log('| runs | campaign accounts flagged | campaigns contained before 1% | adaptive accounts flagged | organic accounts flagged | campaign accounts named | adaptive accounts named | organic accounts named |');
  log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) log(r);
}

/**
 * Evasion: what each family of linking evidence is worth. Every campaign of the `smoke` runs
 * (adaptive excepted) drops one family, then several, through the traffic model's own knobs; the
 * detector is run as configured and with fleet software on (`fleet_min_holders: 3`; off by default).
 */
const EVASIONS: Array<[string, string[], ((campaign: number) => string[])?]> = [
  ['as generated', []],
  ['own card each', ['payment.accounts_per_instrument=1', 'payment.none_share=0']],
  ['own signup each (free-mail, no bursts, own org)', ['signup.email="freemail"', 'signup.bursts=0', 'signup.org_per_account=true']],
  ['own sticky residential address each', ['network.mode="residential_sticky"']],
  ['varied user agents', ['user_agents=0']],
  ['no templates (every prompt paraphrased)', ['templates=0', 'paraphrase=1']],
];
EVASIONS.push(['infrastructure stripped (card, signup, address)', [1, 2, 3].flatMap((k) => EVASIONS[k][1])]);
EVASIONS.push(['everything stripped (also user agents, templates)', EVASIONS.slice(1).flatMap(([, set]) => set)]);
// What fleet software cannot see: no system prompt of the fleet's own, or accounts with history.
const INFRA = EVASIONS[6][1];
EVASIONS.push(['infrastructure stripped, each account its own system prompt', [...INFRA, 'system_prompt="per_account"']]);
EVASIONS.push(['infrastructure stripped, no system prompt', [...INFRA, 'system_prompt="none"']]);
EVASIONS.push(['infrastructure stripped, aged accounts (30-300 days)', [...INFRA, 'signup.age_days=[30,300]']]);
// Human timing (diurnal sessions of a few requests) also shrinks a one-day campaign's volume, and
// "contained before 1%" of a few hundred requests means within a handful: the same at 3x volume.
const HUMAN = ['timing.mode="human"', 'timing.burst=3'];
EVASIONS.push(['human timing (diurnal sessions of ~3 requests)', HUMAN]);
EVASIONS.push(['human timing, three times the volume', HUMAN, (i) => [`interactions=${[3000, 500, 2500, 1200][i] * 3}`]]);

async function evasionQuality() {
  const { dir, prompts } = trafficPrompts();
  const seeds = quick ? [1] : [1, 2, 3, 4, 5];
  const rows: string[] = [];
  let events = 0;
  for (const [name, knobs, perCampaign] of EVASIONS) {
    const cells: string[] = [];
    const runs = seeds.map((seed) => {
      const sc = resolveScenario(null, { preset: 'smoke', seed, set: [0, 1, 2, 3].flatMap((i) => [...knobs, ...(perCampaign?.(i) ?? [])].map((k) => `campaigns.${i}.${k}`)) });
      const run = generateTraffic(sc, { prompts });
      return { evs: [...run.events], labels: run.labels as LabelLine[] };
    });
    for (const r of runs) events += r.evs.length;
    for (const config of [{}, { fleet_min_holders: 3 }]) {
      let flagged = 0; let accounts = 0; let contained = 0; let campaigns = 0; let organic = 0; let organicN = 0; let worst = 0; let served = 0;
      for (const { evs, labels } of runs) {
        const engine = new DetectorEngine({ trackFirstFlags: true, config });
        for (const ev of evs) engine.ingest(ev);
        engine.flush();
        const rep = await evaluate(buildReport(engine, { detector: 'warden', to: evs[evs.length - 1].ts }), labels, () => evs, { flagLevel: 'throttle' });
        const t = rep.totals;
        flagged += t.campaign_accounts_flagged; accounts += t.campaign_accounts; contained += t.campaigns_contained_within_1pct; campaigns += t.campaigns;
        organic += t.organic_accounts_flagged; organicN += t.organic_accounts;
        for (const c of rep.campaigns) {
          const share = c.contained ? c.share_requests_before_containment : 1;
          worst = Math.max(worst, share);
          if (!c.adaptive) served += share;
        }
      }
      cells.push(`${flagged}/${accounts}`, `${contained}/${campaigns}`, pct(served / campaigns), worst >= 1 ? 'never' : pct(worst), `${organic}/${organicN}`);
    }
    rows.push(`| ${name} | ${cells.slice(0, 5).join(' | ')} | ${cells.slice(5).join(' | ')} |`);
  }
  log(`\n### Evasion: campaigns without each kind of shared evidence (smoke seeds ${seeds.join(', ')}; ${events.toLocaleString('en')} events)\n`);
  log('Flagged and contained = throttle or above; "mean served": the share of a campaign\'s requests served before containment, mean of campaigns (all of them for one never contained); "worst": the largest such share ("never": a campaign not contained).\n');
  log('| campaigns (adaptive excepted) | accounts flagged | contained before 1% | mean served | worst | organic flagged | fleet software on: accounts flagged | contained before 1% | mean served | worst | organic flagged |');
  log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) log(r);
}

/**
 * A campaign spread over two providers that exchange indicators. Each `smoke` run's accounts,
 * organic and campaign alike, are split between provider A and provider B by a hash of their id.
 * A runs its detector over its share of the first half of the run, with fleet software on
 * (`fleet_min_holders: 3`, a provider that accepts that risk), opens a case on every campaign it
 * names and exports it (STIX, keyed hashes); B, in the default configuration, imports the bundles
 * at that moment. B's detector runs over B's share with and without them. Counted at B: campaign
 * accounts flagged (throttle or above, whole run), the share of the campaign requests after the
 * import that were served below throttle (the verdict in force when each arrived, as the gateway
 * enforces it), and organic accounts flagged above watch.
 */
async function exchangeQuality() {
  const { prompts } = trafficPrompts();
  const seeds = quick ? [1] : [1, 2, 3, 4, 5];
  const key = 'bench-exchange-key-0123456789';
  const variants = EVASIONS.filter(([name]) => name === 'as generated' || name.startsWith('infrastructure stripped (') || name.startsWith('everything stripped') || name.startsWith('infrastructure stripped, each account'));
  const rows: string[] = [];
  let events = 0;
  type Tally = { flagged: number; after: number; below: number; organic: number };
  for (const [name, knobs, perCampaign] of variants) {
    const t = { exported: 0, cases: 0, without: { flagged: 0, after: 0, below: 0, organic: 0 } as Tally, with: { flagged: 0, after: 0, below: 0, organic: 0 } as Tally, accounts: 0, organicN: 0 };
    for (const seed of seeds) {
      const sc = resolveScenario(null, { preset: 'smoke', seed, set: [0, 1, 2, 3].flatMap((i) => [...knobs, ...(perCampaign?.(i) ?? [])].map((k) => `campaigns.${i}.${k}`)) });
      const run = generateTraffic(sc, { prompts });
      const evs = [...run.events];
      events += evs.length;
      // true: a campaign account counted (adaptive excepted); false: an organic account. Adaptive
      // campaign accounts are neither (they were counted as organic until 2026-12-07: the "organic
      // 2/241" of 2026-12-03 was two of them, flagged).
      const campaignOf = new Map((run.labels as LabelLine[]).flatMap((l) => (l.type === 'account' && (l.population === 'organic' || !l.adaptive) ? [[l.account_id, l.population === 'campaign'] as const] : [])));
      const atB = (id: string | null) => !!id && [...id].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7) % 2 === 1;
      const t0 = Date.parse(evs[0].ts); const t1 = Date.parse(evs[evs.length - 1].ts);
      const cutoff = new Date(t0 + (t1 - t0) / 2).toISOString();
      // Provider A: its share of the first half; a case and a bundle per campaign it names.
      const a = new DetectorEngine({ config: { fleet_min_holders: 3 } });
      const store = new SqliteEventStore(openSqlite(':memory:'));
      const evA = evs.filter((e) => !atB(e.account_id) && e.ts < cutoff);
      for (const e of evA) a.ingest(e);
      a.flush();
      await store.appendBatch(evA);
      const intel = new SharedIndicators(key);
      for (const c of a.campaigns()) {
        const kase = await buildCaseFile({ engine: a, events: store }, c.id);
        if (!kase) continue;
        t.cases++;
        const { bundle } = caseToStix(kase, { provider: 'A', sharingKey: key, validDays: 90, now: new Date(cutoff) });
        const got = stixToIndicators(bundle, { sharingKey: key, level: 'throttle', now: new Date(cutoff) }).indicators;
        intel.add(got);
        t.exported += got.length;
      }
      await store.close();
      // Provider B, without and with A's indicators from the cutoff on.
      const evB = evs.filter((e) => atB(e.account_id));
      const accountsB = new Set(evB.map((e) => e.account_id!));
      for (const id of accountsB) { if (campaignOf.get(id)) t.accounts++; else if (campaignOf.get(id) === false) t.organicN++; }
      for (const withIntel of [false, true]) {
        const b = new DetectorEngine({ trackFirstFlags: true });
        const m = withIntel ? t.with : t.without;
        let imported = false;
        for (const e of evB) {
          if (e.ts >= cutoff) {
            if (withIntel && !imported) { b.setIntel(intel); imported = true; }
            if (campaignOf.get(e.account_id!)) { m.after++; if (verdictRank(b.forAccount(e.account_id!).level) < 2) m.below++; }
          }
          b.ingest(e);
        }
        b.flush();
        for (const id of accountsB) {
          const flags = b.firstFlags(id);
          if (!VERDICT_LEVELS.slice(2).some((l) => flags[l] !== undefined)) continue;
          if (campaignOf.get(id)) m.flagged++; else if (campaignOf.get(id) === false) m.organic++;
        }
      }
    }
    const cell = (m: Tally) => `${m.flagged}/${t.accounts} | ${pct(m.below / Math.max(1, m.after))} | ${m.organic}/${t.organicN}`;
    rows.push(`| ${name} | ${t.cases} | ${t.exported} | ${cell(t.without)} | ${cell(t.with)} |`);
  }
  log(`\n### Two providers exchanging indicators (smoke seeds ${seeds.join(', ')}; ${events.toLocaleString('en')} events, split between them by account)\n`);
  log('A (fleet software on) shares what it found in the first half of the run; B (default configuration) imports it then. Flagged = throttle or above (organic: above watch), at any time; "served below throttle": campaign requests at B after the import that arrived while their account\'s verdict in force was below throttle.\n');
  log('| campaigns (adaptive excepted) | cases A opened | indicators A shared | B alone: campaign accounts flagged | campaign requests after the import served below throttle | organic flagged | B with A\'s indicators: campaign accounts flagged | campaign requests after the import served below throttle | organic flagged |');
  log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) log(r);
}

/**
 * Adaptive (low-and-slow) campaigns, reported separately: the `default` preset over 5 days with a
 * larger organic population (the hard negatives) and one adaptive campaign of 100 accounts at
 * ~19 requests per account per day; flagged = throttle or above, for both populations.
 */
async function adaptiveQuality() {
  const { dir, prompts } = trafficPrompts();
  // `--seed N` runs that seed alone (the same scenario), so the two seeds of the full table can run side by side.
  const seeds = args.includes('--seed') ? [Number(args[args.indexOf('--seed') + 1])] : quick ? [11] : [11, 23];
  const days = 5;
  const organicAccounts = quick ? 600 : 2500;
  const rows: string[] = [];
  let events = 0;
  for (const seed of seeds) {
    const sc = resolveScenario({ preset: 'default', days, organic: { accounts: organicAccounts }, campaigns: [{ id: 'adaptive-1', kind: 'adaptive', accounts: 100, interactions: 100 * 19 * days }] }, { seed });
    const run = generateTraffic(sc, { prompts });
    const evs = [...run.events];
    events += evs.length;
    // Day one: flagged (throttle or above) within 24 h of the account's own first request, and by
    // the end of the run's first day, from the report's first time served under each level.
    const firstReq = new Map<string, number>();
    for (const e of evs) if (e.account_id && !firstReq.has(e.account_id)) firstReq.set(e.account_id, Date.parse(e.ts));
    const dayEnd = Date.parse(evs[0].ts) + 86_400_000;
    const labelOf = new Map((run.labels as LabelLine[]).filter((l) => l.type === 'account').map((l) => [l.account_id, l]));
    for (const name of DETECTORS) {
      const { report, evaluation: rep } = await runDetector(name, evs, run.labels as LabelLine[]);
      const t = rep.totals;
      const d1 = { adaptive24: 0, adaptiveDay: 0, organic24: 0 };
      for (const a of report.accounts) {
        const l = labelOf.get(a.account_id);
        if (!l || (l.population !== 'organic' && !l.adaptive)) continue;
        const at = Math.min(...(['throttle', 'shape', 'verify', 'suspend'] as const).map((lv) => (a.first[lv] ? Date.parse(a.first[lv]!) : Infinity)));
        if (!Number.isFinite(at)) continue;
        const within24 = at <= (firstReq.get(a.account_id) ?? 0) + 86_400_000;
        if (l.adaptive) { if (within24) d1.adaptive24++; if (at <= dayEnd) d1.adaptiveDay++; } else if (within24) d1.organic24++;
      }
      rows.push(`| ${seed} | ${name} | ${pct(t.adaptive_account_recall)} (${t.adaptive_accounts_flagged}/${t.adaptive_accounts}) | ${d1.adaptive24}/${t.adaptive_accounts} | ${d1.adaptiveDay}/${t.adaptive_accounts} | ${pct(t.organic_account_fp_rate)} (${t.organic_accounts_flagged}/${t.organic_accounts}) | ${d1.organic24}/${t.organic_accounts} |`);
    }
  }
  log(`\n### Adaptive campaigns (default preset, ${days} days, ${organicAccounts} organic accounts, 100 adaptive accounts; seeds ${seeds.join(', ')}; ${events.toLocaleString('en')} events)\n`);
  log('Flagged = throttle or above, at any time during the run; day one: within 24 hours of the account\'s own first request, or by the end of the run\'s first day.\n');
  log('| seed | detector | adaptive accounts flagged | adaptive, within 24 h of their first request | adaptive, by the end of day one | organic accounts flagged | organic, within 24 h of their first request |');
  log('|---|---|---|---|---|---|---|');
  for (const r of rows) log(r);
}

/**
 * Logs without account facts (`account: null`, as another tool may write them), and the same logs
 * joined with an account table (`warden scan --accounts`): the traffic table's runs, scanned three
 * ways. The table holds each account's facts as the provider's database would (taken here from the
 * account's first event), written to a JSONL file and read back as the CLI reads it.
 */
async function factsQuality() {
  const { dir, prompts } = trafficPrompts();
  const runs = trafficRuns();
  const tmp = mkdtempSync(join(tmpdir(), 'warden-facts-'));
  const ways = ['facts in the events', 'facts removed', 'facts removed, joined back with --accounts'] as const;
  const totals = ways.map(() => ({ flagged: 0, accounts: 0, contained: 0, campaigns: 0, worst: 0, organic: 0, organicN: 0, missing: 0, seconds: 0, events: 0 }));
  let events = 0;
  for (const r of runs) {
    const run = generateTraffic(resolveScenario(null, { preset: r.preset, seed: r.seed, scale: r.scale }), { prompts });
    const evs = [...run.events];
    events += evs.length;
    const table = new Map<string, object>();
    for (const ev of evs) if (ev.account_id && ev.account && !table.has(ev.account_id)) table.set(ev.account_id, { account_id: ev.account_id, ...ev.account, org_id: ev.org_id });
    const path = join(tmp, `accounts-${r.preset}-${r.seed}.jsonl`);
    writeFileSync(path, [...table.values()].map((row) => JSON.stringify(row)).join('\n') + '\n');
    for (let w = 0; w < ways.length; w++) {
      const input = w === 0 ? evs.map((ev) => ({ ...ev })) : evs.map((ev) => ({ ...ev, account: null }));
      const res = await scanEvents(input, w === 2 ? { accountFacts: await readAccountFacts(path) } : {});
      const rep = await evaluate(res.report, run.labels as LabelLine[], () => evs, { flagLevel: 'throttle' });
      const t = totals[w]; const x = rep.totals;
      t.flagged += x.campaign_accounts_flagged; t.accounts += x.campaign_accounts; t.contained += x.campaigns_contained_within_1pct; t.campaigns += x.campaigns;
      t.organic += x.organic_accounts_flagged; t.organicN += x.organic_accounts; t.missing += res.facts.missing; t.seconds += res.seconds; t.events += res.events;
      for (const c of rep.campaigns) t.worst = Math.max(t.worst, c.contained ? c.share_requests_before_containment : 1);
    }
  }
  rmSync(tmp, { recursive: true, force: true });
  log(`\n### Logs without account facts (${runs.map((r) => `${r.preset}${r.scale !== 1 ? ' x' + r.scale : ''} seed ${r.seed}`).join(', ')}; ${events.toLocaleString('en')} events)\n`);
  log('Flagged and contained = throttle or above; "worst": the largest share of a campaign\'s requests served before containment ("never": a campaign not contained); scan events/s in this process.\n');
  log('| events scanned with | campaign accounts flagged | campaigns contained before 1% | worst | organic accounts flagged | accounts without facts | scan events/s |');
  log('|---|---|---|---|---|---|---|');
  ways.forEach((name, w) => {
    const t = totals[w];
    log(`| ${name} | ${t.flagged}/${t.accounts} | ${t.contained}/${t.campaigns} | ${t.worst >= 1 ? 'never' : pct(t.worst)} | ${t.organic}/${t.organicN} | ${t.missing} | ${Math.round(t.events / t.seconds).toLocaleString('en')} |`);
  });
}

/**
 * Cohorts of new users of one application: a hard negative the traffic model does not generate.
 * The organic accounts of the given kinds are turned into brand-new, unverified, unaffiliated
 * accounts with no card, signed up at their own times in the three days before their first
 * request, all sending one application's system prompt (a new bring-your-own-key client, a
 * course's tool); everything else about them is as generated. The last cohort is a new semester's
 * classes signing up on their own: the students as generated (their university's domain, most in
 * the education programme, the campus network for part of their traffic, their own prompts), with
 * no org, signed up within two days before first use, and asking for the steps on half of their
 * single questions. Counted: cohort accounts served above watch at any time, with the detector as
 * configured and with fleet software on.
 */
const COHORTS: Array<[string, string[], { app: boolean; steps: number }]> = [
  ['developers, agent products, startups, hobbyists', ['developer', 'agent', 'startup', 'hobbyist'], { app: true, steps: 0 }],
  ['students and researchers', ['education', 'researcher'], { app: true, steps: 0 }],
  ['new classes on their own, steps asked on half their questions', ['education'], { app: false, steps: 0.5 }],
];

async function cohortQuality() {
  const { prompts } = trafficPrompts();
  const runs = quick ? [{ preset: 'smoke', seed: 1, scale: 1 }] : trafficRuns();
  const APP = 'You are DevPilot, a coding assistant inside the editor. Be concise and correct.';
  const rows: string[] = [];
  for (const [name, kinds, how] of COHORTS) {
    const cells = [0, 0].map(() => ({ oneDay: 0, oneDayN: 0, multi: 0, multiN: 0 }));
    for (const r of runs) {
      const run = generateTraffic(resolveScenario(null, { preset: r.preset, seed: r.seed, scale: r.scale }), { prompts });
      const labels = run.labels as LabelLine[];
      const cohort = new Set(labels.flatMap((l) => (l.type === 'account' && l.population === 'organic' && kinds.includes(l.organic_kind ?? '') ? [l.account_id] : [])));
      const first = new Map<string, number>();
      let n = 0;
      const evs = [...run.events].map((ev) => {
        if (!cohort.has(ev.account_id!)) return ev;
        if (!first.has(ev.account_id!)) first.set(ev.account_id!, Date.parse(ev.ts));
        const firstUse = first.get(ev.account_id!)!;
        // A signup time of its own within the days before first use (a deterministic spread).
        const spread = ((n++ * 2654435761) % 4294967296) / 4294967296;
        const before = 3_600_000 + Math.floor(spread * (how.app ? 72 : 48) * 3_600_000);
        const messages = ev.request.messages;
        // Every other single question (by the same deterministic spread) asks for the steps.
        const steps = how.steps > 0 && messages.length === 1 && messages[0].role === 'user' && spread < how.steps;
        const request = how.app ? { ...ev.request, system: APP }
          : steps ? { ...ev.request, messages: [{ ...messages[0], text: `${messages[0].text ?? ''}\nPlease explain step by step.` }] } : ev.request;
        return {
          ...ev, org_id: null, request,
          account: { ...ev.account!, tier: 'email_verified' as const, payment_fp: null, created_at: new Date(firstUse - before).toISOString(), first_used_at: new Date(firstUse).toISOString() },
        };
      });
      for (const [c, config] of [{}, { fleet_min_holders: 3 }].entries()) {
        const engine = new DetectorEngine({ trackFirstFlags: true, config });
        for (const ev of evs) engine.ingest(ev);
        engine.flush();
        let above = 0;
        for (const id of cohort) {
          const served = engine.servedByLevel(id);
          const max = Math.max(served.reduce((m, x, l) => (x > 0 ? l : m), 0), verdictRank(engine.forAccount(id).level));
          if (max > verdictRank('watch')) above++;
        }
        const cell = cells[c];
        if (r.preset === 'smoke') { cell.oneDay += above; cell.oneDayN += cohort.size; } else { cell.multi += above; cell.multiN += cohort.size; }
      }
    }
    rows.push(`| ${name} | ${cells.map((x) => `${x.oneDay}/${x.oneDayN} | ${x.multiN ? `${x.multi}/${x.multiN}` : '-'}`).join(' | ')} |`);
  }
  log(`\n### Cohorts of new users of one application (${runs.map((r) => `${r.preset}${r.scale !== 1 ? ' x' + r.scale : ''} seed ${r.seed}`).join(', ')})\n`);
  log('Cohort accounts served above watch at any time; `smoke` runs are one day, `default` runs several.\n');
  log('| cohort | default: one-day runs | default: multi-day runs | fleet software on: one-day runs | multi-day runs |');
  log('|---|---|---|---|---|');
  for (const r of rows) log(r);
  await courseQuality();
}

/**
 * A course of new students (src/traffic/course.ts): 20-40 accounts signed up in one lecture on a
 * university domain nothing vouches for (`tum.de`: no reserved suffix, no programme, no established
 * account on it), from the campus network, doing the same problem sheets at the lab hour and in the
 * evenings, conversationally. Next to a 3-day `smoke` background (the hand-built check's), seeds
 * 1-3 (seed 1 with --quick). Counted: students served above watch at any time, the highest level
 * any reached, and the background's campaign accounts flagged (throttle or above) beside them.
 */
const COURSES: Array<[string, Partial<CourseOptions>]> = [
  ['30 students through the course tool, its system prompt asks for the steps', { students: 30, tool: 'steps' }],
  ['30 students through the course tool, hints only', { students: 30, tool: true }],
  ['30 students, each a client of their own, no system prompt', { students: 30, tool: false }],
  ['40 students through the tool that asks for the steps, half open a new chat per problem, 3 evenings a day (before a deadline)', { students: 40, tool: 'steps', freshChatShare: 0.5, eveningsPerDay: 3 }],
  ['20 students, no tool, steps asked on 80% of problems, new chat per problem, 3 evenings a day', { students: 20, tool: false, stepsShare: 0.8, freshChatShare: 1, eveningsPerDay: 3 }],
];

async function courseQuality() {
  const { prompts } = trafficPrompts();
  const seeds = quick ? [1] : [1, 2, 3];
  const days = 3;
  const rows: string[] = [];
  const bg = { flagged: 0, campaign: 0, organic: 0, organicN: 0 };
  for (const [name, over] of COURSES) {
    let above = 0, n = 0, top = 0, requests = 0;
    for (const seed of seeds) {
      const sc = resolveScenario(null, { preset: 'smoke', seed, days });
      const run = generateTraffic(sc, { prompts });
      const course = courseWorkload(prompts, { seed, startMs: sc.startMs, days, ...over });
      const engine = new DetectorEngine({ trackFirstFlags: true });
      for (const ev of mergeByTime(run.events, course.events)) engine.ingest(ev);
      engine.flush();
      requests += course.events.length;
      for (const id of course.accountIds) {
        const served = engine.servedByLevel(id);
        const max = Math.max(served.reduce((m, x, l) => (x > 0 ? l : m), 0), verdictRank(engine.forAccount(id).level));
        if (max > verdictRank('watch')) above++;
        top = Math.max(top, max);
        n++;
      }
      if (name === COURSES[0][0]) {
        for (const l of run.labels as LabelLine[]) {
          if (l.type !== 'account') continue;
          const flagged = verdictRank(engine.forAccount(l.account_id).level) >= verdictRank('throttle');
          if (l.population === 'campaign') { bg.campaign++; if (flagged) bg.flagged++; } else { bg.organicN++; if (flagged) bg.organic++; }
        }
      }
    }
    rows.push(`| ${name} | ${requests.toLocaleString('en')} | ${above}/${n} | ${VERDICT_LEVELS[top]} |`);
  }
  log(`\n### A course of new students on an unvouched university domain (3-day \`smoke\` background, seeds ${seeds.join(', ')})\n`);
  log(`Students served above watch at any time, and the highest level any reached. Beside the first course, the background's campaign accounts flagged (throttle or above): ${bg.flagged}/${bg.campaign}; its organic accounts: ${bg.organic}/${bg.organicN}.\n`);
  log('| course | requests | students above watch | highest level |');
  log('|---|---|---|---|');
  for (const r of rows) log(r);
}

/**
 * Logit extraction: the traffic-table runs with a `logit` campaign added (a few accounts sweeping
 * logit_bias maps over a few prompts, Carlini et al. 2024), in variants, against the organic
 * accounts that use logit_bias too (multiple-choice evaluations, label-token classifiers,
 * constrained decoding). Flagged and contained = throttle or above.
 */
const LOGIT_VARIANTS: Array<[string, Record<string, unknown>]> = [
  ['8 prompts in turn, 5 tokens a map, top log-probabilities (the kind\'s defaults)', {}],
  ['without log-probabilities (one answer token per map)', { logit: { logprobs: false } }],
  ['64 prompts, 20 tokens a map', { logit: { prompts: 64, tokens_per_map: 20 } }],
  ['40 accounts, each its own residential address', { accounts: 40, network: { mode: 'residential_sticky' } }],
];

async function logitQuality() {
  await campaignVariants({
    kind: 'logit', variants: LOGIT_VARIANTS, uses: (ev) => !!ev.request.params.logit_bias,
    title: 'Logit extraction', what: 'a 20,000-request logit campaign', served: 'probes answered', users: 'organic logit_bias users flagged',
  });
}

/**
 * One campaign kind in variants, added to each traffic-table run: its accounts flagged and
 * contained for every variant (the baselines on the first), against the organic accounts that
 * use what it uses (`uses`: the hard negatives).
 */
async function campaignVariants(o: {
  kind: string; variants: Array<[string, Record<string, unknown>]>; uses: (ev: InteractionEvent) => boolean;
  title: string; what: string; served: string; users: string;
}) {
  const { dir, prompts } = trafficPrompts();
  const runs = trafficRuns();
  const rows: string[] = [];
  const id = `${o.kind}-x`;
  let events = 0;
  for (const [name, variant] of o.variants) {
    const acc: Record<string, { flagged: number; accounts: number; contained: number; campaigns: number; worst: number; servedBefore: number[]; organicFlagged: number; organic: number; users: number; usersFlagged: number }> = {};
    for (const r of runs) {
      const campaign = JSON.stringify({ id, kind: o.kind, interactions: 20_000, ...variant });
      const run = generateTraffic(resolveScenario(null, { preset: r.preset, seed: r.seed, scale: r.scale, set: [`campaigns.5=${campaign}`] }), { prompts });
      const evs = [...run.events];
      events += evs.length;
      const users = new Set<string>();
      const organic = new Set((run.labels as LabelLine[]).filter((l) => l.type === 'account' && l.population === 'organic').map((l) => (l as { account_id: string }).account_id));
      for (const ev of evs) if (o.uses(ev) && organic.has(ev.account_id!)) users.add(ev.account_id!);
      for (const det of variant === o.variants[0][1] ? DETECTORS : (['warden'] as const)) {
        const { report, evaluation: rep } = await runDetector(det, evs, run.labels as LabelLine[]);
        const a = (acc[det] ??= { flagged: 0, accounts: 0, contained: 0, campaigns: 0, worst: 0, servedBefore: [], organicFlagged: 0, organic: 0, users: 0, usersFlagged: 0 });
        const c = rep.campaigns.find((x) => x.campaign_id === id)!;
        a.flagged += c.accounts_flagged; a.accounts += c.accounts_active;
        a.campaigns++; if (c.share_requests_before_containment <= 0.01) a.contained++;
        a.worst = Math.max(a.worst, c.share_requests_before_containment);
        a.servedBefore.push(c.served_requests);
        a.organicFlagged += rep.totals.organic_accounts_flagged; a.organic += rep.totals.organic_accounts;
        const above = new Set(report.accounts.filter((x) => verdictRank(x.max_level) >= verdictRank('throttle')).map((x) => x.account_id));
        a.users += users.size; for (const u of users) if (above.has(u)) a.usersFlagged++;
      }
    }
    for (const [det, a] of Object.entries(acc)) {
      const served = a.servedBefore.slice().sort((x, y) => x - y);
      rows.push(`| ${name} | ${det} | ${a.flagged}/${a.accounts} | ${a.contained}/${a.campaigns} | ${pct(a.worst)} | ${served[Math.floor(served.length / 2)]} (${served[served.length - 1]}) | ${a.usersFlagged}/${a.users} | ${a.organicFlagged}/${a.organic} |`);
    }
  }
  log(`\n### ${o.title} (${runs.map((r) => `${r.preset}${r.scale !== 1 ? ' x' + r.scale : ''} seed ${r.seed}`).join(', ')}, each with ${o.what}; ${events.toLocaleString('en')} events; prompts from ${dir})\n`);
  log(`Flagged and contained = throttle or above; "${o.served}": the campaign's requests served below throttle over the whole run, median of runs (worst).\n`);
  log(`| campaign | detector | campaign accounts flagged | contained before 1% | worst share before containment | ${o.served} | ${o.users} | organic accounts flagged |`);
  log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) log(r);
}

/**
 * Embedding harvest: the traffic-table runs with an `embed` campaign added (accounts embedding a
 * broad corpus to train a copy of the encoder), in variants, against the organic accounts that
 * embed too (retrieval products' questions and indexes, batch indexing jobs, a few over a broad
 * public dataset). Flagged and contained = throttle or above.
 */
const EMBED_VARIANTS: Array<[string, Record<string, unknown>]> = [
  ['40 accounts, a broad corpus, 16 texts a request, a few cloud machines and shared cards (the kind\'s defaults)', {}],
  ['the corpus split by subject, one subject per account', { embed: { partition: 'subject' } }],
  ['each account its own residential address and card', { network: { mode: 'residential_sticky' }, payment: { accounts_per_instrument: 1, none_share: 0 } }],
  ['each its own address and card, and the corpus split by subject', { network: { mode: 'residential_sticky' }, payment: { accounts_per_instrument: 1, none_share: 0 }, embed: { partition: 'subject' } }],
  ['half its requests chat, as a retrieval product sends', { embed: { share: 0.5 } }],
  ['accounts bought with months of history, each its own address and card', { network: { mode: 'residential_sticky' }, payment: { accounts_per_instrument: 1, none_share: 0 }, signup: { age_days: [60, 400], used_before: true } }],
];

async function embedQuality() {
  await campaignVariants({
    kind: 'embed', variants: EMBED_VARIANTS, uses: (ev) => ev.flavour === 'openai.embeddings',
    title: 'Embedding harvest', what: 'a 20,000-request embedding campaign', served: 'requests answered', users: 'organic embedding accounts flagged',
  });
}

/**
 * Campaigns that share nothing and keep under one bar each (the traffic model's `quiet` preset: two
 * weeks, 300 organic accounts): low and slow at scale, one-day accounts replaced daily, and a
 * grading harvest through a required tool. Flagged and contained = throttle or above.
 */
async function quietQuality() {
  const { dir, prompts } = trafficPrompts();
  const seeds = quick ? [1] : [1, 2];
  const rows: string[] = [];
  let events = 0;
  // The preset's organic accounts mostly existed before the window (6% sign up in it): few are new
  // enough to be read beside the cohort. The second variant makes all 600 new, a hard negative.
  const variants: Array<[string, string[]]> = [['as generated', []], ['600 organic accounts, all new in the window', ['organic.new_signups_share=1', 'organic.accounts=600']]];
  for (const seed of seeds) for (const [variant, set] of variants) {
    const run = generateTraffic(resolveScenario(null, { preset: 'quiet', seed, set }), { prompts });
    const evs = [...run.events];
    events += evs.length;
    const { evaluation: rep } = await runDetector('warden', evs, run.labels as LabelLine[]);
    const perAccount = new Map<string, number>();
    for (const ev of evs) if (ev.account_id) perAccount.set(ev.account_id, (perAccount.get(ev.account_id) ?? 0) + 1);
    for (const c of [...rep.campaigns, ...rep.adaptive].sort((a, b) => a.campaign_id.localeCompare(b.campaign_id))) {
      const ids = (run.labels as LabelLine[]).flatMap((l) => (l.type === 'account' && l.campaign_id === c.campaign_id && perAccount.has(l.account_id) ? [perAccount.get(l.account_id)!] : [])).sort((a, b) => a - b);
      rows.push(`| ${seed} | ${variant} | ${c.campaign_id} | ${ids[ids.length >> 1] ?? 0} | ${c.accounts_flagged}/${c.accounts_active} | ${c.contained && c.share_requests_before_containment <= 0.01 ? 'yes' : 'no'} | ${pct(c.contained ? c.share_requests_before_containment : 1)} | ${c.served_requests.toLocaleString('en')} | ${rep.totals.organic_accounts_flagged}/${rep.totals.organic_accounts} |`);
    }
  }
  log(`\n### Quiet campaigns (the \`quiet\` preset, seeds ${seeds.join(', ')}; ${events.toLocaleString('en')} events; prompts from ${dir})\n`);
  log('Flagged and contained = throttle or above; "served": the campaign\'s requests served below throttle.\n');
  log('| seed | organic accounts | campaign | requests per account (median) | accounts flagged | contained before 1% | share served before containment | served | organic accounts flagged |');
  log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) log(r);
}

/**
 * Harvest strategies the detector was not built against (red team), reported apart from the tuned
 * presets: each a campaign of 40 accounts bought with their history (in use for months, a card,
 * a free-mail signup and a residential address of their own each, human timing, paraphrased public
 * maths and coding items), dressed one way (`dress`, docs/traffic-model.md): the working asked
 * for in a system prompt of each account's own and the questions sent bare; a conversation whose
 * every turn is a new item; the harvest hidden in a bought application's own traffic (60% of its
 * sessions its users' chats, every request with the application's system prompt); the working
 * asked for in languages the lexicons do not hold; items graded against a rubric; a question/verify
 * split; agent trajectories fed made-up tool results; preference pairs (each item asked word for
 * word by two accounts at a low and a high temperature). `default` preset, 5 days, 300 organic accounts
 * (600 without --quick). Flagged and contained = throttle or above.
 */
async function redteamQuality() {
  const { dir, prompts } = trafficPrompts();
  // `--seed N` runs that seed alone (the same scenario: 300 organic accounts with --quick, else 600).
  const seeds = args.includes('--seed') ? [Number(args[args.indexOf('--seed') + 1])] : quick ? [5] : [5, 6];
  const organicAccounts = quick ? 300 : 600;
  // `--redteam cover-1,agent-1` runs those campaigns alone: a scenario of its own (the others' accounts
  // and traffic left out), so its figures are not the full table's.
  const picked = args.includes('--redteam') ? new Set(args[args.indexOf('--redteam') + 1].split(',')) : null;
  const strategies = picked ? REDTEAM_STRATEGIES.filter(([id]) => picked.has(id)) : REDTEAM_STRATEGIES;
  if (picked && strategies.length !== picked.size) throw new Error(`--redteam: unknown campaign among ${[...picked].join(', ')} (known: ${REDTEAM_STRATEGIES.map(([id]) => id).join(', ')})`);
  const rows: string[] = [];
  let events = 0;
  for (const seed of seeds) {
    const campaigns = strategies.map(([id, , over]) => ({ ...structuredClone(REDTEAM_BOUGHT), ...over, id, dress: { ...(over.dress as object ?? {}) }, signup: { ...(REDTEAM_BOUGHT.signup as object), ...(over.signup as object ?? {}) }, params: { ...(REDTEAM_BOUGHT.params as object), ...(over.params as object ?? {}) } }));
    const run = generateTraffic(resolveScenario({ preset: 'default', days: 5, organic: { accounts: organicAccounts }, campaigns }, { seed }), { prompts });
    const evs = [...run.events];
    events += evs.length;
    const { evaluation: rep } = await runDetector('warden', evs, run.labels as LabelLine[]);
    const perAccount = new Map<string, number>();
    for (const ev of evs) if (ev.account_id) perAccount.set(ev.account_id, (perAccount.get(ev.account_id) ?? 0) + 1);
    for (const [id, what] of strategies) {
      const c = rep.campaigns.find((x) => x.campaign_id === id);
      if (!c) { rows.push(`| ${seed} | ${id} | ${what} | (no traffic) | | | | |`); continue; }
      const n = (run.labels as LabelLine[]).flatMap((l) => (l.type === 'account' && l.campaign_id === id && perAccount.has(l.account_id) ? [perAccount.get(l.account_id)!] : [])).sort((a, b) => a - b);
      rows.push(`| ${seed} | ${id} | ${what} | ${n[n.length >> 1] ?? 0} | ${c.accounts_flagged}/${c.accounts_active} | ${pct(c.contained ? c.share_requests_before_containment : 1)} | ${c.served_requests.toLocaleString('en')} | ${rep.totals.organic_accounts_flagged}/${rep.totals.organic_accounts} |`);
    }
  }
  log(`\n### Red team: harvest strategies not in the tuned presets (default preset, 5 days, ${organicAccounts} organic accounts, seeds ${seeds.join(', ')}${picked ? `, ${[...picked].join(', ')} alone` : ''}; ${events.toLocaleString('en')} events; prompts from ${dir})\n`);
  log('Each campaign 40 accounts bought with their history, sharing nothing. Flagged and contained = throttle or above; "served": the campaign\'s requests served below throttle; "share served": before containment (100%: never contained).\n');
  log('| seed | campaign | strategy | requests per account (median) | accounts flagged | share served before containment | served | organic accounts flagged |');
  log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) log(r);
}

/**
 * What the events show of agent trajectories (`--only agents`): the red team's `agent-1` (tool
 * results made up) beside the organic accounts' tool use, on the red-team scenario (seed 5,
 * 300 organic accounts), read from the events alone. A trajectory: one account's requests with
 * the same system prompt and first user message. Its tool turnaround: from one step's answer
 * ending (`ts` + `duration_ms`) to the next step's arrival, the time the tool took as the gateway
 * can see it. These are the traffic model's assumptions, not measurements of real harnesses: the
 * table says what a detector could read, and which differences the generator alone makes.
 */
async function agentTrajectories() {
  const { dir, prompts } = trafficPrompts();
  const [id, , over] = REDTEAM_STRATEGIES.find(([x]) => x === 'agent-1')!;
  const campaign = { ...structuredClone(REDTEAM_BOUGHT), ...over, id, dress: { ...(over.dress as object) }, signup: { ...(REDTEAM_BOUGHT.signup as object) }, params: { ...(REDTEAM_BOUGHT.params as object), ...(over.params as object) } };
  const run = generateTraffic(resolveScenario({ preset: 'default', days: 5, organic: { accounts: 300 }, campaigns: [campaign] }, { seed: 5 }), { prompts });
  const who = new Map<string, string>();
  for (const l of run.labels as LabelLine[]) if (l.type === 'account') who.set(l.account_id, l.campaign_id ?? `organic ${l.organic_kind}`);
  const trajectories = new Map<string, InteractionEvent[]>();
  let events = 0;
  for (const ev of run.events) {
    events++;
    if (!ev.account_id || ev.request.tools.length === 0) continue;
    const key = `${ev.account_id}\u0000${ev.request.system ?? ''}\u0000${ev.request.messages.find((m) => m.role === 'user')?.text ?? ''}`;
    (trajectories.get(key) ?? trajectories.set(key, []).get(key)!).push(ev);
  }
  interface Group { accounts: Set<string>; n: number; steps: number[]; turnaround: number[]; resultChars: number[]; offered: number[]; answers: number; parallel: number; unset: number; toolsets: Map<string, Set<string>> }
  const groups = new Map<string, Group>();
  for (const evs of trajectories.values()) {
    const acct = evs[0].account_id!;
    // Organic coding agents (a fixed harness prompt) apart from the products' own agents.
    const name = `${who.get(acct)}${who.get(acct)!.startsWith('organic') ? (evs[0].request.tools.length === 8 ? ' (coding agent)' : ' (product agent)') : ''}`;
    const g = groups.get(name) ?? groups.set(name, { accounts: new Set(), n: 0, steps: [], turnaround: [], resultChars: [], offered: [], answers: 0, parallel: 0, unset: 0, toolsets: new Map() }).get(name)!;
    g.accounts.add(acct); g.n++; g.steps.push(evs.length);
    evs.forEach((ev, i) => {
      g.answers++; g.offered.push(ev.request.tools.length);
      if (ev.response.tool_calls > 1) g.parallel++;
      if (ev.request.tool_choice === null) g.unset++;
      (g.toolsets.get(acct) ?? g.toolsets.set(acct, new Set()).get(acct)!).add([...ev.request.tools].sort().join(','));
      if (i === 0) return;
      g.turnaround.push(Date.parse(ev.ts) - Date.parse(evs[i - 1].ts) - evs[i - 1].duration_ms);
      const tail = ev.request.messages.slice(ev.request.messages.findLastIndex((m) => m.role === 'assistant') + 1);
      g.resultChars.push(tail.reduce((a, m) => a + m.chars, 0));
    });
  }
  const q = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : 0; };
  const q3 = (xs: number[]) => `${q(xs, 0.1).toLocaleString('en')} / ${q(xs, 0.5).toLocaleString('en')} / ${q(xs, 0.9).toLocaleString('en')}`;
  log(`\n### Agent trajectories as the events show them (red-team scenario with \`agent-1\` alone, seed 5, 300 organic accounts; ${events.toLocaleString('en')} events; prompts from ${dir})\n`);
  log('| accounts | trajectories | steps p10 / p50 / p90 | tool turnaround ms p10 / p50 / p90 | tool result chars p10 / p50 / p90 | tools offered p50 | answers with 2+ tool calls | tool choice unset | tool sets per account p50 / max |');
  log('|---|---|---|---|---|---|---|---|---|');
  for (const [name, g] of [...groups].sort((x, y) => x[0].localeCompare(y[0]))) {
    const sets = [...g.toolsets.values()].map((s) => s.size);
    log(`| ${name} (${g.accounts.size}) | ${g.n.toLocaleString('en')} | ${q3(g.steps)} | ${q3(g.turnaround)} | ${q3(g.resultChars)} | ${q(g.offered, 0.5)} | ${pct(g.parallel / g.answers)} | ${pct(g.unset / g.answers)} | ${q(sets, 0.5)} / ${Math.max(...sets)} |`);
  }
}

// `--only traffic,logit,embed,adaptive,disguise,evasion,exchange,cohort (course: its course rows alone),facts,quiet,redteam,agents,holdout,scan,path,memory` runs a subset (all by default);
// `--seed N` runs the red team at that seed alone; `--redteam ID[,ID]` those of its campaigns alone.
const only = args.includes('--only') ? new Set(args[args.indexOf('--only') + 1].split(',')) : null;
const want = (section: string) => !only || only.has(section);
if (want('traffic')) await trafficQuality();
if (want('logit')) await logitQuality();
if (want('embed')) await embedQuality();
if (want('adaptive')) await adaptiveQuality();
if (want('disguise')) await disguiseQuality();
if (want('evasion')) await evasionQuality();
if (want('exchange')) await exchangeQuality();
if (want('cohort')) await cohortQuality();
else if (want('course')) await courseQuality();
if (want('facts')) await factsQuality();
if (want('quiet')) await quietQuality();
if (want('redteam')) await redteamQuality();
if (want('agents')) await agentTrajectories();
if (want('holdout') || want('scan') || want('path') || want('memory')) {
  const { events } = await quality();
  const engine = want('scan') || want('path') ? await throughput(events) : new DetectorEngine();
  if (want('path')) requestPath(engine, events);
  if (want('memory')) await memory(events[0]);
}
if (args.includes('--out')) writeFileSync(args[args.indexOf('--out') + 1], out.join('\n') + '\n');
