// Cases: the detector's campaigns with a button to open a case on one, the cases opened, and the
// indicators shared by other providers and the partners' feeds. A case page shows the frozen
// evidence, records decisions and notes, downloads the report (Markdown) and the STIX 2.1 bundle,
// and publishes the case to partners over TAXII (publishing, withdrawing and dismissing a published
// case ask first, naming what goes out or is taken back).
import { h, replace, panel, loading, errorBox, link, levelBadge, badge, table, facts, fmtInt, when, toast, shortId, runButton, cutList, readLimit, modal } from '../lib/dom.js';
import { reasonsTable, detectLink } from '../lib/json.js';
import { proofButton } from '../lib/proof.js';
import { api, get, post, download } from '../lib/api.js';
import { notHereNote } from '../lib/detect.js';
import { accountNames, namedAccount, subjectCell } from '../lib/names.js';

const STATUS_TONE = { open: 'info', confirmed: 'bad', dismissed: 'ok', closed: 'muted' };
const statusBadge = (s) => badge(s, STATUS_TONE[s] ?? 'muted');
const LEVELS = ['watch', 'throttle', 'shape', 'verify', 'suspend'];

export async function render(main, params, query, ctx) {
  if (!ctx.features.cases?.list) {
    document.title = 'Cases · Warden';
    replace(main, h('div', { class: 'page-head' }, h('h1', { text: 'Cases' })),
      panel('Not on this server', notHereNote(ctx.features, 'Case files and indicator exchange live on the node that runs the detector (detect.enabled, mode inline or worker) with cases.enabled. This server does not mount them.')));
    return;
  }
  return params.length ? renderCase(main, params[0], ctx) : renderList(main, query, ctx);
}

