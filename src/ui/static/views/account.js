// One account: signup facts, verdict and its explanation, usage, keys (create, rotate, revoke),
// its Message Batches (cancel one), the files it uploaded (delete one), recent interactions with
// their enforcement, and the change history.
import { h, replace, panel, facts, badge, when, link, shortId, kpi, fmtCompact, fmtInt, fmtPct, fmtTime, timeAgo, table, loading, errorBox, toast, askReason, modal, levelBadge, runButton, cutList, readLimit, durationField } from '../lib/dom.js';
import { api, get, post } from '../lib/api.js';
import { stackedBars } from '../lib/chart.js';
import { rangePicker, interactionsTable, usageTable, OUTCOME_SERIES, withErrors } from '../lib/widgets.js';
import { keysTable, createKeyForm } from '../lib/keys.js';
import { renderJson, renderVerdict, renderLink, indicatorsTable, isVerdict, detectLink } from '../lib/json.js';
import { statusTone } from './accounts.js';

const TIERS = ['unverified', 'email_verified', 'identity_verified', 'enterprise'];
const VERDICT_LEVELS = ['none', 'watch', 'throttle', 'shape', 'verify', 'suspend'];

/** The detector's write routes the CLI uses (`warden detect verdict|allow`), when this server mounts them. */
function detectWriteRoutes(features) {
  const routes = features.detect?.routes ?? [];
  const find = (suffix) => routes.find((r) => r.method === 'POST' && r.path.endsWith(suffix))?.path ?? null;
  const verdicts = find('/detect/verdicts');
  const allow = find('/detect/allow');
  return verdicts || allow ? { verdicts, allow } : null;
}

/**
 * Why the account is suspended: its latest change to suspended in the change history (who, when,
 * the reason given), and what that does, where an operator paged about a refused customer looks first.
 */
async function loadSuspension(box, id) {
  const changes = await get('/admin/changes', { subject_id: id, limit: 50 });
  const c = changes.data.find((x) => x.field === 'status' && x.new_value === 'suspended');
  replace(box, h('p', { class: 'warning', role: 'note' },
    c ? ['Suspended ', when(c.at), c.actor ? ` by ${c.actor}` : '', c.reason ? `: ${c.reason}` : ' (no reason recorded)']
      : 'Suspended (the change history does not say by whom)',
    '. Every key of the account is refused (WARDEN_ACCOUNT_SUSPENDED) until it is reactivated; Reactivate above lifts it at once.'));
}

/** "set by X" and "until <time>" of an operator verdict, or of an allow-list entry (nothing for what an older server does not say). */
function decisionDetails(note, by, expiresAt) {
  const parts = [];
  if (note) parts.push(h('span', { text: note }));
  if (by) parts.push(h('span', { text: `set by ${by}` }));
  if (expiresAt) parts.push(h('span', null, 'until ', when(expiresAt)));
  return parts.length ? h('span', { class: 'muted' }, ' — ', ...parts.flatMap((p, i) => (i ? [' · ', p] : [p]))) : null;
}

/**
 * The operator's detector decisions on this account: an operator verdict (replaces the detector's on
 * the account; the more severe of it and its cluster's applies)
 * and the allow-list (never above none), each applied and removed with a reason (recorded with
 * who did it, and shown in the change history); with who set each, until when, and those it inherits (its organisation on the
 * allow-list, an operator verdict on its cluster), which are changed from the CLI or the API.
 */
