// Pieces shared by several views: range picker, interactions table, usage table.
import { h, table, link, shortId, when, statusBadge, levelBadge, badge, fmtInt, fmtCompact } from './dom.js';
import { namedAccount } from './names.js';

export const RANGES = [['15m', '15 min'], ['1h', '1 hour'], ['6h', '6 hours'], ['24h', '24 hours'], ['7d', '7 days'], ['30d', '30 days']];

/** A segmented radio group for the time range. */
export function rangePicker(current, onChange) {
  // Stable ids: the focused range is found again after the page re-renders.
  const name = 'range';
  return h('fieldset', { class: 'segmented' },
    h('legend', { class: 'visually-hidden', text: 'Time range' }),
    RANGES.map(([value, label]) => {
      const id = `${name}-${value}`;
      return [
        h('input', { type: 'radio', id, name, value, checked: value === current, on: { change: () => onChange(value) } }),
        h('label', { for: id, text: label }),
      ];
    }));
}

/** What the boundary did to one interaction, as badges. */
export function enforcementCell(i) {
  const e = i.enforcement ?? {};
  const parts = [];
  if (e.verdict && e.verdict !== 'none') parts.push(levelBadge(e.verdict));
  if (e.limit && !e.limit.allowed) parts.push(badge(`limit: ${e.limit.scope}`, 'warn', e.limit.limit));
  else if (e.limit && e.limit.note) parts.push(badge(e.limit.note, 'info'));
  for (const s of e.shaping ?? []) parts.push(badge(s, 'info'));
  for (const p of e.policy ?? []) parts.push(badge(p, 'muted'));
  if (e.watermark) parts.push(badge('watermarked', 'muted', e.watermark));
  return parts.length ? h('span', { class: 'badges' }, parts) : h('span', { class: 'muted', text: '—' });
}

/**
 * The prompt cache's share of the input (`cached_input_tokens` read, `cache_write_tokens` written),
 * as a muted note; null when there is none. Cache reads are billed at a fraction of the input price.
 */
export function cacheNote(c, cls = 'small') {
  const read = c.cached_input_tokens ?? 0;
  const write = c.cache_write_tokens ?? 0;
  if (!read && !write) return null;
  const parts = [read ? `${fmtCompact(read)} cache read` : null, write ? `${fmtCompact(write)} cache write` : null].filter(Boolean);
  return h('span', { class: `muted ${cls}`, text: `in: ${parts.join(', ')}` });
}

/** Recent interactions (newest first) with their enforcement; `names` (accountNames' Map) says who each account is. */
export function interactionsTable(rows, { caption = 'Recent interactions', showAccount = true, names = null } = {}) {
  return table({
    caption, rows, empty: 'No interactions recorded yet.',
    columns: [
      { label: 'When', value: (i) => when(i.ts) },
      showAccount ? { label: 'Account', value: (i) => (i.account_id ? namedAccount(i.account_id, names) : h('span', { class: 'muted', text: 'no key' })) } : null,
      { label: 'Model', value: (i) => i.model || h('span', { class: 'muted', text: '—' }) },
      { label: 'Client', value: (i) => h('span', { title: i.user_agent ?? '' }, i.client_ip, i.country ? ` · ${i.country}` : '', i.asn ? ` · AS${i.asn}` : '') },
      { label: 'Status', value: (i) => h('span', { class: 'badges' }, statusBadge(i.status), i.error_code ? h('code', { class: 'small', text: i.error_code.replace(/^WARDEN_/, '') }) : null) },
      // Output includes reasoning: the reasoning share is said as part of it, not added to it.
      { label: 'Tokens in / out', num: true, value: (i) => h('span', null, `${fmtCompact(i.input_tokens)} / ${fmtCompact(i.output_tokens)}`,
        cacheNote(i, 'small tokens-cache'),
        i.reasoning_tokens ? h('span', { class: 'muted small tokens-reasoning', text: `of which ${fmtCompact(i.reasoning_tokens)} reasoning` }) : null) },
      { label: 'Boundary', value: enforcementCell },
      { label: 'Prompt', value: (i) => (i.prompt_preview ? h('span', { class: 'preview', title: i.prompt_preview, text: i.prompt_preview }) : h('span', { class: 'muted', text: i.tools ? `${i.tools} tools` : '—' })) },
    ].filter(Boolean),
  });
}

const DIM_LABEL = { account: 'Account', org: 'Organisation', key: 'Key', model: 'Model', ip: 'Client IP', network: 'Network', country: 'Country', asn: 'ASN', flavour: 'API', verdict: 'Verdict in force' };