async function renderList(main, query, ctx) {
  document.title = 'Cases · Warden';
  const campaignsBox = h('div', null, loading());
  const casesBox = h('div', null, loading());
  const intelBox = h('div', null, loading());
  const feedsBox = h('div', null, loading());
  replace(main,
    h('div', { class: 'page-head' }, h('h1', { text: 'Cases' })),
    panel('Campaigns the detector names', h('p', { class: 'help', text: 'Opening a case freezes the campaign’s evidence, its accounts’ signup facts, the values only its accounts used and the ledger’s proof.' }), campaignsBox),
    panel('Cases', casesBox),
    panel('Indicators shared by other providers', intelBox),
    panel('Partners’ TAXII feeds', feedsBox));

  const openCase = async (campaignId, button) => {
    button.disabled = true;
    try {
      const c = await post('/admin/cases', { campaign_id: campaignId });
      toast(`Case ${c.id} opened.`);
      location.hash = `#/cases/${encodeURIComponent(c.id)}`;
    } catch (err) {
      toast(err.message, 'bad');
      button.disabled = false;
    }
  };
  // A campaign has at most one open or confirmed case: the list links it rather than offer a button that gets 409.
  const liveCases = Promise.all(['open', 'confirmed'].map((status) => get('/admin/cases', { status, limit: 1000 }).then((r) => r.data, () => [])))
    .then((lists) => lists.flat());
  const caseOf = (cases, c) => cases.find((k) => k.campaign_id === c.id || k.cluster_id === c.cluster_id) ?? null;
  await Promise.all([
    Promise.all([get('/admin/detect/campaigns'), liveCases]).then(([r, cases]) => {
      if (!ctx.isCurrent()) return;
      replace(campaignsBox, table({
        caption: 'Campaigns', empty: 'The detector names no campaign at the moment.', rows: r.data,
        columns: [
          { label: 'Campaign', value: (c) => detectLink('campaign', c.id) },
          // Ids named by earlier alerts that merged into this campaign (they open this one).
          { label: 'Merged from', value: (c) => ((c.merged_from ?? []).length ? (c.merged_from ?? []).join(', ') : '—') },
          { label: 'Level', value: (c) => levelBadge(c.level) },
          { label: 'Accounts', num: true, value: (c) => fmtInt(c.members.length) },
          { label: 'Requests', num: true, value: (c) => fmtInt(c.volume.requests) },
          { label: 'Flagged', value: (c) => when(c.flagged_at) },
          { label: 'Targets', value: (c) => Object.entries(c.targets).filter(([, s]) => s >= 0.1).map(([k]) => k).join(', ') || '—' },
          { label: '', value: (c) => {
            const k = caseOf(cases, c);
            if (k) return h('span', null, link(`/cases/${encodeURIComponent(k.id)}`, `Case ${shortId(k.id)}`, { title: k.id }), ` (${k.status})`);
            const b = h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Open a case on ${c.id}`, on: { click: () => openCase(c.id, b) } }, 'Open a case');
            return b;
          } },
        ],
      }));
    }, (err) => replace(campaignsBox, errorBox(err))),
    loadCases(casesBox, query, ctx),
    renderIntel(intelBox, ctx),
    renderFeeds(feedsBox, ctx),
  ]);
}

/** Partners' collections polled (cases.feeds): the last poll, the last error, a button to poll now. */
async function renderFeeds(box, ctx) {
  try {
    const r = await get('/admin/intel/feeds');
    if (!ctx.isCurrent()) return;
    const pull = (f) => runButton('Poll now', async () => {
      const s = await post(`/admin/intel/feeds/${encodeURIComponent(f.name)}/pull`);
      toast(`${s.name}: polled; ${s.imported} indicators taken in so far.`);
    }, () => renderFeeds(box, ctx));
    replace(box, table({
      caption: 'Feeds', empty: 'No feed is configured (cases.feeds).', rows: r.feeds,
      columns: [
        { label: 'Feed', value: (f) => f.name },
        { label: 'Last poll', value: (f) => when(f.last_poll_at) },
        { label: 'Last good poll', value: (f) => when(f.last_ok_at) },
        { label: 'State', value: (f) => (f.last_error ? badge('failing', 'bad', f.last_error) : f.last_ok_at ? badge('ok', 'ok') : badge('not polled yet', 'muted')) },
        { label: 'Error', value: (f) => f.last_error },
        { label: 'Taken in', num: true, value: (f) => fmtInt(f.imported) },
        { label: 'Revoked', num: true, value: (f) => fmtInt(f.revoked) },
        { label: '', value: pull },
      ],
    }));
  } catch (err) {
    replace(box, errorBox(err));
  }
}

async function renderIntel(box, ctx) {
  try {
    const r = await get('/admin/intel');
    if (!ctx.isCurrent()) return;
    const seen = new Map(r.sightings.map((s) => [s.indicator_id, s]));
    // `import` says whether the server takes a bundle (a server before it was said: the sharing key's id).
    const canImport = typeof r.import === 'boolean' ? r.import : !!r.key_id;
    const bundle = h('textarea', { id: 'intel-bundle', rows: 4, spellcheck: 'false', placeholder: '{"type": "bundle", "objects": [...]}' });
    const level = h('select', { id: 'intel-level' }, LEVELS.map((l) => h('option', { value: l, selected: l === 'throttle' }, l)));
    // The partner's signing key: only what it signed is taken in (the rest is skipped with the reason).
    const publicKey = h('input', { id: 'intel-public-key', type: 'text', spellcheck: 'false', autocomplete: 'off', placeholder: 'ed25519:… (optional)' });
    const form = h('form', { on: { submit: async (e) => {
      e.preventDefault();
      let body;
      try { body = JSON.parse(bundle.value); } catch { toast('The bundle is not valid JSON.', 'bad'); return; }
      try {
        const res = await api('POST', '/admin/intel/import', { body, query: { level: level.value, public_key: publicKey.value.trim() } });
        toast(`${res.imported} indicators imported, ${res.revoked} revoked, ${res.skipped.length} skipped${res.skipped[0] ? ` (${res.skipped[0].reason})` : ''}.`, res.skipped.length ? 'info' : 'ok');
        await renderIntel(box, ctx);
      } catch (err) { toast(err.message, 'bad'); }
    } } },
    // Without any key to match with (the sharing key, or a partner's own), the server refuses an import: the form is shown disabled, described by what turns it on.
    h('fieldset', { class: 'filters', disabled: !canImport, 'aria-describedby': canImport ? null : 'no-import-key' },
      h('legend', { class: 'visually-hidden', text: 'Import a partner’s bundle' }),
      h('div', { class: 'field' }, h('label', { for: 'intel-bundle', text: 'STIX 2.1 bundle from a partner' }), bundle),
      h('div', { class: 'field' }, h('label', { for: 'intel-level', text: 'Hold matching accounts at' }), level),
      h('div', { class: 'field' }, h('label', { for: 'intel-public-key', text: 'Partner’s public key (only what it signed)' }), publicKey),
      h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'btn', 'aria-describedby': canImport ? null : 'no-import-key' }, 'Import'))));
    const noKeyNote = canImport ? null : h('p', { id: 'no-import-key', class: 'help' },
      'Importing is off on this server: no sharing key is set, and no partner has a key of its own. Set ', h('code', { text: 'cases.sharing_key' }),
      ' (its default reads the environment variable ', h('code', { text: 'WARDEN_INTEL_KEY' }), ') to the key agreed with your partners, at least 16 characters, or give a partner its own key (',
      h('code', { text: 'cases.partners' }), '), and restart; see ', h('code', { text: 'docs/cases.md' }), ', “Exchanging indicators”.');
    replace(box,
      h('p', { class: 'help' }, r.key_id ? `Sharing key id ${r.key_id}: partners hashing with the same key see the same id.`
        : canImport ? 'No sharing key is set (cases.sharing_key): only partners with a key of their own (cases.partners) are exported to, imported from and matched.'
          : 'No sharing key is set (cases.sharing_key): nothing is exported, imported or matched.'),
      table({
        caption: 'Imported indicators', empty: 'No indicator imported.', rows: r.indicators,
        columns: [
          { label: 'Kind', value: (i) => i.kind },
          { label: 'Source', value: (i) => i.source },
          { label: 'Campaign', value: (i) => i.campaign },
          { label: 'Level', value: (i) => levelBadge(i.level) },
          { label: 'Status', value: (i) => (i.held ? `Held for review: ${fmtInt(i.held.accounts)} established accounts here share it` : 'In force') },
          { label: 'Until', value: (i) => when(i.valid_until) },
          { label: 'Sightings', num: true, value: (i) => fmtInt(seen.get(i.id)?.count ?? 0) },
          { label: 'Accounts', num: true, value: (i) => fmtInt(seen.get(i.id)?.accounts ?? 0) },
        ],
      }),
      r.partner_sightings?.length ? table({
        caption: 'Partners’ sightings of our indicators', rows: r.partner_sightings,
        columns: [
          { label: 'Partner', value: (p) => p.source },
          { label: 'Indicator', value: (p) => h('code', { text: p.indicator_id }) },
          { label: 'Requests', num: true, value: (p) => (p.count === null ? '—' : fmtInt(p.count)) },
          { label: 'Accounts', num: true, value: (p) => (p.accounts === null ? '—' : fmtInt(p.accounts)) },
          { label: 'Last seen', value: (p) => when(p.last_seen) },
        ],
      }) : null,
      form, noKeyNote);
  } catch (err) {
    replace(box, errorBox(err));
  }
}

/** The admin API's largest page of cases (`limit` at most 1000). */
const CASES_MAX = 1000;

/** The cases, newest first, 100 at a time with a button for more. */
async function loadCases(casesBox, query, ctx, limit = 100) {
  let r;
  try { r = await get('/admin/cases', { status: query.status, limit: readLimit(limit, CASES_MAX) }); } catch (err) { replace(casesBox, errorBox(err)); return; }
  if (!ctx.isCurrent()) return;
  const cut = cutList(r.data, { limit, max: CASES_MAX, step: 100, noun: 'cases', moreKey: 'more-cases', onMore: (n) => loadCases(casesBox, query, ctx, n) });
  replace(casesBox, table({
    caption: 'Cases, newest first', empty: 'No case yet.', rows: cut.rows,
    columns: [
      { label: 'Case', value: (c) => link(`/cases/${encodeURIComponent(c.id)}`, shortId(c.id), { title: c.id }) },
      { label: 'Status', value: (c) => statusBadge(c.status) },
      { label: 'Title', value: (c) => c.title },
      { label: 'Level', value: (c) => levelBadge(c.level) },
      { label: 'Accounts', num: true, value: (c) => fmtInt(c.members) },
      { label: 'Opened', value: (c) => when(c.opened_at) },
    ],
  }), cut.note);
}

/** "12 indicators: 5 payment_fp, 4 signup_ip, 3 system_prompt". */
function kindsSummary(kinds) {
  const by = new Map();
  for (const k of kinds) by.set(k ?? 'other', (by.get(k ?? 'other') ?? 0) + 1);
  return `${fmtInt(kinds.length)} indicator${kinds.length === 1 ? '' : 's'}${kinds.length ? `: ${[...by].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${fmtInt(n)} ${k}`).join(', ')}` : ''}`;
}

/**
 * Confirmation of an action that reaches partners (publish, withdraw, dismiss), naming what goes
 * out or is taken back, with an optional note for the case; `days` asks how long indicators stay valid.
 * Resolves to { note, valid_days } or null when cancelled.
 */
function confirmExchange(title, lines, confirmLabel, { tone = 'primary', days = false } = {}) {
  return modal(title, (close) => {
    const note = h('textarea', { id: 'exchange-note', name: 'note', rows: 2, maxlength: 5000 });
    const valid = days ? h('input', { id: 'exchange-days', name: 'valid_days', type: 'number', min: 1, max: 3650, placeholder: 'server default (cases.export_valid_days)' }) : null;
    const submit = (e) => {
      e.preventDefault();
      close({ note: note.value.trim() || null, valid_days: valid?.value ? Number(valid.value) : null });
    };
    return [h('form', { method: 'dialog', on: { submit } },
      lines.map((l) => h('p', { text: l })),
      valid ? [h('label', { for: 'exchange-days', text: 'Valid for (days)' }), valid] : null,
      h('label', { for: 'exchange-note', text: 'Note for the case (optional, recorded with your name)' }), note,
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'btn', on: { click: () => close(null) } }, 'Cancel'), h('button', { type: 'submit', class: `btn btn-${tone}` }, confirmLabel)))];
  });
}

const PARTNER_COLLECTION = 'the TAXII collection “distillation campaign indicators” (/taxii2/intel/), read by every partner key with intel:read';

async function renderCase(main, id, ctx) {
  document.title = 'Case · Warden';
  const [c, exchange] = await Promise.all([
    get(`/admin/cases/${encodeURIComponent(id)}`),
    get(`/admin/cases/${encodeURIComponent(id)}/exchange`).catch(() => null),
  ]);
  if (!ctx.isCurrent()) return;
  document.title = `${c.title} · Warden`;
  const k = c.campaign;
  // Who the accounts of its tables are (the accounts, the ledger's verdicts on them): one read of the account store.
  const members = c.members.slice(0, 200);
  const verdictRows = c.ledger?.verdicts.slice(0, 200) ?? [];
  const decisions = c.decisions ?? [];
  const names = await accountNames([...members.map((m) => m.account_id), ...verdictRows.filter((v) => v.subject_kind === 'account').map((v) => v.subject_id), ...decisions.map((d) => d.account_id)]);
  if (!ctx.isCurrent()) return;
  const reload = () => ctx.setQuery({});
  const inForce = (exchange?.published ?? []).filter((p) => !p.revoked);
  const shareable = c.observables.filter((o) => o.shareable);
  const addNote = (text) => (text ? api('PATCH', `/admin/cases/${encodeURIComponent(c.id)}`, { body: { note: text } }) : null);
  const status = h('select', { id: 'case-status' }, ['open', 'confirmed', 'dismissed', 'closed'].map((s) => h('option', { value: s, selected: s === c.status }, s)));
  const note = h('textarea', { id: 'case-note', rows: 2, maxlength: 5000 });
  const decide = h('form', { class: 'filters', on: { submit: async (e) => {
    e.preventDefault();
    const body = { ...(status.value !== c.status ? { status: status.value } : {}), ...(note.value.trim() ? { note: note.value.trim() } : {}) };
    if (!Object.keys(body).length) { toast('Change the status or write a note.', 'info'); return; }
    // Dismissing revokes what the case published: partners stop matching it.
    if (body.status === 'dismissed' && inForce.length) {
      const sure = await confirmExchange('Dismiss the case and withdraw it from partners?', [
        `Dismissing revokes the ${kindsSummary(inForce.map((p) => p.kind))} this case published in ${PARTNER_COLLECTION}. Partners stop matching them at their next poll.`,
        'Indicators that another case publishes too stay in force.',
      ], 'Dismiss and withdraw', { tone: 'danger' });
      if (!sure) return;
      if (sure.note) body.note = body.note ? `${body.note}. ${sure.note}` : sure.note;
    }
    try { await api('PATCH', `/admin/cases/${encodeURIComponent(c.id)}`, { body }); toast('Recorded.'); reload(); } catch (err) { toast(err.message, 'bad'); }
  } } },
  h('div', { class: 'field' }, h('label', { for: 'case-status', text: 'Status' }), status),
  h('div', { class: 'field' }, h('label', { for: 'case-note', text: 'Note' }), note),
  h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'btn' }, 'Record')));
  const exchangeBox = h('div', null, loading());
  // `off`: the id of the note saying why the action cannot be used here (it is shown, disabled, and described by it).
  const action = (label, fn, off = null) => h('button', { type: 'button', class: 'btn btn-small', disabled: !!off, 'aria-describedby': off, on: { click: async () => { try { await fn(); } catch (err) { toast(err.message, 'bad'); } } } }, label);
  // Without a sharing key the server cannot hash what partners receive: say what turns it on rather than offer a button that fails.
  const sharing = exchange?.sharing ?? { export: true, publish: true };
  const noKeyNote = !sharing.export || !sharing.publish
    ? h('p', { id: 'no-sharing-key', class: 'help' },
      `${!sharing.publish ? 'Exporting and publishing to partners are' : 'The STIX export is'} off on this server: no sharing key is set. Set `,
      h('code', { text: 'cases.sharing_key' }), ' (its default reads the environment variable ', h('code', { text: 'WARDEN_INTEL_KEY' }),
      ') to the key agreed with your partners, at least 16 characters, and restart; see ', h('code', { text: 'docs/cases.md' }), ', “Exchanging indicators”.')
    : null;
  const publish = async () => {
    const sure = await confirmExchange('Publish this case to partners?', [
      `${kindsSummary(shareable.map((o) => o.kind))} go to ${PARTNER_COLLECTION}, as keyed hashes, with campaign ${c.campaign_id}.`,
      inForce.length ? `It already publishes ${fmtInt(inForce.length)}: those are published again as new versions, and those no longer shareable are revoked.` : 'Nothing of this case is published yet.',
    ], 'Publish', { days: true });
    if (!sure) return;
    const r = await post(`/admin/cases/${encodeURIComponent(c.id)}/publish${sure.valid_days ? `?valid_days=${sure.valid_days}` : ''}`);
    await addNote(sure.note);
    toast(`Published: ${r.indicators} indicators${r.revoked ? `, ${r.revoked} revoked` : ''}${r.kept ? `, ${r.kept} no longer shareable left in force (another case publishes them)` : ''}.`);
    reload();
  };
  const withdraw = async () => {
    const sure = await confirmExchange('Withdraw this case from partners?', [
      `The ${kindsSummary(inForce.map((p) => p.kind))} this case publishes in ${PARTNER_COLLECTION} are revoked; partners stop matching them at their next poll.`,
      'Indicators that another case publishes too stay in force.',
    ], 'Withdraw', { tone: 'danger' });
    if (!sure) return;
    const r = await api('DELETE', `/admin/cases/${encodeURIComponent(c.id)}/publish`);
    await addNote(sure.note);
    toast(`Withdrawn: ${r.revoked} indicators revoked${r.kept ? `, ${r.kept} left in force (another case publishes them)` : ''}.`);
    reload();
  };
  replace(main,
    h('div', { class: 'page-head' }, h('h1', { text: c.title }), statusBadge(c.status)),
    h('p', { class: 'actions' },
      action('Download the report', () => download(`/admin/cases/${encodeURIComponent(c.id)}/report`, {}, `${c.id}.md`)),
      action('Export for partners (STIX 2.1)', () => download(`/admin/cases/${encodeURIComponent(c.id)}/stix`, {}, `${c.id}.stix.json`), sharing.export ? null : 'no-sharing-key'),
      action('Refresh from the campaign', async () => { await post(`/admin/cases/${encodeURIComponent(c.id)}/refresh`); toast('Refreshed.'); reload(); }),
      // Partners polling this provider's TAXII collection receive it (again: new versions; values no longer shareable revoked).
      c.status === 'dismissed' ? null : action('Publish to partners (TAXII)', publish, sharing.publish ? null : 'no-sharing-key'),
      // Offered only while something of the case is in force at the partners.
      inForce.length ? action('Withdraw from partners', withdraw) : null),
    noKeyNote,
    panel('Campaign', facts([
      ['Case', h('code', { text: c.id })], ['Campaign', detectLink('campaign', c.campaign_id)], ['Cluster', detectLink('cluster', c.cluster_id)],
      ['Level', levelBadge(k.level)], ['Score', String(k.score)], ['Accounts', fmtInt(k.members.length)], ['Requests', fmtInt(k.volume.requests)],
      ['Output tokens', fmtInt(k.volume.output_tokens)], ['First seen', when(k.first_seen)], ['Flagged', when(k.flagged_at)], ['Opened', when(c.opened_at)],
      ['Targets', Object.entries(k.targets).sort((a, b) => b[1] - a[1]).filter(([, s]) => s >= 0.05).map(([t, s]) => `${t} ${Math.round(s * 100)} %`).join(', ')],
    ])),
    panel('Decision', decide, c.notes.length ? h('ul', null, c.notes.map((n) => h('li', null, when(n.at), n.status ? [' ', statusBadge(n.status)] : null, ` ${n.text}`, n.by ? h('span', { class: 'muted', text: ` — ${n.by}` }) : null))) : null),
    panel('What got through', usageFacts(c)),
    decisions.length || (c.cluster_decisions ?? []).length ? panel('Operator decisions', decisionsBox(c, names)) : null,
    panel('Why it was flagged', reasonsTable(k.evidence, 'Evidence')),
    panel('What its accounts shared', sharedValues(c.observables)),
    panel(`Accounts (${c.members.length})`, table({ caption: 'Accounts', rows: members, columns: [
      { label: 'Account', value: (m) => namedAccount(m.account_id, names) },
      { label: 'Level', value: (m) => levelBadge(m.level) }, { label: 'Tier', value: (m) => m.tier }, { label: 'Programme', value: (m) => m.programme },
      { label: 'Signed up', value: (m) => when(m.created_at) }, { label: 'Email domain', value: (m) => m.email_domain }, { label: 'Signup IP', value: (m) => m.signup_ip },
      { label: 'Requests read', num: true, value: (m) => fmtInt(m.requests) },
    ] })),
    panel('Shared with partners', exchangeBox),
    panel('What the ledger proves', c.ledger
      ? [c.ledger.checkpoint ? h('pre', { class: 'note', text: c.ledger.checkpoint.note }) : h('p', { text: 'No checkpoint yet.' }),
         table({ caption: 'Verdict entries', empty: 'No verdict on this cluster or its members is in the log yet.', rows: verdictRows, columns: [
           { label: 'Entry', num: true, value: (v) => String(v.index) }, { label: 'Time', value: (v) => when(v.ts) }, { label: 'Subject', value: (v) => subjectCell(v.subject_kind, v.subject_id, names) }, { label: 'Level', value: (v) => levelBadge(v.level) },
           ...(ctx.features.ledger?.base ? [{ label: 'Proof', value: (v) => proofButton(ctx.features.ledger.base, v.index) }] : []),
         ] })]
      : h('p', { text: 'The ledger was off when this case was built.' })));
  await renderExchange(exchangeBox, c.id, ctx, exchange);
}

/**
 * What the campaign's accounts were served and refused, from the events the case read (a lower
 * bound when the reading was cut short): requests, served, refused, errors, tokens, models and
 * countries. Case files from before served and refused were counted give the requests alone.
 */
function usageFacts(c) {
  const u = c.usage ?? {};
  const top = (o) => Object.entries(o ?? {}).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, n]) => `${k} ${fmtInt(n)}`).join(', ');
  const pct = (n) => (u.requests ? ` (${Math.round((n / u.requests) * 1000) / 10} %)` : '');
  return [
    facts([
      ['Requests read', `${fmtInt(u.requests ?? 0)}${c.events_truncated ? ' at least: the reading stopped at its bounds (cases.max_events, cases.max_events_per_member)' : ''}`],
      u.served === undefined ? null : ['Served', `${fmtInt(u.served)}${pct(u.served)}`],
      u.refused === undefined ? null : ['Refused (403, 429)', `${fmtInt(u.refused)}${pct(u.refused)}`],
      u.errors === undefined ? null : ['Errors', fmtInt(u.errors)],
      ['Tokens in / out', `${fmtInt(u.input_tokens ?? 0)} / ${fmtInt(u.output_tokens ?? 0)}${u.reasoning_tokens ? ` (of which ${fmtInt(u.reasoning_tokens)} reasoning)` : ''}`],
      ['Models', top(u.models) || null],
      ['Countries', top(u.countries) || null],
    ]),
    u.served === undefined ? h('p', { class: 'help', text: 'This case file was built before served and refused requests were counted: Refresh from the campaign counts them.' }) : null,
  ];
}

