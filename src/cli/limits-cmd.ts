/**
 * `warden limits ...`: which limit refuses a customer, from the command line, through the admin API
 * (/admin/limits): an account's (or a key's) meters as they stand now, the one that would refuse
 * its next request, and the refusals of the last hour and day by the limit that refused them.
 */
import { parseArgs } from 'node:util';
import { cliExitCode, printableLines, textTable as table } from '../admin/index.ts';
import { CONNECTION_HELP, CONNECTION_OPTIONS, openAdminClient } from './admin-connection.ts';
import { WardenError } from '../errors/index.ts';

const HELP = `usage:
  warden limits explain --account ID [--key ID] [--model M] [--ip IP] [--tokens N]
  warden limits explain --key ID|PREFIX [--model M] [--ip IP] [--tokens N]
                                   every limit of the account (tier, organisation, cluster and the
                                   address of its latest request looked up): limit, used, left,
                                   when full again, which would refuse the next request, and the
                                   refusals of the last hour and day by the limit that refused
  warden limits refusals --org ID  an organisation's refusals of the last hour and day by limit

  --key      the key whose key scope is shown (default: the account's key used last)
  --model    the model of the next request (default: its latest request's)
  --ip       the client address (default: its latest request's)
  --tokens   tokens the next request reserves (default: limits.estimate.default_max_tokens)

options:
${CONNECTION_HELP}`;

export interface LimitsCliIo { out: (t: string) => void; err: (t: string) => void; env: NodeJS.ProcessEnv }

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  account: { type: 'string' }, key: { type: 'string' }, org: { type: 'string' }, model: { type: 'string' }, ip: { type: 'string' }, tokens: { type: 'string' },
} as const;

/** Run `warden limits` (argv after `limits`). Exit code: 0 done, 1 failed (stderr says why), 2 bad usage. */
export async function runLimitsCli(argv: string[], ioIn: Partial<LimitsCliIo> = {}): Promise<number> {
  const io: LimitsCliIo = { out: ioIn.out ?? ((t) => process.stdout.write(t + '\n')), err: ioIn.err ?? ((t) => process.stderr.write(t + '\n')), env: ioIn.env ?? process.env };
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true }>>;
  try { parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }); } catch (err) {
    io.err(`error: ${(err as Error).message}\n${HELP}`);
    return 2;
  }
  const { values: v, positionals: [what, ...extra] } = parsed;
  if (v.help || !what) { io.out(HELP); return what || v.help ? 0 : 2; }
  const usage = (message: string) => { io.err(`error: ${message}\n${HELP}`); return 2; };
  if (extra.length) return usage(`unexpected ${extra.join(' ')}`);
  try {
    let result: unknown;
    let show: (r: any) => string;
    if (what === 'explain') {
      if (!v.account && !v.key) return usage('give --account ID or --key ID');
      if (v.org) return usage('limits explain does not take --org (see limits refusals)');
      if (v.tokens !== undefined && !/^\d+$/.test(v.tokens)) return usage('--tokens is a whole number');
      const c = openAdminClient(v, io.env);
      const query = { model: v.model, ip: v.ip, tokens: v.tokens };
      result = v.account
        ? await c.call('GET', `/limits/accounts/${encodeURIComponent(v.account)}`, { query: { ...query, key: v.key } })
        : await c.call('GET', `/limits/keys/${encodeURIComponent(v.key!)}`, { query });
      show = explainText;
    } else if (what === 'refusals') {
      if (!v.org) return usage('give --org ID (an account\'s refusals: limits explain --account ID)');
      const c = openAdminClient(v, io.env);
      result = await c.call('GET', `/limits/orgs/${encodeURIComponent(v.org)}/refusals`);
      show = (r) => refusalsText(`organisation ${v.org}`, r);
    } else return usage(`unknown command: limits ${what}`);
    io.out(v.json ? JSON.stringify(result, null, 2) : printableLines(show(result)));
    return 0;
  } catch (err) {
    io.err(printableLines(err instanceof WardenError ? `error: ${err.message} (${err.code})` : `error: ${(err as Error).message}`));
    return cliExitCode(err);
  }
}

