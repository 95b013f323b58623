// Detector: verdicts in force on recorded traffic (always available), whatever the detector's
// admin routes offer (verdicts, clusters, campaigns...) when they are mounted (campaigns and
// clusters as lists leading to their own pages; routes about one subject through those pages), and the webhooks
// that tell operators of rising verdicts, with their last deliveries and a test button.
import { h, replace, panel, loading, errorBox, link, table, badge, levelBadge, fmtInt, when, toast, runButton } from '../lib/dom.js';
import { get, post } from '../lib/api.js';
import { rangePicker, usageTable } from '../lib/widgets.js';
import { renderJson, detectLink } from '../lib/json.js';

const title = (path) => path.replace(/^\/admin\//, '').split('/').map((s) => s.replace(/[-_]/g, ' ')).join(' › ');

export async function render(main, _params, query, ctx) {
  document.title = 'Detector · Warden';
  const range = query.range ?? '24h';
  const routes = (ctx.features.detect?.routes ?? []).filter((r) => r.method === 'GET' && !r.path.includes(':'));
  const byVerdict = h('div', null, loading());
  const sections = routes.map((r) => [r, h('div', null, loading())]);
  const notifyBox = h('div', null, loading());
  replace(main,
    h('div', { class: 'page-head' }, h('h1', { text: 'Detector' }), rangePicker(range, (v) => ctx.setQuery({ ...query, range: v }))),
    panel('Traffic by verdict in force', h('p', { class: 'help', text: 'The verdict enforcement applied to each request when it arrived (recorded on the interaction).' }), byVerdict),
    routes.length
      ? sections.map(([r, box]) => panel(title(r.path), h('p', { class: 'muted small' }, h('code', { text: `GET ${r.path}` })), box))
      : panel('Verdicts, clusters and campaigns', h('p', { text: 'The detector’s admin routes (verdicts with their explanations, linked-account clusters, campaigns) are not mounted on this server yet. They appear here, without a dashboard upgrade, as soon as they are: this page lists every GET route under /admin/detect.' }),
        h('p', null, 'Meanwhile, ', link('/usage?by=verdict', 'usage by verdict'), ' shows which traffic was served under a verdict.')),
    panel('Notifications', h('p', { class: 'help', text: 'Webhooks told of rising campaigns and accounts, partners’ indicators matching, feeds and the ledger failing (notify.webhooks).' }), notifyBox));
  await Promise.all([
    get('/admin/usage/top', { range, by: 'verdict', limit: 10 }).then((top) => replace(byVerdict, usageTable('verdict', top.data, { compact: true })), (err) => replace(byVerdict, errorBox(err))),
    ...sections.map(([r, box]) => get(r.path).then((v) => replace(box, (OWN_VIEW.find(([suffix]) => r.path.endsWith(suffix))?.[1] ?? renderJson)(v, title(r.path))), (err) => replace(box, errorBox(err)))),
    renderNotify(notifyBox, ctx),
  ]);
}

const targetsOf = (c) => Object.entries(c.targets).filter(([, s]) => s >= 0.1).sort((a, b) => b[1] - a[1]).map(([k, s]) => `${k.replace(/_/g, ' ')} ${Math.round(s * 100)} %`).join(', ') || '—';

/** Campaigns and clusters: one row each, the id a link to its page (members, evidence, operator verdict). */
const OWN_VIEW = [
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
