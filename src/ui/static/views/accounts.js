// Accounts: search by id, name, email, email domain or signup IP; list with filters and paging.
import { h, replace, panel, table, link, shortId, when, badge, loading, errorBox } from '../lib/dom.js';
import { get } from '../lib/api.js';

const TIERS = ['unverified', 'email_verified', 'identity_verified', 'enterprise'];

export const statusTone = (s) => (s === 'active' ? 'ok' : 'bad');

function accountsTable(rows, caption) {
  return table({
    caption, rows, empty: 'No accounts match.',
    columns: [
      { label: 'Account', value: (a) => link(`/accounts/${encodeURIComponent(a.id)}`, a.name || a.email || shortId(a.id), { title: a.id }) },
      { label: 'Email', value: (a) => a.email },
      { label: 'Organisation', value: (a) => (a.org_id ? h('span', { title: a.org_id, text: shortId(a.org_id) }) : null) },
      { label: 'Tier', value: (a) => a.tier.replace('_', ' ') },
      { label: 'Programme', value: (a) => (a.programme && a.programme !== 'none' ? a.programme : null) },
      { label: 'Status', value: (a) => badge(a.status, statusTone(a.status)) },
      { label: 'Created', value: (a) => when(a.created_at) },
    ],
  });
}

export async function render(main, _params, query, ctx) {
  document.title = 'Accounts · Warden';
  const q = h('input', { id: 'account-search', name: 'q', type: 'search', value: query.q ?? '', placeholder: 'id, name, email, domain or signup IP', autocomplete: 'off' });
  const status = h('select', { id: 'account-status', name: 'status' }, [['', 'Any status'], ['active', 'Active'], ['suspended', 'Suspended']].map(([v, l]) => h('option', { value: v, selected: (query.status ?? '') === v }, l)));
  const tier = h('select', { id: 'account-tier', name: 'tier' }, [['', 'Any tier'], ...TIERS.map((t) => [t, t.replace('_', ' ')])].map(([v, l]) => h('option', { value: v, selected: (query.tier ?? '') === v }, l)));
  const form = h('form', { class: 'filters', role: 'search', on: { submit: (e) => { e.preventDefault(); ctx.setQuery({ q: q.value.trim(), status: status.value, tier: tier.value }); } } },
    h('div', { class: 'field field-grow' }, h('label', { for: 'account-search', text: 'Search accounts' }), q),
    h('div', { class: 'field' }, h('label', { for: 'account-status', text: 'Status' }), status),
    h('div', { class: 'field' }, h('label', { for: 'account-tier', text: 'Tier' }), tier),
    h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Search')));
  const result = h('div', null, loading());
  replace(main, h('div', { class: 'page-head' }, h('h1', { text: 'Accounts' })), panel('Find', form), result);

  try {
    if (query.q) {
      const found = await get('/admin/dashboard/search', { q: query.q, limit: 100 });
      if (!ctx.isCurrent()) return;
      let accounts = found.accounts;
      if (query.status) accounts = accounts.filter((a) => a.status === query.status);
      if (query.tier) accounts = accounts.filter((a) => a.tier === query.tier);
      replace(result,
        panel(`Accounts matching “${query.q}”`, accountsTable(accounts, 'Matching accounts'),
          found.truncated ? h('p', { class: 'muted', text: `Searched the newest ${found.scanned} accounts.` }) : null),
        found.orgs.length ? panel('Organisations', table({
          caption: 'Matching organisations', rows: found.orgs,
          columns: [
            { label: 'Organisation', value: (o) => link(`/usage?by=account&org_id=${encodeURIComponent(o.id)}`, o.name, { title: o.id }) },
            { label: 'Id', value: (o) => h('code', { text: o.id }) },
            { label: 'Tier', value: (o) => o.tier.replace('_', ' ') },
            { label: 'Created', value: (o) => when(o.created_at) },
          ],
        })) : null);
      return;
    }
    const page = await get('/admin/accounts', { limit: 50, status: query.status, tier: query.tier, cursor: query.cursor });
    if (!ctx.isCurrent()) return;
    replace(result, panel('Newest accounts', accountsTable(page.data, 'Accounts, newest first'),
      h('p', { class: 'pager' },
        query.cursor ? h('a', { href: `#/accounts?${new URLSearchParams({ ...(query.status ? { status: query.status } : {}), ...(query.tier ? { tier: query.tier } : {}) })}` }, 'First page') : null,
        page.next_cursor ? h('button', { type: 'button', class: 'btn', 'data-focus': 'next-page', on: { click: () => ctx.setQuery({ ...query, cursor: page.next_cursor }, { push: true }) } }, 'Next page') : null)));
  } catch (err) {
    replace(result, errorBox(err));
  }
}
