/**
 * `warden watermark ...` sub-commands:
 *
 *   warden watermark detect [--file F | -] --subject account:ID ... [--subjects-file F]
 *                           [--secret env:NAME] [-c|--config warden.yaml] [--alpha 1e-3] [--json]
 *                           (no subject: the keys recorded in events, [--from --to --account --org])
 *   warden watermark subjects [--from ISO] [--to ISO] [--account ID] [--org ID] [-c ...] [--json]
 *                           (the keys answers were marked with in a period, as a --subjects-file)
 *   warden watermark embed  [--file F | -] --subject account:ID [--secret ...]      (demos, tests)
 *   warden watermark vectors --url BASE --model M --subject account:ID ... [--api-key env:NAME]
 *                           [--dimensions N] [--secret ...] [--alpha 1e-3] [--json]
 *
 * The master secret is `--secret`, else the configuration's `watermark.master_secret` (read as every
 * command reads it: `-c/--config FILE`, else $WARDEN_CONFIG, else ./warden.yaml; its default is
 * env:WARDEN_WATERMARK_SECRET), so that detection runs with the secret the gateway marks with.
 *
 * detect and vectors exit 0 when a watermark is found, 1 when not, 2 on a usage or input error.
 */
import { readFileSync } from 'node:fs';
import { loadConfig, resolveSecret } from '../config/index.ts';
import { detectWatermark, type DetectionReport } from './detect.ts';
import { watermarkText } from './embed.ts';
import { deriveWatermarkKey, parseSubject, type WatermarkKey } from './keys.ts';
import { readEmbedding } from '../events/index.ts';
import { verifyVectorMark, type VectorMarkReport } from './vectors.ts';
import type { InteractionEvent } from '../events/index.ts';
import type { WardenConfig } from '../config/index.ts';

/** Filters on recorded events (times ISO 8601, `to` exclusive), as `warden events export` takes them. */
export interface RecordedEventQuery { from?: string; to?: string; accountId?: string; orgId?: string }

/** The deployment's recorded events, opened by the command line (the store is not this capability's). */
export type OpenRecordedEvents = (config: WardenConfig) => Promise<{
  iterate(query: RecordedEventQuery): AsyncIterable<InteractionEvent>;
  close(): Promise<void>;
}>;

/** A key answers were marked with, and who was served under it. */
export interface RecordedSubject {
  subject: string;
  key_id: string;
  answers: number;
  accounts: string[];
  first: string;
  last: string;
}

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Standard input as text (read lazily). */
  stdin: () => string;
  env: NodeJS.ProcessEnv;
}

const defaultIo: CliIo = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  stdin: () => readFileSync(0, 'utf8'),
  env: process.env,
};

const USAGE = `usage:
  warden watermark detect [--file PATH|-] --subject account:ID [--subject cluster:ID ...]
                          [--subjects-file PATH] [--secret env:NAME] [-c|--config warden.yaml]
                          [--alpha 0.001] [--json]
      (a JSON document or JSON Lines is read as its string values, as JSON answers are marked)
      (no --subject nor --subjects-file: every key recorded in the events, narrowed by
       --from ISO, --to ISO, --account ID, --org ID as in \`warden watermark subjects\`)
  warden watermark subjects [--from ISO] [--to ISO] [--account ID] [--org ID] [-c|--config warden.yaml] [--json]
      (the keys answers were marked with in the recorded events, one subject a line with the
       accounts served under it: the candidate list for --subjects-file)
  warden watermark embed  [--file PATH|-] --subject account:ID [--secret env:NAME] [-c|--config warden.yaml]
  warden watermark vectors --url BASE_URL --model MODEL --subject account:ID [--subject cluster:ID ...]
                          [--api-key env:NAME] [--dimensions N] [--secret env:NAME] [-c|--config warden.yaml]
                          [--alpha 0.001] [--json]
      (asks a suspect OpenAI-compatible embeddings API, BASE_URL/embeddings, whether it was
       trained on vectors marked with one of these keys)
  The master secret: --secret, else watermark.master_secret of the configuration (-c FILE, else
  $WARDEN_CONFIG, else ./warden.yaml; by default env:WARDEN_WATERMARK_SECRET).
`;

class UsageError extends Error {}

