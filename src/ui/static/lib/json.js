// Generic rendering of JSON answers from routes the dashboard has no dedicated view for
// (detector and ledger routes that land after this dashboard): tables for lists of objects,
// definition lists for objects, text for the rest. Text only, never HTML.
import { h, table, facts, levelBadge, fmtInt, when, link } from './dom.js';
import { describeSignal } from './signals.js';

const LEVELS = new Set(['none', 'watch', 'throttle', 'shape', 'verify', 'suspend']);
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** One scalar cell. */
export function scalar(key, v) {
  if (v === null || v === undefined) return h('span', { class: 'muted', text: '—' });
  if (typeof v === 'number') return Number.isInteger(v) ? fmtInt(v) : String(Math.round(v * 1000) / 1000);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'string') {
    if (key === 'level' && LEVELS.has(v)) return levelBadge(v);
    // Ids of clusters and campaigns lead to their pages wherever a detector answer names them.
    if (key === 'cluster_id' || key === 'merged_into') return detectLink('cluster', v);
    if (key === 'campaign_id') return detectLink('campaign', v);
    if (/(^|_)(ts|at|since|seen)$/.test(key) && !Number.isNaN(Date.parse(v)) && v.includes('T')) return when(v);
    return v.length > 120 ? h('span', { class: 'cell-text', title: v, text: `${v.slice(0, 117)}…` }) : v;
  }
  if (Array.isArray(v) && v.every((x) => !isObj(x) && !Array.isArray(x))) {
    const s = v.join(', ');
    return s.length > 120 ? h('span', { class: 'cell-text', title: s, text: `${v.length} items: ${s.slice(0, 100)}…` }) : s || '—';
  }
  // Short JSON ({}, [1, 2]) keeps its own width; longer text wraps within a bounded cell.
  const s = JSON.stringify(v);
  return h('code', { class: s.length > 40 ? 'small cell-text' : 'small', title: s, text: s.length > 120 ? `${s.slice(0, 117)}…` : s });
}

/** Render any JSON value readably. */
export function renderJson(value, caption = 'Result', depth = 0) {
  if (Array.isArray(value)) {
    if (value.length && value.every(isObj)) {
      const keys = [...new Set(value.flatMap((o) => Object.keys(o)))].slice(0, 10);
      return table({ caption, rows: value.slice(0, 500), columns: keys.map((k) => ({ label: k.replace(/_/g, ' '), value: (r) => scalar(k, r[k]) })) });
    }
    return h('p', null, scalar('', value));
  }
  if (isObj(value)) {
    // { data: [...] } and similar envelopes: show the list, then the rest.
    const entries = Object.entries(value);
    return h('div', { class: 'stack' },
      facts(entries.filter(([, v]) => !(Array.isArray(v) && v.some(isObj)) && !(isObj(v) && depth < 1)).map(([k, v]) => [k.replace(/_/g, ' '), scalar(k, v)])),
      entries.filter(([, v]) => (Array.isArray(v) && v.some(isObj)) || (isObj(v) && depth < 1)).map(([k, v]) =>
        h('div', null, h('h3', { text: k.replace(/_/g, ' ') }), renderJson(v, k, depth + 1))));
  }
  return h('p', null, scalar('', value));
}

/** A verdict (detector contract, src/detect/verdict.ts) with its explanation. */
export function renderVerdict(v) {
  if (!v) return h('p', { class: 'muted', text: 'No verdict.' });
  return h('div', { class: 'stack' },
    facts([
      ['Level', levelBadge(v.level)],
      ['Subject', v.subject ? (v.subject.kind === 'cluster' ? h('span', null, 'cluster ', detectLink('cluster', v.subject.id)) : `${v.subject.kind} ${v.subject.id}`) : null],
      ['Score', v.score === null || v.score === undefined ? null : String(Math.round(v.score * 1000) / 1000)],
      ['Source', v.source],
      ['Since', v.since ? when(v.since) : null],
      v.campaign_id ? ['Campaign', detectLink('campaign', v.campaign_id)] : null,
    ]),
    Array.isArray(v.reasons) && v.reasons.length ? reasonsTable(v.reasons, 'Why: the signals behind this verdict') : null);
}

/** A signal's plain name over its id (the id is what the API, the CLI and the ledger say). */
export function signalCell(id) {
  return h('span', { class: 'signal' }, h('span', { class: 'signal-name', text: describeSignal(id).name }), h('code', { class: 'small signal-id', text: id }));
}