async function loadDecisions(box, id, orgId, routes, reload) {
  const accountView = routes.verdicts ? routes.verdicts.replace(/\/verdicts$/, `/accounts/${encodeURIComponent(id)}`) : null;
  const [verdicts, allowList, view] = await Promise.all([
    routes.verdicts ? get(routes.verdicts) : null,
    routes.allow ? get(routes.allow) : null,
    // Which cluster the account is in (404: the detector has not seen it, so it is in none).
    accountView ? get(accountView).catch((err) => { if (err.status === 404) return null; throw err; }) : null,
  ]);
  const mine = verdicts?.data.find((v) => v.subject.kind === 'account' && v.subject.id === id) ?? null;
  const clusterId = view?.cluster?.id ?? null;
  // The operator cluster verdict in force on its cluster (one set on a cluster merged into it included).
  const ofCluster = clusterId ? verdicts?.data.filter((v) => v.subject.kind === 'cluster' && (v.subject.id === clusterId || v.merged_into === clusterId))
    .sort((a, b) => VERDICT_LEVELS.indexOf(b.level) - VERDICT_LEVELS.indexOf(a.level))[0] ?? null : null;
  const allowed = allowList ? allowList.accounts.includes(id) : false;
  const entry = (kind, subject) => allowList?.entries?.find((e) => e.kind === kind && e.id === subject) ?? null;
  // An org entry covers the accounts the org held when it was made unless it was made for later ones too (accounts: null).
  const orgListed = allowList && orgId ? allowList.orgs.includes(orgId) : false;
  const orgEntry = orgListed ? entry('org', orgId) : null;
  const orgAllowed = orgListed && (!Array.isArray(orgEntry?.accounts) || orgEntry.accounts.includes(id));
  const act = async (work, done) => { try { await work(); toast(done); reload(); } catch (err) { toast(err.message, 'bad'); } };
  const setVerdict = async () => {
    const choice = await modal(mine ? 'Change the operator verdict' : 'Set an operator verdict', (close) => {
      const level = h('select', { id: 'op-level', name: 'level' }, VERDICT_LEVELS.map((l) => h('option', { value: l, selected: l === (mine?.level ?? 'throttle') }, l)));
      const reason = h('textarea', { id: 'op-reason', name: 'note', required: true, rows: 2, maxlength: 500, value: mine?.reasons?.[0]?.detail ?? '' });
      // A verdict set for a time (warden detect verdict --for) keeps its expiry unless the operator lets it go.
      const keep = mine?.expires_at ? h('input', { type: 'checkbox', id: 'op-keep-expiry', name: 'keep_expiry', checked: true }) : null;
      const duration = durationField('op-for');
      const submit = (e) => {
        e.preventDefault();
        if (!reason.value.trim()) return;
        const expiresAt = keep?.checked ? mine.expires_at : duration.expiresAt();
        close({ level: level.value, note: reason.value.trim(), ...(expiresAt ? { expires_at: expiresAt } : {}) });
      };
      return [h('form', { method: 'dialog', on: { submit } },
        h('p', { text: `It replaces the detector’s own verdict on this account until it lapses (For how long) or is cleared; it does not lower what its cluster is held at (the allow-list exempts).` }),
        h('label', { for: 'op-level', text: 'Level' }), level,
        h('label', { for: 'op-reason', text: 'Reason (recorded with the verdict)' }), reason,
        duration.label, duration.select,
        keep ? h('p', { class: 'inline-check' }, keep, h('label', { for: 'op-keep-expiry', text: `Keep it until ${fmtTime(mine.expires_at)} (unticked: for how long is chosen above)` })) : null,
        h('div', { class: 'actions' }, h('button', { type: 'button', class: 'btn', on: { click: () => close(null) } }, 'Cancel'), h('button', { type: 'submit', class: 'btn btn-primary' }, 'Set verdict')))];
    });
    if (!choice) return;
    // A verify verdict on an account already identity verified does not refuse it: the answer says so, and so does the toast.
    try {
      const set = await post(routes.verdicts, { kind: 'account', id, ...choice });
      const warning = (set?.not_enforced ?? []).map((n) => n.detail).join(' ');
      toast(`Operator verdict set: ${choice.level}${choice.expires_at ? `, until ${fmtTime(choice.expires_at)}` : ''}.${warning ? ` Warning: ${warning}` : ''}`, warning ? 'bad' : undefined);
      reload();
    } catch (err) { toast(err.message, 'bad'); }
  };
  // Clearing and removing ask for a reason, as setting does: it is recorded with who did it.
  const clearVerdict = async () => {
    const reason = await askReason('Clear the operator verdict?', ofCluster ? 'The operator verdict on its cluster applies to this account again.' : 'The detector’s own verdict applies to this account again.', 'Clear verdict');
    if (reason !== null) await act(() => api('DELETE', routes.verdicts, { query: { kind: 'account', id, reason } }), 'Operator verdict cleared.');
  };
  const allow = async () => {
    const note = await askReason('Allow-list this account?', 'The detector never takes it above none, whatever its traffic or cluster.', 'Allow-list', 'primary');
    if (note !== null) await act(() => post(routes.allow, { account: id, note }), 'Account allow-listed.');
  };
  const disallow = async () => {
    const text = orgAllowed ? 'Its organisation stays on the allow-list, so the detector still keeps it at none.' : 'The detector judges this account again from its next request.';
    const reason = await askReason('Remove from the allow-list?', text, 'Remove');
    if (reason !== null) await act(() => api('DELETE', routes.allow, { query: { account: id, reason } }), 'Removed from the allow-list.');
  };
  // An evaluation partner is an organisation: its entry covers the accounts it holds now, or every later one too.
  const allowOrg = async () => {
    const choice = await modal('Allow-list its organisation?', (close) => {
      const note = h('textarea', { id: 'org-allow-reason', name: 'note', required: true, rows: 2, maxlength: 500 });
      const later = h('input', { type: 'checkbox', id: 'org-allow-later', name: 'new_accounts' });
      const submit = (e) => { e.preventDefault(); if (note.value.trim()) close({ note: note.value.trim(), new_accounts: later.checked }); };
      return [h('form', { method: 'dialog', on: { submit } },
        h('p', { text: `The detector never takes the accounts of organisation ${orgId} above none, whatever their traffic or cluster (an evaluation partner whose benchmark runs look like harvesting).` }),
        h('label', { for: 'org-allow-reason', text: 'Reason (recorded with the entry)' }), note,
        h('p', { class: 'inline-check' }, later, h('label', { for: 'org-allow-later', text: 'Also accounts created in or moved into it later (unticked: the accounts it holds now)' })),
        h('div', { class: 'actions' }, h('button', { type: 'button', class: 'btn', on: { click: () => close(null) } }, 'Cancel'), h('button', { type: 'submit', class: 'btn btn-primary' }, 'Allow-list the organisation')))];
    });
    if (choice) await act(() => post(routes.allow, { org: orgId, ...choice }), `Organisation ${orgId} allow-listed${choice.new_accounts ? ', its later accounts included' : ''}.`);
  };
  const disallowOrg = async () => {
    const text = `The detector judges the accounts of ${orgId} again from their next requests${allowed ? '; this account stays on the allow-list by its own entry' : ''}.`;
    const reason = await askReason('Remove its organisation from the allow-list?', text, 'Remove');
    if (reason !== null) await act(() => api('DELETE', routes.allow, { query: { org: orgId, reason } }), `Organisation ${orgId} removed from the allow-list.`);
  };
  const own = entry('account', id);
  const viaOrg = entry('org', orgId);
  replace(box,
    routes.verdicts ? h('div', { class: 'decision' },
      h('p', null, 'Operator verdict: ', mine ? levelBadge(mine.level) : h('span', { class: 'muted', text: 'none' }),
        mine ? decisionDetails(mine.reasons?.[0]?.detail, mine.reasons?.[0]?.by, mine.expires_at) : null),
      ofCluster ? h('p', { class: 'inherited' }, 'Inherited from its cluster ', detectLink('cluster', clusterId), `${mine ? ' (the more severe of the two is enforced)' : ''}: `, levelBadge(ofCluster.level),
        decisionDetails(ofCluster.reasons?.[0]?.detail, ofCluster.reasons?.[0]?.by, ofCluster.expires_at),
        h('span', { class: 'muted' }, ' (change it on ', link(`/clusters/${encodeURIComponent(clusterId)}`, 'the cluster’s page'), ')')) : null,
      clusterId && !ofCluster ? h('p', { class: 'inherited' }, 'Its cluster: ', detectLink('cluster', clusterId), view?.cluster?.campaign_id ? [', campaign ', detectLink('campaign', view.cluster.campaign_id)] : null,
        h('span', { class: 'muted', text: ' (an operator verdict on the whole cluster is set on its page)' })) : null,
      h('p', { class: 'row-actions' },
        h('button', { type: 'button', class: 'btn btn-small', 'data-focus': 'op-verdict', 'data-focus-group': 'op-verdict', on: { click: setVerdict } }, mine ? 'Change operator verdict' : 'Set operator verdict'),
        mine ? h('button', { type: 'button', class: 'btn btn-small', 'data-focus': 'op-verdict-clear', 'data-focus-group': 'op-verdict', on: { click: clearVerdict } }, 'Clear operator verdict') : null)) : null,
    routes.allow ? h('div', { class: 'decision' },
      h('p', null, 'Allow-list: ', allowed ? badge('allow-listed', 'ok') : orgAllowed ? badge('allow-listed through its organisation', 'ok') : h('span', { class: 'muted', text: 'not on it' }),
        allowed ? decisionDetails(own?.note, own?.by, own?.expires_at) : null),
      orgAllowed ? h('p', { class: 'inherited' }, `Inherited: its organisation ${orgId} is on the allow-list`, decisionDetails(viaOrg?.note, viaOrg?.by, viaOrg?.expires_at),
        viaOrg?.new_accounts === true ? h('span', { class: 'muted', text: '. The entry covers every account in the organisation, including accounts created in or moved into it after it was made.' })
          : Array.isArray(viaOrg?.accounts) ? h('span', { class: 'muted', text: `. The entry covers the ${fmtInt(viaOrg.accounts.length)} account(s) the organisation held when it was made; accounts created in or moved into it later are not covered.` }) : null,
        null) : null,
      orgListed && !orgAllowed ? h('p', { class: 'inherited' }, `Its organisation ${orgId} is on the allow-list, but the entry covers only the ${fmtInt(orgEntry.accounts.length)} account(s) the organisation held when it was made (${orgEntry.created_at}): not this one, which the detector judges as any other.`) : null,
      h('p', { class: 'row-actions' }, allowed
        ? h('button', { type: 'button', class: 'btn btn-small', 'data-focus': 'allow-remove', 'data-focus-group': 'allow', on: { click: disallow } }, 'Remove from the allow-list')
        : h('button', { type: 'button', class: 'btn btn-small', 'data-focus': 'allow-add', 'data-focus-group': 'allow', on: { click: allow } }, orgAllowed ? 'Add the account itself to the allow-list' : 'Add to the allow-list'),
        orgId ? h('button', { type: 'button', class: 'btn btn-small', 'data-focus': 'allow-org', 'data-focus-group': 'allow', on: { click: orgListed ? disallowOrg : allowOrg } },
          orgListed ? 'Remove its organisation from the allow-list' : 'Allow-list its organisation') : null)) : null);
}

