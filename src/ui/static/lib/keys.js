// API keys: table with revoke and rotate, creation form, and the one-time secret dialog.
import { h, table, link, shortId, when, badge, modal, copyText, toast, askReason, refocus } from './dom.js';
import { post, features } from './api.js';
import { namedAccount } from './names.js';

const STATUS_TONE = { active: 'ok', rotating: 'warn', revoked: 'bad', expired: 'muted' };

/**
 * Show a new key's secret once. The secret exists only in this dialog's DOM; closing it removes
 * the dialog, and nothing keeps a copy.
 */
export function showSecret(created, title = 'New API key') {
  return modal(title, (close) => {
    const code = h('code', { class: 'secret', id: 'new-key-secret', tabindex: '0', text: created.secret });
    return [
      h('p', { class: 'warning', role: 'note' }, h('strong', { text: 'Copy this key now. ' }), 'It is shown once: Warden stores only its hash and cannot show it again.'),
      h('div', { class: 'secret-box' }, code,
        h('button', { type: 'button', class: 'btn', on: { click: () => copyText(created.secret, code) } }, 'Copy')),
      h('p', { class: 'muted' }, 'Key ', h('code', { text: created.key.prefix }), created.key.name ? ` (${created.key.name})` : '', ` for account ${created.key.account_id}.`),
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'btn btn-primary', on: { click: () => close(true) } }, 'I have copied it')),
    ];
  });
}

async function revoke(key, onChange) {
  const reason = await askReason(`Revoke key ${key.prefix}?`, 'The key is refused by the gateway at once. This cannot be undone.', 'Revoke key');
  if (reason === null) return;
  try {
    await post(`/admin/keys/${encodeURIComponent(key.id)}/revoke`, { reason });
    toast(`Key ${key.prefix} revoked.`);
    onChange();
  } catch (err) {
    toast(`Revoke failed: ${err.message}`, 'bad');
  }
}

/**
 * Rotate a key. Afterwards the focus goes to the rotated key's "Revoke now" button or, when the
 * old key was stopped at once, to the new key's first action (`opener` is the Rotate button).
 */
async function rotate(key, onChange, opener) {
  const grace = await modal(`Rotate key ${key.prefix}?`, (close) => {
    const select = h('select', { id: 'grace', name: 'grace' },
      [['0', 'Stop the old key now'], ['3600', 'Keep the old key for 1 hour'], ['86400', 'Keep the old key for 1 day'], ['604800', 'Keep the old key for 7 days']]
        .map(([v, l]) => h('option', { value: v }, l)));
    return [h('form', { method: 'dialog', on: { submit: (e) => { e.preventDefault(); close(Number(select.value)); } } },
      h('p', { text: 'A new secret replaces this key (same account, name, scopes and expiry).' }),
      h('label', { for: 'grace', text: 'Grace period for the old key' }), select,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn', on: { click: () => close(null) } }, 'Cancel'),
        h('button', { type: 'submit', class: 'btn btn-primary' }, 'Rotate')))];
  });
  if (grace === null) return;
  try {
    const rotated = await post(`/admin/keys/${encodeURIComponent(key.id)}/rotate`, { grace_seconds: grace });
    await showSecret(rotated, 'Rotated API key');
    if (opener?.isConnected) {
      opener.dataset.focus = `key-revoke-${key.id}`;
      opener.dataset.focusGroup = `key-${rotated.key.id}`;
      opener.focus();
    }
    onChange();
  } catch (err) {
    toast(`Rotate failed: ${err.message}`, 'bad');
  }
}

