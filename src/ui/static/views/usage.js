// Usage explorer: who used the model, how much and from where, grouped by any dimension and
// narrowed by account, organisation, model or client IP.
import { h, replace, panel, loading, errorBox, badge } from '../lib/dom.js';
import { get } from '../lib/api.js';
import { rangePicker, usageTable, DIMENSIONS } from '../lib/widgets.js';

const FILTERS = [['account_id', 'Account id'], ['org_id', 'Organisation id'], ['model', 'Model'], ['ip', 'Client IP']];

export async function render(main, _params, query, ctx) {
  document.title = 'Usage · Warden';
  const by = query.by ?? 'account';
  const range = query.range ?? '24h';
  const sort = query.sort ?? 'requests';
  const byId = 'usage-by';
  const sortId = 'usage-sort';
  const inputs = FILTERS.map(([name, label]) => [name, label, h('input', { id: `f-${name}`, name, value: query[name] ?? '', type: 'search', autocomplete: 'off' })]);
  const form = h('form', { class: 'filters', role: 'search', on: { submit: (e) => {
    e.preventDefault();
    const q = { by: form.elements[byId].value, sort: form.elements[sortId].value, range };
    for (const [name, , input] of inputs) q[name] = input.value.trim();
    ctx.setQuery(q);
  } } },
  h('div', { class: 'field' }, h('label', { for: byId, text: 'Group by' }),
    h('select', { id: byId, name: byId }, DIMENSIONS.map(([v, l]) => h('option', { value: v, selected: v === by }, l)))),
  h('div', { class: 'field' }, h('label', { for: sortId, text: 'Order by' }),
    h('select', { id: sortId, name: sortId }, [['requests', 'Requests'], ['tokens', 'Tokens']].map(([v, l]) => h('option', { value: v, selected: v === sort }, l)))),
  inputs.map(([name, label, input]) => h('div', { class: 'field' }, h('label', { for: `f-${name}`, text: label }), input)),
  h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Apply')));

  const active = FILTERS.filter(([name]) => query[name]).map(([name, label]) => badge(`${label}: ${query[name]}`, 'info'));
  const result = h('div', null, loading());
  replace(main,
    h('div', { class: 'page-head' }, h('h1', { text: 'Usage' }), rangePicker(range, (r) => ctx.setQuery({ ...query, range: r }))),
    panel('Filters', form, active.length ? h('p', { class: 'badges' }, 'Narrowed to ', active, ' ', h('a', { href: `#/usage?by=${by}&range=${range}` }, 'clear')) : null),
    result);
  try {
    const q = { by, range, sort, limit: 200 };
    for (const [name] of FILTERS) if (query[name]) q[name] = query[name];
    const top = await get('/admin/usage/top', q);
    if (!ctx.isCurrent()) return;
    replace(result, panel(`By ${DIMENSIONS.find(([v]) => v === by)?.[1] ?? by}`, usageTable(by, top.data), top.data.length === 200 ? h('p', { class: 'muted', text: 'Showing the first 200 groups.' }) : null));
  } catch (err) {
    replace(result, errorBox(err));
  }
}
