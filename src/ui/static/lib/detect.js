// The detector's routes as the dashboard finds them (GET /admin/dashboard/features), and what the
// campaign and cluster pages share: their members, paged, each a link to its account page.
import { h, replace, table, link, shortId, fmtInt, levelBadge, when, loading, errorBox } from './dom.js';
import { get } from './api.js';
import { describeSignal } from './signals.js';
import { detectLink } from './json.js';
import { accountCell } from './names.js';

/** The path of a detector route (`GET` unless said), by how it ends, or null when it is not mounted. */
export function detectRoute(features, suffix, method = 'GET') {
  return (features.detect?.routes ?? []).find((r) => r.method === method && r.path.endsWith(suffix))?.path ?? null;
}

/**
 * Why this server has no detector, cases or intel pages, as a paragraph: on a detector replica
 * the worker node serves them, and the server names it (host, pid, port, from its lease); an
 * operator behind a load balancer lands on a replica as often as not. `otherwise` elsewhere.
 */
export function notHereNote(features, otherwise) {
  const replica = features.detect?.replica;
  return replica
    ? h('p', { class: 'warning', text: `${replica[0].toUpperCase()}${replica.slice(1)}. Open the dashboard on that node.` })
    : h('p', { text: otherwise });
}

/** A route path with its `:id` filled in. */
export const withId = (path, id) => path.replace(/:[A-Za-z_]+/, encodeURIComponent(id));

const PAGE = 100;

/**
 * Every member, 100 at a time with a button for the next hundred (a campaign of thousands stays
 * readable); each one links to its account page.
 */
export function membersList(members, { total = members.length, caption = 'Member accounts' } = {}) {
  const box = h('div');
  const show = (n) => {
    const shown = members.slice(0, n);
    const more = members.length > n
      ? h('button', { type: 'button', class: 'btn btn-small', 'data-focus': 'more-members', on: { click: () => show(n + PAGE) } }, `Show ${fmtInt(Math.min(PAGE, members.length - n))} more`)
      : null;
    replace(box,
      table({ caption, rows: shown.map((id, i) => ({ id, n: i + 1 })), empty: 'No member.', columns: [
        { label: '#', num: true, value: (m) => fmtInt(m.n) },
        { label: 'Account', value: (m) => link(`/accounts/${encodeURIComponent(m.id)}`, m.id, { title: `Account ${m.id}` }) },
      ] }),
      h('p', { class: 'more-note' }, h('span', { class: 'muted', text: `Showing ${fmtInt(shown.length)} of ${fmtInt(total)} accounts${total > members.length ? ` (this server lists the first ${fmtInt(members.length)})` : ''}. ` }), more));
  };
  show(PAGE);
  return box;
}

/** What a lookup of a merged-away id answered (`merged_from`, or an id that is not the one asked for). */
export function mergedNote(kind, asked, found) {
  const from = Array.isArray(found.merged_from) ? found.merged_from : found.merged_from ? [found.merged_from] : [];
  const notes = [];
  if (asked !== found.id && asked !== found.cluster_id) notes.push(`${asked} was merged into this ${kind}: its accounts linked up with this one’s. This page shows the ${kind} that holds them now.`);
  if (from.length) notes.push(`It absorbed: ${from.join(', ')}.`);
  if (found.merged_note) notes.push(String(found.merged_note));
  return notes.length ? h('p', { class: 'warning', role: 'note', text: notes.join(' ') }) : null;
}

/** The page for an id the detector no longer (or never) knew. */
export function notFound(kind, id, listLink) {
  return [
    h('h1', { text: `No ${kind} ${shortId(id)}` }),
    h('p', { role: 'alert', text: `The detector names no ${kind} ${id} now. It may have fallen back to none and been dropped, or merged into another one whose id this server does not resolve; an account that was in it shows where it is now, on its own page.` }),
    h('p', null, listLink),
  ];
}

export { accountCell } from './names.js';

