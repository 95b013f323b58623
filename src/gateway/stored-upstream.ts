/**
 * One request to the upstream about something it keeps (a stored response or chat completion):
 * sent with Warden's credential, answered as JSON. Shared by stored-responses.ts and stored-chat.ts.
 */
import { WardenError } from '../errors/index.ts';
import type { Context } from './interaction-state.ts';
import type { Upstream } from './upstreams.ts';
import { credentialRefusal, headOfAnswer, mapUpstreamFailure, upstreamHeaders, withoutProviderAccount } from './upstream-request.ts';
import type { UpstreamHead } from './upstream-call.ts';

export interface StoredReply {
  statusCode: number;
  /** The answer's head: what an error passes on (`SideAnswer.upstreamError(head, errorBody)`). */
  head: UpstreamHead;
  /** An error's body to pass on (as `text`), or null when it is not the API's (a load balancer's); undefined below 400. */
  errorBody?: string | null;
  /** The body as the upstream sent it (an error's: without Warden's account ids with the provider, `withoutProviderAccount`). */
  text: string;
  parsed: Record<string, unknown>;
}

/**
 * `method` on `path` (under the upstream's base path); a body is sent as JSON. Throws on an answer
 * below 400 that is not a JSON object, and on the upstream refusing Warden's credential (`log` is warned).
 */
export async function askUpstream(ctx: Context, upstream: Upstream, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, log?: { warn(obj: object, msg: string): void }): Promise<StoredReply> {
  const headers = upstreamHeaders(ctx, upstream);
  if (body === undefined) delete headers['content-type'];
  else headers['content-type'] = 'application/json';
  let statusCode: number;
  let text: string;
  let head: UpstreamHead;
  try {
    const res = await upstream.pool.request({
      path: `${upstream.basePath}${path}`, method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: upstream.headersTimeoutMs, bodyTimeout: upstream.bodyTimeoutMs, signal: ctx.signal,
    });
    statusCode = res.statusCode;
    head = headOfAnswer(statusCode, res.headers);
    text = await res.body.text();
  } catch (err) {
    throw mapUpstreamFailure(err, ctx);
  }
  const refused = credentialRefusal(upstream, statusCode, text, log);
  if (refused) throw refused;
  let parsed: Record<string, unknown> | null = null;
  try { const v = JSON.parse(text); parsed = v && typeof v === 'object' && !Array.isArray(v) ? v : null; } catch { /* not JSON */ }
  // An error whose body is not the API's: the callers answer Warden's own, keeping its status and retry advice.
  if (parsed === null && statusCode >= 400) return { statusCode, head, text: '', parsed: {}, errorBody: null };
  if (parsed === null) throw new WardenError('WARDEN_UPSTREAM_ERROR', `The upstream model API answered with status ${statusCode} and no JSON.`, { status: 502 });
  if (statusCode < 400) return { statusCode, head, text, parsed };
  // An error is passed on by the callers as the upstream wrote it, less Warden's account with the provider.
  const errorBody = withoutProviderAccount(text, upstream.apiKey);
  return { statusCode, head, text: errorBody, parsed, errorBody };
}
