// Threat-intel partners (cases.partners): how far each is trusted and what of its indicators waits
// for review, what it was last sent and what came from it last; and the indicators held for an
// operator's review, each with an Approve button, and for a partner with several waiting an
// "Approve all from" button (POST /admin/intel/approve ?id= or ?source=, as `warden intel approve`
// does; who approved is recorded).
import { h, replace, panel, loading, errorBox, table, badge, levelBadge, fmtInt, when, fmtTime, toast, shortId, modal } from '../lib/dom.js';
import { get, api } from '../lib/api.js';
import { notHereNote } from '../lib/detect.js';

const TRUST = {
  high: ['ok', 'its indicators hold accounts at the level they came at'],
  medium: ['info', 'its indicators hold accounts at throttle at most'],
  low: ['warn', 'its indicators hold accounts at watch at most: evidence to look at'],
};
const HOLD = {
  all: 'every indicator waits for review',
  prevalent: 'those many established accounts here share wait for review',
  none: 'none waits for review',
};

export async function render(main, _params, _query, ctx) {
  document.title = 'Partners · Warden';
  replace(main, h('div', { class: 'page-head' }, h('h1', { text: 'Threat-intel partners' })));
  if (!ctx.features.cases?.intel) {
    main.append(panel('Not on this server', notHereNote(ctx.features, 'Indicator exchange lives on the node that runs the detector (detect.enabled, mode inline or worker) with cases.enabled. This server does not mount it.')));
    return;
  }
  const partnersBox = h('div', null, loading());
  const heldBox = h('div', null, loading());
  main.append(
    panel('Partners', h('p', { class: 'help', text: 'The providers listed in cases.partners: how far their indicators are trusted, which wait for review, the key agreed with each (its id, never the key), and the last exchange either way.' }), partnersBox),
    panel('Waiting for approval', h('p', { class: 'help', text: 'Indicators held for review hold no account until approved. Approving one lets it act, recorded with your name; it stays approved after a restart while it names the same value. A partner with several waiting has a button to approve them all at once.' }), heldBox));
  await load(partnersBox, heldBox, ctx);
}

async function load(partnersBox, heldBox, ctx) {
  const [partners, intel] = await Promise.all([
    get('/admin/intel/partners').catch((err) => err),
    get('/admin/intel').catch((err) => err),
  ]);
  if (!ctx.isCurrent()) return;
  if (partners instanceof Error) replace(partnersBox, errorBox(partners));
  else replace(partnersBox, table({
    caption: 'Partners', rows: partners.partners, empty: 'No partner is listed (cases.partners): every source counts as given, on the sharing key.',
    columns: [
      { label: 'Partner', value: (p) => p.name },
      { label: 'Trust', value: (p) => h('span', null, badge(p.trust, TRUST[p.trust]?.[0] ?? 'muted'), h('span', { class: 'muted small block', text: TRUST[p.trust]?.[1] ?? '' })) },
      { label: 'Review hold', value: (p) => h('span', null, h('code', { text: p.hold }), h('span', { class: 'muted small block', text: HOLD[p.hold] ?? '' })) },
      { label: 'Key', value: (p) => (p.key_id ? h('span', null, h('code', { class: 'small', text: p.key_id }), h('span', { class: 'muted small block', text: `${p.key_origin === 'shared' ? 'the shared key' : p.key_origin === 'stored' ? 'rotated' : 'configured'}, ${p.collection === 'own' ? 'its own collection' : 'the shared collection'}${p.previous_keys.length ? `; ${p.previous_keys.length} earlier key(s) until ${p.previous_keys.map((k) => fmtTime(k.until)).join(', ')}` : ''}` })) : h('span', { class: 'muted', text: 'none agreed: nothing is exchanged' })) },
      { label: 'Last sent', value: (p) => sentCell(p.sent) },
      { label: 'Last received', value: (p) => receivedCell(p.received) },
    ],
  }));
  if (intel instanceof Error) { replace(heldBox, errorBox(intel)); return; }
  const held = intel.indicators.filter((i) => i.held);
  const trustOf = new Map((partners instanceof Error ? [] : partners.partners).map((p) => [p.name, p.trust]));
  const reread = async () => {
    await load(partnersBox, heldBox, ctx);
    heldBox.closest('section')?.querySelector('h2')?.setAttribute('tabindex', '-1');
    heldBox.closest('section')?.querySelector('h2')?.focus();
  };
  // One partner's waiting indicators approved in one call, where there are several: a new partner's
  // first bundle reviewed as a whole.
  const bySource = new Map();
  for (const i of held) bySource.set(i.source, (bySource.get(i.source) ?? 0) + 1);
  const several = [...bySource].filter(([, n]) => n > 1);
  replace(heldBox, several.length ? h('div', { class: 'actions approve-all' }, several.map(([source, n]) => h('button', { type: 'button', class: 'btn btn-small btn-primary', on: { click: async (e) => {
    const button = e.currentTarget;
    if (!await confirmApproveAll(source, n, held.filter((i) => i.source === source), trustOf.get(source))) return;
    button.disabled = true;
    try {
      const r = await api('POST', '/admin/intel/approve', { query: { source } });
      // Indicators that came in after the page was read are approved too (the call takes all held now): said so.
      toast(`Approved: ${fmtInt(r.approved.length)} indicators from ${source} now act${r.approved.length !== n ? ` (${fmtInt(n)} were listed here; the others arrived since)` : ''}.`);
      await reread();
    } catch (err) { toast(err.message, 'bad'); button.disabled = false; }
  } } }, `Approve all from ${source}`))) : null, table({
    caption: 'Indicators waiting for approval', rows: held, empty: 'No indicator is waiting for review.',
    columns: [
      { label: 'Indicator', value: (i) => h('code', { class: 'small', title: i.id, text: shortId(i.id) }) },
      { label: 'Kind', value: (i) => i.kind.replace(/_/g, ' ') },
      { label: 'From', value: (i) => i.source },
      { label: 'Campaign', value: (i) => i.campaign },
      { label: 'Level', value: (i) => levelBadge(i.level) },
      { label: 'Why it waits', value: (i) => `${i.held.reason}${i.held.accounts ? ` (${fmtInt(i.held.accounts)} established accounts here share it)` : ''}` },
      { label: 'Imported', value: (i) => when(i.created_at) },
      { label: '', value: (i) => h('button', { type: 'button', class: 'btn btn-small btn-primary', 'aria-label': `Approve ${i.kind.replace(/_/g, ' ')} indicator ${i.id} from ${i.source}`, on: { click: async (e) => {
        const button = e.currentTarget;
        button.disabled = true;
        try {
          await api('POST', '/admin/intel/approve', { query: { id: i.id } });
          toast(`Approved: ${i.source}’s ${i.kind.replace(/_/g, ' ')} indicator now acts.`);
          await reread();
        } catch (err) { toast(err.message, 'bad'); button.disabled = false; }
      } } }, 'Approve') },
    ],
  }));
}

