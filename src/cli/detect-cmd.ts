/**
 * `warden detect ...`: the running detector, from the command line, through the admin API
 * (/admin/detect): why an account has its verdict, clusters, campaigns, operator verdicts and the
 * allow-list. With several nodes, point it at the detector worker.
 */
import { parseArgs } from 'node:util';
import { cliExitCode, parseDuration, printableLines, textTable as table } from '../admin/index.ts';
import { CONNECTION_HELP, CONNECTION_OPTIONS, openAdminClient } from './admin-connection.ts';
import { WardenError } from '../errors/index.ts';
import { VERDICT_LEVELS, type AccountLink, type Verdict, type VerdictReason } from '../detect/index.ts';

const HELP = `usage:
  warden detect account ID                    the account's verdict in force, why (signals, values, thresholds), its cluster;
                                              a suspension in the account store, with who, when and why
  warden detect clusters [--level L] [--limit N]
  warden detect cluster ID
  warden detect campaigns
  warden detect campaign ID                   one campaign by its id or its cluster's (an id merged away shows where it went)
  warden detect stats                         accounts in memory and forgotten, clusters, campaigns, events seen
  warden detect snapshot                      write a snapshot of the detector's state now (before an upgrade, a move)
  warden detect verdicts                      operator verdicts in force
  warden detect verdict set (--account ID | --cluster ID) --level LEVEL [--note TEXT] [--for 7d]
  warden detect verdict clear (--account ID | --cluster ID) [--reason TEXT]
  warden detect allow                         the allow-list in force
  warden detect allow --shadow [--account ID | --org ID] [--limit N]
                                              each entry (or one) with what the detector would hold its
                                              accounts at without it: how many at each level, and those
                                              above none with the verdict that would decide
  warden detect allow add (--account ID | --org ID) [--note TEXT] [--for 30d] [--new-accounts]
                                              an org entry covers the accounts the org holds now, not
                                              ones created in or moved into it later (--new-accounts:
                                              those too); --for: it lapses by itself then
  warden detect allow remove (--account ID | --org ID) [--reason TEXT]
  warden detect changes [--limit N]           operator changes to both, newest first: who set or cleared what, and why

options:
${CONNECTION_HELP}
levels: ${VERDICT_LEVELS.join(', ')}`;

export interface DetectCliIo { out: (t: string) => void; err: (t: string) => void; env: NodeJS.ProcessEnv }

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  account: { type: 'string' }, cluster: { type: 'string' }, org: { type: 'string' }, level: { type: 'string' }, note: { type: 'string' }, reason: { type: 'string' }, limit: { type: 'string' },
  for: { type: 'string' }, 'new-accounts': { type: 'boolean' }, shadow: { type: 'boolean' },
} as const;