/** An allow-listed account's shadow verdict: the level, the verdict that would decide, its signals and the cluster, without the allow-list. */
function renderShadow(shadow) {
  const entry = shadow.exempt_by.kind === 'org' ? `its organisation ${shadow.exempt_by.id}’s allow-list entry` : 'its own allow-list entry';
  return h('section', { class: 'shadow-verdict' },
    h('h3', { text: 'Without the allow-list' }),
    h('p', null, `If ${entry} were removed or lapsed, the account would be held at `, levelBadge(shadow.level), '.',
      shadow.cluster ? h('span', null, ' Its cluster ', detectLink('cluster', shadow.cluster.id), ' is at ', levelBadge(shadow.cluster.level), ` (${fmtInt(shadow.cluster.size)} accounts, ${fmtInt(shadow.cluster.actors)} actors)`,
        shadow.cluster.campaign_id ? [', campaign ', detectLink('campaign', shadow.cluster.campaign_id)] : null, '.') : null),
    h('p', { class: 'precedence', text: shadow.precedence.summary }),
    shadow.verdict ? renderVerdict(shadow.verdict) : null);
}

/** Detector routes about one account, e.g. GET /admin/detect/accounts/:id. */
function accountDetectRoutes(features) {
  return (features.detect?.routes ?? []).filter((r) => r.method === 'GET' && /\/accounts\/:[A-Za-z_]+(\/[a-z_-]+)?$/.test(r.path));
}

