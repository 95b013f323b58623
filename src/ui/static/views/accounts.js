// Accounts: search by id, name, email, email domain or signup IP; list with filters and paging.
import { h, replace, panel, table, link, shortId, when, badge, loading, errorBox, fmtInt, announce } from '../lib/dom.js';
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

const PAGE = 50;

/** "First page" (when paged) and "Next page" (when there is one); the filters and search are kept. */
function pager(query, nextCursor, ctx) {
  const { cursor, ...first } = query;
  const firstHref = `#/accounts${Object.keys(first).length ? `?${new URLSearchParams(first)}` : ''}`;
  return h('p', { class: 'pager' },
    cursor ? h('a', { href: firstHref, 'data-focus-group': 'pager' }, 'First page') : null,
    nextCursor ? h('button', { type: 'button', class: 'btn', 'data-focus': 'next-page', 'data-focus-group': 'pager', on: { click: () => ctx.setQuery({ ...query, cursor: nextCursor }, { push: true }) } }, 'Next page') : null);
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
      // Status and tier are applied by the server, before the page is cut; next_cursor pages on.
      const found = await get('/admin/dashboard/search', { q: query.q, status: query.status, tier: query.tier, limit: PAGE, cursor: query.cursor });
      if (!ctx.isCurrent()) return;
      const n = found.accounts.length;
      // next_cursor without truncated: another account is known to match. With truncated, the
      // scan limit was reached first, so older accounts may or may not match.
      const note = found.truncated
        ? n >= PAGE
          ? `Showing ${fmtInt(n)} matching accounts; more accounts may match on the next page (searched ${fmtInt(found.scanned)} accounts).`
          : `Searched ${fmtInt(found.scanned)} accounts${n ? ` and found ${fmtInt(n)}` : ' without a match'}; older accounts are searched on the next page.`
        : found.next_cursor ? `Showing ${fmtInt(n)} matching accounts; there are more on the next page.` : null;
      // The focus stays in the search field: how many matched is said to a screen reader there.
      announce(note ?? (n ? `${fmtInt(n)} account${n === 1 ? ' matches' : 's match'} “${query.q}”.` : `No accounts match “${query.q}”.`));
      replace(result,
        panel(`Accounts matching “${query.q}”`, accountsTable(found.accounts, 'Matching accounts'),
          note ? h('p', { class: 'muted', text: note }) : null,
          pager(query, found.next_cursor, ctx)),
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
    const page = await get('/admin/accounts', { limit: PAGE, status: query.status, tier: query.tier, cursor: query.cursor });
    if (!ctx.isCurrent()) return;
    replace(result, panel('Newest accounts', accountsTable(page.data, 'Accounts, newest first'), pager(query, page.next_cursor, ctx)));
  } catch (err) {
    replace(result, errorBox(err));
  }
}