/** The detector's detail on a reason, or, when it gives none, what the signal measures. */
const reasonDetail = (r) => r.detail || h('span', { class: 'muted', text: describeSignal(r.signal).meaning });

/** The signals behind a verdict, a cluster or a campaign: value, the threshold it is read against, its weight. */
export function reasonsTable(reasons, caption) {
  return table({ caption, captionHidden: false, empty: 'No signal recorded.', rows: reasons, columns: [
    { label: 'Signal', value: (r) => signalCell(r.signal) },
    { label: 'Value', num: true, value: (r) => scalar('value', r.value) },
    { label: 'Threshold', num: true, value: (r) => scalar('threshold', r.threshold) },
    { label: 'Weight', num: true, value: (r) => scalar('weight', r.weight) },
    { label: 'Detail', value: (r) => [reasonDetail(r), r.by ? h('span', { class: 'muted', text: ` — set by ${r.by}` }) : null] },
  ] });
}

/** True when the value looks like a verdict. */
export const isVerdict = (v) => isObj(v) && typeof v.level === 'string' && LEVELS.has(v.level) && Array.isArray(v.reasons);

/** A link to the page of a cluster or a campaign, named by its id. */
export const detectLink = (kind, id) => (id ? link(`/${kind === 'cluster' ? 'clusters' : 'campaigns'}/${encodeURIComponent(id)}`, id) : null);

/** How a link was made (`AccountLink.rule`, src/detect/engine-types.ts), said as the reason. */
const LINK_RULES = {
  shared_evidence: 'the values they share weigh enough together',
  replacement_head: 'a new account running the software of a flagged campaign (counted in full)',
  fleet_software: 'a system prompt that only new, unaccountable accounts use',
  declared_org: 'the same declared organisation',
};

/** A link target: an account's page, or a cluster's. */
const subjectLink = (id) => (String(id).startsWith('acct_') ? link(`/accounts/${encodeURIComponent(id)}`, id) : detectLink('cluster', id));

/**
 * Why an account is in its cluster (the detector's `link`): with whom, by which rule, the shared
 * values with their weights, and their sum against the link threshold.
 */
export function renderLink(l) {
  if (!l) return null;
  const rule = LINK_RULES[l.rule] ?? String(l.rule).replace(/_/g, ' ');
  return h('div', { class: 'stack link-why' },
    h('h3', { text: 'Why it is in its cluster' }),
    h('p', null, 'Linked with ', subjectLink(l.with), l.at ? [' ', when(l.at)] : null, `, by ${rule}.`),
    table({ caption: 'What it shared', captionHidden: false, rows: l.evidence ?? [], empty: 'No shared value recorded.', columns: [
      { label: 'Shared value', value: (e) => String(e.kind).replace(/_/g, ' ') },
      { label: 'Weight', num: true, title: 'Lower when many accounts share the value', value: (e) => scalar('weight', e.weight) },
    ] }),
    h('p', { class: 'muted', text: `Together ${scalar('total', l.total)}, against the link threshold of ${scalar('threshold', l.threshold)}${l.software_counted ? ` (shared software counted for ${scalar('software', l.software_counted)})` : ''}.` }));
}

/**
 * Every behaviour signal the detector measured on the account, those under their threshold
 * included: what a false positive is compared on, signal by signal.
 */
export function indicatorsTable(indicators) {
  if (!Array.isArray(indicators) || !indicators.length) return null;
  return h('details', { class: 'indicators' },
    h('summary', { text: `Every behaviour signal measured, those under their threshold included (${indicators.length})` }),
    table({ caption: 'Every behaviour signal measured', captionHidden: false, rows: indicators, columns: [
      { label: 'Signal', value: (i) => signalCell(i.signal) },
      { label: 'Value', num: true, value: (i) => scalar('value', i.value) },
      { label: 'Threshold', num: true, value: (i) => scalar('threshold', i.threshold) },
      { label: 'Full at', num: true, title: 'At or above this value the signal adds its full weight', value: (i) => scalar('saturation', i.saturation) },
      { label: 'Adds', num: true, title: 'What it adds to the account score (its weight, in part below full)', value: (i) => (i.contribution > 0 ? scalar('contribution', i.contribution) : h('span', { class: 'muted', text: i.value < i.threshold ? 'nothing: under its threshold' : 'nothing' })) },
      { label: 'What it measures', value: (i) => h('span', { class: 'muted', text: i.detail || describeSignal(i.signal).meaning }) },
    ] }));
}
