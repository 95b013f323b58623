/**
 * The gateway's HTTP server (Fastify): model API routes in both wire formats, health and
 * metrics, error rendering in the caller's wire format, and limits on bodies, headers and
 * stream durations.
 */
import http from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { WardenError, renderErrorBody, toWardenError, type WireFlavour } from '../errors/index.ts';
import type { ApiFlavour } from '../events/index.ts';
import { handleModelCall, authenticateRequest, recordRejectedRequest, type PipelineDeps } from './interaction.ts';
import { handleTokenCount, TOKEN_COUNT_ROUTES } from './token-count.ts';
import { MAX_JSON_DEPTH, nestsDeeper } from './json-depth.ts';
import { handleBackgroundResponse, handleStoredResponse } from './stored-responses.ts';

export interface ServerOptions {
  bodyLimitBytes: number;
  headerLimitBytes: number;
  trustedProxies: string[];
  logger: FastifyServerOptions['logger'];
  /** Readiness beyond "the process is up" (e.g. store reachable). */
  ready?: () => Promise<boolean> | boolean;
}

const ROUTE_FLAVOUR: Record<string, ApiFlavour> = {
  '/v1/chat/completions': 'openai.chat',
  '/v1/completions': 'openai.completions',
  '/v1/embeddings': 'openai.embeddings',
  '/v1/responses': 'openai.responses',
  '/v1/messages': 'anthropic.messages',
};

/** Which error format a request expects: Anthropic for /v1/messages or Anthropic headers, else OpenAI. */
export function wireOf(req: Pick<FastifyRequest, 'url' | 'headers'>): WireFlavour {
  const path = req.url.split('?')[0];
  if (path.startsWith('/v1/messages')) return 'anthropic';
  // The Files API has both flavours: the Anthropic SDK always sends its version header.
  if (path.startsWith('/v1/files') && req.headers['anthropic-version'] !== undefined) return 'anthropic';
  if (path.startsWith('/v1/chat') || path.startsWith('/v1/responses') || path.startsWith('/v1/completions') || path.startsWith('/v1/embeddings')
    || path.startsWith('/v1/batches') || path.startsWith('/v1/files')) return 'openai';
  if (req.headers['anthropic-version'] !== undefined || req.headers['x-api-key'] !== undefined) return 'anthropic';
  return 'openai';
}

/** Translate Fastify's own errors (parsing, limits) into Warden's stable codes. */
function fromFastifyError(err: unknown): WardenError {
  if (err instanceof WardenError) return err;
  const code = (err as { code?: string })?.code;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new WardenError('WARDEN_BODY_TOO_LARGE', 'Request body is larger than the configured limit.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new WardenError('WARDEN_UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new WardenError('WARDEN_INVALID_JSON', 'The request body is empty or its length does not match Content-Length.');
    case 'FST_ERR_NOT_FOUND':
      return new WardenError('WARDEN_NOT_FOUND', 'Not found.');
  }
  const status = (err as { statusCode?: number })?.statusCode;
  if (status && status >= 400 && status < 500) return new WardenError('WARDEN_INVALID_REQUEST', (err as Error).message);
  return toWardenError(err);
}