/** Run `warden detect` (argv after `detect`). Exit code: 0 done, 1 failed (stderr says why), 2 bad usage. */
export async function runDetectCli(argv: string[], ioIn: Partial<DetectCliIo> = {}): Promise<number> {
  const io: DetectCliIo = { out: ioIn.out ?? ((t) => process.stdout.write(t + '\n')), err: ioIn.err ?? ((t) => process.stderr.write(t + '\n')), env: ioIn.env ?? process.env };
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true }>>;
  try { parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }); } catch (err) {
    io.err(`error: ${(err as Error).message}\n${HELP}`);
    return 2;
  }
  const { values: v, positionals: [what, sub, ...extra] } = parsed;
  if (v.help || !what) { io.out(HELP); return what || v.help ? 0 : 2; }
  const usage = (message: string) => { io.err(`error: ${message}\n${HELP}`); return 2; };
  const subject = (a: 'account' | 'cluster' | 'org', b: 'account' | 'cluster' | 'org') => {
    if (!!v[a] === !!v[b]) return null;
    return v[a] ? { kind: a, id: v[a]! } : { kind: b, id: v[b]! };
  };
  try {
    const c = openAdminClient(v, io.env);
    const enc = encodeURIComponent;
    let result: unknown;
    let show: (r: any) => string;
    if (what === 'account' && sub && !extra.length) {
      result = await c.call('GET', `/detect/accounts/${enc(sub)}`);
      // Suspended in the account store, its requests are refused whatever the detector holds it at: said under its view, with who, when and why.
      const status = v.json ? null : await suspensionText(c, sub);
      show = (r) => (status ? `${accountText(r)}
${status}` : accountText(r));
    } else if (what === 'clusters' && !sub) {
      if (v.level !== undefined && !(VERDICT_LEVELS as readonly string[]).includes(v.level)) return usage(`--level is one of ${VERDICT_LEVELS.join(', ')}`);
      if (v.limit !== undefined && !/^\d+$/.test(v.limit)) return usage('--limit is a whole number from 1 to 1000');
      if (v.limit !== undefined && (Number(v.limit) < 1 || Number(v.limit) > 1000)) return usage('--limit is a whole number from 1 to 1000');
      result = await c.call('GET', '/detect/clusters', { query: { level: v.level, limit: v.limit } });
      show = (r) => table(r.data, ['id', 'level', 'score', 'size', 'actors', 'requests', 'campaign_id']) + (r.total > r.data.length ? `\n(${r.total} in all: --limit)` : '');
    } else if (what === 'cluster' && sub && !extra.length) {
      result = await c.call('GET', `/detect/clusters/${enc(sub)}`);
      show = (r) => `${mergedText(r)}${r.id}  ${r.level}  score ${r.score}  ${r.size} accounts (${r.actors} actors)  ${r.requests} requests${r.campaign_id ? `  campaign ${r.campaign_id}` : ''}\n\n${reasons(r.reasons)}\n\nmembers: ${r.members.join(' ')}`;
    } else if (what === 'campaigns' && !sub) {
      result = await c.call('GET', '/detect/campaigns');
      show = (r) => table(r.data.map((x: any) => ({ ...x, accounts: x.members.length, requests: x.volume.requests, targets: Object.entries(x.targets).filter(([, s]) => (s as number) >= 0.1).map(([k]) => k) })),
        ['id', 'level', 'score', 'accounts', 'requests', 'first_seen', 'flagged_at', 'targets']);
    } else if (what === 'campaign' && sub && !extra.length) {
      result = await c.call('GET', `/detect/campaigns/${enc(sub)}`);
      show = (r) => `${mergedText(r)}${r.id}  cluster ${r.cluster_id}  ${r.level}  score ${r.score}  ${r.members.length} accounts  ${r.volume.requests} requests  first seen ${r.first_seen}  flagged ${r.flagged_at}`
        + `${r.merged_from?.length ? `\nmerged from: ${r.merged_from.join(' ')}` : ''}\n\n${reasons(r.evidence)}\n\nmembers: ${r.members.join(' ')}`;
    } else if (what === 'stats' && !sub) {
      result = await c.call('GET', '/detect/stats');
      show = (r) => Object.entries(r).map(([k, x]) => `${k.padEnd(18)} ${x ?? '-'}`).join('\n');
    } else if (what === 'snapshot' && !sub) {
      result = await c.call('POST', '/detect/snapshot');
      show = (r) => `snapshot written: ${r.path} (${r.accounts} accounts, ${r.events > 0 ? `${r.events} events to ${r.event_time}` : 'no events yet'}; ${r.bytes} bytes; the event loop held ${r.serialise_ms} ms)`;
    } else if (what === 'verdicts' && !sub) {
      result = await c.call('GET', '/detect/verdicts');
      // A cluster verdict whose cluster merged into another names it (`merged_into`).
      show = (r) => table(r.data.map((x: Verdict) => ({ kind: x.subject.kind, id: x.subject.id, level: x.level, since: x.since, until: x.expires_at, by: x.reasons[0]?.by, note: x.reasons[0]?.detail + (x.merged_into ? ` (merged into ${x.merged_into})` : '') })), ['kind', 'id', 'level', 'since', 'until', 'by', 'note']);
    } else if (what === 'changes' && !sub) {
      if (v.limit !== undefined && (!/^\d+$/.test(v.limit) || Number(v.limit) < 1 || Number(v.limit) > 1000)) return usage('--limit is a whole number from 1 to 1000');
      result = await c.call('GET', '/detect/changes', { query: { limit: v.limit } });
      show = (r) => table(r.data, ['at', 'action', 'kind', 'subject', 'level', 'by', 'note']);
    } else if (what === 'verdict' && (sub === 'set' || sub === 'clear') && !extra.length) {
      const s = subject('account', 'cluster');
      if (!s) return usage('give exactly one of --account or --cluster');
      if (sub === 'set') {
        if (!v.level || !(VERDICT_LEVELS as readonly string[]).includes(v.level)) return usage(`--level is one of ${VERDICT_LEVELS.join(', ')}`);
        let expires: string | undefined;
        try { expires = v.for ? new Date(Date.now() + parseDuration(v.for) * 1000).toISOString() : undefined; } catch (err) { return usage(`--for: ${(err as Error).message}`); }
        result = await c.call('POST', '/detect/verdicts', { body: { kind: s.kind, id: s.id, level: v.level, ...(v.note ? { note: v.note } : {}), ...(expires ? { expires_at: expires } : {}) } });
        show = (r: Verdict & { not_enforced?: Array<{ account: string; detail: string }>; not_published?: string }) => `${r.subject.kind} ${r.subject.id}: ${r.level} (operator, since ${r.since}${r.expires_at ? `, until ${r.expires_at}` : ''})`
          + (r.not_enforced ?? []).map((n) => `\nwarning: ${n.account}: ${n.detail}`).join('')
          + (r.not_published ? `\nwarning: not enforced by the replicas yet: ${r.not_published}` : '');
      } else {
        await c.call('DELETE', '/detect/verdicts', { query: { kind: s.kind, id: s.id, ...(v.reason ? { reason: v.reason } : {}) } });
        result = { cleared: s };
        show = () => `${s.kind} ${s.id}: operator verdict cleared`;
      }
    } else if (what === 'allow' && !sub && v.shadow) {
      if (v.account && v.org) return usage('give at most one of --account or --org');
      if (v.limit !== undefined && (!/^\d+$/.test(v.limit) || Number(v.limit) < 1 || Number(v.limit) > 1000)) return usage('--limit is a whole number from 1 to 1000');
      result = await c.call('GET', '/detect/allow/shadow', { query: { account: v.account, org: v.org, limit: v.limit } });
      show = (r) => shadowText(r.data);
    } else if (what === 'allow' && (!sub || ((sub === 'add' || sub === 'remove') && !extra.length))) {
      if (v.shadow) return usage('--shadow goes with detect allow alone');
      if (!sub) {
        result = await c.call('GET', '/detect/allow');
        // Then who added each entry made through the admin API, and why (older servers list none).
        show = (r) => [`accounts: ${r.accounts.join(' ') || '-'}`, `orgs: ${r.orgs.join(' ') || '-'}`,
          ...(r.entries ?? []).map((e: { kind: string; id: string; note: string | null; by: string | null; created_at: string; expires_at?: string | null; new_accounts?: boolean; accounts?: string[] | null }) => `${e.kind} ${e.id}: added ${e.created_at}${e.by ? ` by ${e.by}` : ''}${e.expires_at ? `, until ${e.expires_at}` : ''}${e.note ? `: ${e.note}` : ''}`
            + (e.kind !== 'org' || e.new_accounts === undefined ? '' : e.new_accounts ? '\n  covers every account in the org, later ones included' : `\n  covers ${e.accounts?.length ?? 0} account(s) it held then, not later ones: ${e.accounts?.join(' ') || '-'}`))].join('\n');
      } else {
        const s = subject('account', 'org');
        if (!s) return usage('give exactly one of --account or --org');
        // An option this command does not use is refused, not dropped: an expiry the operator meant must not be lost.
        const unused = (sub === 'add' ? ['reason', 'level', 'cluster'] : ['note', 'for', 'new-accounts', 'level', 'cluster']).filter((o) => v[o as keyof typeof v] !== undefined);
        if (unused.length) return usage(`detect allow ${sub} does not take --${unused.join(', --')}`);
        if (v['new-accounts'] && s.kind !== 'org') return usage('--new-accounts applies to --org only');
        if (sub === 'add') {
          let expires: string | undefined;
          try { expires = v.for ? new Date(Date.now() + parseDuration(v.for) * 1000).toISOString() : undefined; } catch (err) { return usage(`--for: ${(err as Error).message}`); }
          result = await c.call('POST', '/detect/allow', { body: { [s.kind]: s.id, ...(v.note ? { note: v.note } : {}), ...(expires ? { expires_at: expires } : {}), ...(v['new-accounts'] ? { new_accounts: true } : {}) } });
          show = (r: { covers?: { accounts: string[] | null; new_accounts: boolean; expires_at: string | null } }) => `${s.kind} ${s.id}: allow-listed (never above none)${r.covers?.expires_at ? ` until ${r.covers.expires_at}` : ''}`
            + (s.kind !== 'org' || !r.covers ? ''
              : r.covers.new_accounts ? '\ncovers every account the organisation holds, and accounts created in or moved into it later'
              : `\ncovers the ${r.covers.accounts!.length} account(s) the organisation holds now: ${r.covers.accounts!.join(' ') || '-'}\naccounts created in or moved into it later are not covered (add them with --account, or add the org again)`);
        } else {
          await c.call('DELETE', '/detect/allow', { query: { [s.kind]: s.id, ...(v.reason ? { reason: v.reason } : {}) } }); result = { removed: s };
          show = () => `${s.kind} ${s.id}: no longer allow-listed`;
        }
      }
    } else if ((what === 'account' || what === 'cluster' || what === 'campaign') && !sub) return usage(`${what}: give the ${what} id`);
    else return usage(`unknown command: detect ${[what, sub, ...extra].filter(Boolean).join(' ')}`);
    io.out(v.json ? JSON.stringify(result, null, 2) : printableLines(show(result)));
    return 0;
  } catch (err) {
    io.err(printableLines(err instanceof WardenError ? `error: ${err.message} (${err.code})` : `error: ${(err as Error).message}`));
    return cliExitCode(err);
  }
}