/** The group cell of a usage row: a link where there is a page to go to. */
function groupCell(by, r) {
  if (r.key === null) return h('span', { class: 'muted', text: by === 'account' || by === 'key' || by === 'org' ? 'unauthenticated' : by === 'verdict' ? 'none' : 'unknown' });
  const label = r.label ? [h('span', { text: r.label }), ' ', h('span', { class: 'muted small', text: shortId(r.key) })] : r.key;
  if (by === 'account') return link(`/accounts/${encodeURIComponent(r.key)}`, label, { title: r.key });
  if (by === 'ip') return link(`/usage?by=account&ip=${encodeURIComponent(r.key)}`, r.key, { title: 'Accounts using this address' });
  if (by === 'org') return link(`/usage?by=account&org_id=${encodeURIComponent(r.key)}`, label, { title: 'Accounts of this organisation' });
  if (by === 'model') return link(`/usage?by=account&model=${encodeURIComponent(r.key)}`, label, { title: 'Accounts using this model' });
  if (by === 'asn') return `AS${r.key}`;
  if (by === 'verdict') return levelBadge(r.key);
  return label;
}

/** Usage grouped by one dimension. */
export function usageTable(by, rows, { compact = false } = {}) {
  const cols = [
    { label: DIM_LABEL[by] ?? by, value: (r) => groupCell(by, r) },
    { label: 'Requests', num: true, value: (r) => fmtInt(r.requests) },
    { label: 'Refused', num: true, title: 'Limited (429) + denied (403)', value: (r) => fmtInt(r.limited + r.denied) },
    { label: 'Errors', num: true, title: 'Client errors (4xx other than 401, 403, 429) and server errors (5xx), as in the overview\'s error rate', value: (r) => fmtInt(r.client_errors + r.server_errors) },
    // Requests without a valid key (401) belong to no account, key or organisation.
    ...(['account', 'key', 'org'].includes(by) ? [] : [{ label: 'Unauth.', num: true, title: 'Unauthenticated (401): no valid key; not counted in Errors', value: (r) => fmtInt(r.unauthenticated) }]),
    { label: 'Tokens in', num: true, value: (r) => fmtCompact(r.input_tokens) },
    { label: 'Tokens out', num: true, value: (r) => fmtCompact(r.output_tokens) },
  ];
  if (!compact) {
    // Of Tokens in: the prompt cache's reads (billed at a fraction) and writes.
    cols.push({ label: 'Cache read', num: true, title: 'Of Tokens in: read from the provider\'s prompt cache (billed at a fraction of the input price)', value: (r) => fmtCompact(r.cached_input_tokens ?? 0) });
    cols.push({ label: 'Cache write', num: true, title: 'Of Tokens in: written to the provider\'s prompt cache', value: (r) => fmtCompact(r.cache_write_tokens ?? 0) });
    cols.push({ label: 'Reasoning', num: true, value: (r) => fmtCompact(r.reasoning_tokens) });
    if (by !== 'account' && by !== 'key') cols.push({ label: 'Accounts', num: true, value: (r) => fmtInt(r.accounts) });
    if (by !== 'ip') cols.push({ label: 'IPs', num: true, value: (r) => fmtInt(r.ips) });
    cols.push({ label: 'Last seen', value: (r) => when(r.last_ts) });
  }
  return table({ caption: `Usage by ${DIM_LABEL[by] ?? by}`, rows, columns: cols, empty: 'No traffic in this range.' });
}

export const DIMENSIONS = Object.entries(DIM_LABEL);

/** Series for the requests chart, by outcome. */
export const OUTCOME_SERIES = [
  { key: 'ok', label: 'Served', cls: 's-ok' },
  { key: 'limited', label: 'Limited (429)', cls: 's-limited' },
  { key: 'denied', label: 'Denied (403)', cls: 's-denied' },
  { key: 'unauthenticated', label: 'Unauthenticated', cls: 's-auth' },
  { key: 'errors', label: 'Errors', cls: 's-error' },
];
export const TOKEN_SERIES = [
  { key: 'input_tokens', label: 'Input', cls: 's-in' },
  { key: 'output_tokens', label: 'Output (reasoning included)', cls: 's-out' },
];
/** Add an `errors` field (client + server errors) to each point. */
export const withErrors = (points) => points.map((p) => ({ ...p, errors: p.client_errors + p.server_errors }));
