/**
 * Which operator routes this server actually has. Capabilities land at different times (the
 * detector's and the ledger's admin routes among them), so the dashboard does not assume them:
 * it asks `GET /admin/dashboard/features`, which answers from this catalog of registered routes.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';

/** Path prefixes whose GET routes the dashboard may show. */
export const CATALOG_PREFIXES = ['/admin/', '/ledger/'] as const;

export class RouteCatalog {
  private readonly routes = new Map<string, Set<string>>();

  /** Record a route (called from Fastify's onRoute hook). */
  add(method: string | string[], url: string): void {
    if (!CATALOG_PREFIXES.some((p) => url.startsWith(p))) return;
    const methods = Array.isArray(method) ? method : [method];
    let set = this.routes.get(url);
    if (!set) this.routes.set(url, set = new Set());
    for (const m of methods) set.add(m.toUpperCase());
  }

  /** Watch every route registered on `app` (and its children) from now on. */
  watch(app: FastifyInstance): void {
    app.addHook('onRoute', (route: RouteOptions) => this.add(route.method, route.url));
  }

  has(method: string, url: string): boolean {
    return this.routes.get(url)?.has(method.toUpperCase()) ?? false;
  }

  /** Every recorded route, sorted by path: `{ method, path }` with Fastify-style `:params`. */
  list(): { method: string; path: string }[] {
    const out: { method: string; path: string }[] = [];
    for (const [path, methods] of this.routes) for (const method of methods) if (method !== 'HEAD') out.push({ method, path });
    return out.sort((a, b) => a.path.localeCompare(b.path) || a.method.localeCompare(b.method));
  }
}
