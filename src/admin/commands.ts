/**
 * `warden orgs|accounts|keys|changes ...`: the admin commands. They run against the local store
 * named by the configuration, or against a running Warden's admin API when given `--url`
 * (or WARDEN_ADMIN_URL) and a token (`--token` or WARDEN_ADMIN_TOKEN).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { WardenError } from '../errors/index.ts';
import { loadConfig, resolveSecret } from '../config/index.ts';
import { openIdentityStore, VERIFICATION_TIERS, PROGRAMMES, KEY_SCOPES, type VerificationTier } from '../identity/index.ts';
import { HttpAdminClient, LocalAdminClient, type AdminClient } from './client.ts';
import { cliActor } from './actor.ts';

export interface AdminCommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Use this client instead of opening one from flags/config (tests, embedding). */
  client?: AdminClient;
  /**
   * The detector's log of operator decisions (allow-list, operator verdicts), newest first, read
   * from the configured store when the commands run on it (the detector is not this capability's).
   */
  detectorChanges?: (configPath: string | undefined, env: NodeJS.ProcessEnv) => Promise<DetectorDecision[]>;
  /**
   * The detector's view of an account (`GET /admin/detect/accounts/:id`) when the commands run on
   * the local store: asked of the running Warden the configuration names (the detector lives in
   * it); `{ unreachable }` when none answered, null when it has not seen the account.
   */
  detectorAccount?: (configPath: string | undefined, env: NodeJS.ProcessEnv, id: string) => Promise<DetectorAccountView | { unreachable: string } | null>;
}

/** What `warden accounts get` reads of the detector's view of an account (`GET /admin/detect/accounts/:id`). */
export interface DetectorAccountView {
  account_id: string;
  level: string;
  verdict: {
    subject: { kind: string; id: string }; source: string; level: string; since: string; expires_at?: string | null; campaign_id?: string | null;
    reasons: Array<{ signal: string; value: number | string; threshold: number | string | null; weight?: number | null; detail?: string | null; by?: string | null }>;
  } | null;
  precedence?: { summary: string; decided_by: { source: string; subject: { kind: string; id: string }; level: string } | null };
}

/** One entry of the detector's change log (`GET /admin/detect/changes`). */
export interface DetectorDecision {
  at: string;
  action: 'set' | 'clear' | 'merge';
  kind: string;
  subject: string;
  level: string | null;
  note: string | null;
  by: string | null;
}

/** The admin command groups, for the CLI's command table and help. */
export const ADMIN_COMMANDS = [
  { name: 'orgs', summary: 'orgs create|list|get|update|set-tier: manage organisations' },
  { name: 'accounts', summary: 'accounts create|list|get|update|set-tier|suspend|reactivate|history|erase: manage accounts; erase one\'s personal data everywhere (a deletion request)' },
  { name: 'keys', summary: 'keys create|list|get|revoke|rotate: manage API keys' },
  { name: 'changes', summary: 'changes [--subject ID]: who changed what, and why' },
] as const;

export type AdminGroup = (typeof ADMIN_COMMANDS)[number]['name'];

