// DOM helpers. Every piece of data reaches the page as text (textContent), never as HTML:
// account names, user agents and prompts are attacker-controlled.

/**
 * Create an element. `props`: class, text, on (event handlers), attrs (attributes), or any
 * other key set as an attribute; children: nodes, strings, numbers, arrays, null (skipped).
 * @param {string} tag
 * @param {Record<string, any> | null} [props]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'value' && 'value' in el) el.value = String(v);
    else if (k === 'checked' || k === 'disabled' || k === 'selected') el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/** Append children (flattening arrays, skipping null/undefined/false). */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** SVG element (same conventions as h, attributes only). */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs ?? {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const compactFmt = new Intl.NumberFormat(undefined, { notation: 'compact', maximumFractionDigits: 1 });

/** 12,345 */
export const fmtInt = (n) => (n === null || n === undefined ? '—' : intFmt.format(n));
/** 12.3K */
export const fmtCompact = (n) => (n === null || n === undefined ? '—' : Math.abs(n) < 10000 ? intFmt.format(n) : compactFmt.format(n));
/** 3.1 % (of a ratio) */
export const fmtPct = (ratio) => (!Number.isFinite(ratio) ? '—' : `${(ratio * 100).toFixed(ratio > 0 && ratio < 0.001 ? 3 : 1)} %`);

// Times: one way everywhere. Shown in the browser's time zone with the zone named ("6 Dec 2026,
// 08:52:06 CET"), the same instant in UTC on hover (the title), so that two people in different
// zones, or a time copied into a report, are never an hour apart without saying so.

/** The browser's time zone, e.g. Europe/Paris (UTC when the browser names none). */
export const timeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

/** The short name of the browser's zone at that instant (CET, GMT+1, UTC). */
export function zoneAbbrev(iso = Date.now()) {
  return new Intl.DateTimeFormat(undefined, { timeZoneName: 'short' }).formatToParts(new Date(iso)).find((p) => p.type === 'timeZoneName')?.value ?? '';
}

/** Local date and time, to the second, with the zone named. */
export function fmtTime(iso, opts = { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(undefined, { ...opts, timeZoneName: 'short' });
}

/** The same instant in UTC: 2026-12-06 07:52:06 UTC. */
export function fmtUtc(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** "3 min ago", "in 2 d" */
export function timeAgo(iso) {
  if (!iso) return '—';
  const ms = Date.now() - new Date(iso).getTime();
  if (!Number.isFinite(ms)) return String(iso);
  const s = Math.abs(ms) / 1000;
  const span = s < 60 ? `${Math.floor(s)} s` : s < 3600 ? `${Math.floor(s / 60)} min` : s < 86400 ? `${Math.floor(s / 3600)} h` : `${Math.floor(s / 86400)} d`;
  return ms < 0 ? `in ${span}` : `${span} ago`;
}

/**
 * A time as every page shows one: a <time> element in the browser's zone with the zone named, and
 * on hover the same instant in UTC and how long ago it was. `opts`: the fields shown (default: to the second).
 */
export function when(iso, opts) {
  if (!iso) return h('span', { class: 'muted', text: '—' });
  if (Number.isNaN(new Date(iso).getTime())) return h('span', { text: String(iso) });
  return h('time', { datetime: iso, title: `${fmtUtc(iso)} (${timeAgo(iso)})`, text: fmtTime(iso, opts) });
}

/** Shorten an id for display, keeping its type prefix: acct_01J…9ND */
export function shortId(id) {
  if (!id) return '—';
  return id.length > 18 ? `${id.slice(0, 10)}…${id.slice(-4)}` : id;
}

/** A link inside the dashboard (hash route). */
export function link(route, text, props = {}) {
  return h('a', { href: `#${route}`, ...props }, text);
}

/** A small coloured label; `tone`: ok, warn, bad, info, muted. */
export function badge(text, tone = 'muted', title) {
  return h('span', { class: `badge badge-${tone}`, title }, text);
}

const LEVEL_TONE = { none: 'ok', watch: 'info', throttle: 'warn', shape: 'warn', verify: 'warn', suspend: 'bad' };
export const levelBadge = (level) => badge(level ?? 'none', LEVEL_TONE[level] ?? 'muted');

export function statusBadge(status) {
  const tone = status < 400 ? 'ok' : status === 429 || status === 403 ? 'warn' : status === 401 ? 'info' : 'bad';
  return badge(String(status), tone);
}

/**
 * An accessible table. columns: [{ label, value(row) -> node|string, num?, title?, sort? }] (`sort`: the
 * column's aria-sort, ascending, descending or none, for a table sorted by its headers).
 * @param {{ caption: string, columns: any[], rows: any[], empty?: string, captionHidden?: boolean }} spec
 */
export function table({ caption, columns, rows, empty = 'Nothing to show.', captionHidden = true }) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', null,
      h('caption', { class: captionHidden ? 'visually-hidden' : null, text: caption }),
      // A column of row buttons has no visible title, but a screen reader names the column of each cell it reads.
      h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null, title: c.title, 'aria-sort': c.sort }, c.label === '' ? h('span', { class: 'visually-hidden', text: 'Actions' }) : c.label)))),
      h('tbody', null, rows.map((r) => h('tr', null, columns.map((c) => {
        const v = c.value(r);
        // Text from the data (names, notes, file names) may hold long runs without spaces: it wraps
        // within a bounded width, so the columns after it (and their actions) stay in view.
        const cell = v === null || v === undefined ? '—' : !c.num && typeof v === 'string' && v.length > 40 ? h('span', { class: 'cell-text', text: v }) : v;
        return h('td', { class: c.num ? 'num' : null }, cell);
      }))))));
}

