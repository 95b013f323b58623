/**
 * Command-line entry points: `warden simulate`, `warden redteam`, `warden eval`. Each takes argv
 * (without the command name), prints to stdout/stderr and returns an exit code (0 ok, 1 failed,
 * 2 usage error).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { VERDICT_LEVELS, type VerdictLevel } from '../detect/verdict.ts';
import { evaluateFiles } from './eval.ts';
import { renderRedteamSummary, runRedteam } from './redteam.ts';
import { renderSvg, renderText } from './report.ts';
import { resolveScenario, readScenarioFile, type Scenario } from './scenario.ts';
import { simulate } from './simulate.ts';

const SCENARIO_OPTIONS = {
  scenario: { type: 'string' },
  preset: { type: 'string' },
  prompts: { type: 'string' },
  seed: { type: 'string' },
  days: { type: 'string' },
  start: { type: 'string' },
  scale: { type: 'string' },
  'organic-accounts': { type: 'string' },
  'max-events': { type: 'string' },
  set: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

const SCENARIO_HELP = `  --scenario FILE        scenario (YAML or JSON); may name a preset and override any knob
  --preset NAME          smoke | default | disclosure-2026 | quiet (default: default, or the file's preset)
  --prompts DIR          prompt directory (organic/*.jsonl, distill/*.jsonl); default: shipped fixtures
  --seed N               random seed (same seed + scenario = identical output)
  --days N  --start ISO  window
  --scale X              multiply organic accounts and campaign accounts/volumes
  --organic-accounts N   organic population size
  --max-events N         stop after N events
  --set PATH=VALUE       any knob, e.g. --set campaigns.0.accounts=500 --set organic.kinds.batch.share=0.1`;

class UsageError extends Error {}

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got "${v}"`);
  return n;
}

function scenarioFrom(values: Record<string, unknown>): Scenario {
  const file = typeof values.scenario === 'string' ? readScenarioFile(values.scenario) : null;
  const seedRaw = values.seed as string | undefined;
  return resolveScenario(file, {
    preset: values.preset as string | undefined,
    seed: seedRaw === undefined ? undefined : /^-?\d+$/.test(seedRaw) ? Number(seedRaw) : seedRaw,
    days: num(values.days as string | undefined, 'days'),
    start: values.start as string | undefined,
    scale: num(values.scale as string | undefined, 'scale'),
    organicAccounts: num(values['organic-accounts'] as string | undefined, 'organic-accounts'),
    maxEvents: num(values['max-events'] as string | undefined, 'max-events'),
    set: values.set as string[] | undefined,
  });
}

async function guard(fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (err as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      process.stderr.write(`error: ${(err as Error).message}\n`);
      return 2;
    }
    process.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  }
}

const SIMULATE_HELP = `usage: warden simulate [options] --out events.jsonl [--labels labels.jsonl]
Generates organic users and distillation campaigns as interaction events (time-ordered JSONL, the
warden.interaction/1 contract) and ground-truth labels (separate JSONL).
  --out FILE             events output ("-" for stdout; default events.jsonl; FILE.gz: gzip-compressed)
  --labels FILE          labels output (default labels.jsonl; "none" to skip)
  --summary FILE         also write the run summary as JSON
${SCENARIO_HELP}`;

/** `warden simulate`. */
export function runSimulateCli(argv: string[]): Promise<number> {
  return guard(async () => {
    const { values } = parseArgs({ args: argv, options: { ...SCENARIO_OPTIONS, out: { type: 'string' }, labels: { type: 'string' }, summary: { type: 'string' } }, allowPositionals: false });
    if (values.help) { process.stdout.write(SIMULATE_HELP + '\n'); return 0; }
    const scenario = scenarioFrom(values);
    const out = values.out ?? 'events.jsonl';
    const labels = values.labels === 'none' ? null : values.labels ?? 'labels.jsonl';
    const summary = simulate({
      scenario, prompts: values.prompts, eventsPath: out, labelsPath: labels, progressEvery: 1_000_000,
      onProgress: (n) => process.stderr.write(`  ${n.toLocaleString('en-US')} events\n`),
    });
    if (values.summary) writeFileSync(values.summary, JSON.stringify(summary, null, 1) + '\n');
    process.stderr.write(`simulate: ${summary.events.toLocaleString('en-US')} events (${(summary.bytes / 1e6).toFixed(1)} MB) from ${summary.accounts.organic} organic and ${summary.accounts.campaign} campaign accounts in ${(summary.elapsed_ms / 1000).toFixed(1)}s -> ${out}${labels ? `, labels -> ${labels}` : ''}\n`);
    return 0;
  });
}

const REDTEAM_HELP = `usage: warden redteam --target URL --admin-token TOKEN [options]
Creates the scenario's accounts and keys through the admin API and sends its traffic to a running
Warden (127.0.0.1/localhost only) with client addresses in X-Forwarded-For (add the sender to
server.trusted_proxies), on a compressed schedule; reports what got through, and the verdicts the
gateway recorded on each request apart from its limits and policy (read through the admin API).
  --target URL           gateway base URL (required)
  --admin-url URL        admin API base URL (default: the target)
  --admin-token TOKEN    admin token (or WARDEN_ADMIN_TOKEN)
  --speedup X            simulated seconds per second (default: fit the window into --duration)
  --max-requests N       stop after N requests (default 20000)
  --duration S           stop after S seconds (default 300)
  --concurrency N        requests in flight (default 32)
  --out DIR              write events, labels, results, observed detection and report (default redteam-out)
  --json                 print the result as JSON
${SCENARIO_HELP}
(default preset for redteam: smoke)`;

