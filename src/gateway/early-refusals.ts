/**
 * Refusals made before Fastify has a request: HTTP the server cannot parse (headers over
 * `server.header_limit_bytes`, malformed requests, headers too slow), and requests arriving while
 * the gateway shuts down. Both answer in the error format of the path called, name the answer
 * with a request id, and record an event when a model endpoint was called.
 */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { WardenError, renderErrorBody, requestIdHeaders } from '../errors/index.ts';
import { ulid } from '../events/index.ts';
import type { AuthContext } from '../identity/types.ts';
import type { PipelineDeps } from './interaction-state.ts';
import { authenticateRequest } from './admission.ts';
import { eventUserAgent, recordRejectedRequest } from './interaction-record.ts';
import { ROUTE_FLAVOUR, wireOf } from './wire.ts';
import { peerAddress, rawClientAddress } from './client-address.ts';
import { dropUnreadBody } from './unread-body.ts';

/** How much of an unparsed request is looked at for its request line and a few headers, bytes. */
const SCAN_BYTES = 64 * 1024;

type Headers = Record<string, string | undefined>;

/**
 * The request line and the complete header lines of what the client sent, as far as it goes.
 * Node hands over the chunk being parsed when the error struck: the whole request when it came
 * in one read (as a request of modest size does), else only its last part, which starts
 * mid-headers and yields nothing here.
 */
function scanRawRequest(raw: Buffer | undefined): { method: string; path: string; headers: Headers } | null {
  if (!raw) return null;
  const text = raw.subarray(0, SCAN_BYTES).toString('latin1');
  const line = /^([A-Z]{3,7}) (\/[^ \r\n]*) HTTP\/1\.[01]\r\n/.exec(text);
  if (!line) return null;
  const headers: Headers = {};
  // Only lines ended by CRLF: a header cut off by the limit is not taken for a whole one.
  const re = /^(authorization|x-api-key|anthropic-version|user-agent|content-length): *([^\r\n]*)\r\n/gim;
  re.lastIndex = line[0].length;
  for (let m = re.exec(text); m; m = re.exec(text)) headers[m[1].toLowerCase()] = m[2].trim();
  return { method: line[1], path: line[2].split('?')[0], headers };
}

const failedBodies = new WeakSet<IncomingMessage>();

/**
 * Fail the body stream of a request being answered with `werr`: now if something reads it, else
 * as soon as something starts to (the parser will give it no more bytes). Nothing is left waiting
 * once the answer is over.
 */
function failBody(req: IncomingMessage, res: ServerResponse, werr: WardenError): void {
  // The parser reports its error again for every later read of the connection: failed once.
  if (failedBodies.has(req)) return;
  failedBodies.add(req);
  if (req.listenerCount('error') > 0) { req.emit('error', werr); return; }
  const onListener = (event: string | symbol) => {
    if (event !== 'error') return;
    req.off('newListener', onListener);
    // After the listener is added (newListener fires before).
    process.nextTick(() => req.emit('error', werr));
  };
  req.on('newListener', onListener);
  res.once('close', () => req.off('newListener', onListener));
}

