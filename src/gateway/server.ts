/**
 * The gateway's HTTP server (Fastify): model API routes in both wire formats, health and
 * metrics, error rendering in the caller's wire format, and limits on bodies, headers and
 * stream durations.
 */
import http from 'node:http';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { utf8JsonBytes } from './json-encoding.ts';
import { WardenError, renderErrorBody, requestIdHeaders, toWardenError } from '../errors/index.ts';
import { ulid } from '../events/index.ts';
import type { AuthContext } from '../identity/types.ts';
import { handleModelCall } from './interaction.ts';
import type { PipelineDeps } from './interaction-state.ts';
import { authenticateRequest, refuseBarred } from './admission.ts';
import { recordRejectedRequest, type EarlyRequest } from './interaction-record.ts';
import type { ModelsView } from './lifecycle.ts';
import { ModelDirectory, anthropicModel, anthropicPage, openaiModel } from './model-list.ts';
import { answerClientError, shedWhileClosing } from './early-refusals.ts';
import { mergeHeaders } from './headers.ts';
import { clientAddress, proxyTrust } from './client-address.ts';
import { ROUTE_FLAVOUR, UPLOAD_ROUTES, wireOf } from './wire.ts';
import { registerUploadRoutes } from './uploads.ts';
import { dropUnreadBody } from './unread-body.ts';
import { fromNetwork } from './keyless-failures.ts';
import { installCors } from './cors.ts';
import { accessNote, watchAccess } from './access-log.ts';

export { wireOf } from './wire.ts';
import { handleTokenCount, TOKEN_COUNT_ROUTES } from './token-count.ts';
import { MAX_JSON_DEPTH, MAX_JSON_VALUES, holdsMoreValues, nestsDeeper } from './json-depth.ts';
import { handleBackgroundResponse, handleStoredResponse } from './stored-responses.ts';
import { handleStoredChat } from './stored-chat.ts';
import { READS_NO_BODY, emptyBodyIsNone } from './bodyless.ts';

export interface ServerOptions {
  bodyLimitBytes: number;
  /** Largest multipart upload (audio, images) the upload routes accept, bytes (`server.upload_limit_bytes`); default: `bodyLimitBytes`. */
  uploadLimitBytes?: number;
  /** Most JSON values a request body may hold (`server.max_json_values`), checked before it is parsed. */
  maxJsonValues?: number;
  headerLimitBytes: number;
  /** Longest a request (headers and body) may take to arrive, ms. */
  requestTimeoutMs: number;
  trustedProxies: string[];
  logger: FastifyServerOptions['logger'];
  /** Readiness beyond "the process is up" (e.g. store reachable). */
  ready?: () => Promise<boolean> | boolean;
  /**
   * Shutdown under way: requests are refused (503 WARDEN_SHUTTING_DOWN, connection: close) before
   * the server closes, so that one already written on a kept-alive connection is answered, not reset.
   */
  shedding?: () => boolean;
  /** The requests being answered now, for the shutdown to tell idle connections from busy ones. */
  traffic?: Traffic;
  /** Origins browser apps may call the model API from (`server.cors.allowed_origins`); empty: no CORS. */
  corsOrigins?: readonly string[];
  /** One info line per request in the log (`log.access`, src/gateway/access-log.ts). */
  accessLog?: boolean;
}

/**
 * The responses under way. Once the shutdown begins, each (and each begun later) closes its
 * connection when its answer ends: with `connection: close` if its head is not yet written, else
 * by ending the connection after the answer. A kept-alive connection whose answer ended after the
 * server closed its idle connections would otherwise hold the shutdown until Node's timeouts.
 */
export class Traffic {
  private readonly responses = new Set<http.ServerResponse>();
  private closingConnections = false;
  get active(): number { return this.responses.size; }
  track(res: http.ServerResponse): void {
    this.responses.add(res);
    res.once('close', () => { this.responses.delete(res); });
    if (this.closingConnections) closeAfterAnswer(res);
  }
  /** From now on, every connection closes once its answer under way has ended. */
  closeConnectionsAfterAnswers(): void {
    if (this.closingConnections) return;
    this.closingConnections = true;
    for (const res of this.responses) closeAfterAnswer(res);
  }
}