/**
 * The verdict panel: the verdict recorded in force on the latest interaction and, when the
 * detector's routes are mounted, its own view (which verdict decides, why, the link that put the
 * account in its cluster, every signal measured).
 */
/**
 * An account held at suspend by a verdict (its status may well be active: the verdict refuses it
 * all the same), said at the top of its page: what decided it, the operator's reason and who set
 * it, and a button to the operator decisions where it is lifted. Empty otherwise.
 */
function heldNote(box, view, decisions) {
  if (view?.level !== 'suspend') { replace(box); return; }
  const v = view.verdict;
  const reason = v?.source === 'operator' ? v.reasons?.[0] : null;
  replace(box, h('p', { class: 'warning', role: 'note' },
    `Refused as suspended: ${view.precedence?.summary ?? 'the verdict in force is suspend'}`,
    reason?.detail ? `: “${reason.detail}”` : '', reason?.by ? `, set by ${reason.by}` : '',
    v?.expires_at ? [', until ', when(v.expires_at)] : '',
    v?.source === 'operator' ? '. Every request of the account is refused until it is cleared or lapses. ' : '. Its signals are under Verdict below. ',
    decisions ? h('button', { type: 'button', class: 'btn btn-small', on: { click: () => { decisions.scrollIntoView({ block: 'start' }); decisions.focus({ preventScroll: true }); } } }, 'Go to the operator decisions') : null));
}

async function loadVerdict(verdictBox, id, features, onView = () => {}) {
  const routes = accountDetectRoutes(features);
  const recent = await get('/admin/usage/interactions', { account_id: id, limit: 1 }).catch(() => ({ data: [] }));
  const inForce = recent.data[0]?.enforcement?.verdict ?? null;
  const parts = [h('p', null, 'In force at the latest interaction: ', levelBadge(inForce ?? 'none'), recent.data[0] ? h('span', { class: 'muted' }, ' (', when(recent.data[0].ts), ')') : null)];
  if (!routes.length) {
    parts.push(h('p', { class: 'muted', text: 'The detector’s explanations appear here when its admin routes are mounted on this server.' }));
  }
  for (const r of routes) {
    try {
      const v = await get(r.path.replace(/:[A-Za-z_]+/, encodeURIComponent(id)));
      const verdict = isVerdict(v) ? v : isVerdict(v?.verdict) ? v.verdict : null;
      onView(v);
      // Which verdict decides and which it outranks (an operator's milder account verdict under a suspended cluster, say).
      if (v?.precedence?.summary) parts.push(h('p', { class: 'precedence', text: v.precedence.summary }));
      parts.push(verdict ? renderVerdict(verdict) : renderJson(v, `Detector: ${r.path}`));
      // Allow-listed: what the detector would hold it at without the entry (it keeps scoring the account).
      if (v?.shadow) parts.push(renderShadow(v.shadow));
      // What a false positive is checked on: the link that put it in its cluster, and every signal, not only those over their threshold.
      if (verdict) parts.push(renderLink(v.link), indicatorsTable(v.indicators));
    } catch (err) {
      if (err.status !== 404) parts.push(errorBox(err));
      else parts.push(h('p', { class: 'muted', text: 'The detector has not seen this account.' }));
    }
  }
  replace(verdictBox, parts);
}

const METER_NAMES = { requests: 'Requests / min', tokens_per_minute: 'Tokens / min', tokens_per_day: 'Tokens / day', input_tokens_per_minute: 'Input tokens / min', output_tokens_per_minute: 'Output tokens / min', concurrency: 'Concurrent requests', daily_budget: 'Daily budget', monthly_budget: 'Monthly budget' };
const meterName = (kind, model) => `${METER_NAMES[kind] ?? kind}${model ? ` (${model})` : ''}`;
const amount = (x, unit) => (unit === 'usd' ? `$${x}` : fmtInt(x));

/**
 * Its limits as they stand now (`GET /admin/limits/accounts/:id`): which meter would refuse its next
 * request and when it would pass, every meter's limit, use and room, and the refusals of the last
 * hour and day by the limit that refused them: what a customer's "we get 429s" is answered with.
 */