/**
 * A list the API cuts at `limit` rows (newest first, no cursor): read `limit + 1` rows with
 * `readLimit(limit)` so that the extra one says more exist, then show `limit` of them and, under
 * the table, how many are shown with a button to show `step` more. At the API's largest page
 * (`max`) it says that older rows may exist that this page does not list.
 * @returns {{ rows: any[], note: Node | null }}
 */
export function cutList(rows, { limit, max, step, noun, onMore, moreKey }) {
  if (rows.length <= limit && !(limit >= max && rows.length >= max)) return { rows, note: null };
  const shown = rows.slice(0, limit);
  if (limit >= max) return { rows: shown, note: h('p', { class: 'muted more-note', text: `Showing the newest ${fmtInt(shown.length)} ${noun}: older ones may exist that this page does not list.` }) };
  const more = h('button', { type: 'button', class: 'btn btn-small', 'data-focus': moreKey, on: { click: () => { more.disabled = true; onMore(Math.min(limit + step, max)); } } }, `Show ${fmtInt(Math.min(step, max - limit))} more`);
  return { rows: shown, note: h('p', { class: 'more-note' }, h('span', { class: 'muted', text: `Showing the newest ${fmtInt(shown.length)} ${noun}; there are more. ` }), more) };
}

/** The limit to ask the API for: one more than shown, to learn whether more exist (never above its largest page). */
export const readLimit = (limit, max) => Math.min(limit + 1, max);

/** A titled section. */
export function panel(title, ...children) {
  const id = `p-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return h('section', { class: 'panel', 'aria-labelledby': id }, h('h2', { id, text: title }), children);
}

/** Definition list from [label, value] pairs. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', { text: k }), h('dd', null, v === null || v === undefined || v === '' ? h('span', { class: 'muted', text: '—' }) : v)]));
}

/** A key figure. */
export function kpi(label, value, sub) {
  return h('div', { class: 'kpi' }, h('div', { class: 'kpi-label', text: label }), h('div', { class: 'kpi-value', text: value }), sub ? h('div', { class: 'kpi-sub', text: sub }) : null);
}

/**
 * What identifies the focused control inside `root` across a re-render: its `data-focus` key or
 * its id, its `data-focus-group` (a neighbour to fall back on, e.g. the other pager button), and
 * the panel it is in. Null when the focus is elsewhere.
 */
export function focusedControl(root) {
  const el = document.activeElement;
  if (!el || el === root || !root.contains(el)) return null;
  const key = el.dataset?.focus ? `[data-focus="${CSS.escape(el.dataset.focus)}"]` : el.id ? `#${CSS.escape(el.id)}` : null;
  const group = el.dataset?.focusGroup ? `[data-focus-group="${CSS.escape(el.dataset.focusGroup)}"]` : null;
  const panelId = el.closest('section[aria-labelledby]')?.getAttribute('aria-labelledby') ?? null;
  return key || group || panelId ? { key, group, panelId } : null;
}