interface Args {
  cmd: string; file: string; subjects: string[]; subjectsFile: string | null; secret: string | null; config: string | null; alpha: number | null; json: boolean;
  url: string | null; model: string | null; apiKey: string | null; dimensions: number | null;
  period: RecordedEventQuery;
}

function parseArgs(argv: string[]): Args {
  const [cmd, ...rest] = argv;
  if (cmd !== 'detect' && cmd !== 'embed' && cmd !== 'vectors' && cmd !== 'subjects') throw new UsageError(cmd ? `unknown sub-command "${cmd}"` : 'missing sub-command');
  const a: Args = { cmd, file: '-', subjects: [], subjectsFile: null, secret: null, config: null, alpha: null, json: false, url: null, model: null, apiKey: null, dimensions: null, period: {} };
  for (let i = 0; i < rest.length; i++) {
    let flag = rest[i];
    let inline: string | undefined;
    if (flag.startsWith('--config=')) { inline = flag.slice('--config='.length); flag = '--config'; }
    const value = () => { const v = inline ?? rest[++i]; if (v === undefined) throw new UsageError(`${flag} needs a value`); return v; };
    switch (flag) {
      case '--file': a.file = value(); break;
      case '--subject': a.subjects.push(value()); break;
      case '--subjects-file': a.subjectsFile = value(); break;
      case '--secret': a.secret = value(); break;
      case '-c':
      case '--config':
        a.config = value();
        // An empty path would silently fall back to the default configuration.
        if (!a.config) throw new UsageError(`${flag} needs a file (got an empty path)`);
        break;
      case '--alpha': {
        const v = Number(value());
        if (!(v > 0 && v < 0.5)) throw new UsageError('--alpha must be a number between 0 and 0.5');
        a.alpha = v; break;
      }
      case '--json': a.json = true; break;
      case '--from': a.period.from = isoTime(flag, value()); break;
      case '--to': a.period.to = isoTime(flag, value()); break;
      case '--account': a.period.accountId = value(); break;
      case '--org': a.period.orgId = value(); break;
      case '--url': a.url = value(); break;
      case '--model': a.model = value(); break;
      case '--api-key': a.apiKey = value(); break;
      case '--dimensions': {
        const v = Number(value());
        if (!Number.isInteger(v) || v < 1) throw new UsageError('--dimensions must be a positive integer');
        a.dimensions = v; break;
      }
      default: throw new UsageError(`unknown option "${flag}"`);
    }
  }
  return a;
}

/** A time as events store it (ISO 8601, UTC): a date alone is its midnight UTC. */
function isoTime(flag: string, text: string): string {
  const t = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text;
  const ms = /^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(t) ? Date.parse(t) : NaN;
  if (Number.isNaN(ms)) throw new UsageError(`${flag} must be an ISO 8601 date or date-time with its zone, e.g. 2026-12-05 or 2026-12-05T10:00:00Z (got ${JSON.stringify(text)})`);
  return new Date(ms).toISOString();
}

/**
 * The keys answers were marked with in the recorded events (`enforcement.watermark`), with the
 * accounts served under each: a cluster's key names its members even after the cluster merged away.
 */
export async function recordedSubjects(events: AsyncIterable<InteractionEvent>): Promise<RecordedSubject[]> {
  const byKey = new Map<string, RecordedSubject & { accountSet: Set<string> }>();
  for await (const e of events) {
    const keyId = e.enforcement?.watermark;
    if (!keyId) continue;
    let s = byKey.get(keyId);
    if (!s) {
      let subject: string;
      try { const p = parseSubject(keyId); subject = `${p.kind}:${p.id}`; } catch { continue; }
      s = { subject, key_id: keyId, answers: 0, accounts: [], first: e.ts, last: e.ts, accountSet: new Set() };
      byKey.set(keyId, s);
    }
    s.answers++;
    if (e.account_id) s.accountSet.add(e.account_id);
    if (e.ts < s.first) s.first = e.ts;
    if (e.ts > s.last) s.last = e.ts;
  }
  return [...byKey.values()]
    .map(({ accountSet, ...s }) => ({ ...s, accounts: [...accountSet].sort() }))
    .sort((a, b) => b.answers - a.answers || (a.subject < b.subject ? -1 : 1));
}