const COMMON = {
  url: { type: 'string' },
  token: { type: 'string' },
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const PAGE = { limit: { type: 'string' }, cursor: { type: 'string' } } as const;

const HELP: Record<AdminGroup, string> = {
  orgs: `usage:
  warden orgs create --name NAME [--tier TIER] [--programme PROGRAMME]
  warden orgs list [--tier TIER] [--programme PROGRAMME] [--limit N] [--cursor C]
  warden orgs get ID
  warden orgs update ID [--name NAME] [--programme PROGRAMME]
  warden orgs set-tier ID --tier TIER --reason TEXT`,
  accounts: `usage:
  warden accounts create [--org ID] [--name NAME] [--email EMAIL] [--tier TIER] [--programme P]
                         [--signup-ip IP] [--country CC] [--subdivision CC-SUB] [--payment-instrument VALUE] [--user-agent UA]
  warden accounts list [--org ID] [--status active|suspended] [--tier T] [--programme P]
                       [--email E] [--email-domain D] [--signup-ip IP] [--payment-fp FP] [--email-pattern P] [--limit N] [--cursor C]
  warden accounts get ID
  warden accounts update ID [--org ID] [--name NAME] [--programme P] [--subdivision CC-SUB | --no-subdivision]
  warden accounts set-tier ID --tier TIER --reason TEXT
  warden accounts suspend ID --reason TEXT
  warden accounts reactivate ID --reason TEXT
  warden accounts history ID
  warden accounts erase ID [--override-hold --reason TEXT]
      A deletion request, through the running Warden's admin API (--url, default
      http://127.0.0.1:<server.port>): revokes the account's keys, then erases its signup facts (the
      record keeps id, org, tier, programme, status, times), its events' and dashboard rows' personal
      data, the ledger's openings, the detector's link evidence, its facts in case files, its batches
      and files; the ledger records the erasure (who, when, why, counts). An account in an open or
      confirmed case, or under a suspend verdict (its own or its cluster's), is refused (exit 1)
      unless --override-hold with --reason. A second run changes nothing. Prints what was erased where.`,
  keys: `usage:
  warden keys create --account ID [--name NAME] [--scope inference|models:read|intel:read|intel:write|ledger:read|usage:read|usage:read:org]... [--expires-in 90d | --expires-at ISO]
  warden keys list [--account ID] [--all] [--limit N] [--cursor C]
  warden keys get ID
  warden keys revoke ID [--reason TEXT]
  warden keys rotate ID [--grace 1h]`,
  changes: `usage:
  warden changes [--subject ID] [--limit N] [--cursor C]`,
};

const COMMON_HELP = `
common options:
  --url URL       talk to a running Warden's admin API (or WARDEN_ADMIN_URL); default: the local store
  --token TOKEN   admin token for --url (or WARDEN_ADMIN_TOKEN; config admin.token)
  -c, --config F  configuration file (default warden.yaml / WARDEN_CONFIG)
  --json          print JSON
tiers: ${VERIFICATION_TIERS.join(', ')}; programmes: ${PROGRAMMES.join(', ')}; scopes: ${KEY_SCOPES.join(', ')}`;

/**
 * The exit code of a failed operator command: 2 when the input was wrong (a bad option value,
 * refused locally or by the server as an invalid request), 1 when it was refused or failed.
 */
export function cliExitCode(err: unknown): 1 | 2 {
  if (!(err instanceof WardenError)) return 1;
  // A field of the request naming something that does not exist (a campaign, an organisation) is
  // bad input, as a malformed one is; a path that names nothing (an unknown case) is a failure.
  return err.code === 'WARDEN_INVALID_REQUEST' || err.code === 'WARDEN_INVALID_JSON' || (err.code === 'WARDEN_NOT_FOUND' && err.param !== null) ? 2 : 1;
}

/**
 * `90d`, `12h`, `30m`, `45s` or `2w`, to seconds. The unit is required: a bare `90` meant as days
 * would make a key that dies in 90 seconds. `flag` names the option in the error.
 */
export function parseDuration(text: string, flag?: string): number {
  const at = flag ? `${flag}: ` : '';
  if (/^\s*\d+\s*$/.test(text)) { const n = text.trim(); throw new WardenError('WARDEN_INVALID_REQUEST', `${at}${n} has no unit: write ${n}s, ${n}m, ${n}h or ${n}d`); }
  const m = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (!m) throw new WardenError('WARDEN_INVALID_REQUEST', `${at}not a duration: ${text} (e.g. 90d, 12h, 30m, 45s)`);
  const mult = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  return Number(m[1]) * mult;
}

function need(value: string | undefined, flag: string): string {
  if (!value) throw new WardenError('WARDEN_INVALID_REQUEST', `${flag} is required`);
  return value;
}

function int(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new WardenError('WARDEN_INVALID_REQUEST', `${flag} must be an integer`);
  return n;
}

/** The detector's decisions: from the server's admin API, or the configured store; none where there is no detector. */
async function detectorDecisions(c: AdminClient, configPath: string | undefined, io: AdminCommandIo): Promise<DetectorDecision[]> {
  if (c instanceof HttpAdminClient) {
    try {
      return (await c.call<{ data: DetectorDecision[] }>('GET', '/detect/changes', { query: { limit: 1000 } })).data;
    } catch (err) {
      // A server without the detector's routes has no decisions to show.
      if (err instanceof WardenError && err.code === 'WARDEN_NOT_FOUND') return [];
      throw err;
    }
  }
  return io.detectorChanges ? (await io.detectorChanges(configPath, io.env)).slice(0, 1000) : [];
}

/** A detector decision as a row of the change history (subject type `detector`). */
function decisionRow(d: DetectorDecision) {
  const what = d.kind.startsWith('allow') ? 'allow-list' : 'operator verdict';
  return {
    id: '', at: d.at, subject_type: 'detector', subject_id: d.subject,
    action: `${what} ${d.action === 'clear' ? 'cleared' : d.action === 'set' ? 'set' : 'merged'}`, field: null,
    old_value: d.action === 'clear' ? d.level : null, new_value: d.action === 'set' ? d.level : null, actor: d.by, reason: d.note,
  };
}

/** The detector's view of an account: from the server's admin API, or the running Warden the local store belongs to. */
async function detectorView(c: AdminClient, configPath: string | undefined, io: AdminCommandIo, id: string): Promise<DetectorAccountView | { unreachable: string } | null> {
  if (c instanceof HttpAdminClient) {
    // Not seen by the detector (404), no detector on this server (404), or a token that cannot read it: the record stands alone.
    return c.call<DetectorAccountView>('GET', `/detect/accounts/${encodeURIComponent(id)}`).catch(() => null);
  }
  return io.detectorAccount ? io.detectorAccount(configPath, io.env, id).catch(() => null) : null;
}

/** The detector's reasons in a line: an operator's note and who set it, else the signals with their values and thresholds. */
function reasonsSummary(reasons: NonNullable<DetectorAccountView['verdict']>['reasons']): string {
  if (!reasons.length) return 'none given';
  const said = reasons.slice(0, 4).map((r) => (r.signal === 'operator_verdict'
    ? `set by ${r.by ?? 'an operator'}${r.detail ? `: ${r.detail}` : ''}`
    : `${r.signal} ${r.value}${r.threshold === null || r.threshold === undefined ? '' : ` (threshold ${r.threshold})`}`));
  return printable(said.join('; ') + (reasons.length > 4 ? `; ${reasons.length - 4} more (warden detect account)` : ''));
}

/**
 * For an account the detector holds at suspend: which verdict decided it, its reasons, and the
 * commands that lift it; null when it is not held at suspend. A local store whose Warden did not
 * answer says the detector was not asked.
 */
export function heldText(view: DetectorAccountView | { unreachable: string } | null, id: string): string | null {
  if (!view) return null;
  if ('unreachable' in view) return `detector: not asked whether a verdict holds the account: ${printable(view.unreachable)}`;
  if (view.level !== 'suspend') return null;
  const v = view.verdict;
  const decided = view.precedence?.decided_by ?? null;
  const lines = [
    `detector: held at suspend; every key of the account is refused whatever its status reads`,
    `  ${printable(view.precedence?.summary ?? 'suspend')}`,
  ];
  if (v) {
    lines.push(`  verdict: ${v.subject.kind} ${v.subject.id}, ${v.source}, since ${v.since}${v.expires_at ? `, until ${v.expires_at}` : ''}${v.campaign_id ? `, campaign ${v.campaign_id}` : ''}`);
    lines.push(`  reasons: ${reasonsSummary(v.reasons)}`);
  }
  if (decided?.source === 'operator_account') lines.push(`  lift it: warden detect verdict clear --account ${id} --reason TEXT`);
  else if (decided?.source === 'operator_cluster') {
    lines.push(`  lift it: warden detect verdict clear --cluster ${decided.subject.id} --reason TEXT (every account of the cluster)`);
    lines.push(`      or, this account alone: warden detect verdict set --account ${id} --level none --note TEXT`);
  } else lines.push(`  lift it: warden detect verdict set --account ${id} --level none --note TEXT (or warden detect allow add --account ${id} --note TEXT)`);
  lines.push(`  why in full: warden detect account ${id}`);
  return lines.join('\n');
}

function drop<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Open the client the flags ask for: remote with --url, else the configured local store. */
async function openClient(values: { url?: string; token?: string; config?: string }, io: AdminCommandIo, remote = false): Promise<AdminClient> {
  if (io.client) return io.client;
  const actor = cliActor();
  let url = values.url ?? io.env.WARDEN_ADMIN_URL;
  if (url || remote) {
    let token = values.token ?? io.env.WARDEN_ADMIN_TOKEN ?? null;
    if (!token || !url) {
      const config = loadConfig(values.config, io.env);
      url ??= `http://127.0.0.1:${config.server.port}`;
      try { token ??= resolveSecret(config.admin.token, io.env); } catch { token = null; }
      // The token `warden serve` generated beside its SQLite database, as `warden detect` reads it.
      const file = join(dirname(resolve(config.store.sqlite_path)), 'admin-token');
      if (!token && config.store.driver === 'sqlite' && existsSync(file)) token = readFileSync(file, 'utf8').trim();
    }
    if (!token) throw new WardenError('WARDEN_ADMIN_UNAUTHORIZED', 'an admin token is needed with --url: pass --token or set WARDEN_ADMIN_TOKEN');
    // An erasure walks every store of a large account: minutes, not the default 30 s.
    return new HttpAdminClient(url, token, { actor, ...(remote ? { timeoutMs: 30 * 60_000 } : {}) });
  }
  const config = loadConfig(values.config, io.env);
  const store = openIdentityStore(config, { env: io.env });
  const client = new LocalAdminClient(store, actor);
  return Object.assign(client, { close: () => store.close() });
}

/**
 * Run one admin command group with its arguments (`argv` excludes the group name), e.g.
 * `runAdminCommand('keys', ['create', '--account', 'acct_...'])`. Returns the exit code:
 * 0 success, 1 failure (message on stderr), 2 usage error.
 */
export async function runAdminCommand(group: AdminGroup, argv: string[], ioIn: Partial<AdminCommandIo> = {}): Promise<number> {
  const io: AdminCommandIo = {
    out: ioIn.out ?? ((t) => process.stdout.write(t + '\n')),
    err: ioIn.err ?? ((t) => process.stderr.write(t + '\n')),
    env: ioIn.env ?? process.env,
    client: ioIn.client,
    detectorChanges: ioIn.detectorChanges,
    detectorAccount: ioIn.detectorAccount,
  };
  const [action, ...rest] = argv;
  // Help anywhere (`warden keys rotate --help`) prints the usage and does nothing else.
  const options = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
  if (action === 'help' || options.some((a) => a === '--help' || a === '-h') || (!action && group !== 'changes')) {
    io.out(HELP[group] + COMMON_HELP);
    return action ? 0 : 2;
  }
  let client: AdminClient | null = null;
  try {
    const run = await plan(group, action ?? '', group === 'changes' ? argv : rest);
    if (run === 'help') { io.out(HELP[group] + COMMON_HELP); return 0; }
    client = await openClient(run.values, io, run.remote === true);
    const result = await run.exec(client, io);
    print(result, run.values.json === true, io, run.kind);
    // What the record alone does not say (text only: --json prints the record as it is).
    const note = run.note && run.values.json !== true ? await run.note(client, io) : null;
    if (note) io.out(note);
    return 0;
  } catch (err) {
    if (err instanceof WardenError) {
      io.err(`error: ${err.message} (${err.code})`);
      return cliExitCode(err);
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`error: ${(err as Error).message}\n${HELP[group]}`);
      return 2;
    }
    io.err(`error: ${(err as Error).message}`);
    return 1;
  } finally {
    if (client && client !== io.client) await client.close?.();
  }
}

