// The detector's routes as the dashboard finds them (GET /admin/dashboard/features), and what the
// campaign and cluster pages share: their members, paged, each a link to its account page.
import { h, replace, table, link, shortId, fmtInt } from './dom.js';

/** The path of a detector route (`GET` unless said), by how it ends, or null when it is not mounted. */
export function detectRoute(features, suffix, method = 'GET') {
  return (features.detect?.routes ?? []).find((r) => r.method === method && r.path.endsWith(suffix))?.path ?? null;
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
