/**
 * Requests that read no body, or one they may do without: an empty body sent with a JSON
 * Content-Type is taken there as no body, as HTTP has it (a Content-Type describes content; there
 * is none), rather than refused as invalid JSON. HTTP clients that set `Content-Type:
 * application/json` on every call, and generated clients following the admin API's OpenAPI
 * document (a body it marks optional), send exactly that. Routes that need a body still refuse an
 * empty one (`WARDEN_INVALID_JSON`, "The request body is empty"), which says more than the missing
 * field a parse of nothing would name.
 */
import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route reads no body, or one it may do without (a cancel, a revoke with an optional
     * reason): an empty body is taken as none, whatever its Content-Type. Set by the routes
     * themselves; the admin API's router sets it from each route's body schema.
     */
    bodyOptional?: boolean;
  }
}

/** Route options of a POST route that reads no body (`app.post(path, { ...READS_NO_BODY, ... }, handler)`). */
export const READS_NO_BODY = { config: { bodyOptional: true } } as const;

/**
 * Whether an empty body on this request is no body: on an unknown route (answered 404 or 405,
 * whatever it carries), on DELETE (no API Warden serves takes a DELETE body), and on routes that
 * say so (`bodyOptional`). GET and HEAD bodies are never parsed.
 */
export function emptyBodyIsNone(req: FastifyRequest): boolean {
  return req.is404 || req.method === 'DELETE' || req.routeOptions.config.bodyOptional === true;
}
