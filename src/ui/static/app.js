// Warden dashboard: hash-routed single page. Each view renders into <main> from the admin API.
import { h, replace, loading, errorBox, focusedControl, followFocus } from './lib/dom.js';
import { api, session, onUnauthorized, features, ApiError } from './lib/api.js';
import * as overview from './views/overview.js';
import * as usage from './views/usage.js';
import * as accounts from './views/accounts.js';
import * as account from './views/account.js';
import * as keys from './views/keys.js';
import * as limits from './views/limits.js';
import * as detector from './views/detector.js';
import * as cases from './views/cases.js';
import * as partners from './views/partners.js';
import * as campaign from './views/campaign.js';
import * as cluster from './views/cluster.js';
import * as ledger from './views/ledger.js';

/** [pattern, view, nav label] — the first match wins. */
const ROUTES = [
  [/^\/$/, overview, 'Overview'],
  [/^\/usage$/, usage, 'Usage'],
  [/^\/accounts$/, accounts, 'Accounts'],
  [/^\/accounts\/([^/]+)$/, account, null],
  [/^\/keys$/, keys, 'Keys'],
  [/^\/limits$/, limits, 'Limits'],
  [/^\/detector$/, detector, 'Detector'],
  [/^\/campaigns\/([^/]+)$/, campaign, null],
  [/^\/clusters\/([^/]+)$/, cluster, null],
  [/^\/cases$/, cases, 'Cases'],
  [/^\/cases\/([^/]+)$/, cases, null],
  [/^\/partners$/, partners, 'Partners'],
  [/^\/ledger$/, ledger, 'Ledger'],
];
const NAV = [['/', 'Overview'], ['/usage', 'Usage'], ['/accounts', 'Accounts'], ['/keys', 'Keys'], ['/limits', 'Limits'], ['/detector', 'Detector'], ['/cases', 'Cases'], ['/partners', 'Partners'], ['/ledger', 'Ledger']];

const main = document.getElementById('main');
let cleanup = null;
let renderSeq = 0;
let focusWatch = null;
/** The route path of what <main> shows (or is loading). */
let renderedPath = null;

/** Current route: path and query from the hash (#/accounts?q=x). */
export function currentRoute() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  return { path: path || '/', query: Object.fromEntries(new URLSearchParams(qs ?? '')) };
}

/** Change the query of the current route (keeps history tidy with replaceState). */
export function setQuery(query, { push = false } = {}) {
  const { path } = currentRoute();
  const qs = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString();
  const hash = `#${path}${qs ? `?${qs}` : ''}`;
  if (push) location.hash = hash;
  else { history.replaceState(null, '', hash); render(); }
}

function renderNav(active) {
  const nav = document.getElementById('nav');
  replace(nav, h('ul', null, NAV.map(([path, label]) => {
    const current = path === '/' ? active === '/' : active === path || active.startsWith(`${path}/`);
    return h('li', null, h('a', { href: `#${path}`, 'aria-current': current ? 'page' : null }, label));
  })));
  const s = document.getElementById('session');
  replace(s, session.token()
    ? [session.actor() ? h('span', { class: 'muted', text: session.actor() }) : null,
       h('button', { type: 'button', class: 'btn btn-small', on: { click: logout } }, 'Sign out')]
    : []);
}

/** Tells this browser's other dashboard tabs about a sign-out (a tab opened from this one shares its token). */
const signOuts = typeof BroadcastChannel === 'function' ? new BroadcastChannel('warden-dashboard') : null;

function logout() {
  session.clear();
  signOuts?.postMessage('signed-out');
  location.hash = '#/';
  render();
}

signOuts?.addEventListener('message', (e) => {
  if (e.data !== 'signed-out' || !session.token()) return;
  session.clear();
  render('Signed out in another tab. Sign in again.');
});

