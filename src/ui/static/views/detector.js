// Detector: verdicts in force on recorded traffic (always available), whatever the detector's
// admin routes offer (verdicts, clusters, campaigns...) when they are mounted (campaigns and
// clusters as lists leading to their own pages; routes about one subject through those pages), and the webhooks
// that tell operators of rising verdicts, with their last deliveries and a test button.
import { h, replace, panel, loading, errorBox, link, table, badge, levelBadge, fmtInt, when, toast, runButton } from '../lib/dom.js';
import { get, post } from '../lib/api.js';
import { rangePicker, usageTable } from '../lib/widgets.js';
import { renderJson, detectLink } from '../lib/json.js';
import { accountRowsTable, accountCell, ACCOUNT_SORTS, notHereNote } from '../lib/detect.js';

const FLAGGED_LEVELS = ['watch', 'throttle', 'shape', 'verify', 'suspend'];
/** The listings shown first, in this order (before the flagged accounts). */
const LEADING = ['/detect/campaigns', '/detect/clusters'];
const FLAGGED_PAGE = 100;

const title = (path) => path.replace(/^\/admin\//, '').split('/').map((s) => s.replace(/[-_]/g, ' ')).join(' › ');

export async function render(main, _params, query, ctx) {
  document.title = 'Detector · Warden';
  const range = query.range ?? '24h';
  const all = (ctx.features.detect?.routes ?? []).filter((r) => r.method === 'GET' && !r.path.includes(':'));
  // The flagged accounts have a view of their own (filters and order in the URL); every other listing below.
  const flaggedRoute = all.find((r) => r.path.endsWith('/detect/accounts'))?.path ?? null;
  const routes = all.filter((r) => r.path !== flaggedRoute);
  const flaggedBox = flaggedRoute ? h('div', null, loading()) : null;
  const byVerdict = h('div', null, loading());
  const sections = routes.map((r) => [r, h('div', null, loading())]);
  const notifyBox = h('div', null, loading());
  const sectionPanel = ([r, box]) => panel(title(r.path), h('p', { class: 'muted small' }, h('code', { text: `GET ${r.path}` })), box);
  // Campaigns and clusters come first: the worst actor is what an analyst looks for, and a page of
  // flagged accounts (100 rows, 300 links) must not stand between them and it.
  const leads = (r) => LEADING.some((suffix) => r.path.endsWith(suffix));
  const leading = LEADING.flatMap((suffix) => sections.filter(([r]) => r.path.endsWith(suffix)));
  replace(main,
    h('div', { class: 'page-head' }, h('h1', { text: 'Detector' }), rangePicker(range, (v) => ctx.setQuery({ ...query, range: v }))),
    leading.map(sectionPanel),
    flaggedRoute ? panel('Flagged accounts', h('p', { class: 'help', text: 'Accounts held above none now (the allow-list, operator verdicts and their cluster counted), each a link to its page. Order by a column’s header.' }), flaggedBox) : null,
    panel('Traffic by verdict in force', h('p', { class: 'help', text: 'The verdict enforcement applied to each request when it arrived (recorded on the interaction).' }), byVerdict),
    routes.length
      ? sections.filter(([r]) => !leads(r)).map(sectionPanel)
      : panel('Verdicts, clusters and campaigns', notHereNote(ctx.features, 'The detector’s admin routes (verdicts with their explanations, linked-account clusters, campaigns) are not mounted on this server yet. They appear here, without a dashboard upgrade, as soon as they are: this page lists every GET route under /admin/detect.'),
        h('p', null, 'Meanwhile, ', link('/usage?by=verdict', 'usage by verdict'), ' shows which traffic was served under a verdict.')),
    panel('Notifications', h('p', { class: 'help', text: 'Webhooks told of rising campaigns and accounts, partners’ indicators matching, feeds and the ledger failing (notify.webhooks).' }), notifyBox));
  await Promise.all([
    get('/admin/usage/top', { range, by: 'verdict', limit: 10 }).then((top) => replace(byVerdict, usageTable('verdict', top.data, { compact: true })), (err) => replace(byVerdict, errorBox(err))),
    ...sections.map(([r, box]) => get(r.path).then((v) => replace(box, (OWN_VIEW.find(([suffix]) => r.path.endsWith(suffix))?.[1] ?? renderJson)(v, title(r.path))), (err) => replace(box, errorBox(err)))),
    renderNotify(notifyBox, ctx),
    flaggedRoute ? renderFlagged(flaggedBox, flaggedRoute, query, ctx) : null,
  ]);
}

/** Flagged accounts: a level filter, the order (a column's header) and how many, all in the URL. */
async function renderFlagged(box, route, query, ctx) {
  const level = FLAGGED_LEVELS.includes(query.level) ? query.level : '';
  const sort = ACCOUNT_SORTS.some(([k]) => k === query.sort) ? query.sort : 'level';
  const limit = Math.min(1000, Math.max(FLAGGED_PAGE, Number(query.shown) || FLAGGED_PAGE));
  const select = h('select', { id: 'flagged-level', name: 'level', on: { change: () => ctx.setQuery({ ...query, level: select.value || undefined, shown: undefined }) } },
    [['', 'Any level above none'], ...FLAGGED_LEVELS.map((l) => [l, l])].map(([v, l]) => h('option', { value: v, selected: v === level }, l)));
  const filters = h('div', { class: 'filters' }, h('div', { class: 'field' }, h('label', { for: 'flagged-level', text: 'Level' }), select));
  try {
    const page = await get(route, { level, sort, limit });
    if (!ctx.isCurrent()) return;
    const sortName = ACCOUNT_SORTS.find(([k]) => k === sort)[1].toLowerCase();
    const more = page.total > page.data.length && limit < 1000
      ? h('button', { type: 'button', class: 'btn btn-small', 'data-focus': 'more-flagged', on: { click: () => ctx.setQuery({ ...query, shown: String(limit + FLAGGED_PAGE) }) } }, `Show ${fmtInt(Math.min(FLAGGED_PAGE, page.total - page.data.length))} more`)
      : null;
    replace(box, filters,
      accountRowsTable(page.data, { caption: `Flagged accounts${level ? ` at ${level}` : ''}, by ${sortName}`, sort, onSort: (key) => ctx.setQuery({ ...query, sort: key === 'level' ? undefined : key }),
        empty: level ? `No account is at ${level} now.` : 'No account is above none now.' }),
      page.data.length ? h('p', { class: 'more-note' }, h('span', { class: 'muted', role: 'status', text: `Showing ${fmtInt(page.data.length)} of ${fmtInt(page.total)} accounts${level ? ` at ${level}` : ' above none'}, by ${sortName}. ` }), more) : null);
  } catch (err) {
    replace(box, filters, errorBox(err));
  }
}

const targetsOf = (c) => Object.entries(c.targets).filter(([, s]) => s >= 0.1).sort((a, b) => b[1] - a[1]).map(([k, s]) => `${k.replace(/_/g, ' ')} ${Math.round(s * 100)} %`).join(', ') || '—';

/** Campaigns and clusters: one row each, the id a link to its page (members, evidence, operator verdict). */
const OWN_VIEW = [
  // Before /detect/allow: each allow-list entry with what its accounts would be held at without it.
  ['/detect/allow/shadow', (r) => (r.data.length ? r.data.map((e) => h('div', { class: 'stack' },
    h('p', null, h('strong', { text: `${e.kind} ${e.id}` }), e.expires_at ? h('span', null, ' — until ', when(e.expires_at)) : h('span', { class: 'muted', text: ' — until removed' }),
      e.by ? h('span', { class: 'muted', text: ` · added by ${e.by}` }) : null, e.note ? h('span', { class: 'muted', text: ` · ${e.note}` }) : null),
    h('p', { text: `${fmtInt(e.covered)} account(s) covered${e.unseen.length ? `, ${fmtInt(e.unseen.length)} not seen yet` : ''}. Without the entry: ${FLAGGED_LEVELS.filter((l) => e.levels[l]).reverse().map((l) => `${fmtInt(e.levels[l])} at ${l}`).join(', ') || 'none above none'}.` }),
    e.accounts.length ? table({
      caption: `Accounts of ${e.kind} ${e.id} that would be flagged without the entry`, rows: e.accounts,
      columns: [
        { label: 'Account', value: accountCell },
        { label: 'Would be', value: (a) => levelBadge(a.level) },
        { label: 'Decided by', value: (a) => (a.decided_by ?? '').replace(/_/g, ' ') },
        { label: 'Score', num: true, value: (a) => (a.score === null ? null : String(a.score)) },
        { label: 'Cluster', value: (a) => detectLink('cluster', a.cluster_id) },
        { label: 'Campaign', value: (a) => (a.campaign_id ? detectLink('campaign', a.campaign_id) : null) },
        { label: 'Strongest signal', value: (a) => a.top_signal?.signal ?? null },
      ],
    }) : null)) : h('p', { class: 'muted', text: 'The allow-list is empty.' }))],
  ['/detect/campaigns', (r) => table({
    caption: 'Campaigns', empty: 'The detector names no campaign at the moment.', rows: r.data,
    columns: [
      { label: 'Campaign', value: (c) => detectLink('campaign', c.id) },
      { label: 'Level', value: (c) => levelBadge(c.level) },
      { label: 'Score', num: true, value: (c) => String(c.score) },
      { label: 'Accounts', num: true, value: (c) => fmtInt(c.members.length) },
      { label: 'Requests', num: true, value: (c) => fmtInt(c.volume.requests) },
      { label: 'Output tokens', num: true, value: (c) => fmtInt(c.volume.output_tokens) },
      { label: 'Flagged', value: (c) => when(c.flagged_at) },
      { label: 'Targets', value: targetsOf },
      { label: 'Cluster', value: (c) => detectLink('cluster', c.cluster_id) },
    ],
  })],
  ['/detect/clusters', (r) => [table({
    caption: 'Clusters', empty: 'No cluster is above none.', rows: r.data,
    columns: [
      { label: 'Cluster', value: (c) => detectLink('cluster', c.id) },
      { label: 'Level', value: (c) => levelBadge(c.level) },
      { label: 'Score', num: true, value: (c) => String(c.score) },
      { label: 'Accounts', num: true, value: (c) => fmtInt(c.size ?? c.members.length) },
      { label: 'Actors', num: true, value: (c) => fmtInt(c.actors) },
      { label: 'Requests', num: true, value: (c) => fmtInt(c.requests) },
      { label: 'Campaign', value: (c) => (c.campaign_id ? detectLink('campaign', c.campaign_id) : null) },
    ],
  }), r.total > r.data.length ? h('p', { class: 'muted', text: `The ${fmtInt(r.data.length)} most severe of ${fmtInt(r.total)}.` }) : null]],
];

const OUTCOME_TONE = { delivered: 'ok', failed: 'bad', dropped: 'bad', queued: 'info' };

async function renderNotify(box, ctx) {
  try {
    const r = await get('/admin/notify');
    if (!ctx.isCurrent()) return;
    const test = (w) => runButton('Send a test', async () => {
      await post(`/admin/notify/test?webhook=${encodeURIComponent(w.name)}`);
      toast(`${w.name}: test delivered.`);
    }, () => renderNotify(box, ctx));
    replace(box,
      table({
        caption: 'Webhooks', empty: 'No webhook is configured (notify.webhooks).', rows: r.webhooks,
        columns: [
          { label: 'Webhook', value: (w) => w.name },
          { label: 'Where', value: (w) => h('code', { text: w.url }) },
          { label: 'Format', value: (w) => w.format },
          { label: 'Signed', value: (w) => (w.signed ? 'yes' : 'no') },
          { label: 'Delivered', num: true, value: (w) => fmtInt(w.delivered) },
          { label: 'Failed', num: true, value: (w) => fmtInt(w.failed + w.dropped) },
          { label: 'Waiting', num: true, value: (w) => fmtInt(w.waiting) },
          { label: '', value: test },
        ],
      }),
      r.deliveries.length ? table({
        caption: 'Last deliveries', rows: r.deliveries.slice(0, 20),
        columns: [
          { label: 'Queued', value: (d) => when(d.queued_at) },
          { label: 'Webhook', value: (d) => d.webhook },
          { label: 'Notification', value: (d) => d.type },
          { label: 'Outcome', value: (d) => badge(d.status, OUTCOME_TONE[d.status] ?? 'muted') },
          { label: 'Attempts', num: true, value: (d) => String(d.attempts) },
          { label: 'Last error', value: (d) => d.last_error },
        ],
      }) : null);
  } catch (err) {
    replace(box, errorBox(err));
  }
}