type Kind = 'org' | 'account' | 'key' | 'created-key' | 'page' | 'changes' | 'erase';
interface Plan {
  values: { url?: string; token?: string; config?: string; json?: boolean };
  kind: Kind;
  /** Only a running Warden can do it (it reaches the detector and the ledger's writer): the admin API even without --url. */
  remote?: boolean;
  exec(c: AdminClient, io: AdminCommandIo): Promise<unknown>;
  /** Said under the printed result (not with --json): what the record alone does not say. */
  note?(c: AdminClient, io: AdminCommandIo): Promise<string | null>;
}

async function plan(group: AdminGroup, action: string, args: string[]): Promise<Plan | 'help'> {
  const parse = <O extends NonNullable<ParseArgsConfig['options']>>(options: O, positionals = 0) => {
    const r = parseArgs({ args, options: { ...COMMON, ...options }, allowPositionals: positionals > 0, strict: true });
    if (r.positionals.length !== positionals) throw new WardenError('WARDEN_INVALID_REQUEST', positionals ? `expected an id after "${action}"` : `unexpected argument ${r.positionals[0]}`);
    return r;
  };
  const tier = (v: string | undefined) => v as VerificationTier;

  switch (`${group} ${group === 'changes' ? '' : action}`) {
    case 'orgs create': {
      const { values: v } = parse({ name: { type: 'string' }, tier: { type: 'string' }, programme: { type: 'string' } });
      if (v.help) return 'help';
      return { values: v, kind: 'org', exec: (c) => c.createOrg(drop({ name: need(v.name, '--name'), tier: tier(v.tier), programme: v.programme as never })) };
    }
    case 'orgs list': {
      const { values: v } = parse({ tier: { type: 'string' }, programme: { type: 'string' }, ...PAGE });
      return { values: v, kind: 'page', exec: (c) => c.listOrgs(drop({ tier: tier(v.tier), programme: v.programme as never, limit: int(v.limit, '--limit'), cursor: v.cursor })) };
    }
    case 'orgs get': {
      const { values: v, positionals: [id] } = parse({}, 1);
      return { values: v, kind: 'org', exec: (c) => c.getOrg(id) };
    }
    case 'orgs update': {
      const { values: v, positionals: [id] } = parse({ name: { type: 'string' }, programme: { type: 'string' } }, 1);
      return { values: v, kind: 'org', exec: (c) => c.updateOrg(id, drop({ name: v.name, programme: v.programme as never })) };
    }
    case 'orgs set-tier': {
      const { values: v, positionals: [id] } = parse({ tier: { type: 'string' }, reason: { type: 'string' } }, 1);
      return { values: v, kind: 'org', exec: (c) => c.setOrgTier(id, tier(need(v.tier, '--tier')), need(v.reason, '--reason')) };
    }
    case 'accounts create': {
      const { values: v } = parse({
        org: { type: 'string' }, name: { type: 'string' }, email: { type: 'string' }, tier: { type: 'string' }, programme: { type: 'string' },
        'signup-ip': { type: 'string' }, country: { type: 'string' }, subdivision: { type: 'string' }, 'payment-instrument': { type: 'string' }, 'user-agent': { type: 'string' },
      });
      return {
        values: v, kind: 'account', exec: (c) => c.createAccount(drop({
          org_id: v.org, name: v.name, email: v.email, tier: tier(v.tier), programme: v.programme as never, signup_ip: v['signup-ip'],
          claimed_country: v.country, claimed_subdivision: v.subdivision, payment_instrument: v['payment-instrument'], user_agent: v['user-agent'],
        })),
      };
    }
    case 'accounts list': {
      const { values: v } = parse({
        org: { type: 'string' }, status: { type: 'string' }, tier: { type: 'string' }, programme: { type: 'string' },
        email: { type: 'string' }, 'email-domain': { type: 'string' }, 'signup-ip': { type: 'string' }, 'payment-fp': { type: 'string' }, 'email-pattern': { type: 'string' }, ...PAGE,
      });
      return {
        values: v, kind: 'page', exec: (c) => c.listAccounts(drop({
          org_id: v.org, status: v.status as never, tier: tier(v.tier), programme: v.programme as never, email: v.email, email_domain: v['email-domain'],
          signup_ip: v['signup-ip'], payment_fp: v['payment-fp'], email_pattern: v['email-pattern'], limit: int(v.limit, '--limit'), cursor: v.cursor,
        })),
      };
    }
    case 'accounts get': {
      const { values: v, positionals: [id] } = parse({}, 1);
      // An account the detector holds at suspend is refused whatever its status reads: said under its record, with the command that lifts it.
      return { values: v, kind: 'account', exec: (c) => c.getAccount(id), note: async (c, io) => heldText(await detectorView(c, v.config, io, id), id) };
    }
    case 'accounts update': {
      const { values: v, positionals: [id] } = parse({ org: { type: 'string' }, name: { type: 'string' }, programme: { type: 'string' }, subdivision: { type: 'string' }, 'no-subdivision': { type: 'boolean' } }, 1);
      if (v.subdivision !== undefined && v['no-subdivision']) throw new WardenError('WARDEN_INVALID_REQUEST', 'give --subdivision or --no-subdivision, not both');
      const subdivision = v['no-subdivision'] ? null : v.subdivision;
      return { values: v, kind: 'account', exec: (c) => c.updateAccount(id, drop({ org_id: v.org, name: v.name, programme: v.programme as never, claimed_subdivision: subdivision })) };
    }
    case 'accounts set-tier': {
      const { values: v, positionals: [id] } = parse({ tier: { type: 'string' }, reason: { type: 'string' } }, 1);
      return { values: v, kind: 'account', exec: (c) => c.setAccountTier(id, tier(need(v.tier, '--tier')), need(v.reason, '--reason')) };
    }
    case 'accounts suspend':
    case 'accounts reactivate': {
      const { values: v, positionals: [id] } = parse({ reason: { type: 'string' } }, 1);
      const reason = need(v.reason, '--reason');
      return { values: v, kind: 'account', exec: (c) => (action === 'suspend' ? c.suspendAccount(id, reason) : c.reactivateAccount(id, reason)) };
    }
    case 'accounts history': {
      const { values: v, positionals: [id] } = parse({ ...PAGE }, 1);
      // An unknown account is an error, as with `accounts get`, not an empty history.
      return {
        values: v, kind: 'changes', exec: async (c, io) => {
          await c.getAccount(id);
          const page = await c.listChanges(drop({ subject_id: id, limit: int(v.limit, '--limit'), cursor: v.cursor }));
          // With the operator's detector decisions on it (allow-list, operator verdicts), as the
          // dashboard's change history lists them; once, on the first page.
          if (v.cursor) return page;
          const decisions = (await detectorDecisions(c, v.config, io)).filter((d) => d.subject === id).map(decisionRow);
          const data = [...page.data, ...decisions].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
          return { ...page, data };
        },
      };
    }
    case 'accounts erase': {
      const { values: v, positionals: [id] } = parse({ 'override-hold': { type: 'boolean' }, reason: { type: 'string' } }, 1);
      if (v['override-hold'] && !v.reason) throw new WardenError('WARDEN_INVALID_REQUEST', '--override-hold needs --reason TEXT (recorded in the ledger)');
      return {
        values: v, kind: 'erase', remote: true, exec: async (c) => {
          if (!(c instanceof HttpAdminClient)) throw new WardenError('WARDEN_INVALID_REQUEST', 'accounts erase runs on a running Warden: pass --url');
          return c.call('POST', `/accounts/${encodeURIComponent(id)}/erase`, { body: drop({ override_hold: v['override-hold'] ?? false, reason: v.reason }) });
        },
      };
    }
    case 'keys create': {
      const { values: v } = parse({ account: { type: 'string' }, name: { type: 'string' }, scope: { type: 'string', multiple: true }, 'expires-in': { type: 'string' }, 'expires-at': { type: 'string' } });
      return {
        values: v, kind: 'created-key', exec: (c) => c.createKey(need(v.account, '--account'), drop({
          name: v.name, scopes: v.scope as never, expires_at: v['expires-at'],
          expires_in_s: v['expires-in'] ? parseDuration(v['expires-in'], '--expires-in') : undefined,
        })),
      };
    }
    case 'keys list': {
      const { values: v } = parse({ account: { type: 'string' }, all: { type: 'boolean' }, ...PAGE });
      return { values: v, kind: 'page', exec: (c) => c.listKeys(drop({ account_id: v.account, include_revoked: v.all ?? undefined, limit: int(v.limit, '--limit'), cursor: v.cursor })) };
    }
    case 'keys get': {
      const { values: v, positionals: [id] } = parse({}, 1);
      return { values: v, kind: 'key', exec: (c) => c.getKey(id) };
    }
    case 'keys revoke': {
      const { values: v, positionals: [id] } = parse({ reason: { type: 'string' } }, 1);
      return { values: v, kind: 'key', exec: (c) => c.revokeKey(id, v.reason ?? null) };
    }
    case 'keys rotate': {
      const { values: v, positionals: [id] } = parse({ grace: { type: 'string' } }, 1);
      return { values: v, kind: 'created-key', exec: (c) => c.rotateKey(id, drop({ grace_seconds: v.grace ? parseDuration(v.grace, '--grace') : undefined })) };
    }
    case 'changes ': {
      const { values: v } = parse({ subject: { type: 'string' }, ...PAGE });
      return { values: v, kind: 'changes', exec: (c) => c.listChanges(drop({ subject_id: v.subject, limit: int(v.limit, '--limit'), cursor: v.cursor })) };
    }
    default:
      throw new WardenError('WARDEN_INVALID_REQUEST', `unknown command "${group} ${action}"; see warden ${group} --help`);
  }
}