/**
 * The operator decisions on the campaign's accounts and cluster when the case was built: who, when,
 * why; allow-listed accounts (and those held at none) are not members and their values are not shared.
 */
function decisionsBox(c, names) {
  const said = (d) => (d.decision === 'allow_list' ? `allow-listed${d.entry ? ` (${d.entry.kind} ${d.entry.id})` : ''}` : `operator verdict ${d.level}`);
  return [
    (c.cluster_decisions ?? []).length ? table({ caption: 'Operator verdicts on its cluster', captionHidden: false, rows: c.cluster_decisions, columns: [
      { label: 'Cluster', value: (d) => [detectLink('cluster', d.cluster_id), d.merged_into ? h('span', { class: 'muted small', text: ` (merged into ${d.merged_into})` }) : null] },
      { label: 'Level', value: (d) => levelBadge(d.level) }, { label: 'Set', value: (d) => when(d.at) }, { label: 'By', value: (d) => d.by ?? '—' },
      { label: 'Until', value: (d) => (d.expires_at ? when(d.expires_at) : 'cleared') }, { label: 'Why', value: (d) => d.note ?? '—' },
    ] }) : null,
    (c.decisions ?? []).length ? table({ caption: 'Decisions on its accounts', captionHidden: false, rows: c.decisions, columns: [
      { label: 'Account', value: (d) => namedAccount(d.account_id, names) }, { label: 'Decision', value: (d) => said(d) },
      { label: 'Member', value: (d) => (d.excluded ? 'no: not counted, its values not shared' : 'yes') },
      { label: 'Set', value: (d) => when(d.at) }, { label: 'By', value: (d) => d.by ?? 'the configuration' }, { label: 'Why', value: (d) => d.note ?? '—' },
    ] }) : null,
  ];
}

