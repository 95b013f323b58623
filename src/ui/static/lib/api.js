// The admin API client. The admin token lives in sessionStorage (this tab only, gone when it
// closes) and travels only in the Authorization header, never in a URL.

const TOKEN_KEY = 'warden.admin.token';
const ACTOR_KEY = 'warden.admin.actor';

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  actor: () => sessionStorage.getItem(ACTOR_KEY),
  set(token, actor) {
    sessionStorage.setItem(TOKEN_KEY, token);
    if (actor) sessionStorage.setItem(ACTOR_KEY, actor); else sessionStorage.removeItem(ACTOR_KEY);
  },
  clear() { sessionStorage.removeItem(TOKEN_KEY); sessionStorage.removeItem(ACTOR_KEY); },
};

export class ApiError extends Error {
  constructor(status, code, message, param) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param ?? null;
  }
}

const listeners = new Set();
/** Called when the server refuses the token (401). */
export function onUnauthorized(fn) { listeners.add(fn); return () => listeners.delete(fn); }

/**
 * Call the admin API. Returns parsed JSON (or text for text/plain answers, null for 204).
 * @param {string} method
 * @param {string} path absolute path, e.g. /admin/accounts
 * @param {{ query?: Record<string, any>, body?: any, raw?: boolean, token?: string }} [opts]
 */
export async function api(method, path, opts = {}) {
  const token = opts.token ?? session.token();
  const headers = { accept: 'application/json, text/plain;q=0.9' };
  if (token) headers.authorization = `Bearer ${token}`;
  const actor = session.actor();
  headers['x-warden-actor'] = actorHeader(actor ? `dashboard:${actor}`.slice(0, 200) : 'dashboard');
  let body;
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  const res = await fetch(path + queryString(opts.query), { method, headers, body, cache: 'no-store', credentials: 'omit', redirect: 'error' });
  if (opts.raw) return res;
  const type = res.headers.get('content-type') ?? '';
  const payload = res.status === 204 ? null : type.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    if (res.status === 401 && !opts.token) for (const l of listeners) l();
    throw errorOf(res, payload);
  }
  return payload;
}

/**
 * The `x-warden-actor` value naming `actor`. A header carries only Latin-1 (fetch refuses anything
 * else), so a name outside printable ASCII goes RFC 8187 style, `UTF-8''<percent-encoded>`, which
 * the server decodes (src/admin/actor.ts); an ASCII name goes as it is.
 */
function actorHeader(actor) {
  return /^[\x20-\x7e]*$/.test(actor) && !/^utf-8''/i.test(actor) ? actor : `UTF-8''${encodeURIComponent(actor)}`;
}

/** The ApiError of a refused answer: the message of its JSON error (`{ error: { message, code } }`), else its text. */
function errorOf(res, payload) {
  const e = payload && typeof payload === 'object' ? payload.error ?? payload : {};
  return new ApiError(res.status, e.code ?? `HTTP_${res.status}`, e.message ?? (typeof payload === 'string' && payload ? payload : res.statusText), e.param);
}

export const get = (path, query) => api('GET', path, { query });
export const post = (path, body = {}) => api('POST', path, { body });

/** `?a=1&b=2` from an object, skipping empty values. */
export function queryString(q) {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** Features of this server (which optional routes exist); cached for the session. */
let featuresPromise = null;
export function features(refresh = false) {
  if (refresh || !featuresPromise) featuresPromise = get('/admin/dashboard/features').catch((err) => { featuresPromise = null; throw err; });
  return featuresPromise;
}

/** Download an API answer as a file (the token stays in the header, not in a link). */
export async function download(path, query, filename) {
  const res = await api('GET', path, { query, raw: true });
  if (!res.ok) {
    if (res.status === 401) for (const l of listeners) l();
    const text = await res.text();
    let payload = text;
    if ((res.headers.get('content-type') ?? '').includes('json')) try { payload = JSON.parse(text); } catch { /* shown as text */ }
    throw errorOf(res, payload);
  }
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
