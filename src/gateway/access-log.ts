/**
 * The access log (`log.access`): one JSON line per request on the gateway's port, at info level,
 * when its response is over (sent, or the connection gone first). It names who and what, never a
 * secret or content: method, path (no query string), status, duration, bytes, request id, account
 * id and key prefix (not the key), client address, flavour and the upstream's status. Off by
 * default: each line costs CPU on the serving thread (BENCHMARKS.md, "Access log").
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthContext } from '../identity/types.ts';
import type { Run } from './interaction-state.ts';
import { rawClientAddress } from './client-address.ts';

/** What the pipeline tells the access log about a request, set on its IncomingMessage. */
export interface AccessNote {
  /** The caller's key, once checked (model routes). */
  auth: AuthContext | null;
  /** The model interaction, for its id, flavour, client address and the upstream's status. */
  run: Run | null;
}

const NOTE = Symbol('warden.access');
type Noted = IncomingMessage & { [NOTE]?: AccessNote };

/** The request's access note, when the access log is on (undefined otherwise: nothing to fill in). */
export function accessNote(req: IncomingMessage): AccessNote | undefined {
  return (req as Noted)[NOTE];
}

/** Longest path logged, characters: a path is client input. */
const MAX_PATH = 200;
const NO_LOG = { warn() {} };

/** The request id this gateway gave the response, read from its written head (only when the pipeline did not say). */
function requestIdOf(res: ServerResponse): string | null {
  const head = (res as ServerResponse & { _header?: string | null })._header;
  return head ? /\r\nx-warden-request-id: *([^\r]*)/i.exec(head)?.[1] ?? null : null;
}

/**
 * Watch one request for the access log: its line is written when the response closes. `trust`
 * is the trusted-proxy test, so the address is the client's behind them, as in events.
 */
export function watchAccess(req: IncomingMessage, res: ServerResponse, log: { info(obj: object, msg: string): void }, trust: ((hop: string) => boolean) | null): void {
  const started = performance.now();
  const socket = req.socket;
  const outAtStart = socket.bytesWritten;
  const note: AccessNote = { auth: null, run: null };
  (req as Noted)[NOTE] = note;
  res.once('close', () => {
    const run = note.run;
    const auth = run?.ctx.auth ?? note.auth;
    const length = Number(req.headers['content-length']);
    log.info({
      component: 'access',
      method: req.method,
      path: (req.url ?? '').split('?')[0].slice(0, MAX_PATH),
      // A client gone before the head was written got nothing: 499, as its event says.
      status: res.headersSent ? res.statusCode : 499,
      ...(res.writableFinished ? {} : { completed: false }),
      duration_ms: Math.round((performance.now() - started) * 10) / 10,
      bytes_in: run ? run.bodyBytes : Number.isFinite(length) ? length : 0,
      // On the wire, the head included.
      bytes_out: socket.bytesWritten - outAtStart,
      request_id: run?.ctx.id ?? requestIdOf(res),
      account_id: auth?.account.id ?? null,
      key_prefix: auth?.key.prefix ?? null,
      ip: run?.ctx.clientIp ?? rawClientAddress(req, trust, NO_LOG),
      flavour: run?.ctx.flavour ?? null,
      upstream_status: run?.upstreamStatus ?? null,
    }, 'request');
  });
}

/**
 * Fill in the access note of a request run in process for a response over a WebSocket connection
 * (src/gateway/responses-websocket.ts): the connection writes its line, once its last message is sent.
 */
export function noteInProcess(req: IncomingMessage): void {
  (req as Noted)[NOTE] = { auth: null, run: null };
}

/** What a WebSocket connection knows of one response it carried. */
export interface SocketResponse {
  connectionId: string;
  status: number;
  completed: boolean;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  /** The key checked at the handshake: the line's account when the request got no further. */
  auth: AuthContext | null;
  ip: string;
}

/** The access line of one response over a WebSocket connection: the HTTP line's fields, and the connection's id. */
export function logSocketResponse(log: { info(obj: object, msg: string): void }, note: AccessNote | undefined, r: SocketResponse): void {
  const run = note?.run ?? null;
  const auth = run?.ctx.auth ?? note?.auth ?? r.auth;
  log.info({
    component: 'access',
    method: 'WEBSOCKET',
    path: '/v1/responses',
    status: r.status,
    ...(r.completed ? {} : { completed: false }),
    duration_ms: Math.round(r.durationMs * 10) / 10,
    bytes_in: r.bytesIn,
    // The messages' text sent to the client (the frames' few bytes of framing not counted).
    bytes_out: r.bytesOut,
    request_id: run?.ctx.id ?? null,
    account_id: auth?.account.id ?? null,
    key_prefix: auth?.key.prefix ?? null,
    ip: run?.ctx.clientIp ?? r.ip,
    flavour: run?.ctx.flavour ?? 'openai.responses',
    upstream_status: run?.upstreamStatus ?? null,
    connection_id: r.connectionId,
  }, 'request');
}