const focusable = (el) => el && !el.disabled && el.getClientRects().length > 0;
const focusLost = (root) => !document.activeElement || document.activeElement === document.body || document.activeElement === root;

/**
 * Focus the same control (or one of its group) again as soon as a re-render puts it back into
 * `root`, unless the user has moved the focus meanwhile. Returns `finish()`, called when the
 * render is done: it stops watching and, when the control never came back (a revoked key's
 * buttons), focuses the heading of the panel it was in.
 */
export function followFocus(root, { key, group, panelId }) {
  let done = false;
  const find = () => [key, group].filter(Boolean).map((s) => root.querySelector(s)).find(focusable);
  const attempt = () => {
    if (done) return;
    if (!focusLost(root)) { stop(); return; }
    const el = find();
    if (el) { el.focus(); stop(); }
  };
  const observer = new MutationObserver(attempt);
  const stop = () => { done = true; observer.disconnect(); };
  observer.observe(root, { childList: true, subtree: true });
  return {
    stop,
    pending: () => !done,
    finish() {
      if (done) return;
      attempt();
      if (done) return;
      stop();
      const heading = panelId ? root.querySelector(`#${CSS.escape(panelId)}`) : null;
      if (heading && focusLost(root)) {
        heading.setAttribute('tabindex', '-1');
        heading.focus();
      }
    },
  };
}

/** What finds `el` again among the same page's new elements: its panel, tag, target and text, and which of the like it is. */
function spotOf(el, root) {
  const panelId = el.closest('section[aria-labelledby]')?.getAttribute('aria-labelledby') ?? null;
  const spot = { panelId, tag: el.tagName, href: el.getAttribute('href'), text: (el.textContent ?? '').trim(), nth: 0 };
  spot.nth = likeOf(root, spot).indexOf(el);
  return spot;
}
function likeOf(root, { panelId, tag, href, text }) {
  return [...root.querySelectorAll(tag)].filter((e) => (e.closest('section[aria-labelledby]')?.getAttribute('aria-labelledby') ?? null) === panelId
    && e.getAttribute('href') === href && (e.textContent ?? '').trim() === text);
}

/**
 * Replace `el`'s children with a newer rendering of the same content (an automatic refresh)
 * without losing the reader's place: the control that had the focus is focused again in the new
 * content (found by its panel, link and text; when it is gone, its panel's heading), and the
 * folded sections (<details>) that were open stay open.
 */
export function refreshInPlace(el, ...children) {
  const active = document.activeElement;
  const focused = active && active !== el && el.contains(active) ? spotOf(active, el) : null;
  const open = [...el.querySelectorAll('details[open] > summary')].map((s) => spotOf(s, el));
  replace(el, ...children);
  for (const spot of open) likeOf(el, spot)[spot.nth]?.parentElement?.setAttribute('open', '');
  if (!focused) return;
  const again = likeOf(el, focused)[focused.nth] ?? (focused.panelId ? el.querySelector(`#${CSS.escape(focused.panelId)}`) : null);
  if (!again) return;
  if (!again.matches('a[href], button, input, select, textarea, summary, [tabindex]')) again.setAttribute('tabindex', '-1');
  again.focus({ preventScroll: true });
}

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Loading placeholder. */
export const loading = (what = 'Loading…') => h('p', { class: 'loading', role: 'status', text: what });

/** Error box for a failed load. */
export function errorBox(err) {
  return h('div', { class: 'error-box', role: 'alert' }, h('strong', { text: 'Could not load: ' }), err?.message ?? String(err), err?.code ? h('code', { text: ` (${err.code})` }) : null);
}

/**
 * Say `message` to screen readers without showing it: politely (after what is being read), or
 * at once for an error (`assertive`). The regions are in index.html from the start, since a live
 * region added along with its text is not read. The text is cleared first, so that the same
 * message twice in a row is read twice.
 */