/** The meters' short names, as the explanation's table and the events' `enforcement.limit` give them. */
const ABBREV: Record<string, string> = {
  requests: 'rpm', tokens_per_minute: 'tpm', tokens_per_day: 'tpd', input_tokens_per_minute: 'itpm', output_tokens_per_minute: 'otpm',
  concurrency: 'conc', daily_budget: 'bud_d', monthly_budget: 'bud_m',
};

const num = (x: number, unit: string) => (unit === 'usd' ? `$${x}` : String(x));

/** How long until `iso`, from `from`, in a few characters: 12s, 4m30s, 3h05m. */
function until(iso: string | null, from: string): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.ceil((Date.parse(iso) - Date.parse(from)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function explainText(r: any): string {
  const lines: string[] = [];
  lines.push(`account ${r.account_id} (${r.status})  tier ${r.tier}  programme ${r.programme}  org ${r.org_id ?? '-'}`);
  lines.push(`cluster ${r.cluster_id ?? '-'}  verdict ${r.verdict_level}  key ${r.key ? `${r.key.prefix} (${r.key.id}, ${r.key.chosen.replace('_', ' ')})` : '- (no usable key)'}`);
  const latest = r.from_latest_request ? `  (latest request ${r.from_latest_request.ts})` : '  (no request recorded)';
  lines.push(`address ${r.ip ?? '-'}${r.asn !== null ? ` AS${r.asn}` : ''}  model ${r.model || '-'}${latest}`);
  lines.push('');
  const probe = `the next request (${r.probe.tokens} tokens)`;
  if (r.refusing) {
    const m = r.meters.find((x: any) => x.scope === r.refusing.scope && x.subject === r.refusing.subject && x.kind === r.refusing.kind && x.model === r.refusing.model);
    const wait = r.refusing.retry_after_s === null ? 'it can never pass (a limit of 0, or larger than the limit)' : `retry after ${r.refusing.retry_after_s}s`;
    lines.push(`REFUSED: ${probe} would be refused by ${r.refusing.scope} ${r.refusing.subject} ${m?.meter ?? r.refusing.kind}${r.refusing.model ? ` (model ${r.refusing.model})` : ''}: ${wait}`);
    lines.push(`  ${r.refusing.explanation}`);
  } else {
    lines.push(`admitted: ${probe} would be admitted${r.tightest ? `; least room: ${r.tightest.scope} ${r.tightest.kind} (${Math.round(r.tightest.remaining_share * 100)}% left)` : ''}`);
  }
  lines.push('');
  lines.push(table(r.meters.map((m: any) => ({
    scope: m.scope, subject: m.subject, meter: m.meter + (m.model ? `@${m.model}` : ''),
    limit: num(m.limit, m.unit) + (m.kind === 'requests' ? `/min burst ${m.burst}` : m.multiplier !== 1 ? ` (x${m.multiplier})` : ''),
    used: num(m.used, m.unit), left: num(m.remaining, m.unit), full_in: until(m.resets_at, r.read_at),
    next: m.next_request === 'refused' ? `REFUSED ${m.retry_after_s}s` : m.next_request === 'never' ? 'NEVER' : 'ok',
  })), ['scope', 'subject', 'meter', 'limit', 'used', 'left', 'full_in', 'next']));
  lines.push('', refusalsText('account', r.refusals.account));
  if (r.refusals.org) lines.push('', refusalsText(`organisation ${r.org_id}`, r.refusals.org));
  return lines.join('\n');
}

function refusalsText(whose: string, s: any): string {
  const rows = new Map<string, { scope: string; subject: string; meter: string; last_hour: number; last_day: number }>();
  for (const [w, win] of [['last_hour', s.last_hour], ['last_day', s.last_day]] as const) {
    for (const b of win.by) {
      const id = JSON.stringify([b.scope, b.kind, b.subject, b.model]);
      const row = rows.get(id) ?? { scope: b.scope, subject: b.subject, meter: (ABBREV[b.kind] ?? b.kind) + (b.model ? `@${b.model}` : ''), last_hour: 0, last_day: 0 };
      row[w] = b.count;
      rows.set(id, row);
    }
  }
  const head = `refusals of the ${whose}'s requests: ${s.last_hour.total} in the last hour, ${s.last_day.total} in the last day (since ${s.last_day.since})`;
  return rows.size ? `${head}\n${table([...rows.values()].sort((a, b) => b.last_day - a.last_day), ['scope', 'subject', 'meter', 'last_hour', 'last_day'])}` : head;
}