/** The values the campaign's accounts shared: those exported first, the rest folded (most are, and they would push its accounts a hundred rows down). */
function sharedValues(observables) {
  const columns = [
    { label: 'Kind', value: (o) => o.kind }, { label: 'Value', value: (o) => h('code', { text: o.value.length > 80 ? `${o.value.slice(0, 80)}…` : o.value }) },
    { label: 'Holders', num: true, value: (o) => fmtInt(o.holders) }, { label: 'Others', num: true, value: (o) => fmtInt(o.others) },
    { label: 'Exported', value: (o) => (o.shareable ? badge('yes', 'ok') : badge('no', 'muted', o.why)) },
    { label: 'Why', value: (o) => o.why },
  ];
  const exported = observables.filter((o) => o.shareable);
  const rest = observables.filter((o) => !o.shareable);
  return [
    h('p', { class: 'help', text: 'Only values the campaign used and few other accounts did are exported, as keyed hashes.' }),
    table({ caption: 'Shared values exported', rows: exported, columns, empty: 'No value is exported: each was used by too many other accounts, or by too few of the campaign’s.' }),
    rest.length ? h('details', null, h('summary', { text: `${fmtInt(rest.length)} value${rest.length === 1 ? '' : 's'} not exported, and why` }),
      table({ caption: 'Shared values not exported', rows: rest, columns })) : null,
  ];
}