async function loadLimits(box, id, path) {
  try {
    const x = await get(path.replace(':id', encodeURIComponent(id)));
    const next = `The next request (${fmtInt(x.probe.tokens)} tokens)`;
    const verdictLine = x.refusing
      ? h('p', { class: 'limits-refusing', role: 'status' }, badge('refused', 'bad'), ` ${next} would be refused by the `, h('strong', { text: `${x.refusing.scope} ${meterName(x.refusing.kind, x.refusing.model)}` }),
        ` limit (${x.refusing.subject}): `, x.refusing.retry_after_s === null ? 'it can never pass (a limit of 0, or larger than the limit)' : `it would pass in ${fmtInt(x.refusing.retry_after_s)} s`, '.')
      : h('p', { class: 'limits-admitted', role: 'status' }, badge('admitted', 'ok'), ` ${next} would be admitted.`, x.tightest ? ` Least room: ${x.tightest.scope} ${meterName(x.tightest.kind, null)} (${fmtPct(x.tightest.remaining_share)} left).` : '');
    const refusalRows = new Map();
    for (const [w, win] of [['hour', x.refusals.account.last_hour], ['day', x.refusals.account.last_day]]) {
      for (const b of win.by) {
        const k = JSON.stringify([b.scope, b.kind, b.subject, b.model]);
        const row = refusalRows.get(k) ?? { ...b, hour: 0, day: 0 };
        row[w] = b.count;
        refusalRows.set(k, row);
      }
    }
    replace(box,
      verdictLine,
      facts([
        ['Tier (effective)', x.tier.replace('_', ' ')], ['Programme', x.programme], ['Organisation', x.org_id],
        ['Key', x.key ? h('span', null, h('code', { text: x.key.prefix }), h('span', { class: 'muted', text: ` (${x.key.chosen === 'given' ? 'given' : x.key.chosen === 'last_used' ? 'used last' : 'newest'})` })) : 'none usable'],
        ['Cluster charged', x.cluster_id ?? 'none'], ['Verdict', levelBadge(x.verdict_level)],
        ['Address', x.ip ? `${x.ip}${x.asn !== null ? ` (AS${x.asn})` : ''}` : 'none'], ['Model', x.model || '—'],
        ['Latest request', x.from_latest_request ? when(x.from_latest_request.ts) : 'none recorded'],
      ]),
      table({ caption: 'Every limit on its requests, as it stands now', captionHidden: false, rows: x.meters, columns: [
        { label: 'Scope', value: (m) => m.scope }, { label: 'Subject', value: (m) => h('code', { text: m.subject }) },
        { label: 'Meter', value: (m) => meterName(m.kind, m.model) },
        { label: 'Limit', num: true, value: (m) => `${amount(m.limit, m.unit)}${m.kind === 'requests' ? ` (burst ${fmtInt(m.burst)})` : ''}${m.multiplier !== 1 ? ` ×${m.multiplier}` : ''}` },
        { label: 'Used', num: true, value: (m) => amount(m.used, m.unit) }, { label: 'Left', num: true, value: (m) => amount(m.remaining, m.unit) },
        { label: 'Full again', value: (m) => (m.resets_at ? when(m.resets_at) : '—') },
        { label: 'Next request', value: (m) => (m.next_request === 'admitted' ? badge('admitted', 'ok') : m.next_request === 'never' ? badge('never', 'bad') : badge(`refused, ${m.retry_after_s} s`, 'bad')) },
      ] }),
      table({ caption: `Refusals by the limit that refused: ${fmtInt(x.refusals.account.last_hour.total)} in the last hour, ${fmtInt(x.refusals.account.last_day.total)} in the last day`, captionHidden: false,
        rows: [...refusalRows.values()].sort((a, b) => b.day - a.day), empty: 'No refusals by a limit in the last day.', columns: [
          { label: 'Scope', value: (r) => r.scope }, { label: 'Subject', value: (r) => h('code', { text: r.subject }) }, { label: 'Meter', value: (r) => meterName(r.kind, r.model) },
          { label: 'Last hour', num: true, value: (r) => fmtInt(r.hour) }, { label: 'Last day', num: true, value: (r) => fmtInt(r.day) },
        ] }),
      x.refusals.org ? h('p', { class: 'muted', text: `Its organisation’s requests: ${fmtInt(x.refusals.org.last_hour.total)} refused in the last hour, ${fmtInt(x.refusals.org.last_day.total)} in the last day.` }) : null);
  } catch (err) {
    replace(box, errorBox(err));
  }
}

