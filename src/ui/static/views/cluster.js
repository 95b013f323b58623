// One cluster of linked accounts: its level and why (the signals with value, threshold and weight),
// its campaign, every member with a link to its page, and the operator's verdict on it, set,
// changed or cleared from here with a reason (recorded with who did it).
import { h, replace, panel, facts, levelBadge, when, link, shortId, fmtInt, fmtTime, toast, modal, askReason, durationField } from '../lib/dom.js';
import { api, get, post } from '../lib/api.js';
import { reasonsTable, detectLink } from '../lib/json.js';
import { detectRoute, withId, memberRows, mergedNote, notFound, notHereNote } from '../lib/detect.js';

const VERDICT_LEVELS = ['none', 'watch', 'throttle', 'shape', 'verify', 'suspend'];

export async function render(main, [id], _query, ctx) {
  document.title = 'Cluster · Warden';
  const route = detectRoute(ctx.features, '/clusters/:id');
  const back = link('/detector', 'Back to the detector');
  if (!route) { replace(main, h('h1', { text: `Cluster ${id}` }), notHereNote(ctx.features, 'The detector’s routes are not mounted on this server.'), h('p', null, back)); return; }
  let c;
  try { c = await get(withId(route, id)); } catch (err) {
    if (err.status !== 404) throw err;
    if (ctx.isCurrent()) replace(main, notFound('cluster', id, back));
    return;
  }
  if (!ctx.isCurrent()) return;
  document.title = `Cluster ${c.id} · Warden`;
  const verdictsRoute = detectRoute(ctx.features, '/detect/verdicts', 'POST');
  const decisionBox = h('div');
  const size = c.size ?? c.members.length;
  replace(main,
    h('p', { class: 'crumbs' }, link('/detector', 'Detector'), ' / cluster'),
    h('div', { class: 'page-head' }, h('h1', { text: `Cluster ${c.id}` }), levelBadge(c.level)),
    mergedNote('cluster', id, c),
    h('div', { class: 'grid-2' },
      panel('Cluster', facts([
        ['Cluster', h('code', { text: c.id })],
        ['Level', levelBadge(c.level)],
        ['Score', String(c.score)],
        ['Accounts', fmtInt(size)],
        ['Distinct actors', fmtInt(c.actors)],
        ['Requests', fmtInt(c.requests)],
        ['Flagged', c.flagged_at ? when(c.flagged_at) : 'not flagged'],
        ['Campaign', c.campaign_id ? detectLink('campaign', c.campaign_id) : 'none (a cluster becomes a campaign at throttle)'],
      ])),
      panel('Operator verdict', verdictsRoute ? decisionBox : h('p', { class: 'muted', text: 'Operator verdicts are not mounted on this server.' }))),
    panel('Why: the signals behind its level', reasonsTable(c.reasons, 'Signals of this cluster')),
    panel(`Accounts (${fmtInt(size)})`, h('p', { class: 'help', text: 'Accounts linked by shared evidence (payment, signup network, software, prompts). Each links to its page: its own verdict, the link that brought it here, its traffic.' }),
      memberRows(ctx.features, { cluster: c.id }, c.members, { total: size, caption: 'Accounts of this cluster' })));
  if (verdictsRoute) await loadDecision(decisionBox, c, verdictsRoute, () => ctx.setQuery({}));
}