function closeAfterAnswer(res: http.ServerResponse): void {
  if (!res.headersSent) { res.shouldKeepAlive = false; return; }
  const socket = res.socket;
  if (!socket) return;
  res.once('finish', () => setImmediate(() => { if (!socket.destroyed) socket.end(); }));
}

/** Bytes as the 413 names them: MB with one decimal. */
const mb = (bytes: number) => `${(bytes / 1_000_000).toFixed(1)} MB`;

/** Translate Fastify's own errors (parsing, limits) into Warden's stable codes. */
function fromFastifyError(err: unknown, req: FastifyRequest, bodyLimitBytes: number): WardenError {
  if (err instanceof WardenError) return err;
  const code = (err as { code?: string })?.code;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': {
      // The size when the client announced it (the SDKs do); a chunked body is cut at the limit unread.
      // A route with a limit of its own (batch bodies) is named by its size only.
      const limit = req.routeOptions?.bodyLimit ?? bodyLimitBytes;
      const setting = limit === bodyLimitBytes ? ' (server.body_limit_bytes)' : '';
      const length = Number(req.headers['content-length']);
      const size = Number.isFinite(length) && length > limit ? `Request body is ${mb(length)}` : 'Request body is larger than the limit';
      return new WardenError('WARDEN_BODY_TOO_LARGE', `${size}; this gateway accepts at most ${mb(limit)}${setting}.`);
    }
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

/** The refusal of a request body sent compressed (Content-Encoding other than identity), or undefined. */
export function unsupportedEncoding(encoding: string | undefined): WardenError | undefined {
  if (encoding === undefined) return undefined;
  const coding = encoding.trim().toLowerCase();
  if (coding === '' || coding === 'identity') return undefined;
  // The coding is named back only when it looks like one (a token), never the bytes a client sent.
  const named = /^[a-z0-9.+-]{1,32}$/.test(coding) ? ` "${coding}"` : '';
  return new WardenError('WARDEN_UNSUPPORTED_MEDIA_TYPE', `Content-Encoding${named} is not supported: send the request body uncompressed.`);
}

/** A route's URL pattern (`:param`, `*`) as a regular expression over request paths. */
/**
 * Operations of the APIs on a path Warden serves with other methods, which it does not serve:
 * answered as every operation it does not serve (404 "Unknown route", the SDKs' NotFoundError),
 * not 405 with `Allow` (a bare APIError), which says the client called the wrong method. 405 stays
 * for methods no API defines on the path (`PUT /v1/batches`).
 */
const UNSERVED_OPERATIONS: readonly { method: string; re: RegExp }[] = [
  // Deleting a fine-tuned model (OpenAI's `models.delete`): models are the upstreams'.
  { method: 'DELETE', re: /^\/v1\/models\/./ },
];