/** Asks before approving every indicator of a source waiting for review; resolves true to go on. */
function confirmApproveAll(source, n, indicators, trust) {
  const kinds = [...new Set(indicators.map((i) => i.kind.replace(/_/g, ' ')))].join(', ');
  return modal(`Approve all from ${source}?`, (close) => [h('form', { method: 'dialog', on: { submit: (e) => { e.preventDefault(); close(true); } } },
    h('p', { text: `${fmtInt(n)} indicators from ${source} wait for review (${kinds}). Approved, they act at once${trust ? `, within its trust (${trust}: ${TRUST[trust]?.[1] ?? ''})` : ''}. The approval is recorded with your name.` }),
    h('p', { text: `Only those waiting now are approved: what ${source} sends later is held as its review hold says.` }),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'btn', on: { click: () => close(false) } }, 'Cancel'),
      h('button', { type: 'submit', class: 'btn btn-primary' }, `Approve ${fmtInt(n)}`)))]);
}

function sentCell(s) {
  if (!s) return h('span', { class: 'muted', text: 'nothing recorded' });
  return h('span', null, when(s.at), h('span', { class: 'muted small block', text: s.action === 'published' ? `case ${shortId(s.case_id)} published: ${fmtInt(s.indicators)} indicators${s.revoked ? `, ${fmtInt(s.revoked)} revoked` : ''}` : `case ${shortId(s.case_id)} withdrawn: ${fmtInt(s.revoked)} indicators revoked` }));
}

function receivedCell(r) {
  const parts = [];
  if (r.last_indicator_at) parts.push(h('span', null, 'Indicators ', when(r.last_indicator_at), h('span', { class: 'muted small block', text: `${fmtInt(r.indicators)} held now${r.held ? `, ${fmtInt(r.held)} waiting for review` : ''}` })));
  if (r.last_sighting_at) parts.push(h('span', { class: 'block' }, 'Sightings of ours ', when(r.last_sighting_at)));
  if (r.last_feed_poll_at) parts.push(h('span', { class: 'block' }, 'Feed polled ', when(r.last_feed_poll_at)));
  return parts.length ? h('span', null, parts) : h('span', { class: 'muted', text: 'nothing yet' });
}
