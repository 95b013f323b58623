// Overview: traffic over time, requests and tokens, refusal and error rates, top accounts,
// networks and models, outcomes, and the latest interactions.
import { h, replace, refreshInPlace, panel, kpi, fmtCompact, fmtInt, fmtPct, table, badge, loading, errorBox } from '../lib/dom.js';
import { get } from '../lib/api.js';
import { stackedBars } from '../lib/chart.js';
import { accountNames } from '../lib/names.js';
import { rangePicker, interactionsTable, usageTable, OUTCOME_SERIES, TOKEN_SERIES, withErrors } from '../lib/widgets.js';

const REFRESH_MS = 30_000;

export async function render(main, _params, query, ctx) {
  document.title = 'Overview · Warden';
  const range = query.range ?? '24h';
  const body = h('div', { class: 'stack' }, loading());
  const live = h('input', { type: 'checkbox', id: 'live', checked: query.live === 'on', on: { change: () => ctx.setQuery({ ...query, live: live.checked ? 'on' : undefined }) } });
  replace(main,
    h('div', { class: 'page-head' },
      h('h1', { text: 'Overview' }),
      rangePicker(range, (r) => ctx.setQuery({ ...query, range: r })),
      h('span', { class: 'inline-check' }, live, h('label', { for: 'live', text: 'Refresh every 30 s' }))),
    body);

  const load = async () => {
    const [summary, accounts, networks, models, recent] = await Promise.all([
      get('/admin/usage/summary', { range }),
      get('/admin/usage/top', { range, by: 'account', limit: 10 }),
      get('/admin/usage/top', { range, by: 'network', limit: 8 }),
      get('/admin/usage/top', { range, by: 'model', limit: 8 }),
      get('/admin/usage/interactions', { range, limit: 12 }),
    ]);
    if (!ctx.isCurrent()) return;
    const names = await accountNames(recent.data.map((i) => i.account_id));
    if (!ctx.isCurrent()) return;
    const t = summary.totals;
    const refused = t.limited + t.denied;
    // Errors: client (4xx other than 401, 403, 429) and server (5xx) errors, as in the chart and
    // the tables' Errors column; unauthenticated requests (401) are counted apart.
    const errors = t.client_errors + t.server_errors;
    // A refresh keeps the keyboard's place (and the opened tables of numbers) instead of dropping the focus.
    refreshInPlace(body,
      h('section', { class: 'kpis', 'aria-label': 'Key figures' },
        kpi('Requests', fmtCompact(t.requests), `${fmtInt(t.ok)} served`),
        kpi('Tokens in', fmtCompact(t.input_tokens), t.cached_input_tokens || t.cache_write_tokens ? `${fmtCompact(t.cached_input_tokens ?? 0)} cache read, ${fmtCompact(t.cache_write_tokens ?? 0)} cache write` : null),
        kpi('Tokens out', fmtCompact(t.output_tokens), t.reasoning_tokens ? `${fmtCompact(t.reasoning_tokens)} reasoning` : null),
        kpi('Accounts', fmtInt(t.accounts), `${fmtInt(t.ips)} client IP${t.ips === 1 ? '' : 's'}`),
        kpi('Refusal rate', t.requests ? fmtPct(refused / t.requests) : '—', `${fmtInt(t.limited)} limited, ${fmtInt(t.denied)} denied`),
        kpi('Error rate', t.requests ? fmtPct(errors / t.requests) : '—', `${fmtInt(t.client_errors)} client, ${fmtInt(t.server_errors)} server; ${fmtInt(t.unauthenticated)} unauthenticated apart`)),
      panel('Traffic',
        stackedBars({ title: 'Requests by outcome', points: withErrors(summary.series), bucketS: summary.bucket_s, series: OUTCOME_SERIES }),
        stackedBars({ title: 'Tokens', points: summary.series, bucketS: summary.bucket_s, series: TOKEN_SERIES, unit: 'tokens' })),
      h('div', { class: 'grid-2' },
        panel('Top accounts', usageTable('account', accounts.data, { compact: true }), h('p', null, h('a', { href: `#/usage?by=account&range=${range}` }, 'All accounts by usage'))),
        panel('Top networks', usageTable('network', networks.data, { compact: true }), h('p', null, h('a', { href: `#/usage?by=network&range=${range}` }, 'All networks')))),
      h('div', { class: 'grid-2' },
        panel('Models', usageTable('model', models.data, { compact: true })),
        panel('Outcomes', table({
          caption: 'Requests by status and error code', rows: summary.outcomes, empty: 'No traffic in this range.',
          columns: [
            { label: 'Status', value: (o) => badge(String(o.status), o.status < 400 ? 'ok' : o.status === 429 || o.status === 403 ? 'warn' : 'bad') },
            { label: 'Code', value: (o) => (o.code ? h('code', { text: o.code }) : h('span', { class: 'muted', text: '—' })) },
            { label: 'Requests', num: true, value: (o) => fmtInt(o.requests) },
            { label: 'Share', num: true, value: (o) => fmtPct(o.requests / Math.max(1, t.requests)) },
          ],
        }))),
      panel('Latest interactions', interactionsTable(recent.data, { names })),
    );
  };

  try {
    await load();
  } catch (err) {
    replace(body, errorBox(err));
  }
  // Opt-in: on the embedded SQLite store each refresh is a scan of the range.
  if (query.live !== 'on') return undefined;
  const timer = setInterval(() => { if (document.visibilityState === 'visible') load().catch(() => {}); }, REFRESH_MS);
  return () => clearInterval(timer);
}