/** One subject a line, usable as --subjects-file: what follows `#` is read as a comment. */
function formatSubjects(list: RecordedSubject[]): string {
  return list.map((s) => `${s.subject}  # ${s.answers} answer${s.answers === 1 ? '' : 's'} ${s.first} .. ${s.last}; ${s.accounts.length} account${s.accounts.length === 1 ? '' : 's'}: ${s.accounts.join(', ')}`).join('\n') + (list.length ? '\n' : '');
}

async function readRecordedSubjects(open: OpenRecordedEvents | undefined, config: WardenConfig, period: RecordedEventQuery): Promise<RecordedSubject[]> {
  if (!open) throw new UsageError('no candidate keys: pass --subject account:ID (repeatable) or --subjects-file (recorded events cannot be read here)');
  const events = await open(config);
  try { return await recordedSubjects(events.iterate(period)); } finally { await events.close(); }
}

function formatReport(r: DetectionReport): string {
  const lines = [`words: ${r.words}, distinct watermark slots scored: ${r.slots}, candidate keys: ${r.candidates}`];
  if (r.best) {
    const b = r.best;
    lines.push(`best key: ${b.keyId}  matches ${b.matches}/${r.slots} (expected ${b.expected.toFixed(1)} without the mark)  z = ${b.z.toFixed(2)}  p = ${b.pValue.toExponential(2)}  corrected p (x${r.candidates}) = ${b.correctedP.toExponential(2)}`);
  }
  lines.push(r.detected
    ? `result: WATERMARK DETECTED for ${r.best!.keyId} at alpha ${r.alpha}`
    : `result: no watermark found at alpha ${r.alpha}${r.slots < 10 ? ' (too little text: fewer than 10 slots can never reach alpha 1e-3; supply more text)' : ''}`);
  return lines.join('\n') + '\n';
}

/**
 * Run the watermark CLI. Returns the exit code (0 detected / done, 1 not detected, 2 error).
 *
 * @example await runWatermarkCli(['detect', '--file', 'suspect.txt', '--subject', 'account:acc_1'])
 */