/** Keys with their status and actions; `names` (accountNames' Map) says who each key's account is. */
export function keysTable(keys, { onChange, showAccount = false, caption = 'API keys', names = null }) {
  return table({
    caption, rows: keys, empty: 'No keys.',
    columns: [
      { label: 'Key', value: (k) => h('span', { class: 'cell-text' }, h('code', { text: k.prefix }), k.name ? h('span', { class: 'muted', text: ` ${k.name}` }) : null) },
      showAccount ? { label: 'Account', value: (k) => namedAccount(k.account_id, names) } : null,
      { label: 'Scopes', value: (k) => k.scopes.join(', ') },
      { label: 'Status', value: (k) => badge(k.status, STATUS_TONE[k.status] ?? 'muted', k.revoked_at ? `until ${k.revoked_at}` : undefined) },
      { label: 'Created', value: (k) => when(k.created_at) },
      { label: 'Last used', value: (k) => when(k.last_used_at) },
      { label: 'Expires', value: (k) => (k.expires_at ? when(k.expires_at) : h('span', { class: 'muted', text: 'never' })) },
      { label: 'Actions', value: (k) => (k.status === 'active'
        ? h('span', { class: 'row-actions' },
          h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Rotate key ${k.prefix}`, 'data-focus': `key-rotate-${k.id}`, 'data-focus-group': `key-${k.id}`, on: { click: (e) => rotate(k, onChange, e.currentTarget) } }, 'Rotate'),
          h('button', { type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `Revoke key ${k.prefix}`, 'data-focus': `key-revoke-${k.id}`, 'data-focus-group': `key-${k.id}`, on: { click: () => revoke(k, onChange) } }, 'Revoke'))
        : k.status === 'rotating'
          ? h('button', { type: 'button', class: 'btn btn-small btn-danger', 'aria-label': `Revoke key ${k.prefix} now`, 'data-focus': `key-revoke-${k.id}`, 'data-focus-group': `key-${k.id}`, on: { click: () => revoke(k, onChange) } }, 'Revoke now')
          : null) },
    ].filter(Boolean),
  });
}

/** Form creating a key for an account (or for the account id typed in, when none is given). */
export function createKeyForm({ accountId, onCreated }) {
  const uid = Math.random().toString(36).slice(2, 7);
  const account = accountId ? null : h('input', { id: `ck-account-${uid}`, name: 'account', required: true, placeholder: 'acct_…', autocomplete: 'off' });
  const name = h('input', { id: `ck-name-${uid}`, name: 'name', maxlength: 200, placeholder: 'e.g. ci, production', autocomplete: 'off' });
  // Every scope a key can carry, as the server lists them (its identity table, with what each
  // grants): a scope added there is offered here without a change to the form.
  const scopeBoxes = [];
  const scopes = h('fieldset', { class: 'field checks' }, h('legend', { text: 'Scopes' }));
  const scopesShown = features().then((f) => {
    for (const s of f.key_scopes ?? []) {
      const box = h('input', { type: 'checkbox', id: `ck-scope-${uid}-${s.scope.replace(/[^a-z]/g, '-')}`, name: 'scope', value: s.scope, checked: s.default });
      box.defaultChecked = s.default; // and again after the form is reset
      scopeBoxes.push(box);
      scopes.append(h('span', { class: 'inline-check', title: s.grants }, box, h('label', { for: box.id, text: s.scope })));
    }
  }, (err) => scopes.append(h('span', { class: 'muted', text: `The scopes could not be loaded: ${err.message}` })));
  const expiry = h('select', { id: `ck-exp-${uid}`, name: 'expiry' },
    [['', 'Never'], ['2592000', '30 days'], ['7776000', '90 days'], ['31536000', '1 year']].map(([v, l]) => h('option', { value: v }, l)));
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-focus': 'create-key' }, 'Create key');
  const form = h('form', { class: 'filters', 'aria-label': 'Create an API key', on: { submit: async (e) => {
    e.preventDefault();
    error.textContent = '';
    await scopesShown; // a form sent before its scopes were shown sends those it starts with
    const chosen = scopeBoxes.filter((c) => c.checked).map((c) => c.value);
    if (!chosen.length) { error.textContent = 'Choose at least one scope.'; return; }
    const id = accountId ?? account.value.trim();
    const body = { scopes: chosen };
    if (name.value.trim()) body.name = name.value.trim();
    if (expiry.value) body.expires_in_s = Number(expiry.value);
    submit.disabled = true;
    try {
      const created = await post(`/admin/accounts/${encodeURIComponent(id)}/keys`, body);
      form.reset();
      await showSecret(created);
      onCreated(created);
    } catch (err) {
      error.textContent = `Could not create the key: ${err.message}`;
    } finally {
      submit.disabled = false;
      // Disabled while the request ran, the button lost the focus: it gets it back (the error, if any, is an alert).
      refocus(submit);
    }
  } } },
  account ? h('div', { class: 'field' }, h('label', { for: account.id, text: 'Account id' }), account) : null,
  h('div', { class: 'field' }, h('label', { for: name.id, text: 'Name' }), name),
  scopes,
  h('div', { class: 'field' }, h('label', { for: expiry.id, text: 'Expires' }), expiry),
  h('div', { class: 'field field-button' }, submit),
  error);
  return form;
}
