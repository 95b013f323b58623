/**
 * Admin routes as data: each route names its zod schemas (params, query, body, response), and the
 * same definitions drive Fastify registration, request validation and the OpenAPI 3.1 document,
 * so the document cannot drift from what the server accepts. Other capabilities add routes with
 * an `AdminRouteRegistrar` (limits overrides, verdicts, ledger queries, cases...).
 */
import { z } from 'zod';
import type { FastifyInstance, FastifyRequest, FastifyReply } from 'fastify';
import { WardenError } from '../errors/index.ts';
import { parseInput } from '../identity/store.ts';
import { isPostgresUnavailable } from '../store/index.ts';
import { actorOfHeader } from './actor.ts';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';

export interface AdminRequest<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** Operator named by the `x-warden-actor` header (default `admin-api`); recorded with changes. */
  actor: string;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface AdminRouteDef<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  method: HttpMethod;
  /** Path below the admin prefix, Fastify style: `/accounts/:id/suspend`. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  description?: string;
  params?: P;
  query?: Q;
  body?: B;
  /** Schema of the success response. */
  response: R;
  /** Success status (default 200; 204 answers with no body). */
  status?: number;
  /** Media type of the success response when it is not JSON (the handler then sends it itself and returns `reply`). */
  produces?: string;
  /** Other media types the success response may take (e.g. a report as Markdown or JSON), with their schemas. */
  alsoProduces?: Record<string, z.ZodType>;
  /** Media types, besides application/json, in which the JSON body may be sent (e.g. application/stix+json). */
  bodyTypes?: string[];
  /** Error statuses this route answers besides 400, 401 and (with a path parameter) 404, and what they mean. */
  errors?: Record<number, string>;
  handler(req: AdminRequest<z.output<P>, z.output<Q>, z.output<B>>): Promise<z.input<R>> | z.input<R>;
}

export interface AdminRouter {
  /** Add a route (validated and documented like the built-in ones). */
  route<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType, R extends z.ZodType>(def: AdminRouteDef<P, Q, B, R>): void;
  /** Name a schema as an OpenAPI component (`#/components/schemas/<name>`). */
  component(name: string, schema: z.ZodType): void;
}

/** A function that adds routes to the admin API; pass these to `adminPlugin`. */
export type AdminRouteRegistrar = (router: AdminRouter) => void;

export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    param: z.string().nullable().optional(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
});

/**
 * The query of a route that declares none: no parameter at all, so a stray or mistyped one
 * (`?limt=5`) is refused and named, as routes with a query schema refuse theirs.
 */
export const NoQuery = z.strictObject({});

/** Collects routes; registers them on Fastify and renders the OpenAPI document. */
export class AdminRouteTable implements AdminRouter {
  readonly routes: AdminRouteDef[] = [];
  readonly components = z.registry<{ id: string }>();
  private readonly seen = new Set<string>();

  constructor() {
    this.component('Error', ErrorBody);
  }

  route<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType, R extends z.ZodType>(def: AdminRouteDef<P, Q, B, R>): void {
    const k = `${def.method} ${def.path}`;
    if (this.seen.has(k)) throw new Error(`admin route ${k} registered twice`);
    this.seen.add(k);
    this.routes.push(def as unknown as AdminRouteDef);
  }

  component(name: string, schema: z.ZodType): void {
    if (!this.components.has(schema)) this.components.add(schema, { id: name });
  }

  /** Register every route on a Fastify instance (already scoped to the admin prefix). */
  mount(app: FastifyInstance, opts: { validateResponses?: boolean } = {}): void {
    for (const def of this.routes) {
      for (const type of def.bodyTypes ?? []) {
        if (app.hasContentTypeParser(type)) continue;
        app.addContentTypeParser(type, { parseAs: 'string' }, (_req, body, done) => {
          try { done(null, JSON.parse(body as string)); } catch { done(new WardenError('WARDEN_INVALID_JSON', 'request body is not valid JSON'), undefined); }
        });
      }
      app.route({
        method: def.method,
        url: def.path,
        // A route with no body, or one whose every field is optional, takes an empty body sent
        // with a JSON Content-Type as none (the gateway's JSON parser reads this; `requestBody.required` below says the same).
        config: { bodyOptional: !def.body || def.body.safeParse({}).success },
        handler: async (request, reply) => {
          const params = def.params ? parseInput(def.params, request.params, 'path parameters') : {};
          const query = parseInput(def.query ?? NoQuery, request.query, 'query');
          const body = def.body ? parseInput(def.body, request.body ?? {}, 'request body') : {};
          const actor = actorOfHeader(request.headers['x-warden-actor']);
          let out: unknown = await def.handler({ params, query, body, actor, request, reply });
          // A handler that answered itself (another media type, a stream) returns the reply.
          if (out === reply) return reply;
          if (def.status === 204) return reply.code(204).send();
          if (opts.validateResponses) {
            const r = def.response.safeParse(out);
            if (!r.success) throw new Error(`response of ${def.operationId} does not match its schema: ${r.error.message}`);
            out = r.data;
          }
          reply.code(def.status ?? 200);
          return out;
        },
      });
    }
  }

