// Accounts: search by id, name, email, email domain, signup IP or API key; list with filters and
// paging. An address also finds the accounts that sent requests from it.
import { h, replace, panel, table, link, shortId, when, badge, loading, errorBox, fmtInt, announce } from '../lib/dom.js';
import { get } from '../lib/api.js';
import { usageTable } from '../lib/widgets.js';

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

/**
 * A whole API key pasted into the search (`<prefix>_<12-character lookup id>_<secret>`, a leaked one
 * as found): its public prefix, so that the secret goes neither into the URL (history) nor to the
 * server; null for any other text.
 */
export function keyPrefixOf(text) {
  const m = /^([A-Za-z0-9]+(?:_[A-Za-z0-9]+)*_[A-Za-z0-9]{12})_[A-Za-z0-9]{32,}$/.exec(text);
  return m ? m[1] : null;
}

/** An IPv4 or IPv6 address (as the server's search reads one: a signup IP, and here a client address too). */
const looksLikeIp = (q) => /^(\d{1,3}\.){3}\d{1,3}$/.test(q) || (q.includes(':') && /^[0-9a-fA-F:.]+$/.test(q));

const KEY_TONE = { active: 'ok', rotating: 'warn', revoked: 'bad', expired: 'bad' };

/** The key the search named, and whose it is. */
function keyNote(key) {
  return h('div', { class: 'key-hit', role: 'note' },
    h('p', null, 'Key ', h('code', { text: key.prefix }), key.name ? h('span', { class: 'muted', text: ` (${key.name})` }) : null, ' ', badge(key.status, KEY_TONE[key.status] ?? 'muted'),
      ' belongs to account ', link(`/accounts/${encodeURIComponent(key.account_id)}`, key.account_id), '.'),
    h('p', { class: 'muted' }, 'Created ', when(key.created_at), ' · last used ', key.last_used_at ? when(key.last_used_at) : 'never',
      key.revoked_at ? [' · stops or stopped at ', when(key.revoked_at)] : null));
}

/**
 * The accounts whose requests came from an address in the last 7 days (the usage records),
 * beside those that signed up from it: an address in an abuse report is most often a client's.
 */
async function trafficFrom(box, ip, ctx) {
  try {
    const top = await get('/admin/usage/top', { by: 'account', ip, range: '7d', limit: 50 });
    if (!ctx.isCurrent()) return;
    replace(box, panel(`Accounts that sent requests from ${ip}`,
      h('p', { class: 'help' }, 'From the usage records of the last 7 days, most requests first. ',
        link(`/usage?by=account&ip=${encodeURIComponent(ip)}&range=30d`, 'Other ranges on the Usage page'), '.'),
      usageTable('account', top.data, { compact: true })));
  } catch (err) {
    replace(box, errorBox(err));
  }
}

/** "First page" (when paged) and "Next page" (when there is one); the filters and search are kept. */
function pager(query, nextCursor, ctx) {
  const { cursor, ...first } = query;
  const firstHref = `#/accounts${Object.keys(first).length ? `?${new URLSearchParams(first)}` : ''}`;
  return h('p', { class: 'pager' },
    cursor ? h('a', { href: firstHref, 'data-focus-group': 'pager' }, 'First page') : null,
    nextCursor ? h('button', { type: 'button', class: 'btn', 'data-focus': 'next-page', 'data-focus-group': 'pager', on: { click: () => ctx.setQuery({ ...query, cursor: nextCursor }, { push: true }) } }, 'Next page') : null);
}

/** Set when the last search had a whole key's secret part left out (said once, with its result). */
let keyStripped = false;

export async function render(main, _params, query, ctx) {
  document.title = 'Accounts · Warden';
  // A whole key in the URL (a link someone shared): replaced by its prefix before anything is sent.
  const prefixInUrl = query.q ? keyPrefixOf(query.q.trim()) : null;
  if (prefixInUrl) { keyStripped = true; ctx.setQuery({ ...query, q: prefixInUrl }); return; }
  const q = h('input', { id: 'account-search', name: 'q', type: 'search', value: query.q ?? '', placeholder: 'id, name, email, domain, IP or key prefix', autocomplete: 'off', spellcheck: 'false' });
  const status = h('select', { id: 'account-status', name: 'status' }, [['', 'Any status'], ['active', 'Active'], ['suspended', 'Suspended']].map(([v, l]) => h('option', { value: v, selected: (query.status ?? '') === v }, l)));
  const tier = h('select', { id: 'account-tier', name: 'tier' }, [['', 'Any tier'], ...TIERS.map((t) => [t, t.replace('_', ' ')])].map(([v, l]) => h('option', { value: v, selected: (query.tier ?? '') === v }, l)));
  const form = h('form', { class: 'filters', role: 'search', on: { submit: (e) => {
    e.preventDefault();
    let text = q.value.trim();
    const prefix = keyPrefixOf(text);
    if (prefix) {
      // A leaked key pasted whole: searched by its prefix; the secret stays out of the URL and off the server.
      text = prefix;
      q.value = prefix;
      keyStripped = true;
    }
    ctx.setQuery({ q: text, status: status.value, tier: tier.value });
  } } },
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
      const stripped = keyStripped ? 'The key’s secret part was left out: searched by its prefix. ' : '';
      announce(stripped + (note ?? (found.key ? `Key ${found.key.prefix} belongs to account ${found.key.account_id}.` : n ? `${fmtInt(n)} account${n === 1 ? ' matches' : 's match'} “${query.q}”.` : `No accounts match “${query.q}”.`)));
      keyStripped = false;
      const traffic = looksLikeIp(query.q) && !query.cursor ? h('div', null, loading('Looking for requests from this address…')) : null;
      replace(result,
        panel(looksLikeIp(query.q) ? `Accounts that signed up from ${query.q}` : `Accounts matching “${query.q}”`,
          stripped ? h('p', { class: 'help', text: stripped }) : null, found.key ? keyNote(found.key) : null,
          accountsTable(found.accounts, 'Matching accounts'),
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
        })) : null,
        traffic);
      if (traffic) await trafficFrom(traffic, query.q, ctx);
      return;
    }
    const page = await get('/admin/accounts', { limit: PAGE, status: query.status, tier: query.tier, cursor: query.cursor });
    if (!ctx.isCurrent()) return;
    replace(result, panel('Newest accounts', accountsTable(page.data, 'Accounts, newest first'), pager(query, page.next_cursor, ctx)));
  } catch (err) {
    replace(result, errorBox(err));
  }
}