export function announce(message, { assertive = false } = {}) {
  const el = document.getElementById(assertive ? 'announce-alert' : 'announce');
  if (!el) return;
  el.textContent = '';
  setTimeout(() => { el.textContent = message; }, 50);
}

/** How long a message stays on screen: an error three times as long, since it has to be read and acted on. */
export const TOAST_MS = { ok: 5000, info: 8000, bad: 15000 };

let toastTimer = 0;
/**
 * A transient message, shown at the bottom of the window and announced: the toast is itself a
 * polite live region; an error is said at once instead, as an alert (hidden from screen readers
 * in the toast, so that it is neither read twice nor found twice).
 */
export function toast(message, tone = 'ok') {
  const el = document.getElementById('toast');
  if (!el) return;
  el.className = `toast toast-${tone} show`;
  if (tone === 'bad') {
    el.replaceChildren(h('span', { 'aria-hidden': 'true', text: message }));
    announce(message, { assertive: true });
  } else {
    el.textContent = message;
  }
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = 'toast'; }, TOAST_MS[tone] ?? TOAST_MS.ok);
}

/**
 * Put the focus back on `el` when disabling it (while its work ran) dropped the focus to the
 * page: the keyboard user goes on from the control they used, not from the top of the page.
 */
export function refocus(el) {
  if (el?.isConnected && !el.disabled && (!document.activeElement || document.activeElement === document.body)) el.focus();
}

/** A small button running `work` once at a time (disabled meanwhile); its error is toasted, then `after` runs. */
export function runButton(label, work, after) {
  const b = h('button', { type: 'button', class: 'btn btn-small', on: { click: async () => {
    b.disabled = true;
    try { await work(); } catch (err) { toast(err.message, 'bad'); } finally { b.disabled = false; refocus(b); }
    await after?.();
  } } }, label);
  return b;
}

/** Copy text to the clipboard; falls back to selecting it. */
export async function copyText(text, fallbackEl) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied to the clipboard.');
  } catch {
    if (fallbackEl) {
      const range = document.createRange();
      range.selectNodeContents(fallbackEl);
      const sel = getSelection();
      sel?.removeAllRanges();
      sel?.addRange(range);
      toast('Selected: press Ctrl+C to copy.', 'info');
    }
  }
}

/**
 * A modal dialog built on <dialog> (focus trapping and Escape come with it). Resolves with the
 * value passed to close(), or null when dismissed.
 * @param {string} title
 * @param {(close: (v: any) => void) => Node[]} body
 */
export function modal(title, body) {
  return new Promise((resolve) => {
    let result = null;
    const id = `d-${Math.random().toString(36).slice(2)}`;
    const dlg = h('dialog', { class: 'modal', 'aria-labelledby': id });
    const close = (v) => { result = v; dlg.close(); };
    append(dlg, [h('h2', { id, text: title }), body(close)]);
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

const DURATIONS = [['', 'Until cleared'], ['1', '1 hour'], ['24', '24 hours'], ['168', '7 days'], ['720', '30 days']];

/**
 * "For how long" of an operator verdict set from a dialog (as `warden detect verdict --for`): its
 * label, its select, and the expiry it gives from now (undefined: until cleared).
 */
export function durationField(id) {
  const select = h('select', { id, name: 'for' }, DURATIONS.map(([v, l]) => h('option', { value: v }, l)));
  return {
    label: h('label', { for: id, text: 'For how long' }), select,
    expiresAt: () => (select.value ? new Date(Date.now() + Number(select.value) * 3600_000).toISOString() : undefined),
  };
}

/** Ask for a reason (required) before an action; resolves with the text or null. */
export function askReason(title, description, confirmLabel = 'Confirm', tone = 'danger') {
  return modal(title, (close) => {
    const input = h('textarea', { id: 'reason', name: 'reason', required: true, rows: 3, maxlength: 2000 });
    const form = h('form', { method: 'dialog', on: { submit: (e) => { e.preventDefault(); if (input.value.trim()) close(input.value.trim()); } } },
      h('p', { text: description }),
      h('label', { for: 'reason', text: 'Reason (recorded with the change)' }), input,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn', on: { click: () => close(null) } }, 'Cancel'),
        h('button', { type: 'submit', class: `btn btn-${tone}` }, confirmLabel)));
    return [form];
  });
}
