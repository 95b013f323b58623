// One campaign: its level and why (the signals with value, threshold and weight), the capabilities
// it went after, its volume and hourly requests, every member with a link to its page, its
// cluster, and a button to open a case on it (or a link to the case already open on it).
import { h, replace, panel, facts, levelBadge, when, link, fmtInt, fmtPct, toast, table } from '../lib/dom.js';
import { get, post } from '../lib/api.js';
import { stackedBars } from '../lib/chart.js';
import { reasonsTable, detectLink } from '../lib/json.js';
import { detectRoute, withId, memberRows, mergedNote, notFound, notHereNote } from '../lib/detect.js';

const TARGET_LABEL = {
  coding: 'Coding', agentic_tool_use: 'Agentic tool use', reasoning_traces: 'Reasoning traces', reasoning_parameters: 'Reasoning parameters',
  reward_model_rubrics: 'Reward-model rubrics', sensitive_rewrites: 'Sensitive rewrites', maths: 'Maths', logits: 'Logits', embeddings: 'Embeddings',
};

/** The campaign by its id (or its cluster's, or a merged-away one the server resolves), or null. */
/** The campaign's open or confirmed case, if any (null when none, or when the list cannot be read). */
async function openCaseOf(campaignId) {
  try {
    const r = await get('/admin/cases', { campaign_id: campaignId, limit: 20 });
    return r.data.find((k) => k.campaign_id === campaignId && (k.status === 'open' || k.status === 'confirmed')) ?? null;
  } catch { return null; }
}

async function findCampaign(features, id) {
  const one = detectRoute(features, '/campaigns/:id');
  if (one) return get(withId(one, id)).catch((err) => { if (err.status === 404) return null; throw err; });
  const list = detectRoute(features, '/detect/campaigns');
  if (!list) return undefined;
  const { data } = await get(list);
  const merged = (c) => (Array.isArray(c.merged_from) ? c.merged_from : [c.merged_from]).includes(id);
  return data.find((c) => c.id === id) ?? data.find((c) => c.cluster_id === id) ?? data.find(merged) ?? null;
}

/** Hourly requests with the quiet hours in between (up to 60 days), so the bars keep time. */
function hourly(timeline) {
  if (!timeline.length) return [];
  const counts = new Map(timeline.map(([t, n]) => [Date.parse(t), n]));
  const first = Date.parse(timeline[0][0]);
  const last = Date.parse(timeline.at(-1)[0]);
  if ((last - first) / 3600_000 > 24 * 60) return timeline.map(([t, n]) => ({ t, requests: n }));
  const out = [];
  for (let t = first; t <= last; t += 3600_000) out.push({ t: new Date(t).toISOString(), requests: counts.get(t) ?? 0 });
  return out;
}

export async function render(main, [id], _query, ctx) {
  document.title = 'Campaign · Warden';
  const back = link('/detector', 'Back to the detector');
  const c = await findCampaign(ctx.features, id);
  if (!ctx.isCurrent()) return;
  if (c === undefined) { replace(main, h('h1', { text: `Campaign ${id}` }), notHereNote(ctx.features, 'The detector’s routes are not mounted on this server.'), h('p', null, back)); return; }
  if (c === null) { replace(main, notFound('campaign', id, back)); return; }
  document.title = `Campaign ${c.id} · Warden`;
  const targets = Object.entries(c.targets).sort((a, b) => b[1] - a[1]);
  // A campaign has at most one open or confirmed case: link it rather than offer a button that gets 409.
  const existing = ctx.features.cases?.list ? await openCaseOf(c.id) : null;
  if (!ctx.isCurrent()) return;
  const openCase = existing
    ? h('span', null, link(`/cases/${encodeURIComponent(existing.id)}`, `Case ${existing.id}`), ` (${existing.status})`)
    : ctx.features.cases?.list ? h('button', { type: 'button', class: 'btn btn-primary', on: { click: async (e) => {
    const button = e.currentTarget;
    button.disabled = true;
    try {
      const k = await post('/admin/cases', { campaign_id: c.id });
      toast(`Case ${k.id} opened.`);
      location.hash = `#/cases/${encodeURIComponent(k.id)}`;
    } catch (err) { toast(err.message, 'bad'); button.disabled = false; }
  } } }, 'Open a case') : null;
  replace(main,
    h('p', { class: 'crumbs' }, link('/detector', 'Detector'), ' / campaign'),
    h('div', { class: 'page-head' }, h('h1', { text: `Campaign ${c.id}` }), levelBadge(c.level), openCase ? h('div', { class: 'row-actions' }, openCase) : null),
    mergedNote('campaign', id, c),
    h('div', { class: 'grid-2' },
      panel('Campaign', facts([
        ['Campaign', h('code', { text: c.id })],
        ['Cluster', detectLink('cluster', c.cluster_id)],
        ['Level', levelBadge(c.level)],
        ['Score', String(c.score)],
        ['Accounts', fmtInt(c.members.length)],
        ['Requests', fmtInt(c.volume.requests)],
        ['Output tokens', fmtInt(c.volume.output_tokens)],
        ['First seen', when(c.first_seen)],
        ['Last seen', when(c.last_seen)],
        ['Flagged', when(c.flagged_at)],
      ])),
      panel('What it went after', h('p', { class: 'help', text: 'Share of the campaign’s requests that aimed at each capability.' }),
        table({ caption: 'Targeted capabilities', rows: targets, empty: 'Not measured.', columns: [
          { label: 'Capability', value: ([k]) => TARGET_LABEL[k] ?? k.replace(/_/g, ' ') },
          { label: 'Share of requests', num: true, value: ([, s]) => fmtPct(s) },
        ] }))),
    panel('Why: the signals behind its level', reasonsTable(c.evidence, 'Evidence of this campaign')),
    panel('Requests over time', c.timeline.length
      ? stackedBars({ title: 'Requests per hour, counted since its accounts were linked', points: hourly(c.timeline), bucketS: 3600, series: [{ key: 'requests', label: 'Requests', cls: 's-ok' }] })
      : h('p', { class: 'muted', text: 'No hourly counts yet.' })),
    panel(`Accounts (${fmtInt(c.members.length)})`, memberRows(ctx.features, { campaign: c.id }, c.members, { caption: 'Accounts of this campaign' })));
}
