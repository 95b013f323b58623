/**
 * The admin API as a Fastify plugin. Mount it with a prefix:
 *
 *   await app.register(adminPlugin, { prefix: '/admin', store, token, registrars: [...] });
 *
 * Every route, `/admin/openapi.json` included, requires `Authorization: Bearer <admin token>`
 * (compared in constant time): the current token, or during a rotation the previous one until
 * its expiry (each use reported). Without a token the admin API answers 401 to everything.
 * Responses carry `cache-control: no-store` because some contain key secrets.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { WardenError } from '../errors/index.ts';
import type { IdentityStore } from '../identity/index.ts';
import { AdminTokens, type PreviousTokenUse } from './tokens.ts';
import type { AdminAuthThrottle } from './auth-throttle.ts';
import { identityAdminRoutes } from './identity-routes.ts';
import { AdminRouteTable, NoQuery, adminErrorBody, sendAdminError, type AdminRouteRegistrar } from './router.ts';
import { parseInput } from '../identity/store.ts';

export { MIN_ADMIN_TOKEN_LENGTH } from './config.ts';
import { adminTokenProblem } from './config.ts';

export interface AdminPluginOptions {
  /** The identity store the built-in routes manage. */
  store: IdentityStore;
  /**
   * The resolved admin token (`resolveSecret(config.admin.token)`), or the tokens accepted during a
   * rotation (AdminTokens); null or empty disables the admin API.
   */
  token: string | AdminTokens | null;
  /** Told of every request that presents the previous token (accepted or, past its expiry, refused). */
  onPreviousToken?: (use: PreviousTokenUse) => void;
  /** Routes from other capabilities (limits overrides, verdicts, ledger queries, cases...). */
  registrars?: AdminRouteRegistrar[];
  /**
   * Plain Fastify route registrars (capabilities that register their own Fastify routes, e.g.
   * limits overrides, ledger queries). Mounted inside this plugin, so behind the same token check;
   * paths are relative to the admin prefix.
   */
  plugins?: ((app: FastifyInstance) => void | Promise<void>)[];
  /** Check every response against its schema (tests and development). */
  validateResponses?: boolean;
  /**
   * For a path with no route here (relative to the prefix): the error that says where it is
   * served instead (a detector replica names the worker), or null for the plain 404.
   */
  misdirected?: (path: string) => Promise<WardenError | null>;
  /** Shown in the OpenAPI document. */
  version?: string;
  /**
   * Wrong tokens throttled per client address (admin.failed_auth_*): a blocked address gets 429
   * before its token is checked. None: not throttled.
   */
  throttle?: AdminAuthThrottle;
  /** The caller's address the throttle counts under (the gateway's client address, IPv6 by /64); `request.ip` by default. */
  clientKey?: (request: FastifyRequest) => string;
}

/** Build the route table (built-in identity routes first, then the extra registrars). */
export function buildAdminRoutes(opts: Pick<AdminPluginOptions, 'store' | 'registrars'>): AdminRouteTable {
  const table = new AdminRouteTable();
  identityAdminRoutes(opts.store)(table);
  for (const reg of opts.registrars ?? []) reg(table);
  return table;
}

export const adminPlugin: FastifyPluginAsync<AdminPluginOptions> = async (app: FastifyInstance, opts: AdminPluginOptions) => {
  const tokens = opts.token instanceof AdminTokens ? opts.token : new AdminTokens(opts.token || null);
  for (const [name, value] of [['admin.token', tokens.current], ['admin.previous_token', tokens.previous?.token ?? null]] as const) {
    const problem = value === null ? null : adminTokenProblem(value);
    if (problem) throw new Error(`${name} ${problem}`);
  }
  const table = buildAdminRoutes(opts);
  const prefix = app.prefix || '';
  let openApiDoc: Record<string, unknown> | null = null;

  app.setErrorHandler((err, _request, reply) => sendAdminError(err, reply, app.log));
  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0];
    const elsewhere = opts.misdirected ? await opts.misdirected(path.slice(prefix.length)) : null;
    const { status, body } = adminErrorBody(elsewhere ?? new WardenError('WARDEN_NOT_FOUND', `no admin route ${request.method} ${path}`));
    return reply.code(status).header('cache-control', 'no-store').send(body);
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    if (!tokens.enabled) throw new WardenError('WARDEN_ADMIN_UNAUTHORIZED', 'the admin API is disabled: set admin.token (e.g. WARDEN_ADMIN_TOKEN)');
    const throttle = opts.throttle ?? null;
    const address = throttle ? (opts.clientKey ?? ((r: FastifyRequest) => r.ip))(request) : '';
    // A blocked address is answered before its token is compared: guessing goes no faster than the limit.
    const wait = throttle ? throttle.retryAfter(address) : 0;
    if (wait > 0) {
      throw new WardenError('WARDEN_RATE_LIMITED', `too many wrong admin tokens from this address: admin requests from it are refused for ${wait}s more, whatever token they carry`, { headers: { 'retry-after': String(wait) } });
    }
    const header = request.headers.authorization;
    const presented = typeof header === 'string' && /^bearer /i.test(header) ? header.slice(7).trim() : '';
    const match = tokens.match(presented);
    if (throttle) {
      if (match === 'current' || match === 'previous') throttle.succeeded(address);
      // A wrong token is a guess; no token at all (a probe, a browser) guesses nothing. The previous
      // token past its expiry is a known caller, not a guesser: it is logged as such above.
      else if (match === null && presented !== '') throttle.failed(address);
    }
    if (match === 'previous' || match === 'previous_expired') {
      const actor = request.headers['x-warden-actor'];
      const agent = request.headers['user-agent'];
      opts.onPreviousToken?.({
        match, ip: request.ip, user_agent: typeof agent === 'string' ? agent.slice(0, 200) : null,
        actor: typeof actor === 'string' ? actor.slice(0, 200) : null,
        method: request.method, path: request.url.split('?')[0].slice(0, 200), expires_at: new Date(tokens.previous!.expiresAt).toISOString(),
      });
    }
    if (match === 'previous_expired') {
      reply.header('www-authenticate', 'Bearer realm="warden-admin", error="invalid_token"');
      throw new WardenError('WARDEN_ADMIN_UNAUTHORIZED', `this admin token was replaced and stopped being accepted at ${new Date(tokens.previous!.expiresAt).toISOString()}: use the current one`);
    }
    if (match === null) {
      reply.header('www-authenticate', 'Bearer realm="warden-admin"');
      throw new WardenError('WARDEN_ADMIN_UNAUTHORIZED', 'missing or invalid admin token');
    }
  });

  app.get('/openapi.json', async (request) => {
    parseInput(NoQuery, request.query, 'query');
    openApiDoc ??= table.openApi(prefix, { title: 'Warden admin API', version: opts.version ?? '1' });
    return openApiDoc;
  });
  table.mount(app, { validateResponses: opts.validateResponses });
  for (const plugin of opts.plugins ?? []) await plugin(app);
};
