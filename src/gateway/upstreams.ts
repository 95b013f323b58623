/**
 * Upstream routing: pick the upstream for a model and wire format, and keep one pooled
 * keep-alive connection pool (undici) per upstream.
 */
import { Pool } from 'undici';
import type { UpstreamConfig } from '../config/index.ts';
import { resolveSecret } from '../config/index.ts';
import type { WireFlavour } from '../errors/index.ts';

export interface Upstream {
  readonly name: string;
  readonly origin: string;
  /** Path prefix of the base URL (e.g. `/openai` for https://host/openai), without trailing slash. */
  readonly basePath: string;
  readonly flavours: readonly WireFlavour[];
  readonly apiKey: string | null;
  readonly pool: Pool;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly models: readonly string[];
  /**
   * The built-in mock this process started, with `mock.answer_length_headers` on: a client's
   * answer-length headers are passed to it (upstream-request.ts). False for every configured upstream.
   */
  readonly mockLengthHeaders: boolean;
}

export interface UpstreamRouterOptions {
  /**
   * Base URL of the built-in mock this process started, when its answer-length headers are to be
   * passed (`mock.answer_length_headers`); the one upstream at that origin, on a loopback address,
   * gets them. Never set from the configuration's `upstreams`.
   */
  mockLengthHeadersTo?: string | null;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export class UpstreamRouter {
  readonly upstreams: Upstream[];
  private readonly cache = new Map<string, Upstream | null>();

  constructor(configs: readonly UpstreamConfig[], env: NodeJS.ProcessEnv = process.env, opts: UpstreamRouterOptions = {}) {
    const mock = opts.mockLengthHeadersTo ? new URL(opts.mockLengthHeadersTo) : null;
    const mockOrigin = mock && LOOPBACK_HOSTS.has(mock.hostname) && mock.protocol === 'http:' ? mock.origin : null;
    this.upstreams = configs.map((c) => {
      const url = new URL(c.base_url);
      const basePath = url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
      return {
        name: c.name,
        origin: url.origin,
        basePath,
        flavours: c.flavours,
        apiKey: resolveSecret(c.api_key, env),
        pool: new Pool(url.origin, {
          connections: c.connections,
          keepAliveTimeout: 30_000,
          headersTimeout: c.headers_timeout_ms,
          bodyTimeout: c.body_timeout_ms,
          pipelining: 1,
        }),
        headersTimeoutMs: c.headers_timeout_ms,
        bodyTimeoutMs: c.body_timeout_ms,
        models: c.models,
        mockLengthHeaders: mockOrigin !== null && url.origin === mockOrigin && c.api_key === null,
      };
    });
  }

  /** The upstream serving `model` in wire format `wire`, or null. Exact names win over prefixes. */
  route(model: string, wire: WireFlavour): Upstream | null {
    const key = `${wire}\u0000${model}`;
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    let found: Upstream | null = null;
    for (const u of this.upstreams) {
      if (!u.flavours.includes(wire)) continue;
      if (u.models.includes(model)) { found = u; break; }
    }
    if (!found) {
      let best = -1;
      for (const u of this.upstreams) {
        if (!u.flavours.includes(wire)) continue;
        for (const m of u.models) {
          if (m.endsWith('*') && model.startsWith(m.slice(0, -1)) && m.length > best) { found = u; best = m.length; }
        }
      }
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, found);
    return found;
  }

  async close(): Promise<void> {
    await Promise.all(this.upstreams.map((u) => u.pool.close().catch(() => {})));
  }
}