/**
 * For an account suspended in the account store: its latest change to suspended (who, when, why)
 * and how to lift it, as one line; null when it is not suspended or the store cannot say.
 */
async function suspensionText(c: ReturnType<typeof openAdminClient>, id: string): Promise<string | null> {
  try {
    const account = await c.call<{ status: string }>('GET', `/accounts/${encodeURIComponent(id)}`);
    if (account.status !== 'suspended') return null;
    const changes = await c.call<{ data: Array<{ at: string; field: string | null; new_value: string | null; actor: string | null; reason: string | null }> }>('GET', '/changes', { query: { subject_id: id, limit: 50 } });
    const ch = changes.data.find((x) => x.field === 'status' && x.new_value === 'suspended');
    const why = ch ? ` ${ch.at}${ch.actor ? ` by ${ch.actor}` : ''}${ch.reason ? `: ${ch.reason}` : ''}` : '';
    return `account status: suspended${why}
  every key of the account is refused whatever the detector holds it at; lift it with: warden accounts reactivate ${id} --reason TEXT`;
  } catch {
    // Not in the account store (known only to the detector), or this token cannot read it: the detector's view stands alone.
    return null;
  }
}

/** The line saying an id asked for merged into the one shown. */
function mergedText(r: { merged?: { from: string; into: string } }): string {
  return r.merged ? `${r.merged.from} merged into ${r.merged.into}:\n` : '';
}