function print(result: unknown, json: boolean, io: AdminCommandIo, kind: Kind): void {
  if (json) { io.out(JSON.stringify(result, null, 2)); return; }
  if (kind === 'created-key') {
    const r = result as { key: Record<string, unknown>; secret: string; previous?: Record<string, unknown> };
    io.out(`secret: ${r.secret}`);
    io.err('Store this secret now: Warden keeps only its hash and cannot show it again.');
    io.out(fields(r.key));
    if (r.previous) io.out(`previous key ${String(r.previous.id)}: ${String(r.previous.status)} (revoked at ${String(r.previous.revoked_at)})`);
    return;
  }
  if (kind === 'erase') { io.out(eraseSummary(result as EraseSummary)); return; }
  if (kind === 'page' || kind === 'changes') {
    const p = result as { data: Record<string, unknown>[]; next_cursor: string | null };
    const cols = kind === 'changes'
      ? ['at', 'subject_id', 'action', 'field', 'old_value', 'new_value', 'actor', 'reason']
      : pickColumns(p.data[0]);
    io.out(table(p.data, cols));
    if (p.next_cursor) io.out(`(more: --cursor ${p.next_cursor})`);
    return;
  }
  io.out(fields(result as Record<string, unknown>));
}

interface EraseSummary {
  account_id: string; changed: boolean; held_by: string[]; override_hold: boolean; keys_revoked: number; account_fields: number; identity_changes: number;
  events: number; usage_rows: number; ledger_entries: number; files: number; batches: number; ledger_record: string | null;
  detector: { link_keys: number; pair_evidence: number; forgotten: boolean; snapshot_written: boolean } | null;
  cases: { cases: number; members: number; values: number; shared_values_kept: number; published_indicators: number; withdrawn_indicators?: number; withdrawn_kept?: number; sighting_accounts?: number } | null;
  stream?: { entries: number; events: number } | null;
}

