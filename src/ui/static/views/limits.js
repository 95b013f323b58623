// Limits: limiter status, overrides in force (config file and runtime), create and delete
// runtime overrides, and "which limits would apply to this request" (explain).
import { h, replace, panel, facts, badge, table, when, loading, errorBox, toast, fmtInt } from '../lib/dom.js';
import { get, post, api } from '../lib/api.js';

const SCOPES = ['key', 'account', 'org', 'ip', 'subnet', 'asn', 'cluster'];
const FIELDS = [['rpm', 'Requests / min'], ['burst', 'Burst'], ['tpm', 'Tokens / min'], ['tpd', 'Tokens / day'], ['input_tpm', 'Input tokens / min'], ['output_tpm', 'Output tokens / min'], ['concurrency', 'Concurrent requests'], ['daily_budget_usd', 'Daily budget (USD)'], ['monthly_budget_usd', 'Monthly budget (USD)']];
const TIERS = ['unverified', 'email_verified', 'identity_verified', 'enterprise'];
const PROGRAMMES = ['none', 'education', 'research', 'startup'];

const limitsText = (l) => Object.entries(l ?? {}).map(([k, v]) => `${k}=${v === null ? '∞' : v}`).join(' ') || '—';

export async function render(main, _params, query, ctx) {
  document.title = 'Limits · Warden';
  const f = ctx.features.limits ?? {};
  if (!f.status && !f.overrides) {
    replace(main, h('h1', { text: 'Limits' }), panel('Not available', h('p', { text: 'The limits admin routes are not mounted on this server.' })));
    return;
  }
  const statusBox = h('div', null, loading());
  const listBox = h('div', null, loading());
  const explainBox = h('div');
  const reload = () => ctx.setQuery({ ...query });

  // Create override
  const scope = h('select', { id: 'ov-scope', name: 'scope' }, SCOPES.map((s) => h('option', { value: s }, s)));
  const subject = h('input', { id: 'ov-subject', name: 'subject', required: true, placeholder: 'acct_…, 203.0.113.0/24, 64500 or *', autocomplete: 'off' });
  const model = h('input', { id: 'ov-model', name: 'model', placeholder: 'any model (or gpt-4o*)', autocomplete: 'off' });
  const note = h('input', { id: 'ov-note', name: 'note', maxlength: 1000, autocomplete: 'off' });
  const fields = FIELDS.map(([k, label]) => [k, h('input', { id: `ov-${k}`, name: k, type: 'number', min: k === 'burst' ? 1 : 0, step: k.includes('budget') ? '0.01' : '1', inputmode: 'decimal', 'aria-describedby': 'ov-help' }), label]);
  const err = h('p', { class: 'form-error', role: 'alert' });
  const form = h('form', { class: 'filters', 'aria-label': 'Create a limit override', on: { submit: async (e) => {
    e.preventDefault();
    err.textContent = '';
    const limits = {};
    for (const [k, input] of fields) if (input.value !== '') limits[k] = Number(input.value);
    if (!Object.keys(limits).length) { err.textContent = 'Set at least one limit.'; return; }
    try {
      await post('/admin/limits/overrides', { scope: scope.value, subject: subject.value.trim(), model: model.value.trim() || null, note: note.value.trim() || null, limits });
      toast('Override created; it applies at once.');
      reload();
    } catch (ex) { err.textContent = ex.message; }
  } } },
  h('div', { class: 'field' }, h('label', { for: 'ov-scope', text: 'Scope' }), scope),
  h('div', { class: 'field' }, h('label', { for: 'ov-subject', text: 'Subject' }), subject),
  h('div', { class: 'field' }, h('label', { for: 'ov-model', text: 'Model' }), model),
  fields.map(([k, input, label]) => h('div', { class: 'field field-narrow' }, h('label', { for: `ov-${k}`, text: label }), input)),
  h('div', { class: 'field field-grow' }, h('label', { for: 'ov-note', text: 'Note' }), note),
  h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create override')),
  h('p', { id: 'ov-help', class: 'help', text: 'Empty fields inherit; 0 refuses everything on that meter.' }),
  err);

  // Explain
  const ex = {
    account_id: h('input', { id: 'ex-account', name: 'account_id', placeholder: 'acct_…', autocomplete: 'off' }),
    org_id: h('input', { id: 'ex-org', name: 'org_id', placeholder: 'org_… (optional)', autocomplete: 'off' }),
    tier: h('select', { id: 'ex-tier', name: 'tier' }, TIERS.map((t) => h('option', { value: t }, t))),
    programme: h('select', { id: 'ex-programme', name: 'programme' }, PROGRAMMES.map((t) => h('option', { value: t }, t))),
    ip: h('input', { id: 'ex-ip', name: 'ip', placeholder: '203.0.113.9 (optional)', autocomplete: 'off' }),
    model: h('input', { id: 'ex-model', name: 'model', placeholder: 'gpt-4o-mini', autocomplete: 'off' }),
  };
  const explainForm = h('form', { class: 'filters', 'aria-label': 'Explain limits', on: { submit: async (e) => {
    e.preventDefault();
    const body = { tier: ex.tier.value, programme: ex.programme.value };
    if (ex.account_id.value.trim()) body.account_id = ex.account_id.value.trim();
    if (ex.org_id.value.trim()) body.org_id = ex.org_id.value.trim();
    if (ex.ip.value.trim()) body.ip = ex.ip.value.trim();
    if (ex.model.value.trim()) body.model = ex.model.value.trim();
    try {
      const res = await post('/admin/limits/explain', body);
      replace(explainBox, table({ caption: 'Meters that would apply', captionHidden: false, rows: res.meters, columns: [
        { label: 'Scope', value: (m) => m.scope }, { label: 'Subject', value: (m) => m.subject }, { label: 'Model', value: (m) => m.model ?? 'any' },
        { label: 'Meter', value: (m) => m.kind }, { label: 'Limit', num: true, value: (m) => (m.limit === null ? '∞' : fmtInt(m.limit)) },
        { label: 'Burst', num: true, value: (m) => (m.burst ?? '—') }, { label: 'Multiplier', num: true, value: (m) => (m.multiplier ?? 1) },
      ] }));
    } catch (e2) { replace(explainBox, errorBox(e2)); }
  } } },
  Object.entries(ex).map(([k, input]) => h('div', { class: 'field' }, h('label', { for: input.id, text: k.replace('_', ' ') }), input)),
  h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'btn' }, 'Explain')));

  replace(main, h('div', { class: 'page-head' }, h('h1', { text: 'Limits' })),
    panel('Limiter', statusBox),
    panel('Overrides in force', listBox),
    panel('New override', form),
    f.explain ? panel('Which limits apply to a request?', explainForm, explainBox) : null);

  await Promise.all([
    (async () => {
      const s = await get(f.status);
      replace(statusBox, facts([
        ['Enforcing', s.enabled ? badge('on', 'ok') : badge('off', 'warn')],
        ['Backend', s.backend],
        ['When the backend fails', s.on_backend_failure],
        ['Circuit', typeof s.circuit === 'object' ? JSON.stringify(s.circuit) : String(s.circuit)],
        ['In flight on this node', fmtInt(s.in_flight)],
      ]));
    })().catch((e) => replace(statusBox, errorBox(e))),
    (async () => {
      const list = await get(f.overrides);
      replace(listBox, table({ caption: 'Limit overrides', rows: list.data, empty: 'No overrides: tier and programme defaults apply.', columns: [
        { label: 'Scope', value: (o) => o.scope }, { label: 'Subject', value: (o) => h('code', { text: o.subject }) }, { label: 'Model', value: (o) => o.model ?? 'any' },
        { label: 'Limits', value: (o) => h('code', { class: 'small', text: limitsText(o.limits) }) },
        { label: 'Source', value: (o) => badge(o.source ?? 'runtime', o.source === 'config' ? 'muted' : 'info') },
        { label: 'Note', value: (o) => o.note }, { label: 'Expires', value: (o) => (o.expires_at ? when(o.expires_at) : 'never') },
        { label: 'Actions', value: (o) => (o.source === 'config' || String(o.id).startsWith('config:') ? h('span', { class: 'muted', text: 'config file' })
          : h('button', { type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `Delete override ${o.id}`, on: { click: async () => {
            if (!confirm(`Delete the ${o.scope} override for ${o.subject}?`)) return;
            try { await api('DELETE', `${f.overrides}/${encodeURIComponent(o.id)}`); toast('Override deleted.'); reload(); } catch (e) { toast(e.message, 'bad'); }
          } } }, 'Delete')) },
      ] }));
    })().catch((e) => replace(listBox, errorBox(e))),
  ]);
}
