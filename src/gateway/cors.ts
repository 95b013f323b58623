/**
 * Opt-in CORS for the model API (`/v1/...`), so that a browser app can call it through Warden with
 * the official SDKs (`dangerouslyAllowBrowser`): `server.cors.allowed_origins` lists the origins
 * (exact, `https://app.example.com`, or `*`); empty, the default, sends nothing. Preflights
 * (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin are answered 204 before
 * any key or limit is looked at (they carry no key); other requests from it get
 * `Access-Control-Allow-Origin` and the response headers the SDKs read exposed. Only `/v1/`:
 * the admin API, the dashboard, metrics, ledger and TAXII routes on the same port never answer CORS.
 */
import type { FastifyInstance } from 'fastify';

/** Request headers the SDKs send besides the CORS-safelisted ones; `openai-*` and `x-stainless-*` by prefix. */
const ALLOWED_HEADERS = [
  'authorization', 'x-api-key', 'content-type', 'accept', 'idempotency-key',
  'anthropic-version', 'anthropic-beta', 'anthropic-dangerous-direct-browser-access',
];
const ALLOWED_PREFIXES = ['openai-', 'x-stainless-'];

/** Response headers a browser app may read: request ids, retry advice, rate limits, Warden's own. */
export const EXPOSED_HEADERS = [
  'request-id', 'x-request-id', 'x-warden-request-id', 'x-warden-error', 'x-warden-shaping', 'x-warden-token-count',
  'retry-after', 'retry-after-ms', 'x-should-retry', 'openai-processing-ms', 'openai-version',
  ...['requests', 'tokens'].flatMap((s) => ['limit', 'remaining', 'reset'].map((k) => `x-ratelimit-${k}-${s}`)),
  ...['requests', 'tokens', 'input-tokens', 'output-tokens'].flatMap((s) => ['limit', 'remaining', 'reset'].map((k) => `anthropic-ratelimit-${s}-${k}`)),
].join(', ');

const METHODS = 'GET, POST, DELETE';
/** How long a browser may keep a preflight's answer, s (Chromium keeps at most 2 hours). */
const PREFLIGHT_MAX_AGE_S = '7200';

/** An origin as browsers send it (`scheme://host[:port]`), lower-cased for comparison; null when `entry` is none. */
export function normaliseOrigin(entry: string): string | null {
  if (entry === '*') return '*';
  let url: URL;
  try { url = new URL(entry); } catch { return null; }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  // Only an origin: no path, query, fragment or credentials.
  if (url.origin.toLowerCase() !== entry.toLowerCase().replace(/\/$/, '')) return null;
  return url.origin.toLowerCase();
}

const isApiPath = (url: string) => url.startsWith('/v1/') || url === '/v1' || url.startsWith('/v1?');

/** Requested headers the SDKs may send, as the preflight's answer names them. */
function allowedRequestHeaders(requested: string | undefined): string {
  const out = new Set(ALLOWED_HEADERS);
  for (const raw of (requested ?? '').split(',')) {
    const name = raw.trim().toLowerCase();
    if (name && ALLOWED_PREFIXES.some((p) => name.startsWith(p)) && /^[a-z0-9-]+$/.test(name)) out.add(name);
  }
  return [...out].join(', ');
}

export function installCors(app: FastifyInstance, allowedOrigins: readonly string[]): void {
  if (allowedOrigins.length === 0) return;
  const any = allowedOrigins.includes('*');
  const exact = new Set(allowedOrigins.map(normaliseOrigin).filter((o): o is string => o !== null && o !== '*'));
  app.addHook('onRequest', async (req, reply) => {
    const origin = req.headers.origin;
    if (typeof origin !== 'string' || !isApiPath(req.url)) return;
    if (!any && !exact.has(origin.toLowerCase())) return;
    const res = reply.raw;
    // Set on the raw response: a streamed answer writes its own head, which these join.
    res.setHeader('access-control-allow-origin', any ? '*' : origin);
    if (!any) res.setHeader('vary', 'Origin');
    res.setHeader('access-control-expose-headers', EXPOSED_HEADERS);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      res.setHeader('access-control-allow-methods', METHODS);
      res.setHeader('access-control-allow-headers', allowedRequestHeaders(req.headers['access-control-request-headers'] as string | undefined));
      res.setHeader('access-control-max-age', PREFLIGHT_MAX_AGE_S);
      if (!any) res.setHeader('vary', 'Origin, Access-Control-Request-Headers');
      reply.code(204).send();
      return reply;
    }
  });
}