/** What an erasure did, one place a line. */
function eraseSummary(r: EraseSummary): string {
  const lines = [r.changed ? `erased the personal data of account ${r.account_id}` : `account ${r.account_id}: nothing left to erase (erased before)`];
  if (r.override_hold) lines.push(`legal hold overridden: ${r.held_by.join(', ')}`);
  const d = r.detector;
  const c = r.cases;
  const rows: [string, string][] = [
    ['keys revoked', String(r.keys_revoked)],
    ['account record', `${r.account_fields} fields blanked, ${r.identity_changes} change-history values`],
    ['events', String(r.events)],
    ['dashboard usage rows', String(r.usage_rows)],
    ['ledger entries', `${r.ledger_entries}${r.ledger_record ? ` (erasure recorded as ${r.ledger_record})` : ''}`],
    ['detector', d ? `${d.forgotten ? 'account forgotten, ' : ''}${d.link_keys} link keys, ${d.pair_evidence} pair evidence${d.snapshot_written ? '; snapshot rewritten' : ''}` : 'none on this node'],
    ['case files', c ? `${c.cases} cases, ${c.members} member rows, ${c.values} values removed${c.shared_values_kept ? `, ${c.shared_values_kept} values shared with other members kept` : ''}` : 'cases off'],
    ['published indicators', c ? `${c.withdrawn_indicators ?? 0} revoked for partners${c.withdrawn_kept ? `, ${c.withdrawn_kept} kept (another case publishes them)` : ''}` : 'cases off'],
    ['partner sightings', c ? `${c.sighting_accounts ?? 0} with the account's id replaced (counts kept)` : 'cases off'],
    ...(r.stream ? [['event stream', `${r.stream.events} events in ${r.stream.entries} Redis entries rewritten`] as [string, string]] : []),
    ['batches', String(r.batches)],
    ['files', String(r.files)],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return [...lines, ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`)].join('\n');
}

function pickColumns(row: Record<string, unknown> | undefined): string[] {
  if (!row) return ['id'];
  if ('prefix' in row) return ['id', 'prefix', 'account_id', 'name', 'scopes', 'status', 'expires_at', 'last_used_at'];
  if ('status' in row) return ['id', 'org_id', 'email', 'tier', 'programme', 'status', 'claimed_country', 'claimed_subdivision', 'created_at'];
  return ['id', 'name', 'tier', 'programme', 'created_at'];
}

/**
 * Characters a terminal does not print as text: C0 and C1 controls and DEL (ESC and CSI start
 * sequences that clear the screen, retitle the window or recolour what follows; a line break
 * forges a row) and the bidirectional controls (text read otherwise than it is stored).
 */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Text from the data as the commands print it: names, emails and user agents come from customers
 * (and notes, campaign names from partners), so each character above is shown as an escape
 * (`\x1b`, `\n`, `\u202e`) and the operator's terminal only ever prints it. `--json` escapes them already.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escapeOf);
}

/** The same for a whole text a command prints (a report, a verdict's explanation): its own line breaks and tabs kept. */
export function printableLines(text: string): string {
  return text.replace(UNPRINTABLE, (ch) => (ch === '\n' || ch === '\t' ? ch : escapeOf(ch)));
}

/**
 * A JSON text (JSON.stringify's) as a command prints it: JSON escapes the C0 controls itself but
 * leaves DEL, the C1 controls (U+009B is a one-byte CSI), the bidirectional controls and U+2028/9
 * raw; each is written as a `\u` escape here, which parses to the same character, so the value
 * read back is the one recorded and the terminal only ever prints it. Line breaks and tabs are
 * kept: outside a string they are the layout (JSON.stringify escapes them inside one).
 */
export function printableJson(json: string): string {
  return json.replace(UNPRINTABLE, (ch) => (ch === '\n' || ch === '\t' || ch === '\r' ? ch : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

function escapeOf(ch: string): string {
  const code = ch.charCodeAt(0);
  return NAMED_ESCAPES[ch] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  return printable(Array.isArray(v) ? v.join(',') : String(v));
}

function fields(o: Record<string, unknown>): string {
  const w = Math.max(...Object.keys(o).map((k) => k.length));
  return Object.entries(o).map(([k, v]) => `${k.padEnd(w)}  ${cell(v)}`).join('\n');
}

/** Rows as an aligned text table with the given columns (headers upper-cased; '-' for none). */
export function table(rows: Record<string, unknown>[], cols: string[]): string {
  if (rows.length === 0) return '(none)';
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(cols.map((c) => c.toUpperCase())), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}