interface ShadowView {
  exempt_by: { kind: string; id: string }; level: string; verdict: Verdict | null; precedence: { summary: string };
  cluster: { id: string; level: string; size: number; actors: number; campaign_id: string | null } | null;
}

function accountText(r: { account_id: string; level: string; verdict: Verdict | null; cluster: { id: string; size: number; actors: number; level: string } | null; link?: AccountLink | null; indicators: Array<{ signal: string; value: number; threshold: number; contribution: number }>; precedence?: { summary: string }; shadow?: ShadowView | null }): string {
  const lines = [`${r.account_id}: ${r.level}`];
  // Which verdict decided and which it outranked (servers before this was said send none).
  if (r.precedence) lines.push(r.precedence.summary);
  if (r.verdict) lines.push(`verdict in force: ${r.verdict.subject.kind} ${r.verdict.subject.id}, ${r.verdict.source}, since ${r.verdict.since}${r.verdict.expires_at ? `, until ${r.verdict.expires_at}` : ''}${r.verdict.campaign_id ? `, campaign ${r.verdict.campaign_id}` : ''}`, '', reasons(r.verdict.reasons));
  // An allow-listed account: what the detector would hold it at without the entry.
  if (r.shadow) {
    const s = r.shadow;
    lines.push('', `without the allow-list (${s.exempt_by.kind} ${s.exempt_by.id}'s entry): ${s.precedence.summary}`);
    if (s.verdict) lines.push(`that verdict: ${s.verdict.subject.kind} ${s.verdict.subject.id}, ${s.verdict.source}, since ${s.verdict.since}${s.verdict.campaign_id ? `, campaign ${s.verdict.campaign_id}` : ''}`, '', reasons(s.verdict.reasons));
  }
  if (r.cluster) lines.push('', `cluster ${r.cluster.id}: ${r.cluster.level}, ${r.cluster.size} accounts (${r.cluster.actors} actors)`);
  if (r.link) {
    lines.push('', `linked to ${r.link.with} at ${r.link.at} (${r.link.rule.replace(/_/g, ' ')}): ${r.link.total} against the link threshold ${r.link.threshold}, shared software counted ${r.link.software_counted}`);
    if (r.link.evidence.length) lines.push(table(r.link.evidence, ['kind', 'weight']));
  }
  const lit = r.indicators.filter((i) => i.contribution > 0);
  if (lit.length) lines.push('', 'its own indicators above their thresholds:', table(lit, ['signal', 'value', 'threshold', 'contribution']));
  return lines.join('\n');
}

