/** `warden usage export`: billing usage per UTC period, organisation, account and model, from the recorded events. */
import { parseArgs } from 'node:util';
import { createWriteStream, fchmodSync, openSync } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { BILLING_PERIODS, BillingTally, billingColumns, csvLine, type BillingPeriod } from '../events/index.ts';
import { loadConfig } from '../config/index.ts';
import { isoTimeProblem, normalizeIsoTime } from '../store/iso-time.ts';
import { requestPricer } from '../limits/index.ts';
import { openStores } from './stores.ts';

export const USAGE_EXPORT_HELP = `usage: warden usage export [--from ISO] [--to ISO] [--by month|day|hour] [--format csv|jsonl] [--out FILE|-]
                           [--account ID] [--org ID] [--model NAME] [--per-key] [--per-upstream] [--per-tier] [--tier NAME] [--priced] [-c FILE | --config FILE]
Sums the recorded interaction events for billing: one row per UTC period (--by, default day), organisation,
account, model and batch (requests a batch ran apart from the others), with requests (refused,
unauthenticated and failed counted apart), input tokens and of them the prompt cache's reads and writes,
output tokens and of them reasoning, requests counted with Warden's tokenizer, images, audio seconds and
speech characters. --per-key splits the rows by API key, --per-upstream by the upstream that served them
(to set against each provider's invoice), --per-tier by the service tier the upstream served them on
(OpenAI flex, priority, default; Anthropic standard, priority; empty when it named none), and --tier NAME
sums only the requests served on that tier. --priced adds cost_usd: each request's counts priced at
limits.prices as the budgets price them (budgets charge a request its client left, status 499, an
estimate instead). --from (inclusive) and --to (exclusive) are ISO 8601: 2026-11-01
(midnight UTC) or 2026-11-01T00:00:00Z; a request belongs to the period it arrived in. Per account the
requests and tokens equal the usage rows of \`warden ledger query\` over the same --from/--to. Works beside
the running server. CSV has a header line; JSONL one object a line. A usage error exits with 2.`;

function usageError(message: string): number {
  console.error(`warden usage export: ${message}\n${USAGE_EXPORT_HELP}`);
  return 2;
}

async function write(out: Writable, s: string): Promise<void> {
  if (!out.write(s)) await once(out, 'drain');
}

export async function runUsage(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') { console.log(USAGE_EXPORT_HELP); return 0; }
  if (sub !== 'export') { console.error(USAGE_EXPORT_HELP); return 2; }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        out: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, by: { type: 'string' }, format: { type: 'string' },
        account: { type: 'string' }, org: { type: 'string' }, model: { type: 'string' }, 'per-key': { type: 'boolean' }, 'per-upstream': { type: 'boolean' }, 'per-tier': { type: 'boolean' }, tier: { type: 'string' }, priced: { type: 'boolean' },
        config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    return usageError(`${(err as Error).message.split(/\.\s/)[0]}`);
  }
  if (values.help) { console.log(USAGE_EXPORT_HELP); return 0; }
  const from = values.from === undefined ? undefined : normalizeIsoTime(values.from);
  const to = values.to === undefined ? undefined : normalizeIsoTime(values.to);
  if (from === null) return usageError(isoTimeProblem('--from', values.from));
  if (to === null) return usageError(isoTimeProblem('--to', values.to));
  const period = (values.by ?? 'day') as BillingPeriod;
  if (!BILLING_PERIODS.includes(period)) return usageError(`--by must be one of ${BILLING_PERIODS.join(', ')} (got ${JSON.stringify(values.by)})`);
  const format = values.format ?? 'csv';
  if (format !== 'csv' && format !== 'jsonl') return usageError(`--format must be csv or jsonl (got ${JSON.stringify(values.format)})`);
  if (values.config === '') return usageError('--config needs a file (got an empty path)');
  for (const name of ['account', 'org', 'model', 'tier'] as const) {
    if (values[name] !== undefined && !values[name]!.trim()) return usageError(`--${name} needs a value (got an empty one)`);
  }
  const config = loadConfig(values.config);
  const byKey = values['per-key'] === true;
  const byUpstream = values['per-upstream'] === true;
  const byTier = values['per-tier'] === true;
  const priced = values.priced === true;
  const price = priced ? requestPricer(config.limits) : null;
  const tally = new BillingTally({ period, byKey, byUpstream, byTier, priced });
  const stores = await openStores(config);
  try {
    for await (const e of stores.events.iterate({ from, to, accountId: values.account, orgId: values.org, model: values.model })) {
      const r = e.response;
      if (values.tier !== undefined && r.service_tier !== values.tier) continue;
      // Refused (403, 429) and unauthenticated requests reach no upstream and settle no budget.
      const billed = price !== null && r.status !== 401 && r.status !== 403 && r.status !== 429;
      tally.add(e, billed ? price(e.model, r.input_tokens, r.output_tokens, { read: r.cached_input_tokens ?? 0, write: r.cache_write_tokens ?? 0 }) : 0);
    }
  } finally {
    await stores.close();
  }
  const rows = tally.rows();
  const toStdout = values.out === undefined || values.out === '-';
  let out: Writable = process.stdout;
  let finished: Promise<void> = Promise.resolve();
  if (!toStdout) {
    // Account ids and spend per customer: readable by its owner only, as the data files are.
    const fd = openSync(values.out!, 'w', 0o600);
    fchmodSync(fd, 0o600);
    const file = createWriteStream('', { fd });
    finished = new Promise<void>((res, rej) => file.once('finish', () => res()).once('error', rej));
    out = file;
  }
  try {
    const columns = billingColumns({ byKey, byUpstream, byTier, priced });
    if (format === 'csv') {
      await write(out, `${csvLine(columns)}\n`);
      for (const row of rows) await write(out, `${csvLine(columns.map((c) => row[c]))}\n`);
    } else {
      for (const row of rows) await write(out, `${JSON.stringify(row)}\n`);
    }
  } finally {
    if (out !== process.stdout) { out.end(); await finished; }
  }
  if (!toStdout) console.error(`wrote ${rows.length} usage rows to ${values.out}`);
  return 0;
}
