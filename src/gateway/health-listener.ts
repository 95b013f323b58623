/**
 * The second listener for probes and scraping (`server.health_listen`), as production proxies
 * keep one (Envoy's admin listener, a separate metrics port): `/healthz`, `/readyz` and `/metrics`
 * only, every other path 404. Its connections are capped on their own
 * (`server.health_max_connections`), apart from the API listener's caps: a node whose API port is
 * full (`server.max_connections`) still answers its probes here, so a liveness probe does not
 * restart a node that is only busy, and readiness says what the node can do rather than whether
 * one more connection fitted.
 *
 * Served by a plain HTTP server, not the API's Fastify: nothing of the API's request handling (keys,
 * CORS, body parsing) runs here, and no API route can be reached by mistake.
 */
import http from 'node:http';
import { WardenError, renderErrorBody, requestIdHeaders, toWardenError } from '../errors/index.ts';
import { ulid } from '../events/index.ts';
import { ConnectionCap } from './connection-cap.ts';

export interface HealthListenerOptions {
  /** Connections open at once at most (`server.health_max_connections`). */
  maxConnections: number;
  headerLimitBytes: number;
  /** Whether the node takes traffic (the API listener's `/readyz`: false once it drains). */
  ready(): Promise<boolean> | boolean;
  /** The Prometheus text, and its content type. */
  metrics(): Promise<string>;
  metricsContentType: string;
  /** A connection was refused past the cap (count it, say it). */
  onRefused(address: string): void;
}

/** The paths served here. */
export const HEALTH_PATHS = ['/healthz', '/readyz', '/metrics'] as const;

/** Longest a request's headers (and the request) may take to arrive here, ms: a probe's is a few bytes. */
const REQUEST_TIMEOUT_MS = 10_000;
/** How long a stop waits for answers under way (a scrape) before closing their connections, ms. */
const CLOSE_GRACE_MS = 1000;

const JSON_TYPE = 'application/json; charset=utf-8';

export class HealthListener {
  readonly server: http.Server;
  private closing = false;

  constructor(private readonly opts: HealthListenerOptions) {
    this.server = http.createServer({
      maxHeaderSize: opts.headerLimitBytes,
      requestTimeout: REQUEST_TIMEOUT_MS,
      headersTimeout: REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: 1000,
    }, (req, res) => { void this.answer(req, res); });
    new ConnectionCap({ maxConnections: opts.maxConnections, maxPerIp: 0, trustedProxies: [], onRefused: (_reason, address) => opts.onRefused(address) }).attach(this.server);
  }

  /** Listen on host:port; returns the base URL. */
  async listen(host: string, port: number): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => { this.server.off('error', reject); resolve(); });
    });
    const addr = this.server.address();
    const p = typeof addr === 'object' && addr ? addr.port : port;
    return `http://${host.includes(':') ? `[${host}]` : host}:${p}`;
  }

  /** Stop accepting, let answers under way end (a second at most), close every connection. */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const force = setTimeout(() => this.server.closeAllConnections(), CLOSE_GRACE_MS);
    try { await closed; } finally { clearTimeout(force); }
  }

  private async answer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // While stopping, no connection is kept for another request.
    if (this.closing) res.shouldKeepAlive = false;
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0];
    const served = (HEALTH_PATHS as readonly string[]).includes(path);
    try {
      if (!served) {
        return this.refuse(req, res, new WardenError('WARDEN_NOT_FOUND', `Unknown route: ${method} ${path}. This port (server.health_listen) serves ${HEALTH_PATHS.join(', ')} only.`));
      }
      if (method !== 'GET' && method !== 'HEAD') {
        return this.refuse(req, res, new WardenError('WARDEN_METHOD_NOT_ALLOWED', `Method ${method} is not allowed on ${path}.`, { headers: { allow: 'GET, HEAD' } }));
      }
      if (path === '/metrics') return send(req, res, 200, this.opts.metricsContentType, await this.opts.metrics());
      if (path === '/healthz') return send(req, res, 200, JSON_TYPE, JSON.stringify({ status: 'ok' }));
      // A readiness check that fails is an answer too: not ready.
      const ok = await Promise.resolve(this.opts.ready()).catch(() => false);
      return send(req, res, ok ? 200 : 503, JSON_TYPE, JSON.stringify({ status: ok ? 'ready' : 'not ready' }));
    } catch (err) {
      if (!res.headersSent) this.refuse(req, res, toWardenError(err));
      else res.destroy();
    }
  }

  private refuse(req: http.IncomingMessage, res: http.ServerResponse, err: WardenError): void {
    const id = ulid(Date.now());
    for (const [name, value] of Object.entries({ ...requestIdHeaders(id), ...err.headers })) res.setHeader(name, value);
    send(req, res, err.status, JSON_TYPE, JSON.stringify(renderErrorBody(err, 'openai', id)));
  }
}

function send(req: http.IncomingMessage, res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}