/** Fastify's clientErrorHandler: the raw answer to a request the HTTP parser refused. */
export function answerClientError(deps: PipelineDeps, err: Error & { code?: string; rawPacket?: Buffer }, socket: Socket): void {
  // A reset socket has nobody to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // Read before the socket is destroyed, which forgets it. The peer, not X-Forwarded-For: the
  // parser refused the request, so its headers are not to be believed (behind a proxy: the proxy).
  const ip = peerAddress(socket.remoteAddress);
  const werr = err.code === 'HPE_HEADER_OVERFLOW'
    ? new WardenError('WARDEN_HEADERS_TOO_LARGE', 'The request headers are larger than the configured limit.')
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new WardenError('WARDEN_BAD_HTTP_REQUEST', 'The request headers did not arrive in time.', { status: 408 })
      : new WardenError('WARDEN_BAD_HTTP_REQUEST', 'The request is not valid HTTP.');
  const id = ulid(Date.now());
  const seen = scanRawRequest(err.rawPacket);
  const body = JSON.stringify(renderErrorBody(werr, wireOf({ url: seen?.path ?? '/', headers: seen?.headers ?? {} }), id));
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (inFlight) {
    // A body that did not arrive within `server.request_timeout_ms`, of a request Fastify is
    // reading: its body stream fails, and it is answered (408 in its wire format, recorded on a
    // model route) as any body refused, then its connection closed.
    const req = inFlight.req;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && req && !req.complete && !inFlight.headersSent && req.listenerCount('error') > 0) {
      req.emit('error', new WardenError('WARDEN_REQUEST_TIMEOUT', 'The request body did not arrive in time.', { headers: { connection: 'close' } }));
      return;
    }
    // The body of the request being read broke HTTP's framing (a malformed chunk size or line end,
    // a chunk extension over Node's 16 KiB, a Transfer-Encoding that does not end in chunked): the
    // request in flight is this one, not an earlier one (whose body the parser had finished), so it
    // is answered as any body refused, 400 in its wire format and recorded as such, and its
    // connection closed. Closed unanswered, the client saw a reset, which the SDKs retry.
    // The body may not be read yet (the key is checked first): the error then goes to whoever reads it.
    // Not a client that left mid-body (the parser's end-of-stream error: nobody to answer, and the
    // request is recorded as gone, 499): its socket is destroyed below as before.
    const left = err.code === 'HPE_INVALID_EOF_STATE' || socket.readableEnded;
    if (req && !req.complete && !inFlight.headersSent && err.code !== 'ERR_HTTP_REQUEST_TIMEOUT' && !left) {
      // Whatever answers it (a refused key answers before the body is read), the parser can read
      // nothing more on this connection: it closes after that answer.
      inFlight.shouldKeepAlive = false;
      failBody(req, inFlight, new WardenError('WARDEN_BAD_HTTP_REQUEST', 'The request body is not valid HTTP: its Transfer-Encoding or chunked framing is broken.', { headers: { connection: 'close' } }));
      return;
    }
    // A request earlier on the same connection is still being answered (pipelining): the bytes the
    // parser refused begin with that request, not the bad one, and an answer written now would be
    // read as its answer. The connection is closed with nothing written and nothing recorded.
    socket.destroy();
    return;
  }
  if (socket.writable) {
    // Nothing of the request is echoed: the answer is ours alone.
    const head = [`HTTP/1.1 ${werr.status} ${STATUS_CODES[werr.status]}`, 'content-type: application/json', `content-length: ${Buffer.byteLength(body)}`, 'connection: close'];
    for (const [name, value] of Object.entries({ ...requestIdHeaders(id), ...werr.headers })) head.push(`${name}: ${value}`);
    socket.write(`${head.join('\r\n')}\r\n\r\n${body}`);
  }
  socket.destroy();
  const flavour = seen && seen.method === 'POST' ? ROUTE_FLAVOUR[seen.path] : undefined;
  if (!flavour || !seen) return;
  const ua = eventUserAgent(seen.headers['user-agent'] ?? null);
  const bytes = Number(seen.headers['content-length'] ?? 0) || 0;
  const record = (auth: AuthContext | null) => recordRejectedRequest(deps, flavour, { ip, userAgent: ua, bytes, auth, headers: seen.headers }, werr, id);
  // Recorded under the caller's account when its key came in whole (authentication is cached).
  if (!seen.headers.authorization && !seen.headers['x-api-key']) return record(null);
  authenticateRequest(deps, seen.headers, 'inference').then(record, () => record(null)).catch((e) => deps.log.error({ err: e }, 'recording a refused request failed'));
}

/**
 * A request that arrived while the gateway shuts down: 503 in the caller's format, connection
 * closed. `trust`: the trusted-proxy test (null: none), so the refusal is recorded under the
 * client's address behind them, as every other refusal is.
 */
export function shedWhileClosing(deps: PipelineDeps, req: IncomingMessage, res: ServerResponse, trust: ((hop: string) => boolean) | null = null): void {
  const path = (req.url ?? '/').split('?')[0];
  // The probes keep their documented answers to the end (scripts parse them): not ready, and alive.
  if (path === '/readyz' || path === '/healthz') {
    const probe = JSON.stringify(path === '/readyz' ? { status: 'not ready' } : { status: 'ok' });
    req.resume();
    res.writeHead(path === '/readyz' ? 503 : 200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(probe), connection: 'close' });
    res.end(probe);
    return;
  }
  const id = ulid(Date.now());
  const werr = new WardenError('WARDEN_SHUTTING_DOWN', 'The gateway is shutting down; send the request again.', { headers: { 'retry-after': '1' } });
  const url = req.url ?? '/';
  const body = JSON.stringify(renderErrorBody(werr, wireOf({ url, headers: req.headers }), id));
  // Answered from its headers: a body still arriving (a long prompt on a slow link) is read and
  // discarded after the answer, the connection half-closed, so that the client reads this 503
  // rather than the reset (`write EPIPE`) Node's immediate close would give it while it still sends.
  dropUnreadBody(req, res, 0);
  res.writeHead(503, { ...requestIdHeaders(id), ...werr.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
  res.end(body);
  const flavour = req.method === 'POST' ? ROUTE_FLAVOUR[url.split('?')[0]] : undefined;
  if (!flavour) return;
  // Not authenticated: the stores behind the keys may be closing too.
  const ua = req.headers['user-agent'];
  recordRejectedRequest(deps, flavour, { ip: rawClientAddress(req, trust, deps.log), userAgent: typeof ua === 'string' ? ua : null, bytes: Number(req.headers['content-length'] ?? 0) || 0, auth: null, headers: req.headers }, werr, id);
}