export async function render(main, [id], query, ctx) {
  document.title = 'Account · Warden';
  let acct;
  try {
    acct = await get(`/admin/accounts/${encodeURIComponent(id)}`);
  } catch (err) {
    // A campaign's member the account store does not hold (erased, or known only from scanned
    // logs): what the detector concluded is still shown, where its links lead.
    if (err.status !== 404 || !ctx.isCurrent()) throw err;
    const verdictBox = h('div', null, loading());
    replace(main,
      h('p', { class: 'crumbs' }, link('/accounts', 'Accounts'), ' / ', shortId(id)),
      h('h1', { text: id }),
      h('p', { class: 'warning', role: 'note', text: 'The account store holds no account with this id (erased, or known only from logs the detector scanned): no signup facts, keys or usage to show; the detector’s view follows.' }),
      panel('Verdict', verdictBox));
    await loadVerdict(verdictBox, id, ctx.features).catch((e) => replace(verdictBox, errorBox(e)));
    return;
  }
  if (!ctx.isCurrent()) return;
  document.title = `${acct.name || acct.email || acct.id} · Warden`;
  const range = query.range ?? '24h';
  const reload = () => ctx.setQuery({ ...query });

  const actions = h('div', { class: 'row-actions' },
    acct.status === 'active'
      ? h('button', { type: 'button', class: 'btn btn-danger', 'data-focus': 'account-status', on: { click: async () => {
        const reason = await askReason('Suspend this account?', 'Every key of the account is refused at once, until it is reactivated.', 'Suspend');
        if (reason === null) return;
        try { await post(`/admin/accounts/${encodeURIComponent(id)}/suspend`, { reason }); toast('Account suspended.'); reload(); } catch (err) { toast(err.message, 'bad'); }
      } } }, 'Suspend')
      : h('button', { type: 'button', class: 'btn', 'data-focus': 'account-status', on: { click: async () => {
        const reason = await askReason('Reactivate this account?', 'Its unrevoked keys work again.', 'Reactivate', 'primary');
        if (reason === null) return;
        try { await post(`/admin/accounts/${encodeURIComponent(id)}/reactivate`, { reason }); toast('Account reactivated.'); reload(); } catch (err) { toast(err.message, 'bad'); }
      } } }, 'Reactivate'),
    h('button', { type: 'button', class: 'btn', 'data-focus': 'account-tier', on: { click: async () => {
      const change = await modal('Change verification tier', (close) => {
        const tier = h('select', { id: 'tier', name: 'tier' }, TIERS.map((t) => h('option', { value: t, selected: t === acct.tier }, t.replace('_', ' '))));
        const reason = h('textarea', { id: 'tier-reason', name: 'reason', required: true, rows: 2 });
        return [h('form', { method: 'dialog', on: { submit: (e) => { e.preventDefault(); if (reason.value.trim()) close({ tier: tier.value, reason: reason.value.trim() }); } } },
          h('label', { for: 'tier', text: 'Tier' }), tier,
          h('label', { for: 'tier-reason', text: 'Reason (recorded)' }), reason,
          h('div', { class: 'actions' }, h('button', { type: 'button', class: 'btn', on: { click: () => close(null) } }, 'Cancel'), h('button', { type: 'submit', class: 'btn btn-primary' }, 'Change tier')))];
      });
      if (!change) return;
      try { await post(`/admin/accounts/${encodeURIComponent(id)}/tier`, change); toast('Tier changed.'); reload(); } catch (err) { toast(err.message, 'bad'); }
    } } }, 'Change tier'));

  const verdictBox = h('div', null, loading());
  const decisionRoutes = detectWriteRoutes(ctx.features);
  const decisionsBox = h('div', null, loading());
  const usageBox = h('div', null, loading());
  const limitsPath = ctx.features.limits?.account ?? null;
  const limitsBox = h('div', null, loading());
  const keysBox = h('div', null, loading());
  const recentBox = h('div', null, loading());
  const batchesBox = h('div', null, loading());
  const filesBox = h('div', null, loading());
  const historyBox = h('div', null, loading());
  // Why a suspended account is refused, at the top of its page (on a phone the history is screens below).
  const suspensionBox = acct.status === 'suspended' ? h('div') : null;
  // Held at suspend by a verdict, whatever its status says; the heading of the decisions that lift it.
  const heldBox = h('div');
  const decisionsHeading = decisionRoutes ? h('h3', { text: 'Operator decisions', tabindex: '-1' }) : null;
  const includeRevoked = query.revoked === '1';

  replace(main,
    h('p', { class: 'crumbs' }, link('/accounts', 'Accounts'), ' / ', shortId(acct.id)),
    h('div', { class: 'page-head' },
      h('h1', null, acct.name || acct.email || acct.id),
      h('span', { class: 'badges' }, badge(acct.status, statusTone(acct.status)), badge(acct.tier.replace('_', ' '), 'info'), acct.programme !== 'none' ? badge(acct.programme, 'muted') : null),
      actions),
    suspensionBox,
    heldBox,
    h('div', { class: 'grid-2' },
      panel('Signup facts', facts([
        ['Account id', h('code', { text: acct.id })],
        ['Email', acct.email], ['Email domain', acct.email_domain],
        ['Organisation', acct.org_id ? link(`/usage?by=account&org_id=${encodeURIComponent(acct.org_id)}`, acct.org_id) : null],
        ['Created', acct.created_at ? when(acct.created_at) : null],
        ['First used', acct.first_used_at ? when(acct.first_used_at) : 'not recorded yet'],
        ['Signup IP', acct.signup_ip ? link(`/usage?by=account&ip=${encodeURIComponent(acct.signup_ip)}`, acct.signup_ip, { title: 'Traffic from this address' }) : null],
        ['Claimed country', acct.claimed_country],
        ['Payment fingerprint', acct.payment_fp ? h('code', { title: acct.payment_fp, text: `${acct.payment_fp.slice(0, 16)}…` }) : null],
        ['Signup user agent', acct.user_agent ?? null],
      ])),
      // The whole width: its tables of signals carry a sentence per row.
      Object.assign(panel('Verdict', verdictBox, decisionRoutes ? [decisionsHeading, decisionsBox] : null), { className: 'panel span-all' })),
    panel('Usage', h('div', { class: 'panel-tools' }, rangePicker(range, (r) => ctx.setQuery({ ...query, range: r }))), usageBox),
    limitsPath ? panel('Limits', limitsBox) : null,
    panel('API keys',
      createKeyForm({ accountId: acct.id, onCreated: reload }),
      h('p', { class: 'inline-check' },
        h('input', { type: 'checkbox', id: 'show-revoked', checked: includeRevoked, on: { change: (e) => ctx.setQuery({ ...query, revoked: e.target.checked ? '1' : undefined }) } }),
        h('label', { for: 'show-revoked', text: 'Show revoked and expired keys' })),
      keysBox),
    panel('Batches', h('p', { class: 'help', text: 'Batches this account sent (Anthropic /v1/messages/batches, OpenAI /v1/batches) and its background responses; each request runs through the gateway as the key that sent it, to the endpoint shown. Cancelling stops what has not run.' }), batchesBox),
    panel('Files', h('p', { class: 'help', text: 'Files this account uploaded: batch inputs, and files its requests name as input (sent to the upstream inline). Deleting one refuses every request that names it from then on.' }), filesBox),
    panel('Recent interactions', recentBox),
    panel('Change history', historyBox));

  const features = ctx.features;
  await Promise.all([
    suspensionBox ? loadSuspension(suspensionBox, id).catch((err) => replace(suspensionBox, errorBox(err))) : null,
    decisionRoutes ? loadDecisions(decisionsBox, acct.id, acct.org_id ?? null, decisionRoutes, reload).catch((err) => replace(decisionsBox, errorBox(err))) : null,
    loadVerdict(verdictBox, id, features, (view) => heldNote(heldBox, view, decisionsHeading)).catch((err) => replace(verdictBox, errorBox(err))),
    limitsPath ? loadLimits(limitsBox, id, limitsPath) : null,
    (async () => {
      const [summary, ips, models] = await Promise.all([
        get('/admin/usage/summary', { range, account_id: id }),
        get('/admin/usage/top', { range, account_id: id, by: 'ip', limit: 10 }),
        get('/admin/usage/top', { range, account_id: id, by: 'model', limit: 10 }),
      ]);
      const t = summary.totals;
      replace(usageBox,
        h('div', { class: 'kpis' },
          kpi('Requests', fmtCompact(t.requests)),
          kpi('Tokens in / out', `${fmtCompact(t.input_tokens)} / ${fmtCompact(t.output_tokens)}`, t.cached_input_tokens || t.cache_write_tokens ? `in: ${fmtCompact(t.cached_input_tokens ?? 0)} cache read, ${fmtCompact(t.cache_write_tokens ?? 0)} cache write` : null),
          kpi('Refused', t.requests ? fmtPct((t.limited + t.denied) / t.requests) : '—', `${fmtInt(t.limited)} limited, ${fmtInt(t.denied)} denied`),
          kpi('Client IPs', fmtInt(t.ips))),
        stackedBars({ title: 'Requests by outcome', points: withErrors(summary.series), bucketS: summary.bucket_s, series: OUTCOME_SERIES }),
        h('div', { class: 'grid-2' },
          h('div', null, h('h3', { text: 'From where' }), usageTable('ip', ips.data, { compact: true })),
          h('div', null, h('h3', { text: 'Models' }), usageTable('model', models.data, { compact: true }))));
    })().catch((err) => replace(usageBox, errorBox(err))),
    (async () => {
      const keys = await get('/admin/keys', { account_id: id, include_revoked: includeRevoked ? 'true' : undefined, limit: 200 });
      replace(keysBox, keysTable(keys.data, { onChange: reload, caption: 'API keys of this account' }));
    })().catch((err) => replace(keysBox, errorBox(err))),
    loadRecent(recentBox, id, query, ctx),
    loadBatches(batchesBox, id),
    loadFiles(filesBox, id),
    (async () => {
      // The account's own changes and those of its keys (created, rotated, revoked), newest first.
      const keys = await get('/admin/keys', { account_id: id, include_revoked: 'true', limit: 20 });
      const pages = await Promise.all([id, ...keys.data.map((k) => k.id)].map((subject) => get('/admin/changes', { subject_id: subject, limit: 50 })));
      const keyPrefix = new Map(keys.data.map((k) => [k.id, k.prefix]));
      // With the operator's detector decisions on the account (set, cleared), when this server logs them.
      const detectChanges = (features.detect?.routes ?? []).find((r) => r.method === 'GET' && r.path.endsWith('/detect/changes'))?.path;
      const decisions = detectChanges ? (await get(detectChanges, { limit: 1000 })).data.filter((c) => c.subject === id).map((c) => ({
        at: c.at, subject_type: 'detector', action: `${c.kind.startsWith('allow') ? 'allow-list' : 'operator verdict'} ${c.action === 'clear' ? 'cleared' : c.action === 'set' ? 'set' : 'merged'}`,
        old_value: c.action === 'clear' ? c.level : null, new_value: c.action === 'set' ? c.level : null, actor: c.by, reason: c.note,
      })) : [];
      const rows = [...pages.flatMap((p) => p.data), ...decisions].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)).slice(0, 100);
      replace(historyBox, table({
        caption: 'Changes to this account, its keys and the operator’s detector decisions on it', rows, empty: 'No recorded changes.',
        columns: [
          { label: 'When', value: (c) => when(c.at) },
          { label: 'Subject', value: (c) => (c.subject_type === 'key' ? h('span', null, 'key ', h('code', { text: keyPrefix.get(c.subject_id) ?? shortId(c.subject_id) })) : c.subject_type) },
          { label: 'Change', value: (c) => (c.field ? `${c.action}: ${c.field}` : c.action) },
          { label: 'From', value: (c) => c.old_value },
          { label: 'To', value: (c) => c.new_value },
          { label: 'By', value: (c) => c.actor },
          { label: 'Reason', value: (c) => c.reason },
        ],
      }));
    })().catch((err) => replace(historyBox, errorBox(err))),
  ]);
}