function routePattern(url: string): RegExp {
  const body = url.split('/').map((seg) => (seg === '*' ? '.*' : seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/');
  return new RegExp(`^${body}$`);
}

/** What is known of a request for its event, before the pipeline has it. */
function earlyRequest(req: FastifyRequest, auth: AuthContext | null): EarlyRequest {
  const ua = req.headers['user-agent'];
  return {
    ip: clientAddress(req), userAgent: typeof ua === 'string' ? ua : null, bytes: Number(req.headers['content-length'] ?? 0) || 0, auth, headers: req.headers,
    limit: (req as FastifyRequest & { wardenLimit?: EarlyRequest['limit'] }).wardenLimit,
  };
}

/** Batch and files routes, whose key is checked before their body is read too (src/batches/routes.ts). */
const BATCH_ROUTES = /^\/v1\/(?:files|batches|messages\/batches)(?:\/|$)/;
const keyedBeforeBody = (path: string) => Boolean(ROUTE_FLAVOUR[path]) || BATCH_ROUTES.test(path);

/** A model route's request, its key checked before its body was read. */
type KeyedRequest = FastifyRequest & { wardenAuth?: AuthContext };
/** A request that asked `Expect: 100-continue`, its 100 held until its key is checked. */
type ContinueRequest = http.IncomingMessage & { wardenContinue?: boolean };

/** Longest the request headers may take to arrive (Node's default), ms. */
const HEADERS_TIMEOUT_MS = 60_000;

/** 404 "Unknown route" (405 with `Allow` for a wrong method on a known path: `allowedMethods`), in the path's format. */
function answerUnknownRoute(req: FastifyRequest, reply: FastifyReply, allowedMethods: (path: string) => string[]): void {
  const path = req.url.split('?')[0];
  const unserved = UNSERVED_OPERATIONS.some((o) => o.method === req.method && o.re.test(path));
  const allowed = unserved ? [] : allowedMethods(path);
  const werr = allowed.length
    ? new WardenError('WARDEN_METHOD_NOT_ALLOWED', `Method ${req.method} is not allowed on ${path}.`, { headers: { allow: allowed.join(', ') } })
    : new WardenError('WARDEN_NOT_FOUND', `Unknown route: ${req.method} ${path}.`);
  const id = ulid(Date.now());
  reply.code(werr.status).headers(mergeHeaders(requestIdHeaders(id), werr.headers)).type('application/json')
    .send(JSON.stringify(renderErrorBody(werr, wireOf(req), id)));
}

/**
 * Is the first segment of the request path percent-encoded (`/%6detrics`, `/metric%73`,
 * `/%61dmin/orgs`)? The router decodes it, so such a path reaches the operator routes (`/admin`,
 * `/dashboard`, `/metrics`) past a client-facing proxy whose rule that blocks them matches the raw
 * path (HAProxy's `path_beg`, Envoy without path normalisation, many WAF rules). No route's first
 * segment needs an encoding, and no client sends one: such a path is an unknown route.
 */
export function encodedFirstSegment(url: string): boolean {
  let end = url.length;
  for (const c of ['/', '?', '#']) { const at = url.indexOf(c, 1); if (at >= 0 && at < end) end = at; }
  return url.slice(0, end).includes('%');
}

export function buildServer(deps: PipelineDeps, opts: ServerOptions): FastifyInstance {
  let closing = false;
  const traffic = opts.traffic;
  const track = (res: http.ServerResponse) => traffic?.track(res);
  const trust = opts.trustedProxies.length ? proxyTrust(opts.trustedProxies) : null;
  const maxJsonValues = opts.maxJsonValues ?? MAX_JSON_VALUES;
  const accessLog = opts.accessLog === true;
  const app: FastifyInstance = Fastify({
    logger: opts.logger,
    // per-request access logs would cost throughput and duplicate the interaction events
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimitBytes,
    // Our own trust test: hops are read as addresses (a port dropped) before they are judged.
    trustProxy: trust ?? false,
    // one shared logger instead of a pino child per request (measurable on the hot path)
    childLoggerFactory: (logger) => logger,
    // Requests arriving while the gateway closes are refused below, in the caller's error format.
    return503OnClosing: false,
    // A path Fastify cannot route (bad percent-encoding, a parameter over its length limit):
    // answered as Warden's other refusals, in the path's format and with a request id.
    frameworkErrors: (err, req, reply) => {
      const status = err.statusCode ?? 500;
      const werr = status === 414
        ? new WardenError('WARDEN_INVALID_REQUEST', 'A part of the request path is longer than this gateway accepts.', { status: 414 })
        : status >= 400 && status < 500
          ? new WardenError('WARDEN_INVALID_REQUEST', 'The request path is not a valid URL (malformed percent-encoding).')
          : toWardenError(err);
      const id = ulid(Date.now());
      (reply as FastifyReply).code(werr.status).headers(mergeHeaders(requestIdHeaders(id), werr.headers)).type('application/json')
        .send(JSON.stringify(renderErrorBody(werr, wireOf(req), id)));
    },
    forceCloseConnections: 'idle',
    // Malformed HTTP and oversized headers, answered in the error format of the path called.
    clientErrorHandler: (err, socket) => answerClientError(deps, err as unknown as Parameters<typeof answerClientError>[1], socket),
    serverFactory: (handler) => http.createServer({
      maxHeaderSize: opts.headerLimitBytes,
      keepAliveTimeout: 65_000,
      requestTimeout: opts.requestTimeoutMs,
      // Node refuses a headers timeout longer than the request timeout.
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, opts.requestTimeoutMs),
      // How often Node looks for requests over their time: a short timeout is kept to within a quarter.
      connectionsCheckingInterval: Math.min(30_000, Math.max(10, Math.floor(opts.requestTimeoutMs / 4))),
    }, (req, res) => {
      track(res);
      if (accessLog) watchAccess(req, res, app.log, trust);
      if (closing || opts.shedding?.()) shedWhileClosing(deps, req, res, trust);
      else handler(req, res);
    }).on('checkContinue', (req: ContinueRequest, res) => {
      track(res);
      if (accessLog) watchAccess(req, res, app.log, trust);
      // `Expect: 100-continue`: a model, batch or files route's body is asked for once its key is
      // checked (in the hooks that check it), so a client with no valid key does not upload it;
      // other routes' at once.
      if (!closing && req.method === 'POST' && keyedBeforeBody((req.url ?? '').split('?')[0])) req.wardenContinue = true;
      else res.writeContinue();
      if (closing || opts.shedding?.()) shedWhileClosing(deps, req, res, trust);
      else handler(req, res);
    }),
  });
  app.addHook('preClose', (done) => { closing = true; traffic?.closeConnectionsAfterAnswers(); done(); });
  // Before anything else: an operator route is reached under its own spelling only (encodedFirstSegment).
  app.addHook('onRequest', (req, reply, done) => {
    if (!encodedFirstSegment(req.raw.url ?? '/')) return done();
    answerUnknownRoute(req, reply, () => []);
  });
  // First: a preflight is answered before keys and limits, and every answer after carries CORS.
  installCors(app, opts.corsOrigins ?? []);
  // A compressed body (any route) is refused as such, rather than read as garbled JSON or multipart.
  app.addHook('onRequest', (req, _reply, done) => done(unsupportedEncoding(req.headers['content-encoding'])));
  // An address past its requests refused for their key this minute (src/gateway/keyless-failures.ts)
  // gets 429 before any key is checked, unless its key was accepted lately: API routes only.
  const keyless = deps.keyless?.enabled ? deps.keyless : null;
  if (keyless) {
    const apiPath = (url: string) => url.startsWith('/v1/') || url === '/v1';
    // Callback hooks, not async ones: nothing here waits, and an async hook costs every request a
    // promise and a turn of the microtask queue.
    app.addHook('onRequest', (req, reply, done) => {
      if (!apiPath(req.url) || !fromNetwork(req)) return done();
      try {
        keyless.check(req.ip, req.headers);
      } catch (err) {
        const werr = toWardenError(err);
        const id = ulid(Date.now());
        const flavour = req.method === 'POST' ? ROUTE_FLAVOUR[req.url.split('?')[0]] : undefined;
        if (flavour) recordRejectedRequest(deps, flavour, earlyRequest(req, null), werr, id);
        const headers = mergeHeaders(requestIdHeaders(id), werr.headers, dropUnreadBody(req.raw, reply.raw, opts.bodyLimitBytes));
        reply.code(werr.status).headers(headers).type('application/json')
          .send(JSON.stringify(renderErrorBody(werr, wireOf(req), id)));
        return;
      }
      done();
    });
    app.addHook('onResponse', (req, reply, done) => {
      if (reply.statusCode === 401 && apiPath(req.url) && fromNetwork(req)) keyless.failed(req.ip);
      done();
    });
  }
  // The model routes' key is checked before the body is read (as the TAXII routes'): a request
  // with a missing or invalid key costs no parsing of up to `server.body_limit_bytes` of JSON.
  app.addHook('onRequest', async (req, reply) => {
    const flavour = req.method === 'POST' ? ROUTE_FLAVOUR[req.url.split('?')[0]] : undefined;
    if (!flavour) return;
    try {
      const auth = await authenticateRequest(deps, req.headers, 'inference');
      (req as KeyedRequest).wardenAuth = auth;
      // Absent for a batch's requests, run in process (app.inject): they reach no socket, so no access line.
      const note = accessLog ? accessNote(req.raw) : undefined;
      if (note) note.auth = auth;
    } catch (err) {
      const werr = toWardenError(err);
      const id = ulid(Date.now());
      recordRejectedRequest(deps, flavour, earlyRequest(req, null), werr, id);
      // The body still coming is discarded, not parsed, up to `server.body_limit_bytes`.
      const headers = mergeHeaders(requestIdHeaders(id), werr.headers, dropUnreadBody(req.raw, reply.raw, opts.bodyLimitBytes));
      return reply.code(werr.status).headers(headers).type('application/json')
        .send(JSON.stringify(renderErrorBody(werr, wireOf(req), id)));
    }
    // Asked for its body only now that its key is known (see `checkContinue` above); an upload's
    // once its account's verdict and limits are decided too (uploads.ts).
    if ((req.raw as ContinueRequest).wardenContinue && !Object.hasOwn(UPLOAD_ROUTES, req.url.split('?')[0])) reply.raw.writeContinue();
  });

  // Every route's methods, so that a known path called with another method gets 405 and `Allow`.
  const routes: { method: string; re: RegExp }[] = [];
  app.addHook('onRoute', (r) => {
    const re = routePattern(r.url ?? r.path);
    for (const method of [r.method].flat()) routes.push({ method, re });
  });
  const allowedMethods = (path: string): string[] => [...new Set(routes.filter((r) => r.re.test(path)).map((r) => r.method))];

  // JSON bodies: parse ourselves so malformed JSON gets a clear, flavoured error and we know the size.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(/^application\/(.+\+)?json/, { parseAs: 'buffer' }, (req, body: Buffer, done) => {
    (req as FastifyRequest & { rawBodyBytes?: number }).rawBodyBytes = body.length;
    if (body.length === 0) {
      // No content, whatever the Content-Type says: no body where none is needed (bodyless.ts).
      if (emptyBodyIsNone(req)) return done(null, undefined);
      return done(new WardenError('WARDEN_INVALID_JSON', 'The request body is empty; expected a JSON object.'), undefined);
    }
    let text: string;
    let parsed: unknown;
    try {
      const utf8 = utf8JsonBytes(req.headers['content-type'], body);
      // Refused from its bytes: parsing it would hold the serving thread (seconds for 4 MiB of `{}`).
      if (holdsMoreValues(utf8, maxJsonValues)) {
        return done(new WardenError('WARDEN_INVALID_REQUEST', `The request body holds more than ${maxJsonValues} JSON values; at most ${maxJsonValues} are accepted.`), undefined);
      }
      text = utf8.toString('utf8');
      parsed = JSON.parse(text);
    } catch (err) {
      if (err instanceof WardenError) return done(err, undefined);
      return done(new WardenError('WARDEN_INVALID_JSON', `The request body is not valid JSON: ${(err as Error).message}`), undefined);
    }
    // Refused here, before identity and limits: deeper bodies would overflow the stack when forwarded.
    if (nestsDeeper(text, parsed)) {
      return done(new WardenError('WARDEN_INVALID_REQUEST', `The request body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep.`), undefined);
    }
    done(null, parsed);
  });

  app.setErrorHandler(async (err, req, reply) => {
    let werr = fromFastifyError(err, req, opts.bodyLimitBytes);
    // A body refused before it was read whole (over the limit, sent compressed): what is still
    // coming is discarded and the connection closed gracefully, so a client still writing it (the
    // SDKs) reads this answer rather than a connection reset (`write EPIPE`) it would retry.
    const unread = req.raw.complete ? {} : dropUnreadBody(req.raw, reply.raw, req.routeOptions?.bodyLimit ?? opts.bodyLimitBytes);
    const id = ulid(Date.now());
    const path = req.url.split('?')[0];
    const flavour = req.method === 'POST' ? ROUTE_FLAVOUR[path] : undefined;
    const counting = req.method === 'POST' && Object.hasOwn(TOKEN_COUNT_ROUTES, path);
    if (flavour || counting) {
      // A body refused on a model or token-count endpoint: the key is decided first (401 before
      // any complaint about the body); on a model endpoint the refusal is recorded under the
      // caller's account (counting records no event).
      let auth: AuthContext | null = (req as KeyedRequest).wardenAuth ?? null;
      if (!auth) try { auth = await authenticateRequest(deps, req.headers, 'inference'); } catch (authErr) { werr = toWardenError(authErr); }
      if (flavour) recordRejectedRequest(deps, flavour, earlyRequest(req, auth), werr, id);
    }
    if (werr.code === 'WARDEN_INTERNAL') req.log.error({ err }, 'internal error');
    return reply.code(werr.status).headers(mergeHeaders(requestIdHeaders(id), werr.headers, unread)).type('application/json')
      .send(JSON.stringify(renderErrorBody(werr, wireOf(req), id)));
  });

  app.setNotFoundHandler((req, reply) => answerUnknownRoute(req, reply, allowedMethods));

  registerUploadRoutes(app, deps, opts.uploadLimitBytes ?? opts.bodyLimitBytes);
  for (const [path, flavour] of Object.entries(ROUTE_FLAVOUR)) {
    if (Object.hasOwn(UPLOAD_ROUTES, path)) continue; // multipart: registered just above
    if (path === '/v1/responses' && deps.hooks.some((h) => h.background)) {
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
  app.post<{ Params: { id: string } }>('/v1/responses/:id/cancel', READS_NO_BODY, (req, reply) => handleStoredResponse(deps, 'cancel', req, reply));
  app.get<{ Params: { id?: string } }>('/v1/chat/completions', (req, reply) => handleStoredChat(deps, 'list', req, reply));
  app.get<{ Params: { id: string } }>('/v1/chat/completions/:id', (req, reply) => handleStoredChat(deps, 'retrieve', req, reply));
  app.post<{ Params: { id: string } }>('/v1/chat/completions/:id', (req, reply) => handleStoredChat(deps, 'update', req, reply));
  app.delete<{ Params: { id: string } }>('/v1/chat/completions/:id', (req, reply) => handleStoredChat(deps, 'delete', req, reply));
  app.get<{ Params: { id: string } }>('/v1/chat/completions/:id/messages', (req, reply) => handleStoredChat(deps, 'messages', req, reply));

  const models = new ModelDirectory(deps.router, { log: deps.log, upstreamRateLimitHeaders: deps.upstreamRateLimitHeaders, maxRetryAdviceS: deps.maxRetryAdviceS });
  /** The caller's models: authenticated, not barred, and each id one the hooks (policy) would let it call. */
  const modelsOf = async (req: FastifyRequest, wire: 'openai' | 'anthropic'): Promise<ModelsView[]> => {
    const auth = await authenticateRequest(deps, req.headers, 'models:read');
    refuseBarred(deps, auth);
    const views: ModelsView[] = [];
    for (const h of deps.hooks) {
      const view = h.modelsVisible?.(auth, clientAddress(req), wire);
      if (view) views.push(view);
    }
    return views;
  };
  const allowedBy = (views: ModelsView[], model: string) => views.every((v) => v.allows(model));
  app.get<{ Querystring: Record<string, string | undefined> }>('/v1/models', async (req, reply) => {
    const wire = wireOf(req);
    const views = await modelsOf(req, wire);
    const all = await models.list(wire);
    const listed = views.length === 0 ? all : all.filter((m) => allowedBy(views, m.id));
    if (listed.length === 0 && all.length > 0) for (const v of views) { const refused = v.refusal(); if (refused) throw refused; }
    reply.headers(requestIdHeaders(ulid(Date.now())));
    if (wire === 'anthropic') {
      const { page, hasMore } = anthropicPage(listed, req.query);
      return reply.send({ data: page.map(anthropicModel), has_more: hasMore, first_id: page[0]?.id ?? null, last_id: page[page.length - 1]?.id ?? null });
    }
    return reply.send({ object: 'list', data: listed.map(openaiModel) });
  });

  // `*`, not `:id`: model ids may hold slashes (`meta-llama/Llama-3.1-8B`), sent encoded or not.
  app.get<{ Params: { '*': string } }>('/v1/models/*', async (req, reply) => {
    const wire = wireOf(req);
    const views = await modelsOf(req, wire);
    const id = req.params['*'];
    const m = id && allowedBy(views, id) ? await models.find(id, wire) : null;
    if (!m) throw new WardenError('WARDEN_MODEL_NOT_FOUND', `The model \`${id}\` does not exist or you do not have access to it.`);
    reply.headers(requestIdHeaders(ulid(Date.now())));
    return reply.send(wire === 'anthropic' ? anthropicModel(m) : openaiModel(m));
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
