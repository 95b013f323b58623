/**
 * The dashboard as a Fastify plugin: static files (HTML, CSS, ES modules) served from
 * src/ui/static, read once at start-up into memory. Nothing is fetched from elsewhere; a strict
 * Content-Security-Policy allows only this origin. The pages hold no data: they call the admin
 * API with the operator's admin token (kept in sessionStorage, sent as a bearer token).
 *
 * Registered outside the admin API's encapsulation on purpose (the `skip-override` flag): it also
 * watches route registration, so that `GET /admin/dashboard/features` can say which detector and
 * ledger routes exist. Register it before the admin API and other route plugins.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { RouteCatalog } from './catalog.ts';

export interface DashboardPluginOptions {
  /** URL path of the dashboard (default /dashboard). */
  path?: string;
  /** Filled with the routes registered after this plugin (share it with `usageAdminRoutes`). */
  catalog?: RouteCatalog;
  /** Directory of the static files (default: src/ui/static, found from source or from dist/). */
  staticDir?: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
};

/** Only this origin, no inline code, no framing, no referrer: the pages handle an admin token. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

interface StaticFile { body: Buffer; type: string; etag: string }

/** The static directory: beside this file when run from source, or src/ui/static from dist/src/ui. */
export function defaultStaticDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [join(here, 'static'), join(here, '..', '..', '..', 'src', 'ui', 'static')];
  const found = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (!found) throw new Error(`dashboard files not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Read every servable file under `dir` (relative POSIX path -> file). */
export function loadStaticFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      if (name.startsWith('.')) continue;
      const full = join(d, name);
      if (statSync(full).isDirectory()) { walk(full); continue; }
      const type = TYPES[extname(name)];
      if (!type) continue;
      const body = readFileSync(full);
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
      files.set(relative(dir, full).split(sep).join('/'), { body, type, etag });
    }
  };
  walk(dir);
  return files;
}

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin')
    .header('permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=()');
}

async function dashboard(app: FastifyInstance, opts: DashboardPluginOptions): Promise<void> {
  const base = (opts.path ?? '/dashboard').replace(/\/+$/, '');
  const files = loadStaticFiles(opts.staticDir ?? defaultStaticDir());
  if (!files.has('index.html')) throw new Error('dashboard: index.html missing');
  opts.catalog?.watch(app);

  const send = (reply: FastifyReply, file: StaticFile, ifNoneMatch: string | undefined) => {
    securityHeaders(reply)
      .header('etag', file.etag)
      // Revalidate every time: files change with each release and are tiny.
      .header('cache-control', 'no-cache');
    if (ifNoneMatch === file.etag) return reply.code(304).send();
    return reply.type(file.type).send(file.body);
  };

  app.get(base, (_req, reply) => reply.redirect(`${base}/`, 302));
  app.get(`${base}/`, (req, reply) => send(reply, files.get('index.html')!, req.headers['if-none-match']));
  app.get(`${base}/*`, (req, reply) => {
    const rel = (req.params as { '*': string })['*'];
    const file = files.get(rel);
    if (file) return send(reply, file, req.headers['if-none-match']);
    // Pages are hash routes (#/accounts); send stray paths to the app rather than a bare 404.
    if (!extname(rel)) return securityHeaders(reply).redirect(`${base}/`, 302);
    return securityHeaders(reply).code(404).type('text/plain; charset=utf-8').send('not found');
  });
}

/**
 * Fastify plugin serving the dashboard at `/dashboard`:
 *
 *   const catalog = new RouteCatalog();
 *   await app.register(dashboardPlugin, { catalog });                        // first: it watches later routes
 *   await app.register(adminPlugin, { prefix: '/admin', ..., registrars: [usageAdminRoutes({ usage, identity, catalog })] });
 */
export const dashboardPlugin = Object.assign(dashboard, { [Symbol.for('skip-override')]: true });