  /** The OpenAPI 3.1 document for every route, with `prefix` (e.g. `/admin`) prepended to paths. */
  openApi(prefix: string, info: { title: string; version: string }): Record<string, unknown> {
    const schemas: Record<string, unknown> = {};
    const convert = (schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> => {
      const js = z.toJSONSchema(schema, { target: 'draft-2020-12', io, metadata: this.components, unrepresentable: 'any' }) as Record<string, unknown>;
      const defs = (js.$defs ?? {}) as Record<string, unknown>;
      delete js.$defs;
      delete js.$schema;
      for (const [name, d] of Object.entries(defs)) if (!(name in schemas)) schemas[name] = rewriteRefs(d);
      const id = this.components.get(schema)?.id;
      if (id) {
        // A top-level component comes back inline: hoist it and refer to it.
        if (!(id in schemas)) schemas[id] = rewriteRefs(js);
        return { $ref: `#/components/schemas/${id}` };
      }
      return rewriteRefs(js) as Record<string, unknown>;
    };

    const errorRef = { $ref: '#/components/schemas/Error' };
    const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: errorRef } } });
    const paths: Record<string, Record<string, unknown>> = {};
    for (const def of this.routes) {
      const path = prefix + def.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
      const parameters: unknown[] = [];
      for (const [where, schema] of [['path', def.params], ['query', def.query]] as const) {
        if (!schema) continue;
        const js = convert(schema, 'input');
        const props = (js.properties ?? {}) as Record<string, Record<string, unknown>>;
        const required = new Set((js.required ?? []) as string[]);
        for (const [name, s] of Object.entries(props)) {
          const { description, ...rest } = s;
          parameters.push({ name, in: where, required: where === 'path' || required.has(name), schema: rest, ...(description ? { description } : {}) });
        }
      }
      const status = String(def.status ?? 200);
      const op: Record<string, unknown> = {
        operationId: def.operationId,
        summary: def.summary,
        ...(def.description ? { description: def.description } : {}),
        tags: [def.tag],
        ...(parameters.length ? { parameters } : {}),
        ...(def.body ? { requestBody: { required: !def.body.safeParse({}).success, content: Object.fromEntries(['application/json', ...(def.bodyTypes ?? [])].map((type) => [type, { schema: convert(def.body!, 'input') }])) } } : {}),
        responses: {
          [status]: def.status === 204 ? { description: def.summary } : {
            description: def.summary,
            content: {
              [def.produces ?? 'application/json']: { schema: convert(def.response, 'output') },
              ...Object.fromEntries(Object.entries(def.alsoProduces ?? {}).map(([type, schema]) => [type, { schema: convert(schema, 'output') }])),
            },
          },
          400: errorResponse('invalid request (the error names the field)'),
          401: errorResponse('missing or wrong admin token'),
          ...(def.path.includes(':') ? { 404: errorResponse('not found') } : {}),
          // A body route also refuses, before validation, a body over server.body_limit_bytes and one that is not JSON (adminErrorBody).
          ...(def.body ? {
            413: errorResponse('WARDEN_BODY_TOO_LARGE: the body is larger than server.body_limit_bytes'),
            415: errorResponse(`WARDEN_UNSUPPORTED_MEDIA_TYPE: the body's content-type is not ${['application/json', ...(def.bodyTypes ?? [])].join(' or ')}`),
          } : {}),
          ...Object.fromEntries(Object.entries(def.errors ?? {}).map(([code, description]) => [code, errorResponse(description)])),
        },
      };
      (paths[path] ??= {})[def.method.toLowerCase()] = op;
    }
    convert(ErrorBody, 'output');
    return {
      openapi: '3.1.0',
      info: { ...info, description: 'Warden admin API: organisations, accounts, API keys and other operator actions. Every route requires `Authorization: Bearer <admin token>`.' },
      servers: [{ url: '/' }],
      security: [{ adminToken: [] }],
      paths,
      components: {
        schemas,
        securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'The admin token (config `admin.token`).' } },
      },
    };
  }
}

function rewriteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/')) out[k] = `#/components/schemas/${v.slice('#/$defs/'.length)}`;
      else out[k] = rewriteRefs(v);
    }
    return out;
  }
  return node;
}

/** Answer an error in the admin API's format (`{error: {code, message, param, issues?}}`). */
export function sendAdminError(err: unknown, reply: FastifyReply, log?: { error(obj: object, msg: string): void; warn?(obj: object, msg: string): void }): void {
  const { status, body, headers } = adminErrorBody(err);
  // A route's own answer that something it called failed (a webhook's test delivery, a partner's
  // feed) is expected: a warning with the reason. Anything else at 5xx is a fault, with its stack.
  if (status >= 500 && err instanceof WardenError && err.code === 'WARDEN_UPSTREAM_ERROR' && log?.warn) log.warn({ code: err.code, status }, `admin API: ${err.message}`);
  // The store away is an outage, logged by the components that write to it: a warning, no stack.
  else if (status === 503 && body.error.code === 'WARDEN_STORE_UNAVAILABLE' && !(err instanceof WardenError)) (log?.warn ?? log?.error)?.call(log, { component: 'admin', code: 'WARDEN_STORE_UNAVAILABLE', status, error: (err as Error)?.message }, `admin API: ${body.error.message}`);
  else if (status >= 500) log?.error({ err }, 'admin API error');
  void reply.code(status).headers(headers).header('cache-control', 'no-store').send(body);
}

/**
 * Mount routes on an instance outside the admin plugin (tests, embedding): the same validation
 * and error format, without the token check (the caller's instance provides its own).
 */
export function mountAdminRoutes(app: FastifyInstance, registrars: AdminRouteRegistrar[], opts: { validateResponses?: boolean } = {}): AdminRouteTable {
  const table = new AdminRouteTable();
  for (const reg of registrars) reg(table);
  app.setErrorHandler((err, _request, reply) => sendAdminError(err, reply, app.log));
  table.mount(app, opts);
  return table;
}

/** Render any error as the admin API's JSON error body and status. */
export function adminErrorBody(err: unknown): { status: number; body: z.infer<typeof ErrorBody>; headers: Record<string, string> } {
  if (err instanceof WardenError) {
    const issues = (err as WardenError & { issues?: { path: string; message: string }[] }).issues;
    return { status: err.status, headers: err.headers, body: { error: { code: err.code, message: err.message, param: err.param, ...(issues ? { issues } : {}) } } };
  }
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const code = e.statusCode === 415 ? 'WARDEN_UNSUPPORTED_MEDIA_TYPE' : e.statusCode === 413 ? 'WARDEN_BODY_TOO_LARGE' : e.statusCode === 404 ? 'WARDEN_NOT_FOUND' : 'WARDEN_INVALID_JSON';
    const message = code === 'WARDEN_INVALID_JSON' ? `request body is not valid JSON: ${e.message ?? ''}`.trim() : (e.message ?? code);
    return { status: e.statusCode, headers: {}, body: { error: { code, message, param: null } } };
  }
  const unavailable = storeUnavailableCause(err);
  if (unavailable) return { status: 503, headers: { 'retry-after': '5' }, body: { error: { code: 'WARDEN_STORE_UNAVAILABLE', message: `${unavailable}; retry shortly`, param: null } } };
  return { status: 500, headers: {}, body: { error: { code: 'WARDEN_INTERNAL', message: 'internal error', param: null } } };
}

/** SQLite's answers for a database that is there but cannot take the statement now. */
const SQLITE_UNAVAILABLE: Record<string, string> = {
  SQLITE_FULL: 'the store refuses writes: database or disk is full',
  SQLITE_READONLY: 'the store refuses writes: the database is read-only',
  SQLITE_BUSY: 'the store is busy (locked by another writer)',
  SQLITE_LOCKED: 'the store is busy (locked by another writer)',
  SQLITE_IOERR: 'the store cannot be read or written (I/O error)',
  SQLITE_CANTOPEN: 'the store cannot be opened',
};

/**
 * Why the store cannot serve the request now (the database unreachable, a full disk, ...), or
 * null for any other error: the operator is told to retry, as the model API tells customers.
 */
export function storeUnavailableCause(err: unknown): string | null {
  if (isPostgresUnavailable(err)) return 'the store is unreachable (PostgreSQL does not answer)';
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  // Extended codes (SQLITE_IOERR_WRITE, SQLITE_BUSY_SNAPSHOT) share their primary code's meaning.
  const primary = Object.keys(SQLITE_UNAVAILABLE).find((c) => code === c || code.startsWith(`${c}_`));
  return primary ? SQLITE_UNAVAILABLE[primary]! : null;
}
