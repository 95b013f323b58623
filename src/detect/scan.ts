/**
 * Offline scan: `warden scan events.jsonl` runs the same engine as the gateway over an event log
 * and prints the clusters and campaigns it found; `--report` writes the machine-readable
 * DetectionReport, `--labels` scores it against ground truth, `--detector` runs a baseline instead.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import { LATE_EVENT_TOLERANCE_MS, parseIsoMs, readEventBatches, readEventsJsonl, readableEvent, type InteractionEvent } from '../events/index.ts';
import { completeAccountFacts, newFactsKey, readAccountFacts, type AccountFactsTable } from '../identity/facts-file.ts';
import { DetectorEngine } from './engine.ts';
import type { SharedIndicators } from './intel.ts';
import { readSnapshot, readSnapshotHeader, writeSnapshot } from './snapshot.ts';
import { PradaBaseline, VolumeBaseline } from './baselines.ts';
import { buildReport, scoreReport, type DetectionReport, type GroundTruth, type QualityFigures, type ReportSource } from './report.ts';

/** Stream events from JSONL without schema validation (the gateway validated them when it wrote them). */
export function readEventsFast(source: string | Readable): AsyncGenerator<InteractionEvent> {
  return readEventsJsonl(source, { validate: false });
}

export type DetectorName = 'warden' | 'volume' | 'prada';

export interface ScanOptions {
  detector?: DetectorName;
  /** The `detect:` config section (thresholds, allow-list, ...). */
  config?: unknown;
  /** Called every `progressEvery` events. */
  onProgress?: (events: number) => void;
  progressEvery?: number;
  /** Stop at the first event that cannot be read (default: skip it and count it in `skipped`). */
  strict?: boolean;
  /**
   * Account facts by account id (`--accounts FILE`), for events that lack them: logs from other
   * tools name the account but not its signup facts.
   */
  accountFacts?: AccountFactsTable;
  /**
   * A detector state file (a snapshot, src/detect/snapshot.ts): read before the scan when it
   * exists, written after it, so that logs scanned one after another (a day at a time) are judged
   * as one history. Warden's detector only.
   */
  statePath?: string;
  /** Leave writing the state to the caller (`writeScanState`), once what follows the scan has succeeded. */
  deferState?: boolean;
  /** Indicators shared by other providers (./intel.ts): accounts matching them are held at their level. Warden's detector only. */
  intel?: SharedIndicators;
}

/** Accounts whose signup facts the scan had, and those it had none for. */
export interface FactsCoverage {
  /** Accounts whose events carried no facts and that the account table completed. */
  fromTable: number;
  /** Accounts with no facts in their events nor in the table: no signup evidence, freshness unknown. */
  missing: number;
}

/** Events left out because they could not be read: how many, and the first few with where and why. */
export interface SkippedEvents {
  events: number;
  /** `line`: the line of a file, or the position (from 1) in an iterable. */
  first: Array<{ line: number; problem: string }>;
}
const SKIPS_KEPT = 5;

export interface ScanResult {
  report: DetectionReport;
  engine: DetectorEngine | null;
  events: number;
  seconds: number;
  skipped: SkippedEvents;
  facts: FactsCoverage;
  /** With a state file: the events it held before this scan, and how many of this scan's were older than its latest. */
  state: { eventsBefore: number; olderEvents: number; discarded?: string } | null;
  /** The account table the scan joined to events without facts (`--accounts`), if any. */
  accountFacts: AccountFactsTable | null;
  /** Events more than LATE_EVENT_TOLERANCE_MS older than an event before them in the log, and the latest of them (seconds). */
  outOfOrder: { events: number; maxLateSeconds: number };
}


/** Write the detector's state after a scan run with `deferState` (with the account table's hashing key, if any). */
export async function writeScanState(result: ScanResult, statePath: string, factsKey: string | null = null): Promise<void> {
  if (result.engine) await writeSnapshot(result.engine, statePath, 0, { factsKey });
}