/** Each allow-list entry with what its accounts would be held at without it. */
function shadowText(entries: Array<{ kind: string; id: string; note: string | null; by: string | null; created_at: string | null; expires_at: string | null; new_accounts: boolean; covered: number; unseen: string[]; levels: Record<string, number>; highest: string; accounts: Array<Record<string, unknown> & { top_signal: { signal: string } | null }> }>): string {
  if (!entries.length) return 'the allow-list is empty';
  return entries.map((e) => {
    const flagged = VERDICT_LEVELS.filter((l) => l !== 'none' && e.levels[l]).reverse();
    const head = `${e.kind} ${e.id}${e.created_at ? `: added ${e.created_at}${e.by ? ` by ${e.by}` : ''}` : ': from the configuration'}${e.expires_at ? `, until ${e.expires_at}` : ', until removed'}${e.note ? `: ${e.note}` : ''}`;
    const held = `${e.covered} account(s) covered that the detector holds${e.unseen.length ? `, ${e.unseen.length} not seen yet` : ''}${e.kind === 'org' && e.new_accounts ? ' (the entry covers later accounts too)' : ''}`;
    const would = flagged.length ? `without the entry: ${flagged.map((l) => `${e.levels[l]} at ${l}`).join(', ')}; highest ${e.highest}` : 'without the entry: none would be held above none';
    const rows = e.accounts.length ? '\n' + table(e.accounts.map((a) => ({ ...a, top_signal: a.top_signal?.signal ?? null })), ['account_id', 'level', 'decided_by', 'score', 'cluster_id', 'campaign_id', 'top_signal', 'last_seen']) : '';
    const more = e.accounts.length < e.covered - (e.levels.none ?? 0) ? `\n(${e.covered - (e.levels.none ?? 0)} above none in all: --limit)` : '';
    return `${head}\n  ${held}\n  ${would}${rows}${more}`;
  }).join('\n\n');
}

function reasons(rs: VerdictReason[]): string {
  return table(rs.map((x) => ({ ...x, weight: x.weight ?? null, detail: x.detail ?? null })), ['signal', 'value', 'threshold', 'weight', 'detail']);
}