const BATCH_TONE = { in_progress: 'info', canceling: 'warn', ended: 'muted' };

/** The admin API's largest page of batches or files (`limit` at most 500). */
const LIST_MAX = 500;

async function loadBatches(box, id, limit = 20) {
  try {
    const page = await get('/admin/batches', { account: id, limit: readLimit(limit, LIST_MAX) });
    const cut = cutList(page.data, { limit, max: LIST_MAX, step: 100, noun: 'batches', moreKey: 'more-batches', onMore: (n) => loadBatches(box, id, n) });
    replace(box, table({
      caption: 'Batches of this account, newest first', rows: cut.rows, empty: 'No batches.',
      columns: [
        { label: 'Batch', value: (b) => h('code', { title: b.id, text: shortId(b.id) }) },
        { label: 'Status', value: (b) => badge(b.processing_status.replace('_', ' '), BATCH_TONE[b.processing_status] ?? 'muted') },
        { label: 'Endpoint', value: (b) => h('code', { text: `${b.endpoint ?? '/v1/messages'}${b.background ? ' (background)' : ''}` }) },
        { label: 'Sent', value: (b) => when(b.created_at) },
        { label: 'From', value: (b) => b.client_ip },
        { label: 'Running', num: true, value: (b) => fmtInt(b.request_counts.processing) },
        { label: 'Succeeded', num: true, value: (b) => fmtInt(b.request_counts.succeeded) },
        { label: 'Errored', num: true, value: (b) => fmtInt(b.request_counts.errored) },
        { label: 'Canceled', num: true, value: (b) => fmtInt(b.request_counts.canceled) },
        { label: 'Expired', num: true, value: (b) => fmtInt(b.request_counts.expired) },
        { label: '', value: (b) => (b.processing_status === 'in_progress'
          ? runButton('Cancel', async () => { await post(`/admin/batches/${encodeURIComponent(b.id)}/cancel`); toast('Batch cancelled: what has not run will not.'); }, () => loadBatches(box, id, limit))
          : null) },
      ],
    }), cut.note);
  } catch (err) {
    if (err.status === 404) replace(box, h('p', { class: 'muted', text: 'Batches are off on this server (batches.enabled).' }));
    else replace(box, errorBox(err));
  }
}

