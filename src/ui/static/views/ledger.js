// Ledger: the latest signed checkpoint, the newest entries, and the audit query ("who used the
// model, how much, from where, and what did we conclude") with CSV/JSONL export.
import { h, replace, panel, facts, table, when, loading, errorBox, fmtInt, levelBadge, link, shortId, toast } from '../lib/dom.js';
import { get, download } from '../lib/api.js';
import { proofButton } from '../lib/proof.js';
import { accountNames, namedAccount, subjectCell } from '../lib/names.js';

/** C2SP checkpoint body: origin, tree size, root hash (base64), then optional extension lines. */
export function parseCheckpoint(note) {
  const [body, sigs = ''] = String(note).split('\n\n');
  const [origin, size, root] = body.split('\n');
  return { origin, size: Number(size), root, signatures: sigs.split('\n').filter((l) => l.startsWith('— ')).length };
}

/** "signal=value (threshold t): detail; ..." */
function reasonsText(reasons) {
  return (reasons ?? []).map((r) => `${r.signal}=${r.value}${r.threshold !== null && r.threshold !== undefined ? ` (threshold ${r.threshold})` : ''}${r.detail ? `: ${r.detail}` : ''}`).join('; ') || '—';
}

function entryRow(e) {
  let rec = null;
  try { rec = JSON.parse(e.leaf); } catch { /* shown raw */ }
  return { ...e, rec };
}

