// API keys across accounts: list (optionally one account's, optionally with revoked keys),
// create (secret shown once), rotate, revoke.
import { h, replace, panel, loading, errorBox } from '../lib/dom.js';
import { get } from '../lib/api.js';
import { keysTable, createKeyForm } from '../lib/keys.js';
import { accountNames } from '../lib/names.js';

export async function render(main, _params, query, ctx) {
  document.title = 'Keys · Warden';
  const reload = () => ctx.setQuery({ ...query });
  const account = h('input', { id: 'keys-account', name: 'account_id', type: 'search', value: query.account_id ?? '', placeholder: 'acct_…', autocomplete: 'off' });
  const revoked = h('input', { type: 'checkbox', id: 'keys-revoked', checked: query.revoked === '1' });
  const filter = h('form', { class: 'filters', role: 'search', on: { submit: (e) => { e.preventDefault(); ctx.setQuery({ account_id: account.value.trim(), revoked: revoked.checked ? '1' : undefined }); } } },
    h('div', { class: 'field' }, h('label', { for: 'keys-account', text: 'Account id' }), account),
    h('span', { class: 'inline-check field' }, revoked, h('label', { for: 'keys-revoked', text: 'Include revoked and expired' })),
    h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'btn' }, 'Filter')));
  const list = h('div', null, loading());
  replace(main,
    h('div', { class: 'page-head' }, h('h1', { text: 'API keys' })),
    panel('Create a key', createKeyForm({ accountId: null, onCreated: reload })),
    panel('Keys', filter, list));
  try {
    const page = await get('/admin/keys', { account_id: query.account_id, include_revoked: query.revoked === '1' ? 'true' : undefined, limit: 100, cursor: query.cursor });
    if (!ctx.isCurrent()) return;
    const names = await accountNames(page.data.map((k) => k.account_id));
    if (!ctx.isCurrent()) return;
    replace(list, keysTable(page.data, { onChange: reload, showAccount: true, caption: 'API keys, newest first', names }),
      page.next_cursor ? h('p', { class: 'pager' }, h('button', { type: 'button', class: 'btn', 'data-focus': 'next-page', on: { click: () => ctx.setQuery({ ...query, cursor: page.next_cursor }, { push: true }) } }, 'Next page')) : null);
  } catch (err) {
    replace(list, errorBox(err));
  }
}