/** Run a detector over events (a JSONL path, a stream or any iterable) and build its report. */
export async function scanEvents(source: string | Readable | AsyncIterable<InteractionEvent> | Iterable<InteractionEvent>, opts: ScanOptions = {}): Promise<ScanResult> {
  const name = opts.detector ?? 'warden';
  const engine = name === 'warden' ? new DetectorEngine({ config: opts.config, trackFirstFlags: true, intel: opts.intel }) : null;
  const det: ReportSource & { ingest(ev: InteractionEvent): void; flush(): void } =
    engine ?? (name === 'volume' ? new VolumeBaseline() : new PradaBaseline());
  // Logs from other tools may hold lines that are not events, or events missing what the detector
  // reads: those are completed where a default is obvious, else skipped and counted (or, strict, fatal).
  const skipped: SkippedEvents = { events: 0, first: [] };
  const onSkip = opts.strict ? undefined : (line: number, problem: string) => {
    skipped.events++;
    if (skipped.first.length < SKIPS_KEPT) skipped.first.push({ line, problem });
  };
  // Files and streams arrive a batch per chunk read: one await per chunk, not per event.
  const batches: AsyncIterable<InteractionEvent[]> = typeof source === 'string' || (source as Readable).pipe
    ? readEventBatches(source as string | Readable, { validate: false, onSkip })
    : inBatches(source as AsyncIterable<InteractionEvent> | Iterable<InteractionEvent>, onSkip);
  let state: ScanResult['state'] = null;
  let stateFromMs = -Infinity;
  if (opts.statePath) {
    if (!engine) throw new Error('a state file is for Warden\'s detector only');
    const read = await readSnapshot(engine, opts.statePath);
    if (read.restored) { state = { eventsBefore: read.header.events, olderEvents: 0 }; stateFromMs = parseIsoMs(read.header.event_time); }
    else if (read.reason === 'no snapshot yet') state = { eventsBefore: 0, olderEvents: 0 };
    // A state from another version of the detector (its snapshot format changed on an upgrade) is
    // of no use to this one: start from nothing and replace it when the scan ends. Other reasons
    // (other detection settings, a damaged file) stay errors: the file may be meant for another run.
    else if (read.otherVersion) state = { eventsBefore: 0, olderEvents: 0, discarded: read.reason };
    else throw new Error(`state ${opts.statePath} not used: ${read.reason}`);
  }
  const t0 = performance.now();
  let n = 0; let from: string | null = null; let to: string | null = null;
  let firstMs = Infinity; let latestMs = -Infinity;
  const outOfOrder = { events: 0, maxLateSeconds: 0 };
  const every = opts.progressEvery ?? 1_000_000;
  const table = opts.accountFacts;
  const fromTable = new Set<string>();
  const missing = new Set<string>();
  for await (const batch of batches) {
    for (const ev of batch) {
      if (ev.account === null && ev.account_id !== null) {
        if (table && completeAccountFacts(ev, table)) fromTable.add(ev.account_id);
        else missing.add(ev.account_id);
      } else if (table) completeAccountFacts(ev, table);
      const ms = parseIsoMs(ev.ts);
      if (ms < stateFromMs) state!.olderEvents++;
      det.ingest(ev);
      // The detector reads time as events come (windows, gaps, its clock): disorder is counted, and
      // the report's time span is the log's earliest and latest event, whatever their order.
      if (ms < firstMs) { firstMs = ms; from = ev.ts; }
      if (ms >= latestMs) { latestMs = ms; to = ev.ts; }
      else if (latestMs - ms > LATE_EVENT_TOLERANCE_MS) {
        outOfOrder.events++;
        outOfOrder.maxLateSeconds = Math.max(outOfOrder.maxLateSeconds, Math.round((latestMs - ms) / 1000));
      }
      if (++n % every === 0) opts.onProgress?.(n);
    }
  }
  det.flush();
  if (opts.statePath && engine && !opts.deferState) await writeSnapshot(engine, opts.statePath, 0);
  const seconds = (performance.now() - t0) / 1000;
  const report = buildReport(det, { detector: name === 'warden' ? 'warden' : (det as VolumeBaseline | PradaBaseline).name, from, to });
  return { report, engine, events: n, seconds, skipped, facts: { fromTable: fromTable.size, missing: missing.size }, state, accountFacts: table ?? null, outOfOrder };
}