/** What the case published over TAXII and what partners reported seeing of it. */
async function renderExchange(box, id, ctx, known) {
  try {
    const x = known ?? await get(`/admin/cases/${encodeURIComponent(id)}/exchange`);
    if (!ctx.isCurrent()) return;
    const kinds = new Map(x.published.map((p) => [p.id, p.kind]));
    replace(box,
      table({
        caption: 'Published indicators', empty: 'Nothing published yet: “Publish to partners” adds this case to the TAXII collection partners poll.', rows: x.published,
        columns: [
          { label: 'Kind', value: (p) => p.kind },
          { label: 'State', value: (p) => (p.revoked ? badge('revoked', 'muted') : badge('in force', 'ok')) },
          { label: 'Valid until', value: (p) => when(p.valid_until) },
          { label: 'Version', value: (p) => when(p.version) },
        ],
      }),
      x.partner_sightings.length ? table({
        caption: 'Partners’ sightings', rows: x.partner_sightings,
        columns: [
          { label: 'Partner', value: (p) => p.source },
          { label: 'Kind', value: (p) => kinds.get(p.indicator_id) ?? '—' },
          { label: 'Requests', num: true, value: (p) => (p.count === null ? '—' : fmtInt(p.count)) },
          { label: 'Accounts', num: true, value: (p) => (p.accounts === null ? '—' : fmtInt(p.accounts)) },
          { label: 'Last seen', value: (p) => when(p.last_seen) },
        ],
      }) : h('p', { class: 'help', text: 'No partner has reported seeing these indicators yet.' }));
  } catch (err) {
    replace(box, errorBox(err));
  }
}