export async function runWatermarkCli(argv: string[], io: CliIo = defaultIo, openRecorded?: OpenRecordedEvents): Promise<number> {
  // Help anywhere prints the usage and does nothing else.
  if (argv[0] === 'help' || argv.some((a) => a === '--help' || a === '-h')) { io.stdout(USAGE); return 0; }
  let args: Args;
  try { args = parseArgs(argv); } catch (err) {
    if (err instanceof UsageError) { io.stderr((err.message ? `error: ${err.message}\n` : '') + USAGE); return 2; }
    throw err;
  }
  try {
    // The configuration as every command reads it: the one the gateway marks with.
    const config = loadConfig(args.config ?? undefined, io.env);
    const cfg = config.watermark;
    if (args.cmd === 'subjects') {
      const list = await readRecordedSubjects(openRecorded, config, args.period);
      io.stdout(args.json ? JSON.stringify(list, null, 2) + '\n' : formatSubjects(list));
      if (!args.json) io.stderr(`${list.length} watermark key${list.length === 1 ? '' : 's'} recorded${describePeriod(args.period)}\n`);
      return 0;
    }
    if (Object.keys(args.period).length && (args.subjects.length || args.subjectsFile)) throw new UsageError('--from, --to, --account and --org choose recorded keys: use them without --subject and --subjects-file');
    const secret = resolveSecret(args.secret ?? cfg.master_secret, io.env);
    if (!secret) throw new UsageError('no master secret: pass --secret env:NAME, set watermark.master_secret in the configuration (-c FILE), or set WARDEN_WATERMARK_SECRET');
    const subjects = [...args.subjects];
    if (args.subjectsFile) {
      // A loop, not push(...lines): a subjects file can hold more lines than a call's arguments.
      for (const line of readFileSync(args.subjectsFile, 'utf8').split(/\r?\n/)) {
        const subject = line.replace(/#.*$/, '').trim();
        if (subject) subjects.push(subject);
      }
    }
    // No subject named: the keys the gateway actually marked with, account and cluster keys alike.
    let recorded: RecordedSubject[] | null = null;
    if (subjects.length === 0 && args.cmd !== 'embed') {
      recorded = await readRecordedSubjects(openRecorded, config, args.period);
      for (const s of recorded) subjects.push(s.subject);
      io.stderr(`candidate keys: the ${recorded.length} recorded in events${describePeriod(args.period)}\n`);
    }
    if (subjects.length === 0) throw new UsageError(`no candidate keys: pass --subject account:ID (repeatable) or --subjects-file${recorded ? `, or widen the period: no recorded event${describePeriod(args.period)} carries a watermark key` : ''}`);
    let keys: WatermarkKey[];
    try { keys = [...new Set(subjects)].map((s) => deriveWatermarkKey(secret, parseSubject(s))); } catch (err) { throw new UsageError((err as Error).message); }
    if (args.cmd === 'vectors') {
      if (!args.url || !args.model) throw new UsageError('vectors needs --url and --model');
      const embed = suspectEncoder(args.url, args.model, args.apiKey ? resolveSecret(args.apiKey, io.env) : null, args.dimensions);
      const reports: VectorMarkReport[] = [];
      // Each key a test of its own: the level is divided among them (Bonferroni).
      const alpha = (args.alpha ?? cfg.alpha) / keys.length;
      for (const k of keys) reports.push(await verifyVectorMark(k, embed, { alpha }));
      const found = reports.filter((r) => r.marked);
      io.stdout(args.json ? JSON.stringify({ alpha, reports }, null, 2) + '\n' : reports.map((r) =>
        `${r.subject}: cosine with the key's target ${r.backdoor_cos.toFixed(4)} with its trigger words, ${r.benign_cos.toFixed(4)} without (difference ${r.delta_cos.toFixed(4)}), p = ${r.p_value.toExponential(2)}: ${r.marked ? 'MARKED' : 'not marked'}`).join('\n')
        + `\nresult: ${found.length ? `WATERMARK DETECTED for ${found.map((r) => r.subject).join(', ')}` : 'no watermark found'} at alpha ${alpha.toExponential(2)} per key\n`);
      return found.length ? 0 : 1;
    }
    const text = args.file === '-' ? io.stdin() : readFileSync(args.file, 'utf8');
    if (args.cmd === 'embed') {
      if (keys.length !== 1) throw new UsageError('embed takes exactly one --subject');
      io.stdout(watermarkText(text, keys[0].key).text);
      return 0;
    }
    const report = detectWatermark(text, keys, args.alpha ?? cfg.alpha);
    // Who was served under the key found: a cluster's members, as recorded when they were marked.
    const servedTo = report.detected && recorded ? recorded.find((s) => s.key_id === report.best!.keyId) ?? null : null;
    io.stdout(args.json ? JSON.stringify(servedTo ? { ...report, served_to: servedTo } : report, null, 2) + '\n'
      : formatReport(report) + (servedTo ? `served under ${servedTo.key_id}: ${servedTo.answers} answers ${servedTo.first} .. ${servedTo.last} to ${servedTo.accounts.length} account${servedTo.accounts.length === 1 ? '' : 's'}: ${servedTo.accounts.join(', ')}\n` : ''));
    return report.detected ? 0 : 1;
  } catch (err) {
    io.stderr(`error: ${(err as Error).message}\n${err instanceof UsageError ? USAGE : ''}`);
    return 2;
  }
}

function describePeriod(p: RecordedEventQuery): string {
  const parts = [p.from ? `from ${p.from}` : '', p.to ? `to ${p.to}` : '', p.accountId ? `of account ${p.accountId}` : '', p.orgId ? `of org ${p.orgId}` : ''].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/** An OpenAI-compatible embeddings API as a function of texts (32 texts a request). */
function suspectEncoder(baseUrl: string, model: string, apiKey: string | null, dimensions: number | null): (texts: string[]) => Promise<Float32Array[]> {
  const url = `${baseUrl.replace(/\/+$/, '')}/embeddings`;
  return async (texts) => {
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += 32) {
      const body: Record<string, unknown> = { model, input: texts.slice(i, i + 32), encoding_format: 'float' };
      if (dimensions !== null) body.dimensions = dimensions;
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) }, body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`${url} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
      const json = await res.json() as { data?: Array<{ index?: number; embedding?: unknown }> };
      const data = [...(json.data ?? [])].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
      for (const d of data) {
        const v = readEmbedding(d.embedding);
        if (!v) throw new Error(`${url} returned an answer without a readable vector`);
        out.push(v);
      }
    }
    return out;
  };
}