const fmtBytes = (n) => (n === null || n === undefined ? '—' : n < 1024 ? `${fmtInt(n)} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`);

async function loadFiles(box, id, limit = 50) {
  try {
    const page = await get('/admin/files', { account: id, limit: readLimit(limit, LIST_MAX) });
    const cut = cutList(page.data, { limit, max: LIST_MAX, step: 100, noun: 'files', moreKey: 'more-files', onMore: (n) => loadFiles(box, id, n) });
    const remove = async (f) => {
      const sure = await modal('Delete this file?', (close) => [
        h('p', { text: `${f.filename} (${f.purpose}) is deleted for good; requests naming ${f.id} are refused from then on.` }),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'btn', on: { click: () => close(false) } }, 'Keep it'),
          h('button', { type: 'button', class: 'btn btn-danger', on: { click: () => close(true) } }, 'Delete')),
      ]);
      if (!sure) return;
      await api('DELETE', `/admin/files/${encodeURIComponent(f.id)}`);
      toast('File deleted.');
    };
    replace(box, table({
      caption: 'Files of this account, newest first', rows: cut.rows, empty: 'No files.',
      columns: [
        { label: 'File', value: (f) => h('code', { title: f.id, text: shortId(f.id) }) },
        { label: 'Name', value: (f) => f.filename },
        { label: 'Purpose', value: (f) => badge(f.purpose, f.purpose === 'batch' || f.purpose === 'batch_output' ? 'muted' : 'info') },
        { label: 'Type', value: (f) => h('code', { text: f.media_type }) },
        { label: 'Size', num: true, value: (f) => fmtBytes(f.bytes) },
        { label: 'Uploaded', value: (f) => when(f.created_at) },
        { label: 'Expires', value: (f) => (f.expired ? badge('expired', 'warn') : f.expires_at ? when(f.expires_at) : 'never') },
        { label: '', value: (f) => runButton('Delete', () => remove(f), () => loadFiles(box, id, limit)) },
      ],
    }), cut.note);
  } catch (err) {
    if (err.status === 404) replace(box, h('p', { class: 'muted', text: 'Files are off on this server (batches.enabled).' }));
    else replace(box, errorBox(err));
  }
}

/**
 * Recent interactions, 25 at a time. The page is in the URL (`before`: the cursor of this page;
 * `newer`: the cursors of the newer pages seen on the way here), so Back, Forward and reload keep
 * it, and Newer / Newest go back up.
 */
async function loadRecent(box, id, query, ctx) {
  try {
    const newer = query.newer ? query.newer.split(',') : [];
    const page = await get('/admin/usage/interactions', { account_id: id, limit: 25, before: query.before });
    const go = (before, stack) => ctx.setQuery({ ...query, before, newer: stack.length ? stack.join(',') : undefined }, { push: true });
    const button = (label, focus, click) => h('button', { type: 'button', class: 'btn', 'data-focus': focus, 'data-focus-group': 'recent-pager', on: { click } }, label);
    replace(box, interactionsTable(page.data, { showAccount: false, caption: 'Interactions of this account, newest first' }),
      query.before || page.next_before ? h('p', { class: 'pager' },
        newer.length ? button('Newest', 'recent-newest', () => go(undefined, [])) : null,
        query.before ? button('Newer', 'recent-newer', () => go(newer.at(-1), newer.slice(0, -1))) : null,
        page.next_before ? button('Older', 'recent-older', () => go(page.next_before, query.before ? [...newer, query.before] : [])) : null) : null);
  } catch (err) {
    replace(box, errorBox(err));
  }
}
