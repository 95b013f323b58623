/**
 * The address clients reach the gateway at, for the absolute URLs it hands out and clients then
 * call with their key: a Message Batch's `results_url` (the Anthropic SDK's `batches.results()`
 * fetches it with the customer's key) and the TAXII discovery's `api_roots` (partners' clients
 * follow them with theirs). `server.public_url` when set; else as the request reached the gateway:
 * its scheme and `Host`, or behind `server.trusted_proxies` their `X-Forwarded-Proto` and
 * `X-Forwarded-Host`. A proxy that sends its own upstream's name as `Host` (nginx's `proxy_pass`
 * does unless told `proxy_set_header Host $host`) or a TLS front end that is not trusted would
 * otherwise send clients, and their keys, to an internal name or over plain HTTP.
 */
import type { FastifyRequest } from 'fastify';

/** The base of the URLs handed out, without a trailing slash (`https://api.example.com`, or with the path a proxy serves the gateway under). */
export function publicBase(req: Pick<FastifyRequest, 'protocol' | 'host'>, configured: string | null | undefined): string {
  if (configured) return configured.replace(/\/+$/, '');
  return `${req.protocol}://${req.host || 'localhost'}`;
}