/** Events of an iterable in batches, each checked as a file's lines are (see readableEvent). */
async function* inBatches(events: AsyncIterable<InteractionEvent> | Iterable<InteractionEvent>, onSkip?: (line: number, problem: string) => void): AsyncGenerator<InteractionEvent[]> {
  let position = 0;
  const readable = (ev: InteractionEvent): boolean => {
    position++;
    const problem = readableEvent(ev);
    if (problem === null) return true;
    if (!onSkip) throw new Error(`event ${position}: ${problem}`);
    onSkip(position, problem);
    return false;
  };
  if (Symbol.iterator in events) {
    let batch: InteractionEvent[] = [];
    for (const ev of events) { if (readable(ev)) batch.push(ev); if (batch.length === 4096) { yield batch; batch = []; } }
    if (batch.length) yield batch;
  } else {
    for await (const ev of events) if (readable(ev)) yield [ev];
  }
}

/** Load ground truth labels: `{accounts: {id: label}, campaigns?: {...}}` JSON, or JSONL rows `{account_id, label}`. */
export function loadLabels(path: string): GroundTruth {
  const text = readFileSync(path, 'utf8');
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') && !trimmed.includes('\n{')) {
    const obj = JSON.parse(text) as Record<string, unknown>;
    if (obj.accounts && typeof obj.accounts === 'object') return obj as unknown as GroundTruth;
  }
  const accounts: Record<string, string> = {};
  const campaigns: GroundTruth['campaigns'] = {};
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    if (!line.trim()) continue;
    let row: Record<string, unknown>;
    try { row = JSON.parse(line) as Record<string, unknown>; } catch { throw new Error(`line ${n + 1}: not JSON`); }
    // `warden simulate` writes its scenario and campaigns on rows of their own, before the accounts.
    if (row.type !== undefined && row.type !== 'account') continue;
    if (row.request !== undefined || row.response !== undefined) throw new Error(`line ${n + 1} is an interaction event: not a labels file`);
    const id = row.account_id ?? row.account;
    if (typeof id !== 'string' || !id) throw new Error(`line ${n + 1}: no account_id: not a labels file (rows {account_id, label | campaign_id | organic_kind})`);
    const campaign = (row.campaign_id ?? row.campaign) as string | undefined | null;
    const label = campaign ? `campaign:${campaign}` : String(row.label ?? `organic:${row.organic_kind ?? row.kind ?? 'organic'}`);
    accounts[id] = label;
    if (campaign) campaigns[campaign] = { adaptive: !!row.adaptive, kind: String(row.campaign_kind ?? row.kind ?? 'unknown') };
  }
  if (Object.keys(accounts).length === 0) throw new Error('no account labels in it');
  return { accounts, campaigns };
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/** Human-readable summary of a report (and of its quality figures when labels were given). */
export function formatSummary(r: ScanResult, q: QualityFigures | null): string {
  const lines: string[] = [];
  const rep = r.report;
  const accounts = rep.accounts;
  const above = accounts.filter((a) => a.level !== 'none' && a.level !== 'watch').length;
  lines.push(`${rep.detector}: ${r.events} events in ${r.seconds.toFixed(2)} s (${Math.round(r.events / Math.max(r.seconds, 1e-9))} events/s), ${accounts.length} accounts, ${above} above watch`);
  if (rep.campaigns.length) {
    lines.push('', 'campaigns:');
    for (const c of rep.campaigns.slice(0, 20)) {
      const top = c.evidence.filter((e) => e.signal.startsWith('shared_')).slice(0, 3).map((e) => e.signal.slice(7)).join(', ');
      lines.push(`  ${c.id}  ${c.level.padEnd(8)} score ${c.score.toFixed(2)}  ${String(c.members.length).padStart(6)} accounts  ${String(c.volume.requests).padStart(8)} requests  linked by: ${top || '-'}`);
    }
  }
  if (q) {
    lines.push('', 'quality (flagged = above watch; contained = shape or above):');
    lines.push(`  campaign accounts flagged      ${pct(q.campaign_account_recall)}`);
    lines.push(`  campaigns flagged              ${pct(q.campaign_cluster_recall)}`);
    lines.push(`  adaptive accounts flagged      ${q.adaptive_account_recall === null ? '-' : pct(q.adaptive_account_recall)}`);
    lines.push(`  organic accounts flagged       ${pct(q.organic_flag_rate)} (${q.organic_flagged}/${q.organic_accounts})`);
    lines.push(`  served before containment      worst ${pct(q.served_before_containment.worst)}, mean ${pct(q.served_before_containment.mean)}`);
    for (const [k, v] of Object.entries(q.organic_by_kind)) lines.push(`    organic ${k.padEnd(12)} ${v.flagged}/${v.accounts} flagged, ${v.watched} watched`);
  }
  return lines.join('\n') + '\n';
}