/** `warden redteam`. */
export function runRedteamCli(argv: string[]): Promise<number> {
  return guard(async () => {
    const { values } = parseArgs({
      args: argv, allowPositionals: false,
      options: { ...SCENARIO_OPTIONS, target: { type: 'string' }, 'admin-url': { type: 'string' }, 'admin-token': { type: 'string' }, speedup: { type: 'string' }, 'max-requests': { type: 'string' }, duration: { type: 'string' }, concurrency: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } },
    });
    if (values.help) { process.stdout.write(REDTEAM_HELP + '\n'); return 0; }
    if (!values.target) throw new UsageError('--target is required');
    const token = values['admin-token'] ?? process.env.WARDEN_ADMIN_TOKEN;
    if (!token) throw new UsageError('--admin-token (or WARDEN_ADMIN_TOKEN) is required');
    const scenario = scenarioFrom({ ...values, preset: values.preset ?? (values.scenario ? undefined : 'smoke') });
    const outDir = values.out ?? 'redteam-out';
    const result = await runRedteam({
      target: values.target, adminUrl: values['admin-url'], adminToken: token, scenario, prompts: values.prompts,
      speedup: num(values.speedup, 'speedup'), maxRequests: num(values['max-requests'], 'max-requests'), maxDurationS: num(values.duration, 'duration'),
      concurrency: num(values.concurrency, 'concurrency'), outDir, log: (l) => process.stderr.write(l + '\n'),
    });
    if (values.json) process.stdout.write(JSON.stringify({ ...result, observed: undefined, detector: result.detector && { ...result.detector, detection: undefined } }, null, 1) + '\n');
    else {
      process.stdout.write(renderRedteamSummary(result) + '\n');
      if (result.detector) process.stdout.write('Verdicts in force on each request, as the gateway recorded them (the detector\'s and operators\' verdicts alone: compare with warden scan)\n' + renderText(result.detector.eval) + '\n');
      process.stdout.write('What the clients met (429s of limits, policy shaping and refusals, and verdicts, together)\n' + renderText(result.eval));
    }
    process.stderr.write(`redteam: outputs in ${outDir}/ (events.jsonl, labels.jsonl, results.jsonl, observed-detection.json, report.json/.txt/.svg${result.detector ? ', verdicts-detection.json, verdicts-report.json/.txt' : ''})\n`);
    // Last, where they are read: they change what the reports above mean.
    for (const n of result.notes) process.stderr.write(`redteam: ${n}\n`);
    for (const w of result.warnings) process.stderr.write(`redteam: ${w}\n`);
    return 0;
  });
}

const EVAL_HELP = `usage: warden eval --detections FILE --labels FILE --events FILE [options]
Scores a detector's output (DetectionResult JSON, or a JSONL verdict log) against ground-truth
labels, using the events for volumes and tokens; per campaign and per organic kind.
  --out DIR              write report.json, report.txt, report.svg (default: print text only)
  --flag-level L         level counted as flagged for campaigns (default watch)
  --fp-level L           level counted against organic accounts (default throttle)
  --contain-level L      level at which a request is not served (default throttle; verify serves
                         an identity-verified account, as shape does)
  --coverage X           share of remaining campaign requests that must be contained (default 0.95)
  --json                 print the report as JSON`;

/** `warden eval`. */
export function runEvalCli(argv: string[]): Promise<number> {
  return guard(async () => {
    const { values } = parseArgs({
      args: argv, allowPositionals: false,
      options: { detections: { type: 'string' }, labels: { type: 'string' }, events: { type: 'string' }, out: { type: 'string' }, 'flag-level': { type: 'string' }, 'fp-level': { type: 'string' }, 'contain-level': { type: 'string' }, coverage: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) { process.stdout.write(EVAL_HELP + '\n'); return 0; }
    if (!values.detections || !values.labels || !values.events) throw new UsageError('--detections, --labels and --events are required');
    const level = (v: string | undefined, name: string): VerdictLevel | undefined => {
      if (v === undefined) return undefined;
      if (!(VERDICT_LEVELS as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${VERDICT_LEVELS.join(', ')}`);
      return v as VerdictLevel;
    };
    const coverage = num(values.coverage, 'coverage');
    if (coverage !== undefined && !(coverage > 0 && coverage <= 1)) throw new UsageError(`--coverage is a share of requests, above 0 and at most 1 (got ${values.coverage})`);
    const report = await evaluateFiles(values.detections, values.labels, values.events, {
      flagLevel: level(values['flag-level'], 'flag-level'), fpLevel: level(values['fp-level'], 'fp-level'),
      containLevel: level(values['contain-level'], 'contain-level'), coverage,
    });
    if (values.out) {
      mkdirSync(values.out, { recursive: true });
      writeFileSync(join(values.out, 'report.json'), JSON.stringify(report, null, 1) + '\n');
      writeFileSync(join(values.out, 'report.txt'), renderText(report));
      writeFileSync(join(values.out, 'report.svg'), renderSvg(report));
    }
    process.stdout.write(values.json ? JSON.stringify(report, null, 1) + '\n' : renderText(report));
    return 0;
  });
}