export async function render(main, _params, query, ctx) {
  document.title = 'Ledger · Warden';
  const { base, query: queryPath } = ctx.features.ledger ?? {};
  if (!base && !queryPath) {
    replace(main, h('h1', { text: 'Ledger' }), panel('Not mounted', h('p', { text: 'The tamper-evident ledger’s routes are not mounted on this server. When they are (checkpoint, proofs, entries and the audit query), this page shows the latest signed checkpoint, the newest entries and the audit query.' }),
      h('p', { class: 'muted', text: 'The ledger can also be read and verified offline with `warden ledger verify | prove | query`.' })));
    return;
  }
  const head = h('div', null, loading());
  const entries = h('div', null, loading());
  const results = h('div');
  const fields = [['account', 'Account id'], ['org', 'Organisation id'], ['cluster', 'Cluster id'], ['key', 'Key id'], ['model', 'Model'], ['ip', 'Client IP'], ['network', 'Network (CIDR)'], ['from', 'From (ISO time)'], ['to', 'To (ISO time)']]
    .map(([name, label]) => [name, label, h('input', { id: `lq-${name}`, name, value: query[name] ?? '', autocomplete: 'off' })]);
  const params = () => Object.fromEntries(fields.map(([n, , i]) => [n, i.value.trim()]).filter(([, v]) => v));
  const form = queryPath ? h('form', { class: 'filters', role: 'search', 'aria-label': 'Audit query', on: { submit: (e) => { e.preventDefault(); ctx.setQuery({ ...params(), run: '1' }); } } },
    fields.map(([name, label, input]) => h('div', { class: 'field' }, h('label', { for: `lq-${name}`, text: label }), input)),
    h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Query')),
    h('div', { class: 'field field-button' }, h('button', { type: 'button', class: 'btn', on: { click: () => download(queryPath, { ...params(), format: 'csv' }, 'warden-ledger-query.csv').catch((e) => toast(e.message, 'bad')) } }, 'Export CSV')),
    h('div', { class: 'field field-button' }, h('button', { type: 'button', class: 'btn', on: { click: () => download(queryPath, { ...params(), format: 'jsonl' }, 'warden-ledger-query.jsonl').catch((e) => toast(e.message, 'bad')) } }, 'Export JSONL'))) : null;

  replace(main, h('div', { class: 'page-head' }, h('h1', { text: 'Ledger' })),
    base ? panel('Latest signed checkpoint', head) : null,
    base ? panel('Newest entries', entries) : null,
    queryPath ? panel('Audit query', form, results) : null);

  const tasks = [];
  if (base) {
    tasks.push((async () => {
      let cp;
      try { cp = await get(`${base}/checkpoint`); } catch (err) {
        if (err.status === 404) { replace(head, h('p', { class: 'muted', text: 'No checkpoint yet: the log is empty.' })); replace(entries, h('p', { class: 'empty', text: 'No entries.' })); return; }
        throw err;
      }
      const c = parseCheckpoint(cp);
      const keyText = await get(`${base}/key`).catch(() => null);
      replace(head, facts([['Origin', c.origin], ['Tree size', fmtInt(c.size)], ['Root hash', h('code', { text: c.root })], ['Signatures', String(c.signatures)], keyText ? ['Verifier key', h('code', { class: 'small', text: String(keyText).trim() })] : null]),
        h('details', null, h('summary', { text: 'Signed note as published' }), h('pre', { class: 'note', text: cp })));
      const page = await get(`${base}/entries`, { start: Math.max(0, c.size - 25), end: c.size });
      const rows = page.entries.map(entryRow).reverse();
      // Who the accounts of the entries are: one read for the page.
      const names = await accountNames(rows.map((e) => (e.rec?.kind === 'verdict' ? (e.rec.subject?.kind === 'account' ? e.rec.subject.id : null) : e.rec?.kind === 'erasure' ? null : e.rec?.account_id)));
      replace(entries, table({ caption: 'Newest ledger entries', rows, columns: [
        { label: '#', num: true, value: (e) => fmtInt(e.index) },
        { label: 'Kind', value: (e) => e.rec?.kind ?? '?' },
        { label: 'When', value: (e) => when(e.rec?.ts) },
        { label: 'Subject', value: (e) => (e.rec?.kind === 'verdict' ? subjectCell(e.rec.subject.kind, e.rec.subject.id, names) : e.rec?.account_id ? namedAccount(e.rec.account_id, names) : '—') },
        { label: 'What', value: (e) => (e.rec?.kind === 'verdict' ? levelBadge(e.rec.level) : e.rec?.kind === 'settings' ? `detector settings ${String(e.rec.digest).slice(0, 12)}… (Warden ${e.rec.settings?.warden_version ?? '?'})` : e.rec?.kind === 'erasure' ? `erasure of account ${e.rec.subject?.id}` : e.rec ? `${e.rec.model || '—'} · ${e.rec.response?.status} · ${fmtInt(e.rec.response?.input_tokens)} in / ${fmtInt(e.rec.response?.output_tokens)} out` : e.leaf.slice(0, 80)) },
        { label: 'Leaf hash', value: (e) => h('code', { class: 'small', title: e.leaf_hash, text: `${e.leaf_hash.slice(0, 12)}…` }) },
        { label: 'Proof', value: (e) => proofButton(base, e.index) },
      ] }));
    })().catch((err) => { replace(head, errorBox(err)); replace(entries, ''); }));
  }
  if (queryPath && query.run) {
    replace(results, loading('Querying the ledger…'));
    tasks.push((async () => {
      const q = Object.fromEntries(fields.map(([n]) => [n, query[n]]).filter(([, v]) => v));
      const r = await get(queryPath, { ...q, limit: 1000 });
      const names = await accountNames([...(r.usage ?? []).map((u) => u.account_id), ...(r.verdicts ?? []).filter((v) => v.subject_kind === 'account').map((v) => v.subject_id)]);
      replace(results,
        h('h3', { text: 'Usage' }),
        table({ caption: 'Usage per account', rows: r.usage ?? [], empty: 'No matching interactions.', columns: [
          { label: 'Account', value: (u) => (u.account_id ? namedAccount(u.account_id, names) : 'unauthenticated') },
          { label: 'Requests', num: true, value: (u) => fmtInt(u.requests) },
          { label: 'Refused', num: true, value: (u) => fmtInt(u.refused ?? 0) },
          { label: 'Errors', num: true, value: (u) => fmtInt(u.errors) },
          { label: 'Tokens in / out', num: true, value: (u) => `${fmtInt(u.input_tokens)} / ${fmtInt(u.output_tokens)}` },
          // Of the input: the prompt cache's reads and writes, from the leaves that record them (warden.ledger/2).
          { label: 'Cache read / write', num: true, title: 'Of Tokens in, from the signed leaves; leaves written before the split was recorded have none', value: (u) => h('span', null, `${fmtInt(u.cached_input_tokens ?? 0)} / ${fmtInt(u.cache_write_tokens ?? 0)}`,
            u.cache_unrecorded ? h('span', { class: 'muted small', text: ` (${fmtInt(u.cache_unrecorded)} requests without the split)` }) : null) },
          { label: 'IPs', value: (u) => (u.ips ?? []).slice(0, 5).join(', ') + ((u.ips ?? []).length > 5 ? ` +${u.ips.length - 5}` : '') },
          // Regions (ISO 3166-2) as the policy's range data placed the addresses (warden.ledger/4 leaves).
          { label: 'Countries (regions)', value: (u) => [(u.countries ?? []).join(', '), (u.subdivisions ?? []).length ? `(${u.subdivisions.join(', ')})` : ''].filter(Boolean).join(' ') },
          { label: 'First / last', value: (u) => h('span', null, when(u.first_ts), ' – ', when(u.last_ts)) },
          { label: 'Verdict in force', value: (u) => (u.verdict_in_force ? h('span', { title: u.verdict_in_force.subject ?? '' }, levelBadge(u.verdict_in_force.level)) : '—') },
          { label: 'Latest verdict', value: (u) => (u.latest_verdict ? levelBadge(u.latest_verdict.level) : '—') },
        ] }),
        h('h3', { text: 'Verdicts' }),
        table({ caption: 'Verdicts about these accounts and clusters', rows: r.verdicts ?? [], empty: 'No verdicts recorded.', columns: [
          { label: 'When', value: (v) => when(v.ts) },
          { label: 'Subject', value: (v) => subjectCell(v.subject_kind, v.subject_id, names) },
          { label: 'Level', value: (v) => levelBadge(v.level) },
          { label: 'Score', num: true, value: (v) => (v.score === null ? '—' : String(v.score)) },
          { label: 'Source', value: (v) => v.source },
          { label: 'Campaign', value: (v) => v.campaign_id },
          { label: 'Why', value: (v) => reasonsText(v.reasons) },
          ...(base ? [{ label: 'Proof', value: (v) => proofButton(base, v.index) }] : []),
        ] }),
        h('p', { class: 'muted', text: `${fmtInt((r.interactions ?? []).length)} interactions${r.truncated ? ' (truncated: narrow the query or export)' : ''}.` }));
    })().catch((err) => replace(results, errorBox(err))));
  }
  await Promise.all(tasks);
}