/** The orders the detector's account listing offers (`GET /admin/detect/accounts?sort=`), each most first. */
export const ACCOUNT_SORTS = [['level', 'Level'], ['score', 'Score'], ['requests', 'Requests'], ['last_seen', 'Last seen']];

/** A score to three decimals, or a dash (an operator's verdict has none). */
const score = (v) => (v === null || v === undefined ? h('span', { class: 'muted', text: '—' }) : String(Math.round(v * 1000) / 1000));

/** The strongest behaviour signal of an account, in plain words, with its id and value on hover. */
function strongestSignal(s) {
  if (!s) return h('span', { class: 'muted', text: 'none above its threshold' });
  return h('span', { class: 'signal', title: `${s.signal} = ${s.value} (adds ${s.contribution})` }, describeSignal(s.signal).name);
}

/**
 * Accounts as the detector lists them (`GET /admin/detect/accounts`): level, score, cluster,
 * campaign, requests, last seen and strongest signal, each account a link to its page. With
 * `onSort`, the sortable columns' headers are buttons that order the list by them (most first).
 */
export function accountRowsTable(rows, { caption, sort = null, onSort = null, cluster = true, campaign = true, empty = 'No account.' }) {
  const sortable = (key, label) => {
    if (!onSort) return { label, sort: undefined };
    const active = sort === key;
    return {
      // The header's aria-sort says the order ("sorted descending"); the arrow is for the eye only,
      // so the button is read as "Requests", not "Requests, black down-pointing triangle, pressed".
      label: h('button', { type: 'button', class: 'th-sort', 'data-focus': `sort-${key}`, on: { click: () => onSort(key) } }, label, active ? h('span', { 'aria-hidden': 'true', text: ' ▾' }) : null),
      sort: active ? 'descending' : 'none',
    };
  };
  return table({ caption, rows, empty, columns: [
    { label: 'Account', value: accountCell },
    { ...sortable('level', 'Level'), value: (a) => levelBadge(a.level) },
    { ...sortable('score', 'Score'), num: true, title: 'The score of the verdict in force (the account’s own harvest score when an operator decided)', value: (a) => score(a.score ?? a.account_score) },
    cluster ? { label: 'Cluster', value: (a) => detectLink('cluster', a.cluster_id) } : null,
    campaign ? { label: 'Campaign', value: (a) => detectLink('campaign', a.campaign_id) } : null,
    { ...sortable('requests', 'Requests'), num: true, value: (a) => fmtInt(a.requests) },
    { ...sortable('last_seen', 'Last seen'), value: (a) => when(a.last_seen) },
    { label: 'Strongest signal', value: (a) => strongestSignal(a.top_signal) },
  ].filter(Boolean) });
}

/**
 * Every member of a campaign or a cluster with its level, last seen, requests and strongest
 * signal (the detector's account listing, 100 at a time with a button for the next hundred);
 * on a server without that listing, the ids alone (membersList).
 */
export function memberRows(features, filter, members, { total = members.length, caption }) {
  const route = detectRoute(features, '/detect/accounts');
  if (!route) return membersList(members, { total, caption });
  const box = h('div', null, loading());
  const rows = [];
  const more = async () => {
    const page = await get(route, { ...filter, limit: PAGE, offset: rows.length });
    rows.push(...page.data);
    const left = page.total - rows.length;
    replace(box,
      accountRowsTable(rows, { caption, empty: 'No member.', cluster: false, campaign: false }),
      h('p', { class: 'more-note' }, h('span', { class: 'muted', text: `Showing ${fmtInt(rows.length)} of ${fmtInt(page.total)} accounts, most severe first. ` }),
        left > 0 ? h('button', { type: 'button', class: 'btn btn-small', 'data-focus': 'more-members', on: { click: (e) => { e.currentTarget.disabled = true; more().catch((err) => replace(box, errorBox(err))); } } }, `Show ${fmtInt(Math.min(PAGE, left))} more`) : null));
  };
  more().catch((err) => replace(box, errorBox(err)));
  return box;
}