export function buildServer(deps: PipelineDeps, opts: ServerOptions): FastifyInstance {
  const app = Fastify({
    logger: opts.logger,
    // per-request access logs would cost throughput and duplicate the interaction events
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimitBytes,
    trustProxy: opts.trustedProxies.length ? opts.trustedProxies : false,
    // one shared logger instead of a pino child per request (measurable on the hot path)
    childLoggerFactory: (logger) => logger,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    serverFactory: (handler) => http.createServer({ maxHeaderSize: opts.headerLimitBytes, keepAliveTimeout: 65_000 }, handler),
  });

  // JSON bodies: parse ourselves so malformed JSON gets a clear, flavoured error and we know the size.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(/^application\/(.+\+)?json/, { parseAs: 'buffer' }, (req, body: Buffer, done) => {
    (req as FastifyRequest & { rawBodyBytes?: number }).rawBodyBytes = body.length;
    if (body.length === 0) return done(new WardenError('WARDEN_INVALID_JSON', 'The request body is empty; expected a JSON object.'), undefined);
    const text = body.toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      return done(new WardenError('WARDEN_INVALID_JSON', `The request body is not valid JSON: ${(err as Error).message}`), undefined);
    }
    // Refused here, before identity and limits: deeper bodies would overflow the stack when forwarded.
    if (nestsDeeper(text, parsed)) {
      return done(new WardenError('WARDEN_INVALID_REQUEST', `The request body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep.`), undefined);
    }
    done(null, parsed);
  });

  app.setErrorHandler((err, req, reply) => {
    const werr = fromFastifyError(err);
    const path = req.url.split('?')[0];
    const flavour = ROUTE_FLAVOUR[path];
    if (flavour && req.method === 'POST') recordRejectedRequest(deps, flavour, req, werr);
    if (werr.code === 'WARDEN_INTERNAL') req.log.error({ err }, 'internal error');
    reply.code(werr.status).headers(werr.headers).type('application/json').send(JSON.stringify(renderErrorBody(werr, wireOf(req))));
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0];
    const known = ROUTE_FLAVOUR[path] || TOKEN_COUNT_ROUTES[path] || path.startsWith('/v1/models');
    const werr = known
      ? new WardenError('WARDEN_METHOD_NOT_ALLOWED', `Method ${req.method} is not allowed on ${path}.`)
      : new WardenError('WARDEN_NOT_FOUND', `Unknown route: ${req.method} ${path}.`);
    reply.code(werr.status).type('application/json').send(JSON.stringify(renderErrorBody(werr, wireOf(req))));
  });

  for (const [path, flavour] of Object.entries(ROUTE_FLAVOUR)) {
    if (flavour === 'openai.responses' && deps.hooks.some((h) => h.background)) {
      app.post(path, async (req, reply) => {
        if (!(await handleBackgroundResponse(deps, req, reply))) await handleModelCall(deps, flavour, req, reply);
      });
      continue;
    }
    app.post(path, (req, reply) => handleModelCall(deps, flavour, req, reply));
  }
  for (const [path, route] of Object.entries(TOKEN_COUNT_ROUTES)) {
    app.post(path, (req, reply) => handleTokenCount(deps, route, req, reply));
  }
  app.get<{ Params: { id: string } }>('/v1/responses/:id', (req, reply) => handleStoredResponse(deps, 'retrieve', req, reply));
  app.get<{ Params: { id: string } }>('/v1/responses/:id/input_items', (req, reply) => handleStoredResponse(deps, 'input_items', req, reply));
  app.delete<{ Params: { id: string } }>('/v1/responses/:id', (req, reply) => handleStoredResponse(deps, 'delete', req, reply));
  app.post<{ Params: { id: string } }>('/v1/responses/:id/cancel', (req, reply) => handleStoredResponse(deps, 'cancel', req, reply));

  app.get('/v1/models', async (req, reply) => {
    await authenticateRequest(deps, req.headers, 'models:read');
    const wire = wireOf(req);
    const models = deps.router.listModels(wire);
    if (wire === 'anthropic') {
      const data = models.map((m) => ({ type: 'model', id: m.id, display_name: m.id, created_at: '2025-01-01T00:00:00Z' }));
      return reply.send({ data, has_more: false, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null });
    }
    return reply.send({ object: 'list', data: models.map((m) => ({ id: m.id, object: 'model', created: 1735689600, owned_by: m.upstream })) });
  });

  app.get<{ Params: { id: string } }>('/v1/models/:id', async (req, reply) => {
    await authenticateRequest(deps, req.headers, 'models:read');
    const wire = wireOf(req);
    const m = deps.router.listModels(wire).find((x) => x.id === req.params.id);
    if (!m) throw new WardenError('WARDEN_MODEL_NOT_FOUND', `The model \`${req.params.id}\` does not exist or you do not have access to it.`);
    if (wire === 'anthropic') return reply.send({ type: 'model', id: m.id, display_name: m.id, created_at: '2025-01-01T00:00:00Z' });
    return reply.send({ id: m.id, object: 'model', created: 1735689600, owned_by: m.upstream });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ok = opts.ready ? await opts.ready() : true;
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready' });
  });
  app.get('/metrics', async (_req, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  return app;
}