function loginView(message) {
  document.title = 'Sign in · Warden';
  replace(document.getElementById('nav'));
  replace(document.getElementById('session'));
  // Not a password to remember: one-time-code keeps the browser's password manager from offering
  // to save the admin token (it is kept in this tab only).
  const token = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'one-time-code', required: true, spellcheck: 'false', 'aria-describedby': 'token-help' });
  const actor = h('input', { id: 'actor', name: 'actor', type: 'text', autocomplete: 'name', maxlength: 100, 'aria-describedby': 'actor-help' });
  const err = h('p', { class: 'form-error', role: 'alert' }, message ?? '');
  const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  // method=post: should scripts fail, the browser must not put the token in a URL.
  const form = h('form', { method: 'post', class: 'login', on: { submit: async (e) => {
    e.preventDefault();
    button.disabled = true;
    err.textContent = '';
    try {
      await api('GET', '/admin/dashboard/features', { token: token.value.trim() });
      session.set(token.value.trim(), actor.value.trim() || null);
      token.value = '';
      await render();
    } catch (ex) {
      err.textContent = ex instanceof ApiError && ex.status === 401 ? 'The server refused this token.' : `Sign-in failed: ${ex.message}`;
      button.disabled = false;
      token.focus();
    }
  } } },
  h('h1', { text: 'Warden operator dashboard' }),
  h('label', { for: 'token', text: 'Admin token' }), token,
  h('p', { id: 'token-help', class: 'help', text: 'The admin API token (config admin.token, or the admin-token file beside the database). Kept in this tab only (and in tabs opened from it) until you sign out; not offered to the password manager.' }),
  h('label', { for: 'actor', text: 'Your name (optional)' }), actor,
  h('p', { id: 'actor-help', class: 'help', text: 'Recorded with the changes you make.' }),
  err, button);
  replace(main, form);
  token.focus();
}

/** Render the current route into <main>; without a token, the sign-in form (with `loginMessage`). */
async function render(loginMessage) {
  const seq = ++renderSeq;
  const { path, query } = currentRoute();
  // The control that caused this render (a range, a checkbox, a pager button) is focused again
  // as soon as the view puts it back, on the same route only: a control of another page that
  // happens to share its key (another page's Next page) must not take the focus.
  const inMain = focusedControl(main);
  const focused = (inMain ? { ...inMain, path: renderedPath } : null) ?? (focusWatch?.pending() ? focusWatch.target : null);
  focusWatch?.stop();
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
  if (!session.token()) return loginView(loginMessage);
  focusWatch = focused && focused.path === path ? { target: focused, ...followFocus(main, focused) } : null;
  const watch = focusWatch;
  renderedPath = path;
  renderNav(path);
  const match = ROUTES.map(([re, view, label]) => ({ m: re.exec(path), view, label })).find((r) => r.m);
  if (!match) { watch?.stop(); document.title = 'Not found · Warden'; replace(main, h('h1', { text: 'Not found' }), h('p', null, h('a', { href: '#/' }, 'Back to the overview'))); return; }
  replace(main, loading());
  try {
    const ctx = { features: await features(), setQuery, isCurrent: () => seq === renderSeq };
    if (seq !== renderSeq) return;
    const result = await match.view.render(main, match.m.slice(1).map(decodeURIComponent), query, ctx);
    if (seq !== renderSeq) { if (typeof result === 'function') result(); return; }
    if (typeof result === 'function') cleanup = result;
    watch?.finish();
  } catch (err) {
    if (seq !== renderSeq) return;
    watch?.stop();
    if (err instanceof ApiError && err.status === 401) return;
    replace(main, errorBox(err));
  }
}

onUnauthorized(() => {
  session.clear();
  loginView('Your session ended: the server refused the token. Sign in again.');
});
addEventListener('hashchange', () => { render(); main.focus({ preventScroll: true }); });
// The skip link moves the focus to the content; followed as a link, its #main would be read as a route.
document.querySelector('.skip-link')?.addEventListener('click', (e) => { e.preventDefault(); main.focus(); main.scrollIntoView(); });
render();