/** The operator verdict on this cluster (one set on a cluster merged into it included), with set, change and clear. */
async function loadDecision(box, c, route, reload) {
  const all = (await get(route)).data.filter((v) => v.subject.kind === 'cluster' && (v.subject.id === c.id || v.merged_into === c.id))
    .sort((a, b) => VERDICT_LEVELS.indexOf(b.level) - VERDICT_LEVELS.indexOf(a.level));
  const own = all.find((v) => v.subject.id === c.id) ?? null;
  const act = async (work, done) => { try { await work(); toast(done); reload(); } catch (err) { toast(err.message, 'bad'); } };
  const setVerdict = async () => {
    const choice = await modal(own ? 'Change the cluster’s operator verdict' : 'Set an operator verdict on this cluster', (close) => {
      const level = h('select', { id: 'op-level', name: 'level' }, VERDICT_LEVELS.map((l) => h('option', { value: l, selected: l === (own?.level ?? 'throttle') }, l)));
      const reason = h('textarea', { id: 'op-reason', name: 'note', required: true, rows: 2, maxlength: 500, value: own?.reasons?.[0]?.detail ?? '' });
      const keep = own?.expires_at ? h('input', { type: 'checkbox', id: 'op-keep-expiry', name: 'keep_expiry', checked: true }) : null;
      const duration = durationField('op-for');
      const submit = (e) => {
        e.preventDefault();
        if (!reason.value.trim()) return;
        const expiresAt = keep?.checked ? own.expires_at : duration.expiresAt();
        close({ level: level.value, note: reason.value.trim(), ...(expiresAt ? { expires_at: expiresAt } : {}) });
      };
      return [h('form', { method: 'dialog', on: { submit } },
        h('p', { text: `It replaces the detector’s verdict on the cluster’s ${fmtInt(c.size ?? c.members.length)} accounts until it lapses (For how long) or is cleared; each account is held at the more severe of it and its own verdict (the allow-list exempts).` }),
        h('label', { for: 'op-level', text: 'Level' }), level,
        h('label', { for: 'op-reason', text: 'Reason (recorded with the verdict)' }), reason,
        duration.label, duration.select,
        keep ? h('p', { class: 'inline-check' }, keep, h('label', { for: 'op-keep-expiry', text: `Keep it until ${fmtTime(own.expires_at)} (unticked: for how long is chosen above)` })) : null,
        h('div', { class: 'actions' }, h('button', { type: 'button', class: 'btn', on: { click: () => close(null) } }, 'Cancel'), h('button', { type: 'submit', class: 'btn btn-primary' }, 'Set verdict')))];
    });
    if (!choice) return;
    await act(async () => {
      const r = await post(route, { kind: 'cluster', id: c.id, ...choice });
      // Whom the allow-list keeps it from is said, not left to be found out.
      if (r.not_reached?.length) toast(`${r.not_reached.length} member(s) on the allow-list are not reached: ${r.not_reached.map((n) => n.account).slice(0, 5).join(', ')}`, 'info');
    }, `Operator verdict on the cluster set: ${choice.level}.`);
  };
  const clearVerdict = async () => {
    const reason = await askReason('Clear the cluster’s operator verdict?', 'The detector’s own verdict applies to its accounts again.', 'Clear verdict');
    if (reason !== null) await act(() => api('DELETE', route, { query: { kind: 'cluster', id: c.id, reason } }), 'Operator verdict on the cluster cleared.');
  };
  const detail = (v) => [v.reasons?.[0]?.detail, v.reasons?.[0]?.by ? `set by ${v.reasons[0].by}` : null, v.expires_at ? `until ${fmtTime(v.expires_at)}` : null].filter(Boolean).join(' · ');
  replace(box,
    h('p', null, 'Operator verdict: ', own ? levelBadge(own.level) : h('span', { class: 'muted', text: 'none: the detector’s verdict applies' }),
      own && detail(own) ? h('span', { class: 'muted', text: ` — ${detail(own)}` }) : null),
    all.filter((v) => v !== own).map((v) => h('p', { class: 'inherited' }, `Carried from ${shortId(v.subject.id)}, merged into it: `, levelBadge(v.level), h('span', { class: 'muted', text: ` — ${detail(v)}` }))),
    h('p', { class: 'row-actions' },
      h('button', { type: 'button', class: 'btn btn-small', 'data-focus': 'cluster-verdict', 'data-focus-group': 'cluster-verdict', on: { click: setVerdict } }, own ? 'Change operator verdict' : 'Set operator verdict'),
      own ? h('button', { type: 'button', class: 'btn btn-small', 'data-focus': 'cluster-verdict-clear', 'data-focus-group': 'cluster-verdict', on: { click: clearVerdict } }, 'Clear operator verdict') : null));
}
