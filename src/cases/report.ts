/**
 * A case as a report a person reads (Markdown): what the campaign did, why it was flagged (each
 * signal with its value and threshold), who its accounts are, what they shared, what the ledger
 * proves and how to check it, and the operators' notes.
 */
import type { VerdictReason } from '../detect/index.ts';
import type { CaseDecision, CaseFile } from './types.ts';
import type { CaseExchange } from './publish.ts';

/**
 * Text a customer or a partner chose (model names, user agents, system prompts, tool names, email
 * domains, addresses) as inline code: a Markdown viewer shows it as typed, never as HTML (an
 * `<img>` that calls home when the report is opened), a link or a heading. The fence is one
 * backtick longer than the longest run inside; a space pads a value that starts or ends with a
 * backtick or a space (CommonMark strips one from each side).
 */
export function mdCode(v: unknown): Code {
  const s = String(v ?? '').replace(/\s+/g, ' ');
  if (s === '') return new Code('-');
  const longest = Math.max(0, ...(s.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  const pad = /^[` ]|[` ]$/.test(s) ? ' ' : '';
  return new Code(`${fence}${pad}${s}${pad}${fence}`);
}
/** Markdown already made safe (mdCode's): a table cell keeps it, escaping only the pipes that would end the cell. */
class Code { constructor(readonly md: string) {} toString() { return this.md; } }
/**
 * Any other text: HTML's `<`, `>` and `&` as entities and Markdown's link brackets escaped, so that
 * even a value thought to be Warden's own (a reason's detail quoting a partner's campaign name)
 * cannot become markup.
 */
const plain = (v: unknown) => String(v ?? '-').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/([[\]])/g, '\\$1');
const cell = (v: unknown) => (v instanceof Code ? v.md : plain(v)).replace(/\|/g, '\\|').replace(/\s+/g, ' ');
const table = (head: string[], rows: unknown[][]) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
const num = (n: number) => n.toLocaleString('en-GB');
const excerpt = (s: string, n = 120) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** An operator decision on a member, as notes and the report say it. */
export const decisionText = (d: CaseDecision) => `${d.decision === 'allow_list' ? `allow-listed${d.entry?.kind === 'org' ? ` with org ${d.entry.id}` : ''}` : `operator verdict ${d.level}`}${d.by ? ` by ${d.by}` : ''}${d.at ? ` at ${d.at}` : ''}${d.note ? `: ${d.note}` : ''}`;

export function caseReportMarkdown(c: CaseFile, exchange?: CaseExchange): string {
  const k = c.campaign;
  const out: string[] = [];
  out.push(`# ${plain(c.title)}`, '');
  out.push(table(['case', 'status', 'campaign', 'cluster', 'level', 'score', 'opened', 'updated'], [[c.id, c.status, c.campaign_id, c.cluster_id, k.level, k.score, c.opened_at, c.updated_at]]), '');

  out.push('## What it did', '');
  // The detector's count and the events read for the case are two figures: each is named, and
  // the day table sums to the events read (the detector's hourly timeline starts when accounts
  // were linked, so it does not sum to its own total).
  const u = c.usage;
  out.push(`The detector counted ${num(k.volume.requests)} requests and ${num(k.volume.output_tokens)} output tokens from its ${num(k.members.length)} accounts between ${k.first_seen} and ${k.last_seen}; flagged at ${k.flagged_at}.`, '');
  const targets = Object.entries(k.targets).sort((a, b) => b[1] - a[1]);
  if (targets.length) out.push(table(['capability targeted', 'share of requests'], targets.map(([t, s]) => [t, `${Math.round(s * 100)}%`])), '');
  const bounded = c.events_truncated ? ' (bounded: the campaign sent more)' : '';
  if (u.served !== undefined) {
    out.push(`The events read for this case${bounded}: ${num(u.requests)} requests, of which ${num(u.served)} were answered, ${num(u.refused ?? 0)} refused (403 denied, 429 limited)${u.errors ? ` and ${num(u.errors)} failed` : ''}; ${num(u.input_tokens)} input and ${num(u.output_tokens)} output tokens (${num(u.reasoning_tokens)} of them reasoning).`, '');
    const days = Object.entries(u.days ?? {}).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    if (days.length) out.push(table(['day', 'requests', 'answered', 'refused'], [...days.map(([d, x]) => [d, num(x.requests), num(x.served), num(x.refused)]), ['total', num(u.requests), num(u.served), num(u.refused ?? 0)]]), '');
  } else {
    // A case file built before answered and refused were counted.
    const days = new Map<string, number>();
    for (const [hour, n] of k.timeline) days.set(hour.slice(0, 10), (days.get(hour.slice(0, 10)) ?? 0) + n);
    if (days.size) out.push(table(['day', 'requests after linking'], [...days].map(([d, n]) => [d, num(n)])), '');
    out.push(`Events read for this case: ${num(c.events_read)}${bounded}; ${num(u.input_tokens)} input and ${num(u.output_tokens)} output tokens (${num(u.reasoning_tokens)} of them reasoning).`);
  }
  out.push(`Models: ${Object.entries(u.models).map(([m, n]) => `${mdCode(m)} (${num(n)})`).join(', ') || '-'}. Countries: ${Object.entries(u.countries).sort((a, b) => b[1] - a[1]).map(([m, n]) => `${mdCode(m)} (${num(n)})`).join(', ') || '-'}.`, '');

  out.push('## Why it was flagged', '');
  out.push(reasonsTable(k.evidence), '');

  out.push(`## Accounts (${c.members.length})`, '');
  const shown = c.members.slice(0, 100);
  // The claimed subdivision last: the columns before it read as they did before it was recorded.
  out.push(table(['account', 'org', 'level', 'tier', 'programme', 'signed up', 'email domain', 'country', 'signup IP', 'requests read', 'subdivision'],
    shown.map((m) => [m.account_id, m.org_id, m.level, m.tier, m.programme, m.created_at, m.email_domain ? mdCode(m.email_domain) : null, m.claimed_country, m.signup_ip ? mdCode(m.signup_ip) : null, m.requests, m.claimed_subdivision ?? null])));
  if (c.members.length > shown.length) out.push('', `(${c.members.length - shown.length} more in the case file)`);
  out.push('');

  const decisions = c.decisions ?? [];
  const onCluster = c.cluster_decisions ?? [];
  if (decisions.length || onCluster.length) {
    out.push('## Operator decisions on its accounts', '');
    // The verdict on the cluster holds every account of it: the main decision, said first.
    if (onCluster.length) {
      out.push('On its cluster (every account of it):', '');
      out.push(table(['cluster', 'decision', 'by', 'when', 'until', 'note'], onCluster.map((d) => [
        d.merged_into ? `${d.cluster_id} (merged into ${d.merged_into})` : d.cluster_id, `operator verdict ${d.level}`, d.by, d.at, d.expires_at ?? 'cleared', d.note,
      ])), '');
    }
  }
  if (decisions.length) {
    if (onCluster.length) out.push('On single accounts:', '');
    const excluded = decisions.filter((d) => d.excluded).length;
    if (excluded) out.push(`${excluded} of the detector's ${c.campaign.members.length} accounts are not counted as the campaign's: an operator allow-listed them or held them at none. Their values count as other accounts' (none of them is shared as the campaign's).`, '');
    out.push(table(['account', 'decision', 'counted', 'by', 'when', 'note'], decisions.map((d) => [
      d.account_id, d.decision === 'allow_list' ? `allow-list (${d.entry?.kind} ${d.entry?.id})` : `operator verdict ${d.level}`, d.excluded ? 'no' : 'yes', d.by, d.at, d.note,
    ])), '');
  }

  out.push('## What its accounts shared', '');
  out.push('Shareable values are those the campaign holds and few other accounts do; a threat-intel export carries them only as keyed hashes.', '');
  out.push(table(['kind', 'value', 'holders', 'other accounts', 'shared', 'why'], c.observables.map((o) => [o.kind, mdCode(excerpt(o.value)), o.holders, o.others, o.shareable ? 'yes' : 'no', o.why])), '');

  out.push('## What the ledger proves', '');
  if (!c.ledger) out.push('The ledger was off when this case was built.', '');
  else {
    const l = c.ledger;
    if (l.checkpoint) {
      out.push(`Built against the signed checkpoint of ${l.checkpoint.created_at} (tree size ${num(l.checkpoint.size)}, root ${l.checkpoint.root_hash}):`, '', '```', l.checkpoint.note.trimEnd(), '```', '');
    }
    out.push('Check it: `warden ledger verify` checks the whole log; `warden ledger prove INDEX` gives the inclusion proof of one entry below against the latest checkpoint, which anyone with the verifier key (`warden ledger key`) can check.', '');
    // Under which detector settings each verdict was reached (a settings entry of the log, by digest).
    const settingsOf = (d: string | null | undefined) => {
      if (d === undefined) return 'not kept';
      if (d === null) return 'none named';
      const at = l.settings?.find((x) => x.digest === d);
      return `${d.slice(0, 16)}…${at ? ` (entry ${at.index})` : ''}`;
    };
    if (l.verdicts.length) out.push(table(['entry', 'time', 'subject', 'level', 'source', 'settings'], l.verdicts.slice(0, 200).map((v) => [v.index, v.ts, `${v.subject_kind} ${v.subject_id}`, v.level, v.source, settingsOf(v.settings_digest)])), '');
    else out.push('No verdict on this cluster or its members is in the log yet.', '');
    if (l.settings?.length) {
      out.push('The detector verdicts above were reached under these settings, recorded in the log (`warden ledger prove INDEX` proves the entry; `warden ledger query --settings` lists them with their values):', '');
      out.push(table(['settings', 'entry', 'recorded', 'Warden', 'changed from the settings before'], l.settings.map((x) => [
        x.digest.slice(0, 16) + '…', x.index, x.ts, String((x.settings as { warden_version?: unknown }).warden_version ?? '-'), x.changed === null ? 'the log\'s first' : x.changed.join(', ') || 'nothing',
      ])), '');
    }
    const sum = (rows: typeof l.usage) => rows.reduce((a, x) => ({ requests: a.requests + x.requests, output: a.output + x.output_tokens }), { requests: 0, output: 0 });
    const accounts = (n: number) => `${num(n)} account${n === 1 ? '' : 's'}`;
    const total = sum(l.usage);
    const covered = l.tree_size !== undefined && l.checkpoint && l.tree_size > l.checkpoint.size
      ? ` (read from the first ${num(l.tree_size)} entries of the log; the checkpoint above covers the first ${num(l.checkpoint.size)}, a later one the rest)` : '';
    out.push(`Usage the log records for the cluster: ${num(total.requests)} requests, ${num(total.output)} output tokens, ${accounts(l.usage.length)}${l.truncated ? ' (query limit reached: a lower bound)' : ''}${covered}.`);
    // The cluster can hold accounts the case does not count (allow-listed, held at none): say so,
    // so that the log's figures reconcile with the case's own.
    const isMember = new Set(c.members.map((m) => m.account_id));
    const outside = l.usage.filter((u) => !u.account_id || !isMember.has(u.account_id));
    if (outside.length) {
      const inside = sum(l.usage.filter((u) => u.account_id && isMember.has(u.account_id)));
      const left = sum(outside);
      const why = (id: string | null) => {
        const d = (c.decisions ?? []).find((x) => x.account_id === id && x.excluded);
        return `${mdCode(id ?? '-')}: ${d ? plain(decisionText(d)) : 'not one of the case\'s members'}`;
      };
      out.push(`Of them the case's members: ${num(inside.requests)} requests, ${num(inside.output)} output tokens, ${accounts(l.usage.length - outside.length)}; `
        + `not counted as the campaign's: ${num(left.requests)} requests, ${num(left.output)} output tokens, ${accounts(outside.length)} (${outside.slice(0, 20).map((u) => why(u.account_id)).join('; ')}${outside.length > 20 ? '; …' : ''}).`);
    }
    out.push('');
  }

  if (exchange) {
    out.push('## Shared with partners', '');
    const live = exchange.published.filter((p) => !p.revoked);
    if (!exchange.published.length) out.push('Nothing published to partners.', '');
    else {
      out.push(`${live.length} indicators in force in the TAXII collection partners poll, ${exchange.published.length - live.length} revoked.`, '');
      out.push(table(['indicator', 'kind', 'state', 'valid until'], exchange.published.map((p) => [p.id, p.kind, p.revoked ? 'revoked' : 'in force', p.valid_until])), '');
    }
    if (exchange.partner_sightings.length) {
      const kinds = new Map(exchange.published.map((p) => [p.id, p.kind]));
      out.push('Partners report seeing them:', '');
      out.push(table(['partner', 'kind', 'requests', 'accounts', 'first seen', 'last seen'], exchange.partner_sightings.map((p) => [mdCode(p.source), kinds.get(p.indicator_id), p.count, p.accounts, p.first_seen, p.last_seen])), '');
    }
  }

  out.push('## Notes', '');
  out.push(c.notes.length ? c.notes.map((n) => `- ${n.at}${n.status ? ` [${n.status}]` : ''}${n.by ? ` (${n.by})` : ''}: ${n.text}`).join('\n') : '(none)', '');
  return out.join('\n');
}

function reasonsTable(rs: readonly VerdictReason[]): string {
  return table(['signal', 'value', 'threshold', 'weight', 'detail'], rs.map((r) => [r.signal, r.value, r.threshold, r.weight ?? null, r.detail ?? null]));
}
