// Detector: verdicts in force on recorded traffic (always available), and whatever the
// detector's admin routes offer (verdicts, clusters, campaigns...) when they are mounted.
import { h, replace, panel, loading, errorBox, link } from '../lib/dom.js';
import { get } from '../lib/api.js';
import { rangePicker, usageTable } from '../lib/widgets.js';
import { renderJson } from '../lib/json.js';

const title = (path) => path.replace(/^\/admin\//, '').split('/').map((s) => s.replace(/[-_]/g, ' ')).join(' › ');

export async function render(main, _params, query, ctx) {
  document.title = 'Detector · Warden';
  const range = query.range ?? '24h';
  const routes = (ctx.features.detect?.routes ?? []).filter((r) => r.method === 'GET' && !r.path.includes(':'));
  const byVerdict = h('div', null, loading());
  const sections = routes.map((r) => [r, h('div', null, loading())]);
  replace(main,
    h('div', { class: 'page-head' }, h('h1', { text: 'Detector' }), rangePicker(range, (v) => ctx.setQuery({ ...query, range: v }))),
    panel('Traffic by verdict in force', h('p', { class: 'help', text: 'The verdict enforcement applied to each request when it arrived (recorded on the interaction).' }), byVerdict),
    routes.length
      ? sections.map(([r, box]) => panel(title(r.path), h('p', { class: 'muted small' }, h('code', { text: `GET ${r.path}` })), box))
      : panel('Verdicts, clusters and campaigns', h('p', { text: 'The detector’s admin routes (verdicts with their explanations, linked-account clusters, campaigns) are not mounted on this server yet. They appear here, without a dashboard upgrade, as soon as they are: this page lists every GET route under /admin/detect.' }),
        h('p', null, 'Meanwhile, ', link('/usage?by=verdict', 'usage by verdict'), ' shows which traffic was served under a verdict.')));
  await Promise.all([
    get('/admin/usage/top', { range, by: 'verdict', limit: 10 }).then((top) => replace(byVerdict, usageTable('verdict', top.data, { compact: true })), (err) => replace(byVerdict, errorBox(err))),
    ...sections.map(([r, box]) => get(r.path).then((v) => replace(box, renderJson(v, title(r.path))), (err) => replace(box, errorBox(err)))),
  ]);
}
