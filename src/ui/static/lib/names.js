// Who an account is, beside its id, wherever a table lists accounts: its name, email and
// organisation as the account store has them. A table's ids are named by one request
// (`GET /admin/dashboard/accounts`, 200 ids a call), not one per row. Names are the customer's
// own words: they are inserted as text, never as markup.
import { h, link } from './dom.js';
import { get } from './api.js';
import { detectLink } from './json.js';

/** Ids named by one call of the route. */
const NAMES_PER_CALL = 200;

/**
 * The names of `ids` (repeats and empty ones dropped): a Map from id to { name, email, org_id,
 * org_name }. An id the store does not hold is absent; a server without the route, or a refusal,
 * gives an empty Map: the table still shows the ids.
 */
export async function accountNames(ids) {
  const unique = [...new Set(ids.filter((id) => typeof id === 'string' && id))];
  const out = new Map();
  if (!unique.length) return out;
  const calls = [];
  for (let i = 0; i < unique.length; i += NAMES_PER_CALL) calls.push(get('/admin/dashboard/accounts', { ids: unique.slice(i, i + NAMES_PER_CALL).join(',') }));
  for (const r of await Promise.allSettled(calls)) {
    if (r.status === 'fulfilled') for (const n of r.value.data ?? []) out.set(n.id, n);
  }
  return out;
}

/**
 * An account in a list: its id, a link to its page, and under it who it is as the account store
 * has it (name, email, organisation by name), as the account page shows them. All of it is text:
 * a name is the customer's own words.
 */
export function accountCell(a) {
  const org = a.org_name ?? a.org_id ?? null;
  const who = [
    a.name ? h('span', { class: 'who-name', text: a.name }) : null,
    a.email ? h('span', { class: 'who-email muted', text: a.email }) : null,
    org ? h('span', { class: 'who-org muted', text: org, title: a.org_id ? `Organisation ${a.org_id}` : null }) : null,
  ].filter(Boolean);
  return [
    link(`/accounts/${encodeURIComponent(a.account_id)}`, a.account_id, { title: `Account ${a.account_id}` }),
    who.length ? h('span', { class: 'who' }, who) : null,
  ];
}

/** The cell of account `id` named from `names` (accountNames' Map): the id alone when it has no entry. */
export function namedAccount(id, names) {
  const n = names?.get(id);
  return accountCell({ account_id: id, name: n?.name ?? null, email: n?.email ?? null, org_id: n?.org_id ?? null, org_name: n?.org_name ?? null });
}

/** A verdict's subject (`kind` account, cluster, campaign, org): an account named from `names`, a cluster or campaign a link to its page. */
export function subjectCell(kind, id, names) {
  if (kind === 'account') return namedAccount(id, names);
  if (kind === 'cluster' || kind === 'campaign') return h('span', null, `${kind} `, detectLink(kind, id));
  return `${kind} ${id}`;
}