const USAGE = `usage: warden scan <events.jsonl|-> [--accounts accounts.jsonl|.csv] [--state detector.state] [--report out.json] [--labels labels.json] [--detector warden|volume|prada] [-c|--config warden.yaml] [--allow ACCOUNT]... [--intel bundle.json [--intel-level L]]... [--cases DIR [--signing-key FILE]] [--strict] [--json]`;

/**
 * `warden scan`: parse argv (the arguments after `scan`), run, print. Returns the exit code:
 * 0 done, 2 bad usage or unreadable input.
 */
export async function runScanCli(argv: string[], io: { stdout?: Writable; stderr?: Writable } = {}, extra: {
  intel?: SharedIndicators;
  /** Run after the scan with its result and the events file (a file: set `fileOnly`). */
  after?: (result: ScanResult, input: string) => Promise<void>;
  /** Refuse stdin, with this reason (`after` reads the file again). */
  fileOnly?: string;
} = {}): Promise<number> {
  const out = io.stdout ?? process.stdout;
  const err = io.stderr ?? process.stderr;
  let input: string | null = null; let reportPath: string | null = null; let labelsPath: string | null = null;
  let detector: DetectorName = 'warden'; let json = false; let strict = false; let configPath: string | null = null;
  let accountsPath: string | null = null; let statePath: string | undefined;
  const allow: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    // --config=FILE, as the other commands take it
    let inline: string | undefined;
    if (a.startsWith('--config=')) { inline = a.slice('--config='.length); a = '--config'; }
    const val = () => { const v = inline ?? argv[++i]; if (v === undefined) throw new Error(`${a} needs a value`); return v; };
    try {
      if (a === '--report') reportPath = val();
      else if (a === '--labels') labelsPath = val();
      else if (a === '--accounts') accountsPath = val();
      else if (a === '--state') statePath = val();
      else if (a === '--detector') { const d = val(); if (d !== 'warden' && d !== 'volume' && d !== 'prada') throw new Error(`unknown detector ${d}`); detector = d; }
      else if (a === '--config' || a === '-c') configPath = val();
      else if (a === '--allow') allow.push(val());
      else if (a === '--json') json = true;
      else if (a === '--strict') strict = true;
      else if (a === '-h' || a === '--help') { out.write(USAGE + '\n'); return 0; }
      else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
      else if (input === null) input = a;
      else throw new Error(`unexpected argument ${a}`);
    } catch (e) { err.write(`warden scan: ${(e as Error).message}\n${USAGE}\n`); return 2; }
  }
  if (!input) { err.write(`warden scan: no events file\n${USAGE}\n`); return 2; }
  if (input === '-' && extra.fileOnly) { err.write(`warden scan: ${extra.fileOnly}\n`); return 2; }
  let config: Record<string, unknown> = {};
  try {
    if (configPath) {
      const doc = parseYaml(readFileSync(configPath, 'utf8')) as Record<string, unknown> | null;
      config = ((doc?.detect as Record<string, unknown> | undefined) ?? {});
    }
  } catch (e) { err.write(`warden scan: cannot read config ${configPath}: ${(e as Error).message}\n`); return 2; }
  if (allow.length) {
    const section = (config.allow ?? {}) as { accounts?: string[] };
    config = { ...config, allow: { ...section, accounts: [...(section.accounts ?? []), ...allow] } };
  }
  // Raw emails and cards of an account table are hashed with a key kept in the state, so that the
  // same card links across logs scanned one after another (a fresh key per run would hash it anew).
  let factsKey: string | null = null;
  if (statePath) {
    try { factsKey = (await readSnapshotHeader(statePath))?.facts_key ?? null; } catch (e) { err.write(`warden scan: cannot read state ${statePath}: ${(e as Error).message}\n`); return 2; }
    if (factsKey !== null && !/^[0-9a-f]{64}$/.test(factsKey)) { err.write(`warden scan: state ${statePath} holds a malformed facts key\n`); return 2; }
  }
  let accountFacts: AccountFactsTable | undefined;
  if (accountsPath) {
    if (statePath) factsKey ??= newFactsKey();
    try { accountFacts = await readAccountFacts(accountsPath, { key: factsKey ?? undefined }); } catch (e) { err.write(`warden scan: cannot read accounts ${accountsPath}: ${(e as Error).message}\n`); return 2; }
  }
  // Labels are read before the scan: a mistyped file should not cost a scan (nor advance a state).
  let truth: GroundTruth | null = null;
  if (labelsPath) {
    try { truth = loadLabels(labelsPath); } catch (e) { err.write(`warden scan: cannot read labels ${labelsPath}: ${(e as Error).message}\n`); return 2; }
  }
  let result: ScanResult;
  try {
    if (statePath && detector !== 'warden') throw new Error('--state is for Warden\'s detector only');
    if (extra.intel && detector !== 'warden') throw new Error('shared indicators are for Warden\'s detector only');
    result = await scanEvents(input, { detector, config, strict, accountFacts, statePath, deferState: true, intel: extra.intel });
  } catch (e) { err.write(`warden scan: ${(e as Error).message}\n`); return 2; }
  const { skipped } = result;
  if (result.state?.discarded) err.write(`warden scan: state ${statePath} not used (${result.state.discarded}): this scan started from nothing, and its state replaces the file\n`);
  if (result.events === 0) err.write(`warden scan: no events read from ${input === '-' ? 'stdin' : input}\n`);
  if (skipped.events > 0) {
    const where = skipped.first.map((s) => `line ${s.line}: ${s.problem}`).join('; ');
    err.write(`warden scan: skipped ${skipped.events} line${skipped.events === 1 ? '' : 's'} that are not readable events (${where}${skipped.events > skipped.first.length ? '; ...' : ''}); --strict stops at the first\n`);
  }
  const { facts } = result;
  if (result.state && result.state.olderEvents > 0) {
    err.write(`warden scan: ${result.state.olderEvents} events are older than the latest event of the state ${statePath}: scan each log once and in time order, or a log scanned twice is counted twice\n`);
  }
  if (facts.missing > 0) {
    err.write(`warden scan: ${facts.missing} of ${result.report.accounts.length} accounts have no account facts${accountsPath ? ` in the events or in ${accountsPath}` : ' in the events'}: `
      + `without signup facts (card, signup address, signup time) their accounts link later and campaigns are contained later${accountsPath ? '' : '; give them with --accounts FILE'}\n`);
  }
  if (result.outOfOrder.events > 0) {
    err.write(`warden scan: ${result.outOfOrder.events} events came after an event more than ${LATE_EVENT_TOLERANCE_MS / 60_000} minutes later than theirs (by up to ${result.outOfOrder.maxLateSeconds} s): `
      + 'the detector reads time as events come (windows, gaps, its clock), so a log out of time order is judged differently; sort it by ts\n');
  }
  const quality: QualityFigures | null = truth ? scoreReport(result.report, truth) : null;
  if (reportPath) {
    try { writeFileSync(reportPath, JSON.stringify(result.report)); } catch (e) { err.write(`warden scan: cannot write report ${reportPath}: ${(e as Error).message}\n`); return 2; }
  }
  // Retro-hunting a partner's campaign in past logs: which of its indicators were seen here, by how many accounts.
  const sightings = extra.intel ? extra.intel.sightings() : null;
  const intel = extra.intel && sightings ? { indicators: extra.intel.size, matched: sightings.length, sightings } : null;
  if (json) out.write(JSON.stringify({ events: result.events, events_in_state_before: result.state?.eventsBefore ?? null, skipped: skipped.events, out_of_order: result.outOfOrder.events, accounts_facts_from_table: facts.fromTable, accounts_without_facts: facts.missing, seconds: result.seconds, campaigns: result.report.campaigns.length, quality, intel }) + '\n');
  else {
    out.write(formatSummary(result, quality));
    if (intel) out.write(`shared indicators: ${intel.matched} of ${intel.indicators} seen${intel.sightings.map((x) => `\n  ${x.indicator_id}: ${x.count} requests from ${x.accounts} accounts, ${x.first_seen} to ${x.last_seen}`).join('')}\n`);
  }
  if (extra.after) {
    try { await extra.after(result, input); } catch (e) { err.write(`warden scan: ${(e as Error).message}\n`); return 1; }
  }
  // The state advances only once everything asked for is done: a failed run can be run again as it was.
  if (statePath) {
    try { await writeScanState(result, statePath, factsKey); } catch (e) { err.write(`warden scan: cannot write state ${statePath}: ${(e as Error).message}\n`); return 1; }
  }
  return 0;
}
